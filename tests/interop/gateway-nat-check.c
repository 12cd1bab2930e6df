/* Runs one call of fz-gateway's NAT module, for gateway-nat.sh to check
 * what it did with nft(8) and ping.
 *
 *   gateway-nat-check apply TUN V4 V6   (V4, V6: 0 or 1)
 *   gateway-nat-check remove
 *   gateway-nat-check forwarding
 *
 * Exit 0 on success; 1 with the error on stderr. */
#include "fz-gateway-nat.h"

#include <stdio.h>
#include <string.h>

static gboolean
flag (const char *s)
{
  return strcmp (s, "1") == 0;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  gboolean ok;
  if (argc == 5 && strcmp (argv[1], "apply") == 0)
    ok = fz_gateway_nat_apply (argv[2], flag (argv[3]), flag (argv[4]), &error);
  else if (argc == 2 && strcmp (argv[1], "remove") == 0)
    ok = fz_gateway_nat_remove (&error);
  else if (argc == 2 && strcmp (argv[1], "forwarding") == 0)
    ok = fz_gateway_forwarding_ensure (&error);
  else
    {
      fprintf (stderr, "usage: %s apply TUN V4 V6 | remove | forwarding\n", argv[0]);
      return 2;
    }
  if (!ok)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  return 0;
}
