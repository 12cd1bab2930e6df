#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The user's XDG autostart entry for fz-gui:
 * $XDG_CONFIG_HOME/autostart/dev.libfz.Client.desktop, written from the
 * template data/dev.libfz.Client.autostart.desktop (compiled in).
 *
 * The "start-on-login" key is what the user wants; the file is how the
 * session learns it. The settings window keeps the two together while it
 * is open; the app calls fz_autostart_sync() once at startup so a key
 * changed while it was not running (gsettings, a reset) still applies. */

gboolean fz_autostart_set (gboolean enabled, GError **error);
gboolean fz_autostart_is_enabled (void);
gboolean fz_autostart_sync (GSettings *settings, GError **error);

/* The file's path (for messages and tests). */
char *fz_autostart_path (void);

G_END_DECLS
