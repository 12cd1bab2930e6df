/* FzIpTable: longest-prefix match from IPv4 and IPv6 prefixes to values.
 *
 * A path-compressed binary trie per family (as the kernel's WireGuard
 * allowedips.c): a lookup walks at most one node per distinct prefix
 * length on the path, compares whole 64-bit words, and allocates
 * nothing. IPv4 and IPv6 never match each other. Used for fz-wg's
 * allowed IPs, and for CIDR resources and proxy IPs. */
#pragma once

#include "fz-ip-prefix-private.h"

G_BEGIN_DECLS

typedef struct _FzIpTable FzIpTable;

/* Called in address order: by address, then shorter prefix first; all
 * IPv4 before all IPv6. The table must not change during the walk. */
typedef void (*FzIpTableFunc) (const FzIpPrefix *prefix, gpointer value,
                               gpointer user_data);

/* @value_free (may be NULL) is called on a value when it is replaced,
 * removed, cleared or freed with the table: once per prefix, so a value
 * shared by several prefixes needs a reference per insert. */
FzIpTable *fz_ip_table_new (GDestroyNotify value_free);
void fz_ip_table_free (FzIpTable *table);
/* Maps @prefix to @value (not NULL); host bits of @prefix past its
 * length are ignored. An equal prefix already present gets the new value
 * (the old one freed). TRUE if the prefix was new. */
gboolean fz_ip_table_insert (FzIpTable *table, const FzIpPrefix *prefix, gpointer value);
/* Removes exactly @prefix (host bits ignored); FALSE if it was absent. */
gboolean fz_ip_table_remove (FzIpTable *table, const FzIpPrefix *prefix);
/* Removes every prefix mapped to @value; returns how many. */
guint fz_ip_table_remove_value (FzIpTable *table, gconstpointer value);
/* The value of exactly @prefix (host bits ignored), or NULL. */
gpointer fz_ip_table_lookup_exact (const FzIpTable *table, const FzIpPrefix *prefix);
/* The value of the longest prefix containing @addr, or NULL; the prefix
 * itself in @matched (may be NULL) when found. */
gpointer fz_ip_table_lookup (const FzIpTable *table, const FzIpAddr *addr,
                             FzIpPrefix *matched);
void fz_ip_table_foreach (const FzIpTable *table, FzIpTableFunc func, gpointer user_data);
guint fz_ip_table_size (const FzIpTable *table);
void fz_ip_table_clear (FzIpTable *table);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzIpTable, fz_ip_table_free)

G_END_DECLS
