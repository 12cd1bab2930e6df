/* Packets from applications into the client's TUN path, against an
 * FzClientState with a CIDR, a DNS and an Internet resource, two of them
 * authorized (their gateway never answers, so packets wait in the node),
 * with time passing and upstream DNS answered: no crash, no leak, every
 * packet for the TUN parses, and what the state holds stays bounded.
 *
 * Input: operations, each one byte then its arguments:
 *   0 len(2) bytes       an IP packet as it is
 *   1 dst(1) proto(1) port(2) len(1) payload
 *                        a packet from our address to one of a few
 *                        destinations (resources, proxy IPs, sentinels,
 *                        the gateway, elsewhere): UDP, TCP (flags from
 *                        the port's high byte) or ICMP echo
 *   2 ms(1)              time passes (x 100 ms), timers run
 *   3 how(1)             every pending upstream query is answered: with
 *                        the query as an answer (TC set when how is odd),
 *                        or failed when how & 2
 *   4                    the Internet resource flips */
#include "fz-private.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char *const destinations[] = {
  "10.1.2.3",
  "10.1.255.1",
  "100.96.0.1",
  "100.96.0.5",
  "100.100.111.1",
  "100.100.111.2",
  "100.64.0.1",
  "192.0.2.1",
  "224.0.0.251",
  "fd00:2021:1111::1",
  "fd00:2021:1111:8000::1",
  "fd00:2021:1111:8000:100:100:111:0",
  "2001:db8::1",
  "ff02::1",
};

#define RESOURCES                                                                        \
  "[{\"id\":\"r-web\",\"type\":\"cidr\",\"address\":\"10.1.0.0/16\",\"name\":\"web\","   \
  "\"sites\":[{\"id\":\"s\",\"name\":\"s\"}],\"filters\":[{\"protocol\":\"tcp\","        \
  "\"port_range_start\":80,\"port_range_end\":80},{\"protocol\":\"icmp\"}]},"            \
  "{\"id\":\"r-corp\",\"type\":\"dns\",\"address\":\"*.corp.example\",\"name\":"         \
  "\"corp\","                                                                            \
  "\"sites\":[{\"id\":\"s\",\"name\":\"s\"}],\"filters\":[]},"                           \
  "{\"id\":\"r-inet\",\"type\":\"internet\",\"sites\":[{\"id\":\"s\",\"name\":\"s\"}]}]"

static void
portal (FzClientState *cl, const char *event, const char *json)
{
  g_autoptr (JsonNode) payload = json_from_string (json, NULL);
  g_autoptr (FzPortalMessage) m
    = fz_portal_message_decode (FZ_PORTAL_ROLE_CLIENT, event, payload, NULL);
  g_assert (m != NULL);
  fz_client_state_handle_portal (cl, m, G_USEC_PER_SEC);
}

static void
authorize (FzClientState *cl, const char *rid)
{
  g_autofree char *json = g_strdup_printf (
    "{\"resource_id\":\"%s\",\"gateway_id\":\"gw\",\"gateway_public_key\":"
    "\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\",\"gateway_ipv4\":\"100.64.0.1\","
    "\"gateway_ipv6\":\"fd00:2021:1111::1\",\"site_id\":\"s\",\"preshared_key\":"
    "\"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\",\"client_ice_credentials\":"
    "{\"username\":\"cuuu\",\"password\":\"cp0123456789012345678901\"},"
    "\"gateway_ice_credentials\":{\"username\":\"guuu\","
    "\"password\":\"gp0123456789012345678901\"}}",
    rid);
  portal (cl, "authorization_created", json);
}

/* Takes out whatever the state has for the host. */
static void
drain (FzClientState *cl, GArray *upstream)
{
  FzPacketBuf *b;
  FzNodeTransmit tx;
  FzPortalMessage *m;
  FzClientEvent e;

  while ((b = fz_client_state_poll_tun (cl)) != NULL)
    {
      FzIpPacket pkt;
      g_assert (fz_ip_packet_parse (&pkt, b->data, b->len, 65535) == FZ_IP_OK);
      fz_packet_buf_free (b);
    }
  while (fz_client_state_poll_transmit (cl, &tx))
    fz_packet_buf_free (tx.buf);
  while ((m = fz_client_state_poll_portal (cl)) != NULL)
    fz_portal_message_free (m);
  while (fz_client_state_poll_event (cl, &e))
    {
      if (e.type == FZ_CLIENT_EVENT_UPSTREAM_DNS)
        g_array_append_val (upstream, e);
      else
        fz_client_event_clear (&e);
    }
  g_assert (upstream->len <= 2 * FZ_CLIENT_DNS_MAX_QUERIES);
}

static void
answer_upstream (FzClientState *cl, GArray *upstream, guint8 how, gint64 now)
{
  g_autoptr (GArray) pending = g_array_copy (upstream);

  g_array_set_size (upstream, 0);
  for (guint i = 0; i < pending->len; i++)
    {
      FzClientEvent *e = &g_array_index (pending, FzClientEvent, i);
      gsize len;
      g_autofree guint8 *msg = g_memdup2 (g_bytes_get_data (e->query, &len), len);
      if (len > 2)
        msg[2] |= (how & 1) ? 0x82 : 0x80;
      if (how & 2)
        fz_client_state_upstream_answer (cl, e->request, NULL, 0, now);
      else
        fz_client_state_upstream_answer (cl, e->request, msg, len, now);
      fz_client_event_clear (e);
    }
}

static void
built_packet (FzClientState *cl, FzBufPool *pool, const guint8 *a, const guint8 *payload,
              gsize len, gint64 now)
{
  FzIpAddr dst, src;
  FzPacketBuf *buf = fz_buf_pool_alloc (pool);
  FzIpPacket pkt;
  guint16 port = (guint16) (a[2] << 8 | a[3]);
  gboolean ok;

  fz_ip_addr_parse (&dst, destinations[a[0] % G_N_ELEMENTS (destinations)]);
  fz_ip_addr_parse (&src, dst.family == 4 ? "100.64.0.2" : "fd00:2021:1111::2");
  switch (a[1] % 3)
    {
    case 0:
      ok = fz_ip_build_udp (buf, &pkt, &src, &dst, 40000, port % 2 ? 53 : port, payload,
                            len, NULL);
      break;
    case 1:
      {
        FzTcpSegment seg = { .sport = 40000,
                             .dport = (port & 1) ? 80 : 53,
                             .seq = 1,
                             .flags = a[2],
                             .window = 1000 };
        ok = fz_ip_build_tcp (buf, &pkt, &src, &dst, &seg, payload, len, NULL);
        break;
      }
    default:
      ok = fz_ip_build_icmp_echo (buf, &pkt, &src, &dst, FALSE, port, 1, payload, len,
                                  NULL);
      break;
    }
  if (ok)
    fz_client_state_handle_tun (cl, buf, now);
  else
    fz_packet_buf_free (buf);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FzRng rng;
  guint8 key[32] = { 3 };
  gint64 now = G_USEC_PER_SEC;
  gboolean inet = FALSE;
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (2048, 64);
  g_autoptr (GArray) upstream = g_array_new (FALSE, FALSE, sizeof (FzClientEvent));

  fz_rng_init_seeded (&rng, 1);
  FzClientState *cl = fz_client_state_new (key, &rng, pool, NULL, now, NULL);
  portal (cl, "init",
          "{\"interface\":{\"ipv4\":\"100.64.0.2\",\"ipv6\":\"fd00:2021:1111::2\","
          "\"upstream_do53\":[{\"ip\":\"1.1.1.1\"}]},\"resources\":" RESOURCES
          ",\"relays\":[]}");
  authorize (cl, "r-web");
  authorize (cl, "r-corp");
  drain (cl, upstream);

  while (size >= 1)
    {
      guint8 op = data[0] % 5;
      data++, size--;
      if (op == 0 && size >= 2)
        {
          gsize len = MIN ((gsize) (data[0] << 8 | data[1]), size - 2);
          FzPacketBuf *buf = fz_buf_pool_alloc (pool);
          if (fz_packet_buf_set (buf, data + 2, len))
            fz_client_state_handle_tun (cl, buf, now);
          else
            fz_packet_buf_free (buf);
          data += 2 + len, size -= 2 + len;
        }
      else if (op == 1 && size >= 5)
        {
          gsize len = MIN ((gsize) data[4], size - 5);
          built_packet (cl, pool, data, data + 5, len, now);
          data += 5 + len, size -= 5 + len;
        }
      else if (op == 2 && size >= 1)
        {
          now += data[0] * 100 * G_TIME_SPAN_MILLISECOND;
          data++, size--;
          if (fz_client_state_poll_timeout (cl) <= now)
            fz_client_state_handle_timeout (cl, now);
        }
      else if (op == 3 && size >= 1)
        {
          answer_upstream (cl, upstream, data[0], now);
          data++, size--;
        }
      else if (op == 4)
        fz_client_state_set_internet_resource_enabled (cl, inet = !inet, now);
      else
        break;
      drain (cl, upstream);
      /* Buffers: 128 per resource, 128 in the node, 32 per proxy name. */
      g_assert (fz_buf_pool_outstanding (pool) <= 3 * 128 + 128 + 32 * 64);
    }
  answer_upstream (cl, upstream, 2, now);
  fz_client_state_free (cl);
  return 0;
}
