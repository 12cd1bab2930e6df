#include "fz-portal-credentials.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>

#define FRAGMENT_TAG ".fzc1."

/* RFC 4648 base32, lowercase, no padding. */
static void
base32 (const guint8 *in, gsize len, char *out)
{
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  guint32 acc = 0;
  int bits = 0;
  for (gsize i = 0; i < len; i++)
    {
      acc = (acc << 8) | in[i];
      bits += 8;
      while (bits >= 5)
        {
          *out++ = alphabet[(acc >> (bits - 5)) & 31];
          bits -= 5;
        }
    }
  if (bits > 0)
    *out++ = alphabet[(acc << (5 - bits)) & 31];
  *out = '\0';
}

void
fz_portal_ice_credentials (const char *client_id, const char *client_key_b64,
                           const char *gateway_id, const char *gateway_key_b64,
                           FzIceCredentials *client, FzIceCredentials *gateway)
{
  g_autofree char *seed = g_strdup_printf ("%s:%s:%s:%s", client_id, client_key_b64,
                                           gateway_id, gateway_key_b64);
  guint8 digest[32];
  gsize n = sizeof digest;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, (const guchar *) seed, strlen (seed));
  g_checksum_get_digest (sum, digest, &n);
  char h[53];
  base32 (digest, sizeof digest, h);
  client->username = g_strndup (h, 4);
  client->password = g_strndup (h + 4, 22);
  gateway->username = g_strndup (h + 26, 4);
  gateway->password = g_strndup (h + 30, 22);
}

static void
hmac (GChecksumType type, const guint8 *key, gsize key_len, const char *text, guint8 *out,
      gsize out_len)
{
  g_autoptr (GHmac) h = g_hmac_new (type, key, key_len);
  g_hmac_update (h, (const guchar *) text, strlen (text));
  g_hmac_get_digest (h, out, &out_len);
}

void
fz_portal_psk (const guint8 secret[FZ_PORTAL_SECRET_LEN], const char *client_id,
               const char *gateway_id, const char *client_key_b64,
               const char *gateway_key_b64, guint8 out[32])
{
  g_autofree char *salt
    = g_strdup_printf ("WG_PSK|C_ID:%s|G_ID:%s|C_PK:%s|G_PK:%s", client_id, gateway_id,
                       client_key_b64, gateway_key_b64);
  hmac (G_CHECKSUM_SHA256, secret, FZ_PORTAL_SECRET_LEN, salt, out, 32);
}

void
fz_portal_turn_credentials (const char *secret, gint64 expires_at, const char *salt,
                            char **username, char **password)
{
  *username = g_strdup_printf ("%" G_GINT64_FORMAT ":%s", expires_at, salt);
  guint8 mac[20];
  hmac (G_CHECKSUM_SHA1, (const guint8 *) secret, strlen (secret), *username, mac,
        sizeof mac);
  *password = g_base64_encode (mac, sizeof mac);
}

static char *
b64url (const guint8 *data, gsize len)
{
  char *s = g_base64_encode (data, len);
  for (char *p = s; *p; p++)
    *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
  char *eq = strchr (s, '=');
  if (eq != NULL)
    *eq = '\0';
  return s;
}

static guint8 *
b64url_decode (const char *s, gsize max, gsize *len)
{
  gsize n = strlen (s);
  if (n == 0 || n > max * 2)
    return NULL;
  GString *t = g_string_new (NULL);
  for (const char *p = s; *p; p++)
    {
      if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
        {
          g_string_free (t, TRUE);
          return NULL;
        }
      g_string_append_c (t, *p == '-' ? '+' : *p == '_' ? '/' : *p);
    }
  while (t->len % 4 != 0)
    g_string_append_c (t, '=');
  g_autofree char *padded = g_string_free (t, FALSE);
  guint8 *out = g_base64_decode (padded, len);
  if (*len == 0 || *len > max)
    {
      g_free (out);
      return NULL;
    }
  return out;
}

gboolean
fz_portal_valid_nonce (const char *s)
{
  gsize n = strlen (s);
  if (n == 0 || n > FZ_PORTAL_MAX_NONCE)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

static char *
fragment_mac (const guint8 secret[FZ_PORTAL_SECRET_LEN], const char *nonce,
              const char *user64, gint64 expires_at)
{
  g_autofree char *text = g_strdup_printf ("fz-client-token|%s|%s|%" G_GINT64_FORMAT,
                                           nonce, user64, expires_at);
  guint8 mac[32];
  hmac (G_CHECKSUM_SHA256, secret, FZ_PORTAL_SECRET_LEN, text, mac, sizeof mac);
  return b64url (mac, sizeof mac);
}

char *
fz_portal_client_fragment (const guint8 secret[FZ_PORTAL_SECRET_LEN], const char *nonce,
                           const char *user, gint64 expires_at)
{
  g_autofree char *user64 = b64url ((const guint8 *) user, strlen (user));
  g_autofree char *mac = fragment_mac (secret, nonce, user64, expires_at);
  return g_strdup_printf (FRAGMENT_TAG "%s.%" G_GINT64_FORMAT ".%s", user64, expires_at,
                          mac);
}

char *
fz_portal_client_token_verify (const guint8 secret[FZ_PORTAL_SECRET_LEN],
                               const char *token, gint64 now, gint64 *expires_at,
                               const char **why)
{
  *why = "not a token this portal issued";
  const char *tag = strstr (token, FRAGMENT_TAG);
  if (tag == NULL || strlen (token) > 1024)
    return NULL;
  g_autofree char *nonce = g_strndup (token, tag - token);
  if (*nonce != '\0' && !fz_portal_valid_nonce (nonce))
    return NULL;
  g_auto (GStrv) parts = g_strsplit (tag + strlen (FRAGMENT_TAG), ".", 4);
  if (g_strv_length (parts) != 3)
    return NULL;
  gint64 exp;
  gsize user_len;
  if (!g_ascii_string_to_signed (parts[1], 10, 0, G_MAXINT64, &exp, NULL))
    return NULL;
  /* Only the form the portal writes ("+5000" and "05000" parse too): one
   * token per nonce, user and expiry. */
  char canonical[24];
  g_snprintf (canonical, sizeof canonical, "%" G_GINT64_FORMAT, exp);
  if (strcmp (canonical, parts[1]) != 0)
    return NULL;
  g_autofree guint8 *user = b64url_decode (parts[0], 64, &user_len);
  if (user == NULL)
    return NULL;
  g_autofree char *mac = fragment_mac (secret, nonce, parts[0], exp);
  if (strlen (mac) != strlen (parts[2])
      || sodium_memcmp (mac, parts[2], strlen (mac)) != 0)
    return NULL;
  if (exp <= now)
    {
      *why = "the token has expired";
      return NULL;
    }
  *why = NULL;
  *expires_at = exp;
  return g_strndup ((const char *) user, user_len);
}

gboolean
fz_portal_secret_load (const char *path, guint8 out[FZ_PORTAL_SECRET_LEN], GError **error)
{
  g_autofree char *data = NULL;
  gsize len;
  g_autoptr (GError) e = NULL;
  if (g_file_get_contents (path, &data, &len, &e))
    {
      GStatBuf st;
      if (g_stat (path, &st) == 0 && (st.st_mode & 077) != 0)
        g_warning ("%s: the portal secret is readable by others; chmod 600 it", path);
      if (len < FZ_PORTAL_SECRET_LEN)
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                       "%s: the portal secret must be at least %d bytes", path,
                       FZ_PORTAL_SECRET_LEN);
          return FALSE;
        }
      /* Any length from 32 up: hash it down to the key. */
      crypto_generichash (out, FZ_PORTAL_SECRET_LEN, (const guint8 *) data, len, NULL, 0);
      sodium_memzero (data, len);
      return TRUE;
    }
  if (!g_error_matches (e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    {
      g_propagate_error (error, g_steal_pointer (&e));
      return FALSE;
    }
  guint8 fresh[FZ_PORTAL_SECRET_LEN];
  randombytes_buf (fresh, sizeof fresh);
  if (!g_file_set_contents_full (path, (const char *) fresh, sizeof fresh,
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0600, error))
    return FALSE;
  crypto_generichash (out, FZ_PORTAL_SECRET_LEN, fresh, sizeof fresh, NULL, 0);
  sodium_memzero (fresh, sizeof fresh);
  g_message ("created a new portal secret in %s", path);
  return TRUE;
}
