/* UDP sockets on loopback: receive with the local address (IP_PKTINFO)
 * and ECN bits, sends from a chosen source address with chosen ECN bits,
 * GSO batches arriving as separate datagrams, GRO handing them back
 * coalesced or not, over IPv4 and IPv6. Loopback only; no root needed but
 * for a second IPv6 address (a network namespace of the test's own). */
#define _GNU_SOURCE /* unshare */
#include "fz-private.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

static gssize
recv_wait (FzUdpSocket *s, guint8 *buf, gsize cap, FzSockAddr *local, FzSockAddr *from,
           guint8 *ecn, guint16 *seg)
{
  struct pollfd p = { .fd = s->fd, .events = POLLIN };

  if (poll (&p, 1, 2000) != 1)
    return -1;
  return fz_udp_socket_recv_gro (s, buf, cap, local, from, ecn, seg);
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

/* TRUE (the case skipped, or failed under FZ_REQUIRE_ALL) when an IPv6
 * case finds no IPv6 loopback. */
static gboolean
ipv6_missing_for (int family)
{
  if (family != 6)
    return FALSE;
  g_autofree char *why = ipv6_loopback_missing ();
  if (why != NULL)
    skip_or_fail (why);
  return why != NULL;
}

static void
test_pktinfo_and_batches (gconstpointer data)
{
  const int family = GPOINTER_TO_INT (data);

  if (ipv6_missing_for (family))
    return;
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
  g_assert_true (fz_udp_socket_send_batch (tx, bufs, 5, NULL, &to, 0));

  while (received < 4300)
    {
      guint16 seg;
      gssize n = recv_wait (rx, in, sizeof in, &local, &from, NULL, &seg);
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
  g_assert_true (fz_udp_socket_send_batch (tx, bufs, 3, NULL, &to, 0));
  g_assert_false (tx->gso); /* refused once, off for good */
  while (got < 1500)
    {
      guint16 seg;
      gssize n = recv_wait (rx, in, sizeof in, NULL, &from, NULL, &seg);
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
      g_assert_cmpint (
        fz_udp_socket_send (tx, (const guint8 *) msg, strlen (msg), NULL, &to, 0), ==,
        strlen (msg));
    }
  fz_buf_pool_alloc_batch (pool, bufs, 8);
  for (guint tries = 0; got < 5 && tries < 200; tries++)
    {
      guint n = fz_udp_socket_recv_many (rx, bufs + got, NULL, from + got, NULL, 8 - got);
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

/* Two local addresses per family. IPv6 loopback has only ::1: the second
 * one is added in a network namespace of the test's own. */
#define SECOND_IPV6 "fd00:f2::2"

static const char *
loopback (int family, guint i)
{
  static const char *const v4[] = { "127.0.0.1", "127.0.0.2" };
  static const char *const v6[] = { "::1", SECOND_IPV6 };

  return family == 4 ? v4[i] : v6[i];
}

static FzSockAddr
sock_addr (const char *ip, guint16 port)
{
  FzSockAddr a = { .port = port };

  g_assert_true (fz_ip_addr_parse (&a.ip, ip));
  return a;
}

static void
assert_ip (const FzIpAddr *ip, const char *want)
{
  char text[FZ_IP_ADDR_STRLEN];

  g_assert_cmpstr (fz_ip_addr_to_string (ip, text), ==, want);
}

static void
run_ip (const char *const *argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
                               NULL, NULL, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, &error));
  g_assert_no_error (error);
}

/* TRUE when the test body is to run here, with both addresses of the
 * family local. For IPv6 that is a child in its own network namespace
 * (root only); the parent only checks that the child passed. */
static gboolean
have_two_addresses (int family)
{
  static const char *const lo_up[] = { "ip", "link", "set", "lo", "up", NULL };
  static const char *const add[]
    = { "ip", "-6", "addr", "add", SECOND_IPV6 "/128", "dev", "lo", "nodad", NULL };

  if (family == 4)
    return TRUE;
  if (!g_test_subprocess ())
    {
      if (geteuid () != 0)
        {
          skip_or_fail ("a second IPv6 address needs a network namespace: root");
          return FALSE;
        }
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return FALSE;
    }
  g_assert_cmpint (unshare (CLONE_NEWNET), ==, 0);
  run_ip (lo_up);
  run_ip (add);
  return TRUE;
}

static void
fill (FzBufPool *pool, FzPacketBuf **bufs, guint n, gsize size, guint8 byte)
{
  for (guint i = 0; i < n; i++)
    {
      bufs[i] = fz_buf_pool_alloc (pool);
      memset (fz_packet_buf_put (bufs[i], size), byte, size);
    }
}

static void
release (FzPacketBuf **bufs, guint n)
{
  for (guint i = 0; i < n; i++)
    fz_packet_buf_free (bufs[i]);
}

/* Receives @bytes with GRO (coalesced or not), each receive from @ip and
 * @port with @ecn. */
static void
expect_gro (FzUdpSocket *rx, gsize bytes, const char *ip, guint16 port, guint8 ecn)
{
  guint8 in[65536];
  gsize got = 0;

  while (got < bytes)
    {
      FzSockAddr from, local;
      guint8 e = 0xff;
      guint16 seg;
      gssize n = recv_wait (rx, in, sizeof in, &local, &from, &e, &seg);

      g_assert_cmpint (n, >, 0);
      assert_ip (&from.ip, ip);
      g_assert_cmpuint (from.port, ==, port);
      g_assert_cmpuint (e, ==, ecn);
      got += (gsize) n;
    }
  g_assert_cmpuint (got, ==, bytes);
}

/* Receives exactly @n datagrams with recvmmsg. */
static void
recv_many_wait (FzUdpSocket *rx, FzPacketBuf **bufs, FzSockAddr *from, FzSockAddr *local,
                guint8 *ecn, guint n)
{
  guint got = 0;

  for (guint tries = 0; got < n && tries < 200; tries++)
    {
      guint k = fz_udp_socket_recv_many (rx, bufs + got, local + got, from + got,
                                         ecn + got, n - got);
      got += k;
      if (k == 0)
        g_usleep (10 * 1000);
    }
  g_assert_cmpuint (got, ==, n);
}

static void
gro_off (FzUdpSocket *s)
{
  int zero = 0;

  g_assert_cmpint (setsockopt (s->fd, SOL_UDP, UDP_GRO, &zero, sizeof zero), ==, 0);
  s->gro = FALSE;
}

/* A socket bound to the wildcard address reports for each datagram the
 * local address it was sent to: with GRO (every receive, coalesced or
 * not) and with recvmmsg (every datagram of the batch). */
static void
test_local_address (gconstpointer data)
{
  const int family = GPOINTER_TO_INT (data);

  if (!have_two_addresses (family))
    return;
  g_autoptr (GError) error = NULL;
  g_autoptr (FzUdpSocket) rx = fz_udp_socket_open (family, 0, &error);
  g_autoptr (FzUdpSocket) tx = NULL;
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (2048, 16);
  FzPacketBuf *bufs[6];
  FzSockAddr from[6], local[6];
  guint8 ecn[6], in[65536];

  g_assert_no_error (error);
  tx = fz_udp_socket_open (family, 0, &error);
  g_assert_no_error (error);

  for (guint a = 0; a < 2; a++)
    {
      FzSockAddr to = sock_addr (loopback (family, a), rx->port);
      gsize got = 0;

      fill (pool, bufs, 3, 1000, 'a' + a);
      g_assert_true (fz_udp_socket_send_batch (tx, bufs, 3, NULL, &to, 0));
      release (bufs, 3);
      while (got < 3000)
        {
          FzSockAddr src, dst;
          guint16 seg;
          gssize n = recv_wait (rx, in, sizeof in, &dst, &src, NULL, &seg);

          /* loopback hands a GSO batch to a GRO socket whole: one receive
           * for the three */
          g_assert_cmpint (n, ==, 3000);
          g_assert_cmpuint (seg, ==, 1000);
          g_assert_cmpuint (in[0], ==, 'a' + a);
          assert_ip (&dst.ip, loopback (family, a));
          g_assert_cmpuint (dst.port, ==, rx->port);
          got += (gsize) n;
        }
      g_assert_cmpuint (got, ==, 3000);
    }

  gro_off (rx);
  for (guint i = 0; i < 6; i++)
    {
      FzSockAddr to = sock_addr (loopback (family, i % 2), rx->port);
      guint8 byte = (guint8) i;

      g_assert_cmpint (fz_udp_socket_send (tx, &byte, 1, NULL, &to, 0), ==, 1);
    }
  fz_buf_pool_alloc_batch (pool, bufs, 6);
  recv_many_wait (rx, bufs, from, local, ecn, 6);
  for (guint i = 0; i < 6; i++)
    {
      g_assert_cmpmem (bufs[i]->data, bufs[i]->len, &(guint8){ i }, 1);
      assert_ip (&local[i].ip, loopback (family, i % 2));
      g_assert_cmpuint (local[i].port, ==, rx->port);
      g_assert_cmpuint (from[i].port, ==, tx->port);
    }
  fz_buf_pool_release_batch (pool, bufs, 6);
}

static gboolean
nonlocal_bind_allowed (int family)
{
  g_autofree char *text = NULL;

  return g_file_get_contents (family == 4 ? "/proc/sys/net/ipv4/ip_nonlocal_bind"
                                          : "/proc/sys/net/ipv6/ip_nonlocal_bind",
                              &text, NULL, NULL)
         && g_ascii_strtoull (text, NULL, 10) != 0;
}

/* A send from a chosen source address arrives from it: one datagram, a
 * GSO batch and a batch sent one by one (sendmmsg). Without a source the
 * kernel picks the address sent to. A source that is not ours is refused
 * and does not turn GSO off; one of the other family is refused too. */
static void
test_source_address (gconstpointer data)
{
  const int family = GPOINTER_TO_INT (data);

  if (!have_two_addresses (family))
    return;
  g_autoptr (GError) error = NULL;
  g_autoptr (FzUdpSocket) rx = fz_udp_socket_open (family, 0, &error);
  g_autoptr (FzUdpSocket) tx = NULL;
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (2048, 16);
  FzSockAddr to = sock_addr (loopback (family, 0), rx->port);
  FzSockAddr src = sock_addr (loopback (family, 1), 0);
  FzSockAddr foreign = sock_addr (family == 4 ? "192.0.2.1" : "2001:db8::1", 0);
  FzSockAddr other = sock_addr (family == 4 ? "::1" : "127.0.0.1", 0);
  FzPacketBuf *bufs[3];
  struct pollfd p = { .fd = -1, .events = POLLIN };

  g_assert_no_error (error);
  tx = fz_udp_socket_open (family, 0, &error);
  g_assert_no_error (error);

  g_assert_cmpint (fz_udp_socket_send (tx, (const guint8 *) "x", 1, NULL, &to, 0), ==, 1);
  expect_gro (rx, 1, loopback (family, 0), tx->port, 0);
  g_assert_cmpint (fz_udp_socket_send (tx, (const guint8 *) "x", 1, &src, &to, 0), ==, 1);
  expect_gro (rx, 1, loopback (family, 1), tx->port, 0);

  fill (pool, bufs, 3, 800, 'g');
  g_assert_true (fz_udp_socket_send_batch (tx, bufs, 3, &src, &to, 0));
  g_assert_true (tx->gso);
  expect_gro (rx, 2400, loopback (family, 1), tx->port, 0);
  tx->gso = FALSE; /* the same batch one by one */
  g_assert_true (fz_udp_socket_send_batch (tx, bufs, 3, &src, &to, 0));
  expect_gro (rx, 2400, loopback (family, 1), tx->port, 0);
  tx->gso = TRUE;

  if (!nonlocal_bind_allowed (family))
    {
      /* EINVAL for IPv6, ENETUNREACH for IPv4 (no route from there) */
      g_assert_cmpint (fz_udp_socket_send (tx, (const guint8 *) "x", 1, &foreign, &to, 0),
                       ==, -1);
      g_assert_false (fz_udp_socket_send_batch (tx, bufs, 3, &foreign, &to, 0));
      g_assert_true (tx->gso); /* the address was refused, not GSO */
    }
  errno = 0;
  g_assert_cmpint (fz_udp_socket_send (tx, (const guint8 *) "x", 1, &other, &to, 0), ==,
                   -1);
  g_assert_cmpint (errno, ==, EAFNOSUPPORT);
  g_assert_false (fz_udp_socket_send_batch (tx, bufs, 3, &other, &to, 0));
  p.fd = rx->fd;
  g_assert_cmpint (poll (&p, 1, 100), ==, 0); /* none of those went out */
  release (bufs, 3);
}

/* ECN bits chosen on send arrive and are reported: for one datagram, for
 * every segment of a GSO batch (one receive with GRO), and for datagrams
 * sent one by one (sendmmsg) and received with recvmmsg. */
static void
test_ecn (gconstpointer data)
{
  static const guint8 codepoints[] = { 2 /* ECT(0) */, 1 /* ECT(1) */, 3 /* CE */, 0 };
  const int family = GPOINTER_TO_INT (data);

  if (ipv6_missing_for (family))
    return;
  g_autoptr (GError) error = NULL;
  g_autoptr (FzUdpSocket) rx = fz_udp_socket_open (family, 0, &error);
  g_autoptr (FzUdpSocket) tx = NULL;
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (2048, 16);
  FzSockAddr to = sock_addr (loopback (family, 0), rx->port);
  FzPacketBuf *bufs[8];
  FzSockAddr from[8], local[8];
  guint8 ecn[8];

  g_assert_no_error (error);
  tx = fz_udp_socket_open (family, 0, &error);
  g_assert_no_error (error);

  for (guint i = 0; i < G_N_ELEMENTS (codepoints); i++)
    {
      guint8 cp = codepoints[i];

      g_assert_cmpint (fz_udp_socket_send (tx, (const guint8 *) "x", 1, NULL, &to, cp),
                       ==, 1);
      expect_gro (rx, 1, loopback (family, 0), tx->port, cp);
      fill (pool, bufs, 3, 500, 'e');
      g_assert_true (fz_udp_socket_send_batch (tx, bufs, 3, NULL, &to, cp));
      release (bufs, 3);
      expect_gro (rx, 1500, loopback (family, 0), tx->port, cp);
    }

  gro_off (rx);
  tx->gso = FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (codepoints); i++)
    {
      fill (pool, bufs, 2, 100, (guint8) i);
      g_assert_true (fz_udp_socket_send_batch (tx, bufs, 2, NULL, &to, codepoints[i]));
      release (bufs, 2);
    }
  fz_buf_pool_alloc_batch (pool, bufs, 8);
  recv_many_wait (rx, bufs, from, local, ecn, 8);
  for (guint i = 0; i < 8; i++)
    {
      g_assert_cmpuint (bufs[i]->data[0], ==, i / 2);
      g_assert_cmpuint (ecn[i], ==, codepoints[i / 2]);
    }
  fz_buf_pool_release_batch (pool, bufs, 8);
}

/* The reader's batches carry each datagram's local address and ECN bits:
 * with GRO (every segment of a coalesced receive) and without. */
static void
test_reader (gconstpointer data)
{
  const gboolean gro = GPOINTER_TO_INT (data);
  g_autoptr (GError) error = NULL;
  g_autoptr (FzUdpSocket) rx = fz_udp_socket_open (4, 0, &error);
  g_autoptr (FzUdpSocket) tx = fz_udp_socket_open (4, 0, &error);
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (2048, 16);
  FzSockAddr second = sock_addr ("127.0.0.2", rx->port);
  FzSockAddr first = sock_addr ("127.0.0.1", rx->port);
  FzPacketBuf *bufs[3];
  FzIoReader *reader;
  guint got = 0;

  g_assert_no_error (error);
  if (gro)
    g_assert_true (rx->gro);
  else
    gro_off (rx);
  reader = fz_io_reader_new_udp (rx, 4);

  fill (pool, bufs, 3, 700, 'r');
  g_assert_true (fz_udp_socket_send_batch (tx, bufs, 3, NULL, &second, 3 /* CE */));
  release (bufs, 3);
  g_assert_cmpint (fz_udp_socket_send (tx, (const guint8 *) "x", 1, NULL, &first, 2), ==,
                   1);

  while (got < 4)
    {
      struct pollfd p
        = { .fd = fz_batch_queue_fd (fz_io_reader_queue (reader)), .events = POLLIN };
      FzBatch *b;

      g_assert_cmpint (poll (&p, 1, 2000), ==, 1);
      fz_batch_queue_ack (fz_io_reader_queue (reader));
      while ((b = fz_batch_queue_pop (fz_io_reader_queue (reader))) != NULL)
        {
          for (guint i = 0; i < b->n; i++, got++)
            {
              gboolean big = got < 3;

              g_assert_cmpuint (b->bufs[i]->len, ==, big ? 700 : 1);
              assert_ip (&b->local[i].ip, big ? "127.0.0.2" : "127.0.0.1");
              g_assert_cmpuint (b->local[i].port, ==, rx->port);
              g_assert_cmpuint (b->from[i].port, ==, tx->port);
              g_assert_cmpuint (b->ecn[i], ==, big ? 3 : 2);
            }
          fz_batch_free (b);
        }
    }
  g_assert_cmpuint (got, ==, 4);
  fz_io_reader_free (reader);
}

/* Transmits with their own source, destination and ECN go out in GSO
 * batches of one (source, destination, ECN) each, in order: with GRO each
 * batch arrives as one receive, from its source, to its destination, with
 * its ECN. */
static void
test_send_many (void)
{
  static const struct
  {
    const char *src, *dst;
    guint8 ecn;
    gsize received; /* 0: in the receive before */
  } plan[] = {
    { "127.0.0.2", "127.0.0.1", 3, 1800 }, { "127.0.0.2", "127.0.0.1", 3, 0 },
    { "127.0.0.2", "127.0.0.1", 3, 0 },    { "127.0.0.2", "127.0.0.1", 2, 1200 },
    { "127.0.0.2", "127.0.0.1", 2, 0 },    { "127.0.0.1", "127.0.0.1", 2, 1200 },
    { "127.0.0.1", "127.0.0.1", 2, 0 },    { "127.0.0.2", "127.0.0.2", 3, 600 },
    { NULL, "127.0.0.1", 0, 600 },
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (FzUdpSocket) rx = fz_udp_socket_open (4, 0, &error);
  g_autoptr (FzUdpSocket) tx = fz_udp_socket_open (4, 0, &error);
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (2048, 16);
  FzUdpTransmit out[G_N_ELEMENTS (plan)];
  guint8 in[65536];

  g_assert_no_error (error);
  g_assert_true (rx->gro);
  for (guint i = 0; i < G_N_ELEMENTS (plan); i++)
    {
      out[i]
        = (FzUdpTransmit){ .dst = sock_addr (plan[i].dst, rx->port), .ecn = plan[i].ecn };
      if (plan[i].src != NULL)
        out[i].src = sock_addr (plan[i].src, 0);
      fill (pool, &out[i].buf, 1, 600, (guint8) i);
    }
  g_assert_true (fz_udp_socket_send_many (tx, out, G_N_ELEMENTS (out)));
  for (guint i = 0; i < G_N_ELEMENTS (plan); i++)
    {
      FzSockAddr from, local;
      guint8 ecn;
      guint16 seg;
      gssize n;

      fz_packet_buf_free (out[i].buf);
      if (plan[i].received == 0)
        continue;
      n = recv_wait (rx, in, sizeof in, &local, &from, &ecn, &seg);
      g_assert_cmpint (n, ==, plan[i].received);
      g_assert_cmpuint (in[0], ==, i);
      assert_ip (&from.ip, plan[i].src != NULL ? plan[i].src : plan[i].dst);
      assert_ip (&local.ip, plan[i].dst);
      g_assert_cmpuint (ecn, ==, plan[i].ecn);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/udp-socket/pktinfo-and-batches/ipv4", GINT_TO_POINTER (4),
                        test_pktinfo_and_batches);
  g_test_add_data_func ("/udp-socket/pktinfo-and-batches/ipv6", GINT_TO_POINTER (6),
                        test_pktinfo_and_batches);
  for (int family = 4; family <= 6; family += 2)
    {
      g_autofree char *local
        = g_strdup_printf ("/udp-socket/local-address/ipv%d", family);
      g_autofree char *source
        = g_strdup_printf ("/udp-socket/source-address/ipv%d", family);
      g_autofree char *ecn = g_strdup_printf ("/udp-socket/ecn/ipv%d", family);

      g_test_add_data_func (local, GINT_TO_POINTER (family), test_local_address);
      g_test_add_data_func (source, GINT_TO_POINTER (family), test_source_address);
      g_test_add_data_func (ecn, GINT_TO_POINTER (family), test_ecn);
    }
  g_test_add_data_func ("/udp-socket/reader/gro", GINT_TO_POINTER (TRUE), test_reader);
  g_test_add_data_func ("/udp-socket/reader/recvmmsg", GINT_TO_POINTER (FALSE),
                        test_reader);
  g_test_add_func ("/udp-socket/gso-refused", test_gso_refused);
  g_test_add_func ("/udp-socket/send-many", test_send_many);
  g_test_add_func ("/udp-socket/recv-many", test_recv_many);
  return g_test_run ();
}
