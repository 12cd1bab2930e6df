/* The bounded queue between I/O threads and the core thread: order kept,
 * producers held back when it is full, close releases them, nothing lost
 * or leaked. */
#include "fz-private.h"

#include <poll.h>
#include <string.h>

typedef struct
{
  FzBatchQueue *q;
  FzBufPool *pool;
  guint batches;
  gint pushed;
} Producer;

static gpointer
produce (gpointer data)
{
  Producer *p = data;

  for (guint i = 0; i < p->batches; i++)
    {
      FzBatch *b = fz_batch_new ();
      for (guint k = 0; k < 4; k++)
        {
          guint32 v = i * 4 + k;
          b->bufs[b->n] = fz_buf_pool_alloc (p->pool);
          fz_packet_buf_set (b->bufs[b->n++], &v, sizeof v);
        }
      if (!fz_batch_queue_push (p->q, b))
        break;
      g_atomic_int_inc (&p->pushed);
    }
  return NULL;
}

static void
test_order_and_backpressure (void)
{
  Producer p = { fz_batch_queue_new (3), fz_buf_pool_new (64, 64), 500, 0 };
  GThread *t = g_thread_new ("producer", produce, &p);
  guint32 next = 0;

  /* nobody consumes yet: the producer stops at the bound */
  for (guint i = 0; i < 200 && g_atomic_int_get (&p.pushed) < 3; i++)
    g_usleep (10 * 1000);
  g_usleep (20 * 1000);
  g_assert_cmpuint (g_atomic_int_get (&p.pushed), ==, 3);
  while (next < 500 * 4)
    {
      struct pollfd pfd = { .fd = fz_batch_queue_fd (p.q), .events = POLLIN };
      FzBatch *b;

      g_assert_cmpint (poll (&pfd, 1, 2000), ==, 1);
      fz_batch_queue_ack (p.q);
      while ((b = fz_batch_queue_pop (p.q)) != NULL)
        {
          for (guint k = 0; k < b->n; k++)
            {
              guint32 v;
              memcpy (&v, b->bufs[k]->data, sizeof v);
              g_assert_cmpuint (v, ==, next++);
            }
          fz_batch_free (b);
        }
    }
  g_thread_join (t);
  g_assert_cmpuint (fz_batch_queue_take_max_depth (p.q), <=, 3);
  g_assert_cmpuint (fz_buf_pool_outstanding (p.pool), ==, 0);
  fz_batch_queue_free (p.q);
  fz_buf_pool_free (p.pool);
}

static void
test_close_releases_producer (void)
{
  Producer p = { fz_batch_queue_new (1), fz_buf_pool_new (64, 64), 1000, 0 };
  GThread *t = g_thread_new ("producer", produce, &p);

  g_usleep (50 * 1000);
  fz_batch_queue_close (p.q); /* the blocked push returns FALSE */
  g_thread_join (t);
  g_assert_cmpint (p.pushed, ==, 1);
  fz_batch_queue_free (p.q); /* frees the batch still inside */
  g_assert_cmpuint (fz_buf_pool_outstanding (p.pool), ==, 0);
  fz_buf_pool_free (p.pool);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/batch-queue/order-and-backpressure", test_order_and_backpressure);
  g_test_add_func ("/batch-queue/close-releases-producer", test_close_releases_producer);
  return g_test_run ();
}
