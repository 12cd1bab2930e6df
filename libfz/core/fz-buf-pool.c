#include "fz-buf-pool.h"

struct _FzBufPool
{
  GMutex lock;
  gsize capacity;   /* packet bytes per buffer, excluding headroom */
  guint max_cached; /* free buffers kept beyond this are freed */
  guint cached;
  guint outstanding;
  gboolean closing; /* fz_buf_pool_free() was called */
  FzPacketBuf *free_list;
};

FzBufPool *
fz_buf_pool_new (gsize capacity, guint max_cached)
{
  FzBufPool *pool = g_new0 (FzBufPool, 1);

  g_mutex_init (&pool->lock);
  pool->capacity = capacity + FZ_PACKET_BUF_TAILROOM;
  pool->max_cached = max_cached;
  return pool;
}

static void
destroy (FzBufPool *pool)
{
  while (pool->free_list != NULL)
    {
      FzPacketBuf *b = pool->free_list;
      pool->free_list = b->next;
      b->pool = NULL;
      fz_packet_buf_free (b);
    }
  g_mutex_clear (&pool->lock);
  g_free (pool);
}

void
fz_buf_pool_free (FzBufPool *pool)
{
  gboolean last;

  if (pool == NULL)
    return;
  g_mutex_lock (&pool->lock);
  pool->closing = TRUE;
  last = pool->outstanding == 0;
  g_mutex_unlock (&pool->lock);
  if (last)
    destroy (pool);
}

static FzPacketBuf *
take_locked (FzBufPool *pool)
{
  FzPacketBuf *b = pool->free_list;

  pool->outstanding++;
  if (b != NULL)
    {
      pool->free_list = b->next;
      pool->cached--;
      b->next = NULL;
      b->idle = FALSE;
    }
  return b;
}

static FzPacketBuf *
fresh (FzBufPool *pool, FzPacketBuf *b)
{
  if (b == NULL)
    {
      b = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, pool->capacity);
      b->pool = pool;
    }
  fz_packet_buf_reset (b);
  return b;
}

FzPacketBuf *
fz_buf_pool_alloc (FzBufPool *pool)
{
  FzPacketBuf *b;

  g_mutex_lock (&pool->lock);
  g_warn_if_fail (!pool->closing);
  b = take_locked (pool);
  g_mutex_unlock (&pool->lock);
  return fresh (pool, b);
}

void
fz_buf_pool_alloc_batch (FzBufPool *pool, FzPacketBuf **bufs, guint n)
{
  g_mutex_lock (&pool->lock);
  g_warn_if_fail (!pool->closing);
  for (guint i = 0; i < n; i++)
    bufs[i] = take_locked (pool);
  g_mutex_unlock (&pool->lock);
  /* Allocation of missing buffers happens outside the lock. */
  for (guint i = 0; i < n; i++)
    bufs[i] = fresh (pool, bufs[i]);
}

/* Returns TRUE when the pool must be destroyed by the caller. */
static gboolean
put_locked (FzBufPool *pool, FzPacketBuf *b, FzPacketBuf **spill)
{
  g_assert (pool->outstanding > 0);
  pool->outstanding--;
  if (!pool->closing && pool->cached < pool->max_cached)
    {
      b->next = pool->free_list;
      b->idle = TRUE;
      pool->free_list = b;
      pool->cached++;
    }
  else
    {
      b->next = *spill;
      *spill = b;
    }
  return pool->closing && pool->outstanding == 0;
}

static void
free_spill (FzPacketBuf *spill)
{
  while (spill != NULL)
    {
      FzPacketBuf *b = spill;
      spill = b->next;
      b->pool = NULL;
      fz_packet_buf_free (b);
    }
}

void
fz_buf_pool_release_batch (FzBufPool *pool, FzPacketBuf **bufs, guint n)
{
  FzPacketBuf *spill = NULL;
  gboolean last = FALSE;

  for (guint i = 0; i < n; i++)
    {
      g_return_if_fail (bufs[i] != NULL && bufs[i]->pool == pool);
      g_return_if_fail (!bufs[i]->idle); /* released twice */
    }
  g_mutex_lock (&pool->lock);
  for (guint i = 0; i < n; i++)
    last = put_locked (pool, bufs[i], &spill);
  g_mutex_unlock (&pool->lock);
  free_spill (spill);
  if (last)
    destroy (pool);
}

void
fz_buf_pool_release (FzBufPool *pool, FzPacketBuf *buf)
{
  fz_buf_pool_release_batch (pool, &buf, 1);
}

gsize
fz_buf_pool_capacity (FzBufPool *pool)
{
  return pool->capacity - FZ_PACKET_BUF_TAILROOM;
}

guint
fz_buf_pool_outstanding (FzBufPool *pool)
{
  guint n;

  g_mutex_lock (&pool->lock);
  n = pool->outstanding;
  g_mutex_unlock (&pool->lock);
  return n;
}

guint
fz_buf_pool_cached (FzBufPool *pool)
{
  guint n;

  g_mutex_lock (&pool->lock);
  n = pool->cached;
  g_mutex_unlock (&pool->lock);
  return n;
}
