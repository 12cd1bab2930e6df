#include "fzctl-exit.h"

#include <string.h>

/* The quark name is a string, not an expression: keep its dashes. */
/* clang-format off */
G_DEFINE_QUARK (fz-ctl-error-quark, fz_ctl_error)
/* clang-format on */

const char *
fzctl_exit_name (FzctlExit code)
{
  switch (code)
    {
    case FZCTL_EXIT_OK: return "ok";
    case FZCTL_EXIT_FAILED: return "failed";
    case FZCTL_EXIT_USAGE: return "usage";
    case FZCTL_EXIT_NO_SERVICE: return "no-service";
    case FZCTL_EXIT_NOT_AUTHORIZED: return "not-authorized";
    case FZCTL_EXIT_NOT_CONNECTED: return "not-connected";
    case FZCTL_EXIT_ALREADY_CONNECTED: return "already-connected";
    case FZCTL_EXIT_SIGN_IN_REQUIRED: return "sign-in-required";
    case FZCTL_EXIT_CONNECT_FAILED: return "connect-failed";
    case FZCTL_EXIT_TIMEOUT: return "timeout";
    case FZCTL_EXIT_BAD_TOKEN: return "bad-token";
    case FZCTL_EXIT_INTERRUPTED: return "interrupted";
    }
  return "failed";
}

/* D-Bus error names, by the status they mean. polkit's refusal is named
 * too: the service may pass it on as it is. */
static const struct
{
  const char *name;
  FzctlExit code;
} dbus_errors[] = {
  { "dev.libfz.Tunnel1.Error.NotConnected", FZCTL_EXIT_NOT_CONNECTED },
  { "dev.libfz.Tunnel1.Error.AlreadyConnected", FZCTL_EXIT_ALREADY_CONNECTED },
  { "dev.libfz.Tunnel1.Error.NotAuthorized", FZCTL_EXIT_NOT_AUTHORIZED },
  { "org.freedesktop.DBus.Error.AccessDenied", FZCTL_EXIT_NOT_AUTHORIZED },
  { "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
    FZCTL_EXIT_NOT_AUTHORIZED },
  { "org.freedesktop.PolicyKit1.Error.NotAuthorized", FZCTL_EXIT_NOT_AUTHORIZED },
  { "org.freedesktop.DBus.Error.InvalidArgs", FZCTL_EXIT_USAGE },
  { "org.freedesktop.DBus.Error.ServiceUnknown", FZCTL_EXIT_NO_SERVICE },
  { "org.freedesktop.DBus.Error.NameHasNoOwner", FZCTL_EXIT_NO_SERVICE },
  { "org.freedesktop.DBus.Error.NoReply", FZCTL_EXIT_TIMEOUT },
  { "org.freedesktop.DBus.Error.Timeout", FZCTL_EXIT_TIMEOUT },
  { "org.freedesktop.DBus.Error.TimedOut", FZCTL_EXIT_TIMEOUT },
};

FzctlExit
fzctl_exit_for_error (const GError *error)
{
  g_autofree char *name = NULL;

  if (error->domain == FZ_CTL_ERROR)
    return (FzctlExit) error->code;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return FZCTL_EXIT_TIMEOUT;
  name = g_dbus_error_get_remote_error (error);
  if (name == NULL)
    return FZCTL_EXIT_FAILED;
  for (gsize i = 0; i < G_N_ELEMENTS (dbus_errors); i++)
    if (strcmp (name, dbus_errors[i].name) == 0)
      return dbus_errors[i].code;
  /* org.freedesktop.DBus.Error.Spawn.*: activation failed. */
  if (g_str_has_prefix (name, "org.freedesktop.DBus.Error.Spawn."))
    return FZCTL_EXIT_NO_SERVICE;
  return FZCTL_EXIT_FAILED;
}
