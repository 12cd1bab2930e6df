/* FzTunnelService: fz-tunnel on the system bus. It exports
 * dev.libfz.Tunnel1 at /dev/libfz/Tunnel and runs at most one FzTunnel
 * at a time, started by Connect with the caller's token (kept in memory
 * only) and stopped by Disconnect, with DNS control around it. The
 * methods need polkit's dev.libfz.tunnel.control, root callers nothing
 * (FzAuthorizer); fz_tunnel_service_shutdown() cancels checks in flight.
 *
 * Property changes reach the bus coalesced: at most one
 * PropertiesChanged per FZ_TUNNEL_SERVICE_COALESCE_MS with the newest
 * values. It lives on the thread-default GMainContext of its
 * construction, like the FzTunnel it runs. */
#pragma once

#include "fz-dns-control.h"

#include "fz.h"

G_BEGIN_DECLS

#define FZ_TUNNEL_SERVICE_PATH        "/dev/libfz/Tunnel"
#define FZ_TUNNEL_SERVICE_COALESCE_MS 100

#define FZ_TYPE_TUNNEL_SERVICE (fz_tunnel_service_get_type ())
G_DECLARE_FINAL_TYPE (FzTunnelService, fz_tunnel_service, FZ, TUNNEL_SERVICE, GObject)

typedef struct
{
  const char *state_dir;   /* device id, mappings, the resolv.conf backup */
  const char *resolv_conf; /* /etc/resolv.conf */
  FzDnsControlMode dns_mode;
} FzTunnelServiceConfig;

/* Reads (or makes) the device id and puts back a resolv.conf a crash
 * left behind. */
FzTunnelService *fz_tunnel_service_new (const FzTunnelServiceConfig *config,
                                        GError **error);
gboolean fz_tunnel_service_export (FzTunnelService *self, GDBusConnection *connection,
                                   GError **error);
/* The running tunnel's connections start over (as Reset does). */
void fz_tunnel_service_reset (FzTunnelService *self);
/* Stops the tunnel if one runs (DNS restored); "idle" follows, at once
 * when none runs. */
void fz_tunnel_service_shutdown (FzTunnelService *self);

G_END_DECLS
