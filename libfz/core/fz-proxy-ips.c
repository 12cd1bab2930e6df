#include "fz-proxy-ips-private.h"

#include "fz-phoenix-frame.h" /* fz_phoenix_json_parse */

#include <json-glib/json-glib.h>
#include <string.h>

/* clang-format off */
G_DEFINE_QUARK (fz-proxy-ips-error-quark, fz_proxy_ips_error)
/* clang-format on */

/* Both ranges hold 2^21 addresses; an address is its range's base plus
 * an offset. */
#define RANGE_SIZE   (1u << 21)
#define V4_BASE      0x64600000u   /* 100.96.0.0/11 */
#define V4_SENTINELS (0x00046f00u) /* 100.100.111.0/24, as an offset */
static const guint8 v6_base[16] = { 0xfd, 0x00, 0x20, 0x21, 0x11, 0x11, 0x80, 0x00 };

enum
{
  V4,
  V6
};

struct _FzProxyIps
{
  GHashTable *by_name; /* name (the mapping's) -> FzProxyIpsMapping, owned */
  GHashTable *by_addr; /* FzIpAddr (in the mapping) -> FzProxyIpsMapping */
  guint32 next[2];     /* the offset to try next, per family */
  guint64 generation;
};

static gboolean
usable (guint family, guint32 off)
{
  if (off == 0 || off >= RANGE_SIZE)
    return FALSE;
  return family == V6 || off < V4_SENTINELS || off >= V4_SENTINELS + 256;
}

static void
addr_at (guint family, guint32 off, FzIpAddr *a)
{
  memset (a, 0, sizeof *a);
  if (family == V4)
    {
      guint32 be = GUINT32_TO_BE (V4_BASE + off);
      a->family = 4;
      memcpy (a->bytes, &be, 4);
      return;
    }
  a->family = 6;
  memcpy (a->bytes, v6_base, 16);
  a->bytes[13] = (guint8) (off >> 16);
  a->bytes[14] = (guint8) (off >> 8);
  a->bytes[15] = (guint8) off;
}

/* The family (V4, V6) and offset of @a, FALSE outside both ranges. */
static gboolean
offset_of (const FzIpAddr *a, guint *family, guint32 *off)
{
  if (a->family == 4)
    {
      guint32 be, v;
      memcpy (&be, a->bytes, 4);
      v = GUINT32_FROM_BE (be);
      *family = V4;
      *off = v - V4_BASE;
      return (v & ~(RANGE_SIZE - 1)) == V4_BASE;
    }
  if (a->family != 6 || memcmp (a->bytes, v6_base, 13) != 0 || (a->bytes[13] & 0xe0) != 0)
    return FALSE;
  *family = V6;
  *off = (guint32) a->bytes[13] << 16 | (guint32) a->bytes[14] << 8 | a->bytes[15];
  return TRUE;
}

gboolean
fz_proxy_ips_in_range (const FzIpAddr *addr)
{
  guint family;
  guint32 off;

  return offset_of (addr, &family, &off);
}

/* Letters, digits, '-' and '_' in labels of 1..63, 253 in all, no final
 * dot. */
static gboolean
name_valid (const char *name)
{
  gsize label = 0, n = 0;

  for (const char *c = name; *c != '\0'; c++, n++)
    {
      if (n >= FZ_PROXY_IPS_NAME_MAX)
        return FALSE;
      if (*c == '.')
        {
          if (label == 0)
            return FALSE;
          label = 0;
        }
      else if (g_ascii_isalnum (*c) || *c == '-' || *c == '_')
        {
          if (++label > 63)
            return FALSE;
        }
      else
        return FALSE;
    }
  return label > 0;
}

/* @name lowercased into @buf; FALSE if it is not a valid name. */
static gboolean
normalise (const char *name, char buf[FZ_PROXY_IPS_NAME_MAX + 1])
{
  gsize n;

  if (name == NULL || !name_valid (name))
    return FALSE;
  n = strlen (name);
  for (gsize i = 0; i <= n; i++)
    buf[i] = g_ascii_tolower (name[i]);
  return TRUE;
}

static void
mapping_free (gpointer data)
{
  FzProxyIpsMapping *m = data;

  g_free (m->name);
  g_free (m);
}

static guint
addr_hash (gconstpointer a)
{
  return fz_ip_addr_hash (a);
}

static gboolean
addr_equal (gconstpointer a, gconstpointer b)
{
  return fz_ip_addr_equal (a, b);
}

FzProxyIps *
fz_proxy_ips_new (void)
{
  FzProxyIps *ips = g_new0 (FzProxyIps, 1);

  ips->by_name = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, mapping_free);
  ips->by_addr = g_hash_table_new (addr_hash, addr_equal);
  ips->next[V4] = ips->next[V6] = 1;
  return ips;
}

void
fz_proxy_ips_free (FzProxyIps *ips)
{
  if (ips == NULL)
    return;
  g_hash_table_unref (ips->by_addr);
  g_hash_table_unref (ips->by_name);
  g_free (ips);
}

guint
fz_proxy_ips_size (const FzProxyIps *ips)
{
  return g_hash_table_size (ips->by_name);
}

guint64
fz_proxy_ips_generation (const FzProxyIps *ips)
{
  return ips->generation;
}

const FzProxyIpsMapping *
fz_proxy_ips_lookup (const FzProxyIps *ips, const char *name)
{
  char key[FZ_PROXY_IPS_NAME_MAX + 1];

  if (!normalise (name, key))
    return NULL;
  return g_hash_table_lookup (ips->by_name, key);
}

const FzProxyIpsMapping *
fz_proxy_ips_lookup_addr (const FzProxyIps *ips, const FzIpAddr *addr)
{
  return g_hash_table_lookup (ips->by_addr, addr);
}

static void
add_mapping (FzProxyIps *ips, FzProxyIpsMapping *m)
{
  g_hash_table_insert (ips->by_name, m->name, m);
  for (guint i = 0; i < FZ_PROXY_IPS_PER_FAMILY; i++)
    {
      g_hash_table_insert (ips->by_addr, &m->ipv4[i], m);
      g_hash_table_insert (ips->by_addr, &m->ipv6[i], m);
    }
}

/* The next FZ_PROXY_IPS_PER_FAMILY usable offsets from *@next, which
 * moves past them; FALSE (and *@next unchanged) if the range ends first. */
static gboolean
take (guint family, guint32 *next, FzIpAddr out[FZ_PROXY_IPS_PER_FAMILY])
{
  guint32 off = *next;

  for (guint i = 0; i < FZ_PROXY_IPS_PER_FAMILY; i++, off++)
    {
      while (off < RANGE_SIZE && !usable (family, off))
        off++;
      if (off >= RANGE_SIZE)
        return FALSE;
      addr_at (family, off, &out[i]);
    }
  *next = off;
  return TRUE;
}

const FzProxyIpsMapping *
fz_proxy_ips_assign (FzProxyIps *ips, const char *name, GError **error)
{
  char key[FZ_PROXY_IPS_NAME_MAX + 1];
  g_autofree FzProxyIpsMapping *m = NULL;
  FzProxyIpsMapping *found;
  guint32 next[2] = { ips->next[V4], ips->next[V6] };

  if (!normalise (name, key))
    {
      g_set_error (error, FZ_PROXY_IPS_ERROR, FZ_PROXY_IPS_ERROR_INVALID_NAME,
                   "not a DNS name of at most %u characters", FZ_PROXY_IPS_NAME_MAX);
      return NULL;
    }
  found = g_hash_table_lookup (ips->by_name, key);
  if (found != NULL)
    return found;
  if (g_hash_table_size (ips->by_name) >= FZ_PROXY_IPS_MAX_NAMES)
    {
      g_set_error (error, FZ_PROXY_IPS_ERROR, FZ_PROXY_IPS_ERROR_FULL,
                   "%u names have proxy IPs already, the most a session holds",
                   FZ_PROXY_IPS_MAX_NAMES);
      return NULL;
    }
  m = g_new0 (FzProxyIpsMapping, 1);
  if (!take (V4, &next[V4], m->ipv4) || !take (V6, &next[V6], m->ipv6))
    {
      g_set_error_literal (error, FZ_PROXY_IPS_ERROR, FZ_PROXY_IPS_ERROR_EXHAUSTED,
                           "no proxy IPs left for another name");
      return NULL;
    }
  ips->next[V4] = next[V4];
  ips->next[V6] = next[V6];
  m->name = g_strdup (key);
  add_mapping (ips, m);
  ips->generation++;
  return g_steal_pointer (&m);
}

gboolean
fz_proxy_ips_forget (FzProxyIps *ips, const char *name)
{
  char key[FZ_PROXY_IPS_NAME_MAX + 1];
  FzProxyIpsMapping *m;

  if (!normalise (name, key) || (m = g_hash_table_lookup (ips->by_name, key)) == NULL)
    return FALSE;
  for (guint i = 0; i < FZ_PROXY_IPS_PER_FAMILY; i++)
    {
      g_hash_table_remove (ips->by_addr, &m->ipv4[i]);
      g_hash_table_remove (ips->by_addr, &m->ipv6[i]);
    }
  g_hash_table_remove (ips->by_name, key);
  ips->generation++;
  return TRUE;
}

static gint
by_first_address (gconstpointer a, gconstpointer b)
{
  const FzProxyIpsMapping *x = *(FzProxyIpsMapping *const *) a;
  const FzProxyIpsMapping *y = *(FzProxyIpsMapping *const *) b;

  return memcmp (x->ipv4[0].bytes, y->ipv4[0].bytes, 4);
}

GPtrArray *
fz_proxy_ips_list (const FzProxyIps *ips)
{
  GPtrArray *all = g_ptr_array_sized_new (g_hash_table_size (ips->by_name));
  GHashTableIter it;
  gpointer m;

  g_hash_table_iter_init (&it, ips->by_name);
  while (g_hash_table_iter_next (&it, NULL, &m))
    g_ptr_array_add (all, m);
  g_ptr_array_sort (all, by_first_address);
  return all;
}

/* Saved mappings. */

#define FORMAT_VERSION 1
#define MAX_DEPTH      4 /* { "mappings": [ { "ipv4": [ */

static void
add_addrs (JsonBuilder *b, const char *key, const FzIpAddr *addrs)
{
  char text[FZ_IP_ADDR_STRLEN];

  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  for (guint i = 0; i < FZ_PROXY_IPS_PER_FAMILY; i++)
    json_builder_add_string_value (b, fz_ip_addr_to_string (&addrs[i], text));
  json_builder_end_array (b);
}

char *
fz_proxy_ips_serialize (const FzProxyIps *ips)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (GPtrArray) all = fz_proxy_ips_list (ips);
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "version");
  json_builder_add_int_value (b, FORMAT_VERSION);
  json_builder_set_member_name (b, "mappings");
  json_builder_begin_array (b);
  for (guint i = 0; i < all->len; i++)
    {
      const FzProxyIpsMapping *m = all->pdata[i];
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, m->name);
      add_addrs (b, "ipv4", m->ipv4);
      add_addrs (b, "ipv6", m->ipv6);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static gboolean G_GNUC_PRINTF (2, 3) invalid (GError **error, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_propagate_error (
    error,
    g_error_new_valist (FZ_PROXY_IPS_ERROR, FZ_PROXY_IPS_ERROR_INVALID, format, args));
  va_end (args);
  return FALSE;
}

/* Before json-glib sees it: no NUL, no escapes (names and addresses
 * never need one, and "\u0000" would cut a string short), no comments
 * or single quotes (json-glib extensions), and nesting bounded so its
 * recursive parser is. */
static gboolean
check_text (const char *text, gsize len, GError **error)
{
  guint depth = 0;
  gboolean in_string = FALSE, ended = FALSE;

  for (gsize i = 0; i < len; i++)
    {
      char c = text[i];
      if (c == '\0' || c == '\\')
        return invalid (error, "has a NUL byte or an escape");
      /* json-glib reads a first value and ignores what follows it. */
      if (ended && !g_ascii_isspace (c))
        return invalid (error, "has text after its end");
      if (c == '"')
        in_string = !in_string;
      else if (in_string)
        continue;
      else if ((c == '[' || c == '{') && ++depth > MAX_DEPTH)
        return invalid (error, "nests deeper than %d levels", MAX_DEPTH);
      else if ((c == ']' || c == '}') && depth > 0)
        ended = --depth == 0;
      else if (c == '/' || c == '\'')
        return invalid (error, "is not JSON: a comment or a single quote");
    }
  return TRUE;
}

/* @o has exactly the members @keys (NULL-terminated). */
static gboolean
check_members (JsonObject *o, const char *const *keys, const char *what, GError **error)
{
  guint n = 0;

  for (; keys[n] != NULL; n++)
    if (!json_object_has_member (o, keys[n]))
      return invalid (error, "%s has no \"%s\"", what, keys[n]);
  if (json_object_get_size (o) != n)
    return invalid (error, "%s has unknown members", what);
  return TRUE;
}

static const char *
get_string (JsonNode *n)
{
  return n != NULL && JSON_NODE_HOLDS_VALUE (n)
             && json_node_get_value_type (n) == G_TYPE_STRING
           ? json_node_get_string (n)
           : NULL;
}

/* One address of @family (V4, V6) that a session could have handed out,
 * used by no other mapping so far. */
static gboolean
parse_addr (FzProxyIps *ips, JsonNode *n, guint family, const char *name, FzIpAddr *out,
            GError **error)
{
  const char *text = get_string (n);
  guint f;
  guint32 off;

  if (text == NULL || strlen (text) >= FZ_IP_ADDR_STRLEN || !fz_ip_addr_parse (out, text))
    return invalid (error, "\"%s\" has an address that is not an IP address", name);
  if (!offset_of (out, &f, &off) || f != family || !usable (f, off))
    return invalid (error, "\"%s\" has %s, not a proxy IPv%c address", name, text,
                    family == V4 ? '4' : '6');
  if (g_hash_table_contains (ips->by_addr, out))
    return invalid (error, "%s is used twice", text);
  ips->next[f] = MAX (ips->next[f], off + 1);
  return TRUE;
}

static gboolean
parse_addrs (FzProxyIps *ips, JsonObject *o, const char *key, guint family,
             FzProxyIpsMapping *m, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  FzIpAddr *out = family == V4 ? m->ipv4 : m->ipv6;
  JsonArray *a;

  if (!JSON_NODE_HOLDS_ARRAY (n)
      || json_array_get_length (a = json_node_get_array (n)) != FZ_PROXY_IPS_PER_FAMILY)
    return invalid (error, "\"%s\" has no list of %d addresses in \"%s\"", m->name,
                    FZ_PROXY_IPS_PER_FAMILY, key);
  for (guint i = 0; i < FZ_PROXY_IPS_PER_FAMILY; i++)
    {
      if (!parse_addr (ips, json_array_get_element (a, i), family, m->name, &out[i],
                       error))
        return FALSE;
      /* Listed at once, so that a repeat within this mapping is caught. */
      g_hash_table_insert (ips->by_addr, &out[i], m);
    }
  return TRUE;
}

static gboolean
parse_mapping (FzProxyIps *ips, JsonNode *n, guint index, GError **error)
{
  static const char *const keys[] = { "name", "ipv4", "ipv6", NULL };
  g_autofree char *what = g_strdup_printf ("mapping %u", index);
  char key[FZ_PROXY_IPS_NAME_MAX + 1];
  FzProxyIpsMapping *m;
  JsonObject *o;

  if (!JSON_NODE_HOLDS_OBJECT (n))
    return invalid (error, "%s is not an object", what);
  o = json_node_get_object (n);
  if (!check_members (o, keys, what, error))
    return FALSE;
  if (!normalise (get_string (json_object_get_member (o, "name")), key))
    return invalid (error, "%s has no valid DNS name", what);
  if (g_hash_table_contains (ips->by_name, key))
    return invalid (error, "\"%s\" is listed twice", key);
  /* Owned by the table from here, so that a failure frees it with the
   * rest. */
  m = g_new0 (FzProxyIpsMapping, 1);
  m->name = g_strdup (key);
  g_hash_table_insert (ips->by_name, m->name, m);
  return parse_addrs (ips, o, "ipv4", V4, m, error)
         && parse_addrs (ips, o, "ipv6", V6, m, error);
}

static gboolean
parse_root (FzProxyIps *ips, JsonNode *root, GError **error)
{
  static const char *const keys[] = { "version", "mappings", NULL };
  JsonObject *o;
  JsonNode *v, *list;
  JsonArray *a;

  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return invalid (error, "is not a JSON object");
  o = json_node_get_object (root);
  if (!check_members (o, keys, "the top level", error))
    return FALSE;
  v = json_object_get_member (o, "version");
  if (!JSON_NODE_HOLDS_VALUE (v) || json_node_get_value_type (v) != G_TYPE_INT64
      || json_node_get_int (v) != FORMAT_VERSION)
    return invalid (error, "is not version %d", FORMAT_VERSION);
  list = json_object_get_member (o, "mappings");
  if (!JSON_NODE_HOLDS_ARRAY (list))
    return invalid (error, "has no list of mappings");
  a = json_node_get_array (list);
  if (json_array_get_length (a) > FZ_PROXY_IPS_MAX_NAMES)
    return invalid (error, "has %u mappings, more than the %u names a session holds",
                    json_array_get_length (a), FZ_PROXY_IPS_MAX_NAMES);
  for (guint i = 0; i < json_array_get_length (a); i++)
    if (!parse_mapping (ips, json_array_get_element (a, i), i, error))
      return FALSE;
  return TRUE;
}

FzProxyIps *
fz_proxy_ips_parse (const char *text, gsize len, GError **error)
{
  g_autoptr (FzProxyIps) ips = fz_proxy_ips_new ();
  g_autoptr (GError) e = NULL;

  if (!check_text (text, len, error))
    return NULL;
  g_autoptr (JsonNode) root = fz_phoenix_json_parse (text, len, &e);
  if (root == NULL)
    {
      invalid (error, "%s", e->message);
      return NULL;
    }
  if (!parse_root (ips, root, error))
    return NULL;
  return g_steal_pointer (&ips);
}
