/* For GSubprocessLauncher: a helper process started by a test dies with
 * the test, so an abort never leaves it running. */
#pragma once

#include <glib.h>
#include <signal.h>
#include <sys/prctl.h>

static inline void
fz_test_die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}
