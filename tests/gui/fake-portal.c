/* fake-portal: plays xdg-desktop-portal for the sandbox test
 * (tests/gui/sandbox.sh), on the session bus, as org.freedesktop.portal.Desktop:
 *
 *   Secret.RetrieveSecret   writes a fixed 64-byte key into the pipe the
 *                           caller passes (libsecret's file backend keys
 *                           its keyring file with it), prints "secret:
 *                           retrieved"
 *   OpenURI.OpenURI         the desktop's browser: prints "openuri: URI"
 *   Notification.AddNotification
 *                           prints "notify: TITLE | BODY"
 *   Background.RequestBackground
 *                           prints "background: autostart=true|false
 *                           commandline=ARG ..." and agrees
 *
 * Each request answers with Request.Response (0, results) on the path
 * the caller's handle_token names, sent to the caller alone, as the real
 * portal does. Prints "portal: ready" once it owns the name; runs until
 * SIGTERM/SIGINT.
 */
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define PORTAL_NAME "org.freedesktop.portal.Desktop"
#define PORTAL_PATH "/org/freedesktop/portal/desktop"

static const char portal_xml[]
  = "<node>"
    "<interface name='org.freedesktop.portal.Secret'>"
    " <method name='RetrieveSecret'><arg type='h' direction='in'/>"
    "  <arg type='a{sv}' direction='in'/><arg type='o' direction='out'/></method>"
    " <property name='version' type='u' access='read'/>"
    "</interface>"
    "<interface name='org.freedesktop.portal.OpenURI'>"
    " <method name='OpenURI'><arg type='s' direction='in'/><arg type='s' direction='in'/>"
    "  <arg type='a{sv}' direction='in'/><arg type='o' direction='out'/></method>"
    " <property name='version' type='u' access='read'/>"
    "</interface>"
    "<interface name='org.freedesktop.portal.Notification'>"
    " <method name='AddNotification'><arg type='s' direction='in'/>"
    "  <arg type='a{sv}' direction='in'/></method>"
    " <method name='RemoveNotification'><arg type='s' direction='in'/></method>"
    " <property name='version' type='u' access='read'/>"
    "</interface>"
    "<interface name='org.freedesktop.portal.Background'>"
    " <method name='RequestBackground'><arg type='s' direction='in'/>"
    "  <arg type='a{sv}' direction='in'/><arg type='o' direction='out'/></method>"
    " <property name='version' type='u' access='read'/>"
    "</interface>"
    "</node>";

/* The request's object path: the caller's unique name without ':' and
 * with '.' as '_', then its handle_token (or one of ours). */
static char *
request_path (const char *sender, GVariant *options)
{
  static guint next = 1;
  g_autofree char *who = g_strdup (sender + 1);
  g_autofree char *ours = NULL;
  const char *token;

  if (!g_variant_lookup (options, "handle_token", "&s", &token))
    token = ours = g_strdup_printf ("fake%u", next++);
  g_strdelimit (who, ".", '_');
  return g_strdup_printf (PORTAL_PATH "/request/%s/%s", who, token);
}

typedef struct
{
  GDBusConnection *bus;
  char *sender, *path;
  GVariant *results;
} Response;

static gboolean
emit_response (gpointer data)
{
  Response *r = data;

  g_dbus_connection_emit_signal (r->bus, r->sender, r->path,
                                 "org.freedesktop.portal.Request", "Response",
                                 g_variant_new ("(u@a{sv})", 0, r->results), NULL);
  g_object_unref (r->bus);
  g_free (r->sender);
  g_free (r->path);
  g_variant_unref (r->results);
  g_free (r);
  return G_SOURCE_REMOVE;
}

/* Returns the handle, then answers on it, to the caller alone, as the
 * real portal does. A caller without a handle_token (libsecret < 0.21)
 * subscribes only once it has the handle: the real portal answers after
 * the user did, so later; here 0.2 s. */
static void
respond (GDBusConnection *bus, GDBusMethodInvocation *inv, const char *sender,
         GVariant *options, GVariant *results)
{
  Response *r = g_new0 (Response, 1);

  r->bus = g_object_ref (bus);
  r->sender = g_strdup (sender);
  r->path = request_path (sender, options);
  r->results = g_variant_ref_sink (results);
  g_dbus_method_invocation_return_value (inv, g_variant_new ("(o)", r->path));
  if (g_variant_lookup (options, "handle_token", "&s", NULL))
    emit_response (r);
  else
    g_timeout_add (200, emit_response, r);
}

static GVariant *
no_results (void)
{
  return g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0);
}

static void
retrieve_secret (GDBusConnection *bus, const char *sender, GVariant *params,
                 GDBusMethodInvocation *inv)
{
  GUnixFDList *fds
    = g_dbus_message_get_unix_fd_list (g_dbus_method_invocation_get_message (inv));
  g_autoptr (GVariant) options = NULL;
  g_autoptr (GError) error = NULL;
  gint32 index;
  guint8 key[64];
  int fd;

  g_variant_get (params, "(h@a{sv})", &index, &options);
  fd = fds != NULL ? g_unix_fd_list_get (fds, index, &error) : -1;
  if (fd < 0)
    {
      g_dbus_method_invocation_return_error (inv, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                                             "no pipe: %s", error ? error->message : "");
      return;
    }
  /* Fixed: the same key each run, as the real portal keeps one per app. */
  for (guint i = 0; i < sizeof key; i++)
    key[i] = (guint8) (i * 7 + 1);
  if (write (fd, key, sizeof key) != (ssize_t) sizeof key)
    g_printerr ("fake-portal: writing the key failed\n");
  close (fd);
  printf ("secret: retrieved\n");
  respond (bus, inv, sender, options, no_results ());
}

static void
portal_method (GDBusConnection *bus, const char *sender, const char *path,
               const char *iface, const char *method, GVariant *params,
               GDBusMethodInvocation *inv, gpointer user_data)
{
  (void) path;
  (void) user_data;

  if (g_str_equal (method, "RetrieveSecret"))
    retrieve_secret (bus, sender, params, inv);
  else if (g_str_equal (method, "OpenURI"))
    {
      g_autoptr (GVariant) options = NULL;
      const char *uri;

      g_variant_get (params, "(&s&s@a{sv})", NULL, &uri, &options);
      printf ("openuri: %s\n", uri);
      respond (bus, inv, sender, options, no_results ());
    }
  else if (g_str_equal (method, "AddNotification"))
    {
      g_autoptr (GVariant) n = NULL;
      const char *title = "", *body = "";

      g_variant_get (params, "(&s@a{sv})", NULL, &n);
      g_variant_lookup (n, "title", "&s", &title);
      g_variant_lookup (n, "body", "&s", &body);
      printf ("notify: %s | %s\n", title, body);
      g_dbus_method_invocation_return_value (inv, NULL);
    }
  else if (g_str_equal (method, "RemoveNotification"))
    g_dbus_method_invocation_return_value (inv, NULL);
  else if (g_str_equal (method, "RequestBackground"))
    {
      g_autoptr (GVariant) options = NULL;
      g_autofree const char **cmd = NULL;
      g_autofree char *joined = NULL;
      gboolean autostart = FALSE;
      GVariantBuilder results;

      g_variant_get (params, "(&s@a{sv})", NULL, &options);
      g_variant_lookup (options, "autostart", "b", &autostart);
      if (!g_variant_lookup (options, "commandline", "^a&s", &cmd))
        cmd = g_new0 (const char *, 1);
      joined = g_strjoinv (" ", (char **) cmd);
      printf ("background: autostart=%s commandline=%s\n", autostart ? "true" : "false",
              joined);
      g_variant_builder_init (&results, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&results, "{sv}", "background",
                             g_variant_new_boolean (TRUE));
      g_variant_builder_add (&results, "{sv}", "autostart",
                             g_variant_new_boolean (autostart));
      respond (bus, inv, sender, options, g_variant_builder_end (&results));
    }
  else
    g_dbus_method_invocation_return_error (inv, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                           "%s.%s", iface, method);
}

static GVariant *
portal_property (GDBusConnection *bus, const char *sender, const char *path,
                 const char *iface, const char *name, GError **error, gpointer user_data)
{
  (void) bus;
  (void) sender;
  (void) path;
  (void) iface;
  (void) error;
  (void) user_data;
  /* Secret: libsecret wants exactly 1. */
  return g_str_equal (name, "version") ? g_variant_new_uint32 (1) : NULL;
}

static void
on_bus (GDBusConnection *bus, const char *name, gpointer data)
{
  static const GDBusInterfaceVTable vtable
    = { portal_method, portal_property, NULL, { 0 } };
  g_autoptr (GError) error = NULL;
  GDBusNodeInfo *node = data;

  (void) name;
  for (GDBusInterfaceInfo **i = node->interfaces; *i != NULL; i++)
    if (g_dbus_connection_register_object (bus, PORTAL_PATH, *i, &vtable, NULL, NULL,
                                           &error)
        == 0)
      g_error ("registering %s: %s", (*i)->name, error->message);
}

static void
on_name (GDBusConnection *bus, const char *name, gpointer data)
{
  (void) bus;
  (void) name;
  (void) data;
  printf ("portal: ready\n");
}

static void
on_name_lost (GDBusConnection *bus, const char *name, gpointer data)
{
  (void) bus;
  (void) data;
  g_printerr ("fake-portal: could not own %s\n", name);
  exit (1);
}

static gboolean
on_signal (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

int
main (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusNodeInfo) node = g_dbus_node_info_new_for_xml (portal_xml, &error);
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  guint owner;

  g_assert_no_error (error);
  setvbuf (stdout, NULL, _IOLBF, 0);
  owner = g_bus_own_name (G_BUS_TYPE_SESSION, PORTAL_NAME, G_BUS_NAME_OWNER_FLAGS_NONE,
                          on_bus, on_name, on_name_lost, node, NULL);
  g_unix_signal_add (SIGTERM, on_signal, loop);
  g_unix_signal_add (SIGINT, on_signal, loop);
  g_main_loop_run (loop);
  g_bus_unown_name (owner);
  return 0;
}
