/* nice-peer: an ICE peer built on libnice (RFC 5245 mode, regular
 * nomination), for the interop test against our agent.
 *
 * Signalling is line-based on stdin/stdout:
 *   creds <ufrag> <pwd>
 *   cand <sdp candidate>
 * Once a pair is selected it sends "nice <n>" on it every 100 ms. The
 * result file gets "selected <local> <remote>" and "received <text>".
 *
 * Usage: nice-peer --bind IP [--controlling] [--relay IP:PORT --user U
 *          --password P [--relay-only]] --result FILE [--seconds N] */
#include <nice/agent.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static NiceAgent *agent;
static guint stream_id;
static FILE *result;
static gboolean ready;
static guint sent;

static void say (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static void
say (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  fflush (stdout);
}

static void
on_candidate (NiceAgent *a, NiceCandidate *c, gpointer data)
{
  gchar *sdp = nice_agent_generate_local_candidate_sdp (a, c);
  /* "a=candidate:..." */
  say ("cand %s\n", g_str_has_prefix (sdp, "a=") ? sdp + 2 : sdp);
  g_free (sdp);
}

static char *
addr_str (const NiceAddress *addr)
{
  char ip[NICE_ADDRESS_STRING_LEN];
  nice_address_to_string (addr, ip);
  if (nice_address_ip_version (addr) == 6)
    return g_strdup_printf ("[%s]:%u", ip, nice_address_get_port (addr));
  return g_strdup_printf ("%s:%u", ip, nice_address_get_port (addr));
}

static void
on_selected (NiceAgent *a, guint stream, guint component, NiceCandidate *local,
             NiceCandidate *remote, gpointer data)
{
  /* The local end as the peer sees it: a relay candidate's relayed
   * address, or the host address. */
  g_autofree char *l = addr_str (&local->addr);
  g_autofree char *r = addr_str (&remote->addr);
  fprintf (result, "selected %s %s\n", l, r);
  fflush (result);
}

static void
on_state (NiceAgent *a, guint stream, guint component, guint state, gpointer data)
{
  fprintf (stderr, "nice-peer: %s\n", nice_component_state_to_string (state));
  if (state == NICE_COMPONENT_STATE_READY)
    ready = TRUE;
  if (state == NICE_COMPONENT_STATE_FAILED)
    {
      fprintf (result, "failed\n");
      fflush (result);
    }
}

static void
on_recv (NiceAgent *a, guint stream, guint component, guint len, gchar *buf,
         gpointer data)
{
  g_autofree char *text = g_strndup (buf, MIN (len, 64));
  fprintf (result, "received %s\n", text);
  fflush (result);
}

static gboolean
tick (gpointer data)
{
  if (!ready)
    return G_SOURCE_CONTINUE;
  char msg[32];
  g_snprintf (msg, sizeof msg, "nice %u", ++sent);
  nice_agent_send (agent, stream_id, 1, strlen (msg), msg);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_stdin (GIOChannel *ch, GIOCondition cond, gpointer data)
{
  g_autofree char *line = NULL;
  gsize len;
  GIOStatus st = g_io_channel_read_line (ch, &line, &len, NULL, NULL);
  if (st == G_IO_STATUS_EOF || st == G_IO_STATUS_ERROR)
    return G_SOURCE_REMOVE;
  if (line == NULL)
    return G_SOURCE_CONTINUE;
  g_strchomp (line);
  if (g_str_has_prefix (line, "creds "))
    {
      g_auto (GStrv) f = g_strsplit (line, " ", 3);
      if (g_strv_length (f) == 3)
        nice_agent_set_remote_credentials (agent, stream_id, f[1], f[2]);
    }
  else if (g_str_has_prefix (line, "cand "))
    {
      g_autofree char *sdp = g_strconcat ("a=", line + 5, NULL);
      NiceCandidate *c = nice_agent_parse_remote_candidate_sdp (agent, stream_id, sdp);
      if (c == NULL)
        {
          fprintf (stderr, "nice-peer: libnice cannot parse %s\n", sdp);
          fprintf (result, "unparsed %s\n", line + 5);
          fflush (result);
          return G_SOURCE_CONTINUE;
        }
      GSList *list = g_slist_append (NULL, c);
      nice_agent_set_remote_candidates (agent, stream_id, 1, list);
      g_slist_free_full (list, (GDestroyNotify) nice_candidate_free);
    }
  return G_SOURCE_CONTINUE;
}

static void
closed (GObject *source, GAsyncResult *res, gpointer loop)
{
  g_main_loop_quit (loop);
}

/* Closing first releases the TURN allocation (libnice warns otherwise). */
static gboolean
quit (gpointer loop)
{
  nice_agent_close_async (agent, closed, loop);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  g_autofree char *bind = NULL, *relay = NULL, *user = NULL, *password = NULL,
                  *out = NULL;
  gboolean controlling = FALSE, relay_only = FALSE;
  gint seconds = 15;
  GOptionEntry entries[] = {
    { "bind", 0, 0, G_OPTION_ARG_STRING, &bind, "host address", "IP" },
    { "controlling", 0, 0, G_OPTION_ARG_NONE, &controlling, "controlling role", NULL },
    { "relay", 0, 0, G_OPTION_ARG_STRING, &relay, "TURN server", "IP:PORT" },
    { "user", 0, 0, G_OPTION_ARG_STRING, &user, "TURN username", "U" },
    { "password", 0, 0, G_OPTION_ARG_STRING, &password, "TURN password", "P" },
    { "relay-only", 0, 0, G_OPTION_ARG_NONE, &relay_only, "only relay candidates", NULL },
    { "result", 0, 0, G_OPTION_ARG_STRING, &out, "result file", "FILE" },
    { "seconds", 0, 0, G_OPTION_ARG_INT, &seconds, "run time", "N" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || bind == NULL || out == NULL)
    {
      fprintf (stderr, "nice-peer: %s\n",
               error ? error->message : "give --bind and --result");
      return 1;
    }
  result = fopen (out, "w");
  if (result == NULL)
    return 1;

  GMainLoop *loop = g_main_loop_new (NULL, FALSE);
  agent = nice_agent_new_full (NULL, NICE_COMPATIBILITY_RFC5245,
                               NICE_AGENT_OPTION_REGULAR_NOMINATION);
  g_object_set (agent, "controlling-mode", controlling, "ice-tcp", FALSE, "upnp", FALSE,
                "force-relay", relay_only, NULL);
  NiceAddress a;
  nice_address_init (&a);
  if (!nice_address_set_from_string (&a, bind))
    return 1;
  nice_agent_add_local_address (agent, &a);
  stream_id = nice_agent_add_stream (agent, 1);
  if (relay != NULL)
    {
      char *colon = strrchr (relay, ':');
      *colon = '\0';
      nice_agent_set_relay_info (agent, stream_id, 1, relay, atoi (colon + 1), user,
                                 password, NICE_RELAY_TYPE_TURN_UDP);
    }
  g_signal_connect (agent, "new-candidate-full", G_CALLBACK (on_candidate), NULL);
  g_signal_connect (agent, "new-selected-pair-full", G_CALLBACK (on_selected), NULL);
  g_signal_connect (agent, "component-state-changed", G_CALLBACK (on_state), NULL);
  nice_agent_attach_recv (agent, stream_id, 1, g_main_context_default (), on_recv, NULL);

  gchar *ufrag, *pwd;
  nice_agent_get_local_credentials (agent, stream_id, &ufrag, &pwd);
  say ("creds %s %s\n", ufrag, pwd);
  g_free (ufrag);
  g_free (pwd);
  if (!nice_agent_gather_candidates (agent, stream_id))
    {
      fprintf (stderr, "nice-peer: gathering failed\n");
      return 1;
    }

  GIOChannel *in = g_io_channel_unix_new (0);
  g_io_add_watch (in, G_IO_IN | G_IO_HUP, on_stdin, NULL);
  g_timeout_add (100, tick, NULL);
  g_timeout_add_seconds (seconds, quit, loop);
  g_main_loop_run (loop);

  g_io_channel_unref (in);
  g_object_unref (agent);
  g_main_loop_unref (loop);
  fclose (result);
  return 0;
}
