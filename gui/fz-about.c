#include "fz-about.h"

#include <glib/gi18n.h>

static GtkWidget *about_dialog;

static GtkWidget *
about_new (void)
{
  return g_object_new (
    GTK_TYPE_ABOUT_DIALOG, "program-name", _ ("libfz Client"), "version", PROJECT_VERSION,
    "comments",
    _ ("A Firezone-compatible client: signs in through your browser and "
       "reaches your organisation’s resources over WireGuard."),
    "license-type", GTK_LICENSE_APACHE_2_0, "website", "https://www.firezone.dev",
    "website-label", _ ("Firezone"), "logo-icon-name", "dev.libfz.Client", NULL);
}

void
fz_about_show (GtkWindow *parent_or_null)
{
  if (about_dialog == NULL)
    {
      about_dialog = about_new ();
      g_object_add_weak_pointer (G_OBJECT (about_dialog), (gpointer *) &about_dialog);
      /* Close (and Escape) answer with a response; the dialog does not
       * go away by itself. */
      g_signal_connect (about_dialog, "response", G_CALLBACK (gtk_widget_destroy), NULL);
    }
  gtk_window_set_transient_for (GTK_WINDOW (about_dialog), parent_or_null);
  gtk_window_present (GTK_WINDOW (about_dialog));
}
