#include "fz-wg-handshake-private.h"

#include <string.h>

static const char CONSTRUCTION[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
static const char IDENTIFIER[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";
static const char LABEL_MAC1[] = "mac1----";
static const char LABEL_COOKIE[] = "cookie--";

#define COOKIE_LIFETIME         (120 * G_USEC_PER_SEC)
#define INITIATION_MIN_INTERVAL (G_USEC_PER_SEC / 50) /* 50 per second */

/* Offsets of the message fields. */
#define INIT_SENDER     4
#define INIT_EPHEMERAL  8
#define INIT_STATIC     40
#define INIT_TIMESTAMP  88
#define INIT_MAC1       116
#define RESP_SENDER     4
#define RESP_RECEIVER   8
#define RESP_EPHEMERAL  12
#define RESP_EMPTY      44
#define RESP_MAC1       60
#define COOKIE_RECEIVER 4
#define COOKIE_NONCE    8
#define COOKIE_DATA     32

/* C0 = HASH(CONSTRUCTION), H0 = HASH(C0 || IDENTIFIER). */
static void
initial_chain (guint8 chaining[FZ_WG_HASH_LEN], guint8 hash[FZ_WG_HASH_LEN])
{
  static guint8 c0[FZ_WG_HASH_LEN], h0[FZ_WG_HASH_LEN];
  static gsize once = 0;

  if (g_once_init_enter (&once))
    {
      fz_wg_hash (c0, CONSTRUCTION, strlen (CONSTRUCTION), NULL, 0);
      fz_wg_hash (h0, c0, sizeof c0, IDENTIFIER, strlen (IDENTIFIER));
      g_once_init_leave (&once, 1);
    }
  memcpy (chaining, c0, FZ_WG_HASH_LEN);
  memcpy (hash, h0, FZ_WG_HASH_LEN);
}

static void
mix_hash (guint8 hash[FZ_WG_HASH_LEN], const void *data, gsize len)
{
  fz_wg_hash (hash, hash, FZ_WG_HASH_LEN, data, len);
}

static void
put_le32 (guint8 *p, guint32 v)
{
  for (guint i = 0; i < 4; i++)
    p[i] = (guint8) (v >> (8 * i));
}

guint32
fz_wg_msg_index (const guint8 *msg, gsize offset)
{
  const guint8 *p = msg + offset;
  return (guint32) p[0] | (guint32) p[1] << 8 | (guint32) p[2] << 16
         | (guint32) p[3] << 24;
}

void
fz_wg_identity_init (FzWgIdentity *id, const guint8 priv[FZ_WG_KEY_LEN])
{
  memcpy (id->priv, priv, FZ_WG_KEY_LEN);
  fz_wg_public_key (id->pub, priv);
  fz_wg_hash (id->mac1_key, LABEL_MAC1, strlen (LABEL_MAC1), id->pub, FZ_WG_KEY_LEN);
  fz_wg_hash (id->cookie_key, LABEL_COOKIE, strlen (LABEL_COOKIE), id->pub,
              FZ_WG_KEY_LEN);
}

void
fz_wg_handshake_init (FzWgHandshake *hs, const FzWgIdentity *id,
                      const guint8 remote_pub[FZ_WG_KEY_LEN],
                      const guint8 psk[FZ_WG_KEY_LEN])
{
  static const guint8 zero[FZ_WG_KEY_LEN] = { 0 };

  memset (hs, 0, sizeof *hs);
  memcpy (hs->remote_pub, remote_pub, FZ_WG_KEY_LEN);
  memcpy (hs->psk, psk != NULL ? psk : zero, FZ_WG_KEY_LEN);
  hs->static_ss_ok = fz_wg_dh (hs->static_ss, id->priv, remote_pub);
  fz_wg_hash (hs->remote_mac1_key, LABEL_MAC1, strlen (LABEL_MAC1), remote_pub,
              FZ_WG_KEY_LEN);
  fz_wg_hash (hs->remote_cookie_key, LABEL_COOKIE, strlen (LABEL_COOKIE), remote_pub,
              FZ_WG_KEY_LEN);
}

void
fz_wg_handshake_clear (FzWgHandshake *hs)
{
  hs->state = FZ_WG_HS_NONE;
  fz_wg_wipe (hs->hash, sizeof hs->hash);
  fz_wg_wipe (hs->chaining, sizeof hs->chaining);
  fz_wg_wipe (hs->eph_priv, sizeof hs->eph_priv);
  memset (hs->remote_eph, 0, sizeof hs->remote_eph);
  hs->local_index = 0;
  hs->remote_index = 0;
}

void
fz_wg_handshake_wipe (FzWgHandshake *hs)
{
  fz_wg_wipe (hs, sizeof *hs);
}

/* mac1 always; mac2 with a cookie younger than two minutes. */
static void
stamp_macs (FzWgHandshake *hs, guint8 *msg, gsize mac1_off, gint64 now)
{
  fz_wg_mac (msg + mac1_off, hs->remote_mac1_key, FZ_WG_HASH_LEN, msg, mac1_off);
  memcpy (hs->last_mac1, msg + mac1_off, FZ_WG_MAC_LEN);
  hs->last_mac1_valid = TRUE;
  if (hs->cookie_received != 0 && now - hs->cookie_received < COOKIE_LIFETIME)
    fz_wg_mac (msg + mac1_off + FZ_WG_MAC_LEN, hs->cookie, FZ_WG_MAC_LEN, msg,
               mac1_off + FZ_WG_MAC_LEN);
  else
    memset (msg + mac1_off + FZ_WG_MAC_LEN, 0, FZ_WG_MAC_LEN);
}

static void
new_ephemeral (FzRng *rng, guint8 priv[FZ_WG_KEY_LEN], guint8 pub[FZ_WG_KEY_LEN])
{
  fz_rng_fill (rng, priv, FZ_WG_KEY_LEN);
  fz_wg_clamp_private_key (priv);
  fz_wg_public_key (pub, priv);
}

gboolean
fz_wg_handshake_create_initiation (FzWgHandshake *hs, const FzWgIdentity *id,
                                   guint32 local_index, gint64 wall_us, gint64 now,
                                   FzRng *rng, guint8 out[FZ_WG_INITIATION_LEN])
{
  guint8 key[FZ_WG_KEY_LEN], ss[FZ_WG_KEY_LEN], ts[FZ_WG_TAI64N_LEN];
  gboolean ok = FALSE;

  if (!hs->static_ss_ok)
    return FALSE;
  fz_wg_handshake_clear (hs);
  memset (out, 0, FZ_WG_INITIATION_LEN);
  out[0] = FZ_WG_MSG_INITIATION;
  put_le32 (out + INIT_SENDER, local_index);

  initial_chain (hs->chaining, hs->hash);
  mix_hash (hs->hash, hs->remote_pub, FZ_WG_KEY_LEN);

  new_ephemeral (rng, hs->eph_priv, out + INIT_EPHEMERAL);
  fz_wg_kdf (hs->chaining, NULL, NULL, hs->chaining, out + INIT_EPHEMERAL, FZ_WG_KEY_LEN);
  mix_hash (hs->hash, out + INIT_EPHEMERAL, FZ_WG_KEY_LEN);

  if (!fz_wg_dh (ss, hs->eph_priv, hs->remote_pub))
    goto out;
  fz_wg_kdf (hs->chaining, key, NULL, hs->chaining, ss, sizeof ss);
  fz_wg_aead_encrypt (out + INIT_STATIC, key, 0, id->pub, FZ_WG_KEY_LEN, hs->hash,
                      FZ_WG_HASH_LEN);
  mix_hash (hs->hash, out + INIT_STATIC, FZ_WG_KEY_LEN + FZ_WG_TAG_LEN);

  fz_wg_kdf (hs->chaining, key, NULL, hs->chaining, hs->static_ss, FZ_WG_KEY_LEN);
  fz_wg_tai64n (ts, wall_us);
  fz_wg_aead_encrypt (out + INIT_TIMESTAMP, key, 0, ts, sizeof ts, hs->hash,
                      FZ_WG_HASH_LEN);
  mix_hash (hs->hash, out + INIT_TIMESTAMP, FZ_WG_TAI64N_LEN + FZ_WG_TAG_LEN);

  stamp_macs (hs, out, INIT_MAC1, now);
  hs->local_index = local_index;
  hs->state = FZ_WG_HS_INITIATION_SENT;
  ok = TRUE;

out:
  fz_wg_wipe (key, sizeof key);
  fz_wg_wipe (ss, sizeof ss);
  return ok;
}

gboolean
fz_wg_initiation_open (const FzWgIdentity *id, const guint8 *msg, gsize len,
                       FzWgInitiation *s)
{
  guint8 key[FZ_WG_KEY_LEN], ss[FZ_WG_KEY_LEN];
  gboolean ok = FALSE;

  if (len != FZ_WG_INITIATION_LEN || msg[0] != FZ_WG_MSG_INITIATION)
    return FALSE;
  initial_chain (s->chaining, s->hash);
  mix_hash (s->hash, id->pub, FZ_WG_KEY_LEN);

  memcpy (s->remote_eph, msg + INIT_EPHEMERAL, FZ_WG_KEY_LEN);
  fz_wg_kdf (s->chaining, NULL, NULL, s->chaining, s->remote_eph, FZ_WG_KEY_LEN);
  mix_hash (s->hash, s->remote_eph, FZ_WG_KEY_LEN);

  if (!fz_wg_dh (ss, id->priv, s->remote_eph))
    goto out;
  fz_wg_kdf (s->chaining, key, NULL, s->chaining, ss, sizeof ss);
  if (!fz_wg_aead_decrypt (s->remote_pub, key, 0, msg + INIT_STATIC,
                           FZ_WG_KEY_LEN + FZ_WG_TAG_LEN, s->hash, FZ_WG_HASH_LEN))
    goto out;
  mix_hash (s->hash, msg + INIT_STATIC, FZ_WG_KEY_LEN + FZ_WG_TAG_LEN);

  if (!fz_wg_dh (ss, id->priv, s->remote_pub))
    goto out;
  fz_wg_kdf (s->chaining, key, NULL, s->chaining, ss, sizeof ss);
  if (!fz_wg_aead_decrypt (s->timestamp, key, 0, msg + INIT_TIMESTAMP,
                           FZ_WG_TAI64N_LEN + FZ_WG_TAG_LEN, s->hash, FZ_WG_HASH_LEN))
    goto out;
  mix_hash (s->hash, msg + INIT_TIMESTAMP, FZ_WG_TAI64N_LEN + FZ_WG_TAG_LEN);
  s->remote_index = fz_wg_msg_index (msg, INIT_SENDER);
  ok = TRUE;

out:
  fz_wg_wipe (key, sizeof key);
  fz_wg_wipe (ss, sizeof ss);
  if (!ok)
    fz_wg_wipe (s, sizeof *s);
  return ok;
}

FzWgInitResult
fz_wg_handshake_consume_initiation (FzWgHandshake *hs, const FzWgInitiation *s,
                                    gint64 now)
{
  if (!hs->static_ss_ok)
    return FZ_WG_INIT_BAD_KEY;
  /* TAI64N is big-endian: byte order is time order. */
  if (memcmp (s->timestamp, hs->latest_timestamp, FZ_WG_TAI64N_LEN) <= 0)
    return FZ_WG_INIT_REPLAYED;
  if (hs->last_initiation_consumed != 0
      && now - hs->last_initiation_consumed < INITIATION_MIN_INTERVAL)
    return FZ_WG_INIT_FLOOD;

  fz_wg_handshake_clear (hs);
  memcpy (hs->latest_timestamp, s->timestamp, FZ_WG_TAI64N_LEN);
  hs->last_initiation_consumed = now;
  memcpy (hs->hash, s->hash, FZ_WG_HASH_LEN);
  memcpy (hs->chaining, s->chaining, FZ_WG_HASH_LEN);
  memcpy (hs->remote_eph, s->remote_eph, FZ_WG_KEY_LEN);
  hs->remote_index = s->remote_index;
  hs->state = FZ_WG_HS_INITIATION_CONSUMED;
  return FZ_WG_INIT_OK;
}

/* The psk step and the transport keys, shared by both roles. */
static gboolean
finish (FzWgHandshake *hs, guint8 *empty, gboolean encrypt, FzWgKeypair *keys,
        gboolean initiator)
{
  guint8 tau[FZ_WG_HASH_LEN], key[FZ_WG_KEY_LEN], nothing[1] = { 0 };
  gboolean ok = TRUE;

  fz_wg_kdf (hs->chaining, tau, key, hs->chaining, hs->psk, FZ_WG_KEY_LEN);
  mix_hash (hs->hash, tau, sizeof tau);
  /* AEAD of the empty string: only the tag (libsodium wants real pointers). */
  if (encrypt)
    fz_wg_aead_encrypt (empty, key, 0, nothing, 0, hs->hash, FZ_WG_HASH_LEN);
  else
    ok = fz_wg_aead_decrypt (nothing, key, 0, empty, FZ_WG_TAG_LEN, hs->hash,
                             FZ_WG_HASH_LEN);
  if (ok)
    {
      mix_hash (hs->hash, empty, FZ_WG_TAG_LEN);
      if (initiator)
        fz_wg_kdf (keys->send, keys->recv, NULL, hs->chaining, NULL, 0);
      else
        fz_wg_kdf (keys->recv, keys->send, NULL, hs->chaining, NULL, 0);
      keys->initiator = initiator;
    }
  fz_wg_wipe (tau, sizeof tau);
  fz_wg_wipe (key, sizeof key);
  return ok;
}

gboolean
fz_wg_handshake_create_response (FzWgHandshake *hs, const FzWgIdentity *id,
                                 guint32 local_index, gint64 now, FzRng *rng,
                                 guint8 out[FZ_WG_RESPONSE_LEN], FzWgKeypair *keys)
{
  guint8 eph[FZ_WG_KEY_LEN], ss[FZ_WG_KEY_LEN];
  gboolean ok = FALSE;

  if (hs->state != FZ_WG_HS_INITIATION_CONSUMED)
    return FALSE;
  memset (out, 0, FZ_WG_RESPONSE_LEN);
  out[0] = FZ_WG_MSG_RESPONSE;
  put_le32 (out + RESP_SENDER, local_index);
  put_le32 (out + RESP_RECEIVER, hs->remote_index);

  new_ephemeral (rng, eph, out + RESP_EPHEMERAL);
  fz_wg_kdf (hs->chaining, NULL, NULL, hs->chaining, out + RESP_EPHEMERAL, FZ_WG_KEY_LEN);
  mix_hash (hs->hash, out + RESP_EPHEMERAL, FZ_WG_KEY_LEN);
  if (!fz_wg_dh (ss, eph, hs->remote_eph))
    goto out;
  fz_wg_kdf (hs->chaining, NULL, NULL, hs->chaining, ss, sizeof ss);
  if (!fz_wg_dh (ss, eph, hs->remote_pub))
    goto out;
  fz_wg_kdf (hs->chaining, NULL, NULL, hs->chaining, ss, sizeof ss);
  finish (hs, out + RESP_EMPTY, TRUE, keys, FALSE);
  stamp_macs (hs, out, RESP_MAC1, now);
  keys->local_index = local_index;
  keys->remote_index = hs->remote_index;
  ok = TRUE;

out:
  fz_wg_wipe (eph, sizeof eph);
  fz_wg_wipe (ss, sizeof ss);
  fz_wg_handshake_clear (hs);
  return ok;
}

gboolean
fz_wg_handshake_consume_response (FzWgHandshake *hs, const FzWgIdentity *id,
                                  const guint8 *msg, gsize len, FzWgKeypair *keys)
{
  guint8 chaining[FZ_WG_HASH_LEN], hash[FZ_WG_HASH_LEN], ss[FZ_WG_KEY_LEN];
  guint8 empty[FZ_WG_TAG_LEN];
  FzWgHandshake trial;
  gboolean ok = FALSE;

  if (len != FZ_WG_RESPONSE_LEN || msg[0] != FZ_WG_MSG_RESPONSE
      || hs->state != FZ_WG_HS_INITIATION_SENT
      || fz_wg_msg_index (msg, RESP_RECEIVER) != hs->local_index)
    return FALSE;

  /* Work on copies: a response that fails leaves the handshake waiting
   * for the genuine one. */
  memcpy (chaining, hs->chaining, sizeof chaining);
  memcpy (hash, hs->hash, sizeof hash);
  fz_wg_kdf (chaining, NULL, NULL, chaining, msg + RESP_EPHEMERAL, FZ_WG_KEY_LEN);
  fz_wg_hash (hash, hash, sizeof hash, msg + RESP_EPHEMERAL, FZ_WG_KEY_LEN);
  if (!fz_wg_dh (ss, hs->eph_priv, msg + RESP_EPHEMERAL))
    goto out;
  fz_wg_kdf (chaining, NULL, NULL, chaining, ss, sizeof ss);
  if (!fz_wg_dh (ss, id->priv, msg + RESP_EPHEMERAL))
    goto out;
  fz_wg_kdf (chaining, NULL, NULL, chaining, ss, sizeof ss);

  memcpy (trial.chaining, chaining, sizeof chaining);
  memcpy (trial.hash, hash, sizeof hash);
  memcpy (trial.psk, hs->psk, sizeof trial.psk);
  memcpy (empty, msg + RESP_EMPTY, sizeof empty);
  if (!finish (&trial, empty, FALSE, keys, TRUE))
    goto out;
  keys->local_index = hs->local_index;
  keys->remote_index = fz_wg_msg_index (msg, RESP_SENDER);
  fz_wg_handshake_clear (hs);
  ok = TRUE;

out:
  fz_wg_wipe (chaining, sizeof chaining);
  fz_wg_wipe (hash, sizeof hash);
  fz_wg_wipe (ss, sizeof ss);
  fz_wg_wipe (&trial, sizeof trial);
  return ok;
}

static gsize
mac1_offset (const guint8 *msg, gsize len)
{
  if (len == FZ_WG_INITIATION_LEN && msg[0] == FZ_WG_MSG_INITIATION)
    return INIT_MAC1;
  if (len == FZ_WG_RESPONSE_LEN && msg[0] == FZ_WG_MSG_RESPONSE)
    return RESP_MAC1;
  return 0;
}

gboolean
fz_wg_check_mac1 (const FzWgIdentity *id, const guint8 *msg, gsize len)
{
  gsize off = mac1_offset (msg, len);
  guint8 mac[FZ_WG_MAC_LEN];

  if (off == 0)
    return FALSE;
  fz_wg_mac (mac, id->mac1_key, FZ_WG_HASH_LEN, msg, off);
  return fz_wg_equal (mac, msg + off, FZ_WG_MAC_LEN);
}

gboolean
fz_wg_check_mac2 (const guint8 cookie[FZ_WG_MAC_LEN], const guint8 *msg, gsize len)
{
  gsize off = mac1_offset (msg, len);
  guint8 mac[FZ_WG_MAC_LEN];

  if (off == 0)
    return FALSE;
  fz_wg_mac (mac, cookie, FZ_WG_MAC_LEN, msg, off + FZ_WG_MAC_LEN);
  return fz_wg_equal (mac, msg + off + FZ_WG_MAC_LEN, FZ_WG_MAC_LEN);
}

void
fz_wg_make_cookie (guint8 cookie[FZ_WG_MAC_LEN], const guint8 secret[FZ_WG_HASH_LEN],
                   const guint8 *addr, gsize addr_len, guint16 port)
{
  guint8 buf[18];

  g_return_if_fail (addr_len <= 16);
  memcpy (buf, addr, addr_len);
  buf[addr_len] = port >> 8;
  buf[addr_len + 1] = port & 0xff;
  fz_wg_mac (cookie, secret, FZ_WG_HASH_LEN, buf, addr_len + 2);
}

void
fz_wg_create_cookie_reply (const FzWgIdentity *id, const guint8 *msg, gsize len,
                           const guint8 cookie[FZ_WG_MAC_LEN], FzRng *rng,
                           guint8 out[FZ_WG_COOKIE_LEN])
{
  gsize off = mac1_offset (msg, len);

  g_return_if_fail (off != 0);
  memset (out, 0, FZ_WG_COOKIE_LEN);
  out[0] = FZ_WG_MSG_COOKIE;
  /* The sender index of the message we answer is its bytes 4..7. */
  memcpy (out + COOKIE_RECEIVER, msg + 4, 4);
  fz_rng_fill (rng, out + COOKIE_NONCE, FZ_WG_XNONCE_LEN);
  fz_wg_xaead_encrypt (out + COOKIE_DATA, id->cookie_key, out + COOKIE_NONCE, cookie,
                       FZ_WG_MAC_LEN, msg + off, FZ_WG_MAC_LEN);
}

gboolean
fz_wg_handshake_consume_cookie_reply (FzWgHandshake *hs, const guint8 *msg, gsize len,
                                      gint64 now)
{
  guint8 cookie[FZ_WG_MAC_LEN];
  gboolean ok = FALSE;

  if (len != FZ_WG_COOKIE_LEN || msg[0] != FZ_WG_MSG_COOKIE || !hs->last_mac1_valid)
    return FALSE;
  if (!fz_wg_xaead_decrypt (cookie, hs->remote_cookie_key, msg + COOKIE_NONCE,
                            msg + COOKIE_DATA, FZ_WG_MAC_LEN + FZ_WG_TAG_LEN,
                            hs->last_mac1, FZ_WG_MAC_LEN))
    goto out;
  memcpy (hs->cookie, cookie, sizeof cookie);
  hs->cookie_received = now;
  /* One cookie per mac1: a replayed reply cannot refresh it. */
  hs->last_mac1_valid = FALSE;
  ok = TRUE;

out:
  fz_wg_wipe (cookie, sizeof cookie);
  return ok;
}
