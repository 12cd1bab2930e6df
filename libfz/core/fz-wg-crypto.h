/* WireGuard keys: their sizes, and making a key pair (X25519). The
 * primitives of the protocol are internal: fz-wg-crypto-private.h. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FZ_WG_KEY_LEN    32
#define FZ_WG_HASH_LEN   32
#define FZ_WG_MAC_LEN    16
#define FZ_WG_TAG_LEN    16
#define FZ_WG_TAI64N_LEN 12
#define FZ_WG_XNONCE_LEN 24

void fz_wg_public_key (guint8 pub[FZ_WG_KEY_LEN], const guint8 priv[FZ_WG_KEY_LEN]);
/* Clamps 32 random bytes into a Curve25519 private key, as wg genkey does. */
void fz_wg_clamp_private_key (guint8 key[FZ_WG_KEY_LEN]);

G_END_DECLS
