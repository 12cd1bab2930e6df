/* Internet checksum: the fast sum against the independent naive one, and
 * RFC 1624 incremental updates against full recomputation. */
#include "fz-private.h"
#include "naive-checksum.h"

#include <string.h>

static guint16
fast (const guint8 *p, gsize len)
{
  guint16 c = fz_checksum_finish (fz_checksum_add (0, p, len));
  /* to the naive one's host-order value */
  return g_ntohs (c);
}

/* RFC 1071 section 3's worked example: 00 01 f2 03 f4 f5 f6 f7 sums to
 * ddf2, so the checksum is ~ddf2 = 220d. */
static void
test_rfc1071_example (void)
{
  static const guint8 data[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };

  g_assert_cmphex (fast (data, sizeof data), ==, 0x220d);
  g_assert_cmphex (naive_checksum (data, sizeof data), ==, 0x220d);
}

static void
test_matches_naive (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (1071);
  guint8 buf[2048];

  for (guint round = 0; round < 2000; round++)
    {
      gsize len = g_rand_int_range (rand, 0, sizeof buf);
      for (gsize i = 0; i < len; i++)
        buf[i] = round % 7 == 0 ? 0xff : (guint8) g_rand_int (rand);
      g_assert_cmphex (fast (buf, len), ==, naive_checksum (buf, len));
    }
}

/* A sum built from several even-sized chunks equals the sum in one go. */
static void
test_chunked (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (2);
  guint8 buf[1500];

  for (gsize i = 0; i < sizeof buf; i++)
    buf[i] = (guint8) g_rand_int (rand);
  for (guint round = 0; round < 500; round++)
    {
      gsize len = g_rand_int_range (rand, 1, sizeof buf), off = 0;
      guint64 sum = 0;

      while (off < len)
        {
          gsize n = (gsize) g_rand_int_range (rand, 1, 64) * 2; /* not inside MIN() */
          n = MIN (n, len - off);
          sum = fz_checksum_add (sum, buf + off, n);
          off += n;
        }
      g_assert_cmphex (fz_checksum_finish (sum), ==,
                       fz_checksum_finish (fz_checksum_add (0, buf, len)));
    }
}

/* Changing any even-aligned field and updating incrementally gives a
 * checksum that verifies, as RFC 1624 promises (including the all-ones
 * corner cases its section 3 discusses). */
static void
test_incremental (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (1624);
  guint8 buf[64];

  for (guint round = 0; round < 20000; round++)
    {
      guint16 csum;
      gsize field = g_rand_int_range (rand, 0, 8) * 2; /* 16 bytes: as for IPv6 */
      gsize n = g_rand_boolean (rand) ? 2 : 4;
      guint8 old[16], neu[16];

      for (gsize i = 0; i < sizeof buf; i++)
        buf[i] = round % 5 == 0 ? 0 : (guint8) g_rand_int (rand);
      /* checksum field at 62..63 covers 0..61 */
      memset (buf + 62, 0, 2);
      csum = fz_checksum_finish (fz_checksum_add (0, buf, 62));
      memcpy (buf + 62, &csum, 2);

      memcpy (old, buf + field, n);
      for (gsize i = 0; i < n; i++)
        neu[i] = round % 3 == 0 ? 0xff : (guint8) g_rand_int (rand);
      memcpy (buf + field, neu, n);
      if (n == 2)
        {
          guint16 o, w;
          memcpy (&o, old, 2);
          memcpy (&w, neu, 2);
          csum = fz_checksum_update16 (csum, o, w);
        }
      else
        csum = fz_checksum_update (csum, old, neu, n);
      memcpy (buf + 62, &csum, 2);
      g_assert_cmphex (naive_checksum (buf, 64), ==, 0);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/checksum/rfc1071-example", test_rfc1071_example);
  g_test_add_func ("/checksum/matches-naive", test_matches_naive);
  g_test_add_func ("/checksum/chunked", test_chunked);
  g_test_add_func ("/checksum/incremental", test_incremental);
  return g_test_run ();
}
