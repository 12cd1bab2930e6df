/* fzctl's exit statuses: each says what failed. They are part of the
 * command's interface (docs/fzctl.md): never renumber one. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  FZCTL_EXIT_OK = 0,
  FZCTL_EXIT_FAILED = 1,            /* anything not below */
  FZCTL_EXIT_USAGE = 2,             /* bad command line, or InvalidArgs */
  FZCTL_EXIT_NO_SERVICE = 3,        /* no bus, or nothing owns dev.libfz.Tunnel */
  FZCTL_EXIT_NOT_AUTHORIZED = 4,    /* AccessDenied and the like */
  FZCTL_EXIT_NOT_CONNECTED = 5,     /* dev.libfz.Tunnel1.Error.NotConnected */
  FZCTL_EXIT_ALREADY_CONNECTED = 6, /* dev.libfz.Tunnel1.Error.AlreadyConnected */
  FZCTL_EXIT_SIGN_IN_REQUIRED = 7,  /* the portal refused the token */
  FZCTL_EXIT_CONNECT_FAILED = 8,    /* the tunnel ended otherwise while connecting */
  FZCTL_EXIT_TIMEOUT = 9,           /* no answer, or not connected, in time */
  FZCTL_EXIT_BAD_TOKEN = 10,        /* the token could not be read or is malformed */
  FZCTL_EXIT_INTERRUPTED = 130,     /* SIGINT or SIGTERM while waiting */
} FzctlExit;

/* Errors fzctl makes itself; the code is the exit status. */
#define FZ_CTL_ERROR (fz_ctl_error_quark ())
GQuark fz_ctl_error_quark (void);

/* The stable name of @code for --json ("not-connected"...). */
const char *fzctl_exit_name (FzctlExit code);

/* The exit status for @error: FZ_CTL_ERROR's code, or what a D-Bus error
 * name or a GIO error means; FZCTL_EXIT_FAILED for the rest. */
FzctlExit fzctl_exit_for_error (const GError *error);

G_END_DECLS
