/* fz-wg: a userspace WireGuard interface that wg(8) configures.
 *
 *   fz-wg [-f|--foreground] [-q|--queues N] IFNAME
 *
 * Creates the TUN device IFNAME and serves WireGuard's configuration
 * protocol on /var/run/wireguard/IFNAME.sock, like wireguard-go. In the
 * background unless -f or WG_PROCESS_FOREGROUND=1. --queues N reads the
 * TUN with N threads (multi-queue; 1 by default: more reorder packets and
 * TCP slows down for it). SIGTERM or SIGINT
 * removes the socket and the device. */
#define _GNU_SOURCE /* accept4 */
#include "fz-wg-iface.h"

#include <errno.h>
#include <glib-unix.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#undef G_LOG_DOMAIN
#define G_LOG_DOMAIN "fz-wg"

#define SOCKET_DIR      "/var/run/wireguard"
#define BATCH           64
#define MAX_REQUEST     (4 * 1024 * 1024)
#define PACKET_CAPACITY 65535
#define QUEUE_BATCHES   64 /* per reader: the backpressure bound */

typedef struct
{
  FzWgIface iface;
  GMainLoop *loop;
  GSource *timer;
  FzIoReader *tun_reader[FZ_TUN_MAX_QUEUES];
  GSource *tun_source[FZ_TUN_MAX_QUEUES];
  gboolean threads_allowed; /* after the fork into the background */
  char *socket_path;
  int listen_fd;
} App;

static App app;

static char *
peer_name (FzWgPeer *peer)
{
  return g_base64_encode (fz_wg_peer_public_key (peer), FZ_WG_KEY_LEN);
}

static void
log_events (FzWgIface *iface)
{
  FzWgEvent ev;

  while (fz_wg_device_poll_event (iface->dev, &ev))
    {
      g_autofree char *name = peer_name (ev.peer);
      switch (ev.type)
        {
        case FZ_WG_EVENT_HANDSHAKE_DONE:
          g_info ("peer %s: handshake completed", name);
          break;
        case FZ_WG_EVENT_HANDSHAKE_GAVE_UP:
          g_message ("peer %s: handshake did not complete, giving up", name);
          break;
        case FZ_WG_EVENT_RESPONSE_REJECTED:
          g_message ("peer %s: handshake failed: the response did not authenticate "
                     "(the keys or the preshared key differ)",
                     name);
          break;
        }
    }
}

static void
send_datagram (FzWgIface *iface, FzPacketBuf *buf, const FzSockAddr *dst)
{
  FzUdpSocket *s = iface->udp[dst->ip.family == 4 ? 0 : 1];

  if (s != NULL && fz_udp_socket_send (s, buf->data, buf->len, NULL, dst, 0) < 0
      && errno != EAGAIN)
    g_debug ("send to port %u: %s", dst->port, g_strerror (errno));
}

void
fz_wg_iface_flush (FzWgIface *iface, gint64 now)
{
  FzWgTransmit tx;
  gint64 t;

  while (fz_wg_device_poll_transmit (iface->dev, &tx))
    {
      send_datagram (iface, tx.buf, &tx.dst);
      fz_packet_buf_free (tx.buf);
    }
  log_events (iface);
  t = fz_wg_device_poll_timeout (iface->dev);
  if (app.timer != NULL)
    g_source_set_ready_time (app.timer, t == G_MAXINT64 ? -1 : MAX (t, now));
}

static gboolean
on_timer (gpointer data)
{
  gint64 now = g_get_monotonic_time ();

  fz_wg_device_handle_timeout (app.iface.dev, now);
  fz_wg_iface_flush (&app.iface, now);
  return G_SOURCE_CONTINUE;
}

static gboolean
timer_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
  g_source_set_ready_time (source, -1);
  return callback (data);
}

static GSourceFuncs timer_funcs = { .dispatch = timer_dispatch };

/* Datagrams encrypted in one pass, sent in GSO batches per destination. */
typedef struct
{
  FzPacketBuf *buf;
  FzSockAddr dst;
} Pending;

static Pending pending[4 * FZ_UDP_GSO_MAX_SEGMENTS];
static guint n_pending;

/* A batch is consecutive datagrams to one destination, all of one size
 * but the last, within one GSO send. */
static void
flush_pending (FzWgIface *iface)
{
  FzPacketBuf *bufs[FZ_UDP_GSO_MAX_SEGMENTS];
  guint i = 0;

  while (i < n_pending)
    {
      const FzSockAddr *dst = &pending[i].dst;
      gsize size = pending[i].buf->len, total = size;
      FzUdpSocket *s = iface->udp[dst->ip.family == 4 ? 0 : 1];
      guint j = i + 1;

      while (j < n_pending && j - i < FZ_UDP_GSO_MAX_SEGMENTS
             && pending[j - 1].buf->len == size && pending[j].buf->len <= size
             && total + pending[j].buf->len <= 65000
             && fz_sock_addr_equal (&pending[j].dst, dst))
        total += pending[j++].buf->len;
      for (guint k = i; k < j; k++)
        bufs[k - i] = pending[k].buf;
      if (s != NULL)
        fz_udp_socket_send_batch (s, bufs, j - i, NULL, dst, 0);
      for (guint k = i; k < j; k++)
        fz_packet_buf_free (pending[k].buf);
      i = j;
    }
  n_pending = 0;
}

static void
route_out (FzWgIface *iface, FzPacketBuf *buf, gint64 now)
{
  FzIpPacket pkt;
  FzIpAddr dst;
  FzWgPeer *peer;

  if (fz_ip_packet_parse (&pkt, buf->data, buf->len, FZ_IP_MAX_OFFLOAD) != FZ_IP_OK)
    {
      fz_packet_buf_free (buf);
      return;
    }
  fz_ip_packet_dst (&pkt, &dst);
  peer = fz_allowed_ips_lookup (&iface->allowed, &dst);
  if (peer == NULL)
    {
      fz_packet_buf_free (buf);
      return;
    }
  if (n_pending == G_N_ELEMENTS (pending))
    flush_pending (iface);
  switch (fz_wg_peer_encapsulate (peer, buf, now, &pending[n_pending].dst))
    {
    case FZ_WG_SEND_NOW: pending[n_pending++].buf = buf; break;
    case FZ_WG_SEND_QUEUED: break;
    case FZ_WG_SEND_DROPPED: fz_packet_buf_free (buf); break;
    }
}

/* The tunnel MTU caps padding; ip link may change it at any time. One
 * ioctl per dispatch of up to BATCH batches. */
static void
refresh_mtu (FzWgIface *iface)
{
  int mtu = fz_tun_get_mtu (iface->tun);

  if (mtu > 0)
    fz_wg_device_set_mtu (iface->dev, (gsize) mtu);
}

/* TUN -> peers: batches from the reader thread (TSO super-packets already
 * segmented), routed by destination, encrypted, sent in GSO batches. */
static gboolean
on_tun_batches (gint fd, GIOCondition cond, gpointer data)
{
  FzWgIface *iface = &app.iface;
  FzBatchQueue *q = data;
  gint64 now = g_get_monotonic_time ();
  FzBatch *b;

  refresh_mtu (iface); /* before padding anything: it may have just changed */
  fz_batch_queue_ack (q);
  for (guint i = 0; i < BATCH && (b = fz_batch_queue_pop (q)) != NULL; i++)
    {
      for (guint k = 0; k < b->n; k++)
        route_out (iface, b->bufs[k], now);
      b->n = 0; /* the buffers moved on */
      fz_batch_free (b);
    }
  flush_pending (iface);
  fz_wg_iface_flush (iface, now);
  return G_SOURCE_CONTINUE;
}

/* Decrypted packets of one receive pass, written to the TUN together so
 * that runs of one TCP flow merge into super-packets. */
static FzPacketBuf *inbound[4 * FZ_UDP_GSO_MAX_SEGMENTS];
static guint n_inbound;

static void
flush_inbound (FzWgIface *iface)
{
  if (fz_tun_write_batch (iface->tun, inbound, n_inbound) > 0)
    g_debug ("%s refused packets", iface->tun->name);
  for (guint i = 0; i < n_inbound; i++)
    fz_packet_buf_free (inbound[i]);
  n_inbound = 0;
}

/* A receive batch in: decrypted as a whole (one bad datagram never stops
 * the rest); a packet is delivered only if its source is one of the
 * sending peer's allowed IPs. */
static void
deliver_batch (FzWgIface *iface, FzBatch *b, gint64 now)
{
  FzWgRxResult res[FZ_BATCH_MAX];

  fz_wg_device_decapsulate_batch (iface->dev, b->bufs, b->from, b->n, now, res);
  for (guint k = 0; k < b->n; k++)
    {
      FzPacketBuf *buf = b->bufs[k];
      FzIpPacket pkt;
      FzIpAddr src;

      if (res[k].rx == FZ_WG_RX_PACKET
          && fz_ip_packet_parse (&pkt, buf->data, buf->len, FZ_IP_MAX_OFFLOAD) == FZ_IP_OK
          && (fz_ip_packet_src (&pkt, &src),
              fz_allowed_ips_lookup (&iface->allowed, &src) == res[k].peer))
        {
          if (n_inbound == G_N_ELEMENTS (inbound))
            flush_inbound (iface);
          inbound[n_inbound++] = buf;
          continue;
        }
      if (res[k].error != FZ_WG_RX_OK)
        g_debug ("dropped a datagram: %s", fz_wg_rx_error_to_string (res[k].error));
      fz_packet_buf_free (buf);
    }
  b->n = 0; /* every buffer moved on */
}

/* network -> TUN: batches of datagrams from a socket's reader thread. */
static gboolean
on_udp_batches (gint fd, GIOCondition cond, gpointer data)
{
  FzWgIface *iface = &app.iface;
  FzBatchQueue *q = data;
  gint64 now = g_get_monotonic_time ();
  FzBatch *b;

  fz_batch_queue_ack (q);
  for (guint i = 0; i < BATCH && (b = fz_batch_queue_pop (q)) != NULL; i++)
    {
      deliver_batch (iface, b, now);
      fz_batch_free (b);
    }
  flush_inbound (iface);
  fz_wg_iface_flush (iface, now);
  return G_SOURCE_CONTINUE;
}

static GSource *
watch_queue (FzBatchQueue *q, GUnixFDSourceFunc func)
{
  GSource *src = g_unix_fd_source_new (fz_batch_queue_fd (q), G_IO_IN);

  g_source_set_callback (src, G_SOURCE_FUNC (func), q, NULL);
  g_source_attach (src, NULL);
  return src;
}

/* Reader threads start only once the process is settled: threads do not
 * survive the fork into the background. */
static void
start_udp_readers (FzWgIface *iface)
{
  if (!app.threads_allowed)
    return;
  for (guint i = 0; i < 2; i++)
    if (iface->udp[i] != NULL && iface->udp_reader[i] == NULL)
      {
        iface->udp_reader[i] = fz_io_reader_new_udp (iface->udp[i], QUEUE_BATCHES);
        iface->udp_source[i]
          = watch_queue (fz_io_reader_queue (iface->udp_reader[i]), on_udp_batches);
      }
}

static void
stop_udp (FzWgIface *iface)
{
  for (guint i = 0; i < 2; i++)
    {
      if (iface->udp_source[i] != NULL)
        g_source_destroy (iface->udp_source[i]);
      g_clear_pointer (&iface->udp_source[i], g_source_unref);
      g_clear_pointer (&iface->udp_reader[i], fz_io_reader_free);
      g_clear_pointer (&iface->udp[i], fz_udp_socket_close);
    }
}

gboolean
fz_wg_iface_listen (FzWgIface *iface, guint16 port, GError **error)
{
  g_autoptr (FzUdpSocket) s4 = NULL;
  g_autoptr (FzUdpSocket) s6 = NULL;

  if (iface->udp[0] != NULL && port != 0 && port == iface->listen_port)
    return TRUE;
  /* Close first: the new sockets may want the same port. */
  stop_udp (iface);
  s4 = fz_udp_socket_open (4, port, error);
  if (s4 == NULL)
    return FALSE;
  s6 = fz_udp_socket_open (6, s4->port, NULL); /* IPv6 may be off: IPv4 alone is fine */
  iface->listen_port = s4->port;
  iface->udp[0] = g_steal_pointer (&s4);
  iface->udp[1] = g_steal_pointer (&s6);
  for (guint i = 0; i < 2; i++)
    if (iface->udp[i] != NULL)
      {
        if (iface->fwmark != 0)
          fz_udp_socket_set_mark (iface->udp[i], iface->fwmark, NULL);
      }
  start_udp_readers (iface);
  return TRUE;
}

gboolean
fz_wg_iface_set_fwmark (FzWgIface *iface, guint32 mark, GError **error)
{
  for (guint i = 0; i < 2; i++)
    if (iface->udp[i] != NULL && !fz_udp_socket_set_mark (iface->udp[i], mark, error))
      return FALSE;
  iface->fwmark = mark;
  return TRUE;
}

/* --- configuration socket --------------------------------------------- */

typedef struct
{
  int fd;
  GString *in;
} Client;

static gboolean
on_client (gint fd, GIOCondition cond, gpointer data)
{
  Client *c = data;
  char chunk[4096];
  gssize n = read (fd, chunk, sizeof chunk);
  char *end;

  if (n > 0)
    g_string_append_len (c->in, chunk, n);
  if (n == 0 || (n < 0 && errno != EAGAIN) || c->in->len > MAX_REQUEST)
    goto close;

  /* Every complete request (ending in a blank line) gets its reply. */
  while ((end = strstr (c->in->str, "\n\n")) != NULL)
    {
      g_autoptr (GString) reply = g_string_new (NULL);
      gsize len = (gsize) (end - c->in->str) + 2;
      g_autofree char *req = g_strndup (c->in->str, len - 1);

      g_string_erase (c->in, 0, len);
      fz_uapi_handle (&app.iface, req, reply, g_get_monotonic_time ());
      fz_wg_wipe (req, strlen (req)); /* it may hold keys */
      if (write (fd, reply->str, reply->len) != (gssize) reply->len)
        goto close;
    }
  return G_SOURCE_CONTINUE;

close:
  fz_wg_wipe (c->in->str, c->in->len);
  g_string_free (c->in, TRUE);
  close (fd);
  g_free (c);
  return G_SOURCE_REMOVE;
}

static gboolean
on_accept (gint fd, GIOCondition cond, gpointer data)
{
  int cfd = accept4 (fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  Client *c;

  if (cfd < 0)
    return G_SOURCE_CONTINUE;
  c = g_new0 (Client, 1);
  c->fd = cfd;
  c->in = g_string_new (NULL);
  g_unix_fd_add (cfd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client, c);
  return G_SOURCE_CONTINUE;
}

static int
open_control_socket (const char *path, GError **error)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  int fd, probe;
  mode_t old;

  if (strlen (path) >= sizeof sa.sun_path)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "socket path too long: %s", path);
      return -1;
    }
  g_strlcpy (sa.sun_path, path, sizeof sa.sun_path);
  if (g_mkdir_with_parents (SOCKET_DIR, 0755) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot create %s: %s", SOCKET_DIR, g_strerror (saved));
      return -1;
    }
  /* A socket that answers belongs to a live interface: leave it alone. */
  probe = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe >= 0 && connect (probe, (struct sockaddr *) &sa, sizeof sa) == 0)
    {
      close (probe);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                   "%s is in use by another process", path);
      return -1;
    }
  if (probe >= 0)
    close (probe);
  unlink (path);

  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  old = umask (0077); /* root only: the socket hands out keys */
  if (fd < 0 || bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen (fd, 16) < 0)
    {
      int saved = errno;
      umask (old);
      if (fd >= 0)
        close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot listen on %s: %s", path, g_strerror (saved));
      return -1;
    }
  umask (old);
  return fd;
}

/* Queue depths as gauges, once a second (never per packet). */
static gboolean
on_gauges (gpointer data)
{
  FzWgIface *iface = data;

  iface->queue_depth[0] = 0;
  for (guint q = 0; q < iface->tun->n_queues; q++)
    iface->queue_depth[0]
      = MAX (iface->queue_depth[0],
             fz_batch_queue_take_max_depth (fz_io_reader_queue (app.tun_reader[q])));
  for (guint i = 0; i < 2; i++)
    iface->queue_depth[i + 1]
      = iface->udp_reader[i] != NULL
          ? fz_batch_queue_take_max_depth (fz_io_reader_queue (iface->udp_reader[i]))
          : 0;
  g_debug ("queue depth, deepest in the last second: TUN %u, UDPv4 %u, UDPv6 %u (of %u)",
           iface->queue_depth[0], iface->queue_depth[1], iface->queue_depth[2],
           QUEUE_BATCHES);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_quit (gpointer data)
{
  g_main_loop_quit (app.loop);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  gboolean foreground = g_strcmp0 (g_getenv ("WG_PROCESS_FOREGROUND"), "1") == 0;
  FzWgIface *iface = &app.iface;
  const char *name = NULL;
  guint queues = 1;

  for (int i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "-f") || g_str_equal (argv[i], "--foreground"))
        foreground = TRUE;
      else if ((g_str_equal (argv[i], "-q") || g_str_equal (argv[i], "--queues"))
               && i + 1 < argc)
        {
          guint64 q;
          if (!g_ascii_string_to_unsigned (argv[++i], 10, 1, FZ_TUN_MAX_QUEUES, &q, NULL))
            {
              g_printerr ("fz-wg: --queues takes a number from 1 to %d\n",
                          FZ_TUN_MAX_QUEUES);
              return 2;
            }
          queues = (guint) q;
        }
      else if (g_str_equal (argv[i], "--version"))
        {
          g_print ("fz-wg %s\n", fz_version ());
          return 0;
        }
      else if (name == NULL && argv[i][0] != '-')
        name = argv[i];
      else
        name = NULL, i = argc;
    }
  if (name == NULL)
    {
      g_printerr ("usage: %s [-f|--foreground] [-q|--queues N] IFNAME\n",
                  g_get_prgname ());
      return 2;
    }

  {
    guint8 none[FZ_WG_KEY_LEN] = { 0 };
    iface->pool = fz_buf_pool_new (PACKET_CAPACITY, 256);
    iface->dev = fz_wg_device_new (none, fz_rng_system (), iface->pool);
    fz_wg_device_set_wall_offset (iface->dev,
                                  g_get_real_time () - g_get_monotonic_time ());
    fz_allowed_ips_init (&iface->allowed);
    iface->psks = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  }

  iface->tun = fz_tun_open_multi (name, TRUE, queues, &error);
  if (iface->tun == NULL)
    {
      g_printerr ("fz-wg: %s\n", error->message);
      return 1;
    }
  if (!fz_tun_set_txqueuelen (iface->tun, FZ_TUN_TXQUEUELEN, &error))
    {
      g_printerr ("fz-wg: warning: %s\n", error->message);
      g_clear_error (&error);
    }
  if (!fz_udp_raise_buffer_limits (&error))
    {
      g_printerr ("fz-wg: warning: socket buffers stay small: %s\n", error->message);
      g_clear_error (&error);
    }
  app.socket_path = g_strdup_printf (SOCKET_DIR "/%s.sock", iface->tun->name);
  app.listen_fd = open_control_socket (app.socket_path, &error);
  if (app.listen_fd < 0 || !fz_wg_iface_listen (iface, 0, &error))
    {
      g_printerr ("fz-wg: %s\n", error->message);
      return 1;
    }
  if (!foreground && daemon (0, 0) < 0)
    {
      g_printerr ("fz-wg: cannot go to the background: %s\n", g_strerror (errno));
      return 1;
    }

  app.loop = g_main_loop_new (NULL, FALSE);
  app.timer = g_source_new (&timer_funcs, sizeof (GSource));
  g_source_set_callback (app.timer, on_timer, NULL, NULL);
  g_source_attach (app.timer, NULL);
  refresh_mtu (iface);
  app.threads_allowed = TRUE;
  start_udp_readers (iface);
  for (guint q = 0; q < iface->tun->n_queues; q++)
    {
      app.tun_reader[q] = fz_io_reader_new_tun (iface->tun, q, QUEUE_BATCHES);
      app.tun_source[q]
        = watch_queue (fz_io_reader_queue (app.tun_reader[q]), on_tun_batches);
    }
  g_timeout_add_seconds (1, on_gauges, iface);
  g_unix_fd_add (app.listen_fd, G_IO_IN, on_accept, NULL);
  g_unix_signal_add (SIGTERM, on_quit, NULL);
  g_unix_signal_add (SIGINT, on_quit, NULL);
  g_message ("interface %s up (TCP segmentation offload %s); configure it with wg(8) "
             "through %s",
             iface->tun->name, iface->tun->tso ? "on" : "off", app.socket_path);

  g_main_loop_run (app.loop);

  unlink (app.socket_path);
  close (app.listen_fd);
  g_message ("interface %s down", iface->tun->name);
  stop_udp (iface);
  for (guint q = 0; q < iface->tun->n_queues; q++)
    {
      g_source_destroy (app.tun_source[q]);
      g_source_unref (app.tun_source[q]);
      fz_io_reader_free (app.tun_reader[q]);
    }
  fz_tun_close (iface->tun);
  fz_allowed_ips_clear (&iface->allowed);
  g_hash_table_unref (iface->psks);
  fz_wg_device_free (iface->dev);
  fz_wg_wipe (iface->private_key, sizeof iface->private_key);
  fz_buf_pool_free (iface->pool);
  g_source_destroy (app.timer);
  g_source_unref (app.timer);
  g_main_loop_unref (app.loop);
  g_free (app.socket_path);
  return 0;
}
