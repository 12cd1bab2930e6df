/* FzWgDevice end to end in memory: devices hand datagrams to each other
 * under injected time, so the timers of the whitepaper run in
 * microseconds of real time. */
#include "fz-private.h"
#include "fz-wg-private.h" /* the device's handshake scratch */

#include <string.h>

#define SEC G_USEC_PER_SEC

typedef struct
{
  FzWgDevice *dev;
  FzSockAddr addr;
  FzWgPeer *peer;   /* the other node, as this one knows it */
  GPtrArray *inbox; /* IP packets delivered to the TUN side */
  GArray *rx_errors;
  guint events[3];
} Node;

static FzBufPool *pool;
static FzRng rng;
static gint64 now;
static gboolean drop_all; /* the network loses everything */

static void
node_init (Node *n, guint8 seed, const char *ip, guint16 port)
{
  guint8 priv[32];

  memset (n, 0, sizeof *n);
  memset (priv, seed, sizeof priv);
  fz_wg_clamp_private_key (priv);
  n->dev = fz_wg_device_new (priv, &rng, pool);
  fz_wg_device_set_wall_offset (n->dev, G_GINT64_CONSTANT (1700000000) * SEC);
  g_assert_true (fz_ip_addr_parse (&n->addr.ip, ip));
  n->addr.port = port;
  n->inbox = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  n->rx_errors = g_array_new (FALSE, FALSE, sizeof (FzWgRxError));
}

static void
node_clear (Node *n)
{
  fz_wg_device_free (n->dev);
  g_ptr_array_unref (n->inbox);
  g_array_unref (n->rx_errors);
}

static void
connect_nodes (Node *a, Node *b, const guint8 *psk_a, const guint8 *psk_b)
{
  a->peer = fz_wg_device_add_peer (a->dev, fz_wg_device_public_key (b->dev), psk_a, NULL);
  b->peer = fz_wg_device_add_peer (b->dev, fz_wg_device_public_key (a->dev), psk_b, NULL);
  g_assert_nonnull (a->peer);
  g_assert_nonnull (b->peer);
  fz_wg_peer_set_endpoint (a->peer, &b->addr); /* a knows where b is; b learns */
}

/* One datagram from @src arrives at @dst. */
static FzWgRxError
deliver (Node *src, Node *dst, FzPacketBuf *buf)
{
  FzWgRxError err;
  FzWgPeer *peer = NULL;

  if (fz_wg_device_decapsulate (dst->dev, &src->addr, buf, now, &peer, &err)
      == FZ_WG_RX_PACKET)
    {
      g_assert_true (peer == dst->peer);
      g_ptr_array_add (dst->inbox, g_bytes_new (buf->data, buf->len));
    }
  if (err != FZ_WG_RX_OK)
    g_array_append_val (dst->rx_errors, err);
  fz_packet_buf_free (buf);
  return err;
}

static void
collect_events (Node *n)
{
  FzWgEvent ev;

  while (fz_wg_device_poll_event (n->dev, &ev))
    n->events[ev.type]++;
}

/* Moves queued datagrams both ways until both sides are quiet. Returns
 * how many crossed. */
static guint
pump (Node *a, Node *b)
{
  guint moved = 0;
  gboolean busy = TRUE;

  while (busy)
    {
      Node *pair[2][2] = { { a, b }, { b, a } };
      FzWgTransmit tx;

      busy = FALSE;
      for (guint i = 0; i < 2; i++)
        while (fz_wg_device_poll_transmit (pair[i][0]->dev, &tx))
          {
            busy = TRUE;
            g_assert_true (fz_sock_addr_equal (&tx.dst, &pair[i][1]->addr));
            if (drop_all)
              fz_packet_buf_free (tx.buf);
            else
              {
                deliver (pair[i][0], pair[i][1], tx.buf);
                moved++;
              }
          }
    }
  collect_events (a);
  collect_events (b);
  return moved;
}

static FzPacketBuf *
ip_packet (Node *from, Node *to, guint16 tag)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (pool);
  FzIpAddr s, d;
  FzIpPacket pkt;

  fz_ip_addr_parse (&s, "100.64.0.1");
  fz_ip_addr_parse (&d, "100.64.0.2");
  g_assert_true (fz_ip_build_udp (buf, &pkt, &s, &d, tag, 53, "payload", 7, NULL));
  return buf;
}

/* Sends an IP packet from @from; returns what encapsulate said. A packet
 * sent now is delivered at once (or kept in @held when not NULL). */
static FzWgSend
send_packet (Node *from, Node *to, guint16 tag, FzPacketBuf **held)
{
  FzPacketBuf *buf = ip_packet (from, to, tag);
  FzSockAddr dst;
  FzWgSend r = fz_wg_peer_encapsulate (from->peer, buf, now, &dst);

  if (r == FZ_WG_SEND_NOW)
    {
      g_assert_true (fz_sock_addr_equal (&dst, &to->addr));
      if (held != NULL)
        *held = buf;
      else
        deliver (from, to, buf);
    }
  else if (r == FZ_WG_SEND_DROPPED)
    fz_packet_buf_free (buf);
  return r;
}

static guint16
inbox_tag (Node *n, guint i)
{
  const guint8 *p = g_bytes_get_data (n->inbox->pdata[i], NULL);
  return (guint16) (p[20] << 8 | p[21]);
}

static void
run_timers_until (Node *a, Node *b, gint64 until)
{
  for (;;)
    {
      gint64 t
        = MIN (fz_wg_device_poll_timeout (a->dev), fz_wg_device_poll_timeout (b->dev));
      if (t > until)
        break;
      now = MAX (now, t);
      fz_wg_device_handle_timeout (a->dev, now);
      fz_wg_device_handle_timeout (b->dev, now);
      pump (a, b);
    }
  now = until;
}

static void
setup (void)
{
  fz_rng_init_seeded (&rng, 2021);
  now = 1000 * SEC;
  drop_all = FALSE;
}

/* a at 192.0.2.1, b at 192.0.2.2, peers of each other (b learns a's
 * address from the handshake); with @handshake, a session is up. */
static void
pair_nodes (Node *a, Node *b, const guint8 *psk_a, const guint8 *psk_b,
            gboolean handshake)
{
  setup ();
  node_init (a, 1, "192.0.2.1", 51820);
  node_init (b, 2, "192.0.2.2", 51820);
  connect_nodes (a, b, psk_a, psk_b);
  if (handshake)
    {
      send_packet (a, b, 1, NULL);
      pump (a, b);
    }
}

static void
pair_clear (Node *a, Node *b)
{
  node_clear (a);
  node_clear (b);
}

static void
test_handshake_and_data (void)
{
  Node a, b;
  FzWgPeerStats st;

  pair_nodes (&a, &b, NULL, NULL, FALSE);

  /* No session yet: the packet waits and a handshake starts. */
  g_assert_cmpint (send_packet (&a, &b, 1, NULL), ==, FZ_WG_SEND_QUEUED);
  g_assert_cmpint (send_packet (&b, &a, 2, NULL), ==,
                   FZ_WG_SEND_DROPPED); /* b: no endpoint */
  pump (&a, &b);
  g_assert_cmpuint (a.events[FZ_WG_EVENT_HANDSHAKE_DONE], ==, 1);
  g_assert_cmpuint (b.events[FZ_WG_EVENT_HANDSHAKE_DONE], ==, 1);
  g_assert_cmpuint (b.inbox->len, ==, 1); /* the staged packet, after the handshake */
  g_assert_cmpuint (inbox_tag (&b, 0), ==, 1);

  /* Both ways now, and b learned a's address from the handshake. */
  for (guint16 i = 0; i < 100; i++)
    {
      g_assert_cmpint (send_packet (&a, &b, 100 + i, NULL), ==, FZ_WG_SEND_NOW);
      g_assert_cmpint (send_packet (&b, &a, 200 + i, NULL), ==, FZ_WG_SEND_NOW);
    }
  g_assert_cmpuint (b.inbox->len, ==, 101);
  g_assert_cmpuint (a.inbox->len, ==, 100);
  g_assert_cmpuint (inbox_tag (&a, 99), ==, 299);
  g_assert_cmpuint (a.rx_errors->len, ==, 0);
  g_assert_cmpuint (b.rx_errors->len, ==, 0);
  {
    /* the decrypted packet is exactly what was sent */
    g_autoptr (FzPacketBuf) ref = ip_packet (&a, &b, 100);
    g_assert_cmpmem (g_bytes_get_data (b.inbox->pdata[1], NULL),
                     g_bytes_get_size (b.inbox->pdata[1]), ref->data, ref->len);
  }

  /* Each data message: a 35-byte packet padded to 48, with the 16-byte
   * header and 16-byte tag: 80 bytes. a sent 101 (the staged one too) and
   * the keepalive that follows a completed handshake (32; sent although the
   * staged packet went first), and received 100 and the response (92); b
   * received all that and the initiation (148). Handshake messages count
   * on receipt only. */
  fz_wg_peer_get_stats (a.peer, &st);
  g_assert_cmpuint (st.tx_bytes, ==, 101 * 80 + 32);
  g_assert_cmpuint (st.rx_bytes, ==, 100 * 80 + 92);
  g_assert_cmpuint (st.tx_packets, ==, 101 + 1);
  g_assert_cmpuint (st.rx_packets, ==, 100 + 1);
  {
    FzWgPeerStats bs;
    fz_wg_peer_get_stats (b.peer, &bs);
    g_assert_cmpuint (bs.tx_bytes, ==, 100 * 80);
    g_assert_cmpuint (bs.rx_bytes, ==, 101 * 80 + 32 + 148);
    g_assert_cmpuint (bs.tx_packets, ==, 100);
    g_assert_cmpuint (bs.rx_packets, ==, 101 + 1 + 1);
  }
  g_assert_cmpint (st.last_handshake_wall_us, ==,
                   now + G_GINT64_CONSTANT (1700000000) * SEC);
  pair_clear (&a, &b);
}

static void
test_psk (void)
{
  guint8 psk[32], other[32];
  Node a, b;

  memset (psk, 7, 32);
  memset (other, 8, 32);

  pair_nodes (&a, &b, psk, psk, TRUE);
  g_assert_cmpuint (b.inbox->len, ==, 1);
  pair_clear (&a, &b);

  /* Different preshared keys: the response does not authenticate; a says
   * so, and nothing is delivered. */
  pair_nodes (&a, &b, psk, other, TRUE);
  g_assert_cmpuint (a.events[FZ_WG_EVENT_RESPONSE_REJECTED], ==, 1);
  g_assert_cmpuint (a.events[FZ_WG_EVENT_HANDSHAKE_DONE], ==, 0);
  g_assert_cmpuint (a.rx_errors->len, ==, 1);
  g_assert_cmpint (g_array_index (a.rx_errors, FzWgRxError, 0), ==,
                   FZ_WG_RX_RESPONSE_FAILED);
  g_assert_cmpuint (b.inbox->len, ==, 0);
  pair_clear (&a, &b);
}

/* After REKEY_AFTER_TIME the initiator starts a new handshake on send,
 * while the old session keeps working until the new one is there. */
static void
test_rekey_after_time (void)
{
  FzPacketBuf *old_msg = NULL;
  Node a, b;
  guint before;

  pair_nodes (&a, &b, NULL, NULL, TRUE);

  now += 119 * SEC;
  send_packet (&b, &a, 2, NULL); /* keeps a's keepalive timers quiet */
  g_assert_cmpint (send_packet (&a, &b, 3, NULL), ==, FZ_WG_SEND_NOW);
  g_assert_cmpuint (pump (&a, &b), ==, 0); /* no handshake yet */

  now += 2 * SEC; /* 121 s */
  before = a.events[FZ_WG_EVENT_HANDSHAKE_DONE];
  g_assert_cmpint (send_packet (&a, &b, 4, &old_msg), ==, FZ_WG_SEND_NOW);
  pump (&a, &b); /* the rekey handshake */
  g_assert_cmpuint (a.events[FZ_WG_EVENT_HANDSHAKE_DONE], ==, before + 1);
  /* the packet encrypted with the old session still decrypts */
  g_assert_cmpint (deliver (&a, &b, old_msg), ==, FZ_WG_RX_OK);
  g_assert_cmpuint (inbox_tag (&b, b.inbox->len - 1), ==, 4);
  pair_clear (&a, &b);
}

/* REJECT_AFTER_TIME: a session older than 180 s neither sends nor
 * receives. */
static void
test_reject_after_time (void)
{
  FzPacketBuf *late = NULL;
  Node a, b;

  pair_nodes (&a, &b, NULL, NULL, TRUE);

  now += 179 * SEC;
  /* b sends on the session (no rekey: b is the responder) and holds it */
  g_assert_cmpint (send_packet (&b, &a, 2, &late), ==, FZ_WG_SEND_NOW);
  now += 2 * SEC; /* 181 s */
  g_assert_cmpint (deliver (&b, &a, late), ==, FZ_WG_RX_EXPIRED);
  /* b cannot send on it any more: it stages and initiates */
  g_assert_cmpint (send_packet (&b, &a, 3, NULL), ==, FZ_WG_SEND_QUEUED);
  pump (&a, &b);
  g_assert_cmpuint (inbox_tag (&a, a.inbox->len - 1), ==, 3);
  pair_clear (&a, &b);
}

/* Unanswered initiations are retried every 5 s (+ jitter) until the
 * rekey attempt time, then given up, staged packets with them. */
static void
test_give_up (void)
{
  const gint64 attempt[] = { FZ_WG_REKEY_ATTEMPT_TIME, FZ_WG_REKEY_ATTEMPT_ICE };

  for (guint k = 0; k < G_N_ELEMENTS (attempt); k++)
    {
      Node a, b;
      gint64 start;
      guint sent = 0;
      FzWgTransmit tx;

      pair_nodes (&a, &b, NULL, NULL, FALSE);
      fz_wg_device_set_rekey_attempt_time (a.dev, attempt[k]);
      start = now;
      send_packet (&a, &b, 1, NULL);
      while (a.events[FZ_WG_EVENT_HANDSHAKE_GAVE_UP] == 0)
        {
          while (fz_wg_device_poll_transmit (a.dev, &tx))
            {
              sent++;
              fz_packet_buf_free (tx.buf);
            }
          now = fz_wg_device_poll_timeout (a.dev);
          g_assert_cmpint (now - start, <, attempt[k] + 10 * SEC);
          fz_wg_device_handle_timeout (a.dev, now);
          collect_events (&a);
        }
      g_assert_cmpint (now - start, >=, attempt[k]);
      g_assert_cmpint (now - start, <, attempt[k] + FZ_WG_REKEY_TIMEOUT + SEC);
      /* one every 5-5.333 s */
      g_assert_cmpuint (sent, >=, attempt[k] / (FZ_WG_REKEY_TIMEOUT + SEC / 3));
      g_assert_cmpuint (sent, <=, attempt[k] / FZ_WG_REKEY_TIMEOUT + 1);
      g_test_message ("attempt time %" G_GINT64_FORMAT " s: %u initiations",
                      attempt[k] / SEC, sent);

      /* the staged packet went with it: a later handshake delivers nothing */
      drop_all = FALSE;
      now += 60 * SEC;
      fz_wg_peer_initiate (a.peer, now);
      pump (&a, &b);
      g_assert_cmpuint (a.events[FZ_WG_EVENT_HANDSHAKE_DONE], ==, 1);
      g_assert_cmpuint (b.inbox->len, ==, 0);
      pair_clear (&a, &b);
    }
}

/* Eight sessions live at once: packets from the last seven sessions still
 * decrypt after a roll-over, the one whose slot was reused does not. */
static void
test_eight_sessions (void)
{
  FzPacketBuf *held[10];
  Node a, b;

  pair_nodes (&a, &b, NULL, NULL, TRUE);

  for (guint i = 0; i < 10; i++)
    {
      g_assert_cmpint (send_packet (&a, &b, 1000 + i, &held[i]), ==, FZ_WG_SEND_NOW);
      now += 6 * SEC;
      fz_wg_peer_initiate (a.peer, now);
      pump (&a, &b);
    }
  /* Sessions used for held[0..9]: s1..s10; s11 is current; slots hold s4..s11. */
  for (guint i = 0; i < 10; i++)
    {
      FzWgRxError err = deliver (&a, &b, held[i]);
      if (i < 3)
        g_assert_cmpint (err, ==, FZ_WG_RX_UNKNOWN_INDEX);
      else
        g_assert_cmpint (err, ==, FZ_WG_RX_OK);
    }
  pair_clear (&a, &b);
}

static void
test_replay_and_forgery (void)
{
  FzPacketBuf *msg = NULL, *copy;
  Node a, b;

  pair_nodes (&a, &b, NULL, NULL, TRUE);

  send_packet (&a, &b, 5, &msg);
  copy = fz_buf_pool_alloc (pool);
  fz_packet_buf_set (copy, msg->data, msg->len);
  g_assert_cmpint (deliver (&a, &b, msg), ==, FZ_WG_RX_OK);
  g_assert_cmpint (deliver (&a, &b, copy), ==, FZ_WG_RX_REPLAYED_DATA);

  /* a flipped bit anywhere in the ciphertext */
  send_packet (&a, &b, 6, &msg);
  msg->data[msg->len - 3] ^= 0x40;
  g_assert_cmpint (deliver (&a, &b, msg), ==, FZ_WG_RX_DECRYPT_FAILED);

  /* an index nobody has, a wrong type, a short message */
  send_packet (&a, &b, 7, &msg);
  msg->data[5] ^= 0xff;
  g_assert_cmpint (deliver (&a, &b, msg), ==, FZ_WG_RX_UNKNOWN_INDEX);
  msg = fz_buf_pool_alloc (pool);
  fz_packet_buf_set (msg, "\x05\0\0\0garbage-garbage-garbage-garbage", 36);
  g_assert_cmpint (deliver (&a, &b, msg), ==, FZ_WG_RX_BAD_MESSAGE);
  msg = fz_buf_pool_alloc (pool);
  fz_packet_buf_set (msg, "\x04\0\0", 3);
  g_assert_cmpint (deliver (&a, &b, msg), ==, FZ_WG_RX_BAD_MESSAGE);
  g_assert_cmpuint (b.inbox->len, ==, 2);
  pair_clear (&a, &b);
}

/* An initiation replayed by an attacker is refused (timestamp), and so
 * is one for another key (mac1). */
static void
test_initiation_replay_and_mac1 (void)
{
  FzWgTransmit tx;
  FzPacketBuf *copy;
  Node a, b, c;

  setup ();
  node_init (&a, 1, "192.0.2.1", 51820);
  node_init (&b, 2, "192.0.2.2", 51820);
  node_init (&c, 3, "192.0.2.3", 51820);
  connect_nodes (&a, &b, NULL, NULL);
  fz_wg_peer_initiate (a.peer, now);
  g_assert_true (fz_wg_device_poll_transmit (a.dev, &tx));
  copy = fz_buf_pool_alloc (pool);
  fz_packet_buf_set (copy, tx.buf->data, tx.buf->len);
  g_assert_cmpint (deliver (&a, &b, tx.buf), ==, FZ_WG_RX_OK);
  now += SEC;
  g_assert_cmpint (deliver (&a, &b, copy), ==, FZ_WG_RX_REPLAYED_INIT);

  now += 10 * SEC;
  fz_wg_peer_initiate (a.peer, now);
  g_assert_true (fz_wg_device_poll_transmit (a.dev, &tx));
  g_assert_cmpint (deliver (&a, &c, tx.buf), ==, FZ_WG_RX_BAD_MAC1);
  pair_clear (&a, &b);
  node_clear (&c);
}

/* Under load, b answers an initiation with a cookie; a's next initiation
 * carries it in mac2 and goes through. */
static void
test_cookie_under_load (void)
{
  Node a, b;

  pair_nodes (&a, &b, NULL, NULL, FALSE);
  fz_wg_device_set_under_load_threshold (b.dev, 0);

  send_packet (&a, &b, 1, NULL);
  pump (&a, &b);
  g_assert_cmpuint (b.rx_errors->len, ==, 1);
  g_assert_cmpint (g_array_index (b.rx_errors, FzWgRxError, 0), ==, FZ_WG_RX_COOKIE_SENT);
  g_assert_cmpuint (a.rx_errors->len, ==, 0); /* a took the cookie */
  g_assert_cmpuint (b.inbox->len, ==, 0);

  run_timers_until (&a, &b, now + 6 * SEC); /* the retry, with mac2 */
  g_assert_cmpuint (a.events[FZ_WG_EVENT_HANDSHAKE_DONE], ==, 1);
  g_assert_cmpuint (b.inbox->len, ==, 1);
  g_assert_cmpuint (b.rx_errors->len, ==, 1);
  pair_clear (&a, &b);
}

/* Keepalive after 10 s of receiving without sending; persistent
 * keepalive every N s; roaming follows the peer's new address. */
static void
test_keepalive_and_roaming (void)
{
  FzWgTransmit tx;
  FzSockAddr ep;
  Node a, b;

  pair_nodes (&a, &b, NULL, NULL, TRUE);

  send_packet (&a, &b, 2, NULL);
  now += 9 * SEC;
  fz_wg_device_handle_timeout (b.dev, now);
  g_assert_false (fz_wg_device_poll_transmit (b.dev, &tx));
  now += 2 * SEC;
  fz_wg_device_handle_timeout (b.dev, now);
  g_assert_true (fz_wg_device_poll_transmit (b.dev, &tx)); /* the keepalive */
  g_assert_cmpuint (tx.buf->len, ==, FZ_WG_DATA_MIN_LEN);
  g_assert_cmpint (deliver (&b, &a, tx.buf), ==, FZ_WG_RX_OK);
  g_assert_cmpuint (a.inbox->len, ==, 0); /* keepalives never reach the TUN */

  fz_wg_peer_set_persistent_keepalive (a.peer, 25, now);
  run_timers_until (&a, &b, now + 24 * SEC);
  {
    FzWgPeerStats before, after;
    fz_wg_peer_get_stats (a.peer, &before);
    run_timers_until (&a, &b, now + 2 * SEC);
    fz_wg_peer_get_stats (a.peer, &after);
    g_assert_cmpuint (after.tx_bytes, ==, before.tx_bytes + FZ_WG_DATA_MIN_LEN);
  }

  /* a moves (NAT rebinding): b answers the new address */
  fz_ip_addr_parse (&a.addr.ip, "198.51.100.9");
  a.addr.port = 40000;
  send_packet (&a, &b, 3, NULL);
  g_assert_true (fz_wg_peer_get_endpoint (b.peer, &ep));
  g_assert_true (fz_sock_addr_equal (&ep, &a.addr));
  g_assert_cmpint (send_packet (&b, &a, 4, NULL), ==, FZ_WG_SEND_NOW);
  g_assert_cmpuint (inbox_tag (&a, a.inbox->len - 1), ==, 4);
  pair_clear (&a, &b);
}

/* The message limits, on a session (2^60 messages cannot be sent in a
 * test): past REJECT_AFTER_MESSAGES nothing is sent on it. */
static void
test_message_limits (void)
{
  FzWgKeypair keys = { .local_index = 1, .remote_index = 2, .initiator = TRUE };
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 64);
  FzWgSession s = { 0 };
  guint64 counter;

  fz_wg_session_start (&s, &keys, 0);
  /* Past REKEY_AFTER_MESSAGES the session still sends (the rekey is the
   * peer's business), with that counter on the wire. */
  s.send_counter = FZ_WG_REKEY_AFTER_MESSAGES;
  g_assert_true (fz_wg_session_can_send (&s, 0));
  g_assert_true (fz_wg_session_encrypt (&s, buf, 0));
  memcpy (&counter, buf->data + 8, 8);
  g_assert_cmphex (GUINT64_FROM_LE (counter), ==, G_GUINT64_CONSTANT (1) << 60);
  /* The last counter below REJECT_AFTER_MESSAGES (2^64 - 2^13 - 1) goes
   * out, then nothing. */
  fz_packet_buf_reset (buf);
  s.send_counter = FZ_WG_REJECT_AFTER_MESSAGES - 1;
  g_assert_true (fz_wg_session_can_send (&s, 0));
  g_assert_true (fz_wg_session_encrypt (&s, buf, 0));
  memcpy (&counter, buf->data + 8, 8);
  g_assert_cmphex (GUINT64_FROM_LE (counter), ==,
                   G_GUINT64_CONSTANT (0xffffffffffffdffe));
  g_assert_false (fz_wg_session_can_send (&s, 0));
  fz_wg_session_wipe (&s);
}

/* Initiations from one peer faster than 50 a second are refused, even
 * fresh, valid ones (a flood, not a replay): a second device with a's key
 * and a later clock sends one 10 ms after a did. */
static void
test_initiation_flood (void)
{
  FzWgTransmit tx;
  Node a, b, twin;

  pair_nodes (&a, &b, NULL, NULL, FALSE);
  node_init (&twin, 1, "192.0.2.1", 51820); /* same key as a */
  fz_wg_device_set_wall_offset (twin.dev, G_GINT64_CONSTANT (1700000001) * SEC);
  twin.peer
    = fz_wg_device_add_peer (twin.dev, fz_wg_device_public_key (b.dev), NULL, NULL);
  fz_wg_peer_set_endpoint (twin.peer, &b.addr);

  fz_wg_peer_initiate (a.peer, now);
  g_assert_true (fz_wg_device_poll_transmit (a.dev, &tx));
  g_assert_cmpint (deliver (&a, &b, tx.buf), ==, FZ_WG_RX_OK);

  now += 10 * 1000;
  fz_wg_peer_initiate (twin.peer, now);
  g_assert_true (fz_wg_device_poll_transmit (twin.dev, &tx));
  g_assert_cmpint (deliver (&twin, &b, tx.buf), ==, FZ_WG_RX_RATE_LIMITED);

  pair_clear (&a, &b);
  node_clear (&twin);
}

/* A batch with bad datagrams among good ones: each gets its own result,
 * the good ones after a bad one are delivered all the same. */
static void
test_batch (void)
{
  FzPacketBuf *bufs[6], *dup;
  FzSockAddr from[6];
  FzWgRxResult res[6];
  Node a, b;

  pair_nodes (&a, &b, NULL, NULL, TRUE);

  for (guint i = 0; i < 6; i++)
    {
      from[i] = a.addr;
      if (i == 1)
        {
          bufs[i] = fz_buf_pool_alloc (pool);
          fz_packet_buf_set (bufs[i], "\x09garbage", 8);
        }
      else
        g_assert_cmpint (send_packet (&a, &b, (guint16) (10 + i), &bufs[i]), ==,
                         FZ_WG_SEND_NOW);
    }
  dup = fz_buf_pool_alloc (pool); /* a replay of the first, in place of the fourth */
  fz_packet_buf_set (dup, bufs[0]->data, bufs[0]->len);
  fz_packet_buf_free (bufs[3]);
  bufs[3] = dup;

  fz_wg_device_decapsulate_batch (b.dev, bufs, from, 6, now, res);
  g_assert_cmpint (res[0].rx, ==, FZ_WG_RX_PACKET);
  g_assert_cmpint (res[1].error, ==, FZ_WG_RX_BAD_MESSAGE);
  g_assert_cmpint (res[2].rx, ==, FZ_WG_RX_PACKET);
  g_assert_cmpint (res[3].error, ==, FZ_WG_RX_REPLAYED_DATA);
  g_assert_cmpint (res[4].rx, ==, FZ_WG_RX_PACKET);
  g_assert_cmpint (res[5].rx, ==, FZ_WG_RX_PACKET);
  g_assert_true (res[5].peer == b.peer);
  for (guint i = 0; i < 6; i++)
    fz_packet_buf_free (bufs[i]);
  pair_clear (&a, &b);
}

/* Padding to 16 bytes stops at the tunnel MTU: a full-MTU packet must
 * not become a datagram too big for the path. */
static void
test_padding_mtu (void)
{
  struct
  {
    gsize mtu, len, want;
  } cases[] = {
    { 0, 1420, 16 + 1424 + 16 },    { 1420, 1420, 16 + 1420 + 16 },
    { 1420, 1419, 16 + 1420 + 16 }, { 1420, 1400, 16 + 1408 + 16 },
    { 1280, 100, 16 + 112 + 16 },   { 1420, 0, 32 },
  };
  Node a, b;

  pair_nodes (&a, &b, NULL, NULL, TRUE);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      FzPacketBuf *buf = fz_buf_pool_alloc (pool);
      FzSockAddr dst;

      fz_wg_device_set_mtu (a.dev, cases[i].mtu);
      memset (fz_packet_buf_put (buf, cases[i].len), 0x45, cases[i].len);
      g_assert_cmpint (fz_wg_peer_encapsulate (a.peer, buf, now, &dst), ==,
                       FZ_WG_SEND_NOW);
      g_assert_cmpuint (buf->len, ==, cases[i].want);
      fz_packet_buf_free (buf);
    }
  pair_clear (&a, &b);
}

/* One device with 10 000 peers finds each message's peer by index. */
static void
test_index_demux (void)
{
  enum
  {
    REAL = 200,
    DUMMY = 9800
  };
  Node hub, *spokes = g_new0 (Node, REAL);
  guint8 key[32];

  setup ();
  node_init (&hub, 200, "192.0.2.100", 51820);
  for (guint i = 0; i < DUMMY; i++)
    {
      fz_rng_fill (&rng, key, sizeof key);
      g_assert_nonnull (fz_wg_device_add_peer (hub.dev, key, NULL, NULL));
    }
  for (guint i = 0; i < REAL; i++)
    {
      guint8 priv[32];
      char ip[32];

      g_snprintf (ip, sizeof ip, "198.18.%u.%u", i / 200, i % 200 + 1);
      memset (&spokes[i], 0, sizeof spokes[i]);
      fz_rng_fill (&rng, priv, sizeof priv);
      fz_wg_clamp_private_key (priv);
      spokes[i].dev = fz_wg_device_new (priv, &rng, pool);
      fz_ip_addr_parse (&spokes[i].addr.ip, ip);
      spokes[i].addr.port = 51820;
      spokes[i].inbox = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      spokes[i].rx_errors = g_array_new (FALSE, FALSE, sizeof (FzWgRxError));
      spokes[i].peer = fz_wg_device_add_peer (
        spokes[i].dev, fz_wg_device_public_key (hub.dev), NULL, NULL);
      fz_wg_peer_set_endpoint (spokes[i].peer, &hub.addr);
      g_assert_nonnull (fz_wg_device_add_peer (
        hub.dev, fz_wg_device_public_key (spokes[i].dev), NULL, NULL));
    }
  g_assert_cmpuint (fz_wg_device_peers (hub.dev)->len, ==, REAL + DUMMY);

  for (guint i = 0; i < REAL; i++)
    {
      FzWgTransmit tx;
      send_packet (&spokes[i], &hub, (guint16) i, NULL);
      /* pump spoke <-> hub by hand: the hub's peer for this spoke differs */
      for (gboolean busy = TRUE; busy;)
        {
          busy = FALSE;
          while (fz_wg_device_poll_transmit (spokes[i].dev, &tx))
            {
              FzWgPeer *peer = NULL;
              FzWgRxError err;
              busy = TRUE;
              if (fz_wg_device_decapsulate (hub.dev, &spokes[i].addr, tx.buf, now, &peer,
                                            &err)
                  == FZ_WG_RX_PACKET)
                {
                  const guint8 *p = tx.buf->data;
                  g_assert_true (peer
                                 == fz_wg_device_lookup_peer (
                                   hub.dev, fz_wg_device_public_key (spokes[i].dev)));
                  g_assert_cmpuint ((guint16) (p[20] << 8 | p[21]), ==, i);
                  hub.events[0]++; /* count deliveries */
                }
              g_assert_cmpint (err, ==, FZ_WG_RX_OK);
              fz_packet_buf_free (tx.buf);
            }
          while (fz_wg_device_poll_transmit (hub.dev, &tx))
            {
              busy = TRUE;
              g_assert_true (fz_sock_addr_equal (&tx.dst, &spokes[i].addr));
              deliver (&hub, &spokes[i], tx.buf);
            }
        }
    }
  g_assert_cmpuint (hub.events[0], ==, REAL);
  for (guint i = 0; i < REAL; i++)
    node_clear (&spokes[i]);
  g_free (spokes);
  node_clear (&hub);
}

static gboolean
all_zero (const void *p, gsize len)
{
  const guint8 *b = p;
  for (gsize i = 0; i < len; i++)
    if (b[i] != 0)
      return FALSE;
  return TRUE;
}

/* The handshake scratch (the initiator's hash, chaining key and static
 * key, new session keys) is zero after every handshake message, taken or
 * rejected. */
#define assert_scratch_wiped(n)                                                          \
  do                                                                                     \
    {                                                                                    \
      g_assert_true (all_zero (&(n)->dev->scratch, sizeof (n)->dev->scratch));           \
      g_assert_true (all_zero (&(n)->dev->scratch_keys, sizeof (n)->dev->scratch_keys)); \
    }                                                                                    \
  while (0)

static FzPacketBuf *
take_initiation (Node *n, FzPacketBuf **copy)
{
  FzWgTransmit tx;
  fz_wg_peer_initiate (n->peer, now);
  g_assert_true (fz_wg_device_poll_transmit (n->dev, &tx));
  g_assert_cmpuint (tx.buf->len, ==, 148);
  if (copy != NULL)
    {
      *copy = fz_buf_pool_alloc (pool);
      fz_packet_buf_set (*copy, tx.buf->data, tx.buf->len);
    }
  return tx.buf;
}

static void
test_scratch_wiped (void)
{
  guint8 psk_a[32], psk_b[32];
  FzPacketBuf *copy;
  FzWgTransmit tx;
  Node a, b, c, twin;

  pair_nodes (&a, &b, NULL, NULL, FALSE);
  /* Taken: an initiation, and the response to it. */
  g_assert_cmpint (deliver (&a, &b, take_initiation (&a, &copy)), ==, FZ_WG_RX_OK);
  assert_scratch_wiped (&b);
  g_assert_true (fz_wg_device_poll_transmit (b.dev, &tx));
  g_assert_cmpint (deliver (&b, &a, tx.buf), ==, FZ_WG_RX_OK);
  assert_scratch_wiped (&a);
  pump (&a, &b);

  /* Replayed. */
  now += SEC;
  g_assert_cmpint (deliver (&a, &b, copy), ==, FZ_WG_RX_REPLAYED_INIT);
  assert_scratch_wiped (&b);

  /* A flood: fresh (a twin's later clock) but 10 ms after the last. */
  now += 10 * SEC;
  g_assert_cmpint (deliver (&a, &b, take_initiation (&a, NULL)), ==, FZ_WG_RX_OK);
  pump (&a, &b);
  node_init (&twin, 1, "192.0.2.1", 51820);
  fz_wg_device_set_wall_offset (twin.dev, G_GINT64_CONSTANT (1700000001) * SEC);
  twin.peer
    = fz_wg_device_add_peer (twin.dev, fz_wg_device_public_key (b.dev), NULL, NULL);
  fz_wg_peer_set_endpoint (twin.peer, &b.addr);
  now += 10 * 1000;
  g_assert_cmpint (deliver (&twin, &b, take_initiation (&twin, NULL)), ==,
                   FZ_WG_RX_RATE_LIMITED);
  assert_scratch_wiped (&b);

  /* A static key b does not know; a mac1 for another key. */
  node_init (&c, 3, "192.0.2.3", 51820);
  c.peer = fz_wg_device_add_peer (c.dev, fz_wg_device_public_key (b.dev), NULL, NULL);
  fz_wg_peer_set_endpoint (c.peer, &b.addr);
  g_assert_cmpint (deliver (&c, &b, take_initiation (&c, NULL)), ==,
                   FZ_WG_RX_UNKNOWN_PEER);
  assert_scratch_wiped (&b);
  fz_wg_device_remove_peer (c.dev, c.peer);
  c.peer = fz_wg_device_add_peer (c.dev, fz_wg_device_public_key (a.dev), NULL, NULL);
  fz_wg_peer_set_endpoint (c.peer, &b.addr);
  g_assert_cmpint (deliver (&c, &b, take_initiation (&c, NULL)), ==, FZ_WG_RX_BAD_MAC1);
  assert_scratch_wiped (&b);

  /* Under load without a cookie. */
  now += 10 * SEC;
  fz_wg_device_set_under_load_threshold (b.dev, 0);
  g_assert_cmpint (deliver (&a, &b, take_initiation (&a, NULL)), ==,
                   FZ_WG_RX_COOKIE_SENT);
  assert_scratch_wiped (&b);
  pair_clear (&a, &b);
  node_clear (&c);
  node_clear (&twin);

  /* A response that does not authenticate (the PSKs differ). */
  memset (psk_a, 1, sizeof psk_a);
  memset (psk_b, 2, sizeof psk_b);
  pair_nodes (&a, &b, psk_a, psk_b, FALSE);
  g_assert_cmpint (deliver (&a, &b, take_initiation (&a, NULL)), ==, FZ_WG_RX_OK);
  assert_scratch_wiped (&b);
  g_assert_true (fz_wg_device_poll_transmit (b.dev, &tx));
  g_assert_cmpint (deliver (&b, &a, tx.buf), ==, FZ_WG_RX_RESPONSE_FAILED);
  assert_scratch_wiped (&a);
  pair_clear (&a, &b);
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  pool = fz_buf_pool_new (2048, 512);
  g_test_add_func ("/wg/device/handshake-and-data", test_handshake_and_data);
  g_test_add_func ("/wg/device/psk", test_psk);
  g_test_add_func ("/wg/device/rekey-after-time", test_rekey_after_time);
  g_test_add_func ("/wg/device/reject-after-time", test_reject_after_time);
  g_test_add_func ("/wg/device/give-up", test_give_up);
  g_test_add_func ("/wg/device/eight-sessions", test_eight_sessions);
  g_test_add_func ("/wg/device/replay-and-forgery", test_replay_and_forgery);
  g_test_add_func ("/wg/device/initiation-replay-and-mac1",
                   test_initiation_replay_and_mac1);
  g_test_add_func ("/wg/device/cookie-under-load", test_cookie_under_load);
  g_test_add_func ("/wg/device/keepalive-and-roaming", test_keepalive_and_roaming);
  g_test_add_func ("/wg/device/padding-mtu", test_padding_mtu);
  g_test_add_func ("/wg/device/batch", test_batch);
  g_test_add_func ("/wg/device/message-limits", test_message_limits);
  g_test_add_func ("/wg/device/initiation-flood", test_initiation_flood);
  g_test_add_func ("/wg/device/index-demux-10000", test_index_demux);
  g_test_add_func ("/wg/device/scratch-wiped", test_scratch_wiped);
  ret = g_test_run ();
  fz_buf_pool_free (pool);
  return ret;
}
