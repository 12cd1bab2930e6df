/* What fz-tunnel keeps of the host around a session, for the headless
 * mode and the D-Bus service alike: the system's resolvers as they were
 * before ours, and the proxy-IP mappings in the state directory. */
#pragma once

#include "fz.h"

G_BEGIN_DECLS

/* Gives @tunnel the name servers of @resolv_conf (the system's own, read
 * before ours replace them). When it names only systemd-resolved's stub
 * (127.0.0.53, 127.0.0.54), resolved's own servers instead, those of
 * every link but the tunnel's, asked over D-Bus without waiting. */
void fz_tunnel_host_read_system_dns (FzTunnel *tunnel, const char *resolv_conf);
/* The last session's mappings, or NULL (none, or unreadable: logged). */
char *fz_tunnel_host_load_mappings (const char *state_dir);
void fz_tunnel_host_save_mappings (const char *state_dir, const char *json);

G_END_DECLS
