/* Scratch directories for tests of files: made under $TMPDIR, removed
 * with all they hold. */
#pragma once

#include <gio/gio.h>
#include <glib/gstdio.h>

static inline char *
tmp_tree_new (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("fz-test-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

static inline void
tmp_tree_remove (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *p = g_build_filename (dir, name, NULL);
      if (g_file_test (p, G_FILE_TEST_IS_DIR) && !g_file_test (p, G_FILE_TEST_IS_SYMLINK))
        tmp_tree_remove (p);
      else
        g_unlink (p);
    }
  g_rmdir (dir);
}
