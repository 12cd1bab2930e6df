/* The pieces of fz-portal's HTTP front that need no running portal: the
 * network an address counts against, and log-safe text. */
#include "fz-portal-http.h"
#include "fz-portal-types.h"

#include <string.h>

static char *
prefix_of (const char *ip)
{
  g_autoptr (GInetAddress) ia = g_inet_address_new_from_string (ip);
  g_assert_nonnull (ia);
  g_autoptr (GSocketAddress) sa = g_inet_socket_address_new (ia, 443);
  return fz_portal_http_prefix (sa);
}

static void
test_prefix (void)
{
  static const struct
  {
    const char *ip, *prefix;
  } cases[] = {
    { "192.0.2.7", "192.0.2.7" },
    { "192.0.2.8", "192.0.2.8" },               /* IPv4: each address on its own */
    { "::ffff:192.0.2.7", "192.0.2.7" },        /* mapped: the same as IPv4 */
    { "2001:db8:1:2::1", "2001:db8:1:2::/64" }, /* IPv6: its /64 */
    { "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64" },
    { "2001:db8:1:3::1", "2001:db8:1:3::/64" },
    { "::1", "0:0:0:0::/64" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *p = prefix_of (cases[i].ip);
      g_assert_cmpstr (p, ==, cases[i].prefix);
    }
}

static void
test_printable (void)
{
  static const struct
  {
    const char *in, *out;
  } cases[] = {
    { "laptop", "laptop" },
    { "Zoë’s Mac", "Zoë’s Mac" },
    { "a\nfz-portal-Message: forged", "a\\x0afz-portal-Message: forged" },
    { "tab\there\r", "tab\\x09here\\x0d" },
    { "del\x7f c1\xc2\x85", "del\\x7f c1\\x85" },
    { "line\xe2\x80\xa8sep", "line\\u{2028}sep" },
    { "bidi\xe2\x80\xae"
      "evil",
      "bidi\\u{202e}evil" },
    { "bad\xff utf8", "bad\\xff utf8" },
    { "back\\slash", "back\\\\slash" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *p = fz_portal_printable (cases[i].in);
      g_assert_cmpstr (p, ==, cases[i].out);
      g_assert_null (strchr (p, '\n'));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/portal-http/prefix", test_prefix);
  g_test_add_func ("/portal-http/printable", test_printable);
  return g_test_run ();
}
