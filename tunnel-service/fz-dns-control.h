/* The client's DNS control: points the system's resolver at the
 * sentinel addresses while the tunnel is up, and back afterwards.
 * Errors are G_IO_ERROR. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  FZ_DNS_CONTROL_DISABLED,
  FZ_DNS_CONTROL_ETC_RESOLV_CONF,
  FZ_DNS_CONTROL_SYSTEMD_RESOLVED,
} FzDnsControlMode;

#define FZ_DNS_CONTROL_MAX_SERVERS 16
#define FZ_DNS_CONTROL_MARKER      "# BEGIN libfz DNS configuration"
#define FZ_DNS_CONTROL_BACKUP_EXT  ".before-libfz"
#define FZ_RESOLV_CONF             "/etc/resolv.conf"
#define FZ_DNS_CONTROL_TIMEOUT_MS  2000 /* each D-Bus call */

/* FIREZONE_DNS_CONTROL's values: etc-resolv-conf, systemd-resolved,
 * disabled. */
gboolean fz_dns_control_mode_parse (const char *s, FzDnsControlMode *out, GError **error);
/* The mode for FIREZONE_DNS_CONTROL's @value. Unset (NULL or ""):
 * systemd-resolved when org.freedesktop.resolve1 has an owner on the
 * system bus, else etc-resolv-conf (also without a system bus). An error
 * for a value fz_dns_control_mode_parse() refuses, and for
 * systemd-resolved when it is not running. Asks the bus daemon only,
 * within FZ_DNS_CONTROL_TIMEOUT_MS. */
gboolean fz_dns_control_mode_choose (const char *value, FzDnsControlMode *out,
                                     GError **error);
const char *fz_dns_control_mode_name (FzDnsControlMode mode);

/* Points DNS at @servers (1 to FZ_DNS_CONTROL_MAX_SERVERS IPv4 or IPv6
 * addresses, NULL-terminated) with @search_domain (NULL or "": none).
 *
 * etc-resolv-conf: @resolv_path (a regular file, not a symlink) is
 * backed up to @resolv_path.before-libfz unless it already is ours (it
 * starts with FZ_DNS_CONTROL_MARKER: a second call, or a crashed run),
 * then rewritten in place (it may be a bind mount, where rename fails
 * with EBUSY) as the marker, two comment lines, a "nameserver" line per
 * server and "search DOMAIN".
 *
 * systemd-resolved (system D-Bus): on @ifindex, SetLinkDNS, and
 * SetLinkDomains with the search domain and "~." (routing only: every
 * query goes to the sentinels, which forward what is not a resource),
 * SetLinkDefaultRoute(true), DNSSEC, DNSOverTLS, LLMNR and MulticastDNS
 * off, then FlushCaches. An error when resolved is not running (the bus
 * daemon says so); the calls to resolved are sent without waiting, and
 * a failure or a timeout (FZ_DNS_CONTROL_TIMEOUT_MS) is logged from the
 * thread-default main context when its reply is due.
 *
 * disabled: nothing. */
gboolean fz_dns_control_set (FzDnsControlMode mode, const char *resolv_path,
                             const char *backup_path, int ifindex,
                             const char *const *servers, const char *search_domain,
                             GError **error);
/* Undoes fz_dns_control_set(). etc-resolv-conf: rewrites the file in
 * place from the backup and removes the backup; nothing to do without
 * one; a file someone else rewrote meanwhile (no marker) is kept and the
 * stale backup removed. systemd-resolved: RevertLink, waited for at
 * most FZ_DNS_CONTROL_TIMEOUT_MS; nothing to do when resolved is not
 * running (it forgot the link's settings). */
gboolean fz_dns_control_revert (FzDnsControlMode mode, const char *resolv_path,
                                const char *backup_path, int ifindex, GError **error);
/* systemd-resolved: FlushCaches, not waited for (the resources changed:
 * a name that is one now must not come from the cache). Other modes:
 * nothing. */
void fz_dns_control_flush (FzDnsControlMode mode);
/* At start, whatever the mode: a resolv.conf left by a crashed run (the
 * marker, and a backup) is restored as fz_dns_control_revert() does. */
gboolean fz_dns_control_recover (const char *resolv_path, const char *backup_path,
                                 GError **error);

G_END_DECLS
