/* The JSON payloads of the p2p control protocol (data-plane spec,
 * "Graceful close"): `assigned_ips` (type 0, client to gateway: the proxy
 * IPs the client handed out for a domain of a DNS resource) and
 * `domain_status` (type 1, gateway to client: whether the gateway's NAT
 * for that domain is up). Goodbye (type 2) has no payload.
 *
 * Decoding is strict and bounded; members it does not know are ignored,
 * as connlib's serde does. Internal to libfz. */
#pragma once

#include "fz-ip-addr.h"
#include "fz-ip-packet-build.h"
#include "fz-ip-packet.h"

G_BEGIN_DECLS

#define FZ_P2P_CONTROL_MAX_PAYLOAD 2048
#define FZ_P2P_CONTROL_MAX_DOMAIN  253
#define FZ_P2P_CONTROL_MAX_IPS     8

#define FZ_P2P_CONTROL_ERROR (fz_p2p_control_error_quark ())
GQuark fz_p2p_control_error_quark (void);

typedef enum
{
  FZ_P2P_CONTROL_ERROR_INVALID, /* not the JSON of that message */
} FzP2pControlError;

typedef struct
{
  char *resource; /* a resource id (UUID) */
  char *domain;   /* the name the client resolved */
  /* 4 of one family (connlib for a single-stack resource), or 4 IPv4
   * then 4 IPv6; all inside the proxy ranges. */
  FzIpAddr proxy_ips[FZ_P2P_CONTROL_MAX_IPS];
  guint n_proxy_ips;
} FzAssignedIps;

typedef enum
{
  FZ_NAT_INACTIVE, /* also any status we do not know, as connlib reads it */
  FZ_NAT_ACTIVE,
} FzNatStatus;

typedef struct
{
  char *resource;
  char *domain;
  FzNatStatus status;
} FzDomainStatus;

/* The JSON text, not NUL-terminated, for fz_ip_build_control(). */
GBytes *fz_assigned_ips_encode (const FzAssignedIps *msg);
gboolean fz_assigned_ips_decode (const void *data, gsize len, FzAssignedIps *out,
                                 GError **error);
void fz_assigned_ips_clear (FzAssignedIps *msg);

GBytes *fz_domain_status_encode (const FzDomainStatus *msg);
gboolean fz_domain_status_decode (const void *data, gsize len, FzDomainStatus *out,
                                  GError **error);
void fz_domain_status_clear (FzDomainStatus *msg);

/* The whole control packet for @msg, into @buf (as fz_ip_build_control()). */
gboolean fz_p2p_control_build_assigned_ips (FzPacketBuf *buf, FzIpPacket *out,
                                            const FzAssignedIps *msg, GError **error);
gboolean fz_p2p_control_build_domain_status (FzPacketBuf *buf, FzIpPacket *out,
                                             const FzDomainStatus *msg, GError **error);

/* The type and JSON payload of a parsed control packet (pointing into
 * it); FALSE when @pkt is no control packet. */
gboolean fz_p2p_control_payload (const FzIpPacket *pkt, FzControlType *type,
                                 const guint8 **payload, gsize *len);

/* @addr lies in 100.96.0.0/11 or fd00:2021:1111:8000::/107. */
gboolean fz_p2p_control_is_proxy_ip (const FzIpAddr *addr);
/* A DNS name: dot-separated labels of 1-63 letters, digits, '-' or '_',
 * at most 253 characters (a final dot allowed). */
gboolean fz_p2p_control_domain_valid (const char *name);

G_END_DECLS
