#include "fz-private.h"
#include "fz-ip-packet-build.h"

#include <string.h>

#define SEC G_GINT64_CONSTANT (1000000)

typedef struct
{
  FzRng rng;
  FzNatTable *nat;
  FzIpAddr client4, client6, proxy4, proxy4b, proxy6, real4, real6, router4;
  FzPacketBuf *buf;
  FzIpPacket pkt;
} Fixture;

static void
addr (FzIpAddr *a, const char *text)
{
  g_assert_true (fz_ip_addr_parse (a, text));
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  fz_rng_init_seeded (&f->rng, 7);
  f->nat = fz_nat_table_new (&f->rng, 0, 0);
  addr (&f->client4, "100.64.0.3");
  addr (&f->client6, "fd00:2021:1111::3");
  addr (&f->proxy4, "100.96.0.1");
  addr (&f->proxy4b, "100.96.0.2");
  addr (&f->proxy6, "fd00:2021:1111:8000::1");
  addr (&f->real4, "192.0.2.10");
  addr (&f->real6, "2001:db8::10");
  addr (&f->router4, "198.51.100.1");
  f->buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  fz_nat_table_free (f->nat);
  fz_packet_buf_free (f->buf);
}

/* A TCP segment by hand (there is no TCP builder), checksums computed. */
static void
build_tcp (FzPacketBuf *buf, FzIpPacket *pkt, const FzIpAddr *src, const FzIpAddr *dst,
           guint16 sport, guint16 dport, guint8 flags)
{
  gboolean v4 = src->family == 4;
  gsize hlen = v4 ? 20 : 40, len = hlen + 20 + 4;
  guint8 *p;

  fz_packet_buf_reset (buf);
  p = fz_packet_buf_put (buf, len);
  memset (p, 0, len);
  if (v4)
    {
      p[0] = 0x45;
      p[2] = len >> 8, p[3] = len & 0xff;
      p[8] = 64, p[9] = FZ_IP_PROTO_TCP;
      memcpy (p + 12, src->bytes, 4), memcpy (p + 16, dst->bytes, 4);
    }
  else
    {
      p[0] = 0x60;
      p[5] = 24, p[6] = FZ_IP_PROTO_TCP, p[7] = 64;
      memcpy (p + 8, src->bytes, 16), memcpy (p + 24, dst->bytes, 16);
    }
  p += hlen;
  p[0] = sport >> 8, p[1] = sport & 0xff, p[2] = dport >> 8, p[3] = dport & 0xff;
  p[7] = 1, p[12] = 5 << 4, p[13] = flags, p[14] = 0xff;
  memcpy (p + 20, "data", 4);
  g_assert_cmpint (fz_ip_packet_parse (pkt, buf->data, len, 2048), ==, FZ_IP_OK);
  fz_ip_packet_update_checksums (pkt);
}

/* proto: TCP (with @flags), UDP or ICMP echo (request, or reply if @flags). */
static void
build (Fixture *f, guint8 proto, const FzIpAddr *src, const FzIpAddr *dst, guint16 sport,
       guint16 dport, guint8 flags)
{
  fz_packet_buf_reset (f->buf);
  if (proto == FZ_IP_PROTO_TCP)
    build_tcp (f->buf, &f->pkt, src, dst, sport, dport, flags);
  else if (proto == FZ_IP_PROTO_UDP)
    g_assert_true (
      fz_ip_build_udp (f->buf, &f->pkt, src, dst, sport, dport, "hello", 5, NULL));
  else
    g_assert_true (fz_ip_build_icmp_echo (f->buf, &f->pkt, src, dst, flags != 0, sport, 9,
                                          "ping", 4, NULL));
}

static void
assert_checksums (const FzIpPacket *pkt)
{
  g_assert_true (fz_ip_packet_verify_ip_checksum (pkt));
  g_assert_true (fz_ip_packet_verify_l4_checksum (pkt));
}

static void
assert_addrs (const FzIpPacket *pkt, const FzIpAddr *src, const FzIpAddr *dst)
{
  FzIpAddr a;

  fz_ip_packet_src (pkt, &a);
  g_assert_true (fz_ip_addr_equal (&a, src));
  fz_ip_packet_dst (pkt, &a);
  g_assert_true (fz_ip_addr_equal (&a, dst));
}

/* The source port or the echo id: what NAT keeps or changes. */
static guint16
client_port (const FzIpPacket *pkt, gboolean outbound)
{
  if (fz_ip_packet_is_icmp (pkt))
    return fz_ip_packet_icmp_echo_id (pkt);
  return outbound ? fz_ip_packet_src_port (pkt) : fz_ip_packet_dst_port (pkt);
}

static FzNatResult
out (Fixture *f, guint8 proto, const FzIpAddr *client, guint16 sport,
     const FzIpAddr *proxy, guint16 dport, const FzIpAddr *real, guint8 flags, gint64 now)
{
  build (f, proto, client, proxy, sport, dport, flags);
  return fz_nat_table_translate_out (f->nat, &f->pkt, real, now);
}

static FzNatResult
in (Fixture *f, guint8 proto, const FzIpAddr *real, guint16 sport, const FzIpAddr *client,
    guint16 dport, guint8 flags, gint64 now)
{
  if (proto == FZ_IP_PROTO_TCP || proto == FZ_IP_PROTO_UDP)
    build (f, proto, real, client, sport, dport, flags);
  else /* an echo reply, to the client side's id */
    build (f, proto, real, client, dport, 0, 1);
  return fz_nat_table_translate_in (f->nat, &f->pkt, now);
}

/* --- both ways ------------------------------------------------------------ */

static void
both_ways (Fixture *f, guint8 proto, const FzIpAddr *client, const FzIpAddr *proxy,
           const FzIpAddr *real)
{
  guint8 syn = proto == FZ_IP_PROTO_TCP ? FZ_TCP_SYN : 0; /* else: echo request */

  g_assert_cmpint (out (f, proto, client, 40000, proxy, 443, real, syn, 0), ==,
                   FZ_NAT_TRANSLATED);
  assert_checksums (&f->pkt);
  assert_addrs (&f->pkt, client, real);
  g_assert_cmpuint (client_port (&f->pkt, TRUE), ==, 40000);

  g_assert_cmpint (in (f, proto, real, 443, client, 40000, FZ_TCP_ACK, SEC), ==,
                   FZ_NAT_TRANSLATED);
  assert_checksums (&f->pkt);
  assert_addrs (&f->pkt, proxy, client);
  g_assert_cmpuint (client_port (&f->pkt, FALSE), ==, 40000);
  if (fz_ip_packet_has_ports (&f->pkt))
    g_assert_cmpuint (fz_ip_packet_src_port (&f->pkt), ==, 443);
  g_assert_cmpuint (fz_nat_table_size (f->nat), ==, 1);
}

static void
test_tcp_v4 (Fixture *f, gconstpointer d)
{
  both_ways (f, FZ_IP_PROTO_TCP, &f->client4, &f->proxy4, &f->real4);
}

static void
test_tcp_v6 (Fixture *f, gconstpointer d)
{
  both_ways (f, FZ_IP_PROTO_TCP, &f->client6, &f->proxy6, &f->real6);
}

static void
test_udp_v4 (Fixture *f, gconstpointer d)
{
  both_ways (f, FZ_IP_PROTO_UDP, &f->client4, &f->proxy4, &f->real4);
}

static void
test_udp_v6 (Fixture *f, gconstpointer d)
{
  both_ways (f, FZ_IP_PROTO_UDP, &f->client6, &f->proxy6, &f->real6);
}

static void
test_icmp_v4 (Fixture *f, gconstpointer d)
{
  both_ways (f, FZ_IP_PROTO_ICMP, &f->client4, &f->proxy4, &f->real4);
}

static void
test_icmp_v6 (Fixture *f, gconstpointer d)
{
  both_ways (f, FZ_IP_PROTO_ICMPV6, &f->client6, &f->proxy6, &f->real6);
}

/* Two proxy IPs of one real IP, the same client port: the second session
 * gets another port, and each reply finds its own proxy IP. */
static void
collision (Fixture *f, guint8 proto)
{
  guint16 port_a, port_b;

  g_assert_cmpint (out (f, proto, &f->client4, 5000, &f->proxy4, 80, &f->real4, 0, 0), ==,
                   FZ_NAT_TRANSLATED);
  port_a = client_port (&f->pkt, TRUE);
  g_assert_cmpuint (port_a, ==, 5000);
  g_assert_cmpint (out (f, proto, &f->client4, 5000, &f->proxy4b, 80, &f->real4, 0, 0),
                   ==, FZ_NAT_TRANSLATED);
  assert_checksums (&f->pkt);
  port_b = client_port (&f->pkt, TRUE);
  g_assert_cmpuint (port_b, !=, 5000);
  g_assert_cmpuint (port_b, >=, 1024);

  g_assert_cmpint (in (f, proto, &f->real4, 80, &f->client4, port_b, 0, 1), ==,
                   FZ_NAT_TRANSLATED);
  assert_checksums (&f->pkt);
  assert_addrs (&f->pkt, &f->proxy4b, &f->client4);
  g_assert_cmpuint (client_port (&f->pkt, FALSE), ==, 5000);
  g_assert_cmpint (in (f, proto, &f->real4, 80, &f->client4, port_a, 0, 1), ==,
                   FZ_NAT_TRANSLATED);
  assert_addrs (&f->pkt, &f->proxy4, &f->client4);
  g_assert_cmpuint (client_port (&f->pkt, FALSE), ==, 5000);

  /* The second session's later packets keep its port. */
  g_assert_cmpint (out (f, proto, &f->client4, 5000, &f->proxy4b, 80, NULL, 0, 2), ==,
                   FZ_NAT_TRANSLATED);
  g_assert_cmpuint (client_port (&f->pkt, TRUE), ==, port_b);
  g_assert_cmpuint (fz_nat_table_size (f->nat), ==, 2);
}

static void
test_collision_udp (Fixture *f, gconstpointer d)
{
  collision (f, FZ_IP_PROTO_UDP);
}

static void
test_collision_tcp (Fixture *f, gconstpointer d)
{
  collision (f, FZ_IP_PROTO_TCP);
}

static void
test_collision_icmp (Fixture *f, gconstpointer d)
{
  collision (f, FZ_IP_PROTO_ICMP);
}

static void
test_results (Fixture *f, gconstpointer d)
{
  /* Not to a proxy IP: not ours. */
  g_assert_cmpint (
    out (f, FZ_IP_PROTO_UDP, &f->client4, 1, &f->real4, 53, &f->real4, 0, 0), ==,
    FZ_NAT_NOT_NAT);
  /* No mapping given, no session. */
  g_assert_cmpint (out (f, FZ_IP_PROTO_UDP, &f->client4, 1, &f->proxy4, 53, NULL, 0, 0),
                   ==, FZ_NAT_NO_SESSION);
  g_assert_cmpint (in (f, FZ_IP_PROTO_UDP, &f->real4, 53, &f->client4, 1, 0, 0), ==,
                   FZ_NAT_NO_SESSION);
  /* An echo reply outbound, an echo request inbound. */
  g_assert_cmpint (
    out (f, FZ_IP_PROTO_ICMP, &f->client4, 1, &f->proxy4, 0, &f->real4, 1, 0), ==,
    FZ_NAT_UNSUPPORTED);
  build (f, FZ_IP_PROTO_ICMP, &f->real4, &f->client4, 1, 0, 0);
  g_assert_cmpint (fz_nat_table_translate_in (f->nat, &f->pkt, 0), ==,
                   FZ_NAT_UNSUPPORTED);
  g_assert_cmpuint (fz_nat_table_size (f->nat), ==, 0);
  g_assert_cmpstr (fz_nat_result_to_string (FZ_NAT_TABLE_FULL), ==, "NAT table full");
}

static void
test_proxy_ranges (void)
{
  const char *yes[] = { "100.96.0.0", "100.127.255.255",
                        "fd00:2021:1111:8000::", "fd00:2021:1111:8000::1f:ffff" };
  const char *no[] = { "100.95.255.255", "100.128.0.0", "fd00:2021:1111:7fff::1",
                       "fd00:2021:1111:8000::20:0", "fd00:2021:1111::1" };
  FzIpAddr a;

  for (guint i = 0; i < G_N_ELEMENTS (yes); i++)
    {
      addr (&a, yes[i]);
      g_assert_true (fz_nat_is_proxy_ip (&a));
    }
  for (guint i = 0; i < G_N_ELEMENTS (no); i++)
    {
      addr (&a, no[i]);
      g_assert_false (fz_nat_is_proxy_ip (&a));
    }
}

/* --- timeouts ------------------------------------------------------------- */

static gint64
expiry (Fixture *f)
{
  return fz_nat_table_poll_timeout (f->nat);
}

/* The session is there just before @at and gone at @at. */
static void
assert_expires_at (Fixture *f, gint64 at)
{
  while (expiry (f) < at - 1)
    g_assert_cmpuint (fz_nat_table_handle_timeout (f->nat, expiry (f)), ==, 0);
  fz_nat_table_handle_timeout (f->nat, at - 1);
  g_assert_cmpuint (fz_nat_table_size (f->nat), ==, 1);
  g_assert_cmpuint (fz_nat_table_handle_timeout (f->nat, at), ==, 1);
  g_assert_cmpuint (fz_nat_table_size (f->nat), ==, 0);
  g_assert_cmpint (expiry (f), ==, G_MAXINT64);
}

static void
test_timeout_unconfirmed (Fixture *f, gconstpointer d)
{
  out (f, FZ_IP_PROTO_TCP, &f->client4, 1000, &f->proxy4, 80, &f->real4, FZ_TCP_SYN, 0);
  out (f, FZ_IP_PROTO_TCP, &f->client4, 1000, &f->proxy4, 80, NULL, FZ_TCP_SYN, 10 * SEC);
  assert_expires_at (f, 70 * SEC);
}

static void
test_timeout_udp (Fixture *f, gconstpointer d)
{
  out (f, FZ_IP_PROTO_UDP, &f->client4, 1000, &f->proxy4, 53, &f->real4, 0, 0);
  g_assert_cmpint (in (f, FZ_IP_PROTO_UDP, &f->real4, 53, &f->client4, 1000, 0, 30 * SEC),
                   ==, FZ_NAT_TRANSLATED);
  assert_expires_at (f, 150 * SEC);
}

static void
test_timeout_icmp (Fixture *f, gconstpointer d)
{
  out (f, FZ_IP_PROTO_ICMPV6, &f->client6, 7, &f->proxy6, 0, &f->real6, 0, 0);
  g_assert_cmpint (in (f, FZ_IP_PROTO_ICMPV6, &f->real6, 0, &f->client6, 7, 0, SEC), ==,
                   FZ_NAT_TRANSLATED);
  assert_expires_at (f, SEC + FZ_NAT_ICMP_TTL);
}

static void
test_timeout_tcp (Fixture *f, gconstpointer d)
{
  out (f, FZ_IP_PROTO_TCP, &f->client4, 1000, &f->proxy4, 80, &f->real4, FZ_TCP_SYN, 0);
  in (f, FZ_IP_PROTO_TCP, &f->real4, 80, &f->client4, 1000, FZ_TCP_SYN | FZ_TCP_ACK, SEC);
  assert_expires_at (f, SEC + (2 * 3600 + 4 * 60) * SEC);
}

/* Traffic either way pushes the deadline on; the timer learns it when it
 * fires and re-arms. */
static void
test_timeout_extends (Fixture *f, gconstpointer d)
{
  gint64 t = 0;

  out (f, FZ_IP_PROTO_UDP, &f->client4, 1000, &f->proxy4, 53, &f->real4, 0, 0);
  in (f, FZ_IP_PROTO_UDP, &f->real4, 53, &f->client4, 1000, 0, 0);
  for (guint i = 0; i < 10; i++)
    {
      t += 100 * SEC;
      fz_nat_table_handle_timeout (f->nat, t);
      g_assert_cmpuint (fz_nat_table_size (f->nat), ==, 1);
      if (i % 2)
        g_assert_cmpint (
          out (f, FZ_IP_PROTO_UDP, &f->client4, 1000, &f->proxy4, 53, NULL, 0, t), ==,
          FZ_NAT_TRANSLATED);
      else
        g_assert_cmpint (in (f, FZ_IP_PROTO_UDP, &f->real4, 53, &f->client4, 1000, 0, t),
                         ==, FZ_NAT_TRANSLATED);
    }
  assert_expires_at (f, t + FZ_NAT_UDP_TTL);
}

static void
test_timeout_fin (Fixture *f, gconstpointer d)
{
  out (f, FZ_IP_PROTO_TCP, &f->client4, 1000, &f->proxy4, 80, &f->real4, FZ_TCP_SYN, 0);
  in (f, FZ_IP_PROTO_TCP, &f->real4, 80, &f->client4, 1000, FZ_TCP_SYN | FZ_TCP_ACK, 0);
  out (f, FZ_IP_PROTO_TCP, &f->client4, 1000, &f->proxy4, 80, NULL, FZ_TCP_FIN, SEC);
  /* One way only: still the long timeout. */
  g_assert_cmpuint (fz_nat_table_handle_timeout (f->nat, 61 * SEC), ==, 0);
  g_assert_cmpuint (fz_nat_table_size (f->nat), ==, 1);
  in (f, FZ_IP_PROTO_TCP, &f->real4, 80, &f->client4, 1000, FZ_TCP_FIN | FZ_TCP_ACK,
      62 * SEC);
  g_assert_cmpint (expiry (f), ==, 67 * SEC);
  /* The last ACK counts as traffic too. */
  out (f, FZ_IP_PROTO_TCP, &f->client4, 1000, &f->proxy4, 80, NULL, FZ_TCP_ACK, 63 * SEC);
  assert_expires_at (f, 68 * SEC);
}

static void
rst (Fixture *f, gboolean inbound)
{
  out (f, FZ_IP_PROTO_TCP, &f->client4, 1000, &f->proxy4, 80, &f->real4, FZ_TCP_SYN, 0);
  in (f, FZ_IP_PROTO_TCP, &f->real4, 80, &f->client4, 1000, FZ_TCP_SYN | FZ_TCP_ACK, 0);
  if (inbound)
    g_assert_cmpint (
      in (f, FZ_IP_PROTO_TCP, &f->real4, 80, &f->client4, 1000, FZ_TCP_RST, 5 * SEC), ==,
      FZ_NAT_TRANSLATED);
  else
    g_assert_cmpint (out (f, FZ_IP_PROTO_TCP, &f->client4, 1000, &f->proxy4, 80, NULL,
                          FZ_TCP_RST, 5 * SEC),
                     ==, FZ_NAT_TRANSLATED);
  g_assert_cmpint (expiry (f), ==, 5 * SEC);
  g_assert_cmpuint (fz_nat_table_handle_timeout (f->nat, 5 * SEC), ==, 1);
  g_assert_cmpint (
    in (f, FZ_IP_PROTO_TCP, &f->real4, 80, &f->client4, 1000, FZ_TCP_ACK, 5 * SEC), ==,
    FZ_NAT_NO_SESSION);
}

static void
test_timeout_rst_out (Fixture *f, gconstpointer d)
{
  rst (f, FALSE);
}

static void
test_timeout_rst_in (Fixture *f, gconstpointer d)
{
  rst (f, TRUE);
}

/* --- ICMP errors ---------------------------------------------------------- */

/* Sends @proto from the client to the proxy, with the port changed by a
 * colliding session first if @collide; keeps the packet as the client
 * sent it in @sent and returns the translated one in f->pkt. */
static void
send_translated (Fixture *f, guint8 proto, const FzIpAddr *client, const FzIpAddr *proxy,
                 const FzIpAddr *proxy_b, const FzIpAddr *real, gboolean collide,
                 GByteArray *sent)
{
  if (collide)
    g_assert_cmpint (out (f, proto, client, 4000, proxy_b, 33434, real, 0, 0), ==,
                     FZ_NAT_TRANSLATED);
  build (f, proto, client, proxy, 4000, 33434, 0);
  g_byte_array_append (sent, f->pkt.data, f->pkt.len);
  g_assert_cmpint (fz_nat_table_translate_out (f->nat, &f->pkt, real, 0), ==,
                   FZ_NAT_TRANSLATED);
  g_assert_cmpuint (client_port (&f->pkt, TRUE) != 4000, ==, collide);
}

static void
check_error (Fixture *f, FzIpPacket *err, const FzIpAddr *client, const FzIpAddr *proxy,
             GByteArray *sent)
{
  guint8 *quote = fz_ip_packet_l4 (err) + 8;
  gsize qlen = fz_ip_packet_l4_len (err) - 8;

  g_assert_cmpint (fz_nat_table_translate_in (f->nat, err, SEC), ==, FZ_NAT_TRANSLATED);
  assert_checksums (err);
  assert_addrs (err, proxy, client);
  /* The quote is the packet the client sent, byte for byte (its
   * checksums included). */
  g_assert_cmpuint (qlen, <=, sent->len);
  g_assert_cmpmem (quote, qlen, sent->data, qlen);
}

static void
icmp_error_v4 (Fixture *f, guint8 proto, gboolean collide, gboolean from_router)
{
  g_autoptr (GByteArray) sent = g_byte_array_new ();
  g_autoptr (FzPacketBuf) ebuf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  FzIpPacket err;

  send_translated (f, proto, &f->client4, &f->proxy4, &f->proxy4b, &f->real4, collide,
                   sent);
  g_assert_true (
    fz_ip_build_icmp_unreachable (ebuf, &err, &f->pkt, FZ_ICMP_NET_UNREACHABLE, NULL));
  if (from_router) /* time exceeded from a router on the way */
    {
      fz_ip_packet_l4 (&err)[0] = 11;
      fz_ip_packet_l4 (&err)[1] = 0;
      fz_ip_packet_set_src (&err, &f->router4);
      fz_ip_packet_update_checksums (&err);
    }
  check_error (f, &err, &f->client4, &f->proxy4, sent);
}

static void
test_icmp_error_v4 (Fixture *f, gconstpointer d)
{
  icmp_error_v4 (f, FZ_IP_PROTO_UDP, FALSE, FALSE);
}

static void
test_icmp_error_v4_port (Fixture *f, gconstpointer d)
{
  icmp_error_v4 (f, FZ_IP_PROTO_UDP, TRUE, FALSE);
}

static void
test_icmp_error_v4_tcp_router (Fixture *f, gconstpointer d)
{
  icmp_error_v4 (f, FZ_IP_PROTO_TCP, TRUE, TRUE);
}

static void
test_icmp_error_v4_echo (Fixture *f, gconstpointer d)
{
  icmp_error_v4 (f, FZ_IP_PROTO_ICMP, TRUE, TRUE);
}

static void
icmp_error_v6 (Fixture *f, guint8 proto, gboolean too_big)
{
  g_autoptr (GByteArray) sent = g_byte_array_new ();
  g_autoptr (FzPacketBuf) ebuf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  FzIpAddr proxy6b;
  FzIpPacket err, quoted;

  addr (&proxy6b, "fd00:2021:1111:8000::2");
  send_translated (f, proto, &f->client6, &f->proxy6, &proxy6b, &f->real6, TRUE, sent);
  g_assert_true (
    fz_ip_build_icmp_unreachable (ebuf, &err, &f->pkt, FZ_ICMP_NET_UNREACHABLE, NULL));
  if (too_big) /* packet too big, MTU 1280 */
    {
      guint8 *l4 = fz_ip_packet_l4 (&err);
      l4[0] = 2, l4[1] = 0, l4[6] = 0x05, l4[7] = 0x00;
      fz_ip_packet_update_checksums (&err);
    }
  check_error (f, &err, &f->client6, &f->proxy6, sent);
  /* IPv6 quotes the whole packet: its own L4 checksum verifies. */
  g_assert_cmpint (fz_ip_packet_parse (&quoted, fz_ip_packet_l4 (&err) + 8,
                                       fz_ip_packet_l4_len (&err) - 8, 2048),
                   ==, FZ_IP_OK);
  assert_checksums (&quoted);
}

static void
test_icmp_error_v6 (Fixture *f, gconstpointer d)
{
  icmp_error_v6 (f, FZ_IP_PROTO_UDP, FALSE);
}

static void
test_icmp_error_v6_too_big (Fixture *f, gconstpointer d)
{
  icmp_error_v6 (f, FZ_IP_PROTO_TCP, TRUE);
}

static void
test_icmp_error_v6_echo (Fixture *f, gconstpointer d)
{
  icmp_error_v6 (f, FZ_IP_PROTO_ICMPV6, FALSE);
}

static void
test_icmp_error_rejects (Fixture *f, gconstpointer d)
{
  g_autoptr (GByteArray) sent = g_byte_array_new ();
  g_autoptr (FzPacketBuf) ebuf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  FzIpPacket err;

  send_translated (f, FZ_IP_PROTO_UDP, &f->client4, &f->proxy4, &f->proxy4b, &f->real4,
                   FALSE, sent);
  g_assert_true (
    fz_ip_build_icmp_unreachable (ebuf, &err, &f->pkt, FZ_ICMP_NET_UNREACHABLE, NULL));
  /* A quote cut short of its ports. */
  {
    FzIpPacket cut;
    g_autoptr (FzPacketBuf) cbuf = fz_packet_buf_new_copy (err.data, err.len - 4);
    guint8 *p = cbuf->data;
    p[3] -= 4;
    g_assert_cmpint (fz_ip_packet_parse (&cut, p, err.len - 4, 2048), ==, FZ_IP_OK);
    g_assert_cmpint (fz_nat_table_translate_in (f->nat, &cut, 0), ==, FZ_NAT_MALFORMED);
  }
  /* Sent to another client than the quote's source. */
  fz_ip_packet_set_dst (&err, &f->router4);
  g_assert_cmpint (fz_nat_table_translate_in (f->nat, &err, 0), ==, FZ_NAT_NO_SESSION);
}

/* --- removal and re-resolution --------------------------------------------- */

static void
test_remove (Fixture *f, gconstpointer d)
{
  FzIpAddr other, proxies[2] = { f->proxy4, f->proxy4b };

  addr (&other, "100.64.0.9");
  for (guint16 p = 1; p <= 3; p++)
    {
      out (f, FZ_IP_PROTO_UDP, &f->client4, p, &f->proxy4, 53, &f->real4, 0, 0);
      out (f, FZ_IP_PROTO_UDP, &f->client4, p, &f->proxy4b, 53, &f->real4, 0, 0);
      out (f, FZ_IP_PROTO_UDP, &other, p, &f->proxy4, 53, &f->real4, 0, 0);
    }
  out (f, FZ_IP_PROTO_UDP, &f->client6, 1, &f->proxy6, 53, &f->real6, 0, 0);
  g_assert_cmpuint (fz_nat_table_size (f->nat), ==, 10);
  g_assert_cmpuint (fz_nat_table_client_size (f->nat, &f->client4), ==, 6);

  g_assert_cmpuint (fz_nat_table_remove_proxy (f->nat, &f->client4, &f->proxy4), ==, 3);
  g_assert_cmpuint (fz_nat_table_client_size (f->nat, &f->client4), ==, 3);
  g_assert_cmpint (in (f, FZ_IP_PROTO_UDP, &f->real4, 53, &other, 2, 0, 0), ==,
                   FZ_NAT_TRANSLATED);
  g_assert_cmpuint (fz_nat_table_remove_proxies (f->nat, &f->client4, proxies, 2), ==, 3);
  g_assert_cmpuint (fz_nat_table_client_size (f->nat, &f->client4), ==, 0);
  g_assert_cmpuint (fz_nat_table_remove_proxies (f->nat, &f->client4, proxies, 2), ==, 0);

  g_assert_cmpuint (fz_nat_table_remove_client (f->nat, &other), ==, 3);
  g_assert_cmpuint (fz_nat_table_size (f->nat), ==, 1);
  g_assert_cmpint (in (f, FZ_IP_PROTO_UDP, &f->real4, 53, &other, 2, 0, 0), ==,
                   FZ_NAT_NO_SESSION);
  g_assert_cmpint (expiry (f), ==, FZ_NAT_UNCONFIRMED_TTL);
  g_assert_cmpuint (fz_nat_table_remove_client (f->nat, &f->client6), ==, 1);
  g_assert_cmpint (expiry (f), ==, G_MAXINT64);
}

/* A re-resolution maps the proxy IP elsewhere: the open session stays on
 * its real IP, a new one goes to the new IP. */
static void
test_reresolve (Fixture *f, gconstpointer d)
{
  FzIpAddr real_new;

  addr (&real_new, "192.0.2.99");
  out (f, FZ_IP_PROTO_TCP, &f->client4, 1000, &f->proxy4, 80, &f->real4, FZ_TCP_SYN, 0);
  g_assert_cmpint (
    out (f, FZ_IP_PROTO_TCP, &f->client4, 1000, &f->proxy4, 80, &real_new, FZ_TCP_ACK, 1),
    ==, FZ_NAT_TRANSLATED);
  assert_addrs (&f->pkt, &f->client4, &f->real4);
  g_assert_cmpint (
    out (f, FZ_IP_PROTO_TCP, &f->client4, 1001, &f->proxy4, 80, &real_new, FZ_TCP_SYN, 1),
    ==, FZ_NAT_TRANSLATED);
  assert_addrs (&f->pkt, &f->client4, &real_new);
}

/* --- bounds ----------------------------------------------------------------- */

/* Client @c's UDP from @port to the proxy: translated or why not. */
static FzNatResult
udp_out (FzNatTable *nat, const FzIpAddr *c, guint16 port, gint64 now)
{
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  FzIpAddr proxy, real;
  FzIpPacket pkt;

  addr (&proxy, "100.96.0.1"), addr (&real, "192.0.2.1");
  fz_ip_build_udp (buf, &pkt, c, &proxy, port, 53, "x", 1, NULL);
  return fz_nat_table_translate_out (nat, &pkt, &real, now);
}

/* The resource answers @c's session from @port. */
static void
udp_answer (FzNatTable *nat, const FzIpAddr *c, guint16 port, gint64 now)
{
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  FzIpAddr real;
  FzIpPacket pkt;

  addr (&real, "192.0.2.1");
  fz_ip_build_udp (buf, &pkt, &real, c, 53, port, "y", 1, NULL);
  g_assert_cmpint (fz_nat_table_translate_in (nat, &pkt, now), ==, FZ_NAT_TRANSLATED);
}

/* The bounds: per client, then the table's. A full table makes room from
 * the oldest session nothing came back on (before, eight clients sending
 * into the void at the per-client bound kept everyone else out); answered
 * sessions are never pushed out. */
static void
test_full (void)
{
  FzRng rng;
  g_autoptr (FzNatTable) nat = NULL;
  FzIpAddr c1, c2, c3;

  fz_rng_init_seeded (&rng, 1);
  nat = fz_nat_table_new (&rng, 5, 3);
  addr (&c1, "100.64.0.1"), addr (&c2, "100.64.0.2"), addr (&c3, "100.64.0.3");
  for (guint16 p = 1; p <= 4; p++)
    g_assert_cmpint (udp_out (nat, &c1, p, 0), ==,
                     p <= 3 ? FZ_NAT_TRANSLATED : FZ_NAT_CLIENT_FULL);
  for (guint16 p = 1; p <= 3; p++)
    udp_answer (nat, &c1, p, 0);
  g_assert_cmpint (udp_out (nat, &c2, 1, 1), ==, FZ_NAT_TRANSLATED);
  g_assert_cmpint (udp_out (nat, &c2, 2, 2), ==, FZ_NAT_TRANSLATED);
  g_assert_cmpuint (fz_nat_table_size (nat), ==, 5);
  /* Full: c2's third and c3's first push out c2's unanswered ones. */
  g_assert_cmpint (udp_out (nat, &c2, 3, 3), ==, FZ_NAT_TRANSLATED);
  g_assert_cmpint (udp_out (nat, &c3, 1, 4), ==, FZ_NAT_TRANSLATED);
  g_assert_cmpuint (fz_nat_table_size (nat), ==, 5);
  g_assert_cmpuint (fz_nat_table_client_size (nat, &c1), ==, 3);
  g_assert_cmpuint (fz_nat_table_client_size (nat, &c2), ==, 1);
  /* Everything answered: nothing to push out. */
  udp_answer (nat, &c2, 3, 5);
  udp_answer (nat, &c3, 1, 5);
  g_assert_cmpint (udp_out (nat, &c3, 2, 6), ==, FZ_NAT_TABLE_FULL);
  /* Existing sessions still pass when full. */
  g_assert_cmpint (udp_out (nat, &c1, 1, 6), ==, FZ_NAT_TRANSLATED);
  /* Room again once they expire. */
  fz_nat_table_handle_timeout (nat, 10 + FZ_NAT_UDP_TTL);
  g_assert_cmpint (udp_out (nat, &c3, 2, 10 + FZ_NAT_UDP_TTL), ==, FZ_NAT_TRANSLATED);
  g_assert_cmpuint (fz_nat_table_size (nat), ==, 1);
}

/* One client's flood of source ports stops at its own bound, within the
 * default bounds; another client still gets sessions. */
static void
test_flood (Fixture *f, gconstpointer d)
{
  guint translated = 0, full = 0;

  for (guint p = 1; p <= FZ_NAT_MAX_SESSIONS_PER_CLIENT + 1000; p++)
    {
      FzNatResult r = out (f, FZ_IP_PROTO_TCP, &f->client4, p, &f->proxy4, 80, &f->real4,
                           FZ_TCP_SYN, 0);
      translated += r == FZ_NAT_TRANSLATED;
      full += r == FZ_NAT_CLIENT_FULL;
    }
  g_assert_cmpuint (translated, ==, FZ_NAT_MAX_SESSIONS_PER_CLIENT);
  g_assert_cmpuint (full, ==, 1000);
  g_assert_cmpuint (fz_nat_table_size (f->nat), ==, FZ_NAT_MAX_SESSIONS_PER_CLIENT);
  g_assert_cmpint (
    out (f, FZ_IP_PROTO_TCP, &f->client6, 1, &f->proxy6, 80, &f->real6, FZ_TCP_SYN, 0),
    ==, FZ_NAT_TRANSLATED);
  /* Unanswered, they all go after 60 s. */
  g_assert_cmpuint (fz_nat_table_handle_timeout (f->nat, FZ_NAT_UNCONFIRMED_TTL), ==,
                    FZ_NAT_MAX_SESSIONS_PER_CLIENT + 1);
}

static void
fill_zero (FzRng *rng, void *out, gsize len)
{
  memset (out, 0, len);
}

/* A generator that always picks the same port: the search gives up after
 * FZ_NAT_PORT_TRIES instead of looping. */
static void
test_ports_exhausted (void)
{
  FzRng rng = { fill_zero, 0 };
  g_autoptr (FzNatTable) nat = fz_nat_table_new (&rng, 0, 0);
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  FzIpAddr c, p1, p2, p3, real;
  FzIpPacket pkt;

  addr (&c, "100.64.0.1"), addr (&real, "192.0.2.1");
  addr (&p1, "100.96.0.1"), addr (&p2, "100.96.0.2"), addr (&p3, "100.96.0.3");
  fz_ip_build_udp (buf, &pkt, &c, &p1, 1024, 53, "x", 1, NULL);
  g_assert_cmpint (fz_nat_table_translate_out (nat, &pkt, &real, 0), ==,
                   FZ_NAT_TRANSLATED);
  fz_ip_build_udp (buf, &pkt, &c, &p2, 2000, 53, "x", 1, NULL);
  g_assert_cmpint (fz_nat_table_translate_out (nat, &pkt, &real, 0), ==,
                   FZ_NAT_TRANSLATED);
  fz_ip_build_udp (buf, &pkt, &c, &p3, 2000, 53, "x", 1, NULL);
  g_assert_cmpint (fz_nat_table_translate_out (nat, &pkt, &real, 0), ==,
                   FZ_NAT_PORTS_EXHAUSTED);
  g_assert_cmpuint (fz_nat_table_size (nat), ==, 2);
}

/* --- against a reference ------------------------------------------------------ */

typedef struct
{
  guint8 proto;
  guint client, sport, proxy, dport; /* indices / values */
  guint real;
  guint16 tport;
  gint64 last_out, last_in;
  gboolean seen_in, fin_out, fin_in, rst;
} Ref;

static gint64
ref_deadline (const Ref *r)
{
  gint64 last = r->seen_in ? MAX (r->last_out, r->last_in) : r->last_out;
  gint64 ttl = r->proto == FZ_IP_PROTO_TCP ? FZ_NAT_TCP_TTL : FZ_NAT_UDP_TTL;
  gint64 d = last + ttl;

  if (r->rst)
    return last;
  if (!r->seen_in)
    d = MIN (d, r->last_out + FZ_NAT_UNCONFIRMED_TTL);
  if (r->fin_out && r->fin_in)
    d = MIN (d, last + FZ_NAT_FIN_TTL);
  return d;
}

#define N_CLIENTS 3
#define N_PROXIES 4
#define N_REALS   2

static void
random_run (guint64 seed)
{
  static const guint8 protos[] = { FZ_IP_PROTO_TCP, FZ_IP_PROTO_UDP, FZ_IP_PROTO_ICMP };
  FzRng rng, nat_rng;
  g_autoptr (FzNatTable) nat = NULL;
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  g_autoptr (GArray) refs = g_array_new (FALSE, TRUE, sizeof (Ref));
  FzIpAddr clients[N_CLIENTS], proxies[N_PROXIES], reals[N_REALS];
  guint mapping[N_PROXIES];
  gint64 now = 0;

  fz_rng_init_seeded (&rng, seed);
  fz_rng_init_seeded (&nat_rng, seed ^ 0xabcdef);
  nat = fz_nat_table_new (&nat_rng, 0, 0);
  for (guint i = 0; i < N_CLIENTS; i++)
    addr (&clients[i], (const char *[]){ "100.64.0.1", "100.64.0.2", "100.64.0.3" }[i]);
  for (guint i = 0; i < N_PROXIES; i++)
    {
      g_autofree char *s = g_strdup_printf ("100.96.0.%u", i + 1);
      addr (&proxies[i], s);
      mapping[i] = i % N_REALS;
    }
  addr (&reals[0], "192.0.2.1"), addr (&reals[1], "192.0.2.2");

  for (guint step = 0; step < 3000; step++)
    {
      guint op = fz_rng_below (&rng, 100);
      guint8 proto = protos[fz_rng_below (&rng, 3)];
      guint8 flags
        = (guint8[]){ FZ_TCP_ACK, FZ_TCP_ACK, FZ_TCP_ACK,
                      FZ_TCP_SYN, FZ_TCP_FIN, FZ_TCP_RST }[fz_rng_below (&rng, 6)];
      FzIpPacket pkt;

      if (op < 10) /* time passes, sessions expire */
        {
          now += (gint64) fz_rng_below (&rng, 90) * SEC;
          fz_nat_table_handle_timeout (nat, now);
          for (guint i = refs->len; i-- > 0;)
            if (ref_deadline (&g_array_index (refs, Ref, i)) <= now)
              g_array_remove_index_fast (refs, i);
        }
      else if (op < 12) /* re-resolution */
        mapping[fz_rng_below (&rng, N_PROXIES)] = fz_rng_below (&rng, N_REALS);
      else if (op < 13) /* a client removed, or one proxy IP */
        {
          guint c = fz_rng_below (&rng, N_CLIENTS), p = fz_rng_below (&rng, N_PROXIES);
          gboolean all = fz_rng_below (&rng, 2);
          guint n = 0;
          for (guint i = refs->len; i-- > 0;)
            {
              Ref *r = &g_array_index (refs, Ref, i);
              if (r->client == c && (all || r->proxy == p))
                g_array_remove_index_fast (refs, i), n++;
            }
          g_assert_cmpuint (all
                              ? fz_nat_table_remove_client (nat, &clients[c])
                              : fz_nat_table_remove_proxy (nat, &clients[c], &proxies[p]),
                            ==, n);
        }
      else if (op < 60) /* outbound */
        {
          guint c = fz_rng_below (&rng, N_CLIENTS), p = fz_rng_below (&rng, N_PROXIES);
          guint sport = 1020 + fz_rng_below (&rng, 6);
          guint dport = proto == FZ_IP_PROTO_ICMP ? 0 : 80 + fz_rng_below (&rng, 2);
          Ref *found = NULL;
          FzIpAddr a;

          if (proto == FZ_IP_PROTO_TCP)
            build_tcp (buf, &pkt, &clients[c], &proxies[p], sport, dport, flags);
          else if (proto == FZ_IP_PROTO_UDP)
            fz_ip_build_udp (buf, &pkt, &clients[c], &proxies[p], sport, dport, "u", 1,
                             NULL);
          else
            fz_ip_build_icmp_echo (buf, &pkt, &clients[c], &proxies[p], FALSE, sport, 1,
                                   "e", 1, NULL);
          for (guint i = 0; i < refs->len; i++)
            {
              Ref *r = &g_array_index (refs, Ref, i);
              if (r->proto == proto && r->client == c && r->sport == sport
                  && r->proxy == p && r->dport == dport)
                found = r;
            }
          g_assert_cmpint (
            fz_nat_table_translate_out (nat, &pkt, &reals[mapping[p]], now), ==,
            FZ_NAT_TRANSLATED);
          assert_checksums (&pkt);
          if (found == NULL)
            {
              Ref r = { proto, c, sport, p, dport, mapping[p], 0, now, 0 };
              gboolean taken = FALSE;
              r.tport = client_port (&pkt, TRUE);
              for (guint i = 0; i < refs->len; i++)
                {
                  Ref *o = &g_array_index (refs, Ref, i);
                  if (o->proto == proto && o->real == r.real && o->dport == dport
                      && o->client == c)
                    {
                      g_assert_cmpuint (o->tport, !=, r.tport);
                      taken |= o->tport == sport;
                    }
                }
              if (!taken)
                g_assert_cmpuint (r.tport, ==, sport);
              g_array_append_val (refs, r);
              found = &g_array_index (refs, Ref, refs->len - 1);
            }
          fz_ip_packet_dst (&pkt, &a);
          g_assert_true (fz_ip_addr_equal (&a, &reals[found->real]));
          g_assert_cmpuint (client_port (&pkt, TRUE), ==, found->tport);
          found->last_out = now;
          if (proto == FZ_IP_PROTO_TCP)
            found->fin_out |= flags == FZ_TCP_FIN, found->rst |= flags == FZ_TCP_RST;
        }
      else /* inbound: a reply to a session, or to a guess */
        {
          Ref *r = NULL, guess = { proto,
                                   fz_rng_below (&rng, N_CLIENTS),
                                   0,
                                   0,
                                   proto == FZ_IP_PROTO_ICMP ? 0 : 80,
                                   fz_rng_below (&rng, 2),
                                   (guint16) (1020 + fz_rng_below (&rng, 6)) };
          FzNatResult want = FZ_NAT_NO_SESSION;
          FzIpAddr a;

          if (refs->len > 0 && fz_rng_below (&rng, 4) > 0)
            r = &g_array_index (refs, Ref, fz_rng_below (&rng, refs->len));
          else
            for (guint i = 0; i < refs->len && r == NULL; i++)
              {
                Ref *o = &g_array_index (refs, Ref, i);
                if (o->proto == guess.proto && o->client == guess.client
                    && o->real == guess.real && o->dport == guess.dport
                    && o->tport == guess.tport)
                  r = o;
              }
          if (r == NULL)
            r = &guess;
          else
            want = FZ_NAT_TRANSLATED;
          if (r->proto == FZ_IP_PROTO_TCP)
            build_tcp (buf, &pkt, &reals[r->real], &clients[r->client], r->dport,
                       r->tport, flags);
          else if (r->proto == FZ_IP_PROTO_UDP)
            fz_ip_build_udp (buf, &pkt, &reals[r->real], &clients[r->client], r->dport,
                             r->tport, "u", 1, NULL);
          else
            fz_ip_build_icmp_echo (buf, &pkt, &reals[r->real], &clients[r->client], TRUE,
                                   r->tport, 1, "e", 1, NULL);
          g_assert_cmpint (fz_nat_table_translate_in (nat, &pkt, now), ==, want);
          if (want != FZ_NAT_TRANSLATED)
            continue;
          assert_checksums (&pkt);
          fz_ip_packet_src (&pkt, &a);
          g_assert_true (fz_ip_addr_equal (&a, &proxies[r->proxy]));
          g_assert_cmpuint (client_port (&pkt, FALSE), ==, r->sport);
          r->last_in = now, r->seen_in = TRUE;
          if (r->proto == FZ_IP_PROTO_TCP)
            r->fin_in |= flags == FZ_TCP_FIN, r->rst |= flags == FZ_TCP_RST;
        }
      g_assert_cmpuint (fz_nat_table_size (nat), ==, refs->len);
    }
  /* Everything goes in the end, at the reference's deadlines. */
  while (refs->len > 0)
    {
      gint64 next = G_MAXINT64;
      guint due = 0;
      for (guint i = 0; i < refs->len; i++)
        next = MIN (next, ref_deadline (&g_array_index (refs, Ref, i)));
      g_assert_cmpint (fz_nat_table_poll_timeout (nat), <=, next);
      fz_nat_table_handle_timeout (nat, next - 1);
      g_assert_cmpuint (fz_nat_table_size (nat), ==, refs->len);
      for (guint i = refs->len; i-- > 0;)
        if (ref_deadline (&g_array_index (refs, Ref, i)) <= next)
          g_array_remove_index_fast (refs, i), due++;
      g_assert_cmpuint (fz_nat_table_handle_timeout (nat, next), ==, due);
    }
  g_assert_cmpuint (fz_nat_table_size (nat), ==, 0);
}

static void
test_random (void)
{
  for (guint64 seed = 1; seed <= 8; seed++)
    random_run (seed);
}

#define ADD(name, fn)                                                                    \
  g_test_add ("/nat-table/" name, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("tcp-v4", test_tcp_v4);
  ADD ("tcp-v6", test_tcp_v6);
  ADD ("udp-v4", test_udp_v4);
  ADD ("udp-v6", test_udp_v6);
  ADD ("icmp-v4", test_icmp_v4);
  ADD ("icmp-v6", test_icmp_v6);
  ADD ("collision-udp", test_collision_udp);
  ADD ("collision-tcp", test_collision_tcp);
  ADD ("collision-icmp", test_collision_icmp);
  ADD ("results", test_results);
  g_test_add_func ("/nat-table/proxy-ranges", test_proxy_ranges);
  ADD ("timeout/unconfirmed", test_timeout_unconfirmed);
  ADD ("timeout/udp", test_timeout_udp);
  ADD ("timeout/icmp", test_timeout_icmp);
  ADD ("timeout/tcp", test_timeout_tcp);
  ADD ("timeout/extends", test_timeout_extends);
  ADD ("timeout/fin", test_timeout_fin);
  ADD ("timeout/rst-out", test_timeout_rst_out);
  ADD ("timeout/rst-in", test_timeout_rst_in);
  ADD ("icmp-error/v4", test_icmp_error_v4);
  ADD ("icmp-error/v4-port", test_icmp_error_v4_port);
  ADD ("icmp-error/v4-tcp-router", test_icmp_error_v4_tcp_router);
  ADD ("icmp-error/v4-echo", test_icmp_error_v4_echo);
  ADD ("icmp-error/v6", test_icmp_error_v6);
  ADD ("icmp-error/v6-too-big", test_icmp_error_v6_too_big);
  ADD ("icmp-error/v6-echo", test_icmp_error_v6_echo);
  ADD ("icmp-error/rejects", test_icmp_error_rejects);
  ADD ("remove", test_remove);
  ADD ("reresolve", test_reresolve);
  g_test_add_func ("/nat-table/full", test_full);
  ADD ("flood", test_flood);
  g_test_add_func ("/nat-table/ports-exhausted", test_ports_exhausted);
  g_test_add_func ("/nat-table/random", test_random);
  return g_test_run ();
}
