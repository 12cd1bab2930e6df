#include "fz-portal-channel.h"

#include "fz-phoenix-frame.h"
#include "fz-reconnect-policy.h"

#include <libsoup/soup.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_OUTSTANDING_HEARTBEATS 3
#define MAX_RETRY_AFTER            (G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC)

/* The quark name is a string, not an expression: keep its dashes. */
/* clang-format off */
G_DEFINE_QUARK (fz-portal-channel-error-quark, fz_portal_channel_error)
/* clang-format on */

typedef struct
{
  char *event;
  JsonNode *payload;
} Outgoing;

struct _FzPortalChannel
{
  GObject parent;

  char *url, *token, *user_agent;
  FzPortalRole role;
  const char *topic;
  FzPortalChannelTiming timing;
  gint64 budget;
  guint32 fwmark;
  gboolean mark_failed;     /* said once */
  FzReconnectPolicy policy; /* made afresh by each start */

  GMainContext *context; /* the thread-default one at construction */
  SoupSession *session;
  SoupWebsocketConnection *ws;
  GCancellable *cancel; /* the handshake in flight */
  FzPortalChannelState state;
  GError *error;

  gint64 next_ref; /* per WebSocket, from 0 */
  gint64 join_ref, last_heartbeat_ref;
  guint outstanding; /* heartbeats without a reply */
  GSource *timer;    /* handshake, join, or retry, by state */
  GSource *heartbeat_timer;
  GQueue queue; /* Outgoing */
};

enum
{
  SIGNAL_MESSAGE,
  SIGNAL_STATE_CHANGED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (FzPortalChannel, fz_portal_channel, G_TYPE_OBJECT)

static void connect_now (FzPortalChannel *self);

static void
outgoing_free (Outgoing *o)
{
  g_free (o->event);
  json_node_unref (o->payload);
  g_free (o);
}

const char *
fz_portal_channel_state_name (FzPortalChannelState state)
{
  static const char *const names[]
    = { "stopped", "connecting", "joining", "joined", "waiting", "failed" };
  return state < G_N_ELEMENTS (names) ? names[state] : "?";
}

static void
set_state (FzPortalChannel *self, FzPortalChannelState state)
{
  if (self->state == state)
    return;
  g_debug ("portal channel: %s -> %s", fz_portal_channel_state_name (self->state),
           fz_portal_channel_state_name (state));
  self->state = state;
  g_signal_emit (self, signals[SIGNAL_STATE_CHANGED], 0, (int) state);
}

static void
clear_timer (GSource **timer)
{
  if (*timer != NULL)
    {
      g_source_destroy (*timer);
      g_clear_pointer (timer, g_source_unref);
    }
}

/* For a timer's callback: it is removed once the callback returns. */
static void
timer_fired (GSource **timer)
{
  g_clear_pointer (timer, g_source_unref);
}

/* On the channel's context, never the global default. */
static GSource *
timeout_us (FzPortalChannel *self, gint64 us, GSourceFunc fn)
{
  GSource *timer = g_timeout_source_new ((guint) MIN ((us + 999) / 1000, G_MAXUINT));
  g_source_set_callback (timer, fn, self, NULL);
  g_source_attach (timer, self->context);
  return timer;
}

/* Drops the socket and every timer, keeping the queue. */
static void
teardown (FzPortalChannel *self)
{
  clear_timer (&self->timer);
  clear_timer (&self->heartbeat_timer);
  if (self->cancel != NULL)
    {
      g_cancellable_cancel (self->cancel);
      g_clear_object (&self->cancel);
    }
  if (self->ws != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->ws, self);
      if (soup_websocket_connection_get_state (self->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        {
          g_main_context_push_thread_default (self->context);
          soup_websocket_connection_close (self->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
          g_main_context_pop_thread_default (self->context);
        }
      g_clear_object (&self->ws);
    }
}

static void
fail_for_good (FzPortalChannel *self, GError *error)
{
  teardown (self);
  g_message ("portal: %s", error->message);
  g_clear_error (&self->error);
  self->error = error;
  set_state (self, FZ_PORTAL_CHANNEL_FAILED);
}

static gboolean
retry_cb (gpointer data)
{
  FzPortalChannel *self = data;
  timer_fired (&self->timer);
  connect_now (self);
  return G_SOURCE_REMOVE;
}

/* The connection failed in a way worth retrying: wait as the policy says,
 * or give up when it says so. Takes @error. */
static void
retry_later (FzPortalChannel *self, GError *error, gint64 retry_after)
{
  teardown (self);
  gint64 delay = fz_reconnect_policy_next (&self->policy, retry_after);
  if (delay < 0)
    {
      GError *e = g_error_new (FZ_PORTAL_CHANNEL_ERROR, FZ_PORTAL_CHANNEL_ERROR_GAVE_UP,
                               "gave up reconnecting to the portal: %s", error->message);
      g_error_free (error);
      fail_for_good (self, e);
      return;
    }
  g_message ("portal: %s; reconnecting in %.1f s", error->message,
             (double) delay / G_USEC_PER_SEC);
  g_error_free (error);
  self->timer = timeout_us (self, delay, retry_cb);
  set_state (self, FZ_PORTAL_CHANNEL_WAITING);
}

static void
send_frame (FzPortalChannel *self, const char *topic, const char *event,
            JsonNode *payload, gint64 *ref_out)
{
  gint64 ref = self->next_ref++;
  g_autoptr (FzPhoenixFrame) f = fz_phoenix_frame_new (
    topic, event, payload != NULL ? json_node_ref (payload) : NULL, ref);
  g_autofree char *text = fz_phoenix_frame_to_string (f);
  g_main_context_push_thread_default (self->context);
  soup_websocket_connection_send_text (self->ws, text);
  g_main_context_pop_thread_default (self->context);
  if (ref_out != NULL)
    *ref_out = ref;
}

static gboolean
join_timeout_cb (gpointer data)
{
  FzPortalChannel *self = data;
  timer_fired (&self->timer);
  retry_later (self,
               g_error_new_literal (FZ_PORTAL_CHANNEL_ERROR,
                                    FZ_PORTAL_CHANNEL_ERROR_TIMEOUT,
                                    "the portal did not answer the join"),
               -1);
  return G_SOURCE_REMOVE;
}

static void
send_join (FzPortalChannel *self)
{
  g_autoptr (JsonNode) null = json_node_new (JSON_NODE_NULL);
  send_frame (self, self->topic, "phx_join", null, &self->join_ref);
  clear_timer (&self->timer);
  self->timer = timeout_us (self, self->timing.join_timeout, join_timeout_cb);
  set_state (self, FZ_PORTAL_CHANNEL_JOINING);
}

static void
flush_queue (FzPortalChannel *self)
{
  Outgoing *o;
  while (self->state == FZ_PORTAL_CHANNEL_JOINED
         && (o = g_queue_pop_head (&self->queue)) != NULL)
    {
      send_frame (self, self->topic, o->event, o->payload, NULL);
      outgoing_free (o);
    }
}

static gboolean
heartbeat_cb (gpointer data)
{
  FzPortalChannel *self = data;
  if (self->outstanding > MAX_OUTSTANDING_HEARTBEATS)
    {
      timer_fired (&self->heartbeat_timer);
      retry_later (self,
                   g_error_new (FZ_PORTAL_CHANNEL_ERROR, FZ_PORTAL_CHANNEL_ERROR_TIMEOUT,
                                "%u heartbeats went unanswered", self->outstanding),
                   -1);
      return G_SOURCE_REMOVE;
    }
  g_autoptr (JsonNode) empty
    = json_node_init_object (json_node_alloc (), json_object_new ());
  send_frame (self, "phoenix", "heartbeat", empty, &self->last_heartbeat_ref);
  self->outstanding++;
  return G_SOURCE_CONTINUE;
}

/* {"status":..,"response":{"reason":..}} of a phx_reply. */
static const char *
reply_status (JsonNode *payload, const char **reason)
{
  *reason = NULL;
  if (!JSON_NODE_HOLDS_OBJECT (payload))
    return NULL;
  JsonObject *o = json_node_get_object (payload);
  JsonNode *status = json_object_get_member (o, "status");
  JsonNode *response = json_object_get_member (o, "response");
  if (response != NULL && JSON_NODE_HOLDS_OBJECT (response))
    {
      JsonNode *r = json_object_get_member (json_node_get_object (response), "reason");
      if (r != NULL && json_node_get_value_type (r) == G_TYPE_STRING)
        *reason = json_node_get_string (r);
    }
  if (status == NULL || json_node_get_value_type (status) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (status);
}

static void
handle_reply (FzPortalChannel *self, const FzPhoenixFrame *f)
{
  const char *reason;
  const char *status = reply_status (f->payload, &reason);
  if (f->ref == self->last_heartbeat_ref && g_strcmp0 (f->topic, "phoenix") == 0)
    {
      self->outstanding = 0;
      return;
    }
  if (self->state == FZ_PORTAL_CHANNEL_JOINING && f->ref == self->join_ref)
    {
      if (g_strcmp0 (status, "ok") != 0)
        {
          fail_for_good (self,
                         g_error_new (FZ_PORTAL_CHANNEL_ERROR,
                                      FZ_PORTAL_CHANNEL_ERROR_JOIN_REFUSED,
                                      "the portal refused to join %s: %s", self->topic,
                                      reason != NULL ? reason : "no reason given"));
          return;
        }
      clear_timer (&self->timer);
      fz_reconnect_policy_joined (&self->policy);
      g_message ("portal: joined %s", self->topic);
      set_state (self, FZ_PORTAL_CHANNEL_JOINED);
      flush_queue (self);
      return;
    }
  /* Replies to ordinary pushes carry nothing we need, except this one. */
  if (g_strcmp0 (status, "error") == 0 && g_strcmp0 (reason, "unmatched topic") == 0
      && self->state == FZ_PORTAL_CHANNEL_JOINED)
    {
      g_message ("portal: the portal forgot our topic; joining again");
      send_join (self);
    }
}

static void
handle_frame (FzPortalChannel *self, const FzPhoenixFrame *f)
{
  if (g_strcmp0 (f->event, "phx_reply") == 0)
    {
      handle_reply (self, f);
      return;
    }
  if (g_strcmp0 (f->topic, self->topic) != 0)
    {
      g_debug ("portal: ignoring %s on topic %s", f->event, f->topic);
      return;
    }
  if (g_strcmp0 (f->event, "phx_close") == 0)
    {
      retry_later (self,
                   g_error_new_literal (FZ_PORTAL_CHANNEL_ERROR,
                                        FZ_PORTAL_CHANNEL_ERROR_CLOSED,
                                        "the portal closed the channel"),
                   -1);
      return;
    }
  if (g_strcmp0 (f->event, "phx_error") == 0)
    {
      g_debug ("portal: phx_error ignored");
      return;
    }
  if (self->state != FZ_PORTAL_CHANNEL_JOINED)
    {
      g_debug ("portal: %s before the join reply ignored", f->event);
      return;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (FzPortalMessage) m
    = fz_portal_message_decode (self->role, f->event, f->payload, &error);
  if (m == NULL)
    {
      g_message ("portal: skipping a message: %s", error->message);
      return;
    }
  if (m->event == FZ_PORTAL_UNKNOWN)
    {
      g_debug ("portal: skipping unknown event %s", f->event);
      return;
    }
  if (m->event == FZ_PORTAL_DISCONNECT)
    {
      if (g_strcmp0 (m->reason, "token_expired") == 0)
        fail_for_good (self,
                       g_error_new_literal (FZ_PORTAL_CHANNEL_ERROR,
                                            FZ_PORTAL_CHANNEL_ERROR_TOKEN_EXPIRED,
                                            "the token has expired: sign in again"));
      else
        retry_later (self,
                     g_error_new (FZ_PORTAL_CHANNEL_ERROR, FZ_PORTAL_CHANNEL_ERROR_CLOSED,
                                  "the portal disconnected us (%s)",
                                  m->reason != NULL ? m->reason : "no reason given"),
                     -1);
      return;
    }
  g_signal_emit (self, signals[SIGNAL_MESSAGE], 0, m);
}

static void
ws_message_cb (SoupWebsocketConnection *ws, int type, GBytes *bytes, gpointer data)
{
  FzPortalChannel *self = data;
  if (type != SOUP_WEBSOCKET_DATA_TEXT)
    {
      g_debug ("portal: binary frame ignored");
      return;
    }
  /* A message completed after we failed the socket is not one. */
  if (soup_websocket_connection_get_state (ws) != SOUP_WEBSOCKET_STATE_OPEN)
    return;
  gsize len;
  const char *text = g_bytes_get_data (bytes, &len);
  g_autoptr (GError) error = NULL;
  g_autoptr (FzPhoenixFrame) f = fz_phoenix_frame_parse (text, len, &error);
  if (f == NULL)
    {
      g_message ("portal: skipping a frame: %s", error->message);
      return;
    }
  /* A handler may stop or drop the channel while we still use it. */
  g_object_ref (self);
  handle_frame (self, f);
  g_object_unref (self);
}

static void
ws_closed_cb (SoupWebsocketConnection *ws, gpointer data)
{
  FzPortalChannel *self = data;
  gushort code = soup_websocket_connection_get_close_code (ws);
  retry_later (self,
               g_error_new (FZ_PORTAL_CHANNEL_ERROR, FZ_PORTAL_CHANNEL_ERROR_CLOSED,
                            "the connection to the portal closed (code %u)", code),
               -1);
}

static void
ws_error_cb (SoupWebsocketConnection *ws, GError *error, gpointer data)
{
  g_debug ("portal: socket error: %s", error->message);
}

/* Retry-After as seconds or an HTTP date, in us; -1 when absent or
 * unusable. */
static gint64
parse_retry_after (const char *value)
{
  if (value == NULL)
    return -1;
  guint64 secs;
  if (g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT32, &secs, NULL))
    return MIN ((gint64) secs * G_USEC_PER_SEC, MAX_RETRY_AFTER);
  g_autoptr (GDateTime) when = soup_date_time_new_from_http_string (value);
  if (when == NULL)
    return -1;
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  return CLAMP (g_date_time_difference (when, now), 0, MAX_RETRY_AFTER);
}

/* The socket gets its mark before it connects: a client's routes (the
 * Internet resource's 0/0 among them) are for unmarked traffic, and the
 * portal's connection must not go into the tunnel it controls. */
static void
network_event_cb (SoupMessage *msg, GSocketClientEvent event, GIOStream *stream,
                  gpointer data)
{
  FzPortalChannel *self = data;
  g_autoptr (GError) error = NULL;

  if (event != G_SOCKET_CLIENT_CONNECTING || !G_IS_SOCKET_CONNECTION (stream))
    return;
  if (g_socket_set_option (g_socket_connection_get_socket (G_SOCKET_CONNECTION (stream)),
                           SOL_SOCKET, SO_MARK, (gint) self->fwmark, &error)
      || self->mark_failed)
    return;
  self->mark_failed = TRUE;
  g_message ("portal: cannot mark the connection (%s): with the Internet resource on, "
             "it would go through the tunnel",
             error->message);
}

/* A GET of the portal URL with the token, tagged with its channel. */
static SoupMessage *
new_request (FzPortalChannel *self)
{
  SoupMessage *msg = soup_message_new (SOUP_METHOD_GET, self->url);
  g_autofree char *auth = g_strdup_printf ("Bearer %s", self->token);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Authorization",
                                auth);
  memset (auth, 0, strlen (auth));
  g_object_set_data (G_OBJECT (msg), "fz-channel", self);
  fz_phoenix_limit_prepare (msg);
  if (self->fwmark != 0)
    g_signal_connect (msg, "network-event", G_CALLBACK (network_event_cb), self);
  return msg;
}

static void
unauthorized (FzPortalChannel *self, const char *code)
{
  fail_for_good (self, g_error_new (FZ_PORTAL_CHANNEL_ERROR,
                                    FZ_PORTAL_CHANNEL_ERROR_UNAUTHORIZED,
                                    "the portal rejected the token: %s (HTTP 401)",
                                    code != NULL ? code : "no reason given"));
}

/* The "code" of an application/problem+json body, if it is a short
 * plain word. */
static char *
problem_code (GBytes *body)
{
  if (body == NULL || g_bytes_get_size (body) > 4096)
    return NULL;
  g_autoptr (JsonNode) root = fz_phoenix_json_parse (g_bytes_get_data (body, NULL),
                                                     g_bytes_get_size (body), NULL);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  JsonNode *code = json_object_get_member (json_node_get_object (root), "code");
  if (code == NULL || json_node_get_value_type (code) != G_TYPE_STRING)
    return NULL;
  const char *c = json_node_get_string (code);
  if (*c == '\0' || strlen (c) > 64)
    return NULL;
  for (const char *p = c; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-')
      return NULL;
  return g_strdup (c);
}

static void
problem_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (SoupMessage) msg = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body
    = soup_session_send_and_read_finish (SOUP_SESSION (source), res, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  FzPortalChannel *self = g_object_get_data (G_OBJECT (msg), "fz-channel");
  g_autofree char *code = soup_message_get_status (msg) == SOUP_STATUS_UNAUTHORIZED
                            ? problem_code (body)
                            : NULL;
  unauthorized (self, code);
}

static gboolean
problem_timeout_cb (gpointer data)
{
  FzPortalChannel *self = data;
  timer_fired (&self->timer);
  unauthorized (self, NULL);
  return G_SOURCE_REMOVE;
}

/* libsoup does not keep the body of a refused WebSocket handshake, so a
 * 401 is asked again as a plain GET to learn the problem's code (for
 * "invalid_token" versus "missing_token"). Fatal either way. */
static void
fetch_problem (FzPortalChannel *self)
{
  SoupMessage *msg = new_request (self);
  self->cancel = g_cancellable_new ();
  self->timer = timeout_us (self, 5 * G_USEC_PER_SEC, problem_timeout_cb);
  g_main_context_push_thread_default (self->context);
  soup_session_send_and_read_async (self->session, msg, G_PRIORITY_DEFAULT, self->cancel,
                                    problem_cb, msg);
  g_main_context_pop_thread_default (self->context);
}

static void
connected_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (SoupMessage) msg = data;
  g_autoptr (GError) error = NULL;
  SoupWebsocketConnection *ws
    = soup_session_websocket_connect_finish (SOUP_SESSION (source), res, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* stopped, or timed out: handled there */
  FzPortalChannel *self = g_object_get_data (G_OBJECT (msg), "fz-channel");
  clear_timer (&self->timer);
  g_clear_object (&self->cancel);
  if (ws == NULL)
    {
      guint status = soup_message_get_status (msg);
      SoupMessageHeaders *h = soup_message_get_response_headers (msg);
      if (status == SOUP_STATUS_UNAUTHORIZED)
        {
          fetch_problem (self);
          return;
        }
      if (status >= 300)
        {
          g_debug ("portal: refused with %u, Retry-After: %s", status,
                   soup_message_headers_get_one (h, "Retry-After"));
          /* 409: the usual cause is a cloned machine id. */
          const char *hint = status == SOUP_STATUS_CONFLICT
                               ? "; a device with the same id is already connected "
                                 "(give each its own FIREZONE_ID or machine id)"
                               : "";
          retry_later (
            self,
            g_error_new (FZ_PORTAL_CHANNEL_ERROR, FZ_PORTAL_CHANNEL_ERROR_HTTP,
                         "the portal refused the connection (HTTP %u %s)%s", status,
                         soup_message_get_reason_phrase (msg), hint),
            parse_retry_after (soup_message_headers_get_one (h, "Retry-After")));
          return;
        }
      retry_later (self,
                   g_error_new (FZ_PORTAL_CHANNEL_ERROR, FZ_PORTAL_CHANNEL_ERROR_CLOSED,
                                "cannot connect to the portal: %s", error->message),
                   -1);
      return;
    }
  self->ws = ws;
  self->next_ref = 0;
  self->outstanding = 0;
  self->last_heartbeat_ref = -1;
  soup_websocket_connection_set_max_incoming_payload_size (ws, FZ_PHOENIX_MAX_FRAME);
  g_signal_connect (ws, "message", G_CALLBACK (ws_message_cb), self);
  g_signal_connect (ws, "closed", G_CALLBACK (ws_closed_cb), self);
  g_signal_connect (ws, "error", G_CALLBACK (ws_error_cb), self);
  self->heartbeat_timer = timeout_us (self, self->timing.heartbeat, heartbeat_cb);
  send_join (self);
}

static gboolean
handshake_timeout_cb (gpointer data)
{
  FzPortalChannel *self = data;
  timer_fired (&self->timer);
  retry_later (self,
               g_error_new_literal (FZ_PORTAL_CHANNEL_ERROR,
                                    FZ_PORTAL_CHANNEL_ERROR_TIMEOUT,
                                    "connecting to the portal timed out"),
               -1);
  return G_SOURCE_REMOVE;
}

static void
connect_now (FzPortalChannel *self)
{
  teardown (self);
  SoupMessage *msg = new_request (self);
  self->cancel = g_cancellable_new ();
  self->timer = timeout_us (self, self->timing.handshake, handshake_timeout_cb);
  set_state (self, FZ_PORTAL_CHANNEL_CONNECTING);
  /* The message holds no reference: a stopped channel cancels first. */
  g_main_context_push_thread_default (self->context);
  soup_session_websocket_connect_async (
    self->session, msg, NULL, NULL, G_PRIORITY_DEFAULT, self->cancel, connected_cb, msg);
  g_main_context_pop_thread_default (self->context);
}

FzPortalChannel *
fz_portal_channel_new (const FzPortalChannelConfig *config, GError **error)
{
  g_return_val_if_fail (config->role == FZ_PORTAL_ROLE_CLIENT
                          || config->role == FZ_PORTAL_ROLE_GATEWAY,
                        NULL);
  g_autoptr (GUri) uri = g_uri_parse (config->url, G_URI_FLAGS_ENCODED, error);
  if (uri == NULL)
    return NULL;
  const char *scheme = g_uri_get_scheme (uri);
  if (g_strcmp0 (scheme, "ws") != 0 && g_strcmp0 (scheme, "wss") != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "the portal URL must be ws:// or wss://, not %s://", scheme);
      return NULL;
    }
  g_autofree char *token
    = g_strstrip (g_strdup (config->token != NULL ? config->token : ""));
  if (*token == '\0' || strpbrk (token, " \t\r\n") != NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           *token == '\0' ? "no token given"
                                          : "the token contains whitespace");
      return NULL;
    }
  g_autoptr (GTlsDatabase) db = NULL;
  if (config->ca_file != NULL)
    {
      db = g_tls_file_database_new (config->ca_file, error);
      if (db == NULL)
        return NULL;
    }

  FzPortalChannel *self = g_object_new (FZ_TYPE_PORTAL_CHANNEL, NULL);
  self->context = g_main_context_ref_thread_default ();
  self->url = g_strdup (config->url);
  self->token = g_steal_pointer (&token);
  self->user_agent = g_strdup (config->user_agent);
  self->role = config->role;
  self->topic = config->role == FZ_PORTAL_ROLE_GATEWAY ? "gateway" : "client";
  self->session = soup_session_new_with_options ("user-agent", self->user_agent, NULL);
  /* A proxy only when the environment names one: the desktop's resolver
   * (libproxy) would run scripts and plugins inside a root service. */
  const char *proxy = g_getenv ("https_proxy");
  if (proxy == NULL || *proxy == '\0')
    proxy = g_getenv ("all_proxy");
  g_autoptr (GProxyResolver) resolver
    = proxy != NULL && *proxy != '\0' ? g_simple_proxy_resolver_new (
        proxy, (char **) (const char *const[]){ "localhost", "127.0.0.0/8", "::1", NULL })
                                      : NULL;
  soup_session_set_proxy_resolver (self->session, resolver);
  fz_phoenix_limit_add_to_session (self->session);
  if (db != NULL)
    soup_session_set_tls_database (self->session, db);
  self->budget = config->budget;
  self->fwmark = config->fwmark;
  return self;
}

void
fz_portal_channel_set_timing (FzPortalChannel *self, const FzPortalChannelTiming *timing)
{
  self->timing = *timing;
}

void
fz_portal_channel_start (FzPortalChannel *self)
{
  if (self->state == FZ_PORTAL_CHANNEL_CONNECTING
      || self->state == FZ_PORTAL_CHANNEL_JOINING
      || self->state == FZ_PORTAL_CHANNEL_JOINED)
    return;
  if (self->state == FZ_PORTAL_CHANNEL_FAILED || self->state == FZ_PORTAL_CHANNEL_STOPPED)
    {
      /* A fresh start: the policy counts from here. */
      g_clear_error (&self->error);
      fz_reconnect_policy_init (&self->policy, self->budget, fz_rng_system ());
      self->policy.first_budget = self->timing.first_budget;
    }
  connect_now (self);
}

void
fz_portal_channel_stop (FzPortalChannel *self)
{
  teardown (self);
  g_queue_clear_full (&self->queue, (GDestroyNotify) outgoing_free);
  set_state (self, FZ_PORTAL_CHANNEL_STOPPED);
}

void
fz_portal_channel_reconnect (FzPortalChannel *self)
{
  if (self->state == FZ_PORTAL_CHANNEL_STOPPED || self->state == FZ_PORTAL_CHANNEL_FAILED)
    return;
  g_message ("portal: reconnecting (the connections start over)");
  connect_now (self);
}

void
fz_portal_channel_send (FzPortalChannel *self, const FzPortalMessage *m)
{
  Outgoing *o = g_new0 (Outgoing, 1);
  o->event = g_strdup (fz_portal_event_name (m->event));
  o->payload = fz_portal_message_encode (m);
  if (g_queue_get_length (&self->queue) >= FZ_PORTAL_CHANNEL_MAX_QUEUE)
    {
      g_message ("portal: the outbound queue is full; dropping the oldest message");
      outgoing_free (g_queue_pop_head (&self->queue));
    }
  g_queue_push_tail (&self->queue, o);
  flush_queue (self);
}

FzPortalChannelState
fz_portal_channel_get_state (FzPortalChannel *self)
{
  return self->state;
}

const GError *
fz_portal_channel_get_error (FzPortalChannel *self)
{
  return self->error;
}

guint
fz_portal_channel_get_queue_length (FzPortalChannel *self)
{
  return g_queue_get_length (&self->queue);
}

static void
fz_portal_channel_dispose (GObject *object)
{
  FzPortalChannel *self = FZ_PORTAL_CHANNEL (object);
  teardown (self);
  g_clear_object (&self->session);
  G_OBJECT_CLASS (fz_portal_channel_parent_class)->dispose (object);
}

static void
fz_portal_channel_finalize (GObject *object)
{
  FzPortalChannel *self = FZ_PORTAL_CHANNEL (object);
  g_queue_clear_full (&self->queue, (GDestroyNotify) outgoing_free);
  g_clear_error (&self->error);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self->url);
  /* The token is a secret: do not leave it in freed memory. */
  if (self->token != NULL)
    memset (self->token, 0, strlen (self->token));
  g_free (self->token);
  g_free (self->user_agent);
  G_OBJECT_CLASS (fz_portal_channel_parent_class)->finalize (object);
}

static void
fz_portal_channel_class_init (FzPortalChannelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->dispose = fz_portal_channel_dispose;
  object_class->finalize = fz_portal_channel_finalize;
  signals[SIGNAL_MESSAGE]
    = g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                    NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  signals[SIGNAL_STATE_CHANGED]
    = g_signal_new ("state-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                    NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT);
}

static void
fz_portal_channel_init (FzPortalChannel *self)
{
  self->timing = (FzPortalChannelTiming){
    .heartbeat = 10 * G_USEC_PER_SEC,
    .join_timeout = 5 * G_USEC_PER_SEC,
    .handshake = 15 * G_USEC_PER_SEC,
    .first_budget = FZ_RECONNECT_FIRST_BUDGET,
  };
  self->join_ref = -1;
  self->last_heartbeat_ref = -1;
  g_queue_init (&self->queue);
}
