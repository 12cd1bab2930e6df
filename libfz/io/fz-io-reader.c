#include "fz-io-reader.h"
#include "fz-tun-private.h"
#include "fz-udp-socket-private.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define POOL_CAPACITY 65535
#define POOL_CACHED   (4 * FZ_BATCH_MAX)

struct _FzIoReader
{
  GThread *thread;
  FzBatchQueue *queue;
  FzBufPool *pool;
  int stop_fd;
  FzTun *tun; /* one of these two */
  guint tun_queue;
  FzUdpSocket *udp;
  int error; /* atomic: what stopped the thread, 0 while it reads */
};

/* Waits until the source is readable; FALSE when told to stop. */
static gboolean
wait_readable (FzIoReader *r, int fd)
{
  struct pollfd p[2]
    = { { .fd = fd, .events = POLLIN }, { .fd = r->stop_fd, .events = POLLIN } };

  while (poll (p, 2, -1) < 0)
    if (errno != EINTR)
      return FALSE;
  return !(p[1].revents & POLLIN);
}

static gboolean
push (FzIoReader *r, FzBatch **b)
{
  gboolean ok = TRUE;

  if ((*b)->n > 0)
    {
      ok = fz_batch_queue_push (r->queue, *b);
      *b = fz_batch_new ();
    }
  return ok;
}

/* A TUN whose interface was deleted polls as an error and reads EBADFD
 * for good: such an error ends the reader, not a retry. */
static gboolean
read_error_is_fatal (int err)
{
  return err != EAGAIN && err != EINTR && err != ENOBUFS && err != ENOMEM;
}

/* Records why the reader stops and wakes the consumer with an empty batch
 * so that it sees fz_io_reader_error(). */
static void
stop_with_error (FzIoReader *r, int err)
{
  g_atomic_int_set (&r->error, err);
  fz_batch_queue_push (r->queue, fz_batch_new ());
}

static gpointer
read_tun (gpointer data)
{
  FzIoReader *r = data;
  FzBatch *b = fz_batch_new ();

  while (wait_readable (r, r->tun->queues[r->tun_queue]))
    {
      /* Drain what is there: a super-packet at a time, each segment kept
       * together with the others of its read. */
      for (;;)
        {
          FzPacketBuf *pkts[FZ_BATCH_MAX];
          int n = fz_tun_read_queue (r->tun, r->tun_queue, r->pool, pkts, FZ_BATCH_MAX);

          if (n < 0 && read_error_is_fatal (errno))
            {
              int err = errno;
              push (r, &b);
              stop_with_error (r, err);
              goto out;
            }
          if (n < 0 || (n == 0 && errno == EAGAIN))
            break;
          if (b->n + (guint) n > FZ_BATCH_MAX && !push (r, &b))
            goto out;
          for (int k = 0; k < n; k++)
            b->bufs[b->n++] = pkts[k];
        }
      if (!push (r, &b))
        goto out;
    }
out:
  fz_batch_free (b);
  return NULL;
}

static gpointer
read_udp (gpointer data)
{
  FzIoReader *r = data;
  FzBatch *b = fz_batch_new ();
  FzPacketBuf *big = fz_buf_pool_alloc (r->pool);

  while (wait_readable (r, r->udp->fd))
    {
      while (!r->udp->gro) /* no GRO here: many datagrams per recvmmsg */
        {
          FzPacketBuf *bufs[FZ_BATCH_MAX];
          guint room = FZ_BATCH_MAX - b->n, got;

          fz_buf_pool_alloc_batch (r->pool, bufs, room);
          got = fz_udp_socket_recv_many (r->udp, bufs, b->local + b->n, b->from + b->n,
                                         b->ecn + b->n, room);
          for (guint i = 0; i < got; i++)
            b->bufs[b->n++] = bufs[i];
          fz_buf_pool_release_batch (r->pool, bufs + got, room - got);
          if (got == 0)
            break;
          if (b->n == FZ_BATCH_MAX && !push (r, &b))
            goto out;
        }
      for (; r->udp->gro;)
        {
          FzSockAddr from, local;
          guint8 ecn;
          guint16 seg;
          gssize n = fz_udp_socket_recv_gro (
            r->udp, big->data, fz_packet_buf_tailroom (big), &local, &from, &ecn, &seg);
          gsize step;

          if (n < 0)
            break;
          /* With GRO, one receive holds many datagrams: one buffer each,
           * all with the same addresses and ECN, taken from the pool a
           * batch's room at a time (one lock, not one per datagram). */
          step = seg > 0 ? seg : (gsize) n;
          for (gsize off = 0; off < (gsize) n;)
            {
              if (b->n == FZ_BATCH_MAX && !push (r, &b))
                goto out;
              gsize left = ((gsize) n - off + step - 1) / step;
              guint take = (guint) MIN (left, (gsize) (FZ_BATCH_MAX - b->n));

              fz_buf_pool_alloc_batch (r->pool, b->bufs + b->n, take);
              for (guint i = 0; i < take; i++, off += step)
                {
                  fz_packet_buf_set (b->bufs[b->n], big->data + off,
                                     MIN (step, (gsize) n - off));
                  b->from[b->n] = from;
                  b->local[b->n] = local;
                  b->ecn[b->n] = ecn;
                  b->n++;
                }
            }
        }
      if (!push (r, &b))
        goto out;
    }
out:
  fz_packet_buf_free (big);
  fz_batch_free (b);
  return NULL;
}

static FzIoReader *
start (FzTun *tun, guint tun_queue, FzUdpSocket *udp, guint capacity)
{
  FzIoReader *r = g_new0 (FzIoReader, 1);

  r->tun = tun;
  r->tun_queue = tun_queue;
  r->udp = udp;
  r->queue = fz_batch_queue_new (capacity);
  r->pool = fz_buf_pool_new (POOL_CAPACITY, POOL_CACHED);
  r->stop_fd = eventfd (0, EFD_CLOEXEC);
  g_assert (r->stop_fd >= 0);
  r->thread = g_thread_new (tun != NULL ? "fz-tun-reader" : "fz-udp-reader",
                            tun != NULL ? read_tun : read_udp, r);
  return r;
}

FzIoReader *
fz_io_reader_new_tun (FzTun *tun, guint tun_queue, guint capacity)
{
  g_return_val_if_fail (tun_queue < tun->n_queues, NULL);
  return start (tun, tun_queue, NULL, capacity);
}

FzIoReader *
fz_io_reader_new_udp (FzUdpSocket *s, guint capacity)
{
  return start (NULL, 0, s, capacity);
}

int
fz_io_reader_error (FzIoReader *r)
{
  return g_atomic_int_get (&r->error);
}

FzBatchQueue *
fz_io_reader_queue (FzIoReader *r)
{
  return r->queue;
}

void
fz_io_reader_free (FzIoReader *r)
{
  guint64 one = 1;

  if (r == NULL)
    return;
  if (write (r->stop_fd, &one, sizeof one) < 0)
    g_warning ("cannot stop reader thread: %s", g_strerror (errno));
  fz_batch_queue_close (r->queue); /* a push blocked on a full queue returns */
  g_thread_join (r->thread);
  fz_batch_queue_free (r->queue);
  close (r->stop_fd);
  /* Buffers the core still holds come back later; the pool waits for them. */
  fz_buf_pool_free (r->pool);
  g_free (r);
}
