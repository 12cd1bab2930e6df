/* An application's TCP segments to a DNS sentinel, in any order and with
 * any fields, against FzDnsTcp, with time passing and queries answered:
 * no crash, no leak, bounded connections, and every packet it sends
 * parses with a valid checksum.
 *
 * Input: operations, each one byte then its arguments:
 *   0 port flags seq(2) ack(2) window(2) len(1) payload  a segment; seq is
 *     relative to 1000, ack to the last SYN-ACK's sequence number
 *   1 ms(1)        time passes (x 50 ms), timers run
 *   2 len(1)       every query so far is answered with len x 64 bytes
 *   3 len(2) bytes an IP packet as it is (any TCP options) */
#include "fz-private.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
drain (FzDnsTcp *tcp, FzPacketBuf *buf, guint32 *iss)
{
  FzIpPacket pkt;

  while (fz_dns_tcp_poll_packet (tcp, buf, &pkt))
    {
      FzIpPacket again;
      g_assert (fz_ip_packet_parse (&again, buf->data, buf->len, 65535) == FZ_IP_OK);
      g_assert (fz_ip_packet_verify_l4_checksum (&again));
      const guint8 *l4 = fz_ip_packet_l4 (&again);
      if (l4[13] & FZ_TCP_SYN)
        *iss = (guint32) l4[4] << 24 | l4[5] << 16 | l4[6] << 8 | l4[7];
    }
}

static void
segment (FzDnsTcp *tcp, FzPacketBuf *buf, const guint8 *a, const guint8 *payload,
         gsize len, guint32 iss, gint64 now)
{
  FzIpAddr app, sentinel;
  FzIpPacket pkt;
  gboolean v6 = a[0] & 0x80;

  fz_ip_addr_parse (&app, v6 ? "fd00:2021:1111::2" : "100.64.0.2");
  fz_ip_addr_parse (&sentinel,
                    v6 ? "fd00:2021:1111:8000:100:100:111:0" : "100.100.111.1");
  FzTcpSegment seg = { .sport = 40000 + (a[0] & 0x7f),
                       .dport = 53,
                       .seq = 1000 + (guint32) (a[2] << 8 | a[3]),
                       .ack = iss + (guint32) (a[4] << 8 | a[5]),
                       .flags = a[1],
                       .window = (guint16) (a[6] << 8 | a[7]),
                       .mss = (a[1] & FZ_TCP_SYN) ? 536 : 0 };
  if (fz_ip_build_tcp (buf, &pkt, &app, &sentinel, &seg, payload, len, NULL))
    fz_dns_tcp_handle_packet (tcp, &pkt, now);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FzRng rng;
  fz_rng_init_seeded (&rng, 1);
  g_autoptr (FzDnsTcp) tcp = fz_dns_tcp_new (&rng, 1280);
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 4096);
  g_autoptr (GArray) handles = g_array_new (FALSE, FALSE, sizeof (guint64));
  static guint8 answer[255 * 64];
  gint64 now = G_USEC_PER_SEC;
  guint32 iss = 0;

  while (size >= 2)
    {
      guint8 op = data[0] % 4;
      data++, size--;
      if (op == 0 && size >= 9)
        {
          gsize len = MIN ((gsize) data[8], size - 9);
          segment (tcp, buf, data, data + 9, len, iss, now);
          data += 9 + len, size -= 9 + len;
        }
      else if (op == 1)
        {
          now += data[0] * 50 * G_TIME_SPAN_MILLISECOND;
          if (fz_dns_tcp_poll_timeout (tcp) <= now)
            fz_dns_tcp_handle_timeout (tcp, now);
          data++, size--;
        }
      else if (op == 2)
        {
          FzDnsTcpQuery q;
          while (fz_dns_tcp_poll_query (tcp, &q))
            {
              g_assert (g_bytes_get_size (q.message) <= FZ_DNS_TCP_MAX_MESSAGE);
              g_array_append_val (handles, q.handle);
              fz_dns_tcp_query_clear (&q);
            }
          for (guint i = 0; i < handles->len; i++)
            fz_dns_tcp_answer (tcp, g_array_index (handles, guint64, i), answer,
                               MAX (1, data[0] * 64u), now);
          g_array_set_size (handles, 0);
          data++, size--;
        }
      else if (op == 3 && size >= 2)
        {
          gsize len = MIN ((gsize) (data[0] << 8 | data[1]), size - 2);
          FzIpPacket pkt;
          fz_packet_buf_set (buf, data + 2, len);
          if (fz_ip_packet_parse (&pkt, buf->data, buf->len, 65535) == FZ_IP_OK
              && pkt.proto == FZ_IP_PROTO_TCP)
            fz_dns_tcp_handle_packet (tcp, &pkt, now);
          data += 2 + len, size -= 2 + len;
        }
      else
        break;
      drain (tcp, buf, &iss);
      g_assert (fz_dns_tcp_n_connections (tcp) <= FZ_DNS_TCP_MAX_CONNECTIONS);
    }
  return 0;
}
