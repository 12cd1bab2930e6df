/* fz-gateway's health check over loopback: addresses, status codes, the
 * refusal of bodies and the bounds on connections. The client side talks
 * raw HTTP from a thread while the test's main context serves. */
#include "fz-health.h"

#include <gio/gio.h>
#include <string.h>

typedef struct
{
  GSocket *socket; /* connected */
  const char *request;
  GString *reply;
  gint done;
} Exchange;

static GSocket *
connect_to (const char *ip, guint16 port)
{
  g_autoptr (GInetAddress) ia = g_inet_address_new_from_string (ip);
  g_autoptr (GSocketAddress) sa = g_inet_socket_address_new (ia, port);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) s
    = g_socket_new (g_socket_address_get_family (sa), G_SOCKET_TYPE_STREAM,
                    G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_connect (s, sa, NULL, &error);
  g_assert_no_error (error);
  g_socket_set_timeout (s, 10);
  return g_steal_pointer (&s);
}

/* Sends the request and reads until the server closes. */
static gpointer
exchange_thread (gpointer data)
{
  Exchange *x = data;
  g_autoptr (GError) error = NULL;
  gssize n = 0;
  if (*x->request != '\0')
    n = g_socket_send (x->socket, x->request, strlen (x->request), NULL, &error);
  char buf[1024];
  while (n >= 0 && (n = g_socket_receive (x->socket, buf, sizeof buf, NULL, &error)) > 0)
    g_string_append_len (x->reply, buf, n);
  /* A reset (the server closed with our bytes unread, or had closed
   * already) ends the reply as the end of the stream does. */
  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
    g_assert_no_error (error);
  g_atomic_int_set (&x->done, 1);
  g_main_context_wakeup (NULL);
  return NULL;
}

/* The whole reply to @request on @s, serving meanwhile. */
static char *
exchange_on (GSocket *s, const char *request)
{
  Exchange x = { s, request, g_string_new (NULL), 0 };
  GThread *t = g_thread_new ("client", exchange_thread, &x);
  while (!g_atomic_int_get (&x.done))
    g_main_context_iteration (NULL, TRUE);
  g_thread_join (t);
  return g_string_free (x.reply, FALSE);
}

static char *
exchange (const char *ip, guint16 port, const char *request)
{
  g_autoptr (GSocket) s = connect_to (ip, port);
  return exchange_on (s, request);
}

/* The status of the reply to METHOD PATH, and its body in @body. */
static guint
get (FzHealth *h, const char *method, const char *path, char **body)
{
  g_autofree char *req
    = g_strdup_printf ("%s %s HTTP/1.1\r\nHost: probe\r\n\r\n", method, path);
  g_autofree char *reply = exchange ("127.0.0.1", fz_health_get_port (h), req);
  guint status = 0;
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 "));
  status = (guint) g_ascii_strtoull (reply + 9, NULL, 10);
  const char *end = strstr (reply, "\r\n\r\n");
  g_assert_nonnull (end);
  g_assert_nonnull (g_strstr_len (reply, end - reply, "\r\nConnection: close"));
  if (body != NULL)
    *body = g_strdup (end + 4);
  return status;
}

static void
set_true (gpointer data)
{
  *(gboolean *) data = TRUE;
}

static void
run_for (guint ms)
{
  gboolean done = FALSE;
  g_timeout_add_once (ms, set_true, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static void
test_status (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FzHealth) h = fz_health_new ("127.0.0.1:0", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fz_health_get_port (h), !=, 0);

  char *body = NULL;
  g_assert_cmpuint (get (h, "GET", "/healthz", &body), ==, 200);
  g_assert_cmpstr (body, ==, "ok\n");
  g_clear_pointer (&body, g_free);
  g_assert_cmpuint (get (h, "GET", "/readyz", &body), ==, 503);
  g_assert_cmpstr (body, ==, "not ready\n");
  g_clear_pointer (&body, g_free);

  fz_health_set_ready (h, TRUE);
  g_assert_cmpuint (get (h, "GET", "/readyz", &body), ==, 200);
  g_assert_cmpstr (body, ==, "ok\n");
  g_clear_pointer (&body, g_free);
  g_assert_cmpuint (get (h, "HEAD", "/readyz", &body), ==, 200);
  g_assert_cmpstr (body, ==, "");
  g_clear_pointer (&body, g_free);
  g_assert_cmpuint (get (h, "GET", "/healthz?verbose=1", NULL), ==, 200);

  fz_health_set_ready (h, FALSE);
  g_assert_cmpuint (get (h, "GET", "/readyz", NULL), ==, 503);
  g_assert_cmpuint (get (h, "GET", "/healthz", NULL), ==, 200);

  g_assert_cmpuint (get (h, "GET", "/", NULL), ==, 404);
  g_assert_cmpuint (get (h, "GET", "/healthz/", NULL), ==, 404);
  g_assert_cmpuint (get (h, "GET", "/metrics", NULL), ==, 404);
  g_assert_cmpuint (get (h, "POST", "/healthz", NULL), ==, 405);
  g_assert_cmpuint (get (h, "DELETE", "/readyz", NULL), ==, 405);
  g_assert_cmpuint (get (h, "OPTIONS", "/readyz", NULL), ==, 405);
}

static void
test_allow (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FzHealth) h = fz_health_new ("127.0.0.1:0", &error);
  g_assert_no_error (error);
  g_autofree char *reply = exchange ("127.0.0.1", fz_health_get_port (h),
                                     "PUT /healthz HTTP/1.1\r\nHost: p\r\n"
                                     "Content-Length: 0\r\n\r\n");
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 405 "));
  g_assert_nonnull (strstr (reply, "\r\nAllow: GET, HEAD\r\n"));
}

/* A body is refused from its headers: the server never waits for it. */
static void
test_body (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FzHealth) h = fz_health_new ("127.0.0.1:0", &error);
  g_assert_no_error (error);
  guint16 port = fz_health_get_port (h);
  static const char *const requests[] = {
    "POST /healthz HTTP/1.1\r\nHost: p\r\nContent-Length: 1000000000\r\n\r\n",
    "GET /healthz HTTP/1.1\r\nHost: p\r\nContent-Length: 5\r\n\r\nhello",
    "POST /readyz HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n",
  };
  for (guint i = 0; i < G_N_ELEMENTS (requests); i++)
    {
      gint64 start = g_get_monotonic_time ();
      g_autofree char *reply = exchange ("127.0.0.1", port, requests[i]);
      g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 413 "));
      g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
    }
  /* And the server still answers. */
  g_assert_cmpuint (get (h, "GET", "/healthz", NULL), ==, 200);
}

static void
test_ipv6 (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FzHealth) h = fz_health_new ("[::1]:0", &error);
  g_assert_no_error (error);
  guint16 port = fz_health_get_port (h);
  g_assert_cmpuint (port, !=, 0);
  g_autofree char *reply
    = exchange ("::1", port, "GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n");
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 200 "));
}

static void
test_fixed_port (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FzHealth) first = fz_health_new ("127.0.0.1:0", &error);
  g_assert_no_error (error);
  guint16 port = fz_health_get_port (first);
  g_autofree char *addr = g_strdup_printf ("127.0.0.1:%u", port);

  /* Taken: one clear error naming the address. */
  g_autoptr (FzHealth) second = fz_health_new (addr, &error);
  g_assert_null (second);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  g_assert_nonnull (strstr (error->message, addr));
  g_clear_error (&error);

  /* Free again: the same port given explicitly. */
  g_clear_pointer (&first, fz_health_free);
  g_autoptr (FzHealth) third = fz_health_new (addr, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fz_health_get_port (third), ==, port);
  g_assert_cmpuint (get (third, "GET", "/healthz", NULL), ==, 200);
}

static void
test_bad_addresses (void)
{
  static const char *const bad[] = {
    "",
    "127.0.0.1",
    "127.0.0.1:",
    ":8080",
    "127.0.0.1:65536",
    "127.0.0.1:99999",
    "127.0.0.1:123456",
    "127.0.0.1:080",
    "127.0.0.1:+80",
    "127.0.0.1:-1",
    "127.0.0.1:8o",
    "127.0.0.1: 80",
    " 127.0.0.1:80",
    "127.0.0.1:80 ",
    "localhost:8080",
    "0x7f.0.0.1:80",
    "127.1:80",
    "::1:8080",
    "[::1]8080",
    "[::1]:",
    "[::1:8080",
    "::1]:8080",
    "[127.0.0.1]:8080",
    "[fe80::1%lo]:8080",
    "[[::1]]:8080",
    "127.0.0.1:80\nforged",
    "1111111111111111111111111111111111111111111111111111111111111111111111:80",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FzHealth) h = fz_health_new (bad[i], &error);
      g_assert_null (h);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_assert_nonnull (strstr (error->message, "is not IPv4:PORT or [IPv6]:PORT"));
      g_assert_null (strchr (error->message, '\n'));
    }
  g_autoptr (GError) error = NULL;
  g_assert_null (fz_health_new (NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* Valid but not ours to listen on. */
  g_assert_null (fz_health_new ("192.0.2.1:0", &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "cannot listen on 192.0.2.1:0"));
}

/* Idle connections are cut after 5 s, and while the maximum is open a new
 * one is closed at once, without taking a slot. */
static void
test_limits (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FzHealth) h = fz_health_new ("127.0.0.1:0", &error);
  g_assert_no_error (error);
  guint16 port = fz_health_get_port (h);

  GSocket *idle[16];
  for (guint i = 0; i < G_N_ELEMENTS (idle); i++)
    idle[i] = connect_to ("127.0.0.1", port);
  run_for (300);

  gint64 start = g_get_monotonic_time ();
  g_autofree char *refused = exchange ("127.0.0.1", port, "");
  g_assert_cmpstr (refused, ==, "");
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);

  /* The idle ones end at their deadline (5 s from accept). */
  for (guint i = 0; i < G_N_ELEMENTS (idle); i++)
    {
      g_autofree char *nothing = exchange_on (idle[i], "");
      g_assert_cmpstr (nothing, ==, "");
      g_object_unref (idle[i]);
    }
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 4 * G_USEC_PER_SEC);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 8 * G_USEC_PER_SEC);
  run_for (100);
  g_assert_cmpuint (get (h, "GET", "/healthz", NULL), ==, 200);
}

/* Freed with a connection open: nothing of it is used afterwards. */
static void
test_free_busy (void)
{
  g_autoptr (GError) error = NULL;
  FzHealth *h = fz_health_new ("127.0.0.1:0", &error);
  g_assert_no_error (error);
  g_autoptr (GSocket) s = connect_to ("127.0.0.1", fz_health_get_port (h));
  run_for (100);
  fz_health_free (h);
  run_for (100);
  g_autofree char *nothing = exchange_on (s, "GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n");
  g_assert_false (g_str_has_prefix (nothing, "HTTP/1.1 200"));
  run_for (100);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/health/status", test_status);
  g_test_add_func ("/health/allow", test_allow);
  g_test_add_func ("/health/body", test_body);
  g_test_add_func ("/health/ipv6", test_ipv6);
  g_test_add_func ("/health/fixed-port", test_fixed_port);
  g_test_add_func ("/health/bad-addresses", test_bad_addresses);
  g_test_add_func ("/health/limits", test_limits);
  g_test_add_func ("/health/free-busy", test_free_busy);
  return g_test_run ();
}
