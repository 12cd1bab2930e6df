/* FzAllowedIps: WireGuard's cryptokey routing table: which peer an
 * address belongs to, by longest prefix. A prefix belongs to one peer at
 * a time; adding it for another moves it, as wg(8) expects. */
#pragma once

#include "fz-private.h"

typedef struct
{
  FzIpAddr net; /* host bits cleared */
  guint8 cidr;
  FzWgPeer *peer;
} FzAllowedIp;

typedef struct
{
  GArray *entries; /* FzAllowedIp, longest prefix first */
} FzAllowedIps;

void fz_allowed_ips_init (FzAllowedIps *t);
void fz_allowed_ips_clear (FzAllowedIps *t);
void fz_allowed_ips_add (FzAllowedIps *t, const FzIpAddr *net, guint8 cidr,
                         FzWgPeer *peer);
void fz_allowed_ips_remove_peer (FzAllowedIps *t, FzWgPeer *peer);
FzWgPeer *fz_allowed_ips_lookup (FzAllowedIps *t, const FzIpAddr *addr);
/* "10.0.0.0/8" or "fd00::/64": FALSE if malformed or the length is out of range. */
gboolean fz_allowed_ips_parse (const char *text, FzIpAddr *net, guint8 *cidr);
