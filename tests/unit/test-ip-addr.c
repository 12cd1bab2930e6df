#include "fz-private.h"

static void
test_parse_format (void)
{
  static const char *good[][2] = {
    { "100.64.0.1", "100.64.0.1" },
    { "0.0.0.0", "0.0.0.0" },
    { "255.255.255.255", "255.255.255.255" },
    { "::", "::" },
    { "fd00:2021:1111::1", "fd00:2021:1111::1" },
    { "FD00:2021:1111:0:0:0:0:1", "fd00:2021:1111::1" },
    { "::ffff:1.2.3.4", "::ffff:1.2.3.4" },
  };
  static const char *bad[] = {
    "",         "1.2.3",      "1.2.3.4.5", "256.1.1.1", "1.2.3.4:80",  "[::1]",
    "::1%eth0", "fd00::1/64", " 1.2.3.4",  "1.2.3.4 ",  "example.com", "01.2.3.4x",
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      char s[FZ_IP_ADDR_STRLEN];
      FzIpAddr a;

      g_assert_true (fz_ip_addr_parse (&a, good[i][0]));
      g_assert_cmpstr (fz_ip_addr_to_string (&a, s), ==, good[i][1]);
      g_assert_cmpuint (fz_ip_addr_len (&a), ==, a.family == 4 ? 4 : 16);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      FzIpAddr a;
      g_assert_false (fz_ip_addr_parse (&a, bad[i]));
    }
  {
    FzIpAddr a;
    g_assert_false (fz_ip_addr_parse (&a, NULL));
  }
}

static void
test_equal_hash (void)
{
  FzIpAddr a, b, c, d;

  g_assert_true (fz_ip_addr_parse (&a, "100.64.0.1"));
  g_assert_true (fz_ip_addr_parse (&b, "100.64.0.1"));
  g_assert_true (fz_ip_addr_parse (&c, "100.64.0.2"));
  g_assert_true (fz_ip_addr_parse (&d, "::ffff:100.64.0.1"));
  g_assert_true (fz_ip_addr_equal (&a, &b));
  g_assert_cmpuint (fz_ip_addr_hash (&a), ==, fz_ip_addr_hash (&b));
  g_assert_false (fz_ip_addr_equal (&a, &c));
  g_assert_false (fz_ip_addr_equal (&a, &d)); /* mapped is not the same address */
  g_assert_cmpuint (fz_ip_addr_hash (&a), !=, fz_ip_addr_hash (&c));
}

static void
test_sock_addr_parse (void)
{
  static const char *const good[]
    = { "192.0.2.1:3478", "[2001:db8::1]:1", "[::1]:65535" };
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      FzSockAddr sa;
      char out[FZ_SOCK_ADDR_STRLEN];
      g_assert_true (fz_sock_addr_parse (&sa, good[i]));
      g_assert_cmpstr (fz_sock_addr_to_string (&sa, out), ==, good[i]);
    }
  static const char *const bad[] = { "192.0.2.1",       "192.0.2.1:0",
                                     "192.0.2.1:65536", "192.0.2.1:12ab",
                                     "192.0.2.1:",      "2001:db8::1:80",
                                     "[192.0.2.1]:80",  "[2001:db8::1]80",
                                     "host.example:80", "" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      FzSockAddr sa;
      if (fz_sock_addr_parse (&sa, bad[i]))
        g_error ("\"%s\" parsed", bad[i]);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ip-addr/parse-format", test_parse_format);
  g_test_add_func ("/ip-addr/equal-hash", test_equal_hash);
  g_test_add_func ("/ip-addr/sock-addr-parse", test_sock_addr_parse);
  return g_test_run ();
}
