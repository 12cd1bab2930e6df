/* The portal's WebSocket URL and the User-Agent header, as Firezone's
 * portal expects them. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  const char *external_id;   /* device id; a UUID is sent as its SHA-256 */
  const char *name;          /* NULL: the host name */
  const char *device_serial; /* client only; NULL to leave out */
  const char *device_uuid;   /* client only; NULL to leave out */
  const guint8 *public_key;  /* 32 bytes */
} FzPortalUrlParams;

/* http and ws become ws, https and wss become wss; the path becomes
 * /client/v2/websocket or /gateway/v2/websocket; the query is replaced by
 * external_id, name, [device_serial, device_uuid,] public_key, in that
 * order, form-encoded. */
char *fz_portal_url (const char *api_url, gboolean gateway,
                     const FzPortalUrlParams *params, GError **error);

/* "{os}/{os_version} {component}/{version} ({arch}; {kernel})", ASCII
 * only: anything else is dropped. */
char *fz_portal_user_agent (const char *os, const char *os_version, const char *component,
                            const char *version, const char *arch, const char *kernel);

G_END_DECLS
