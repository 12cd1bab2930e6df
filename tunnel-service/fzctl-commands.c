/* The commands that read the properties or make one call. */
#include "fzctl-commands.h"
#include "fzctl-format.h"

FzctlExit
fzctl_cmd_status (FzctlClient *c, const FzctlArgs *args)
{
  g_autoptr (GVariant) props = fzctl_client_dup_properties (c);

  if (args->json)
    {
      g_autoptr (JsonNode) node = fzctl_status_to_json (props);
      fzctl_print_json (node);
    }
  else
    {
      g_autofree char *text = fzctl_format_status (props);
      fzctl_print (text);
    }
  return FZCTL_EXIT_OK;
}

FzctlExit
fzctl_cmd_resources (FzctlClient *c, const FzctlArgs *args)
{
  g_autoptr (GVariant) resources = fzctl_client_dup_property (c, "Resources");

  if (resources != NULL && !g_variant_is_of_type (resources, G_VARIANT_TYPE ("aa{sv}")))
    g_clear_pointer (&resources, g_variant_unref);
  if (args->json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      g_autoptr (JsonNode) node = NULL;

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "resources");
      json_builder_add_value (b, fzctl_resources_to_json (resources));
      json_builder_end_object (b);
      node = json_builder_get_root (b);
      fzctl_print_json (node);
    }
  else
    {
      g_autofree char *text = fzctl_format_resources (resources);
      fzctl_print (text);
    }
  return FZCTL_EXIT_OK;
}

void
fzctl_print_ok (const char *key, JsonNode *value)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) node = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ok");
  json_builder_add_boolean_value (b, TRUE);
  if (key != NULL)
    {
      json_builder_set_member_name (b, key);
      json_builder_add_value (b, value);
    }
  json_builder_end_object (b);
  node = json_builder_get_root (b);
  fzctl_print_json (node);
}

static JsonNode *
json_string (const char *s)
{
  JsonNode *node = json_node_new (JSON_NODE_VALUE);

  json_node_set_string (node, s);
  return node;
}

static JsonNode *
json_boolean (gboolean b)
{
  JsonNode *node = json_node_new (JSON_NODE_VALUE);

  json_node_set_boolean (node, b);
  return node;
}

FzctlExit
fzctl_cmd_disconnect (FzctlClient *c, const FzctlArgs *args)
{
  g_autoptr (GAsyncResult) res = NULL;
  g_autoptr (GError) error = NULL;

  fz_dbus_tunnel1_call_disconnect (c->proxy, c->cancellable, fzctl_client_on_result,
                                   &res);
  if (!fzctl_client_await (c, &res, &error)
      || !fz_dbus_tunnel1_call_disconnect_finish (c->proxy, res, &error))
    return fzctl_client_fail (c, error);
  fzctl_client_settle (c, "State", g_variant_new_string ("disconnected"),
                       FZCTL_SETTLE_MS);
  if (args->json)
    fzctl_print_ok ("state", json_string ("disconnected"));
  else
    fzctl_print ("Disconnected.\n");
  return FZCTL_EXIT_OK;
}

FzctlExit
fzctl_cmd_internet (FzctlClient *c, const FzctlArgs *args)
{
  g_autoptr (GAsyncResult) res = NULL;
  g_autoptr (GError) error = NULL;
  gboolean on = args->internet == 1;

  fz_dbus_tunnel1_call_set_internet_resource_enabled (c->proxy, on, c->cancellable,
                                                      fzctl_client_on_result, &res);
  if (!fzctl_client_await (c, &res, &error)
      || !fz_dbus_tunnel1_call_set_internet_resource_enabled_finish (c->proxy, res,
                                                                     &error))
    return fzctl_client_fail (c, error);
  fzctl_client_settle (c, "InternetResourceEnabled", g_variant_new_boolean (on),
                       FZCTL_SETTLE_MS);
  if (args->json)
    fzctl_print_ok ("internet_resource_enabled", json_boolean (on));
  else
    fzctl_print (on ? "Internet resource on.\n" : "Internet resource off.\n");
  return FZCTL_EXIT_OK;
}

FzctlExit
fzctl_cmd_reset (FzctlClient *c, const FzctlArgs *args)
{
  g_autoptr (GAsyncResult) res = NULL;
  g_autoptr (GVariant) state = NULL;
  g_autoptr (GError) error = NULL;

  fz_dbus_tunnel1_call_reset (c->proxy, c->cancellable, fzctl_client_on_result, &res);
  if (!fzctl_client_await (c, &res, &error)
      || !fz_dbus_tunnel1_call_reset_finish (c->proxy, res, &error))
    return fzctl_client_fail (c, error);
  state = fzctl_client_dup_property (c, "State");
  if (args->json)
    fzctl_print_ok (NULL, NULL);
  else if (state != NULL && g_variant_is_of_type (state, G_VARIANT_TYPE_STRING)
           && g_str_equal (g_variant_get_string (state, NULL), "disconnected"))
    fzctl_print ("Not connected: nothing to reset.\n");
  else
    fzctl_print ("Connections reset.\n");
  return FZCTL_EXIT_OK;
}
