#include "fz-dns-forwarder-private.h"

#include "fz-udp-socket.h"

#include <string.h>

struct _FzDnsForwarder
{
  GMainContext *ctx;
  FzDnsForwarderAnswer answer;
  gpointer data;
  GList *queries; /* Query * */
  guint timeout_ms;
};

typedef struct
{
  FzDnsForwarder *f;
  GList *link;
  guint64 request;
  GBytes *query;
  GCancellable *cancel;
  GSource *timeout;
  GSocket *udp;
  GSource *udp_source;
  GSocketConnection *tcp;
  guint8 len_prefix[2];
  guint8 *body;
  gsize body_len;
} Query;

static void
query_free (Query *q)
{
  g_cancellable_cancel (q->cancel);
  if (q->timeout != NULL)
    g_source_destroy (q->timeout);
  g_clear_pointer (&q->timeout, g_source_unref);
  if (q->udp_source != NULL)
    g_source_destroy (q->udp_source);
  g_clear_pointer (&q->udp_source, g_source_unref);
  g_clear_object (&q->udp);
  g_clear_object (&q->tcp);
  g_clear_object (&q->cancel);
  g_bytes_unref (q->query);
  g_free (q->body);
  g_free (q);
}

/* Answers once and forgets the query. Asynchronous callbacks that come
 * after this see their cancellable cancelled and hold their own
 * reference to nothing but the query's GObjects. */
static void
finish (Query *q, const guint8 *msg, gsize len)
{
  FzDnsForwarder *f = q->f;

  f->queries = g_list_delete_link (f->queries, q->link);
  f->answer (f->data, q->request, msg, len);
  query_free (q);
}

static gboolean
on_timeout (gpointer data)
{
  Query *q = data;

  g_debug ("DNS query %" G_GUINT64_FORMAT " got no answer", q->request);
  finish (q, NULL, 0);
  return G_SOURCE_REMOVE;
}

static gboolean
on_udp_readable (GSocket *socket, GIOCondition cond, gpointer data)
{
  Query *q = data;
  guint8 buf[FZ_DNS_MAX_MESSAGE];
  gssize n = g_socket_receive (socket, (char *) buf, sizeof buf, NULL, NULL);

  /* A connected socket only takes the server's datagrams; an error here
   * is an ICMP unreachable or the like. */
  if (n < 0)
    finish (q, NULL, 0);
  else
    finish (q, buf, (gsize) n);
  return G_SOURCE_REMOVE;
}

static GSocketAddress *
to_gaddress (const FzSockAddr *server)
{
  struct sockaddr_storage ss;
  socklen_t len = fz_sock_addr_to_native (server, &ss);

  return g_socket_address_new_from_native (&ss, len);
}

static gboolean
start_udp (Query *q, const FzSockAddr *server)
{
  g_autoptr (GSocketAddress) to = to_gaddress (server);
  g_autoptr (GError) error = NULL;
  gsize len;
  const char *data = g_bytes_get_data (q->query, &len);

  q->udp
    = g_socket_new (server->ip.family == 4 ? G_SOCKET_FAMILY_IPV4 : G_SOCKET_FAMILY_IPV6,
                    G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, &error);
  if (q->udp == NULL || !g_socket_connect (q->udp, to, NULL, &error)
      || g_socket_send (q->udp, data, len, NULL, &error) < 0)
    {
      g_debug ("DNS query over UDP: %s", error->message);
      return FALSE;
    }
  g_socket_set_blocking (q->udp, FALSE);
  q->udp_source = g_socket_create_source (q->udp, G_IO_IN, NULL);
  g_source_set_callback (q->udp_source, G_SOURCE_FUNC (on_udp_readable), q, NULL);
  g_source_attach (q->udp_source, q->f->ctx);
  return TRUE;
}

/* TCP: the query with its 2-byte length, then the answer's length and
 * the answer. Each step's callback finds its query through the task
 * data only while it is not cancelled. */
static void on_tcp_body (GObject *src, GAsyncResult *res, gpointer data);

static void
on_tcp_length (GObject *src, GAsyncResult *res, gpointer data)
{
  gsize got = 0;
  g_autoptr (GError) error = NULL;
  Query *q = data;

  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (src), res, &got, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        finish (q, NULL, 0);
      return;
    }
  q->body_len = (gsize) q->len_prefix[0] << 8 | q->len_prefix[1];
  if (got != 2 || q->body_len == 0)
    {
      finish (q, NULL, 0);
      return;
    }
  q->body = g_malloc (q->body_len);
  g_input_stream_read_all_async (g_io_stream_get_input_stream (G_IO_STREAM (q->tcp)),
                                 q->body, q->body_len, G_PRIORITY_DEFAULT, q->cancel,
                                 on_tcp_body, q);
}

static void
on_tcp_body (GObject *src, GAsyncResult *res, gpointer data)
{
  gsize got = 0;
  g_autoptr (GError) error = NULL;
  Query *q = data;

  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (src), res, &got, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        finish (q, NULL, 0);
      return;
    }
  if (got != q->body_len)
    finish (q, NULL, 0);
  else
    finish (q, q->body, q->body_len);
}

static void
on_tcp_written (GObject *src, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  Query *q = data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (src), res, NULL, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        finish (q, NULL, 0);
      return;
    }
  g_clear_pointer (&q->body, g_free); /* the query as written; the answer comes next */
  g_input_stream_read_all_async (g_io_stream_get_input_stream (G_IO_STREAM (q->tcp)),
                                 q->len_prefix, 2, G_PRIORITY_DEFAULT, q->cancel,
                                 on_tcp_length, q);
}

static void
on_tcp_connected (GObject *src, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  GSocketConnection *conn
    = g_socket_client_connect_finish (G_SOCKET_CLIENT (src), res, &error);
  Query *q = data;
  gsize len;
  const guint8 *msg;

  if (conn == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_debug ("DNS query over TCP: %s", error->message);
          finish (q, NULL, 0);
        }
      return;
    }
  q->tcp = conn;
  msg = g_bytes_get_data (q->query, &len);
  q->body = g_malloc (len + 2);
  q->body[0] = (guint8) (len >> 8);
  q->body[1] = (guint8) len;
  memcpy (q->body + 2, msg, len);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (conn)),
                                   q->body, len + 2, G_PRIORITY_DEFAULT, q->cancel,
                                   on_tcp_written, q);
}

static void
start_tcp (Query *q, const FzSockAddr *server)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketAddress) to = to_gaddress (server);

  /* Straight to the server: never through a proxy of the system's. */
  g_socket_client_set_enable_proxy (client, FALSE);
  g_socket_client_connect_async (client, G_SOCKET_CONNECTABLE (to), q->cancel,
                                 on_tcp_connected, q);
}

void
fz_dns_forwarder_query (FzDnsForwarder *f, guint64 request, GBytes *query,
                        const FzSockAddr *server, gboolean tcp)
{
  Query *q = g_new0 (Query, 1);
  gsize len = g_bytes_get_size (query);
  gboolean ok;

  q->f = f;
  q->request = request;
  q->query = g_bytes_ref (query);
  q->cancel = g_cancellable_new ();
  f->queries = g_list_prepend (f->queries, q);
  q->link = f->queries;
  ok = len > 0 && len <= FZ_DNS_MAX_MESSAGE && (tcp || start_udp (q, server));
  if (ok && tcp)
    start_tcp (q, server);
  /* A query that failed at once is answered from the main loop as well,
   * never inside this call: the caller may be in the middle of a loop
   * over its own events. */
  q->timeout = g_timeout_source_new (ok ? f->timeout_ms : 0);
  g_source_set_callback (q->timeout, on_timeout, q, NULL);
  g_source_attach (q->timeout, f->ctx);
}

FzDnsForwarder *
fz_dns_forwarder_new (GMainContext *ctx, FzDnsForwarderAnswer answer, gpointer data)
{
  FzDnsForwarder *f = g_new0 (FzDnsForwarder, 1);

  f->ctx = g_main_context_ref (ctx);
  f->answer = answer;
  f->data = data;
  f->timeout_ms = FZ_DNS_FORWARDER_TIMEOUT;
  return f;
}

void
fz_dns_forwarder_set_timeout (FzDnsForwarder *f, guint ms)
{
  f->timeout_ms = ms;
}

void
fz_dns_forwarder_free (FzDnsForwarder *f)
{
  if (f == NULL)
    return;
  /* A cancelled TCP step still calls back, later, with its query freed:
   * each callback sees G_IO_ERROR_CANCELLED first and touches nothing. */
  g_list_free_full (f->queries, (GDestroyNotify) query_free);
  g_main_context_unref (f->ctx);
  g_free (f);
}

guint
fz_dns_forwarder_in_flight (FzDnsForwarder *f)
{
  return g_list_length (f->queries);
}

guint
fz_resolv_conf_nameservers (const char *text, FzIpAddr *out, guint max)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i] != NULL && n < max; i++)
    {
      g_auto (GStrv) words = NULL;
      char *line = g_strstrip (lines[i]);

      if (!g_str_has_prefix (line, "nameserver"))
        continue;
      words = g_strsplit_set (line, " \t", -1);
      for (guint w = 1; words[w] != NULL; w++)
        if (words[w][0] != '\0')
          {
            if (fz_ip_addr_parse (&out[n], words[w]))
              n++;
            break;
          }
    }
  return n;
}
