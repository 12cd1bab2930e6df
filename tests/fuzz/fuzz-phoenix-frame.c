/* Any bytes as a portal frame: parsing fails with a message or gives a
 * frame whose text form parses back to the same frame. */
#include "fz-private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

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
