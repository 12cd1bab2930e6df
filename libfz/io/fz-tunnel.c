#include "fz-tunnel.h"

#include "fz-client-state-private.h"
#include "fz-dns-forwarder-private.h"
#include "fz-gateway-state-private.h"
#include "fz-io-loop-private.h"
#include "fz-ip-prefix-private.h"
#include "fz-netlink-private.h"
#include "fz-portal-channel.h"
#include "fz-portal-url.h"
#include "fz-rng.h"
#include "fz-tun-private.h"
#include "fz-version.h"
#include "fz-wg-crypto.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <sys/utsname.h>

#define POOL_CAPACITY      65535
#define POOL_CACHED        512
#define STOP_GRACE_MS      500 /* for the goodbyes to leave before the sockets close */
#define GATEWAY_UNDER_LOAD 1000
#define MAX_SYSTEM_DNS     8
#define IFACE_PACE_MS      50 /* between two applications of the client's routes */

struct _FzTunnel
{
  GObject parent;
  GMainContext *ctx;
  FzTunnelRole role;
  FzBufPool *pool;
  FzTun *tun;
  int ifindex;
  FzNetlink *nl;
  FzNetlinkMonitor *monitor;
  FzIoLoop *io;
  FzClientState *cl; /* one of the two */
  FzGatewayState *gw;
  FzNode *node;
  FzPortalChannel *channel;
  FzDnsForwarder *dns;
  GResolver *resolver;
  GCancellable *resolving; /* cancels every name resolution */
  GSource *timer;
  GSource *stop_source;
  GSource *iface_source; /* the client's interface, applied when it fires */
  gint64 iface_applied;  /* when it last was, monotonic */
  gboolean ready, stopping, stopped, rules_added;
  FzIpAddr system_dns[MAX_SYSTEM_DNS];
  guint n_system_dns;
};

enum
{
  SIG_READY,
  SIG_INTERFACE_CHANGED,
  SIG_RESOURCES_CHANGED,
  SIG_MAPPINGS_CHANGED,
  SIG_MASQUERADE,
  SIG_FATAL,
  SIG_STOPPED,
  SIG_PORTAL_CHANGED,
  SIG_RESOURCE_UNREACHABLE,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (FzTunnel, fz_tunnel, G_TYPE_OBJECT)

static void schedule (FzTunnel *self, gint64 now);

/* ---- what the policy asks for ------------------------------------- */

static void
fail (FzTunnel *self, GError *error)
{
  if (self->stopped)
    return;
  g_signal_emit (self, signals[SIG_FATAL], 0, error);
}

static void
set_routes (FzTunnel *self, const FzIpAddr *addrs, guint n_addrs, GArray *routes,
            guint32 table)
{
  g_autoptr (GError) error = NULL;

  if (!fz_netlink_set_addresses (self->nl, self->ifindex, addrs, n_addrs, &error)
      || !fz_netlink_set_routes (self->nl, self->ifindex, table,
                                 (const FzIpPrefix *) routes->data, routes->len, &error))
    {
      g_prefix_error (&error, "cannot configure %s: ", self->tun->name);
      fail (self, error);
    }
}

static void
client_interface (FzTunnel *self)
{
  const FzClientInterface *iface = fz_client_state_get_interface (self->cl);
  FzIpAddr addrs[2];
  guint n = 0;
  g_autoptr (GError) error = NULL;

  if (iface->ipv4.family != 0)
    addrs[n++] = iface->ipv4;
  if (iface->ipv6.family != 0)
    addrs[n++] = iface->ipv6;
  if (!self->rules_added)
    {
      if (!fz_netlink_add_rules (self->nl, FZ_TUNNEL_MARK, FZ_TUNNEL_TABLE,
                                 FZ_TUNNEL_RULE_PRIO, &error))
        {
          fail (self, error);
          return;
        }
      self->rules_added = TRUE;
    }
  set_routes (self, addrs, n, iface->routes, FZ_TUNNEL_TABLE);
  g_signal_emit (self, signals[SIG_INTERFACE_CHANGED], 0);
}

static gboolean
on_iface_source (gpointer data)
{
  FzTunnel *self = data;

  g_clear_pointer (&self->iface_source, g_source_unref);
  client_interface (self);
  self->iface_applied = g_get_monotonic_time ();
  return G_SOURCE_REMOVE;
}

/* Applies the interface at once, unless the last application ended less
 * than IFACE_PACE_MS ago: then once at the end of that time, with
 * whatever changed meanwhile. A portal that sends a thousand resources
 * one by one costs a few route syncs, not a thousand (each lists every
 * route and rewrites the DNS configuration; counted from its end, a
 * slow one cannot run back to back). */
static void
pace_client_interface (FzTunnel *self)
{
  gint64 now = g_get_monotonic_time ();
  gint64 next = self->iface_applied + IFACE_PACE_MS * 1000;

  if (self->iface_source != NULL)
    return;
  if (self->iface_applied == 0 || now >= next)
    {
      client_interface (self);
      self->iface_applied = g_get_monotonic_time ();
      return;
    }
  self->iface_source = g_timeout_source_new ((next - now + 999) / 1000);
  g_source_set_callback (self->iface_source, on_iface_source, self, NULL);
  g_source_attach (self->iface_source, self->ctx);
}

static void
gateway_interface (FzTunnel *self, const FzGatewayEvent *e)
{
  g_autoptr (GArray) routes = g_array_new (FALSE, FALSE, sizeof (FzIpPrefix));
  FzIpAddr addrs[2];
  FzIpPrefix p;
  guint n = 0;

  if (e->ipv4.family != 0)
    addrs[n++] = e->ipv4;
  if (e->ipv6.family != 0)
    addrs[n++] = e->ipv6;
  if (fz_ip_prefix_parse (&p, "100.64.0.0/11"))
    g_array_append_val (routes, p);
  if (fz_ip_prefix_parse (&p, "fd00:2021:1111::/107"))
    g_array_append_val (routes, p);
  set_routes (self, addrs, n, routes, 254 /* main */);
  if (!self->ready)
    {
      self->ready = TRUE;
      g_signal_emit (self, signals[SIG_READY], 0);
    }
}

static void
on_dns_answer (gpointer data, guint64 request, const guint8 *msg, gsize len)
{
  FzTunnel *self = data;
  gint64 now = g_get_monotonic_time ();

  if (self->cl != NULL)
    fz_client_state_upstream_answer (self->cl, request, msg, len, now);
  else if (self->gw != NULL)
    fz_gateway_state_dns_answer (self->gw, request, msg, len, now);
  schedule (self, now);
}

/* The gateway's own resolver for clients' SRV and TXT queries: the
 * first nameserver of /etc/resolv.conf. */
static gboolean
system_resolver (FzSockAddr *out)
{
  g_autofree char *text = NULL;
  FzIpAddr addr;

  if (!g_file_get_contents ("/etc/resolv.conf", &text, NULL, NULL)
      || fz_resolv_conf_nameservers (text, &addr, 1) == 0)
    return FALSE;
  out->ip = addr;
  out->port = 53;
  return TRUE;
}

typedef struct
{
  FzTunnel *self; /* a weak pointer: the tunnel may be gone when it ends */
  guint64 request;
  GSource *timeout;
  GCancellable *cancel;
} Resolution;

static void
resolution_free (Resolution *r)
{
  g_source_destroy (r->timeout);
  g_source_unref (r->timeout);
  g_object_unref (r->cancel);
  g_clear_weak_pointer (&r->self);
  g_free (r);
}

static void
on_resolved (GObject *src, GAsyncResult *res, gpointer data)
{
  Resolution *r = data;
  g_autoptr (GError) error = NULL;
  GList *list = g_resolver_lookup_by_name_finish (G_RESOLVER (src), res, &error);
  FzIpAddr addrs[64];
  guint n = 0;

  for (GList *l = list; l != NULL && n < G_N_ELEMENTS (addrs); l = l->next)
    {
      g_autofree char *s = g_inet_address_to_string (l->data);
      if (fz_ip_addr_parse (&addrs[n], s))
        n++;
    }
  g_resolver_free_addresses (list);
  if (r->self != NULL && r->self->gw != NULL)
    {
      gint64 now = g_get_monotonic_time ();
      fz_gateway_state_resolved (r->self->gw, r->request, addrs, n, now);
      schedule (r->self, now);
    }
  resolution_free (r);
}

static gboolean
on_resolve_timeout (gpointer data)
{
  Resolution *r = data;

  g_cancellable_cancel (r->cancel);
  return G_SOURCE_REMOVE;
}

static void
resolve (FzTunnel *self, guint64 request, const char *domain)
{
  Resolution *r = g_new0 (Resolution, 1);

  g_set_weak_pointer (&r->self, self);
  r->request = request;
  r->cancel = g_cancellable_new ();
  g_signal_connect_object (self->resolving, "cancelled",
                           G_CALLBACK (g_cancellable_cancel), r->cancel,
                           G_CONNECT_SWAPPED);
  r->timeout = g_timeout_source_new (FZ_GATEWAY_RESOLVE_TIMEOUT / 1000);
  g_source_set_callback (r->timeout, on_resolve_timeout, r, NULL);
  g_source_attach (r->timeout, self->ctx);
  g_resolver_lookup_by_name_async (self->resolver, domain, r->cancel, on_resolved, r);
}

static void
client_event (FzTunnel *self, FzClientEvent *e)
{
  switch (e->type)
    {
    case FZ_CLIENT_EVENT_INTERFACE: pace_client_interface (self); break;
    case FZ_CLIENT_EVENT_RESOURCES:
      if (!self->ready)
        {
          /* "ready" means the routes and DNS are in place: an application
           * the pacing put off happens now. */
          if (self->iface_source != NULL)
            {
              g_source_destroy (self->iface_source);
              on_iface_source (self);
            }
          self->ready = TRUE;
          g_signal_emit (self, signals[SIG_READY], 0);
        }
      g_signal_emit (self, signals[SIG_RESOURCES_CHANGED], 0);
      break;
    case FZ_CLIENT_EVENT_MAPPINGS:
      {
        g_autofree char *json = fz_client_state_save_mappings (self->cl);
        g_signal_emit (self, signals[SIG_MAPPINGS_CHANGED], 0, json);
      }
      break;
    case FZ_CLIENT_EVENT_UPSTREAM_DNS:
      fz_dns_forwarder_query (self->dns, e->request, e->query, &e->server, e->tcp);
      break;
    case FZ_CLIENT_EVENT_RESOURCE_UNREACHABLE:
      g_message ("resource %s unreachable: %s", e->resource_id, e->reason);
      g_signal_emit (self, signals[SIG_RESOURCE_UNREACHABLE], 0, e->resource_id,
                     e->reason);
      break;
    case FZ_CLIENT_EVENT_FATAL:
      {
        g_autoptr (GError) error
          = g_error_new (G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, "%s", e->reason);
        fail (self, error);
      }
      break;
    }
}

static void
gateway_event (FzTunnel *self, FzGatewayEvent *e)
{
  FzSockAddr server;

  switch (e->type)
    {
    case FZ_GATEWAY_EVENT_INTERFACE: gateway_interface (self, e); break;
    case FZ_GATEWAY_EVENT_MASQUERADE:
      g_signal_emit (self, signals[SIG_MASQUERADE], 0, e->masquerade_v4,
                     e->masquerade_v6);
      break;
    case FZ_GATEWAY_EVENT_RESOLVE: resolve (self, e->request, e->domain); break;
    case FZ_GATEWAY_EVENT_DNS_QUERY:
      if (system_resolver (&server))
        fz_dns_forwarder_query (self->dns, e->request, e->query, &server, FALSE);
      else
        fz_gateway_state_dns_answer (self->gw, e->request, NULL, 0,
                                     g_get_monotonic_time ());
      break;
    case FZ_GATEWAY_EVENT_FATAL:
      {
        g_autoptr (GError) error
          = g_error_new (G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, "%s", e->reason);
        fail (self, error);
      }
      break;
    }
}

/* ---- the core's queues -------------------------------------------- */

static void
drain_portal (FzTunnel *self)
{
  FzPortalMessage *m;

  while ((m = self->cl != NULL ? fz_client_state_poll_portal (self->cl)
                               : fz_gateway_state_poll_portal (self->gw))
         != NULL)
    {
      if (self->channel != NULL)
        fz_portal_channel_send (self->channel, m);
      fz_portal_message_free (m);
    }
}

static void
drain_events (FzTunnel *self)
{
  if (self->cl != NULL)
    {
      FzClientEvent e;
      while (self->cl != NULL && fz_client_state_poll_event (self->cl, &e))
        {
          client_event (self, &e);
          fz_client_event_clear (&e);
        }
    }
  else
    {
      FzGatewayEvent e;
      while (self->gw != NULL && fz_gateway_state_poll_event (self->gw, &e))
        {
          gateway_event (self, &e);
          fz_gateway_event_clear (&e);
        }
    }
}

static void
drain_packets (FzTunnel *self)
{
  FzNodeTransmit tx;
  FzPacketBuf *b;

  while ((b = self->cl != NULL ? fz_client_state_poll_tun (self->cl)
                               : fz_gateway_state_poll_tun (self->gw))
         != NULL)
    fz_io_loop_queue_tun (self->io, b);
  while (self->cl != NULL ? fz_client_state_poll_transmit (self->cl, &tx)
                          : fz_gateway_state_poll_transmit (self->gw, &tx))
    {
      FzUdpTransmit u = { .src = tx.src, .dst = tx.dst, .buf = tx.buf, .ecn = tx.ecn };
      fz_io_loop_queue_datagram (self->io, &u);
    }
  fz_io_loop_flush (self->io);
}

/* Everything an input caused: messages, events (which may cause more
 * packets), packets, then the next deadline. */
static void
schedule (FzTunnel *self, gint64 now)
{
  gint64 t;

  if (self->cl == NULL && self->gw == NULL)
    return;
  drain_portal (self);
  drain_events (self);
  if (self->cl == NULL && self->gw == NULL)
    return;
  drain_portal (self);
  drain_packets (self);
  t = self->cl != NULL ? fz_client_state_poll_timeout (self->cl)
                       : fz_gateway_state_poll_timeout (self->gw);
  /* GLib's ready time is in the same monotonic microseconds. */
  g_source_set_ready_time (self->timer, t == G_MAXINT64 ? -1 : MAX (t, now));
}

static gboolean
on_timer (gpointer data)
{
  FzTunnel *self = data;
  gint64 now = g_get_monotonic_time ();

  if (self->cl != NULL)
    fz_client_state_handle_timeout (self->cl, now);
  else if (self->gw != NULL)
    fz_gateway_state_handle_timeout (self->gw, now);
  schedule (self, now);
  return G_SOURCE_CONTINUE;
}

/* ---- I/O ------------------------------------------------------------ */

static void
on_tun_batch (gpointer data, FzBatch *b, gint64 now)
{
  FzTunnel *self = data;

  for (guint i = 0; i < b->n; i++)
    {
      if (self->cl != NULL)
        fz_client_state_handle_tun (self->cl, b->bufs[i], now);
      else if (self->gw != NULL)
        fz_gateway_state_handle_tun (self->gw, b->bufs[i], now);
      else
        fz_packet_buf_free (b->bufs[i]);
    }
  b->n = 0;
}

static void
on_udp_batch (gpointer data, FzBatch *b, gint64 now)
{
  FzTunnel *self = data;

  for (guint i = 0; i < b->n; i++)
    {
      FzSockAddr *local = &b->local[i];

      if (self->cl != NULL)
        fz_client_state_handle_datagram (self->cl, local, &b->from[i], b->bufs[i], now);
      else if (self->gw != NULL)
        fz_gateway_state_handle_datagram (self->gw, local, &b->from[i], b->bufs[i], now);
      else
        fz_packet_buf_free (b->bufs[i]);
    }
  b->n = 0;
}

static void
on_flush (gpointer data, gint64 now)
{
  schedule (data, now);
}

static void
on_tun_gone (gpointer data, int err)
{
  FzTunnel *self = data;
  g_autoptr (GError) error
    = g_error_new (G_IO_ERROR, g_io_error_from_errno (err), "interface %s went away (%s)",
                   self->tun->name, g_strerror (err));
  fail (self, error);
}

/* The addresses of the other interfaces, with our port: host candidates. */
static void
add_host_addresses (FzTunnel *self, gint64 now)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) addrs = fz_netlink_host_addresses (self->nl, self->ifindex, &error);

  if (addrs == NULL)
    {
      g_message ("cannot list this host's addresses: %s", error->message);
      return;
    }
  for (guint i = 0; i < addrs->len; i++)
    {
      FzSockAddr sa = { .ip = g_array_index (addrs, FzIpAddr, i),
                        .port = fz_io_loop_get_port (self->io) };
      if (fz_io_loop_get_socket (self->io, sa.ip.family) != NULL)
        fz_node_add_host_address (self->node, &sa, now);
    }
}

/* Another interface's addresses or links changed: a client starts its
 * connections over (its paths may be gone), a gateway offers the new
 * addresses too. */
static void
on_network_changed (gpointer data)
{
  FzTunnel *self = data;
  gint64 now = g_get_monotonic_time ();

  g_message ("the network changed");
  if (self->cl != NULL)
    {
      fz_tunnel_reset (self);
      return;
    }
  if (self->node != NULL)
    add_host_addresses (self, now);
  schedule (self, now);
}

/* ---- the portal ------------------------------------------------------ */

static void
on_portal_message (FzPortalChannel *ch, FzPortalMessage *m, gpointer data)
{
  FzTunnel *self = data;
  gint64 now = g_get_monotonic_time ();

  if (self->cl != NULL)
    fz_client_state_handle_portal (self->cl, m, now);
  else if (self->gw != NULL)
    fz_gateway_state_handle_portal (self->gw, m, now);
  schedule (self, now);
}

static void
on_portal_state (FzPortalChannel *ch, FzPortalChannelState state, gpointer data)
{
  FzTunnel *self = data;

  g_info ("portal: %s", fz_portal_channel_state_name (state));
  g_signal_emit (self, signals[SIG_PORTAL_CHANGED], 0);
  if (state == FZ_PORTAL_CHANNEL_FAILED)
    {
      g_autoptr (GError) error = g_error_copy (fz_portal_channel_get_error (ch));
      g_prefix_error (&error, "portal: ");
      fail (self, error);
    }
}

static char *
user_agent (const char *component)
{
  struct utsname u;
  g_autofree char *os_version = NULL;
  g_autofree char *os_release = NULL;

  if (uname (&u) < 0)
    memset (&u, 0, sizeof u);
  if (g_file_get_contents ("/etc/debian_version", &os_release, NULL, NULL))
    os_version = g_strdup (g_strstrip (os_release));
  return fz_portal_user_agent ("Linux", os_version != NULL ? os_version : "unknown",
                               component, fz_version (), u.machine, u.release);
}

static gboolean
open_channel (FzTunnel *self, const FzTunnelConfig *config, GError **error)
{
  FzPortalUrlParams params = {
    .external_id = config->device_id,
    .name = config->name,
    .public_key = fz_node_public_key (self->node),
  };
  g_autofree char *url = NULL;
  g_autofree char *ua = user_agent (
    config->component != NULL
      ? config->component
      : (self->role == FZ_TUNNEL_ROLE_GATEWAY ? "gateway" : "headless-client"));
  FzPortalChannelConfig cc = {
    .token = config->token,
    .user_agent = ua,
    .role = self->role == FZ_TUNNEL_ROLE_GATEWAY ? FZ_PORTAL_ROLE_GATEWAY
                                                 : FZ_PORTAL_ROLE_CLIENT,
    .budget = G_MAXINT64, /* the daemons keep trying */
    .ca_file = config->ca_file,
    .fwmark = FZ_TUNNEL_MARK, /* past the client's routes, as our UDP sockets */
  };

  url = fz_portal_url (config->api_url, self->role == FZ_TUNNEL_ROLE_GATEWAY, &params,
                       error);
  if (url == NULL)
    return FALSE;
  cc.url = url;
  self->channel = fz_portal_channel_new (&cc, error);
  if (self->channel == NULL)
    return FALSE;
  g_signal_connect (self->channel, "message", G_CALLBACK (on_portal_message), self);
  g_signal_connect (self->channel, "state-changed", G_CALLBACK (on_portal_state), self);
  return TRUE;
}

/* ---- construction ---------------------------------------------------- */

static gboolean
open_tun (FzTunnel *self, const char *name, GError **error)
{
  g_autoptr (GError) tun_error = NULL;

  self->tun = fz_tun_open_multi (name != NULL ? name : "tun-fz", TRUE, 1, &tun_error);
  if (self->tun == NULL)
    {
      if (g_error_matches (tun_error, G_IO_ERROR, G_IO_ERROR_BUSY))
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                     "%s (is another client or gateway running?)", tun_error->message);
      else
        g_propagate_error (error, g_steal_pointer (&tun_error));
      return FALSE;
    }
  self->nl = fz_netlink_new (error);
  if (self->nl == NULL)
    return FALSE;
  self->ifindex = fz_netlink_link_index (self->nl, self->tun->name, error);
  if (self->ifindex <= 0)
    return FALSE;
  return fz_netlink_link_up (self->nl, self->ifindex, FZ_TUNNEL_MTU, FZ_TUN_TXQUEUELEN,
                             error);
}

static gboolean
make_state (FzTunnel *self, const FzTunnelConfig *config, GError **error)
{
  guint8 key[FZ_WG_KEY_LEN];
  gint64 now = g_get_monotonic_time (), wall = g_get_real_time ();
  g_autoptr (GError) bad = NULL;

  fz_rng_fill (fz_rng_system (), key, sizeof key);
  fz_wg_clamp_private_key (key);
  if (self->role == FZ_TUNNEL_ROLE_GATEWAY)
    {
      self->gw = fz_gateway_state_new (key, fz_rng_system (), self->pool, wall, now);
      self->node = fz_gateway_state_get_node (self->gw);
      fz_node_set_under_load_threshold (self->node, GATEWAY_UNDER_LOAD);
    }
  else
    {
      self->cl = fz_client_state_new (key, fz_rng_system (), self->pool, config->mappings,
                                      now, &bad);
      if (self->cl == NULL)
        {
          g_message ("the saved proxy-IP mappings are not usable (%s); starting without",
                     bad->message);
          self->cl
            = fz_client_state_new (key, fz_rng_system (), self->pool, NULL, now, error);
        }
      if (self->cl == NULL)
        {
          sodium_memzero (key, sizeof key);
          return FALSE;
        }
      self->node = fz_client_state_get_node (self->cl);
      fz_node_set_wall_clock (self->node, wall, now);
      fz_client_state_set_internet_resource_enabled (self->cl, config->internet_resource,
                                                     now);
    }
  sodium_memzero (key, sizeof key);
  fz_node_set_mtu (self->node, FZ_TUNNEL_MTU);
  return TRUE;
}

/* Our port, or any other when it is taken (the same for both families). */
static gboolean
listen_on (FzTunnel *self, guint16 port, GError **error)
{
  g_autoptr (GError) taken = NULL;

  if (fz_io_loop_listen (self->io, port, &taken))
    return TRUE;
  g_message ("UDP port %u: %s; using another port", port, taken->message);
  return fz_io_loop_listen (self->io, 0, error);
}

FzTunnel *
fz_tunnel_new (const FzTunnelConfig *config, GError **error)
{
  g_autoptr (FzTunnel) self = g_object_new (FZ_TYPE_TUNNEL, NULL);
  g_autoptr (GError) buffers = NULL;
  g_autoptr (GError) watch = NULL;
  FzIoLoopCallbacks cb = {
    .tun_batch = on_tun_batch,
    .udp_batch = on_udp_batch,
    .flush = on_flush,
    .tun_gone = on_tun_gone,
  };

  g_return_val_if_fail (config->api_url != NULL && config->token != NULL, NULL);
  self->ctx = g_main_context_ref_thread_default ();
  self->role = config->role;
  self->pool = fz_buf_pool_new (POOL_CAPACITY, POOL_CACHED);
  if (!open_tun (self, config->tun_name, error) || !make_state (self, config, error))
    return NULL;
  if (!fz_udp_raise_buffer_limits (&buffers))
    g_message ("socket buffers stay small: %s", buffers->message);
  self->timer = fz_deadline_source_new ();
  g_source_set_callback (self->timer, on_timer, self, NULL);
  g_source_attach (self->timer, self->ctx);
  self->io = fz_io_loop_new (self->ctx, self->tun, &cb, self);
  if (!fz_io_loop_set_mark (self->io, FZ_TUNNEL_MARK, error)
      || !listen_on (self, config->port != 0 ? config->port : FZ_TUNNEL_PORT, error)
      || !open_channel (self, config, error))
    return NULL;
  fz_io_loop_start (self->io);
  self->dns = fz_dns_forwarder_new (self->ctx, on_dns_answer, self);
  self->resolver = g_resolver_get_default ();
  self->resolving = g_cancellable_new ();
  add_host_addresses (self, g_get_monotonic_time ());
  self->monitor
    = fz_netlink_monitor_new (self->ifindex, on_network_changed, self, &watch);
  if (self->monitor == NULL)
    g_message ("network changes will go unnoticed: %s", watch->message);
  return g_steal_pointer (&self);
}

void
fz_tunnel_start (FzTunnel *self)
{
  fz_portal_channel_start (self->channel);
  schedule (self, g_get_monotonic_time ());
}

/* ---- stopping ------------------------------------------------------- */

static void
teardown (FzTunnel *self)
{
  g_clear_pointer (&self->monitor, fz_netlink_monitor_free);
  if (self->channel != NULL)
    fz_portal_channel_stop (self->channel);
  g_clear_object (&self->channel);
  if (self->resolving != NULL)
    g_cancellable_cancel (self->resolving);
  g_clear_pointer (&self->dns, fz_dns_forwarder_free);
  g_clear_pointer (&self->io, fz_io_loop_free);
  g_clear_pointer (&self->cl, fz_client_state_free);
  g_clear_pointer (&self->gw, fz_gateway_state_free);
  self->node = NULL;
  if (self->rules_added)
    fz_netlink_remove_rules (self->nl, FZ_TUNNEL_MARK, FZ_TUNNEL_TABLE,
                             FZ_TUNNEL_RULE_PRIO);
  self->rules_added = FALSE;
  /* Closing the TUN deletes the interface, and its routes with it. */
  g_clear_pointer (&self->tun, fz_tun_close);
  if (self->timer != NULL)
    g_source_destroy (self->timer);
  g_clear_pointer (&self->timer, g_source_unref);
  if (self->iface_source != NULL)
    g_source_destroy (self->iface_source);
  g_clear_pointer (&self->iface_source, g_source_unref);
}

static gboolean
on_stop_grace (gpointer data)
{
  FzTunnel *self = data;

  g_clear_pointer (&self->stop_source, g_source_unref);
  teardown (self);
  self->stopped = TRUE;
  g_signal_emit (self, signals[SIG_STOPPED], 0);
  return G_SOURCE_REMOVE;
}

void
fz_tunnel_stop (FzTunnel *self)
{
  gint64 now = g_get_monotonic_time ();

  if (self->stopping)
    return;
  self->stopping = TRUE;
  if (self->cl != NULL)
    fz_client_state_shutdown (self->cl, now);
  else if (self->gw != NULL)
    fz_gateway_state_shutdown (self->gw, now);
  if (self->io != NULL)
    drain_packets (self); /* the goodbyes */
  /* The portal's channel flushes on its own; leave it a moment. */
  self->stop_source = g_timeout_source_new (STOP_GRACE_MS);
  g_source_set_callback (self->stop_source, on_stop_grace, self, NULL);
  g_source_attach (self->stop_source, self->ctx);
}

/* ---- accessors ------------------------------------------------------ */

const char *
fz_tunnel_get_interface_name (FzTunnel *self)
{
  return self->tun != NULL ? self->tun->name : NULL;
}

int
fz_tunnel_get_ifindex (FzTunnel *self)
{
  return self->ifindex;
}

guint16
fz_tunnel_get_port (FzTunnel *self)
{
  return self->io != NULL ? fz_io_loop_get_port (self->io) : 0;
}

gboolean
fz_tunnel_is_ready (FzTunnel *self)
{
  return self->ready;
}

GStrv
fz_tunnel_get_dns_servers (FzTunnel *self)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  const FzClientInterface *iface;

  if (self->cl == NULL || !self->ready)
    return NULL;
  iface = fz_client_state_get_interface (self->cl);
  for (guint i = 0; iface->dns_sentinels != NULL && i < iface->dns_sentinels->len; i++)
    {
      char buf[FZ_IP_ADDR_STRLEN];
      g_strv_builder_add (b, fz_ip_addr_to_string (
                               &g_array_index (iface->dns_sentinels, FzIpAddr, i), buf));
    }
  return g_strv_builder_end (b);
}

char *
fz_tunnel_get_search_domain (FzTunnel *self)
{
  if (self->cl == NULL)
    return NULL;
  return g_strdup (fz_client_state_get_interface (self->cl)->search_domain);
}

void
fz_tunnel_set_system_dns (FzTunnel *self, const char *const *servers)
{
  self->n_system_dns = 0;
  for (guint i = 0;
       servers != NULL && servers[i] != NULL && self->n_system_dns < MAX_SYSTEM_DNS; i++)
    if (fz_ip_addr_parse (&self->system_dns[self->n_system_dns], servers[i]))
      self->n_system_dns++;
  if (self->cl != NULL)
    fz_client_state_set_system_dns (self->cl, self->system_dns, self->n_system_dns);
}

guint
fz_tunnel_get_n_resources (FzTunnel *self)
{
  return self->cl != NULL ? fz_client_state_get_resources (self->cl)->len : 0;
}

gboolean
fz_tunnel_is_portal_joined (FzTunnel *self)
{
  return self->channel != NULL
         && fz_portal_channel_get_state (self->channel) == FZ_PORTAL_CHANNEL_JOINED;
}

GStrv
fz_tunnel_get_addresses (FzTunnel *self)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  const FzClientInterface *iface;
  char buf[FZ_IP_ADDR_STRLEN];

  if (self->cl == NULL || !self->ready)
    return g_strv_builder_end (b);
  iface = fz_client_state_get_interface (self->cl);
  if (iface->ipv4.family != 0)
    g_strv_builder_add (b, fz_ip_addr_to_string (&iface->ipv4, buf));
  if (iface->ipv6.family != 0)
    g_strv_builder_add (b, fz_ip_addr_to_string (&iface->ipv6, buf));
  return g_strv_builder_end (b);
}

static const char *
resource_type_name (FzResourceType type)
{
  switch (type)
    {
    case FZ_RESOURCE_DNS: return "dns";
    case FZ_RESOURCE_CIDR: return "cidr";
    case FZ_RESOURCE_INTERNET: return "internet";
    }
  return "unknown";
}

static const char *
site_status_name (FzClientSiteStatus status)
{
  switch (status)
    {
    case FZ_CLIENT_SITE_ONLINE: return "online";
    case FZ_CLIENT_SITE_OFFLINE: return "offline";
    case FZ_CLIENT_SITE_UNKNOWN: break;
    }
  return "unknown";
}

GVariant *
fz_tunnel_dup_resources (FzTunnel *self)
{
  GVariantBuilder list;
  GArray *views = self->cl != NULL ? fz_client_state_get_resources (self->cl) : NULL;

  g_variant_builder_init (&list, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; views != NULL && i < views->len; i++)
    {
      const FzClientResourceView *v = &g_array_index (views, FzClientResourceView, i);
      const FzResource *r = v->resource;
      GVariantBuilder d;

      g_variant_builder_init (&d, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&d, "{sv}", "id", g_variant_new_string (r->id));
      g_variant_builder_add (&d, "{sv}", "name", g_variant_new_string (r->name));
      g_variant_builder_add (&d, "{sv}", "type",
                             g_variant_new_string (resource_type_name (r->type)));
      if (r->address != NULL)
        g_variant_builder_add (&d, "{sv}", "address", g_variant_new_string (r->address));
      if (r->address_description != NULL)
        g_variant_builder_add (&d, "{sv}", "address_description",
                               g_variant_new_string (r->address_description));
      if (r->sites != NULL && r->sites->len > 0)
        g_variant_builder_add (
          &d, "{sv}", "site_name",
          g_variant_new_string (g_array_index (r->sites, FzSite, 0).name));
      g_variant_builder_add (&d, "{sv}", "site_status",
                             g_variant_new_string (site_status_name (v->status)));
      g_variant_builder_add (&d, "{sv}", "can_be_disabled",
                             g_variant_new_boolean (r->can_be_disabled));
      g_variant_builder_add_value (&list, g_variant_builder_end (&d));
    }
  return g_variant_ref_sink (g_variant_builder_end (&list));
}

void
fz_tunnel_set_internet_resource_enabled (FzTunnel *self, gboolean on)
{
  if (self->cl == NULL)
    return;
  fz_client_state_set_internet_resource_enabled (self->cl, on, g_get_monotonic_time ());
  schedule (self, g_get_monotonic_time ());
}

void
fz_tunnel_reset (FzTunnel *self)
{
  gint64 now = g_get_monotonic_time ();

  if (self->cl == NULL)
    return;
  fz_client_state_reset (self->cl, now);
  /* New connections need the portal, whose TCP may be dead too. */
  if (self->channel != NULL)
    fz_portal_channel_reconnect (self->channel);
  add_host_addresses (self, now);
  schedule (self, now);
}

char *
fz_tunnel_describe (FzTunnel *self)
{
  const char *portal
    = self->channel != NULL
        ? fz_portal_channel_state_name (fz_portal_channel_get_state (self->channel))
        : "stopped";

  if (self->gw != NULL)
    return g_strdup_printf ("gateway: portal %s, %u clients, %u connections", portal,
                            fz_gateway_state_n_clients (self->gw),
                            fz_node_n_connections (self->node));
  if (self->cl != NULL)
    return g_strdup_printf ("client: portal %s, %u resources, %u gateways", portal,
                            fz_tunnel_get_n_resources (self),
                            fz_node_n_connections (self->node));
  return g_strdup ("stopped");
}

/* ---- GObject -------------------------------------------------------- */

static void
fz_tunnel_finalize (GObject *object)
{
  FzTunnel *self = FZ_TUNNEL (object);

  if (self->stop_source != NULL)
    g_source_destroy (self->stop_source);
  g_clear_pointer (&self->stop_source, g_source_unref);
  teardown (self);
  g_clear_object (&self->resolving);
  g_clear_object (&self->resolver);
  g_clear_pointer (&self->nl, fz_netlink_free);
  g_clear_pointer (&self->pool, fz_buf_pool_free);
  g_clear_pointer (&self->ctx, g_main_context_unref);
  G_OBJECT_CLASS (fz_tunnel_parent_class)->finalize (object);
}

static void
fz_tunnel_class_init (FzTunnelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = fz_tunnel_finalize;
  signals[SIG_READY]
    = g_signal_new ("ready", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 0);
  signals[SIG_INTERFACE_CHANGED]
    = g_signal_new ("interface-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                    NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIG_RESOURCES_CHANGED]
    = g_signal_new ("resources-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                    NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIG_MAPPINGS_CHANGED]
    = g_signal_new ("mappings-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                    NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIG_MASQUERADE]
    = g_signal_new ("masquerade", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                    NULL, NULL, G_TYPE_NONE, 2, G_TYPE_BOOLEAN, G_TYPE_BOOLEAN);
  signals[SIG_FATAL]
    = g_signal_new ("fatal", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
  signals[SIG_STOPPED]
    = g_signal_new ("stopped", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                    NULL, NULL, G_TYPE_NONE, 0);
  signals[SIG_PORTAL_CHANGED]
    = g_signal_new ("portal-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                    NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIG_RESOURCE_UNREACHABLE]
    = g_signal_new ("resource-unreachable", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                    0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
}

static void
fz_tunnel_init (FzTunnel *self)
{
}
