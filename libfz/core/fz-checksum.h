/* Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Every 16-bit value here is in memory (network) order as it sits in the
 * packet: load with memcpy, store with memcpy. The ones' complement sum is
 * byte-order independent, so no swapping is needed on the packet path. */
#pragma once

#include <glib.h>
#include <string.h>

G_BEGIN_DECLS

/* Adds @len bytes to a running sum. Only the last chunk of a sequence may
 * have an odd length. */
guint64 fz_checksum_add (guint64 sum, const void *data, gsize len);

/* Folds a running sum to 16 bits and complements it: the checksum field. */
guint16 fz_checksum_finish (guint64 sum);

/* Inline: NAT calls these per packet with a few bytes each. */

static inline guint16
fz_checksum_fold_ (guint64 sum)
{
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (guint16) sum;
}

/* RFC 1624: the difference that @len bytes (even) changing from @old to
 * @new make to a ones' complement sum. One difference serves every
 * checksum that covers those bytes (IPv4 header and L4 pseudo-header). */
static inline guint16
fz_checksum_diff (const void *old, const void *new, gsize len)
{
  const guint8 *o = (const guint8 *) old, *n = (const guint8 *) new;
  guint64 sum = 0;

  for (gsize i = 0; i + 1 < len; i += 2)
    {
      guint16 ow, nw;
      memcpy (&ow, o + i, 2);
      memcpy (&nw, n + i, 2);
      sum += (guint16) ~ow;
      sum += nw;
    }
  return fz_checksum_fold_ (sum);
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + diff). */
static inline guint16
fz_checksum_adjust (guint16 csum, guint16 diff)
{
  return (guint16) ~fz_checksum_fold_ ((guint64) (guint16) ~csum + diff);
}

static inline guint16
fz_checksum_update (guint16 csum, const void *old, const void *new, gsize len)
{
  return fz_checksum_adjust (csum, fz_checksum_diff (old, new, len));
}

/* The same for one 16-bit word, both in memory order. */
static inline guint16
fz_checksum_update16 (guint16 csum, guint16 old, guint16 new)
{
  return fz_checksum_update (csum, &old, &new, 2);
}

G_END_DECLS
