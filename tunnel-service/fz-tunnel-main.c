/* fz-tunnel: the client's privileged service. Without --headless it
 * owns dev.libfz.Tunnel on the system bus (fz-tunnel-service.h) and
 * connects when a caller asks, with the caller's token; it reads
 * FIREZONE_DNS_CONTROL and --state-dir as below. With --headless it signs
 * in with a token and runs until stopped, for servers and CI machines:
 *
 *   FIREZONE_TOKEN, or FIREZONE_TOKEN_PATH (default /etc/libfz/token:
 *                       owned by root, mode 0600 or 0400)
 *   FIREZONE_API_URL    default wss://api.firezone.dev
 *   FIREZONE_ID         default: a device id kept in the state directory
 *   FIREZONE_NAME       default: the host name
 *   FIREZONE_ACTIVATE_INTERNET_RESOURCE=true|false
 *   FIREZONE_DNS_CONTROL=etc-resolv-conf|systemd-resolved|disabled
 *                       default: systemd-resolved when it runs (it has its
 *                       name on the system bus), else etc-resolv-conf
 *   FIREZONE_NO_INC_BUF, FIREZONE_LOG_FORMAT=human|json, RUST_LOG
 *   --state-dir DIR     default $STATE_DIRECTORY, else /var/lib/fz-tunnel
 *   --exit              exit 0 once the tunnel is up with its resources
 *
 * In both modes a resume from sleep (logind's PrepareForSleep(false))
 * starts the connections to the gateways over, as a network change does.
 *
 * SIGTERM or SIGINT: goodbye to the gateways, restore DNS, remove the
 * TUN and the routing rules, exit 0. */
#include "fz-dns-control.h"
#include "fz-sleep-monitor.h"
#include "fz-tunnel-host.h"
#include "fz-tunnel-service.h"

#include "fz.h"
#include <glib-unix.h>
#include <locale.h>
#include <signal.h>
#include <string.h>

#undef G_LOG_DOMAIN
#define G_LOG_DOMAIN "fz-tunnel"

#define DEFAULT_API_URL    "wss://api.firezone.dev"
#define DEFAULT_STATE_DIR  "/var/lib/fz-tunnel"
#define DEFAULT_TOKEN_PATH "/etc/libfz/token"
#define RESOLV_CONF        "/etc/resolv.conf"
#define RESOLV_BACKUP      "resolv.conf.before-libfz"

typedef struct
{
  GMainLoop *loop;
  FzTunnel *tunnel;
  FzTunnelService *service; /* without --headless */
  FzDnsControlMode dns_mode;
  gboolean dns_set;
  gboolean exit_when_up;
  char *state_dir;
  char *resolv_backup; /* in the state directory: /etc may be the host's */
  gint64 started;
  gboolean stopping; /* a signal asked us to end */
  int status;
} App;

static gboolean
on_signal (gpointer data)
{
  App *app = data;

  g_message ("stopping");
  app->stopping = TRUE;
  if (app->service != NULL)
    fz_tunnel_service_shutdown (app->service);
  else if (app->tunnel != NULL)
    fz_tunnel_stop (app->tunnel);
  return G_SOURCE_CONTINUE;
}

static void
revert_dns (App *app)
{
  g_autoptr (GError) error = NULL;

  if (!app->dns_set)
    return;
  if (!fz_dns_control_revert (app->dns_mode, RESOLV_CONF, app->resolv_backup,
                              fz_tunnel_get_ifindex (app->tunnel), &error))
    g_printerr ("fz-tunnel: %s\n", error->message);
  app->dns_set = FALSE;
}

static void
on_stopped (FzTunnel *tunnel, App *app)
{
  g_main_loop_quit (app->loop);
}

static void
on_fatal (FzTunnel *tunnel, const GError *error, App *app)
{
  g_printerr ("fz-tunnel: %s\n", error->message);
  app->status = 1;
  revert_dns (app);
  fz_tunnel_stop (tunnel);
}

static void
on_interface (FzTunnel *tunnel, App *app)
{
  g_auto (GStrv) servers = fz_tunnel_get_dns_servers (tunnel);
  g_autofree char *search = fz_tunnel_get_search_domain (tunnel);
  g_autoptr (GError) error = NULL;

  if (app->dns_mode == FZ_DNS_CONTROL_DISABLED || servers == NULL)
    return;
  if (!fz_dns_control_set (app->dns_mode, RESOLV_CONF, app->resolv_backup,
                           fz_tunnel_get_ifindex (tunnel), (const char *const *) servers,
                           search, &error))
    {
      g_printerr ("fz-tunnel: DNS: %s\n", error->message);
      return;
    }
  app->dns_set = TRUE;
}

static void
on_ready (FzTunnel *tunnel, App *app)
{
  double ms = (double) (g_get_monotonic_time () - app->started) / 1000.0;

  on_interface (tunnel, app); /* the sentinels are known now */
  g_print ("fz-tunnel: tunnel up with %u resources in %.0f ms\n",
           fz_tunnel_get_n_resources (tunnel), ms);
  if (app->exit_when_up)
    fz_tunnel_stop (tunnel);
}

static void
on_resources (FzTunnel *tunnel, App *app)
{
  if (app->dns_set)
    fz_dns_control_flush (app->dns_mode);
}

static void
on_mappings (FzTunnel *tunnel, const char *json, App *app)
{
  fz_tunnel_host_save_mappings (app->state_dir, json);
}

static gboolean
parse_bool_env (const char *name, gboolean *out, GError **error)
{
  const char *v = g_getenv (name);

  if (v == NULL || v[0] == '\0')
    return TRUE;
  if (g_ascii_strcasecmp (v, "true") == 0 || g_str_equal (v, "1"))
    *out = TRUE;
  else if (g_ascii_strcasecmp (v, "false") == 0 || g_str_equal (v, "0"))
    *out = FALSE;
  else
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "%s: '%s' is neither true nor false", name, v);
      return FALSE;
    }
  return TRUE;
}

static gboolean
configure (App *app, FzTunnelConfig *config, char **id, char **mappings, GError **error)
{
  const char *api_url = g_getenv ("FIREZONE_API_URL");
  const char *dns = g_getenv ("FIREZONE_DNS_CONTROL");

  if (!parse_bool_env ("FIREZONE_ACTIVATE_INTERNET_RESOURCE", &config->internet_resource,
                       error))
    return FALSE;
  if (!fz_dns_control_mode_choose (dns, &app->dns_mode, error))
    return FALSE;
  g_message ("DNS control: %s", fz_dns_control_mode_name (app->dns_mode));
  if (!fz_state_dir_ensure (app->state_dir, error))
    return FALSE;
  *id = fz_device_id_get (FALSE, app->state_dir, error);
  if (*id == NULL)
    return FALSE;
  *mappings = fz_tunnel_host_load_mappings (app->state_dir);
  config->api_url = api_url != NULL && api_url[0] != '\0' ? api_url : DEFAULT_API_URL;
  config->device_id = *id;
  config->name = g_getenv ("FIREZONE_NAME");
  config->mappings = *mappings;
  return TRUE;
}

static int
run (App *app, const char *token, GError **error)
{
  g_autofree char *id = NULL;
  g_autofree char *mappings = NULL;
  FzTunnelConfig config
    = { .role = FZ_TUNNEL_ROLE_CLIENT, .component = "headless-client" };
  gboolean ok;

  config.token = token;
  ok = configure (app, &config, &id, &mappings, error);
  if (ok && app->dns_mode == FZ_DNS_CONTROL_ETC_RESOLV_CONF)
    ok = fz_dns_control_recover (RESOLV_CONF, app->resolv_backup, error);
  if (ok)
    app->tunnel = fz_tunnel_new (&config, error);
  if (!ok || app->tunnel == NULL)
    return 1;
  /* What the system resolved with before us: the backup when our file
   * was in place (a crash, restored above), else the live file. */
  fz_tunnel_host_read_system_dns (app->tunnel, RESOLV_CONF);
  g_signal_connect (app->tunnel, "ready", G_CALLBACK (on_ready), app);
  g_signal_connect (app->tunnel, "interface-changed", G_CALLBACK (on_interface), app);
  g_signal_connect (app->tunnel, "resources-changed", G_CALLBACK (on_resources), app);
  g_signal_connect (app->tunnel, "mappings-changed", G_CALLBACK (on_mappings), app);
  g_signal_connect (app->tunnel, "fatal", G_CALLBACK (on_fatal), app);
  g_signal_connect (app->tunnel, "stopped", G_CALLBACK (on_stopped), app);
  g_message ("fz-tunnel %s: %s on UDP port %u, portal %s", fz_version (),
             fz_tunnel_get_interface_name (app->tunnel), fz_tunnel_get_port (app->tunnel),
             config.api_url);
  app->started = g_get_monotonic_time ();
  fz_tunnel_start (app->tunnel);
  g_main_loop_run (app->loop);
  revert_dns (app);
  return app->status;
}

/* ---- the D-Bus service ---------------------------------------------- */

static void
on_bus (GDBusConnection *connection, const char *name, gpointer data)
{
  App *app = data;
  g_autoptr (GError) error = NULL;

  if (!fz_tunnel_service_export (app->service, connection, &error))
    {
      g_printerr ("fz-tunnel: cannot export %s: %s\n", FZ_TUNNEL_SERVICE_PATH,
                  error->message);
      app->status = 1;
      g_main_loop_quit (app->loop);
    }
}

static void
on_name_acquired (GDBusConnection *connection, const char *name, gpointer data)
{
  g_message ("fz-tunnel %s: %s on the system bus", fz_version (), name);
}

static void
on_name_lost (GDBusConnection *connection, const char *name, gpointer data)
{
  App *app = data;

  g_printerr ("fz-tunnel: %s: %s\n", name,
              connection == NULL ? "cannot connect to the system bus"
                                 : "the name is taken");
  app->status = 1;
  g_main_loop_quit (app->loop);
}

static void
on_service_idle (FzTunnelService *service, App *app)
{
  if (app->stopping)
    g_main_loop_quit (app->loop);
}

static int
run_service (App *app, GError **error)
{
  const char *dns = g_getenv ("FIREZONE_DNS_CONTROL");
  FzTunnelServiceConfig config
    = { .state_dir = app->state_dir, .resolv_conf = RESOLV_CONF };
  guint owner;

  if (!fz_dns_control_mode_choose (dns, &config.dns_mode, error))
    return 1;
  g_message ("DNS control: %s", fz_dns_control_mode_name (config.dns_mode));
  app->service = fz_tunnel_service_new (&config, error);
  if (app->service == NULL)
    return 1;
  g_signal_connect (app->service, "idle", G_CALLBACK (on_service_idle), app);
  owner
    = g_bus_own_name (G_BUS_TYPE_SYSTEM, "dev.libfz.Tunnel", G_BUS_NAME_OWNER_FLAGS_NONE,
                      on_bus, on_name_acquired, on_name_lost, app, NULL);
  g_main_loop_run (app->loop);
  g_bus_unown_name (owner);
  g_clear_object (&app->service);
  return app->status;
}

/* After a resume the NAT bindings and the gateways' sessions are likely
 * gone: start the connections over, as after a network change. */
static void
on_sleep (gboolean sleeping, gpointer data)
{
  App *app = data;

  if (sleeping)
    {
      g_message ("the system is going to sleep");
      return;
    }
  g_message ("resumed from sleep: the connections start over");
  if (app->service != NULL)
    fz_tunnel_service_reset (app->service);
  else if (app->tunnel != NULL)
    fz_tunnel_reset (app->tunnel);
}

int
main (int argc, char **argv)
{
  gboolean headless = FALSE, version = FALSE;
  App app = { 0 };
  GOptionEntry entries[] = {
    { "headless", 0, 0, G_OPTION_ARG_NONE, &headless,
      "Sign in with a token and run without the D-Bus service", NULL },
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &app.state_dir,
      "Where the device id and proxy-IP mappings are kept (default $STATE_DIRECTORY, "
      "else " DEFAULT_STATE_DIR ")",
      "DIR" },
    { "exit", 0, 0, G_OPTION_ARG_NONE, &app.exit_when_up,
      "Exit once the tunnel is up with its resources", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) opts = g_option_context_new ("- the libfz client service");
  g_autoptr (GError) error = NULL;
  /* The global default context: libraries that build proxies on worker
   * threads (polkit's authority) deliver their signals there. */
  g_autoptr (GMainContext) ctx = g_main_context_ref (g_main_context_default ());
  const char *env_dir = g_getenv ("STATE_DIRECTORY");
  const char *token_path = g_getenv ("FIREZONE_TOKEN_PATH");
  g_autofree char *token = NULL;
  g_autoptr (FzSleepMonitor) sleep_monitor = NULL;
  GSource *sig[2];
  int status;

  setlocale (LC_ALL, "");
  signal (SIGPIPE, SIG_IGN);
  g_option_context_add_main_entries (opts, entries, NULL);
  if (!g_option_context_parse (opts, &argc, &argv, &error))
    {
      g_printerr ("fz-tunnel: %s\n", error->message);
      return 2;
    }
  if (version)
    {
      g_print ("fz-tunnel %s\n", fz_version ());
      return 0;
    }
  if (!fz_log_setup ("fz-tunnel", &error))
    {
      g_printerr ("fz-tunnel: %s\n", error->message);
      return 2;
    }
  if (app.state_dir == NULL)
    app.state_dir = env_dir != NULL && env_dir[0] != '\0' ? g_strdup (env_dir)
                                                          : g_strdup (DEFAULT_STATE_DIR);
  app.resolv_backup = g_build_filename (app.state_dir, RESOLV_BACKUP, NULL);

  /* Before any thread exists: the token leaves the environment. */
  if (headless)
    token = fz_token_load (token_path != NULL ? token_path : DEFAULT_TOKEN_PATH, &error);
  if (headless && token == NULL)
    {
      g_printerr ("fz-tunnel: %s\n", error->message);
      return 1;
    }

  g_main_context_push_thread_default (ctx);
  app.loop = g_main_loop_new (ctx, FALSE);
  for (guint i = 0; i < 2; i++)
    {
      sig[i] = g_unix_signal_source_new (i == 0 ? SIGTERM : SIGINT);
      g_source_set_callback (sig[i], on_signal, &app, NULL);
      g_source_attach (sig[i], ctx);
    }
  sleep_monitor = fz_sleep_monitor_new (on_sleep, &app);
  if (headless)
    {
      status = run (&app, token, &error);
      explicit_bzero (token, strlen (token));
    }
  else
    status = run_service (&app, &error);
  if (error != NULL)
    g_printerr ("fz-tunnel: %s\n", error->message);
  g_clear_pointer (&sleep_monitor, fz_sleep_monitor_free);
  g_clear_object (&app.tunnel);
  for (guint i = 0; i < 2; i++)
    {
      g_source_destroy (sig[i]);
      g_source_unref (sig[i]);
    }
  g_main_loop_unref (app.loop);
  g_main_context_pop_thread_default (ctx);
  g_free (app.state_dir);
  g_free (app.resolv_backup);
  return status;
}
