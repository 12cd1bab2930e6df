#include "fz-state-file.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static gboolean
fail_errno (GError **error, int err, const char *what, const char *path)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "%s %s: %s", what, path,
               g_strerror (err));
  return FALSE;
}

static gboolean
write_all (int fd, const char *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* The rename is durable only once the directory's entry is on disk. */
static void
sync_dir (const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0)
    {
      fsync (fd);
      close (fd);
    }
}

gboolean
fz_state_file_write (const char *path, const char *data, gsize len, int mode,
                     GError **error)
{
  g_return_val_if_fail (path != NULL && (data != NULL || len == 0), FALSE);
  g_autofree char *tmp = g_strdup_printf ("%s.XXXXXX", path);
  int fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0)
    return fail_errno (error, errno, "Could not create a file next to", path);

  int err = 0;
  /* fchmod, not the open mode: the umask must not change a state file. */
  if (fchmod (fd, (mode_t) mode) < 0 || !write_all (fd, data, len) || fsync (fd) < 0)
    err = errno != 0 ? errno : EIO;
  if (close (fd) < 0 && err == 0)
    err = errno;
  if (err == 0 && rename (tmp, path) < 0)
    err = errno;
  if (err != 0)
    {
      unlink (tmp);
      return fail_errno (error, err, "Could not write", path);
    }
  sync_dir (path);
  return TRUE;
}

char *
fz_state_file_read (const char *path, gsize max, gsize *len, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    {
      fail_errno (error, errno, "Could not open", path);
      return NULL;
    }
  struct stat st;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s is not a regular file",
                   path);
      return NULL;
    }

  /* One byte more than allowed tells a long file from one of @max. */
  g_autofree char *buf = g_malloc (max + 2);
  gsize got = 0;
  while (got <= max)
    {
      ssize_t n = read (fd, buf + got, max + 1 - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int err = errno;
          close (fd);
          fail_errno (error, err, "Could not read", path);
          return NULL;
        }
      if (n == 0)
        break;
      got += (gsize) n;
    }
  close (fd);
  if (got > max)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s is larger than %" G_GSIZE_FORMAT " bytes", path, max);
      return NULL;
    }
  buf[got] = '\0';
  if (len != NULL)
    *len = got;
  return g_steal_pointer (&buf);
}

gboolean
fz_state_dir_ensure (const char *dir, GError **error)
{
  g_return_val_if_fail (dir != NULL, FALSE);
  if (g_mkdir_with_parents (dir, 0700) < 0)
    return fail_errno (error, errno, "Could not create directory", dir);
  struct stat st;
  if (stat (dir, &st) < 0)
    return fail_errno (error, errno, "Could not stat", dir);
  if (!S_ISDIR (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY, "%s is not a directory",
                   dir);
      return FALSE;
    }
  return TRUE;
}
