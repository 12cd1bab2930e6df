#include "fz-wg-crypto-private.h"

#include <blake2.h>
#include <sodium.h>
#include <string.h>

#define BLAKE2S_BLOCK 64

void
fz_wg_hash (guint8 out[FZ_WG_HASH_LEN], const void *a, gsize a_len, const void *b,
            gsize b_len)
{
  blake2s_state s;

  blake2s_init (&s, FZ_WG_HASH_LEN);
  if (a_len > 0)
    blake2s_update (&s, a, a_len);
  if (b_len > 0)
    blake2s_update (&s, b, b_len);
  blake2s_final (&s, out, FZ_WG_HASH_LEN);
}

void
fz_wg_mac (guint8 out[FZ_WG_MAC_LEN], const guint8 *key, gsize key_len, const void *in,
           gsize in_len)
{
  blake2s (out, in, key, FZ_WG_MAC_LEN, in_len, key_len);
}

/* HMAC (RFC 2104) over BLAKE2s with its 64-byte block. */
void
fz_wg_hmac (guint8 out[FZ_WG_HASH_LEN], const guint8 key[FZ_WG_HASH_LEN], const void *in,
            gsize in_len)
{
  guint8 pad[BLAKE2S_BLOCK], inner[FZ_WG_HASH_LEN];
  blake2s_state s;

  memset (pad, 0x36, sizeof pad);
  for (guint i = 0; i < FZ_WG_HASH_LEN; i++)
    pad[i] ^= key[i];
  blake2s_init (&s, FZ_WG_HASH_LEN);
  blake2s_update (&s, pad, sizeof pad);
  blake2s_update (&s, in, in_len);
  blake2s_final (&s, inner, sizeof inner);

  memset (pad, 0x5c, sizeof pad);
  for (guint i = 0; i < FZ_WG_HASH_LEN; i++)
    pad[i] ^= key[i];
  blake2s_init (&s, FZ_WG_HASH_LEN);
  blake2s_update (&s, pad, sizeof pad);
  blake2s_update (&s, inner, sizeof inner);
  blake2s_final (&s, out, FZ_WG_HASH_LEN);

  sodium_memzero (pad, sizeof pad);
  sodium_memzero (inner, sizeof inner);
  sodium_memzero (&s, sizeof s);
}

void
fz_wg_kdf (guint8 *t1, guint8 *t2, guint8 *t3, const guint8 key[FZ_WG_HASH_LEN],
           const void *in, gsize in_len)
{
  guint8 prk[FZ_WG_HASH_LEN], t[FZ_WG_HASH_LEN + 1];

  fz_wg_hmac (prk, key, in, in_len);
  t[0] = 1;
  fz_wg_hmac (t, prk, t, 1);
  if (t1 != NULL)
    memcpy (t1, t, FZ_WG_HASH_LEN);
  if (t2 != NULL || t3 != NULL)
    {
      t[FZ_WG_HASH_LEN] = 2;
      fz_wg_hmac (t, prk, t, FZ_WG_HASH_LEN + 1);
      if (t2 != NULL)
        memcpy (t2, t, FZ_WG_HASH_LEN);
    }
  if (t3 != NULL)
    {
      t[FZ_WG_HASH_LEN] = 3;
      fz_wg_hmac (t, prk, t, FZ_WG_HASH_LEN + 1);
      memcpy (t3, t, FZ_WG_HASH_LEN);
    }
  sodium_memzero (prk, sizeof prk);
  sodium_memzero (t, sizeof t);
}

gboolean
fz_wg_dh (guint8 out[FZ_WG_KEY_LEN], const guint8 priv[FZ_WG_KEY_LEN],
          const guint8 pub[FZ_WG_KEY_LEN])
{
  /* libsodium refuses (-1) when the result is all zeros. */
  return crypto_scalarmult (out, priv, pub) == 0;
}

void
fz_wg_public_key (guint8 pub[FZ_WG_KEY_LEN], const guint8 priv[FZ_WG_KEY_LEN])
{
  crypto_scalarmult_base (pub, priv);
}

void
fz_wg_clamp_private_key (guint8 key[FZ_WG_KEY_LEN])
{
  key[0] &= 248;
  key[31] = (key[31] & 127) | 64;
}

static void
counter_nonce (guint8 nonce[12], guint64 counter)
{
  memset (nonce, 0, 4);
  for (guint i = 0; i < 8; i++)
    nonce[4 + i] = (guint8) (counter >> (8 * i));
}

void
fz_wg_aead_encrypt (guint8 *out, const guint8 key[FZ_WG_KEY_LEN], guint64 counter,
                    const guint8 *in, gsize len, const guint8 *ad, gsize ad_len)
{
  guint8 nonce[12];

  counter_nonce (nonce, counter);
  crypto_aead_chacha20poly1305_ietf_encrypt_detached (out, out + len, NULL, in, len, ad,
                                                      ad_len, NULL, nonce, key);
}

gboolean
fz_wg_aead_decrypt (guint8 *out, const guint8 key[FZ_WG_KEY_LEN], guint64 counter,
                    const guint8 *in, gsize len, const guint8 *ad, gsize ad_len)
{
  guint8 nonce[12];

  if (len < FZ_WG_TAG_LEN)
    return FALSE;
  counter_nonce (nonce, counter);
  return crypto_aead_chacha20poly1305_ietf_decrypt_detached (
           out, NULL, in, len - FZ_WG_TAG_LEN, in + len - FZ_WG_TAG_LEN, ad, ad_len,
           nonce, key)
         == 0;
}

void
fz_wg_xaead_encrypt (guint8 *out, const guint8 key[FZ_WG_KEY_LEN],
                     const guint8 nonce[FZ_WG_XNONCE_LEN], const guint8 *in, gsize len,
                     const guint8 *ad, gsize ad_len)
{
  crypto_aead_xchacha20poly1305_ietf_encrypt_detached (out, out + len, NULL, in, len, ad,
                                                       ad_len, NULL, nonce, key);
}

gboolean
fz_wg_xaead_decrypt (guint8 *out, const guint8 key[FZ_WG_KEY_LEN],
                     const guint8 nonce[FZ_WG_XNONCE_LEN], const guint8 *in, gsize len,
                     const guint8 *ad, gsize ad_len)
{
  if (len < FZ_WG_TAG_LEN)
    return FALSE;
  return crypto_aead_xchacha20poly1305_ietf_decrypt_detached (
           out, NULL, in, len - FZ_WG_TAG_LEN, in + len - FZ_WG_TAG_LEN, ad, ad_len,
           nonce, key)
         == 0;
}

void
fz_wg_tai64n (guint8 out[FZ_WG_TAI64N_LEN], gint64 wall_us)
{
  /* The TAI64 label as wireguard-go and Linux write it: 2^62 plus the
   * 10 s TAI was ahead of UTC in 1972. Peers compare timestamps, so a
   * different base would make a restarted peer's initiations replays. */
  guint64 secs
    = (guint64) (wall_us / G_USEC_PER_SEC) + G_GUINT64_CONSTANT (0x400000000000000a);
  /* Rounded down to 2^24 ns (~16.8 ms), as the reference implementations
   * do, so the timestamp does not leak a precise clock. */
  guint32 nsec = (guint32) ((wall_us % G_USEC_PER_SEC) * 1000) & ~((1u << 24) - 1);

  for (guint i = 0; i < 8; i++)
    out[i] = (guint8) (secs >> (56 - 8 * i));
  for (guint i = 0; i < 4; i++)
    out[8 + i] = (guint8) (nsec >> (24 - 8 * i));
}

gboolean
fz_wg_equal (const void *a, const void *b, gsize len)
{
  return sodium_memcmp (a, b, len) == 0;
}

void
fz_wg_wipe (void *p, gsize len)
{
  sodium_memzero (p, len);
}
