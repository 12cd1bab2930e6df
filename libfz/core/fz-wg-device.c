#include "fz-wg-private.h"

#include <string.h>

#define COOKIE_SECRET_LIFETIME (120 * G_USEC_PER_SEC)

/* The quark name is a string, not an expression: keep its dashes. */
/* clang-format off */
G_DEFINE_QUARK (fz-wg-error-quark, fz_wg_error)
/* clang-format on */

const char *
fz_wg_rx_error_to_string (FzWgRxError err)
{
  switch (err)
    {
    case FZ_WG_RX_OK: return "ok";
    case FZ_WG_RX_BAD_MESSAGE: return "not a WireGuard message";
    case FZ_WG_RX_BAD_MAC1: return "mac1 does not match our key";
    case FZ_WG_RX_COOKIE_SENT: return "under load: answered with a cookie";
    case FZ_WG_RX_UNKNOWN_PEER: return "initiation from an unknown key";
    case FZ_WG_RX_UNKNOWN_INDEX: return "unknown receiver index";
    case FZ_WG_RX_REPLAYED_INIT: return "replayed initiation";
    case FZ_WG_RX_RATE_LIMITED: return "initiations too fast";
    case FZ_WG_RX_RESPONSE_FAILED:
      return "handshake response did not authenticate (keys or preshared key differ)";
    case FZ_WG_RX_BAD_COOKIE: return "cookie reply did not authenticate";
    case FZ_WG_RX_DECRYPT_FAILED: return "data did not authenticate";
    case FZ_WG_RX_REPLAYED_DATA: return "replayed or too old data";
    case FZ_WG_RX_EXPIRED: return "data for an expired session";
    case FZ_WG_RX_BAD_INNER: return "data is not an IP packet";
    }
  return "unknown";
}

static guint
key_hash (gconstpointer key)
{
  guint h;
  memcpy (&h, key, sizeof h); /* keys are uniformly random */
  return h;
}

static gboolean
key_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, FZ_WG_KEY_LEN) == 0;
}

FzWgDevice *
fz_wg_device_new (const guint8 priv[FZ_WG_KEY_LEN], FzRng *rng, FzBufPool *pool)
{
  FzWgDevice *dev = g_new0 (FzWgDevice, 1);

  dev->rng = rng;
  dev->pool = pool;
  dev->rekey_attempt_time = FZ_WG_REKEY_ATTEMPT_TIME;
  dev->under_load_threshold = FZ_WG_UNDER_LOAD_DEFAULT;
  dev->peers = g_ptr_array_new ();
  dev->timers = fz_timer_heap_new ();
  dev->due = g_ptr_array_new ();
  dev->by_pub = g_hash_table_new (key_hash, key_equal);
  dev->by_index = g_hash_table_new (g_direct_hash, g_direct_equal);
  fz_wg_index_init (&dev->index, rng);
  fz_transmit_queue_init (&dev->transmits, FzWgTransmit);
  g_queue_init (&dev->events);
  fz_wg_identity_init (&dev->id, priv);
  return dev;
}

void
fz_wg_device_free (FzWgDevice *dev)
{
  if (dev == NULL)
    return;
  fz_transmit_queue_clear (&dev->transmits);
  g_queue_clear_full (&dev->events, g_free);
  for (guint i = 0; i < dev->peers->len; i++)
    fz_wg_peer_free (dev->peers->pdata[i]);
  g_ptr_array_unref (dev->peers);
  g_ptr_array_unref (dev->due);
  fz_timer_heap_free (dev->timers);
  g_hash_table_unref (dev->by_pub);
  g_hash_table_unref (dev->by_index);
  fz_wg_wipe (dev, sizeof *dev);
  g_free (dev);
}

void
fz_wg_device_set_wall_offset (FzWgDevice *dev, gint64 offset_us)
{
  dev->wall_offset = offset_us;
}

void
fz_wg_device_set_private_key (FzWgDevice *dev, const guint8 priv[FZ_WG_KEY_LEN])
{
  fz_wg_identity_init (&dev->id, priv);
  /* Every peer's static-static secret changes; sessions made with the old
   * key stay until they expire, as in the reference implementations. */
  for (guint i = 0; i < dev->peers->len; i++)
    {
      FzWgPeer *peer = dev->peers->pdata[i];
      guint8 pub[FZ_WG_KEY_LEN], psk[FZ_WG_KEY_LEN];
      guint8 ts[FZ_WG_TAI64N_LEN];

      memcpy (pub, peer->hs.remote_pub, sizeof pub);
      memcpy (psk, peer->hs.psk, sizeof psk);
      memcpy (ts, peer->hs.latest_timestamp, sizeof ts);
      fz_wg_handshake_wipe (&peer->hs);
      fz_wg_handshake_init (&peer->hs, &dev->id, pub, psk);
      memcpy (peer->hs.latest_timestamp, ts, sizeof ts);
      fz_wg_wipe (psk, sizeof psk);
    }
}

const guint8 *
fz_wg_device_public_key (FzWgDevice *dev)
{
  return dev->id.pub;
}

void
fz_wg_device_set_rekey_attempt_time (FzWgDevice *dev, gint64 us)
{
  dev->rekey_attempt_time = us;
}

void
fz_wg_device_set_mtu (FzWgDevice *dev, gsize mtu)
{
  dev->mtu = mtu;
}

void
fz_wg_device_set_under_load_threshold (FzWgDevice *dev, guint per_second)
{
  dev->under_load_threshold = per_second;
}

FzWgPeer *
fz_wg_device_add_peer (FzWgDevice *dev, const guint8 pub[FZ_WG_KEY_LEN],
                       const guint8 *psk, GError **error)
{
  FzWgPeer *peer;
  guint32 index;

  if (g_hash_table_contains (dev->by_pub, pub))
    {
      g_set_error_literal (error, FZ_WG_ERROR, FZ_WG_ERROR_EXISTS, "peer already exists");
      return NULL;
    }
  if (!fz_wg_index_next (&dev->index, &index))
    {
      g_set_error_literal (error, FZ_WG_ERROR, FZ_WG_ERROR_NO_INDEX,
                           "no peer index left (16777215 peers were created)");
      return NULL;
    }
  peer = fz_wg_peer_new (dev, index, pub, psk);
  g_ptr_array_add (dev->peers, peer);
  g_hash_table_insert (dev->by_pub, peer->hs.remote_pub, peer);
  g_hash_table_insert (dev->by_index, GUINT_TO_POINTER (index), peer);
  return peer;
}

FzWgPeer *
fz_wg_device_lookup_peer (FzWgDevice *dev, const guint8 pub[FZ_WG_KEY_LEN])
{
  return g_hash_table_lookup (dev->by_pub, pub);
}

void
fz_wg_device_remove_peer (FzWgDevice *dev, FzWgPeer *peer)
{
  GList *l = dev->events.head;

  g_hash_table_remove (dev->by_pub, peer->hs.remote_pub);
  g_hash_table_remove (dev->by_index, GUINT_TO_POINTER (peer->index));
  g_ptr_array_remove_fast (dev->peers, peer);
  /* Pending transmits may still go out; they no longer name the peer. */
  for (guint i = 0; i < fz_transmit_queue_length (&dev->transmits); i++)
    {
      FzWgTransmit *tx = fz_transmit_queue_peek_nth (&dev->transmits, i);
      if (tx->peer == peer)
        tx->peer = NULL;
    }
  while (l != NULL)
    {
      GList *next = l->next;
      if (((FzWgEvent *) l->data)->peer == peer)
        {
          g_free (l->data);
          g_queue_delete_link (&dev->events, l);
        }
      l = next;
    }
  fz_wg_peer_free (peer);
}

GPtrArray *
fz_wg_device_peers (FzWgDevice *dev)
{
  return dev->peers;
}

void
fz_wg_device_queue_transmit (FzWgDevice *dev, FzWgPeer *peer, const FzSockAddr *dst,
                             FzPacketBuf *buf)
{
  FzWgTransmit tx = { .peer = peer, .dst = *dst, .buf = buf };

  fz_transmit_queue_push (&dev->transmits, &tx);
}

gboolean
fz_wg_device_poll_transmit (FzWgDevice *dev, FzWgTransmit *out)
{
  return fz_transmit_queue_pop (&dev->transmits, out);
}

void
fz_wg_device_queue_event (FzWgDevice *dev, FzWgEventType type, FzWgPeer *peer)
{
  FzWgEvent *ev = g_new (FzWgEvent, 1);

  ev->type = type;
  ev->peer = peer;
  g_queue_push_tail (&dev->events, ev);
}

gboolean
fz_wg_device_poll_event (FzWgDevice *dev, FzWgEvent *out)
{
  FzWgEvent *ev = g_queue_pop_head (&dev->events);

  if (ev == NULL)
    return FALSE;
  *out = *ev;
  g_free (ev);
  return TRUE;
}

gint64
fz_wg_device_poll_timeout (FzWgDevice *dev)
{
  return fz_timer_heap_next (dev->timers);
}

/* Runs only the peers that are due, each once (as a scan would): they are
 * all taken out first, so one that rescheduled itself at or before @now
 * is not run again in this call. */
void
fz_wg_device_handle_timeout (FzWgDevice *dev, gint64 now)
{
  FzTimer *t;

  while ((t = fz_timer_heap_pop_due (dev->timers, now)) != NULL)
    g_ptr_array_add (dev->due, FZ_TIMER_OWNER (t, FzWgPeer, timer));
  for (guint i = 0; i < dev->due->len; i++)
    fz_wg_peer_run_timers (dev->due->pdata[i], now);
  g_ptr_array_set_size (dev->due, 0);
}

static FzWgPeer *
peer_by_index (FzWgDevice *dev, guint32 index)
{
  return g_hash_table_lookup (dev->by_index, GUINT_TO_POINTER (index >> 8));
}

/* Counts handshake messages per second; past the threshold, a sender must
 * show a cookie for its address in mac2, or gets one and nothing else. */
static gboolean
needs_cookie (FzWgDevice *dev, const FzSockAddr *from, const guint8 *msg, gsize len,
              gint64 now)
{
  guint8 cookie[FZ_WG_MAC_LEN];

  if (now - dev->second_started >= G_USEC_PER_SEC)
    {
      dev->second_started = now;
      dev->handshakes_this_second = 0;
    }
  if (++dev->handshakes_this_second <= dev->under_load_threshold)
    return FALSE;
  if (dev->cookie_secret_born == 0
      || now - dev->cookie_secret_born >= COOKIE_SECRET_LIFETIME)
    {
      fz_rng_fill (dev->rng, dev->cookie_secret, sizeof dev->cookie_secret);
      dev->cookie_secret_born = now;
    }
  fz_wg_make_cookie (cookie, dev->cookie_secret, from->ip.bytes,
                     fz_ip_addr_len (&from->ip), from->port);
  gboolean shown = fz_wg_check_mac2 (cookie, msg, len);
  if (!shown)
    {
      FzPacketBuf *reply = fz_buf_pool_alloc (dev->pool);
      fz_wg_create_cookie_reply (&dev->id, msg, len, cookie, dev->rng,
                                 fz_packet_buf_put (reply, FZ_WG_COOKIE_LEN));
      fz_wg_device_queue_transmit (dev, NULL, from, reply);
    }
  fz_wg_wipe (cookie, sizeof cookie);
  return !shown;
}

static FzWgRxError
init_result (FzWgInitResult r)
{
  switch (r)
    {
    case FZ_WG_INIT_OK: return FZ_WG_RX_OK;
    case FZ_WG_INIT_REPLAYED: return FZ_WG_RX_REPLAYED_INIT;
    case FZ_WG_INIT_FLOOD: return FZ_WG_RX_RATE_LIMITED;
    case FZ_WG_INIT_BAD_KEY: break;
    }
  return FZ_WG_RX_UNKNOWN_PEER;
}

/* Every path leaves through `out`, which wipes the scratch. */
static FzWgRxError
handle_initiation (FzWgDevice *dev, const FzSockAddr *from, const guint8 *msg, gsize len,
                   gint64 now, FzWgPeer **out)
{
  FzWgInitiation *scratch = &dev->scratch;
  FzWgKeypair *keys = &dev->scratch_keys;
  FzWgRxError err = FZ_WG_RX_UNKNOWN_PEER;
  FzWgPeer *peer;
  FzPacketBuf *resp;

  if (!fz_wg_initiation_open (&dev->id, msg, len, scratch))
    goto out;
  peer = g_hash_table_lookup (dev->by_pub, scratch->remote_pub);
  if (peer == NULL)
    goto out;
  *out = peer;
  err = init_result (fz_wg_handshake_consume_initiation (&peer->hs, scratch, now));
  if (err != FZ_WG_RX_OK)
    goto out;

  resp = fz_buf_pool_alloc (dev->pool);
  if (!fz_wg_handshake_create_response (
        &peer->hs, &dev->id, fz_wg_peer_next_session_index (peer), now, dev->rng,
        fz_packet_buf_put (resp, FZ_WG_RESPONSE_LEN), keys))
    {
      fz_packet_buf_free (resp);
      err = FZ_WG_RX_UNKNOWN_PEER;
      goto out;
    }
  fz_wg_peer_authenticated_rx (peer, from, len, FALSE, now);
  fz_wg_peer_add_session (peer, keys, now);
  fz_wg_device_queue_transmit (dev, peer, from, resp);

out:
  fz_wg_wipe (scratch, sizeof *scratch);
  fz_wg_wipe (keys, sizeof *keys);
  return err;
}

static FzWgRxError
handle_response (FzWgDevice *dev, const FzSockAddr *from, const guint8 *msg, gsize len,
                 gint64 now, FzWgPeer **out)
{
  FzWgPeer *peer = peer_by_index (dev, fz_wg_msg_index (msg, 8));
  FzWgKeypair *keys = &dev->scratch_keys;
  FzWgRxError err = FZ_WG_RX_OK;

  if (peer == NULL || peer->hs.state != FZ_WG_HS_INITIATION_SENT
      || peer->hs.local_index != fz_wg_msg_index (msg, 8))
    return FZ_WG_RX_UNKNOWN_INDEX;
  *out = peer;
  if (fz_wg_handshake_consume_response (&peer->hs, &dev->id, msg, len, keys))
    {
      fz_wg_peer_authenticated_rx (peer, from, len, FALSE, now);
      fz_wg_peer_add_session (peer, keys, now);
    }
  else
    {
      fz_wg_device_queue_event (dev, FZ_WG_EVENT_RESPONSE_REJECTED, peer);
      err = FZ_WG_RX_RESPONSE_FAILED;
    }
  fz_wg_wipe (keys, sizeof *keys);
  return err;
}

static FzWgRxError
handle_data (FzWgDevice *dev, const FzSockAddr *from, FzPacketBuf *buf, gint64 now,
             FzWgPeer **out)
{
  guint32 index = fz_wg_msg_index (buf->data, 4);
  FzWgPeer *peer = peer_by_index (dev, index);
  int slot = (index & 0xff) % FZ_WG_SESSIONS;
  gsize wire_len = buf->len;
  FzWgSession *s;
  gboolean was_confirmed;

  if (peer == NULL)
    return FZ_WG_RX_UNKNOWN_INDEX;
  s = &peer->sessions[slot];
  if (!s->valid || s->keys.local_index != index)
    return FZ_WG_RX_UNKNOWN_INDEX;
  if (!fz_wg_session_can_receive (s, now))
    return FZ_WG_RX_EXPIRED;
  *out = peer;
  was_confirmed = s->confirmed;
  switch (fz_wg_session_decrypt (s, buf))
    {
    case FZ_WG_DECRYPT_OK: break;
    case FZ_WG_DECRYPT_BAD_TAG: return FZ_WG_RX_DECRYPT_FAILED;
    case FZ_WG_DECRYPT_REPLAY: return FZ_WG_RX_REPLAYED_DATA;
    case FZ_WG_DECRYPT_BAD_INNER:
      fz_wg_peer_authenticated_rx (peer, from, wire_len, FALSE, now);
      return FZ_WG_RX_BAD_INNER;
    }
  if (!was_confirmed)
    fz_wg_peer_session_confirmed (peer, slot, now);
  fz_wg_peer_authenticated_rx (peer, from, wire_len, buf->len > 0, now);
  return FZ_WG_RX_OK;
}

FzWgRx
fz_wg_device_decapsulate (FzWgDevice *dev, const FzSockAddr *from, FzPacketBuf *buf,
                          gint64 now, FzWgPeer **peer, FzWgRxError *error)
{
  const guint8 *msg = buf->data;
  gsize len = buf->len;
  guint8 type = len > 0 ? msg[0] : 0; /* data decryption moves buf->data */
  FzWgPeer *p = NULL;
  FzWgRxError err;

  /* Byte 0 is the type, bytes 1-3 must be zero. */
  if (len < 4 || msg[1] != 0 || msg[2] != 0 || msg[3] != 0)
    err = FZ_WG_RX_BAD_MESSAGE;
  else if (msg[0] == FZ_WG_MSG_DATA && len >= FZ_WG_DATA_MIN_LEN)
    err = handle_data (dev, from, buf, now, &p);
  else if ((msg[0] == FZ_WG_MSG_INITIATION && len == FZ_WG_INITIATION_LEN)
           || (msg[0] == FZ_WG_MSG_RESPONSE && len == FZ_WG_RESPONSE_LEN))
    {
      if (!fz_wg_check_mac1 (&dev->id, msg, len))
        err = FZ_WG_RX_BAD_MAC1;
      else if (needs_cookie (dev, from, msg, len, now))
        err = FZ_WG_RX_COOKIE_SENT;
      else if (msg[0] == FZ_WG_MSG_INITIATION)
        err = handle_initiation (dev, from, msg, len, now, &p);
      else
        err = handle_response (dev, from, msg, len, now, &p);
    }
  else if (msg[0] == FZ_WG_MSG_COOKIE && len == FZ_WG_COOKIE_LEN)
    {
      p = peer_by_index (dev, fz_wg_msg_index (msg, 4));
      if (p == NULL)
        err = FZ_WG_RX_UNKNOWN_INDEX;
      else if (!fz_wg_handshake_consume_cookie_reply (&p->hs, msg, len, now))
        err = FZ_WG_RX_BAD_COOKIE;
      else
        err = FZ_WG_RX_OK;
    }
  else
    err = FZ_WG_RX_BAD_MESSAGE;

  if (peer != NULL)
    *peer = p;
  if (error != NULL)
    *error = err;
  return err == FZ_WG_RX_OK && type == FZ_WG_MSG_DATA && buf->len > 0 ? FZ_WG_RX_PACKET
                                                                      : FZ_WG_RX_NOTHING;
}

void
fz_wg_device_decapsulate_batch (FzWgDevice *dev, FzPacketBuf *const *bufs,
                                const FzSockAddr *from, guint n, gint64 now,
                                FzWgRxResult *results)
{
  for (guint i = 0; i < n; i++)
    results[i].rx = fz_wg_device_decapsulate (dev, &from[i], bufs[i], now,
                                              &results[i].peer, &results[i].error);
}
