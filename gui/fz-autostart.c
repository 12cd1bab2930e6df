#include "fz-autostart.h"
#include "fz-gui-core-resources.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#define TEMPLATE_PATH "/dev/libfz/Client/dev.libfz.Client.autostart.desktop"

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
fz_autostart_set (gboolean enabled, GError **error)
{
  g_autofree char *path = fz_autostart_path ();

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
