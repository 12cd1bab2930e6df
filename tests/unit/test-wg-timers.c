/* FzWgDevice's timer heap against a scan: a hub with many peers and one
 * device per peer exchange packets over a lossy, reordering network
 * under random sends, handshakes, keepalive settings, removals and time
 * steps; after every step each device's next deadline must be exactly
 * the minimum over its peers' own timer computation, and no peer may be
 * left with a deadline that handle_timeout() passed. */
#include "fz-private.h"
#include "fz-wg-private.h" /* peers' timers and the device's heap */

#include <string.h>

#define SEC         G_USEC_PER_SEC
#define SPOKES      48
#define HUB_IDX     SPOKES
#define MAX_FLIGHTS 64

typedef struct
{
  FzWgDevice *dev;
  FzSockAddr addr;
  FzWgPeer *peer; /* spokes: the hub */
} Dev;

typedef struct
{
  FzSockAddr from;
  guint to; /* index in devs */
  FzPacketBuf *buf;
} Flight;

static FzBufPool *pool;
static FzRng rng;
static GRand *rand_;
static gint64 now;
static Dev devs[SPOKES + 1];
static FzWgPeer *hub_peers[SPOKES]; /* the hub's peer for each spoke */
static GArray *flights;             /* Flight */
static guint events[3];

/* The scan the heap replaces. */
static gint64
brute_next (FzWgDevice *dev)
{
  GPtrArray *peers = fz_wg_device_peers (dev);
  gint64 t = G_MAXINT64;

  for (guint i = 0; i < peers->len; i++)
    {
      gint64 p = fz_wg_peer_next_timer (peers->pdata[i]);
      if (p != 0)
        t = MIN (t, p);
    }
  return t;
}

static void
check_device (FzWgDevice *dev)
{
  GPtrArray *peers = fz_wg_device_peers (dev);
  guint armed = 0;

  g_assert_cmpint (fz_wg_device_poll_timeout (dev), ==, brute_next (dev));
  for (guint i = 0; i < peers->len; i++)
    {
      FzWgPeer *p = peers->pdata[i];
      gint64 t = fz_wg_peer_next_timer (p);
      armed += t != 0;
      g_assert_cmpint (fz_timer_deadline (&p->timer), ==, t != 0 ? t : G_MAXINT64);
    }
  g_assert_cmpuint (fz_timer_heap_size (dev->timers), ==, armed);
}

static void
check_all (void)
{
  for (guint i = 0; i <= SPOKES; i++)
    check_device (devs[i].dev);
}

static guint
dev_at (const FzSockAddr *a)
{
  for (guint i = 0; i <= SPOKES; i++)
    if (fz_sock_addr_equal (a, &devs[i].addr))
      return i;
  g_assert_not_reached ();
}

static void
fly (guint from, const FzSockAddr *dst, FzPacketBuf *buf)
{
  Flight f = { .from = devs[from].addr, .to = dev_at (dst), .buf = buf };

  /* A full network loses the newcomer. */
  if (flights->len >= MAX_FLIGHTS)
    fz_packet_buf_free (buf);
  else
    g_array_append_val (flights, f);
}

/* Queued transmits go into the network; events are counted. */
static void
collect (guint i)
{
  FzWgTransmit tx;
  FzWgEvent ev;

  while (fz_wg_device_poll_transmit (devs[i].dev, &tx))
    fly (i, &tx.dst, tx.buf);
  while (fz_wg_device_poll_event (devs[i].dev, &ev))
    events[ev.type]++;
}

static FzPacketBuf *
ip_packet (void)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (pool);
  FzIpAddr s, d;
  FzIpPacket pkt;

  fz_ip_addr_parse (&s, "100.64.0.1");
  fz_ip_addr_parse (&d, "100.64.0.2");
  g_assert_true (fz_ip_build_udp (buf, &pkt, &s, &d, 1234, 53, "payload", 7, NULL));
  return buf;
}

static void
send_from (guint i, FzWgPeer *peer)
{
  FzPacketBuf *buf = ip_packet ();
  FzSockAddr dst;

  switch (fz_wg_peer_encapsulate (peer, buf, now, &dst))
    {
    case FZ_WG_SEND_NOW: fly (i, &dst, buf); break;
    case FZ_WG_SEND_QUEUED: break;
    case FZ_WG_SEND_DROPPED: fz_packet_buf_free (buf); break;
    }
}

/* Delivers (or loses) one datagram in flight, chosen at random so that
 * the network reorders. */
static void
deliver_one (void)
{
  guint k = g_rand_int_range (rand_, 0, flights->len);
  Flight f = g_array_index (flights, Flight, k);
  FzWgRxError err;

  g_array_remove_index_fast (flights, k);
  if (g_rand_int_range (rand_, 0, 10) == 0)
    fz_packet_buf_free (f.buf);
  else
    {
      fz_wg_device_decapsulate (devs[f.to].dev, &f.from, f.buf, now, NULL, &err);
      fz_packet_buf_free (f.buf);
      collect (f.to);
    }
}

/* Moves time to @until, running the timers of devices that are due (late
 * by up to @late us, as a busy event loop would be), and of one other
 * device, which must do nothing harmful. */
static void
advance (gint64 until, gint64 late)
{
  for (;;)
    {
      gint64 t = G_MAXINT64;
      gint64 due[SPOKES + 1];
      guint idle = g_rand_int_range (rand_, 0, SPOKES + 1);

      for (guint i = 0; i <= SPOKES; i++)
        t = MIN (t, due[i] = fz_wg_device_poll_timeout (devs[i].dev));
      if (t > until)
        break;
      now = MAX (now, MIN (t + late, until));
      for (guint i = 0; i <= SPOKES; i++)
        if (due[i] <= now || i == idle)
          {
            fz_wg_device_handle_timeout (devs[i].dev, now);
            collect (i);
            /* Nothing due may be left behind. */
            g_assert_cmpint (brute_next (devs[i].dev), >, now);
            check_device (devs[i].dev);
          }
    }
  now = until;
}

static FzWgPeer *
random_peer (guint *owner)
{
  guint i = g_rand_int_range (rand_, 0, SPOKES);

  if (g_rand_boolean (rand_))
    {
      *owner = HUB_IDX;
      return hub_peers[i];
    }
  *owner = i;
  return devs[i].peer;
}

static void
hub_add_peer (guint i)
{
  hub_peers[i] = fz_wg_device_add_peer (
    devs[HUB_IDX].dev, fz_wg_device_public_key (devs[i].dev), NULL, NULL);
  g_assert_nonnull (hub_peers[i]);
  /* The hub knows two spokes in three; the others it learns. */
  if (i % 3 != 0)
    fz_wg_peer_set_endpoint (hub_peers[i], &devs[i].addr);
}

static void
dev_init (guint i, guint8 seed, guint16 port)
{
  guint8 priv[32];

  memset (priv, seed, sizeof priv);
  fz_wg_clamp_private_key (priv);
  devs[i].dev = fz_wg_device_new (priv, &rng, pool);
  fz_ip_addr_parse (&devs[i].addr.ip, "192.0.2.1");
  devs[i].addr.port = port;
  fz_wg_device_set_rekey_attempt_time (devs[i].dev, 30 * SEC);
}

static void
world_init (guint32 seed)
{
  fz_rng_init_seeded (&rng, seed);
  rand_ = g_rand_new_with_seed (seed);
  now = 1000 * SEC;
  flights = g_array_new (FALSE, FALSE, sizeof (Flight));
  memset (events, 0, sizeof events);
  dev_init (HUB_IDX, 200, 51820);
  for (guint i = 0; i < SPOKES; i++)
    {
      dev_init (i, (guint8) (i + 1), (guint16) (10000 + i));
      devs[i].peer = fz_wg_device_add_peer (
        devs[i].dev, fz_wg_device_public_key (devs[HUB_IDX].dev), NULL, NULL);
      fz_wg_peer_set_endpoint (devs[i].peer, &devs[HUB_IDX].addr);
      hub_add_peer (i);
    }
}

static void
world_clear (void)
{
  for (guint i = 0; i < flights->len; i++)
    fz_packet_buf_free (g_array_index (flights, Flight, i).buf);
  g_array_unref (flights);
  for (guint i = 0; i <= SPOKES; i++)
    fz_wg_device_free (devs[i].dev);
  g_rand_free (rand_);
}

static void
random_step (void)
{
  guint owner, i = g_rand_int_range (rand_, 0, SPOKES);
  FzWgPeer *peer;

  switch (g_rand_int_range (rand_, 0, 10))
    {
    case 0:
    case 1:
      peer = random_peer (&owner);
      send_from (owner, peer);
      collect (owner);
      break;
    case 2:
      peer = random_peer (&owner);
      fz_wg_peer_initiate (peer, now);
      collect (owner);
      break;
    case 3:
      peer = random_peer (&owner);
      fz_wg_peer_set_persistent_keepalive (
        peer, g_rand_boolean (rand_) ? 0 : g_rand_int_range (rand_, 5, 40), now);
      break;
    case 4:
    case 5:
    case 6:
      for (guint n = g_rand_int_range (rand_, 1, 20); n > 0 && flights->len > 0; n--)
        deliver_one ();
      break;
    case 7:
      advance (now + g_rand_int_range (rand_, 0, 2000) * (gint64) 1000,
               g_rand_int_range (rand_, 0, 50) * (gint64) 1000);
      break;
    case 8:
      /* Rarely, long silences: sessions expire, keys are zeroed. */
      advance (
        now
          + g_rand_int_range (rand_, 0, g_rand_int_range (rand_, 0, 20) == 0 ? 700 : 30)
              * (gint64) SEC,
        g_rand_int_range (rand_, 0, 500) * (gint64) 1000);
      break;
    case 9:
      if (g_rand_int_range (rand_, 0, 8) == 0)
        {
          /* The hub forgets a spoke and adds it again. */
          fz_wg_device_remove_peer (devs[HUB_IDX].dev, hub_peers[i]);
          hub_add_peer (i);
        }
      break;
    }
}

static void
test_heap_matches_scan (void)
{
  for (guint32 seed = 1; seed <= 2; seed++)
    {
      world_init (seed);
      for (guint step = 0; step < 1500; step++)
        {
          random_step ();
          check_all ();
        }
      g_test_message ("seed %u: %u handshakes, %u gave up", seed, events[0], events[1]);
      /* The walk reached the states the timers serve. */
      g_assert_cmpuint (events[FZ_WG_EVENT_HANDSHAKE_DONE], >, 20);
      g_assert_cmpuint (events[FZ_WG_EVENT_HANDSHAKE_GAVE_UP], >, 0);
      world_clear ();
    }
}

/* A peer removed while its timer is the earliest: the heap forgets it. */
static void
test_remove_due_peer (void)
{
  guint8 priv[32] = { 9 }, pub[32];

  fz_rng_init_seeded (&rng, 5);
  now = 1000 * SEC;
  g_autoptr (FzWgDevice) dev = fz_wg_device_new (priv, &rng, pool);
  for (guint i = 0; i < 3; i++)
    {
      memset (pub, i + 1, sizeof pub);
      FzWgPeer *p = fz_wg_device_add_peer (dev, pub, NULL, NULL);
      fz_wg_peer_set_persistent_keepalive (p, 5 + i, now);
    }
  g_assert_cmpint (fz_wg_device_poll_timeout (dev), ==, now + 5 * SEC);
  fz_wg_device_remove_peer (dev, fz_wg_device_peers (dev)->pdata[0]);
  g_assert_cmpint (fz_wg_device_poll_timeout (dev), ==, now + 6 * SEC);
  check_device (dev);
  fz_wg_peer_set_persistent_keepalive (fz_wg_device_peers (dev)->pdata[0], 0, now);
  fz_wg_peer_set_persistent_keepalive (fz_wg_device_peers (dev)->pdata[1], 0, now);
  g_assert_cmpint (fz_wg_device_poll_timeout (dev), ==, G_MAXINT64);
  check_device (dev);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  pool = fz_buf_pool_new (2048, 512);
  g_test_add_func ("/wg/timers/heap-matches-scan", test_heap_matches_scan);
  g_test_add_func ("/wg/timers/remove-due-peer", test_remove_due_peer);
  int r = g_test_run ();
  fz_buf_pool_free (pool);
  return r;
}
