/* fz-turn-client: FzAllocation on real sockets, for the coturn interop
 * test. It allocates on the relay, then every 200 ms sends a numbered
 * ping through a TURN channel to an echo peer it runs itself (one UDP
 * socket per family on loopback) and reads the echo back through the
 * relay. It prints one line per thing that happened, for the script:
 *
 *   candidate <sdp> | invalidated <sdp> | rtt <us> | echo <4|6> <n> [indication]
 *   expires-in <s>     (after each ALLOCATE or REFRESH)
 *   failed <message>   (credentials or a final error: then exits 2;
 *                       a timeout is printed and the client carries on)
 *
 * Usage: fz-turn-client [--server4 IP:PORT] [--server6 [IP]:PORT]
 *          (--user U --password P | --secret S) [--realm R] [--seconds N]
 *          [--refresh-after S] [--indications]
 *
 * --indications: no channels; a permission for the echo peer
 * (CREATE-PERMISSION) and pings as Send indications, so the relay
 * returns the echoes as Data indications ("echo ... indication"); with
 * one server only. */
#include "fz-private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct
{
  int fd;
  FzSockAddr local;
} Sock;

static Sock
open_sock (const char *ip)
{
  Sock s = { -1, { { 0 }, 0 } };
  FzSockAddr a = { .port = 0 };
  if (!fz_ip_addr_parse (&a.ip, ip))
    g_error ("bad address %s", ip);
  struct sockaddr_storage ss;
  socklen_t len = fz_sock_addr_to_native (&a, &ss);
  s.fd = socket (ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.fd < 0 || bind (s.fd, (struct sockaddr *) &ss, len) < 0)
    {
      fprintf (stderr, "fz-turn-client: cannot bind %s: %s\n", ip, g_strerror (errno));
      exit (1);
    }
  len = sizeof ss;
  getsockname (s.fd, (struct sockaddr *) &ss, &len);
  fz_sock_addr_from_native (&ss, &s.local);
  return s;
}

/* A Send indication (RFC 8656 11.1): no credentials needed. */
static gsize
send_indication (guint8 *buf, gsize cap, const FzSockAddr *peer, const char *text)
{
  guint8 tid[FZ_STUN_TID_LEN];
  fz_rng_fill (fz_rng_system (), tid, sizeof tid);
  FzStunWriter w;
  fz_stun_writer_init (&w, buf, cap, FZ_STUN_SEND, FZ_STUN_INDICATION, tid);
  fz_stun_writer_add_xor_address (&w, FZ_STUN_ATTR_XOR_PEER_ADDRESS, peer);
  fz_stun_writer_add (&w, FZ_STUN_ATTR_DATA, text, strlen (text));
  fz_stun_writer_add_fingerprint (&w);
  return fz_stun_writer_finish (&w);
}

static void
send_to (int fd, const FzSockAddr *dst, const void *data, gsize len)
{
  struct sockaddr_storage ss;
  socklen_t sl = fz_sock_addr_to_native (dst, &ss);
  if (sendto (fd, data, len, 0, (struct sockaddr *) &ss, sl) < 0 && errno != EAGAIN)
    fprintf (stderr, "fz-turn-client: sendto: %s\n", g_strerror (errno));
}

int
main (int argc, char **argv)
{
  g_autofree char *server4 = NULL, *server6 = NULL, *user = NULL, *password = NULL;
  g_autofree char *secret = NULL, *realm = NULL;
  gint seconds = 30, refresh_after = -1;
  gboolean indications = FALSE;
  GOptionEntry entries[] = {
    { "server4", 0, 0, G_OPTION_ARG_STRING, &server4, "relay IPv4 address", "IP:PORT" },
    { "server6", 0, 0, G_OPTION_ARG_STRING, &server6, "relay IPv6 address", "[IP]:PORT" },
    { "user", 0, 0, G_OPTION_ARG_STRING, &user, "username", "U" },
    { "password", 0, 0, G_OPTION_ARG_STRING, &password, "password", "P" },
    { "secret", 0, 0, G_OPTION_ARG_STRING, &secret, "coturn static-auth-secret", "S" },
    { "realm", 0, 0, G_OPTION_ARG_STRING, &realm, "realm", "R" },
    { "seconds", 0, 0, G_OPTION_ARG_INT, &seconds, "run time", "N" },
    { "refresh-after", 0, 0, G_OPTION_ARG_INT, &refresh_after, "refresh once after",
      "S" },
    { "indications", 0, 0, G_OPTION_ARG_NONE, &indications,
      "a permission and Send/Data indications, no channel", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "fz-turn-client: %s\n", error->message);
      return 1;
    }
  FzSockAddr s4, s6;
  if ((server4 == NULL && server6 == NULL)
      || (server4 && !fz_sock_addr_parse (&s4, server4))
      || (server6 && !fz_sock_addr_parse (&s6, server6)))
    {
      fprintf (stderr,
               "fz-turn-client: give --server4 IP:PORT and/or --server6 [IP]:PORT\n");
      return 1;
    }
  if (secret != NULL)
    {
      /* coturn's use-auth-secret (TURN REST) credentials. */
      user = g_strdup_printf ("%" G_GINT64_FORMAT ":fz",
                              g_get_real_time () / G_USEC_PER_SEC + 3600);
      guint8 mac[20];
      gsize n = sizeof mac;
      g_autoptr (GHmac) h
        = g_hmac_new (G_CHECKSUM_SHA1, (const guchar *) secret, strlen (secret));
      g_hmac_update (h, (const guchar *) user, -1);
      g_hmac_get_digest (h, mac, &n);
      password = g_base64_encode (mac, n);
    }
  if (user == NULL || password == NULL)
    {
      fprintf (stderr, "fz-turn-client: give --user and --password, or --secret\n");
      return 1;
    }

  setvbuf (stdout, NULL, _IOLBF, 0);
  Sock client[2] = { { -1, { { 0 }, 0 } }, { -1, { { 0 }, 0 } } };
  Sock echo[2];
  if (server4)
    client[0] = open_sock ("127.0.0.1");
  if (server6)
    client[1] = open_sock ("::1");
  echo[0] = open_sock ("127.0.0.1");
  echo[1] = open_sock ("::1");

  gint64 now = g_get_monotonic_time ();
  gint64 end = now + (gint64) seconds * G_USEC_PER_SEC;
  gint64 next_ping = now;
  gint64 refresh_at
    = refresh_after >= 0 ? now + (gint64) refresh_after * G_USEC_PER_SEC : G_MAXINT64;
  gint64 expires = 0;
  guint32 seq = 0;
  g_autoptr (FzAllocation) a
    = fz_allocation_new (server4 ? &s4 : NULL, server6 ? &s6 : NULL, user, password,
                         realm, fz_rng_system (), now);
  gboolean had_rtt = FALSE;
  gboolean permitted[2] = { FALSE, FALSE };

  while (now < end)
    {
      FzAllocationTransmit t;
      while (fz_allocation_poll_transmit (a, &t))
        {
          send_to (client[t.dst.ip.family == 4 ? 0 : 1].fd, &t.dst, t.buf->data,
                   t.buf->len);
          fz_packet_buf_free (t.buf);
        }
      FzAllocationEvent e;
      while (fz_allocation_poll_event (a, &e))
        {
          if (e.type == FZ_ALLOCATION_EVENT_FAILED)
            {
              printf ("failed %s\n", e.error->message);
              if (g_error_matches (e.error, FZ_ALLOCATION_ERROR,
                                   FZ_ALLOCATION_ERROR_TIMEOUT))
                {
                  g_clear_error (&e.error);
                  continue;
                }
              fprintf (stderr, "fz-turn-client: %s\n", e.error->message);
              g_clear_error (&e.error);
              return 2;
            }
          g_autofree char *sdp = fz_ice_candidate_to_string (&e.candidate);
          printf ("%s %s\n",
                  e.type == FZ_ALLOCATION_EVENT_NEW_CANDIDATE ? "candidate"
                                                              : "invalidated",
                  sdp);
        }
      if (!had_rtt && fz_allocation_is_allocated (a))
        {
          printf ("rtt %" G_GINT64_FORMAT "\n", fz_allocation_rtt (a));
          had_rtt = TRUE;
        }

      if (fz_allocation_expires_at (a) != expires)
        {
          expires = fz_allocation_expires_at (a);
          if (expires != 0)
            printf ("expires-in %" G_GINT64_FORMAT "\n",
                    (expires - now + G_USEC_PER_SEC / 2) / G_USEC_PER_SEC);
        }
      if (now >= refresh_at)
        {
          refresh_at = G_MAXINT64;
          fz_allocation_refresh (a, now);
          continue;
        }

      if (now >= next_ping)
        {
          next_ping = now + 200 * 1000;
          seq++;
          for (guint f = 0; f < 2; f++)
            {
              FzSockAddr relayed;
              if (!fz_allocation_get_relayed (a, f == 0 ? 4 : 6, &relayed))
                continue;
              g_autoptr (FzPacketBuf) buf
                = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 64);
              char text[32];
              g_snprintf (text, sizeof text, "ping %u %u", f == 0 ? 4 : 6, seq);
              fz_packet_buf_set (buf, text, strlen (text));
              FzSockAddr srv;
              if (indications)
                {
                  /* The permission's answer may still be on its way: the
                   * first pings may be lost. */
                  if (!permitted[f])
                    permitted[f]
                      = fz_allocation_create_permission (a, &echo[f].local, now);
                  guint8 ind[128];
                  gsize n = send_indication (ind, sizeof ind, &echo[f].local, text);
                  srv = server4 ? s4 : s6; /* one server with --indications */
                  send_to (client[srv.ip.family == 4 ? 0 : 1].fd, &srv, ind, n);
                }
              else if (fz_allocation_encapsulate (a, &echo[f].local, buf, now, &srv))
                send_to (client[srv.ip.family == 4 ? 0 : 1].fd, &srv, buf->data,
                         buf->len);
            }
        }

      gint64 wake
        = MIN (MIN (fz_allocation_poll_timeout (a), next_ping), MIN (end, refresh_at));
      struct pollfd pfd[4];
      for (guint i = 0; i < 2; i++)
        {
          pfd[i] = (struct pollfd){ .fd = client[i].fd, .events = POLLIN };
          pfd[2 + i] = (struct pollfd){ .fd = echo[i].fd, .events = POLLIN };
        }
      int ms = (int) CLAMP ((wake - now + 999) / 1000, 0, 1000);
      poll (pfd, 4, ms);
      now = g_get_monotonic_time ();

      for (guint i = 0; i < 4; i++)
        {
          if (!(pfd[i].revents & POLLIN))
            continue;
          guint8 buf[2048];
          struct sockaddr_storage ss;
          socklen_t sl = sizeof ss;
          ssize_t n
            = recvfrom (pfd[i].fd, buf, sizeof buf, 0, (struct sockaddr *) &ss, &sl);
          if (n < 0)
            continue;
          FzSockAddr from;
          fz_sock_addr_from_native (&ss, &from);
          if (i >= 2)
            {
              /* The echo peer: send it back to whoever relayed it. */
              send_to (pfd[i].fd, &from, buf, n);
              continue;
            }
          FzRelayedData d;
          if (fz_allocation_handle_input (a, &client[i].local, &from, buf, n, now, &d)
              == FZ_ALLOCATION_INPUT_DATA)
            {
              g_autofree char *text = g_strndup ((const char *) buf + d.offset, d.len);
              guint fam, got;
              if (sscanf (text, "ping %u %u", &fam, &got) == 2
                  && fz_sock_addr_equal (&d.peer, &echo[fam == 4 ? 0 : 1].local))
                printf ("echo %u %u%s\n", fam, got,
                        fz_stun_is_stun (buf, n) ? " indication" : "");
            }
        }
      fz_allocation_handle_timeout (a, now);
    }
  return 0;
}
