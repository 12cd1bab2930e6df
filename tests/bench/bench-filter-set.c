/* FzFilterSet per packet: fz_filter_set_allows() against a 64 Ki-bit
 * bitmap per protocol (the alternative it was measured against), for a
 * typical list (3 ranges) and a long one (64 ranges), on random ports.
 *
 *   bench-filter-set [LOOKUPS] */
#include "fz-private.h"

#include <stdio.h>

#define N_PORTS 4096

typedef struct
{
  guint64 bits[2][65536 / 64];
} Bitmap;

static void
bitmap_fill (Bitmap *b, const FzFilter *f, guint n)
{
  memset (b, 0, sizeof *b);
  for (guint i = 0; i < n; i++)
    for (guint p = f[i].port_start; p <= f[i].port_end; p++)
      b->bits[f[i].protocol == FZ_FILTER_UDP][p / 64] |= G_GUINT64_CONSTANT (1)
                                                         << (p % 64);
}

static gboolean
bitmap_allows (const Bitmap *b, guint8 proto, guint16 port)
{
  return (b->bits[proto == FZ_IP_PROTO_UDP][port / 64] >> (port % 64)) & 1;
}

static void
run (const char *what, const FzFilter *f, guint n, guint64 lookups, GRand *r)
{
  g_autoptr (FzFilterSet) set = fz_filter_set_new (f, n);
  g_autofree Bitmap *bm = g_new (Bitmap, 1);
  guint16 ports[N_PORTS];
  guint hits = 0;
  gint64 t0, t1, t2;

  bitmap_fill (bm, f, n);
  for (guint i = 0; i < N_PORTS; i++)
    ports[i] = (guint16) g_rand_int_range (r, 0, 65536);
  t0 = g_get_monotonic_time ();
  for (guint64 i = 0; i < lookups; i++)
    hits += fz_filter_set_allows (set, FZ_IP_PROTO_TCP, ports[i % N_PORTS]);
  t1 = g_get_monotonic_time ();
  for (guint64 i = 0; i < lookups; i++)
    hits -= bitmap_allows (bm, FZ_IP_PROTO_TCP, ports[i % N_PORTS]);
  t2 = g_get_monotonic_time ();
  g_assert_cmpuint (hits, ==, 0); /* both said the same */
  printf ("%s: ranges %.1f ns, bitmap %.1f ns per lookup; %zu vs %zu bytes\n", what,
          (t1 - t0) * 1000.0 / lookups, (t2 - t1) * 1000.0 / lookups, (gsize) n * 4 + 64,
          sizeof (Bitmap));
}

int
main (int argc, char **argv)
{
  guint64 lookups = argc > 1 ? g_ascii_strtoull (argv[1], NULL, 10) : 20000000;
  g_autoptr (GRand) r = g_rand_new_with_seed (3);
  const FzFilter typical[] = {
    { FZ_FILTER_TCP, 80, 80 },
    { FZ_FILTER_TCP, 443, 443 },
    { FZ_FILTER_TCP, 8000, 8999 },
  };
  FzFilter many[64];

  if (lookups == 0)
    {
      fprintf (stderr, "usage: %s [LOOKUPS > 0]\n", argv[0]);
      return 2;
    }
  for (guint i = 0; i < G_N_ELEMENTS (many); i++)
    {
      guint16 a = (guint16) (i * 1000 + g_rand_int_range (r, 0, 500));
      many[i]
        = (FzFilter){ FZ_FILTER_TCP, a, (guint16) (a + g_rand_int_range (r, 0, 400)) };
    }
  run ("3 ranges", typical, G_N_ELEMENTS (typical), lookups, r);
  run ("64 ranges", many, G_N_ELEMENTS (many), lookups, r);
  return 0;
}
