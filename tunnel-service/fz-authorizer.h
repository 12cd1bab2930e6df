/* FzAuthorizer: may the caller of a D-Bus method do this? Root callers
 * (uid 0, asked from the bus) may; anyone else needs a polkit action,
 * checked for the caller's unique bus name. The check never blocks: the
 * polkit authority is obtained once, asynchronously, and reused.
 *
 * A refusal, and a check that cannot be made (no polkit on the bus, the
 * caller gone), finish with org.freedesktop.DBus.Error.AccessDenied
 * (G_DBUS_ERROR_ACCESS_DENIED); a cancelled check with
 * G_IO_ERROR_CANCELLED. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define FZ_TYPE_AUTHORIZER (fz_authorizer_get_type ())
G_DECLARE_FINAL_TYPE (FzAuthorizer, fz_authorizer, FZ, AUTHORIZER, GObject)

FzAuthorizer *fz_authorizer_new (const char *action_id);

/* Checks the sender of @invocation. polkit may ask the user to
 * authenticate only when the call carries
 * G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION. The callback runs
 * on the thread-default main context of this call. */
void fz_authorizer_check_async (FzAuthorizer *self, GDBusMethodInvocation *invocation,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data);
gboolean fz_authorizer_check_finish (FzAuthorizer *self, GAsyncResult *result,
                                     GError **error);

G_END_DECLS
