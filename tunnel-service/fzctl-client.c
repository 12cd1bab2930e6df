#include "fzctl-client.h"
#include "fzctl-format.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>

static void
stop (FzctlClient *c)
{
  g_cancellable_cancel (c->cancellable);
}

static gboolean
on_deadline (gpointer data)
{
  FzctlClient *c = data;

  c->deadline = 0;
  c->timed_out = TRUE;
  stop (c);
  return G_SOURCE_REMOVE;
}

static gboolean
on_sigint (gpointer data)
{
  FzctlClient *c = data;

  c->signal = SIGINT;
  stop (c);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sigterm (gpointer data)
{
  FzctlClient *c = data;

  c->signal = SIGTERM;
  stop (c);
  return G_SOURCE_CONTINUE;
}

void
fzctl_client_init (FzctlClient *c, gboolean json, guint timeout_s)
{
  *c = (FzctlClient){ .json = json, .timeout_s = timeout_s };
  c->cancellable = g_cancellable_new ();
  c->deadline = g_timeout_add (timeout_s * 1000, on_deadline, c);
  c->sigint = g_unix_signal_add (SIGINT, on_sigint, c);
  c->sigterm = g_unix_signal_add (SIGTERM, on_sigterm, c);
}

void
fzctl_client_disarm (FzctlClient *c)
{
  g_clear_handle_id (&c->deadline, g_source_remove);
}

void
fzctl_client_clear (FzctlClient *c)
{
  fzctl_client_disarm (c);
  g_clear_handle_id (&c->sigint, g_source_remove);
  g_clear_handle_id (&c->sigterm, g_source_remove);
  g_clear_object (&c->proxy);
  if (c->bus != NULL)
    g_signal_handlers_disconnect_by_data (c->bus, c);
  g_clear_object (&c->bus);
  g_clear_object (&c->cancellable);
}

void
fzctl_client_on_result (GObject *source, GAsyncResult *result, gpointer data)
{
  *(GAsyncResult **) data = g_object_ref (result);
}

static gboolean
on_expired (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

void
fzctl_client_iterate (FzctlClient *c, gboolean *done, int ms)
{
  gboolean expired = FALSE;
  guint timer = ms >= 0 ? g_timeout_add ((guint) ms, on_expired, &expired) : 0;

  while (!*done && !expired && !g_cancellable_is_cancelled (c->cancellable))
    g_main_context_iteration (NULL, TRUE);
  if (timer != 0 && !expired)
    g_source_remove (timer);
}

/* How long a cancelled call may take to complete: GLib cannot cancel
 * everything at once (a new connection's Hello runs to its own 25 s). */
#define CANCEL_GRACE_MS 200

gboolean
fzctl_client_await (FzctlClient *c, GAsyncResult **result, GError **error)
{
  gboolean expired = FALSE;
  guint timer;

  while (*result == NULL && !g_cancellable_is_cancelled (c->cancellable))
    g_main_context_iteration (NULL, TRUE);
  if (*result != NULL)
    return TRUE;
  timer = g_timeout_add (CANCEL_GRACE_MS, on_expired, &expired);
  while (*result == NULL && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (timer);
  if (*result != NULL)
    return TRUE;
  g_cancellable_set_error_if_cancelled (c->cancellable, error);
  return FALSE;
}

/* The bus went away (dbus-daemon stopped): nothing more will come. */
static void
on_closed (GDBusConnection *bus, gboolean remote, GError *error, FzctlClient *c)
{
  stop (c);
}

gboolean
fzctl_client_open (FzctlClient *c, GError **error)
{
  g_autoptr (GAsyncResult) got_bus = NULL, got_proxy = NULL;
  g_autoptr (GError) local = NULL;

  g_bus_get (G_BUS_TYPE_SYSTEM, c->cancellable, fzctl_client_on_result, &got_bus);
  if (fzctl_client_await (c, &got_bus, &local))
    c->bus = g_bus_get_finish (got_bus, &local);
  if (c->bus == NULL)
    {
      if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_propagate_error (error, g_steal_pointer (&local));
      else
        g_set_error (error, FZ_CTL_ERROR, FZCTL_EXIT_NO_SERVICE,
                     "cannot reach the system bus: %s", local->message);
      return FALSE;
    }
  /* GLib's default would raise SIGTERM when the bus closes. */
  g_dbus_connection_set_exit_on_close (c->bus, FALSE);
  g_signal_connect (c->bus, "closed", G_CALLBACK (on_closed), c);

  fz_dbus_tunnel1_proxy_new (c->bus, G_DBUS_PROXY_FLAGS_NONE, FZCTL_BUS_NAME,
                             FZCTL_OBJECT_PATH, c->cancellable, fzctl_client_on_result,
                             &got_proxy);
  if (!fzctl_client_await (c, &got_proxy, error))
    return FALSE;
  c->proxy = fz_dbus_tunnel1_proxy_new_finish (got_proxy, error);
  if (c->proxy == NULL)
    return FALSE;
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (c->proxy), (int) c->timeout_s * 1000);
  if (!fzctl_client_has_owner (c->proxy))
    {
      g_set_error_literal (error, FZ_CTL_ERROR, FZCTL_EXIT_NO_SERVICE,
                           "the tunnel service is not running: nothing owns "
                           "" FZCTL_BUS_NAME " on the system bus");
      return FALSE;
    }
  return TRUE;
}

gboolean
fzctl_client_has_owner (FzDBusTunnel1 *proxy)
{
  g_autofree char *owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (proxy));

  return owner != NULL;
}

GVariant *
fzctl_client_dup_property (FzctlClient *c, const char *name)
{
  return g_dbus_proxy_get_cached_property (G_DBUS_PROXY (c->proxy), name);
}

GVariant *
fzctl_client_dup_properties (FzctlClient *c)
{
  g_auto (GStrv) names = g_dbus_proxy_get_cached_property_names (G_DBUS_PROXY (c->proxy));
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  for (gsize i = 0; names != NULL && names[i] != NULL; i++)
    {
      g_autoptr (GVariant) value = fzctl_client_dup_property (c, names[i]);
      if (value != NULL)
        g_variant_builder_add (&b, "{sv}", names[i], value);
    }
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

typedef struct
{
  FzctlClient *c;
  const char *name;
  GVariant *want;
  gboolean done;
} Settle;

static void
check_settled (Settle *s)
{
  g_autoptr (GVariant) value = fzctl_client_dup_property (s->c, s->name);

  s->done = value != NULL && g_variant_equal (value, s->want);
}

static void
on_settle_changed (GDBusProxy *proxy, GVariant *changed, GStrv invalidated, Settle *s)
{
  check_settled (s);
}

gboolean
fzctl_client_settle (FzctlClient *c, const char *name, GVariant *want, int ms)
{
  Settle s = { c, name, g_variant_ref_sink (want), FALSE };
  gulong id;

  check_settled (&s);
  id = g_signal_connect (c->proxy, "g-properties-changed", G_CALLBACK (on_settle_changed),
                         &s);
  fzctl_client_iterate (c, &s.done, ms);
  g_signal_handler_disconnect (c->proxy, id);
  g_variant_unref (s.want);
  return s.done;
}

/* ---- output ---------------------------------------------------------- */

void
fzctl_print (const char *text)
{
  fputs (text, stdout);
  fflush (stdout);
}

void
fzctl_print_json (JsonNode *node)
{
  g_autofree char *line = fzctl_json_line (node);

  fzctl_print (line);
}

/* What a D-Bus error means, in words, for @code. */
static char *
describe_remote (FzctlExit code, const GError *error)
{
  g_autoptr (GError) copy = g_error_copy (error);

  g_dbus_error_strip_remote_error (copy);
  switch (code)
    {
    case FZCTL_EXIT_NOT_AUTHORIZED:
      /* dbus-daemon's refusal is a dump of the message's fields. */
      if (g_str_has_prefix (copy->message, "Rejected send message"))
        return g_strdup ("not authorized: the bus lets only root change the tunnel");
      return g_strdup_printf ("not authorized: %s", copy->message);
    case FZCTL_EXIT_NOT_CONNECTED: return g_strdup ("not connected");
    case FZCTL_EXIT_ALREADY_CONNECTED:
      return g_strdup ("already connected (fzctl disconnect ends that tunnel)");
    case FZCTL_EXIT_NO_SERVICE:
      return g_strdup_printf ("the tunnel service is not running: %s", copy->message);
    case FZCTL_EXIT_TIMEOUT:
      return g_strdup_printf ("the tunnel service did not answer: %s", copy->message);
    case FZCTL_EXIT_USAGE:
      return g_strdup_printf ("the service refused the request: %s", copy->message);
    default: return g_strdup (copy->message);
    }
}

FzctlExit
fzctl_client_fail (FzctlClient *c, const GError *error)
{
  FzctlExit code;
  g_autofree char *message = NULL;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && c->signal != 0)
    {
      code = FZCTL_EXIT_INTERRUPTED;
      message = g_strdup ("interrupted");
    }
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && c->timed_out)
    {
      code = FZCTL_EXIT_TIMEOUT;
      message = g_strdup_printf ("no answer from the %s within %u s",
                                 c->bus != NULL ? "tunnel service" : "system bus",
                                 c->timeout_s);
    }
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      code = FZCTL_EXIT_NO_SERVICE;
      message = g_strdup ("the connection to the system bus was closed");
    }
  else
    {
      code = fzctl_exit_for_error (error);
      message = error->domain == FZ_CTL_ERROR ? g_strdup (error->message)
                                              : describe_remote (code, error);
    }
  g_printerr ("fzctl: %s\n", message);
  if (c->json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      g_autoptr (JsonNode) node = NULL;

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "ok");
      json_builder_add_boolean_value (b, FALSE);
      json_builder_set_member_name (b, "error");
      json_builder_add_string_value (b, fzctl_exit_name (code));
      json_builder_set_member_name (b, "exit_code");
      json_builder_add_int_value (b, code);
      json_builder_set_member_name (b, "message");
      json_builder_add_string_value (b, message);
      json_builder_end_object (b);
      node = json_builder_get_root (b);
      fzctl_print_json (node);
    }
  return code;
}
