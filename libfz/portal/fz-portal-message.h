/* FzPortalMessage: what the portal pushes to a client or a gateway,
 * decoded from a frame's event and payload into typed fields.
 *
 * Unknown events decode to FZ_PORTAL_UNKNOWN (logged and skipped by the
 * caller), and so does a resource_created_or_updated or resource_updated
 * whose resource is of a type we do not know; members we do not know are
 * ignored; one bad element of a list (a resource, a relay, a candidate,
 * an authorization) is skipped, not the message; anything else malformed
 * is one error naming what is wrong. */
#pragma once

#include "fz-ice-candidate.h"
#include "fz-portal-types.h"

G_BEGIN_DECLS

typedef enum
{
  FZ_PORTAL_ROLE_CLIENT,
  FZ_PORTAL_ROLE_GATEWAY,
  FZ_PORTAL_ROLE_PORTAL, /* what clients and gateways send */
} FzPortalRole;

typedef enum
{
  FZ_PORTAL_UNKNOWN,
  /* both */
  FZ_PORTAL_INIT,
  FZ_PORTAL_RELAYS_PRESENCE,
  FZ_PORTAL_ICE_CANDIDATES,
  FZ_PORTAL_INVALIDATE_ICE_CANDIDATES,
  FZ_PORTAL_DISCONNECT,
  FZ_PORTAL_REPLY, /* phx_reply: the portal's answer to a join or a message */
  /* to clients */
  FZ_PORTAL_CONFIG_CHANGED,
  FZ_PORTAL_RESOURCE_CREATED_OR_UPDATED,
  FZ_PORTAL_RESOURCE_DELETED,
  FZ_PORTAL_AUTHORIZATION_CREATED,
  FZ_PORTAL_AUTHORIZATION_CREATION_FAILED,
  /* to gateways */
  FZ_PORTAL_CREATE_AUTHORIZATION,
  FZ_PORTAL_RESOURCE_UPDATED,
  FZ_PORTAL_REJECT_ACCESS,
  /* from clients and gateways */
  FZ_PORTAL_SET_SNOWNET_CAPABILITIES,
  FZ_PORTAL_NO_RELAYS,
  /* from clients */
  FZ_PORTAL_REQUEST_AUTHORIZATION,
  FZ_PORTAL_NEW_GATEWAY_ICE_CANDIDATES,
  FZ_PORTAL_INVALIDATE_GATEWAY_ICE_CANDIDATES,
  /* from gateways */
  FZ_PORTAL_AUTHORIZATION_CREATED_REF, /* "authorization_created" with {ref} */
  FZ_PORTAL_BROADCAST_ICE_CANDIDATES,
  FZ_PORTAL_BROADCAST_INVALIDATED_ICE_CANDIDATES,
} FzPortalEvent;

typedef struct
{
  FzPortalEvent event;
  char *event_name;

  FzInterface *interface;  /* init, config_changed */
  GPtrArray *resources;    /* FzResource*: init, resource_* */
  GPtrArray *relays;       /* FzRelay*: init, relays_presence (connected) */
  GPtrArray *disconnected; /* char* relay ids: relays_presence */
  GArray *candidates;      /* FzIceCandidate: (invalidate_)ice_candidates */
  char *peer_id;           /* gateway_id (client side) or client_id (gateway side) */
  char *resource_id;
  char *site_id;
  char *status;           /* phx_reply: "ok" or "error" */
  char *reason;           /* authorization_creation_failed, disconnect, phx_reply */
  char *ref;              /* create_authorization: echoed verbatim */
  char *account_slug;     /* gateway init */
  GArray *authorizations; /* FzAuthorization: init */
  gboolean has_config;    /* gateway init had "config": */
  gboolean ipv4_masquerade, ipv6_masquerade;
  char *client_version;
  GPtrArray *peer_ids; /* char*: connected_gateway_ids, client_ids */
  gboolean iceless;
  guint8 peer_key[32];
  guint8 psk[32];
  gboolean has_peer_key, has_psk;
  FzIpAddr peer_ipv4, peer_ipv6;
  FzIceCredentials client_ice, gateway_ice;
  gint64 expires_at;
} FzPortalMessage;

FzPortalMessage *fz_portal_message_decode (FzPortalRole role, const char *event,
                                           JsonNode *payload, GError **error);
void fz_portal_message_free (FzPortalMessage *m);
/* Normalized JSON of the decoded fields, secrets (PSK, passwords)
 * replaced by "(set)": for logs and fz-msgdump. */
char *fz_portal_message_to_json (const FzPortalMessage *m);

/* What clients and gateways send: a new message of that event (the
 * caller fills its fields), and its payload as the protocol wants it. */
FzPortalMessage *fz_portal_message_new (FzPortalEvent event);
JsonNode *fz_portal_message_encode (const FzPortalMessage *m);
const char *fz_portal_event_name (FzPortalEvent event);
/* A "candidates" member: the SDP strings of @candidates (FzIceCandidate). */
void fz_portal_json_add_candidates (JsonBuilder *b, GArray *candidates);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzPortalMessage, fz_portal_message_free)

G_END_DECLS
