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
  int family; /* 0: a TUN queue */
} Input;

struct _FzIoLoop
{
  GMainContext *ctx;
  FzIoLoopCallbacks cb;
  gpointer data;
  FzTun *tun;
  FzUdpSocket *udp[2];
  Input tun_in[FZ_TUN_MAX_QUEUES];
  Input udp_in[2];
  guint16 port;
  guint32 mark;
  gboolean started;
  gboolean tun_gone; /* reported once */
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

  /* Without a TUN (a loop of sockets only) the packets are dropped. */
  if (loop->n_tun_out > 0 && loop->tun != NULL
      && (refused = fz_tun_write_batch (loop->tun, loop->tun_out, loop->n_tun_out)) > 0)
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
      /* Every queue ends when the interface goes: one report. The owner
       * may free the loop in it, so nothing of it is touched after. */
      if (!loop->tun_gone)
        {
          loop->tun_gone = TRUE;
          loop->cb.tun_gone (loop->data, err);
        }
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
start_input (FzIoLoop *loop, Input *in, FzIoReader *reader, int family)
{
  in->loop = loop;
  in->reader = reader;
  in->family = family;
  in->source
    = g_unix_fd_source_new (fz_batch_queue_fd (fz_io_reader_queue (reader)), G_IO_IN);
  g_source_set_callback (in->source, G_SOURCE_FUNC (on_batches), in, NULL);
  g_source_attach (in->source, loop->ctx);
}

/* The source first, then the thread (joined), and only then may its
 * descriptor close. */
static void
stop_input (Input *in)
{
  if (in->source != NULL)
    g_source_destroy (in->source);
  g_clear_pointer (&in->source, g_source_unref);
  g_clear_pointer (&in->reader, fz_io_reader_free);
}

static void
start_udp_inputs (FzIoLoop *loop)
{
  for (guint i = 0; i < 2; i++)
    if (loop->started && loop->udp[i] != NULL && loop->udp_in[i].reader == NULL)
      start_input (loop, &loop->udp_in[i],
                   fz_io_reader_new_udp (loop->udp[i], FZ_IO_LOOP_QUEUE_BATCHES),
                   i == 0 ? 4 : 6);
}

static void
close_sockets (FzIoLoop *loop)
{
  for (guint i = 0; i < 2; i++)
    {
      stop_input (&loop->udp_in[i]);
      g_clear_pointer (&loop->udp[i], fz_udp_socket_close);
    }
  loop->port = 0;
}

gboolean
fz_io_loop_listen (FzIoLoop *loop, guint16 port, GError **error)
{
  g_autoptr (FzUdpSocket) s4 = NULL;
  g_autoptr (FzUdpSocket) s6 = NULL;

  if (loop->udp[0] != NULL && port != 0 && port == loop->port)
    return TRUE;
  close_sockets (loop); /* first: the new port may be the old one's */
  s4 = fz_udp_socket_open (4, port, error);
  if (s4 == NULL)
    return FALSE;
  s6 = fz_udp_socket_open (6, fz_udp_socket_get_port (s4), NULL); /* IPv6 may be off */
  if (loop->mark != 0
      && (!fz_udp_socket_set_mark (s4, loop->mark, error)
          || (s6 != NULL && !fz_udp_socket_set_mark (s6, loop->mark, error))))
    return FALSE;
  loop->port = fz_udp_socket_get_port (s4);
  loop->udp[0] = g_steal_pointer (&s4);
  loop->udp[1] = g_steal_pointer (&s6);
  start_udp_inputs (loop);
  return TRUE;
}

gboolean
fz_io_loop_set_mark (FzIoLoop *loop, guint32 mark, GError **error)
{
  for (guint i = 0; i < 2; i++)
    if (loop->udp[i] != NULL && !fz_udp_socket_set_mark (loop->udp[i], mark, error))
      return FALSE;
  loop->mark = mark;
  return TRUE;
}

FzIoLoop *
fz_io_loop_new (GMainContext *ctx, FzTun *tun, const FzIoLoopCallbacks *cb, gpointer data)
{
  FzIoLoop *loop = g_new0 (FzIoLoop, 1);

  loop->ctx = g_main_context_ref (ctx);
  loop->cb = *cb;
  loop->data = data;
  loop->tun = tun;
  return loop;
}

void
fz_io_loop_start (FzIoLoop *loop)
{
  g_return_if_fail (!loop->started);
  loop->started = TRUE;
  for (guint q = 0; loop->tun != NULL && q < loop->tun->n_queues; q++)
    start_input (loop, &loop->tun_in[q],
                 fz_io_reader_new_tun (loop->tun, q, FZ_IO_LOOP_QUEUE_BATCHES), 0);
  start_udp_inputs (loop);
}

void
fz_io_loop_free (FzIoLoop *loop)
{
  if (loop == NULL)
    return;
  for (guint q = 0; q < FZ_TUN_MAX_QUEUES; q++)
    stop_input (&loop->tun_in[q]);
  for (guint s = 0; s < 2; s++)
    {
      for (guint i = 0; i < loop->n_pending[s]; i++)
        fz_packet_buf_free (loop->pending[s][i].buf);
    }
  close_sockets (loop);
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

static guint
take_depth (Input *in)
{
  return in->reader != NULL
           ? fz_batch_queue_take_max_depth (fz_io_reader_queue (in->reader))
           : 0;
}

void
fz_io_loop_take_depths (FzIoLoop *loop, guint depth[3])
{
  depth[0] = 0;
  for (guint q = 0; q < FZ_TUN_MAX_QUEUES; q++)
    depth[0] = MAX (depth[0], take_depth (&loop->tun_in[q]));
  depth[1] = take_depth (&loop->udp_in[0]);
  depth[2] = take_depth (&loop->udp_in[1]);
}

static gboolean
deadline_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
  g_source_set_ready_time (source, -1);
  return callback (data);
}

static GSourceFuncs deadline_funcs = { .dispatch = deadline_dispatch };

GSource *
fz_deadline_source_new (void)
{
  return g_source_new (&deadline_funcs, sizeof (GSource));
}
