/* FzPortalChannel: the Phoenix channel to the portal over one WebSocket
 * (libsoup 3), kept up for the life of a client or gateway.
 *
 * It joins the role's topic and sends nothing else until the join is
 * answered; heartbeats every 10 s and reconnects when more than three go
 * unanswered; reconnects as FzReconnectPolicy says, honouring
 * Retry-After; and stops for good on a 401, an error reply to the join,
 * `disconnect` (token_expired) or a spent budget. Messages sent while it
 * is not joined wait in a queue and go out once, after the next join.
 *
 * It lives on the thread-default GMainContext of its construction: its
 * timers and libsoup's sources attach there, never to the global
 * default. Use it from that thread, with that context pushed as the
 * thread default (libsoup requires it).
 *
 * Signals:
 *   "message" (FzPortalMessage *m): a decoded push; @m belongs to the
 *     channel and lives for the emission only.
 *   "state-changed" (FzPortalChannelState state). */
#pragma once

#include "fz-portal-message.h"

#include <gio/gio.h>

G_BEGIN_DECLS

#define FZ_TYPE_PORTAL_CHANNEL (fz_portal_channel_get_type ())
G_DECLARE_FINAL_TYPE (FzPortalChannel, fz_portal_channel, FZ, PORTAL_CHANNEL, GObject)

typedef enum
{
  FZ_PORTAL_CHANNEL_STOPPED,    /* not started, or stopped */
  FZ_PORTAL_CHANNEL_CONNECTING, /* TCP, TLS and WebSocket handshake */
  FZ_PORTAL_CHANNEL_JOINING,    /* join sent, waiting for its reply */
  FZ_PORTAL_CHANNEL_JOINED,
  FZ_PORTAL_CHANNEL_WAITING, /* before the next try */
  FZ_PORTAL_CHANNEL_FAILED,  /* for good: see fz_portal_channel_get_error() */
} FzPortalChannelState;

#define FZ_PORTAL_CHANNEL_ERROR (fz_portal_channel_error_quark ())
GQuark fz_portal_channel_error_quark (void);

typedef enum
{
  FZ_PORTAL_CHANNEL_ERROR_UNAUTHORIZED,  /* 401: the token is wrong or missing */
  FZ_PORTAL_CHANNEL_ERROR_TOKEN_EXPIRED, /* "disconnect": sign in again */
  FZ_PORTAL_CHANNEL_ERROR_JOIN_REFUSED,  /* an error reply to the join */
  FZ_PORTAL_CHANNEL_ERROR_GAVE_UP,       /* the reconnect budget is spent */
  FZ_PORTAL_CHANNEL_ERROR_HTTP,          /* another refusal (retried) */
  FZ_PORTAL_CHANNEL_ERROR_TIMEOUT,       /* handshake, join or heartbeats (retried) */
  FZ_PORTAL_CHANNEL_ERROR_CLOSED,        /* the socket closed (retried) */
} FzPortalChannelError;

#define FZ_PORTAL_CHANNEL_MAX_QUEUE 1024

typedef struct
{
  const char *url;        /* from fz_portal_url() */
  const char *token;      /* whitespace around it is dropped */
  const char *user_agent; /* from fz_portal_user_agent() */
  FzPortalRole role;      /* CLIENT or GATEWAY: the topic and the decoder */
  gint64 budget;          /* reconnect budget after a join (us) */
  const char *ca_file;    /* PEM CAs to trust instead of the system's, or NULL */
  guint32 fwmark;         /* SO_MARK on the connection's socket; 0: none */
} FzPortalChannelConfig;

/* Timings, all in microseconds; the defaults are the protocol's. */
typedef struct
{
  gint64 heartbeat;    /* 10 s */
  gint64 join_timeout; /* 5 s */
  gint64 handshake;    /* 15 s */
  gint64 first_budget; /* 15 s: retries before the first join */
} FzPortalChannelTiming;

FzPortalChannel *fz_portal_channel_new (const FzPortalChannelConfig *config,
                                        GError **error);
/* Takes effect at the next start from stopped or failed. */
void fz_portal_channel_set_timing (FzPortalChannel *self,
                                   const FzPortalChannelTiming *timing);

/* Connects (again) now; from WAITING it skips the rest of the delay. */
void fz_portal_channel_start (FzPortalChannel *self);
/* Closes the socket and forgets the queue; STOPPED until started again. */
void fz_portal_channel_stop (FzPortalChannel *self);
/* Connects again at once, keeping the queue: the host's network changed,
 * and a connection that looks joined may be dead without knowing it (its
 * local address is gone; only the heartbeats would tell, after 40 s).
 * Nothing when stopped or failed for good. */
void fz_portal_channel_reconnect (FzPortalChannel *self);

/* Sends @m now if joined, else after the next join. */
void fz_portal_channel_send (FzPortalChannel *self, const FzPortalMessage *m);

FzPortalChannelState fz_portal_channel_get_state (FzPortalChannel *self);
const char *fz_portal_channel_state_name (FzPortalChannelState state);
/* Why it is FAILED, or NULL. */
const GError *fz_portal_channel_get_error (FzPortalChannel *self);
guint fz_portal_channel_get_queue_length (FzPortalChannel *self);

G_END_DECLS
