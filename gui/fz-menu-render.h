/* A GMenuModel made into a GtkMenu for the indicator. Our own walk
 * rather than gtk_menu_new_from_model: labels are shown as written
 * (a resource called "db_main" keeps its underscore; no mnemonics), an
 * item without an action is insensitive, and activating one calls the
 * action in @actions ("app." prefixes stripped) with its target. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

GtkWidget *fz_menu_render (GMenuModel *model, GActionGroup *actions);

G_END_DECLS
