/* The sign-in token in the Secret Service (libsecret; GNOME Keyring,
 * KWallet, KeePassXC...): one item, in the default collection, so it
 * outlives the session. Nowhere else: no file, no log, no setting. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

void fz_token_store_save (const char *token, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data);
gboolean fz_token_store_save_finish (GAsyncResult *result, GError **error);

/* Returns the token (free with fz_token_store_free), or NULL: none
 * stored (no error) or the Secret Service failed (@error set). */
void fz_token_store_load (GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data);
char *fz_token_store_load_finish (GAsyncResult *result, GError **error);

void fz_token_store_clear (GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data);
gboolean fz_token_store_clear_finish (GAsyncResult *result, GError **error);

/* Wipes and frees a token. */
void fz_token_store_free (char *token);

G_END_DECLS
