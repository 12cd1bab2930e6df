#include "fz-tunnel-host.h"

#include <string.h>

#define MAPPINGS_FILE  "proxy-ips.json"
#define MAPPINGS_MAX   (32 * 1024 * 1024)
#define MAX_SYSTEM_DNS 8

void
fz_tunnel_host_read_system_dns (FzTunnel *tunnel, const char *resolv_conf)
{
  g_autofree char *text = NULL;
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_auto (GStrv) servers = NULL;
  g_auto (GStrv) lines = NULL;

  if (!g_file_get_contents (resolv_conf, &text, NULL, NULL))
    return;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0, n = 0; lines[i] != NULL && n < MAX_SYSTEM_DNS; i++)
    {
      g_auto (GStrv) words = g_strsplit_set (g_strstrip (lines[i]), " \t", 3);
      if (g_strcmp0 (words[0], "nameserver") == 0 && words[1] != NULL)
        g_strv_builder_add (b, words[1]), n++;
    }
  servers = g_strv_builder_end (b);
  fz_tunnel_set_system_dns (tunnel, (const char *const *) servers);
}

char *
fz_tunnel_host_load_mappings (const char *state_dir)
{
  g_autofree char *path = g_build_filename (state_dir, MAPPINGS_FILE, NULL);
  g_autoptr (GError) error = NULL;
  char *text;

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return NULL;
  text = fz_state_file_read (path, MAPPINGS_MAX, NULL, &error);
  if (text == NULL)
    g_message ("ignoring %s: %s", path, error->message);
  return text;
}

void
fz_tunnel_host_save_mappings (const char *state_dir, const char *json)
{
  g_autofree char *path = g_build_filename (state_dir, MAPPINGS_FILE, NULL);
  g_autoptr (GError) error = NULL;

  if (!fz_state_file_write (path, json, strlen (json), 0600, &error))
    g_message ("cannot save the proxy-IP mappings: %s", error->message);
}
