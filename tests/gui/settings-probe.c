/* Opens one of fz-gui's windows alone, for the gui suite:
 *
 *   settings-probe settings [PAGE [WIDGET]]   the settings window, on
 *                                             notebook page PAGE, with the
 *                                             named widget focused
 *   settings-probe about                      the About dialog
 *
 * Prints "shown" once the window has been painted, "changed KEY=VALUE"
 * for every settings change, the state of the named widgets on SIGUSR1
 * (ending with "dump end"), "closed" when the settings window goes, and
 * exits on SIGTERM. Settings come from the environment
 * (GSETTINGS_SCHEMA_DIR, GSETTINGS_BACKEND). */
#include "fz-about.h"
#include "fz-settings-window.h"

#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct
{
  const char *what;
  int page;
  const char *focus;
  GSettings *settings;
  GtkWindow *window;
} Probe;

/* The first descendant (or w) with this widget name: the template names
 * the widgets a test needs. */
static GtkWidget *
find_named (GtkWidget *w, const char *name)
{
  GtkWidget *found = NULL;
  GList *children;

  if (g_str_equal (gtk_widget_get_name (w), name))
    return w;
  if (!GTK_IS_CONTAINER (w))
    return NULL;
  children = gtk_container_get_children (GTK_CONTAINER (w));
  for (GList *l = children; l != NULL && found == NULL; l = l->next)
    found = find_named (l->data, name);
  g_list_free (children);
  return found;
}

static void
dump_widget (GtkWidget *w)
{
  const char *name = gtk_widget_get_name (w);
  GtkStyleContext *style = gtk_widget_get_style_context (w);

  if (GTK_IS_ENTRY (w))
    printf ("widget %s text=%s error=%d\n", name, gtk_entry_get_text (GTK_ENTRY (w)),
            gtk_style_context_has_class (style, GTK_STYLE_CLASS_ERROR));
  else if (GTK_IS_SWITCH (w))
    printf ("widget %s active=%d\n", name, gtk_switch_get_active (GTK_SWITCH (w)));
  else if (GTK_IS_COMBO_BOX (w))
    printf ("widget %s id=%s\n", name, gtk_combo_box_get_active_id (GTK_COMBO_BOX (w)));
  else if (GTK_IS_LABEL (w) && g_str_has_suffix (name, "-error"))
    printf ("widget %s visible=%d text=%s\n", name, gtk_widget_get_visible (w),
            gtk_label_get_text (GTK_LABEL (w)));
}

static void
walk (GtkWidget *w, gpointer user_data)
{
  dump_widget (w);
  if (GTK_IS_CONTAINER (w))
    gtk_container_forall (GTK_CONTAINER (w), walk, user_data);
}

static gboolean
on_sigusr1 (gpointer user_data)
{
  Probe *p = user_data;

  if (p->window != NULL)
    walk (GTK_WIDGET (p->window), NULL);
  printf ("dump end\n");
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sigterm (gpointer user_data)
{
  g_application_quit (G_APPLICATION (user_data));
  return G_SOURCE_REMOVE;
}

static void
on_changed (GSettings *settings, const char *key, gpointer user_data)
{
  g_autoptr (GVariant) v = g_settings_get_value (settings, key);
  g_autofree char *text = g_variant_print (v, FALSE);

  printf ("changed %s=%s\n", key, text);
}

/* After the first paint, not at map: a screenshot then has content. */
static void
on_after_paint (GdkFrameClock *clock, gpointer user_data)
{
  g_signal_handlers_disconnect_by_func (clock, on_after_paint, user_data);
  printf ("shown\n");
}

static gboolean
on_map_event (GtkWidget *w, GdkEvent *event, gpointer user_data)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock (w);

  g_signal_connect (clock, "after-paint", G_CALLBACK (on_after_paint), NULL);
  gtk_widget_queue_draw (w);
  return GDK_EVENT_PROPAGATE;
}

static void
on_destroy (GtkWidget *w, gpointer user_data)
{
  Probe *p = user_data;

  p->window = NULL;
  printf ("closed\n");
}

static void
open_settings (GtkApplication *app, Probe *p)
{
  GtkWidget *focus;

  p->window = GTK_WINDOW (fz_settings_window_new (app, p->settings));
  g_signal_connect (p->window, "destroy", G_CALLBACK (on_destroy), p);
  gtk_notebook_set_current_page (
    GTK_NOTEBOOK (find_named (GTK_WIDGET (p->window), "pages")), p->page);
  focus = p->focus != NULL ? find_named (GTK_WIDGET (p->window), p->focus) : NULL;
  if (p->focus != NULL && focus == NULL)
    g_error ("no widget named %s", p->focus);
  if (focus != NULL)
    gtk_window_set_focus (p->window, focus);
}

static void
on_activate (GtkApplication *app, gpointer user_data)
{
  Probe *p = user_data;

  if (g_str_equal (p->what, "settings"))
    open_settings (app, p);
  else
    {
      fz_about_show (NULL);
      for (GList *l = gtk_window_list_toplevels (); l != NULL;
           l = g_list_delete_link (l, l))
        if (GTK_IS_ABOUT_DIALOG (l->data))
          p->window = l->data;
      /* Not the app's window: without a hold the app would end at once. */
      g_application_hold (G_APPLICATION (app));
    }
  g_signal_connect (p->window, "map-event", G_CALLBACK (on_map_event), NULL);
  gtk_window_present (p->window);
}

int
main (int argc, char **argv)
{
  Probe p = { 0 };
  g_autoptr (GtkApplication) app = NULL;
  int rc;

  setvbuf (stdout, NULL, _IOLBF, 0);
  if (argc < 2 || (!g_str_equal (argv[1], "settings") && !g_str_equal (argv[1], "about")))
    {
      fprintf (stderr, "usage: %s settings [PAGE [WIDGET]] | about\n", argv[0]);
      return 2;
    }
  p.what = argv[1];
  p.page = argc > 2 ? atoi (argv[2]) : 0;
  p.focus = argc > 3 ? argv[3] : NULL;
  p.settings = g_settings_new ("dev.libfz.Client");
  g_signal_connect (p.settings, "changed", G_CALLBACK (on_changed), NULL);

  app = gtk_application_new ("dev.libfz.Client.SettingsProbe", G_APPLICATION_NON_UNIQUE);
  /* As fz-gui (id dev.libfz.Client) gets by default: the icons in the
   * windows' resource under /dev/libfz/Client/icons. */
  g_application_set_resource_base_path (G_APPLICATION (app), "/dev/libfz/Client");
  g_signal_connect (app, "activate", G_CALLBACK (on_activate), &p);
  g_unix_signal_add (SIGTERM, on_sigterm, app);
  g_unix_signal_add (SIGUSR1, on_sigusr1, &p);
  rc = g_application_run (G_APPLICATION (app), 1, argv);
  g_clear_object (&p.settings);
  return rc;
}
