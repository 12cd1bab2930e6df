/* Internals shared by FzWgDevice and FzWgPeer; not installed. */
#pragma once

#include "fz-wg-device-private.h"
#include "fz-wg-handshake-private.h"
#include "fz-wg-index-private.h"
#include "fz-wg-session-private.h"
#include "fz-timer-heap-private.h"
#include "fz-transmit-queue.h"

#define FZ_WG_SESSIONS 8 /* live sessions per peer; slot = counter % 8 */

struct _FzWgPeer
{
  FzWgDevice *dev;
  guint32 index;       /* 24-bit peer index */
  guint8 next_session; /* low 8 bits of the next session index */
  FzWgHandshake hs;
  FzWgSession sessions[FZ_WG_SESSIONS];
  int current; /* slot we send on, or -1 */
  FzSockAddr endpoint;
  gboolean has_endpoint;
  guint keepalive_interval; /* persistent keepalive, seconds; 0 = off */
  GQueue staged;            /* FzPacketBuf *, at most FZ_WG_MAX_STAGED */

  /* Timers: monotonic us, 0 = not armed. */
  gint64 retransmit_at;    /* no response to our initiation yet */
  gint64 keepalive_at;     /* we received data and sent nothing back */
  gint64 new_handshake_at; /* we sent data and heard nothing back */
  gint64 zero_keys_at;     /* wipe all keys when nothing renewed them */
  gint64 persistent_at;    /* persistent keepalive */
  FzTimer timer;           /* the earliest of the five, in dev->timers */

  gint64 last_initiation_sent;
  gint64 attempt_started; /* first initiation of the current attempt */
  gboolean sent_lastminute;

  guint64 rx_bytes, tx_bytes, rx_packets, tx_packets;
  gint64 last_handshake_wall;
};

struct _FzWgDevice
{
  FzWgIdentity id;
  FzRng *rng;
  FzBufPool *pool;
  gint64 wall_offset;
  gint64 rekey_attempt_time;
  gsize mtu; /* padding stops here; 0 = no limit */

  GPtrArray *peers;
  FzTimerHeap *timers;  /* each peer's earliest deadline */
  GPtrArray *due;       /* scratch for handle_timeout */
  GHashTable *by_pub;   /* remote static key -> peer */
  GHashTable *by_index; /* 24-bit index -> peer */
  FzWgIndex index;

  FzTransmitQueue transmits; /* FzWgTransmit */
  GQueue events;             /* FzWgEvent * */

  guint under_load_threshold;
  guint handshakes_this_second;
  gint64 second_started;
  guint8 cookie_secret[FZ_WG_HASH_LEN];
  gint64 cookie_secret_born;

  /* The handshake message in hand: the initiator's hash, chaining key
   * and static key, a new session's keys. All zero again once the
   * message is handled, whatever became of it. */
  FzWgInitiation scratch;
  FzWgKeypair scratch_keys;
};

FzWgPeer *fz_wg_peer_new (FzWgDevice *dev, guint32 index, const guint8 pub[FZ_WG_KEY_LEN],
                          const guint8 *psk);
void fz_wg_peer_free (FzWgPeer *peer);

/* Device services for peers. */
void fz_wg_device_queue_transmit (FzWgDevice *dev, FzWgPeer *peer, const FzSockAddr *dst,
                                  FzPacketBuf *buf);
void fz_wg_device_queue_event (FzWgDevice *dev, FzWgEventType type, FzWgPeer *peer);

/* Peer steps the device drives. */
guint32 fz_wg_peer_next_session_index (FzWgPeer *peer);
void fz_wg_peer_add_session (FzWgPeer *peer, const FzWgKeypair *keys, gint64 now);
void fz_wg_peer_session_confirmed (FzWgPeer *peer, int slot, gint64 now);
void fz_wg_peer_authenticated_rx (FzWgPeer *peer, const FzSockAddr *from, gsize len,
                                  gboolean data, gint64 now);
/* The earliest armed timer (0 = none), computed from the five; the heap
 * holds it. Every function of the peer that arms or disarms a timer
 * calls fz_wg_peer_reschedule() before it returns. */
gint64 fz_wg_peer_next_timer (FzWgPeer *peer);
void fz_wg_peer_reschedule (FzWgPeer *peer);
void fz_wg_peer_run_timers (FzWgPeer *peer, gint64 now);
