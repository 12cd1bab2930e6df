/* Any bytes as saved proxy-IP mappings: one error or a table, never a
 * crash; a table serialises to text that parses to the same table (the
 * same text again), and the next name gets the same addresses in both. */
#include "fz-private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_next (FzProxyIps *a, FzProxyIps *b)
{
  const FzProxyIpsMapping *x = fz_proxy_ips_assign (a, "fuzz-next.example", NULL);
  const FzProxyIpsMapping *y = fz_proxy_ips_assign (b, "fuzz-next.example", NULL);

  if ((x == NULL) != (y == NULL))
    abort ();
  if (x != NULL
      && (memcmp (x->ipv4, y->ipv4, sizeof x->ipv4) != 0
          || memcmp (x->ipv6, y->ipv6, sizeof x->ipv6) != 0))
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  FzProxyIps *ips = fz_proxy_ips_parse ((const char *) data, size, &error);
  FzProxyIps *again;
  char *text, *text2;

  if (ips == NULL)
    {
      if (error == NULL || error->domain != FZ_PROXY_IPS_ERROR
          || error->message[0] == '\0')
        abort ();
      g_error_free (error);
      return 0;
    }
  text = fz_proxy_ips_serialize (ips);
  again = fz_proxy_ips_parse (text, strlen (text), NULL);
  if (again == NULL || fz_proxy_ips_size (again) != fz_proxy_ips_size (ips))
    abort ();
  text2 = fz_proxy_ips_serialize (again);
  if (strcmp (text, text2) != 0)
    abort ();
  check_next (ips, again);
  g_free (text2);
  g_free (text);
  fz_proxy_ips_free (again);
  fz_proxy_ips_free (ips);
  return 0;
}
