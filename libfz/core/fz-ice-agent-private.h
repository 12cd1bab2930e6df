/* FzIceAgent: a full ICE agent (RFC 8445) for one connection, one
 * component, UDP, with trickled candidates both ways and no I/O.
 *
 * Local candidates come from the caller (host candidates of its socket,
 * srflx and relay candidates from FzAllocation); remote ones from the
 * peer through signalling. The agent pairs them, runs paced
 * connectivity checks with short-term credentials, resolves role
 * conflicts (487), and nominates regularly: the controlling side
 * re-checks its best valid pair with USE-CANDIDATE, the controlled side
 * selects what was nominated. The selected pair is kept alive with
 * binding requests (consent) every max RTO of the current profile.
 *
 * Failure: no remote candidate within 10 s; or no usable pair (all
 * failed, or the selected one went silent for the profile's overall
 * timeout) for 2 s. Transmissions name their source: a host address or
 * a relayed address, which the caller sends through its allocation. */
#pragma once

#include "fz-ice-candidate.h"
#include "fz-packet-buf.h"
#include "fz-rng.h"
#include "fz-stun-message-private.h"

G_BEGIN_DECLS

#define FZ_ICE_PACING               (50 * 1000) /* Ta */
#define FZ_ICE_NO_CANDIDATE_TIMEOUT (10 * G_USEC_PER_SEC)
#define FZ_ICE_DISCONNECTED_TIMEOUT (2 * G_USEC_PER_SEC)
#define FZ_ICE_MAX_REMOTE           32
#define FZ_ICE_MAX_LOCAL            16
#define FZ_ICE_MAX_OPTIMISTIC       2

/* A check's transactions: the waits are min(initial_rto * 2^i, max_rto)
 * for i = 1..retransmits, one send before each; the check fails when the
 * last wait ends, at `overall` (their sum). */
typedef struct
{
  gint64 initial_rto;
  gint64 max_rto;
  guint retransmits;
} FzIceTimeouts;

extern const FzIceTimeouts fz_ice_client_default;  /* 250 ms, 1.5 s, 12: 16.5 s */
extern const FzIceTimeouts fz_ice_client_idle;     /* 25 s, 25 s, 4: 100 s */
extern const FzIceTimeouts fz_ice_gateway_default; /* 250 ms, 15 s, 45: 615.5 s */
extern const FzIceTimeouts fz_ice_gateway_idle;    /* 25 s, 25 s, 40: 1000 s */

gint64 fz_ice_timeouts_wait (const FzIceTimeouts *t, guint i);
gint64 fz_ice_timeouts_overall (const FzIceTimeouts *t);

typedef enum
{
  FZ_ICE_CHECKING,
  FZ_ICE_CONNECTED,    /* a pair is selected */
  FZ_ICE_DISCONNECTED, /* no usable pair right now */
  FZ_ICE_FAILED,       /* final */
} FzIceState;

const char *fz_ice_state_to_string (FzIceState state);

typedef enum
{
  FZ_ICE_EVENT_STATE,         /* state changed to .state */
  FZ_ICE_EVENT_SELECTED_PAIR, /* data now goes .local -> .remote */
} FzIceEventType;

typedef struct
{
  FzIceEventType type;
  FzIceState state;
  FzIceCandidate local, remote;
} FzIceEvent;

typedef struct
{
  FzSockAddr src; /* a host address, or a relayed address */
  FzSockAddr dst;
  FzPacketBuf *buf; /* the STUN message, with headroom: the caller's to send and free */
} FzIceTransmit;

typedef struct _FzIceAgent FzIceAgent;

FzIceAgent *fz_ice_agent_new (gboolean controlling, const FzIceTimeouts *timeouts,
                              FzRng *rng, gint64 now);
void fz_ice_agent_free (FzIceAgent *agent);

/* Our credentials, made at creation: 16 and 32 characters. */
const char *fz_ice_agent_local_ufrag (FzIceAgent *agent);
const char *fz_ice_agent_local_pwd (FzIceAgent *agent);
void fz_ice_agent_set_local_credentials (FzIceAgent *agent, const char *ufrag,
                                         const char *pwd);
void fz_ice_agent_set_remote_credentials (FzIceAgent *agent, const char *ufrag,
                                          const char *pwd);
gboolean fz_ice_agent_is_controlling (FzIceAgent *agent);
/* A non-zero tag makes the first 4 bytes of our transaction ids (the
 * other 8 stay random), so that one owner of many agents finds the agent
 * an answer is for without asking each. */
void fz_ice_agent_set_tag (FzIceAgent *agent, guint32 tag);
guint32 fz_ice_tid_tag (const guint8 tid[FZ_STUN_TID_LEN]);

/* Switches the profile (default or idle); running transactions keep
 * theirs, keepalives and new checks use the new one. */
void fz_ice_agent_set_timeouts (FzIceAgent *agent, const FzIceTimeouts *timeouts,
                                gint64 now);

/* FALSE if it is a duplicate or there is no room. Host and relay
 * candidates are paired; srflx ones are only for signalling (they share
 * the host candidate's base). */
gboolean fz_ice_agent_add_local_candidate (FzIceAgent *agent, const FzIceCandidate *c,
                                           gint64 now);
void fz_ice_agent_remove_local_candidate (FzIceAgent *agent, const FzIceCandidate *c,
                                          gint64 now);
/* All local candidates, best first (the order to signal them in). */
GArray *fz_ice_agent_local_candidates (FzIceAgent *agent);
gboolean fz_ice_agent_add_remote_candidate (FzIceAgent *agent, const FzIceCandidate *c,
                                            gint64 now);
void fz_ice_agent_remove_remote_candidate (FzIceAgent *agent, const FzIceCandidate *c,
                                           gint64 now);

/* A STUN message that arrived at @local (the host address it came in
 * on, or the relayed address it came through) from @from. TRUE if it
 * was for this agent: a request for our ufrag, or an answer to one of
 * our transactions. */
gboolean fz_ice_agent_handle_stun (FzIceAgent *agent, const FzSockAddr *local,
                                   const FzSockAddr *from, const FzStunMessage *msg,
                                   gint64 now);
/* Whether a request's USERNAME starts with our ufrag: for routing
 * requests among many agents before handing them over. */
gboolean fz_ice_agent_is_for_us (FzIceAgent *agent, const FzStunMessage *msg);

gboolean fz_ice_agent_poll_transmit (FzIceAgent *agent, FzIceTransmit *out);
gboolean fz_ice_agent_poll_event (FzIceAgent *agent, FzIceEvent *out);
gint64 fz_ice_agent_poll_timeout (FzIceAgent *agent);
void fz_ice_agent_handle_timeout (FzIceAgent *agent, gint64 now);

FzIceState fz_ice_agent_state (FzIceAgent *agent);
gboolean fz_ice_agent_selected_pair (FzIceAgent *agent, FzIceCandidate *local,
                                     FzIceCandidate *remote);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzIceAgent, fz_ice_agent_free)

G_END_DECLS
