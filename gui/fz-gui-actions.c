/* The menu's actions ("app.*"), as named by fz-tray-menu.c. */
#include "fz-about.h"
#include "fz-gui-app-private.h"
#include "fz-settings-window.h"

#include <glib/gi18n.h>

#define DOCS_URL    "https://www.firezone.dev/kb"
#define SUPPORT_URL "https://www.firezone.dev/support"

static void
sign_in (GSimpleAction *a, GVariant *p, gpointer data)
{
  fz_gui_session_sign_in (data);
}

static void
cancel_sign_in (GSimpleAction *a, GVariant *p, gpointer data)
{
  fz_gui_session_cancel (data);
}

static void
sign_out (GSimpleAction *a, GVariant *p, gpointer data)
{
  fz_gui_session_sign_out (data);
}

static void
quit (GSimpleAction *a, GVariant *p, gpointer data)
{
  fz_gui_session_quit (data);
}

/* GTK hands the text to a clipboard manager, when there is one, as we
 * quit; asking now would run a nested main loop inside the menu. */
static void
copy (GSimpleAction *a, GVariant *p, gpointer data)
{
  GtkClipboard *clipboard = gtk_clipboard_get (GDK_SELECTION_CLIPBOARD);

  gtk_clipboard_set_text (clipboard, g_variant_get_string (p, NULL), -1);
  gtk_clipboard_set_can_store (clipboard, NULL, 0);
  g_info ("copied to the clipboard");
}

static void
open_url (GSimpleAction *a, GVariant *p, gpointer data)
{
  const char *url = g_variant_get_string (p, NULL);

  /* Only what the menu would show as a link: the target is from the
   * portal, and any caller on the session bus may activate actions. */
  if (fz_tray_is_openable_url (url))
    fz_gui_app_open_uri (data, url);
}

static void
set_favorite (FzGuiApp *self, const char *id, gboolean favorite)
{
  g_auto (GStrv) old = g_settings_get_strv (self->settings, "favorite-resources");
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_auto (GStrv) now = NULL;

  for (guint i = 0; old[i] != NULL; i++)
    if (!g_str_equal (old[i], id))
      g_strv_builder_add (b, old[i]);
  if (favorite)
    g_strv_builder_add (b, id);
  now = g_strv_builder_end (b);
  g_settings_set_strv (self->settings, "favorite-resources", (const char *const *) now);
}

static void
favorite (GSimpleAction *a, GVariant *p, gpointer data)
{
  set_favorite (data, g_variant_get_string (p, NULL), TRUE);
}

static void
unfavorite (GSimpleAction *a, GVariant *p, gpointer data)
{
  set_favorite (data, g_variant_get_string (p, NULL), FALSE);
}

static void
on_internet_set (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FzGuiApp) self = data;

  if (!fz_tunnel_client_call_finish (FZ_TUNNEL_CLIENT (source), result, &error))
    fz_gui_app_show_call_error (self, _ ("Cannot switch the Internet resource"), error);
}

static void
internet (GSimpleAction *a, GVariant *p, gpointer data)
{
  FzGuiApp *self = data;

  fz_tunnel_client_set_internet (self->tunnel, g_variant_get_boolean (p), NULL,
                                 on_internet_set, g_object_ref (self));
}

static void
about (GSimpleAction *a, GVariant *p, gpointer data)
{
  fz_about_show (NULL);
}

static void
admin_portal (GSimpleAction *a, GVariant *p, gpointer data)
{
  FzGuiApp *self = data;
  g_autofree char *auth_url = g_settings_get_string (self->settings, "auth-url");
  g_autofree char *slug = g_settings_get_string (self->settings, "account-slug");
  g_autofree char *url = NULL;

  while (g_str_has_suffix (auth_url, "/"))
    auth_url[strlen (auth_url) - 1] = '\0';
  url = g_strdup_printf ("%s/%s", auth_url, slug);
  if (fz_tray_is_openable_url (url))
    fz_gui_app_open_uri (self, url);
}

static void
documentation (GSimpleAction *a, GVariant *p, gpointer data)
{
  fz_gui_app_open_uri (data, DOCS_URL);
}

static void
support (GSimpleAction *a, GVariant *p, gpointer data)
{
  fz_gui_app_open_uri (data, SUPPORT_URL);
}

static void
on_settings_destroyed (GtkWidget *window, gpointer data)
{
  FzGuiApp *self = data;

  self->settings_window = NULL;
}

static void
settings (GSimpleAction *a, GVariant *p, gpointer data)
{
  FzGuiApp *self = data;

  if (self->settings_window == NULL)
    {
      self->settings_window
        = GTK_WIDGET (fz_settings_window_new (GTK_APPLICATION (self), self->settings));
      g_signal_connect (self->settings_window, "destroy",
                        G_CALLBACK (on_settings_destroyed), self);
    }
  gtk_window_present (GTK_WINDOW (self->settings_window));
}

void
fz_gui_actions_add (FzGuiApp *self)
{
  static const GActionEntry entries[] = {
    { "sign-in", sign_in },
    { "cancel-sign-in", cancel_sign_in },
    { "sign-out", sign_out },
    { "quit", quit },
    { "copy", copy, "s" },
    { "open-url", open_url, "s" },
    { "favorite", favorite, "s" },
    { "unfavorite", unfavorite, "s" },
    { "internet", internet, "b" },
    { "about", about },
    { "admin-portal", admin_portal },
    { "documentation", documentation },
    { "support", support },
    { "settings", settings },
  };

  g_action_map_add_action_entries (G_ACTION_MAP (self), entries, G_N_ELEMENTS (entries),
                                   self);
}
