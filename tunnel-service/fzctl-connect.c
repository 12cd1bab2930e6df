/* fzctl connect: Connect, then (unless --no-wait) wait for State
 * "connected" or for the Disconnected signal that says why not. */
#include "fzctl-commands.h"
#include "fzctl-format.h"

typedef struct
{
  FzctlClient *c;
  gboolean left; /* State was not "disconnected" since the call */
  gboolean done;
  FzctlExit result; /* when done */
  char *message;    /* when done with an error */
} Wait;

static void
finish (Wait *w, FzctlExit result, char *message)
{
  if (w->done)
    {
      g_free (message);
      return;
    }
  w->done = TRUE;
  w->result = result;
  w->message = message;
}

static char *
dup_state (FzctlClient *c)
{
  g_autoptr (GVariant) v = fzctl_client_dup_property (c, "State");
  g_autofree char *text = fzctl_format_value ("State", v);

  return g_strdup (text != NULL ? text : "unknown");
}

static void
check_state (Wait *w)
{
  g_autofree char *state = dup_state (w->c);

  if (g_str_equal (state, "connected"))
    finish (w, FZCTL_EXIT_OK, NULL);
  else if (!g_str_equal (state, "disconnected"))
    w->left = TRUE;
  else if (w->left) /* stopped without Disconnected: someone called Disconnect */
    finish (w, FZCTL_EXIT_CONNECT_FAILED,
            g_strdup ("the tunnel stopped while connecting"));
}

static void
on_changed (GDBusProxy *proxy, GVariant *changed, GStrv invalidated, Wait *w)
{
  check_state (w);
}

static void
on_disconnected (FzDBusTunnel1 *proxy, const char *message, gboolean requires_sign_in,
                 Wait *w)
{
  g_autofree char *safe = fzctl_sanitize (message);

  if (requires_sign_in)
    finish (w, FZCTL_EXIT_SIGN_IN_REQUIRED,
            g_strdup_printf ("the portal refused the token, sign in again: %s", safe));
  else
    finish (w, FZCTL_EXIT_CONNECT_FAILED,
            g_strdup_printf ("the tunnel ended while connecting: %s", safe));
}

static void
on_owner (GObject *proxy, GParamSpec *pspec, Wait *w)
{
  if (!fzctl_client_has_owner (FZ_DBUS_TUNNEL1 (proxy)))
    finish (w, FZCTL_EXIT_CONNECT_FAILED,
            g_strdup ("the tunnel service stopped while connecting"));
}

static GVariant *
build_options (const FzctlArgs *args)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (args->api_url != NULL)
    g_variant_builder_add (&b, "{sv}", "api_url", g_variant_new_string (args->api_url));
  if (args->account_slug != NULL)
    g_variant_builder_add (&b, "{sv}", "account_slug",
                           g_variant_new_string (args->account_slug));
  if (args->internet >= 0)
    g_variant_builder_add (&b, "{sv}", "internet_resource",
                           g_variant_new_boolean (args->internet == 1));
  return g_variant_builder_end (&b);
}

/* Why the wait ended without a result. */
static void
finish_unfinished (Wait *w)
{
  FzctlClient *c = w->c;
  g_autofree char *state = dup_state (c);

  if (c->signal != 0)
    finish (w, FZCTL_EXIT_INTERRUPTED,
            g_strdup ("interrupted; the service goes on connecting (fzctl disconnect "
                      "stops it)"));
  else if (c->timed_out)
    finish (w, FZCTL_EXIT_TIMEOUT,
            g_strdup_printf ("not connected within %u s (state: %s); the service goes on "
                             "trying (fzctl disconnect stops it)",
                             c->timeout_s, state));
  else
    finish (w, FZCTL_EXIT_NO_SERVICE,
            g_strdup ("the connection to the system bus closed"));
}

static FzctlExit
report (Wait *w, const FzctlArgs *args)
{
  g_autoptr (GError) error = NULL;
  JsonNode *state;

  if (w->result != FZCTL_EXIT_OK)
    {
      error = g_error_new_literal (FZ_CTL_ERROR, w->result, w->message);
      return fzctl_client_fail (w->c, error);
    }
  if (args->json)
    {
      state = json_node_new (JSON_NODE_VALUE);
      json_node_set_string (state, args->no_wait ? "connecting" : "connected");
      fzctl_print_ok ("state", state);
    }
  else if (args->no_wait)
    fzctl_print ("Connecting (fzctl status or fzctl watch shows how it goes).\n");
  else
    fzctl_print ("Connected.\n");
  return FZCTL_EXIT_OK;
}

FzctlExit
fzctl_cmd_connect (FzctlClient *c, const FzctlArgs *args, const char *token)
{
  g_autoptr (GAsyncResult) res = NULL;
  g_autoptr (GError) error = NULL;
  Wait w = { .c = c };
  FzctlExit result;

  /* Before the call: what the call causes must not be missed. */
  g_signal_connect (c->proxy, "g-properties-changed", G_CALLBACK (on_changed), &w);
  g_signal_connect (c->proxy, "disconnected", G_CALLBACK (on_disconnected), &w);
  g_signal_connect (c->proxy, "notify::g-name-owner", G_CALLBACK (on_owner), &w);
  fz_dbus_tunnel1_call_connect (c->proxy, token, build_options (args), c->cancellable,
                                fzctl_client_on_result, &res);
  if (!fzctl_client_await (c, &res, &error)
      || !fz_dbus_tunnel1_call_connect_finish (c->proxy, res, &error))
    result = fzctl_client_fail (c, error);
  else
    {
      if (args->no_wait)
        w.done = TRUE; /* result OK */
      check_state (&w);
      fzctl_client_iterate (c, &w.done, -1);
      if (!w.done)
        finish_unfinished (&w);
      result = report (&w, args);
    }
  g_signal_handlers_disconnect_by_data (c->proxy, &w);
  g_free (w.message);
  return result;
}
