#include "fz-wg-index-private.h"

/* x^24 + x^23 + x^21 + x^20 + 1: maximal length, period 2^24 - 1. */
#define POLY 0xd80000u

void
fz_wg_index_init (FzWgIndex *idx, FzRng *rng)
{
  do
    idx->state = fz_rng_u32 (rng) & FZ_WG_INDEX_PEERS;
  while (idx->state == 0);
  idx->start = idx->state;
  idx->mask = fz_rng_u32 (rng) & FZ_WG_INDEX_PEERS;
  idx->exhausted = FALSE;
}

gboolean
fz_wg_index_next (FzWgIndex *idx, guint32 *peer_index)
{
  guint32 value;

  if (idx->exhausted)
    return FALSE;
  /* The state runs over 1 .. 2^24-1; value - 1 maps that onto 0 .. 2^24-2,
   * and the mask scrambles it without losing uniqueness. */
  value = idx->state - 1;
  idx->state = (idx->state >> 1) ^ (-(idx->state & 1u) & POLY);
  if (idx->state == idx->start)
    idx->exhausted = TRUE;
  *peer_index = value ^ idx->mask;
  return TRUE;
}
