#pragma once

#include "fz-token.h"

#include <sys/types.h>

G_BEGIN_DECLS

/* fz_token_load() with @path's owner expected to be @owner instead of
 * root: for tests only. */
char *fz_token_load_owned (const char *path, uid_t owner, GError **error);

G_END_DECLS
