#include "fz-vnet.h"

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

      if (q == NULL)
        {
          fz_packet_buf_free (seg);
          for (gsize j = 0; j < i; j++)
            fz_packet_buf_free (out[j]);
          return 0;
        }
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
        {
          fz_packet_buf_free (seg);
          for (gsize j = 0; j < i; j++)
            fz_packet_buf_free (out[j]);
          return 0;
        }
      fz_ip_packet_update_checksums (&pkt);
      out[i] = seg;
    }
  fz_packet_buf_free (buf);
  return (guint) nseg;
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
