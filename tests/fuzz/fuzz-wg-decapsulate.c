/* Datagrams into a WireGuard device that has a live session with the
 * fuzzer: nothing crashes, leaks or reads out of bounds; only data
 * sealed with the session's key yields a packet, exactly the one sealed;
 * and the receive counter window accepts exactly what a model of it says
 * (each counter once, none more than FZ_WG_REPLAY_WINDOW behind the
 * highest, none at or past REJECT_AFTER_MESSAGES).
 *
 * The fuzzer plays the peer: at start it completes a handshake with the
 * device from fixed keys and keeps the transport keys. Every input then
 * runs on a fresh device that consumes the same initiation with the same
 * seeded randomness, so it gets the same session and index: inputs do
 * not depend on each other. An input is a list of records
 *
 *   kind (1) | counter mode (1) | counter (8, LE) | length (1) | bytes
 *
 * where the kind says how the bytes become a datagram (see send_record)
 * and the mode places the counter: as given, just past the highest
 * accepted, just behind it (around the window's edge) or near the limit. */
#include "fz-private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define NOW         (10 * G_USEC_PER_SEC)
#define WALL        (G_GINT64_CONSTANT (1700000000) * G_USEC_PER_SEC)
#define MAX_RECORDS 64
#define HEADER      11

static FzBufPool *pool;
static FzRng rng;
static guint8 priv_dev[32], priv_fuzz[32], pub_fuzz[32], psk[32];
static guint8 initiation[FZ_WG_INITIATION_LEN], response[FZ_WG_RESPONSE_LEN];
static FzWgKeypair keys; /* the fuzzer's side of the session */
static gboolean have_response;
static FzSockAddr from = { .port = 51820 };

typedef struct
{
  FzWgDevice *dev;
  FzWgPeer *peer;
  /* The model of the device's receive window. */
  gboolean any;
  guint64 highest;
  guint64 seen[MAX_RECORDS];
  guint n_seen;
} Run;

static void
drain (FzWgDevice *dev)
{
  FzWgTransmit tx;
  FzWgEvent ev;

  while (fz_wg_device_poll_transmit (dev, &tx))
    fz_packet_buf_free (tx.buf);
  while (fz_wg_device_poll_event (dev, &ev))
    ;
}

static FzWgRx
deliver (Run *r, const guint8 *d, gsize len, FzPacketBuf **out, FzWgRxError *err)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (pool);
  FzWgPeer *peer = NULL;
  FzWgRx rx;

  if (!fz_packet_buf_set (buf, d, len))
    abort ();
  rx = fz_wg_device_decapsulate (r->dev, &from, buf, NOW + G_USEC_PER_SEC, &peer, err);
  if (rx == FZ_WG_RX_PACKET && peer != r->peer)
    abort ();
  *out = buf;
  return rx;
}

/* A fresh device with the fuzzer's session up, as the responder. */
static void
run_init (Run *r)
{
  FzPacketBuf *buf;
  FzWgRxError err;
  FzWgTransmit tx;

  memset (r, 0, sizeof *r);
  fz_rng_init_seeded (&rng, 1);
  r->dev = fz_wg_device_new (priv_dev, &rng, pool);
  fz_wg_device_set_wall_offset (r->dev, WALL);
  r->peer = fz_wg_device_add_peer (r->dev, pub_fuzz, psk, NULL);
  fz_wg_peer_set_endpoint (r->peer, &from);
  if (deliver (r, initiation, sizeof initiation, &buf, &err) != FZ_WG_RX_NOTHING
      || err != FZ_WG_RX_OK)
    abort ();
  fz_packet_buf_free (buf);
  if (!fz_wg_device_poll_transmit (r->dev, &tx) || tx.buf->len != sizeof response)
    abort ();
  /* The first run keeps the response; every later one must repeat it, or
   * the fuzzer's keys would not fit the session. */
  if (!have_response)
    memcpy (response, tx.buf->data, sizeof response);
  else if (memcmp (response, tx.buf->data, sizeof response) != 0)
    abort ();
  have_response = TRUE;
  fz_packet_buf_free (tx.buf);
  drain (r->dev);
}

static void
setup (void)
{
  FzWgIdentity id;
  FzWgHandshake hs;
  FzRng hs_rng;
  Run r;

  memset (priv_dev, 1, 32);
  memset (priv_fuzz, 2, 32);
  memset (psk, 3, 32);
  fz_wg_clamp_private_key (priv_dev);
  fz_wg_clamp_private_key (priv_fuzz);
  fz_wg_public_key (pub_fuzz, priv_fuzz);
  fz_ip_addr_parse (&from.ip, "192.0.2.2");
  pool = fz_buf_pool_new (2048, 64);

  /* The fuzzer's initiation, the device's response, the fuzzer's keys. */
  {
    guint8 pub_dev[32];
    fz_wg_public_key (pub_dev, priv_dev);
    fz_wg_identity_init (&id, priv_fuzz);
    fz_wg_handshake_init (&hs, &id, pub_dev, psk);
  }
  fz_rng_init_seeded (&hs_rng, 2);
  if (!fz_wg_handshake_create_initiation (&hs, &id, 0x1234, WALL, NOW, &hs_rng,
                                          initiation))
    abort ();
  run_init (&r);
  if (!fz_wg_handshake_consume_response (&hs, &id, response, sizeof response, &keys))
    abort ();
  fz_wg_device_free (r.dev);
}

/* Would the device's window take @counter (and remember it if so)? */
static gboolean
model_accept (Run *r, guint64 counter)
{
  if (counter >= FZ_WG_REJECT_AFTER_MESSAGES)
    return FALSE;
  if (r->any && counter < r->highest && r->highest - counter > FZ_WG_REPLAY_WINDOW)
    return FALSE;
  for (guint i = 0; i < r->n_seen; i++)
    if (r->seen[i] == counter)
      return FALSE;
  r->seen[r->n_seen++] = counter;
  if (!r->any || counter > r->highest)
    r->highest = counter;
  r->any = TRUE;
  return TRUE;
}

static guint64
place_counter (const Run *r, guint8 mode, guint64 v)
{
  switch (mode % 4)
    {
    case 1: return r->highest + (v & 0xffff);
    case 2: return r->highest - (v & 0x1fff); /* the window is 4032 */
    case 3: return FZ_WG_REJECT_AFTER_MESSAGES - 4 + (v & 7);
    default: return v;
    }
}

/* A data message on the session: header, then @plain sealed (or raw). */
static gsize
seal (guint8 *out, guint32 index, guint64 counter, const guint8 *plain, gsize len,
      gboolean encrypt)
{
  out[0] = FZ_WG_MSG_DATA;
  out[1] = out[2] = out[3] = 0;
  for (guint i = 0; i < 4; i++)
    out[4 + i] = (guint8) (index >> (8 * i));
  for (guint i = 0; i < 8; i++)
    out[8 + i] = (guint8) (counter >> (8 * i));
  if (!encrypt)
    {
      memcpy (out + FZ_WG_DATA_HEADER_LEN, plain, len);
      return FZ_WG_DATA_HEADER_LEN + len;
    }
  fz_wg_aead_encrypt (out + FZ_WG_DATA_HEADER_LEN, keys.send, counter, plain, len, NULL,
                      0);
  return FZ_WG_DATA_HEADER_LEN + len + FZ_WG_TAG_LEN;
}

/* An IPv4 packet around @payload, zero-padded to 16 as senders do. */
static gsize
ipv4_packet (guint8 *out, const guint8 *payload, gsize len, gsize *padded)
{
  gsize total = 20 + len;

  memset (out, 0, 20);
  out[0] = 0x45;
  out[2] = (guint8) (total >> 8);
  out[3] = (guint8) total;
  out[8] = 64;
  out[9] = FZ_IP_PROTO_UDP;
  out[12] = 10, out[15] = 1;
  out[16] = 10, out[19] = 2;
  memcpy (out + 20, payload, len);
  *padded = (total + 15) / 16 * 16;
  memset (out + total, 0, *padded - total);
  return total;
}

static void
send_record (Run *r, guint8 kind, guint64 counter, const guint8 *bytes, gsize len)
{
  guint8 wire[512], plain[300];
  gsize n, inner = 0, padded;
  FzPacketBuf *buf;
  FzWgRxError err;
  FzWgRx rx;
  gboolean fresh;

  switch (kind % 6)
    {
    case 0: /* any bytes at all */
      rx = deliver (r, bytes, len, &buf, &err);
      if (rx == FZ_WG_RX_PACKET)
        abort (); /* the fuzzer cannot seal without the keys */
      break;
    case 1: /* the session's index and a counter, but no key */
      n = seal (wire, keys.remote_index, counter, bytes, len, FALSE);
      rx = deliver (r, wire, n, &buf, &err);
      if (rx == FZ_WG_RX_PACKET
          || (len >= FZ_WG_TAG_LEN && err != FZ_WG_RX_DECRYPT_FAILED))
        abort ();
      break;
    case 2: /* sealed: any plaintext, a keepalive when empty */
      n = seal (wire, keys.remote_index, counter, bytes, len, TRUE);
      fresh = model_accept (r, counter);
      rx = deliver (r, wire, n, &buf, &err);
      if (!fresh && err != FZ_WG_RX_REPLAYED_DATA)
        abort ();
      if (fresh && err != FZ_WG_RX_OK && err != FZ_WG_RX_BAD_INNER)
        abort ();
      if (fresh && len == 0 && (err != FZ_WG_RX_OK || rx != FZ_WG_RX_NOTHING))
        abort ();
      break;
    case 3: /* sealed IPv4 packet: delivered once, exactly */
      inner = ipv4_packet (plain, bytes, len, &padded);
      n = seal (wire, keys.remote_index, counter, plain, padded, TRUE);
      fresh = model_accept (r, counter);
      rx = deliver (r, wire, n, &buf, &err);
      if (fresh != (rx == FZ_WG_RX_PACKET))
        abort ();
      if (!fresh && err != FZ_WG_RX_REPLAYED_DATA)
        abort ();
      if (fresh && (buf->len != inner || memcmp (buf->data, plain, inner) != 0))
        abort ();
      break;
    case 4: /* sealed, then one bit changed: refused, counter not taken */
      n = seal (wire, keys.remote_index, counter, bytes, len, TRUE);
      {
        gsize at = len > 0 ? FZ_WG_DATA_HEADER_LEN + bytes[0] % (len + FZ_WG_TAG_LEN)
                           : FZ_WG_DATA_HEADER_LEN + counter % FZ_WG_TAG_LEN;
        wire[at] ^= (guint8) (1u << (counter % 8));
      }
      rx = deliver (r, wire, n, &buf, &err);
      if (rx == FZ_WG_RX_PACKET || err != FZ_WG_RX_DECRYPT_FAILED)
        abort ();
      break;
    default: /* sealed, to another index */
      n = seal (wire, keys.remote_index ^ (guint32) (counter | 1), counter, bytes, len,
                TRUE);
      rx = deliver (r, wire, n, &buf, &err);
      if (rx == FZ_WG_RX_PACKET || err == FZ_WG_RX_OK || err == FZ_WG_RX_REPLAYED_DATA)
        abort ();
      break;
    }
  fz_packet_buf_free (buf);
  drain (r->dev);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  Run r;

  if (pool == NULL)
    setup ();
  if (size > 4096)
    return 0;
  run_init (&r);
  /* With a handshake of its own in flight, responses are looked at too. */
  fz_wg_peer_initiate (r.peer, NOW + G_USEC_PER_SEC);
  drain (r.dev);

  for (guint k = 0; k < MAX_RECORDS && size >= HEADER; k++)
    {
      guint64 v = 0;
      gsize len = MIN (data[10], size - HEADER);

      for (guint i = 0; i < 8; i++)
        v |= (guint64) data[2 + i] << (8 * i);
      send_record (&r, data[0], place_counter (&r, data[1], v), data + HEADER, len);
      data += HEADER + len;
      size -= HEADER + len;
    }
  fz_wg_device_free (r.dev);
  return 0;
}
