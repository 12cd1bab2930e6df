/* The replay window against the sequence of the Linux WireGuard
 * self-test (drivers/net/wireguard/selftest/counter.c), with our window. */
#include "fz-private.h"

static FzWgReplay r;
static guint step;

static void
T (guint64 n, gboolean want)
{
  step++;
  if (fz_wg_replay_check (&r, n) != want)
    g_error ("step %u: counter %" G_GUINT64_FORMAT " should be %s", step, n,
             want ? "accepted" : "rejected");
}

static void
test_sequence (void)
{
  const guint64 LIM = FZ_WG_REPLAY_WINDOW + 1;
  const guint64 REJ = FZ_WG_REJECT_AFTER_MESSAGES;

  fz_wg_replay_reset (&r);
  T (0, TRUE);
  T (1, TRUE);
  T (1, FALSE);
  T (9, TRUE);
  T (8, TRUE);
  T (7, TRUE);
  T (7, FALSE);
  T (LIM, TRUE);
  T (LIM - 1, TRUE);
  T (LIM - 1, FALSE);
  T (LIM - 2, TRUE);
  T (2, TRUE);
  T (2, FALSE);
  T (LIM + 16, TRUE);
  T (3, FALSE);
  T (LIM + 16, FALSE);
  T (LIM * 4, TRUE);
  T (LIM * 4 - (LIM - 1), TRUE);
  T (10, FALSE);
  T (LIM * 4 - LIM, FALSE);
  T (LIM * 4 - (LIM + 1), FALSE);
  T (LIM * 4 - (LIM - 2), TRUE);
  T (LIM * 4 + 1 - LIM, FALSE);
  T (0, FALSE);
  T (REJ, FALSE);
  T (REJ - 1, TRUE);
  T (REJ, FALSE);
  T (REJ - 1, FALSE);
  T (REJ - 2, TRUE);
  T (REJ + 1, FALSE);
  T (REJ + 2, FALSE);
  T (REJ - 2, FALSE);
  T (REJ - 3, TRUE);
  T (0, FALSE);
}

static void
test_bulk (void)
{
  const guint64 W = FZ_WG_REPLAY_WINDOW;

  fz_wg_replay_reset (&r);
  for (guint64 i = 1; i <= W; i++)
    T (i, TRUE);
  T (0, TRUE);
  T (0, FALSE);

  fz_wg_replay_reset (&r);
  for (guint64 i = 2; i <= W + 1; i++)
    T (i, TRUE);
  T (1, TRUE);
  T (0, FALSE);

  fz_wg_replay_reset (&r);
  for (guint64 i = W + 1; i-- > 0;)
    T (i, TRUE);

  fz_wg_replay_reset (&r);
  for (guint64 i = W + 2; i-- > 1;)
    T (i, TRUE);
  T (0, FALSE);

  fz_wg_replay_reset (&r);
  for (guint64 i = W + 1; i-- > 1;)
    T (i, TRUE);
  T (W + 1, TRUE);
  T (0, FALSE);

  fz_wg_replay_reset (&r);
  for (guint64 i = W + 1; i-- > 1;)
    T (i, TRUE);
  T (0, TRUE);
  T (W + 1, TRUE);
}

/* Out of order within the window (as a reordering network delivers). */
static void
test_reordered (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (6479);
  guint64 order[2048];

  fz_wg_replay_reset (&r);
  for (guint i = 0; i < G_N_ELEMENTS (order); i++)
    order[i] = i;
  for (guint i = G_N_ELEMENTS (order) - 1; i > 0; i--)
    {
      guint j = g_rand_int_range (rand, 0, i + 1);
      guint64 t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
  for (guint i = 0; i < G_N_ELEMENTS (order); i++)
    T (order[i], TRUE);
  for (guint i = 0; i < G_N_ELEMENTS (order); i++)
    T (order[i], FALSE);
}

/* The window's edge wherever the highest counter sits (word boundaries,
 * large jumps, the limit): exactly FZ_WG_REPLAY_WINDOW behind is taken,
 * one more is not, and at least the 2048 counters of RFC 6479's smallest
 * recommended window always are. */
static void
test_window_edge (void)
{
  const guint64 W = FZ_WG_REPLAY_WINDOW;
  const guint64 high[] = {
    W + 1,
    W + 63,
    W + 64,
    W + 65,
    3 * W + 17,
    G_GUINT64_CONSTANT (1) << 40,
    FZ_WG_REJECT_AFTER_MESSAGES - 1,
  };

  for (guint i = 0; i < G_N_ELEMENTS (high); i++)
    {
      guint64 h = high[i];

      fz_wg_replay_reset (&r);
      T (h - W - 1, TRUE); /* in the window before h moves it on */
      T (h, TRUE);
      T (h - W - 1, FALSE); /* seen, and now too old */
      T (h - W - 2, FALSE);
      T (h - 2048, TRUE);
      T (h - W, TRUE);
      T (h - W, FALSE);
      T (h - 1, TRUE);
      T (h, FALSE);
    }
  /* A window that never moved: everything behind the first counter. */
  fz_wg_replay_reset (&r);
  T (W, TRUE);
  T (0, TRUE);
  fz_wg_replay_reset (&r);
  T (W + 1, TRUE);
  T (0, FALSE);
  T (1, TRUE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wg/replay/sequence", test_sequence);
  g_test_add_func ("/wg/replay/bulk", test_bulk);
  g_test_add_func ("/wg/replay/reordered", test_reordered);
  g_test_add_func ("/wg/replay/window-edge", test_window_edge);
  return g_test_run ();
}
