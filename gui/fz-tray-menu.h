/* The tray's menu as a GMenuModel, made from a snapshot of what the tray
 * knows (desktop.md, "Tray"): no widget, no bus, so the unit suite reads
 * it. Items name actions of the application ("app.sign-in",
 * "app.copy('text')", ...); an item without an action is information
 * and is shown disabled. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  FZ_TRAY_LOADING, /* the service has not answered yet */
  FZ_TRAY_SIGNED_OUT,
  FZ_TRAY_WAITING_FOR_BROWSER, /* a sign-in is open in the browser */
  FZ_TRAY_CONNECTING,          /* a token is on its way to the portal */
  FZ_TRAY_SIGNED_IN,
} FzTrayPhase;

typedef struct
{
  FzTrayPhase phase;
  const char *actor_name;       /* signed in: who; may be NULL or "" */
  GVariant *resources;          /* aa{sv} as dev.libfz.Tunnel1.Resources, or NULL */
  const char *const *favorites; /* resource ids, or NULL */
  gboolean internet_enabled;
} FzTrayView;

/* Labels longer than this many characters are cut with "…"; the copy
 * action still carries the whole text. */
#define FZ_TRAY_LABEL_MAX 64

GMenuModel *fz_tray_menu_build (const FzTrayView *view);

/* The menu as text, one item a line: submenus indented, "--" opening
 * a section, "[action(target)]" after an item's label. For comparing
 * two menus and for tests. */
char *fz_tray_menu_dump (GMenuModel *menu);

/* The indicator's icon for @phase (a name in data/icons). */
const char *fz_tray_icon_name (FzTrayPhase phase);

/* TRUE when @text is an http or https URL with a host: an "open" item. */
gboolean fz_tray_is_openable_url (const char *text);

G_END_DECLS
