#include "fz-tray-menu.h"

#include <glib/gi18n-lib.h>
#include <string.h>

/* One resource of the service's list, borrowed from its GVariant. */
typedef struct
{
  const char *id;
  const char *name;
  const char *type;
  const char *address;
  const char *description;
  const char *site_name;
  const char *site_status;
  gboolean can_be_disabled; /* the portal lets the user switch it off */
} Resource;

static const char *
lookup_str (GVariant *dict, const char *key)
{
  const char *s = NULL;

  if (!g_variant_lookup (dict, key, "&s", &s) || *s == '\0')
    return NULL;
  return s;
}

static gboolean
is_internet (const Resource *r)
{
  return g_strcmp0 (r->type, "internet") == 0;
}

/* The Internet resource first, then by name as people read it, case
 * aside. */
static gint
resource_order (gconstpointer a, gconstpointer b)
{
  const Resource *ra = a, *rb = b;

  if (is_internet (ra) != is_internet (rb))
    return is_internet (ra) ? -1 : 1;
  g_autofree char *fa = g_utf8_casefold (ra->name, -1);
  g_autofree char *fb = g_utf8_casefold (rb->name, -1);
  int c = g_utf8_collate (fa, fb);
  return c != 0 ? c : strcmp (ra->id, rb->id);
}

static GArray *
parse_resources (GVariant *list)
{
  GArray *out = g_array_new (FALSE, TRUE, sizeof (Resource));

  if (list == NULL || !g_variant_is_of_type (list, G_VARIANT_TYPE ("aa{sv}")))
    return out;
  for (gsize i = 0; i < g_variant_n_children (list); i++)
    {
      g_autoptr (GVariant) d = g_variant_get_child_value (list, i);
      Resource r = {
        .id = lookup_str (d, "id"),
        .name = lookup_str (d, "name"),
        .type = lookup_str (d, "type"),
        .address = lookup_str (d, "address"),
        .description = lookup_str (d, "address_description"),
        .site_name = lookup_str (d, "site_name"),
        .site_status = lookup_str (d, "site_status"),
        .can_be_disabled = TRUE,
      };
      g_variant_lookup (d, "can_be_disabled", "b", &r.can_be_disabled);
      /* The children live as long as @list: the strings stay valid. */
      if (r.id == NULL || r.name == NULL)
        continue;
      g_array_append_val (out, r);
    }
  g_array_sort (out, resource_order);
  return out;
}

/* A label as a menu can show it: one line (control characters from the
 * portal become spaces), cut at FZ_TRAY_LABEL_MAX characters. */
static char *
shorten (const char *text)
{
  g_autofree char *line = g_strdup (text);

  for (char *p = line; *p; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      *p = ' ';
  if (g_utf8_strlen (line, -1) <= FZ_TRAY_LABEL_MAX)
    return g_steal_pointer (&line);
  g_autofree char *head = g_utf8_substring (line, 0, FZ_TRAY_LABEL_MAX - 1);
  return g_strconcat (head, "…", NULL);
}

static void
append_info (GMenu *menu, const char *label)
{
  g_autofree char *shown = shorten (label);
  g_menu_append (menu, shown, NULL);
}

static void
append_action (GMenu *menu, const char *label, const char *action, GVariant *target)
{
  g_autofree char *shown = shorten (label);
  g_autoptr (GMenuItem) item = g_menu_item_new (shown, NULL);

  g_menu_item_set_action_and_target_value (item, action, target);
  g_menu_append_item (menu, item);
}

/* A copy item: its label is what goes to the clipboard. */
static void
append_copy (GMenu *menu, const char *text)
{
  append_action (menu, text, "app.copy", g_variant_new_string (text));
}

gboolean
fz_tray_is_openable_url (const char *text)
{
  g_autoptr (GUri) uri = NULL;

  if (text == NULL || strlen (text) > 2048)
    return FALSE;
  uri = g_uri_parse (text, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0')
    return FALSE;
  return g_strcmp0 (g_uri_get_scheme (uri), "http") == 0
         || g_strcmp0 (g_uri_get_scheme (uri), "https") == 0;
}

static const char *
site_status_label (const char *status)
{
  if (g_strcmp0 (status, "online") == 0)
    return _ ("Gateway connected");
  if (g_strcmp0 (status, "offline") == 0)
    return _ ("All Gateways offline");
  return _ ("No activity");
}

static void
append_section (GMenu *menu, GMenu *section)
{
  if (g_menu_model_get_n_items (G_MENU_MODEL (section)) > 0)
    g_menu_append_section (menu, NULL, G_MENU_MODEL (section));
}

static GMenu *
site_section (const Resource *r)
{
  GMenu *site = g_menu_new ();

  if (r->site_name == NULL)
    return site;
  append_info (site, _ ("Site"));
  append_copy (site, r->site_name);
  append_info (site, site_status_label (r->site_status));
  return site;
}

static GMenu *
favorite_section (const Resource *r, gboolean favorite)
{
  GMenu *fav = g_menu_new ();

  append_action (fav, favorite ? _ ("Remove from favorites") : _ ("Add to favorites"),
                 favorite ? "app.unfavorite" : "app.favorite",
                 g_variant_new_string (r->id));
  return fav;
}

static GMenu *
internet_submenu (const Resource *r, gboolean enabled)
{
  GMenu *sub = g_menu_new ();
  g_autoptr (GMenu) state = g_menu_new ();
  g_autoptr (GMenu) site = site_section (r);

  append_info (state, r->description ? r->description : _ ("All network traffic"));
  append_info (state, enabled ? _ ("Enabled") : _ ("Disabled"));
  /* Switched on by the administrator for good: nothing to offer. */
  if (r->can_be_disabled || !enabled)
    append_action (state,
                   enabled ? _ ("Disable this resource") : _ ("Enable this resource"),
                   "app.internet", g_variant_new_boolean (!enabled));
  append_section (sub, state);
  append_section (sub, site);
  return sub;
}

static GMenu *
resource_submenu (const Resource *r, gboolean favorite)
{
  GMenu *sub = g_menu_new ();
  g_autoptr (GMenu) top = g_menu_new ();
  g_autoptr (GMenu) what = g_menu_new ();
  g_autoptr (GMenu) fav = favorite_section (r, favorite);
  g_autoptr (GMenu) site = site_section (r);

  if (r->description != NULL && fz_tray_is_openable_url (r->description))
    append_action (top, r->description, "app.open-url",
                   g_variant_new_string (r->description));
  else if (r->description != NULL)
    append_copy (top, r->description);
  append_info (what, _ ("Resource"));
  append_copy (what, r->name);
  if (r->address != NULL)
    append_copy (what, r->address);
  append_section (sub, top);
  append_section (sub, what);
  append_section (sub, fav);
  append_section (sub, site);
  return sub;
}

static void
append_resource (GMenu *menu, const Resource *r, gboolean favorite, gboolean internet_on)
{
  g_autoptr (GMenu) sub = NULL;
  g_autofree char *label = NULL;

  if (is_internet (r))
    {
      sub = internet_submenu (r, internet_on);
      label = g_strdup_printf ("%s — %s", r->name,
                               internet_on ? _ ("enabled") : _ ("disabled"));
    }
  else
    {
      sub = resource_submenu (r, favorite);
      label = g_strdup (r->name);
    }
  g_autofree char *shown = shorten (label);
  g_menu_append_submenu (menu, shown, G_MENU_MODEL (sub));
}

static void
append_resources (GMenu *menu, const FzTrayView *view)
{
  g_autoptr (GArray) list = parse_resources (view->resources);
  g_autoptr (GMenu) section = g_menu_new ();
  g_autoptr (GMenu) others = g_menu_new ();
  guint n_fav = 0;

  for (guint i = 0; i < list->len; i++)
    {
      const Resource *r = &g_array_index (list, Resource, i);
      if (view->favorites && g_strv_contains (view->favorites, r->id))
        n_fav++;
    }
  append_info (section, n_fav > 0 ? _ ("Favorite Resources") : _ ("Resources"));
  if (list->len == 0)
    append_info (section, _ ("No resources"));
  for (guint i = 0; i < list->len; i++)
    {
      const Resource *r = &g_array_index (list, Resource, i);
      gboolean fav = view->favorites && g_strv_contains (view->favorites, r->id);
      if (n_fav == 0 || fav || is_internet (r))
        append_resource (section, r, fav, view->internet_enabled);
      else
        append_resource (others, r, FALSE, view->internet_enabled);
    }
  if (g_menu_model_get_n_items (G_MENU_MODEL (others)) > 0)
    g_menu_append_submenu (section, _ ("Other Resources"), G_MENU_MODEL (others));
  append_section (menu, section);
}

static void
append_status (GMenu *menu, const FzTrayView *view)
{
  g_autoptr (GMenu) s = g_menu_new ();
  g_autofree char *who = NULL;

  switch (view->phase)
    {
    case FZ_TRAY_LOADING: append_info (s, _ ("Loading…")); break;
    case FZ_TRAY_SIGNED_OUT: append_action (s, _ ("Sign In"), "app.sign-in", NULL); break;
    case FZ_TRAY_WAITING_FOR_BROWSER:
      append_info (s, _ ("Waiting for browser…"));
      append_action (s, _ ("Cancel sign-in"), "app.cancel-sign-in", NULL);
      break;
    case FZ_TRAY_CONNECTING:
      append_info (s, _ ("Connecting to portal…"));
      append_action (s, _ ("Cancel sign-in"), "app.cancel-sign-in", NULL);
      break;
    case FZ_TRAY_SIGNED_IN:
      if (view->actor_name != NULL && *view->actor_name != '\0')
        who = g_strdup_printf (_ ("Signed in as %s"), view->actor_name);
      append_info (s, who ? who : _ ("Signed in"));
      append_action (s, _ ("Sign out"), "app.sign-out", NULL);
      break;
    }
  append_section (menu, s);
}

static void
append_bottom (GMenu *menu, const FzTrayView *view)
{
  g_autoptr (GMenu) s = g_menu_new ();
  g_autoptr (GMenu) help = g_menu_new ();

  append_action (s, _ ("About"), "app.about", NULL);
  append_action (s, _ ("Admin Portal…"), "app.admin-portal", NULL);
  append_action (help, _ ("Documentation…"), "app.documentation", NULL);
  append_action (help, _ ("Support…"), "app.support", NULL);
  g_menu_append_submenu (s, _ ("Help"), G_MENU_MODEL (help));
  append_action (s, _ ("Settings"), "app.settings", NULL);
  append_action (
    s, view->phase == FZ_TRAY_SIGNED_IN ? _ ("Disconnect and quit") : _ ("Quit"),
    "app.quit", NULL);
  append_section (menu, s);
}

GMenuModel *
fz_tray_menu_build (const FzTrayView *view)
{
  GMenu *menu = g_menu_new ();

  append_status (menu, view);
  if (view->phase == FZ_TRAY_SIGNED_IN)
    append_resources (menu, view);
  append_bottom (menu, view);
  return G_MENU_MODEL (menu);
}

const char *
fz_tray_icon_name (FzTrayPhase phase)
{
  switch (phase)
    {
    case FZ_TRAY_SIGNED_OUT: return "dev.libfz.Client-signed-out";
    case FZ_TRAY_SIGNED_IN: return "dev.libfz.Client-signed-in";
    case FZ_TRAY_LOADING:
    case FZ_TRAY_WAITING_FOR_BROWSER:
    case FZ_TRAY_CONNECTING:
    default: return "dev.libfz.Client-busy";
    }
}

static void
dump_into (GString *out, GMenuModel *model, guint depth)
{
  for (int i = 0; i < g_menu_model_get_n_items (model); i++)
    {
      g_autofree char *label = NULL;
      g_autofree char *action = NULL;
      g_autoptr (GVariant) target = NULL;
      g_autoptr (GMenuModel) section = g_menu_model_get_item_link (model, i, "section");
      g_autoptr (GMenuModel) sub = g_menu_model_get_item_link (model, i, "submenu");

      g_string_append_printf (out, "%*s", (int) depth * 2, "");
      if (section != NULL)
        {
          g_string_append (out, "--\n");
          dump_into (out, section, depth);
          continue;
        }
      g_menu_model_get_item_attribute (model, i, "label", "s", &label);
      g_string_append (out, label ? label : "");
      g_menu_model_get_item_attribute (model, i, "action", "s", &action);
      target = g_menu_model_get_item_attribute_value (model, i, "target", NULL);
      if (action != NULL)
        {
          g_autofree char *t = target ? g_variant_print (target, FALSE) : NULL;
          g_string_append_printf (out, " [%s%s%s%s]", action, t ? "(" : "", t ? t : "",
                                  t ? ")" : "");
        }
      g_string_append_c (out, '\n');
      if (sub != NULL)
        dump_into (out, sub, depth + 1);
    }
}

char *
fz_tray_menu_dump (GMenuModel *menu)
{
  GString *out = g_string_new (NULL);

  dump_into (out, menu, 0);
  return g_string_free (out, FALSE);
}
