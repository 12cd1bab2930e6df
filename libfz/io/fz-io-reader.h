/* FzIoReader: a thread that only reads (a TUN device or a UDP socket) and
 * hands batches of packets to the core thread through an FzBatchQueue. It
 * has its own buffer pool, so its allocations never contend with the core
 * thread's. Freeing it stops and joins the thread. */
#pragma once

#include "fz-batch-queue.h"
#include "fz-tun.h"
#include "fz-udp-socket.h"

G_BEGIN_DECLS

typedef struct _FzIoReader FzIoReader;

FzIoReader *fz_io_reader_new_tun (FzTun *tun, guint tun_queue, guint queue_capacity);
FzIoReader *fz_io_reader_new_udp (FzUdpSocket *s, guint queue_capacity);
FzBatchQueue *fz_io_reader_queue (FzIoReader *r);
/* 0 while the thread reads; else the errno that ended it (EBADFD: the TUN's
 * interface was deleted). Its queue wakes the consumer once when it ends. */
int fz_io_reader_error (FzIoReader *r);
void fz_io_reader_free (FzIoReader *r);

G_END_DECLS
