#include "fz-private.h"
#include "fz-transmit-queue.h"

/* An entry like the layers' own: the buffer not first. */
typedef struct
{
  FzSockAddr dst;
  guint32 seq;
  FzPacketBuf *buf;
  guint8 ecn;
} Entry;

static Entry
entry (FzBufPool *pool, guint32 seq)
{
  Entry e = { .seq = seq, .buf = fz_buf_pool_alloc (pool), .ecn = seq & 3 };
  e.dst.ip.family = 4;
  e.dst.port = (guint16) seq;
  g_assert_true (fz_packet_buf_set (e.buf, &seq, sizeof seq));
  return e;
}

static void
pop_expect (FzTransmitQueue *q, guint32 seq)
{
  Entry e;
  g_assert_true (fz_transmit_queue_pop (q, &e));
  g_assert_cmpuint (e.seq, ==, seq);
  g_assert_cmpuint (e.dst.port, ==, (guint16) seq);
  g_assert_cmpuint (e.ecn, ==, seq & 3);
  g_assert_cmpuint (e.buf->len, ==, sizeof seq);
  g_assert_cmpmem (e.buf->data, sizeof seq, &seq, sizeof seq);
  fz_packet_buf_free (e.buf);
}

/* First in, first out, also when the ring wraps and grows while
 * wrapped; entries come back whole. */
static void
test_order (void)
{
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (64, 0);
  FzTransmitQueue q;
  fz_transmit_queue_init (&q, Entry);
  Entry e;
  g_assert_false (fz_transmit_queue_pop (&q, &e));

  guint32 in = 0, out = 0;
  /* Push 5, pop 3, repeatedly: the head walks round the ring while it
   * grows (8, 16, 32, ...). */
  for (int round = 0; round < 40; round++)
    {
      for (int i = 0; i < 5; i++)
        {
          e = entry (pool, in++);
          fz_transmit_queue_push (&q, &e);
        }
      for (int i = 0; i < 3; i++)
        pop_expect (&q, out++);
      g_assert_cmpuint (fz_transmit_queue_length (&q), ==, in - out);
    }
  while (out < in)
    pop_expect (&q, out++);
  g_assert_cmpuint (fz_transmit_queue_length (&q), ==, 0);
  g_assert_false (fz_transmit_queue_pop (&q, &e));
  g_assert_cmpuint (fz_buf_pool_outstanding (pool), ==, 0);

  /* Usable again after draining (the ring may have been given back). */
  e = entry (pool, 7);
  fz_transmit_queue_push (&q, &e);
  pop_expect (&q, 7);
  fz_transmit_queue_clear (&q);
}

/* A burst larger than the ring that is kept, drained, then reused. */
static void
test_burst (void)
{
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (64, 0);
  FzTransmitQueue q;
  fz_transmit_queue_init (&q, Entry);
  for (int pass = 0; pass < 2; pass++)
    {
      for (guint32 i = 0; i < 5000; i++)
        {
          Entry e = entry (pool, i);
          fz_transmit_queue_push (&q, &e);
        }
      g_assert_cmpuint (fz_transmit_queue_length (&q), ==, 5000);
      for (guint32 i = 0; i < 5000; i++)
        pop_expect (&q, i);
    }
  g_assert_cmpuint (fz_buf_pool_outstanding (pool), ==, 0);
  fz_transmit_queue_clear (&q);
}

/* Entries are updated in place through peek_nth (as the WireGuard
 * device forgets a removed peer in what is still queued). */
static void
test_peek_nth (void)
{
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (64, 0);
  FzTransmitQueue q;
  fz_transmit_queue_init (&q, Entry);
  for (guint32 i = 0; i < 12; i++)
    {
      Entry e = entry (pool, i);
      fz_transmit_queue_push (&q, &e);
      if (i < 6)
        pop_expect (&q, i); /* wraps: the head is no longer slot 0 */
    }
  g_assert_cmpuint (fz_transmit_queue_length (&q), ==, 6);
  for (guint i = 0; i < 6; i++)
    {
      Entry *p = fz_transmit_queue_peek_nth (&q, i);
      g_assert_nonnull (p);
      g_assert_cmpuint (p->seq, ==, 6 + i);
      p->ecn = 3;
    }
  g_assert_null (fz_transmit_queue_peek_nth (&q, 6));
  for (guint32 i = 6; i < 12; i++)
    {
      Entry e;
      g_assert_true (fz_transmit_queue_pop (&q, &e));
      g_assert_cmpuint (e.seq, ==, i);
      g_assert_cmpuint (e.ecn, ==, 3);
      fz_packet_buf_free (e.buf);
    }
  fz_transmit_queue_clear (&q);
}

/* Clearing gives back the buffers still queued, and the queue works
 * again afterwards. */
static void
test_clear (void)
{
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (64, 0);
  FzTransmitQueue q;
  fz_transmit_queue_init (&q, Entry);
  for (guint32 i = 0; i < 20; i++)
    {
      Entry e = entry (pool, i);
      fz_transmit_queue_push (&q, &e);
    }
  pop_expect (&q, 0);
  g_assert_cmpuint (fz_buf_pool_outstanding (pool), ==, 19);
  fz_transmit_queue_clear (&q);
  g_assert_cmpuint (fz_buf_pool_outstanding (pool), ==, 0);
  g_assert_cmpuint (fz_transmit_queue_length (&q), ==, 0);
  Entry e;
  g_assert_false (fz_transmit_queue_pop (&q, &e));

  e = entry (pool, 42);
  fz_transmit_queue_push (&q, &e);
  fz_transmit_queue_clear (&q);
  g_assert_cmpuint (fz_buf_pool_outstanding (pool), ==, 0);
  fz_transmit_queue_clear (&q); /* twice is harmless */
}

/* Buffers made from a message built elsewhere keep the headroom a
 * ChannelData or WireGuard header needs. */
static void
test_new_copy (void)
{
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new_copy ("stun", 4);
  g_assert_cmpmem (buf->data, buf->len, "stun", 4);
  g_assert_cmpuint (fz_packet_buf_headroom (buf), ==, FZ_PACKET_BUF_HEADROOM);
  g_assert_cmpuint (fz_packet_buf_tailroom (buf), ==, FZ_PACKET_BUF_TAILROOM);
  g_assert_nonnull (fz_packet_buf_push (buf, 4));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/transmit-queue/order", test_order);
  g_test_add_func ("/transmit-queue/burst", test_burst);
  g_test_add_func ("/transmit-queue/peek-nth", test_peek_nth);
  g_test_add_func ("/transmit-queue/clear", test_clear);
  g_test_add_func ("/transmit-queue/new-copy", test_new_copy);
  return g_test_run ();
}
