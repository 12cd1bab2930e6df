/* Phoenix V1 frames as the portal sends them, and everything else. */
#include "fz-private.h"

#include <string.h>

static FzPhoenixFrame *
parse (const char *text, GError **error)
{
  return fz_phoenix_frame_parse (text, strlen (text), error);
}

static void
test_roundtrip (void)
{
  static const char *const frames[] = {
    "{\"topic\":\"client\",\"event\":\"phx_join\",\"payload\":null,\"ref\":0}",
    "{\"topic\":\"phoenix\",\"event\":\"heartbeat\",\"payload\":{},\"ref\":17}",
    "{\"topic\":\"client\",\"event\":\"resource_deleted\",\"payload\":\"73037362-715d-"
    "4a83-a749-"
    "f18eadd970e6\",\"ref\":null}",
    "{\"topic\":\"gateway\",\"event\":\"init\",\"payload\":{\"relays\":[{\"id\":\"x\"}]},"
    "\"ref\":"
    "null}",
  };
  for (guint i = 0; i < G_N_ELEMENTS (frames); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FzPhoenixFrame) f = parse (frames[i], &error);
      g_assert_no_error (error);
      g_autofree char *out = fz_phoenix_frame_to_string (f);
      g_assert_cmpstr (out, ==, frames[i]);
    }
  g_autoptr (FzPhoenixFrame) f = parse (frames[1], NULL);
  g_assert_cmpstr (f->topic, ==, "phoenix");
  g_assert_cmpstr (f->event, ==, "heartbeat");
  g_assert_cmpint (f->ref, ==, 17);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (f->payload));
  g_autoptr (FzPhoenixFrame) push = parse (frames[2], NULL);
  g_assert_cmpint (push->ref, ==, FZ_PHOENIX_NO_REF);

  /* A newer portal's extra members are ignored; order does not matter. */
  g_autoptr (FzPhoenixFrame) extra = parse (
    "{\"ref\":3,\"join_ref\":\"1\",\"payload\":[],\"event\":\"e\",\"topic\":\"t\"}",
    NULL);
  g_assert_nonnull (extra);
  g_assert_cmpint (extra->ref, ==, 3);

  /* Built frames: a missing payload is null, no ref is null. */
  g_autoptr (FzPhoenixFrame) built = fz_phoenix_frame_new ("client", "phx_join", NULL, 0);
  g_autofree char *text = fz_phoenix_frame_to_string (built);
  g_assert_cmpstr (text, ==, frames[0]);
}

static void
reject (const char *text, gsize len, const char *needle)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FzPhoenixFrame) f = fz_phoenix_frame_parse (text, len, &error);
  g_assert_null (f);
  g_assert_error (error, FZ_PHOENIX_ERROR, FZ_PHOENIX_ERROR_INVALID);
  if (strstr (error->message, needle) == NULL)
    g_error ("\"%.40s\": \"%s\" does not mention \"%s\"", text, error->message, needle);
}

#define R(text, needle) reject (text, strlen (text), needle)

static void
test_reject (void)
{
  R ("", "not a JSON object"); /* json-glib takes "" for an empty document */
  R ("{", "not JSON");
  R ("[]", "not a JSON object");
  R ("\"x\"", "not a JSON object");
  R ("{\"event\":\"e\",\"payload\":null,\"ref\":0}", "\"topic\"");
  R ("{\"topic\":7,\"event\":\"e\",\"payload\":null,\"ref\":0}", "\"topic\"");
  R ("{\"topic\":\"\",\"event\":\"e\",\"payload\":null,\"ref\":0}", "empty");
  R ("{\"topic\":\"t\",\"payload\":null,\"ref\":0}", "\"event\"");
  R ("{\"topic\":\"t\",\"event\":null,\"payload\":null,\"ref\":0}", "\"event\"");
  R ("{\"topic\":\"t\",\"event\":\"e\",\"ref\":0}", "payload");
  R ("{\"topic\":\"t\",\"event\":\"e\",\"payload\":null,\"ref\":-1}", "ref");
  R ("{\"topic\":\"t\",\"event\":\"e\",\"payload\":null,\"ref\":1.5}", "ref");
  R ("{\"topic\":\"t\",\"event\":\"e\",\"payload\":null,\"ref\":\"3\"}", "ref");
  R ("{\"topic\":\"t\",\"event\":\"e\",\"payload\":null,\"ref\":[]}", "ref");
  g_autofree char *longname = g_strnfill (FZ_PHOENIX_MAX_NAME + 1, 'a');
  g_autofree char *long_frame
    = g_strdup_printf ("{\"topic\":\"%s\",\"event\":\"e\",\"payload\":null}", longname);
  R (long_frame, "longer than");
  reject ("{\"topic\":\"t\"\0,\"event\":\"e\",\"payload\":null}", 40, "NUL");
  gsize big = FZ_PHOENIX_MAX_FRAME + 1;
  g_autofree char *huge = g_malloc (big);
  memset (huge, ' ', big);
  reject (huge, big, "1 MiB");
}

/* @n copies of @unit, then @tail. */
static char *
repeat (const char *unit, guint n, const char *tail)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < n; i++)
    g_string_append (s, unit);
  g_string_append (s, tail);
  return g_string_free (s, FALSE);
}

/* A frame whose payload is @depth - 1 arrays deep (the frame's own
 * object is the first level). */
static char *
nested_frame (guint depth)
{
  g_autofree char *open = g_strnfill (depth - 1, '[');
  g_autofree char *close = g_strnfill (depth - 1, ']');
  return g_strdup_printf ("{\"topic\":\"t\",\"event\":\"e\",\"payload\":%s%s}", open,
                          close);
}

/* json-glib recurses once per level: 80 000 of them overflowed the
 * stack. Too deep is refused before it parses. */
static void
test_deep (void)
{
  g_autofree char *arrays = g_strnfill (80000, '[');
  R (arrays, "nests deeper than 64 levels");
  g_autofree char *objects = repeat ("{\"a\":", 80000, "");
  R (objects, "nests deeper than 64 levels");
  g_autofree char *in_frame
    = repeat ("{\"topic\":\"t\",\"event\":\"e\",\"payload\":", 1, arrays);
  R (in_frame, "nests deeper than 64 levels");
  /* Closed levels do not count; unmatched closers do not make room. */
  g_autofree char *items = repeat ("[[]],", 20000, "[]]");
  g_autofree char *wide = g_strconcat ("[", items, NULL);
  R (wide, "not a JSON object");
  g_autofree char *closers = g_strconcat ("]]]]]]]]", arrays, NULL);
  R (closers, "nests deeper");

  g_autofree char *at_limit = nested_frame (FZ_PHOENIX_MAX_DEPTH);
  g_autoptr (GError) error = NULL;
  g_autoptr (FzPhoenixFrame) f = parse (at_limit, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (f->payload));
  g_autofree char *over = nested_frame (FZ_PHOENIX_MAX_DEPTH + 1);
  R (over, "nests deeper");

  /* Brackets in strings are text, escaped quotes do not end them. */
  g_autofree char *text = repeat ("[{", 100, "");
  g_autofree char *quoted = g_strdup_printf (
    "{\"topic\":\"t\",\"event\":\"e\",\"payload\":\"\\\"%s\\\\\"}", text);
  g_autoptr (FzPhoenixFrame) q = parse (quoted, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (json_node_get_string (q->payload)), ==, 202);
  g_autofree char *escaped = g_strdup_printf ("\"\\\"\"%s", arrays);
  R (escaped, "nests deeper");

  /* json-glib would read a comment or a single-quoted string, where the
   * count cannot follow it. */
  g_autofree char *comment = g_strdup_printf ("/* \" */%s", arrays);
  R (comment, "a comment or a single quote");
  g_autofree char *single = g_strdup_printf ("'\"'%s", arrays);
  R (single, "a comment or a single quote");
  R ("{\"topic\":\"t\",\"event\":\"e\",\"payload\":null}// x", "comment");

  /* The same bound for JSON that is not a frame. */
  g_autoptr (JsonNode) deep = fz_phoenix_json_parse (arrays, strlen (arrays), &error);
  g_assert_null (deep);
  g_assert_error (error, FZ_PHOENIX_ERROR, FZ_PHOENIX_ERROR_INVALID);
  g_clear_error (&error);
  g_autoptr (JsonNode) empty = fz_phoenix_json_parse ("", 0, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_NULL (empty));
}

/* One data frame through the limit: its payload out, or NULL. */
static GBytes *
through_limit (SoupWebsocketExtension *limit, guint8 opcode, gboolean fin, gsize len,
               GError **error)
{
  guint8 header[2] = { (fin ? 0x80 : 0) | opcode, 0 };
  GBytes *in = g_bytes_new_take (g_malloc0 (len), len);
  return soup_websocket_extension_process_incoming_message (limit, header, in, error);
}

static void
test_limit (void)
{
  g_autoptr (SoupWebsocketExtension) limit = fz_phoenix_limit_new (100);
  g_autoptr (GError) error = NULL;
  /* Whole messages up to the limit, each counted alone. */
  for (int i = 0; i < 3; i++)
    {
      g_autoptr (GBytes) b = through_limit (limit, 0x1, TRUE, 100, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (g_bytes_get_size (b), ==, 100);
    }
  /* Fragments add up; control frames between them do not count. */
  g_autoptr (GBytes) a = through_limit (limit, 0x1, FALSE, 60, &error);
  g_autoptr (GBytes) ping = through_limit (limit, 0x9, TRUE, 100, &error);
  g_autoptr (GBytes) b = through_limit (limit, 0x0, FALSE, 40, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (a) + g_bytes_get_size (b), ==, 100);
  g_assert_cmpuint (g_bytes_get_size (ping), ==, 100);
  g_autoptr (GBytes) c = through_limit (limit, 0x0, TRUE, 1, &error);
  g_assert_null (c);
  g_assert_error (error, SOUP_WEBSOCKET_ERROR, SOUP_WEBSOCKET_CLOSE_TOO_BIG);
  g_clear_error (&error);
  /* From then on nothing is kept, whatever comes. */
  g_autoptr (GBytes) d = through_limit (limit, 0x0, FALSE, 1000, &error);
  g_autoptr (GBytes) e = through_limit (limit, 0x1, TRUE, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (d), ==, 0);
  g_assert_cmpuint (g_bytes_get_size (e), ==, 0);

  /* One made by libsoup (for a client) has the frame limit. */
  g_autoptr (SoupWebsocketExtension) made = g_object_new (FZ_TYPE_PHOENIX_LIMIT, NULL);
  g_autoptr (GBytes) big = through_limit (made, 0x2, TRUE, FZ_PHOENIX_MAX_FRAME, &error);
  g_assert_no_error (error);
  g_assert_nonnull (big);
  g_autoptr (GBytes) over
    = through_limit (made, 0x2, TRUE, FZ_PHOENIX_MAX_FRAME + 1, &error);
  g_assert_null (over);
  g_assert_error (error, SOUP_WEBSOCKET_ERROR, SOUP_WEBSOCKET_CLOSE_TOO_BIG);
}

/* json-glib keeps strings as C strings: "ab\u0000cd" would come out as
 * "ab", so an id could be cut to another id. Refused before it parses;
 * an escaped backslash before "u0000" is only text. */
static void
test_escaped_nul (void)
{
  R ("{\"topic\":\"t\",\"event\":\"e\",\"payload\":{\"id\":\"ab\\u0000cd\"}}",
     "escaped NUL");
  R ("{\"topic\":\"t\\u0000x\",\"event\":\"e\",\"payload\":null}", "escaped NUL");
  R ("{\"topic\":\"t\",\"event\":\"e\",\"payload\":{\"k\\u0000\":1}}", "escaped NUL");
  g_autoptr (GError) error = NULL;
  const char *text = "{\"topic\":\"t\",\"event\":\"e\",\"payload\":\"a\\\\u0000\"}";
  g_autoptr (FzPhoenixFrame) f = parse (text, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_node_get_string (f->payload), ==, "a\\u0000");
  g_autoptr (FzPhoenixFrame) g
    = parse ("{\"topic\":\"t\",\"event\":\"e\",\"payload\":\"\\u0001\"}", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_node_get_string (g->payload), ==, "\001");
}

/* json-glib's scanner reads escapes JSON does not have (octal \7, \x41,
 * \q) and lone surrogates, and writes back a different string: the
 * fuzzer found "\\\7777" in a member name. Only RFC 8259 strings pass. */
static void
test_strict_strings (void)
{
#define P(s) "{\"topic\":\"t\",\"event\":\"e\",\"payload\":" s "}"
  static const char *const bad[] = {
    P ("\"\\7\""),
    P ("\"\\x41\""),
    P ("\"\\q\""),
    P ("\"\\ud800\""),
    P ("\"\\udc00x\""),
    P ("\"\\ud800\\u0041\""),
    P ("\"\\u12\""),
    P ("\"a\nb\""),
    P ("\"a\tb\""),
    P ("{\"k\\7\":1}"),
    P ("\"\\\\\\7777\""),
    P ("\"\\"),
    P ("0x10"),
    P ("01"),
    P ("1."),
    P (".5"),
    P ("-"),
    P ("+1"),
    P ("1}{}"),
    P ("1e"),
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FzPhoenixFrame) f = parse (bad[i], &error);
      if (f != NULL)
        g_error ("accepted %s", bad[i]);
      g_assert_error (error, FZ_PHOENIX_ERROR, FZ_PHOENIX_ERROR_INVALID);
    }
  static const struct
  {
    const char *text, *value;
  } good[] = {
    { P ("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""), "\"\\/\b\f\n\r\t" },
    { P ("\"\\u00e9\\ud83d\\ude00\""), "\u00e9\U0001F600" },
    { P ("\"\\\\7\""), "\\7" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FzPhoenixFrame) f = parse (good[i].text, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (json_node_get_string (f->payload), ==, good[i].value);
      g_autofree char *text = fz_phoenix_frame_to_string (f);
      g_autoptr (FzPhoenixFrame) back = parse (text, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (json_node_get_string (back->payload), ==, good[i].value);
    }
#undef P
}

/* Numbers json-glib cannot hold are refused: one beyond a double would
 * be infinity (written back as "inf", which is not JSON; the fuzzer found
 * it), an integer beyond gint64 silently -1. */
static void
test_out_of_range (void)
{
  R ("{\"topic\":\"t\",\"event\":\"e\",\"payload\":1e999}", "out of range");
  R ("{\"topic\":\"t\",\"event\":\"e\",\"payload\":[0,{\"a\":-1e400}]}", "out of range");
  R ("{\"topic\":\"phoenix\",\"event\":\"pply\",\"payload\":0777777777777778e777777777}",
     "number JSON does not have");
  R ("{\"topic\":\"phoenix\",\"event\":\"pply\",\"payload\":777777777777778e777777777}",
     "out of range");
  R ("{\"topic\":\"t\",\"event\":\"e\",\"payload\":123456789012345678901234}",
     "integer out of range");
  R ("{\"topic\":\"t\",\"event\":\"e\",\"payload\":{\"x\":-9999999999999999999}}",
     "integer out of range");
  R ("{\"topic\":\"t\",\"event\":\"e\",\"payload\":null,\"ref\":18446744073709551617}",
     "integer out of range");
  g_autoptr (GError) error = NULL;
  g_autoptr (FzPhoenixFrame) f
    = parse ("{\"topic\":\"t\",\"event\":\"e\",\"payload\":[-999999999999999999,1.5,"
             "\"123456789012345678901234\"]}",
             &error);
  g_assert_no_error (error);
  JsonArray *a = json_node_get_array (f->payload);
  g_assert_cmpint (json_array_get_int_element (a, 0), ==, -999999999999999999);
  g_assert_cmpfloat (json_array_get_double_element (a, 1), ==, 1.5);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/phoenix-frame/roundtrip", test_roundtrip);
  g_test_add_func ("/phoenix-frame/reject", test_reject);
  g_test_add_func ("/phoenix-frame/deep", test_deep);
  g_test_add_func ("/phoenix-frame/escaped-nul", test_escaped_nul);
  g_test_add_func ("/phoenix-frame/out-of-range", test_out_of_range);
  g_test_add_func ("/phoenix-frame/strict-strings", test_strict_strings);
  g_test_add_func ("/phoenix-frame/limit", test_limit);
  return g_test_run ();
}
