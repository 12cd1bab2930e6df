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

guint16
fz_checksum_finish (guint64 sum)
{
  return (guint16) ~fz_checksum_fold_ (sum);
}
