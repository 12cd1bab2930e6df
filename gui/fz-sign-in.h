/* The tray's sign-in, without I/O: the URL that opens the portal's
 * sign-in page in the browser, and the check of the deep link the
 * portal sends back,
 *
 *   firezone-fd0020211111://handle_client_sign_in_callback
 *     ?account_slug=..&actor_name=..&fragment=..&state=..
 *
 * which anything on the desktop can open, so it is untrusted input: it
 * is taken only when its state is the one this sign-in sent, and the
 * token it yields is nonce || fragment, the nonce never having left
 * this process and the browser. Errors (FZ_SIGN_IN_ERROR) never quote
 * the token, nonce, state or fragment. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FZ_SIGN_IN_SCHEME "firezone-fd0020211111"
#define FZ_SIGN_IN_HOST   "handle_client_sign_in_callback"

#define FZ_SIGN_IN_AUTH_URL_MAX   2048 /* bytes */
#define FZ_SIGN_IN_SLUG_MAX       100
#define FZ_SIGN_IN_RANDOM_LEN     64   /* 32 bytes of nonce, 32 of state */
#define FZ_SIGN_IN_LINK_MAX       8192 /* bytes, the whole deep link */
#define FZ_SIGN_IN_ACTOR_NAME_MAX 256  /* bytes of UTF-8 */
#define FZ_SIGN_IN_FRAGMENT_MAX   4096 /* bytes */

#define FZ_SIGN_IN_ERROR (fz_sign_in_error_quark ())
GQuark fz_sign_in_error_quark (void);

typedef enum
{
  FZ_SIGN_IN_ERROR_INVALID_SETTINGS, /* the auth URL or account slug */
  FZ_SIGN_IN_ERROR_NOT_OURS,         /* not a FZ_SIGN_IN_SCHEME link */
  FZ_SIGN_IN_ERROR_MALFORMED,        /* ours, but breaks a rule of the format */
  FZ_SIGN_IN_ERROR_STATE_MISMATCH,   /* well-formed, not the answer to this sign-in */
} FzSignInError;

typedef struct _FzSignIn FzSignIn;

/* One sign-in: its nonce and state are hex (lowercase, 64 characters) of
 * @random's first and last 32 bytes; the caller draws them
 * (randombytes_buf) and wipes them after, tests choose them.
 * @auth_url: http or https with a host, no user info, query or
 * fragment, printable ASCII, at most FZ_SIGN_IN_AUTH_URL_MAX bytes; one
 * trailing '/' is dropped.
 * @account_slug: NULL or "" (the portal asks for the account), or
 * [A-Za-z0-9_-]{1,100}. Fails with FZ_SIGN_IN_ERROR_INVALID_SETTINGS. */
FzSignIn *fz_sign_in_new (const char *auth_url, const char *account_slug,
                          const guint8 random[FZ_SIGN_IN_RANDOM_LEN], GError **error);
/* Wipes the nonce, the state and the URL, and frees; NULL is ignored. */
void fz_sign_in_free (FzSignIn *self);

/* <auth_url>/<account_slug>?as=gui-client&nonce=<hex>&state=<hex>, for
 * the browser only: it holds the nonce. */
const char *fz_sign_in_get_url (const FzSignIn *self);

/* Whether @uri has our scheme (exactly, lowercase): whether the app
 * should hand it to fz_sign_in_complete() rather than ignore it. */
gboolean fz_sign_in_is_deep_link (const char *uri);

typedef struct
{
  char *token;        /* nonce || fragment, valid for fz_token_validate() */
  char *actor_name;   /* UTF-8 without control characters, may be empty */
  char *account_slug; /* [A-Za-z0-9_-]{1,100} */
} FzSignInResult;

/* Wipes the token and frees the fields; the struct may be reused. */
void fz_sign_in_result_clear (FzSignInResult *result);

/* Checks @deep_link: the scheme and host exactly, no user info or port,
 * path empty or "/", no #fragment, at most FZ_SIGN_IN_LINK_MAX bytes of
 * printable ASCII; a query of key=value pairs (percent-encoded, '+'
 * for a space, keys and values UTF-8), each key at most once, unknown keys
 * ignored; account_slug, actor_name, fragment and state present and
 * within bounds, state equal to ours (compared in constant time). On
 * success fills @out (cleared first; free with
 * fz_sign_in_result_clear()). A sign-in may check any number of links;
 * the caller drops it after the first success. */
gboolean fz_sign_in_complete (const FzSignIn *self, const char *deep_link,
                              FzSignInResult *out, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzSignIn, fz_sign_in_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (FzSignInResult, fz_sign_in_result_clear)

G_END_DECLS
