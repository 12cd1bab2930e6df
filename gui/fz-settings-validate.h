#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Checks for the free-text settings keys, shared by the settings window
 * (which applies only values that pass) and the app (which reads keys
 * that gsettings or an old version may have set to anything). Errors are
 * G_IO_ERROR_INVALID_ARGUMENT with a translated message fit to show. */

#define FZ_SETTINGS_SLUG_MAX 100
#define FZ_SETTINGS_URL_MAX  2048

/* Empty (the portal asks) or [A-Za-z0-9_-]{1,100}. */
gboolean fz_settings_validate_account_slug (const char *slug, GError **error);
/* http or https, with a host, no user name or password. */
gboolean fz_settings_validate_auth_url (const char *url, GError **error);
/* ws, wss, http or https, with a host, no user name or password. */
gboolean fz_settings_validate_api_url (const char *url, GError **error);

/* By key name (account-slug, auth-url, api-url); FALSE for other keys. */
gboolean fz_settings_validate (const char *key, const char *value, GError **error);

G_END_DECLS
