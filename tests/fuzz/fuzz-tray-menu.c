/* Any bytes as the service's Resources (aa{sv}, as GDBus would hand a
 * checked but possibly non-normal serialisation over), with the
 * Internet resource on or off and a favourite: the tray's menu is built
 * and printed, and every label it shows is one line of at most
 * FZ_TRAY_LABEL_MAX characters. */
#include "fz-tray-menu.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_labels (GMenuModel *model)
{
  for (int i = 0; i < g_menu_model_get_n_items (model); i++)
    {
      g_autofree char *label = NULL;
      g_autoptr (GMenuModel) section = g_menu_model_get_item_link (model, i, "section");
      g_autoptr (GMenuModel) sub = g_menu_model_get_item_link (model, i, "submenu");

      if (g_menu_model_get_item_attribute (model, i, "label", "s", &label))
        {
          if (!g_utf8_validate (label, -1, NULL)
              || g_utf8_strlen (label, -1) > FZ_TRAY_LABEL_MAX)
            abort ();
          for (const char *p = label; *p; p++)
            if ((guchar) *p < 0x20 || *p == 0x7f)
              abort ();
        }
      if (section != NULL)
        check_labels (section);
      if (sub != NULL)
        check_labels (sub);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  gboolean internet = size > 0 && (data[0] & 1);
  g_autoptr (GBytes) bytes
    = g_bytes_new (size > 0 ? data + 1 : data, size > 0 ? size - 1 : 0);
  g_autoptr (GVariant) list = g_variant_ref_sink (
    g_variant_new_from_bytes (G_VARIANT_TYPE ("aa{sv}"), bytes, FALSE));
  const char *favorites[] = { "r1", "", NULL };
  FzTrayView view = { .phase = FZ_TRAY_SIGNED_IN,
                      .actor_name = "fuzz",
                      .resources = list,
                      .favorites = favorites,
                      .internet_enabled = internet };
  g_autoptr (GMenuModel) menu = fz_tray_menu_build (&view);
  g_autofree char *dump = fz_tray_menu_dump (menu);

  check_labels (menu);
  if (dump == NULL)
    abort ();
  return 0;
}
