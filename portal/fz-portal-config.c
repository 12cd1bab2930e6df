#include "fz-portal-config.h"

#include <stdarg.h>
#include <string.h>

#define MAX_NAME     64
#define MAX_VALUE    1024
#define MAX_LIST     256
#define MAX_CONFIG   (4 * 1024 * 1024)
#define DEFAULT_PORT 8080

static void
relay_free (FzPortalRelay *r)
{
  g_free (r->name);
  g_free (r->id);
  g_array_unref (r->addrs);
  g_free (r->secret);
  g_free (r->username);
  g_free (r->password);
  g_free (r);
}

static void
site_free (FzPortalSite *s)
{
  g_free (s->name);
  g_free (s->id);
  g_free (s);
}

static void
gateway_token_free (FzPortalGatewayToken *t)
{
  g_free (t->name);
  g_free (t->site_id);
  g_free (t->token_hash);
  g_free (t);
}

static void
user_free (FzPortalUser *u)
{
  g_free (u->name);
  g_free (u->id);
  g_free (u->full_name);
  g_free (u->password_hash);
  g_ptr_array_unref (u->token_hashes);
  g_free (u);
}

static void
policy_free (FzPortalPolicy *p)
{
  g_free (p->name);
  g_ptr_array_unref (p->users);
  g_ptr_array_unref (p->resources);
  g_free (p);
}

void
fz_portal_config_free (FzPortalConfig *c)
{
  if (c == NULL)
    return;
  g_free (c->path);
  g_free (c->account_slug);
  g_free (c->account_name);
  g_free (c->tls_certificate);
  g_free (c->tls_key);
  g_free (c->secret_file);
  g_free (c->search_domain);
  g_array_unref (c->upstream_do53);
  g_ptr_array_unref (c->relays);
  g_ptr_array_unref (c->sites);
  g_ptr_array_unref (c->gateway_tokens);
  g_ptr_array_unref (c->users);
  g_ptr_array_unref (c->resources);
  g_ptr_array_unref (c->policies);
  g_free (c);
}

static gboolean G_GNUC_PRINTF (3, 4)
  fail (GError **error, const char *group, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "[%s] %s", group,
               msg);
  return FALSE;
}

static gboolean
valid_name (const char *s)
{
  gsize n = strlen (s);
  if (n == 0 || n > MAX_NAME)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isalnum (*p) && strchr ("._-@+", *p) == NULL)
      return FALSE;
  return TRUE;
}

/* Only these keys may appear in a group: a typo is an error, not a
 * silently ignored setting. */
static gboolean
check_keys (GKeyFile *kf, const char *group, const char *const *allowed, GError **error)
{
  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    if (!g_strv_contains (allowed, keys[i]))
      return fail (error, group, "unknown key \"%s\"", keys[i]);
  return TRUE;
}

static gboolean
valid_escapes (const char *s)
{
  for (const char *p = s; *p; p++)
    if (*p == '\\')
      {
        p++;
        if (*p == '\0' || strchr ("sntr\\", *p) == NULL)
          return FALSE;
      }
  return TRUE;
}

/* A string value, or NULL when absent (an error if @required). Reads
 * nothing once *@ok is FALSE, so calls can follow each other and the
 * first error stands. */
static char *
get_string (GKeyFile *kf, const char *group, const char *key, gboolean required,
            gboolean *ok, GError **error)
{
  if (!*ok)
    return NULL;
  if (!g_key_file_has_key (kf, group, key, NULL))
    {
      if (required)
        *ok = fail (error, group, "\"%s\" is missing", key);
      return NULL;
    }
  /* GLib 2.74 sets its GError twice on some bad escapes; check them
   * first, on the raw value. */
  g_autofree char *raw = g_key_file_get_value (kf, group, key, NULL);
  if (raw == NULL || !valid_escapes (raw))
    {
      *ok = fail (error, group,
                  "%s: only \\s \\n \\t \\r and \\\\ may follow a backslash", key);
      return NULL;
    }
  g_autoptr (GError) e = NULL;
  g_autofree char *v = g_key_file_get_string (kf, group, key, &e);
  if (v == NULL)
    {
      *ok = fail (error, group, "%s: %s", key, e->message);
      return NULL;
    }
  g_strstrip (v);
  if (*v == '\0' || strlen (v) > MAX_VALUE || !g_utf8_validate (v, -1, NULL))
    {
      *ok = fail (error, group, "\"%s\" must be 1 to %d characters of UTF-8", key,
                  MAX_VALUE);
      return NULL;
    }
  return g_steal_pointer (&v);
}

static gboolean
get_int (GKeyFile *kf, const char *group, const char *key, gint64 min, gint64 max,
         gint64 *out, GError **error)
{
  gboolean ok = TRUE;
  g_autofree char *v = get_string (kf, group, key, FALSE, &ok, error);
  if (v == NULL)
    return ok;
  gint64 n;
  if (!g_ascii_string_to_signed (v, 10, min, max, &n, NULL))
    return fail (error, group,
                 "\"%s\" must be a whole number from %" G_GINT64_FORMAT
                 " to %" G_GINT64_FORMAT,
                 key, min, max);
  *out = n;
  return TRUE;
}

static GStrv
get_list (GKeyFile *kf, const char *group, const char *key, gboolean required,
          gboolean *ok, GError **error)
{
  g_autofree char *v = get_string (kf, group, key, required, ok, error);
  if (v == NULL)
    return NULL;
  g_auto (GStrv) parts = g_strsplit_set (v, ";,", -1);
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      g_strstrip (parts[i]);
      if (*parts[i] != '\0')
        g_ptr_array_add (out, g_strdup (parts[i]));
    }
  if (out->len == 0 || out->len > MAX_LIST)
    {
      *ok = fail (error, group, "\"%s\" must list 1 to %d items", key, MAX_LIST);
      return NULL;
    }
  g_ptr_array_add (out, NULL);
  return (GStrv) g_ptr_array_free (g_steal_pointer (&out), FALSE);
}

static gboolean
is_hex_hash (const char *s)
{
  if (strlen (s) != 64)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isxdigit (*p) || g_ascii_isupper (*p))
      return FALSE;
  return TRUE;
}

char *
fz_portal_token_hash (const char *token)
{
  return g_compute_checksum_for_string (G_CHECKSUM_SHA256, token, -1);
}

char *
fz_portal_config_derive_id (const FzPortalConfig *c, const char *kind, const char *name)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, (const guchar *) "fz-portal-id", 13);
  g_checksum_update (sum, (const guchar *) c->account_slug, strlen (c->account_slug) + 1);
  g_checksum_update (sum, (const guchar *) kind, strlen (kind) + 1);
  g_checksum_update (sum, (const guchar *) name, strlen (name));
  guint8 d[32];
  gsize n = sizeof d;
  g_checksum_get_digest (sum, d, &n);
  /* RFC 9562 version 8 (custom), variant 10. */
  d[6] = (d[6] & 0x0f) | 0x80;
  d[8] = (d[8] & 0x3f) | 0x80;
  return g_strdup_printf (
    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0], d[1],
    d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14],
    d[15]);
}

static const char *const portal_keys[] = { "account_slug",
                                           "account_name",
                                           "listen",
                                           "tls_certificate",
                                           "tls_key",
                                           "secret_file",
                                           "client_token_lifetime",
                                           "idle_timeout",
                                           "authorization_timeout",
                                           "connect_limit",
                                           "connect_window",
                                           "request_timeout",
                                           "connections_per_address",
                                           "search_domain",
                                           "upstream_do53",
                                           NULL };

gboolean
fz_portal_parse_listen (FzSockAddr *sa, const char *text)
{
  if (fz_sock_addr_parse (sa, text))
    return TRUE;
  if (!g_str_has_suffix (text, ":0"))
    return FALSE;
  /* Port 0: any free port (tests and demos read the one chosen). */
  g_autofree char *t = g_strdup (text);
  t[strlen (t) - 1] = '1';
  if (!fz_sock_addr_parse (sa, t))
    return FALSE;
  sa->port = 0;
  return TRUE;
}

static char *
relative_path (const char *config_path, const char *value)
{
  if (g_path_is_absolute (value))
    return g_strdup (value);
  g_autofree char *dir = g_path_get_dirname (config_path);
  return g_build_filename (dir, value, NULL);
}

static gboolean
parse_portal (GKeyFile *kf, FzPortalConfig *c, GError **error)
{
  const char *g = "portal";
  gboolean ok = TRUE;
  if (!g_key_file_has_group (kf, g))
    return fail (error, g, "the group is missing");
  if (!check_keys (kf, g, portal_keys, error))
    return FALSE;
  c->account_slug = get_string (kf, g, "account_slug", TRUE, &ok, error);
  if (!ok)
    return FALSE;
  for (const char *p = c->account_slug; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-')
      return fail (error, g, "account_slug may hold only letters, digits, _ and -");
  if (strlen (c->account_slug) > MAX_NAME || strcmp (c->account_slug, "healthz") == 0
      || strcmp (c->account_slug, "client") == 0
      || strcmp (c->account_slug, "gateway") == 0)
    return fail (error, g, "account_slug \"%s\" is not allowed", c->account_slug);
  c->account_name = get_string (kf, g, "account_name", FALSE, &ok, error);
  if (c->account_name == NULL)
    c->account_name = g_strdup (c->account_slug);
  g_autofree char *listen = get_string (kf, g, "listen", FALSE, &ok, error);
  if (!ok)
    return FALSE;
  if (listen == NULL)
    fz_sock_addr_parse (&c->listen, "127.0.0.1:8080");
  else if (!fz_portal_parse_listen (&c->listen, listen))
    return fail (error, g, "listen \"%s\" is not IP:PORT or [IPv6]:PORT", listen);
  c->listen_file = c->listen;
  g_autofree char *cert = get_string (kf, g, "tls_certificate", FALSE, &ok, error);
  g_autofree char *key = get_string (kf, g, "tls_key", FALSE, &ok, error);
  g_autofree char *secret = get_string (kf, g, "secret_file", FALSE, &ok, error);
  if (!ok)
    return FALSE;
  if ((cert == NULL) != (key == NULL))
    return fail (error, g, "tls_certificate and tls_key go together");
  if (cert != NULL)
    {
      c->tls_certificate = relative_path (c->path, cert);
      c->tls_key = relative_path (c->path, key);
    }
  c->secret_file = relative_path (c->path, secret != NULL ? secret : "fz-portal.secret");

  gint64 limit = 30;
  c->client_token_lifetime = 7 * 24 * 3600;
  c->idle_timeout = 37;
  c->authorization_timeout = 15;
  c->connect_window = 60;
  c->request_timeout = 10;
  gint64 per_address = 512;
  if (!get_int (kf, g, "client_token_lifetime", 1, G_GINT64_CONSTANT (10) * 365 * 86400,
                &c->client_token_lifetime, error)
      || !get_int (kf, g, "idle_timeout", 1, 3600, &c->idle_timeout, error)
      || !get_int (kf, g, "authorization_timeout", 1, 600, &c->authorization_timeout,
                   error)
      || !get_int (kf, g, "connect_limit", 1, 100000, &limit, error)
      || !get_int (kf, g, "connect_window", 1, 86400, &c->connect_window, error)
      || !get_int (kf, g, "request_timeout", 1, 300, &c->request_timeout, error)
      || !get_int (kf, g, "connections_per_address", 1, 1000000, &per_address, error))
    return FALSE;
  c->connect_limit = (guint) limit;
  c->connections_per_address = (guint) per_address;

  c->search_domain = get_string (kf, g, "search_domain", FALSE, &ok, error);
  g_auto (GStrv) dns = get_list (kf, g, "upstream_do53", FALSE, &ok, error);
  if (!ok)
    return FALSE;
  for (guint i = 0; dns != NULL && dns[i] != NULL; i++)
    {
      FzIpAddr a;
      if (!fz_ip_addr_parse (&a, dns[i]))
        return fail (error, g, "upstream_do53: \"%s\" is not an IP address", dns[i]);
      g_array_append_val (c->upstream_do53, a);
    }
  return TRUE;
}

static const char *const relay_keys[]
  = { "addresses", "secret", "username", "password", NULL };

static gboolean
parse_relay (GKeyFile *kf, FzPortalConfig *c, const char *g, const char *name,
             GError **error)
{
  gboolean ok = TRUE;
  if (!check_keys (kf, g, relay_keys, error))
    return FALSE;
  FzPortalRelay *r = g_new0 (FzPortalRelay, 1);
  g_ptr_array_add (c->relays, r);
  r->name = g_strdup (name);
  r->id = fz_portal_config_derive_id (c, "relay", name);
  r->addrs = g_array_new (FALSE, FALSE, sizeof (FzSockAddr));
  g_auto (GStrv) addrs = get_list (kf, g, "addresses", TRUE, &ok, error);
  r->secret = get_string (kf, g, "secret", FALSE, &ok, error);
  r->username = get_string (kf, g, "username", FALSE, &ok, error);
  r->password = get_string (kf, g, "password", FALSE, &ok, error);
  if (!ok)
    return FALSE;
  gboolean seen[2] = { FALSE, FALSE };
  for (guint i = 0; addrs[i] != NULL; i++)
    {
      FzSockAddr sa;
      if (!fz_sock_addr_parse (&sa, addrs[i]) || sa.port == 0)
        return fail (error, g, "addresses: \"%s\" is not IP:PORT or [IPv6]:PORT",
                     addrs[i]);
      if (seen[sa.ip.family == 6])
        return fail (error, g, "addresses: at most one IPv4 and one IPv6 address");
      seen[sa.ip.family == 6] = TRUE;
      g_array_append_val (r->addrs, sa);
    }
  if ((r->secret != NULL) == (r->username != NULL || r->password != NULL)
      || (r->username != NULL) != (r->password != NULL))
    return fail (error, g, "give either secret, or username and password");
  return TRUE;
}

static const char *const site_keys[] = { NULL };

static const char *const gateway_token_keys[] = { "site", "token_hash", NULL };

static const FzPortalSite *
find_site (const FzPortalConfig *c, const char *name)
{
  for (guint i = 0; i < c->sites->len; i++)
    {
      const FzPortalSite *s = c->sites->pdata[i];
      if (strcmp (s->name, name) == 0)
        return s;
    }
  return NULL;
}

static gboolean
parse_gateway_token (GKeyFile *kf, FzPortalConfig *c, const char *g, const char *name,
                     GError **error)
{
  gboolean ok = TRUE;
  if (!check_keys (kf, g, gateway_token_keys, error))
    return FALSE;
  g_autofree char *site = get_string (kf, g, "site", TRUE, &ok, error);
  g_autofree char *hash = get_string (kf, g, "token_hash", TRUE, &ok, error);
  if (!ok)
    return FALSE;
  const FzPortalSite *s = find_site (c, site);
  if (s == NULL)
    return fail (error, g, "site \"%s\" is not defined", site);
  if (!is_hex_hash (hash))
    return fail (error, g,
                 "token_hash must be 64 lowercase hex digits (fz-portal new-token)");
  FzPortalGatewayToken *t = g_new0 (FzPortalGatewayToken, 1);
  t->name = g_strdup (name);
  t->site_id = g_strdup (s->id);
  t->token_hash = g_steal_pointer (&hash);
  g_ptr_array_add (c->gateway_tokens, t);
  return TRUE;
}

static const char *const user_keys[] = { "name", "password_hash", "token_hashes", NULL };

static gboolean
parse_user (GKeyFile *kf, FzPortalConfig *c, const char *g, const char *name,
            GError **error)
{
  gboolean ok = TRUE;
  if (!check_keys (kf, g, user_keys, error))
    return FALSE;
  FzPortalUser *u = g_new0 (FzPortalUser, 1);
  g_ptr_array_add (c->users, u);
  u->name = g_strdup (name);
  u->id = fz_portal_config_derive_id (c, "user", name);
  u->token_hashes = g_ptr_array_new_with_free_func (g_free);
  u->full_name = get_string (kf, g, "name", FALSE, &ok, error);
  u->password_hash = get_string (kf, g, "password_hash", FALSE, &ok, error);
  g_auto (GStrv) tokens = get_list (kf, g, "token_hashes", FALSE, &ok, error);
  if (!ok)
    return FALSE;
  if (u->full_name == NULL)
    u->full_name = g_strdup (name);
  if (u->password_hash != NULL && !g_str_has_prefix (u->password_hash, "$argon2"))
    return fail (error, g,
                 "password_hash is not a crypto_pwhash string (fz-portal "
                 "hash-password)");
  for (guint i = 0; tokens != NULL && tokens[i] != NULL; i++)
    {
      if (!is_hex_hash (tokens[i]))
        return fail (error, g, "token_hashes must be 64 lowercase hex digits each");
      g_ptr_array_add (u->token_hashes, g_strdup (tokens[i]));
    }
  return TRUE;
}

static const char *const resource_keys[]
  = { "type",    "address",  "description",     "sites",
      "filters", "ip_stack", "can_be_disabled", NULL };

/* "tcp", "tcp:22", "udp:5000-5100" or "icmp". */
static gboolean
add_filter (JsonBuilder *b, const char *text)
{
  g_auto (GStrv) parts = g_strsplit (text, ":", 2);
  const char *proto = parts[0];
  if (strcmp (proto, "tcp") != 0 && strcmp (proto, "udp") != 0
      && strcmp (proto, "icmp") != 0)
    return FALSE;
  guint64 lo = 0, hi = 65535;
  if (parts[1] != NULL)
    {
      if (strcmp (proto, "icmp") == 0)
        return FALSE;
      g_auto (GStrv) range = g_strsplit (parts[1], "-", 2);
      if (range[0] == NULL
          || !g_ascii_string_to_unsigned (range[0], 10, 0, 65535, &lo, NULL))
        return FALSE;
      hi = lo;
      if (range[1] != NULL
          && (!g_ascii_string_to_unsigned (range[1], 10, lo, 65535, &hi, NULL)))
        return FALSE;
    }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "protocol");
  json_builder_add_string_value (b, proto);
  if (strcmp (proto, "icmp") != 0)
    {
      json_builder_set_member_name (b, "port_range_start");
      json_builder_add_int_value (b, (gint64) lo);
      json_builder_set_member_name (b, "port_range_end");
      json_builder_add_int_value (b, (gint64) hi);
    }
  json_builder_end_object (b);
  return TRUE;
}

/* Builds the resource as the protocol's JSON and decodes it with the
 * protocol's own strict decoder, so fz-portal can never push a resource
 * its clients would refuse. */
static gboolean
parse_resource (GKeyFile *kf, FzPortalConfig *c, const char *g, const char *name,
                GError **error)
{
  gboolean ok = TRUE;
  if (!check_keys (kf, g, resource_keys, error))
    return FALSE;
  g_autofree char *type = get_string (kf, g, "type", TRUE, &ok, error);
  g_autofree char *address = get_string (kf, g, "address", FALSE, &ok, error);
  g_autofree char *desc = get_string (kf, g, "description", FALSE, &ok, error);
  g_autofree char *stack = get_string (kf, g, "ip_stack", FALSE, &ok, error);
  g_auto (GStrv) sites = get_list (kf, g, "sites", TRUE, &ok, error);
  g_auto (GStrv) filters = get_list (kf, g, "filters", FALSE, &ok, error);
  if (!ok)
    return FALSE;
  gboolean internet = strcmp (type, "internet") == 0;
  if (!internet && strcmp (type, "cidr") != 0 && strcmp (type, "dns") != 0)
    return fail (error, g, "type must be cidr, dns or internet");
  if (internet != (address == NULL))
    return fail (error, g,
                 internet ? "an internet resource has no address" : "address is missing");
  gboolean can_be_disabled = TRUE;
  if (g_key_file_has_key (kf, g, "can_be_disabled", NULL))
    {
      g_autoptr (GError) e = NULL;
      can_be_disabled = g_key_file_get_boolean (kf, g, "can_be_disabled", &e);
      if (e != NULL)
        return fail (error, g, "can_be_disabled must be true or false");
    }

  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  g_autofree char *id = fz_portal_config_derive_id (c, "resource", name);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, id);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, type);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name);
  if (address != NULL)
    {
      json_builder_set_member_name (b, "address");
      json_builder_add_string_value (b, address);
    }
  if (desc != NULL)
    {
      json_builder_set_member_name (b, "address_description");
      json_builder_add_string_value (b, desc);
    }
  if (stack != NULL)
    {
      json_builder_set_member_name (b, "ip_stack");
      json_builder_add_string_value (b, stack);
    }
  json_builder_set_member_name (b, "can_be_disabled");
  json_builder_add_boolean_value (b, can_be_disabled);
  json_builder_set_member_name (b, "sites");
  json_builder_begin_array (b);
  for (guint i = 0; sites[i] != NULL; i++)
    {
      const FzPortalSite *s = find_site (c, sites[i]);
      if (s == NULL)
        return fail (error, g, "site \"%s\" is not defined", sites[i]);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "id");
      json_builder_add_string_value (b, s->id);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, s->name);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "filters");
  json_builder_begin_array (b);
  for (guint i = 0; filters != NULL && filters[i] != NULL; i++)
    if (!add_filter (b, filters[i]))
      return fail (error, g,
                   "filter \"%s\" is not tcp[:PORT[-PORT]], udp[:PORT[-PORT]] or icmp",
                   filters[i]);
  json_builder_end_array (b);
  json_builder_end_object (b);

  g_autoptr (JsonNode) node = json_builder_get_root (b);
  g_autoptr (GError) e = NULL;
  FzResource *r = fz_resource_decode (node, &e);
  if (r == NULL)
    return fail (error, g, "%s", e->message);
  g_ptr_array_add (c->resources, r);
  return TRUE;
}

static const char *const policy_keys[] = { "users", "resources", "valid_until", NULL };

/* ISO 8601 with a date and a time; UTC unless it names an offset. */
static gboolean
get_time (GKeyFile *kf, const char *group, const char *key, gint64 *out, GError **error)
{
  gboolean ok = TRUE;
  g_autofree char *v = get_string (kf, group, key, FALSE, &ok, error);
  if (v == NULL)
    return ok;
  g_autoptr (GTimeZone) utc = g_time_zone_new_utc ();
  g_autoptr (GDateTime) t = g_date_time_new_from_iso8601 (v, utc);
  if (t == NULL)
    return fail (error, group,
                 "\"%s\" must be an ISO 8601 date and time, such as "
                 "2026-12-31T18:00:00Z",
                 key);
  *out = g_date_time_to_unix (t);
  return TRUE;
}

/* By the name of its section: the name clients see may differ (an
 * Internet resource is always "Internet Resource" to them). */
static const FzResource *
find_resource_by_section (const FzPortalConfig *c, const char *name)
{
  g_autofree char *id = fz_portal_config_derive_id (c, "resource", name);

  return fz_portal_config_find_resource (c, id);
}

static gboolean
parse_policy (GKeyFile *kf, FzPortalConfig *c, const char *g, const char *name,
              GError **error)
{
  gboolean ok = TRUE;
  if (!check_keys (kf, g, policy_keys, error))
    return FALSE;
  g_auto (GStrv) users = get_list (kf, g, "users", TRUE, &ok, error);
  g_auto (GStrv) resources = get_list (kf, g, "resources", TRUE, &ok, error);
  gint64 until = 0;
  if (!ok || !get_time (kf, g, "valid_until", &until, error))
    return FALSE;
  FzPortalPolicy *p = g_new0 (FzPortalPolicy, 1);
  g_ptr_array_add (c->policies, p);
  p->valid_until = until;
  p->name = g_strdup (name);
  p->users = g_ptr_array_new_with_free_func (g_free);
  p->resources = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; users[i] != NULL; i++)
    {
      if (strcmp (users[i], "*") != 0 && fz_portal_config_find_user (c, users[i]) == NULL)
        return fail (error, g, "user \"%s\" is not defined", users[i]);
      g_ptr_array_add (p->users, g_strdup (users[i]));
    }
  for (guint i = 0; resources[i] != NULL; i++)
    {
      const FzResource *r = find_resource_by_section (c, resources[i]);
      if (r == NULL)
        return fail (error, g, "resource \"%s\" is not defined", resources[i]);
      g_ptr_array_add (p->resources, g_strdup (r->id));
    }
  return TRUE;
}

static gboolean
parse_site (GKeyFile *kf, FzPortalConfig *c, const char *g, const char *name,
            GError **error)
{
  if (!check_keys (kf, g, site_keys, error))
    return FALSE;
  FzPortalSite *s = g_new0 (FzPortalSite, 1);
  s->name = g_strdup (name);
  s->id = fz_portal_config_derive_id (c, "site", name);
  g_ptr_array_add (c->sites, s);
  return TRUE;
}

typedef gboolean (*ParseFn) (GKeyFile *, FzPortalConfig *, const char *, const char *,
                             GError **);

/* Sections in dependency order: sites before what names them. */
static const struct
{
  const char *kind;
  ParseFn parse;
} kinds[] = {
  { "relay", parse_relay },
  { "site", parse_site },
  { "gateway-token", parse_gateway_token },
  { "user", parse_user },
  { "resource", parse_resource },
  { "policy", parse_policy },
};

/* GKeyFile merges a group given twice into one, so an appended copy of a
 * section would silently widen it: find the first header seen before,
 * reading headers the way GKeyFile does ("[name]", blanks around). */
static char *
duplicate_group (const char *text, gsize len)
{
  g_autoptr (GHashTable) seen
    = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  const char *end = text + len;
  for (const char *line = text; line < end;)
    {
      const char *eol = memchr (line, '\n', end - line);
      const char *next = eol != NULL ? eol + 1 : end;
      if (eol == NULL)
        eol = end;
      while (line < eol && g_ascii_isspace (*line))
        line++;
      const char *close = line < eol ? memchr (line, ']', eol - line) : NULL;
      if (line < eol && *line == '[' && close != NULL)
        {
          const char *p = close + 1;
          while (p < eol && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
          char *name = g_strndup (line + 1, close - line - 1);
          if (p == eol && !g_hash_table_add (seen, name))
            return g_strndup (line + 1, close - line - 1);
          if (p != eol)
            g_free (name);
        }
      line = next;
    }
  return NULL;
}

FzPortalConfig *
fz_portal_config_parse (const char *text, gsize len, const char *path, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) e = NULL;
  if (len > MAX_CONFIG)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE,
                   "the file is larger than %d bytes", MAX_CONFIG);
      return NULL;
    }
  if (!g_key_file_load_from_data (kf, text, len, G_KEY_FILE_NONE, &e))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE, "%s", e->message);
      return NULL;
    }
  g_autofree char *twice = duplicate_group (text, len);
  if (twice != NULL)
    {
      fail (error, twice, "appears twice; give each section once");
      return NULL;
    }
  g_autoptr (FzPortalConfig) c = g_new0 (FzPortalConfig, 1);
  c->path = g_strdup (path != NULL ? path : "fz-portal.conf");
  c->upstream_do53 = g_array_new (FALSE, FALSE, sizeof (FzIpAddr));
  c->relays = g_ptr_array_new_with_free_func ((GDestroyNotify) relay_free);
  c->sites = g_ptr_array_new_with_free_func ((GDestroyNotify) site_free);
  c->gateway_tokens
    = g_ptr_array_new_with_free_func ((GDestroyNotify) gateway_token_free);
  c->users = g_ptr_array_new_with_free_func ((GDestroyNotify) user_free);
  c->resources = g_ptr_array_new_with_free_func ((GDestroyNotify) fz_resource_free);
  c->policies = g_ptr_array_new_with_free_func ((GDestroyNotify) policy_free);
  if (!parse_portal (kf, c, error))
    return NULL;

  g_auto (GStrv) groups = g_key_file_get_groups (kf, NULL);
  g_autoptr (GHashTable) seen
    = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      const char *g = groups[i];
      if (strcmp (g, "portal") == 0)
        continue;
      const char *space = strchr (g, ' ');
      g_autofree char *kind = space ? g_strndup (g, space - g) : g_strdup (g);
      gboolean known = FALSE;
      for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
        known |= strcmp (kinds[k].kind, kind) == 0;
      if (!known)
        {
          fail (error, g,
                "unknown section: expected portal, relay, site, gateway-token, "
                "user, resource or policy");
          return NULL;
        }
      if (space == NULL || !valid_name (space + 1))
        {
          fail (error, g, "a %s needs a name of 1 to %d letters, digits or ._-@+ ", kind,
                MAX_NAME);
          return NULL;
        }
      /* Names are unique per kind, case-insensitively. */
      g_autofree char *folded = g_ascii_strdown (g, -1);
      if (!g_hash_table_add (seen, g_steal_pointer (&folded)))
        {
          fail (error, g, "defined twice");
          return NULL;
        }
    }
  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    for (guint i = 0; groups[i] != NULL; i++)
      {
        const char *g = groups[i];
        gsize n = strlen (kinds[k].kind);
        if (strncmp (g, kinds[k].kind, n) != 0 || g[n] != ' ')
          continue;
        if (!kinds[k].parse (kf, c, g, g + n + 1, error))
          return NULL;
      }
  return g_steal_pointer (&c);
}

FzPortalConfig *
fz_portal_config_load (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  gsize len;
  if (!g_file_get_contents (path, &text, &len, error))
    return NULL;
  g_autoptr (GError) e = NULL;
  FzPortalConfig *c = fz_portal_config_parse (text, len, path, &e);
  if (c == NULL)
    g_set_error (error, e->domain, e->code, "%s: %s", path, e->message);
  return c;
}

const FzPortalUser *
fz_portal_config_find_user (const FzPortalConfig *c, const char *name)
{
  for (guint i = 0; i < c->users->len; i++)
    {
      const FzPortalUser *u = c->users->pdata[i];
      if (strcmp (u->name, name) == 0)
        return u;
    }
  return NULL;
}

const FzResource *
fz_portal_config_find_resource (const FzPortalConfig *c, const char *id)
{
  for (guint i = 0; i < c->resources->len; i++)
    {
      const FzResource *r = c->resources->pdata[i];
      if (strcmp (r->id, id) == 0)
        return r;
    }
  return NULL;
}

static gboolean
contains (GPtrArray *a, const char *s)
{
  for (guint i = 0; i < a->len; i++)
    if (strcmp (a->pdata[i], s) == 0)
      return TRUE;
  return FALSE;
}

gint64
fz_portal_config_access_until (const FzPortalConfig *c, const char *user,
                               const char *resource_id, gint64 now)
{
  const FzResource *r = fz_portal_config_find_resource (c, resource_id);
  if (r == NULL)
    return 0;
  gint64 until = 0;
  for (guint i = 0; i < c->policies->len; i++)
    {
      const FzPortalPolicy *p = c->policies->pdata[i];
      if ((contains (p->users, "*") || contains (p->users, user))
          && contains (p->resources, r->id)
          && (p->valid_until == 0 || p->valid_until > now))
        until = MAX (until, p->valid_until == 0 ? G_MAXINT64 : p->valid_until);
    }
  return until;
}

gboolean
fz_portal_config_allows (const FzPortalConfig *c, const char *user,
                         const char *resource_id)
{
  return fz_portal_config_access_until (c, user, resource_id,
                                        g_get_real_time () / G_USEC_PER_SEC)
         != 0;
}

gint64
fz_portal_config_next_policy_end (const FzPortalConfig *c, gint64 after)
{
  gint64 next = G_MAXINT64;
  for (guint i = 0; i < c->policies->len; i++)
    {
      const FzPortalPolicy *p = c->policies->pdata[i];
      if (p->valid_until > after)
        next = MIN (next, p->valid_until);
    }
  return next;
}
