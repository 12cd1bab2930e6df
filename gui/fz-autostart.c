#include "fz-autostart.h"
#include "fz-gui-core-resources.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#define TEMPLATE_PATH "/dev/libfz/Client/dev.libfz.Client.autostart.desktop"

#define PORTAL_NAME       "org.freedesktop.portal.Desktop"
#define PORTAL_PATH       "/org/freedesktop/portal/desktop"
#define PORTAL_BACKGROUND "org.freedesktop.portal.Background"
#define PORTAL_REQUEST    "org.freedesktop.portal.Request"

char *
fz_autostart_path (void)
{
  return g_build_filename (g_get_user_config_dir (), "autostart",
                           "dev.libfz.Client.desktop", NULL);
}

/* Looked up in our own bundle, not the global table: referencing it also
 * keeps the resource's object file in links of the static library. */
static GBytes *
template_bytes (GError **error)
{
  return g_resource_lookup_data (fz_gui_core_get_resource (), TEMPLATE_PATH,
                                 G_RESOURCE_LOOKUP_FLAGS_NONE, error);
}

static gboolean
write_entry (const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr (GBytes) bytes = template_bytes (error);
  gsize len;
  const char *data;

  if (bytes == NULL)
    return FALSE;
  /* 0700 like the rest of a user's config: the directory only says what
   * runs at login, but nobody else needs to read it. */
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int e = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e),
                   _ ("Could not create %s: %s"), dir, g_strerror (e));
      return FALSE;
    }
  data = g_bytes_get_data (bytes, &len);
  return g_file_set_contents_full (path, data, (gssize) len,
                                   G_FILE_SET_CONTENTS_CONSISTENT, 0644, error);
}

static gboolean
remove_entry (const char *path, GError **error)
{
  int e;

  if (g_unlink (path) == 0)
    return TRUE;
  e = errno;
  if (e == ENOENT)
    return TRUE;
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e),
               _ ("Could not remove %s: %s"), path, g_strerror (e));
  return FALSE;
}

gboolean
fz_autostart_in_sandbox (void)
{
  return g_file_test ("/.flatpak-info", G_FILE_TEST_EXISTS);
}

typedef struct
{
  GDBusConnection *bus;
  guint subscription;
  gboolean autostart;
} BackgroundRequest;

static void
background_request_free (gpointer data)
{
  BackgroundRequest *req = data;

  g_object_unref (req->bus);
  g_free (req);
}

/* The user's answer, long after the call returned: only worth a line in
 * the log, the setting stays what the user chose. */
static void
on_background_response (GDBusConnection *bus, const char *sender, const char *path,
                        const char *iface, const char *signal, GVariant *params,
                        gpointer data)
{
  BackgroundRequest *req = data;
  g_autoptr (GVariant) results = NULL;
  guint32 response = 2;
  gboolean autostart = FALSE;

  if (g_variant_is_of_type (params, G_VARIANT_TYPE ("(ua{sv})")))
    {
      g_variant_get (params, "(u@a{sv})", &response, &results);
      g_variant_lookup (results, "autostart", "b", &autostart);
    }
  if (response != 0)
    g_warning ("start on login: the desktop refused to let fz-gui run in the background");
  else if (req->autostart && !autostart)
    g_warning ("start on login: the desktop refused to start fz-gui on login");
  else
    g_debug ("start on login: background portal agreed (autostart %s)",
             autostart ? "on" : "off");
  /* Frees req. */
  g_dbus_connection_signal_unsubscribe (bus, req->subscription);
}

static guint
subscribe_response (BackgroundRequest *req, const char *path)
{
  return g_dbus_connection_signal_subscribe (
    req->bus, PORTAL_NAME, PORTAL_REQUEST, "Response", path, NULL,
    G_DBUS_SIGNAL_FLAGS_NO_MATCH_RULE, on_background_response, req,
    background_request_free);
}

gboolean
fz_autostart_request_background (GDBusConnection *bus, gboolean autostart, GError **error)
{
  g_autofree char *token = g_strdup_printf ("fz_gui_%08x", g_random_int ());
  g_autofree char *sender = g_strdup (g_dbus_connection_get_unique_name (bus) + 1);
  g_autofree char *path = NULL;
  g_autoptr (GVariant) reply = NULL;
  const char *handle;
  const char *const commandline[] = { "fz-gui", NULL };
  GVariantBuilder opts;
  BackgroundRequest *req = g_new0 (BackgroundRequest, 1);

  /* Subscribed before the call, at the path the portal will use, so that
   * a quick answer is not missed (the Request documentation's way). */
  g_strdelimit (sender, ".", '_');
  path = g_strdup_printf (PORTAL_PATH "/request/%s/%s", sender, token);
  req->bus = g_object_ref (bus);
  req->autostart = autostart;
  req->subscription = subscribe_response (req, path);

  g_variant_builder_init (&opts, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&opts, "{sv}", "handle_token", g_variant_new_string (token));
  g_variant_builder_add (
    &opts, "{sv}", "reason",
    g_variant_new_string (_ ("Keep the VPN tray running and start it on login")));
  g_variant_builder_add (&opts, "{sv}", "autostart", g_variant_new_boolean (autostart));
  g_variant_builder_add (&opts, "{sv}", "commandline",
                         g_variant_new_strv (commandline, -1));
  reply = g_dbus_connection_call_sync (
    bus, PORTAL_NAME, PORTAL_PATH, PORTAL_BACKGROUND, "RequestBackground",
    g_variant_new ("(sa{sv})", "", &opts), G_VARIANT_TYPE ("(o)"), G_DBUS_CALL_FLAGS_NONE,
    -1, NULL, error);
  if (reply == NULL)
    {
      g_prefix_error (error, _ ("The background portal did not answer: "));
      g_dbus_connection_signal_unsubscribe (bus, req->subscription);
      return FALSE;
    }
  /* An old portal chooses its own path. */
  g_variant_get (reply, "(&o)", &handle);
  if (!g_str_equal (handle, path))
    {
      guint old = req->subscription;

      req = g_memdup2 (req, sizeof *req);
      g_object_ref (req->bus);
      req->subscription = subscribe_response (req, handle);
      g_dbus_connection_signal_unsubscribe (bus, old);
    }
  return TRUE;
}

/* In a Flatpak ~/.config is not the host's, and writing the host's
 * autostart directory would need a filesystem permission: the Background
 * portal writes the entry (flatpak run ... fz-gui) for us. The same call
 * also tells the desktop that a tray without a window may keep running. */
static gboolean
set_by_portal (gboolean enabled, GError **error)
{
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, error);

  return bus != NULL && fz_autostart_request_background (bus, enabled, error);
}

gboolean
fz_autostart_set (gboolean enabled, GError **error)
{
  g_autofree char *path = NULL;

  if (fz_autostart_in_sandbox ())
    return set_by_portal (enabled, error);
  path = fz_autostart_path ();
  return enabled ? write_entry (path, error) : remove_entry (path, error);
}

gboolean
fz_autostart_is_enabled (void)
{
  g_autofree char *path = fz_autostart_path ();

  return g_file_test (path, G_FILE_TEST_IS_REGULAR);
}

gboolean
fz_autostart_sync (GSettings *settings, GError **error)
{
  return fz_autostart_set (g_settings_get_boolean (settings, "start-on-login"), error);
}
