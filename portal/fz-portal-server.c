#include "fz-portal-server.h"

#include "fz-phoenix-frame.h"
#include "fz-portal-credentials.h"
#include "fz-portal-http.h"
#include "fz-portal-message.h"

#include <libsoup/soup.h>
#include <sodium.h>
#include <string.h>

#define POOL_SIZE      (1u << 21) /* 100.64.0.0/11 and fd00:2021:1111::/107 */
#define MAX_REMEMBERED 65536      /* device addresses kept for devices that left */

typedef struct _Peer Peer;

struct _FzPortalServer
{
  GObject parent;
  FzPortalConfig *config;
  guint8 secret[FZ_PORTAL_SECRET_LEN];
  SoupServer *http;
  FzPortalHttp *front;
  GHashTable *clients;        /* id -> Peer */
  GHashTable *gateways;       /* id -> Peer */
  GHashTable *pending;        /* ref -> Pending */
  GHashTable *authorizations; /* "client/resource" -> Authorization */
  GHashTable *offsets;        /* device id -> pool offset (GUINT_TO_POINTER) */
  GHashTable *taken;          /* pool offset -> device id (borrowed) */
  GHashTable *connects;       /* address prefix -> GArray of gint64 times */
  GSource *tick;
  gint64 policies_checked; /* unix seconds: policy ends up to here are applied */
};

struct _Peer
{
  FzPortalServer *server;
  SoupWebsocketConnection *ws;
  gboolean gateway;
  char *id, *name, *external_id;
  char *user; /* clients */
  char
    *token_tag; /* clients: the token's hash (static) or "signed"; gateways: token name */
  char *site_id; /* gateways */
  char *key_b64;
  guint offset; /* in the address pool */
  int version[3];
  gboolean has_version, joined;
  gint64 last_seen;     /* monotonic us */
  gint64 token_expires; /* unix s; 0: never */
  GHashTable *told;     /* clients: resource id -> the JSON they were sent */
  char *relays_told;    /* the relay list they were sent */
  char *iface_told;
};

typedef struct
{
  FzPortalServer *server;
  char *ref, *client_id, *resource_id, *gateway_id;
  GPtrArray *tried;     /* gateway ids */
  GPtrArray *preferred; /* from the request */
  GSource *timer;
} Pending;

typedef struct
{
  char *client_id, *resource_id, *gateway_id;
  gint64 expires_at;
} Authorization;

G_DEFINE_FINAL_TYPE (FzPortalServer, fz_portal_server, G_TYPE_OBJECT)

static void
peer_free (Peer *p)
{
  if (p->ws != NULL)
    {
      g_signal_handlers_disconnect_by_data (p->ws, p);
      if (soup_websocket_connection_get_state (p->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (p->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
      g_object_unref (p->ws);
    }
  g_free (p->id);
  g_free (p->name);
  g_free (p->external_id);
  g_free (p->user);
  g_free (p->token_tag);
  g_free (p->site_id);
  g_free (p->key_b64);
  g_free (p->relays_told);
  g_free (p->iface_told);
  if (p->told != NULL)
    g_hash_table_unref (p->told);
  g_free (p);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Peer, peer_free)

/* Timers run on the thread-default context the server was made on, never
 * implicitly on the global default. */
static GSource *
start_timer (GSource *src, GSourceFunc cb, gpointer data)
{
  g_source_set_callback (src, cb, data, NULL);
  g_source_attach (src, g_main_context_get_thread_default ());
  return src;
}

static void
stop_timer (GSource **src)
{
  if (*src == NULL)
    return;
  g_source_destroy (*src);
  g_clear_pointer (src, g_source_unref);
}

static void
pending_free (Pending *p)
{
  stop_timer (&p->timer);
  g_free (p->ref);
  g_free (p->client_id);
  g_free (p->resource_id);
  g_free (p->gateway_id);
  g_ptr_array_unref (p->tried);
  g_ptr_array_unref (p->preferred);
  g_free (p);
}

static void
authorization_free (Authorization *a)
{
  g_free (a->client_id);
  g_free (a->resource_id);
  g_free (a->gateway_id);
  g_free (a);
}

/* A snapshot (GLib 2.74 lacks g_hash_table_get_values_as_ptr_array). */
static GPtrArray *
values_of (GHashTable *t)
{
  GPtrArray *a = g_ptr_array_sized_new (g_hash_table_size (t));
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, t);
  while (g_hash_table_iter_next (&it, NULL, &v))
    g_ptr_array_add (a, v);
  return a;
}

static GPtrArray *
keys_of (GHashTable *t)
{
  GPtrArray *a = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init (&it, t);
  while (g_hash_table_iter_next (&it, &k, NULL))
    g_ptr_array_add (a, g_strdup (k));
  return a;
}

/* ---- Addresses ---------------------------------------------------- */

/* Each device keeps its addresses for the life of the portal; the first
 * choice is a hash of its id, so they mostly survive restarts too. */
static guint
assign_offset (FzPortalServer *self, const char *device_id)
{
  gpointer found;
  if (g_hash_table_lookup_extended (self->offsets, device_id, NULL, &found))
    return GPOINTER_TO_UINT (found);
  if (g_hash_table_size (self->offsets) >= MAX_REMEMBERED)
    {
      /* Many devices have come and gone: forget those not connected now,
       * so the table (and the pool) stays bounded. */
      GHashTableIter it;
      gpointer key, off;
      g_hash_table_iter_init (&it, self->offsets);
      while (g_hash_table_iter_next (&it, &key, &off))
        if (!g_hash_table_contains (self->clients, key)
            && !g_hash_table_contains (self->gateways, key))
          {
            g_hash_table_remove (self->taken, off);
            g_hash_table_iter_remove (&it);
          }
    }
  guint start = g_str_hash (device_id) % (POOL_SIZE - 4) + 2;
  guint off = start;
  while (g_hash_table_contains (self->taken, GUINT_TO_POINTER (off)))
    off = off + 1 >= POOL_SIZE - 1 ? 2 : off + 1;
  char *key = g_strdup (device_id);
  g_hash_table_insert (self->offsets, key, GUINT_TO_POINTER (off));
  g_hash_table_insert (self->taken, GUINT_TO_POINTER (off), key);
  return off;
}

static void
peer_ipv4 (const Peer *p, char out[FZ_IP_ADDR_STRLEN])
{
  guint32 a = (100u << 24) | (64u << 16) | p->offset;
  g_snprintf (out, FZ_IP_ADDR_STRLEN, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
              (a >> 8) & 255, a & 255);
}

static void
peer_ipv6 (const Peer *p, char out[FZ_IP_ADDR_STRLEN])
{
  g_snprintf (out, FZ_IP_ADDR_STRLEN, "fd00:2021:1111::%x:%x", p->offset >> 16,
              p->offset & 0xffff);
}

/* ---- Sending ------------------------------------------------------ */

static const char *
peer_topic (const Peer *p)
{
  return p->gateway ? "gateway" : "client";
}

static void
send_frame (Peer *p, const char *topic, const char *event, JsonNode *payload, gint64 ref)
{
  if (p->ws == NULL
      || soup_websocket_connection_get_state (p->ws) != SOUP_WEBSOCKET_STATE_OPEN)
    {
      /* Closing: nothing more goes out, but the payload was ours. */
      json_node_unref (payload);
      return;
    }
  g_autoptr (FzPhoenixFrame) f = fz_phoenix_frame_new (topic, event, payload, ref);
  g_autofree char *text = fz_phoenix_frame_to_string (f);
  soup_websocket_connection_send_text (p->ws, text);
}

/* Takes @payload. */
static void
push (Peer *p, const char *event, JsonNode *payload)
{
  g_debug ("-> %s %s: %s", p->gateway ? "gateway" : "client", p->name, event);
  send_frame (p, peer_topic (p), event, payload, FZ_PHOENIX_NO_REF);
}

static void
reply (Peer *p, const char *topic, gint64 ref, const char *status, const char *reason)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, status);
  json_builder_set_member_name (b, "response");
  json_builder_begin_object (b);
  if (reason != NULL)
    {
      json_builder_set_member_name (b, "reason");
      json_builder_add_string_value (b, reason);
    }
  json_builder_end_object (b);
  json_builder_end_object (b);
  send_frame (p, topic, "phx_reply", json_builder_get_root (b), ref);
}

static void
add_str (JsonBuilder *b, const char *key, const char *value)
{
  json_builder_set_member_name (b, key);
  if (value != NULL)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static JsonNode *
object_node (JsonBuilder *b)
{
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* ---- Payloads ----------------------------------------------------- */

/* When what is issued to a peer (relay credentials, authorizations)
 * expires: with its token, or (gateways, static tokens) far away. */
static gint64
peer_expiry (const Peer *p)
{
  return p->token_expires != 0 ? p->token_expires : FZ_PORTAL_GATEWAY_RELAY_EXPIRY;
}

/* When an access of @client to @r made now ends: its token's or the
 * policy's end, whichever comes first. */
static gint64
access_expiry (FzPortalServer *self, const Peer *client, const FzResource *r)
{
  gint64 until = fz_portal_config_access_until (self->config, client->user, r->id,
                                                g_get_real_time () / G_USEC_PER_SEC);
  return MIN (peer_expiry (client), until);
}

static void
add_relays (FzPortalServer *self, JsonBuilder *b, const Peer *p)
{
  json_builder_begin_array (b);
  for (guint i = 0; i < self->config->relays->len; i++)
    {
      const FzPortalRelay *r = self->config->relays->pdata[i];
      g_autofree char *user = NULL, *pass = NULL;
      gint64 exp = peer_expiry (p);
      if (r->secret != NULL)
        fz_portal_turn_credentials (r->secret, exp, p->id, &user, &pass);
      else
        {
          user = g_strdup (r->username);
          pass = g_strdup (r->password);
        }
      for (guint k = 0; k < r->addrs->len; k++)
        {
          char s[FZ_SOCK_ADDR_STRLEN];
          json_builder_begin_object (b);
          add_str (b, "id", r->id);
          add_str (b, "type", "turn");
          add_str (b, "addr",
                   fz_sock_addr_to_string (&g_array_index (r->addrs, FzSockAddr, k), s));
          add_str (b, "username", user);
          add_str (b, "password", pass);
          json_builder_set_member_name (b, "expires_at");
          json_builder_add_int_value (b, exp);
          json_builder_end_object (b);
        }
    }
  json_builder_end_array (b);
}

static char *
node_to_string (JsonNode *n)
{
  return json_to_string (n, FALSE);
}

static JsonNode *
relays_node (FzPortalServer *self, const Peer *p)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  add_relays (self, b, p);
  return json_builder_get_root (b);
}

static JsonNode *
client_interface (FzPortalServer *self, const Peer *p)
{
  char s[FZ_IP_ADDR_STRLEN];
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  peer_ipv4 (p, s);
  add_str (b, "ipv4", s);
  peer_ipv6 (p, s);
  add_str (b, "ipv6", s);
  add_str (b, "search_domain", self->config->search_domain);
  json_builder_set_member_name (b, "upstream_do53");
  json_builder_begin_array (b);
  for (guint i = 0; i < self->config->upstream_do53->len; i++)
    {
      json_builder_begin_object (b);
      add_str (b, "ip",
               fz_ip_addr_to_string (
                 &g_array_index (self->config->upstream_do53, FzIpAddr, i), s));
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "upstream_doh");
  json_builder_begin_array (b);
  json_builder_end_array (b);
  return object_node (b);
}

static gboolean
client_may_see (FzPortalServer *self, const Peer *p, const FzResource *r)
{
  return fz_portal_config_allows (self->config, p->user, r->id);
}

/* The gateway's view of a resource: no sites, no description. */
static JsonNode *
gateway_resource (const FzResource *r)
{
  JsonNode *n = fz_resource_encode (r);
  JsonObject *o = json_node_get_object (n);
  json_object_remove_member (o, "sites");
  json_object_remove_member (o, "ip_stack");
  json_object_remove_member (o, "can_be_disabled");
  json_object_remove_member (o, "address_description");
  if (r->type == FZ_RESOURCE_INTERNET)
    json_object_remove_member (o, "name");
  return n;
}

static void
add_authorizations (FzPortalServer *self, JsonBuilder *b, const Peer *p)
{
  json_builder_set_member_name (b, "authorizations");
  json_builder_begin_array (b);
  GHashTableIter it;
  Authorization *a;
  g_hash_table_iter_init (&it, self->authorizations);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) &a))
    {
      if (strcmp (p->gateway ? a->gateway_id : a->client_id, p->id) != 0)
        continue;
      json_builder_begin_object (b);
      add_str (b, "client_id", a->client_id);
      add_str (b, "resource_id", a->resource_id);
      json_builder_set_member_name (b, "expires_at");
      json_builder_add_int_value (b, a->expires_at);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

static void
send_init (FzPortalServer *self, Peer *p)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "interface");
  g_autoptr (JsonNode) relays = relays_node (self, p);
  g_free (p->relays_told);
  p->relays_told = node_to_string (relays);
  if (p->gateway)
    {
      char s[FZ_IP_ADDR_STRLEN];
      json_builder_begin_object (b);
      peer_ipv4 (p, s);
      add_str (b, "ipv4", s);
      peer_ipv6 (p, s);
      add_str (b, "ipv6", s);
      json_builder_end_object (b);
      json_builder_set_member_name (b, "config");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "ipv4_masquerade_enabled");
      json_builder_add_boolean_value (b, TRUE);
      json_builder_set_member_name (b, "ipv6_masquerade_enabled");
      json_builder_add_boolean_value (b, TRUE);
      json_builder_end_object (b);
      add_str (b, "account_slug", self->config->account_slug);
    }
  else
    {
      JsonNode *iface = client_interface (self, p);
      g_free (p->iface_told);
      p->iface_told = node_to_string (iface);
      json_builder_add_value (b, iface);
      json_builder_set_member_name (b, "resources");
      json_builder_begin_array (b);
      g_hash_table_remove_all (p->told);
      for (guint i = 0; i < self->config->resources->len; i++)
        {
          const FzResource *r = self->config->resources->pdata[i];
          if (!client_may_see (self, p, r))
            continue;
          JsonNode *n = fz_resource_encode (r);
          g_hash_table_insert (p->told, g_strdup (r->id), node_to_string (n));
          json_builder_add_value (b, n);
        }
      json_builder_end_array (b);
    }
  json_builder_set_member_name (b, "relays");
  json_builder_add_value (b, json_node_ref (relays));
  add_authorizations (self, b, p);
  push (p, "init", object_node (b));
}

static JsonNode *
failure_payload (const char *resource_id, const char *reason)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_str (b, "resource_id", resource_id);
  add_str (b, "reason", reason);
  return object_node (b);
}

static JsonNode *
ice_credentials_node (const FzIceCredentials *c)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_str (b, "username", c->username);
  add_str (b, "password", c->password);
  return object_node (b);
}

/* ---- Authorizations ----------------------------------------------- */

static gboolean
version_compatible (const Peer *client, const Peer *gw)
{
  if (!client->has_version || !gw->has_version)
    return TRUE;
  /* client_major.(minor-1).0 <= gw < client_major.(minor+2).0 */
  int lo[3] = { client->version[0], client->version[1] - 1, 0 };
  int hi[3] = { client->version[0], client->version[1] + 2, 0 };
  int cmp_lo = 0, cmp_hi = 0;
  for (int i = 0; i < 3 && cmp_lo == 0; i++)
    cmp_lo = (gw->version[i] > lo[i]) - (gw->version[i] < lo[i]);
  for (int i = 0; i < 3 && cmp_hi == 0; i++)
    cmp_hi = (gw->version[i] > hi[i]) - (gw->version[i] < hi[i]);
  return cmp_lo >= 0 && cmp_hi < 0;
}

static gboolean
serves (const FzResource *r, const Peer *gw)
{
  for (guint i = 0; i < r->sites->len; i++)
    if (g_strcmp0 (g_array_index (r->sites, FzSite, i).id, gw->site_id) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
contains (GPtrArray *a, const char *s)
{
  for (guint i = 0; i < a->len; i++)
    if (strcmp (a->pdata[i], s) == 0)
      return TRUE;
  return FALSE;
}

static guint
gateway_load (FzPortalServer *self, const char *gateway_id)
{
  guint n = 0;
  GHashTableIter it;
  Authorization *a;
  g_hash_table_iter_init (&it, self->authorizations);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) &a))
    n += strcmp (a->gateway_id, gateway_id) == 0;
  return n;
}

/* A joined gateway of the resource's sites that the client's version
 * can talk to: one it is already connected to if any, else the least
 * loaded (ties broken at random). NULL with the reason otherwise. */
static Peer *
choose_gateway (FzPortalServer *self, const Peer *client, const FzResource *r,
                Pending *pd, const char **reason)
{
  Peer *best = NULL;
  guint best_load = G_MAXUINT, ties = 0;
  gboolean best_preferred = FALSE, any_online = FALSE;
  GHashTableIter it;
  Peer *gw;
  g_hash_table_iter_init (&it, self->gateways);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) &gw))
    {
      if (!gw->joined || !serves (r, gw) || contains (pd->tried, gw->id))
        continue;
      any_online = TRUE;
      if (!version_compatible (client, gw))
        continue;
      gboolean preferred = contains (pd->preferred, gw->id);
      guint load = gateway_load (self, gw->id);
      if (best != NULL && best_preferred && !preferred)
        continue;
      if (best == NULL || (preferred && !best_preferred) || load < best_load)
        {
          best = gw;
          best_load = load;
          best_preferred = preferred;
          ties = 1;
        }
      else if (load == best_load && g_random_int_range (0, ++ties) == 0)
        best = gw;
    }
  *reason = best != NULL ? NULL : any_online ? "version_mismatch" : "offline";
  return best;
}

static void
fail_pending (FzPortalServer *self, Pending *pd, const char *reason)
{
  Peer *client = g_hash_table_lookup (self->clients, pd->client_id);
  g_message ("authorization of %s for client %s failed: %s", pd->resource_id,
             pd->client_id, reason);
  if (client != NULL)
    push (client, "authorization_creation_failed",
          failure_payload (pd->resource_id, reason));
  g_hash_table_remove (self->pending, pd->ref);
}

static gboolean
pending_timeout_cb (gpointer data)
{
  Pending *pd = data;
  g_clear_pointer (&pd->timer, g_source_unref);
  fail_pending (pd->server, pd, "offline");
  return G_SOURCE_REMOVE;
}

static char *
random_ref (void)
{
  guint8 r[16];
  randombytes_buf (r, sizeof r);
  char hex[33];
  sodium_bin2hex (hex, sizeof hex, r, sizeof r);
  return g_strdup (hex);
}

/* The pair's WireGuard PSK, base64; the caller wipes it after use. */
static char *
pair_psk (FzPortalServer *self, const Peer *client, const Peer *gw)
{
  guint8 psk[32];
  fz_portal_psk (self->secret, client->id, gw->id, client->key_b64, gw->key_b64, psk);
  char *b64 = g_base64_encode (psk, sizeof psk);
  sodium_memzero (psk, sizeof psk);
  return b64;
}

/* client_ice_credentials and gateway_ice_credentials of the pair. */
static void
add_ice_credentials (JsonBuilder *b, const Peer *client, const Peer *gw)
{
  FzIceCredentials cice, gice;
  fz_portal_ice_credentials (client->id, client->key_b64, gw->id, gw->key_b64, &cice,
                             &gice);
  json_builder_set_member_name (b, "client_ice_credentials");
  json_builder_add_value (b, ice_credentials_node (&cice));
  json_builder_set_member_name (b, "gateway_ice_credentials");
  json_builder_add_value (b, ice_credentials_node (&gice));
  fz_ice_credentials_clear (&cice);
  fz_ice_credentials_clear (&gice);
}

/* Sends create_authorization to the next gateway, or fails the pending
 * authorization when none is left. */
static void
dispatch_pending (FzPortalServer *self, Pending *pd)
{
  Peer *client = g_hash_table_lookup (self->clients, pd->client_id);
  const FzResource *r = fz_portal_config_find_resource (self->config, pd->resource_id);
  if (client == NULL || r == NULL)
    {
      g_hash_table_remove (self->pending, pd->ref);
      return;
    }
  const char *reason;
  Peer *gw = choose_gateway (self, client, r, pd, &reason);
  if (gw == NULL)
    {
      fail_pending (self, pd, reason);
      return;
    }
  g_ptr_array_add (pd->tried, g_strdup (gw->id));
  g_free (pd->gateway_id);
  pd->gateway_id = g_strdup (gw->id);

  g_autofree char *psk_b64 = pair_psk (self, client, gw);
  char v4[FZ_IP_ADDR_STRLEN], v6[FZ_IP_ADDR_STRLEN];
  peer_ipv4 (client, v4);
  peer_ipv6 (client, v6);
  g_autofree char *version = client->has_version
                               ? g_strdup_printf ("%d.%d.%d", client->version[0],
                                                  client->version[1], client->version[2])
                               : NULL;

  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_str (b, "ref", pd->ref);
  json_builder_set_member_name (b, "resource");
  json_builder_add_value (b, gateway_resource (r));
  json_builder_set_member_name (b, "client");
  json_builder_begin_object (b);
  add_str (b, "id", client->id);
  add_str (b, "public_key", client->key_b64);
  add_str (b, "preshared_key", psk_b64);
  add_str (b, "ipv4", v4);
  add_str (b, "ipv6", v6);
  add_str (b, "version", version);
  json_builder_end_object (b);
  add_ice_credentials (b, client, gw);
  json_builder_set_member_name (b, "expires_at");
  json_builder_add_int_value (b, access_expiry (self, client, r));
  sodium_memzero (psk_b64, strlen (psk_b64));
  g_message ("asking gateway %s to authorize client %s for %s", gw->name, client->name,
             r->name);
  push (gw, "create_authorization", object_node (b));
  stop_timer (&pd->timer);
  pd->timer = start_timer (
    g_timeout_source_new ((guint) self->config->authorization_timeout * 1000),
    pending_timeout_cb, pd);
}

static Pending *
find_pending (FzPortalServer *self, const char *client_id, const char *resource_id)
{
  GHashTableIter it;
  Pending *pd;
  g_hash_table_iter_init (&it, self->pending);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) &pd))
    if (strcmp (pd->client_id, client_id) == 0
        && strcmp (pd->resource_id, resource_id) == 0)
      return pd;
  return NULL;
}

static void
request_authorization (FzPortalServer *self, Peer *client, FzPortalMessage *m)
{
  const FzResource *r = fz_portal_config_find_resource (self->config, m->resource_id);
  if (r == NULL)
    {
      push (client, "authorization_creation_failed",
            failure_payload (m->resource_id, "not_found"));
      return;
    }
  if (!client_may_see (self, client, r))
    {
      push (client, "authorization_creation_failed",
            failure_payload (m->resource_id, "forbidden"));
      return;
    }
  if (find_pending (self, client->id, r->id) != NULL)
    return; /* already on its way */
  Pending *pd = g_new0 (Pending, 1);
  pd->server = self;
  pd->ref = random_ref ();
  pd->client_id = g_strdup (client->id);
  pd->resource_id = g_strdup (r->id);
  pd->tried = g_ptr_array_new_with_free_func (g_free);
  pd->preferred = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < m->peer_ids->len; i++)
    g_ptr_array_add (pd->preferred, g_strdup (m->peer_ids->pdata[i]));
  g_hash_table_insert (self->pending, pd->ref, pd);
  dispatch_pending (self, pd);
}

static void
authorization_created (FzPortalServer *self, Peer *gw, const char *ref)
{
  Pending *pd = g_hash_table_lookup (self->pending, ref);
  if (pd == NULL || g_strcmp0 (pd->gateway_id, gw->id) != 0)
    {
      g_debug ("gateway %s answered an unknown ref", gw->name);
      return;
    }
  Peer *client = g_hash_table_lookup (self->clients, pd->client_id);
  if (client == NULL)
    {
      g_hash_table_remove (self->pending, ref);
      return;
    }
  Authorization *a = g_new0 (Authorization, 1);
  a->client_id = g_strdup (client->id);
  a->resource_id = g_strdup (pd->resource_id);
  a->gateway_id = g_strdup (gw->id);
  const FzResource *r = fz_portal_config_find_resource (self->config, pd->resource_id);
  a->expires_at = r != NULL ? access_expiry (self, client, r) : peer_expiry (client);
  g_hash_table_replace (self->authorizations,
                        g_strdup_printf ("%s/%s", a->client_id, a->resource_id), a);

  g_autofree char *psk_b64 = pair_psk (self, client, gw);
  char v4[FZ_IP_ADDR_STRLEN], v6[FZ_IP_ADDR_STRLEN];
  peer_ipv4 (gw, v4);
  peer_ipv6 (gw, v6);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_str (b, "resource_id", pd->resource_id);
  add_str (b, "gateway_id", gw->id);
  add_str (b, "gateway_public_key", gw->key_b64);
  add_str (b, "gateway_ipv4", v4);
  add_str (b, "gateway_ipv6", v6);
  add_str (b, "site_id", gw->site_id);
  add_str (b, "preshared_key", psk_b64);
  add_ice_credentials (b, client, gw);
  sodium_memzero (psk_b64, strlen (psk_b64));
  g_message ("client %s may reach %s through gateway %s", client->name, pd->resource_id,
             gw->name);
  push (client, "authorization_created", object_node (b));
  g_hash_table_remove (self->pending, ref);
}

/* Whether @client and @gw share an authorization or one in progress:
 * only then do their candidates pass. */
static gboolean
paired (FzPortalServer *self, const char *client_id, const char *gateway_id)
{
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, self->authorizations);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Authorization *a = v;
      if (strcmp (a->client_id, client_id) == 0
          && strcmp (a->gateway_id, gateway_id) == 0)
        return TRUE;
    }
  g_hash_table_iter_init (&it, self->pending);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Pending *pd = v;
      if (strcmp (pd->client_id, client_id) == 0
          && g_strcmp0 (pd->gateway_id, gateway_id) == 0)
        return TRUE;
    }
  return FALSE;
}

static JsonNode *
candidates_payload (const char *peer_key, const char *peer_id, GArray *candidates)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_str (b, peer_key, peer_id);
  fz_portal_json_add_candidates (b, candidates);
  return object_node (b);
}

static JsonNode *
relays_presence_payload (FzPortalServer *self, const Peer *p, GPtrArray *gone)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "disconnected_ids");
  json_builder_begin_array (b);
  for (guint i = 0; gone != NULL && i < gone->len; i++)
    json_builder_add_string_value (b, gone->pdata[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "connected");
  add_relays (self, b, p);
  return object_node (b);
}

static void
handle_message (FzPortalServer *self, Peer *p, FzPortalMessage *m)
{
  switch (m->event)
    {
    case FZ_PORTAL_SET_SNOWNET_CAPABILITIES: break;
    case FZ_PORTAL_NO_RELAYS:
      push (p, "relays_presence", relays_presence_payload (self, p, NULL));
      break;
    case FZ_PORTAL_REQUEST_AUTHORIZATION:
      if (!p->gateway)
        request_authorization (self, p, m);
      break;
    case FZ_PORTAL_NEW_GATEWAY_ICE_CANDIDATES:
    case FZ_PORTAL_INVALIDATE_GATEWAY_ICE_CANDIDATES:
      {
        Peer *gw = g_hash_table_lookup (self->gateways, m->peer_id);
        if (p->gateway || gw == NULL || !paired (self, p->id, gw->id))
          break;
        push (gw,
              m->event == FZ_PORTAL_NEW_GATEWAY_ICE_CANDIDATES
                ? "ice_candidates"
                : "invalidate_ice_candidates",
              candidates_payload ("client_id", p->id, m->candidates));
        break;
      }
    case FZ_PORTAL_AUTHORIZATION_CREATED_REF:
      if (p->gateway)
        authorization_created (self, p, m->ref);
      break;
    case FZ_PORTAL_BROADCAST_ICE_CANDIDATES:
    case FZ_PORTAL_BROADCAST_INVALIDATED_ICE_CANDIDATES:
      if (!p->gateway)
        break;
      for (guint i = 0; i < m->peer_ids->len; i++)
        {
          Peer *c = g_hash_table_lookup (self->clients, m->peer_ids->pdata[i]);
          if (c == NULL || !paired (self, c->id, p->id))
            continue;
          push (c,
                m->event == FZ_PORTAL_BROADCAST_ICE_CANDIDATES
                  ? "ice_candidates"
                  : "invalidate_ice_candidates",
                candidates_payload ("gateway_id", p->id, m->candidates));
        }
      break;
    default:
      {
        g_autofree char *event = fz_portal_printable (m->event_name);
        g_debug ("ignoring %s from %s", event, p->name);
        break;
      }
    }
}

/* ---- Sockets ------------------------------------------------------ */

static void
ws_message_cb (SoupWebsocketConnection *ws, int type, GBytes *bytes, gpointer data)
{
  Peer *p = data;
  FzPortalServer *self = p->server;
  p->last_seen = g_get_monotonic_time ();
  /* A message completed after we failed the socket is not one. */
  if (type != SOUP_WEBSOCKET_DATA_TEXT
      || soup_websocket_connection_get_state (ws) != SOUP_WEBSOCKET_STATE_OPEN)
    return;
  gsize len;
  const char *text = g_bytes_get_data (bytes, &len);
  g_autoptr (GError) error = NULL;
  g_autoptr (FzPhoenixFrame) f = fz_phoenix_frame_parse (text, len, &error);
  if (f == NULL)
    {
      g_autofree char *why = fz_portal_printable (error->message);
      g_message ("%s: bad frame: %s", p->name, why);
      return;
    }
  if (strcmp (f->topic, "phoenix") == 0)
    {
      if (strcmp (f->event, "heartbeat") == 0)
        reply (p, "phoenix", f->ref, "ok", NULL);
      return;
    }
  if (strcmp (f->topic, peer_topic (p)) != 0)
    {
      reply (p, f->topic, f->ref, "error", "unmatched topic");
      return;
    }
  if (strcmp (f->event, "phx_join") == 0)
    {
      reply (p, f->topic, f->ref, "ok", NULL);
      if (!p->joined)
        {
          p->joined = TRUE;
          g_message ("%s %s joined", p->gateway ? "gateway" : "client", p->name);
        }
      send_init (self, p);
      return;
    }
  if (!p->joined)
    {
      reply (p, f->topic, f->ref, "error", "unmatched topic");
      return;
    }
  if (strcmp (f->event, "phx_leave") == 0)
    {
      p->joined = FALSE;
      reply (p, f->topic, f->ref, "ok", NULL);
      return;
    }
  g_autoptr (FzPortalMessage) m
    = fz_portal_message_decode (FZ_PORTAL_ROLE_PORTAL, f->event, f->payload, &error);
  if (m == NULL)
    {
      g_message ("%s: skipping a message: %s", p->name, error->message);
      return;
    }
  handle_message (self, p, m);
}

static void
gateway_gone (FzPortalServer *self, const char *gateway_id)
{
  /* Its authorizations end with it; clients ask again. */
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, self->authorizations);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (strcmp (((Authorization *) v)->gateway_id, gateway_id) == 0)
      g_hash_table_iter_remove (&it);
  /* What was waiting for it goes to another gateway. */
  g_autoptr (GPtrArray) redo = g_ptr_array_new ();
  g_hash_table_iter_init (&it, self->pending);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (g_strcmp0 (((Pending *) v)->gateway_id, gateway_id) == 0)
      g_ptr_array_add (redo, v);
  for (guint i = 0; i < redo->len; i++)
    dispatch_pending (self, redo->pdata[i]);
}

static void
drop_peer (FzPortalServer *self, Peer *p)
{
  g_autofree char *id = g_strdup (p->id);
  gboolean gateway = p->gateway;
  g_message ("%s %s disconnected", gateway ? "gateway" : "client", p->name);
  g_hash_table_remove (gateway ? self->gateways : self->clients, id);
  if (gateway)
    gateway_gone (self, id);
}

static void
ws_closed_cb (SoupWebsocketConnection *ws, gpointer data)
{
  Peer *p = data;
  drop_peer (p->server, p);
}

/* ---- Handshake ---------------------------------------------------- */

static void
problem (SoupServerMessage *msg, guint status, const char *code, const char *detail)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_str (b, "type", "about:blank");
  add_str (b, "title", soup_status_get_phrase (status));
  json_builder_set_member_name (b, "status");
  json_builder_add_int_value (b, status);
  add_str (b, "code", code);
  add_str (b, "detail", detail);
  g_autoptr (JsonNode) n = object_node (b);
  g_autofree char *body = json_to_string (n, FALSE);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/problem+json", SOUP_MEMORY_COPY,
                                    body, strlen (body));
}

static gboolean
parse_version (const char *s, int out[3])
{
  g_auto (GStrv) parts = g_strsplit (s, ".", 4);
  if (g_strv_length (parts) != 3)
    return FALSE;
  for (int i = 0; i < 3; i++)
    {
      guint64 v;
      if (!g_ascii_string_to_unsigned (parts[i], 10, 0, 9999, &v, NULL))
        return FALSE;
      out[i] = (int) v;
    }
  return TRUE;
}

/* The component token of "{os}/{ver} {component}/{version} (...)". */
static gboolean
parse_user_agent (const char *ua, gboolean gateway, int version[3])
{
  if (ua == NULL || strlen (ua) > 512)
    return FALSE;
  g_auto (GStrv) words = g_strsplit (ua, " ", -1);
  for (guint i = 0; words[i] != NULL; i++)
    {
      const char *slash = strchr (words[i], '/');
      if (slash == NULL || slash - words[i] > 32)
        continue;
      g_autofree char *component = g_strndup (words[i], slash - words[i]);
      gboolean is_gateway = strcmp (component, "gateway") == 0;
      gboolean is_client = g_str_has_suffix (component, "-client");
      if ((gateway ? is_gateway : is_client) && parse_version (slash + 1, version))
        return TRUE;
    }
  return FALSE;
}

/* At most connect_limit WebSocket connects from one address (IPv6: one
 * /64) per window; returns the seconds to wait, or 0 when this one may
 * go ahead. */
static gint64
rate_limited (FzPortalServer *self, const char *prefix)
{
  gint64 now = g_get_monotonic_time ();
  gint64 window = self->config->connect_window * G_USEC_PER_SEC;
  GArray *times = g_hash_table_lookup (self->connects, prefix);
  if (times == NULL)
    {
      times = g_array_new (FALSE, FALSE, sizeof (gint64));
      g_hash_table_insert (self->connects, g_strdup (prefix), times);
    }
  while (times->len > 0 && g_array_index (times, gint64, 0) <= now - window)
    g_array_remove_index (times, 0);
  if (times->len >= self->config->connect_limit)
    return (g_array_index (times, gint64, 0) + window - now) / G_USEC_PER_SEC + 1;
  g_array_append_val (times, now);
  return 0;
}

static const char *
bearer_token (SoupServerMessage *msg, GHashTable *query)
{
  const char *h = soup_message_headers_get_one (
    soup_server_message_get_request_headers (msg), "X-Authorization");
  if (h != NULL && g_str_has_prefix (h, "Bearer "))
    {
      h += 7;
      while (*h == ' ')
        h++;
      return *h != '\0' ? h : NULL;
    }
  return query != NULL ? g_hash_table_lookup (query, "token") : NULL;
}

/* Non-empty UTF-8 without control characters: these end up in logs. */
static gboolean
valid_text (const char *s, gsize max)
{
  if (s == NULL || *s == '\0' || strlen (s) > max || !g_utf8_validate (s, -1, NULL))
    return FALSE;
  for (const char *c = s; *c != '\0'; c = g_utf8_next_char (c))
    if (fz_portal_unichar_unsafe (g_utf8_get_char (c)))
      return FALSE;
  return TRUE;
}

/* Finds who the token belongs to; fills in @p. */
static gboolean
authenticate (FzPortalServer *self, Peer *p, const char *token, const char **why)
{
  g_autofree char *hash = fz_portal_token_hash (token);
  *why = "the token is not valid";
  if (p->gateway)
    {
      for (guint i = 0; i < self->config->gateway_tokens->len; i++)
        {
          const FzPortalGatewayToken *t = self->config->gateway_tokens->pdata[i];
          if (sodium_memcmp (t->token_hash, hash, 64) == 0)
            {
              p->token_tag = g_strdup (t->name);
              p->site_id = g_strdup (t->site_id);
              return TRUE;
            }
        }
      return FALSE;
    }
  for (guint i = 0; i < self->config->users->len; i++)
    {
      const FzPortalUser *u = self->config->users->pdata[i];
      for (guint k = 0; k < u->token_hashes->len; k++)
        if (sodium_memcmp (u->token_hashes->pdata[k], hash, 64) == 0)
          {
            p->user = g_strdup (u->name);
            p->token_tag = g_strdup (hash);
            return TRUE;
          }
    }
  gint64 exp;
  g_autofree char *user = fz_portal_client_token_verify (
    self->secret, token, g_get_real_time () / G_USEC_PER_SEC, &exp, why);
  if (user == NULL)
    return FALSE;
  if (fz_portal_config_find_user (self->config, user) == NULL)
    {
      *why = "the token's user no longer exists";
      return FALSE;
    }
  p->user = g_steal_pointer (&user);
  p->token_tag = g_strdup ("signed");
  p->token_expires = exp;
  return TRUE;
}

static void
precheck_cb (SoupServer *server, SoupServerMessage *msg, const char *path,
             GHashTable *query, gpointer data)
{
  FzPortalServer *self = data;
  gboolean gateway = g_str_has_prefix (path, "/gateway/");
  const char *remote = soup_server_message_get_remote_host (msg);
  g_autofree char *prefix
    = fz_portal_http_prefix (soup_server_message_get_remote_address (msg));
  gint64 wait = rate_limited (self, prefix);
  if (wait > 0)
    {
      g_autofree char *secs = g_strdup_printf ("%" G_GINT64_FORMAT, wait);
      problem (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "rate_limit",
               "too many connections");
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Retry-After", secs);
      return;
    }
  const char *token = bearer_token (msg, query);
  if (token == NULL)
    {
      problem (msg, SOUP_STATUS_UNAUTHORIZED, "missing_token", "no token was given");
      return;
    }
  g_autoptr (Peer) p = g_new0 (Peer, 1);
  p->server = self;
  p->gateway = gateway;
  const char *why;
  if (!authenticate (self, p, token, &why))
    {
      g_message ("refused a %s from %s: %s", gateway ? "gateway" : "client",
                 remote != NULL ? remote : "?", why);
      problem (msg, SOUP_STATUS_UNAUTHORIZED, "invalid_token", why);
      return;
    }
  const char *ua = soup_message_headers_get_one (
    soup_server_message_get_request_headers (msg), "User-Agent");
  p->has_version = parse_user_agent (ua, gateway, p->version);
  if (!gateway && !p->has_version)
    {
      problem (msg, SOUP_STATUS_BAD_REQUEST, "bad_user_agent",
               "the User-Agent names no client component and version");
      return;
    }
  const char *external_id = query ? g_hash_table_lookup (query, "external_id") : NULL;
  const char *name = query ? g_hash_table_lookup (query, "name") : NULL;
  const char *key = query ? g_hash_table_lookup (query, "public_key") : NULL;
  gsize key_len = 0;
  g_autofree guint8 *key_bytes
    = key != NULL && strlen (key) == 44 ? g_base64_decode (key, &key_len) : NULL;
  if (!valid_text (external_id, 256) || key_len != 32
      || (name != NULL && !valid_text (name, 255)))
    {
      problem (msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
               "external_id and a 32-byte base64 public_key are required; "
               "external_id and name are text without control characters");
      return;
    }
  p->external_id = g_strdup (external_id);
  p->key_b64 = g_base64_encode (key_bytes, 32);
  g_autofree char *who
    = g_strdup_printf ("%s/%s", gateway ? p->token_tag : p->user, external_id);
  p->id = fz_portal_config_derive_id (self->config, gateway ? "gateway" : "client", who);
  p->name = g_strdup (name != NULL ? name : external_id);
  if (gateway && g_hash_table_contains (self->gateways, p->id))
    {
      problem (msg, SOUP_STATUS_CONFLICT, "gateway_already_connected",
               "a gateway with this id is already connected");
      return;
    }
  /* No status: the WebSocket handshake goes on with this peer. */
  g_object_set_data_full (G_OBJECT (msg), "fz-peer", g_steal_pointer (&p),
                          (GDestroyNotify) peer_free);
}

static void
ws_opened_cb (SoupServer *server, SoupServerMessage *msg, const char *path,
              SoupWebsocketConnection *ws, gpointer data)
{
  FzPortalServer *self = data;
  Peer *p = g_object_steal_data (G_OBJECT (msg), "fz-peer");
  if (p == NULL)
    {
      soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, NULL);
      return;
    }
  GHashTable *table = p->gateway ? self->gateways : self->clients;
  Peer *old = g_hash_table_lookup (table, p->id);
  if (old != NULL && p->gateway)
    {
      /* Lost a race with another connect of the same gateway. */
      soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, NULL);
      peer_free (p);
      return;
    }
  if (old != NULL)
    g_message ("client %s connected again; dropping its older connection", old->name);
  p->ws = g_object_ref (ws);
  p->last_seen = g_get_monotonic_time ();
  p->offset = assign_offset (self, p->id);
  if (!p->gateway)
    p->told = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_signal_connect (ws, "message", G_CALLBACK (ws_message_cb), p);
  g_signal_connect (ws, "closed", G_CALLBACK (ws_closed_cb), p);
  g_hash_table_replace (table, p->id, p);
  g_message ("%s %s connected (%s)", p->gateway ? "gateway" : "client", p->name,
             p->gateway ? p->token_tag : p->user);
}

/* A client's message: libsoup's default frame limit, now for the whole. */
#define MAX_MESSAGE (128 * 1024)

/* The upgrade is done here rather than by a libsoup WebSocket handler to
 * give each socket FzPhoenixLimit: libsoup 3.2 bounds frames, not the
 * messages assembled from them. */
static void
upgraded_cb (SoupServerMessage *msg, gpointer data)
{
  FzPortalServer *self = data;
  g_object_ref (msg); /* stealing the connection drops the server's */
  g_autoptr (GIOStream) stream = soup_server_message_steal_connection (msg);
  GUri *uri = soup_server_message_get_uri (msg);
  g_autoptr (SoupWebsocketConnection) ws = soup_websocket_connection_new (
    stream, uri, SOUP_WEBSOCKET_CONNECTION_SERVER, NULL, NULL,
    g_list_prepend (NULL, fz_phoenix_limit_new (MAX_MESSAGE)));
  soup_websocket_connection_set_max_incoming_payload_size (ws, MAX_MESSAGE);
  ws_opened_cb (self->http, msg, g_uri_get_path (uri), ws, self);
  g_object_unref (msg);
}

static void
socket_cb (SoupServer *server, SoupServerMessage *msg, const char *path,
           GHashTable *query, gpointer data)
{
  precheck_cb (server, msg, path, query, data);
  /* No extension is offered back: our frames are small plain JSON. */
  if (soup_server_message_get_status (msg) == 0
      && soup_websocket_server_process_handshake (msg, NULL, NULL, NULL, NULL))
    g_signal_connect_object (msg, "wrote-informational", G_CALLBACK (upgraded_cb), data,
                             0);
}

/* ---- Periodic work ------------------------------------------------ */

static void
disconnect_peer (Peer *p, const char *reason)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_str (b, "reason", reason);
  push (p, "disconnect", object_node (b));
  soup_websocket_connection_close (p->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
}

static void check_policy_ends (FzPortalServer *self, gint64 unix_now);

static gboolean
tick_cb (gpointer data)
{
  FzPortalServer *self = data;
  gint64 now = g_get_monotonic_time ();
  gint64 unix_now = g_get_real_time () / G_USEC_PER_SEC;
  gint64 idle = self->config->idle_timeout * G_USEC_PER_SEC;
  check_policy_ends (self, unix_now);
  GHashTable *tables[] = { self->clients, self->gateways };
  for (guint t = 0; t < 2; t++)
    {
      g_autoptr (GPtrArray) peers = values_of (tables[t]);
      for (guint i = 0; i < peers->len; i++)
        {
          Peer *p = peers->pdata[i];
          if (soup_websocket_connection_get_state (p->ws) != SOUP_WEBSOCKET_STATE_OPEN)
            continue;
          if (p->token_expires != 0 && p->token_expires <= unix_now)
            {
              g_message ("client %s: the token expired", p->name);
              disconnect_peer (p, "token_expired");
            }
          else if (now - p->last_seen > idle)
            {
              g_message ("%s went quiet; closing", p->name);
              soup_websocket_connection_close (p->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
            }
        }
    }
  /* Forget rate windows that have emptied. */
  GHashTableIter it;
  GArray *times;
  g_hash_table_iter_init (&it, self->connects);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) &times))
    if (times->len == 0
        || g_array_index (times, gint64, times->len - 1)
             <= now - self->config->connect_window * G_USEC_PER_SEC)
      g_hash_table_iter_remove (&it);
  return G_SOURCE_CONTINUE;
}

/* ---- Reload ------------------------------------------------------- */

static void
http_limits (const FzPortalConfig *c, FzPortalHttpLimits *limits)
{
  limits->request_timeout = (guint) c->request_timeout;
  limits->per_address = c->connections_per_address;
  limits->max_body = FZ_PORTAL_MAX_BODY;
}

/* relays_presence when the peer's relay list is not what it was sent. */
static void
update_relays (FzPortalServer *self, Peer *p, GPtrArray *gone_relays)
{
  g_autoptr (JsonNode) relays = relays_node (self, p);
  g_autofree char *relays_s = node_to_string (relays);
  if (g_strcmp0 (relays_s, p->relays_told) != 0)
    {
      push (p, "relays_presence", relays_presence_payload (self, p, gone_relays));
      g_free (p->relays_told);
      p->relays_told = g_steal_pointer (&relays_s);
    }
}

static void
update_client (FzPortalServer *self, Peer *p, GPtrArray *gone_relays)
{
  if (!p->joined)
    return;
  if (fz_portal_config_find_user (self->config, p->user) == NULL
      || (p->token_tag != NULL && strcmp (p->token_tag, "signed") != 0
          && !contains (fz_portal_config_find_user (self->config, p->user)->token_hashes,
                        p->token_tag)))
    {
      g_message ("client %s: its user or token was removed", p->name);
      disconnect_peer (p, "token_expired");
      return;
    }
  g_autoptr (JsonNode) iface = client_interface (self, p);
  g_autofree char *iface_s = node_to_string (iface);
  if (g_strcmp0 (iface_s, p->iface_told) != 0)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "interface");
      json_builder_add_value (b, json_node_ref (iface));
      push (p, "config_changed", object_node (b));
      g_free (p->iface_told);
      p->iface_told = g_steal_pointer (&iface_s);
    }
  /* Resources they no longer see, then new and changed ones. */
  g_autoptr (GPtrArray) told = keys_of (p->told);
  for (guint i = 0; i < told->len; i++)
    {
      const char *id = told->pdata[i];
      const FzResource *r = fz_portal_config_find_resource (self->config, id);
      if (r != NULL && client_may_see (self, p, r))
        continue;
      push (p, "resource_deleted", json_node_init_string (json_node_alloc (), id));
      g_hash_table_remove (p->told, id);
    }
  for (guint i = 0; i < self->config->resources->len; i++)
    {
      const FzResource *r = self->config->resources->pdata[i];
      if (!client_may_see (self, p, r))
        continue;
      JsonNode *n = fz_resource_encode (r);
      char *s = node_to_string (n);
      if (g_strcmp0 (g_hash_table_lookup (p->told, r->id), s) == 0)
        {
          g_free (s);
          json_node_unref (n);
          continue;
        }
      g_hash_table_insert (p->told, g_strdup (r->id), s);
      push (p, "resource_created_or_updated", n);
    }
  update_relays (self, p, gone_relays);
}

static void
update_gateway (FzPortalServer *self, Peer *p, FzPortalConfig *old,
                GPtrArray *gone_relays)
{
  const FzPortalGatewayToken *token = NULL;
  for (guint i = 0; i < self->config->gateway_tokens->len; i++)
    {
      const FzPortalGatewayToken *t = self->config->gateway_tokens->pdata[i];
      if (strcmp (t->name, p->token_tag) == 0)
        token = t;
    }
  if (token == NULL || strcmp (token->site_id, p->site_id) != 0)
    {
      g_message ("gateway %s: its token was removed or moved", p->name);
      disconnect_peer (p, "token_expired");
      return;
    }
  if (!p->joined)
    return;
  /* Tell it about resources it serves that changed. */
  GHashTableIter it;
  Authorization *a;
  g_autoptr (GHashTable) sent = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_iter_init (&it, self->authorizations);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) &a))
    {
      if (strcmp (a->gateway_id, p->id) != 0
          || g_hash_table_contains (sent, a->resource_id))
        continue;
      const FzResource *now
        = fz_portal_config_find_resource (self->config, a->resource_id);
      const FzResource *before = fz_portal_config_find_resource (old, a->resource_id);
      if (now == NULL || before == NULL)
        continue;
      g_autoptr (JsonNode) nn = gateway_resource (now);
      g_autoptr (JsonNode) bn = gateway_resource (before);
      if (!json_node_equal (nn, bn))
        {
          g_hash_table_add (sent, a->resource_id);
          push (p, "resource_updated", json_node_ref (nn));
        }
    }
  update_relays (self, p, gone_relays);
}

/* Authorizations the config no longer allows (or allows until another
 * time): the gateway drops the access. When only the end moved, the
 * client sees the resource go and come back (update_client), so that
 * it asks again and the new access carries the new end. */
static void
revoke_stale (FzPortalServer *self)
{
  GHashTableIter it;
  Authorization *a;
  g_hash_table_iter_init (&it, self->authorizations);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) &a))
    {
      Peer *c = g_hash_table_lookup (self->clients, a->client_id);
      const FzResource *r = fz_portal_config_find_resource (self->config, a->resource_id);
      gboolean still = c != NULL && r != NULL
                       && fz_portal_config_find_user (self->config, c->user) != NULL
                       && client_may_see (self, c, r);
      Peer *gw = g_hash_table_lookup (self->gateways, a->gateway_id);
      gboolean moved = still && access_expiry (self, c, r) != a->expires_at;
      if (still && gw != NULL && serves (r, gw) && !moved)
        continue;
      if (moved && g_hash_table_remove (c->told, r->id))
        push (c, "resource_deleted", json_node_init_string (json_node_alloc (), r->id));
      if (gw != NULL)
        {
          g_autoptr (JsonBuilder) b = json_builder_new ();
          json_builder_begin_object (b);
          add_str (b, "client_id", a->client_id);
          add_str (b, "resource_id", a->resource_id);
          push (gw, "reject_access", object_node (b));
        }
      g_hash_table_iter_remove (&it);
    }
}

static void
update_clients (FzPortalServer *self, GPtrArray *gone_relays)
{
  g_autoptr (GPtrArray) clients = values_of (self->clients);
  for (guint i = 0; i < clients->len; i++)
    update_client (self, clients->pdata[i], gone_relays);
}

/* A policy's valid_until passed: as a reload with nothing changed. */
static void
check_policy_ends (FzPortalServer *self, gint64 unix_now)
{
  if (fz_portal_config_next_policy_end (self->config, self->policies_checked) > unix_now)
    {
      self->policies_checked = unix_now;
      return;
    }
  self->policies_checked = unix_now;
  g_message ("a policy ended; revoking what it allowed");
  g_autoptr (GPtrArray) none = g_ptr_array_new ();
  revoke_stale (self);
  update_clients (self, none);
}

gboolean
fz_portal_server_reload (FzPortalServer *self, GError **error)
{
  FzPortalConfig *fresh = fz_portal_config_load (self->config->path, error);
  if (fresh == NULL)
    return FALSE;
  if (strcmp (fresh->account_slug, self->config->account_slug) != 0
      || !fz_sock_addr_equal (&fresh->listen_file, &self->config->listen_file)
      || g_strcmp0 (fresh->tls_certificate, self->config->tls_certificate) != 0
      || g_strcmp0 (fresh->secret_file, self->config->secret_file) != 0)
    g_warning (
      "account_slug, listen, TLS and secret_file changes take effect on restart");
  /* Those keep their running values. */
  g_free (fresh->account_slug);
  fresh->account_slug = g_strdup (self->config->account_slug);
  fresh->listen = self->config->listen;

  g_autoptr (FzPortalConfig) old = self->config;
  self->config = fresh;
  FzPortalHttpLimits limits;
  http_limits (fresh, &limits);
  fz_portal_http_set_limits (self->front, &limits);
  g_autoptr (GPtrArray) gone = g_ptr_array_new ();
  for (guint i = 0; i < old->relays->len; i++)
    {
      const FzPortalRelay *r = old->relays->pdata[i];
      gboolean kept = FALSE;
      for (guint k = 0; k < fresh->relays->len; k++)
        kept |= strcmp (((FzPortalRelay *) fresh->relays->pdata[k])->id, r->id) == 0;
      if (!kept)
        g_ptr_array_add (gone, r->id);
    }
  revoke_stale (self);
  update_clients (self, gone);
  g_autoptr (GPtrArray) gateways = values_of (self->gateways);
  for (guint i = 0; i < gateways->len; i++)
    update_gateway (self, gateways->pdata[i], old, gone);
  g_message ("reloaded %s: %u resources, %u users, %u relays", fresh->path,
             fresh->resources->len, fresh->users->len, fresh->relays->len);
  return TRUE;
}

/* ---- HTTP --------------------------------------------------------- */

static void
healthz_cb (SoupServer *server, SoupServerMessage *msg, const char *path,
            GHashTable *query, gpointer data)
{
  FzPortalServer *self = data;
  g_autofree char *body = g_strdup_printf (
    "{\"status\":\"ok\",\"clients\":%u,\"gateways\":%u}",
    g_hash_table_size (self->clients), g_hash_table_size (self->gateways));
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, body,
                                    strlen (body));
}

FzPortalServer *
fz_portal_server_new (FzPortalConfig *config, GError **error)
{
  g_autoptr (FzPortalConfig) c = config;
  g_autoptr (FzPortalServer) self = g_object_new (FZ_TYPE_PORTAL_SERVER, NULL);
  if (!fz_portal_secret_load (c->secret_file, self->secret, error))
    return NULL;
  g_autoptr (GTlsCertificate) cert = NULL;
  if (c->tls_certificate != NULL)
    {
      cert = g_tls_certificate_new_from_files (c->tls_certificate, c->tls_key, error);
      if (cert == NULL)
        return NULL;
    }
  self->config = g_steal_pointer (&c);
  self->http = soup_server_new ("server-header", "fz-portal", NULL);
  FzPortalHttpLimits limits;
  http_limits (self->config, &limits);
  self->front = fz_portal_http_new (self->http, cert, &limits);
  soup_server_add_handler (self->http, "/client/v2/websocket", socket_cb, self, NULL);
  soup_server_add_handler (self->http, "/gateway/v2/websocket", socket_cb, self, NULL);
  soup_server_add_handler (self->http, "/healthz", healthz_cb, self, NULL);
  fz_portal_signin_register (self, self->http);
  self->policies_checked = g_get_real_time () / G_USEC_PER_SEC;
  self->tick = start_timer (g_timeout_source_new_seconds (1), tick_cb, self);
  return g_steal_pointer (&self);
}

char *
fz_portal_server_listen (FzPortalServer *self, GError **error)
{
  g_autoptr (GSocketAddress) addr = NULL;
  const FzSockAddr *l = &self->config->listen;
  g_autoptr (GInetAddress) ia = g_inet_address_new_from_bytes (
    l->ip.bytes, l->ip.family == 4 ? G_SOCKET_FAMILY_IPV4 : G_SOCKET_FAMILY_IPV6);
  addr = g_inet_socket_address_new (ia, l->port);
  /* Our own socket for a deep accept queue: GIO's default backlog of 10
   * drops SYNs when many clients come back at once (a portal restart),
   * and each drop costs a client a 1 s, 3 s, 7 s... retransmission. */
  g_autoptr (GSocket) sock
    = g_socket_new (g_socket_address_get_family (addr), G_SOCKET_TYPE_STREAM,
                    G_SOCKET_PROTOCOL_TCP, error);
  if (sock == NULL)
    return NULL;
  g_socket_set_listen_backlog (sock, 4096);
  if (!g_socket_bind (sock, addr, TRUE, error) || !g_socket_listen (sock, error))
    return NULL;
  return fz_portal_http_listen (self->front, sock, error);
}

const FzPortalConfig *
fz_portal_server_get_config (FzPortalServer *self)
{
  return self->config;
}

char *
fz_portal_server_issue_token (FzPortalServer *self, const char *nonce, const char *user)
{
  gint64 exp = g_get_real_time () / G_USEC_PER_SEC + self->config->client_token_lifetime;
  g_autofree char *fragment = fz_portal_client_fragment (self->secret, nonce, user, exp);
  return g_strconcat (nonce, fragment, NULL);
}

static void
fz_portal_server_dispose (GObject *object)
{
  FzPortalServer *self = FZ_PORTAL_SERVER (object);
  stop_timer (&self->tick);
  if (self->pending != NULL)
    g_hash_table_remove_all (self->pending);
  if (self->clients != NULL)
    g_hash_table_remove_all (self->clients);
  if (self->gateways != NULL)
    g_hash_table_remove_all (self->gateways);
  g_clear_pointer (&self->front, fz_portal_http_free);
  if (self->http != NULL)
    soup_server_disconnect (self->http);
  g_clear_object (&self->http);
  G_OBJECT_CLASS (fz_portal_server_parent_class)->dispose (object);
}

static void
fz_portal_server_finalize (GObject *object)
{
  FzPortalServer *self = FZ_PORTAL_SERVER (object);
  g_hash_table_unref (self->clients);
  g_hash_table_unref (self->gateways);
  g_hash_table_unref (self->pending);
  g_hash_table_unref (self->authorizations);
  g_hash_table_unref (self->taken);
  g_hash_table_unref (self->offsets);
  g_hash_table_unref (self->connects);
  fz_portal_config_free (self->config);
  sodium_memzero (self->secret, sizeof self->secret);
  G_OBJECT_CLASS (fz_portal_server_parent_class)->finalize (object);
}

static void
fz_portal_server_class_init (FzPortalServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->dispose = fz_portal_server_dispose;
  object_class->finalize = fz_portal_server_finalize;
}

static void
fz_portal_server_init (FzPortalServer *self)
{
  self->clients
    = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) peer_free);
  self->gateways
    = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) peer_free);
  self->pending = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify) pending_free);
  self->authorizations = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                (GDestroyNotify) authorization_free);
  self->offsets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->taken = g_hash_table_new (NULL, NULL);
  self->connects = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) g_array_unref);
}
