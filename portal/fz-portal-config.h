/* FzPortalConfig: fz-portal's configuration file (GKeyFile), parsed
 * strictly: every mistake is one error naming the group and key, and a
 * file with any mistake is refused whole (so a bad reload keeps the old
 * one). See data/fz-portal.conf.example for the format. */
#pragma once

#include "fz-ip-addr.h"
#include "fz-portal-types.h"

#include <glib.h>

G_BEGIN_DECLS

#define FZ_PORTAL_GATEWAY_RELAY_EXPIRY G_GINT64_CONSTANT (2145916800)

typedef struct
{
  char *name;
  char *id;       /* a UUID derived from the name */
  GArray *addrs;  /* FzSockAddr */
  char *secret;   /* coturn static-auth-secret, or NULL */
  char *username; /* fixed credentials, or NULL */
  char *password;
} FzPortalRelay;

typedef struct
{
  char *name;
  char *id;
} FzPortalSite;

typedef struct
{
  char *name;
  char *site_id;
  char *token_hash; /* lowercase hex SHA-256 of the token */
} FzPortalGatewayToken;

typedef struct
{
  char *name; /* the sign-in name */
  char *id;
  char *full_name;
  char *password_hash;     /* crypto_pwhash_str, or NULL: no sign-in */
  GPtrArray *token_hashes; /* hex SHA-256 of static client tokens */
} FzPortalUser;

typedef struct
{
  char *name;
  GPtrArray *users;     /* names; "*" for everyone */
  GPtrArray *resources; /* ids of the resources the policy names */
  gint64 valid_until;   /* unix seconds; 0: no end */
} FzPortalPolicy;

typedef struct
{
  char *path; /* the file it came from */
  char *account_slug, *account_name;
  FzSockAddr listen;               /* may be overridden on the command line */
  FzSockAddr listen_file;          /* as the file says */
  char *tls_certificate, *tls_key; /* paths, or NULL for plain HTTP */
  char *secret_file;
  gint64 client_token_lifetime;  /* s */
  gint64 idle_timeout;           /* s */
  gint64 authorization_timeout;  /* s */
  guint connect_limit;           /* WebSocket connects per address per window */
  gint64 connect_window;         /* s */
  gint64 request_timeout;        /* s to send a whole HTTP request */
  guint connections_per_address; /* open at once, per IPv4 address or IPv6 /64 */
  char *search_domain;
  GArray *upstream_do53; /* FzIpAddr */

  GPtrArray *relays; /* FzPortalRelay */
  GPtrArray *sites;  /* FzPortalSite */
  GPtrArray *gateway_tokens;
  GPtrArray *users;     /* FzPortalUser */
  GPtrArray *resources; /* FzResource (the client view) */
  GPtrArray *policies;
} FzPortalConfig;

FzPortalConfig *fz_portal_config_load (const char *path, GError **error);
FzPortalConfig *fz_portal_config_parse (const char *text, gsize len, const char *path,
                                        GError **error);
void fz_portal_config_free (FzPortalConfig *c);

/* A stable UUID for a named thing of a kind in this account. */
char *fz_portal_config_derive_id (const FzPortalConfig *c, const char *kind,
                                  const char *name);

const FzPortalUser *fz_portal_config_find_user (const FzPortalConfig *c,
                                                const char *name);
const FzResource *fz_portal_config_find_resource (const FzPortalConfig *c,
                                                  const char *id);
/* Whether a policy lets @user reach the resource of @resource_id now. */
gboolean fz_portal_config_allows (const FzPortalConfig *c, const char *user,
                                  const char *resource_id);
/* Until when (unix seconds) the policies valid at @now let @user reach
 * the resource: 0 not at all, G_MAXINT64 with no end. */
gint64 fz_portal_config_access_until (const FzPortalConfig *c, const char *user,
                                      const char *resource_id, gint64 now);
/* The first end of a policy after @after, or G_MAXINT64. */
gint64 fz_portal_config_next_policy_end (const FzPortalConfig *c, gint64 after);
/* IP:PORT or [IPv6]:PORT, where port 0 means any free port. */
gboolean fz_portal_parse_listen (FzSockAddr *sa, const char *text);
/* Lowercase hex SHA-256, as token hashes are kept. */
char *fz_portal_token_hash (const char *token);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzPortalConfig, fz_portal_config_free)

G_END_DECLS
