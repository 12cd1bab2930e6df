#include "fzctl-token.h"
#include "fzctl-exit.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The token and a newline, and one byte more to notice a longer input. */
#define READ_MAX (FZCTL_TOKEN_MAX + 3)

void
fzctl_token_free (char *token)
{
  if (token == NULL)
    return;
  explicit_bzero (token, strlen (token));
  g_free (token);
}

char *
fzctl_token_parse (const char *raw, gsize len, const char *what, GError **error)
{
  if (len > 0 && raw[len - 1] == '\n')
    len--;
  if (len > 0 && raw[len - 1] == '\r')
    len--;
  if (len == 0)
    {
      g_set_error (error, FZ_CTL_ERROR, FZCTL_EXIT_BAD_TOKEN, "the token in %s is empty",
                   what);
      return NULL;
    }
  if (len > FZCTL_TOKEN_MAX)
    {
      g_set_error (error, FZ_CTL_ERROR, FZCTL_EXIT_BAD_TOKEN,
                   "the token in %s is longer than %d bytes", what, FZCTL_TOKEN_MAX);
      return NULL;
    }
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isgraph (raw[i]))
      {
        g_set_error (error, FZ_CTL_ERROR, FZCTL_EXIT_BAD_TOKEN,
                     "the token in %s may hold only printable ASCII characters without "
                     "spaces, on one line (byte %" G_GSIZE_FORMAT " is not one)",
                     what, i + 1);
        return NULL;
      }
  return g_strndup (raw, len);
}

/* Reads @fd to its end, at most READ_MAX bytes, and parses that. */
static char *
read_fd (int fd, const char *what, GError **error)
{
  char buf[READ_MAX];
  gsize got = 0;
  char *token = NULL;
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
  if (err != 0)
    g_set_error (error, FZ_CTL_ERROR, FZCTL_EXIT_BAD_TOKEN, "cannot read %s: %s", what,
                 g_strerror (err));
  else
    token = fzctl_token_parse (buf, got, what, error);
  explicit_bzero (buf, sizeof buf);
  return token;
}

static char *
read_file (const char *path, GError **error)
{
  struct stat st;
  char *token;
  /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
   * below anyway. */
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

  if (fd < 0)
    {
      int err = errno;
      g_set_error (error, FZ_CTL_ERROR, FZCTL_EXIT_BAD_TOKEN,
                   "cannot open the token file %s: %s", path, g_strerror (err));
      return NULL;
    }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, FZ_CTL_ERROR, FZCTL_EXIT_BAD_TOKEN,
                   "the token file %s is not a regular file", path);
      return NULL;
    }
  if ((st.st_mode & 0066) != 0)
    {
      close (fd);
      g_set_error (error, FZ_CTL_ERROR, FZCTL_EXIT_BAD_TOKEN,
                   "the token file %s has mode %04o: others may read or change it "
                   "(chmod 600 %s)",
                   path, (unsigned) (st.st_mode & 07777), path);
      return NULL;
    }
  token = read_fd (fd, path, error);
  close (fd);
  return token;
}

char *
fzctl_token_read (const char *path, GError **error)
{
  if (path != NULL && strcmp (path, "-") != 0)
    return read_file (path, error);
  if (isatty (STDIN_FILENO))
    {
      g_set_error_literal (error, FZ_CTL_ERROR, FZCTL_EXIT_BAD_TOKEN,
                           "the token is read from stdin, which is a terminal: pipe it "
                           "in or give --token-file FILE");
      return NULL;
    }
  return read_fd (STDIN_FILENO, "stdin", error);
}
