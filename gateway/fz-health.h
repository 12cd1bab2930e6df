/* The gateway's health check: a small HTTP server for an orchestrator's
 * probes. GET /healthz is 200 while the process runs; GET /readyz is 200
 * once the host says it is ready, 503 before. HEAD works as GET, other
 * paths are 404, other methods 405; request bodies are refused (413). Each
 * connection serves one request and lives at most a few seconds, and only
 * a few are open at once, so probes cannot be starved for long. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _FzHealth FzHealth;

/* Listens on @host_port, "IPv4:PORT" or "[IPv6]:PORT" (an address, not a
 * name; port 0 picks a free one), serving on the thread-default
 * GMainContext. */
FzHealth *fz_health_new (const char *host_port, GError **error);
/* What fz_health_new() accepts, without listening. */
gboolean fz_health_addr_check (const char *host_port, GError **error);
void fz_health_set_ready (FzHealth *h, gboolean ready);
/* The port listened on (the one picked for port 0). */
guint16 fz_health_get_port (FzHealth *h);
void fz_health_free (FzHealth *h);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzHealth, fz_health_free)

G_END_DECLS
