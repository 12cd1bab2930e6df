#include "fz-settings-validate.h"

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <string.h>

static gboolean
invalid (GError **error, const char *message)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, message);
  return FALSE;
}

gboolean
fz_settings_validate_account_slug (const char *slug, GError **error)
{
  gsize n = strlen (slug);

  if (n > FZ_SETTINGS_SLUG_MAX)
    return invalid (error, _ ("The account slug is longer than 100 characters."));
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isalnum (slug[i]) && slug[i] != '_' && slug[i] != '-')
      return invalid (error,
                      _ ("The account slug may hold only letters, digits, “_” and “-”."));
  return TRUE;
}

/* g_uri_parse takes spaces and control characters in a host; a URL
 * typed with them is a typo, never an address. */
static gboolean
has_space_or_control (const char *s)
{
  for (; *s != '\0'; s++)
    if ((guchar) *s <= 0x20 || (guchar) *s == 0x7f)
      return TRUE;
  return FALSE;
}

static gboolean
url_ok (const char *url, const char *const *schemes)
{
  g_autoptr (GUri) uri = NULL;
  const char *host;

  if (has_space_or_control (url))
    return FALSE;
  uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL)
    return FALSE;
  host = g_uri_get_host (uri);
  return g_strv_contains (schemes, g_uri_get_scheme (uri)) && host != NULL
         && host[0] != '\0' && g_uri_get_userinfo (uri) == NULL;
}

gboolean
fz_settings_validate_auth_url (const char *url, GError **error)
{
  static const char *const schemes[] = { "http", "https", NULL };

  if (strlen (url) > FZ_SETTINGS_URL_MAX)
    return invalid (error, _ ("The URL is longer than 2048 bytes."));
  if (!url_ok (url, schemes))
    return invalid (error, _ ("Enter an http:// or https:// URL with a host name, "
                              "without a user name or password."));
  return TRUE;
}

gboolean
fz_settings_validate_api_url (const char *url, GError **error)
{
  static const char *const schemes[] = { "ws", "wss", "http", "https", NULL };

  if (strlen (url) > FZ_SETTINGS_URL_MAX)
    return invalid (error, _ ("The URL is longer than 2048 bytes."));
  if (!url_ok (url, schemes))
    return invalid (error,
                    _ ("Enter a ws://, wss://, http:// or https:// URL with a host "
                       "name, without a user name or password."));
  return TRUE;
}

gboolean
fz_settings_validate (const char *key, const char *value, GError **error)
{
  if (g_str_equal (key, "account-slug"))
    return fz_settings_validate_account_slug (value, error);
  if (g_str_equal (key, "auth-url"))
    return fz_settings_validate_auth_url (value, error);
  if (g_str_equal (key, "api-url"))
    return fz_settings_validate_api_url (value, error);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "No check for key “%s”",
               key);
  return FALSE;
}
