/* The portal token of the headless client and the gateway: a secret,
 * never logged, wiped from memory when dropped. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FZ_TOKEN_MAX 4096 /* bytes */

/* The token from, in order:
 * - FIREZONE_TOKEN from the environment when set and not empty (an
 *   invalid one is an error); it is then wiped and removed from the
 *   environment, so that children never see it;
 * - $CREDENTIALS_DIRECTORY/FIREZONE_TOKEN (systemd's LoadCredential=)
 *   when that file exists;
 * - the file @path (NULL: none), which must be a regular file owned by
 *   root with mode 0600 or 0400.
 * Surrounding whitespace is trimmed; what is left must be 1 to
 * FZ_TOKEN_MAX printable ASCII characters without spaces. Errors
 * (G_IO_ERROR) name the file and the fix, never the token. Free the
 * token with fz_token_free(). Call it before starting threads: it
 * changes the environment. */
char *fz_token_load (const char *path, GError **error);
/* Whether the @len bytes at @token are a token as above (no trimming);
 * @what names where it came from in the error. */
gboolean fz_token_validate (const char *token, gsize len, const char *what,
                            GError **error);
/* Wipes and frees; NULL is ignored. */
void fz_token_free (char *token);

G_END_DECLS
