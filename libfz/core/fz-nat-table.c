#include "fz-nat-table-private.h"
#include "fz-ip-prefix-private.h"

#include "fz-checksum.h"
#include "fz-timer-heap-private.h"

#include <sodium.h>
#include <string.h>

#define PORT_MIN 1024

/* One direction's exact key. Outbound: a = client IP / source port,
 * b = proxy IP / destination port. Inbound: a = real IP / its port,
 * b = client IP / translated port. ICMP echo: the id is the client side's
 * port, the resource side's is 0. The addresses sit back to back, so an
 * IPv4 key is 16 bytes to hash; zero-filled, so equal keys are equal
 * bytes. */
typedef struct
{
  guint8 proto;
  guint8 family;
  guint16 port_a;
  guint16 port_b;
  guint16 zero;
  guint8 addrs[32];
} NatKey;

G_STATIC_ASSERT (sizeof (NatKey) == 40);

enum
{
  SEEN_IN = 1 << 0,
  FIN_OUT = 1 << 1,
  FIN_IN = 1 << 2,
  RST = 1 << 3,
};

typedef struct _NatClient NatClient;
typedef struct _NatSession NatSession;

struct _NatSession
{
  NatKey out, in;
  NatSession *next_out, *next_in; /* hash chains */
  guint32 hash_out, hash_in;
  GList link;       /* in the client's queue */
  GList unanswered; /* in the table's queue, until SEEN_IN */
  NatClient *client;
  FzTimer timer;
  gint64 last_out, last_in;
  guint8 flags;
};

struct _NatClient
{
  FzIpAddr ip;
  GQueue sessions;
};

/* An intrusive chained hash table; the chain pointer is at @next_off. */
typedef struct
{
  NatSession **buckets;
  guint mask;
  gsize next_off, key_off, hash_off;
} NatIndex;

struct _FzNatTable
{
  FzRng *rng;
  guint8 hash_key[crypto_shorthash_KEYBYTES];
  NatIndex out, in;
  GHashTable *clients; /* FzIpAddr * -> NatClient * */
  FzTimerHeap *timers;
  GQueue unanswered; /* sessions nothing came back on, oldest first */
  guint size, max_sessions, max_per_client;
};

/* clang-format off */
static const char *const result_names[] = {
  [FZ_NAT_TRANSLATED] = "translated",
  [FZ_NAT_NOT_NAT] = "not a NAT packet",
  [FZ_NAT_NO_SESSION] = "no NAT session",
  [FZ_NAT_TABLE_FULL] = "NAT table full",
  [FZ_NAT_CLIENT_FULL] = "client's NAT sessions full",
  [FZ_NAT_PORTS_EXHAUSTED] = "no free NAT port",
  [FZ_NAT_UNSUPPORTED] = "protocol not translated",
  [FZ_NAT_MALFORMED] = "malformed ICMP error quote",
};
/* clang-format on */

const char *
fz_nat_result_to_string (FzNatResult result)
{
  if ((guint) result < G_N_ELEMENTS (result_names))
    return result_names[result];
  return "unknown";
}

gboolean
fz_nat_is_proxy_ip (const FzIpAddr *addr)
{
  return fz_ip_in_proxy_range (addr);
}

/* --- the two indices ----------------------------------------------------- */

static inline gsize
key_alen (const NatKey *k)
{
  return k->family == 4 ? 4 : 16;
}

static inline guint8 *
key_a (NatKey *k)
{
  return k->addrs;
}

static inline guint8 *
key_b (NatKey *k)
{
  return k->addrs + key_alen (k);
}

static inline gsize
key_len (const NatKey *k)
{
  return G_STRUCT_OFFSET (NatKey, addrs) + 2 * key_alen (k);
}

static inline guint32
key_hash (const FzNatTable *t, const NatKey *k)
{
  guint8 out[crypto_shorthash_BYTES];
  guint32 h;

  crypto_shorthash (out, (const guint8 *) k, key_len (k), t->hash_key);
  memcpy (&h, out, sizeof h);
  return h;
}

static inline NatSession **
chain_next (const NatIndex *idx, NatSession *s)
{
  return (NatSession **) (void *) ((guint8 *) s + idx->next_off);
}

static inline const NatKey *
session_key (const NatIndex *idx, const NatSession *s)
{
  return (const NatKey *) (const void *) ((const guint8 *) s + idx->key_off);
}

static inline guint32 *
session_hash (const NatIndex *idx, NatSession *s)
{
  return (guint32 *) (void *) ((guint8 *) s + idx->hash_off);
}

static void
index_init (NatIndex *idx, gsize next_off, gsize key_off, gsize hash_off)
{
  idx->mask = 63;
  idx->buckets = g_new0 (NatSession *, idx->mask + 1);
  idx->next_off = next_off;
  idx->key_off = key_off;
  idx->hash_off = hash_off;
}

static NatSession *
index_lookup (const NatIndex *idx, const NatKey *k, guint32 h)
{
  NatSession *s = idx->buckets[h & idx->mask];

  for (; s != NULL; s = *chain_next (idx, s))
    if (*session_hash (idx, s) == h && memcmp (session_key (idx, s), k, sizeof *k) == 0)
      return s;
  return NULL;
}

static void
index_link (NatIndex *idx, NatSession *s)
{
  NatSession **head = &idx->buckets[*session_hash (idx, s) & idx->mask];

  *chain_next (idx, s) = *head;
  *head = s;
}

static void
index_unlink (NatIndex *idx, NatSession *s)
{
  NatSession **p = &idx->buckets[*session_hash (idx, s) & idx->mask];

  while (*p != s)
    p = chain_next (idx, *p);
  *p = *chain_next (idx, s);
}

/* Doubles the buckets when the load reaches 1; called before a link. */
static void
index_grow (FzNatTable *t, NatIndex *idx)
{
  NatSession **old = idx->buckets;
  guint n = idx->mask + 1;

  if (t->size < n)
    return;
  idx->mask = n * 2 - 1;
  idx->buckets = g_new0 (NatSession *, n * 2);
  for (guint i = 0; i < n; i++)
    for (NatSession *s = old[i], *next; s != NULL; s = next)
      {
        next = *chain_next (idx, s);
        index_link (idx, s);
      }
  g_free (old);
}

/* --- lifetime ------------------------------------------------------------ */

FzNatTable *
fz_nat_table_new (FzRng *rng, guint max_sessions, guint max_per_client)
{
  FzNatTable *t = g_new0 (FzNatTable, 1);

  t->rng = rng;
  fz_rng_fill (rng, t->hash_key, sizeof t->hash_key);
  index_init (&t->out, G_STRUCT_OFFSET (NatSession, next_out),
              G_STRUCT_OFFSET (NatSession, out), G_STRUCT_OFFSET (NatSession, hash_out));
  index_init (&t->in, G_STRUCT_OFFSET (NatSession, next_in),
              G_STRUCT_OFFSET (NatSession, in), G_STRUCT_OFFSET (NatSession, hash_in));
  t->clients = g_hash_table_new_full ((GHashFunc) fz_ip_addr_hash,
                                      (GEqualFunc) fz_ip_addr_equal, NULL, g_free);
  t->timers = fz_timer_heap_new ();
  t->max_sessions = max_sessions ? max_sessions : FZ_NAT_MAX_SESSIONS;
  t->max_per_client = max_per_client ? max_per_client : FZ_NAT_MAX_SESSIONS_PER_CLIENT;
  return t;
}

static void
session_remove (FzNatTable *t, NatSession *s)
{
  NatClient *c = s->client;

  fz_timer_heap_cancel (t->timers, &s->timer);
  index_unlink (&t->out, s);
  index_unlink (&t->in, s);
  g_queue_unlink (&c->sessions, &s->link);
  if (!(s->flags & SEEN_IN))
    g_queue_unlink (&t->unanswered, &s->unanswered);
  if (c->sessions.length == 0)
    g_hash_table_remove (t->clients, &c->ip);
  t->size--;
  g_free (s);
}

void
fz_nat_table_free (FzNatTable *t)
{
  GHashTableIter it;
  NatClient *c;

  if (t == NULL)
    return;
  g_hash_table_iter_init (&it, t->clients);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) &c))
    while (c->sessions.head != NULL)
      {
        NatSession *s = c->sessions.head->data;
        g_queue_unlink (&c->sessions, &s->link);
        g_free (s);
      }
  g_hash_table_destroy (t->clients);
  fz_timer_heap_free (t->timers);
  g_free (t->out.buckets);
  g_free (t->in.buckets);
  g_free (t);
}

/* --- timeouts ------------------------------------------------------------ */

static gint64
session_ttl (const NatSession *s)
{
  switch (s->out.proto)
    {
    case FZ_IP_PROTO_TCP: return FZ_NAT_TCP_TTL;
    case FZ_IP_PROTO_UDP: return FZ_NAT_UDP_TTL;
    default: return FZ_NAT_ICMP_TTL;
    }
}

static gint64
session_deadline (const NatSession *s)
{
  gint64 last = s->flags & SEEN_IN ? MAX (s->last_out, s->last_in) : s->last_out;
  gint64 d = last + session_ttl (s);

  if (s->flags & RST)
    return last;
  if (!(s->flags & SEEN_IN))
    d = MIN (d, s->last_out + FZ_NAT_UNCONFIRMED_TTL);
  if ((s->flags & (FIN_OUT | FIN_IN)) == (FIN_OUT | FIN_IN))
    d = MIN (d, last + FZ_NAT_FIN_TTL);
  return d;
}

/* Traffic only moves a deadline later, which the timer learns when it
 * fires; FIN and RST bring it forward, which must be scheduled now. */
static void
session_touch (FzNatTable *t, NatSession *s, const FzIpPacket *pkt, gboolean inbound,
               gint64 now)
{
  guint8 tcp = fz_ip_packet_tcp_flags (pkt);
  guint8 old = s->flags;
  gint64 d;

  if (inbound)
    {
      if (!(s->flags & SEEN_IN))
        g_queue_unlink (&t->unanswered, &s->unanswered);
      s->last_in = now;
      s->flags |= SEEN_IN | (tcp & FZ_TCP_FIN ? FIN_IN : 0);
    }
  else
    {
      s->last_out = now;
      s->flags |= tcp & FZ_TCP_FIN ? FIN_OUT : 0;
    }
  s->flags |= tcp & FZ_TCP_RST ? RST : 0;
  if ((s->flags & (FIN_OUT | FIN_IN | RST)) == (old & (FIN_OUT | FIN_IN | RST)))
    return;
  d = session_deadline (s);
  if (d < fz_timer_deadline (&s->timer))
    fz_timer_heap_schedule (t->timers, &s->timer, d);
}

gint64
fz_nat_table_poll_timeout (const FzNatTable *t)
{
  return fz_timer_heap_next (t->timers);
}

guint
fz_nat_table_handle_timeout (FzNatTable *t, gint64 now)
{
  FzTimer *timer;
  guint n = 0;

  while ((timer = fz_timer_heap_pop_due (t->timers, now)) != NULL)
    {
      NatSession *s = FZ_TIMER_OWNER (timer, NatSession, timer);
      gint64 d = session_deadline (s);

      if (d > now)
        fz_timer_heap_schedule (t->timers, timer, d);
      else
        {
          session_remove (t, s);
          n++;
        }
    }
  return n;
}

/* --- removal ------------------------------------------------------------- */

typedef gboolean (*SessionFilter) (NatSession *s, gconstpointer data, guint n);

static guint
remove_matching (FzNatTable *t, const FzIpAddr *client, SessionFilter filter,
                 gconstpointer data, guint n)
{
  NatClient *c = g_hash_table_lookup (t->clients, client);
  guint removed = 0;
  GList *l, *next;

  if (c == NULL)
    return 0;
  for (l = c->sessions.head; l != NULL; l = next)
    {
      NatSession *s = l->data;

      next = l->next; /* NULL when @s is the last: @c is gone after it */
      if (filter != NULL && !filter (s, data, n))
        continue;
      session_remove (t, s);
      removed++;
    }
  return removed;
}

static gboolean
to_any_proxy (NatSession *s, gconstpointer data, guint n)
{
  const FzIpAddr *proxies = data;

  for (guint i = 0; i < n; i++)
    if (proxies[i].family == s->out.family
        && memcmp (proxies[i].bytes, key_b (&s->out), key_alen (&s->out)) == 0)
      return TRUE;
  return FALSE;
}

guint
fz_nat_table_remove_client (FzNatTable *t, const FzIpAddr *client)
{
  return remove_matching (t, client, NULL, NULL, 0);
}

guint
fz_nat_table_remove_proxy (FzNatTable *t, const FzIpAddr *client, const FzIpAddr *proxy)
{
  return remove_matching (t, client, to_any_proxy, proxy, 1);
}

guint
fz_nat_table_remove_proxies (FzNatTable *t, const FzIpAddr *client,
                             const FzIpAddr *proxies, guint n_proxies)
{
  /* A renumbering names at most a few dozen proxy IPs: a scan of them per
   * session is cheaper than building a set. */
  return remove_matching (t, client, to_any_proxy, proxies, n_proxies);
}

guint
fz_nat_table_size (const FzNatTable *t)
{
  return t->size;
}

guint
fz_nat_table_client_size (const FzNatTable *t, const FzIpAddr *client)
{
  NatClient *c = g_hash_table_lookup (t->clients, client);

  return c != NULL ? c->sessions.length : 0;
}

/* --- outbound ------------------------------------------------------------ */

static gboolean
is_echo_request (const FzIpPacket *pkt)
{
  guint8 type = fz_ip_packet_icmp_type (pkt);

  return fz_ip_packet_is_icmp (pkt) && (type == 8 || type == 128)
         && fz_ip_packet_is_icmp_echo (pkt);
}

static gboolean
is_echo_reply (const FzIpPacket *pkt)
{
  guint8 type = fz_ip_packet_icmp_type (pkt);

  return fz_ip_packet_is_icmp (pkt) && (type == 0 || type == 129)
         && fz_ip_packet_is_icmp_echo (pkt);
}

static void
key_set (NatKey *k, const FzIpPacket *pkt, const guint8 *a, guint16 port_a,
         const guint8 *b, guint16 port_b)
{
  memset (k, 0, sizeof *k);
  k->proto = pkt->proto;
  k->family = pkt->version;
  k->port_a = port_a;
  k->port_b = port_b;
  memcpy (key_a (k), a, key_alen (k));
  memcpy (key_b (k), b, key_alen (k));
}

static void
key_addr (const NatKey *k, const guint8 *bytes, FzIpAddr *out)
{
  if (k->family == 4)
    fz_ip_addr_set_v4 (out, bytes);
  else
    fz_ip_addr_set_v6 (out, bytes);
}

/* Keeps the client's port if free, else tries random ones; sets @hash. */
static gboolean
pick_port (FzNatTable *t, NatKey *in, guint32 *hash)
{
  *hash = key_hash (t, in);
  if (index_lookup (&t->in, in, *hash) == NULL)
    return TRUE;
  for (guint i = 0; i < FZ_NAT_PORT_TRIES; i++)
    {
      in->port_b = (guint16) (PORT_MIN + fz_rng_below (t->rng, 65536 - PORT_MIN));
      *hash = key_hash (t, in);
      if (index_lookup (&t->in, in, *hash) == NULL)
        return TRUE;
    }
  return FALSE;
}

static NatClient *
client_get (FzNatTable *t, NatKey *out)
{
  FzIpAddr ip;
  NatClient *c;

  key_addr (out, key_a (out), &ip);
  c = g_hash_table_lookup (t->clients, &ip);
  if (c == NULL)
    {
      c = g_new0 (NatClient, 1);
      c->ip = ip;
      g_queue_init (&c->sessions);
      g_hash_table_insert (t->clients, &c->ip, c);
    }
  return c;
}

static FzNatResult
session_new (FzNatTable *t, NatKey *out, guint32 out_hash, const FzIpAddr *real,
             gint64 now, NatSession **result)
{
  FzIpAddr client;
  NatKey in;
  NatSession *s;
  guint32 in_hash;

  key_addr (out, key_a (out), &client);
  /* A full table makes room from the oldest session nothing came back on:
   * a few clients sending into the void cannot starve the sessions that
   * work, nor keep everyone else out. */
  if (fz_nat_table_client_size (t, &client) >= t->max_per_client)
    return FZ_NAT_CLIENT_FULL;
  if (t->size >= t->max_sessions && t->unanswered.head != NULL)
    session_remove (t, t->unanswered.head->data);
  if (t->size >= t->max_sessions)
    return FZ_NAT_TABLE_FULL;
  in = *out;
  memcpy (key_a (&in), real->bytes, key_alen (&in));
  in.port_a = out->port_b;
  memcpy (key_b (&in), key_a (out), key_alen (&in));
  in.port_b = out->port_a;
  if (!pick_port (t, &in, &in_hash))
    return FZ_NAT_PORTS_EXHAUSTED;

  s = g_new0 (NatSession, 1);
  s->out = *out;
  s->in = in;
  s->hash_out = out_hash;
  s->hash_in = in_hash;
  s->last_out = now;
  s->client = client_get (t, out);
  s->link.data = s;
  g_queue_push_tail_link (&s->client->sessions, &s->link);
  s->unanswered.data = s;
  g_queue_push_tail_link (&t->unanswered, &s->unanswered);
  index_grow (t, &t->out);
  index_grow (t, &t->in);
  index_link (&t->out, s);
  index_link (&t->in, s);
  t->size++;
  fz_timer_heap_schedule (t->timers, &s->timer, session_deadline (s));
  *result = s;
  return FZ_NAT_TRANSLATED;
}

FzNatResult
fz_nat_table_translate_out (FzNatTable *t, FzIpPacket *pkt, const FzIpAddr *real,
                            gint64 now)
{
  const guint8 *data = pkt->data;
  const guint8 *src = data + (pkt->version == 4 ? 12 : 8);
  const guint8 *dst = data + (pkt->version == 4 ? 16 : 24);
  gboolean echo = is_echo_request (pkt);
  FzIpAddr proxy, real_ip;
  NatSession *s;
  guint32 hash;
  NatKey k;

  if (!fz_ip_packet_has_ports (pkt) && !echo)
    return FZ_NAT_UNSUPPORTED;
  fz_ip_packet_dst (pkt, &proxy);
  if (!fz_nat_is_proxy_ip (&proxy))
    return FZ_NAT_NOT_NAT;
  if (echo)
    key_set (&k, pkt, src, fz_ip_packet_icmp_echo_id (pkt), dst, 0);
  else
    key_set (&k, pkt, src, fz_ip_packet_src_port (pkt), dst, fz_ip_packet_dst_port (pkt));

  hash = key_hash (t, &k);
  s = index_lookup (&t->out, &k, hash);
  if (s == NULL)
    {
      FzNatResult r;

      if (real == NULL)
        return FZ_NAT_NO_SESSION;
      g_return_val_if_fail (real->family == pkt->version, FZ_NAT_NO_SESSION);
      r = session_new (t, &k, hash, real, now, &s);
      if (r != FZ_NAT_TRANSLATED)
        return r;
    }

  key_addr (&s->in, key_a (&s->in), &real_ip);
  fz_ip_packet_set_dst (pkt, &real_ip);
  if (s->in.port_b != s->out.port_a)
    {
      if (echo)
        fz_ip_packet_set_icmp_echo_id (pkt, s->in.port_b);
      else
        fz_ip_packet_set_src_port (pkt, s->in.port_b);
    }
  session_touch (t, s, pkt, FALSE, now);
  return FZ_NAT_TRANSLATED;
}

/* --- inbound ------------------------------------------------------------- */

static FzNatResult translate_icmp_error (FzNatTable *t, FzIpPacket *pkt);

static gboolean
is_translatable_error (const FzIpPacket *pkt)
{
  guint8 type = fz_ip_packet_icmp_type (pkt);

  if (pkt->proto == FZ_IP_PROTO_ICMP) /* unreachable (frag needed), time exceeded */
    return type == 3 || type == 11;
  if (pkt->proto == FZ_IP_PROTO_ICMPV6) /* unreachable, too big, time exceeded */
    return type == 1 || type == 2 || type == 3;
  return FALSE;
}

FzNatResult
fz_nat_table_translate_in (FzNatTable *t, FzIpPacket *pkt, gint64 now)
{
  const guint8 *src = pkt->data + (pkt->version == 4 ? 12 : 8);
  const guint8 *dst = pkt->data + (pkt->version == 4 ? 16 : 24);
  gboolean echo = is_echo_reply (pkt);
  FzIpAddr proxy;
  NatSession *s;
  NatKey k;

  if (is_translatable_error (pkt))
    return translate_icmp_error (t, pkt);
  if (!fz_ip_packet_has_ports (pkt) && !echo)
    return FZ_NAT_UNSUPPORTED;
  if (echo)
    key_set (&k, pkt, src, 0, dst, fz_ip_packet_icmp_echo_id (pkt));
  else
    key_set (&k, pkt, src, fz_ip_packet_src_port (pkt), dst, fz_ip_packet_dst_port (pkt));

  s = index_lookup (&t->in, &k, key_hash (t, &k));
  if (s == NULL)
    return FZ_NAT_NO_SESSION;
  key_addr (&s->out, key_b (&s->out), &proxy);
  fz_ip_packet_set_src (pkt, &proxy);
  if (s->in.port_b != s->out.port_a)
    {
      if (echo)
        fz_ip_packet_set_icmp_echo_id (pkt, s->out.port_a);
      else
        fz_ip_packet_set_dst_port (pkt, s->out.port_a);
    }
  session_touch (t, s, pkt, TRUE, now);
  return FZ_NAT_TRANSLATED;
}

/* --- ICMP errors --------------------------------------------------------- */

/* The packet an ICMP error quotes: its IP header and at least the first 8
 * bytes of its L4 header, which hold the ports or the echo id. */
typedef struct
{
  guint8 *data;
  guint32 len;
  guint32 hlen; /* IP header */
  guint8 proto;
  gsize alen;
  guint8 *src, *dst;
} Quote;

static FzNatResult
quote_parse (const FzIpPacket *pkt, Quote *q)
{
  guint8 *l4 = fz_ip_packet_l4 (pkt);
  guint32 l4_len = fz_ip_packet_l4_len (pkt);

  if (l4_len < 8)
    return FZ_NAT_MALFORMED;
  q->data = l4 + 8;
  q->len = l4_len - 8;
  if (q->len < 1 || q->data[0] >> 4 != pkt->version)
    return FZ_NAT_MALFORMED;
  if (pkt->version == 4)
    {
      q->hlen = (q->data[0] & 0x0f) * 4u;
      if (q->hlen < 20 || q->len < q->hlen + 8)
        return FZ_NAT_MALFORMED;
      if (((q->data[6] & 0x1f) << 8 | q->data[7]) != 0)
        return FZ_NAT_MALFORMED; /* a later fragment: no L4 header */
      q->proto = q->data[9];
      q->alen = 4;
      q->src = q->data + 12;
      q->dst = q->data + 16;
    }
  else
    {
      q->hlen = 40;
      if (q->len < q->hlen + 8)
        return FZ_NAT_MALFORMED;
      q->proto = q->data[6]; /* extension headers: not translated */
      q->alen = 16;
      q->src = q->data + 8;
      q->dst = q->data + 24;
    }
  return FZ_NAT_TRANSLATED;
}

static inline guint16
load16 (const guint8 *p)
{
  guint16 v;
  memcpy (&v, p, 2);
  return v;
}

static inline void
store16 (guint8 *p, guint16 v)
{
  memcpy (p, &v, 2);
}

static inline guint16
be16 (const guint8 *p)
{
  return (guint16) (p[0] << 8 | p[1]);
}

/* The quote's own checksums: its IPv4 header (the address) and its L4
 * checksum where the quote holds it (the port, and the address through
 * the pseudo-header). */
static void
quote_fix_checksums (Quote *q, guint16 addr_diff, guint16 port_diff)
{
  guint8 *l4 = q->data + q->hlen;
  guint32 off;

  if (q->alen == 4)
    store16 (q->data + 10, fz_checksum_adjust (load16 (q->data + 10), addr_diff));
  switch (q->proto)
    {
    case FZ_IP_PROTO_TCP: off = 16; break;
    case FZ_IP_PROTO_UDP: off = 6; break;
    default: off = 2; break;
    }
  if (q->hlen + off + 2 > q->len)
    return;
  if (q->proto == FZ_IP_PROTO_UDP && load16 (l4 + off) == 0)
    return; /* IPv4 UDP without a checksum */
  {
    guint16 c = load16 (l4 + off);
    if (q->proto != FZ_IP_PROTO_ICMP) /* ICMPv4 has no pseudo-header */
      c = fz_checksum_adjust (c, addr_diff);
    c = fz_checksum_adjust (c, port_diff);
    if (q->proto == FZ_IP_PROTO_UDP && c == 0)
      c = 0xffff;
    store16 (l4 + off, c);
  }
}

static FzNatResult
translate_icmp_error (FzNatTable *t, FzIpPacket *pkt)
{
  const guint8 *outer_dst = pkt->data + (pkt->version == 4 ? 16 : 24);
  guint8 before[60 + 18];
  guint8 proxy_bytes[16];
  guint16 port, new_port, addr_diff, port_diff;
  guint32 port_off, region;
  FzIpAddr proxy;
  NatSession *s;
  FzNatResult r;
  NatKey k;
  Quote q;

  if ((r = quote_parse (pkt, &q)) != FZ_NAT_TRANSLATED)
    return r;
  /* The quote is what the gateway sent: from the client, to the real IP. */
  if (memcmp (q.src, outer_dst, q.alen) != 0)
    return FZ_NAT_NO_SESSION;
  if (q.proto == FZ_IP_PROTO_TCP || q.proto == FZ_IP_PROTO_UDP)
    {
      port_off = 0;
      port = be16 (q.data + q.hlen);
      key_set (&k, pkt, q.dst, be16 (q.data + q.hlen + 2), q.src, port);
    }
  else if ((q.proto == FZ_IP_PROTO_ICMP && pkt->version == 4 && q.data[q.hlen] == 8)
           || (q.proto == FZ_IP_PROTO_ICMPV6 && pkt->version == 6
               && q.data[q.hlen] == 128))
    {
      port_off = 4;
      port = be16 (q.data + q.hlen + 4);
      key_set (&k, pkt, q.dst, 0, q.src, port);
    }
  else
    return FZ_NAT_UNSUPPORTED;
  k.proto = q.proto;

  s = index_lookup (&t->in, &k, key_hash (t, &k));
  if (s == NULL)
    return FZ_NAT_NO_SESSION;

  /* Rewrite the quote, then carry the change of its bytes (checksums
   * included) into the outer ICMP checksum that covers them. The quote
   * starts 8 bytes into the ICMP message: its words are the message's. */
  region = MIN (q.len, q.hlen + 18) & ~1u;
  memcpy (before, q.data, region);
  memcpy (proxy_bytes, key_b (&s->out), q.alen);
  addr_diff = fz_checksum_diff (q.dst, proxy_bytes, q.alen);
  memcpy (q.dst, proxy_bytes, q.alen);
  new_port = GUINT16_TO_BE (s->out.port_a);
  port_diff = fz_checksum_diff (q.data + q.hlen + port_off, &new_port, 2);
  store16 (q.data + q.hlen + port_off, new_port);
  quote_fix_checksums (&q, addr_diff, port_diff);
  {
    guint8 *csum = fz_ip_packet_l4 (pkt) + 2;
    store16 (csum, fz_checksum_adjust (load16 (csum),
                                       fz_checksum_diff (before, q.data, region)));
  }
  /* The client knows the resource by its proxy IP only, whichever router
   * sent the error. An error does not refresh the session. */
  key_addr (&s->out, key_b (&s->out), &proxy);
  fz_ip_packet_set_src (pkt, &proxy);
  return FZ_NAT_TRANSLATED;
}
