/* fz-log: the daemons' log writer, configured as Firezone's are so that
 * deployment scripts carry over: FIREZONE_LOG_FORMAT=human|json, and a
 * level filter in RUST_LOG (error, warn, info, debug or trace; a
 * "target=level" directive counts for its level only, the most verbose
 * wins). Default: info. Lines go to stderr, one per message. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Installs the writer for @program; FALSE with @error for a bad value
 * (the writer is installed with the defaults anyway). */
gboolean fz_log_setup (const char *program, GError **error);

G_END_DECLS
