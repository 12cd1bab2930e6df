/* FzTun: a Linux TUN device (IFF_TUN | IFF_NO_PI), non-blocking. It exists
 * while the descriptor is open. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FZ_TUN_TXQUEUELEN 10000

typedef struct
{
  int fd;
  char name[16];
} FzTun;

/* Creates (or attaches to) @name; a name ending in %d gets a number. */
FzTun *fz_tun_open (const char *name, GError **error);
void fz_tun_close (FzTun *tun);
/* The interface's MTU as the kernel has it now. */
int fz_tun_get_mtu (FzTun *tun);
gboolean fz_tun_set_txqueuelen (FzTun *tun, int len, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzTun, fz_tun_close)

G_END_DECLS
