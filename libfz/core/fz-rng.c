#include "fz-rng.h"

#include <sodium.h>
#include <string.h>

static void
system_fill (FzRng *rng, void *out, gsize len)
{
  randombytes_buf (out, len);
}

FzRng *
fz_rng_system (void)
{
  static FzRng rng = { system_fill, 0 };
  static gsize once = 0;

  if (g_once_init_enter (&once))
    {
      if (sodium_init () < 0)
        g_error ("libsodium failed to initialise");
      g_once_init_leave (&once, 1);
    }
  return &rng;
}

static guint64
splitmix64 (guint64 *s)
{
  guint64 z = (*s += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static void
seeded_fill (FzRng *rng, void *out, gsize len)
{
  guint8 *p = out;

  while (len > 0)
    {
      guint64 v = splitmix64 (&rng->state);
      gsize n = MIN (len, sizeof v);
      memcpy (p, &v, n);
      p += n;
      len -= n;
    }
}

void
fz_rng_init_seeded (FzRng *rng, guint64 seed)
{
  rng->fill = seeded_fill;
  rng->state = seed;
}

guint32
fz_rng_u32 (FzRng *rng)
{
  guint32 v;
  fz_rng_fill (rng, &v, sizeof v);
  return v;
}

guint32
fz_rng_below (FzRng *rng, guint32 bound)
{
  /* Rejection sampling: no modulo bias. */
  guint32 limit, v;

  g_return_val_if_fail (bound > 0, 0);
  limit = G_MAXUINT32 - G_MAXUINT32 % bound;
  do
    v = fz_rng_u32 (rng);
  while (v >= limit);
  return v % bound;
}
