#include "fz-portal-http.h"

#include <json-glib/json-glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#define ACCEPTS_PER_WAKEUP 64
#define ACCEPT_PAUSE_MS    100 /* after EMFILE: let connections close first */
#define WARN_EVERY_US      (10 * G_USEC_PER_SEC)

struct _FzPortalHttp
{
  SoupServer *soup; /* borrowed */
  GTlsCertificate *cert;
  FzPortalHttpLimits limits;
  GSocket *listener;
  GSource *accepting;
  GSource *resume;
  gint64 warned; /* monotonic us of the last accept warning */
  /* prefix -> open connections (GUINT_TO_POINTER); each connection holds
   * a reference, as sockets may outlive the server. */
  GHashTable *open;
  gulong started_id, read_id;
};

/* One accepted socket, kept as its data: freed when the socket is. */
typedef struct
{
  GHashTable *open;
  char *prefix;
  GSocket *socket; /* borrowed */
  GSocketAddress *remote;
  GSource *deadline;
  gboolean request_read;
} Conn;

static void
conn_free (Conn *c)
{
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (c->open, c->prefix));
  if (n <= 1)
    g_hash_table_remove (c->open, c->prefix);
  else
    g_hash_table_replace (c->open, g_strdup (c->prefix), GUINT_TO_POINTER (n - 1));
  g_hash_table_unref (c->open);
  if (c->deadline != NULL)
    {
      g_source_destroy (c->deadline);
      g_source_unref (c->deadline);
    }
  g_object_set_data (G_OBJECT (c->remote), "fz-conn", NULL);
  g_object_unref (c->remote);
  g_free (c->prefix);
  g_free (c);
}

/* The request did not arrive in time: end the connection (soup sees
 * the end of its stream and lets go). */
static gboolean
deadline_cb (gpointer data)
{
  Conn *c = data;
  g_clear_pointer (&c->deadline, g_source_unref);
  if (!c->request_read)
    g_socket_shutdown (c->socket, TRUE, TRUE, NULL);
  return G_SOURCE_REMOVE;
}

char *
fz_portal_http_prefix (GSocketAddress *address)
{
  if (!G_IS_INET_SOCKET_ADDRESS (address))
    return g_strdup ("?");
  GInetAddress *ia = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address));
  const guint8 *b = g_inet_address_to_bytes (ia);
  if (g_inet_address_get_family (ia) == G_SOCKET_FAMILY_IPV4)
    return g_strdup_printf ("%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
  static const guint8 mapped[12] = { [10] = 0xff, [11] = 0xff };
  if (memcmp (b, mapped, sizeof mapped) == 0)
    return g_strdup_printf ("%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
  return g_strdup_printf ("%x:%x:%x:%x::/64", b[0] << 8 | b[1], b[2] << 8 | b[3],
                          b[4] << 8 | b[5], b[6] << 8 | b[7]);
}

/* ---- Requests ----------------------------------------------------- */

typedef struct
{
  GIOStream *stream;
  char *text;
} Refusal;

static void
refusal_closed_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  g_io_stream_close_finish (G_IO_STREAM (source), res, NULL);
}

static void
refusal_written_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  Refusal *r = data;
  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), res, NULL, NULL);
  g_io_stream_close_async (r->stream, G_PRIORITY_DEFAULT, NULL, refusal_closed_cb, NULL);
  g_object_unref (r->stream);
  g_free (r->text);
  g_free (r);
}

/* 413 at once: SoupServer would read (and keep) the whole body before
 * any handler could answer, so take the connection from it, answer and
 * close. */
static void
refuse_body (FzPortalHttp *self, SoupServerMessage *msg)
{
  GIOStream *stream = soup_server_message_steal_connection (msg);
  if (stream == NULL)
    return;
  g_autofree char *body = g_strdup_printf (
    "{\"type\":\"about:blank\",\"title\":\"Request Entity Too Large\",\"status\":413,"
    "\"code\":\"too_large\",\"detail\":\"request bodies are limited to %" G_GSIZE_FORMAT
    " bytes\"}",
    self->limits.max_body);
  Refusal *r = g_new0 (Refusal, 1);
  r->stream = stream;
  r->text = g_strdup_printf ("HTTP/1.1 413 Request Entity Too Large\r\n"
                             "Content-Type: application/problem+json\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                             strlen (body), body);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (stream), r->text,
                                   strlen (r->text), G_PRIORITY_DEFAULT, NULL,
                                   refusal_written_cb, r);
}

static void
got_headers_cb (SoupServerMessage *msg, gpointer data)
{
  FzPortalHttp *self = data;
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  if (soup_message_headers_get_encoding (h) == SOUP_ENCODING_CONTENT_LENGTH
      && soup_message_headers_get_content_length (h) > (goffset) self->limits.max_body)
    refuse_body (self, msg);
}

static void
got_chunk_cb (SoupServerMessage *msg, GBytes *chunk, gpointer data)
{
  FzPortalHttp *self = data;
  if (soup_server_message_get_request_body (msg)->length
      > (goffset) self->limits.max_body)
    refuse_body (self, msg);
}

static void
request_started_cb (SoupServer *soup, SoupServerMessage *msg, gpointer data)
{
  g_signal_connect (msg, "got-headers", G_CALLBACK (got_headers_cb), data);
  g_signal_connect (msg, "got-chunk", G_CALLBACK (got_chunk_cb), data);
}

static void
request_read_cb (SoupServer *soup, SoupServerMessage *msg, gpointer data)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);
  Conn *c = remote != NULL ? g_object_get_data (G_OBJECT (remote), "fz-conn") : NULL;
  if (c != NULL)
    c->request_read = TRUE;
}

/* ---- Accepting ---------------------------------------------------- */

static void
take (FzPortalHttp *self, GSocket *s)
{
  g_autoptr (GSocketAddress) remote = g_socket_get_remote_address (s, NULL);
  g_autoptr (GSocketAddress) local = g_socket_get_local_address (s, NULL);
  if (remote == NULL || local == NULL)
    return;
  g_autofree char *prefix = fz_portal_http_prefix (remote);
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->open, prefix));
  if (n >= self->limits.per_address)
    {
      g_debug ("refused a connection from %s: %u are open", prefix, n);
      g_socket_close (s, NULL);
      return;
    }
  g_hash_table_replace (self->open, g_strdup (prefix), GUINT_TO_POINTER (n + 1));
  Conn *c = g_new0 (Conn, 1);
  c->open = g_hash_table_ref (self->open);
  c->prefix = g_steal_pointer (&prefix);
  c->socket = s;
  c->remote = g_object_ref (remote);
  g_object_set_data (G_OBJECT (remote), "fz-conn", c);
  g_object_set_data_full (G_OBJECT (s), "fz-conn", c, (GDestroyNotify) conn_free);
  /* Not _new_seconds: it fires on a whole-second tick, up to a second
   * early, so request_timeout = 1 could close a client at once. */
  c->deadline = g_timeout_source_new (self->limits.request_timeout * 1000);
  g_source_set_callback (c->deadline, deadline_cb, c, NULL);
  g_source_attach (c->deadline, g_main_context_get_thread_default ());

  g_socket_set_option (s, IPPROTO_TCP, TCP_NODELAY, TRUE, NULL);
  g_autoptr (GIOStream) stream
    = G_IO_STREAM (g_socket_connection_factory_create_connection (s));
  if (self->cert != NULL)
    {
      g_autoptr (GError) error = NULL;
      GIOStream *tls = g_tls_server_connection_new (stream, self->cert, &error);
      if (tls == NULL)
        {
          g_warning ("TLS: %s", error->message);
          return;
        }
      g_object_set (tls, "require-close-notify", FALSE, NULL);
      const char *const protocols[] = { "http/1.1", NULL };
      g_tls_connection_set_advertised_protocols (G_TLS_CONNECTION (tls), protocols);
      g_object_unref (stream);
      stream = tls;
    }
  soup_server_accept_iostream (self->soup, stream, local, remote, NULL);
}

static gboolean resume_cb (gpointer data);

static void start_accepting (FzPortalHttp *self);

static gboolean
accept_cb (GSocket *listener, GIOCondition cond, gpointer data)
{
  FzPortalHttp *self = data;
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
      /* Out of descriptors (or memory): what waits stays in the backlog;
       * try again shortly rather than spin or give up. */
      gint64 now = g_get_monotonic_time ();
      if (self->warned == 0 || now - self->warned >= WARN_EVERY_US)
        {
          g_warning ("cannot accept connections for now: %s", error->message);
          self->warned = now;
        }
      g_clear_pointer (&self->accepting, g_source_unref);
      self->resume = g_timeout_source_new (ACCEPT_PAUSE_MS);
      g_source_set_callback (self->resume, resume_cb, self, NULL);
      g_source_attach (self->resume, g_main_context_get_thread_default ());
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
start_accepting (FzPortalHttp *self)
{
  self->accepting = g_socket_create_source (self->listener, G_IO_IN, NULL);
  g_source_set_callback (self->accepting, (GSourceFunc) (void (*) (void)) accept_cb, self,
                         NULL);
  g_source_attach (self->accepting, g_main_context_get_thread_default ());
}

static gboolean
resume_cb (gpointer data)
{
  FzPortalHttp *self = data;
  g_clear_pointer (&self->resume, g_source_unref);
  start_accepting (self);
  return G_SOURCE_REMOVE;
}

/* ---- Life --------------------------------------------------------- */

FzPortalHttp *
fz_portal_http_new (SoupServer *soup, GTlsCertificate *cert,
                    const FzPortalHttpLimits *limits)
{
  FzPortalHttp *self = g_new0 (FzPortalHttp, 1);
  self->soup = soup;
  self->cert = cert != NULL ? g_object_ref (cert) : NULL;
  self->limits = *limits;
  self->open = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->started_id
    = g_signal_connect (soup, "request-started", G_CALLBACK (request_started_cb), self);
  self->read_id
    = g_signal_connect (soup, "request-read", G_CALLBACK (request_read_cb), self);
  return self;
}

void
fz_portal_http_set_limits (FzPortalHttp *self, const FzPortalHttpLimits *limits)
{
  self->limits = *limits;
}

char *
fz_portal_http_listen (FzPortalHttp *self, GSocket *sock, GError **error)
{
  g_autoptr (GSocketAddress) addr = g_socket_get_local_address (sock, error);
  if (addr == NULL)
    return NULL;
  g_set_object (&self->listener, sock);
  g_socket_set_blocking (sock, FALSE);
  start_accepting (self);
  GInetSocketAddress *ia = G_INET_SOCKET_ADDRESS (addr);
  g_autofree char *host
    = g_inet_address_to_string (g_inet_socket_address_get_address (ia));
  g_autoptr (GUri) uri
    = g_uri_build (G_URI_FLAGS_NONE, self->cert != NULL ? "https" : "http", NULL, host,
                   g_inet_socket_address_get_port (ia), "/", NULL, NULL);
  return g_uri_to_string (uri);
}

void
fz_portal_http_free (FzPortalHttp *self)
{
  if (self == NULL)
    return;
  g_signal_handler_disconnect (self->soup, self->started_id);
  g_signal_handler_disconnect (self->soup, self->read_id);
  if (self->accepting != NULL)
    {
      g_source_destroy (self->accepting);
      g_source_unref (self->accepting);
    }
  if (self->resume != NULL)
    {
      g_source_destroy (self->resume);
      g_source_unref (self->resume);
    }
  if (self->listener != NULL)
    g_socket_close (self->listener, NULL);
  g_clear_object (&self->listener);
  g_clear_object (&self->cert);
  g_hash_table_unref (self->open);
  g_free (self);
}
