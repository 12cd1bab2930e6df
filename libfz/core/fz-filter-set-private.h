/* FzFilterSet: a resource's traffic filters (FzFilter list from the
 * portal) compiled for the packet path, as Firezone's gateway applies
 * them to packets from a client to a resource:
 *
 * - an empty list allows everything;
 * - TCP and UDP by destination port, against the merged port ranges of
 *   that protocol (sorted, binary search);
 * - ICMP and ICMPv6, echo requests and every other type alike, only with
 *   an icmp filter;
 * - any other protocol (p2p control packets included) is refused.
 *
 * ICMP errors coming back from a resource are not this set's business:
 * the gateway lets them through to the client whatever the filters.
 * Internal to libfz. */
#pragma once

#include "fz-ip-packet.h"
#include "fz-portal-types.h"

G_BEGIN_DECLS

typedef struct _FzFilterSet FzFilterSet;

/* Compiles @n filters (NULL / 0: allow everything). */
FzFilterSet *fz_filter_set_new (const FzFilter *filters, guint n);
/* What either allows: the filters of resources that cover one address. */
FzFilterSet *fz_filter_set_union (const FzFilterSet *a, const FzFilterSet *b);
void fz_filter_set_free (FzFilterSet *set);

gboolean fz_filter_set_allows_all (const FzFilterSet *set);
/* @ip_proto: FZ_IP_PROTO_TCP / UDP (with @dst_port) or ICMP / ICMPV6. */
gboolean fz_filter_set_allows (const FzFilterSet *set, guint8 ip_proto, guint16 dst_port);
gboolean fz_filter_set_allows_packet (const FzFilterSet *set, const FzIpPacket *pkt);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzFilterSet, fz_filter_set_free)

G_END_DECLS
