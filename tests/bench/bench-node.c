/* Connection node figures, on the simulated network:
 *  - setup time, from both sides' upsert to the client's established
 *    event, in round trips, direct and relayed (signalling instant, so
 *    the figure is the node's own);
 *  - heap per idle connection on one gateway node holding N connections
 *    (measured as what freeing that node gives back).
 *
 *   bench-node [N]   (default 10000) */
#include "../sim/sim-net.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000
#define S  G_USEC_PER_SEC

typedef struct
{
  SimHost *host;
  FzNode *node;
  gboolean established;
} End;

typedef struct
{
  SimNet *net;
  FzBufPool *pool;
  End gw;
  End *clients;
  guint n;
  GHashTable *host_to_end;
  guint established;
} Bench;

static Bench *the;

static void
flush (End *e, const char *unused)
{
  FzNodeTransmit t;
  while (fz_node_poll_transmit (e->node, &t))
    {
      sim_host_send (e->host, &t.dst, t.buf->data, t.buf->len);
      fz_packet_buf_free (t.buf);
    }
  FzNodeEvent ev;
  while (fz_node_poll_event (e->node, &ev))
    {
      if (ev.type == FZ_NODE_EVENT_ESTABLISHED && !e->established && e != &the->gw)
        {
          e->established = TRUE;
          the->established++;
        }
      else if (ev.type == FZ_NODE_EVENT_NEW_CANDIDATE)
        {
          /* Instant signalling: the client's id is its index. */
          if (e == &the->gw)
            {
              guint i = (guint) atoi (ev.id);
              fz_node_add_remote_candidate (the->clients[i].node, "gw", &ev.candidate,
                                            sim_net_now (the->net));
              flush (&the->clients[i], NULL);
            }
          else
            {
              g_autofree char *id = g_strdup_printf ("%u", (guint) (e - the->clients));
              fz_node_add_remote_candidate (the->gw.node, id, &ev.candidate,
                                            sim_net_now (the->net));
              flush (&the->gw, NULL);
            }
        }
      g_free (ev.id);
    }
}

static void
on_recv (SimHost *host, const FzSockAddr *local, const FzSockAddr *from,
         const guint8 *data, gsize len, gpointer user_data)
{
  End *e = user_data;
  FzPacketBuf *buf = fz_buf_pool_alloc (the->pool);
  fz_packet_buf_set (buf, data, len);
  FzNodeConn *conn;
  fz_node_decapsulate (e->node, local, from, buf, sim_net_now (the->net), &conn);
  fz_packet_buf_free (buf);
  flush (e, NULL);
}

static gint64
timers (gpointer user_data, gint64 now)
{
  Bench *b = user_data;
  gint64 next = G_MAXINT64;
  End *all[] = { &b->gw };
  for (guint i = 0; i <= b->n; i++)
    {
      End *e = i < b->n ? &b->clients[i] : all[0];
      if (fz_node_poll_timeout (e->node) <= now)
        {
          fz_node_handle_timeout (e->node, now);
          flush (e, NULL);
        }
      next = MIN (next, fz_node_poll_timeout (e->node));
    }
  return next;
}

static void
pair_up (Bench *b, guint i)
{
  char ids[2][17], pwds[2][33];
  FzRng *rng = sim_net_rng (b->net);
  for (int k = 0; k < 2; k++)
    {
      g_snprintf (ids[k], sizeof ids[k], "%c%07u%08x", k ? 'g' : 'c', i,
                  fz_rng_u32 (rng));
      g_snprintf (pwds[k], sizeof pwds[k], "%08x%08x%08x%08x", fz_rng_u32 (rng),
                  fz_rng_u32 (rng), fz_rng_u32 (rng), fz_rng_u32 (rng));
    }
  FzNodeConnectionParams pc = { .local_ufrag = ids[0],
                                .local_pwd = pwds[0],
                                .remote_ufrag = ids[1],
                                .remote_pwd = pwds[1] };
  FzNodeConnectionParams pg = { .local_ufrag = ids[1],
                                .local_pwd = pwds[1],
                                .remote_ufrag = ids[0],
                                .remote_pwd = pwds[0] };
  memcpy (pc.remote_key, fz_node_public_key (b->gw.node), 32);
  memcpy (pg.remote_key, fz_node_public_key (b->clients[i].node), 32);
  fz_rng_fill (rng, pc.psk, 32);
  memcpy (pg.psk, pc.psk, 32);
  g_autofree char *id = g_strdup_printf ("%u", i);
  gint64 now = sim_net_now (b->net);
  fz_node_upsert_connection (b->gw.node, id, &pg, now, NULL);
  fz_node_upsert_connection (b->clients[i].node, "gw", &pc, now, NULL);
  flush (&b->gw, NULL);
  flush (&b->clients[i], NULL);
}

static void
end_init (Bench *b, End *e, SimNatKind nat, gboolean controlling, const FzSockAddr *relay)
{
  guint8 priv[32];
  fz_rng_fill (sim_net_rng (b->net), priv, sizeof priv);
  e->host = sim_net_add_host (b->net, nat, FALSE, FALSE, on_recv, e);
  e->node = fz_node_new (controlling, priv, sim_net_rng (b->net), b->pool,
                         sim_net_now (b->net));
  fz_node_add_host_address (e->node, sim_host_address (e->host), sim_net_now (b->net));
  if (relay != NULL)
    {
      FzNodeRelay r = {
        .id = "r", .v4 = relay, .username = "sim", .password = "secret", .realm = "sim"
      };
      fz_node_update_relays (e->node, &r, 1, NULL, 0, sim_net_now (b->net));
    }
  flush (e, NULL);
}

static Bench *
bench_new (guint n, SimNatKind nat, gboolean relay, gint64 one_way)
{
  Bench *b = g_new0 (Bench, 1);
  the = b;
  b->net = sim_net_new (1);
  b->pool = fz_buf_pool_new (2048, 64);
  b->n = n;
  sim_net_set_latency (b->net, one_way, 0);
  const FzSockAddr *r = relay ? sim_net_add_relay (b->net) : NULL;
  b->clients = g_new0 (End, n);
  end_init (b, &b->gw, nat, FALSE, r);
  for (guint i = 0; i < n; i++)
    end_init (b, &b->clients[i], nat, TRUE, r);
  /* Allocations first, as a running client and gateway have them. */
  sim_net_run (b->net, sim_net_now (b->net) + 3 * S, timers, b);
  return b;
}

static void
bench_free (Bench *b)
{
  for (guint i = 0; i < b->n; i++)
    fz_node_free (b->clients[i].node);
  if (b->gw.node != NULL)
    fz_node_free (b->gw.node);
  g_free (b->clients);
  sim_net_free (b->net);
  fz_buf_pool_free (b->pool);
  g_free (b);
}

static void
setup_time (const char *what, SimNatKind nat, gboolean relay)
{
  const gint64 one_way = 25 * MS;
  Bench *b = bench_new (1, nat, relay, one_way);
  gint64 t0 = sim_net_now (b->net);
  pair_up (b, 0);
  while (!b->clients[0].established && sim_net_now (b->net) < t0 + 30 * S)
    sim_net_run (b->net, sim_net_now (b->net) + MS, timers, b);
  gint64 took = sim_net_now (b->net) - t0;
  gboolean relayed = fz_node_is_relayed (b->clients[0].node, "gw");
  printf ("setup %-8s %s: %.0f ms = %.1f RTT (RTT %" G_GINT64_FORMAT " ms)%s\n", what,
          relayed ? "relayed" : "direct ", took / 1000.0, (double) took / (2 * one_way),
          2 * one_way / MS, b->clients[0].established ? "" : " NOT ESTABLISHED");
  bench_free (b);
}

int
main (int argc, char **argv)
{
  guint n = argc > 1 ? (guint) atoi (argv[1]) : 10000;

  setup_time ("public", SIM_NAT_NONE, FALSE);
  setup_time ("EI NAT", SIM_NAT_EI, TRUE);
  setup_time ("sym NAT", SIM_NAT_SYMMETRIC, TRUE);

  /* Many idle connections on one gateway, public hosts, no relay. */
  gint64 wall = g_get_monotonic_time ();
  Bench *b = bench_new (n, SIM_NAT_NONE, FALSE, 5 * MS);
  /* 200 new connections every 100 ms: a busy gateway, not a stampede
   * (above 1000 handshakes a second WireGuard answers with cookies). */
  for (guint i = 0; i < n; i++)
    {
      pair_up (b, i);
      if (i % 200 == 199)
        sim_net_run (b->net, sim_net_now (b->net) + 100 * MS, timers, b);
    }
  gint64 t0 = sim_net_now (b->net);
  while (b->established < n && sim_net_now (b->net) < t0 + 60 * S)
    sim_net_run (b->net, sim_net_now (b->net) + 10 * MS, timers, b);
  /* Let them go idle (20 s without traffic). */
  sim_net_run (b->net, sim_net_now (b->net) + 25 * S, timers, b);
  guint conns = fz_node_n_connections (b->gw.node);
  malloc_trim (0);
  struct mallinfo2 before = mallinfo2 ();
  fz_node_free (b->gw.node);
  b->gw.node = NULL;
  malloc_trim (0);
  struct mallinfo2 after = mallinfo2 ();
  double per = (double) (before.uordblks - after.uordblks) / MAX (conns, 1);
  printf ("idle connections: %u of %u established, %u on the gateway node\n",
          b->established, n, conns);
  printf ("heap per idle connection: %.0f bytes (%.1f KiB); %.1f s of wall time\n", per,
          per / 1024, (g_get_monotonic_time () - wall) / 1e6);
  bench_free (b);
  return 0;
}
