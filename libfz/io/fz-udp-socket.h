/* FzUdpSocket: one non-blocking UDP socket of one address family, bound
 * to a port, with FzSockAddr in and out. */
#pragma once

#include "fz-ip-addr.h"

G_BEGIN_DECLS

typedef struct
{
  int fd;
  int family; /* 4 or 6 */
  guint16 port;
} FzUdpSocket;

/* Port 0 picks one. */
FzUdpSocket *fz_udp_socket_open (int family, guint16 port, GError **error);
void fz_udp_socket_close (FzUdpSocket *s);
gboolean fz_udp_socket_set_mark (FzUdpSocket *s, guint32 mark, GError **error);
/* Bytes received, or -1 with errno set (EAGAIN: nothing is waiting). */
gssize fz_udp_socket_recv (FzUdpSocket *s, guint8 *buf, gsize cap, FzSockAddr *from);
gssize fz_udp_socket_send (FzUdpSocket *s, const guint8 *buf, gsize len,
                           const FzSockAddr *to);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzUdpSocket, fz_udp_socket_close)

G_END_DECLS
