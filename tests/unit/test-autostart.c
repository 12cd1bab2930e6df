/* fz-autostart: the per-user XDG autostart entry, written from the
 * built-in template and removed again, in an XDG_CONFIG_HOME of our own
 * that each test starts without. (Not G_TEST_OPTION_ISOLATE_DIRS: GLib
 * keeps every replaced directory string alive, which LeakSanitizer
 * reports.) */
#include "fz-autostart.h"

#define G_SETTINGS_ENABLE_BACKEND
#include <gio/gsettingsbackend.h>

#include "tmp-tree.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

/* Each test begins with no config directory at all. */
static void
fresh (void)
{
  tmp_tree_remove (g_get_user_config_dir ());
  g_assert_false (g_file_test (g_get_user_config_dir (), G_FILE_TEST_EXISTS));
}

static char *
autostart_dir (void)
{
  return g_build_filename (g_get_user_config_dir (), "autostart", NULL);
}

static void
assert_mode (const char *path, guint mode)
{
  GStatBuf st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpuint (st.st_mode & 0777, ==, mode);
}

static void
test_isolated (void)
{
  /* Writing into the real ~/.config would be a bug of the test itself. */
  g_autofree char *path = fz_autostart_path ();

  g_assert_true (g_str_has_prefix (path, g_get_tmp_dir ()));
  g_assert_true (g_str_has_suffix (path, "/autostart/dev.libfz.Client.desktop"));
}

static void
test_enable_writes_template (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = fz_autostart_path ();
  g_autofree char *dir = autostart_dir ();
  g_autofree char *want_path = g_test_build_filename (
    G_TEST_DIST, "..", "data", "dev.libfz.Client.autostart.desktop", NULL);
  g_autofree char *got = NULL, *want = NULL;

  g_assert_false (fz_autostart_is_enabled ());
  g_assert_true (fz_autostart_set (TRUE, &error));
  g_assert_no_error (error);
  g_assert_true (fz_autostart_is_enabled ());
  assert_mode (dir, 0700);
  assert_mode (path, 0644);
  g_assert_true (g_file_get_contents (path, &got, NULL, NULL));
  g_assert_true (g_file_get_contents (want_path, &want, NULL, NULL));
  g_assert_cmpstr (got, ==, want);
  /* Again: replaces the file, no error. */
  g_assert_true (fz_autostart_set (TRUE, &error));
  g_assert_no_error (error);
}

static void
test_template_is_autostart_entry (void)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = fz_autostart_path ();
  g_autofree char *exec = NULL;

  g_assert_true (fz_autostart_set (TRUE, &error));
  g_assert_true (g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &error));
  g_assert_no_error (error);
  exec = g_key_file_get_string (kf, "Desktop Entry", "Exec", &error);
  g_assert_no_error (error);
  g_assert_true (g_str_equal (exec, "fz-gui") || g_str_has_prefix (exec, "fz-gui "));
  g_assert_true (
    g_key_file_get_boolean (kf, "Desktop Entry", "X-GNOME-Autostart-enabled", &error));
  g_assert_no_error (error);
  g_assert_false (g_key_file_has_key (kf, "Desktop Entry", "Hidden", NULL));
}

static void
test_disable_removes (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = fz_autostart_path ();

  /* Missing file, missing directory: nothing to do, not an error. */
  g_assert_true (fz_autostart_set (FALSE, &error));
  g_assert_no_error (error);
  g_assert_true (fz_autostart_set (TRUE, &error));
  g_assert_true (fz_autostart_set (FALSE, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_false (fz_autostart_is_enabled ());
}

static void
test_existing_dir_kept (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = autostart_dir ();
  g_autofree char *other = g_build_filename (dir, "other.desktop", NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (other, "x", 1, NULL));
  g_assert_true (fz_autostart_set (TRUE, &error));
  g_assert_true (fz_autostart_set (FALSE, &error));
  g_assert_no_error (error);
  assert_mode (dir, 0755);
  g_assert_true (g_file_test (other, G_FILE_TEST_IS_REGULAR));
}

/* "autostart" is a file: both directions fail, with a message, also as
 * root (permissions would not stop root). */
static void
test_errors (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = autostart_dir ();

  g_assert_cmpint (g_mkdir_with_parents (g_get_user_config_dir (), 0700), ==, 0);
  g_assert_true (g_file_set_contents (dir, "not a directory", -1, NULL));
  g_assert_false (fz_autostart_set (TRUE, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR);
  g_assert_nonnull (strstr (error->message, dir));
  g_clear_error (&error);
  g_assert_false (fz_autostart_set (FALSE, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR);
  g_assert_false (fz_autostart_is_enabled ());
}

static GSettings *
memory_settings (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSettingsSchemaSource) source
    = g_settings_schema_source_new_from_directory (FZ_GUI_SCHEMA_DIR, NULL, TRUE, &error);
  g_autoptr (GSettingsSchema) schema = NULL;
  g_autoptr (GSettingsBackend) backend = g_memory_settings_backend_new ();

  g_assert_no_error (error);
  schema = g_settings_schema_source_lookup (source, "dev.libfz.Client", FALSE);
  g_assert_nonnull (schema);
  return g_settings_new_full (schema, backend, NULL);
}

static void
test_sync (void)
{
  g_autoptr (GSettings) settings = memory_settings ();
  g_autoptr (GError) error = NULL;

  g_assert_false (g_settings_get_boolean (settings, "start-on-login"));
  g_assert_true (fz_autostart_set (TRUE, &error));
  g_assert_true (fz_autostart_sync (settings, &error));
  g_assert_no_error (error);
  g_assert_false (fz_autostart_is_enabled ());
  g_settings_set_boolean (settings, "start-on-login", TRUE);
  g_assert_true (fz_autostart_sync (settings, &error));
  g_assert_true (fz_autostart_is_enabled ());
}

/* ---- the Background portal, as a Flatpak's fz-gui uses it ---------- */

/* A fake org.freedesktop.portal.Desktop in a thread of its own (the
 * client's call is synchronous): records the RequestBackground call and
 * answers with Response on the request's path, as the real one does. */
typedef struct
{
  char *address;
  gboolean grant_autostart;
  GMutex lock;
  GCond cond;
  gboolean ready;
  GMainLoop *loop;
  GVariant *params; /* the last call's */
  char *sender;
} FakePortal;

static const char portal_xml[]
  = "<node><interface name='org.freedesktop.portal.Background'>"
    "<method name='RequestBackground'><arg type='s' direction='in'/>"
    "<arg type='a{sv}' direction='in'/><arg type='o' direction='out'/></method>"
    "</interface></node>";

static void
fake_portal_call (GDBusConnection *conn, const char *sender, const char *path,
                  const char *iface, const char *method, GVariant *params,
                  GDBusMethodInvocation *inv, gpointer data)
{
  FakePortal *fp = data;
  g_autoptr (GVariant) opts = g_variant_get_child_value (params, 1);
  g_autofree char *who = g_strdup (sender + 1);
  g_autofree char *handle = NULL;
  const char *token = "t";
  GVariantBuilder results;

  g_variant_lookup (opts, "handle_token", "&s", &token);
  g_strdelimit (who, ".", '_');
  handle = g_strdup_printf ("/org/freedesktop/portal/desktop/request/%s/%s", who, token);
  g_mutex_lock (&fp->lock);
  g_clear_pointer (&fp->params, g_variant_unref);
  fp->params = g_variant_ref (params);
  g_free (fp->sender);
  fp->sender = g_strdup (sender);
  g_mutex_unlock (&fp->lock);
  g_dbus_method_invocation_return_value (inv, g_variant_new ("(o)", handle));
  g_variant_builder_init (&results, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&results, "{sv}", "background", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&results, "{sv}", "autostart",
                         g_variant_new_boolean (fp->grant_autostart));
  g_dbus_connection_emit_signal (conn, sender, handle, "org.freedesktop.portal.Request",
                                 "Response", g_variant_new ("(ua{sv})", 0, &results),
                                 NULL);
}

static gpointer
fake_portal_thread (gpointer data)
{
  FakePortal *fp = data;
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) conn = NULL;
  g_autoptr (GDBusNodeInfo) node = NULL;
  g_autoptr (GVariant) reply = NULL;
  const GDBusInterfaceVTable vtable = { fake_portal_call, NULL, NULL, { 0 } };
  guint reg;

  g_main_context_push_thread_default (ctx);
  conn = g_dbus_connection_new_for_address_sync (
    fp->address,
    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
      | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
    NULL, NULL, &error);
  g_assert_no_error (error);
  node = g_dbus_node_info_new_for_xml (portal_xml, &error);
  g_assert_no_error (error);
  reg
    = g_dbus_connection_register_object (conn, "/org/freedesktop/portal/desktop",
                                         node->interfaces[0], &vtable, fp, NULL, &error);
  g_assert_no_error (error);
  reply = g_dbus_connection_call_sync (
    conn, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
    "RequestName", g_variant_new ("(su)", "org.freedesktop.portal.Desktop", 0),
    G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  fp->loop = g_main_loop_new (ctx, FALSE);
  g_mutex_lock (&fp->lock);
  fp->ready = TRUE;
  g_cond_signal (&fp->cond);
  g_mutex_unlock (&fp->lock);
  g_main_loop_run (fp->loop);
  g_dbus_connection_unregister_object (conn, reg);
  g_dbus_connection_close_sync (conn, NULL, NULL);
  g_main_context_pop_thread_default (ctx);
  return NULL;
}

static gboolean
quit_loop (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

/* Delivers what the bus has sent us so far: a round trip to the bus
 * daemon comes back after every earlier message from the portal. */
static void
drain (GDBusConnection *conn)
{
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
    conn, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
    "GetId", NULL, NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);

  g_assert_nonnull (reply);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
portal_round (gboolean grant)
{
  g_autoptr (GTestDBus) bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) conn = NULL;
  g_autoptr (GVariant) opts = NULL;
  g_autofree const char **cmd = NULL;
  g_autofree char *path = fz_autostart_path ();
  FakePortal fp = { .grant_autostart = grant };
  const char *parent, *token, *reason;
  gboolean autostart = FALSE;
  GThread *thread;

  g_test_dbus_up (bus);
  fp.address = g_strdup (g_test_dbus_get_bus_address (bus));
  conn = g_dbus_connection_new_for_address_sync (
    fp.address,
    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
      | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
    NULL, NULL, &error);
  g_assert_no_error (error);

  /* No portal on the bus yet: an error that says which. */
  g_assert_false (fz_autostart_request_background (conn, TRUE, &error));
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN);
  g_assert_true (g_str_has_prefix (error->message, "The background portal"));
  g_clear_error (&error);

  g_mutex_init (&fp.lock);
  g_cond_init (&fp.cond);
  thread = g_thread_new ("fake-portal", fake_portal_thread, &fp);
  g_mutex_lock (&fp.lock);
  while (!fp.ready)
    g_cond_wait (&fp.cond, &fp.lock);
  g_mutex_unlock (&fp.lock);

  if (!grant)
    g_test_expect_message ("fz-gui", G_LOG_LEVEL_WARNING,
                           "*refused to start fz-gui on login*");
  g_assert_true (fz_autostart_request_background (conn, TRUE, &error));
  g_assert_no_error (error);
  drain (conn);
  g_test_assert_expected_messages ();

  g_mutex_lock (&fp.lock);
  g_assert_cmpstr (fp.sender, ==, g_dbus_connection_get_unique_name (conn));
  g_variant_get (fp.params, "(&s@a{sv})", &parent, &opts);
  g_mutex_unlock (&fp.lock);
  g_assert_cmpstr (parent, ==, "");
  g_assert_true (g_variant_lookup (opts, "autostart", "b", &autostart));
  g_assert_true (autostart);
  g_assert_true (g_variant_lookup (opts, "commandline", "^a&s", &cmd));
  g_assert_cmpuint (g_strv_length ((char **) cmd), ==, 1);
  g_assert_cmpstr (cmd[0], ==, "fz-gui");
  g_assert_true (g_variant_lookup (opts, "handle_token", "&s", &token));
  /* One element of an object path, as the Request documentation asks. */
  g_assert_true (g_regex_match_simple ("^[A-Za-z0-9_]+$", token, 0, 0));
  g_assert_true (g_variant_lookup (opts, "reason", "&s", &reason));
  g_assert_cmpstr (reason, !=, "");
  g_clear_pointer (&opts, g_variant_unref);

  /* Off: autostart=false, and no warning whatever the answer. */
  g_assert_true (fz_autostart_request_background (conn, FALSE, &error));
  g_assert_no_error (error);
  drain (conn);
  g_mutex_lock (&fp.lock);
  g_variant_get (fp.params, "(&s@a{sv})", &parent, &opts);
  g_mutex_unlock (&fp.lock);
  g_assert_true (g_variant_lookup (opts, "autostart", "b", &autostart));
  g_assert_false (autostart);

  /* The portal's way never touches our own config directory. */
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));

  g_main_context_invoke (g_main_loop_get_context (fp.loop), quit_loop, fp.loop);
  g_thread_join (thread);
  g_main_loop_unref (fp.loop);
  g_variant_unref (fp.params);
  g_free (fp.sender);
  g_free (fp.address);
  g_mutex_clear (&fp.lock);
  g_cond_clear (&fp.cond);
  g_dbus_connection_close_sync (conn, NULL, NULL);
  g_clear_object (&conn);
  g_test_dbus_down (bus);
}

static void
test_portal_granted (void)
{
  portal_round (TRUE);
}

static void
test_portal_refused (void)
{
  portal_round (FALSE);
}

/* Not in a sandbox here: the tests above wrote files. */
static void
test_not_sandboxed (void)
{
  g_assert_false (fz_autostart_in_sandbox ());
}

typedef void (*TestFunc) (void);

static void
run_fresh (gconstpointer test)
{
  fresh ();
  ((TestFunc) test) ();
}

static void
add (const char *name, TestFunc test)
{
  g_test_add_data_func (name, (gconstpointer) test, run_fresh);
}

int
main (int argc, char **argv)
{
  g_autofree char *root = tmp_tree_new ();
  g_autofree char *config = g_build_filename (root, "config", NULL);
  int rc;

  /* Before anything asks GLib for the directory: it is read once. */
  g_setenv ("XDG_CONFIG_HOME", config, TRUE);
  g_test_init (&argc, &argv, NULL);
  add ("/autostart/isolated", test_isolated);
  add ("/autostart/enable-writes-template", test_enable_writes_template);
  add ("/autostart/template-is-autostart-entry", test_template_is_autostart_entry);
  add ("/autostart/disable-removes", test_disable_removes);
  add ("/autostart/existing-dir-kept", test_existing_dir_kept);
  add ("/autostart/errors", test_errors);
  add ("/autostart/sync", test_sync);
  add ("/autostart/not-sandboxed", test_not_sandboxed);
  add ("/autostart/portal/granted", test_portal_granted);
  add ("/autostart/portal/refused", test_portal_refused);
  rc = g_test_run ();
  tmp_tree_remove (root);
  return rc;
}
