/* The checks the settings window applies to its text entries. */
#include "fz-settings-validate.h"

#include <gio/gio.h>
#include <string.h>

typedef struct
{
  const char *key, *value;
  gboolean ok;
} Case;

static const Case cases[] = {
  { "account-slug", "", TRUE },
  { "account-slug", "acme", TRUE },
  { "account-slug", "Acme_Corp-2", TRUE },
  { "account-slug", "a/b", FALSE },
  { "account-slug", "a b", FALSE },
  { "account-slug", "ünï", FALSE },
  { "account-slug", "acme\n", FALSE },
  { "auth-url", "https://app.firezone.dev", TRUE },
  { "auth-url", "http://127.0.0.1:8080/", TRUE },
  { "auth-url", "https://[::1]:8443/x", TRUE },
  { "auth-url", "wss://app.firezone.dev", FALSE },
  { "auth-url", "ftp://x", FALSE },
  { "auth-url", "https://", FALSE },
  { "auth-url", "https:///path", FALSE },
  { "auth-url", "app.firezone.dev", FALSE },
  { "auth-url", "https://u:p@x/", FALSE },
  { "auth-url", "https://x y/", FALSE },
  { "auth-url", "https://x/\ty", FALSE },
  { "auth-url", " https://x/", FALSE },
  { "auth-url", "", FALSE },
  { "api-url", "wss://api.firezone.dev", TRUE },
  { "api-url", "ws://127.0.0.1:4000/", TRUE },
  { "api-url", "https://api.example", TRUE },
  { "api-url", "http://api.example", TRUE },
  { "api-url", "ftp://api.example", FALSE },
  { "api-url", "wss://", FALSE },
  { "api-url", "wss://user@api.example", FALSE },
  { "api-url", "not a url", FALSE },
  { "api-url", "", FALSE },
};

static void
test_cases (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      gboolean ok = fz_settings_validate (cases[i].key, cases[i].value, &error);

      if (ok != cases[i].ok)
        g_error ("%s '%s': expected %s", cases[i].key, cases[i].value,
                 cases[i].ok ? "valid" : "invalid");
      if (ok)
        g_assert_no_error (error);
      else
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
    }
}

static void
test_lengths (void)
{
  g_autofree char *slug100 = g_strnfill (100, 'a');
  g_autofree char *slug101 = g_strnfill (101, 'a');
  g_autofree char *pad = g_strnfill (2048 - strlen ("https://x/"), 'p');
  g_autofree char *url2048 = g_strconcat ("https://x/", pad, NULL);
  g_autofree char *url2049 = g_strconcat (url2048, "p", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_true (fz_settings_validate_account_slug (slug100, NULL));
  g_assert_false (fz_settings_validate_account_slug (slug101, &error));
  g_assert_nonnull (strstr (error->message, "100"));
  g_clear_error (&error);
  g_assert_cmpuint (strlen (url2048), ==, 2048);
  g_assert_true (fz_settings_validate_auth_url (url2048, NULL));
  g_assert_true (fz_settings_validate_api_url (url2048, NULL));
  g_assert_false (fz_settings_validate_auth_url (url2049, &error));
  g_assert_nonnull (strstr (error->message, "2048"));
  g_clear_error (&error);
  g_assert_false (fz_settings_validate_api_url (url2049, &error));
  g_assert_nonnull (strstr (error->message, "2048"));
}

static void
test_unknown_key (void)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (fz_settings_validate ("log-filter", "info", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/settings-validate/cases", test_cases);
  g_test_add_func ("/settings-validate/lengths", test_lengths);
  g_test_add_func ("/settings-validate/unknown-key", test_unknown_key);
  return g_test_run ();
}
