/* Figures, not a pass/fail test: ns per packet for parsing and for a
 * gateway-style NAT rewrite (destination address and port, checksums
 * updated incrementally), with a full checksum recompute for reference.
 *
 *   bench-ip-packet [ITERATIONS]
 *
 * Meaningful only from an optimised build without sanitizers
 * (tools/bench); the test suites run it briefly to keep it working. */
#include "fz-private.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct
{
  const char *name;
  FzPacketBuf *buf;
} Sample;

static double
ns_per (gint64 start_us, guint64 n)
{
  return (double) (g_get_monotonic_time () - start_us) * 1000.0 / (double) n;
}

int
main (int argc, char **argv)
{
  guint64 iters = argc > 1 ? g_ascii_strtoull (argv[1], NULL, 10) : 5000000;
  FzIpAddr c4, r4, p4, c6, r6;
  guint8 payload[1400] = { 0 };
  Sample samples[3];
  volatile guint64 sink = 0;

  if (iters == 0)
    {
      fprintf (stderr, "usage: %s [ITERATIONS > 0]\n", argv[0]);
      return 2;
    }
  fz_ip_addr_parse (&c4, "100.64.0.3");
  fz_ip_addr_parse (&r4, "10.0.0.8");
  fz_ip_addr_parse (&p4, "100.96.0.1");
  fz_ip_addr_parse (&c6, "fd00:2021:1111::3");
  fz_ip_addr_parse (&r6, "fd00:2021:1111:8000::1");

  for (guint i = 0; i < 3; i++)
    samples[i].buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  {
    FzIpPacket pkt;
    samples[0].name = "IPv4 UDP 1280 B";
    fz_ip_build_udp (samples[0].buf, &pkt, &c4, &p4, 40000, 53, payload, 1280 - 28, NULL);
    samples[1].name = "IPv6 UDP 1280 B";
    fz_ip_build_udp (samples[1].buf, &pkt, &c6, &r6, 40000, 53, payload, 1280 - 48, NULL);
    samples[2].name = "IPv4 ICMP 84 B";
    fz_ip_build_icmp_echo (samples[2].buf, &pkt, &c4, &p4, FALSE, 1, 1, payload, 56,
                           NULL);
  }

  printf ("libfz %s: IP packet benchmark, %" G_GUINT64_FORMAT " iterations each\n",
          fz_version (), iters);
  printf ("%-18s %12s %16s %16s\n", "packet", "parse ns", "NAT rewrite ns",
          "full csum ns");
  for (guint i = 0; i < 3; i++)
    {
      FzPacketBuf *b = samples[i].buf;
      double parse_ns, nat_ns, csum_ns;
      FzIpPacket pkt;
      gint64 t;

      t = g_get_monotonic_time ();
      for (guint64 n = 0; n < iters; n++)
        {
          sink += fz_ip_packet_parse (&pkt, b->data, b->len, FZ_IP_MTU_TUNNEL);
          sink += pkt.l4_off;
        }
      parse_ns = ns_per (t, iters);

      /* parse + rewrite the destination both ways, as a gateway's DNAT
       * does per packet; alternate so the data really changes */
      t = g_get_monotonic_time ();
      for (guint64 n = 0; n < iters; n++)
        {
          const FzIpAddr *to
            = pkt.version == 4 ? ((n & 1) ? &p4 : &r4) : ((n & 1) ? &c6 : &r6);
          fz_ip_packet_parse (&pkt, b->data, b->len, FZ_IP_MTU_TUNNEL);
          fz_ip_packet_set_dst (&pkt, to);
          if (fz_ip_packet_has_ports (&pkt))
            fz_ip_packet_set_dst_port (&pkt, (n & 1) ? 53 : 5353);
          else
            fz_ip_packet_set_icmp_echo_id (&pkt, (guint16) n);
          sink += b->data[10];
        }
      nat_ns = ns_per (t, iters);
      if (!fz_ip_packet_verify_ip_checksum (&pkt)
          || !fz_ip_packet_verify_l4_checksum (&pkt))
        {
          fprintf (stderr, "checksums broken after NAT rewrite\n");
          return 1;
        }

      t = g_get_monotonic_time ();
      for (guint64 n = 0; n < iters / 10 + 1; n++)
        {
          fz_ip_packet_update_checksums (&pkt);
          sink += b->data[10];
        }
      csum_ns = ns_per (t, iters / 10 + 1);

      printf ("%-18s %12.1f %16.1f %16.1f\n", samples[i].name, parse_ns, nat_ns, csum_ns);
      fz_packet_buf_free (b);
    }
  return sink == 42 ? 3 : 0; /* keeps the loops from being optimised away */
}
