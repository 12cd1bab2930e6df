/* libnftables defines _GNU_SOURCE: it comes before anything that reads it. */
#include <nftables/libnftables.h>

#include "fz-gateway-nat.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <linux/capability.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TUNNEL_V4  "100.64.0.0/11"
#define TUNNEL_V6  "fd00:2021:1111::/107"
#define IFNAME_MAX 15 /* IFNAMSIZ less the NUL */

/* The name goes into the ruleset between quotes, so only characters that
 * need no escaping there (and that interface names usually have) pass. */
static gboolean
check_ifname (const char *name, GError **error)
{
  gsize len = name != NULL ? strlen (name) : 0;
  gboolean ok = len >= 1 && len <= IFNAME_MAX && strcmp (name, ".") != 0
                && strcmp (name, "..") != 0;
  for (gsize i = 0; ok && i < len; i++)
    ok = g_ascii_isalnum (name[i]) || strchr ("_.-", name[i]) != NULL;
  if (ok)
    return TRUE;
  /* Escaped, so that a stray newline cannot forge a log line. */
  g_autofree char *shown = name == NULL ? g_strdup ("(none)")
                           : len <= 64  ? g_strescape (name, NULL)
                                        : g_strdup ("(too long)");
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "TUN interface name \"%s\" is not 1 to %d of A-Z a-z 0-9 _ . -", shown,
               IFNAME_MAX);
  return FALSE;
}

/* libnftables 1.0.6 writes to stderr itself when the kernel says EPERM,
 * and exits the process when it cannot open its netlink socket: both are
 * checked here first, so that failures come back as errors only. */
static gboolean
check_nft_usable (const char *what, GError **error)
{
  struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3] = { 0 };
  if (syscall (SYS_capget, &hdr, caps) == 0
      && !(caps[CAP_NET_ADMIN / 32].effective & (1u << (CAP_NET_ADMIN % 32))))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   "%s: it needs CAP_NET_ADMIN (run as root or with that capability)",
                   what);
      return FALSE;
    }
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0)
    {
      int err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "%s: no netfilter netlink socket (is nf_tables in the kernel?): %s",
                   what, g_strerror (err));
      return FALSE;
    }
  close (fd);
  return TRUE;
}

/* nft's error buffer on one line: its distinct "Error:" lines, without the
 * ruleset lines and carets it prints under each (one per command). */
static char *
error_lines (const char *buffer)
{
  g_auto (GStrv) lines = g_strsplit (buffer != NULL ? buffer : "", "\n", -1);
  g_autoptr (GString) out = g_string_new (NULL);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (strstr (lines[i], "Error:") == NULL
          || g_strv_contains ((const char *const *) lines + i + 1, lines[i]))
        continue;
      g_string_append_printf (out, "%s%s", out->len ? "; " : "", g_strstrip (lines[i]));
    }
  if (out->len == 0)
    {
      g_autofree char *all = g_strjoinv (" ", lines);
      g_string_append (out, *g_strstrip (all) != '\0' ? all : "no reason given");
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* One transaction: nftables applies all of @ruleset or nothing. */
static gboolean
run_nft (const char *ruleset, const char *what, GError **error)
{
  if (!check_nft_usable (what, error))
    return FALSE;
  struct nft_ctx *nft = nft_ctx_new (NFT_CTX_DEFAULT);
  if (nft == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "%s: libnftables failed to start", what);
      return FALSE;
    }
  /* Buffered, so that libnftables prints nothing of its own. */
  nft_ctx_buffer_output (nft);
  nft_ctx_buffer_error (nft);
  gboolean ok = nft_run_cmd_from_buffer (nft, ruleset) == 0;
  if (!ok)
    {
      g_autofree char *msg = error_lines (nft_ctx_get_error_buffer (nft));
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: nftables refused it: %s",
                   what, msg);
    }
  nft_ctx_free (nft);
  return ok;
}

gboolean
fz_gateway_nat_apply (const char *tun_name, gboolean v4, gboolean v6, GError **error)
{
  if (!v4 && !v6)
    return fz_gateway_nat_remove (error);
  if (!check_ifname (tun_name, error))
    return FALSE;

  /* Created first so that deleting it never fails; multi-line, as nft
   * 1.0.6 refuses some one-line forms of a chain. */
  g_autoptr (GString) rs = g_string_new (NULL);
  g_string_append (rs, "table inet " FZ_GATEWAY_NAT_TABLE "\n"
                       "delete table inet " FZ_GATEWAY_NAT_TABLE "\n"
                       "table inet " FZ_GATEWAY_NAT_TABLE " {\n"
                       " chain postrouting {\n"
                       "  type nat hook postrouting priority srcnat; policy accept;\n");
  if (v4)
    g_string_append_printf (
      rs, "  oifname != \"%s\" ip saddr " TUNNEL_V4 " counter masquerade\n", tun_name);
  if (v6)
    g_string_append_printf (
      rs, "  oifname != \"%s\" ip6 saddr " TUNNEL_V6 " counter masquerade\n", tun_name);
  g_string_append (rs, " }\n}\n");
  return run_nft (rs->str, "cannot set up masquerading", error);
}

gboolean
fz_gateway_nat_remove (GError **error)
{
  return run_nft ("table inet " FZ_GATEWAY_NAT_TABLE "\n"
                  "delete table inet " FZ_GATEWAY_NAT_TABLE "\n",
                  "cannot remove masquerading", error);
}

typedef struct
{
  const char *key;   /* as sysctl(8) names it */
  const char *path;  /* in /proc/sys */
  gboolean optional; /* absent when the kernel has no IPv6 */
} Sysctl;

static const Sysctl forwarding[] = {
  { "net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward", FALSE },
  { "net.ipv6.conf.all.forwarding", "/proc/sys/net/ipv6/conf/all/forwarding", TRUE },
};

/* 0 when it is on (or turned on now, or absent and optional), else errno.
 * @dry: only opened for writing, to see that it could be turned on;
 * *@was_off tells that it is off. */
static int
turn_on (const Sysctl *s, gboolean dry, gboolean *was_off)
{
  char buf[16];
  int fd = open (s->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT && s->optional ? 0 : errno;
  ssize_t n = read (fd, buf, sizeof buf - 1);
  int err = n < 0 ? errno : 0;
  close (fd);
  if (err != 0)
    return err;
  if (n > 0 && buf[0] != '0')
    return 0;
  *was_off = TRUE;
  fd = open (s->path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  err = dry || write (fd, "1\n", 2) == 2 ? 0 : errno != 0 ? errno : EIO;
  if (close (fd) != 0 && err == 0)
    err = errno;
  return err;
}

static gboolean
forwarding_on (gboolean dry, gboolean *was_off, GError **error)
{
  g_autoptr (GString) off = g_string_new (NULL);
  g_autoptr (GString) keys = g_string_new (NULL);
  int first = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (forwarding); i++)
    {
      int err = turn_on (&forwarding[i], dry, was_off);
      if (err == 0)
        continue;
      if (first == 0)
        first = err;
      g_string_append_printf (off, "%s%s: %s", off->len ? "; " : "", forwarding[i].key,
                              g_strerror (err));
      g_string_append_printf (keys, " %s=1", forwarding[i].key);
    }
  if (first == 0)
    return TRUE;
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (first),
               "IP forwarding is off and cannot be turned on (%s); turn it on as root "
               "with: sysctl -w%s",
               off->str, keys->str);
  return FALSE;
}

gboolean
fz_gateway_forwarding_ensure (GError **error)
{
  gboolean was_off = FALSE;
  return forwarding_on (FALSE, &was_off, error);
}

gboolean
fz_gateway_forwarding_check (gboolean *off, GError **error)
{
  *off = FALSE;
  return forwarding_on (TRUE, off, error);
}

gboolean
fz_gateway_nat_check (GError **error)
{
  return check_nft_usable ("masquerading", error);
}
