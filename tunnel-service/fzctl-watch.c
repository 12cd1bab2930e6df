/* fzctl watch: the properties as they are, then one line per change as
 * PropertiesChanged brings it, and the Disconnected signal, until SIGINT
 * or SIGTERM (exit 0) or the bus closes. */
#include "fzctl-commands.h"
#include "fzctl-format.h"

#include <stdio.h>

typedef struct
{
  FzctlClient *c;
  /* Text lines: the value last shown per property. A change the text
   * does not show (a site's status, say, in "Resources") prints no
   * second, identical line; the JSON events carry everything. */
  GHashTable *shown;
} Watch;

static char *
now_iso8601 (void)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();

  return g_date_time_format_iso8601 (now);
}

/* "HH:MM:SS " in local time, before each human line. */
static char *
now_clock (void)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();

  return g_date_time_format (now, "%H:%M:%S");
}

/* {"event": @event, "time": ..., } with the members @fill adds. */
static void
print_event (const char *event, void (*fill) (JsonBuilder *b, gpointer data),
             gpointer data)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) node = NULL;
  g_autofree char *time = now_iso8601 ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "event");
  json_builder_add_string_value (b, event);
  json_builder_set_member_name (b, "time");
  json_builder_add_string_value (b, time);
  if (fill != NULL)
    fill (b, data);
  json_builder_end_object (b);
  node = json_builder_get_root (b);
  fzctl_print_json (node);
}

static void
print_line (const char *label, const char *text)
{
  g_autofree char *clock = now_clock ();
  g_autofree char *line = g_strdup_printf ("%s %s: %s\n", clock, label, text);

  fzctl_print (line);
}

/* "properties": the known properties in @props (a{sv}). */
static void
fill_properties (JsonBuilder *b, gpointer data)
{
  GVariant *props = data;

  json_builder_set_member_name (b, "properties");
  json_builder_begin_object (b);
  for (gsize i = 0; fzctl_properties[i] != NULL; i++)
    {
      g_autoptr (GVariant) value
        = g_variant_lookup_value (props, fzctl_properties[i], NULL);

      if (value == NULL)
        continue;
      json_builder_set_member_name (b, fzctl_property_key (fzctl_properties[i]));
      json_builder_add_value (b, fzctl_value_to_json (fzctl_properties[i], value));
    }
  json_builder_end_object (b);
}

/* The known properties in @props, in fzctl's order. */
static void
print_properties (Watch *w, const char *event, GVariant *props)
{
  if (w->c->json)
    {
      print_event (event, fill_properties, props);
      return;
    }
  for (gsize i = 0; fzctl_properties[i] != NULL; i++)
    {
      const char *name = fzctl_properties[i];
      g_autoptr (GVariant) value = g_variant_lookup_value (props, name, NULL);
      g_autofree char *text = fzctl_format_value (name, value);

      if (text == NULL || g_strcmp0 (g_hash_table_lookup (w->shown, name), text) == 0)
        continue;
      print_line (fzctl_property_label (name), text);
      g_hash_table_insert (w->shown, (gpointer) name, g_steal_pointer (&text));
    }
}

/* Whether @props holds a property fzctl knows. */
static gboolean
any_known (GVariant *props)
{
  for (gsize i = 0; fzctl_properties[i] != NULL; i++)
    {
      g_autoptr (GVariant) value
        = g_variant_lookup_value (props, fzctl_properties[i], NULL);
      if (value != NULL)
        return TRUE;
    }
  return FALSE;
}

static void
on_changed (GDBusProxy *proxy, GVariant *changed, GStrv invalidated, Watch *w)
{
  if (any_known (changed))
    print_properties (w, "changed", changed);
}

typedef struct
{
  const char *message;
  gboolean requires_sign_in;
} Disconnected;

static void
fill_disconnected (JsonBuilder *b, gpointer data)
{
  Disconnected *d = data;

  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, d->message);
  json_builder_set_member_name (b, "requires_sign_in");
  json_builder_add_boolean_value (b, d->requires_sign_in);
}

static void
on_disconnected (FzDBusTunnel1 *proxy, const char *message, gboolean requires_sign_in,
                 Watch *w)
{
  Disconnected d = { message, requires_sign_in };
  g_autofree char *safe = NULL, *text = NULL;

  if (w->c->json)
    {
      print_event ("disconnected", fill_disconnected, &d);
      return;
    }
  safe = fzctl_sanitize (message[0] != '\0' ? message : "no reason given");
  text = g_strdup_printf ("%s%s", safe, requires_sign_in ? " (sign-in required)" : "");
  print_line ("Disconnected", text);
}

typedef struct
{
  const char *id, *reason;
} Unreachable;

static void
fill_unreachable (JsonBuilder *b, gpointer data)
{
  Unreachable *u = data;

  json_builder_set_member_name (b, "resource_id");
  json_builder_add_string_value (b, u->id);
  json_builder_set_member_name (b, "reason");
  json_builder_add_string_value (b, u->reason);
}

static void
on_unreachable (FzDBusTunnel1 *proxy, const char *id, const char *reason, Watch *w)
{
  Unreachable u = { id, reason };
  g_autofree char *safe_id = NULL, *safe_reason = NULL, *text = NULL;

  if (w->c->json)
    {
      print_event ("resource-unreachable", fill_unreachable, &u);
      return;
    }
  safe_id = fzctl_sanitize (id);
  safe_reason = fzctl_sanitize (reason);
  text = g_strdup_printf ("%s (%s)", safe_id, safe_reason);
  print_line ("Unreachable", text);
}

/* The service went away (GLib has dropped the cached values with an
 * empty change), or came back (GLib has read the values again and
 * reported them as changed just before). */
static void
on_owner (GObject *proxy, GParamSpec *pspec, Watch *w)
{
  gboolean running = fzctl_client_has_owner (FZ_DBUS_TUNNEL1 (proxy));

  if (!running)
    g_hash_table_remove_all (w->shown);
  if (w->c->json)
    print_event (running ? "service-started" : "service-stopped", NULL, NULL);
  else
    print_line ("Service", running ? "running" : "stopped");
}

FzctlExit
fzctl_cmd_watch (FzctlClient *c, const FzctlArgs *args)
{
  g_autoptr (GVariant) props = fzctl_client_dup_properties (c);
  Watch w = { c, g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free) };
  gboolean never = FALSE;

  /* The proxy subscribed to the signals before it read the properties:
   * nothing between these values and the first change is lost. */
  g_signal_connect (c->proxy, "g-properties-changed", G_CALLBACK (on_changed), &w);
  g_signal_connect (c->proxy, "disconnected", G_CALLBACK (on_disconnected), &w);
  g_signal_connect (c->proxy, "resource-unreachable", G_CALLBACK (on_unreachable), &w);
  g_signal_connect (c->proxy, "notify::g-name-owner", G_CALLBACK (on_owner), &w);
  fzctl_client_disarm (c);
  print_properties (&w, "initial", props);
  fzctl_client_iterate (c, &never, -1);
  g_signal_handlers_disconnect_by_data (c->proxy, &w);
  g_hash_table_unref (w.shown);
  if (c->signal != 0)
    return FZCTL_EXIT_OK;
  g_printerr ("fzctl: the connection to the system bus closed\n");
  return FZCTL_EXIT_NO_SERVICE;
}
