/* fz-portal's HTTP front: it accepts connections itself and hands them
 * to SoupServer, so that running out of descriptors pauses accepting
 * instead of ending it (libsoup 3.2 drops its listener on any accept
 * error), and it bounds what a connection may cost before anyone has
 * signed in: open connections per address, the time to send a request,
 * and the size of a request body. */
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/* Request bodies: the sign-in form is the only one taken. */
#define FZ_PORTAL_MAX_BODY 8192

typedef struct
{
  guint request_timeout; /* s from accept to a whole request (TLS included) */
  guint per_address;     /* open connections per address (IPv6: per /64) */
  gsize max_body;        /* bytes of request body; more is refused with 413 */
} FzPortalHttpLimits;

typedef struct _FzPortalHttp FzPortalHttp;

/* Serves @soup's handlers; @cert (nullable) makes it HTTPS. */
FzPortalHttp *fz_portal_http_new (SoupServer *soup, GTlsCertificate *cert,
                                  const FzPortalHttpLimits *limits);
void fz_portal_http_set_limits (FzPortalHttp *self, const FzPortalHttpLimits *limits);
/* Accepts on @sock (bound and listening); returns the URL served. */
char *fz_portal_http_listen (FzPortalHttp *self, GSocket *sock, GError **error);
void fz_portal_http_free (FzPortalHttp *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzPortalHttp, fz_portal_http_free)

/* The network a remote address counts against: the address itself for
 * IPv4 (mapped IPv6 included), its /64 for IPv6. */
char *fz_portal_http_prefix (GSocketAddress *address);

G_END_DECLS
