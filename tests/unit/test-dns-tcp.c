/* DNS over TCP on the sentinels: an application's side of TCP played by
 * hand, segment by segment, against FzDnsTcp. */
#include "fz-private.h"
#include "fz-dns-tcp-private.h"

#include <string.h>

#define S (G_USEC_PER_SEC)

typedef struct
{
  FzRng rng;
  FzDnsTcp *tcp;
  FzPacketBuf *buf;
  FzIpAddr app, sentinel;
  guint16 port;
  guint32 seq; /* the application's next sequence number */
  guint32 ack; /* what it acknowledges: the server's next */
  guint32 iss;
  gint64 now;
} Fixture;

typedef struct
{
  guint32 seq, ack;
  guint8 flags;
  guint16 window, mss;
  guint8 data[2048];
  guint32 len;
} Seg;

static guint32
be32 (const guint8 *p)
{
  return (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
}

static void
setup_family (Fixture *f, int family)
{
  fz_rng_init_seeded (&f->rng, 7);
  f->tcp = fz_dns_tcp_new (&f->rng, 1280);
  f->buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 4096);
  g_assert_true (
    fz_ip_addr_parse (&f->app, family == 4 ? "100.64.0.2" : "fd00:2021:1111::2"));
  g_assert_true (fz_ip_addr_parse (
    &f->sentinel, family == 4 ? "100.100.111.1" : "fd00:2021:1111:8000:100:100:111:0"));
  f->port = 40000;
  f->seq = 1000;
  f->now = 5 * S;
}

static void
setup (Fixture *f, gconstpointer data)
{
  setup_family (f, GPOINTER_TO_INT (data) ? GPOINTER_TO_INT (data) : 4);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  fz_dns_tcp_free (f->tcp);
  fz_packet_buf_free (f->buf);
}

/* The application sends a segment from @port. */
static void
send_from (Fixture *f, guint16 port, guint32 seq, guint32 ack, guint8 flags,
           const void *data, gsize len)
{
  FzTcpSegment seg = { .sport = port,
                       .dport = 53,
                       .seq = seq,
                       .ack = ack,
                       .flags = flags,
                       .window = 65535,
                       .mss = (flags & FZ_TCP_SYN) ? 1240 : 0 };
  FzIpPacket pkt;

  g_assert_true (
    fz_ip_build_tcp (f->buf, &pkt, &f->app, &f->sentinel, &seg, data, len, NULL));
  fz_dns_tcp_handle_packet (f->tcp, &pkt, f->now);
}

static void
send_seg (Fixture *f, guint8 flags, const void *data, gsize len)
{
  send_from (f, f->port, f->seq, f->ack, flags, data, len);
  f->seq += (guint32) len + !!(flags & FZ_TCP_SYN) + !!(flags & FZ_TCP_FIN);
}

/* The next packet for the TUN, checked to be a well-formed answer to the
 * application; FALSE when there is none. */
static gboolean
recv_seg (Fixture *f, Seg *out)
{
  FzIpPacket pkt;
  FzIpAddr a;

  if (!fz_dns_tcp_poll_packet (f->tcp, f->buf, &pkt))
    return FALSE;
  g_assert_cmpuint (pkt.proto, ==, FZ_IP_PROTO_TCP);
  g_assert_true (fz_ip_packet_verify_l4_checksum (&pkt));
  fz_ip_packet_src (&pkt, &a);
  g_assert_true (fz_ip_addr_equal (&a, &f->sentinel));
  fz_ip_packet_dst (&pkt, &a);
  g_assert_true (fz_ip_addr_equal (&a, &f->app));
  g_assert_cmpuint (fz_ip_packet_src_port (&pkt), ==, 53);
  const guint8 *l4 = fz_ip_packet_l4 (&pkt);
  memset (out, 0, sizeof *out);
  out->seq = be32 (l4 + 4);
  out->ack = be32 (l4 + 8);
  out->flags = l4[13];
  out->window = (guint16) (l4[14] << 8 | l4[15]);
  if ((l4[12] >> 4) == 6 && l4[20] == 2)
    out->mss = (guint16) (l4[22] << 8 | l4[23]);
  guint8 *payload = fz_ip_packet_payload (&pkt, &out->len);
  g_assert_cmpuint (out->len, <=, sizeof out->data);
  memcpy (out->data, payload, out->len);
  return TRUE;
}

static void
assert_silent (Fixture *f)
{
  Seg s;
  g_assert_false (recv_seg (f, &s));
}

static void
handshake (Fixture *f)
{
  Seg s;

  send_seg (f, FZ_TCP_SYN, NULL, 0);
  g_assert_true (recv_seg (f, &s));
  g_assert_cmphex (s.flags, ==, FZ_TCP_SYN | FZ_TCP_ACK);
  g_assert_cmpuint (s.ack, ==, f->seq);
  g_assert_cmpuint (s.mss, ==, f->app.family == 4 ? 1240 : 1220);
  assert_silent (f);
  f->iss = s.seq;
  f->ack = s.seq + 1;
  send_seg (f, FZ_TCP_ACK, NULL, 0);
  assert_silent (f);
  g_assert_cmpuint (fz_dns_tcp_n_connections (f->tcp), ==, 1);
}

/* A query of @len bytes with its length prefix. */
static gsize
framed_query (guint8 *out, gsize len, guint8 fill)
{
  out[0] = len >> 8;
  out[1] = len & 0xff;
  memset (out + 2, fill, len);
  return len + 2;
}

static guint64
expect_query (Fixture *f, gsize len, guint8 fill)
{
  FzDnsTcpQuery q = { 0 };
  gsize n;

  g_assert_true (fz_dns_tcp_poll_query (f->tcp, &q));
  const guint8 *m = g_bytes_get_data (q.message, &n);
  g_assert_cmpuint (n, ==, len);
  for (gsize i = 0; i < n; i++)
    g_assert_cmpuint (m[i], ==, fill);
  g_assert_true (fz_ip_addr_equal (&q.app, &f->app));
  g_assert_true (fz_ip_addr_equal (&q.sentinel, &f->sentinel));
  g_assert_cmpuint (q.app_port, ==, f->port);
  guint64 h = q.handle;
  fz_dns_tcp_query_clear (&q);
  return h;
}

/* Receives data segments until bytes @from..@total of the framed answer
 * arrived in order; returns how many segments it took. */
static guint
expect_answer_from (Fixture *f, gsize from, gsize total, guint8 fill, guint16 max_seg)
{
  guint8 got[70000];
  gsize have = from;
  guint segs = 0;
  Seg s;

  while (have < total && recv_seg (f, &s))
    {
      g_assert_cmpuint (s.seq, ==, f->ack + have - from);
      g_assert_cmpuint (s.len, <=, max_seg);
      g_assert_cmpuint (s.len, >, 0);
      memcpy (got + have, s.data, s.len);
      have += s.len;
      segs++;
    }
  g_assert_cmpuint (have, ==, total);
  if (from == 0)
    g_assert_cmpuint (got[0] << 8 | got[1], ==, total - 2);
  for (gsize i = MAX (from, 2); i < total; i++)
    g_assert_cmpuint (got[i], ==, fill);
  f->ack += (guint32) (total - from);
  return segs;
}

static guint
expect_answer (Fixture *f, gsize total, guint8 fill, guint16 max_seg)
{
  return expect_answer_from (f, 0, total, fill, max_seg);
}

static void
test_query_answer_close (Fixture *f, gconstpointer data)
{
  guint8 q[64], a[3000];
  gsize qlen = framed_query (q, 30, 0xab);
  Seg s;

  (void) data;
  handshake (f);
  /* The length prefix split from the message: nothing until it is whole. */
  send_seg (f, FZ_TCP_ACK | 0x08, q, 5);
  g_assert_true (recv_seg (f, &s));
  g_assert_cmphex (s.flags, ==, FZ_TCP_ACK);
  g_assert_cmpuint (s.ack, ==, f->seq);
  g_assert_false (fz_dns_tcp_poll_query (f->tcp, &(FzDnsTcpQuery){ 0 }));
  send_seg (f, FZ_TCP_ACK, q + 5, qlen - 5);
  guint64 h = expect_query (f, 30, 0xab);
  g_assert_true (recv_seg (f, &s));
  g_assert_cmpuint (s.ack, ==, f->seq);

  /* The answer goes out in segments of the MSS. */
  gsize alen = framed_query (a, 2998, 0xcd);
  g_assert_true (fz_dns_tcp_answer (f->tcp, h, a + 2, alen - 2, f->now));
  g_assert_false (fz_dns_tcp_answer (f->tcp, h, a + 2, alen - 2, f->now));
  guint16 mss = f->app.family == 4 ? 1240 : 1220;
  g_assert_cmpuint (expect_answer (f, alen, 0xcd, mss), ==, 3);
  assert_silent (f);
  send_seg (f, FZ_TCP_ACK, NULL, 0);

  /* Nothing outstanding: the next timer is the idle one, no resend. */
  g_assert_cmpint (fz_dns_tcp_poll_timeout (f->tcp), ==,
                   f->now + FZ_DNS_TCP_IDLE_TIMEOUT);

  /* The application closes; so do we, and its ACK ends the connection. */
  send_seg (f, FZ_TCP_ACK | FZ_TCP_FIN, NULL, 0);
  g_assert_true (recv_seg (f, &s));
  g_assert_cmphex (s.flags, ==, FZ_TCP_ACK | FZ_TCP_FIN);
  g_assert_cmpuint (s.ack, ==, f->seq);
  g_assert_cmpuint (s.seq, ==, f->ack);
  f->ack++;
  assert_silent (f);
  send_seg (f, FZ_TCP_ACK, NULL, 0);
  g_assert_cmpuint (fz_dns_tcp_n_connections (f->tcp), ==, 0);
  g_assert_cmpint (fz_dns_tcp_poll_timeout (f->tcp), ==, G_MAXINT64);
  assert_silent (f);
}

/* Lost segments come again from the oldest unacknowledged byte, later
 * each time; after too many tries the connection is reset. */
static void
test_retransmit (Fixture *f, gconstpointer data)
{
  guint8 q[64], a[2000];
  Seg s;

  (void) data;
  handshake (f);
  send_seg (f, FZ_TCP_ACK, q, framed_query (q, 20, 1));
  guint64 h = expect_query (f, 20, 1);
  g_assert_true (recv_seg (f, &s)); /* the ACK */
  gsize alen = framed_query (a, 1500, 2);
  g_assert_true (fz_dns_tcp_answer (f->tcp, h, a + 2, alen - 2, f->now));
  guint32 first = f->ack;
  expect_answer (f, alen, 2, 1240);
  f->ack = first; /* all of it lost */

  gint64 rto = FZ_DNS_TCP_INITIAL_RTO;
  for (guint i = 0; i < FZ_DNS_TCP_MAX_RETRIES; i++)
    {
      g_assert_cmpint (fz_dns_tcp_poll_timeout (f->tcp), ==, f->now + rto);
      f->now += rto;
      fz_dns_tcp_handle_timeout (f->tcp, f->now);
      expect_answer (f, alen, 2, 1240);
      f->ack = first;
      rto *= 2;
    }
  /* Half of it arrives: only the rest is resent. */
  send_from (f, f->port, f->seq, first + 1240, FZ_TCP_ACK, NULL, 0);
  assert_silent (f);
  f->now += FZ_DNS_TCP_INITIAL_RTO;
  fz_dns_tcp_handle_timeout (f->tcp, f->now);
  g_assert_true (recv_seg (f, &s));
  g_assert_cmpuint (s.seq, ==, first + 1240);
  g_assert_cmpuint (s.len, ==, alen - 1240);
  assert_silent (f);
  for (guint i = 0; i <= FZ_DNS_TCP_MAX_RETRIES; i++)
    {
      f->now = fz_dns_tcp_poll_timeout (f->tcp);
      fz_dns_tcp_handle_timeout (f->tcp, f->now);
      while (recv_seg (f, &s) && !(s.flags & FZ_TCP_RST))
        ;
    }
  g_assert_cmphex (s.flags & FZ_TCP_RST, ==, FZ_TCP_RST);
  g_assert_cmpuint (fz_dns_tcp_n_connections (f->tcp), ==, 0);
  g_assert_false (fz_dns_tcp_answer (f->tcp, h, a + 2, 10, f->now));
}

static void
test_handshake_retransmit (Fixture *f, gconstpointer data)
{
  Seg s, again;

  (void) data;
  send_seg (f, FZ_TCP_SYN, NULL, 0);
  g_assert_true (recv_seg (f, &s));
  /* The application did not get it and sends its SYN again. */
  send_from (f, f->port, f->seq - 1, 0, FZ_TCP_SYN, NULL, 0);
  g_assert_true (recv_seg (f, &again));
  g_assert_cmpuint (again.seq, ==, s.seq);
  g_assert_cmphex (again.flags, ==, FZ_TCP_SYN | FZ_TCP_ACK);
  assert_silent (f);
  /* Or nothing at all: our timer resends it. */
  f->now = fz_dns_tcp_poll_timeout (f->tcp);
  fz_dns_tcp_handle_timeout (f->tcp, f->now);
  g_assert_true (recv_seg (f, &again));
  g_assert_cmphex (again.flags, ==, FZ_TCP_SYN | FZ_TCP_ACK);
  g_assert_cmpuint (again.seq, ==, s.seq);
  f->ack = s.seq + 1;
  send_seg (f, FZ_TCP_ACK, NULL, 0);
  assert_silent (f);
  g_assert_cmpint (fz_dns_tcp_poll_timeout (f->tcp), ==,
                   f->now + FZ_DNS_TCP_IDLE_TIMEOUT);
}

/* Segments of no connection get a RST (a RST gets nothing). */
static void
test_stray_segments (Fixture *f, gconstpointer data)
{
  Seg s;

  (void) data;
  send_from (f, 1111, 500, 777, FZ_TCP_ACK, "x", 1);
  g_assert_true (recv_seg (f, &s));
  g_assert_cmphex (s.flags, ==, FZ_TCP_RST);
  g_assert_cmpuint (s.seq, ==, 777);
  send_from (f, 1111, 500, 0, FZ_TCP_FIN, NULL, 0);
  g_assert_true (recv_seg (f, &s));
  g_assert_cmphex (s.flags, ==, FZ_TCP_RST | FZ_TCP_ACK);
  g_assert_cmpuint (s.ack, ==, 501);
  send_from (f, 1111, 500, 0, FZ_TCP_RST, NULL, 0);
  send_from (f, 1111, 500, 0, FZ_TCP_SYN | FZ_TCP_ACK, NULL, 0);
  g_assert_true (recv_seg (f, &s));
  g_assert_cmphex (s.flags, ==, FZ_TCP_RST);
  assert_silent (f);
  g_assert_cmpuint (fz_dns_tcp_n_connections (f->tcp), ==, 0);
  /* A flood of them queues a bounded number of RSTs. */
  for (guint i = 0; i < 10000; i++)
    send_from (f, (guint16) (2000 + i), i, i, FZ_TCP_ACK, NULL, 0);
  guint n = 0;
  while (recv_seg (f, &s))
    n++;
  g_assert_cmpuint (n, >, 0);
  g_assert_cmpuint (n, <=, 64);
}

static void
test_out_of_order (Fixture *f, gconstpointer data)
{
  guint8 q[64];
  gsize qlen = framed_query (q, 40, 9);
  Seg s;

  (void) data;
  handshake (f);
  /* The second half first: dropped, the ACK says what is missing. */
  send_from (f, f->port, f->seq + 10, f->ack, FZ_TCP_ACK, q + 10, qlen - 10);
  g_assert_true (recv_seg (f, &s));
  g_assert_cmpuint (s.ack, ==, f->seq);
  g_assert_false (fz_dns_tcp_poll_query (f->tcp, &(FzDnsTcpQuery){ 0 }));
  /* A retransmission overlapping what arrived adds only the new part. */
  send_seg (f, FZ_TCP_ACK, q, 10);
  g_assert_true (recv_seg (f, &s));
  send_from (f, f->port, f->seq - 5, f->ack, FZ_TCP_ACK, q + 5, qlen - 5);
  f->seq += (guint32) qlen - 10;
  expect_query (f, 40, 9);
  g_assert_true (recv_seg (f, &s));
  g_assert_cmpuint (s.ack, ==, f->seq);
}

/* The peer's window bounds what is in flight. */
static void
test_window (Fixture *f, gconstpointer data)
{
  guint8 q[64], a[3000];
  Seg s;

  (void) data;
  handshake (f);
  send_seg (f, FZ_TCP_ACK, q, framed_query (q, 20, 3));
  guint64 h = expect_query (f, 20, 3);
  g_assert_true (recv_seg (f, &s));
  FzTcpSegment small = { .sport = f->port,
                         .dport = 53,
                         .seq = f->seq,
                         .ack = f->ack,
                         .flags = FZ_TCP_ACK,
                         .window = 1000 };
  FzIpPacket pkt;
  g_assert_true (
    fz_ip_build_tcp (f->buf, &pkt, &f->app, &f->sentinel, &small, NULL, 0, NULL));
  fz_dns_tcp_handle_packet (f->tcp, &pkt, f->now);
  gsize alen = framed_query (a, 2500, 4);
  g_assert_true (fz_dns_tcp_answer (f->tcp, h, a + 2, alen - 2, f->now));
  g_assert_true (recv_seg (f, &s));
  g_assert_cmpuint (s.len, ==, 1000);
  assert_silent (f);
  f->ack += 1000;
  send_seg (f, FZ_TCP_ACK, NULL, 0); /* window 65535 again */
  expect_answer_from (f, 1000, alen, 4, 1220);
}

static void
test_limits (Fixture *f, gconstpointer data)
{
  guint8 q[FZ_DNS_TCP_MAX_MESSAGE + 8];
  Seg s;

  (void) data;
  /* A message longer than any query resets the connection. */
  handshake (f);
  q[0] = (FZ_DNS_TCP_MAX_MESSAGE + 1) >> 8;
  q[1] = (FZ_DNS_TCP_MAX_MESSAGE + 1) & 0xff;
  send_seg (f, FZ_TCP_ACK, q, 2);
  g_assert_true (recv_seg (f, &s));
  g_assert_cmphex (s.flags & FZ_TCP_RST, ==, FZ_TCP_RST);
  g_assert_cmpuint (fz_dns_tcp_n_connections (f->tcp), ==, 0);

  /* So does an empty one. */
  f->port++;
  f->seq = 5000;
  handshake (f);
  send_seg (f, FZ_TCP_ACK, "\0\0", 2);
  g_assert_true (recv_seg (f, &s));
  g_assert_cmphex (s.flags & FZ_TCP_RST, ==, FZ_TCP_RST);

  /* Queries beyond the unanswered limit wait for an answer. */
  f->port++;
  handshake (f);
  guint8 many[(FZ_DNS_TCP_MAX_PENDING + 1) * 22];
  gsize off = 0;
  for (guint i = 0; i <= FZ_DNS_TCP_MAX_PENDING; i++)
    off += framed_query (many + off, 20, (guint8) i);
  send_seg (f, FZ_TCP_ACK, many, off);
  guint64 h = 0;
  for (guint i = 0; i < FZ_DNS_TCP_MAX_PENDING; i++)
    h = expect_query (f, 20, (guint8) i);
  g_assert_false (fz_dns_tcp_poll_query (f->tcp, &(FzDnsTcpQuery){ 0 }));
  g_assert_true (fz_dns_tcp_answer (f->tcp, h, (const guint8 *) "abc", 3, f->now));
  expect_query (f, 20, FZ_DNS_TCP_MAX_PENDING);

  /* Connections: a bounded number, then RSTs. */
  fz_dns_tcp_free (f->tcp);
  f->tcp = fz_dns_tcp_new (&f->rng, 1280);
  for (guint i = 0; i <= FZ_DNS_TCP_MAX_CONNECTIONS; i++)
    send_from (f, (guint16) (10000 + i), 1, 0, FZ_TCP_SYN, NULL, 0);
  g_assert_cmpuint (fz_dns_tcp_n_connections (f->tcp), ==, FZ_DNS_TCP_MAX_CONNECTIONS);
  guint resets = 0;
  while (recv_seg (f, &s))
    resets += !!(s.flags & FZ_TCP_RST);
  g_assert_cmpuint (resets, ==, 1);

  /* Idle ones go away with a RST. */
  f->now += FZ_DNS_TCP_IDLE_TIMEOUT;
  fz_dns_tcp_handle_timeout (f->tcp, f->now);
  g_assert_cmpuint (fz_dns_tcp_n_connections (f->tcp), ==, 0);
  resets = 0;
  while (recv_seg (f, &s))
    resets += !!(s.flags & FZ_TCP_RST);
  g_assert_cmpuint (resets, ==, 64); /* the queue's bound */
}

static void
test_reset_by_app (Fixture *f, gconstpointer data)
{
  (void) data;
  handshake (f);
  /* Out of the window: ignored. */
  send_from (f, f->port, f->seq + 100000, 0, FZ_TCP_RST, NULL, 0);
  g_assert_cmpuint (fz_dns_tcp_n_connections (f->tcp), ==, 1);
  send_from (f, f->port, f->seq, 0, FZ_TCP_RST, NULL, 0);
  g_assert_cmpuint (fz_dns_tcp_n_connections (f->tcp), ==, 0);
  assert_silent (f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn, fam)                                                               \
  g_test_add ("/dns-tcp/" path, Fixture, GINT_TO_POINTER (fam), setup, fn, teardown)
  ADD ("query-answer-close", test_query_answer_close, 4);
  ADD ("query-answer-close-v6", test_query_answer_close, 6);
  ADD ("retransmit", test_retransmit, 4);
  ADD ("handshake-retransmit", test_handshake_retransmit, 6);
  ADD ("stray-segments", test_stray_segments, 4);
  ADD ("out-of-order", test_out_of_order, 4);
  ADD ("window", test_window, 6);
  ADD ("limits", test_limits, 4);
  ADD ("reset-by-app", test_reset_by_app, 4);
  return g_test_run ();
}
