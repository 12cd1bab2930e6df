/* The TURN client against a scripted relay, on injected time. */
#include "fz-private.h"

#include <string.h>

#define S  G_USEC_PER_SEC
#define T0 (1000 * S)

typedef struct
{
  FzRng rng;
  FzAllocation *a;
  gint64 now;
  FzSockAddr srv4, srv6, local4, local6, mapped4, relay4, relay6, peer4, peer6;
  guint8 key[16];
  /* the last request the relay got */
  guint8 req_buf[2048];
  FzStunMessage req;
  FzSockAddr req_dst;
} Fx;

static void
addr (FzSockAddr *sa, const char *ip, guint16 port)
{
  g_assert_true (fz_ip_addr_parse (&sa->ip, ip));
  sa->port = port;
}

static void
fx_init (Fx *f, gboolean dual)
{
  memset (f, 0, sizeof *f);
  fz_rng_init_seeded (&f->rng, 7);
  f->now = T0;
  addr (&f->srv4, "198.51.100.1", 3478);
  addr (&f->srv6, "2001:db8::3478", 3478);
  addr (&f->local4, "192.168.1.2", 52625);
  addr (&f->local6, "2001:db8:1::2", 52625);
  addr (&f->mapped4, "203.0.113.9", 61000);
  addr (&f->relay4, "198.51.100.1", 50000);
  addr (&f->relay6, "2001:db8::3478", 50002);
  addr (&f->peer4, "192.0.2.77", 4000);
  addr (&f->peer6, "2001:db8:77::1", 4000);
  fz_stun_long_term_key ("user", "example.org", "secret", f->key);
  f->a = fz_allocation_new (&f->srv4, dual ? &f->srv6 : NULL, "user", "secret", NULL,
                            &f->rng, f->now);
}

static void
fx_clear (Fx *f)
{
  FzAllocationEvent e;
  while (fz_allocation_poll_event (f->a, &e))
    g_clear_error (&e.error);
  fz_allocation_free (f->a);
}

/* Takes the next datagram the client sends; it must be a request. */
static void
expect_request (Fx *f, FzStunMethod method)
{
  FzAllocationTransmit t;
  g_assert_true (fz_allocation_poll_transmit (f->a, &t));
  /* Room in front for the caller's ChannelData header, without a copy. */
  g_assert_cmpuint (fz_packet_buf_headroom (t.buf), ==, FZ_PACKET_BUF_HEADROOM);
  f->req_dst = t.dst;
  gsize n = t.buf->len;
  memcpy (f->req_buf, t.buf->data, n);
  fz_packet_buf_free (t.buf);
  g_autoptr (GError) error = NULL;
  g_assert_true (fz_stun_message_parse (&f->req, f->req_buf, n, &error));
  g_assert_cmpint (f->req.klass, ==, FZ_STUN_REQUEST);
  g_assert_cmpint (f->req.method, ==, method);
  g_assert_true (f->req.fingerprint);
}

static void
drain (Fx *f)
{
  FzAllocationTransmit t;
  while (fz_allocation_poll_transmit (f->a, &t))
    fz_packet_buf_free (t.buf);
}

/* Skips keepalives and retransmissions up to the next @method. */
static void
find_request (Fx *f, FzStunMethod method)
{
  FzAllocationTransmit t;
  while (fz_allocation_poll_transmit (f->a, &t))
    {
      f->req_dst = t.dst;
      gsize n = t.buf->len;
      memcpy (f->req_buf, t.buf->data, n);
      fz_packet_buf_free (t.buf);
      g_assert_true (fz_stun_message_parse (&f->req, f->req_buf, n, NULL));
      if (f->req.method == method)
        return;
    }
  g_error ("no request of method %d was sent", method);
}

static void
expect_nothing (Fx *f)
{
  FzAllocationTransmit t;
  g_assert_false (fz_allocation_poll_transmit (f->a, &t));
}

static gboolean
req_authenticated (Fx *f)
{
  g_autofree char *nonce = fz_stun_message_dup_string (&f->req, FZ_STUN_ATTR_NONCE);
  return nonce != NULL
         && fz_stun_message_check_integrity (&f->req, f->key, sizeof f->key);
}

typedef struct
{
  guint error;
  const char *nonce;
  const FzSockAddr *mapped, *relayed, *relayed2;
  guint32 lifetime;
  gboolean integrity, bad_integrity, unknown;
} Reply;

/* The relay answers the last request, from where it was sent. */
static gboolean
reply (Fx *f, const Reply *r, const FzSockAddr *local)
{
  guint8 buf[512];
  FzStunWriter w;
  fz_stun_writer_init (&w, buf, sizeof buf, f->req.method,
                       r->error ? FZ_STUN_ERROR : FZ_STUN_SUCCESS, f->req.tid);
  if (r->error)
    fz_stun_writer_add_error (&w, r->error, "Because");
  if (r->nonce)
    {
      fz_stun_writer_add_string (&w, FZ_STUN_ATTR_REALM, "example.org");
      fz_stun_writer_add_string (&w, FZ_STUN_ATTR_NONCE, r->nonce);
    }
  if (r->relayed)
    fz_stun_writer_add_xor_address (&w, FZ_STUN_ATTR_XOR_RELAYED_ADDRESS, r->relayed);
  if (r->relayed2)
    fz_stun_writer_add_xor_address (&w, FZ_STUN_ATTR_XOR_RELAYED_ADDRESS, r->relayed2);
  if (r->mapped)
    fz_stun_writer_add_xor_address (&w, FZ_STUN_ATTR_XOR_MAPPED_ADDRESS, r->mapped);
  if (r->lifetime)
    fz_stun_writer_add_u32 (&w, FZ_STUN_ATTR_LIFETIME, r->lifetime);
  if (r->unknown)
    fz_stun_writer_add_u32 (&w, 0x0077, 0);
  if (r->integrity)
    fz_stun_writer_add_integrity (
      &w, r->bad_integrity ? (const guint8 *) "0123456789abcdef" : f->key, 16);
  fz_stun_writer_add_fingerprint (&w);
  FzRelayedData d;
  return fz_allocation_handle_input (f->a, local, &f->req_dst, buf,
                                     fz_stun_writer_finish (&w), f->now, &d)
         == FZ_ALLOCATION_INPUT_HANDLED;
}

static void
expect_event (Fx *f, FzAllocationEventType type, FzIceCandidateType ctype,
              const FzSockAddr *at)
{
  FzAllocationEvent e;
  g_assert_true (fz_allocation_poll_event (f->a, &e));
  g_assert_cmpint (e.type, ==, type);
  if (type != FZ_ALLOCATION_EVENT_FAILED)
    {
      g_assert_cmpint (e.candidate.type, ==, ctype);
      g_assert_true (fz_sock_addr_equal (&e.candidate.addr, at));
    }
  g_clear_error (&e.error);
}

static void
drain_events (Fx *f)
{
  FzAllocationEvent e;
  while (fz_allocation_poll_event (f->a, &e))
    g_clear_error (&e.error);
}

static GError *
expect_failed (Fx *f)
{
  FzAllocationEvent e;
  g_assert_true (fz_allocation_poll_event (f->a, &e));
  g_assert_cmpint (e.type, ==, FZ_ALLOCATION_EVENT_FAILED);
  g_assert_nonnull (e.error);
  return e.error;
}

static void
expect_no_event (Fx *f)
{
  FzAllocationEvent e;
  g_assert_false (fz_allocation_poll_event (f->a, &e));
}

static void
advance (Fx *f, gint64 to)
{
  f->now = to;
  fz_allocation_handle_timeout (f->a, f->now);
}

/* Binding, the unauthenticated ALLOCATE and its 401, the real ALLOCATE. */
static void
allocate (Fx *f)
{
  expect_request (f, FZ_STUN_BINDING);
  g_assert_true (fz_sock_addr_equal (&f->req_dst, &f->srv4));
  g_assert_false (fz_stun_message_has (&f->req, FZ_STUN_ATTR_MESSAGE_INTEGRITY));
  g_assert_true (reply (f, &(Reply){ .mapped = &f->mapped4 }, &f->local4));
  expect_event (f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_HOST, &f->local4);
  expect_event (f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_SRFLX, &f->mapped4);

  expect_request (f, FZ_STUN_ALLOCATE);
  guint32 transport;
  g_assert_true (
    fz_stun_message_get_u32 (&f->req, FZ_STUN_ATTR_REQUESTED_TRANSPORT, &transport));
  g_assert_cmphex (transport, ==, 17u << 24);
  g_assert_false (fz_stun_message_has (&f->req, FZ_STUN_ATTR_USERNAME));
  g_assert_true (reply (f, &(Reply){ .error = 401, .nonce = "n1" }, &f->local4));
  expect_no_event (f);

  expect_request (f, FZ_STUN_ALLOCATE);
  g_assert_true (req_authenticated (f));
  g_autofree char *user = fz_stun_message_dup_string (&f->req, FZ_STUN_ATTR_USERNAME);
  g_assert_cmpstr (user, ==, "user");
  g_assert_true (reply (
    f,
    &(Reply){
      .relayed = &f->relay4, .mapped = &f->mapped4, .lifetime = 600, .integrity = TRUE },
    &f->local4));
  expect_event (f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_RELAY, &f->relay4);
  expect_no_event (f);
  expect_nothing (f);
  g_assert_true (fz_allocation_is_allocated (f->a));
}

static void
test_allocate (void)
{
  Fx f;
  fx_init (&f, FALSE);
  g_assert_cmpint (fz_allocation_rtt (f.a), ==, -1);
  f.now += 30000; /* the first answer comes after 30 ms */
  allocate (&f);
  g_assert_cmpint (fz_allocation_rtt (f.a), ==, 0); /* later answers came at once */
  FzSockAddr relayed;
  g_assert_true (fz_allocation_get_relayed (f.a, 4, &relayed));
  g_assert_true (fz_sock_addr_equal (&relayed, &f.relay4));
  g_assert_false (fz_allocation_get_relayed (f.a, 6, &relayed));
  /* Next: the keepalive at 25 s, not the refresh at 300 s. */
  g_assert_cmpint (fz_allocation_poll_timeout (f.a), ==, f.now + 25 * S);

  /* Keepalives every 25 s, a refresh at lifetime / 2. */
  gint64 t = f.now;
  for (int i = 1; i <= 11; i++)
    {
      advance (&f, t + i * 25 * S);
      expect_request (&f, FZ_STUN_BINDING);
      g_assert_true (reply (&f, &(Reply){ .mapped = &f.mapped4 }, &f.local4));
      expect_nothing (&f);
    }
  advance (&f, t + 300 * S);
  expect_request (&f, FZ_STUN_BINDING);
  expect_request (&f, FZ_STUN_REFRESH);
  guint32 lifetime;
  g_assert_true (fz_stun_message_get_u32 (&f.req, FZ_STUN_ATTR_LIFETIME, &lifetime));
  g_assert_cmpuint (lifetime, ==, 600);
  g_assert_true (req_authenticated (&f));
  g_assert_true (reply (&f, &(Reply){ .lifetime = 120, .integrity = TRUE }, &f.local4));
  expect_no_event (&f);
  /* The granted 120 s makes the next refresh 60 s later. */
  advance (&f, f.now + 60 * S - 1);
  drain (&f);
  advance (&f, f.now + 1);
  find_request (&f, FZ_STUN_REFRESH);
  drain (&f);

  /* refresh() checks at once: bindings and a REFRESH. */
  f.now += 5 * S;
  fz_allocation_refresh (f.a, f.now);
  find_request (&f, FZ_STUN_REFRESH);
  g_assert_true (reply (&f, &(Reply){ .lifetime = 900, .integrity = TRUE }, &f.local4));
  g_assert_cmpint (fz_allocation_expires_at (f.a), ==, f.now + 900 * S);
  fx_clear (&f);
}

static void
test_dual_stack (void)
{
  Fx f;
  fx_init (&f, TRUE);
  /* Bindings to both addresses; the IPv6 one answers first. */
  expect_request (&f, FZ_STUN_BINDING);
  guint8 v4_tid[12];
  memcpy (v4_tid, f.req.tid, 12);
  expect_request (&f, FZ_STUN_BINDING);
  g_assert_true (fz_sock_addr_equal (&f.req_dst, &f.srv6));
  g_assert_true (reply (&f, &(Reply){ .mapped = &f.local6 }, &f.local6));
  /* A mapped address equal to the host one is no srflx candidate. */
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_HOST, &f.local6);
  expect_no_event (&f);

  expect_request (&f, FZ_STUN_ALLOCATE);
  g_assert_true (fz_sock_addr_equal (&f.req_dst, &f.srv6));
  guint32 fam;
  g_assert_true (
    fz_stun_message_get_u32 (&f.req, FZ_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, &fam));
  g_assert_cmphex (fam, ==, 0x02000000);
  g_assert_true (
    fz_stun_message_get_u32 (&f.req, FZ_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY_DRAFT, &fam));
  g_assert_cmphex (fam, ==, 0x02000000);
  /* The relay cannot: 440, and the client asks for one family. */
  g_assert_true (reply (&f, &(Reply){ .error = 440 }, &f.local6));
  expect_request (&f, FZ_STUN_ALLOCATE);
  g_assert_false (fz_stun_message_has (&f.req, FZ_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY));
  g_assert_false (
    fz_stun_message_has (&f.req, FZ_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY_DRAFT));
  g_assert_true (
    fz_stun_message_get_u32 (&f.req, FZ_STUN_ATTR_REQUESTED_ADDRESS_FAMILY, &fam));
  g_assert_cmphex (fam, ==, 0x02000000);
  g_assert_true (reply (&f, &(Reply){ .error = 401, .nonce = "n" }, &f.local6));
  expect_request (&f, FZ_STUN_ALLOCATE);
  g_assert_true (reply (
    &f,
    &(Reply){
      .relayed = &f.relay4, .relayed2 = &f.relay6, .lifetime = 600, .integrity = TRUE },
    &f.local6));
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_RELAY, &f.relay4);
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_RELAY, &f.relay6);
  /* The IPv4 binding's answer still brings the IPv4 host candidate. */
  memcpy (f.req.tid, v4_tid, 12);
  f.req.method = FZ_STUN_BINDING;
  f.req_dst = f.srv4;
  g_assert_true (reply (&f, &(Reply){ .mapped = &f.mapped4 }, &f.local4));
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_HOST, &f.local4);
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_SRFLX, &f.mapped4);

  /* Data for an IPv4 peer goes through the IPv6 5-tuple. */
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 64);
  fz_packet_buf_set (buf, "hi", 2);
  FzSockAddr to;
  g_assert_true (fz_allocation_encapsulate (f.a, &f.peer4, buf, f.now, &to));
  g_assert_true (fz_sock_addr_equal (&to, &f.srv6));
  fx_clear (&f);
}

static void
test_retransmit (void)
{
  Fx f;
  fx_init (&f, FALSE);
  /* Sent at 0, 1, 2.5 and 4.75 s; given up at 8.125 s. */
  static const gint64 at[] = { 0, 1000000, 2500000, 4750000 };
  for (guint i = 0; i < G_N_ELEMENTS (at); i++)
    {
      g_assert_cmpint (f.now, ==, T0 + at[i]);
      expect_request (&f, FZ_STUN_BINDING);
      expect_nothing (&f);
      gint64 next = fz_allocation_poll_timeout (f.a);
      advance (&f, next - 1);
      expect_nothing (&f);
      advance (&f, next);
    }
  g_assert_cmpint (f.now, ==, T0 + 8125000);
  expect_nothing (&f);
  g_autoptr (GError) error = expect_failed (&f);
  g_assert_error (error, FZ_ALLOCATION_ERROR, FZ_ALLOCATION_ERROR_TIMEOUT);
  g_assert_nonnull (strstr (error->message, "198.51.100.1:3478 did not answer"));

  /* It starts over by itself after 5 s, then 10, 20, 40, 60, 60 s,
   * without reporting the same failure again. */
  static const gint64 pause[] = { 5, 10, 20, 40, 60, 60 };
  for (guint i = 0; i < G_N_ELEMENTS (pause); i++)
    {
      gint64 failed_at = f.now;
      g_assert_cmpint (fz_allocation_poll_timeout (f.a), ==, failed_at + pause[i] * S);
      advance (&f, failed_at + pause[i] * S);
      expect_request (&f, FZ_STUN_BINDING);
      for (int k = 0; k < 3; k++)
        {
          advance (&f, fz_allocation_poll_timeout (f.a));
          expect_request (&f, FZ_STUN_BINDING);
        }
      advance (&f, fz_allocation_poll_timeout (f.a));
      expect_no_event (&f);
    }

  /* The relay is back (refresh() does not wait for the pause); an answer
   * to a retransmission is no RTT sample. */
  g_assert_cmpint (fz_allocation_expires_at (f.a), ==, 0);
  fz_allocation_refresh (f.a, f.now + S);
  f.now += S;
  expect_request (&f, FZ_STUN_BINDING);
  advance (&f, f.now + S);
  expect_request (&f, FZ_STUN_BINDING);
  f.now += 100000;
  g_assert_true (reply (&f, &(Reply){ .mapped = &f.mapped4 }, &f.local4));
  g_assert_cmpint (fz_allocation_rtt (f.a), ==, -1);
  expect_request (&f, FZ_STUN_ALLOCATE);
  g_assert_true (reply (&f, &(Reply){ .error = 401, .nonce = "n" }, &f.local4));
  expect_request (&f, FZ_STUN_ALLOCATE);
  g_assert_true (
    reply (&f, &(Reply){ .relayed = &f.relay4, .integrity = TRUE }, &f.local4));
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_HOST, &f.local4);
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_SRFLX, &f.mapped4);
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_RELAY, &f.relay4);
  g_assert_true (fz_allocation_is_allocated (f.a));
  fx_clear (&f);
}

static void
test_bad_credentials (void)
{
  Fx f;
  fx_init (&f, FALSE);
  fz_allocation_free (f.a);
  f.a = fz_allocation_new (&f.srv4, NULL, "user", "wrong", "example.org", &f.rng, f.now);
  expect_request (&f, FZ_STUN_BINDING);
  g_assert_true (reply (&f, &(Reply){ .mapped = &f.mapped4 }, &f.local4));
  expect_request (&f, FZ_STUN_ALLOCATE);
  g_assert_true (reply (&f, &(Reply){ .error = 401, .nonce = "n1" }, &f.local4));
  expect_request (&f, FZ_STUN_ALLOCATE);
  g_autofree char *nonce = fz_stun_message_dup_string (&f.req, FZ_STUN_ATTR_NONCE);
  g_assert_cmpstr (nonce, ==, "n1");
  g_assert_false (req_authenticated (&f)); /* wrong password, wrong key */
  /* 401 again although we sent its nonce: the credentials are bad. */
  g_assert_true (reply (&f, &(Reply){ .error = 401, .nonce = "n1" }, &f.local4));
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_HOST, &f.local4);
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_SRFLX, &f.mapped4);
  g_autoptr (GError) error = expect_failed (&f);
  g_assert_error (error, FZ_ALLOCATION_ERROR, FZ_ALLOCATION_ERROR_CREDENTIALS);
  g_assert_nonnull (strstr (error->message, "rejected the username or password (401"));
  g_assert_null (strstr (error->message, "wrong"));
  expect_nothing (&f);
  g_assert_cmpint (fz_allocation_poll_timeout (f.a), ==, G_MAXINT64);
  fx_clear (&f);

  /* Credentials that stop working later (a REST password expired): a
   * 401 on the nonce the refresh carried fails at once, no retry. */
  fx_init (&f, FALSE);
  allocate (&f);
  advance (&f, f.now + 300 * S);
  find_request (&f, FZ_STUN_REFRESH);
  g_assert_true (reply (&f, &(Reply){ .error = 401, .nonce = "n1" }, &f.local4));
  expect_event (&f, FZ_ALLOCATION_EVENT_INVALIDATED_CANDIDATE, FZ_ICE_RELAY, &f.relay4);
  g_autoptr (GError) e2 = expect_failed (&f);
  g_assert_error (e2, FZ_ALLOCATION_ERROR, FZ_ALLOCATION_ERROR_CREDENTIALS);
  expect_nothing (&f);
  fx_clear (&f);
}

static void
test_stale_nonce (void)
{
  Fx f;
  fx_init (&f, FALSE);
  allocate (&f);
  advance (&f, f.now + 300 * S);
  expect_request (&f, FZ_STUN_BINDING); /* keepalive due too */
  expect_request (&f, FZ_STUN_REFRESH);
  g_assert_true (reply (&f, &(Reply){ .error = 438, .nonce = "n2" }, &f.local4));
  expect_request (&f, FZ_STUN_REFRESH);
  g_autofree char *nonce = fz_stun_message_dup_string (&f.req, FZ_STUN_ATTR_NONCE);
  g_assert_cmpstr (nonce, ==, "n2");
  g_assert_true (req_authenticated (&f));
  g_assert_true (reply (&f, &(Reply){ .lifetime = 600, .integrity = TRUE }, &f.local4));
  expect_no_event (&f);
  /* A 401 carrying a nonce other than ours (the relay restarted) is a
   * retry too, not bad credentials. */
  g_assert_true (fz_allocation_bind_channel (f.a, &f.peer4, f.now));
  expect_request (&f, FZ_STUN_CHANNEL_BIND);
  g_assert_true (reply (&f, &(Reply){ .error = 401, .nonce = "n3" }, &f.local4));
  expect_request (&f, FZ_STUN_CHANNEL_BIND);
  g_assert_true (req_authenticated (&f));
  g_assert_true (reply (&f, &(Reply){ .integrity = TRUE }, &f.local4));
  expect_no_event (&f);
  g_assert_true (fz_allocation_is_allocated (f.a));
  fx_clear (&f);
}

static void
test_mismatch (void)
{
  Fx f;
  fx_init (&f, FALSE);
  expect_request (&f, FZ_STUN_BINDING);
  g_assert_true (reply (&f, &(Reply){ .mapped = &f.mapped4 }, &f.local4));
  expect_request (&f, FZ_STUN_ALLOCATE);
  g_assert_true (reply (&f, &(Reply){ .error = 401, .nonce = "n" }, &f.local4));
  expect_request (&f, FZ_STUN_ALLOCATE);
  /* 437 on ALLOCATE: delete the old allocation, then allocate. */
  g_assert_true (reply (&f, &(Reply){ .error = 437 }, &f.local4));
  expect_request (&f, FZ_STUN_REFRESH);
  guint32 lifetime;
  g_assert_true (fz_stun_message_get_u32 (&f.req, FZ_STUN_ATTR_LIFETIME, &lifetime));
  g_assert_cmpuint (lifetime, ==, 0);
  g_assert_true (reply (&f, &(Reply){ .integrity = TRUE }, &f.local4));
  expect_request (&f, FZ_STUN_ALLOCATE);
  g_assert_true (reply (
    &f, &(Reply){ .relayed = &f.relay4, .lifetime = 600, .integrity = TRUE }, &f.local4));
  g_assert_true (fz_allocation_is_allocated (f.a));
  drain_events (&f);

  /* 437 on REFRESH: the allocation is gone; allocate again. */
  advance (&f, f.now + 300 * S);
  expect_request (&f, FZ_STUN_BINDING);
  expect_request (&f, FZ_STUN_REFRESH);
  g_assert_true (reply (&f, &(Reply){ .error = 437 }, &f.local4));
  expect_event (&f, FZ_ALLOCATION_EVENT_INVALIDATED_CANDIDATE, FZ_ICE_RELAY, &f.relay4);
  g_assert_false (fz_allocation_is_allocated (f.a));
  expect_request (&f, FZ_STUN_ALLOCATE);
  FzSockAddr relay2 = f.relay4;
  relay2.port++;
  g_assert_true (reply (
    &f, &(Reply){ .relayed = &relay2, .lifetime = 600, .integrity = TRUE }, &f.local4));
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_RELAY, &relay2);

  /* 437 on CHANNEL-BIND: the same. */
  g_assert_true (fz_allocation_bind_channel (f.a, &f.peer4, f.now));
  expect_request (&f, FZ_STUN_CHANNEL_BIND);
  g_assert_true (reply (&f, &(Reply){ .error = 437 }, &f.local4));
  expect_event (&f, FZ_ALLOCATION_EVENT_INVALIDATED_CANDIDATE, FZ_ICE_RELAY, &relay2);
  g_assert_cmpuint (fz_allocation_channel_for (f.a, &f.peer4), ==, 0);
  expect_request (&f, FZ_STUN_ALLOCATE);

  FzSockAddr relay3 = relay2;
  relay3.port++;
  g_assert_true (reply (
    &f, &(Reply){ .relayed = &relay3, .lifetime = 600, .integrity = TRUE }, &f.local4));
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_RELAY, &relay3);

  /* 400 on CHANNEL-BIND (coturn's answer when it restarted and forgot
   * us): a REFRESH at once, whose 437 allocates again. */
  g_assert_true (fz_allocation_bind_channel (f.a, &f.peer4, f.now));
  expect_request (&f, FZ_STUN_CHANNEL_BIND);
  g_assert_true (reply (&f, &(Reply){ .error = 400 }, &f.local4));
  g_assert_cmpint (fz_allocation_poll_timeout (f.a), <=, f.now);
  advance (&f, f.now);
  find_request (&f, FZ_STUN_REFRESH);
  g_assert_true (reply (&f, &(Reply){ .error = 437 }, &f.local4));
  expect_event (&f, FZ_ALLOCATION_EVENT_INVALIDATED_CANDIDATE, FZ_ICE_RELAY, &relay3);
  expect_request (&f, FZ_STUN_ALLOCATE);

  /* 437 twice in a row on ALLOCATE: give up instead of looping. */
  g_assert_true (reply (&f, &(Reply){ .error = 437 }, &f.local4));
  expect_request (&f, FZ_STUN_REFRESH);
  g_assert_true (reply (&f, &(Reply){ .integrity = TRUE }, &f.local4));
  expect_request (&f, FZ_STUN_ALLOCATE);
  g_assert_true (reply (&f, &(Reply){ .error = 437 }, &f.local4));
  g_autoptr (GError) error = expect_failed (&f);
  g_assert_error (error, FZ_ALLOCATION_ERROR, FZ_ALLOCATION_ERROR_REFUSED);
  g_assert_nonnull (strstr (error->message, "437"));
  fx_clear (&f);
}

static void
test_unknown_attribute (void)
{
  Fx f;
  fx_init (&f, FALSE);
  expect_request (&f, FZ_STUN_BINDING);
  g_assert_true (reply (&f, &(Reply){ .mapped = &f.mapped4 }, &f.local4));
  expect_request (&f, FZ_STUN_ALLOCATE);
  g_assert_true (reply (&f, &(Reply){ .error = 420 }, &f.local4));
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_HOST, &f.local4);
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_SRFLX, &f.mapped4);
  g_autoptr (GError) error = expect_failed (&f);
  g_assert_error (error, FZ_ALLOCATION_ERROR, FZ_ALLOCATION_ERROR_REFUSED);
  g_assert_nonnull (strstr (error->message, "refused the allocation (420 Because)"));

  /* A success with an attribute we must understand but do not fails the
   * transaction the same way. */
  fz_allocation_reset (f.a, f.now);
  drain_events (&f);
  expect_request (&f, FZ_STUN_BINDING);
  g_assert_true (reply (&f, &(Reply){ .mapped = &f.mapped4 }, &f.local4));
  expect_request (&f, FZ_STUN_ALLOCATE);
  g_assert_true (
    reply (&f, &(Reply){ .relayed = &f.relay4, .unknown = TRUE }, &f.local4));
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_HOST, &f.local4);
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_SRFLX, &f.mapped4);
  GError *e2 = expect_failed (&f);
  g_assert_nonnull (strstr (e2->message, "420"));
  g_error_free (e2);
  fx_clear (&f);
}

static void
test_integrity_and_source (void)
{
  Fx f;
  fx_init (&f, FALSE);
  expect_request (&f, FZ_STUN_BINDING);
  /* From elsewhere: not ours. */
  FzSockAddr real = f.req_dst;
  f.req_dst = f.peer4;
  g_assert_false (reply (&f, &(Reply){ .mapped = &f.mapped4 }, &f.local4));
  f.req_dst = real;
  g_assert_true (reply (&f, &(Reply){ .mapped = &f.mapped4 }, &f.local4));
  expect_request (&f, FZ_STUN_ALLOCATE);
  g_assert_true (reply (&f, &(Reply){ .error = 401, .nonce = "n" }, &f.local4));
  expect_request (&f, FZ_STUN_ALLOCATE);
  /* A forged success (wrong key, or none) is dropped as if lost... */
  g_assert_true (
    reply (&f, &(Reply){ .relayed = &f.relay4, .integrity = TRUE, .bad_integrity = TRUE },
           &f.local4));
  g_assert_true (reply (&f, &(Reply){ .relayed = &f.relay4 }, &f.local4));
  g_assert_false (fz_allocation_is_allocated (f.a));
  /* ...and the request is retransmitted. */
  advance (&f, f.now + S);
  expect_request (&f, FZ_STUN_ALLOCATE);
  g_assert_true (
    reply (&f, &(Reply){ .relayed = &f.relay4, .integrity = TRUE }, &f.local4));
  g_assert_true (fz_allocation_is_allocated (f.a));
  fx_clear (&f);
}

static void
test_keepalive_restart (void)
{
  Fx f;
  fx_init (&f, FALSE);
  allocate (&f);
  advance (&f, f.now + 25 * S);
  expect_request (&f, FZ_STUN_BINDING);
  /* Lost; the retransmission is answered: the relay may have restarted,
   * so the client checks its allocation with a REFRESH. */
  advance (&f, f.now + S);
  expect_request (&f, FZ_STUN_BINDING);
  g_assert_true (reply (&f, &(Reply){ .mapped = &f.mapped4 }, &f.local4));
  expect_request (&f, FZ_STUN_REFRESH);
  g_assert_true (reply (&f, &(Reply){ .error = 437 }, &f.local4));
  expect_event (&f, FZ_ALLOCATION_EVENT_INVALIDATED_CANDIDATE, FZ_ICE_RELAY, &f.relay4);
  expect_request (&f, FZ_STUN_ALLOCATE);

  /* A keepalive that is never answered fails the allocation. */
  g_assert_true (
    reply (&f, &(Reply){ .relayed = &f.relay4, .integrity = TRUE }, &f.local4));
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_RELAY, &f.relay4);
  gint64 t = f.now + 25 * S;
  advance (&f, t);
  for (gint64 d = 0; d <= 8125000; d += 125000)
    advance (&f, t + d);
  g_autoptr (GError) error = NULL;
  expect_event (&f, FZ_ALLOCATION_EVENT_INVALIDATED_CANDIDATE, FZ_ICE_RELAY, &f.relay4);
  error = expect_failed (&f);
  g_assert_error (error, FZ_ALLOCATION_ERROR, FZ_ALLOCATION_ERROR_TIMEOUT);
  g_assert_nonnull (strstr (error->message, "stopped answering"));
  g_assert_cmpint (fz_allocation_poll_timeout (f.a), ==, f.now + FZ_TURN_RETRY_MIN);
  fx_clear (&f);
}

/* Our NAT rebinds: a keepalive's mapped address changes, and the relay
 * kept the allocation for the old one. */
static void
test_nat_rebinding (void)
{
  Fx f;
  fx_init (&f, FALSE);
  allocate (&f);
  advance (&f, f.now + 25 * S);
  expect_request (&f, FZ_STUN_BINDING);
  FzSockAddr moved = f.mapped4;
  moved.port++;
  g_assert_true (reply (&f, &(Reply){ .mapped = &moved }, &f.local4));
  expect_event (&f, FZ_ALLOCATION_EVENT_INVALIDATED_CANDIDATE, FZ_ICE_SRFLX, &f.mapped4);
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_SRFLX, &moved);
  /* At once a REFRESH, which the relay refuses: allocate again. */
  expect_request (&f, FZ_STUN_REFRESH);
  g_assert_true (reply (&f, &(Reply){ .error = 437 }, &f.local4));
  expect_event (&f, FZ_ALLOCATION_EVENT_INVALIDATED_CANDIDATE, FZ_ICE_RELAY, &f.relay4);
  expect_request (&f, FZ_STUN_ALLOCATE);
  FzSockAddr relay2 = f.relay4;
  relay2.port++;
  g_assert_true (reply (
    &f, &(Reply){ .relayed = &relay2, .lifetime = 600, .integrity = TRUE }, &f.local4));
  expect_event (&f, FZ_ALLOCATION_EVENT_NEW_CANDIDATE, FZ_ICE_RELAY, &relay2);
  g_assert_true (fz_allocation_is_allocated (f.a));
  fx_clear (&f);
}

/* While it allocates again (after a 437), the allocation reports no
 * deadline of the allocation it lost: its keepalive, due while the new
 * ALLOCATE was in flight, was never handled outside the allocated state,
 * so poll_timeout stayed due and the host woke without end (the tunnel
 * simulation spun on seed 4785 after a NAT rebinding). */
static void
test_reallocating_not_due (void)
{
  Fx f;
  fx_init (&f, FALSE);
  allocate (&f);
  advance (&f, f.now + 24900 * 1000);
  drain (&f);
  /* Just before the keepalive, the relay has forgotten us. */
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 256);
  FzSockAddr to;
  fz_packet_buf_set (buf, "ping", 4);
  g_assert_true (fz_allocation_encapsulate (f.a, &f.peer4, buf, f.now, &to));
  expect_request (&f, FZ_STUN_CHANNEL_BIND);
  g_assert_true (reply (&f, &(Reply){ .error = 437 }, &f.local4));
  expect_request (&f, FZ_STUN_ALLOCATE);
  /* The new ALLOCATE is never answered: the allocation gives up in time,
   * and nothing is due at any moment after a wake-up. */
  gint64 end = f.now + 120 * S;
  guint wakeups = 0;
  while (f.now < end && wakeups < 1000)
    {
      gint64 next = fz_allocation_poll_timeout (f.a);
      g_assert_cmpint (next, >, f.now);
      advance (&f, MIN (next, end));
      drain (&f);
      wakeups++;
    }
  g_assert_cmpuint (wakeups, <, 1000);
  fx_clear (&f);
}

static void
test_channels (void)
{
  Fx f;
  fx_init (&f, FALSE);
  allocate (&f);

  /* No relay address of that family: no channel. */
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 256);
  FzSockAddr to;
  fz_packet_buf_set (buf, "ping", 4);
  g_assert_false (fz_allocation_encapsulate (f.a, &f.peer6, buf, f.now, &to));
  g_assert_cmpuint (buf->len, ==, 4);

  /* The first packet binds 0x4000 and goes out framed at once. */
  g_assert_true (fz_allocation_encapsulate (f.a, &f.peer4, buf, f.now, &to));
  g_assert_true (fz_sock_addr_equal (&to, &f.srv4));
  g_assert_cmpmem (buf->data, buf->len, "\x40\x00\x00\x04ping", 8);
  expect_request (&f, FZ_STUN_CHANNEL_BIND);
  guint16 ch;
  g_assert_true (fz_stun_message_get_channel (&f.req, &ch));
  g_assert_cmphex (ch, ==, 0x4000);
  FzSockAddr p;
  g_assert_true (
    fz_stun_message_get_xor_address (&f.req, FZ_STUN_ATTR_XOR_PEER_ADDRESS, 0, &p));
  g_assert_true (fz_sock_addr_equal (&p, &f.peer4));
  g_assert_true (req_authenticated (&f));
  /* More data while the bind is in flight: same channel, no second bind. */
  fz_packet_buf_set (buf, "again", 5);
  g_assert_true (fz_allocation_encapsulate (f.a, &f.peer4, buf, f.now, &to));
  g_assert_cmpmem (buf->data, 4, "\x40\x00\x00\x05", 4);
  expect_nothing (&f);
  g_assert_true (reply (&f, &(Reply){ .integrity = TRUE }, &f.local4));

  /* Round robin: the next peer gets 0x4001. */
  FzSockAddr peer_b = f.peer4;
  peer_b.port++;
  g_assert_true (fz_allocation_bind_channel (f.a, &peer_b, f.now));
  expect_request (&f, FZ_STUN_CHANNEL_BIND);
  g_assert_true (fz_stun_message_get_channel (&f.req, &ch));
  g_assert_cmphex (ch, ==, 0x4001);
  g_assert_true (reply (&f, &(Reply){ .integrity = TRUE }, &f.local4));

  /* Inbound: ChannelData for a bound channel from the relay only. */
  guint8 in[12] = { 0x40, 0x01, 0x00, 0x03, 'a', 'b', 'c', 0 };
  FzRelayedData d;
  g_assert_cmpint (fz_allocation_handle_input (f.a, &f.local4, &f.srv4, in, 7, f.now, &d),
                   ==, FZ_ALLOCATION_INPUT_DATA);
  g_assert_true (fz_sock_addr_equal (&d.peer, &peer_b));
  g_assert_true (fz_sock_addr_equal (&d.relayed, &f.relay4));
  g_assert_cmpuint (d.offset, ==, 4);
  g_assert_cmpuint (d.len, ==, 3);
  g_assert_cmpint (
    fz_allocation_handle_input (f.a, &f.local4, &f.peer4, in, 7, f.now, &d), ==,
    FZ_ALLOCATION_INPUT_OTHER);
  in[1] = 0x09;
  g_assert_cmpint (fz_allocation_handle_input (f.a, &f.local4, &f.srv4, in, 7, f.now, &d),
                   ==, FZ_ALLOCATION_INPUT_HANDLED);

  fx_clear (&f);
}

/* A Data indication for @peer carrying @payload, as the relay sends it. */
static gsize
data_indication (guint8 *buf, gsize cap, const FzSockAddr *peer, const char *payload,
                 gboolean unknown)
{
  static const guint8 tid[FZ_STUN_TID_LEN] = { 9, 9, 9 };
  FzStunWriter w;
  fz_stun_writer_init (&w, buf, cap, FZ_STUN_DATA, FZ_STUN_INDICATION, tid);
  fz_stun_writer_add_xor_address (&w, FZ_STUN_ATTR_XOR_PEER_ADDRESS, peer);
  if (payload != NULL)
    fz_stun_writer_add (&w, FZ_STUN_ATTR_DATA, payload, strlen (payload));
  if (unknown)
    fz_stun_writer_add_u32 (&w, 0x0077, 0);
  fz_stun_writer_add_fingerprint (&w);
  return fz_stun_writer_finish (&w);
}

static FzAllocationInput
feed (Fx *f, const FzSockAddr *from, const guint8 *data, gsize len, FzRelayedData *d)
{
  return fz_allocation_handle_input (f->a, &f->local4, from, data, len, f->now, d);
}

/* Data indications (a relay's way before a channel is bound, or when it
 * binds none) are peer data once, with the payload located in place, and
 * only for peers we asked a permission for. */
static void
test_data_indications (void)
{
  Fx f;
  fx_init (&f, FALSE);
  guint8 in[256];
  FzRelayedData d;
  gsize n = data_indication (in, sizeof in, &f.peer4, "hello", FALSE);
  /* Before the allocation (no permission): dropped. */
  g_assert_cmpint (feed (&f, &f.srv4, in, n, &d), ==, FZ_ALLOCATION_INPUT_HANDLED);
  allocate (&f);
  g_assert_cmpint (feed (&f, &f.srv4, in, n, &d), ==, FZ_ALLOCATION_INPUT_HANDLED);

  /* A channel's bind in flight grants the peer's IP a permission: data
   * may come before the bind's answer, and from another port. */
  g_assert_true (fz_allocation_bind_channel (f.a, &f.peer4, f.now));
  expect_request (&f, FZ_STUN_CHANNEL_BIND);
  FzSockAddr other_port = f.peer4;
  other_port.port = 4444;
  n = data_indication (in, sizeof in, &other_port, "hello", FALSE);
  g_assert_cmpint (feed (&f, &f.srv4, in, n, &d), ==, FZ_ALLOCATION_INPUT_DATA);
  g_assert_true (fz_sock_addr_equal (&d.peer, &other_port));
  g_assert_true (fz_sock_addr_equal (&d.relayed, &f.relay4));
  g_assert_cmpmem (in + d.offset, d.len, "hello", 5);
  /* 20 header + 12 XOR-PEER-ADDRESS + 4 DATA header */
  g_assert_cmpuint (d.offset, ==, 36);

  /* Not from the relay; no permission; no DATA; an unknown
   * comprehension-required attribute; a peer of a family without a
   * relayed address: none of them is data. */
  g_assert_cmpint (feed (&f, &f.peer4, in, n, &d), ==, FZ_ALLOCATION_INPUT_OTHER);
  FzSockAddr stranger;
  addr (&stranger, "192.0.2.99", 4000);
  n = data_indication (in, sizeof in, &stranger, "hello", FALSE);
  g_assert_cmpint (feed (&f, &f.srv4, in, n, &d), ==, FZ_ALLOCATION_INPUT_HANDLED);
  n = data_indication (in, sizeof in, &f.peer4, NULL, FALSE);
  g_assert_cmpint (feed (&f, &f.srv4, in, n, &d), ==, FZ_ALLOCATION_INPUT_HANDLED);
  n = data_indication (in, sizeof in, &f.peer4, "hello", TRUE);
  g_assert_cmpint (feed (&f, &f.srv4, in, n, &d), ==, FZ_ALLOCATION_INPUT_HANDLED);
  n = data_indication (in, sizeof in, &f.peer6, "hello", FALSE);
  g_assert_cmpint (feed (&f, &f.srv4, in, n, &d), ==, FZ_ALLOCATION_INPUT_HANDLED);
  /* The bind's answer still finds its request. */
  g_assert_true (reply (&f, &(Reply){ .integrity = TRUE }, &f.local4));
  g_assert_cmphex (fz_allocation_channel_for (f.a, &f.peer4), ==, 0x4000);

  /* CREATE-PERMISSION without a channel: authenticated, for the peer. */
  g_assert_false (fz_allocation_create_permission (f.a, &f.peer6, f.now));
  g_assert_true (fz_allocation_create_permission (f.a, &stranger, f.now));
  expect_request (&f, FZ_STUN_CREATE_PERMISSION);
  g_assert_true (req_authenticated (&f));
  FzSockAddr p;
  g_assert_true (
    fz_stun_message_get_xor_address (&f.req, FZ_STUN_ATTR_XOR_PEER_ADDRESS, 0, &p));
  g_assert_true (fz_sock_addr_equal (&p, &stranger));
  g_assert_true (reply (&f, &(Reply){ .integrity = TRUE }, &f.local4));
  g_assert_cmphex (fz_allocation_channel_for (f.a, &stranger), ==, 0);
  n = data_indication (in, sizeof in, &stranger, "hi", FALSE);
  g_assert_cmpint (feed (&f, &f.srv4, in, n, &d), ==, FZ_ALLOCATION_INPUT_DATA);
  g_assert_cmpmem (in + d.offset, d.len, "hi", 2);

  /* A refused permission is none. */
  FzSockAddr refused;
  addr (&refused, "192.0.2.100", 4000);
  g_assert_true (fz_allocation_create_permission (f.a, &refused, f.now));
  expect_request (&f, FZ_STUN_CREATE_PERMISSION);
  g_assert_true (reply (&f, &(Reply){ .error = 403, .integrity = TRUE }, &f.local4));
  g_assert_true (fz_allocation_is_allocated (f.a));
  n = data_indication (in, sizeof in, &refused, "hi", FALSE);
  g_assert_cmpint (feed (&f, &f.srv4, in, n, &d), ==, FZ_ALLOCATION_INPUT_HANDLED);

  /* Permissions lapse after 5 minutes unless asked for again. */
  f.now += FZ_TURN_PERMISSION_LIFE - 1;
  n = data_indication (in, sizeof in, &stranger, "hi", FALSE);
  g_assert_cmpint (feed (&f, &f.srv4, in, n, &d), ==, FZ_ALLOCATION_INPUT_DATA);
  f.now += 1;
  g_assert_cmpint (feed (&f, &f.srv4, in, n, &d), ==, FZ_ALLOCATION_INPUT_HANDLED);
  fz_allocation_handle_timeout (f.a, f.now);
  drain (&f);
  g_assert_true (fz_allocation_create_permission (f.a, &stranger, f.now));
  g_assert_cmpint (feed (&f, &f.srv4, in, n, &d), ==, FZ_ALLOCATION_INPUT_DATA);

  /* A new allocation starts without permissions. */
  fz_allocation_reset (f.a, f.now);
  drain (&f);
  drain_events (&f);
  g_assert_cmpint (feed (&f, &f.srv4, in, n, &d), ==, FZ_ALLOCATION_INPUT_HANDLED);
  fx_clear (&f);
}

/* Unused channels lapse after 10 minutes; used ones are refreshed at 5;
 * a lapsed number goes to another peer only after 15 minutes. */
static void
test_channel_lifetimes (void)
{
  Fx f;
  fx_init (&f, FALSE);
  allocate (&f);
  gint64 t0 = f.now;
  FzSockAddr used = f.peer4, idle = f.peer4;
  idle.port = 5000;
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 64);
  FzSockAddr to;

  g_assert_true (fz_allocation_bind_channel (f.a, &used, f.now));
  expect_request (&f, FZ_STUN_CHANNEL_BIND);
  g_assert_true (reply (&f, &(Reply){ .integrity = TRUE }, &f.local4));
  g_assert_true (fz_allocation_bind_channel (f.a, &idle, f.now));
  expect_request (&f, FZ_STUN_CHANNEL_BIND);
  g_assert_true (reply (&f, &(Reply){ .integrity = TRUE }, &f.local4));

  /* Walk time second by second, answering everything, and use `used`
   * every minute. Record when each channel is bound again. */
  gint64 used_rebinds[4] = { 0 };
  guint n_used = 0, n_idle = 0;
  for (gint64 t = t0 + S; t <= t0 + 14 * 60 * S; t += S)
    {
      if ((t - t0) % (60 * S) == 0)
        {
          fz_packet_buf_set (buf, "x", 1);
          g_assert_true (fz_allocation_encapsulate (f.a, &used, buf, t, &to));
        }
      advance (&f, t);
      FzAllocationTransmit tx;
      while (fz_allocation_poll_transmit (f.a, &tx))
        {
          gsize n = tx.buf->len;
          memcpy (f.req_buf, tx.buf->data, n);
          fz_packet_buf_free (tx.buf);
          g_assert_true (fz_stun_message_parse (&f.req, f.req_buf, n, NULL));
          f.req_dst = tx.dst;
          if (f.req.method == FZ_STUN_CHANNEL_BIND)
            {
              FzSockAddr p;
              fz_stun_message_get_xor_address (&f.req, FZ_STUN_ATTR_XOR_PEER_ADDRESS, 0,
                                               &p);
              if (fz_sock_addr_equal (&p, &used))
                {
                  g_assert_cmpuint (n_used, <, G_N_ELEMENTS (used_rebinds));
                  used_rebinds[n_used++] = t - t0;
                }
              else
                n_idle++;
            }
          g_assert_true (reply (&f,
                                &(Reply){ .mapped = &f.mapped4,
                                          .lifetime = 600,
                                          .integrity = f.req.method != FZ_STUN_BINDING },
                                &f.local4));
        }
      if (t - t0 == 10 * 60 * S - S)
        g_assert_cmphex (fz_allocation_channel_for (f.a, &idle), ==, 0x4001);
      if (t - t0 == 10 * 60 * S)
        g_assert_cmphex (fz_allocation_channel_for (f.a, &idle), ==, 0);
    }
  /* The used channel was refreshed every 5 minutes, the idle one never. */
  g_assert_cmpuint (n_used, ==, 2);
  g_assert_cmpint (used_rebinds[0], ==, 5 * 60 * S);
  g_assert_cmpint (used_rebinds[1], ==, 10 * 60 * S);
  g_assert_cmpuint (n_idle, ==, 0);
  g_assert_cmphex (fz_allocation_channel_for (f.a, &used), ==, 0x4000);

  /* The same peer may have its lapsed number back at once. */
  g_assert_true (fz_allocation_bind_channel (f.a, &idle, f.now));
  expect_request (&f, FZ_STUN_CHANNEL_BIND);
  guint16 ch;
  g_assert_true (fz_stun_message_get_channel (&f.req, &ch));
  g_assert_cmphex (ch, ==, 0x4001);
  fx_clear (&f);
}

/* With every number taken, a lapsed one is free for another peer only
 * 15 minutes after its last bind. */
static void
test_channel_reuse (void)
{
  Fx f;
  fx_init (&f, FALSE);
  allocate (&f);
  gint64 t0 = f.now;
  const guint n = FZ_CHANNEL_MAX - FZ_CHANNEL_MIN + 1;
  for (guint i = 0; i < n; i++)
    {
      FzSockAddr p = f.peer4;
      p.port = (guint16) (1000 + i);
      g_assert_true (fz_allocation_bind_channel (f.a, &p, f.now));
      expect_request (&f, FZ_STUN_CHANNEL_BIND);
      g_assert_true (reply (&f, &(Reply){ .integrity = TRUE }, &f.local4));
    }
  FzSockAddr extra = f.peer4;
  extra.port = 9;
  g_assert_false (fz_allocation_bind_channel (f.a, &extra, f.now));

  /* All lapse at 10 min (the allocation's own traffic is ignored here). */
  advance (&f, t0 + FZ_TURN_CHANNEL_LIFE);
  g_assert_false (fz_allocation_bind_channel (f.a, &extra, f.now));
  advance (&f, t0 + FZ_TURN_CHANNEL_REUSE - 1);
  g_assert_false (fz_allocation_bind_channel (f.a, &extra, f.now));
  advance (&f, t0 + FZ_TURN_CHANNEL_REUSE);
  drain (&f);
  g_assert_true (fz_allocation_bind_channel (f.a, &extra, f.now));
  expect_request (&f, FZ_STUN_CHANNEL_BIND);
  guint16 ch;
  g_assert_true (fz_stun_message_get_channel (&f.req, &ch));
  g_assert_cmphex (ch, ==, 0x4000);
  fx_clear (&f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/turn/allocate", test_allocate);
  g_test_add_func ("/turn/dual-stack", test_dual_stack);
  g_test_add_func ("/turn/retransmit", test_retransmit);
  g_test_add_func ("/turn/bad-credentials", test_bad_credentials);
  g_test_add_func ("/turn/stale-nonce", test_stale_nonce);
  g_test_add_func ("/turn/mismatch", test_mismatch);
  g_test_add_func ("/turn/unknown-attribute", test_unknown_attribute);
  g_test_add_func ("/turn/integrity-and-source", test_integrity_and_source);
  g_test_add_func ("/turn/keepalive-restart", test_keepalive_restart);
  g_test_add_func ("/turn/nat-rebinding", test_nat_rebinding);
  g_test_add_func ("/turn/reallocating-not-due", test_reallocating_not_due);
  g_test_add_func ("/turn/channels", test_channels);
  g_test_add_func ("/turn/data-indications", test_data_indications);
  g_test_add_func ("/turn/channel-lifetimes", test_channel_lifetimes);
  g_test_add_func ("/turn/channel-reuse", test_channel_reuse);
  return g_test_run ();
}
