/* Connect's a{sv} options: what is taken and what is refused, by
 * example and by a seeded random property test against a reference. */
#include "fz-connect-options.h"

#include <string.h>

static GVariant *
vardict (const char *text)
{
  g_autoptr (GError) error = NULL;
  GVariant *v = g_variant_parse (G_VARIANT_TYPE_VARDICT, text, NULL, NULL, &error);

  g_assert_no_error (error);
  return g_variant_ref_sink (v);
}

static void
refused (const char *text, const char *needle)
{
  g_autoptr (GVariant) v = vardict (text);
  g_autoptr (GError) error = NULL;
  FzConnectOptions o;

  g_assert_false (fz_connect_options_parse (v, &o, &error));
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  if (strstr (error->message, needle) == NULL)
    g_error ("%s: '%s' lacks '%s'", text, error->message, needle);
}

static void
test_examples (void)
{
  g_autoptr (GVariant) v
    = vardict ("{'api_url': <'wss://portal.example:8443/'>, "
               "'internet_resource': <true>, 'account_slug': <'acme_1'>}");
  g_autoptr (GVariant) empty = vardict ("@a{sv} {}");
  g_autoptr (GError) error = NULL;
  FzConnectOptions o;

  g_assert_true (fz_connect_options_parse (v, &o, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (o.api_url, ==, "wss://portal.example:8443/");
  g_assert_cmpstr (o.account_slug, ==, "acme_1");
  g_assert_true (o.has_internet_resource && o.internet_resource);
  g_assert_true (fz_connect_options_parse (empty, &o, &error));
  g_assert_null (o.api_url);
  g_assert_null (o.account_slug);
  g_assert_false (o.has_internet_resource);

  refused ("{'api_url': <true>}", "'api_url' must be of type 's', not 'b'");
  refused ("{'colour': <'red'>}", "Unknown option 'colour'");
  refused ("{'internet_resource': <'yes'>}", "internet_resource");
  refused ("{'api_url': <'ftp://x/'>}", "ws, wss, http or https");
  refused ("{'api_url': <'wss://'>}", "with a host");
  refused ("{'api_url': <'not a url'>}", "api_url");
  refused ("{'api_url': <'wss://u:p@x/'>}", "user name");
  refused ("{'account_slug': <''>}", "1 to 100");
  refused ("{'account_slug': <'a/b'>}", "letters, digits");
}

static void
test_duplicates_and_bounds (void)
{
  g_autoptr (GVariantBuilder) b = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
  g_autoptr (GVariant) twice = NULL, long_url = NULL, long_slug = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *url = NULL, *slug = NULL;
  FzConnectOptions o;

  /* a{sv} on the wire may repeat a key: the second is refused, not
   * silently preferred. */
  g_variant_builder_add (b, "{sv}", "internet_resource", g_variant_new_boolean (FALSE));
  g_variant_builder_add (b, "{sv}", "internet_resource", g_variant_new_boolean (TRUE));
  twice = g_variant_ref_sink (g_variant_builder_end (b));
  g_assert_false (fz_connect_options_parse (twice, &o, &error));
  g_assert_nonnull (strstr (error->message, "given twice"));
  g_clear_error (&error);

  url = g_strdup_printf ("wss://h/%0*d", FZ_CONNECT_API_URL_MAX, 0);
  long_url = g_variant_ref_sink (g_variant_new_parsed ("{'api_url': <%s>}", url));
  g_assert_false (fz_connect_options_parse (long_url, &o, &error));
  g_assert_nonnull (strstr (error->message, "longer than"));
  g_clear_error (&error);

  slug = g_strnfill (FZ_CONNECT_SLUG_MAX + 1, 'a');
  long_slug = g_variant_ref_sink (g_variant_new_parsed ("{'account_slug': <%s>}", slug));
  g_assert_false (fz_connect_options_parse (long_slug, &o, &error));
  slug[FZ_CONNECT_SLUG_MAX] = '\0';
  g_clear_pointer (&long_slug, g_variant_unref);
  long_slug = g_variant_ref_sink (g_variant_new_parsed ("{'account_slug': <%s>}", slug));
  g_clear_error (&error);
  g_assert_true (fz_connect_options_parse (long_slug, &o, &error));
  g_assert_cmpstr (o.account_slug, ==, slug);
}

/* Random dictionaries of known and unknown keys with values of random
 * types, each also judged by a plain reference: parse succeeds exactly
 * when the reference says, and then returns what was put in. */
static const char *const keys[]
  = { "api_url", "account_slug", "internet_resource", "x", "" };
static const char *const strings[] = {
  "wss://a.example/", "http://10.0.0.1:8080", "acme", "bad slug", "ftp://a/", "", "é"
};

static GVariant *
random_value (GRand *r, gboolean *valid_for, gsize key)
{
  switch (g_rand_int_range (r, 0, 3))
    {
    case 0: *valid_for = key == 2; return g_variant_new_boolean (g_rand_boolean (r));
    case 1:
      {
        int i = g_rand_int_range (r, 0, G_N_ELEMENTS (strings));
        *valid_for = (key == 0 && i <= 1) || (key == 1 && i == 2);
        return g_variant_new_string (strings[i]);
      }
    default: *valid_for = FALSE; return g_variant_new_uint32 (g_rand_int (r));
    }
}

static void
test_random (void)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (20261202);

  for (int round = 0; round < 20000; round++)
    {
      g_autoptr (GVariantBuilder) b = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
      g_autoptr (GVariant) dict = NULL;
      g_autoptr (GError) error = NULL;
      gboolean seen[G_N_ELEMENTS (keys)] = { FALSE };
      gboolean expect = TRUE;
      int n = g_rand_int_range (r, 0, 4);
      FzConnectOptions o;

      for (int i = 0; i < n; i++)
        {
          gsize k = g_rand_int_range (r, 0, G_N_ELEMENTS (keys));
          gboolean valid;
          GVariant *v = random_value (r, &valid, k);

          /* The first failure decides; later items are never looked at. */
          if (expect && (k >= 3 || seen[k] || !valid))
            expect = FALSE;
          seen[k] = TRUE;
          g_variant_builder_add (b, "{sv}", keys[k], v);
        }
      dict = g_variant_ref_sink (g_variant_builder_end (b));
      g_assert_cmpint (fz_connect_options_parse (dict, &o, &error), ==, expect);
      if (!expect)
        {
          g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
          continue;
        }
      g_assert_cmpint (o.api_url != NULL, ==, seen[0]);
      g_assert_cmpint (o.account_slug != NULL, ==, seen[1]);
      g_assert_cmpint (o.has_internet_resource, ==, seen[2]);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/connect-options/examples", test_examples);
  g_test_add_func ("/connect-options/duplicates-and-bounds", test_duplicates_and_bounds);
  g_test_add_func ("/connect-options/random", test_random);
  return g_test_run ();
}
