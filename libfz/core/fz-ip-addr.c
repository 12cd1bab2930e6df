#include "fz-ip-addr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

void
fz_ip_addr_set_v4 (FzIpAddr *addr, const guint8 bytes[4])
{
  memset (addr, 0, sizeof *addr);
  addr->family = 4;
  memcpy (addr->bytes, bytes, 4);
}

void
fz_ip_addr_set_v6 (FzIpAddr *addr, const guint8 bytes[16])
{
  addr->family = 6;
  memcpy (addr->bytes, bytes, 16);
}

/* Strict: dotted quad or RFC 4291 text, no ports, no scope ids. */
gboolean
fz_ip_addr_parse (FzIpAddr *addr, const char *text)
{
  guint8 buf[16];

  g_return_val_if_fail (addr != NULL, FALSE);
  if (text == NULL)
    return FALSE;
  if (inet_pton (AF_INET, text, buf) == 1)
    {
      fz_ip_addr_set_v4 (addr, buf);
      return TRUE;
    }
  if (inet_pton (AF_INET6, text, buf) == 1)
    {
      fz_ip_addr_set_v6 (addr, buf);
      return TRUE;
    }
  return FALSE;
}

char *
fz_ip_addr_to_string (const FzIpAddr *addr, char buf[FZ_IP_ADDR_STRLEN])
{
  int af = addr->family == 4 ? AF_INET : AF_INET6;

  if (addr->family != 4 && addr->family != 6)
    {
      g_strlcpy (buf, "(none)", FZ_IP_ADDR_STRLEN);
      return buf;
    }
  if (inet_ntop (af, addr->bytes, buf, FZ_IP_ADDR_STRLEN) == NULL)
    g_strlcpy (buf, "(invalid)", FZ_IP_ADDR_STRLEN);
  return buf;
}

gsize
fz_ip_addr_len (const FzIpAddr *addr)
{
  return addr->family == 4 ? 4 : addr->family == 6 ? 16 : 0;
}

gboolean
fz_ip_addr_equal (const FzIpAddr *a, const FzIpAddr *b)
{
  return a->family == b->family && memcmp (a->bytes, b->bytes, fz_ip_addr_len (a)) == 0;
}

guint
fz_ip_addr_hash (const FzIpAddr *addr)
{
  /* FNV-1a over family and address bytes. */
  guint32 h = 2166136261u ^ addr->family;
  gsize n = fz_ip_addr_len (addr);

  h *= 16777619u;
  for (gsize i = 0; i < n; i++)
    {
      h ^= addr->bytes[i];
      h *= 16777619u;
    }
  return h;
}

gboolean
fz_sock_addr_equal (const FzSockAddr *a, const FzSockAddr *b)
{
  return a->port == b->port && fz_ip_addr_equal (&a->ip, &b->ip);
}

char *
fz_sock_addr_to_string (const FzSockAddr *sa, char buf[FZ_SOCK_ADDR_STRLEN])
{
  char ip[FZ_IP_ADDR_STRLEN];

  fz_ip_addr_to_string (&sa->ip, ip);
  g_snprintf (buf, FZ_SOCK_ADDR_STRLEN, sa->ip.family == 6 ? "[%s]:%u" : "%s:%u", ip,
              sa->port);
  return buf;
}

gboolean
fz_sock_addr_parse (FzSockAddr *out, const char *s)
{
  g_autofree char *ip = NULL;
  const char *port;
  if (s[0] == '[')
    {
      const char *close = strchr (s, ']');
      if (close == NULL || close[1] != ':')
        return FALSE;
      ip = g_strndup (s + 1, close - s - 1);
      port = close + 2;
      if (!fz_ip_addr_parse (&out->ip, ip) || out->ip.family != 6)
        return FALSE;
    }
  else
    {
      const char *colon = strrchr (s, ':');
      if (colon == NULL)
        return FALSE;
      ip = g_strndup (s, colon - s);
      port = colon + 1;
      if (!fz_ip_addr_parse (&out->ip, ip) || out->ip.family != 4)
        return FALSE;
    }
  if (*port == '\0' || strlen (port) > 5)
    return FALSE;
  for (const char *p = port; *p; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  int v = atoi (port);
  if (v < 1 || v > 65535)
    return FALSE;
  out->port = (guint16) v;
  return TRUE;
}
