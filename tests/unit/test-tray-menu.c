/* The tray's menu for each state of desktop.md's table, compared as
 * text (fz_tray_menu_dump) with what a user must see. */
#include "fz-tray-menu.h"

static GVariant *
resource (const char *id, const char *name, const char *type, const char *address,
          const char *description, const char *site, const char *status)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "id", g_variant_new_string (id));
  g_variant_builder_add (&b, "{sv}", "name", g_variant_new_string (name));
  g_variant_builder_add (&b, "{sv}", "type", g_variant_new_string (type));
  if (address)
    g_variant_builder_add (&b, "{sv}", "address", g_variant_new_string (address));
  if (description)
    g_variant_builder_add (&b, "{sv}", "address_description",
                           g_variant_new_string (description));
  if (site)
    g_variant_builder_add (&b, "{sv}", "site_name", g_variant_new_string (site));
  if (status)
    g_variant_builder_add (&b, "{sv}", "site_status", g_variant_new_string (status));
  return g_variant_builder_end (&b);
}

static GVariant *
sample_resources (void)
{
  GVariant *list[] = {
    resource ("r-web", "web_app", "dns", "*.corp.test", "https://wiki.corp.test/",
              "Site A", "online"),
    resource ("r-db", "Database", "cidr", "172.16.1.0/24", "port 5432", "Site B",
              "offline"),
    resource ("r-inet", "Internet", "internet", NULL, NULL, "Exit", "unknown"),
    resource ("r-bare", "bare", "cidr", "10.9.0.1/32", NULL, NULL, NULL),
  };
  return g_variant_ref_sink (
    g_variant_new_array (G_VARIANT_TYPE_VARDICT, list, G_N_ELEMENTS (list)));
}

static char *
dump (const FzTrayView *view)
{
  g_autoptr (GMenuModel) m = fz_tray_menu_build (view);
  return fz_tray_menu_dump (m);
}

static const char bottom[] = "--\n"
                             "About [app.about]\n"
                             "Admin Portal… [app.admin-portal]\n"
                             "Help\n"
                             "  Documentation… [app.documentation]\n"
                             "  Support… [app.support]\n"
                             "Settings [app.settings]\n";

static void
check_top (FzTrayPhase phase, const char *top, const char *quit)
{
  FzTrayView view = { .phase = phase };
  g_autofree char *got = dump (&view);
  g_autofree char *want = g_strconcat (top, bottom, quit, NULL);

  g_assert_cmpstr (got, ==, want);
}

static void
test_phases (void)
{
  check_top (FZ_TRAY_LOADING, "--\nLoading…\n", "Quit [app.quit]\n");
  check_top (FZ_TRAY_SIGNED_OUT, "--\nSign In [app.sign-in]\n", "Quit [app.quit]\n");
  check_top (FZ_TRAY_WAITING_FOR_BROWSER,
             "--\nWaiting for browser…\nCancel sign-in [app.cancel-sign-in]\n",
             "Quit [app.quit]\n");
  check_top (FZ_TRAY_CONNECTING,
             "--\nConnecting to portal…\nCancel sign-in [app.cancel-sign-in]\n",
             "Quit [app.quit]\n");
  check_top (FZ_TRAY_SIGNED_IN,
             "--\nSigned in\nSign out [app.sign-out]\n--\nResources\nNo resources\n",
             "Disconnect and quit [app.quit]\n");
  g_assert_cmpstr (fz_tray_icon_name (FZ_TRAY_SIGNED_OUT), ==,
                   "dev.libfz.Client-signed-out");
  g_assert_cmpstr (fz_tray_icon_name (FZ_TRAY_SIGNED_IN), ==,
                   "dev.libfz.Client-signed-in");
  g_assert_cmpstr (fz_tray_icon_name (FZ_TRAY_CONNECTING), ==, "dev.libfz.Client-busy");
  g_assert_cmpstr (fz_tray_icon_name (FZ_TRAY_LOADING), ==, "dev.libfz.Client-busy");
  g_assert_cmpstr (fz_tray_icon_name (FZ_TRAY_WAITING_FOR_BROWSER), ==,
                   "dev.libfz.Client-busy");
}

static const char internet_off[] = "Internet — disabled\n"
                                   "  --\n"
                                   "  All network traffic\n"
                                   "  Disabled\n"
                                   "  Enable this resource [app.internet(true)]\n"
                                   "  --\n"
                                   "  Site\n"
                                   "  Exit [app.copy('Exit')]\n"
                                   "  No activity\n";

static const char db[] = "Database\n"
                         "  --\n"
                         "  port 5432 [app.copy('port 5432')]\n"
                         "  --\n"
                         "  Resource\n"
                         "  Database [app.copy('Database')]\n"
                         "  172.16.1.0/24 [app.copy('172.16.1.0/24')]\n"
                         "  --\n"
                         "  Add to favorites [app.favorite('r-db')]\n"
                         "  --\n"
                         "  Site\n"
                         "  Site B [app.copy('Site B')]\n"
                         "  All Gateways offline\n";

static const char bare[] = "bare\n"
                           "  --\n"
                           "  Resource\n"
                           "  bare [app.copy('bare')]\n"
                           "  10.9.0.1/32 [app.copy('10.9.0.1/32')]\n"
                           "  --\n"
                           "  Add to favorites [app.favorite('r-bare')]\n";

static const char web[]
  = "web_app\n"
    "  --\n"
    "  https://wiki.corp.test/ [app.open-url('https://wiki.corp.test/')]\n"
    "  --\n"
    "  Resource\n"
    "  web_app [app.copy('web_app')]\n"
    "  *.corp.test [app.copy('*.corp.test')]\n"
    "  --\n"
    "  Add to favorites [app.favorite('r-web')]\n"
    "  --\n"
    "  Site\n"
    "  Site A [app.copy('Site A')]\n"
    "  Gateway connected\n";

static void
test_resources (void)
{
  g_autoptr (GVariant) list = sample_resources ();
  FzTrayView view
    = { .phase = FZ_TRAY_SIGNED_IN, .actor_name = "Ada L", .resources = list };
  g_autofree char *got = dump (&view);
  g_autofree char *want = g_strconcat (
    "--\nSigned in as Ada L\nSign out [app.sign-out]\n--\nResources\n", internet_off,
    bare, db, web, bottom, "Disconnect and quit [app.quit]\n", NULL);

  g_assert_cmpstr (got, ==, want);
}

static void
test_favorites (void)
{
  g_autoptr (GVariant) list = sample_resources ();
  const char *favorites[] = { "r-db", "r-gone", NULL };
  FzTrayView view = { .phase = FZ_TRAY_SIGNED_IN,
                      .resources = list,
                      .favorites = favorites,
                      .internet_enabled = TRUE };
  g_autofree char *got = dump (&view);

  /* Favourites (and the Internet resource) on top, the rest below. */
  g_assert_true (strstr (got, "--\nFavorite Resources\nInternet — enabled\n") != NULL);
  g_assert_true (strstr (got, "  Disable this resource [app.internet(false)]\n") != NULL);
  g_assert_true (strstr (got, "\nDatabase\n") != NULL);
  g_assert_true (strstr (got, "  Remove from favorites [app.unfavorite('r-db')]\n")
                 != NULL);
  g_assert_true (strstr (got, "\nOther Resources\n  bare\n") != NULL);
  g_assert_true (strstr (got, "\n  web_app\n") != NULL);
  g_assert_true (strstr (got, "\nResources\n") == NULL);

  /* A favourite the portal no longer lists is no reason for the header. */
  const char *stale[] = { "r-gone", NULL };
  view.favorites = stale;
  g_free (got);
  got = dump (&view);
  g_assert_true (strstr (got, "--\nResources\n") != NULL);
  g_assert_true (strstr (got, "Other Resources") == NULL);
}

static void
test_untrusted (void)
{
  g_autofree char *long_name = g_strnfill (200, 'x');
  GVariant *items[] = {
    resource ("r-long", long_name, "cidr", "10.0.0.1/32", "javascript:alert(1)", NULL,
              NULL),
    resource ("r-ctl", "two\nlines\t", "cidr", "10.0.0.2/32", NULL, NULL, NULL),
    g_variant_new_parsed ("@a{sv} {'name': <'no id'>}"),
    g_variant_new_parsed ("@a{sv} {'id': <'no-name'>}"),
    g_variant_new_parsed ("@a{sv} {'id': <1>, 'name': <'wrong type'>}"),
  };
  g_autoptr (GVariant) list = g_variant_ref_sink (
    g_variant_new_array (G_VARIANT_TYPE_VARDICT, items, G_N_ELEMENTS (items)));
  FzTrayView view = { .phase = FZ_TRAY_SIGNED_IN, .resources = list };
  g_autofree char *got = dump (&view);
  g_autofree char *cut = g_strnfill (FZ_TRAY_LABEL_MAX - 1, 'x');
  g_autofree char *shown = g_strconcat ("\n", cut, "…\n", NULL);
  g_autofree char *copied = g_strconcat ("[app.copy('", long_name, "')]", NULL);

  g_assert_true (strstr (got, shown) != NULL);  /* the label is cut */
  g_assert_true (strstr (got, copied) != NULL); /* the copy is whole */
  /* Only http(s) is opened; anything else is text to copy. */
  g_assert_true (strstr (got, "[app.copy('javascript:alert(1)')]") != NULL);
  g_assert_true (strstr (got, "open-url") == NULL);
  /* One line per label; the copy keeps the text as it is. */
  g_assert_true (strstr (got, "\ntwo lines \n") != NULL);
  g_assert_true (strstr (got, "[app.copy('two\\nlines\\t')]") != NULL);
  g_assert_true (strstr (got, "no id") == NULL);
  g_assert_true (strstr (got, "no-name") == NULL);
  g_assert_true (strstr (got, "wrong type") == NULL);

  /* Not a list of dictionaries: no resources. */
  g_autoptr (GVariant) wrong = g_variant_ref_sink (g_variant_new_string ("x"));
  view.resources = wrong;
  g_free (got);
  got = dump (&view);
  g_assert_true (strstr (got, "No resources") != NULL);

  g_assert_true (fz_tray_is_openable_url ("http://a.test/x"));
  g_assert_true (fz_tray_is_openable_url ("https://a.test"));
  g_assert_false (fz_tray_is_openable_url ("https://"));
  g_assert_false (fz_tray_is_openable_url ("file:///etc/passwd"));
  g_assert_false (fz_tray_is_openable_url ("wiki.corp.test"));
  g_assert_false (fz_tray_is_openable_url (NULL));
}

/* An Internet resource the portal says cannot be disabled: when on, no
 * item offers to switch it off. */
static void
test_forced_internet (void)
{
  g_autoptr (GVariant) list = g_variant_ref_sink (g_variant_new_parsed (
    "[@a{sv} {'id': <'i'>, 'name': <'Internet Resource'>, 'type': <'internet'>,"
    " 'can_be_disabled': <false>}]"));
  FzTrayView view
    = { .phase = FZ_TRAY_SIGNED_IN, .resources = list, .internet_enabled = TRUE };
  g_autofree char *got = dump (&view);

  g_assert_true (strstr (got, "Internet Resource — enabled\n") != NULL);
  g_assert_true (strstr (got, "  Enabled\n") != NULL);
  g_assert_true (strstr (got, "app.internet") == NULL);
  view.internet_enabled = FALSE;
  g_free (got);
  got = dump (&view);
  g_assert_true (strstr (got, "  Enable this resource [app.internet(true)]\n") != NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* The labels compared are the untranslated ones. */
  g_setenv ("LANGUAGE", "C", TRUE);
  g_test_add_func ("/tray-menu/phases", test_phases);
  g_test_add_func ("/tray-menu/resources", test_resources);
  g_test_add_func ("/tray-menu/favorites", test_favorites);
  g_test_add_func ("/tray-menu/untrusted", test_untrusted);
  g_test_add_func ("/tray-menu/forced-internet", test_forced_internet);
  return g_test_run ();
}
