/* fz-gateway --check: what a start would read and need, checked without
 * starting. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  const char *api_url; /* FIREZONE_API_URL or the default */
  const char *state_dir;
  const char *health_addr; /* NULL: none */
  gboolean masquerade;
} FzGatewayCheck;

/* The token is not here: fz_token_load() checked it already (the caller
 * says so).
 *
 * Prints what the gateway would use to stdout and returns TRUE when a
 * start would get as far as the portal; else FALSE with the first thing
 * that stops it. Changes nothing on the host, except that a device id is
 * created and kept as a start would (only without FIREZONE_ID and a
 * machine id). */
gboolean fz_gateway_check (const FzGatewayCheck *check, GError **error);

G_END_DECLS
