/* fz-gateway: the gateway daemon. Configured like Firezone's gateway:
 *
 *   FIREZONE_TOKEN (or the systemd credential FIREZONE_TOKEN)
 *   FIREZONE_API_URL    default wss://api.firezone.dev
 *   FIREZONE_ID         default: a device id kept in the state directory
 *   FIREZONE_NAME       default: the host name
 *   FIREZONE_NO_INC_BUF, FIREZONE_LOG_FORMAT=human|json, RUST_LOG
 *   FIREZONE_HEALTH_CHECK_ADDR or --health-check-addr HOST:PORT
 *   --state-dir DIR     default $STATE_DIRECTORY, else /var/lib/fz-gateway
 *   --masquerade        masquerade client traffic whatever the portal says
 *   --check             check all that, and the host, without starting
 *
 * SIGTERM or SIGINT: a goodbye to every client, leave the portal, remove
 * the TUN and the NAT table, exit 0. A refused or expired token: one
 * line, exit 1. */
#include "fz-gateway-check.h"
#include "fz-gateway-nat.h"
#include "fz-health.h"

#include "fz.h"
#include <glib-unix.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#undef G_LOG_DOMAIN
#define G_LOG_DOMAIN "fz-gateway"

#define DEFAULT_API_URL   "wss://api.firezone.dev"
#define DEFAULT_STATE_DIR "/var/lib/fz-gateway"

typedef struct
{
  GMainLoop *loop;
  FzTunnel *tunnel;
  FzHealth *health;
  gboolean force_masquerade;
  gboolean nat_applied;
  int status;
} App;

static gboolean
on_signal (gpointer data)
{
  App *app = data;

  g_message ("stopping");
  fz_tunnel_stop (app->tunnel);
  return G_SOURCE_CONTINUE;
}

static void
on_stopped (FzTunnel *tunnel, App *app)
{
  g_main_loop_quit (app->loop);
}

static void
on_fatal (FzTunnel *tunnel, const GError *error, App *app)
{
  g_printerr ("fz-gateway: %s\n", error->message);
  app->status = 1;
  fz_tunnel_stop (tunnel);
}

static void
on_ready (FzTunnel *tunnel, App *app)
{
  g_message ("joined the portal; %s is up", fz_tunnel_get_interface_name (tunnel));
  if (app->health != NULL)
    fz_health_set_ready (app->health, TRUE);
}

static void
apply_masquerade (App *app, gboolean v4, gboolean v6)
{
  g_autoptr (GError) error = NULL;

  v4 |= app->force_masquerade;
  v6 |= app->force_masquerade;
  if (!fz_gateway_nat_apply (fz_tunnel_get_interface_name (app->tunnel), v4, v6, &error))
    {
      g_printerr ("fz-gateway: %s\n", error->message);
      app->status = 1;
      fz_tunnel_stop (app->tunnel);
      return;
    }
  app->nat_applied = v4 || v6;
  g_message ("masquerade: IPv4 %s, IPv6 %s", v4 ? "on" : "off", v6 ? "on" : "off");
}

static void
on_masquerade (FzTunnel *tunnel, gboolean v4, gboolean v6, App *app)
{
  apply_masquerade (app, v4, v6);
}

static char *
state_dir_default (void)
{
  const char *dir = g_getenv ("STATE_DIRECTORY");

  /* systemd may list several, separated by ':': ours is the first. */
  if (dir != NULL && dir[0] != '\0')
    {
      g_auto (GStrv) parts = g_strsplit (dir, ":", 2);
      return g_strdup (parts[0]);
    }
  return g_strdup (DEFAULT_STATE_DIR);
}

static const char *
api_url (void)
{
  const char *url = g_getenv ("FIREZONE_API_URL");
  return url != NULL && url[0] != '\0' ? url : DEFAULT_API_URL;
}

static int
check (const App *app, const char *state_dir, const char *health_addr)
{
  g_autoptr (GError) error = NULL;
  FzGatewayCheck c = {
    .api_url = api_url (),
    .state_dir = state_dir,
    .health_addr = health_addr,
    .masquerade = app->force_masquerade,
  };

  if (!fz_gateway_check (&c, &error))
    {
      g_printerr ("fz-gateway: %s\n", error->message);
      return 1;
    }
  g_print ("token:          present, well-formed\n");
  g_print ("fz-gateway: the configuration is valid and the gateway can start here\n");
  return 0;
}

static int
run (App *app, char *token, const char *state_dir, const char *health_addr,
     GError **error)
{
  g_autofree char *id = NULL;
  FzTunnelConfig config = { .role = FZ_TUNNEL_ROLE_GATEWAY, .component = "gateway" };

  if (!fz_state_dir_ensure (state_dir, error))
    return 1;
  id = fz_device_id_get (TRUE, state_dir, error);
  if (id == NULL || !fz_gateway_forwarding_ensure (error))
    return 1;
  if (health_addr != NULL)
    {
      app->health = fz_health_new (health_addr, error);
      if (app->health == NULL)
        return 1;
    }
  config.api_url = api_url ();
  config.token = token;
  config.device_id = id;
  config.name = g_getenv ("FIREZONE_NAME");
  app->tunnel = fz_tunnel_new (&config, error);
  if (app->tunnel == NULL)
    return 1;
  g_signal_connect (app->tunnel, "ready", G_CALLBACK (on_ready), app);
  g_signal_connect (app->tunnel, "fatal", G_CALLBACK (on_fatal), app);
  g_signal_connect (app->tunnel, "stopped", G_CALLBACK (on_stopped), app);
  g_signal_connect (app->tunnel, "masquerade", G_CALLBACK (on_masquerade), app);
  if (app->force_masquerade)
    apply_masquerade (app, TRUE, TRUE);
  g_message ("fz-gateway %s: %s on UDP port %u, portal %s", fz_version (),
             fz_tunnel_get_interface_name (app->tunnel), fz_tunnel_get_port (app->tunnel),
             config.api_url);
  fz_tunnel_start (app->tunnel);
  g_main_loop_run (app->loop);
  return app->status;
}

int
main (int argc, char **argv)
{
  g_autofree char *state_dir = NULL;
  g_autofree char *health_addr = NULL;
  g_autofree char *token = NULL;
  gboolean version = FALSE;
  gboolean check_only = FALSE;
  App app = { 0 };
  GOptionEntry entries[] = {
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir,
      "Where the device id is kept (default $STATE_DIRECTORY, else " DEFAULT_STATE_DIR
      ")",
      "DIR" },
    { "health-check-addr", 0, 0, G_OPTION_ARG_STRING, &health_addr,
      "Serve /healthz and /readyz on HOST:PORT (FIREZONE_HEALTH_CHECK_ADDR)",
      "HOST:PORT" },
    { "masquerade", 0, 0, G_OPTION_ARG_NONE, &app.force_masquerade,
      "Masquerade client traffic to resources, whatever the portal says", NULL },
    { "check", 0, 0, G_OPTION_ARG_NONE, &check_only,
      "Check the configuration, the token and the host, then exit (0: it can start)",
      NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) opts = g_option_context_new ("- the libfz gateway");
  g_autoptr (GError) error = NULL;
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  GSource *sig[2];
  int status;

  setlocale (LC_ALL, "");
  signal (SIGPIPE, SIG_IGN);
  g_option_context_add_main_entries (opts, entries, NULL);
  if (!g_option_context_parse (opts, &argc, &argv, &error))
    {
      g_printerr ("fz-gateway: %s\n", error->message);
      return 2;
    }
  if (version)
    {
      g_print ("fz-gateway %s\n", fz_version ());
      return 0;
    }
  if (!fz_log_setup ("fz-gateway", &error))
    {
      g_printerr ("fz-gateway: %s\n", error->message);
      return 2;
    }
  if (health_addr == NULL && g_getenv ("FIREZONE_HEALTH_CHECK_ADDR") != NULL)
    health_addr = g_strdup (g_getenv ("FIREZONE_HEALTH_CHECK_ADDR"));
  if (state_dir == NULL)
    state_dir = state_dir_default ();
  /* Before any thread exists: the token leaves the environment. */
  token = fz_token_load (NULL, &error);
  if (token == NULL)
    {
      g_printerr ("fz-gateway: %s\n", error->message);
      return 1;
    }
  if (check_only)
    {
      status = check (&app, state_dir, health_addr);
      explicit_bzero (token, strlen (token));
      return status;
    }

  g_main_context_push_thread_default (ctx);
  app.loop = g_main_loop_new (ctx, FALSE);
  for (guint i = 0; i < 2; i++)
    {
      sig[i] = g_unix_signal_source_new (i == 0 ? SIGTERM : SIGINT);
      g_source_set_callback (sig[i], on_signal, &app, NULL);
      g_source_attach (sig[i], ctx);
    }
  status = run (&app, token, state_dir, health_addr, &error);
  explicit_bzero (token, strlen (token));
  if (error != NULL)
    g_printerr ("fz-gateway: %s\n", error->message);
  if (app.nat_applied)
    {
      g_autoptr (GError) nat = NULL;
      if (!fz_gateway_nat_remove (&nat))
        g_printerr ("fz-gateway: %s\n", nat->message);
    }
  g_clear_object (&app.tunnel);
  g_clear_pointer (&app.health, fz_health_free);
  for (guint i = 0; i < 2; i++)
    {
      g_source_destroy (sig[i]);
      g_source_unref (sig[i]);
    }
  g_main_loop_unref (app.loop);
  g_main_context_pop_thread_default (ctx);
  if (status == 0)
    g_message ("stopped");
  return status;
}
