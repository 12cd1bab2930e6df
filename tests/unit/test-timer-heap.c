#include "fz-private.h"
#include "fz-timer-heap-private.h"

typedef struct
{
  guint id;
  FzTimer timer;
  gint64 want; /* the reference: G_MAXINT64 = not scheduled */
} Obj;

static void
test_order (void)
{
  g_autoptr (FzTimerHeap) heap = fz_timer_heap_new ();
  Obj objs[5] = { 0 };
  const gint64 at[5] = { 50, 10, 40, 10, 30 };
  for (guint i = 0; i < 5; i++)
    {
      objs[i].id = i;
      fz_timer_heap_schedule (heap, &objs[i].timer, at[i]);
    }
  g_assert_cmpint (fz_timer_heap_next (heap), ==, 10);
  g_assert_null (fz_timer_heap_pop_due (heap, 9));

  fz_timer_heap_schedule (heap, &objs[0].timer, 5);  /* earlier */
  fz_timer_heap_schedule (heap, &objs[2].timer, 60); /* later */
  fz_timer_heap_cancel (heap, &objs[4].timer);
  g_assert_false (fz_timer_is_scheduled (&objs[4].timer));
  g_assert_cmpint (fz_timer_deadline (&objs[4].timer), ==, G_MAXINT64);
  g_assert_cmpuint (fz_timer_heap_size (heap), ==, 4);

  FzTimer *t = fz_timer_heap_pop_due (heap, 100);
  g_assert_cmpuint (FZ_TIMER_OWNER (t, Obj, timer)->id, ==, 0);
  g_assert_false (fz_timer_is_scheduled (t));
  gint64 last = 0;
  guint n = 0;
  while ((t = fz_timer_heap_pop_due (heap, 100)) != NULL)
    {
      g_assert_cmpint (fz_timer_deadline (t), ==, G_MAXINT64);
      Obj *o = FZ_TIMER_OWNER (t, Obj, timer);
      gint64 when = o->id == 2 ? 60 : at[o->id]; /* 2 was moved to 60 */
      g_assert_cmpint (when, >=, last);
      last = when;
      n++;
    }
  g_assert_cmpuint (n, ==, 3);
  g_assert_cmpint (fz_timer_heap_next (heap), ==, G_MAXINT64);

  /* G_MAXINT64 cancels; cancelling twice is harmless. */
  fz_timer_heap_schedule (heap, &objs[1].timer, 7);
  fz_timer_heap_schedule (heap, &objs[1].timer, G_MAXINT64);
  fz_timer_heap_cancel (heap, &objs[1].timer);
  g_assert_cmpuint (fz_timer_heap_size (heap), ==, 0);
}

static gint64
reference_min (const Obj *objs, guint n)
{
  gint64 m = G_MAXINT64;
  for (guint i = 0; i < n; i++)
    m = MIN (m, objs[i].want);
  return m;
}

/* Random schedules, moves, cancels and pops against a plain array. */
static void
test_random (void)
{
  enum
  {
    N = 300,
    OPS = 20000
  };
  for (guint64 seed = 1; seed <= 8; seed++)
    {
      FzRng rng;
      fz_rng_init_seeded (&rng, seed);
      g_autoptr (FzTimerHeap) heap = fz_timer_heap_new ();
      g_autofree Obj *objs = g_new0 (Obj, N);
      for (guint i = 0; i < N; i++)
        objs[i] = (Obj){ .id = i, .want = G_MAXINT64 };
      gint64 now = 0;

      for (guint op = 0; op < OPS; op++)
        {
          Obj *o = &objs[fz_rng_below (&rng, N)];
          switch (fz_rng_below (&rng, 4))
            {
            case 0:
            case 1:
              /* Deadlines from a small range, so that many are equal. */
              o->want = now + fz_rng_below (&rng, 64);
              fz_timer_heap_schedule (heap, &o->timer, o->want);
              break;
            case 2:
              o->want = G_MAXINT64;
              fz_timer_heap_cancel (heap, &o->timer);
              break;
            default:
              now += fz_rng_below (&rng, 8);
              FzTimer *t;
              while ((t = fz_timer_heap_pop_due (heap, now)) != NULL)
                {
                  Obj *due = FZ_TIMER_OWNER (t, Obj, timer);
                  g_assert_cmpint (due->want, <=, now);
                  g_assert_cmpint (due->want, ==, reference_min (objs, N));
                  due->want = G_MAXINT64;
                }
              g_assert_cmpint (reference_min (objs, N), >, now);
            }
          g_assert_cmpint (fz_timer_heap_next (heap), ==, reference_min (objs, N));
          g_assert_cmpint (fz_timer_deadline (&o->timer), ==, o->want);
        }
      guint scheduled = 0;
      for (guint i = 0; i < N; i++)
        scheduled += objs[i].want != G_MAXINT64;
      g_assert_cmpuint (fz_timer_heap_size (heap), ==, scheduled);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/timer-heap/order", test_order);
  g_test_add_func ("/timer-heap/random", test_random);
  return g_test_run ();
}
