/* The strict parser's rules, one by one, and the accessors and setters. */
#include "fz-private.h"
#include "naive-checksum.h"

#include <string.h>

typedef struct
{
  guint8 b[256];
  gsize len;
} Raw;

static void
put16 (guint8 *p, guint v)
{
  p[0] = v >> 8;
  p[1] = v & 0xff;
}

/* IPv4 10.0.0.1 -> 10.0.0.2 with @l4 bytes of @proto; checksums filled. */
static Raw
v4 (guint8 proto, const guint8 *l4, gsize l4_len)
{
  Raw r = { .len = 20 + l4_len };
  guint16 c;

  r.b[0] = 0x45;
  put16 (r.b + 2, (guint) r.len);
  r.b[6] = 0x40;
  r.b[8] = 64;
  r.b[9] = proto;
  r.b[12] = 10, r.b[15] = 1;
  r.b[16] = 10, r.b[19] = 2;
  memcpy (r.b + 20, l4, l4_len);
  c = naive_checksum (r.b, 20);
  put16 (r.b + 10, c);
  return r;
}

/* IPv6 fd00::1 -> fd00::2; @hdrs is the extension chain + L4 bytes. */
static Raw
v6 (guint8 nh, const guint8 *rest, gsize rest_len)
{
  Raw r = { .len = 40 + rest_len };

  r.b[0] = 0x60;
  put16 (r.b + 4, (guint) rest_len);
  r.b[6] = nh;
  r.b[7] = 64;
  r.b[8] = 0xfd, r.b[23] = 1;
  r.b[24] = 0xfd, r.b[39] = 2;
  memcpy (r.b + 40, rest, rest_len);
  return r;
}

static const guint8 udp_hdr[12]
  = { 0x04, 0xd2, 0x00, 0x35, 0x00, 0x0c, 0, 0, 'd', 'n', 's', '!' };
static const guint8 tcp_hdr[24] = { 0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0,
                                    0x60, 0x02, 0xff, 0xff, 0, 0, 0, 0, 2, 4, 5, 0xb4 };
static const guint8 echo_hdr[10] = { 8, 0, 0, 0, 0x12, 0x34, 0, 7, 'h', 'i' };
static const guint8 echo6_hdr[10] = { 128, 0, 0, 0, 0x12, 0x34, 0, 7, 'h', 'i' };

static FzIpReject
parse (Raw *r)
{
  FzIpPacket pkt;
  return fz_ip_packet_parse (&pkt, r->b, r->len, FZ_IP_MTU_TUNNEL);
}

/* The rejection, and an explanation containing each of @needles. */
static void
assert_reject (Raw *r, FzIpReject want, const char *const *needles)
{
  FzIpPacket pkt;
  g_autofree char *why = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_cmpstr (
    fz_ip_reject_to_string (fz_ip_packet_parse (&pkt, r->b, r->len, FZ_IP_MTU_TUNNEL)),
    ==, fz_ip_reject_to_string (want));
  why = fz_ip_packet_explain (r->b, r->len, FZ_IP_MTU_TUNNEL);
  g_assert_nonnull (why);
  for (; needles != NULL && *needles != NULL; needles++)
    if (strstr (why, *needles) == NULL)
      g_error ("explanation \"%s\" lacks \"%s\"", why, *needles);

  g_assert_false (
    fz_ip_packet_parse_or_error (&pkt, r->b, r->len, FZ_IP_MTU_TUNNEL, &error));
  g_assert_error (error, FZ_IP_ERROR, (gint) want);
}

#define NEEDLES(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void
test_valid (void)
{
  Raw r[] = {
    v4 (FZ_IP_PROTO_UDP, udp_hdr, sizeof udp_hdr),
    v4 (FZ_IP_PROTO_TCP, tcp_hdr, sizeof tcp_hdr),
    v4 (FZ_IP_PROTO_ICMP, echo_hdr, sizeof echo_hdr),
    v6 (FZ_IP_PROTO_UDP, udp_hdr, sizeof udp_hdr),
    v6 (FZ_IP_PROTO_TCP, tcp_hdr, sizeof tcp_hdr),
    v6 (FZ_IP_PROTO_ICMPV6, echo6_hdr, sizeof echo6_hdr),
  };

  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    {
      FzIpPacket pkt;
      g_assert_cmpint (fz_ip_packet_parse (&pkt, r[i].b, r[i].len, FZ_IP_MTU_TUNNEL), ==,
                       FZ_IP_OK);
      g_assert_null (fz_ip_packet_explain (r[i].b, r[i].len, FZ_IP_MTU_TUNNEL));
      g_assert_cmpuint (pkt.l4_off, ==, pkt.version == 4 ? 20 : 40);
      g_assert_cmpuint (pkt.len, ==, r[i].len);
    }
}

static void
test_reject_length (void)
{
  Raw r = v4 (FZ_IP_PROTO_UDP, udp_hdr, sizeof udp_hdr);
  Raw s = v6 (FZ_IP_PROTO_UDP, udp_hdr, sizeof udp_hdr);
  Raw t;
  FzIpPacket pkt;

  t = r, t.len = 0;
  assert_reject (&t, FZ_IP_ERR_TOO_SHORT, NEEDLES ("empty"));
  t = r, t.len = 19;
  assert_reject (&t, FZ_IP_ERR_TOO_SHORT, NEEDLES ("IPv4 header needs 20 bytes, got 19"));
  t = s, t.len = 39;
  assert_reject (&t, FZ_IP_ERR_TOO_SHORT, NEEDLES ("IPv6 header needs 40 bytes, got 39"));

  t = r, put16 (t.b + 2, 33);
  assert_reject (
    &t, FZ_IP_ERR_TOTAL_LENGTH,
    NEEDLES ("total length 33 but 32 bytes", "10.0.0.1 -> 10.0.0.2", "UDP 1234 -> 53"));
  t = s, put16 (t.b + 4, 11);
  assert_reject (&t, FZ_IP_ERR_TOTAL_LENGTH,
                 NEEDLES ("payload length 11 but 12 bytes", "fd00::1 -> fd00::2"));

  /* The maximum: 1280 on the tunnel, more on the offload path. */
  {
    guint8 big[1281] = { 0x45 };
    put16 (big + 2, sizeof big);
    big[9] = FZ_IP_PROTO_UDP;
    put16 (big + 20 + 4, sizeof big - 20);
    g_assert_cmpint (fz_ip_packet_parse (&pkt, big, sizeof big, FZ_IP_MTU_TUNNEL), ==,
                     FZ_IP_ERR_TOO_LONG);
    g_assert_cmpint (fz_ip_packet_parse (&pkt, big, sizeof big, FZ_IP_MAX_OFFLOAD), ==,
                     FZ_IP_OK);
    g_assert_cmpint (fz_ip_packet_parse (&pkt, big, 1280, FZ_IP_MTU_TUNNEL), ==,
                     FZ_IP_ERR_TOTAL_LENGTH);
  }
}

static void
test_reject_header (void)
{
  Raw r = v4 (FZ_IP_PROTO_UDP, udp_hdr, sizeof udp_hdr);
  Raw t;

  t = r, t.b[0] = 0x55;
  assert_reject (&t, FZ_IP_ERR_VERSION, NEEDLES ("IP version 5"));
  t = r, t.b[0] = 0x05;
  assert_reject (&t, FZ_IP_ERR_VERSION, NEEDLES ("IP version 0"));
  t = r, t.b[0] = 0x44;
  assert_reject (&t, FZ_IP_ERR_IHL, NEEDLES ("IHL 4 is below 5"));
  t = r, t.b[0] = 0x4f;
  assert_reject (&t, FZ_IP_ERR_IHL, NEEDLES ("IHL 15 (60 bytes) runs past the 32-byte"));

  /* IPv4 options are fine: IHL 6 with a 4-byte NOP option. */
  {
    guint8 l4[16];
    memcpy (l4 + 4, udp_hdr, sizeof udp_hdr);
    memset (l4, 1, 4);
    t = v4 (FZ_IP_PROTO_UDP, l4, sizeof l4);
    t.b[0] = 0x46;
    g_assert_cmpint (parse (&t), ==, FZ_IP_OK);
  }
}

static void
test_reject_fragments (void)
{
  Raw r = v4 (FZ_IP_PROTO_UDP, udp_hdr, sizeof udp_hdr);
  guint8 frag6[8 + sizeof udp_hdr] = { FZ_IP_PROTO_UDP, 0, 0, 0, 0, 0, 0, 1 };
  Raw t;

  t = r, t.b[6] = 0x20; /* MF */
  assert_reject (&t, FZ_IP_ERR_FRAGMENT, NEEDLES ("fragment (MF 1, offset 0)"));
  t = r, t.b[6] = 0x40, t.b[7] = 0x02; /* DF + offset 16 */
  assert_reject (&t, FZ_IP_ERR_FRAGMENT, NEEDLES ("fragment (MF 0, offset 16)"));
  t = r, t.b[6] = 0x40, t.b[7] = 0; /* DF alone is fine */
  g_assert_cmpint (parse (&t), ==, FZ_IP_OK);

  memcpy (frag6 + 8, udp_hdr, sizeof udp_hdr);
  t = v6 (44, frag6, sizeof frag6);
  assert_reject (&t, FZ_IP_ERR_FRAGMENT, NEEDLES ("IPv6 fragment header", "fd00::2"));
}

static void
test_ipv6_extension_headers (void)
{
  guint8 chain[64];
  FzIpPacket pkt;
  Raw t;

  /* hop-by-hop (8) -> destination options (16) -> UDP */
  memset (chain, 0, sizeof chain);
  chain[0] = 60, chain[1] = 0, chain[2] = 1, chain[3] = 4;
  chain[8] = FZ_IP_PROTO_UDP, chain[9] = 1, chain[10] = 1, chain[11] = 12;
  memcpy (chain + 24, udp_hdr, sizeof udp_hdr);
  t = v6 (0, chain, 24 + sizeof udp_hdr);
  g_assert_cmpint (fz_ip_packet_parse (&pkt, t.b, t.len, FZ_IP_MTU_TUNNEL), ==, FZ_IP_OK);
  g_assert_cmpuint (pkt.l4_off, ==, 64);
  g_assert_cmpuint (pkt.proto, ==, FZ_IP_PROTO_UDP);
  g_assert_cmpuint (fz_ip_packet_dst_port (&pkt), ==, 53);

  /* hop-by-hop anywhere but first */
  chain[8] = 0;
  t = v6 (0, chain, 24 + sizeof udp_hdr);
  chain[8] = FZ_IP_PROTO_UDP;
  t.b[40] = 60, t.b[48] = 0;
  assert_reject (&t, FZ_IP_ERR_EXT_HEADER, NEEDLES ("hop-by-hop header not first"));

  /* a control packet never has extension headers */
  {
    guint8 ctl[16] = { 255, 0 };
    t = v6 (60, ctl, sizeof ctl);
    memset (t.b + 8, 0, 32);
    t.b[7] = 0;
    assert_reject (&t, FZ_IP_ERR_PROTOCOL, NEEDLES ("255 after an extension header"));
  }

  /* routing header */
  t = v6 (43, chain, 24 + sizeof udp_hdr);
  assert_reject (&t, FZ_IP_ERR_EXT_HEADER, NEEDLES ("routing header"));

  /* an extension header running past the end */
  t = v6 (60, chain, 8);
  t.b[41] = 1;
  assert_reject (&t, FZ_IP_ERR_EXT_HEADER, NEEDLES ("(16 bytes) runs past"));
  t = v6 (60, chain, 4);
  assert_reject (&t, FZ_IP_ERR_EXT_HEADER, NEEDLES ("truncated"));

  /* a chain longer than the bound: 9 destination options headers */
  {
    guint8 many[9 * 8 + sizeof udp_hdr] = { 0 };
    for (guint i = 0; i < 9; i++)
      many[i * 8] = i == 8 ? FZ_IP_PROTO_UDP : 60;
    memcpy (many + 72, udp_hdr, sizeof udp_hdr);
    t = v6 (60, many, sizeof many);
    assert_reject (&t, FZ_IP_ERR_EXT_HEADER, NEEDLES ("more than 8"));
  }
}

static void
test_reject_protocols (void)
{
  Raw t;

  t = v4 (47, udp_hdr, sizeof udp_hdr); /* GRE */
  assert_reject (&t, FZ_IP_ERR_PROTOCOL, NEEDLES ("protocol 47", "10.0.0.1 -> 10.0.0.2"));
  t = v6 (50, udp_hdr, sizeof udp_hdr); /* ESP */
  assert_reject (&t, FZ_IP_ERR_PROTOCOL, NEEDLES ("protocol 50"));
  t = v4 (255, udp_hdr, sizeof udp_hdr);
  assert_reject (&t, FZ_IP_ERR_PROTOCOL, NEEDLES ("IPv6 only"));
  t = v6 (255, udp_hdr, sizeof udp_hdr); /* not from :: to :: */
  assert_reject (&t, FZ_IP_ERR_PROTOCOL, NEEDLES ("outside a control packet"));

  t = v4 (FZ_IP_PROTO_ICMPV6, echo6_hdr, sizeof echo6_hdr);
  assert_reject (&t, FZ_IP_ERR_ICMP_FAMILY, NEEDLES ("ICMPv6 inside IPv4"));
  t = v6 (FZ_IP_PROTO_ICMP, echo_hdr, sizeof echo_hdr);
  assert_reject (&t, FZ_IP_ERR_ICMP_FAMILY, NEEDLES ("ICMPv4 inside IPv6"));
}

static void
test_reject_l4 (void)
{
  guint8 l4[24];
  Raw t;

  t = v4 (FZ_IP_PROTO_TCP, tcp_hdr, 19);
  assert_reject (&t, FZ_IP_ERR_L4_TRUNCATED,
                 NEEDLES ("TCP header needs 20 bytes, 19 left"));
  t = v6 (FZ_IP_PROTO_UDP, udp_hdr, 7);
  assert_reject (&t, FZ_IP_ERR_L4_TRUNCATED,
                 NEEDLES ("UDP header needs 8 bytes, 7 left"));
  t = v4 (FZ_IP_PROTO_ICMP, echo_hdr, 7);
  assert_reject (&t, FZ_IP_ERR_L4_TRUNCATED,
                 NEEDLES ("ICMP header needs 8 bytes, 7 left"));

  memcpy (l4, udp_hdr, sizeof udp_hdr);
  put16 (l4 + 4, 13);
  t = v4 (FZ_IP_PROTO_UDP, l4, sizeof udp_hdr);
  assert_reject (&t, FZ_IP_ERR_UDP_LENGTH,
                 NEEDLES ("UDP length 13 does not match L4 length 12", "UDP 1234 -> 53"));
  put16 (l4 + 4, 8);
  t = v6 (FZ_IP_PROTO_UDP, l4, sizeof udp_hdr);
  assert_reject (&t, FZ_IP_ERR_UDP_LENGTH, NEEDLES ("UDP length 8"));

  memcpy (l4, tcp_hdr, sizeof tcp_hdr);
  l4[12] = 4 << 4;
  t = v4 (FZ_IP_PROTO_TCP, l4, sizeof tcp_hdr);
  assert_reject (&t, FZ_IP_ERR_TCP_DATA_OFFSET,
                 NEEDLES ("data offset 4 is below 5", "TCP 12345 -> 80"));
  l4[12] = 7 << 4;
  t = v6 (FZ_IP_PROTO_TCP, l4, sizeof tcp_hdr);
  assert_reject (&t, FZ_IP_ERR_TCP_DATA_OFFSET,
                 NEEDLES ("offset 7 (28 bytes) runs past the 24-byte segment"));
}

static void
test_control (void)
{
  guint8 body[8 + 2] = { 2, 0, 0, 0, 0, 0, 0, 0, '{', '}' };
  FzIpPacket pkt;
  Raw t = v6 (255, body, sizeof body);

  memset (t.b + 8, 0, 32); /* src = dst = :: */
  t.b[7] = 0;
  g_assert_cmpint (fz_ip_packet_parse (&pkt, t.b, t.len, FZ_IP_MTU_TUNNEL), ==, FZ_IP_OK);
  g_assert_true (fz_ip_packet_is_control (&pkt));
  g_assert_cmpuint (fz_ip_packet_control_type (&pkt), ==, FZ_CONTROL_GOODBYE);
  g_assert_false (fz_ip_packet_has_ports (&pkt));

  t.b[7] = 1; /* hop limit must be 0 */
  assert_reject (&t, FZ_IP_ERR_PROTOCOL, NEEDLES ("hop limit 0"));
  t.b[7] = 0;
  t.len = 47;
  put16 (t.b + 4, 7);
  assert_reject (&t, FZ_IP_ERR_CONTROL, NEEDLES ("control header needs 8 bytes, 7 left"));
}

static void
test_accessors (void)
{
  Raw t = v4 (FZ_IP_PROTO_TCP, tcp_hdr, sizeof tcp_hdr);
  char s[FZ_IP_ADDR_STRLEN];
  FzIpPacket pkt;
  FzIpAddr a;
  guint32 plen;

  g_assert_cmpint (fz_ip_packet_parse (&pkt, t.b, t.len, FZ_IP_MTU_TUNNEL), ==, FZ_IP_OK);
  fz_ip_packet_src (&pkt, &a);
  g_assert_cmpstr (fz_ip_addr_to_string (&a, s), ==, "10.0.0.1");
  fz_ip_packet_dst (&pkt, &a);
  g_assert_cmpstr (fz_ip_addr_to_string (&a, s), ==, "10.0.0.2");
  g_assert_cmpuint (fz_ip_packet_src_port (&pkt), ==, 12345);
  g_assert_cmpuint (fz_ip_packet_dst_port (&pkt), ==, 80);
  g_assert_cmpuint (fz_ip_packet_tcp_flags (&pkt), ==, FZ_TCP_SYN);
  g_assert_cmpuint (fz_ip_packet_ttl (&pkt), ==, 64);
  fz_ip_packet_payload (&pkt, &plen);
  g_assert_cmpuint (plen, ==, 0); /* 24-byte header, options included */
  g_assert_false (fz_ip_packet_is_icmp (&pkt));
  g_assert_cmpuint (fz_ip_packet_icmp_echo_id (&pkt), ==, 0);

  t = v6 (FZ_IP_PROTO_ICMPV6, echo6_hdr, sizeof echo6_hdr);
  g_assert_cmpint (fz_ip_packet_parse (&pkt, t.b, t.len, FZ_IP_MTU_TUNNEL), ==, FZ_IP_OK);
  g_assert_true (fz_ip_packet_is_icmp_echo (&pkt));
  g_assert_false (fz_ip_packet_is_icmp_error (&pkt));
  g_assert_cmpuint (fz_ip_packet_icmp_echo_id (&pkt), ==, 0x1234);
  g_assert_cmpuint (fz_ip_packet_icmp_echo_seq (&pkt), ==, 7);
  g_assert_cmpmem (fz_ip_packet_payload (&pkt, &plen), 2, "hi", 2);
  g_assert_cmpuint (fz_ip_packet_src_port (&pkt), ==, 0);
  fz_ip_packet_set_dst_port (&pkt, 99); /* no ports: no change */
  g_assert_cmpmem (t.b + 40, sizeof echo6_hdr, echo6_hdr, sizeof echo6_hdr);
}

static void
assert_checksums (FzIpPacket *pkt)
{
  g_assert_true (fz_ip_packet_verify_ip_checksum (pkt));
  g_assert_true (fz_ip_packet_verify_l4_checksum (pkt));
  if (pkt->version == 4)
    g_assert_cmphex (naive_checksum (pkt->data, 20), ==, 0);
}

static void
test_setters (void)
{
  Raw t4 = v4 (FZ_IP_PROTO_UDP, udp_hdr, sizeof udp_hdr);
  Raw t6 = v6 (FZ_IP_PROTO_ICMPV6, echo6_hdr, sizeof echo6_hdr);
  FzIpPacket pkt;
  FzIpAddr a, b;

  g_assert_cmpint (fz_ip_packet_parse (&pkt, t4.b, t4.len, FZ_IP_MTU_TUNNEL), ==,
                   FZ_IP_OK);
  fz_ip_packet_update_checksums (&pkt);
  assert_checksums (&pkt);
  fz_ip_addr_parse (&a, "100.96.0.1");
  fz_ip_packet_set_dst (&pkt, &a);
  fz_ip_packet_set_dst_port (&pkt, 5353);
  fz_ip_packet_set_ttl (&pkt, 20);
  fz_ip_packet_set_ecn (&pkt, 2);
  assert_checksums (&pkt);
  fz_ip_packet_dst (&pkt, &b);
  g_assert_true (fz_ip_addr_equal (&a, &b));
  g_assert_cmpuint (fz_ip_packet_dst_port (&pkt), ==, 5353);
  g_assert_cmpuint (fz_ip_packet_ttl (&pkt), ==, 20);
  g_assert_cmpuint (fz_ip_packet_ecn (&pkt), ==, 2);
  g_assert_cmphex (t4.b[1], ==, 0x02);

  g_assert_cmpint (fz_ip_packet_parse (&pkt, t6.b, t6.len, FZ_IP_MTU_TUNNEL), ==,
                   FZ_IP_OK);
  fz_ip_packet_update_checksums (&pkt);
  fz_ip_addr_parse (&a, "fd00:2021:1111:8000::1");
  fz_ip_packet_set_src (&pkt, &a);
  fz_ip_packet_set_icmp_echo_id (&pkt, 0xffff);
  fz_ip_packet_set_ttl (&pkt, 1);
  fz_ip_packet_set_ecn (&pkt, 3);
  assert_checksums (&pkt);
  g_assert_cmpuint (fz_ip_packet_icmp_echo_id (&pkt), ==, 0xffff);
  g_assert_cmpuint (fz_ip_packet_ecn (&pkt), ==, 3);
  g_assert_cmphex (t6.b[0], ==, 0x60); /* traffic class bits 4..5 of byte 1 only */
  g_assert_cmphex (t6.b[1], ==, 0x30);
  g_assert_cmpuint (fz_ip_packet_ttl (&pkt), ==, 1);
}

/* IPv4 UDP without a checksum stays without one; a UDP checksum that
 * computes to zero is sent as 0xffff; IPv6 UDP with 0 does not verify. */
static void
test_udp_zero_checksum (void)
{
  Raw t = v4 (FZ_IP_PROTO_UDP, udp_hdr, sizeof udp_hdr);
  FzIpPacket pkt;
  FzIpAddr a;
  guint16 c;

  g_assert_cmpint (fz_ip_packet_parse (&pkt, t.b, t.len, FZ_IP_MTU_TUNNEL), ==, FZ_IP_OK);
  g_assert_true (fz_ip_packet_verify_l4_checksum (&pkt)); /* 0: none */
  fz_ip_addr_parse (&a, "192.0.2.77");
  fz_ip_packet_set_src (&pkt, &a);
  fz_ip_packet_set_src_port (&pkt, 40000);
  g_assert_cmphex (t.b[26], ==, 0);
  g_assert_cmphex (t.b[27], ==, 0);
  g_assert_true (fz_ip_packet_verify_ip_checksum (&pkt));

  /* make the payload cancel the sum: with a zero payload the checksum is
   * ~S; a payload word of ~S makes the sum all ones, the checksum 0 */
  memset (t.b + 28, 0, 4);
  fz_ip_packet_update_checksums (&pkt);
  memcpy (&c, t.b + 26, 2);
  memcpy (t.b + 28, &c, 2);
  fz_ip_packet_update_checksums (&pkt);
  g_assert_cmphex (t.b[26], ==, 0xff);
  g_assert_cmphex (t.b[27], ==, 0xff);
  g_assert_true (fz_ip_packet_verify_l4_checksum (&pkt));

  t = v6 (FZ_IP_PROTO_UDP, udp_hdr, sizeof udp_hdr);
  g_assert_cmpint (fz_ip_packet_parse (&pkt, t.b, t.len, FZ_IP_MTU_TUNNEL), ==, FZ_IP_OK);
  g_assert_false (fz_ip_packet_verify_l4_checksum (&pkt));
  fz_ip_packet_update_checksums (&pkt);
  g_assert_true (fz_ip_packet_verify_l4_checksum (&pkt));
  t.b[45] ^= 1;
  g_assert_false (fz_ip_packet_verify_l4_checksum (&pkt));
}

/* An ICMPv4 echo reply whose only non-zero word is the id: setting the id
 * to 0 leaves all-zero data, whose only valid checksum is 0xffff. */
static void
test_icmp_all_zero (void)
{
  static const guint8 reply[8] = { 0, 0, 0, 0, 0, 1, 0, 0 };
  Raw t = v4 (FZ_IP_PROTO_ICMP, reply, sizeof reply);
  FzIpPacket pkt;

  g_assert_cmpint (fz_ip_packet_parse (&pkt, t.b, t.len, FZ_IP_MTU_TUNNEL), ==, FZ_IP_OK);
  fz_ip_packet_update_checksums (&pkt);
  fz_ip_packet_set_icmp_echo_id (&pkt, 0);
  g_assert_cmphex (t.b[22], ==, 0xff);
  g_assert_cmphex (t.b[23], ==, 0xff);
  g_assert_true (fz_ip_packet_verify_l4_checksum (&pkt));
  g_assert_cmphex (naive_checksum (t.b + 20, 8), ==, 0);
}

static void
test_verify_detects_damage (void)
{
  Raw t = v4 (FZ_IP_PROTO_TCP, tcp_hdr, sizeof tcp_hdr);
  FzIpPacket pkt;

  g_assert_cmpint (fz_ip_packet_parse (&pkt, t.b, t.len, FZ_IP_MTU_TUNNEL), ==, FZ_IP_OK);
  fz_ip_packet_update_checksums (&pkt);
  assert_checksums (&pkt);
  t.b[8] ^= 0x10;
  g_assert_false (fz_ip_packet_verify_ip_checksum (&pkt));
  t.b[8] ^= 0x10;
  t.b[43] ^= 0x01;
  g_assert_false (fz_ip_packet_verify_l4_checksum (&pkt));
}

/* Parses (and explains) a heap copy of exactly r->len bytes, so a read
 * past the packet is caught by AddressSanitizer; checks the verdict and,
 * for a rejection, that the explanation contains @needle. */
static void
assert_exact (const Raw *r, FzIpReject want, guint32 want_l4_off, const char *needle)
{
  g_autofree guint8 *d = g_memdup2 (r->b, r->len);
  FzIpPacket pkt;
  FzIpReject got = fz_ip_packet_parse (&pkt, d, r->len, FZ_IP_MTU_TUNNEL);
  g_autofree char *why = fz_ip_packet_explain (d, r->len, FZ_IP_MTU_TUNNEL);

  g_test_message ("%" G_GSIZE_FORMAT " bytes: %s", r->len, why ? why : "ok");
  g_assert_cmpstr (fz_ip_reject_to_string (got), ==, fz_ip_reject_to_string (want));
  if (want == FZ_IP_OK)
    {
      g_assert_null (why);
      g_assert_cmpuint (pkt.l4_off, ==, want_l4_off);
      g_assert_cmpuint (pkt.l4_off + fz_ip_packet_l4_len (&pkt), ==, r->len);
    }
  else if (strstr (why, needle) == NULL)
    g_error ("explanation \"%s\" lacks \"%s\"", why, needle);
}

/* IPv6 with one destination options header declaring @units * 8 bytes, of
 * which @present are there, then @l4_len bytes of @l4 (protocol @proto). */
static Raw
v6_ext (guint units, gsize present, guint8 proto, const guint8 *l4, gsize l4_len)
{
  guint8 rest[200] = { 0 };
  g_assert_cmpuint (present + l4_len, <=, sizeof rest);
  rest[0] = proto;
  rest[1] = (guint8) (units - 1);
  if (l4_len > 0)
    memcpy (rest + present, l4, l4_len);
  return v6 (60, rest, present + l4_len);
}

/* A UDP header alone (length 8), and a TCP header with data offset 6 and
 * one option word. */
static const guint8 udp8[8] = { 0x04, 0xd2, 0x00, 0x35, 0x00, 0x08, 0, 0 };
static const guint8 tcp24[24] = { 0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0,
                                  0x60, 0x02, 0xff, 0xff, 0, 0, 0, 0, 1, 1, 1, 0 };

/* Each length rule at exactly fitting, one byte short and one byte over. */
static void
test_boundaries_ipv6_ext (void)
{
  Raw t;

  /* 8- and 16-byte headers exactly fitting before an exact UDP header. */
  t = v6_ext (1, 8, FZ_IP_PROTO_UDP, udp8, 8);
  assert_exact (&t, FZ_IP_OK, 48, NULL);
  t = v6_ext (2, 16, FZ_IP_PROTO_UDP, udp8, 8);
  assert_exact (&t, FZ_IP_OK, 56, NULL);
  /* The header is the whole payload: fits, and leaves no L4 header. */
  t = v6_ext (2, 16, FZ_IP_PROTO_UDP, NULL, 0);
  assert_exact (&t, FZ_IP_ERR_L4_TRUNCATED, 0, "8 bytes, 0 left");
  /* One byte over the end of the packet. */
  t = v6_ext (2, 15, FZ_IP_PROTO_UDP, NULL, 0);
  assert_exact (&t, FZ_IP_ERR_EXT_HEADER, 0, "(16 bytes) runs past");
  /* One byte more than the header: one byte of L4. */
  t = v6_ext (2, 17, FZ_IP_PROTO_UDP, NULL, 0);
  assert_exact (&t, FZ_IP_ERR_L4_TRUNCATED, 0, "8 bytes, 1 left");
  /* The fixed 8 bytes every header has: 7 is short, 8 fits. */
  t = v6_ext (1, 7, FZ_IP_PROTO_UDP, NULL, 0);
  assert_exact (&t, FZ_IP_ERR_EXT_HEADER, 0, "truncated");
  t = v6_ext (1, 8, FZ_IP_PROTO_UDP, NULL, 0);
  assert_exact (&t, FZ_IP_ERR_L4_TRUNCATED, 0, "8 bytes, 0 left");
  /* The largest header a length byte can declare (2048 bytes) is past
   * a tunnel packet's end. */
  t = v6_ext (256, 100, FZ_IP_PROTO_UDP, NULL, 0);
  assert_exact (&t, FZ_IP_ERR_EXT_HEADER, 0, "(2048 bytes) runs past");

  /* The second header of a chain: exactly fitting, one byte over. */
  {
    guint8 rest[64] = { 0 };
    rest[0] = 60;              /* hop-by-hop, 8 bytes, then */
    rest[8] = FZ_IP_PROTO_UDP; /* destination options, 24 bytes */
    rest[9] = 2;
    memcpy (rest + 32, udp8, 8);
    t = v6 (0, rest, 40);
    assert_exact (&t, FZ_IP_OK, 72, NULL);
    t = v6 (0, rest, 32);
    assert_exact (&t, FZ_IP_ERR_L4_TRUNCATED, 0, "0 left");
    t = v6 (0, rest, 31);
    assert_exact (&t, FZ_IP_ERR_EXT_HEADER, 0, "(24 bytes) runs past");
    t = v6 (0, rest, 15);
    assert_exact (&t, FZ_IP_ERR_EXT_HEADER, 0, "truncated");
  }

  /* L4 headers after an extension header. */
  t = v6_ext (1, 8, FZ_IP_PROTO_UDP, udp8, 7);
  assert_exact (&t, FZ_IP_ERR_L4_TRUNCATED, 0, "UDP header needs 8 bytes, 7 left");
  t = v6_ext (1, 8, FZ_IP_PROTO_TCP, tcp24, 24);
  assert_exact (&t, FZ_IP_OK, 48, NULL);
  t = v6_ext (1, 8, FZ_IP_PROTO_TCP, tcp24, 23);
  assert_exact (&t, FZ_IP_ERR_TCP_DATA_OFFSET, 0, "(24 bytes) runs past the 23-byte");
  t = v6_ext (1, 8, FZ_IP_PROTO_ICMPV6, echo6_hdr, 8);
  assert_exact (&t, FZ_IP_OK, 48, NULL);
  t = v6_ext (1, 8, FZ_IP_PROTO_ICMPV6, echo6_hdr, 7);
  assert_exact (&t, FZ_IP_ERR_L4_TRUNCATED, 0, "ICMP header needs 8 bytes, 7 left");
}

static void
test_boundaries_l4 (void)
{
  guint8 l4[28];
  Raw t;

  for (guint version = 4; version <= 6; version += 2)
    {
      guint32 off = version == 4 ? 20 : 40;
      guint8 icmp = version == 4 ? FZ_IP_PROTO_ICMP : FZ_IP_PROTO_ICMPV6;
      const guint8 *echo = version == 4 ? echo_hdr : echo6_hdr;
#define MK(proto, b, n) (version == 4 ? v4 ((proto), (b), (n)) : v6 ((proto), (b), (n)))

      /* UDP: 8 fits, 7 is short; the length field must match exactly. */
      t = MK (FZ_IP_PROTO_UDP, udp8, 8);
      assert_exact (&t, FZ_IP_OK, off, NULL);
      t = MK (FZ_IP_PROTO_UDP, udp8, 7);
      assert_exact (&t, FZ_IP_ERR_L4_TRUNCATED, 0, "UDP header needs 8 bytes, 7 left");
      memcpy (l4, udp8, 8);
      l4[8] = 0;
      put16 (l4 + 4, 8);
      t = MK (FZ_IP_PROTO_UDP, l4, 9);
      assert_exact (&t, FZ_IP_ERR_UDP_LENGTH, 0,
                    "UDP length 8 does not match L4 length 9");
      put16 (l4 + 4, 9);
      t = MK (FZ_IP_PROTO_UDP, l4, 8);
      assert_exact (&t, FZ_IP_ERR_UDP_LENGTH, 0,
                    "UDP length 9 does not match L4 length 8");

      /* TCP: 20 bytes at data offset 5 fits, 19 is short; data offset 6
       * needs 24 bytes, so 23 is short and 24 fits; 7 runs over 24. */
      memcpy (l4, tcp24, 24);
      l4[12] = 5 << 4;
      t = MK (FZ_IP_PROTO_TCP, l4, 20);
      assert_exact (&t, FZ_IP_OK, off, NULL);
      t = MK (FZ_IP_PROTO_TCP, l4, 19);
      assert_exact (&t, FZ_IP_ERR_L4_TRUNCATED, 0, "TCP header needs 20 bytes, 19 left");
      l4[12] = 6 << 4;
      t = MK (FZ_IP_PROTO_TCP, l4, 24);
      assert_exact (&t, FZ_IP_OK, off, NULL);
      t = MK (FZ_IP_PROTO_TCP, l4, 23);
      assert_exact (&t, FZ_IP_ERR_TCP_DATA_OFFSET, 0, "(24 bytes) runs past the 23-byte");
      t = MK (FZ_IP_PROTO_TCP, l4, 25);
      assert_exact (&t, FZ_IP_OK, off, NULL);
      l4[12] = 7 << 4;
      t = MK (FZ_IP_PROTO_TCP, l4, 24);
      assert_exact (&t, FZ_IP_ERR_TCP_DATA_OFFSET, 0, "(28 bytes) runs past the 24-byte");
      t = MK (FZ_IP_PROTO_TCP, l4, 28);
      assert_exact (&t, FZ_IP_OK, off, NULL);

      /* ICMP: 8 fits, 7 is short. */
      t = MK (icmp, echo, 8);
      assert_exact (&t, FZ_IP_OK, off, NULL);
      t = MK (icmp, echo, 7);
      assert_exact (&t, FZ_IP_ERR_L4_TRUNCATED, 0, "ICMP header needs 8 bytes, 7 left");
#undef MK
    }

  /* IPv4 options: IHL 6 is 24 bytes of header, exactly before UDP. */
  {
    guint8 opt_udp[12] = { 1, 1, 1, 1 };
    memcpy (opt_udp + 4, udp8, 8);
    t = v4 (FZ_IP_PROTO_UDP, opt_udp, 12);
    t.b[0] = 0x46;
    assert_exact (&t, FZ_IP_OK, 24, NULL);
    t = v4 (FZ_IP_PROTO_UDP, opt_udp, 4);
    t.b[0] = 0x46;
    assert_exact (&t, FZ_IP_ERR_L4_TRUNCATED, 0, "8 bytes, 0 left");
    t = v4 (FZ_IP_PROTO_UDP, opt_udp, 3);
    t.b[0] = 0x46;
    assert_exact (&t, FZ_IP_ERR_IHL, 0, "IHL 6 (24 bytes) runs past the 23-byte");
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ip/parse/valid", test_valid);
  g_test_add_func ("/ip/parse/reject-length", test_reject_length);
  g_test_add_func ("/ip/parse/reject-header", test_reject_header);
  g_test_add_func ("/ip/parse/reject-fragments", test_reject_fragments);
  g_test_add_func ("/ip/parse/ipv6-extension-headers", test_ipv6_extension_headers);
  g_test_add_func ("/ip/parse/reject-protocols", test_reject_protocols);
  g_test_add_func ("/ip/parse/reject-l4", test_reject_l4);
  g_test_add_func ("/ip/parse/boundaries-ipv6-ext", test_boundaries_ipv6_ext);
  g_test_add_func ("/ip/parse/boundaries-l4", test_boundaries_l4);
  g_test_add_func ("/ip/parse/control", test_control);
  g_test_add_func ("/ip/accessors", test_accessors);
  g_test_add_func ("/ip/setters", test_setters);
  g_test_add_func ("/ip/udp-zero-checksum", test_udp_zero_checksum);
  g_test_add_func ("/ip/icmp-all-zero", test_icmp_all_zero);
  g_test_add_func ("/ip/verify-detects-damage", test_verify_detects_damage);
  return g_test_run ();
}
