/* FzBatchQueue: batches of packets from an I/O thread to the thread that
 * owns the core. Bounded: a producer blocks while it is full, and that
 * bound is the backpressure. The consumer polls an eventfd (readable while
 * batches wait) from its main loop and never blocks. */
#pragma once

#include "fz-ip-addr.h"
#include "fz-packet-buf.h"

G_BEGIN_DECLS

#define FZ_BATCH_MAX 64

typedef struct
{
  guint n;
  FzPacketBuf *bufs[FZ_BATCH_MAX];
  /* For datagrams (unused for TUN batches): each one's source, the local
   * address it arrived on (family 0 if unknown) and its ECN bits. */
  FzSockAddr from[FZ_BATCH_MAX];
  FzSockAddr local[FZ_BATCH_MAX];
  guint8 ecn[FZ_BATCH_MAX];
} FzBatch;

typedef struct _FzBatchQueue FzBatchQueue;

FzBatchQueue *fz_batch_queue_new (guint capacity);
/* Frees the queue and every buffer still in it. Producers must be gone. */
void fz_batch_queue_free (FzBatchQueue *q);

FzBatch *fz_batch_new (void);
void fz_batch_free (FzBatch *b); /* and its buffers */

/* Producer: hands @b over, waiting while the queue is full. FALSE (and @b
 * freed) once the queue is closed. */
gboolean fz_batch_queue_push (FzBatchQueue *q, FzBatch *b);
/* Wakes blocked producers for good: pushes fail from now on. */
void fz_batch_queue_close (FzBatchQueue *q);

/* Consumer: the next batch, or NULL. */
FzBatch *fz_batch_queue_pop (FzBatchQueue *q);
/* Readable while batches wait; read it (fz_batch_queue_ack) before popping. */
int fz_batch_queue_fd (FzBatchQueue *q);
void fz_batch_queue_ack (FzBatchQueue *q);

/* The gauge: the deepest the queue was since the last call. */
guint fz_batch_queue_take_max_depth (FzBatchQueue *q);

G_END_DECLS
