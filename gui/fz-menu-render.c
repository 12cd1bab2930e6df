#include "fz-menu-render.h"

typedef struct
{
  GActionGroup *actions;
  char *name;
  GVariant *target;
} Activation;

static void
activation_free (gpointer data, GClosure *closure)
{
  Activation *a = data;

  g_object_unref (a->actions);
  g_free (a->name);
  g_clear_pointer (&a->target, g_variant_unref);
  g_free (a);
}

static void
on_activate (GtkMenuItem *item, gpointer data)
{
  Activation *a = data;

  if (g_action_group_get_action_enabled (a->actions, a->name))
    g_action_group_activate_action (a->actions, a->name, a->target);
}

static GtkWidget *
make_item (GMenuModel *model, int i, GActionGroup *actions)
{
  g_autofree char *label = NULL;
  g_autofree char *action = NULL;
  g_autoptr (GMenuModel) sub = g_menu_model_get_item_link (model, i, G_MENU_LINK_SUBMENU);
  GtkWidget *item;

  g_menu_model_get_item_attribute (model, i, G_MENU_ATTRIBUTE_LABEL, "s", &label);
  item = gtk_menu_item_new_with_label (label ? label : "");
  if (sub != NULL)
    {
      gtk_menu_item_set_submenu (GTK_MENU_ITEM (item), fz_menu_render (sub, actions));
      return item;
    }
  if (!g_menu_model_get_item_attribute (model, i, G_MENU_ATTRIBUTE_ACTION, "s", &action))
    {
      gtk_widget_set_sensitive (item, FALSE);
      return item;
    }
  Activation *a = g_new0 (Activation, 1);
  a->actions = g_object_ref (actions);
  a->name = g_strdup (g_str_has_prefix (action, "app.") ? action + 4 : action);
  a->target
    = g_menu_model_get_item_attribute_value (model, i, G_MENU_ATTRIBUTE_TARGET, NULL);
  gtk_widget_set_sensitive (item, g_action_group_get_action_enabled (actions, a->name));
  g_signal_connect_data (item, "activate", G_CALLBACK (on_activate), a, activation_free,
                         0);
  return item;
}

/* Sections are flattened into @menu, with a separator between two that
 * have items (made only once the next item comes). */
typedef struct
{
  guint n_items;
  gboolean separator_due;
} Walk;

static void
render_into (GtkMenuShell *menu, GMenuModel *model, GActionGroup *actions, Walk *w)
{
  for (int i = 0; i < g_menu_model_get_n_items (model); i++)
    {
      g_autoptr (GMenuModel) section
        = g_menu_model_get_item_link (model, i, G_MENU_LINK_SECTION);
      if (section != NULL)
        {
          w->separator_due = w->n_items > 0;
          render_into (menu, section, actions, w);
          w->separator_due = w->n_items > 0;
          continue;
        }
      if (w->separator_due)
        gtk_menu_shell_append (menu, gtk_separator_menu_item_new ());
      w->separator_due = FALSE;
      gtk_menu_shell_append (menu, make_item (model, i, actions));
      w->n_items++;
    }
}

GtkWidget *
fz_menu_render (GMenuModel *model, GActionGroup *actions)
{
  GtkWidget *menu = gtk_menu_new ();
  Walk w = { 0 };

  render_into (GTK_MENU_SHELL (menu), model, actions, &w);
  gtk_widget_show_all (menu);
  return menu;
}
