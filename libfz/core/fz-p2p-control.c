#include "fz-p2p-control-private.h"
#include "fz-ip-prefix-private.h"

#include "fz-phoenix-frame.h" /* fz_phoenix_json_parse */
#include "fz-portal-types.h"  /* FZ_PORTAL_MAX_ID */

#include <json-glib/json-glib.h>
#include <string.h>

/* The quark name is a string, not an expression: keep its dashes. */
/* clang-format off */
G_DEFINE_QUARK (fz-p2p-control-error-quark, fz_p2p_control_error)
/* clang-format on */

static gboolean G_GNUC_PRINTF (2, 3) fail (GError **error, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  g_propagate_error (error, g_error_new_valist (FZ_P2P_CONTROL_ERROR,
                                                FZ_P2P_CONTROL_ERROR_INVALID, fmt, ap));
  va_end (ap);
  return FALSE;
}

gboolean
fz_p2p_control_is_proxy_ip (const FzIpAddr *addr)
{
  return fz_ip_in_proxy_range (addr);
}

gboolean
fz_p2p_control_domain_valid (const char *name)
{
  gsize len = strlen (name), label = 0;

  if (len > 0 && name[len - 1] == '.')
    len--;
  if (len == 0 || len > FZ_P2P_CONTROL_MAX_DOMAIN)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      if (name[i] == '.')
        {
          if (label == 0)
            return FALSE;
          label = 0;
        }
      else if (g_ascii_isalnum (name[i]) || name[i] == '-' || name[i] == '_')
        {
          if (++label > 63)
            return FALSE;
        }
      else
        return FALSE;
    }
  return label > 0;
}

/* Parses @data as one JSON object of bounded size, through the portal's
 * strict reader (no NUL, no escaped NUL, bounded depth, RFC 8259 only). */
static JsonNode *
parse_object (const void *data, gsize len, JsonObject **obj, GError **error)
{
  g_autoptr (GError) local = NULL;

  if (len > FZ_P2P_CONTROL_MAX_PAYLOAD)
    {
      fail (error, "payload of %zu bytes is longer than %d", len,
            FZ_P2P_CONTROL_MAX_PAYLOAD);
      return NULL;
    }
  g_autoptr (JsonNode) root = fz_phoenix_json_parse (data, len, &local);
  if (root == NULL)
    {
      fail (error, "payload %s", local->message);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      fail (error, "payload is not a JSON object");
      return NULL;
    }
  *obj = json_node_get_object (root);
  return g_steal_pointer (&root);
}

static const char *
get_string (JsonObject *o, const char *key, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);

  if (n == NULL)
    {
      fail (error, "\"%s\" is missing", key);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    {
      fail (error, "\"%s\" is not a string", key);
      return NULL;
    }
  return json_node_get_string (n);
}

/* The members both messages share. */
static gboolean
get_resource_domain (JsonObject *o, char **resource, char **domain, GError **error)
{
  const char *r = get_string (o, "resource", error), *d;

  if (r == NULL)
    return FALSE;
  if (*r == '\0' || strlen (r) > FZ_PORTAL_MAX_ID)
    return fail (error, "\"resource\" is empty or longer than %d bytes",
                 FZ_PORTAL_MAX_ID);
  for (const char *p = r; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return fail (error, "\"resource\" is not an id");
  if ((d = get_string (o, "domain", error)) == NULL)
    return FALSE;
  if (!fz_p2p_control_domain_valid (d))
    return fail (error, "\"domain\" is not a DNS name of at most %d characters",
                 FZ_P2P_CONTROL_MAX_DOMAIN);
  *resource = g_strdup (r);
  *domain = g_strdup (d);
  return TRUE;
}

/* 4 of one family, or 4 IPv4 and 4 IPv6, as connlib assigns them. */
static gboolean
families_ok (const FzIpAddr *ips, guint n)
{
  guint v4 = 0;

  for (guint i = 0; i < n; i++)
    v4 += ips[i].family == 4;
  return n == 4 ? v4 == 0 || v4 == 4 : v4 == 4;
}

static gboolean
get_proxy_ips (JsonObject *o, FzAssignedIps *out, GError **error)
{
  JsonNode *n = json_object_get_member (o, "proxy_ips");
  JsonArray *a;
  guint len;

  if (n == NULL)
    return fail (error, "\"proxy_ips\" is missing");
  if (!JSON_NODE_HOLDS_ARRAY (n))
    return fail (error, "\"proxy_ips\" is not an array");
  a = json_node_get_array (n);
  len = json_array_get_length (a);
  if (len != 4 && len != 8)
    return fail (error, "\"proxy_ips\" has %u addresses, not 4 or 8", len);
  for (guint i = 0; i < len; i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      FzIpAddr *ip = &out->proxy_ips[i];

      if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING
          || !fz_ip_addr_parse (ip, json_node_get_string (e)))
        return fail (error, "\"proxy_ips\"[%u] is not an IP address", i);
      if (!fz_p2p_control_is_proxy_ip (ip))
        return fail (error, "\"proxy_ips\"[%u] is outside the proxy ranges", i);
    }
  if (!families_ok (out->proxy_ips, len))
    return fail (error, "\"proxy_ips\" are not 4 of one family or 4 of each");
  out->n_proxy_ips = len;
  return TRUE;
}

gboolean
fz_assigned_ips_decode (const void *data, gsize len, FzAssignedIps *out, GError **error)
{
  g_autoptr (JsonNode) root = NULL;
  FzAssignedIps m = { 0 };
  JsonObject *o;

  memset (out, 0, sizeof *out);
  root = parse_object (data, len, &o, error);
  if (root == NULL || !get_resource_domain (o, &m.resource, &m.domain, error)
      || !get_proxy_ips (o, &m, error))
    {
      fz_assigned_ips_clear (&m);
      return FALSE;
    }
  *out = m;
  return TRUE;
}

gboolean
fz_domain_status_decode (const void *data, gsize len, FzDomainStatus *out, GError **error)
{
  g_autoptr (JsonNode) root = NULL;
  FzDomainStatus m = { 0 };
  const char *status;
  JsonObject *o;

  memset (out, 0, sizeof *out);
  root = parse_object (data, len, &o, error);
  if (root == NULL || !get_resource_domain (o, &m.resource, &m.domain, error)
      || (status = get_string (o, "status", error)) == NULL)
    {
      fz_domain_status_clear (&m);
      return FALSE;
    }
  /* connlib reads a status it does not know as Inactive (serde(other)),
   * so that a newer peer's states do not break the message. */
  m.status = strcmp (status, "Active") == 0 ? FZ_NAT_ACTIVE : FZ_NAT_INACTIVE;
  *out = m;
  return TRUE;
}

static GBytes *
to_bytes (JsonBuilder *b)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  gsize len;
  char *text;

  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, &len);
  return g_bytes_new_take (text, len);
}

static JsonBuilder *
begin (const char *resource, const char *domain)
{
  JsonBuilder *b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "resource");
  json_builder_add_string_value (b, resource);
  json_builder_set_member_name (b, "domain");
  json_builder_add_string_value (b, domain);
  return b;
}

GBytes *
fz_assigned_ips_encode (const FzAssignedIps *msg)
{
  g_autoptr (JsonBuilder) b = begin (msg->resource, msg->domain);
  char text[FZ_IP_ADDR_STRLEN];

  json_builder_set_member_name (b, "proxy_ips");
  json_builder_begin_array (b);
  for (guint i = 0; i < msg->n_proxy_ips; i++)
    json_builder_add_string_value (b, fz_ip_addr_to_string (&msg->proxy_ips[i], text));
  json_builder_end_array (b);
  json_builder_end_object (b);
  return to_bytes (b);
}

GBytes *
fz_domain_status_encode (const FzDomainStatus *msg)
{
  g_autoptr (JsonBuilder) b = begin (msg->resource, msg->domain);

  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, msg->status == FZ_NAT_ACTIVE ? "Active" : "Inactive");
  json_builder_end_object (b);
  return to_bytes (b);
}

void
fz_assigned_ips_clear (FzAssignedIps *msg)
{
  g_clear_pointer (&msg->resource, g_free);
  g_clear_pointer (&msg->domain, g_free);
  msg->n_proxy_ips = 0;
}

void
fz_domain_status_clear (FzDomainStatus *msg)
{
  g_clear_pointer (&msg->resource, g_free);
  g_clear_pointer (&msg->domain, g_free);
}

static gboolean
build (FzPacketBuf *buf, FzIpPacket *out, FzControlType type, GBytes *json,
       GError **error)
{
  gboolean ok = fz_ip_build_control (buf, out, type, g_bytes_get_data (json, NULL),
                                     g_bytes_get_size (json), error);
  g_bytes_unref (json);
  return ok;
}

gboolean
fz_p2p_control_build_assigned_ips (FzPacketBuf *buf, FzIpPacket *out,
                                   const FzAssignedIps *msg, GError **error)
{
  return build (buf, out, FZ_CONTROL_ASSIGNED_IPS, fz_assigned_ips_encode (msg), error);
}

gboolean
fz_p2p_control_build_domain_status (FzPacketBuf *buf, FzIpPacket *out,
                                    const FzDomainStatus *msg, GError **error)
{
  return build (buf, out, FZ_CONTROL_DOMAIN_STATUS, fz_domain_status_encode (msg), error);
}

gboolean
fz_p2p_control_payload (const FzIpPacket *pkt, FzControlType *type,
                        const guint8 **payload, gsize *len)
{
  guint32 n;

  if (!fz_ip_packet_is_control (pkt))
    return FALSE;
  *type = (FzControlType) fz_ip_packet_control_type (pkt);
  *payload = fz_ip_packet_payload (pkt, &n); /* after the 8-byte header */
  *len = n;
  return TRUE;
}
