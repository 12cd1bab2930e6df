#include "fz-stun-message-private.h"

#include <sodium.h>
#include <string.h>
#include <zlib.h>

#define FINGERPRINT_XOR 0x5354554Eu
#define ATTR_HEADER_LEN 4

/* The quark name is a string, not an expression: keep its dashes. */
/* clang-format off */
G_DEFINE_QUARK (fz-stun-parse-error-quark, fz_stun_parse_error)
/* clang-format on */

static inline guint16
rd16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

static inline guint32
rd32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static inline void
wr16 (guint8 *p, guint16 v)
{
  p[0] = v >> 8;
  p[1] = v & 0xff;
}

static inline void
wr32 (guint8 *p, guint32 v)
{
  p[0] = v >> 24;
  p[1] = (v >> 16) & 0xff;
  p[2] = (v >> 8) & 0xff;
  p[3] = v & 0xff;
}

static inline gsize
pad4 (gsize n)
{
  return (n + 3) & ~(gsize) 3;
}

gboolean
fz_stun_is_stun (const guint8 *data, gsize len)
{
  return len >= FZ_STUN_HEADER_LEN && (data[0] & 0xc0) == 0
         && rd32 (data + 4) == FZ_STUN_MAGIC_COOKIE
         && (gsize) rd16 (data + 2) + FZ_STUN_HEADER_LEN == len && (len & 3) == 0;
}

/* The exact or bounded length each known attribute must have. Unknown
 * attributes are only bounded by the message. */
static gboolean
attr_length_ok (guint16 type, guint16 len, const guint8 *value)
{
  switch (type)
    {
    case FZ_STUN_ATTR_MAPPED_ADDRESS:
    case FZ_STUN_ATTR_XOR_MAPPED_ADDRESS:
    case FZ_STUN_ATTR_XOR_PEER_ADDRESS:
    case FZ_STUN_ATTR_XOR_RELAYED_ADDRESS:
    case FZ_STUN_ATTR_ALTERNATE_SERVER:
    case FZ_STUN_ATTR_RESPONSE_ORIGIN:
    case FZ_STUN_ATTR_OTHER_ADDRESS:
      if (len == 8)
        return value[1] == 0x01;
      if (len == 20)
        return value[1] == 0x02;
      return FALSE;
    case FZ_STUN_ATTR_USERNAME: return len <= FZ_STUN_MAX_USERNAME;
    case FZ_STUN_ATTR_REALM:
    case FZ_STUN_ATTR_NONCE:
    case FZ_STUN_ATTR_SOFTWARE:
    case FZ_STUN_ATTR_ALTERNATE_DOMAIN: return len <= FZ_STUN_MAX_TEXT;
    case FZ_STUN_ATTR_MESSAGE_INTEGRITY: return len == FZ_STUN_INTEGRITY_LEN;
    case FZ_STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
      return len >= 16 && len <= 32 && len % 4 == 0;
    case FZ_STUN_ATTR_ERROR_CODE:
      /* class 3-6, number 0-99, then a bounded reason phrase */
      return len >= 4 && len <= 4 + FZ_STUN_MAX_TEXT && value[2] >= 3 && value[2] <= 6
             && value[3] <= 99;
    case FZ_STUN_ATTR_UNKNOWN_ATTRIBUTES: return len % 2 == 0;
    case FZ_STUN_ATTR_CHANNEL_NUMBER:
    case FZ_STUN_ATTR_LIFETIME:
    case FZ_STUN_ATTR_REQUESTED_TRANSPORT:
    case FZ_STUN_ATTR_PRIORITY:
    case FZ_STUN_ATTR_NOMINATION:
    case FZ_STUN_ATTR_FINGERPRINT:
    case FZ_STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
    case FZ_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY:
    case FZ_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY_DRAFT: return len == 4;
    case FZ_STUN_ATTR_ADDRESS_ERROR_CODE:
    case FZ_STUN_ATTR_ADDRESS_ERROR_CODE_DRAFT:
      return len >= 4 && len <= 4 + FZ_STUN_MAX_TEXT;
    case FZ_STUN_ATTR_EVEN_PORT: return len == 1;
    case FZ_STUN_ATTR_DONT_FRAGMENT:
    case FZ_STUN_ATTR_USE_CANDIDATE: return len == 0;
    case FZ_STUN_ATTR_ICE_CONTROLLED:
    case FZ_STUN_ATTR_ICE_CONTROLLING:
    case FZ_STUN_ATTR_RESERVATION_TOKEN: return len == 8;
    default: return TRUE;
    }
}

static gboolean
attr_known (guint16 type)
{
  switch (type)
    {
    case FZ_STUN_ATTR_MAPPED_ADDRESS:
    case FZ_STUN_ATTR_USERNAME:
    case FZ_STUN_ATTR_MESSAGE_INTEGRITY:
    case FZ_STUN_ATTR_ERROR_CODE:
    case FZ_STUN_ATTR_UNKNOWN_ATTRIBUTES:
    case FZ_STUN_ATTR_CHANNEL_NUMBER:
    case FZ_STUN_ATTR_LIFETIME:
    case FZ_STUN_ATTR_XOR_PEER_ADDRESS:
    case FZ_STUN_ATTR_DATA:
    case FZ_STUN_ATTR_REALM:
    case FZ_STUN_ATTR_NONCE:
    case FZ_STUN_ATTR_XOR_RELAYED_ADDRESS:
    case FZ_STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
    case FZ_STUN_ATTR_EVEN_PORT:
    case FZ_STUN_ATTR_REQUESTED_TRANSPORT:
    case FZ_STUN_ATTR_DONT_FRAGMENT:
    case FZ_STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
    case FZ_STUN_ATTR_PASSWORD_ALGORITHM:
    case FZ_STUN_ATTR_USERHASH:
    case FZ_STUN_ATTR_XOR_MAPPED_ADDRESS:
    case FZ_STUN_ATTR_RESERVATION_TOKEN:
    case FZ_STUN_ATTR_PRIORITY:
    case FZ_STUN_ATTR_USE_CANDIDATE: return TRUE;
    default: return type >= 0x8000;
    }
}

gboolean
fz_stun_message_parse (FzStunMessage *msg, const guint8 *data, gsize len, GError **error)
{
  memset (msg, 0, sizeof *msg);
  msg->integrity = -1;

  if (len < FZ_STUN_HEADER_LEN || (data[0] & 0xc0) != 0
      || rd32 (data + 4) != FZ_STUN_MAGIC_COOKIE)
    {
      g_set_error (error, FZ_STUN_PARSE_ERROR, FZ_STUN_PARSE_ERROR_NOT_STUN,
                   "not a STUN message (%zu bytes, no magic cookie)", len);
      return FALSE;
    }
  guint16 body = rd16 (data + 2);
  if ((body & 3) != 0 || (gsize) body + FZ_STUN_HEADER_LEN != len)
    {
      g_set_error (error, FZ_STUN_PARSE_ERROR, FZ_STUN_PARSE_ERROR_NOT_STUN,
                   "STUN length %u does not fit a %zu-byte datagram", body, len);
      return FALSE;
    }

  guint16 type = rd16 (data);
  /* M11..M0 and C1 C0 are interleaved in the 14 bits (RFC 8489 5). */
  msg->method
    = (FzStunMethod) ((type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2));
  msg->klass = (FzStunClass) (((type >> 4) & 1) | ((type >> 7) & 2));
  memcpy (msg->tid, data + 8, FZ_STUN_TID_LEN);
  msg->data = data;
  msg->len = len;

  gsize off = FZ_STUN_HEADER_LEN;
  gboolean after_integrity = FALSE;
  while (off < len)
    {
      if (len - off < ATTR_HEADER_LEN)
        goto malformed_at;
      guint16 at = rd16 (data + off);
      guint16 alen = rd16 (data + off + 2);
      gsize voff = off + ATTR_HEADER_LEN;
      if (pad4 (alen) > len - voff)
        {
          g_set_error (error, FZ_STUN_PARSE_ERROR, FZ_STUN_PARSE_ERROR_MALFORMED,
                       "STUN attribute 0x%04x of %u bytes runs past the message", at,
                       alen);
          return FALSE;
        }
      if (msg->fingerprint)
        {
          g_set_error (error, FZ_STUN_PARSE_ERROR, FZ_STUN_PARSE_ERROR_MALFORMED,
                       "STUN attribute 0x%04x after FINGERPRINT", at);
          return FALSE;
        }
      if (!attr_length_ok (at, alen, data + voff))
        {
          g_set_error (error, FZ_STUN_PARSE_ERROR, FZ_STUN_PARSE_ERROR_MALFORMED,
                       "STUN attribute 0x%04x has a bad length (%u) or value", at, alen);
          return FALSE;
        }

      if (at == FZ_STUN_ATTR_FINGERPRINT)
        {
          guint32 crc = crc32 (0L, data, (uInt) off) ^ FINGERPRINT_XOR;
          if (crc != rd32 (data + voff))
            {
              g_set_error (error, FZ_STUN_PARSE_ERROR, FZ_STUN_PARSE_ERROR_FINGERPRINT,
                           "STUN FINGERPRINT does not match");
              return FALSE;
            }
          msg->fingerprint = TRUE;
        }
      else if (after_integrity)
        {
          /* RFC 8489 14.5: everything after MESSAGE-INTEGRITY but
           * FINGERPRINT is ignored. */
        }
      else
        {
          if (msg->n_attrs == FZ_STUN_MAX_ATTRS)
            {
              g_set_error (error, FZ_STUN_PARSE_ERROR, FZ_STUN_PARSE_ERROR_MALFORMED,
                           "more than %d STUN attributes", FZ_STUN_MAX_ATTRS);
              return FALSE;
            }
          msg->attrs[msg->n_attrs++] = (FzStunAttr){ at, alen, (guint16) voff };
          if (at == FZ_STUN_ATTR_MESSAGE_INTEGRITY)
            {
              msg->integrity = (gint) off;
              after_integrity = TRUE;
            }
          else if (!attr_known (at) && msg->n_unknown < FZ_STUN_MAX_UNKNOWN)
            msg->unknown[msg->n_unknown++] = at;
        }
      off = voff + pad4 (alen);
    }
  return TRUE;

malformed_at:
  g_set_error (error, FZ_STUN_PARSE_ERROR, FZ_STUN_PARSE_ERROR_MALFORMED,
               "truncated STUN attribute header at byte %zu", off);
  return FALSE;
}

const FzStunAttr *
fz_stun_message_find (const FzStunMessage *msg, guint16 type)
{
  for (guint i = 0; i < msg->n_attrs; i++)
    if (msg->attrs[i].type == type)
      return &msg->attrs[i];
  return NULL;
}

gboolean
fz_stun_message_has (const FzStunMessage *msg, guint16 type)
{
  return fz_stun_message_find (msg, type) != NULL;
}

gboolean
fz_stun_message_get_u32 (const FzStunMessage *msg, guint16 type, guint32 *out)
{
  const FzStunAttr *a = fz_stun_message_find (msg, type);
  if (a == NULL || a->len != 4)
    return FALSE;
  *out = rd32 (msg->data + a->offset);
  return TRUE;
}

gboolean
fz_stun_message_get_u64 (const FzStunMessage *msg, guint16 type, guint64 *out)
{
  const FzStunAttr *a = fz_stun_message_find (msg, type);
  if (a == NULL || a->len != 8)
    return FALSE;
  const guint8 *p = msg->data + a->offset;
  *out = ((guint64) rd32 (p) << 32) | rd32 (p + 4);
  return TRUE;
}

char *
fz_stun_message_dup_string (const FzStunMessage *msg, guint16 type)
{
  const FzStunAttr *a = fz_stun_message_find (msg, type);
  if (a == NULL || memchr (msg->data + a->offset, 0, a->len) != NULL)
    return NULL;
  return g_strndup ((const char *) msg->data + a->offset, a->len);
}

const guint8 *
fz_stun_message_get_bytes (const FzStunMessage *msg, guint16 type, gsize *len)
{
  const FzStunAttr *a = fz_stun_message_find (msg, type);
  if (a == NULL)
    return NULL;
  *len = a->len;
  return msg->data + a->offset;
}

gboolean
fz_stun_message_get_xor_address (const FzStunMessage *msg, guint16 type, guint index,
                                 FzSockAddr *out)
{
  for (guint i = 0; i < msg->n_attrs; i++)
    {
      const FzStunAttr *a = &msg->attrs[i];
      if (a->type != type || index-- > 0)
        continue;
      const guint8 *v = msg->data + a->offset;
      guint8 mask[16];
      wr32 (mask, FZ_STUN_MAGIC_COOKIE);
      memcpy (mask + 4, msg->tid, FZ_STUN_TID_LEN);
      memset (out, 0, sizeof *out);
      out->port = rd16 (v + 2) ^ (FZ_STUN_MAGIC_COOKIE >> 16);
      guint8 ip[16];
      gsize n = v[1] == 0x01 ? 4 : 16; /* the length check tied family to size */
      for (gsize k = 0; k < n; k++)
        ip[k] = v[4 + k] ^ mask[k];
      if (n == 4)
        fz_ip_addr_set_v4 (&out->ip, ip);
      else
        fz_ip_addr_set_v6 (&out->ip, ip);
      return TRUE;
    }
  return FALSE;
}

gboolean
fz_stun_message_get_error (const FzStunMessage *msg, guint *code, char **reason)
{
  const FzStunAttr *a = fz_stun_message_find (msg, FZ_STUN_ATTR_ERROR_CODE);
  if (a == NULL)
    return FALSE;
  const guint8 *v = msg->data + a->offset;
  *code = v[2] * 100u + v[3];
  if (reason != NULL)
    {
      /* For logs and messages: relays end it with NULs (coturn), and
       * nothing from the network may put control characters there. */
      gsize n = a->len - 4;
      while (n > 0 && v[4 + n - 1] == '\0')
        n--;
      g_autofree char *text = g_malloc (n + 1);
      for (gsize i = 0; i < n; i++)
        text[i] = v[4 + i] < 0x20 || v[4 + i] == 0x7f ? '?' : (char) v[4 + i];
      text[n] = '\0';
      *reason = g_utf8_make_valid (text, -1);
    }
  return TRUE;
}

gboolean
fz_stun_message_get_channel (const FzStunMessage *msg, guint16 *channel)
{
  guint32 v;
  if (!fz_stun_message_get_u32 (msg, FZ_STUN_ATTR_CHANNEL_NUMBER, &v))
    return FALSE;
  *channel = v >> 16;
  return TRUE;
}

/* HMAC-SHA1 over the message up to `end`, with the header's length field
 * set as if the message ended after an integrity attribute at `end`. */
static void
integrity_hmac (const guint8 *msg, gsize end, const guint8 *key, gsize key_len,
                guint8 out[FZ_STUN_INTEGRITY_LEN])
{
  guint8 header[FZ_STUN_HEADER_LEN];
  memcpy (header, msg, FZ_STUN_HEADER_LEN);
  wr16 (header + 2,
        (guint16) (end + ATTR_HEADER_LEN + FZ_STUN_INTEGRITY_LEN - FZ_STUN_HEADER_LEN));

  g_autoptr (GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA1, key, key_len);
  g_hmac_update (hmac, header, FZ_STUN_HEADER_LEN);
  g_hmac_update (hmac, msg + FZ_STUN_HEADER_LEN, end - FZ_STUN_HEADER_LEN);
  gsize n = FZ_STUN_INTEGRITY_LEN;
  g_hmac_get_digest (hmac, out, &n);
}

gboolean
fz_stun_message_check_integrity (const FzStunMessage *msg, const guint8 *key,
                                 gsize key_len)
{
  if (msg->integrity < 0)
    return FALSE;
  guint8 mac[FZ_STUN_INTEGRITY_LEN];
  integrity_hmac (msg->data, (gsize) msg->integrity, key, key_len, mac);
  return sodium_memcmp (mac, msg->data + msg->integrity + ATTR_HEADER_LEN, sizeof mac)
         == 0;
}

void
fz_stun_long_term_key (const char *username, const char *realm, const char *password,
                       guint8 key[16])
{
  g_autoptr (GChecksum) md5 = g_checksum_new (G_CHECKSUM_MD5);
  g_checksum_update (md5, (const guchar *) username, -1);
  g_checksum_update (md5, (const guchar *) ":", 1);
  g_checksum_update (md5, (const guchar *) realm, -1);
  g_checksum_update (md5, (const guchar *) ":", 1);
  g_checksum_update (md5, (const guchar *) password, -1);
  gsize n = 16;
  g_checksum_get_digest (md5, key, &n);
}

void
fz_stun_writer_init (FzStunWriter *w, guint8 *buf, gsize cap, FzStunMethod method,
                     FzStunClass klass, const guint8 tid[FZ_STUN_TID_LEN])
{
  w->buf = buf;
  w->cap = MIN (cap, (gsize) G_MAXUINT16 + FZ_STUN_HEADER_LEN - 3);
  w->len = FZ_STUN_HEADER_LEN;
  w->overflow = cap < FZ_STUN_HEADER_LEN;
  if (w->overflow)
    return;
  guint16 m = (guint16) method;
  guint16 type = (m & 0x000f) | ((m & 0x0070) << 1) | ((m & 0x0f80) << 2)
                 | ((klass & 1) << 4) | ((klass & 2) << 7);
  wr16 (buf, type);
  wr16 (buf + 2, 0);
  wr32 (buf + 4, FZ_STUN_MAGIC_COOKIE);
  memcpy (buf + 8, tid, FZ_STUN_TID_LEN);
}

/* Reserves an attribute and returns where its value goes, or NULL. */
static guint8 *
writer_reserve (FzStunWriter *w, guint16 type, gsize len)
{
  if (w->overflow || len > G_MAXUINT16 || w->cap - w->len < ATTR_HEADER_LEN + pad4 (len))
    {
      w->overflow = TRUE;
      return NULL;
    }
  guint8 *p = w->buf + w->len;
  wr16 (p, type);
  wr16 (p + 2, (guint16) len);
  memset (p + ATTR_HEADER_LEN + len, 0, pad4 (len) - len);
  w->len += ATTR_HEADER_LEN + pad4 (len);
  wr16 (w->buf + 2, (guint16) (w->len - FZ_STUN_HEADER_LEN));
  return p + ATTR_HEADER_LEN;
}

void
fz_stun_writer_add (FzStunWriter *w, guint16 type, const void *value, gsize len)
{
  guint8 *p = writer_reserve (w, type, len);
  if (p != NULL && len > 0)
    memcpy (p, value, len);
}

void
fz_stun_writer_add_u32 (FzStunWriter *w, guint16 type, guint32 value)
{
  guint8 *p = writer_reserve (w, type, 4);
  if (p != NULL)
    wr32 (p, value);
}

void
fz_stun_writer_add_u64 (FzStunWriter *w, guint16 type, guint64 value)
{
  guint8 *p = writer_reserve (w, type, 8);
  if (p != NULL)
    {
      wr32 (p, value >> 32);
      wr32 (p + 4, value & 0xffffffffu);
    }
}

void
fz_stun_writer_add_string (FzStunWriter *w, guint16 type, const char *value)
{
  fz_stun_writer_add (w, type, value, strlen (value));
}

void
fz_stun_writer_add_xor_address (FzStunWriter *w, guint16 type, const FzSockAddr *addr)
{
  gsize n = addr->ip.family == 4 ? 4 : 16;
  guint8 *p = writer_reserve (w, type, 4 + n);
  if (p == NULL)
    return;
  guint8 mask[16];
  wr32 (mask, FZ_STUN_MAGIC_COOKIE);
  memcpy (mask + 4, w->buf + 8, FZ_STUN_TID_LEN);
  p[0] = 0;
  p[1] = n == 4 ? 0x01 : 0x02;
  wr16 (p + 2, addr->port ^ (FZ_STUN_MAGIC_COOKIE >> 16));
  for (gsize k = 0; k < n; k++)
    p[4 + k] = addr->ip.bytes[k] ^ mask[k];
}

void
fz_stun_writer_add_error (FzStunWriter *w, guint code, const char *reason)
{
  gsize rlen = MIN (strlen (reason), (gsize) FZ_STUN_MAX_TEXT);
  guint8 *p = writer_reserve (w, FZ_STUN_ATTR_ERROR_CODE, 4 + rlen);
  if (p == NULL)
    return;
  p[0] = p[1] = 0;
  p[2] = (guint8) (code / 100);
  p[3] = (guint8) (code % 100);
  memcpy (p + 4, reason, rlen);
}

void
fz_stun_writer_add_integrity (FzStunWriter *w, const guint8 *key, gsize key_len)
{
  gsize end = w->len;
  guint8 *p = writer_reserve (w, FZ_STUN_ATTR_MESSAGE_INTEGRITY, FZ_STUN_INTEGRITY_LEN);
  if (p != NULL)
    integrity_hmac (w->buf, end, key, key_len, p);
}

void
fz_stun_writer_add_fingerprint (FzStunWriter *w)
{
  gsize end = w->len;
  guint8 *p = writer_reserve (w, FZ_STUN_ATTR_FINGERPRINT, 4);
  if (p != NULL)
    wr32 (p, crc32 (0L, w->buf, (uInt) end) ^ FINGERPRINT_XOR);
}

gsize
fz_stun_writer_finish (FzStunWriter *w)
{
  return w->overflow ? 0 : w->len;
}

gboolean
fz_channel_data_parse (const guint8 *data, gsize len, guint16 *channel,
                       const guint8 **payload, gsize *payload_len)
{
  if (len < FZ_CHANNEL_DATA_HEADER_LEN)
    return FALSE;
  guint16 ch = rd16 (data);
  gsize plen = rd16 (data + 2);
  gsize rest = len - FZ_CHANNEL_DATA_HEADER_LEN;
  /* 0x5000-0x7FFF are reserved; the length must match, padding aside. */
  if (ch < FZ_CHANNEL_MIN || ch > FZ_CHANNEL_MAX || plen > rest || rest - plen > 3)
    return FALSE;
  *channel = ch;
  *payload = data + FZ_CHANNEL_DATA_HEADER_LEN;
  *payload_len = plen;
  return TRUE;
}

void
fz_channel_data_write_header (guint8 header[FZ_CHANNEL_DATA_HEADER_LEN], guint16 channel,
                              gsize payload_len)
{
  wr16 (header, channel);
  wr16 (header + 2, (guint16) payload_len);
}
