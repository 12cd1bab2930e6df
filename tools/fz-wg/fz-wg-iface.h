/* FzWgIface: one fz-wg interface: the WireGuard device, its TUN and UDP
 * sockets (libfz's FzIoLoop), and the cryptokey routing table. fz-uapi.c configures it;
 * fz-wg.c runs its packet loop. */
#pragma once

#include "fz-private.h"

typedef struct
{
  FzWgDevice *dev;
  FzBufPool *pool;
  FzTun *tun;
  FzIoLoop *io; /* the TUN's queues and the sockets, their readers and writes */
  guint16 listen_port;
  guint32 fwmark;
  gboolean has_key;
  guint8 private_key[FZ_WG_KEY_LEN]; /* for get=1; the device keeps its own */
  FzIpTable *allowed; /* cryptokey routing: prefix -> FzWgPeer * (not owned) */
  GHashTable *psks;   /* FzWgPeer * -> guint8[32]: for get=1 */
} FzWgIface;

/* Binds both sockets to @port (0: any free port, the same for both). */
gboolean fz_wg_iface_listen (FzWgIface *iface, guint16 port, GError **error);
gboolean fz_wg_iface_set_fwmark (FzWgIface *iface, guint32 mark, GError **error);
/* Sends what the device queued, and re-arms its timer. */
void fz_wg_iface_flush (FzWgIface *iface, gint64 now);

/* A configuration request under way. */
typedef struct _FzUapiRequest FzUapiRequest;

/* One configuration request (text through its blank line). An unknown
 * one is answered at once (errno=22 appended to @reply) and NULL
 * returned; set=1 and get=1 return a request that
 * fz_uapi_request_next() carries out a chunk at a time. */
FzUapiRequest *fz_uapi_handle (FzWgIface *iface, const char *request, GString *reply,
                               gint64 now);
/* Applies up to @max more lines of a set=1, or appends up to @max more
 * peers of a get=1 answer; FALSE once the request is done and its reply
 * ends with errno=N and a blank line. */
gboolean fz_uapi_request_next (FzUapiRequest *req, FzWgIface *iface, GString *reply,
                               guint max);
void fz_uapi_request_free (FzUapiRequest *req);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzUapiRequest, fz_uapi_request_free)
