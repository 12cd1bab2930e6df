/* Sign-in pages: /<slug>?as=gui-client|headless-client shows a form;
 * POST /<slug>/sign_in checks the password (crypto_pwhash, off the main
 * loop) and either redirects to the GUI client's deep link or shows the
 * token for a headless client.
 *
 * Each check costs 64 MiB for a moment, so attempts count when they
 * start (per IPv4 address, per IPv6 /64), at most MAX_HASHING run at
 * once and at most MAX_WAITING wait for their turn. */
#include "fz-portal-credentials.h"
#include "fz-portal-http.h"
#include "fz-portal-server.h"

#include <libsoup/soup.h>
#include <sodium.h>
#include <string.h>

#define DEEP_LINK         "firezone-fd0020211111://handle_client_sign_in_callback"
#define MAX_ATTEMPTS      5 /* per prefix per window; successes are given back */
#define ATTEMPT_WINDOW_US (60 * G_USEC_PER_SEC)
#define MAX_PREFIXES      4096
#define MAX_HASHING       2
#define MAX_WAITING       64

typedef struct _Attempt Attempt;

typedef struct
{
  FzPortalServer *server;
  GHashTable *attempts; /* prefix -> GArray of gint64 start times */
  guint hashing;
  GQueue waiting; /* Attempt */
  char dummy_hash[crypto_pwhash_STRBYTES];
} SignIn;

static void attempt_free (Attempt *a);

static void
signin_free (SignIn *s)
{
  g_queue_clear_full (&s->waiting, (GDestroyNotify) attempt_free);
  g_hash_table_unref (s->attempts);
  g_free (s);
}

static const char page_head[]
  = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width\">"
    "<title>Sign in</title><style>body{font-family:sans-serif;max-width:26em;margin:4em "
    "auto;padding:0 1em}input{display:block;width:100%;margin:.3em 0 1em;padding:.4em}"
    "code{word-break:break-all;background:#eee;padding:.5em;display:block}"
    ".error{color:#b00}</style></head><body>\n";

static void
send_page (SoupServerMessage *msg, guint status, GString *body)
{
  g_string_append (body, "</body></html>\n");
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  soup_message_headers_replace (h, "Cache-Control", "no-store");
  soup_message_headers_replace (h, "X-Frame-Options", "DENY");
  soup_message_headers_replace (h, "Content-Security-Policy",
                                "default-src 'none'; style-src 'unsafe-inline'; "
                                "frame-ancestors 'none'");
  soup_message_headers_replace (h, "Referrer-Policy", "no-referrer");
  soup_server_message_set_status (msg, status, NULL);
  gsize len = body->len;
  soup_server_message_set_response (msg, "text/html; charset=utf-8", SOUP_MEMORY_TAKE,
                                    g_string_free (body, FALSE), len);
}

static void
send_error (SoupServerMessage *msg, guint status, const char *text)
{
  GString *b = g_string_new (page_head);
  g_autofree char *t = g_markup_escape_text (text, -1);
  g_string_append_printf (b, "<h1>%s</h1><p class=\"error\">%s</p>\n",
                          soup_status_get_phrase (status), t);
  send_page (msg, status, b);
}

static void
hidden (GString *b, const char *name, const char *value)
{
  if (value == NULL)
    return;
  g_autofree char *v = g_markup_escape_text (value, -1);
  g_string_append_printf (b, "<input type=\"hidden\" name=\"%s\" value=\"%s\">\n", name,
                          v);
}

static void
send_form (FzPortalServer *server, SoupServerMessage *msg, guint status, const char *as,
           const char *state, const char *nonce, const char *error)
{
  const FzPortalConfig *c = fz_portal_server_get_config (server);
  g_autofree char *account = g_markup_escape_text (c->account_name, -1);
  g_autofree char *slug = g_markup_escape_text (c->account_slug, -1);
  GString *b = g_string_new (page_head);
  g_string_append_printf (b, "<h1>Sign in to %s</h1>\n", account);
  if (error != NULL)
    {
      g_autofree char *e = g_markup_escape_text (error, -1);
      g_string_append_printf (b, "<p class=\"error\">%s</p>\n", e);
    }
  g_string_append_printf (b, "<form method=\"post\" action=\"/%s/sign_in\">\n", slug);
  hidden (b, "as", as);
  hidden (b, "state", state);
  hidden (b, "nonce", nonce);
  g_string_append (
    b, "<label>User name<input name=\"username\" autocomplete=\"username\" "
       "required autofocus></label>\n<label>Password<input name=\"password\" "
       "type=\"password\" autocomplete=\"current-password\" required></label>\n"
       "<input type=\"submit\" value=\"Sign in\">\n</form>\n");
  send_page (msg, status, b);
}

/* Checks the query or form of a sign-in: which client, and for the GUI
 * client the state and nonce it must get back. */
static const char *
check_request (GHashTable *q, const char **as, const char **state, const char **nonce)
{
  *as = q ? g_hash_table_lookup (q, "as") : NULL;
  *state = q ? g_hash_table_lookup (q, "state") : NULL;
  *nonce = q ? g_hash_table_lookup (q, "nonce") : NULL;
  if (g_strcmp0 (*as, "gui-client") == 0)
    {
      if (*state == NULL || *nonce == NULL || !fz_portal_valid_nonce (*state)
          || !fz_portal_valid_nonce (*nonce))
        return "the GUI client must send a state and a nonce of letters and digits";
      return NULL;
    }
  if (g_strcmp0 (*as, "headless-client") == 0)
    {
      *state = NULL;
      *nonce = NULL;
      return NULL;
    }
  return "as= must be gui-client or headless-client";
}

/* Counts an attempt from @prefix as it starts; FALSE when the prefix
 * has used its attempts. *@when identifies it for give_back(). */
static gboolean
attempt_begins (SignIn *s, const char *prefix, gint64 *when)
{
  gint64 now = g_get_monotonic_time ();
  if (g_hash_table_size (s->attempts) >= MAX_PREFIXES)
    {
      /* Forget prefixes whose attempts are all older than the window. */
      GHashTableIter it;
      GArray *t;
      g_hash_table_iter_init (&it, s->attempts);
      while (g_hash_table_iter_next (&it, NULL, (gpointer *) &t))
        if (t->len == 0
            || g_array_index (t, gint64, t->len - 1) <= now - ATTEMPT_WINDOW_US)
          g_hash_table_iter_remove (&it);
    }
  GArray *times = g_hash_table_lookup (s->attempts, prefix);
  if (times == NULL)
    {
      times = g_array_new (FALSE, FALSE, sizeof (gint64));
      g_hash_table_insert (s->attempts, g_strdup (prefix), times);
    }
  while (times->len > 0 && g_array_index (times, gint64, 0) <= now - ATTEMPT_WINDOW_US)
    g_array_remove_index (times, 0);
  if (times->len >= MAX_ATTEMPTS)
    return FALSE;
  g_array_append_val (times, now);
  *when = now;
  return TRUE;
}

/* A sign-in that succeeded (or was never checked) does not count. */
static void
give_back (SignIn *s, const char *prefix, gint64 when)
{
  GArray *times = g_hash_table_lookup (s->attempts, prefix);
  for (guint i = 0; times != NULL && i < times->len; i++)
    if (g_array_index (times, gint64, i) == when)
      {
        g_array_remove_index (times, i);
        break;
      }
}

struct _Attempt
{
  SignIn *signin;
  SoupServerMessage *msg;
  char *remote, *prefix, *username, *password, *hash, *as, *state, *nonce;
  gint64 started;
};

static void
attempt_free (Attempt *a)
{
  g_object_unref (a->msg);
  g_free (a->remote);
  g_free (a->prefix);
  g_free (a->username);
  if (a->password != NULL)
    sodium_memzero (a->password, strlen (a->password));
  g_free (a->password);
  g_free (a->hash);
  g_free (a->as);
  g_free (a->state);
  g_free (a->nonce);
  g_free (a);
}

static void
verify_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
  Attempt *a = data;
  /* A user without a hash still costs one verification, so timing does
   * not tell which names exist. */
  const char *hash = a->hash != NULL ? a->hash : a->signin->dummy_hash;
  gboolean ok = crypto_pwhash_str_verify (hash, a->password, strlen (a->password)) == 0;
  g_task_return_boolean (task, ok && a->hash != NULL);
}

static void verified_cb (GObject *source, GAsyncResult *res, gpointer data);

static void
start_hashing (Attempt *a)
{
  a->signin->hashing++;
  g_autoptr (GTask) task = g_task_new (NULL, NULL, verified_cb, NULL);
  g_task_set_task_data (task, a, (GDestroyNotify) attempt_free);
  g_task_run_in_thread (task, verify_thread);
}

static void answer (Attempt *a, gboolean ok);

static void
verified_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  Attempt *a = g_task_get_task_data (G_TASK (res));
  SignIn *s = a->signin;
  s->hashing--;
  if (!g_queue_is_empty (&s->waiting))
    start_hashing (g_queue_pop_head (&s->waiting));
  answer (a, g_task_propagate_boolean (G_TASK (res), NULL));
}

static void
answer (Attempt *a, gboolean ok)
{
  FzPortalServer *server = a->signin->server;
  const FzPortalConfig *c = fz_portal_server_get_config (server);
  soup_server_message_unpause (a->msg);
  const FzPortalUser *u = fz_portal_config_find_user (c, a->username);
  if (!ok || u == NULL)
    {
      /* Never the name as typed: it may be a password typed in the wrong
       * field, or carry control characters. A configured user's name is
       * safe to show. */
      if (u != NULL)
        g_message ("sign-in as %s from %s failed", u->name, a->remote);
      else
        g_message ("sign-in as an unknown user from %s failed", a->remote);
      send_form (server, a->msg, SOUP_STATUS_UNAUTHORIZED, a->as, a->state, a->nonce,
                 "Wrong user name or password.");
      return;
    }
  give_back (a->signin, a->prefix, a->started);
  g_message ("%s signed in from %s (%s)", u->name, a->remote, a->as);
  if (strcmp (a->as, "gui-client") == 0)
    {
      g_autofree char *token = fz_portal_server_issue_token (server, a->nonce, u->name);
      const char *fragment = token + strlen (a->nonce);
      g_autofree char *query
        = soup_form_encode ("account_slug", c->account_slug, "actor_name", u->full_name,
                            "fragment", fragment, "state", a->state, NULL);
      g_autofree char *location = g_strdup_printf ("%s?%s", DEEP_LINK, query);
      sodium_memzero (token, strlen (token));
      soup_server_message_set_redirect (a->msg, SOUP_STATUS_FOUND, location);
      soup_message_headers_replace (soup_server_message_get_response_headers (a->msg),
                                    "Cache-Control", "no-store");
      return;
    }
  guint8 r[16];
  char nonce[33];
  randombytes_buf (r, sizeof r);
  sodium_bin2hex (nonce, sizeof nonce, r, sizeof r);
  g_autofree char *token = fz_portal_server_issue_token (server, nonce, u->name);
  g_autofree char *name = g_markup_escape_text (u->full_name, -1);
  GString *b = g_string_new (page_head);
  g_string_append_printf (
    b,
    "<h1>Signed in as %s</h1>\n<p>Paste this token into the headless "
    "client. It is shown once; keep it secret.</p>\n<code "
    "id=\"token\">%s</code>\n",
    name, token);
  sodium_memzero (token, strlen (token));
  send_page (a->msg, SOUP_STATUS_OK, b);
}

static void
signin_cb (SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query,
           gpointer data)
{
  SignIn *s = data;
  const FzPortalConfig *c = fz_portal_server_get_config (s->server);
  const char *method = soup_server_message_get_method (msg);
  g_autofree char *page = g_strdup_printf ("/%s", c->account_slug);
  g_autofree char *post = g_strdup_printf ("/%s/sign_in", c->account_slug);
  const char *as, *state, *nonce, *why;

  if (strcmp (path, page) == 0 && strcmp (method, SOUP_METHOD_GET) == 0)
    {
      why = check_request (query, &as, &state, &nonce);
      if (why != NULL)
        send_error (msg, SOUP_STATUS_BAD_REQUEST, why);
      else
        send_form (s->server, msg, SOUP_STATUS_OK, as, state, nonce, NULL);
      return;
    }
  if (strcmp (path, post) != 0)
    {
      send_error (msg, SOUP_STATUS_NOT_FOUND, "There is nothing here.");
      return;
    }
  if (strcmp (method, SOUP_METHOD_POST) != 0)
    {
      send_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "Sign in with the form.");
      return;
    }
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  if (body->length > FZ_PORTAL_MAX_BODY)
    {
      send_error (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "The form is too large.");
      return;
    }
  g_autoptr (GBytes) bytes = soup_message_body_flatten (body);
  g_autofree char *text
    = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  g_autoptr (GHashTable) form = soup_form_decode (text);
  why = check_request (form, &as, &state, &nonce);
  const char *user = g_hash_table_lookup (form, "username");
  const char *password = g_hash_table_lookup (form, "password");
  if (why == NULL
      && (user == NULL || password == NULL || *user == '\0' || strlen (user) > 64
          || strlen (password) > 1024))
    why = "a user name and a password are required";
  if (why != NULL)
    {
      send_error (msg, SOUP_STATUS_BAD_REQUEST, why);
      return;
    }
  const char *remote = soup_server_message_get_remote_host (msg);
  g_autofree char *prefix
    = fz_portal_http_prefix (soup_server_message_get_remote_address (msg));
  gint64 started;
  if (!attempt_begins (s, prefix, &started))
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Retry-After", "60");
      send_error (msg, 429, "Too many sign-in attempts; try again in a minute.");
      return;
    }
  if (s->hashing >= MAX_HASHING && s->waiting.length >= MAX_WAITING)
    {
      give_back (s, prefix, started);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Retry-After", "5");
      send_error (msg, 429, "Many are signing in now; try again in a few seconds.");
      return;
    }
  const FzPortalUser *u = fz_portal_config_find_user (c, user);
  Attempt *a = g_new0 (Attempt, 1);
  a->signin = s;
  a->msg = g_object_ref (msg);
  a->remote = g_strdup (remote != NULL ? remote : "?");
  a->prefix = g_steal_pointer (&prefix);
  a->started = started;
  a->username = g_strdup (user);
  a->password = g_strdup (password);
  a->hash = u != NULL ? g_strdup (u->password_hash) : NULL;
  a->as = g_strdup (as);
  a->state = g_strdup (state);
  a->nonce = g_strdup (nonce);
  sodium_memzero ((char *) password, strlen (password));
  soup_server_message_pause (msg);
  if (s->hashing < MAX_HASHING)
    start_hashing (a);
  else
    g_queue_push_tail (&s->waiting, a);
}

void
fz_portal_signin_register (FzPortalServer *server, gpointer soup_server)
{
  SignIn *s = g_new0 (SignIn, 1);
  s->server = server;
  guint8 r[16];
  randombytes_buf (r, sizeof r);
  if (crypto_pwhash_str (s->dummy_hash, (const char *) r, sizeof r,
                         crypto_pwhash_OPSLIMIT_INTERACTIVE,
                         crypto_pwhash_MEMLIMIT_INTERACTIVE)
      != 0)
    g_error ("out of memory for crypto_pwhash");
  s->attempts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify) g_array_unref);
  soup_server_add_handler (soup_server, "/", signin_cb, s, (GDestroyNotify) signin_free);
}
