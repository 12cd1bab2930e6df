#include "fz-allowed-ips.h"

#include <string.h>

void
fz_allowed_ips_init (FzAllowedIps *t)
{
  t->entries = g_array_new (FALSE, FALSE, sizeof (FzAllowedIp));
}

void
fz_allowed_ips_clear (FzAllowedIps *t)
{
  g_clear_pointer (&t->entries, g_array_unref);
}

static void
mask (FzIpAddr *a, guint8 cidr)
{
  gsize n = fz_ip_addr_len (a);

  for (gsize i = 0; i < n; i++)
    {
      guint bits = cidr > i * 8 ? MIN (8u, cidr - (guint) i * 8) : 0;
      a->bytes[i] &= (guint8) (0xff00 >> bits);
    }
}

static gboolean
contains (const FzAllowedIp *e, const FzIpAddr *addr)
{
  FzIpAddr a = *addr;

  if (a.family != e->net.family)
    return FALSE;
  mask (&a, e->cidr);
  return fz_ip_addr_equal (&a, &e->net);
}

void
fz_allowed_ips_add (FzAllowedIps *t, const FzIpAddr *net, guint8 cidr, FzWgPeer *peer)
{
  FzAllowedIp e = { .net = *net, .cidr = cidr, .peer = peer };
  guint i;

  mask (&e.net, cidr);
  for (i = 0; i < t->entries->len; i++)
    {
      FzAllowedIp *o = &g_array_index (t->entries, FzAllowedIp, i);
      if (o->cidr == cidr && fz_ip_addr_equal (&o->net, &e.net))
        {
          o->peer = peer; /* moves to the new peer */
          return;
        }
    }
  /* Keep longest prefixes first so the first match is the longest. */
  for (i = 0; i < t->entries->len; i++)
    if (g_array_index (t->entries, FzAllowedIp, i).cidr < cidr)
      break;
  g_array_insert_val (t->entries, i, e);
}

void
fz_allowed_ips_remove_peer (FzAllowedIps *t, FzWgPeer *peer)
{
  for (guint i = t->entries->len; i-- > 0;)
    if (g_array_index (t->entries, FzAllowedIp, i).peer == peer)
      g_array_remove_index (t->entries, i);
}

FzWgPeer *
fz_allowed_ips_lookup (FzAllowedIps *t, const FzIpAddr *addr)
{
  for (guint i = 0; i < t->entries->len; i++)
    {
      FzAllowedIp *e = &g_array_index (t->entries, FzAllowedIp, i);
      if (contains (e, addr))
        return e->peer;
    }
  return NULL;
}

gboolean
fz_allowed_ips_parse (const char *text, FzIpAddr *net, guint8 *cidr)
{
  g_autofree char *addr = NULL;
  const char *slash = strchr (text, '/');
  guint64 len;
  char *end;

  if (slash == NULL)
    return FALSE;
  addr = g_strndup (text, (gsize) (slash - text));
  if (!fz_ip_addr_parse (net, addr))
    return FALSE;
  if (!g_ascii_isdigit (slash[1]))
    return FALSE;
  len = g_ascii_strtoull (slash + 1, &end, 10);
  if (*end != '\0' || len > (net->family == 4 ? 32u : 128u))
    return FALSE;
  *cidr = (guint8) len;
  mask (net, *cidr);
  return TRUE;
}
