#include "fz-device-id.h"
#include "fz-phoenix-frame.h" /* fz_phoenix_json_parse */
#include "fz-state-file.h"

#include <gio/gio.h>
#include <sodium.h>

/* Firezone's app ids: the HMAC key is the ASCII string itself. */
#define GATEWAY_APP_ID "753b38f9f96947ef8083802d5909a372"
#define CLIENT_APP_ID  "e1e465ce763e4759945c650ac334501f"

#define MACHINE_ID_MAX 4096
#define FILE_MAX       4096

static gboolean
id_valid (const char *id, gsize len)
{
  if (len == 0 || len > FZ_DEVICE_ID_MAX)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isgraph (id[i]))
      return FALSE;
  return TRUE;
}

/* NULL without an error when there is no file or it is corrupt. */
static char *
from_file (const char *path, GError **error)
{
  g_autoptr (GError) local = NULL;
  gsize len;
  g_autofree char *text = fz_state_file_read (path, FILE_MAX, &len, &local);
  if (text == NULL)
    {
      if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        return NULL;
      if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_INVALID_DATA))
        {
          g_message ("Ignoring the device id file: %s", local->message);
          return NULL;
        }
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }

  g_autoptr (JsonNode) root = fz_phoenix_json_parse (text, len, &local);
  const char *id = NULL;
  if (root != NULL && JSON_NODE_HOLDS_OBJECT (root))
    {
      JsonNode *n = json_object_get_member (json_node_get_object (root), "id");
      if (n != NULL && JSON_NODE_HOLDS_VALUE (n)
          && json_node_get_value_type (n) == G_TYPE_STRING)
        id = json_node_get_string (n);
    }
  if (id == NULL || !id_valid (id, strlen (id)))
    {
      g_message (
        "Ignoring the device id file %s: it is not {\"id\":\"...\"} with an id of "
        "1 to %d printable characters",
        path, FZ_DEVICE_ID_MAX);
      return NULL;
    }
  return g_strdup (id);
}

static char *
from_machine_id (gboolean gateway)
{
  const char *path = g_getenv ("FZ_MACHINE_ID_PATH");
  if (path == NULL)
    path = "/etc/machine-id";
  gsize len;
  g_autofree char *machine_id = fz_state_file_read (path, MACHINE_ID_MAX, &len, NULL);
  if (machine_id == NULL || len == 0)
    return NULL;
  const char *key = gateway ? GATEWAY_APP_ID : CLIENT_APP_ID;
  g_autoptr (GHmac) hmac
    = g_hmac_new (G_CHECKSUM_SHA256, (const guchar *) key, strlen (key));
  g_hmac_update (hmac, (const guchar *) machine_id, (gssize) len);
  return g_strdup (g_hmac_get_string (hmac));
}

static char *
random_uuid (void)
{
  guint8 b[16];
  randombytes_buf (b, sizeof b);
  b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
  b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
  return g_strdup_printf ("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                          "%02x%02x%02x%02x%02x%02x",
                          b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
                          b[10], b[11], b[12], b[13], b[14], b[15]);
}

static gboolean
save (const char *state_dir, const char *path, const char *id, GError **error)
{
  if (!fz_state_dir_ensure (state_dir, error))
    return FALSE;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, id);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = json_to_string (root, FALSE);
  return fz_state_file_write (path, text, strlen (text), 0640, error);
}

char *
fz_device_id_get (gboolean gateway, const char *state_dir, GError **error)
{
  const char *env = g_getenv ("FIREZONE_ID");
  if (env != NULL && env[0] != '\0')
    {
      if (!id_valid (env, strlen (env)))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "FIREZONE_ID must be 1 to %d printable ASCII characters without "
                       "spaces",
                       FZ_DEVICE_ID_MAX);
          return NULL;
        }
      return g_strdup (env);
    }

  g_autofree char *path
    = state_dir != NULL ? g_build_filename (state_dir, FZ_DEVICE_ID_FILE, NULL) : NULL;
  GError *local = NULL;
  char *id = path != NULL ? from_file (path, &local) : NULL;
  if (id != NULL || local != NULL)
    {
      if (local != NULL)
        g_propagate_prefixed_error (error, local, "Could not read the device id: ");
      return id;
    }
  id = from_machine_id (gateway);
  if (id != NULL)
    return id;

  g_autofree char *uuid = random_uuid ();
  g_autofree char *random_id
    = g_compute_checksum_for_string (G_CHECKSUM_SHA256, uuid, -1);
  if (path == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                           "No device id: no FIREZONE_ID, no machine id and no state "
                           "directory to keep a random one in");
      return NULL;
    }
  if (!save (state_dir, path, random_id, error))
    {
      g_prefix_error (error, "Could not save the new device id: ");
      return NULL;
    }
  return g_steal_pointer (&random_id);
}
