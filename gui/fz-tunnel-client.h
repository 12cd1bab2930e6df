/* The tray's view of fz-tunnel (dev.libfz.Tunnel1 on the system bus):
 * whether it is there, its latest properties, its signals, and calls
 * whose errors are turned into sentences a user can act on. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define FZ_TYPE_TUNNEL_CLIENT (fz_tunnel_client_get_type ())
G_DECLARE_FINAL_TYPE (FzTunnelClient, fz_tunnel_client, FZ, TUNNEL_CLIENT, GObject)

typedef enum
{
  FZ_TUNNEL_LOADING, /* not answered yet */
  FZ_TUNNEL_MISSING, /* no system bus, or nobody owns dev.libfz.Tunnel */
  FZ_TUNNEL_READY,
} FzTunnelAvailability;

/* Signals: "changed" (availability or any property), "disconnected"
 * (s message, b requires_sign_in), "resource-unreachable" (s id, s
 * reason). */
FzTunnelClient *fz_tunnel_client_new (void);

FzTunnelAvailability fz_tunnel_client_get_availability (FzTunnelClient *self);
/* Why the service is missing (the bus's error), or NULL. */
const char *fz_tunnel_client_get_missing_reason (FzTunnelClient *self);
/* "disconnected", "connecting", "connected", "reconnecting"; "" unknown. */
const char *fz_tunnel_client_get_state (FzTunnelClient *self);
/* aa{sv}, never NULL (borrowed). */
GVariant *fz_tunnel_client_get_resources (FzTunnelClient *self);
gboolean fz_tunnel_client_get_internet_enabled (FzTunnelClient *self);

void fz_tunnel_client_connect (FzTunnelClient *self, const char *token,
                               const char *api_url, const char *account_slug,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);
void fz_tunnel_client_disconnect (FzTunnelClient *self, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
void fz_tunnel_client_set_internet (FzTunnelClient *self, gboolean enabled,
                                    GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data);
/* For all three calls. */
gboolean fz_tunnel_client_call_finish (FzTunnelClient *self, GAsyncResult *result,
                                       GError **error);

typedef enum
{
  FZ_TUNNEL_CALL_FAILED,         /* anything else: the message says it */
  FZ_TUNNEL_CALL_NO_SERVICE,     /* not running and not activatable */
  FZ_TUNNEL_CALL_NOT_AUTHORIZED, /* polkit said no */
  FZ_TUNNEL_CALL_ALREADY_CONNECTED,
  FZ_TUNNEL_CALL_NOT_CONNECTED,
} FzTunnelCallError;

FzTunnelCallError fz_tunnel_client_classify_error (const GError *error);

G_END_DECLS
