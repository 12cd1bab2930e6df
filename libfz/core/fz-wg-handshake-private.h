/* FzWgHandshake: the Noise IKpsk2 handshake of one peer, and the message
 * formats of WireGuard (whitepaper section 5.4).
 *
 * Pure functions over caller-owned state: randomness comes from the
 * caller's FzRng and time as arguments, so handshakes replay exactly in
 * tests. Message parsing checks lengths and types; mac1 is checked by the
 * device before anything here runs. */
#pragma once

#include "fz-rng.h"
#include "fz-wg-crypto-private.h"

G_BEGIN_DECLS

enum
{
  FZ_WG_MSG_INITIATION = 1,
  FZ_WG_MSG_RESPONSE = 2,
  FZ_WG_MSG_COOKIE = 3,
  FZ_WG_MSG_DATA = 4,
};

#define FZ_WG_INITIATION_LEN  148
#define FZ_WG_RESPONSE_LEN    92
#define FZ_WG_COOKIE_LEN      64
#define FZ_WG_DATA_HEADER_LEN 16
#define FZ_WG_DATA_MIN_LEN    (FZ_WG_DATA_HEADER_LEN + FZ_WG_TAG_LEN)

/* Our static identity and the keys derived from it. */
typedef struct
{
  guint8 priv[FZ_WG_KEY_LEN];
  guint8 pub[FZ_WG_KEY_LEN];
  guint8 mac1_key[FZ_WG_HASH_LEN];   /* checks mac1 of messages to us */
  guint8 cookie_key[FZ_WG_HASH_LEN]; /* encrypts cookie replies we send */
} FzWgIdentity;

void fz_wg_identity_init (FzWgIdentity *id, const guint8 priv[FZ_WG_KEY_LEN]);

typedef enum
{
  FZ_WG_HS_NONE,
  FZ_WG_HS_INITIATION_SENT,     /* we are the initiator, waiting */
  FZ_WG_HS_INITIATION_CONSUMED, /* we are the responder, about to answer */
} FzWgHandshakeState;

/* What a completed handshake yields: the transport keys of a session. */
typedef struct
{
  guint8 send[FZ_WG_KEY_LEN];
  guint8 recv[FZ_WG_KEY_LEN];
  guint32 local_index;
  guint32 remote_index;
  gboolean initiator;
} FzWgKeypair;

typedef struct
{
  /* Fixed for the peer. */
  guint8 remote_pub[FZ_WG_KEY_LEN];
  guint8 psk[FZ_WG_KEY_LEN];
  guint8 static_ss[FZ_WG_KEY_LEN]; /* DH(our static, their static) */
  gboolean static_ss_ok;           /* FALSE for a low-order peer key */
  guint8 remote_mac1_key[FZ_WG_HASH_LEN];
  guint8 remote_cookie_key[FZ_WG_HASH_LEN];

  /* The handshake in flight. */
  FzWgHandshakeState state;
  guint8 hash[FZ_WG_HASH_LEN];
  guint8 chaining[FZ_WG_HASH_LEN];
  guint8 eph_priv[FZ_WG_KEY_LEN];
  guint8 remote_eph[FZ_WG_KEY_LEN];
  guint32 local_index;
  guint32 remote_index;

  /* Replay and flood protection of initiations we consume. */
  guint8 latest_timestamp[FZ_WG_TAI64N_LEN];
  gint64 last_initiation_consumed; /* monotonic us; 0 = never */

  /* A cookie the peer sent us (mac2 key), and our last mac1 to it. */
  guint8 cookie[FZ_WG_MAC_LEN];
  gint64 cookie_received; /* monotonic us; 0 = none */
  guint8 last_mac1[FZ_WG_MAC_LEN];
  gboolean last_mac1_valid;
} FzWgHandshake;

void fz_wg_handshake_init (FzWgHandshake *hs, const FzWgIdentity *id,
                           const guint8 remote_pub[FZ_WG_KEY_LEN],
                           const guint8 psk[FZ_WG_KEY_LEN]);
/* Forgets the handshake in flight (not the peer's keys or timestamps). */
void fz_wg_handshake_clear (FzWgHandshake *hs);
void fz_wg_handshake_wipe (FzWgHandshake *hs);

/* Initiator: writes a 148-byte initiation with mac1 (and mac2 if we hold
 * a fresh cookie). FALSE if the peer's key is unusable. */
gboolean fz_wg_handshake_create_initiation (FzWgHandshake *hs, const FzWgIdentity *id,
                                            guint32 local_index, gint64 wall_us,
                                            gint64 now, FzRng *rng,
                                            guint8 out[FZ_WG_INITIATION_LEN]);

/* Responder, step 1, before the peer is known: decrypts the initiator's
 * static key and timestamp. Everything needed later lands in @scratch,
 * which the device then hands to the matching peer. */
typedef struct
{
  guint8 remote_pub[FZ_WG_KEY_LEN];
  guint8 timestamp[FZ_WG_TAI64N_LEN];
  guint8 hash[FZ_WG_HASH_LEN];
  guint8 chaining[FZ_WG_HASH_LEN];
  guint8 remote_eph[FZ_WG_KEY_LEN];
  guint32 remote_index;
} FzWgInitiation;

gboolean fz_wg_initiation_open (const FzWgIdentity *id, const guint8 *msg, gsize len,
                                FzWgInitiation *scratch);

typedef enum
{
  FZ_WG_INIT_OK,
  FZ_WG_INIT_REPLAYED, /* timestamp not newer than the last one */
  FZ_WG_INIT_FLOOD,    /* less than 20 ms after the previous one */
  FZ_WG_INIT_BAD_KEY,  /* the peer's static key is unusable */
} FzWgInitResult;

/* Responder, step 2, for the peer whose key @scratch names. */
FzWgInitResult fz_wg_handshake_consume_initiation (FzWgHandshake *hs,
                                                   const FzWgInitiation *scratch,
                                                   gint64 now);

/* Responder, step 3: writes the 92-byte response and the new session's
 * keys. */
gboolean fz_wg_handshake_create_response (FzWgHandshake *hs, const FzWgIdentity *id,
                                          guint32 local_index, gint64 now, FzRng *rng,
                                          guint8 out[FZ_WG_RESPONSE_LEN],
                                          FzWgKeypair *keys);

/* Initiator: a response to our initiation gives the session's keys. FALSE
 * if it does not authenticate (wrong keys or preshared key). */
gboolean fz_wg_handshake_consume_response (FzWgHandshake *hs, const FzWgIdentity *id,
                                           const guint8 *msg, gsize len,
                                           FzWgKeypair *keys);

/* mac1 and mac2 of a message to us. */
gboolean fz_wg_check_mac1 (const FzWgIdentity *id, const guint8 *msg, gsize len);
gboolean fz_wg_check_mac2 (const guint8 cookie[FZ_WG_MAC_LEN], const guint8 *msg,
                           gsize len);

/* The cookie for a source address: MAC(secret, address bytes || port). */
void fz_wg_make_cookie (guint8 cookie[FZ_WG_MAC_LEN], const guint8 secret[FZ_WG_HASH_LEN],
                        const guint8 *addr, gsize addr_len, guint16 port);
/* A cookie reply to @msg (an initiation or response that arrived under
 * load), encrypted for its sender. */
void fz_wg_create_cookie_reply (const FzWgIdentity *id, const guint8 *msg, gsize len,
                                const guint8 cookie[FZ_WG_MAC_LEN], FzRng *rng,
                                guint8 out[FZ_WG_COOKIE_LEN]);
/* The peer sent us a cookie: remember it as our mac2 key. */
gboolean fz_wg_handshake_consume_cookie_reply (FzWgHandshake *hs, const guint8 *msg,
                                               gsize len, gint64 now);

/* Little-endian 32-bit field of a message (sender / receiver index). */
guint32 fz_wg_msg_index (const guint8 *msg, gsize offset);

G_END_DECLS
