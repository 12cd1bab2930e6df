/* What clients and gateways send survives encoding and the portal's
 * decoding; what the portal pushes keeps its fields. */
#include "fz-private.h"

#include <string.h>

/* JSON written with ' for " so that the tests stay readable. */
static char *
q (const char *text)
{
  char *s = g_strdup (text);
  g_strdelimit (s, "'", '"');
  return s;
}

/* @payload (with ' for ") as @role receives it in a frame of @event. */
static FzPortalMessage *
decode (FzPortalRole role, const char *event, const char *payload, GError **error)
{
  g_autofree char *frame = g_strdup_printf (
    "{\"topic\":\"client\",\"event\":\"%s\",\"ref\":null,\"payload\":%s}", event,
    payload);
  g_strdelimit (frame, "'", '"');
  g_autoptr (FzPhoenixFrame) f = fz_phoenix_frame_parse (frame, strlen (frame), NULL);
  g_assert_nonnull (f);
  return fz_portal_message_decode (role, f->event, f->payload, error);
}

static char *
compact (JsonNode *node)
{
  return json_to_string (node, FALSE);
}

static FzPortalMessage *
through_the_wire (FzPortalMessage *m)
{
  g_autoptr (JsonNode) payload = fz_portal_message_encode (m);
  g_autoptr (FzPhoenixFrame) f
    = fz_phoenix_frame_new ("client", m->event_name, json_node_copy (payload), 7);
  g_autofree char *text = fz_phoenix_frame_to_string (f);
  g_autoptr (FzPhoenixFrame) back = fz_phoenix_frame_parse (text, strlen (text), NULL);
  g_assert_nonnull (back);
  g_autoptr (GError) error = NULL;
  FzPortalMessage *d = fz_portal_message_decode (FZ_PORTAL_ROLE_PORTAL, back->event,
                                                 back->payload, &error);
  g_assert_no_error (error);
  g_assert_cmpint (d->event, ==, m->event);
  return d;
}

static void
test_outgoing (void)
{
  FzIceCandidate c;
  g_assert_true (fz_ice_candidate_parse (
    &c, "candidate:1 1 udp 2130706431 192.0.2.1 52625 typ host", NULL));

  g_autoptr (FzPortalMessage) req
    = fz_portal_message_new (FZ_PORTAL_REQUEST_AUTHORIZATION);
  req->resource_id = g_strdup ("res-1");
  g_ptr_array_add (req->peer_ids, g_strdup ("gw-1"));
  g_autoptr (FzPortalMessage) req2 = through_the_wire (req);
  g_assert_cmpstr (req2->resource_id, ==, "res-1");
  g_assert_cmpuint (req2->peer_ids->len, ==, 1);
  g_assert_cmpstr (req2->peer_ids->pdata[0], ==, "gw-1");

  for (FzPortalEvent ev = FZ_PORTAL_NEW_GATEWAY_ICE_CANDIDATES;
       ev <= FZ_PORTAL_INVALIDATE_GATEWAY_ICE_CANDIDATES; ev++)
    {
      g_autoptr (FzPortalMessage) m = fz_portal_message_new (ev);
      m->peer_id = g_strdup ("gw-2");
      g_array_append_val (m->candidates, c);
      g_autoptr (FzPortalMessage) d = through_the_wire (m);
      g_assert_cmpstr (d->peer_id, ==, "gw-2");
      g_assert_cmpuint (d->candidates->len, ==, 1);
      g_assert_true (
        fz_ice_candidate_equal (&g_array_index (d->candidates, FzIceCandidate, 0), &c));
    }
  for (FzPortalEvent ev = FZ_PORTAL_BROADCAST_ICE_CANDIDATES;
       ev <= FZ_PORTAL_BROADCAST_INVALIDATED_ICE_CANDIDATES; ev++)
    {
      g_autoptr (FzPortalMessage) m = fz_portal_message_new (ev);
      g_ptr_array_add (m->peer_ids, g_strdup ("c-1"));
      g_ptr_array_add (m->peer_ids, g_strdup ("c-2"));
      g_array_append_val (m->candidates, c);
      g_autoptr (FzPortalMessage) d = through_the_wire (m);
      g_assert_cmpuint (d->peer_ids->len, ==, 2);
      g_assert_cmpuint (d->candidates->len, ==, 1);
    }
  g_autoptr (FzPortalMessage) ack
    = fz_portal_message_new (FZ_PORTAL_AUTHORIZATION_CREATED_REF);
  ack->ref = g_strdup ("opaque \"ref\" 42");
  g_autoptr (FzPortalMessage) ack2 = through_the_wire (ack);
  g_assert_cmpstr (ack2->ref, ==, "opaque \"ref\" 42");
  g_assert_cmpstr (fz_portal_event_name (FZ_PORTAL_AUTHORIZATION_CREATED_REF), ==,
                   "authorization_created");

  g_autoptr (FzPortalMessage) caps
    = fz_portal_message_new (FZ_PORTAL_SET_SNOWNET_CAPABILITIES);
  g_autoptr (JsonNode) payload = fz_portal_message_encode (caps);
  g_autofree char *text = json_to_string (payload, FALSE);
  g_assert_cmpstr (text, ==, "{\"iceless\":false}");
  g_autoptr (FzPortalMessage) none = fz_portal_message_new (FZ_PORTAL_NO_RELAYS);
  g_autoptr (JsonNode) empty = fz_portal_message_encode (none);
  g_autofree char *etext = json_to_string (empty, FALSE);
  g_assert_cmpstr (etext, ==, "{}");
}

/* The same event name means different things to different receivers. */
static void
test_roles (void)
{
  g_autoptr (JsonParser) p = json_parser_new ();
  g_assert_true (json_parser_load_from_data (p, "{\"ref\":\"x\"}", -1, NULL));
  JsonNode *payload = json_parser_get_root (p);
  g_autoptr (GError) error = NULL;
  g_autoptr (FzPortalMessage) portal = fz_portal_message_decode (
    FZ_PORTAL_ROLE_PORTAL, "authorization_created", payload, &error);
  g_assert_no_error (error);
  g_assert_cmpint (portal->event, ==, FZ_PORTAL_AUTHORIZATION_CREATED_REF);
  /* To a client it is the full authorization, and this one is not. */
  g_autoptr (FzPortalMessage) client = fz_portal_message_decode (
    FZ_PORTAL_ROLE_CLIENT, "authorization_created", payload, &error);
  g_assert_null (client);
  g_assert_error (error, FZ_PORTAL_ERROR, FZ_PORTAL_ERROR_INVALID);
  g_clear_error (&error);
  /* A gateway does not get it at all. */
  g_autoptr (FzPortalMessage) gw = fz_portal_message_decode (
    FZ_PORTAL_ROLE_GATEWAY, "authorization_created", payload, &error);
  g_assert_nonnull (gw);
  g_assert_cmpint (gw->event, ==, FZ_PORTAL_UNKNOWN);
}

/* Resource types we do not know, whatever their length or shape, are
 * skipped: in lists, and alone (the message then decodes as unknown). */
static void
test_unknown_resource_types (void)
{
  static const char *const newer[] = {
    ("{'id':'r-1','type':'static_device_pool','name':'Laptops',"
     "'devices':[{'client_id':'c-9','ipv4':'100.64.0.9/32'}]}"),
    "{'id':'r-2','type':'dynamic_device_pool','name':'Desks','address':'*.d.example'}",
    "{'type':'what_is_this'}",
    "{'type':'quantum','id':42}",
  };
  for (guint i = 0; i < G_N_ELEMENTS (newer); i++)
    {
      g_autofree char *text = q (newer[i]);
      g_autoptr (JsonNode) n = json_from_string (text, NULL);
      g_autoptr (GError) error = NULL;
      g_assert_null (fz_resource_decode (n, &error));
      g_assert_error (error, FZ_PORTAL_ERROR, FZ_PORTAL_ERROR_UNSUPPORTED);
      g_clear_error (&error);

      g_autoptr (FzPortalMessage) alone
        = decode (FZ_PORTAL_ROLE_CLIENT, "resource_created_or_updated", newer[i], &error);
      g_assert_no_error (error);
      g_assert_cmpint (alone->event, ==, FZ_PORTAL_UNKNOWN);
      g_assert_cmpstr (alone->event_name, ==, "resource_created_or_updated");
      g_autoptr (FzPortalMessage) updated
        = decode (FZ_PORTAL_ROLE_GATEWAY, "resource_updated", newer[i], &error);
      g_assert_no_error (error);
      g_assert_cmpint (updated->event, ==, FZ_PORTAL_UNKNOWN);

      g_autofree char *init = g_strdup_printf (
        "{'interface':{'ipv4':'100.64.0.7','ipv6':'fd00:2021:1111::7'},'resources':[%s,"
        "{'id':'r-3','type':'cidr','address':'10.0.0.0/8','name':'Ten'}]}",
        newer[i]);
      g_autoptr (FzPortalMessage) m
        = decode (FZ_PORTAL_ROLE_CLIENT, "init", init, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (m->resources->len, ==, 1);
      g_assert_cmpstr (((FzResource *) m->resources->pdata[0])->id, ==, "r-3");
    }

  /* Known types stay strict, and a type is still required. */
  static const char *const bad[] = {
    "{'type':'cidr','address':'10.0.0.0/8','name':'Ten'}",
    "{'id':'r-1','address':'10.0.0.0/8','name':'Ten'}",
    "{'id':'r-1','type':7}",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FzPortalMessage) m
        = decode (FZ_PORTAL_ROLE_CLIENT, "resource_created_or_updated", bad[i], &error);
      g_assert_null (m);
      g_assert_error (error, FZ_PORTAL_ERROR, FZ_PORTAL_ERROR_INVALID);
    }
  /* Nor is create_authorization for a resource we cannot serve skipped. */
  g_autoptr (GError) error = NULL;
  g_autoptr (FzPortalMessage) create = decode (
    FZ_PORTAL_ROLE_GATEWAY, "create_authorization",
    "{'ref':'x','resource':{'id':'r-1','type':'static_device_pool','name':'L'}}", &error);
  g_assert_null (create);
  g_assert_error (error, FZ_PORTAL_ERROR, FZ_PORTAL_ERROR_UNSUPPORTED);
}

/* The gateway's init as a current portal sends it. */
static void
test_gateway_init (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FzPortalMessage) m = decode (
    FZ_PORTAL_ROLE_GATEWAY, "init",
    "{'interface':{'ipv6':'fd00:2021:1111::2c:f6ab','ipv4':'100.115.164.78'},"
    "'config':{'ipv4_masquerade_enabled':true,'ipv6_masquerade_enabled':false},"
    "'account_slug':'acme','relays':[],"
    "'authorizations':[{'client_id':'c-1','resource_id':'r-1','expires_at':1729813989},"
    "{'client_id':'c-2','resource_id':'r-2','expires_at':-1},"
    "{'client_id':'c-3','resource_id':'r-3','expires_at':1729813990}],"
    "'flow_logs':{'api_url':'https://flow-api.firezone.dev','upload_interval_secs':60}}",
    &error);
  g_assert_no_error (error);
  g_assert_true (m->has_config);
  g_assert_true (m->ipv4_masquerade);
  g_assert_false (m->ipv6_masquerade);
  g_assert_cmpstr (m->account_slug, ==, "acme");
  /* The bad one is skipped. */
  g_assert_cmpuint (m->authorizations->len, ==, 2);
  const FzAuthorization *a = &g_array_index (m->authorizations, FzAuthorization, 0);
  g_assert_cmpstr (a->client_id, ==, "c-1");
  g_assert_cmpstr (a->resource_id, ==, "r-1");
  g_assert_cmpint (a->expires_at, ==, 1729813989);
  a = &g_array_index (m->authorizations, FzAuthorization, 1);
  g_assert_cmpstr (a->client_id, ==, "c-3");

  /* Without config: nothing is made up. */
  g_autoptr (FzPortalMessage) bare
    = decode (FZ_PORTAL_ROLE_GATEWAY, "init",
              "{'interface':{'ipv4':'100.64.0.2','ipv6':'fd00:2021:1111::2'}}", &error);
  g_assert_no_error (error);
  g_assert_false (bare->has_config);
  g_assert_cmpuint (bare->authorizations->len, ==, 0);

  static const struct
  {
    const char *members, *message;
  } bad[] = {
    { "'config':{'ipv4_masquerade_enabled':true}",
      "init: \"ipv6_masquerade_enabled\" is not true or false" },
    { "'config':{'ipv4_masquerade_enabled':1,'ipv6_masquerade_enabled':true}",
      "init: \"ipv4_masquerade_enabled\" is not true or false" },
    { "'config':true", "init: \"config\" is not an object" },
    { "'authorizations':{}",
      "init: \"authorizations\" is not an array (of at most 10000)" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *payload = g_strdup_printf (
        "{'interface':{'ipv4':'100.64.0.2','ipv6':'fd00:2021:1111::2'},%s}",
        bad[i].members);
      g_autoptr (GError) e = NULL;
      g_autoptr (FzPortalMessage) b
        = decode (FZ_PORTAL_ROLE_GATEWAY, "init", payload, &e);
      g_assert_null (b);
      g_assert_error (e, FZ_PORTAL_ERROR, FZ_PORTAL_ERROR_INVALID);
      g_assert_cmpstr (e->message, ==, bad[i].message);
    }
}

/* A list member that is no list is an error, not a message decoded
 * with the error left behind. */
static void
test_bad_lists (void)
{
  static const struct
  {
    FzPortalRole role;
    const char *event, *payload, *message;
  } bad[] = {
    { FZ_PORTAL_ROLE_CLIENT, "init",
      "{'interface':{'ipv4':'100.64.0.7','ipv6':'fd00:2021:1111::7'},'resources':{}}",
      "init: \"resources\" is not an array (of at most 10000)" },
    { FZ_PORTAL_ROLE_CLIENT, "init",
      "{'interface':{'ipv4':'100.64.0.7','ipv6':'fd00:2021:1111::7'},'authorizations':7}",
      "init: \"authorizations\" is not an array (of at most 10000)" },
    { FZ_PORTAL_ROLE_CLIENT, "relays_presence", "{'disconnected_ids':'relay-1'}",
      "relays_presence: \"disconnected_ids\" is not an array (of at most 10000)" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FzPortalMessage) m
        = decode (bad[i].role, bad[i].event, bad[i].payload, &error);
      g_assert_null (m);
      g_assert_error (error, FZ_PORTAL_ERROR, FZ_PORTAL_ERROR_INVALID);
      g_assert_cmpstr (error->message, ==, bad[i].message);
    }
}

static void
test_client_init_authorizations (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FzPortalMessage) m = decode (
    FZ_PORTAL_ROLE_CLIENT, "init",
    "{'interface':{'ipv4':'100.64.0.7','ipv6':'fd00:2021:1111::7'},"
    "'authorizations':[{'client_id':'c-9','resource_id':'pool-1','expires_at':1900000000}"
    ","
    "{'client_id':'c-10'}],"
    "'flow_logs':{'api_url':'https://flow-api.firezone.dev','upload_interval_secs':60}}",
    &error);
  g_assert_no_error (error);
  g_assert_cmpuint (m->authorizations->len, ==, 1);
  const FzAuthorization *a = &g_array_index (m->authorizations, FzAuthorization, 0);
  g_assert_cmpstr (a->client_id, ==, "c-9");
  g_assert_cmpstr (a->resource_id, ==, "pool-1");
  g_assert_cmpint (a->expires_at, ==, 1900000000);
  g_assert_false (m->has_config);
}

#define AUTHORIZATION_CREATED                                                            \
  "'resource_id':'r-1','gateway_id':'gw-1',"                                             \
  "'gateway_public_key':'lNoVTjvvtn0V0P0KfoOfBmZIYcR6tUOXxrCt7u2TmQY=',"                 \
  "'gateway_ipv4':'100.64.0.2','gateway_ipv6':'fd00:2021:1111::2',"                      \
  "'preshared_key':'Y2xpZW50LXB1YmxpYy1rZXktMzItYnl0ZXMtbG9uZyE=',"                      \
  "'client_ice_credentials':{'username':'abcd','password':'0123456789012345678901'},"    \
  "'gateway_ice_credentials':{'username':'efgh','password':'abcdefghijabcdefghijab'},"   \
  "'use_iceless':true,'flow_logs_ingest_token':'ZmxvdyBsb2dzIHRva2Vu'"

/* The site comes as site_id, or as gateway_group_id to clients the
 * portal thinks predate sites. */
static void
test_authorization_created_site (void)
{
  static const struct
  {
    const char *members, *site;
  } cases[] = {
    { "'site_id':'site-1'", "site-1" },
    { "'gateway_group_id':'group-1'", "group-1" },
    { "'site_id':'site-1','gateway_group_id':'group-1'", "site-1" },
    { "'site_id':null,'gateway_group_id':'group-1'", "group-1" },
    { "'other':1", NULL },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *payload
        = g_strdup_printf ("{" AUTHORIZATION_CREATED ",%s}", cases[i].members);
      g_autoptr (GError) error = NULL;
      g_autoptr (FzPortalMessage) m
        = decode (FZ_PORTAL_ROLE_CLIENT, "authorization_created", payload, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (m->site_id, ==, cases[i].site);
      g_assert_cmpstr (m->peer_id, ==, "gw-1");
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (FzPortalMessage) bad
    = decode (FZ_PORTAL_ROLE_CLIENT, "authorization_created",
              "{" AUTHORIZATION_CREATED ",'gateway_group_id':'not an id'}", &error);
  g_assert_null (bad);
  g_assert_cmpstr (error->message, ==,
                   "authorization_created: \"gateway_group_id\" is not an id");
}

/* What an operator debugging a join needs: the reply's status and reason. */
static void
test_reply (void)
{
  static const struct
  {
    FzPortalRole role;
    const char *payload, *status, *reason;
  } cases[] = {
    { FZ_PORTAL_ROLE_CLIENT, "{'status':'error','response':{'reason':'unmatched topic'}}",
      "error", "unmatched topic" },
    { FZ_PORTAL_ROLE_CLIENT, "{'status':'error','response':{'reason':'invalid_version'}}",
      "error", "invalid_version" },
    { FZ_PORTAL_ROLE_GATEWAY, "{'status':'error','response':{'reason':'disabled'}}",
      "error", "disabled" },
    { FZ_PORTAL_ROLE_CLIENT, "{'status':'ok','response':{}}", "ok", NULL },
    { FZ_PORTAL_ROLE_CLIENT,
      "{'status':'ok','response':{'resource_id':'r-1','site_id':'s-1'}}", "ok", NULL },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FzPortalMessage) m
        = decode (cases[i].role, "phx_reply", cases[i].payload, &error);
      g_assert_no_error (error);
      g_assert_cmpint (m->event, ==, FZ_PORTAL_REPLY);
      g_assert_cmpstr (m->status, ==, cases[i].status);
      g_assert_cmpstr (m->reason, ==, cases[i].reason);
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (FzPortalMessage) m
    = decode (FZ_PORTAL_ROLE_CLIENT, "phx_reply",
              "{'status':'error','response':{'reason':'disabled'}}", &error);
  g_autofree char *json = fz_portal_message_to_json (m);
  g_assert_nonnull (strstr (json, "\"status\" : \"error\""));
  g_assert_nonnull (strstr (json, "\"reason\" : \"disabled\""));
  g_autoptr (FzPortalMessage) none
    = decode (FZ_PORTAL_ROLE_CLIENT, "phx_reply", "{'response':{}}", &error);
  g_assert_null (none);
  g_assert_cmpstr (error->message, ==, "phx_reply: \"status\" is missing");
}

/* Newer events and members are ignored without error. */
static void
test_newer_events (void)
{
  static const struct
  {
    FzPortalRole role;
    const char *event;
  } unknown[] = {
    { FZ_PORTAL_ROLE_CLIENT, "client_device_access_authorized" },
    { FZ_PORTAL_ROLE_CLIENT, "client_device_access_denied" },
    { FZ_PORTAL_ROLE_CLIENT, "client_ice_candidates" },
    { FZ_PORTAL_ROLE_CLIENT, "invalidate_client_ice_candidates" },
    { FZ_PORTAL_ROLE_CLIENT, "resource_filters_updated" },
    { FZ_PORTAL_ROLE_CLIENT, "device_pool_domain_resolved" },
    { FZ_PORTAL_ROLE_CLIENT, "reject_access" },
    { FZ_PORTAL_ROLE_CLIENT, "access_authorization_expiry_updated" },
    { FZ_PORTAL_ROLE_GATEWAY, "access_authorization_expiry_updated" },
    { FZ_PORTAL_ROLE_PORTAL, "resolve_device_pool_domain" },
    { FZ_PORTAL_ROLE_PORTAL, "new_client_ice_candidates" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (unknown); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FzPortalMessage) m
        = decode (unknown[i].role, unknown[i].event, "{'client_id':7}", &error);
      g_assert_no_error (error);
      g_assert_cmpint (m->event, ==, FZ_PORTAL_UNKNOWN);
    }

  g_autoptr (GError) error = NULL;
  g_autoptr (FzPortalMessage) caps
    = decode (FZ_PORTAL_ROLE_PORTAL, "set_snownet_capabilities",
              "{'iceless':true,'newer':{'x':[1]}}", &error);
  g_assert_no_error (error);
  g_assert_true (caps->iceless);
  g_autoptr (FzPortalMessage) create = decode (
    FZ_PORTAL_ROLE_GATEWAY, "create_authorization",
    "{'ref':'r','resource':{'id':'r-1','type':'internet','newer':1},"
    "'client':{'id':'c-1','public_key':'fiAjSBWDgQfD1CFJkTwOf4zg+1QhH0eTT+oLaVIMpH8=',"
    "'preshared_key':'Y2xpZW50LXB1YmxpYy1rZXktMzItYnl0ZXMtbG9uZyE=','newer':[]},"
    "'client_ice_credentials':{'username':'abcd','password':'0123456789012345678901'},"
    "'gateway_ice_credentials':{'username':'efgh','password':'abcdefghijabcdefghijab'},"
    "'use_iceless':true,'flow_logs_ingest_token':'ZmxvdyBsb2dzIHRva2Vu',"
    "'flow_id':'f-1','actor':{'id':'a-1'}}",
    &error);
  g_assert_no_error (error);
  g_assert_cmpstr (create->peer_id, ==, "c-1");
  g_autofree char *json = fz_portal_message_to_json (create);
  g_assert_null (strstr (json, "ZmxvdyBsb2dzIHRva2Vu"));
}

/* What clients and gateways send, byte for byte as the portal expects it. */
static void
test_encode_literal (void)
{
  FzIceCandidate host, relay;
  g_assert_true (fz_ice_candidate_parse (
    &host, "candidate:1 1 udp 2130706431 192.0.2.1 52625 typ host", NULL));
  g_assert_true (fz_ice_candidate_parse (
    &relay, "candidate:7 1 udp 16777215 2001:db8::7 3478 typ relay", NULL));
  static const struct
  {
    FzPortalEvent event;
    const char *name, *json;
  } cases[] = {
    { FZ_PORTAL_SET_SNOWNET_CAPABILITIES, "set_snownet_capabilities",
      "{'iceless':true}" },
    { FZ_PORTAL_NO_RELAYS, "no_relays", "{}" },
    { FZ_PORTAL_REQUEST_AUTHORIZATION, "request_authorization",
      "{'resource_id':'res-1','connected_gateway_ids':['gw-1','gw-2']}" },
    { FZ_PORTAL_NEW_GATEWAY_ICE_CANDIDATES, "new_gateway_ice_candidates",
      "{'gateway_id':'gw-1','candidates':['candidate:1 1 udp 2130706431 192.0.2.1 "
      "52625 typ host','candidate:7 1 udp 16777215 2001:db8::7 3478 typ relay']}" },
    { FZ_PORTAL_INVALIDATE_GATEWAY_ICE_CANDIDATES, "invalidate_gateway_ice_candidates",
      "{'gateway_id':'gw-1','candidates':['candidate:1 1 udp 2130706431 192.0.2.1 "
      "52625 typ host','candidate:7 1 udp 16777215 2001:db8::7 3478 typ relay']}" },
    { FZ_PORTAL_AUTHORIZATION_CREATED_REF, "authorization_created",
      "{'ref':'SFMyNTY.g2gDbQ'}" },
    { FZ_PORTAL_BROADCAST_ICE_CANDIDATES, "broadcast_ice_candidates",
      "{'client_ids':['gw-1','gw-2'],'candidates':['candidate:1 1 udp 2130706431 "
      "192.0.2.1 52625 typ host','candidate:7 1 udp 16777215 2001:db8::7 3478 typ "
      "relay']}" },
    { FZ_PORTAL_BROADCAST_INVALIDATED_ICE_CANDIDATES,
      "broadcast_invalidated_ice_candidates",
      "{'client_ids':['gw-1','gw-2'],'candidates':['candidate:1 1 udp 2130706431 "
      "192.0.2.1 52625 typ host','candidate:7 1 udp 16777215 2001:db8::7 3478 typ "
      "relay']}" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      /* Every field set: each event takes only its own members. */
      g_autoptr (FzPortalMessage) m = fz_portal_message_new (cases[i].event);
      m->iceless = TRUE;
      m->resource_id = g_strdup ("res-1");
      m->peer_id = g_strdup ("gw-1");
      m->ref = g_strdup ("SFMyNTY.g2gDbQ");
      m->reason = g_strdup ("not sent");
      g_ptr_array_add (m->peer_ids, g_strdup ("gw-1"));
      g_ptr_array_add (m->peer_ids, g_strdup ("gw-2"));
      g_array_append_val (m->candidates, host);
      g_array_append_val (m->candidates, relay);
      g_assert_cmpstr (m->event_name, ==, cases[i].name);
      g_autoptr (JsonNode) payload = fz_portal_message_encode (m);
      g_autofree char *got = compact (payload);
      g_autofree char *want = q (cases[i].json);
      g_assert_cmpstr (got, ==, want);
    }

  /* Empty lists are sent as empty lists. */
  g_autoptr (FzPortalMessage) req
    = fz_portal_message_new (FZ_PORTAL_REQUEST_AUTHORIZATION);
  req->resource_id = g_strdup ("res-1");
  g_autoptr (JsonNode) payload = fz_portal_message_encode (req);
  g_autofree char *got = compact (payload);
  g_autofree char *want = q ("{'resource_id':'res-1','connected_gateway_ids':[]}");
  g_assert_cmpstr (got, ==, want);

  /* The frame around it. */
  g_autoptr (FzPhoenixFrame) f
    = fz_phoenix_frame_new ("client", req->event_name, json_node_copy (payload), 3);
  g_autofree char *frame = fz_phoenix_frame_to_string (f);
  g_autofree char *want_frame
    = q ("{'topic':'client','event':'request_authorization','payload':{'resource_id':"
         "'res-1','connected_gateway_ids':[]},'ref':3}");
  g_assert_cmpstr (frame, ==, want_frame);
}

static void
assert_encodes (JsonNode *node, const char *expected)
{
  g_autofree char *got = compact (node);
  g_autofree char *want = q (expected);
  g_assert_cmpstr (got, ==, want);
  json_node_unref (node);
}

/* The normalized output of each value, secrets as "(set)". */
static void
test_normalized_literal (void)
{
  static const struct
  {
    const char *in, *out;
  } resources[] = {
    { "{'id':'r-1','type':'cidr','address':'10.0.0.0/8','name':'Ten','newer':1,"
      "'gateway_groups':[{'id':'s-1'}],'filters':[{'protocol':'udp','port_range_start':"
      "53,'port_range_end':53},{'protocol':'tcp'},{'protocol':'icmp'}]}",
      "{'id':'r-1','type':'cidr','address':'10.0.0.0/8','name':'Ten','ip_stack':'dual',"
      "'sites':[{'id':'s-1','name':null}],'filters':[{'protocol':'udp',"
      "'port_range_start':53,'port_range_end':53},{'protocol':'tcp','port_range_start':"
      "0,'port_range_end':65535},{'protocol':'icmp'}]}" },
    { "{'id':'r-2','type':'dns','address':'*.corp.example','address_description':'d',"
      "'name':'Corp','ip_stack':'ipv6_only','sites':[{'id':'s-1','name':'HQ'}]}",
      "{'id':'r-2','type':'dns','address':'*.corp.example','address_description':'d',"
      "'name':'Corp','ip_stack':'ipv6_only','sites':[{'id':'s-1','name':'HQ'}],"
      "'filters':[]}" },
    { "{'id':'r-3','type':'internet','can_be_disabled':true}",
      "{'id':'r-3','type':'internet','name':'Internet Resource','ip_stack':'dual',"
      "'can_be_disabled':true,'sites':[],'filters':[]}" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (resources); i++)
    {
      g_autofree char *in = q (resources[i].in);
      g_autoptr (JsonNode) n = json_from_string (in, NULL);
      g_autoptr (GError) error = NULL;
      g_autoptr (FzResource) r = fz_resource_decode (n, &error);
      g_assert_no_error (error);
      assert_encodes (fz_resource_encode (r), resources[i].out);
    }

  g_autofree char *relay_in
    = q ("[{'id':'t-1','type':'turn','addr':'198.51.100.10:3478','username':'u:1',"
         "'password':'c2VjcmV0','expires_at':1700000000},{'id':'t-1','type':'turn',"
         "'addr':'[2001:db8::10]:3478','username':'u:1','password':'c2VjcmV0'}]");
  g_autoptr (JsonNode) rn = json_from_string (relay_in, NULL);
  g_autoptr (GPtrArray) relays = fz_relays_decode (rn, NULL);
  g_assert_cmpuint (relays->len, ==, 1);
  assert_encodes (fz_relay_encode (relays->pdata[0]),
                  "{'id':'t-1','addr_v4':'198.51.100.10:3478','addr_v6':'[2001:db8::10]:"
                  "3478','username':'u:1','password':'(set)','expires_at':1700000000}");

  g_autofree char *iface_in
    = q ("{'ipv4':'100.64.0.7','ipv6':'fd00:2021:1111::7','search_domain':'corp',"
         "'upstream_do53':[{'ip':'10.0.0.53'},{'ip':'2001:db8::53'}],"
         "'upstream_doh':[{'url':'https://dns.example/q'}]}");
  g_autoptr (JsonNode) in = json_from_string (iface_in, NULL);
  g_autoptr (FzInterface) iface = fz_interface_decode (in, NULL);
  g_assert_nonnull (iface);
  assert_encodes (
    fz_interface_encode (iface),
    "{'ipv4':'100.64.0.7','ipv6':'fd00:2021:1111::7','search_domain':'corp',"
    "'upstream_do53':['10.0.0.53','2001:db8::53'],'upstream_doh':['https://"
    "dns.example/q']}");

  FzAuthorization a = { .client_id = "c-1", .resource_id = "r-1", .expires_at = 17 };
  assert_encodes (fz_authorization_encode (&a),
                  "{'client_id':'c-1','resource_id':'r-1','expires_at':17}");

  /* A whole message, as fz-msgdump prints it (compacted here). */
  g_autoptr (GError) error = NULL;
  g_autoptr (FzPortalMessage) m
    = decode (FZ_PORTAL_ROLE_GATEWAY, "init",
              "{'interface':{'ipv4':'100.64.0.2','ipv6':'fd00:2021:1111::2'},"
              "'config':{'ipv4_masquerade_enabled':false,'ipv6_masquerade_enabled':true},"
              "'account_slug':'acme','authorizations':[{'client_id':'c-1','resource_id':"
              "'r-1','expires_at':17}]}",
              &error);
  g_assert_no_error (error);
  g_autofree char *pretty = fz_portal_message_to_json (m);
  assert_encodes (json_from_string (pretty, NULL),
                  "{'event':'init','interface':{'ipv4':'100.64.0.2','ipv6':'fd00:2021:"
                  "1111::2','search_domain':null,'upstream_do53':[],'upstream_doh':[]},"
                  "'account_slug':'acme','config':{'ipv4_masquerade_enabled':false,"
                  "'ipv6_masquerade_enabled':true},'authorizations':[{'client_id':'c-1',"
                  "'resource_id':'r-1','expires_at':17}]}");
}

/* Errors quote what the portal sent; a newline or a bidi control in it
 * must not start or disguise a log line. */
static void
test_error_text_escaped (void)
{
  static const struct
  {
    const char *event, *payload, *escape;
  } cases[] = {
    { "resource_created_or_updated",
      "{'id':'r-1','type':'cidr','address':'10.0.0.0/8\\nFAKE: x','name':'Ten'}",
      "\\x0a" },
    { "resource_created_or_updated",
      "{'id':'r-1','type':'cidr','address':'10.0.0.0/8\\u202e','name':'Ten'}",
      "\\u{202e}" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FzPortalMessage) m
        = decode (FZ_PORTAL_ROLE_CLIENT, cases[i].event, cases[i].payload, &error);
      g_assert_null (m);
      g_assert_nonnull (error);
      g_test_message ("%s", error->message);
      g_assert_null (strpbrk (error->message, "\r\n"));
      g_assert_null (strstr (error->message, "\u202e"));
      g_assert_nonnull (strstr (error->message, cases[i].escape));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/portal-message/outgoing", test_outgoing);
  g_test_add_func ("/portal-message/roles", test_roles);
  g_test_add_func ("/portal-message/unknown-resource-types", test_unknown_resource_types);
  g_test_add_func ("/portal-message/gateway-init", test_gateway_init);
  g_test_add_func ("/portal-message/client-init-authorizations",
                   test_client_init_authorizations);
  g_test_add_func ("/portal-message/bad-lists", test_bad_lists);
  g_test_add_func ("/portal-message/authorization-created-site",
                   test_authorization_created_site);
  g_test_add_func ("/portal-message/reply", test_reply);
  g_test_add_func ("/portal-message/newer-events", test_newer_events);
  g_test_add_func ("/portal-message/encode-literal", test_encode_literal);
  g_test_add_func ("/portal-message/normalized-literal", test_normalized_literal);
  g_test_add_func ("/portal-message/error-text-escaped", test_error_text_escaped);
  return g_test_run ();
}
