/* FzWgAead: ChaCha20-Poly1305 (RFC 8439) for transport data, through
 * OpenSSL's EVP, keyed once per session key and then only given each
 * packet's nonce. The handshake keeps libsodium (fz-wg-crypto.h): it runs
 * once in minutes, the transport for every packet.
 *
 * The bytes are the same as fz_wg_aead_encrypt() with no additional data
 * and the counter nonce; only the cost differs (OpenSSL's AVX2/AVX-512
 * code, and no key setup per packet). Short messages (TCP ACKs,
 * keepalives) go to libsodium, which is faster for them. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _FzWgAead FzWgAead;

/* @key: 32 bytes, copied. OpenSSL's context is made at the first message
 * it is for; should that fail, libsodium takes every message. */
FzWgAead *fz_wg_aead_new (const guint8 *key, gboolean encrypt);
/* Clears the key from memory. */
void fz_wg_aead_free (FzWgAead *aead);

/* In place: @len bytes at @data are encrypted and the 16-byte tag is
 * written right after them. FALSE only on an OpenSSL failure. */
gboolean fz_wg_aead_seal (FzWgAead *aead, guint64 counter, guint8 *data, gsize len);
/* In place: @len bytes at @data (the tag included) authenticated and
 * decrypted to @len - 16. FALSE for a forged or corrupted message; the
 * bytes are then garbage. */
gboolean fz_wg_aead_open (FzWgAead *aead, guint64 counter, guint8 *data, gsize len);

G_END_DECLS
