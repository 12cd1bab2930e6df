/* Small state files of the daemons (device id, token, DNS backups):
 * written atomically, read with a bound. Errors are G_IO_ERROR and name
 * the path. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Writes @data to @path atomically (a temp file in the same directory,
 * fsync, rename, fsync of the directory), with mode @mode exactly (0600
 * for secrets), whatever the umask; the directory must exist. */
gboolean fz_state_file_write (const char *path, const char *data, gsize len, int mode,
                              GError **error);
/* Reads a regular file of at most @max bytes (a longer one is an error,
 * not truncated); NUL-terminated, its length in @len (may be NULL).
 * G_IO_ERROR_NOT_FOUND when it does not exist. */
char *fz_state_file_read (const char *path, gsize max, gsize *len, GError **error);
/* Creates @dir (0700, with its missing parents) if missing and checks
 * that it is a directory; an existing one keeps its mode. */
gboolean fz_state_dir_ensure (const char *dir, GError **error);

G_END_DECLS
