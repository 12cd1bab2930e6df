/* fzctl: the command-line client of fz-tunnel's D-Bus API
 * (dev.libfz.Tunnel1 on the system bus). See docs/fzctl.md for the
 * commands, the JSON shapes and the exit statuses. */
#include "fzctl-commands.h"
#include "fzctl-token.h"

#include <stdio.h>

#define DEFAULT_TIMEOUT_S         10
#define DEFAULT_CONNECT_TIMEOUT_S 30

static FzctlExit
run (FzctlClient *c, const FzctlArgs *args, const char *token)
{
  g_autoptr (GError) error = NULL;

  if (!fzctl_client_open (c, &error))
    return fzctl_client_fail (c, error);
  switch (args->command)
    {
    case FZCTL_CMD_STATUS: return fzctl_cmd_status (c, args);
    case FZCTL_CMD_RESOURCES: return fzctl_cmd_resources (c, args);
    case FZCTL_CMD_CONNECT: return fzctl_cmd_connect (c, args, token);
    case FZCTL_CMD_DISCONNECT: return fzctl_cmd_disconnect (c, args);
    case FZCTL_CMD_INTERNET: return fzctl_cmd_internet (c, args);
    case FZCTL_CMD_WATCH: return fzctl_cmd_watch (c, args);
    case FZCTL_CMD_RESET: return fzctl_cmd_reset (c, args);
    case FZCTL_CMD_NONE:
    case FZCTL_CMD_HELP:
    case FZCTL_CMD_VERSION: break;
    }
  g_assert_not_reached ();
}

int
main (int argc, char **argv)
{
  FzctlArgs args;
  FzctlClient c = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (FzctlToken) token = NULL;
  guint timeout_s;
  FzctlExit result;

  if (!fzctl_args_parse (&args, argc, (const char *const *) argv, &error))
    {
      g_autoptr (GError) usage
        = g_error_new (FZ_CTL_ERROR, FZCTL_EXIT_USAGE,
                       "usage: %s (fzctl --help lists the commands)", error->message);
      c.json = args.json;
      fzctl_args_clear (&args);
      return fzctl_client_fail (&c, usage);
    }
  if (args.command == FZCTL_CMD_HELP || args.command == FZCTL_CMD_VERSION)
    {
      fzctl_print (args.command == FZCTL_CMD_HELP ? fzctl_usage ()
                                                  : "fzctl " FZCTL_VERSION "\n");
      fzctl_args_clear (&args);
      return FZCTL_EXIT_OK;
    }
  c.json = args.json;
  /* The token first: a bad one never reaches the bus. */
  if (args.command == FZCTL_CMD_CONNECT
      && (token = fzctl_token_read (args.token_file, &error)) == NULL)
    {
      result = fzctl_client_fail (&c, error);
      fzctl_args_clear (&args);
      return result;
    }
  timeout_s = args.timeout_s != 0                 ? args.timeout_s
              : args.command == FZCTL_CMD_CONNECT ? DEFAULT_CONNECT_TIMEOUT_S
                                                  : DEFAULT_TIMEOUT_S;
  fzctl_client_init (&c, args.json, timeout_s);
  result = run (&c, &args, token);
  fzctl_client_clear (&c);
  fzctl_args_clear (&args);
  return result;
}
