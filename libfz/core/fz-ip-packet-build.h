/* Builders: whole IP packets written into an FzPacketBuf (after its
 * headroom), checksums computed, parsed into @out for further edits.
 *
 * They fail with FZ_IP_ERR_NO_ROOM when the packet does not fit the buffer
 * or its length fields; source and destination must be of one family. */
#pragma once

#include "fz-ip-packet.h"
#include "fz-packet-buf.h"

G_BEGIN_DECLS

#define FZ_IP_DEFAULT_TTL 64
#define FZ_ICMP_ERROR_TTL 20

typedef enum
{
  FZ_ICMP_PROHIBITED,      /* IPv4 3/13, IPv6 1/1: a filter denied it */
  FZ_ICMP_NET_UNREACHABLE, /* IPv4 3/0,  IPv6 1/3: nowhere to send it */
} FzIcmpUnreachable;

/* Types of the p2p control protocol carried in FZ_IP_PROTO_CONTROL. */
typedef enum
{
  FZ_CONTROL_ASSIGNED_IPS = 0,
  FZ_CONTROL_DOMAIN_STATUS = 1,
  FZ_CONTROL_GOODBYE = 2,
} FzControlType;

gboolean fz_ip_build_udp (FzPacketBuf *buf, FzIpPacket *out, const FzIpAddr *src,
                          const FzIpAddr *dst, guint16 sport, guint16 dport,
                          const void *payload, gsize len, GError **error);

/* A TCP segment's header fields; @mss > 0 adds the MSS option (SYNs). */
typedef struct
{
  guint16 sport, dport;
  guint32 seq, ack;
  guint8 flags; /* FZ_TCP_* */
  guint16 window;
  guint16 mss;
} FzTcpSegment;

gboolean fz_ip_build_tcp (FzPacketBuf *buf, FzIpPacket *out, const FzIpAddr *src,
                          const FzIpAddr *dst, const FzTcpSegment *seg,
                          const void *payload, gsize len, GError **error);

gboolean fz_ip_build_icmp_echo (FzPacketBuf *buf, FzIpPacket *out, const FzIpAddr *src,
                                const FzIpAddr *dst, gboolean reply, guint16 id,
                                guint16 seq, const void *payload, gsize len,
                                GError **error);

/* The error a router would send back for @orig: addresses swapped, TTL 20;
 * the original IPv4 header + 8 bytes, or as much of the original IPv6
 * packet as fits in 1280 bytes. Refuses to answer an ICMP error. */
gboolean fz_ip_build_icmp_unreachable (FzPacketBuf *buf, FzIpPacket *out,
                                       const FzIpPacket *orig, FzIcmpUnreachable kind,
                                       GError **error);

/* IPv6, src = dst = ::, next header 255, hop limit 0, an 8-byte header whose
 * first byte is @type, then @payload (JSON). */
gboolean fz_ip_build_control (FzPacketBuf *buf, FzIpPacket *out, FzControlType type,
                              const void *payload, gsize len, GError **error);

G_END_DECLS
