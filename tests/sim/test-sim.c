/* Seeded random scenarios: a client node and a gateway node behind NATs,
 * with relays, loss, latency and reordering, on simulated time. Each
 * seed builds a world, connects, checks the invariants, and prints the
 * seed and the world when one fails.
 *
 *   test-sim [--seeds N] [--first S] [--verbose] [--cases-only]
 *   FZ_SIM_SEEDS=N, when set, wins over --seeds (which meson passes) and
 *   the default of 1000, so that FZ_SIM_SEEDS=20000 meson test --suite sim
 *   runs more. */
#include "sim-net.h"

#include <stdio.h>
#include <string.h>

#define MS             1000
#define S              G_USEC_PER_SEC
#define PORTAL_LATENCY (40 * MS)

typedef struct _World World;

/* A data packet sent: what the node said, and the datagram's tag when it
 * went out at once. */
typedef struct
{
  FzNodeSend result;
  guint64 tag;
  gboolean must_arrive;
} Sent;

typedef struct
{
  World *w;
  const char *name;    /* our id at the other side */
  const char *peer_id; /* the other side's id here */
  SimHost *host;
  FzNode *node;
  guint8 priv[32];
  gboolean established, failed, closed, no_relays;
  guint n_established;
  FzIceCandidate last_relay; /* the last relay candidate it signalled */
  guint next_seq;            /* of the next data packet it sends */
  GHashTable *sent;          /* seq -> Sent*: data it sent */
  GHashTable *got;           /* seq -> count: data it received */
  guint max_got, out_of_order, corrupted;
} Peer;

typedef struct
{
  Peer *to;
  FzIceCandidate cand;
  gboolean invalidate;
  gint64 at;
} Signal;

struct _World
{
  SimNet *net;
  FzBufPool *pool;
  Peer c, g;
  GQueue signals;
  const FzSockAddr *relays[2];
  guint n_relays;
  gboolean relay_dead[2];
  guint generation;                      /* of the connection's credentials */
  FzNodeConnectionParams last_c, last_g; /* the last upsert, to repeat it */
  char creds[4][33];
  char desc[512];
  gboolean strict; /* data sent now must arrive (no loss, and a path) */
};

static gboolean verbose;

/* Over all seeds: the worlds that delivered duplicates, reordered the
 * data, lost datagrams. */
static struct
{
  guint duplicating, reordering, lossy;
} totals;

static void
peer_flush (Peer *p)
{
  World *w = p->w;
  FzNodeTransmit t;
  while (fz_node_poll_transmit (p->node, &t))
    {
      sim_host_send (p->host, &t.dst, t.buf->data, t.buf->len);
      fz_packet_buf_free (t.buf);
    }
  FzNodeEvent e;
  while (fz_node_poll_event (p->node, &e))
    {
      if (verbose)
        {
          static const char *const names[] = { "candidate", "invalidated", "established",
                                               "failed",    "closed",      "no relays" };
          g_autofree char *sdp = e.type <= FZ_NODE_EVENT_INVALIDATED_CANDIDATE
                                   ? fz_ice_candidate_to_string (&e.candidate)
                                   : g_strdup ("");
          g_printerr ("%8.3f %s: %s %s %s\n", (sim_net_now (w->net) - 1000 * S) / 1e6,
                      p->name, names[e.type], e.id ? e.id : "", sdp);
        }
      switch (e.type)
        {
        case FZ_NODE_EVENT_NEW_CANDIDATE:
        case FZ_NODE_EVENT_INVALIDATED_CANDIDATE:
          {
            if (e.type == FZ_NODE_EVENT_NEW_CANDIDATE && e.candidate.type == FZ_ICE_RELAY)
              p->last_relay = e.candidate;
            Signal *s = g_new0 (Signal, 1);
            s->to = p == &w->c ? &w->g : &w->c;
            s->cand = e.candidate;
            s->invalidate = e.type == FZ_NODE_EVENT_INVALIDATED_CANDIDATE;
            s->at = sim_net_now (w->net) + PORTAL_LATENCY;
            g_queue_push_tail (&w->signals, s);
            break;
          }
        case FZ_NODE_EVENT_ESTABLISHED:
          p->established = TRUE;
          p->n_established++;
          break;
        case FZ_NODE_EVENT_FAILED:
          p->failed = TRUE;
          p->established = FALSE;
          break;
        case FZ_NODE_EVENT_CLOSED:
          p->closed = TRUE;
          p->established = FALSE;
          break;
        case FZ_NODE_EVENT_NO_RELAYS: p->no_relays = TRUE; break;
        }
      g_free (e.id);
    }
}

static void
on_recv (SimHost *host, const FzSockAddr *local, const FzSockAddr *from,
         const guint8 *data, gsize len, gpointer user_data)
{
  Peer *p = user_data;
  FzPacketBuf *buf = fz_buf_pool_alloc (p->w->pool);
  if (!fz_packet_buf_set (buf, data, len))
    {
      fz_packet_buf_free (buf);
      return;
    }
  FzNodeConn *conn = NULL;
  if (fz_node_decapsulate (p->node, local, from, buf, sim_net_now (p->w->net), &conn)
      == FZ_NODE_RX_PACKET)
    {
      FzIpPacket pkt;
      guint32 plen;
      /* From the one connection there is, by its handle. */
      if (conn != fz_node_lookup (p->node, p->peer_id)
          || fz_ip_packet_parse (&pkt, buf->data, buf->len, FZ_IP_MTU_TUNNEL) != FZ_IP_OK)
        p->corrupted++;
      else
        {
          const guint8 *payload = fz_ip_packet_payload (&pkt, &plen);
          g_autofree char *text = g_strndup ((const char *) payload, MIN (plen, 32));
          guint n;
          if (sscanf (text, "seq %u", &n) != 1)
            p->corrupted++;
          else
            {
              gpointer key = GUINT_TO_POINTER (n);
              guint count = GPOINTER_TO_UINT (g_hash_table_lookup (p->got, key));
              g_hash_table_insert (p->got, key, GUINT_TO_POINTER (count + 1));
              if (n < p->max_got)
                p->out_of_order++;
              p->max_got = MAX (p->max_got, n);
            }
        }
    }
  fz_packet_buf_free (buf);
  peer_flush (p);
}

static gint64
timers (gpointer user_data, gint64 now)
{
  World *w = user_data;
  /* Signalling first: the portal's messages due now. */
  while (!g_queue_is_empty (&w->signals)
         && ((Signal *) g_queue_peek_head (&w->signals))->at <= now)
    {
      Signal *s = g_queue_pop_head (&w->signals);
      if (s->invalidate)
        fz_node_remove_remote_candidate (s->to->node, s->to->peer_id, &s->cand, now);
      else
        fz_node_add_remote_candidate (s->to->node, s->to->peer_id, &s->cand, now);
      peer_flush (s->to);
      g_free (s);
    }
  Peer *peers[2] = { &w->c, &w->g };
  for (int i = 0; i < 2; i++)
    if (fz_node_poll_timeout (peers[i]->node) <= now)
      {
        fz_node_handle_timeout (peers[i]->node, now);
        peer_flush (peers[i]);
      }
  gint64 next = MIN (fz_node_poll_timeout (w->c.node), fz_node_poll_timeout (w->g.node));
  if (!g_queue_is_empty (&w->signals))
    next = MIN (next, ((Signal *) g_queue_peek_head (&w->signals))->at);
  return next;
}

static void
connect_peers (World *w)
{
  w->generation++;
  gint64 now = sim_net_now (w->net);
  FzRng *rng = sim_net_rng (w->net);
  char *cu = w->creds[0], *cp = w->creds[1], *gu = w->creds[2], *gp = w->creds[3];
  g_snprintf (cu, 17, "cu%u%08x", w->generation, fz_rng_u32 (rng));
  g_snprintf (cp, 33, "cp%u%016" G_GINT64_MODIFIER "x", w->generation,
              (guint64) fz_rng_u32 (rng) << 32 | fz_rng_u32 (rng));
  g_snprintf (gu, 17, "gu%u%08x", w->generation, fz_rng_u32 (rng));
  g_snprintf (gp, 33, "gp%u%016" G_GINT64_MODIFIER "x", w->generation,
              (guint64) fz_rng_u32 (rng) << 32 | fz_rng_u32 (rng));
  guint8 psk[32];
  fz_rng_fill (rng, psk, sizeof psk);

  FzNodeConnectionParams pc
    = { .local_ufrag = cu, .local_pwd = cp, .remote_ufrag = gu, .remote_pwd = gp };
  memcpy (pc.remote_key, fz_node_public_key (w->g.node), 32);
  memcpy (pc.psk, psk, 32);
  FzNodeConnectionParams pg
    = { .local_ufrag = gu, .local_pwd = gp, .remote_ufrag = cu, .remote_pwd = cp };
  memcpy (pg.remote_key, fz_node_public_key (w->c.node), 32);
  memcpy (pg.psk, psk, 32);
  g_autoptr (GError) error = NULL;
  w->last_c = pc;
  w->last_g = pg;
  /* Gateway first, as the portal asks it before answering the client. */
  g_assert_true (fz_node_upsert_connection (w->g.node, "client", &pg, now, &error));
  peer_flush (&w->g);
  g_assert_true (fz_node_upsert_connection (w->c.node, "gateway", &pc, now, &error));
  peer_flush (&w->c);
  w->c.established = w->g.established = FALSE;
  w->c.failed = w->g.failed = w->c.closed = w->g.closed = FALSE;
}

static void
peer_init (World *w, Peer *p, const char *name, const char *peer_id, gboolean controlling,
           SimNatKind nat, gboolean random_ports, gboolean firewall)
{
  p->w = w;
  p->name = name;
  p->peer_id = peer_id;
  /* Apart, so that a packet that comes back to its sender is noticed. */
  p->next_seq = controlling ? 0 : 1000000;
  FzRng *rng = sim_net_rng (w->net);
  fz_rng_fill (rng, p->priv, sizeof p->priv);
  p->host = sim_net_add_host (w->net, nat, random_ports, firewall, on_recv, p);
  p->node = fz_node_new (controlling, p->priv, rng, w->pool, sim_net_now (w->net));
  p->sent = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  p->got = g_hash_table_new (g_direct_hash, g_direct_equal);
  fz_node_add_host_address (p->node, sim_host_address (p->host), sim_net_now (w->net));
  FzNodeRelay relays[2];
  char ids[2][8];
  for (guint i = 0; i < w->n_relays; i++)
    {
      g_snprintf (ids[i], sizeof ids[i], "r%u", i);
      relays[i] = (FzNodeRelay){ .id = ids[i],
                                 .v4 = w->relays[i],
                                 .username = "sim",
                                 .password = "secret",
                                 .realm = "sim" };
    }
  fz_node_update_relays (p->node, relays, w->n_relays, NULL, 0, sim_net_now (w->net));
  peer_flush (p);
}

static void
peer_clear (Peer *p)
{
  fz_node_free (p->node);
  g_hash_table_unref (p->sent);
  g_hash_table_unref (p->got);
}

static void send_data (World *w, Peer *from, guint n);

/* The client's side is established when its handshake completes; the
 * gateway's when the first data confirms the session, so some is sent. */
static gboolean
run_until_established (World *w, gint64 limit)
{
  gint64 end = sim_net_now (w->net) + limit;
  while (sim_net_now (w->net) < end && !w->c.established)
    {
      sim_net_run (w->net, MIN (end, sim_net_now (w->net) + 50 * MS), timers, w);
      /* A failed connection is asked for again, as the client does. */
      if (w->c.failed || w->g.failed)
        {
          fz_node_close_connection (w->c.node, "gateway", sim_net_now (w->net));
          fz_node_close_connection (w->g.node, "client", sim_net_now (w->net));
          connect_peers (w);
        }
    }
  for (int i = 0; i < 20 && w->c.established && !w->g.established; i++)
    {
      send_data (w, &w->c, 1);
      sim_net_run (w->net, sim_net_now (w->net) + 100 * MS, timers, w);
    }
  return w->c.established && w->g.established;
}

/* Sends @n numbered packets from @from to the other side, 5 ms apart,
 * and notes what became of each. */
static void
send_data (World *w, Peer *from, guint n)
{
  const char *to_id = from->peer_id;
  FzIpAddr src, dst;
  fz_ip_addr_parse (&src, from == &w->c ? "100.64.0.1" : "100.64.0.2");
  fz_ip_addr_parse (&dst, from == &w->c ? "100.64.0.2" : "100.64.0.1");
  for (guint i = 0; i < n; i++)
    {
      guint seq = from->next_seq++;
      FzPacketBuf *buf = fz_buf_pool_alloc (w->pool);
      FzIpPacket pkt;
      char text[32];
      g_snprintf (text, sizeof text, "seq %u", seq);
      g_assert_true (
        fz_ip_build_udp (buf, &pkt, &src, &dst, 4000, 5000, text, strlen (text), NULL));
      FzNodeTransmit t;
      Sent *sent = g_new0 (Sent, 1);
      sent->must_arrive = w->strict;
      g_hash_table_insert (from->sent, GUINT_TO_POINTER (seq), sent);
      sent->result = fz_node_encapsulate_conn (
        from->node, fz_node_lookup (from->node, to_id), buf, sim_net_now (w->net), &t);
      switch (sent->result)
        {
        case FZ_NODE_SEND:
          sent->tag = sim_host_send (from->host, &t.dst, t.buf->data, t.buf->len);
          fz_packet_buf_free (t.buf);
          break;
        case FZ_NODE_QUEUED: break;
        case FZ_NODE_DROPPED: fz_packet_buf_free (buf); break;
        }
      peer_flush (from);
      sim_net_run (w->net, sim_net_now (w->net) + 5 * MS, timers, w);
    }
}

static const char *
send_result_name (FzNodeSend r)
{
  return r == FZ_NODE_SEND ? "sent" : r == FZ_NODE_QUEUED ? "queued" : "dropped";
}

/* Exactly once: each packet @from sent arrived at @to once if the network
 * delivered it (one copy or more), never if it lost it or the node
 * dropped it; at most once if it was queued; and nothing else arrived.
 * Those sent when the path was sure (must_arrive) arrived. */
static gboolean
check_direction (World *w, Peer *from, Peer *to, GString *why)
{
  if (to->corrupted > 0)
    {
      g_string_append_printf (why, "%s got %u corrupted packets; ", to->name,
                              to->corrupted);
      return FALSE;
    }
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init (&it, to->got);
  while (g_hash_table_iter_next (&it, &key, &value))
    if (!g_hash_table_contains (from->sent, key))
      {
        g_string_append_printf (why, "%s got packet %u, which %s never sent; ", to->name,
                                GPOINTER_TO_UINT (key), from->name);
        return FALSE;
      }
  g_hash_table_iter_init (&it, from->sent);
  while (g_hash_table_iter_next (&it, &key, &value))
    {
      const Sent *sent = value;
      guint got = GPOINTER_TO_UINT (g_hash_table_lookup (to->got, key));
      guint copies
        = sent->result == FZ_NODE_SEND ? sim_net_delivered (w->net, sent->tag) : 0;
      gboolean fine;
      switch (sent->result)
        {
        case FZ_NODE_SEND: fine = got == MIN (copies, 1); break;
        case FZ_NODE_QUEUED: fine = got <= 1; break;
        default: fine = got == 0; break;
        }
      if (sent->must_arrive && (sent->result != FZ_NODE_SEND || got != 1))
        fine = FALSE;
      if (!fine)
        {
          g_string_append_printf (
            why,
            "%s %s packet %u%s, the network delivered %u copies, "
            "%s got it %u times; ",
            from->name, send_result_name (sent->result), GPOINTER_TO_UINT (key),
            sent->must_arrive ? " (must arrive)" : "", copies, to->name, got);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
check_delivery (World *w, GString *why)
{
  return check_direction (w, &w->c, &w->g, why) && check_direction (w, &w->g, &w->c, why);
}

/* Data both ways, settled: everything in flight has arrived or is lost. */
static gboolean
exchange_data (World *w, guint n, GString *why)
{
  send_data (w, &w->c, n);
  send_data (w, &w->g, n);
  sim_net_run (w->net, sim_net_now (w->net) + 2 * S, timers, w);
  return check_delivery (w, why);
}

/* Every packet in [first, first + n) arrived exactly once and intact. */
static gboolean
check_data (World *w, Peer *p, guint first, guint n, GString *why)
{
  if (p->corrupted > 0)
    {
      g_string_append_printf (why, "%s got %u corrupted packets; ", p->name,
                              p->corrupted);
      return FALSE;
    }
  for (guint i = first; i < first + n; i++)
    {
      guint count = GPOINTER_TO_UINT (g_hash_table_lookup (p->got, GUINT_TO_POINTER (i)));
      if (count != 1)
        {
          g_string_append_printf (why, "%s got packet %u %u times; ", p->name, i, count);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
expect_direct (SimNatKind a, SimNatKind b, gboolean fa, gboolean fb)
{
  return !fa && !fb && !(a == SIM_NAT_SYMMETRIC && b == SIM_NAT_SYMMETRIC);
}

static gboolean
run_seed (guint64 seed, GString *why)
{
  World w = { 0 };
  w.net = sim_net_new (seed);
  w.pool = fz_buf_pool_new (2048, 256);
  g_queue_init (&w.signals);
  FzRng *rng = sim_net_rng (w.net);

  SimNatKind nc = fz_rng_below (rng, 4), ng = fz_rng_below (rng, 4);
  gboolean rc = fz_rng_below (rng, 2), rg = fz_rng_below (rng, 2);
  gboolean fwc = fz_rng_below (rng, 8) == 0, fwg = fz_rng_below (rng, 8) == 0;
  double loss = fz_rng_below (rng, 5) == 0 ? 0.10 : 0.0;
  gint64 latency = (5 + fz_rng_below (rng, 95)) * MS;
  gint64 jitter = fz_rng_below (rng, 3) == 0 ? fz_rng_below (rng, 20) * MS : 0;
  w.n_relays = 1 + fz_rng_below (rng, 2);
  /* 0 none, 1 relay gone, 2 goodbye, 3 new PSK, 4 relay restart */
  guint twist = fz_rng_below (rng, 5);
  /* A quarter of the worlds duplicate 2-10 % of datagrams, the copy up to
   * 300 ms late; a quarter hold back 20-50 % of them by up to 50 ms more
   * than the latency, so that many are overtaken. */
  double dup = fz_rng_below (rng, 4) == 0 ? (2 + fz_rng_below (rng, 9)) / 100.0 : 0.0;
  double reorder
    = fz_rng_below (rng, 4) == 0 ? (20 + fz_rng_below (rng, 31)) / 100.0 : 0.0;
  gint64 dup_delay = 300 * MS, reorder_delay = latency + 50 * MS;
  g_snprintf (w.desc, sizeof w.desc,
              "client %s%s%s, gateway %s%s%s, loss %.0f%%, latency %" G_GINT64_FORMAT
              " ms + %" G_GINT64_FORMAT " ms jitter, %u relays, twist %u, "
              "duplicates %.0f%%, reordering %.0f%%",
              sim_nat_kind_name (nc), rc ? " random ports" : "", fwc ? " firewalled" : "",
              sim_nat_kind_name (ng), rg ? " random ports" : "", fwg ? " firewalled" : "",
              loss * 100, latency / MS, jitter / MS, w.n_relays, twist, dup * 100,
              reorder * 100);
  if (verbose)
    g_printerr ("seed %" G_GUINT64_FORMAT ": %s\n", seed, w.desc);

  sim_net_set_latency (w.net, latency, jitter);
  sim_net_set_duplication (w.net, dup, dup_delay);
  sim_net_set_reordering (w.net, reorder, reorder_delay);
  for (guint i = 0; i < w.n_relays; i++)
    w.relays[i] = sim_net_add_relay (w.net);
  peer_init (&w, &w.c, "client", "gateway", TRUE, nc, rc, fwc);
  peer_init (&w, &w.g, "gateway", "client", FALSE, ng, rg, fwg);
  sim_net_set_loss (w.net, loss);
  /* Let the allocations settle, as a real client has them before the
   * first resource is asked for. */
  sim_net_run (w.net, sim_net_now (w.net) + 2 * S, timers, &w);

  gboolean ok = FALSE;
  w.strict = loss == 0;
  connect_peers (&w);
  if (!run_until_established (&w, 60 * S))
    {
      g_string_append_printf (
        why, "did not connect within 60 s (client: %s, %s; gateway: %s, %s); ",
        fz_node_has_connection (w.c.node, "gateway") ? "connection" : "none",
        w.c.established ? "established" : "not established",
        fz_node_has_connection (w.g.node, "client") ? "connection" : "none",
        w.g.established ? "established" : "not established");
      goto out;
    }
  /* A better path found later replaces the first one. */
  sim_net_run (w.net, sim_net_now (w.net) + 5 * S, timers, &w);
  gboolean relayed
    = fz_node_is_relayed (w.c.node, "gateway") || fz_node_is_relayed (w.g.node, "client");
  if (relayed == expect_direct (nc, ng, fwc, fwg))
    {
      g_string_append_printf (why, "connected %s, expected %s; ",
                              relayed ? "relayed" : "directly",
                              relayed ? "directly" : "relayed");
      goto out;
    }
  if (!exchange_data (&w, 30, why))
    goto out;

  switch (twist)
    {
    case 1:
      {
        /* The relay goes away (the portal says so); the connection must
         * survive, on the other relay or directly. */
        const char *gone[] = { "r0" };
        gint64 now = sim_net_now (w.net);
        sim_net_remove_relay (w.net, w.relays[0]);
        fz_node_update_relays (w.c.node, NULL, 0, gone, 1, now);
        fz_node_update_relays (w.g.node, NULL, 0, gone, 1, now);
        peer_flush (&w.c);
        peer_flush (&w.g);
        sim_net_run (w.net, now + 5 * S, timers, &w);
        gboolean can = w.n_relays == 2 || expect_direct (nc, ng, fwc, fwg);
        if (can && (w.c.failed || w.g.failed))
          {
            g_string_append (why, "the connection failed when a relay went away; ");
            goto out;
          }
        w.strict = can && loss == 0;
        if (!exchange_data (&w, 20, why))
          {
            g_string_append (why, "after a relay went away; ");
            goto out;
          }
        break;
      }
    case 2:
      {
        /* The gateway restarts: goodbye, and the client drops the
         * connection at once; its next packet reconnects. */
        gint64 now = sim_net_now (w.net);
        fz_node_close_connection (w.g.node, "client", now);
        peer_flush (&w.g);
        sim_net_run (w.net, now + latency + jitter + reorder_delay + 205 * MS, timers,
                     &w);
        if (loss == 0 && (!w.c.closed || fz_node_has_connection (w.c.node, "gateway")))
          {
            g_string_append (why, "the client did not drop the connection on goodbye; ");
            goto out;
          }
        if (!w.c.closed)
          fz_node_close_connection (w.c.node, "gateway", sim_net_now (w.net)); /* lost */
        /* The client's next packet finds no connection, which makes it
         * ask the portal for one again. */
        FzPacketBuf *next = fz_buf_pool_alloc (w.pool);
        fz_packet_buf_set (next, "x", 1);
        FzNodeTransmit t;
        FzNodeSend r
          = fz_node_encapsulate (w.c.node, "gateway", next, sim_net_now (w.net), &t);
        if (r != FZ_NODE_QUEUED)
          fz_packet_buf_free (next); /* SEND gives it back as t.buf */
        if (r != FZ_NODE_DROPPED)
          {
            g_string_append (why, "a packet after goodbye was not refused; ");
            goto out;
          }
        connect_peers (&w);
        if (!run_until_established (&w, 60 * S))
          {
            g_string_append (why, "did not reconnect after goodbye; ");
            goto out;
          }
        if (!exchange_data (&w, 20, why))
          {
            g_string_append (why, "after goodbye and reconnecting; ");
            goto out;
          }
        break;
      }
    case 3:
      {
        /* A new PSK makes a new connection, which connects again. */
        guint before = w.c.n_established;
        connect_peers (&w);
        if (!run_until_established (&w, 60 * S) || w.c.n_established != before + 1)
          {
            g_string_append (why, "a changed PSK did not make a new connection; ");
            goto out;
          }
        if (!exchange_data (&w, 20, why))
          {
            g_string_append (why, "after a new PSK; ");
            goto out;
          }
        break;
      }
    case 4:
      {
        /* The first relay restarts at the same address, forgetting every
         * allocation. What went through it fails (consent) and must come
         * back within a minute: on a new allocation, the other relay or
         * directly. Nothing but a 437 tells the nodes. */
        gint64 now = sim_net_now (w.net);
        sim_net_restart_relay (w.net, w.relays[0]);
        sim_net_run (w.net, now + 25 * S, timers, &w);
        if (!w.c.established || !w.g.established)
          {
            fz_node_close_connection (w.c.node, "gateway", sim_net_now (w.net));
            fz_node_close_connection (w.g.node, "client", sim_net_now (w.net));
            connect_peers (&w);
          }
        if (!run_until_established (&w, 60 * S))
          {
            g_string_append (why, "did not connect again after the relay restarted; ");
            goto out;
          }
        w.strict = FALSE; /* what was in flight at the restart is lost */
        if (!exchange_data (&w, 20, why))
          {
            g_string_append (why, "after the relay restarted; ");
            goto out;
          }
        break;
      }
    default: break;
    }
  /* Late copies of anything sent before the twist counted too. */
  if (!check_delivery (&w, why))
    goto out;
  guint duplicated, reordered;
  sim_net_stats (w.net, &duplicated, &reordered);
  if (verbose)
    g_printerr ("%u duplicates and %u reordered datagrams delivered; data out of order: "
                "%u at the client, %u at the gateway\n",
                duplicated, reordered, w.c.out_of_order, w.g.out_of_order);
  /* Heavy reordering reorders the data in every world (one way in
   * 1000 may keep its order); a few duplicates among a few hundred
   * datagrams may be none. */
  if (reorder > 0 && w.c.out_of_order == 0 && w.g.out_of_order == 0)
    {
      g_string_append (why, "the network did not reorder the data; ");
      goto out;
    }
  if (duplicated > 0)
    totals.duplicating++;
  if (reorder > 0)
    totals.reordering++;
  if (loss > 0)
    totals.lossy++;
  ok = TRUE;

out:
  if (!ok)
    g_string_append_printf (why, "(seed %" G_GUINT64_FORMAT ": %s)", seed, w.desc);
  peer_clear (&w.c);
  peer_clear (&w.g);
  g_queue_clear_full (&w.signals, g_free);
  sim_net_free (w.net);
  fz_buf_pool_free (w.pool);
  return ok;
}

/* Deterministic cases for what random worlds do not pin down. */

static void
world_setup (World *w, guint64 seed, guint n_relays, gint64 latency)
{
  memset (w, 0, sizeof *w);
  w->net = sim_net_new (seed);
  w->pool = fz_buf_pool_new (2048, 256);
  g_queue_init (&w->signals);
  sim_net_set_latency (w->net, latency, 0);
  w->n_relays = n_relays;
  for (guint i = 0; i < n_relays; i++)
    w->relays[i] = sim_net_add_relay (w->net);
}

static void
world_start (World *w, SimNatKind nc, SimNatKind ng)
{
  peer_init (w, &w->c, "client", "gateway", TRUE, nc, FALSE, FALSE);
  peer_init (w, &w->g, "gateway", "client", FALSE, ng, FALSE, FALSE);
  sim_net_run (w->net, sim_net_now (w->net) + 2 * S, timers, w);
}

/* Asks for the connection as the portal would and waits up to 10 s. */
static gboolean
connect_and_wait (World *w)
{
  connect_peers (w);
  return run_until_established (w, 10 * S);
}

static void
world_clear (World *w)
{
  peer_clear (&w->c);
  peer_clear (&w->g);
  g_queue_clear_full (&w->signals, g_free);
  sim_net_free (w->net);
  fz_buf_pool_free (w->pool);
}

typedef struct
{
  FzSockAddr client;
  guint wg_initiations; /* from anyone */
  guint client_checks;  /* ICE binding requests the client sent */
} Counts;

static void
count (const FzSockAddr *src, const FzSockAddr *dst, const guint8 *data, gsize len,
       gpointer user)
{
  Counts *k = user;
  if (len == 148 && data[0] == 1 && data[1] == 0)
    k->wg_initiations++;
  /* ICE checks carry USERNAME, PRIORITY and more: longer than TURN's
   * bare keepalive bindings (28 bytes). */
  if (fz_sock_addr_equal (src, &k->client) && fz_stun_is_stun (data, len) && data[0] == 0
      && data[1] == 1 && len > 60)
    k->client_checks++;
}

#define CASE_ASSERT(cond, ...)                                                           \
  do                                                                                     \
    {                                                                                    \
      if (!(cond))                                                                       \
        {                                                                                \
          printf ("FAIL case %s: ", name);                                               \
          printf (__VA_ARGS__);                                                          \
          printf ("\n");                                                                 \
          ok = FALSE;                                                                    \
          goto out;                                                                      \
        }                                                                                \
    }                                                                                    \
  while (0)

/* 128 packets wait for the path, the rest are dropped, and the waiting
 * ones arrive once each. */
static gboolean
case_buffer (void)
{
  const char *name = "buffer";
  gboolean ok = TRUE;
  World w;
  world_setup (&w, 1, 0, 20 * MS);
  world_start (&w, SIM_NAT_NONE, SIM_NAT_NONE);
  connect_peers (&w);
  guint queued = 0, dropped = 0;
  FzIpAddr src, dst;
  fz_ip_addr_parse (&src, "100.64.0.1");
  fz_ip_addr_parse (&dst, "100.64.0.2");
  for (guint i = 0; i < 130; i++)
    {
      FzPacketBuf *buf = fz_buf_pool_alloc (w.pool);
      FzIpPacket pkt;
      char text[32];
      g_snprintf (text, sizeof text, "seq %u", i);
      fz_ip_build_udp (buf, &pkt, &src, &dst, 4000, 5000, text, strlen (text), NULL);
      FzNodeTransmit t;
      switch (fz_node_encapsulate (w.c.node, "gateway", buf, sim_net_now (w.net), &t))
        {
        case FZ_NODE_QUEUED: queued++; break;
        case FZ_NODE_DROPPED:
          dropped++;
          fz_packet_buf_free (buf);
          break;
        case FZ_NODE_SEND: fz_packet_buf_free (t.buf); break;
        }
    }
  CASE_ASSERT (queued == 128 && dropped == 2, "%u queued, %u dropped", queued, dropped);
  CASE_ASSERT (run_until_established (&w, 10 * S), "did not connect");
  sim_net_run (w.net, sim_net_now (w.net) + S, timers, &w);
  GString *why = g_string_new (NULL);
  gboolean got = check_data (&w, &w.g, 0, 128, why);
  CASE_ASSERT (got, "%s", why->str);
  g_string_free (why, TRUE);
out:
  world_clear (&w);
  return ok;
}

/* After 20 s without data the checks slow to the idle profile (every
 * 25 s); data brings back the default (every 1.5 s). */
static gboolean
case_idle (void)
{
  const char *name = "idle";
  gboolean ok = TRUE;
  World w;
  Counts k = { 0 };
  world_setup (&w, 2, 0, 20 * MS);
  world_start (&w, SIM_NAT_NONE, SIM_NAT_NONE);
  k.client = *sim_host_address (w.c.host);
  sim_net_set_tap (w.net, count, &k);
  CASE_ASSERT (connect_and_wait (&w), "did not connect");
  sim_net_run (w.net, sim_net_now (w.net) + 25 * S, timers, &w);
  k.client_checks = 0;
  sim_net_run (w.net, sim_net_now (w.net) + 100 * S, timers, &w);
  CASE_ASSERT (k.client_checks >= 3 && k.client_checks <= 5,
               "%u checks in 100 s idle, expected about 4", k.client_checks);
  send_data (&w, &w.c, 1);
  k.client_checks = 0;
  sim_net_run (w.net, sim_net_now (w.net) + 15 * S, timers, &w);
  CASE_ASSERT (k.client_checks >= 8, "%u checks in 15 s after data, expected about 10",
               k.client_checks);
out:
  world_clear (&w);
  return ok;
}

/* Upserting an unchanged connection keeps it and starts one new
 * WireGuard handshake, at most once per 20 s. */
static gboolean
case_upsert (void)
{
  const char *name = "upsert";
  gboolean ok = TRUE;
  World w;
  Counts k = { 0 };
  world_setup (&w, 3, 0, 20 * MS);
  world_start (&w, SIM_NAT_NONE, SIM_NAT_NONE);
  sim_net_set_tap (w.net, count, &k);
  CASE_ASSERT (connect_and_wait (&w), "did not connect");
  sim_net_run (w.net, sim_net_now (w.net) + 21 * S, timers, &w);
  guint established = w.c.n_established;
  k.wg_initiations = 0;
  /* At 0 s, 6 s (past WireGuard's own 5 s limit, inside ours) and 21 s. */
  static const gint64 at[] = { 0, 6 * S, 21 * S };
  static const guint expect[] = { 1, 1, 2 };
  gint64 start = sim_net_now (w.net);
  for (int round = 0; round < 3; round++)
    {
      sim_net_run (w.net, start + at[round], timers, &w);
      gboolean up = fz_node_upsert_connection (w.c.node, "gateway", &w.last_c,
                                               sim_net_now (w.net), NULL);
      CASE_ASSERT (up, "upsert failed");
      peer_flush (&w.c);
      sim_net_run (w.net, sim_net_now (w.net) + S, timers, &w);
      CASE_ASSERT (k.wg_initiations == expect[round],
                   "round %d: %u handshakes, expected %u", round, k.wg_initiations,
                   expect[round]);
    }
  CASE_ASSERT (w.c.n_established == established
                 && fz_node_is_established (w.c.node, "gateway"),
               "the connection was replaced");
out:
  world_clear (&w);
  return ok;
}

/* The relay that answers faster carries the connection's relay
 * candidates; when the portal removes all relays, the node says so. */
static gboolean
case_relay_choice (void)
{
  const char *name = "relay-choice";
  gboolean ok = TRUE;
  World w;
  world_setup (&w, 4, 2, 20 * MS);
  sim_net_set_relay_delay (w.net, w.relays[0], 80 * MS);
  world_start (&w, SIM_NAT_EI, SIM_NAT_EI);
  CASE_ASSERT (connect_and_wait (&w), "did not connect");
  CASE_ASSERT (fz_ip_addr_equal (&w.c.last_relay.addr.ip, &w.relays[1]->ip),
               "the slower relay was chosen");
  const char *all[] = { "r0", "r1" };
  fz_node_update_relays (w.c.node, NULL, 0, all, 2, sim_net_now (w.net));
  peer_flush (&w.c);
  CASE_ASSERT (w.c.no_relays, "no event when the last relay went away");
out:
  world_clear (&w);
  return ok;
}

/* A client closing says goodbye; the gateway drops it one trip later. */
static gboolean
case_client_goodbye (void)
{
  const char *name = "client-goodbye";
  gboolean ok = TRUE;
  World w;
  world_setup (&w, 5, 0, 30 * MS);
  world_start (&w, SIM_NAT_NONE, SIM_NAT_NONE);
  CASE_ASSERT (connect_and_wait (&w), "did not connect");
  fz_node_close_connection (w.c.node, "gateway", sim_net_now (w.net));
  peer_flush (&w.c);
  sim_net_run (w.net, sim_net_now (w.net) + 31 * MS, timers, &w);
  CASE_ASSERT (w.g.closed && !fz_node_has_connection (w.g.node, "client"),
               "the gateway kept the connection");
out:
  world_clear (&w);
  return ok;
}

/* Batches: one call, a result per packet, garbage in the middle changes
 * nothing for the others; ECN goes to the outer header. */
static gboolean
case_batch_ecn (void)
{
  const char *name = "batch-ecn";
  gboolean ok = TRUE;
  World w;
  FzPacketBuf *bufs[4] = { NULL };
  world_setup (&w, 6, 0, 20 * MS);
  world_start (&w, SIM_NAT_NONE, SIM_NAT_NONE);
  CASE_ASSERT (connect_and_wait (&w), "did not connect");
  FzIpAddr src, dst;
  fz_ip_addr_parse (&src, "100.64.0.1");
  fz_ip_addr_parse (&dst, "100.64.0.2");
  for (guint i = 0; i < 3; i++)
    {
      bufs[i] = fz_buf_pool_alloc (w.pool);
      FzIpPacket pkt;
      char text[32];
      g_snprintf (text, sizeof text, "seq %u", 500 + i);
      fz_ip_build_udp (bufs[i], &pkt, &src, &dst, 4000, 5000, text, strlen (text), NULL);
      if (i == 1)
        fz_ip_packet_set_ecn (&pkt, 3); /* CE */
    }
  FzNodeSend sent[3];
  FzNodeTransmit out[3];
  fz_node_encapsulate_batch (w.c.node, fz_node_lookup (w.c.node, "gateway"), bufs, 3,
                             sim_net_now (w.net), sent, out);
  for (guint i = 0; i < 3; i++)
    CASE_ASSERT (sent[i] == FZ_NODE_SEND, "packet %u not sent at once", i);
  CASE_ASSERT (out[0].ecn == 0 && out[1].ecn == 3 && out[2].ecn == 0, "ECN %u %u %u",
               out[0].ecn, out[1].ecn, out[2].ecn);

  /* Received as one batch, with a bad datagram among them. */
  FzPacketBuf *in[4] = { bufs[0], fz_buf_pool_alloc (w.pool), bufs[1], bufs[2] };
  bufs[3] = in[1];
  fz_packet_buf_set (in[1], "\x04\x00\x00\x00garbage", 11);
  FzSockAddr local[4], from[4];
  for (guint i = 0; i < 4; i++)
    {
      local[i] = *sim_host_address (w.g.host);
      from[i] = *sim_host_address (w.c.host);
    }
  FzNodeRxResult rx[4];
  fz_node_decapsulate_batch (w.g.node, local, from, in, 4, sim_net_now (w.net), rx);
  CASE_ASSERT (rx[0].rx == FZ_NODE_RX_PACKET && rx[1].rx == FZ_NODE_RX_NOTHING
                 && rx[2].rx == FZ_NODE_RX_PACKET && rx[3].rx == FZ_NODE_RX_PACKET,
               "results %d %d %d %d", rx[0].rx, rx[1].rx, rx[2].rx, rx[3].rx);
  CASE_ASSERT (rx[0].conn == fz_node_lookup (w.g.node, "client")
                 && g_strcmp0 (fz_node_conn_id (rx[0].conn), "client") == 0,
               "wrong connection");
  FzIpPacket pkt;
  CASE_ASSERT (fz_ip_packet_parse (&pkt, in[2]->data, in[2]->len, FZ_IP_MTU_TUNNEL)
                   == FZ_IP_OK
                 && fz_ip_packet_ecn (&pkt) == 3,
               "the inner packet lost its ECN");
out:
  for (guint i = 0; i < 4; i++)
    fz_packet_buf_free (bufs[i]);
  world_clear (&w);
  return ok;
}

/* A relay that delivers peer data only as Data indications (no
 * ChannelData) carries a relayed connection both ways. */
static gboolean
case_data_indications (void)
{
  const char *name = "data-indications";
  gboolean ok = TRUE;
  g_autoptr (GString) why = g_string_new (NULL);
  World w;
  world_setup (&w, 8, 1, 20 * MS);
  sim_net_set_relay_data_indications (w.net, w.relays[0], TRUE);
  peer_init (&w, &w.c, "client", "gateway", TRUE, SIM_NAT_NONE, FALSE, TRUE);
  peer_init (&w, &w.g, "gateway", "client", FALSE, SIM_NAT_NONE, FALSE, TRUE);
  sim_net_run (w.net, sim_net_now (w.net) + 2 * S, timers, &w);
  CASE_ASSERT (connect_and_wait (&w), "did not connect through the relay");
  CASE_ASSERT (fz_node_is_relayed (w.c.node, "gateway"), "not relayed");
  w.strict = TRUE;
  send_data (&w, &w.c, 20);
  send_data (&w, &w.g, 20);
  sim_net_run (w.net, sim_net_now (w.net) + 200 * MS, timers, &w);
  CASE_ASSERT (check_delivery (&w, why), "%s", why->str);
out:
  world_clear (&w);
  return ok;
}

/* reset() (the network changed): connections fail, allocations start
 * over, and the next connection is established as usual. */
static gboolean
case_reset (void)
{
  const char *name = "reset";
  gboolean ok = TRUE;
  World w;
  world_setup (&w, 7, 1, 20 * MS);
  world_start (&w, SIM_NAT_EI, SIM_NAT_SYMMETRIC);
  CASE_ASSERT (connect_and_wait (&w), "did not connect");
  fz_node_reset (w.c.node, sim_net_now (w.net));
  w.c.last_relay = (FzIceCandidate){ 0 };
  peer_flush (&w.c);
  CASE_ASSERT (w.c.failed && fz_node_n_connections (w.c.node) == 0,
               "the connection survived a reset");
  fz_node_add_host_address (w.c.node, sim_host_address (w.c.host), sim_net_now (w.net));
  peer_flush (&w.c);
  sim_net_run (w.net, sim_net_now (w.net) + 2 * S, timers, &w);
  fz_node_close_connection (w.g.node, "client", sim_net_now (w.net));
  peer_flush (&w.g);
  connect_peers (&w);
  CASE_ASSERT (run_until_established (&w, 10 * S), "did not connect after the reset");
  CASE_ASSERT (w.c.last_relay.addr.ip.family == 4, "no relay candidate after the reset");
out:
  world_clear (&w);
  return ok;
}

typedef struct
{
  FzSockAddr client;
  gboolean on;
  GPtrArray *data; /* GBytes: WireGuard data the client sent */
  FzSockAddr dst;
} Capture;

static void
capture (const FzSockAddr *src, const FzSockAddr *dst, const guint8 *data, gsize len,
         gpointer user)
{
  Capture *k = user;
  if (k->on && fz_sock_addr_equal (src, &k->client) && len > 32 && data[0] == 4)
    {
      g_ptr_array_add (k->data, g_bytes_new (data, len));
      k->dst = *dst;
    }
}

/* Sends the first @n datagrams captured again, as the client. */
static void
replay (World *w, Capture *k, guint n)
{
  k->on = FALSE;
  for (guint i = 0; i < n; i++)
    {
      gsize len;
      const guint8 *d = g_bytes_get_data (k->data->pdata[i], &len);
      sim_host_send (w->c.host, &k->dst, d, len);
    }
  sim_net_run (w->net, sim_net_now (w->net) + S, timers, w);
  k->on = TRUE;
}

/* Data replayed at once (inside the replay window) and after the window
 * has moved past it is delivered once, as it was first. The second
 * replay sends everything: the window is a ring, and the old packets
 * whose bits have been cleared for newer ones but not yet set again are
 * refused only for being too old. */
static gboolean
case_replay (void)
{
  const char *name = "replay";
  gboolean ok = TRUE;
  World w;
  Capture k = { .data = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref) };
  GString *why = g_string_new (NULL);
  world_setup (&w, 8, 0, 20 * MS);
  world_start (&w, SIM_NAT_NONE, SIM_NAT_NONE);
  k.client = *sim_host_address (w.c.host);
  sim_net_set_tap (w.net, capture, &k);
  CASE_ASSERT (connect_and_wait (&w), "did not connect");
  w.strict = TRUE;
  k.on = TRUE;
  send_data (&w, &w.c, 5);
  sim_net_run (w.net, sim_net_now (w.net) + S, timers, &w);
  CASE_ASSERT (k.data->len == 5, "%u data packets seen", k.data->len);
  replay (&w, &k, k.data->len);
  CASE_ASSERT (check_delivery (&w, why), "replayed at once: %s", why->str);
  send_data (&w, &w.c, FZ_WG_REPLAY_WINDOW + 64);
  sim_net_run (w.net, sim_net_now (w.net) + S, timers, &w);
  replay (&w, &k, k.data->len);
  CASE_ASSERT (check_delivery (&w, why), "replayed late: %s", why->str);
out:
  g_string_free (why, TRUE);
  g_ptr_array_unref (k.data);
  world_clear (&w);
  return ok;
}

/* A numbered packet of exactly @len bytes from the client to the gateway
 * ("seq N" and zeros). */
static FzPacketBuf *
sized_packet (World *w, guint seq, gsize len)
{
  FzIpAddr src, dst;
  fz_ip_addr_parse (&src, "100.64.0.1");
  fz_ip_addr_parse (&dst, "100.64.0.2");
  guint8 payload[FZ_IP_MTU_TUNNEL] = { 0 };
  g_snprintf ((char *) payload, 32, "seq %u", seq);
  FzPacketBuf *buf = fz_buf_pool_alloc (w->pool);
  FzIpPacket pkt;
  g_assert_true (
    fz_ip_build_udp (buf, &pkt, &src, &dst, 4000, 5000, payload, len - 28, NULL));
  g_assert_cmpuint (buf->len, ==, len);
  return buf;
}

/* Sends @buf from the client by handle and returns the datagram's
 * length, or 0 if it did not go out at once. */
static gsize
send_sized (World *w, FzPacketBuf *buf)
{
  FzNodeTransmit t;
  FzNodeSend r = fz_node_encapsulate_conn (
    w->c.node, fz_node_lookup (w->c.node, "gateway"), buf, sim_net_now (w->net), &t);
  if (r != FZ_NODE_SEND)
    {
      if (r == FZ_NODE_DROPPED)
        fz_packet_buf_free (buf);
      return 0;
    }
  gsize len = t.buf->len;
  sim_host_send (w->c.host, &t.dst, t.buf->data, t.buf->len);
  fz_packet_buf_free (t.buf);
  peer_flush (&w->c);
  return len;
}

#define WALL_AT_START (G_GINT64_CONSTANT (1700000000) * S)

/* Statistics count the traffic both sides saw, and name the path: the
 * selected pair's addresses, and the handshake's wall-clock time. */
static gboolean
case_stats (void)
{
  const char *name = "stats";
  gboolean ok = TRUE;
  World w;
  FzNodeStats cs0, gs0, cs, gs;
  world_setup (&w, 9, 0, 20 * MS);
  world_start (&w, SIM_NAT_NONE, SIM_NAT_NONE);
  gint64 t0 = sim_net_now (w.net);
  fz_node_set_wall_clock (w.c.node, WALL_AT_START, t0);
  CASE_ASSERT (connect_and_wait (&w), "did not connect");
  FzNodeConn *cc = fz_node_lookup (w.c.node, "gateway");
  FzNodeConn *gc = fz_node_lookup (w.g.node, "client");
  CASE_ASSERT (fz_node_get_stats (w.c.node, cc, &cs0)
                 && fz_node_get_stats (w.g.node, gc, &gs0),
               "no statistics");
  CASE_ASSERT (cs0.established && cs0.path == FZ_NODE_PATH_DIRECT && cs0.relay_id == NULL,
               "client: established %d path %d", cs0.established, cs0.path);
  CASE_ASSERT (fz_sock_addr_equal (&cs0.local.base, sim_host_address (w.c.host))
                 && fz_sock_addr_equal (&cs0.remote.addr, sim_host_address (w.g.host))
                 && fz_sock_addr_equal (&gs0.remote.addr, sim_host_address (w.c.host)),
               "the selected pair is not the hosts' addresses");
  CASE_ASSERT (cs0.last_handshake_wall_us > WALL_AT_START
                 && cs0.last_handshake_wall_us < WALL_AT_START + 20 * S,
               "handshake at %" G_GINT64_FORMAT, cs0.last_handshake_wall_us);
  CASE_ASSERT (cs0.tx_packets > 0 && gs0.rx_packets > 0, "no traffic counted");

  /* 10 packets of 100 bytes: padded to 112, plus 32 of WireGuard. */
  for (guint i = 0; i < 10; i++)
    CASE_ASSERT (send_sized (&w, sized_packet (&w, 700 + i, 100)) == 144,
                 "packet %u not sent at once as 144 bytes", i);
  sim_net_run (w.net, sim_net_now (w.net) + 100 * MS, timers, &w);
  fz_node_get_stats (w.c.node, cc, &cs);
  fz_node_get_stats (w.g.node, gc, &gs);
  CASE_ASSERT (cs.tx_packets - cs0.tx_packets == 10 && cs.tx_bytes - cs0.tx_bytes == 1440,
               "client sent %" G_GUINT64_FORMAT " packets, %" G_GUINT64_FORMAT " bytes",
               cs.tx_packets - cs0.tx_packets, cs.tx_bytes - cs0.tx_bytes);
  CASE_ASSERT (gs.rx_packets - gs0.rx_packets == 10 && gs.rx_bytes - gs0.rx_bytes == 1440,
               "gateway got %" G_GUINT64_FORMAT " packets, %" G_GUINT64_FORMAT " bytes",
               gs.rx_packets - gs0.rx_packets, gs.rx_bytes - gs0.rx_bytes);
  CASE_ASSERT (cs.rx_packets == cs0.rx_packets && gs.tx_packets == gs0.tx_packets,
               "traffic counted the other way");
out:
  world_clear (&w);
  return ok;
}

/* Through a relay the path says which one. */
static gboolean
case_stats_relayed (void)
{
  const char *name = "stats-relayed";
  gboolean ok = TRUE;
  World w;
  FzNodeStats st;
  world_setup (&w, 10, 1, 20 * MS);
  peer_init (&w, &w.c, "client", "gateway", TRUE, SIM_NAT_NONE, FALSE, TRUE);
  peer_init (&w, &w.g, "gateway", "client", FALSE, SIM_NAT_NONE, FALSE, TRUE);
  sim_net_run (w.net, sim_net_now (w.net) + 2 * S, timers, &w);
  CASE_ASSERT (connect_and_wait (&w), "did not connect through the relay");
  CASE_ASSERT (fz_node_get_stats (w.c.node, fz_node_lookup (w.c.node, "gateway"), &st),
               "no statistics");
  CASE_ASSERT (st.path == FZ_NODE_PATH_RELAYED && st.local.type == FZ_ICE_RELAY
                 && g_strcmp0 (st.relay_id, "r0") == 0,
               "path %d, local %d, relay %s", st.path, st.local.type,
               st.relay_id ? st.relay_id : "none");
  CASE_ASSERT (fz_ip_addr_equal (&st.local.addr.ip, &w.relays[0]->ip),
               "the local end is not the relay's");
out:
  world_clear (&w);
  return ok;
}

/* The MTU reaches WireGuard: padding stops there. */
static gboolean
case_mtu (void)
{
  const char *name = "mtu";
  gboolean ok = TRUE;
  World w;
  g_autoptr (GString) why = g_string_new (NULL);
  world_setup (&w, 11, 0, 20 * MS);
  world_start (&w, SIM_NAT_NONE, SIM_NAT_NONE);
  CASE_ASSERT (connect_and_wait (&w), "did not connect");
  CASE_ASSERT (fz_node_get_mtu (w.c.node) == 0, "MTU %zu by default",
               fz_node_get_mtu (w.c.node));
  gsize len = send_sized (&w, sized_packet (&w, 800, 1275));
  CASE_ASSERT (len == 32 + 1280, "unlimited: %zu bytes", len);
  fz_node_set_mtu (w.c.node, 1276);
  CASE_ASSERT (fz_node_get_mtu (w.c.node) == 1276, "MTU not kept");
  len = send_sized (&w, sized_packet (&w, 801, 1275));
  CASE_ASSERT (len == 32 + 1276, "MTU 1276: %zu bytes", len);
  sim_net_run (w.net, sim_net_now (w.net) + 100 * MS, timers, &w);
  CASE_ASSERT (check_data (&w, &w.g, 800, 2, why), "%s", why->str);
out:
  world_clear (&w);
  return ok;
}

/* The client process restarts: same key, same host, its own monotonic
 * clock, a wall clock that went on since @t0; returns now. */
static gint64
restart_client (World *w, gint64 t0)
{
  gint64 now = sim_net_now (w->net);
  fz_node_free (w->c.node);
  w->c.node = fz_node_new (TRUE, w->c.priv, sim_net_rng (w->net), w->pool, now);
  fz_node_set_wall_clock (w->c.node, WALL_AT_START + (now - t0), now);
  fz_node_add_host_address (w->c.node, sim_host_address (w->c.host), now);
  w->c.established = FALSE;
  return now;
}

static gboolean
wait_established (World *w, gint64 end)
{
  while (!w->c.established && sim_net_now (w->net) < end)
    sim_net_run (w->net, sim_net_now (w->net) + 50 * MS, timers, w);
  return w->c.established;
}

/* A client restarts with the same key (and ICE credentials): its
 * initiations carry the wall clock, later than the last ones the
 * gateway saw, so the gateway accepts them at once. With timestamps
 * from the monotonic clock (which a reboot resets) they would be
 * refused as replays. */
static gboolean
case_restart_wall_clock (void)
{
  const char *name = "restart-wall-clock";
  gboolean ok = TRUE;
  World w;
  world_setup (&w, 12, 0, 20 * MS);
  world_start (&w, SIM_NAT_NONE, SIM_NAT_NONE);
  gint64 t0 = sim_net_now (w.net);
  fz_node_set_wall_clock (w.c.node, WALL_AT_START, t0);
  CASE_ASSERT (connect_and_wait (&w), "did not connect");
  sim_net_run (w.net, sim_net_now (w.net) + 5 * S, timers, &w);

  /* The new process: same key, same host, its own monotonic clock; the
   * portal tells it the gateway's candidate again. */
  FzNodeStats st;
  CASE_ASSERT (fz_node_get_stats (w.c.node, fz_node_lookup (w.c.node, "gateway"), &st)
                 && st.path == FZ_NODE_PATH_DIRECT,
               "no direct path");
  gint64 now = restart_client (&w, t0);
  CASE_ASSERT (fz_node_upsert_connection (w.c.node, "gateway", &w.last_c, now, NULL)
                 && fz_node_add_remote_candidate (w.c.node, "gateway", &st.remote, now),
               "upsert failed");
  peer_flush (&w.c);
  CASE_ASSERT (wait_established (&w, now + 3 * S),
               "the restarted client was not accepted within 3 s");
out:
  world_clear (&w);
  return ok;
}

/* A client that restarted knows nothing of the gateway's candidates; the
 * portal asks the gateway again with the same credentials, and the
 * gateway, whose connection is unchanged, signals all its candidates
 * again (as snownet does), so nobody has to remember them for it. */
static gboolean
case_restart_resignal (void)
{
  const char *name = "restart-resignal";
  gboolean ok = TRUE;
  World w;
  world_setup (&w, 17, 0, 20 * MS);
  world_start (&w, SIM_NAT_NONE, SIM_NAT_NONE);
  gint64 t0 = sim_net_now (w.net);
  fz_node_set_wall_clock (w.c.node, WALL_AT_START, t0);
  CASE_ASSERT (connect_and_wait (&w), "did not connect");
  sim_net_run (w.net, sim_net_now (w.net) + 5 * S, timers, &w);

  gint64 now = restart_client (&w, t0);
  CASE_ASSERT (fz_node_upsert_connection (w.g.node, "client", &w.last_g, now, NULL),
               "gateway upsert failed");
  peer_flush (&w.g);
  CASE_ASSERT (fz_node_upsert_connection (w.c.node, "gateway", &w.last_c, now, NULL),
               "client upsert failed");
  peer_flush (&w.c);
  CASE_ASSERT (wait_established (&w, now + 3 * S),
               "the restarted client did not connect within 3 s");
out:
  world_clear (&w);
  return ok;
}

/* An idle client's NAT rebinds behind a gateway behind a symmetric NAT:
 * the old direct path is dead both ways. The TURN keepalive finds the
 * new mapping and the client signals new candidates; that wakes the
 * connection from idle (as snownet does on a candidate), so consent
 * notices the dead pair in seconds, not the 100 s of idle consent, and
 * the client nominates a working one. Before, data sent 40 s after the
 * rebinding went into the dead pair. */
static gboolean
case_rebind_idle (void)
{
  const char *name = "rebind-idle";
  gboolean ok = TRUE;
  World w;
  g_autoptr (GString) why = g_string_new (NULL);
  world_setup (&w, 23, 1, 20 * MS);
  world_start (&w, SIM_NAT_EI, SIM_NAT_SYMMETRIC);
  CASE_ASSERT (connect_and_wait (&w), "did not connect");
  gboolean fine = exchange_data (&w, 5, why);
  CASE_ASSERT (fine, "before: %s", why->str);
  sim_net_run (w.net, sim_net_now (w.net) + 25 * S, timers, &w); /* idle */
  CASE_ASSERT (sim_host_rebind (w.c.host), "no NAT to rebind");
  sim_net_run (w.net, sim_net_now (w.net) + 45 * S, timers, &w);
  CASE_ASSERT (!w.c.failed && !w.g.failed, "the connection failed");
  guint first = w.c.next_seq;
  send_data (&w, &w.c, 3);
  sim_net_run (w.net, sim_net_now (w.net) + S, timers, &w);
  fine = check_data (&w, &w.g, first, 3, why);
  CASE_ASSERT (fine, "45 s after the rebinding: %s", why->str);
out:
  world_clear (&w);
  return ok;
}

typedef struct
{
  FzSockAddr gateway;
  guint cookies;
} CookieCount;

static void
count_cookies (const FzSockAddr *src, const FzSockAddr *dst, const guint8 *data,
               gsize len, gpointer user)
{
  CookieCount *k = user;
  if (fz_sock_addr_equal (src, &k->gateway) && len == 64 && data[0] == 3)
    k->cookies++;
}

/* Under its load threshold (0 here: always) the gateway answers an
 * initiation without mac2 with a cookie; the retry with it connects. */
static gboolean
case_under_load (void)
{
  const char *name = "under-load";
  gboolean ok = TRUE;
  World w;
  CookieCount k = { 0 };
  world_setup (&w, 13, 0, 20 * MS);
  world_start (&w, SIM_NAT_NONE, SIM_NAT_NONE);
  k.gateway = *sim_host_address (w.g.host);
  sim_net_set_tap (w.net, count_cookies, &k);
  fz_node_set_under_load_threshold (w.g.node, 0);
  CASE_ASSERT (connect_and_wait (&w), "did not connect");
  CASE_ASSERT (k.cookies >= 1, "no cookie reply under load");
out:
  world_clear (&w);
  return ok;
}

/* Handles: one per connection, kept across upserts that replace it,
 * carried by received packets, and safe to use until the event that
 * removes them is polled, even when a later datagram of the same batch
 * (a goodbye) removed the connection. */
static gboolean
case_handles (void)
{
  const char *name = "handles";
  gboolean ok = TRUE;
  World w;
  FzPacketBuf *in[2] = { NULL, NULL };
  world_setup (&w, 14, 0, 20 * MS);
  world_start (&w, SIM_NAT_NONE, SIM_NAT_NONE);
  CASE_ASSERT (connect_and_wait (&w), "did not connect");
  FzNodeConn *gc = fz_node_lookup (w.g.node, "client");
  CASE_ASSERT (gc != NULL && g_strcmp0 (fz_node_conn_id (gc), "client") == 0,
               "no handle");
  CASE_ASSERT (fz_node_lookup (w.g.node, "nobody") == NULL, "a handle for nothing");

  /* A new PSK replaces the connection; the handle stays. */
  guint before = w.c.n_established;
  connect_peers (&w);
  CASE_ASSERT (run_until_established (&w, 10 * S) && w.c.n_established == before + 1,
               "did not reconnect");
  CASE_ASSERT (fz_node_lookup (w.g.node, "client") == gc, "the handle changed");

  /* Data, then the client's goodbye, in one batch at the gateway. */
  FzNodeTransmit t;
  in[0] = sized_packet (&w, 900, 60);
  CASE_ASSERT (fz_node_encapsulate (w.c.node, "gateway", in[0], sim_net_now (w.net), &t)
                 == FZ_NODE_SEND,
               "data not sent");
  fz_node_close_connection (w.c.node, "gateway", sim_net_now (w.net));
  CASE_ASSERT (fz_node_poll_transmit (w.c.node, &t), "no goodbye");
  in[1] = t.buf;
  FzSockAddr local[2], from[2];
  for (guint i = 0; i < 2; i++)
    {
      local[i] = *sim_host_address (w.g.host);
      from[i] = *sim_host_address (w.c.host);
    }
  FzNodeRxResult rx[2];
  fz_node_decapsulate_batch (w.g.node, local, from, in, 2, sim_net_now (w.net), rx);
  CASE_ASSERT (rx[0].rx == FZ_NODE_RX_PACKET && rx[0].conn == gc
                 && rx[1].rx == FZ_NODE_RX_NOTHING,
               "results %d %d", rx[0].rx, rx[1].rx);
  CASE_ASSERT (fz_node_lookup (w.g.node, "client") == NULL, "goodbye did not remove it");
  /* Removed, but its handle is still safe to use. */
  CASE_ASSERT (g_strcmp0 (fz_node_conn_id (rx[0].conn), "client") == 0, "the id is gone");
  FzNodeStats st;
  CASE_ASSERT (!fz_node_get_stats (w.g.node, rx[0].conn, &st),
               "statistics of a removed one");
  FzPacketBuf *late = sized_packet (&w, 901, 60);
  FzNodeSend r
    = fz_node_encapsulate_conn (w.g.node, rx[0].conn, late, sim_net_now (w.net), &t);
  fz_packet_buf_free (late);
  CASE_ASSERT (r == FZ_NODE_DROPPED, "sent on a removed connection");
  FzNodeEvent e;
  gboolean closed = FALSE;
  while (fz_node_poll_event (w.g.node, &e))
    {
      closed |= e.type == FZ_NODE_EVENT_CLOSED && e.conn == gc
                && g_strcmp0 (e.id, "client") == 0;
      g_free (e.id);
    }
  CASE_ASSERT (closed, "no CLOSED event with the handle");
out:
  for (guint i = 0; i < 2; i++)
    fz_packet_buf_free (in[i]);
  world_clear (&w);
  return ok;
}

/* Datagrams outside the ranges the node knows (RFC 7983), and
 * ChannelData that does not come from a relay, are dropped without an
 * answer; the connection carries data as before. */
static gboolean
case_classify (void)
{
  const char *name = "classify";
  gboolean ok = TRUE;
  World w;
  g_autoptr (GString) why = g_string_new (NULL);
  world_setup (&w, 15, 0, 20 * MS);
  world_start (&w, SIM_NAT_NONE, SIM_NAT_NONE);
  CASE_ASSERT (connect_and_wait (&w), "did not connect");
  static const guint8 first[] = { 5, 16, 23, 64, 79, 128, 191, 255 };
  for (guint i = 0; i < G_N_ELEMENTS (first); i++)
    {
      guint8 d[48] = { first[i] };
      FzPacketBuf *buf = fz_buf_pool_alloc (w.pool);
      fz_packet_buf_set (buf, d, sizeof d);
      FzNodeConn *conn = (FzNodeConn *) &w; /* must come back NULL */
      FzNodeRx rx = fz_node_decapsulate (w.g.node, sim_host_address (w.g.host),
                                         sim_host_address (w.c.host), buf,
                                         sim_net_now (w.net), &conn);
      fz_packet_buf_free (buf);
      FzNodeTransmit t;
      gboolean answered = fz_node_poll_transmit (w.g.node, &t);
      if (answered)
        fz_packet_buf_free (t.buf);
      CASE_ASSERT (rx == FZ_NODE_RX_NOTHING && conn == NULL && !answered,
                   "first byte %u: rx %d%s", first[i], rx, answered ? ", answered" : "");
    }
  w.strict = TRUE;
  CASE_ASSERT (exchange_data (&w, 5, why), "%s", why->str);
out:
  world_clear (&w);
  return ok;
}

/* Seeds that found a defect, run every time besides the range.
 * 16762: after a goodbye, the gateway (firewalled: relays only) answered
 * the handshake from its host address to the client's relayed address;
 * the client's WireGuard roamed to that host address as seen through the
 * relay and sent all data there, off the selected pair, into the
 * firewall.
 * 2629, 7750, 12922, 17180, 17304, 21786: data that a relay delivered as
 * Data indications (before its channel was bound) was dropped. */
static const guint64 regression_seeds[]
  = { 2629, 7750, 12922, 16762, 17180, 17304, 21786 };

static gboolean
seed_passes (gint64 s)
{
  g_autoptr (GString) why = g_string_new (NULL);
  if (run_seed ((guint64) s, why))
    return TRUE;
  printf ("FAIL %s\n  repeat: test-sim --first %" G_GINT64_FORMAT " --seeds 1 -v\n",
          why->str, s);
  return FALSE;
}

int
main (int argc, char **argv)
{
  gint seeds = 1000;
  gint64 first = 1;
  gboolean cases_only = FALSE;
  GOptionEntry entries[] = {
    { "seeds", 0, 0, G_OPTION_ARG_INT, &seeds, "how many seeds", "N" },
    { "first", 0, 0, G_OPTION_ARG_INT64, &first, "first seed", "S" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "print each world", NULL },
    { "cases-only", 0, 0, G_OPTION_ARG_NONE, &cases_only,
      "only the deterministic cases (the unit suite's node test)", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, NULL))
    return 2;
  const char *env = g_getenv ("FZ_SIM_SEEDS");
  guint64 n;
  if (env != NULL && !g_ascii_string_to_unsigned (env, 10, 1, G_MAXINT, &n, NULL))
    {
      printf ("FZ_SIM_SEEDS=%s is not a number of seeds\n", env);
      return 2;
    }
  if (env != NULL)
    seeds = (gint) n;

  guint failed = 0;
  gint64 t0 = g_get_monotonic_time ();
  gboolean (*cases[]) (void) = { case_buffer,
                                 case_idle,
                                 case_upsert,
                                 case_relay_choice,
                                 case_client_goodbye,
                                 case_batch_ecn,
                                 case_reset,
                                 case_data_indications,
                                 case_replay,
                                 case_stats,
                                 case_stats_relayed,
                                 case_mtu,
                                 case_restart_wall_clock,
                                 case_restart_resignal,
                                 case_rebind_idle,
                                 case_under_load,
                                 case_handles,
                                 case_classify };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    if (!cases[i]())
      failed++;
  printf ("%u cases, %u failed\n", (guint) G_N_ELEMENTS (cases), failed);
  if (cases_only)
    return failed == 0 ? 0 : 1;
  for (guint i = 0; i < G_N_ELEMENTS (regression_seeds); i++)
    if (!seed_passes ((gint64) regression_seeds[i]))
      failed++;
  for (gint64 s = first; s < first + seeds; s++)
    if (!seed_passes (s))
      failed++;
  printf ("%d seeds, %u failed, %.1f s; data checked in every world, %u with loss, %u "
          "with duplicates delivered, %u with reordering\n",
          seeds, failed, (g_get_monotonic_time () - t0) / 1e6, totals.lossy,
          totals.duplicating, totals.reordering);
  /* Out of 100 worlds about 25 duplicate: none would mean it is broken. */
  if (seeds >= 100 && totals.duplicating == 0)
    {
      printf ("FAIL no world delivered a duplicate\n");
      failed++;
    }
  return failed == 0 ? 0 : 1;
}
