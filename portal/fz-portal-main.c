/* fz-portal: the embedded control plane.
 *
 *   fz-portal [--config FILE] [--listen IP:PORT]   serve
 *   fz-portal check-config FILE                     parse and report
 *   fz-portal hash-password                         a password_hash line
 *   fz-portal new-token                             a token and its hash */
#include "fz-portal-config.h"
#include "fz-portal-server.h"

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <termios.h>
#include <unistd.h>

static gboolean
hup_cb (gpointer data)
{
  g_autoptr (GError) error = NULL;
  if (!fz_portal_server_reload (data, &error))
    g_warning ("reload refused, keeping the running configuration: %s", error->message);
  return G_SOURCE_CONTINUE;
}

static gboolean
quit_cb (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_CONTINUE;
}

static int
hash_password (void)
{
  char buf[1100];
  struct termios old, quiet;
  gboolean tty = isatty (STDIN_FILENO) && tcgetattr (STDIN_FILENO, &old) == 0;
  if (tty)
    {
      fprintf (stderr, "Password: ");
      quiet = old;
      quiet.c_lflag &= ~(tcflag_t) ECHO;
      tcsetattr (STDIN_FILENO, TCSANOW, &quiet);
    }
  char *line = fgets (buf, sizeof buf, stdin);
  if (tty)
    {
      tcsetattr (STDIN_FILENO, TCSANOW, &old);
      fprintf (stderr, "\n");
    }
  if (line == NULL)
    {
      fprintf (stderr, "fz-portal: no password on standard input\n");
      return 1;
    }
  if (strchr (buf, '\n') == NULL && !feof (stdin))
    {
      fprintf (stderr, "fz-portal: the password must be 1 to 1024 bytes\n");
      sodium_memzero (buf, sizeof buf);
      return 1;
    }
  buf[strcspn (buf, "\r\n")] = '\0';
  gsize len = strlen (buf);
  if (len == 0 || len > 1024)
    {
      fprintf (stderr, "fz-portal: the password must be 1 to 1024 bytes\n");
      sodium_memzero (buf, sizeof buf);
      return 1;
    }
  char hash[crypto_pwhash_STRBYTES];
  int rc = crypto_pwhash_str (hash, buf, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE);
  sodium_memzero (buf, sizeof buf);
  if (rc != 0)
    {
      fprintf (stderr, "fz-portal: not enough memory to hash the password\n");
      return 1;
    }
  printf ("password_hash = %s\n", hash);
  return 0;
}

static int
new_token (void)
{
  guint8 r[32];
  randombytes_buf (r, sizeof r);
  char b64[sodium_base64_ENCODED_LEN (32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64 (b64, sizeof b64, r, sizeof r,
                     sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero (r, sizeof r);
  g_autofree char *token = g_strconcat ("fzt_", b64, NULL);
  g_autofree char *hash = fz_portal_token_hash (token);
  printf ("token: %s\n", token);
  printf ("token_hash = %s\n", hash);
  sodium_memzero (token, strlen (token));
  sodium_memzero (b64, sizeof b64);
  return 0;
}

static void
warn_if_readable (const char *path, const FzPortalConfig *c)
{
  GStatBuf st;
  gboolean secrets = FALSE;
  for (guint i = 0; i < c->relays->len; i++)
    {
      const FzPortalRelay *r = c->relays->pdata[i];
      secrets |= r->secret != NULL || r->password != NULL;
    }
  if (secrets && g_stat (path, &st) == 0 && (st.st_mode & 077) != 0)
    g_warning ("%s holds relay secrets but others may read it: chmod 600 it", path);
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  /* A closed pipe (stderr gone, a peer gone mid-write) is an error to
   * handle, not a reason to die. */
  signal (SIGPIPE, SIG_IGN);
  if (sodium_init () < 0)
    {
      fprintf (stderr, "fz-portal: libsodium failed to initialize\n");
      return 1;
    }
  g_autofree char *config_path = NULL;
  g_autofree char *listen = NULL;
  GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
      "The configuration file (default /etc/fz-portal/fz-portal.conf)", "FILE" },
    { "listen", 'l', 0, G_OPTION_ARG_STRING, &listen,
      "Listen on this address instead of the configured one", "IP:PORT" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx
    = g_option_context_new ("[check-config FILE | hash-password | new-token]");
  g_option_context_set_summary (ctx,
                                "The libfz control plane: clients and gateways join it "
                                "to find each other.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "fz-portal: %s\n", error->message);
      return 2;
    }
  if (argc >= 2 && strcmp (argv[1], "hash-password") == 0 && argc == 2)
    return hash_password ();
  if (argc >= 2 && strcmp (argv[1], "new-token") == 0 && argc == 2)
    return new_token ();
  if (argc == 3 && strcmp (argv[1], "check-config") == 0)
    {
      g_autoptr (FzPortalConfig) c = fz_portal_config_load (argv[2], &error);
      if (c == NULL)
        {
          fprintf (stderr, "fz-portal: %s\n", error->message);
          return 1;
        }
      printf ("%s: account %s, %u relays, %u sites, %u gateway tokens, %u users, "
              "%u resources, %u policies\n",
              argv[2], c->account_slug, c->relays->len, c->sites->len,
              c->gateway_tokens->len, c->users->len, c->resources->len, c->policies->len);
      return 0;
    }
  if (argc != 1)
    {
      fprintf (stderr, "fz-portal: unknown command \"%s\" (see --help)\n", argv[1]);
      return 2;
    }

  /* A socket per client and gateway: use all the descriptors allowed. */
  struct rlimit rl;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
  const char *path = config_path != NULL ? config_path : "/etc/fz-portal/fz-portal.conf";
  FzPortalConfig *c = fz_portal_config_load (path, &error);
  if (c == NULL)
    {
      fprintf (stderr, "fz-portal: %s\n", error->message);
      return 1;
    }
  warn_if_readable (path, c);
  if (listen != NULL && !fz_portal_parse_listen (&c->listen, listen))
    {
      fprintf (stderr, "fz-portal: --listen \"%s\" is not IP:PORT or [IPv6]:PORT\n",
               listen);
      fz_portal_config_free (c);
      return 2;
    }
  g_autoptr (FzPortalServer) server = fz_portal_server_new (c, &error);
  if (server == NULL)
    {
      fprintf (stderr, "fz-portal: %s\n", error->message);
      return 1;
    }
  g_autofree char *url = fz_portal_server_listen (server, &error);
  if (url == NULL)
    {
      fprintf (stderr, "fz-portal: cannot listen: %s\n", error->message);
      return 1;
    }
  /* Handlers before the line that tells a supervisor we are up. */
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGHUP, hup_cb, server);
  g_unix_signal_add (SIGINT, quit_cb, loop);
  g_unix_signal_add (SIGTERM, quit_cb, loop);
  printf ("fz-portal: listening on %s\n", url);
  fflush (stdout);
  g_main_loop_run (loop);
  g_message ("stopping");
  return 0;
}
