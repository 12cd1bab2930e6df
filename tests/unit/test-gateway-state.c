/* FzGatewayState against a real client node over an in-memory link: the
 * portal's messages as JSON, packets from the client through WireGuard,
 * what comes out on the TUN and what goes back to the client. */
#include "fz-private.h"

#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>

#define S      (G_USEC_PER_SEC)
#define WALL0  (G_GINT64_CONSTANT (1800000000) * S) /* the wall clock at now = T0 */
#define T0     (1000 * S)
#define CLIENT "c-1"
/* A relay that never answers: the gateway needs one to take clients. */
#define RELAYS                                                                           \
  "\"relays\":[{\"id\":\"relay-1\",\"type\":\"turn\",\"addr\":\"10.0.0.9:3478\","        \
  "\"username\":\"u\",\"password\":\"p\",\"expires_at\":2145916800}]"

typedef struct
{
  FzRng rng;
  FzBufPool *pool;
  FzGatewayState *gw;
  FzNode *client;
  FzNodeConn *conn; /* the client's connection to the gateway */
  FzSockAddr gw_addr, cl_addr;
  gint64 now;
  GQueue to_app;   /* FzPacketBuf*: what the client node decrypted */
  GQueue to_tun;   /* FzPacketBuf*: what the gateway wrote to its TUN */
  GQueue events;   /* FzGatewayEvent* */
  GQueue portal;   /* FzPortalMessage* the gateway sent, candidates excepted */
  gboolean closed; /* the client got a goodbye */
  guint broadcasts, last_peers, last_candidates; /* candidate messages */
  guint8 psk[32];
} Fx;

static FzIpAddr
ip (const char *s)
{
  FzIpAddr a;
  g_assert_true (fz_ip_addr_parse (&a, s));
  return a;
}

static void
portal_push (Fx *f, const char *event, const char *json)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) payload = json_from_string (json, &error);
  g_assert_no_error (error);
  g_autoptr (FzPortalMessage) m
    = fz_portal_message_decode (FZ_PORTAL_ROLE_GATEWAY, event, payload, &error);
  g_assert_no_error (error);
  fz_gateway_state_handle_portal (f->gw, m, f->now);
}

static void
collect (Fx *f)
{
  FzPortalMessage *m;
  FzGatewayEvent e;
  FzNodeEvent ne;
  FzPacketBuf *b;

  while ((m = fz_gateway_state_poll_portal (f->gw)) != NULL)
    {
      if (m->event == FZ_PORTAL_BROADCAST_ICE_CANDIDATES)
        {
          f->broadcasts++;
          f->last_peers = m->peer_ids->len;
          f->last_candidates = m->candidates->len;
          for (guint i = 0; i < m->candidates->len; i++)
            fz_node_add_remote_candidate (
              f->client, "gw", &g_array_index (m->candidates, FzIceCandidate, i), f->now);
          fz_portal_message_free (m);
        }
      else
        g_queue_push_tail (&f->portal, m);
    }
  while (fz_gateway_state_poll_event (f->gw, &e))
    g_queue_push_tail (&f->events, g_memdup2 (&e, sizeof e));
  while ((b = fz_gateway_state_poll_tun (f->gw)) != NULL)
    g_queue_push_tail (&f->to_tun, b);
  while (fz_node_poll_event (f->client, &ne))
    {
      if (ne.type == FZ_NODE_EVENT_NEW_CANDIDATE)
        {
          g_autoptr (FzPortalMessage) m2
            = fz_portal_message_new (FZ_PORTAL_ICE_CANDIDATES);
          m2->peer_id = g_strdup (CLIENT);
          g_array_append_val (m2->candidates, ne.candidate);
          fz_gateway_state_handle_portal (f->gw, m2, f->now);
        }
      else if (ne.type == FZ_NODE_EVENT_CLOSED)
        f->closed = TRUE;
      g_free (ne.id);
    }
}

/* Moves every datagram both ways once; TRUE if any moved. */
static gboolean
exchange (Fx *f)
{
  FzNodeTransmit tx;
  gboolean moved = FALSE;

  while (fz_gateway_state_poll_transmit (f->gw, &tx))
    {
      FzNodeConn *conn = NULL;
      moved = TRUE;
      /* The relay of init is nowhere: only the client gets anything. */
      if (!fz_sock_addr_equal (&tx.dst, &f->cl_addr))
        fz_packet_buf_free (tx.buf);
      else if (fz_node_decapsulate (f->client, &f->cl_addr, &f->gw_addr, tx.buf, f->now,
                                    &conn)
               == FZ_NODE_RX_PACKET)
        g_queue_push_tail (&f->to_app, tx.buf);
      else
        fz_packet_buf_free (tx.buf);
    }
  while (fz_node_poll_transmit (f->client, &tx))
    {
      moved = TRUE;
      if (!fz_sock_addr_equal (&tx.dst, &f->gw_addr))
        {
          fz_packet_buf_free (tx.buf);
          continue;
        }
      fz_gateway_state_handle_datagram (f->gw, &f->gw_addr, &f->cl_addr, tx.buf, f->now);
    }
  collect (f);
  return moved;
}

/* Runs the link and both clocks for @span. */
static void
pump (Fx *f, gint64 span)
{
  gint64 end = f->now + span;

  for (guint guard = 0; guard < 100000; guard++)
    {
      while (exchange (f))
        ;
      gint64 next
        = MIN (fz_gateway_state_poll_timeout (f->gw), fz_node_poll_timeout (f->client));
      if (next > end)
        break;
      f->now = MAX (f->now, next);
      if (fz_gateway_state_poll_timeout (f->gw) <= f->now)
        fz_gateway_state_handle_timeout (f->gw, f->now);
      if (fz_node_poll_timeout (f->client) <= f->now)
        fz_node_handle_timeout (f->client, f->now);
      collect (f);
    }
  f->now = end;
}

static void
setup (Fx *f, gconstpointer data)
{
  guint8 kg[32], kc[32];

  (void) data;
  memset (f, 0, sizeof *f);
  fz_rng_init_seeded (&f->rng, 11);
  f->pool = fz_buf_pool_new (2048, 64);
  f->now = T0;
  fz_rng_fill (&f->rng, kg, sizeof kg);
  fz_rng_fill (&f->rng, kc, sizeof kc);
  fz_rng_fill (&f->rng, f->psk, sizeof f->psk);
  f->gw = fz_gateway_state_new (kg, &f->rng, f->pool, WALL0, f->now);
  f->client = fz_node_new (TRUE, kc, &f->rng, f->pool, f->now);
  g_assert_true (fz_sock_addr_parse (&f->gw_addr, "10.0.0.1:52625"));
  g_assert_true (fz_sock_addr_parse (&f->cl_addr, "10.0.0.2:40000"));
  fz_node_add_host_address (fz_gateway_state_get_node (f->gw), &f->gw_addr, f->now);
  fz_node_add_host_address (f->client, &f->cl_addr, f->now);
  portal_push (f, "init",
               "{\"interface\":{\"ipv4\":\"100.64.0.1\",\"ipv6\":\"fd00:2021:1111::1\"},"
               "\"config\":{\"ipv4_masquerade_enabled\":true,\"ipv6_masquerade_enabled\":"
               "false}," RELAYS ",\"account_slug\":\"acme\",\"authorizations\":[]}");
  collect (f);
}

static void
free_queue (GQueue *q, GDestroyNotify fn)
{
  gpointer p;
  while ((p = g_queue_pop_head (q)) != NULL)
    fn (p);
}

static void
event_free (gpointer p)
{
  fz_gateway_event_clear (p);
  g_free (p);
}

static void
teardown (Fx *f, gconstpointer data)
{
  (void) data;
  free_queue (&f->to_app, (GDestroyNotify) fz_packet_buf_free);
  free_queue (&f->to_tun, (GDestroyNotify) fz_packet_buf_free);
  free_queue (&f->events, event_free);
  free_queue (&f->portal, (GDestroyNotify) fz_portal_message_free);
  fz_gateway_state_free (f->gw);
  fz_node_free (f->client);
  fz_buf_pool_free (f->pool);
}

static char *
b64 (const guint8 *k)
{
  return g_base64_encode (k, 32);
}

/* The portal's create_authorization for a client. */
static void
push_authorization (Fx *f, const char *client_id, const guint8 *key, const char *v4,
                    const char *v6, const char *resource_json, gint64 expires_in)
{
  g_autofree char *ck = b64 (key);
  g_autofree char *psk = b64 (f->psk);
  gint64 exp = expires_in ? (WALL0 + (f->now - T0)) / S + expires_in : 0;
  g_autofree char *json = g_strdup_printf (
    "{\"ref\":\"ref-1\",\"resource\":%s,\"client\":{\"id\":\"%s\","
    "\"public_key\":\"%s\",\"preshared_key\":\"%s\",\"ipv4\":\"%s\","
    "\"ipv6\":\"%s\",\"version\":\"1.4.0\"},"
    "\"client_ice_credentials\":{\"username\":\"cuuu\",\"password\":"
    "\"cp0123456789012345678901\"},"
    "\"gateway_ice_credentials\":{\"username\":\"guuu\",\"password\":"
    "\"gp0123456789012345678901\"}"
    "%s%" G_GINT64_FORMAT "}",
    resource_json, client_id, ck, psk, v4, v6, exp ? ",\"expires_at\":" : ",\"x\":", exp);
  portal_push (f, "create_authorization", json);
  collect (f);
}

/* The portal authorizes the client for @resource_json until @expires_in
 * seconds from now (0: no expiry), and the client connects. */
static void
authorize (Fx *f, const char *resource_json, gint64 expires_in)
{
  push_authorization (f, CLIENT, fz_node_public_key (f->client), "100.64.0.2",
                      "fd00:2021:1111::2", resource_json, expires_in);
  FzPortalMessage *reply = g_queue_pop_tail (&f->portal);
  g_assert_nonnull (reply);
  g_assert_cmpint (reply->event, ==, FZ_PORTAL_AUTHORIZATION_CREATED_REF);
  g_assert_cmpstr (reply->ref, ==, "ref-1");
  fz_portal_message_free (reply);

  if (fz_node_lookup (f->client, "gw") == NULL)
    {
      FzNodeConnectionParams p = { .local_ufrag = "cuuu",
                                   .local_pwd = "cp0123456789012345678901",
                                   .remote_ufrag = "guuu",
                                   .remote_pwd = "gp0123456789012345678901" };
      memcpy (p.remote_key, fz_node_public_key (fz_gateway_state_get_node (f->gw)), 32);
      memcpy (p.psk, f->psk, 32);
      g_assert_true (fz_node_upsert_connection (f->client, "gw", &p, f->now, NULL));
      collect (f);
      pump (f, 3 * S);
      g_assert_true (fz_node_is_established (f->client, "gw"));
    }
  f->conn = fz_node_lookup (f->client, "gw");
}

/* The application sends @buf (built by the caller) through the client. */
static void
app_send (Fx *f, FzPacketBuf *buf)
{
  FzNodeTransmit tx;

  g_assert_cmpint (fz_node_encapsulate_conn (f->client, f->conn, buf, f->now, &tx), ==,
                   FZ_NODE_SEND);
  fz_gateway_state_handle_datagram (f->gw, &f->gw_addr, &f->cl_addr, tx.buf, f->now);
  collect (f);
  while (exchange (f))
    ;
}

static void
send_udp_data (Fx *f, const char *src, const char *dst, guint16 sport, guint16 dport,
               const char *data, gsize len)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (f->pool);
  FzIpPacket pkt;
  FzIpAddr s = ip (src), d = ip (dst);
  g_assert_true (fz_ip_build_udp (buf, &pkt, &s, &d, sport, dport, data, len, NULL));
  app_send (f, buf);
}

static void
send_udp (Fx *f, const char *src, const char *dst, guint16 sport, guint16 dport)
{
  send_udp_data (f, src, dst, sport, dport, "hello", 5);
}

static void
send_tcp (Fx *f, const char *src, const char *dst, guint16 dport, guint8 flags)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (f->pool);
  FzIpPacket pkt;
  FzIpAddr s = ip (src), d = ip (dst);
  FzTcpSegment seg
    = { .sport = 40001, .dport = dport, .seq = 1, .flags = flags, .window = 1000 };
  g_assert_true (fz_ip_build_tcp (buf, &pkt, &s, &d, &seg, NULL, 0, NULL));
  app_send (f, buf);
}

/* The next packet the gateway wrote to its TUN: to @dst. */
static void
expect_tun (Fx *f, const char *dst, guint16 dport)
{
  g_autoptr (FzPacketBuf) b = g_queue_pop_head (&f->to_tun);
  FzIpPacket pkt;
  FzIpAddr d;

  g_assert_nonnull (b);
  g_assert_cmpint (fz_ip_packet_parse (&pkt, b->data, b->len, 65535), ==, FZ_IP_OK);
  fz_ip_packet_dst (&pkt, &d);
  FzIpAddr want = ip (dst);
  g_assert_true (fz_ip_addr_equal (&d, &want));
  g_assert_cmpuint (fz_ip_packet_dst_port (&pkt), ==, dport);
  g_assert_true (fz_ip_packet_verify_l4_checksum (&pkt));
}

/* The next packet back at the application: ICMP type/code. */
static void
expect_icmp (Fx *f, guint8 type, guint8 code)
{
  g_autoptr (FzPacketBuf) b = g_queue_pop_head (&f->to_app);
  FzIpPacket pkt;

  g_assert_nonnull (b);
  g_assert_cmpint (fz_ip_packet_parse (&pkt, b->data, b->len, 65535), ==, FZ_IP_OK);
  g_assert_true (fz_ip_packet_is_icmp_error (&pkt));
  g_assert_cmpuint (fz_ip_packet_icmp_type (&pkt), ==, type);
  g_assert_cmpuint (fz_ip_packet_icmp_code (&pkt), ==, code);
  g_assert_cmpuint (fz_ip_packet_ttl (&pkt), ==, FZ_ICMP_ERROR_TTL);
}

/* A packet from the resource side arrives at the gateway's TUN. */
static void
tun_in (Fx *f, guint8 proto, const char *src, guint16 sport, const char *dst,
        guint16 dport)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (f->pool);
  FzIpPacket pkt;
  FzIpAddr s = ip (src), d = ip (dst);

  if (proto == FZ_IP_PROTO_UDP)
    g_assert_true (fz_ip_build_udp (buf, &pkt, &s, &d, sport, dport, "x", 1, NULL));
  else
    {
      FzTcpSegment seg = { .sport = sport, .dport = dport, .flags = FZ_TCP_ACK };
      g_assert_true (fz_ip_build_tcp (buf, &pkt, &s, &d, &seg, NULL, 0, NULL));
    }
  fz_gateway_state_handle_tun (f->gw, buf, f->now);
  while (exchange (f))
    ;
}

/* The next packet at the application: from @src port @sport. */
static void
expect_app (Fx *f, const char *src, guint16 sport)
{
  g_autoptr (FzPacketBuf) b = g_queue_pop_head (&f->to_app);
  FzIpPacket pkt;
  FzIpAddr got, want = ip (src);

  g_assert_nonnull (b);
  g_assert_cmpint (fz_ip_packet_parse (&pkt, b->data, b->len, 65535), ==, FZ_IP_OK);
  fz_ip_packet_src (&pkt, &got);
  g_assert_true (fz_ip_addr_equal (&got, &want));
  g_assert_cmpuint (fz_ip_packet_src_port (&pkt), ==, sport);
}

static void
expect_nothing (Fx *f)
{
  g_assert_true (g_queue_is_empty (&f->to_tun));
  g_assert_true (g_queue_is_empty (&f->to_app));
}

#define CIDR_WEB                                                                         \
  "{\"id\":\"r-web\",\"type\":\"cidr\",\"address\":\"10.1.0.0/16\",\"name\":\"web\","    \
  "\"filters\":[{\"protocol\":\"tcp\",\"port_range_start\":80,\"port_range_end\":80}]}"
#define CIDR_TEN                                                                         \
  "{\"id\":\"r-ten\",\"type\":\"cidr\",\"address\":\"10.0.0.0/8\",\"name\":\"ten\","     \
  "\"filters\":[{\"protocol\":\"udp\"}]}"

static void
test_interface (Fx *f, gconstpointer data)
{
  (void) data;
  FzGatewayEvent *e = g_queue_pop_head (&f->events);
  g_assert_nonnull (e);
  g_assert_cmpint (e->type, ==, FZ_GATEWAY_EVENT_INTERFACE);
  FzIpAddr want = ip ("100.64.0.1");
  g_assert_true (fz_ip_addr_equal (&e->ipv4, &want));
  event_free (e);
  e = g_queue_pop_head (&f->events);
  g_assert_cmpint (e->type, ==, FZ_GATEWAY_EVENT_MASQUERADE);
  g_assert_true (e->masquerade_v4);
  g_assert_false (e->masquerade_v6);
  event_free (e);
  /* Without relays no client is taken: the portal hears no_relays
   * instead of an authorization. */
  portal_push (f, "relays_presence",
               "{\"disconnected_ids\":[\"relay-1\"],\"connected\":[]}");
  push_authorization (f, CLIENT, fz_node_public_key (f->client), "100.64.0.2",
                      "fd00:2021:1111::2", CIDR_WEB, 0);
  /* (The node says so too, once its last relay went.) */
  g_assert_false (g_queue_is_empty (&f->portal));
  FzPortalMessage *m;
  while ((m = g_queue_pop_head (&f->portal)) != NULL)
    {
      g_assert_cmpint (m->event, ==, FZ_PORTAL_NO_RELAYS);
      fz_portal_message_free (m);
    }
  g_assert_cmpuint (fz_gateway_state_n_clients (f->gw), ==, 0);
  /* With one again, it is. */
  portal_push (f, "relays_presence",
               "{\"disconnected_ids\":[],\"connected\":[{\"id\":\"relay-2\","
               "\"type\":\"turn\",\"addr\":\"10.0.0.8:3478\",\"username\":\"u\","
               "\"password\":\"p\",\"expires_at\":2145916800}]}");
  authorize (f, CIDR_WEB, 0);
  g_assert_cmpuint (fz_gateway_state_n_clients (f->gw), ==, 1);
}

static void
test_cidr_filters (Fx *f, gconstpointer data)
{
  (void) data;
  authorize (f, CIDR_WEB, 0);
  send_tcp (f, "100.64.0.2", "10.1.2.3", 80, FZ_TCP_SYN);
  expect_tun (f, "10.1.2.3", 80);
  send_tcp (f, "100.64.0.2", "10.1.2.3", 443, FZ_TCP_SYN);
  expect_icmp (f, 3, 13); /* prohibited by the filter */
  send_udp (f, "100.64.0.2", "10.9.9.9", 1000, 53);
  expect_icmp (f, 3, 0); /* no resource there */
  send_udp (f, "100.64.0.7", "10.1.2.3", 1000, 80);
  expect_nothing (f); /* not the client's address: dropped silently */

  /* A second resource containing the first: the union applies inside. */
  authorize (f, CIDR_TEN, 0);
  send_udp (f, "100.64.0.2", "10.1.2.3", 1000, 53);
  expect_tun (f, "10.1.2.3", 53);
  send_tcp (f, "100.64.0.2", "10.2.0.1", 80, FZ_TCP_SYN);
  expect_icmp (f, 3, 13);

  /* The portal narrows the filters: at once. */
  portal_push (f, "resource_updated",
               "{\"id\":\"r-ten\",\"type\":\"cidr\",\"address\":\"10.0.0.0/8\","
               "\"name\":\"ten\",\"filters\":[{\"protocol\":\"icmp\"}]}");
  send_udp (f, "100.64.0.2", "10.2.0.1", 1000, 53);
  expect_icmp (f, 3, 13);

  /* The web server's reply comes back to the client as it is; what the
   * filters would not let the client send to does not. */
  tun_in (f, FZ_IP_PROTO_TCP, "10.1.2.3", 80, "100.64.0.2", 40001);
  expect_app (f, "10.1.2.3", 80);
  tun_in (f, FZ_IP_PROTO_UDP, "10.1.2.3", 53, "100.64.0.2", 1000);
  tun_in (f, FZ_IP_PROTO_TCP, "10.99.0.1", 80, "100.64.0.2", 40001);
  tun_in (f, FZ_IP_PROTO_UDP, "100.64.0.3", 53, "100.64.0.2", 1000);
  expect_nothing (f);
}

static void
test_expiry (Fx *f, gconstpointer data)
{
  (void) data;
  authorize (f, CIDR_WEB, 60);
  authorize (f, CIDR_TEN, 120);
  pump (f, 61 * S);
  g_assert_cmpuint (fz_gateway_state_n_clients (f->gw), ==, 1);
  send_tcp (f, "100.64.0.2", "10.1.2.3", 80, FZ_TCP_SYN);
  expect_icmp (f, 3, 13); /* only r-ten (udp) is left */
  g_assert_false (f->closed);
  pump (f, 60 * S);
  g_assert_cmpuint (fz_gateway_state_n_clients (f->gw), ==, 0);
  g_assert_true (f->closed); /* the last access went: goodbye */
}

static void
test_init_and_reject (Fx *f, gconstpointer data)
{
  (void) data;
  authorize (f, CIDR_WEB, 0);
  authorize (f, CIDR_TEN, 0);
  /* init lists only r-ten: r-web goes. */
  portal_push (
    f, "init",
    "{\"interface\":{\"ipv4\":\"100.64.0.1\",\"ipv6\":\"fd00:2021:1111::1\"}," RELAYS
    ",\"authorizations\":[{\"client_id\":\"" CLIENT "\","
    "\"resource_id\":\"r-ten\",\"expires_at\":1900000000}]}");
  send_tcp (f, "100.64.0.2", "10.1.2.3", 80, FZ_TCP_SYN);
  expect_icmp (f, 3, 13);
  send_udp (f, "100.64.0.2", "10.1.2.3", 1, 2);
  expect_tun (f, "10.1.2.3", 2);
  g_assert_false (f->closed);
  portal_push (f, "reject_access",
               "{\"client_id\":\"" CLIENT "\",\"resource_id\":\"r-ten\"}");
  while (exchange (f))
    ;
  g_assert_true (f->closed);
  g_assert_cmpuint (fz_gateway_state_n_clients (f->gw), ==, 0);
}

static void
test_shutdown (Fx *f, gconstpointer data)
{
  (void) data;
  authorize (f, CIDR_WEB, 0);
  fz_gateway_state_shutdown (f->gw, f->now);
  while (exchange (f))
    ;
  g_assert_true (f->closed);
  g_assert_cmpuint (fz_gateway_state_n_clients (f->gw), ==, 0);
}

#define DNS_APP                                                                          \
  "{\"id\":\"r-app\",\"type\":\"dns\",\"address\":\"*.app.example\",\"name\":\"app\","   \
  "\"filters\":[]}"

static void
send_assigned (Fx *f, const char *domain, guint first)
{
  FzAssignedIps msg = { .resource = (char *) "r-app", .domain = (char *) domain };
  char text[64];

  for (guint i = 0; i < 4; i++)
    {
      g_snprintf (text, sizeof text, "100.96.0.%u", first + i);
      msg.proxy_ips[i] = ip (text);
      g_snprintf (text, sizeof text, "fd00:2021:1111:8000::%u", first + i);
      msg.proxy_ips[4 + i] = ip (text);
    }
  msg.n_proxy_ips = 8;
  g_autoptr (GBytes) payload = fz_assigned_ips_encode (&msg);
  FzPacketBuf *buf = fz_buf_pool_alloc (f->pool);
  FzIpPacket pkt;
  g_assert_true (fz_ip_build_control (buf, &pkt, FZ_CONTROL_ASSIGNED_IPS,
                                      g_bytes_get_data (payload, NULL),
                                      g_bytes_get_size (payload), NULL));
  app_send (f, buf);
}

static guint64
expect_resolve (Fx *f, const char *domain)
{
  FzGatewayEvent *e;
  while ((e = g_queue_pop_head (&f->events)) != NULL
         && e->type != FZ_GATEWAY_EVENT_RESOLVE)
    event_free (e);
  g_assert_nonnull (e);
  g_assert_cmpstr (e->domain, ==, domain);
  guint64 r = e->request;
  event_free (e);
  return r;
}

static void
expect_status (Fx *f, const char *domain, FzNatStatus status)
{
  g_autoptr (FzPacketBuf) b = g_queue_pop_head (&f->to_app);
  FzIpPacket pkt;
  FzControlType type;
  const guint8 *payload;
  gsize len;
  FzDomainStatus st = { 0 };

  g_assert_nonnull (b);
  g_assert_cmpint (fz_ip_packet_parse (&pkt, b->data, b->len, 65535), ==, FZ_IP_OK);
  g_assert_true (fz_p2p_control_payload (&pkt, &type, &payload, &len));
  g_assert_cmpint (type, ==, FZ_CONTROL_DOMAIN_STATUS);
  g_assert_true (fz_domain_status_decode (payload, len, &st, NULL));
  g_assert_cmpstr (st.domain, ==, domain);
  g_assert_cmpstr (st.resource, ==, "r-app");
  g_assert_cmpint (st.status, ==, status);
  fz_domain_status_clear (&st);
}

/* A reply from @src (a real IP) to the client's port 1000 reaches the
 * client from @want (the proxy IP). */
static void
reply_from (Fx *f, const char *src, guint16 sport, const char *want)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (f->pool);
  FzIpPacket pkt;
  FzIpAddr s = ip (src), d = ip (strchr (src, ':') ? "fd00:2021:1111::2" : "100.64.0.2"),
           got;

  g_assert_true (fz_ip_build_udp (buf, &pkt, &s, &d, sport, 1000, "y", 1, NULL));
  fz_gateway_state_handle_tun (f->gw, buf, f->now);
  while (exchange (f))
    ;
  g_autoptr (FzPacketBuf) back = g_queue_pop_head (&f->to_app);
  g_assert_nonnull (back);
  g_assert_cmpint (fz_ip_packet_parse (&pkt, back->data, back->len, 65535), ==, FZ_IP_OK);
  fz_ip_packet_src (&pkt, &got);
  FzIpAddr w = ip (want);
  g_assert_true (fz_ip_addr_equal (&got, &w));
  g_assert_true (fz_ip_packet_verify_l4_checksum (&pkt));
}

static void
test_dns_resource (Fx *f, gconstpointer data)
{
  (void) data;
  authorize (f, DNS_APP, 0);
  /* Before any assigned_ips a proxy IP leads nowhere. */
  send_udp (f, "100.64.0.2", "100.96.0.1", 1000, 53);
  expect_icmp (f, 3, 0);

  send_assigned (f, "db.app.example", 1);
  guint64 req = expect_resolve (f, "db.app.example");
  FzIpAddr reals[3] = { ip ("10.5.0.1"), ip ("10.5.0.2"), ip ("2001:db8::5") };
  fz_gateway_state_resolved (f->gw, req, reals, 3, f->now);
  while (exchange (f))
    ;
  expect_status (f, "db.app.example", FZ_NAT_ACTIVE);

  /* Round-robin per family: .1 → 10.5.0.1, .2 → 10.5.0.2, .3 → 10.5.0.1. */
  send_udp (f, "100.64.0.2", "100.96.0.1", 1000, 53);
  expect_tun (f, "10.5.0.1", 53);
  send_udp (f, "100.64.0.2", "100.96.0.2", 1000, 53);
  expect_tun (f, "10.5.0.2", 53);
  send_udp (f, "fd00:2021:1111::2", "fd00:2021:1111:8000::4", 1000, 53);
  expect_tun (f, "2001:db8::5", 53);
  reply_from (f, "10.5.0.2", 53, "100.96.0.2");
  reply_from (f, "2001:db8::5", 53, "fd00:2021:1111:8000::4");

  /* A domain outside the pattern gets no resolution, and Inactive, so
   * that the client stops asking (before, nothing: it asked every 2 s). */
  send_assigned (f, "db.other.example", 9);
  for (GList *l = f->events.head; l != NULL; l = l->next)
    g_assert_cmpint (((FzGatewayEvent *) l->data)->type, !=, FZ_GATEWAY_EVENT_RESOLVE);
  expect_status (f, "db.other.example", FZ_NAT_INACTIVE);

  /* A re-resolution with new addresses: the running session keeps its
   * real IP, new ones use the new mapping. */
  send_assigned (f, "db.app.example", 1);
  req = expect_resolve (f, "db.app.example");
  FzIpAddr moved[1] = { ip ("10.6.0.1") };
  fz_gateway_state_resolved (f->gw, req, moved, 1, f->now);
  while (exchange (f))
    ;
  expect_status (f, "db.app.example", FZ_NAT_ACTIVE);
  send_udp (f, "100.64.0.2", "100.96.0.1", 1000, 53);
  expect_tun (f, "10.5.0.1", 53);
  send_udp (f, "100.64.0.2", "100.96.0.1", 1001, 53);
  expect_tun (f, "10.6.0.1", 53);

  /* The client renumbered: the same proxy IPs for another name reset it
   * all, sessions included. */
  send_assigned (f, "web.app.example", 1);
  req = expect_resolve (f, "web.app.example");
  FzIpAddr web[1] = { ip ("10.7.0.1") };
  fz_gateway_state_resolved (f->gw, req, web, 1, f->now);
  while (exchange (f))
    ;
  expect_status (f, "web.app.example", FZ_NAT_ACTIVE);
  send_udp (f, "100.64.0.2", "100.96.0.1", 1000, 53);
  expect_tun (f, "10.7.0.1", 53);

  /* A resolution that fails, or never answers, is Inactive. */
  send_assigned (f, "slow.app.example", 20);
  expect_resolve (f, "slow.app.example");
  pump (f, FZ_GATEWAY_RESOLVE_TIMEOUT + S);
  expect_status (f, "slow.app.example", FZ_NAT_INACTIVE);
  send_udp (f, "100.64.0.2", "100.96.0.20", 1000, 53);
  expect_icmp (f, 3, 0);
}

/* A query built by ldns, as wire bytes. */
static GBytes *
dns_query_wire (const char *name, ldns_rr_type type, guint16 id)
{
  ldns_pkt *q = NULL;
  guint8 *wire = NULL;
  size_t len = 0;

  g_assert_cmpint (ldns_pkt_query_new_frm_str (&q, name, type, LDNS_RR_CLASS_IN, LDNS_RD),
                   ==, LDNS_STATUS_OK);
  ldns_pkt_set_id (q, id);
  g_assert_cmpint (ldns_pkt2wire (&wire, q, &len), ==, LDNS_STATUS_OK);
  ldns_pkt_free (q);
  GBytes *b = g_bytes_new (wire, len);
  free (wire);
  return b;
}

static void
ask (Fx *f, const char *name, ldns_rr_type type, guint16 id, guint16 port)
{
  g_autoptr (GBytes) q = dns_query_wire (name, type, id);
  send_udp_data (f, "100.64.0.2", "100.64.0.1", port, FZ_GATEWAY_DNS_PORT,
                 g_bytes_get_data (q, NULL), g_bytes_get_size (q));
}

/* The next packet at the application is a DNS answer from our port 53535
 * to @port: its id and rcode, and its payload in *@out if wanted. */
static void
expect_dns (Fx *f, guint16 port, guint16 id, guint rcode)
{
  g_autoptr (FzPacketBuf) back = g_queue_pop_head (&f->to_app);
  FzIpPacket pkt;
  guint32 len;

  g_assert_nonnull (back);
  g_assert_cmpint (fz_ip_packet_parse (&pkt, back->data, back->len, 65535), ==, FZ_IP_OK);
  g_assert_cmpuint (fz_ip_packet_src_port (&pkt), ==, FZ_GATEWAY_DNS_PORT);
  g_assert_cmpuint (fz_ip_packet_dst_port (&pkt), ==, port);
  const guint8 *m = fz_ip_packet_payload (&pkt, &len);
  g_assert_cmpuint (len, >=, 12);
  g_assert_cmphex (m[0] << 8 | m[1], ==, id);
  g_assert_cmphex (m[2] & 0x80, ==, 0x80); /* QR */
  g_assert_cmpuint (m[3] & 0x0f, ==, rcode);
}

static FzGatewayEvent *
next_query_event (Fx *f)
{
  FzGatewayEvent *e;
  while ((e = g_queue_pop_head (&f->events)) != NULL
         && e->type != FZ_GATEWAY_EVENT_DNS_QUERY)
    event_free (e);
  return e;
}

static void
test_dns_queries (Fx *f, gconstpointer data)
{
  (void) data;
  authorize (f, DNS_APP, 0);
  /* SRV and TXT of a resource's name go to the host's resolver. */
  ask (f, "_ldap.app.example.", LDNS_RR_TYPE_SRV, 0x1234, 1234);
  FzGatewayEvent *e = next_query_event (f);
  g_assert_nonnull (e);
  guint8 answer[12] = { 0x12, 0x34, 0x81, 0x80 };
  fz_gateway_state_dns_answer (f->gw, e->request, answer, sizeof answer, f->now);
  event_free (e);
  while (exchange (f))
    ;
  expect_dns (f, 1234, 0x1234, 0);

  /* Anything else is refused here, never asked. */
  ask (f, "db.app.example.", LDNS_RR_TYPE_A, 0x2222, 1235);
  expect_dns (f, 1235, 0x2222, LDNS_RCODE_REFUSED);
  ask (f, "intranet.corp.", LDNS_RR_TYPE_TXT, 0x3333, 1236);
  expect_dns (f, 1236, 0x3333, LDNS_RCODE_REFUSED);
  g_assert_null (next_query_event (f));

  /* Unanswered: SERVFAIL after the timeout, with the query's id. */
  ask (f, "web.app.example.", LDNS_RR_TYPE_TXT, 0xabcd, 1237);
  pump (f, 11 * S);
  expect_dns (f, 1237, 0xabcd, LDNS_RCODE_SERVFAIL);
}

#define INTERNET "{\"id\":\"r-inet\",\"type\":\"internet\"}"

/* The Internet resource is the Internet: not other clients, not the
 * gateway's networks, not multicast. */
static void
test_internet (Fx *f, gconstpointer data)
{
  (void) data;
  authorize (f, INTERNET, 0);
  send_udp (f, "100.64.0.2", "8.8.8.8", 1000, 53);
  expect_tun (f, "8.8.8.8", 53);
  send_udp (f, "fd00:2021:1111::2", "2001:4860:4860::8888", 1000, 53);
  expect_tun (f, "2001:4860:4860::8888", 53);
  const char *refused[] = { "192.168.1.1", "10.0.0.1",   "127.0.0.1",
                            "169.254.1.1", "100.64.0.3", "100.100.0.1" };
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      send_udp (f, "100.64.0.2", refused[i], 1000, 53);
      expect_icmp (f, 3, 0);
    }
  send_udp (f, "fd00:2021:1111::2", "fd00:2021:1111::3", 1000, 53);
  expect_icmp (f, 1, 3);
  send_udp (f, "fd00:2021:1111::2", "fe80::1", 1000, 53);
  expect_icmp (f, 1, 3);
  send_udp (f, "100.64.0.2", "224.0.0.251", 1000, 53); /* no ICMP for multicast */
  expect_nothing (f);
  /* A CIDR resource may name a private network; the tunnel stays out. */
  portal_push (f, "relays_presence", "{\"disconnected_ids\":[],\"connected\":[]}");
  authorize (f,
             "{\"id\":\"r-lan\",\"type\":\"cidr\",\"address\":\"192.168.0.0/16\","
             "\"name\":\"lan\",\"filters\":[]}",
             0);
  send_udp (f, "100.64.0.2", "192.168.1.1", 1000, 53);
  expect_tun (f, "192.168.1.1", 53);
  authorize (f,
             "{\"id\":\"r-cg\",\"type\":\"cidr\",\"address\":\"100.64.0.0/10\","
             "\"name\":\"cg\",\"filters\":[]}",
             0);
  send_udp (f, "100.64.0.2", "100.64.0.3", 1000, 53);
  expect_icmp (f, 3, 0);
  /* Replies from the Internet come in; from other clients they do not. */
  tun_in (f, FZ_IP_PROTO_UDP, "8.8.8.8", 53, "100.64.0.2", 1000);
  expect_app (f, "8.8.8.8", 53);
  tun_in (f, FZ_IP_PROTO_UDP, "100.64.0.3", 53, "100.64.0.2", 1000);
  expect_nothing (f);
}

/* Two clients: a tunnel address moves to the newer one; a failed upsert
 * leaves no dangling connection. */
static void
test_two_clients (Fx *f, gconstpointer data)
{
  guint8 k2[32];

  (void) data;
  authorize (f, CIDR_TEN, 0);
  fz_rng_fill (&f->rng, k2, sizeof k2);
  push_authorization (f, "c-2", k2, "100.64.0.3", "fd00:2021:1111::3", CIDR_WEB, 0);
  g_assert_cmpuint (fz_gateway_state_n_clients (f->gw), ==, 2);
  /* c-1 cannot reach c-2, and c-2's address is no way in to c-1. */
  send_udp (f, "100.64.0.2", "100.64.0.3", 1000, 53);
  expect_icmp (f, 3, 0);
  tun_in (f, FZ_IP_PROTO_UDP, "100.64.0.3", 53, "100.64.0.2", 1000);
  expect_nothing (f);

  /* c-1 again, with c-2's key: the node refuses it and drops c-1's
   * connection; packets for c-1 go nowhere (and touch nothing freed). */
  g_test_expect_message ("fz", G_LOG_LEVEL_WARNING, "*cid=c-1: peer already exists*");
  push_authorization (f, CLIENT, k2, "100.64.0.2", "fd00:2021:1111::2", CIDR_TEN, 0);
  g_test_assert_expected_messages ();
  tun_in (f, FZ_IP_PROTO_UDP, "10.1.2.3", 53, "100.64.0.2", 1000);
  expect_nothing (f);

  /* c-3 gets c-2's address from the portal: c-2 is gone. */
  guint8 k3[32];
  fz_rng_fill (&f->rng, k3, sizeof k3);
  g_test_expect_message ("fz", G_LOG_LEVEL_WARNING,
                         "*cid=c-3 now has the address of cid=c-2*");
  push_authorization (f, "c-3", k3, "100.64.0.3", "fd00:2021:1111::3", CIDR_WEB, 0);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (fz_gateway_state_n_clients (f->gw), ==, 2);
  push_authorization (f, "c-2", k2, "100.64.0.9", "fd00:2021:1111::9", CIDR_WEB, 0);
  g_assert_cmpuint (fz_gateway_state_n_clients (f->gw), ==, 3);
}

/* Candidates go to the portal in as few messages as keep their meaning:
 * a new connection's candidates in one, a new candidate of the gateway
 * for all its clients in one. Before, one message per (client,
 * candidate): a relay change on a gateway with 10 000 clients was 10 000
 * messages. */
static void
test_candidate_batches (Fx *f, gconstpointer data)
{
  (void) data;
  FzNode *node = fz_gateway_state_get_node (f->gw);
  FzSockAddr second, third;
  g_assert_true (fz_sock_addr_parse (&second, "10.0.0.5:52625"));
  g_assert_true (fz_sock_addr_parse (&third, "10.0.0.6:52625"));
  fz_node_add_host_address (node, &second, f->now);
  f->broadcasts = 0;
  authorize (f, CIDR_TEN, 0);
  g_assert_cmpuint (f->broadcasts, ==, 1);
  g_assert_cmpuint (f->last_peers, ==, 1);
  g_assert_cmpuint (f->last_candidates, ==, 2);
  guint8 k2[32];
  fz_rng_fill (&f->rng, k2, sizeof k2);
  push_authorization (f, "c-2", k2, "100.64.0.3", "fd00:2021:1111::3", CIDR_WEB, 0);
  g_assert_cmpuint (f->broadcasts, ==, 2);
  fz_node_add_host_address (node, &third, f->now);
  fz_gateway_state_handle_timeout (f->gw, f->now);
  collect (f);
  g_assert_cmpuint (f->broadcasts, ==, 3);
  g_assert_cmpuint (f->last_peers, ==, 2);
  g_assert_cmpuint (f->last_candidates, ==, 1);
}

/* A resolved DNS-resource session: 100.96.0.1 → 10.5.0.1, the client's
 * UDP port 1000 to port 53, and the reply back. */
static void
dns_session (Fx *f)
{
  send_assigned (f, "db.app.example", 1);
  guint64 req = expect_resolve (f, "db.app.example");
  FzIpAddr reals[1] = { ip ("10.5.0.1") };
  fz_gateway_state_resolved (f->gw, req, reals, 1, f->now);
  while (exchange (f))
    ;
  expect_status (f, "db.app.example", FZ_NAT_ACTIVE);
  send_udp (f, "100.64.0.2", "100.96.0.1", 1000, 53);
  expect_tun (f, "10.5.0.1", 53);
  reply_from (f, "10.5.0.1", 53, "100.96.0.1");
}

/* A resource's new address (fz-portal sends one in resource_updated)
 * replaces the old one for the clients that hold it; what they made for
 * the old one goes. Before, the old address stayed until the access
 * expired, and every client authorized later got it too. */
static void
test_resource_new_address (Fx *f, gconstpointer data)
{
  (void) data;
  authorize (f, CIDR_WEB, 0);
  authorize (f, DNS_APP, 0);
  dns_session (f);
  portal_push (f, "resource_updated",
               "{\"id\":\"r-web\",\"type\":\"cidr\",\"address\":\"10.7.0.0/16\","
               "\"name\":\"web\",\"filters\":[]}");
  send_udp (f, "100.64.0.2", "10.7.0.1", 1000, 53);
  expect_tun (f, "10.7.0.1", 53);
  send_tcp (f, "100.64.0.2", "10.1.0.1", 80, FZ_TCP_SYN);
  expect_icmp (f, 3, 0);
  /* A DNS resource narrowed to other names: the mapping and its session
   * are gone, replies of the session too. */
  portal_push (f, "resource_updated",
               "{\"id\":\"r-app\",\"type\":\"dns\",\"address\":\"*.other.example\","
               "\"name\":\"app\",\"filters\":[]}");
  tun_in (f, FZ_IP_PROTO_UDP, "10.5.0.1", 53, "100.64.0.2", 1000);
  expect_nothing (f);
  send_udp (f, "100.64.0.2", "100.96.0.1", 1000, 53);
  expect_icmp (f, 3, 0);
}

/* NAT replies pass only while the access and its filters do: after
 * reject_access, or a filter that no longer allows the resource's port,
 * the server's packets stop at the gateway. Before, any packet of a live
 * session was delivered, and each one kept the session alive. */
static void
test_nat_reply_needs_access (Fx *f, gconstpointer data)
{
  (void) data;
  authorize (f, CIDR_WEB, 0); /* so that the client stays */
  authorize (f, DNS_APP, 0);
  dns_session (f);
  portal_push (f, "resource_updated",
               "{\"id\":\"r-app\",\"type\":\"dns\",\"address\":\"*.app.example\","
               "\"name\":\"app\",\"filters\":[{\"protocol\":\"tcp\"}]}");
  tun_in (f, FZ_IP_PROTO_UDP, "10.5.0.1", 53, "100.64.0.2", 1000);
  expect_nothing (f);
  portal_push (f, "resource_updated", DNS_APP);
  reply_from (f, "10.5.0.1", 53, "100.96.0.1");
  portal_push (f, "reject_access",
               "{\"client_id\":\"" CLIENT "\",\"resource_id\":\"r-app\"}");
  while (exchange (f))
    ;
  g_assert_false (f->closed);
  tun_in (f, FZ_IP_PROTO_UDP, "10.5.0.1", 53, "100.64.0.2", 1000);
  expect_nothing (f);
}

/* A CIDR resource's filters refuse a port: the Internet resource does not
 * open it on a private address (it would have, so a restrictive resource
 * granted more than none); on a public one it does. */
static void
test_cidr_then_internet (Fx *f, gconstpointer data)
{
  (void) data;
  authorize (f, CIDR_TEN, 0);
  authorize (f, INTERNET, 0);
  send_tcp (f, "100.64.0.2", "10.0.0.5", 22, FZ_TCP_SYN);
  expect_icmp (f, 3, 13);
  send_udp (f, "100.64.0.2", "10.0.0.5", 1000, 53);
  expect_tun (f, "10.0.0.5", 53);
  authorize (f,
             "{\"id\":\"r-pub\",\"type\":\"cidr\",\"address\":\"8.8.0.0/16\","
             "\"name\":\"pub\",\"filters\":[{\"protocol\":\"udp\"}]}",
             0);
  send_tcp (f, "100.64.0.2", "8.8.8.8", 443, FZ_TCP_SYN);
  expect_tun (f, "8.8.8.8", 443);
}

/* A resolver's answer pointing at this host, link-local (cloud
 * metadata), multicast or the tunnel's ranges maps to nothing: only the
 * usable addresses are NAT targets. "DB.app.example." is the name
 * "db.app.example". A packet to multicast gets no ICMP error. */
static void
test_resolved_screened (Fx *f, gconstpointer data)
{
  (void) data;
  authorize (f, DNS_APP, 0);
  send_assigned (f, "DB.app.example.", 1);
  guint64 req = expect_resolve (f, "db.app.example");
  FzIpAddr bad[] = { ip ("127.0.0.1"),  ip ("169.254.169.254"), ip ("224.0.0.1"),
                     ip ("100.64.0.9"), ip ("100.96.0.7"),      ip ("::1"),
                     ip ("fe80::1"),    ip ("ff02::1") };
  fz_gateway_state_resolved (f->gw, req, bad, G_N_ELEMENTS (bad), f->now);
  while (exchange (f))
    ;
  expect_status (f, "db.app.example", FZ_NAT_INACTIVE);
  send_udp (f, "100.64.0.2", "100.96.0.1", 1000, 53);
  expect_icmp (f, 3, 0);
  send_assigned (f, "db.app.example", 1);
  req = expect_resolve (f, "db.app.example");
  FzIpAddr mixed[] = { ip ("127.0.0.1"), ip ("10.5.0.1") };
  fz_gateway_state_resolved (f->gw, req, mixed, 2, f->now);
  while (exchange (f))
    ;
  expect_status (f, "db.app.example", FZ_NAT_ACTIVE);
  for (guint i = 0; i < 4; i++)
    {
      char proxy[32];
      g_snprintf (proxy, sizeof proxy, "100.96.0.%u", 1 + i);
      send_udp (f, "100.64.0.2", proxy, 1000, 53);
      expect_tun (f, "10.5.0.1", 53);
    }
  send_udp (f, "100.64.0.2", "224.0.0.251", 5353, 5353);
  send_udp (f, "fd00:2021:1111::2", "ff02::fb", 5353, 5353);
  send_udp (f, "100.64.0.2", "255.255.255.255", 67, 68);
  expect_nothing (f);
}

/* A client that renumbers its proxies on every message resets its DNS
 * state each time, forgetting the resolution in flight while the host
 * still works on it: its resolutions are rate-limited, so it cannot make
 * the host resolve at line rate. Before, 200 messages made 200. */
static void
test_resolution_rate (Fx *f, gconstpointer data)
{
  (void) data;
  authorize (f, DNS_APP, 0);
  guint resolves = 0, inactive = 0;
  for (guint round = 0; round < 2; round++)
    {
      for (guint i = 0; i < 200; i++)
        send_assigned (f, i % 2 ? "a.app.example" : "b.app.example", 1);
      FzGatewayEvent *e;
      while ((e = g_queue_pop_head (&f->events)) != NULL)
        {
          resolves += e->type == FZ_GATEWAY_EVENT_RESOLVE;
          event_free (e);
        }
      FzPacketBuf *b;
      while ((b = g_queue_pop_head (&f->to_app)) != NULL)
        {
          inactive++;
          fz_packet_buf_free (b);
        }
      if (round == 0)
        {
          g_assert_cmpuint (resolves, ==, FZ_GATEWAY_RESOLVE_BURST);
          g_assert_cmpuint (inactive, ==, 200 - FZ_GATEWAY_RESOLVE_BURST);
          f->now += G_USEC_PER_SEC; /* earns 10 */
        }
    }
  g_assert_cmpuint (resolves, ==, FZ_GATEWAY_RESOLVE_BURST + 10);
}

/* A router between the gateway and the resource (@router) reports an
 * error about the client's TCP packet to @quoted_dst port 80. */
static void
router_error (Fx *f, const char *router, const char *quoted_dst)
{
  g_autoptr (FzPacketBuf) orig = fz_buf_pool_alloc (f->pool);
  FzPacketBuf *buf = fz_buf_pool_alloc (f->pool);
  FzIpPacket op, err;
  FzIpAddr s = ip ("100.64.0.2"), d = ip (quoted_dst), r = ip (router);
  FzTcpSegment seg
    = { .sport = 40001, .dport = 80, .seq = 1, .flags = FZ_TCP_ACK, .window = 1000 };

  g_assert_true (fz_ip_build_tcp (orig, &op, &s, &d, &seg, NULL, 0, NULL));
  g_assert_true (
    fz_ip_build_icmp_unreachable (buf, &err, &op, FZ_ICMP_NET_UNREACHABLE, NULL));
  fz_ip_packet_set_src (&err, &r);
  fz_gateway_state_handle_tun (f->gw, buf, f->now);
  while (exchange (f))
    ;
}

/* ICMP errors from routers outside the resource reach the client when
 * they quote what it sent to a destination it may reach (path MTU
 * discovery needs "fragmentation needed" from any hop). Before, only
 * errors from inside a resource passed. Errors about packets to where
 * the client may not go do not. */
static void
test_router_errors (Fx *f, gconstpointer data)
{
  (void) data;
  authorize (f, CIDR_WEB, 0);
  router_error (f, "192.0.2.1", "10.1.2.3");
  g_autoptr (FzPacketBuf) b = g_queue_pop_head (&f->to_app);
  g_assert_nonnull (b);
  FzIpPacket pkt;
  FzIpAddr got, want = ip ("192.0.2.1");
  g_assert_cmpint (fz_ip_packet_parse (&pkt, b->data, b->len, 65535), ==, FZ_IP_OK);
  g_assert_true (fz_ip_packet_is_icmp_error (&pkt));
  fz_ip_packet_src (&pkt, &got);
  g_assert_true (fz_ip_addr_equal (&got, &want));
  router_error (f, "192.0.2.1", "10.9.9.9"); /* no resource of the client */
  expect_nothing (f);
}

static void
test_remapped_proxies (Fx *f, gconstpointer data)
{
  (void) data;
  authorize (f, DNS_APP, 0);
  send_assigned (f, "DB.app.example", 1);
  guint64 req = expect_resolve (f, "db.app.example");
  FzIpAddr reals[1] = { ip ("10.5.0.1") };
  fz_gateway_state_resolved (f->gw, req, reals, 1, f->now);
  while (exchange (f))
    ;
  expect_status (f, "db.app.example", FZ_NAT_ACTIVE);
  /* The same name with other proxy IPs: the old ones are unmapped. */
  send_assigned (f, "db.app.example", 5);
  req = expect_resolve (f, "db.app.example");
  fz_gateway_state_resolved (f->gw, req, reals, 1, f->now);
  while (exchange (f))
    ;
  expect_status (f, "db.app.example", FZ_NAT_ACTIVE);
  send_udp (f, "100.64.0.2", "100.96.0.5", 1000, 53);
  expect_tun (f, "10.5.0.1", 53);
  send_udp (f, "100.64.0.2", "100.96.0.1", 1000, 53);
  expect_icmp (f, 3, 0);
}

/* The portal gives the client new tunnel IPs (and authorizes it again):
 * sessions of the old addresses go, its proxy IPs keep their names. */
static void
test_readdressed (Fx *f, gconstpointer data)
{
  (void) data;
  authorize (f, DNS_APP, 0);
  send_assigned (f, "db.app.example", 1);
  guint64 req = expect_resolve (f, "db.app.example");
  FzIpAddr reals[1] = { ip ("10.5.0.1") };
  fz_gateway_state_resolved (f->gw, req, reals, 1, f->now);
  while (exchange (f))
    ;
  expect_status (f, "db.app.example", FZ_NAT_ACTIVE);
  send_udp (f, "100.64.0.2", "100.96.0.1", 1000, 53);
  expect_tun (f, "10.5.0.1", 53);

  push_authorization (f, CLIENT, fz_node_public_key (f->client), "100.64.0.7",
                      "fd00:2021:1111::7", DNS_APP, 0);
  fz_portal_message_free (g_queue_pop_tail (&f->portal));
  send_udp (f, "100.64.0.7", "100.96.0.1", 1000, 53);
  expect_tun (f, "10.5.0.1", 53);
  tun_in (f, FZ_IP_PROTO_UDP, "10.5.0.1", 53, "100.64.0.7", 1000);
  expect_app (f, "100.96.0.1", 53);
  send_udp (f, "100.64.0.2", "100.96.0.1", 1000, 53);
  expect_nothing (f);
  /* The old session is gone: its real IP's packets reach no one. */
  tun_in (f, FZ_IP_PROTO_UDP, "10.5.0.1", 53, "100.64.0.2", 1000);
  expect_nothing (f);
}

static void
test_after_shutdown (Fx *f, gconstpointer data)
{
  (void) data;
  authorize (f, DNS_APP, 0);
  send_assigned (f, "db.app.example", 1);
  guint64 req = expect_resolve (f, "db.app.example");
  fz_gateway_state_shutdown (f->gw, f->now);
  while (exchange (f))
    ;
  g_assert_true (f->closed);
  FzIpAddr reals[1] = { ip ("10.5.0.1") };
  fz_gateway_state_resolved (f->gw, req, reals, 1, f->now);
  fz_gateway_state_dns_answer (f->gw, 77, (const guint8 *) "x", 1, f->now);
  push_authorization (f, CLIENT, fz_node_public_key (f->client), "100.64.0.2",
                      "fd00:2021:1111::2", CIDR_WEB, 0);
  g_assert_true (g_queue_is_empty (&f->portal));
  tun_in (f, FZ_IP_PROTO_UDP, "10.1.2.3", 53, "100.64.0.2", 1000);
  pump (f, 200 * S);
  expect_nothing (f);
  g_assert_cmpuint (fz_gateway_state_n_clients (f->gw), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/gateway-state/" path, Fx, NULL, setup, fn, teardown)
  ADD ("interface", test_interface);
  ADD ("cidr-filters", test_cidr_filters);
  ADD ("expiry", test_expiry);
  ADD ("init-and-reject", test_init_and_reject);
  ADD ("shutdown", test_shutdown);
  ADD ("dns-resource", test_dns_resource);
  ADD ("dns-queries", test_dns_queries);
  ADD ("internet", test_internet);
  ADD ("two-clients", test_two_clients);
  ADD ("resource-new-address", test_resource_new_address);
  ADD ("nat-reply-needs-access", test_nat_reply_needs_access);
  ADD ("cidr-then-internet", test_cidr_then_internet);
  ADD ("resolved-screened", test_resolved_screened);
  ADD ("resolution-rate", test_resolution_rate);
  ADD ("router-errors", test_router_errors);
  ADD ("candidate-batches", test_candidate_batches);
  ADD ("remapped-proxies", test_remapped_proxies);
  ADD ("readdressed", test_readdressed);
  ADD ("after-shutdown", test_after_shutdown);
  return g_test_run ();
}
