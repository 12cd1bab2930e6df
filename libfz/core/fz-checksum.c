#include "fz-checksum.h"

#include <string.h>

guint64
fz_checksum_add (guint64 sum, const void *data, gsize len)
{
  const guint8 *p = data;

  /* 32-bit words into a 64-bit accumulator: no carry is lost for any
   * length a packet can have, and the fold at the end is the end-around
   * carry. */
  while (len >= 16)
    {
      guint32 w[4];
      memcpy (w, p, 16);
      sum += (guint64) w[0] + w[1] + w[2] + w[3];
      p += 16;
      len -= 16;
    }
  while (len >= 4)
    {
      guint32 w;
      memcpy (&w, p, 4);
      sum += w;
      p += 4;
      len -= 4;
    }
  if (len >= 2)
    {
      guint16 w;
      memcpy (&w, p, 2);
      sum += w;
      p += 2;
      len -= 2;
    }
  if (len == 1)
    {
      guint16 w = 0;
      memcpy (&w, p, 1); /* the byte pairs with a zero byte after it */
      sum += w;
    }
  return sum;
}

static inline guint16
fold (guint64 sum)
{
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (guint16) sum;
}

guint16
fz_checksum_finish (guint64 sum)
{
  return (guint16) ~fold (sum);
}

guint16
fz_checksum_update (guint16 csum, const void *old, const void *new, gsize len)
{
  const guint8 *o = old, *n = new;
  guint64 sum = (guint16) ~csum;

  g_return_val_if_fail (len % 2 == 0, csum);
  for (gsize i = 0; i < len; i += 2)
    {
      guint16 ow, nw;
      memcpy (&ow, o + i, 2);
      memcpy (&nw, n + i, 2);
      sum += (guint16) ~ow;
      sum += nw;
    }
  return (guint16) ~fold (sum);
}

guint16
fz_checksum_update16 (guint16 csum, guint16 old, guint16 new)
{
  guint64 sum = (guint16) ~csum;

  sum += (guint16) ~old;
  sum += new;
  return (guint16) ~fold (sum);
}
