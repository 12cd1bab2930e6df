/* fzctl's side of the bus: dev.libfz.Tunnel1 through the generated
 * proxy, every step bounded by the command's deadline and ended early by
 * SIGINT or SIGTERM. Work is asynchronous on the default main context;
 * fzctl_client_await() iterates it until a result is there. */
#pragma once

#include "fz-dbus-tunnel1.h"
#include "fzctl-exit.h"

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define FZCTL_BUS_NAME    "dev.libfz.Tunnel"
#define FZCTL_OBJECT_PATH "/dev/libfz/Tunnel"

typedef struct
{
  gboolean json;
  guint timeout_s;
  GCancellable *cancellable; /* cancelled at the deadline, on a signal, or when
                              * the bus closes */
  GDBusConnection *bus;
  FzDBusTunnel1 *proxy;
  guint deadline, sigint, sigterm; /* sources */
  gboolean timed_out;
  int signal; /* the signal that came, or 0 */
} FzctlClient;

/* Arms the deadline (@timeout_s from now) and the signal handlers. */
void fzctl_client_init (FzctlClient *c, gboolean json, guint timeout_s);
void fzctl_client_clear (FzctlClient *c);

/* No deadline from now on (watch, once it has printed the state). */
void fzctl_client_disarm (FzctlClient *c);

/* Gets the system bus and a proxy for the service with its properties
 * loaded; fails with FZCTL_EXIT_NO_SERVICE when nothing owns the name
 * (and it could not be activated). */
gboolean fzctl_client_open (FzctlClient *c, GError **error);

/* For the callback of an asynchronous call: stores the result at
 * @data, a GAsyncResult **. */
void fzctl_client_on_result (GObject *source, GAsyncResult *result, gpointer data);

/* Iterates the main context until *@result is set. Cancellation
 * completes a call, mostly at once; if it has not a little later, fails
 * with G_IO_ERROR_CANCELLED: then the call is still pending and the
 * command must end without iterating again. */
gboolean fzctl_client_await (FzctlClient *c, GAsyncResult **result, GError **error);

/* Iterates until *@done, the cancellable is cancelled, or @ms pass
 * (-1: no limit of its own). */
void fzctl_client_iterate (FzctlClient *c, gboolean *done, int ms);

/* Whether something owns the service's name now. */
gboolean fzctl_client_has_owner (FzDBusTunnel1 *proxy);

/* Property @name from the proxy's cache, or NULL. */
GVariant *fzctl_client_dup_property (FzctlClient *c, const char *name);
/* Every cached property as a{sv}. */
GVariant *fzctl_client_dup_properties (FzctlClient *c);

/* Waits up to @ms for property @name to equal @want (floating refs are
 * sunk): the service sends changes a little after a call returns, and
 * a following `fzctl status` should see them. */
gboolean fzctl_client_settle (FzctlClient *c, const char *name, GVariant *want, int ms);

/* Says what went wrong (stderr; with --json also an object on stdout)
 * and returns the exit status. A cancelled @error is reported as the
 * timeout or signal that caused it. */
FzctlExit fzctl_client_fail (FzctlClient *c, const GError *error);

/* Writes @node as one line to stdout. */
void fzctl_print_json (JsonNode *node);
/* Writes @text to stdout, flushed. */
void fzctl_print (const char *text);

G_END_DECLS
