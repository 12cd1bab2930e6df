#include "fz-client-state-private.h"

#include "fz-dns-resource-set-private.h"
#include "fz-dns-stub-private.h"
#include "fz-dns-tcp-private.h"
#include "fz-filter-set-private.h"
#include "fz-ip-packet-build.h"
#include "fz-ip-table-private.h"
#include "fz-p2p-control-private.h"
#include "fz-proxy-ips-private.h"
#include "fz-timer-heap-private.h"
#include "fz-transmit-queue.h"

#include <ldns/ldns.h>
#include <string.h>

#define TUN_MTU 1280

typedef enum
{
  TIMER_NAT,   /* re-send assigned_ips while pending */
  TIMER_QUERY, /* a DNS query in flight timed out */
} TimerKind;

typedef struct
{
  FzTimer timer;
  TimerKind kind;
} Timed;

typedef struct _Gateway Gateway;

typedef struct
{
  FzResource *src; /* our copy */
  FzIpPrefix prefix;
  FzFilterSet *filters;
  Gateway *gateway; /* the one the portal authorized, or NULL */
  FzClientSiteStatus status;
  gint64 last_request; /* request_authorization; G_MININT64 never */
  GQueue buffered;     /* FzPacketBuf* while authorizing */
} Resource;

struct _Gateway
{
  char *id;
  char *site_id;
  FzNodeConn *conn;
  FzIpAddr ipv4, ipv6;
  gboolean established;
};

typedef enum
{
  NAT_PENDING,
  NAT_ACTIVE,
  NAT_FAILED,
} NatState;

/* DNS-resource NAT per (gateway, domain, resource). */
typedef struct
{
  Timed timed;
  char *key;
  Gateway *gateway;
  char *resource_id, *domain;
  NatState state;
  guint attempts;  /* assigned_ips sent while pending */
  GQueue buffered; /* FzPacketBuf* while pending */
} Nat;

typedef enum
{
  QUERY_UPSTREAM,
  QUERY_GATEWAY,
} QueryKind;

typedef struct
{
  Timed timed;
  guint64 request;
  QueryKind kind;
  GBytes *query;
  FzSockAddr server;  /* upstream */
  gboolean tcp;       /* asking upstream over TCP (after a truncated answer) */
  guint64 tcp_handle; /* the app asked over TCP: its FzDnsTcp handle, else 0 */
  FzIpAddr app, sentinel;
  guint16 app_port;
  Gateway *gateway; /* QUERY_GATEWAY */
  guint16 gw_port;  /* our source port towards the gateway's 53535 */
} Query;

struct _FzClientState
{
  FzNode *node;
  FzRng *rng;
  FzBufPool *pool;
  gboolean have_interface, shut_down, internet_enabled;
  gboolean proxy_ips_full_told; /* its one event of the session went */
  guint state_events;           /* bit per state event queued, not yet polled */
  FzClientInterface iface;
  GArray *upstreams;  /* FzIpAddr: the portal's do53 */
  GArray *system_dns; /* FzIpAddr */

  GHashTable *resources; /* id → Resource* (owned) */
  GHashTable *gateways;  /* id → Gateway* (owned) */
  GHashTable *gw_by_ip;  /* FzIpAddr* → Gateway* */
  GHashTable *relays;    /* relay ids we gave the node */
  FzIpTable *cidr;       /* prefix → Resource* */
  FzDnsResourceSet *dns;
  Resource *internet;
  FzProxyIps *proxy_ips;
  guint64 mappings_generation;
  GHashTable *nats;    /* key → Nat* (owned) */
  GHashTable *queries; /* guint64* → Query* (owned) */
  guint64 next_request;
  FzDnsTcp *dns_tcp;
  FzTimerHeap *timers;
  GArray *views; /* FzClientResourceView, for get_resources */

  GQueue portal_out; /* FzPortalMessage* */
  GQueue events;     /* FzClientEvent* */
  GQueue tun_out;    /* FzPacketBuf* */
  FzTransmitQueue transmits;
};

static void process_node_events (FzClientState *cl, gint64 now);
static void deauthorize (FzClientState *cl, Resource *r, gint64 now);
static void route_packet (FzClientState *cl, FzPacketBuf *buf, const FzIpPacket *pkt,
                          gint64 now);
static void finish_query (FzClientState *cl, Query *q, const guint8 *msg, gsize len,
                          gint64 now);

static void
free_bufs (GQueue *q)
{
  FzPacketBuf *b;
  while ((b = g_queue_pop_head (q)) != NULL)
    fz_packet_buf_free (b);
}

static void
resource_free (gpointer p)
{
  Resource *r = p;
  fz_resource_free (r->src);
  fz_filter_set_free (r->filters);
  free_bufs (&r->buffered);
  g_free (r);
}

static void
gateway_free (gpointer p)
{
  Gateway *g = p;
  g_free (g->id);
  g_free (g->site_id);
  g_free (g);
}

static void
nat_free (gpointer p)
{
  Nat *n = p;
  g_free (n->key);
  g_free (n->resource_id);
  g_free (n->domain);
  free_bufs (&n->buffered);
  g_free (n);
}

static void
query_free (gpointer p)
{
  Query *q = p;
  g_clear_pointer (&q->query, g_bytes_unref);
  g_free (q);
}

void
fz_client_event_clear (FzClientEvent *event)
{
  g_clear_pointer (&event->query, g_bytes_unref);
  g_clear_pointer (&event->resource_id, g_free);
  g_clear_pointer (&event->reason, g_free);
}

FzClientState *
fz_client_state_new (const guint8 priv[32], FzRng *rng, FzBufPool *pool,
                     const char *mappings, gint64 now, GError **error)
{
  g_autoptr (FzProxyIps) ips = NULL;

  if (mappings != NULL)
    ips = fz_proxy_ips_parse (mappings, strlen (mappings), error);
  else
    ips = fz_proxy_ips_new ();
  if (ips == NULL)
    return NULL;

  FzClientState *cl = g_new0 (FzClientState, 1);
  cl->node = fz_node_new (TRUE, priv, rng, pool, now);
  cl->rng = rng;
  cl->pool = pool;
  cl->iface.dns_sentinels = g_array_new (FALSE, FALSE, sizeof (FzIpAddr));
  cl->iface.routes = g_array_new (FALSE, FALSE, sizeof (FzIpPrefix));
  cl->upstreams = g_array_new (FALSE, FALSE, sizeof (FzIpAddr));
  cl->system_dns = g_array_new (FALSE, FALSE, sizeof (FzIpAddr));
  cl->resources = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, resource_free);
  cl->gateways = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, gateway_free);
  cl->gw_by_ip = g_hash_table_new (fz_ip_addr_hash_func, fz_ip_addr_equal_func);
  cl->relays = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  cl->cidr = fz_ip_table_new (NULL);
  cl->dns = fz_dns_resource_set_new ();
  cl->proxy_ips = g_steal_pointer (&ips);
  cl->mappings_generation = fz_proxy_ips_generation (cl->proxy_ips);
  cl->nats = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, nat_free);
  cl->queries = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, query_free);
  cl->next_request = 1;
  cl->dns_tcp = fz_dns_tcp_new (rng, TUN_MTU);
  cl->timers = fz_timer_heap_new ();
  cl->views = g_array_new (FALSE, FALSE, sizeof (FzClientResourceView));
  fz_transmit_queue_init (&cl->transmits, FzNodeTransmit);
  return cl;
}

static void
clear_queues (FzClientState *cl)
{
  FzPortalMessage *m;
  FzClientEvent *e;

  while ((m = g_queue_pop_head (&cl->portal_out)) != NULL)
    fz_portal_message_free (m);
  while ((e = g_queue_pop_head (&cl->events)) != NULL)
    {
      fz_client_event_clear (e);
      g_free (e);
    }
  free_bufs (&cl->tun_out);
  fz_transmit_queue_clear (&cl->transmits);
  cl->state_events = 0;
}

void
fz_client_state_free (FzClientState *cl)
{
  if (cl == NULL)
    return;
  clear_queues (cl);
  g_hash_table_unref (cl->queries);
  g_hash_table_unref (cl->nats);
  fz_ip_table_free (cl->cidr);
  g_hash_table_unref (cl->resources);
  g_hash_table_unref (cl->gw_by_ip);
  g_hash_table_unref (cl->gateways);
  g_hash_table_unref (cl->relays);
  fz_dns_resource_set_free (cl->dns);
  fz_proxy_ips_free (cl->proxy_ips);
  fz_dns_tcp_free (cl->dns_tcp);
  fz_timer_heap_free (cl->timers);
  g_array_unref (cl->views);
  g_array_unref (cl->iface.dns_sentinels);
  g_array_unref (cl->iface.routes);
  g_free (cl->iface.search_domain);
  g_array_unref (cl->upstreams);
  g_array_unref (cl->system_dns);
  fz_node_free (cl->node);
  g_free (cl);
}

FzNode *
fz_client_state_get_node (FzClientState *cl)
{
  return cl->node;
}

static FzClientEvent *
push_event (FzClientState *cl, FzClientEventType type)
{
  FzClientEvent *e = g_new0 (FzClientEvent, 1);
  e->type = type;
  g_queue_push_tail (&cl->events, e);
  return e;
}

/* INTERFACE, RESOURCES and MAPPINGS say "read it again": one queued
 * until the host polls it stands for every change meanwhile. */
static void
push_state_event (FzClientState *cl, FzClientEventType type)
{
  if (cl->state_events & (1u << type))
    return;
  cl->state_events |= 1u << type;
  push_event (cl, type);
}

static FzPortalMessage *
push_portal (FzClientState *cl, FzPortalEvent event)
{
  FzPortalMessage *m = fz_portal_message_new (event);
  g_queue_push_tail (&cl->portal_out, m);
  return m;
}

/* ---- the interface: sentinels and routes ---- */

static void
add_route (GArray *routes, const char *text)
{
  FzIpPrefix p;
  if (fz_ip_prefix_parse (&p, text))
    g_array_append_val (routes, p);
}

static void
add_cidr_route (const FzIpPrefix *prefix, gpointer value, gpointer user_data)
{
  (void) value;
  g_array_append_val ((GArray *) user_data, *prefix);
}

static const GArray *
upstream_servers (FzClientState *cl)
{
  return cl->upstreams->len > 0 ? cl->upstreams : cl->system_dns;
}

/* One sentinel per upstream server in each family (at least one):
 * sentinel i of either family stands for upstream server i. */
static void
compute_sentinels (FzClientState *cl)
{
  guint n = MAX (1, upstream_servers (cl)->len);
  FzIpAddr v4, v6;

  g_array_set_size (cl->iface.dns_sentinels, 0);
  g_assert_true (fz_ip_addr_parse (&v4, "100.100.111.1"));
  g_assert_true (fz_ip_addr_parse (&v6, "fd00:2021:1111:8000:100:100:111:0"));
  for (guint i = 0; i < MIN (n, 254); i++)
    {
      FzIpAddr a = v4;
      a.bytes[3] = (guint8) (1 + i);
      g_array_append_val (cl->iface.dns_sentinels, a);
      a = v6;
      a.bytes[15] = (guint8) i;
      g_array_append_val (cl->iface.dns_sentinels, a);
    }
}

static void
update_interface (FzClientState *cl)
{
  GArray *routes = cl->iface.routes;

  if (!cl->have_interface)
    return;
  compute_sentinels (cl);
  g_array_set_size (routes, 0);
  add_route (routes, "100.64.0.0/11");
  add_route (routes, "fd00:2021:1111::/107");
  add_route (routes, "100.96.0.0/11");
  add_route (routes, "fd00:2021:1111:8000::/107");
  add_route (routes, "100.100.111.0/24");
  add_route (routes, "fd00:2021:1111:8000:100:100:111:0/120");
  fz_ip_table_foreach (cl->cidr, add_cidr_route, routes);
  if (cl->internet != NULL && cl->internet_enabled)
    {
      add_route (routes, "0.0.0.0/0");
      add_route (routes, "::/0");
    }
  push_state_event (cl, FZ_CLIENT_EVENT_INTERFACE);
}

const FzClientInterface *
fz_client_state_get_interface (FzClientState *cl)
{
  return &cl->iface;
}

static void
set_servers (GArray *to, const FzIpAddr *servers, guint n)
{
  g_array_set_size (to, 0);
  /* Never a sentinel: the system's list read back after we set the
   * TUN's DNS would send queries to ourselves. */
  for (guint i = 0; i < n; i++)
    if ((servers[i].family == 4 || servers[i].family == 6)
        && !fz_dns_is_sentinel_ip (&servers[i]))
      g_array_append_val (to, servers[i]);
}

void
fz_client_state_set_system_dns (FzClientState *cl, const FzIpAddr *servers, guint n)
{
  set_servers (cl->system_dns, servers, n);
  if (cl->upstreams->len == 0)
    update_interface (cl);
}

/* ---- resources and their sites ---- */

static gboolean
site_has_connected_gateway (FzClientState *cl, const FzResource *src)
{
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, cl->gateways);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Gateway *g = v;
      if (!g->established || g->site_id == NULL)
        continue;
      for (guint i = 0; src->sites != NULL && i < src->sites->len; i++)
        if (g_str_equal (g_array_index (src->sites, FzSite, i).id, g->site_id))
          return TRUE;
    }
  return FALSE;
}

/* Online: connected to a gateway of a site of its; offline stays until
 * that happens (set by a failed authorization); unknown otherwise. */
static void
update_statuses (FzClientState *cl)
{
  GHashTableIter it;
  gpointer v;
  gboolean changed = FALSE;

  g_hash_table_iter_init (&it, cl->resources);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Resource *r = v;
      FzClientSiteStatus s = r->status;
      if (site_has_connected_gateway (cl, r->src))
        s = FZ_CLIENT_SITE_ONLINE;
      else if (s == FZ_CLIENT_SITE_ONLINE)
        s = FZ_CLIENT_SITE_UNKNOWN;
      changed |= s != r->status;
      r->status = s;
    }
  if (changed)
    push_state_event (cl, FZ_CLIENT_EVENT_RESOURCES);
}

static int
view_cmp (gconstpointer a, gconstpointer b)
{
  const FzResource *x = ((const FzClientResourceView *) a)->resource;
  const FzResource *y = ((const FzClientResourceView *) b)->resource;
  int c = g_strcmp0 (x->name, y->name);
  return c != 0 ? c : strcmp (x->id, y->id);
}

GArray *
fz_client_state_get_resources (FzClientState *cl)
{
  GHashTableIter it;
  gpointer v;

  g_array_set_size (cl->views, 0);
  g_hash_table_iter_init (&it, cl->resources);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      FzClientResourceView view = { ((Resource *) v)->src, ((Resource *) v)->status };
      g_array_append_val (cl->views, view);
    }
  g_array_sort (cl->views, view_cmp);
  return cl->views;
}

static FzResource *
copy_resource (const FzResource *src)
{
  g_autoptr (JsonNode) node = fz_resource_encode (src);
  return fz_resource_decode (node, NULL);
}

static void
drop_nats_of (FzClientState *cl, const char *resource_id, Gateway *g)
{
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, cl->nats);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Nat *n = v;
      if ((resource_id == NULL || g_str_equal (n->resource_id, resource_id))
          && (g == NULL || n->gateway == g))
        {
          fz_timer_heap_cancel (cl->timers, &n->timed.timer);
          g_hash_table_iter_remove (&it);
        }
    }
}

static void
unindex_resource (FzClientState *cl, Resource *r)
{
  switch (r->src->type)
    {
    case FZ_RESOURCE_CIDR:
      if (fz_ip_table_lookup_exact (cl->cidr, &r->prefix) == r)
        fz_ip_table_remove (cl->cidr, &r->prefix);
      break;
    case FZ_RESOURCE_DNS: fz_dns_resource_set_remove (cl->dns, r->src->id); break;
    case FZ_RESOURCE_INTERNET:
      if (cl->internet == r)
        cl->internet = NULL;
      break;
    }
}

/* Two CIDR resources may name one prefix; the table holds one of them.
 * When that one goes, another of the same prefix takes its place. */
static void
reindex_same_prefix (FzClientState *cl, const FzIpPrefix *prefix)
{
  GHashTableIter it;
  gpointer v;

  if (prefix->addr.family == 0 || fz_ip_table_lookup_exact (cl->cidr, prefix) != NULL)
    return;
  g_hash_table_iter_init (&it, cl->resources);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Resource *o = v;
      if (o->src->type == FZ_RESOURCE_CIDR && fz_ip_prefix_equal (&o->prefix, prefix))
        {
          fz_ip_table_insert (cl->cidr, &o->prefix, o);
          return;
        }
    }
}

/* Whether two versions of a resource route differently: then, as
 * Firezone does, it is authorized afresh (another site may serve it now). */
static gboolean
routing_changed (const FzResource *a, const FzResource *b)
{
  if (a->type != b->type || g_strcmp0 (a->address, b->address) != 0
      || a->ip_stack != b->ip_stack || a->sites->len != b->sites->len)
    return TRUE;
  for (guint i = 0; i < a->sites->len; i++)
    if (!g_str_equal (g_array_index (a->sites, FzSite, i).id,
                      g_array_index (b->sites, FzSite, i).id))
      return TRUE;
  return FALSE;
}

/* Its packets waiting for an authorization go with it, unanswered, as
 * connlib drops its pending flows: the resource is gone, not refused. */
static gboolean
remove_resource (FzClientState *cl, const char *id, gint64 now)
{
  Resource *r = g_hash_table_lookup (cl->resources, id);

  if (r == NULL)
    return FALSE;
  FzIpPrefix prefix_of_removed
    = r->src->type == FZ_RESOURCE_CIDR ? r->prefix : (FzIpPrefix){ 0 };
  deauthorize (cl, r, now);
  unindex_resource (cl, r);
  g_hash_table_remove (cl->resources, id);
  reindex_same_prefix (cl, &prefix_of_removed);
  return TRUE;
}

static gboolean
same_resource (const FzResource *a, const FzResource *b)
{
  g_autoptr (JsonNode) x = fz_resource_encode (a);
  g_autoptr (JsonNode) y = fz_resource_encode (b);
  return json_node_equal (x, y);
}

/* A resource from the portal, new or changed; FALSE when it changes
 * nothing (the same again, or unusable). */
static gboolean
upsert_resource (FzClientState *cl, const FzResource *src, gint64 now)
{
  Resource *r = g_hash_table_lookup (cl->resources, src->id);
  g_autoptr (FzResource) copy = copy_resource (src);
  g_autoptr (FzDnsPattern) pattern = NULL;
  FzIpPrefix prefix = { 0 }, old_prefix = { 0 };

  if (src->type == FZ_RESOURCE_DNS)
    pattern = fz_dns_pattern_new (src->address, NULL);
  if (copy == NULL
      || (src->type == FZ_RESOURCE_CIDR && !fz_ip_prefix_parse (&prefix, src->address))
      || (src->type == FZ_RESOURCE_DNS && pattern == NULL))
    {
      g_warning ("client: resource rid=%s unusable", src->id);
      return FALSE;
    }
  if (r != NULL && same_resource (r->src, copy))
    return FALSE;
  if (r != NULL)
    {
      /* Its key is the id of the copy about to go. */
      g_hash_table_steal (cl->resources, src->id);
      if (r->src->type == FZ_RESOURCE_CIDR)
        old_prefix = r->prefix;
      unindex_resource (cl, r);
      if (routing_changed (r->src, src))
        deauthorize (cl, r, now);
      fz_resource_free (r->src);
      fz_filter_set_free (r->filters);
    }
  else
    {
      r = g_new0 (Resource, 1);
      r->last_request = G_MININT64;
    }
  r->src = g_steal_pointer (&copy);
  r->prefix = prefix;
  r->filters
    = fz_filter_set_new ((const FzFilter *) r->src->filters->data, r->src->filters->len);
  g_hash_table_insert (cl->resources, r->src->id, r);
  switch (r->src->type)
    {
    case FZ_RESOURCE_CIDR: fz_ip_table_insert (cl->cidr, &r->prefix, r); break;
    case FZ_RESOURCE_DNS:
      fz_dns_resource_set_add (cl->dns, r->src->id, r->src->address, NULL);
      break;
    case FZ_RESOURCE_INTERNET: cl->internet = r; break;
    }
  reindex_same_prefix (cl, &old_prefix);
  return TRUE;
}

/* ---- sending ---- */

static void
to_gateway (FzClientState *cl, Gateway *g, FzPacketBuf *buf, gint64 now)
{
  FzNodeTransmit tx;

  if (g->conn == NULL)
    {
      fz_packet_buf_free (buf);
      return;
    }
  switch (fz_node_encapsulate_conn (cl->node, g->conn, buf, now, &tx))
    {
    case FZ_NODE_SEND: fz_transmit_queue_push (&cl->transmits, &tx); break;
    case FZ_NODE_QUEUED: break;
    case FZ_NODE_DROPPED: fz_packet_buf_free (buf); break;
    }
}

/* An ICMP error about @orig back to the application. */
static void
icmp_to_app (FzClientState *cl, const FzIpPacket *orig, FzIcmpUnreachable kind)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (cl->pool);
  FzIpPacket out;

  if (fz_ip_build_icmp_unreachable (buf, &out, orig, kind, NULL))
    g_queue_push_tail (&cl->tun_out, buf);
  else
    fz_packet_buf_free (buf);
}

/* Each buffered packet gets an ICMP error, then goes. */
static void
fail_buffered (FzClientState *cl, GQueue *q, FzIcmpUnreachable kind)
{
  FzPacketBuf *b;
  FzIpPacket pkt;

  while ((b = g_queue_pop_head (q)) != NULL)
    {
      if (fz_ip_packet_parse (&pkt, b->data, b->len, FZ_IP_MAX_OFFLOAD) == FZ_IP_OK)
        icmp_to_app (cl, &pkt, kind);
      fz_packet_buf_free (b);
    }
}

static gboolean
same_syn (const FzIpPacket *a, FzPacketBuf *other)
{
  FzIpPacket b;
  FzIpAddr as, ad, bs, bd;

  if (fz_ip_packet_parse (&b, other->data, other->len, FZ_IP_MAX_OFFLOAD) != FZ_IP_OK
      || b.proto != FZ_IP_PROTO_TCP
      || (fz_ip_packet_tcp_flags (&b) & (FZ_TCP_SYN | FZ_TCP_ACK)) != FZ_TCP_SYN)
    return FALSE;
  fz_ip_packet_src (a, &as);
  fz_ip_packet_dst (a, &ad);
  fz_ip_packet_src (&b, &bs);
  fz_ip_packet_dst (&b, &bd);
  return fz_ip_addr_equal (&as, &bs) && fz_ip_addr_equal (&ad, &bd)
         && fz_ip_packet_src_port (a) == fz_ip_packet_src_port (&b)
         && fz_ip_packet_dst_port (a) == fz_ip_packet_dst_port (&b);
}

/* Keeps the newest @max; a retransmitted SYN replaces its older copy. */
static void
buffer_packet (GQueue *q, guint max, FzPacketBuf *buf, const FzIpPacket *pkt)
{
  if (pkt->proto == FZ_IP_PROTO_TCP
      && (fz_ip_packet_tcp_flags (pkt) & (FZ_TCP_SYN | FZ_TCP_ACK)) == FZ_TCP_SYN)
    for (GList *l = q->head; l != NULL; l = l->next)
      if (same_syn (pkt, l->data))
        {
          fz_packet_buf_free (l->data);
          g_queue_delete_link (q, l);
          break;
        }
  /* A copy of a packet already waiting adds nothing (retransmits). */
  for (GList *l = q->head; l != NULL; l = l->next)
    {
      FzPacketBuf *o = l->data;
      if (o->len == buf->len && memcmp (o->data, buf->data, buf->len) == 0)
        {
          fz_packet_buf_free (buf);
          return;
        }
    }
  while (g_queue_get_length (q) >= max)
    fz_packet_buf_free (g_queue_pop_head (q));
  g_queue_push_tail (q, buf);
}

/* ---- gateways and authorizations ---- */

/* Queries in flight to a gateway that goes get SERVFAIL now rather than
 * silence until the application's own timeout. */
static void
fail_queries_of (FzClientState *cl, Gateway *g, gint64 now)
{
  g_autoptr (GPtrArray) doomed = g_ptr_array_new ();
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, cl->queries);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (((Query *) v)->gateway == g)
      g_ptr_array_add (doomed, v);
  for (guint i = 0; i < doomed->len; i++)
    finish_query (cl, doomed->pdata[i], NULL, 0, now);
}

static void
unindex_gateway (FzClientState *cl, Gateway *g)
{
  if (g->ipv4.family != 0 && g_hash_table_lookup (cl->gw_by_ip, &g->ipv4) == g)
    g_hash_table_remove (cl->gw_by_ip, &g->ipv4);
  if (g->ipv6.family != 0 && g_hash_table_lookup (cl->gw_by_ip, &g->ipv6) == g)
    g_hash_table_remove (cl->gw_by_ip, &g->ipv6);
}

/* A tunnel address has one gateway: one that had it before (the portal
 * gave it to another) keeps no claim on it. The table's key is the new
 * owner's own copy, so nothing points into a gateway freed later. */
static gboolean
claim_address (FzClientState *cl, Gateway *g, FzIpAddr *addr)
{
  Gateway *other;
  gboolean taken = FALSE;

  if (addr->family == 0)
    return FALSE;
  other = g_hash_table_lookup (cl->gw_by_ip, addr);
  /* The key (inside the old owner) is replaced before that owner's copy
   * of the address is cleared: the table must find it to replace it. */
  g_hash_table_replace (cl->gw_by_ip, addr, g);
  if (other != NULL && other != g)
    {
      memset (addr->family == 4 ? &other->ipv4 : &other->ipv6, 0, sizeof (FzIpAddr));
      taken = TRUE;
    }
  return taken;
}

/* Resources it served are authorized again on their next packet. */
static void
remove_gateway (FzClientState *cl, Gateway *g, gboolean goodbye, gint64 now)
{
  GHashTableIter it;
  gpointer v;

  g_debug ("client: gateway gid=%s removed", g->id);
  if (goodbye && g->conn != NULL)
    fz_node_close_connection (cl->node, g->id, now);
  g_hash_table_iter_init (&it, cl->resources);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (((Resource *) v)->gateway == g)
      {
        ((Resource *) v)->gateway = NULL;
        ((Resource *) v)->last_request = G_MININT64;
      }
  drop_nats_of (cl, NULL, g);
  fail_queries_of (cl, g, now);
  unindex_gateway (cl, g);
  g_hash_table_remove (cl->gateways, g->id);
}

/* A gateway that serves us no resource any more gets a goodbye and is
 * forgotten, as connlib closes a peer left without allowed IPs. */
static void
release_gateway (FzClientState *cl, Gateway *g, gint64 now)
{
  GHashTableIter it;
  gpointer v;

  if (g == NULL)
    return;
  g_hash_table_iter_init (&it, cl->resources);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (((Resource *) v)->gateway == g)
      return;
  remove_gateway (cl, g, TRUE, now);
  update_statuses (cl);
}

/* @r is no longer authorized (deleted, turned off, moved): its NATs go,
 * its next packet asks the portal again, and its gateway goes if it
 * served nothing else. */
static void
deauthorize (FzClientState *cl, Resource *r, gint64 now)
{
  Gateway *g = r->gateway;

  drop_nats_of (cl, r->src->id, NULL);
  r->gateway = NULL;
  r->last_request = G_MININT64;
  release_gateway (cl, g, now);
}

static void
request_authorization (FzClientState *cl, Resource *r, gint64 now)
{
  GHashTableIter it;
  gpointer v;

  if (r->last_request != G_MININT64
      && now - r->last_request < FZ_CLIENT_AUTHORIZE_DEBOUNCE)
    return;
  r->last_request = now;
  FzPortalMessage *m = push_portal (cl, FZ_PORTAL_REQUEST_AUTHORIZATION);
  m->resource_id = g_strdup (r->src->id);
  /* The portal picks one of these when it serves the resource. */
  g_hash_table_iter_init (&it, cl->gateways);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (((Gateway *) v)->established)
      g_ptr_array_add (m->peer_ids, g_strdup (((Gateway *) v)->id));
  g_ptr_array_sort (m->peer_ids, (GCompareFunc) g_strcmp0);
}

static Gateway *
upsert_gateway (FzClientState *cl, const FzPortalMessage *m, gint64 now)
{
  g_autoptr (GError) error = NULL;
  FzNodeConnectionParams p = { 0 };

  memcpy (p.remote_key, m->peer_key, sizeof p.remote_key);
  memcpy (p.psk, m->psk, sizeof p.psk);
  p.local_ufrag = m->client_ice.username;
  p.local_pwd = m->client_ice.password;
  p.remote_ufrag = m->gateway_ice.username;
  p.remote_pwd = m->gateway_ice.password;
  if (!fz_node_upsert_connection (cl->node, m->peer_id, &p, now, &error))
    {
      g_warning ("client: gateway gid=%s: %s", m->peer_id, error->message);
      Gateway *old = g_hash_table_lookup (cl->gateways, m->peer_id);
      if (old != NULL)
        {
          old->conn = NULL; /* a failed upsert frees the handle */
          remove_gateway (cl, old, FALSE, now);
        }
      return NULL;
    }
  Gateway *g = g_hash_table_lookup (cl->gateways, m->peer_id);
  if (g == NULL)
    {
      g = g_new0 (Gateway, 1);
      g->id = g_strdup (m->peer_id);
      g_hash_table_insert (cl->gateways, g->id, g);
    }
  g->conn = fz_node_lookup (cl->node, m->peer_id);
  g->established = fz_node_is_established (cl->node, m->peer_id);
  g_free (g->site_id);
  g->site_id = g_strdup (m->site_id);
  unindex_gateway (cl, g);
  g->ipv4 = m->peer_ipv4;
  g->ipv6 = m->peer_ipv6;
  gboolean took = claim_address (cl, g, &g->ipv4);
  if (claim_address (cl, g, &g->ipv6) || took)
    g_warning ("client: gateway gid=%s now has the tunnel address of another", g->id);
  return g;
}

/* Packets buffered while authorizing take the route again. */
static void
replay (FzClientState *cl, GQueue *q, gint64 now)
{
  GQueue pending = *q;
  FzPacketBuf *b;

  g_queue_init (q);
  while ((b = g_queue_pop_head (&pending)) != NULL)
    {
      FzIpPacket pkt;
      if (fz_ip_packet_parse (&pkt, b->data, b->len, FZ_IP_MAX_OFFLOAD) == FZ_IP_OK)
        route_packet (cl, b, &pkt, now);
      else
        fz_packet_buf_free (b);
    }
}

static void
authorization_created (FzClientState *cl, const FzPortalMessage *m, gint64 now)
{
  Resource *r = g_hash_table_lookup (cl->resources, m->resource_id);

  if (r == NULL || m->peer_id == NULL || !m->has_peer_key || !m->has_psk)
    return;
  Gateway *g = upsert_gateway (cl, m, now);
  if (g == NULL)
    return;
  g_debug ("client: rid=%s authorized through gid=%s", r->src->id, g->id);
  Gateway *before = r->gateway;
  r->gateway = g;
  if (before != g)
    release_gateway (cl, before, now);
  if (r->status == FZ_CLIENT_SITE_OFFLINE)
    {
      r->status = FZ_CLIENT_SITE_UNKNOWN;
      push_state_event (cl, FZ_CLIENT_EVENT_RESOURCES);
    }
  replay (cl, &r->buffered, now);
}

static void
authorization_failed (FzClientState *cl, const FzPortalMessage *m)
{
  Resource *r = g_hash_table_lookup (cl->resources, m->resource_id);
  const char *reason = m->reason != NULL ? m->reason : "unknown";

  if (r == NULL)
    return;
  g_info ("client: authorizing rid=%s failed: %s", r->src->id, reason);
  fail_buffered (cl, &r->buffered, FZ_ICMP_NET_UNREACHABLE);
  FzClientEvent *e = push_event (cl, FZ_CLIENT_EVENT_RESOURCE_UNREACHABLE);
  e->resource_id = g_strdup (r->src->id);
  e->reason = g_strdup (reason);
  if (g_str_equal (reason, "offline") && r->status != FZ_CLIENT_SITE_OFFLINE)
    {
      r->status = FZ_CLIENT_SITE_OFFLINE;
      push_state_event (cl, FZ_CLIENT_EVENT_RESOURCES);
    }
}

/* ---- DNS-resource NAT, the client's side ---- */

#define MAX_NATS 4096

static void
send_control (FzClientState *cl, Gateway *g, FzControlType type, GBytes *payload,
              gint64 now)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (cl->pool);
  gsize len;
  const void *data = g_bytes_get_data (payload, &len);
  FzIpPacket out;

  if (fz_ip_build_control (buf, &out, type, data, len, NULL))
    to_gateway (cl, g, buf, now);
  else
    fz_packet_buf_free (buf);
}

static void
send_assigned_ips (FzClientState *cl, Nat *n, gint64 now)
{
  const FzProxyIpsMapping *map = fz_proxy_ips_lookup (cl->proxy_ips, n->domain);
  Resource *r = g_hash_table_lookup (cl->resources, n->resource_id);
  FzAssignedIps msg = { .resource = n->resource_id, .domain = n->domain };

  /* A gateway that never answers (or a name or resource gone meanwhile)
   * fails the NAT after a few tries: its packets get an error instead of
   * waiting, and the slot can be taken again. */
  if (map == NULL || r == NULL
      || (n->state == NAT_PENDING && ++n->attempts > FZ_CLIENT_ASSIGNED_IPS_TRIES))
    {
      n->state = NAT_FAILED;
      fz_timer_heap_cancel (cl->timers, &n->timed.timer);
      fail_buffered (cl, &n->buffered, FZ_ICMP_NET_UNREACHABLE);
      return;
    }
  if (r->src->ip_stack != FZ_IP_STACK_IPV6_ONLY)
    for (guint i = 0; i < FZ_PROXY_IPS_PER_FAMILY; i++)
      msg.proxy_ips[msg.n_proxy_ips++] = map->ipv4[i];
  if (r->src->ip_stack != FZ_IP_STACK_IPV4_ONLY)
    for (guint i = 0; i < FZ_PROXY_IPS_PER_FAMILY; i++)
      msg.proxy_ips[msg.n_proxy_ips++] = map->ipv6[i];
  g_autoptr (GBytes) payload = fz_assigned_ips_encode (&msg);
  send_control (cl, n->gateway, FZ_CONTROL_ASSIGNED_IPS, payload, now);
  if (n->state == NAT_PENDING)
    fz_timer_heap_schedule (cl->timers, &n->timed.timer,
                            now + FZ_CLIENT_ASSIGNED_IPS_RESEND);
}

/* Full: one that waits for nothing goes (its next packet makes it
 * again); FALSE when all are pending. */
static gboolean
evict_nat (FzClientState *cl)
{
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, cl->nats);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (((Nat *) v)->state != NAT_PENDING)
      {
        g_hash_table_iter_remove (&it);
        return TRUE;
      }
  return FALSE;
}

/* "gateway\nresource\ndomain", on the caller's stack: the packet path
 * looks its NAT up without allocating. */
#define NAT_KEY_MAX (2 * FZ_PORTAL_MAX_ID + FZ_PROXY_IPS_NAME_MAX + 3)

static gboolean
nat_key (char key[NAT_KEY_MAX], Gateway *g, const char *resource_id, const char *domain)
{
  return (gsize) g_snprintf (key, NAT_KEY_MAX, "%s\n%s\n%s", g->id, resource_id, domain)
         < NAT_KEY_MAX;
}

/* The NAT of (gateway, domain, resource); made pending (assigned_ips
 * sent) when new. NULL when there are too many. */
static Nat *
get_nat (FzClientState *cl, Gateway *g, Resource *r, const char *domain, gint64 now)
{
  char key[NAT_KEY_MAX];
  Nat *n;

  if (!nat_key (key, g, r->src->id, domain))
    return NULL;
  n = g_hash_table_lookup (cl->nats, key);
  if (n != NULL || (g_hash_table_size (cl->nats) >= MAX_NATS && !evict_nat (cl)))
    return n;
  n = g_new0 (Nat, 1);
  n->timed.kind = TIMER_NAT;
  n->key = g_strdup (key);
  n->gateway = g;
  n->resource_id = g_strdup (r->src->id);
  n->domain = g_strdup (domain);
  n->state = NAT_PENDING;
  g_hash_table_insert (cl->nats, n->key, n);
  send_assigned_ips (cl, n, now);
  return n;
}

/* An application asked for @domain again: the gateway resolves again. */
static void
nat_requery (FzClientState *cl, Resource *r, const char *domain, gint64 now)
{
  char key[NAT_KEY_MAX];
  Nat *n;

  if (r->gateway == NULL || !nat_key (key, r->gateway, r->src->id, domain))
    return;
  n = g_hash_table_lookup (cl->nats, key);
  if (n == NULL)
    {
      get_nat (cl, r->gateway, r, domain, now);
      return;
    }
  if (n->state == NAT_FAILED)
    {
      n->state = NAT_PENDING;
      n->attempts = 0;
    }
  send_assigned_ips (cl, n, now);
}

static void
domain_status (FzClientState *cl, Gateway *g, const guint8 *payload, gsize len,
               gint64 now)
{
  g_autoptr (GError) error = NULL;
  FzDomainStatus msg = { 0 };

  if (!fz_domain_status_decode (payload, len, &msg, &error))
    {
      g_debug ("client: domain_status from gid=%s: %s", g->id, error->message);
      return;
    }
  char key[NAT_KEY_MAX];
  Nat *n = nat_key (key, g, msg.resource, msg.domain)
             ? g_hash_table_lookup (cl->nats, key)
             : NULL;
  if (n != NULL)
    {
      fz_timer_heap_cancel (cl->timers, &n->timed.timer);
      if (msg.status == FZ_NAT_ACTIVE)
        {
          FzPacketBuf *b;
          n->state = NAT_ACTIVE;
          while ((b = g_queue_pop_head (&n->buffered)) != NULL)
            to_gateway (cl, g, b, now);
        }
      else
        {
          n->state = NAT_FAILED;
          fail_buffered (cl, &n->buffered, FZ_ICMP_NET_UNREACHABLE);
        }
    }
  fz_domain_status_clear (&msg);
}

/* ---- packets from the TUN ---- */

static gboolean
in_tunnel_ranges (const FzIpAddr *a)
{
  static const guint8 v6[6] = { 0xfd, 0x00, 0x20, 0x21, 0x11, 0x11 };
  if (a->family == 4) /* 100.64.0.0/10: tunnel, proxy and sentinel ranges */
    return a->bytes[0] == 100 && (a->bytes[1] & 0xc0) == 64;
  return memcmp (a->bytes, v6, sizeof v6) == 0;
}

/* The resource @addr belongs to; *@domain the proxy IP's name for DNS
 * resources, else NULL. */
static Resource *
resource_for (FzClientState *cl, const FzIpAddr *addr, const char **domain)
{
  Resource *r = fz_ip_table_lookup (cl->cidr, addr, NULL);

  *domain = NULL;
  if (r != NULL)
    return r;
  if (fz_proxy_ips_in_range (addr))
    {
      const FzProxyIpsMapping *map = fz_proxy_ips_lookup_addr (cl->proxy_ips, addr);
      FzDnsName name;
      const char *id;
      if (map == NULL || !fz_dns_name_parse (&name, map->name)
          || (id = fz_dns_resource_set_lookup (cl->dns, &name)) == NULL)
        return NULL;
      *domain = map->name;
      return g_hash_table_lookup (cl->resources, id);
    }
  if (cl->internet != NULL && cl->internet_enabled && !in_tunnel_ranges (addr))
    return cl->internet;
  return NULL;
}

/* A packet from the application, past the checks: to its resource.
 * @pkt is @buf parsed (once, by the caller). */
static void
route_packet (FzClientState *cl, FzPacketBuf *buf, const FzIpPacket *pkt, gint64 now)
{
  FzIpAddr dst;
  const char *domain;

  fz_ip_packet_dst (pkt, &dst);
  Gateway *g = g_hash_table_lookup (cl->gw_by_ip, &dst);
  if (g != NULL)
    {
      to_gateway (cl, g, buf, now);
      return;
    }
  /* Unknown destinations are dropped without an answer, as connlib does. */
  Resource *r = resource_for (cl, &dst, &domain);
  if (r == NULL)
    goto drop;
  if (!fz_filter_set_allows_packet (r->filters, pkt))
    {
      icmp_to_app (cl, pkt, FZ_ICMP_PROHIBITED);
      goto drop;
    }
  if (r->gateway == NULL)
    {
      buffer_packet (&r->buffered, FZ_CLIENT_MAX_BUFFERED, buf, pkt);
      request_authorization (cl, r, now);
      return;
    }
  if (domain != NULL)
    {
      Nat *n = get_nat (cl, r->gateway, r, domain, now);
      if (n == NULL)
        goto drop;
      if (n->state == NAT_PENDING)
        {
          buffer_packet (&n->buffered, FZ_CLIENT_NAT_BUFFERED, buf, pkt);
          return;
        }
      if (n->state == NAT_FAILED)
        {
          icmp_to_app (cl, pkt, FZ_ICMP_NET_UNREACHABLE);
          goto drop;
        }
    }
  to_gateway (cl, r->gateway, buf, now);
  return;

drop:
  fz_packet_buf_free (buf);
}

/* ---- the DNS stub ---- */

/* Where a query came from and its answer goes. */
typedef struct
{
  FzIpAddr app, sentinel;
  guint16 app_port;
  gboolean via_tcp;
  guint64 tcp_handle;
} Origin;

/* Sends the answer @msg to the application, over the way it asked. */
static void
reply (FzClientState *cl, const Origin *o, const guint8 *msg, gsize len, gint64 now)
{
  if (o->via_tcp)
    {
      fz_dns_tcp_answer (cl->dns_tcp, o->tcp_handle, msg, len, now);
      return;
    }
  if (len > FZ_DNS_MESSAGE_MAX)
    return;
  g_autofree guint8 *copy = g_memdup2 (msg, len);
  len = fz_dns_answer_cap_udp (copy, len);
  if (len == 0)
    return;
  FzPacketBuf *buf = fz_buf_pool_alloc (cl->pool);
  FzIpPacket out;
  if (fz_ip_build_udp (buf, &out, &o->sentinel, &o->app, 53, o->app_port, copy, len,
                       NULL))
    g_queue_push_tail (&cl->tun_out, buf);
  else
    fz_packet_buf_free (buf);
}

/* Whether a mapped name still belongs to a DNS resource. */
static gboolean
ptr_name_current (FzClientState *cl, const char *name)
{
  FzDnsName n;
  return fz_dns_name_parse (&n, name) && fz_dns_resource_set_lookup (cl->dns, &n) != NULL;
}

static void
reply_servfail (FzClientState *cl, const Origin *o, const guint8 *query, gsize qlen,
                gint64 now)
{
  gsize len = 0;
  g_autofree guint8 *msg = fz_dns_error_answer (query, qlen, LDNS_RCODE_SERVFAIL, &len);

  if (msg != NULL)
    reply (cl, o, msg, len, now);
}

static Query *
new_query (FzClientState *cl, QueryKind kind, const Origin *o, const guint8 *payload,
           gsize len, gint64 now)
{
  Query *q = g_new0 (Query, 1);

  q->timed.kind = TIMER_QUERY;
  q->request = cl->next_request++;
  q->kind = kind;
  q->query = g_bytes_new (payload, len);
  q->app = o->app;
  q->sentinel = o->sentinel;
  q->app_port = o->app_port;
  q->tcp = o->via_tcp;
  q->tcp_handle = o->via_tcp ? o->tcp_handle : 0;
  g_hash_table_insert (cl->queries, &q->request, q);
  fz_timer_heap_schedule (cl->timers, &q->timed.timer, now + FZ_CLIENT_DNS_TIMEOUT);
  return q;
}

static void
origin_of (const Query *q, Origin *o)
{
  *o = (Origin){ .app = q->app,
                 .sentinel = q->sentinel,
                 .app_port = q->app_port,
                 .via_tcp = q->tcp_handle != 0,
                 .tcp_handle = q->tcp_handle };
}

static void
emit_upstream (FzClientState *cl, Query *q)
{
  FzClientEvent *e = push_event (cl, FZ_CLIENT_EVENT_UPSTREAM_DNS);
  e->request = q->request;
  e->query = g_bytes_ref (q->query);
  e->server = q->server;
  e->tcp = q->tcp;
}

/* The upstream server the sentinel stands for. */
static gboolean
server_for (FzClientState *cl, const FzIpAddr *sentinel, FzSockAddr *out)
{
  const GArray *servers = upstream_servers (cl);

  for (guint i = 0; i < cl->iface.dns_sentinels->len; i++)
    if (fz_ip_addr_equal (sentinel,
                          &g_array_index (cl->iface.dns_sentinels, FzIpAddr, i)))
      {
        if (i / 2 >= servers->len)
          return FALSE;
        out->ip = g_array_index (servers, FzIpAddr, i / 2);
        out->port = 53;
        return TRUE;
      }
  return FALSE;
}

static void
ask_upstream (FzClientState *cl, const Origin *o, const guint8 *payload, gsize len,
              gint64 now)
{
  FzSockAddr server;

  if (g_hash_table_size (cl->queries) >= FZ_CLIENT_DNS_MAX_QUERIES
      || !server_for (cl, &o->sentinel, &server))
    {
      reply_servfail (cl, o, payload, len, now);
      return;
    }
  Query *q = new_query (cl, QUERY_UPSTREAM, o, payload, len, now);
  q->server = server;
  emit_upstream (cl, q);
}

static gboolean
gateway_port_used (FzClientState *cl, Gateway *g, guint16 port)
{
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, cl->queries);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (((Query *) v)->gateway == g && ((Query *) v)->gw_port == port)
      return TRUE;
  return FALSE;
}

/* SRV/TXT of a resource name: the gateway's resolver answers. */
static void
ask_gateway (FzClientState *cl, Resource *r, const Origin *o, const guint8 *payload,
             gsize len, gint64 now)
{
  Gateway *g = r->gateway;
  const FzIpAddr *to = g != NULL ? (o->app.family == 4 ? &g->ipv4 : &g->ipv6) : NULL;
  const FzIpAddr *from = o->app.family == 4 ? &cl->iface.ipv4 : &cl->iface.ipv6;
  guint16 port;

  if (g == NULL || to->family != o->app.family
      || g_hash_table_size (cl->queries) >= FZ_CLIENT_DNS_MAX_QUERIES)
    {
      if (g == NULL)
        request_authorization (cl, r, now);
      reply_servfail (cl, o, payload, len, now);
      return;
    }
  do
    port = (guint16) (49152 + fz_rng_below (cl->rng, 16384));
  while (gateway_port_used (cl, g, port));
  FzPacketBuf *buf = fz_buf_pool_alloc (cl->pool);
  FzIpPacket out;
  if (!fz_ip_build_udp (buf, &out, from, to, port, FZ_DNS_GATEWAY_PORT, payload, len,
                        NULL))
    {
      fz_packet_buf_free (buf);
      reply_servfail (cl, o, payload, len, now);
      return;
    }
  Query *q = new_query (cl, QUERY_GATEWAY, o, payload, len, now);
  q->gateway = g;
  q->gw_port = port;
  to_gateway (cl, g, buf, now);
}

static void
check_mappings (FzClientState *cl)
{
  guint64 gen = fz_proxy_ips_generation (cl->proxy_ips);
  if (gen != cl->mappings_generation)
    {
      cl->mappings_generation = gen;
      push_state_event (cl, FZ_CLIENT_EVENT_MAPPINGS);
    }
}

static void
answer_resource (FzClientState *cl, FzDnsStubQuery *q, const Origin *o,
                 const guint8 *payload, gsize len, gint64 now)
{
  Resource *r = g_hash_table_lookup (cl->resources, q->resource_id);
  g_autoptr (GError) error = NULL;
  const FzProxyIpsMapping *map
    = fz_proxy_ips_assign (cl->proxy_ips, q->name.text, &error);
  FzIpAddr addrs[2 * FZ_PROXY_IPS_PER_FAMILY];

  if (r == NULL || map == NULL)
    {
      if (map == NULL && !cl->proxy_ips_full_told
          && !g_error_matches (error, FZ_PROXY_IPS_ERROR,
                               FZ_PROXY_IPS_ERROR_INVALID_NAME))
        {
          /* Once: every later new name fails the same way. */
          g_warning ("client: no proxy IPs for a new name: %s", error->message);
          cl->proxy_ips_full_told = TRUE;
          FzClientEvent *e = push_event (cl, FZ_CLIENT_EVENT_RESOURCE_UNREACHABLE);
          e->resource_id = g_strdup (q->resource_id);
          e->reason = g_strdup ("proxy_ips_exhausted");
        }
      reply_servfail (cl, o, payload, len, now);
      return;
    }
  check_mappings (cl);
  memcpy (addrs, map->ipv4, sizeof map->ipv4);
  memcpy (addrs + FZ_PROXY_IPS_PER_FAMILY, map->ipv6, sizeof map->ipv6);
  if (fz_dns_stub_answer_addresses (q, r->src->ip_stack, addrs, G_N_ELEMENTS (addrs)))
    reply (cl, o, q->answer, q->answer_len, now);
  nat_requery (cl, r, map->name, now);
}

/* One query from an application to a sentinel. */
static void
dns_query (FzClientState *cl, const Origin *o, const guint8 *payload, gsize len,
           gint64 now)
{
  FzDnsStubQuery q;
  const FzProxyIpsMapping *map;

  fz_dns_stub_query_init (&q);
  switch (fz_dns_stub_decide (&q, cl->dns, payload, len))
    {
    case FZ_DNS_STUB_DROP: break;
    case FZ_DNS_STUB_ANSWER: reply (cl, o, q.answer, q.answer_len, now); break;
    case FZ_DNS_STUB_RESOURCE: answer_resource (cl, &q, o, payload, len, now); break;
    case FZ_DNS_STUB_PTR:
      map = fz_proxy_ips_lookup_addr (cl->proxy_ips, &q.ptr_addr);
      if (map == NULL)
        ask_upstream (cl, o, payload, len, now);
      else if (ptr_name_current (cl, map->name) && fz_dns_stub_answer_ptr (&q, map->name))
        reply (cl, o, q.answer, q.answer_len, now);
      else
        {
          /* A name from an earlier session that no resource has now:
           * not told (it may be another account's). */
          gsize n = 0;
          g_autofree guint8 *nx
            = fz_dns_error_answer (payload, len, LDNS_RCODE_NXDOMAIN, &n);
          if (nx != NULL)
            reply (cl, o, nx, n, now);
        }
      break;
    case FZ_DNS_STUB_GATEWAY:
      {
        Resource *r = g_hash_table_lookup (cl->resources, q.resource_id);
        if (r != NULL)
          ask_gateway (cl, r, o, payload, len, now);
        break;
      }
    case FZ_DNS_STUB_UPSTREAM: ask_upstream (cl, o, payload, len, now); break;
    }
  fz_dns_stub_query_clear (&q);
}

static void
dns_udp (FzClientState *cl, const FzIpPacket *pkt, gint64 now)
{
  Origin o = { .app_port = fz_ip_packet_src_port (pkt) };
  guint32 len;
  const guint8 *payload = fz_ip_packet_payload (pkt, &len);

  fz_ip_packet_src (pkt, &o.app);
  fz_ip_packet_dst (pkt, &o.sentinel);
  dns_query (cl, &o, payload, len, now);
}

/* Queries that came over TCP, then the TCP segments for the TUN. */
static void
flush_tcp (FzClientState *cl, gint64 now)
{
  FzDnsTcpQuery tq;

  while (fz_dns_tcp_poll_query (cl->dns_tcp, &tq))
    {
      Origin o = { .app = tq.app,
                   .sentinel = tq.sentinel,
                   .app_port = tq.app_port,
                   .via_tcp = TRUE,
                   .tcp_handle = tq.handle };
      gsize len;
      const guint8 *msg = g_bytes_get_data (tq.message, &len);
      dns_query (cl, &o, msg, len, now);
      fz_dns_tcp_query_clear (&tq);
    }
  for (;;)
    {
      FzPacketBuf *buf = fz_buf_pool_alloc (cl->pool);
      FzIpPacket out;
      if (!fz_dns_tcp_poll_packet (cl->dns_tcp, buf, &out))
        {
          fz_packet_buf_free (buf);
          break;
        }
      g_queue_push_tail (&cl->tun_out, buf);
    }
}

static void
finish_query (FzClientState *cl, Query *q, const guint8 *msg, gsize len, gint64 now)
{
  Origin o;
  gsize qlen;
  const guint8 *query = g_bytes_get_data (q->query, &qlen);

  origin_of (q, &o);
  fz_timer_heap_cancel (cl->timers, &q->timed.timer);
  if (msg != NULL)
    reply (cl, &o, msg, len, now);
  else
    reply_servfail (cl, &o, query, qlen, now);
  g_hash_table_remove (cl->queries, &q->request);
}

void
fz_client_state_upstream_answer (FzClientState *cl, guint64 request, const guint8 *msg,
                                 gsize len, gint64 now)
{
  Query *q = g_hash_table_lookup (cl->queries, &request);
  gsize qlen;

  if (q == NULL || q->kind != QUERY_UPSTREAM || cl->shut_down)
    return;
  const guint8 *query = g_bytes_get_data (q->query, &qlen);
  g_autofree guint8 *cleaned = NULL;
  if (msg != NULL && !fz_dns_answer_accept (query, qlen, msg, len, &cleaned, &len))
    {
      g_debug ("client: an upstream answer that does not match its query");
      msg = NULL;
    }
  if (cleaned != NULL)
    {
      g_debug ("client: an upstream answer pointed into the tunnel's ranges");
      msg = cleaned;
    }
  if (msg != NULL && !q->tcp && fz_dns_answer_is_truncated (msg, len))
    {
      q->tcp = TRUE; /* ask again over TCP */
      fz_timer_heap_schedule (cl->timers, &q->timed.timer, now + FZ_CLIENT_DNS_TIMEOUT);
      emit_upstream (cl, q);
      return;
    }
  finish_query (cl, q, msg, len, now);
  flush_tcp (cl, now);
  process_node_events (cl, now);
}

/* The gateway's resolver answered an SRV/TXT query. */
static void
gateway_dns_answer (FzClientState *cl, Gateway *g, const FzIpPacket *pkt, gint64 now)
{
  guint16 port = fz_ip_packet_dst_port (pkt);
  GHashTableIter it;
  gpointer v;
  guint32 len;
  const guint8 *payload = fz_ip_packet_payload (pkt, &len);

  g_hash_table_iter_init (&it, cl->queries);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Query *q = v;
      gsize qlen;
      const guint8 *query = g_bytes_get_data (q->query, &qlen);
      if (q->kind != QUERY_GATEWAY || q->gateway != g || q->gw_port != port)
        continue;
      if (fz_dns_answer_matches_query (query, qlen, payload, len))
        finish_query (cl, q, payload, len, now);
      return;
    }
}

/* ---- the TUN and the network ---- */

static gboolean
is_our_address (FzClientState *cl, const FzIpAddr *a)
{
  return cl->have_interface
         && fz_ip_addr_equal (a, a->family == 4 ? &cl->iface.ipv4 : &cl->iface.ipv6);
}

static gboolean
is_sentinel (FzClientState *cl, const FzIpAddr *a)
{
  for (guint i = 0; i < cl->iface.dns_sentinels->len; i++)
    if (fz_ip_addr_equal (a, &g_array_index (cl->iface.dns_sentinels, FzIpAddr, i)))
      return TRUE;
  return FALSE;
}

void
fz_client_state_handle_tun (FzClientState *cl, FzPacketBuf *buf, gint64 now)
{
  FzIpPacket pkt;
  FzIpAddr src, dst;

  if (cl->shut_down
      || fz_ip_packet_parse (&pkt, buf->data, buf->len, FZ_IP_MAX_OFFLOAD) != FZ_IP_OK
      || fz_ip_packet_is_control (&pkt))
    goto drop;
  fz_ip_packet_src (&pkt, &src);
  fz_ip_packet_dst (&pkt, &dst);
  if (fz_ip_addr_is_group (&dst) || !is_our_address (cl, &src))
    goto drop;
  if (is_sentinel (cl, &dst))
    {
      if (pkt.proto == FZ_IP_PROTO_UDP && fz_ip_packet_dst_port (&pkt) == 53)
        dns_udp (cl, &pkt, now);
      else if (pkt.proto == FZ_IP_PROTO_TCP && fz_ip_packet_dst_port (&pkt) == 53)
        fz_dns_tcp_handle_packet (cl->dns_tcp, &pkt, now);
      fz_packet_buf_free (buf);
      flush_tcp (cl, now);
      process_node_events (cl, now);
      return;
    }
  route_packet (cl, buf, &pkt, now);
  process_node_events (cl, now);
  return;

drop:
  fz_packet_buf_free (buf);
}

/* May @g send us a packet from @src? Only from what it serves us, and
 * ICMP errors from anywhere on the way. */
/* The addresses of the packet an ICMP error quotes; FALSE when the quote
 * is too short or of the other family. */
static gboolean
icmp_quote_addresses (const FzIpPacket *pkt, FzIpAddr *src, FzIpAddr *dst)
{
  guint32 len;
  const guint8 *q = fz_ip_packet_payload (pkt, &len);

  if (pkt->version == 4 && len >= 20 && (q[0] >> 4) == 4)
    {
      fz_ip_addr_set_v4 (src, q + 12);
      fz_ip_addr_set_v4 (dst, q + 16);
      return TRUE;
    }
  if (pkt->version == 6 && len >= 40 && (q[0] >> 4) == 6)
    {
      fz_ip_addr_set_v6 (src, q + 8);
      fz_ip_addr_set_v6 (dst, q + 24);
      return TRUE;
    }
  return FALSE;
}

static gboolean
gateway_may_send (FzClientState *cl, Gateway *g, const FzIpPacket *pkt,
                  const FzIpAddr *src)
{
  const char *domain;
  FzIpAddr inner_src, inner_dst;
  Resource *r;

  /* Its own address (a ping to the gateway) is fine. */
  if (fz_ip_addr_equal (src, src->family == 4 ? &g->ipv4 : &g->ipv6))
    return TRUE;
  /* An error, from whichever router, must be about a packet we sent to
   * a resource this gateway serves: no other flow can be torn down. */
  if (fz_ip_packet_is_icmp_error (pkt))
    {
      if (!icmp_quote_addresses (pkt, &inner_src, &inner_dst)
          || !is_our_address (cl, &inner_src))
        return FALSE;
      src = &inner_dst;
    }
  r = resource_for (cl, src, &domain);
  return r != NULL && r->gateway == g;
}

static void
gateway_packet (FzClientState *cl, Gateway *g, FzPacketBuf *buf, gint64 now)
{
  FzIpPacket pkt;
  FzIpAddr src, dst;
  FzControlType type;
  const guint8 *payload;
  gsize len;

  if (fz_ip_packet_parse (&pkt, buf->data, buf->len, FZ_IP_MAX_OFFLOAD) != FZ_IP_OK)
    goto drop;
  if (fz_ip_packet_is_control (&pkt))
    {
      if (fz_p2p_control_payload (&pkt, &type, &payload, &len)
          && type == FZ_CONTROL_DOMAIN_STATUS)
        domain_status (cl, g, payload, len, now);
      goto drop;
    }
  fz_ip_packet_src (&pkt, &src);
  fz_ip_packet_dst (&pkt, &dst);
  if (!is_our_address (cl, &dst))
    goto drop;
  if (fz_ip_addr_equal (&src, src.family == 4 ? &g->ipv4 : &g->ipv6))
    {
      if (pkt.proto == FZ_IP_PROTO_UDP
          && fz_ip_packet_src_port (&pkt) == FZ_DNS_GATEWAY_PORT)
        gateway_dns_answer (cl, g, &pkt, now);
      goto drop;
    }
  if (!gateway_may_send (cl, g, &pkt, &src))
    goto drop;
  g_queue_push_tail (&cl->tun_out, buf);
  return;

drop:
  fz_packet_buf_free (buf);
}

void
fz_client_state_handle_datagram (FzClientState *cl, const FzSockAddr *local,
                                 const FzSockAddr *from, FzPacketBuf *buf, gint64 now)
{
  FzNodeConn *conn = NULL;

  if (cl->shut_down)
    {
      fz_packet_buf_free (buf);
      return;
    }
  if (fz_node_decapsulate (cl->node, local, from, buf, now, &conn) == FZ_NODE_RX_PACKET)
    {
      Gateway *g = g_hash_table_lookup (cl->gateways, fz_node_conn_id (conn));
      if (g != NULL)
        gateway_packet (cl, g, buf, now);
      else
        fz_packet_buf_free (buf);
    }
  else
    fz_packet_buf_free (buf);
  flush_tcp (cl, now);
  process_node_events (cl, now);
}

/* ---- the portal ---- */

static void
update_relays (FzClientState *cl, GPtrArray *add, GPtrArray *remove, gint64 now)
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
      g_hash_table_add (cl->relays, g_strdup (r->id));
    }
  for (guint i = 0; remove != NULL && i < remove->len; i++)
    g_hash_table_remove (cl->relays, remove->pdata[i]);
  fz_node_update_relays (cl->node, relays, n,
                         remove != NULL ? (const char *const *) remove->pdata : NULL,
                         remove != NULL ? remove->len : 0, now);
}

/* init replaces the relays: the ones we had and it lacks go. */
static void
replace_relays (FzClientState *cl, GPtrArray *relays, gint64 now)
{
  g_autoptr (GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter it;
  gpointer id;

  g_hash_table_iter_init (&it, cl->relays);
  while (g_hash_table_iter_next (&it, &id, NULL))
    {
      gboolean kept = FALSE;
      for (guint i = 0; !kept && relays != NULL && i < relays->len; i++)
        kept = g_str_equal (((FzRelay *) relays->pdata[i])->id, id);
      if (!kept)
        g_ptr_array_add (gone, g_strdup (id));
    }
  update_relays (cl, relays, gone, now);
}

static void
set_interface (FzClientState *cl, const FzInterface *i)
{
  if (i == NULL)
    return;
  cl->have_interface = TRUE;
  cl->iface.ipv4 = i->ipv4;
  cl->iface.ipv6 = i->ipv6;
  g_free (cl->iface.search_domain);
  cl->iface.search_domain = g_strdup (i->search_domain);
  set_servers (cl->upstreams,
               i->upstream_do53 != NULL ? (FzIpAddr *) i->upstream_do53->data : NULL,
               i->upstream_do53 != NULL ? i->upstream_do53->len : 0);
}

/* init lists every resource: the others go. TRUE if any changed. */
static gboolean
replace_resources (FzClientState *cl, GPtrArray *list, gint64 now)
{
  gboolean changed = FALSE;
  g_autoptr (GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter it;
  gpointer id;

  g_hash_table_iter_init (&it, cl->resources);
  while (g_hash_table_iter_next (&it, &id, NULL))
    {
      gboolean kept = FALSE;
      for (guint i = 0; !kept && list != NULL && i < list->len; i++)
        kept = g_str_equal (((FzResource *) list->pdata[i])->id, id);
      if (!kept)
        g_ptr_array_add (gone, g_strdup (id));
    }
  for (guint i = 0; i < gone->len; i++)
    changed |= remove_resource (cl, gone->pdata[i], now);
  for (guint i = 0; list != NULL && i < list->len; i++)
    changed |= upsert_resource (cl, list->pdata[i], now);
  return changed;
}

/* After resources came or went (@changed; init says so always, being
 * the whole state again): routes, the list, statuses. */
static void
resources_changed (FzClientState *cl, gboolean changed)
{
  if (changed)
    {
      update_interface (cl);
      push_state_event (cl, FZ_CLIENT_EVENT_RESOURCES);
    }
  update_statuses (cl);
}

static void
handle_init (FzClientState *cl, const FzPortalMessage *m, gint64 now)
{
  /* init follows every join: say again that we do ICE. */
  push_portal (cl, FZ_PORTAL_SET_SNOWNET_CAPABILITIES)->iceless = FALSE;
  set_interface (cl, m->interface);
  replace_resources (cl, m->resources, now);
  replace_relays (cl, m->relays, now);
  resources_changed (cl, TRUE);
}

static void
candidates (FzClientState *cl, const FzPortalMessage *m, gboolean add, gint64 now)
{
  if (m->peer_id == NULL)
    return;
  for (guint i = 0; i < m->candidates->len; i++)
    {
      const FzIceCandidate *c = &g_array_index (m->candidates, FzIceCandidate, i);
      if (add)
        fz_node_add_remote_candidate (cl->node, m->peer_id, c, now);
      else
        fz_node_remove_remote_candidate (cl->node, m->peer_id, c, now);
    }
}

void
fz_client_state_handle_portal (FzClientState *cl, const FzPortalMessage *m, gint64 now)
{
  if (cl->shut_down)
    return;
  switch (m->event)
    {
    case FZ_PORTAL_INIT: handle_init (cl, m, now); break;
    case FZ_PORTAL_CONFIG_CHANGED:
      set_interface (cl, m->interface);
      update_interface (cl);
      break;
    case FZ_PORTAL_RESOURCE_CREATED_OR_UPDATED:
      {
        gboolean changed = FALSE;
        for (guint i = 0; m->resources != NULL && i < m->resources->len; i++)
          changed |= upsert_resource (cl, m->resources->pdata[i], now);
        resources_changed (cl, changed);
        break;
      }
    case FZ_PORTAL_RESOURCE_DELETED:
      resources_changed (cl, m->resource_id != NULL
                               && remove_resource (cl, m->resource_id, now));
      break;
    case FZ_PORTAL_AUTHORIZATION_CREATED: authorization_created (cl, m, now); break;
    case FZ_PORTAL_AUTHORIZATION_CREATION_FAILED: authorization_failed (cl, m); break;
    case FZ_PORTAL_ICE_CANDIDATES: candidates (cl, m, TRUE, now); break;
    case FZ_PORTAL_INVALIDATE_ICE_CANDIDATES: candidates (cl, m, FALSE, now); break;
    case FZ_PORTAL_RELAYS_PRESENCE:
      update_relays (cl, m->relays, m->disconnected, now);
      break;
    case FZ_PORTAL_DISCONNECT:
      if (g_strcmp0 (m->reason, "token_expired") == 0)
        push_event (cl, FZ_CLIENT_EVENT_FATAL)->reason = g_strdup (m->reason);
      break;
    default: break;
    }
  flush_tcp (cl, now);
  process_node_events (cl, now);
}

FzPortalMessage *
fz_client_state_poll_portal (FzClientState *cl)
{
  return g_queue_pop_head (&cl->portal_out);
}

void
fz_client_state_set_internet_resource_enabled (FzClientState *cl, gboolean on, gint64 now)
{
  if (cl->internet_enabled == on || cl->shut_down)
    return;
  cl->internet_enabled = on;
  /* Off is a deletion but for the list: connlib disables it the same
   * way. */
  if (!on && cl->internet != NULL)
    {
      free_bufs (&cl->internet->buffered);
      deauthorize (cl, cl->internet, now);
    }
  update_interface (cl);
  process_node_events (cl, now);
}

char *
fz_client_state_save_mappings (FzClientState *cl)
{
  return fz_proxy_ips_serialize (cl->proxy_ips);
}

/* ---- node events, timers, polling ---- */

static void
signal_candidate (FzClientState *cl, const FzNodeEvent *e, FzPortalEvent what)
{
  FzPortalMessage *m = push_portal (cl, what);
  m->peer_id = g_strdup (e->id);
  g_array_append_val (m->candidates, e->candidate);
}

static void
process_node_events (FzClientState *cl, gint64 now)
{
  FzNodeEvent e;

  while (fz_node_poll_event (cl->node, &e))
    {
      Gateway *g = e.id != NULL ? g_hash_table_lookup (cl->gateways, e.id) : NULL;
      switch (e.type)
        {
        case FZ_NODE_EVENT_NEW_CANDIDATE:
          signal_candidate (cl, &e, FZ_PORTAL_NEW_GATEWAY_ICE_CANDIDATES);
          break;
        case FZ_NODE_EVENT_INVALIDATED_CANDIDATE:
          signal_candidate (cl, &e, FZ_PORTAL_INVALIDATE_GATEWAY_ICE_CANDIDATES);
          break;
        case FZ_NODE_EVENT_ESTABLISHED:
          if (g != NULL)
            {
              g_info ("connected to gateway %s, %s", g->id,
                      fz_node_is_relayed (cl->node, g->id) ? "relayed" : "direct");
              g->established = TRUE;
              update_statuses (cl);
            }
          break;
        case FZ_NODE_EVENT_FAILED:
        case FZ_NODE_EVENT_CLOSED:
          if (g != NULL && g->conn == e.conn)
            {
              g->conn = NULL;
              remove_gateway (cl, g, FALSE, now);
              update_statuses (cl);
            }
          break;
        case FZ_NODE_EVENT_NO_RELAYS: push_portal (cl, FZ_PORTAL_NO_RELAYS); break;
        }
      g_free (e.id);
    }
}

gboolean
fz_client_state_poll_transmit (FzClientState *cl, FzNodeTransmit *out)
{
  return fz_transmit_queue_pop (&cl->transmits, out)
         || fz_node_poll_transmit (cl->node, out);
}

FzPacketBuf *
fz_client_state_poll_tun (FzClientState *cl)
{
  return g_queue_pop_head (&cl->tun_out);
}

gboolean
fz_client_state_poll_event (FzClientState *cl, FzClientEvent *out)
{
  FzClientEvent *e = g_queue_pop_head (&cl->events);

  if (e == NULL)
    return FALSE;
  cl->state_events &= ~(1u << e->type);
  *out = *e;
  g_free (e);
  return TRUE;
}

gint64
fz_client_state_poll_timeout (FzClientState *cl)
{
  gint64 t = MIN (fz_node_poll_timeout (cl->node), fz_timer_heap_next (cl->timers));
  return MIN (t, fz_dns_tcp_poll_timeout (cl->dns_tcp));
}

void
fz_client_state_handle_timeout (FzClientState *cl, gint64 now)
{
  FzTimer *t;

  if (cl->shut_down)
    return;
  if (fz_node_poll_timeout (cl->node) <= now)
    fz_node_handle_timeout (cl->node, now);
  if (fz_dns_tcp_poll_timeout (cl->dns_tcp) <= now)
    fz_dns_tcp_handle_timeout (cl->dns_tcp, now);
  while ((t = fz_timer_heap_pop_due (cl->timers, now)) != NULL)
    {
      Timed *timed = (Timed *) t;
      switch (timed->kind)
        {
        case TIMER_NAT: send_assigned_ips (cl, (Nat *) timed, now); break;
        case TIMER_QUERY: finish_query (cl, (Query *) timed, NULL, 0, now); break;
        }
    }
  flush_tcp (cl, now);
  process_node_events (cl, now);
}

void
fz_client_state_reset (FzClientState *cl, gint64 now)
{
  if (cl->shut_down)
    return;
  fz_node_reset (cl->node, now);
  process_node_events (cl, now); /* every gateway fails, and goes */
}

static void
cancel_all_timers (FzClientState *cl)
{
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, cl->nats);
  while (g_hash_table_iter_next (&it, NULL, &v))
    fz_timer_heap_cancel (cl->timers, &((Nat *) v)->timed.timer);
  g_hash_table_iter_init (&it, cl->queries);
  while (g_hash_table_iter_next (&it, NULL, &v))
    fz_timer_heap_cancel (cl->timers, &((Query *) v)->timed.timer);
}

void
fz_client_state_shutdown (FzClientState *cl, gint64 now)
{
  if (cl->shut_down)
    return;
  GList *all = g_hash_table_get_values (cl->gateways);
  for (GList *l = all; l != NULL; l = l->next)
    remove_gateway (cl, l->data, TRUE, now);
  g_list_free (all);
  cancel_all_timers (cl);
  g_hash_table_remove_all (cl->queries);
  g_hash_table_remove_all (cl->nats);
  fz_ip_table_clear (cl->cidr);
  g_hash_table_remove_all (cl->resources);
  fz_dns_resource_set_free (cl->dns);
  cl->dns = fz_dns_resource_set_new ();
  cl->internet = NULL;
  cl->shut_down = TRUE;
}
