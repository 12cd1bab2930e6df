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

/* In a sandbox (/.flatpak-info exists) fz_autostart_set() asks the
 * Background portal instead: RequestBackground with autostart and the
 * command line "fz-gui". It returns once the portal has taken the
 * request; the user's answer comes later and only goes to the log.
 * fz_autostart_is_enabled() cannot see the host's entry from inside and
 * says FALSE there. The call, on a given bus, for tests. */
gboolean fz_autostart_in_sandbox (void);
gboolean fz_autostart_request_background (GDBusConnection *bus, gboolean autostart,
                                          GError **error);

G_END_DECLS
