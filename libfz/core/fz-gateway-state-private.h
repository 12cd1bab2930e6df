/* FzGatewayState: the gateway's policy, sans-IO (a contract: change what
 * the implementation shows to be better, and say why).
 *
 * It owns an FzNode (ICE controlled) and decides who may reach what:
 * accesses per (client, resource) from the portal, each with its expiry;
 * the packet rules of the data-plane spec ("Gateway policy state"); the
 * DNS-resource NAT; SRV/TXT queries from clients to <our tunnel IP>:53535.
 * The host (the tunnel driver, the simulator) feeds it portal messages,
 * datagrams from the network, packets from the TUN, answers to the
 * resolutions and DNS queries it asked for, and time; it polls datagrams
 * to send, packets for the TUN, messages for the portal, and events.
 * Internal to libfz. */
#pragma once

#include "fz-node.h"
#include "fz-portal-message.h"

G_BEGIN_DECLS

#define FZ_GATEWAY_RESOLVE_TIMEOUT (10 * G_USEC_PER_SEC)
#define FZ_GATEWAY_DNS_PORT        53535

typedef struct _FzGatewayState FzGatewayState;

typedef enum
{
  FZ_GATEWAY_EVENT_INTERFACE,  /* .ipv4, .ipv6: the TUN's addresses; routes are the
                                * tunnel ranges 100.64.0.0/11, fd00:2021:1111::/107 */
  FZ_GATEWAY_EVENT_MASQUERADE, /* .masquerade_v4, .masquerade_v6 (init's config) */
  FZ_GATEWAY_EVENT_RESOLVE,    /* .request, .domain: resolve A and AAAA, answer with
                                * fz_gateway_state_resolved() (10 s at most) */
  FZ_GATEWAY_EVENT_DNS_QUERY,  /* .request, .query: a client's query to our port 53535
                                * for the host's resolver; answer with
                                * fz_gateway_state_dns_answer() */
  FZ_GATEWAY_EVENT_FATAL,      /* .reason: e.g. the token expired; exit */
} FzGatewayEventType;

typedef struct
{
  FzGatewayEventType type;
  FzIpAddr ipv4, ipv6;
  gboolean masquerade_v4, masquerade_v6;
  guint64 request;
  char *domain;
  GBytes *query;
  char *reason;
} FzGatewayEvent;

void fz_gateway_event_clear (FzGatewayEvent *event);

/* @wall_us: the wall clock (us since the epoch) at monotonic @now, which
 * accesses' expires_at needs from the start: without it they would never
 * expire. */
FzGatewayState *fz_gateway_state_new (const guint8 priv[32], FzRng *rng, FzBufPool *pool,
                                      gint64 wall_us, gint64 now);
void fz_gateway_state_free (FzGatewayState *gw);
/* For host addresses, MTU and statistics. */
FzNode *fz_gateway_state_get_node (FzGatewayState *gw);
/* The wall clock again (us since the epoch) at monotonic @now, for the
 * node's handshakes and the accesses' expires_at: when it jumps. */
void fz_gateway_state_set_wall_clock (FzGatewayState *gw, gint64 wall_us, gint64 now);

void fz_gateway_state_handle_portal (FzGatewayState *gw, const FzPortalMessage *msg,
                                     gint64 now);
/* The next message for the portal (topic "gateway"), or NULL. */
FzPortalMessage *fz_gateway_state_poll_portal (FzGatewayState *gw);

/* Takes @buf. A client's packet may come out of fz_gateway_state_poll_tun()
 * (allowed), or an ICMP error goes back to the client (denied). */
void fz_gateway_state_handle_datagram (FzGatewayState *gw, const FzSockAddr *local,
                                       const FzSockAddr *from, FzPacketBuf *buf,
                                       gint64 now);
/* Takes @buf: a packet as the node decrypted it from client @client_id
 * (the path after WireGuard: for fuzzing and benchmarks). */
void fz_gateway_state_handle_client_packet (FzGatewayState *gw, const char *client_id,
                                            FzPacketBuf *buf, gint64 now);
/* Takes @buf: a packet read from the TUN, for a client. */
void fz_gateway_state_handle_tun (FzGatewayState *gw, FzPacketBuf *buf, gint64 now);

gboolean fz_gateway_state_poll_transmit (FzGatewayState *gw, FzNodeTransmit *out);
/* A packet for the TUN, the caller's to write and free; NULL when none. */
FzPacketBuf *fz_gateway_state_poll_tun (FzGatewayState *gw);
gboolean fz_gateway_state_poll_event (FzGatewayState *gw, FzGatewayEvent *out);

/* The answer to a RESOLVE event: @n addresses of both families (0: failed). */
void fz_gateway_state_resolved (FzGatewayState *gw, guint64 request,
                                const FzIpAddr *addrs, guint n, gint64 now);
/* The answer to a DNS_QUERY event (NULL: failed, the client gets SERVFAIL). */
void fz_gateway_state_dns_answer (FzGatewayState *gw, guint64 request, const guint8 *msg,
                                  gsize len, gint64 now);

gint64 fz_gateway_state_poll_timeout (FzGatewayState *gw);
void fz_gateway_state_handle_timeout (FzGatewayState *gw, gint64 now);
/* SIGTERM: a goodbye to every client, then nothing more. */
void fz_gateway_state_shutdown (FzGatewayState *gw, gint64 now);

guint fz_gateway_state_n_clients (FzGatewayState *gw);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzGatewayState, fz_gateway_state_free)

G_END_DECLS
