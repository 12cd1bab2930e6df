/* FzFilterSet against a naive reading of the FzFilter list, on random
 * filters and ports, and on real packets of each protocol. */
#include "fz-private.h"

#include <string.h>

#define PROTO_OTHER 47 /* GRE: no filter names it */

/* The filter list read as it is written. */
static gboolean
naive (const FzFilter *f, guint n, guint8 proto, guint16 port)
{
  if (n == 0)
    return TRUE;
  for (guint i = 0; i < n; i++)
    {
      guint lo = MIN (f[i].port_start, f[i].port_end);
      guint hi = MAX (f[i].port_start, f[i].port_end);
      gboolean in = port >= lo && port <= hi;

      if ((f[i].protocol == FZ_FILTER_TCP && proto == FZ_IP_PROTO_TCP && in)
          || (f[i].protocol == FZ_FILTER_UDP && proto == FZ_IP_PROTO_UDP && in)
          || (f[i].protocol == FZ_FILTER_ICMP
              && (proto == FZ_IP_PROTO_ICMP || proto == FZ_IP_PROTO_ICMPV6)))
        return TRUE;
    }
  return FALSE;
}

static guint16
random_port (GRand *r)
{
  switch (g_rand_int_range (r, 0, 4))
    {
    case 0: return g_rand_boolean (r) ? 0 : 65535;
    case 1: return (guint16) g_rand_int_range (r, 0, 1024);
    default: return (guint16) g_rand_int_range (r, 0, 65536);
    }
}

static guint
random_filters (GRand *r, FzFilter *f)
{
  guint n = g_rand_int_range (r, 0, 9);

  for (guint i = 0; i < n; i++)
    {
      guint16 a = random_port (r), b;

      f[i].protocol = g_rand_int_range (r, 0, 7) == 0 ? FZ_FILTER_ICMP
                      : g_rand_boolean (r)            ? FZ_FILTER_TCP
                                                      : FZ_FILTER_UDP;
      switch (g_rand_int_range (r, 0, 4))
        {
        case 0: b = a; break;            /* one port */
        case 1: a = 0, b = 65535; break; /* no range given */
        case 2: b = (guint16) MIN (65535, a + g_rand_int_range (r, 0, 50)); break;
        default: b = random_port (r); break; /* either order */
        }
      f[i].port_start = a;
      f[i].port_end = b;
    }
  return n;
}

static const guint8 protos[] = { FZ_IP_PROTO_TCP, FZ_IP_PROTO_UDP, FZ_IP_PROTO_ICMP,
                                 FZ_IP_PROTO_ICMPV6, PROTO_OTHER };

/* Every protocol at random ports and at each range's edges. */
static void
check_set (const FzFilterSet *set, GRand *r, const FzFilter *f, guint n,
           const FzFilter *g, guint m)
{
  for (guint p = 0; p < G_N_ELEMENTS (protos); p++)
    {
      guint16 ports[64];
      guint k = 0;

      for (guint i = 0; i < n && k + 4 <= 32; i++)
        {
          ports[k++] = f[i].port_start;
          ports[k++] = f[i].port_end;
          ports[k++] = (guint16) (f[i].port_start - 1);
          ports[k++] = (guint16) (f[i].port_end + 1);
        }
      for (guint i = 0; i < m && k + 4 <= 64; i++)
        {
          ports[k++] = g[i].port_start;
          ports[k++] = g[i].port_end;
          ports[k++] = (guint16) (g[i].port_start - 1);
          ports[k++] = (guint16) (g[i].port_end + 1);
        }
      while (k < G_N_ELEMENTS (ports))
        ports[k++] = random_port (r);
      for (guint i = 0; i < k; i++)
        {
          gboolean want = naive (f, n, protos[p], ports[i])
                          || (g != NULL && naive (g, m, protos[p], ports[i]));
          g_assert_cmpint (fz_filter_set_allows (set, protos[p], ports[i]), ==, want);
        }
    }
}

static void
test_random_filters (void)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (2024);

  for (guint round = 0; round < 20000; round++)
    {
      FzFilter f[8];
      guint n = random_filters (r, f);
      g_autoptr (FzFilterSet) set = fz_filter_set_new (f, n);

      g_assert_cmpint (fz_filter_set_allows_all (set), ==, n == 0);
      check_set (set, r, f, n, NULL, 0);
    }
}

static void
test_union (void)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (7);

  for (guint round = 0; round < 5000; round++)
    {
      FzFilter f[8], g[8];
      guint n = random_filters (r, f), m = random_filters (r, g);
      g_autoptr (FzFilterSet) a = fz_filter_set_new (f, n);
      g_autoptr (FzFilterSet) b = fz_filter_set_new (g, m);
      g_autoptr (FzFilterSet) u = fz_filter_set_union (a, b);

      check_set (u, r, f, n, g, m);
    }
}

/* An IPv4 TCP SYN: the builders make no TCP. */
static void
tcp_packet (FzPacketBuf *buf, FzIpPacket *pkt, guint16 dport)
{
  static const guint8 tmpl[40] = {
    0x45, 0,    0,    40,         0,    0,    0x40, 0, 64, FZ_IP_PROTO_TCP,
    0,    0,    100,  64,         0,    1,    10,   0, 0,  1,
    0x30, 0x39, 0,    0,          0,    0,    0,    1, 0,  0,
    0,    0,    0x50, FZ_TCP_SYN, 0xff, 0xff, 0,    0, 0,  0,
  };
  guint8 *p;

  fz_packet_buf_reset (buf);
  p = fz_packet_buf_put (buf, sizeof tmpl);
  memcpy (p, tmpl, sizeof tmpl);
  p[22] = dport >> 8;
  p[23] = dport & 0xff;
  g_assert_cmpint (fz_ip_packet_parse (pkt, buf->data, buf->len, FZ_IP_MTU_TUNNEL), ==,
                   FZ_IP_OK);
}

static void
test_packets (void)
{
  const FzFilter filters[] = {
    { FZ_FILTER_TCP, 443, 443 },
    { FZ_FILTER_UDP, 53, 53 },
    { FZ_FILTER_TCP, 8000, 8999 },
  };
  const FzFilter with_icmp[]
    = { { FZ_FILTER_UDP, 53, 53 }, { FZ_FILTER_ICMP, 0, 65535 } };
  g_autoptr (FzFilterSet) set = fz_filter_set_new (filters, G_N_ELEMENTS (filters));
  g_autoptr (FzFilterSet) icmp = fz_filter_set_new (with_icmp, G_N_ELEMENTS (with_icmp));
  g_autoptr (FzFilterSet) all = fz_filter_set_new (NULL, 0);
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  g_autoptr (FzPacketBuf) err = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  FzIpAddr c4, r4, c6, r6;
  FzIpPacket pkt, epkt;

  fz_ip_addr_parse (&c4, "100.64.0.1");
  fz_ip_addr_parse (&r4, "10.0.0.1");
  fz_ip_addr_parse (&c6, "fd00:2021:1111::1");
  fz_ip_addr_parse (&r6, "2001:db8::1");

  /* TCP and UDP by destination port, never by source port. */
  tcp_packet (buf, &pkt, 443);
  g_assert_true (fz_filter_set_allows_packet (set, &pkt));
  tcp_packet (buf, &pkt, 8999);
  g_assert_true (fz_filter_set_allows_packet (set, &pkt));
  tcp_packet (buf, &pkt, 9000);
  g_assert_false (fz_filter_set_allows_packet (set, &pkt));
  g_assert_false (fz_filter_set_allows_packet (icmp, &pkt));
  g_assert_true (fz_filter_set_allows_packet (all, &pkt));
  g_assert_true (fz_ip_build_udp (buf, &pkt, &c6, &r6, 443, 53, "q", 1, NULL));
  g_assert_true (fz_filter_set_allows_packet (set, &pkt));
  g_assert_true (fz_ip_build_udp (buf, &pkt, &c4, &r4, 53, 443, "q", 1, NULL));
  g_assert_false (fz_filter_set_allows_packet (set, &pkt));

  /* ICMP of both families, echo requests and errors alike, needs icmp. */
  g_assert_true (fz_ip_build_icmp_echo (buf, &pkt, &c4, &r4, FALSE, 1, 1, "p", 1, NULL));
  g_assert_false (fz_filter_set_allows_packet (set, &pkt));
  g_assert_true (fz_filter_set_allows_packet (icmp, &pkt));
  g_assert_true (fz_filter_set_allows_packet (all, &pkt));
  g_assert_true (fz_ip_build_icmp_echo (buf, &pkt, &c6, &r6, FALSE, 1, 1, "p", 1, NULL));
  g_assert_false (fz_filter_set_allows_packet (set, &pkt));
  g_assert_true (fz_filter_set_allows_packet (icmp, &pkt));
  g_assert_true (fz_ip_build_udp (buf, &pkt, &r4, &c4, 53, 9, "q", 1, NULL));
  g_assert_true (
    fz_ip_build_icmp_unreachable (err, &epkt, &pkt, FZ_ICMP_NET_UNREACHABLE, NULL));
  g_assert_true (fz_ip_packet_is_icmp_error (&epkt));
  g_assert_false (fz_filter_set_allows_packet (set, &epkt));
  g_assert_true (fz_filter_set_allows_packet (icmp, &epkt));

  /* p2p control packets are no traffic to a resource. */
  g_assert_true (fz_ip_build_control (buf, &pkt, FZ_CONTROL_GOODBYE, NULL, 0, NULL));
  g_assert_false (fz_filter_set_allows_packet (set, &pkt));
  g_assert_false (fz_filter_set_allows_packet (icmp, &pkt));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/filter-set/random-filters", test_random_filters);
  g_test_add_func ("/filter-set/union", test_union);
  g_test_add_func ("/filter-set/packets", test_packets);
  return g_test_run ();
}
