/* Any bytes as a portal frame: parsing fails with a message or gives a
 * frame whose text form parses back to the same frame. (json-glib 1.6
 * writes some doubles as "1e+30.0", which is not JSON: with a double in
 * the payload the text form is only made, not parsed back.) */
#include "fz-private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static gboolean
has_double (JsonNode *n)
{
  switch (json_node_get_node_type (n))
    {
    case JSON_NODE_VALUE: return json_node_get_value_type (n) == G_TYPE_DOUBLE;
    case JSON_NODE_ARRAY:
      {
        JsonArray *a = json_node_get_array (n);
        for (guint i = 0; i < json_array_get_length (a); i++)
          if (has_double (json_array_get_element (a, i)))
            return TRUE;
        return FALSE;
      }
    case JSON_NODE_OBJECT:
      {
        JsonObjectIter it;
        JsonNode *member;
        json_object_iter_init (&it, json_node_get_object (n));
        while (json_object_iter_next (&it, NULL, &member))
          if (has_double (member))
            return TRUE;
        return FALSE;
      }
    case JSON_NODE_NULL: return FALSE;
    }
  return FALSE;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  FzPhoenixFrame *f = fz_phoenix_frame_parse ((const char *) data, size, &error);
  if (f == NULL)
    {
      if (error == NULL || error->message[0] == '\0')
        abort ();
      g_error_free (error);
      return 0;
    }
  char *text = fz_phoenix_frame_to_string (f);
  if (has_double (f->payload))
    {
      g_free (text);
      fz_phoenix_frame_free (f);
      return 0;
    }
  FzPhoenixFrame *back = fz_phoenix_frame_parse (text, strlen (text), NULL);
  if (back == NULL || strcmp (back->topic, f->topic) != 0
      || strcmp (back->event, f->event) != 0 || back->ref != f->ref
      || !json_node_equal (back->payload, f->payload))
    abort ();
  fz_phoenix_frame_free (back);
  g_free (text);
  fz_phoenix_frame_free (f);
  return 0;
}
