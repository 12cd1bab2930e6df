/* fz-gui: the tray of the libfz client. Runs as the desktop user, never
 * as root: the privileged part is fz-tunnel on the system bus. */
#include "fz-gui-app.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>
#include <unistd.h>

/* The "log-filter" setting: messages less severe than it are dropped. */
static GLogLevelFlags log_floor = G_LOG_LEVEL_INFO;

static GLogWriterOutput
write_log (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  /* Lower flag values are more severe. */
  if ((level & G_LOG_LEVEL_MASK) > log_floor && !(level & G_LOG_FLAG_FATAL))
    return G_LOG_WRITER_HANDLED;
  if (g_log_writer_is_journald (fileno (stderr))
      && g_log_writer_journald (level, fields, n_fields, data) == G_LOG_WRITER_HANDLED)
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_standard_streams (level, fields, n_fields, data);
}

static void
read_log_filter (void)
{
  g_autoptr (GSettings) settings = g_settings_new ("dev.libfz.Client");
  static const GLogLevelFlags levels[]
    = { G_LOG_LEVEL_CRITICAL, G_LOG_LEVEL_WARNING, G_LOG_LEVEL_INFO, G_LOG_LEVEL_DEBUG };
  int i = g_settings_get_enum (settings, "log-filter");

  if (i >= 0 && i < (int) G_N_ELEMENTS (levels))
    log_floor = levels[i];
}

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
  read_log_filter ();
  g_log_set_writer_func (write_log, NULL, NULL);
  g_set_application_name (_ ("libfz Client"));
  app = G_APPLICATION (fz_gui_app_new ());
  return g_application_run (app, argc, argv);
}
