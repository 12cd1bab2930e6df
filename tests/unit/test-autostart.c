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
  rc = g_test_run ();
  tmp_tree_remove (root);
  return rc;
}
