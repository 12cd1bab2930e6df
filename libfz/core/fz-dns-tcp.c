#include "fz-dns-tcp-private.h"

#include "fz-timer-heap-private.h"

#include <string.h>

#define WINDOW     8192              /* what we advertise, less what is buffered */
#define MAX_RESETS 64                /* queued RSTs for segments of no connection */
#define TX_CAP     (2 * (65535 + 2)) /* answers the application has not taken */

/* Sequence numbers compare modulo 2^32. */
#define SEQ_LT(a, b) ((gint32) ((a) - (b)) < 0)
#define SEQ_LE(a, b) ((gint32) ((a) - (b)) <= 0)

typedef struct
{
  FzIpAddr app, sentinel;
  guint16 app_port;
} Key;

typedef enum
{
  SYN_RECEIVED,
  ESTABLISHED,
} State;

typedef struct
{
  Key key;
  guint64 handle;
  State state;
  FzTimer timer;
  GList dirty; /* in FzDnsTcp.dirty while it has something to send */

  guint32 iss, snd_una, snd_nxt;
  guint32 tx_base; /* sequence number of tx->data[0] */
  guint16 snd_wnd, mss;
  GByteArray *tx; /* sent but unacknowledged, then unsent */
  gboolean fin_sent, ack_now;

  guint32 irs, rcv_nxt;
  GByteArray *rx; /* a DNS message still incomplete */
  gboolean fin_received;
  guint pending; /* queries handed out, not yet answered */

  gint64 rto, rto_deadline, idle_deadline;
  guint retries;
} Conn;

typedef struct
{
  Key key;
  guint32 seq, ack;
  guint8 flags;
} Reset;

struct _FzDnsTcp
{
  FzRng *rng;
  guint16 mss4, mss6;
  GHashTable *by_key;    /* Key* → Conn* (owned) */
  GHashTable *by_handle; /* guint64* → Conn* */
  guint64 next_handle;
  FzTimerHeap *timers;
  GQueue dirty;   /* Conn*, through Conn.dirty */
  GQueue queries; /* FzDnsTcpQuery* */
  Reset resets[MAX_RESETS];
  guint n_resets;
};

static guint
key_hash (gconstpointer p)
{
  const Key *k = p;
  return fz_ip_addr_hash (&k->app) ^ fz_ip_addr_hash (&k->sentinel) * 31 ^ k->app_port;
}

static gboolean
key_equal (gconstpointer a, gconstpointer b)
{
  const Key *x = a, *y = b;
  return x->app_port == y->app_port && fz_ip_addr_equal (&x->app, &y->app)
         && fz_ip_addr_equal (&x->sentinel, &y->sentinel);
}

static void
conn_free (gpointer p)
{
  Conn *c = p;
  g_byte_array_unref (c->tx);
  g_byte_array_unref (c->rx);
  g_free (c);
}

FzDnsTcp *
fz_dns_tcp_new (FzRng *rng, gsize mtu)
{
  FzDnsTcp *tcp = g_new0 (FzDnsTcp, 1);

  g_return_val_if_fail (mtu >= 1280 && mtu <= 65535, NULL);
  tcp->rng = rng;
  tcp->mss4 = (guint16) (mtu - 40);
  tcp->mss6 = (guint16) (mtu - 60);
  tcp->by_key = g_hash_table_new_full (key_hash, key_equal, NULL, conn_free);
  tcp->by_handle = g_hash_table_new (g_int64_hash, g_int64_equal);
  tcp->timers = fz_timer_heap_new ();
  tcp->next_handle = 1;
  return tcp;
}

void
fz_dns_tcp_free (FzDnsTcp *tcp)
{
  FzDnsTcpQuery *q;

  if (tcp == NULL)
    return;
  while ((q = g_queue_pop_head (&tcp->queries)) != NULL)
    {
      fz_dns_tcp_query_clear (q);
      g_free (q);
    }
  g_hash_table_unref (tcp->by_handle);
  g_hash_table_unref (tcp->by_key);
  fz_timer_heap_free (tcp->timers);
  g_free (tcp);
}

void
fz_dns_tcp_query_clear (FzDnsTcpQuery *q)
{
  g_clear_pointer (&q->message, g_bytes_unref);
}

guint
fz_dns_tcp_n_connections (FzDnsTcp *tcp)
{
  return g_hash_table_size (tcp->by_key);
}

static void
mark_dirty (FzDnsTcp *tcp, Conn *c)
{
  if (c->dirty.data == NULL)
    {
      c->dirty.data = c;
      g_queue_push_tail_link (&tcp->dirty, &c->dirty);
    }
}

static void
unmark_dirty (FzDnsTcp *tcp, Conn *c)
{
  if (c->dirty.data != NULL)
    {
      g_queue_unlink (&tcp->dirty, &c->dirty);
      c->dirty.data = NULL;
    }
}

static void
queue_reset (FzDnsTcp *tcp, const Key *key, guint32 seq, guint32 ack, guint8 flags)
{
  /* A flood of stray segments costs a few RSTs, not memory. */
  if (tcp->n_resets < MAX_RESETS)
    tcp->resets[tcp->n_resets++] = (Reset){ *key, seq, ack, FZ_TCP_RST | flags };
}

static void
conn_remove (FzDnsTcp *tcp, Conn *c)
{
  unmark_dirty (tcp, c);
  fz_timer_heap_cancel (tcp->timers, &c->timer);
  g_hash_table_remove (tcp->by_handle, &c->handle);
  g_hash_table_remove (tcp->by_key, &c->key);
}

static void
conn_abort (FzDnsTcp *tcp, Conn *c)
{
  queue_reset (tcp, &c->key, c->snd_nxt, c->rcv_nxt, FZ_TCP_ACK);
  conn_remove (tcp, c);
}

/* Bytes and flags sent but not acknowledged: SYN, data, FIN. */
static gboolean
outstanding (const Conn *c)
{
  return c->snd_una != c->snd_nxt;
}

static gboolean
unsent_data (const Conn *c)
{
  return SEQ_LT (c->snd_nxt, c->tx_base + c->tx->len) || c->state == SYN_RECEIVED;
}

static void
reschedule (FzDnsTcp *tcp, Conn *c)
{
  gint64 d = c->idle_deadline;

  /* The retransmission timer also probes a zero window. */
  if (outstanding (c) || unsent_data (c))
    d = MIN (d, c->rto_deadline);
  fz_timer_heap_schedule (tcp->timers, &c->timer, d);
}

static void
parse_options (const guint8 *l4, guint16 *mss)
{
  guint len = (l4[12] >> 4) * 4u;

  for (guint i = 20; i < len;)
    {
      guint8 kind = l4[i];
      if (kind == 0)
        break;
      if (kind == 1)
        {
          i++;
          continue;
        }
      if (i + 1 >= len || l4[i + 1] < 2 || i + l4[i + 1] > len)
        break;
      if (kind == 2 && l4[i + 1] == 4)
        *mss = (guint16) (l4[i + 2] << 8 | l4[i + 3]);
      i += l4[i + 1];
    }
}

static guint32
be32 (const guint8 *p)
{
  return (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
}

static Conn *
conn_new (FzDnsTcp *tcp, const Key *key, const guint8 *l4, guint32 seq, gint64 now)
{
  Conn *c = g_new0 (Conn, 1);
  guint16 ours = key->app.family == 4 ? tcp->mss4 : tcp->mss6, theirs = 536;

  parse_options (l4, &theirs);
  c->key = *key;
  c->handle = tcp->next_handle++;
  c->state = SYN_RECEIVED;
  c->iss = fz_rng_u32 (tcp->rng);
  c->snd_una = c->snd_nxt = c->iss;
  c->tx_base = c->iss + 1;
  c->snd_wnd = (guint16) (l4[14] << 8 | l4[15]);
  c->mss = MAX (MIN (ours, theirs), 64);
  c->tx = g_byte_array_new ();
  c->rx = g_byte_array_new ();
  c->irs = seq;
  c->rcv_nxt = seq + 1;
  c->rto = FZ_DNS_TCP_INITIAL_RTO;
  c->rto_deadline = now + c->rto;
  c->idle_deadline = now + FZ_DNS_TCP_IDLE_TIMEOUT;
  g_hash_table_insert (tcp->by_key, &c->key, c);
  g_hash_table_insert (tcp->by_handle, &c->handle, c);
  return c;
}

/* A segment for no connection: a SYN opens one, anything but a RST is
 * answered with one (RFC 9293 3.10.7.1). */
static void
handle_unknown (FzDnsTcp *tcp, const Key *key, const guint8 *l4, guint32 seq,
                guint32 seg_len, guint8 flags, gint64 now)
{
  if (flags & FZ_TCP_RST)
    return;
  if ((flags & (FZ_TCP_SYN | FZ_TCP_ACK | FZ_TCP_FIN)) == FZ_TCP_SYN
      && g_hash_table_size (tcp->by_key) < FZ_DNS_TCP_MAX_CONNECTIONS)
    {
      mark_dirty (tcp, conn_new (tcp, key, l4, seq, now));
      return;
    }
  if (flags & FZ_TCP_ACK)
    queue_reset (tcp, key, be32 (l4 + 8), 0, 0);
  else
    queue_reset (tcp, key, 0, seq + seg_len, FZ_TCP_ACK);
}

static void
handle_ack (Conn *c, guint32 ack, guint16 window, gint64 now)
{
  if (!SEQ_LT (c->snd_una, ack) || SEQ_LT (c->snd_nxt, ack))
    {
      if (ack == c->snd_una)
        c->snd_wnd = window;
      return;
    }
  if (c->state == SYN_RECEIVED)
    c->state = ESTABLISHED;
  guint32 acked_data = MIN ((guint32) (ack - c->tx_base), c->tx->len);
  if (SEQ_LT (c->tx_base, ack))
    {
      g_byte_array_remove_range (c->tx, 0, acked_data);
      c->tx_base += acked_data;
    }
  c->snd_una = ack;
  c->snd_wnd = window;
  c->rto = FZ_DNS_TCP_INITIAL_RTO;
  c->retries = 0;
  c->rto_deadline = now + c->rto;
}

/* Whole messages out of the receive buffer, while the connection may
 * have more queries in flight. FALSE: a bad length, the connection is
 * reset. */
static gboolean
take_messages (FzDnsTcp *tcp, Conn *c)
{
  while (c->rx->len >= 2 && c->pending < FZ_DNS_TCP_MAX_PENDING)
    {
      guint n = c->rx->data[0] << 8 | c->rx->data[1];
      if (n == 0 || n > FZ_DNS_TCP_MAX_MESSAGE)
        return FALSE;
      if (c->rx->len < 2 + n)
        break;
      FzDnsTcpQuery *q = g_new0 (FzDnsTcpQuery, 1);
      q->handle = c->handle;
      q->app = c->key.app;
      q->sentinel = c->key.sentinel;
      q->app_port = c->key.app_port;
      q->message = g_bytes_new (c->rx->data + 2, n);
      g_queue_push_tail (&tcp->queries, q);
      g_byte_array_remove_range (c->rx, 0, 2 + n);
      c->pending++;
    }
  return TRUE;
}

static guint32
rx_room (const Conn *c)
{
  return c->rx->len < WINDOW ? WINDOW - c->rx->len : 0;
}

/* The part of the payload at rcv_nxt that fits; the rest is dropped
 * and the application sends it again. */
static void
accept_data (Conn *c, guint32 seq, const guint8 *data, guint32 len)
{
  if (len == 0 || SEQ_LT (c->rcv_nxt, seq) || SEQ_LE (seq + len, c->rcv_nxt))
    return;
  guint32 skip = c->rcv_nxt - seq;
  guint32 take = MIN (len - skip, rx_room (c));
  g_byte_array_append (c->rx, data + skip, take);
  c->rcv_nxt += take;
}

static void
handle_known (FzDnsTcp *tcp, Conn *c, const guint8 *l4, const guint8 *data, guint32 len,
              gint64 now)
{
  guint32 seq = be32 (l4 + 4);
  guint8 flags = l4[13];

  if (flags & FZ_TCP_RST)
    {
      /* Only a reset inside the window counts (RFC 5961 3.2, loosely). */
      if (SEQ_LE (c->rcv_nxt, seq) && SEQ_LT (seq, c->rcv_nxt + WINDOW))
        conn_remove (tcp, c);
      return;
    }
  if (flags & FZ_TCP_SYN)
    {
      /* A retransmitted SYN gets the SYN-ACK again; any other, an ACK. */
      if (c->state == SYN_RECEIVED && seq == c->irs)
        c->snd_nxt = c->iss;
      c->ack_now = TRUE;
      mark_dirty (tcp, c);
      return;
    }
  if (!(flags & FZ_TCP_ACK))
    return;
  c->idle_deadline = now + FZ_DNS_TCP_IDLE_TIMEOUT;
  handle_ack (c, be32 (l4 + 8), (guint16) (l4[14] << 8 | l4[15]), now);
  if (c->state == SYN_RECEIVED)
    return;

  accept_data (c, seq, data, len);
  if ((flags & FZ_TCP_FIN) && !c->fin_received && seq + len == c->rcv_nxt)
    {
      c->fin_received = TRUE;
      c->rcv_nxt++;
    }
  if (len > 0 || (flags & FZ_TCP_FIN))
    c->ack_now = TRUE;
  if (!take_messages (tcp, c))
    {
      conn_abort (tcp, c);
      return;
    }
  /* Our FIN acknowledged after theirs: closed. */
  if (c->fin_sent && c->fin_received && c->snd_una == c->snd_nxt)
    {
      conn_remove (tcp, c);
      return;
    }
  mark_dirty (tcp, c);
  reschedule (tcp, c);
}

void
fz_dns_tcp_handle_packet (FzDnsTcp *tcp, const FzIpPacket *pkt, gint64 now)
{
  Key key = { 0 };
  guint8 *l4;
  guint8 *data;
  guint32 len;
  Conn *c;

  g_return_if_fail (pkt->proto == FZ_IP_PROTO_TCP);
  l4 = fz_ip_packet_l4 (pkt);
  data = fz_ip_packet_payload (pkt, &len);
  fz_ip_packet_src (pkt, &key.app);
  fz_ip_packet_dst (pkt, &key.sentinel);
  key.app_port = fz_ip_packet_src_port (pkt);

  c = g_hash_table_lookup (tcp->by_key, &key);
  if (c == NULL)
    {
      guint8 flags = l4[13];
      guint32 seg_len = len + !!(flags & FZ_TCP_SYN) + !!(flags & FZ_TCP_FIN);
      handle_unknown (tcp, &key, l4, be32 (l4 + 4), seg_len, flags, now);
      c = g_hash_table_lookup (tcp->by_key, &key);
      if (c != NULL)
        reschedule (tcp, c);
      return;
    }
  handle_known (tcp, c, l4, data, len, now);
}

gboolean
fz_dns_tcp_poll_query (FzDnsTcp *tcp, FzDnsTcpQuery *out)
{
  FzDnsTcpQuery *q = g_queue_pop_head (&tcp->queries);

  if (q == NULL)
    return FALSE;
  *out = *q;
  g_free (q);
  return TRUE;
}

gboolean
fz_dns_tcp_answer (FzDnsTcp *tcp, guint64 handle, const guint8 *msg, gsize len,
                   gint64 now)
{
  Conn *c = g_hash_table_lookup (tcp->by_handle, &handle);
  guint8 prefix[2] = { len >> 8, len & 0xff };

  if (c == NULL || len == 0 || len > 65535 || c->pending == 0)
    return FALSE;
  if (c->tx->len + 2 + len > TX_CAP)
    {
      conn_abort (tcp, c);
      return FALSE;
    }
  g_byte_array_append (c->tx, prefix, 2);
  g_byte_array_append (c->tx, msg, (guint) len);
  c->pending--;
  c->idle_deadline = now + FZ_DNS_TCP_IDLE_TIMEOUT;
  if (!outstanding (c))
    c->rto_deadline = now + c->rto;
  /* A slot freed: queries held back may go out now. */
  if (!take_messages (tcp, c))
    {
      conn_abort (tcp, c);
      return TRUE;
    }
  mark_dirty (tcp, c);
  reschedule (tcp, c);
  return TRUE;
}

static gboolean
build (const Key *key, const FzTcpSegment *seg, const guint8 *payload, gsize len,
       FzPacketBuf *buf, FzIpPacket *out)
{
  g_autoptr (GError) error = NULL;

  if (!fz_ip_build_tcp (buf, out, &key->sentinel, &key->app, seg, payload, len, &error))
    {
      g_warning ("DNS over TCP: %s", error->message);
      return FALSE;
    }
  return TRUE;
}

/* The next segment of @c, or FALSE when it has nothing to send. */
static gboolean
next_segment (FzDnsTcp *tcp, Conn *c, FzPacketBuf *buf, FzIpPacket *out)
{
  FzTcpSegment seg = { .sport = 53,
                       .dport = c->key.app_port,
                       .seq = c->snd_nxt,
                       .ack = c->rcv_nxt,
                       .flags = FZ_TCP_ACK,
                       .window = (guint16) rx_room (c) };

  if (c->state == SYN_RECEIVED)
    {
      if (c->snd_nxt != c->iss)
        return FALSE;
      seg.flags |= FZ_TCP_SYN;
      seg.mss = c->key.app.family == 4 ? tcp->mss4 : tcp->mss6;
      c->snd_nxt = c->iss + 1;
      c->ack_now = FALSE;
      return build (&c->key, &seg, NULL, 0, buf, out);
    }

  guint32 offset = c->snd_nxt - c->tx_base;
  guint32 in_flight = c->snd_nxt - c->snd_una;
  guint32 room = c->snd_wnd > in_flight ? c->snd_wnd - in_flight : 0;
  /* With nothing in flight a closed window is probed with one byte. */
  if (room == 0 && in_flight == 0)
    room = 1;
  guint32 n = MIN (MIN (c->tx->len - MIN (offset, c->tx->len), room), c->mss);
  if (!c->fin_sent && n > 0)
    {
      c->snd_nxt += n;
      c->ack_now = FALSE;
      return build (&c->key, &seg, c->tx->data + offset, n, buf, out);
    }
  if (c->fin_received && !c->fin_sent && c->pending == 0 && offset == c->tx->len)
    {
      seg.flags |= FZ_TCP_FIN;
      c->fin_sent = TRUE;
      c->snd_nxt++;
      c->ack_now = FALSE;
      return build (&c->key, &seg, NULL, 0, buf, out);
    }
  if (c->ack_now)
    {
      c->ack_now = FALSE;
      return build (&c->key, &seg, NULL, 0, buf, out);
    }
  return FALSE;
}

gboolean
fz_dns_tcp_poll_packet (FzDnsTcp *tcp, FzPacketBuf *buf, FzIpPacket *out)
{
  Conn *c;

  if (tcp->n_resets > 0)
    {
      Reset r = tcp->resets[0];
      memmove (tcp->resets, tcp->resets + 1, --tcp->n_resets * sizeof r);
      FzTcpSegment seg = {
        .sport = 53, .dport = r.key.app_port, .seq = r.seq, .ack = r.ack, .flags = r.flags
      };
      return build (&r.key, &seg, NULL, 0, buf, out);
    }
  while ((c = g_queue_peek_head (&tcp->dirty)) != NULL)
    {
      if (next_segment (tcp, c, buf, out))
        return TRUE;
      unmark_dirty (tcp, c);
    }
  return FALSE;
}

gint64
fz_dns_tcp_poll_timeout (FzDnsTcp *tcp)
{
  return fz_timer_heap_next (tcp->timers);
}

/* Go back to the oldest unacknowledged byte (or the SYN, or the FIN). */
static void
retransmit (FzDnsTcp *tcp, Conn *c, gint64 now)
{
  if (++c->retries > FZ_DNS_TCP_MAX_RETRIES)
    {
      conn_abort (tcp, c);
      return;
    }
  /* A FIN goes out only after theirs, and its ACK closes: if one was
   * sent, it is unacknowledged. */
  c->snd_nxt = c->snd_una;
  c->fin_sent = FALSE;
  c->rto *= 2;
  c->rto_deadline = now + c->rto;
  mark_dirty (tcp, c);
  reschedule (tcp, c);
}

void
fz_dns_tcp_handle_timeout (FzDnsTcp *tcp, gint64 now)
{
  FzTimer *t;

  while ((t = fz_timer_heap_pop_due (tcp->timers, now)) != NULL)
    {
      Conn *c = FZ_TIMER_OWNER (t, Conn, timer);
      if (now >= c->idle_deadline)
        conn_abort (tcp, c);
      else if (now >= c->rto_deadline && (outstanding (c) || unsent_data (c)))
        retransmit (tcp, c, now);
      else
        reschedule (tcp, c);
    }
}
