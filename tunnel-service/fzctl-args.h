/* fzctl's command line, parsed without side effects. Values given on the
 * command line are never echoed in errors: a token pasted in the wrong
 * place must not land in a terminal's scrollback or a log. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  FZCTL_CMD_NONE,
  FZCTL_CMD_HELP,
  FZCTL_CMD_VERSION,
  FZCTL_CMD_STATUS,
  FZCTL_CMD_RESOURCES,
  FZCTL_CMD_CONNECT,
  FZCTL_CMD_DISCONNECT,
  FZCTL_CMD_INTERNET,
  FZCTL_CMD_WATCH,
  FZCTL_CMD_RESET,
} FzctlCommand;

#define FZCTL_TIMEOUT_MAX 3600 /* seconds */
/* The service's bounds for Connect's options (fz-connect-options.h). */
#define FZCTL_API_URL_MAX 2048 /* bytes */
#define FZCTL_SLUG_MAX    100

typedef struct
{
  FzctlCommand command;
  gboolean json;
  guint timeout_s;    /* 0: the command's default */
  char *token_file;   /* connect: NULL or "-" is stdin */
  char *api_url;      /* connect */
  char *account_slug; /* connect */
  int internet;       /* -1 not given, 0 off, 1 on (connect --internet, internet) */
  gboolean no_wait;   /* connect */
} FzctlArgs;

/* Fills @args from @argv (options may come before or after the command;
 * "--" ends them). Errors are G_OPTION_ERROR. */
gboolean fzctl_args_parse (FzctlArgs *args, int argc, const char *const *argv,
                           GError **error);
void fzctl_args_clear (FzctlArgs *args);

/* "on" or "off" into @on. */
gboolean fzctl_parse_on_off (const char *text, gboolean *on);

/* The usage text, for --help and usage errors. */
const char *fzctl_usage (void);

G_END_DECLS
