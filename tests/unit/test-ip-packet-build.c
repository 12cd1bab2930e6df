/* Builders: what they write parses back, checksums verify independently,
 * and ICMP errors follow the rules of the data-plane spec. */
#include "fz-private.h"
#include "naive-checksum.h"

#include <string.h>

static FzIpAddr
addr (const char *s)
{
  FzIpAddr a;
  g_assert_true (fz_ip_addr_parse (&a, s));
  return a;
}

static void
assert_checksums_naive (const FzIpPacket *pkt)
{
  if (pkt->version == 4)
    g_assert_cmphex (naive_checksum (pkt->data, 20), ==, 0);
  g_assert_cmphex (naive_l4_checksum (pkt->data, pkt->len, pkt->l4_off, pkt->proto), ==,
                   0);
}

/* Reparses the buffer from scratch: the builder's own view is not trusted. */
static void
reparse (FzPacketBuf *buf, FzIpPacket *pkt)
{
  g_assert_cmpint (fz_ip_packet_parse (pkt, buf->data, buf->len, FZ_IP_MAX_OFFLOAD), ==,
                   FZ_IP_OK);
}

static void
test_udp (void)
{
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  const char *pairs[][2]
    = { { "100.100.111.1", "100.64.0.3" },
        { "fd00:2021:1111:8000:100:100:111:0", "fd00:2021:1111::3" } };

  for (guint i = 0; i < G_N_ELEMENTS (pairs); i++)
    for (gsize len = 0; len < 40; len += 13)
      {
        FzIpAddr src = addr (pairs[i][0]), dst = addr (pairs[i][1]), got;
        FzIpPacket pkt, again;
        guint8 payload[64];
        guint32 plen;

        for (gsize k = 0; k < len; k++)
          payload[k] = (guint8) (k * 7 + 1);
        g_assert_true (
          fz_ip_build_udp (buf, &pkt, &src, &dst, 53, 40000, payload, len, NULL));
        g_assert_cmpuint (fz_packet_buf_headroom (buf), ==, FZ_PACKET_BUF_HEADROOM);
        reparse (buf, &again);
        g_assert_cmpuint (again.proto, ==, FZ_IP_PROTO_UDP);
        g_assert_cmpuint (again.len, ==, (src.family == 4 ? 20 : 40) + 8 + len);
        fz_ip_packet_src (&again, &got);
        g_assert_true (fz_ip_addr_equal (&got, &src));
        fz_ip_packet_dst (&again, &got);
        g_assert_true (fz_ip_addr_equal (&got, &dst));
        g_assert_cmpuint (fz_ip_packet_src_port (&again), ==, 53);
        g_assert_cmpuint (fz_ip_packet_dst_port (&again), ==, 40000);
        g_assert_cmpuint (fz_ip_packet_ttl (&again), ==, FZ_IP_DEFAULT_TTL);
        g_assert_cmpmem (fz_ip_packet_payload (&again, &plen), len, payload, len);
        g_assert_cmpuint (plen, ==, len);
        g_assert_cmphex (buf->data[src.family == 4 ? 26 : 46]
                           | buf->data[src.family == 4 ? 27 : 47],
                         !=, 0); /* a real checksum, even over IPv4 */
        assert_checksums_naive (&again);
      }
}

static guint32
be32_at (const guint8 *p)
{
  return (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
}

static void
test_tcp (void)
{
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  const char *pairs[][2]
    = { { "100.100.111.1", "100.64.0.3" },
        { "fd00:2021:1111:8000:100:100:111:0", "fd00:2021:1111::3" } };
  const guint8 payload[] = "\x00\x05hello";

  for (guint i = 0; i < G_N_ELEMENTS (pairs); i++)
    for (guint with_mss = 0; with_mss < 2; with_mss++)
      {
        FzIpAddr src = addr (pairs[i][0]), dst = addr (pairs[i][1]);
        FzTcpSegment seg = { .sport = 53,
                             .dport = 41000,
                             .seq = 0xfffffff0u,
                             .ack = 0x01020304,
                             .flags = FZ_TCP_SYN | FZ_TCP_ACK,
                             .window = 8192,
                             .mss = with_mss ? 1240 : 0 };
        FzIpPacket pkt, again;
        guint32 plen;

        g_assert_true (fz_ip_build_tcp (buf, &pkt, &src, &dst, &seg, payload,
                                        sizeof payload - 1, NULL));
        reparse (buf, &again);
        g_assert_cmpuint (again.proto, ==, FZ_IP_PROTO_TCP);
        guint8 *l4 = fz_ip_packet_l4 (&again);
        g_assert_cmpuint (fz_ip_packet_src_port (&again), ==, 53);
        g_assert_cmpuint (fz_ip_packet_dst_port (&again), ==, 41000);
        g_assert_cmphex (be32_at (l4 + 4), ==, 0xfffffff0u);
        g_assert_cmphex (be32_at (l4 + 8), ==, 0x01020304);
        g_assert_cmphex (fz_ip_packet_tcp_flags (&again), ==, FZ_TCP_SYN | FZ_TCP_ACK);
        g_assert_cmpuint (l4[14] << 8 | l4[15], ==, 8192);
        g_assert_cmpuint (l4[12] >> 4, ==, with_mss ? 6 : 5);
        if (with_mss)
          {
            g_assert_cmpuint (l4[20], ==, 2);
            g_assert_cmpuint (l4[21], ==, 4);
            g_assert_cmpuint (l4[22] << 8 | l4[23], ==, 1240);
          }
        g_assert_cmpmem (fz_ip_packet_payload (&again, &plen), plen, payload,
                         sizeof payload - 1);
        assert_checksums_naive (&again);
      }
}

static void
test_icmp_echo (void)
{
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  FzIpAddr a4 = addr ("100.64.0.1"), b4 = addr ("100.64.0.2");
  FzIpAddr a6 = addr ("fd00:2021:1111::1"), b6 = addr ("fd00:2021:1111::2");
  FzIpPacket pkt;

  g_assert_true (
    fz_ip_build_icmp_echo (buf, &pkt, &a4, &b4, FALSE, 7, 9, "abc", 3, NULL));
  reparse (buf, &pkt);
  g_assert_cmpuint (fz_ip_packet_icmp_type (&pkt), ==, 8);
  g_assert_cmpuint (fz_ip_packet_icmp_echo_id (&pkt), ==, 7);
  g_assert_cmpuint (fz_ip_packet_icmp_echo_seq (&pkt), ==, 9);
  assert_checksums_naive (&pkt);

  g_assert_true (fz_ip_build_icmp_echo (buf, &pkt, &a6, &b6, TRUE, 1, 2, NULL, 0, NULL));
  reparse (buf, &pkt);
  g_assert_cmpuint (fz_ip_packet_icmp_type (&pkt), ==, 129);
  assert_checksums_naive (&pkt);
}

typedef struct
{
  const char *src, *dst;
  FzIcmpUnreachable kind;
  guint8 type, code;
} ErrCase;

static void
test_icmp_unreachable (void)
{
  static const ErrCase cases[] = {
    { "100.64.0.3", "10.1.2.3", FZ_ICMP_PROHIBITED, 3, 13 },
    { "100.64.0.3", "10.1.2.3", FZ_ICMP_NET_UNREACHABLE, 3, 0 },
    { "fd00:2021:1111::3", "2001:db8::5", FZ_ICMP_PROHIBITED, 1, 1 },
    { "fd00:2021:1111::3", "2001:db8::5", FZ_ICMP_NET_UNREACHABLE, 1, 3 },
  };
  g_autoptr (FzPacketBuf) orig = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  guint8 payload[1400];

  memset (payload, 0xab, sizeof payload);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    for (gsize len = 0; len <= 1400; len += 350)
      {
        const ErrCase *c = &cases[i];
        FzIpAddr src = addr (c->src), dst = addr (c->dst), got;
        FzIpPacket o, e;
        gsize want_quote;
        guint8 *l4;

        g_assert_true (
          fz_ip_build_udp (orig, &o, &src, &dst, 1234, 443, payload, len, NULL));
        g_assert_true (fz_ip_build_icmp_unreachable (buf, &e, &o, c->kind, NULL));
        reparse (buf, &e);
        l4 = fz_ip_packet_l4 (&e);
        g_assert_cmpuint (e.proto, ==,
                          src.family == 4 ? FZ_IP_PROTO_ICMP : FZ_IP_PROTO_ICMPV6);
        g_assert_cmpuint (l4[0], ==, c->type);
        g_assert_cmpuint (l4[1], ==, c->code);
        g_assert_true (fz_ip_packet_is_icmp_error (&e));
        g_assert_cmpuint (fz_ip_packet_ttl (&e), ==, 20);
        /* src and dst swapped: the error comes from where the packet went */
        fz_ip_packet_src (&e, &got);
        g_assert_true (fz_ip_addr_equal (&got, &dst));
        fz_ip_packet_dst (&e, &got);
        g_assert_true (fz_ip_addr_equal (&got, &src));
        /* IPv4: header + 8 bytes; IPv6: as much as fits in 1280 */
        want_quote = src.family == 4 ? 28 : MIN (o.len, 1280u - 48u);
        g_assert_cmpuint (fz_ip_packet_l4_len (&e), ==, 8 + want_quote);
        g_assert_cmpmem (l4 + 8, want_quote, o.data, want_quote);
        g_assert_cmpuint (e.len, <=, 1280);
        assert_checksums_naive (&e);
        /* the quoted header still names the original flow */
        g_assert_cmpuint (l4[8 + (src.family == 4 ? 20 : 40) + 1], ==, 1234 & 0xff);
      }
}

static void
test_icmp_no_error_about_error (void)
{
  g_autoptr (FzPacketBuf) orig = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  g_autoptr (FzPacketBuf) err = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  g_autoptr (GError) error = NULL;
  FzIpAddr a = addr ("100.64.0.1"), b = addr ("100.64.0.2");
  FzIpPacket o, e, x;

  g_assert_true (fz_ip_build_udp (orig, &o, &a, &b, 1, 2, NULL, 0, NULL));
  g_assert_true (fz_ip_build_icmp_unreachable (err, &e, &o, FZ_ICMP_PROHIBITED, NULL));
  g_assert_false (fz_ip_build_icmp_unreachable (buf, &x, &e, FZ_ICMP_PROHIBITED, &error));
  g_assert_error (error, FZ_IP_ERROR, FZ_IP_ERR_ICMP_ABOUT_ICMP);

  /* an echo request may be answered with an error */
  g_assert_true (fz_ip_build_icmp_echo (orig, &o, &a, &b, FALSE, 1, 1, NULL, 0, NULL));
  g_assert_true (fz_ip_build_icmp_unreachable (buf, &x, &o, FZ_ICMP_PROHIBITED, NULL));
}

static void
test_control (void)
{
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  const char *json = "{\"resource\":\"r1\",\"domain\":\"example.com\",\"proxy_ips\":[]}";
  FzIpPacket pkt;
  guint32 plen;
  guint8 *p;

  g_assert_true (
    fz_ip_build_control (buf, &pkt, FZ_CONTROL_ASSIGNED_IPS, json, strlen (json), NULL));
  reparse (buf, &pkt);
  g_assert_true (fz_ip_packet_is_control (&pkt));
  g_assert_cmpuint (fz_ip_packet_control_type (&pkt), ==, FZ_CONTROL_ASSIGNED_IPS);
  g_assert_cmpuint (buf->data[0] >> 4, ==, 6);
  g_assert_cmpuint (buf->data[6], ==, 0xff);
  g_assert_cmpuint (buf->data[7], ==, 0);
  for (guint i = 8; i < 40; i++)
    g_assert_cmpuint (buf->data[i], ==, 0);
  for (guint i = 41; i < 48; i++)
    g_assert_cmpuint (buf->data[i], ==, 0);
  p = fz_ip_packet_payload (&pkt, &plen);
  g_assert_cmpmem (p, plen, json, strlen (json));

  g_assert_true (fz_ip_build_control (buf, &pkt, FZ_CONTROL_GOODBYE, NULL, 0, NULL));
  reparse (buf, &pkt);
  g_assert_cmpuint (pkt.len, ==, 48);
  g_assert_cmpuint (fz_ip_packet_control_type (&pkt), ==, FZ_CONTROL_GOODBYE);
}

static void
test_no_room (void)
{
  g_autoptr (FzPacketBuf) small = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 60);
  g_autoptr (FzPacketBuf) big = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 70000);
  g_autoptr (GError) error = NULL;
  FzIpAddr a = addr ("100.64.0.1"), b = addr ("100.64.0.2");
  g_autofree guint8 *payload = g_malloc0 (70000);
  FzIpPacket pkt;

  g_assert_true (fz_ip_build_udp (small, &pkt, &a, &b, 1, 2, payload, 32, NULL));
  g_assert_false (fz_ip_build_udp (small, &pkt, &a, &b, 1, 2, payload, 33, &error));
  g_assert_error (error, FZ_IP_ERROR, FZ_IP_ERR_NO_ROOM);
  g_clear_error (&error);

  /* the IPv4 total length field: 65535 at most */
  g_assert_true (fz_ip_build_udp (big, &pkt, &a, &b, 1, 2, payload, 65535 - 28, NULL));
  g_assert_false (fz_ip_build_udp (big, &pkt, &a, &b, 1, 2, payload, 65535 - 27, &error));
  g_assert_error (error, FZ_IP_ERROR, FZ_IP_ERR_NO_ROOM);
  g_clear_error (&error);
  g_assert_false (
    fz_ip_build_control (small, &pkt, FZ_CONTROL_GOODBYE, payload, 70000, &error));
  g_assert_error (error, FZ_IP_ERROR, FZ_IP_ERR_NO_ROOM);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ip/build/udp", test_udp);
  g_test_add_func ("/ip/build/tcp", test_tcp);
  g_test_add_func ("/ip/build/icmp-echo", test_icmp_echo);
  g_test_add_func ("/ip/build/icmp-unreachable", test_icmp_unreachable);
  g_test_add_func ("/ip/build/icmp-no-error-about-error", test_icmp_no_error_about_error);
  g_test_add_func ("/ip/build/control", test_control);
  g_test_add_func ("/ip/build/no-room", test_no_room);
  return g_test_run ();
}
