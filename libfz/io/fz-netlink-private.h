/* FzNetlink: the tunnel's link, addresses, routes and policy rules,
 * configured through rtnetlink (libnl-route-3), never through ip(8).
 *
 * Internal: the tunnel driver's, not installed. Every call blocks until
 * the kernel has answered; errors name the operation, the object and
 * libnl's reason. */
#pragma once

#include "fz-ip-addr.h"
#include "fz-ip-prefix-private.h"

#include <gio/gio.h>

G_BEGIN_DECLS

/* The routing protocol our routes and rules carry (RTPROT_STATIC):
 * set_routes leaves the kernel's own (RTPROT_KERNEL) alone. */
#define FZ_NETLINK_RTPROT 4

typedef struct _FzNetlink FzNetlink;

/* One NETLINK_ROUTE socket. */
FzNetlink *fz_netlink_new (GError **error);
void fz_netlink_free (FzNetlink *nl);

/* The link's index, or 0 with @error (G_IO_ERROR_NOT_FOUND). */
int fz_netlink_link_index (FzNetlink *nl, const char *name, GError **error);
/* IPv6 addr_gen_mode none first (so no link-local address or DAD; a link
 * without IPv6 skips it), then MTU, txqueuelen, and up. */
gboolean fz_netlink_link_up (FzNetlink *nl, int ifindex, guint mtu, guint txqueuelen,
                             GError **error);
/* The link's addresses become exactly @addrs (each as a host prefix /32
 * or /128; IPv6 with IFA_F_NODAD): missing ones added, others removed;
 * ones already there untouched. */
gboolean fz_netlink_set_addresses (FzNetlink *nl, int ifindex, const FzIpAddr *addrs,
                                   guint n, GError **error);
/* The routes through the link in routing @table (RT_TABLE_MAIN is 254)
 * become exactly @routes (scope link, proto FZ_NETLINK_RTPROT); the
 * link's other unicast routes in @table are removed, except those the
 * kernel made for its addresses (proto kernel). Another link's route to
 * one of @routes in @table is an error (G_IO_ERROR_EXISTS). */
gboolean fz_netlink_set_routes (FzNetlink *nl, int ifindex, guint32 table,
                                const FzIpPrefix *routes, guint n, GError **error);
/* Policy rules "not fwmark @mark lookup @table" at @priority, IPv4 and
 * IPv6, proto FZ_NETLINK_RTPROT (what tells them from other rules); a rule
 * already there is fine. */
gboolean fz_netlink_add_rules (FzNetlink *nl, guint32 mark, guint32 table,
                               guint32 priority, GError **error);
/* Removes them (missing ones are fine; other failures are warnings). */
void fz_netlink_remove_rules (FzNetlink *nl, guint32 mark, guint32 table,
                              guint32 priority);
/* Addresses to offer as ICE host candidates (GArray of FzIpAddr), each
 * once: those of links that are up and not loopback, except link
 * @skip_ifindex (our TUN); no IPv6 link-local, tentative, deprecated or
 * failed-DAD ones. */
GArray *fz_netlink_host_addresses (FzNetlink *nl, int skip_ifindex, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzNetlink, fz_netlink_free)

/* FzNetlinkMonitor: tells when the host's network changed (an address
 * added or removed, a link up, down or gone, a default route of the main
 * table added or removed), so connections can be renewed. Its sources run on the
 * thread-default GMainContext of the thread that made it, which also frees it. */
#define FZ_NETLINK_MONITOR_DEBOUNCE_MS 500

typedef struct _FzNetlinkMonitor FzNetlinkMonitor;
/* May free the monitor. */
typedef void (*FzNetlinkChangedFunc) (gpointer user_data);

/* @func runs once changes of links other than @skip_ifindex (0: none
 * skipped) have been quiet for FZ_NETLINK_MONITOR_DEBOUNCE_MS. */
FzNetlinkMonitor *fz_netlink_monitor_new (int skip_ifindex, FzNetlinkChangedFunc func,
                                          gpointer user_data, GError **error);
/* Links may be renumbered when the TUN is made again. */
void fz_netlink_monitor_set_skip_ifindex (FzNetlinkMonitor *monitor, int skip_ifindex);
void fz_netlink_monitor_free (FzNetlinkMonitor *monitor);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzNetlinkMonitor, fz_netlink_monitor_free)

G_END_DECLS
