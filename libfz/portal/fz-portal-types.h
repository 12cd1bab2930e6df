/* The values portal messages carry: resources, relays, the interface,
 * ICE credentials. Each has a strict decoder from a JSON object (types,
 * lengths and formats checked; unknown members ignored) and an encoder
 * to normalized JSON. */
#pragma once

#include "fz-ip-addr.h"

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define FZ_PORTAL_ERROR (fz_portal_error_quark ())
GQuark fz_portal_error_quark (void);

typedef enum
{
  FZ_PORTAL_ERROR_INVALID,     /* a value of the wrong type, length or format */
  FZ_PORTAL_ERROR_UNSUPPORTED, /* valid, but a kind we do not know (skipped) */
} FzPortalError;

#define FZ_PORTAL_MAX_ID   64
#define FZ_PORTAL_MAX_TEXT 255

typedef struct
{
  char *id;
  char *name;
} FzSite;

typedef enum
{
  FZ_FILTER_TCP,
  FZ_FILTER_UDP,
  FZ_FILTER_ICMP,
} FzFilterProtocol;

typedef struct
{
  FzFilterProtocol protocol;
  guint16 port_start, port_end; /* 0..65535 when not given; unused for ICMP */
} FzFilter;

typedef enum
{
  FZ_RESOURCE_DNS,
  FZ_RESOURCE_CIDR,
  FZ_RESOURCE_INTERNET,
} FzResourceType;

typedef enum
{
  FZ_IP_STACK_DUAL,
  FZ_IP_STACK_IPV4_ONLY,
  FZ_IP_STACK_IPV6_ONLY,
} FzIpStack;

typedef struct
{
  char *id;
  FzResourceType type;
  char *address;             /* DNS pattern or CIDR; NULL for internet */
  char *address_description; /* or NULL */
  char *name;                /* "Internet Resource" for internet */
  GArray *sites;             /* FzSite */
  GArray *filters;           /* FzFilter; empty = everything allowed */
  FzIpStack ip_stack;
  gboolean can_be_disabled;
} FzResource;

typedef struct
{
  char *id;
  FzSockAddr v4, v6; /* ip.family 0 when absent */
  char *username, *password;
  gint64 expires_at;
} FzRelay;

typedef struct
{
  FzIpAddr ipv4, ipv6;
  char *search_domain;     /* or NULL */
  GArray *upstream_do53;   /* FzIpAddr */
  GPtrArray *upstream_doh; /* char *url */
} FzInterface;

typedef struct
{
  char *username, *password;
} FzIceCredentials;

/* An authorization listed in init: @client_id may reach @resource_id
 * until @expires_at (unix seconds). */
typedef struct
{
  char *client_id;
  char *resource_id;
  gint64 expires_at;
} FzAuthorization;

/* A resource of a type we do not know fails with
 * FZ_PORTAL_ERROR_UNSUPPORTED, whatever else it has or lacks. */
FzResource *fz_resource_decode (JsonNode *node, GError **error);
void fz_resource_free (FzResource *r);
JsonNode *fz_resource_encode (const FzResource *r);

/* One entry of a relay list (a relay's IPv4 and IPv6 come as two). */
FzRelay *fz_relay_decode (JsonNode *node, GError **error);
void fz_relay_free (FzRelay *r);
JsonNode *fz_relay_encode (const FzRelay *r);
/* Decodes a list, merging entries of one id and skipping bad ones. */
GPtrArray *fz_relays_decode (JsonNode *node, GError **error);

FzInterface *fz_interface_decode (JsonNode *node, GError **error);
void fz_interface_free (FzInterface *i);
JsonNode *fz_interface_encode (const FzInterface *i);

gboolean fz_ice_credentials_decode (JsonNode *node, FzIceCredentials *out,
                                    GError **error);
void fz_ice_credentials_clear (FzIceCredentials *c);

gboolean fz_authorization_decode (JsonNode *node, FzAuthorization *out, GError **error);
void fz_authorization_clear (FzAuthorization *a);
JsonNode *fz_authorization_encode (const FzAuthorization *a);

/* Member helpers shared by the message decoders. Each sets a message
 * naming the member. */
const char *fz_json_get_string (JsonObject *o, const char *key, gsize max,
                                gboolean required, GError **error);
gboolean fz_json_get_id (JsonObject *o, const char *key, char **out, GError **error);
gboolean fz_json_get_int (JsonObject *o, const char *key, gint64 min, gint64 max,
                          gboolean required, gint64 *out, GError **error);
gboolean fz_json_get_key (JsonObject *o, const char *key, guint8 out[32], GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzResource, fz_resource_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzRelay, fz_relay_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzInterface, fz_interface_free)

/* @s made safe for one log line: control, line-breaking and format
 * (bidi) characters, and invalid UTF-8, escaped as \xNN / \u{N}; a
 * backslash doubled. Decoding errors come out this way already. */
char *fz_portal_printable (const char *s);
gboolean fz_portal_unichar_unsafe (gunichar c);

G_END_DECLS
