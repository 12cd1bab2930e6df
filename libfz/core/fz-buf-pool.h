/* FzBufPool: a free list of equally sized FzPacketBufs.
 *
 * I/O threads take buffers and the core thread gives them back, so the
 * pool is locked; the batch calls take the lock once per batch, not once
 * per packet. Freeing the pool while buffers are out defers the free until
 * the last one comes back. */
#pragma once

#include "fz-packet-buf.h"

G_BEGIN_DECLS

FzBufPool *fz_buf_pool_new (gsize capacity, guint max_cached);
void fz_buf_pool_free (FzBufPool *pool);

FzPacketBuf *fz_buf_pool_alloc (FzBufPool *pool);
void fz_buf_pool_alloc_batch (FzBufPool *pool, FzPacketBuf **bufs, guint n);
void fz_buf_pool_release (FzBufPool *pool, FzPacketBuf *buf);
void fz_buf_pool_release_batch (FzBufPool *pool, FzPacketBuf **bufs, guint n);

gsize fz_buf_pool_capacity (FzBufPool *pool);
guint fz_buf_pool_outstanding (FzBufPool *pool);
guint fz_buf_pool_cached (FzBufPool *pool);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzBufPool, fz_buf_pool_free)

G_END_DECLS
