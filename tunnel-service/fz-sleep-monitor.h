/* FzSleepMonitor: logind's PrepareForSleep on the system bus, so that a
 * tunnel can start its connections over after a resume (the NAT
 * bindings and the peers' sessions are likely gone by then). Without a
 * system bus it says so once at debug level and does nothing. It lives
 * on the thread-default GMainContext of its construction. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _FzSleepMonitor FzSleepMonitor;
/* @sleeping: TRUE before a suspend, FALSE after the resume. */
typedef void (*FzSleepFunc) (gboolean sleeping, gpointer user_data);

FzSleepMonitor *fz_sleep_monitor_new (FzSleepFunc func, gpointer user_data);
void fz_sleep_monitor_free (FzSleepMonitor *monitor);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzSleepMonitor, fz_sleep_monitor_free)

G_END_DECLS
