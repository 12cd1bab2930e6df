/* Every error domain is named fz-THING-error-quark, as g_quark_to_string()
 * shows it in logs and in GError dumps. */
#include "fz-private.h"

static void
test_names (void)
{
  static const struct
  {
    GQuark (*quark) (void);
    const char *name;
  } domains[] = {
    { fz_ip_error_quark, "fz-ip-error-quark" },
    { fz_wg_error_quark, "fz-wg-error-quark" },
    { fz_stun_parse_error_quark, "fz-stun-parse-error-quark" },
    { fz_ice_candidate_error_quark, "fz-ice-candidate-error-quark" },
    { fz_allocation_error_quark, "fz-allocation-error-quark" },
    { fz_proxy_ips_error_quark, "fz-proxy-ips-error-quark" },
    { fz_phoenix_error_quark, "fz-phoenix-error-quark" },
    { fz_portal_error_quark, "fz-portal-error-quark" },
    { fz_portal_channel_error_quark, "fz-portal-channel-error-quark" },
    { fz_dns_pattern_error_quark, "fz-dns-pattern-error-quark" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (domains); i++)
    g_assert_cmpstr (g_quark_to_string (domains[i].quark ()), ==, domains[i].name);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/error-quark/names", test_names);
  return g_test_run ();
}
