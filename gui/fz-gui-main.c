/* fz-gui: the tray of the libfz client. Runs as the desktop user, never
 * as root: the privileged part is fz-tunnel on the system bus. */
#include "fz-gui-app.h"
#include "fz-gui-log.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  g_autoptr (GApplication) app = NULL;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, g_getenv ("FZ_GUI_LOCALEDIR")
                                     ? g_getenv ("FZ_GUI_LOCALEDIR")
                                     : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  if (getuid () == 0 || geteuid () == 0)
    {
      fprintf (stderr, "%s\n",
               _ ("fz-gui must not run as root: start it as yourself. The tunnel service "
                  "(fz-tunnel) does the privileged part."));
      return 1;
    }
  fz_gui_log_install ();
  g_set_application_name (_ ("libfz Client"));
  app = G_APPLICATION (fz_gui_app_new ());
  return g_application_run (app, argc, argv);
}
