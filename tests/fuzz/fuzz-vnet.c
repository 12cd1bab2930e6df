/* Packets from a peer (any bytes that parse as IP) through the TUN-side
 * coalescer, and what it merged back through segmentation: no crash, no
 * leak, no read out of bounds, and segmentation gives back exactly the
 * packets that were merged.
 *
 * Input: packets, each as a 2-byte big-endian length then its bytes. */
#include "fz-private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static FzBufPool *pool;

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FzPacketBuf *pkts[64], *copies[64];
  guint n = 0;

  if (pool == NULL)
    pool = fz_buf_pool_new (65535, 256);
  while (size >= 2 && n < G_N_ELEMENTS (pkts))
    {
      gsize len = (gsize) data[0] << 8 | data[1];
      FzIpPacket pkt;

      data += 2, size -= 2;
      len = MIN (len, size);
      pkts[n] = fz_buf_pool_alloc (pool);
      fz_packet_buf_set (pkts[n], data, len);
      data += len, size -= len;
      /* only what the receive path would deliver: whole IP packets */
      if (fz_ip_packet_parse (&pkt, pkts[n]->data, pkts[n]->len, FZ_IP_MAX_OFFLOAD)
          != FZ_IP_OK)
        {
          fz_packet_buf_free (pkts[n]);
          continue;
        }
      copies[n] = fz_buf_pool_alloc (pool);
      fz_packet_buf_set (copies[n], pkts[n]->data, pkts[n]->len);
      n++;
    }

  for (guint i = 0; i < n;)
    {
      FzVnetHdr h;
      guint k = fz_vnet_coalesce (pkts + i, n - i, &h);

      if (k == 0 || k > n - i)
        abort ();
      if (k > 1)
        {
          FzPacketBuf *merged = fz_buf_pool_alloc (pool), *segs[64];
          guint m;

          fz_packet_buf_set (merged, pkts[i]->data, pkts[i]->len);
          for (guint j = 1; j < k; j++)
            {
              gsize off = fz_vnet_payload_offset (pkts[i + j]);
              memcpy (fz_packet_buf_put (merged, pkts[i + j]->len - off),
                      pkts[i + j]->data + off, pkts[i + j]->len - off);
            }
          m = fz_vnet_segment (&h, merged, pool, segs, 64);
          if (m != k)
            abort ();
          /* the payloads come back in order, byte for byte */
          for (guint j = 0; j < m; j++)
            {
              gsize a = fz_vnet_payload_offset (segs[j]);
              gsize b = fz_vnet_payload_offset (copies[i + j]);
              if (segs[j]->len - a != copies[i + j]->len - b
                  || memcmp (segs[j]->data + a, copies[i + j]->data + b, segs[j]->len - a)
                       != 0)
                abort ();
              fz_packet_buf_free (segs[j]);
            }
        }
      i += k;
    }
  for (guint i = 0; i < n; i++)
    {
      fz_packet_buf_free (pkts[i]);
      fz_packet_buf_free (copies[i]);
    }
  return 0;
}
