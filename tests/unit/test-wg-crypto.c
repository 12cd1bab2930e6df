/* WireGuard primitives against known answers: BLAKE2s (RFC 7693), keyed
 * BLAKE2s, HMAC and KDF computed independently with Python's hashlib,
 * X25519 (RFC 7748 section 6.1), and the Noise constant C0. */
#include "fz.h"

#include <string.h>

static void
hex (guint8 *out, const char *s)
{
  for (gsize i = 0; s[2 * i]; i++)
    out[i] = (guint8) (g_ascii_xdigit_value (s[2 * i]) << 4
                       | g_ascii_xdigit_value (s[2 * i + 1]));
}

#define ASSERT_HEX(buf, len, s)                                                          \
  G_STMT_START                                                                           \
  {                                                                                      \
    guint8 want_[64];                                                                    \
    hex (want_, s);                                                                      \
    g_assert_cmpmem (buf, len, want_, strlen (s) / 2);                                   \
  }                                                                                      \
  G_STMT_END

static void
test_blake2s (void)
{
  static const char construction[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
  guint8 key[32], out[32];

  fz_wg_hash (out, "abc", 3, NULL, 0);
  ASSERT_HEX (out, 32,
              "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
  fz_wg_hash (out, "a", 1, "bc", 2); /* HASH(a || b) */
  ASSERT_HEX (out, 32,
              "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
  /* C0, WireGuard's initial chaining key */
  fz_wg_hash (out, construction, strlen (construction), NULL, 0);
  ASSERT_HEX (out, 32,
              "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");

  for (guint i = 0; i < 32; i++)
    key[i] = (guint8) i;
  fz_wg_mac (out, key, 32, "hello wireguard", 15);
  ASSERT_HEX (out, 16, "d7ced850c9c0917a705fad04539c3a01");
  fz_wg_hmac (out, key, "hello wireguard", 15);
  ASSERT_HEX (out, 32,
              "c030854166ba79dbc4432ec45565144a37b3729a58feda7e75a70add8d0fd74a");
}

static void
test_kdf (void)
{
  guint8 key[32], t1[32], t2[32], t3[32], only[32];

  for (guint i = 0; i < 32; i++)
    key[i] = (guint8) i;
  fz_wg_kdf (t1, t2, t3, key, "input", 5);
  ASSERT_HEX (t1, 32, "87b7f70b24183c6db5dc4f6d9f4c47cdb203321aa2a0bef714896adb3107a040");
  ASSERT_HEX (t2, 32, "538a02e1eb2e31b7e4d4b82476d1fe2acf50085d3fb584537279195f5d1f5824");
  ASSERT_HEX (t3, 32, "9ad858025593be88de0f9442a589cfe84a88dc19e4753d93684d1c5efc4837f9");
  fz_wg_kdf (only, NULL, NULL, key, "input", 5);
  g_assert_cmpmem (only, 32, t1, 32);
  /* in place, as the handshake uses it: key and output alias */
  fz_wg_kdf (key, NULL, NULL, key, "input", 5);
  g_assert_cmpmem (key, 32, t1, 32);
}

static void
test_x25519 (void)
{
  guint8 a[32], b[32], pub[32], ss[32], zero[32] = { 0 };

  hex (a, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  hex (b, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  fz_wg_public_key (pub, a);
  ASSERT_HEX (pub, 32,
              "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  fz_wg_public_key (pub, b);
  ASSERT_HEX (pub, 32,
              "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  g_assert_true (fz_wg_dh (ss, a, pub));
  ASSERT_HEX (ss, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  /* a low-order point gives an all-zero secret: refused */
  g_assert_false (fz_wg_dh (ss, a, zero));
}

static void
test_aead (void)
{
  guint8 key[32] = { 1 }, buf[64 + 16], copy[64 + 16], nonce[24] = { 2 };

  memset (buf, 0xab, 64);
  fz_wg_aead_encrypt (buf, key, 7, buf, 64, (const guint8 *) "ad", 2);
  memcpy (copy, buf, sizeof buf);
  g_assert_true (
    fz_wg_aead_decrypt (buf, key, 7, buf, sizeof buf, (const guint8 *) "ad", 2));
  for (guint i = 0; i < 64; i++)
    g_assert_cmpuint (buf[i], ==, 0xab);
  g_assert_false (
    fz_wg_aead_decrypt (buf, key, 8, copy, sizeof copy, (const guint8 *) "ad", 2));
  copy[3] ^= 1;
  g_assert_false (
    fz_wg_aead_decrypt (buf, key, 7, copy, sizeof copy, (const guint8 *) "ad", 2));
  g_assert_false (
    fz_wg_aead_decrypt (buf, key, 7, copy, 15, NULL, 0)); /* shorter than a tag */

  memset (buf, 0x11, 16);
  fz_wg_xaead_encrypt (buf, key, nonce, buf, 16, (const guint8 *) "m", 1);
  g_assert_true (fz_wg_xaead_decrypt (buf, key, nonce, buf, 32, (const guint8 *) "m", 1));
  g_assert_cmpuint (buf[0], ==, 0x11);
}

static void
test_tai64n (void)
{
  guint8 a[12], b[12];

  /* 2020-01-01T00:00:00.5Z: seconds + 2^62 big-endian, then nanoseconds
   * rounded down to 2^24 ns */
  fz_wg_tai64n (a, G_GINT64_CONSTANT (1577836800500000));
  ASSERT_HEX (a, 12, "400000005e0be1001d000000");
  fz_wg_tai64n (b, G_GINT64_CONSTANT (1577836800600000));
  g_assert_cmpint (memcmp (a, b, 12), <, 0); /* later sorts after */
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  fz_rng_system (); /* initialises libsodium */
  g_test_add_func ("/wg/crypto/blake2s", test_blake2s);
  g_test_add_func ("/wg/crypto/kdf", test_kdf);
  g_test_add_func ("/wg/crypto/x25519", test_x25519);
  g_test_add_func ("/wg/crypto/aead", test_aead);
  g_test_add_func ("/wg/crypto/tai64n", test_tai64n);
  return g_test_run ();
}
