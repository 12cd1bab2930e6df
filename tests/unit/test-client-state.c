/* FzClientState against a real FzGatewayState over an in-memory link.
 * The test is the portal (it turns request_authorization into
 * create_authorization for the gateway and authorization_created for the
 * client, and passes candidates both ways), the applications behind the
 * client's TUN, the resources behind the gateway's TUN, and the resolvers
 * both ask. DNS queries are built and answers read with ldns. */
#include "fz-private.h"

#include <ldns/ldns.h>
#include <string.h>

#define S     (G_USEC_PER_SEC)
#define WALL0 (G_GINT64_CONSTANT (1800000000) * S)
#define T0    (1000 * S)
#define ME4   "100.64.0.2"
#define ME6   "fd00:2021:1111::2"
#define GW4   "100.64.0.1"
#define SENT4 "100.100.111.1"

typedef struct
{
  FzRng rng;
  FzBufPool *pool;
  FzClientState *cl;
  FzGatewayState *gw;
  FzSockAddr gw_addr, cl_addr;
  gint64 now;
  guint8 psk[32];
  gboolean auto_authorize;
  const char *fail_reason;  /* authorization_creation_failed instead */
  guint n_requests;         /* request_authorization seen */
  GPtrArray *requested;     /* resource ids, in order */
  GPtrArray *connected_ids; /* of the last request */
  GQueue to_app;            /* FzPacketBuf*: the client's TUN output */
  GQueue to_tun;            /* FzPacketBuf*: the gateway's TUN output */
  GQueue upstream;          /* FzClientEvent*: UPSTREAM_DNS */
  GQueue unreachable;       /* FzClientEvent*: RESOURCE_UNREACHABLE */
  guint n_interface, n_resources, n_mappings, n_fatal, n_snownet, n_no_relays;
  gboolean drop_to_client;  /* the link loses what the gateway sends */
  GHashTable *gw_resources; /* id → the resource's JSON */
  FzIpAddr resolved;        /* what the gateway's resolver answers */
  guint n_assigned;         /* RESOLVE events the gateway made */
  GArray *gw_candidates;    /* FzIceCandidate: every one the gateway sent */
  gboolean hold_queries;    /* the gateway's resolver does not answer */
} Fx;

static FzIpAddr
ip (const char *s)
{
  FzIpAddr a;
  g_assert_true (fz_ip_addr_parse (&a, s));
  return a;
}

static FzPortalMessage *
decode (FzPortalRole role, const char *event, const char *json)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) payload = json_from_string (json, &error);
  g_assert_no_error (error);
  FzPortalMessage *m = fz_portal_message_decode (role, event, payload, &error);
  g_assert_no_error (error);
  return m;
}

static void
to_client (Fx *f, const char *event, const char *json)
{
  g_autoptr (FzPortalMessage) m = decode (FZ_PORTAL_ROLE_CLIENT, event, json);
  fz_client_state_handle_portal (f->cl, m, f->now);
}

static void
to_gateway (Fx *f, const char *event, const char *json)
{
  g_autoptr (FzPortalMessage) m = decode (FZ_PORTAL_ROLE_GATEWAY, event, json);
  fz_gateway_state_handle_portal (f->gw, m, f->now);
}

static char *
b64 (const guint8 *k)
{
  return g_base64_encode (k, 32);
}

/* The portal's answer to request_authorization for @rid. */
static void
authorize (Fx *f, const char *rid)
{
  if (f->fail_reason != NULL)
    {
      g_autofree char *json = g_strdup_printf (
        "{\"resource_id\":\"%s\",\"reason\":\"%s\"}", rid, f->fail_reason);
      to_client (f, "authorization_creation_failed", json);
      return;
    }
  g_autofree char *ck = b64 (fz_node_public_key (fz_client_state_get_node (f->cl)));
  g_autofree char *gk = b64 (fz_node_public_key (fz_gateway_state_get_node (f->gw)));
  g_autofree char *psk = b64 (f->psk);
  const char *res = g_hash_table_lookup (f->gw_resources, rid);
  g_assert_nonnull (res);
  g_autofree char *create = g_strdup_printf (
    "{\"ref\":\"r\",\"resource\":%s,\"client\":{\"id\":\"c-1\",\"public_key\":\"%s\","
    "\"preshared_key\":\"%s\",\"ipv4\":\"" ME4 "\",\"ipv6\":\"" ME6 "\","
    "\"version\":\"1.4.0\"},\"client_ice_credentials\":{\"username\":\"cuuu\","
    "\"password\":\"cp0123456789012345678901\"},\"gateway_ice_credentials\":"
    "{\"username\":\"guuu\",\"password\":\"gp0123456789012345678901\"}}",
    res, ck, psk);
  to_gateway (f, "create_authorization", create);
  g_autofree char *created = g_strdup_printf (
    "{\"resource_id\":\"%s\",\"gateway_id\":\"gw-1\",\"gateway_public_key\":\"%s\","
    "\"gateway_ipv4\":\"" GW4 "\",\"gateway_ipv6\":\"fd00:2021:1111::1\","
    "\"site_id\":\"site-1\",\"preshared_key\":\"%s\",\"client_ice_credentials\":"
    "{\"username\":\"cuuu\",\"password\":\"cp0123456789012345678901\"},"
    "\"gateway_ice_credentials\":{\"username\":\"guuu\","
    "\"password\":\"gp0123456789012345678901\"}}",
    rid, gk, psk);
  to_client (f, "authorization_created", created);
}

static void
client_portal (Fx *f)
{
  FzPortalMessage *m;
  g_autoptr (GPtrArray) auth = g_ptr_array_new_with_free_func (g_free);

  while ((m = fz_client_state_poll_portal (f->cl)) != NULL)
    {
      switch (m->event)
        {
        case FZ_PORTAL_REQUEST_AUTHORIZATION:
          f->n_requests++;
          g_ptr_array_add (f->requested, g_strdup (m->resource_id));
          g_ptr_array_set_size (f->connected_ids, 0);
          for (guint i = 0; i < m->peer_ids->len; i++)
            g_ptr_array_add (f->connected_ids, g_strdup (m->peer_ids->pdata[i]));
          if (f->auto_authorize)
            g_ptr_array_add (auth, g_strdup (m->resource_id));
          break;
        case FZ_PORTAL_NEW_GATEWAY_ICE_CANDIDATES:
          {
            g_autoptr (FzPortalMessage) c
              = fz_portal_message_new (FZ_PORTAL_ICE_CANDIDATES);
            c->peer_id = g_strdup ("c-1");
            g_array_append_vals (c->candidates, m->candidates->data, m->candidates->len);
            fz_gateway_state_handle_portal (f->gw, c, f->now);
            break;
          }
        case FZ_PORTAL_SET_SNOWNET_CAPABILITIES: f->n_snownet++; break;
        case FZ_PORTAL_NO_RELAYS: f->n_no_relays++; break;
        default: break;
        }
      fz_portal_message_free (m);
    }
  for (guint i = 0; i < auth->len; i++)
    authorize (f, auth->pdata[i]);
}

static void
gateway_side (Fx *f)
{
  FzPortalMessage *m;
  FzGatewayEvent e;
  FzPacketBuf *b;

  while ((m = fz_gateway_state_poll_portal (f->gw)) != NULL)
    {
      if (m->event == FZ_PORTAL_BROADCAST_ICE_CANDIDATES)
        {
          g_autoptr (FzPortalMessage) c
            = fz_portal_message_new (FZ_PORTAL_ICE_CANDIDATES);
          c->peer_id = g_strdup ("gw-1");
          g_array_append_vals (c->candidates, m->candidates->data, m->candidates->len);
          g_array_append_vals (f->gw_candidates, m->candidates->data, m->candidates->len);
          fz_client_state_handle_portal (f->cl, c, f->now);
        }
      fz_portal_message_free (m);
    }
  while (fz_gateway_state_poll_event (f->gw, &e))
    {
      if (e.type == FZ_GATEWAY_EVENT_RESOLVE)
        {
          f->n_assigned++;
          fz_gateway_state_resolved (f->gw, e.request, &f->resolved,
                                     f->resolved.family ? 1 : 0, f->now);
        }
      else if (e.type == FZ_GATEWAY_EVENT_DNS_QUERY && !f->hold_queries)
        {
          /* The gateway's resolver echoes the query as an answer. */
          gsize len;
          const guint8 *q = g_bytes_get_data (e.query, &len);
          guint8 *copy = g_memdup2 (q, len);
          copy[2] |= 0x80;
          fz_gateway_state_dns_answer (f->gw, e.request, copy, len, f->now);
          g_free (copy);
        }
      fz_gateway_event_clear (&e);
    }
  while ((b = fz_gateway_state_poll_tun (f->gw)) != NULL)
    g_queue_push_tail (&f->to_tun, b);
}

static void
client_side (Fx *f)
{
  FzClientEvent e;
  FzPacketBuf *b;

  client_portal (f);
  while (fz_client_state_poll_event (f->cl, &e))
    {
      switch (e.type)
        {
        case FZ_CLIENT_EVENT_INTERFACE: f->n_interface++; break;
        case FZ_CLIENT_EVENT_RESOURCES: f->n_resources++; break;
        case FZ_CLIENT_EVENT_MAPPINGS: f->n_mappings++; break;
        case FZ_CLIENT_EVENT_FATAL: f->n_fatal++; break;
        case FZ_CLIENT_EVENT_UPSTREAM_DNS:
          g_queue_push_tail (&f->upstream, g_memdup2 (&e, sizeof e));
          continue;
        case FZ_CLIENT_EVENT_RESOURCE_UNREACHABLE:
          g_queue_push_tail (&f->unreachable, g_memdup2 (&e, sizeof e));
          continue;
        }
      fz_client_event_clear (&e);
    }
  while ((b = fz_client_state_poll_tun (f->cl)) != NULL)
    g_queue_push_tail (&f->to_app, b);
}

static gboolean
exchange (Fx *f)
{
  FzNodeTransmit tx;
  gboolean moved = FALSE;

  client_side (f);
  gateway_side (f);
  while (fz_client_state_poll_transmit (f->cl, &tx))
    {
      moved = TRUE;
      if (!fz_sock_addr_equal (&tx.dst, &f->gw_addr))
        {
          fz_packet_buf_free (tx.buf);
          continue;
        }
      fz_gateway_state_handle_datagram (f->gw, &f->gw_addr, &f->cl_addr, tx.buf, f->now);
    }
  while (fz_gateway_state_poll_transmit (f->gw, &tx))
    {
      moved = TRUE;
      if (f->drop_to_client || !fz_sock_addr_equal (&tx.dst, &f->cl_addr))
        {
          fz_packet_buf_free (tx.buf);
          continue;
        }
      fz_client_state_handle_datagram (f->cl, &f->cl_addr, &f->gw_addr, tx.buf, f->now);
    }
  client_side (f);
  gateway_side (f);
  return moved;
}

static void
pump (Fx *f, gint64 span)
{
  gint64 end = f->now + span;

  for (guint guard = 0; guard < 100000; guard++)
    {
      while (exchange (f))
        ;
      gint64 next = MIN (fz_gateway_state_poll_timeout (f->gw),
                         fz_client_state_poll_timeout (f->cl));
      if (next > end)
        break;
      f->now = MAX (f->now, next);
      if (fz_gateway_state_poll_timeout (f->gw) <= f->now)
        fz_gateway_state_handle_timeout (f->gw, f->now);
      if (fz_client_state_poll_timeout (f->cl) <= f->now)
        fz_client_state_handle_timeout (f->cl, f->now);
    }
  f->now = end;
  while (exchange (f))
    ;
}

#define CIDR_WEB                                                                         \
  "{\"id\":\"r-web\",\"type\":\"cidr\",\"address\":\"10.1.0.0/16\",\"name\":\"web\","    \
  "\"sites\":[{\"id\":\"site-1\",\"name\":\"HQ\"}],"                                     \
  "\"filters\":[{\"protocol\":\"tcp\",\"port_range_start\":80,\"port_range_end\":80}]}"
#define CIDR_HOST                                                                        \
  "{\"id\":\"r-host\",\"type\":\"cidr\",\"address\":\"10.1.2.3/32\",\"name\":\"host\","  \
  "\"sites\":[{\"id\":\"site-1\",\"name\":\"HQ\"}],\"filters\":[]}"
#define DNS_CORP                                                                         \
  "{\"id\":\"r-corp\",\"type\":\"dns\",\"address\":\"*.corp.example\",\"name\":"         \
  "\"corp\","                                                                            \
  "\"sites\":[{\"id\":\"site-1\",\"name\":\"HQ\"}],\"filters\":[],\"ip_stack\":"         \
  "\"dual\"}"
#define INTERNET                                                                         \
  "{\"id\":\"r-inet\",\"type\":\"internet\",\"can_be_disabled\":true,"                   \
  "\"sites\":[{\"id\":\"site-1\",\"name\":\"HQ\"}]}"

static void
setup (Fx *f, gconstpointer data)
{
  guint8 kg[32], kc[32];
  g_autoptr (GError) error = NULL;

  (void) data;
  memset (f, 0, sizeof *f);
  fz_rng_init_seeded (&f->rng, 7);
  f->pool = fz_buf_pool_new (2048, 64);
  f->now = T0;
  f->auto_authorize = TRUE;
  f->requested = g_ptr_array_new_with_free_func (g_free);
  f->connected_ids = g_ptr_array_new_with_free_func (g_free);
  f->gw_resources = g_hash_table_new (g_str_hash, g_str_equal);
  f->gw_candidates = g_array_new (FALSE, FALSE, sizeof (FzIceCandidate));
  g_hash_table_insert (f->gw_resources, "r-web", CIDR_WEB);
  g_hash_table_insert (f->gw_resources, "r-host", CIDR_HOST);
  g_hash_table_insert (f->gw_resources, "r-corp", DNS_CORP);
  g_hash_table_insert (f->gw_resources, "r-inet", INTERNET);
  f->resolved = ip ("10.9.9.9");
  fz_rng_fill (&f->rng, kg, sizeof kg);
  fz_rng_fill (&f->rng, kc, sizeof kc);
  fz_rng_fill (&f->rng, f->psk, sizeof f->psk);
  f->gw = fz_gateway_state_new (kg, &f->rng, f->pool, WALL0, f->now);
  f->cl = fz_client_state_new (kc, &f->rng, f->pool, NULL, f->now, &error);
  g_assert_no_error (error);
  fz_node_set_wall_clock (fz_client_state_get_node (f->cl), WALL0, f->now);
  g_assert_true (fz_sock_addr_parse (&f->gw_addr, "10.0.0.1:52625"));
  g_assert_true (fz_sock_addr_parse (&f->cl_addr, "10.0.0.2:40000"));
  fz_node_add_host_address (fz_gateway_state_get_node (f->gw), &f->gw_addr, f->now);
  fz_node_add_host_address (fz_client_state_get_node (f->cl), &f->cl_addr, f->now);
  to_gateway (
    f, "init",
    "{\"interface\":{\"ipv4\":\"" GW4 "\",\"ipv6\":\"fd00:2021:1111::1\"},"
    "\"config\":{\"ipv4_masquerade_enabled\":true,"
    "\"ipv6_masquerade_enabled\":true},"
    /* A gateway takes no client without a relay; this one never
     * answers (the link below carries only the two peers). */
    "\"relays\":[{\"id\":\"relay-1\",\"type\":\"turn\",\"addr\":\"10.0.0.9:3478\","
    "\"username\":\"u\",\"password\":\"p\",\"expires_at\":2145916800}],"
    "\"account_slug\":\"acme\",\"authorizations\":[]}");
  to_client (f, "init",
             "{\"interface\":{\"ipv4\":\"" ME4 "\",\"ipv6\":\"" ME6 "\","
             "\"search_domain\":null,\"upstream_do53\":[{\"ip\":\"1.1.1.1\"},"
             "{\"ip\":\"2606:4700::1111\"}],\"upstream_doh\":[]},"
             "\"resources\":[" CIDR_WEB "," CIDR_HOST "," DNS_CORP "," INTERNET "],"
             "\"relays\":[],\"authorizations\":[]}");
  pump (f, 0);
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
  fz_client_event_clear (p);
  g_free (p);
}

static void
teardown (Fx *f, gconstpointer data)
{
  (void) data;
  free_queue (&f->to_app, (GDestroyNotify) fz_packet_buf_free);
  free_queue (&f->to_tun, (GDestroyNotify) fz_packet_buf_free);
  free_queue (&f->upstream, event_free);
  free_queue (&f->unreachable, event_free);
  fz_client_state_free (f->cl);
  fz_gateway_state_free (f->gw);
  g_ptr_array_unref (f->requested);
  g_ptr_array_unref (f->connected_ids);
  g_hash_table_unref (f->gw_resources);
  g_array_unref (f->gw_candidates);
  g_assert_cmpuint (fz_buf_pool_outstanding (f->pool), ==, 0);
  fz_buf_pool_free (f->pool);
}

/* ---- applications ---- */

static void
app_packet (Fx *f, FzPacketBuf *buf)
{
  fz_client_state_handle_tun (f->cl, buf, f->now);
  while (exchange (f))
    ;
}

static void
app_tcp (Fx *f, const char *src, const char *dst, guint16 sport, guint16 dport,
         guint8 flags)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (f->pool);
  FzIpPacket pkt;
  FzIpAddr s = ip (src), d = ip (dst);
  FzTcpSegment seg
    = { .sport = sport, .dport = dport, .seq = 1, .flags = flags, .window = 1000 };
  g_assert_true (fz_ip_build_tcp (buf, &pkt, &s, &d, &seg, NULL, 0, NULL));
  app_packet (f, buf);
}

static void
app_udp (Fx *f, const char *src, const char *dst, guint16 sport, guint16 dport,
         const void *data, gsize len)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (f->pool);
  FzIpPacket pkt;
  FzIpAddr s = ip (src), d = ip (dst);
  g_assert_true (fz_ip_build_udp (buf, &pkt, &s, &d, sport, dport, data, len, NULL));
  app_packet (f, buf);
}

/* The next packet the gateway wrote to its TUN: to @dst:@dport. */
static void
expect_tun (Fx *f, const char *dst, guint16 dport)
{
  g_autoptr (FzPacketBuf) b = g_queue_pop_head (&f->to_tun);
  FzIpPacket pkt;
  FzIpAddr d, want = ip (dst);

  g_assert_nonnull (b);
  g_assert_cmpint (fz_ip_packet_parse (&pkt, b->data, b->len, 65535), ==, FZ_IP_OK);
  fz_ip_packet_dst (&pkt, &d);
  g_assert_true (fz_ip_addr_equal (&d, &want));
  g_assert_cmpuint (fz_ip_packet_dst_port (&pkt), ==, dport);
}

/* A resource answers @sport → the app's @dport; it must reach the app
 * from @app_sees. */
static void
resource_reply (Fx *f, const char *from, guint16 sport, guint16 dport,
                const char *app_sees)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (f->pool);
  FzIpPacket pkt;
  FzIpAddr s = ip (from), d = ip (ME4), seen, want = ip (app_sees);
  FzTcpSegment seg = { .sport = sport,
                       .dport = dport,
                       .seq = 9,
                       .ack = 2,
                       .flags = FZ_TCP_SYN | FZ_TCP_ACK,
                       .window = 1000 };
  g_assert_true (fz_ip_build_tcp (buf, &pkt, &s, &d, &seg, NULL, 0, NULL));
  fz_gateway_state_handle_tun (f->gw, buf, f->now);
  while (exchange (f))
    ;
  g_autoptr (FzPacketBuf) b = g_queue_pop_head (&f->to_app);
  g_assert_nonnull (b);
  g_assert_cmpint (fz_ip_packet_parse (&pkt, b->data, b->len, 65535), ==, FZ_IP_OK);
  fz_ip_packet_src (&pkt, &seen);
  g_assert_true (fz_ip_addr_equal (&seen, &want));
  g_assert_cmpuint (fz_ip_packet_src_port (&pkt), ==, sport);
  g_assert_true (fz_ip_packet_verify_l4_checksum (&pkt));
}

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
}

static FzClientSiteStatus
status_of (Fx *f, const char *rid)
{
  GArray *views = fz_client_state_get_resources (f->cl);
  for (guint i = 0; i < views->len; i++)
    {
      FzClientResourceView *v = &g_array_index (views, FzClientResourceView, i);
      if (g_str_equal (v->resource->id, rid))
        return v->status;
    }
  g_assert_not_reached ();
}

/* ---- DNS ---- */

static GBytes *
dns_query (const char *name, ldns_rr_type type, guint16 id)
{
  ldns_pkt *p = NULL;
  guint8 *wire = NULL;
  size_t len = 0;

  g_assert_cmpint (ldns_pkt_query_new_frm_str (&p, name, type, LDNS_RR_CLASS_IN, LDNS_RD),
                   ==, LDNS_STATUS_OK);
  ldns_pkt_set_id (p, id);
  g_assert_cmpint (ldns_pkt2wire (&wire, p, &len), ==, LDNS_STATUS_OK);
  ldns_pkt_free (p);
  GBytes *b = g_bytes_new (wire, len);
  free (wire);
  return b;
}

static void
app_dns (Fx *f, const char *sentinel, const char *name, ldns_rr_type type, guint16 id)
{
  g_autoptr (GBytes) q = dns_query (name, type, id);
  gsize len;
  const guint8 *d = g_bytes_get_data (q, &len);
  app_udp (f, ME4, sentinel, 5353, 53, d, len);
}

/* The next packet to the app: a DNS answer over UDP from @sentinel:53. */
static ldns_pkt *
expect_dns (Fx *f, const char *sentinel)
{
  g_autoptr (FzPacketBuf) b = g_queue_pop_head (&f->to_app);
  FzIpPacket pkt;
  FzIpAddr s, want = ip (sentinel);
  guint32 len;
  ldns_pkt *answer = NULL;

  g_assert_nonnull (b);
  g_assert_cmpint (fz_ip_packet_parse (&pkt, b->data, b->len, 65535), ==, FZ_IP_OK);
  g_assert_cmpuint (pkt.proto, ==, FZ_IP_PROTO_UDP);
  fz_ip_packet_src (&pkt, &s);
  g_assert_true (fz_ip_addr_equal (&s, &want));
  g_assert_cmpuint (fz_ip_packet_src_port (&pkt), ==, 53);
  g_assert_cmpuint (fz_ip_packet_dst_port (&pkt), ==, 5353);
  const guint8 *payload = fz_ip_packet_payload (&pkt, &len);
  g_assert_cmpuint (len, <=, FZ_CLIENT_DNS_UDP_MAX);
  g_assert_cmpint (ldns_wire2pkt (&answer, payload, len), ==, LDNS_STATUS_OK);
  return answer;
}

static char *
answer_addr (ldns_pkt *p, guint i)
{
  ldns_rr *rr = ldns_rr_list_rr (ldns_pkt_answer (p), i);
  return ldns_rdf2str (ldns_rr_rdf (rr, 0));
}

/* ---- tests ---- */

/* A CIDR resource end to end: authorization on the first packet, then
 * the packet reaches the resource and the reply the application. */
static void
test_cidr_round_trip (Fx *f, gconstpointer data)
{
  (void) data;
  g_assert_cmpuint (f->n_snownet, ==, 1);
  g_assert_cmpint (status_of (f, "r-web"), ==, FZ_CLIENT_SITE_UNKNOWN);
  app_tcp (f, ME4, "10.1.7.7", 40001, 80, FZ_TCP_SYN);
  g_assert_cmpuint (f->n_requests, ==, 1);
  g_assert_cmpstr (f->requested->pdata[0], ==, "r-web");
  g_assert_cmpuint (f->connected_ids->len, ==, 0);
  pump (f, 3 * S);
  g_assert_true (fz_node_is_established (fz_client_state_get_node (f->cl), "gw-1"));
  expect_tun (f, "10.1.7.7", 80);
  g_assert_true (g_queue_is_empty (&f->to_tun));
  resource_reply (f, "10.1.7.7", 80, 40001, "10.1.7.7");
  g_assert_cmpint (status_of (f, "r-web"), ==, FZ_CLIENT_SITE_ONLINE);
  g_assert_cmpint (status_of (f, "r-host"), ==, FZ_CLIENT_SITE_ONLINE);

  /* Connected now: the next packet goes at once, without a request. */
  app_tcp (f, ME4, "10.1.7.7", 40001, 80, FZ_TCP_ACK);
  expect_tun (f, "10.1.7.7", 80);
  g_assert_cmpuint (f->n_requests, ==, 1);

  /* Another resource of the same site: the request names our gateway. */
  app_udp (f, ME4, "10.1.2.3", 4000, 9999, "x", 1);
  g_assert_cmpuint (f->n_requests, ==, 2);
  g_assert_cmpuint (f->connected_ids->len, ==, 1);
  g_assert_cmpstr (f->connected_ids->pdata[0], ==, "gw-1");
  pump (f, S);
  expect_tun (f, "10.1.2.3", 9999);
}

#define CIDR_SIX                                                                         \
  "{\"id\":\"r-six\",\"type\":\"cidr\",\"address\":\"2001:db8:1::/48\","                 \
  "\"name\":\"six\",\"sites\":[{\"id\":\"site-1\",\"name\":\"HQ\"}],\"filters\":[]}"

/* IPv6 all the way: a query to the IPv6 sentinel, a packet to an IPv6
 * CIDR resource and its reply. */
static void
test_ipv6 (Fx *f, gconstpointer data)
{
  (void) data;
  g_hash_table_insert (f->gw_resources, "r-six", CIDR_SIX);
  to_client (f, "resource_created_or_updated", CIDR_SIX);
  app_udp (f, ME6, "2001:db8:1::5", 4000, 7, "x", 1);
  g_assert_cmpstr (f->requested->pdata[0], ==, "r-six");
  pump (f, 3 * S);
  expect_tun (f, "2001:db8:1::5", 7);

  FzPacketBuf *buf = fz_buf_pool_alloc (f->pool);
  FzIpPacket pkt;
  FzIpAddr s = ip ("2001:db8:1::5"), d = ip (ME6), seen;
  g_assert_true (fz_ip_build_udp (buf, &pkt, &s, &d, 7, 4000, "y", 1, NULL));
  fz_gateway_state_handle_tun (f->gw, buf, f->now);
  while (exchange (f))
    ;
  g_autoptr (FzPacketBuf) b = g_queue_pop_head (&f->to_app);
  g_assert_nonnull (b);
  g_assert_cmpint (fz_ip_packet_parse (&pkt, b->data, b->len, 65535), ==, FZ_IP_OK);
  fz_ip_packet_src (&pkt, &seen);
  g_assert_true (fz_ip_addr_equal (&seen, &s));

  g_autoptr (GBytes) q = dns_query ("x.corp.example.", LDNS_RR_TYPE_AAAA, 3);
  gsize len;
  const guint8 *qd = g_bytes_get_data (q, &len);
  app_udp (f, ME6, "fd00:2021:1111:8000:100:100:111:0", 5353, 53, qd, len);
  ldns_pkt *a = expect_dns (f, "fd00:2021:1111:8000:100:100:111:0");
  g_autofree char *first = answer_addr (a, 0);
  g_assert_cmpstr (first, ==, "fd00:2021:1111:8000::1");
  ldns_pkt_free (a);
}

/* Longest prefix wins: 10.1.2.3/32 (no filter) inside 10.1.0.0/16 (TCP 80). */
static void
test_cidr_longest_prefix (Fx *f, gconstpointer data)
{
  (void) data;
  app_udp (f, ME4, "10.1.2.3", 4000, 53, "x", 1);
  g_assert_cmpuint (f->n_requests, ==, 1);
  g_assert_cmpstr (f->requested->pdata[0], ==, "r-host");
  pump (f, 3 * S);
  expect_tun (f, "10.1.2.3", 53);
}

/* The client applies the resource's filters: denied → ICMP prohibited,
 * no authorization asked. */
static void
test_filter_denied (Fx *f, gconstpointer data)
{
  (void) data;
  app_udp (f, ME4, "10.1.7.7", 4000, 80, "x", 1);
  expect_icmp (f, 3, 13);
  g_assert_cmpuint (f->n_requests, ==, 0);
  app_tcp (f, ME4, "10.1.7.7", 40001, 22, FZ_TCP_SYN);
  expect_icmp (f, 3, 13);
  g_assert_cmpuint (f->n_requests, ==, 0);
}

/* Multicast, a foreign source, an unknown destination: dropped, silently. */
static void
test_dropped (Fx *f, gconstpointer data)
{
  (void) data;
  app_udp (f, ME4, "224.0.0.251", 5353, 5353, "x", 1);
  app_udp (f, ME4, "255.255.255.255", 68, 67, "x", 1);
  app_udp (f, "100.64.0.9", "10.1.2.3", 4000, 53, "x", 1);
  app_udp (f, ME4, "192.0.2.1", 4000, 53, "x", 1);  /* Internet resource off */
  app_udp (f, ME4, "100.96.0.7", 4000, 53, "x", 1); /* a proxy IP never handed out */
  pump (f, 3 * S);
  g_assert_cmpuint (f->n_requests, ==, 0);
  g_assert_true (g_queue_is_empty (&f->to_app));
  g_assert_true (g_queue_is_empty (&f->to_tun));
}

/* While authorizing: one request per 2 s, packets buffered, a
 * retransmitted SYN replacing its older copy, at most 128 kept. */
static void
test_buffer_and_debounce (Fx *f, gconstpointer data)
{
  (void) data;
  f->auto_authorize = FALSE;
  app_tcp (f, ME4, "10.1.7.7", 40001, 80, FZ_TCP_SYN);
  f->now += S;
  app_tcp (f, ME4, "10.1.7.7", 40001, 80, FZ_TCP_SYN);
  app_tcp (f, ME4, "10.1.7.7", 40002, 80, FZ_TCP_SYN);
  g_assert_cmpuint (f->n_requests, ==, 1);
  f->now += S;
  app_tcp (f, ME4, "10.1.7.7", 40001, 80, FZ_TCP_SYN);
  g_assert_cmpuint (f->n_requests, ==, 2);

  authorize (f, "r-web");
  pump (f, 3 * S);
  expect_tun (f, "10.1.7.7", 80); /* 40002's SYN */
  expect_tun (f, "10.1.7.7", 80); /* 40001's latest SYN */
  g_assert_true (g_queue_is_empty (&f->to_tun));
}

/* A datagram sent twice while authorizing waits once (as connlib's
 * buffer of unique packets); a different one waits too. */
static void
test_buffer_identical (Fx *f, gconstpointer data)
{
  (void) data;
  f->auto_authorize = FALSE;
  app_udp (f, ME4, "10.1.2.3", 5000, 53, "same", 4);
  app_udp (f, ME4, "10.1.2.3", 5000, 53, "same", 4);
  app_udp (f, ME4, "10.1.2.3", 5000, 53, "other", 5);
  authorize (f, "r-host");
  pump (f, 3 * S);
  g_assert_cmpuint (g_queue_get_length (&f->to_tun), ==, 2);
}

static void
test_buffer_bounded (Fx *f, gconstpointer data)
{
  (void) data;
  f->auto_authorize = FALSE;
  for (guint i = 0; i < FZ_CLIENT_MAX_BUFFERED + 50; i++)
    app_udp (f, ME4, "10.1.2.3", (guint16) (1000 + i), 7, "x", 1);
  g_assert_cmpuint (fz_buf_pool_outstanding (f->pool), <=, FZ_CLIENT_MAX_BUFFERED + 8);
  authorize (f, "r-host");
  pump (f, 3 * S);
  g_assert_cmpuint (g_queue_get_length (&f->to_tun), ==, FZ_CLIENT_MAX_BUFFERED);
}

/* A failed authorization: ICMP for what waited, an event, site offline. */
static void
test_authorization_failed (Fx *f, gconstpointer data)
{
  (void) data;
  f->fail_reason = "offline";
  app_udp (f, ME4, "10.1.2.3", 4000, 7, "x", 1);
  expect_icmp (f, 3, 0);
  FzClientEvent *e = g_queue_pop_head (&f->unreachable);
  g_assert_nonnull (e);
  g_assert_cmpstr (e->resource_id, ==, "r-host");
  g_assert_cmpstr (e->reason, ==, "offline");
  event_free (e);
  g_assert_cmpint (status_of (f, "r-host"), ==, FZ_CLIENT_SITE_OFFLINE);

  f->fail_reason = "forbidden";
  f->now += 3 * S;
  app_udp (f, ME4, "10.1.2.3", 4000, 7, "x", 1);
  expect_icmp (f, 3, 0);
  e = g_queue_pop_head (&f->unreachable);
  g_assert_cmpstr (e->reason, ==, "forbidden");
  event_free (e);
}

/* A DNS resource end to end: proxy IPs in the answer, assigned_ips to
 * the gateway, Active, the packet at the real IP and the reply back from
 * the proxy IP. */
static void
test_dns_resource (Fx *f, gconstpointer data)
{
  (void) data;
  app_dns (f, SENT4, "App.corp.example.", LDNS_RR_TYPE_A, 0x1234);
  ldns_pkt *a = expect_dns (f, SENT4);
  g_assert_cmpuint (ldns_pkt_id (a), ==, 0x1234);
  g_assert_cmpuint (ldns_pkt_ancount (a), ==, 4);
  g_autofree char *first = answer_addr (a, 0);
  g_assert_cmpstr (first, ==, "100.96.0.1");
  g_assert_cmpuint (ldns_rr_ttl (ldns_rr_list_rr (ldns_pkt_answer (a), 0)), ==, 1);
  ldns_pkt_free (a);
  g_assert_cmpuint (f->n_mappings, ==, 1);
  g_assert_cmpuint (f->n_requests, ==, 0);

  app_dns (f, SENT4, "app.corp.example.", LDNS_RR_TYPE_AAAA, 0x1235);
  a = expect_dns (f, SENT4);
  g_autofree char *v6 = answer_addr (a, 0);
  g_assert_cmpstr (v6, ==, "fd00:2021:1111:8000::1");
  ldns_pkt_free (a);
  g_assert_cmpuint (f->n_mappings, ==, 1);

  app_tcp (f, ME4, "100.96.0.1", 40001, 443, FZ_TCP_SYN);
  g_assert_cmpuint (f->n_requests, ==, 1);
  pump (f, 3 * S);
  g_assert_cmpuint (f->n_assigned, >=, 1);
  expect_tun (f, "10.9.9.9", 443);
  resource_reply (f, "10.9.9.9", 443, 40001, "100.96.0.1");

  /* Every later query makes the gateway resolve again. */
  guint before = f->n_assigned;
  app_dns (f, SENT4, "app.corp.example.", LDNS_RR_TYPE_A, 0x1236);
  ldns_pkt_free (expect_dns (f, SENT4));
  pump (f, S);
  g_assert_cmpuint (f->n_assigned, >, before);
}

/* While the NAT is pending, packets wait and assigned_ips goes again
 * every 2 s; the gateway's Active replays them. */
static void
test_dns_resource_resend (Fx *f, gconstpointer data)
{
  (void) data;
  app_dns (f, SENT4, "a.corp.example.", LDNS_RR_TYPE_A, 1);
  ldns_pkt_free (expect_dns (f, SENT4));
  app_tcp (f, ME4, "100.96.0.1", 40001, 443, FZ_TCP_SYN);
  pump (f, 3 * S);
  expect_tun (f, "10.9.9.9", 443);

  f->drop_to_client = TRUE; /* domain_status gets lost */
  app_dns (f, SENT4, "b.corp.example.", LDNS_RR_TYPE_A, 2);
  ldns_pkt_free (expect_dns (f, SENT4));
  guint first = f->n_assigned;
  app_tcp (f, ME4, "100.96.0.5", 40002, 443, FZ_TCP_SYN);
  app_tcp (f, ME4, "100.96.0.5", 40002, 443, FZ_TCP_SYN); /* retransmitted */
  g_assert_true (g_queue_is_empty (&f->to_tun));
  pump (f, FZ_CLIENT_ASSIGNED_IPS_RESEND + S / 2);
  g_assert_cmpuint (f->n_assigned, ==, first + 1);
  g_assert_true (g_queue_is_empty (&f->to_tun));
  f->drop_to_client = FALSE;
  pump (f, FZ_CLIENT_ASSIGNED_IPS_RESEND + S / 2);
  expect_tun (f, "10.9.9.9", 443);
  g_assert_true (g_queue_is_empty (&f->to_tun));
  /* Active: no more re-sends. */
  guint active = f->n_assigned;
  pump (f, 3 * FZ_CLIENT_ASSIGNED_IPS_RESEND);
  g_assert_cmpuint (f->n_assigned, ==, active);
}

/* A gateway whose domain_status never arrives: after a few tries the
 * NAT fails, the waiting packet gets net unreachable, the tries stop. */
static void
test_dns_resource_gives_up (Fx *f, gconstpointer data)
{
  (void) data;
  app_dns (f, SENT4, "a.corp.example.", LDNS_RR_TYPE_A, 1);
  ldns_pkt_free (expect_dns (f, SENT4));
  app_tcp (f, ME4, "100.96.0.1", 40001, 443, FZ_TCP_SYN);
  pump (f, 3 * S);
  expect_tun (f, "10.9.9.9", 443);

  f->drop_to_client = TRUE;
  app_dns (f, SENT4, "b.corp.example.", LDNS_RR_TYPE_A, 2);
  ldns_pkt_free (expect_dns (f, SENT4));
  app_tcp (f, ME4, "100.96.0.5", 40002, 443, FZ_TCP_SYN);
  guint first = f->n_assigned;
  pump (f, (FZ_CLIENT_ASSIGNED_IPS_TRIES + 1) * FZ_CLIENT_ASSIGNED_IPS_RESEND);
  expect_icmp (f, 3, 0);
  guint tries = f->n_assigned - first;
  g_assert_cmpuint (tries, >=, FZ_CLIENT_ASSIGNED_IPS_TRIES - 1);
  g_assert_cmpuint (tries, <=, FZ_CLIENT_ASSIGNED_IPS_TRIES);
  pump (f, 5 * FZ_CLIENT_ASSIGNED_IPS_RESEND);
  g_assert_cmpuint (f->n_assigned - first, ==, tries);
  g_assert_true (g_queue_is_empty (&f->to_tun));
}

/* A resource moved to another site is authorized afresh on its next
 * packet (the old gateway may not serve it any more). */
static void
test_resource_changes_site (Fx *f, gconstpointer data)
{
  (void) data;
  app_udp (f, ME4, "10.1.2.3", 4000, 7, "x", 1);
  pump (f, 3 * S);
  expect_tun (f, "10.1.2.3", 7);
  g_assert_cmpuint (f->n_requests, ==, 1);
  to_client (f, "resource_created_or_updated",
             "{\"id\":\"r-host\",\"type\":\"cidr\",\"address\":\"10.1.2.3/32\","
             "\"name\":\"host\",\"sites\":[{\"id\":\"site-2\",\"name\":\"DC\"}],"
             "\"filters\":[]}");
  /* gw-1 served nothing else: it got a goodbye (delivered before the
   * portal's next answer, which names gw-1 again). */
  pump (f, 0);
  g_assert_cmpuint (fz_gateway_state_n_clients (f->gw), ==, 0);
  app_udp (f, ME4, "10.1.2.3", 4000, 7, "x", 1);
  pump (f, 3 * S);
  g_assert_cmpuint (f->n_requests, ==, 2);
  expect_tun (f, "10.1.2.3", 7);
  /* Only the name changes: no new authorization. */
  to_client (f, "resource_created_or_updated",
             "{\"id\":\"r-host\",\"type\":\"cidr\",\"address\":\"10.1.2.3/32\","
             "\"name\":\"renamed\",\"sites\":[{\"id\":\"site-2\",\"name\":\"DC\"}],"
             "\"filters\":[]}");
  client_side (f);
  app_udp (f, ME4, "10.1.2.3", 4000, 7, "x", 1);
  pump (f, 3 * S);
  g_assert_cmpuint (f->n_requests, ==, 2);
  expect_tun (f, "10.1.2.3", 7);
}

/* Two resources of one prefix: when one goes, the other still routes. */
static void
test_same_prefix (Fx *f, gconstpointer data)
{
  (void) data;
  to_client (f, "resource_created_or_updated",
             "{\"id\":\"r-dns\",\"type\":\"cidr\",\"address\":\"10.1.0.0/16\","
             "\"name\":\"dns\",\"sites\":[{\"id\":\"site-1\",\"name\":\"HQ\"}],"
             "\"filters\":[{\"protocol\":\"udp\",\"port_range_start\":53,"
             "\"port_range_end\":53}]}");
  to_client (f, "resource_deleted", "\"r-dns\"");
  client_side (f);
  app_tcp (f, ME4, "10.1.7.7", 40002, 80, FZ_TCP_SYN); /* r-web's */
  pump (f, 3 * S);
  expect_tun (f, "10.1.7.7", 80);
}

/* ip_stack: an IPv4-only resource has no AAAA answer. */
static void
test_dns_ip_stack (Fx *f, gconstpointer data)
{
  (void) data;
  to_client (
    f, "resource_created_or_updated",
    "{\"id\":\"r-v4\",\"type\":\"dns\",\"address\":\"v4.example\",\"name\":\"v4\","
    "\"sites\":[{\"id\":\"site-1\",\"name\":\"HQ\"}],\"filters\":[],"
    "\"ip_stack\":\"ipv4_only\"}");
  app_dns (f, SENT4, "v4.example.", LDNS_RR_TYPE_AAAA, 1);
  ldns_pkt *a = expect_dns (f, SENT4);
  g_assert_cmpint (ldns_pkt_get_rcode (a), ==, LDNS_RCODE_NOERROR);
  g_assert_cmpuint (ldns_pkt_ancount (a), ==, 0);
  ldns_pkt_free (a);
  app_dns (f, SENT4, "v4.example.", LDNS_RR_TYPE_A, 2);
  a = expect_dns (f, SENT4);
  g_assert_cmpuint (ldns_pkt_ancount (a), ==, 4);
  ldns_pkt_free (a);
}

/* No relay usable: no_relays to the portal, again after one went. */
static void
test_relays (Fx *f, gconstpointer data)
{
  (void) data;
  g_assert_cmpuint (f->n_no_relays, ==, 1);
  to_client (f, "relays_presence",
             "{\"disconnected_ids\":[],\"connected\":[{\"id\":\"relay-1\","
             "\"type\":\"turn\",\"addr\":\"192.0.2.9:3478\",\"username\":\"u\","
             "\"password\":\"p\",\"expires_at\":1900000000}]}");
  client_side (f);
  g_assert_cmpuint (f->n_no_relays, ==, 1);
  to_client (f, "relays_presence",
             "{\"disconnected_ids\":[\"relay-1\"],\"connected\":[]}");
  client_side (f);
  g_assert_cmpuint (f->n_no_relays, ==, 2);
}

/* The gateway cannot resolve: Inactive, the waiting packet gets ICMP. */
static void
test_dns_resource_inactive (Fx *f, gconstpointer data)
{
  (void) data;
  f->resolved.family = 0;
  app_dns (f, SENT4, "gone.corp.example.", LDNS_RR_TYPE_A, 1);
  ldns_pkt_free (expect_dns (f, SENT4));
  app_tcp (f, ME4, "100.96.0.1", 40001, 443, FZ_TCP_SYN);
  pump (f, 3 * S);
  expect_icmp (f, 3, 0);
  g_assert_true (g_queue_is_empty (&f->to_tun));
  app_tcp (f, ME4, "100.96.0.1", 40001, 443, FZ_TCP_SYN);
  expect_icmp (f, 3, 0);
}

/* Anything else goes to the upstream resolver the sentinel stands for;
 * truncated → asked again over TCP; failures and timeouts → SERVFAIL. */
static void
test_dns_upstream (Fx *f, gconstpointer data)
{
  (void) data;
  app_dns (f, SENT4, "example.com.", LDNS_RR_TYPE_A, 77);
  FzClientEvent *e = g_queue_pop_head (&f->upstream);
  g_assert_nonnull (e);
  FzIpAddr want = ip ("1.1.1.1");
  g_assert_true (fz_ip_addr_equal (&e->server.ip, &want));
  g_assert_cmpuint (e->server.port, ==, 53);
  g_assert_false (e->tcp);

  gsize len;
  guint8 *ans = g_memdup2 (g_bytes_get_data (e->query, &len), len);
  ans[2] |= 0x82; /* QR, TC */
  fz_client_state_upstream_answer (f->cl, e->request, ans, len, f->now);
  client_side (f);
  FzClientEvent *again = g_queue_pop_head (&f->upstream);
  g_assert_nonnull (again);
  g_assert_true (again->tcp);
  g_assert_cmpuint (again->request, ==, e->request);
  ans[2] &= (guint8) ~0x02;
  fz_client_state_upstream_answer (f->cl, e->request, ans, len, f->now);
  client_side (f);
  ldns_pkt *a = expect_dns (f, SENT4);
  g_assert_cmpuint (ldns_pkt_id (a), ==, 77);
  g_assert_cmpint (ldns_pkt_get_rcode (a), ==, LDNS_RCODE_NOERROR);
  ldns_pkt_free (a);
  g_free (ans);
  event_free (e);
  event_free (again);

  /* The second sentinel stands for the second server. */
  app_dns (f, "100.100.111.2", "example.com.", LDNS_RR_TYPE_A, 78);
  e = g_queue_pop_head (&f->upstream);
  want = ip ("2606:4700::1111");
  g_assert_true (fz_ip_addr_equal (&e->server.ip, &want));
  fz_client_state_upstream_answer (f->cl, e->request, NULL, 0, f->now);
  client_side (f);
  a = expect_dns (f, "100.100.111.2");
  g_assert_cmpint (ldns_pkt_get_rcode (a), ==, LDNS_RCODE_SERVFAIL);
  ldns_pkt_free (a);
  event_free (e);

  app_dns (f, SENT4, "slow.example.", LDNS_RR_TYPE_A, 79);
  e = g_queue_pop_head (&f->upstream);
  pump (f, FZ_CLIENT_DNS_TIMEOUT + S);
  a = expect_dns (f, SENT4);
  g_assert_cmpint (ldns_pkt_get_rcode (a), ==, LDNS_RCODE_SERVFAIL);
  ldns_pkt_free (a);
  fz_client_state_upstream_answer (f->cl, e->request, NULL, 0, f->now); /* too late */
  client_side (f);
  g_assert_true (g_queue_is_empty (&f->to_app));
  event_free (e);
}

/* A long upstream answer reaches a UDP application as TC, so it asks
 * again over TCP. */
static void
test_dns_upstream_capped (Fx *f, gconstpointer data)
{
  (void) data;
  app_dns (f, SENT4, "big.example.", LDNS_RR_TYPE_A, 80);
  FzClientEvent *e = g_queue_pop_head (&f->upstream);
  gsize qlen;
  ldns_pkt *p = NULL;
  g_assert_cmpint (ldns_wire2pkt (&p, g_bytes_get_data (e->query, &qlen), qlen), ==,
                   LDNS_STATUS_OK);
  ldns_pkt_set_qr (p, true);
  for (guint i = 0; i < 120; i++)
    {
      ldns_rr *rr = NULL;
      g_autofree char *text = g_strdup_printf ("big.example. 60 IN A 192.0.2.%u", i);
      g_assert_cmpint (ldns_rr_new_frm_str (&rr, text, 0, NULL, NULL), ==,
                       LDNS_STATUS_OK);
      ldns_pkt_push_rr (p, LDNS_SECTION_ANSWER, rr);
    }
  guint8 *wire = NULL;
  size_t len = 0;
  g_assert_cmpint (ldns_pkt2wire (&wire, p, &len), ==, LDNS_STATUS_OK);
  g_assert_cmpuint (len, >, FZ_CLIENT_DNS_UDP_MAX);
  fz_client_state_upstream_answer (f->cl, e->request, wire, len, f->now);
  client_side (f);
  ldns_pkt *a = expect_dns (f, SENT4); /* asserts the length */
  g_assert_true (ldns_pkt_tc (a));
  g_assert_cmpuint (ldns_pkt_ancount (a), ==, 0);
  ldns_pkt_free (a);
  ldns_pkt_free (p);
  free (wire);
  event_free (e);
}

/* An upstream answer pointing a public name at a proxy IP loses that
 * record (DNS rebinding); one with another id is no answer: SERVFAIL. */
static void
test_dns_upstream_rebinding (Fx *f, gconstpointer data)
{
  (void) data;
  for (guint round = 0; round < 2; round++)
    {
      app_dns (f, SENT4, "evil.example.", LDNS_RR_TYPE_A, 81);
      FzClientEvent *e = g_queue_pop_head (&f->upstream);
      gsize qlen;
      ldns_pkt *p = NULL;
      g_assert_cmpint (ldns_wire2pkt (&p, g_bytes_get_data (e->query, &qlen), qlen), ==,
                       LDNS_STATUS_OK);
      ldns_pkt_set_qr (p, true);
      if (round == 1)
        ldns_pkt_set_id (p, 82);
      const char *rrs[]
        = { "evil.example. 60 IN A 100.96.0.1", "evil.example. 60 IN A 192.0.2.7" };
      for (guint i = 0; i < G_N_ELEMENTS (rrs); i++)
        {
          ldns_rr *rr = NULL;
          g_assert_cmpint (ldns_rr_new_frm_str (&rr, rrs[i], 0, NULL, NULL), ==,
                           LDNS_STATUS_OK);
          ldns_pkt_push_rr (p, LDNS_SECTION_ANSWER, rr);
        }
      guint8 *wire = NULL;
      size_t len = 0;
      g_assert_cmpint (ldns_pkt2wire (&wire, p, &len), ==, LDNS_STATUS_OK);
      fz_client_state_upstream_answer (f->cl, e->request, wire, len, f->now);
      client_side (f);
      ldns_pkt *a = expect_dns (f, SENT4);
      g_assert_cmpuint (ldns_pkt_id (a), ==, 81);
      if (round == 0)
        {
          g_assert_cmpuint (ldns_pkt_ancount (a), ==, 1);
          g_autofree char *kept = answer_addr (a, 0);
          g_assert_cmpstr (kept, ==, "192.0.2.7");
        }
      else
        g_assert_cmpint (ldns_pkt_get_rcode (a), ==, LDNS_RCODE_SERVFAIL);
      ldns_pkt_free (a);
      ldns_pkt_free (p);
      free (wire);
      event_free (e);
    }
}

static void
test_dns_upstream_bounded (Fx *f, gconstpointer data)
{
  (void) data;
  for (guint i = 0; i < FZ_CLIENT_DNS_MAX_QUERIES + 5; i++)
    app_dns (f, SENT4, "example.com.", LDNS_RR_TYPE_A, (guint16) i);
  g_assert_cmpuint (g_queue_get_length (&f->upstream), ==, FZ_CLIENT_DNS_MAX_QUERIES);
  g_assert_cmpuint (g_queue_get_length (&f->to_app), ==, 5); /* SERVFAIL at once */
}

/* Answered by the stub itself: HTTPS empty, the DoH canary NXDOMAIN,
 * PTR of a proxy IP. */
static void
test_dns_local (Fx *f, gconstpointer data)
{
  (void) data;
  app_dns (f, SENT4, "app.corp.example.", (ldns_rr_type) 65, 1);
  ldns_pkt *a = expect_dns (f, SENT4);
  g_assert_cmpint (ldns_pkt_get_rcode (a), ==, LDNS_RCODE_NOERROR);
  g_assert_cmpuint (ldns_pkt_ancount (a), ==, 0);
  ldns_pkt_free (a);

  app_dns (f, SENT4, "use-application-dns.net.", LDNS_RR_TYPE_A, 2);
  a = expect_dns (f, SENT4);
  g_assert_cmpint (ldns_pkt_get_rcode (a), ==, LDNS_RCODE_NXDOMAIN);
  ldns_pkt_free (a);

  app_dns (f, SENT4, "x.corp.example.", LDNS_RR_TYPE_A, 3);
  ldns_pkt_free (expect_dns (f, SENT4));
  app_dns (f, SENT4, "1.0.96.100.in-addr.arpa.", LDNS_RR_TYPE_PTR, 4);
  a = expect_dns (f, SENT4);
  g_assert_cmpuint (ldns_pkt_ancount (a), ==, 1);
  g_autofree char *name = answer_addr (a, 0);
  g_assert_cmpstr (name, ==, "x.corp.example.");
  ldns_pkt_free (a);
  g_assert_true (g_queue_is_empty (&f->upstream));

  /* Once no resource has the name, its proxy IP's PTR tells nothing. */
  to_client (f, "resource_deleted", "\"r-corp\"");
  client_side (f);
  app_dns (f, SENT4, "1.0.96.100.in-addr.arpa.", LDNS_RR_TYPE_PTR, 5);
  a = expect_dns (f, SENT4);
  g_assert_cmpint (ldns_pkt_get_rcode (a), ==, LDNS_RCODE_NXDOMAIN);
  g_assert_cmpuint (ldns_pkt_ancount (a), ==, 0);
  ldns_pkt_free (a);
  g_assert_true (g_queue_is_empty (&f->upstream));
}

/* SRV for a resource name: through the tunnel to the gateway's 53535,
 * the answer back to the app from the sentinel. */
static void
test_dns_srv_via_gateway (Fx *f, gconstpointer data)
{
  (void) data;
  /* Not authorized yet: SERVFAIL, and the authorization starts. */
  app_dns (f, SENT4, "srv.corp.example.", LDNS_RR_TYPE_SRV, 5);
  ldns_pkt *a = expect_dns (f, SENT4);
  g_assert_cmpint (ldns_pkt_get_rcode (a), ==, LDNS_RCODE_SERVFAIL);
  ldns_pkt_free (a);
  g_assert_cmpuint (f->n_requests, ==, 1);
  pump (f, 3 * S);

  app_dns (f, SENT4, "srv.corp.example.", LDNS_RR_TYPE_SRV, 6);
  pump (f, S);
  a = expect_dns (f, SENT4);
  g_assert_cmpuint (ldns_pkt_id (a), ==, 6);
  g_assert_true (ldns_pkt_qr (a));
  ldns_pkt_free (a);
  g_assert_true (g_queue_is_empty (&f->upstream));
}

/* The gateway goes (its goodbye) while an SRV query waits for its
 * resolver: the application gets SERVFAIL at once, not nothing. */
static void
test_dns_srv_gateway_gone (Fx *f, gconstpointer data)
{
  (void) data;
  app_dns (f, SENT4, "srv.corp.example.", LDNS_RR_TYPE_SRV, 5);
  ldns_pkt *a = expect_dns (f, SENT4);
  ldns_pkt_free (a);
  pump (f, 3 * S);
  f->hold_queries = TRUE;
  app_dns (f, SENT4, "srv.corp.example.", LDNS_RR_TYPE_SRV, 6);
  pump (f, S);
  g_assert_true (g_queue_is_empty (&f->to_app));
  fz_gateway_state_shutdown (f->gw, f->now);
  while (exchange (f))
    ;
  a = expect_dns (f, SENT4);
  g_assert_cmpuint (ldns_pkt_id (a), ==, 6);
  g_assert_cmpint (ldns_pkt_get_rcode (a), ==, LDNS_RCODE_SERVFAIL);
  ldns_pkt_free (a);
}

/* DNS over TCP to a sentinel: handshake, one query, its answer. */
static void
test_dns_tcp (Fx *f, gconstpointer data)
{
  FzPacketBuf *buf;
  FzIpPacket pkt;
  FzIpAddr s = ip (ME4), d = ip (SENT4);
  FzTcpSegment seg = { .sport = 50000,
                       .dport = 53,
                       .seq = 100,
                       .flags = FZ_TCP_SYN,
                       .window = 65535,
                       .mss = 1200 };

  (void) data;
  buf = fz_buf_pool_alloc (f->pool);
  g_assert_true (fz_ip_build_tcp (buf, &pkt, &s, &d, &seg, NULL, 0, NULL));
  app_packet (f, buf);
  g_autoptr (FzPacketBuf) synack = g_queue_pop_head (&f->to_app);
  g_assert_nonnull (synack);
  g_assert_cmpint (fz_ip_packet_parse (&pkt, synack->data, synack->len, 65535), ==,
                   FZ_IP_OK);
  g_assert_cmpuint (fz_ip_packet_tcp_flags (&pkt), ==, FZ_TCP_SYN | FZ_TCP_ACK);
  guint32 their = GUINT32_FROM_BE (*(guint32 *) (fz_ip_packet_l4 (&pkt) + 4));

  g_autoptr (GBytes) q = dns_query ("use-application-dns.net.", LDNS_RR_TYPE_A, 9);
  gsize qlen;
  const guint8 *qd = g_bytes_get_data (q, &qlen);
  g_autofree guint8 *framed = g_malloc (qlen + 2);
  framed[0] = (guint8) (qlen >> 8);
  framed[1] = (guint8) qlen;
  memcpy (framed + 2, qd, qlen);
  seg = (FzTcpSegment){ .sport = 50000,
                        .dport = 53,
                        .seq = 101,
                        .ack = their + 1,
                        .flags = FZ_TCP_ACK,
                        .window = 65535 };
  buf = fz_buf_pool_alloc (f->pool);
  g_assert_true (fz_ip_build_tcp (buf, &pkt, &s, &d, &seg, framed, qlen + 2, NULL));
  app_packet (f, buf);

  gboolean answered = FALSE;
  FzPacketBuf *b;
  while ((b = g_queue_pop_head (&f->to_app)) != NULL)
    {
      guint32 len;
      g_assert_cmpint (fz_ip_packet_parse (&pkt, b->data, b->len, 65535), ==, FZ_IP_OK);
      const guint8 *p = fz_ip_packet_payload (&pkt, &len);
      if (len > 2)
        {
          ldns_pkt *a = NULL;
          g_assert_cmpint (ldns_wire2pkt (&a, p + 2, len - 2), ==, LDNS_STATUS_OK);
          g_assert_cmpint (ldns_pkt_get_rcode (a), ==, LDNS_RCODE_NXDOMAIN);
          ldns_pkt_free (a);
          answered = TRUE;
        }
      fz_packet_buf_free (b);
    }
  g_assert_true (answered);
}

static gboolean
has_route (Fx *f, const char *text)
{
  const FzClientInterface *i = fz_client_state_get_interface (f->cl);
  FzIpPrefix want;
  g_assert_true (fz_ip_prefix_parse (&want, text));
  for (guint n = 0; n < i->routes->len; n++)
    if (fz_ip_prefix_equal (&g_array_index (i->routes, FzIpPrefix, n), &want))
      return TRUE;
  return FALSE;
}

/* The interface: addresses, sentinels per upstream and family, routes;
 * the Internet resource adds and takes away the default routes. */
static void
test_interface (Fx *f, gconstpointer data)
{
  const FzClientInterface *i = fz_client_state_get_interface (f->cl);
  FzIpAddr want = ip (ME4);

  (void) data;
  g_assert_cmpuint (f->n_interface, >=, 1);
  g_assert_true (fz_ip_addr_equal (&i->ipv4, &want));
  g_assert_cmpuint (i->dns_sentinels->len, ==, 4);
  want = ip ("100.100.111.2");
  g_assert_true (
    fz_ip_addr_equal (&g_array_index (i->dns_sentinels, FzIpAddr, 2), &want));
  want = ip ("fd00:2021:1111:8000:100:100:111:1");
  g_assert_true (
    fz_ip_addr_equal (&g_array_index (i->dns_sentinels, FzIpAddr, 3), &want));
  g_assert_true (has_route (f, "10.1.0.0/16"));
  g_assert_true (has_route (f, "10.1.2.3/32"));
  g_assert_true (has_route (f, "100.96.0.0/11"));
  g_assert_true (has_route (f, "100.64.0.0/11"));
  g_assert_true (has_route (f, "100.100.111.0/24"));
  g_assert_false (has_route (f, "0.0.0.0/0"));

  guint n = f->n_interface;
  fz_client_state_set_internet_resource_enabled (f->cl, TRUE, f->now);
  client_side (f);
  g_assert_cmpuint (f->n_interface, ==, n + 1);
  g_assert_true (has_route (f, "0.0.0.0/0"));
  g_assert_true (has_route (f, "::/0"));
  fz_client_state_set_internet_resource_enabled (f->cl, FALSE, f->now);
  g_assert_false (has_route (f, "::/0"));

  /* Resources come and go with their routes. */
  to_client (f, "resource_deleted", "\"r-web\"");
  g_assert_false (has_route (f, "10.1.0.0/16"));
  app_tcp (f, ME4, "10.1.7.7", 40001, 80, FZ_TCP_SYN);
  g_assert_cmpuint (f->n_requests, ==, 0);
  to_client (f, "resource_created_or_updated",
             "{\"id\":\"r-web\",\"type\":\"cidr\",\"address\":\"10.2.0.0/16\","
             "\"name\":\"web\",\"sites\":[{\"id\":\"site-1\",\"name\":\"HQ\"}],"
             "\"filters\":[]}");
  g_assert_true (has_route (f, "10.2.0.0/16"));

  /* No upstream from the portal: the system's, one sentinel per family. */
  FzIpAddr sys = ip ("192.0.2.53"), system[2] = { ip (SENT4), sys };
  to_client (f, "config_changed",
             "{\"interface\":{\"ipv4\":\"" ME4 "\",\"ipv6\":\"" ME6 "\","
             "\"upstream_do53\":[]}}");
  fz_client_state_set_system_dns (f->cl, system, 2); /* our own sentinel left out */
  g_assert_cmpuint (i->dns_sentinels->len, ==, 2);
  app_dns (f, SENT4, "example.com.", LDNS_RR_TYPE_A, 1);
  FzClientEvent *e = g_queue_pop_head (&f->upstream);
  g_assert_true (fz_ip_addr_equal (&e->server.ip, &sys));
  event_free (e);
}

/* The Internet resource: on, traffic to anywhere goes through it; off,
 * dropped. */
static void
test_internet_resource (Fx *f, gconstpointer data)
{
  (void) data;
  fz_client_state_set_internet_resource_enabled (f->cl, TRUE, f->now);
  app_udp (f, ME4, "192.0.2.1", 4000, 123, "x", 1);
  g_assert_cmpuint (f->n_requests, ==, 1);
  g_assert_cmpstr (f->requested->pdata[0], ==, "r-inet");
  pump (f, 3 * S);
  expect_tun (f, "192.0.2.1", 123);
  /* CIDR resources still win over it. */
  app_udp (f, ME4, "10.1.2.3", 4000, 7, "x", 1);
  g_assert_cmpstr (f->requested->pdata[1], ==, "r-host");
  fz_client_state_set_internet_resource_enabled (f->cl, FALSE, f->now);
  app_udp (f, ME4, "192.0.2.1", 4000, 123, "x", 1);
  pump (f, S);
  g_assert_true (g_queue_is_empty (&f->to_tun) || g_queue_get_length (&f->to_tun) == 1);
  while (!g_queue_is_empty (&f->to_tun))
    expect_tun (f, "10.1.2.3", 7);
}

/* Mappings are saved, seed the next session (same addresses for the
 * same name), and malformed ones create nothing. */
static void
test_mappings (Fx *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  guint8 key[32] = { 1 };

  (void) data;
  app_dns (f, SENT4, "b.corp.example.", LDNS_RR_TYPE_A, 1);
  ldns_pkt_free (expect_dns (f, SENT4));
  app_dns (f, SENT4, "a.corp.example.", LDNS_RR_TYPE_A, 2);
  ldns_pkt_free (expect_dns (f, SENT4));
  g_assert_cmpuint (f->n_mappings, ==, 2);
  g_autofree char *saved = fz_client_state_save_mappings (f->cl);

  g_autoptr (FzClientState) next
    = fz_client_state_new (key, &f->rng, f->pool, saved, f->now, &error);
  g_assert_no_error (error);
  FzClientState *old = f->cl;
  f->cl = next;
  to_client (f, "init",
             "{\"interface\":{\"ipv4\":\"" ME4 "\",\"ipv6\":\"" ME6 "\","
             "\"upstream_do53\":[{\"ip\":\"1.1.1.1\"}]},\"resources\":[" DNS_CORP "],"
             "\"relays\":[]}");
  client_side (f);
  app_dns (f, SENT4, "a.corp.example.", LDNS_RR_TYPE_A, 3);
  ldns_pkt *a = expect_dns (f, SENT4);
  g_autofree char *first = answer_addr (a, 0);
  g_assert_cmpstr (first, ==, "100.96.0.5");
  ldns_pkt_free (a);
  f->cl = old;

  FzClientState *bad
    = fz_client_state_new (key, &f->rng, f->pool, "{\"version\":2}", f->now, &error);
  g_assert_null (bad);
  g_assert_error (error, FZ_PROXY_IPS_ERROR, FZ_PROXY_IPS_ERROR_INVALID);
}

/* A network change: connections go, resources stay, the next packet
 * authorizes again. */
static void
test_reset (Fx *f, gconstpointer data)
{
  (void) data;
  app_udp (f, ME4, "10.1.2.3", 4000, 7, "x", 1);
  pump (f, 3 * S);
  expect_tun (f, "10.1.2.3", 7);
  fz_client_state_reset (f->cl, f->now);
  fz_node_add_host_address (fz_client_state_get_node (f->cl), &f->cl_addr, f->now);
  client_side (f);
  g_assert_cmpint (status_of (f, "r-host"), ==, FZ_CLIENT_SITE_UNKNOWN);
  g_assert_cmpuint (fz_node_n_connections (fz_client_state_get_node (f->cl)), ==, 0);
  app_udp (f, ME4, "10.1.2.3", 4000, 7, "x", 1);
  g_assert_cmpuint (f->n_requests, ==, 2);
  /* The gateway keeps its side of the connection (same ICE credentials)
   * and signals no candidates again: the test's portal repeats them. */
  g_autoptr (FzPortalMessage) c = fz_portal_message_new (FZ_PORTAL_ICE_CANDIDATES);
  c->peer_id = g_strdup ("gw-1");
  g_array_append_vals (c->candidates, f->gw_candidates->data, f->gw_candidates->len);
  fz_client_state_handle_portal (f->cl, c, f->now);
  pump (f, 5 * S);
  expect_tun (f, "10.1.2.3", 7);
}

/* Sign-out: the gateway gets a goodbye and forgets us. */
static void
test_shutdown (Fx *f, gconstpointer data)
{
  (void) data;
  app_udp (f, ME4, "10.1.2.3", 4000, 7, "x", 1);
  pump (f, 3 * S);
  expect_tun (f, "10.1.2.3", 7);
  g_assert_cmpuint (fz_gateway_state_n_clients (f->gw), ==, 1);
  fz_client_state_shutdown (f->cl, f->now);
  pump (f, 0);
  g_assert_cmpuint (fz_gateway_state_n_clients (f->gw), ==, 0);
  g_assert_cmpuint (fz_client_state_get_resources (f->cl)->len, ==, 0);
  app_udp (f, ME4, "10.1.2.3", 4000, 7, "x", 1);
  g_assert_true (g_queue_is_empty (&f->to_tun));
}

static void
test_disconnect (Fx *f, gconstpointer data)
{
  (void) data;
  to_client (f, "disconnect", "{\"reason\":\"token_expired\"}");
  client_side (f);
  g_assert_cmpuint (f->n_fatal, ==, 1);
}

/* Two gateways given one tunnel address, then the first goes: the
 * address index must not keep a key inside the freed gateway (ASan saw a
 * use after free here), and the address belongs to the second. */
static void
test_gateway_address_moves (Fx *f, gconstpointer data)
{
  (void) data;
  app_tcp (f, ME4, "10.1.7.7", 40001, 80, FZ_TCP_SYN); /* gw-1 at GW4 */
  pump (f, 3 * S);
  expect_tun (f, "10.1.7.7", 80);
  guint8 k2[32];
  fz_rng_fill (&f->rng, k2, sizeof k2);
  g_autofree char *k2s = b64 (k2);
  g_autofree char *psk = b64 (f->psk);
  const char *fmt
    = "{\"resource_id\":\"%s\",\"gateway_id\":\"%s\",\"gateway_public_key\":\"%s\","
      "\"gateway_ipv4\":\"" GW4 "\",\"gateway_ipv6\":\"fd00:2021:1111::1\","
      "\"site_id\":\"site-1\",\"preshared_key\":\"%s\",\"client_ice_credentials\":"
      "{\"username\":\"cuuu\",\"password\":\"cp0123456789012345678901\"},"
      "\"gateway_ice_credentials\":{\"username\":\"guuu\","
      "\"password\":\"gp0123456789012345678901\"}}";
  g_autofree char *a2 = g_strdup_printf (fmt, "r-host", "gw-2", k2s, psk);
  g_test_expect_message ("fz", G_LOG_LEVEL_WARNING,
                         "*gid=gw-2 now has the tunnel address of another*");
  to_client (f, "authorization_created", a2);
  g_test_assert_expected_messages ();
  /* gw-1 again with gw-2's key: the node refuses it and gw-1 goes. */
  g_autofree char *a1 = g_strdup_printf (fmt, "r-web", "gw-1", k2s, psk);
  g_test_expect_message ("fz", G_LOG_LEVEL_WARNING, "*peer already exists*");
  to_client (f, "authorization_created", a1);
  g_test_assert_expected_messages ();
  client_side (f);
  /* A packet to the address looks the index up: nothing freed is read. */
  app_udp (f, ME4, GW4, 4000, 7, "x", 1);
  pump (f, S);
}

/* A gateway may send errors only about flows to resources it serves: an
 * "unreachable" about our SSH to a LAN host is not written to the TUN,
 * one about its own resource is. */
static void
test_gateway_icmp_errors (Fx *f, gconstpointer data)
{
  (void) data;
  app_udp (f, ME4, "10.1.2.3", 4000, 7, "x", 1);
  pump (f, 3 * S);
  expect_tun (f, "10.1.2.3", 7);
  const char *about[] = { "192.168.1.10", "10.1.2.3" };
  for (guint i = 0; i < G_N_ELEMENTS (about); i++)
    {
      FzPacketBuf *orig = fz_buf_pool_alloc (f->pool);
      FzIpPacket o, out;
      FzIpAddr s = ip (ME4), d = ip (about[i]);
      FzTcpSegment seg = { .sport = 50000, .dport = 22, .seq = 1, .flags = FZ_TCP_SYN };
      g_assert_true (fz_ip_build_tcp (orig, &o, &s, &d, &seg, NULL, 0, NULL));
      FzPacketBuf *icmp = fz_buf_pool_alloc (f->pool);
      g_assert_true (
        fz_ip_build_icmp_unreachable (icmp, &out, &o, FZ_ICMP_NET_UNREACHABLE, NULL));
      fz_packet_buf_free (orig);
      FzNodeTransmit tx;
      g_assert_cmpint (
        fz_node_encapsulate (fz_gateway_state_get_node (f->gw), "c-1", icmp, f->now, &tx),
        ==, FZ_NODE_SEND);
      fz_client_state_handle_datagram (f->cl, &f->cl_addr, &f->gw_addr, tx.buf, f->now);
      client_side (f);
      g_assert_cmpuint (g_queue_get_length (&f->to_app), ==, i);
    }
  expect_icmp (f, 3, 0);
  /* And shutting down twice is harmless; later input is ignored. */
  fz_client_state_shutdown (f->cl, f->now);
  fz_client_state_shutdown (f->cl, f->now);
  fz_client_state_handle_timeout (f->cl, f->now + 100 * S);
  fz_client_state_set_internet_resource_enabled (f->cl, TRUE, f->now);
}

/* Whether the client still has a connection to gw-1, and the gateway
 * still has us (it forgets us on our goodbye). */
static void
assert_connected (Fx *f, gboolean yes)
{
  g_assert_cmpuint (fz_node_n_connections (fz_client_state_get_node (f->cl)), ==,
                    yes ? 1 : 0);
  g_assert_cmpuint (fz_gateway_state_n_clients (f->gw), ==, yes ? 1 : 0);
}

/* A resource deleted: its route goes, a later packet to it goes nowhere,
 * and the gateway left serving nothing gets a goodbye and is forgotten
 * (connlib's remove_resource). Back again, it is authorized again. */
static void
test_remove_resource_closes_gateway (Fx *f, gconstpointer data)
{
  (void) data;
  app_tcp (f, ME4, "10.1.7.7", 40001, 80, FZ_TCP_SYN);
  pump (f, 3 * S);
  expect_tun (f, "10.1.7.7", 80);
  assert_connected (f, TRUE);
  g_assert_cmpint (status_of (f, "r-host"), ==, FZ_CLIENT_SITE_ONLINE);

  to_client (f, "resource_deleted", "\"r-web\"");
  pump (f, 0);
  g_assert_false (has_route (f, "10.1.0.0/16"));
  assert_connected (f, FALSE);
  g_assert_cmpint (status_of (f, "r-host"), ==, FZ_CLIENT_SITE_UNKNOWN);
  app_tcp (f, ME4, "10.1.7.7", 40001, 80, FZ_TCP_ACK);
  app_udp (f, ME4, GW4, 4000, 7, "x", 1); /* the gateway's address: unknown now */
  pump (f, 3 * S);
  g_assert_cmpuint (f->n_requests, ==, 1);
  g_assert_true (g_queue_is_empty (&f->to_tun));
  g_assert_true (g_queue_is_empty (&f->to_app));

  to_client (f, "resource_created_or_updated", CIDR_WEB);
  f->auto_authorize = FALSE;
  app_tcp (f, ME4, "10.1.7.7", 40001, 80, FZ_TCP_ACK);
  g_assert_cmpuint (f->n_requests, ==, 2);
  g_assert_true (g_queue_is_empty (&f->to_tun));
  authorize (f, "r-web");
  pump (f, 3 * S);
  expect_tun (f, "10.1.7.7", 80);
}

/* A gateway serving two resources stays while one is left. */
static void
test_remove_resource_shared_gateway (Fx *f, gconstpointer data)
{
  (void) data;
  app_tcp (f, ME4, "10.1.7.7", 40001, 80, FZ_TCP_SYN);
  pump (f, 3 * S);
  app_udp (f, ME4, "10.1.2.3", 4000, 7, "x", 1);
  pump (f, S);
  expect_tun (f, "10.1.7.7", 80);
  expect_tun (f, "10.1.2.3", 7);
  to_client (f, "resource_deleted", "\"r-host\"");
  pump (f, 0);
  assert_connected (f, TRUE);
  app_tcp (f, ME4, "10.1.7.7", 40001, 80, FZ_TCP_ACK);
  expect_tun (f, "10.1.7.7", 80);
  g_assert_cmpuint (f->n_requests, ==, 2);
  to_client (f, "resource_deleted", "\"r-web\"");
  pump (f, 0);
  assert_connected (f, FALSE);
}

/* Deleted while its packets wait for the authorization: they are
 * dropped, unanswered (as connlib drops its pending flows: the resource
 * is gone, not refused), and a late authorization delivers nothing. */
static void
test_remove_resource_buffered (Fx *f, gconstpointer data)
{
  (void) data;
  f->auto_authorize = FALSE;
  app_udp (f, ME4, "10.1.2.3", 4000, 7, "x", 1);
  to_client (f, "resource_deleted", "\"r-host\"");
  authorize (f, "r-host");
  pump (f, 3 * S);
  g_assert_true (g_queue_is_empty (&f->to_tun));
  g_assert_true (g_queue_is_empty (&f->to_app));
  g_assert_cmpuint (fz_node_n_connections (fz_client_state_get_node (f->cl)), ==, 0);
}

/* An init without a resource removes it the same way. */
static void
test_init_drops_resource (Fx *f, gconstpointer data)
{
  (void) data;
  app_tcp (f, ME4, "10.1.7.7", 40001, 80, FZ_TCP_SYN);
  pump (f, 3 * S);
  expect_tun (f, "10.1.7.7", 80);
  to_client (f, "init",
             "{\"interface\":{\"ipv4\":\"" ME4 "\",\"ipv6\":\"" ME6 "\","
             "\"upstream_do53\":[{\"ip\":\"1.1.1.1\"}]},\"resources\":[" CIDR_HOST
             "," DNS_CORP "," INTERNET "],\"relays\":[]}");
  pump (f, 0);
  assert_connected (f, FALSE);
  app_tcp (f, ME4, "10.1.7.7", 40001, 80, FZ_TCP_ACK);
  pump (f, 3 * S);
  g_assert_true (g_queue_is_empty (&f->to_tun));
  g_assert_cmpuint (f->n_requests, ==, 1);
}

/* A DNS resource deleted: its NAT goes with the gateway, and its proxy
 * IPs lead nowhere. */
static void
test_remove_dns_resource (Fx *f, gconstpointer data)
{
  (void) data;
  app_dns (f, SENT4, "app.corp.example.", LDNS_RR_TYPE_A, 1);
  ldns_pkt_free (expect_dns (f, SENT4));
  app_tcp (f, ME4, "100.96.0.1", 40001, 443, FZ_TCP_SYN);
  pump (f, 3 * S);
  expect_tun (f, "10.9.9.9", 443);
  to_client (f, "resource_deleted", "\"r-corp\"");
  pump (f, 0);
  assert_connected (f, FALSE);
  guint assigned = f->n_assigned;
  app_tcp (f, ME4, "100.96.0.1", 40001, 443, FZ_TCP_ACK);
  pump (f, 3 * S);
  g_assert_true (g_queue_is_empty (&f->to_tun));
  g_assert_true (g_queue_is_empty (&f->to_app));
  g_assert_cmpuint (f->n_requests, ==, 1);
  g_assert_cmpuint (f->n_assigned, ==, assigned);
}

/* The Internet resource off drops its authorization like a deletion: its
 * gateway, serving nothing else, is closed; on again, it is authorized
 * again before anything goes. */
static void
test_internet_off_deauthorizes (Fx *f, gconstpointer data)
{
  (void) data;
  fz_client_state_set_internet_resource_enabled (f->cl, TRUE, f->now);
  app_udp (f, ME4, "192.0.2.1", 4000, 123, "x", 1);
  pump (f, 3 * S);
  expect_tun (f, "192.0.2.1", 123);
  fz_client_state_set_internet_resource_enabled (f->cl, FALSE, f->now);
  pump (f, 0);
  g_assert_false (has_route (f, "0.0.0.0/0"));
  assert_connected (f, FALSE);

  f->auto_authorize = FALSE;
  fz_client_state_set_internet_resource_enabled (f->cl, TRUE, f->now);
  app_udp (f, ME4, "192.0.2.1", 4000, 123, "y", 1);
  pump (f, S);
  g_assert_cmpuint (f->n_requests, ==, 2);
  g_assert_true (g_queue_is_empty (&f->to_tun));
  authorize (f, "r-inet");
  pump (f, 3 * S);
  expect_tun (f, "192.0.2.1", 123);
}

/* A query straight into the client, its events left unpolled; the
 * answer is read off the TUN and dropped. */
static void
dns_unpolled (Fx *f, const char *name)
{
  g_autoptr (GBytes) q = dns_query (name, LDNS_RR_TYPE_A, 1);
  FzPacketBuf *buf = fz_buf_pool_alloc (f->pool);
  FzIpPacket pkt;
  FzIpAddr s = ip (ME4), d = ip (SENT4);
  gsize len;
  const guint8 *data = g_bytes_get_data (q, &len);

  g_assert_true (fz_ip_build_udp (buf, &pkt, &s, &d, 5353, 53, data, len, NULL));
  fz_client_state_handle_tun (f->cl, buf, f->now);
  while ((buf = fz_client_state_poll_tun (f->cl)) != NULL)
    fz_packet_buf_free (buf);
}

/* MAPPINGS means "save them again": one event for 100 new names asked
 * before the host polls, not 100. */
static void
test_mappings_coalesced (Fx *f, gconstpointer data)
{
  (void) data;
  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *name = g_strdup_printf ("m%u.corp.example.", i);
      dns_unpolled (f, name);
    }
  client_side (f);
  g_assert_cmpuint (f->n_mappings, ==, 1);
  dns_unpolled (f, "m7.corp.example."); /* known: no change */
  client_side (f);
  g_assert_cmpuint (f->n_mappings, ==, 1);
  dns_unpolled (f, "late.corp.example."); /* after the poll: a new event */
  client_side (f);
  g_assert_cmpuint (f->n_mappings, ==, 2);
}

/* With FZ_PROXY_IPS_MAX_NAMES names mapped, a new one gets SERVFAIL and
 * the session one RESOURCE_UNREACHABLE (not one per query); known names
 * keep answering. */
static void
test_proxy_ips_full (Fx *f, gconstpointer data)
{
  (void) data;
  for (guint i = 0; i < FZ_PROXY_IPS_MAX_NAMES; i++)
    {
      char name[64];
      g_snprintf (name, sizeof name, "n%u.corp.example.", i);
      dns_unpolled (f, name);
    }
  client_side (f);
  g_assert_cmpuint (f->n_mappings, ==, 1);
  g_assert_true (g_queue_is_empty (&f->unreachable));
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("new%u.corp.example.", i);
      /* One warning: another would be fatal. */
      if (i == 0)
        g_test_expect_message ("fz", G_LOG_LEVEL_WARNING,
                               "*no proxy IPs for a new name*");
      app_dns (f, SENT4, name, LDNS_RR_TYPE_A, 2);
      g_test_assert_expected_messages ();
      ldns_pkt *a = expect_dns (f, SENT4);
      g_assert_cmpint (ldns_pkt_get_rcode (a), ==, LDNS_RCODE_SERVFAIL);
      ldns_pkt_free (a);
    }
  g_assert_cmpuint (g_queue_get_length (&f->unreachable), ==, 1);
  FzClientEvent *e = g_queue_pop_head (&f->unreachable);
  g_assert_cmpstr (e->resource_id, ==, "r-corp");
  g_assert_cmpstr (e->reason, ==, "proxy_ips_exhausted");
  event_free (e);
  g_assert_cmpuint (f->n_mappings, ==, 1);

  app_dns (f, SENT4, "n7.corp.example.", LDNS_RR_TYPE_A, 3);
  ldns_pkt *a = expect_dns (f, SENT4);
  g_assert_cmpint (ldns_pkt_get_rcode (a), ==, LDNS_RCODE_NOERROR);
  g_assert_cmpuint (ldns_pkt_ancount (a), ==, 4);
  ldns_pkt_free (a);
}

#define CIDR_DC                                                                          \
  "{\"id\":\"r-dc\",\"type\":\"cidr\",\"address\":\"10.3.0.0/16\",\"name\":\"dc\","      \
  "\"sites\":[{\"id\":\"site-2\",\"name\":\"DC\"}],\"filters\":[]}"
#define CIDR_LAB                                                                         \
  "{\"id\":\"r-lab\",\"type\":\"cidr\",\"address\":\"10.4.0.0/16\",\"name\":\"lab\","    \
  "\"sites\":[{\"id\":\"site-1\",\"name\":\"HQ\"}],\"filters\":[]}"

/* RESOURCES only when the list or a site's status changed, and one for
 * all that changed before the host polled. */
static void
test_resources_events (Fx *f, gconstpointer data)
{
  guint n = f->n_resources;

  (void) data;
  to_client (f, "resource_created_or_updated", CIDR_DC);
  client_side (f);
  g_assert_cmpuint (f->n_resources, ==, ++n);
  /* site-1's gateway connects: all its resources online, one event. */
  app_udp (f, ME4, "10.1.2.3", 4000, 7, "x", 1);
  pump (f, 3 * S);
  g_assert_cmpuint (f->n_resources, ==, ++n);
  g_assert_cmpint (status_of (f, "r-web"), ==, FZ_CLIENT_SITE_ONLINE);
  /* Another resource of the online site authorized: nothing changed. */
  app_tcp (f, ME4, "10.1.7.7", 40001, 80, FZ_TCP_SYN);
  pump (f, S);
  g_assert_cmpuint (f->n_resources, ==, n);
  /* A new resource of the online site: the list and its status, one. */
  to_client (f, "resource_created_or_updated", CIDR_LAB);
  client_side (f);
  g_assert_cmpuint (f->n_resources, ==, ++n);
  g_assert_cmpint (status_of (f, "r-lab"), ==, FZ_CLIENT_SITE_ONLINE);
  /* The same again, or deleting what is not there: nothing changed. */
  to_client (f, "resource_created_or_updated", CIDR_LAB);
  to_client (f, "resource_deleted", "\"r-none\"");
  client_side (f);
  g_assert_cmpuint (f->n_resources, ==, n);
  /* site-2 offline, twice: two errors, one status change. */
  f->fail_reason = "offline";
  app_udp (f, ME4, "10.3.0.1", 4000, 7, "x", 1);
  f->now += 3 * S;
  app_udp (f, ME4, "10.3.0.1", 4000, 7, "x", 1);
  g_assert_cmpuint (g_queue_get_length (&f->unreachable), ==, 2);
  g_assert_cmpint (status_of (f, "r-dc"), ==, FZ_CLIENT_SITE_OFFLINE);
  g_assert_cmpuint (f->n_resources, ==, ++n);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, fn) g_test_add ("/client-state/" name, Fx, NULL, setup, fn, teardown)
  ADD ("cidr-round-trip", test_cidr_round_trip);
  ADD ("cidr-longest-prefix", test_cidr_longest_prefix);
  ADD ("ipv6", test_ipv6);
  ADD ("filter-denied", test_filter_denied);
  ADD ("dropped", test_dropped);
  ADD ("buffer-and-debounce", test_buffer_and_debounce);
  ADD ("buffer-bounded", test_buffer_bounded);
  ADD ("authorization-failed", test_authorization_failed);
  ADD ("dns-resource", test_dns_resource);
  ADD ("dns-resource-inactive", test_dns_resource_inactive);
  ADD ("dns-resource-resend", test_dns_resource_resend);
  ADD ("dns-resource-gives-up", test_dns_resource_gives_up);
  ADD ("resource-changes-site", test_resource_changes_site);
  ADD ("same-prefix", test_same_prefix);
  ADD ("buffer-identical", test_buffer_identical);
  ADD ("dns-ip-stack", test_dns_ip_stack);
  ADD ("relays", test_relays);
  ADD ("dns-upstream", test_dns_upstream);
  ADD ("dns-upstream-capped", test_dns_upstream_capped);
  ADD ("dns-upstream-bounded", test_dns_upstream_bounded);
  ADD ("dns-upstream-rebinding", test_dns_upstream_rebinding);
  ADD ("dns-local", test_dns_local);
  ADD ("dns-srv-via-gateway", test_dns_srv_via_gateway);
  ADD ("dns-srv-gateway-gone", test_dns_srv_gateway_gone);
  ADD ("dns-tcp", test_dns_tcp);
  ADD ("interface", test_interface);
  ADD ("internet-resource", test_internet_resource);
  ADD ("mappings", test_mappings);
  ADD ("reset", test_reset);
  ADD ("gateway-address-moves", test_gateway_address_moves);
  ADD ("gateway-icmp-errors", test_gateway_icmp_errors);
  ADD ("shutdown", test_shutdown);
  ADD ("disconnect", test_disconnect);
  ADD ("remove-resource-closes-gateway", test_remove_resource_closes_gateway);
  ADD ("remove-resource-shared-gateway", test_remove_resource_shared_gateway);
  ADD ("remove-resource-buffered", test_remove_resource_buffered);
  ADD ("init-drops-resource", test_init_drops_resource);
  ADD ("remove-dns-resource", test_remove_dns_resource);
  ADD ("internet-off-deauthorizes", test_internet_off_deauthorizes);
  ADD ("mappings-coalesced", test_mappings_coalesced);
  ADD ("proxy-ips-full", test_proxy_ips_full);
  ADD ("resources-events", test_resources_events);
  return g_test_run ();
}
