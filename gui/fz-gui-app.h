/* FzGuiApp: the tray, a single-instance GtkApplication dev.libfz.Client.
 * A second launch, and the sign-in deep link handed to a second
 * `fz-gui URI`, arrive in the running instance ("open"). */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define FZ_TYPE_GUI_APP (fz_gui_app_get_type ())
G_DECLARE_FINAL_TYPE (FzGuiApp, fz_gui_app, FZ, GUI_APP, GtkApplication)

FzGuiApp *fz_gui_app_new (void);

G_END_DECLS
