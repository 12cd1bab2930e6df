#include "fz-batch-queue.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct _FzBatchQueue
{
  GMutex lock;
  GCond not_full;
  GQueue batches;
  guint capacity;
  guint max_depth;
  gboolean closed;
  int efd;
};

FzBatch *
fz_batch_new (void)
{
  return g_new0 (FzBatch, 1);
}

void
fz_batch_free (FzBatch *b)
{
  if (b == NULL)
    return;
  for (guint i = 0; i < b->n; i++)
    fz_packet_buf_free (b->bufs[i]);
  g_free (b);
}

FzBatchQueue *
fz_batch_queue_new (guint capacity)
{
  FzBatchQueue *q = g_new0 (FzBatchQueue, 1);

  g_return_val_if_fail (capacity > 0, NULL);
  g_mutex_init (&q->lock);
  g_cond_init (&q->not_full);
  g_queue_init (&q->batches);
  q->capacity = capacity;
  q->efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
  g_assert (q->efd >= 0);
  return q;
}

void
fz_batch_queue_free (FzBatchQueue *q)
{
  if (q == NULL)
    return;
  g_queue_clear_full (&q->batches, (GDestroyNotify) fz_batch_free);
  close (q->efd);
  g_cond_clear (&q->not_full);
  g_mutex_clear (&q->lock);
  g_free (q);
}

gboolean
fz_batch_queue_push (FzBatchQueue *q, FzBatch *b)
{
  guint64 one = 1;

  g_mutex_lock (&q->lock);
  while (!q->closed && q->batches.length >= q->capacity)
    g_cond_wait (&q->not_full, &q->lock);
  if (q->closed)
    {
      g_mutex_unlock (&q->lock);
      fz_batch_free (b);
      return FALSE;
    }
  g_queue_push_tail (&q->batches, b);
  q->max_depth = MAX (q->max_depth, q->batches.length);
  g_mutex_unlock (&q->lock);
  if (write (q->efd, &one, sizeof one) < 0 && errno != EAGAIN)
    g_warning ("batch queue wake-up failed: %s", g_strerror (errno));
  return TRUE;
}

void
fz_batch_queue_close (FzBatchQueue *q)
{
  g_mutex_lock (&q->lock);
  q->closed = TRUE;
  g_cond_broadcast (&q->not_full);
  g_mutex_unlock (&q->lock);
}

FzBatch *
fz_batch_queue_pop (FzBatchQueue *q)
{
  FzBatch *b;

  g_mutex_lock (&q->lock);
  b = g_queue_pop_head (&q->batches);
  if (b != NULL)
    g_cond_signal (&q->not_full);
  g_mutex_unlock (&q->lock);
  return b;
}

int
fz_batch_queue_fd (FzBatchQueue *q)
{
  return q->efd;
}

void
fz_batch_queue_ack (FzBatchQueue *q)
{
  guint64 n;
  (void) read (q->efd, &n, sizeof n);
}

guint
fz_batch_queue_take_max_depth (FzBatchQueue *q)
{
  guint d;

  g_mutex_lock (&q->lock);
  d = q->max_depth;
  q->max_depth = q->batches.length;
  g_mutex_unlock (&q->lock);
  return d;
}
