#include "fz-gui-log.h"

#include <stdio.h>

/* Flags of lower value are more severe; info includes g_message. */
static GLogLevelFlags log_floor = G_LOG_LEVEL_INFO;

static GLogWriterOutput
write_log (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  if ((guint) (level & G_LOG_LEVEL_MASK) > (guint) g_atomic_int_get ((int *) &log_floor)
      && !(level & G_LOG_FLAG_FATAL))
    return G_LOG_WRITER_HANDLED;
  if (g_log_writer_is_journald (fileno (stderr))
      && g_log_writer_journald (level, fields, n_fields, data) == G_LOG_WRITER_HANDLED)
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_standard_streams (level, fields, n_fields, data);
}

void
fz_gui_log_install (void)
{
  g_log_set_writer_func (write_log, NULL, NULL);
}

void
fz_gui_log_set_filter (int filter)
{
  static const GLogLevelFlags floors[]
    = { G_LOG_LEVEL_CRITICAL, G_LOG_LEVEL_WARNING, G_LOG_LEVEL_INFO, G_LOG_LEVEL_DEBUG };

  if (filter >= 0 && filter < (int) G_N_ELEMENTS (floors))
    g_atomic_int_set ((int *) &log_floor, floors[filter]);
}
