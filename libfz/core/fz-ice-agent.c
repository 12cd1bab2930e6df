#include "fz-ice-agent-private.h"

#include "fz-transmit-queue.h"

#include <sodium.h>

#include <string.h>

#define MAX_PAIRS 128
#define MAX_CHECK 512
/* How long the controlling side waits for better pairs still being
 * checked before it nominates the best valid one: twice the round trip
 * the valid pair took (a better path that has not answered in that time
 * is likely not there), within these bounds. A better pair that answers
 * later still wins by renomination. */
#define NOMINATION_GRACE_MIN (50 * 1000)
#define NOMINATION_GRACE_MAX (500 * 1000)

const FzIceTimeouts fz_ice_client_default = { 250 * 1000, 1500 * 1000, 12 };
const FzIceTimeouts fz_ice_client_idle = { 25 * G_USEC_PER_SEC, 25 * G_USEC_PER_SEC, 4 };
const FzIceTimeouts fz_ice_gateway_default = { 250 * 1000, 15 * G_USEC_PER_SEC, 45 };
const FzIceTimeouts fz_ice_gateway_idle
  = { 25 * G_USEC_PER_SEC, 25 * G_USEC_PER_SEC, 40 };

gint64
fz_ice_timeouts_wait (const FzIceTimeouts *t, guint i)
{
  gint64 w = t->initial_rto;
  for (guint k = 0; k < i && w < t->max_rto; k++)
    w *= 2;
  return MIN (w, t->max_rto);
}

gint64
fz_ice_timeouts_overall (const FzIceTimeouts *t)
{
  gint64 sum = 0;
  for (guint i = 1; i <= t->retransmits; i++)
    sum += fz_ice_timeouts_wait (t, i);
  return sum;
}

static const char *const state_names[]
  = { "checking", "connected", "disconnected", "failed" };

const char *
fz_ice_state_to_string (FzIceState state)
{
  return state <= FZ_ICE_FAILED ? state_names[state] : "?";
}

typedef enum
{
  PAIR_WAITING,
  PAIR_IN_PROGRESS,
  PAIR_SUCCEEDED,
  PAIR_FAILED,
} PairState;

typedef struct
{
  FzIceCandidate local, remote;
  guint64 priority;
  PairState state;
  gboolean nominated;
  gboolean nominate_on_success; /* controlled: USE-CANDIDATE came first */
  gboolean triggered;           /* queued for a triggered check */
  gint64 valid_since;
  gint64 rtt; /* of the check that made it valid, if answered first time; else -1 */
  gint64 last_response;
  gint64 next_keepalive;

  /* The transaction in flight, if tx. */
  gboolean tx;
  gboolean tx_nominating;
  guint8 tid[FZ_STUN_TID_LEN];
  /* The transaction this one replaced: its answer still counts (RFC 8445
   * 7.2.5.4, a cancelled check is not retransmitted but answered). */
  guint8 prev_tid[FZ_STUN_TID_LEN];
  gboolean has_prev;
  GBytes *tx_msg;
  FzIceTimeouts tx_timeouts;
  guint tx_sends;
  gint64 tx_next;
  gint64 tx_started;
} Pair;

struct _FzIceAgent
{
  FzRng *rng;
  guint32 tag;             /* first bytes of our transaction ids */
  guint32 nomination;      /* controlling: the last NOMINATION we sent */
  guint32 peer_nomination; /* controlled: the highest one we got */
  guint64 peer_tiebreaker; /* controlled: of the agent that sent it */
  gboolean controlling;
  guint64 tiebreaker;
  FzIceTimeouts timeouts;
  gint64 overall; /* of timeouts: how long the selected pair may be silent */
  char local_ufrag[17];
  char local_pwd[33];
  char *remote_ufrag, *remote_pwd;

  GArray *locals;  /* FzIceCandidate */
  GArray *remotes; /* FzIceCandidate: signalled, peer-reflexive, optimistic */
  guint n_optimistic;
  GPtrArray *pairs; /* Pair*, highest priority first */
  GQueue triggered; /* Pair* */
  Pair *selected;

  FzIceState state;
  gint64 no_candidate_deadline; /* G_MAXINT64 once a remote candidate came */
  gint64 disconnected_at;
  gint64 next_check; /* pacing */
  gint64 nominate_at;

  FzTransmitQueue transmits; /* FzIceTransmit */
  GQueue events;             /* FzIceEvent* */
};

static void
pair_free (Pair *p)
{
  g_clear_pointer (&p->tx_msg, g_bytes_unref);
  g_free (p);
}

static void
random_string (FzRng *rng, char *out, gsize n)
{
  static const char alphabet[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (gsize i = 0; i < n; i++)
    out[i] = alphabet[fz_rng_below (rng, 64)];
  out[n] = '\0';
}

static void
push_event (FzIceAgent *a, const FzIceEvent *e)
{
  g_queue_push_tail (&a->events, g_memdup2 (e, sizeof *e));
}

static void
push_transmit (FzIceAgent *a, const FzSockAddr *src, const FzSockAddr *dst,
               const void *msg, gsize len)
{
  FzIceTransmit t
    = { .src = *src, .dst = *dst, .buf = fz_packet_buf_new_copy (msg, len) };
  fz_transmit_queue_push (&a->transmits, &t);
}

/* A check's message again: its first send, or a retransmission. */
static void
send_check (FzIceAgent *a, Pair *p)
{
  gsize n;
  const void *msg = g_bytes_get_data (p->tx_msg, &n);
  push_transmit (a, &p->local.base, &p->remote.addr, msg, n);
}

static void
set_state (FzIceAgent *a, FzIceState state, gint64 now)
{
  if (a->state == state || a->state == FZ_ICE_FAILED)
    return;
  g_debug ("ICE %s: %s -> %s", a->local_ufrag, state_names[a->state], state_names[state]);
  a->state = state;
  if (state == FZ_ICE_DISCONNECTED)
    a->disconnected_at = now;
  push_event (a, &(FzIceEvent){ .type = FZ_ICE_EVENT_STATE, .state = state });
  if (state == FZ_ICE_FAILED)
    {
      /* Final: nothing more goes out. */
      for (guint i = 0; i < a->pairs->len; i++)
        {
          Pair *p = g_ptr_array_index (a->pairs, i);
          p->tx = FALSE;
        }
      g_queue_clear (&a->triggered);
      a->selected = NULL;
    }
}

static guint64
pair_priority (FzIceAgent *a, const FzIceCandidate *local, const FzIceCandidate *remote)
{
  /* RFC 8445 6.1.2.3, G the controlling side's candidate. */
  guint64 g = a->controlling ? local->priority : remote->priority;
  guint64 d = a->controlling ? remote->priority : local->priority;
  return (MIN (g, d) << 32) + 2 * MAX (g, d) + (g > d ? 1 : 0);
}

static gint
pair_cmp (gconstpointer pa, gconstpointer pb)
{
  const Pair *a = *(Pair *const *) pa, *b = *(Pair *const *) pb;
  return a->priority < b->priority ? 1 : a->priority > b->priority ? -1 : 0;
}

static void
sort_pairs (FzIceAgent *a)
{
  for (guint i = 0; i < a->pairs->len; i++)
    {
      Pair *p = g_ptr_array_index (a->pairs, i);
      p->priority = pair_priority (a, &p->local, &p->remote);
    }
  g_ptr_array_sort (a->pairs, pair_cmp);
}

static gboolean
pairable (const FzIceCandidate *local, const FzIceCandidate *remote)
{
  return (local->type == FZ_ICE_HOST || local->type == FZ_ICE_RELAY)
         && local->base.ip.family == remote->addr.ip.family;
}

static Pair *
find_pair (FzIceAgent *a, const FzSockAddr *base, const FzSockAddr *remote)
{
  for (guint i = 0; i < a->pairs->len; i++)
    {
      Pair *p = g_ptr_array_index (a->pairs, i);
      if (fz_sock_addr_equal (&p->local.base, base)
          && fz_sock_addr_equal (&p->remote.addr, remote))
        return p;
    }
  return NULL;
}

static Pair *
add_pair (FzIceAgent *a, const FzIceCandidate *local, const FzIceCandidate *remote)
{
  Pair *p = find_pair (a, &local->base, &remote->addr);
  if (p != NULL || a->pairs->len >= MAX_PAIRS || a->state == FZ_ICE_FAILED)
    return p;
  p = g_new0 (Pair, 1);
  p->local = *local;
  p->remote = *remote;
  p->state = PAIR_WAITING;
  g_ptr_array_add (a->pairs, p);
  sort_pairs (a);
  return p;
}

static void
select_pair (FzIceAgent *a, Pair *p, gint64 now)
{
  if (a->selected == p)
    return;
  /* The controlling side never trades down (a late answer to an older
   * nomination); the controlled side follows the latest nomination, as
   * the two sides rank the same path differently when one of them only
   * knows the other's candidate as peer-reflexive. */
  if (a->controlling && a->selected != NULL && a->selected->state == PAIR_SUCCEEDED
      && a->selected->nominated && a->selected->priority > p->priority)
    return;
  a->selected = p;
  p->next_keepalive = now + a->timeouts.max_rto;
  /* Older nominations in flight stop: the peer must not get them after
   * this one. */
  for (guint i = 0; i < a->pairs->len; i++)
    {
      Pair *o = g_ptr_array_index (a->pairs, i);
      if (o != p && o->tx && o->tx_nominating)
        o->tx = FALSE;
    }
  char l[FZ_SOCK_ADDR_STRLEN], r[FZ_SOCK_ADDR_STRLEN];
  g_debug ("ICE %s: selected %s %s -> %s", a->local_ufrag,
           fz_ice_candidate_type_to_string (p->local.type),
           fz_sock_addr_to_string (&p->local.base, l),
           fz_sock_addr_to_string (&p->remote.addr, r));
  push_event (a, &(FzIceEvent){ .type = FZ_ICE_EVENT_SELECTED_PAIR,
                                .local = p->local,
                                .remote = p->remote });
  set_state (a, FZ_ICE_CONNECTED, now);
}

/* Builds and queues a binding request on @p with a new transaction. */
static void
start_check (FzIceAgent *a, Pair *p, gboolean nominating, gint64 now)
{
  if (a->remote_ufrag == NULL)
    return;
  guint8 buf[MAX_CHECK];
  FzStunWriter w;
  if (p->tx && !p->tx_nominating)
    {
      memcpy (p->prev_tid, p->tid, sizeof p->tid);
      p->has_prev = TRUE;
    }
  fz_rng_fill (a->rng, p->tid, sizeof p->tid);
  if (a->tag != 0)
    memcpy (p->tid, &a->tag, sizeof a->tag);
  fz_stun_writer_init (&w, buf, sizeof buf, FZ_STUN_BINDING, FZ_STUN_REQUEST, p->tid);
  g_autofree char *username = g_strdup_printf ("%s:%s", a->remote_ufrag, a->local_ufrag);
  fz_stun_writer_add_string (&w, FZ_STUN_ATTR_USERNAME, username);
  /* The priority a peer-reflexive candidate of this base would have. */
  fz_stun_writer_add_u32 (
    &w, FZ_STUN_ATTR_PRIORITY,
    fz_ice_candidate_priority (FZ_ICE_PRFLX, p->local.base.ip.family, 1));
  fz_stun_writer_add_u64 (
    &w, a->controlling ? FZ_STUN_ATTR_ICE_CONTROLLING : FZ_STUN_ATTR_ICE_CONTROLLED,
    a->tiebreaker);
  if (nominating)
    {
      fz_stun_writer_add (&w, FZ_STUN_ATTR_USE_CANDIDATE, NULL, 0);
      a->nomination = (a->nomination + 1) & 0xffffff;
      fz_stun_writer_add_u32 (&w, FZ_STUN_ATTR_NOMINATION, a->nomination);
    }
  else if (a->controlling && p->nominated && p == a->selected)
    {
      /* Consent checks nominate the selected pair again (the same
       * number): a peer that gets them from a new address (our NAT
       * rebound) follows us there instead of sending into the void. */
      fz_stun_writer_add (&w, FZ_STUN_ATTR_USE_CANDIDATE, NULL, 0);
      fz_stun_writer_add_u32 (&w, FZ_STUN_ATTR_NOMINATION, a->nomination);
    }
  fz_stun_writer_add_integrity (&w, (const guint8 *) a->remote_pwd,
                                strlen (a->remote_pwd));
  fz_stun_writer_add_fingerprint (&w);
  gsize n = fz_stun_writer_finish (&w);
  if (n == 0)
    return; /* credentials longer than a check can carry */

  g_clear_pointer (&p->tx_msg, g_bytes_unref);
  p->tx_msg = g_bytes_new (buf, n);
  p->tx = TRUE;
  p->tx_nominating = nominating;
  p->tx_timeouts = a->timeouts;
  p->tx_sends = 1;
  p->tx_started = now;
  p->tx_next = now + fz_ice_timeouts_wait (&p->tx_timeouts, 1);
  if (p->state == PAIR_WAITING || p->state == PAIR_FAILED)
    p->state = PAIR_IN_PROGRESS;

  send_check (a, p);
}

static void
queue_triggered (FzIceAgent *a, Pair *p, gboolean nominated)
{
  /* A check already in flight goes on (restarting it on every request
   * the peer retransmits would only delay it), unless the peer nominated
   * the pair: then a fresh check settles it now, and the answer to the
   * old one still counts. */
  if (p->triggered || p->state == PAIR_SUCCEEDED
      || (!nominated && p->tx && p->state == PAIR_IN_PROGRESS))
    return;
  if (p->state == PAIR_FAILED)
    p->state = PAIR_WAITING;
  p->triggered = TRUE;
  g_queue_push_tail (&a->triggered, p);
}

/* Drops @p (its candidate went away). */
static void remove_pair (FzIceAgent *a, Pair *p, gint64 now);

static void
lost_selected (FzIceAgent *a, gint64 now)
{
  a->selected = NULL;
  /* Check everything again: another path may still work, or this one
   * may come back. Nominations stand: a nominated pair that answers
   * again is selected again without waiting for the peer. */
  for (guint i = 0; i < a->pairs->len; i++)
    {
      Pair *p = g_ptr_array_index (a->pairs, i);
      if (p->state == PAIR_SUCCEEDED)
        p->state = PAIR_WAITING;
    }
  set_state (a, FZ_ICE_DISCONNECTED, now);
}

static void
remove_pair (FzIceAgent *a, Pair *p, gint64 now)
{
  g_queue_remove (&a->triggered, p);
  gboolean was_selected = a->selected == p;
  g_ptr_array_remove (a->pairs, p);
  if (was_selected)
    lost_selected (a, now);
}

/* The controlling side: nominate the best valid pair when nothing
 * better is still being checked (or the grace time is over). */
static void
maybe_nominate (FzIceAgent *a, gint64 now)
{
  if (!a->controlling || a->state == FZ_ICE_FAILED)
    return;
  Pair *best = NULL;
  gboolean better_pending = FALSE;
  for (guint i = 0; i < a->pairs->len; i++)
    {
      Pair *p = g_ptr_array_index (a->pairs, i);
      if (p->state == PAIR_SUCCEEDED)
        {
          best = p;
          break;
        }
      if (p->state == PAIR_WAITING || p->state == PAIR_IN_PROGRESS)
        better_pending = TRUE;
    }
  if (best == NULL || best == a->selected || (best->tx && best->tx_nominating))
    return;
  gint64 grace = best->rtt >= 0
                   ? CLAMP (2 * best->rtt, NOMINATION_GRACE_MIN, NOMINATION_GRACE_MAX)
                   : NOMINATION_GRACE_MAX;
  if (better_pending && now < best->valid_since + grace)
    {
      a->nominate_at = MIN (a->nominate_at, best->valid_since + grace);
      return;
    }
  start_check (a, best, TRUE, now);
}

/* The controlled side: the peer nominated @p, which replaces whatever it
 * nominated before. */
static void
nominated_by_peer (FzIceAgent *a, Pair *p)
{
  for (guint i = 0; i < a->pairs->len; i++)
    {
      Pair *o = g_ptr_array_index (a->pairs, i);
      if (o != p)
        o->nominated = o->nominate_on_success = FALSE;
    }
}

static void
on_check_success (FzIceAgent *a, Pair *p, gint64 now)
{
  gboolean nominating = p->tx_nominating;
  p->tx = FALSE;
  if (p->state != PAIR_SUCCEEDED)
    {
      p->valid_since = now;
      p->rtt = p->tx_sends == 1 ? now - p->tx_started : -1;
    }
  p->state = PAIR_SUCCEEDED;
  p->last_response = now;

  if ((a->controlling && nominating) || (!a->controlling && p->nominate_on_success))
    p->nominated = TRUE;
  if (p->nominated)
    select_pair (a, p, now);
  maybe_nominate (a, now);
}

static void
switch_role (FzIceAgent *a, gboolean controlling)
{
  g_debug ("ICE %s: role conflict, now %s", a->local_ufrag,
           controlling ? "controlling" : "controlled");
  a->controlling = controlling;
  sort_pairs (a);
}

static gboolean
handle_response (FzIceAgent *a, const FzSockAddr *local, const FzSockAddr *from,
                 const FzStunMessage *msg, gint64 now)
{
  Pair *p = NULL;
  for (guint i = 0; i < a->pairs->len; i++)
    {
      Pair *c = g_ptr_array_index (a->pairs, i);
      if (c->tx && memcmp (c->tid, msg->tid, FZ_STUN_TID_LEN) == 0)
        {
          p = c;
          break;
        }
      if (c->has_prev && memcmp (c->prev_tid, msg->tid, FZ_STUN_TID_LEN) == 0)
        {
          /* The answer to a replaced check: proof the path works, but
           * the transaction in flight (maybe nominating) goes on. */
          if (!fz_sock_addr_equal (from, &c->remote.addr)
              || !fz_sock_addr_equal (local, &c->local.base)
              || msg->klass != FZ_STUN_SUCCESS
              || !fz_stun_message_check_integrity (msg, (const guint8 *) a->remote_pwd,
                                                   strlen (a->remote_pwd)))
            return TRUE;
          c->has_prev = FALSE;
          if (c->state != PAIR_SUCCEEDED)
            {
              c->state = PAIR_SUCCEEDED;
              c->valid_since = now;
              c->rtt = -1;
            }
          c->last_response = now;
          maybe_nominate (a, now);
          return TRUE;
        }
    }
  if (p == NULL)
    return FALSE;
  /* Symmetric: the answer comes from where the check went, to where it
   * left from; and it proves it knows the password. */
  if (!fz_sock_addr_equal (from, &p->remote.addr)
      || !fz_sock_addr_equal (local, &p->local.base))
    return TRUE;
  gboolean has_mi = msg->integrity >= 0;
  if ((msg->klass == FZ_STUN_SUCCESS || has_mi)
      && !fz_stun_message_check_integrity (msg, (const guint8 *) a->remote_pwd,
                                           strlen (a->remote_pwd)))
    return TRUE;

  if (msg->klass == FZ_STUN_SUCCESS && msg->n_unknown == 0)
    {
      on_check_success (a, p, now);
      return TRUE;
    }
  guint code = 0;
  fz_stun_message_get_error (msg, &code, NULL);
  p->tx = FALSE;
  if (code == FZ_STUN_ERR_ROLE_CONFLICT)
    {
      /* RFC 8445 7.2.5.1: take the role opposite to the one we sent. */
      switch_role (a, !a->controlling);
      p->state = PAIR_WAITING;
      queue_triggered (a, p, FALSE);
      return TRUE;
    }
  p->state = PAIR_FAILED;
  if (a->selected == p)
    lost_selected (a, now);
  return TRUE;
}

static void
respond (FzIceAgent *a, const FzSockAddr *local, const FzSockAddr *from,
         const FzStunMessage *req, guint error, const guint16 *unknown, guint n_unknown)
{
  guint8 buf[MAX_CHECK];
  FzStunWriter w;
  fz_stun_writer_init (&w, buf, sizeof buf, FZ_STUN_BINDING,
                       error ? FZ_STUN_ERROR : FZ_STUN_SUCCESS, req->tid);
  if (error)
    {
      static const struct
      {
        guint code;
        const char *reason;
      } reasons[] = { { 400, "Bad Request" },
                      { 401, "Unauthorized" },
                      { 420, "Unknown Attribute" },
                      { 487, "Role Conflict" } };
      const char *reason = "Error";
      for (guint i = 0; i < G_N_ELEMENTS (reasons); i++)
        if (reasons[i].code == error)
          reason = reasons[i].reason;
      fz_stun_writer_add_error (&w, error, reason);
      if (n_unknown > 0)
        {
          guint8 list[2 * FZ_STUN_MAX_UNKNOWN];
          for (guint i = 0; i < n_unknown; i++)
            {
              list[2 * i] = unknown[i] >> 8;
              list[2 * i + 1] = unknown[i] & 0xff;
            }
          fz_stun_writer_add (&w, FZ_STUN_ATTR_UNKNOWN_ATTRIBUTES, list, 2 * n_unknown);
        }
    }
  else
    fz_stun_writer_add_xor_address (&w, FZ_STUN_ATTR_XOR_MAPPED_ADDRESS, from);
  /* 400 and 401 go without integrity: the request could not be trusted. */
  if (error != 400 && error != 401)
    fz_stun_writer_add_integrity (&w, (const guint8 *) a->local_pwd,
                                  strlen (a->local_pwd));
  fz_stun_writer_add_fingerprint (&w);
  gsize n = fz_stun_writer_finish (&w);
  if (n == 0)
    return;
  push_transmit (a, local, from, buf, n);
}

gboolean
fz_ice_agent_is_for_us (FzIceAgent *a, const FzStunMessage *msg)
{
  const FzStunAttr *u = fz_stun_message_find (msg, FZ_STUN_ATTR_USERNAME);
  gsize n = strlen (a->local_ufrag);
  return u != NULL && u->len > n && memcmp (msg->data + u->offset, a->local_ufrag, n) == 0
         && msg->data[u->offset + n] == ':';
}

static const FzIceCandidate *
find_remote (FzIceAgent *a, const FzSockAddr *addr)
{
  for (guint i = 0; i < a->remotes->len; i++)
    {
      const FzIceCandidate *c = &g_array_index (a->remotes, FzIceCandidate, i);
      if (fz_sock_addr_equal (&c->addr, addr))
        return c;
    }
  return NULL;
}

static const FzIceCandidate *
find_local_base (FzIceAgent *a, const FzSockAddr *base)
{
  for (guint i = 0; i < a->locals->len; i++)
    {
      const FzIceCandidate *c = &g_array_index (a->locals, FzIceCandidate, i);
      if ((c->type == FZ_ICE_HOST || c->type == FZ_ICE_RELAY)
          && fz_sock_addr_equal (&c->base, base))
        return c;
    }
  return NULL;
}

/* What a request must have before anything else is looked at (RFC 8445
 * 7.3, RFC 8489 6.3.1): the error it gets, or 0 with its PRIORITY. */
static guint
check_request (FzIceAgent *a, const FzStunMessage *msg, guint32 *priority)
{
  if (msg->integrity < 0)
    return FZ_STUN_ERR_BAD_REQUEST;
  if (!fz_stun_message_check_integrity (msg, (const guint8 *) a->local_pwd,
                                        strlen (a->local_pwd)))
    return FZ_STUN_ERR_UNAUTHORIZED;
  if (msg->n_unknown > 0)
    return FZ_STUN_ERR_UNKNOWN_ATTRIBUTE;
  if (!fz_stun_message_get_u32 (msg, FZ_STUN_ATTR_PRIORITY, priority) || *priority == 0)
    return FZ_STUN_ERR_BAD_REQUEST;
  return 0;
}

/* RFC 8445 7.3.1.1: the peer claims our role, and the larger tiebreaker
 * is to be controlling. TRUE if the peer must switch (the request gets a
 * 487); otherwise we have switched, if need be, and the request goes on. */
static gboolean
role_conflict (FzIceAgent *a, const FzStunMessage *msg)
{
  guint64 theirs;
  if (a->controlling
      && fz_stun_message_get_u64 (msg, FZ_STUN_ATTR_ICE_CONTROLLING, &theirs))
    {
      if (a->tiebreaker >= theirs)
        return TRUE;
      switch_role (a, FALSE);
    }
  else if (!a->controlling
           && fz_stun_message_get_u64 (msg, FZ_STUN_ATTR_ICE_CONTROLLED, &theirs))
    {
      if (a->tiebreaker < theirs)
        return TRUE;
      switch_role (a, TRUE);
    }
  return FALSE;
}

/* The remote candidate a request came from. A source we did not know is
 * a peer-reflexive candidate with the request's PRIORITY (RFC 8445
 * 7.3.1.3); NULL if there is no room for it. */
static const FzIceCandidate *
learn_remote (FzIceAgent *a, const FzSockAddr *from, guint32 priority)
{
  const FzIceCandidate *remote = find_remote (a, from);
  if (remote != NULL)
    return remote;
  if (a->remotes->len >= FZ_ICE_MAX_REMOTE)
    return NULL;
  FzIceCandidate prflx = { 0 };
  prflx.type = FZ_ICE_PRFLX;
  prflx.addr = prflx.base = *from;
  prflx.priority = priority;
  prflx.component = 1;
  g_strlcpy (prflx.foundation, "prflx", sizeof prflx.foundation);
  g_array_append_val (a->remotes, prflx);
  a->no_candidate_deadline = G_MAXINT64;
  return &g_array_index (a->remotes, FzIceCandidate, a->remotes->len - 1);
}

/* The pair a request arrived on: from @remote to our candidate whose
 * base is @local. NULL if we have none there, or no room. */
static Pair *
pair_for_request (FzIceAgent *a, const FzSockAddr *local, const FzIceCandidate *remote)
{
  const FzIceCandidate *base = find_local_base (a, local);
  if (base == NULL || !pairable (base, remote))
    return NULL;
  return add_pair (a, base, remote);
}

/* Whether the request nominates its pair: USE-CANDIDATE, and with
 * renomination only a NOMINATION not older than the last one, so that a
 * retransmitted old one that arrives late changes nothing. */
static gboolean
peer_nominates (FzIceAgent *a, const FzStunMessage *msg)
{
  if (!fz_stun_message_has (msg, FZ_STUN_ATTR_USE_CANDIDATE))
    return FALSE;
  guint32 nomination;
  if (!fz_stun_message_get_u32 (msg, FZ_STUN_ATTR_NOMINATION, &nomination))
    return TRUE;
  nomination &= 0xffffff;
  /* A peer that restarted (a new agent: a new tiebreaker) with the same
   * credentials counts its nominations from 1 again. */
  guint64 tiebreaker = 0;
  fz_stun_message_get_u64 (msg, FZ_STUN_ATTR_ICE_CONTROLLING, &tiebreaker);
  if (tiebreaker != a->peer_tiebreaker)
    {
      a->peer_tiebreaker = tiebreaker;
      a->peer_nomination = 0;
    }
  if (nomination < a->peer_nomination)
    {
      g_debug ("ICE %s: old nomination %u ignored", a->local_ufrag, nomination);
      return FALSE;
    }
  a->peer_nomination = nomination;
  return TRUE;
}

/* RFC 8445 7.3.1.4-5: a valid pair the peer nominated is selected now
 * (by the controlled side); any other pair gets a triggered check, and
 * is selected when it succeeds if it was nominated. */
static void
on_peer_check (FzIceAgent *a, Pair *p, gboolean use, gint64 now)
{
  gboolean nominated = use && !a->controlling;
  if (p->state == PAIR_SUCCEEDED)
    {
      if (nominated)
        {
          nominated_by_peer (a, p);
          p->nominated = TRUE;
          select_pair (a, p, now);
        }
      return;
    }
  if (nominated)
    {
      nominated_by_peer (a, p);
      p->nominate_on_success = TRUE;
    }
  queue_triggered (a, p, nominated);
}

static gboolean
handle_request (FzIceAgent *a, const FzSockAddr *local, const FzSockAddr *from,
                const FzStunMessage *msg, gint64 now)
{
  if (!fz_ice_agent_is_for_us (a, msg))
    return FALSE;
  if (a->state == FZ_ICE_FAILED)
    return TRUE;
  guint32 priority = 0;
  guint error = check_request (a, msg, &priority);
  if (error == 0 && role_conflict (a, msg))
    error = FZ_STUN_ERR_ROLE_CONFLICT;
  if (error == FZ_STUN_ERR_UNKNOWN_ATTRIBUTE)
    respond (a, local, from, msg, error, msg->unknown, msg->n_unknown);
  else
    respond (a, local, from, msg, error, NULL, 0);
  if (error != 0)
    return TRUE;

  const FzIceCandidate *remote = learn_remote (a, from, priority);
  Pair *p = remote != NULL ? pair_for_request (a, local, remote) : NULL;
  if (p != NULL)
    on_peer_check (a, p, peer_nominates (a, msg), now);
  return TRUE;
}

gboolean
fz_ice_agent_handle_stun (FzIceAgent *a, const FzSockAddr *local, const FzSockAddr *from,
                          const FzStunMessage *msg, gint64 now)
{
  if (msg->method != FZ_STUN_BINDING)
    return FALSE;
  switch (msg->klass)
    {
    case FZ_STUN_REQUEST: return handle_request (a, local, from, msg, now);
    case FZ_STUN_SUCCESS:
    case FZ_STUN_ERROR: return handle_response (a, local, from, msg, now);
    default: return FALSE; /* binding indications: keepalives, nothing to do */
    }
}

FzIceAgent *
fz_ice_agent_new (gboolean controlling, const FzIceTimeouts *timeouts, FzRng *rng,
                  gint64 now)
{
  FzIceAgent *a = g_new0 (FzIceAgent, 1);
  a->rng = rng;
  a->controlling = controlling;
  fz_rng_fill (rng, &a->tiebreaker, sizeof a->tiebreaker);
  a->timeouts = *timeouts;
  a->overall = fz_ice_timeouts_overall (timeouts);
  random_string (rng, a->local_ufrag, 16);
  random_string (rng, a->local_pwd, 32);
  a->locals = g_array_new (FALSE, FALSE, sizeof (FzIceCandidate));
  a->remotes = g_array_new (FALSE, FALSE, sizeof (FzIceCandidate));
  a->pairs = g_ptr_array_new_with_free_func ((GDestroyNotify) pair_free);
  g_queue_init (&a->triggered);
  fz_transmit_queue_init (&a->transmits, FzIceTransmit);
  g_queue_init (&a->events);
  a->state = FZ_ICE_CHECKING;
  a->no_candidate_deadline = now + FZ_ICE_NO_CANDIDATE_TIMEOUT;
  a->next_check = now;
  a->nominate_at = G_MAXINT64;
  return a;
}

/* Passwords are wiped before their memory goes back. */
static void
free_secret (char *s)
{
  if (s != NULL)
    sodium_memzero (s, strlen (s));
  g_free (s);
}

void
fz_ice_agent_free (FzIceAgent *a)
{
  if (a == NULL)
    return;
  g_queue_clear (&a->triggered);
  g_ptr_array_unref (a->pairs);
  g_array_unref (a->locals);
  g_array_unref (a->remotes);
  fz_transmit_queue_clear (&a->transmits);
  g_queue_clear_full (&a->events, g_free);
  g_free (a->remote_ufrag);
  free_secret (a->remote_pwd);
  sodium_memzero (a->local_pwd, sizeof a->local_pwd);
  g_free (a);
}

const char *
fz_ice_agent_local_ufrag (FzIceAgent *a)
{
  return a->local_ufrag;
}

const char *
fz_ice_agent_local_pwd (FzIceAgent *a)
{
  return a->local_pwd;
}

void
fz_ice_agent_set_local_credentials (FzIceAgent *a, const char *ufrag, const char *pwd)
{
  g_strlcpy (a->local_ufrag, ufrag, sizeof a->local_ufrag);
  /* A shorter password must not leave the old one's tail behind. */
  sodium_memzero (a->local_pwd, sizeof a->local_pwd);
  g_strlcpy (a->local_pwd, pwd, sizeof a->local_pwd);
}

void
fz_ice_agent_set_remote_credentials (FzIceAgent *a, const char *ufrag, const char *pwd)
{
  g_free (a->remote_ufrag);
  free_secret (a->remote_pwd);
  a->remote_ufrag = g_strdup (ufrag);
  a->remote_pwd = g_strdup (pwd);
}

void
fz_ice_agent_set_tag (FzIceAgent *a, guint32 tag)
{
  a->tag = tag;
}

guint32
fz_ice_tid_tag (const guint8 tid[FZ_STUN_TID_LEN])
{
  guint32 tag;
  memcpy (&tag, tid, sizeof tag);
  return tag;
}

gboolean
fz_ice_agent_is_controlling (FzIceAgent *a)
{
  return a->controlling;
}

void
fz_ice_agent_set_timeouts (FzIceAgent *a, const FzIceTimeouts *timeouts, gint64 now)
{
  a->timeouts = *timeouts;
  a->overall = fz_ice_timeouts_overall (timeouts);
  if (a->selected != NULL)
    a->selected->next_keepalive
      = MIN (a->selected->next_keepalive, now + timeouts->max_rto);
}

gboolean
fz_ice_agent_add_local_candidate (FzIceAgent *a, const FzIceCandidate *c, gint64 now)
{
  for (guint i = 0; i < a->locals->len; i++)
    if (fz_ice_candidate_equal (&g_array_index (a->locals, FzIceCandidate, i), c))
      return FALSE;
  if (a->locals->len >= FZ_ICE_MAX_LOCAL || c->component != 1)
    return FALSE;
  g_array_append_val (a->locals, *c);
  gboolean paired = FALSE;
  for (guint i = 0; i < a->remotes->len; i++)
    {
      const FzIceCandidate *r = &g_array_index (a->remotes, FzIceCandidate, i);
      if (pairable (c, r))
        paired |= add_pair (a, c, r) != NULL;
    }
  /* A new local path (a relay replacing one that went away) deserves its
   * checks, as a new remote candidate does. */
  if (paired && a->state == FZ_ICE_DISCONNECTED && a->selected == NULL)
    set_state (a, FZ_ICE_CHECKING, now);
  return TRUE;
}

void
fz_ice_agent_remove_local_candidate (FzIceAgent *a, const FzIceCandidate *c, gint64 now)
{
  for (guint i = 0; i < a->locals->len; i++)
    if (fz_ice_candidate_equal (&g_array_index (a->locals, FzIceCandidate, i), c))
      {
        g_array_remove_index (a->locals, i);
        break;
      }
  if (c->type != FZ_ICE_HOST && c->type != FZ_ICE_RELAY)
    return;
  for (guint i = a->pairs->len; i-- > 0;)
    {
      Pair *p = g_ptr_array_index (a->pairs, i);
      if (fz_sock_addr_equal (&p->local.base, &c->base))
        remove_pair (a, p, now);
    }
}

GArray *
fz_ice_agent_local_candidates (FzIceAgent *a)
{
  GArray *out = g_array_copy (a->locals);
  g_array_sort (out, fz_ice_candidate_compare);
  return out;
}

static gboolean
usable_address (const FzSockAddr *sa)
{
  static const guint8 zero[16] = { 0 };
  gsize n = fz_ip_addr_len (&sa->ip);
  return n > 0 && memcmp (sa->ip.bytes, zero, n) != 0 && sa->port != 0;
}

static void
add_remote (FzIceAgent *a, const FzIceCandidate *c)
{
  g_array_append_val (a->remotes, *c);
  for (guint i = 0; i < a->locals->len; i++)
    {
      const FzIceCandidate *l = &g_array_index (a->locals, FzIceCandidate, i);
      if (pairable (l, c))
        add_pair (a, l, c);
    }
}

/* For a remote srflx IPv4 address and a remote host port, the peer may
 * have forwarded that port on its NAT (an admin's port forward). */
static void
add_optimistic (FzIceAgent *a)
{
  for (guint i = 0; i < a->remotes->len; i++)
    for (guint k = 0; k < a->remotes->len; k++)
      {
        FzIceCandidate s = g_array_index (a->remotes, FzIceCandidate, i);
        const FzIceCandidate *h = &g_array_index (a->remotes, FzIceCandidate, k);
        if (a->n_optimistic >= FZ_ICE_MAX_OPTIMISTIC
            || a->remotes->len >= FZ_ICE_MAX_REMOTE)
          return;
        if (s.type != FZ_ICE_SRFLX || h->type != FZ_ICE_HOST || s.addr.ip.family != 4
            || h->addr.ip.family != 4 || g_str_equal (s.foundation, "optimistic"))
          continue;
        s.addr.port = h->addr.port;
        s.base = s.addr;
        if (find_remote (a, &s.addr) != NULL)
          continue;
        g_strlcpy (s.foundation, "optimistic", sizeof s.foundation);
        a->n_optimistic++;
        add_remote (a, &s);
      }
}

gboolean
fz_ice_agent_add_remote_candidate (FzIceAgent *a, const FzIceCandidate *c, gint64 now)
{
  if (a->state == FZ_ICE_FAILED || c->component != 1 || !usable_address (&c->addr)
      || a->remotes->len >= FZ_ICE_MAX_REMOTE)
    return FALSE;
  const FzIceCandidate *known = find_remote (a, &c->addr);
  if (known != NULL)
    {
      /* A signalled candidate replaces a peer-reflexive or optimistic
       * guess at the same address. */
      if (known->type == FZ_ICE_PRFLX || g_str_equal (known->foundation, "optimistic"))
        {
          FzIceCandidate *k = (FzIceCandidate *) known;
          *k = *c;
          k->base = c->addr;
        }
      return FALSE;
    }
  FzIceCandidate copy = *c;
  copy.base = c->addr;
  a->no_candidate_deadline = G_MAXINT64;
  add_remote (a, &copy);
  add_optimistic (a);
  if (a->state == FZ_ICE_DISCONNECTED && a->selected == NULL)
    set_state (a, FZ_ICE_CHECKING, now);
  return TRUE;
}

void
fz_ice_agent_remove_remote_candidate (FzIceAgent *a, const FzIceCandidate *c, gint64 now)
{
  for (guint i = 0; i < a->remotes->len; i++)
    if (fz_sock_addr_equal (&g_array_index (a->remotes, FzIceCandidate, i).addr,
                            &c->addr))
      {
        g_array_remove_index (a->remotes, i);
        break;
      }
  for (guint i = a->pairs->len; i-- > 0;)
    {
      Pair *p = g_ptr_array_index (a->pairs, i);
      if (fz_sock_addr_equal (&p->remote.addr, &c->addr))
        remove_pair (a, p, now);
    }
}

gboolean
fz_ice_agent_poll_transmit (FzIceAgent *a, FzIceTransmit *out)
{
  return fz_transmit_queue_pop (&a->transmits, out);
}

gboolean
fz_ice_agent_poll_event (FzIceAgent *a, FzIceEvent *out)
{
  FzIceEvent *e = g_queue_pop_head (&a->events);
  if (e == NULL)
    return FALSE;
  *out = *e;
  g_free (e);
  return TRUE;
}

static Pair *
next_to_check (FzIceAgent *a)
{
  if (a->remote_ufrag == NULL)
    return NULL;
  Pair *p = g_queue_peek_head (&a->triggered);
  if (p != NULL)
    return p;
  for (guint i = 0; i < a->pairs->len; i++)
    {
      p = g_ptr_array_index (a->pairs, i);
      if (p->state == PAIR_WAITING && !p->tx)
        return p;
    }
  return NULL;
}

gint64
fz_ice_agent_poll_timeout (FzIceAgent *a)
{
  if (a->state == FZ_ICE_FAILED)
    return G_MAXINT64;
  gint64 t = MIN (a->no_candidate_deadline, a->nominate_at);
  if (a->state == FZ_ICE_DISCONNECTED)
    t = MIN (t, a->disconnected_at + FZ_ICE_DISCONNECTED_TIMEOUT);
  if (next_to_check (a) != NULL)
    t = MIN (t, a->next_check);
  for (guint i = 0; i < a->pairs->len; i++)
    {
      Pair *p = g_ptr_array_index (a->pairs, i);
      if (p->tx)
        t = MIN (t, p->tx_next);
    }
  if (a->selected != NULL)
    {
      t = MIN (t, a->selected->next_keepalive);
      t = MIN (t, a->selected->last_response + a->overall);
    }
  return t;
}

void
fz_ice_agent_handle_timeout (FzIceAgent *a, gint64 now)
{
  if (a->state == FZ_ICE_FAILED)
    return;
  if (now >= a->no_candidate_deadline)
    {
      g_debug ("ICE %s: no remote candidate within 10 s", a->local_ufrag);
      set_state (a, FZ_ICE_FAILED, now);
      return;
    }
  if (a->state == FZ_ICE_DISCONNECTED
      && now >= a->disconnected_at + FZ_ICE_DISCONNECTED_TIMEOUT)
    {
      set_state (a, FZ_ICE_FAILED, now);
      return;
    }

  /* Retransmissions and failed checks. */
  for (guint i = 0; i < a->pairs->len; i++)
    {
      Pair *p = g_ptr_array_index (a->pairs, i);
      if (!p->tx || now < p->tx_next)
        continue;
      if (p->tx_sends < p->tx_timeouts.retransmits)
        {
          p->tx_sends++;
          p->tx_next = now + fz_ice_timeouts_wait (&p->tx_timeouts, p->tx_sends);
          send_check (a, p);
          continue;
        }
      p->tx = FALSE;
      if (p != a->selected && p->state != PAIR_SUCCEEDED)
        p->state = PAIR_FAILED;
    }

  /* Consent: the selected pair must keep answering. */
  Pair *s = a->selected;
  if (s != NULL && now >= s->last_response + a->overall)
    {
      g_debug ("ICE %s: the selected pair went silent", a->local_ufrag);
      s->state = PAIR_WAITING; /* re-checked: it may come back */
      s->tx = FALSE;
      lost_selected (a, now);
      s = NULL;
    }
  if (s != NULL && now >= s->next_keepalive)
    {
      s->next_keepalive = now + a->timeouts.max_rto;
      if (!s->tx)
        start_check (a, s, FALSE, now);
    }

  if (now >= a->nominate_at)
    {
      a->nominate_at = G_MAXINT64;
      maybe_nominate (a, now);
    }

  /* Pacing: one new check every Ta. */
  if (now >= a->next_check)
    {
      Pair *p = next_to_check (a);
      if (p != NULL)
        {
          if (p->triggered)
            {
              g_queue_pop_head (&a->triggered);
              p->triggered = FALSE;
            }
          start_check (a, p, FALSE, now);
          a->next_check = now + FZ_ICE_PACING;
        }
    }

  /* All pairs failed and nothing left to try. */
  if (a->state == FZ_ICE_CHECKING && a->pairs->len > 0)
    {
      gboolean alive = FALSE;
      for (guint i = 0; i < a->pairs->len && !alive; i++)
        alive = ((Pair *) g_ptr_array_index (a->pairs, i))->state != PAIR_FAILED;
      if (!alive)
        set_state (a, FZ_ICE_DISCONNECTED, now);
    }
}

FzIceState
fz_ice_agent_state (FzIceAgent *a)
{
  return a->state;
}

gboolean
fz_ice_agent_selected_pair (FzIceAgent *a, FzIceCandidate *local, FzIceCandidate *remote)
{
  if (a->selected == NULL)
    return FALSE;
  *local = a->selected->local;
  *remote = a->selected->remote;
  return TRUE;
}
