#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Presents the About dialog, one at a time: a second call raises the
 * open one. The logo is the icon "dev.libfz.Client", which the icon
 * theme finds when installed, or in this library's resource once the
 * app's GtkApplication (id dev.libfz.Client) adds /dev/libfz/Client/icons. */
void fz_about_show (GtkWindow *parent_or_null);

G_END_DECLS
