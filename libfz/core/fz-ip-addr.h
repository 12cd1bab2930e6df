/* FzIpAddr: an IPv4 or IPv6 address as plain bytes.
 *
 * A value type small enough to copy; used on the packet path where
 * GInetAddress (a GObject) would cost an allocation per packet. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FZ_IP_ADDR_STRLEN 46 /* INET6_ADDRSTRLEN */

typedef struct
{
  guint8 family; /* 4 or 6; 0 for none */
  guint8 bytes[16];
} FzIpAddr;

void fz_ip_addr_set_v4 (FzIpAddr *addr, const guint8 bytes[4]);
void fz_ip_addr_set_v6 (FzIpAddr *addr, const guint8 bytes[16]);
gboolean fz_ip_addr_parse (FzIpAddr *addr, const char *text);
char *fz_ip_addr_to_string (const FzIpAddr *addr, char buf[FZ_IP_ADDR_STRLEN]);
gboolean fz_ip_addr_equal (const FzIpAddr *a, const FzIpAddr *b);
guint fz_ip_addr_hash (const FzIpAddr *addr);
gsize fz_ip_addr_len (const FzIpAddr *addr);

/* An address and a UDP port: where a peer or relay is. */
#define FZ_SOCK_ADDR_STRLEN (FZ_IP_ADDR_STRLEN + 8)

typedef struct
{
  FzIpAddr ip;
  guint16 port; /* host order */
} FzSockAddr;

gboolean fz_sock_addr_equal (const FzSockAddr *a, const FzSockAddr *b);
/* "192.0.2.1:51820" or "[2001:db8::1]:51820", both ways; a port of 0
 * does not parse. */
gboolean fz_sock_addr_parse (FzSockAddr *sa, const char *text);
char *fz_sock_addr_to_string (const FzSockAddr *sa, char buf[FZ_SOCK_ADDR_STRLEN]);

G_END_DECLS
