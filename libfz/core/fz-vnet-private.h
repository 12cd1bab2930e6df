/* The virtio-net header that a TUN device with IFF_VNET_HDR puts before
 * each packet, and the segmentation of the TCP super-packets it hands over
 * when TSO is on (one read for up to 64 KiB of a flow). */
#pragma once

#include "fz-buf-pool.h"

G_BEGIN_DECLS

#define FZ_VNET_HDR_LEN 10

enum
{
  FZ_VNET_F_NEEDS_CSUM = 1,
  FZ_VNET_GSO_NONE = 0,
  FZ_VNET_GSO_TCPV4 = 1,
  FZ_VNET_GSO_TCPV6 = 4,
  FZ_VNET_GSO_ECN = 0x80,
};

typedef struct
{
  guint8 flags;
  guint8 gso_type;
  guint16 hdr_len; /* host order, as the TUN device writes them */
  guint16 gso_size;
  guint16 csum_start;
  guint16 csum_offset;
} FzVnetHdr;

void fz_vnet_hdr_read (FzVnetHdr *h, const guint8 *p);
void fz_vnet_hdr_write (const FzVnetHdr *h, guint8 *p);

/* Turns what one read returned (header stripped, packet in @buf) into
 * whole packets with complete checksums: @buf itself when it is not a
 * super-packet, else segments of at most gso_size payload in buffers from
 * @pool (then @buf is freed). Returns how many packets went to @out (at
 * most @max), 0 if it was malformed (and dropped). */
guint fz_vnet_segment (const FzVnetHdr *h, FzPacketBuf *buf, FzBufPool *pool,
                       FzPacketBuf **out, guint max);

/* The reverse, for writing into the TUN: how many of @bufs, from the
 * first, are consecutive segments of one TCP flow that the kernel can take
 * as one super-packet (same addresses, ports, options, ack and window;
 * contiguous sequence numbers; equal payload sizes but the last; only ACK
 * and a final PSH; at most 64 KiB). When more than one, the first packet's
 * headers are rewritten for the whole and @h describes it: write @h, the
 * first packet, then the payloads of the others. When one, nothing changes
 * and @h is a plain header. */
guint fz_vnet_coalesce (FzPacketBuf *const *bufs, guint n, FzVnetHdr *h);

/* Where the TCP payload of a packet @fz_vnet_coalesce() merged starts. */
gsize fz_vnet_payload_offset (const FzPacketBuf *buf);

G_END_DECLS
