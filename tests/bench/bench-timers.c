/* The cost of FzWgDevice's timers with many peers: a device with PEERS
 * established sessions, all idle but 1 in 100, which send persistent
 * keepalives (1-25 s). Times one wake-up (fz_wg_device_poll_timeout() +
 * fz_wg_device_handle_timeout() at the deadline it gave, each sending a
 * keepalive), and one moved
 * deadline (fz_wg_peer_set_persistent_keepalive() on a random peer).
 *
 *   bench-timers [PEERS] [WAKEUPS] */
#include "fz-private.h"
#include "fz-wg-private.h" /* sessions made without handshakes */

#include <stdio.h>
#include <string.h>

static gint64 now = 1000 * G_USEC_PER_SEC;

static void
drain (FzWgDevice *dev)
{
  FzWgTransmit tx;
  FzWgEvent ev;

  while (fz_wg_device_poll_transmit (dev, &tx))
    fz_packet_buf_free (tx.buf);
  while (fz_wg_device_poll_event (dev, &ev))
    ;
}

/* A new session, as if a handshake had just completed. */
static void
new_session (FzWgPeer *peer, FzRng *rng, guint i)
{
  FzWgKeypair keys = { .initiator = TRUE };

  fz_rng_fill (rng, keys.send, sizeof keys.send);
  fz_rng_fill (rng, keys.recv, sizeof keys.recv);
  keys.local_index = fz_wg_peer_next_session_index (peer);
  keys.remote_index = i;
  fz_wg_peer_add_session (peer, &keys, now);
}

static FzWgPeer *
established_peer (FzWgDevice *dev, FzRng *rng, guint i)
{
  guint8 pub[32];
  FzSockAddr ep = { .port = (guint16) (1024 + i % 60000) };
  FzWgPeer *peer;

  fz_rng_fill (rng, pub, sizeof pub);
  peer = fz_wg_device_add_peer (dev, pub, NULL, NULL);
  g_assert_nonnull (peer);
  fz_ip_addr_parse (&ep.ip, "192.0.2.2");
  fz_wg_peer_set_endpoint (peer, &ep);
  new_session (peer, rng, i);
  return peer;
}

int
main (int argc, char **argv)
{
  guint n_peers = argc > 1 ? (guint) g_ascii_strtoull (argv[1], NULL, 10) : 10000;
  guint n_wakeups = argc > 2 ? (guint) g_ascii_strtoull (argv[2], NULL, 10) : 10000;
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (2048, 256);
  FzRng rng;
  guint8 priv[32];
  g_autoptr (FzWgDevice) dev = NULL;
  g_autofree FzWgPeer **peers = NULL;
  gint64 t0, spent = 0, end, fresh = now, stop;
  guint done;
  guint updates = n_wakeups * 10;

  if (n_peers < 100 || n_wakeups == 0)
    {
      fprintf (stderr, "usage: %s [PEERS >= 100] [WAKEUPS > 0]\n", argv[0]);
      return 2;
    }
  fz_rng_init_seeded (&rng, 12);
  fz_rng_fill (&rng, priv, sizeof priv);
  fz_wg_clamp_private_key (priv);
  dev = fz_wg_device_new (priv, &rng, pool);
  peers = g_new (FzWgPeer *, n_peers);
  for (guint i = 0; i < n_peers; i++)
    {
      now += 10; /* sessions a little apart, as handshakes come */
      peers[i] = established_peer (dev, &rng, i);
      if (i % 100 == 0)
        fz_wg_peer_set_persistent_keepalive (peers[i], 1 + fz_rng_below (&rng, 25), now);
    }
  drain (dev);

  /* Wake-ups: the active peers' keepalives, one deadline at a time. */
  /* Until the idle peers' keys are due to be zeroed, a burst of its own. */
  stop = now + 500 * G_USEC_PER_SEC;
  for (done = 0; done < n_wakeups && fz_wg_device_poll_timeout (dev) < stop; done++)
    {
      gint64 t = g_get_monotonic_time ();
      now = MAX (now, fz_wg_device_poll_timeout (dev));
      fz_wg_device_handle_timeout (dev, now);
      spent += g_get_monotonic_time () - t;
      /* Active peers rekey (not timed), so that wake-ups time timers,
       * not the handshakes that sessions past REKEY_AFTER_TIME start. */
      if (now - fresh > 100 * G_USEC_PER_SEC)
        {
          for (guint p = 0; p < n_peers; p += 100)
            new_session (peers[p], &rng, p);
          fresh = now;
        }
      drain (dev);
    }
  printf ("%u peers, %u of them active: %.0f ns per wake-up "
          "(poll_timeout + handle_timeout), %u wake-ups in %.1f s simulated\n",
          n_peers, (n_peers + 99) / 100, spent * 1000.0 / MAX (done, 1), done,
          (now - 1000 * G_USEC_PER_SEC) / 1e6);

  /* Moved deadlines: a random peer's persistent keepalive restarts. */
  end = now;
  t0 = g_get_monotonic_time ();
  for (guint i = 0; i < updates; i++)
    fz_wg_peer_set_persistent_keepalive (peers[fz_rng_below (&rng, n_peers)], 25,
                                         end + i);
  printf ("%.0f ns per peer deadline update\n",
          (g_get_monotonic_time () - t0) * 1000.0 / updates);
  return 0;
}
