/* Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Every 16-bit value here is in memory (network) order as it sits in the
 * packet: load with memcpy, store with memcpy. The ones' complement sum is
 * byte-order independent, so no swapping is needed on the packet path. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Adds @len bytes to a running sum. Only the last chunk of a sequence may
 * have an odd length. */
guint64 fz_checksum_add (guint64 sum, const void *data, gsize len);

/* Folds a running sum to 16 bits and complements it: the checksum field. */
guint16 fz_checksum_finish (guint64 sum);

/* RFC 1624 eqn. 3: the checksum after @len bytes (even) changed from @old
 * to @new. */
guint16 fz_checksum_update (guint16 csum, const void *old, const void *new, gsize len);

/* The same for one 16-bit word, both in memory order. */
guint16 fz_checksum_update16 (guint16 csum, guint16 old, guint16 new);

G_END_DECLS
