/* Packets the Linux kernel made, checked by libfz's parser and checksums.
 *
 * Reads tests/data/kernel-tun.pcap (see tests/data/README.md for where it
 * came from), or the capture named by $FZ_KERNEL_CAPTURE, which the interop
 * suite makes afresh in a network namespace. */
#include "fz-private.h"
#include "naive-checksum.h"
#include "pcap-file.h"

#include <string.h>

static GPtrArray *packets;

static guint8 *
copy_of (GBytes *b, gsize *len)
{
  return g_memdup2 (g_bytes_get_data (b, len), g_bytes_get_size (b));
}

static void
parse_ok (FzIpPacket *pkt, guint8 *data, gsize len)
{
  FzIpReject r = fz_ip_packet_parse (pkt, data, len, FZ_IP_MTU_TUNNEL);
  g_autofree char *why = r ? fz_ip_packet_explain (data, len, FZ_IP_MTU_TUNNEL) : NULL;

  if (r != FZ_IP_OK)
    g_error ("kernel packet rejected: %s", why);
}

/* Every kernel packet parses, and both our checksum verification and the
 * independent one agree that the kernel's checksums are right. */
static void
test_parse_and_verify (void)
{
  for (guint i = 0; i < packets->len; i++)
    {
      gsize len;
      g_autofree guint8 *data = copy_of (packets->pdata[i], &len);
      FzIpPacket pkt;

      parse_ok (&pkt, data, len);
      g_assert_cmpuint (pkt.l4_off, <, pkt.len);
      g_assert_true (fz_ip_packet_verify_ip_checksum (&pkt));
      g_assert_true (fz_ip_packet_verify_l4_checksum (&pkt));
      if (pkt.version == 4)
        g_assert_cmphex (naive_checksum (data, (data[0] & 0xf) * 4u), ==, 0);
      g_assert_cmphex (naive_l4_checksum (data, len, pkt.l4_off, pkt.proto), ==, 0);
    }
}

/* Zeroing and recomputing every checksum reproduces the kernel's bytes. */
static void
test_recompute (void)
{
  for (guint i = 0; i < packets->len; i++)
    {
      gsize len;
      g_autofree guint8 *data = copy_of (packets->pdata[i], &len);
      FzIpPacket pkt;

      parse_ok (&pkt, data, len);
      fz_ip_packet_update_checksums (&pkt);
      g_assert_cmpmem (data, len, g_bytes_get_data (packets->pdata[i], NULL), len);
    }
}

/* Incrementally updated checksums equal a full recompute after every
 * setter, on every kernel packet. */
static void
test_setters_incremental (void)
{
  FzIpAddr a4, b4, a6, b6;

  g_assert_true (fz_ip_addr_parse (&a4, "198.51.100.7"));
  g_assert_true (fz_ip_addr_parse (&b4, "203.0.113.255"));
  g_assert_true (fz_ip_addr_parse (&a6, "2001:db8::ffff:1"));
  g_assert_true (fz_ip_addr_parse (&b6, "fd00:2021:1111:8000::7"));

  for (guint i = 0; i < packets->len; i++)
    for (guint step = 0; step < 8; step++)
      {
        gsize len;
        g_autofree guint8 *data = copy_of (packets->pdata[i], &len);
        g_autofree guint8 *full = NULL;
        FzIpPacket pkt, ref;

        parse_ok (&pkt, data, len);
        switch (step)
          {
          case 0: fz_ip_packet_set_src (&pkt, pkt.version == 4 ? &a4 : &a6); break;
          case 1: fz_ip_packet_set_dst (&pkt, pkt.version == 4 ? &b4 : &b6); break;
          case 2: fz_ip_packet_set_src_port (&pkt, 1); break;
          case 3: fz_ip_packet_set_dst_port (&pkt, 65535); break;
          case 4: fz_ip_packet_set_ttl (&pkt, fz_ip_packet_ttl (&pkt) - 1); break;
          case 5: fz_ip_packet_set_ecn (&pkt, 3); break;
          case 6: fz_ip_packet_set_icmp_echo_id (&pkt, 0xbeef); break;
          case 7:
            fz_ip_packet_set_src (&pkt, pkt.version == 4 ? &b4 : &b6);
            fz_ip_packet_set_dst (&pkt, pkt.version == 4 ? &a4 : &a6);
            fz_ip_packet_set_dst_port (&pkt, 53);
            fz_ip_packet_set_icmp_echo_id (&pkt, 0);
            break;
          }
        g_assert_true (fz_ip_packet_verify_ip_checksum (&pkt));
        g_assert_true (fz_ip_packet_verify_l4_checksum (&pkt));
        g_assert_cmphex (naive_l4_checksum (data, len, pkt.l4_off, pkt.proto), ==, 0);

        full = g_memdup2 (data, len);
        parse_ok (&ref, full, len);
        fz_ip_packet_update_checksums (&ref);
        g_assert_cmpmem (data, len, full, len);
      }
}

/* A kernel packet cut short, or with a byte more, is rejected, and the
 * explanation names the rule and both addresses. */
static void
test_truncated_rejected (void)
{
  for (guint i = 0; i < packets->len; i++)
    {
      gsize len;
      g_autofree guint8 *data = copy_of (packets->pdata[i], &len);
      g_autofree guint8 *longer = g_malloc0 (len + 1);
      g_autofree char *why = NULL;
      char src[FZ_IP_ADDR_STRLEN], dst[FZ_IP_ADDR_STRLEN];
      FzIpAddr a;
      FzIpPacket pkt;

      parse_ok (&pkt, data, len);
      fz_ip_addr_to_string ((fz_ip_packet_src (&pkt, &a), &a), src);
      fz_ip_addr_to_string ((fz_ip_packet_dst (&pkt, &a), &a), dst);

      g_assert_cmpint (fz_ip_packet_parse (&pkt, data, len - 1, FZ_IP_MAX_OFFLOAD), ==,
                       FZ_IP_ERR_TOTAL_LENGTH);
      why = fz_ip_packet_explain (data, len - 1, FZ_IP_MAX_OFFLOAD);
      g_assert_nonnull (strstr (why, "length"));
      g_assert_nonnull (strstr (why, src));
      g_assert_nonnull (strstr (why, dst));

      memcpy (longer, data, len);
      g_assert_cmpint (fz_ip_packet_parse (&pkt, longer, len + 1, FZ_IP_MAX_OFFLOAD), ==,
                       FZ_IP_ERR_TOTAL_LENGTH);
      g_assert_cmpint (fz_ip_packet_parse (&pkt, data, len, len - 1), ==,
                       FZ_IP_ERR_TOO_LONG);
    }
}

typedef struct
{
  const char *what;
  guint version;
  guint8 proto;
  int type; /* ICMP type, or TCP flags to match, or -1 */
  int code;
} Expect;

static gboolean
matches (const FzIpPacket *pkt, const Expect *e)
{
  if (pkt->version != e->version || pkt->proto != e->proto)
    return FALSE;
  if (e->type < 0)
    return TRUE;
  if (pkt->proto == FZ_IP_PROTO_TCP)
    return (fz_ip_packet_tcp_flags (pkt) & e->type) == e->type;
  return fz_ip_packet_icmp_type (pkt) == e->type
         && (e->code < 0 || fz_ip_packet_icmp_code (pkt) == e->code);
}

/* The capture holds every kind of packet the other tests rely on. */
static void
test_coverage (void)
{
  static const Expect expect[] = {
    { "ICMPv4 echo request", 4, FZ_IP_PROTO_ICMP, 8, 0 },
    { "ICMPv4 echo reply to libfz's probe", 4, FZ_IP_PROTO_ICMP, 0, 0 },
    { "ICMPv4 port unreachable for libfz's UDP", 4, FZ_IP_PROTO_ICMP, 3, 3 },
    { "UDP over IPv4", 4, FZ_IP_PROTO_UDP, -1, -1 },
    { "TCP SYN over IPv4", 4, FZ_IP_PROTO_TCP, FZ_TCP_SYN, -1 },
    { "TCP RST for libfz's SYN over IPv4", 4, FZ_IP_PROTO_TCP, FZ_TCP_RST, -1 },
    { "ICMPv6 echo request", 6, FZ_IP_PROTO_ICMPV6, 128, 0 },
    { "ICMPv6 echo reply to libfz's probe", 6, FZ_IP_PROTO_ICMPV6, 129, 0 },
    { "ICMPv6 port unreachable for libfz's UDP", 6, FZ_IP_PROTO_ICMPV6, 1, 4 },
    { "UDP over IPv6", 6, FZ_IP_PROTO_UDP, -1, -1 },
    { "TCP SYN over IPv6", 6, FZ_IP_PROTO_TCP, FZ_TCP_SYN, -1 },
    { "TCP RST for libfz's SYN over IPv6", 6, FZ_IP_PROTO_TCP, FZ_TCP_RST, -1 },
  };
  gboolean seen[G_N_ELEMENTS (expect)] = { FALSE };
  gboolean odd = FALSE, big = FALSE, hop_by_hop = FALSE, dst_opts = FALSE;

  for (guint i = 0; i < packets->len; i++)
    {
      gsize len;
      g_autofree guint8 *data = copy_of (packets->pdata[i], &len);
      FzIpPacket pkt;

      parse_ok (&pkt, data, len);
      for (guint e = 0; e < G_N_ELEMENTS (expect); e++)
        seen[e] |= matches (&pkt, &expect[e]);
      odd |= fz_ip_packet_l4_len (&pkt) % 2 == 1;
      big |= len >= 1200;
      hop_by_hop |= pkt.version == 6 && data[6] == 0 && pkt.proto == FZ_IP_PROTO_UDP;
      dst_opts |= pkt.version == 6 && data[6] == 60 && pkt.proto == FZ_IP_PROTO_UDP;
    }
  for (guint e = 0; e < G_N_ELEMENTS (expect); e++)
    if (!seen[e])
      g_error ("capture has no %s", expect[e].what);
  g_assert_true (odd);
  g_assert_true (big);
  g_assert_true (hop_by_hop);
  g_assert_true (dst_opts);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;

  g_test_init (&argc, &argv, NULL);
  path = g_strdup (g_getenv ("FZ_KERNEL_CAPTURE"));
  if (path == NULL)
    path = g_test_build_filename (G_TEST_DIST, "data", "kernel-tun.pcap", NULL);
  packets = pcap_file_read (path, &error);
  if (packets == NULL)
    g_error ("%s", error->message);
  g_assert_cmpuint (packets->len, >, 10);
  g_test_message ("%u kernel packets from %s", packets->len, path);

  g_test_add_func ("/ip/kernel/parse-and-verify", test_parse_and_verify);
  g_test_add_func ("/ip/kernel/recompute", test_recompute);
  g_test_add_func ("/ip/kernel/setters-incremental", test_setters_incremental);
  g_test_add_func ("/ip/kernel/truncated-rejected", test_truncated_rejected);
  g_test_add_func ("/ip/kernel/coverage", test_coverage);
  return g_test_run ();
}
