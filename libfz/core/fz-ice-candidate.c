#include "fz-ice-candidate.h"

#include <stdlib.h>
#include <string.h>

/* The quark name is a string, not an expression: keep its dashes. */
/* clang-format off */
G_DEFINE_QUARK (fz-ice-candidate-error-quark, fz_ice_candidate_error)
/* clang-format on */

static const char *const type_names[] = { "host", "srflx", "prflx", "relay" };
static const guint8 type_pref[] = { 126, 100, 110, 0 };

const char *
fz_ice_candidate_type_to_string (FzIceCandidateType type)
{
  return type <= FZ_ICE_RELAY ? type_names[type] : "?";
}

guint32
fz_ice_candidate_priority (FzIceCandidateType type, guint8 family, guint16 component)
{
  guint32 local_pref = family == 6 ? 65535 : 65534;
  return ((guint32) type_pref[type] << 24) | (local_pref << 8) | (256u - component);
}

void
fz_ice_candidate_init_local (FzIceCandidate *c, FzIceCandidateType type,
                             const FzSockAddr *addr, const FzSockAddr *base,
                             const FzSockAddr *server)
{
  memset (c, 0, sizeof *c);
  c->type = type;
  c->addr = *addr;
  c->base = *base;
  c->component = 1;
  c->priority = fz_ice_candidate_priority (type, addr->ip.family, 1);
  if (type != FZ_ICE_HOST)
    c->related = *base;

  /* Same type, base IP and server: same foundation (RFC 8445 5.1.1.3). */
  char ip[FZ_IP_ADDR_STRLEN], srv[FZ_SOCK_ADDR_STRLEN] = "";
  fz_ip_addr_to_string (&base->ip, ip);
  if (server != NULL)
    fz_sock_addr_to_string (server, srv);
  g_autofree char *key = g_strdup_printf ("%d/%s/%s", type, ip, srv);
  g_snprintf (c->foundation, sizeof c->foundation, "%u", g_str_hash (key));
}

/* 1*32 ice-char: ALPHA / DIGIT / "+" / "/" */
static gboolean
foundation_ok (const char *s)
{
  gsize n = strlen (s);
  if (n == 0 || n > FZ_ICE_MAX_FOUNDATION)
    return FALSE;
  for (; *s; s++)
    if (!g_ascii_isalnum (*s) && *s != '+' && *s != '/')
      return FALSE;
  return TRUE;
}

static gboolean
parse_uint (const char *s, guint64 max, guint64 *out)
{
  if (*s == '\0' || strlen (s) > 10)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  guint64 v = g_ascii_strtoull (s, NULL, 10);
  if (v > max)
    return FALSE;
  *out = v;
  return TRUE;
}

static gboolean
parse_addr (const char *ip, const char *port, FzSockAddr *out, GError **error)
{
  guint64 p;
  if (!fz_ip_addr_parse (&out->ip, ip))
    {
      /* mDNS names (xxx.local) and FQDNs are valid SDP but not for us. */
      g_set_error (error, FZ_ICE_CANDIDATE_ERROR, FZ_ICE_CANDIDATE_ERROR_UNSUPPORTED,
                   "candidate address \"%.64s\" is not an IP address", ip);
      return FALSE;
    }
  if (!parse_uint (port, 65535, &p) || p == 0)
    {
      g_set_error (error, FZ_ICE_CANDIDATE_ERROR, FZ_ICE_CANDIDATE_ERROR_INVALID,
                   "candidate port \"%.16s\" is not 1-65535", port);
      return FALSE;
    }
  out->port = (guint16) p;
  return TRUE;
}

gboolean
fz_ice_candidate_parse (FzIceCandidate *c, const char *text, GError **error)
{
  memset (c, 0, sizeof *c);
  gsize n = strnlen (text, FZ_ICE_MAX_CANDIDATE_TEXT + 1);
  if (n > FZ_ICE_MAX_CANDIDATE_TEXT)
    {
      g_set_error (error, FZ_ICE_CANDIDATE_ERROR, FZ_ICE_CANDIDATE_ERROR_INVALID,
                   "candidate longer than %d bytes", FZ_ICE_MAX_CANDIDATE_TEXT);
      return FALSE;
    }
  if (g_str_has_prefix (text, "a="))
    text += 2;
  if (!g_str_has_prefix (text, "candidate:"))
    {
      g_set_error (error, FZ_ICE_CANDIDATE_ERROR, FZ_ICE_CANDIDATE_ERROR_INVALID,
                   "candidate does not start with \"candidate:\"");
      return FALSE;
    }
  g_auto (GStrv) f = g_strsplit (text + strlen ("candidate:"), " ", -1);
  guint nf = g_strv_length (f);
  guint64 v;

  if (nf < 8 || strcmp (f[6], "typ") != 0)
    {
      g_set_error (
        error, FZ_ICE_CANDIDATE_ERROR, FZ_ICE_CANDIDATE_ERROR_INVALID,
        "candidate needs: foundation component transport priority address port "
        "typ type");
      return FALSE;
    }
  if (!foundation_ok (f[0]))
    {
      g_set_error (error, FZ_ICE_CANDIDATE_ERROR, FZ_ICE_CANDIDATE_ERROR_INVALID,
                   "candidate foundation is not 1-32 letters, digits, + or /");
      return FALSE;
    }
  strcpy (c->foundation, f[0]);
  if (!parse_uint (f[1], 256, &v) || v == 0)
    {
      g_set_error (error, FZ_ICE_CANDIDATE_ERROR, FZ_ICE_CANDIDATE_ERROR_INVALID,
                   "candidate component \"%.16s\" is not 1-256", f[1]);
      return FALSE;
    }
  c->component = (guint16) v;
  if (g_ascii_strcasecmp (f[2], "udp") != 0)
    {
      g_set_error (error, FZ_ICE_CANDIDATE_ERROR, FZ_ICE_CANDIDATE_ERROR_UNSUPPORTED,
                   "candidate transport \"%.16s\" is not UDP", f[2]);
      return FALSE;
    }
  if (!parse_uint (f[3], G_MAXINT32, &v) || v == 0)
    {
      g_set_error (error, FZ_ICE_CANDIDATE_ERROR, FZ_ICE_CANDIDATE_ERROR_INVALID,
                   "candidate priority \"%.16s\" is not 1-2147483647", f[3]);
      return FALSE;
    }
  c->priority = (guint32) v;
  if (!parse_addr (f[4], f[5], &c->addr, error))
    return FALSE;
  c->base = c->addr;

  gboolean found = FALSE;
  for (guint t = 0; t < G_N_ELEMENTS (type_names); t++)
    if (strcmp (f[7], type_names[t]) == 0)
      {
        c->type = (FzIceCandidateType) t;
        found = TRUE;
      }
  if (!found)
    {
      g_set_error (error, FZ_ICE_CANDIDATE_ERROR, FZ_ICE_CANDIDATE_ERROR_INVALID,
                   "candidate type \"%.16s\" is not host, srflx, prflx or relay", f[7]);
      return FALSE;
    }

  /* Then name/value pairs: raddr/rport, or extensions we skip. */
  const char *raddr = NULL, *rport = NULL;
  for (guint i = 8; i < nf; i += 2)
    {
      if (i + 1 >= nf || f[i][0] == '\0' || f[i + 1][0] == '\0')
        {
          g_set_error (error, FZ_ICE_CANDIDATE_ERROR, FZ_ICE_CANDIDATE_ERROR_INVALID,
                       "candidate attribute \"%.16s\" has no value", f[i]);
          return FALSE;
        }
      if (strcmp (f[i], "raddr") == 0)
        raddr = f[i + 1];
      else if (strcmp (f[i], "rport") == 0)
        rport = f[i + 1];
    }
  if ((raddr == NULL) != (rport == NULL))
    {
      g_set_error (error, FZ_ICE_CANDIDATE_ERROR, FZ_ICE_CANDIDATE_ERROR_INVALID,
                   "candidate has raddr without rport or the other way round");
      return FALSE;
    }
  if (raddr != NULL)
    {
      /* "raddr 0.0.0.0 rport 0" hides the base address; allow it. */
      guint64 p;
      if (!fz_ip_addr_parse (&c->related.ip, raddr) || !parse_uint (rport, 65535, &p))
        {
          g_set_error (error, FZ_ICE_CANDIDATE_ERROR, FZ_ICE_CANDIDATE_ERROR_INVALID,
                       "candidate raddr/rport is not an IP address and port");
          return FALSE;
        }
      c->related.port = (guint16) p;
    }
  return TRUE;
}

char *
fz_ice_candidate_to_string (const FzIceCandidate *c)
{
  char ip[FZ_IP_ADDR_STRLEN];
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "candidate:%s %u udp %u %s %u typ %s", c->foundation,
                          c->component, c->priority,
                          fz_ip_addr_to_string (&c->addr.ip, ip), c->addr.port,
                          fz_ice_candidate_type_to_string (c->type));
  if (c->related.ip.family != 0)
    g_string_append_printf (s, " raddr %s rport %u",
                            fz_ip_addr_to_string (&c->related.ip, ip), c->related.port);
  return g_string_free (s, FALSE);
}

gboolean
fz_ice_candidate_equal (const FzIceCandidate *a, const FzIceCandidate *b)
{
  return a->type == b->type && a->component == b->component
         && fz_sock_addr_equal (&a->addr, &b->addr)
         && fz_sock_addr_equal (&a->base, &b->base);
}

gint
fz_ice_candidate_compare (gconstpointer a, gconstpointer b)
{
  guint32 pa = ((const FzIceCandidate *) a)->priority;
  guint32 pb = ((const FzIceCandidate *) b)->priority;
  return pa < pb ? 1 : pa > pb ? -1 : 0;
}
