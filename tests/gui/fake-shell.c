/* fake-shell: plays the desktop shell's part for tray tests, on the
 * session bus (a private one in tests).
 *
 *   fake-shell watch           owns org.kde.StatusNotifierWatcher (and a
 *                              host name) and the notification server
 *                              org.freedesktop.Notifications, prints
 *                              "watcher: ready", then "registered SERVICE
 *                              PATH", "unregistered SERVICE PATH" and
 *                              "notify: SUMMARY | BODY" lines; runs until
 *                              SIGTERM/SIGINT
 *   fake-shell item            the first registered item's properties (JSON)
 *   fake-shell layout          its menu, com.canonical.dbusmenu.GetLayout
 *                              (0, -1, []), as JSON
 *   fake-shell menu            the same as text: an item a line, children
 *                              indented by two spaces, "--" for a
 *                              separator, " (off)" after a disabled item
 *   fake-shell click LABEL     sends Event(id, "clicked") to the menu item
 *                              whose label, mnemonics removed, is LABEL;
 *                              "A > B" is the item B under the first A
 *
 * The client commands wait up to FAKE_SHELL_TIMEOUT seconds (default 10)
 * for an item to be registered.
 */
#include <gio/gio.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WATCHER_NAME "org.kde.StatusNotifierWatcher"
#define WATCHER_PATH "/StatusNotifierWatcher"
#define ITEM_IFACE   "org.kde.StatusNotifierItem"
#define MENU_IFACE   "com.canonical.dbusmenu"

static const char watcher_xml[]
  = "<node><interface name='org.kde.StatusNotifierWatcher'>"
    " <method name='RegisterStatusNotifierItem'><arg type='s' direction='in'/></method>"
    " <method name='RegisterStatusNotifierHost'><arg type='s' direction='in'/></method>"
    " <property name='RegisteredStatusNotifierItems' type='as' access='read'/>"
    " <property name='IsStatusNotifierHostRegistered' type='b' access='read'/>"
    " <property name='ProtocolVersion' type='i' access='read'/>"
    " <signal name='StatusNotifierItemRegistered'><arg type='s'/></signal>"
    " <signal name='StatusNotifierItemUnregistered'><arg type='s'/></signal>"
    " <signal name='StatusNotifierHostRegistered'/>"
    " <signal name='StatusNotifierHostUnregistered'/>"
    "</interface></node>";

static const char notifications_xml[]
  = "<node><interface name='org.freedesktop.Notifications'>"
    " <method name='Notify'><arg type='s' direction='in'/><arg type='u' direction='in'/>"
    "  <arg type='s' direction='in'/><arg type='s' direction='in'/>"
    "  <arg type='s' direction='in'/><arg type='as' direction='in'/>"
    "  <arg type='a{sv}' direction='in'/><arg type='i' direction='in'/>"
    "  <arg type='u' direction='out'/></method>"
    " <method name='CloseNotification'><arg type='u' direction='in'/></method>"
    " <method name='GetCapabilities'><arg type='as' direction='out'/></method>"
    " <method name='GetServerInformation'><arg type='s' direction='out'/>"
    "  <arg type='s' direction='out'/><arg type='s' direction='out'/>"
    "  <arg type='s' direction='out'/></method>"
    " <signal name='NotificationClosed'><arg type='u'/><arg type='u'/></signal>"
    " <signal name='ActionInvoked'><arg type='u'/><arg type='s'/></signal>"
    "</interface></node>";

/* ---- the notification server ------------------------------------------ */

static void
notifications_method (GDBusConnection *bus, const char *sender, const char *path,
                      const char *iface, const char *method, GVariant *params,
                      GDBusMethodInvocation *inv, gpointer user_data)
{
  static guint32 next_id = 1;
  (void) bus;
  (void) sender;
  (void) path;
  (void) iface;
  (void) user_data;

  if (g_str_equal (method, "Notify"))
    {
      const char *summary, *body;
      g_variant_get_child (params, 3, "&s", &summary);
      g_variant_get_child (params, 4, "&s", &body);
      printf ("notify: %s | %s\n", summary, body);
      fflush (stdout);
      g_dbus_method_invocation_return_value (inv, g_variant_new ("(u)", next_id++));
    }
  else if (g_str_equal (method, "GetCapabilities"))
    {
      const char *caps[] = { "body", "actions", NULL };
      g_dbus_method_invocation_return_value (inv, g_variant_new ("(^as)", caps));
    }
  else if (g_str_equal (method, "GetServerInformation"))
    g_dbus_method_invocation_return_value (
      inv, g_variant_new ("(ssss)", "fake-shell", "libfz tests", "1", "1.2"));
  else
    g_dbus_method_invocation_return_value (inv, NULL);
}

static const GDBusInterfaceVTable notifications_vtable
  = { notifications_method, NULL, NULL, { 0 } };

/* ---- the watcher ------------------------------------------------------ */

typedef struct
{
  GDBusConnection *bus;
  GPtrArray *items;    /* "SERVICE/PATH" strings, as KDE's watcher lists them */
  GHashTable *watches; /* item string -> name watch id */
  GMainLoop *loop;
} Watcher;

static void
emit (Watcher *w, const char *signal, GVariant *args)
{
  g_dbus_connection_emit_signal (w->bus, NULL, WATCHER_PATH, WATCHER_NAME, signal, args,
                                 NULL);
}

static void
on_item_vanished (GDBusConnection *bus, const char *name, gpointer user_data)
{
  Watcher *w = user_data;
  (void) bus;
  for (guint i = 0; i < w->items->len;)
    {
      const char *item = g_ptr_array_index (w->items, i);
      if (g_str_has_prefix (item, name) && item[strlen (name)] == '/')
        {
          printf ("unregistered %s %s\n", name, item + strlen (name));
          fflush (stdout);
          emit (w, "StatusNotifierItemUnregistered", g_variant_new ("(s)", item));
          g_hash_table_remove (w->watches, item);
          g_ptr_array_remove_index (w->items, i);
        }
      else
        {
          i++;
        }
    }
}

static void
register_item (Watcher *w, const char *sender, const char *arg)
{
  /* Ayatana passes its object path; others pass a bus name and use the
   * default path. */
  const char *service = arg[0] == '/' ? sender : arg;
  const char *path = arg[0] == '/' ? arg : "/StatusNotifierItem";
  g_autofree char *item = g_strconcat (service, path, NULL);

  if (g_hash_table_contains (w->watches, item))
    return;
  guint id = g_bus_watch_name_on_connection (
    w->bus, service, G_BUS_NAME_WATCHER_FLAGS_NONE, NULL, on_item_vanished, w, NULL);
  g_hash_table_insert (w->watches, g_strdup (item), GUINT_TO_POINTER (id));
  g_ptr_array_add (w->items, g_strdup (item));
  printf ("registered %s %s\n", service, path);
  fflush (stdout);
  emit (w, "StatusNotifierItemRegistered", g_variant_new ("(s)", item));
}

static void
watcher_method (GDBusConnection *bus, const char *sender, const char *path,
                const char *iface, const char *method, GVariant *params,
                GDBusMethodInvocation *inv, gpointer user_data)
{
  Watcher *w = user_data;
  const char *arg;
  (void) bus;
  (void) path;
  (void) iface;

  g_variant_get (params, "(&s)", &arg);
  if (g_str_equal (method, "RegisterStatusNotifierItem"))
    register_item (w, sender, arg);
  g_dbus_method_invocation_return_value (inv, NULL);
}

static GVariant *
watcher_get (GDBusConnection *bus, const char *sender, const char *path,
             const char *iface, const char *prop, GError **error, gpointer user_data)
{
  Watcher *w = user_data;
  (void) bus;
  (void) sender;
  (void) path;
  (void) iface;
  (void) error;

  if (g_str_equal (prop, "RegisteredStatusNotifierItems"))
    return g_variant_new_strv ((const char *const *) w->items->pdata, w->items->len);
  if (g_str_equal (prop, "IsStatusNotifierHostRegistered"))
    return g_variant_new_boolean (TRUE);
  return g_variant_new_int32 (0); /* ProtocolVersion */
}

static const GDBusInterfaceVTable watcher_vtable
  = { watcher_method, watcher_get, NULL, { 0 } };

static void
on_watcher_acquired (GDBusConnection *bus, const char *name, gpointer user_data)
{
  Watcher *w = user_data;
  (void) bus;
  (void) name;
  emit (w, "StatusNotifierHostRegistered", NULL);
  printf ("watcher: ready\n");
  fflush (stdout);
}

static void
on_watcher_lost (GDBusConnection *bus, const char *name, gpointer user_data)
{
  Watcher *w = user_data;
  (void) bus;
  g_printerr ("fake-shell: could not own %s\n", name);
  g_main_loop_quit (w->loop);
}

static gboolean
on_signal (gpointer user_data)
{
  g_main_loop_quit (((Watcher *) user_data)->loop);
  return G_SOURCE_REMOVE;
}

static int
run_watcher (GDBusConnection *bus)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusNodeInfo) info = g_dbus_node_info_new_for_xml (watcher_xml, &error);
  g_assert_no_error (error);
  Watcher w = {
    .bus = bus,
    .items = g_ptr_array_new_null_terminated (4, g_free, TRUE),
    .watches = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL),
    .loop = g_main_loop_new (NULL, FALSE),
  };

  guint reg = g_dbus_connection_register_object (bus, WATCHER_PATH, info->interfaces[0],
                                                 &watcher_vtable, &w, NULL, &error);
  if (!reg)
    {
      g_printerr ("fake-shell: %s\n", error->message);
      return 1;
    }
  g_autoptr (GDBusNodeInfo) ninfo
    = g_dbus_node_info_new_for_xml (notifications_xml, &error);
  g_assert_no_error (error);
  guint nreg = g_dbus_connection_register_object (
    bus, "/org/freedesktop/Notifications", ninfo->interfaces[0], &notifications_vtable,
    NULL, NULL, &error);
  g_assert_no_error (error);
  guint notif_id
    = g_bus_own_name_on_connection (bus, "org.freedesktop.Notifications",
                                    G_BUS_NAME_OWNER_FLAGS_NONE, NULL, NULL, NULL, NULL);
  /* Some items look for a host name besides the watcher's property. */
  g_autofree char *host
    = g_strdup_printf ("org.kde.StatusNotifierHost-%d", (int) getpid ());
  guint host_id = g_bus_own_name_on_connection (bus, host, G_BUS_NAME_OWNER_FLAGS_NONE,
                                                NULL, NULL, NULL, NULL);
  guint own_id
    = g_bus_own_name_on_connection (bus, WATCHER_NAME, G_BUS_NAME_OWNER_FLAGS_NONE,
                                    on_watcher_acquired, on_watcher_lost, &w, NULL);
  g_unix_signal_add (SIGTERM, on_signal, &w);
  g_unix_signal_add (SIGINT, on_signal, &w);
  g_main_loop_run (w.loop);

  g_bus_unown_name (own_id);
  g_bus_unown_name (host_id);
  g_bus_unown_name (notif_id);
  g_dbus_connection_unregister_object (bus, reg);
  g_dbus_connection_unregister_object (bus, nreg);
  GHashTableIter iter;
  gpointer id;
  g_hash_table_iter_init (&iter, w.watches);
  while (g_hash_table_iter_next (&iter, NULL, &id))
    g_bus_unwatch_name (GPOINTER_TO_UINT (id));
  g_hash_table_unref (w.watches);
  g_ptr_array_unref (w.items);
  g_main_loop_unref (w.loop);
  return 0;
}

/* ---- the client commands ---------------------------------------------- */

static GVariant *
get_prop (GDBusConnection *bus, const char *service, const char *path, const char *iface,
          const char *prop, GError **error)
{
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
    bus, service, path, "org.freedesktop.DBus.Properties", "Get",
    g_variant_new ("(ss)", iface, prop), G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE,
    5000, NULL, error);
  if (!reply)
    return NULL;
  GVariant *value;
  g_variant_get (reply, "(v)", &value);
  return value;
}

/* Waits, bounded, for the watcher to list an item; splits "SERVICE/PATH". */
static gboolean
find_item (GDBusConnection *bus, char **service, char **path)
{
  const char *env = g_getenv ("FAKE_SHELL_TIMEOUT");
  gint64 deadline = g_get_monotonic_time () + (env ? atoi (env) : 10) * G_USEC_PER_SEC;

  do
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GVariant) items
        = get_prop (bus, WATCHER_NAME, WATCHER_PATH, WATCHER_NAME,
                    "RegisteredStatusNotifierItems", &error);
      gsize n = 0;
      g_autofree const char **v = items ? g_variant_get_strv (items, &n) : NULL;
      if (n > 0)
        {
          const char *slash = strchr (v[0], '/');
          if (!slash)
            break;
          *service = g_strndup (v[0], slash - v[0]);
          *path = g_strdup (slash);
          return TRUE;
        }
      g_usleep (100 * 1000);
    }
  while (g_get_monotonic_time () < deadline);
  g_printerr ("fake-shell: no StatusNotifierItem registered\n");
  return FALSE;
}

static void
add_prop (JsonBuilder *b, const char *name, GVariant *v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_value (b, json_gvariant_serialize (v));
}

static int
cmd_item (GDBusConnection *bus, const char *service, const char *path)
{
  static const char *const props[]
    = { "Id", "Category", "Status", "Title", "IconName", "Menu" };
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "service");
  json_builder_add_string_value (b, service);
  json_builder_set_member_name (b, "path");
  json_builder_add_string_value (b, path);
  for (guint i = 0; i < G_N_ELEMENTS (props); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GVariant) v
        = get_prop (bus, service, path, ITEM_IFACE, props[i], &error);
      if (!v)
        {
          g_printerr ("fake-shell: %s: %s\n", props[i], error->message);
          return 1;
        }
      add_prop (b, props[i], v);
    }
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = json_to_string (root, TRUE);
  printf ("%s\n", text);
  return 0;
}

/* "Say _Hello" -> "Say Hello"; "__" is a literal underscore. */
static char *
strip_mnemonic (const char *label)
{
  GString *s = g_string_new (NULL);
  for (const char *p = label; *p; p++)
    {
      if (*p == '_')
        p++;
      if (!*p)
        break;
      g_string_append_c (s, *p);
    }
  return g_string_free (s, FALSE);
}

/* One layout node (ia{sv}av) as JSON; dbusmenu omits properties that have
 * their default value, so the defaults are filled in here. */
static void
node_to_json (JsonBuilder *b, GVariant *node)
{
  gint32 id;
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GVariant) children = NULL;
  g_variant_get (node, "(i@a{sv}@av)", &id, &props, &children);

  GVariantDict d;
  g_variant_dict_init (&d, props);
  const char *label = "", *type = "standard", *display = "";
  gboolean enabled = TRUE, visible = TRUE;
  g_variant_dict_lookup (&d, "label", "&s", &label);
  g_variant_dict_lookup (&d, "type", "&s", &type);
  g_variant_dict_lookup (&d, "children-display", "&s", &display);
  g_variant_dict_lookup (&d, "enabled", "b", &enabled);
  g_variant_dict_lookup (&d, "visible", "b", &visible);
  g_autofree char *text = strip_mnemonic (label);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_int_value (b, id);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, type);
  json_builder_set_member_name (b, "label");
  json_builder_add_string_value (b, label);
  json_builder_set_member_name (b, "text");
  json_builder_add_string_value (b, text);
  json_builder_set_member_name (b, "enabled");
  json_builder_add_boolean_value (b, enabled);
  json_builder_set_member_name (b, "visible");
  json_builder_add_boolean_value (b, visible);
  json_builder_set_member_name (b, "children-display");
  json_builder_add_string_value (b, display);
  json_builder_set_member_name (b, "children");
  json_builder_begin_array (b);
  for (gsize i = 0; i < g_variant_n_children (children); i++)
    {
      g_autoptr (GVariant) boxed = g_variant_get_child_value (children, i);
      g_autoptr (GVariant) child = g_variant_get_variant (boxed);
      node_to_json (b, child);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_variant_dict_clear (&d);
}

static GVariant *
get_layout (GDBusConnection *bus, const char *service, const char *item_path,
            char **menu_path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) menu
    = get_prop (bus, service, item_path, ITEM_IFACE, "Menu", &error);
  if (!menu || !g_variant_is_of_type (menu, G_VARIANT_TYPE_OBJECT_PATH))
    {
      g_printerr ("fake-shell: no Menu property: %s\n",
                  error ? error->message : "not a path");
      return NULL;
    }
  *menu_path = g_variant_dup_string (menu, NULL);
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
    bus, service, *menu_path, MENU_IFACE, "GetLayout",
    g_variant_new ("(ii@as)", 0, -1, g_variant_new_strv (NULL, 0)),
    G_VARIANT_TYPE ("(u(ia{sv}av))"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
  if (!reply)
    {
      g_printerr ("fake-shell: GetLayout: %s\n", error->message);
      return NULL;
    }
  return g_variant_get_child_value (reply, 1);
}

static int
cmd_layout (GDBusConnection *bus, const char *service, const char *path)
{
  g_autofree char *menu_path = NULL;
  g_autoptr (GVariant) layout = get_layout (bus, service, path, &menu_path);
  if (!layout)
    return 1;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  node_to_json (b, layout);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = json_to_string (root, TRUE);
  printf ("%s\n", text);
  return 0;
}

static void
node_to_text (GString *out, GVariant *node, int depth)
{
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GVariant) children = NULL;
  const char *label = "", *type = "standard";
  gboolean enabled = TRUE, visible = TRUE;
  gint32 id;

  g_variant_get (node, "(i@a{sv}@av)", &id, &props, &children);
  g_variant_lookup (props, "label", "&s", &label);
  g_variant_lookup (props, "type", "&s", &type);
  g_variant_lookup (props, "enabled", "b", &enabled);
  g_variant_lookup (props, "visible", "b", &visible);
  if (depth >= 0 && visible)
    {
      g_autofree char *text = strip_mnemonic (label);
      g_string_append_printf (out, "%*s%s%s\n", depth * 2, "",
                              g_str_equal (type, "separator") ? "--" : text,
                              enabled ? "" : " (off)");
    }
  for (gsize i = 0; visible && i < g_variant_n_children (children); i++)
    {
      g_autoptr (GVariant) boxed = g_variant_get_child_value (children, i);
      g_autoptr (GVariant) child = g_variant_get_variant (boxed);
      node_to_text (out, child, depth + 1);
    }
}

static int
cmd_menu (GDBusConnection *bus, const char *service, const char *path)
{
  g_autofree char *menu_path = NULL;
  g_autoptr (GVariant) layout = get_layout (bus, service, path, &menu_path);
  g_autoptr (GString) out = g_string_new (NULL);

  if (!layout)
    return 1;
  node_to_text (out, layout, -1);
  fputs (out->str, stdout);
  return 0;
}

/* The first node, depth first, whose label is @parts[0]; then within it
 * the rest of the path. */
static gint32
find_path (GVariant *node, char **parts)
{
  gint32 id;
  const char *label = "";
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GVariant) children = NULL;
  g_variant_get (node, "(i@a{sv}@av)", &id, &props, &children);
  g_variant_lookup (props, "label", "&s", &label);
  g_autofree char *text = strip_mnemonic (label);
  if (g_str_equal (text, parts[0]))
    {
      if (parts[1] == NULL)
        return id;
      parts++;
    }
  for (gsize i = 0; i < g_variant_n_children (children); i++)
    {
      g_autoptr (GVariant) boxed = g_variant_get_child_value (children, i);
      g_autoptr (GVariant) child = g_variant_get_variant (boxed);
      gint32 found = find_path (child, parts);
      if (found >= 0)
        return found;
    }
  return -1;
}

static gint32
find_label (GVariant *node, const char *want)
{
  g_auto (GStrv) parts = g_strsplit (want, " > ", -1);
  return find_path (node, parts);
}

static int
cmd_click (GDBusConnection *bus, const char *service, const char *path, const char *want)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *menu_path = NULL;
  g_autoptr (GVariant) layout = get_layout (bus, service, path, &menu_path);
  if (!layout)
    return 1;
  gint32 id = find_label (layout, want);
  if (id < 0)
    {
      g_printerr ("fake-shell: no menu item labelled '%s'\n", want);
      return 1;
    }
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
    bus, service, menu_path, MENU_IFACE, "Event",
    g_variant_new ("(isvu)", id, "clicked", g_variant_new_int32 (0), 0u), NULL,
    G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
  /* An item that quits the app may take it off the bus before the reply
   * goes out: the click was delivered; the caller checks how it ended. */
  if (!reply && !g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY))
    {
      g_printerr ("fake-shell: Event: %s\n", error->message);
      return 1;
    }
  printf ("clicked %d%s\n", id, reply ? "" : " (no reply: the app left the bus)");
  return 0;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  const char *cmd = argc > 1 ? argv[1] : "";
  if (!g_str_equal (cmd, "watch") && !g_str_equal (cmd, "item")
      && !g_str_equal (cmd, "layout") && !g_str_equal (cmd, "menu")
      && !(g_str_equal (cmd, "click") && argc == 3))
    {
      g_printerr ("usage: fake-shell watch | item | layout | menu | click LABEL\n");
      return 2;
    }
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (!bus)
    {
      g_printerr ("fake-shell: %s\n", error->message);
      return 1;
    }
  if (g_str_equal (cmd, "watch"))
    return run_watcher (bus);

  g_autofree char *service = NULL, *path = NULL;
  if (!find_item (bus, &service, &path))
    return 1;
  if (g_str_equal (cmd, "item"))
    return cmd_item (bus, service, path);
  if (g_str_equal (cmd, "layout"))
    return cmd_layout (bus, service, path);
  if (g_str_equal (cmd, "menu"))
    return cmd_menu (bus, service, path);
  return cmd_click (bus, service, path, argv[2]);
}
