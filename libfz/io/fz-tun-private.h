/* FzTun's layout: its descriptors are the I/O layer's own; not installed. */
#pragma once

#include "fz-tun.h"

G_BEGIN_DECLS

struct _FzTun
{
  int fd; /* queue 0: all writes go here */
  int queues[FZ_TUN_MAX_QUEUES];
  guint n_queues;
  char name[16];
  int ctl;       /* a socket for interface ioctls (MTU, queue length) */
  gboolean vnet; /* packets carry a virtio-net header */
  gboolean tso;  /* the kernel hands over TCP super-packets */
};

G_END_DECLS
