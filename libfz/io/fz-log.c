#include "fz-log.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

static const char *log_program = "fz";
static gboolean log_json;
static GLogLevelFlags log_max = G_LOG_LEVEL_INFO; /* the least severe shown */

static const char *
level_name (GLogLevelFlags level)
{
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    return "ERROR";
  if (level & G_LOG_LEVEL_WARNING)
    return "WARN";
  if (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    return "INFO";
  return "DEBUG";
}

static const char *
field (const GLogField *fields, gsize n, const char *key)
{
  for (gsize i = 0; i < n; i++)
    if (g_str_equal (fields[i].key, key))
      return fields[i].length < 0 ? fields[i].value : NULL;
  return NULL;
}

static void
write_json (GString *line, const char *level, const char *domain, const char *message)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *ts = g_date_time_format_iso8601 (now);
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "timestamp");
  json_builder_add_string_value (b, ts);
  json_builder_set_member_name (b, "level");
  json_builder_add_string_value (b, level);
  json_builder_set_member_name (b, "target");
  json_builder_add_string_value (b, domain);
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, message);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  g_string_append (line, text);
}

static GLogWriterOutput
writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  const char *message = field (fields, n_fields, "MESSAGE");
  const char *domain = field (fields, n_fields, "GLIB_DOMAIN");
  g_autoptr (GString) line = g_string_new (NULL);
  GLogLevelFlags severity = level & G_LOG_LEVEL_MASK;

  /* Lower flags are more severe. */
  if (severity > log_max)
    return G_LOG_WRITER_HANDLED;
  if (domain == NULL)
    domain = log_program;
  if (message == NULL)
    message = "";
  if (log_json)
    write_json (line, level_name (level), domain, message);
  else
    {
      g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
      g_autofree char *ts = g_date_time_format (now, "%Y-%m-%dT%H:%M:%S.%fZ");
      g_string_append_printf (line, "%s %5s %s: %s", ts, level_name (level), domain,
                              message);
    }
  g_string_append_c (line, '\n');
  fputs (line->str, stderr);
  fflush (stderr);
  return G_LOG_WRITER_HANDLED;
}

/* RUST_LOG: "info", "debug", "fz=debug,warn"...: the most verbose level named. */
static gboolean
parse_filter (const char *filter, GLogLevelFlags *out, GError **error)
{
  static const struct
  {
    const char *name;
    GLogLevelFlags level;
  } levels[] = {
    { "error", G_LOG_LEVEL_CRITICAL }, { "warn", G_LOG_LEVEL_WARNING },
    { "info", G_LOG_LEVEL_INFO },      { "debug", G_LOG_LEVEL_DEBUG },
    { "trace", G_LOG_LEVEL_DEBUG },    { "off", G_LOG_LEVEL_ERROR },
  };
  g_auto (GStrv) parts = g_strsplit (filter, ",", 64);
  GLogLevelFlags best = 0;

  for (guint i = 0; parts[i] != NULL; i++)
    {
      const char *eq = strchr (parts[i], '=');
      const char *name = g_strstrip (eq != NULL ? (char *) eq + 1 : parts[i]);
      gboolean known = FALSE;

      if (name[0] == '\0')
        continue;
      for (guint k = 0; k < G_N_ELEMENTS (levels); k++)
        if (g_ascii_strcasecmp (name, levels[k].name) == 0)
          {
            best = MAX (best, levels[k].level);
            known = TRUE;
          }
      if (!known)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "RUST_LOG: unknown level '%s' (error, warn, info, debug, trace)",
                       name);
          return FALSE;
        }
    }
  if (best != 0)
    *out = best;
  return TRUE;
}

gboolean
fz_log_setup (const char *program, GError **error)
{
  const char *format = g_getenv ("FIREZONE_LOG_FORMAT");
  const char *filter = g_getenv ("RUST_LOG");
  gboolean ok = TRUE;

  log_program = program;
  g_log_set_writer_func (writer, NULL, NULL);
  if (format != NULL && !g_str_equal (format, "human") && !g_str_equal (format, "json"))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "FIREZONE_LOG_FORMAT: '%s' is neither human nor json", format);
      ok = FALSE;
    }
  log_json = g_strcmp0 (format, "json") == 0;
  if (ok && filter != NULL && !parse_filter (filter, &log_max, error))
    ok = FALSE;
  return ok;
}
