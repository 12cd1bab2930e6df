/* fz-gui's log: GLib's structured log to the journal when stderr is
 * connected to it, else to stderr, less severe messages than the
 * "log-filter" setting dropped. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void fz_gui_log_install (void);
/* @filter: the setting's enum value (error, warning, info, debug). */
void fz_gui_log_set_filter (int filter);

G_END_DECLS
