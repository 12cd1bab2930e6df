/* FzClientState: the client's policy, sans-IO (a contract: change what
 * the implementation shows to be better, and say why).
 *
 * It owns an FzNode (ICE controlling) and turns the portal's resources
 * into routes, DNS answers and connections to gateways: the packet rules,
 * authorization, the DNS stub on the sentinels (UDP and TCP), proxy IPs
 * and their mappings, the client side of DNS-resource NAT, the Internet
 * resource (data-plane spec, "Client policy state"). The host (the tunnel
 * service, the simulator) feeds it portal messages, datagrams from the
 * network, packets from the TUN, answers from upstream DNS servers, and
 * time; it polls datagrams to send, packets for the TUN, messages for
 * the portal, and events. Internal to libfz.
 *
 * Deterministic: randomness only from the FzRng given (the node's, and
 * the source ports of SRV/TXT queries to gateways), time only from `now`.
 * After each input the node's events are handled, so a poll of every
 * queue then sees all the consequences. Unknown destinations are dropped
 * without an answer (as connlib); a resource's filters are applied here
 * too (ICMP prohibited to the application). */
#pragma once

#include "fz-node.h"
#include "fz-portal-message.h"

G_BEGIN_DECLS

#define FZ_CLIENT_MAX_BUFFERED        128 /* per resource while authorizing */
#define FZ_CLIENT_AUTHORIZE_DEBOUNCE  (2 * G_USEC_PER_SEC)
#define FZ_CLIENT_DNS_UDP_MAX         1212
#define FZ_CLIENT_NAT_BUFFERED        32 /* per DNS-resource domain while pending */
#define FZ_CLIENT_ASSIGNED_IPS_RESEND (2 * G_USEC_PER_SEC)
#define FZ_CLIENT_ASSIGNED_IPS_TRIES  5   /* then the NAT fails */
#define FZ_CLIENT_DNS_MAX_QUERIES     256 /* upstream and gateway queries in flight */
#define FZ_CLIENT_DNS_TIMEOUT         (5 * G_USEC_PER_SEC) /* then SERVFAIL */

typedef struct _FzClientState FzClientState;

typedef enum
{
  FZ_CLIENT_SITE_UNKNOWN,
  FZ_CLIENT_SITE_ONLINE,
  FZ_CLIENT_SITE_OFFLINE,
} FzClientSiteStatus;

/* INTERFACE, RESOURCES and MAPPINGS mean "read it again": each is queued
 * at most once until polled, however many changes it stands for. */
typedef enum
{
  /* The TUN's configuration changed: fz_client_state_get_interface(). */
  FZ_CLIENT_EVENT_INTERFACE,
  /* The resource list (or a site's status) changed:
   * fz_client_state_get_resources(). */
  FZ_CLIENT_EVENT_RESOURCES,
  /* Proxy-IP mappings changed: save fz_client_state_save_mappings(). */
  FZ_CLIENT_EVENT_MAPPINGS,
  /* .request, .query, .server, .tcp: send the query to that upstream
   * resolver (over TCP when .tcp), answer with
   * fz_client_state_upstream_answer(). The same .request comes again with
   * .tcp set when the UDP answer was truncated. */
  FZ_CLIENT_EVENT_UPSTREAM_DNS,
  /* .resource_id, .reason ("offline", "version_mismatch", "forbidden",
   * "not_found"): a one-off error to show. Also, once a session,
   * "proxy_ips_exhausted": a new name of that DNS resource got SERVFAIL
   * because FZ_PROXY_IPS_MAX_NAMES names have proxy IPs already (so do
   * all new names after it; known names keep theirs). */
  FZ_CLIENT_EVENT_RESOURCE_UNREACHABLE,
  FZ_CLIENT_EVENT_FATAL, /* .reason: the token expired; sign in again */
} FzClientEventType;

typedef struct
{
  FzClientEventType type;
  guint64 request;
  GBytes *query;
  FzSockAddr server;
  gboolean tcp;
  char *resource_id;
  char *reason;
} FzClientEvent;

void fz_client_event_clear (FzClientEvent *event);

typedef struct
{
  FzIpAddr ipv4, ipv6;
  GArray *dns_sentinels; /* FzIpAddr: the IPv4 then the IPv6 sentinel of
                          * upstream 0, then of upstream 1...; one pair
                          * at least */
  char *search_domain;   /* or NULL */
  GArray *routes;        /* FzIpPrefix: tunnel ranges, CIDR resources, proxy
                          * ranges, sentinels, and ::/0 + 0.0.0.0/0 when the
                          * Internet resource is on */
} FzClientInterface;

typedef struct
{
  const FzResource *resource;
  FzClientSiteStatus status;
} FzClientResourceView;

/* @mappings: what fz_client_state_save_mappings() gave last time, or
 * NULL; malformed ones are an error and nothing is created. */
FzClientState *fz_client_state_new (const guint8 priv[32], FzRng *rng, FzBufPool *pool,
                                    const char *mappings, gint64 now, GError **error);
void fz_client_state_free (FzClientState *cl);
/* For host addresses, the wall clock, MTU and statistics. */
FzNode *fz_client_state_get_node (FzClientState *cl);

/* The system's resolvers, used when the portal gives no do53 servers;
 * sentinels among them are left out (ours, read back from the system). */
void fz_client_state_set_system_dns (FzClientState *cl, const FzIpAddr *servers, guint n);
/* Off by default. Off: the default routes go and its traffic is dropped. */
void fz_client_state_set_internet_resource_enabled (FzClientState *cl, gboolean on,
                                                    gint64 now);

void fz_client_state_handle_portal (FzClientState *cl, const FzPortalMessage *msg,
                                    gint64 now);
FzPortalMessage *fz_client_state_poll_portal (FzClientState *cl);

/* Takes @buf: a packet an application wrote into the TUN. */
void fz_client_state_handle_tun (FzClientState *cl, FzPacketBuf *buf, gint64 now);
/* Takes @buf: a datagram from the network. */
void fz_client_state_handle_datagram (FzClientState *cl, const FzSockAddr *local,
                                      const FzSockAddr *from, FzPacketBuf *buf,
                                      gint64 now);
/* The answer to an UPSTREAM_DNS event (NULL: failed, SERVFAIL; one that
 * does not match the query counts as failed). Unanswered after
 * FZ_CLIENT_DNS_TIMEOUT, the application gets SERVFAIL anyway. */
void fz_client_state_upstream_answer (FzClientState *cl, guint64 request,
                                      const guint8 *msg, gsize len, gint64 now);

gboolean fz_client_state_poll_transmit (FzClientState *cl, FzNodeTransmit *out);
FzPacketBuf *fz_client_state_poll_tun (FzClientState *cl);
gboolean fz_client_state_poll_event (FzClientState *cl, FzClientEvent *out);
gint64 fz_client_state_poll_timeout (FzClientState *cl);
void fz_client_state_handle_timeout (FzClientState *cl, gint64 now);

const FzClientInterface *fz_client_state_get_interface (FzClientState *cl);
/* Sorted by name; valid until the next call into the state. */
GArray *fz_client_state_get_resources (FzClientState *cl);
char *fz_client_state_save_mappings (FzClientState *cl);

/* The network changed: connections start over (the node's reset: add the
 * host addresses again), resources and mappings stay; each resource is
 * authorized again on its next packet. */
void fz_client_state_reset (FzClientState *cl, gint64 now);
/* Sign-out: a goodbye to every gateway (poll the transmits to send them),
 * then everything cleared; later inputs are ignored. */
void fz_client_state_shutdown (FzClientState *cl, gint64 now);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzClientState, fz_client_state_free)

G_END_DECLS
