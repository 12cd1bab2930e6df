/* Super-packets from a TUN with offloads: TCP segmentation and checksum
 * completion, checked with the independent checksum. */
#include "fz-private.h"
#include "naive-checksum.h"

#include <string.h>

static FzBufPool *pool;

/* A TCP super-packet: headers as the kernel leaves them for TSO, payload
 * bytes i & 0xff. */
static FzPacketBuf *
super_packet (int version, gsize payload, guint8 flags)
{
  FzPacketBuf *b = fz_buf_pool_alloc (pool);
  gsize ip = version == 4 ? 20 : 40, total = ip + 32 + payload;
  guint8 *p = fz_packet_buf_put (b, total);

  memset (p, 0, ip + 32);
  if (version == 4)
    {
      p[0] = 0x45, p[2] = (guint8) (total >> 8), p[3] = (guint8) total;
      p[4] = 0x12, p[5] = 0x34, p[6] = 0x40, p[8] = 64, p[9] = FZ_IP_PROTO_TCP;
      p[12] = 100, p[13] = 64, p[15] = 1, p[16] = 100, p[17] = 64, p[19] = 2;
    }
  else
    {
      p[0] = 0x60, p[4] = (guint8) ((total - 40) >> 8), p[5] = (guint8) (total - 40);
      p[6] = FZ_IP_PROTO_TCP, p[7] = 64, p[8] = 0xfd, p[23] = 1, p[24] = 0xfd, p[39] = 2;
    }
  p[ip + 0] = 0x9c, p[ip + 1] = 0x40; /* 40000 */
  p[ip + 3] = 80;
  p[ip + 4] = 0xff, p[ip + 5] = 0xff, p[ip + 6] = 0xfe, p[ip + 7] = 0x00; /* seq wraps */
  p[ip + 12] = 8 << 4; /* 12 bytes of options (timestamps) */
  p[ip + 13] = flags;
  p[ip + 20] = 1, p[ip + 21] = 1, p[ip + 22] = 8, p[ip + 23] = 10;
  for (gsize i = 0; i < payload; i++)
    p[ip + 32 + i] = (guint8) i;
  return b;
}

static void
test_tcp_segmentation (void)
{
  for (int version = 4; version <= 6; version += 2)
    {
      const gsize payload = 10000, mss = 1368;
      FzPacketBuf *out[64];
      FzVnetHdr h = { .flags = FZ_VNET_F_NEEDS_CSUM,
                      .gso_type = version == 4 ? FZ_VNET_GSO_TCPV4 : FZ_VNET_GSO_TCPV6,
                      .gso_size = mss };
      guint8 flags = FZ_TCP_ACK | 0x08 /* PSH */ | FZ_TCP_FIN | 0x80 /* CWR */;
      guint n
        = fz_vnet_segment (&h, super_packet (version, payload, flags), pool, out, 64);
      gsize got = 0;
      guint32 seq = 0xfffffe00u;

      g_assert_cmpuint (n, ==, (payload + mss - 1) / mss);
      for (guint i = 0; i < n; i++)
        {
          FzIpPacket pkt;
          guint8 *tcp;
          guint32 plen, s;
          guint8 *pl;

          g_assert_cmpint (
            fz_ip_packet_parse (&pkt, out[i]->data, out[i]->len, FZ_IP_MTU_TUNNEL + 200),
            ==, FZ_IP_OK);
          g_assert_cmpuint (pkt.proto, ==, FZ_IP_PROTO_TCP);
          tcp = fz_ip_packet_l4 (&pkt);
          g_assert_cmphex (naive_l4_checksum (pkt.data, pkt.len, pkt.l4_off, pkt.proto),
                           ==, 0);
          if (version == 4)
            {
              g_assert_cmphex (naive_checksum (pkt.data, 20), ==, 0);
              g_assert_cmpuint (pkt.data[4] << 8 | pkt.data[5], ==, 0x1234 + i);
            }
          s = (guint32) tcp[4] << 24 | (guint32) tcp[5] << 16 | (guint32) tcp[6] << 8
              | tcp[7];
          g_assert_cmphex (s, ==, seq);
          pl = fz_ip_packet_payload (&pkt, &plen);
          g_assert_cmpuint (plen, ==, MIN (mss, payload - got));
          for (guint32 k = 0; k < plen; k++)
            g_assert_cmpuint (pl[k], ==, (guint8) (got + k));
          g_assert_cmpuint (tcp[20], ==, 1); /* options copied */
          g_assert_cmpuint (!!(tcp[13] & FZ_TCP_FIN), ==, i == n - 1);
          g_assert_cmpuint (!!(tcp[13] & 0x08), ==, i == n - 1);
          g_assert_cmpuint (!!(tcp[13] & 0x80), ==, i == 0);
          g_assert_true (tcp[13] & FZ_TCP_ACK);
          got += plen;
          seq += plen;
          fz_packet_buf_free (out[i]);
        }
      g_assert_cmpuint (got, ==, payload);
    }
}

static void
test_checksum_completion (void)
{
  FzPacketBuf *b = fz_buf_pool_alloc (pool), *out[1];
  FzIpAddr s, d;
  FzIpPacket pkt;
  guint64 sum;
  guint16 partial;
  FzVnetHdr h = { .flags = FZ_VNET_F_NEEDS_CSUM, .csum_start = 20, .csum_offset = 6 };

  fz_ip_addr_parse (&s, "100.64.0.1");
  fz_ip_addr_parse (&d, "100.64.0.2");
  g_assert_true (fz_ip_build_udp (b, &pkt, &s, &d, 1, 2, "odd", 3, NULL));
  /* what the kernel leaves: the folded pseudo-header sum, not complemented */
  {
    guint8 ph[12] = { 100, 64, 0, 1, 100, 64, 0, 2, 0, FZ_IP_PROTO_UDP, 0, 11 };
    sum = fz_checksum_add (0, ph, sizeof ph);
    partial = (guint16) ~fz_checksum_finish (sum);
    memcpy (b->data + 26, &partial, 2);
  }
  g_assert_cmpuint (fz_vnet_segment (&h, b, pool, out, 1), ==, 1);
  g_assert_true (out[0] == b);
  g_assert_cmphex (naive_l4_checksum (b->data, b->len, 20, FZ_IP_PROTO_UDP), ==, 0);
  fz_packet_buf_free (b);
}

static void
test_malformed (void)
{
  FzPacketBuf *out[64];
  FzVnetHdr h = { .gso_type = FZ_VNET_GSO_TCPV4, .gso_size = 0 };

  g_assert_cmpuint (
    fz_vnet_segment (&h, super_packet (4, 5000, FZ_TCP_ACK), pool, out, 64), ==, 0);
  h.gso_size = 100; /* 50 segments, but room for 8 */
  g_assert_cmpuint (
    fz_vnet_segment (&h, super_packet (4, 5000, FZ_TCP_ACK), pool, out, 8), ==, 0);
  h.gso_type = FZ_VNET_GSO_TCPV6; /* says IPv6, is IPv4 */
  g_assert_cmpuint (
    fz_vnet_segment (&h, super_packet (4, 5000, FZ_TCP_ACK), pool, out, 64), ==, 0);
  h.gso_type = 3; /* UFO: never asked for */
  g_assert_cmpuint (
    fz_vnet_segment (&h, super_packet (4, 5000, FZ_TCP_ACK), pool, out, 64), ==, 0);
  {
    FzVnetHdr c
      = { .flags = FZ_VNET_F_NEEDS_CSUM, .csum_start = 60000, .csum_offset = 6 };
    g_assert_cmpuint (
      fz_vnet_segment (&c, super_packet (4, 10, FZ_TCP_ACK), pool, out, 64), ==, 0);
  }
  /* every buffer went back: nothing leaked, nothing freed twice */
  g_assert_cmpuint (fz_buf_pool_outstanding (pool), ==, 0);
}

static guint
segments (int version, gsize payload, guint8 flags, FzPacketBuf **out)
{
  FzVnetHdr h = { .gso_type = version == 4 ? FZ_VNET_GSO_TCPV4 : FZ_VNET_GSO_TCPV6,
                  .gso_size = 1368 };
  return fz_vnet_segment (&h, super_packet (version, payload, flags), pool, out, 64);
}

/* Coalescing is segmentation run backwards: segmenting what coalescing
 * made gives back the very same packets. */
static void
test_coalesce_round_trip (void)
{
  for (int version = 4; version <= 6; version += 2)
    {
      FzPacketBuf *a[64], *b[64], *again[64], *merged = fz_buf_pool_alloc (pool);
      guint n = segments (version, 10000, FZ_TCP_ACK | 0x08, a);
      guint m = segments (version, 10000, FZ_TCP_ACK | 0x08, b);
      FzVnetHdr h;
      guint k;

      g_assert_cmpuint (n, ==, m);
      k = fz_vnet_coalesce (a, n, &h);
      g_assert_cmpuint (k, ==, n);
      g_assert_cmpuint (h.gso_type, ==,
                        version == 4 ? FZ_VNET_GSO_TCPV4 : FZ_VNET_GSO_TCPV6);
      g_assert_cmpuint (h.gso_size, ==, 1368);
      g_assert_true (h.flags & FZ_VNET_F_NEEDS_CSUM);
      /* what the TUN gets: the first packet, then the others' payloads */
      fz_packet_buf_set (merged, a[0]->data, a[0]->len);
      for (guint i = 1; i < k; i++)
        {
          gsize off = fz_vnet_payload_offset (a[i]);
          memcpy (fz_packet_buf_put (merged, a[i]->len - off), a[i]->data + off,
                  a[i]->len - off);
        }
      {
        /* the partial checksum, completed as the kernel would, is right */
        FzPacketBuf *whole = fz_buf_pool_alloc (pool), *one[1];
        FzVnetHdr partial = h;
        fz_packet_buf_set (whole, merged->data, merged->len);
        partial.gso_type = FZ_VNET_GSO_NONE;
        g_assert_cmpuint (fz_vnet_segment (&partial, whole, pool, one, 1), ==, 1);
        g_assert_cmphex (naive_l4_checksum (whole->data, whole->len,
                                            version == 4 ? 20 : 40, FZ_IP_PROTO_TCP),
                         ==, 0);
        if (version == 4)
          g_assert_cmphex (naive_checksum (whole->data, 20), ==, 0);
        fz_packet_buf_free (whole);
      }
      g_assert_cmpuint (fz_vnet_segment (&h, merged, pool, again, 64), ==, n);
      for (guint i = 0; i < n; i++)
        {
          g_assert_cmpmem (again[i]->data, again[i]->len, b[i]->data, b[i]->len);
          fz_packet_buf_free (again[i]);
          fz_packet_buf_free (a[i]);
          fz_packet_buf_free (b[i]);
        }
    }
}

/* What must end a run: a different ack, PSH before the end, a short
 * segment before the end, FIN, a gap in sequence numbers. */
static void
test_coalesce_breaks (void)
{
  FzPacketBuf *a[64];
  FzVnetHdr h;
  guint n;

  n = segments (4, 10000, FZ_TCP_ACK, a);
  a[3]->data[20 + 11] ^= 1; /* another ack number from the 4th on */
  g_assert_cmpuint (fz_vnet_coalesce (a, n, &h), ==, 3);
  g_assert_cmpuint (fz_vnet_coalesce (a + 3, 1, &h), ==, 1);
  g_assert_cmpuint (h.gso_type, ==, FZ_VNET_GSO_NONE);
  for (guint i = 0; i < n; i++)
    fz_packet_buf_free (a[i]);

  n = segments (4, 10000, FZ_TCP_ACK, a);
  a[1]->data[20 + 13] |= 0x08; /* PSH on the 2nd: the run ends with it */
  g_assert_cmpuint (fz_vnet_coalesce (a, n, &h), ==, 2);
  for (guint i = 0; i < n; i++)
    fz_packet_buf_free (a[i]);

  n = segments (6, 10000, FZ_TCP_ACK, a);
  fz_packet_buf_free (a[2]); /* a gap in sequence numbers */
  memmove (a + 2, a + 3, (n - 3) * sizeof a[0]);
  g_assert_cmpuint (fz_vnet_coalesce (a, n - 1, &h), ==, 2);
  for (guint i = 0; i < n - 1; i++)
    fz_packet_buf_free (a[i]);

  n = segments (4, 10000, FZ_TCP_ACK | FZ_TCP_FIN, a);
  g_assert_cmpuint (fz_vnet_coalesce (a + n - 2, 2, &h), ==, 1); /* FIN stays alone */
  for (guint i = 0; i < n; i++)
    fz_packet_buf_free (a[i]);
  g_assert_cmpuint (fz_buf_pool_outstanding (pool), ==, 0);
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  pool = fz_buf_pool_new (65535, 64);
  g_test_add_func ("/vnet/tcp-segmentation", test_tcp_segmentation);
  g_test_add_func ("/vnet/checksum-completion", test_checksum_completion);
  g_test_add_func ("/vnet/malformed", test_malformed);
  g_test_add_func ("/vnet/coalesce-round-trip", test_coalesce_round_trip);
  g_test_add_func ("/vnet/coalesce-breaks", test_coalesce_breaks);
  ret = g_test_run ();
  fz_buf_pool_free (pool);
  return ret;
}
