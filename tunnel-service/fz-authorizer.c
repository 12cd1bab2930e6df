#include "fz-authorizer.h"

#include <polkit/polkit.h>

#undef G_LOG_DOMAIN
#define G_LOG_DOMAIN "fz-tunnel"

#define POLKIT_NAME "org.freedesktop.PolicyKit1"

struct _FzAuthorizer
{
  GObject parent;
  char *action_id;
  PolkitAuthority *authority; /* once obtained; dropped when polkitd goes */
  gboolean getting;           /* polkit_authority_get_async() runs */
  GQueue waiting;             /* GTasks that wait for it */
  GDBusConnection *bus;       /* the callers' bus, for the watch */
  guint watch;                /* org.freedesktop.PolicyKit1 */
  char *polkit_owner;
};

G_DEFINE_FINAL_TYPE (FzAuthorizer, fz_authorizer, G_TYPE_OBJECT)

typedef struct
{
  GDBusMethodInvocation *invocation;
  PolkitCheckAuthorizationFlags flags;
} Check;

static void
check_free (Check *check)
{
  g_object_unref (check->invocation);
  g_free (check);
}

static void deny (GTask *task, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* Takes @task. */
static void
deny (GTask *task, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_task_return_new_error (task, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED, "%s", message);
  g_object_unref (task);
}

/* A GTask's own cancellable wins over any other outcome. Takes @task
 * when it returns TRUE. */
static gboolean
return_if_cancelled (GTask *task)
{
  if (!g_task_return_error_if_cancelled (task))
    return FALSE;
  g_object_unref (task);
  return TRUE;
}

/* ---- polkit ------------------------------------------------------------ */

/* polkitd went away or was replaced: the authority's proxy may still
 * name the old owner until its own tracking (on the global default
 * context) catches up, so the next check gets a fresh one at once. */
static void
on_polkit_appeared (GDBusConnection *bus, const char *name, const char *owner,
                    gpointer data)
{
  FzAuthorizer *self = data;

  if (self->polkit_owner != NULL && !g_str_equal (self->polkit_owner, owner))
    g_clear_object (&self->authority);
  g_free (self->polkit_owner);
  self->polkit_owner = g_strdup (owner);
}

static void
on_polkit_vanished (GDBusConnection *bus, const char *name, gpointer data)
{
  FzAuthorizer *self = data;

  g_clear_object (&self->authority);
  g_clear_pointer (&self->polkit_owner, g_free);
}

/* The bus could not bring the call to polkitd (gone, replaced, hung), as
 * opposed to an error polkitd answered. */
static gboolean
unreachable (const GError *error)
{
  return g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN)
         || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY)
         || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_TIMEOUT)
         || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_DISCONNECTED)
         || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

static void
on_checked (GObject *source, GAsyncResult *result, gpointer data)
{
  GTask *task = data;
  FzAuthorizer *self = g_task_get_source_object (task);
  g_autoptr (PolkitAuthorizationResult) answer = NULL;
  g_autoptr (GError) error = NULL;

  answer = polkit_authority_check_authorization_finish (POLKIT_AUTHORITY (source), result,
                                                        &error);
  if (return_if_cancelled (task))
    return;
  if (answer == NULL && unreachable (error))
    {
      if (self->authority == (gpointer) source)
        g_clear_object (&self->authority);
      g_dbus_error_strip_remote_error (error);
      deny (task, "cannot check %s: polkit is not reachable: %s", self->action_id,
            error->message);
      return;
    }
  if (answer == NULL)
    {
      /* polkitd's own error, e.g. for a caller that is gone */
      g_dbus_error_strip_remote_error (error);
      deny (task, "cannot check %s: polkit: %s", self->action_id, error->message);
      return;
    }
  if (!polkit_authorization_result_get_is_authorized (answer))
    {
      deny (task, "not authorized: %s", self->action_id);
      return;
    }
  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static void
check_polkit (FzAuthorizer *self, GTask *task)
{
  Check *check = g_task_get_task_data (task);
  g_autoptr (PolkitSubject) subject = polkit_system_bus_name_new (
    g_dbus_method_invocation_get_sender (check->invocation));

  polkit_authority_check_authorization (self->authority, subject, self->action_id, NULL,
                                        check->flags, g_task_get_cancellable (task),
                                        on_checked, task);
}

static void
on_authority (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (FzAuthorizer) self = data;
  g_autoptr (GError) error = NULL;
  PolkitAuthority *authority = polkit_authority_get_finish (result, &error);
  GTask *task;

  self->getting = FALSE;
  if (authority == NULL)
    g_dbus_error_strip_remote_error (error);
  else
    {
      g_clear_object (&self->authority);
      self->authority = authority;
    }
  while ((task = g_queue_pop_head (&self->waiting)) != NULL)
    {
      if (return_if_cancelled (task))
        continue;
      if (authority == NULL)
        deny (task, "cannot check %s: polkit is not reachable: %s", self->action_id,
              error->message);
      else
        check_polkit (self, task);
    }
}

static void
with_authority (FzAuthorizer *self, GTask *task)
{
  if (self->authority != NULL)
    {
      check_polkit (self, task);
      return;
    }
  g_queue_push_tail (&self->waiting, task);
  if (self->getting)
    return;
  self->getting = TRUE;
  polkit_authority_get_async (NULL, on_authority, g_object_ref (self));
}

/* ---- the caller -------------------------------------------------------- */

static void
on_uid (GObject *source, GAsyncResult *result, gpointer data)
{
  GTask *task = data;
  FzAuthorizer *self = g_task_get_source_object (task);
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  guint32 uid;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (return_if_cancelled (task))
    return;
  if (reply == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      deny (task, "cannot tell who calls: %s", error->message);
      return;
    }
  g_variant_get (reply, "(u)", &uid);
  if (uid == 0)
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }
  with_authority (self, task);
}

static void
watch_polkit (FzAuthorizer *self, GDBusConnection *bus)
{
  if (self->watch != 0)
    return;
  self->bus = g_object_ref (bus);
  self->watch
    = g_bus_watch_name_on_connection (bus, POLKIT_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                      on_polkit_appeared, on_polkit_vanished, self, NULL);
}

void
fz_authorizer_check_async (FzAuthorizer *self, GDBusMethodInvocation *invocation,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  GDBusConnection *bus = g_dbus_method_invocation_get_connection (invocation);
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  GDBusMessage *message = g_dbus_method_invocation_get_message (invocation);
  Check *check = g_new0 (Check, 1);

  g_task_set_source_tag (task, fz_authorizer_check_async);
  check->invocation = g_object_ref (invocation);
  if (g_dbus_message_get_flags (message)
      & G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION)
    check->flags = POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION;
  g_task_set_task_data (task, check, (GDestroyNotify) check_free);
  if (return_if_cancelled (task))
    return;
  if (sender == NULL)
    {
      /* A peer-to-peer connection: no bus to ask who it is. */
      deny (task, "not authorized: %s (no bus name)", self->action_id);
      return;
    }
  watch_polkit (self, bus);
  g_dbus_connection_call (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionUnixUser",
                          g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(u)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, cancellable, on_uid, task);
}

gboolean
fz_authorizer_check_finish (FzAuthorizer *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- life ---------------------------------------------------------------- */

FzAuthorizer *
fz_authorizer_new (const char *action_id)
{
  FzAuthorizer *self = g_object_new (FZ_TYPE_AUTHORIZER, NULL);

  self->action_id = g_strdup (action_id);
  return self;
}

static void
fz_authorizer_finalize (GObject *object)
{
  FzAuthorizer *self = FZ_AUTHORIZER (object);

  /* Every task and the authority's getter hold a reference: none is
   * left. */
  g_assert (g_queue_is_empty (&self->waiting));
  if (self->watch != 0)
    g_bus_unwatch_name (self->watch);
  g_clear_object (&self->bus);
  g_clear_object (&self->authority);
  g_free (self->polkit_owner);
  g_free (self->action_id);
  G_OBJECT_CLASS (fz_authorizer_parent_class)->finalize (object);
}

static void
fz_authorizer_class_init (FzAuthorizerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = fz_authorizer_finalize;
}

static void
fz_authorizer_init (FzAuthorizer *self)
{
  g_queue_init (&self->waiting);
}
