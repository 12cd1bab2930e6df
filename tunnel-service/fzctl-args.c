#include "fzctl-args.h"

#include <string.h>

typedef enum
{
  OPT_JSON,
  OPT_TIMEOUT,
  OPT_HELP,
  OPT_VERSION,
  OPT_TOKEN_FILE,
  OPT_API_URL,
  OPT_ACCOUNT_SLUG,
  OPT_INTERNET,
  OPT_NO_WAIT,
} OptionId;

static const struct
{
  const char *name;
  OptionId id;
  gboolean takes_value;
  gboolean connect_only;
} options[] = {
  { "--json", OPT_JSON, FALSE, FALSE },
  { "--timeout", OPT_TIMEOUT, TRUE, FALSE },
  { "-h", OPT_HELP, FALSE, FALSE },
  { "--help", OPT_HELP, FALSE, FALSE },
  { "--version", OPT_VERSION, FALSE, FALSE },
  { "--token-file", OPT_TOKEN_FILE, TRUE, TRUE },
  { "--api-url", OPT_API_URL, TRUE, TRUE },
  { "--account-slug", OPT_ACCOUNT_SLUG, TRUE, TRUE },
  { "--internet", OPT_INTERNET, TRUE, TRUE },
  { "--no-wait", OPT_NO_WAIT, FALSE, TRUE },
};

static const struct
{
  const char *name;
  FzctlCommand command;
  int n_args;
} commands[] = {
  { "status", FZCTL_CMD_STATUS, 0 },     { "resources", FZCTL_CMD_RESOURCES, 0 },
  { "connect", FZCTL_CMD_CONNECT, 0 },   { "disconnect", FZCTL_CMD_DISCONNECT, 0 },
  { "internet", FZCTL_CMD_INTERNET, 1 }, { "watch", FZCTL_CMD_WATCH, 0 },
  { "reset", FZCTL_CMD_RESET, 0 },       { "help", FZCTL_CMD_HELP, 0 },
};

const char *
fzctl_usage (void)
{
  return "Usage: fzctl [--json] [--timeout SECONDS] COMMAND\n"
         "\n"
         "Commands:\n"
         "  status                   the tunnel's state, addresses and device\n"
         "  resources                the resources with type, address, site and status\n"
         "  connect [--token-file FILE|-] [--api-url URL] [--account-slug SLUG]\n"
         "          [--internet on|off] [--no-wait]\n"
         "                           sign in with a token (from FILE, or stdin) and\n"
         "                           wait until the tunnel is up\n"
         "  disconnect               end the tunnel\n"
         "  internet on|off          use the Internet resource or not\n"
         "  watch                    print the state, then every change, until Ctrl-C\n"
         "  reset                    make the connections to the gateways again\n"
         "\n"
         "Options:\n"
         "  --json                   one JSON object per line on stdout\n"
         "  --timeout SECONDS        give up after this long (default 10, connect 30)\n"
         "  -h, --help               this text\n"
         "  --version                fzctl's version\n"
         "\n"
         "The token is never taken from the command line. Exit statuses: 0 ok,\n"
         "1 failed, 2 usage, 3 no service, 4 not authorized, 5 not connected,\n"
         "6 already connected, 7 sign-in required, 8 connect failed, 9 timeout,\n"
         "10 bad token, 130 interrupted (see fzctl(1)).\n";
}

gboolean
fzctl_parse_on_off (const char *text, gboolean *on)
{
  if (g_strcmp0 (text, "on") == 0)
    *on = TRUE;
  else if (g_strcmp0 (text, "off") == 0)
    *on = FALSE;
  else
    return FALSE;
  return TRUE;
}

/* A word typed by mistake is shown back only when it cannot be a
 * secret: short, lower case letters and dashes. */
static gboolean
safe_to_echo (const char *word, gsize len)
{
  if (len == 0 || len > 24)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_islower (word[i]) && word[i] != '-')
      return FALSE;
  return TRUE;
}

static gboolean usage_error (GError **error, int code, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

static gboolean
usage_error (GError **error, int code, const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  g_propagate_error (error, g_error_new_valist (G_OPTION_ERROR, code, format, ap));
  va_end (ap);
  return FALSE;
}

/* What the service takes (tunnel-service/fz-connect-options.c), checked
 * here too so that a typo is a usage error before the bus. */
static gboolean
valid_api_url (const char *url)
{
  static const char *const schemes[] = { "ws", "wss", "http", "https", NULL };
  g_autoptr (GUri) uri = NULL;

  if (strlen (url) > FZCTL_API_URL_MAX)
    return FALSE;
  uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  return uri != NULL && g_strv_contains (schemes, g_uri_get_scheme (uri))
         && g_uri_get_host (uri) != NULL && g_uri_get_host (uri)[0] != '\0'
         && g_uri_get_userinfo (uri) == NULL;
}

static gboolean
valid_slug (const char *slug)
{
  gsize n = strlen (slug);

  if (n == 0 || n > FZCTL_SLUG_MAX)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isalnum (slug[i]) && slug[i] != '_' && slug[i] != '-')
      return FALSE;
  return TRUE;
}

/* Stores option @i's @value (NULL for a flag). */
static gboolean
set_option (FzctlArgs *args, gsize i, const char *value, gboolean *help, GError **error)
{
  guint64 n;

  switch (options[i].id)
    {
    case OPT_JSON: args->json = TRUE; break;
    case OPT_HELP: *help = TRUE; break;
    case OPT_VERSION: args->command = FZCTL_CMD_VERSION; break;
    case OPT_NO_WAIT: args->no_wait = TRUE; break;
    case OPT_TIMEOUT:
      if (!g_ascii_string_to_unsigned (value, 10, 1, FZCTL_TIMEOUT_MAX, &n, NULL))
        return usage_error (error, G_OPTION_ERROR_BAD_VALUE,
                            "--timeout takes whole seconds from 1 to %d",
                            FZCTL_TIMEOUT_MAX);
      args->timeout_s = (guint) n;
      break;
    case OPT_TOKEN_FILE:
      if (value[0] == '\0')
        return usage_error (error, G_OPTION_ERROR_BAD_VALUE,
                            "--token-file takes a file name, or - for stdin");
      g_free (args->token_file);
      args->token_file = g_strdup (value);
      break;
    case OPT_API_URL:
      if (!valid_api_url (value))
        return usage_error (error, G_OPTION_ERROR_BAD_VALUE,
                            "--api-url takes a ws://, wss://, http:// or https:// URL "
                            "with a host and without a user name or password, at most "
                            "%d bytes",
                            FZCTL_API_URL_MAX);
      g_free (args->api_url);
      args->api_url = g_strdup (value);
      break;
    case OPT_ACCOUNT_SLUG:
      if (!valid_slug (value))
        return usage_error (error, G_OPTION_ERROR_BAD_VALUE,
                            "--account-slug takes 1 to %d letters, digits, '_' or '-'",
                            FZCTL_SLUG_MAX);
      g_free (args->account_slug);
      args->account_slug = g_strdup (value);
      break;
    case OPT_INTERNET:
      {
        gboolean on;
        if (!fzctl_parse_on_off (value, &on))
          return usage_error (error, G_OPTION_ERROR_BAD_VALUE,
                              "--internet takes on or off");
        args->internet = on;
        break;
      }
    }
  return TRUE;
}

/* Parses the option at @argv[*i] (with its value, which may be the next
 * word); sets *@connect_only when only connect takes it. */
static gboolean
parse_option (FzctlArgs *args, int argc, const char *const *argv, int *i, gboolean *help,
              gboolean *connect_only, GError **error)
{
  const char *word = argv[*i], *eq = strchr (word, '=');
  gsize len = eq != NULL ? (gsize) (eq - word) : strlen (word);
  const char *value = eq != NULL ? eq + 1 : NULL;

  for (gsize k = 0; k < G_N_ELEMENTS (options); k++)
    {
      if (strlen (options[k].name) != len || strncmp (options[k].name, word, len) != 0)
        continue;
      if (!options[k].takes_value && value != NULL)
        return usage_error (error, G_OPTION_ERROR_BAD_VALUE, "%s takes no value",
                            options[k].name);
      if (options[k].takes_value && value == NULL)
        {
          if (*i + 1 >= argc)
            return usage_error (error, G_OPTION_ERROR_BAD_VALUE, "%s needs a value",
                                options[k].name);
          value = argv[++*i];
        }
      *connect_only |= options[k].connect_only;
      return set_option (args, k, value, help, error);
    }
  if (safe_to_echo (word + strspn (word, "-"), len - strspn (word, "-")))
    return usage_error (error, G_OPTION_ERROR_UNKNOWN_OPTION, "unknown option %.*s",
                        (int) len, word);
  return usage_error (error, G_OPTION_ERROR_UNKNOWN_OPTION, "unknown option");
}

/* The command @word with its @n_given arguments in @rest. */
static gboolean
set_command (FzctlArgs *args, const char *word, const char *const *rest, int n_given,
             GError **error)
{
  for (gsize k = 0; k < G_N_ELEMENTS (commands); k++)
    {
      if (strcmp (commands[k].name, word) != 0)
        continue;
      if (commands[k].command == FZCTL_CMD_INTERNET)
        {
          gboolean on;
          if (n_given != 1 || !fzctl_parse_on_off (rest[0], &on))
            return usage_error (error, G_OPTION_ERROR_BAD_VALUE,
                                "internet takes one argument: on or off");
          args->internet = on;
        }
      else if (n_given != commands[k].n_args && commands[k].command == FZCTL_CMD_CONNECT)
        return usage_error (error, G_OPTION_ERROR_BAD_VALUE,
                            "connect takes no arguments: give the token in a file "
                            "(--token-file) or on stdin, never on the command line");
      else if (n_given != commands[k].n_args)
        return usage_error (error, G_OPTION_ERROR_BAD_VALUE, "%s takes no arguments",
                            word);
      args->command = commands[k].command;
      return TRUE;
    }
  if (safe_to_echo (word, strlen (word)))
    return usage_error (error, G_OPTION_ERROR_FAILED, "unknown command %s", word);
  return usage_error (error, G_OPTION_ERROR_FAILED, "unknown command");
}

gboolean
fzctl_args_parse (FzctlArgs *args, int argc, const char *const *argv, GError **error)
{
  g_autoptr (GPtrArray) words = g_ptr_array_new ();
  gboolean options_done = FALSE, help = FALSE, connect_only = FALSE;

  memset (args, 0, sizeof *args);
  args->internet = -1;
  for (int i = 1; i < argc; i++)
    {
      const char *word = argv[i];

      if (!options_done && strcmp (word, "--") == 0)
        options_done = TRUE;
      else if (!options_done && word[0] == '-' && word[1] != '\0')
        {
          if (!parse_option (args, argc, argv, &i, &help, &connect_only, error))
            return FALSE;
        }
      else
        g_ptr_array_add (words, (gpointer) word);
    }
  if (help)
    {
      args->command = FZCTL_CMD_HELP;
      return TRUE;
    }
  if (args->command == FZCTL_CMD_VERSION)
    return TRUE;
  if (words->len == 0)
    return usage_error (error, G_OPTION_ERROR_FAILED, "no command");
  if (!set_command (args, words->pdata[0], (const char *const *) words->pdata + 1,
                    (int) words->len - 1, error))
    return FALSE;
  if (connect_only && args->command != FZCTL_CMD_CONNECT)
    return usage_error (error, G_OPTION_ERROR_BAD_VALUE,
                        "--token-file, --api-url, --account-slug, --internet and "
                        "--no-wait are options of connect");
  return TRUE;
}

void
fzctl_args_clear (FzctlArgs *args)
{
  g_clear_pointer (&args->token_file, g_free);
  g_clear_pointer (&args->api_url, g_free);
  g_clear_pointer (&args->account_slug, g_free);
}
