/* FzGatewayClient: what one client may reach through this gateway.
 *
 * Its accesses (resource, expiry) and, compiled from them, the filters
 * by destination: a table of the CIDR resources' prefixes where each
 * prefix holds the union of the filters of every accessible resource
 * containing it (so the longest match gives what all of them allow
 * together), and the Internet resource's. DNS resources are reached
 * through proxy IPs: the mapping proxy → (domain, resource, real IP) the
 * client asked for with assigned_ips, and per (resource, domain) the
 * proxy IPs and the resolution in flight. The gateway state owns the
 * clients and their timers. Internal to libfz. */
#pragma once

#include "fz-dns-pattern-private.h"
#include "fz-filter-set-private.h"
#include "fz-ip-table-private.h"
#include "fz-node.h"
#include "fz-p2p-control-private.h"
#include "fz-portal-types.h"
#include "fz-timer-heap-private.h"

G_BEGIN_DECLS

/* Bounds per client: a client cannot make the gateway resolve or map
 * without limit. */
#define FZ_GATEWAY_MAX_DOMAINS 4096
/* Resolutions a client may start: a burst of this many, then one per
 * FZ_GATEWAY_RESOLVE_EVERY. A reset forgets the requests in flight but
 * the host still works on them, so in-flight counts do not bound it. */
#define FZ_GATEWAY_RESOLVE_BURST 64
#define FZ_GATEWAY_RESOLVE_EVERY (100 * 1000) /* us */

/* A resource as the gateway knows it (shared by the clients with access). */
typedef struct
{
  char *id;
  FzResourceType type;
  char *address;         /* as the portal gave it; NULL for internet */
  FzIpPrefix prefix;     /* CIDR */
  FzDnsPattern *pattern; /* DNS */
  FzFilterSet *filters;
  guint n_accesses;    /* freed when the last access goes */
  GHashTable *holders; /* FzGatewayClient* with an access to it (a set) */
} FzGatewayResource;

typedef enum
{
  FZ_GATEWAY_TIMER_ACCESS,
  FZ_GATEWAY_TIMER_RESOLVE,
  FZ_GATEWAY_TIMER_QUERY,
} FzGatewayTimerKind;

typedef struct
{
  FzTimer timer;
  FzGatewayTimerKind kind;
} FzGatewayTimed;

typedef struct _FzGatewayClient FzGatewayClient;

typedef struct
{
  FzGatewayTimed timed; /* first: the timer finds the access */
  FzGatewayClient *client;
  FzGatewayResource *resource;
  gint64 expires_at; /* unix seconds; 0 = never */
} FzGatewayAccess;

typedef struct
{
  FzIpAddr proxy;
  char *domain;
  char *resource_id;
  FzIpAddr real; /* family 0 until resolved */
} FzGatewayProxy;

typedef struct
{
  FzGatewayTimed timed; /* the resolution's timeout */
  FzGatewayClient *client;
  char *resource_id, *domain;
  FzIpAddr proxies[FZ_P2P_CONTROL_MAX_IPS];
  guint n_proxies;
  guint64 request; /* 0 when none is in flight */
  guint rounds;    /* resolutions done: the first is logged */
} FzGatewayDomain;

struct _FzGatewayClient
{
  char *id;
  FzNodeConn *conn; /* NULL after ICE failed, until the next authorization */
  FzIpAddr ipv4, ipv6;
  GHashTable *accesses; /* resource id → FzGatewayAccess* (owned) */
  FzIpTable *cidr;      /* prefix → FzFilterSet* (owned) */
  FzFilterSet *internet;
  gboolean dirty;       /* accesses changed since the filters were compiled */
  guint n_queries;      /* SRV/TXT queries waiting for the host's resolver */
  guint resolve_tokens; /* resolutions it may still start now */
  gint64 tokens_at;     /* when the last token came */
  GHashTable *proxies;  /* FzIpAddr* → FzGatewayProxy* (owned) */
  GHashTable *domains;  /* "resource\ndomain" → FzGatewayDomain* (owned) */
};

FzGatewayClient *fz_gateway_client_new (const char *id);
/* The caller cancels the timers first (fz_gateway_client_foreach_timer). */
void fz_gateway_client_free (FzGatewayClient *c);
void fz_gateway_client_foreach_timer (FzGatewayClient *c,
                                      void (*fn) (FzTimer *, gpointer),
                                      gpointer user_data);

/* Compiles the filters of the accesses again; after a change to them or
 * to one of their resources, set ->dirty instead and the next check does
 * it (a burst of authorizations compiles once). */
void fz_gateway_client_recompute (FzGatewayClient *c);

typedef enum
{
  FZ_GATEWAY_ALLOW,
  FZ_GATEWAY_DENY_FILTER,   /* a resource covers it, its filters refuse it */
  FZ_GATEWAY_DENY_RESOURCE, /* no resource of this client covers it */
} FzGatewayVerdict;

/* For a packet to a real (not proxy) address. */
FzGatewayVerdict fz_gateway_client_check (FzGatewayClient *c, const FzIpPacket *pkt,
                                          const FzIpAddr *dst);
/* For a packet from a resource at @src to the client (not a NAT reply):
 * @src must be covered by one of its resources, whose filters allow the
 * packet's protocol and source port (ICMP errors always). */
gboolean fz_gateway_client_allows_inbound (FzGatewayClient *c, const FzIpPacket *pkt,
                                           const FzIpAddr *src);

/* For a packet to a proxy IP: the mapping's resource must still be
 * accessible and allow it; *@proxy is the mapping or NULL. */
FzGatewayVerdict fz_gateway_client_check_proxy (FzGatewayClient *c, const FzIpPacket *pkt,
                                                const FzIpAddr *dst,
                                                FzGatewayProxy **proxy);

/* For a NAT reply, translated back to @proxy: the mapping's resource must
 * still be accessible and its filters allow the reply's source port (a
 * narrowed filter or a lost access stops replies of older sessions too). */
gboolean fz_gateway_client_allows_proxy_reply (FzGatewayClient *c, const FzIpPacket *pkt,
                                               const FzIpAddr *proxy);

/* Forgets every proxy mapping and domain (the caller cancels their
 * timers and drops the NAT sessions). */
void fz_gateway_client_clear_dns (FzGatewayClient *c);

G_END_DECLS
