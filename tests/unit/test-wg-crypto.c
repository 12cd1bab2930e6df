/* WireGuard primitives against known answers: BLAKE2s (RFC 7693), keyed
 * BLAKE2s, HMAC and KDF computed independently with Python's hashlib,
 * X25519 (RFC 7748 section 6.1), ChaCha20-Poly1305 (RFC 8439 2.8.2),
 * XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03 A.3.1), the Noise
 * constant C0, and a whole IKpsk2 handshake.
 *
 * Vectors not taken from a document were computed once by
 * tests/tools/wg-kat.py (hashlib, python3-cryptography, python3-nacl:
 * nothing of libfz); the suite does not run it. */
#include "fz-private.h"

#include <sodium.h>
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

/* Compares @len bytes with a hex string of exactly that length. */
static void
assert_hex (const guint8 *buf, gsize len, const char *s)
{
  g_assert_cmpuint (strlen (s), ==, 2 * len);
  g_autofree guint8 *want = g_malloc (len);
  hex (want, s);
  g_assert_cmpmem (buf, len, want, len);
}

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

/* Inputs over one 64-byte block, and KDF of the empty input (the
 * transport keys), key 00..1f; from tests/tools/wg-kat.py. */
#define B2S_LONG    "6d244e1a06ce4ef578dd0f63aff0936706735119ca9c8d22d86c801414ab9741"
#define MAC_LONG    "42a6f8ff590af21b512e9e088257aa34"
#define HMAC_LONG   "543eec9b22646365ef782d72dae137cc761d018005f8d33d0f20bfbd01e62974"
#define KDF_EMPTY_1 "7a38c34bf2b8738d7374ca77c44ecb309a11d2b2528304fa86052c365e722624"
#define KDF_EMPTY_2 "1a17621f346abdc520746a9fb64d8eb03231d674fc15687537b0780fd9c060fd"
#define KDF_EMPTY_3 "4eaf02809ac4b930ef63479de62275f1c55656e61f78a3cc653c18a2223d6c5f"

static void
test_blake2s_long (void)
{
  guint8 key[32], in[200], out[32], t1[32], t2[32], t3[32];

  for (guint i = 0; i < sizeof key; i++)
    key[i] = (guint8) i;
  for (guint i = 0; i < sizeof in; i++)
    in[i] = (guint8) i;
  fz_wg_hash (out, in, sizeof in, NULL, 0);
  assert_hex (out, 32, B2S_LONG);
  fz_wg_hash (out, in, 65, in + 65, sizeof in - 65); /* split across a block */
  assert_hex (out, 32, B2S_LONG);
  fz_wg_mac (out, key, sizeof key, in, sizeof in);
  assert_hex (out, 16, MAC_LONG);
  fz_wg_hmac (out, key, in, sizeof in);
  assert_hex (out, 32, HMAC_LONG);
  fz_wg_kdf (t1, t2, t3, key, NULL, 0);
  assert_hex (t1, 32, KDF_EMPTY_1);
  assert_hex (t2, 32, KDF_EMPTY_2);
  assert_hex (t3, 32, KDF_EMPTY_3);
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

/* The transport's OpenSSL contexts (fz-wg-aead) give libsodium's bytes
 * for every length a packet can have, at counters from 0 to the last one
 * sent, one context reused throughout (also after a forgery), and refuse
 * any flipped bit, another counter or another key. */
static void
test_transport_aead (void)
{
  static const guint64 counters[] = { 0, 1, 255, G_GUINT64_CONSTANT (0x4746454443424140),
                                      G_GUINT64_CONSTANT (0xffffffffffffdffe) };
  guint8 key[32], other[32], plain[1500], ours[1500 + 16], theirs[1500 + 16];
  GRand *rand = g_rand_new_with_seed (8439);

  for (guint i = 0; i < 32; i++)
    {
      key[i] = (guint8) g_rand_int (rand);
      other[i] = key[i] ^ (i == 0);
    }
  for (guint i = 0; i < sizeof plain; i++)
    plain[i] = (guint8) g_rand_int (rand);
  FzWgAead seal = { 0 }, open = { 0 }, wrong = { 0 };
  for (gsize len = 0; len <= sizeof plain; len += len < 64 ? 1 : 61)
    for (guint c = 0; c < G_N_ELEMENTS (counters); c++)
      {
        fz_wg_aead_encrypt (theirs, key, counters[c], plain, len, NULL, 0);
        memcpy (ours, plain, len);
        g_assert_true (fz_wg_aead_seal (&seal, key, counters[c], ours, len));
        g_assert_cmpmem (ours, len + 16, theirs, len + 16);

        g_assert_false (fz_wg_aead_open (&wrong, other, counters[c], ours, len + 16));
        memcpy (ours, theirs, len + 16);
        g_assert_false (fz_wg_aead_open (&open, key, counters[c] + 1, ours, len + 16));
        gsize flip = g_rand_int_range (rand, 0, (gint32) (len + 16));
        memcpy (ours, theirs, len + 16);
        ours[flip] ^= (guint8) (1u << g_rand_int_range (rand, 0, 8));
        g_assert_false (fz_wg_aead_open (&open, key, counters[c], ours, len + 16));
        memcpy (ours, theirs, len + 16);
        g_assert_true (fz_wg_aead_open (&open, key, counters[c], ours, len + 16));
        g_assert_cmpmem (ours, len, plain, len);
      }
  g_assert_false (fz_wg_aead_open (&open, key, 0, ours, 15)); /* shorter than a tag */
  g_assert_nonnull (seal.ctx); /* the long messages went through OpenSSL */
  g_assert_nonnull (open.ctx);
  fz_wg_aead_clear (&seal);
  fz_wg_aead_clear (&open);
  fz_wg_aead_clear (&wrong);
  g_assert_null (seal.ctx);
  g_rand_free (rand);
}

static void
test_tai64n (void)
{
  guint8 a[12], b[12];

  /* 2020-01-01T00:00:00.5Z: seconds + 2^62 + 10 (the TAI label wireguard-go
   * and Linux use) big-endian, then nanoseconds rounded down to 2^24 ns */
  fz_wg_tai64n (a, G_GINT64_CONSTANT (1577836800500000));
  ASSERT_HEX (a, 12, "400000005e0be10a1d000000");
  fz_wg_tai64n (b, G_GINT64_CONSTANT (1577836800600000));
  g_assert_cmpint (memcmp (a, b, 12), <, 0); /* later sorts after */
}

/* RFC 8439 2.8.2 and the same inputs in WireGuard's nonce form. */
#define SUNSCREEN                                                                        \
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "     \
  "the future, sunscreen would be it."
static const guint8 rfc_ad[12]
  = { 0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7 };

#define RFC8439_CT                                                                       \
  "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"                     \
  "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"                     \
  "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"                     \
  "3ff4def08e4b7a9de576d26586cec64b61161ae10b594f09e26a7e902ecbd060"                     \
  "0691"
#define WG_NONCE_CT                                                                      \
  "a479cb54628946d6f4042a8e384ef4bd2fbc7330b8be55eb2d8dc18aaa51d66a"                     \
  "8ec1f8d3619a258db0ac56956015b7b4937e9b8e6aa957b3dc0214d803d77660"                     \
  "aabc913092971da8f207171ce7843608162e2e759d8efc25d8d0936990af63c8"                     \
  "20ba87e8a955b5c8274ef7d10f6fafd046472dbf189b668bd430aef9147e99cb"                     \
  "6c89"
#define XCHACHA_CT                                                                       \
  "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"                     \
  "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"                     \
  "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"                     \
  "21f9664c97637da9768812f615c68b13b52ec0875924c1c7987947deafd8780a"                     \
  "cf49"

static void
test_aead_vectors (void)
{
  const gsize n = strlen (SUNSCREEN);
  guint8 key[32], nonce[24], out[128 + 16], back[128];
  unsigned long long outlen;

  g_assert_cmpuint (n, ==, 114);
  for (guint i = 0; i < 32; i++)
    key[i] = (guint8) (0x80 + i);

  /* The RFC's nonce has a non-zero constant part, which WireGuard's
   * nonce (32 zero bits, then the counter) cannot express: check it on
   * the libsodium call fz_wg_aead_encrypt() makes. */
  hex (nonce, "070000004041424344454647");
  crypto_aead_chacha20poly1305_ietf_encrypt (out, &outlen, (const guint8 *) SUNSCREEN, n,
                                             rfc_ad, sizeof rfc_ad, NULL, nonce, key);
  assert_hex (out, outlen, RFC8439_CT);

  /* The wrapper with nonce 00000000 4041424344454647, both ways and in
   * place; a flipped bit anywhere fails. */
  const guint64 counter = G_GUINT64_CONSTANT (0x4746454443424140);
  fz_wg_aead_encrypt (out, key, counter, (const guint8 *) SUNSCREEN, n, rfc_ad,
                      sizeof rfc_ad);
  assert_hex (out, n + 16, WG_NONCE_CT);
  g_assert_true (
    fz_wg_aead_decrypt (back, key, counter, out, n + 16, rfc_ad, sizeof rfc_ad));
  g_assert_cmpmem (back, n, SUNSCREEN, n);
  memcpy (back, SUNSCREEN, n);
  fz_wg_aead_encrypt (back, key, counter, back, n, rfc_ad, sizeof rfc_ad);
  g_assert_cmpmem (back, n, out, n);
  for (gsize i = 0; i < n + 16; i += 7)
    {
      out[i] ^= 0x80;
      g_assert_false (
        fz_wg_aead_decrypt (back, key, counter, out, n + 16, rfc_ad, sizeof rfc_ad));
      out[i] ^= 0x80;
    }

  /* XChaCha20-Poly1305, draft-irtf-cfrg-xchacha-03 A.3.1. */
  for (guint i = 0; i < 24; i++)
    nonce[i] = (guint8) (0x40 + i);
  fz_wg_xaead_encrypt (out, key, nonce, (const guint8 *) SUNSCREEN, n, rfc_ad,
                       sizeof rfc_ad);
  assert_hex (out, n + 16, XCHACHA_CT);
  g_assert_true (
    fz_wg_xaead_decrypt (back, key, nonce, out, n + 16, rfc_ad, sizeof rfc_ad));
  g_assert_cmpmem (back, n, SUNSCREEN, n);
  out[n] ^= 1;
  g_assert_false (
    fz_wg_xaead_decrypt (back, key, nonce, out, n + 16, rfc_ad, sizeof rfc_ad));
}

/* A whole IKpsk2 handshake (whitepaper 5.4.2-5.4.5) from fixed static,
 * ephemeral and preshared keys (SHA-256 of a label each), indices
 * 0x11223344 / 0x55667788 and the wall clock 1700000000 s, no mac2. */
#define HS_SI  "483ac9dccb949b68b5403dc4e275aa970eb9d806dcbef2ffe4e48871d4ceecee"
#define HS_SR  "3b89c555c37e6ed93a5a7a6226b02a3a276fa974d6a963b0ccd654b04365d89a"
#define HS_EI  "620be318ccfe9b1685ba2954a24c1b57f2cec0e57e5e2e0ae7c831e91d14309f"
#define HS_ER  "4f59b20a2e70ef843c89814a5b15c851882fccafd2ffbde0f825b60d0f90f5ae"
#define HS_PSK "f2d9b021bd51064cb82b552bf90886c2c130d7a984b02d3c21300b2ef9f0c955"
#define HS_INITIATION                                                                    \
  "0100000044332211e91cb54a921625d460fb12619c852bb40a21b4e55077827f"                     \
  "d19a9bca6607cd5cd273d6512a10a6640848105b9e99296cbad5de0f331737b9"                     \
  "4b51be805afaadc6bfebc48992d21af6b195a5e8efac2d3eb878a0b7d48edc02"                     \
  "df5c8f6a34ab74c168c3094340bdb6e0d4860cb9cde5790bdcda84da118f0fce"                     \
  "8040040000000000000000000000000000000000"
#define HS_RESPONSE                                                                      \
  "02000000887766554433221183b5a6ba9c40fbdba070e69b84ff3d88191fba6b"                     \
  "8c604849de918e5a5743ef3c394bd519804473d85a727350db084695534dee8e"                     \
  "22e8a4495ffa829a67964b7400000000000000000000000000000000"
#define HS_I_SEND     "aa7795f5a79720456e7301b568e5d86477dfedb76cdec1e73146f0de1f511c2d"
#define HS_I_RECV     "2fd11485d5da5542872b6a2008ef225841231ea4f2603880c6e729444a2497cd"
#define HS_FIRST_DATA "0400000088776655000000000000000036dc3e465faf7c05174c0b7422ac431b"

/* Hands out fixed bytes, and fails the test if asked for others. */
typedef struct
{
  FzRng rng;
  guint8 bytes[32];
  gboolean used;
} FixedRng;

static void
fixed_fill (FzRng *rng, void *out, gsize len)
{
  FixedRng *f = (FixedRng *) rng;
  g_assert_false (f->used);
  g_assert_cmpuint (len, ==, sizeof f->bytes);
  memcpy (out, f->bytes, len);
  f->used = TRUE;
}

static void
fixed_rng_init (FixedRng *f, const char *h)
{
  f->rng.fill = fixed_fill;
  f->used = FALSE;
  hex (f->bytes, h);
}

static void
test_handshake_vector (void)
{
  const gint64 wall = G_GINT64_CONSTANT (1700000000) * G_USEC_PER_SEC;
  const gint64 now = 5 * G_USEC_PER_SEC;
  guint8 si[32], sr[32], psk[32], init[FZ_WG_INITIATION_LEN], resp[FZ_WG_RESPONSE_LEN];
  FzWgIdentity idi, idr;
  FzWgHandshake hsi, hsr;
  FzWgInitiation scratch;
  FzWgKeypair ki, kr;
  FixedRng rng;

  hex (si, HS_SI);
  hex (sr, HS_SR);
  hex (psk, HS_PSK);
  fz_wg_identity_init (&idi, si);
  fz_wg_identity_init (&idr, sr);
  fz_wg_handshake_init (&hsi, &idi, idr.pub, psk);
  fz_wg_handshake_init (&hsr, &idr, idi.pub, psk);

  fixed_rng_init (&rng, HS_EI);
  g_assert_true (fz_wg_handshake_create_initiation (&hsi, &idi, 0x11223344, wall, now,
                                                    &rng.rng, init));
  g_assert_true (rng.used);
  assert_hex (init, sizeof init, HS_INITIATION);

  g_assert_true (fz_wg_check_mac1 (&idr, init, sizeof init));
  g_assert_true (fz_wg_initiation_open (&idr, init, sizeof init, &scratch));
  g_assert_cmpmem (scratch.remote_pub, 32, idi.pub, 32);
  assert_hex (scratch.timestamp, 12, "400000006553f10a00000000");
  g_assert_cmphex (scratch.remote_index, ==, 0x11223344);
  g_assert_cmpint (fz_wg_handshake_consume_initiation (&hsr, &scratch, now), ==,
                   FZ_WG_INIT_OK);

  fixed_rng_init (&rng, HS_ER);
  g_assert_true (
    fz_wg_handshake_create_response (&hsr, &idr, 0x55667788, now, &rng.rng, resp, &kr));
  g_assert_true (rng.used);
  assert_hex (resp, sizeof resp, HS_RESPONSE);
  assert_hex (kr.recv, 32, HS_I_SEND);
  assert_hex (kr.send, 32, HS_I_RECV);
  g_assert_false (kr.initiator);

  g_assert_true (fz_wg_check_mac1 (&idi, resp, sizeof resp));
  g_assert_true (fz_wg_handshake_consume_response (&hsi, &idi, resp, sizeof resp, &ki));
  assert_hex (ki.send, 32, HS_I_SEND);
  assert_hex (ki.recv, 32, HS_I_RECV);
  g_assert_true (ki.initiator);
  g_assert_cmphex (ki.local_index, ==, 0x11223344);
  g_assert_cmphex (ki.remote_index, ==, 0x55667788);
  g_assert_cmphex (kr.local_index, ==, 0x55667788);
  g_assert_cmphex (kr.remote_index, ==, 0x11223344);

  /* The initiator's first keepalive: an empty AEAD under the send key. */
  guint8 tag[16];
  fz_wg_aead_encrypt (tag, ki.send, 0, NULL, 0, NULL, 0);
  assert_hex (tag, 16, &HS_FIRST_DATA[32]);

  fz_wg_handshake_wipe (&hsi);
  fz_wg_handshake_wipe (&hsr);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  fz_rng_system (); /* initialises libsodium */
  g_test_add_func ("/wg/crypto/blake2s", test_blake2s);
  g_test_add_func ("/wg/crypto/kdf", test_kdf);
  g_test_add_func ("/wg/crypto/blake2s-long", test_blake2s_long);
  g_test_add_func ("/wg/crypto/x25519", test_x25519);
  g_test_add_func ("/wg/crypto/aead", test_aead);
  g_test_add_func ("/wg/crypto/aead-vectors", test_aead_vectors);
  g_test_add_func ("/wg/crypto/transport-aead", test_transport_aead);
  g_test_add_func ("/wg/crypto/handshake-vector", test_handshake_vector);
  g_test_add_func ("/wg/crypto/tai64n", test_tai64n);
  return g_test_run ();
}
