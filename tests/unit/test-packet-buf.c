#include "fz-private.h"

#include <string.h>

static void
test_headroom (void)
{
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 1500);
  guint8 *p;

  g_assert_cmpuint (fz_packet_buf_headroom (buf), ==, FZ_PACKET_BUF_HEADROOM);
  g_assert_cmpuint (fz_packet_buf_tailroom (buf), ==, 1500);
  g_assert_cmpuint ((guintptr) buf->data % 16, ==, 0);

  g_assert_true (fz_packet_buf_set (buf, "payload", 7));
  /* WireGuard data header (16) and TURN channel header (4) go in front,
   * in place: the payload does not move. */
  p = buf->data;
  g_assert_nonnull (fz_packet_buf_push (buf, 16));
  g_assert_nonnull (fz_packet_buf_push (buf, 4));
  g_assert_true (buf->data + 20 == p);
  g_assert_cmpuint (buf->len, ==, 27);
  g_assert_cmpmem (buf->data + 20, 7, "payload", 7);
  g_assert_cmpuint (fz_packet_buf_headroom (buf), ==, FZ_PACKET_BUF_HEADROOM - 20);
  g_assert_null (fz_packet_buf_push (buf, FZ_PACKET_BUF_HEADROOM)); /* no room: refused */
  g_assert_cmpuint (buf->len, ==, 27);

  fz_packet_buf_pull (buf, 20);
  g_assert_true (buf->data == p);

  g_assert_nonnull (fz_packet_buf_put (buf, 16)); /* an AEAD tag */
  g_assert_cmpuint (buf->len, ==, 23);
  g_assert_null (fz_packet_buf_put (buf, 1500));
  fz_packet_buf_trim (buf, 7);
  g_assert_cmpmem (buf->data, 7, "payload", 7);

  fz_packet_buf_reset (buf);
  g_assert_cmpuint (buf->len, ==, 0);
  g_assert_cmpuint (fz_packet_buf_headroom (buf), ==, FZ_PACKET_BUF_HEADROOM);
}

static void
test_set_too_big (void)
{
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (0, 8);
  guint8 big[9] = { 0 };

  g_assert_false (fz_packet_buf_set (buf, big, sizeof big));
  g_assert_cmpuint (buf->len, ==, 0);
  g_assert_true (fz_packet_buf_set (buf, big, 8));
}

static void
test_pool_reuse (void)
{
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (1280, 4);
  FzPacketBuf *a = fz_buf_pool_alloc (pool), *b;
  FzPacketBuf *batch[8];

  g_assert_cmpuint (fz_buf_pool_capacity (pool), ==, 1280);
  g_assert_cmpuint (fz_packet_buf_tailroom (a), >=, 1280 + 16);
  g_assert_cmpuint (fz_buf_pool_outstanding (pool), ==, 1);
  fz_packet_buf_push (a, 4);
  fz_packet_buf_free (a); /* back to the pool */
  g_assert_cmpuint (fz_buf_pool_cached (pool), ==, 1);
  b = fz_buf_pool_alloc (pool);
  g_assert_true (a == b); /* reused, and reset */
  g_assert_cmpuint (b->len, ==, 0);
  g_assert_cmpuint (fz_packet_buf_headroom (b), ==, FZ_PACKET_BUF_HEADROOM);
  fz_packet_buf_free (b);

  fz_buf_pool_alloc_batch (pool, batch, 8);
  g_assert_cmpuint (fz_buf_pool_outstanding (pool), ==, 8);
  g_assert_cmpuint (fz_buf_pool_cached (pool), ==, 0);
  fz_buf_pool_release_batch (pool, batch, 8);
  g_assert_cmpuint (fz_buf_pool_outstanding (pool), ==, 0);
  g_assert_cmpuint (fz_buf_pool_cached (pool), ==, 4); /* the rest were freed */
}

/* Freeing the pool while buffers are out: it lives on for them, takes
 * none back into its cache, and the last one back frees it (LSan checks
 * that it did, ASan that nothing touched it before or after). */
static void
test_pool_deferred_free (void)
{
  FzBufPool *pool = fz_buf_pool_new (64, 16);
  FzPacketBuf *a = fz_buf_pool_alloc (pool);
  FzPacketBuf *b = fz_buf_pool_alloc (pool);

  fz_packet_buf_free (fz_buf_pool_alloc (pool)); /* one cached */
  g_assert_cmpuint (fz_buf_pool_cached (pool), ==, 1);
  g_assert_cmpuint (fz_buf_pool_outstanding (pool), ==, 2);

  fz_buf_pool_free (pool);
  g_assert_true (a->pool == pool);
  g_assert_true (fz_packet_buf_set (a, "x", 1));
  g_assert_cmpmem (a->data, a->len, "x", 1);
  g_assert_cmpuint (fz_buf_pool_outstanding (pool), ==, 2);
  fz_packet_buf_free (a);
  g_assert_cmpuint (fz_buf_pool_outstanding (pool), ==, 1);
  g_assert_cmpuint (fz_buf_pool_cached (pool), ==, 1); /* a was not kept */
  g_assert_true (fz_packet_buf_set (b, "yz", 2));
  g_assert_cmpmem (b->data, b->len, "yz", 2);
  fz_packet_buf_free (b);
}

typedef struct
{
  FzBufPool *pool;
  GAsyncQueue *q;
} Ctx;

static gpointer
producer (gpointer data)
{
  Ctx *ctx = data;

  for (guint i = 0; i < 2000; i++)
    {
      FzPacketBuf *bufs[16];
      fz_buf_pool_alloc_batch (ctx->pool, bufs, 16);
      for (guint j = 0; j < 16; j++)
        {
          guint32 v = i * 16 + j;
          fz_packet_buf_set (bufs[j], &v, sizeof v);
          g_async_queue_push (ctx->q, bufs[j]);
        }
    }
  return NULL;
}

/* An I/O thread takes buffers, the core thread gives them back. */
static void
test_pool_threads (void)
{
  Ctx ctx = { fz_buf_pool_new (256, 64), g_async_queue_new () };
  GThread *t = g_thread_new ("producer", producer, &ctx);

  for (guint32 i = 0; i < 2000 * 16; i++)
    {
      FzPacketBuf *b = g_async_queue_pop (ctx.q);
      guint32 v;
      memcpy (&v, b->data, sizeof v);
      g_assert_cmpuint (v, ==, i);
      fz_packet_buf_free (b);
    }
  g_thread_join (t);
  g_assert_cmpuint (fz_buf_pool_outstanding (ctx.pool), ==, 0);
  g_assert_cmpuint (fz_buf_pool_cached (ctx.pool), <=, 64);
  g_async_queue_unref (ctx.q);
  fz_buf_pool_free (ctx.pool);
}

/* Releasing a buffer twice is caught, not a corrupted free list. */
static void
test_pool_double_release (void)
{
  if (g_test_subprocess ())
    {
      FzBufPool *pool = fz_buf_pool_new (64, 4);
      FzPacketBuf *a = fz_buf_pool_alloc (pool);
      fz_packet_buf_free (a);
      fz_packet_buf_free (a);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*idle*");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/packet-buf/headroom", test_headroom);
  g_test_add_func ("/packet-buf/set-too-big", test_set_too_big);
  g_test_add_func ("/buf-pool/reuse", test_pool_reuse);
  g_test_add_func ("/buf-pool/deferred-free", test_pool_deferred_free);
  g_test_add_func ("/buf-pool/threads", test_pool_threads);
  g_test_add_func ("/buf-pool/double-release", test_pool_double_release);
  return g_test_run ();
}
