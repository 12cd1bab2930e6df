/* What clients and gateways send survives encoding and the portal's
 * decoding; what the portal pushes keeps its fields. */
#include "fz.h"

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
  return g_test_run ();
}
