#include "fz-node.h"

#include "fz-allocation-private.h"
#include "fz-ice-agent-private.h"
#include "fz-ip-packet-build.h"
#include "fz-ip-packet.h"
#include "fz-stun-message-private.h"
#include "fz-timer-heap-private.h"
#include "fz-transmit-queue.h"
#include "fz-wg-device-private.h"

#include <sodium.h>
#include <string.h>

typedef struct
{
  char *id;
  FzAllocation *alloc;
  gboolean failed;
} Relay;

typedef struct _FzNodeConn Connection;

struct _FzNodeConn
{
  char *id;
  guint32 tag;
  guint8 remote_key[FZ_WG_KEY_LEN];
  guint8 psk[FZ_WG_KEY_LEN];
  char *remote_ufrag, *remote_pwd;
  FzIceAgent *agent;
  FzWgPeer *peer;
  Relay *relay; /* whose relay candidates it has, or NULL */
  GQueue buffered;
  GQueue early;                 /* WireGuard messages to send once a pair is selected */
  FzIceCandidate local, remote; /* the selected pair */
  gboolean selected, handshaken, established, idle;
  gint64 last_traffic;
  gint64 last_rekey;
  /* With 10 000 connections nothing may cost O(connections) per packet:
   * only connections marked dirty are drained, and timers come from a
   * heap of each connection's deadline. */
  gboolean dirty;
  FzTimer timer;
  /* Removed: only the id is left, kept until the event that says so is
   * polled, so that handles handed out before stay safe to pass back. */
  gboolean removed;
};

/* An event, and the removed connection it frees when polled. */
typedef struct
{
  FzNodeEvent pub;
  Connection *gone;
} QueuedEvent;

struct _FzNode
{
  gboolean controlling;
  FzRng *rng;
  FzBufPool *pool;
  FzWgDevice *wg;
  GHashTable *conns;    /* id -> Connection* (owns; not the removed ones) */
  GHashTable *by_ufrag; /* our ufrag -> Connection* */
  GHashTable *by_tag;   /* transaction tag -> Connection* */
  GHashTable *by_peer;  /* FzWgPeer* -> Connection* */
  GHashTable *relays;   /* id -> Relay* (owns) */
  GArray *locals;       /* FzIceCandidate: host and srflx, for every connection */
  GPtrArray *dirty;     /* Connection*: touched since the last drain */
  FzTimerHeap *timers;  /* Connection.timer */
  guint32 next_tag;
  gboolean no_relays_reported;
  gint64 relays_checked_at;  /* the last refresh after an ICE failure */
  FzTransmitQueue transmits; /* FzNodeTransmit */
  GQueue events;             /* QueuedEvent* */
  gsize mtu;
};

static void drain (FzNode *node, gint64 now);
static void drain_wg_transmits (FzNode *node, const FzSockAddr *at, const FzSockAddr *to,
                                gint64 now);

/* An event about @conn (NULL for the node); one about a removed
 * connection takes what is left of it. */
static void
push_event (FzNode *node, FzNodeEventType type, Connection *conn, const FzIceCandidate *c)
{
  QueuedEvent *e = g_new0 (QueuedEvent, 1);
  e->pub.type = type;
  e->pub.id = conn != NULL ? g_strdup (conn->id) : NULL;
  e->pub.conn = conn;
  if (c != NULL)
    e->pub.candidate = *c;
  if (conn != NULL && conn->removed)
    e->gone = conn;
  g_queue_push_tail (&node->events, e);
}

/* @c is freed now: queued events must not hand out its handle. */
static void
forget_in_events (FzNode *node, Connection *c)
{
  for (GList *l = node->events.head; l != NULL; l = l->next)
    if (((QueuedEvent *) l->data)->pub.conn == c)
      ((QueuedEvent *) l->data)->pub.conn = NULL;
}

static void
push_transmit (FzNode *node, const FzSockAddr *src, const FzSockAddr *dst,
               FzPacketBuf *buf, guint8 ecn)
{
  FzNodeTransmit t = { .src = *src, .dst = *dst, .buf = buf, .ecn = ecn };
  fz_transmit_queue_push (&node->transmits, &t);
}

static void
mark_dirty (FzNode *node, Connection *c)
{
  if (c->dirty)
    return;
  c->dirty = TRUE;
  g_ptr_array_add (node->dirty, c);
}

/* The earliest time the connection needs handle_timeout. The idle
 * deadline may be early (traffic since moved it), never late: handling
 * it then just finds the connection busy and computes it again. */
static void
update_deadline (FzNode *node, Connection *c)
{
  gint64 d = fz_ice_agent_poll_timeout (c->agent);
  if (!c->idle)
    d = MIN (d, c->last_traffic + FZ_NODE_IDLE_AFTER);
  fz_timer_heap_schedule (node->timers, &c->timer, d);
}

/* Our host address of that family (for the socket to send from). */
static FzSockAddr
host_of_family (FzNode *node, guint8 family)
{
  for (guint i = 0; i < node->locals->len; i++)
    {
      const FzIceCandidate *c = &g_array_index (node->locals, FzIceCandidate, i);
      if (c->type == FZ_ICE_HOST && c->addr.ip.family == family)
        return c->addr;
    }
  FzSockAddr none = { .ip.family = family };
  return none;
}

static Relay *
relay_by_relayed (FzNode *node, const FzSockAddr *addr)
{
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, node->relays);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Relay *r = v;
      FzSockAddr relayed;
      if (fz_allocation_get_relayed (r->alloc, addr->ip.family, &relayed)
          && fz_sock_addr_equal (&relayed, addr))
        return r;
    }
  return NULL;
}

static Relay *
relay_by_server (FzNode *node, const FzSockAddr *from)
{
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, node->relays);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (fz_allocation_is_server (((Relay *) v)->alloc, from))
      return v;
  return NULL;
}

/* Where a datagram for @dst (the peer's address) goes when sent from
 * @src: from our host address straight to the peer, or, when @src is one
 * of our relayed addresses, to that relay as ChannelData (framed in
 * place). @relayed says whether @src can be relayed at all, to skip the
 * lookup on the direct path. FALSE if the relay cannot take it. */
static gboolean
frame_for_path (FzNode *node, const FzSockAddr *src, gboolean relayed, FzPacketBuf *buf,
                const FzSockAddr *dst, gint64 now, FzSockAddr *out_src,
                FzSockAddr *out_dst)
{
  Relay *r = relayed ? relay_by_relayed (node, src) : NULL;
  if (r == NULL)
    {
      *out_src = *src;
      *out_dst = *dst;
      return TRUE;
    }
  if (!fz_allocation_encapsulate (r->alloc, dst, buf, now, out_dst))
    return FALSE;
  *out_src = host_of_family (node, out_dst->ip.family);
  return TRUE;
}

/* Queues @buf for sending from @src to @dst that way. Takes @buf. */
static void
route (FzNode *node, FzPacketBuf *buf, const FzSockAddr *src, gboolean relayed,
       const FzSockAddr *dst, gint64 now)
{
  FzSockAddr from, to;
  if (frame_for_path (node, src, relayed, buf, dst, now, &from, &to))
    push_transmit (node, &from, &to, buf, 0);
  else
    fz_packet_buf_free (buf);
}

/* Traffic, or a new path to check: the connection leaves idle, so that
 * its checks and consent run at the pace of an active one (a candidate
 * that comes or goes means a NAT rebound or a relay changed, and the
 * selected pair may be dead while idle consent would take 100 s). */
static void
touch (FzNode *node, Connection *c, gint64 now)
{
  c->last_traffic = now;
  if (c->idle)
    {
      c->idle = FALSE;
      mark_dirty (node, c);
      fz_ice_agent_set_timeouts (c->agent,
                                 fz_ice_agent_is_controlling (c->agent)
                                   ? &fz_ice_client_default
                                   : &fz_ice_gateway_default,
                                 now);
    }
}

static void
connection_add_local (FzNode *node, Connection *c, const FzIceCandidate *cand, gint64 now)
{
  mark_dirty (node, c);
  if (fz_ice_agent_add_local_candidate (c->agent, cand, now))
    {
      touch (node, c, now);
      push_event (node, FZ_NODE_EVENT_NEW_CANDIDATE, c, cand);
    }
}

static void
connection_remove_local (FzNode *node, Connection *c, const FzIceCandidate *cand,
                         gint64 now)
{
  touch (node, c, now);
  fz_ice_agent_remove_local_candidate (c->agent, cand, now);
  push_event (node, FZ_NODE_EVENT_INVALIDATED_CANDIDATE, c, cand);
}

static void
relay_candidates (Relay *r, FzIceCandidate out[2], guint *n)
{
  *n = 0;
  for (guint8 fam = 4; fam <= 6; fam += 2)
    {
      FzSockAddr relayed;
      if (r == NULL || !fz_allocation_get_relayed (r->alloc, fam, &relayed))
        continue;
      fz_ice_candidate_init_local (&out[(*n)++], FZ_ICE_RELAY, &relayed, &relayed, NULL);
    }
}

/* The usable relay with the lowest RTT. */
static Relay *
best_relay (FzNode *node)
{
  Relay *best = NULL;
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, node->relays);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Relay *r = v;
      if (!fz_allocation_is_allocated (r->alloc))
        continue;
      gint64 rtt = fz_allocation_rtt (r->alloc);
      gint64 brtt = best ? fz_allocation_rtt (best->alloc) : 0;
      if (best == NULL || (rtt >= 0 && (brtt < 0 || rtt < brtt))
          || (rtt == brtt && strcmp (r->id, best->id) < 0))
        best = r;
    }
  return best;
}

/* Gives @c the relay candidates of the best relay, if it has none. */
static void
assign_relay (FzNode *node, Connection *c, gint64 now)
{
  if (c->relay != NULL)
    return;
  c->relay = best_relay (node);
  FzIceCandidate rc[2];
  guint n;
  relay_candidates (c->relay, rc, &n);
  for (guint i = 0; i < n; i++)
    connection_add_local (node, c, &rc[i], now);
}

/* Takes @c out of every index and frees all it has but its id: what an
 * upsert replaces, and what a removal drops at once. */
static void
connection_clear (FzNode *node, Connection *c)
{
  g_hash_table_remove (node->by_ufrag, fz_ice_agent_local_ufrag (c->agent));
  g_hash_table_remove (node->by_tag, GUINT_TO_POINTER (c->tag));
  g_hash_table_remove (node->by_peer, c->peer);
  fz_timer_heap_cancel (node->timers, &c->timer);
  if (c->dirty)
    g_ptr_array_remove_fast (node->dirty, c);
  fz_wg_device_remove_peer (node->wg, c->peer);
  g_queue_clear_full (&c->buffered, (GDestroyNotify) fz_packet_buf_free);
  g_queue_clear_full (&c->early, (GDestroyNotify) fz_packet_buf_free);
  fz_ice_agent_free (c->agent);
  g_free (c->remote_ufrag);
  if (c->remote_pwd != NULL)
    sodium_memzero (c->remote_pwd, strlen (c->remote_pwd));
  g_free (c->remote_pwd);
  char *id = c->id;
  sodium_memzero (c, sizeof *c); /* the PSK too */
  c->id = id;
}

static void
connection_free (Connection *c)
{
  g_free (c->id);
  g_free (c);
}

/* Leaves the id, for the caller to free (forget_in_events first) or to
 * hand to the event that says it is gone. */
static void
remove_connection (FzNode *node, Connection *c)
{
  connection_clear (node, c);
  g_hash_table_steal (node->conns, c->id);
  c->removed = TRUE;
}

static void
fail_connection (FzNode *node, Connection *c)
{
  remove_connection (node, c);
  push_event (node, FZ_NODE_EVENT_FAILED, c, NULL);
}

FzNode *
fz_node_new (gboolean controlling, const guint8 priv[FZ_WG_KEY_LEN], FzRng *rng,
             FzBufPool *pool, gint64 now)
{
  FzNode *node = g_new0 (FzNode, 1);
  node->controlling = controlling;
  node->rng = rng;
  node->pool = pool;
  node->wg = fz_wg_device_new (priv, rng, pool);
  fz_wg_device_set_rekey_attempt_time (node->wg, FZ_WG_REKEY_ATTEMPT_ICE);
  node->conns = g_hash_table_new (g_str_hash, g_str_equal);
  node->by_ufrag = g_hash_table_new (g_str_hash, g_str_equal);
  node->by_tag = g_hash_table_new (g_direct_hash, g_direct_equal);
  node->by_peer = g_hash_table_new (g_direct_hash, g_direct_equal);
  node->relays = g_hash_table_new (g_str_hash, g_str_equal);
  node->locals = g_array_new (FALSE, FALSE, sizeof (FzIceCandidate));
  node->dirty = g_ptr_array_new ();
  node->timers = fz_timer_heap_new ();
  node->next_tag = fz_rng_u32 (rng) | 1;
  fz_transmit_queue_init (&node->transmits, FzNodeTransmit);
  g_queue_init (&node->events);
  return node;
}

static void
relay_free (Relay *r)
{
  fz_allocation_free (r->alloc);
  g_free (r->id);
  g_free (r);
}

static void
event_free (QueuedEvent *e)
{
  if (e->gone != NULL)
    connection_free (e->gone);
  g_free (e->pub.id);
  g_free (e);
}

void
fz_node_free (FzNode *node)
{
  if (node == NULL)
    return;
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, node->conns);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      connection_clear (node, v);
      connection_free (v);
    }
  g_hash_table_unref (node->conns);
  g_ptr_array_unref (node->dirty);
  fz_timer_heap_free (node->timers);
  g_hash_table_unref (node->by_ufrag);
  g_hash_table_unref (node->by_tag);
  g_hash_table_unref (node->by_peer);
  g_hash_table_iter_init (&it, node->relays);
  while (g_hash_table_iter_next (&it, NULL, &v))
    relay_free (v);
  g_hash_table_unref (node->relays);
  g_array_unref (node->locals);
  fz_transmit_queue_clear (&node->transmits);
  g_queue_clear_full (&node->events, (GDestroyNotify) event_free);
  fz_wg_device_free (node->wg);
  g_free (node);
}

const guint8 *
fz_node_public_key (FzNode *node)
{
  return fz_wg_device_public_key (node->wg);
}

static void
add_local_everywhere (FzNode *node, const FzIceCandidate *cand, gint64 now)
{
  for (guint i = 0; i < node->locals->len; i++)
    if (fz_ice_candidate_equal (&g_array_index (node->locals, FzIceCandidate, i), cand))
      return;
  g_array_append_val (node->locals, *cand);
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, node->conns);
  while (g_hash_table_iter_next (&it, NULL, &v))
    connection_add_local (node, v, cand, now);
}

static void
remove_local_everywhere (FzNode *node, const FzIceCandidate *cand, gint64 now)
{
  for (guint i = 0; i < node->locals->len; i++)
    if (fz_ice_candidate_equal (&g_array_index (node->locals, FzIceCandidate, i), cand))
      {
        g_array_remove_index (node->locals, i);
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init (&it, node->conns);
        while (g_hash_table_iter_next (&it, NULL, &v))
          connection_remove_local (node, v, cand, now);
        return;
      }
}

void
fz_node_add_host_address (FzNode *node, const FzSockAddr *addr, gint64 now)
{
  FzIceCandidate c;
  fz_ice_candidate_init_local (&c, FZ_ICE_HOST, addr, addr, NULL);
  add_local_everywhere (node, &c, now);
  drain (node, now);
}

/* The connections on @r lose its candidates and move to the best other
 * relay. */
static void
migrate_from (FzNode *node, Relay *r, const FzIceCandidate *gone, guint n_gone,
              gint64 now)
{
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, node->conns);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Connection *c = v;
      if (c->relay != r)
        continue;
      for (guint i = 0; i < n_gone; i++)
        connection_remove_local (node, c, &gone[i], now);
      c->relay = NULL;
      if (best_relay (node) != r)
        assign_relay (node, c, now);
    }
}

void
fz_node_update_relays (FzNode *node, const FzNodeRelay *add, guint n_add,
                       const char *const *remove, guint n_remove, gint64 now)
{
  for (guint i = 0; i < n_remove; i++)
    {
      Relay *r = g_hash_table_lookup (node->relays, remove[i]);
      if (r == NULL)
        continue;
      FzIceCandidate gone[2];
      guint n;
      relay_candidates (r, gone, &n);
      g_hash_table_remove (node->relays, remove[i]);
      migrate_from (node, r, gone, n, now);
      relay_free (r);
    }
  for (guint i = 0; i < n_add; i++)
    {
      if (g_hash_table_contains (node->relays, add[i].id))
        continue;
      Relay *r = g_new0 (Relay, 1);
      r->id = g_strdup (add[i].id);
      r->alloc = fz_allocation_new (add[i].v4, add[i].v6, add[i].username,
                                    add[i].password, add[i].realm, node->rng, now);
      g_hash_table_insert (node->relays, r->id, r);
    }
  if (g_hash_table_size (node->relays) > 0)
    node->no_relays_reported = FALSE;
  else if (!node->no_relays_reported)
    {
      node->no_relays_reported = TRUE;
      push_event (node, FZ_NODE_EVENT_NO_RELAYS, NULL, NULL);
    }
  drain (node, now);
}

static gboolean
same_params (const Connection *c, const FzNodeConnectionParams *p)
{
  return sodium_memcmp (c->remote_key, p->remote_key, FZ_WG_KEY_LEN) == 0
         && sodium_memcmp (c->psk, p->psk, FZ_WG_KEY_LEN) == 0
         && g_strcmp0 (fz_ice_agent_local_ufrag (c->agent), p->local_ufrag) == 0
         && g_strcmp0 (fz_ice_agent_local_pwd (c->agent), p->local_pwd) == 0
         && g_strcmp0 (c->remote_ufrag, p->remote_ufrag) == 0
         && g_strcmp0 (c->remote_pwd, p->remote_pwd) == 0;
}

/* Fills a cleared @c (its id set) for @p: WireGuard peer, ICE agent,
 * indices and local candidates. */
static gboolean
connection_setup (FzNode *node, Connection *c, const FzNodeConnectionParams *p,
                  gint64 now, GError **error)
{
  c->peer = fz_wg_device_add_peer (node->wg, p->remote_key, p->psk, error);
  if (c->peer == NULL)
    return FALSE;
  memcpy (c->remote_key, p->remote_key, FZ_WG_KEY_LEN);
  memcpy (c->psk, p->psk, FZ_WG_KEY_LEN);
  c->remote_ufrag = g_strdup (p->remote_ufrag);
  c->remote_pwd = g_strdup (p->remote_pwd);
  c->agent = fz_ice_agent_new (
    node->controlling,
    node->controlling ? &fz_ice_client_default : &fz_ice_gateway_default, node->rng, now);
  fz_ice_agent_set_local_credentials (c->agent, p->local_ufrag, p->local_pwd);
  fz_ice_agent_set_remote_credentials (c->agent, p->remote_ufrag, p->remote_pwd);
  do
    c->tag = node->next_tag++;
  while (c->tag == 0 || g_hash_table_contains (node->by_tag, GUINT_TO_POINTER (c->tag)));
  fz_ice_agent_set_tag (c->agent, c->tag);
  c->last_traffic = now;
  c->last_rekey = now;
  g_queue_init (&c->buffered);
  g_queue_init (&c->early);

  g_hash_table_insert (node->by_ufrag, (gpointer) fz_ice_agent_local_ufrag (c->agent), c);
  g_hash_table_insert (node->by_tag, GUINT_TO_POINTER (c->tag), c);
  g_hash_table_insert (node->by_peer, c->peer, c);
  mark_dirty (node, c);

  /* Host and srflx first, then the relay's: best first. */
  g_autoptr (GArray) sorted = g_array_copy (node->locals);
  g_array_sort (sorted, fz_ice_candidate_compare);
  for (guint i = 0; i < sorted->len; i++)
    connection_add_local (node, c, &g_array_index (sorted, FzIceCandidate, i), now);
  assign_relay (node, c, now);
  return TRUE;
}

gboolean
fz_node_upsert_connection (FzNode *node, const char *id, const FzNodeConnectionParams *p,
                           gint64 now, GError **error)
{
  Connection *c = g_hash_table_lookup (node->conns, id);
  if (c != NULL && same_params (c, p))
    {
      /* Same peer, same everything: refresh the session, not the path.
       * The other side may have reset and forgotten our candidates (the
       * portal hands out the same credentials again): signal them all. */
      if (c->selected && now - c->last_rekey >= FZ_NODE_REKEY_DEBOUNCE)
        {
          c->last_rekey = now;
          fz_wg_peer_initiate (c->peer, now);
        }
      g_autoptr (GArray) locals = fz_ice_agent_local_candidates (c->agent);
      for (guint i = 0; i < locals->len; i++)
        push_event (node, FZ_NODE_EVENT_NEW_CANDIDATE, c,
                    &g_array_index (locals, FzIceCandidate, i));
      drain (node, now);
      return TRUE;
    }
  /* A changed one is replaced in place: its handle stays. */
  if (c != NULL)
    connection_clear (node, c);
  else
    {
      c = g_new0 (Connection, 1);
      c->id = g_strdup (id);
      g_hash_table_insert (node->conns, c->id, c);
    }
  if (!connection_setup (node, c, p, now, error))
    {
      g_hash_table_remove (node->conns, c->id);
      forget_in_events (node, c);
      connection_free (c);
      return FALSE;
    }
  drain (node, now);
  return TRUE;
}

gboolean
fz_node_add_remote_candidate (FzNode *node, const char *id, const FzIceCandidate *cand,
                              gint64 now)
{
  Connection *c = g_hash_table_lookup (node->conns, id);
  if (c == NULL || !fz_ice_agent_add_remote_candidate (c->agent, cand, now))
    return FALSE;
  touch (node, c, now);
  mark_dirty (node, c);
  /* Reach a non-host candidate through our relay: binding the channel
   * now saves a round trip later. */
  if (cand->type != FZ_ICE_HOST && c->relay != NULL)
    fz_allocation_bind_channel (c->relay->alloc, &cand->addr, now);
  drain (node, now);
  return TRUE;
}

void
fz_node_remove_remote_candidate (FzNode *node, const char *id, const FzIceCandidate *cand,
                                 gint64 now)
{
  Connection *c = g_hash_table_lookup (node->conns, id);
  if (c == NULL)
    return;
  touch (node, c, now);
  mark_dirty (node, c);
  fz_ice_agent_remove_remote_candidate (c->agent, cand, now);
  drain (node, now);
}

static void
send_goodbye (FzNode *node, Connection *c, gint64 now)
{
  if (!c->selected)
    return;
  FzPacketBuf *buf = fz_buf_pool_alloc (node->pool);
  FzIpPacket pkt;
  FzSockAddr dst;
  if (!fz_ip_build_control (buf, &pkt, FZ_CONTROL_GOODBYE, NULL, 0, NULL))
    {
      fz_packet_buf_free (buf);
      return;
    }
  switch (fz_wg_peer_encapsulate (c->peer, buf, now, &dst))
    {
    case FZ_WG_SEND_NOW:
      route (node, buf, &c->local.base, c->local.type == FZ_ICE_RELAY, &c->remote.addr,
             now);
      break;
    case FZ_WG_SEND_QUEUED:
      break; /* no session: the peer (and the goodbye) go away together */
    case FZ_WG_SEND_DROPPED: fz_packet_buf_free (buf); break;
    }
}

void
fz_node_close_connection (FzNode *node, const char *id, gint64 now)
{
  Connection *c = g_hash_table_lookup (node->conns, id);
  if (c == NULL)
    return;
  send_goodbye (node, c, now);
  remove_connection (node, c);
  forget_in_events (node, c);
  connection_free (c);
  drain (node, now);
}

void
fz_node_reset (FzNode *node, gint64 now)
{
  GHashTableIter it;
  gpointer v;
  g_autoptr (GPtrArray) all = g_ptr_array_new ();
  g_hash_table_iter_init (&it, node->conns);
  while (g_hash_table_iter_next (&it, NULL, &v))
    g_ptr_array_add (all, v);
  for (guint i = 0; i < all->len; i++)
    fail_connection (node, all->pdata[i]);
  g_array_set_size (node->locals, 0);
  g_hash_table_iter_init (&it, node->relays);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      ((Relay *) v)->failed = FALSE;
      fz_allocation_reset (((Relay *) v)->alloc, now);
    }
  drain (node, now);
}

gboolean
fz_node_has_connection (FzNode *node, const char *id)
{
  return g_hash_table_contains (node->conns, id);
}

FzNodeConn *
fz_node_lookup (FzNode *node, const char *id)
{
  return g_hash_table_lookup (node->conns, id);
}

const char *
fz_node_conn_id (const FzNodeConn *conn)
{
  return conn->id;
}

gboolean
fz_node_is_established (FzNode *node, const char *id)
{
  Connection *c = g_hash_table_lookup (node->conns, id);
  return c != NULL && c->established;
}

static FzNodePath
path_of (const Connection *c)
{
  if (!c->selected)
    return FZ_NODE_PATH_NONE;
  if (c->local.type == FZ_ICE_RELAY || c->remote.type == FZ_ICE_RELAY)
    return FZ_NODE_PATH_RELAYED;
  return FZ_NODE_PATH_DIRECT;
}

gboolean
fz_node_is_relayed (FzNode *node, const char *id)
{
  Connection *c = g_hash_table_lookup (node->conns, id);
  return c != NULL && path_of (c) == FZ_NODE_PATH_RELAYED;
}

guint
fz_node_n_connections (FzNode *node)
{
  return g_hash_table_size (node->conns);
}

gboolean
fz_node_get_stats (FzNode *node, const FzNodeConn *c, FzNodeStats *out)
{
  if (c == NULL || c->removed)
    return FALSE;
  FzWgPeerStats ws;
  fz_wg_peer_get_stats (c->peer, &ws);
  *out = (FzNodeStats){
    .tx_bytes = ws.tx_bytes,
    .rx_bytes = ws.rx_bytes,
    .tx_packets = ws.tx_packets,
    .rx_packets = ws.rx_packets,
    .last_handshake_wall_us = ws.last_handshake_wall_us,
    .established = c->established,
    .path = path_of (c),
  };
  if (out->path == FZ_NODE_PATH_NONE)
    return TRUE;
  out->local = c->local;
  out->remote = c->remote;
  if (c->local.type == FZ_ICE_RELAY)
    {
      Relay *r = relay_by_relayed (node, &c->local.base);
      out->relay_id = r != NULL ? r->id : NULL;
    }
  return TRUE;
}

void
fz_node_set_wall_clock (FzNode *node, gint64 wall_us, gint64 now)
{
  fz_wg_device_set_wall_offset (node->wg, wall_us - now);
}

void
fz_node_set_mtu (FzNode *node, gsize mtu)
{
  node->mtu = mtu;
  fz_wg_device_set_mtu (node->wg, mtu);
}

gsize
fz_node_get_mtu (FzNode *node)
{
  return node->mtu;
}

void
fz_node_set_under_load_threshold (FzNode *node, guint per_second)
{
  fz_wg_device_set_under_load_threshold (node->wg, per_second);
}

static FzNodeSend
send_data (FzNode *node, Connection *c, FzPacketBuf *buf, gint64 now, FzNodeTransmit *out)
{
  guint8 ecn = fz_ip_header_ecn (buf->data, buf->len);
  FzSockAddr dst;
  switch (fz_wg_peer_encapsulate (c->peer, buf, now, &dst))
    {
    case FZ_WG_SEND_NOW: break;
    case FZ_WG_SEND_QUEUED: return FZ_NODE_QUEUED;
    default: return FZ_NODE_DROPPED;
    }
  /* The selected pair, not WireGuard's endpoint: that roams to wherever
   * the peer last spoke from, maybe its side of another pair, which need
   * not work from our side of this one. */
  if (!frame_for_path (node, &c->local.base, c->local.type == FZ_ICE_RELAY, buf,
                       &c->remote.addr, now, &out->src, &out->dst))
    return FZ_NODE_DROPPED;
  out->buf = buf;
  out->ecn = ecn;
  return FZ_NODE_SEND;
}

/* One packet, without the drain: the path, or the wait for one. */
static FzNodeSend
encapsulate_one (FzNode *node, Connection *c, FzPacketBuf *buf, gint64 now,
                 FzNodeTransmit *out)
{
  if (c == NULL || c->removed)
    return FZ_NODE_DROPPED;
  touch (node, c, now);
  if (!c->selected)
    {
      if (g_queue_get_length (&c->buffered) >= FZ_NODE_MAX_BUFFERED)
        return FZ_NODE_DROPPED;
      g_queue_push_tail (&c->buffered, buf);
      return FZ_NODE_QUEUED;
    }
  return send_data (node, c, buf, now, out);
}

FzNodeSend
fz_node_encapsulate_conn (FzNode *node, FzNodeConn *conn, FzPacketBuf *buf, gint64 now,
                          FzNodeTransmit *out)
{
  FzNodeSend r = encapsulate_one (node, conn, buf, now, out);
  drain (node, now);
  return r;
}

FzNodeSend
fz_node_encapsulate (FzNode *node, const char *id, FzPacketBuf *buf, gint64 now,
                     FzNodeTransmit *out)
{
  return fz_node_encapsulate_conn (node, g_hash_table_lookup (node->conns, id), buf, now,
                                   out);
}

static void
handle_stun (FzNode *node, const FzSockAddr *local, const FzSockAddr *from,
             const guint8 *data, gsize len, gint64 now)
{
  FzStunMessage m;
  if (!fz_stun_message_parse (&m, data, len, NULL))
    return;
  Connection *c = NULL;
  if (m.klass == FZ_STUN_REQUEST)
    {
      /* USERNAME is "ours:theirs". */
      const FzStunAttr *u = fz_stun_message_find (&m, FZ_STUN_ATTR_USERNAME);
      const guint8 *colon = u ? memchr (data + u->offset, ':', u->len) : NULL;
      if (colon != NULL)
        {
          g_autofree char *ufrag
            = g_strndup ((const char *) data + u->offset, colon - (data + u->offset));
          c = g_hash_table_lookup (node->by_ufrag, ufrag);
        }
    }
  else
    c = g_hash_table_lookup (node->by_tag, GUINT_TO_POINTER (fz_ice_tid_tag (m.tid)));
  if (c != NULL)
    {
      mark_dirty (node, c);
      fz_ice_agent_handle_stun (c->agent, local, from, &m, now);
    }
}

typedef enum
{
  DGRAM_OTHER,
  DGRAM_STUN,
  DGRAM_CHANNEL_DATA,
  DGRAM_WIREGUARD,
} DgramKind;

/* One look at the first byte (RFC 7983): 0-3 STUN, 64-79 ChannelData;
 * WireGuard's types 1-4 are a little-endian word, so three zero bytes
 * follow. Types 1-3 share STUN's range; no WireGuard message passes
 * STUN's header check (its length field would be 0, and none is 20
 * bytes long). */
static DgramKind
classify (const guint8 *data, gsize len)
{
  if (len < 4)
    return DGRAM_OTHER;
  gboolean wg_type = data[1] == 0 && data[2] == 0 && data[3] == 0;
  switch (data[0])
    {
    case 0: return fz_stun_is_stun (data, len) ? DGRAM_STUN : DGRAM_OTHER;
    case 1:
    case 2:
    case 3:
      if (fz_stun_is_stun (data, len))
        return DGRAM_STUN;
      return wg_type ? DGRAM_WIREGUARD : DGRAM_OTHER;
    case 4: return wg_type ? DGRAM_WIREGUARD : DGRAM_OTHER;
    default: return data[0] >= 64 && data[0] <= 79 ? DGRAM_CHANNEL_DATA : DGRAM_OTHER;
    }
}

/* A datagram from relay @r: its own messages stop here (FALSE); peer data
 * is unwrapped in place, as if it came from *peer to our relayed
 * address *at. */
static gboolean
unwrap_relayed (Relay *r, const FzSockAddr *local, const FzSockAddr *from,
                FzPacketBuf *buf, gint64 now, FzSockAddr *peer, FzSockAddr *at)
{
  FzRelayedData d;
  if (fz_allocation_handle_input (r->alloc, local, from, buf->data, buf->len, now, &d)
      != FZ_ALLOCATION_INPUT_DATA)
    return FALSE;
  fz_packet_buf_pull (buf, d.offset);
  fz_packet_buf_trim (buf, d.len);
  *peer = d.peer;
  *at = d.relayed;
  return TRUE;
}

/* Only an IPv6 header with next header 255 can be a control packet: the
 * data path does not parse packets it will hand on anyway. TRUE if @buf
 * was a goodbye (which removes @c); the other control messages are the
 * policy's (assigned_ips, domain_status) and go up like data. */
static gboolean
handle_control (FzNode *node, Connection *c, FzPacketBuf *buf)
{
  FzIpPacket pkt;
  if (buf->len < 40 || (buf->data[0] >> 4) != 6 || buf->data[6] != FZ_IP_PROTO_CONTROL
      || fz_ip_packet_parse (&pkt, buf->data, buf->len, FZ_IP_MTU_TUNNEL) != FZ_IP_OK
      || !fz_ip_packet_is_control (&pkt)
      || fz_ip_packet_control_type (&pkt) != FZ_CONTROL_GOODBYE)
    return FALSE;
  g_debug ("node: %s said goodbye", c->id);
  remove_connection (node, c);
  push_event (node, FZ_NODE_EVENT_CLOSED, c, NULL);
  return TRUE;
}

/* @from: the peer as it reached us at @at (our relayed address when it
 * came through a relay). */
static FzNodeRx
handle_wireguard (FzNode *node, const FzSockAddr *at, const FzSockAddr *from,
                  FzPacketBuf *buf, gint64 now, Connection **conn)
{
  FzWgPeer *wp = NULL;
  FzWgRxError err;
  FzWgRx rx = fz_wg_device_decapsulate (node->wg, from, buf, now, &wp, &err);
  /* Under load: the cookie reply it queued (last) knows no peer and so
   * no path; it goes back the way the initiation came. */
  if (err == FZ_WG_RX_COOKIE_SENT)
    drain_wg_transmits (node, at, from, now);
  Connection *c = wp ? g_hash_table_lookup (node->by_peer, wp) : NULL;
  if (rx != FZ_WG_RX_PACKET || c == NULL || handle_control (node, c, buf))
    return FZ_NODE_RX_NOTHING;
  touch (node, c, now);
  *conn = c;
  return FZ_NODE_RX_PACKET;
}

static FzNodeRx
decapsulate_one (FzNode *node, const FzSockAddr *local, const FzSockAddr *from,
                 FzPacketBuf *buf, gint64 now, Connection **conn)
{
  FzSockAddr peer = *from, at = *local;
  DgramKind kind = classify (buf->data, buf->len);

  /* Only STUN and ChannelData can be a relay's; what it relays is sorted
   * again, and may not be ChannelData once more. */
  if (kind == DGRAM_STUN || kind == DGRAM_CHANNEL_DATA)
    {
      Relay *r = relay_by_server (node, from);
      if (r != NULL)
        {
          if (!unwrap_relayed (r, local, from, buf, now, &peer, &at))
            return FZ_NODE_RX_NOTHING;
          kind = classify (buf->data, buf->len);
        }
    }
  switch (kind)
    {
    case DGRAM_STUN:
      handle_stun (node, &at, &peer, buf->data, buf->len, now);
      return FZ_NODE_RX_NOTHING;
    case DGRAM_WIREGUARD: return handle_wireguard (node, &at, &peer, buf, now, conn);
    default: return FZ_NODE_RX_NOTHING;
    }
}

FzNodeRx
fz_node_decapsulate (FzNode *node, const FzSockAddr *local, const FzSockAddr *from,
                     FzPacketBuf *buf, gint64 now, FzNodeConn **conn)
{
  *conn = NULL;
  FzNodeRx rx = decapsulate_one (node, local, from, buf, now, conn);
  drain (node, now);
  return rx;
}

void
fz_node_decapsulate_batch (FzNode *node, const FzSockAddr *local, const FzSockAddr *from,
                           FzPacketBuf *const *bufs, guint n, gint64 now,
                           FzNodeRxResult *results)
{
  for (guint i = 0; i < n; i++)
    {
      results[i].conn = NULL;
      results[i].rx
        = decapsulate_one (node, &local[i], &from[i], bufs[i], now, &results[i].conn);
    }
  drain (node, now);
}

void
fz_node_encapsulate_batch (FzNode *node, FzNodeConn *conn, FzPacketBuf *const *bufs,
                           guint n, gint64 now, FzNodeSend *results, FzNodeTransmit *out)
{
  for (guint i = 0; i < n; i++)
    results[i] = encapsulate_one (node, conn, bufs[i], now, &out[i]);
  drain (node, now);
}

static void
on_selected (FzNode *node, Connection *c, const FzIceEvent *e, gint64 now)
{
  gboolean first = !c->selected;
  FzNodePath before = path_of (c);
  c->selected = TRUE;
  c->local = e->local;
  c->remote = e->remote;
  /* Said once a connection is up: "connected" told the first path. */
  if (c->established && path_of (c) != before)
    g_info ("connection %s is %s now", c->id,
            path_of (c) == FZ_NODE_PATH_DIRECT ? "direct" : "relayed");
  fz_wg_peer_set_endpoint (c->peer, &e->remote.addr);
  if (first && node->controlling)
    fz_wg_peer_initiate (c->peer, now);
  /* What waited for a path goes out now (WireGuard holds it until the
   * handshake is done). */
  FzPacketBuf *buf;
  while ((buf = g_queue_pop_head (&c->buffered)) != NULL)
    {
      FzNodeTransmit t;
      switch (send_data (node, c, buf, now, &t))
        {
        case FZ_NODE_SEND: push_transmit (node, &t.src, &t.dst, t.buf, t.ecn); break;
        case FZ_NODE_QUEUED: break;
        case FZ_NODE_DROPPED: fz_packet_buf_free (buf); break;
        }
    }
  /* Handshake answers that came before our side selected the pair. */
  while ((buf = g_queue_pop_head (&c->early)) != NULL)
    route (node, buf, &c->local.base, c->local.type == FZ_ICE_RELAY, &c->remote.addr,
           now);
}

static void
mark_established (FzNode *node, Connection *c)
{
  if (c->selected && c->handshaken && !c->established)
    {
      c->established = TRUE;
      push_event (node, FZ_NODE_EVENT_ESTABLISHED, c, NULL);
    }
}

/* A relay candidate of @r: the connections on @r signal it, those
 * without a relay get one. */
static void
on_relay_candidate (FzNode *node, Relay *r, const FzIceCandidate *cand, gint64 now)
{
  r->failed = FALSE;
  node->no_relays_reported = FALSE;
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, node->conns);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Connection *c = v;
      if (c->relay == r)
        connection_add_local (node, c, cand, now);
      else if (c->relay == NULL)
        assign_relay (node, c, now);
    }
}

/* TRUE if the allocation failed. */
static gboolean
drain_relay_events (FzNode *node, Relay *r, gint64 now)
{
  gboolean failed = FALSE;
  FzAllocationEvent e;
  while (fz_allocation_poll_event (r->alloc, &e))
    {
      switch (e.type)
        {
        case FZ_ALLOCATION_EVENT_NEW_CANDIDATE:
          if (e.candidate.type == FZ_ICE_SRFLX)
            add_local_everywhere (node, &e.candidate, now);
          else if (e.candidate.type == FZ_ICE_RELAY)
            on_relay_candidate (node, r, &e.candidate, now);
          break;
        case FZ_ALLOCATION_EVENT_INVALIDATED_CANDIDATE:
          if (e.candidate.type == FZ_ICE_SRFLX)
            remove_local_everywhere (node, &e.candidate, now);
          else if (e.candidate.type == FZ_ICE_RELAY)
            migrate_from (node, r, &e.candidate, 1, now);
          break;
        case FZ_ALLOCATION_EVENT_FAILED:
          g_debug ("node: relay %s: %s", r->id, e.error->message);
          g_clear_error (&e.error);
          r->failed = TRUE;
          failed = TRUE;
          break;
        }
    }
  return failed;
}

static void
drain_relay_transmits (FzNode *node, Relay *r)
{
  FzAllocationTransmit at;
  while (fz_allocation_poll_transmit (r->alloc, &at))
    {
      FzSockAddr src = host_of_family (node, at.dst.ip.family);
      push_transmit (node, &src, &at.dst, at.buf, 0);
    }
}

/* Only a failure can leave us without a usable relay. */
static void
report_if_no_relays (FzNode *node)
{
  if (node->no_relays_reported)
    return;
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, node->relays);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (!((Relay *) v)->failed)
      return;
  node->no_relays_reported = TRUE;
  push_event (node, FZ_NODE_EVENT_NO_RELAYS, NULL, NULL);
}

static void
drain_relays (FzNode *node, gint64 now)
{
  gboolean relay_failed = FALSE;
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, node->relays);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      relay_failed |= drain_relay_events (node, v, now);
      drain_relay_transmits (node, v);
    }
  if (relay_failed)
    report_if_no_relays (node);
}

static void
drain_ice_transmits (FzNode *node, Connection *c, gint64 now)
{
  FzIceTransmit t;
  while (fz_ice_agent_poll_transmit (c->agent, &t))
    route (node, t.buf, &t.src, TRUE, &t.dst, now);
}

/* TRUE if ICE failed. */
static gboolean
drain_ice_events (FzNode *node, Connection *c, gint64 now)
{
  gboolean failed = FALSE;
  FzIceEvent e;
  while (fz_ice_agent_poll_event (c->agent, &e))
    {
      if (e.type == FZ_ICE_EVENT_SELECTED_PAIR)
        on_selected (node, c, &e, now);
      else if (e.state == FZ_ICE_FAILED)
        failed = TRUE;
    }
  return failed;
}

/* A relay that restarted forgot our allocation, and nothing but a REFRESH
 * (answered 437) tells: its binding keepalives still succeed. A failed
 * connection may be the only sign, so every relay is asked at once
 * (at most every 5 s), and a lost allocation is made again with new
 * candidates before the connection is asked for again. */
static void
check_relays (FzNode *node, gint64 now)
{
  if (node->relays_checked_at != 0 && now - node->relays_checked_at < 5 * G_USEC_PER_SEC)
    return;
  node->relays_checked_at = now;
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, node->relays);
  while (g_hash_table_iter_next (&it, NULL, &v))
    fz_allocation_refresh (((Relay *) v)->alloc, now);
}

/* The connections touched since the last drain; those whose ICE failed
 * are removed after all, as each may be in the list once. */
static void
drain_connections (FzNode *node, gint64 now)
{
  /* Made only when ICE fails: drain() runs for every packet. */
  g_autoptr (GPtrArray) failed = NULL;
  while (node->dirty->len > 0)
    {
      Connection *c = g_ptr_array_steal_index_fast (node->dirty, node->dirty->len - 1);
      c->dirty = FALSE;
      drain_ice_transmits (node, c, now);
      if (drain_ice_events (node, c, now))
        {
          if (failed == NULL)
            failed = g_ptr_array_new ();
          g_ptr_array_add (failed, c);
        }
      mark_established (node, c);
      update_deadline (node, c);
    }
  for (guint i = 0; failed != NULL && i < failed->len; i++)
    {
      Connection *c = failed->pdata[i];
      if (c->removed)
        continue; /* dirty again after it failed, and so listed twice */
      g_debug ("node: ICE with %s failed", c->id);
      fail_connection (node, c);
    }
  if (failed != NULL)
    check_relays (node, now);
}

static void
drain_wg_events (FzNode *node)
{
  FzWgEvent we;
  while (fz_wg_device_poll_event (node->wg, &we))
    {
      Connection *c = g_hash_table_lookup (node->by_peer, we.peer);
      if (c == NULL)
        continue;
      if (we.type == FZ_WG_EVENT_HANDSHAKE_GAVE_UP && !c->established)
        {
          /* A path but no session in the rekey attempt time (20 s):
           * the connection failed; a new one may fare better. */
          g_debug ("node: no WireGuard session with %s", c->id);
          fail_connection (node, c);
          continue;
        }
      if (we.type != FZ_WG_EVENT_HANDSHAKE_DONE)
        continue;
      c->handshaken = TRUE;
      mark_established (node, c);
    }
}

/* What WireGuard wants sent goes along the connection's selected pair.
 * A cookie reply has no peer: it goes back the way the initiation came,
 * from @at to @to, given when there is one. */
static void
drain_wg_transmits (FzNode *node, const FzSockAddr *at, const FzSockAddr *to, gint64 now)
{
  FzWgTransmit wt;
  while (fz_wg_device_poll_transmit (node->wg, &wt))
    {
      if (wt.peer == NULL && at != NULL)
        {
          route (node, wt.buf, at, TRUE, to, now);
          continue;
        }
      Connection *c = g_hash_table_lookup (node->by_peer, wt.peer);
      if (c != NULL && !c->selected && g_queue_get_length (&c->early) < 4)
        {
          /* The peer's initiation outran our nomination: answer it as
           * soon as we know the path. */
          g_queue_push_tail (&c->early, wt.buf);
          continue;
        }
      if (c == NULL || !c->selected)
        {
          fz_packet_buf_free (wt.buf);
          continue;
        }
      route (node, wt.buf, &c->local.base, c->local.type == FZ_ICE_RELAY, &c->remote.addr,
             now);
    }
}

/* Moves everything the parts want sent or said into the node's queues. */
static void
drain (FzNode *node, gint64 now)
{
  drain_relays (node, now);
  drain_connections (node, now);
  drain_wg_events (node);
  drain_wg_transmits (node, NULL, NULL, now);
}

gboolean
fz_node_poll_transmit (FzNode *node, FzNodeTransmit *out)
{
  return fz_transmit_queue_pop (&node->transmits, out);
}

gboolean
fz_node_poll_event (FzNode *node, FzNodeEvent *out)
{
  QueuedEvent *e = g_queue_pop_head (&node->events);
  if (e == NULL)
    return FALSE;
  *out = e->pub;
  /* The connection's handle dies with this event. */
  if (e->gone != NULL)
    connection_free (e->gone);
  g_free (e);
  return TRUE;
}

gint64
fz_node_poll_timeout (FzNode *node)
{
  gint64 t = fz_wg_device_poll_timeout (node->wg);
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, node->relays);
  while (g_hash_table_iter_next (&it, NULL, &v))
    t = MIN (t, fz_allocation_poll_timeout (((Relay *) v)->alloc));
  return MIN (t, fz_timer_heap_next (node->timers));
}

void
fz_node_handle_timeout (FzNode *node, gint64 now)
{
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, node->relays);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (fz_allocation_poll_timeout (((Relay *) v)->alloc) <= now)
      fz_allocation_handle_timeout (((Relay *) v)->alloc, now);

  /* The connections due, earliest first; drain() sorts them again. */
  FzTimer *t;
  while ((t = fz_timer_heap_pop_due (node->timers, now)) != NULL)
    {
      Connection *c = FZ_TIMER_OWNER (t, Connection, timer);
      mark_dirty (node, c);
      if (!c->idle && now >= c->last_traffic + FZ_NODE_IDLE_AFTER)
        {
          c->idle = TRUE;
          fz_ice_agent_set_timeouts (c->agent,
                                     fz_ice_agent_is_controlling (c->agent)
                                       ? &fz_ice_client_idle
                                       : &fz_ice_gateway_idle,
                                     now);
        }
      if (fz_ice_agent_poll_timeout (c->agent) <= now)
        fz_ice_agent_handle_timeout (c->agent, now);
    }
  if (fz_wg_device_poll_timeout (node->wg) <= now)
    fz_wg_device_handle_timeout (node->wg, now);
  drain (node, now);
}
