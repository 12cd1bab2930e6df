/* UDP sockets on loopback: receive with the local address (IP_PKTINFO),
 * GSO batches arriving as separate datagrams, GRO handing them back
 * coalesced or not, over IPv4 and IPv6. Loopback only, no root needed. */
#include "fz-private.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

static gssize
recv_wait (FzUdpSocket *s, guint8 *buf, gsize cap, FzSockAddr *from, FzSockAddr *local,
           guint16 *seg)
{
  struct pollfd p = { .fd = s->fd, .events = POLLIN };

  if (poll (&p, 1, 2000) != 1)
    return -1;
  return fz_udp_socket_recv_gro (s, buf, cap, from, local, seg);
}

/* A missing prerequisite skips on a developer's machine but fails under
 * FZ_REQUIRE_ALL=1 (CI), as tests/lib.sh does for scripts. */
static void
skip_or_fail (const char *why)
{
  if (g_strcmp0 (g_getenv ("FZ_REQUIRE_ALL"), "1") == 0)
    g_test_fail_printf ("FZ_REQUIRE_ALL=1: %s", why);
  else
    g_test_skip (why);
}

/* NULL if a UDP socket can bind to ::1, else why not. */
static char *
ipv6_loopback_missing (void)
{
  struct sockaddr_in6 sa
    = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
  int fd = socket (AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int err = 0;

  if (fd < 0 || bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    err = errno;
  if (fd >= 0)
    close (fd);
  return err != 0 ? g_strdup_printf ("no IPv6 loopback here: %s", g_strerror (err))
                  : NULL;
}

static void
test_pktinfo_and_batches (gconstpointer data)
{
  const int family = GPOINTER_TO_INT (data);

  if (family == 6)
    {
      g_autofree char *why = ipv6_loopback_missing ();
      if (why != NULL)
        {
          skip_or_fail (why);
          return;
        }
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (FzUdpSocket) rx = fz_udp_socket_open (family, 0, &error);
  g_autoptr (FzUdpSocket) tx = NULL;
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (2048, 16);
  FzPacketBuf *bufs[5];
  FzSockAddr to = { .port = 0 }, from, local;
  char want[FZ_IP_ADDR_STRLEN], got[FZ_IP_ADDR_STRLEN];
  guint8 in[65536];
  gsize received = 0;
  guint datagrams = 0;

  g_assert_no_error (error);
  tx = fz_udp_socket_open (family, 0, &error);
  g_assert_no_error (error);
  fz_ip_addr_parse (&to.ip, family == 4 ? "127.0.0.1" : "::1");
  to.port = rx->port;

  /* five datagrams, four of 1000 bytes and a short last: one batch */
  for (guint i = 0; i < 5; i++)
    {
      bufs[i] = fz_buf_pool_alloc (pool);
      memset (fz_packet_buf_put (bufs[i], i < 4 ? 1000 : 300), 'a' + i,
              i < 4 ? 1000 : 300);
    }
  g_assert_true (fz_udp_socket_send_batch (tx, bufs, 5, &to));

  while (received < 4300)
    {
      guint16 seg;
      gssize n = recv_wait (rx, in, sizeof in, &from, &local, &seg);
      g_assert_cmpint (n, >, 0);
      g_assert_cmpuint (from.port, ==, tx->port);
      g_assert_cmpuint (local.ip.family, ==, family);
      g_assert_cmpuint (local.port, ==, rx->port);
      g_assert_cmpstr (fz_ip_addr_to_string (&local.ip, got), ==,
                       fz_ip_addr_to_string (&to.ip, want));
      /* the bytes of each datagram arrive whole and in order */
      for (gsize off = 0; off < (gsize) n;)
        {
          gsize len = seg > 0 ? MIN ((gsize) seg, (gsize) n - off) : (gsize) n;
          g_assert_cmpuint (in[off], ==, 'a' + datagrams);
          g_assert_cmpuint (in[off + len - 1], ==, 'a' + datagrams);
          g_assert_cmpuint (len, ==, datagrams < 4 ? 1000 : 300);
          off += len;
          datagrams++;
        }
      received += (gsize) n;
    }
  g_assert_cmpuint (datagrams, ==, 5);
  for (guint i = 0; i < 5; i++)
    fz_packet_buf_free (bufs[i]);
}

/* When the kernel refuses GSO (here EINVAL: it never segments a socket
 * with SO_NO_CHECK), GSO goes off for the socket and the same batch goes
 * out one by one: every datagram still arrives. */
static void
test_gso_refused (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FzUdpSocket) rx = fz_udp_socket_open (4, 0, &error);
  g_autoptr (FzUdpSocket) tx = fz_udp_socket_open (4, 0, &error);
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (2048, 16);
  FzSockAddr to = { .port = rx->port }, from;
  FzPacketBuf *bufs[3];
  guint8 in[65536];
  int one = 1;
  gsize got = 0;

  g_assert_no_error (error);
  fz_ip_addr_parse (&to.ip, "127.0.0.1");
  g_assert_cmpint (setsockopt (tx->fd, SOL_SOCKET, SO_NO_CHECK, &one, sizeof one), ==, 0);
  for (guint i = 0; i < 3; i++)
    {
      bufs[i] = fz_buf_pool_alloc (pool);
      memset (fz_packet_buf_put (bufs[i], 500), 'x', 500);
    }
  g_assert_true (tx->gso);
  g_assert_true (fz_udp_socket_send_batch (tx, bufs, 3, &to));
  g_assert_false (tx->gso); /* refused once, off for good */
  while (got < 1500)
    {
      guint16 seg;
      gssize n = recv_wait (rx, in, sizeof in, &from, NULL, &seg);
      g_assert_cmpint (n, >, 0);
      got += (gsize) n;
    }
  g_assert_cmpuint (got, ==, 1500);
  for (guint i = 0; i < 3; i++)
    fz_packet_buf_free (bufs[i]);
}

/* Without GRO, recvmmsg brings several datagrams in one call, each whole
 * in its own buffer with its source. */
static void
test_recv_many (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FzUdpSocket) rx = fz_udp_socket_open (4, 0, &error);
  g_autoptr (FzUdpSocket) tx = fz_udp_socket_open (4, 0, &error);
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (2048, 16);
  FzSockAddr to = { .port = rx->port }, from[8];
  FzPacketBuf *bufs[8];
  int zero = 0;
  guint got = 0;

  g_assert_no_error (error);
  fz_ip_addr_parse (&to.ip, "127.0.0.1");
  g_assert_cmpint (setsockopt (rx->fd, SOL_UDP, UDP_GRO, &zero, sizeof zero), ==, 0);
  for (guint i = 0; i < 5; i++)
    {
      char msg[16];
      g_snprintf (msg, sizeof msg, "datagram %u", i);
      g_assert_cmpint (fz_udp_socket_send (tx, (const guint8 *) msg, strlen (msg), &to),
                       ==, strlen (msg));
    }
  fz_buf_pool_alloc_batch (pool, bufs, 8);
  for (guint tries = 0; got < 5 && tries < 200; tries++)
    {
      guint n = fz_udp_socket_recv_many (rx, bufs + got, from + got, 8 - got);
      for (guint i = got; i < got + n; i++)
        {
          char want[16];
          g_snprintf (want, sizeof want, "datagram %u", i);
          g_assert_cmpmem (bufs[i]->data, bufs[i]->len, want, strlen (want));
          g_assert_cmpuint (from[i].port, ==, tx->port);
        }
      got += n;
      if (n == 0)
        g_usleep (10 * 1000);
    }
  g_assert_cmpuint (got, ==, 5);
  fz_buf_pool_release_batch (pool, bufs, 8);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/udp-socket/pktinfo-and-batches/ipv4", GINT_TO_POINTER (4),
                        test_pktinfo_and_batches);
  g_test_add_data_func ("/udp-socket/pktinfo-and-batches/ipv6", GINT_TO_POINTER (6),
                        test_pktinfo_and_batches);
  g_test_add_func ("/udp-socket/gso-refused", test_gso_refused);
  g_test_add_func ("/udp-socket/recv-many", test_recv_many);
  return g_test_run ();
}
