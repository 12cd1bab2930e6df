/* Peer indices: all 2^24 - 1 of them distinct, then none. */
#include "fz-private.h"

static void
test_period (void)
{
  g_autofree guint8 *seen = g_malloc0 ((FZ_WG_INDEX_PEERS + 1) / 8);
  FzWgIndex idx;
  FzRng rng;
  guint32 v, first = 0;

  fz_rng_init_seeded (&rng, 24);
  fz_wg_index_init (&idx, &rng);
  for (guint32 n = 0; n < FZ_WG_INDEX_PEERS; n++)
    {
      g_assert_true (fz_wg_index_next (&idx, &v));
      g_assert_cmpuint (v, <=, FZ_WG_INDEX_PEERS);
      if (seen[v / 8] & (1u << (v % 8)))
        g_error ("index %u handed out twice (after %u)", v, n);
      seen[v / 8] |= 1u << (v % 8);
      if (n == 0)
        first = v;
    }
  g_assert_false (fz_wg_index_next (&idx, &v));

  /* another seed starts elsewhere */
  fz_rng_init_seeded (&rng, 25);
  fz_wg_index_init (&idx, &rng);
  g_assert_true (fz_wg_index_next (&idx, &v));
  g_assert_cmpuint (v, !=, first);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wg/index/period", test_period);
  return g_test_run ();
}
