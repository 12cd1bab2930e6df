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

/* What the lines of a set=1 request apply to so far. */
typedef struct
{
  FzWgIface *iface;
  gint64 now;
  gboolean in_peers; /* a public_key line came: no interface keys any more */
  FzWgPeer *peer;    /* NULL in the peer section: lines checked, not applied */
} SetState;

/* A request under way, done a chunk at a time so that a large one never
 * holds up the main loop: lines of a set=1, or peers of a get=1 answer. */
struct _FzUapiRequest
{
  char *text; /* set=1: the request, wiped when freed */
  gsize len, pos;
  guint line; /* number of the line at @pos */
  SetState st;
  GArray *keys; /* get=1: guint8[FZ_WG_KEY_LEN] per peer */
  guint next;   /* peer */
};

/* get=1: the interface lines at once, then the peers. Peers are
 * remembered by public key: one removed meanwhile is left out, never
 * dangling. */
static FzUapiRequest *
get_start (FzWgIface *iface, GString *r)
{
  GPtrArray *peers = fz_wg_device_peers (iface->dev);
  FzUapiRequest *get = g_new0 (FzUapiRequest, 1);

  if (iface->has_key)
    append_key (r, "private_key", iface->private_key);
  g_string_append_printf (r, "listen_port=%u\n", iface->listen_port);
  if (iface->fwmark != 0)
    g_string_append_printf (r, "fwmark=%u\n", iface->fwmark);
  get->keys = g_array_sized_new (FALSE, FALSE, FZ_WG_KEY_LEN, peers->len);
  for (guint i = 0; i < peers->len; i++)
    g_array_append_vals (get->keys, fz_wg_peer_public_key (peers->pdata[i]), 1);
  return get;
}

static void
append_peer (FzWgIface *iface, FzWgPeer *peer, GString *allowed, GString *r)
{
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
                          st.last_handshake_wall_us % G_USEC_PER_SEC * 1000, st.tx_bytes,
                          st.rx_bytes, fz_wg_peer_get_persistent_keepalive (peer));
  if (allowed != NULL)
    g_string_append_len (r, allowed->str, (gssize) allowed->len);
}

static void
free_string (gpointer s)
{
  g_string_free (s, TRUE);
}

/* Adds "allowed_ip=PREFIX" to the text of @peer, if it is in @by_peer. */
static void
append_allowed_ip (const FzIpPrefix *prefix, gpointer peer, gpointer by_peer)
{
  GString *s = g_hash_table_lookup (by_peer, peer);
  char text[FZ_IP_PREFIX_STRLEN];

  if (s != NULL)
    g_string_append_printf (s, "allowed_ip=%s\n", fz_ip_prefix_to_string (prefix, text));
}

static gboolean
get_next (FzUapiRequest *get, FzWgIface *iface, GString *r, guint max)
{
  guint end = MIN (get->next + max, get->keys->len);
  g_autoptr (GHashTable) allowed
    = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, free_string);
  g_autoptr (GPtrArray) peers = g_ptr_array_new ();

  for (guint i = get->next; i < end; i++)
    {
      FzWgPeer *peer = fz_wg_device_lookup_peer (
        iface->dev, &g_array_index (get->keys, guint8, i * FZ_WG_KEY_LEN));
      if (peer != NULL)
        {
          g_ptr_array_add (peers, peer);
          g_hash_table_insert (allowed, peer, g_string_new (NULL));
        }
    }
  /* One pass over the routing table per chunk, not one per peer. */
  if (peers->len > 0)
    fz_ip_table_foreach (iface->allowed, append_allowed_ip, allowed);
  for (guint i = 0; i < peers->len; i++)
    append_peer (iface, peers->pdata[i], g_hash_table_lookup (allowed, peers->pdata[i]),
                 r);
  get->next = end;
  if (end < get->keys->len)
    return TRUE;
  g_string_append (r, "errno=0\n\n");
  return FALSE;
}

static void
remove_peer (FzWgIface *iface, FzWgPeer *peer)
{
  fz_ip_table_remove_value (iface->allowed, peer);
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

/* Like wireguard-go and the kernel: a private key whose public key is a
 * peer's removes that peer; the device is never its own peer. */
static void
set_private_key (FzWgIface *iface, const guint8 k[FZ_WG_KEY_LEN])
{
  static const guint8 zero[FZ_WG_KEY_LEN] = { 0 };
  FzWgPeer *self;

  fz_wg_device_set_private_key (iface->dev, k);
  iface->has_key = memcmp (k, zero, FZ_WG_KEY_LEN) != 0;
  memcpy (iface->private_key, k, FZ_WG_KEY_LEN);
  if (iface->has_key
      && (self
          = fz_wg_device_lookup_peer (iface->dev, fz_wg_device_public_key (iface->dev)))
           != NULL)
    remove_peer (iface, self);
}

static gboolean
set_interface_line (SetState *st, const char *key, const char *value, GError **error)
{
  FzWgIface *iface = st->iface;
  guint8 k[FZ_WG_KEY_LEN];
  guint64 n;

  if (g_str_equal (key, "private_key"))
    {
      if (!parse_key (value, k))
        return FALSE;
      set_private_key (iface, k);
      fz_wg_wipe (k, sizeof k);
      return TRUE;
    }
  if (g_str_equal (key, "listen_port"))
    return parse_uint (value, 65535, &n)
           && fz_wg_iface_listen (iface, (guint16) n, error);
  if (g_str_equal (key, "fwmark"))
    return parse_uint (value, G_MAXUINT32, &n)
           && fz_wg_iface_set_fwmark (iface, (guint32) n, error);
  if (g_str_equal (key, "replace_peers"))
    {
      if (!g_str_equal (value, "true"))
        return FALSE;
      while (fz_wg_device_peers (iface->dev)->len > 0)
        remove_peer (iface, fz_wg_device_peers (iface->dev)->pdata[0]);
      return TRUE;
    }
  return FALSE;
}

/* public_key=: the peer the next lines apply to, made if new. The
 * device's own key is ignored without error (as by wireguard-go and the
 * kernel, so that one configuration can be pushed to every peer). */
static gboolean
select_peer (SetState *st, const char *value, GError **error)
{
  FzWgIface *iface = st->iface;
  guint8 k[FZ_WG_KEY_LEN];

  if (!parse_key (value, k))
    return FALSE;
  st->in_peers = TRUE;
  st->peer = NULL;
  if (iface->has_key && memcmp (k, fz_wg_device_public_key (iface->dev), sizeof k) == 0)
    return TRUE;
  st->peer = fz_wg_device_lookup_peer (iface->dev, k);
  if (st->peer == NULL)
    st->peer = fz_wg_device_add_peer (iface->dev, k, NULL, error);
  return st->peer != NULL;
}

/* One line of a peer's section, checked always, applied only to a peer. */
static gboolean
set_peer_line (SetState *st, const char *key, const char *value)
{
  FzWgIface *iface = st->iface;
  FzWgPeer *peer = st->peer;
  guint8 k[FZ_WG_KEY_LEN];
  guint64 n;

  if (g_str_equal (key, "remove"))
    {
      if (!g_str_equal (value, "true"))
        return FALSE;
      if (peer != NULL)
        remove_peer (iface, peer);
      st->peer = NULL;
    }
  else if (g_str_equal (key, "update_only"))
    {
      if (!g_str_equal (value, "true"))
        return FALSE; /* the peer exists or was just added: nothing to skip */
    }
  else if (g_str_equal (key, "preshared_key"))
    {
      if (!parse_key (value, k))
        return FALSE;
      if (peer != NULL)
        set_psk (iface, peer, k);
      fz_wg_wipe (k, sizeof k);
    }
  else if (g_str_equal (key, "endpoint"))
    {
      FzSockAddr ep;
      if (!parse_endpoint (value, &ep))
        return FALSE;
      if (peer != NULL)
        fz_wg_peer_set_endpoint (peer, &ep);
    }
  else if (g_str_equal (key, "persistent_keepalive_interval"))
    {
      if (!parse_uint (value, 65535, &n))
        return FALSE;
      if (peer != NULL)
        fz_wg_peer_set_persistent_keepalive (peer, (guint) n, st->now);
    }
  else if (g_str_equal (key, "replace_allowed_ips"))
    {
      if (!g_str_equal (value, "true"))
        return FALSE;
      if (peer != NULL)
        fz_ip_table_remove_value (iface->allowed, peer);
    }
  else if (g_str_equal (key, "allowed_ip"))
    {
      FzIpPrefix prefix;
      /* The length is required, as in wireguard-go; a prefix belongs to
       * one peer at a time: adding it for another moves it. */
      if (strchr (value, '/') == NULL || !fz_ip_prefix_parse (&prefix, value))
        return FALSE;
      if (peer != NULL)
        fz_ip_table_insert (iface->allowed, &prefix, peer);
    }
  else if (g_str_equal (key, "protocol_version"))
    return g_str_equal (value, "1");
  else
    return FALSE;
  return TRUE;
}

/* Only a key we know is named: anything else on the line could be a
 * secret pasted in the wrong place. */
static void
set_line_error (GError **error, const char *key, guint line)
{
  if (error == NULL || *error != NULL)
    return;
  if (key != NULL && g_strv_contains (KNOWN_KEYS, key))
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "invalid value for '%s' (line %u)", key, line);
  else
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "line %u is not a known key=value", line);
}

/* One line of a set=1 request; FALSE if it is refused. */
static gboolean
set_line (SetState *st, const char *line, guint number, GError **error)
{
  const char *eq = strchr (line, '=');
  g_autofree char *key = eq != NULL ? g_strndup (line, (gsize) (eq - line)) : NULL;
  gboolean ok;

  if (key == NULL)
    ok = FALSE;
  else if (g_str_equal (key, "public_key"))
    ok = select_peer (st, eq + 1, error);
  else if (!st->in_peers)
    ok = set_interface_line (st, key, eq + 1, error);
  else
    ok = set_peer_line (st, key, eq + 1);
  if (!ok)
    set_line_error (error, key, number);
  return ok;
}

/* Applies up to @max lines; at the end of the request or at the first
 * line it refuses, appends errno=N and returns FALSE. */
static gboolean
set_next (FzUapiRequest *set, FzWgIface *iface, GString *r, guint max)
{
  g_autoptr (GError) error = NULL;
  int err = 0;

  for (guint n = 0; n < max; n++, set->line++)
    {
      /* memchr, not strchr or g_strsplit: no pass over the rest of a
       * large request per line. */
      char *line = set->text + set->pos;
      char *nl = memchr (line, '\n', set->len - set->pos);

      if (nl == line || *line == '\0')
        goto done; /* the blank line, or the end */
      if (nl != NULL)
        *nl = '\0';
      set->pos = nl != NULL ? (gsize) (nl + 1 - set->text) : set->len;
      if (!set_line (&set->st, line, set->line, &error))
        {
          g_message ("configuration refused: %s", error->message);
          err = EINVAL_REPLY;
          goto done;
        }
    }
  fz_wg_iface_flush (iface, set->st.now); /* handshakes the lines started */
  return TRUE;

done:
  fz_wg_iface_flush (iface, set->st.now);
  g_string_append_printf (r, "errno=%d\n\n", err);
  return FALSE;
}

gboolean
fz_uapi_request_next (FzUapiRequest *req, FzWgIface *iface, GString *reply, guint max)
{
  return req->text != NULL ? set_next (req, iface, reply, max)
                           : get_next (req, iface, reply, max);
}

void
fz_uapi_request_free (FzUapiRequest *req)
{
  if (req == NULL)
    return;
  if (req->text != NULL)
    fz_wg_wipe (req->text, req->len); /* it may hold keys */
  g_free (req->text);
  g_clear_pointer (&req->keys, g_array_unref);
  g_free (req);
}

FzUapiRequest *
fz_uapi_handle (FzWgIface *iface, const char *request, GString *reply, gint64 now)
{
  FzUapiRequest *req;

  if (g_str_has_prefix (request, "get=1\n"))
    return get_start (iface, reply);
  if (!g_str_has_prefix (request, "set=1\n"))
    {
      g_string_append_printf (reply, "errno=%d\n\n", EINVAL_REPLY);
      return NULL;
    }
  req = g_new0 (FzUapiRequest, 1);
  req->len = strlen (request);
  req->text = g_strndup (request, req->len);
  req->pos = strlen ("set=1\n");
  req->line = 2;
  req->st.iface = iface;
  req->st.now = now;
  return req;
}
