#include "fz-gui-app-private.h"

#include "fz-autostart.h"
#include "fz-gui-log.h"
#include "fz-menu-render.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <gdk/gdkx.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>

/* How long a desktop has to take our icon before we say it has no tray. */
#define TRAY_GRACE_S 10

G_DEFINE_FINAL_TYPE (FzGuiApp, fz_gui_app, GTK_TYPE_APPLICATION)

/* ---- what the tray shows ---------------------------------------------- */

FzTrayPhase
fz_gui_app_phase (FzGuiApp *self)
{
  FzTunnelAvailability a = fz_tunnel_client_get_availability (self->tunnel);
  const char *state = fz_tunnel_client_get_state (self->tunnel);

  if (a == FZ_TUNNEL_LOADING || !self->token_checked)
    return FZ_TRAY_LOADING;
  if (self->sign_in != NULL)
    return FZ_TRAY_WAITING_FOR_BROWSER;
  /* A Connect the user cancelled came back: it is being undone. */
  if (self->taking_back)
    return FZ_TRAY_SIGNED_OUT;
  if (g_str_equal (state, "connected") || g_str_equal (state, "reconnecting"))
    return FZ_TRAY_SIGNED_IN;
  if (g_str_equal (state, "connecting")
      || (self->connect_pending && !self->connect_abandoned))
    return FZ_TRAY_CONNECTING;
  return FZ_TRAY_SIGNED_OUT;
}

/* The menu is made again from the latest state once per main-loop turn,
 * however many changes came; the indicator gets it only when it differs
 * from what it shows (a shell re-reads the whole layout each time). */
static gboolean
refresh_now (gpointer data)
{
  FzGuiApp *self = data;

  self->refresh_idle = 0;
  if (self->tunnel == NULL)
    return G_SOURCE_REMOVE;
  g_auto (GStrv) favorites = g_settings_get_strv (self->settings, "favorite-resources");
  g_autofree char *actor = g_settings_get_string (self->settings, "actor-name");
  FzTrayView view = {
    .phase = fz_gui_app_phase (self),
    .actor_name = actor,
    .resources = fz_tunnel_client_get_resources (self->tunnel),
    .favorites = (const char *const *) favorites,
    .internet_enabled = fz_tunnel_client_get_internet_enabled (self->tunnel),
  };
  g_autoptr (GMenuModel) model = fz_tray_menu_build (&view);
  g_autofree char *dump = fz_tray_menu_dump (model);
  GtkWidget *old = self->menu;

  app_indicator_set_icon_full (self->indicator, fz_tray_icon_name (view.phase),
                               view.phase == FZ_TRAY_SIGNED_IN    ? _ ("Signed in")
                               : view.phase == FZ_TRAY_SIGNED_OUT ? _ ("Signed out")
                                                                  : _ ("Working…"));
  if (g_strcmp0 (dump, self->shown_menu) == 0)
    return G_SOURCE_REMOVE;
  g_debug ("menu:\n%s", dump);
  /* Ours as much as the indicator's: when it lets the old one go, the
   * menu and its items (which hold the actions) go for good. */
  self->menu = g_object_ref_sink (fz_menu_render (model, G_ACTION_GROUP (self)));
  app_indicator_set_menu (self->indicator, GTK_MENU (self->menu));
  if (old != NULL)
    {
      gtk_widget_destroy (old);
      g_object_unref (old);
    }
  g_free (self->shown_menu);
  self->shown_menu = g_steal_pointer (&dump);
  return G_SOURCE_REMOVE;
}

void
fz_gui_app_refresh (FzGuiApp *self)
{
  if (self->refresh_idle == 0)
    self->refresh_idle = g_idle_add (refresh_now, self);
}

/* ---- telling the user ------------------------------------------------- */

void
fz_gui_app_notify (FzGuiApp *self, const char *id, const char *title, const char *body,
                   const char *action)
{
  g_autoptr (GNotification) n = g_notification_new (title);

  if (body != NULL)
    g_notification_set_body (n, body);
  if (action != NULL)
    g_notification_set_default_action (n, action);
  g_info ("notification: %s%s%s", title, body ? ": " : "", body ? body : "");
  g_application_send_notification (G_APPLICATION (self), id, n);
}

static void
on_problem_response (GtkDialog *dialog, int response, gpointer data)
{
  gtk_widget_destroy (GTK_WIDGET (dialog));
}

/* One dialog at a time about the service: a newer problem replaces it. */
static void show_problem_kind (FzGuiApp *self, const char *kind, const char *title,
                               const char *text);

static void
show_problem (FzGuiApp *self, const char *title, const char *text)
{
  show_problem_kind (self, "other", title, text);
}

/* Closes the dialog if it is about @kind: the problem went away. */
static void
close_problem (FzGuiApp *self, const char *kind)
{
  if (self->problem != NULL && g_str_equal (self->problem_kind, kind))
    gtk_widget_destroy (self->problem);
}

static void
on_problem_destroyed (GtkWidget *dialog, gpointer data)
{
  FzGuiApp *self = data;

  if (self->problem == dialog)
    self->problem = NULL;
}

static void
show_problem_kind (FzGuiApp *self, const char *kind, const char *title, const char *text)
{
  if (self->problem != NULL)
    gtk_widget_destroy (self->problem);
  self->problem
    = gtk_message_dialog_new (NULL, 0, GTK_MESSAGE_ERROR, GTK_BUTTONS_CLOSE, "%s", title);
  gtk_message_dialog_format_secondary_text (GTK_MESSAGE_DIALOG (self->problem), "%s",
                                            text);
  gtk_window_set_title (GTK_WINDOW (self->problem), title);
  self->problem_kind = kind;
  g_signal_connect (self->problem, "response", G_CALLBACK (on_problem_response), self);
  g_signal_connect (self->problem, "destroy", G_CALLBACK (on_problem_destroyed), self);
  gtk_application_add_window (GTK_APPLICATION (self), GTK_WINDOW (self->problem));
  gtk_widget_show (self->problem);
  g_message ("%s: %s", title, text);
}

/* A desktop without a StatusNotifier host (GNOME without the
 * AppIndicator extension) shows no icon: say so rather than run unseen. */
/* An XEmbed system tray (XFCE's notification area, for one), where
 * the indicator's fallback icon shows. */
static gboolean
xembed_tray_present (void)
{
  GdkDisplay *display = gdk_display_get_default ();
  Atom selection;

  if (!GDK_IS_X11_DISPLAY (display))
    return FALSE;
  selection = gdk_x11_get_xatom_by_name_for_display (display, "_NET_SYSTEM_TRAY_S0");
  return XGetSelectionOwner (GDK_DISPLAY_XDISPLAY (display), selection) != None;
}

static gboolean
check_tray_shown (gpointer data)
{
  FzGuiApp *self = data;

  self->tray_check = 0;
  if (!self->tray_shown && !xembed_tray_present ())
    show_problem_kind (
      self, "no-tray", _ ("No tray icon area"),
      _ ("Your desktop shows no tray icons, so the client's menu cannot be "
         "shown. On GNOME, install and enable the AppIndicator extension:\n\n"
         "    sudo apt install gnome-shell-extension-appindicator\n\n"
         "then log out and in again. Other desktops: add a system tray or "
         "status notifier area to a panel."));
  return G_SOURCE_REMOVE;
}

static void
on_tray_connection (AppIndicator *indicator, gboolean connected, gpointer data)
{
  FzGuiApp *self = data;

  g_info ("tray icon %s", connected ? "shown by the desktop" : "not shown");
  self->tray_shown = connected;
  if (connected)
    close_problem (self, "no-tray");
}

static void
show_missing_service (FzGuiApp *self)
{
  show_problem_kind (
    self, "no-service", _ ("The tunnel service is not running"),
    _ ("The client needs its system service, fz-tunnel. Start it with\n\n"
       "    sudo systemctl enable --now fz-tunnel.service\n\n"
       "or install the fz-client package, which includes it."));
}

static void
show_not_authorized (FzGuiApp *self)
{
  show_problem (self, _ ("Not allowed to control the tunnel"),
                _ ("Your account may not use the tunnel service (polkit action "
                   "dev.libfz.tunnel.control). Sign in on this computer's own screen, or "
                   "ask an administrator to allow it, for example with a rule in "
                   "/etc/polkit-1/rules.d/."));
}

void
fz_gui_app_show_call_error (FzGuiApp *self, const char *what, const GError *error)
{
  g_autoptr (GError) copy = NULL;

  switch (fz_tunnel_client_classify_error (error))
    {
    case FZ_TUNNEL_CALL_NO_SERVICE: show_missing_service (self); return;
    case FZ_TUNNEL_CALL_NOT_AUTHORIZED: show_not_authorized (self); return;
    default:
      copy = g_error_copy (error);
      g_dbus_error_strip_remote_error (copy);
      show_problem (self, what, copy->message);
    }
}

void
fz_gui_app_open_uri (FzGuiApp *self, const char *uri)
{
  g_autoptr (GError) error = NULL;

  if (!g_app_info_launch_default_for_uri (uri, NULL, &error))
    show_problem (self, _ ("Cannot open a browser"), error->message);
}

/* ---- the service ------------------------------------------------------ */

static const char *
resource_field (FzGuiApp *self, const char *id, const char *key)
{
  GVariant *list = fz_tunnel_client_get_resources (self->tunnel);

  for (gsize i = 0; i < g_variant_n_children (list); i++)
    {
      g_autoptr (GVariant) d = g_variant_get_child_value (list, i);
      const char *rid = NULL, *value = NULL;
      if (g_variant_lookup (d, "id", "&s", &rid) && g_str_equal (rid, id)
          && g_variant_lookup (d, key, "&s", &value))
        return value; /* the list outlives this call */
    }
  return NULL;
}

static void
on_unreachable (FzTunnelClient *tunnel, const char *id, const char *reason, gpointer data)
{
  FzGuiApp *self = data;
  const char *name = resource_field (self, id, "name");
  const char *site = resource_field (self, id, "site_name");
  g_autofree char *title
    = g_strdup_printf (_ ("Failed to connect to %s"), name ? name : id);
  g_autofree char *body = NULL;

  if (g_strcmp0 (reason, "offline") == 0)
    body = g_strdup_printf (_ ("All Gateways in %s are offline."),
                            site ? site : _ ("its site"));
  else if (g_strcmp0 (reason, "version_mismatch") == 0)
    body
      = g_strdup_printf (_ ("The Gateways in %s run a version this client cannot use."),
                         site ? site : _ ("its site"));
  else
    body = g_strdup_printf (_ ("The portal refused the connection (%s)."), reason);
  g_autofree char *nid = g_strdup_printf ("unreachable-%s", id);
  fz_gui_app_notify (self, nid, title, body, NULL);
}

static void
on_disconnected (FzTunnelClient *tunnel, const char *message, gboolean requires_sign_in,
                 gpointer data)
{
  fz_gui_session_disconnected (data, message, requires_sign_in);
}

static void
on_tunnel_changed (FzTunnelClient *tunnel, gpointer data)
{
  FzGuiApp *self = data;
  const char *state = fz_tunnel_client_get_state (tunnel);

  FzTunnelAvailability a = fz_tunnel_client_get_availability (tunnel);

  if (a != self->last_availability)
    {
      if (a == FZ_TUNNEL_MISSING && self->last_availability == FZ_TUNNEL_LOADING)
        show_missing_service (self);
      else if (a == FZ_TUNNEL_MISSING)
        fz_gui_app_notify (
          self, "service", _ ("The tunnel service stopped"),
          _ ("Your resources are out of reach until fz-tunnel runs again."), NULL);
      /* Back (or there at last): connect as at start. */
      if (a == FZ_TUNNEL_READY)
        {
          self->autoconnect_tried = FALSE;
          close_problem (self, "no-service");
        }
      self->last_availability = a;
    }
  if (g_strcmp0 (state, self->last_state) != 0)
    {
      g_info ("service state: %s", *state ? state : "(none)");
      /* After our Connect, however fast the service got there (it may
       * go from disconnected to connected in one change). */
      if (g_str_equal (state, "connected") && self->announce_connected)
        {
          self->announce_connected = FALSE;
          fz_gui_app_notify (self, "connected", _ ("Connected"),
                             _ ("You can reach your resources."), NULL);
        }
      g_free (self->last_state);
      self->last_state = g_strdup (state);
    }
  fz_gui_session_service_changed (self);
  fz_gui_app_refresh (self);
}

/* ---- the application -------------------------------------------------- */

/* The file the session reads follows the setting, also when it was
 * changed while we were not running (gsettings, a reset). */
static void
sync_autostart (FzGuiApp *self)
{
  g_autoptr (GError) error = NULL;

  if (!fz_autostart_sync (self->settings, &error))
    g_warning ("start on login: %s", error->message);
}

static void
on_settings_changed (GSettings *settings, const char *key, gpointer data)
{
  if (g_str_equal (key, "start-on-login"))
    sync_autostart (data);
  else if (g_str_equal (key, "log-filter"))
    fz_gui_log_set_filter (g_settings_get_enum (settings, "log-filter"));
  fz_gui_app_refresh (data);
}

/* A logout or `kill` ends us as Quit does: the tunnel is not left
 * running for whoever comes next. */
static gboolean
on_quit_signal (gpointer data)
{
  g_info ("asked to stop");
  fz_gui_session_quit (data);
  return G_SOURCE_CONTINUE;
}

static void
fz_gui_app_startup (GApplication *app)
{
  FzGuiApp *self = FZ_GUI_APP (app);

  G_APPLICATION_CLASS (fz_gui_app_parent_class)->startup (app);
  /* No window is open most of the time: the tray keeps us running. */
  g_application_hold (app);
  self->settings = g_settings_new ("dev.libfz.Client");
  g_signal_connect_object (self->settings, "changed", G_CALLBACK (on_settings_changed),
                           self, 0);
  /* In a Flatpak this is also the Background portal's request that lets a
   * tray without windows keep running. */
  sync_autostart (self);
  fz_gui_actions_add (self);
  self->indicator
    = app_indicator_new ("dev.libfz.Client", fz_tray_icon_name (FZ_TRAY_LOADING),
                         APP_INDICATOR_CATEGORY_COMMUNICATIONS);
  app_indicator_set_title (self->indicator, _ ("libfz Client"));
  g_signal_connect_object (self->indicator, APP_INDICATOR_SIGNAL_CONNECTION_CHANGED,
                           G_CALLBACK (on_tray_connection), self, 0);
  app_indicator_set_status (self->indicator, APP_INDICATOR_STATUS_ACTIVE);
  self->tray_check = g_timeout_add_seconds (TRAY_GRACE_S, check_tray_shown, self);
  g_unix_signal_add (SIGTERM, on_quit_signal, self);
  g_unix_signal_add (SIGINT, on_quit_signal, self);

  self->tunnel = fz_tunnel_client_new ();
  g_signal_connect_object (self->tunnel, "changed", G_CALLBACK (on_tunnel_changed), self,
                           0);
  g_signal_connect_object (self->tunnel, "disconnected", G_CALLBACK (on_disconnected),
                           self, 0);
  g_signal_connect_object (self->tunnel, "resource-unreachable",
                           G_CALLBACK (on_unreachable), self, 0);
  fz_gui_session_start (self);
  refresh_now (self);
}

static void
fz_gui_app_activate (GApplication *app)
{
  /* A second plain launch: the tray is already there. */
  g_info ("activated (already running)");
}

static void
fz_gui_app_open (GApplication *app, GFile **files, int n_files, const char *hint)
{
  for (int i = 0; i < n_files; i++)
    {
      char *uri = g_file_get_uri (files[i]);
      fz_gui_session_deep_link (FZ_GUI_APP (app), uri);
      /* A sign-in link holds half the token. */
      sodium_memzero (uri, strlen (uri));
      g_free (uri);
    }
}

static void
fz_gui_app_shutdown (GApplication *app)
{
  FzGuiApp *self = FZ_GUI_APP (app);

  g_clear_handle_id (&self->refresh_idle, g_source_remove);
  g_clear_handle_id (&self->tray_check, g_source_remove);
  if (self->session_ops)
    g_cancellable_cancel (self->session_ops);
  if (self->startup_ops)
    g_cancellable_cancel (self->startup_ops);
  /* Calls still on their way may answer after this: they find no
   * tunnel (see shut_down()) and no signal of it reaches us. */
  if (self->tunnel != NULL)
    g_signal_handlers_disconnect_by_data (self->tunnel, self);
  g_clear_object (&self->indicator);
  if (self->menu != NULL)
    gtk_widget_destroy (self->menu);
  g_clear_object (&self->menu);
  g_clear_object (&self->tunnel);
  G_APPLICATION_CLASS (fz_gui_app_parent_class)->shutdown (app);
}

static void
fz_gui_app_finalize (GObject *object)
{
  FzGuiApp *self = FZ_GUI_APP (object);

  g_clear_pointer (&self->sign_in, fz_sign_in_free);
  g_clear_object (&self->session_ops);
  g_clear_object (&self->startup_ops);
  g_clear_object (&self->settings);
  g_free (self->shown_menu);
  g_free (self->last_state);
  G_OBJECT_CLASS (fz_gui_app_parent_class)->finalize (object);
}

static void
fz_gui_app_class_init (FzGuiAppClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = fz_gui_app_finalize;
  app_class->startup = fz_gui_app_startup;
  app_class->activate = fz_gui_app_activate;
  app_class->open = fz_gui_app_open;
  app_class->shutdown = fz_gui_app_shutdown;
}

static void
fz_gui_app_init (FzGuiApp *self)
{
}

FzGuiApp *
fz_gui_app_new (void)
{
  return g_object_new (FZ_TYPE_GUI_APP, "application-id", "dev.libfz.Client", "flags",
                       G_APPLICATION_HANDLES_OPEN, NULL);
}
