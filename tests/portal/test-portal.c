/* FzPortalChannel against a real fz-portal on loopback: join, init,
 * heartbeats, idle timeout, reconnects, refusals, budgets, the
 * authorization flow with two gateways, sign-in, reload and TLS.
 *
 * Each test writes a config into a fresh directory, starts fz-portal on
 * port 0 and reads the port it prints. */
#include "child-setup.h"
#include "fz-private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libsoup/soup.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define GATEWAY_TOKEN "fzt_gateway-token-for-tests-0123456789abcdefghij"
#define CLIENT_TOKEN  "fzt_client-token-for-tests-0123456789abcdefghijk"
#define RELAY_SECRET  "relay-shared-secret"
#define PASSWORD      "correct horse battery staple"

static const char *portal_bin;
static const char *peer_version = "1.4.0"; /* of the next peer made */
static char *password_hash;

typedef struct
{
  char *dir, *conf;
  GSubprocess *proc;
  char *url; /* http://127.0.0.1:PORT/ */
  guint16 port;
} Portal;

/* ---- Running fz-portal -------------------------------------------- */

static char *
config_text (const char *portal_extra, const char *extra)
{
  g_autofree char *gw_hash
    = g_compute_checksum_for_string (G_CHECKSUM_SHA256, GATEWAY_TOKEN, -1);
  g_autofree char *cl_hash
    = g_compute_checksum_for_string (G_CHECKSUM_SHA256, CLIENT_TOKEN, -1);
  return g_strdup_printf (
    "[portal]\naccount_slug = acme\naccount_name = Acme <Test>\n"
    "idle_timeout = 30\nsearch_domain = corp.example\n"
    "upstream_do53 = 10.0.0.53\n%s\n"
    "[relay main]\naddresses = 127.0.0.1:3478; [::1]:3478\nsecret = " RELAY_SECRET "\n"
    "[site HQ]\n[site Branch]\n[site Empty]\n"
    "[gateway-token hq]\nsite = HQ\ntoken_hash = %s\n"
    "[user alice]\nname = Alice Example\npassword_hash = %s\n"
    "token_hashes = %s\n"
    "[user bob]\n"
    "[resource Lab]\ntype = cidr\naddress = 172.16.0.0/16\nsites = HQ\n"
    "filters = tcp:22; icmp\n"
    "[resource Secret]\ntype = cidr\naddress = 10.9.0.0/16\nsites = HQ\n"
    "[resource Nowhere]\ntype = dns\naddress = *.nowhere.example\n"
    "sites = Empty\n"
    "[policy main]\nusers = alice\nresources = Lab; Nowhere\n%s",
    portal_extra, gw_hash, password_hash, cl_hash, extra);
}

static void
portal_write (Portal *p, const char *portal_extra, const char *extra)
{
  g_autofree char *text = config_text (portal_extra, extra);
  g_autoptr (GError) error = NULL;
  g_file_set_contents_full (p->conf, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                            &error);
  g_assert_no_error (error);
}

/* Starts fz-portal on @p's config, with extra launcher @flags, a child
 * @setup and, unless -1, @stderr_fd as its stderr; @p->url and @p->port
 * from the line it prints (port 0 the first time: it picks one). */
static void
portal_spawn (Portal *p, GSubprocessFlags flags, GSpawnChildSetupFunc setup,
              int stderr_fd)
{
  g_autoptr (GSubprocessLauncher) l
    = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | flags);
  if (stderr_fd >= 0)
    g_subprocess_launcher_take_stderr_fd (l, stderr_fd);
  /* Its own warnings (a refused reload) are expected; criticals are not. */
  g_subprocess_launcher_setenv (l, "G_DEBUG", "fatal-criticals", TRUE);
  /* GLib 2.74's slices hide leaks from LeakSanitizer. */
  g_subprocess_launcher_setenv (l, "G_SLICE", "always-malloc", TRUE);
  g_subprocess_launcher_set_child_setup (l, setup, NULL, NULL);
  g_autofree char *listen = g_strdup_printf ("127.0.0.1:%u", p->port);
  g_autoptr (GError) error = NULL;
  p->proc = g_subprocess_launcher_spawn (l, &error, portal_bin, "--config", p->conf,
                                         "--listen", listen, NULL);
  g_assert_no_error (error);
  g_autoptr (GDataInputStream) in
    = g_data_input_stream_new (g_subprocess_get_stdout_pipe (p->proc));
  g_autofree char *line = g_data_input_stream_read_line (in, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  const char *at = strstr (line, "listening on ");
  g_assert_nonnull (at);
  g_free (p->url);
  p->url = g_strdup (at + strlen ("listening on "));
  const char *colon = strrchr (p->url, ':');
  p->port = (guint16) atoi (colon + 1);
}

static void
portal_start (Portal *p)
{
  portal_spawn (p, 0, fz_test_die_with_parent, -1);
}

/* Stops it with SIGTERM and checks it exited cleanly (no leaks). */
static void
portal_stop (Portal *p)
{
  if (p->proc == NULL)
    return;
  g_subprocess_send_signal (p->proc, SIGTERM);
  g_autoptr (GError) error = NULL;
  g_subprocess_wait (p->proc, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (p->proc));
  g_assert_cmpint (g_subprocess_get_exit_status (p->proc), ==, 0);
  g_clear_object (&p->proc);
}

static void
portal_kill (Portal *p)
{
  g_subprocess_force_exit (p->proc);
  g_subprocess_wait (p->proc, NULL, NULL);
  g_clear_object (&p->proc);
}

static void
portal_reload (Portal *p)
{
  g_subprocess_send_signal (p->proc, SIGHUP);
}

static void
portal_setup (Portal *p, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  p->dir = g_dir_make_tmp ("fz-portal-test-XXXXXX", &error);
  g_assert_no_error (error);
  p->conf = g_build_filename (p->dir, "fz-portal.conf", NULL);
  portal_write (p, data != NULL ? data : "", "");
  portal_start (p);
}

static void
portal_teardown (Portal *p, gconstpointer data)
{
  portal_stop (p);
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", p->dir);
  g_assert_cmpint (system (cmd), ==, 0);
  g_free (p->dir);
  g_free (p->conf);
  g_free (p->url);
}

/* ---- Channels ----------------------------------------------------- */

typedef struct
{
  FzPortalChannel *ch;
  gboolean gateway;
  guint8 key[32];
  char *key_b64;
  GPtrArray *messages; /* FzPortalMessage copies, as JSON of their decode */
  GPtrArray *events;   /* char* event names, in order */
  GPtrArray *raw;      /* FzPortalMessage* kept by stealing fields */
  guint connects, joins;
  gboolean answer; /* gateways: answer create_authorization */
} Peer;

static void
message_cb (FzPortalChannel *ch, FzPortalMessage *m, Peer *peer)
{
  g_ptr_array_add (peer->events, g_strdup (m->event_name));
  g_ptr_array_add (peer->messages, fz_portal_message_to_json (m));
  /* Keep the typed fields the tests look at. */
  FzPortalMessage *copy = fz_portal_message_new (m->event);
  copy->peer_id = g_strdup (m->peer_id);
  copy->resource_id = g_strdup (m->resource_id);
  copy->reason = g_strdup (m->reason);
  copy->ref = g_strdup (m->ref);
  copy->has_psk = m->has_psk;
  memcpy (copy->psk, m->psk, 32);
  copy->has_peer_key = m->has_peer_key;
  memcpy (copy->peer_key, m->peer_key, 32);
  copy->client_ice.username = g_strdup (m->client_ice.username);
  copy->client_ice.password = g_strdup (m->client_ice.password);
  copy->gateway_ice.username = g_strdup (m->gateway_ice.username);
  copy->gateway_ice.password = g_strdup (m->gateway_ice.password);
  copy->peer_ipv4 = m->peer_ipv4;
  copy->expires_at = m->expires_at;
  g_array_append_vals (copy->candidates, m->candidates->data, m->candidates->len);
  for (guint i = 0; i < m->disconnected->len; i++)
    g_ptr_array_add (copy->disconnected, g_strdup (m->disconnected->pdata[i]));
  if (m->interface != NULL)
    {
      copy->interface = g_new0 (FzInterface, 1);
      copy->interface->ipv4 = m->interface->ipv4;
      copy->interface->ipv6 = m->interface->ipv6;
    }
  for (guint i = 0; i < m->resources->len; i++)
    {
      g_autoptr (JsonNode) n = fz_resource_encode (m->resources->pdata[i]);
      g_ptr_array_add (copy->resources, fz_resource_decode (n, NULL));
    }
  for (guint i = 0; i < m->relays->len; i++)
    {
      const FzRelay *r = m->relays->pdata[i];
      FzRelay *c = g_new0 (FzRelay, 1);
      c->id = g_strdup (r->id);
      c->v4 = r->v4;
      c->v6 = r->v6;
      c->username = g_strdup (r->username);
      c->password = g_strdup (r->password);
      c->expires_at = r->expires_at;
      g_ptr_array_add (copy->relays, c);
    }
  g_ptr_array_add (peer->raw, copy);

  if (peer->gateway && peer->answer && m->event == FZ_PORTAL_CREATE_AUTHORIZATION)
    {
      g_autoptr (FzPortalMessage) ok
        = fz_portal_message_new (FZ_PORTAL_AUTHORIZATION_CREATED_REF);
      ok->ref = g_strdup (m->ref);
      fz_portal_channel_send (ch, ok);
    }
}

static void
state_cb (FzPortalChannel *ch, int state, Peer *peer)
{
  if (state == FZ_PORTAL_CHANNEL_CONNECTING)
    peer->connects++;
  if (state == FZ_PORTAL_CHANNEL_JOINED)
    peer->joins++;
}

static Peer *
peer_new_full (const char *url, gboolean gateway, const char *token,
               const char *external_id, const char *ca_file, gint64 budget)
{
  Peer *peer = g_new0 (Peer, 1);
  peer->gateway = gateway;
  peer->answer = TRUE;
  randombytes_buf (peer->key, sizeof peer->key);
  peer->key_b64 = g_base64_encode (peer->key, 32);
  peer->messages = g_ptr_array_new_with_free_func (g_free);
  peer->events = g_ptr_array_new_with_free_func (g_free);
  peer->raw = g_ptr_array_new_with_free_func ((GDestroyNotify) fz_portal_message_free);
  FzPortalUrlParams params
    = { .external_id = external_id, .name = external_id, .public_key = peer->key };
  g_autoptr (GError) error = NULL;
  g_autofree char *ws = fz_portal_url (url, gateway, &params, &error);
  g_assert_no_error (error);
  g_autofree char *ua
    = fz_portal_user_agent ("Linux", "12", gateway ? "gateway" : "headless-client",
                            peer_version, "x86_64", "6.1.0");
  FzPortalChannelConfig cfg = {
    .url = ws,
    .token = token,
    .user_agent = ua,
    .role = gateway ? FZ_PORTAL_ROLE_GATEWAY : FZ_PORTAL_ROLE_CLIENT,
    .budget = budget,
    .ca_file = ca_file,
  };
  peer->ch = fz_portal_channel_new (&cfg, &error);
  g_assert_no_error (error);
  g_signal_connect (peer->ch, "message", G_CALLBACK (message_cb), peer);
  g_signal_connect (peer->ch, "state-changed", G_CALLBACK (state_cb), peer);
  return peer;
}

static Peer *
peer_new (Portal *p, gboolean gateway, const char *external_id)
{
  return peer_new_full (p->url, gateway, gateway ? GATEWAY_TOKEN : CLIENT_TOKEN,
                        external_id, NULL, FZ_RECONNECT_UNLIMITED);
}

static void
peer_free (Peer *peer)
{
  if (peer == NULL)
    return;
  if (peer->ch != NULL)
    {
      fz_portal_channel_stop (peer->ch);
      g_object_unref (peer->ch);
    }
  g_free (peer->key_b64);
  g_ptr_array_unref (peer->messages);
  g_ptr_array_unref (peer->events);
  g_ptr_array_unref (peer->raw);
  g_free (peer);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Peer, peer_free)

static gboolean
deadline_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main loop until @cond holds or @seconds pass. */
#define WAIT_FOR(cond, seconds)                                                          \
  G_STMT_START                                                                           \
  {                                                                                      \
    gboolean expired_ = FALSE;                                                           \
    guint t_ = g_timeout_add ((guint) ((seconds) *1000), deadline_cb, &expired_);        \
    while (!(cond) && !expired_)                                                         \
      g_main_context_iteration (NULL, TRUE);                                             \
    if (!expired_)                                                                       \
      g_source_remove (t_);                                                              \
    if (!(cond))                                                                         \
      g_error ("timed out after %g s waiting for %s", (double) (seconds), #cond);        \
  }                                                                                      \
  G_STMT_END

/* Runs the main loop for @seconds. */
static void
run_for (double seconds)
{
  gboolean expired = FALSE;
  g_timeout_add ((guint) (seconds * 1000), deadline_cb, &expired);
  while (!expired)
    g_main_context_iteration (NULL, TRUE);
}

static gboolean
joined (Peer *peer)
{
  return fz_portal_channel_get_state (peer->ch) == FZ_PORTAL_CHANNEL_JOINED;
}

static guint
count_event (Peer *peer, const char *event)
{
  guint n = 0;
  for (guint i = 0; i < peer->events->len; i++)
    n += strcmp (peer->events->pdata[i], event) == 0;
  return n;
}

static FzPortalMessage *
last_event (Peer *peer, const char *event)
{
  for (guint i = peer->raw->len; i-- > 0;)
    if (strcmp (((FzPortalMessage *) peer->raw->pdata[i])->event_name, event) == 0)
      return peer->raw->pdata[i];
  return NULL;
}

static void
set_timing (Peer *peer, double heartbeat, double first_budget)
{
  FzPortalChannelTiming t = {
    .heartbeat = (gint64) (heartbeat * G_USEC_PER_SEC),
    .join_timeout = 5 * G_USEC_PER_SEC,
    .handshake = 15 * G_USEC_PER_SEC,
    .first_budget = (gint64) (first_budget * G_USEC_PER_SEC),
  };
  fz_portal_channel_set_timing (peer->ch, &t);
}

static void
connect_and_join (Peer *peer)
{
  fz_portal_channel_start (peer->ch);
  WAIT_FOR (joined (peer) && count_event (peer, "init") > 0, 10);
}

/* ---- Tests -------------------------------------------------------- */

static void
test_join_and_init (Portal *p, gconstpointer data)
{
  g_autoptr (Peer) c = peer_new (p, FALSE, "laptop-1");
  connect_and_join (c);
  FzPortalMessage *init = last_event (c, "init");
  g_assert_cmpuint (c->connects, ==, 1);
  /* alice sees Lab and Nowhere, not Secret. */
  g_assert_cmpuint (init->resources->len, ==, 2);
  const FzResource *lab = init->resources->pdata[0];
  g_assert_cmpstr (lab->name, ==, "Lab");
  g_assert_cmpstr (lab->address, ==, "172.16.0.0/16");
  g_assert_cmpuint (lab->filters->len, ==, 2);
  g_assert_cmpuint (g_array_index (lab->filters, FzFilter, 0).port_start, ==, 22);
  g_assert_cmpuint (lab->sites->len, ==, 1);
  /* Addresses from the CGNAT and ULA pools. */
  g_assert_cmpuint (init->interface->ipv4.family, ==, 4);
  g_assert_cmpuint (init->interface->ipv4.bytes[0], ==, 100);
  g_assert_cmpuint (init->interface->ipv4.bytes[1] & 0xe0, ==, 64);
  g_assert_cmpuint (init->interface->ipv6.bytes[0], ==, 0xfd);
  /* One relay, both families merged, with coturn REST credentials. */
  g_assert_cmpuint (init->relays->len, ==, 1);
  const FzRelay *r = init->relays->pdata[0];
  g_assert_cmpuint (r->v4.port, ==, 3478);
  g_assert_cmpuint (r->v6.ip.family, ==, 6);
  g_assert_cmpint (r->expires_at, ==, 2145916800);
  g_assert_true (g_str_has_prefix (r->username, "2145916800:"));
  guint8 mac[20];
  gsize n = sizeof mac;
  g_autoptr (GHmac) h
    = g_hmac_new (G_CHECKSUM_SHA1, (const guchar *) RELAY_SECRET, strlen (RELAY_SECRET));
  g_hmac_update (h, (const guchar *) r->username, -1);
  g_hmac_get_digest (h, mac, &n);
  g_autofree char *expect = g_base64_encode (mac, n);
  g_assert_cmpstr (r->password, ==, expect);

  /* The same device gets the same addresses when it comes back. */
  FzIpAddr v4 = init->interface->ipv4;
  fz_portal_channel_stop (c->ch);
  connect_and_join (c);
  g_assert_true (fz_ip_addr_equal (&last_event (c, "init")->interface->ipv4, &v4));

  /* /healthz counts who is connected. */
  g_autoptr (SoupSession) s = soup_session_new ();
  soup_session_set_proxy_resolver (s, NULL);
  g_autofree char *hz = g_strdup_printf ("%shealthz", p->url);
  g_autoptr (SoupMessage) m = soup_message_new ("GET", hz);
  g_autoptr (GBytes) body = soup_session_send_and_read (s, m, NULL, NULL);
  g_assert_cmpuint (soup_message_get_status (m), ==, 200);
  g_assert_cmpmem (g_bytes_get_data (body, NULL), g_bytes_get_size (body),
                   "{\"status\":\"ok\",\"clients\":1,\"gateways\":0}", 40);

  /* no_relays is answered with relays_presence. */
  g_autoptr (FzPortalMessage) nr = fz_portal_message_new (FZ_PORTAL_NO_RELAYS);
  fz_portal_channel_send (c->ch, nr);
  WAIT_FOR (count_event (c, "relays_presence") == 1, 5);
  g_assert_cmpuint (last_event (c, "relays_presence")->relays->len, ==, 1);
}

static void
test_heartbeat_and_idle (Portal *p, gconstpointer data)
{
  /* idle_timeout = 2 (fixture data): heartbeats every 0.5 s keep one
   * channel up; one that is quiet for longer is closed and comes back. */
  g_autoptr (Peer) beating = peer_new (p, FALSE, "beating");
  g_autoptr (Peer) quiet = peer_new (p, FALSE, "quiet");
  set_timing (beating, 0.5, 15);
  set_timing (quiet, 30, 15);
  connect_and_join (beating);
  connect_and_join (quiet);
  WAIT_FOR (quiet->joins >= 2, 10);
  g_assert_cmpuint (quiet->connects, >=, 2);
  g_assert_cmpuint (beating->connects, ==, 1);
  g_assert_cmpuint (beating->joins, ==, 1);
  g_assert_true (joined (beating));
}

static void
test_unauthorized (Portal *p, gconstpointer data)
{
  g_autoptr (Peer) c = peer_new_full (p->url, FALSE, "fzt_not-a-valid-token", "x", NULL,
                                      FZ_RECONNECT_UNLIMITED);
  fz_portal_channel_start (c->ch);
  WAIT_FOR (fz_portal_channel_get_state (c->ch) == FZ_PORTAL_CHANNEL_FAILED, 5);
  const GError *e = fz_portal_channel_get_error (c->ch);
  g_assert_error (e, FZ_PORTAL_CHANNEL_ERROR, FZ_PORTAL_CHANNEL_ERROR_UNAUTHORIZED);
  g_assert_cmpstr (e->message, ==,
                   "the portal rejected the token: invalid_token (HTTP 401)");
  /* Fatal: no second try. */
  run_for (1.5);
  g_assert_cmpuint (c->connects, ==, 1);

  /* The token may also come as ?token=: a good one passes admission
   * (and then a plain GET is no WebSocket: 400), a bad one is 401. */
  g_autoptr (SoupSession) s = soup_session_new ();
  soup_session_set_proxy_resolver (s, NULL);
  FzPortalUrlParams params = { .external_id = "q", .public_key = c->key };
  g_autofree char *ws = fz_portal_url (p->url, FALSE, &params, NULL);
  const char *tokens[] = { CLIENT_TOKEN, "fzt_wrong" };
  const guint want[] = { 400, 401 };
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *http = g_strdup_printf ("http%s&token=%s", ws + 2, tokens[i]);
      g_autoptr (SoupMessage) m = soup_message_new ("GET", http);
      soup_message_headers_replace (soup_message_get_request_headers (m), "User-Agent",
                                    "Linux/12 headless-client/1.4.0 (x86_64; 6.1.0)");
      g_bytes_unref (soup_session_send_and_read (s, m, NULL, NULL));
      g_assert_cmpuint (soup_message_get_status (m), ==, want[i]);
    }

  /* A gateway token is not a client token, and the reverse. */
  g_autoptr (Peer) g
    = peer_new_full (p->url, TRUE, CLIENT_TOKEN, "gw", NULL, FZ_RECONNECT_UNLIMITED);
  fz_portal_channel_start (g->ch);
  WAIT_FOR (fz_portal_channel_get_state (g->ch) == FZ_PORTAL_CHANNEL_FAILED, 5);
  g_assert_error (fz_portal_channel_get_error (g->ch), FZ_PORTAL_CHANNEL_ERROR,
                  FZ_PORTAL_CHANNEL_ERROR_UNAUTHORIZED);
}

static double
now_s (void)
{
  return (double) g_get_monotonic_time () / G_USEC_PER_SEC;
}

static void
test_retry_after (Portal *p, gconstpointer data)
{
  /* connect_limit = 1 per 3 s (fixture data): the second channel is
   * refused with 503 and Retry-After, and waits that long, not 1 s. */
  g_autoptr (Peer) a = peer_new (p, FALSE, "first");
  g_autoptr (Peer) b = peer_new (p, FALSE, "second");
  connect_and_join (a);
  double start = now_s ();
  fz_portal_channel_start (b->ch);
  WAIT_FOR (fz_portal_channel_get_state (b->ch) == FZ_PORTAL_CHANNEL_WAITING, 5);
  WAIT_FOR (joined (b), 10);
  double took = now_s () - start;
  g_test_message ("second channel joined after %.2f s", took);
  g_assert_cmpfloat (took, >=, 1.9);
  g_assert_cmpuint (b->connects, ==, 2);
}

static void
test_first_budget (void)
{
  /* Nothing listens on the port: 1 s apart, a 3 s budget, then failed. */
  g_autoptr (GSocket) s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                        G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_assert_true (g_socket_bind (s, any, FALSE, NULL));
  g_autoptr (GSocketAddress) bound = g_socket_get_local_address (s, NULL);
  guint16 port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_socket_close (s, NULL); /* bound, never listening: connections are refused */
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u", port);
  g_autoptr (Peer) c
    = peer_new_full (url, FALSE, CLIENT_TOKEN, "x", NULL, FZ_RECONNECT_UNLIMITED);
  set_timing (c, 10, 3);
  double start = now_s ();
  fz_portal_channel_start (c->ch);
  WAIT_FOR (fz_portal_channel_get_state (c->ch) == FZ_PORTAL_CHANNEL_FAILED, 10);
  double took = now_s () - start;
  g_test_message ("gave up after %.2f s and %u tries", took, c->connects);
  g_assert_error (fz_portal_channel_get_error (c->ch), FZ_PORTAL_CHANNEL_ERROR,
                  FZ_PORTAL_CHANNEL_ERROR_GAVE_UP);
  g_assert_cmpuint (c->connects, ==, 4);
  g_assert_cmpfloat (took, >=, 2.9);
  g_assert_cmpfloat (took, <, 6);
}

static void
test_after_join_budget (Portal *p, gconstpointer data)
{
  /* After a join the budget is the sum of backoff delays: 2 s is spent
   * after a few tries once the portal is gone. */
  g_autoptr (Peer) c
    = peer_new_full (p->url, FALSE, CLIENT_TOKEN, "x", NULL, 2 * G_USEC_PER_SEC);
  connect_and_join (c);
  portal_kill (p);
  double start = now_s ();
  WAIT_FOR (fz_portal_channel_get_state (c->ch) == FZ_PORTAL_CHANNEL_FAILED, 10);
  double took = now_s () - start;
  g_test_message ("gave up after %.2f s and %u connects", took, c->connects);
  g_assert_error (fz_portal_channel_get_error (c->ch), FZ_PORTAL_CHANNEL_ERROR,
                  FZ_PORTAL_CHANNEL_ERROR_GAVE_UP);
  /* 0.5-1 s, then 0.75-1.25 s: the third delay would pass 2 s. */
  g_assert_cmpuint (c->connects, >=, 2);
  g_assert_cmpuint (c->connects, <=, 4);
  g_assert_cmpfloat (took, <, 4);
}

static void
request (Peer *c, const char *resource_id, const char *preferred_gateway)
{
  g_autoptr (FzPortalMessage) m = fz_portal_message_new (FZ_PORTAL_REQUEST_AUTHORIZATION);
  m->resource_id = g_strdup (resource_id);
  if (preferred_gateway != NULL)
    g_ptr_array_add (m->peer_ids, g_strdup (preferred_gateway));
  fz_portal_channel_send (c->ch, m);
}

static const char *
resource_id (Peer *c, const char *name)
{
  FzPortalMessage *init = last_event (c, "init");
  for (guint i = 0; i < init->resources->len; i++)
    {
      const FzResource *r = init->resources->pdata[i];
      if (strcmp (r->name, name) == 0)
        return r->id;
    }
  g_error ("no resource %s", name);
}

static void
check_credentials (Peer *c, Peer *g, FzPortalMessage *created, FzPortalMessage *create)
{
  /* The ICE credentials are the protocol's derivation from the ids and
   * keys; both sides get the same ones, and the same PSK. */
  const char *client_id = create->peer_id, *gateway_id = created->peer_id;
  g_autofree char *seed
    = g_strdup_printf ("%s:%s:%s:%s", client_id, c->key_b64, gateway_id, g->key_b64);
  guint8 d[32];
  gsize n = sizeof d;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, (const guchar *) seed, -1);
  g_checksum_get_digest (sum, d, &n);
  char h[53] = { 0 };
  static const char a[] = "abcdefghijklmnopqrstuvwxyz234567";
  for (int i = 0; i < 52; i++)
    {
      int bit = i * 5, byte = bit / 8, off = bit % 8;
      guint v = (guint) d[byte] << 8 | (byte + 1 < 32 ? d[byte + 1] : 0);
      h[i] = a[(v >> (11 - off)) & 31];
    }
  g_autofree char *cu = g_strndup (h, 4), *cp = g_strndup (h + 4, 22);
  g_autofree char *gu = g_strndup (h + 26, 4), *gp = g_strndup (h + 30, 22);
  g_assert_cmpstr (created->client_ice.username, ==, cu);
  g_assert_cmpstr (created->client_ice.password, ==, cp);
  g_assert_cmpstr (created->gateway_ice.username, ==, gu);
  g_assert_cmpstr (created->gateway_ice.password, ==, gp);
  g_assert_cmpstr (create->client_ice.username, ==, cu);
  g_assert_cmpstr (create->gateway_ice.password, ==, gp);
  g_assert_true (created->has_psk && create->has_psk);
  g_assert_cmpmem (created->psk, 32, create->psk, 32);
  g_assert_cmpmem (created->peer_key, 32, g->key, 32);
  g_assert_cmpmem (create->peer_key, 32, c->key, 32);
}

static void
test_authorization (Portal *p, gconstpointer data)
{
  g_autoptr (Peer) c = peer_new (p, FALSE, "laptop");
  g_autoptr (Peer) g1 = peer_new (p, TRUE, "gw-1");
  g_autoptr (Peer) g2 = peer_new (p, TRUE, "gw-2");
  connect_and_join (c);
  connect_and_join (g1);
  connect_and_join (g2);
  FzPortalMessage *ginit = last_event (g1, "init");
  g_assert_cmpuint (ginit->relays->len, ==, 1);

  const char *lab = resource_id (c, "Lab");
  request (c, lab, NULL);
  WAIT_FOR (count_event (c, "authorization_created") == 1, 5);
  FzPortalMessage *created = last_event (c, "authorization_created");
  Peer *chosen = count_event (g1, "create_authorization") == 1 ? g1 : g2;
  Peer *other = chosen == g1 ? g2 : g1;
  g_assert_cmpuint (count_event (chosen, "create_authorization"), ==, 1);
  g_assert_cmpuint (count_event (other, "create_authorization"), ==, 0);
  FzPortalMessage *create = last_event (chosen, "create_authorization");
  g_assert_cmpstr (
    create->resources->len ? ((FzResource *) create->resources->pdata[0])->id : NULL, ==,
    lab);
  check_credentials (c, chosen, created, create);
  g_autofree char *gateway_id = g_strdup (created->peer_id);
  g_autofree char *client_id = g_strdup (create->peer_id);

  /* Candidates pass between the pair, both ways. */
  g_autoptr (FzPortalMessage) gc
    = fz_portal_message_new (FZ_PORTAL_BROADCAST_ICE_CANDIDATES);
  g_ptr_array_add (gc->peer_ids, g_strdup (client_id));
  FzIceCandidate cand;
  g_assert_true (fz_ice_candidate_parse (
    &cand, "candidate:1 1 udp 2130706431 127.0.0.1 51820 typ host", NULL));
  g_array_append_val (gc->candidates, cand);
  fz_portal_channel_send (chosen->ch, gc);
  WAIT_FOR (count_event (c, "ice_candidates") == 1, 5);
  FzPortalMessage *got = last_event (c, "ice_candidates");
  g_assert_cmpstr (got->peer_id, ==, gateway_id);
  g_assert_cmpuint (got->candidates->len, ==, 1);
  g_autoptr (FzPortalMessage) cc
    = fz_portal_message_new (FZ_PORTAL_NEW_GATEWAY_ICE_CANDIDATES);
  cc->peer_id = g_strdup (gateway_id);
  g_array_append_val (cc->candidates, cand);
  fz_portal_channel_send (c->ch, cc);
  WAIT_FOR (count_event (chosen, "ice_candidates") == 1, 5);
  g_assert_cmpstr (last_event (chosen, "ice_candidates")->peer_id, ==, client_id);
  /* Not to a gateway the client has nothing with. */
  g_assert_cmpuint (count_event (other, "ice_candidates"), ==, 0);

  /* The chosen gateway goes away: the next request, even one that
   * prefers it, goes to the other. */
  fz_portal_channel_stop (chosen->ch);
  run_for (0.3);
  request (c, lab, gateway_id);
  WAIT_FOR (count_event (c, "authorization_created") == 2, 5);
  g_assert_cmpuint (count_event (other, "create_authorization"), ==, 1);
  g_assert_cmpstr (last_event (c, "authorization_created")->peer_id, !=, gateway_id);

  /* A gateway that takes the request and then disconnects: the portal
   * hands it to another one. */
  fz_portal_channel_start (chosen->ch);
  WAIT_FOR (joined (chosen), 5);
  g_autofree char *other_id = g_strdup (last_event (c, "authorization_created")->peer_id);
  other->answer = FALSE;
  request (c, lab, other_id);
  WAIT_FOR (count_event (other, "create_authorization") == 2, 5);
  fz_portal_channel_stop (other->ch);
  WAIT_FOR (count_event (c, "authorization_created") == 3, 5);
  g_assert_cmpuint (count_event (chosen, "create_authorization"), ==, 2);
}

static void
test_authorization_failures (Portal *p, gconstpointer data)
{
  g_autoptr (Peer) c = peer_new (p, FALSE, "laptop");
  connect_and_join (c);
  /* An unknown id, and a site with no gateways (forbidden is in the
   * reload test). */
  request (c, "8f0e2c1a-0000-4000-8000-000000000000", NULL);
  WAIT_FOR (count_event (c, "authorization_creation_failed") == 1, 5);
  g_assert_cmpstr (last_event (c, "authorization_creation_failed")->reason, ==,
                   "not_found");
  request (c, resource_id (c, "Nowhere"), NULL);
  WAIT_FOR (count_event (c, "authorization_creation_failed") == 2, 5);
  g_assert_cmpstr (last_event (c, "authorization_creation_failed")->reason, ==,
                   "offline");

  /* Only a gateway too old for this client (1.3.0 <= gw < 1.6.0). */
  peer_version = "1.0.9";
  g_autoptr (Peer) old = peer_new (p, TRUE, "old");
  peer_version = "1.4.0";
  connect_and_join (old);
  request (c, resource_id (c, "Lab"), NULL);
  WAIT_FOR (count_event (c, "authorization_creation_failed") == 3, 5);
  g_assert_cmpstr (last_event (c, "authorization_creation_failed")->reason, ==,
                   "version_mismatch");
  g_assert_cmpuint (count_event (old, "create_authorization"), ==, 0);

  /* A gateway that never answers: offline after authorization_timeout. */
  g_autoptr (Peer) g = peer_new (p, TRUE, "silent");
  g->answer = FALSE;
  connect_and_join (g);
  double start = now_s ();
  request (c, resource_id (c, "Lab"), NULL);
  WAIT_FOR (count_event (c, "authorization_creation_failed") == 4, 5);
  g_assert_cmpstr (last_event (c, "authorization_creation_failed")->reason, ==,
                   "offline");
  g_assert_cmpfloat (now_s () - start, >=, 0.9);
  g_assert_cmpuint (count_event (g, "create_authorization"), ==, 1);
}

static void
test_forbidden_after_reload (Portal *p, gconstpointer data)
{
  /* Reload: Secret becomes visible and Lab's filters change; then Lab is
   * taken away, which the gateway learns as reject_access. */
  g_autoptr (Peer) c = peer_new (p, FALSE, "laptop");
  g_autoptr (Peer) g = peer_new (p, TRUE, "gw");
  connect_and_join (c);
  connect_and_join (g);
  g_autofree char *lab = g_strdup (resource_id (c, "Lab"));
  request (c, lab, NULL);
  WAIT_FOR (count_event (c, "authorization_created") == 1, 5);

  g_autofree char *text
    = config_text ("", "[policy more]\nusers = alice\nresources = Secret\n");
  g_autofree char *changed = NULL;
  {
    g_autoptr (GString) s = g_string_new (text);
    g_string_replace (s, "filters = tcp:22; icmp", "filters = tcp:22; tcp:443; icmp", 1);
    g_string_replace (s, "search_domain = corp.example", "search_domain = lab.example",
                      1);
    g_string_replace (s, "[relay main]", "[relay backup]", 1);
    changed = g_string_free (g_steal_pointer (&s), FALSE);
  }
  g_assert_true (g_file_set_contents (p->conf, changed, -1, NULL));
  portal_reload (p);
  WAIT_FOR (count_event (c, "resource_created_or_updated") == 2, 5);
  WAIT_FOR (count_event (g, "resource_updated") == 1, 5);
  /* The new search domain, and the relay that replaced the old one. */
  WAIT_FOR (count_event (c, "config_changed") == 1, 5);
  WAIT_FOR (count_event (c, "relays_presence") == 1
              && count_event (g, "relays_presence") == 1,
            5);
  FzPortalMessage *rp = last_event (c, "relays_presence");
  g_assert_cmpuint (rp->relays->len, ==, 1);
  g_assert_cmpuint (rp->disconnected->len, ==, 1);
  g_assert_cmpstr (rp->disconnected->pdata[0], ==,
                   ((FzRelay *) last_event (c, "init")->relays->pdata[0])->id);
  g_assert_cmpstr (((FzRelay *) rp->relays->pdata[0])->id, !=,
                   ((FzRelay *) last_event (c, "init")->relays->pdata[0])->id);
  g_assert_cmpuint (last_event (g, "resource_updated")->resources->len, ==, 1);
  g_assert_cmpuint (
    ((FzResource *) last_event (g, "resource_updated")->resources->pdata[0])
      ->filters->len,
    ==, 3);

  /* A broken file changes nothing. */
  g_assert_true (g_file_set_contents (
    p->conf, "[portal]\naccount_slug = acme\nbogus = 1\n", -1, NULL));
  portal_reload (p);
  run_for (0.5);
  g_assert_cmpuint (count_event (c, "resource_deleted"), ==, 0);
  g_assert_true (joined (c));

  /* Lab leaves alice's policy. */
  g_autofree char *without = config_text ("", "");
  {
    g_autoptr (GString) s = g_string_new (without);
    g_string_replace (s, "resources = Lab; Nowhere", "resources = Nowhere", 1);
    g_free (without);
    without = g_string_free (g_steal_pointer (&s), FALSE);
  }
  g_assert_true (g_file_set_contents (p->conf, without, -1, NULL));
  portal_reload (p);
  WAIT_FOR (count_event (c, "resource_deleted") == 2, 5); /* Lab and Secret */
  WAIT_FOR (count_event (g, "reject_access") == 1, 5);
  g_assert_cmpstr (last_event (g, "reject_access")->resource_id, ==, lab);
  request (c, lab, NULL);
  WAIT_FOR (count_event (c, "authorization_creation_failed") == 1, 5);
  g_assert_cmpstr (last_event (c, "authorization_creation_failed")->reason, ==,
                   "forbidden");
}

static void
test_duplicate_gateway (Portal *p, gconstpointer data)
{
  g_autoptr (Peer) a = peer_new (p, TRUE, "same-id");
  g_autoptr (Peer) b = peer_new (p, TRUE, "same-id");
  connect_and_join (a);
  fz_portal_channel_start (b->ch);
  WAIT_FOR (fz_portal_channel_get_state (b->ch) == FZ_PORTAL_CHANNEL_WAITING, 5);
  g_assert_false (joined (b));

  /* The refusal as plain HTTP: 409 with a problem code. */
  g_autoptr (SoupSession) s = soup_session_new ();
  soup_session_set_proxy_resolver (s, NULL);
  FzPortalUrlParams params = { .external_id = "same-id", .public_key = a->key };
  g_autofree char *ws = fz_portal_url (p->url, TRUE, &params, NULL);
  g_autofree char *http = g_strdup_printf ("http%s", ws + 2);
  g_autoptr (SoupMessage) m = soup_message_new ("GET", http);
  soup_message_headers_replace (soup_message_get_request_headers (m), "X-Authorization",
                                "Bearer " GATEWAY_TOKEN);
  g_autoptr (GBytes) body = soup_session_send_and_read (s, m, NULL, NULL);
  g_assert_cmpuint (soup_message_get_status (m), ==, 409);
  g_assert_cmpstr (
    soup_message_headers_get_content_type (soup_message_get_response_headers (m), NULL),
    ==, "application/problem+json");
  g_assert_nonnull (g_strstr_len (g_bytes_get_data (body, NULL), g_bytes_get_size (body),
                                  "\"gateway_already_connected\""));
  /* When the first goes, the second gets in. */
  fz_portal_channel_stop (a->ch);
  WAIT_FOR (joined (b), 10);
}

static char *
form_post (SoupSession *s, const char *url, guint *status, char **location,
           const char *first, ...)
{
  va_list ap;
  va_start (ap, first);
  GHashTable *form = g_hash_table_new (g_str_hash, g_str_equal);
  for (const char *k = first; k != NULL; k = va_arg (ap, const char *))
    g_hash_table_insert (form, (gpointer) k, va_arg (ap, char *));
  va_end (ap);
  g_autoptr (SoupMessage) m
    = soup_message_new_from_encoded_form ("POST", url, soup_form_encode_hash (form));
  g_hash_table_unref (form);
  soup_message_add_flags (m, SOUP_MESSAGE_NO_REDIRECT);
  g_autoptr (GBytes) body = soup_session_send_and_read (s, m, NULL, NULL);
  *status = soup_message_get_status (m);
  if (location != NULL)
    *location = g_strdup (
      soup_message_headers_get_one (soup_message_get_response_headers (m), "Location"));
  return g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
}

static void
test_sign_in (Portal *p, gconstpointer data)
{
  g_autoptr (SoupSession) s = soup_session_new ();
  soup_session_set_proxy_resolver (s, NULL);
  g_autofree char *page_url
    = g_strdup_printf ("%sacme?as=gui-client&state=st4te&nonce=n0nce", p->url);
  g_autoptr (SoupMessage) get = soup_message_new ("GET", page_url);
  g_autoptr (GBytes) page = soup_session_send_and_read (s, get, NULL, NULL);
  g_assert_cmpuint (soup_message_get_status (get), ==, 200);
  g_autofree char *html
    = g_strndup (g_bytes_get_data (page, NULL), g_bytes_get_size (page));
  g_assert_nonnull (strstr (html, "Sign in to Acme &lt;Test&gt;"));
  g_assert_nonnull (strstr (html, "name=\"state\" value=\"st4te\""));

  g_autofree char *post = g_strdup_printf ("%sacme/sign_in", p->url);
  guint status;
  g_autofree char *bad
    = form_post (s, post, &status, NULL, "as", "gui-client", "state", "st4te", "nonce",
                 "n0nce", "username", "alice", "password", "wrong", NULL);
  g_assert_cmpuint (status, ==, 401);
  g_assert_nonnull (strstr (bad, "Wrong user name or password"));

  g_autofree char *location = NULL;
  g_free (form_post (s, post, &status, &location, "as", "gui-client", "state", "st4te",
                     "nonce", "n0nce", "username", "alice", "password", PASSWORD, NULL));
  g_assert_cmpuint (status, ==, 302);
  g_assert_true (g_str_has_prefix (
    location,
    "firezone-fd0020211111://handle_client_sign_in_callback?account_slug=acme&"));
  g_autoptr (GUri) uri = g_uri_parse (location, G_URI_FLAGS_NONE, NULL);
  g_autoptr (GHashTable) q = soup_form_decode (g_uri_get_query (uri));
  g_assert_cmpstr (g_hash_table_lookup (q, "state"), ==, "st4te");
  g_assert_cmpstr (g_hash_table_lookup (q, "actor_name"), ==, "Alice Example");
  /* The token is nonce || fragment, and it works. */
  g_autofree char *token
    = g_strconcat ("n0nce", g_hash_table_lookup (q, "fragment"), NULL);
  g_autoptr (Peer) c
    = peer_new_full (p->url, FALSE, token, "signed-in", NULL, FZ_RECONNECT_UNLIMITED);
  connect_and_join (c);
  /* Without its nonce the fragment is worthless. */
  g_autoptr (Peer) d = peer_new_full (p->url, FALSE, g_hash_table_lookup (q, "fragment"),
                                      "x", NULL, FZ_RECONNECT_UNLIMITED);
  fz_portal_channel_start (d->ch);
  WAIT_FOR (fz_portal_channel_get_state (d->ch) == FZ_PORTAL_CHANNEL_FAILED, 5);

  /* Headless: the page shows a whole token. */
  g_autofree char *headless = form_post (s, post, &status, NULL, "as", "headless-client",
                                         "username", "alice", "password", PASSWORD, NULL);
  g_assert_cmpuint (status, ==, 200);
  const char *code = strstr (headless, "<code id=\"token\">");
  g_assert_nonnull (code);
  code += strlen ("<code id=\"token\">");
  g_autofree char *token2 = g_strndup (code, strchr (code, '<') - code);
  g_autoptr (Peer) h
    = peer_new_full (p->url, FALSE, token2, "headless", NULL, FZ_RECONNECT_UNLIMITED);
  connect_and_join (h);

  /* Bad requests: no state for the GUI, an unknown client kind. */
  g_free (form_post (s, post, &status, NULL, "as", "gui-client", "username", "alice",
                     "password", PASSWORD, NULL));
  g_assert_cmpuint (status, ==, 400);
  g_autofree char *bad_page = g_strdup_printf ("%sacme?as=toaster", p->url);
  g_autoptr (SoupMessage) get2 = soup_message_new ("GET", bad_page);
  g_bytes_unref (soup_session_send_and_read (s, get2, NULL, NULL));
  g_assert_cmpuint (soup_message_get_status (get2), ==, 400);
  /* bob has no password: refused like a wrong one. */
  g_free (form_post (s, post, &status, NULL, "as", "headless-client", "username", "bob",
                     "password", "anything", NULL));
  g_assert_cmpuint (status, ==, 401);
  /* Two failures so far; three more and the address must wait. */
  for (int i = 0; i < 3; i++)
    g_free (form_post (s, post, &status, NULL, "as", "headless-client", "username",
                       "nobody", "password", "x", NULL));
  g_free (form_post (s, post, &status, NULL, "as", "headless-client", "username", "alice",
                     "password", PASSWORD, NULL));
  g_assert_cmpuint (status, ==, 429);
}

static void
test_token_expired (Portal *p, gconstpointer data)
{
  /* client_token_lifetime = 2 (fixture data). */
  g_autoptr (SoupSession) s = soup_session_new ();
  soup_session_set_proxy_resolver (s, NULL);
  g_autofree char *post = g_strdup_printf ("%sacme/sign_in", p->url);
  guint status;
  g_autofree char *page = form_post (s, post, &status, NULL, "as", "headless-client",
                                     "username", "alice", "password", PASSWORD, NULL);
  g_assert_cmpuint (status, ==, 200);
  const char *code
    = strstr (page, "<code id=\"token\">") + strlen ("<code id=\"token\">");
  g_autofree char *token = g_strndup (code, strchr (code, '<') - code);
  g_autoptr (Peer) c
    = peer_new_full (p->url, FALSE, token, "x", NULL, FZ_RECONNECT_UNLIMITED);
  connect_and_join (c);
  WAIT_FOR (fz_portal_channel_get_state (c->ch) == FZ_PORTAL_CHANNEL_FAILED, 6);
  g_assert_error (fz_portal_channel_get_error (c->ch), FZ_PORTAL_CHANNEL_ERROR,
                  FZ_PORTAL_CHANNEL_ERROR_TOKEN_EXPIRED);
}

static void
test_restart_and_queue (Portal *p, gconstpointer data)
{
  g_autoptr (Peer) c = peer_new (p, FALSE, "laptop");
  connect_and_join (c);
  g_autofree char *lab = g_strdup (resource_id (c, "Lab"));
  portal_stop (p);
  WAIT_FOR (fz_portal_channel_get_state (c->ch) == FZ_PORTAL_CHANNEL_WAITING, 5);
  /* Sent while the portal is down: queued, then sent once. */
  request (c, lab, NULL);
  g_assert_cmpuint (fz_portal_channel_get_queue_length (c->ch), ==, 1);
  portal_start (p);
  g_autoptr (Peer) g = peer_new (p, TRUE, "gw");
  connect_and_join (g);
  WAIT_FOR (c->joins == 2, 10);
  WAIT_FOR (count_event (c, "authorization_created") == 1, 5);
  g_assert_cmpuint (fz_portal_channel_get_queue_length (c->ch), ==, 0);
  run_for (0.5);
  g_assert_cmpuint (count_event (g, "create_authorization"), ==, 1);
}

/* ---- HTTP admission, sign-in limits, logs --------------------------- */

static void
limit_fds (gpointer data)
{
  /* Soft and hard: fz-portal raises its soft limit to the hard one. */
  struct rlimit rl = { .rlim_cur = 256, .rlim_max = 256 };
  setrlimit (RLIMIT_NOFILE, &rl);
  fz_test_die_with_parent (NULL);
}

static void
default_sigpipe (gpointer data)
{
  /* As systemd starts it; whoever ran the tests may ignore SIGPIPE. */
  signal (SIGPIPE, SIG_DFL);
  fz_test_die_with_parent (NULL);
}

/* Restarts @p with extra launcher @flags, a child @setup and, unless -1,
 * @stderr_fd as its stderr. */
static void
portal_restart_with (Portal *p, GSubprocessFlags flags, GSpawnChildSetupFunc setup,
                     int stderr_fd)
{
  portal_stop (p);
  portal_spawn (p, flags, setup, stderr_fd);
}

/* Stops @p and returns what it wrote to its stderr pipe. */
static char *
portal_stop_reading_stderr (Portal *p)
{
  g_autoptr (GInputStream) err = g_object_ref (g_subprocess_get_stderr_pipe (p->proc));
  portal_stop (p);
  g_autoptr (GOutputStream) out = g_memory_output_stream_new_resizable ();
  g_autoptr (GError) error = NULL;
  g_output_stream_splice (out, err, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, &error);
  g_assert_no_error (error);
  GMemoryOutputStream *m = G_MEMORY_OUTPUT_STREAM (out);
  return g_strndup (g_memory_output_stream_get_data (m),
                    g_memory_output_stream_get_data_size (m));
}

/* kB of /proc/PID/status @field (VmRSS, VmHWM). */
static gint64
portal_memory_kb (Portal *p, const char *field)
{
  g_autofree char *path
    = g_strdup_printf ("/proc/%s/status", g_subprocess_get_identifier (p->proc));
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_autofree char *key = g_strdup_printf ("\n%s:", field);
  const char *at = strstr (text, key);
  g_assert_nonnull (at);
  return g_ascii_strtoll (at + strlen (key), NULL, 10);
}

/* A TCP connection to the portal from @from (127.x.y.z), or the default. */
static int
raw_connect (Portal *p, const char *from)
{
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  struct sockaddr_in a = { .sin_family = AF_INET };
  if (from != NULL)
    {
      g_assert_cmpint (inet_pton (AF_INET, from, &a.sin_addr), ==, 1);
      g_assert_cmpint (bind (fd, (struct sockaddr *) &a, sizeof a), ==, 0);
    }
  a.sin_port = htons (p->port);
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &a, sizeof a), ==, 0);
  return fd;
}

static void
raw_send (int fd, const char *text, gsize len)
{
  g_assert_cmpint (send (fd, text, len, MSG_NOSIGNAL), ==, (gssize) len);
}

/* What arrives until the portal closes; NULL if it did not within @seconds. */
static char *
raw_read_all (int fd, double seconds)
{
  g_autoptr (GString) s = g_string_new (NULL);
  gint64 end = g_get_monotonic_time () + (gint64) (seconds * G_USEC_PER_SEC);
  for (;;)
    {
      gint64 left = end - g_get_monotonic_time ();
      if (left <= 0)
        return NULL;
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      if (poll (&pfd, 1, (int) (left / 1000) + 1) <= 0)
        continue;
      char buf[4096];
      gssize n = recv (fd, buf, sizeof buf, 0);
      if (n > 0)
        g_string_append_len (s, buf, n);
      else if (n == 0 || errno == ECONNRESET)
        return g_string_free (g_steal_pointer (&s), FALSE);
      else
        g_assert_cmpint (errno, ==, EINTR);
    }
}

static guint
raw_status (const char *response)
{
  if (response == NULL || !g_str_has_prefix (response, "HTTP/1.1 "))
    return 0;
  return (guint) atoi (response + 9);
}

/* GET /healthz on a fresh connection: its status, 0 if none came. */
static guint
healthz (Portal *p, const char *from)
{
  static const char get[]
    = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  int fd = raw_connect (p, from);
  raw_send (fd, get, strlen (get));
  g_autofree char *r = raw_read_all (fd, 5);
  close (fd);
  return raw_status (r);
}

static void
test_body_limit (Portal *p, gconstpointer data)
{
  /* A 200 MiB body is refused when its headers arrive, on any path. */
  const char *paths[] = { "/acme/sign_in", "/healthz", "/client/v2/websocket" };
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autofree char *req
        = g_strdup_printf ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: "
                           "application/x-www-form-urlencoded\r\n"
                           "Content-Length: 209715200\r\n\r\nusername=",
                           paths[i]);
      int fd = raw_connect (p, NULL);
      raw_send (fd, req, strlen (req));
      g_autofree char *r = raw_read_all (fd, 5);
      close (fd);
      g_assert_cmpuint (raw_status (r), ==, 413);
      g_assert_nonnull (strstr (r, "Content-Type: application/problem+json"));
      g_assert_nonnull (strstr (r, "\"status\":413"));
    }

  /* Chunked: refused once it passes the limit; the portal does not grow. */
  gint64 peak = portal_memory_kb (p, "VmHWM");
  static const char head[]
    = "POST /acme/sign_in HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  int fd = raw_connect (p, NULL);
  struct timeval tv = { .tv_sec = 5 };
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  raw_send (fd, head, strlen (head));
  gsize chunk_len = 65536;
  g_autofree char *chunk = g_malloc (chunk_len + 16);
  gsize n = (gsize) g_snprintf (chunk, 16, "%zx\r\n", chunk_len);
  memset (chunk + n, 'a', chunk_len);
  memcpy (chunk + n + chunk_len, "\r\n", 2);
  gsize total = n + chunk_len + 2, sent = 0;
  while (sent < 200u << 20)
    {
      gssize w = send (fd, chunk, total, MSG_NOSIGNAL);
      if (w < 0)
        break;
      sent += (gsize) w;
    }
  close (fd);
  gint64 grew = portal_memory_kb (p, "VmHWM") - peak;
  g_test_message (
    "sent %zu bytes before the portal closed; its peak grew %" G_GINT64_FORMAT " kB",
    sent, grew);
  g_assert_cmpuint (sent, <, 32u << 20);
  g_assert_cmpint (grew, <, 32 * 1024);
  g_assert_cmpuint (healthz (p, NULL), ==, 200);
}

static void
test_accept_after_emfile (Portal *p, gconstpointer data)
{
  /* 256 descriptors, 300 slow sockets: accepting fails for a while, and
   * goes on once they close. */
  portal_restart_with (p, 0, limit_fds, -1);
  int fds[300];
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    fds[i] = raw_connect (p, NULL);
  g_usleep (G_USEC_PER_SEC / 2);
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    close (fds[i]);
  g_assert_cmpuint (healthz (p, NULL), ==, 200);
  g_autoptr (Peer) c = peer_new (p, FALSE, "laptop");
  connect_and_join (c);
}

static void
test_request_timeout (Portal *p, gconstpointer data)
{
  /* request_timeout = 1 (fixture data): silent or half-sent, closed. */
  static const char half[] = "GET /healthz HTTP/1.1\r\nHost:";
  for (guint i = 0; i < 2; i++)
    {
      /* Before the connection: the portal's timer starts at its accept,
       * and on a loaded machine connect and send can take a while. */
      double start = now_s ();
      int fd = raw_connect (p, NULL);
      if (i == 1)
        raw_send (fd, half, strlen (half));
      g_autofree char *r = raw_read_all (fd, 4);
      close (fd);
      g_assert_nonnull (r);
      g_assert_cmpfloat (now_s () - start, >=, 0.8);
    }
  /* A WebSocket lives past it. */
  g_autoptr (Peer) c = peer_new (p, FALSE, "laptop");
  connect_and_join (c);
  run_for (2.5);
  g_assert_true (joined (c));
  g_assert_cmpuint (c->connects, ==, 1);
}

static void
test_connections_per_address (Portal *p, gconstpointer data)
{
  /* connections_per_address = 3 (fixture data): a channel and two idle
   * sockets fill it; the next from that address is closed at once, one
   * from another address is served, and the channel is untouched. */
  g_autoptr (Peer) c = peer_new (p, FALSE, "laptop");
  connect_and_join (c);
  int idle[2] = { raw_connect (p, NULL), raw_connect (p, NULL) };
  run_for (0.3);
  int extra = raw_connect (p, NULL);
  g_autofree char *r = raw_read_all (extra, 2);
  close (extra);
  g_assert_cmpstr (r, ==, "");
  g_assert_cmpuint (healthz (p, "127.0.0.2"), ==, 200);
  run_for (0.5);
  g_assert_true (joined (c));
  g_assert_cmpuint (c->connects, ==, 1);
  /* Closed ones make room again, once the portal has seen them close. */
  close (idle[0]);
  close (idle[1]);
  guint status = 0;
  for (guint i = 0; i < 50 && status != 200; i++)
    {
      run_for (0.1);
      status = healthz (p, NULL);
    }
  g_assert_cmpuint (status, ==, 200);
  g_assert_true (joined (c));
}

/* A sign-in held back by its last byte. */
typedef struct
{
  int fd;
  char last;
} Held;

/* Sends @n sign-ins from @from, all but their last byte; adds them to @held. */
static void
hold_sign_ins (GArray *held, Portal *p, const char *from, guint n, const char *user,
               const char *password)
{
  g_autofree char *form = soup_form_encode ("as", "headless-client", "username", user,
                                            "password", password, NULL);
  g_autofree char *req = g_strdup_printf (
    "POST /acme/sign_in HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n%s",
    strlen (form), form);
  for (guint i = 0; i < n; i++)
    {
      Held h = { .fd = raw_connect (p, from), .last = req[strlen (req) - 1] };
      raw_send (h.fd, req, strlen (req) - 1);
      g_array_append_val (held, h);
    }
}

/* Sends the last bytes together; returns the responses, in order. */
static GPtrArray *
release_sign_ins (GArray *held)
{
  for (guint i = 0; i < held->len; i++)
    raw_send (g_array_index (held, Held, i).fd, &g_array_index (held, Held, i).last, 1);
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < held->len; i++)
    {
      char *r = raw_read_all (g_array_index (held, Held, i).fd, 120);
      g_assert_nonnull (r);
      g_ptr_array_add (out, r);
      close (g_array_index (held, Held, i).fd);
    }
  return out;
}

static GPtrArray *
parallel_sign_ins (Portal *p, const char *from, guint n, const char *user,
                   const char *password)
{
  g_autoptr (GArray) held = g_array_new (FALSE, FALSE, sizeof (Held));
  hold_sign_ins (held, p, from, n, user, password);
  return release_sign_ins (held);
}

static guint
count_status (GPtrArray *responses, guint status)
{
  guint n = 0;
  for (guint i = 0; i < responses->len; i++)
    n += raw_status (responses->pdata[i]) == status;
  return n;
}

static void
test_sign_in_parallel (Portal *p, gconstpointer data)
{
  /* 20 at once with a wrong password: 5 are checked, 15 refused; then
   * the right password is refused too, and no token is shown. */
  g_autoptr (GPtrArray) wrong = parallel_sign_ins (p, "127.0.0.20", 20, "alice", "wrong");
  g_assert_cmpuint (count_status (wrong, 401), ==, 5);
  g_assert_cmpuint (count_status (wrong, 429), ==, 15);
  g_autoptr (GPtrArray) right = parallel_sign_ins (p, "127.0.0.20", 1, "alice", PASSWORD);
  g_assert_cmpuint (raw_status (right->pdata[0]), ==, 429);
  g_assert_null (strstr (right->pdata[0], "<code id=\"token\">"));
  /* The limit is the address's: another one signs in. */
  g_autoptr (GPtrArray) other = parallel_sign_ins (p, "127.0.0.21", 1, "alice", PASSWORD);
  g_assert_cmpuint (raw_status (other->pdata[0]), ==, 200);
  g_assert_nonnull (strstr (other->pdata[0], "<code id=\"token\">"));

  /* 150 full-cost checks (an unknown user costs one) from 10 addresses:
   * 5 each are checked, two at a time, so the portal's peak grows by
   * about two hashes' memory (64 MiB each), not fifty. */
  gint64 peak = portal_memory_kb (p, "VmHWM");
  g_autoptr (GArray) held = g_array_new (FALSE, FALSE, sizeof (Held));
  for (guint a = 0; a < 10; a++)
    {
      g_autofree char *from = g_strdup_printf ("127.0.1.%u", a + 1);
      hold_sign_ins (held, p, from, 15, "nobody", "x");
    }
  g_autoptr (GPtrArray) all = release_sign_ins (held);
  guint checked = count_status (all, 401), refused = count_status (all, 429);
  gint64 grew = portal_memory_kb (p, "VmHWM") - peak;
  g_test_message ("%u checked, %u refused; the peak grew %" G_GINT64_FORMAT " kB",
                  checked, refused, grew);
  g_assert_cmpuint (checked, ==, 50);
  g_assert_cmpuint (refused, ==, 100);
  g_assert_cmpint (grew, <, 150 * 1024);
}

static void
test_sigpipe (Portal *p, gconstpointer data)
{
  /* Its stderr is a pipe nobody reads, and it warns at once (relay
   * secrets in a file others may read): it must carry on. */
  int fds[2];
  g_assert_cmpint (pipe (fds), ==, 0);
  close (fds[0]);
  g_assert_cmpint (g_chmod (p->conf, 0644), ==, 0);
  portal_restart_with (p, 0, default_sigpipe, fds[1]);
  g_autoptr (GPtrArray) r = parallel_sign_ins (p, NULL, 1, "alice", "wrong"); /* logged */
  g_assert_cmpuint (raw_status (r->pdata[0]), ==, 401);
  portal_stop (p); /* exited, with status 0 */
}

/* A policy's valid_until: a reload that sets it takes the access away
 * and gives the resource back, so that the client asks again and the
 * new access ends then; when it passes, what the policy gave goes. */
static void
test_policy_end (Portal *p, gconstpointer data)
{
  g_autoptr (Peer) c = peer_new (p, FALSE, "laptop");
  g_autoptr (Peer) g = peer_new (p, TRUE, "gw");
  connect_and_join (c);
  connect_and_join (g);
  g_autofree char *lab = g_strdup (resource_id (c, "Lab"));
  request (c, lab, NULL);
  WAIT_FOR (count_event (c, "authorization_created") == 1, 5);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  g_assert_cmpint (last_event (g, "create_authorization")->expires_at, >, now + 86400);

  gint64 end = now + 3;
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (end);
  g_autofree char *iso = g_date_time_format_iso8601 (t);
  g_autofree char *until = g_strdup_printf ("valid_until = %s\n", iso);
  portal_write (p, "", until);
  portal_reload (p);
  WAIT_FOR (count_event (g, "reject_access") == 1, 5);
  WAIT_FOR (count_event (c, "resource_deleted") == 1, 5);
  WAIT_FOR (count_event (c, "resource_created_or_updated") == 1, 5);
  request (c, lab, NULL);
  WAIT_FOR (count_event (c, "authorization_created") == 2, 5);
  g_assert_cmpint (last_event (g, "create_authorization")->expires_at, ==, end);

  WAIT_FOR (count_event (g, "reject_access") == 2, 6);
  WAIT_FOR (count_event (c, "resource_deleted") == 3, 2); /* Lab and Nowhere */
  request (c, lab, NULL);
  WAIT_FOR (count_event (c, "authorization_creation_failed") == 1, 5);
  g_assert_cmpstr (last_event (c, "authorization_creation_failed")->reason, ==,
                   "forbidden");
}

static void
test_closing_peer_reload (Portal *p, gconstpointer data)
{
  /* idle_timeout = 1 (fixture data). The client stops answering, so the
   * portal's close waits for it (up to 5 s); a reload in that time
   * pushes a new resource to it, which must not leak (LeakSanitizer at
   * the portal's exit). */
  portal_restart_with (p, 0, fz_test_die_with_parent, -1);
  g_autoptr (Peer) c = peer_new (p, FALSE, "laptop");
  connect_and_join (c);
  g_usleep (3 * G_USEC_PER_SEC);
  portal_write (p, "idle_timeout = 1\n",
                "[resource Extra]\ntype = cidr\naddress = 10.7.0.0/16\nsites = HQ\n"
                "[policy extra]\nusers = alice\nresources = Extra\n");
  portal_reload (p);
  g_usleep (G_USEC_PER_SEC / 2);
  g_assert_cmpuint (healthz (p, NULL), ==, 200);
  portal_stop (p);
}

static void
test_log_lines (Portal *p, gconstpointer data)
{
  /* What a client sends is not written into the log as lines of its
   * own, and a failed sign-in's user name is never logged as typed. */
  portal_restart_with (p, G_SUBPROCESS_FLAGS_STDERR_PIPE, fz_test_die_with_parent, -1);
  g_autoptr (Peer) c = peer_new (p, FALSE, "laptop\nfz-portal-Message: forged");
  fz_portal_channel_start (c->ch);
  run_for (1);
  g_assert_false (joined (c));
  g_autoptr (GPtrArray) a
    = parallel_sign_ins (p, NULL, 1, "hunter2-typed-here\nforged", "x");
  g_assert_cmpuint (raw_status (a->pdata[0]), ==, 401);
  g_autoptr (GPtrArray) b = parallel_sign_ins (p, NULL, 1, "alice", "wrong");
  g_assert_cmpuint (raw_status (b->pdata[0]), ==, 401);
  g_autofree char *log = portal_stop_reading_stderr (p);
  g_test_message ("%s", log);
  g_assert_null (strstr (log, "hunter2"));
  g_assert_null (strstr (log, "\nforged"));
  g_assert_null (strstr (log, "\nfz-portal-Message: forged"));
  g_assert_nonnull (strstr (log, "sign-in as an unknown user from 127.0.0.1 failed"));
  g_assert_nonnull (strstr (log, "sign-in as alice from 127.0.0.1 failed"));
}

static void
test_tls (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("fz-portal-tls-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *cmd = g_strdup_printf (
    "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
    "-keyout key.pem -out cert.pem -days 1 -subj /CN=127.0.0.1 "
    "-addext subjectAltName=IP:127.0.0.1 2>/dev/null",
    dir);
  g_assert_cmpint (system (cmd), ==, 0);
  Portal p = { .dir = g_strdup (dir) };
  p.conf = g_build_filename (dir, "fz-portal.conf", NULL);
  portal_write (&p, "tls_certificate = cert.pem\ntls_key = key.pem\n", "");
  portal_start (&p);
  g_assert_true (g_str_has_prefix (p.url, "https://"));
  g_autofree char *ca = g_build_filename (dir, "cert.pem", NULL);
  g_autoptr (Peer) c
    = peer_new_full (p.url, FALSE, CLIENT_TOKEN, "x", ca, FZ_RECONNECT_UNLIMITED);
  connect_and_join (c);
  /* Without the CA the certificate is not trusted: retried, never joined. */
  g_autoptr (Peer) d
    = peer_new_full (p.url, FALSE, CLIENT_TOKEN, "y", NULL, FZ_RECONNECT_UNLIMITED);
  fz_portal_channel_start (d->ch);
  WAIT_FOR (fz_portal_channel_get_state (d->ch) == FZ_PORTAL_CHANNEL_WAITING, 5);
  g_assert_false (joined (d));
  portal_teardown (&p, NULL);
}

/* A policy names resources by their section: an Internet resource,
 * which clients know as "Internet Resource" whatever its section says,
 * too (refused as "not defined" before). */
static void
test_internet_policy (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("fz-portal-conf-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "c.conf", NULL);
  const char *text = "[portal]\naccount_slug = a\n[site S]\n[user u]\n"
                     "[resource Exit]\ntype = internet\nsites = S\n"
                     "[policy P]\nusers = u\nresources = Exit\n";

  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  g_autoptr (GSubprocess) proc = g_subprocess_new (
    G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error, portal_bin, "check-config", path, NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_wait_check (proc, NULL, &error));
  g_assert_no_error (error);
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_bad_config (void)
{
  /* Each mistake is refused with one line naming the group and key. */
  static const struct
  {
    const char *text, *expect;
  } cases[] = {
    { "[portal]\n", "[portal] \"account_slug\" is missing" },
    { "[portal]\naccount_slug = a\nlisten = nowhere\n", "listen \"nowhere\"" },
    { "[portal]\naccount_slug = a\ncolour = blue\n", "unknown key \"colour\"" },
    { "[portal]\naccount_slug = a\n[relay r]\naddresses = 1.2.3.4:3478\n",
      "give either secret, or username and password" },
    { "[portal]\naccount_slug = a\n[gateway-token t]\nsite = X\ntoken_hash = 00\n",
      "site \"X\" is not defined" },
    { "[portal]\naccount_slug = a\n[site S]\n[resource R]\ntype = cidr\naddress = "
      "10.0.0.0/33\n"
      "sites = S\n",
      "is not a CIDR address" },
    { "[portal]\naccount_slug = a\n[site S]\n[resource R]\ntype = cidr\naddress = "
      "10.0.0.0/8\n"
      "sites = S\nfilters = tcp:99999\n",
      "filter \"tcp:99999\"" },
    { "[portal]\naccount_slug = a\n[policy P]\nusers = eve\nresources = R\n",
      "user \"eve\" is not defined" },
    { "[portal]\naccount_slug = a\n[site S]\n[site s]\n", "defined twice" },
    { "[portal]\naccount_slug = a\n[policy P]\nusers = *\nresources = R\n"
      "valid_until = next week\n",
      "\"valid_until\" must be an ISO 8601 date and time" },
    /* GKeyFile would merge them: the second widened the first's filters. */
    { "[portal]\naccount_slug = a\n[site S]\n[resource R]\ntype = cidr\naddress = "
      "10.0.0.0/8\nsites = S\nfilters = tcp:22\n[resource R]\nfilters = tcp:1-65535\n",
      "[resource R] appears twice" },
    { "[portal]\naccount_slug = a\n[widget w]\n", "unknown section" },
    { "[portal]\naccount_slug = a\n[user x]\npassword_hash = plain\n", "crypto_pwhash" },
    { "not a key file", "" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *dir = g_dir_make_tmp ("fz-portal-conf-XXXXXX", NULL);
      g_autofree char *path = g_build_filename (dir, "c.conf", NULL);
      g_assert_true (g_file_set_contents (path, cases[i].text, -1, NULL));
      g_autoptr (GSubprocess) proc = g_subprocess_new (
        G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error,
        portal_bin, "check-config", path, NULL);
      g_assert_no_error (error);
      g_autofree char *err = NULL;
      g_subprocess_communicate_utf8 (proc, NULL, NULL, NULL, &err, &error);
      g_assert_no_error (error);
      g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 1);
      g_test_message ("%s", err);
      g_assert_nonnull (strstr (err, cases[i].expect));
      g_assert_cmpuint (strchr (err, '\n') - err + 1, ==, strlen (err)); /* one line */
      g_unlink (path);
      g_rmdir (dir);
    }
}

/* ---- The channel on a context of its own --------------------------- */

typedef struct
{
  Portal *portal;
  GMainContext *context;
  gboolean expired;
} Driven;

static gboolean
context_deadline_cb (gpointer data)
{
  ((Driven *) data)->expired = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates only @d's context, for @seconds or until @peer is joined with
 * its init (when @until_init). */
static void
drive (Driven *d, Peer *peer, double seconds, gboolean until_init)
{
  d->expired = FALSE;
  GSource *t = g_timeout_source_new ((guint) (seconds * 1000));
  g_source_set_callback (t, context_deadline_cb, d, NULL);
  g_source_attach (t, d->context);
  while (!d->expired && !(until_init && joined (peer) && count_event (peer, "init") > 0))
    g_main_context_iteration (d->context, TRUE);
  g_source_destroy (t);
  g_source_unref (t);
}

static gpointer
channel_thread (gpointer data)
{
  Driven *d = data;
  g_main_context_push_thread_default (d->context);
  Peer *c = peer_new (d->portal, FALSE, "threaded");
  set_timing (c, 0.5, 15);
  fz_portal_channel_start (c->ch);
  drive (d, c, 10, TRUE);
  g_assert_true (joined (c));
  g_assert_cmpuint (count_event (c, "init"), ==, 1);
  /* Heartbeats keep it past the portal's 2 s idle timeout. */
  drive (d, c, 3.5, FALSE);
  g_assert_true (joined (c));
  g_assert_cmpuint (c->connects, ==, 1);
  peer_free (c);
  g_main_context_pop_thread_default (d->context);
  return NULL;
}

static void
test_channel_context (Portal *p, gconstpointer data)
{
  /* The channel made and driven in a thread on a context of its own,
   * pushed as that thread's default: every source it and libsoup make
   * goes there; the global default context is never iterated. */
  Driven d = { .portal = p, .context = g_main_context_new () };
  GThread *t = g_thread_new ("channel", channel_thread, &d);
  g_thread_join (t);
  g_main_context_unref (d.context);
}

/* ---- A misbehaving client ------------------------------------------ */

static void
raw_connected_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  *(SoupWebsocketConnection **) data
    = soup_session_websocket_connect_finish (SOUP_SESSION (source), res, &error);
  g_assert_no_error (error);
}

/* A WebSocket to fz-portal as client @id, driven by the test itself. */
static SoupWebsocketConnection *
raw_socket (Portal *p, SoupSession *s, const char *id)
{
  guint8 key[32] = { 0 };
  FzPortalUrlParams params = { .external_id = id, .name = id, .public_key = key };
  g_autofree char *url = fz_portal_url (p->url, FALSE, &params, NULL);
  g_autoptr (SoupMessage) m = soup_message_new ("GET", url);
  soup_message_headers_replace (soup_message_get_request_headers (m), "X-Authorization",
                                "Bearer " CLIENT_TOKEN);
  g_autofree char *ua
    = fz_portal_user_agent ("Linux", "12", "headless-client", "1.4.0", "x86_64", "6.1.0");
  soup_message_headers_replace (soup_message_get_request_headers (m), "User-Agent", ua);
  SoupWebsocketConnection *ws = NULL;
  soup_session_websocket_connect_async (s, m, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        raw_connected_cb, &ws);
  WAIT_FOR (ws != NULL, 5);
  return ws;
}

/* One frame as a client sends it: masked (with a zero mask). */
static gboolean
raw_frame (GOutputStream *out, guint8 opcode, gboolean fin, gsize len)
{
  g_assert_cmpuint (len, >, 125);
  g_assert_cmpuint (len, <=, G_MAXUINT16);
  guint8 header[8] = { (fin ? 0x80 : 0) | opcode, 0x80 | 126, len >> 8, len & 0xff };
  g_autofree char *payload = g_strnfill (len, 'x');
  return g_output_stream_write_all (out, header, sizeof header, NULL, NULL, NULL)
         && g_output_stream_write_all (out, payload, len, NULL, NULL, NULL);
}

static gsize
rss_kib (GSubprocess *proc)
{
  g_autofree char *path
    = g_strdup_printf ("/proc/%s/status", g_subprocess_get_identifier (proc));
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  const char *at = strstr (text, "VmRSS:");
  g_assert_nonnull (at);
  return strtoul (at + strlen ("VmRSS:"), NULL, 10);
}

static void
test_deep_frame (Portal *p, gconstpointer data)
{
  /* 80 000 [ in one frame overflowed the JSON parser's stack. */
  g_autoptr (SoupSession) s = soup_session_new ();
  soup_session_set_proxy_resolver (s, NULL);
  g_autoptr (SoupWebsocketConnection) ws = raw_socket (p, s, "deep");
  g_autofree char *deep = g_strnfill (80000, '[');
  soup_websocket_connection_send_text (ws, deep);
  g_autofree char *objects = g_strnfill (5 * 20000, ' ');
  for (guint i = 0; i < 20000; i++)
    memcpy (objects + 5 * i, "{\"a\":", 5);
  soup_websocket_connection_send_text (ws, objects);
  run_for (0.5);
  /* Still up, and serving others. */
  g_autoptr (Peer) c = peer_new (p, FALSE, "laptop-1");
  connect_and_join (c);
}

static void
test_fragments (Portal *p, gconstpointer data)
{
  /* Fragments of 60 000 bytes that never end: libsoup 3.2 bounds each
   * frame, not the message. fz-portal closes with 1009 past 128 KiB. */
  g_autoptr (SoupSession) s = soup_session_new ();
  soup_session_set_proxy_resolver (s, NULL);
  g_autoptr (SoupWebsocketConnection) ws = raw_socket (p, s, "flood");
  GOutputStream *out
    = g_io_stream_get_output_stream (soup_websocket_connection_get_io_stream (ws));
  gsize before = rss_kib (p->proc);
  gsize sent = 0;
  for (guint i = 0; i < 400; i++)
    {
      if (!raw_frame (out, i == 0 ? 0x1 : 0x0, FALSE, 60000))
        break;
      sent += 60000;
      while (g_main_context_iteration (NULL, FALSE))
        ;
      if (soup_websocket_connection_get_state (ws) != SOUP_WEBSOCKET_STATE_OPEN)
        break;
    }
  WAIT_FOR (soup_websocket_connection_get_state (ws) == SOUP_WEBSOCKET_STATE_CLOSED, 10);
  gsize after = rss_kib (p->proc);
  g_test_message ("sent %" G_GSIZE_FORMAT " bytes; fz-portal RSS %" G_GSIZE_FORMAT
                  " -> %" G_GSIZE_FORMAT " KiB",
                  sent, before, after);
  g_assert_cmpuint (soup_websocket_connection_get_close_code (ws), ==,
                    SOUP_WEBSOCKET_CLOSE_TOO_BIG);
  /* Closed long before the 24 MB went out (what is left in socket
   * buffers aside), and still up for others. */
  g_assert_cmpuint (sent, <, 8 * 1024 * 1024);
  g_autoptr (Peer) c = peer_new (p, FALSE, "laptop-1");
  connect_and_join (c);
}

/* ---- A misbehaving portal, in process ------------------------------ */

typedef enum
{
  FAKE_NORMAL,     /* answers the join, never a heartbeat */
  FAKE_SILENT,     /* answers nothing */
  FAKE_JOIN_ERROR, /* refuses the join */
  FAKE_UNMATCHED,  /* forgets the topic on the first push */
  FAKE_CLOSE,      /* phx_close right after the join */
  FAKE_GARBAGE,    /* bad frames, then one good push */
  FAKE_FRAGMENTS,  /* after the join, a message in fragments that never ends */
} FakeMode;

typedef struct
{
  FakeMode mode;
  SoupServer *server;
  char *url;
  GPtrArray *events; /* what the channel sent, in order */
  guint sockets;
  GPtrArray *conns;
  guint flood_timer;
  GOutputStream *flood; /* of the socket being flooded */
  guint flooded;        /* fragments written */
} Fake;

#define FLOOD_FRAGMENTS 64 /* of 60 000 bytes: 3.8 MB */

/* One fragment a tick, written under libsoup's feet (it cannot send
 * fragments), until the channel closes the socket. */
static gboolean
flood_cb (gpointer data)
{
  Fake *f = data;
  gsize len = 60000;
  guint8 header[4] = { f->flooded == 0 ? 0x1 : 0x0, 126, len >> 8, len & 0xff };
  g_autofree char *payload = g_strnfill (len, 'x');
  if (f->flooded < FLOOD_FRAGMENTS
      && g_output_stream_write_all (f->flood, header, sizeof header, NULL, NULL, NULL)
      && g_output_stream_write_all (f->flood, payload, len, NULL, NULL, NULL))
    {
      f->flooded++;
      return G_SOURCE_CONTINUE;
    }
  f->flood_timer = 0;
  return G_SOURCE_REMOVE;
}

static void
fake_send (SoupWebsocketConnection *ws, const char *text)
{
  soup_websocket_connection_send_text (ws, text);
}

static void
fake_message_cb (SoupWebsocketConnection *ws, int type, GBytes *bytes, Fake *f)
{
  g_autoptr (FzPhoenixFrame) frame = fz_phoenix_frame_parse (
    g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), NULL);
  g_assert_nonnull (frame);
  g_ptr_array_add (f->events, g_strdup (frame->event));
  g_autofree char *ok
    = g_strdup_printf ("{\"topic\":\"%s\",\"event\":\"phx_reply\",\"payload\":{"
                       "\"status\":\"ok\",\"response\":{}},"
                       "\"ref\":%" G_GINT64_FORMAT "}",
                       frame->topic, frame->ref);
  if (strcmp (frame->event, "phx_join") == 0)
    {
      if (f->mode == FAKE_SILENT)
        return;
      if (f->mode == FAKE_JOIN_ERROR)
        {
          g_autofree char *err = g_strdup_printf (
            "{\"topic\":\"client\",\"event\":\"phx_reply\",\"payload\":{\"status\":"
            "\"error\","
            "\"response\":{\"reason\":\"unauthorized\"}},\"ref\":%" G_GINT64_FORMAT "}",
            frame->ref);
          fake_send (ws, err);
          return;
        }
      fake_send (ws, ok);
      if (f->mode == FAKE_FRAGMENTS)
        {
          f->mode = FAKE_NORMAL; /* the next socket is left alone */
          f->flood = g_io_stream_get_output_stream (
            soup_websocket_connection_get_io_stream (ws));
          f->flood_timer = g_timeout_add (5, flood_cb, f);
        }
      if (f->mode == FAKE_CLOSE)
        fake_send (
          ws,
          "{\"topic\":\"client\",\"event\":\"phx_close\",\"payload\":{},\"ref\":null}");
      if (f->mode == FAKE_GARBAGE)
        {
          fake_send (ws, "not json at all");
          fake_send (
            ws, "{\"topic\":\"client\",\"event\":\"init\",\"payload\":{},\"ref\":null}");
          fake_send (
            ws,
            "{\"topic\":\"client\",\"event\":\"brand_new\",\"payload\":{},\"ref\":null}");
          fake_send (ws, "{\"topic\":\"elsewhere\",\"event\":\"resource_deleted\","
                         "\"payload\":\"x\",\"ref\":null}");
          g_autoptr (GBytes) bin = g_bytes_new_static ("\x01\x02", 2);
          soup_websocket_connection_send_message (ws, SOUP_WEBSOCKET_DATA_BINARY, bin);
          fake_send (
            ws,
            "{\"topic\":\"client\",\"event\":\"resource_deleted\",\"payload\":\"r-1\","
            "\"ref\":null}");
        }
      return;
    }
  if (strcmp (frame->topic, "phoenix") == 0)
    return; /* heartbeats go unanswered */
  if (f->mode == FAKE_UNMATCHED)
    {
      g_autofree char *err = g_strdup_printf (
        "{\"topic\":\"client\",\"event\":\"phx_reply\",\"payload\":{\"status\":\"error\","
        "\"response\":{\"reason\":\"unmatched topic\"}},\"ref\":%" G_GINT64_FORMAT "}",
        frame->ref);
      fake_send (ws, err);
      f->mode = FAKE_NORMAL;
    }
}

static void
fake_ws_cb (SoupServer *server, SoupServerMessage *msg, const char *path,
            SoupWebsocketConnection *ws, gpointer data)
{
  Fake *f = data;
  f->sockets++;
  g_ptr_array_add (f->conns, g_object_ref (ws));
  g_signal_connect (ws, "message", G_CALLBACK (fake_message_cb), f);
}

static Fake *
fake_new (FakeMode mode)
{
  Fake *f = g_new0 (Fake, 1);
  f->mode = mode;
  f->events = g_ptr_array_new_with_free_func (g_free);
  f->conns = g_ptr_array_new_with_free_func (g_object_unref);
  f->server = soup_server_new (NULL, NULL);
  soup_server_add_websocket_handler (f->server, "/client/v2/websocket", NULL, NULL,
                                     fake_ws_cb, f, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_assert_true (soup_server_listen (f->server, addr, 0, &error));
  GSList *uris = soup_server_get_uris (f->server);
  f->url = g_uri_to_string (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return f;
}

static void
fake_free (Fake *f)
{
  if (f->flood_timer != 0)
    g_source_remove (f->flood_timer);
  soup_server_disconnect (f->server);
  g_object_unref (f->server);
  g_ptr_array_unref (f->conns);
  g_ptr_array_unref (f->events);
  g_free (f->url);
  g_free (f);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Fake, fake_free)

static guint
fake_count (Fake *f, const char *event)
{
  guint n = 0;
  for (guint i = 0; i < f->events->len; i++)
    n += strcmp (f->events->pdata[i], event) == 0;
  return n;
}

static Peer *
fake_peer (Fake *f, double heartbeat, double join_timeout)
{
  Peer *c
    = peer_new_full (f->url, FALSE, CLIENT_TOKEN, "x", NULL, FZ_RECONNECT_UNLIMITED);
  FzPortalChannelTiming t = {
    .heartbeat = (gint64) (heartbeat * G_USEC_PER_SEC),
    .join_timeout = (gint64) (join_timeout * G_USEC_PER_SEC),
    .handshake = 15 * G_USEC_PER_SEC,
    .first_budget = 15 * G_USEC_PER_SEC,
  };
  fz_portal_channel_set_timing (c->ch, &t);
  return c;
}

static void
test_heartbeat_timeout (void)
{
  /* Heartbeats every 0.2 s that are never answered: after more than
   * three are outstanding the channel connects again. */
  g_autoptr (Fake) f = fake_new (FAKE_NORMAL);
  g_autoptr (Peer) c = fake_peer (f, 0.2, 5);
  fz_portal_channel_start (c->ch);
  WAIT_FOR (c->joins == 1, 5);
  WAIT_FOR (f->sockets == 2, 5);
  g_assert_cmpuint (fake_count (f, "heartbeat"), ==, 4);
}

static void
test_join_timeout (void)
{
  /* No join reply in the join timeout: connect again; the queued message
   * is never sent on an unjoined channel. */
  g_autoptr (Fake) f = fake_new (FAKE_SILENT);
  g_autoptr (Peer) c = fake_peer (f, 10, 0.3);
  fz_portal_channel_start (c->ch);
  request (c, "r-1", NULL);
  WAIT_FOR (f->sockets == 2, 5);
  g_assert_cmpuint (c->joins, ==, 0);
  g_assert_cmpuint (f->events->len, ==, fake_count (f, "phx_join"));
  g_assert_cmpuint (fz_portal_channel_get_queue_length (c->ch), ==, 1);
}

static void
test_join_refused (void)
{
  g_autoptr (Fake) f = fake_new (FAKE_JOIN_ERROR);
  g_autoptr (Peer) c = fake_peer (f, 10, 5);
  fz_portal_channel_start (c->ch);
  WAIT_FOR (fz_portal_channel_get_state (c->ch) == FZ_PORTAL_CHANNEL_FAILED, 5);
  g_assert_error (fz_portal_channel_get_error (c->ch), FZ_PORTAL_CHANNEL_ERROR,
                  FZ_PORTAL_CHANNEL_ERROR_JOIN_REFUSED);
  g_assert_nonnull (
    strstr (fz_portal_channel_get_error (c->ch)->message, "unauthorized"));
}

static void
test_unmatched_topic (void)
{
  /* The portal forgets the topic: join again on the same socket. */
  g_autoptr (Fake) f = fake_new (FAKE_UNMATCHED);
  g_autoptr (Peer) c = fake_peer (f, 10, 5);
  fz_portal_channel_start (c->ch);
  WAIT_FOR (c->joins == 1, 5);
  request (c, "r-1", NULL);
  WAIT_FOR (c->joins == 2, 5);
  g_assert_cmpuint (f->sockets, ==, 1);
  g_assert_cmpuint (fake_count (f, "phx_join"), ==, 2);
}

static void
test_phx_close (void)
{
  g_autoptr (Fake) f = fake_new (FAKE_CLOSE);
  g_autoptr (Peer) c = fake_peer (f, 10, 5);
  fz_portal_channel_start (c->ch);
  WAIT_FOR (c->joins >= 2, 5);
  g_assert_cmpuint (f->sockets, >=, 2);
}

static void
drop_when_joined (FzPortalChannel *ch, int state, gpointer data)
{
  if (state == FZ_PORTAL_CHANNEL_JOINED)
    g_object_unref (ch);
}

static void
test_garbage (void)
{
  /* Bad frames, a bad payload, an unknown event, another topic and a
   * binary frame are skipped; the good push after them arrives. */
  g_autoptr (Fake) f = fake_new (FAKE_GARBAGE);
  g_autoptr (Peer) c = fake_peer (f, 10, 5);
  fz_portal_channel_start (c->ch);
  WAIT_FOR (count_event (c, "resource_deleted") == 1, 5);
  g_assert_cmpuint (c->events->len, ==, 1);
  g_assert_true (joined (c));
  g_assert_cmpuint (f->sockets, ==, 1);

  /* A handler may drop the channel's last reference from inside
   * "message", or from "state-changed" as it joins with a message
   * queued. */
  for (int k = 0; k < 2; k++)
    {
      g_autoptr (Fake) f2 = fake_new (FAKE_GARBAGE);
      Peer *d = fake_peer (f2, 10, 5);
      if (k == 0)
        g_signal_connect_swapped (d->ch, "message", G_CALLBACK (g_object_unref), d->ch);
      else
        g_signal_connect (d->ch, "state-changed", G_CALLBACK (drop_when_joined), NULL);
      fz_portal_channel_start (d->ch);
      request (d, "r-1", NULL);
      WAIT_FOR (d->joins == 1, 5);
      run_for (0.2);
      d->ch = NULL; /* gone with its last reference */
      peer_free (d);
    }
}

static void
test_channel_fragments (void)
{
  /* A message in fragments that never ends: the channel holds at most
   * 1 MiB of it, closes with 1009 and connects again. */
  g_autoptr (Fake) f = fake_new (FAKE_FRAGMENTS);
  g_autoptr (Peer) c = fake_peer (f, 10, 5);
  fz_portal_channel_start (c->ch);
  WAIT_FOR (c->joins == 2, 15);
  g_assert_cmpuint (f->sockets, ==, 2);
  g_test_message ("%u fragments written before the close", f->flooded);
  g_assert_cmpuint (f->flooded, <, FLOOD_FRAGMENTS);
  g_assert_cmpuint (c->events->len, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (sodium_init () < 0)
    return 1;
  portal_bin = g_getenv ("FZ_PORTAL");
  if (portal_bin == NULL)
    {
      g_printerr ("FZ_PORTAL must name the fz-portal binary\n");
      return 1;
    }
  char hash[crypto_pwhash_STRBYTES];
  /* Cheap parameters: the test is about the flow, not the hash. */
  g_assert_cmpint (crypto_pwhash_str (hash, PASSWORD, strlen (PASSWORD),
                                      crypto_pwhash_OPSLIMIT_MIN,
                                      crypto_pwhash_MEMLIMIT_MIN),
                   ==, 0);
  password_hash = g_strdup (hash);

#define ADD(name, fn, extra)                                                             \
  g_test_add ("/portal/" name, Portal, extra, portal_setup, fn, portal_teardown)
  ADD ("join-and-init", test_join_and_init, NULL);
  ADD ("heartbeat-and-idle", test_heartbeat_and_idle, "idle_timeout = 2\n");
  ADD ("unauthorized", test_unauthorized, NULL);
  ADD ("retry-after", test_retry_after, "connect_limit = 1\nconnect_window = 3\n");
  ADD ("http-body-limit", test_body_limit, NULL);
  ADD ("http-accept-after-emfile", test_accept_after_emfile, NULL);
  ADD ("http-request-timeout", test_request_timeout, "request_timeout = 1\n");
  ADD ("http-connections-per-address", test_connections_per_address,
       "connections_per_address = 3\n");
  ADD ("sigpipe", test_sigpipe, NULL);
  g_test_add_func ("/portal/first-budget", test_first_budget);
  ADD ("after-join-budget", test_after_join_budget, NULL);
  ADD ("authorization", test_authorization, NULL);
  ADD ("authorization-failures", test_authorization_failures,
       "authorization_timeout = 1\n");
  ADD ("reload", test_forbidden_after_reload, NULL);
  ADD ("policy-end", test_policy_end, NULL);
  ADD ("closing-peer-reload", test_closing_peer_reload, "idle_timeout = 1\n");
  ADD ("duplicate-gateway", test_duplicate_gateway, NULL);
  ADD ("sign-in", test_sign_in, NULL);
  ADD ("sign-in-parallel", test_sign_in_parallel, NULL);
  ADD ("log-lines", test_log_lines, NULL);
  ADD ("token-expired", test_token_expired, "client_token_lifetime = 2\n");
  ADD ("restart-and-queue", test_restart_and_queue, NULL);
  g_test_add_func ("/tls/portal", test_tls);
  g_test_add_func ("/portal/internet-policy", test_internet_policy);
  g_test_add_func ("/portal/bad-config", test_bad_config);
  g_test_add_func ("/portal/channel-heartbeat-timeout", test_heartbeat_timeout);
  g_test_add_func ("/portal/channel-join-timeout", test_join_timeout);
  g_test_add_func ("/portal/channel-join-refused", test_join_refused);
  g_test_add_func ("/portal/channel-unmatched-topic", test_unmatched_topic);
  g_test_add_func ("/portal/channel-phx-close", test_phx_close);
  g_test_add_func ("/portal/channel-garbage", test_garbage);
  g_test_add_func ("/portal/channel-fragments", test_channel_fragments);
  ADD ("deep-frame", test_deep_frame, NULL);
  ADD ("fragments", test_fragments, NULL);
  ADD ("channel-context", test_channel_context, "idle_timeout = 2\n");
  int rc = g_test_run ();
  g_free (password_hash);
  return rc;
}
