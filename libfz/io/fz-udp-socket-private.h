/* FzUdpSocket's layout: its descriptor is the I/O layer's own; not
 * installed. */
#pragma once

#include "fz-udp-socket.h"

G_BEGIN_DECLS

struct _FzUdpSocket
{
  int fd;
  int family; /* 4 or 6 */
  guint16 port;
  gboolean gso; /* UDP_SEGMENT works; cleared after the kernel refuses it */
  gboolean gro; /* UDP_GRO is on */
};

G_END_DECLS
