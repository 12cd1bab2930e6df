#include "fz-sign-in.h"

#include "fz-settings-validate.h"
#include "fz-token.h"

#include <sodium.h>
#include <string.h>

#define HEX_LEN 64 /* hex of 32 bytes */
#define PREFIX  FZ_SIGN_IN_SCHEME "://" FZ_SIGN_IN_HOST

/* The quark name is a string, not an expression: keep its dashes. */
/* clang-format off */
G_DEFINE_QUARK (fz-sign-in-error-quark, fz_sign_in_error)
/* clang-format on */

struct _FzSignIn
{
  char nonce[HEX_LEN + 1];
  char state[HEX_LEN + 1];
  char *url;
};

/* The keys the link must hold, each once. */
enum
{
  KEY_ACCOUNT_SLUG,
  KEY_ACTOR_NAME,
  KEY_FRAGMENT,
  KEY_STATE,
  N_KEYS
};
static const char *const key_names[N_KEYS]
  = { "account_slug", "actor_name", "fragment", "state" };

static gboolean
fail (GError **error, FzSignInError code, const char *message)
{
  g_set_error_literal (error, FZ_SIGN_IN_ERROR, code, message);
  return FALSE;
}

static gboolean
all_graph (const char *s, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isgraph (s[i]))
      return FALSE;
  return TRUE;
}

/* The settings' rule (fz-settings-validate), and not empty. */
static gboolean
valid_slug (const char *s)
{
  G_STATIC_ASSERT (FZ_SIGN_IN_SLUG_MAX == FZ_SETTINGS_SLUG_MAX);
  return s[0] != '\0' && fz_settings_validate_account_slug (s, NULL);
}

static gboolean
check_auth_url (const char *url, GError **error)
{
  gsize n = strlen (url);
  g_autoptr (GUri) uri = NULL;
  const char *scheme;

  if (n > FZ_SIGN_IN_AUTH_URL_MAX)
    return fail (error, FZ_SIGN_IN_ERROR_INVALID_SETTINGS,
                 "The sign-in URL is longer than 2048 bytes.");
  if (!all_graph (url, n))
    return fail (error, FZ_SIGN_IN_ERROR_INVALID_SETTINGS,
                 "The sign-in URL may hold only printable ASCII characters without "
                 "spaces.");
  uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  scheme = uri != NULL ? g_uri_get_scheme (uri) : NULL;
  if (uri == NULL || (g_strcmp0 (scheme, "https") != 0 && g_strcmp0 (scheme, "http") != 0)
      || g_uri_get_host (uri) == NULL || g_uri_get_host (uri)[0] == '\0')
    return fail (error, FZ_SIGN_IN_ERROR_INVALID_SETTINGS,
                 "The sign-in URL must be an http or https URL with a host.");
  if (g_uri_get_userinfo (uri) != NULL)
    return fail (error, FZ_SIGN_IN_ERROR_INVALID_SETTINGS,
                 "The sign-in URL must not hold a user name or password.");
  /* The account and our query go after it. */
  if (g_uri_get_query (uri) != NULL || g_uri_get_fragment (uri) != NULL)
    return fail (error, FZ_SIGN_IN_ERROR_INVALID_SETTINGS,
                 "The sign-in URL must not have a query or a fragment.");
  return TRUE;
}

FzSignIn *
fz_sign_in_new (const char *auth_url, const char *account_slug,
                const guint8 random[FZ_SIGN_IN_RANDOM_LEN], GError **error)
{
  g_autofree char *base = NULL;
  g_autofree char *slug = NULL;
  FzSignIn *self;

  g_return_val_if_fail (auth_url != NULL, NULL);
  g_return_val_if_fail (random != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!check_auth_url (auth_url, error))
    return NULL;
  if (account_slug == NULL)
    account_slug = "";
  if (account_slug[0] != '\0' && !valid_slug (account_slug))
    {
      fail (error, FZ_SIGN_IN_ERROR_INVALID_SETTINGS,
            "The account slug must be 1 to 100 letters, digits, '_' or '-'.");
      return NULL;
    }

  base = g_strdup (auth_url);
  if (g_str_has_suffix (base, "/"))
    base[strlen (base) - 1] = '\0';
  /* The slug's characters are all unreserved; escaping keeps it so. */
  slug = g_uri_escape_string (account_slug, NULL, FALSE);

  self = g_new0 (FzSignIn, 1);
  sodium_bin2hex (self->nonce, sizeof self->nonce, random, FZ_SIGN_IN_RANDOM_LEN / 2);
  sodium_bin2hex (self->state, sizeof self->state, random + FZ_SIGN_IN_RANDOM_LEN / 2,
                  FZ_SIGN_IN_RANDOM_LEN / 2);
  self->url = g_strdup_printf ("%s/%s?as=gui-client&nonce=%s&state=%s", base, slug,
                               self->nonce, self->state);
  return self;
}

void
fz_sign_in_free (FzSignIn *self)
{
  if (self == NULL)
    return;
  sodium_memzero (self->url, strlen (self->url));
  g_free (self->url);
  sodium_memzero (self, sizeof *self);
  g_free (self);
}

const char *
fz_sign_in_get_url (const FzSignIn *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->url;
}

gboolean
fz_sign_in_is_deep_link (const char *uri)
{
  return uri != NULL && g_str_has_prefix (uri, FZ_SIGN_IN_SCHEME ":");
}

static void
wipe_free (char *s)
{
  if (s == NULL)
    return;
  sodium_memzero (s, strlen (s));
  g_free (s);
}

void
fz_sign_in_result_clear (FzSignInResult *result)
{
  g_return_if_fail (result != NULL);
  wipe_free (g_steal_pointer (&result->token));
  g_clear_pointer (&result->actor_name, g_free);
  g_clear_pointer (&result->account_slug, g_free);
}

/* Splits the link into its query, with everything around it checked.
 * The scheme, host, user info and port are compared as bytes: GUri
 * lowercases the scheme and decodes the host. */
static char *
link_query (const char *link, GError **error)
{
  gsize n = strlen (link);
  g_autofree char *path = NULL;
  g_autofree char *fragment = NULL;
  char *query = NULL;
  const char *after;

  if (!fz_sign_in_is_deep_link (link))
    {
      fail (error, FZ_SIGN_IN_ERROR_NOT_OURS,
            "The link is not a " FZ_SIGN_IN_SCHEME " sign-in link.");
      return NULL;
    }
  if (n > FZ_SIGN_IN_LINK_MAX)
    {
      fail (error, FZ_SIGN_IN_ERROR_MALFORMED,
            "The sign-in link is longer than 8192 bytes.");
      return NULL;
    }
  if (!all_graph (link, n))
    {
      fail (error, FZ_SIGN_IN_ERROR_MALFORMED,
            "The sign-in link may hold only printable ASCII characters without spaces.");
      return NULL;
    }
  after = g_str_has_prefix (link, PREFIX) ? link + strlen (PREFIX) : NULL;
  if (after == NULL || (*after != '\0' && *after != '/' && *after != '?'))
    {
      fail (error, FZ_SIGN_IN_ERROR_MALFORMED,
            "The sign-in link must start with " PREFIX ", without a user name or port.");
      return NULL;
    }
  if (!g_uri_split (link, G_URI_FLAGS_ENCODED, NULL, NULL, NULL, NULL, &path, &query,
                    &fragment, NULL))
    {
      fail (error, FZ_SIGN_IN_ERROR_MALFORMED, "The sign-in link is not a valid URI.");
      return NULL;
    }
  if ((path[0] != '\0' && strcmp (path, "/") != 0) || fragment != NULL || query == NULL)
    {
      wipe_free (query);
      fail (error, FZ_SIGN_IN_ERROR_MALFORMED,
            "The sign-in link must have a query and no path or #fragment.");
      return NULL;
    }
  return query;
}

/* Fills @values (indexed by KEY_*) from @query: each key at most once,
 * unknown keys skipped. */
static gboolean
split_query (const char *query, char *values[N_KEYS], GError **error)
{
  g_autoptr (GHashTable) unknown
    = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GUriParamsIter iter;
  char *key, *value;
  g_autoptr (GError) local = NULL;

  g_uri_params_iter_init (&iter, query, -1, "&", G_URI_PARAMS_WWW_FORM);
  while (g_uri_params_iter_next (&iter, &key, &value, &local))
    {
      int k;

      for (k = 0; k < N_KEYS; k++)
        if (strcmp (key, key_names[k]) == 0)
          break;
      if (k < N_KEYS && values[k] == NULL)
        {
          values[k] = value;
          g_free (key);
          continue;
        }
      wipe_free (value);
      if (k < N_KEYS)
        {
          g_free (key);
          g_set_error (error, FZ_SIGN_IN_ERROR, FZ_SIGN_IN_ERROR_MALFORMED,
                       "The sign-in link gives %s twice.", key_names[k]);
          return FALSE;
        }
      /* Unknown keys are not named: anything may be in them. */
      if (key[0] == '\0')
        {
          g_free (key);
          return fail (error, FZ_SIGN_IN_ERROR_MALFORMED,
                       "The sign-in link has a value without a key.");
        }
      if (!g_hash_table_add (unknown, key))
        return fail (error, FZ_SIGN_IN_ERROR_MALFORMED,
                     "The sign-in link gives one of its other keys twice.");
    }
  if (local != NULL)
    return fail (error, FZ_SIGN_IN_ERROR_MALFORMED,
                 "The sign-in link's query is not key=value pairs of percent-encoded "
                 "UTF-8.");
  for (int k = 0; k < N_KEYS; k++)
    if (values[k] == NULL)
      {
        g_set_error (error, FZ_SIGN_IN_ERROR, FZ_SIGN_IN_ERROR_MALFORMED,
                     "The sign-in link lacks %s.", key_names[k]);
        return FALSE;
      }
  return TRUE;
}

static gboolean
valid_actor_name (const char *s)
{
  gsize n = strlen (s);

  if (n > FZ_SIGN_IN_ACTOR_NAME_MAX || !g_utf8_validate (s, n, NULL))
    return FALSE;
  for (const char *p = s; *p != '\0'; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return FALSE;
  return TRUE;
}

static gboolean
check_values (const FzSignIn *self, char *const values[N_KEYS], GError **error)
{
  const char *state = values[KEY_STATE];
  gsize fragment_len = strlen (values[KEY_FRAGMENT]);

  /* First: a link that answers another sign-in is that, whatever else
   * is wrong with it. Lengths are no secret. */
  if (strlen (state) != HEX_LEN || sodium_memcmp (state, self->state, HEX_LEN) != 0)
    return fail (error, FZ_SIGN_IN_ERROR_STATE_MISMATCH,
                 "The sign-in link answers another sign-in: its state is not ours.");
  if (!valid_slug (values[KEY_ACCOUNT_SLUG]))
    return fail (error, FZ_SIGN_IN_ERROR_MALFORMED,
                 "The sign-in link's account_slug must be 1 to 100 letters, digits, '_' "
                 "or '-'.");
  if (!valid_actor_name (values[KEY_ACTOR_NAME]))
    return fail (error, FZ_SIGN_IN_ERROR_MALFORMED,
                 "The sign-in link's actor_name must be at most 256 bytes of UTF-8 "
                 "without control characters.");
  if (fragment_len == 0 || fragment_len > FZ_SIGN_IN_FRAGMENT_MAX
      || !all_graph (values[KEY_FRAGMENT], fragment_len))
    return fail (error, FZ_SIGN_IN_ERROR_MALFORMED,
                 "The sign-in link's fragment must be 1 to 4096 printable ASCII "
                 "characters without spaces.");
  return TRUE;
}

gboolean
fz_sign_in_complete (const FzSignIn *self, const char *deep_link, FzSignInResult *out,
                     GError **error)
{
  char *values[N_KEYS] = { NULL };
  char *query;
  char *token = NULL;
  GError *local = NULL;
  gboolean ok;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  memset (out, 0, sizeof *out);
  if (deep_link == NULL)
    return fail (error, FZ_SIGN_IN_ERROR_NOT_OURS,
                 "The link is not a " FZ_SIGN_IN_SCHEME " sign-in link.");
  query = link_query (deep_link, error);
  if (query == NULL)
    return FALSE;
  ok = split_query (query, values, error) && check_values (self, values, error);
  wipe_free (query);
  if (ok)
    {
      token = g_strconcat (self->nonce, values[KEY_FRAGMENT], NULL);
      ok = fz_token_validate (token, strlen (token), "the sign-in link", &local);
      if (!ok)
        {
          /* Its message names no part of the token. */
          g_set_error_literal (error, FZ_SIGN_IN_ERROR, FZ_SIGN_IN_ERROR_MALFORMED,
                               local->message);
          g_error_free (local);
          wipe_free (g_steal_pointer (&token));
        }
    }
  if (ok)
    {
      out->token = g_steal_pointer (&token);
      out->actor_name = g_steal_pointer (&values[KEY_ACTOR_NAME]);
      out->account_slug = g_steal_pointer (&values[KEY_ACCOUNT_SLUG]);
    }
  for (int k = 0; k < N_KEYS; k++)
    wipe_free (values[k]);
  return ok;
}
