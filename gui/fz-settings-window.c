#include "fz-settings-window.h"
#include "fz-autostart.h"
#include "fz-gui-windows-resources.h"
#include "fz-settings-validate.h"

#include <glib/gi18n.h>

/* A free-text key: its entry and the label that says what is wrong. */
typedef struct
{
  const char *key;
  GtkEntry *entry;
  GtkLabel *error;
} TextField;

enum
{
  N_TEXT_FIELDS = 3
};

struct _FzSettingsWindow
{
  GtkWindow parent_instance;

  GSettings *settings;
  TextField fields[N_TEXT_FIELDS];

  GtkLabel *autostart_error;
  GtkEntry *account_slug, *auth_url, *api_url;
  GtkLabel *account_slug_error, *auth_url_error, *api_url_error;
  GtkSwitch *start_on_login, *connect_on_start;
  GtkComboBoxText *log_filter;
};

G_DEFINE_TYPE (FzSettingsWindow, fz_settings_window, GTK_TYPE_WINDOW)

enum
{
  PROP_0,
  PROP_SETTINGS,
  N_PROPS
};
static GParamSpec *props[N_PROPS];

/* What "Reset to Defaults" resets: the keys this window shows, not the
 * state the app keeps in the schema (favourites, the signed-in name). */
static const char *const shown_keys[]
  = { "account-slug",   "auth-url",         "api-url", "log-filter",
      "start-on-login", "connect-on-start", NULL };

static TextField *
field_by_entry (FzSettingsWindow *self, GtkEditable *entry)
{
  for (guint i = 0; i < N_TEXT_FIELDS; i++)
    if (GTK_EDITABLE (self->fields[i].entry) == entry)
      return &self->fields[i];
  g_return_val_if_reached (NULL);
}

static TextField *
field_by_key (FzSettingsWindow *self, const char *key)
{
  for (guint i = 0; i < N_TEXT_FIELDS; i++)
    if (g_str_equal (self->fields[i].key, key))
      return &self->fields[i];
  return NULL;
}

/* Shows the entry's problem, or that there is none; TRUE if valid. */
static gboolean
field_check (TextField *field)
{
  g_autoptr (GError) error = NULL;
  GtkStyleContext *style = gtk_widget_get_style_context (GTK_WIDGET (field->entry));
  gboolean ok
    = fz_settings_validate (field->key, gtk_entry_get_text (field->entry), &error);

  if (ok)
    gtk_style_context_remove_class (style, GTK_STYLE_CLASS_ERROR);
  else
    gtk_style_context_add_class (style, GTK_STYLE_CLASS_ERROR);
  gtk_label_set_text (field->error, ok ? "" : error->message);
  gtk_widget_set_visible (GTK_WIDGET (field->error), !ok);
  gtk_widget_set_tooltip_text (GTK_WIDGET (field->entry), ok ? NULL : error->message);
  return ok;
}

static void
field_commit (FzSettingsWindow *self, TextField *field)
{
  const char *text = gtk_entry_get_text (field->entry);
  g_autofree char *old = NULL;

  /* Disposing moves the focus out of an entry once the settings are
   * gone: what closing had to apply it applied already. */
  if (self->settings == NULL)
    return;
  old = g_settings_get_string (self->settings, field->key);
  if (field_check (field) && !g_str_equal (old, text))
    g_settings_set_string (self->settings, field->key, text);
}

static void
field_load (FzSettingsWindow *self, TextField *field)
{
  g_autofree char *value = g_settings_get_string (self->settings, field->key);

  if (!g_str_equal (value, gtk_entry_get_text (field->entry)))
    gtk_entry_set_text (field->entry, value);
  field_check (field);
}

static void
on_entry_changed (GtkEditable *entry, FzSettingsWindow *self)
{
  field_check (field_by_entry (self, entry));
}

static void
on_entry_activate (GtkEntry *entry, FzSettingsWindow *self)
{
  field_commit (self, field_by_entry (self, GTK_EDITABLE (entry)));
}

static gboolean
on_entry_focus_out (GtkWidget *entry, GdkEvent *event, FzSettingsWindow *self)
{
  field_commit (self, field_by_entry (self, GTK_EDITABLE (entry)));
  return GDK_EVENT_PROPAGATE;
}

static void
apply_autostart (FzSettingsWindow *self)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  gboolean ok = fz_autostart_set (
    g_settings_get_boolean (self->settings, "start-on-login"), &error);

  if (!ok)
    text
      = g_strdup_printf (_ ("Could not change what starts on login: %s"), error->message);
  gtk_label_set_text (self->autostart_error, ok ? "" : text);
  gtk_widget_set_visible (GTK_WIDGET (self->autostart_error), !ok);
}

/* Keys changed by anyone: this window's bindings, a reset, gsettings. */
static void
on_settings_changed (GSettings *settings, const char *key, FzSettingsWindow *self)
{
  TextField *field = field_by_key (self, key);

  if (field != NULL)
    field_load (self, field);
  else if (g_str_equal (key, "start-on-login"))
    apply_autostart (self);
}

static void
on_reset_clicked (FzSettingsWindow *self)
{
  for (guint i = 0; shown_keys[i] != NULL; i++)
    g_settings_reset (self->settings, shown_keys[i]);
}

static void
on_close_clicked (FzSettingsWindow *self)
{
  gtk_window_close (GTK_WINDOW (self));
}

static void
setup_field (FzSettingsWindow *self, guint i, const char *key, GtkEntry *entry,
             GtkLabel *error)
{
  self->fields[i] = (TextField){ key, entry, error };
  field_load (self, &self->fields[i]);
  g_signal_connect (entry, "changed", G_CALLBACK (on_entry_changed), self);
  g_signal_connect (entry, "activate", G_CALLBACK (on_entry_activate), self);
  g_signal_connect (entry, "focus-out-event", G_CALLBACK (on_entry_focus_out), self);
}

static void
fz_settings_window_constructed (GObject *object)
{
  FzSettingsWindow *self = FZ_SETTINGS_WINDOW (object);

  G_OBJECT_CLASS (fz_settings_window_parent_class)->constructed (object);
  g_return_if_fail (self->settings != NULL);

  setup_field (self, 0, "account-slug", self->account_slug, self->account_slug_error);
  setup_field (self, 1, "auth-url", self->auth_url, self->auth_url_error);
  setup_field (self, 2, "api-url", self->api_url, self->api_url_error);
  g_settings_bind (self->settings, "start-on-login", self->start_on_login, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "connect-on-start", self->connect_on_start, "active",
                   G_SETTINGS_BIND_DEFAULT);
  /* An enum key binds to a string property through its nicks, which are
   * the combo's item ids. */
  g_settings_bind (self->settings, "log-filter", self->log_filter, "active-id",
                   G_SETTINGS_BIND_DEFAULT);
  g_signal_connect_object (self->settings, "changed", G_CALLBACK (on_settings_changed),
                           self, 0);
}

/* Closing applies what is valid in the entries, as leaving them would. */
static gboolean
fz_settings_window_delete_event (GtkWidget *widget, GdkEventAny *event)
{
  FzSettingsWindow *self = FZ_SETTINGS_WINDOW (widget);

  for (guint i = 0; i < N_TEXT_FIELDS; i++)
    field_commit (self, &self->fields[i]);
  /* Neither GtkWindow nor GtkWidget has a handler to chain up to
   * (calling theirs jumped to NULL): FALSE lets GTK destroy the window. */
  return FALSE;
}

static void
fz_settings_window_dispose (GObject *object)
{
  FzSettingsWindow *self = FZ_SETTINGS_WINDOW (object);

  /* The settings outlive us; their signals must not reach a half-gone
   * window. */
  if (self->settings != NULL)
    g_signal_handlers_disconnect_by_data (self->settings, self);
  g_clear_object (&self->settings);
  G_OBJECT_CLASS (fz_settings_window_parent_class)->dispose (object);
}

static void
fz_settings_window_set_property (GObject *object, guint id, const GValue *value,
                                 GParamSpec *pspec)
{
  FzSettingsWindow *self = FZ_SETTINGS_WINDOW (object);

  switch (id)
    {
    case PROP_SETTINGS: self->settings = g_value_dup_object (value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
    }
}

static void
bind_children (GtkWidgetClass *widget_class)
{
  gtk_widget_class_bind_template_child (widget_class, FzSettingsWindow, autostart_error);
  gtk_widget_class_bind_template_child (widget_class, FzSettingsWindow, account_slug);
  gtk_widget_class_bind_template_child (widget_class, FzSettingsWindow, auth_url);
  gtk_widget_class_bind_template_child (widget_class, FzSettingsWindow, api_url);
  gtk_widget_class_bind_template_child (widget_class, FzSettingsWindow,
                                        account_slug_error);
  gtk_widget_class_bind_template_child (widget_class, FzSettingsWindow, auth_url_error);
  gtk_widget_class_bind_template_child (widget_class, FzSettingsWindow, api_url_error);
  gtk_widget_class_bind_template_child (widget_class, FzSettingsWindow, start_on_login);
  gtk_widget_class_bind_template_child (widget_class, FzSettingsWindow, connect_on_start);
  gtk_widget_class_bind_template_child (widget_class, FzSettingsWindow, log_filter);
  gtk_widget_class_bind_template_callback (widget_class, on_reset_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_close_clicked);
}

static void
fz_settings_window_class_init (FzSettingsWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = fz_settings_window_constructed;
  object_class->dispose = fz_settings_window_dispose;
  object_class->set_property = fz_settings_window_set_property;
  widget_class->delete_event = fz_settings_window_delete_event;

  props[PROP_SETTINGS] = g_param_spec_object ("settings", NULL, NULL, G_TYPE_SETTINGS,
                                              G_PARAM_WRITABLE | G_PARAM_CONSTRUCT_ONLY
                                                | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);

  /* Named so the linker keeps the resource's object file (and with it
   * the constructor that registers the bundle) in this static library's
   * users. */
  (void) fz_gui_windows_get_resource ();
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/dev/libfz/Client/fz-settings-window.ui");
  bind_children (widget_class);
}

static void
fz_settings_window_init (FzSettingsWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

FzSettingsWindow *
fz_settings_window_new (GtkApplication *app, GSettings *settings)
{
  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);
  return g_object_new (FZ_TYPE_SETTINGS_WINDOW, "application", app, "settings", settings,
                       NULL);
}
