#include "fz-ip-prefix-private.h"

#include <string.h>

guint
fz_ip_prefix_max_len (guint8 family)
{
  return family == 4 ? 32 : family == 6 ? 128 : 0;
}

static void
clear_host_bits (FzIpAddr *a, guint len)
{
  for (guint i = 0; i < 16; i++)
    {
      guint keep = len > i * 8 ? MIN (8u, len - i * 8) : 0;
      a->bytes[i] &= (guint8) (0xff00 >> keep);
    }
}

void
fz_ip_prefix_init (FzIpPrefix *prefix, const FzIpAddr *addr, guint len)
{
  memset (prefix, 0, sizeof *prefix);
  prefix->addr = *addr;
  prefix->len = (guint8) MIN (len, fz_ip_prefix_max_len (addr->family));
  clear_host_bits (&prefix->addr, prefix->len);
}

/* Decimal digits only, no leading zero, at most @max. */
static gboolean
parse_len (const char *s, guint max, guint *len)
{
  guint v = 0;
  gsize n = strlen (s);

  if (n == 0 || n > 3 || (s[0] == '0' && n > 1))
    return FALSE;
  for (gsize i = 0; i < n; i++)
    {
      if (!g_ascii_isdigit (s[i]))
        return FALSE;
      v = v * 10 + (guint) (s[i] - '0');
    }
  if (v > max)
    return FALSE;
  *len = v;
  return TRUE;
}

gboolean
fz_ip_prefix_parse (FzIpPrefix *prefix, const char *text)
{
  char addr_text[FZ_IP_ADDR_STRLEN];
  const char *slash;
  FzIpAddr addr;
  guint len;

  g_return_val_if_fail (prefix != NULL, FALSE);
  if (text == NULL)
    return FALSE;
  slash = strchr (text, '/');
  if (slash == NULL)
    slash = text + strlen (text);
  if ((gsize) (slash - text) >= sizeof addr_text)
    return FALSE;
  memcpy (addr_text, text, (gsize) (slash - text));
  addr_text[slash - text] = '\0';
  if (!fz_ip_addr_parse (&addr, addr_text))
    return FALSE;
  len = fz_ip_prefix_max_len (addr.family);
  if (*slash == '/' && !parse_len (slash + 1, len, &len))
    return FALSE;
  fz_ip_prefix_init (prefix, &addr, len);
  return TRUE;
}

char *
fz_ip_prefix_to_string (const FzIpPrefix *prefix, char buf[FZ_IP_PREFIX_STRLEN])
{
  char a[FZ_IP_ADDR_STRLEN];

  g_snprintf (buf, FZ_IP_PREFIX_STRLEN, "%s/%u", fz_ip_addr_to_string (&prefix->addr, a),
              prefix->len);
  return buf;
}

gboolean
fz_ip_prefix_equal (const FzIpPrefix *a, const FzIpPrefix *b)
{
  return a->len == b->len && fz_ip_addr_equal (&a->addr, &b->addr);
}

gboolean
fz_ip_prefix_contains (const FzIpPrefix *prefix, const FzIpAddr *addr)
{
  FzIpPrefix p;

  if (addr->family != prefix->addr.family)
    return FALSE;
  fz_ip_prefix_init (&p, addr, prefix->len);
  return fz_ip_addr_equal (&p.addr, &prefix->addr);
}

/* /11 in IPv4: the second byte's top 3 bits; /107 in IPv6: 13 bytes and
 * the top 3 bits of the 14th. */
static gboolean
in_range (const FzIpAddr *addr, guint8 v4_second, guint8 v6_seventh)
{
  const guint8 v6[13] = { 0xfd, 0x00, 0x20, 0x21, 0x11, 0x11, v6_seventh };

  if (addr->family == 4)
    return addr->bytes[0] == 100 && (addr->bytes[1] & 0xe0) == v4_second;
  return addr->family == 6 && memcmp (addr->bytes, v6, sizeof v6) == 0
         && (addr->bytes[13] & 0xe0) == 0;
}

gboolean
fz_ip_in_tunnel_range (const FzIpAddr *addr)
{
  return in_range (addr, 64, 0x00);
}

gboolean
fz_ip_in_proxy_range (const FzIpAddr *addr)
{
  return in_range (addr, 96, 0x80);
}

gboolean
fz_ip_addr_is_group (const FzIpAddr *a)
{
  static const guint8 zero[16] = { 0 };
  if (a->family == 4)
    return (a->bytes[0] & 0xf0) == 0xe0 || a->bytes[0] == 0
           || memcmp (a->bytes, "\xff\xff\xff\xff", 4) == 0;
  return a->bytes[0] == 0xff || memcmp (a->bytes, zero, 16) == 0;
}

guint
fz_ip_addr_hash_func (gconstpointer addr)
{
  return fz_ip_addr_hash (addr);
}

gboolean
fz_ip_addr_equal_func (gconstpointer a, gconstpointer b)
{
  return fz_ip_addr_equal (a, b);
}
