/* FzWgDevice: a WireGuard interface without I/O.
 *
 * Holds our static key and the peers; turns datagrams from the network
 * into IP packets (or handshake answers) and IP packets into datagrams,
 * in place in FzPacketBufs. Inbound messages find their peer by receiver
 * index (initiations by the static key inside), never by source address.
 * Handshake messages, keepalives and staged packets that it wants sent
 * come out of fz_wg_device_poll_transmit(); timers run when the caller
 * calls fz_wg_device_handle_timeout() at fz_wg_device_poll_timeout(). */
#pragma once

#include "fz-buf-pool.h"
#include "fz-ip-addr.h"
#include "fz-rng.h"
#include "fz-wg-crypto-private.h"

G_BEGIN_DECLS

#define FZ_WG_REKEY_TIMEOUT      (5 * G_USEC_PER_SEC)
#define FZ_WG_KEEPALIVE_TIMEOUT  (10 * G_USEC_PER_SEC)
#define FZ_WG_REKEY_ATTEMPT_TIME (90 * G_USEC_PER_SEC)
#define FZ_WG_REKEY_ATTEMPT_ICE  (20 * G_USEC_PER_SEC)
#define FZ_WG_MAX_STAGED         128
#define FZ_WG_UNDER_LOAD_DEFAULT 1000 /* handshake messages per second */

#define FZ_WG_ERROR (fz_wg_error_quark ())
GQuark fz_wg_error_quark (void);

typedef enum
{
  FZ_WG_ERROR_EXISTS,   /* a peer with that key is there already */
  FZ_WG_ERROR_NO_INDEX, /* all 2^24 - 1 peer indices were handed out */
} FzWgError;

typedef struct _FzWgDevice FzWgDevice;
typedef struct _FzWgPeer FzWgPeer;

FzWgDevice *fz_wg_device_new (const guint8 priv[FZ_WG_KEY_LEN], FzRng *rng,
                              FzBufPool *pool);
void fz_wg_device_free (FzWgDevice *dev);
/* Wall clock minus the monotonic clock, for handshake timestamps. */
void fz_wg_device_set_wall_offset (FzWgDevice *dev, gint64 offset_us);
void fz_wg_device_set_private_key (FzWgDevice *dev, const guint8 priv[FZ_WG_KEY_LEN]);
const guint8 *fz_wg_device_public_key (FzWgDevice *dev);
void fz_wg_device_set_rekey_attempt_time (FzWgDevice *dev, gint64 us);
/* The tunnel MTU: padding never makes a packet longer than this. */
void fz_wg_device_set_mtu (FzWgDevice *dev, gsize mtu);
/* Handshake messages per second above which senders must prove their
 * address with a cookie (mac2). */
void fz_wg_device_set_under_load_threshold (FzWgDevice *dev, guint per_second);

FzWgPeer *fz_wg_device_add_peer (FzWgDevice *dev, const guint8 pub[FZ_WG_KEY_LEN],
                                 const guint8 *psk, GError **error);
FzWgPeer *fz_wg_device_lookup_peer (FzWgDevice *dev, const guint8 pub[FZ_WG_KEY_LEN]);
void fz_wg_device_remove_peer (FzWgDevice *dev, FzWgPeer *peer);
GPtrArray *fz_wg_device_peers (FzWgDevice *dev);

/* Why an inbound datagram was not delivered. */
typedef enum
{
  FZ_WG_RX_OK = 0,
  FZ_WG_RX_BAD_MESSAGE,     /* unknown type or wrong length */
  FZ_WG_RX_BAD_MAC1,        /* not meant for our key */
  FZ_WG_RX_COOKIE_SENT,     /* under load: answered with a cookie instead */
  FZ_WG_RX_UNKNOWN_PEER,    /* initiation we cannot open, or from a key we lack */
  FZ_WG_RX_UNKNOWN_INDEX,   /* no session or handshake with that index */
  FZ_WG_RX_REPLAYED_INIT,   /* initiation timestamp not newer */
  FZ_WG_RX_RATE_LIMITED,    /* initiations from one peer too fast */
  FZ_WG_RX_RESPONSE_FAILED, /* response did not authenticate: keys or PSK differ */
  FZ_WG_RX_BAD_COOKIE,      /* cookie reply we cannot open */
  FZ_WG_RX_DECRYPT_FAILED,  /* data did not authenticate */
  FZ_WG_RX_REPLAYED_DATA,   /* data counter seen before or too old */
  FZ_WG_RX_EXPIRED,         /* data for a session past REJECT_AFTER_TIME */
  FZ_WG_RX_BAD_INNER,       /* authenticated data that is no whole IP packet */
} FzWgRxError;

const char *fz_wg_rx_error_to_string (FzWgRxError err);

typedef enum
{
  FZ_WG_RX_NOTHING, /* handled (handshake, keepalive) or dropped (see error) */
  FZ_WG_RX_PACKET,  /* @buf now holds an IP packet from @peer */
} FzWgRx;

FzWgRx fz_wg_device_decapsulate (FzWgDevice *dev, const FzSockAddr *from,
                                 FzPacketBuf *buf, gint64 now, FzWgPeer **peer,
                                 FzWgRxError *error);

/* A whole batch of datagrams (as one receive pass brought them): every one
 * is handled and gets its own result; a bad one never stops the rest. */
typedef struct
{
  FzWgRx rx;
  FzWgPeer *peer;
  FzWgRxError error;
} FzWgRxResult;

void fz_wg_device_decapsulate_batch (FzWgDevice *dev, FzPacketBuf *const *bufs,
                                     const FzSockAddr *from, guint n, gint64 now,
                                     FzWgRxResult *results);

typedef enum
{
  FZ_WG_SEND_NOW,     /* @buf is a data message for @dst; the caller sends it */
  FZ_WG_SEND_QUEUED,  /* the peer keeps @buf until a session exists */
  FZ_WG_SEND_DROPPED, /* no endpoint or no room; @buf stays the caller's */
} FzWgSend;

FzWgSend fz_wg_peer_encapsulate (FzWgPeer *peer, FzPacketBuf *buf, gint64 now,
                                 FzSockAddr *dst);

typedef struct
{
  FzWgPeer *peer;
  FzSockAddr dst;
  FzPacketBuf *buf; /* the caller's to send and free */
} FzWgTransmit;

gboolean fz_wg_device_poll_transmit (FzWgDevice *dev, FzWgTransmit *out);

typedef enum
{
  FZ_WG_EVENT_HANDSHAKE_DONE,    /* a new session with the peer */
  FZ_WG_EVENT_HANDSHAKE_GAVE_UP, /* no answer within the rekey attempt time */
  FZ_WG_EVENT_RESPONSE_REJECTED, /* the peer answered with keys that do not match */
} FzWgEventType;

typedef struct
{
  FzWgEventType type;
  FzWgPeer *peer;
} FzWgEvent;

gboolean fz_wg_device_poll_event (FzWgDevice *dev, FzWgEvent *out);

/* The next time fz_wg_device_handle_timeout() wants to run (monotonic
 * us), or G_MAXINT64. */
gint64 fz_wg_device_poll_timeout (FzWgDevice *dev);
void fz_wg_device_handle_timeout (FzWgDevice *dev, gint64 now);

/* Peers. */
const guint8 *fz_wg_peer_public_key (FzWgPeer *peer);
void fz_wg_peer_set_preshared_key (FzWgPeer *peer, const guint8 *psk);
void fz_wg_peer_set_endpoint (FzWgPeer *peer, const FzSockAddr *endpoint);
gboolean fz_wg_peer_get_endpoint (FzWgPeer *peer, FzSockAddr *out);
void fz_wg_peer_set_persistent_keepalive (FzWgPeer *peer, guint seconds, gint64 now);
guint fz_wg_peer_get_persistent_keepalive (FzWgPeer *peer);
/* Starts a handshake now (rate-limited to one per REKEY_TIMEOUT). */
void fz_wg_peer_initiate (FzWgPeer *peer, gint64 now);

typedef struct
{
  guint64 rx_bytes, tx_bytes;
  guint64 rx_packets, tx_packets; /* the datagrams those bytes came in */
  gint64 last_handshake_wall_us;  /* 0 = never */
} FzWgPeerStats;

void fz_wg_peer_get_stats (FzWgPeer *peer, FzWgPeerStats *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzWgDevice, fz_wg_device_free)

G_END_DECLS
