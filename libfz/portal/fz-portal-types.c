#include "fz-portal-types.h"

#include <stdlib.h>
#include <string.h>

/* The quark name is a string, not an expression: keep its dashes. */
/* clang-format off */
G_DEFINE_QUARK (fz-portal-error-quark, fz_portal_error)
/* clang-format on */

static gboolean fail (GError **error, FzPortalError code, const char *fmt, ...)
  G_GNUC_PRINTF (3, 4);

gboolean
fz_portal_unichar_unsafe (gunichar c)
{
  GUnicodeType t = g_unichar_type (c);
  return g_unichar_iscntrl (c) || t == G_UNICODE_LINE_SEPARATOR
         || t == G_UNICODE_PARAGRAPH_SEPARATOR || t == G_UNICODE_FORMAT;
}

char *
fz_portal_printable (const char *s)
{
  if (s == NULL)
    return g_strdup ("(null)");
  GString *out = g_string_new (NULL);
  const char *end = s + strlen (s);
  while (s < end)
    {
      gunichar c = g_utf8_get_char_validated (s, end - s);
      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          g_string_append_printf (out, "\\x%02x", (guint8) *s++);
          continue;
        }
      const char *next = g_utf8_next_char (s);
      if (c == '\\')
        g_string_append (out, "\\\\");
      else if (fz_portal_unichar_unsafe (c))
        {
          if (c < 0x100)
            g_string_append_printf (out, "\\x%02x", c);
          else
            g_string_append_printf (out, "\\u{%x}", c);
        }
      else
        g_string_append_len (out, s, next - s);
      s = next;
    }
  return g_string_free (out, FALSE);
}

/* Errors quote what the network sent: made safe for one log line. */
static gboolean
fail (GError **error, FzPortalError code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_autofree char *safe = fz_portal_printable (msg);
  g_set_error_literal (error, FZ_PORTAL_ERROR, code, safe);
  return FALSE;
}

const char *
fz_json_get_string (JsonObject *o, const char *key, gsize max, gboolean required,
                    GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    {
      if (required)
        fail (error, FZ_PORTAL_ERROR_INVALID, "\"%s\" is missing", key);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    {
      fail (error, FZ_PORTAL_ERROR_INVALID, "\"%s\" is not a string", key);
      return NULL;
    }
  const char *s = json_node_get_string (n);
  if (strlen (s) > max)
    {
      fail (error, FZ_PORTAL_ERROR_INVALID, "\"%s\" is longer than %zu bytes", key, max);
      return NULL;
    }
  return s;
}

/* IDs are UUIDs in Firezone; accept any short token of safe characters,
 * as they end up in logs and D-Bus paths. */
gboolean
fz_json_get_id (JsonObject *o, const char *key, char **out, GError **error)
{
  const char *s = fz_json_get_string (o, key, FZ_PORTAL_MAX_ID, TRUE, error);
  if (s == NULL)
    return FALSE;
  if (*s == '\0')
    return fail (error, FZ_PORTAL_ERROR_INVALID, "\"%s\" is empty", key);
  for (const char *p = s; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return fail (error, FZ_PORTAL_ERROR_INVALID, "\"%s\" is not an id", key);
  *out = g_strdup (s);
  return TRUE;
}

gboolean
fz_json_get_int (JsonObject *o, const char *key, gint64 min, gint64 max,
                 gboolean required, gint64 *out, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return required ? fail (error, FZ_PORTAL_ERROR_INVALID, "\"%s\" is missing", key)
                    : TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return fail (error, FZ_PORTAL_ERROR_INVALID, "\"%s\" is not an integer", key);
  gint64 v = json_node_get_int (n);
  if (v < min || v > max)
    return fail (error, FZ_PORTAL_ERROR_INVALID,
                 "\"%s\" is %" G_GINT64_FORMAT ", not %" G_GINT64_FORMAT
                 "-%" G_GINT64_FORMAT,
                 key, v, min, max);
  *out = v;
  return TRUE;
}

gboolean
fz_json_get_key (JsonObject *o, const char *key, guint8 out[32], GError **error)
{
  const char *s = fz_json_get_string (o, key, 64, TRUE, error);
  if (s == NULL)
    return FALSE;
  /* Standard base64 of 32 bytes is 44 characters ending in '='. */
  gboolean ok = strlen (s) == 44 && s[43] == '=' && s[42] != '=';
  for (gsize i = 0; ok && i < 43; i++)
    ok = g_ascii_isalnum (s[i]) || s[i] == '+' || s[i] == '/';
  if (!ok)
    return fail (error, FZ_PORTAL_ERROR_INVALID, "\"%s\" is not a base64 32-byte key",
                 key);
  gsize n;
  g_autofree guchar *raw = g_base64_decode (s, &n);
  if (n != 32)
    return fail (error, FZ_PORTAL_ERROR_INVALID, "\"%s\" is not a base64 32-byte key",
                 key);
  memcpy (out, raw, 32);
  return TRUE;
}

static JsonObject *
as_object (JsonNode *node, const char *what, GError **error)
{
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      fail (error, FZ_PORTAL_ERROR_INVALID, "%s is not an object", what);
      return NULL;
    }
  return json_node_get_object (node);
}

/* An optional array member: NULL (and no error) when absent or null. */
static JsonArray *
get_array (JsonObject *o, const char *key, gboolean *bad, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  *bad = FALSE;
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return NULL;
  if (!JSON_NODE_HOLDS_ARRAY (n))
    {
      *bad = TRUE;
      fail (error, FZ_PORTAL_ERROR_INVALID, "\"%s\" is not an array", key);
      return NULL;
    }
  return json_node_get_array (n);
}

static void
site_clear (FzSite *s)
{
  g_free (s->id);
  g_free (s->name);
}

void
fz_resource_free (FzResource *r)
{
  if (r == NULL)
    return;
  g_free (r->id);
  g_free (r->address);
  g_free (r->address_description);
  g_free (r->name);
  if (r->sites != NULL)
    g_array_unref (r->sites);
  if (r->filters != NULL)
    g_array_unref (r->filters);
  g_free (r);
}

static gboolean
decode_filter (JsonNode *node, FzFilter *f, GError **error)
{
  JsonObject *o = as_object (node, "a filter", error);
  if (o == NULL)
    return FALSE;
  const char *proto = fz_json_get_string (o, "protocol", 8, TRUE, error);
  if (proto == NULL)
    return FALSE;
  if (strcmp (proto, "tcp") == 0)
    f->protocol = FZ_FILTER_TCP;
  else if (strcmp (proto, "udp") == 0)
    f->protocol = FZ_FILTER_UDP;
  else if (strcmp (proto, "icmp") == 0)
    f->protocol = FZ_FILTER_ICMP;
  else
    return fail (error, FZ_PORTAL_ERROR_INVALID,
                 "filter protocol \"%s\" is not tcp, udp or icmp", proto);
  gint64 start = 0, end = 65535;
  if (f->protocol != FZ_FILTER_ICMP
      && (!fz_json_get_int (o, "port_range_start", 0, 65535, FALSE, &start, error)
          || !fz_json_get_int (o, "port_range_end", 0, 65535, FALSE, &end, error)))
    return FALSE;
  if (start > end)
    return fail (error, FZ_PORTAL_ERROR_INVALID,
                 "filter port range %" G_GINT64_FORMAT "-%" G_GINT64_FORMAT
                 " is backwards",
                 start, end);
  f->port_start = (guint16) start;
  f->port_end = (guint16) end;
  return TRUE;
}

static gboolean
valid_cidr (const char *s)
{
  const char *slash = strchr (s, '/');
  if (slash == NULL || slash == s)
    return FALSE;
  g_autofree char *ip = g_strndup (s, slash - s);
  FzIpAddr a;
  if (!fz_ip_addr_parse (&a, ip))
    return FALSE;
  const char *p = slash + 1;
  if (*p == '\0' || strlen (p) > 3)
    return FALSE;
  for (const char *q = p; *q; q++)
    if (!g_ascii_isdigit (*q))
      return FALSE;
  int bits = atoi (p);
  return bits <= (a.family == 4 ? 32 : 128);
}

FzResource *
fz_resource_decode (JsonNode *node, GError **error)
{
  JsonObject *o = as_object (node, "a resource", error);
  if (o == NULL)
    return NULL;
  g_autoptr (FzResource) r = g_new0 (FzResource, 1);
  r->sites = g_array_new (FALSE, TRUE, sizeof (FzSite));
  g_array_set_clear_func (r->sites, (GDestroyNotify) site_clear);
  r->filters = g_array_new (FALSE, TRUE, sizeof (FzFilter));
  /* The type first: one we do not know is skipped whatever its shape
   * (newer portals send "static_device_pool" without an address, for
   * example). */
  const char *type = fz_json_get_string (o, "type", FZ_PORTAL_MAX_TEXT, TRUE, error);
  if (type == NULL)
    return NULL;
  if (strcmp (type, "dns") == 0)
    r->type = FZ_RESOURCE_DNS;
  else if (strcmp (type, "cidr") == 0)
    r->type = FZ_RESOURCE_CIDR;
  else if (strcmp (type, "internet") == 0)
    r->type = FZ_RESOURCE_INTERNET;
  else
    {
      fail (error, FZ_PORTAL_ERROR_UNSUPPORTED, "resource type \"%s\" is unknown", type);
      return NULL;
    }
  if (!fz_json_get_id (o, "id", &r->id, error))
    return NULL;

  if (r->type != FZ_RESOURCE_INTERNET)
    {
      const char *address
        = fz_json_get_string (o, "address", FZ_PORTAL_MAX_TEXT, TRUE, error);
      const char *name
        = address ? fz_json_get_string (o, "name", FZ_PORTAL_MAX_TEXT, TRUE, error)
                  : NULL;
      if (address == NULL || name == NULL)
        return NULL;
      if (r->type == FZ_RESOURCE_CIDR && !valid_cidr (address))
        {
          fail (error, FZ_PORTAL_ERROR_INVALID, "\"%s\" is not a CIDR address", address);
          return NULL;
        }
      if (r->type == FZ_RESOURCE_DNS
          && (*address == '\0' || strchr (address, ' ') != NULL))
        {
          fail (error, FZ_PORTAL_ERROR_INVALID, "\"%s\" is not a DNS name pattern",
                address);
          return NULL;
        }
      r->address = g_strdup (address);
      r->name = g_strdup (name);
      GError *e = NULL;
      const char *desc
        = fz_json_get_string (o, "address_description", FZ_PORTAL_MAX_TEXT, FALSE, &e);
      if (e != NULL)
        {
          g_propagate_error (error, e);
          return NULL;
        }
      r->address_description = g_strdup (desc);
    }
  else
    {
      r->name = g_strdup ("Internet Resource");
      JsonNode *cbd = json_object_get_member (o, "can_be_disabled");
      r->can_be_disabled = cbd != NULL && JSON_NODE_HOLDS_VALUE (cbd)
                           && json_node_get_value_type (cbd) == G_TYPE_BOOLEAN
                           && json_node_get_boolean (cbd);
    }

  GError *se = NULL;
  const char *stack = fz_json_get_string (o, "ip_stack", 16, FALSE, &se);
  if (se != NULL)
    {
      g_propagate_error (error, se);
      return NULL;
    }
  if (stack == NULL || strcmp (stack, "dual") == 0)
    r->ip_stack = FZ_IP_STACK_DUAL;
  else if (strcmp (stack, "ipv4_only") == 0)
    r->ip_stack = FZ_IP_STACK_IPV4_ONLY;
  else if (strcmp (stack, "ipv6_only") == 0)
    r->ip_stack = FZ_IP_STACK_IPV6_ONLY;
  else
    {
      fail (error, FZ_PORTAL_ERROR_INVALID, "ip_stack \"%s\" is unknown", stack);
      return NULL;
    }

  /* `gateway_groups` is the old name of `sites`. */
  gboolean bad;
  JsonArray *sites = get_array (
    o, json_object_has_member (o, "sites") ? "sites" : "gateway_groups", &bad, error);
  if (bad)
    return NULL;
  for (guint i = 0; sites != NULL && i < json_array_get_length (sites); i++)
    {
      JsonObject *so = as_object (json_array_get_element (sites, i), "a site", error);
      FzSite s = { 0 };
      if (so == NULL || !fz_json_get_id (so, "id", &s.id, error))
        return NULL;
      GError *ne = NULL;
      const char *name = fz_json_get_string (so, "name", FZ_PORTAL_MAX_TEXT, FALSE, &ne);
      if (ne != NULL)
        {
          g_propagate_error (error, ne);
          site_clear (&s);
          return NULL;
        }
      s.name = g_strdup (name);
      g_array_append_val (r->sites, s);
    }
  JsonArray *filters = get_array (o, "filters", &bad, error);
  if (bad)
    return NULL;
  for (guint i = 0; filters != NULL && i < json_array_get_length (filters); i++)
    {
      FzFilter f;
      if (!decode_filter (json_array_get_element (filters, i), &f, error))
        return NULL;
      g_array_append_val (r->filters, f);
    }
  return g_steal_pointer (&r);
}

static const char *const resource_types[] = { "dns", "cidr", "internet" };
static const char *const ip_stacks[] = { "dual", "ipv4_only", "ipv6_only" };
static const char *const filter_protocols[] = { "tcp", "udp", "icmp" };

JsonNode *
fz_resource_encode (const FzResource *r)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, r->id);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, resource_types[r->type]);
  if (r->address != NULL)
    {
      json_builder_set_member_name (b, "address");
      json_builder_add_string_value (b, r->address);
    }
  if (r->address_description != NULL)
    {
      json_builder_set_member_name (b, "address_description");
      json_builder_add_string_value (b, r->address_description);
    }
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, r->name);
  json_builder_set_member_name (b, "ip_stack");
  json_builder_add_string_value (b, ip_stacks[r->ip_stack]);
  if (r->type == FZ_RESOURCE_INTERNET)
    {
      json_builder_set_member_name (b, "can_be_disabled");
      json_builder_add_boolean_value (b, r->can_be_disabled);
    }
  json_builder_set_member_name (b, "sites");
  json_builder_begin_array (b);
  for (guint i = 0; i < r->sites->len; i++)
    {
      const FzSite *s = &g_array_index (r->sites, FzSite, i);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "id");
      json_builder_add_string_value (b, s->id);
      json_builder_set_member_name (b, "name");
      if (s->name != NULL)
        json_builder_add_string_value (b, s->name);
      else
        json_builder_add_null_value (b);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "filters");
  json_builder_begin_array (b);
  for (guint i = 0; i < r->filters->len; i++)
    {
      const FzFilter *f = &g_array_index (r->filters, FzFilter, i);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "protocol");
      json_builder_add_string_value (b, filter_protocols[f->protocol]);
      if (f->protocol != FZ_FILTER_ICMP)
        {
          json_builder_set_member_name (b, "port_range_start");
          json_builder_add_int_value (b, f->port_start);
          json_builder_set_member_name (b, "port_range_end");
          json_builder_add_int_value (b, f->port_end);
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

void
fz_relay_free (FzRelay *r)
{
  if (r == NULL)
    return;
  g_free (r->id);
  g_free (r->username);
  if (r->password != NULL)
    memset (r->password, 0, strlen (r->password));
  g_free (r->password);
  g_free (r);
}

FzRelay *
fz_relay_decode (JsonNode *node, GError **error)
{
  JsonObject *o = as_object (node, "a relay", error);
  if (o == NULL)
    return NULL;
  g_autoptr (FzRelay) r = g_new0 (FzRelay, 1);
  if (!fz_json_get_id (o, "id", &r->id, error))
    return NULL;
  const char *type = fz_json_get_string (o, "type", 16, TRUE, error);
  if (type == NULL)
    return NULL;
  if (strcmp (type, "turn") != 0)
    {
      fail (error, FZ_PORTAL_ERROR_UNSUPPORTED, "relay type \"%s\" is unknown", type);
      return NULL;
    }
  const char *addr = fz_json_get_string (o, "addr", 64, TRUE, error);
  if (addr == NULL)
    return NULL;
  FzSockAddr sa = { 0 };
  if (!fz_sock_addr_parse (&sa, addr))
    {
      fail (error, FZ_PORTAL_ERROR_INVALID, "relay address \"%s\" is not IP:PORT", addr);
      return NULL;
    }
  if (sa.ip.family == 4)
    r->v4 = sa;
  else
    r->v6 = sa;
  const char *user = fz_json_get_string (o, "username", 513, TRUE, error);
  const char *pass
    = user ? fz_json_get_string (o, "password", FZ_PORTAL_MAX_TEXT, TRUE, error) : NULL;
  if (user == NULL || pass == NULL)
    return NULL;
  r->username = g_strdup (user);
  r->password = g_strdup (pass);
  if (!fz_json_get_int (o, "expires_at", 0, G_MAXINT64, FALSE, &r->expires_at, error))
    return NULL;
  return g_steal_pointer (&r);
}

GPtrArray *
fz_relays_decode (JsonNode *node, GError **error)
{
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    {
      fail (error, FZ_PORTAL_ERROR_INVALID, "relays are not an array");
      return NULL;
    }
  JsonArray *a = json_node_get_array (node);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) fz_relay_free);
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      g_autoptr (GError) e = NULL;
      FzRelay *r = fz_relay_decode (json_array_get_element (a, i), &e);
      if (r == NULL)
        {
          g_debug ("portal: skipping relay %u: %s", i, e->message);
          continue;
        }
      /* The IPv4 and IPv6 entries of one relay share its id. */
      FzRelay *same = NULL;
      for (guint k = 0; k < out->len && same == NULL; k++)
        if (strcmp (((FzRelay *) out->pdata[k])->id, r->id) == 0)
          same = out->pdata[k];
      if (same == NULL)
        {
          g_ptr_array_add (out, r);
          continue;
        }
      if (r->v4.ip.family != 0)
        same->v4 = r->v4;
      if (r->v6.ip.family != 0)
        same->v6 = r->v6;
      fz_relay_free (r);
    }
  return out;
}

static void
add_addr_member (JsonBuilder *b, const char *key, const FzSockAddr *sa)
{
  char s[FZ_SOCK_ADDR_STRLEN];
  json_builder_set_member_name (b, key);
  if (sa->ip.family != 0)
    json_builder_add_string_value (b, fz_sock_addr_to_string (sa, s));
  else
    json_builder_add_null_value (b);
}

JsonNode *
fz_relay_encode (const FzRelay *r)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, r->id);
  add_addr_member (b, "addr_v4", &r->v4);
  add_addr_member (b, "addr_v6", &r->v6);
  json_builder_set_member_name (b, "username");
  json_builder_add_string_value (b, r->username);
  /* The password is a secret: shown as present, never as itself. */
  json_builder_set_member_name (b, "password");
  json_builder_add_string_value (b, "(set)");
  json_builder_set_member_name (b, "expires_at");
  json_builder_add_int_value (b, r->expires_at);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

void
fz_interface_free (FzInterface *i)
{
  if (i == NULL)
    return;
  g_free (i->search_domain);
  if (i->upstream_do53 != NULL)
    g_array_unref (i->upstream_do53);
  if (i->upstream_doh != NULL)
    g_ptr_array_unref (i->upstream_doh);
  g_free (i);
}

static gboolean
get_ip (JsonObject *o, const char *key, guint8 family, FzIpAddr *out, GError **error)
{
  const char *s = fz_json_get_string (o, key, FZ_IP_ADDR_STRLEN, TRUE, error);
  if (s == NULL)
    return FALSE;
  if (!fz_ip_addr_parse (out, s) || out->family != family)
    return fail (error, FZ_PORTAL_ERROR_INVALID, "\"%s\" is not an IPv%u address", key,
                 family);
  return TRUE;
}

FzInterface *
fz_interface_decode (JsonNode *node, GError **error)
{
  JsonObject *o = as_object (node, "the interface", error);
  if (o == NULL)
    return NULL;
  g_autoptr (FzInterface) i = g_new0 (FzInterface, 1);
  i->upstream_do53 = g_array_new (FALSE, FALSE, sizeof (FzIpAddr));
  i->upstream_doh = g_ptr_array_new_with_free_func (g_free);
  if (!get_ip (o, "ipv4", 4, &i->ipv4, error) || !get_ip (o, "ipv6", 6, &i->ipv6, error))
    return NULL;
  GError *e = NULL;
  const char *domain
    = fz_json_get_string (o, "search_domain", FZ_PORTAL_MAX_TEXT, FALSE, &e);
  if (e != NULL)
    {
      g_propagate_error (error, e);
      return NULL;
    }
  i->search_domain = g_strdup (domain);
  gboolean bad;
  JsonArray *do53 = get_array (o, "upstream_do53", &bad, error);
  if (bad)
    return NULL;
  for (guint k = 0; do53 != NULL && k < json_array_get_length (do53); k++)
    {
      JsonObject *u = as_object (json_array_get_element (do53, k), "an upstream", error);
      FzIpAddr a;
      const char *ip
        = u ? fz_json_get_string (u, "ip", FZ_IP_ADDR_STRLEN, TRUE, error) : NULL;
      if (ip == NULL)
        return NULL;
      if (!fz_ip_addr_parse (&a, ip))
        {
          fail (error, FZ_PORTAL_ERROR_INVALID, "upstream \"%s\" is not an IP address",
                ip);
          return NULL;
        }
      g_array_append_val (i->upstream_do53, a);
    }
  /* Older portals: upstream_dns [{"protocol":"ip_port","address":"IP:53"}],
   * read only when upstream_do53 gave nothing. Entries of another kind or
   * port are skipped. */
  JsonArray *legacy
    = i->upstream_do53->len == 0 ? get_array (o, "upstream_dns", &bad, error) : NULL;
  if (bad)
    return NULL;
  for (guint k = 0; legacy != NULL && k < json_array_get_length (legacy); k++)
    {
      JsonNode *n = json_array_get_element (legacy, k);
      JsonObject *u = JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
      const char *proto = u ? fz_json_get_string (u, "protocol", 16, FALSE, NULL) : NULL;
      const char *addr
        = u ? fz_json_get_string (u, "address", FZ_SOCK_ADDR_STRLEN, FALSE, NULL) : NULL;
      FzSockAddr sa;
      if (g_strcmp0 (proto, "ip_port") == 0 && addr != NULL
          && fz_sock_addr_parse (&sa, addr) && sa.port == 53)
        g_array_append_val (i->upstream_do53, sa.ip);
    }
  JsonArray *doh = get_array (o, "upstream_doh", &bad, error);
  if (bad)
    return NULL;
  for (guint k = 0; doh != NULL && k < json_array_get_length (doh); k++)
    {
      JsonObject *u = as_object (json_array_get_element (doh, k), "an upstream", error);
      const char *url
        = u ? fz_json_get_string (u, "url", FZ_PORTAL_MAX_TEXT, TRUE, error) : NULL;
      if (url == NULL)
        return NULL;
      if (!g_str_has_prefix (url, "https://"))
        {
          fail (error, FZ_PORTAL_ERROR_INVALID, "DoH upstream \"%s\" is not an https URL",
                url);
          return NULL;
        }
      g_ptr_array_add (i->upstream_doh, g_strdup (url));
    }
  return g_steal_pointer (&i);
}

JsonNode *
fz_interface_encode (const FzInterface *i)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  char s[FZ_IP_ADDR_STRLEN];
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ipv4");
  json_builder_add_string_value (b, fz_ip_addr_to_string (&i->ipv4, s));
  json_builder_set_member_name (b, "ipv6");
  json_builder_add_string_value (b, fz_ip_addr_to_string (&i->ipv6, s));
  json_builder_set_member_name (b, "search_domain");
  if (i->search_domain != NULL)
    json_builder_add_string_value (b, i->search_domain);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "upstream_do53");
  json_builder_begin_array (b);
  for (guint k = 0; k < i->upstream_do53->len; k++)
    json_builder_add_string_value (
      b, fz_ip_addr_to_string (&g_array_index (i->upstream_do53, FzIpAddr, k), s));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "upstream_doh");
  json_builder_begin_array (b);
  for (guint k = 0; k < i->upstream_doh->len; k++)
    json_builder_add_string_value (b, i->upstream_doh->pdata[k]);
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

gboolean
fz_ice_credentials_decode (JsonNode *node, FzIceCredentials *out, GError **error)
{
  JsonObject *o = as_object (node, "ICE credentials", error);
  if (o == NULL)
    return FALSE;
  /* RFC 8445: ufrag 4-256 and password 22-256 ice-chars; shorter or
   * longer would fail ICE later with no clear cause. */
  const char *u = fz_json_get_string (o, "username", 256, TRUE, error);
  const char *p = u ? fz_json_get_string (o, "password", 256, TRUE, error) : NULL;
  if (u == NULL || p == NULL)
    return FALSE;
  if (strlen (u) < 4 || strlen (p) < 22)
    return fail (error, FZ_PORTAL_ERROR_INVALID, "ICE credentials are too short");
  out->username = g_strdup (u);
  out->password = g_strdup (p);
  return TRUE;
}

void
fz_ice_credentials_clear (FzIceCredentials *c)
{
  g_clear_pointer (&c->username, g_free);
  if (c->password != NULL)
    memset (c->password, 0, strlen (c->password));
  g_clear_pointer (&c->password, g_free);
}

gboolean
fz_authorization_decode (JsonNode *node, FzAuthorization *out, GError **error)
{
  JsonObject *o = as_object (node, "an authorization", error);
  FzAuthorization a = { 0 };
  gboolean ok
    = o != NULL && fz_json_get_id (o, "client_id", &a.client_id, error)
      && fz_json_get_id (o, "resource_id", &a.resource_id, error)
      && fz_json_get_int (o, "expires_at", 0, G_MAXINT64, TRUE, &a.expires_at, error);
  if (!ok)
    {
      fz_authorization_clear (&a);
      return FALSE;
    }
  *out = a;
  return TRUE;
}

void
fz_authorization_clear (FzAuthorization *a)
{
  g_clear_pointer (&a->client_id, g_free);
  g_clear_pointer (&a->resource_id, g_free);
}

JsonNode *
fz_authorization_encode (const FzAuthorization *a)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "client_id");
  json_builder_add_string_value (b, a->client_id);
  json_builder_set_member_name (b, "resource_id");
  json_builder_add_string_value (b, a->resource_id);
  json_builder_set_member_name (b, "expires_at");
  json_builder_add_int_value (b, a->expires_at);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
