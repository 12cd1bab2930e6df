#include "fzctl-format.h"

#include <string.h>

/* Names listed in a "Resources" value before it says how many more. */
#define NAMES_SHOWN 6

static const struct
{
  const char *name, *label, *key, *type;
} known[] = {
  { "State", "State", "state", "s" },
  { "InternetResourceEnabled", "Internet resource", "internet_resource_enabled", "b" },
  { "TunnelAddresses", "Tunnel addresses", "tunnel_addresses", "as" },
  { "Resources", "Resources", "resources", "aa{sv}" },
  { "LastError", "Last error", "last_error", "s" },
  { "DeviceId", "Device id", "device_id", "s" },
  { "Version", "Version", "version", "s" },
};

const char *const fzctl_properties[] = {
  "State",           "InternetResourceEnabled",
  "TunnelAddresses", "Resources",
  "LastError",       "DeviceId",
  "Version",         NULL,
};

/* The resource keys, in JSON's order; all strings but the last. */
static const char *const resource_keys[] = {
  "id",
  "name",
  "type",
  "address",
  "address_description",
  "site_name",
  "site_status",
  "can_be_disabled",
};

static int
find (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (known); i++)
    if (g_strcmp0 (known[i].name, name) == 0)
      return (int) i;
  return -1;
}

const char *
fzctl_property_label (const char *name)
{
  int i = find (name);
  return i < 0 ? NULL : known[i].label;
}

const char *
fzctl_property_key (const char *name)
{
  int i = find (name);
  return i < 0 ? NULL : known[i].key;
}

/* @value if it has property @i's type. */
static gboolean
typed (int i, GVariant *value)
{
  return i >= 0 && value != NULL
         && g_variant_is_of_type (value, G_VARIANT_TYPE (known[i].type));
}

char *
fzctl_sanitize (const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text, -1);
  GString *out = g_string_sized_new (strlen (valid));

  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      GUnicodeType type = g_unichar_type (c);

      if (g_unichar_iscntrl (c) || type == G_UNICODE_FORMAT
          || type == G_UNICODE_LINE_SEPARATOR || type == G_UNICODE_PARAGRAPH_SEPARATOR)
        g_string_append_c (out, '?');
      else
        g_string_append_unichar (out, c);
    }
  return g_string_free (out, FALSE);
}

/* Resource @r's string @key, or NULL. */
static const char *
resource_string (GVariant *r, const char *key)
{
  const char *s = NULL;

  if (!g_variant_lookup (r, key, "&s", &s))
    return NULL;
  return s;
}

static int
compare_resources (gconstpointer a, gconstpointer b)
{
  GVariant *ra = *(GVariant *const *) a, *rb = *(GVariant *const *) b;
  int c = g_strcmp0 (resource_string (ra, "name"), resource_string (rb, "name"));

  return c != 0 ? c : g_strcmp0 (resource_string (ra, "id"), resource_string (rb, "id"));
}

/* The resources of @resources (aa{sv}) sorted by name, then id. */
static GPtrArray *
sorted_resources (GVariant *resources)
{
  GPtrArray *all = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  gsize n = resources != NULL ? g_variant_n_children (resources) : 0;

  for (gsize i = 0; i < n; i++)
    g_ptr_array_add (all, g_variant_get_child_value (resources, i));
  g_ptr_array_sort (all, compare_resources);
  return all;
}

static char *
format_resources_brief (GVariant *resources)
{
  g_autoptr (GPtrArray) all = sorted_resources (resources);
  GString *out;

  if (all->len == 0)
    return g_strdup ("none");
  out = g_string_new (NULL);
  g_string_append_printf (out, "%u (", all->len);
  for (guint i = 0; i < all->len && i < NAMES_SHOWN; i++)
    {
      const char *name = resource_string (all->pdata[i], "name");
      g_autofree char *safe = fzctl_sanitize (name != NULL ? name : "?");
      g_string_append_printf (out, "%s%s", i > 0 ? ", " : "", safe);
    }
  if (all->len > NAMES_SHOWN)
    g_string_append_printf (out, ", %u more", all->len - NAMES_SHOWN);
  g_string_append_c (out, ')');
  return g_string_free (out, FALSE);
}

char *
fzctl_format_value (const char *name, GVariant *value)
{
  int i = find (name);
  const char *s;

  if (!typed (i, value))
    return NULL;
  if (g_str_equal (known[i].type, "b"))
    return g_strdup (g_variant_get_boolean (value) ? "on" : "off");
  if (g_str_equal (known[i].type, "aa{sv}"))
    return format_resources_brief (value);
  if (g_str_equal (known[i].type, "as"))
    {
      g_autofree const char **strv = g_variant_get_strv (value, NULL);
      g_autofree char *joined = g_strjoinv (", ", (char **) strv);
      return fzctl_sanitize (strv[0] != NULL ? joined : "none");
    }
  s = g_variant_get_string (value, NULL);
  if (s[0] == '\0')
    return g_strdup (g_str_equal (name, "LastError") ? "none" : "-");
  return fzctl_sanitize (s);
}

char *
fzctl_format_status (GVariant *props)
{
  GString *out = g_string_new (NULL);
  int width = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (known); i++)
    width = MAX (width, (int) strlen (known[i].label) + 1);
  for (gsize i = 0; i < G_N_ELEMENTS (known); i++)
    {
      g_autoptr (GVariant) value = g_variant_lookup_value (props, known[i].name, NULL);
      g_autofree char *text = fzctl_format_value (known[i].name, value);
      g_autofree char *label = g_strconcat (known[i].label, ":", NULL);

      g_string_append_printf (out, "%-*s %s\n", width, label,
                              text != NULL ? text : "unknown");
    }
  return g_string_free (out, FALSE);
}

/* ---- the resource table ---------------------------------------------- */

#define N_COLUMNS 5

static const char *const column_titles[N_COLUMNS] = {
  "NAME", "TYPE", "ADDRESS", "SITE", "STATUS",
};
static const char *const column_keys[N_COLUMNS] = {
  "name", "type", "address", "site_name", "site_status",
};

/* @text padded with spaces to @width characters (not bytes). */
static void
append_cell (GString *out, const char *text, long width, gboolean last)
{
  g_string_append (out, text);
  if (last)
    return;
  for (long pad = width - g_utf8_strlen (text, -1) + 2; pad > 0; pad--)
    g_string_append_c (out, ' ');
}

char *
fzctl_format_resources (GVariant *resources)
{
  g_autoptr (GPtrArray) all = sorted_resources (resources);
  g_autoptr (GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);
  long width[N_COLUMNS];
  GString *out;

  if (all->len == 0)
    return g_strdup ("No resources.\n");
  for (int c = 0; c < N_COLUMNS; c++)
    {
      width[c] = (long) strlen (column_titles[c]);
      g_ptr_array_add (cells, g_strdup (column_titles[c]));
    }
  for (guint r = 0; r < all->len; r++)
    for (int c = 0; c < N_COLUMNS; c++)
      {
        const char *s = resource_string (all->pdata[r], column_keys[c]);
        char *cell = fzctl_sanitize (s != NULL && s[0] != '\0' ? s : "-");

        width[c] = MAX (width[c], g_utf8_strlen (cell, -1));
        g_ptr_array_add (cells, cell);
      }
  out = g_string_new (NULL);
  for (guint i = 0; i < cells->len; i++)
    {
      int c = (int) (i % N_COLUMNS);

      append_cell (out, cells->pdata[i], width[c], c == N_COLUMNS - 1);
      if (c == N_COLUMNS - 1)
        g_string_append_c (out, '\n');
    }
  return g_string_free (out, FALSE);
}

/* ---- JSON -------------------------------------------------------------- */

static JsonNode *
resource_to_json (GVariant *r)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  gboolean flag;

  json_builder_begin_object (b);
  for (gsize k = 0; k < G_N_ELEMENTS (resource_keys); k++)
    {
      const char *s;

      json_builder_set_member_name (b, resource_keys[k]);
      if (g_str_equal (resource_keys[k], "can_be_disabled"))
        {
          if (g_variant_lookup (r, "can_be_disabled", "b", &flag))
            json_builder_add_boolean_value (b, flag);
          else
            json_builder_add_null_value (b);
        }
      else if ((s = resource_string (r, resource_keys[k])) != NULL)
        json_builder_add_string_value (b, s);
      else
        json_builder_add_null_value (b);
    }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
fzctl_resources_to_json (GVariant *resources)
{
  g_autoptr (GPtrArray) all = sorted_resources (resources);
  JsonArray *array = json_array_sized_new (all->len);
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);

  for (guint i = 0; i < all->len; i++)
    json_array_add_element (array, resource_to_json (all->pdata[i]));
  json_node_take_array (node, array);
  return node;
}

JsonNode *
fzctl_value_to_json (const char *name, GVariant *value)
{
  int i = find (name);
  JsonNode *node;

  if (!typed (i, value))
    return json_node_new (JSON_NODE_NULL);
  if (g_str_equal (known[i].type, "aa{sv}"))
    return fzctl_resources_to_json (value);
  if (g_str_equal (known[i].type, "as"))
    {
      g_autofree const char **strv = g_variant_get_strv (value, NULL);
      JsonArray *array = json_array_new ();

      for (gsize k = 0; strv[k] != NULL; k++)
        json_array_add_string_element (array, strv[k]);
      node = json_node_new (JSON_NODE_ARRAY);
      json_node_take_array (node, array);
      return node;
    }
  node = json_node_new (JSON_NODE_VALUE);
  if (g_str_equal (known[i].type, "b"))
    json_node_set_boolean (node, g_variant_get_boolean (value));
  else
    json_node_set_string (node, g_variant_get_string (value, NULL));
  return node;
}

JsonNode *
fzctl_status_to_json (GVariant *props)
{
  JsonObject *object = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  for (gsize i = 0; i < G_N_ELEMENTS (known); i++)
    {
      g_autoptr (GVariant) value = g_variant_lookup_value (props, known[i].name, NULL);
      json_object_set_member (object, known[i].key,
                              fzctl_value_to_json (known[i].name, value));
    }
  json_node_take_object (node, object);
  return node;
}

char *
fzctl_json_line (JsonNode *node)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autofree char *text = NULL;

  json_generator_set_root (gen, node);
  text = json_generator_to_data (gen, NULL);
  return g_strconcat (text, "\n", NULL);
}
