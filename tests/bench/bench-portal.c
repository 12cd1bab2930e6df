/* fz-portal under N clients and one gateway on loopback: time for all to
 * join, the portal's memory per connected client, and the latency of
 * request_authorization -> create_authorization -> authorization_created.
 * Prints figures; fails only if the flow itself breaks.
 *
 *   bench-portal FZ_PORTAL [CLIENTS] */
#include "child-setup.h"
#include "fz-private.h"

#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#define GATEWAY_TOKEN "fzt_bench-gateway-token-0123456789abcdefghijklm"
#define CLIENT_TOKEN  "fzt_bench-client-token-0123456789abcdefghijklmn"

typedef struct
{
  FzPortalChannel *ch;
  gboolean joined;
  gint64 asked, answered;
} Client;

static guint joined_count, answered_count;
static char *lab_id;

static void
client_message_cb (FzPortalChannel *ch, FzPortalMessage *m, Client *c)
{
  if (m->event == FZ_PORTAL_INIT && !c->joined)
    {
      c->joined = TRUE;
      joined_count++;
      if (lab_id == NULL && m->resources->len > 0)
        lab_id = g_strdup (((FzResource *) m->resources->pdata[0])->id);
    }
  else if (m->event == FZ_PORTAL_AUTHORIZATION_CREATED && c->answered == 0)
    {
      c->answered = g_get_monotonic_time ();
      answered_count++;
    }
  else if (m->event == FZ_PORTAL_AUTHORIZATION_CREATION_FAILED)
    g_error ("authorization failed: %s", m->reason);
}

static void
gateway_message_cb (FzPortalChannel *ch, FzPortalMessage *m, gpointer data)
{
  if (m->event != FZ_PORTAL_CREATE_AUTHORIZATION)
    return;
  g_autoptr (FzPortalMessage) ok
    = fz_portal_message_new (FZ_PORTAL_AUTHORIZATION_CREATED_REF);
  ok->ref = g_strdup (m->ref);
  fz_portal_channel_send (ch, ok);
}

static FzPortalChannel *
channel (const char *url, gboolean gateway, const char *id)
{
  guint8 key[32];
  randombytes_buf (key, sizeof key);
  FzPortalUrlParams p = { .external_id = id, .name = id, .public_key = key };
  g_autofree char *ws = fz_portal_url (url, gateway, &p, NULL);
  g_autofree char *ua = fz_portal_user_agent (
    "Linux", "12", gateway ? "gateway" : "headless-client", "1.4.0", "x86_64", "6.1.0");
  FzPortalChannelConfig cfg
    = { .url = ws,
        .token = gateway ? GATEWAY_TOKEN : CLIENT_TOKEN,
        .user_agent = ua,
        .role = gateway ? FZ_PORTAL_ROLE_GATEWAY : FZ_PORTAL_ROLE_CLIENT,
        .budget = FZ_RECONNECT_UNLIMITED };
  g_autoptr (GError) error = NULL;
  FzPortalChannel *ch = fz_portal_channel_new (&cfg, &error);
  g_assert_no_error (error);
  return ch;
}

static long
rss_kib (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  const char *line = strstr (text, "VmRSS:");
  return line != NULL ? strtol (line + 6, NULL, 10) : -1;
}

static gboolean
expired_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
wait_until (guint *counter, guint target, double seconds)
{
  gboolean expired = FALSE;
  guint t = g_timeout_add ((guint) (seconds * 1000), expired_cb, &expired);
  while (*counter < target && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (t);
  return *counter >= target;
}

static void
ask (Client *c)
{
  g_autoptr (FzPortalMessage) m = fz_portal_message_new (FZ_PORTAL_REQUEST_AUTHORIZATION);
  m->resource_id = g_strdup (lab_id);
  c->asked = g_get_monotonic_time ();
  fz_portal_channel_send (c->ch, m);
}

static int cmp_gint64 (const void *a, const void *b);

/* Latency request -> authorization_created over clients [from, to). */
static void
report (const char *what, const Client *clients, guint from, guint to)
{
  guint k = to - from;
  g_autofree gint64 *lat = g_new (gint64, k);
  for (guint i = 0; i < k; i++)
    lat[i] = clients[from + i].answered - clients[from + i].asked;
  qsort (lat, k, sizeof *lat, cmp_gint64);
  printf ("  request -> authorization_created, %s (%u): p50 %.2f ms, p99 %.2f ms, max "
          "%.2f ms\n",
          what, k, lat[k / 2] / 1000.0, lat[(k * 99) / 100] / 1000.0,
          lat[k - 1] / 1000.0);
}

static int
cmp_gint64 (const void *a, const void *b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return (x > y) - (x < y);
}

static void
quiet (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
}

int
main (int argc, char **argv)
{
  /* A line per join from a thousand channels says nothing. */
  g_log_set_handler ("fz", G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO, quiet, NULL);
  if (argc < 2 || sodium_init () < 0)
    {
      fprintf (stderr, "usage: bench-portal FZ_PORTAL [CLIENTS]\n");
      return 2;
    }
  guint n = argc > 2 ? (guint) atoi (argv[2]) : 200;
  if (n == 0 || n > 20000)
    n = 200;
  /* Two sockets per client in this one process and the portal. */
  struct rlimit rl;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }

  g_autofree char *dir = g_dir_make_tmp ("fz-bench-portal-XXXXXX", NULL);
  g_autofree char *conf = g_build_filename (dir, "fz-portal.conf", NULL);
  g_autofree char *gh
    = g_compute_checksum_for_string (G_CHECKSUM_SHA256, GATEWAY_TOKEN, -1);
  g_autofree char *ch
    = g_compute_checksum_for_string (G_CHECKSUM_SHA256, CLIENT_TOKEN, -1);
  g_autofree char *text = g_strdup_printf (
    "[portal]\naccount_slug = bench\nlisten = 127.0.0.1:0\nconnect_limit = 100000\n"
    "idle_timeout = 600\n[relay r]\naddresses = 127.0.0.1:3478\nsecret = s\n[site HQ]\n"
    "[gateway-token g]\nsite = HQ\ntoken_hash = %s\n[user u]\ntoken_hashes = %s\n"
    "[resource Lab]\ntype = cidr\naddress = 10.0.0.0/8\nsites = HQ\n"
    "[policy p]\nusers = *\nresources = Lab\n",
    gh, ch);
  g_assert_true (g_file_set_contents_full (conf, text, -1, G_FILE_SET_CONTENTS_CONSISTENT,
                                           0600, NULL));

  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (
    G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_setenv (l, "G_DEBUG", "fatal-criticals", TRUE);
  g_subprocess_launcher_set_child_setup (l, fz_test_die_with_parent, NULL, NULL);
  g_autoptr (GSubprocess) portal
    = g_subprocess_launcher_spawn (l, &error, argv[1], "--config", conf, NULL);
  g_assert_no_error (error);
  g_autoptr (GDataInputStream) in
    = g_data_input_stream_new (g_subprocess_get_stdout_pipe (portal));
  g_autofree char *line = g_data_input_stream_read_line (in, NULL, NULL, &error);
  g_assert_nonnull (line);
  const char *url = strstr (line, "http://");
  g_assert_nonnull (url);
  GPid pid = (GPid) atoi (g_subprocess_get_identifier (portal));
  long rss_idle = rss_kib (pid);

  FzPortalChannel *gw = channel (url, TRUE, "gw");
  g_signal_connect (gw, "message", G_CALLBACK (gateway_message_cb), NULL);
  fz_portal_channel_start (gw);

  Client *clients = g_new0 (Client, n);
  gint64 t0 = g_get_monotonic_time ();
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *id = g_strdup_printf ("device-%u", i);
      clients[i].ch = channel (url, FALSE, id);
      g_signal_connect (clients[i].ch, "message", G_CALLBACK (client_message_cb),
                        &clients[i]);
      fz_portal_channel_start (clients[i].ch);
    }
  if (!wait_until (&joined_count, n, 120))
    g_error ("only %u of %u clients joined", joined_count, n);
  double join_s = (double) (g_get_monotonic_time () - t0) / G_USEC_PER_SEC;
  /* Let the portal settle before reading its memory. */
  guint dummy = 0;
  wait_until (&dummy, 1, 0.5);
  long rss_joined = rss_kib (pid);

  /* One at a time: the latency of the flow itself. */
  guint seq = MIN (100, n / 2);
  for (guint i = 0; i < seq; i++)
    {
      ask (&clients[i]);
      if (!wait_until (&answered_count, i + 1, 10))
        g_error ("authorization %u did not come back", i);
    }
  /* The rest at once: throughput, and latency under a queue. */
  gint64 t1 = g_get_monotonic_time ();
  for (guint i = seq; i < n; i++)
    ask (&clients[i]);
  if (!wait_until (&answered_count, n, 120))
    g_error ("only %u of %u authorizations came back", answered_count, n);
  double burst_s = (double) (g_get_monotonic_time () - t1) / G_USEC_PER_SEC;

  printf ("fz-portal, %u clients and 1 gateway on loopback\n", n);
  printf ("  all joined (connect, join, init) in %.2f s: %.0f joins/s\n", join_s,
          n / join_s);
  printf ("  portal RSS: %ld KiB idle, %ld KiB with %u clients: %.1f KiB per client\n",
          rss_idle, rss_joined, n, (double) (rss_joined - rss_idle) / n);
  report ("one at a time", clients, 0, seq);
  printf ("  %u at once took %.2f s: %.0f authorizations/s\n", n - seq, burst_s,
          (n - seq) / burst_s);
  report ("at once", clients, seq, n);

  for (guint i = 0; i < n; i++)
    {
      fz_portal_channel_stop (clients[i].ch);
      g_object_unref (clients[i].ch);
    }
  fz_portal_channel_stop (gw);
  g_object_unref (gw);
  g_free (clients);
  g_free (lab_id);
  g_subprocess_send_signal (portal, SIGTERM);
  g_subprocess_wait (portal, NULL, NULL);
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", dir);
  return system (cmd) == 0 ? 0 : 1;
}
