/* FzTunnel: a client or a gateway on real sockets. It runs the policy
 * (the client's or the gateway's, around an FzNode) on a TUN and one
 * UDP socket per family, talks to the portal over an FzPortalChannel,
 * configures the TUN's addresses and routes through rtnetlink, sends the
 * DNS queries the policy asks for, and resolves names for a gateway.
 *
 * It lives on the thread-default GMainContext of its construction, like
 * the channel: every source attaches there, and the caller runs that
 * context (pushed as the thread default) on its thread.
 *
 * Signals:
 *   "ready": the first init of the portal applied (the TUN has its
 *     addresses; a client also has its resources and routes).
 *   "interface-changed": a client's DNS servers or search domain may
 *     have changed (fz_tunnel_get_dns_servers()).
 *   "resources-changed": a client's resource list changed.
 *   "mappings-changed" (const char *json): a client's proxy-IP mappings
 *     to keep for the next session.
 *   "masquerade" (gboolean v4, gboolean v6): the portal's masquerade
 *     settings for a gateway.
 *   "fatal" (GError *error): the tunnel cannot go on (the token expired
 *     or was refused, the TUN was deleted); it has stopped.
 *   "stopped": fz_tunnel_stop() finished.
 *   "portal-changed": the portal connection's state changed
 *     (fz_tunnel_is_portal_joined()).
 *   "resource-unreachable" (const char *id, const char *reason): the
 *     portal could not connect a client to the resource: "offline" (no
 *     gateway of its sites is up), "version_mismatch", or its word. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define FZ_TUNNEL_PORT      52625
#define FZ_TUNNEL_MARK      0xfd002021u /* on our sockets: they bypass our routes */
#define FZ_TUNNEL_TABLE     0x2021fd00u /* a client's routes */
#define FZ_TUNNEL_RULE_PRIO 100u        /* "not fwmark MARK lookup TABLE" */
#define FZ_TUNNEL_MTU       1280

#define FZ_TYPE_TUNNEL (fz_tunnel_get_type ())
G_DECLARE_FINAL_TYPE (FzTunnel, fz_tunnel, FZ, TUNNEL, GObject)

typedef enum
{
  FZ_TUNNEL_ROLE_CLIENT,
  FZ_TUNNEL_ROLE_GATEWAY,
} FzTunnelRole;

typedef struct
{
  FzTunnelRole role;
  const char *api_url;        /* the portal's http(s) or ws(s) URL */
  const char *token;          /* never logged */
  const char *device_id;      /* external_id */
  const char *name;           /* NULL: the host name */
  const char *tun_name;       /* NULL: "tun-fz" */
  guint16 port;               /* 0: FZ_TUNNEL_PORT, or any when that is taken */
  const char *component;      /* for the User-Agent: "gateway", "headless-client" */
  const char *ca_file;        /* PEM CAs to trust instead of the system's, or NULL */
  const char *mappings;       /* client: the last session's proxy-IP mappings, or NULL */
  gboolean internet_resource; /* client: use the Internet resource if there is one */
} FzTunnelConfig;

/* Creates the TUN and the sockets (and raises the socket buffer limits
 * unless FIREZONE_NO_INC_BUF=true). Nothing talks to the portal before
 * fz_tunnel_start(). A @config->mappings that does not parse is reported
 * (g_message) and the session starts without it. */
FzTunnel *fz_tunnel_new (const FzTunnelConfig *config, GError **error);
void fz_tunnel_start (FzTunnel *self);
/* Goodbye to every peer, leave the portal, remove the routes and rules;
 * "stopped" follows once the goodbyes are sent. */
void fz_tunnel_stop (FzTunnel *self);

const char *fz_tunnel_get_interface_name (FzTunnel *self);
int fz_tunnel_get_ifindex (FzTunnel *self);
guint16 fz_tunnel_get_port (FzTunnel *self);
gboolean fz_tunnel_is_ready (FzTunnel *self);
/* Client: the sentinel addresses to give the system as its resolvers
 * (NULL before "ready"), and the portal's search domain or NULL. */
GStrv fz_tunnel_get_dns_servers (FzTunnel *self);
char *fz_tunnel_get_search_domain (FzTunnel *self);
/* Client: the system's own resolvers (read before ours replaced them),
 * for names no resource covers when the portal gives none. */
void fz_tunnel_set_system_dns (FzTunnel *self, const char *const *servers);
/* Client: how many resources the portal gave. */
guint fz_tunnel_get_n_resources (FzTunnel *self);
/* Client: each resource as a{sv} (id, name, type "cidr"|"dns"|
 * "internet", address, address_description, site_name, site_status
 * "online"|"offline"|"unknown", can_be_disabled); keys without a value
 * are left out. Not floating: unref it. */
GVariant *fz_tunnel_dup_resources (FzTunnel *self);
/* Client: the TUN's IPv4 and IPv6 addresses (empty before "ready"). */
GStrv fz_tunnel_get_addresses (FzTunnel *self);
void fz_tunnel_set_internet_resource_enabled (FzTunnel *self, gboolean on);
/* Client: connections to the gateways and to the portal start over (as
 * after a network change); the session, resources and mappings stay. */
void fz_tunnel_reset (FzTunnel *self);
/* The portal channel is joined (FALSE while it reconnects). */
gboolean fz_tunnel_is_portal_joined (FzTunnel *self);
/* A one-line status: role, portal state, peers, path of each. */
char *fz_tunnel_describe (FzTunnel *self);

G_END_DECLS
