#include "fz-dns-control.h"
#include "fz-ip-addr.h"
#include "fz-state-file.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESOLV_MAX       (64 * 1024)
#define DOMAIN_MAX       253
#define RESOLVED_NAME    "org.freedesktop.resolve1"
#define RESOLVED_PATH    "/org/freedesktop/resolve1"
#define RESOLVED_MANAGER "org.freedesktop.resolve1.Manager"

gboolean
fz_dns_control_mode_parse (const char *s, FzDnsControlMode *out, GError **error)
{
  g_return_val_if_fail (s != NULL && out != NULL, FALSE);
  if (g_str_equal (s, "etc-resolv-conf"))
    *out = FZ_DNS_CONTROL_ETC_RESOLV_CONF;
  else if (g_str_equal (s, "systemd-resolved"))
    *out = FZ_DNS_CONTROL_SYSTEMD_RESOLVED;
  else if (g_str_equal (s, "disabled"))
    *out = FZ_DNS_CONTROL_DISABLED;
  else
    {
      g_set_error_literal (
        error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "FIREZONE_DNS_CONTROL must be etc-resolv-conf, systemd-resolved "
        "or disabled");
      return FALSE;
    }
  return TRUE;
}

/* The servers parsed into @addrs (FZ_DNS_CONTROL_MAX_SERVERS); the count. */
static gssize
parse_servers (const char *const *servers, FzIpAddr *addrs, GError **error)
{
  gsize n = 0;
  for (; servers != NULL && servers[n] != NULL; n++)
    {
      if (n == FZ_DNS_CONTROL_MAX_SERVERS)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "More than %d DNS servers", FZ_DNS_CONTROL_MAX_SERVERS);
          return -1;
        }
      if (!fz_ip_addr_parse (&addrs[n], servers[n]))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "DNS server %" G_GSIZE_FORMAT " is not an IP address", n + 1);
          return -1;
        }
    }
  if (n == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "No DNS servers to set");
      return -1;
    }
  return (gssize) n;
}

/* A search domain goes into a file line and a D-Bus call: letters,
 * digits, '-', '_' and dots between labels only. */
static gboolean
check_domain (const char *d, GError **error)
{
  gsize len = strlen (d);
  gboolean ok = len <= DOMAIN_MAX && d[0] != '.' && strstr (d, "..") == NULL;
  for (gsize i = 0; ok && i < len; i++)
    ok = g_ascii_isalnum (d[i]) || d[i] == '-' || d[i] == '_' || d[i] == '.';
  if (!ok)
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                         "The search domain is not a domain name");
  return ok;
}

/* /etc/resolv.conf ----------------------------------------------------- */

static gboolean
is_ours (const char *text)
{
  return g_str_has_prefix (text, FZ_DNS_CONTROL_MARKER "\n");
}

static gboolean
check_regular (const char *path, struct stat *st, GError **error)
{
  if (lstat (path, st) < 0)
    {
      int err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "Could not stat %s: %s", path, g_strerror (err));
      return FALSE;
    }
  if (!S_ISREG (st->st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                   "%s is not a regular file (a symlink is managed by something else, "
                   "such as systemd-resolved: use FIREZONE_DNS_CONTROL=systemd-resolved)",
                   path);
      return FALSE;
    }
  return TRUE;
}

/* In place, not by rename: /etc/resolv.conf may be a bind mount (a
 * container's, or `ip netns exec`'s). The new text goes over the old
 * before the truncation, so a crash in between leaves the marker line
 * first and the next start restores the backup. */
static gboolean
rewrite_in_place (const char *path, const char *text, gsize len, GError **error)
{
  int fd = open (path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  int err = fd < 0 ? errno : 0;
  gsize done = 0;
  while (err == 0 && done < len)
    {
      ssize_t n = pwrite (fd, text + done, len - done, (off_t) done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        err = n < 0 ? errno : EIO;
      else
        done += (gsize) n;
    }
  if (err == 0 && (ftruncate (fd, (off_t) len) < 0 || fsync (fd) < 0))
    err = errno;
  if (fd >= 0 && close (fd) < 0 && err == 0)
    err = errno;
  if (err != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "Could not rewrite %s: %s", path, g_strerror (err));
      return FALSE;
    }
  return TRUE;
}

static char *
resolv_text (const char *backup, const FzIpAddr *addrs, gsize n, const char *search)
{
  GString *s = g_string_new (FZ_DNS_CONTROL_MARKER "\n");
  g_string_append_printf (s,
                          "# Written by the libfz tunnel service; the original is %s.\n"
                          "# To keep your own edits, delete the first line.\n",
                          backup);
  for (gsize i = 0; i < n; i++)
    {
      char buf[FZ_IP_ADDR_STRLEN];
      g_string_append_printf (s, "nameserver %s\n",
                              fz_ip_addr_to_string (&addrs[i], buf));
    }
  if (search != NULL)
    g_string_append_printf (s, "search %s\n", search);
  return g_string_free (s, FALSE);
}

/* Where the original goes: beside the file unless the caller says (in a
 * network namespace only resolv.conf itself is a private bind mount, so
 * a file beside it would be the host's). */
static char *
backup_name (const char *path, const char *backup_path)
{
  return backup_path != NULL ? g_strdup (backup_path)
                             : g_strconcat (path, FZ_DNS_CONTROL_BACKUP_EXT, NULL);
}

static gboolean
resolv_set (const char *path, const char *backup_path, const FzIpAddr *addrs, gsize n,
            const char *search, GError **error)
{
  struct stat st;
  if (!check_regular (path, &st, error))
    return FALSE;
  gsize len;
  g_autofree char *live = fz_state_file_read (path, RESOLV_MAX, &len, error);
  if (live == NULL)
    return FALSE;
  g_autofree char *backup = backup_name (path, backup_path);

  /* A file already ours must not replace the original in the backup. */
  if (!is_ours (live))
    {
      if (!fz_state_file_write (backup, live, len, (int) (st.st_mode & 0777), error))
        return FALSE;
    }
  else if (!g_file_test (backup, G_FILE_TEST_EXISTS))
    g_message ("%s is already ours but %s is missing: it cannot be restored later", path,
               backup);

  g_autofree char *text = resolv_text (backup, addrs, n, search);
  return rewrite_in_place (path, text, strlen (text), error);
}

static gboolean
resolv_revert (const char *path, const char *backup_path, GError **error)
{
  g_autofree char *backup = backup_name (path, backup_path);
  g_autoptr (GError) local = NULL;
  gsize len;
  g_autofree char *saved = fz_state_file_read (backup, RESOLV_MAX, &len, &local);
  if (saved == NULL)
    {
      if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }

  struct stat st;
  if (!check_regular (path, &st, error))
    return FALSE;
  g_autofree char *live = fz_state_file_read (path, RESOLV_MAX, NULL, error);
  if (live == NULL)
    return FALSE;
  if (is_ours (live))
    {
      if (!rewrite_in_place (path, saved, len, error))
        return FALSE;
    }
  else
    g_message ("%s was rewritten by someone else: keeping it, dropping %s", path, backup);

  if (unlink (backup) < 0)
    {
      int err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "Could not remove %s: %s", backup, g_strerror (err));
      return FALSE;
    }
  return TRUE;
}

gboolean
fz_dns_control_recover (const char *resolv_path, const char *backup_path, GError **error)
{
  g_return_val_if_fail (resolv_path != NULL, FALSE);
  return resolv_revert (resolv_path, backup_path, error);
}

/* systemd-resolved ----------------------------------------------------- */

/* The system bus, and whether resolved has a name there. Both ask the
 * bus daemon only (bounded), never resolved itself. */
static GDBusConnection *
resolved_bus (gboolean *running, GError **error)
{
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, error);
  if (bus == NULL)
    {
      g_prefix_error (error, "Could not reach the system D-Bus for systemd-resolved: ");
      return NULL;
    }
  g_autoptr (GVariant) ret = g_dbus_connection_call_sync (
    bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
    "NameHasOwner", g_variant_new ("(s)", RESOLVED_NAME), G_VARIANT_TYPE ("(b)"),
    G_DBUS_CALL_FLAGS_NONE, FZ_DNS_CONTROL_TIMEOUT_MS, NULL, error);
  if (ret == NULL)
    return NULL;
  g_variant_get (ret, "(b)", running);
  return g_steal_pointer (&bus);
}

static void
not_running (GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                       "systemd-resolved is not running (no " RESOLVED_NAME
                       " on the system bus): start it, or set "
                       "FIREZONE_DNS_CONTROL=etc-resolv-conf");
}

static void
on_resolved_reply (GObject *source, GAsyncResult *res, gpointer data)
{
  const char *method = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) ret
    = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);

  if (ret != NULL)
    return;
  g_dbus_error_strip_remote_error (error);
  g_message ("DNS: systemd-resolved %s failed: %s", method, error->message);
}

/* Sent, not waited for: a stuck resolved must not stop the caller. One
 * connection delivers in order, so a later RevertLink comes after. */
static void
resolved_send (GDBusConnection *bus, const char *method, GVariant *args)
{
  g_dbus_connection_call (bus, RESOLVED_NAME, RESOLVED_PATH, RESOLVED_MANAGER, method,
                          args, G_VARIANT_TYPE ("()"), G_DBUS_CALL_FLAGS_NO_AUTO_START,
                          FZ_DNS_CONTROL_TIMEOUT_MS, NULL, on_resolved_reply,
                          (gpointer) method);
}

static gboolean
resolved_set (int ifindex, const FzIpAddr *addrs, gsize n, const char *search,
              GError **error)
{
  gboolean running = FALSE;
  g_autoptr (GDBusConnection) bus = resolved_bus (&running, error);
  if (bus == NULL)
    return FALSE;
  if (!running)
    {
      not_running (error);
      return FALSE;
    }

  GVariantBuilder dns;
  g_variant_builder_init (&dns, G_VARIANT_TYPE ("a(iay)"));
  for (gsize i = 0; i < n; i++)
    g_variant_builder_add (&dns, "(i@ay)", addrs[i].family == 4 ? AF_INET : AF_INET6,
                           g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, addrs[i].bytes,
                                                      fz_ip_addr_len (&addrs[i]), 1));
  resolved_send (bus, "SetLinkDNS", g_variant_new ("(ia(iay))", ifindex, &dns));

  GVariantBuilder domains;
  g_variant_builder_init (&domains, G_VARIANT_TYPE ("a(sb)"));
  if (search != NULL)
    g_variant_builder_add (&domains, "(sb)", search, FALSE);
  g_variant_builder_add (&domains, "(sb)", ".", TRUE); /* "~.": every query */
  resolved_send (bus, "SetLinkDomains", g_variant_new ("(ia(sb))", ifindex, &domains));
  /* Also the link for names no routing domain matches. */
  resolved_send (bus, "SetLinkDefaultRoute", g_variant_new ("(ib)", ifindex, TRUE));
  /* The stub's answers (proxy IPs) cannot be signed, and it speaks plain
   * DNS; LLMNR and mDNS have nobody to talk to on a TUN. */
  resolved_send (bus, "SetLinkDNSSEC", g_variant_new ("(is)", ifindex, "no"));
  resolved_send (bus, "SetLinkDNSOverTLS", g_variant_new ("(is)", ifindex, "no"));
  resolved_send (bus, "SetLinkLLMNR", g_variant_new ("(is)", ifindex, "no"));
  resolved_send (bus, "SetLinkMulticastDNS", g_variant_new ("(is)", ifindex, "no"));
  /* Answers cached from before would bypass the resources. */
  resolved_send (bus, "FlushCaches", NULL);
  return TRUE;
}

static gboolean
resolved_revert (int ifindex, GError **error)
{
  gboolean running = FALSE;
  g_autoptr (GDBusConnection) bus = resolved_bus (&running, error);
  if (bus == NULL)
    return FALSE;
  if (!running)
    return TRUE;
  /* Waited for, within the timeout: at exit nothing else would send it. */
  GError *local = NULL;
  g_autoptr (GVariant) ret = g_dbus_connection_call_sync (
    bus, RESOLVED_NAME, RESOLVED_PATH, RESOLVED_MANAGER, "RevertLink",
    g_variant_new ("(i)", ifindex), G_VARIANT_TYPE ("()"),
    G_DBUS_CALL_FLAGS_NO_AUTO_START, FZ_DNS_CONTROL_TIMEOUT_MS, NULL, &local);
  if (ret == NULL)
    {
      g_dbus_error_strip_remote_error (local);
      g_propagate_prefixed_error (error, local, "systemd-resolved RevertLink failed: ");
      return FALSE;
    }
  return TRUE;
}

gboolean
fz_dns_control_mode_choose (const char *value, FzDnsControlMode *out, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  gboolean running = FALSE;

  g_return_val_if_fail (out != NULL, FALSE);
  if (value != NULL && value[0] != '\0')
    {
      if (!fz_dns_control_mode_parse (value, out, error))
        return FALSE;
      if (*out != FZ_DNS_CONTROL_SYSTEMD_RESOLVED)
        return TRUE;
      bus = resolved_bus (&running, error);
      if (bus != NULL && !running)
        not_running (error);
      return bus != NULL && running;
    }
  bus = resolved_bus (&running, &local);
  if (bus == NULL)
    g_debug ("DNS control: %s", local->message);
  *out = running ? FZ_DNS_CONTROL_SYSTEMD_RESOLVED : FZ_DNS_CONTROL_ETC_RESOLV_CONF;
  return TRUE;
}

const char *
fz_dns_control_mode_name (FzDnsControlMode mode)
{
  switch (mode)
    {
    case FZ_DNS_CONTROL_DISABLED: return "disabled";
    case FZ_DNS_CONTROL_ETC_RESOLV_CONF: return "etc-resolv-conf";
    case FZ_DNS_CONTROL_SYSTEMD_RESOLVED: return "systemd-resolved";
    }
  g_return_val_if_reached (NULL);
}

void
fz_dns_control_flush (FzDnsControlMode mode)
{
  g_autoptr (GDBusConnection) bus = NULL;

  if (mode != FZ_DNS_CONTROL_SYSTEMD_RESOLVED)
    return;
  bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, NULL);
  if (bus != NULL)
    resolved_send (bus, "FlushCaches", NULL);
}

/* ----------------------------------------------------------------------- */

gboolean
fz_dns_control_set (FzDnsControlMode mode, const char *resolv_path,
                    const char *backup_path, int ifindex, const char *const *servers,
                    const char *search_domain, GError **error)
{
  if (mode == FZ_DNS_CONTROL_DISABLED)
    return TRUE;
  FzIpAddr addrs[FZ_DNS_CONTROL_MAX_SERVERS];
  gssize n = parse_servers (servers, addrs, error);
  if (n < 0)
    return FALSE;
  if (search_domain != NULL && search_domain[0] == '\0')
    search_domain = NULL;
  if (search_domain != NULL && !check_domain (search_domain, error))
    return FALSE;

  if (mode == FZ_DNS_CONTROL_ETC_RESOLV_CONF)
    {
      g_return_val_if_fail (resolv_path != NULL, FALSE);
      return resolv_set (resolv_path, backup_path, addrs, (gsize) n, search_domain,
                         error);
    }
  g_return_val_if_fail (ifindex > 0, FALSE);
  return resolved_set (ifindex, addrs, (gsize) n, search_domain, error);
}

gboolean
fz_dns_control_revert (FzDnsControlMode mode, const char *resolv_path,
                       const char *backup_path, int ifindex, GError **error)
{
  switch (mode)
    {
    case FZ_DNS_CONTROL_DISABLED: return TRUE;
    case FZ_DNS_CONTROL_ETC_RESOLV_CONF:
      g_return_val_if_fail (resolv_path != NULL, FALSE);
      return resolv_revert (resolv_path, backup_path, error);
    case FZ_DNS_CONTROL_SYSTEMD_RESOLVED:
      g_return_val_if_fail (ifindex > 0, FALSE);
      return resolved_revert (ifindex, error);
    }
  g_return_val_if_reached (FALSE);
}
