#include "fz-timer-heap-private.h"

struct _FzTimerHeap
{
  FzTimer **items;
  guint len, cap;
};

FzTimerHeap *
fz_timer_heap_new (void)
{
  return g_new0 (FzTimerHeap, 1);
}

void
fz_timer_heap_free (FzTimerHeap *heap)
{
  if (heap == NULL)
    return;
  g_free (heap->items);
  g_free (heap);
}

static void
place (FzTimerHeap *heap, guint i, FzTimer *t)
{
  heap->items[i] = t;
  t->pos = i + 1;
}

static void
sift_up (FzTimerHeap *heap, guint i)
{
  FzTimer *t = heap->items[i];
  while (i > 0)
    {
      guint parent = (i - 1) / 2;
      if (heap->items[parent]->deadline <= t->deadline)
        break;
      place (heap, i, heap->items[parent]);
      i = parent;
    }
  place (heap, i, t);
}

static void
sift_down (FzTimerHeap *heap, guint i)
{
  FzTimer *t = heap->items[i];
  for (;;)
    {
      guint child = 2 * i + 1;
      if (child >= heap->len)
        break;
      if (child + 1 < heap->len
          && heap->items[child + 1]->deadline < heap->items[child]->deadline)
        child++;
      if (t->deadline <= heap->items[child]->deadline)
        break;
      place (heap, i, heap->items[child]);
      i = child;
    }
  place (heap, i, t);
}

/* Takes the timer at index @i out, filling the hole with the last one. */
static void
remove_at (FzTimerHeap *heap, guint i)
{
  heap->items[i]->pos = 0;
  heap->len--;
  if (i == heap->len)
    return;
  place (heap, i, heap->items[heap->len]);
  if (i > 0 && heap->items[(i - 1) / 2]->deadline > heap->items[i]->deadline)
    sift_up (heap, i);
  else
    sift_down (heap, i);
}

void
fz_timer_heap_cancel (FzTimerHeap *heap, FzTimer *timer)
{
  if (timer->pos == 0)
    return;
  g_return_if_fail (timer->pos <= heap->len && heap->items[timer->pos - 1] == timer);
  remove_at (heap, timer->pos - 1);
}

void
fz_timer_heap_schedule (FzTimerHeap *heap, FzTimer *timer, gint64 deadline)
{
  if (deadline == G_MAXINT64)
    {
      fz_timer_heap_cancel (heap, timer);
      return;
    }
  if (timer->pos != 0)
    {
      g_return_if_fail (timer->pos <= heap->len && heap->items[timer->pos - 1] == timer);
      gint64 old = timer->deadline;
      timer->deadline = deadline;
      if (deadline < old)
        sift_up (heap, timer->pos - 1);
      else if (deadline > old)
        sift_down (heap, timer->pos - 1);
      return;
    }
  if (heap->len == heap->cap)
    {
      heap->cap = MAX (16u, heap->cap * 2);
      heap->items = g_renew (FzTimer *, heap->items, heap->cap);
    }
  timer->deadline = deadline;
  heap->items[heap->len++] = timer;
  sift_up (heap, heap->len - 1);
}

gboolean
fz_timer_is_scheduled (const FzTimer *timer)
{
  return timer->pos != 0;
}

gint64
fz_timer_deadline (const FzTimer *timer)
{
  return timer->pos != 0 ? timer->deadline : G_MAXINT64;
}

gint64
fz_timer_heap_next (const FzTimerHeap *heap)
{
  return heap->len > 0 ? heap->items[0]->deadline : G_MAXINT64;
}

FzTimer *
fz_timer_heap_pop_due (FzTimerHeap *heap, gint64 now)
{
  if (heap->len == 0 || heap->items[0]->deadline > now)
    return NULL;
  FzTimer *t = heap->items[0];
  remove_at (heap, 0);
  return t;
}

guint
fz_timer_heap_size (const FzTimerHeap *heap)
{
  return heap->len;
}
