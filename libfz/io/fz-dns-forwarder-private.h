/* FzDnsForwarder: DNS queries the tunnel's policy asks the host to send
 * (the client's upstream resolvers, the gateway's system resolver), over
 * UDP or TCP, each with its own socket, on one GMainContext. The policy
 * states time queries out themselves; this one gives up after
 * FZ_DNS_FORWARDER_TIMEOUT as well, so no socket outlives its query.
 * Internal to libfz. */
#pragma once

#include "fz-ip-addr.h"
#include <gio/gio.h>

G_BEGIN_DECLS

#define FZ_DNS_FORWARDER_TIMEOUT 5000 /* ms */
#define FZ_DNS_MAX_MESSAGE       65535

typedef struct _FzDnsForwarder FzDnsForwarder;

/* The answer to @request: @msg is NULL when the query failed. */
typedef void (*FzDnsForwarderAnswer) (gpointer data, guint64 request, const guint8 *msg,
                                      gsize len);

/* Sources attach to @ctx, which must be the thread-default context of
 * every call (GIO's asynchronous connects attach there). */
FzDnsForwarder *fz_dns_forwarder_new (GMainContext *ctx, FzDnsForwarderAnswer answer,
                                      gpointer data);
/* How long a query may take (FZ_DNS_FORWARDER_TIMEOUT unless set). */
void fz_dns_forwarder_set_timeout (FzDnsForwarder *f, guint ms);
/* Cancels every query in flight; none is answered after this. */
void fz_dns_forwarder_free (FzDnsForwarder *f);
/* Sends @query; the answer (or a failure) always comes from the main
 * loop, never inside this call. */
void fz_dns_forwarder_query (FzDnsForwarder *f, guint64 request, GBytes *query,
                             const FzSockAddr *server, gboolean tcp);
guint fz_dns_forwarder_in_flight (FzDnsForwarder *f);

/* The nameserver lines of a resolv.conf text, in order, at most @max
 * (bad lines skipped). */
guint fz_resolv_conf_nameservers (const char *text, FzIpAddr *out, guint max);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzDnsForwarder, fz_dns_forwarder_free)

G_END_DECLS
