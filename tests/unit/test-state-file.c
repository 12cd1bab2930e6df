/* fz-state-file: atomic writes with exact modes, bounded reads, state
 * directories. */
#include "fz-private.h"
#include "tmp-tree.h"

#include <sys/stat.h>

static guint
mode_of (const char *path)
{
  struct stat st;
  g_assert_cmpint (stat (path, &st), ==, 0);
  return st.st_mode & 07777;
}

static guint
count_entries (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;
  while (g_dir_read_name (d) != NULL)
    n++;
  return n;
}

static void
test_write_modes (void)
{
  g_autofree char *dir = tmp_tree_new ();
  g_autofree char *path = g_build_filename (dir, "secret", NULL);
  g_autoptr (GError) error = NULL;

  /* The mode is exact whatever the umask. */
  mode_t old = umask (0077);
  g_assert_true (fz_state_file_write (path, "abc", 3, 0640, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (mode_of (path), ==, 0640);
  umask (0022);
  g_assert_true (fz_state_file_write (path, "second\n", 7, 0600, &error));
  g_assert_no_error (error);
  umask (old);
  g_assert_cmpuint (mode_of (path), ==, 0600);

  g_autofree char *text = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (path, &text, &len, NULL));
  g_assert_cmpstr (text, ==, "second\n");
  /* No temp file left beside it. */
  g_assert_cmpuint (count_entries (dir), ==, 1);

  /* Empty data is a valid file. */
  g_assert_true (fz_state_file_write (path, NULL, 0, 0600, &error));
  g_autofree char *empty = fz_state_file_read (path, 10, &len, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (empty, ==, "");
  g_assert_cmpuint (len, ==, 0);
  tmp_tree_remove (dir);
}

static void
test_write_errors (void)
{
  g_autofree char *dir = tmp_tree_new ();
  g_autofree char *path = g_build_filename (dir, "missing", "file", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_false (fz_state_file_write (path, "x", 1, 0600, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_cmpuint (count_entries (dir), ==, 0);
  tmp_tree_remove (dir);
}

static void
test_read_bounds (void)
{
  g_autofree char *dir = tmp_tree_new ();
  g_autofree char *path = g_build_filename (dir, "f", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_set_contents (path, "0123456789", 10, NULL));

  gsize len = 0;
  g_autofree char *exact = fz_state_file_read (path, 10, &len, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (exact, ==, "0123456789");
  g_assert_cmpuint (len, ==, 10);

  /* One byte too long is an error, not a truncated read. */
  g_assert_null (fz_state_file_read (path, 9, &len, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "larger than 9 bytes"));
  g_clear_error (&error);

  g_autofree char *missing = g_build_filename (dir, "missing", NULL);
  g_assert_null (fz_state_file_read (missing, 10, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_null (fz_state_file_read (dir, 10, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  tmp_tree_remove (dir);
}

static void
test_dir_ensure (void)
{
  g_autofree char *dir = tmp_tree_new ();
  g_autofree char *state = g_build_filename (dir, "a", "b", NULL);
  g_autoptr (GError) error = NULL;

  mode_t old = umask (0);
  g_assert_true (fz_state_dir_ensure (state, &error));
  umask (old);
  g_assert_no_error (error);
  g_assert_cmpuint (mode_of (state), ==, 0700);
  /* An existing one is fine and keeps its mode. */
  g_assert_cmpint (chmod (state, 0750), ==, 0);
  g_assert_true (fz_state_dir_ensure (state, &error));
  g_assert_cmpuint (mode_of (state), ==, 0750);

  g_autofree char *file = g_build_filename (dir, "file", NULL);
  g_assert_true (g_file_set_contents (file, "", 0, NULL));
  g_assert_false (fz_state_dir_ensure (file, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY);
  g_assert_nonnull (strstr (error->message, file));
  tmp_tree_remove (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/state-file/write-modes", test_write_modes);
  g_test_add_func ("/state-file/write-errors", test_write_errors);
  g_test_add_func ("/state-file/read-bounds", test_read_bounds);
  g_test_add_func ("/state-file/dir-ensure", test_dir_ensure);
  return g_test_run ();
}
