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

/* FIREZONE_DNS_CONTROL's values: etc-resolv-conf, systemd-resolved,
 * disabled. */
gboolean fz_dns_control_mode_parse (const char *s, FzDnsControlMode *out, GError **error);

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
 * systemd-resolved (system D-Bus): SetLinkDNS and SetLinkDomains on
 * @ifindex, the domains being the search domain and "~." (routing only:
 * every query goes to the sentinels, which forward what is not a
 * resource). An error when resolved is not running.
 *
 * disabled: nothing. */
gboolean fz_dns_control_set (FzDnsControlMode mode, const char *resolv_path,
                             const char *backup_path, int ifindex,
                             const char *const *servers, const char *search_domain,
                             GError **error);
/* Undoes fz_dns_control_set(). etc-resolv-conf: rewrites the file in
 * place from the backup and removes the backup; nothing to do without
 * one; a file someone else rewrote meanwhile (no marker) is kept and the
 * stale backup removed. systemd-resolved: RevertLink; nothing to do when
 * resolved is not running (it forgot the link's settings). */
gboolean fz_dns_control_revert (FzDnsControlMode mode, const char *resolv_path,
                                const char *backup_path, int ifindex, GError **error);
/* At start, whatever the mode: a resolv.conf left by a crashed run (the
 * marker, and a backup) is restored as fz_dns_control_revert() does. */
gboolean fz_dns_control_recover (const char *resolv_path, const char *backup_path,
                                 GError **error);

G_END_DECLS
