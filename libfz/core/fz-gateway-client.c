#include "fz-gateway-client-private.h"

#include <string.h>

static void
proxy_free (gpointer p)
{
  FzGatewayProxy *m = p;
  g_free (m->domain);
  g_free (m->resource_id);
  g_free (m);
}

static void
domain_free (gpointer p)
{
  FzGatewayDomain *d = p;
  g_free (d->resource_id);
  g_free (d->domain);
  g_free (d);
}

FzGatewayClient *
fz_gateway_client_new (const char *id)
{
  FzGatewayClient *c = g_new0 (FzGatewayClient, 1);

  c->id = g_strdup (id);
  c->accesses = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  c->cidr = fz_ip_table_new ((GDestroyNotify) fz_filter_set_free);
  c->proxies = g_hash_table_new_full (fz_ip_addr_hash_func, fz_ip_addr_equal_func, NULL,
                                      proxy_free);
  c->domains = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, domain_free);
  return c;
}

void
fz_gateway_client_free (FzGatewayClient *c)
{
  if (c == NULL)
    return;
  g_hash_table_unref (c->accesses);
  fz_ip_table_free (c->cidr);
  fz_filter_set_free (c->internet);
  g_hash_table_unref (c->proxies);
  g_hash_table_unref (c->domains);
  g_free (c->id);
  g_free (c);
}

void
fz_gateway_client_foreach_timer (FzGatewayClient *c, void (*fn) (FzTimer *, gpointer),
                                 gpointer user_data)
{
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, c->accesses);
  while (g_hash_table_iter_next (&it, NULL, &v))
    fn (&((FzGatewayAccess *) v)->timed.timer, user_data);
  g_hash_table_iter_init (&it, c->domains);
  while (g_hash_table_iter_next (&it, NULL, &v))
    fn (&((FzGatewayDomain *) v)->timed.timer, user_data);
}

/* @set joined with @more (either may be NULL). */
static FzFilterSet *
unite (FzFilterSet *set, const FzFilterSet *more)
{
  if (set == NULL)
    return fz_filter_set_union (more, more);
  FzFilterSet *u = fz_filter_set_union (set, more);
  fz_filter_set_free (set);
  return u;
}

static int
by_prefix_len (gconstpointer a, gconstpointer b)
{
  const FzGatewayResource *x = *(FzGatewayResource *const *) a;
  const FzGatewayResource *y = *(FzGatewayResource *const *) b;
  return (int) x->prefix.len - (int) y->prefix.len;
}

void
fz_gateway_client_recompute (FzGatewayClient *c)
{
  g_autoptr (GPtrArray) cidrs = g_ptr_array_new ();
  GHashTableIter it;
  gpointer v;

  fz_ip_table_clear (c->cidr);
  g_clear_pointer (&c->internet, fz_filter_set_free);
  g_hash_table_iter_init (&it, c->accesses);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      FzGatewayResource *r = ((FzGatewayAccess *) v)->resource;
      if (r->type == FZ_RESOURCE_CIDR)
        g_ptr_array_add (cidrs, r);
      else if (r->type == FZ_RESOURCE_INTERNET)
        c->internet = unite (c->internet, r->filters);
    }
  /* Each prefix gets what every resource containing it allows, so that
   * the longest match answers for all of them. Shortest first: when a
   * prefix goes in, the longest match of its address among those already
   * in is its nearest container (or the same prefix of another resource),
   * which holds the union of everything above it. */
  g_ptr_array_sort (cidrs, by_prefix_len);
  for (guint i = 0; i < cidrs->len; i++)
    {
      const FzGatewayResource *r = cidrs->pdata[i];
      FzIpPrefix at;
      const FzFilterSet *above = fz_ip_table_lookup (c->cidr, &r->prefix.addr, &at);
      FzFilterSet *set = fz_filter_set_union (r->filters, above ? above : r->filters);
      fz_ip_table_insert (c->cidr, &r->prefix, set);
    }
  c->dirty = FALSE;
}

/* Never through the Internet resource, which is the public Internet:
 * private, loopback, link-local, shared (CGNAT, where the tunnel lives),
 * multicast and reserved addresses. A CIDR resource may still name them. */
static gboolean
internet_rejects (const FzIpAddr *dst)
{
  static const char *const nets[]
    = { "0.0.0.0/8",      "10.0.0.0/8",    "100.64.0.0/10",  "127.0.0.0/8",
        "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/3",
        "::/127",         "fc00::/7",      "fe80::/10",      "ff00::/8" };
  static FzIpPrefix parsed[G_N_ELEMENTS (nets)];
  static gsize once;

  if (g_once_init_enter (&once))
    {
      for (guint i = 0; i < G_N_ELEMENTS (nets); i++)
        g_assert (fz_ip_prefix_parse (&parsed[i], nets[i]));
      g_once_init_leave (&once, 1);
    }
  for (guint i = 0; i < G_N_ELEMENTS (parsed); i++)
    if (parsed[i].addr.family == dst->family && fz_ip_prefix_contains (&parsed[i], dst))
      return TRUE;
  return FALSE;
}

static FzGatewayVerdict
verdict (const FzFilterSet *set, const FzIpPacket *pkt)
{
  return fz_filter_set_allows_packet (set, pkt) ? FZ_GATEWAY_ALLOW
                                                : FZ_GATEWAY_DENY_FILTER;
}

FzGatewayVerdict
fz_gateway_client_check (FzGatewayClient *c, const FzIpPacket *pkt, const FzIpAddr *dst)
{
  if (c->dirty)
    fz_gateway_client_recompute (c);
  const FzFilterSet *set = fz_ip_table_lookup (c->cidr, dst, NULL);

  if (set != NULL)
    {
      /* A CIDR resource that refuses it still leaves the Internet
       * resource, as for any other destination it may take: a restrictive
       * resource over a private network must not open that network. */
      if (fz_filter_set_allows_packet (set, pkt))
        return FZ_GATEWAY_ALLOW;
      return c->internet != NULL && !internet_rejects (dst) ? verdict (c->internet, pkt)
                                                            : FZ_GATEWAY_DENY_FILTER;
    }
  if (c->internet != NULL && !internet_rejects (dst))
    return verdict (c->internet, pkt);
  return FZ_GATEWAY_DENY_RESOURCE;
}

/* Errors about what the client sent pass; anything else as the filter
 * allows it from the resource's side (its port is the source port). */
static gboolean
allows_from (const FzFilterSet *set, const FzIpPacket *pkt)
{
  return fz_ip_packet_is_icmp_error (pkt)
         || fz_filter_set_allows (set, pkt->proto, fz_ip_packet_src_port (pkt));
}

/* The source and destination of the packet an ICMP error quotes (8
 * bytes into the ICMP message); FALSE when too short for them. */
static gboolean
quoted_addresses (const FzIpPacket *pkt, FzIpAddr *src, FzIpAddr *dst)
{
  const guint8 *q = fz_ip_packet_l4 (pkt) + 8;
  guint32 len = fz_ip_packet_l4_len (pkt);
  guint alen = pkt->version == 4 ? 4 : 16, off = pkt->version == 4 ? 12 : 8;

  if (len < 8 + off + 2 * alen || (q[0] >> 4) != pkt->version)
    return FALSE;
  src->family = dst->family = pkt->version;
  memcpy (src->bytes, q + off, alen);
  memcpy (dst->bytes, q + off + alen, alen);
  return TRUE;
}

/* Is @dst one the client may reach (any protocol, any port)? */
static gboolean
reachable (FzGatewayClient *c, const FzIpAddr *dst)
{
  return fz_ip_table_lookup (c->cidr, dst, NULL) != NULL
         || (c->internet != NULL && !internet_rejects (dst));
}

gboolean
fz_gateway_client_allows_inbound (FzGatewayClient *c, const FzIpPacket *pkt,
                                  const FzIpAddr *src)
{
  const FzFilterSet *set;
  FzIpAddr qsrc, qdst;

  if (c->dirty)
    fz_gateway_client_recompute (c);
  set = fz_ip_table_lookup (c->cidr, src, NULL);
  if (set != NULL && allows_from (set, pkt))
    return TRUE;
  if (c->internet != NULL && !internet_rejects (src) && allows_from (c->internet, pkt))
    return TRUE;
  /* An error from a router on the way (packet too big, time exceeded):
   * it passes when it is about what the client sent to a destination it
   * may reach, or path MTU discovery would break. */
  return fz_ip_packet_is_icmp_error (pkt) && quoted_addresses (pkt, &qsrc, &qdst)
         && fz_ip_addr_equal (&qsrc, qsrc.family == 4 ? &c->ipv4 : &c->ipv6)
         && reachable (c, &qdst);
}

FzGatewayVerdict
fz_gateway_client_check_proxy (FzGatewayClient *c, const FzIpPacket *pkt,
                               const FzIpAddr *dst, FzGatewayProxy **proxy)
{
  FzGatewayProxy *m = g_hash_table_lookup (c->proxies, dst);
  FzGatewayAccess *a;

  *proxy = m;
  if (m == NULL || (a = g_hash_table_lookup (c->accesses, m->resource_id)) == NULL)
    return FZ_GATEWAY_DENY_RESOURCE;
  return verdict (a->resource->filters, pkt);
}

gboolean
fz_gateway_client_allows_proxy_reply (FzGatewayClient *c, const FzIpPacket *pkt,
                                      const FzIpAddr *proxy)
{
  FzGatewayProxy *m = g_hash_table_lookup (c->proxies, proxy);
  FzGatewayAccess *a;

  if (m == NULL || (a = g_hash_table_lookup (c->accesses, m->resource_id)) == NULL)
    return FALSE;
  return allows_from (a->resource->filters, pkt);
}

void
fz_gateway_client_clear_dns (FzGatewayClient *c)
{
  g_hash_table_remove_all (c->proxies);
  g_hash_table_remove_all (c->domains);
}
