#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* The settings window (dev.libfz.Client keys): switches and the log
 * filter are bound to GSettings; the text entries apply a value only
 * when it passes fz-settings-validate (on Enter, on leaving the entry and
 * on closing), else they show what is wrong and the key keeps its value.
 * While open, it keeps the autostart file in step with "start-on-login"
 * (see fz-autostart.h) and shows a failure to write it.
 *
 * Close destroys the window; an app that wants one at a time keeps a
 * weak pointer and presents the existing one. */

#define FZ_TYPE_SETTINGS_WINDOW (fz_settings_window_get_type ())
G_DECLARE_FINAL_TYPE (FzSettingsWindow, fz_settings_window, FZ, SETTINGS_WINDOW,
                      GtkWindow)

FzSettingsWindow *fz_settings_window_new (GtkApplication *app, GSettings *settings);

G_END_DECLS
