#include "fz-tunnel-host.h"
#include "fz-dns-control.h"

#include <string.h>
#include <sys/socket.h>

#define MAPPINGS_FILE  "proxy-ips.json"
#define MAPPINGS_MAX   (32 * 1024 * 1024)
#define MAX_SYSTEM_DNS 8

/* resolved's stubs: a resolv.conf that names them is resolved's. */
static gboolean
is_resolved_stub (const char *server)
{
  return g_str_equal (server, "127.0.0.53") || g_str_equal (server, "127.0.0.54");
}

static void
on_resolved_dns (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (FzTunnel) tunnel = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) ret
    = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  g_autoptr (GVariant) list = NULL;
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_auto (GStrv) servers = NULL;
  g_autofree char *joined = NULL;
  GVariantIter iter;
  gint32 ifindex, family;
  guint16 port;
  GVariant *bytes;

  if (ret == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      g_message ("cannot read systemd-resolved's DNS servers: %s", error->message);
      return;
    }
  g_variant_get (ret, "(v)", &list);
  if (!g_variant_is_of_type (list, G_VARIANT_TYPE ("a(iiayqs)")))
    return;
  g_variant_iter_init (&iter, list);
  for (guint n = 0;
       g_variant_iter_next (&iter, "(ii@ayq&s)", &ifindex, &family, &bytes, &port, NULL);)
    {
      gsize len;
      const guint8 *p = g_variant_get_fixed_array (bytes, &len, 1);
      g_autoptr (GInetAddress) a = NULL;
      g_autofree char *text = NULL;

      /* Not our own link's, not on another port (we ask on 53 only). */
      if (ifindex != fz_tunnel_get_ifindex (tunnel) && (port == 0 || port == 53)
          && n < MAX_SYSTEM_DNS
          && ((family == AF_INET && len == 4) || (family == AF_INET6 && len == 16)))
        {
          a = g_inet_address_new_from_bytes (p, family == AF_INET ? G_SOCKET_FAMILY_IPV4
                                                                  : G_SOCKET_FAMILY_IPV6);
          text = g_inet_address_to_string (a);
          if (!is_resolved_stub (text))
            g_strv_builder_add (b, text), n++;
        }
      g_variant_unref (bytes);
    }
  servers = g_strv_builder_end (b);
  joined = g_strjoinv (", ", servers);
  g_message ("the system's resolvers, from systemd-resolved: %s",
             servers[0] != NULL ? joined : "none");
  fz_tunnel_set_system_dns (tunnel, (const char *const *) servers);
}

/* resolved's own list: what it asks (global, and every link's but ours). */
static void
ask_resolved (FzTunnel *tunnel)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);

  if (bus == NULL)
    {
      g_message ("%s names systemd-resolved's stub, but: %s", FZ_RESOLV_CONF,
                 error->message);
      return;
    }
  g_dbus_connection_call (
    bus, "org.freedesktop.resolve1", "/org/freedesktop/resolve1",
    "org.freedesktop.DBus.Properties", "Get",
    g_variant_new ("(ss)", "org.freedesktop.resolve1.Manager", "DNSEx"),
    G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, FZ_DNS_CONTROL_TIMEOUT_MS,
    NULL, on_resolved_dns, g_object_ref (tunnel));
}

void
fz_tunnel_host_read_system_dns (FzTunnel *tunnel, const char *resolv_conf)
{
  g_autofree char *text = NULL;
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_auto (GStrv) servers = NULL;
  g_auto (GStrv) lines = NULL;
  gboolean stub = FALSE;

  if (!g_file_get_contents (resolv_conf, &text, NULL, NULL))
    return;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0, n = 0; lines[i] != NULL && n < MAX_SYSTEM_DNS; i++)
    {
      g_auto (GStrv) words = g_strsplit_set (g_strstrip (lines[i]), " \t", 3);
      if (g_strcmp0 (words[0], "nameserver") != 0 || words[1] == NULL)
        continue;
      if (is_resolved_stub (words[1]))
        stub = TRUE;
      else
        g_strv_builder_add (b, words[1]), n++;
    }
  servers = g_strv_builder_end (b);
  /* Only resolved's stub: forwarding there would come back to us (our
   * link has "~."); resolved knows the real ones. */
  if (servers[0] == NULL && stub)
    ask_resolved (tunnel);
  else
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
