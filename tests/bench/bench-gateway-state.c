/* Figures, not a pass/fail test: ns per packet through the gateway's
 * policy (after WireGuard): a client's packet to a CIDR resource (source
 * check, longest-prefix filters), to a DNS resource's proxy IP (mapping,
 * filters, NAT), and a resource's reply back through the NAT; with 100
 * clients of 100 CIDR resources each (10 000 resources) and 10 000 NAT
 * sessions. Each packet is first copied into a pool buffer; the copy
 * alone is timed too.
 *
 *   bench-gateway-state [ITERATIONS]
 *
 * Meaningful only from an optimised build without sanitizers
 * (tools/bench); the test suites run it briefly to keep it working. */
#include "gateway-setup.h"

#include <stdlib.h>

#define CLIENTS   100
#define RESOURCES 100 /* per client */
#define FLOWS     100 /* NAT sessions per client */

static double
ns_per (gint64 start_us, guint64 n)
{
  return (double) (g_get_monotonic_time () - start_us) * 1000.0 / (double) n;
}

typedef struct
{
  guint8 data[128];
  guint32 len;
  guint client;
} Packet;

static void
build (Packet *p, guint client, const FzIpAddr *src, const FzIpAddr *dst, guint16 sport,
       guint16 dport)
{
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 256);
  FzIpPacket pkt;
  g_assert (
    fz_ip_build_udp (buf, &pkt, src, dst, sport, dport, "0123456789abcdef", 16, NULL));
  memcpy (p->data, pkt.data, pkt.len);
  p->len = pkt.len;
  p->client = client;
}

static FzPacketBuf *
copy (FzBufPool *pool, const Packet *p)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (pool);
  fz_packet_buf_set (buf, p->data, p->len);
  return buf;
}

static guint
drain (FzGatewayState *gw)
{
  FzPacketBuf *b;
  FzNodeTransmit tx;
  guint n = 0;
  while ((b = fz_gateway_state_poll_tun (gw)) != NULL)
    {
      fz_packet_buf_free (b);
      n++;
    }
  while (fz_gateway_state_poll_transmit (gw, &tx))
    fz_packet_buf_free (tx.buf);
  return n;
}

int
main (int argc, char **argv)
{
  guint64 iters = argc > 1 ? g_ascii_strtoull (argv[1], NULL, 10) : 2000000;
  FzRng rng;
  guint8 priv[32];
  gint64 now = G_USEC_PER_SEC;
  char ids[CLIENTS][32];

  fz_rng_init_seeded (&rng, 1);
  fz_rng_fill (&rng, priv, sizeof priv);
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (2048, 256);
  g_autoptr (FzGatewayState) gw
    = fz_gateway_state_new (priv, &rng, pool, g_get_real_time (), now);
  gwsetup_init (gw, now);

  gint64 t0 = g_get_monotonic_time ();
  for (guint c = 0; c < CLIENTS; c++)
    {
      g_snprintf (ids[c], sizeof ids[c], "client-%u", c);
      for (guint r = 0; r < RESOURCES; r++)
        {
          g_autofree char *res = g_strdup_printf (
            "{\"id\":\"r-%u-%u\",\"type\":\"cidr\",\"address\":\"10.%u.%u.0/24\","
            "\"name\":\"n\",\"filters\":[{\"protocol\":\"udp\",\"port_range_start\":53,"
            "\"port_range_end\":53},{\"protocol\":\"tcp\",\"port_range_start\":80,"
            "\"port_range_end\":443}]}",
            c, r, c, r);
          gwsetup_authorize (gw, c, res, now);
        }
      gwsetup_authorize (
        gw, c,
        "{\"id\":\"r-app\",\"type\":\"dns\",\"address\":\"*.app.example\","
        "\"name\":\"app\",\"filters\":[]}",
        now);
    }
  double setup_ms = (double) (g_get_monotonic_time () - t0) / 1000.0;

  FzIpAddr real;
  fz_ip_addr_parse (&real, "10.200.0.1");
  for (guint c = 0; c < CLIENTS; c++)
    gwsetup_assign (gw, pool, c, "r-app", "db.app.example", 1, &real, now);
  drain (gw);

  /* The flows: per client, CIDR destinations and NAT sessions. */
  g_autofree Packet *cidr = g_new (Packet, CLIENTS * FLOWS);
  g_autofree Packet *nat = g_new (Packet, CLIENTS * FLOWS);
  g_autofree Packet *reply = g_new (Packet, CLIENTS * FLOWS);
  for (guint c = 0; c < CLIENTS; c++)
    for (guint i = 0; i < FLOWS; i++)
      {
        FzIpAddr src, dst, proxy;
        guint8 d[4] = { 10, c, i % RESOURCES, 5 }, px[4] = { 100, 96, 0, 1 };
        gwsetup_client_ip (c, 4, &src);
        fz_ip_addr_set_v4 (&dst, d);
        fz_ip_addr_set_v4 (&proxy, px);
        build (&cidr[c * FLOWS + i], c, &src, &dst, (guint16) (20000 + i), 53);
        build (&nat[c * FLOWS + i], c, &src, &proxy, (guint16) (20000 + i), 53);
        build (&reply[c * FLOWS + i], c, &real, &src, 53, (guint16) (20000 + i));
      }
  /* Open the sessions (and compile every client's filters) once. */
  guint opened = 0;
  for (guint k = 0; k < CLIENTS * FLOWS; k++)
    {
      fz_gateway_state_handle_client_packet (gw, ids[nat[k].client], copy (pool, &nat[k]),
                                             now);
      fz_gateway_state_handle_client_packet (gw, ids[cidr[k].client],
                                             copy (pool, &cidr[k]), now);
      opened += drain (gw);
    }
  if (opened != 2 * CLIENTS * FLOWS)
    g_error ("only %u of %u packets passed while warming up", opened,
             2 * CLIENTS * FLOWS);

  guint64 n = iters, passed = 0;
  gint64 start = g_get_monotonic_time ();
  for (guint64 k = 0; k < n; k++)
    fz_packet_buf_free (copy (pool, &cidr[k % (CLIENTS * FLOWS)]));
  double copy_ns = ns_per (start, n);

  start = g_get_monotonic_time ();
  for (guint64 k = 0; k < n; k++)
    {
      const Packet *p = &cidr[k % (CLIENTS * FLOWS)];
      fz_gateway_state_handle_client_packet (gw, ids[p->client], copy (pool, p), now);
      passed += drain (gw);
    }
  double cidr_ns = ns_per (start, n);

  start = g_get_monotonic_time ();
  for (guint64 k = 0; k < n; k++)
    {
      const Packet *p = &nat[k % (CLIENTS * FLOWS)];
      fz_gateway_state_handle_client_packet (gw, ids[p->client], copy (pool, p), now);
      passed += drain (gw);
    }
  double nat_ns = ns_per (start, n);

  start = g_get_monotonic_time ();
  for (guint64 k = 0; k < n; k++)
    {
      FzNodeTransmit tx;
      fz_gateway_state_handle_tun (gw, copy (pool, &reply[k % (CLIENTS * FLOWS)]), now);
      /* Replies go to clients not connected: the node drops them. */
      while (fz_gateway_state_poll_transmit (gw, &tx))
        fz_packet_buf_free (tx.buf);
    }
  double in_ns = ns_per (start, n);
  if (passed != 2 * n)
    g_error ("%" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " packets passed", passed,
             2 * n);

  printf (
    "gateway policy, %u clients x %u CIDR resources, %u NAT sessions, %" G_GUINT64_FORMAT
    " packets each:\n",
    CLIENTS, RESOURCES, CLIENTS * FLOWS, n);
  printf ("  setup (10 100 authorizations through JSON): %.0f ms\n", setup_ms);
  printf ("  copy into a pool buffer (included below): %6.1f ns/packet\n", copy_ns);
  printf ("  client -> CIDR resource (filters):        %6.1f ns/packet\n", cidr_ns);
  printf ("  client -> proxy IP (filters + NAT):       %6.1f ns/packet\n", nat_ns);
  printf ("  resource -> client (NAT back):            %6.1f ns/packet\n", in_ns);
  return 0;
}
