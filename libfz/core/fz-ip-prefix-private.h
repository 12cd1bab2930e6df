/* FzIpPrefix: an IPv4 or IPv6 network, "10.0.0.0/8" or "fd00::/107".
 *
 * A value type like FzIpAddr. The address of a prefix made here always
 * has its host bits (those past @len) cleared, so two prefixes covering
 * the same addresses compare equal byte for byte. */
#pragma once

#include "fz-ip-addr.h"

G_BEGIN_DECLS

#define FZ_IP_PREFIX_STRLEN (FZ_IP_ADDR_STRLEN + 4) /* "/128" */

typedef struct
{
  FzIpAddr addr; /* host bits cleared */
  guint8 len;    /* 0..32 for IPv4, 0..128 for IPv6 */
} FzIpPrefix;

/* 32 for IPv4, 128 for IPv6, 0 for no family. */
guint fz_ip_prefix_max_len (guint8 family);
/* @len is clamped to the family's maximum; host bits of @addr are cleared. */
void fz_ip_prefix_init (FzIpPrefix *prefix, const FzIpAddr *addr, guint len);
/* Strict: "ADDR/LEN" with LEN in decimal digits (no sign, space or
 * leading zero) and at most the family's maximum, or a bare ADDR meaning
 * a host (/32, /128). Host bits are accepted and cleared, as wg(8) and
 * the kernel do: "10.1.2.3/8" is 10.0.0.0/8. FALSE on anything else,
 * @prefix then untouched. */
gboolean fz_ip_prefix_parse (FzIpPrefix *prefix, const char *text);
char *fz_ip_prefix_to_string (const FzIpPrefix *prefix, char buf[FZ_IP_PREFIX_STRLEN]);
gboolean fz_ip_prefix_equal (const FzIpPrefix *a, const FzIpPrefix *b);
/* The data-plane spec's ranges: tunnel addresses 100.64.0.0/11 and
 * fd00:2021:1111::/107; DNS-resource proxy IPs 100.96.0.0/11 and
 * fd00:2021:1111:8000::/107 (the IPv4 one holds the sentinels' /24). */
gboolean fz_ip_in_tunnel_range (const FzIpAddr *addr);
gboolean fz_ip_in_proxy_range (const FzIpAddr *addr);
/* Multicast, IPv4 broadcast or unspecified (0.0.0.0/8, ::): never one
 * host, so never routed through the tunnel nor answered with ICMP. */
gboolean fz_ip_addr_is_group (const FzIpAddr *addr);
/* fz_ip_addr_hash / fz_ip_addr_equal as GHashFunc / GEqualFunc. */
guint fz_ip_addr_hash_func (gconstpointer addr);
gboolean fz_ip_addr_equal_func (gconstpointer a, gconstpointer b);
/* Whether @addr (same family) lies inside @prefix. */
gboolean fz_ip_prefix_contains (const FzIpPrefix *prefix, const FzIpAddr *addr);

G_END_DECLS
