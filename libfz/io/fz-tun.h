/* FzTun: a Linux TUN device (IFF_TUN | IFF_NO_PI), non-blocking. It exists
 * while the descriptor is open. */
#pragma once

#include "fz-buf-pool.h"

G_BEGIN_DECLS

#define FZ_TUN_TXQUEUELEN 10000

#define FZ_TUN_MAX_QUEUES 8

typedef struct _FzTun FzTun;

/* Creates (or attaches to) @name; a name ending in %d gets a number. With
 * @offload, asks for checksum and TCP segmentation offload (plain packets
 * when the kernel refuses). @n_queues descriptors (IFF_MULTI_QUEUE when
 * more than one), each to be read by its own thread: an option only, since
 * many readers reorder packets and TCP slows down for it. */
FzTun *fz_tun_open_multi (const char *name, gboolean offload, guint n_queues,
                          GError **error);
void fz_tun_close (FzTun *tun);
const char *fz_tun_get_name (FzTun *tun);
/* Descriptors to read, each with fz_tun_read_queue() (IFF_MULTI_QUEUE). */
guint fz_tun_get_n_queues (FzTun *tun);
/* The kernel hands over TCP super-packets (offload was granted). */
gboolean fz_tun_get_offload (FzTun *tun);
/* The interface's MTU as the kernel has it now. */
int fz_tun_get_mtu (FzTun *tun);
gboolean fz_tun_set_txqueuelen (FzTun *tun, int len, GError **error);

/* Reads one packet or super-packet from @queue and hands over whole packets (at most
 * @max). 0: nothing to read (errno EAGAIN), or a malformed read that was
 * dropped; -1 with errno on error. */
int fz_tun_read_queue (FzTun *tun, guint queue, FzBufPool *pool, FzPacketBuf **out,
                       guint max);
/* Writes one IP packet (the virtio-net header goes into its headroom). */
gboolean fz_tun_write (FzTun *tun, FzPacketBuf *buf);
/* Writes @n packets, in order, merging runs of one TCP flow into
 * super-packets when the device takes them. Returns how many packets the
 * kernel refused (they are dropped, as a full queue would). */
guint fz_tun_write_batch (FzTun *tun, FzPacketBuf *const *bufs, guint n);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzTun, fz_tun_close)

G_END_DECLS
