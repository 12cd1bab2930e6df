#include "fz-phoenix-frame.h"

#include <math.h>
#include <string.h>

/* The quark name is a string, not an expression: keep its dashes. */
/* clang-format off */
G_DEFINE_QUARK (fz-phoenix-error-quark, fz_phoenix_error)
/* clang-format on */

FzPhoenixFrame *
fz_phoenix_frame_new (const char *topic, const char *event, JsonNode *payload, gint64 ref)
{
  FzPhoenixFrame *f = g_new0 (FzPhoenixFrame, 1);
  f->topic = g_strdup (topic);
  f->event = g_strdup (event);
  f->payload = payload != NULL ? payload : json_node_new (JSON_NODE_NULL);
  f->ref = ref;
  return f;
}

void
fz_phoenix_frame_free (FzPhoenixFrame *f)
{
  if (f == NULL)
    return;
  g_free (f->topic);
  g_free (f->event);
  json_node_unref (f->payload);
  g_free (f);
}

static gboolean
invalid (GError **error, const char *what)
{
  g_set_error (error, FZ_PHOENIX_ERROR, FZ_PHOENIX_ERROR_INVALID, "portal frame %s",
               what);
  return FALSE;
}

/* A string member of bounded length, without NUL bytes. */
static const char *
name_member (JsonObject *o, const char *key, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n)
      || json_node_get_value_type (n) != G_TYPE_STRING)
    {
      g_autofree char *why = g_strdup_printf ("has no \"%s\" string", key);
      invalid (error, why);
      return NULL;
    }
  const char *s = json_node_get_string (n);
  gsize len = strlen (s);
  if (len == 0 || len > FZ_PHOENIX_MAX_NAME)
    {
      g_autofree char *why = g_strdup_printf ("\"%s\" is empty or longer than %d bytes",
                                              key, FZ_PHOENIX_MAX_NAME);
      invalid (error, why);
      return NULL;
    }
  return s;
}

static gsize
digits (const char *t, gsize i, gsize len)
{
  gsize start = i;
  while (i < len && g_ascii_isdigit (t[i]))
    i++;
  return i - start;
}

/* The length of the number at @t as RFC 8259 writes it, or 0: json-glib
 * also reads 0x10, 01, 1. and .5. An integer has at most 18 digits:
 * json-glib 1.6 reads one beyond gint64 as -1, silently (*@too_long). */
static gsize
number_len (const char *t, gsize len, gboolean *too_long)
{
  gsize i = t[0] == '-' ? 1 : 0;
  gsize n = digits (t, i, len);
  if (n == 0 || (n > 1 && t[i] == '0'))
    return 0;
  i += n;
  gboolean integer = TRUE;
  if (i < len && t[i] == '.')
    {
      gsize f = digits (t, i + 1, len);
      if (f == 0)
        return 0;
      i += 1 + f, integer = FALSE;
    }
  if (i < len && (t[i] == 'e' || t[i] == 'E'))
    {
      i++;
      if (i < len && (t[i] == '+' || t[i] == '-'))
        i++;
      gsize e = digits (t, i, len);
      if (e == 0)
        return 0;
      i += e, integer = FALSE;
    }
  if (i < len && (g_ascii_isalnum (t[i]) || t[i] == '.' || t[i] == '_'))
    return 0;
  *too_long = integer && n > 18;
  return i;
}

/* One \uXXXX escape at @t (the backslash), or -1. */
static gint32
hex4 (const char *t, gsize avail)
{
  if (avail < 6 || t[1] != 'u')
    return -1;
  gint32 v = 0;
  for (int k = 2; k < 6; k++)
    {
      int d = g_ascii_xdigit_value (t[k]);
      if (d < 0)
        return -1;
      v = v * 16 + d;
    }
  return v;
}

/* The length of the escape at @t (the backslash) as RFC 8259 allows it,
 * or 0. json-glib's scanner also takes octal (\7), \x41, any other
 * character and lone surrogates, and writes back something else: the
 * text would not mean what it says. \u0000 is refused too: json-glib
 * keeps strings as C strings, so "ab\u0000cd" would reach us as "ab". */
static gsize
escape_len (const char *t, gsize avail)
{
  if (avail >= 2 && strchr ("\"\\/bfnrt", t[1]) != NULL && t[1] != '\0')
    return 2;
  gint32 u = hex4 (t, avail);
  if (u <= 0 || (u >= 0xdc00 && u <= 0xdfff))
    return 0;
  if (u < 0xd800 || u > 0xdbff)
    return 6;
  gint32 low = hex4 (t + 6, avail - 6);
  return low >= 0xdc00 && low <= 0xdfff ? 12 : 0;
}

/* Counts the nesting of [ and { outside strings. Outside strings it
 * refuses '/' and '\'', which strict JSON never has there but json-glib
 * reads as comments and strings: the count and the parser must agree
 * on where strings are. Strings and numbers are only what RFC 8259
 * allows; json-glib takes more and reads it its own way. */
static gboolean
check_text (const char *text, gsize len, GError **error)
{
  guint depth = 0;
  gboolean in_string = FALSE, ended = FALSE;
  for (gsize i = 0; i < len; i++)
    {
      char c = text[i];
      if (c == '\0')
        {
          g_set_error_literal (error, FZ_PHOENIX_ERROR, FZ_PHOENIX_ERROR_INVALID,
                               "contains a NUL byte");
          return FALSE;
        }
      if (in_string)
        {
          gsize esc = c == '\\' ? escape_len (text + i, len - i) : 1;
          if (esc == 0 || (guchar) c < 0x20)
            {
              gboolean nul = hex4 (text + i, len - i) == 0;
              g_set_error_literal (error, FZ_PHOENIX_ERROR, FZ_PHOENIX_ERROR_INVALID,
                                   nul ? "has a string with an escaped NUL (\\u0000)"
                                       : "has a string with a control character or an "
                                         "escape JSON does not have");
              return FALSE;
            }
          if (c == '"')
            in_string = FALSE;
          i += esc - 1; /* an escaped character never ends the string */
        }
      else if (c == '"')
        in_string = TRUE;
      else if (c == '[' || c == '{')
        {
          if (++depth > FZ_PHOENIX_MAX_DEPTH)
            {
              g_set_error (error, FZ_PHOENIX_ERROR, FZ_PHOENIX_ERROR_INVALID,
                           "nests deeper than %d levels", FZ_PHOENIX_MAX_DEPTH);
              return FALSE;
            }
        }
      else if (c == '/' || c == '\'' || c == '.' || c == '+')
        {
          g_set_error_literal (error, FZ_PHOENIX_ERROR, FZ_PHOENIX_ERROR_INVALID,
                               c == '/' || c == '\''
                                 ? "is not JSON: a comment or a single quote"
                                 : "has a number JSON does not have");
          return FALSE;
        }
      else if (ended && !g_ascii_isspace (c))
        {
          /* json-glib reads {}{} as {} and ignores the rest. */
          g_set_error_literal (error, FZ_PHOENIX_ERROR, FZ_PHOENIX_ERROR_INVALID,
                               "has text after its end");
          return FALSE;
        }
      else if ((c == ']' || c == '}') && depth > 0)
        ended = --depth == 0;
      else if (c == '-' || g_ascii_isdigit (c))
        {
          gboolean too_long = FALSE;
          gsize n = number_len (text + i, len - i, &too_long);
          if (n == 0 || too_long)
            {
              g_set_error_literal (error, FZ_PHOENIX_ERROR, FZ_PHOENIX_ERROR_INVALID,
                                   too_long ? "has an integer out of range"
                                            : "has a number JSON does not have");
              return FALSE;
            }
          i += n - 1;
        }
    }
  return TRUE;
}

/* json-glib reads 1e999 as infinity and would write it back as "inf",
 * which is not JSON. The depth is bounded already, so recursion is. */
static gboolean
all_finite (JsonNode *n)
{
  switch (json_node_get_node_type (n))
    {
    case JSON_NODE_VALUE:
      return json_node_get_value_type (n) != G_TYPE_DOUBLE
             || isfinite (json_node_get_double (n));
    case JSON_NODE_ARRAY:
      {
        JsonArray *a = json_node_get_array (n);
        for (guint i = 0; i < json_array_get_length (a); i++)
          if (!all_finite (json_array_get_element (a, i)))
            return FALSE;
        return TRUE;
      }
    case JSON_NODE_OBJECT:
      {
        JsonObjectIter it;
        JsonNode *member;
        json_object_iter_init (&it, json_node_get_object (n));
        while (json_object_iter_next (&it, NULL, &member))
          if (!all_finite (member))
            return FALSE;
        return TRUE;
      }
    case JSON_NODE_NULL: return TRUE;
    }
  return TRUE;
}

JsonNode *
fz_phoenix_json_parse (const char *text, gsize len, GError **error)
{
  if (!check_text (text, len, error))
    return NULL;
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) local = NULL;
  if (!json_parser_load_from_data (parser, text, (gssize) len, &local))
    {
      g_set_error (error, FZ_PHOENIX_ERROR, FZ_PHOENIX_ERROR_INVALID, "is not JSON: %s",
                   local->message);
      return NULL;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root != NULL && !all_finite (root))
    {
      g_set_error_literal (error, FZ_PHOENIX_ERROR, FZ_PHOENIX_ERROR_INVALID,
                           "has a number out of range");
      return NULL;
    }
  return root != NULL ? json_node_ref (root) : json_node_new (JSON_NODE_NULL);
}

FzPhoenixFrame *
fz_phoenix_frame_parse (const char *text, gsize len, GError **error)
{
  if (len > FZ_PHOENIX_MAX_FRAME)
    {
      invalid (error, "is larger than 1 MiB");
      return NULL;
    }
  if (memchr (text, 0, len) != NULL)
    {
      invalid (error, "contains a NUL byte");
      return NULL;
    }
  g_autoptr (JsonNode) root = fz_phoenix_json_parse (text, len, error);
  if (root == NULL)
    {
      g_prefix_error (error, "portal frame ");
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      invalid (error, "is not a JSON object");
      return NULL;
    }
  JsonObject *o = json_node_get_object (root);
  const char *topic = name_member (o, "topic", error);
  if (topic == NULL)
    return NULL;
  const char *event = name_member (o, "event", error);
  if (event == NULL)
    return NULL;
  JsonNode *payload = json_object_get_member (o, "payload");
  if (payload == NULL)
    {
      invalid (error, "has no \"payload\"");
      return NULL;
    }
  gint64 ref = FZ_PHOENIX_NO_REF;
  JsonNode *r = json_object_get_member (o, "ref");
  if (r != NULL && !JSON_NODE_HOLDS_NULL (r))
    {
      /* json-glib reads integers as gint64; 1.5 or "3" are not refs. */
      if (!JSON_NODE_HOLDS_VALUE (r) || json_node_get_value_type (r) != G_TYPE_INT64
          || json_node_get_int (r) < 0)
        {
          invalid (error, "has a \"ref\" that is not a non-negative integer or null");
          return NULL;
        }
      ref = json_node_get_int (r);
    }
  return fz_phoenix_frame_new (topic, event, json_node_copy (payload), ref);
}

char *
fz_phoenix_frame_to_string (const FzPhoenixFrame *f)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "topic");
  json_builder_add_string_value (b, f->topic);
  json_builder_set_member_name (b, "event");
  json_builder_add_string_value (b, f->event);
  json_builder_set_member_name (b, "payload");
  json_builder_add_value (b, json_node_copy (f->payload));
  json_builder_set_member_name (b, "ref");
  if (f->ref == FZ_PHOENIX_NO_REF)
    json_builder_add_null_value (b);
  else
    json_builder_add_int_value (b, f->ref);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* ---- FzPhoenixLimit ------------------------------------------------ */

#define LIMIT_NAME "x-fz-message-limit"

struct _FzPhoenixLimit
{
  SoupWebsocketExtension parent;
  gsize max;
  gsize total;      /* of the message being assembled */
  gboolean tripped; /* the connection is failing: drop everything */
};

G_DEFINE_FINAL_TYPE (FzPhoenixLimit, fz_phoenix_limit, SOUP_TYPE_WEBSOCKET_EXTENSION)

static GBytes *
limit_incoming (SoupWebsocketExtension *ext, guint8 *header, GBytes *payload,
                GError **error)
{
  FzPhoenixLimit *self = FZ_PHOENIX_LIMIT (ext);
  guint8 opcode = header[0] & 0x0f;
  if (opcode & 0x08)
    return payload; /* control frames are small and never fragmented */
  if (self->tripped)
    {
      /* libsoup reads on until the close handshake ends: keep nothing. */
      g_bytes_unref (payload);
      return g_bytes_new_static ("", 0);
    }
  if (opcode != 0)
    self->total = 0; /* the first frame of a message */
  self->total += g_bytes_get_size (payload);
  if (self->total <= self->max)
    return payload;
  self->tripped = TRUE;
  g_bytes_unref (payload);
  g_set_error (error, SOUP_WEBSOCKET_ERROR, SOUP_WEBSOCKET_CLOSE_TOO_BIG,
               "a WebSocket message larger than %" G_GSIZE_FORMAT " bytes", self->max);
  return NULL;
}

static void
fz_phoenix_limit_class_init (FzPhoenixLimitClass *klass)
{
  SoupWebsocketExtensionClass *ext_class = SOUP_WEBSOCKET_EXTENSION_CLASS (klass);
  ext_class->name = LIMIT_NAME;
  ext_class->process_incoming_message = limit_incoming;
}

static void
fz_phoenix_limit_init (FzPhoenixLimit *self)
{
  self->max = FZ_PHOENIX_MAX_FRAME;
}

SoupWebsocketExtension *
fz_phoenix_limit_new (gsize max)
{
  FzPhoenixLimit *self = g_object_new (FZ_TYPE_PHOENIX_LIMIT, NULL);
  self->max = max;
  return SOUP_WEBSOCKET_EXTENSION (self);
}

void
fz_phoenix_limit_add_to_session (SoupSession *session)
{
  soup_session_add_feature_by_type (session, SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER);
  soup_session_remove_feature_by_type (session, SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
  soup_session_add_feature_by_type (session, FZ_TYPE_PHOENIX_LIMIT);
}

/* Runs before libsoup's own handler, which checks the response and makes
 * the extensions it names. */
static void
name_limit_cb (SoupMessage *msg, gpointer data)
{
  if (soup_message_get_status (msg) == SOUP_STATUS_SWITCHING_PROTOCOLS)
    soup_message_headers_append (soup_message_get_response_headers (msg),
                                 "Sec-WebSocket-Extensions", LIMIT_NAME);
}

void
fz_phoenix_limit_prepare (SoupMessage *msg)
{
  g_signal_connect (msg, "got-informational", G_CALLBACK (name_limit_cb), NULL);
}
