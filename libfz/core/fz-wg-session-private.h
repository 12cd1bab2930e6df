/* FzWgSession: one set of WireGuard transport keys and their counters.
 * Sessions live in fixed slots and are never copied: they own their
 * OpenSSL contexts (fz_wg_session_wipe() frees them).
 *
 * Encrypts and decrypts transport data messages in place in an
 * FzPacketBuf: the 16-byte header goes into the headroom, the tag into
 * the tailroom, so a packet is never copied. */
#pragma once

#include "fz-packet-buf.h"
#include "fz-wg-aead-private.h"
#include "fz-wg-handshake-private.h"
#include "fz-wg-replay-private.h"

G_BEGIN_DECLS

#define FZ_WG_REKEY_AFTER_MESSAGES (G_GUINT64_CONSTANT (1) << 60)
#define FZ_WG_REKEY_AFTER_TIME     (120 * G_USEC_PER_SEC)
#define FZ_WG_REJECT_AFTER_TIME    (180 * G_USEC_PER_SEC)

typedef struct
{
  FzWgKeypair keys;
  FzWgAead send_aead;   /* contexts for keys.send and keys.recv, cleared */
  FzWgAead recv_aead;   /* by the wipe */
  guint64 send_counter; /* next counter to send */
  FzWgReplay replay;
  gint64 created; /* monotonic us */
  gboolean valid;
  gboolean confirmed; /* the other side proved it has the keys */
} FzWgSession;

/* @s: zeroed, or used before (its old keys are wiped first). */
void fz_wg_session_start (FzWgSession *s, const FzWgKeypair *keys, gint64 now);
void fz_wg_session_wipe (FzWgSession *s);

gboolean fz_wg_session_can_send (const FzWgSession *s, gint64 now);
gboolean fz_wg_session_can_receive (const FzWgSession *s, gint64 now);

/* Turns the IP packet (or nothing: a keepalive) in @buf into a transport
 * data message, padded to a multiple of 16 but never past @mtu (0: no
 * limit), as the protocol says. FALSE if the buffer lacks head- or
 * tailroom. */
gboolean fz_wg_session_encrypt (FzWgSession *s, FzPacketBuf *buf, gsize mtu);

typedef enum
{
  FZ_WG_DECRYPT_OK,
  FZ_WG_DECRYPT_BAD_TAG,  /* forged, corrupted, or other keys */
  FZ_WG_DECRYPT_REPLAY,   /* counter seen before or too old */
  FZ_WG_DECRYPT_BAD_INNER /* authenticated, but not a whole IP packet */
} FzWgDecrypt;

/* Turns a transport data message in @buf into its IP packet (len 0 for a
 * keepalive), padding removed. */
FzWgDecrypt fz_wg_session_decrypt (FzWgSession *s, FzPacketBuf *buf);

G_END_DECLS
