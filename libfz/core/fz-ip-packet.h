/* FzIpPacket: a validated view of one IPv4 or IPv6 packet in a buffer.
 *
 * Parsing is strict (see docs/architecture.md, "IP packets"): a packet that
 * parses has a known L4 header that fits, so accessors need no further
 * bounds checks. Parsing never allocates; explaining a rejection does, and
 * is meant for the (rate-limited) log line of a dropped packet.
 *
 * Setters edit the packet in place and update the IPv4 header and L4
 * checksums incrementally (RFC 1624). */
#pragma once

#include "fz-ip-addr.h"

G_BEGIN_DECLS

#define FZ_IP_MTU_TUNNEL  1280  /* largest packet on the tunnel side */
#define FZ_IP_MAX_OFFLOAD 65575 /* largest super-packet (IPv6 40 + 65535) */

enum
{
  FZ_IP_PROTO_ICMP = 1,
  FZ_IP_PROTO_TCP = 6,
  FZ_IP_PROTO_UDP = 17,
  FZ_IP_PROTO_ICMPV6 = 58,
  FZ_IP_PROTO_CONTROL = 0xff, /* p2p control: IPv6, src = dst = ::, hop limit 0 */
};

#define FZ_TCP_FIN 0x01
#define FZ_TCP_SYN 0x02
#define FZ_TCP_RST 0x04
#define FZ_TCP_ACK 0x10

/* Why a packet was rejected; also the GError codes of FZ_IP_ERROR. */
typedef enum
{
  FZ_IP_OK = 0,
  FZ_IP_ERR_TOO_SHORT,       /* shorter than an IP header */
  FZ_IP_ERR_TOO_LONG,        /* longer than the caller's maximum */
  FZ_IP_ERR_VERSION,         /* neither 4 nor 6 */
  FZ_IP_ERR_IHL,             /* IPv4 IHL < 5 or past the end */
  FZ_IP_ERR_TOTAL_LENGTH,    /* length field does not match the buffer */
  FZ_IP_ERR_FRAGMENT,        /* IPv4 MF/offset, IPv6 fragment header */
  FZ_IP_ERR_EXT_HEADER,      /* IPv6 extension header bad or unsupported */
  FZ_IP_ERR_PROTOCOL,        /* L4 protocol not TCP/UDP/ICMP/ICMPv6 */
  FZ_IP_ERR_ICMP_FAMILY,     /* ICMPv4 in IPv6, ICMPv6 in IPv4 */
  FZ_IP_ERR_L4_TRUNCATED,    /* L4 header does not fit */
  FZ_IP_ERR_UDP_LENGTH,      /* UDP length != L4 length */
  FZ_IP_ERR_TCP_DATA_OFFSET, /* TCP data offset < 5 or past the end */
  FZ_IP_ERR_CONTROL,         /* p2p control packet malformed */
  FZ_IP_ERR_NO_ROOM,         /* builder: does not fit the buffer */
  FZ_IP_ERR_ICMP_ABOUT_ICMP, /* builder: no ICMP error about an ICMP error */
} FzIpReject;

#define FZ_IP_ERROR (fz_ip_error_quark ())
GQuark fz_ip_error_quark (void);

typedef struct
{
  guint8 *data;
  guint32 len;
  guint32 l4_off; /* after the IPv4 options / IPv6 extension headers */
  guint8 version; /* 4 or 6 */
  guint8 proto;   /* FZ_IP_PROTO_* */
} FzIpPacket;

FzIpReject fz_ip_packet_parse (FzIpPacket *pkt, guint8 *data, gsize len, gsize max_len);
/* One line: the rule that failed with its values, then src, dst and the L4
 * header as far as they can be read. NULL if the packet parses. */
char *fz_ip_packet_explain (const guint8 *data, gsize len, gsize max_len);
gboolean fz_ip_packet_parse_or_error (FzIpPacket *pkt, guint8 *data, gsize len,
                                      gsize max_len, GError **error);
const char *fz_ip_reject_to_string (FzIpReject reason);

/* Addresses. Setters require the family of the packet. */
void fz_ip_packet_src (const FzIpPacket *pkt, FzIpAddr *out);
void fz_ip_packet_dst (const FzIpPacket *pkt, FzIpAddr *out);
void fz_ip_packet_set_src (FzIpPacket *pkt, const FzIpAddr *addr);
void fz_ip_packet_set_dst (FzIpPacket *pkt, const FzIpAddr *addr);

/* L4 header and payload. */
guint8 *fz_ip_packet_l4 (const FzIpPacket *pkt);
guint32 fz_ip_packet_l4_len (const FzIpPacket *pkt);
guint8 *fz_ip_packet_payload (const FzIpPacket *pkt, guint32 *len);

/* TCP and UDP ports, host order; FALSE / no-op for other protocols. */
gboolean fz_ip_packet_has_ports (const FzIpPacket *pkt);
guint16 fz_ip_packet_src_port (const FzIpPacket *pkt);
guint16 fz_ip_packet_dst_port (const FzIpPacket *pkt);
void fz_ip_packet_set_src_port (FzIpPacket *pkt, guint16 port);
void fz_ip_packet_set_dst_port (FzIpPacket *pkt, guint16 port);
guint8 fz_ip_packet_tcp_flags (const FzIpPacket *pkt);

/* ICMP / ICMPv6. The echo identifier is what NAT rewrites in place of a port. */
gboolean fz_ip_packet_is_icmp (const FzIpPacket *pkt);
guint8 fz_ip_packet_icmp_type (const FzIpPacket *pkt);
guint8 fz_ip_packet_icmp_code (const FzIpPacket *pkt);
gboolean fz_ip_packet_is_icmp_echo (const FzIpPacket *pkt);
gboolean fz_ip_packet_is_icmp_error (const FzIpPacket *pkt);
guint16 fz_ip_packet_icmp_echo_id (const FzIpPacket *pkt);
guint16 fz_ip_packet_icmp_echo_seq (const FzIpPacket *pkt);
void fz_ip_packet_set_icmp_echo_id (FzIpPacket *pkt, guint16 id);

/* IPv4 TTL / IPv6 hop limit, and the two ECN bits. */
guint8 fz_ip_packet_ttl (const FzIpPacket *pkt);
void fz_ip_packet_set_ttl (FzIpPacket *pkt, guint8 ttl);
guint8 fz_ip_packet_ecn (const FzIpPacket *pkt);
/* The ECN bits straight from a header (0 if too short to hold them):
 * for the outer header of a packet that needs no other field. */
guint8 fz_ip_header_ecn (const guint8 *data, gsize len);
void fz_ip_packet_set_ecn (FzIpPacket *pkt, guint8 ecn);

/* p2p control packets. */
gboolean fz_ip_packet_is_control (const FzIpPacket *pkt);
guint8 fz_ip_packet_control_type (const FzIpPacket *pkt);

/* Full checksums: compute (and store) both, or verify them. An IPv4 UDP
 * checksum of 0 means "none" and verifies. */
void fz_ip_packet_update_checksums (FzIpPacket *pkt);
gboolean fz_ip_packet_verify_ip_checksum (const FzIpPacket *pkt);
gboolean fz_ip_packet_verify_l4_checksum (const FzIpPacket *pkt);

G_END_DECLS
