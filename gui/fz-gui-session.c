/* Signing in and out: the browser sign-in and its deep link, the token in
 * the Secret Service, Connect and Disconnect. The token is held only for
 * the length of a call and wiped after. */
#include "fz-gui-app-private.h"
#include "fz-token-store.h"

#include <glib/gi18n.h>
#include <sodium.h>

/* Quit waits this long for Disconnect before it goes anyway. */
#define QUIT_GRACE_MS 5000

static void connect_stored (FzGuiApp *self, gboolean interactive);

static gboolean
state_is (FzGuiApp *self, const char *state)
{
  return g_str_equal (fz_tunnel_client_get_state (self->tunnel), state);
}

/* Starts the session afresh: lookups and saves in the Secret Service
 * are cancelled, and what finishes of them later is dropped (a save that
 * made it is undone). A Connect on its way is not cancelled, which the
 * service would not see: it is abandoned, and undone with Disconnect
 * when it returns. */
static void
reset_ops (FzGuiApp *self)
{
  self->session_gen++;
  if (self->session_ops)
    g_cancellable_cancel (self->session_ops);
  g_clear_object (&self->session_ops);
  self->session_ops = g_cancellable_new ();
  self->connect_abandoned = self->connect_pending;
  self->announce_connected = FALSE;
}

/* After shutdown, calls already on their way may still finish. */
static gboolean
shut_down (FzGuiApp *self)
{
  return self->tunnel == NULL;
}

static void on_disconnect_done (GObject *source, GAsyncResult *result, gpointer data);

static void
disconnect (FzGuiApp *self)
{
  fz_tunnel_client_disconnect (self->tunnel, NULL, on_disconnect_done,
                               g_object_ref (self));
}

static gboolean
cancelled (const GError *error)
{
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* ---- Connect ---------------------------------------------------------- */

static void
on_connect_done (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (FzGuiApp) self = data;
  g_autoptr (GError) error = NULL;
  gboolean ok = fz_tunnel_client_call_finish (FZ_TUNNEL_CLIENT (source), result, &error);

  if (shut_down (self))
    return;
  self->connect_pending = FALSE;
  if (self->connect_abandoned)
    {
      /* Cancelled, signed out or quit meanwhile: take it back. */
      g_info ("an abandoned Connect returned (%s): %s", ok ? "connected" : "failed",
              ok ? "disconnecting" : "nothing to undo");
      self->connect_abandoned = FALSE;
      if (ok)
        {
          self->taking_back = TRUE;
          disconnect (self);
        }
      else if (self->quitting)
        g_application_quit (G_APPLICATION (self));
      fz_gui_app_refresh (self);
      return;
    }
  self->announce_connected &= ok;
  self->session_ours = ok;
  if (!ok && fz_tunnel_client_classify_error (error) != FZ_TUNNEL_CALL_ALREADY_CONNECTED)
    fz_gui_app_show_call_error (self, _ ("Cannot connect"), error);
  fz_gui_app_refresh (self);
}

/* Takes @token and wipes it once the call is sent. */
static void
connect_with (FzGuiApp *self, char *token)
{
  g_autofree char *api_url = g_settings_get_string (self->settings, "api-url");
  g_autofree char *slug = g_settings_get_string (self->settings, "account-slug");

  self->connect_pending = TRUE;
  self->announce_connected = TRUE;
  g_info ("connecting to %s", api_url);
  fz_tunnel_client_connect (self->tunnel, token, api_url, slug, NULL, on_connect_done,
                            g_object_ref (self));
  fz_token_store_free (token);
  fz_gui_app_refresh (self);
}

/* ---- the browser sign-in ---------------------------------------------- */

static void
begin_browser_sign_in (FzGuiApp *self)
{
  g_autofree char *auth_url = g_settings_get_string (self->settings, "auth-url");
  g_autofree char *slug = g_settings_get_string (self->settings, "account-slug");
  g_autoptr (GError) error = NULL;
  guint8 random[64];

  randombytes_buf (random, sizeof random);
  g_clear_pointer (&self->sign_in, fz_sign_in_free);
  self->sign_in = fz_sign_in_new (auth_url, slug, random, &error);
  sodium_memzero (random, sizeof random);
  if (self->sign_in == NULL)
    {
      fz_gui_app_notify (self, "sign-in", _ ("Cannot sign in"), error->message,
                         "app.settings");
      return;
    }
  g_info ("sign-in: opening the browser");
  fz_gui_app_open_uri (self, fz_sign_in_get_url (self->sign_in));
  fz_gui_app_refresh (self);
}

typedef struct
{
  FzGuiApp *self; /* a reference */
  char *token;
  guint gen;
} Saving;

static void on_token_cleared (GObject *source, GAsyncResult *result, gpointer data);

static void
on_token_saved (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autofree Saving *s = data;
  g_autoptr (FzGuiApp) self = s->self;
  g_autoptr (GError) error = NULL;
  gboolean ok = fz_token_store_save_finish (result, &error);

  if (s->gen != self->session_gen || shut_down (self))
    {
      /* Signed out or cancelled meanwhile: the item may have been made
       * before the cancellation took; make sure it is gone. */
      if (ok || cancelled (error))
        fz_token_store_clear (NULL, on_token_cleared, NULL);
      fz_token_store_free (s->token);
      return;
    }
  s->self->token_stored = error == NULL;
  if (error != NULL)
    {
      g_warning ("the token could not be stored: %s", error->message);
      fz_gui_app_notify (
        s->self, "keyring", _ ("Your sign-in cannot be kept"),
        _ ("No Secret Service (such as GNOME Keyring or KWallet) took it: "
           "you will have to sign in again next time."),
        NULL);
    }
  connect_with (s->self, s->token);
}

void
fz_gui_session_deep_link (FzGuiApp *self, const char *uri)
{
  g_auto (FzSignInResult) result = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *slug = NULL;
  Saving *s;

  if (!fz_sign_in_is_deep_link (uri))
    {
      g_warning ("ignored an address that is not a sign-in link");
      return;
    }
  if (self->sign_in == NULL)
    {
      fz_gui_app_notify (self, "sign-in", _ ("Sign-in ignored"),
                         _ ("No sign-in was in progress. Choose “Sign In” first."), NULL);
      return;
    }
  if (!fz_sign_in_complete (self->sign_in, uri, &result, &error))
    {
      fz_gui_app_notify (self, "sign-in", _ ("Sign-in failed"), error->message, NULL);
      return;
    }
  g_clear_pointer (&self->sign_in, fz_sign_in_free);
  g_settings_set_string (self->settings, "actor-name", result.actor_name);
  slug = g_settings_get_string (self->settings, "account-slug");
  if (*slug == '\0' && result.account_slug != NULL)
    g_settings_set_string (self->settings, "account-slug", result.account_slug);
  g_info ("signed in to account %s", result.account_slug ? result.account_slug : "?");
  reset_ops (self);
  self->connect_pending = TRUE;
  s = g_new (Saving, 1);
  *s
    = (Saving){ g_object_ref (self), g_steal_pointer (&result.token), self->session_gen };
  fz_token_store_save (s->token, self->session_ops, on_token_saved, s);
  fz_gui_app_refresh (self);
}

/* ---- the stored token ------------------------------------------------- */

typedef struct
{
  FzGuiApp *self; /* a reference */
  gboolean interactive;
  guint gen;
} Loading;

static void
on_token_for_connect (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autofree Loading *l = data;
  g_autoptr (FzGuiApp) self = l->self;
  g_autoptr (GError) error = NULL;
  char *token = fz_token_store_load_finish (result, &error);

  if (l->gen != self->session_gen || shut_down (self))
    {
      fz_token_store_free (token);
      return;
    }
  l->self->connect_pending = FALSE;
  if (token != NULL)
    {
      connect_with (l->self, token);
      return;
    }
  l->self->token_stored = FALSE;
  if (error != NULL)
    g_warning ("the Secret Service: %s", error->message);
  if (l->interactive)
    begin_browser_sign_in (l->self);
  fz_gui_app_refresh (l->self);
}

static void
connect_stored (FzGuiApp *self, gboolean interactive)
{
  Loading *l = g_new (Loading, 1);

  *l = (Loading){ g_object_ref (self), interactive, self->session_gen };
  self->connect_pending = TRUE;
  fz_token_store_load (self->session_ops, on_token_for_connect, l);
  fz_gui_app_refresh (self);
}

static void
maybe_autoconnect (FzGuiApp *self)
{
  if (self->autoconnect_tried || !self->token_checked
      || fz_tunnel_client_get_availability (self->tunnel) != FZ_TUNNEL_READY
      || g_str_equal (fz_tunnel_client_get_state (self->tunnel), ""))
    return;
  self->autoconnect_tried = TRUE;
  if (self->token_stored && state_is (self, "disconnected")
      && g_settings_get_boolean (self->settings, "connect-on-start"))
    {
      g_info ("connecting with the stored sign-in");
      connect_stored (self, FALSE);
    }
}

static void
on_token_checked (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;
  char *token = fz_token_store_load_finish (result, &error);
  FzGuiApp *self;

  if (cancelled (error))
    return;
  self = data;
  self->token_checked = TRUE;
  self->token_stored = token != NULL;
  fz_token_store_free (token);
  if (error != NULL)
    g_warning ("the Secret Service: %s", error->message);
  maybe_autoconnect (self);
  fz_gui_app_refresh (self);
}

/* The first lookup has its own cancellable, which only shutdown
 * cancels: until it answers the tray shows "Loading…". */
void
fz_gui_session_start (FzGuiApp *self)
{
  reset_ops (self);
  self->startup_ops = g_cancellable_new ();
  fz_token_store_load (self->startup_ops, on_token_checked, self);
}

void
fz_gui_session_service_changed (FzGuiApp *self)
{
  maybe_autoconnect (self);
}

/* ---- the menu's commands ---------------------------------------------- */

void
fz_gui_session_sign_in (FzGuiApp *self)
{
  if (fz_tunnel_client_get_availability (self->tunnel) == FZ_TUNNEL_MISSING)
    {
      g_autoptr (GError) e
        = g_error_new_literal (G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN, "no service");
      fz_gui_app_show_call_error (self, _ ("Cannot connect"), e);
      return;
    }
  reset_ops (self);
  if (self->token_stored)
    connect_stored (self, TRUE);
  else
    begin_browser_sign_in (self);
}

static void
on_disconnect_done (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FzGuiApp) self = data;

  gboolean ok = fz_tunnel_client_call_finish (FZ_TUNNEL_CLIENT (source), result, &error);

  if (shut_down (self))
    return;
  self->taking_back = FALSE;
  g_info ("Disconnect: %s", ok ? "done" : error->message);
  if (!ok && fz_tunnel_client_classify_error (error) != FZ_TUNNEL_CALL_NOT_CONNECTED)
    fz_gui_app_show_call_error (self, _ ("Cannot disconnect"), error);
  if (self->quitting)
    g_application_quit (G_APPLICATION (self));
  fz_gui_app_refresh (self);
}

static void
on_token_cleared (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;

  if (!fz_token_store_clear_finish (result, &error))
    g_warning ("the token could not be removed from the Secret Service: %s",
               error->message);
}

void
fz_gui_session_sign_out (FzGuiApp *self)
{
  reset_ops (self);
  g_clear_pointer (&self->sign_in, fz_sign_in_free);
  self->token_stored = FALSE;
  self->session_ours = FALSE;
  fz_token_store_clear (NULL, on_token_cleared, NULL);
  g_settings_set_string (self->settings, "actor-name", "");
  if (!state_is (self, "disconnected"))
    fz_tunnel_client_disconnect (self->tunnel, NULL, on_disconnect_done,
                                 g_object_ref (self));
  g_info ("signed out");
  fz_gui_app_refresh (self);
}

void
fz_gui_session_cancel (FzGuiApp *self)
{
  if (self->sign_in != NULL && state_is (self, "disconnected"))
    {
      /* Only the browser was asked: nothing to undo. */
      g_clear_pointer (&self->sign_in, fz_sign_in_free);
      g_info ("sign-in cancelled");
      fz_gui_app_refresh (self);
      return;
    }
  fz_gui_session_sign_out (self);
}

void
fz_gui_session_disconnected (FzGuiApp *self, const char *message,
                             gboolean requires_sign_in)
{
  gboolean ours = self->session_ours;

  self->session_ours = FALSE;
  if (!requires_sign_in || !ours)
    {
      /* Or a session someone else started (fzctl): our token, if we
       * have one, is not the one the portal refused. */
      fz_gui_app_notify (self, "disconnected", _ ("Disconnected"), message,
                         "app.sign-in");
      return;
    }
  self->token_stored = FALSE;
  fz_token_store_clear (NULL, on_token_cleared, NULL);
  g_settings_set_string (self->settings, "actor-name", "");
  g_info ("the portal ended the session: %s", message);
  fz_gui_app_notify (self, "disconnected", _ ("Signed out"),
                     _ ("The portal ended your session. Sign in again to reconnect."),
                     "app.sign-in");
  fz_gui_app_refresh (self);
}

static gboolean
on_quit_grace (gpointer data)
{
  g_warning ("the service did not answer Disconnect in time: quitting anyway");
  g_application_quit (data);
  return G_SOURCE_REMOVE;
}

void
fz_gui_session_quit (FzGuiApp *self)
{
  gboolean connecting = self->connect_pending;

  if (self->quitting)
    return;
  self->quitting = TRUE;
  reset_ops (self);
  if (!connecting && (state_is (self, "disconnected") || state_is (self, "")))
    {
      g_application_quit (G_APPLICATION (self));
      return;
    }
  /* "Disconnect and quit": the token stays for the next start. A
   * Connect on its way is taken back when it returns. */
  g_info ("disconnecting before quitting");
  if (!connecting)
    disconnect (self);
  g_timeout_add_full (G_PRIORITY_DEFAULT, QUIT_GRACE_MS, on_quit_grace,
                      g_object_ref (self), g_object_unref);
}
