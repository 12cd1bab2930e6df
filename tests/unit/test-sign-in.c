/* The tray's sign-in: the URL it opens and the deep links it takes or
 * refuses, one refusal per rule, and a link made the way fz-portal makes
 * it whose token fz-portal then accepts. */
#include "fz-sign-in.h"

#ifdef FZ_TEST_PORTAL
#include "fz-portal-credentials.h"

#include <libsoup/soup.h>
#endif

#include <string.h>

#define NONCE "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define STATE "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
#define LINK  FZ_SIGN_IN_SCHEME "://" FZ_SIGN_IN_HOST
#define FRAG  ".fzc1.YWRh.1900000000.bWFj"
#define GOOD  "account_slug=acme&actor_name=Ada+Lovelace&fragment=" FRAG "&state=" STATE

static void
counting (guint8 random[FZ_SIGN_IN_RANDOM_LEN])
{
  for (int i = 0; i < FZ_SIGN_IN_RANDOM_LEN; i++)
    random[i] = (guint8) i;
}

static FzSignIn *
sign_in (void)
{
  guint8 random[FZ_SIGN_IN_RANDOM_LEN];
  g_autoptr (GError) error = NULL;
  FzSignIn *s;

  counting (random);
  s = fz_sign_in_new ("https://auth.example/", "acme", random, &error);
  g_assert_no_error (error);
  g_assert_nonnull (s);
  return s;
}

static void
url_is (const char *auth_url, const char *slug, const char *want)
{
  guint8 random[FZ_SIGN_IN_RANDOM_LEN];
  g_autoptr (GError) error = NULL;
  g_autoptr (FzSignIn) s = NULL;

  counting (random);
  s = fz_sign_in_new (auth_url, slug, random, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (fz_sign_in_get_url (s), ==, want);
}

static void
settings_refused (const char *auth_url, const char *slug, const char *needle)
{
  guint8 random[FZ_SIGN_IN_RANDOM_LEN] = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (FzSignIn) s = fz_sign_in_new (auth_url, slug, random, &error);

  g_assert_null (s);
  g_assert_error (error, FZ_SIGN_IN_ERROR, FZ_SIGN_IN_ERROR_INVALID_SETTINGS);
  if (strstr (error->message, needle) == NULL)
    g_error ("%s %s: '%s' lacks '%s'", auth_url, slug, error->message, needle);
}

/* Letters, digits, '-' and '_', 1 to 128: what fz-portal takes. */
static gboolean
portal_takes (const char *s, gsize len)
{
  if (len == 0 || len > 128)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (s[i]) && s[i] != '-' && s[i] != '_')
      return FALSE;
  return TRUE;
}

static void
test_url (void)
{
  g_autofree char *long_url = NULL;
  g_autofree char *long_slug = g_strnfill (FZ_SIGN_IN_SLUG_MAX + 1, 'a');
  g_autofree char *max_slug = g_strnfill (FZ_SIGN_IN_SLUG_MAX, 'a');
  g_autofree char *want = NULL;
  g_autoptr (GHashTable) params = NULL;
  g_autoptr (GUri) uri = NULL;
  const char *nonce, *state;

  url_is ("https://auth.example/", "acme",
          "https://auth.example/acme?as=gui-client&nonce=" NONCE "&state=" STATE);
  url_is ("https://auth.example", "acme",
          "https://auth.example/acme?as=gui-client&nonce=" NONCE "&state=" STATE);
  url_is ("http://127.0.0.1:8080/sign/", "a_b-C9",
          "http://127.0.0.1:8080/sign/a_b-C9?as=gui-client&nonce=" NONCE "&state=" STATE);
  url_is ("https://[::1]:8443", "x",
          "https://[::1]:8443/x?as=gui-client&nonce=" NONCE "&state=" STATE);
  /* No slug: the portal asks for the account. */
  url_is ("https://auth.example/", "",
          "https://auth.example/?as=gui-client&nonce=" NONCE "&state=" STATE);
  url_is ("https://auth.example", NULL,
          "https://auth.example/?as=gui-client&nonce=" NONCE "&state=" STATE);
  want = g_strconcat ("https://auth.example/", max_slug,
                      "?as=gui-client&nonce=" NONCE "&state=" STATE, NULL);
  url_is ("https://auth.example", max_slug, want);
  {
    /* An auth URL of 2048 bytes is taken, one of 2049 refused (below). */
    g_autofree char *path = g_strnfill (FZ_SIGN_IN_AUTH_URL_MAX - 21, 'p');
    g_autofree char *url = g_strconcat ("https://auth.example/", path, NULL);
    guint8 random[FZ_SIGN_IN_RANDOM_LEN] = { 0 };
    g_autoptr (FzSignIn) s = fz_sign_in_new (url, "acme", random, NULL);

    g_assert_cmpuint (strlen (url), ==, FZ_SIGN_IN_AUTH_URL_MAX);
    g_assert_nonnull (s);
    long_url = g_strconcat (url, "q", NULL);
  }

  /* The nonce and state are what fz-portal's sign-in page takes. */
  uri
    = g_uri_parse ("https://auth.example/acme?as=gui-client&nonce=" NONCE "&state=" STATE,
                   G_URI_FLAGS_NONE, NULL);
  params = g_uri_parse_params (g_uri_get_query (uri), -1, "&", G_URI_PARAMS_NONE, NULL);
  nonce = g_hash_table_lookup (params, "nonce");
  state = g_hash_table_lookup (params, "state");
  g_assert_cmpuint (strlen (nonce), ==, 64);
  g_assert_cmpuint (strlen (state), ==, 64);
  g_assert_true (portal_takes (nonce, strlen (nonce)));
  g_assert_true (portal_takes (state, strlen (state)));

  settings_refused ("ftp://auth.example/", "acme", "http or https");
  settings_refused ("https:///x", "acme", "with a host");
  settings_refused ("auth.example", "acme", "http or https");
  settings_refused ("", "acme", "http or https");
  settings_refused ("https://u:p@auth.example/", "acme", "user name");
  settings_refused ("https://auth.example/?a=b", "acme", "query");
  settings_refused ("https://auth.example/?", "acme", "query");
  settings_refused ("https://auth.example/#top", "acme", "fragment");
  settings_refused ("https://auth example/", "acme", "printable ASCII");
  settings_refused ("https://auth.example/\n", "acme", "printable ASCII");
  settings_refused ("https://b\xc3\xa4r.example/", "acme", "printable ASCII");
  settings_refused (long_url, "acme", "longer than 2048");
  settings_refused ("https://auth.example/", "a/b", "letters, digits");
  settings_refused ("https://auth.example/", "a b", "letters, digits");
  settings_refused ("https://auth.example/", "..", "letters, digits");
  settings_refused ("https://auth.example/", "a%2F", "letters, digits");
  settings_refused ("https://auth.example/", "\xc3\xa9", "letters, digits");
  settings_refused ("https://auth.example/", long_slug, "1 to 100");
}

static void
test_is_deep_link (void)
{
  g_assert_true (fz_sign_in_is_deep_link (LINK "?" GOOD));
  g_assert_true (fz_sign_in_is_deep_link (FZ_SIGN_IN_SCHEME ":anything"));
  g_assert_false (fz_sign_in_is_deep_link ("https://auth.example/"));
  g_assert_false (fz_sign_in_is_deep_link ("FIREZONE-FD0020211111://x"));
  g_assert_false (fz_sign_in_is_deep_link ("firezone-fd00202111://x"));
  g_assert_false (fz_sign_in_is_deep_link ("firezone-fd0020211111x://x"));
  g_assert_false (fz_sign_in_is_deep_link (""));
  g_assert_false (fz_sign_in_is_deep_link (NULL));
}

static void
accepted (const FzSignIn *s, const char *link, const char *token, const char *actor,
          const char *slug)
{
  g_autoptr (GError) error = NULL;
  g_auto (FzSignInResult) r = { NULL };

  if (!fz_sign_in_complete (s, link, &r, &error))
    g_error ("%s: refused: %s", link, error->message);
  g_assert_no_error (error);
  g_assert_cmpstr (r.token, ==, token);
  g_assert_cmpstr (r.actor_name, ==, actor);
  g_assert_cmpstr (r.account_slug, ==, slug);
}

static void
test_accept (void)
{
  g_autoptr (FzSignIn) s = sign_in ();
  g_autofree char *name = g_strnfill (FZ_SIGN_IN_ACTOR_NAME_MAX, 'n');
  g_autofree char *frag = g_strnfill (4096 - 64, 'f');
  g_autofree char *link = NULL;
  FzSignInResult r = { NULL };

  accepted (s, LINK "?" GOOD, NONCE FRAG, "Ada Lovelace", "acme");
  accepted (s, LINK "/?" GOOD, NONCE FRAG, "Ada Lovelace", "acme");
  accepted (s, LINK "?" GOOD "&", NONCE FRAG, "Ada Lovelace", "acme");
  /* Any order, percent-encoding, other keys the portal adds. */
  accepted (s,
            LINK "?state=" STATE "&identity_provider_identifier=x%26y&fragment=a%2Bb%3D"
                 "&account_name=Acme+Inc&actor_name=Ada%20L%C3%B6velace%20%E2%9C%93"
                 "&account_slug=other_Slug-2&unknown=",
            NONCE "a+b=", "Ada L\xc3\xb6velace \xe2\x9c\x93", "other_Slug-2");
  accepted (s, LINK "?account_slug=a&actor_name=&fragment=x&state=" STATE, NONCE "x", "",
            "a");
  /* The bounds themselves. */
  link = g_strdup_printf (LINK "?account_slug=a&actor_name=%s&fragment=%s&state=" STATE,
                          name, frag);
  {
    g_autofree char *token = g_strconcat (NONCE, frag, NULL);

    accepted (s, link, token, name, "a");
  }

  /* The result is cleared before it is filled, and clearing twice is
   * fine. */
  g_assert_true (fz_sign_in_complete (s, LINK "?" GOOD, &r, NULL));
  fz_sign_in_result_clear (&r);
  g_assert_null (r.token);
  g_assert_null (r.actor_name);
  g_assert_null (r.account_slug);
  fz_sign_in_result_clear (&r);
}

static void
refused (const FzSignIn *s, const char *link, FzSignInError code, const char *needle)
{
  g_autoptr (GError) error = NULL;
  FzSignInResult r = { (char *) "stale", NULL, NULL };

  if (fz_sign_in_complete (s, link, &r, &error))
    g_error ("%.200s: taken", link);
  g_assert_null (r.token);
  g_assert_null (r.actor_name);
  g_assert_null (r.account_slug);
  if (!g_error_matches (error, FZ_SIGN_IN_ERROR, code))
    g_error ("%.200s: %s, not code %d", link, error->message, code);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  if (strstr (error->message, needle) == NULL)
    g_error ("%.200s: '%s' lacks '%s'", link, error->message, needle);
  /* No secret in the message. */
  g_assert_null (strstr (error->message, NONCE));
  g_assert_null (strstr (error->message, STATE));
  g_assert_null (strstr (error->message, FRAG));
  g_assert_null (strstr (error->message, "0001020304"));
}

/* GOOD with the value of @key replaced by @value. */
static char *
with (const char *key, const char *value)
{
  const char *keys[] = { "account_slug", "actor_name", "fragment", "state" };
  const char *values[] = { "acme", "Ada+Lovelace", FRAG, STATE };
  GString *q = g_string_new (LINK "?");

  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    g_string_append_printf (q, "%s%s=%s", i > 0 ? "&" : "", keys[i],
                            strcmp (keys[i], key) == 0 ? value : values[i]);
  return g_string_free (q, FALSE);
}

static void
refused_with (const FzSignIn *s, const char *key, const char *value, FzSignInError code,
              const char *needle)
{
  g_autofree char *link = with (key, value);

  refused (s, link, code, needle);
}

static void
test_refuse (void)
{
  const FzSignInError M = FZ_SIGN_IN_ERROR_MALFORMED;
  const FzSignInError X = FZ_SIGN_IN_ERROR_STATE_MISMATCH;
  g_autoptr (FzSignIn) s = sign_in ();
  g_autofree char *name = g_strnfill (FZ_SIGN_IN_ACTOR_NAME_MAX + 1, 'n');
  g_autofree char *frag = g_strnfill (FZ_SIGN_IN_FRAGMENT_MAX + 1, 'f');
  g_autofree char *frag_max = g_strnfill (FZ_SIGN_IN_FRAGMENT_MAX, 'f');
  g_autofree char *slug = g_strnfill (FZ_SIGN_IN_SLUG_MAX + 1, 'a');
  g_autofree char *state = g_ascii_strup (STATE, -1);
  g_autofree char *padding = g_strnfill (FZ_SIGN_IN_LINK_MAX, 'p');
  g_autofree char *huge = g_strconcat (LINK "?" GOOD "&padding=", padding, NULL);
  g_autofree char *flipped = g_strdup (STATE);

  flipped[63] = 'e';

  /* Not ours at all. */
  refused (s, NULL, FZ_SIGN_IN_ERROR_NOT_OURS, "not a");
  refused (s, "", FZ_SIGN_IN_ERROR_NOT_OURS, "not a");
  refused (s, "https://auth.example/?" GOOD, FZ_SIGN_IN_ERROR_NOT_OURS, "not a");
  refused (s, "FIREZONE-FD0020211111://" FZ_SIGN_IN_HOST "?" GOOD,
           FZ_SIGN_IN_ERROR_NOT_OURS, "not a");
  refused (s, " " LINK "?" GOOD, FZ_SIGN_IN_ERROR_NOT_OURS, "not a");

  /* Around the query. */
  refused (s, FZ_SIGN_IN_SCHEME "://evil.example?" GOOD, M, "must start with");
  refused (s, FZ_SIGN_IN_SCHEME "://HANDLE_CLIENT_SIGN_IN_CALLBACK?" GOOD, M,
           "must start with");
  refused (s, FZ_SIGN_IN_SCHEME "://handle%5Fclient_sign_in_callback?" GOOD, M,
           "must start with");
  refused (s, FZ_SIGN_IN_SCHEME "://" FZ_SIGN_IN_HOST "x?" GOOD, M, "must start with");
  refused (s, FZ_SIGN_IN_SCHEME ":" FZ_SIGN_IN_HOST "?" GOOD, M, "must start with");
  refused (s, FZ_SIGN_IN_SCHEME "://u@" FZ_SIGN_IN_HOST "?" GOOD, M, "must start with");
  refused (s, FZ_SIGN_IN_SCHEME "://" FZ_SIGN_IN_HOST "@evil?" GOOD, M,
           "must start with");
  refused (s, LINK ":443?" GOOD, M, "must start with");
  refused (s, LINK ":?" GOOD, M, "must start with");
  refused (s, LINK "/x?" GOOD, M, "no path");
  refused (s, LINK "//?" GOOD, M, "no path");
  refused (s, LINK "?" GOOD "#x", M, "#fragment");
  refused (s, LINK, M, "must have a query");
  refused (s, LINK "/", M, "must have a query");
  refused (s, LINK "?" GOOD " ", M, "printable ASCII");
  refused (s, LINK "?" GOOD "&x=\xc3\xa9", M, "printable ASCII");
  refused (s, LINK "?" GOOD "&x=\t", M, "printable ASCII");
  refused (s, huge, M, "longer than 8192");

  /* Each key once, the four present, pairs well-formed. */
  refused (s, LINK "?" GOOD "&state=" STATE, M, "gives state twice");
  refused (s, LINK "?" GOOD "&actor_name=Eve", M, "gives actor_name twice");
  refused (s, LINK "?fragment=x&" GOOD, M, "gives fragment twice");
  refused (s, LINK "?account_slug=acme&" GOOD, M, "gives account_slug twice");
  refused (s, LINK "?" GOOD "&account_name=A&account_name=A", M, "other keys twice");
  refused (s, LINK "?" GOOD "&=x", M, "without a key");
  refused (s, LINK "?" GOOD "&&x=y", M, "key=value pairs");
  refused (s, LINK "?" GOOD "&flag", M, "key=value pairs");
  refused (s, LINK "?" GOOD "&x=%zz", M, "not a valid URI");
  refused (s, LINK "?", M, "lacks account_slug");
  refused (s, LINK "?actor_name=A&fragment=x&state=" STATE, M, "lacks account_slug");
  refused (s, LINK "?account_slug=a&fragment=x&state=" STATE, M, "lacks actor_name");
  refused (s, LINK "?account_slug=a&actor_name=A&state=" STATE, M, "lacks fragment");
  refused (s, LINK "?account_slug=a&actor_name=A&fragment=x", M, "lacks state");
  refused (s, LINK "?account_slug=a&actor_name=A&fragment=x&State=" STATE, M,
           "lacks state");

  /* The state: ours, or the link answers another sign-in. */
  refused_with (s, "state", flipped, X, "not ours");
  refused_with (s, "state", state, X, "not ours");
  refused_with (s, "state", "", X, "not ours");
  refused_with (s, "state", STATE "0", X, "not ours");
  refused_with (s, "state",
                "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3", X,
                "not ours");
  refused_with (s, "state", NONCE, X, "not ours");
  /* Whatever else is wrong. */
  refused (s, LINK "?account_slug=a/b&actor_name=%0A&fragment=+&state=" NONCE, X,
           "not ours");

  /* account_slug */
  refused_with (s, "account_slug", "", M, "account_slug must be");
  refused_with (s, "account_slug", slug, M, "account_slug must be");
  refused_with (s, "account_slug", "a%2Fb", M, "account_slug must be");
  refused_with (s, "account_slug", "a+b", M, "account_slug must be");
  refused_with (s, "account_slug", "%C3%A9", M, "account_slug must be");

  /* actor_name: bounded UTF-8 without control characters. */
  refused_with (s, "actor_name", name, M, "actor_name must be");
  refused_with (s, "actor_name", "Ada%0ALovelace", M, "actor_name must be");
  refused_with (s, "actor_name", "Ada%09", M, "actor_name must be");
  refused_with (s, "actor_name", "Ada%1B%5B31m", M, "actor_name must be");
  refused_with (s, "actor_name", "Ada%7F", M, "actor_name must be");
  refused_with (s, "actor_name", "Ada%C2%85", M, "actor_name must be");
  refused_with (s, "actor_name", "Ada%C3%28", M, "UTF-8");
  refused_with (s, "actor_name", "Ada%FF", M, "UTF-8");
  refused_with (s, "actor_name", "Ada%ED%A0%80", M, "UTF-8");
  refused_with (s, "actor_name", "Ada%00Eve", M, "UTF-8");
  refused_with (s, "actor_name", "Ada%", M, "not a valid URI");

  /* fragment: 1 to 4096 printable ASCII, and with the nonce a token. */
  refused_with (s, "fragment", "", M, "fragment must be");
  refused_with (s, "fragment", "a+b", M, "fragment must be");
  refused_with (s, "fragment", "a%20b", M, "fragment must be");
  refused_with (s, "fragment", "a%7F", M, "fragment must be");
  refused_with (s, "fragment", "a%0A", M, "fragment must be");
  refused_with (s, "fragment", "%C3%A9", M, "fragment must be");
  refused_with (s, "fragment", frag, M, "fragment must be");
  refused_with (s, "fragment", frag_max, M, "longer than 4096 bytes");
}

/* Another sign-in's link is never ours, and neither is a freed one's:
 * each sign-in has its own state. */
static void
test_two_sign_ins (void)
{
  guint8 random[FZ_SIGN_IN_RANDOM_LEN];
  g_autoptr (FzSignIn) a = sign_in ();
  g_autoptr (FzSignIn) b = NULL;

  counting (random);
  random[40] ^= 1;
  b = fz_sign_in_new ("https://auth.example/", "acme", random, NULL);
  g_assert_nonnull (b);
  g_assert_cmpstr (fz_sign_in_get_url (a), !=, fz_sign_in_get_url (b));
  refused (b, LINK "?" GOOD, FZ_SIGN_IN_ERROR_STATE_MISMATCH, "not ours");
  accepted (a, LINK "?" GOOD, NONCE FRAG, "Ada Lovelace", "acme");
}

#ifdef FZ_TEST_PORTAL
/* The link as fz-portal writes it (fz-portal-signin.c): its token is
 * one fz-portal then verifies. */
static void
test_portal_round_trip (void)
{
  guint8 random[FZ_SIGN_IN_RANDOM_LEN];
  guint8 secret[FZ_PORTAL_SECRET_LEN];
  g_autoptr (FzSignIn) s = NULL;
  g_autoptr (GUri) uri = NULL;
  g_autoptr (GHashTable) q = NULL;
  g_autofree char *fragment = NULL;
  g_autofree char *query = NULL;
  g_autofree char *link = NULL;
  g_autofree char *user = NULL;
  g_auto (FzSignInResult) r = { NULL };
  g_autoptr (GError) error = NULL;
  const char *nonce, *state, *why;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC, exp;

  for (guint i = 0; i < sizeof random; i++)
    random[i] = (guint8) (0xa5 ^ (i * 7));
  memset (secret, 0x42, sizeof secret);
  s = fz_sign_in_new ("http://127.0.0.1:8080", "acme", random, &error);
  g_assert_no_error (error);

  /* The portal's side: the query of the page the browser opens. */
  uri = g_uri_parse (fz_sign_in_get_url (s), G_URI_FLAGS_NONE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_uri_get_path (uri), ==, "/acme");
  q = soup_form_decode (g_uri_get_query (uri));
  g_assert_cmpstr (g_hash_table_lookup (q, "as"), ==, "gui-client");
  nonce = g_hash_table_lookup (q, "nonce");
  state = g_hash_table_lookup (q, "state");
  g_assert_true (fz_portal_valid_nonce (nonce));
  g_assert_true (fz_portal_valid_nonce (state));
  fragment = fz_portal_client_fragment (secret, nonce, "ada", now + 3600);
  query = soup_form_encode ("account_slug", "acme", "actor_name", "Ada Lövelace & co",
                            "fragment", fragment, "state", state, NULL);
  link = g_strdup_printf ("firezone-fd0020211111://handle_client_sign_in_callback?%s",
                          query);

  /* The tray's side. */
  g_assert_true (fz_sign_in_complete (s, link, &r, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (r.actor_name, ==, "Ada Lövelace & co");
  g_assert_cmpstr (r.account_slug, ==, "acme");
  user = fz_portal_client_token_verify (secret, r.token, now, &exp, &why);
  g_assert_cmpstr (user, ==, "ada");
  g_assert_cmpint (exp, ==, now + 3600);
}
#endif

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sign-in/url", test_url);
  g_test_add_func ("/sign-in/is-deep-link", test_is_deep_link);
  g_test_add_func ("/sign-in/accept", test_accept);
  g_test_add_func ("/sign-in/refuse", test_refuse);
  g_test_add_func ("/sign-in/two-sign-ins", test_two_sign_ins);
#ifdef FZ_TEST_PORTAL
  g_test_add_func ("/sign-in/portal-round-trip", test_portal_round_trip);
#endif
  return g_test_run ();
}
