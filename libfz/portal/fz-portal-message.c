#include "fz-portal-message.h"

#include <sodium.h>
#include <string.h>

#define MAX_LIST 10000 /* resources, relays or candidates in one message */

static const struct
{
  const char *name;
  FzPortalEvent event;
  gboolean client, gateway, portal; /* who receives it */
} events[] = {
  { "init", FZ_PORTAL_INIT, TRUE, TRUE, FALSE },
  { "relays_presence", FZ_PORTAL_RELAYS_PRESENCE, TRUE, TRUE, FALSE },
  { "ice_candidates", FZ_PORTAL_ICE_CANDIDATES, TRUE, TRUE, FALSE },
  { "invalidate_ice_candidates", FZ_PORTAL_INVALIDATE_ICE_CANDIDATES, TRUE, TRUE, FALSE },
  { "disconnect", FZ_PORTAL_DISCONNECT, TRUE, TRUE, FALSE },
  { "phx_reply", FZ_PORTAL_REPLY, TRUE, TRUE, FALSE },
  { "config_changed", FZ_PORTAL_CONFIG_CHANGED, TRUE, FALSE, FALSE },
  { "resource_created_or_updated", FZ_PORTAL_RESOURCE_CREATED_OR_UPDATED, TRUE, FALSE,
    FALSE },
  { "resource_deleted", FZ_PORTAL_RESOURCE_DELETED, TRUE, FALSE, FALSE },
  { "authorization_created", FZ_PORTAL_AUTHORIZATION_CREATED, TRUE, FALSE, FALSE },
  { "authorization_creation_failed", FZ_PORTAL_AUTHORIZATION_CREATION_FAILED, TRUE, FALSE,
    FALSE },
  { "create_authorization", FZ_PORTAL_CREATE_AUTHORIZATION, FALSE, TRUE, FALSE },
  { "resource_updated", FZ_PORTAL_RESOURCE_UPDATED, FALSE, TRUE, FALSE },
  { "reject_access", FZ_PORTAL_REJECT_ACCESS, FALSE, TRUE, FALSE },
  { "set_snownet_capabilities", FZ_PORTAL_SET_SNOWNET_CAPABILITIES, FALSE, FALSE, TRUE },
  { "no_relays", FZ_PORTAL_NO_RELAYS, FALSE, FALSE, TRUE },
  { "request_authorization", FZ_PORTAL_REQUEST_AUTHORIZATION, FALSE, FALSE, TRUE },
  { "new_gateway_ice_candidates", FZ_PORTAL_NEW_GATEWAY_ICE_CANDIDATES, FALSE, FALSE,
    TRUE },
  { "invalidate_gateway_ice_candidates", FZ_PORTAL_INVALIDATE_GATEWAY_ICE_CANDIDATES,
    FALSE, FALSE, TRUE },
  { "authorization_created", FZ_PORTAL_AUTHORIZATION_CREATED_REF, FALSE, FALSE, TRUE },
  { "broadcast_ice_candidates", FZ_PORTAL_BROADCAST_ICE_CANDIDATES, FALSE, FALSE, TRUE },
  { "broadcast_invalidated_ice_candidates",
    FZ_PORTAL_BROADCAST_INVALIDATED_ICE_CANDIDATES, FALSE, FALSE, TRUE },
};

const char *
fz_portal_event_name (FzPortalEvent event)
{
  for (guint i = 0; i < G_N_ELEMENTS (events); i++)
    if (events[i].event == event)
      return events[i].name;
  return "unknown";
}

void
fz_portal_message_free (FzPortalMessage *m)
{
  if (m == NULL)
    return;
  g_free (m->event_name);
  fz_interface_free (m->interface);
  if (m->resources != NULL)
    g_ptr_array_unref (m->resources);
  if (m->relays != NULL)
    g_ptr_array_unref (m->relays);
  if (m->disconnected != NULL)
    g_ptr_array_unref (m->disconnected);
  if (m->candidates != NULL)
    g_array_unref (m->candidates);
  g_free (m->peer_id);
  g_free (m->resource_id);
  g_free (m->site_id);
  g_free (m->status);
  g_free (m->reason);
  g_free (m->ref);
  g_free (m->account_slug);
  if (m->authorizations != NULL)
    g_array_unref (m->authorizations);
  g_free (m->client_version);
  if (m->peer_ids != NULL)
    g_ptr_array_unref (m->peer_ids);
  sodium_memzero (m->psk, sizeof m->psk);
  fz_ice_credentials_clear (&m->client_ice);
  fz_ice_credentials_clear (&m->gateway_ice);
  g_free (m);
}

static gboolean
invalid (GError **error, const char *fmt, const char *arg)
{
  g_autofree char *safe = fz_portal_printable (arg);
  g_set_error (error, FZ_PORTAL_ERROR, FZ_PORTAL_ERROR_INVALID, fmt, safe);
  return FALSE;
}

static JsonArray *
array_member (JsonObject *o, const char *key, gboolean required, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    {
      if (required)
        invalid (error, "\"%s\" is missing", key);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_ARRAY (n)
      || json_array_get_length (json_node_get_array (n)) > MAX_LIST)
    {
      invalid (error, "\"%s\" is not an array (of at most 10000)", key);
      return NULL;
    }
  return json_node_get_array (n);
}

/* An optional array member: *out is NULL when it is absent or null. */
static gboolean
optional_array (JsonObject *o, const char *key, JsonArray **out, GError **error)
{
  GError *e = NULL;
  *out = array_member (o, key, FALSE, &e);
  if (e == NULL)
    return TRUE;
  g_propagate_error (error, e);
  return FALSE;
}

/* A list of resources; bad ones (or unknown types) are skipped. */
static gboolean
decode_resources (FzPortalMessage *m, JsonObject *o, GError **error)
{
  JsonArray *a;
  if (!optional_array (o, "resources", &a, error))
    return FALSE;
  for (guint i = 0; a != NULL && i < json_array_get_length (a); i++)
    {
      g_autoptr (GError) e = NULL;
      FzResource *r = fz_resource_decode (json_array_get_element (a, i), &e);
      if (r == NULL)
        g_debug ("portal: skipping resource %u: %s", i, e->message);
      else
        g_ptr_array_add (m->resources, r);
    }
  return TRUE;
}

/* The authorizations of init; bad ones are skipped. */
static gboolean
decode_authorizations (FzPortalMessage *m, JsonObject *o, GError **error)
{
  JsonArray *a;
  if (!optional_array (o, "authorizations", &a, error))
    return FALSE;
  for (guint i = 0; a != NULL && i < json_array_get_length (a); i++)
    {
      g_autoptr (GError) e = NULL;
      FzAuthorization auth;
      if (fz_authorization_decode (json_array_get_element (a, i), &auth, &e))
        g_array_append_val (m->authorizations, auth);
      else
        g_debug ("portal: skipping authorization %u: %s", i, e->message);
    }
  return TRUE;
}

static gboolean
get_bool (JsonObject *o, const char *key, gboolean *out, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n)
      || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return invalid (error, "\"%s\" is not true or false", key);
  *out = json_node_get_boolean (n);
  return TRUE;
}

/* The gateway's "config", when given: both members are required. */
static gboolean
decode_gateway_config (FzPortalMessage *m, JsonObject *o, GError **error)
{
  JsonNode *n = json_object_get_member (o, "config");
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (n))
    return invalid (error, "\"%s\" is not an object", "config");
  JsonObject *c = json_node_get_object (n);
  m->has_config = get_bool (c, "ipv4_masquerade_enabled", &m->ipv4_masquerade, error)
                  && get_bool (c, "ipv6_masquerade_enabled", &m->ipv6_masquerade, error);
  return m->has_config;
}

/* An optional id: absent or null leaves *out NULL. */
static gboolean
get_id_opt (JsonObject *o, const char *key, char **out, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  return n == NULL || JSON_NODE_HOLDS_NULL (n) || fz_json_get_id (o, key, out, error);
}

/* {"status":..,"response":{"reason":..}}; other responses are not kept. */
static gboolean
decode_reply (FzPortalMessage *m, JsonObject *o, GError **error)
{
  const char *status = fz_json_get_string (o, "status", 32, TRUE, error);
  if (status == NULL)
    return FALSE;
  m->status = g_strdup (status);
  JsonNode *n = json_object_get_member (o, "response");
  if (n == NULL || !JSON_NODE_HOLDS_OBJECT (n))
    return TRUE;
  GError *e = NULL;
  const char *reason = fz_json_get_string (json_node_get_object (n), "reason",
                                           FZ_PORTAL_MAX_TEXT, FALSE, &e);
  if (e != NULL)
    {
      g_propagate_error (error, e);
      return FALSE;
    }
  m->reason = g_strdup (reason);
  return TRUE;
}

/* Candidate strings; unparseable ones are skipped. */
static gboolean
decode_candidates (FzPortalMessage *m, JsonObject *o, GError **error)
{
  JsonArray *a = array_member (o, "candidates", TRUE, error);
  if (a == NULL)
    return FALSE;
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      JsonNode *n = json_array_get_element (a, i);
      FzIceCandidate c;
      g_autoptr (GError) e = NULL;
      if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
        continue;
      if (fz_ice_candidate_parse (&c, json_node_get_string (n), &e))
        g_array_append_val (m->candidates, c);
      else
        g_debug ("portal: skipping candidate %u: %s", i, e->message);
    }
  return TRUE;
}

static gboolean
get_ip_opt (JsonObject *o, const char *key, guint8 family, FzIpAddr *out, GError **error)
{
  GError *e = NULL;
  const char *s = fz_json_get_string (o, key, FZ_IP_ADDR_STRLEN, FALSE, &e);
  if (e != NULL)
    {
      g_propagate_error (error, e);
      return FALSE;
    }
  if (s == NULL)
    return TRUE;
  if (!fz_ip_addr_parse (out, s) || out->family != family)
    return invalid (error, "\"%s\" is not an IP address of its family", key);
  return TRUE;
}

/* A list of ids; bad ones are skipped. */
static gboolean
decode_ids (FzPortalMessage *m, JsonObject *o, const char *key, gboolean required,
            GError **error)
{
  GError *e = NULL;
  JsonArray *a = array_member (o, key, required, &e);
  if (e != NULL)
    {
      g_propagate_error (error, e);
      return FALSE;
    }
  for (guint i = 0; a != NULL && i < json_array_get_length (a); i++)
    {
      JsonNode *n = json_array_get_element (a, i);
      if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
          && strlen (json_node_get_string (n)) <= FZ_PORTAL_MAX_ID)
        g_ptr_array_add (m->peer_ids, g_strdup (json_node_get_string (n)));
    }
  return TRUE;
}

/* The peer's public key, the PSK and its tunnel addresses (members of
 * @peer), and both sides' ICE credentials (members of @o). */
static gboolean
decode_peer (FzPortalMessage *m, JsonObject *peer, const char *key_name, const char *v4,
             const char *v6, JsonObject *o, GError **error)
{
  if (!fz_json_get_key (peer, key_name, m->peer_key, error))
    return FALSE;
  m->has_peer_key = TRUE;
  if (!fz_json_get_key (peer, "preshared_key", m->psk, error))
    return FALSE;
  m->has_psk = TRUE;
  return get_ip_opt (peer, v4, 4, &m->peer_ipv4, error)
         && get_ip_opt (peer, v6, 6, &m->peer_ipv6, error)
         && fz_ice_credentials_decode (
           json_object_get_member (o, "client_ice_credentials"), &m->client_ice, error)
         && fz_ice_credentials_decode (
           json_object_get_member (o, "gateway_ice_credentials"), &m->gateway_ice, error);
}

/* An optional relay list member; a list that is no list is an error. */
static gboolean
decode_relays (FzPortalMessage *m, JsonObject *o, const char *key, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  GPtrArray *relays = fz_relays_decode (n, error);
  if (relays == NULL)
    return FALSE;
  g_ptr_array_unref (m->relays);
  m->relays = relays;
  return TRUE;
}

static gboolean
decode_object (FzPortalRole role, FzPortalMessage *m, JsonObject *o, GError **error)
{
  const char *peer_key = role == FZ_PORTAL_ROLE_CLIENT ? "gateway_id" : "client_id";
  switch (m->event)
    {
    case FZ_PORTAL_INIT:
      {
        JsonNode *iface = json_object_get_member (o, "interface");
        if (role == FZ_PORTAL_ROLE_CLIENT)
          {
            m->interface = fz_interface_decode (iface, error);
            if (m->interface == NULL || !decode_resources (m, o, error))
              return FALSE;
          }
        else
          {
            /* The gateway's interface has only its addresses. */
            JsonObject *io = iface && JSON_NODE_HOLDS_OBJECT (iface)
                               ? json_node_get_object (iface)
                               : NULL;
            if (io == NULL)
              return invalid (error, "\"%s\" is not an object", "interface");
            m->interface = g_new0 (FzInterface, 1);
            m->interface->upstream_do53 = g_array_new (FALSE, FALSE, sizeof (FzIpAddr));
            m->interface->upstream_doh = g_ptr_array_new_with_free_func (g_free);
            if (!get_ip_opt (io, "ipv4", 4, &m->interface->ipv4, error)
                || !get_ip_opt (io, "ipv6", 6, &m->interface->ipv6, error))
              return FALSE;
            GError *e = NULL;
            const char *slug
              = fz_json_get_string (o, "account_slug", FZ_PORTAL_MAX_TEXT, FALSE, &e);
            if (e != NULL)
              {
                g_propagate_error (error, e);
                return FALSE;
              }
            m->account_slug = g_strdup (slug);
            if (!decode_gateway_config (m, o, error))
              return FALSE;
          }
        return decode_relays (m, o, "relays", error)
               && decode_authorizations (m, o, error);
      }
    case FZ_PORTAL_CONFIG_CHANGED:
      m->interface = fz_interface_decode (json_object_get_member (o, "interface"), error);
      return m->interface != NULL;
    case FZ_PORTAL_RELAYS_PRESENCE:
      {
        JsonArray *gone;
        if (!optional_array (o, "disconnected_ids", &gone, error))
          return FALSE;
        for (guint i = 0; gone != NULL && i < json_array_get_length (gone); i++)
          {
            JsonNode *n = json_array_get_element (gone, i);
            if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
                && strlen (json_node_get_string (n)) <= FZ_PORTAL_MAX_ID)
              g_ptr_array_add (m->disconnected, g_strdup (json_node_get_string (n)));
          }
        return decode_relays (m, o, "connected", error);
      }
    case FZ_PORTAL_ICE_CANDIDATES:
    case FZ_PORTAL_INVALIDATE_ICE_CANDIDATES:
      return fz_json_get_id (o, peer_key, &m->peer_id, error)
             && decode_candidates (m, o, error);
    case FZ_PORTAL_DISCONNECT:
      {
        const char *reason
          = fz_json_get_string (o, "reason", FZ_PORTAL_MAX_TEXT, TRUE, error);
        m->reason = g_strdup (reason);
        return reason != NULL;
      }
    case FZ_PORTAL_AUTHORIZATION_CREATED:
      return fz_json_get_id (o, "resource_id", &m->resource_id, error)
             && fz_json_get_id (o, "gateway_id", &m->peer_id, error)
             && decode_peer (m, o, "gateway_public_key", "gateway_ipv4", "gateway_ipv6",
                             o, error)
             && get_id_opt (o, "site_id", &m->site_id, error)
             /* What the portal sends clients that predate sites. */
             && (m->site_id != NULL
                 || get_id_opt (o, "gateway_group_id", &m->site_id, error));
    case FZ_PORTAL_AUTHORIZATION_CREATION_FAILED:
      {
        if (!fz_json_get_id (o, "resource_id", &m->resource_id, error))
          return FALSE;
        const char *reason = fz_json_get_string (o, "reason", 32, TRUE, error);
        m->reason = g_strdup (reason);
        return reason != NULL;
      }
    case FZ_PORTAL_CREATE_AUTHORIZATION:
      {
        const char *ref = fz_json_get_string (o, "ref", 4096, TRUE, error);
        if (ref == NULL)
          return FALSE;
        m->ref = g_strdup (ref);
        FzResource *r
          = fz_resource_decode (json_object_get_member (o, "resource"), error);
        if (r == NULL)
          return FALSE;
        g_ptr_array_add (m->resources, r);
        JsonNode *cn = json_object_get_member (o, "client");
        if (cn == NULL || !JSON_NODE_HOLDS_OBJECT (cn))
          return invalid (error, "\"%s\" is not an object", "client");
        JsonObject *co = json_node_get_object (cn);
        GError *e = NULL;
        const char *version = fz_json_get_string (co, "version", 32, FALSE, &e);
        if (e != NULL)
          {
            g_propagate_error (error, e);
            return FALSE;
          }
        m->client_version = g_strdup (version);
        return fz_json_get_id (co, "id", &m->peer_id, error)
               && decode_peer (m, co, "public_key", "ipv4", "ipv6", o, error)
               && fz_json_get_int (o, "expires_at", 0, G_MAXINT64, FALSE, &m->expires_at,
                                   error);
      }
    case FZ_PORTAL_REPLY: return decode_reply (m, o, error);
    case FZ_PORTAL_REJECT_ACCESS:
      return fz_json_get_id (o, "client_id", &m->peer_id, error)
             && fz_json_get_id (o, "resource_id", &m->resource_id, error);
    case FZ_PORTAL_SET_SNOWNET_CAPABILITIES:
      {
        JsonNode *n = json_object_get_member (o, "iceless");
        m->iceless = n != NULL && JSON_NODE_HOLDS_VALUE (n)
                     && json_node_get_value_type (n) == G_TYPE_BOOLEAN
                     && json_node_get_boolean (n);
        return TRUE;
      }
    case FZ_PORTAL_REQUEST_AUTHORIZATION:
      return fz_json_get_id (o, "resource_id", &m->resource_id, error)
             && decode_ids (m, o, "connected_gateway_ids", FALSE, error);
    case FZ_PORTAL_NEW_GATEWAY_ICE_CANDIDATES:
    case FZ_PORTAL_INVALIDATE_GATEWAY_ICE_CANDIDATES:
      return fz_json_get_id (o, "gateway_id", &m->peer_id, error)
             && decode_candidates (m, o, error);
    case FZ_PORTAL_AUTHORIZATION_CREATED_REF:
      {
        const char *ref = fz_json_get_string (o, "ref", 4096, TRUE, error);
        m->ref = g_strdup (ref);
        return ref != NULL;
      }
    case FZ_PORTAL_BROADCAST_ICE_CANDIDATES:
    case FZ_PORTAL_BROADCAST_INVALIDATED_ICE_CANDIDATES:
      return decode_ids (m, o, "client_ids", TRUE, error)
             && decode_candidates (m, o, error);
    default: return TRUE;
    }
}

/* A message with its lists allocated and empty. */
static FzPortalMessage *
message_alloc (FzPortalEvent event, const char *name)
{
  FzPortalMessage *m = g_new0 (FzPortalMessage, 1);
  m->event = event;
  m->event_name = g_strdup (name);
  m->resources = g_ptr_array_new_with_free_func ((GDestroyNotify) fz_resource_free);
  m->relays = g_ptr_array_new_with_free_func ((GDestroyNotify) fz_relay_free);
  m->disconnected = g_ptr_array_new_with_free_func (g_free);
  m->candidates = g_array_new (FALSE, FALSE, sizeof (FzIceCandidate));
  m->peer_ids = g_ptr_array_new_with_free_func (g_free);
  m->authorizations = g_array_new (FALSE, TRUE, sizeof (FzAuthorization));
  g_array_set_clear_func (m->authorizations, (GDestroyNotify) fz_authorization_clear);
  return m;
}

FzPortalMessage *
fz_portal_message_decode (FzPortalRole role, const char *event, JsonNode *payload,
                          GError **error)
{
  g_autoptr (FzPortalMessage) m = message_alloc (FZ_PORTAL_UNKNOWN, event);
  for (guint i = 0; i < G_N_ELEMENTS (events); i++)
    if (strcmp (events[i].name, event) == 0
        && (role == FZ_PORTAL_ROLE_CLIENT    ? events[i].client
            : role == FZ_PORTAL_ROLE_GATEWAY ? events[i].gateway
                                             : events[i].portal))
      m->event = events[i].event;
  if (m->event == FZ_PORTAL_UNKNOWN)
    return g_steal_pointer (&m);

  GError *e = NULL;
  gboolean ok;
  if (m->event == FZ_PORTAL_RESOURCE_DELETED)
    {
      /* The payload is the bare id string. */
      ok = payload != NULL && JSON_NODE_HOLDS_VALUE (payload)
           && json_node_get_value_type (payload) == G_TYPE_STRING
           && strlen (json_node_get_string (payload)) <= FZ_PORTAL_MAX_ID
           && *json_node_get_string (payload) != '\0';
      if (ok)
        m->resource_id = g_strdup (json_node_get_string (payload));
      else
        invalid (&e, "the payload of %s is not a resource id", event);
    }
  else if (m->event == FZ_PORTAL_RESOURCE_CREATED_OR_UPDATED
           || m->event == FZ_PORTAL_RESOURCE_UPDATED)
    {
      FzResource *r = fz_resource_decode (payload, &e);
      ok = r != NULL;
      if (ok)
        g_ptr_array_add (m->resources, r);
      else if (g_error_matches (e, FZ_PORTAL_ERROR, FZ_PORTAL_ERROR_UNSUPPORTED))
        {
          /* A resource of a newer type: skipped as the message of a
           * newer event would be. */
          g_debug ("portal: skipping %s: %s", event, e->message);
          g_clear_error (&e);
          m->event = FZ_PORTAL_UNKNOWN;
          ok = TRUE;
        }
    }
  else if (payload == NULL || !JSON_NODE_HOLDS_OBJECT (payload))
    ok = invalid (&e, "the payload of %s is not an object", event);
  else
    ok = decode_object (role, m, json_node_get_object (payload), &e);
  if (!ok)
    {
      g_autofree char *name = fz_portal_printable (event);
      g_set_error (error, e->domain, e->code, "%s: %s", name, e->message);
      g_error_free (e);
      return NULL;
    }
  return g_steal_pointer (&m);
}

static void
add_string (JsonBuilder *b, const char *key, const char *value)
{
  if (value == NULL)
    return;
  json_builder_set_member_name (b, key);
  json_builder_add_string_value (b, value);
}

typedef JsonNode *(*EncodeFn) (gconstpointer item);

static void
encode_ids (JsonBuilder *b, const char *key, GPtrArray *ids)
{
  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  for (guint i = 0; i < ids->len; i++)
    json_builder_add_string_value (b, ids->pdata[i]);
  json_builder_end_array (b);
}

void
fz_portal_json_add_candidates (JsonBuilder *b, GArray *candidates)
{
  json_builder_set_member_name (b, "candidates");
  json_builder_begin_array (b);
  for (guint i = 0; i < candidates->len; i++)
    {
      g_autofree char *c
        = fz_ice_candidate_to_string (&g_array_index (candidates, FzIceCandidate, i));
      json_builder_add_string_value (b, c);
    }
  json_builder_end_array (b);
}

static void
add_list (JsonBuilder *b, const char *key, GPtrArray *items, EncodeFn encode)
{
  if (items->len == 0)
    return;
  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  for (guint i = 0; i < items->len; i++)
    json_builder_add_value (b, encode (items->pdata[i]));
  json_builder_end_array (b);
}

char *
fz_portal_message_to_json (const FzPortalMessage *m)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  char s[FZ_IP_ADDR_STRLEN];
  json_builder_begin_object (b);
  add_string (b, "event", m->event_name);
  if (m->event == FZ_PORTAL_UNKNOWN)
    {
      json_builder_set_member_name (b, "unknown");
      json_builder_add_boolean_value (b, TRUE);
    }
  if (m->interface != NULL)
    {
      json_builder_set_member_name (b, "interface");
      json_builder_add_value (b, fz_interface_encode (m->interface));
    }
  add_string (b, "account_slug", m->account_slug);
  add_string (b, "peer_id", m->peer_id);
  add_string (b, "resource_id", m->resource_id);
  add_string (b, "site_id", m->site_id);
  add_string (b, "status", m->status);
  add_string (b, "reason", m->reason);
  add_string (b, "ref", m->ref);
  add_string (b, "client_version", m->client_version);
  if (m->has_peer_key)
    {
      g_autofree char *k = g_base64_encode (m->peer_key, 32);
      add_string (b, "peer_public_key", k);
    }
  if (m->has_psk)
    add_string (b, "preshared_key", "(set)");
  if (m->peer_ipv4.family != 0)
    add_string (b, "peer_ipv4", fz_ip_addr_to_string (&m->peer_ipv4, s));
  if (m->peer_ipv6.family != 0)
    add_string (b, "peer_ipv6", fz_ip_addr_to_string (&m->peer_ipv6, s));
  if (m->client_ice.username != NULL)
    add_string (b, "client_ice_username", m->client_ice.username);
  if (m->gateway_ice.username != NULL)
    add_string (b, "gateway_ice_username", m->gateway_ice.username);
  if (m->expires_at != 0)
    {
      json_builder_set_member_name (b, "expires_at");
      json_builder_add_int_value (b, m->expires_at);
    }
  if (m->event == FZ_PORTAL_SET_SNOWNET_CAPABILITIES)
    {
      json_builder_set_member_name (b, "iceless");
      json_builder_add_boolean_value (b, m->iceless);
    }
  if (m->has_config)
    {
      json_builder_set_member_name (b, "config");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "ipv4_masquerade_enabled");
      json_builder_add_boolean_value (b, m->ipv4_masquerade);
      json_builder_set_member_name (b, "ipv6_masquerade_enabled");
      json_builder_add_boolean_value (b, m->ipv6_masquerade);
      json_builder_end_object (b);
    }
  if (m->peer_ids->len > 0)
    encode_ids (b, "peer_ids", m->peer_ids);
  add_list (b, "resources", m->resources, (EncodeFn) fz_resource_encode);
  add_list (b, "relays", m->relays, (EncodeFn) fz_relay_encode);
  if (m->disconnected->len > 0)
    {
      json_builder_set_member_name (b, "disconnected_relay_ids");
      json_builder_begin_array (b);
      for (guint i = 0; i < m->disconnected->len; i++)
        json_builder_add_string_value (b, m->disconnected->pdata[i]);
      json_builder_end_array (b);
    }
  if (m->candidates->len > 0)
    fz_portal_json_add_candidates (b, m->candidates);
  if (m->authorizations->len > 0)
    {
      json_builder_set_member_name (b, "authorizations");
      json_builder_begin_array (b);
      for (guint i = 0; i < m->authorizations->len; i++)
        json_builder_add_value (b, fz_authorization_encode (&g_array_index (
                                     m->authorizations, FzAuthorization, i)));
      json_builder_end_array (b);
    }
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  return json_generator_to_data (gen, NULL);
}

FzPortalMessage *
fz_portal_message_new (FzPortalEvent event)
{
  return message_alloc (event, fz_portal_event_name (event));
}

JsonNode *
fz_portal_message_encode (const FzPortalMessage *m)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  switch (m->event)
    {
    case FZ_PORTAL_SET_SNOWNET_CAPABILITIES:
      json_builder_set_member_name (b, "iceless");
      json_builder_add_boolean_value (b, m->iceless);
      break;
    case FZ_PORTAL_REQUEST_AUTHORIZATION:
      add_string (b, "resource_id", m->resource_id);
      encode_ids (b, "connected_gateway_ids", m->peer_ids);
      break;
    case FZ_PORTAL_NEW_GATEWAY_ICE_CANDIDATES:
    case FZ_PORTAL_INVALIDATE_GATEWAY_ICE_CANDIDATES:
      add_string (b, "gateway_id", m->peer_id);
      fz_portal_json_add_candidates (b, m->candidates);
      break;
    case FZ_PORTAL_AUTHORIZATION_CREATED_REF: add_string (b, "ref", m->ref); break;
    case FZ_PORTAL_BROADCAST_ICE_CANDIDATES:
    case FZ_PORTAL_BROADCAST_INVALIDATED_ICE_CANDIDATES:
      encode_ids (b, "client_ids", m->peer_ids);
      fz_portal_json_add_candidates (b, m->candidates);
      break;
    default: /* no_relays: an empty object */ break;
    }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
