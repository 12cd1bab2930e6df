#include "fz-gateway-state-private.h"

#include "fz-gateway-client-private.h"
#include "fz-ip-packet-build.h"
#include "fz-dns-stub-private.h"
#include "fz-nat-table-private.h"
#include "fz-transmit-queue.h"

#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>

/* Clients or candidates in one broadcast message: it stays well under
 * the portal's frame size. */
#define FZ_GATEWAY_MAX_BATCH 1000

/* SRV/TXT queries of clients waiting for the host's resolver. */
#define MAX_QUERIES            1024
#define MAX_QUERIES_PER_CLIENT 64
#define QUERY_TIMEOUT          (10 * G_USEC_PER_SEC)

typedef struct
{
  FzGatewayTimed timed;
  guint64 request;
  char *client_id;
  FzIpAddr client_ip, our_ip;
  guint16 client_port;
  GBytes *query;
} Query;

struct _FzGatewayState
{
  FzNode *node;
  FzRng *rng;
  FzBufPool *pool;
  FzIpAddr ipv4, ipv6;
  gboolean have_interface, shut_down;
  gint64 wall_offset; /* wall clock (us since the epoch) - monotonic */

  GHashTable *clients;   /* id → FzGatewayClient* (owned) */
  GHashTable *by_ip;     /* FzIpAddr* (the client's) → FzGatewayClient* */
  GHashTable *resources; /* id → FzGatewayResource* (owned) */
  GHashTable *relays;    /* relay ids we gave the node */
  GHashTable *requests;  /* guint64* → FzGatewayDomain* (resolutions) */
  GHashTable *queries;   /* guint64* → Query* (owned) */
  guint64 next_request;
  FzNatTable *nat;
  FzTimerHeap *timers;

  GQueue portal_out; /* FzPortalMessage* */
  GQueue events;     /* FzGatewayEvent* */
  GQueue tun_out;    /* FzPacketBuf* */
  FzTransmitQueue transmits;
};

static void process_node_events (FzGatewayState *gw, gint64 now);

static void
resource_free (gpointer p)
{
  FzGatewayResource *r = p;
  g_free (r->id);
  g_free (r->address);
  fz_dns_pattern_free (r->pattern);
  fz_filter_set_free (r->filters);
  g_hash_table_unref (r->holders);
  g_free (r);
}

static void
query_free (gpointer p)
{
  Query *q = p;
  g_free (q->client_id);
  g_clear_pointer (&q->query, g_bytes_unref);
  g_free (q);
}

void
fz_gateway_event_clear (FzGatewayEvent *event)
{
  g_clear_pointer (&event->domain, g_free);
  g_clear_pointer (&event->query, g_bytes_unref);
  g_clear_pointer (&event->reason, g_free);
}

FzGatewayState *
fz_gateway_state_new (const guint8 priv[32], FzRng *rng, FzBufPool *pool, gint64 wall_us,
                      gint64 now)
{
  FzGatewayState *gw = g_new0 (FzGatewayState, 1);

  gw->node = fz_node_new (FALSE, priv, rng, pool, now);
  gw->rng = rng;
  gw->pool = pool;
  gw->clients = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                       (GDestroyNotify) fz_gateway_client_free);
  gw->by_ip = g_hash_table_new (fz_ip_addr_hash_func, fz_ip_addr_equal_func);
  gw->resources = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, resource_free);
  gw->relays = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  gw->requests = g_hash_table_new (g_int64_hash, g_int64_equal);
  gw->queries = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, query_free);
  gw->next_request = 1;
  gw->nat = fz_nat_table_new (rng, 0, 0);
  gw->timers = fz_timer_heap_new ();
  fz_transmit_queue_init (&gw->transmits, FzNodeTransmit);
  fz_gateway_state_set_wall_clock (gw, wall_us, now);
  return gw;
}

static void
clear_queues (FzGatewayState *gw)
{
  FzPortalMessage *m;
  FzGatewayEvent *e;
  FzPacketBuf *b;

  while ((m = g_queue_pop_head (&gw->portal_out)) != NULL)
    fz_portal_message_free (m);
  while ((e = g_queue_pop_head (&gw->events)) != NULL)
    {
      fz_gateway_event_clear (e);
      g_free (e);
    }
  while ((b = g_queue_pop_head (&gw->tun_out)) != NULL)
    fz_packet_buf_free (b);
  fz_transmit_queue_clear (&gw->transmits);
}

void
fz_gateway_state_free (FzGatewayState *gw)
{
  if (gw == NULL)
    return;
  clear_queues (gw);
  g_hash_table_unref (gw->queries);
  g_hash_table_unref (gw->requests);
  g_hash_table_unref (gw->by_ip);
  g_hash_table_unref (gw->clients);
  g_hash_table_unref (gw->resources);
  g_hash_table_unref (gw->relays);
  fz_nat_table_free (gw->nat);
  fz_timer_heap_free (gw->timers);
  fz_node_free (gw->node);
  g_free (gw);
}

FzNode *
fz_gateway_state_get_node (FzGatewayState *gw)
{
  return gw->node;
}

guint
fz_gateway_state_n_clients (FzGatewayState *gw)
{
  return g_hash_table_size (gw->clients);
}

static FzGatewayEvent *
push_event (FzGatewayState *gw, FzGatewayEventType type)
{
  FzGatewayEvent *e = g_new0 (FzGatewayEvent, 1);
  e->type = type;
  g_queue_push_tail (&gw->events, e);
  return e;
}

static FzPortalMessage *
push_portal (FzGatewayState *gw, FzPortalEvent event)
{
  FzPortalMessage *m = fz_portal_message_new (event);
  g_queue_push_tail (&gw->portal_out, m);
  return m;
}

/* ---- sending to a client ---- */

static void
to_client (FzGatewayState *gw, FzGatewayClient *c, FzPacketBuf *buf, gint64 now)
{
  FzNodeTransmit tx;

  if (c->conn == NULL)
    {
      fz_packet_buf_free (buf);
      return;
    }
  switch (fz_node_encapsulate_conn (gw->node, c->conn, buf, now, &tx))
    {
    case FZ_NODE_SEND: fz_transmit_queue_push (&gw->transmits, &tx); break;
    case FZ_NODE_QUEUED: break;
    case FZ_NODE_DROPPED: fz_packet_buf_free (buf); break;
    }
}

static void
send_icmp (FzGatewayState *gw, FzGatewayClient *c, const FzIpPacket *orig,
           FzIcmpUnreachable kind, gint64 now)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (gw->pool);
  FzIpPacket out;

  if (!fz_ip_build_icmp_unreachable (buf, &out, orig, kind, NULL))
    {
      fz_packet_buf_free (buf);
      return;
    }
  to_client (gw, c, buf, now);
}

static void
send_control (FzGatewayState *gw, FzGatewayClient *c, FzControlType type, GBytes *payload,
              gint64 now)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (gw->pool);
  gsize len;
  const void *data = g_bytes_get_data (payload, &len);
  FzIpPacket out;

  if (!fz_ip_build_control (buf, &out, type, data, len, NULL))
    {
      fz_packet_buf_free (buf);
      return;
    }
  to_client (gw, c, buf, now);
}

static void
send_domain_status (FzGatewayState *gw, FzGatewayDomain *d, FzNatStatus status,
                    gint64 now)
{
  FzDomainStatus msg
    = { .resource = d->resource_id, .domain = d->domain, .status = status };
  g_autoptr (GBytes) payload = fz_domain_status_encode (&msg);

  send_control (gw, d->client, FZ_CONTROL_DOMAIN_STATUS, payload, now);
}

/* ---- clients, accesses, resources ---- */

static void
cancel_timer (FzTimer *t, gpointer user_data)
{
  fz_timer_heap_cancel (((FzGatewayState *) user_data)->timers, t);
}

static void
forget_requests (FzGatewayState *gw, FzGatewayClient *c)
{
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, c->domains);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (((FzGatewayDomain *) v)->request != 0)
      g_hash_table_remove (gw->requests, &((FzGatewayDomain *) v)->request);
}

static void
release_resource (FzGatewayState *gw, FzGatewayResource *r)
{
  if (--r->n_accesses == 0)
    g_hash_table_remove (gw->resources, r->id);
}

static void
unindex_client (FzGatewayState *gw, FzGatewayClient *c)
{
  if (c->ipv4.family != 0 && g_hash_table_lookup (gw->by_ip, &c->ipv4) == c)
    g_hash_table_remove (gw->by_ip, &c->ipv4);
  if (c->ipv6.family != 0 && g_hash_table_lookup (gw->by_ip, &c->ipv6) == c)
    g_hash_table_remove (gw->by_ip, &c->ipv6);
}

static void
drop_client_nat (FzGatewayState *gw, FzGatewayClient *c)
{
  if (c->ipv4.family != 0)
    fz_nat_table_remove_client (gw->nat, &c->ipv4);
  if (c->ipv6.family != 0)
    fz_nat_table_remove_client (gw->nat, &c->ipv6);
}

/* Unmaps @proxies (of one family) and ends their NAT sessions, at once. */
static void
drop_proxies (FzGatewayState *gw, FzGatewayClient *c, GArray *proxies)
{
  if (proxies->len == 0)
    return;
  const FzIpAddr *first = &g_array_index (proxies, FzIpAddr, 0);
  fz_nat_table_remove_proxies (gw->nat, first->family == 4 ? &c->ipv4 : &c->ipv6, first,
                               proxies->len);
  for (guint i = 0; i < proxies->len; i++)
    g_hash_table_remove (c->proxies, &g_array_index (proxies, FzIpAddr, i));
}

/* The client lost resource @rid, or its address changed: the domains,
 * proxy mappings and NAT sessions made for it go, so that nothing made
 * under the old terms carries traffic any more. */
static void
drop_resource_dns (FzGatewayState *gw, FzGatewayClient *c, const char *rid)
{
  g_autoptr (GArray) v4 = g_array_new (FALSE, FALSE, sizeof (FzIpAddr));
  g_autoptr (GArray) v6 = g_array_new (FALSE, FALSE, sizeof (FzIpAddr));
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, c->domains);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      FzGatewayDomain *d = v;
      if (!g_str_equal (d->resource_id, rid))
        continue;
      fz_timer_heap_cancel (gw->timers, &d->timed.timer);
      if (d->request != 0)
        g_hash_table_remove (gw->requests, &d->request);
      g_hash_table_iter_remove (&it);
    }
  g_hash_table_iter_init (&it, c->proxies);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      FzGatewayProxy *p = v;
      if (g_str_equal (p->resource_id, rid))
        g_array_append_val (p->proxy.family == 4 ? v4 : v6, p->proxy);
    }
  drop_proxies (gw, c, v4);
  drop_proxies (gw, c, v6);
}

/* Everything of the client goes; with @goodbye, it is told so. */
static void
remove_client (FzGatewayState *gw, FzGatewayClient *c, gboolean goodbye, gint64 now)
{
  GHashTableIter it;
  gpointer v;

  g_debug ("gateway: client cid=%s removed", c->id);
  if (goodbye && c->conn != NULL)
    fz_node_close_connection (gw->node, c->id, now);
  fz_gateway_client_foreach_timer (c, cancel_timer, gw);
  forget_requests (gw, c);
  drop_client_nat (gw, c);
  unindex_client (gw, c);
  g_hash_table_iter_init (&it, c->accesses);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      FzGatewayResource *r = ((FzGatewayAccess *) v)->resource;
      g_hash_table_remove (r->holders, c);
      release_resource (gw, r);
    }
  g_hash_table_remove_all (c->accesses);
  g_hash_table_remove (gw->clients, c->id);
}

static void
remove_access (FzGatewayState *gw, FzGatewayAccess *a, gint64 now)
{
  FzGatewayClient *c = a->client;
  FzGatewayResource *r = a->resource;

  g_debug ("gateway: access cid=%s rid=%s removed", c->id, r->id);
  fz_timer_heap_cancel (gw->timers, &a->timed.timer);
  g_hash_table_remove (c->accesses, r->id);
  g_hash_table_remove (r->holders, c);
  if (g_hash_table_size (c->accesses) == 0)
    {
      release_resource (gw, r);
      remove_client (gw, c, TRUE, now);
      return;
    }
  drop_resource_dns (gw, c, r->id);
  release_resource (gw, r);
  c->dirty = TRUE;
}

/* expires_at is wall-clock seconds; deadlines are monotonic. */
static void
schedule_access (FzGatewayState *gw, FzGatewayAccess *a)
{
  if (a->expires_at <= 0)
    {
      fz_timer_heap_cancel (gw->timers, &a->timed.timer);
      return;
    }
  gint64 at = a->expires_at > G_MAXINT64 / G_USEC_PER_SEC - 1
                ? G_MAXINT64 - 1
                : a->expires_at * G_USEC_PER_SEC - gw->wall_offset;
  fz_timer_heap_schedule (gw->timers, &a->timed.timer, at);
}

/* The clients holding @r compile their filters again; with @readdress,
 * what they had made for its old address goes. Its holders, not every
 * client: a burst of authorizations on a busy gateway stays linear. */
static void
update_holders (FzGatewayState *gw, FzGatewayResource *r, gboolean readdress)
{
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, r->holders);
  while (g_hash_table_iter_next (&it, &v, NULL))
    {
      FzGatewayClient *c = v;
      c->dirty = TRUE;
      if (readdress)
        drop_resource_dns (gw, c, r->id);
    }
}

/* The type and address of @src, parsed; FALSE (with a warning) when
 * unusable. */
static gboolean
parse_address (const FzResource *src, FzIpPrefix *prefix, FzDnsPattern **pattern)
{
  g_autoptr (GError) error = NULL;

  if (src->type == FZ_RESOURCE_DNS
      && (*pattern = fz_dns_pattern_new (src->address, &error)) == NULL)
    {
      g_warning ("gateway: resource rid=%s: %s", src->id, error->message);
      return FALSE;
    }
  if (src->type == FZ_RESOURCE_CIDR && !fz_ip_prefix_parse (prefix, src->address))
    {
      g_warning ("gateway: resource rid=%s: bad address", src->id);
      return FALSE;
    }
  return TRUE;
}

/* A resource from the portal, new or changed; NULL when unusable. A new
 * type or address (fz-portal sends one in resource_updated) replaces the
 * old one for every holder, and what they made for the old one (proxy
 * mappings, NAT sessions) goes; an unusable one leaves the resource as it
 * was. */
static FzGatewayResource *
upsert_resource (FzGatewayState *gw, const FzResource *src)
{
  FzGatewayResource *r = g_hash_table_lookup (gw->resources, src->id);
  const char *address = src->type == FZ_RESOURCE_INTERNET ? NULL : src->address;
  g_autoptr (FzDnsPattern) pattern = NULL;
  FzIpPrefix prefix = { 0 };
  gboolean fresh = r == NULL;
  gboolean readdress
    = !fresh && (r->type != src->type || g_strcmp0 (r->address, address) != 0);

  if ((fresh || readdress) && !parse_address (src, &prefix, &pattern))
    return r;
  if (fresh)
    {
      r = g_new0 (FzGatewayResource, 1);
      r->id = g_strdup (src->id);
      r->holders = g_hash_table_new (NULL, NULL);
      g_hash_table_insert (gw->resources, r->id, r);
    }
  if (fresh || readdress)
    {
      if (readdress)
        g_info ("gateway: resource rid=%s has a new address", r->id);
      r->type = src->type;
      g_free (r->address);
      r->address = g_strdup (address);
      r->prefix = prefix;
      fz_dns_pattern_free (r->pattern);
      r->pattern = g_steal_pointer (&pattern);
    }
  fz_filter_set_free (r->filters);
  r->filters
    = fz_filter_set_new ((const FzFilter *) src->filters->data, src->filters->len);
  update_holders (gw, r, readdress);
  return r;
}

void
fz_gateway_state_set_wall_clock (FzGatewayState *gw, gint64 wall_us, gint64 now)
{
  GHashTableIter it, ai;
  gpointer c, a;

  gw->wall_offset = wall_us - now;
  fz_node_set_wall_clock (gw->node, wall_us, now);
  g_hash_table_iter_init (&it, gw->clients);
  while (g_hash_table_iter_next (&it, NULL, &c))
    {
      g_hash_table_iter_init (&ai, ((FzGatewayClient *) c)->accesses);
      while (g_hash_table_iter_next (&ai, NULL, &a))
        schedule_access (gw, a);
    }
}

/* A tunnel address belongs to one client: one that held it before lost
 * it (the portal gave it to someone else) and is forgotten. */
static void
claim_address (FzGatewayState *gw, FzGatewayClient *c, FzIpAddr *addr, gint64 now)
{
  FzGatewayClient *other;

  if (addr->family == 0)
    return;
  other = g_hash_table_lookup (gw->by_ip, addr);
  if (other != NULL && other != c)
    {
      g_warning ("gateway: client cid=%s now has the address of cid=%s", c->id,
                 other->id);
      remove_client (gw, other, TRUE, now);
    }
  g_hash_table_replace (gw->by_ip, addr, c);
}

static void
set_client_addresses (FzGatewayState *gw, FzGatewayClient *c, const FzIpAddr *v4,
                      const FzIpAddr *v6, gint64 now)
{
  if (fz_ip_addr_equal (&c->ipv4, v4) && fz_ip_addr_equal (&c->ipv6, v6))
    return;
  /* NAT sessions were made for the old addresses; the proxy IPs belong
   * to the client, whatever its addresses (the client keeps using them). */
  drop_client_nat (gw, c);
  unindex_client (gw, c);
  c->ipv4 = *v4;
  c->ipv6 = *v6;
  claim_address (gw, c, &c->ipv4, now);
  claim_address (gw, c, &c->ipv6, now);
}

static void
grant_access (FzGatewayState *gw, FzGatewayClient *c, FzGatewayResource *r,
              gint64 expires_at)
{
  FzGatewayAccess *a = g_hash_table_lookup (c->accesses, r->id);

  if (a == NULL)
    {
      a = g_new0 (FzGatewayAccess, 1);
      a->timed.kind = FZ_GATEWAY_TIMER_ACCESS;
      a->client = c;
      a->resource = r;
      r->n_accesses++;
      g_hash_table_add (r->holders, c);
      g_hash_table_insert (c->accesses, r->id, a);
    }
  a->expires_at = expires_at;
  schedule_access (gw, a);
  c->dirty = TRUE;
}

static void
create_authorization (FzGatewayState *gw, const FzPortalMessage *m, gint64 now)
{
  g_autoptr (GError) error = NULL;
  FzNodeConnectionParams p = { 0 };

  if (m->resources->len != 1 || !m->has_peer_key || !m->has_psk)
    return;
  /* Without a relay we may not be reachable: the portal hears so instead
   * of an authorization, and sends relays (as Firezone's gateway does). */
  if (g_hash_table_size (gw->relays) == 0)
    {
      push_portal (gw, FZ_PORTAL_NO_RELAYS);
      return;
    }
  FzGatewayResource *r = upsert_resource (gw, m->resources->pdata[0]);
  if (r == NULL)
    return;
  r->n_accesses++; /* held while this runs: a failed upsert must not free it */

  memcpy (p.remote_key, m->peer_key, sizeof p.remote_key);
  memcpy (p.psk, m->psk, sizeof p.psk);
  p.local_ufrag = m->gateway_ice.username;
  p.local_pwd = m->gateway_ice.password;
  p.remote_ufrag = m->client_ice.username;
  p.remote_pwd = m->client_ice.password;
  if (!fz_node_upsert_connection (gw->node, m->peer_id, &p, now, &error))
    {
      FzGatewayClient *old = g_hash_table_lookup (gw->clients, m->peer_id);
      g_warning ("gateway: client cid=%s: %s", m->peer_id, error->message);
      /* The node dropped the connection with its handle. */
      if (old != NULL)
        old->conn = NULL;
      release_resource (gw, r);
      return;
    }

  FzGatewayClient *c = g_hash_table_lookup (gw->clients, m->peer_id);
  if (c == NULL)
    {
      c = fz_gateway_client_new (m->peer_id);
      g_hash_table_insert (gw->clients, c->id, c);
    }
  c->conn = fz_node_lookup (gw->node, m->peer_id);
  set_client_addresses (gw, c, &m->peer_ipv4, &m->peer_ipv6, now);
  grant_access (gw, c, r, m->expires_at);
  release_resource (gw, r);
  g_debug ("gateway: access cid=%s rid=%s granted", c->id, r->id);
  FzPortalMessage *reply = push_portal (gw, FZ_PORTAL_AUTHORIZATION_CREATED_REF);
  reply->ref = g_strdup (m->ref);
}

static void
update_relays (FzGatewayState *gw, GPtrArray *add, GPtrArray *remove, gint64 now)
{
  g_autofree FzNodeRelay *relays = g_new0 (FzNodeRelay, add != NULL ? add->len + 1 : 1);
  guint n = 0;

  for (guint i = 0; add != NULL && i < add->len; i++)
    {
      const FzRelay *r = add->pdata[i];
      relays[n++] = (FzNodeRelay){ .id = r->id,
                                   .v4 = r->v4.ip.family ? &r->v4 : NULL,
                                   .v6 = r->v6.ip.family ? &r->v6 : NULL,
                                   .username = r->username,
                                   .password = r->password };
      g_hash_table_add (gw->relays, g_strdup (r->id));
    }
  for (guint i = 0; remove != NULL && i < remove->len; i++)
    g_hash_table_remove (gw->relays, remove->pdata[i]);
  fz_node_update_relays (gw->node, relays, n,
                         remove != NULL ? (const char *const *) remove->pdata : NULL,
                         remove != NULL ? remove->len : 0, now);
}

/* init replaces the relays: the ones we had and it lacks go. */
static void
replace_relays (FzGatewayState *gw, GPtrArray *relays, gint64 now)
{
  g_autoptr (GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter it;
  gpointer id;

  g_hash_table_iter_init (&it, gw->relays);
  while (g_hash_table_iter_next (&it, &id, NULL))
    {
      gboolean kept = FALSE;
      for (guint i = 0; !kept && i < relays->len; i++)
        kept = g_str_equal (((FzRelay *) relays->pdata[i])->id, id);
      if (!kept)
        g_ptr_array_add (gone, g_strdup (id));
    }
  update_relays (gw, relays, gone, now);
}

/* init lists every authorization that still holds: others go. */
static void
keep_authorizations (FzGatewayState *gw, GArray *auths, gint64 now)
{
  g_autoptr (GPtrArray) doomed = g_ptr_array_new ();
  /* "client\nresource" → FzAuthorization*: one lookup per access, not a
   * scan of the list (10 000 clients would make that quadratic). */
  g_autoptr (GHashTable) by_key
    = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter it, ai;
  gpointer c, a;

  for (guint i = 0; i < auths->len; i++)
    {
      FzAuthorization *x = &g_array_index (auths, FzAuthorization, i);
      g_hash_table_insert (by_key, g_strconcat (x->client_id, "\n", x->resource_id, NULL),
                           x);
    }
  g_hash_table_iter_init (&it, gw->clients);
  while (g_hash_table_iter_next (&it, NULL, &c))
    {
      g_hash_table_iter_init (&ai, ((FzGatewayClient *) c)->accesses);
      while (g_hash_table_iter_next (&ai, NULL, &a))
        {
          FzGatewayAccess *access = a;
          g_autofree char *key
            = g_strconcat (access->client->id, "\n", access->resource->id, NULL);
          const FzAuthorization *listed = g_hash_table_lookup (by_key, key);
          if (listed == NULL)
            g_ptr_array_add (doomed, access);
          else if (listed->expires_at != access->expires_at)
            {
              access->expires_at = listed->expires_at;
              schedule_access (gw, access);
            }
        }
    }
  /* Removing may remove a client: no iterator is live any more. */
  for (guint i = 0; i < doomed->len; i++)
    remove_access (gw, doomed->pdata[i], now);
}

static void
handle_init (FzGatewayState *gw, const FzPortalMessage *m, gint64 now)
{
  if (m->interface != NULL
      && (!gw->have_interface || !fz_ip_addr_equal (&gw->ipv4, &m->interface->ipv4)
          || !fz_ip_addr_equal (&gw->ipv6, &m->interface->ipv6)))
    {
      gw->have_interface = TRUE;
      gw->ipv4 = m->interface->ipv4;
      gw->ipv6 = m->interface->ipv6;
      FzGatewayEvent *e = push_event (gw, FZ_GATEWAY_EVENT_INTERFACE);
      e->ipv4 = gw->ipv4;
      e->ipv6 = gw->ipv6;
    }
  if (m->has_config)
    {
      FzGatewayEvent *e = push_event (gw, FZ_GATEWAY_EVENT_MASQUERADE);
      e->masquerade_v4 = m->ipv4_masquerade;
      e->masquerade_v6 = m->ipv6_masquerade;
    }
  replace_relays (gw, m->relays, now);
  keep_authorizations (gw, m->authorizations, now);
}

static void
resource_updated (FzGatewayState *gw, const FzPortalMessage *m)
{
  const FzResource *src = m->resources->len == 1 ? m->resources->pdata[0] : NULL;

  /* Only resources someone has access to are kept. */
  if (src != NULL && g_hash_table_lookup (gw->resources, src->id) != NULL)
    upsert_resource (gw, src);
}

static void
reject_access (FzGatewayState *gw, const FzPortalMessage *m, gint64 now)
{
  FzGatewayClient *c = g_hash_table_lookup (gw->clients, m->peer_id);
  FzGatewayAccess *a
    = c != NULL ? g_hash_table_lookup (c->accesses, m->resource_id) : NULL;

  if (a != NULL)
    remove_access (gw, a, now);
}

static void
candidates (FzGatewayState *gw, const FzPortalMessage *m, gboolean add, gint64 now)
{
  for (guint i = 0; i < m->candidates->len; i++)
    {
      const FzIceCandidate *cand = &g_array_index (m->candidates, FzIceCandidate, i);
      if (add)
        fz_node_add_remote_candidate (gw->node, m->peer_id, cand, now);
      else
        fz_node_remove_remote_candidate (gw->node, m->peer_id, cand, now);
    }
}

void
fz_gateway_state_handle_portal (FzGatewayState *gw, const FzPortalMessage *m, gint64 now)
{
  if (gw->shut_down)
    return;
  switch (m->event)
    {
    case FZ_PORTAL_INIT: handle_init (gw, m, now); break;
    case FZ_PORTAL_CREATE_AUTHORIZATION: create_authorization (gw, m, now); break;
    case FZ_PORTAL_ICE_CANDIDATES: candidates (gw, m, TRUE, now); break;
    case FZ_PORTAL_INVALIDATE_ICE_CANDIDATES: candidates (gw, m, FALSE, now); break;
    case FZ_PORTAL_RELAYS_PRESENCE:
      update_relays (gw, m->relays, m->disconnected, now);
      break;
    case FZ_PORTAL_RESOURCE_UPDATED: resource_updated (gw, m); break;
    case FZ_PORTAL_REJECT_ACCESS: reject_access (gw, m, now); break;
    case FZ_PORTAL_DISCONNECT:
      push_event (gw, FZ_GATEWAY_EVENT_FATAL)->reason = g_strdup (m->reason);
      break;
    default: break;
    }
  process_node_events (gw, now);
}

FzPortalMessage *
fz_gateway_state_poll_portal (FzGatewayState *gw)
{
  return g_queue_pop_head (&gw->portal_out);
}

/* ---- DNS resources: assigned_ips, resolutions ---- */

static void
reset_client_dns (FzGatewayState *gw, FzGatewayClient *c)
{
  GHashTableIter it;
  gpointer d;

  g_debug ("gateway: client cid=%s renumbered its proxy IPs: DNS NAT reset", c->id);
  g_hash_table_iter_init (&it, c->domains);
  while (g_hash_table_iter_next (&it, NULL, &d))
    fz_timer_heap_cancel (gw->timers, &((FzGatewayDomain *) d)->timed.timer);
  forget_requests (gw, c);
  drop_client_nat (gw, c);
  fz_gateway_client_clear_dns (c);
}

static FzGatewayDomain *
get_domain (FzGatewayClient *c, const FzAssignedIps *msg)
{
  g_autofree char *key = g_strconcat (msg->resource, "\n", msg->domain, NULL);
  FzGatewayDomain *d = g_hash_table_lookup (c->domains, key);

  if (d != NULL || g_hash_table_size (c->domains) >= FZ_GATEWAY_MAX_DOMAINS)
    return d;
  d = g_new0 (FzGatewayDomain, 1);
  d->timed.kind = FZ_GATEWAY_TIMER_RESOLVE;
  d->client = c;
  d->resource_id = g_strdup (msg->resource);
  d->domain = g_strdup (msg->domain);
  g_hash_table_insert (c->domains, g_steal_pointer (&key), d);
  return d;
}

/* Is each proxy IP free or already this domain's? */
static gboolean
proxies_consistent (FzGatewayClient *c, const FzAssignedIps *msg)
{
  for (guint i = 0; i < msg->n_proxy_ips; i++)
    {
      FzGatewayProxy *p = g_hash_table_lookup (c->proxies, &msg->proxy_ips[i]);
      if (p != NULL
          && (g_ascii_strcasecmp (p->domain, msg->domain) != 0
              || !g_str_equal (p->resource_id, msg->resource)))
        return FALSE;
    }
  return TRUE;
}

/* The domain's proxy IPs become @msg's: ones it no longer lists are
 * unmapped (with their NAT sessions), so a client cannot pile them up. */
static void
map_proxies (FzGatewayState *gw, FzGatewayClient *c, FzGatewayDomain *d,
             const FzAssignedIps *msg)
{
  g_autoptr (GArray) v4 = g_array_new (FALSE, FALSE, sizeof (FzIpAddr));
  g_autoptr (GArray) v6 = g_array_new (FALSE, FALSE, sizeof (FzIpAddr));
  for (guint i = 0; i < d->n_proxies; i++)
    {
      gboolean kept = FALSE;
      for (guint j = 0; !kept && j < msg->n_proxy_ips; j++)
        kept = fz_ip_addr_equal (&d->proxies[i], &msg->proxy_ips[j]);
      if (!kept)
        g_array_append_val (d->proxies[i].family == 4 ? v4 : v6, d->proxies[i]);
    }
  /* One pass over the client's sessions per family, not one per proxy. */
  drop_proxies (gw, c, v4);
  drop_proxies (gw, c, v6);
  for (guint i = 0; i < msg->n_proxy_ips; i++)
    {
      if (g_hash_table_contains (c->proxies, &msg->proxy_ips[i]))
        continue;
      FzGatewayProxy *p = g_new0 (FzGatewayProxy, 1);
      p->proxy = msg->proxy_ips[i];
      p->domain = g_strdup (msg->domain);
      p->resource_id = g_strdup (msg->resource);
      g_hash_table_insert (c->proxies, &p->proxy, p);
    }
  memcpy (d->proxies, msg->proxy_ips, sizeof d->proxies);
  d->n_proxies = msg->n_proxy_ips;
}

/* Takes a token for a new resolution, if the client has one left. */
static gboolean
take_token (FzGatewayClient *c, gint64 now)
{
  if (c->tokens_at == 0)
    {
      c->resolve_tokens = FZ_GATEWAY_RESOLVE_BURST;
      c->tokens_at = now;
    }
  gint64 earned = (now - c->tokens_at) / FZ_GATEWAY_RESOLVE_EVERY;
  if (earned > 0)
    {
      c->resolve_tokens
        = (guint) MIN ((gint64) FZ_GATEWAY_RESOLVE_BURST, c->resolve_tokens + earned);
      c->tokens_at += earned * FZ_GATEWAY_RESOLVE_EVERY;
    }
  if (c->resolve_tokens == 0)
    return FALSE;
  c->resolve_tokens--;
  return TRUE;
}

/* FALSE when the client may not start one now. */
static gboolean
start_resolution (FzGatewayState *gw, FzGatewayDomain *d, gint64 now)
{
  if (d->request != 0)
    return TRUE; /* the one in flight answers this query too */
  if (!take_token (d->client, now))
    return FALSE;
  d->request = gw->next_request++;
  g_hash_table_insert (gw->requests, &d->request, d);
  fz_timer_heap_schedule (gw->timers, &d->timed.timer, now + FZ_GATEWAY_RESOLVE_TIMEOUT);
  FzGatewayEvent *e = push_event (gw, FZ_GATEWAY_EVENT_RESOLVE);
  e->domain = g_strdup (d->domain);
  e->request = d->request;
  return TRUE;
}

static void
send_inactive (FzGatewayState *gw, FzGatewayClient *c, const FzAssignedIps *msg,
               gint64 now)
{
  FzDomainStatus st
    = { .resource = msg->resource, .domain = msg->domain, .status = FZ_NAT_INACTIVE };
  g_autoptr (GBytes) inactive = fz_domain_status_encode (&st);
  send_control (gw, c, FZ_CONTROL_DOMAIN_STATUS, inactive, now);
}

static void
assigned_ips (FzGatewayState *gw, FzGatewayClient *c, const guint8 *payload, gsize len,
              gint64 now)
{
  g_autoptr (GError) error = NULL;
  FzAssignedIps msg = { 0 };

  if (!fz_assigned_ips_decode (payload, len, &msg, &error))
    {
      g_debug ("gateway: assigned_ips from cid=%s: %s", c->id, error->message);
      return;
    }
  /* Names compare without case or a final dot; keys and mappings hold
   * them lowercased, without it ("a.x." and "a.x" are one name). */
  gsize dlen = strlen (msg.domain);
  char *lower = g_ascii_strdown (msg.domain, dlen > 1 && msg.domain[dlen - 1] == '.'
                                               ? (gssize) dlen - 1
                                               : (gssize) dlen);
  g_free (msg.domain);
  msg.domain = lower;
  FzGatewayAccess *a = g_hash_table_lookup (c->accesses, msg.resource);
  if (a == NULL || a->resource->type != FZ_RESOURCE_DNS
      || !fz_dns_pattern_matches (a->resource->pattern, msg.domain))
    {
      /* Inactive, so that the client stops asking every 2 s. */
      g_debug ("gateway: assigned_ips from cid=%s for a domain it may not reach", c->id);
      send_inactive (gw, c, &msg, now);
      fz_assigned_ips_clear (&msg);
      return;
    }
  if (!proxies_consistent (c, &msg))
    reset_client_dns (gw, c);
  FzGatewayDomain *d = get_domain (c, &msg);
  if (d != NULL)
    map_proxies (gw, c, d, &msg);
  /* Too many names, or resolutions: the client hears it, rather than
   * retrying forever. */
  if (d == NULL || !start_resolution (gw, d, now))
    send_inactive (gw, c, &msg, now);
  fz_assigned_ips_clear (&msg);
}

static gboolean
same_reals (FzGatewayClient *c, FzGatewayDomain *d, const FzIpAddr *v4, guint n4,
            const FzIpAddr *v6, guint n6)
{
  guint i4 = 0, i6 = 0;
  for (guint i = 0; i < d->n_proxies; i++)
    {
      FzGatewayProxy *p = g_hash_table_lookup (c->proxies, &d->proxies[i]);
      gboolean four = d->proxies[i].family == 4;
      const FzIpAddr *want
        = four ? (n4 ? &v4[i4++ % n4] : NULL) : (n6 ? &v6[i6++ % n6] : NULL);
      if (p == NULL
          || (want == NULL ? p->real.family != 0 : !fz_ip_addr_equal (&p->real, want)))
        return FALSE;
    }
  return TRUE;
}

/* What a resolver may not make a NAT target of: this host (loopback),
 * link-local (cloud metadata at 169.254.169.254), multicast, broadcast,
 * unspecified, and the tunnel's own ranges. A name of a DNS resource
 * pointing there would hand the client what no policy gave it. */
static gboolean
usable_real (const FzIpAddr *a)
{
  static const guint8 loop6[16] = { [15] = 1 };
  if (fz_ip_addr_is_group (a) || fz_ip_in_tunnel_range (a) || fz_ip_in_proxy_range (a))
    return FALSE;
  if (a->family == 4)
    return a->bytes[0] != 127 && !(a->bytes[0] == 169 && a->bytes[1] == 254);
  return memcmp (a->bytes, loop6, 16) != 0
         && !(a->bytes[0] == 0xfe && (a->bytes[1] & 0xc0) == 0x80);
}

void
fz_gateway_state_resolved (FzGatewayState *gw, guint64 request, const FzIpAddr *addrs,
                           guint n, gint64 now)
{
  FzGatewayDomain *d = g_hash_table_lookup (gw->requests, &request);
  guint n4 = 0, n6 = 0, i4 = 0, i6 = 0;

  if (d == NULL || gw->shut_down)
    return;
  g_autofree FzIpAddr *v4 = g_new (FzIpAddr, n + 1), *v6 = g_new (FzIpAddr, n + 1);
  g_hash_table_remove (gw->requests, &request);
  d->request = 0;
  fz_timer_heap_cancel (gw->timers, &d->timed.timer);
  for (guint i = 0; i < n; i++)
    {
      if (!usable_real (&addrs[i]))
        continue;
      if (addrs[i].family == 4)
        v4[n4++] = addrs[i];
      else if (addrs[i].family == 6)
        v6[n6++] = addrs[i];
    }
  if (d->rounds++ == 0 || !same_reals (d->client, d, v4, n4, v6, n6))
    g_info ("gateway: cid=%s %s resolves to %u IPv4 and %u IPv6 addresses", d->client->id,
            d->domain, n4, n6);
  /* Round-robin per family; sessions keep the real IP they began with. */
  for (guint i = 0; i < d->n_proxies; i++)
    {
      FzGatewayProxy *p = g_hash_table_lookup (d->client->proxies, &d->proxies[i]);
      if (p == NULL)
        continue;
      if (p->proxy.family == 4)
        p->real = n4 > 0 ? v4[i4++ % n4] : (FzIpAddr){ 0 };
      else
        p->real = n6 > 0 ? v6[i6++ % n6] : (FzIpAddr){ 0 };
    }
  send_domain_status (gw, d, n4 + n6 > 0 ? FZ_NAT_ACTIVE : FZ_NAT_INACTIVE, now);
  process_node_events (gw, now);
}

static void
resolve_timed_out (FzGatewayState *gw, FzGatewayDomain *d, gint64 now)
{
  g_hash_table_remove (gw->requests, &d->request);
  d->request = 0;
  g_debug ("gateway: resolving %s timed out", d->domain);
  send_domain_status (gw, d, FZ_NAT_INACTIVE, now);
}

/* ---- SRV/TXT queries to our port 53535 ---- */

static void
udp_to_client (FzGatewayState *gw, FzGatewayClient *c, const FzIpAddr *from,
               const FzIpAddr *to, guint16 port, const guint8 *msg, gsize len, gint64 now)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (gw->pool);
  FzIpPacket out;

  if (fz_ip_build_udp (buf, &out, from, to, FZ_GATEWAY_DNS_PORT, port, msg, len, NULL))
    to_client (gw, c, buf, now);
  else
    fz_packet_buf_free (buf);
}

/* Only what the spec sends here: one SRV or TXT question for a name of a
 * DNS resource the client may reach. The host's resolver answers nothing
 * else (it would tell internal names to anyone with a tunnel). */
static gboolean
query_allowed (FzGatewayClient *c, const guint8 *q, gsize len)
{
  ldns_pkt *pkt = NULL;
  gboolean ok = FALSE;

  if (!fz_dns_wire2pkt (&pkt, q, len))
    return FALSE;
  ldns_rr_list *qs = ldns_pkt_question (pkt);
  if (ldns_pkt_get_opcode (pkt) == LDNS_PACKET_QUERY && !ldns_pkt_qr (pkt)
      && ldns_rr_list_rr_count (qs) == 1)
    {
      ldns_rr *rr = ldns_rr_list_rr (qs, 0);
      ldns_rr_type t = ldns_rr_get_type (rr);
      char *name = ldns_rdf2str (ldns_rr_owner (rr));
      GHashTableIter it;
      gpointer v;
      g_hash_table_iter_init (&it, c->accesses);
      while (!ok && (t == LDNS_RR_TYPE_SRV || t == LDNS_RR_TYPE_TXT) && name != NULL
             && g_hash_table_iter_next (&it, NULL, &v))
        {
          const FzGatewayResource *r = ((FzGatewayAccess *) v)->resource;
          ok = r->type == FZ_RESOURCE_DNS && fz_dns_pattern_matches (r->pattern, name);
        }
      free (name);
    }
  ldns_pkt_free (pkt);
  return ok;
}

static void
dns_query (FzGatewayState *gw, FzGatewayClient *c, const FzIpPacket *pkt, gint64 now)
{
  guint32 len;
  const guint8 *payload = fz_ip_packet_payload (pkt, &len);
  FzIpAddr src, dst;

  fz_ip_packet_src (pkt, &src);
  fz_ip_packet_dst (pkt, &dst);
  /* A client may not hold more than its share of the resolver. */
  if (len < 12 || c->n_queries >= MAX_QUERIES_PER_CLIENT
      || g_hash_table_size (gw->queries) >= MAX_QUERIES)
    return;
  if (!query_allowed (c, payload, len))
    {
      gsize n;
      g_autofree guint8 *refused
        = fz_dns_error_answer (payload, len, LDNS_RCODE_REFUSED, &n);
      if (refused != NULL)
        udp_to_client (gw, c, &dst, &src, fz_ip_packet_src_port (pkt), refused, n, now);
      return;
    }
  Query *q = g_new0 (Query, 1);
  q->timed.kind = FZ_GATEWAY_TIMER_QUERY;
  q->request = gw->next_request++;
  q->client_id = g_strdup (c->id);
  q->client_ip = src;
  q->our_ip = dst;
  q->client_port = fz_ip_packet_src_port (pkt);
  q->query = g_bytes_new (payload, len);
  g_hash_table_insert (gw->queries, &q->request, q);
  c->n_queries++;
  fz_timer_heap_schedule (gw->timers, &q->timed.timer, now + QUERY_TIMEOUT);
  FzGatewayEvent *e = push_event (gw, FZ_GATEWAY_EVENT_DNS_QUERY);
  e->request = q->request;
  e->query = g_bytes_ref (q->query);
}

void
fz_gateway_state_dns_answer (FzGatewayState *gw, guint64 request, const guint8 *msg,
                             gsize len, gint64 now)
{
  Query *q = g_hash_table_lookup (gw->queries, &request);
  g_autofree guint8 *failed = NULL;

  if (q == NULL || gw->shut_down)
    return;
  fz_timer_heap_cancel (gw->timers, &q->timed.timer);
  FzGatewayClient *c = g_hash_table_lookup (gw->clients, q->client_id);
  if (c != NULL && c->n_queries > 0)
    c->n_queries--;
  if (msg == NULL)
    {
      gsize qlen;
      const guint8 *query = g_bytes_get_data (q->query, &qlen);
      msg = failed = fz_dns_error_answer (query, qlen, LDNS_RCODE_SERVFAIL, &len);
    }
  /* Only to the address that asked, if the client still has it. */
  if (c != NULL && msg != NULL
      && fz_ip_addr_equal (&q->client_ip, q->client_ip.family == 4 ? &c->ipv4 : &c->ipv6))
    udp_to_client (gw, c, &q->our_ip, &q->client_ip, q->client_port, msg, len, now);
  g_hash_table_remove (gw->queries, &request);
  process_node_events (gw, now);
}

/* ---- packets ---- */

static gboolean
is_ours (FzGatewayState *gw, const FzIpAddr *a)
{
  return fz_ip_addr_equal (a, a->family == 4 ? &gw->ipv4 : &gw->ipv6);
}

static gboolean
from_client_address (FzGatewayClient *c, const FzIpAddr *src)
{
  return fz_ip_addr_equal (src, src->family == 4 ? &c->ipv4 : &c->ipv6);
}

static void
control_packet (FzGatewayState *gw, FzGatewayClient *c, const FzIpPacket *pkt, gint64 now)
{
  FzControlType type;
  const guint8 *payload;
  gsize len;

  if (fz_p2p_control_payload (pkt, &type, &payload, &len)
      && type == FZ_CONTROL_ASSIGNED_IPS)
    assigned_ips (gw, c, payload, len, now);
}

static void
deny (FzGatewayState *gw, FzGatewayClient *c, FzPacketBuf *buf, const FzIpPacket *pkt,
      FzGatewayVerdict v, gint64 now)
{
  FzIpAddr dst;
  fz_ip_packet_dst (pkt, &dst);
  /* No ICMP error to a group (RFC 1122 3.2.2, RFC 4443 2.4): it would
   * come from that address. */
  if (fz_ip_addr_is_group (&dst))
    {
      fz_packet_buf_free (buf);
      return;
    }
  send_icmp (gw, c, pkt,
             v == FZ_GATEWAY_DENY_FILTER ? FZ_ICMP_PROHIBITED : FZ_ICMP_NET_UNREACHABLE,
             now);
  fz_packet_buf_free (buf);
}

/* A packet the node decrypted from client @c. */
static void
client_packet (FzGatewayState *gw, FzGatewayClient *c, FzPacketBuf *buf, gint64 now)
{
  FzIpPacket pkt;
  FzIpAddr src, dst;

  if (fz_ip_packet_parse (&pkt, buf->data, buf->len, FZ_IP_MAX_OFFLOAD) != FZ_IP_OK)
    goto drop;
  if (fz_ip_packet_is_control (&pkt))
    {
      control_packet (gw, c, &pkt, now);
      goto drop;
    }
  fz_ip_packet_src (&pkt, &src);
  fz_ip_packet_dst (&pkt, &dst);
  if (!from_client_address (c, &src))
    goto drop;
  if (is_ours (gw, &dst))
    {
      if (pkt.proto == FZ_IP_PROTO_UDP
          && fz_ip_packet_dst_port (&pkt) == FZ_GATEWAY_DNS_PORT)
        dns_query (gw, c, &pkt, now);
      goto drop;
    }
  /* Other clients and gateways are no resource, whatever a CIDR says. */
  if (fz_ip_in_tunnel_range (&dst))
    {
      deny (gw, c, buf, &pkt, FZ_GATEWAY_DENY_RESOURCE, now);
      return;
    }
  if (fz_nat_is_proxy_ip (&dst))
    {
      FzGatewayProxy *p;
      FzGatewayVerdict v = fz_gateway_client_check_proxy (c, &pkt, &dst, &p);
      if (v != FZ_GATEWAY_ALLOW)
        {
          deny (gw, c, buf, &pkt, v, now);
          return;
        }
      const FzIpAddr *real = p->real.family == dst.family ? &p->real : NULL;
      if (fz_nat_table_translate_out (gw->nat, &pkt, real, now) != FZ_NAT_TRANSLATED)
        {
          deny (gw, c, buf, &pkt, FZ_GATEWAY_DENY_RESOURCE, now);
          return;
        }
    }
  else
    {
      FzGatewayVerdict v = fz_gateway_client_check (c, &pkt, &dst);
      if (v != FZ_GATEWAY_ALLOW)
        {
          deny (gw, c, buf, &pkt, v, now);
          return;
        }
    }
  g_queue_push_tail (&gw->tun_out, buf);
  return;

drop:
  fz_packet_buf_free (buf);
}

void
fz_gateway_state_handle_datagram (FzGatewayState *gw, const FzSockAddr *local,
                                  const FzSockAddr *from, FzPacketBuf *buf, gint64 now)
{
  FzNodeConn *conn = NULL;

  if (gw->shut_down)
    {
      fz_packet_buf_free (buf);
      return;
    }
  if (fz_node_decapsulate (gw->node, local, from, buf, now, &conn) == FZ_NODE_RX_PACKET)
    {
      FzGatewayClient *c = g_hash_table_lookup (gw->clients, fz_node_conn_id (conn));
      if (c != NULL)
        client_packet (gw, c, buf, now);
      else
        fz_packet_buf_free (buf);
    }
  else
    fz_packet_buf_free (buf);
  process_node_events (gw, now);
}

void
fz_gateway_state_handle_client_packet (FzGatewayState *gw, const char *client_id,
                                       FzPacketBuf *buf, gint64 now)
{
  FzGatewayClient *c = g_hash_table_lookup (gw->clients, client_id);

  if (c == NULL || gw->shut_down)
    fz_packet_buf_free (buf);
  else
    client_packet (gw, c, buf, now);
  process_node_events (gw, now);
}

void
fz_gateway_state_handle_tun (FzGatewayState *gw, FzPacketBuf *buf, gint64 now)
{
  FzIpPacket pkt;
  FzIpAddr dst;
  FzGatewayClient *c;

  if (gw->shut_down
      || fz_ip_packet_parse (&pkt, buf->data, buf->len, FZ_IP_MAX_OFFLOAD) != FZ_IP_OK)
    {
      fz_packet_buf_free (buf);
      return;
    }
  fz_ip_packet_dst (&pkt, &dst);
  c = g_hash_table_lookup (gw->by_ip, &dst);
  if (c == NULL)
    {
      fz_packet_buf_free (buf);
      return;
    }
  /* Replies of DNS-resource sessions get their proxy IP back; anything
   * else must come from a resource of the client that its filters allow,
   * never from another client (the kernel routes those back to us). */
  if (fz_nat_table_translate_in (gw->nat, &pkt, now) == FZ_NAT_TRANSLATED)
    {
      FzIpAddr proxy;
      fz_ip_packet_src (&pkt, &proxy);
      if (!fz_gateway_client_allows_proxy_reply (c, &pkt, &proxy))
        {
          fz_packet_buf_free (buf);
          return;
        }
    }
  else
    {
      FzIpAddr src;
      fz_ip_packet_src (&pkt, &src);
      if ((fz_ip_in_tunnel_range (&src) && !is_ours (gw, &src))
          || (!is_ours (gw, &src) && !fz_gateway_client_allows_inbound (c, &pkt, &src)))
        {
          fz_packet_buf_free (buf);
          return;
        }
    }
  to_client (gw, c, buf, now);
  process_node_events (gw, now);
}

/* ---- node events, timers, polling ---- */

/* Joins the last message when that keeps its meaning (every candidate
 * to every listed client): a new relay candidate for all clients is one
 * message, not one per client; a new connection's candidates are one. */
static void
broadcast_candidate (FzGatewayState *gw, const FzNodeEvent *e, FzPortalEvent what)
{
  FzPortalMessage *m = g_queue_peek_tail (&gw->portal_out);

  if (m != NULL && m->event == what && m->candidates->len == 1
      && fz_ice_candidate_equal (&g_array_index (m->candidates, FzIceCandidate, 0),
                                 &e->candidate)
      && m->peer_ids->len < FZ_GATEWAY_MAX_BATCH)
    {
      if (!g_ptr_array_find_with_equal_func (m->peer_ids, e->id, g_str_equal, NULL))
        g_ptr_array_add (m->peer_ids, g_strdup (e->id));
      return;
    }
  if (m != NULL && m->event == what && m->peer_ids->len == 1
      && g_str_equal (m->peer_ids->pdata[0], e->id)
      && m->candidates->len < FZ_GATEWAY_MAX_BATCH)
    {
      g_array_append_val (m->candidates, e->candidate);
      return;
    }
  m = push_portal (gw, what);
  g_ptr_array_add (m->peer_ids, g_strdup (e->id));
  g_array_append_val (m->candidates, e->candidate);
}

static void
process_node_events (FzGatewayState *gw, gint64 now)
{
  FzNodeEvent e;

  while (fz_node_poll_event (gw->node, &e))
    {
      FzGatewayClient *c = e.id != NULL ? g_hash_table_lookup (gw->clients, e.id) : NULL;
      switch (e.type)
        {
        case FZ_NODE_EVENT_NEW_CANDIDATE:
          broadcast_candidate (gw, &e, FZ_PORTAL_BROADCAST_ICE_CANDIDATES);
          break;
        case FZ_NODE_EVENT_INVALIDATED_CANDIDATE:
          broadcast_candidate (gw, &e, FZ_PORTAL_BROADCAST_INVALIDATED_ICE_CANDIDATES);
          break;
        case FZ_NODE_EVENT_ESTABLISHED:
          g_info ("client %s connected, %s", e.id,
                  fz_node_is_relayed (gw->node, e.id) ? "relayed" : "direct");
          break;
        case FZ_NODE_EVENT_FAILED:
          /* The accesses stay: the client may connect again. */
          if (c != NULL && c->conn == e.conn)
            c->conn = NULL;
          break;
        case FZ_NODE_EVENT_CLOSED:
          if (c != NULL && c->conn == e.conn)
            {
              c->conn = NULL;
              remove_client (gw, c, FALSE, now);
            }
          break;
        case FZ_NODE_EVENT_NO_RELAYS: push_portal (gw, FZ_PORTAL_NO_RELAYS); break;
        }
      g_free (e.id);
    }
}

gboolean
fz_gateway_state_poll_transmit (FzGatewayState *gw, FzNodeTransmit *out)
{
  return fz_transmit_queue_pop (&gw->transmits, out)
         || fz_node_poll_transmit (gw->node, out);
}

FzPacketBuf *
fz_gateway_state_poll_tun (FzGatewayState *gw)
{
  return g_queue_pop_head (&gw->tun_out);
}

gboolean
fz_gateway_state_poll_event (FzGatewayState *gw, FzGatewayEvent *out)
{
  FzGatewayEvent *e = g_queue_pop_head (&gw->events);

  if (e == NULL)
    return FALSE;
  *out = *e;
  g_free (e);
  return TRUE;
}

gint64
fz_gateway_state_poll_timeout (FzGatewayState *gw)
{
  gint64 t = MIN (fz_node_poll_timeout (gw->node), fz_timer_heap_next (gw->timers));
  return MIN (t, fz_nat_table_poll_timeout (gw->nat));
}

void
fz_gateway_state_handle_timeout (FzGatewayState *gw, gint64 now)
{
  FzTimer *t;

  if (fz_node_poll_timeout (gw->node) <= now)
    fz_node_handle_timeout (gw->node, now);
  if (fz_nat_table_poll_timeout (gw->nat) <= now)
    fz_nat_table_handle_timeout (gw->nat, now);
  while ((t = fz_timer_heap_pop_due (gw->timers, now)) != NULL)
    {
      FzGatewayTimed *timed = (FzGatewayTimed *) t;
      switch (timed->kind)
        {
        case FZ_GATEWAY_TIMER_ACCESS:
          remove_access (gw, (FzGatewayAccess *) timed, now);
          break;
        case FZ_GATEWAY_TIMER_RESOLVE:
          resolve_timed_out (gw, (FzGatewayDomain *) timed, now);
          break;
        case FZ_GATEWAY_TIMER_QUERY:
          fz_gateway_state_dns_answer (gw, ((Query *) timed)->request, NULL, 0, now);
          break;
        }
    }
  process_node_events (gw, now);
}

void
fz_gateway_state_shutdown (FzGatewayState *gw, gint64 now)
{
  GList *all = g_hash_table_get_values (gw->clients);
  GHashTableIter it;
  gpointer q;

  for (GList *l = all; l != NULL; l = l->next)
    remove_client (gw, l->data, TRUE, now);
  g_list_free (all);
  g_hash_table_iter_init (&it, gw->queries);
  while (g_hash_table_iter_next (&it, NULL, &q))
    fz_timer_heap_cancel (gw->timers, &((Query *) q)->timed.timer);
  g_hash_table_remove_all (gw->queries);
  gw->shut_down = TRUE;
}
