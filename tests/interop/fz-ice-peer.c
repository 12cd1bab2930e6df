/* fz-ice-peer: FzIceAgent (and FzAllocation for relay candidates) on a
 * real UDP socket, the counterpart of nice-peer in the interop test.
 * Same line protocol on stdin/stdout (creds, cand) and result file
 * (selected, received, failed); it sends "fz <n>" on the selected pair.
 * Its "selected" lines end with the milliseconds since it started.
 *
 * Usage: fz-ice-peer --bind IP [--controlling] [--relay IP:PORT --user U
 *          --password P [--relay-only]] --result FILE [--seconds N] */
#include "fz-private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static FzIceAgent *agent;
static FzAllocation *alloc;
static int fd = -1;
static FzSockAddr host;
static gboolean relay_only;
static FILE *result;
static guint sent;
static gint64 started;

static void
send_to (const FzSockAddr *dst, const void *data, gsize len)
{
  struct sockaddr_storage ss;
  socklen_t sl = fz_sock_addr_to_native (dst, &ss);
  if (sendto (fd, data, len, 0, (struct sockaddr *) &ss, sl) < 0)
    fprintf (stderr, "fz-ice-peer: sendto: %s\n", g_strerror (errno));
}

/* Sends @data from @src (our host address or our relayed address). */
static void
send_from (const FzSockAddr *src, const FzSockAddr *dst, const void *data, gsize len)
{
  FzSockAddr relayed;
  if (alloc != NULL && fz_allocation_get_relayed (alloc, 4, &relayed)
      && fz_sock_addr_equal (src, &relayed))
    {
      g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, len);
      fz_packet_buf_set (buf, data, len);
      FzSockAddr server;
      if (fz_allocation_encapsulate (alloc, dst, buf, g_get_monotonic_time (), &server))
        send_to (&server, buf->data, buf->len);
      return;
    }
  send_to (dst, data, len);
}

static void
signal_candidate (const FzIceCandidate *c)
{
  g_autofree char *sdp = fz_ice_candidate_to_string (c);
  printf ("cand %s\n", sdp);
  fflush (stdout);
}

static void
flush (void)
{
  gint64 now = g_get_monotonic_time ();
  if (alloc != NULL)
    {
      FzAllocationEvent e;
      while (fz_allocation_poll_event (alloc, &e))
        {
          if (e.type == FZ_ALLOCATION_EVENT_FAILED)
            {
              fprintf (stderr, "fz-ice-peer: %s\n", e.error->message);
              g_clear_error (&e.error);
            }
          else if (e.type == FZ_ALLOCATION_EVENT_INVALIDATED_CANDIDATE)
            fz_ice_agent_remove_local_candidate (agent, &e.candidate, now);
          else if (e.candidate.type == FZ_ICE_RELAY || !relay_only)
            {
              if (e.candidate.type == FZ_ICE_HOST)
                continue; /* ours is already there */
              if (fz_ice_agent_add_local_candidate (agent, &e.candidate, now))
                signal_candidate (&e.candidate);
            }
        }
    }

  FzIceTransmit t;
  while (fz_ice_agent_poll_transmit (agent, &t))
    {
      send_from (&t.src, &t.dst, t.buf->data, t.buf->len);
      fz_packet_buf_free (t.buf);
    }
  if (alloc != NULL)
    {
      FzAllocationTransmit at;
      while (fz_allocation_poll_transmit (alloc, &at))
        {
          send_to (&at.dst, at.buf->data, at.buf->len);
          fz_packet_buf_free (at.buf);
        }
    }

  FzIceEvent e;
  while (fz_ice_agent_poll_event (agent, &e))
    {
      if (e.type == FZ_ICE_EVENT_SELECTED_PAIR)
        {
          char l[FZ_SOCK_ADDR_STRLEN], r[FZ_SOCK_ADDR_STRLEN];
          fprintf (result, "selected %s %s %" G_GINT64_FORMAT "\n",
                   fz_sock_addr_to_string (&e.local.base, l),
                   fz_sock_addr_to_string (&e.remote.addr, r), (now - started) / 1000);
        }
      else
        {
          fprintf (stderr, "fz-ice-peer: %s\n", fz_ice_state_to_string (e.state));
          if (e.state == FZ_ICE_FAILED)
            fprintf (result, "failed\n");
        }
      fflush (result);
    }
}

static void
on_data (const guint8 *data, gsize len)
{
  g_autofree char *text = g_strndup ((const char *) data, MIN (len, 64));
  fprintf (result, "received %s\n", text);
  fflush (result);
}

static gboolean
on_udp (gint unused_fd, GIOCondition cond, gpointer data)
{
  for (;;)
    {
      guint8 buf[2048];
      struct sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      ssize_t n
        = recvfrom (fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *) &ss, &sl);
      if (n < 0)
        break;
      gint64 now = g_get_monotonic_time ();
      FzSockAddr from;
      fz_sock_addr_from_native (&ss, &from);
      FzSockAddr local = host;
      const guint8 *p = buf;
      gsize plen = n;

      if (alloc != NULL && fz_allocation_is_server (alloc, &from))
        {
          FzRelayedData d;
          if (fz_allocation_handle_input (alloc, &host, &from, buf, n, now, &d)
              != FZ_ALLOCATION_INPUT_DATA)
            continue;
          local = d.relayed;
          from = d.peer;
          p = buf + d.offset;
          plen = d.len;
        }
      FzStunMessage m;
      if (fz_stun_is_stun (p, plen) && fz_stun_message_parse (&m, p, plen, NULL))
        fz_ice_agent_handle_stun (agent, &local, &from, &m, now);
      else
        on_data (p, plen);
    }
  flush ();
  return G_SOURCE_CONTINUE;
}

static gboolean
tick (gpointer data)
{
  static gint64 next_send;
  gint64 now = g_get_monotonic_time ();
  if (alloc != NULL && fz_allocation_poll_timeout (alloc) <= now)
    fz_allocation_handle_timeout (alloc, now);
  if (fz_ice_agent_poll_timeout (agent) <= now)
    fz_ice_agent_handle_timeout (agent, now);
  FzIceCandidate l, r;
  if (now >= next_send && fz_ice_agent_selected_pair (agent, &l, &r))
    {
      next_send = now + 100 * 1000;
      char msg[32];
      g_snprintf (msg, sizeof msg, "fz %u", ++sent);
      send_from (&l.base, &r.addr, msg, strlen (msg));
    }
  flush ();
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
  gint64 now = g_get_monotonic_time ();
  if (g_str_has_prefix (line, "creds "))
    {
      g_auto (GStrv) f = g_strsplit (line, " ", 3);
      if (g_strv_length (f) == 3)
        fz_ice_agent_set_remote_credentials (agent, f[1], f[2]);
    }
  else if (g_str_has_prefix (line, "cand "))
    {
      FzIceCandidate c;
      g_autoptr (GError) error = NULL;
      if (!fz_ice_candidate_parse (&c, line + 5, &error))
        {
          fprintf (stderr, "fz-ice-peer: %s\n", error->message);
          fprintf (result, "unparsed %s\n", line + 5);
        }
      else
        fz_ice_agent_add_remote_candidate (agent, &c, now);
    }
  flush ();
  return G_SOURCE_CONTINUE;
}

static gboolean
quit (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  g_autofree char *bind_ip = NULL, *relay = NULL, *user = NULL, *password = NULL,
                  *out = NULL;
  gboolean controlling = FALSE;
  gint seconds = 15;
  GOptionEntry entries[] = {
    { "bind", 0, 0, G_OPTION_ARG_STRING, &bind_ip, "host IPv4 address", "IP" },
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
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || bind_ip == NULL
      || out == NULL || !fz_ip_addr_parse (&host.ip, bind_ip) || host.ip.family != 4)
    {
      fprintf (stderr, "fz-ice-peer: %s\n",
               error ? error->message : "give --bind IPv4 and --result FILE");
      return 1;
    }
  FzSockAddr server;
  if (relay != NULL
      && (!fz_sock_addr_parse (&server, relay) || server.ip.family != 4 || user == NULL
          || password == NULL))
    {
      fprintf (stderr, "fz-ice-peer: give --relay IP:PORT with --user and --password\n");
      return 1;
    }
  result = fopen (out, "w");
  if (result == NULL)
    return 1;

  fd = socket (AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_storage ss;
  socklen_t sl = fz_sock_addr_to_native (&host, &ss);
  if (fd < 0 || bind (fd, (struct sockaddr *) &ss, sl) < 0)
    {
      fprintf (stderr, "fz-ice-peer: cannot bind %s: %s\n", bind_ip, g_strerror (errno));
      return 1;
    }
  getsockname (fd, (struct sockaddr *) &ss, &sl);
  host.port = ntohs (((struct sockaddr_in *) &ss)->sin_port);

  gint64 now = g_get_monotonic_time ();
  started = now;
  agent = fz_ice_agent_new (
    controlling, controlling ? &fz_ice_client_default : &fz_ice_gateway_default,
    fz_rng_system (), now);
  printf ("creds %s %s\n", fz_ice_agent_local_ufrag (agent),
          fz_ice_agent_local_pwd (agent));
  fflush (stdout);
  if (!relay_only)
    {
      FzIceCandidate c;
      fz_ice_candidate_init_local (&c, FZ_ICE_HOST, &host, &host, NULL);
      fz_ice_agent_add_local_candidate (agent, &c, now);
      signal_candidate (&c);
    }
  if (relay != NULL)
    alloc
      = fz_allocation_new (&server, NULL, user, password, NULL, fz_rng_system (), now);

  GMainLoop *loop = g_main_loop_new (NULL, FALSE);
  GIOChannel *in = g_io_channel_unix_new (0);
  g_io_add_watch (in, G_IO_IN | G_IO_HUP, on_stdin, NULL);
  g_unix_fd_add (fd, G_IO_IN, on_udp, NULL);
  g_timeout_add (5, tick, NULL);
  g_timeout_add_seconds (seconds, quit, loop);
  flush ();
  g_main_loop_run (loop);

  g_io_channel_unref (in);
  fz_ice_agent_free (agent);
  fz_allocation_free (alloc);
  g_main_loop_unref (loop);
  fclose (result);
  return 0;
}
