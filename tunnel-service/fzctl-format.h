/* What fzctl prints: dev.libfz.Tunnel1's properties as readable text or
 * as JSON (the shapes are documented in docs/fzctl.md and stay stable).
 * Pure functions of GVariants, so the unit suite checks them. Text from
 * the service (resource names come from the portal) is made safe for a
 * terminal: no control or format characters get through. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The properties fzctl knows, by their D-Bus names, in the order it
 * prints them; NULL-terminated. */
extern const char *const fzctl_properties[];

/* "Internet resource" for "InternetResourceEnabled"; NULL if unknown. */
const char *fzctl_property_label (const char *name);
/* "internet_resource_enabled" for "InternetResourceEnabled"; NULL if
 * unknown. */
const char *fzctl_property_key (const char *name);

/* @text as valid UTF-8 with every control, format (bidi overrides,
 * zero-width) and line-separator character replaced by '?'. */
char *fzctl_sanitize (const char *text);

/* The value of property @name as text ("on", "100.64.0.2, fd00::2",
 * "4 (App, Web)"...); NULL when @name is unknown or @value (may be NULL)
 * is missing or not of the property's type. */
char *fzctl_format_value (const char *name, GVariant *value);

/* @props (a{sv}, as GetAll returns): one aligned "Label: value" line per
 * known property. */
char *fzctl_format_status (GVariant *props);

/* @resources (aa{sv}, or NULL): a table NAME TYPE ADDRESS SITE STATUS
 * sorted by name, or a line saying there are none. */
char *fzctl_format_resources (GVariant *resources);

/* Property @name's value as JSON: a string, boolean, array of strings or
 * array of resource objects; JSON null when missing or mistyped. */
JsonNode *fzctl_value_to_json (const char *name, GVariant *value);

/* { "state", "internet_resource_enabled", "tunnel_addresses",
 *   "resources", "last_error", "device_id", "version" } from @props. */
JsonNode *fzctl_status_to_json (GVariant *props);

/* [ { "id", "name", "type", "address", "address_description",
 *     "site_name", "site_status", "can_be_disabled" } ] sorted by name;
 * a key the service left out is null. */
JsonNode *fzctl_resources_to_json (GVariant *resources);

/* @node on one line, with a newline. */
char *fzctl_json_line (JsonNode *node);

G_END_DECLS
