/* Any datagram into a WireGuard device that has a peer with a live
 * session: nothing crashes, leaks or reads out of bounds, and only an
 * authenticated message could ever yield a packet (none can here: the
 * fuzzer does not hold the keys). */
#include "fz.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static FzBufPool *pool;
static FzWgDevice *dev;
static FzRng rng;

static void
setup (void)
{
  guint8 a[32], b[32], pub_b[32];
  FzWgPeer *peer;
  FzSockAddr ep = { .port = 51820 };

  memset (a, 1, 32);
  memset (b, 2, 32);
  fz_wg_clamp_private_key (a);
  fz_wg_clamp_private_key (b);
  fz_wg_public_key (pub_b, b);
  fz_rng_init_seeded (&rng, 1);
  pool = fz_buf_pool_new (2048, 64);
  dev = fz_wg_device_new (a, &rng, pool);
  peer = fz_wg_device_add_peer (dev, pub_b, NULL, NULL);
  fz_ip_addr_parse (&ep.ip, "192.0.2.2");
  fz_wg_peer_set_endpoint (peer, &ep);
  fz_wg_peer_initiate (peer, 1); /* a handshake in flight: responses are looked at */
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FzSockAddr from = { .port = 51820 };
  FzPacketBuf *buf;
  FzWgTransmit tx;
  FzWgRxError err;
  FzWgPeer *peer;

  if (dev == NULL)
    setup ();
  if (size > 2000)
    return 0;
  fz_ip_addr_parse (&from.ip, "192.0.2.2");
  buf = fz_buf_pool_alloc (pool);
  fz_packet_buf_set (buf, data, size);
  if (fz_wg_device_decapsulate (dev, &from, buf, 2 * G_USEC_PER_SEC, &peer, &err)
      == FZ_WG_RX_PACKET)
    abort ();
  fz_packet_buf_free (buf);
  while (fz_wg_device_poll_transmit (dev, &tx))
    fz_packet_buf_free (tx.buf);
  return 0;
}
