/* FzWgIndex: 24-bit peer indices, each handed out once, in an order an
 * observer cannot predict: a maximal-length Galois LFSR from a random
 * non-zero seed, XORed with a random mask. A session index is the peer
 * index << 8 | an 8-bit per-peer session counter. */
#pragma once

#include "fz-rng.h"

G_BEGIN_DECLS

#define FZ_WG_INDEX_PEERS 0xffffff /* the LFSR's period: 2^24 - 1 */

typedef struct
{
  guint32 state, start, mask;
  gboolean exhausted;
} FzWgIndex;

void fz_wg_index_init (FzWgIndex *idx, FzRng *rng);
/* FALSE after 2^24 - 1 indices: every peer index is in use. */
gboolean fz_wg_index_next (FzWgIndex *idx, guint32 *peer_index);

G_END_DECLS
