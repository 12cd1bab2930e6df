#include "fz-wg-replay-private.h"

#include <string.h>

#define WORDS (FZ_WG_REPLAY_BITS / 64)

void
fz_wg_replay_reset (FzWgReplay *r)
{
  memset (r, 0, sizeof *r);
}

gboolean
fz_wg_replay_check (FzWgReplay *r, guint64 counter)
{
  guint64 n, word, bit;

  if (counter >= FZ_WG_REJECT_AFTER_MESSAGES)
    return FALSE;
  /* Positions are counter + 1, so that a fresh window (greatest = 0)
   * needs no special case. */
  n = counter + 1;
  if (n + FZ_WG_REPLAY_WINDOW < r->greatest)
    return FALSE; /* too old */

  word = n / 64;
  if (n > r->greatest)
    {
      /* Moving ahead: clear the words passed over, at most all of them. */
      guint64 current = r->greatest / 64;
      guint64 clear = MIN (word - current, (guint64) WORDS);

      for (guint64 i = 1; i <= clear; i++)
        r->bits[(current + i) % WORDS] = 0;
      r->greatest = n;
    }

  bit = G_GUINT64_CONSTANT (1) << (n % 64);
  word %= WORDS;
  if (r->bits[word] & bit)
    return FALSE;
  r->bits[word] |= bit;
  return TRUE;
}
