/* FzAllocation: a TURN client (RFC 8656) for one relay, without I/O.
 *
 * It binds first (learning the host candidate from the local address the
 * answer arrived on and the server-reflexive one from XOR-MAPPED-ADDRESS),
 * then allocates (with ADDITIONAL-ADDRESS-FAMILY when the relay has both
 * families) and reports relay candidates. It refreshes at lifetime/2,
 * keeps NAT bindings alive every 25 s, and binds channels on demand:
 * data for a peer is framed as ChannelData at once, even while the
 * channel's bind is still in flight. Peer data comes back as ChannelData
 * or, from relays that send them, Data indications. Requests retransmit at 1, 2.5 and
 * 4.75 s and give up at 8.125 s.
 *
 * Errors follow the spec: 401/438 retry once with the new nonce, 401 on
 * our own nonce means bad credentials, 437 re-allocates, 420 and other
 * final errors fail the allocation (and it tries again later). A keepalive that needed a
 * retransmission is followed by a REFRESH: the relay may have restarted
 * and forgotten us. */
#pragma once

#include "fz-ice-candidate.h"
#include "fz-ip-addr.h"
#include "fz-packet-buf.h"
#include "fz-rng.h"

G_BEGIN_DECLS

#define FZ_TURN_RTO_INITIAL     (1 * G_USEC_PER_SEC)
#define FZ_TURN_MAX_ATTEMPTS    4
#define FZ_TURN_KEEPALIVE       (25 * G_USEC_PER_SEC)
#define FZ_TURN_CHANNEL_REFRESH (5 * 60 * G_USEC_PER_SEC)
#define FZ_TURN_CHANNEL_LIFE    (10 * 60 * G_USEC_PER_SEC)
#define FZ_TURN_CHANNEL_REUSE   (15 * 60 * G_USEC_PER_SEC)
#define FZ_TURN_PERMISSION_LIFE (5 * 60 * G_USEC_PER_SEC)
/* After the relay stopped answering: start over after 5 s, doubling up
 * to 60 s, until it answers again. */
#define FZ_TURN_RETRY_MIN (5 * G_USEC_PER_SEC)
#define FZ_TURN_RETRY_MAX (60 * G_USEC_PER_SEC)

typedef struct _FzAllocation FzAllocation;

#define FZ_ALLOCATION_ERROR (fz_allocation_error_quark ())
GQuark fz_allocation_error_quark (void);

typedef enum
{
  FZ_ALLOCATION_ERROR_CREDENTIALS, /* the relay refused our username/password */
  FZ_ALLOCATION_ERROR_TIMEOUT,     /* the relay stopped answering */
  FZ_ALLOCATION_ERROR_REFUSED,     /* a final error code (420, 486, 508, ...) */
} FzAllocationError;

typedef enum
{
  FZ_ALLOCATION_EVENT_NEW_CANDIDATE,
  FZ_ALLOCATION_EVENT_INVALIDATED_CANDIDATE,
  /* The allocation is unusable. Reported once: the client keeps trying
   * by itself (5 s, doubling to 60 s) and new candidates follow when the
   * relay works again; only after refused credentials does it wait for
   * fz_allocation_reset(). */
  FZ_ALLOCATION_EVENT_FAILED,
} FzAllocationEventType;

typedef struct
{
  FzAllocationEventType type;
  FzIceCandidate candidate;
  GError *error; /* FAILED: the receiver's to free */
} FzAllocationEvent;

/* Either server address may be NULL, not both. The password is kept in
 * memory only to derive keys and never logged. */
FzAllocation *fz_allocation_new (const FzSockAddr *server_v4, const FzSockAddr *server_v6,
                                 const char *username, const char *password,
                                 const char *realm, FzRng *rng, gint64 now);
void fz_allocation_free (FzAllocation *a);

/* Forgets the allocation and all channels (invalidating its candidates)
 * and starts again with bindings: after a network change or a failure. */
void fz_allocation_reset (FzAllocation *a, gint64 now);

/* Checks now instead of at the next timer: bindings on every family and
 * a REFRESH (or, after a timeout, starting over at once). For when the
 * network may have changed under us. */
void fz_allocation_refresh (FzAllocation *a, gint64 now);
/* When the relay will drop the allocation unless refreshed; 0 if none. */
gint64 fz_allocation_expires_at (FzAllocation *a);

/* TRUE if @from is one of the relay's addresses. */
gboolean fz_allocation_is_server (FzAllocation *a, const FzSockAddr *from);

typedef enum
{
  FZ_ALLOCATION_INPUT_OTHER,   /* not from this relay: for the caller to handle */
  FZ_ALLOCATION_INPUT_HANDLED, /* from the relay: handled, or dropped */
  FZ_ALLOCATION_INPUT_DATA,    /* from a peer, relayed: see FzRelayedData */
} FzAllocationInput;

/* Where relayed data came from and where it is in the datagram. */
typedef struct
{
  FzSockAddr peer;    /* who sent it */
  FzSockAddr relayed; /* our relayed address it was sent to */
  gsize offset, len;  /* the payload: data[offset, offset + len) */
} FzRelayedData;

/* Sorts a datagram that arrived at @local (IP_PKTINFO address and our
 * port) from @from, parsing it once: the relay's answers are handled
 * here, and malformed, unauthenticated or unknown ones dropped (HANDLED);
 * ChannelData for a bound channel and Data indications from a peer we
 * have a permission for are DATA, with @out filled. */
FzAllocationInput fz_allocation_handle_input (FzAllocation *a, const FzSockAddr *local,
                                              const FzSockAddr *from, const guint8 *data,
                                              gsize len, gint64 now, FzRelayedData *out);

/* Frames @buf for @peer as ChannelData in place (binding a channel if
 * there is none) and sets @server to where it goes. FALSE if there is no
 * relay address of the peer's family or no free channel. */
gboolean fz_allocation_encapsulate (FzAllocation *a, const FzSockAddr *peer,
                                    FzPacketBuf *buf, gint64 now, FzSockAddr *server);
/* Binds a channel to @peer now (if none is bound or in flight). */
gboolean fz_allocation_bind_channel (FzAllocation *a, const FzSockAddr *peer, gint64 now);
/* Asks for a permission for @peer's IP address without a channel (a
 * channel's bind installs one too). It lasts 5 minutes: call again to
 * keep it. Data from the peer then comes as Data indications. */
gboolean fz_allocation_create_permission (FzAllocation *a, const FzSockAddr *peer,
                                          gint64 now);

typedef struct
{
  FzSockAddr dst;   /* one of the relay's addresses */
  FzPacketBuf *buf; /* the STUN message, with headroom: the caller's to send and free */
} FzAllocationTransmit;

gboolean fz_allocation_poll_transmit (FzAllocation *a, FzAllocationTransmit *out);
gboolean fz_allocation_poll_event (FzAllocation *a, FzAllocationEvent *out);
gint64 fz_allocation_poll_timeout (FzAllocation *a);
void fz_allocation_handle_timeout (FzAllocation *a, gint64 now);

/* The relayed address of that family (4 or 6), if allocated. */
gboolean fz_allocation_get_relayed (FzAllocation *a, guint8 family, FzSockAddr *out);
gboolean fz_allocation_is_allocated (FzAllocation *a);
/* Round-trip time of the last request answered on its first attempt,
 * or -1. */
gint64 fz_allocation_rtt (FzAllocation *a);
/* The channel bound (or binding) to @peer, or 0. */
guint16 fz_allocation_channel_for (FzAllocation *a, const FzSockAddr *peer);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzAllocation, fz_allocation_free)

G_END_DECLS
