#include "fz-wg-session-private.h"

#include <string.h>

void
fz_wg_session_start (FzWgSession *s, const FzWgKeypair *keys, gint64 now)
{
  fz_wg_session_wipe (s);
  s->keys = *keys;
  s->created = now;
  s->valid = TRUE;
  /* The initiator's first data confirms the keys to the responder; the
   * initiator itself knows from the response. */
  s->confirmed = keys->initiator;
}

void
fz_wg_session_wipe (FzWgSession *s)
{
  fz_wg_aead_clear (&s->send_aead);
  fz_wg_aead_clear (&s->recv_aead);
  fz_wg_wipe (s, sizeof *s);
}

gboolean
fz_wg_session_can_send (const FzWgSession *s, gint64 now)
{
  return s->valid && s->confirmed && now - s->created < FZ_WG_REJECT_AFTER_TIME
         && s->send_counter < FZ_WG_REJECT_AFTER_MESSAGES;
}

gboolean
fz_wg_session_can_receive (const FzWgSession *s, gint64 now)
{
  return s->valid && now - s->created < FZ_WG_REJECT_AFTER_TIME;
}

static void
put_le (guint8 *p, guint64 v, guint n)
{
  for (guint i = 0; i < n; i++)
    p[i] = (guint8) (v >> (8 * i));
}

gboolean
fz_wg_session_encrypt (FzWgSession *s, FzPacketBuf *buf, gsize mtu)
{
  gsize len = buf->len, pad = (16 - len % 16) % 16;

  /* A full-MTU packet stays full-MTU: padding must not push the datagram
   * past the path (over IPv6, 1420 + 4 would not fit 1500). */
  if (mtu > 0 && len + pad > mtu)
    pad = mtu > len ? mtu - len : 0;
  guint8 *p;

  if (fz_packet_buf_tailroom (buf) < pad + FZ_WG_TAG_LEN
      || fz_packet_buf_headroom (buf) < FZ_WG_DATA_HEADER_LEN)
    return FALSE;
  memset (fz_packet_buf_put (buf, pad), 0, pad);
  p = fz_packet_buf_push (buf, FZ_WG_DATA_HEADER_LEN);
  p[0] = FZ_WG_MSG_DATA;
  p[1] = p[2] = p[3] = 0;
  put_le (p + 4, s->keys.remote_index, 4);
  put_le (p + 8, s->send_counter, 8);
  fz_packet_buf_put (buf, FZ_WG_TAG_LEN);
  if (!fz_wg_aead_seal (&s->send_aead, s->keys.send, s->send_counter,
                        p + FZ_WG_DATA_HEADER_LEN, len + pad))
    {
      /* The packet as it came: it may be staged and sent later. */
      fz_packet_buf_pull (buf, FZ_WG_DATA_HEADER_LEN);
      fz_packet_buf_trim (buf, len);
      return FALSE;
    }
  s->send_counter++;
  return TRUE;
}

/* The length the IP header inside says, or 0 if it cannot be read. */
static gsize
inner_length (const guint8 *p, gsize len)
{
  if (len >= 20 && p[0] >> 4 == 4)
    return (gsize) p[2] << 8 | p[3];
  if (len >= 40 && p[0] >> 4 == 6)
    return 40 + ((gsize) p[4] << 8 | p[5]);
  return 0;
}

FzWgDecrypt
fz_wg_session_decrypt (FzWgSession *s, FzPacketBuf *buf)
{
  guint8 *p = buf->data;
  gsize plain_len, inner;
  guint64 counter = 0;

  g_return_val_if_fail (buf->len >= FZ_WG_DATA_MIN_LEN, FZ_WG_DECRYPT_BAD_TAG);
  for (guint i = 0; i < 8; i++)
    counter |= (guint64) p[8 + i] << (8 * i);
  plain_len = buf->len - FZ_WG_DATA_MIN_LEN;
  if (!fz_wg_aead_open (&s->recv_aead, s->keys.recv, counter, p + FZ_WG_DATA_HEADER_LEN,
                        plain_len + FZ_WG_TAG_LEN))
    return FZ_WG_DECRYPT_BAD_TAG;
  if (!fz_wg_replay_check (&s->replay, counter))
    return FZ_WG_DECRYPT_REPLAY;
  s->confirmed = TRUE;

  fz_packet_buf_pull (buf, FZ_WG_DATA_HEADER_LEN);
  fz_packet_buf_trim (buf, plain_len);
  if (plain_len == 0)
    return FZ_WG_DECRYPT_OK; /* keepalive */
  inner = inner_length (buf->data, plain_len);
  if (inner == 0 || inner > plain_len || plain_len - inner >= 16)
    return FZ_WG_DECRYPT_BAD_INNER;
  fz_packet_buf_trim (buf, inner);
  return FZ_WG_DECRYPT_OK;
}
