/* fz-dns-tcp-peer: serves DNS over TCP on a TUN device with FzDnsTcp, so
 * that the kernel's TCP (dig +tcp in the test's namespace) talks to it.
 *
 *   fz-dns-tcp-peer IFNAME READY_FILE [LOSS_PERCENT]
 *
 * Every A query is answered from the query itself: a name whose first
 * label is "nN" gets N records (10.0.x.y), any other name one. With
 * LOSS_PERCENT, that share of the packets in each direction is dropped
 * (seeded), so both TCPs must retransmit. Touches READY_FILE once the
 * device exists; exits on SIGTERM or after 60 s, printing its counts. */
#include "fz-private.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop;

static void
on_signal (int sig)
{
  (void) sig;
  stop = 1;
}

/* How many records the query's name asks for: "n300.test" → 300. */
static guint
records_wanted (const guint8 *q, gsize len)
{
  if (len < 13 || q[12] < 2 || q[13] != 'n' || 12u + 1 + q[12] > len)
    return 1;
  char digits[16] = { 0 };
  memcpy (digits, q + 14, MIN ((gsize) q[12] - 1, sizeof digits - 1));
  guint64 n = g_ascii_strtoull (digits, NULL, 10);
  return n >= 1 && n <= 2000 ? (guint) n : 1;
}

/* The answer, built by hand: the test checks what dig makes of it. */
static GByteArray *
answer (const guint8 *q, gsize len)
{
  GByteArray *a = g_byte_array_new ();
  gsize qend = 12;

  if (len < 12)
    return a;
  while (qend < len && q[qend] != 0)
    qend += q[qend] + 1;
  qend += 5; /* root label, type, class */
  if (qend > len)
    return a;
  guint n = records_wanted (q, len);
  g_byte_array_append (a, q, (guint) qend);
  a->data[2] = 0x84 | (q[2] & 0x01); /* QR, AA, RD copied */
  a->data[3] = 0x00;
  a->data[6] = n >> 8, a->data[7] = n & 0xff;
  memset (a->data + 8, 0, 4); /* no authority, no additional (EDNS dropped) */
  for (guint i = 0; i < n; i++)
    {
      guint8 rr[16]
        = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, i >> 8, i & 0xff };
      g_byte_array_append (a, rr, sizeof rr);
    }
  return a;
}

static gboolean
lose (FzRng *rng, guint loss)
{
  return loss > 0 && fz_rng_below (rng, 100) < loss;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  guint loss = argc > 3 ? (guint) atoi (argv[3]) : 0;
  guint64 queries = 0, in = 0, out = 0, dropped = 0;
  FzRng rng;

  if (argc < 3)
    {
      g_printerr ("usage: fz-dns-tcp-peer IFNAME READY_FILE [LOSS_PERCENT]\n");
      return 2;
    }
  fz_rng_init_seeded (&rng, 42);
  g_autoptr (FzTun) tun = fz_tun_open_multi (argv[1], FALSE, 1, &error);
  if (tun == NULL)
    {
      g_printerr ("fz-dns-tcp-peer: %s\n", error->message);
      return 1;
    }
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (2048, 64);
  g_autoptr (FzDnsTcp) tcp = fz_dns_tcp_new (&rng, 1280);
  g_autoptr (FzPacketBuf) obuf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  signal (SIGTERM, on_signal);
  signal (SIGINT, on_signal);
  g_file_set_contents (argv[2], "", 0, NULL);

  gint64 end = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while (!stop && g_get_monotonic_time () < end)
    {
      gint64 now = g_get_monotonic_time ();
      gint64 t = fz_dns_tcp_poll_timeout (tcp);
      int wait = t == G_MAXINT64 ? 100 : (int) CLAMP ((t - now + 999) / 1000, 0, 100);
      struct pollfd pfd = { .fd = tun->fd, .events = POLLIN };
      if (poll (&pfd, 1, wait) < 0)
        continue;
      now = g_get_monotonic_time ();

      FzPacketBuf *bufs[8];
      int n;
      while ((n = fz_tun_read_queue (tun, 0, pool, bufs, G_N_ELEMENTS (bufs))) > 0)
        for (int i = 0; i < n; i++)
          {
            FzIpPacket pkt;
            if (fz_ip_packet_parse (&pkt, bufs[i]->data, bufs[i]->len, 65535) == FZ_IP_OK
                && pkt.proto == FZ_IP_PROTO_TCP && fz_ip_packet_dst_port (&pkt) == 53)
              {
                in++;
                if (lose (&rng, loss))
                  dropped++;
                else
                  fz_dns_tcp_handle_packet (tcp, &pkt, now);
              }
            fz_packet_buf_free (bufs[i]);
          }
      if (fz_dns_tcp_poll_timeout (tcp) <= now)
        fz_dns_tcp_handle_timeout (tcp, now);

      FzDnsTcpQuery q;
      while (fz_dns_tcp_poll_query (tcp, &q))
        {
          gsize len;
          const guint8 *m = g_bytes_get_data (q.message, &len);
          g_autoptr (GByteArray) a = answer (m, len);
          queries++;
          if (a->len > 0)
            fz_dns_tcp_answer (tcp, q.handle, a->data, a->len, now);
          fz_dns_tcp_query_clear (&q);
        }

      FzIpPacket pkt;
      while (fz_dns_tcp_poll_packet (tcp, obuf, &pkt))
        {
          out++;
          if (lose (&rng, loss))
            dropped++;
          else if (!fz_tun_write (tun, obuf))
            g_printerr ("fz-dns-tcp-peer: write to the TUN failed\n");
        }
    }
  g_print ("queries %" G_GUINT64_FORMAT " segments in %" G_GUINT64_FORMAT
           " out %" G_GUINT64_FORMAT " dropped %" G_GUINT64_FORMAT " open %u\n",
           queries, in, out, dropped, fz_dns_tcp_n_connections (tcp));
  return 0;
}
