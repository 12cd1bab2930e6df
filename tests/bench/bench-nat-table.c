/* Figures, not a pass/fail test: ns per packet through an FzNatTable
 * holding 10 000 sessions, outbound and inbound (each packet restored
 * from a pristine copy first; the copy alone is timed too), and ns per
 * new session.
 *
 *   bench-nat-table [ITERATIONS]
 *
 * Meaningful only from an optimised build without sanitizers
 * (tools/bench); the test suites run it briefly to keep it working. */
#include "fz-private.h"
#include "fz-ip-packet-build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESSIONS 10000
#define CLIENTS  10
#define PROXIES  4
#define PKT_MAX  128

typedef struct
{
  guint8 out[PKT_MAX], in[PKT_MAX];
  guint32 out_len, in_len;
} Flow;

static double
ns_per (gint64 start_us, guint64 n)
{
  return (double) (g_get_monotonic_time () - start_us) * 1000.0 / (double) n;
}

static void
flow_addrs (guint i, FzIpAddr *client, FzIpAddr *proxy, FzIpAddr *real)
{
  guint8 c[4] = { 100, 64, 0, 1 + i % CLIENTS }, p[4] = { 100, 96, 0, 1 + i % PROXIES };
  guint8 r[4] = { 192, 0, 2, 1 + i % 2 };

  fz_ip_addr_set_v4 (client, c);
  fz_ip_addr_set_v4 (proxy, p);
  fz_ip_addr_set_v4 (real, r);
}

/* Builds the client's packet of flow @i, creates its session, and keeps
 * the resource's reply to it. */
static void
flow_init (Flow *f, guint i, FzNatTable *nat, FzPacketBuf *buf, const guint8 *payload)
{
  FzIpAddr client, proxy, real, src, dst;
  guint16 sport = (guint16) (10000 + i / CLIENTS);
  FzIpPacket pkt;

  flow_addrs (i, &client, &proxy, &real);
  fz_ip_build_udp (buf, &pkt, &client, &proxy, sport, 443, payload, 32, NULL);
  memcpy (f->out, pkt.data, pkt.len);
  f->out_len = pkt.len;
  if (fz_nat_table_translate_out (nat, &pkt, &real, 0) != FZ_NAT_TRANSLATED)
    g_error ("session %u not made", i);
  fz_ip_packet_src (&pkt, &src);
  fz_ip_packet_dst (&pkt, &dst);
  fz_ip_build_udp (buf, &pkt, &dst, &src, 443, fz_ip_packet_src_port (&pkt), payload, 32,
                   NULL);
  memcpy (f->in, pkt.data, pkt.len);
  f->in_len = pkt.len;
}

static guint64
run (Flow *flows, FzNatTable *nat, guint64 iters, int dir, guint8 *scratch)
{
  guint64 ok = 0;

  for (guint64 n = 0; n < iters; n++)
    {
      Flow *f = &flows[n % SESSIONS];
      const guint8 *src = dir > 0 ? f->in : f->out;
      guint32 len = dir > 0 ? f->in_len : f->out_len;
      FzIpPacket pkt;

      memcpy (scratch, src, len);
      fz_ip_packet_parse (&pkt, scratch, len, PKT_MAX);
      if (dir < 0)
        ok += pkt.len; /* the copy and parse alone */
      else if (dir == 0)
        ok += fz_nat_table_translate_out (nat, &pkt, NULL, 1) == FZ_NAT_TRANSLATED;
      else
        ok += fz_nat_table_translate_in (nat, &pkt, 1) == FZ_NAT_TRANSLATED;
    }
  return ok;
}

int
main (int argc, char **argv)
{
  guint64 iters = argc > 1 ? g_ascii_strtoull (argv[1], NULL, 10) : 5000000;
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  g_autoptr (FzNatTable) nat = NULL;
  g_autofree Flow *flows = g_new0 (Flow, SESSIONS);
  guint8 payload[32] = { 0 }, scratch[PKT_MAX];
  volatile guint64 sink = 0;
  FzRng rng;
  gint64 t0;
  double base, out_ns, in_ns, new_ns;
  guint rounds = MAX (1, (guint) (iters / SESSIONS));

  if (iters == 0)
    {
      fprintf (stderr, "usage: %s [ITERATIONS > 0]\n", argv[0]);
      return 2;
    }
  fz_rng_init_seeded (&rng, 1);
  nat = fz_nat_table_new (&rng, 0, 0);
  for (guint i = 0; i < SESSIONS; i++)
    flow_init (&flows[i], i, nat, buf, payload);
  g_assert_cmpuint (fz_nat_table_size (nat), ==, SESSIONS);

  printf ("libfz %s: NAT table benchmark, %u sessions, %" G_GUINT64_FORMAT
          " packets each (IPv4 UDP 60 B)\n",
          fz_version (), SESSIONS, iters);
  t0 = g_get_monotonic_time ();
  sink += run (flows, nat, iters, -1, scratch);
  base = ns_per (t0, iters);
  t0 = g_get_monotonic_time ();
  g_assert_cmpuint (run (flows, nat, iters, 0, scratch), ==, iters);
  out_ns = ns_per (t0, iters);
  t0 = g_get_monotonic_time ();
  g_assert_cmpuint (run (flows, nat, iters, 1, scratch), ==, iters);
  in_ns = ns_per (t0, iters);

  /* New sessions: the whole table made again, then dropped, @rounds times. */
  t0 = g_get_monotonic_time ();
  for (guint r = 0; r < rounds; r++)
    {
      for (guint c = 0; c < CLIENTS; c++)
        {
          FzIpAddr client, proxy, real;
          flow_addrs (c, &client, &proxy, &real);
          fz_nat_table_remove_client (nat, &client);
        }
      for (guint i = 0; i < SESSIONS; i++)
        {
          FzIpAddr client, proxy, real;
          FzIpPacket pkt;
          flow_addrs (i, &client, &proxy, &real);
          memcpy (scratch, flows[i].out, flows[i].out_len);
          fz_ip_packet_parse (&pkt, scratch, flows[i].out_len, PKT_MAX);
          if (fz_nat_table_translate_out (nat, &pkt, &real, 2) != FZ_NAT_TRANSLATED)
            g_error ("session %u not made again", i);
        }
    }
  new_ns = ns_per (t0, (guint64) rounds * SESSIONS);
  g_assert_cmpuint (fz_nat_table_size (nat), ==, SESSIONS);

  printf ("  copy + parse only     %7.1f ns/packet\n", base);
  printf ("  outbound (translate)  %7.1f ns/packet (%.1f beyond copy + parse)\n", out_ns,
          out_ns - base);
  printf ("  inbound (translate)   %7.1f ns/packet (%.1f beyond copy + parse)\n", in_ns,
          in_ns - base);
  printf ("  new session           %7.1f ns/session (incl. removal of the old)\n",
          new_ns);
  (void) sink;
  return 0;
}
