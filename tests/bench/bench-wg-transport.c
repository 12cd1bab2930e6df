/* Transport data crypto on one core, 1420-byte packets (and 64-byte
 * ones): an FzWgSession sealing and opening in place (OpenSSL EVP with
 * contexts keyed once per session; libsodium below 256 bytes, see
 * fz-wg-aead.c), against libsodium's ChaCha20-Poly1305 call on the same
 * bytes (what the session used before). Prints Gbit/s of plaintext and
 * the ratio.
 *
 *   bench-wg-transport [PACKETS] */
#include "fz-private.h"

#include <stdio.h>
#include <string.h>

typedef struct
{
  double seal, open; /* Gbit/s */
} Rate;

static double
gbit (guint64 n, gsize len, gint64 us)
{
  return us > 0 ? (double) n * (double) len * 8.0 / ((double) us * 1e3) : 0;
}

static Rate
run_session (guint64 n, gsize len)
{
  FzWgKeypair keys = { .local_index = 1, .remote_index = 2, .initiator = TRUE };
  FzWgSession tx = { 0 }, rx = { 0 };
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  guint8 *wire = g_malloc (len + 64);
  gsize wire_len = 0;
  Rate r;

  memset (keys.send, 7, sizeof keys.send);
  memcpy (keys.recv, keys.send, sizeof keys.recv);
  fz_wg_session_start (&tx, &keys, 0);
  fz_wg_session_start (&rx, &keys, 0);
  gint64 t0 = g_get_monotonic_time ();
  for (guint64 i = 0; i < n; i++)
    {
      fz_packet_buf_reset (buf);
      guint8 *p = fz_packet_buf_put (buf, len);
      memset (p, 0, len);
      p[0] = 0x45, p[2] = (guint8) (len >> 8), p[3] = (guint8) len;
      if (!fz_wg_session_encrypt (&tx, buf, 0))
        g_error ("seal failed");
    }
  r.seal = gbit (n, len, g_get_monotonic_time () - t0);
  wire_len = buf->len;
  memcpy (wire, buf->data, wire_len);
  /* Opening one message again and again: the replay window is reset so
   * that only the crypto is counted. */
  t0 = g_get_monotonic_time ();
  for (guint64 i = 0; i < n; i++)
    {
      fz_packet_buf_reset (buf);
      memcpy (fz_packet_buf_put (buf, wire_len), wire, wire_len);
      memset (&rx.replay, 0, sizeof rx.replay);
      if (fz_wg_session_decrypt (&rx, buf) != FZ_WG_DECRYPT_OK)
        g_error ("open failed");
    }
  r.open = gbit (n, len, g_get_monotonic_time () - t0);
  fz_wg_session_wipe (&tx);
  fz_wg_session_wipe (&rx);
  g_free (wire);
  return r;
}

static Rate
run_libsodium (guint64 n, gsize len)
{
  guint8 key[32], *data = g_malloc0 (len + 16);
  Rate r;

  memset (key, 7, sizeof key);
  gint64 t0 = g_get_monotonic_time ();
  for (guint64 i = 0; i < n; i++)
    fz_wg_aead_encrypt (data, key, i, data, len, NULL, 0);
  r.seal = gbit (n, len, g_get_monotonic_time () - t0);
  fz_wg_aead_encrypt (data, key, 0, data, len, NULL, 0);
  g_autofree guint8 *copy = g_memdup2 (data, len + 16);
  t0 = g_get_monotonic_time ();
  for (guint64 i = 0; i < n; i++)
    {
      memcpy (data, copy, len + 16);
      if (!fz_wg_aead_decrypt (data, key, 0, data, len + 16, NULL, 0))
        g_error ("libsodium open failed");
    }
  r.open = gbit (n, len, g_get_monotonic_time () - t0);
  g_free (data);
  return r;
}

int
main (int argc, char **argv)
{
  guint64 n = argc > 1 ? g_ascii_strtoull (argv[1], NULL, 10) : 500000;
  static const gsize sizes[] = { 1420, 64 };

  if (n == 0)
    {
      fprintf (stderr, "usage: %s [PACKETS > 0]\n", argv[0]);
      return 2;
    }
  printf ("transport ChaCha20-Poly1305, one core, %" G_GUINT64_FORMAT " packets\n", n);
  printf ("%-8s %-26s %10s %10s\n", "size", "", "seal", "open");
  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    {
      Rate ours = run_session (n, sizes[s]);
      Rate ref = run_libsodium (n, sizes[s]);
      printf ("%-8zu %-26s %5.2f Gb/s %5.2f Gb/s\n", sizes[s], "session", ours.seal,
              ours.open);
      printf ("%-8s %-26s %5.2f Gb/s %5.2f Gb/s\n", "", "libsodium", ref.seal, ref.open);
      printf ("%-8s %-26s %9.2fx %9.2fx\n", "", "session / libsodium",
              ours.seal / ref.seal, ours.open / ref.open);
    }
  return 0;
}
