/* FzReconnectPolicy: when the portal channel tries again, without I/O.
 *
 * Before the first successful join: a constant 1 s, for at most 15 s in
 * all, then give up. After a join: an exponential backoff (500 ms, x1.5,
 * at most 60 s, plus up to 500 ms of jitter) that is created only on the
 * first failure after a join (a budget counted from start-up would kill a
 * long-lived process on its first error) and forgotten on every join.
 * Its budget is the sum of the delays: 24 h for gateways, 30 days for
 * the GUI client, none for the headless client. A Retry-After from the
 * portal replaces the delay and costs no budget. */
#pragma once

#include "fz-rng.h"

#include <glib.h>

G_BEGIN_DECLS

#define FZ_RECONNECT_FIRST_DELAY    (1 * G_USEC_PER_SEC)
#define FZ_RECONNECT_FIRST_BUDGET   (15 * G_USEC_PER_SEC)
#define FZ_RECONNECT_INITIAL        (500 * 1000)
#define FZ_RECONNECT_MAX_INTERVAL   (60 * G_USEC_PER_SEC)
#define FZ_RECONNECT_BUDGET_GATEWAY ((gint64) 24 * 3600 * G_USEC_PER_SEC)
#define FZ_RECONNECT_BUDGET_GUI     ((gint64) 30 * 24 * 3600 * G_USEC_PER_SEC)
#define FZ_RECONNECT_UNLIMITED      G_MAXINT64

typedef struct
{
  FzRng *rng;
  gint64 budget;       /* after a join */
  gint64 first_budget; /* before the first join: FZ_RECONNECT_FIRST_BUDGET */
  gboolean joined;     /* ever */
  gboolean backoff;    /* created since the last join */
  gint64 interval;     /* the next base delay */
  gint64 spent;        /* delays handed out since the last join (or start) */
} FzReconnectPolicy;

void fz_reconnect_policy_init (FzReconnectPolicy *p, gint64 budget, FzRng *rng);
/* A join succeeded: the next failure starts afresh. */
void fz_reconnect_policy_joined (FzReconnectPolicy *p);
/* The connection failed: how long to wait before the next try, or -1 to
 * give up. @retry_after is the portal's Retry-After (us), or -1. */
gint64 fz_reconnect_policy_next (FzReconnectPolicy *p, gint64 retry_after);

G_END_DECLS
