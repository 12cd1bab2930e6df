/* The portal URL, the user agent and the reconnect policy. */
#include "fz-private.h"

#include <string.h>

static guint8 key[32];

static char *
url (const char *api, gboolean gateway, const char *id, const char *name,
     const char *serial, GError **error)
{
  FzPortalUrlParams p
    = { .external_id = id, .name = name, .device_serial = serial, .public_key = key };
  return fz_portal_url (api, gateway, &p, error);
}

static void
test_url (void)
{
  for (int i = 0; i < 32; i++)
    key[i] = (guint8) i;
  /* Python's urlencode and hashlib give the expected encodings. */
  g_autofree char *a = url ("https://api.example.com/some/path?old=1", FALSE, "device-7",
                            "my laptop \xc3\xbc", "SN 1", NULL);
  g_assert_cmpstr (
    a, ==,
    "wss://api.example.com/client/v2/websocket?external_id=device-7&name=my+"
    "laptop+%C3%BC&device_serial=SN+1&public_key="
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8%3D");
  /* A UUID id goes as the lowercase hex SHA-256 of the string. */
  g_autofree char *b
    = url ("ws://127.0.0.1:8080", TRUE, "2F8B2E62-1C0A-4B7D-9C3B-1E2D3F4A5B6C", "gw",
           "ignored for gateways", NULL);
  g_assert_cmpstr (
    b, ==,
    "ws://127.0.0.1:8080/gateway/v2/websocket?external_id="
    "4513611cea51366e44e1cb1dbc4381817d7764803c585efd90580991daefe095&name=gw&"
    "public_key=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8%3D");
  g_autofree char *c = url ("http://[::1]:4000/", FALSE, "x", "n", NULL, NULL);
  g_assert_true (
    g_str_has_prefix (c, "ws://[::1]:4000/client/v2/websocket?external_id=x&name=n&"));
  g_autofree char *d = url ("WSS://api.firezone.dev", FALSE, "x", "n", NULL, NULL);
  g_assert_true (g_str_has_prefix (d, "wss://api.firezone.dev/client/v2/websocket?"));

  static const char *const bad[] = { "ftp://example.com", "not a url", "https://", "" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *u = url (bad[i], FALSE, "x", "n", NULL, &error);
      g_assert_null (u);
      g_assert_error (error, FZ_PORTAL_ERROR, FZ_PORTAL_ERROR_INVALID);
      g_assert_nonnull (strstr (error->message, "portal URL"));
    }
}

static void
test_user_agent (void)
{
  g_autofree char *ua
    = fz_portal_user_agent ("Linux", "12", "gateway", "1.6.1", "x86_64", "6.1.0");
  g_assert_cmpstr (ua, ==, "Linux/12 gateway/1.6.1 (x86_64; 6.1.0)");
  g_autofree char *odd = fz_portal_user_agent ("Lin\xc3\xbcx", "1\n2", "gui-client",
                                               "1.0", "aarch64", "6.1.0-\xe2\x9c\x93");
  g_assert_cmpstr (odd, ==, "Linx/12 gui-client/1.0 (aarch64; 6.1.0-)");
}

static void
test_reconnect_before_join (void)
{
  FzRng rng;
  fz_rng_init_seeded (&rng, 1);
  FzReconnectPolicy p;
  fz_reconnect_policy_init (&p, FZ_RECONNECT_BUDGET_GATEWAY, &rng);
  /* 1 s apart, 15 s in all, then give up. */
  for (int i = 0; i < 15; i++)
    g_assert_cmpint (fz_reconnect_policy_next (&p, -1), ==, G_USEC_PER_SEC);
  g_assert_cmpint (fz_reconnect_policy_next (&p, -1), ==, -1);
}

static void
test_reconnect_after_join (void)
{
  FzRng rng;
  fz_rng_init_seeded (&rng, 2);
  FzReconnectPolicy p;
  fz_reconnect_policy_init (&p, FZ_RECONNECT_BUDGET_GATEWAY, &rng);
  g_assert_cmpint (fz_reconnect_policy_next (&p, -1), ==, G_USEC_PER_SEC);
  fz_reconnect_policy_joined (&p);
  /* Backoff from 500 ms, x1.5, at most 60 s, with up to 500 ms jitter;
   * a Retry-After replaces one delay and costs nothing. */
  gint64 base = 500 * 1000;
  for (int i = 0; i < 30; i++)
    {
      if (i == 5)
        g_assert_cmpint (fz_reconnect_policy_next (&p, 7 * G_USEC_PER_SEC), ==,
                         7 * G_USEC_PER_SEC);
      gint64 d = fz_reconnect_policy_next (&p, -1);
      g_assert_cmpint (d, >=, base);
      g_assert_cmpint (d, <, base + 500 * 1000);
      base = MIN (base * 3 / 2, 60 * G_USEC_PER_SEC);
    }
  /* A join resets it: the next failure starts at 500 ms again. */
  fz_reconnect_policy_joined (&p);
  gint64 d = fz_reconnect_policy_next (&p, -1);
  g_assert_cmpint (d, <, 1000 * 1000);

  /* The gateway's budget of 24 h of delays runs out; a headless
   * client's never does. */
  gint64 total = 0, delay;
  int tries = 0;
  fz_reconnect_policy_joined (&p);
  while ((delay = fz_reconnect_policy_next (&p, -1)) >= 0 && tries < 100000)
    {
      total += delay;
      tries++;
    }
  g_assert_cmpint (delay, ==, -1);
  g_assert_cmpint (total, <=, FZ_RECONNECT_BUDGET_GATEWAY);
  g_assert_cmpint (total, >, FZ_RECONNECT_BUDGET_GATEWAY - 61 * G_USEC_PER_SEC);

  FzReconnectPolicy forever;
  fz_reconnect_policy_init (&forever, FZ_RECONNECT_UNLIMITED, &rng);
  fz_reconnect_policy_joined (&forever);
  for (int i = 0; i < 10000; i++)
    g_assert_cmpint (fz_reconnect_policy_next (&forever, -1), >, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/portal-url/url", test_url);
  g_test_add_func ("/portal-url/user-agent", test_user_agent);
  g_test_add_func ("/portal-url/reconnect-before-join", test_reconnect_before_join);
  g_test_add_func ("/portal-url/reconnect-after-join", test_reconnect_after_join);
  return g_test_run ();
}
