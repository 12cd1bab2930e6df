/* FzRng: randomness handed to the sans-IO core. Production passes the
 * system CSPRNG (fz_rng_system()); tests pass a seeded one so that every
 * run, and every simulated network, repeats exactly. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _FzRng FzRng;
struct _FzRng
{
  void (*fill) (FzRng *rng, void *out, gsize len);
  guint64 state; /* for seeded generators */
};

static inline void
fz_rng_fill (FzRng *rng, void *out, gsize len)
{
  rng->fill (rng, out, len);
}

guint32 fz_rng_u32 (FzRng *rng);
/* A uniformly distributed integer in [0, bound). */
guint32 fz_rng_below (FzRng *rng, guint32 bound);

/* libsodium's randombytes: for keys, indices and cookies in production. */
FzRng *fz_rng_system (void);
/* Deterministic (splitmix64): tests and simulation only, never for keys
 * that protect real traffic. */
void fz_rng_init_seeded (FzRng *rng, guint64 seed);

G_END_DECLS
