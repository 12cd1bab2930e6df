/* Any text as an SDP candidate: a parse either fails with an error or
 * yields a candidate whose text form parses back to the same candidate. */
#include "fz-private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *text = g_strndup ((const char *) data, size);
  FzIceCandidate c, back;
  GError *error = NULL;
  if (fz_ice_candidate_parse (&c, text, &error))
    {
      char *out = fz_ice_candidate_to_string (&c);
      if (!fz_ice_candidate_parse (&back, out, NULL)
          || !fz_ice_candidate_equal (&c, &back) || back.priority != c.priority
          || strcmp (back.foundation, c.foundation) != 0)
        abort ();
      g_free (out);
    }
  else if (error == NULL || error->message[0] == '\0')
    abort ();
  g_clear_error (&error);
  g_free (text);
  return 0;
}
