#include "fz-allocation-private.h"

#include "fz-stun-message-private.h"
#include "fz-transmit-queue.h"

#include <sodium.h>
#include <string.h>

/* The quark name is a string, not an expression: keep its dashes. */
/* clang-format off */
G_DEFINE_QUARK (fz-allocation-error-quark, fz_allocation_error)
/* clang-format on */

#define MAX_MESSAGE             1024
#define FAMILY_IPV4             0x01
#define FAMILY_IPV6             0x02
#define REQUESTED_TRANSPORT_UDP (17u << 24)
#define DEFAULT_LIFETIME        600 /* s, RFC 8656's default; what REFRESH asks for */

typedef enum
{
  STATE_BINDING,    /* waiting for the first binding answer */
  STATE_ALLOCATING, /* ALLOCATE (or its REFRESH 0 after a 437) in flight */
  STATE_ALLOCATED,
  STATE_FAILED,
} State;

typedef struct
{
  guint8 tid[FZ_STUN_TID_LEN];
  FzStunMethod method;
  guint server; /* 0 = IPv4, 1 = IPv6 */
  GBytes *msg;
  gint64 first_sent;
  gint64 deadline;
  gint64 rto;
  guint attempts;
  char *nonce; /* the nonce it carried, NULL if none */
  gboolean retried_auth;
  /* parameters, to build it again with a fresh nonce */
  guint32 lifetime;   /* REFRESH */
  gboolean dual;      /* ALLOCATE: with ADDITIONAL-ADDRESS-FAMILY */
  gboolean realloc;   /* REFRESH 0 sent because of a 437: allocate after */
  gboolean keepalive; /* BINDING */
  guint16 channel;    /* CHANNEL-BIND */
  FzSockAddr peer;    /* CREATE-PERMISSION */
} Request;

typedef struct
{
  guint16 number;
  FzSockAddr peer;
  gint64 bind_sent; /* of the latest bind */
  gint64 bound_at;  /* of the latest success; 0 = never */
  gboolean in_flight;
  gboolean used;    /* data since the latest bind */
  gboolean expired; /* no longer bound; the number is held until reuse */
} Channel;

struct _FzAllocation
{
  FzRng *rng;
  FzSockAddr server[2];
  gboolean has_server[2];
  char *username, *password, *realm, *nonce;
  guint8 key[16];

  State state;
  guint alloc_server; /* where the allocation lives */
  FzSockAddr host[2], srflx[2], relayed[2];
  FzIceCandidate relay_candidate[2]; /* as announced, to withdraw it alike */
  gboolean has_host[2], has_srflx[2], has_relayed[2];
  gint64 refresh_at;
  gint64 expires_at;
  gint64 keepalive_at;
  gint64 retry_at; /* FAILED by timeout: when to start over */
  gint64 retry_backoff;
  gboolean failure_reported; /* one FAILED event until the next success */
  gint64 rtt;
  guint mismatches; /* 437s on ALLOCATE since the last success */

  GPtrArray *requests;  /* Request* */
  GHashTable *channels; /* number -> Channel* (owns) */
  GHashTable *by_peer;  /* FzSockAddr* -> Channel* (live bindings only) */
  /* Peer IP -> when the permission we asked for lapses (gint64*): what
   * Data indications are accepted from (RFC 8656 11.4). */
  GHashTable *permissions;
  guint16 next_channel;

  FzTransmitQueue transmits; /* FzAllocationTransmit */
  GQueue events;             /* FzAllocationEvent* */
};

static guint
sock_addr_hash (gconstpointer p)
{
  const FzSockAddr *sa = p;
  return fz_ip_addr_hash (&sa->ip) ^ (sa->port * 2654435761u);
}

static gboolean
sock_addr_eq (gconstpointer a, gconstpointer b)
{
  return fz_sock_addr_equal (a, b);
}

static guint
ip_addr_hash (gconstpointer p)
{
  return fz_ip_addr_hash (p);
}

static gboolean
ip_addr_eq (gconstpointer a, gconstpointer b)
{
  return fz_ip_addr_equal (a, b);
}

static guint
family_index (guint8 family)
{
  return family == 6 ? 1 : 0;
}

/* The relay has both families: ALLOCATE asks for both. */
static gboolean
dual_stack (FzAllocation *a)
{
  return a->has_server[0] && a->has_server[1];
}

static void
request_free (Request *r)
{
  g_bytes_unref (r->msg);
  g_free (r->nonce);
  g_free (r);
}

static void
event_free (FzAllocationEvent *e)
{
  g_clear_error (&e->error);
  g_free (e);
}

static const char *
server_str (FzAllocation *a, guint i, char buf[FZ_SOCK_ADDR_STRLEN])
{
  return fz_sock_addr_to_string (&a->server[i], buf);
}

/* @r's message again: its first send, or a retransmission. */
static void
request_transmit (FzAllocation *a, Request *r)
{
  gsize n;
  const void *msg = g_bytes_get_data (r->msg, &n);
  FzAllocationTransmit t
    = { .dst = a->server[r->server], .buf = fz_packet_buf_new_copy (msg, n) };
  fz_transmit_queue_push (&a->transmits, &t);
}

static void
push_event (FzAllocation *a, FzAllocationEventType type, const FzIceCandidate *c,
            GError *error)
{
  FzAllocationEvent *e = g_new0 (FzAllocationEvent, 1);
  e->type = type;
  if (c != NULL)
    e->candidate = *c;
  e->error = error;
  g_queue_push_tail (&a->events, e);
}

static void
candidate_event (FzAllocation *a, FzAllocationEventType type, FzIceCandidateType ctype,
                 const FzSockAddr *addr, const FzSockAddr *base, guint server)
{
  FzIceCandidate c;
  fz_ice_candidate_init_local (&c, ctype, addr, base,
                               ctype == FZ_ICE_HOST ? NULL : &a->server[server]);
  push_event (a, type, &c, NULL);
}

/* Builds the message for @r (with credentials once we have a nonce) and
 * queues its first transmission. */
static void
request_send (FzAllocation *a, Request *r, gint64 now)
{
  guint8 buf[MAX_MESSAGE];
  FzStunWriter w;
  fz_rng_fill (a->rng, r->tid, sizeof r->tid);
  fz_stun_writer_init (&w, buf, sizeof buf, r->method, FZ_STUN_REQUEST, r->tid);
  switch (r->method)
    {
    case FZ_STUN_ALLOCATE:
      fz_stun_writer_add_u32 (&w, FZ_STUN_ATTR_REQUESTED_TRANSPORT,
                              REQUESTED_TRANSPORT_UDP);
      if (r->dual)
        {
          /* Both code points: each server ignores the optional one it
           * does not know. */
          fz_stun_writer_add_u32 (&w, FZ_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY,
                                  FAMILY_IPV6 << 24);
          fz_stun_writer_add_u32 (&w, FZ_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY_DRAFT,
                                  FAMILY_IPV6 << 24);
        }
      else if (r->server == 1)
        fz_stun_writer_add_u32 (&w, FZ_STUN_ATTR_REQUESTED_ADDRESS_FAMILY,
                                FAMILY_IPV6 << 24);
      break;
    case FZ_STUN_REFRESH:
      fz_stun_writer_add_u32 (&w, FZ_STUN_ATTR_LIFETIME, r->lifetime);
      break;
    case FZ_STUN_CHANNEL_BIND:
      {
        Channel *ch = g_hash_table_lookup (a->channels, GUINT_TO_POINTER (r->channel));
        g_assert (ch != NULL); /* channels go only with their requests */
        fz_stun_writer_add_u32 (&w, FZ_STUN_ATTR_CHANNEL_NUMBER,
                                (guint32) r->channel << 16);
        fz_stun_writer_add_xor_address (&w, FZ_STUN_ATTR_XOR_PEER_ADDRESS, &ch->peer);
        break;
      }
    case FZ_STUN_CREATE_PERMISSION:
      fz_stun_writer_add_xor_address (&w, FZ_STUN_ATTR_XOR_PEER_ADDRESS, &r->peer);
      break;
    default: break;
    }
  g_clear_pointer (&r->nonce, g_free);
  if (r->method != FZ_STUN_BINDING && a->nonce != NULL)
    {
      fz_stun_writer_add_string (&w, FZ_STUN_ATTR_USERNAME, a->username);
      fz_stun_writer_add_string (&w, FZ_STUN_ATTR_REALM, a->realm);
      fz_stun_writer_add_string (&w, FZ_STUN_ATTR_NONCE, a->nonce);
      fz_stun_writer_add_integrity (&w, a->key, sizeof a->key);
      r->nonce = g_strdup (a->nonce);
    }
  fz_stun_writer_add_fingerprint (&w);
  gsize n = fz_stun_writer_finish (&w);
  g_assert (n > 0); /* our own requests are far below MAX_MESSAGE */

  g_clear_pointer (&r->msg, g_bytes_unref);
  r->msg = g_bytes_new (buf, n);
  r->first_sent = now;
  r->rto = FZ_TURN_RTO_INITIAL;
  r->deadline = now + r->rto;
  r->attempts = 1;

  request_transmit (a, r);
}

static Request *
request_new (FzAllocation *a, FzStunMethod method, guint server)
{
  Request *r = g_new0 (Request, 1);
  r->method = method;
  r->server = server;
  g_ptr_array_add (a->requests, r);
  return r;
}

static void
send_binding (FzAllocation *a, guint server, gboolean keepalive, gint64 now)
{
  Request *r = request_new (a, FZ_STUN_BINDING, server);
  r->keepalive = keepalive;
  request_send (a, r, now);
}

static void
send_allocate (FzAllocation *a, gboolean dual, gint64 now)
{
  a->state = STATE_ALLOCATING;
  Request *r = request_new (a, FZ_STUN_ALLOCATE, a->alloc_server);
  r->dual = dual;
  request_send (a, r, now);
}

static void
send_refresh (FzAllocation *a, guint32 lifetime, gboolean realloc, gint64 now)
{
  Request *r = request_new (a, FZ_STUN_REFRESH, a->alloc_server);
  r->lifetime = lifetime;
  r->realloc = realloc;
  request_send (a, r, now);
}

/* Counted from the request: the relay may send data as soon as it has
 * installed the permission, before its answer reaches us. */
static void
permit (FzAllocation *a, const FzIpAddr *ip, gint64 now)
{
  gint64 *until = g_hash_table_lookup (a->permissions, ip);
  if (until == NULL)
    {
      until = g_new (gint64, 1);
      g_hash_table_insert (a->permissions, g_memdup2 (ip, sizeof *ip), until);
    }
  *until = now + FZ_TURN_PERMISSION_LIFE;
}

static gboolean
permitted (FzAllocation *a, const FzIpAddr *ip, gint64 now)
{
  gint64 *until = g_hash_table_lookup (a->permissions, ip);
  return until != NULL && now < *until;
}

static void
forget_lapsed_permissions (FzAllocation *a, gint64 now)
{
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, a->permissions);
  while (g_hash_table_iter_next (&it, NULL, &value))
    if (now >= *(gint64 *) value)
      g_hash_table_iter_remove (&it);
}

static void
send_channel_bind (FzAllocation *a, Channel *ch, gint64 now)
{
  Request *r = request_new (a, FZ_STUN_CHANNEL_BIND, a->alloc_server);
  r->channel = ch->number;
  ch->in_flight = TRUE;
  ch->bind_sent = now;
  ch->used = FALSE;
  permit (a, &ch->peer.ip, now);
  request_send (a, r, now);
}

static void
send_create_permission (FzAllocation *a, const FzSockAddr *peer, gint64 now)
{
  Request *r = request_new (a, FZ_STUN_CREATE_PERMISSION, a->alloc_server);
  r->peer = *peer;
  permit (a, &peer->ip, now);
  request_send (a, r, now);
}

static void
drop_requests (FzAllocation *a, gboolean keep_bindings)
{
  for (guint i = a->requests->len; i-- > 0;)
    {
      Request *r = g_ptr_array_index (a->requests, i);
      if (!keep_bindings || r->method != FZ_STUN_BINDING)
        g_ptr_array_remove_index (a->requests, i);
    }
}

/* The allocation is gone (437, failure, reset): relay candidates and
 * channels with it. */
static void
forget_allocation (FzAllocation *a)
{
  for (guint i = 0; i < 2; i++)
    if (a->has_relayed[i])
      {
        push_event (a, FZ_ALLOCATION_EVENT_INVALIDATED_CANDIDATE, &a->relay_candidate[i],
                    NULL);
        a->has_relayed[i] = FALSE;
      }
  g_hash_table_remove_all (a->by_peer);
  g_hash_table_remove_all (a->channels);
  g_hash_table_remove_all (a->permissions);
  a->refresh_at = G_MAXINT64;
  drop_requests (a, TRUE);
}

static void
fail (FzAllocation *a, GError *error)
{
  forget_allocation (a);
  drop_requests (a, FALSE);
  a->state = STATE_FAILED;
  a->keepalive_at = G_MAXINT64;
  a->retry_at = G_MAXINT64;
  g_debug ("%s", error->message);
  if (a->failure_reported)
    g_error_free (error);
  else
    push_event (a, FZ_ALLOCATION_EVENT_FAILED, NULL, error);
  a->failure_reported = TRUE;
}

/* The relay stopped answering: report it once, then keep trying with a
 * growing pause, so that a relay that comes back (a restart, a network
 * outage) is allocated on again without anyone asking. */
static void
lost (FzAllocation *a, GError *error, gint64 now)
{
  fail (a, error);
  a->retry_at = now + a->retry_backoff;
  a->retry_backoff = MIN (a->retry_backoff * 2, FZ_TURN_RETRY_MAX);
}

static void
start (FzAllocation *a, gint64 now)
{
  a->state = STATE_BINDING;
  a->mismatches = 0;
  a->refresh_at = G_MAXINT64;
  a->keepalive_at = G_MAXINT64;
  a->retry_at = G_MAXINT64;
  for (guint i = 0; i < 2; i++)
    if (a->has_server[i])
      send_binding (a, i, FALSE, now);
}

FzAllocation *
fz_allocation_new (const FzSockAddr *server_v4, const FzSockAddr *server_v6,
                   const char *username, const char *password, const char *realm,
                   FzRng *rng, gint64 now)
{
  g_return_val_if_fail (server_v4 != NULL || server_v6 != NULL, NULL);
  g_return_val_if_fail (server_v4 == NULL || server_v4->ip.family == 4, NULL);
  g_return_val_if_fail (server_v6 == NULL || server_v6->ip.family == 6, NULL);
  g_return_val_if_fail (username != NULL && password != NULL, NULL);

  FzAllocation *a = g_new0 (FzAllocation, 1);
  a->rng = rng;
  if (server_v4 != NULL)
    {
      a->server[0] = *server_v4;
      a->has_server[0] = TRUE;
    }
  if (server_v6 != NULL)
    {
      a->server[1] = *server_v6;
      a->has_server[1] = TRUE;
    }
  a->username = g_strdup (username);
  a->password = g_strdup (password);
  a->realm = g_strdup (realm != NULL ? realm : "");
  a->rtt = -1;
  a->retry_backoff = FZ_TURN_RETRY_MIN;
  a->requests = g_ptr_array_new_with_free_func ((GDestroyNotify) request_free);
  a->channels = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  a->by_peer = g_hash_table_new (sock_addr_hash, sock_addr_eq);
  a->permissions = g_hash_table_new_full (ip_addr_hash, ip_addr_eq, g_free, g_free);
  a->next_channel = FZ_CHANNEL_MIN;
  fz_transmit_queue_init (&a->transmits, FzAllocationTransmit);
  g_queue_init (&a->events);
  start (a, now);
  return a;
}

void
fz_allocation_free (FzAllocation *a)
{
  if (a == NULL)
    return;
  g_ptr_array_unref (a->requests);
  g_hash_table_unref (a->by_peer);
  g_hash_table_unref (a->channels);
  g_hash_table_unref (a->permissions);
  fz_transmit_queue_clear (&a->transmits);
  g_queue_clear_full (&a->events, (GDestroyNotify) event_free);
  g_free (a->username);
  /* sodium_memzero: a memset before free may be optimised away. */
  sodium_memzero (a->password, strlen (a->password));
  g_free (a->password);
  g_free (a->realm);
  g_free (a->nonce);
  sodium_memzero (a->key, sizeof a->key);
  g_free (a);
}

void
fz_allocation_reset (FzAllocation *a, gint64 now)
{
  a->failure_reported = FALSE;
  a->retry_backoff = FZ_TURN_RETRY_MIN;
  forget_allocation (a);
  drop_requests (a, FALSE);
  for (guint i = 0; i < 2; i++)
    {
      if (a->has_srflx[i])
        candidate_event (a, FZ_ALLOCATION_EVENT_INVALIDATED_CANDIDATE, FZ_ICE_SRFLX,
                         &a->srflx[i], &a->host[i], i);
      if (a->has_host[i])
        candidate_event (a, FZ_ALLOCATION_EVENT_INVALIDATED_CANDIDATE, FZ_ICE_HOST,
                         &a->host[i], &a->host[i], i);
      a->has_srflx[i] = a->has_host[i] = FALSE;
    }
  start (a, now);
}

void
fz_allocation_refresh (FzAllocation *a, gint64 now)
{
  if (a->state == STATE_FAILED && a->retry_at != G_MAXINT64)
    start (a, now);
  else if (a->state == STATE_ALLOCATED)
    {
      a->keepalive_at = now; /* handle_timeout sends the bindings */
      a->refresh_at = now;
      fz_allocation_handle_timeout (a, now);
    }
}

gint64
fz_allocation_expires_at (FzAllocation *a)
{
  return a->state == STATE_ALLOCATED ? a->expires_at : 0;
}

gboolean
fz_allocation_is_server (FzAllocation *a, const FzSockAddr *from)
{
  for (guint i = 0; i < 2; i++)
    if (a->has_server[i] && fz_sock_addr_equal (&a->server[i], from))
      return TRUE;
  return FALSE;
}

/* Returns whether the mapped address changed from one known before. */
static gboolean
learn_addresses (FzAllocation *a, guint server, const FzStunMessage *m,
                 const FzSockAddr *local)
{
  if (local != NULL && local->ip.family == a->server[server].ip.family
      && !a->has_host[server])
    {
      a->host[server] = *local;
      a->has_host[server] = TRUE;
      candidate_event (a, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_HOST, local, local,
                       server);
    }
  FzSockAddr mapped;
  if (!fz_stun_message_get_xor_address (m, FZ_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &mapped)
      || mapped.ip.family != a->server[server].ip.family)
    return FALSE;
  if (a->has_srflx[server] && fz_sock_addr_equal (&a->srflx[server], &mapped))
    return FALSE;
  gboolean moved = a->has_srflx[server];
  if (moved)
    candidate_event (a, FZ_ALLOCATION_EVENT_INVALIDATED_CANDIDATE, FZ_ICE_SRFLX,
                     &a->srflx[server], &a->host[server], server);
  a->srflx[server] = mapped;
  a->has_srflx[server] = TRUE;
  /* A mapped address equal to the host address is no new candidate. */
  if (!a->has_host[server] || !fz_sock_addr_equal (&mapped, &a->host[server]))
    candidate_event (a, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_SRFLX, &mapped,
                     a->has_host[server] ? &a->host[server] : &mapped, server);
  return moved;
}

static void
on_binding_success (FzAllocation *a, Request *r, const FzStunMessage *m,
                    const FzSockAddr *local, gint64 now)
{
  gboolean moved = learn_addresses (a, r->server, m, local);
  if (a->state == STATE_BINDING)
    {
      /* Allocate on the family that answered first; ask for the other
       * family too when the relay has both. */
      a->alloc_server = r->server;
      send_allocate (a, dual_stack (a), now);
    }
  else if (((r->keepalive && r->attempts > 1) || (moved && r->server == a->alloc_server))
           && a->state == STATE_ALLOCATED)
    {
      /* The relay missed a keepalive: it may have restarted and lost our
       * allocation. Or our NAT gave us a new public address, and the
       * allocation belongs to the old one. A REFRESH tells at once. */
      send_refresh (a, DEFAULT_LIFETIME, FALSE, now);
    }
}

/* The lifetime an ALLOCATE or REFRESH answer granted (or @asked, when it
 * does not say): refresh at half of it. */
static void
set_lifetime (FzAllocation *a, const FzStunMessage *m, guint32 asked, gint64 now)
{
  guint32 lifetime = asked;
  fz_stun_message_get_u32 (m, FZ_STUN_ATTR_LIFETIME, &lifetime);
  gint64 us = (gint64) CLAMP (lifetime, 2, 3600) * G_USEC_PER_SEC;
  a->expires_at = now + us;
  a->refresh_at = now + us / 2;
}

static void
on_allocate_success (FzAllocation *a, const FzStunMessage *m, const FzSockAddr *local,
                     gint64 now)
{
  learn_addresses (a, a->alloc_server, m, local);

  for (guint k = 0; k < 2; k++)
    {
      FzSockAddr relayed;
      if (!fz_stun_message_get_xor_address (m, FZ_STUN_ATTR_XOR_RELAYED_ADDRESS, k,
                                            &relayed))
        break;
      guint i = family_index (relayed.ip.family);
      if (a->has_relayed[i])
        continue;
      a->relayed[i] = relayed;
      a->has_relayed[i] = TRUE;
      FzIceCandidate *c = &a->relay_candidate[i];
      fz_ice_candidate_init_local (c, FZ_ICE_RELAY, &relayed, &relayed,
                                   &a->server[a->alloc_server]);
      /* The related address of a relay candidate is the mapped one. */
      if (a->has_srflx[a->alloc_server])
        c->related = a->srflx[a->alloc_server];
      push_event (a, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, c, NULL);
    }
  if (!a->has_relayed[0] && !a->has_relayed[1])
    {
      fail (a, g_error_new (FZ_ALLOCATION_ERROR, FZ_ALLOCATION_ERROR_REFUSED,
                            "TURN allocation succeeded without a relayed address"));
      return;
    }
  a->state = STATE_ALLOCATED;
  set_lifetime (a, m, DEFAULT_LIFETIME, now);
  a->mismatches = 0;
  a->failure_reported = FALSE;
  a->retry_backoff = FZ_TURN_RETRY_MIN;
  a->keepalive_at = now + FZ_TURN_KEEPALIVE;
}

static void
on_success (FzAllocation *a, Request *r, const FzStunMessage *m, const FzSockAddr *local,
            gint64 now)
{
  switch (r->method)
    {
    case FZ_STUN_BINDING: on_binding_success (a, r, m, local, now); break;
    case FZ_STUN_ALLOCATE: on_allocate_success (a, m, local, now); break;
    case FZ_STUN_REFRESH:
      if (r->realloc)
        send_allocate (a, dual_stack (a), now);
      else if (a->state == STATE_ALLOCATED)
        set_lifetime (a, m, r->lifetime, now);
      break;
    case FZ_STUN_CHANNEL_BIND:
      {
        Channel *ch = g_hash_table_lookup (a->channels, GUINT_TO_POINTER (r->channel));
        if (ch != NULL)
          {
            ch->in_flight = FALSE;
            ch->bound_at = now;
          }
        break;
      }
    default: break;
    }
}

static void
remove_channel (FzAllocation *a, guint16 number)
{
  Channel *ch = g_hash_table_lookup (a->channels, GUINT_TO_POINTER (number));
  if (ch == NULL)
    return;
  if (g_hash_table_lookup (a->by_peer, &ch->peer) == ch)
    g_hash_table_remove (a->by_peer, &ch->peer);
  g_hash_table_remove (a->channels, GUINT_TO_POINTER (number));
}

/* @r once more with a new transaction: now with credentials. */
static void
request_again (FzAllocation *a, const Request *r, gint64 now)
{
  Request *again = request_new (a, r->method, r->server);
  again->lifetime = r->lifetime;
  again->dual = r->dual;
  again->realloc = r->realloc;
  again->channel = r->channel;
  again->peer = r->peer;
  again->retried_auth = TRUE;
  request_send (a, again, now);
}

/* 401 or 438: take the nonce (and realm) and send the request again,
 * or fail when the credentials are wrong. */
static void
on_auth_error (FzAllocation *a, Request *r, const FzStunMessage *m, guint code,
               const char *reason, const char *srv, gint64 now)
{
  g_autofree char *nonce = fz_stun_message_dup_string (m, FZ_STUN_ATTR_NONCE);
  g_autofree char *realm = fz_stun_message_dup_string (m, FZ_STUN_ATTR_REALM);
  /* 401 although we sent the current nonce: the credentials are wrong.
   * Also give up after one retry, so a confused server cannot make us
   * loop. */
  gboolean ours = code == FZ_STUN_ERR_UNAUTHORIZED && r->nonce != NULL
                  && (nonce == NULL || g_strcmp0 (nonce, r->nonce) == 0);
  if (ours || nonce == NULL || r->retried_auth)
    {
      fail (a, g_error_new (FZ_ALLOCATION_ERROR, FZ_ALLOCATION_ERROR_CREDENTIALS,
                            "TURN server %s rejected the username or password (%u %s)",
                            srv, code, reason));
      return;
    }
  g_free (a->nonce);
  a->nonce = g_steal_pointer (&nonce);
  if (realm != NULL && g_strcmp0 (realm, a->realm) != 0)
    {
      g_free (a->realm);
      a->realm = g_steal_pointer (&realm);
    }
  fz_stun_long_term_key (a->username, a->realm, a->password, a->key);
  request_again (a, r, now);
}

/* 437 on a live allocation: the relay no longer knows it. */
static void
reallocate (FzAllocation *a, gint64 now)
{
  forget_allocation (a);
  send_allocate (a, dual_stack (a), now);
}

static void
on_allocate_error (FzAllocation *a, Request *r, guint code, const char *reason,
                   const char *srv, gint64 now)
{
  if (code == FZ_STUN_ERR_ALLOCATION_MISMATCH && a->mismatches++ == 0)
    {
      /* An old allocation holds our 5-tuple: delete it, then allocate. */
      send_refresh (a, 0, TRUE, now);
      return;
    }
  if (code == FZ_STUN_ERR_ADDRESS_FAMILY && r->dual)
    {
      send_allocate (a, FALSE, now);
      return;
    }
  /* Quota, capacity or a confused server: unlike bad credentials, that
   * may pass, so try again later. */
  lost (a,
        g_error_new (FZ_ALLOCATION_ERROR, FZ_ALLOCATION_ERROR_REFUSED,
                     "TURN server %s refused the allocation (%u %s)", srv, code, reason),
        now);
}

static void
on_refresh_error (FzAllocation *a, Request *r, guint code, const char *reason,
                  const char *srv, gint64 now)
{
  if (r->realloc)
    {
      /* The old allocation could not be deleted: try once more anyway. */
      send_allocate (a, dual_stack (a), now);
      return;
    }
  if (a->state != STATE_ALLOCATED)
    return;
  if (code == FZ_STUN_ERR_ALLOCATION_MISMATCH)
    {
      reallocate (a, now);
      return;
    }
  lost (a,
        g_error_new (FZ_ALLOCATION_ERROR, FZ_ALLOCATION_ERROR_REFUSED,
                     "TURN server %s refused to refresh (%u %s)", srv, code, reason),
        now);
}

static void
on_channel_bind_error (FzAllocation *a, Request *r, guint code, const char *reason,
                       const char *srv, gint64 now)
{
  if (code == FZ_STUN_ERR_ALLOCATION_MISMATCH && a->state == STATE_ALLOCATED)
    {
      reallocate (a, now);
      return;
    }
  g_debug ("TURN server %s refused channel 0x%04x (%u %s)", srv, r->channel, code,
           reason);
  remove_channel (a, r->channel);
  /* A relay that restarted may answer 400, not 437, for an allocation it
   * forgot: a REFRESH now tells (its 437 allocates again). */
  if (a->state == STATE_ALLOCATED)
    a->refresh_at = MIN (a->refresh_at, now);
}

/* An error answer to @r (or a success we could not understand). */
static void
on_error (FzAllocation *a, Request *r, const FzStunMessage *m, guint code,
          const char *reason, gint64 now)
{
  char srv[FZ_SOCK_ADDR_STRLEN];
  server_str (a, r->server, srv);

  if (code == FZ_STUN_ERR_UNAUTHORIZED || code == FZ_STUN_ERR_STALE_NONCE)
    {
      on_auth_error (a, r, m, code, reason, srv, now);
      return;
    }
  switch (r->method)
    {
    case FZ_STUN_ALLOCATE: on_allocate_error (a, r, code, reason, srv, now); break;
    case FZ_STUN_REFRESH: on_refresh_error (a, r, code, reason, srv, now); break;
    case FZ_STUN_CHANNEL_BIND:
      on_channel_bind_error (a, r, code, reason, srv, now);
      break;
    case FZ_STUN_CREATE_PERMISSION:
      g_debug ("TURN server %s refused a permission (%u %s)", srv, code, reason);
      g_hash_table_remove (a->permissions, &r->peer.ip);
      break;
    default:
      g_debug ("TURN server %s answered a binding with %u %s", srv, code, reason);
      break;
    }
}

/* An answer to one of our requests. */
static void
handle_answer (FzAllocation *a, const FzSockAddr *local, const FzSockAddr *from,
               const FzStunMessage *m, gint64 now)
{
  Request *r = NULL;
  guint idx = 0;
  for (; idx < a->requests->len; idx++)
    {
      Request *c = g_ptr_array_index (a->requests, idx);
      if (memcmp (c->tid, m->tid, FZ_STUN_TID_LEN) == 0 && m->method == c->method
          && fz_sock_addr_equal (from, &a->server[c->server]))
        {
          r = c;
          break;
        }
    }
  if (r == NULL)
    return;

  /* Answers to authenticated requests must prove they know the key;
   * error answers before authentication (401, 438) cannot. */
  if (r->nonce != NULL && m->klass == FZ_STUN_SUCCESS
      && !fz_stun_message_check_integrity (m, a->key, sizeof a->key))
    {
      g_debug ("TURN: dropping an answer without valid MESSAGE-INTEGRITY");
      return;
    }

  g_ptr_array_steal_index (a->requests, idx);
  if (r->attempts == 1)
    a->rtt = now - r->first_sent;

  if (m->n_unknown > 0 && m->klass == FZ_STUN_SUCCESS)
    {
      /* RFC 8489 7.3.3: an answer with unknown comprehension-required
       * attributes fails its transaction. */
      on_error (a, r, m, FZ_STUN_ERR_UNKNOWN_ATTRIBUTE, "Unknown Attribute", now);
    }
  else if (m->klass == FZ_STUN_SUCCESS)
    on_success (a, r, m, local, now);
  else
    {
      guint code = 0;
      g_autofree char *reason = NULL;
      if (!fz_stun_message_get_error (m, &code, &reason))
        {
          code = FZ_STUN_ERR_BAD_REQUEST;
          reason = g_strdup ("error without ERROR-CODE");
        }
      on_error (a, r, m, code, reason, now);
    }
  request_free (r);
}

static gboolean
relayed_to (FzAllocation *a, const FzSockAddr *peer, FzRelayedData *out)
{
  guint i = family_index (peer->ip.family);
  if (!a->has_relayed[i])
    return FALSE;
  out->peer = *peer;
  out->relayed = a->relayed[i];
  return TRUE;
}

static gboolean
channel_data (FzAllocation *a, const guint8 *data, gsize len, FzRelayedData *out)
{
  guint16 number;
  const guint8 *payload;
  gsize plen;
  if (!fz_channel_data_parse (data, len, &number, &payload, &plen))
    return FALSE;
  Channel *ch = g_hash_table_lookup (a->channels, GUINT_TO_POINTER (number));
  if (ch == NULL || ch->expired || !relayed_to (a, &ch->peer, out))
    return FALSE;
  ch->used = TRUE;
  out->offset = (gsize) (payload - data);
  out->len = plen;
  return TRUE;
}

/* RFC 8656 11.4: XOR-PEER-ADDRESS and DATA, from a peer we asked a
 * permission for; indications with unknown comprehension-required
 * attributes are dropped (RFC 8489 6.3.2). */
static gboolean
data_indication (FzAllocation *a, const FzStunMessage *m, gint64 now, FzRelayedData *out)
{
  FzSockAddr peer;
  const FzStunAttr *d = fz_stun_message_find (m, FZ_STUN_ATTR_DATA);
  if (m->n_unknown > 0 || d == NULL
      || !fz_stun_message_get_xor_address (m, FZ_STUN_ATTR_XOR_PEER_ADDRESS, 0, &peer)
      || !permitted (a, &peer.ip, now) || !relayed_to (a, &peer, out))
    return FALSE;
  out->offset = d->offset;
  out->len = d->len;
  return TRUE;
}

FzAllocationInput
fz_allocation_handle_input (FzAllocation *a, const FzSockAddr *local,
                            const FzSockAddr *from, const guint8 *data, gsize len,
                            gint64 now, FzRelayedData *out)
{
  if (!fz_allocation_is_server (a, from))
    return FZ_ALLOCATION_INPUT_OTHER;
  /* Peer data only from where the allocation lives. */
  gboolean alloc_server = a->state == STATE_ALLOCATED
                          && fz_sock_addr_equal (from, &a->server[a->alloc_server]);
  if (fz_is_channel_data (data, len))
    return alloc_server && channel_data (a, data, len, out) ? FZ_ALLOCATION_INPUT_DATA
                                                            : FZ_ALLOCATION_INPUT_HANDLED;
  FzStunMessage m;
  g_autoptr (GError) error = NULL;
  if (!fz_stun_is_stun (data, len) || !fz_stun_message_parse (&m, data, len, &error))
    {
      g_debug ("TURN: dropping a message from the relay: %s",
               error ? error->message : "neither STUN nor ChannelData");
      return FZ_ALLOCATION_INPUT_HANDLED;
    }
  if (m.klass == FZ_STUN_SUCCESS || m.klass == FZ_STUN_ERROR)
    handle_answer (a, local, from, &m, now);
  else if (m.klass == FZ_STUN_INDICATION && m.method == FZ_STUN_DATA && alloc_server
           && data_indication (a, &m, now, out))
    return FZ_ALLOCATION_INPUT_DATA;
  return FZ_ALLOCATION_INPUT_HANDLED;
}

/* A number that is free: never used, or its binding ended more than the
 * reuse time ago (RFC 8656 12: not for another peer within 5 minutes of
 * the 10-minute expiry). */
static gboolean
channel_free_at (FzAllocation *a, guint16 number, gint64 now)
{
  Channel *ch = g_hash_table_lookup (a->channels, GUINT_TO_POINTER (number));
  if (ch == NULL)
    return TRUE;
  if (ch->expired && now - ch->bind_sent >= FZ_TURN_CHANNEL_REUSE)
    {
      g_hash_table_remove (a->channels, GUINT_TO_POINTER (number));
      return TRUE;
    }
  return FALSE;
}

static Channel *
channel_for_peer (FzAllocation *a, const FzSockAddr *peer, gint64 now)
{
  Channel *ch = g_hash_table_lookup (a->by_peer, peer);
  if (ch != NULL)
    return ch;

  /* An expired binding of this same peer may be renewed on its number. */
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, a->channels);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      Channel *old = value;
      if (old->expired && fz_sock_addr_equal (&old->peer, peer))
        {
          old->expired = FALSE;
          old->bound_at = 0;
          g_hash_table_insert (a->by_peer, &old->peer, old);
          send_channel_bind (a, old, now);
          return old;
        }
    }

  for (guint n = 0; n <= FZ_CHANNEL_MAX - FZ_CHANNEL_MIN; n++)
    {
      guint16 number = a->next_channel;
      a->next_channel = number == FZ_CHANNEL_MAX ? FZ_CHANNEL_MIN : number + 1;
      if (!channel_free_at (a, number, now))
        continue;
      ch = g_new0 (Channel, 1);
      ch->number = number;
      ch->peer = *peer;
      g_hash_table_insert (a->channels, GUINT_TO_POINTER (number), ch);
      g_hash_table_insert (a->by_peer, &ch->peer, ch);
      send_channel_bind (a, ch, now);
      return ch;
    }
  return NULL;
}

gboolean
fz_allocation_bind_channel (FzAllocation *a, const FzSockAddr *peer, gint64 now)
{
  if (a->state != STATE_ALLOCATED || !a->has_relayed[family_index (peer->ip.family)])
    return FALSE;
  return channel_for_peer (a, peer, now) != NULL;
}

gboolean
fz_allocation_create_permission (FzAllocation *a, const FzSockAddr *peer, gint64 now)
{
  if (a->state != STATE_ALLOCATED || !a->has_relayed[family_index (peer->ip.family)])
    return FALSE;
  send_create_permission (a, peer, now);
  return TRUE;
}

gboolean
fz_allocation_encapsulate (FzAllocation *a, const FzSockAddr *peer, FzPacketBuf *buf,
                           gint64 now, FzSockAddr *server)
{
  if (a->state != STATE_ALLOCATED || !a->has_relayed[family_index (peer->ip.family)]
      || buf->len > G_MAXUINT16)
    return FALSE;
  Channel *ch = channel_for_peer (a, peer, now);
  if (ch == NULL)
    return FALSE;
  gsize plen = buf->len;
  guint8 *h = fz_packet_buf_push (buf, FZ_CHANNEL_DATA_HEADER_LEN);
  if (h == NULL)
    return FALSE;
  fz_channel_data_write_header (h, ch->number, plen);
  ch->used = TRUE;
  *server = a->server[a->alloc_server];
  return TRUE;
}

guint16
fz_allocation_channel_for (FzAllocation *a, const FzSockAddr *peer)
{
  Channel *ch = g_hash_table_lookup (a->by_peer, peer);
  return ch != NULL ? ch->number : 0;
}

gboolean
fz_allocation_poll_transmit (FzAllocation *a, FzAllocationTransmit *out)
{
  return fz_transmit_queue_pop (&a->transmits, out);
}

gboolean
fz_allocation_poll_event (FzAllocation *a, FzAllocationEvent *out)
{
  FzAllocationEvent *e = g_queue_pop_head (&a->events);
  if (e == NULL)
    return FALSE;
  *out = *e;
  g_free (e);
  return TRUE;
}

gint64
fz_allocation_poll_timeout (FzAllocation *a)
{
  /* Only what handle_timeout acts on in this state: a keepalive or a
   * channel of a lost allocation, due while it allocates again, would
   * be due for ever. */
  gint64 t = a->state == STATE_FAILED ? a->retry_at : G_MAXINT64;
  for (guint i = 0; i < a->requests->len; i++)
    t = MIN (t, ((Request *) g_ptr_array_index (a->requests, i))->deadline);
  if (a->state != STATE_ALLOCATED)
    return t;
  t = MIN (t, MIN (a->refresh_at, a->keepalive_at));

  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, a->channels);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      Channel *ch = value;
      if (ch->expired)
        t = MIN (t, ch->bind_sent + FZ_TURN_CHANNEL_REUSE);
      else if (!ch->in_flight)
        t = MIN (t, ch->bind_sent
                      + (ch->used ? FZ_TURN_CHANNEL_REFRESH : FZ_TURN_CHANNEL_LIFE));
    }
  return t;
}

static void
request_timeout (FzAllocation *a, Request *r, gint64 now)
{
  char srv[FZ_SOCK_ADDR_STRLEN];
  server_str (a, r->server, srv);
  g_debug ("TURN: no answer from %s to %s after %u attempts", srv,
           r->method == FZ_STUN_BINDING ? "BINDING" : "a request", r->attempts);
  switch (r->method)
    {
    case FZ_STUN_BINDING:
      {
        /* The other family's server may still answer. */
        gboolean other = FALSE;
        for (guint i = 0; i < a->requests->len; i++)
          other |= ((Request *) g_ptr_array_index (a->requests, i))->method
                   == FZ_STUN_BINDING;
        if (a->state == STATE_BINDING && !other)
          lost (a,
                g_error_new (FZ_ALLOCATION_ERROR, FZ_ALLOCATION_ERROR_TIMEOUT,
                             "TURN server %s did not answer", srv),
                now);
        else if (a->state == STATE_ALLOCATED && r->server == a->alloc_server)
          lost (a,
                g_error_new (FZ_ALLOCATION_ERROR, FZ_ALLOCATION_ERROR_TIMEOUT,
                             "TURN server %s stopped answering", srv),
                now);
        break;
      }
    case FZ_STUN_CHANNEL_BIND: remove_channel (a, r->channel); break;
    case FZ_STUN_CREATE_PERMISSION:
      g_hash_table_remove (a->permissions, &r->peer.ip);
      break;
    default:
      lost (a,
            g_error_new (FZ_ALLOCATION_ERROR, FZ_ALLOCATION_ERROR_TIMEOUT,
                         "TURN server %s did not answer", srv),
            now);
      break;
    }
}

void
fz_allocation_handle_timeout (FzAllocation *a, gint64 now)
{
  /* Retransmissions and give-ups. fail() may empty the array. */
  for (guint i = 0; i < a->requests->len;)
    {
      Request *r = g_ptr_array_index (a->requests, i);
      if (r->deadline > now)
        {
          i++;
          continue;
        }
      if (r->attempts >= FZ_TURN_MAX_ATTEMPTS)
        {
          g_ptr_array_steal_index (a->requests, i);
          request_timeout (a, r, now);
          request_free (r);
          i = 0;
          continue;
        }
      r->attempts++;
      r->rto = r->rto * 3 / 2;
      r->deadline = now + r->rto;
      request_transmit (a, r);
      i++;
    }

  if (a->state == STATE_FAILED && now >= a->retry_at)
    start (a, now);
  if (a->state != STATE_ALLOCATED)
    return;

  if (now >= a->keepalive_at)
    {
      a->keepalive_at = now + FZ_TURN_KEEPALIVE;
      forget_lapsed_permissions (a, now);
      for (guint i = 0; i < 2; i++)
        if (a->has_server[i] && (a->has_srflx[i] || i == a->alloc_server))
          send_binding (a, i, TRUE, now);
    }
  if (now >= a->refresh_at)
    {
      a->refresh_at = G_MAXINT64; /* the answer sets the next one */
      send_refresh (a, DEFAULT_LIFETIME, FALSE, now);
    }

  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, a->channels);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      Channel *ch = value;
      if (ch->in_flight)
        continue;
      if (ch->expired)
        {
          if (now - ch->bind_sent >= FZ_TURN_CHANNEL_REUSE)
            g_hash_table_iter_remove (&it);
        }
      else if (ch->used && now - ch->bind_sent >= FZ_TURN_CHANNEL_REFRESH)
        send_channel_bind (a, ch, now);
      else if (now - ch->bind_sent >= FZ_TURN_CHANNEL_LIFE)
        {
          /* Unused for its whole life: let it lapse. */
          ch->expired = TRUE;
          g_hash_table_remove (a->by_peer, &ch->peer);
        }
    }
}

gboolean
fz_allocation_get_relayed (FzAllocation *a, guint8 family, FzSockAddr *out)
{
  guint i = family_index (family);
  if (!a->has_relayed[i])
    return FALSE;
  *out = a->relayed[i];
  return TRUE;
}

gboolean
fz_allocation_is_allocated (FzAllocation *a)
{
  return a->state == STATE_ALLOCATED;
}

gint64
fz_allocation_rtt (FzAllocation *a)
{
  return a->rtt;
}
