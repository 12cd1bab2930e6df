/* A minimal tray application for the gui suite: one AppIndicator with a
 * small GtkMenu, so a test can check that a desktop shell (tests/gui/
 * fake-shell) reads and drives such a menu over D-Bus before fz-gui
 * exists. Activating "Say _Hello" prints "activated: hello" on stdout;
 * "connection: registered" and "connection: lost" follow the watcher.
 */
#include <libayatana-appindicator/app-indicator.h>

#include <gtk/gtk.h>
#include <stdio.h>

static void
on_hello (GtkMenuItem *item, gpointer user_data)
{
  (void) item;
  (void) user_data;
  printf ("activated: hello\n");
  fflush (stdout);
}

static void
on_sub (GtkMenuItem *item, gpointer user_data)
{
  (void) item;
  (void) user_data;
  printf ("activated: sub\n");
  fflush (stdout);
}

static void
on_quit (GtkMenuItem *item, gpointer user_data)
{
  (void) item;
  (void) user_data;
  printf ("activated: quit\n");
  fflush (stdout);
  gtk_main_quit ();
}

/* A watcher took the item (TRUE), or went away and the library fell back
 * to a GtkStatusIcon (FALSE): how an app learns that no shell shows it. */
static void
on_connection_changed (AppIndicator *indicator, gboolean connected, gpointer user_data)
{
  (void) indicator;
  (void) user_data;
  printf ("connection: %s\n", connected ? "registered" : "lost");
  fflush (stdout);
}

static GtkWidget *
append_item (GtkWidget *menu, const char *label, GCallback cb)
{
  GtkWidget *item = gtk_menu_item_new_with_mnemonic (label);
  if (cb)
    g_signal_connect (item, "activate", cb, NULL);
  gtk_menu_shell_append (GTK_MENU_SHELL (menu), item);
  return item;
}

static GtkWidget *
build_menu (void)
{
  GtkWidget *menu = gtk_menu_new ();
  GtkWidget *status = append_item (menu, "Probe status: idle", NULL);
  gtk_widget_set_sensitive (status, FALSE);
  append_item (menu, "Say _Hello", G_CALLBACK (on_hello));

  GtkWidget *more = append_item (menu, "_More", NULL);
  GtkWidget *sub = gtk_menu_new ();
  append_item (sub, "Sub item", G_CALLBACK (on_sub));
  gtk_menu_item_set_submenu (GTK_MENU_ITEM (more), sub);

  gtk_menu_shell_append (GTK_MENU_SHELL (menu), gtk_separator_menu_item_new ());
  append_item (menu, "_Quit", G_CALLBACK (on_quit));
  gtk_widget_show_all (menu);
  return menu;
}

int
main (int argc, char **argv)
{
  gtk_init (&argc, &argv);

  AppIndicator *indicator = app_indicator_new ("fz-tray-probe", "network-vpn",
                                               APP_INDICATOR_CATEGORY_APPLICATION_STATUS);
  app_indicator_set_title (indicator, "libfz tray probe");
  app_indicator_set_menu (indicator, GTK_MENU (build_menu ()));
  g_signal_connect (indicator, APP_INDICATOR_SIGNAL_CONNECTION_CHANGED,
                    G_CALLBACK (on_connection_changed), NULL);
  app_indicator_set_status (indicator, APP_INDICATOR_STATUS_ACTIVE);

  printf ("ready\n");
  fflush (stdout);
  gtk_main ();
  g_object_unref (indicator);
  return 0;
}
