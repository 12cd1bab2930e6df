/* Any bytes as STUN, ChannelData, a relay's answers to a live TURN
 * client, or a peer's checks and answers to a live ICE agent: parsing
 * stays in bounds, getters agree with the parse, and neither state
 * machine crashes or leaks whatever it is told.
 *
 * Input: a sequence of chunks, each a 2-byte big-endian length (its top
 * bit set for the ICE agent, clear for the TURN client) and that many
 * bytes. The first chunk is also parsed alone; every chunk is then
 * handed to the TURN client as the relay's answer to its latest request
 * and to the ICE agent as the peer's message (transaction ids are
 * patched in and integrity recomputed with the right key, so that the
 * messages get past the checks a forger could not). */
#include "fz-private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
touch (const guint8 *data, gsize len)
{
  FzStunMessage m;
  if (fz_stun_message_parse (&m, data, len, NULL))
    {
      if (m.n_attrs > FZ_STUN_MAX_ATTRS)
        abort ();
      for (guint i = 0; i < m.n_attrs; i++)
        if ((gsize) m.attrs[i].offset + m.attrs[i].len > len)
          abort ();
      guint32 u;
      guint64 v;
      guint code;
      guint16 ch;
      gsize n;
      FzSockAddr sa;
      char *reason = NULL;
      g_free (fz_stun_message_dup_string (&m, FZ_STUN_ATTR_USERNAME));
      g_free (fz_stun_message_dup_string (&m, FZ_STUN_ATTR_NONCE));
      fz_stun_message_get_u32 (&m, FZ_STUN_ATTR_PRIORITY, &u);
      fz_stun_message_get_u64 (&m, FZ_STUN_ATTR_ICE_CONTROLLING, &v);
      fz_stun_message_get_bytes (&m, FZ_STUN_ATTR_DATA, &n);
      fz_stun_message_get_channel (&m, &ch);
      for (guint k = 0; k < 3; k++)
        {
          fz_stun_message_get_xor_address (&m, FZ_STUN_ATTR_XOR_MAPPED_ADDRESS, k, &sa);
          fz_stun_message_get_xor_address (&m, FZ_STUN_ATTR_XOR_RELAYED_ADDRESS, k, &sa);
        }
      if (fz_stun_message_get_error (&m, &code, &reason) && (code < 300 || code > 699))
        abort ();
      g_free (reason);
      fz_stun_message_check_integrity (&m, (const guint8 *) "key", 3);
    }
  guint16 ch;
  const guint8 *payload;
  gsize plen;
  if (fz_channel_data_parse (data, len, &ch, &payload, &plen)
      && (payload + plen > data + len || ch < FZ_CHANNEL_MIN || ch > FZ_CHANNEL_MAX))
    abort ();
}

/* Rewrites a message with a right MESSAGE-INTEGRITY (the client's key)
 * and FINGERPRINT, so that answers get past authentication. */
#define ICE_LOCAL_PWD  "local-password-for-fuzzing"
#define ICE_REMOTE_PWD "remote-password-for-fuzzing"

static guint8 *
fixup (guint8 *chunk, gsize *n)
{
  FzStunMessage m;
  gboolean had_mi = FALSE;
  /* Parse with a correct fingerprint, whatever the input had. */
  if (*n >= 28 && chunk[*n - 8] == 0x80 && chunk[*n - 7] == 0x28)
    *n -= 8, chunk[2] = (guint8) ((*n - 20) >> 8), chunk[3] = (guint8) ((*n - 20) & 0xff);
  if (!fz_stun_message_parse (&m, chunk, *n, NULL))
    return chunk;
  guint8 *out = g_malloc (*n + 64);
  FzStunWriter w;
  fz_stun_writer_init (&w, out, *n + 64, m.method, m.klass, m.tid);
  for (guint i = 0; i < m.n_attrs; i++)
    {
      if (m.attrs[i].type == FZ_STUN_ATTR_MESSAGE_INTEGRITY)
        {
          had_mi = TRUE;
          continue;
        }
      fz_stun_writer_add (&w, m.attrs[i].type, chunk + m.attrs[i].offset, m.attrs[i].len);
    }
  if (had_mi && m.method == FZ_STUN_BINDING)
    {
      /* ICE: requests use our password, answers the peer's. */
      const char *pwd = m.klass == FZ_STUN_REQUEST ? ICE_LOCAL_PWD : ICE_REMOTE_PWD;
      fz_stun_writer_add_integrity (&w, (const guint8 *) pwd, strlen (pwd));
    }
  else if (had_mi)
    {
      guint8 key[16];
      fz_stun_long_term_key ("u", "r", "p", key);
      fz_stun_writer_add_integrity (&w, key, sizeof key);
    }
  fz_stun_writer_add_fingerprint (&w);
  gsize len = fz_stun_writer_finish (&w);
  if (len == 0)
    {
      g_free (out);
      return chunk;
    }
  g_free (chunk);
  *n = len;
  return out;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FzRng rng;
  fz_rng_init_seeded (&rng, 1);
  FzSockAddr srv = { .port = 3478 }, local = { .port = 52625 }, peer = { .port = 9 };
  fz_ip_addr_parse (&srv.ip, "198.51.100.1");
  fz_ip_addr_parse (&local.ip, "192.0.2.2");
  fz_ip_addr_parse (&peer.ip, "192.0.2.9");
  gint64 now = 1000000000;
  FzAllocation *a = fz_allocation_new (&srv, NULL, "u", "p", "r", &rng, now);
  guint8 tid[FZ_STUN_TID_LEN] = { 0 };

  FzIceAgent *ice = fz_ice_agent_new (TRUE, &fz_ice_client_default, &rng, now);
  fz_ice_agent_set_local_credentials (ice, "fuzz", ICE_LOCAL_PWD);
  fz_ice_agent_set_remote_credentials (ice, "peer", ICE_REMOTE_PWD);
  FzIceCandidate host, remote;
  fz_ice_candidate_init_local (&host, FZ_ICE_HOST, &local, &local, NULL);
  fz_ice_agent_add_local_candidate (ice, &host, now);
  fz_ice_candidate_init_local (&remote, FZ_ICE_HOST, &peer, &peer, NULL);
  fz_ice_agent_add_remote_candidate (ice, &remote, now);
  guint8 ice_tid[FZ_STUN_TID_LEN] = { 0 };
  gboolean first = TRUE;

  while (size >= 2)
    {
      /* The top bit of the length says who gets the chunk. */
      gboolean for_ice = (data[0] & 0x80) != 0;
      gsize n = MIN ((gsize) ((data[0] & 0x7f) << 8 | data[1]), size - 2);
      guint8 *chunk = g_memdup2 (data + 2, n);
      data += 2 + n;
      size -= 2 + n;
      if (first)
        touch (chunk, n);
      first = FALSE;

      FzAllocationTransmit at;
      while (fz_allocation_poll_transmit (a, &at))
        {
          memcpy (tid, at.buf->data + 8, FZ_STUN_TID_LEN);
          fz_packet_buf_free (at.buf);
        }
      FzIceTransmit it;
      while (fz_ice_agent_poll_transmit (ice, &it))
        {
          const guint8 *o = it.buf->data;
          if ((o[0] & 0x01) == 0 && (o[1] & 0x10) == 0) /* our requests */
            memcpy (ice_tid, o + 8, FZ_STUN_TID_LEN);
          fz_packet_buf_free (it.buf);
        }
      if (n >= FZ_STUN_HEADER_LEN && fz_stun_is_stun (chunk, n))
        {
          /* Answers match the latest transaction; requests keep theirs. */
          gboolean request = (chunk[0] & 0x01) == 0 && (chunk[1] & 0x10) == 0;
          if (!(for_ice && request))
            memcpy (chunk + 8, for_ice ? ice_tid : tid, FZ_STUN_TID_LEN);
          chunk = fixup (chunk, &n);
          FzStunMessage m;
          if (for_ice && fz_stun_message_parse (&m, chunk, n, NULL))
            fz_ice_agent_handle_stun (ice, &local, &peer, &m, now);
        }
      FzRelayedData d;
      if (fz_allocation_handle_input (a, &local, &srv, chunk, n, now, &d)
            == FZ_ALLOCATION_INPUT_DATA
          && (d.offset > n || d.len > n - d.offset))
        abort ();
      g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 64);
      fz_packet_buf_set (buf, "x", 1);
      FzSockAddr dst;
      fz_allocation_encapsulate (a, &peer, buf, now, &dst);
      /* Now and then a permission without a channel, to answer too. */
      if ((n & 7) == 1)
        fz_allocation_create_permission (a, &peer, now);
      /* Time moves by the chunk's last byte, in tenths of a second. */
      now += (n > 0 ? chunk[n - 1] : 0) * 100000;
      fz_allocation_handle_timeout (a, now);
      fz_ice_agent_handle_timeout (ice, now);
      FzIceEvent ie;
      while (fz_ice_agent_poll_event (ice, &ie))
        ;
      g_free (chunk);
    }
  FzAllocationEvent e;
  while (fz_allocation_poll_event (a, &e))
    g_clear_error (&e.error);
  fz_allocation_free (a);
  fz_ice_agent_free (ice);
  return 0;
}
