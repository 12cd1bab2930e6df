#include "fz-portal-url.h"

#include "fz-portal-types.h"

#include <string.h>

/* application/x-www-form-urlencoded */
static void
append_form (GString *s, const char *key, const char *value)
{
  if (s->len > 0)
    g_string_append_c (s, '&');
  g_string_append (s, key);
  g_string_append_c (s, '=');
  for (const unsigned char *p = (const unsigned char *) value; *p; p++)
    {
      if (g_ascii_isalnum (*p) || *p == '*' || *p == '-' || *p == '.' || *p == '_')
        g_string_append_c (s, (char) *p);
      else if (*p == ' ')
        g_string_append_c (s, '+');
      else
        g_string_append_printf (s, "%%%02X", *p);
    }
}

static gboolean
is_uuid (const char *s)
{
  static const int groups[] = { 8, 4, 4, 4, 12 };
  for (guint g = 0; g < G_N_ELEMENTS (groups); g++)
    {
      for (int i = 0; i < groups[g]; i++, s++)
        if (!g_ascii_isxdigit (*s))
          return FALSE;
      if (g + 1 < G_N_ELEMENTS (groups) && *s++ != '-')
        return FALSE;
    }
  return *s == '\0';
}

char *
fz_portal_url (const char *api_url, gboolean gateway, const FzPortalUrlParams *params,
               GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GUri) uri = g_uri_parse (api_url, G_URI_FLAGS_NONE, &local);
  if (uri == NULL)
    {
      g_set_error (error, FZ_PORTAL_ERROR, FZ_PORTAL_ERROR_INVALID,
                   "the portal URL \"%s\" is not a URL: %s", api_url, local->message);
      return NULL;
    }
  const char *scheme = g_uri_get_scheme (uri);
  const char *ws;
  if (g_ascii_strcasecmp (scheme, "http") == 0 || g_ascii_strcasecmp (scheme, "ws") == 0)
    ws = "ws";
  else if (g_ascii_strcasecmp (scheme, "https") == 0
           || g_ascii_strcasecmp (scheme, "wss") == 0)
    ws = "wss";
  else
    {
      g_set_error (error, FZ_PORTAL_ERROR, FZ_PORTAL_ERROR_INVALID,
                   "the portal URL \"%s\" is not http(s) or ws(s)", api_url);
      return NULL;
    }
  if (g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0')
    {
      g_set_error (error, FZ_PORTAL_ERROR, FZ_PORTAL_ERROR_INVALID,
                   "the portal URL \"%s\" has no host", api_url);
      return NULL;
    }

  if (params->external_id == NULL || *params->external_id == '\0')
    {
      g_set_error_literal (error, FZ_PORTAL_ERROR, FZ_PORTAL_ERROR_INVALID,
                           "no device id (external_id) given");
      return NULL;
    }
  g_autoptr (GString) q = g_string_new (NULL);
  g_autofree char *hashed = NULL;
  const char *id = params->external_id;
  if (is_uuid (id))
    id = hashed = g_compute_checksum_for_string (G_CHECKSUM_SHA256, id, -1);
  append_form (q, "external_id", id);
  /* FIREZONE_NAME is the caller's; without one, the host name. */
  append_form (q, "name", params->name != NULL ? params->name : g_get_host_name ());
  if (!gateway && params->device_serial != NULL)
    append_form (q, "device_serial", params->device_serial);
  if (!gateway && params->device_uuid != NULL)
    append_form (q, "device_uuid", params->device_uuid);
  g_autofree char *key = g_base64_encode (params->public_key, 32);
  append_form (q, "public_key", key);

  g_autoptr (GUri) out = g_uri_build (
    G_URI_FLAGS_ENCODED_QUERY, ws, NULL, g_uri_get_host (uri), g_uri_get_port (uri),
    gateway ? "/gateway/v2/websocket" : "/client/v2/websocket", q->str, NULL);
  return g_uri_to_string (out);
}

static void
append_ascii (GString *s, const char *text)
{
  for (const unsigned char *p = (const unsigned char *) text; *p; p++)
    if (*p >= 0x20 && *p < 0x7f)
      g_string_append_c (s, (char) *p);
}

char *
fz_portal_user_agent (const char *os, const char *os_version, const char *component,
                      const char *version, const char *arch, const char *kernel)
{
  GString *s = g_string_new (NULL);
  append_ascii (s, os);
  g_string_append_c (s, '/');
  append_ascii (s, os_version);
  g_string_append_c (s, ' ');
  append_ascii (s, component);
  g_string_append_c (s, '/');
  append_ascii (s, version);
  g_string_append (s, " (");
  append_ascii (s, arch);
  g_string_append (s, "; ");
  append_ascii (s, kernel);
  g_string_append_c (s, ')');
  return g_string_free (s, FALSE);
}
