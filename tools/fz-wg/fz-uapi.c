/* The cross-platform userspace configuration protocol of WireGuard, as
 * wg(8) speaks it over /var/run/wireguard/IFNAME.sock: "get=1" and
 * "set=1" requests of key=value lines, answered with errno=N. Every value
 * is checked before it is applied; the first bad line ends the request
 * with errno=22 (EINVAL). */
#include "fz-wg-iface.h"

#include <errno.h>
#include <gio/gio.h>
#include <string.h>

#define EINVAL_REPLY 22

static const char *const KNOWN_KEYS[] = {
  "private_key",
  "listen_port",
  "fwmark",
  "replace_peers",
  "public_key",
  "remove",
  "update_only",
  "preshared_key",
  "endpoint",
  "persistent_keepalive_interval",
  "replace_allowed_ips",
  "allowed_ip",
  "protocol_version",
  NULL,
};

static gboolean
parse_key (const char *hex, guint8 out[FZ_WG_KEY_LEN])
{
  if (strlen (hex) != 2 * FZ_WG_KEY_LEN)
    return FALSE;
  for (guint i = 0; i < FZ_WG_KEY_LEN; i++)
    {
      int hi = g_ascii_xdigit_value (hex[2 * i]),
          lo = g_ascii_xdigit_value (hex[2 * i + 1]);
      if (hi < 0 || lo < 0)
        return FALSE;
      out[i] = (guint8) (hi << 4 | lo);
    }
  return TRUE;
}

static void
append_key (GString *s, const char *name, const guint8 key[FZ_WG_KEY_LEN])
{
  g_string_append_printf (s, "%s=", name);
  for (guint i = 0; i < FZ_WG_KEY_LEN; i++)
    g_string_append_printf (s, "%02x", key[i]);
  g_string_append_c (s, '\n');
}

static gboolean
parse_uint (const char *text, guint64 max, guint64 *out)
{
  char *end;

  if (!g_ascii_isdigit (text[0]))
    return FALSE;
  errno = 0;
  *out = g_ascii_strtoull (text, &end, 10);
  return errno == 0 && *end == '\0' && *out <= max;
}

/* "192.0.2.1:51820" or "[2001:db8::1]:51820" */
static gboolean
parse_endpoint (const char *text, FzSockAddr *out)
{
  g_autofree char *host = NULL;
  const char *colon;
  guint64 port;

  if (text[0] == '[')
    {
      const char *close = strchr (text, ']');
      if (close == NULL || close[1] != ':')
        return FALSE;
      host = g_strndup (text + 1, (gsize) (close - text - 1));
      colon = close + 1;
      if (!fz_ip_addr_parse (&out->ip, host) || out->ip.family != 6)
        return FALSE;
    }
  else
    {
      colon = strrchr (text, ':');
      if (colon == NULL)
        return FALSE;
      host = g_strndup (text, (gsize) (colon - text));
      if (!fz_ip_addr_parse (&out->ip, host) || out->ip.family != 4)
        return FALSE;
    }
  if (!parse_uint (colon + 1, 65535, &port) || port == 0)
    return FALSE;
  out->port = (guint16) port;
  return TRUE;
}

static void
get (FzWgIface *iface, GString *r)
{
  GPtrArray *peers = fz_wg_device_peers (iface->dev);

  if (iface->has_key)
    append_key (r, "private_key", iface->private_key);
  g_string_append_printf (r, "listen_port=%u\n", iface->listen_port);
  if (iface->fwmark != 0)
    g_string_append_printf (r, "fwmark=%u\n", iface->fwmark);

  for (guint i = 0; i < peers->len; i++)
    {
      FzWgPeer *peer = peers->pdata[i];
      const guint8 *psk = g_hash_table_lookup (iface->psks, peer);
      FzWgPeerStats st;
      FzSockAddr ep;
      char buf[FZ_SOCK_ADDR_STRLEN];

      append_key (r, "public_key", fz_wg_peer_public_key (peer));
      if (psk != NULL)
        append_key (r, "preshared_key", psk);
      g_string_append (r, "protocol_version=1\n");
      if (fz_wg_peer_get_endpoint (peer, &ep))
        g_string_append_printf (r, "endpoint=%s\n", fz_sock_addr_to_string (&ep, buf));
      fz_wg_peer_get_stats (peer, &st);
      g_string_append_printf (r,
                              "last_handshake_time_sec=%" G_GINT64_FORMAT "\n"
                              "last_handshake_time_nsec=%" G_GINT64_FORMAT "\n"
                              "tx_bytes=%" G_GUINT64_FORMAT "\n"
                              "rx_bytes=%" G_GUINT64_FORMAT "\n"
                              "persistent_keepalive_interval=%u\n",
                              st.last_handshake_wall_us / G_USEC_PER_SEC,
                              st.last_handshake_wall_us % G_USEC_PER_SEC * 1000,
                              st.tx_bytes, st.rx_bytes,
                              fz_wg_peer_get_persistent_keepalive (peer));
      for (guint j = 0; j < iface->allowed.entries->len; j++)
        {
          FzAllowedIp *e = &g_array_index (iface->allowed.entries, FzAllowedIp, j);
          char ip[FZ_IP_ADDR_STRLEN];
          if (e->peer == peer)
            g_string_append_printf (r, "allowed_ip=%s/%u\n",
                                    fz_ip_addr_to_string (&e->net, ip), e->cidr);
        }
    }
}

static void
remove_peer (FzWgIface *iface, FzWgPeer *peer)
{
  fz_allowed_ips_remove_peer (&iface->allowed, peer);
  g_hash_table_remove (iface->psks, peer);
  fz_wg_device_remove_peer (iface->dev, peer);
}

static void
set_psk (FzWgIface *iface, FzWgPeer *peer, const guint8 *psk)
{
  static const guint8 zero[FZ_WG_KEY_LEN] = { 0 };

  fz_wg_peer_set_preshared_key (peer, psk);
  if (memcmp (psk, zero, FZ_WG_KEY_LEN) == 0)
    g_hash_table_remove (iface->psks, peer);
  else
    g_hash_table_insert (iface->psks, peer, g_memdup2 (psk, FZ_WG_KEY_LEN));
}

/* Applies one set=1 request; FALSE at the first line it refuses. */
static gboolean
set (FzWgIface *iface, char **lines, gint64 now, GError **error)
{
  FzWgPeer *peer = NULL;
  gboolean skip_peer = FALSE; /* update_only for a peer that does not exist */

  for (char **l = lines; *l != NULL && **l != '\0'; l++)
    {
      char *eq = strchr (*l, '=');
      const char *key = NULL, *value;
      guint8 k[FZ_WG_KEY_LEN];
      guint64 n;

      if (eq == NULL)
        goto bad;
      *eq = '\0';
      key = *l;
      value = eq + 1;

      if (g_str_equal (key, "public_key"))
        {
          if (!parse_key (value, k))
            goto bad;
          peer = fz_wg_device_lookup_peer (iface->dev, k);
          skip_peer = FALSE;
          if (peer == NULL
              && (peer = fz_wg_device_add_peer (iface->dev, k, NULL, error)) == NULL)
            return FALSE;
          continue;
        }
      if (peer == NULL && !skip_peer)
        {
          /* interface keys */
          if (g_str_equal (key, "private_key"))
            {
              static const guint8 zero[FZ_WG_KEY_LEN] = { 0 };
              if (!parse_key (value, k))
                goto bad;
              fz_wg_device_set_private_key (iface->dev, k);
              iface->has_key = memcmp (k, zero, sizeof k) != 0;
              memcpy (iface->private_key, k, sizeof k);
              fz_wg_wipe (k, sizeof k);
            }
          else if (g_str_equal (key, "listen_port"))
            {
              if (!parse_uint (value, 65535, &n)
                  || !fz_wg_iface_listen (iface, (guint16) n, error))
                goto bad;
            }
          else if (g_str_equal (key, "fwmark"))
            {
              if (!parse_uint (value, G_MAXUINT32, &n)
                  || !fz_wg_iface_set_fwmark (iface, (guint32) n, error))
                goto bad;
            }
          else if (g_str_equal (key, "replace_peers"))
            {
              if (!g_str_equal (value, "true"))
                goto bad;
              while (fz_wg_device_peers (iface->dev)->len > 0)
                remove_peer (iface, fz_wg_device_peers (iface->dev)->pdata[0]);
            }
          else
            goto bad;
          continue;
        }
      if (skip_peer)
        continue;

      /* peer keys */
      if (g_str_equal (key, "remove"))
        {
          if (!g_str_equal (value, "true"))
            goto bad;
          remove_peer (iface, peer);
          peer = NULL;
          skip_peer = TRUE;
        }
      else if (g_str_equal (key, "update_only"))
        {
          if (!g_str_equal (value, "true"))
            goto bad; /* the peer exists or was just added: nothing to skip */
        }
      else if (g_str_equal (key, "preshared_key"))
        {
          if (!parse_key (value, k))
            goto bad;
          set_psk (iface, peer, k);
          fz_wg_wipe (k, sizeof k);
        }
      else if (g_str_equal (key, "endpoint"))
        {
          FzSockAddr ep;
          if (!parse_endpoint (value, &ep))
            goto bad;
          fz_wg_peer_set_endpoint (peer, &ep);
        }
      else if (g_str_equal (key, "persistent_keepalive_interval"))
        {
          if (!parse_uint (value, 65535, &n))
            goto bad;
          fz_wg_peer_set_persistent_keepalive (peer, (guint) n, now);
        }
      else if (g_str_equal (key, "replace_allowed_ips"))
        {
          if (!g_str_equal (value, "true"))
            goto bad;
          fz_allowed_ips_remove_peer (&iface->allowed, peer);
        }
      else if (g_str_equal (key, "allowed_ip"))
        {
          FzIpAddr net;
          guint8 cidr;
          if (!fz_allowed_ips_parse (value, &net, &cidr))
            goto bad;
          fz_allowed_ips_add (&iface->allowed, &net, cidr, peer);
        }
      else if (g_str_equal (key, "protocol_version"))
        {
          if (!g_str_equal (value, "1"))
            goto bad;
        }
      else
        goto bad;
      continue;

    bad:
      if (error != NULL && *error == NULL)
        {
          /* Only a key we know is named: anything else on the line could
           * be a secret pasted in the wrong place. */
          guint line = (guint) (l - lines) + 2;
          if (key != NULL && g_strv_contains (KNOWN_KEYS, key))
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                         "invalid value for '%s' (line %u)", key, line);
          else
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                         "line %u is not a known key=value", line);
        }
      return FALSE;
    }
  return TRUE;
}

void
fz_uapi_handle (FzWgIface *iface, const char *request, GString *reply, gint64 now)
{
  g_auto (GStrv) lines = g_strsplit (request, "\n", -1);
  g_autoptr (GError) error = NULL;
  int err = 0;

  if (lines[0] != NULL && g_str_equal (lines[0], "get=1"))
    get (iface, reply);
  else if (lines[0] != NULL && g_str_equal (lines[0], "set=1"))
    {
      if (!set (iface, lines + 1, now, &error))
        {
          g_message ("configuration refused: %s", error->message);
          err = EINVAL_REPLY;
        }
      fz_wg_iface_flush (iface, now);
    }
  else
    err = EINVAL_REPLY;
  g_string_append_printf (reply, "errno=%d\n\n", err);
}
