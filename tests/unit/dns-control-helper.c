/* Runs fz-dns-control's etc-resolv-conf mode once, for
 * dns-control-netns.sh:
 *   dns-control-helper set PATH SEARCH|- SERVER...
 *   dns-control-helper revert|recover PATH */
#include "fz-dns-control.h"
#include "fz-private.h"

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  gboolean ok;
  if (argc >= 5 && g_str_equal (argv[1], "set"))
    ok = fz_dns_control_set (FZ_DNS_CONTROL_ETC_RESOLV_CONF, argv[2], NULL, 0,
                             (const char *const *) argv + 4,
                             g_str_equal (argv[3], "-") ? NULL : argv[3], &error);
  else if (argc == 3 && g_str_equal (argv[1], "revert"))
    ok = fz_dns_control_revert (FZ_DNS_CONTROL_ETC_RESOLV_CONF, argv[2], NULL, 0, &error);
  else if (argc == 3 && g_str_equal (argv[1], "recover"))
    ok = fz_dns_control_recover (argv[2], NULL, &error);
  else
    {
      g_printerr ("usage: %s set PATH SEARCH|- SERVER... | revert PATH | recover PATH\n",
                  argv[0]);
      return 2;
    }
  if (!ok)
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  return 0;
}
