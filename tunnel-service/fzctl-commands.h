/* fzctl's commands; each returns the exit status (fzctl-exit.h). */
#pragma once

#include "fzctl-args.h"
#include "fzctl-client.h"

G_BEGIN_DECLS

/* How long a command waits for the service to show the change it made
 * (the service sends its properties at most every 100 ms). */
#define FZCTL_SETTLE_MS 2000

FzctlExit fzctl_cmd_status (FzctlClient *c, const FzctlArgs *args);
FzctlExit fzctl_cmd_resources (FzctlClient *c, const FzctlArgs *args);
FzctlExit fzctl_cmd_disconnect (FzctlClient *c, const FzctlArgs *args);
FzctlExit fzctl_cmd_internet (FzctlClient *c, const FzctlArgs *args);
FzctlExit fzctl_cmd_reset (FzctlClient *c, const FzctlArgs *args);
FzctlExit fzctl_cmd_connect (FzctlClient *c, const FzctlArgs *args, const char *token);
FzctlExit fzctl_cmd_watch (FzctlClient *c, const FzctlArgs *args);

/* {"ok": true} with @key set to @value (taken) when @key is not NULL. */
void fzctl_print_ok (const char *key, JsonNode *value);

G_END_DECLS
