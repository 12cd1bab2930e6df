#include "fz-tunnel-client.h"

#include "fz-dbus-tunnel1.h"

#include <string.h>

#define SERVICE_NAME "dev.libfz.Tunnel"
#define SERVICE_PATH "/dev/libfz/Tunnel"
/* A call that polkit may have to ask about (a password typed) waits
 * longer than GDBus's default 25 s; Connect returns once the tunnel is
 * started, before the portal answers. */
#define CALL_TIMEOUT_MS 60000

struct _FzTunnelClient
{
  GObject parent;
  GCancellable *cancellable;
  FzDBusTunnel1 *proxy;
  char *missing_reason;
  GVariant *no_resources;
  gboolean answered;
};

G_DEFINE_FINAL_TYPE (FzTunnelClient, fz_tunnel_client, G_TYPE_OBJECT)

enum
{
  SIGNAL_CHANGED,
  SIGNAL_DISCONNECTED,
  SIGNAL_RESOURCE_UNREACHABLE,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

static void
emit_changed (FzTunnelClient *self)
{
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

static void
on_owner (GObject *proxy, GParamSpec *pspec, gpointer data)
{
  FzTunnelClient *self = data;
  g_autofree char *owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (proxy));

  g_clear_pointer (&self->missing_reason, g_free);
  if (owner == NULL)
    self->missing_reason = g_strdup ("fz-tunnel is not running");
  g_debug ("tunnel service %s", owner ? "appeared" : "vanished");
  emit_changed (self);
}

static void
on_properties (GDBusProxy *proxy, GVariant *changed, GStrv invalidated, gpointer data)
{
  emit_changed (data);
}

static void
on_disconnected (FzDBusTunnel1 *proxy, const char *message, gboolean requires_sign_in,
                 gpointer data)
{
  g_signal_emit (data, signals[SIGNAL_DISCONNECTED], 0, message, requires_sign_in);
}

static void
on_unreachable (FzDBusTunnel1 *proxy, const char *id, const char *reason, gpointer data)
{
  g_signal_emit (data, signals[SIGNAL_RESOURCE_UNREACHABLE], 0, id, reason);
}

static void
on_proxy (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;
  FzDBusTunnel1 *proxy = fz_dbus_tunnel1_proxy_new_for_bus_finish (result, &error);
  FzTunnelClient *self;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = data;
  self->answered = TRUE;
  if (proxy == NULL)
    {
      g_warning ("no system bus: %s", error->message);
      self->missing_reason = g_strdup (error->message);
      emit_changed (self);
      return;
    }
  self->proxy = proxy;
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (proxy), CALL_TIMEOUT_MS);
  g_signal_connect_object (proxy, "notify::g-name-owner", G_CALLBACK (on_owner), self, 0);
  g_signal_connect_object (proxy, "g-properties-changed", G_CALLBACK (on_properties),
                           self, 0);
  g_signal_connect_object (proxy, "disconnected", G_CALLBACK (on_disconnected), self, 0);
  g_signal_connect_object (proxy, "resource-unreachable", G_CALLBACK (on_unreachable),
                           self, 0);
  on_owner (G_OBJECT (proxy), NULL, self);
}

static void
fz_tunnel_client_dispose (GObject *object)
{
  FzTunnelClient *self = FZ_TUNNEL_CLIENT (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->proxy);
  G_OBJECT_CLASS (fz_tunnel_client_parent_class)->dispose (object);
}

static void
fz_tunnel_client_finalize (GObject *object)
{
  FzTunnelClient *self = FZ_TUNNEL_CLIENT (object);

  g_clear_object (&self->cancellable);
  g_free (self->missing_reason);
  g_variant_unref (self->no_resources);
  G_OBJECT_CLASS (fz_tunnel_client_parent_class)->finalize (object);
}

static void
fz_tunnel_client_class_init (FzTunnelClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = fz_tunnel_client_dispose;
  object_class->finalize = fz_tunnel_client_finalize;
  signals[SIGNAL_CHANGED]
    = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                    NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_DISCONNECTED]
    = g_signal_new ("disconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                    NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_BOOLEAN);
  signals[SIGNAL_RESOURCE_UNREACHABLE]
    = g_signal_new ("resource-unreachable", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                    0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
}

static void
fz_tunnel_client_init (FzTunnelClient *self)
{
  self->cancellable = g_cancellable_new ();
  self->no_resources
    = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARDICT, NULL, 0));
}

FzTunnelClient *
fz_tunnel_client_new (void)
{
  FzTunnelClient *self = g_object_new (FZ_TYPE_TUNNEL_CLIENT, NULL);

  /* Creating the proxy starts the service by D-Bus activation when it
   * is installed but not running. */
  fz_dbus_tunnel1_proxy_new_for_bus (G_BUS_TYPE_SYSTEM, G_DBUS_PROXY_FLAGS_NONE,
                                     SERVICE_NAME, SERVICE_PATH, self->cancellable,
                                     on_proxy, self);
  return self;
}

FzTunnelAvailability
fz_tunnel_client_get_availability (FzTunnelClient *self)
{
  if (!self->answered)
    return FZ_TUNNEL_LOADING;
  return self->missing_reason ? FZ_TUNNEL_MISSING : FZ_TUNNEL_READY;
}

const char *
fz_tunnel_client_get_missing_reason (FzTunnelClient *self)
{
  return self->missing_reason;
}

const char *
fz_tunnel_client_get_state (FzTunnelClient *self)
{
  const char *s = self->proxy ? fz_dbus_tunnel1_get_state (self->proxy) : NULL;
  return s ? s : "";
}

GVariant *
fz_tunnel_client_get_resources (FzTunnelClient *self)
{
  GVariant *r = self->proxy ? fz_dbus_tunnel1_get_resources (self->proxy) : NULL;
  return r ? r : self->no_resources;
}

gboolean
fz_tunnel_client_get_internet_enabled (FzTunnelClient *self)
{
  return self->proxy && fz_dbus_tunnel1_get_internet_resource_enabled (self->proxy);
}

/* Calls without a proxy fail like calls to a service that is not there. */
static gboolean
have_proxy (FzTunnelClient *self, GAsyncReadyCallback callback, gpointer user_data)
{
  if (self->proxy != NULL)
    return TRUE;
  g_autoptr (GTask) task = g_task_new (self, NULL, callback, user_data);
  g_task_return_new_error (task, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN, "%s",
                           self->missing_reason ? self->missing_reason : "no system bus");
  return FALSE;
}

/* All three methods return nothing: one GTask carries any of them. */
static void
on_call (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GTask) task = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) ret
    = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);

  if (ret == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
call (FzTunnelClient *self, const char *method, GVariant *args, GCancellable *cancellable,
      GAsyncReadyCallback callback, gpointer user_data)
{
  if (!have_proxy (self, callback, user_data))
    {
      if (args != NULL)
        g_variant_unref (g_variant_ref_sink (args));
      return;
    }
  g_dbus_proxy_call (G_DBUS_PROXY (self->proxy), method, args,
                     G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, -1, cancellable,
                     on_call, g_task_new (self, cancellable, callback, user_data));
}

void
fz_tunnel_client_connect (FzTunnelClient *self, const char *token, const char *api_url,
                          const char *account_slug, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  GVariantBuilder options;

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  if (api_url != NULL && *api_url != '\0')
    g_variant_builder_add (&options, "{sv}", "api_url", g_variant_new_string (api_url));
  if (account_slug != NULL && *account_slug != '\0')
    g_variant_builder_add (&options, "{sv}", "account_slug",
                           g_variant_new_string (account_slug));
  call (self, "Connect", g_variant_new ("(sa{sv})", token, &options), cancellable,
        callback, user_data);
}

void
fz_tunnel_client_disconnect (FzTunnelClient *self, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  call (self, "Disconnect", NULL, cancellable, callback, user_data);
}

void
fz_tunnel_client_set_internet (FzTunnelClient *self, gboolean enabled,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data)
{
  call (self, "SetInternetResourceEnabled", g_variant_new ("(b)", enabled), cancellable,
        callback, user_data);
}

gboolean
fz_tunnel_client_call_finish (FzTunnelClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

FzTunnelCallError
fz_tunnel_client_classify_error (const GError *error)
{
  static const struct
  {
    const char *name;
    FzTunnelCallError kind;
  } names[] = {
    { "dev.libfz.Tunnel1.Error.AlreadyConnected", FZ_TUNNEL_CALL_ALREADY_CONNECTED },
    { "dev.libfz.Tunnel1.Error.NotConnected", FZ_TUNNEL_CALL_NOT_CONNECTED },
    { "dev.libfz.Tunnel1.Error.NotAuthorized", FZ_TUNNEL_CALL_NOT_AUTHORIZED },
    { "org.freedesktop.DBus.Error.AccessDenied", FZ_TUNNEL_CALL_NOT_AUTHORIZED },
    { "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
      FZ_TUNNEL_CALL_NOT_AUTHORIZED },
    { "org.freedesktop.PolicyKit1.Error.NotAuthorized", FZ_TUNNEL_CALL_NOT_AUTHORIZED },
    { "org.freedesktop.DBus.Error.ServiceUnknown", FZ_TUNNEL_CALL_NO_SERVICE },
    { "org.freedesktop.DBus.Error.NameHasNoOwner", FZ_TUNNEL_CALL_NO_SERVICE },
  };
  g_autofree char *name = NULL;

  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN)
      || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER))
    return FZ_TUNNEL_CALL_NO_SERVICE;
  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED))
    return FZ_TUNNEL_CALL_NOT_AUTHORIZED;
  name = g_dbus_error_get_remote_error (error);
  for (gsize i = 0; name != NULL && i < G_N_ELEMENTS (names); i++)
    if (strcmp (name, names[i].name) == 0)
      return names[i].kind;
  return FZ_TUNNEL_CALL_FAILED;
}
