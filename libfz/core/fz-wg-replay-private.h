/* FzWgReplay: the receive counter window of one WireGuard session
 * (RFC 6479 style sliding bitmap, as in the Linux implementation).
 *
 * Accepts each counter at most once, refuses counters more than
 * FZ_WG_REPLAY_WINDOW behind the highest seen, and refuses counters at or
 * past REJECT_AFTER_MESSAGES. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FZ_WG_REPLAY_BITS   4096 /* bitmap size; a multiple of 64 */
#define FZ_WG_REPLAY_WINDOW (FZ_WG_REPLAY_BITS - 64)
#define FZ_WG_REJECT_AFTER_MESSAGES                                                      \
  (G_MAXUINT64 - (G_GUINT64_CONSTANT (1) << 13)) /* 2^64 - 2^13 - 1 */

typedef struct
{
  guint64 greatest; /* highest accepted counter + 1; 0 before any */
  guint64 bits[FZ_WG_REPLAY_BITS / 64];
} FzWgReplay;

void fz_wg_replay_reset (FzWgReplay *r);
/* TRUE (and records it) if @counter is new and inside the window. Call
 * only after the packet authenticated. */
gboolean fz_wg_replay_check (FzWgReplay *r, guint64 counter);

G_END_DECLS
