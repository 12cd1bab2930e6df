/* FzDnsResourceSet: the DNS resources' address patterns, answering
 * "which resource is the most specific one for this name".
 *
 * Patterns sit in buckets keyed by their literal tail
 * (fz_dns_pattern_get_tail: the whole name for an exact pattern, "" for
 * `**`), each bucket sorted most specific first. A name of n labels is
 * looked up in its n + 1 suffixes, longest first, and the first bucket
 * holding a matching pattern has the answer: under the specificity order
 * (fz-dns-pattern-private.h) a pattern with a longer literal tail beats
 * every pattern with a shorter one. So a lookup costs at most 128 hash
 * lookups plus the patterns that share the tails of the name, never a
 * scan of every resource.
 *
 * The same pattern under two resources: the greater resource id wins
 * (strcmp), as in Firezone. */
#pragma once

#include <glib.h>

#include "fz-dns-pattern-private.h"

G_BEGIN_DECLS

typedef struct _FzDnsResourceSet FzDnsResourceSet;

FzDnsResourceSet *fz_dns_resource_set_new (void);
void fz_dns_resource_set_free (FzDnsResourceSet *set);

/* Adds resource `id` with its pattern, replacing the pattern it had. On
 * an invalid pattern the set is left as it was. */
gboolean fz_dns_resource_set_add (FzDnsResourceSet *set, const char *id,
                                  const char *pattern, GError **error);
gboolean fz_dns_resource_set_remove (FzDnsResourceSet *set, const char *id);
guint fz_dns_resource_set_size (const FzDnsResourceSet *set);
const FzDnsPattern *fz_dns_resource_set_get_pattern (const FzDnsResourceSet *set,
                                                     const char *id);

/* The id of the most specific resource whose pattern matches `name`, or
 * NULL. The id is borrowed: valid until the set changes. */
const char *fz_dns_resource_set_lookup (const FzDnsResourceSet *set,
                                        const FzDnsName *name);
/* Every matching resource, most specific first: stores at most `max` ids
 * and returns how many it stored. */
guint fz_dns_resource_set_lookup_all (const FzDnsResourceSet *set, const FzDnsName *name,
                                      const char **ids, guint max);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzDnsResourceSet, fz_dns_resource_set_free)

G_END_DECLS
