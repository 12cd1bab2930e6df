#include "fz-io-loop-private.h"

#include "fz-tun-private.h"
#include "fz-udp-socket-private.h"

#include <errno.h>
#include <glib-unix.h>

typedef struct
{
  FzIoLoop *loop;
  FzIoReader *reader;
  GSource *source;
  int family; /* 0: the TUN */
} Input;

struct _FzIoLoop
{
  GMainContext *ctx;
  FzIoLoopCallbacks cb;
  gpointer data;
  FzTun *tun;
  FzUdpSocket *udp[2];
  Input inputs[3]; /* TUN, UDPv4, UDPv6 */
  guint16 port;
  FzUdpTransmit pending[2][FZ_IO_LOOP_MAX_PENDING];
  guint n_pending[2];
  FzPacketBuf *tun_out[FZ_IO_LOOP_MAX_PENDING];
  guint n_tun_out;
};

static guint
family_slot (int family)
{
  return family == 4 ? 0 : 1;
}

static void
flush_family (FzIoLoop *loop, guint slot)
{
  FzUdpTransmit *tx = loop->pending[slot];
  guint n = loop->n_pending[slot];

  /* A send that fails (no route, a full buffer) loses those datagrams as
   * the network would; every one is freed either way. */
  if (n > 0 && loop->udp[slot] != NULL
      && !fz_udp_socket_send_many (loop->udp[slot], tx, n))
    g_debug ("some datagrams could not be sent: %s", g_strerror (errno));
  for (guint i = 0; i < n; i++)
    fz_packet_buf_free (tx[i].buf);
  loop->n_pending[slot] = 0;
}

static void
flush_tun (FzIoLoop *loop)
{
  guint refused;

  if (loop->n_tun_out == 0)
    return;
  refused = fz_tun_write_batch (loop->tun, loop->tun_out, loop->n_tun_out);
  if (refused > 0)
    g_debug ("%s refused %u packets", loop->tun->name, refused);
  for (guint i = 0; i < loop->n_tun_out; i++)
    fz_packet_buf_free (loop->tun_out[i]);
  loop->n_tun_out = 0;
}

void
fz_io_loop_queue_datagram (FzIoLoop *loop, const FzUdpTransmit *tx)
{
  guint slot = family_slot (tx->dst.ip.family);

  if (loop->n_pending[slot] == FZ_IO_LOOP_MAX_PENDING)
    flush_family (loop, slot);
  loop->pending[slot][loop->n_pending[slot]++] = *tx;
}

void
fz_io_loop_queue_tun (FzIoLoop *loop, FzPacketBuf *buf)
{
  if (loop->n_tun_out == FZ_IO_LOOP_MAX_PENDING)
    flush_tun (loop);
  loop->tun_out[loop->n_tun_out++] = buf;
}

void
fz_io_loop_flush (FzIoLoop *loop)
{
  flush_family (loop, 0);
  flush_family (loop, 1);
  flush_tun (loop);
}

/* Takes up to FZ_IO_LOOP_BATCHES batches from one reader, then lets the
 * owner flush: the other sources get their turn in this iteration. */
static gboolean
on_batches (gint fd, GIOCondition cond, gpointer user_data)
{
  Input *in = user_data;
  FzIoLoop *loop = in->loop;
  FzBatchQueue *q = fz_io_reader_queue (in->reader);
  gint64 now = g_get_monotonic_time ();
  gboolean more = FALSE;
  int err;
  FzBatch *b;

  fz_batch_queue_ack (q);
  for (guint i = 0; (b = fz_batch_queue_pop (q)) != NULL; i++)
    {
      if (in->family == 0)
        loop->cb.tun_batch (loop->data, b, now);
      else
        loop->cb.udp_batch (loop->data, b, now);
      fz_batch_free (b);
      if (i + 1 == FZ_IO_LOOP_BATCHES)
        {
          more = TRUE;
          break;
        }
    }
  loop->cb.flush (loop->data, now);
  /* Batches left for the next iteration: the eventfd was read, so come
   * back by ready time instead. */
  g_source_set_ready_time (in->source, more ? 0 : -1);
  err = fz_io_reader_error (in->reader);
  if (in->family == 0 && err != 0 && !more)
    {
      loop->cb.tun_gone (loop->data, err);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
start_input (FzIoLoop *loop, guint i, FzIoReader *reader, int family)
{
  Input *in = &loop->inputs[i];

  in->loop = loop;
  in->reader = reader;
  in->family = family;
  in->source
    = g_unix_fd_source_new (fz_batch_queue_fd (fz_io_reader_queue (reader)), G_IO_IN);
  g_source_set_callback (in->source, G_SOURCE_FUNC (on_batches), in, NULL);
  g_source_attach (in->source, loop->ctx);
}

static gboolean
open_sockets (FzIoLoop *loop, guint16 port, guint32 mark, GError **error)
{
  g_autoptr (GError) taken = NULL;

  loop->udp[0] = fz_udp_socket_open (4, port, &taken);
  if (loop->udp[0] == NULL && port != 0)
    {
      g_message ("UDP port %u: %s; using another port", port, taken->message);
      loop->udp[0] = fz_udp_socket_open (4, 0, error);
    }
  if (loop->udp[0] == NULL)
    return FALSE;
  loop->port = fz_udp_socket_get_port (loop->udp[0]);
  loop->udp[1] = fz_udp_socket_open (6, loop->port, NULL); /* IPv6 may be off */
  for (guint i = 0; i < 2; i++)
    if (mark != 0 && loop->udp[i] != NULL
        && !fz_udp_socket_set_mark (loop->udp[i], mark, error))
      return FALSE;
  return TRUE;
}

FzIoLoop *
fz_io_loop_new (GMainContext *ctx, FzTun *tun, guint16 port, guint32 mark,
                const FzIoLoopCallbacks *cb, gpointer data, GError **error)
{
  g_autoptr (FzIoLoop) loop = g_new0 (FzIoLoop, 1);

  loop->ctx = g_main_context_ref (ctx);
  loop->cb = *cb;
  loop->data = data;
  loop->tun = tun;
  if (!open_sockets (loop, port, mark, error))
    return NULL;
  start_input (loop, 0, fz_io_reader_new_tun (tun, 0, FZ_IO_LOOP_QUEUE_BATCHES), 0);
  for (guint i = 0; i < 2; i++)
    if (loop->udp[i] != NULL)
      start_input (loop, i + 1,
                   fz_io_reader_new_udp (loop->udp[i], FZ_IO_LOOP_QUEUE_BATCHES),
                   i == 0 ? 4 : 6);
  return g_steal_pointer (&loop);
}

void
fz_io_loop_free (FzIoLoop *loop)
{
  if (loop == NULL)
    return;
  for (guint i = 0; i < 3; i++)
    {
      if (loop->inputs[i].source != NULL)
        g_source_destroy (loop->inputs[i].source);
      g_clear_pointer (&loop->inputs[i].source, g_source_unref);
      g_clear_pointer (&loop->inputs[i].reader, fz_io_reader_free);
    }
  for (guint s = 0; s < 2; s++)
    {
      for (guint i = 0; i < loop->n_pending[s]; i++)
        fz_packet_buf_free (loop->pending[s][i].buf);
      g_clear_pointer (&loop->udp[s], fz_udp_socket_close);
    }
  for (guint i = 0; i < loop->n_tun_out; i++)
    fz_packet_buf_free (loop->tun_out[i]);
  g_main_context_unref (loop->ctx);
  g_free (loop);
}

guint16
fz_io_loop_get_port (FzIoLoop *loop)
{
  return loop->port;
}

FzUdpSocket *
fz_io_loop_get_socket (FzIoLoop *loop, int family)
{
  return loop->udp[family_slot (family)];
}

void
fz_io_loop_take_depths (FzIoLoop *loop, guint depth[3])
{
  for (guint i = 0; i < 3; i++)
    depth[i]
      = loop->inputs[i].reader != NULL
          ? fz_batch_queue_take_max_depth (fz_io_reader_queue (loop->inputs[i].reader))
          : 0;
}
