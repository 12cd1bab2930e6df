/* FzDnsForwarder against a small DNS server of the test's own on
 * 127.0.0.1 (a thread with a UDP socket and a TCP listener): an answer
 * over UDP; a truncated one, then the same query over TCP with its length
 * prefixes; no answer until the timeout; a refused port; a query that
 * fails at once answered from the main loop, not inside the call; and
 * freeing the forwarder with queries in flight (none is answered, the
 * sanitizers check the rest). Loopback only. */
#define _GNU_SOURCE /* accept4 */
#include "fz-private.h"
#include "fz-dns-forwarder-private.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define TCP_ANSWER_PAD 3000 /* more than fits a plain UDP answer */

enum
{
  SERVE_ANSWER,    /* UDP: the query with QR set; TCP: the same, padded */
  SERVE_TRUNCATED, /* UDP: QR and TC set */
  SERVE_SILENT,    /* read, never answer (TCP: the connection stays open) */
};

typedef struct
{
  GThread *thread;
  int udp, tcp, stop;
  guint16 port;
  int mode;            /* atomic */
  int tcp_queries;     /* atomic: well-framed TCP queries read */
  GPtrArray *held_fds; /* silent TCP connections, the thread's own */
} Server;

static int
bind_loopback (int type, guint16 port, guint16 *bound)
{
  struct sockaddr_in sa = { .sin_family = AF_INET,
                            .sin_port = htons (port),
                            .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof sa;
  int one = 1, fd = socket (AF_INET, type | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  g_assert_no_errno (bind (fd, (struct sockaddr *) &sa, sizeof sa));
  g_assert_no_errno (getsockname (fd, (struct sockaddr *) &sa, &len));
  *bound = ntohs (sa.sin_port);
  return fd;
}

static gboolean
read_exact (int fd, guint8 *buf, gsize n)
{
  for (gsize got = 0; got < n;)
    {
      gssize r = read (fd, buf + got, n - got);
      if (r <= 0)
        return FALSE;
      got += (gsize) r;
    }
  return TRUE;
}

static void
serve_udp (Server *s)
{
  guint8 buf[512];
  struct sockaddr_storage from;
  socklen_t len = sizeof from;
  gssize n = recvfrom (s->udp, buf, sizeof buf, 0, (struct sockaddr *) &from, &len);
  int mode = g_atomic_int_get (&s->mode);

  if (n < 12 || mode == SERVE_SILENT)
    return;
  buf[2] |= 0x80;
  if (mode == SERVE_TRUNCATED)
    buf[2] |= 0x02;
  sendto (s->udp, buf, (gsize) n, 0, (struct sockaddr *) &from, len);
}

static void
serve_tcp (Server *s)
{
  int fd = accept4 (s->tcp, NULL, NULL, SOCK_CLOEXEC);
  guint8 prefix[2], q[512], *answer;
  gsize qlen, alen;

  if (fd < 0)
    return;
  if (!read_exact (fd, prefix, 2) || (qlen = (gsize) prefix[0] << 8 | prefix[1]) < 12
      || qlen > sizeof q || !read_exact (fd, q, qlen))
    {
      close (fd);
      return;
    }
  g_atomic_int_inc (&s->tcp_queries);
  if (g_atomic_int_get (&s->mode) == SERVE_SILENT)
    {
      g_ptr_array_add (s->held_fds, GINT_TO_POINTER (fd));
      return;
    }
  alen = qlen + TCP_ANSWER_PAD;
  answer = g_malloc (alen + 2);
  answer[0] = (guint8) (alen >> 8);
  answer[1] = (guint8) alen;
  memcpy (answer + 2, q, qlen);
  answer[4] |= 0x80;
  memset (answer + 2 + qlen, 'x', TCP_ANSWER_PAD);
  g_assert_cmpint (write (fd, answer, alen + 2), ==, (gssize) alen + 2);
  g_free (answer);
  close (fd);
}

static gpointer
serve (gpointer data)
{
  Server *s = data;
  struct pollfd p[3] = { { .fd = s->udp, .events = POLLIN },
                         { .fd = s->tcp, .events = POLLIN },
                         { .fd = s->stop, .events = POLLIN } };

  while (poll (p, 3, -1) >= 0 && !(p[2].revents & POLLIN))
    {
      if (p[0].revents & POLLIN)
        serve_udp (s);
      if (p[1].revents & POLLIN)
        serve_tcp (s);
    }
  return NULL;
}

static Server *
server_start (int mode)
{
  Server *s = g_new0 (Server, 1);
  guint16 tcp_port;

  s->mode = mode;
  s->udp = bind_loopback (SOCK_DGRAM, 0, &s->port);
  s->tcp = bind_loopback (SOCK_STREAM, s->port, &tcp_port);
  g_assert_cmpuint (tcp_port, ==, s->port);
  g_assert_no_errno (listen (s->tcp, 16));
  s->stop = eventfd (0, EFD_CLOEXEC);
  s->held_fds = g_ptr_array_new ();
  s->thread = g_thread_new ("dns-server", serve, s);
  return s;
}

static void
server_stop (Server *s)
{
  guint64 one = 1;

  g_assert_cmpint (write (s->stop, &one, sizeof one), ==, sizeof one);
  g_thread_join (s->thread);
  for (guint i = 0; i < s->held_fds->len; i++)
    close (GPOINTER_TO_INT (s->held_fds->pdata[i]));
  g_ptr_array_unref (s->held_fds);
  close (s->udp);
  close (s->tcp);
  close (s->stop);
  g_free (s);
}

typedef struct
{
  guint answers;
  guint64 request;
  GBytes *msg;       /* NULL: a failure */
  gboolean in_query; /* a call of fz_dns_forwarder_query is under way */
} Result;

static void
on_answer (gpointer data, guint64 request, const guint8 *msg, gsize len)
{
  Result *r = data;

  g_assert_false (r->in_query);
  r->answers++;
  r->request = request;
  g_clear_pointer (&r->msg, g_bytes_unref);
  if (msg != NULL)
    r->msg = g_bytes_new (msg, len);
}

static GBytes *
make_query (guint16 id)
{
  guint8 q[29]
    = { id >> 8, id & 0xff, 0x01, 0x00, 0,   1,   0,   0,   0,   0,   0, 0, 4, 't', 'e',
        's',     't',       7,    'e',  'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0 };
  return g_bytes_new (q, sizeof q);
}

static void
query (FzDnsForwarder *f, Result *r, guint64 request, guint16 port, gboolean tcp)
{
  g_autoptr (GBytes) q = make_query ((guint16) request);
  FzSockAddr server = { .port = port };

  g_assert_true (fz_ip_addr_parse (&server.ip, "127.0.0.1"));
  r->in_query = TRUE;
  fz_dns_forwarder_query (f, request, q, &server, tcp);
  r->in_query = FALSE;
}

/* Iterates the default context until @r has @n answers or @ms pass. */
static gboolean
wait_answers (Result *r, guint n, guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;

  while (r->answers < n && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (1000), TRUE);
  return r->answers >= n;
}

static void
result_clear (Result *r)
{
  g_clear_pointer (&r->msg, g_bytes_unref);
}

static void
assert_answer_to (Result *r, guint64 request, gsize len)
{
  gsize n;
  const guint8 *m;

  g_assert_cmpuint (r->request, ==, request);
  g_assert_nonnull (r->msg);
  m = g_bytes_get_data (r->msg, &n);
  g_assert_cmpuint (n, ==, len);
  g_assert_cmpuint (m[0] << 8 | m[1], ==, (guint16) request);
  g_assert_true (m[2] & 0x80);
}

static void
test_udp (void)
{
  Server *s = server_start (SERVE_ANSWER);
  Result r = { 0 };
  FzDnsForwarder *f = fz_dns_forwarder_new (g_main_context_default (), on_answer, &r);

  query (f, &r, 0x1234, s->port, FALSE);
  g_assert_cmpuint (fz_dns_forwarder_in_flight (f), ==, 1);
  g_assert_true (wait_answers (&r, 1, 5000));
  assert_answer_to (&r, 0x1234, 29);
  g_assert_false (((const guint8 *) g_bytes_get_data (r.msg, NULL))[2] & 0x02);
  g_assert_cmpuint (fz_dns_forwarder_in_flight (f), ==, 0);
  fz_dns_forwarder_free (f);
  result_clear (&r);
  server_stop (s);
}

/* A truncated answer over UDP is handed on as it is (the policy asks
 * again); the same query over TCP then gets the whole answer. */
static void
test_truncated_then_tcp (void)
{
  Server *s = server_start (SERVE_TRUNCATED);
  Result r = { 0 };
  FzDnsForwarder *f = fz_dns_forwarder_new (g_main_context_default (), on_answer, &r);

  query (f, &r, 0x0707, s->port, FALSE);
  g_assert_true (wait_answers (&r, 1, 5000));
  assert_answer_to (&r, 0x0707, 29);
  g_assert_true (((const guint8 *) g_bytes_get_data (r.msg, NULL))[2] & 0x02);
  query (f, &r, 0x0708, s->port, TRUE);
  g_assert_true (wait_answers (&r, 2, 5000));
  assert_answer_to (&r, 0x0708, 29 + TCP_ANSWER_PAD);
  g_assert_cmpint (g_atomic_int_get (&s->tcp_queries), ==, 1);
  /* Several over TCP at once. */
  for (guint i = 0; i < 5; i++)
    query (f, &r, 0x0800 + i, s->port, TRUE);
  g_assert_cmpuint (fz_dns_forwarder_in_flight (f), ==, 5);
  g_assert_true (wait_answers (&r, 7, 5000));
  g_assert_nonnull (r.msg);
  g_assert_cmpuint (fz_dns_forwarder_in_flight (f), ==, 0);
  fz_dns_forwarder_free (f);
  result_clear (&r);
  server_stop (s);
}

/* No answer: a failure at the timeout, not before, over UDP and TCP. */
static void
test_timeout (void)
{
  Server *s = server_start (SERVE_SILENT);
  Result r = { 0 };
  FzDnsForwarder *f = fz_dns_forwarder_new (g_main_context_default (), on_answer, &r);
  gint64 start;

  fz_dns_forwarder_set_timeout (f, 300);
  for (int tcp = 0; tcp < 2; tcp++)
    {
      start = g_get_monotonic_time ();
      query (f, &r, 40 + tcp, s->port, tcp);
      g_assert_true (wait_answers (&r, tcp + 1, 5000));
      g_assert_cmpint (g_get_monotonic_time () - start, >=, 300 * 1000);
      g_assert_cmpuint (r.request, ==, 40 + tcp);
      g_assert_null (r.msg);
    }
  g_assert_cmpint (g_atomic_int_get (&s->tcp_queries), ==, 1);
  g_assert_cmpuint (fz_dns_forwarder_in_flight (f), ==, 0);
  /* Cancelled steps of the TCP query may still come back: harmless. */
  wait_answers (&r, 3, 100);
  g_assert_cmpuint (r.answers, ==, 2);
  fz_dns_forwarder_free (f);
  result_clear (&r);
  server_stop (s);
}

/* A closed port: a failure long before the timeout (ICMP over UDP, RST
 * over TCP). */
static void
test_refused (void)
{
  Server *s = server_start (SERVE_ANSWER);
  guint16 port = s->port;
  Result r = { 0 };
  FzDnsForwarder *f = fz_dns_forwarder_new (g_main_context_default (), on_answer, &r);

  server_stop (s);
  query (f, &r, 1, port, FALSE);
  query (f, &r, 2, port, TRUE);
  g_assert_true (wait_answers (&r, 2, 2000));
  g_assert_null (r.msg);
  g_assert_cmpuint (fz_dns_forwarder_in_flight (f), ==, 0);
  fz_dns_forwarder_free (f);
  result_clear (&r);
}

/* A query that cannot even start (empty, too long) fails from the main
 * loop, after the call returned (on_answer asserts it). */
static void
test_fails_later (void)
{
  Result r = { 0 };
  FzDnsForwarder *f = fz_dns_forwarder_new (g_main_context_default (), on_answer, &r);
  g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);
  g_autofree guint8 *big = g_malloc0 (FZ_DNS_MAX_MESSAGE + 1);
  g_autoptr (GBytes) huge = g_bytes_new (big, FZ_DNS_MAX_MESSAGE + 1);
  FzSockAddr server = { .port = 53 };

  g_assert_true (fz_ip_addr_parse (&server.ip, "127.0.0.1"));
  r.in_query = TRUE;
  fz_dns_forwarder_query (f, 5, empty, &server, FALSE);
  fz_dns_forwarder_query (f, 6, huge, &server, TRUE);
  r.in_query = FALSE;
  g_assert_cmpuint (r.answers, ==, 0);
  g_assert_true (wait_answers (&r, 2, 2000));
  g_assert_null (r.msg);
  fz_dns_forwarder_free (f);
  result_clear (&r);
}

/* Freed with queries in flight: UDP waiting, TCP connected and waiting
 * for the answer, TCP still connecting. None is answered, then or later. */
static void
test_free_in_flight (void)
{
  Server *s = server_start (SERVE_SILENT);
  Result r = { 0 };
  FzDnsForwarder *f = fz_dns_forwarder_new (g_main_context_default (), on_answer, &r);
  gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  query (f, &r, 1, s->port, FALSE);
  query (f, &r, 2, s->port, TRUE);
  while (g_atomic_int_get (&s->tcp_queries) < 1 && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (1000), TRUE);
  g_assert_cmpint (g_atomic_int_get (&s->tcp_queries), ==, 1);
  query (f, &r, 3, s->port, TRUE); /* its connect has not completed yet */
  g_assert_cmpuint (fz_dns_forwarder_in_flight (f), ==, 3);
  fz_dns_forwarder_free (f);
  wait_answers (&r, 1, 300); /* the cancelled steps call back now */
  g_assert_cmpuint (r.answers, ==, 0);
  result_clear (&r);
  server_stop (s);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dns-forwarder/udp", test_udp);
  g_test_add_func ("/dns-forwarder/truncated-then-tcp", test_truncated_then_tcp);
  g_test_add_func ("/dns-forwarder/timeout", test_timeout);
  g_test_add_func ("/dns-forwarder/refused", test_refused);
  g_test_add_func ("/dns-forwarder/fails-later", test_fails_later);
  g_test_add_func ("/dns-forwarder/free-in-flight", test_free_in_flight);
  return g_test_run ();
}
