#include "fz-ip-packet.h"

#include "fz-checksum.h"

#include <string.h>

/* The quark name is a string, not an expression: keep its dashes. */
/* clang-format off */
G_DEFINE_QUARK (fz-ip-error-quark, fz_ip_error)
/* clang-format on */

#define IPV4_HDR 20
#define IPV6_HDR 40

#define IPV6_HOPOPTS  0
#define IPV6_ROUTING  43
#define IPV6_FRAGMENT 44
#define IPV6_DSTOPTS  60
#define IPV6_MAX_EXT  8 /* bound on the extension header chain */

static inline guint16
be16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

static inline void
put_be16 (guint8 *p, guint16 v)
{
  p[0] = v >> 8;
  p[1] = v & 0xff;
}

static inline guint16
mem16 (const guint8 *p)
{
  guint16 v;
  memcpy (&v, p, 2);
  return v;
}

static inline void
put_mem16 (guint8 *p, guint16 v)
{
  memcpy (p, &v, 2);
}

const char *
fz_ip_reject_to_string (FzIpReject reason)
{
  switch (reason)
    {
    case FZ_IP_OK: return "ok";
    case FZ_IP_ERR_TOO_SHORT: return "too short";
    case FZ_IP_ERR_TOO_LONG: return "too long";
    case FZ_IP_ERR_VERSION: return "bad IP version";
    case FZ_IP_ERR_IHL: return "bad IPv4 header length";
    case FZ_IP_ERR_TOTAL_LENGTH: return "length field mismatch";
    case FZ_IP_ERR_FRAGMENT: return "fragment";
    case FZ_IP_ERR_EXT_HEADER: return "bad IPv6 extension header";
    case FZ_IP_ERR_PROTOCOL: return "unsupported protocol";
    case FZ_IP_ERR_ICMP_FAMILY: return "ICMP of the other IP version";
    case FZ_IP_ERR_L4_TRUNCATED: return "truncated L4 header";
    case FZ_IP_ERR_UDP_LENGTH: return "UDP length mismatch";
    case FZ_IP_ERR_TCP_DATA_OFFSET: return "bad TCP data offset";
    case FZ_IP_ERR_CONTROL: return "bad control packet";
    case FZ_IP_ERR_NO_ROOM: return "no room in buffer";
    case FZ_IP_ERR_ICMP_ABOUT_ICMP: return "ICMP error about an ICMP error";
    }
  return "unknown";
}

/* Formats the reason only when someone asked why (explain()); the hot
 * path passes why == NULL and pays one predictable branch per rejection. */
#define REJECT(code, ...)                                                                \
  G_STMT_START                                                                           \
  {                                                                                      \
    if (G_UNLIKELY (why != NULL))                                                        \
      g_string_append_printf (why, __VA_ARGS__);                                         \
    return (code);                                                                       \
  }                                                                                      \
  G_STMT_END

static FzIpReject
check_l4 (guint version, guint8 proto, const guint8 *l4, guint32 l4_len, GString *why)
{
  switch (proto)
    {
    case FZ_IP_PROTO_TCP:
      {
        guint doff;
        if (l4_len < 20)
          REJECT (FZ_IP_ERR_L4_TRUNCATED, "TCP header needs 20 bytes, %u left", l4_len);
        doff = l4[12] >> 4;
        if (doff < 5)
          REJECT (FZ_IP_ERR_TCP_DATA_OFFSET, "TCP data offset %u is below 5", doff);
        if (doff * 4 > l4_len)
          REJECT (FZ_IP_ERR_TCP_DATA_OFFSET,
                  "TCP data offset %u (%u bytes) runs past the %u-byte segment", doff,
                  doff * 4, l4_len);
        return FZ_IP_OK;
      }
    case FZ_IP_PROTO_UDP:
      if (l4_len < 8)
        REJECT (FZ_IP_ERR_L4_TRUNCATED, "UDP header needs 8 bytes, %u left", l4_len);
      if (be16 (l4 + 4) != l4_len)
        REJECT (FZ_IP_ERR_UDP_LENGTH, "UDP length %u does not match L4 length %u",
                be16 (l4 + 4), l4_len);
      return FZ_IP_OK;
    case FZ_IP_PROTO_ICMP:
    case FZ_IP_PROTO_ICMPV6:
      if ((proto == FZ_IP_PROTO_ICMP) != (version == 4))
        REJECT (FZ_IP_ERR_ICMP_FAMILY, "%s inside IPv%u",
                proto == FZ_IP_PROTO_ICMP ? "ICMPv4" : "ICMPv6", version);
      if (l4_len < 8)
        REJECT (FZ_IP_ERR_L4_TRUNCATED, "ICMP header needs 8 bytes, %u left", l4_len);
      return FZ_IP_OK;
    default: REJECT (FZ_IP_ERR_PROTOCOL, "protocol %u is not TCP, UDP or ICMP", proto);
    }
}

static FzIpReject
parse_v4 (FzIpPacket *pkt, guint8 *data, gsize len, GString *why)
{
  guint ihl, total, frag;

  if (len < IPV4_HDR)
    REJECT (FZ_IP_ERR_TOO_SHORT, "IPv4 header needs 20 bytes, got %" G_GSIZE_FORMAT, len);
  ihl = data[0] & 0x0f;
  if (ihl < 5)
    REJECT (FZ_IP_ERR_IHL, "IPv4 IHL %u is below 5", ihl);
  if (ihl * 4 > len)
    REJECT (FZ_IP_ERR_IHL,
            "IPv4 IHL %u (%u bytes) runs past the %" G_GSIZE_FORMAT "-byte packet", ihl,
            ihl * 4, len);
  total = be16 (data + 2);
  if (total != len)
    REJECT (FZ_IP_ERR_TOTAL_LENGTH,
            "IPv4 total length %u but %" G_GSIZE_FORMAT " bytes received", total, len);
  frag = be16 (data + 6);
  if (frag & 0x3fff)
    REJECT (FZ_IP_ERR_FRAGMENT, "IPv4 fragment (MF %u, offset %u)", (frag >> 13) & 1,
            (frag & 0x1fff) * 8);
  if (data[9] == FZ_IP_PROTO_CONTROL)
    REJECT (FZ_IP_ERR_PROTOCOL, "protocol 255 (control) is IPv6 only");

  pkt->version = 4;
  pkt->proto = data[9];
  pkt->l4_off = ihl * 4;
  return FZ_IP_OK;
}

static gboolean
is_unspecified (const guint8 *a)
{
  static const guint8 zero[16] = { 0 };
  return memcmp (a, zero, 16) == 0;
}

static FzIpReject
parse_v6 (FzIpPacket *pkt, guint8 *data, gsize len, GString *why)
{
  guint payload, nh, off = IPV6_HDR;

  if (len < IPV6_HDR)
    REJECT (FZ_IP_ERR_TOO_SHORT, "IPv6 header needs 40 bytes, got %" G_GSIZE_FORMAT, len);
  payload = be16 (data + 4);
  if (payload + IPV6_HDR != len)
    REJECT (FZ_IP_ERR_TOTAL_LENGTH,
            "IPv6 payload length %u but %" G_GSIZE_FORMAT " bytes follow the header",
            payload, len - IPV6_HDR);

  nh = data[6];
  if (nh == FZ_IP_PROTO_CONTROL)
    {
      if (!is_unspecified (data + 8) || !is_unspecified (data + 24) || data[7] != 0)
        REJECT (FZ_IP_ERR_PROTOCOL,
                "next header 255 outside a control packet (needs src = dst = ::, "
                "hop limit 0)");
      if (len < IPV6_HDR + 8)
        REJECT (FZ_IP_ERR_CONTROL, "control header needs 8 bytes, %u left", payload);
      pkt->version = 6;
      pkt->proto = FZ_IP_PROTO_CONTROL;
      pkt->l4_off = IPV6_HDR;
      return FZ_IP_OK;
    }

  for (guint i = 0;; i++)
    {
      guint ext_len;

      if (nh == IPV6_FRAGMENT)
        REJECT (FZ_IP_ERR_FRAGMENT, "IPv6 fragment header");
      if (nh == IPV6_ROUTING)
        REJECT (FZ_IP_ERR_EXT_HEADER, "IPv6 routing header is not supported");
      if (nh != IPV6_HOPOPTS && nh != IPV6_DSTOPTS)
        break;
      if (nh == IPV6_HOPOPTS && i > 0)
        REJECT (FZ_IP_ERR_EXT_HEADER, "IPv6 hop-by-hop header not first");
      if (i == IPV6_MAX_EXT)
        REJECT (FZ_IP_ERR_EXT_HEADER, "more than %u IPv6 extension headers",
                IPV6_MAX_EXT);
      if (off + 8 > len)
        REJECT (FZ_IP_ERR_EXT_HEADER, "IPv6 extension header %u truncated", nh);
      ext_len = (data[off + 1] + 1u) * 8;
      if (off + ext_len > len)
        REJECT (FZ_IP_ERR_EXT_HEADER,
                "IPv6 extension header %u (%u bytes) runs past "
                "the packet",
                nh, ext_len);
      nh = data[off];
      off += ext_len;
    }
  if (nh == FZ_IP_PROTO_CONTROL)
    REJECT (FZ_IP_ERR_PROTOCOL, "next header 255 after an extension header");

  pkt->version = 6;
  pkt->proto = nh;
  pkt->l4_off = off;
  return FZ_IP_OK;
}

static FzIpReject
parse (FzIpPacket *pkt, guint8 *data, gsize len, gsize max_len, GString *why)
{
  FzIpReject r;
  guint version;

  if (len == 0)
    REJECT (FZ_IP_ERR_TOO_SHORT, "empty packet");
  version = data[0] >> 4;
  if (version != 4 && version != 6)
    REJECT (FZ_IP_ERR_VERSION, "IP version %u", version);
  if (len > max_len)
    REJECT (FZ_IP_ERR_TOO_LONG,
            "%" G_GSIZE_FORMAT " bytes exceed the maximum of %" G_GSIZE_FORMAT, len,
            max_len);

  r = version == 4 ? parse_v4 (pkt, data, len, why) : parse_v6 (pkt, data, len, why);
  if (r != FZ_IP_OK)
    return r;
  pkt->data = data;
  pkt->len = (guint32) len;
  if (pkt->proto == FZ_IP_PROTO_CONTROL)
    return FZ_IP_OK;
  return check_l4 (version, pkt->proto, data + pkt->l4_off, (guint32) len - pkt->l4_off,
                   why);
}

FzIpReject
fz_ip_packet_parse (FzIpPacket *pkt, guint8 *data, gsize len, gsize max_len)
{
  g_return_val_if_fail (pkt != NULL, FZ_IP_ERR_TOO_SHORT);
  g_return_val_if_fail (data != NULL || len == 0, FZ_IP_ERR_TOO_SHORT);
  return parse (pkt, data, len, max_len, NULL);
}

/* Names what can be read of a rejected packet: addresses and the L4
 * header, each only if the bytes are there. */
static void
describe (GString *s, const guint8 *data, gsize len)
{
  char a[FZ_IP_ADDR_STRLEN], b[FZ_IP_ADDR_STRLEN];
  FzIpAddr src, dst;
  guint version = len > 0 ? data[0] >> 4 : 0;
  guint proto;
  gsize off;

  if (version == 4 && len >= IPV4_HDR)
    {
      fz_ip_addr_set_v4 (&src, data + 12);
      fz_ip_addr_set_v4 (&dst, data + 16);
      proto = data[9];
      off = (data[0] & 0x0f) * 4u;
    }
  else if (version == 6 && len >= IPV6_HDR)
    {
      fz_ip_addr_set_v6 (&src, data + 8);
      fz_ip_addr_set_v6 (&dst, data + 24);
      proto = data[6];
      off = IPV6_HDR;
    }
  else
    {
      g_string_append_printf (s, " (%" G_GSIZE_FORMAT " bytes)", len);
      return;
    }

  g_string_append_printf (s, " (IPv%u %s -> %s", version, fz_ip_addr_to_string (&src, a),
                          fz_ip_addr_to_string (&dst, b));
  if ((proto == FZ_IP_PROTO_TCP || proto == FZ_IP_PROTO_UDP) && off >= 20
      && off + 4 <= len)
    g_string_append_printf (s, ", %s %u -> %u", proto == FZ_IP_PROTO_TCP ? "TCP" : "UDP",
                            be16 (data + off), be16 (data + off + 2));
  else if ((proto == FZ_IP_PROTO_ICMP || proto == FZ_IP_PROTO_ICMPV6) && off >= 20
           && off + 2 <= len)
    g_string_append_printf (s, ", %s type %u code %u",
                            proto == FZ_IP_PROTO_ICMP ? "ICMP" : "ICMPv6", data[off],
                            data[off + 1]);
  else
    g_string_append_printf (s, ", protocol %u", proto);
  g_string_append_printf (s, ", %" G_GSIZE_FORMAT " bytes)", len);
}

char *
fz_ip_packet_explain (const guint8 *data, gsize len, gsize max_len)
{
  g_autoptr (GString) why = g_string_new (NULL);
  FzIpPacket pkt;

  /* parse() never writes through data, so the cast is safe. */
  if (parse (&pkt, (guint8 *) data, len, max_len, why) == FZ_IP_OK)
    return NULL;
  describe (why, data, len);
  return g_string_free (g_steal_pointer (&why), FALSE);
}

gboolean
fz_ip_packet_parse_or_error (FzIpPacket *pkt, guint8 *data, gsize len, gsize max_len,
                             GError **error)
{
  FzIpReject r = fz_ip_packet_parse (pkt, data, len, max_len);
  g_autofree char *msg = NULL;

  if (r == FZ_IP_OK)
    return TRUE;
  msg = fz_ip_packet_explain (data, len, max_len);
  g_set_error (error, FZ_IP_ERROR, r, "bad packet: %s", msg);
  return FALSE;
}

/* --- addresses ---------------------------------------------------------- */

static inline guint8 *
src_ptr (const FzIpPacket *pkt)
{
  return pkt->data + (pkt->version == 4 ? 12 : 8);
}

static inline guint8 *
dst_ptr (const FzIpPacket *pkt)
{
  return pkt->data + (pkt->version == 4 ? 16 : 24);
}

static inline gsize
addr_len (const FzIpPacket *pkt)
{
  return pkt->version == 4 ? 4 : 16;
}

void
fz_ip_packet_src (const FzIpPacket *pkt, FzIpAddr *out)
{
  if (pkt->version == 4)
    fz_ip_addr_set_v4 (out, src_ptr (pkt));
  else
    fz_ip_addr_set_v6 (out, src_ptr (pkt));
}

void
fz_ip_packet_dst (const FzIpPacket *pkt, FzIpAddr *out)
{
  if (pkt->version == 4)
    fz_ip_addr_set_v4 (out, dst_ptr (pkt));
  else
    fz_ip_addr_set_v6 (out, dst_ptr (pkt));
}

/* --- checksums ------------------------------------------------------------ */

static guint8 *
l4_csum_field (const FzIpPacket *pkt)
{
  guint8 *l4 = pkt->data + pkt->l4_off;

  switch (pkt->proto)
    {
    case FZ_IP_PROTO_TCP: return l4 + 16;
    case FZ_IP_PROTO_UDP: return l4 + 6;
    case FZ_IP_PROTO_ICMP:
    case FZ_IP_PROTO_ICMPV6: return l4 + 2;
    default: return NULL;
    }
}

static inline gboolean
has_pseudo_header (const FzIpPacket *pkt)
{
  return pkt->proto == FZ_IP_PROTO_TCP || pkt->proto == FZ_IP_PROTO_UDP
         || pkt->proto == FZ_IP_PROTO_ICMPV6;
}

static inline gboolean
udp4_no_checksum (const FzIpPacket *pkt, const guint8 *field)
{
  return pkt->version == 4 && pkt->proto == FZ_IP_PROTO_UDP && mem16 (field) == 0;
}

/* A UDP checksum that computes to 0 is sent as all ones (RFC 768). */
static inline guint16
udp_fixup (const FzIpPacket *pkt, guint16 csum)
{
  return pkt->proto == FZ_IP_PROTO_UDP && csum == 0 ? 0xffff : csum;
}

static void
ip_csum_adjust (FzIpPacket *pkt, guint16 diff)
{
  if (pkt->version == 4)
    put_mem16 (pkt->data + 10, fz_checksum_adjust (mem16 (pkt->data + 10), diff));
}

static guint16 compute_l4 (const FzIpPacket *pkt);

static void
l4_csum_adjust (FzIpPacket *pkt, guint16 diff)
{
  guint8 *field = l4_csum_field (pkt);
  guint16 csum;

  if (field == NULL || udp4_no_checksum (pkt, field))
    return;
  csum = fz_checksum_adjust (mem16 (field), diff);
  /* RFC 1624 eqn. 3 gives 0x0000 where only 0xffff is right if the data
   * became all zeros. Only ICMPv4 (no pseudo-header) can be all zeros;
   * once in 65536 updates, it is recomputed to find out. */
  if (G_UNLIKELY (csum == 0 && pkt->proto == FZ_IP_PROTO_ICMP))
    {
      put_mem16 (field, 0);
      csum = compute_l4 (pkt);
    }
  put_mem16 (field, udp_fixup (pkt, csum));
}

static guint64
pseudo_header_sum (const FzIpPacket *pkt)
{
  guint32 l4_len = pkt->len - pkt->l4_off;
  guint64 sum = fz_checksum_add (0, src_ptr (pkt), addr_len (pkt) * 2);

  if (pkt->version == 4)
    {
      guint8 tail[4] = { 0, pkt->proto, l4_len >> 8, l4_len & 0xff };
      return fz_checksum_add (sum, tail, 4);
    }
  else
    {
      guint8 tail[8] = {
        l4_len >> 24, (l4_len >> 16) & 0xff, (l4_len >> 8) & 0xff, l4_len & 0xff, 0, 0, 0,
        pkt->proto
      };
      return fz_checksum_add (sum, tail, 8);
    }
}

static guint16
compute_l4 (const FzIpPacket *pkt)
{
  guint64 sum = has_pseudo_header (pkt) ? pseudo_header_sum (pkt) : 0;

  return fz_checksum_finish (
    fz_checksum_add (sum, pkt->data + pkt->l4_off, pkt->len - pkt->l4_off));
}

void
fz_ip_packet_update_checksums (FzIpPacket *pkt)
{
  guint8 *field = l4_csum_field (pkt);

  if (pkt->version == 4)
    {
      guint hlen = (pkt->data[0] & 0x0f) * 4u;
      put_mem16 (pkt->data + 10, 0);
      put_mem16 (pkt->data + 10,
                 fz_checksum_finish (fz_checksum_add (0, pkt->data, hlen)));
    }
  if (field != NULL)
    {
      put_mem16 (field, 0);
      put_mem16 (field, udp_fixup (pkt, compute_l4 (pkt)));
    }
}

gboolean
fz_ip_packet_verify_ip_checksum (const FzIpPacket *pkt)
{
  if (pkt->version != 4)
    return TRUE;
  return fz_checksum_finish (fz_checksum_add (0, pkt->data, (pkt->data[0] & 0x0f) * 4u))
         == 0;
}

gboolean
fz_ip_packet_verify_l4_checksum (const FzIpPacket *pkt)
{
  const guint8 *field = l4_csum_field (pkt);

  if (field == NULL || udp4_no_checksum (pkt, field))
    return TRUE;
  if (pkt->proto == FZ_IP_PROTO_UDP && mem16 (field) == 0)
    return FALSE; /* IPv6 UDP must carry a checksum */
  return compute_l4 (pkt) == 0;
}

/* --- setters -------------------------------------------------------------- */

static void
set_addr (FzIpPacket *pkt, guint8 *where, const FzIpAddr *addr)
{
  guint8 old[16];
  gsize n = addr_len (pkt);
  guint16 diff;

  g_return_if_fail (addr->family == pkt->version);
  memcpy (old, where, n);
  memcpy (where, addr->bytes, n);
  diff = fz_checksum_diff (old, where, n);
  ip_csum_adjust (pkt, diff);
  if (has_pseudo_header (pkt))
    l4_csum_adjust (pkt, diff);
}

void
fz_ip_packet_set_src (FzIpPacket *pkt, const FzIpAddr *addr)
{
  set_addr (pkt, src_ptr (pkt), addr);
}

void
fz_ip_packet_set_dst (FzIpPacket *pkt, const FzIpAddr *addr)
{
  set_addr (pkt, dst_ptr (pkt), addr);
}

guint8 *
fz_ip_packet_l4 (const FzIpPacket *pkt)
{
  return pkt->data + pkt->l4_off;
}

guint32
fz_ip_packet_l4_len (const FzIpPacket *pkt)
{
  return pkt->len - pkt->l4_off;
}

guint8 *
fz_ip_packet_payload (const FzIpPacket *pkt, guint32 *len)
{
  guint8 *l4 = fz_ip_packet_l4 (pkt);
  guint32 hdr = pkt->proto == FZ_IP_PROTO_TCP ? (l4[12] >> 4) * 4u : 8u;

  *len = fz_ip_packet_l4_len (pkt) - hdr;
  return l4 + hdr;
}

gboolean
fz_ip_packet_has_ports (const FzIpPacket *pkt)
{
  return pkt->proto == FZ_IP_PROTO_TCP || pkt->proto == FZ_IP_PROTO_UDP;
}

guint16
fz_ip_packet_src_port (const FzIpPacket *pkt)
{
  return fz_ip_packet_has_ports (pkt) ? be16 (fz_ip_packet_l4 (pkt)) : 0;
}

guint16
fz_ip_packet_dst_port (const FzIpPacket *pkt)
{
  return fz_ip_packet_has_ports (pkt) ? be16 (fz_ip_packet_l4 (pkt) + 2) : 0;
}

static void
set_l4_word (FzIpPacket *pkt, guint off, guint16 value)
{
  guint8 *p = fz_ip_packet_l4 (pkt) + off;
  guint8 old[2] = { p[0], p[1] };

  put_be16 (p, value);
  l4_csum_adjust (pkt, fz_checksum_diff (old, p, 2));
}

void
fz_ip_packet_set_src_port (FzIpPacket *pkt, guint16 port)
{
  if (fz_ip_packet_has_ports (pkt))
    set_l4_word (pkt, 0, port);
}

void
fz_ip_packet_set_dst_port (FzIpPacket *pkt, guint16 port)
{
  if (fz_ip_packet_has_ports (pkt))
    set_l4_word (pkt, 2, port);
}

guint8
fz_ip_packet_tcp_flags (const FzIpPacket *pkt)
{
  return pkt->proto == FZ_IP_PROTO_TCP ? fz_ip_packet_l4 (pkt)[13] : 0;
}

gboolean
fz_ip_packet_is_icmp (const FzIpPacket *pkt)
{
  return pkt->proto == FZ_IP_PROTO_ICMP || pkt->proto == FZ_IP_PROTO_ICMPV6;
}

guint8
fz_ip_packet_icmp_type (const FzIpPacket *pkt)
{
  return fz_ip_packet_is_icmp (pkt) ? fz_ip_packet_l4 (pkt)[0] : 0;
}

guint8
fz_ip_packet_icmp_code (const FzIpPacket *pkt)
{
  return fz_ip_packet_is_icmp (pkt) ? fz_ip_packet_l4 (pkt)[1] : 0;
}

gboolean
fz_ip_packet_is_icmp_echo (const FzIpPacket *pkt)
{
  guint8 t = fz_ip_packet_icmp_type (pkt);

  if (pkt->proto == FZ_IP_PROTO_ICMP)
    return t == 8 || t == 0;
  if (pkt->proto == FZ_IP_PROTO_ICMPV6)
    return t == 128 || t == 129;
  return FALSE;
}

gboolean
fz_ip_packet_is_icmp_error (const FzIpPacket *pkt)
{
  guint8 t = fz_ip_packet_icmp_type (pkt);

  if (pkt->proto == FZ_IP_PROTO_ICMP) /* unreachable, quench, redirect, time, param */
    return t == 3 || t == 4 || t == 5 || t == 11 || t == 12;
  if (pkt->proto == FZ_IP_PROTO_ICMPV6)
    return t < 128;
  return FALSE;
}

guint16
fz_ip_packet_icmp_echo_id (const FzIpPacket *pkt)
{
  return fz_ip_packet_is_icmp_echo (pkt) ? be16 (fz_ip_packet_l4 (pkt) + 4) : 0;
}

guint16
fz_ip_packet_icmp_echo_seq (const FzIpPacket *pkt)
{
  return fz_ip_packet_is_icmp_echo (pkt) ? be16 (fz_ip_packet_l4 (pkt) + 6) : 0;
}

void
fz_ip_packet_set_icmp_echo_id (FzIpPacket *pkt, guint16 id)
{
  if (!fz_ip_packet_is_icmp_echo (pkt))
    return;
  set_l4_word (pkt, 4, id);
}

guint8
fz_ip_packet_ttl (const FzIpPacket *pkt)
{
  return pkt->data[pkt->version == 4 ? 8 : 7];
}

void
fz_ip_packet_set_ttl (FzIpPacket *pkt, guint8 ttl)
{
  if (pkt->version == 4)
    {
      guint8 old[2] = { pkt->data[8], pkt->data[9] };
      pkt->data[8] = ttl;
      ip_csum_adjust (pkt, fz_checksum_diff (old, pkt->data + 8, 2));
    }
  else
    pkt->data[7] = ttl;
}

guint8
fz_ip_header_ecn (const guint8 *data, gsize len)
{
  if (len < 2)
    return 0;
  return (data[0] >> 4) == 4 ? data[1] & 0x03 : (data[1] >> 4) & 0x03;
}

guint8
fz_ip_packet_ecn (const FzIpPacket *pkt)
{
  return fz_ip_header_ecn (pkt->data, pkt->len);
}

void
fz_ip_packet_set_ecn (FzIpPacket *pkt, guint8 ecn)
{
  g_return_if_fail (ecn <= 3);
  if (pkt->version == 4)
    {
      guint8 old[2] = { pkt->data[0], pkt->data[1] };
      pkt->data[1] = (pkt->data[1] & 0xfc) | ecn;
      ip_csum_adjust (pkt, fz_checksum_diff (old, pkt->data, 2));
    }
  else
    pkt->data[1] = (pkt->data[1] & 0xcf) | (ecn << 4);
}

gboolean
fz_ip_packet_is_control (const FzIpPacket *pkt)
{
  return pkt->proto == FZ_IP_PROTO_CONTROL;
}

guint8
fz_ip_packet_control_type (const FzIpPacket *pkt)
{
  return fz_ip_packet_is_control (pkt) ? fz_ip_packet_l4 (pkt)[0] : 0;
}
