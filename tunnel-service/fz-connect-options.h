/* The options of dev.libfz.Tunnel1.Connect, an a{sv} from any caller on
 * the bus: each known key once, with its type and within its bounds;
 * anything else is refused with G_DBUS_ERROR_INVALID_ARGS naming the
 * option. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define FZ_CONNECT_API_URL_MAX 2048 /* bytes */
#define FZ_CONNECT_SLUG_MAX    100

typedef struct
{
  const char *api_url;      /* NULL: not given; else ws, wss, http or https with a host */
  const char *account_slug; /* NULL: not given; else [A-Za-z0-9_-]{1,100} */
  gboolean internet_resource; /* valid when has_internet_resource */
  gboolean has_internet_resource;
} FzConnectOptions;

/* Fills @out with strings borrowed from @options (type a{sv}), which
 * must outlive their use. */
gboolean fz_connect_options_parse (GVariant *options, FzConnectOptions *out,
                                   GError **error);

G_END_DECLS
