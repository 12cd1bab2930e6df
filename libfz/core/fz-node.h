/* FzNode: many peers on one socket per address family, without I/O.
 *
 * A node owns the TURN allocations (one per relay) and one connection per
 * remote peer: an ICE agent and a WireGuard peer on a shared device.
 * Datagrams are sorted once by their first byte (RFC 7983): STUN and
 * ChannelData from a relay go to its allocation (peer data is unwrapped,
 * then sorted again as if it came from the peer); other STUN is ICE
 * (requests by our ufrag, answers by the transaction's tag); WireGuard
 * finds its peer itself (receiver index, initiations by static key);
 * anything else is dropped.
 *
 * A connection buffers up to 128 packets until ICE selects a pair; the
 * controlling side (the client) then starts the WireGuard handshake. It
 * is established when both happened. After 20 s without data it uses the
 * idle ICE profile, and the default one again on the next packet. Closing
 * sends a goodbye (p2p control type 2) through the tunnel; a goodbye
 * received removes the connection at once.
 *
 * Each connection uses one relay for its relay candidates, the one with
 * the lowest measured RTT; when that relay goes away, it gets another. */
#pragma once

#include "fz-buf-pool.h"
#include "fz-ice-candidate.h"
#include "fz-rng.h"
#include "fz-wg-crypto.h"

G_BEGIN_DECLS

#define FZ_NODE_MAX_BUFFERED 128
#define FZ_NODE_IDLE_AFTER   (20 * G_USEC_PER_SEC)
/* An upsert of an unchanged connection starts a new WireGuard session,
 * but not more often than this. */
#define FZ_NODE_REKEY_DEBOUNCE (20 * G_USEC_PER_SEC)

typedef struct _FzNode FzNode;
/* A connection's handle for the per-packet calls: no string hashing. */
typedef struct _FzNodeConn FzNodeConn;

typedef struct
{
  guint8 remote_key[FZ_WG_KEY_LEN];
  guint8 psk[FZ_WG_KEY_LEN];
  const char *local_ufrag, *local_pwd;
  const char *remote_ufrag, *remote_pwd;
} FzNodeConnectionParams;

typedef struct
{
  const char *id;
  const FzSockAddr *v4, *v6; /* either may be NULL */
  const char *username, *password, *realm;
} FzNodeRelay;

typedef enum
{
  FZ_NODE_EVENT_NEW_CANDIDATE,         /* signal .candidate to peer .id */
  FZ_NODE_EVENT_INVALIDATED_CANDIDATE, /* and tell it this one is gone */
  FZ_NODE_EVENT_ESTABLISHED,           /* .id: pair selected and handshake done */
  FZ_NODE_EVENT_FAILED,                /* .id: removed after ICE failed */
  FZ_NODE_EVENT_CLOSED,                /* .id: removed after the peer's goodbye */
  FZ_NODE_EVENT_NO_RELAYS,             /* no relay is usable any more */
} FzNodeEventType;

typedef struct
{
  FzNodeEventType type;
  char *id; /* the receiver's to free */
  /* The connection's handle; after FAILED or CLOSED only to compare
   * (it is freed when this event is polled). NULL for NO_RELAYS. */
  FzNodeConn *conn;
  FzIceCandidate candidate;
} FzNodeEvent;

typedef struct
{
  FzSockAddr src; /* our address to send from (its family picks the socket) */
  FzSockAddr dst;
  FzPacketBuf *buf; /* the caller's to send and free */
  guint8 ecn;       /* for the outer header, from the inner packet */
} FzNodeTransmit;

FzNode *fz_node_new (gboolean controlling, const guint8 priv[FZ_WG_KEY_LEN], FzRng *rng,
                     FzBufPool *pool, gint64 now);
void fz_node_free (FzNode *node);
const guint8 *fz_node_public_key (FzNode *node);

/* The wall clock (us since the Unix epoch) at monotonic @now, for the
 * TAI64N timestamps of handshake initiations: a peer refuses an
 * initiation not newer than the last it accepted from our key, so after
 * a restart (or a reboot, which resets the monotonic clock) they must
 * come from the wall clock. Call again when the wall clock jumps. */
void fz_node_set_wall_clock (FzNode *node, gint64 wall_us, gint64 now);
/* The tunnel MTU: WireGuard pads packets up to it, never beyond; 0 (the
 * default) pads without a limit. */
void fz_node_set_mtu (FzNode *node, gsize mtu);
gsize fz_node_get_mtu (FzNode *node);
/* Handshake messages per second above which WireGuard answers only
 * those proving their address (mac2) and others with a cookie. */
void fz_node_set_under_load_threshold (FzNode *node, guint per_second);

/* An address one of our sockets is bound to: a host candidate. */
void fz_node_add_host_address (FzNode *node, const FzSockAddr *addr, gint64 now);
void fz_node_update_relays (FzNode *node, const FzNodeRelay *add, guint n_add,
                            const char *const *remove, guint n_remove, gint64 now);

/* Creates the connection, or keeps it when nothing differs (and then
 * starts a new WireGuard session, debounced). A changed key, ICE
 * credential or PSK replaces it. */
gboolean fz_node_upsert_connection (FzNode *node, const char *id,
                                    const FzNodeConnectionParams *params, gint64 now,
                                    GError **error);
gboolean fz_node_add_remote_candidate (FzNode *node, const char *id,
                                       const FzIceCandidate *c, gint64 now);
void fz_node_remove_remote_candidate (FzNode *node, const char *id,
                                      const FzIceCandidate *c, gint64 now);
/* Sends a goodbye (if connected) and removes the connection. */
void fz_node_close_connection (FzNode *node, const char *id, gint64 now);
/* The network changed: every connection fails, allocations start over,
 * host addresses must be added again. */
void fz_node_reset (FzNode *node, gint64 now);

gboolean fz_node_has_connection (FzNode *node, const char *id);
/* The connection's handle, or NULL. It stays the same across upserts
 * (also those that replace the connection's keys or credentials) and is
 * valid until fz_node_close_connection() for it, an upsert for it that
 * fails, or the poll of its FAILED or CLOSED event (fz_node_reset() makes
 * those for all). */
FzNodeConn *fz_node_lookup (FzNode *node, const char *id);
const char *fz_node_conn_id (const FzNodeConn *conn);
gboolean fz_node_is_established (FzNode *node, const char *id);
/* Does the selected pair go through a relay (ours or the peer's)? */
gboolean fz_node_is_relayed (FzNode *node, const char *id);
guint fz_node_n_connections (FzNode *node);

typedef enum
{
  FZ_NODE_PATH_NONE,    /* no pair selected yet */
  FZ_NODE_PATH_DIRECT,  /* host or server-reflexive on both ends */
  FZ_NODE_PATH_RELAYED, /* through our relay (relay_id), the peer's, or both */
} FzNodePath;

typedef struct
{
  /* WireGuard's datagrams and their bytes, before TURN framing:
   * handshake messages count when received, keepalives both ways. */
  guint64 tx_bytes, rx_bytes, tx_packets, rx_packets;
  gint64 last_handshake_wall_us; /* 0 = never; wall clock as set */
  gboolean established;
  FzNodePath path;
  /* Our relay on the path, NULL when the pair is direct or only the
   * peer's end is relayed; valid until that relay is removed. */
  const char *relay_id;
  FzIceCandidate local, remote; /* the selected pair, when there is one */
} FzNodeStats;

/* FALSE (and @out untouched) when @conn is gone. */
gboolean fz_node_get_stats (FzNode *node, const FzNodeConn *conn, FzNodeStats *out);

typedef enum
{
  FZ_NODE_SEND, /* @buf is a datagram: send out->buf (== buf) from out->src to out->dst */
  FZ_NODE_QUEUED,  /* the node keeps @buf until the connection is up */
  FZ_NODE_DROPPED, /* no such connection, or no room; @buf stays the caller's */
} FzNodeSend;

FzNodeSend fz_node_encapsulate_conn (FzNode *node, FzNodeConn *conn, FzPacketBuf *buf,
                                     gint64 now, FzNodeTransmit *out);
/* The same by id (one hash lookup). */
FzNodeSend fz_node_encapsulate (FzNode *node, const char *id, FzPacketBuf *buf,
                                gint64 now, FzNodeTransmit *out);

typedef enum
{
  FZ_NODE_RX_NOTHING, /* handled (STUN, handshake, keepalive, goodbye) or dropped */
  FZ_NODE_RX_PACKET,  /* @buf now holds an IP packet from connection *conn (p2p
                       * control packets other than goodbye included) */
} FzNodeRx;

/* @local: where it arrived (IP_PKTINFO address and our port). */
FzNodeRx fz_node_decapsulate (FzNode *node, const FzSockAddr *local,
                              const FzSockAddr *from, FzPacketBuf *buf, gint64 now,
                              FzNodeConn **conn);

/* A whole batch, as one receive pass brought it (each datagram with its
 * own source and local address): every one gets its own result, a bad
 * one never stops the rest, and the node's queues are drained once. */
typedef struct
{
  FzNodeRx rx;
  FzNodeConn *conn; /* for FZ_NODE_RX_PACKET; valid as fz_node_lookup() says,
                     * even when a later datagram of the batch removed it */
} FzNodeRxResult;

void fz_node_decapsulate_batch (FzNode *node, const FzSockAddr *local,
                                const FzSockAddr *from, FzPacketBuf *const *bufs, guint n,
                                gint64 now, FzNodeRxResult *results);
/* Packets for one connection (NULL: all dropped), in order; results and
 * transmits per packet. */
void fz_node_encapsulate_batch (FzNode *node, FzNodeConn *conn, FzPacketBuf *const *bufs,
                                guint n, gint64 now, FzNodeSend *results,
                                FzNodeTransmit *out);

gboolean fz_node_poll_transmit (FzNode *node, FzNodeTransmit *out);
gboolean fz_node_poll_event (FzNode *node, FzNodeEvent *out);
gint64 fz_node_poll_timeout (FzNode *node);
void fz_node_handle_timeout (FzNode *node, gint64 now);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzNode, fz_node_free)

G_END_DECLS
