/* FzTimerHeap: deadlines of many objects in a binary min-heap, so that a
 * wake-up costs O(log n) per timer due instead of a scan of every peer,
 * session or access.
 *
 * Intrusive: the object embeds an FzTimer and schedules it; the heap
 * holds pointers and keeps each timer's position in it, so moving or
 * cancelling a deadline is O(log n) too. The heap owns nothing; an
 * object must cancel its timer before it is freed. Internal to libfz. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  /*< private >*/
  gint64 deadline;
  guint pos; /* index in the heap + 1; 0 when not scheduled */
} FzTimer;

typedef struct _FzTimerHeap FzTimerHeap;

/* The object that embeds @timer as @member. */
#define FZ_TIMER_OWNER(timer, Type, member)                                              \
  ((Type *) (void *) ((guint8 *) (timer) -G_STRUCT_OFFSET (Type, member)))

FzTimerHeap *fz_timer_heap_new (void);
/* Touches no timer: those still scheduled may be freed already, and
 * must not be used with another heap. */
void fz_timer_heap_free (FzTimerHeap *heap);

/* Schedules @timer at @deadline, or moves it there; G_MAXINT64 cancels. */
void fz_timer_heap_schedule (FzTimerHeap *heap, FzTimer *timer, gint64 deadline);
void fz_timer_heap_cancel (FzTimerHeap *heap, FzTimer *timer);
gboolean fz_timer_is_scheduled (const FzTimer *timer);
/* G_MAXINT64 when not scheduled. */
gint64 fz_timer_deadline (const FzTimer *timer);

/* The earliest deadline, or G_MAXINT64 when none is scheduled. */
gint64 fz_timer_heap_next (const FzTimerHeap *heap);
/* Removes and returns a timer whose deadline is <= @now (earliest
 * first), or NULL. Its owner handles it and may schedule it again. */
FzTimer *fz_timer_heap_pop_due (FzTimerHeap *heap, gint64 now);
guint fz_timer_heap_size (const FzTimerHeap *heap);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzTimerHeap, fz_timer_heap_free)

G_END_DECLS
