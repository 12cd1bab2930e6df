/* Two ICE agents over an in-memory network on injected time. */
#include "fz-private.h"

#include <string.h>

#define MS 1000
#define S  G_USEC_PER_SEC
#define T0 (1000 * S)

typedef struct
{
  FzSockAddr src, dst;
  FzPacketBuf *buf;
  gint64 arrive;
} Packet;

typedef gboolean (*DropFn) (const FzSockAddr *src, const FzSockAddr *dst);

typedef struct
{
  FzRng rng;
  FzIceAgent *ag[2];
  gint64 now;
  gint64 latency;
  DropFn drop;
  GQueue wire;
  guint delivered;
  /* A NAT in front of agent 0's @inside: it leaves from @outside, and
   * only what comes to @outside gets in. */
  gboolean nat;
  FzSockAddr inside, outside;
} Net;

static FzSockAddr
sa (const char *ip, guint16 port)
{
  FzSockAddr a = { .port = port };
  g_assert_true (fz_ip_addr_parse (&a.ip, ip));
  return a;
}

static FzIceCandidate
cand (FzIceCandidateType type, const char *ip, guint16 port, const char *base_ip,
      guint16 base_port)
{
  FzSockAddr addr = sa (ip, port), base = sa (base_ip, base_port),
             server = sa ("198.51.100.1", 3478);
  FzIceCandidate c;
  fz_ice_candidate_init_local (&c, type, &addr, &base,
                               type == FZ_ICE_HOST ? NULL : &server);
  return c;
}

static void
net_init (Net *n, gboolean a_controlling, gboolean b_controlling, const FzIceTimeouts *t)
{
  memset (n, 0, sizeof *n);
  fz_rng_init_seeded (&n->rng, 42);
  n->now = T0;
  n->latency = 10 * MS;
  g_queue_init (&n->wire);
  n->ag[0] = fz_ice_agent_new (a_controlling, t, &n->rng, n->now);
  n->ag[1] = fz_ice_agent_new (b_controlling, t, &n->rng, n->now);
  for (int i = 0; i < 2; i++)
    fz_ice_agent_set_remote_credentials (n->ag[i],
                                         fz_ice_agent_local_ufrag (n->ag[1 - i]),
                                         fz_ice_agent_local_pwd (n->ag[1 - i]));
}

static void
packet_free (Packet *p)
{
  fz_packet_buf_free (p->buf);
  g_free (p);
}

static void
net_clear (Net *n)
{
  g_queue_clear_full (&n->wire, (GDestroyNotify) packet_free);
  for (int i = 0; i < 2; i++)
    {
      FzIceEvent e;
      while (fz_ice_agent_poll_event (n->ag[i], &e))
        ;
      fz_ice_agent_free (n->ag[i]);
    }
}

/* Gives both agents' candidates to each other. */
static void
add (Net *n, int i, FzIceCandidate c)
{
  g_assert_true (fz_ice_agent_add_local_candidate (n->ag[i], &c, n->now));
  fz_ice_agent_add_remote_candidate (n->ag[1 - i], &c, n->now);
}

/* Which agent owns a local address: by the candidates it was given. */
static int
owner (Net *n, const FzSockAddr *addr)
{
  for (int i = 0; i < 2; i++)
    {
      g_autoptr (GArray) l = fz_ice_agent_local_candidates (n->ag[i]);
      for (guint k = 0; k < l->len; k++)
        if (fz_sock_addr_equal (&g_array_index (l, FzIceCandidate, k).base, addr))
          return i;
    }
  return -1;
}

/* Runs the network until @until, delivering packets after the latency. */
static void
net_run (Net *n, gint64 until)
{
  while (n->now <= until)
    {
      for (int i = 0; i < 2; i++)
        {
          FzIceTransmit t;
          while (fz_ice_agent_poll_transmit (n->ag[i], &t))
            {
              if (n->drop != NULL && n->drop (&t.src, &t.dst))
                {
                  fz_packet_buf_free (t.buf);
                  continue;
                }
              Packet *p = g_new0 (Packet, 1);
              p->src = t.src;
              p->dst = t.dst;
              if (n->nat && fz_sock_addr_equal (&t.src, &n->inside))
                p->src = n->outside;
              p->buf = t.buf;
              p->arrive = n->now + n->latency;
              g_queue_push_tail (&n->wire, p);
            }
        }
      gint64 next = MIN (fz_ice_agent_poll_timeout (n->ag[0]),
                         fz_ice_agent_poll_timeout (n->ag[1]));
      Packet *head = g_queue_peek_head (&n->wire);
      if (head != NULL)
        next = MIN (next, head->arrive);
      if (next > until)
        {
          n->now = until;
          break;
        }
      n->now = MAX (n->now, next);
      while ((head = g_queue_peek_head (&n->wire)) != NULL && head->arrive <= n->now)
        {
          g_queue_pop_head (&n->wire);
          if (n->nat && fz_sock_addr_equal (&head->dst, &n->outside))
            head->dst = n->inside;
          else if (n->nat && fz_sock_addr_equal (&head->dst, &n->inside))
            head->dst.port = 0; /* no way in but through the NAT */
          int to = owner (n, &head->dst);
          if (to >= 0)
            {
              gsize len = head->buf->len;
              const guint8 *d = head->buf->data;
              FzStunMessage m;
              g_assert_true (fz_stun_message_parse (&m, d, len, NULL));
              fz_ice_agent_handle_stun (n->ag[to], &head->dst, &head->src, &m, n->now);
              n->delivered++;
            }
          packet_free (head);
        }
      for (int i = 0; i < 2; i++)
        if (fz_ice_agent_poll_timeout (n->ag[i]) <= n->now)
          fz_ice_agent_handle_timeout (n->ag[i], n->now);
    }
}

/* The last event of that type, if any. */
static gboolean
last_event (Net *n, int i, FzIceEventType type, FzIceEvent *out)
{
  gboolean found = FALSE;
  FzIceEvent e;
  while (fz_ice_agent_poll_event (n->ag[i], &e))
    if (e.type == type)
      {
        *out = e;
        found = TRUE;
      }
  return found;
}

static void
assert_agree (Net *n, FzIceCandidateType a_local_type)
{
  FzIceCandidate la, ra, lb, rb;
  g_assert_cmpint (fz_ice_agent_state (n->ag[0]), ==, FZ_ICE_CONNECTED);
  g_assert_cmpint (fz_ice_agent_state (n->ag[1]), ==, FZ_ICE_CONNECTED);
  g_assert_true (fz_ice_agent_selected_pair (n->ag[0], &la, &ra));
  g_assert_true (fz_ice_agent_selected_pair (n->ag[1], &lb, &rb));
  g_assert_true (fz_sock_addr_equal (&la.base, &rb.addr));
  g_assert_true (fz_sock_addr_equal (&lb.base, &ra.addr));
  g_assert_cmpint (la.type, ==, a_local_type);
}

static void
test_timeouts (void)
{
  g_assert_cmpint (fz_ice_timeouts_overall (&fz_ice_client_default), ==, 16500 * MS);
  g_assert_cmpint (fz_ice_timeouts_overall (&fz_ice_client_idle), ==, 100 * S);
  g_assert_cmpint (fz_ice_timeouts_overall (&fz_ice_gateway_default), ==, 615500 * MS);
  g_assert_cmpint (fz_ice_timeouts_overall (&fz_ice_gateway_idle), ==, 1000 * S);
  /* The client gives up on ICE before WireGuard gives up on a handshake. */
  g_assert_cmpint (fz_ice_timeouts_overall (&fz_ice_client_default)
                     + FZ_ICE_DISCONNECTED_TIMEOUT,
                   <, FZ_WG_REKEY_ATTEMPT_ICE);
  g_assert_cmpint (fz_ice_timeouts_wait (&fz_ice_client_default, 1), ==, 500 * MS);
  g_assert_cmpint (fz_ice_timeouts_wait (&fz_ice_client_default, 2), ==, 1000 * MS);
  g_assert_cmpint (fz_ice_timeouts_wait (&fz_ice_client_default, 3), ==, 1500 * MS);
  g_assert_cmpint (fz_ice_timeouts_wait (&fz_ice_gateway_default, 5), ==, 8000 * MS);
  g_assert_cmpint (fz_ice_timeouts_wait (&fz_ice_gateway_default, 6), ==, 15000 * MS);
}

static void
test_connect_host (void)
{
  Net n;
  net_init (&n, TRUE, FALSE, &fz_ice_client_default);
  add (&n, 0, cand (FZ_ICE_HOST, "192.0.2.1", 52625, "192.0.2.1", 52625));
  add (&n, 1, cand (FZ_ICE_HOST, "192.0.2.2", 52625, "192.0.2.2", 52625));
  /* Check, answer, nominating check, answer: 2 RTT (10 ms each way). */
  net_run (&n, T0 + 40 * MS - 1);
  g_assert_cmpint (fz_ice_agent_state (n.ag[0]), ==, FZ_ICE_CHECKING);
  net_run (&n, T0 + 40 * MS);
  assert_agree (&n, FZ_ICE_HOST);
  FzIceEvent e;
  g_assert_true (last_event (&n, 0, FZ_ICE_EVENT_SELECTED_PAIR, &e));
  g_assert_cmpint (e.local.type, ==, FZ_ICE_HOST);
  net_clear (&n);
}

static gboolean
drop_direct (const FzSockAddr *src, const FzSockAddr *dst)
{
  /* Relay-only: from one relayed address to another. */
  FzSockAddr relay = sa ("198.51.100.1", 0);
  return !fz_ip_addr_equal (&src->ip, &relay.ip)
         || !fz_ip_addr_equal (&dst->ip, &relay.ip);
}

static void
test_connect_relayed (void)
{
  Net n;
  net_init (&n, TRUE, FALSE, &fz_ice_client_default);
  n.drop = drop_direct;
  add (&n, 0, cand (FZ_ICE_HOST, "10.0.0.1", 52625, "10.0.0.1", 52625));
  add (&n, 0, cand (FZ_ICE_SRFLX, "203.0.113.1", 40000, "10.0.0.1", 52625));
  add (&n, 0, cand (FZ_ICE_RELAY, "198.51.100.1", 50000, "198.51.100.1", 50000));
  add (&n, 1, cand (FZ_ICE_HOST, "10.0.1.1", 52625, "10.0.1.1", 52625));
  add (&n, 1, cand (FZ_ICE_RELAY, "198.51.100.1", 50002, "198.51.100.1", 50002));
  net_run (&n, T0 + 3 * S);
  assert_agree (&n, FZ_ICE_RELAY);
  net_clear (&n);
}

static void
test_prefers_direct (void)
{
  /* Both a relayed and a direct path work: the direct one wins, even if
   * the relayed pair was valid first. */
  Net n;
  net_init (&n, TRUE, FALSE, &fz_ice_client_default);
  add (&n, 0, cand (FZ_ICE_RELAY, "198.51.100.1", 50000, "198.51.100.1", 50000));
  add (&n, 1, cand (FZ_ICE_RELAY, "198.51.100.1", 50002, "198.51.100.1", 50002));
  net_run (&n, T0 + 2 * S);
  assert_agree (&n, FZ_ICE_RELAY);
  add (&n, 0, cand (FZ_ICE_HOST, "192.0.2.1", 52625, "192.0.2.1", 52625));
  add (&n, 1, cand (FZ_ICE_HOST, "192.0.2.2", 52625, "192.0.2.2", 52625));
  net_run (&n, T0 + 4 * S);
  assert_agree (&n, FZ_ICE_HOST);
  net_clear (&n);
}

static void
test_role_conflict (void)
{
  /* Both think they control; tie-breakers settle it either way. */
  for (int both = 0; both < 2; both++)
    {
      Net n;
      net_init (&n, both == 0, both == 0, &fz_ice_client_default);
      add (&n, 0, cand (FZ_ICE_HOST, "192.0.2.1", 52625, "192.0.2.1", 52625));
      add (&n, 1, cand (FZ_ICE_HOST, "192.0.2.2", 52625, "192.0.2.2", 52625));
      net_run (&n, T0 + 2 * S);
      g_assert_cmpint (fz_ice_agent_is_controlling (n.ag[0]), !=,
                       fz_ice_agent_is_controlling (n.ag[1]));
      assert_agree (&n, FZ_ICE_HOST);
      net_clear (&n);
    }
}

static void
test_no_remote_candidate (void)
{
  Net n;
  net_init (&n, TRUE, FALSE, &fz_ice_client_default);
  g_assert_true (fz_ice_agent_add_local_candidate (
                   n.ag[0], &(FzIceCandidate){ 0 } /* component 0 */, n.now)
                 == FALSE);
  FzIceCandidate c = cand (FZ_ICE_HOST, "192.0.2.1", 52625, "192.0.2.1", 52625);
  fz_ice_agent_add_local_candidate (n.ag[0], &c, n.now);
  g_assert_cmpint (fz_ice_agent_poll_timeout (n.ag[0]), ==, T0 + 10 * S);
  fz_ice_agent_handle_timeout (n.ag[0], T0 + 10 * S - 1);
  g_assert_cmpint (fz_ice_agent_state (n.ag[0]), ==, FZ_ICE_CHECKING);
  fz_ice_agent_handle_timeout (n.ag[0], T0 + 10 * S);
  g_assert_cmpint (fz_ice_agent_state (n.ag[0]), ==, FZ_ICE_FAILED);
  FzIceEvent e;
  g_assert_true (last_event (&n, 0, FZ_ICE_EVENT_STATE, &e));
  g_assert_cmpint (e.state, ==, FZ_ICE_FAILED);
  g_assert_cmpint (fz_ice_agent_poll_timeout (n.ag[0]), ==, G_MAXINT64);
  net_clear (&n);
}

static gboolean drop_all_now;

static gboolean
drop_all (const FzSockAddr *src, const FzSockAddr *dst)
{
  return drop_all_now;
}

/* After the path dies: silence for the profile's overall time, then
 * disconnected, then failed 2 s later. */
static void
check_disconnect (const FzIceTimeouts *t)
{
  Net n;
  net_init (&n, TRUE, FALSE, t);
  n.drop = drop_all;
  drop_all_now = FALSE;
  add (&n, 0, cand (FZ_ICE_HOST, "192.0.2.1", 52625, "192.0.2.1", 52625));
  add (&n, 1, cand (FZ_ICE_HOST, "192.0.2.2", 52625, "192.0.2.2", 52625));
  net_run (&n, T0 + S);
  assert_agree (&n, FZ_ICE_HOST);
  /* Keepalives every max RTO keep it up. */
  guint before = n.delivered;
  net_run (&n, n.now + 100 * t->max_rto);
  g_assert_cmpuint (n.delivered - before, >=, 2 * 99);
  assert_agree (&n, FZ_ICE_HOST);
  while (fz_ice_agent_poll_event (n.ag[0], &(FzIceEvent){ 0 }))
    ;

  drop_all_now = TRUE;
  gint64 cut = n.now;
  gint64 overall = fz_ice_timeouts_overall (t);
  gint64 step = t->max_rto / 150, disconnected = 0, failed = 0;
  while (failed == 0 && n.now < cut + overall + 4 * S)
    {
      net_run (&n, n.now + step);
      FzIceState st = fz_ice_agent_state (n.ag[0]);
      if (st == FZ_ICE_DISCONNECTED && disconnected == 0)
        disconnected = n.now;
      if (st == FZ_ICE_FAILED)
        failed = n.now;
    }
  /* Silent since the last answer, which came at most a keepalive
   * interval (and a round trip) before the cut. */
  g_assert_cmpint (disconnected, >=, cut + overall - t->max_rto - 100 * MS);
  g_assert_cmpint (disconnected, <=, cut + overall + step);
  g_assert_cmpint (failed - disconnected, >=, FZ_ICE_DISCONNECTED_TIMEOUT - step);
  g_assert_cmpint (failed - disconnected, <=, FZ_ICE_DISCONNECTED_TIMEOUT + step);
  FzIceEvent e;
  g_assert_true (last_event (&n, 0, FZ_ICE_EVENT_STATE, &e));
  g_assert_cmpint (e.state, ==, FZ_ICE_FAILED);
  net_run (&n, n.now + t->max_rto + 100 * MS);
  g_assert_cmpint (fz_ice_agent_state (n.ag[1]), ==, FZ_ICE_FAILED);
  net_clear (&n);
}

static void
test_disconnect (void)
{
  check_disconnect (&fz_ice_client_default);
  check_disconnect (&fz_ice_client_idle);
  check_disconnect (&fz_ice_gateway_default);
  check_disconnect (&fz_ice_gateway_idle);
}

static void
test_failover (void)
{
  /* A short outage of the selected path: the agent goes disconnected,
   * re-checks, and connects again within the 2 s. */
  Net n;
  net_init (&n, TRUE, FALSE, &fz_ice_client_default);
  n.drop = drop_all;
  drop_all_now = FALSE;
  add (&n, 0, cand (FZ_ICE_HOST, "192.0.2.1", 52625, "192.0.2.1", 52625));
  add (&n, 1, cand (FZ_ICE_HOST, "192.0.2.2", 52625, "192.0.2.2", 52625));
  net_run (&n, T0 + S);
  drop_all_now = TRUE;
  gint64 cut = n.now;
  while (fz_ice_agent_state (n.ag[0]) == FZ_ICE_CONNECTED
         && fz_ice_agent_state (n.ag[1]) == FZ_ICE_CONNECTED)
    net_run (&n, n.now + 10 * MS);
  g_assert_cmpint (n.now - cut, >, 15 * S);
  drop_all_now = FALSE;
  net_run (&n, n.now + 1000 * MS);
  assert_agree (&n, FZ_ICE_HOST);
  net_clear (&n);
}

/* The NAT in front of the controlling side rebinds (a new public port,
 * the old one dead): the controlled side follows its consent checks to
 * the new address within a few of them. */
static void
test_nat_rebinding (void)
{
  Net n;
  FzIceCandidate l, r;
  net_init (&n, TRUE, FALSE, &fz_ice_gateway_default);
  fz_ice_agent_set_timeouts (n.ag[0], &fz_ice_client_default, n.now);
  n.nat = TRUE;
  n.inside = sa ("10.0.0.2", 52625);
  n.outside = sa ("203.0.113.1", 1000);
  add (&n, 0, cand (FZ_ICE_HOST, "10.0.0.2", 52625, "10.0.0.2", 52625));
  add (&n, 1, cand (FZ_ICE_HOST, "192.0.2.2", 52625, "192.0.2.2", 52625));
  net_run (&n, T0 + S);
  g_assert_true (fz_ice_agent_selected_pair (n.ag[1], &l, &r));
  g_assert_true (fz_sock_addr_equal (&r.addr, &n.outside));

  n.outside.port = 2000;
  net_run (&n, n.now + 5 * S);
  g_assert_cmpint (fz_ice_agent_state (n.ag[0]), ==, FZ_ICE_CONNECTED);
  g_assert_true (fz_ice_agent_selected_pair (n.ag[1], &l, &r));
  g_assert_true (fz_sock_addr_equal (&r.addr, &n.outside));
  net_clear (&n);
}

static void
test_idle_profile (void)
{
  Net n;
  net_init (&n, TRUE, FALSE, &fz_ice_client_default);
  add (&n, 0, cand (FZ_ICE_HOST, "192.0.2.1", 52625, "192.0.2.1", 52625));
  add (&n, 1, cand (FZ_ICE_HOST, "192.0.2.2", 52625, "192.0.2.2", 52625));
  net_run (&n, T0 + S);
  assert_agree (&n, FZ_ICE_HOST);
  for (int i = 0; i < 2; i++)
    fz_ice_agent_set_timeouts (n.ag[i], &fz_ice_client_idle, n.now);
  net_run (&n, n.now + 2 * S); /* the old keepalive schedule runs out */
  guint before = n.delivered;
  net_run (&n, n.now + 100 * S);
  /* Each side: one check and one answer per 25 s. */
  g_assert_cmpuint (n.delivered - before, >=, 14);
  g_assert_cmpuint (n.delivered - before, <=, 18);
  for (int i = 0; i < 2; i++)
    fz_ice_agent_set_timeouts (n.ag[i], &fz_ice_client_default, n.now);
  before = n.delivered;
  net_run (&n, n.now + 15 * S);
  g_assert_cmpuint (n.delivered - before, >=, 2 * 2 * 9);
  net_clear (&n);
}

static void
test_optimistic (void)
{
  Net n;
  net_init (&n, TRUE, FALSE, &fz_ice_client_default);
  FzIceCandidate h = cand (FZ_ICE_HOST, "10.0.0.5", 52625, "10.0.0.5", 52625);
  FzIceCandidate h2 = cand (FZ_ICE_HOST, "10.0.0.6", 52626, "10.0.0.6", 52626);
  FzIceCandidate h6 = cand (FZ_ICE_HOST, "2001:db8::5", 52625, "2001:db8::5", 52625);
  FzIceCandidate s1 = cand (FZ_ICE_SRFLX, "203.0.113.5", 40000, "10.0.0.5", 52625);
  FzIceCandidate s2 = cand (FZ_ICE_SRFLX, "203.0.113.6", 40001, "10.0.0.5", 52625);
  FzIceCandidate l = cand (FZ_ICE_HOST, "192.0.2.1", 52625, "192.0.2.1", 52625);
  fz_ice_agent_add_local_candidate (n.ag[0], &l, n.now);
  g_assert_true (fz_ice_agent_add_remote_candidate (n.ag[0], &h, n.now));
  g_assert_true (fz_ice_agent_add_remote_candidate (n.ag[0], &h6, n.now));
  g_assert_true (fz_ice_agent_add_remote_candidate (n.ag[0], &s1, n.now));
  g_assert_false (
    fz_ice_agent_add_remote_candidate (n.ag[0], &s1, n.now)); /* duplicate */
  g_assert_true (fz_ice_agent_add_remote_candidate (n.ag[0], &h2, n.now));
  g_assert_true (fz_ice_agent_add_remote_candidate (n.ag[0], &s2, n.now));

  /* Checks go to 203.0.113.5:52625 and 203.0.113.5:52626 (the first
   * two), never to a third or an IPv6 one. */
  fz_ice_agent_handle_timeout (n.ag[0], n.now);
  GHashTable *seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (gint64 t = n.now; t < n.now + S; t += FZ_ICE_PACING)
    {
      fz_ice_agent_handle_timeout (n.ag[0], t);
      FzIceTransmit tx;
      while (fz_ice_agent_poll_transmit (n.ag[0], &tx))
        {
          char s[FZ_SOCK_ADDR_STRLEN];
          g_hash_table_add (seen, g_strdup (fz_sock_addr_to_string (&tx.dst, s)));
          fz_packet_buf_free (tx.buf);
        }
    }
  g_assert_true (g_hash_table_contains (seen, "203.0.113.5:52625"));
  g_assert_true (g_hash_table_contains (seen, "203.0.113.5:52626"));
  g_assert_false (g_hash_table_contains (seen, "203.0.113.6:52625"));
  g_assert_false (g_hash_table_contains (seen, "203.0.113.6:52626"));
  g_assert_true (g_hash_table_contains (seen, "10.0.0.5:52625"));
  g_assert_true (g_hash_table_contains (seen, "203.0.113.6:40001"));
  /* The IPv6 remote has no IPv6 local to pair with. */
  g_assert_cmpuint (g_hash_table_size (seen), ==, 6);
  g_hash_table_unref (seen);
  net_clear (&n);
}

static void
test_local_order (void)
{
  Net n;
  net_init (&n, TRUE, FALSE, &fz_ice_client_default);
  FzIceCandidate c[] = {
    cand (FZ_ICE_RELAY, "198.51.100.1", 50000, "198.51.100.1", 50000),
    cand (FZ_ICE_SRFLX, "203.0.113.1", 40000, "10.0.0.1", 52625),
    cand (FZ_ICE_HOST, "10.0.0.1", 52625, "10.0.0.1", 52625),
    cand (FZ_ICE_HOST, "2001:db8::1", 52625, "2001:db8::1", 52625),
  };
  for (guint i = 0; i < G_N_ELEMENTS (c); i++)
    g_assert_true (fz_ice_agent_add_local_candidate (n.ag[0], &c[i], n.now));
  g_assert_false (fz_ice_agent_add_local_candidate (n.ag[0], &c[2], n.now));
  g_autoptr (GArray) l = fz_ice_agent_local_candidates (n.ag[0]);
  g_assert_cmpuint (l->len, ==, 4);
  g_assert_cmpint (g_array_index (l, FzIceCandidate, 0).type, ==, FZ_ICE_HOST);
  g_assert_cmpint (g_array_index (l, FzIceCandidate, 0).addr.ip.family, ==, 6);
  g_assert_cmpint (g_array_index (l, FzIceCandidate, 1).type, ==, FZ_ICE_HOST);
  g_assert_cmpint (g_array_index (l, FzIceCandidate, 2).type, ==, FZ_ICE_SRFLX);
  g_assert_cmpint (g_array_index (l, FzIceCandidate, 3).type, ==, FZ_ICE_RELAY);
  net_clear (&n);
}

static guint16 ask_role = FZ_STUN_ATTR_ICE_CONTROLLED;
static guint64 ask_tiebreaker = 1;

/* Sends a hand-made request to agent 0 and returns its answer. */
static gboolean
ask (Net *n, const char *username, const char *pwd, gboolean priority, guint16 extra,
     FzStunMessage *answer, guint8 *buf)
{
  guint8 req[256];
  guint8 tid[12] = { 9 };
  FzStunWriter w;
  fz_stun_writer_init (&w, req, sizeof req, FZ_STUN_BINDING, FZ_STUN_REQUEST, tid);
  fz_stun_writer_add_string (&w, FZ_STUN_ATTR_USERNAME, username);
  if (priority)
    fz_stun_writer_add_u32 (&w, FZ_STUN_ATTR_PRIORITY, 1234);
  fz_stun_writer_add_u64 (&w, ask_role, ask_tiebreaker);
  if (extra)
    fz_stun_writer_add_u32 (&w, extra, 0);
  if (pwd)
    fz_stun_writer_add_integrity (&w, (const guint8 *) pwd, strlen (pwd));
  fz_stun_writer_add_fingerprint (&w);
  FzStunMessage m;
  g_assert_true (fz_stun_message_parse (&m, req, fz_stun_writer_finish (&w), NULL));
  FzSockAddr local = sa ("192.0.2.1", 52625), from = sa ("192.0.2.99", 7);
  if (!fz_ice_agent_handle_stun (n->ag[0], &local, &from, &m, n->now))
    return FALSE;
  FzIceTransmit t;
  g_assert_true (fz_ice_agent_poll_transmit (n->ag[0], &t));
  g_assert_true (fz_sock_addr_equal (&t.dst, &from));
  /* Room in front for a ChannelData header when it goes via a relay. */
  g_assert_cmpuint (fz_packet_buf_headroom (t.buf), ==, FZ_PACKET_BUF_HEADROOM);
  gsize len = t.buf->len;
  const guint8 *d = t.buf->data;
  memcpy (buf, d, len);
  fz_packet_buf_free (t.buf);
  g_assert_true (fz_stun_message_parse (answer, buf, len, NULL));
  return TRUE;
}

static void
test_requests (void)
{
  Net n;
  net_init (&n, TRUE, FALSE, &fz_ice_client_default);
  FzIceCandidate l = cand (FZ_ICE_HOST, "192.0.2.1", 52625, "192.0.2.1", 52625);
  fz_ice_agent_add_local_candidate (n.ag[0], &l, n.now);
  const char *pwd = fz_ice_agent_local_pwd (n.ag[0]);
  g_autofree char *user = g_strdup_printf ("%s:peer", fz_ice_agent_local_ufrag (n.ag[0]));
  FzStunMessage m;
  guint8 buf[512];
  guint code;

  /* Another agent's ufrag: not ours at all. */
  g_assert_false (ask (&n, "someoneelse:peer", pwd, TRUE, 0, &m, buf));
  /* No integrity: 400; wrong password: 401, neither with integrity. */
  g_assert_true (ask (&n, user, NULL, TRUE, 0, &m, buf));
  g_assert_true (fz_stun_message_get_error (&m, &code, NULL));
  g_assert_cmpuint (code, ==, 400);
  g_assert_true (ask (&n, user, "wrong-password-wrong-password", TRUE, 0, &m, buf));
  g_assert_true (fz_stun_message_get_error (&m, &code, NULL));
  g_assert_cmpuint (code, ==, 401);
  g_assert_cmpint (m.integrity, <, 0);
  /* No PRIORITY: 400. An unknown required attribute: 420 naming it. */
  g_assert_true (ask (&n, user, pwd, FALSE, 0, &m, buf));
  g_assert_true (fz_stun_message_get_error (&m, &code, NULL));
  g_assert_cmpuint (code, ==, 400);
  g_assert_true (ask (&n, user, pwd, TRUE, 0x0033, &m, buf));
  g_assert_true (fz_stun_message_get_error (&m, &code, NULL));
  g_assert_cmpuint (code, ==, 420);
  gsize ul;
  const guint8 *u = fz_stun_message_get_bytes (&m, FZ_STUN_ATTR_UNKNOWN_ATTRIBUTES, &ul);
  g_assert_cmpmem (u, ul, "\x00\x33", 2);
  g_assert_true (
    fz_stun_message_check_integrity (&m, (const guint8 *) pwd, strlen (pwd)));

  /* A good one: the mapped address, with integrity; the unknown source
   * becomes a peer-reflexive candidate, checked at once (triggered). */
  g_assert_true (ask (&n, user, pwd, TRUE, 0, &m, buf));
  g_assert_cmpint (m.klass, ==, FZ_STUN_SUCCESS);
  FzSockAddr mapped;
  g_assert_true (
    fz_stun_message_get_xor_address (&m, FZ_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &mapped));
  g_assert_true (
    fz_sock_addr_equal (&mapped, &(FzSockAddr){ sa ("192.0.2.99", 7).ip, 7 }));
  g_assert_true (
    fz_stun_message_check_integrity (&m, (const guint8 *) pwd, strlen (pwd)));
  fz_ice_agent_handle_timeout (n.ag[0], n.now);
  FzIceTransmit t;
  g_assert_true (fz_ice_agent_poll_transmit (n.ag[0], &t));
  g_assert_true (fz_sock_addr_equal (&t.dst, &mapped));
  gsize len = t.buf->len;
  const guint8 *d = t.buf->data;
  memcpy (buf, d, len);
  fz_packet_buf_free (t.buf);
  g_assert_true (fz_stun_message_parse (&m, buf, len, NULL));
  g_autofree char *un = fz_stun_message_dup_string (&m, FZ_STUN_ATTR_USERNAME);
  g_autofree char *expect = g_strdup_printf ("%s:%s", fz_ice_agent_local_ufrag (n.ag[1]),
                                             fz_ice_agent_local_ufrag (n.ag[0]));
  g_assert_cmpstr (un, ==, expect);
  g_assert_true (fz_stun_message_has (&m, FZ_STUN_ATTR_PRIORITY));
  g_assert_true (fz_stun_message_has (&m, FZ_STUN_ATTR_ICE_CONTROLLING));
  g_assert_false (fz_stun_message_has (&m, FZ_STUN_ATTR_USE_CANDIDATE));
  const char *rpwd = fz_ice_agent_local_pwd (n.ag[1]);
  g_assert_true (
    fz_stun_message_check_integrity (&m, (const guint8 *) rpwd, strlen (rpwd)));
  g_assert_true (m.fingerprint);
  net_clear (&n);
}

static guint
ask_code (Net *n, guint16 role, guint64 tiebreaker)
{
  g_autofree char *user
    = g_strdup_printf ("%s:peer", fz_ice_agent_local_ufrag (n->ag[0]));
  FzStunMessage m;
  guint8 buf[512];
  guint code = 0;
  ask_role = role;
  ask_tiebreaker = tiebreaker;
  g_assert_true (ask (n, user, fz_ice_agent_local_pwd (n->ag[0]), TRUE, 0, &m, buf));
  ask_role = FZ_STUN_ATTR_ICE_CONTROLLED;
  ask_tiebreaker = 1;
  fz_stun_message_get_error (&m, &code, NULL);
  return m.klass == FZ_STUN_SUCCESS ? 200 : code;
}

/* RFC 8445 7.3.1.1 on requests, 7.2.5.1 on answers. */
static void
test_role_conflict_rules (void)
{
  Net n;
  net_init (&n, TRUE, FALSE, &fz_ice_client_default);
  FzIceCandidate l = cand (FZ_ICE_HOST, "192.0.2.1", 52625, "192.0.2.1", 52625);
  fz_ice_agent_add_local_candidate (n.ag[0], &l, n.now);

  /* Both controlling: the larger tie-breaker keeps the role. */
  g_assert_cmpuint (ask_code (&n, FZ_STUN_ATTR_ICE_CONTROLLING, 0), ==, 487);
  g_assert_true (fz_ice_agent_is_controlling (n.ag[0]));
  g_assert_cmpuint (ask_code (&n, FZ_STUN_ATTR_ICE_CONTROLLING, G_MAXUINT64), ==, 200);
  g_assert_false (fz_ice_agent_is_controlling (n.ag[0]));
  /* Both controlled: the larger one takes control. */
  g_assert_cmpuint (ask_code (&n, FZ_STUN_ATTR_ICE_CONTROLLED, G_MAXUINT64), ==, 487);
  g_assert_false (fz_ice_agent_is_controlling (n.ag[0]));
  g_assert_cmpuint (ask_code (&n, FZ_STUN_ATTR_ICE_CONTROLLED, 0), ==, 200);
  g_assert_true (fz_ice_agent_is_controlling (n.ag[0]));
  /* No conflict: nothing changes. */
  g_assert_cmpuint (ask_code (&n, FZ_STUN_ATTR_ICE_CONTROLLED, G_MAXUINT64), ==, 200);
  g_assert_true (fz_ice_agent_is_controlling (n.ag[0]));

  /* A 487 to our check: take the other role and check again with it. */
  FzIceTransmit t;
  while (fz_ice_agent_poll_transmit (n.ag[0], &t))
    fz_packet_buf_free (t.buf);
  FzIceCandidate r = cand (FZ_ICE_HOST, "192.0.2.50", 9, "192.0.2.50", 9);
  g_assert_true (fz_ice_agent_add_remote_candidate (n.ag[0], &r, n.now));
  for (int round = 0; round < 2; round++)
    {
      FzStunMessage req = { 0 };
      guint8 rbuf[512];
      gboolean found = FALSE;
      for (int step = 0; step < 10 && !found; step++)
        {
          n.now += FZ_ICE_PACING;
          fz_ice_agent_handle_timeout (n.ag[0], n.now);
          while (fz_ice_agent_poll_transmit (n.ag[0], &t))
            {
              gsize len = t.buf->len;
              const guint8 *d = t.buf->data;
              if (!found && fz_sock_addr_equal (&t.dst, &r.addr))
                {
                  memcpy (rbuf, d, len);
                  g_assert_true (fz_stun_message_parse (&req, rbuf, len, NULL));
                  found = TRUE;
                }
              fz_packet_buf_free (t.buf);
            }
        }
      g_assert_true (found);
      if (round == 1)
        {
          g_assert_true (fz_stun_message_has (&req, FZ_STUN_ATTR_ICE_CONTROLLED));
          g_assert_false (fz_stun_message_has (&req, FZ_STUN_ATTR_ICE_CONTROLLING));
          break;
        }
      g_assert_true (fz_stun_message_has (&req, FZ_STUN_ATTR_ICE_CONTROLLING));
      guint8 ans[128];
      FzStunWriter w;
      fz_stun_writer_init (&w, ans, sizeof ans, FZ_STUN_BINDING, FZ_STUN_ERROR, req.tid);
      fz_stun_writer_add_error (&w, 487, "Role Conflict");
      const char *pwd = fz_ice_agent_local_pwd (n.ag[1]);
      fz_stun_writer_add_integrity (&w, (const guint8 *) pwd, strlen (pwd));
      fz_stun_writer_add_fingerprint (&w);
      FzStunMessage m;
      g_assert_true (fz_stun_message_parse (&m, ans, fz_stun_writer_finish (&w), NULL));
      /* From elsewhere, or to another local address: not an answer. */
      FzSockAddr elsewhere = r.addr;
      elsewhere.port++;
      g_assert_true (fz_ice_agent_handle_stun (n.ag[0], &l.base, &elsewhere, &m, n.now));
      g_assert_true (fz_ice_agent_handle_stun (n.ag[0], &elsewhere, &r.addr, &m, n.now));
      g_assert_true (fz_ice_agent_is_controlling (n.ag[0]));
      g_assert_true (fz_ice_agent_handle_stun (n.ag[0], &l.base, &r.addr, &m, n.now));
      g_assert_false (fz_ice_agent_is_controlling (n.ag[0]));
    }
  net_clear (&n);
}

/* RFC 8445 7.1.1: a check's PRIORITY is what a peer-reflexive candidate
 * of its base would have: 2^24 * 110 + 2^8 * local preference (65535 for
 * IPv6, 65534 for IPv4) + 255, computed by hand. A relayed base counts by
 * the relayed address's family. */
static void
test_check_priority (void)
{
  Net n;
  net_init (&n, TRUE, FALSE, &fz_ice_client_default);
  FzIceCandidate local[] = {
    cand (FZ_ICE_HOST, "192.0.2.1", 52625, "192.0.2.1", 52625),
    cand (FZ_ICE_HOST, "2001:db8::1", 52625, "2001:db8::1", 52625),
    cand (FZ_ICE_RELAY, "203.0.113.9", 40000, "203.0.113.9", 40000),
  };
  for (guint i = 0; i < G_N_ELEMENTS (local); i++)
    g_assert_true (fz_ice_agent_add_local_candidate (n.ag[0], &local[i], n.now));
  FzIceCandidate r4 = cand (FZ_ICE_SRFLX, "192.0.2.50", 9, "10.0.0.5", 9);
  FzIceCandidate r6 = cand (FZ_ICE_HOST, "2001:db8::50", 9, "2001:db8::50", 9);
  g_assert_true (fz_ice_agent_add_remote_candidate (n.ag[0], &r4, n.now));
  g_assert_true (fz_ice_agent_add_remote_candidate (n.ag[0], &r6, n.now));

  guint seen[3] = { 0 };
  for (int step = 0; step < 20; step++)
    {
      n.now += FZ_ICE_PACING;
      fz_ice_agent_handle_timeout (n.ag[0], n.now);
      FzIceTransmit t;
      while (fz_ice_agent_poll_transmit (n.ag[0], &t))
        {
          gsize len = t.buf->len;
          const guint8 *d = t.buf->data;
          FzStunMessage m;
          g_assert_true (fz_stun_message_parse (&m, d, len, NULL));
          guint32 prio = 0;
          if (m.klass == FZ_STUN_REQUEST
              && fz_stun_message_get_u32 (&m, FZ_STUN_ATTR_PRIORITY, &prio))
            {
              guint k = 0;
              while (k < G_N_ELEMENTS (local)
                     && !fz_sock_addr_equal (&t.src, &local[k].base))
                k++;
              g_assert_cmpuint (k, <, G_N_ELEMENTS (local));
              g_assert_cmpuint (prio, ==,
                                t.src.ip.family == 6 ? 1862270975u : 1862270719u);
              seen[k]++;
            }
          fz_packet_buf_free (t.buf);
        }
    }
  for (guint k = 0; k < G_N_ELEMENTS (seen); k++)
    g_assert_cmpuint (seen[k], >, 0);
  net_clear (&n);
}

/* The controlling side waits a grace time (twice the valid pair's round
 * trip) for better pairs still being checked: a host pair valid just
 * after a relay pair is nominated first, and the relay pair never is. */
static void
test_nomination_grace (void)
{
  Net n;
  net_init (&n, TRUE, FALSE, &fz_ice_client_default);
  add (&n, 0, cand (FZ_ICE_RELAY, "198.51.100.1", 50000, "198.51.100.1", 50000));
  add (&n, 1, cand (FZ_ICE_RELAY, "198.51.100.1", 50002, "198.51.100.1", 50002));
  net_run (&n, T0 + 5 * MS);
  add (&n, 0, cand (FZ_ICE_HOST, "192.0.2.1", 52625, "192.0.2.1", 52625));
  add (&n, 1, cand (FZ_ICE_HOST, "192.0.2.2", 52625, "192.0.2.2", 52625));
  for (gint64 t = T0 + 6 * MS; t <= T0 + 2 * S; t += MS)
    {
      net_run (&n, t);
      for (int i = 0; i < 2; i++)
        {
          FzIceEvent e;
          while (fz_ice_agent_poll_event (n.ag[i], &e))
            if (e.type == FZ_ICE_EVENT_SELECTED_PAIR)
              {
                g_test_message ("%d selects a pair of type %d at %" G_GINT64_FORMAT " ms",
                                i, e.local.type, (t - T0) / MS);
                g_assert_cmpint (e.local.type, ==, FZ_ICE_HOST);
              }
        }
    }
  assert_agree (&n, FZ_ICE_HOST);
  net_clear (&n);
}

/* The controlling side restarts (a new agent, the same credentials, as
 * the portal hands out again) after it had renominated: the new agent
 * counts its nominations from 1 again, and the controlled side follows
 * it rather than ignoring them as older than the last one it saw. */
static void
test_restarted_controlling (void)
{
  Net n;
  net_init (&n, TRUE, FALSE, &fz_ice_client_default);
  add (&n, 0, cand (FZ_ICE_RELAY, "198.51.100.1", 50000, "198.51.100.1", 50000));
  add (&n, 1, cand (FZ_ICE_RELAY, "198.51.100.1", 50002, "198.51.100.1", 50002));
  net_run (&n, T0 + 2 * S);
  add (&n, 0, cand (FZ_ICE_HOST, "192.0.2.1", 52625, "192.0.2.1", 52625));
  add (&n, 1, cand (FZ_ICE_HOST, "192.0.2.2", 52625, "192.0.2.2", 52625));
  net_run (&n, T0 + 4 * S);
  assert_agree (&n, FZ_ICE_HOST); /* nomination 2 */

  g_autofree char *ufrag = g_strdup (fz_ice_agent_local_ufrag (n.ag[0]));
  g_autofree char *pwd = g_strdup (fz_ice_agent_local_pwd (n.ag[0]));
  FzIceEvent e;
  while (fz_ice_agent_poll_event (n.ag[0], &e))
    ;
  fz_ice_agent_free (n.ag[0]);
  n.ag[0] = fz_ice_agent_new (TRUE, &fz_ice_client_default, &n.rng, n.now);
  fz_ice_agent_set_local_credentials (n.ag[0], ufrag, pwd);
  fz_ice_agent_set_remote_credentials (n.ag[0], fz_ice_agent_local_ufrag (n.ag[1]),
                                       fz_ice_agent_local_pwd (n.ag[1]));
  /* It has only its relay now; it knows the peer's candidates again. */
  FzIceCandidate relay
    = cand (FZ_ICE_RELAY, "198.51.100.1", 50000, "198.51.100.1", 50000);
  g_assert_true (fz_ice_agent_add_local_candidate (n.ag[0], &relay, n.now));
  g_autoptr (GArray) theirs = fz_ice_agent_local_candidates (n.ag[1]);
  for (guint i = 0; i < theirs->len; i++)
    fz_ice_agent_add_remote_candidate (n.ag[0],
                                       &g_array_index (theirs, FzIceCandidate, i), n.now);
  net_run (&n, n.now + 2 * S);
  assert_agree (&n, FZ_ICE_RELAY);
  net_clear (&n);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ice/timeouts", test_timeouts);
  g_test_add_func ("/ice/connect-host", test_connect_host);
  g_test_add_func ("/ice/nat-rebinding", test_nat_rebinding);
  g_test_add_func ("/ice/connect-relayed", test_connect_relayed);
  g_test_add_func ("/ice/prefers-direct", test_prefers_direct);
  g_test_add_func ("/ice/role-conflict", test_role_conflict);
  g_test_add_func ("/ice/role-conflict-rules", test_role_conflict_rules);
  g_test_add_func ("/ice/no-remote-candidate", test_no_remote_candidate);
  g_test_add_func ("/ice/disconnect", test_disconnect);
  g_test_add_func ("/ice/failover", test_failover);
  g_test_add_func ("/ice/idle-profile", test_idle_profile);
  g_test_add_func ("/ice/optimistic", test_optimistic);
  g_test_add_func ("/ice/local-order", test_local_order);
  g_test_add_func ("/ice/restarted-controlling", test_restarted_controlling);
  g_test_add_func ("/ice/requests", test_requests);
  g_test_add_func ("/ice/check-priority", test_check_priority);
  g_test_add_func ("/ice/nomination-grace", test_nomination_grace);
  return g_test_run ();
}
