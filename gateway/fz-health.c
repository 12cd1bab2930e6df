#include "fz-health.h"

#include "fz-ip-addr.h"

#include <gio/gio.h>
#include <libsoup/soup.h>
#include <string.h>

#define MAX_CONNECTIONS    16
#define CONNECTION_MS      5000 /* from accept to the end of the connection */
#define ACCEPTS_PER_WAKEUP 16
#define ACCEPT_PAUSE_MS    100 /* after EMFILE: let connections close first */
#define MAX_ADDRESS_LEN    64  /* "[::ffff:255.255.255.255]:65535" is 30 */

struct _FzHealth
{
  GMainContext *context;
  SoupServer *soup;
  GSocket *listener;
  GSource *accepting, *resume;
  guint *open; /* rc box: connections hold it, as sockets may outlive us */
  gulong started_id;
  gboolean ready;
  gint64 warned;
};

/* ---- Connections -------------------------------------------------- */

typedef struct
{
  guint *open;
  GSocket *socket; /* borrowed: this is its data */
  GSource *deadline;
} Conn;

static void
conn_free (Conn *c)
{
  (*c->open)--;
  g_rc_box_release (c->open);
  if (c->deadline != NULL)
    {
      g_source_destroy (c->deadline);
      g_source_unref (c->deadline);
    }
  g_free (c);
}

/* Time is up: end the connection (soup sees its stream end and lets go). */
static gboolean
deadline_cb (gpointer data)
{
  Conn *c = data;
  g_clear_pointer (&c->deadline, g_source_unref);
  g_socket_shutdown (c->socket, TRUE, TRUE, NULL);
  return G_SOURCE_REMOVE;
}

static void
take (FzHealth *self, GSocket *s)
{
  g_autoptr (GSocketAddress) remote = g_socket_get_remote_address (s, NULL);
  g_autoptr (GSocketAddress) local = g_socket_get_local_address (s, NULL);
  if (remote == NULL || local == NULL || *self->open >= MAX_CONNECTIONS)
    {
      g_socket_close (s, NULL);
      return;
    }
  Conn *c = g_new0 (Conn, 1);
  c->open = g_rc_box_acquire (self->open);
  (*c->open)++;
  c->socket = s;
  c->deadline = g_timeout_source_new (CONNECTION_MS);
  g_source_set_callback (c->deadline, deadline_cb, c, NULL);
  g_source_attach (c->deadline, self->context);
  g_object_set_data_full (G_OBJECT (s), "fz-health-conn", c, (GDestroyNotify) conn_free);
  g_autoptr (GIOStream) stream
    = G_IO_STREAM (g_socket_connection_factory_create_connection (s));
  soup_server_accept_iostream (self->soup, stream, local, remote, NULL);
}

static void start_accepting (FzHealth *self);

static gboolean
resume_cb (gpointer data)
{
  FzHealth *self = data;
  g_clear_pointer (&self->resume, g_source_unref);
  start_accepting (self);
  return G_SOURCE_REMOVE;
}

/* Our own accept loop: libsoup 3.2 drops its listener on any accept
 * error, and a health check that stops answering gets a gateway killed. */
static gboolean
accept_cb (GSocket *listener, GIOCondition cond, gpointer data)
{
  FzHealth *self = data;
  for (guint i = 0; i < ACCEPTS_PER_WAKEUP; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GSocket) s = g_socket_accept (listener, NULL, &error);
      if (s != NULL)
        {
          take (self, s);
          continue;
        }
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        break;
      gint64 now = g_get_monotonic_time ();
      if (self->warned == 0 || now - self->warned >= 10 * G_USEC_PER_SEC)
        {
          g_message ("health check: cannot accept connections for now: %s",
                     error->message);
          self->warned = now;
        }
      g_clear_pointer (&self->accepting, g_source_unref);
      self->resume = g_timeout_source_new (ACCEPT_PAUSE_MS);
      g_source_set_callback (self->resume, resume_cb, self, NULL);
      g_source_attach (self->resume, self->context);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
start_accepting (FzHealth *self)
{
  self->accepting = g_socket_create_source (self->listener, G_IO_IN, NULL);
  g_source_set_callback (self->accepting, (GSourceFunc) (void (*) (void)) accept_cb, self,
                         NULL);
  g_source_attach (self->accepting, self->context);
}

/* ---- Requests ----------------------------------------------------- */

static void
refusal_closed_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  g_io_stream_close_finish (G_IO_STREAM (source), res, NULL);
}

static void
refusal_written_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  GIOStream *stream = data;
  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), res, NULL, NULL);
  g_io_stream_close_async (stream, G_PRIORITY_DEFAULT, NULL, refusal_closed_cb, NULL);
  g_object_unref (stream);
}

/* No request here has a body: refuse one before SoupServer reads (and
 * keeps) it, by taking the connection, answering 413 and closing. */
static void
got_headers_cb (SoupServerMessage *msg, gpointer data)
{
  static const char refusal[] = "HTTP/1.1 413 Content Too Large\r\n"
                                "Content-Type: text/plain; charset=utf-8\r\n"
                                "Content-Length: 21\r\nConnection: close\r\n\r\n"
                                "no body is accepted\r\n";
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  SoupEncoding enc = soup_message_headers_get_encoding (h);
  if (enc == SOUP_ENCODING_NONE
      || (enc == SOUP_ENCODING_CONTENT_LENGTH
          && soup_message_headers_get_content_length (h) == 0))
    return;
  GIOStream *stream = soup_server_message_steal_connection (msg);
  if (stream == NULL)
    return;
  g_output_stream_write_all_async (g_io_stream_get_output_stream (stream), refusal,
                                   sizeof refusal - 1, G_PRIORITY_DEFAULT, NULL,
                                   refusal_written_cb, stream);
}

static void
request_started_cb (SoupServer *soup, SoupServerMessage *msg, gpointer data)
{
  g_signal_connect (msg, "got-headers", G_CALLBACK (got_headers_cb), data);
}

static void
respond (SoupServerMessage *msg, guint status, const char *body)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  soup_message_headers_replace (h, "Cache-Control", "no-store");
  /* One request per connection: a probe opens a new one anyway. */
  soup_message_headers_replace (h, "Connection", "close");
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "text/plain; charset=utf-8", SOUP_MEMORY_STATIC,
                                    body, strlen (body));
}

static void
handler_cb (SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query,
            gpointer data)
{
  FzHealth *self = data;
  const char *method = soup_server_message_get_method (msg);
  gboolean live = strcmp (path, "/healthz") == 0;
  if (!live && strcmp (path, "/readyz") != 0)
    respond (msg, SOUP_STATUS_NOT_FOUND, "not found\n");
  else if (strcmp (method, SOUP_METHOD_GET) != 0
           && strcmp (method, SOUP_METHOD_HEAD) != 0)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Allow", "GET, HEAD");
      respond (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method not allowed\n");
    }
  else if (live || self->ready)
    respond (msg, SOUP_STATUS_OK, "ok\n");
  else
    respond (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "not ready\n");
}

/* ---- Life --------------------------------------------------------- */

/* "IPv4:PORT" or "[IPv6]:PORT"; the port in decimal without leading
 * zeros, 0 to 65535. */
static gboolean
parse_host_port (const char *text, FzIpAddr *ip, guint16 *port)
{
  if (text == NULL || strlen (text) > MAX_ADDRESS_LEN)
    return FALSE;
  const char *colon = strrchr (text, ':');
  if (colon == NULL)
    return FALSE;
  g_autofree char *host = g_strndup (text, colon - text);
  if (text[0] == '[')
    {
      gsize n = strlen (host);
      if (n < 2 || host[n - 1] != ']')
        return FALSE;
      host[n - 1] = '\0';
      if (!fz_ip_addr_parse (ip, host + 1) || ip->family != 6)
        return FALSE;
    }
  else if (!fz_ip_addr_parse (ip, host) || ip->family != 4)
    return FALSE;
  const char *p = colon + 1;
  gsize len = strlen (p);
  if (len < 1 || len > 5 || (p[0] == '0' && len > 1))
    return FALSE;
  guint v = 0;
  for (; *p != '\0'; p++)
    {
      if (!g_ascii_isdigit (*p))
        return FALSE;
      v = v * 10 + (guint) (*p - '0');
    }
  *port = (guint16) v;
  return v <= 65535;
}

static GSocket *
listen_on (const FzIpAddr *ip, guint16 port, GError **error)
{
  g_autoptr (GInetAddress) ia = g_inet_address_new_from_bytes (
    ip->bytes, ip->family == 4 ? G_SOCKET_FAMILY_IPV4 : G_SOCKET_FAMILY_IPV6);
  g_autoptr (GSocketAddress) sa = g_inet_socket_address_new (ia, port);
  g_autoptr (GSocket) s = g_socket_new (
    g_socket_address_get_family (sa), G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);
  if (s == NULL)
    return NULL;
  g_socket_set_listen_backlog (s, 64);
  g_socket_set_blocking (s, FALSE);
  if (!g_socket_bind (s, sa, TRUE, error) || !g_socket_listen (s, error))
    return NULL;
  return g_steal_pointer (&s);
}

static gboolean
parse_or_explain (const char *host_port, FzIpAddr *ip, guint16 *port, GError **error)
{
  if (!parse_host_port (host_port, ip, port))
    {
      /* Escaped, so that a stray newline cannot forge a log line. */
      g_autofree char *shown = host_port == NULL ? g_strdup ("(none)")
                               : strlen (host_port) <= MAX_ADDRESS_LEN
                                 ? g_strescape (host_port, NULL)
                                 : g_strdup ("(too long)");
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "health check address \"%s\" is not IPv4:PORT or [IPv6]:PORT "
                   "(an address, not a name; port 0 picks one)",
                   shown);
      return FALSE;
    }
  return TRUE;
}

gboolean
fz_health_addr_check (const char *host_port, GError **error)
{
  FzIpAddr ip;
  guint16 port = 0;
  return parse_or_explain (host_port, &ip, &port, error);
}

FzHealth *
fz_health_new (const char *host_port, GError **error)
{
  FzIpAddr ip;
  guint16 port = 0;
  if (!parse_or_explain (host_port, &ip, &port, error))
    return NULL;
  g_autoptr (GError) local = NULL;
  g_autoptr (GSocket) listener = listen_on (&ip, port, &local);
  if (listener == NULL)
    {
      g_set_error (error, local->domain, local->code,
                   "health check: cannot listen on %s: %s", host_port, local->message);
      return NULL;
    }
  FzHealth *self = g_new0 (FzHealth, 1);
  self->context = g_main_context_ref_thread_default ();
  self->listener = g_steal_pointer (&listener);
  self->open = g_rc_box_new0 (guint);
  self->soup = soup_server_new (NULL, NULL);
  soup_server_add_handler (self->soup, NULL, handler_cb, self, NULL);
  self->started_id = g_signal_connect (self->soup, "request-started",
                                       G_CALLBACK (request_started_cb), self);
  start_accepting (self);
  return self;
}

void
fz_health_set_ready (FzHealth *h, gboolean ready)
{
  h->ready = ready;
}

guint16
fz_health_get_port (FzHealth *h)
{
  g_autoptr (GSocketAddress) a = g_socket_get_local_address (h->listener, NULL);
  return a != NULL ? g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (a)) : 0;
}

void
fz_health_free (FzHealth *h)
{
  if (h == NULL)
    return;
  if (h->accepting != NULL)
    {
      g_source_destroy (h->accepting);
      g_source_unref (h->accepting);
    }
  if (h->resume != NULL)
    {
      g_source_destroy (h->resume);
      g_source_unref (h->resume);
    }
  g_signal_handler_disconnect (h->soup, h->started_id);
  soup_server_disconnect (h->soup);
  g_object_unref (h->soup);
  g_socket_close (h->listener, NULL);
  g_object_unref (h->listener);
  g_rc_box_release (h->open);
  g_main_context_unref (h->context);
  g_free (h);
}
