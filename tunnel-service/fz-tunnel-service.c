#include "fz-tunnel-service.h"

#include "fz-authorizer.h"
#include "fz-connect-options.h"
#include "fz-dbus-tunnel1.h"
#include "fz-tunnel-host.h"
#include <string.h>

#undef G_LOG_DOMAIN
#define G_LOG_DOMAIN "fz-tunnel"

#define DEFAULT_API_URL "wss://api.firezone.dev"
#define RESOLV_BACKUP   "resolv.conf.before-libfz"
#define ERROR_PREFIX    "dev.libfz.Tunnel1.Error."
#define CONTROL_ACTION  "dev.libfz.tunnel.control"

struct _FzTunnelService
{
  GObject parent;
  GMainContext *ctx;
  FzDBusTunnel1 *skeleton;
  FzAuthorizer *authorizer;  /* who may call the methods */
  GCancellable *cancellable; /* the checks in flight, cancelled at shutdown */
  FzTunnel *tunnel;
  GDBusMethodInvocation *disconnecting; /* a Disconnect waiting for "stopped" */
  char *state_dir, *resolv_conf, *resolv_backup, *device_id;
  FzDnsControlMode dns_mode;
  gboolean dns_set, internet_resource, fatal, requires_sign_in;
  char *last_error;
  char *account_slug;      /* Connect's, for the log */
  GHashTable *unreachable; /* "id reason" → when last signalled, monotonic s + 1 */
  GSource *flush;          /* the pending property update */
};

G_DEFINE_FINAL_TYPE (FzTunnelService, fz_tunnel_service, G_TYPE_OBJECT)

enum
{
  SIG_IDLE,
  N_SIGNALS,
};
static guint signals[N_SIGNALS];

/* ---- properties, coalesced ------------------------------------------ */

static const char *
state_name (FzTunnelService *self)
{
  if (self->tunnel == NULL)
    return "disconnected";
  if (!fz_tunnel_is_ready (self->tunnel))
    return "connecting";
  return fz_tunnel_is_portal_joined (self->tunnel) ? "connected" : "reconnecting";
}

/* Sets every property at once: the skeleton sends the ones that changed
 * in one PropertiesChanged from its next idle. */
static gboolean
on_flush (gpointer data)
{
  FzTunnelService *self = data;
  FzDBusTunnel1 *s = self->skeleton;
  g_autoptr (GVariant) resources = NULL;
  g_auto (GStrv) addresses = NULL;

  g_clear_pointer (&self->flush, g_source_unref);
  if (self->tunnel != NULL)
    {
      resources = fz_tunnel_dup_resources (self->tunnel);
      addresses = fz_tunnel_get_addresses (self->tunnel);
    }
  else
    resources = g_variant_ref_sink (g_variant_new ("aa{sv}", NULL));
  fz_dbus_tunnel1_set_state (s, state_name (self));
  fz_dbus_tunnel1_set_resources (s, resources);
  fz_dbus_tunnel1_set_tunnel_addresses (s, addresses != NULL
                                             ? (const char *const *) addresses
                                             : (const char *const[]){ NULL });
  fz_dbus_tunnel1_set_internet_resource_enabled (s, self->internet_resource);
  fz_dbus_tunnel1_set_last_error (s, self->last_error != NULL ? self->last_error : "");
  return G_SOURCE_REMOVE;
}

/* At most one update per period: a change while one is pending rides
 * along with it. */
static void
schedule_flush (FzTunnelService *self)
{
  if (self->flush != NULL)
    return;
  self->flush = g_timeout_source_new (FZ_TUNNEL_SERVICE_COALESCE_MS);
  g_source_set_callback (self->flush, on_flush, self, NULL);
  g_source_attach (self->flush, self->ctx);
}

/* Before a method's reply: a caller that reads the properties next sees
 * what the call did, not the value from before the pending flush. */
static void
flush_now (FzTunnelService *self)
{
  if (self->flush != NULL)
    g_source_destroy (self->flush);
  on_flush (self);
}

/* ---- the tunnel ------------------------------------------------------ */

static void
revert_dns (FzTunnelService *self)
{
  g_autoptr (GError) error = NULL;

  if (!self->dns_set)
    return;
  if (!fz_dns_control_revert (self->dns_mode, self->resolv_conf, self->resolv_backup,
                              fz_tunnel_get_ifindex (self->tunnel), &error))
    g_message ("DNS: %s", error->message);
  self->dns_set = FALSE;
}

static void
on_interface (FzTunnel *tunnel, FzTunnelService *self)
{
  g_auto (GStrv) servers = fz_tunnel_get_dns_servers (tunnel);
  g_autofree char *search = fz_tunnel_get_search_domain (tunnel);
  g_autoptr (GError) error = NULL;

  schedule_flush (self);
  if (self->dns_mode == FZ_DNS_CONTROL_DISABLED || servers == NULL)
    return;
  if (!fz_dns_control_set (self->dns_mode, self->resolv_conf, self->resolv_backup,
                           fz_tunnel_get_ifindex (tunnel), (const char *const *) servers,
                           search, &error))
    {
      g_message ("DNS: %s", error->message);
      return;
    }
  self->dns_set = TRUE;
}

static void
on_ready (FzTunnel *tunnel, FzTunnelService *self)
{
  on_interface (tunnel, self); /* the sentinels are known now */
  g_message ("tunnel up with %u resources", fz_tunnel_get_n_resources (tunnel));
}

static void
on_changed (FzTunnel *tunnel, FzTunnelService *self)
{
  schedule_flush (self);
}

/* A name that became a resource must not come from resolved's cache. */
static void
on_resources_dns (FzTunnel *tunnel, FzTunnelService *self)
{
  if (self->dns_set)
    fz_dns_control_flush (self->dns_mode);
}

/* At most once a minute for the same resource and reason: a client
 * retrying a resource whose gateways are offline asks the portal again
 * and again; a notification a minute is plenty. */
#define UNREACHABLE_QUIET_S 60
#define UNREACHABLE_MAX     4096

static void
on_unreachable (FzTunnel *tunnel, const char *id, const char *reason,
                FzTunnelService *self)
{
  g_autofree char *key = g_strdup_printf ("%s %s", id, reason);
  /* Seconds, 1 or more: a pointer's worth, never NULL. */
  guint now = (guint) (g_get_monotonic_time () / G_USEC_PER_SEC) + 1;
  guint last = GPOINTER_TO_UINT (g_hash_table_lookup (self->unreachable, key));

  if (last != 0 && now - last < UNREACHABLE_QUIET_S)
    return;
  if (g_hash_table_size (self->unreachable) >= UNREACHABLE_MAX)
    g_hash_table_remove_all (self->unreachable);
  g_hash_table_insert (self->unreachable, g_steal_pointer (&key), GUINT_TO_POINTER (now));
  fz_dbus_tunnel1_emit_resource_unreachable (self->skeleton, id, reason);
}

static void
on_mappings (FzTunnel *tunnel, const char *json, FzTunnelService *self)
{
  fz_tunnel_host_save_mappings (self->state_dir, json);
}

static void
on_fatal (FzTunnel *tunnel, const GError *error, FzTunnelService *self)
{
  g_message ("the tunnel ends: %s", error->message);
  g_free (self->last_error);
  self->last_error = g_strdup (error->message);
  self->fatal = TRUE;
  self->requires_sign_in = g_error_matches (error, FZ_PORTAL_CHANNEL_ERROR,
                                            FZ_PORTAL_CHANNEL_ERROR_UNAUTHORIZED)
                           || g_error_matches (error, FZ_PORTAL_CHANNEL_ERROR,
                                               FZ_PORTAL_CHANNEL_ERROR_TOKEN_EXPIRED);
  revert_dns (self);
  fz_tunnel_stop (tunnel);
}

static void
on_stopped (FzTunnel *tunnel, FzTunnelService *self)
{
  revert_dns (self);
  g_signal_handlers_disconnect_by_data (tunnel, self);
  g_clear_object (&self->tunnel);
  g_message ("tunnel stopped");
  if (self->fatal)
    fz_dbus_tunnel1_emit_disconnected (self->skeleton, self->last_error,
                                       self->requires_sign_in);
  self->fatal = FALSE;
  flush_now (self);
  if (self->disconnecting != NULL)
    fz_dbus_tunnel1_complete_disconnect (self->skeleton,
                                         g_steal_pointer (&self->disconnecting));
  g_signal_emit (self, signals[SIG_IDLE], 0);
}

static gboolean
start_tunnel (FzTunnelService *self, const char *token, const char *api_url,
              GError **error)
{
  g_autofree char *mappings = fz_tunnel_host_load_mappings (self->state_dir);
  FzTunnelConfig config = {
    .role = FZ_TUNNEL_ROLE_CLIENT,
    .api_url = api_url,
    .token = token,
    .device_id = self->device_id,
    .component = "linux-client",
    .mappings = mappings,
    .internet_resource = self->internet_resource,
  };

  self->tunnel = fz_tunnel_new (&config, error);
  if (self->tunnel == NULL)
    return FALSE;
  fz_tunnel_host_read_system_dns (self->tunnel, self->resolv_conf);
  g_signal_connect (self->tunnel, "ready", G_CALLBACK (on_ready), self);
  g_signal_connect (self->tunnel, "interface-changed", G_CALLBACK (on_interface), self);
  g_signal_connect (self->tunnel, "resources-changed", G_CALLBACK (on_changed), self);
  g_signal_connect (self->tunnel, "resources-changed", G_CALLBACK (on_resources_dns),
                    self);
  g_signal_connect (self->tunnel, "portal-changed", G_CALLBACK (on_changed), self);
  g_signal_connect (self->tunnel, "resource-unreachable", G_CALLBACK (on_unreachable),
                    self);
  g_hash_table_remove_all (self->unreachable);
  g_signal_connect (self->tunnel, "mappings-changed", G_CALLBACK (on_mappings), self);
  g_signal_connect (self->tunnel, "fatal", G_CALLBACK (on_fatal), self);
  g_signal_connect (self->tunnel, "stopped", G_CALLBACK (on_stopped), self);
  g_message ("connecting to %s%s%s on %s, UDP port %u", api_url,
             self->account_slug != NULL ? ", account " : "",
             self->account_slug != NULL ? self->account_slug : "",
             fz_tunnel_get_interface_name (self->tunnel),
             fz_tunnel_get_port (self->tunnel));
  fz_tunnel_start (self->tunnel);
  return TRUE;
}

/* ---- who may call ----------------------------------------------------- */

/* What a method does once its caller is authorized. It reads the state
 * then: that may have changed while polkit was asked. It takes the
 * invocation. */
typedef void (*Authorized) (FzTunnelService *self, GDBusMethodInvocation *inv);

typedef struct
{
  FzTunnelService *self; /* not used once the check is cancelled */
  GDBusMethodInvocation *inv;
  Authorized then;
} Pending;

static void
on_authorized (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autofree Pending *p = data;
  g_autoptr (GError) error = NULL;

  if (fz_authorizer_check_finish (FZ_AUTHORIZER (source), result, &error))
    {
      p->then (p->self, p->inv);
      return;
    }
  /* Cancelled: the service stops, or is gone. (A caller that is gone
   * gets its reply all the same: the bus drops it.) */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_dbus_method_invocation_return_error_literal (
        p->inv, G_DBUS_ERROR, G_DBUS_ERROR_FAILED, "The service is stopping");
      return;
    }
  g_info ("%s from %s: %s", g_dbus_method_invocation_get_method_name (p->inv),
          g_dbus_method_invocation_get_sender (p->inv), error->message);
  g_dbus_method_invocation_return_gerror (p->inv, error);
}

/* The methods that change the tunnel need CONTROL_ACTION (root: none);
 * the check never blocks the main loop. */
static gboolean
authorize (FzTunnelService *self, GDBusMethodInvocation *inv, Authorized then)
{
  Pending *p = g_new (Pending, 1);

  *p = (Pending){ .self = self, .inv = inv, .then = then };
  fz_authorizer_check_async (self->authorizer, inv, self->cancellable, on_authorized, p);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- methods --------------------------------------------------------- */

static void
connect_authorized (FzTunnelService *self, GDBusMethodInvocation *inv)
{
  g_autoptr (GVariant) options = NULL;
  g_autoptr (GError) error = NULL;
  FzConnectOptions opts;
  const char *token;

  g_variant_get (g_dbus_method_invocation_get_parameters (inv), "(&s@a{sv})", &token,
                 &options);
  if (self->tunnel != NULL)
    {
      g_dbus_method_invocation_return_dbus_error (inv, ERROR_PREFIX "AlreadyConnected",
                                                  "A tunnel is already running");
      return;
    }
  if (!fz_connect_options_parse (options, &opts, &error))
    {
      g_dbus_method_invocation_return_gerror (inv, error);
      return;
    }
  if (!fz_token_validate (token, strlen (token), "Connect", &error))
    {
      g_dbus_method_invocation_return_error_literal (
        inv, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS, error->message);
      return;
    }
  if (opts.has_internet_resource)
    self->internet_resource = opts.internet_resource;
  g_free (self->account_slug);
  self->account_slug = g_strdup (opts.account_slug);
  g_clear_pointer (&self->last_error, g_free);
  if (!start_tunnel (self, token, opts.api_url != NULL ? opts.api_url : DEFAULT_API_URL,
                     &error))
    {
      g_clear_object (&self->tunnel);
      g_dbus_method_invocation_return_error (inv, G_DBUS_ERROR, G_DBUS_ERROR_FAILED,
                                             "Cannot start the tunnel: %s",
                                             error->message);
      return;
    }
  flush_now (self);
  fz_dbus_tunnel1_complete_connect (self->skeleton, inv);
}

static gboolean
on_connect (FzDBusTunnel1 *s, GDBusMethodInvocation *inv, const char *token,
            GVariant *options, FzTunnelService *self)
{
  return authorize (self, inv, connect_authorized);
}

static void
disconnect_authorized (FzTunnelService *self, GDBusMethodInvocation *inv)
{
  if (self->tunnel == NULL || self->disconnecting != NULL)
    {
      g_dbus_method_invocation_return_dbus_error (inv, ERROR_PREFIX "NotConnected",
                                                  "No tunnel is running");
      return;
    }
  g_message ("disconnecting");
  self->disconnecting = inv;
  revert_dns (self);
  fz_tunnel_stop (self->tunnel);
}

static gboolean
on_disconnect (FzDBusTunnel1 *s, GDBusMethodInvocation *inv, FzTunnelService *self)
{
  return authorize (self, inv, disconnect_authorized);
}

static void
set_internet_authorized (FzTunnelService *self, GDBusMethodInvocation *inv)
{
  gboolean on;

  g_variant_get (g_dbus_method_invocation_get_parameters (inv), "(b)", &on);
  self->internet_resource = on;
  if (self->tunnel != NULL)
    fz_tunnel_set_internet_resource_enabled (self->tunnel, on);
  schedule_flush (self);
  fz_dbus_tunnel1_complete_set_internet_resource_enabled (self->skeleton, inv);
}

static gboolean
on_set_internet (FzDBusTunnel1 *s, GDBusMethodInvocation *inv, gboolean on,
                 FzTunnelService *self)
{
  return authorize (self, inv, set_internet_authorized);
}

static void
reset_authorized (FzTunnelService *self, GDBusMethodInvocation *inv)
{
  fz_tunnel_service_reset (self);
  fz_dbus_tunnel1_complete_reset (self->skeleton, inv);
}

static gboolean
on_reset (FzDBusTunnel1 *s, GDBusMethodInvocation *inv, FzTunnelService *self)
{
  return authorize (self, inv, reset_authorized);
}

/* ---- life ------------------------------------------------------------ */

FzTunnelService *
fz_tunnel_service_new (const FzTunnelServiceConfig *config, GError **error)
{
  g_autoptr (FzTunnelService) self = g_object_new (FZ_TYPE_TUNNEL_SERVICE, NULL);

  self->state_dir = g_strdup (config->state_dir);
  self->resolv_conf = g_strdup (config->resolv_conf);
  self->resolv_backup = g_build_filename (config->state_dir, RESOLV_BACKUP, NULL);
  self->dns_mode = config->dns_mode;
  if (!fz_state_dir_ensure (self->state_dir, error))
    return NULL;
  self->device_id = fz_device_id_get (FALSE, self->state_dir, error);
  if (self->device_id == NULL)
    return NULL;
  if (self->dns_mode == FZ_DNS_CONTROL_ETC_RESOLV_CONF
      && !fz_dns_control_recover (self->resolv_conf, self->resolv_backup, error))
    return NULL;
  self->authorizer = fz_authorizer_new (CONTROL_ACTION);
  self->skeleton = fz_dbus_tunnel1_skeleton_new ();
  fz_dbus_tunnel1_set_device_id (self->skeleton, self->device_id);
  fz_dbus_tunnel1_set_version (self->skeleton, fz_version ());
  on_flush (self); /* the initial values, before anyone can read them */
  g_signal_connect (self->skeleton, "handle-connect", G_CALLBACK (on_connect), self);
  g_signal_connect (self->skeleton, "handle-disconnect", G_CALLBACK (on_disconnect),
                    self);
  g_signal_connect (self->skeleton, "handle-set-internet-resource-enabled",
                    G_CALLBACK (on_set_internet), self);
  g_signal_connect (self->skeleton, "handle-reset", G_CALLBACK (on_reset), self);
  return g_steal_pointer (&self);
}

gboolean
fz_tunnel_service_export (FzTunnelService *self, GDBusConnection *connection,
                          GError **error)
{
  return g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->skeleton),
                                           connection, FZ_TUNNEL_SERVICE_PATH, error);
}

void
fz_tunnel_service_reset (FzTunnelService *self)
{
  if (self->tunnel != NULL)
    fz_tunnel_reset (self->tunnel);
}

void
fz_tunnel_service_shutdown (FzTunnelService *self)
{
  g_cancellable_cancel (self->cancellable); /* no Connect starts a tunnel now */
  if (self->tunnel == NULL)
    {
      g_signal_emit (self, signals[SIG_IDLE], 0);
      return;
    }
  revert_dns (self);
  fz_tunnel_stop (self->tunnel);
}

static void
fz_tunnel_service_finalize (GObject *object)
{
  FzTunnelService *self = FZ_TUNNEL_SERVICE (object);

  /* A check still in flight finishes cancelled, without this object. */
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->authorizer);
  if (self->flush != NULL)
    g_source_destroy (self->flush);
  g_clear_pointer (&self->flush, g_source_unref);
  if (self->tunnel != NULL)
    {
      revert_dns (self);
      g_signal_handlers_disconnect_by_data (self->tunnel, self);
      g_clear_object (&self->tunnel);
    }
  if (self->skeleton != NULL)
    {
      g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->skeleton));
      g_signal_handlers_disconnect_by_data (self->skeleton, self);
    }
  g_clear_object (&self->skeleton);
  g_free (self->state_dir);
  g_free (self->resolv_conf);
  g_free (self->resolv_backup);
  g_free (self->device_id);
  g_hash_table_unref (self->unreachable);
  g_free (self->account_slug);
  g_free (self->last_error);
  g_main_context_unref (self->ctx);
  G_OBJECT_CLASS (fz_tunnel_service_parent_class)->finalize (object);
}

static void
fz_tunnel_service_class_init (FzTunnelServiceClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = fz_tunnel_service_finalize;
  /* "idle": no tunnel runs any more (after fz_tunnel_service_shutdown()
   * or a Disconnect). */
  signals[SIG_IDLE] = g_signal_new ("idle", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                    0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
fz_tunnel_service_init (FzTunnelService *self)
{
  self->ctx = g_main_context_ref_thread_default ();
  self->cancellable = g_cancellable_new ();
  self->unreachable = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}
