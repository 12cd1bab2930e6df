#include "fz-vnet-private.h"

#include "fz-checksum.h"
#include "fz-ip-packet.h"

#include <string.h>

void
fz_vnet_hdr_read (FzVnetHdr *h, const guint8 *p)
{
  h->flags = p[0];
  h->gso_type = p[1];
  memcpy (&h->hdr_len, p + 2, 2);
  memcpy (&h->gso_size, p + 4, 2);
  memcpy (&h->csum_start, p + 6, 2);
  memcpy (&h->csum_offset, p + 8, 2);
}

void
fz_vnet_hdr_write (const FzVnetHdr *h, guint8 *p)
{
  p[0] = h->flags;
  p[1] = h->gso_type;
  memcpy (p + 2, &h->hdr_len, 2);
  memcpy (p + 4, &h->gso_size, 2);
  memcpy (p + 6, &h->csum_start, 2);
  memcpy (p + 8, &h->csum_offset, 2);
}

/* CHECKSUM_PARTIAL: the field holds the pseudo-header sum; the sum from
 * csum_start to the end, complemented, completes it. */
static gboolean
complete_checksum (const FzVnetHdr *h, FzPacketBuf *buf)
{
  guint16 csum;

  if (!(h->flags & FZ_VNET_F_NEEDS_CSUM))
    return TRUE;
  if ((gsize) h->csum_start + h->csum_offset + 2 > buf->len)
    return FALSE;
  csum = fz_checksum_finish (
    fz_checksum_add (0, buf->data + h->csum_start, buf->len - h->csum_start));
  memcpy (buf->data + h->csum_start + h->csum_offset, &csum, 2);
  return TRUE;
}

static guint
segment_tcp (const FzVnetHdr *h, FzPacketBuf *buf, FzBufPool *pool, FzPacketBuf **out,
             guint max)
{
  const guint8 *p = buf->data;
  gboolean v4 = (p[0] >> 4) == 4;
  gsize ip_len, hlen, payload, mss = h->gso_size, nseg;
  guint32 seq;
  guint16 id = 0;
  guint8 flags;
  gsize done = 0; /* segments completed; out[done] is the one in the making */

  if (buf->len < 20 || mss == 0 || v4 != (h->gso_type == FZ_VNET_GSO_TCPV4)
      || (!v4 && (p[0] >> 4) != 6))
    return 0;
  ip_len = v4 ? (p[0] & 0x0fu) * 4 : 40;
  if (ip_len + 20 > buf->len || (!v4 && p[6] != FZ_IP_PROTO_TCP)
      || (v4 && p[9] != FZ_IP_PROTO_TCP))
    return 0;
  hlen = ip_len + (p[ip_len + 12] >> 4) * 4u;
  if (hlen > buf->len || hlen < ip_len + 20)
    return 0;
  payload = buf->len - hlen;
  nseg = (payload + mss - 1) / mss;
  if (nseg == 0 || nseg > max)
    return 0;
  if (v4)
    id = (guint16) (p[4] << 8 | p[5]);
  seq = (guint32) p[ip_len + 4] << 24 | (guint32) p[ip_len + 5] << 16
        | (guint32) p[ip_len + 6] << 8 | p[ip_len + 7];
  flags = p[ip_len + 13];

  for (gsize i = 0; i < nseg; i++)
    {
      gsize chunk = MIN (mss, payload - i * mss), total = hlen + chunk;
      FzPacketBuf *seg = fz_buf_pool_alloc (pool);
      guint32 s = seq + (guint32) (i * mss);
      guint8 *q = fz_packet_buf_put (seg, total);
      FzIpPacket pkt;

      out[i] = seg;
      if (q == NULL)
        goto fail;
      memcpy (q, p, hlen);
      memcpy (q + hlen, p + hlen + i * mss, chunk);
      if (v4)
        {
          q[2] = (guint8) (total >> 8), q[3] = (guint8) total;
          q[4] = (guint8) ((id + i) >> 8), q[5] = (guint8) (id + i);
        }
      else
        {
          gsize pl = total - 40;
          q[4] = (guint8) (pl >> 8), q[5] = (guint8) pl;
        }
      q[ip_len + 4] = (guint8) (s >> 24), q[ip_len + 5] = (guint8) (s >> 16);
      q[ip_len + 6] = (guint8) (s >> 8), q[ip_len + 7] = (guint8) s;
      /* FIN and PSH belong to the last segment, CWR to the first. */
      q[ip_len + 13] = flags;
      if (i + 1 < nseg)
        q[ip_len + 13] &= (guint8) ~(FZ_TCP_FIN | 0x08);
      if (i > 0)
        q[ip_len + 13] &= (guint8) ~0x80;
      if (fz_ip_packet_parse (&pkt, q, total, FZ_IP_MAX_OFFLOAD) != FZ_IP_OK)
        goto fail;
      fz_ip_packet_update_checksums (&pkt);
      done = i + 1;
    }
  fz_packet_buf_free (buf);
  return (guint) nseg;

fail: /* out[0..i] are ours: none goes out half-made */
  for (gsize j = 0; j <= done; j++)
    fz_packet_buf_free (out[j]);
  return 0;
}

guint
fz_vnet_segment (const FzVnetHdr *h, FzPacketBuf *buf, FzBufPool *pool, FzPacketBuf **out,
                 guint max)
{
  guint n = 0;

  if (max == 0)
    n = 0;
  else if ((h->gso_type & ~FZ_VNET_GSO_ECN) == FZ_VNET_GSO_NONE)
    {
      if (complete_checksum (h, buf))
        {
          out[0] = buf;
          return 1;
        }
    }
  else if ((h->gso_type & ~FZ_VNET_GSO_ECN) == FZ_VNET_GSO_TCPV4
           || (h->gso_type & ~FZ_VNET_GSO_ECN) == FZ_VNET_GSO_TCPV6)
    {
      FzVnetHdr plain = *h;
      plain.gso_type &= (guint8) ~FZ_VNET_GSO_ECN;
      n = segment_tcp (&plain, buf, pool, out, max);
      if (n > 0)
        return n;
    }
  fz_packet_buf_free (buf);
  return 0;
}

/* Header facts of a packet that might coalesce; FALSE if it cannot. */
typedef struct
{
  gsize ip_len, hlen, payload;
  guint32 seq;
} TcpSeg;

static gboolean
tcp_seg (const FzPacketBuf *b, TcpSeg *t)
{
  const guint8 *p = b->data;
  guint8 flags;

  if (b->len < 40)
    return FALSE;
  if ((p[0] >> 4) == 4)
    {
      /* no options, not a fragment (the parser ran already) */
      if (p[0] != 0x45 || p[9] != FZ_IP_PROTO_TCP)
        return FALSE;
      t->ip_len = 20;
    }
  else if ((p[0] >> 4) == 6 && b->len >= 60 && p[6] == FZ_IP_PROTO_TCP)
    t->ip_len = 40;
  else
    return FALSE;
  t->hlen = t->ip_len + (p[t->ip_len + 12] >> 4) * 4u;
  if (t->hlen > b->len)
    return FALSE;
  flags = p[t->ip_len + 13];
  if (flags & ~(FZ_TCP_ACK | 0x08)) /* SYN, FIN, RST, URG, ECE, CWR: alone */
    return FALSE;
  t->payload = b->len - t->hlen;
  t->seq = (guint32) p[t->ip_len + 4] << 24 | (guint32) p[t->ip_len + 5] << 16
           | (guint32) p[t->ip_len + 6] << 8 | p[t->ip_len + 7];
  return t->payload > 0;
}

static gboolean
same_flow (const FzPacketBuf *a, const TcpSeg *ta, const FzPacketBuf *b, const TcpSeg *tb)
{
  const guint8 *p = a->data, *q = b->data;

  if (ta->ip_len != tb->ip_len || ta->hlen != tb->hlen)
    return FALSE;
  if (ta->ip_len == 20)
    {
      /* version..TOS, flags/fragment, TTL, protocol, addresses */
      if (p[1] != q[1] || p[6] != q[6] || p[8] != q[8] || memcmp (p + 12, q + 12, 8) != 0)
        return FALSE;
    }
  else if (memcmp (p, q, 4) != 0 || p[7] != q[7] || memcmp (p + 8, q + 8, 32) != 0)
    return FALSE; /* traffic class, flow label, hop limit, addresses */
  /* ports; ack; data offset, window; options: all equal (as Linux GRO) */
  p += ta->ip_len;
  q += tb->ip_len;
  return memcmp (p, q, 4) == 0 && memcmp (p + 8, q + 8, 4) == 0 && p[12] == q[12]
         && memcmp (p + 14, q + 14, 2) == 0
         && memcmp (p + 20, q + 20, ta->hlen - ta->ip_len - 20) == 0;
}

gsize
fz_vnet_payload_offset (const FzPacketBuf *buf)
{
  TcpSeg t;
  return tcp_seg (buf, &t) ? t.hlen : buf->len;
}

guint
fz_vnet_coalesce (FzPacketBuf *const *bufs, guint n, FzVnetHdr *h)
{
  TcpSeg first, prev, t;
  gsize total;
  guint k;
  guint8 *p;

  memset (h, 0, sizeof *h);
  if (n < 2 || !tcp_seg (bufs[0], &first))
    return 1;
  prev = first;
  total = bufs[0]->len;
  for (k = 1; k < n && k < 64; k++)
    {
      if (prev.payload != first.payload                   /* only the last may be short */
          || (bufs[k - 1]->data[prev.ip_len + 13] & 0x08) /* PSH ends a run */
          || !tcp_seg (bufs[k], &t) || t.payload > first.payload
          || t.seq != prev.seq + (guint32) prev.payload || total + t.payload > 65535
          || !same_flow (bufs[0], &first, bufs[k], &t))
        break;
      total += t.payload;
      prev = t;
    }
  if (k == 1)
    return 1;

  /* The first packet's headers now describe the whole. */
  p = bufs[0]->data;
  if (first.ip_len == 20)
    {
      guint16 zero = 0, csum;
      p[2] = (guint8) (total >> 8), p[3] = (guint8) total;
      memcpy (p + 10, &zero, 2);
      csum = fz_checksum_finish (fz_checksum_add (0, p, 20));
      memcpy (p + 10, &csum, 2);
    }
  else
    p[4] = (guint8) ((total - 40) >> 8), p[5] = (guint8) (total - 40);
  p[first.ip_len + 13] |= bufs[k - 1]->data[prev.ip_len + 13] & 0x08;
  {
    /* CHECKSUM_PARTIAL: the field holds the pseudo-header sum */
    gsize l4 = total - first.ip_len;
    guint8 tail[8]
      = { 0,           0, (guint8) (l4 >> 24), (guint8) (l4 >> 16), (guint8) (l4 >> 8),
          (guint8) l4, 0, FZ_IP_PROTO_TCP };
    guint64 sum = fz_checksum_add (0, p + (first.ip_len == 20 ? 12 : 8),
                                   first.ip_len == 20 ? 8 : 32);
    guint16 partial;
    sum = fz_checksum_add (sum, tail + 2, 6); /* length (32-bit) and protocol */
    partial = (guint16) ~fz_checksum_finish (sum);
    memcpy (p + first.ip_len + 16, &partial, 2);
  }
  h->flags = FZ_VNET_F_NEEDS_CSUM;
  h->gso_type = first.ip_len == 20 ? FZ_VNET_GSO_TCPV4 : FZ_VNET_GSO_TCPV6;
  h->hdr_len = (guint16) first.hlen;
  h->gso_size = (guint16) first.payload;
  h->csum_start = (guint16) first.ip_len;
  h->csum_offset = 16;
  return k;
}
