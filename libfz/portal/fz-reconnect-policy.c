#include "fz-reconnect-policy.h"

void
fz_reconnect_policy_init (FzReconnectPolicy *p, gint64 budget, FzRng *rng)
{
  *p = (FzReconnectPolicy){ .rng = rng,
                            .budget = budget,
                            .first_budget = FZ_RECONNECT_FIRST_BUDGET };
}

void
fz_reconnect_policy_joined (FzReconnectPolicy *p)
{
  p->joined = TRUE;
  p->backoff = FALSE;
  p->spent = 0;
}

gint64
fz_reconnect_policy_next (FzReconnectPolicy *p, gint64 retry_after)
{
  if (retry_after >= 0)
    return retry_after;
  if (!p->joined)
    {
      if (p->spent + FZ_RECONNECT_FIRST_DELAY > p->first_budget)
        return -1;
      p->spent += FZ_RECONNECT_FIRST_DELAY;
      return FZ_RECONNECT_FIRST_DELAY;
    }
  if (!p->backoff)
    {
      /* Created now, on the first failure since the join. */
      p->backoff = TRUE;
      p->interval = FZ_RECONNECT_INITIAL;
      p->spent = 0;
    }
  gint64 delay = p->interval + fz_rng_below (p->rng, FZ_RECONNECT_INITIAL);
  if (p->budget != FZ_RECONNECT_UNLIMITED && p->spent + delay > p->budget)
    return -1;
  p->spent += delay;
  p->interval = MIN (p->interval * 3 / 2, FZ_RECONNECT_MAX_INTERVAL);
  return delay;
}
