/* Handshakes per second on one core: complete initiation -> response ->
 * first data between two in-memory devices, each side's work counted
 * (four X25519 per side, as in every WireGuard handshake).
 *
 *   bench-wg-handshake [HANDSHAKES] */
#include "fz-private.h"

#include <stdio.h>
#include <string.h>

int
main (int argc, char **argv)
{
  guint64 n = argc > 1 ? g_ascii_strtoull (argv[1], NULL, 10) : 5000;
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (2048, 64);
  FzRng *rng = fz_rng_system ();
  guint8 ka[32], kb[32];
  FzSockAddr addr_a = { .port = 1 }, addr_b = { .port = 2 };
  g_autoptr (FzWgDevice) a = NULL;
  g_autoptr (FzWgDevice) b = NULL;
  FzWgPeer *pa;
  gint64 now = G_USEC_PER_SEC, t0;
  guint done = 0;

  if (n == 0)
    {
      fprintf (stderr, "usage: %s [HANDSHAKES > 0]\n", argv[0]);
      return 2;
    }
  fz_rng_fill (rng, ka, 32);
  fz_rng_fill (rng, kb, 32);
  fz_wg_clamp_private_key (ka);
  fz_wg_clamp_private_key (kb);
  a = fz_wg_device_new (ka, rng, pool);
  b = fz_wg_device_new (kb, rng, pool);
  fz_ip_addr_parse (&addr_a.ip, "192.0.2.1");
  fz_ip_addr_parse (&addr_b.ip, "192.0.2.2");
  fz_wg_device_set_under_load_threshold (b, G_MAXUINT);
  pa = fz_wg_device_add_peer (a, fz_wg_device_public_key (b), NULL, NULL);
  fz_wg_device_add_peer (b, fz_wg_device_public_key (a), NULL, NULL);
  fz_wg_peer_set_endpoint (pa, &addr_b);

  t0 = g_get_monotonic_time ();
  for (guint64 i = 0; i < n; i++)
    {
      FzWgTransmit tx;
      gboolean busy = TRUE;

      now += 6 * G_USEC_PER_SEC; /* past the per-peer rate limits */
      fz_wg_peer_initiate (pa, now);
      while (busy)
        {
          busy = FALSE;
          while (fz_wg_device_poll_transmit (a, &tx))
            {
              busy = TRUE;
              fz_wg_device_decapsulate (b, &addr_a, tx.buf, now, NULL, NULL);
              fz_packet_buf_free (tx.buf);
            }
          while (fz_wg_device_poll_transmit (b, &tx))
            {
              busy = TRUE;
              fz_wg_device_decapsulate (a, &addr_b, tx.buf, now, NULL, NULL);
              fz_packet_buf_free (tx.buf);
            }
        }
      {
        FzWgEvent ev;
        while (fz_wg_device_poll_event (a, &ev))
          done += ev.type == FZ_WG_EVENT_HANDSHAKE_DONE;
        while (fz_wg_device_poll_event (b, &ev))
          ;
      }
    }
  {
    double secs = (double) (g_get_monotonic_time () - t0) / G_USEC_PER_SEC;
    printf ("libfz %s: %u handshakes in %.2f s on one core: %.0f handshakes/s "
            "(both sides' work)\n",
            fz_version (), done, secs, done / secs);
  }
  return done == n ? 0 : 1;
}
