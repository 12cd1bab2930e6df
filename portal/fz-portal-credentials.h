/* What fz-portal derives for its peers: ICE credentials, WireGuard
 * preshared keys, TURN credentials, and the client tokens it issues at
 * sign-in. All keyed derivations use the portal's secret, which never
 * leaves the portal. */
#pragma once

#include "fz-portal-types.h"

#include <glib.h>

G_BEGIN_DECLS

#define FZ_PORTAL_SECRET_LEN 32
#define FZ_PORTAL_MAX_NONCE  128

/* As the protocol derives them: base32 of SHA-256 over
 * "<initiator id>:<initiator key>:<receiver id>:<receiver key>". */
void fz_portal_ice_credentials (const char *client_id, const char *client_key_b64,
                                const char *gateway_id, const char *gateway_key_b64,
                                FzIceCredentials *client, FzIceCredentials *gateway);

/* HMAC-SHA256(secret, "WG_PSK|C_ID:..|G_ID:..|C_PK:..|G_PK:.."): stable
 * for a pair of keys, new when either changes. */
void fz_portal_psk (const guint8 secret[FZ_PORTAL_SECRET_LEN], const char *client_id,
                    const char *gateway_id, const char *client_key_b64,
                    const char *gateway_key_b64, guint8 out[32]);

/* coturn's use-auth-secret (REST) credentials: "<expiry>:<salt>" and
 * base64(HMAC-SHA1(secret, username)). */
void fz_portal_turn_credentials (const char *secret, gint64 expires_at, const char *salt,
                                 char **username, char **password);

/* Client tokens are nonce || fragment, where the fragment is
 * ".fzc1.<user b64url>.<expiry>.<HMAC b64url>" and the HMAC covers the
 * nonce, the user and the expiry. Nothing is stored: removing the user
 * or changing the secret revokes them. */
char *fz_portal_client_fragment (const guint8 secret[FZ_PORTAL_SECRET_LEN],
                                 const char *nonce, const char *user, gint64 expires_at);
/* Checks the MAC in constant time and the expiry against @now (unix s).
 * Returns the user name, or NULL with a reason in @why. */
char *fz_portal_client_token_verify (const guint8 secret[FZ_PORTAL_SECRET_LEN],
                                     const char *token, gint64 now, gint64 *expires_at,
                                     const char **why);
/* Letters, digits, - and _, 1 to FZ_PORTAL_MAX_NONCE of them. */
gboolean fz_portal_valid_nonce (const char *s);

/* Reads the secret file, or creates it (0600) with fresh random bytes. */
gboolean fz_portal_secret_load (const char *path, guint8 out[FZ_PORTAL_SECRET_LEN],
                                GError **error);

G_END_DECLS
