#include "fz-token-store.h"

#include <glib/gi18n-lib.h>
#include <libsecret/secret.h>

/* Items are found by schema and this one attribute; a second sign-in
 * replaces the first. */
static const SecretSchema *
token_schema (void)
{
  static const SecretSchema schema = {
    "dev.libfz.Client.Token",
    SECRET_SCHEMA_NONE,
    {
      { "kind", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
    },
  };
  return &schema;
}

void
fz_token_store_save (const char *token, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data)
{
  secret_password_store (token_schema (), SECRET_COLLECTION_DEFAULT,
                         _ ("libfz Client sign-in token"), token, cancellable, callback,
                         user_data, "kind", "portal-token", NULL);
}

gboolean
fz_token_store_save_finish (GAsyncResult *result, GError **error)
{
  return secret_password_store_finish (result, error);
}

void
fz_token_store_load (GCancellable *cancellable, GAsyncReadyCallback callback,
                     gpointer user_data)
{
  secret_password_lookup (token_schema (), cancellable, callback, user_data, "kind",
                          "portal-token", NULL);
}

char *
fz_token_store_load_finish (GAsyncResult *result, GError **error)
{
  return secret_password_lookup_finish (result, error);
}

void
fz_token_store_clear (GCancellable *cancellable, GAsyncReadyCallback callback,
                      gpointer user_data)
{
  secret_password_clear (token_schema (), cancellable, callback, user_data, "kind",
                         "portal-token", NULL);
}

gboolean
fz_token_store_clear_finish (GAsyncResult *result, GError **error)
{
  /* FALSE without an error: there was nothing to clear. */
  g_autoptr (GError) e = NULL;
  if (secret_password_clear_finish (result, &e) || e == NULL)
    return TRUE;
  g_propagate_error (error, g_steal_pointer (&e));
  return FALSE;
}

void
fz_token_store_free (char *token)
{
  secret_password_free (token);
}
