/* Many clients in one process, for the gateway's memory figure: each is
 * an FzClientState with its own key, UDP socket and portal channel (a
 * session of its own: device id "bench-sim-N"), signed in with one
 * static token. Once it has its resources it pings RESOURCE through the
 * tunnel (the packet waits in the state while the portal and the gateway
 * set the connection up) until the first reply: then it counts as
 * connected.
 *
 *   fz-bench-clients API_URL TOKEN_FILE HOST_IP RESOURCE_IP N [TIMEOUT_S]
 *
 * Starts the clients in batches, prints progress on stderr, then one line
 * "connected N of M in T s" on stdout and stays connected (heartbeats,
 * keepalives) until SIGTERM or SIGINT; then says goodbye and exits 0.
 * Exits 1 if not one client got through by TIMEOUT_S (default 120). */
#include "fz-client-state-private.h"
#include "fz-ip-packet-build.h"
#include "fz-io-loop-private.h"
#include "fz-ip-packet.h"
#include "fz-portal-channel.h"
#include "fz-portal-url.h"
#include "fz-rng.h"
#include "fz-udp-socket-private.h"
#include "fz-version.h"
#include "fz-wg-crypto.h"

#include <glib-unix.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <sys/resource.h>

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define BATCH         25 /* clients started together */
#define BATCH_GAP     (100 * G_TIME_SPAN_MILLISECOND)
#define PING_AGAIN    (3 * G_USEC_PER_SEC) /* no reply yet: another ping */
#define RECV_BATCH    32
#define BENCH_PING_ID 0xfb

typedef struct _Sim Sim;

typedef struct
{
  Sim *sim;
  guint index;
  FzClientState *cl;
  FzUdpSocket *sock;
  GSource *io;
  GSource *timer;
  FzPortalChannel *ch;
  gboolean ready, connected, failed;
  gint64 pinged;
  guint16 seq;
} Client;

struct _Sim
{
  GMainLoop *loop;
  FzBufPool *pool;
  const char *api_url;
  const char *token;
  char *user_agent;
  FzIpAddr host, resource;
  Client *clients;
  guint n, started, connected, failed;
  gint64 t0, deadline;
  gboolean reported, stopping;
};

static void schedule (Client *c, gint64 now);

static void
ping (Client *c, gint64 now)
{
  const FzClientInterface *iface = fz_client_state_get_interface (c->cl);
  FzPacketBuf *buf = fz_buf_pool_alloc (c->sim->pool);
  FzIpPacket pkt;

  if (iface->ipv4.family == 0
      || !fz_ip_build_icmp_echo (buf, &pkt, &iface->ipv4, &c->sim->resource, FALSE,
                                 BENCH_PING_ID, ++c->seq, "libfz-bench", 11, NULL))
    {
      fz_packet_buf_free (buf);
      return;
    }
  buf->data = pkt.data;
  buf->len = pkt.len;
  c->pinged = now;
  fz_client_state_handle_tun (c->cl, buf, now);
}

static void
on_reply (Client *c, FzPacketBuf *b)
{
  FzIpPacket pkt;
  Sim *sim = c->sim;

  if (c->connected || fz_ip_packet_parse (&pkt, b->data, b->len, b->len) != FZ_IP_OK
      || !fz_ip_packet_is_icmp_echo (&pkt) || fz_ip_packet_icmp_type (&pkt) != 0
      || fz_ip_packet_icmp_echo_id (&pkt) != BENCH_PING_ID)
    return;
  c->connected = TRUE;
  sim->connected++;
  if (sim->connected % 100 == 0 || sim->connected == sim->n)
    g_printerr ("fz-bench-clients: %u connected after %.1f s\n", sim->connected,
                (double) (g_get_monotonic_time () - sim->t0) / G_USEC_PER_SEC);
}

static void
on_event (Client *c, FzClientEvent *e, gint64 now)
{
  switch (e->type)
    {
    case FZ_CLIENT_EVENT_RESOURCES:
      if (!c->ready)
        {
          c->ready = TRUE;
          ping (c, now);
        }
      break;
    case FZ_CLIENT_EVENT_UPSTREAM_DNS:
      fz_client_state_upstream_answer (c->cl, e->request, NULL, 0, now);
      break;
    case FZ_CLIENT_EVENT_FATAL:
      g_printerr ("fz-bench-clients: client %u: %s\n", c->index, e->reason);
      c->failed = TRUE;
      c->sim->failed++;
      break;
    default: break;
    }
}

/* Everything an input caused, as FzTunnel's schedule() does. */
static void
schedule (Client *c, gint64 now)
{
  FzPortalMessage *m;
  FzClientEvent e;
  FzPacketBuf *b;
  FzNodeTransmit tx;
  gint64 t;

  if (c->cl == NULL)
    return;
  while ((m = fz_client_state_poll_portal (c->cl)) != NULL)
    {
      fz_portal_channel_send (c->ch, m);
      fz_portal_message_free (m);
    }
  while (fz_client_state_poll_event (c->cl, &e))
    {
      on_event (c, &e, now);
      fz_client_event_clear (&e);
    }
  while ((m = fz_client_state_poll_portal (c->cl)) != NULL)
    {
      fz_portal_channel_send (c->ch, m);
      fz_portal_message_free (m);
    }
  while ((b = fz_client_state_poll_tun (c->cl)) != NULL)
    {
      on_reply (c, b);
      fz_packet_buf_free (b);
    }
  while (fz_client_state_poll_transmit (c->cl, &tx))
    {
      fz_udp_socket_send (c->sock, tx.buf->data, tx.buf->len, &tx.src, &tx.dst, tx.ecn);
      fz_packet_buf_free (tx.buf);
    }
  t = fz_client_state_poll_timeout (c->cl);
  if (c->ready && !c->connected)
    t = MIN (t, c->pinged + PING_AGAIN);
  g_source_set_ready_time (c->timer, t == G_MAXINT64 ? -1 : MAX (t, now));
}

static gboolean
on_timer (gpointer data)
{
  Client *c = data;
  gint64 now = g_get_monotonic_time ();

  if (c->cl == NULL)
    return G_SOURCE_CONTINUE;
  fz_client_state_handle_timeout (c->cl, now);
  if (c->ready && !c->connected && now >= c->pinged + PING_AGAIN)
    ping (c, now);
  schedule (c, now);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_readable (gint fd, GIOCondition cond, gpointer data)
{
  Client *c = data;
  FzPacketBuf *bufs[RECV_BATCH];
  FzSockAddr local[RECV_BATCH], from[RECV_BATCH];
  gint64 now = g_get_monotonic_time ();
  guint got;

  if (c->cl == NULL)
    return G_SOURCE_CONTINUE;
  do
    {
      fz_buf_pool_alloc_batch (c->sim->pool, bufs, RECV_BATCH);
      got = fz_udp_socket_recv_many (c->sock, bufs, local, from, NULL, RECV_BATCH);
      for (guint i = 0; i < got; i++)
        fz_client_state_handle_datagram (c->cl, &local[i], &from[i], bufs[i], now);
      for (guint i = got; i < RECV_BATCH; i++)
        fz_packet_buf_free (bufs[i]);
    }
  while (got == RECV_BATCH);
  schedule (c, now);
  return G_SOURCE_CONTINUE;
}

static void
on_message (FzPortalChannel *ch, FzPortalMessage *m, gpointer data)
{
  Client *c = data;
  gint64 now = g_get_monotonic_time ();

  if (c->cl == NULL)
    return;
  fz_client_state_handle_portal (c->cl, m, now);
  schedule (c, now);
}

static void
on_state (FzPortalChannel *ch, FzPortalChannelState state, gpointer data)
{
  Client *c = data;

  if (state == FZ_PORTAL_CHANNEL_FAILED && !c->failed)
    {
      g_printerr ("fz-bench-clients: client %u: portal: %s\n", c->index,
                  fz_portal_channel_get_error (ch)->message);
      c->failed = TRUE;
      c->sim->failed++;
    }
}

static gboolean
client_start (Client *c, GError **error)
{
  Sim *sim = c->sim;
  guint8 key[FZ_WG_KEY_LEN];
  gint64 now = g_get_monotonic_time ();
  g_autofree char *id = g_strdup_printf ("bench-sim-%u", c->index);
  g_autofree char *url = NULL;
  FzSockAddr host = { .ip = sim->host };
  int off = 0;

  fz_rng_fill (fz_rng_system (), key, sizeof key);
  fz_wg_clamp_private_key (key);
  c->cl = fz_client_state_new (key, fz_rng_system (), sim->pool, NULL, now, error);
  memset (key, 0, sizeof key);
  if (c->cl == NULL)
    return FALSE;
  fz_node_set_wall_clock (fz_client_state_get_node (c->cl), g_get_real_time (), now);
  c->sock = fz_udp_socket_open (4, 0, error);
  if (c->sock == NULL)
    return FALSE;
  /* One datagram per buffer: recv_many does not split GRO batches. */
  setsockopt (c->sock->fd, SOL_UDP, UDP_GRO, &off, sizeof off);
  c->sock->gro = FALSE;
  host.port = fz_udp_socket_get_port (c->sock);
  fz_node_add_host_address (fz_client_state_get_node (c->cl), &host, now);

  FzPortalUrlParams params
    = { .external_id = id,
        .name = id,
        .public_key = fz_node_public_key (fz_client_state_get_node (c->cl)) };
  url = fz_portal_url (sim->api_url, FALSE, &params, error);
  if (url == NULL)
    return FALSE;
  FzPortalChannelConfig cc = { .url = url,
                               .token = sim->token,
                               .user_agent = sim->user_agent,
                               .role = FZ_PORTAL_ROLE_CLIENT,
                               .budget = G_MAXINT64 };
  c->ch = fz_portal_channel_new (&cc, error);
  if (c->ch == NULL)
    return FALSE;
  g_signal_connect (c->ch, "message", G_CALLBACK (on_message), c);
  g_signal_connect (c->ch, "state-changed", G_CALLBACK (on_state), c);

  c->timer = fz_deadline_source_new ();
  g_source_set_callback (c->timer, on_timer, c, NULL);
  g_source_attach (c->timer, NULL);
  c->io = g_unix_fd_source_new (c->sock->fd, G_IO_IN);
  g_source_set_callback (c->io, G_SOURCE_FUNC (on_readable), c, NULL);
  g_source_attach (c->io, NULL);
  fz_portal_channel_start (c->ch);
  schedule (c, now);
  return TRUE;
}

static void
client_stop (Client *c)
{
  if (c->cl != NULL)
    {
      fz_client_state_shutdown (c->cl, g_get_monotonic_time ());
      schedule (c, g_get_monotonic_time ()); /* the goodbyes */
    }
  if (c->ch != NULL)
    fz_portal_channel_stop (c->ch);
  g_clear_object (&c->ch);
  if (c->io != NULL)
    g_source_destroy (c->io);
  g_clear_pointer (&c->io, g_source_unref);
  if (c->timer != NULL)
    g_source_destroy (c->timer);
  g_clear_pointer (&c->timer, g_source_unref);
  g_clear_pointer (&c->cl, fz_client_state_free);
  g_clear_pointer (&c->sock, fz_udp_socket_close);
}

static gboolean
on_tick (gpointer data)
{
  Sim *sim = data;
  gint64 now = g_get_monotonic_time ();

  for (guint k = 0; k < BATCH && sim->started < sim->n; k++)
    {
      Client *c = &sim->clients[sim->started];
      g_autoptr (GError) error = NULL;

      c->sim = sim;
      c->index = sim->started++;
      if (!client_start (c, &error))
        {
          g_printerr ("fz-bench-clients: client %u: %s\n", c->index, error->message);
          c->failed = TRUE;
          sim->failed++;
        }
    }
  if (!sim->reported && (sim->connected + sim->failed == sim->n || now >= sim->deadline))
    {
      sim->reported = TRUE;
      g_print ("connected %u of %u in %.1f s\n", sim->connected, sim->n,
               (double) (now - sim->t0) / G_USEC_PER_SEC);
      if (sim->connected == 0)
        {
          g_printerr ("fz-bench-clients: no client got a reply\n");
          g_main_loop_quit (sim->loop);
        }
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_signal (gpointer data)
{
  Sim *sim = data;

  sim->stopping = TRUE;
  g_main_loop_quit (sim->loop);
  return G_SOURCE_CONTINUE;
}

static void
raise_fd_limit (void)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
}

int
main (int argc, char **argv)
{
  Sim sim = { 0 };
  g_autofree char *token = NULL;
  g_autoptr (GError) error = NULL;
  guint timeout_s;
  int status;

  if (argc < 6 || argc > 7)
    {
      g_printerr ("usage: fz-bench-clients API_URL TOKEN_FILE HOST_IP RESOURCE_IP N "
                  "[TIMEOUT_S]\n");
      return 2;
    }
  sim.api_url = argv[1];
  if (!g_file_get_contents (argv[2], &token, NULL, &error))
    {
      g_printerr ("fz-bench-clients: %s\n", error->message);
      return 2;
    }
  sim.token = g_strstrip (token);
  sim.n = (guint) g_ascii_strtoull (argv[5], NULL, 10);
  timeout_s = argc > 6 ? (guint) g_ascii_strtoull (argv[6], NULL, 10) : 120;
  if (!fz_ip_addr_parse (&sim.host, argv[3]) || !fz_ip_addr_parse (&sim.resource, argv[4])
      || sim.n == 0 || timeout_s == 0)
    {
      g_printerr ("fz-bench-clients: bad address or count\n");
      return 2;
    }
  raise_fd_limit ();
  sim.user_agent = fz_portal_user_agent ("Linux", "12", "headless-client", fz_version (),
                                         "x86_64", "6");
  sim.pool = fz_buf_pool_new (65535, 4096);
  sim.clients = g_new0 (Client, sim.n);
  sim.loop = g_main_loop_new (NULL, FALSE);
  sim.t0 = g_get_monotonic_time ();
  sim.deadline = sim.t0 + (gint64) timeout_s * G_USEC_PER_SEC;
  g_unix_signal_add (SIGTERM, on_signal, &sim);
  g_unix_signal_add (SIGINT, on_signal, &sim);
  g_timeout_add (BATCH_GAP / 1000, on_tick, &sim);
  g_main_loop_run (sim.loop);

  status = sim.connected > 0 ? 0 : 1;
  for (guint i = 0; i < sim.started; i++)
    client_stop (&sim.clients[i]);
  /* A moment for the goodbyes and the portal's close frames. */
  for (gint64 end = g_get_monotonic_time () + 300 * G_TIME_SPAN_MILLISECOND;
       g_get_monotonic_time () < end;)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (10000);
  g_free (sim.clients);
  g_free (sim.user_agent);
  g_main_loop_unref (sim.loop);
  fz_buf_pool_free (sim.pool);
  return status;
}
