#include "fz-sleep-monitor.h"

#define LOGIND_NAME    "org.freedesktop.login1"
#define LOGIND_PATH    "/org/freedesktop/login1"
#define LOGIND_MANAGER "org.freedesktop.login1.Manager"

struct _FzSleepMonitor
{
  GCancellable *cancel;
  GDBusConnection *bus;
  guint subscription;
  FzSleepFunc func;
  gpointer user_data;
};

static void
on_prepare_for_sleep (GDBusConnection *bus, const char *sender, const char *path,
                      const char *iface, const char *signal, GVariant *params,
                      gpointer data)
{
  FzSleepMonitor *monitor = data;
  gboolean sleeping;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(b)")))
    return;
  g_variant_get (params, "(b)", &sleeping);
  monitor->func (sleeping, monitor->user_data);
}

static void
on_bus (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  GDBusConnection *bus = g_bus_get_finish (res, &error);
  FzSleepMonitor *monitor;

  if (bus == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("no system bus, so no resume from sleep is seen: %s", error->message);
      return;
    }
  monitor = data;
  monitor->bus = bus;
  /* The sender is logind's name: the bus only routes its signals. */
  monitor->subscription = g_dbus_connection_signal_subscribe (
    bus, LOGIND_NAME, LOGIND_MANAGER, "PrepareForSleep", LOGIND_PATH, NULL,
    G_DBUS_SIGNAL_FLAGS_NONE, on_prepare_for_sleep, monitor, NULL);
}

FzSleepMonitor *
fz_sleep_monitor_new (FzSleepFunc func, gpointer user_data)
{
  FzSleepMonitor *monitor = g_new0 (FzSleepMonitor, 1);

  monitor->cancel = g_cancellable_new ();
  monitor->func = func;
  monitor->user_data = user_data;
  g_bus_get (G_BUS_TYPE_SYSTEM, monitor->cancel, on_bus, monitor);
  return monitor;
}

void
fz_sleep_monitor_free (FzSleepMonitor *monitor)
{
  if (monitor == NULL)
    return;
  /* on_bus may still come: cancelled, it touches nothing. */
  g_cancellable_cancel (monitor->cancel);
  g_clear_object (&monitor->cancel);
  if (monitor->subscription != 0)
    g_dbus_connection_signal_unsubscribe (monitor->bus, monitor->subscription);
  g_clear_object (&monitor->bus);
  g_free (monitor);
}
