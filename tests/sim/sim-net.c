#include "sim-net.h"

#include <string.h>

#define HOST_PORT  52625
#define TURN_PORT  3478
#define TURN_USER  "sim"
#define TURN_PASS  "secret"
#define TURN_REALM "sim"

typedef struct
{
  FzSockAddr src, dst;
  guint8 *data;
  gsize len;
  gint64 at;
  guint64 seq;  /* the queue's order among datagrams due at the same time */
  guint64 sent; /* the order it was put on the wire in (shared by its copy) */
  guint64 tag;  /* of the host's send it comes from */
  gboolean copy;
} Packet;

typedef struct
{
  guint16 port;
  GHashTable *allowed; /* "ip" (AD) or "ip:port" (symmetric) */
} Mapping;

struct _SimHost
{
  SimNet *net;
  FzSockAddr addr; /* private, or public when there is no NAT */
  SimNatKind nat;
  gboolean random_ports, firewall;
  FzIpAddr public_ip;
  GHashTable *map_out; /* "" or "ip:port" -> Mapping* */
  GHashTable *map_in;  /* public port -> Mapping* */
  SimRecvFn recv;
  gpointer user_data;
  GHashTable *last_in; /* source (ip << 16 | port) -> latest send order received + 1 */
  GHashTable *retired; /* public ports of mappings a rebinding dropped */
};

typedef struct
{
  FzSockAddr client;
  guint8 tid[FZ_STUN_TID_LEN]; /* of the ALLOCATE that made it */
  guint16 port;
  GHashTable *perms;      /* peer ip strings */
  GHashTable *ch_by_num;  /* number -> FzSockAddr* */
  GHashTable *ch_by_peer; /* "ip:port" -> number */
} Alloc;

typedef struct
{
  FzSockAddr addr;
  gboolean dead;
  gint64 delay;
  gboolean data_indications; /* peer data as Data indications, never ChannelData */
  GHashTable *allocs;        /* client "ip:port" -> Alloc* */
  GHashTable *by_port;       /* relayed port -> Alloc* */
  guint16 next_port;
  guint8 key[16];
} Relay;

struct _SimNet
{
  FzRng rng;
  gint64 now;
  double loss;
  gint64 latency, jitter;
  double duplicate, reorder;
  gint64 duplicate_delay, reorder_delay;
  GSequence *queue; /* Packet*, by time then sequence */
  guint64 seq, sent;
  guint64 tag;        /* of the datagram being handled (0: none) */
  GArray *delivered;  /* guint, by tag: copies handed to a host */
  guint n_duplicated; /* copies handed to a host */
  guint n_reordered;  /* handed to a host after one sent later from the same source */
  GPtrArray *hosts;
  GPtrArray *relays;
  GArray *allowed;   /* FzIpAddr: what firewalls let through */
  GHashTable *by_ip; /* public IPv4 address (as guint32) -> SimHost* */
  gboolean trace;    /* FZ_SIM_TRACE: every delivery on stderr */
  SimTapFn tap;
  gpointer tap_data;
};

static const char *const nat_names[]
  = { "public", "endpoint-independent", "address-dependent", "symmetric" };

const char *
sim_nat_kind_name (SimNatKind kind)
{
  return nat_names[kind];
}

static char *
addr_key (const FzSockAddr *a)
{
  char s[FZ_SOCK_ADDR_STRLEN];
  return g_strdup (fz_sock_addr_to_string (a, s));
}

static char *
ip_key (const FzIpAddr *ip)
{
  char s[FZ_IP_ADDR_STRLEN];
  return g_strdup (fz_ip_addr_to_string (ip, s));
}

static void
set_ip (FzIpAddr *ip, guint8 a, guint8 b, guint8 c, guint8 d)
{
  guint8 bytes[4] = { a, b, c, d };
  fz_ip_addr_set_v4 (ip, bytes);
}

static guint32
ip_u32 (const FzIpAddr *ip)
{
  return (guint32) ip->bytes[0] << 24 | ip->bytes[1] << 16 | ip->bytes[2] << 8
         | ip->bytes[3];
}

static void
mapping_free (Mapping *m)
{
  g_hash_table_unref (m->allowed);
  g_free (m);
}

static void
alloc_free (Alloc *a)
{
  g_hash_table_unref (a->perms);
  g_hash_table_unref (a->ch_by_num);
  g_hash_table_unref (a->ch_by_peer);
  g_free (a);
}

static void
host_free (SimHost *h)
{
  g_hash_table_unref (h->map_out);
  g_hash_table_unref (h->map_in);
  g_hash_table_unref (h->last_in);
  g_hash_table_unref (h->retired);
  g_free (h);
}

static void
relay_free (Relay *r)
{
  g_hash_table_unref (r->allocs);
  g_hash_table_unref (r->by_port);
  g_free (r);
}

static void
packet_free (Packet *p)
{
  g_free (p->data);
  g_free (p);
}

static gint
packet_cmp (gconstpointer a, gconstpointer b, gpointer unused)
{
  const Packet *x = a, *y = b;
  if (x->at != y->at)
    return x->at < y->at ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

SimNet *
sim_net_new (guint64 seed)
{
  SimNet *net = g_new0 (SimNet, 1);
  fz_rng_init_seeded (&net->rng, seed);
  net->now = 1000 * G_USEC_PER_SEC;
  net->latency = 20 * 1000;
  net->queue = g_sequence_new (NULL);
  net->hosts = g_ptr_array_new_with_free_func ((GDestroyNotify) host_free);
  net->relays = g_ptr_array_new_with_free_func ((GDestroyNotify) relay_free);
  net->allowed = g_array_new (FALSE, FALSE, sizeof (FzIpAddr));
  net->by_ip = g_hash_table_new (g_direct_hash, g_direct_equal);
  net->delivered = g_array_new (FALSE, TRUE, sizeof (guint));
  g_array_set_size (net->delivered, 1);
  net->trace = g_getenv ("FZ_SIM_TRACE") != NULL;
  return net;
}

void
sim_net_free (SimNet *net)
{
  for (GSequenceIter *i = g_sequence_get_begin_iter (net->queue);
       !g_sequence_iter_is_end (i); i = g_sequence_iter_next (i))
    packet_free (g_sequence_get (i));
  g_sequence_free (net->queue);
  g_ptr_array_unref (net->hosts);
  g_ptr_array_unref (net->relays);
  g_array_unref (net->allowed);
  g_hash_table_unref (net->by_ip);
  g_array_unref (net->delivered);
  g_free (net);
}

FzRng *
sim_net_rng (SimNet *net)
{
  return &net->rng;
}

gint64
sim_net_now (SimNet *net)
{
  return net->now;
}

void
sim_net_set_loss (SimNet *net, double loss)
{
  net->loss = loss;
}

void
sim_net_set_latency (SimNet *net, gint64 base, gint64 jitter)
{
  net->latency = base;
  net->jitter = jitter;
}

void
sim_net_set_duplication (SimNet *net, double p, gint64 max_delay)
{
  net->duplicate = p;
  net->duplicate_delay = max_delay;
}

void
sim_net_set_reordering (SimNet *net, double p, gint64 max_delay)
{
  net->reorder = p;
  net->reorder_delay = max_delay;
}

guint
sim_net_delivered (SimNet *net, guint64 tag)
{
  g_return_val_if_fail (tag > 0 && tag < net->delivered->len, 0);
  return g_array_index (net->delivered, guint, tag);
}

void
sim_net_stats (SimNet *net, guint *duplicated, guint *reordered)
{
  *duplicated = net->n_duplicated;
  *reordered = net->n_reordered;
}

SimHost *
sim_net_add_host (SimNet *net, SimNatKind nat, gboolean random_ports, gboolean firewall,
                  SimRecvFn recv, gpointer user_data)
{
  SimHost *h = g_new0 (SimHost, 1);
  guint n = net->hosts->len + 1;
  h->net = net;
  h->nat = nat;
  h->random_ports = random_ports;
  h->firewall = firewall;
  h->recv = recv;
  h->user_data = user_data;
  h->addr.port = HOST_PORT;
  /* Up to 65535 hosts: public ones in 198.18.0.0/16, NATs' outsides in
   * 198.19.0.0/16 (the benchmarking ranges), insides in 10.0.0.0/8. */
  guint8 hi = (guint8) (n >> 8), lo = (guint8) (n & 0xff);
  if (nat == SIM_NAT_NONE)
    {
      set_ip (&h->addr.ip, 198, 18, hi, lo);
      h->public_ip = h->addr.ip;
    }
  else
    {
      set_ip (&h->addr.ip, 10, hi, lo, 2);
      set_ip (&h->public_ip, 198, 19, hi, lo);
    }
  g_hash_table_insert (net->by_ip, GUINT_TO_POINTER (ip_u32 (&h->public_ip)), h);
  h->map_out = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify) mapping_free);
  h->map_in = g_hash_table_new (g_direct_hash, g_direct_equal);
  h->last_in = g_hash_table_new (g_direct_hash, g_direct_equal);
  h->retired = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_ptr_array_add (net->hosts, h);
  return h;
}

const FzSockAddr *
sim_host_address (SimHost *host)
{
  return &host->addr;
}

void
sim_net_allow (SimNet *net, const FzIpAddr *addr)
{
  g_array_append_val (net->allowed, *addr);
}

static gboolean
allowed (SimNet *net, const FzIpAddr *ip)
{
  for (guint i = 0; i < net->allowed->len; i++)
    if (fz_ip_addr_equal (&g_array_index (net->allowed, FzIpAddr, i), ip))
      return TRUE;
  return FALSE;
}

static gboolean
chance (SimNet *net, double p)
{
  return p > 0 && fz_rng_below (&net->rng, 1000000) < p * 1000000;
}

static gint64
up_to (SimNet *net, gint64 max)
{
  return max > 0 ? fz_rng_below (&net->rng, (guint32) max) : 0;
}

/* Puts one copy of a datagram on the wire (after loss and latency). */
static void
wire_copy (SimNet *net, const FzSockAddr *src, const FzSockAddr *dst, const guint8 *data,
           gsize len, gboolean copy)
{
  if (chance (net, net->loss))
    return;
  Packet *p = g_new0 (Packet, 1);
  p->src = *src;
  p->dst = *dst;
  p->data = g_memdup2 (data, len);
  p->len = len;
  p->tag = net->tag;
  p->copy = copy;
  p->sent = net->sent;
  p->at = net->now + net->latency + up_to (net, net->jitter);
  /* Held back (overtaken by later ones), or a copy that comes late: a
   * replay. */
  if (chance (net, net->reorder))
    p->at += up_to (net, net->reorder_delay);
  if (copy)
    p->at += up_to (net, net->duplicate_delay);
  for (guint i = 0; i < net->relays->len; i++)
    {
      Relay *r = net->relays->pdata[i];
      if (fz_ip_addr_equal (&r->addr.ip, &src->ip)
          || fz_ip_addr_equal (&r->addr.ip, &dst->ip))
        p->at += r->delay;
    }
  p->seq = net->seq++;
  g_sequence_insert_sorted (net->queue, p, packet_cmp, NULL);
}

/* Puts a datagram on the wire, maybe twice. */
static void
wire (SimNet *net, const FzSockAddr *src, const FzSockAddr *dst, const guint8 *data,
      gsize len)
{
  net->sent++;
  wire_copy (net, src, dst, data, len, FALSE);
  if (chance (net, net->duplicate))
    wire_copy (net, src, dst, data, len, TRUE);
}

static void
host_send (SimHost *h, const FzSockAddr *dst, const guint8 *data, gsize len)
{
  SimNet *net = h->net;
  if (h->firewall && !allowed (net, &dst->ip))
    return;
  if (h->nat == SIM_NAT_NONE)
    {
      wire (net, &h->addr, dst, data, len);
      return;
    }
  g_autofree char *key = h->nat == SIM_NAT_SYMMETRIC ? addr_key (dst) : g_strdup ("");
  Mapping *m = g_hash_table_lookup (h->map_out, key);
  if (m == NULL)
    {
      m = g_new0 (Mapping, 1);
      m->allowed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      guint16 port = h->random_ports ? 0 : HOST_PORT;
      while (port < 1024 || g_hash_table_contains (h->map_in, GUINT_TO_POINTER (port))
             || g_hash_table_contains (h->retired, GUINT_TO_POINTER (port)))
        port = (guint16) (1024 + fz_rng_below (&net->rng, 64511));
      m->port = port;
      g_hash_table_insert (h->map_out, g_strdup (key), m);
      g_hash_table_insert (h->map_in, GUINT_TO_POINTER (port), m);
    }
  if (h->nat == SIM_NAT_AD)
    g_hash_table_add (m->allowed, ip_key (&dst->ip));
  else if (h->nat == SIM_NAT_SYMMETRIC)
    g_hash_table_add (m->allowed, addr_key (dst));
  FzSockAddr src = { .ip = h->public_ip, .port = m->port };
  wire (net, &src, dst, data, len);
}

gboolean
sim_host_rebind (SimHost *h)
{
  GHashTableIter it;
  gpointer port;

  if (h->nat == SIM_NAT_NONE)
    return FALSE;
  g_hash_table_iter_init (&it, h->map_in);
  while (g_hash_table_iter_next (&it, &port, NULL))
    g_hash_table_add (h->retired, port);
  g_hash_table_remove_all (h->map_in);
  g_hash_table_remove_all (h->map_out);
  return TRUE;
}

/* Tags the send (tags start at 1), so that its fate can be asked. */
guint64
sim_host_send (SimHost *h, const FzSockAddr *dst, const guint8 *data, gsize len)
{
  SimNet *net = h->net;
  guint64 outer = net->tag;
  net->tag = net->delivered->len;
  g_array_set_size (net->delivered, net->tag + 1);
  host_send (h, dst, data, len);
  guint64 tag = net->tag;
  net->tag = outer;
  return tag;
}

/* TURN */

const FzSockAddr *
sim_net_add_relay (SimNet *net)
{
  Relay *r = g_new0 (Relay, 1);
  set_ip (&r->addr.ip, 192, 0, 2, (guint8) (net->relays->len + 1));
  r->addr.port = TURN_PORT;
  r->allocs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                     (GDestroyNotify) alloc_free);
  r->by_port = g_hash_table_new (g_direct_hash, g_direct_equal);
  r->next_port = 50000;
  /* Every second relay delivers peer data as Data indications, so seeded
   * worlds meet both kinds. */
  r->data_indications = net->relays->len % 2 == 1;
  fz_stun_long_term_key (TURN_USER, TURN_REALM, TURN_PASS, r->key);
  g_ptr_array_add (net->relays, r);
  sim_net_allow (net, &r->addr.ip);
  return &r->addr;
}

void
sim_net_set_relay_delay (SimNet *net, const FzSockAddr *server, gint64 delay)
{
  for (guint i = 0; i < net->relays->len; i++)
    {
      Relay *r = net->relays->pdata[i];
      if (fz_ip_addr_equal (&r->addr.ip, &server->ip))
        r->delay = delay;
    }
}

void
sim_net_set_relay_data_indications (SimNet *net, const FzSockAddr *server, gboolean on)
{
  for (guint i = 0; i < net->relays->len; i++)
    {
      Relay *r = net->relays->pdata[i];
      if (fz_ip_addr_equal (&r->addr.ip, &server->ip))
        r->data_indications = on;
    }
}

void
sim_net_set_tap (SimNet *net, SimTapFn tap, gpointer user_data)
{
  net->tap = tap;
  net->tap_data = user_data;
}

void
sim_net_remove_relay (SimNet *net, const FzSockAddr *server)
{
  for (guint i = 0; i < net->relays->len; i++)
    {
      Relay *r = net->relays->pdata[i];
      if (fz_ip_addr_equal (&r->addr.ip, &server->ip))
        r->dead = TRUE;
    }
}

void
sim_net_restart_relay (SimNet *net, const FzSockAddr *server)
{
  for (guint i = 0; i < net->relays->len; i++)
    {
      Relay *r = net->relays->pdata[i];
      if (fz_ip_addr_equal (&r->addr.ip, &server->ip))
        {
          g_hash_table_remove_all (r->by_port);
          g_hash_table_remove_all (r->allocs);
        }
    }
}

static void
turn_reply (SimNet *net, Relay *r, const FzSockAddr *to, const FzStunMessage *req,
            guint error, Alloc *a, guint32 lifetime, gboolean integrity)
{
  guint8 buf[512];
  FzStunWriter w;
  fz_stun_writer_init (&w, buf, sizeof buf, req->method,
                       error ? FZ_STUN_ERROR : FZ_STUN_SUCCESS, req->tid);
  if (error)
    {
      fz_stun_writer_add_error (&w, error, "Error");
      if (error == 401)
        {
          fz_stun_writer_add_string (&w, FZ_STUN_ATTR_REALM, TURN_REALM);
          fz_stun_writer_add_string (&w, FZ_STUN_ATTR_NONCE, "sim-nonce");
        }
    }
  if (a != NULL && req->method == FZ_STUN_ALLOCATE)
    {
      FzSockAddr relayed = { .ip = r->addr.ip, .port = a->port };
      fz_stun_writer_add_xor_address (&w, FZ_STUN_ATTR_XOR_RELAYED_ADDRESS, &relayed);
    }
  if (!error && (req->method == FZ_STUN_BINDING || req->method == FZ_STUN_ALLOCATE))
    fz_stun_writer_add_xor_address (&w, FZ_STUN_ATTR_XOR_MAPPED_ADDRESS, to);
  if (lifetime)
    fz_stun_writer_add_u32 (&w, FZ_STUN_ATTR_LIFETIME, lifetime);
  if (integrity)
    fz_stun_writer_add_integrity (&w, r->key, sizeof r->key);
  fz_stun_writer_add_fingerprint (&w);
  wire (net, &r->addr, to, buf, fz_stun_writer_finish (&w));
}

static void
turn_request (SimNet *net, Relay *r, const FzSockAddr *from, const FzStunMessage *m)
{
  if (m->method == FZ_STUN_BINDING)
    {
      turn_reply (net, r, from, m, 0, NULL, 0, FALSE);
      return;
    }
  if (!fz_stun_message_has (m, FZ_STUN_ATTR_USERNAME)
      || !fz_stun_message_check_integrity (m, r->key, sizeof r->key))
    {
      turn_reply (net, r, from, m, 401, NULL, 0, FALSE);
      return;
    }
  g_autofree char *ck = addr_key (from);
  Alloc *a = g_hash_table_lookup (r->allocs, ck);
  switch (m->method)
    {
    case FZ_STUN_ALLOCATE:
      if (a != NULL)
        {
          /* A retransmission of the request that made it gets the same
           * answer (RFC 8656 7.2); anything else is a mismatch. */
          gboolean again = memcmp (a->tid, m->tid, FZ_STUN_TID_LEN) == 0;
          turn_reply (net, r, from, m, again ? 0 : 437, again ? a : NULL, again ? 600 : 0,
                      TRUE);
          return;
        }
      a = g_new0 (Alloc, 1);
      a->client = *from;
      memcpy (a->tid, m->tid, FZ_STUN_TID_LEN);
      a->port = r->next_port++;
      a->perms = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      a->ch_by_num = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
      a->ch_by_peer = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (r->allocs, g_strdup (ck), a);
      g_hash_table_insert (r->by_port, GUINT_TO_POINTER (a->port), a);
      turn_reply (net, r, from, m, 0, a, 600, TRUE);
      return;
    case FZ_STUN_REFRESH:
      {
        guint32 lifetime = 600;
        fz_stun_message_get_u32 (m, FZ_STUN_ATTR_LIFETIME, &lifetime);
        if (a == NULL)
          {
            turn_reply (net, r, from, m, 437, NULL, 0, TRUE);
            return;
          }
        if (lifetime == 0)
          {
            g_hash_table_remove (r->by_port, GUINT_TO_POINTER (a->port));
            g_hash_table_remove (r->allocs, ck);
          }
        turn_reply (net, r, from, m, 0, NULL, lifetime ? 600 : 0, TRUE);
        return;
      }
    case FZ_STUN_CHANNEL_BIND:
      {
        guint16 ch;
        FzSockAddr peer;
        if (a == NULL)
          {
            turn_reply (net, r, from, m, 437, NULL, 0, TRUE);
            return;
          }
        if (!fz_stun_message_get_channel (m, &ch)
            || !fz_stun_message_get_xor_address (m, FZ_STUN_ATTR_XOR_PEER_ADDRESS, 0,
                                                 &peer))
          {
            turn_reply (net, r, from, m, 400, NULL, 0, TRUE);
            return;
          }
        g_hash_table_insert (a->ch_by_num, GUINT_TO_POINTER (ch),
                             g_memdup2 (&peer, sizeof peer));
        g_hash_table_insert (a->ch_by_peer, addr_key (&peer), GUINT_TO_POINTER (ch));
        g_hash_table_add (a->perms, ip_key (&peer.ip));
        turn_reply (net, r, from, m, 0, NULL, 0, TRUE);
        return;
      }
    default: return;
    }
}

static void
turn_input (SimNet *net, Relay *r, const Packet *p)
{
  if (p->dst.port == TURN_PORT)
    {
      guint16 ch;
      const guint8 *payload;
      gsize plen;
      if (fz_channel_data_parse (p->data, p->len, &ch, &payload, &plen))
        {
          g_autofree char *ck = addr_key (&p->src);
          Alloc *a = g_hash_table_lookup (r->allocs, ck);
          const FzSockAddr *peer
            = a ? g_hash_table_lookup (a->ch_by_num, GUINT_TO_POINTER (ch)) : NULL;
          if (peer != NULL)
            {
              FzSockAddr relayed = { .ip = r->addr.ip, .port = a->port };
              wire (net, &relayed, peer, payload, plen);
            }
          return;
        }
      FzStunMessage m;
      if (fz_stun_message_parse (&m, p->data, p->len, NULL) && m.klass == FZ_STUN_REQUEST)
        turn_request (net, r, &p->src, &m);
      return;
    }
  /* To a relayed address, from a peer. */
  Alloc *a = g_hash_table_lookup (r->by_port, GUINT_TO_POINTER (p->dst.port));
  g_autofree char *pk = ip_key (&p->src.ip);
  if (a == NULL || !g_hash_table_contains (a->perms, pk))
    return;
  g_autofree char *peer = addr_key (&p->src);
  gpointer ch;
  if (!r->data_indications
      && g_hash_table_lookup_extended (a->ch_by_peer, peer, NULL, &ch))
    {
      guint8 *buf = g_malloc (p->len + 4);
      fz_channel_data_write_header (buf, (guint16) GPOINTER_TO_UINT (ch), p->len);
      memcpy (buf + 4, p->data, p->len);
      wire (net, &r->addr, &a->client, buf, p->len + 4);
      g_free (buf);
      return;
    }
  guint8 buf[2048];
  static const guint8 tid[12] = { 7 };
  FzStunWriter w;
  fz_stun_writer_init (&w, buf, sizeof buf, FZ_STUN_DATA, FZ_STUN_INDICATION, tid);
  fz_stun_writer_add_xor_address (&w, FZ_STUN_ATTR_XOR_PEER_ADDRESS, &p->src);
  fz_stun_writer_add (&w, FZ_STUN_ATTR_DATA, p->data, p->len);
  gsize n = fz_stun_writer_finish (&w);
  if (n > 0)
    wire (net, &r->addr, &a->client, buf, n);
}

/* Hands a datagram to its host, counting copies and reordering. */
static void
host_recv (SimNet *net, SimHost *h, const Packet *p)
{
  g_array_index (net->delivered, guint, p->tag)++;
  if (p->copy)
    net->n_duplicated++;
  gpointer src = GSIZE_TO_POINTER ((gsize) ip_u32 (&p->src.ip) << 16 | p->src.port);
  guint64 latest = GPOINTER_TO_SIZE (g_hash_table_lookup (h->last_in, src));
  if (!p->copy && p->sent + 1 < latest)
    net->n_reordered++;
  if (p->sent + 1 > latest)
    g_hash_table_insert (h->last_in, src, GSIZE_TO_POINTER (p->sent + 1));
  h->recv (h, &h->addr, &p->src, p->data, p->len, h->user_data);
}

static void
deliver (SimNet *net, Packet *p)
{
  if (net->tap != NULL)
    net->tap (&p->src, &p->dst, p->data, p->len, net->tap_data);
  if (net->trace)
    {
      char a[FZ_SOCK_ADDR_STRLEN], b[FZ_SOCK_ADDR_STRLEN];
      g_printerr ("%8.3f %s -> %s %zu bytes (0x%02x)\n",
                  (p->at - 1000 * G_USEC_PER_SEC) / 1e6,
                  fz_sock_addr_to_string (&p->src, a),
                  fz_sock_addr_to_string (&p->dst, b), p->len, p->data[0]);
    }
  /* What a relay forwards keeps the tag of what it got. */
  net->tag = p->tag;
  for (guint i = 0; i < net->relays->len; i++)
    {
      Relay *r = net->relays->pdata[i];
      if (fz_ip_addr_equal (&r->addr.ip, &p->dst.ip))
        {
          if (!r->dead)
            turn_input (net, r, p);
          net->tag = 0;
          return;
        }
    }
  net->tag = 0;
  SimHost *h = g_hash_table_lookup (net->by_ip, GUINT_TO_POINTER (ip_u32 (&p->dst.ip)));
  if (h == NULL || (h->firewall && !allowed (net, &p->src.ip)))
    return;
  if (h->nat == SIM_NAT_NONE)
    {
      if (fz_sock_addr_equal (&h->addr, &p->dst))
        host_recv (net, h, p);
      return;
    }
  Mapping *m = g_hash_table_lookup (h->map_in, GUINT_TO_POINTER (p->dst.port));
  if (m == NULL)
    return;
  g_autofree char *key = h->nat == SIM_NAT_AD ? ip_key (&p->src.ip) : addr_key (&p->src);
  if (h->nat != SIM_NAT_EI && !g_hash_table_contains (m->allowed, key))
    return;
  host_recv (net, h, p);
}

void
sim_net_run (SimNet *net, gint64 until, SimTimerFn timers, gpointer user_data)
{
  for (;;)
    {
      gint64 next = timers (user_data, net->now);
      GSequenceIter *head = g_sequence_get_begin_iter (net->queue);
      if (!g_sequence_iter_is_end (head))
        next = MIN (next, ((Packet *) g_sequence_get (head))->at);
      if (next > until)
        {
          net->now = MAX (net->now, until);
          return;
        }
      net->now = MAX (net->now, next);
      while (!g_sequence_iter_is_end (head = g_sequence_get_begin_iter (net->queue)))
        {
          Packet *p = g_sequence_get (head);
          if (p->at > net->now)
            break;
          g_sequence_remove (head);
          deliver (net, p);
          packet_free (p);
        }
    }
}
