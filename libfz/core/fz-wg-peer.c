/* FzWgPeer: sessions, staged packets and the timers of one WireGuard peer
 * (whitepaper section 6), driven by FzWgDevice. */
#include "fz-wg-private.h"

#include <string.h>

#define REJECT_SOON                                                                      \
  (FZ_WG_REJECT_AFTER_TIME - FZ_WG_KEEPALIVE_TIMEOUT - FZ_WG_REKEY_TIMEOUT)
#define ZERO_KEYS_AFTER (3 * FZ_WG_REJECT_AFTER_TIME)
#define JITTER_MS       334 /* up to 333 ms added to the retransmit timeout */

FzWgPeer *
fz_wg_peer_new (FzWgDevice *dev, guint32 index, const guint8 pub[FZ_WG_KEY_LEN],
                const guint8 *psk)
{
  FzWgPeer *peer = g_new0 (FzWgPeer, 1);

  peer->dev = dev;
  peer->index = index;
  peer->current = -1;
  g_queue_init (&peer->staged);
  fz_wg_handshake_init (&peer->hs, &dev->id, pub, psk);
  return peer;
}

static void
drop_staged (FzWgPeer *peer)
{
  FzPacketBuf *b;

  while ((b = g_queue_pop_head (&peer->staged)) != NULL)
    fz_packet_buf_free (b);
}

static void
wipe_keys (FzWgPeer *peer)
{
  for (guint i = 0; i < FZ_WG_SESSIONS; i++)
    fz_wg_session_wipe (&peer->sessions[i]);
  peer->current = -1;
  fz_wg_handshake_clear (&peer->hs);
}

void
fz_wg_peer_free (FzWgPeer *peer)
{
  fz_timer_heap_cancel (peer->dev->timers, &peer->timer);
  drop_staged (peer);
  wipe_keys (peer);
  fz_wg_handshake_wipe (&peer->hs);
  g_free (peer);
}

const guint8 *
fz_wg_peer_public_key (FzWgPeer *peer)
{
  return peer->hs.remote_pub;
}

void
fz_wg_peer_set_preshared_key (FzWgPeer *peer, const guint8 *psk)
{
  static const guint8 zero[FZ_WG_KEY_LEN] = { 0 };
  memcpy (peer->hs.psk, psk != NULL ? psk : zero, FZ_WG_KEY_LEN);
}

void
fz_wg_peer_set_endpoint (FzWgPeer *peer, const FzSockAddr *endpoint)
{
  peer->endpoint = *endpoint;
  peer->has_endpoint = TRUE;
}

gboolean
fz_wg_peer_get_endpoint (FzWgPeer *peer, FzSockAddr *out)
{
  if (peer->has_endpoint)
    *out = peer->endpoint;
  return peer->has_endpoint;
}

void
fz_wg_peer_set_persistent_keepalive (FzWgPeer *peer, guint seconds, gint64 now)
{
  peer->keepalive_interval = seconds;
  peer->persistent_at = seconds > 0 ? now + seconds * G_USEC_PER_SEC : 0;
  fz_wg_peer_reschedule (peer);
}

guint
fz_wg_peer_get_persistent_keepalive (FzWgPeer *peer)
{
  return peer->keepalive_interval;
}

void
fz_wg_peer_get_stats (FzWgPeer *peer, FzWgPeerStats *out)
{
  out->rx_bytes = peer->rx_bytes;
  out->tx_bytes = peer->tx_bytes;
  out->rx_packets = peer->rx_packets;
  out->tx_packets = peer->tx_packets;
  out->last_handshake_wall_us = peer->last_handshake_wall;
}

guint32
fz_wg_peer_next_session_index (FzWgPeer *peer)
{
  return peer->index << 8 | peer->next_session++;
}

static void
send_initiation (FzWgPeer *peer, gint64 now, gboolean retry)
{
  FzWgDevice *dev = peer->dev;
  FzPacketBuf *buf;

  /* One initiation per REKEY_TIMEOUT at most; retries come after it. */
  if (peer->last_initiation_sent != 0
      && now - peer->last_initiation_sent < FZ_WG_REKEY_TIMEOUT)
    return;
  if (!peer->has_endpoint)
    return;
  buf = fz_buf_pool_alloc (dev->pool);
  if (!fz_wg_handshake_create_initiation (
        &peer->hs, &dev->id, fz_wg_peer_next_session_index (peer), now + dev->wall_offset,
        now, dev->rng, fz_packet_buf_put (buf, FZ_WG_INITIATION_LEN)))
    {
      fz_packet_buf_free (buf);
      return;
    }
  if (!retry || peer->attempt_started == 0)
    peer->attempt_started = now;
  peer->last_initiation_sent = now;
  peer->retransmit_at
    = now + FZ_WG_REKEY_TIMEOUT + fz_rng_below (dev->rng, JITTER_MS) * (gint64) 1000;
  fz_wg_peer_reschedule (peer);
  fz_wg_device_queue_transmit (dev, peer, &peer->endpoint, buf);
}

void
fz_wg_peer_initiate (FzWgPeer *peer, gint64 now)
{
  send_initiation (peer, now, FALSE);
}

static FzWgSession *
current_session (FzWgPeer *peer)
{
  return peer->current >= 0 ? &peer->sessions[peer->current] : NULL;
}

/* Encrypts @buf on the current session, or FALSE if there is none fit to
 * send on. Runs the send-side timers. */
static gboolean
encrypt_now (FzWgPeer *peer, FzPacketBuf *buf, gint64 now)
{
  FzWgSession *s = current_session (peer);
  gboolean data = buf->len > 0;

  if (s == NULL || !fz_wg_session_can_send (s, now) || !peer->has_endpoint
      || !fz_wg_session_encrypt (s, buf, peer->dev->mtu))
    return FALSE;
  peer->tx_bytes += buf->len;
  peer->tx_packets++;
  peer->keepalive_at = 0; /* we sent something: no keepalive owed */
  if (data && peer->new_handshake_at == 0)
    peer->new_handshake_at = now + FZ_WG_KEEPALIVE_TIMEOUT + FZ_WG_REKEY_TIMEOUT;
  if (peer->keepalive_interval > 0)
    peer->persistent_at = now + peer->keepalive_interval * G_USEC_PER_SEC;
  /* Keep the key fresh: the initiator rekeys after time or messages. */
  if (s->keys.initiator
      && (s->send_counter > FZ_WG_REKEY_AFTER_MESSAGES
          || now - s->created > FZ_WG_REKEY_AFTER_TIME))
    send_initiation (peer, now, FALSE);
  fz_wg_peer_reschedule (peer);
  return TRUE;
}

FzWgSend
fz_wg_peer_encapsulate (FzWgPeer *peer, FzPacketBuf *buf, gint64 now, FzSockAddr *dst)
{
  if (encrypt_now (peer, buf, now))
    {
      *dst = peer->endpoint;
      return FZ_WG_SEND_NOW;
    }
  if (!peer->has_endpoint)
    return FZ_WG_SEND_DROPPED;
  /* No session fit to send on: stage (oldest dropped past the bound) and
   * start a handshake. */
  if (g_queue_get_length (&peer->staged) >= FZ_WG_MAX_STAGED)
    fz_packet_buf_free (g_queue_pop_head (&peer->staged));
  g_queue_push_tail (&peer->staged, buf);
  send_initiation (peer, now, FALSE);
  return FZ_WG_SEND_QUEUED;
}

static void
flush_staged (FzWgPeer *peer, gint64 now)
{
  FzPacketBuf *b;

  while ((b = g_queue_peek_head (&peer->staged)) != NULL)
    {
      if (!encrypt_now (peer, b, now))
        return;
      g_queue_pop_head (&peer->staged);
      fz_wg_device_queue_transmit (peer->dev, peer, &peer->endpoint, b);
    }
}

static void
send_keepalive (FzWgPeer *peer, gint64 now)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (peer->dev->pool);
  FzSockAddr dst;

  switch (fz_wg_peer_encapsulate (peer, buf, now, &dst))
    {
    case FZ_WG_SEND_NOW: fz_wg_device_queue_transmit (peer->dev, peer, &dst, buf); break;
    case FZ_WG_SEND_QUEUED: break;
    case FZ_WG_SEND_DROPPED: fz_packet_buf_free (buf); break;
    }
}

static void
handshake_complete (FzWgPeer *peer, gint64 now)
{
  peer->retransmit_at = 0;
  peer->attempt_started = 0;
  peer->sent_lastminute = FALSE;
  peer->last_handshake_wall = now + peer->dev->wall_offset;
  fz_wg_peer_reschedule (peer);
  fz_wg_device_queue_event (peer->dev, FZ_WG_EVENT_HANDSHAKE_DONE, peer);
}

void
fz_wg_peer_add_session (FzWgPeer *peer, const FzWgKeypair *keys, gint64 now)
{
  int slot = (keys->local_index & 0xff) % FZ_WG_SESSIONS;

  if (slot == peer->current)
    peer->current = -1;
  fz_wg_session_start (&peer->sessions[slot], keys, now);
  peer->zero_keys_at = now + ZERO_KEYS_AFTER;
  fz_wg_peer_reschedule (peer);
  if (!keys->initiator)
    return; /* the responder waits for the initiator's first data */
  peer->current = slot;
  handshake_complete (peer, now);
  flush_staged (peer, now);
  if (g_queue_is_empty (&peer->staged))
    send_keepalive (peer, now); /* confirms the session to the responder */
}

void
fz_wg_peer_session_confirmed (FzWgPeer *peer, int slot, gint64 now)
{
  FzWgSession *cur = current_session (peer);

  /* Only a newer session takes over sending. */
  if (cur != NULL && cur->valid && cur->created > peer->sessions[slot].created)
    return;
  peer->current = slot;
  handshake_complete (peer, now);
  flush_staged (peer, now);
}

void
fz_wg_peer_authenticated_rx (FzWgPeer *peer, const FzSockAddr *from, gsize len,
                             gboolean data, gint64 now)
{
  FzWgSession *s = current_session (peer);

  /* Roaming: answer wherever the peer last spoke from. */
  peer->endpoint = *from;
  peer->has_endpoint = TRUE;
  peer->rx_bytes += len;
  peer->rx_packets++;
  peer->new_handshake_at = 0; /* we heard back */
  if (data && peer->keepalive_at == 0)
    peer->keepalive_at = now + FZ_WG_KEEPALIVE_TIMEOUT;
  if (peer->keepalive_interval > 0)
    peer->persistent_at = now + peer->keepalive_interval * G_USEC_PER_SEC;
  /* Keep the key fresh on receive: rekey once shortly before the
   * initiator's session would be rejected. */
  if (s != NULL && s->keys.initiator && now - s->created > REJECT_SOON
      && !peer->sent_lastminute)
    {
      peer->sent_lastminute = TRUE;
      send_initiation (peer, now, FALSE);
    }
  fz_wg_peer_reschedule (peer);
}

static gint64
earliest (gint64 a, gint64 b)
{
  if (a == 0)
    return b;
  if (b == 0)
    return a;
  return MIN (a, b);
}

gint64
fz_wg_peer_next_timer (FzWgPeer *peer)
{
  gint64 t = earliest (peer->retransmit_at, peer->keepalive_at);
  t = earliest (t, peer->new_handshake_at);
  t = earliest (t, peer->zero_keys_at);
  t = earliest (t, peer->persistent_at);
  return t;
}

void
fz_wg_peer_reschedule (FzWgPeer *peer)
{
  gint64 t = fz_wg_peer_next_timer (peer);

  fz_timer_heap_schedule (peer->dev->timers, &peer->timer, t != 0 ? t : G_MAXINT64);
}

static gboolean
due (gint64 *timer, gint64 now)
{
  if (*timer == 0 || *timer > now)
    return FALSE;
  *timer = 0;
  return TRUE;
}

void
fz_wg_peer_run_timers (FzWgPeer *peer, gint64 now)
{
  if (due (&peer->retransmit_at, now))
    {
      if (now - peer->attempt_started >= peer->dev->rekey_attempt_time)
        {
          /* Give up: forget the staged packets; keys go in a while. */
          peer->attempt_started = 0;
          peer->new_handshake_at = 0;
          fz_wg_handshake_clear (&peer->hs);
          drop_staged (peer);
          if (peer->zero_keys_at == 0)
            peer->zero_keys_at = now + ZERO_KEYS_AFTER;
          fz_wg_device_queue_event (peer->dev, FZ_WG_EVENT_HANDSHAKE_GAVE_UP, peer);
        }
      else
        send_initiation (peer, now, TRUE);
    }
  if (due (&peer->keepalive_at, now))
    send_keepalive (peer, now);
  if (due (&peer->new_handshake_at, now))
    send_initiation (peer, now, FALSE);
  if (due (&peer->zero_keys_at, now))
    wipe_keys (peer);
  if (due (&peer->persistent_at, now))
    {
      send_keepalive (peer, now);
      if (peer->persistent_at == 0 && peer->keepalive_interval > 0)
        peer->persistent_at = now + peer->keepalive_interval * G_USEC_PER_SEC;
    }
  fz_wg_peer_reschedule (peer);
}
