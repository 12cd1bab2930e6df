/* The gateway's packet paths with arbitrary packets: from a client (after
 * WireGuard) and from the TUN, against a gateway with two clients, CIDR,
 * DNS and Internet resources and a mapped proxy IP; time passes too. No
 * crash, no leak, nothing past the bounds.
 *
 * Input: records, each a byte (bit 0: from the TUN; bit 1: put the first
 * client's address in as source (from a client) or destination (from the
 * TUN), so that the parser's checks pass more often; bits 2-3: IPv6 for
 * that address; bits 4-7: seconds that pass first), two length bytes and
 * the packet. */
#include "gateway-setup.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
drain (FzGatewayState *gw)
{
  FzPacketBuf *b;
  FzNodeTransmit tx;
  FzPortalMessage *m;
  FzGatewayEvent e;

  while ((b = fz_gateway_state_poll_tun (gw)) != NULL)
    fz_packet_buf_free (b);
  while (fz_gateway_state_poll_transmit (gw, &tx))
    fz_packet_buf_free (tx.buf);
  while ((m = fz_gateway_state_poll_portal (gw)) != NULL)
    fz_portal_message_free (m);
  while (fz_gateway_state_poll_event (gw, &e))
    {
      /* Answer the host's part at once, so those paths run too. */
      if (e.type == FZ_GATEWAY_EVENT_DNS_QUERY)
        fz_gateway_state_dns_answer (gw, e.request, g_bytes_get_data (e.query, NULL),
                                     g_bytes_get_size (e.query), 0);
      fz_gateway_event_clear (&e);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static FzBufPool *pool;
  FzRng rng;
  guint8 priv[32] = { 1 };
  gint64 now = G_USEC_PER_SEC;

  if (pool == NULL)
    pool = fz_buf_pool_new (65600, 64);
  fz_rng_init_seeded (&rng, 7);
  g_autoptr (FzGatewayState) gw = fz_gateway_state_new (
    priv, &rng, pool, G_GINT64_CONSTANT (1800000000) * G_USEC_PER_SEC, now);
  gwsetup_init (gw, now);
  gwsetup_authorize (
    gw, 0,
    "{\"id\":\"r-ten\",\"type\":\"cidr\",\"address\":\"10.0.0.0/8\","
    "\"name\":\"t\",\"filters\":[{\"protocol\":\"udp\"},{\"protocol\":\"icmp\"}]}",
    now);
  gwsetup_authorize (gw, 0,
                     "{\"id\":\"r-app\",\"type\":\"dns\",\"address\":\"*.app.example\","
                     "\"name\":\"a\",\"filters\":[]}",
                     now);
  gwsetup_authorize (gw, 1, "{\"id\":\"r-inet\",\"type\":\"internet\"}", now);
  FzIpAddr real;
  fz_ip_addr_parse (&real, "10.200.0.1");
  gwsetup_assign (gw, pool, 0, "r-app", "db.app.example", 1, &real, now);
  drain (gw);

  while (size >= 3)
    {
      guint8 flags = data[0];
      gsize len = MIN ((gsize) (data[1] << 8 | data[2]), size - 3);
      const guint8 *pkt = data + 3;
      data += 3 + len, size -= 3 + len;

      now += (flags >> 4) * G_USEC_PER_SEC;
      if (fz_gateway_state_poll_timeout (gw) <= now)
        fz_gateway_state_handle_timeout (gw, now);

      FzPacketBuf *buf = fz_buf_pool_alloc (pool);
      fz_packet_buf_set (buf, pkt, len);
      if (flags & 2)
        {
          FzIpAddr a;
          gboolean from_tun = flags & 1;
          gwsetup_client_ip (0, (flags & 0xc) ? 6 : 4, &a);
          gsize off = a.family == 4 ? (from_tun ? 16 : 12) : (from_tun ? 24 : 8);
          if ((buf->len >= 20 && a.family == 4 && (buf->data[0] >> 4) == 4)
              || (buf->len >= 40 && a.family == 6 && (buf->data[0] >> 4) == 6))
            memcpy (buf->data + off, a.bytes, fz_ip_addr_len (&a));
        }
      if (flags & 1)
        fz_gateway_state_handle_tun (gw, buf, now);
      else
        fz_gateway_state_handle_client_packet (
          gw, (flags & 0x20) ? "client-1" : "client-0", buf, now);
      drain (gw);
    }
  return 0;
}
