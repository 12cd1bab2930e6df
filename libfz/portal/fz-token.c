#include "fz-token-private.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

/* A file may hold the token with a few lines of whitespace around it. */
#define FILE_MAX (FZ_TOKEN_MAX + 1024)

void
fz_token_free (char *token)
{
  if (token == NULL)
    return;
  sodium_memzero (token, strlen (token));
  g_free (token);
}

gboolean
fz_token_validate (const char *token, gsize len, const char *what, GError **error)
{
  if (len == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "The token in %s is empty",
                   what);
      return FALSE;
    }
  if (len > FZ_TOKEN_MAX)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "The token in %s is longer than %d bytes", what, FZ_TOKEN_MAX);
      return FALSE;
    }
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isgraph (token[i]))
      {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                     "The token in %s may hold only printable ASCII characters without "
                     "spaces (byte %" G_GSIZE_FORMAT " is not one)",
                     what, i + 1);
        return FALSE;
      }
  return TRUE;
}

/* Trims @len bytes at @raw and copies what is left if it is a valid
 * token; @what names the source in errors. */
static char *
token_from (const char *raw, gsize len, const char *what, GError **error)
{
  while (len > 0 && g_ascii_isspace (raw[0]))
    raw++, len--;
  while (len > 0 && g_ascii_isspace (raw[len - 1]))
    len--;
  if (!fz_token_validate (raw, len, what, error))
    return NULL;
  return g_strndup (raw, len);
}

/* NULL without an error when FIREZONE_TOKEN is unset or empty. */
static char *
from_env (GError **error)
{
  const char *env = g_getenv ("FIREZONE_TOKEN");
  if (env == NULL)
    return NULL;
  char *token
    = env[0] != '\0' ? token_from (env, strlen (env), "FIREZONE_TOKEN", error) : NULL;
  /* The value is writable memory (the initial environment or setenv's
   * copy): wiping it also clears it from /proc/PID/environ. */
  sodium_memzero ((char *) env, strlen (env));
  g_unsetenv ("FIREZONE_TOKEN");
  return token;
}

/* Reads the file; @owner and the mode are checked when @check is set. */
static char *
from_file (const char *path, gboolean check, uid_t owner, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    {
      int err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "Could not open the token file %s: %s", path, g_strerror (err));
      return NULL;
    }
  struct stat st;
  GError *bad = NULL;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    bad = g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "The token file %s is not a regular file", path);
  else if (check && st.st_uid != owner)
    bad = g_error_new (G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                       "The token file %s is owned by uid %u; it must be owned by %s "
                       "(chown %u %s)",
                       path, (unsigned) st.st_uid, owner == 0 ? "root" : "its user",
                       (unsigned) owner, path);
  else if (check && (st.st_mode & 07777) != 0600 && (st.st_mode & 07777) != 0400)
    bad = g_error_new (G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                       "The token file %s has mode %04o; others may read it. It must be "
                       "0600 or 0400 (chmod 600 %s)",
                       path, (unsigned) (st.st_mode & 07777), path);
  if (bad != NULL)
    {
      close (fd);
      g_propagate_error (error, bad);
      return NULL;
    }

  char buf[FILE_MAX + 1];
  gsize got = 0;
  int err = 0;
  while (got < sizeof buf)
    {
      ssize_t n = read (fd, buf + got, sizeof buf - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        err = errno;
      if (n <= 0)
        break;
      got += (gsize) n;
    }
  close (fd);

  char *token = NULL;
  if (err != 0)
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                 "Could not read the token file %s: %s", path, g_strerror (err));
  else if (got > FILE_MAX)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "The token file %s is larger than %d bytes", path, FILE_MAX);
  else
    token = token_from (buf, got, path, error);
  sodium_memzero (buf, sizeof buf);
  return token;
}

char *
fz_token_load_owned (const char *path, uid_t owner, GError **error)
{
  GError *local = NULL;
  char *token = from_env (&local);
  if (local != NULL)
    {
      g_propagate_error (error, local);
      return NULL;
    }
  if (token != NULL)
    return token;

  const char *creds = g_getenv ("CREDENTIALS_DIRECTORY");
  if (creds != NULL && creds[0] != '\0')
    {
      g_autofree char *cred = g_build_filename (creds, "FIREZONE_TOKEN", NULL);
      /* systemd made the file and its private directory: no owner check. */
      if (g_file_test (cred, G_FILE_TEST_EXISTS))
        return from_file (cred, FALSE, 0, error);
    }

  if (path == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                           "No token: set FIREZONE_TOKEN or give a token file");
      return NULL;
    }
  return from_file (path, TRUE, owner, error);
}

char *
fz_token_load (const char *path, GError **error)
{
  return fz_token_load_owned (path, 0, error);
}
