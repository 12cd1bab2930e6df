/* FzIoLoop: a TUN (one reader per queue) and one UDP socket per family
 * on a GMainContext, with a reader thread each (FzIoReader) and the
 * writes batched: what fz-wg and FzTunnel share.
 *
 * Fairness: every source (each TUN queue, each socket) takes at most
 * FZ_IO_LOOP_BATCHES batches per dispatch, and all sit at one priority
 * with the owner's timers and the portal's socket, so a flood on one
 * never starves the others: GLib dispatches every ready source once per
 * iteration. A batch is handed over whole; a bad packet in it is the
 * owner's to drop, never a reason to drop the rest. Internal to libfz. */
#pragma once

#include "fz-io-reader.h"

G_BEGIN_DECLS

#define FZ_IO_LOOP_BATCHES       8  /* per source and dispatch */
#define FZ_IO_LOOP_QUEUE_BATCHES 64 /* per reader: the backpressure bound */
#define FZ_IO_LOOP_MAX_PENDING   (4 * FZ_UDP_GSO_MAX_SEGMENTS)

typedef struct _FzIoLoop FzIoLoop;

typedef struct
{
  /* A batch read from the TUN (super-packets already split); the
   * callee takes the buffers (sets b->n = 0 or frees them). Batches of
   * one dispatch share @now. */
  void (*tun_batch) (gpointer data, FzBatch *b, gint64 now);
  /* A batch of datagrams; same ownership. */
  void (*udp_batch) (gpointer data, FzBatch *b, gint64 now);
  /* After each dispatch of a source: send and write what the input
   * caused. */
  void (*flush) (gpointer data, gint64 now);
  /* A TUN reader stopped for good (@err: EBADFD when the interface was
   * deleted); called once, whatever the number of queues. */
  void (*tun_gone) (gpointer data, int err);
} FzIoLoopCallbacks;

/* A loop over @tun (not owned; NULL: sockets only) without sockets yet;
 * its sources will attach to @ctx. Nothing reads before
 * fz_io_loop_start(). */
FzIoLoop *fz_io_loop_new (GMainContext *ctx, FzTun *tun, const FzIoLoopCallbacks *cb,
                          gpointer data);
/* Closes both sockets (their port is free again), then opens them on
 * @port (0: any port, the same for both; IPv6 may be missing) with the
 * mark. A taken port fails and leaves no socket open. The same port
 * again, when not 0, keeps the sockets. */
gboolean fz_io_loop_listen (FzIoLoop *loop, guint16 port, GError **error);
/* SO_MARK of both sockets, now and after every fz_io_loop_listen (0:
 * none). On failure the mark stays what it was. */
gboolean fz_io_loop_set_mark (FzIoLoop *loop, guint32 mark, GError **error);
/* Starts the reader threads (one per TUN queue and per socket; sockets
 * opened later get theirs at once): threads do not survive a fork, so a
 * daemon starts them after it. */
void fz_io_loop_start (FzIoLoop *loop);
void fz_io_loop_free (FzIoLoop *loop);
/* The sockets' port, 0 when none is open. */
guint16 fz_io_loop_get_port (FzIoLoop *loop);
/* The socket of family 4 or 6, or NULL. */
FzUdpSocket *fz_io_loop_get_socket (FzIoLoop *loop, int family);

/* Queues a datagram (takes tx->buf); sent at the next flush of its
 * family, in GSO batches where consecutive ones allow (the GSO fallback
 * is fz_udp_socket_send_batch's). */
void fz_io_loop_queue_datagram (FzIoLoop *loop, const FzUdpTransmit *tx);
/* Queues a packet for the TUN (takes @buf). */
void fz_io_loop_queue_tun (FzIoLoop *loop, FzPacketBuf *buf);
/* Sends and writes everything queued. */
void fz_io_loop_flush (FzIoLoop *loop);

/* Deepest reader queue (any TUN queue, UDPv4, UDPv6) since the last
 * call: gauges. */
void fz_io_loop_take_depths (FzIoLoop *loop, guint depth[3]);

/* A source that fires only at the ready time it is given
 * (g_source_set_ready_time), once per setting: the one timer a sans-IO
 * core's next deadline needs. Not attached. */
GSource *fz_deadline_source_new (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzIoLoop, fz_io_loop_free)

G_END_DECLS
