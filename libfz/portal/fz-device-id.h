/* The device id sent to the portal as external_id (portal-protocol.md,
 * "Device id"). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FZ_DEVICE_ID_MAX  256 /* bytes */
#define FZ_DEVICE_ID_FILE "device-id.json"

/* The first of:
 * - FIREZONE_ID from the environment when set and not empty (1 to 256
 *   printable ASCII characters without spaces, else an error);
 * - the id in @state_dir/device-id.json, {"id":"..."}; a file that does
 *   not parse is reported with g_message and passed over, never fatal;
 * - hex HMAC-SHA256 of /etc/machine-id as read, keyed with the app id of
 *   the gateway or the client (as Firezone; computed each time, not
 *   saved, so a clone that gets a new machine id gets a new device id);
 * - hex SHA-256 of a random UUID string, saved to the file (mode 0640;
 *   @state_dir is created 0700). A corrupt file is replaced then.
 * @state_dir may be NULL: no file. FZ_MACHINE_ID_PATH replaces
 * /etc/machine-id, for tests only. */
char *fz_device_id_get (gboolean gateway, const char *state_dir, GError **error);

G_END_DECLS
