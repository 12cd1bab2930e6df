/* The STUN codec against the RFC 5769 test vectors, and its strictness. */
#include "fz-private.h"

#include <string.h>
#include <zlib.h>

static const char *const rfc5769_password = "VOkJxbRl1RmTxUk/WvJxBt";

static GBytes *
hex (const char *h)
{
  gsize n = strlen (h) / 2;
  guint8 *b = g_malloc (n);
  for (gsize i = 0; i < n; i++)
    b[i] = (guint8) (g_ascii_xdigit_value (h[2 * i]) << 4
                     | g_ascii_xdigit_value (h[2 * i + 1]));
  return g_bytes_new_take (b, n);
}

/* RFC 5769 2.1 */
#define SAMPLE_REQUEST                                                                   \
  "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e740024" \
  "00046e00"                                                                             \
  "01ff80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70cbfd8cb56" \
  "781ef2b5"                                                                             \
  "b2d3f249c1b571a280280004e57a3bcf"
/* 2.2 and 2.3 */
#define SAMPLE_IPV4_RESPONSE                                                             \
  "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000080001" \
  "a147e112"                                                                             \
  "a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96"
#define SAMPLE_IPV6_RESPONSE                                                             \
  "010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000140002" \
  "a1470113"                                                                             \
  "a9faa5d3f179bc25f4b5bed2b9d900080014a382954e4be67bf11784c97c8292c275bfe3ed4180280004" \
  "c8fb0b4c"
/* 2.4 */
#define SAMPLE_LONG_TERM                                                                 \
  "000100602112a44278ad3433c6ad72c029da412e00060012e3839ee38388e383aae38383e382afe382b9" \
  "00000015"                                                                             \
  "001c662f2f3439396b39353464364f4c33346f4c394653547679363473410014000b6578616d706c652e" \
  "6f726700"                                                                             \
  "00080014f67024656dd64a3e02b8e0712e85c9a28ca89666"

static void
test_sample_request (void)
{
  g_autoptr (GBytes) b = hex (SAMPLE_REQUEST);
  gsize n;
  const guint8 *d = g_bytes_get_data (b, &n);
  FzStunMessage m;
  g_autoptr (GError) error = NULL;
  g_assert_true (fz_stun_message_parse (&m, d, n, &error));
  g_assert_no_error (error);
  g_assert_cmpint (m.method, ==, FZ_STUN_BINDING);
  g_assert_cmpint (m.klass, ==, FZ_STUN_REQUEST);
  g_assert_true (m.fingerprint);
  g_assert_cmpuint (m.n_unknown, ==, 0);
  g_autofree char *sw = fz_stun_message_dup_string (&m, FZ_STUN_ATTR_SOFTWARE);
  g_assert_cmpstr (sw, ==, "STUN test client");
  g_autofree char *user = fz_stun_message_dup_string (&m, FZ_STUN_ATTR_USERNAME);
  g_assert_cmpstr (user, ==, "evtj:h6vY");
  guint32 prio;
  g_assert_true (fz_stun_message_get_u32 (&m, FZ_STUN_ATTR_PRIORITY, &prio));
  g_assert_cmphex (prio, ==, 0x6e0001ff);
  guint64 tie;
  g_assert_true (fz_stun_message_get_u64 (&m, FZ_STUN_ATTR_ICE_CONTROLLED, &tie));
  g_assert_cmphex (tie, ==, 0x932ff9b151263b36);
  g_assert_false (fz_stun_message_has (&m, FZ_STUN_ATTR_ICE_CONTROLLING));
  g_assert_true (fz_stun_message_check_integrity (&m, (const guint8 *) rfc5769_password,
                                                  strlen (rfc5769_password)));
  g_assert_false (fz_stun_message_check_integrity (&m, (const guint8 *) "wrong", 5));

  /* Our writer reproduces the vector byte for byte, but for the padding
   * (the RFC pads USERNAME with spaces, we with zeros: both allowed). */
  guint8 buf[256];
  FzStunWriter w;
  fz_stun_writer_init (&w, buf, sizeof buf, FZ_STUN_BINDING, FZ_STUN_REQUEST, m.tid);
  fz_stun_writer_add_string (&w, FZ_STUN_ATTR_SOFTWARE, "STUN test client");
  fz_stun_writer_add_u32 (&w, FZ_STUN_ATTR_PRIORITY, 0x6e0001ff);
  fz_stun_writer_add_u64 (&w, FZ_STUN_ATTR_ICE_CONTROLLED, 0x932ff9b151263b36);
  fz_stun_writer_add_string (&w, FZ_STUN_ATTR_USERNAME, "evtj:h6vY");
  memset (buf + w.len - 3, ' ', 3); /* the RFC's padding */
  fz_stun_writer_add_integrity (&w, (const guint8 *) rfc5769_password,
                                strlen (rfc5769_password));
  fz_stun_writer_add_fingerprint (&w);
  g_assert_cmpmem (buf, fz_stun_writer_finish (&w), d, n);
}

static void
check_response (const char *vector, const char *ip)
{
  g_autoptr (GBytes) b = hex (vector);
  gsize n;
  const guint8 *d = g_bytes_get_data (b, &n);
  FzStunMessage m;
  g_assert_true (fz_stun_message_parse (&m, d, n, NULL));
  g_assert_cmpint (m.method, ==, FZ_STUN_BINDING);
  g_assert_cmpint (m.klass, ==, FZ_STUN_SUCCESS);
  g_autofree char *sw = fz_stun_message_dup_string (&m, FZ_STUN_ATTR_SOFTWARE);
  g_assert_cmpstr (sw, ==, "test vector");
  FzSockAddr sa;
  g_assert_true (
    fz_stun_message_get_xor_address (&m, FZ_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &sa));
  g_assert_false (
    fz_stun_message_get_xor_address (&m, FZ_STUN_ATTR_XOR_MAPPED_ADDRESS, 1, &sa));
  g_assert_true (
    fz_stun_message_get_xor_address (&m, FZ_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &sa));
  char s[FZ_IP_ADDR_STRLEN];
  g_assert_cmpstr (fz_ip_addr_to_string (&sa.ip, s), ==, ip);
  g_assert_cmpuint (sa.port, ==, 32853);
  g_assert_true (fz_stun_message_check_integrity (&m, (const guint8 *) rfc5769_password,
                                                  strlen (rfc5769_password)));

  /* And the writer makes the same XOR-MAPPED-ADDRESS. */
  guint8 buf[128];
  FzStunWriter w;
  fz_stun_writer_init (&w, buf, sizeof buf, FZ_STUN_BINDING, FZ_STUN_SUCCESS, m.tid);
  fz_stun_writer_add (&w, FZ_STUN_ATTR_SOFTWARE, "test vector", 11);
  memset (buf + w.len - 1, ' ', 1);
  fz_stun_writer_add_xor_address (&w, FZ_STUN_ATTR_XOR_MAPPED_ADDRESS, &sa);
  fz_stun_writer_add_integrity (&w, (const guint8 *) rfc5769_password,
                                strlen (rfc5769_password));
  fz_stun_writer_add_fingerprint (&w);
  g_assert_cmpmem (buf, fz_stun_writer_finish (&w), d, n);
}

static void
test_sample_responses (void)
{
  check_response (SAMPLE_IPV4_RESPONSE, "192.0.2.1");
  check_response (SAMPLE_IPV6_RESPONSE, "2001:db8:1234:5678:11:2233:4455:6677");
}

static void
test_long_term (void)
{
  g_autoptr (GBytes) b = hex (SAMPLE_LONG_TERM);
  gsize n;
  const guint8 *d = g_bytes_get_data (b, &n);
  FzStunMessage m;
  g_assert_true (fz_stun_message_parse (&m, d, n, NULL));
  g_assert_false (m.fingerprint);
  g_autofree char *user = fz_stun_message_dup_string (&m, FZ_STUN_ATTR_USERNAME);
  g_autofree char *realm = fz_stun_message_dup_string (&m, FZ_STUN_ATTR_REALM);
  g_autofree char *nonce = fz_stun_message_dup_string (&m, FZ_STUN_ATTR_NONCE);
  g_assert_cmpstr (user, ==, "\u30de\u30c8\u30ea\u30c3\u30af\u30b9");
  g_assert_cmpstr (realm, ==, "example.org");
  g_assert_cmpstr (nonce, ==, "f//499k954d6OL34oL9FSTvy64sA");
  /* The password after SASLprep ("The\u00adM\u00aatr\u2168" becomes this). */
  guint8 key[16];
  fz_stun_long_term_key (user, realm, "TheMatrIX", key);
  static const guint8 expect[16] = { 0xe8, 0xca, 0x7a, 0xd5, 0x9d, 0x5e, 0xb0, 0x51,
                                     0x8e, 0x31, 0x29, 0x11, 0xd2, 0xda, 0xb2, 0xa9 };
  g_assert_cmpmem (key, 16, expect, 16);
  g_assert_true (fz_stun_message_check_integrity (&m, key, sizeof key));
  /* `printf user:realm:pass | md5sum` */
  fz_stun_long_term_key ("user", "realm", "pass", key);
  g_assert_cmpmem (
    key, 16, "\x84\x93\xfb\xc5\x3b\xa5\x82\xfb\x4c\x04\x4c\x45\x6b\xdc\x40\xeb", 16);
}

static gboolean
parse_err (const guint8 *d, gsize n, gint code)
{
  FzStunMessage m;
  g_autoptr (GError) error = NULL;
  gboolean ok = fz_stun_message_parse (&m, d, n, &error);
  if (ok)
    return FALSE;
  g_assert_error (error, FZ_STUN_PARSE_ERROR, code);
  g_assert_nonnull (strstr (error->message, "STUN"));
  return TRUE;
}

static void
test_strict (void)
{
  g_autoptr (GBytes) b = hex (SAMPLE_REQUEST);
  gsize n;
  const guint8 *orig = g_bytes_get_data (b, &n);
  guint8 d[256];

  /* Every truncation fails, and never reads past the end. */
  for (gsize k = 0; k < n; k++)
    {
      guint8 *copy = g_memdup2 (orig, k);
      g_assert_true (parse_err (copy, k, FZ_STUN_PARSE_ERROR_NOT_STUN));
      g_free (copy);
    }
  /* A byte flipped anywhere fails the header checks or the fingerprint,
   * but for the one that turns FINGERPRINT into an unknown optional
   * attribute: then the message has no fingerprint. */
  for (gsize k = 0; k < n; k++)
    {
      memcpy (d, orig, n);
      d[k] ^= 0x40;
      FzStunMessage m;
      if (fz_stun_message_parse (&m, d, n, NULL))
        {
          g_assert_true (k == n - 8 || k == n - 7);
          g_assert_false (m.fingerprint);
        }
    }
  /* Trailing bytes. */
  memcpy (d, orig, n);
  memset (d + n, 0, 4);
  g_assert_true (parse_err (d, n + 4, FZ_STUN_PARSE_ERROR_NOT_STUN));
  /* Wrong cookie; top bits set. */
  memcpy (d, orig, n);
  d[4] = 0;
  g_assert_true (parse_err (d, n, FZ_STUN_PARSE_ERROR_NOT_STUN));
  memcpy (d, orig, n);
  d[0] |= 0x80;
  g_assert_true (parse_err (d, n, FZ_STUN_PARSE_ERROR_NOT_STUN));
  g_assert_false (fz_stun_is_stun (d, n));
  g_assert_true (fz_stun_is_stun (orig, n));
}

static gsize
build (guint8 *buf, gsize cap, void (*fill) (FzStunWriter *w))
{
  static const guint8 tid[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
  FzStunWriter w;
  fz_stun_writer_init (&w, buf, cap, FZ_STUN_ALLOCATE, FZ_STUN_ERROR, tid);
  fill (&w);
  return fz_stun_writer_finish (&w);
}

static void
fill_bad_priority (FzStunWriter *w)
{
  fz_stun_writer_add (w, FZ_STUN_ATTR_PRIORITY, "abc", 3);
}

static void
fill_bad_address (FzStunWriter *w)
{
  /* family 2 (IPv6) with an IPv4-sized value */
  fz_stun_writer_add (w, FZ_STUN_ATTR_XOR_MAPPED_ADDRESS,
                      "\x00\x02\x00\x01\x01\x02\x03\x04", 8);
}

static void
fill_bad_error (FzStunWriter *w)
{
  fz_stun_writer_add (w, FZ_STUN_ATTR_ERROR_CODE, "\x00\x00\x09\x01", 4);
}

static void
fill_after_fingerprint (FzStunWriter *w)
{
  /* A right fingerprint (over the final length), then one more. */
  fz_stun_writer_add_u32 (w, FZ_STUN_ATTR_FINGERPRINT, 0);
  fz_stun_writer_add_u32 (w, FZ_STUN_ATTR_LIFETIME, 600);
  guint32 crc = crc32 (0L, w->buf, 20) ^ 0x5354554Eu;
  for (int i = 0; i < 4; i++)
    w->buf[24 + i] = (guint8) (crc >> (24 - 8 * i));
}

static void
fill_unknown (FzStunWriter *w)
{
  fz_stun_writer_add (w, 0x0042, "x", 1);  /* comprehension-required */
  fz_stun_writer_add (w, 0x8042, "yz", 2); /* optional */
  fz_stun_writer_add_error (w, 437, "Allocation Mismatch");
  fz_stun_writer_add_integrity (w, (const guint8 *) "k", 1);
  fz_stun_writer_add_u32 (w, FZ_STUN_ATTR_LIFETIME, 1); /* ignored after MI */
  fz_stun_writer_add_fingerprint (w);
}

static void
fill_too_many (FzStunWriter *w)
{
  for (int i = 0; i < FZ_STUN_MAX_ATTRS + 1; i++)
    fz_stun_writer_add (w, FZ_STUN_ATTR_SOFTWARE, "", 0);
}

static void
fill_short_integrity (FzStunWriter *w)
{
  fz_stun_writer_add (w, FZ_STUN_ATTR_MESSAGE_INTEGRITY, "abcd", 4);
}

static void
fill_huge (FzStunWriter *w)
{
  static guint8 big[1000];
  fz_stun_writer_add (w, FZ_STUN_ATTR_DATA, big, sizeof big);
  fz_stun_writer_add_fingerprint (w); /* ignored after an overflow */
}

static void
test_attributes (void)
{
  guint8 buf[2048];
  FzStunMessage m;
  gsize n;

  n = build (buf, sizeof buf, fill_bad_priority);
  g_assert_true (parse_err (buf, n, FZ_STUN_PARSE_ERROR_MALFORMED));
  n = build (buf, sizeof buf, fill_bad_address);
  g_assert_true (parse_err (buf, n, FZ_STUN_PARSE_ERROR_MALFORMED));
  n = build (buf, sizeof buf, fill_bad_error);
  g_assert_true (parse_err (buf, n, FZ_STUN_PARSE_ERROR_MALFORMED));
  n = build (buf, sizeof buf, fill_after_fingerprint);
  g_assert_true (parse_err (buf, n, FZ_STUN_PARSE_ERROR_MALFORMED));
  n = build (buf, sizeof buf, fill_short_integrity);
  g_assert_true (parse_err (buf, n, FZ_STUN_PARSE_ERROR_MALFORMED));
  n = build (buf, sizeof buf, fill_too_many);
  g_assert_true (parse_err (buf, n, FZ_STUN_PARSE_ERROR_MALFORMED));

  n = build (buf, sizeof buf, fill_unknown);
  g_assert_true (fz_stun_message_parse (&m, buf, n, NULL));
  g_assert_cmpint (m.method, ==, FZ_STUN_ALLOCATE);
  g_assert_cmpint (m.klass, ==, FZ_STUN_ERROR);
  g_assert_cmpuint (m.n_unknown, ==, 1);
  g_assert_cmphex (m.unknown[0], ==, 0x0042);
  guint code;
  g_autofree char *reason = NULL;
  g_assert_true (fz_stun_message_get_error (&m, &code, &reason));
  g_assert_cmpuint (code, ==, 437);
  g_assert_cmpstr (reason, ==, "Allocation Mismatch");
  g_assert_false (fz_stun_message_has (&m, FZ_STUN_ATTR_LIFETIME));
  g_assert_true (fz_stun_message_check_integrity (&m, (const guint8 *) "k", 1));
  g_assert_true (m.fingerprint);

  /* An overflow is reported, not truncated. */
  g_assert_cmpuint (build (buf, 500, fill_huge), ==, 0);
  g_assert_cmpuint (build (buf, 10, fill_huge), ==, 0);
  g_assert_cmpuint (build (buf, sizeof buf, fill_huge), ==, 20 + 4 + 1000 + 8);
}

static void
test_method_bits (void)
{
  /* The class bits sit between the method bits: check every method and
   * class survives the round trip. */
  static const guint8 tid[12] = { 0 };
  for (guint method = 0; method < 0x1000; method += 0x55)
    for (guint klass = 0; klass < 4; klass++)
      {
        guint8 buf[64];
        FzStunWriter w;
        fz_stun_writer_init (&w, buf, sizeof buf, (FzStunMethod) method,
                             (FzStunClass) klass, tid);
        gsize n = fz_stun_writer_finish (&w);
        FzStunMessage m;
        g_assert_true (fz_stun_message_parse (&m, buf, n, NULL));
        g_assert_cmpuint (m.method, ==, method);
        g_assert_cmpuint (m.klass, ==, klass);
      }
  /* A Binding success is 0x0101, an Allocate error 0x0113. */
  guint8 buf[64];
  FzStunWriter w;
  fz_stun_writer_init (&w, buf, sizeof buf, FZ_STUN_ALLOCATE, FZ_STUN_ERROR, tid);
  g_assert_cmphex (buf[0] << 8 | buf[1], ==, 0x0113);
  fz_stun_writer_init (&w, buf, sizeof buf, FZ_STUN_CHANNEL_BIND, FZ_STUN_REQUEST, tid);
  g_assert_cmphex (buf[0] << 8 | buf[1], ==, 0x0009);
  fz_stun_writer_init (&w, buf, sizeof buf, FZ_STUN_DATA, FZ_STUN_INDICATION, tid);
  g_assert_cmphex (buf[0] << 8 | buf[1], ==, 0x0017);
}

static void
test_channel_data (void)
{
  guint8 d[16] = { 0 };
  guint16 ch;
  const guint8 *p;
  gsize plen;

  fz_channel_data_write_header (d, 0x4001, 5);
  g_assert_true (fz_is_channel_data (d, 9));
  g_assert_true (fz_channel_data_parse (d, 9, &ch, &p, &plen));
  g_assert_cmphex (ch, ==, 0x4001);
  g_assert_true (p == d + 4);
  g_assert_cmpuint (plen, ==, 5);
  /* Padded to 4 bytes is fine; more, less, or a reserved channel is not. */
  g_assert_true (fz_channel_data_parse (d, 12, &ch, &p, &plen));
  g_assert_cmpuint (plen, ==, 5);
  g_assert_false (fz_channel_data_parse (d, 13, &ch, &p, &plen));
  g_assert_false (fz_channel_data_parse (d, 8, &ch, &p, &plen));
  g_assert_false (fz_channel_data_parse (d, 3, &ch, &p, &plen));
  fz_channel_data_write_header (d, 0x5000, 0);
  g_assert_false (fz_channel_data_parse (d, 4, &ch, &p, &plen));
  fz_channel_data_write_header (d, 0x3fff, 0);
  g_assert_false (fz_channel_data_parse (d, 4, &ch, &p, &plen));
  fz_channel_data_write_header (d, 0x4fff, 0);
  g_assert_true (fz_channel_data_parse (d, 4, &ch, &p, &plen));
  g_assert_cmpuint (plen, ==, 0);
  /* WireGuard (first byte 1-4) and STUN (0-3) are never channel data. */
  d[0] = 4;
  g_assert_false (fz_is_channel_data (d, 16));
}

/* Rewrites the trailing FINGERPRINT for the bytes before it, so a change
 * elsewhere reaches the integrity check instead of failing the parse. */
static void
refingerprint (guint8 *d, gsize n)
{
  guint32 crc = (guint32) crc32 (0L, d, (uInt) (n - 8)) ^ 0x5354554eu;
  d[n - 4] = (guint8) (crc >> 24);
  d[n - 3] = (guint8) (crc >> 16);
  d[n - 2] = (guint8) (crc >> 8);
  d[n - 1] = (guint8) crc;
}

/* Every bit of the HMAC counts, and so does every byte it covers; every
 * bit of FINGERPRINT counts. */
static void
test_integrity_bits (void)
{
  g_autoptr (GBytes) b = hex (SAMPLE_REQUEST);
  gsize n;
  const guint8 *orig = g_bytes_get_data (b, &n);
  const guint8 *key = (const guint8 *) rfc5769_password;
  gsize key_len = strlen (rfc5769_password);
  guint8 d[256];
  FzStunMessage m;

  /* The fingerprint helper reproduces the RFC's own. */
  memcpy (d, orig, n);
  refingerprint (d, n);
  g_assert_cmpmem (d, n, orig, n);
  g_assert_true (fz_stun_message_parse (&m, d, n, NULL));
  g_assert_true (fz_stun_message_check_integrity (&m, key, key_len));
  gsize mac = (gsize) m.integrity + 4;
  g_assert_cmpuint (mac + FZ_STUN_INTEGRITY_LEN + 8, ==, n);

  for (gsize k = 0; k < FZ_STUN_INTEGRITY_LEN; k++)
    for (guint bit = 0; bit < 8; bit++)
      {
        memcpy (d, orig, n);
        d[mac + k] ^= (guint8) (1u << bit);
        refingerprint (d, n);
        g_assert_true (fz_stun_message_parse (&m, d, n, NULL));
        g_assert_cmpint (m.integrity, ==, (gint) mac - 4);
        if (fz_stun_message_check_integrity (&m, key, key_len))
          g_error ("HMAC byte %" G_GSIZE_FORMAT " bit %u flipped, still accepted", k,
                   bit);
      }
  /* A covered byte changed (the length field would break the parse). */
  for (gsize k = 0; k < mac - 4; k++)
    {
      if (k == 2 || k == 3)
        continue;
      memcpy (d, orig, n);
      d[k] ^= 0x01;
      refingerprint (d, n);
      if (fz_stun_message_parse (&m, d, n, NULL) && m.integrity >= 0
          && fz_stun_message_check_integrity (&m, key, key_len))
        g_error ("covered byte %" G_GSIZE_FORMAT " flipped, still accepted", k);
    }
  /* FINGERPRINT: any one bit of its value rejects the message. */
  for (gsize k = n - 4; k < n; k++)
    for (guint bit = 0; bit < 8; bit++)
      {
        memcpy (d, orig, n);
        d[k] ^= (guint8) (1u << bit);
        g_assert_true (parse_err (d, n, FZ_STUN_PARSE_ERROR_FINGERPRINT));
      }
}

/* A reason phrase is text for a log line: trailing NULs (as coturn sends
 * them) go, control characters become '?'. */
static void
test_error_reason (void)
{
  static const struct
  {
    const char *wire;
    gsize len;
    const char *text;
  } cases[] = {
    { "Bad Request\0", 12, "Bad Request" },
    { "Bad\nRequest\x01\x7f", 14, "Bad?Request??" },
    { "a\0b", 3, "a?b" },
    { "", 0, "" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      guint8 buf[256], value[64] = { 0, 0, 4, 0 };
      memcpy (value + 4, cases[i].wire, cases[i].len);
      FzStunWriter w;
      fz_stun_writer_init (&w, buf, sizeof buf, FZ_STUN_CHANNEL_BIND, FZ_STUN_ERROR,
                           (const guint8 *) "0123456789ab");
      fz_stun_writer_add (&w, FZ_STUN_ATTR_ERROR_CODE, value, 4 + cases[i].len);
      gsize n = fz_stun_writer_finish (&w);
      FzStunMessage m;
      g_assert_true (fz_stun_message_parse (&m, buf, n, NULL));
      guint code;
      g_autofree char *reason = NULL;
      g_assert_true (fz_stun_message_get_error (&m, &code, &reason));
      g_assert_cmpuint (code, ==, 400);
      g_assert_cmpstr (reason, ==, cases[i].text);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/stun/rfc5769/request", test_sample_request);
  g_test_add_func ("/stun/rfc5769/responses", test_sample_responses);
  g_test_add_func ("/stun/rfc5769/long-term", test_long_term);
  g_test_add_func ("/stun/integrity-bits", test_integrity_bits);
  g_test_add_func ("/stun/strict", test_strict);
  g_test_add_func ("/stun/error-reason", test_error_reason);
  g_test_add_func ("/stun/attributes", test_attributes);
  g_test_add_func ("/stun/method-bits", test_method_bits);
  g_test_add_func ("/stun/channel-data", test_channel_data);
  return g_test_run ();
}
