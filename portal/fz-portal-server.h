/* FzPortalServer: fz-portal's HTTP and WebSocket service (libsoup 3).
 *
 * Clients and gateways connect to /client/v2/websocket and
 * /gateway/v2/websocket with a token; the server answers refusals with
 * application/problem+json, joins them to their topic, pushes `init`,
 * brokers authorizations between a client and a gateway of the
 * resource's site, and relays their ICE candidates. Sign-in pages live
 * under /<account_slug>, and /healthz answers load balancers. */
#pragma once

#include "fz-portal-config.h"

#include <gio/gio.h>

G_BEGIN_DECLS

#define FZ_TYPE_PORTAL_SERVER (fz_portal_server_get_type ())
G_DECLARE_FINAL_TYPE (FzPortalServer, fz_portal_server, FZ, PORTAL_SERVER, GObject)

/* Takes @config. */
FzPortalServer *fz_portal_server_new (FzPortalConfig *config, GError **error);
/* Listens on the configured address; returns the URL it serves. */
char *fz_portal_server_listen (FzPortalServer *self, GError **error);
/* Reads the config file again and pushes what changed to connected
 * clients and gateways. A bad file changes nothing. */
gboolean fz_portal_server_reload (FzPortalServer *self, GError **error);
const FzPortalConfig *fz_portal_server_get_config (FzPortalServer *self);

/* Sign-in (fz-portal-signin.c). */
void fz_portal_signin_register (FzPortalServer *self, gpointer soup_server);
/* A client token for @user, issued as sign-in would. */
char *fz_portal_server_issue_token (FzPortalServer *self, const char *nonce,
                                    const char *user);

G_END_DECLS
