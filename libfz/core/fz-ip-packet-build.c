#include "fz-ip-packet-build.h"

#include <string.h>

static inline void
put_be16 (guint8 *p, guint16 v)
{
  p[0] = v >> 8;
  p[1] = v & 0xff;
}

/* Writes the IP header for @l4_len bytes of @proto and returns the L4
 * start, or NULL with @error set when it does not fit. */
static guint8 *
begin (FzPacketBuf *buf, guint version, guint8 proto, guint8 ttl, const guint8 *src,
       const guint8 *dst, gsize l4_len, GError **error)
{
  gsize hdr = version == 4 ? 20 : 40;
  guint8 *p;

  fz_packet_buf_reset (buf);
  if (l4_len > 65535 - (version == 4 ? hdr : 0)
      || (p = fz_packet_buf_put (buf, hdr + l4_len)) == NULL)
    {
      g_set_error (error, FZ_IP_ERROR, FZ_IP_ERR_NO_ROOM,
                   "cannot build a %" G_GSIZE_FORMAT
                   "-byte IPv%u packet in a %" G_GSIZE_FORMAT "-byte buffer",
                   hdr + l4_len, version, fz_packet_buf_tailroom (buf));
      return NULL;
    }

  memset (p, 0, hdr);
  if (version == 4)
    {
      p[0] = 0x45;
      put_be16 (p + 2, (guint16) (hdr + l4_len));
      p[6] = 0x40; /* DF */
      p[8] = ttl;
      p[9] = proto;
      memcpy (p + 12, src, 4);
      memcpy (p + 16, dst, 4);
    }
  else
    {
      p[0] = 0x60;
      put_be16 (p + 4, (guint16) l4_len);
      p[6] = proto;
      p[7] = ttl;
      memcpy (p + 8, src, 16);
      memcpy (p + 24, dst, 16);
    }
  return p + hdr;
}

/* Parses what begin() and the caller wrote; cannot fail for our own
 * headers, so a failure is a bug here. */
static gboolean
finish (FzPacketBuf *buf, FzIpPacket *out)
{
  FzIpReject r = fz_ip_packet_parse (out, buf->data, buf->len, FZ_IP_MAX_OFFLOAD);

  g_return_val_if_fail (r == FZ_IP_OK, FALSE);
  fz_ip_packet_update_checksums (out);
  return TRUE;
}

gboolean
fz_ip_build_udp (FzPacketBuf *buf, FzIpPacket *out, const FzIpAddr *src,
                 const FzIpAddr *dst, guint16 sport, guint16 dport, const void *payload,
                 gsize len, GError **error)
{
  guint8 *l4;

  g_return_val_if_fail (src->family == dst->family, FALSE);
  g_return_val_if_fail (payload != NULL || len == 0, FALSE);
  if (len > 65535 - 8)
    {
      g_set_error (error, FZ_IP_ERROR, FZ_IP_ERR_NO_ROOM,
                   "UDP payload of %" G_GSIZE_FORMAT " bytes is too long", len);
      return FALSE;
    }
  l4 = begin (buf, src->family, FZ_IP_PROTO_UDP, FZ_IP_DEFAULT_TTL, src->bytes,
              dst->bytes, 8 + len, error);
  if (l4 == NULL)
    return FALSE;
  put_be16 (l4, sport);
  put_be16 (l4 + 2, dport);
  put_be16 (l4 + 4, (guint16) (8 + len));
  put_be16 (l4 + 6, 0);
  if (len > 0)
    memcpy (l4 + 8, payload, len);
  return finish (buf, out);
}

static inline void
put_be32 (guint8 *p, guint32 v)
{
  put_be16 (p, v >> 16);
  put_be16 (p + 2, v & 0xffff);
}

gboolean
fz_ip_build_tcp (FzPacketBuf *buf, FzIpPacket *out, const FzIpAddr *src,
                 const FzIpAddr *dst, const FzTcpSegment *seg, const void *payload,
                 gsize len, GError **error)
{
  gsize hdr = seg->mss > 0 ? 24 : 20;
  guint8 *l4;

  g_return_val_if_fail (src->family == dst->family, FALSE);
  g_return_val_if_fail (payload != NULL || len == 0, FALSE);
  if (len > 65535 - 60)
    {
      g_set_error (error, FZ_IP_ERROR, FZ_IP_ERR_NO_ROOM,
                   "TCP payload of %" G_GSIZE_FORMAT " bytes is too long", len);
      return FALSE;
    }
  l4 = begin (buf, src->family, FZ_IP_PROTO_TCP, FZ_IP_DEFAULT_TTL, src->bytes,
              dst->bytes, hdr + len, error);
  if (l4 == NULL)
    return FALSE;
  memset (l4, 0, hdr);
  put_be16 (l4, seg->sport);
  put_be16 (l4 + 2, seg->dport);
  put_be32 (l4 + 4, seg->seq);
  put_be32 (l4 + 8, seg->ack);
  l4[12] = (guint8) ((hdr / 4) << 4);
  l4[13] = seg->flags;
  put_be16 (l4 + 14, seg->window);
  if (seg->mss > 0)
    {
      l4[20] = 2; /* kind MSS */
      l4[21] = 4;
      put_be16 (l4 + 22, seg->mss);
    }
  if (len > 0)
    memcpy (l4 + hdr, payload, len);
  return finish (buf, out);
}

gboolean
fz_ip_build_icmp_echo (FzPacketBuf *buf, FzIpPacket *out, const FzIpAddr *src,
                       const FzIpAddr *dst, gboolean reply, guint16 id, guint16 seq,
                       const void *payload, gsize len, GError **error)
{
  gboolean v4 = src->family == 4;
  guint8 *l4;

  g_return_val_if_fail (src->family == dst->family, FALSE);
  g_return_val_if_fail (payload != NULL || len == 0, FALSE);
  l4 = begin (buf, src->family, v4 ? FZ_IP_PROTO_ICMP : FZ_IP_PROTO_ICMPV6,
              FZ_IP_DEFAULT_TTL, src->bytes, dst->bytes, 8 + len, error);
  if (l4 == NULL)
    return FALSE;
  l4[0] = v4 ? (reply ? 0 : 8) : (reply ? 129 : 128);
  l4[1] = 0;
  put_be16 (l4 + 2, 0);
  put_be16 (l4 + 4, id);
  put_be16 (l4 + 6, seq);
  if (len > 0)
    memcpy (l4 + 8, payload, len);
  return finish (buf, out);
}

gboolean
fz_ip_build_icmp_unreachable (FzPacketBuf *buf, FzIpPacket *out, const FzIpPacket *orig,
                              FzIcmpUnreachable kind, GError **error)
{
  gboolean v4 = orig->version == 4;
  gsize quote;
  guint8 *l4;

  /* RFC 1122 3.2.2 and RFC 4443 2.4: never an error about an error. */
  if (fz_ip_packet_is_icmp_error (orig))
    {
      g_set_error (error, FZ_IP_ERROR, FZ_IP_ERR_ICMP_ABOUT_ICMP,
                   "refusing to send an ICMP error about an ICMP error");
      return FALSE;
    }
  if (v4)
    quote = MIN ((gsize) orig->l4_off + 8, orig->len);
  else
    quote = MIN ((gsize) orig->len, FZ_IP_MTU_TUNNEL - 40 - 8);

  l4 = begin (buf, orig->version, v4 ? FZ_IP_PROTO_ICMP : FZ_IP_PROTO_ICMPV6,
              FZ_ICMP_ERROR_TTL, orig->data + (v4 ? 16 : 24), orig->data + (v4 ? 12 : 8),
              8 + quote, error);
  if (l4 == NULL)
    return FALSE;
  l4[0] = v4 ? 3 : 1;
  if (kind == FZ_ICMP_PROHIBITED)
    l4[1] = v4 ? 13 : 1;
  else
    l4[1] = v4 ? 0 : 3;
  memset (l4 + 2, 0, 6);
  memcpy (l4 + 8, orig->data, quote);
  return finish (buf, out);
}

gboolean
fz_ip_build_control (FzPacketBuf *buf, FzIpPacket *out, FzControlType type,
                     const void *payload, gsize len, GError **error)
{
  static const guint8 unspecified[16] = { 0 };
  guint8 *l4;

  g_return_val_if_fail (payload != NULL || len == 0, FALSE);
  if (len > 65535 - 8)
    {
      g_set_error (error, FZ_IP_ERROR, FZ_IP_ERR_NO_ROOM,
                   "control payload of %" G_GSIZE_FORMAT " bytes is too long", len);
      return FALSE;
    }
  l4 = begin (buf, 6, FZ_IP_PROTO_CONTROL, 0, unspecified, unspecified, 8 + len, error);
  if (l4 == NULL)
    return FALSE;
  memset (l4, 0, 8);
  l4[0] = type;
  if (len > 0)
    memcpy (l4 + 8, payload, len);
  return finish (buf, out);
}
