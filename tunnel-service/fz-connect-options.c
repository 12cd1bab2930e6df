#include "fz-connect-options.h"

#include <string.h>

static gboolean
invalid (GError **error, const char *key, const char *why)
{
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS, "Option '%s' %s", key,
               why);
  return FALSE;
}

/* The portal's URL: what fz_portal_url() turns into its WebSocket URL. */
static gboolean
check_api_url (const char *url, GError **error)
{
  static const char *const schemes[] = { "ws", "wss", "http", "https", NULL };
  g_autoptr (GUri) uri = NULL;

  if (strlen (url) > FZ_CONNECT_API_URL_MAX)
    return invalid (error, "api_url", "is longer than 2048 bytes");
  uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || !g_strv_contains (schemes, g_uri_get_scheme (uri))
      || g_uri_get_host (uri) == NULL || g_uri_get_host (uri)[0] == '\0')
    return invalid (error, "api_url", "must be a ws, wss, http or https URL with a host");
  if (g_uri_get_userinfo (uri) != NULL)
    return invalid (error, "api_url", "must not hold a user name or password");
  return TRUE;
}

static gboolean
check_slug (const char *slug, GError **error)
{
  gsize n = strlen (slug);

  if (n == 0 || n > FZ_CONNECT_SLUG_MAX)
    return invalid (error, "account_slug", "must be 1 to 100 characters long");
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isalnum (slug[i]) && slug[i] != '_' && slug[i] != '-')
      return invalid (error, "account_slug",
                      "may hold only letters, digits, '_' and '-'");
  return TRUE;
}

static gboolean
take (const char *key, GVariant *value, FzConnectOptions *out, GError **error)
{
  const GVariantType *want;
  gboolean seen;

  if (g_str_equal (key, "api_url"))
    want = G_VARIANT_TYPE_STRING, seen = out->api_url != NULL;
  else if (g_str_equal (key, "account_slug"))
    want = G_VARIANT_TYPE_STRING, seen = out->account_slug != NULL;
  else if (g_str_equal (key, "internet_resource"))
    want = G_VARIANT_TYPE_BOOLEAN, seen = out->has_internet_resource;
  else
    {
      /* Shown to the caller, cut short (within the string: past its
       * end g_utf8_substring reads on). */
      g_autofree char *shown
        = g_utf8_substring (key, 0, MIN (g_utf8_strlen (key, -1), 64));

      g_set_error (
        error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
        "Unknown option '%s' (known: api_url, account_slug, internet_resource)", shown);
      return FALSE;
    }
  if (seen)
    return invalid (error, key, "is given twice");
  if (!g_variant_is_of_type (value, want))
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "Option '%s' must be of type '%s', not '%s'", key,
                   g_variant_type_peek_string (want), g_variant_get_type_string (value));
      return FALSE;
    }
  if (g_str_equal (key, "api_url"))
    {
      out->api_url = g_variant_get_string (value, NULL);
      return check_api_url (out->api_url, error);
    }
  if (g_str_equal (key, "account_slug"))
    {
      out->account_slug = g_variant_get_string (value, NULL);
      return check_slug (out->account_slug, error);
    }
  out->internet_resource = g_variant_get_boolean (value);
  out->has_internet_resource = TRUE;
  return TRUE;
}

gboolean
fz_connect_options_parse (GVariant *options, FzConnectOptions *out, GError **error)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_return_val_if_fail (g_variant_is_of_type (options, G_VARIANT_TYPE_VARDICT), FALSE);
  memset (out, 0, sizeof *out);
  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      gboolean ok = take (key, value, out, error);

      g_variant_unref (value);
      if (!ok)
        return FALSE;
    }
  return TRUE;
}
