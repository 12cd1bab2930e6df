/* FzWgAead: ChaCha20-Poly1305 (RFC 8439) for transport data, through
 * OpenSSL's EVP, keyed once per session key and then only given each
 * packet's nonce. The handshake keeps libsodium (fz-wg-crypto.h): it runs
 * once in minutes, the transport for every packet.
 *
 * The bytes are the same as fz_wg_aead_encrypt() with no additional data
 * and the counter nonce; only the cost differs (OpenSSL's AVX2/AVX-512
 * code, and no key setup per packet). Short messages (TCP ACKs,
 * keepalives) go to libsodium, which is faster for them.
 *
 * A value in its session, zeroed to start; the key stays the session's
 * (given with each call, used only until the context exists and for
 * short messages), so there is no second copy of it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct evp_cipher_ctx_st FzWgAeadCtx; /* OpenSSL's EVP_CIPHER_CTX */

typedef struct
{
  /* Made at the first long message: an idle session (keepalives only)
   * never pays its kilobyte. Still NULL after a failure: then libsodium
   * does it all. */
  FzWgAeadCtx *ctx;
  gboolean ctx_failed;
} FzWgAead;

/* Frees the context (OpenSSL clears its copy of the key); zeroed again. */
void fz_wg_aead_clear (FzWgAead *aead);

/* In place: @len bytes at @data are encrypted with @key (32 bytes, the
 * same for every call on @aead) and the 16-byte tag is written right
 * after them. FALSE only on an OpenSSL failure. */
gboolean fz_wg_aead_seal (FzWgAead *aead, const guint8 *key, guint64 counter,
                          guint8 *data, gsize len);
/* In place: @len bytes at @data (the tag included) authenticated and
 * decrypted to @len - 16. FALSE for a forged or corrupted message; the
 * bytes are then garbage. */
gboolean fz_wg_aead_open (FzWgAead *aead, const guint8 *key, guint64 counter,
                          guint8 *data, gsize len);

G_END_DECLS
