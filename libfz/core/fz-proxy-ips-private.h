/* FzProxyIps: the client's proxy IPs for DNS resources.
 *
 * The DNS stub answers a name matching a DNS resource with 4 IPv4 and 4
 * IPv6 addresses of its own, taken in order from 100.96.0.0/11 (first
 * 100.96.0.1) and fd00:2021:1111:8000::/107 (first
 * fd00:2021:1111:8000::1); the network address and, in IPv4, the DNS
 * sentinels 100.100.111.0/24 inside that range are never handed out.
 * An address is never handed out twice in a session, even after its
 * name is forgotten. The same name gets the same addresses again, and
 * the mappings are saved and seed the next session, so that apps that
 * cached an address keep reaching the same resource.
 *
 * Names are DNS names without the final dot, compared ignoring ASCII
 * case and kept lowercased. */
#pragma once

#include "fz-ip-addr.h"

#include <glib.h>

G_BEGIN_DECLS

#define FZ_PROXY_IPS_PER_FAMILY 4
#define FZ_PROXY_IPS_NAME_MAX   253
/* How many names the ranges hold (the IPv4 one, less the sentinels). */
#define FZ_PROXY_IPS_RANGE_NAMES (((1u << 21) - 1 - 256) / FZ_PROXY_IPS_PER_FAMILY)
/* How many names a session holds. Every name of a wildcard resource an
 * application asks for gets a mapping that stays all session and is
 * saved: without a bound, a program resolving random labels would grow
 * the table, the saved file and each save after a MAPPINGS event until
 * the ranges ran out (2^21 / 4 names). 65 536 is far more than a user
 * resolves in a session, costs at most about 50 MB here (253-character
 * names, their 8 addresses, both indexes) and 33 MB saved, and uses only
 * an eighth of the ranges, so a session seeded with the saved mappings
 * still has addresses to continue with. */
#define FZ_PROXY_IPS_MAX_NAMES 65536

#define FZ_PROXY_IPS_ERROR (fz_proxy_ips_error_quark ())
GQuark fz_proxy_ips_error_quark (void);

typedef enum
{
  FZ_PROXY_IPS_ERROR_INVALID_NAME, /* not a DNS name, or too long */
  FZ_PROXY_IPS_ERROR_EXHAUSTED,    /* the range has no 4 unused addresses left */
  FZ_PROXY_IPS_ERROR_INVALID,      /* saved mappings that do not parse or do not fit */
  FZ_PROXY_IPS_ERROR_FULL,         /* FZ_PROXY_IPS_MAX_NAMES names held already */
} FzProxyIpsError;

typedef struct
{
  char *name; /* lowercased */
  FzIpAddr ipv4[FZ_PROXY_IPS_PER_FAMILY];
  FzIpAddr ipv6[FZ_PROXY_IPS_PER_FAMILY];
} FzProxyIpsMapping;

typedef struct _FzProxyIps FzProxyIps;

FzProxyIps *fz_proxy_ips_new (void);
void fz_proxy_ips_free (FzProxyIps *ips);

/* The mapping of @name, made now with the next unused addresses if it
 * has none. NULL with FZ_PROXY_IPS_ERROR_INVALID_NAME, _FULL (a new name
 * while FZ_PROXY_IPS_MAX_NAMES are held; known names still answer) or
 * _EXHAUSTED (then nothing changes). The mapping stays valid until @name is forgotten or
 * @ips freed. */
const FzProxyIpsMapping *fz_proxy_ips_assign (FzProxyIps *ips, const char *name,
                                              GError **error);
/* The mapping of @name, or NULL; makes none. */
const FzProxyIpsMapping *fz_proxy_ips_lookup (const FzProxyIps *ips, const char *name);
/* The mapping holding @addr (for PTR answers and routing), or NULL. */
const FzProxyIpsMapping *fz_proxy_ips_lookup_addr (const FzProxyIps *ips,
                                                   const FzIpAddr *addr);
/* Drops @name's mapping; its addresses stay used. FALSE if it had none. */
gboolean fz_proxy_ips_forget (FzProxyIps *ips, const char *name);
/* Every mapping, in the order they were made (by address); the array
 * does not own them. */
GPtrArray *fz_proxy_ips_list (const FzProxyIps *ips);
guint fz_proxy_ips_size (const FzProxyIps *ips);
/* Counts changes (a mapping made or forgotten): poll it, and emit the
 * mappings when it moved. */
guint64 fz_proxy_ips_generation (const FzProxyIps *ips);
/* Whether @addr lies in one of the proxy ranges (used or not). */
gboolean fz_proxy_ips_in_range (const FzIpAddr *addr);

/* The mappings as JSON text to save:
 * {"version":1,"mappings":[{"name":"a.example.com","ipv4":[4 addresses],
 * "ipv6":[4 addresses]},...]} */
char *fz_proxy_ips_serialize (const FzProxyIps *ips);
/* A new FzProxyIps seeded with saved mappings; new names get addresses
 * past the highest one in use, per family. Strict: version 1, no other
 * members, valid distinct names, each address a proxy address and used
 * once, at most FZ_PROXY_IPS_MAX_NAMES mappings; else NULL and one
 * FZ_PROXY_IPS_ERROR_INVALID naming the first fault. */
FzProxyIps *fz_proxy_ips_parse (const char *text, gsize len, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzProxyIps, fz_proxy_ips_free)

G_END_DECLS
