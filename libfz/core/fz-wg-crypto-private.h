/* The primitives of WireGuard's Noise IKpsk2, as the whitepaper names
 * them: HASH, MAC, HMAC, KDF_n (BLAKE2s, from libb2), DH (X25519), AEAD
 * (ChaCha20-Poly1305), XAEAD (XChaCha20-Poly1305), all from libsodium
 * but BLAKE2s. Secrets on the stack are wiped before return. */
#pragma once

#include "fz-wg-crypto.h"

G_BEGIN_DECLS

/* HASH(a || b); either may be empty. */
void fz_wg_hash (guint8 out[FZ_WG_HASH_LEN], const void *a, gsize a_len, const void *b,
                 gsize b_len);
/* MAC(key, input): keyed BLAKE2s with a 16-byte output. */
void fz_wg_mac (guint8 out[FZ_WG_MAC_LEN], const guint8 *key, gsize key_len,
                const void *in, gsize in_len);
void fz_wg_hmac (guint8 out[FZ_WG_HASH_LEN], const guint8 key[FZ_WG_HASH_LEN],
                 const void *in, gsize in_len);
/* KDF_n(key, input) for n = 1..3 outputs; unused outputs may be NULL. */
void fz_wg_kdf (guint8 *t1, guint8 *t2, guint8 *t3, const guint8 key[FZ_WG_HASH_LEN],
                const void *in, gsize in_len);

/* DH(private, public). FALSE for a low-order public key (all-zero result). */
gboolean fz_wg_dh (guint8 out[FZ_WG_KEY_LEN], const guint8 priv[FZ_WG_KEY_LEN],
                   const guint8 pub[FZ_WG_KEY_LEN]);
/* AEAD with the 64-bit little-endian counter nonce; @out has room for
 * @len + 16. Decrypt is FALSE when the tag does not verify. In place is
 * allowed (out == in). */
void fz_wg_aead_encrypt (guint8 *out, const guint8 key[FZ_WG_KEY_LEN], guint64 counter,
                         const guint8 *in, gsize len, const guint8 *ad, gsize ad_len);
gboolean fz_wg_aead_decrypt (guint8 *out, const guint8 key[FZ_WG_KEY_LEN],
                             guint64 counter, const guint8 *in, gsize len,
                             const guint8 *ad, gsize ad_len);
void fz_wg_xaead_encrypt (guint8 *out, const guint8 key[FZ_WG_KEY_LEN],
                          const guint8 nonce[FZ_WG_XNONCE_LEN], const guint8 *in,
                          gsize len, const guint8 *ad, gsize ad_len);
gboolean fz_wg_xaead_decrypt (guint8 *out, const guint8 key[FZ_WG_KEY_LEN],
                              const guint8 nonce[FZ_WG_XNONCE_LEN], const guint8 *in,
                              gsize len, const guint8 *ad, gsize ad_len);

/* TAI64N of a wall-clock time in microseconds since the Unix epoch, with
 * the label 2^62 + 10 that wireguard-go and Linux use. */
void fz_wg_tai64n (guint8 out[FZ_WG_TAI64N_LEN], gint64 wall_us);

/* Constant-time comparison. */
gboolean fz_wg_equal (const void *a, const void *b, gsize len);
void fz_wg_wipe (void *p, gsize len);

G_END_DECLS
