/* fz-wg: a userspace WireGuard interface that wg(8) configures.
 *
 *   fz-wg [-f|--foreground] [-q|--queues N] IFNAME
 *   fz-wg -h|--help | --version
 *
 * Creates the TUN device IFNAME and serves WireGuard's configuration
 * protocol on /var/run/wireguard/IFNAME.sock, like wireguard-go. In the
 * background unless -f or WG_PROCESS_FOREGROUND=1. --queues N reads the
 * TUN with N threads (multi-queue; 1 by default: more reorder packets and
 * TCP slows down for it). SIGTERM or SIGINT removes the socket and the
 * device; deleting the device (wg-quick down) ends fz-wg the same way. */
#define _GNU_SOURCE /* accept4 */
#include "fz-wg-iface.h"

#include <errno.h>
#include <glib-unix.h>
#include <pthread.h>
#include <gio/gio.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#undef G_LOG_DOMAIN
#define G_LOG_DOMAIN "fz-wg"

#define SOCKET_DIR      "/var/run/wireguard"
#define MAX_REQUEST     (16 * 1024 * 1024) /* 20 000 peers with keys fit */
#define MAX_LINE        4096               /* the longest valid line is under 100 bytes */
#define CHUNK           64 /* lines of a set, peers of a get, per loop iteration */
#define PACKET_CAPACITY 65535
#define USAGE                                                                            \
  "usage: fz-wg [-f|--foreground] [-q|--queues N] IFNAME\n"                              \
  "       fz-wg -h|--help | --version\n"

typedef struct
{
  FzWgIface iface;
  GMainContext *ctx; /* every source of fz-wg is attached here */
  GMainLoop *loop;
  GSource *timer;
  gint64 mtu_checked; /* the dispatch that last read the MTU */
  char *socket_path;
  int listen_fd;
  GSource *listen_source, *gauges, *signals[2];
} App;

static App app;

static GSource *
attach (GSource *src, GSourceFunc func, gpointer data)
{
  g_source_set_callback (src, func, data, NULL);
  g_source_attach (src, app.ctx);
  return src;
}

static void
drop_source (GSource **src)
{
  if (*src != NULL)
    g_source_destroy (*src);
  g_clear_pointer (src, g_source_unref);
}

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

void
fz_wg_iface_flush (FzWgIface *iface, gint64 now)
{
  FzWgTransmit tx;
  gint64 t;

  while (fz_wg_device_poll_transmit (iface->dev, &tx))
    {
      FzUdpTransmit u = { .dst = tx.dst, .buf = tx.buf };
      fz_io_loop_queue_datagram (iface->io, &u);
    }
  fz_io_loop_flush (iface->io);
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

static void
route_out (FzWgIface *iface, FzPacketBuf *buf, gint64 now)
{
  FzUdpTransmit tx = { .buf = buf };
  FzIpPacket pkt;
  FzIpAddr dst;
  FzWgPeer *peer;

  if (fz_ip_packet_parse (&pkt, buf->data, buf->len, FZ_IP_MAX_OFFLOAD) != FZ_IP_OK)
    {
      fz_packet_buf_free (buf);
      return;
    }
  fz_ip_packet_dst (&pkt, &dst);
  peer = fz_ip_table_lookup (iface->allowed, &dst, NULL);
  if (peer == NULL)
    {
      fz_packet_buf_free (buf);
      return;
    }
  switch (fz_wg_peer_encapsulate (peer, buf, now, &tx.dst))
    {
    case FZ_WG_SEND_NOW: fz_io_loop_queue_datagram (iface->io, &tx); break;
    case FZ_WG_SEND_QUEUED: break;
    case FZ_WG_SEND_DROPPED: fz_packet_buf_free (buf); break;
    }
}

/* The tunnel MTU caps padding; ip link may change it at any time. One
 * ioctl per dispatch (its batches share @now), before padding anything. */
static void
refresh_mtu (FzWgIface *iface, gint64 now)
{
  int mtu;

  if (now == app.mtu_checked)
    return;
  app.mtu_checked = now;
  mtu = fz_tun_get_mtu (iface->tun);
  if (mtu > 0)
    fz_wg_device_set_mtu (iface->dev, (gsize) mtu);
}

/* TUN -> peers: a batch from a reader thread (TSO super-packets already
 * segmented), routed by destination and encrypted; the loop sends the
 * datagrams in GSO batches per destination at the flush. */
static void
on_tun_batch (gpointer data, FzBatch *b, gint64 now)
{
  FzWgIface *iface = data;

  refresh_mtu (iface, now);
  for (guint k = 0; k < b->n; k++)
    route_out (iface, b->bufs[k], now);
  b->n = 0; /* the buffers moved on */
}

/* network -> TUN: a receive batch, decrypted as a whole (one bad datagram
 * never stops the rest); a packet is delivered only if its source is one
 * of the sending peer's allowed IPs. The loop writes the packets of a
 * dispatch to the TUN together, so that runs of one TCP flow merge into
 * super-packets. */
static void
on_udp_batch (gpointer data, FzBatch *b, gint64 now)
{
  FzWgIface *iface = data;
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
              fz_ip_table_lookup (iface->allowed, &src, NULL) == res[k].peer))
        {
          fz_io_loop_queue_tun (iface->io, buf);
          continue;
        }
      if (res[k].error != FZ_WG_RX_OK)
        g_debug ("dropped a datagram: %s", fz_wg_rx_error_to_string (res[k].error));
      fz_packet_buf_free (buf);
    }
  b->n = 0; /* every buffer moved on */
}

static void
on_flush (gpointer data, gint64 now)
{
  fz_wg_iface_flush (data, now);
}

/* Deleting the interface (ip link del, wg-quick down) ends the TUN
 * readers with EBADFD: then fz-wg has nothing left to do, as wireguard-go. */
static void
on_tun_gone (gpointer data, int err)
{
  g_message ("interface %s went away (%s); exiting", app.iface.tun->name,
             g_strerror (err));
  g_main_loop_quit (app.loop);
}

gboolean
fz_wg_iface_listen (FzWgIface *iface, guint16 port, GError **error)
{
  if (!fz_io_loop_listen (iface->io, port, error))
    return FALSE;
  iface->listen_port = fz_io_loop_get_port (iface->io);
  return TRUE;
}

gboolean
fz_wg_iface_set_fwmark (FzWgIface *iface, guint32 mark, GError **error)
{
  if (!fz_io_loop_set_mark (iface->io, mark, error))
    return FALSE;
  iface->fwmark = mark;
  return TRUE;
}

/* --- configuration socket --------------------------------------------- */

/* A connection to the configuration socket. Requests are carried out one
 * at a time, a chunk per main loop iteration (a get=1 answer only as fast
 * as the client reads it); meanwhile nothing more is read. Writes never
 * block and never raise SIGPIPE. */
typedef struct
{
  GSource source;
  gpointer tag;
  int fd;
  GString *in;
  gsize scanned, line_start; /* how far @in was checked for a request */
  GString *out;
  gsize out_sent;
  FzUapiRequest *pending; /* a request still being carried out */
  gboolean eof;           /* the client will send nothing more */
  gboolean bad;           /* it sent what can never be a request: close once answered */
} Client;

static GPtrArray *clients; /* Client *: freed at exit */

/* Length of the first complete request in @c->in (through its blank
 * line); 0 if it is not complete yet; -1 if it can never be one: a NUL or
 * CR byte, a line or a request too long. Resumes where the last call
 * stopped. */
static gssize
find_request (Client *c)
{
  for (; c->scanned < c->in->len; c->scanned++)
    {
      char ch = c->in->str[c->scanned];

      if (ch == '\0' || ch == '\r')
        return -1;
      if (ch != '\n')
        {
          if (c->scanned - c->line_start >= MAX_LINE)
            return -1;
          continue;
        }
      if (c->scanned == c->line_start)
        return (gssize) ++c->scanned;
      c->line_start = c->scanned + 1;
    }
  return c->in->len >= MAX_REQUEST ? -1 : 0;
}

static void
handle_request (Client *c, gsize len)
{
  g_autofree char *req = g_strndup (c->in->str, len);

  fz_wg_wipe (c->in->str, len); /* it may hold keys */
  g_string_erase (c->in, 0, (gssize) len);
  c->scanned = c->line_start = 0;
  c->pending = fz_uapi_handle (&app.iface, req, c->out, g_get_monotonic_time ());
  fz_wg_wipe (req, len);
}

/* Carries out the next chunk of the request under way, or starts the
 * next complete one. */
static void
produce (Client *c)
{
  gssize len;

  if (c->pending != NULL)
    {
      if (!fz_uapi_request_next (c->pending, &app.iface, c->out, CHUNK))
        g_clear_pointer (&c->pending, fz_uapi_request_free);
      return;
    }
  if (c->bad || (len = find_request (c)) == 0)
    return;
  if (len < 0)
    {
      g_string_append (c->out, "errno=22\n\n");
      c->bad = TRUE;
      return;
    }
  handle_request (c, (gsize) len);
}

/* FALSE when the connection failed or the client hung up. */
static gboolean
read_in (Client *c)
{
  char chunk[65536];
  gssize n = read (c->fd, chunk, sizeof chunk);

  if (n > 0)
    g_string_append_len (c->in, chunk, n);
  else if (n == 0)
    c->eof = TRUE;
  return n >= 0 || errno == EAGAIN || errno == EINTR;
}

static gboolean
write_out (Client *c)
{
  gssize n = send (c->fd, c->out->str + c->out_sent, c->out->len - c->out_sent,
                   MSG_NOSIGNAL | MSG_DONTWAIT);

  if (n < 0)
    return errno == EAGAIN || errno == EINTR;
  c->out_sent += (gsize) n;
  if (c->out_sent == c->out->len)
    {
      fz_wg_wipe (c->out->str, c->out->len); /* get=1 answers hold keys */
      g_string_truncate (c->out, 0);
      c->out_sent = 0;
    }
  return TRUE;
}

/* The connection closes when its source is finalized. */
static gboolean
client_end (Client *c)
{
  g_ptr_array_remove_fast (clients, c);
  return G_SOURCE_REMOVE;
}

static gboolean
client_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
  Client *c = (Client *) source;
  GIOCondition cond = g_source_query_unix_fd (source, c->tag);
  gboolean busy;

  if ((cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)) && !c->eof && !read_in (c))
    return client_end (c);
  if (c->out->len == 0)
    produce (c);
  if (c->out->len > 0 && !write_out (c))
    return client_end (c);
  busy = c->out->len > 0 || c->pending != NULL;
  if (!busy && (c->bad || c->eof))
    {
      produce (c); /* requests that came with the hang-up */
      if (c->out->len == 0)
        return client_end (c);
      busy = TRUE;
    }
  /* Read only while idle; write while there is something to write; come
   * back at once for a chunk to generate or a request already read. */
  g_source_modify_unix_fd (source, c->tag, busy ? G_IO_OUT : G_IO_IN);
  g_source_set_ready_time (
    source, (busy && c->out->len == 0) || (!busy && c->scanned < c->in->len) ? 0 : -1);
  return G_SOURCE_CONTINUE;
}

static void
client_finalize (GSource *source)
{
  Client *c = (Client *) source;

  fz_uapi_request_free (c->pending);
  fz_wg_wipe (c->in->str, c->in->allocated_len);
  fz_wg_wipe (c->out->str, c->out->allocated_len);
  g_string_free (c->in, TRUE);
  g_string_free (c->out, TRUE);
  close (c->fd);
}

static GSourceFuncs client_funcs
  = { .dispatch = client_dispatch, .finalize = client_finalize };

static gboolean
on_accept (gint fd, GIOCondition cond, gpointer data)
{
  int cfd = accept4 (fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  Client *c;

  if (cfd < 0)
    return G_SOURCE_CONTINUE;
  c = (Client *) g_source_new (&client_funcs, sizeof (Client));
  c->fd = cfd;
  c->in = g_string_new (NULL);
  c->out = g_string_new (NULL);
  c->tag = g_source_add_unix_fd (&c->source, cfd, G_IO_IN);
  g_source_attach (&c->source, app.ctx);
  g_ptr_array_add (clients, c); /* holds the reference */
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
  if (fd < 0 || bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0
      || listen (fd, SOMAXCONN) < 0)
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
  guint depth[3];

  fz_io_loop_take_depths (iface->io, depth);
  g_debug ("queue depth, deepest in the last second: TUN %u, UDPv4 %u, UDPv6 %u (of %u)",
           depth[0], depth[1], depth[2], FZ_IO_LOOP_QUEUE_BATCHES);
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
  FzIoLoopCallbacks cb = {
    .tun_batch = on_tun_batch,
    .udp_batch = on_udp_batch,
    .flush = on_flush,
    .tun_gone = on_tun_gone,
  };
  const char *name = NULL;
  guint queues = 1;
  sigset_t term;

  /* A client that hangs up before reading its answer must not kill us:
   * writes say EPIPE instead (and use MSG_NOSIGNAL besides). */
  signal (SIGPIPE, SIG_IGN);
  /* SIGTERM or SIGINT before the main loop waits until it runs: the
   * socket exists before, and a stop then must remove it too. */
  sigemptyset (&term);
  sigaddset (&term, SIGTERM);
  sigaddset (&term, SIGINT);
  pthread_sigmask (SIG_BLOCK, &term, NULL);
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
      else if (g_str_equal (argv[i], "-h") || g_str_equal (argv[i], "--help"))
        {
          g_print (USAGE);
          return 0;
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
      g_printerr (USAGE);
      return 2;
    }

  {
    guint8 none[FZ_WG_KEY_LEN] = { 0 };
    iface->pool = fz_buf_pool_new (PACKET_CAPACITY, 256);
    iface->dev = fz_wg_device_new (none, fz_rng_system (), iface->pool);
    fz_wg_device_set_wall_offset (iface->dev,
                                  g_get_real_time () - g_get_monotonic_time ());
    iface->allowed = fz_ip_table_new (NULL);
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
  /* A context holds no thread: it may exist before the fork. */
  app.ctx = g_main_context_new ();
  g_main_context_push_thread_default (app.ctx);
  iface->io = fz_io_loop_new (app.ctx, iface->tun, &cb, iface);
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

  app.loop = g_main_loop_new (app.ctx, FALSE);
  app.timer = attach (fz_deadline_source_new (), on_timer, NULL);
  refresh_mtu (iface, g_get_monotonic_time ());
  /* Reader threads start only now: threads do not survive the fork into
   * the background. */
  fz_io_loop_start (iface->io);
  clients = g_ptr_array_new_with_free_func ((GDestroyNotify) g_source_unref);
  app.gauges = attach (g_timeout_source_new_seconds (1), on_gauges, iface);
  app.listen_source = attach (g_unix_fd_source_new (app.listen_fd, G_IO_IN),
                              G_SOURCE_FUNC (on_accept), NULL);
  app.signals[0] = attach (g_unix_signal_source_new (SIGTERM), on_quit, NULL);
  app.signals[1] = attach (g_unix_signal_source_new (SIGINT), on_quit, NULL);
  pthread_sigmask (SIG_UNBLOCK, &term, NULL);
  g_message ("interface %s up (TCP segmentation offload %s); configure it with wg(8) "
             "through %s",
             iface->tun->name, iface->tun->tso ? "on" : "off", app.socket_path);

  g_main_loop_run (app.loop);

  unlink (app.socket_path);
  drop_source (&app.listen_source);
  close (app.listen_fd);
  for (guint i = 0; i < clients->len; i++)
    g_source_destroy (clients->pdata[i]);
  g_ptr_array_unref (clients);
  g_message ("interface %s down", iface->tun->name);
  g_clear_pointer (&iface->io, fz_io_loop_free);
  fz_tun_close (iface->tun);
  g_clear_pointer (&iface->allowed, fz_ip_table_free);
  g_hash_table_unref (iface->psks);
  fz_wg_device_free (iface->dev);
  fz_wg_wipe (iface->private_key, sizeof iface->private_key);
  fz_buf_pool_free (iface->pool);
  drop_source (&app.timer);
  drop_source (&app.gauges);
  drop_source (&app.signals[0]);
  drop_source (&app.signals[1]);
  g_main_loop_unref (app.loop);
  g_main_context_pop_thread_default (app.ctx);
  g_main_context_unref (app.ctx);
  g_free (app.socket_path);
  return 0;
}
