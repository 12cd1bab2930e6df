/* Figures, not a pass/fail test: ns per packet through the client's
 * policy, from the TUN to an encrypted datagram, with 10 000 CIDR
 * resources (100 of them authorized through one gateway), against the
 * node's encryption alone for the same packets: the difference is the
 * routing (source check, longest prefix, filters, gateway lookup). Each
 * packet is first copied into a pool buffer (in both figures).
 *
 *   bench-client-state [ITERATIONS]
 *
 * Meaningful only from an optimised build without sanitizers
 * (tools/bench); the test suites run it briefly to keep it working. */
#include "fz-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESOURCES  10000
#define AUTHORIZED 100

typedef struct
{
  FzClientState *cl;
  FzGatewayState *gw;
  FzSockAddr gw_addr, cl_addr;
  gint64 now;
  guint8 psk[32];
} World;

static double
ns_per (gint64 start_us, guint64 n)
{
  return (double) (g_get_monotonic_time () - start_us) * 1000.0 / (double) n;
}

static FzPortalMessage *
decode (FzPortalRole role, const char *event, const char *json)
{
  g_autoptr (JsonNode) payload = json_from_string (json, NULL);
  FzPortalMessage *m = fz_portal_message_decode (role, event, payload, NULL);
  g_assert (m != NULL);
  return m;
}

static char *
resource_json (guint i)
{
  return g_strdup_printf (
    "{\"id\":\"r-%u\",\"type\":\"cidr\",\"address\":\"10.%u.%u.0/24\","
    "\"name\":\"r%u\",\"sites\":[{\"id\":\"site-1\",\"name\":\"s\"}],"
    "\"filters\":[{\"protocol\":\"udp\",\"port_range_start\":53,"
    "\"port_range_end\":53}]}",
    i, i / 100, i % 100, i);
}

/* The portal's part of an authorization, for both sides. */
static void
authorize (World *w, const char *rid)
{
  guint i = (guint) atoi (rid + 2);
  g_autofree char *res = resource_json (i);
  g_autofree char *ck
    = g_base64_encode (fz_node_public_key (fz_client_state_get_node (w->cl)), 32);
  g_autofree char *gk
    = g_base64_encode (fz_node_public_key (fz_gateway_state_get_node (w->gw)), 32);
  g_autofree char *psk = g_base64_encode (w->psk, 32);
  const char *ice
    = "\"client_ice_credentials\":{\"username\":\"cuuu\","
      "\"password\":\"cp0123456789012345678901\"},\"gateway_ice_credentials\":"
      "{\"username\":\"guuu\",\"password\":\"gp0123456789012345678901\"}";
  g_autofree char *create = g_strdup_printf (
    "{\"ref\":\"r\",\"resource\":%s,\"client\":{\"id\":\"c-1\",\"public_key\":\"%s\","
    "\"preshared_key\":\"%s\",\"ipv4\":\"100.64.0.2\",\"ipv6\":\"fd00:2021:1111::2\"},%"
    "s}",
    res, ck, psk, ice);
  g_autoptr (FzPortalMessage) m1
    = decode (FZ_PORTAL_ROLE_GATEWAY, "create_authorization", create);
  fz_gateway_state_handle_portal (w->gw, m1, w->now);
  g_autofree char *created = g_strdup_printf (
    "{\"resource_id\":\"%s\",\"gateway_id\":\"gw-1\",\"gateway_public_key\":\"%s\","
    "\"gateway_ipv4\":\"100.64.0.1\",\"gateway_ipv6\":\"fd00:2021:1111::1\","
    "\"site_id\":\"site-1\",\"preshared_key\":\"%s\",%s}",
    rid, gk, psk, ice);
  g_autoptr (FzPortalMessage) m2
    = decode (FZ_PORTAL_ROLE_CLIENT, "authorization_created", created);
  fz_client_state_handle_portal (w->cl, m2, w->now);
}

/* Portal messages and datagrams both ways until nothing moves. */
static void
exchange (World *w)
{
  for (gboolean moved = TRUE; moved;)
    {
      FzPortalMessage *m;
      FzNodeTransmit tx;
      FzPacketBuf *b;
      FzClientEvent ce;
      FzGatewayEvent ge;
      moved = FALSE;
      while ((m = fz_client_state_poll_portal (w->cl)) != NULL)
        {
          if (m->event == FZ_PORTAL_REQUEST_AUTHORIZATION)
            authorize (w, m->resource_id);
          else if (m->event == FZ_PORTAL_NEW_GATEWAY_ICE_CANDIDATES)
            {
              g_autoptr (FzPortalMessage) c
                = fz_portal_message_new (FZ_PORTAL_ICE_CANDIDATES);
              c->peer_id = g_strdup ("c-1");
              g_array_append_vals (c->candidates, m->candidates->data,
                                   m->candidates->len);
              fz_gateway_state_handle_portal (w->gw, c, w->now);
            }
          fz_portal_message_free (m);
          moved = TRUE;
        }
      while ((m = fz_gateway_state_poll_portal (w->gw)) != NULL)
        {
          if (m->event == FZ_PORTAL_BROADCAST_ICE_CANDIDATES)
            {
              g_autoptr (FzPortalMessage) c
                = fz_portal_message_new (FZ_PORTAL_ICE_CANDIDATES);
              c->peer_id = g_strdup ("gw-1");
              g_array_append_vals (c->candidates, m->candidates->data,
                                   m->candidates->len);
              fz_client_state_handle_portal (w->cl, c, w->now);
            }
          fz_portal_message_free (m);
          moved = TRUE;
        }
      while (fz_client_state_poll_transmit (w->cl, &tx))
        {
          moved = TRUE;
          if (fz_sock_addr_equal (&tx.dst, &w->gw_addr))
            fz_gateway_state_handle_datagram (w->gw, &w->gw_addr, &w->cl_addr, tx.buf,
                                              w->now);
          else
            fz_packet_buf_free (tx.buf);
        }
      while (fz_gateway_state_poll_transmit (w->gw, &tx))
        {
          moved = TRUE;
          if (fz_sock_addr_equal (&tx.dst, &w->cl_addr))
            fz_client_state_handle_datagram (w->cl, &w->cl_addr, &w->gw_addr, tx.buf,
                                             w->now);
          else
            fz_packet_buf_free (tx.buf);
        }
      while ((b = fz_gateway_state_poll_tun (w->gw)) != NULL)
        fz_packet_buf_free (b);
      while ((b = fz_client_state_poll_tun (w->cl)) != NULL)
        fz_packet_buf_free (b);
      while (fz_client_state_poll_event (w->cl, &ce))
        fz_client_event_clear (&ce);
      while (fz_gateway_state_poll_event (w->gw, &ge))
        fz_gateway_event_clear (&ge);
    }
}

static void
run_for (World *w, gint64 span)
{
  gint64 end = w->now + span;
  for (guint guard = 0; guard < 100000; guard++)
    {
      exchange (w);
      gint64 next = MIN (fz_client_state_poll_timeout (w->cl),
                         fz_gateway_state_poll_timeout (w->gw));
      if (next > end)
        break;
      w->now = MAX (w->now, next);
      fz_client_state_handle_timeout (w->cl, w->now);
      fz_gateway_state_handle_timeout (w->gw, w->now);
    }
  w->now = end;
}

/* "example.com" A, id 0x1234, RD; the answer adds one A record. */
static const guint8 dns_query_bytes[]
  = { 0x12, 0x34, 0x01, 0x00, 0,   1, 0,   0,   0,   0, 0, 0, 7, 'e', 'x',
      'a',  'm',  'p',  'l',  'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1 };
static const guint8 dns_record[]
  = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1 };

/* ns per query through the stub to an upstream resolver and back: the
 * application's query on the TUN, the UPSTREAM_DNS event, the answer,
 * the answer to the TUN. */
static double
bench_upstream_dns (World *w, FzBufPool *pool, guint64 n)
{
  FzIpAddr app, sentinel, server;
  FzIpPacket p;
  guint8 answer[sizeof dns_query_bytes + sizeof dns_record];
  g_autoptr (FzPacketBuf) query = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 256);

  fz_ip_addr_parse (&app, "100.64.0.2");
  fz_ip_addr_parse (&sentinel, "100.100.111.1");
  fz_ip_addr_parse (&server, "192.0.2.53");
  fz_client_state_set_system_dns (w->cl, &server, 1);
  g_assert (fz_ip_build_udp (query, &p, &app, &sentinel, 40000, 53, dns_query_bytes,
                             sizeof dns_query_bytes, NULL));
  memcpy (answer, dns_query_bytes, sizeof dns_query_bytes);
  memcpy (answer + sizeof dns_query_bytes, dns_record, sizeof dns_record);
  answer[2] |= 0x80; /* QR */
  answer[7] = 1;     /* one answer */
  exchange (w);

  guint64 answered = 0;
  gint64 start = g_get_monotonic_time ();
  for (guint64 k = 0; k < n; k++)
    {
      FzPacketBuf *b = fz_buf_pool_alloc (pool);
      FzClientEvent e;
      fz_packet_buf_set (b, query->data, query->len);
      fz_client_state_handle_tun (w->cl, b, w->now);
      while (fz_client_state_poll_event (w->cl, &e))
        {
          if (e.type == FZ_CLIENT_EVENT_UPSTREAM_DNS)
            fz_client_state_upstream_answer (w->cl, e.request, answer, sizeof answer,
                                             w->now);
          fz_client_event_clear (&e);
        }
      while ((b = fz_client_state_poll_tun (w->cl)) != NULL)
        {
          answered++;
          fz_packet_buf_free (b);
        }
    }
  double ns = ns_per (start, n);
  if (answered != n)
    g_error ("%" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " queries answered", answered,
             n);
  return ns;
}

int
main (int argc, char **argv)
{
  guint64 n = argc > 1 ? g_ascii_strtoull (argv[1], NULL, 10) : 2000000;
  World w = { .now = G_USEC_PER_SEC };
  FzRng rng;
  guint8 kc[32], kg[32];

  fz_rng_init_seeded (&rng, 3);
  fz_rng_fill (&rng, kc, 32);
  fz_rng_fill (&rng, kg, 32);
  fz_rng_fill (&rng, w.psk, 32);
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (2048, 256);
  w.cl = fz_client_state_new (kc, &rng, pool, NULL, w.now, NULL);
  w.gw = fz_gateway_state_new (kg, &rng, pool, g_get_real_time (), w.now);
  fz_sock_addr_parse (&w.gw_addr, "10.255.0.1:52625");
  fz_sock_addr_parse (&w.cl_addr, "10.255.0.2:40000");
  fz_node_add_host_address (fz_gateway_state_get_node (w.gw), &w.gw_addr, w.now);
  fz_node_add_host_address (fz_client_state_get_node (w.cl), &w.cl_addr, w.now);

  g_autoptr (FzPortalMessage) gi = decode (
    FZ_PORTAL_ROLE_GATEWAY, "init",
    "{\"interface\":{\"ipv4\":\"100.64.0.1\",\"ipv6\":\"fd00:2021:1111::1\"},"
    "\"relays\":[{\"id\":\"relay-1\",\"type\":\"turn\",\"addr\":\"10.255.0.9:3478\","
    "\"username\":\"u\",\"password\":\"p\",\"expires_at\":2145916800}],"
    "\"authorizations\":[]}");
  fz_gateway_state_handle_portal (w.gw, gi, w.now);
  GString *init
    = g_string_new ("{\"interface\":{\"ipv4\":\"100.64.0.2\",\"ipv6\":"
                    "\"fd00:2021:1111::2\",\"upstream_do53\":[],\"upstream_doh\":[]},"
                    "\"relays\":[],\"resources\":[");
  for (guint i = 0; i < RESOURCES; i++)
    {
      g_autofree char *r = resource_json (i);
      g_string_append_printf (init, "%s%s", i ? "," : "", r);
    }
  g_string_append (init, "]}");
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (FzPortalMessage) ci = decode (FZ_PORTAL_ROLE_CLIENT, "init", init->str);
  fz_client_state_handle_portal (w.cl, ci, w.now);
  double init_ms = (double) (g_get_monotonic_time () - t0) / 1000.0;
  g_string_free (init, TRUE);

  /* One packet per resource to authorize, then the flows. */
  g_autofree FzPacketBuf **pkts = g_new (FzPacketBuf *, AUTHORIZED);
  FzIpAddr src;
  fz_ip_addr_parse (&src, "100.64.0.2");
  for (guint i = 0; i < AUTHORIZED; i++)
    {
      FzIpAddr dst;
      FzIpPacket p;
      guint8 d[4] = { 10, (i * 97) / 100 % 100, (i * 97) % 100, 5 };
      fz_ip_addr_set_v4 (&dst, d);
      pkts[i] = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 256);
      g_assert (fz_ip_build_udp (pkts[i], &p, &src, &dst, 40000, 53, "0123456789abcdef",
                                 16, NULL));
      FzPacketBuf *b = fz_buf_pool_alloc (pool);
      fz_packet_buf_set (b, pkts[i]->data, pkts[i]->len);
      fz_client_state_handle_tun (w.cl, b, w.now);
      run_for (&w, 3 * G_USEC_PER_SEC);
    }
  if (!fz_node_is_established (fz_client_state_get_node (w.cl), "gw-1"))
    g_error ("the client did not connect");

  FzNode *node = fz_client_state_get_node (w.cl);
  guint64 sent = 0;
  gint64 start = g_get_monotonic_time ();
  for (guint64 k = 0; k < n; k++)
    {
      FzPacketBuf *b = fz_buf_pool_alloc (pool);
      FzNodeTransmit tx;
      fz_packet_buf_set (b, pkts[k % AUTHORIZED]->data, pkts[k % AUTHORIZED]->len);
      if (fz_node_encapsulate (node, "gw-1", b, w.now, &tx) == FZ_NODE_SEND)
        fz_packet_buf_free (tx.buf);
      else
        fz_packet_buf_free (b);
    }
  double enc_ns = ns_per (start, n);

  start = g_get_monotonic_time ();
  for (guint64 k = 0; k < n; k++)
    {
      FzPacketBuf *b = fz_buf_pool_alloc (pool);
      FzNodeTransmit tx;
      fz_packet_buf_set (b, pkts[k % AUTHORIZED]->data, pkts[k % AUTHORIZED]->len);
      fz_client_state_handle_tun (w.cl, b, w.now);
      while (fz_client_state_poll_transmit (w.cl, &tx))
        {
          fz_packet_buf_free (tx.buf);
          sent++;
        }
    }
  double all_ns = ns_per (start, n);
  if (sent != n)
    g_error ("%" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " packets went out", sent, n);

  double dns_ns = bench_upstream_dns (&w, pool, MAX (n / 20, 1));

  printf ("client policy, %u CIDR resources (%u authorized), %" G_GUINT64_FORMAT
          " packets of 44 bytes:\n",
          RESOURCES, AUTHORIZED, n);
  printf ("  init with %u resources:              %8.1f ms\n", RESOURCES, init_ms);
  printf ("  TUN -> datagram (policy + WireGuard): %8.1f ns/packet\n", all_ns);
  printf ("  WireGuard alone (node encapsulate):   %8.1f ns/packet\n", enc_ns);
  printf ("  the client's policy:                  %8.1f ns/packet\n", all_ns - enc_ns);
  printf ("  upstream DNS, query to answer:        %8.1f ns/query\n", dns_ns);
  for (guint i = 0; i < AUTHORIZED; i++)
    fz_packet_buf_free (pkts[i]);
  fz_client_state_free (w.cl);
  fz_gateway_state_free (w.gw);
  return 0;
}
