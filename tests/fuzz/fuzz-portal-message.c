/* Any bytes as a portal frame, decoded as a client and a gateway would,
 * and as the portal reads what they send: a message or one error, never
 * a crash; a decoded message always prints, and never the PSK. */
#include "fz-private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FzPhoenixFrame *f = fz_phoenix_frame_parse ((const char *) data, size, NULL);
  if (f == NULL)
    return 0;
  for (int role = 0; role < 3; role++)
    {
      GError *error = NULL;
      FzPortalMessage *m
        = fz_portal_message_decode ((FzPortalRole) role, f->event, f->payload, &error);
      if (m == NULL)
        {
          if (error == NULL || error->message[0] == '\0')
            abort ();
          g_error_free (error);
          continue;
        }
      char *json = fz_portal_message_to_json (m);
      if (json == NULL)
        abort ();
      /* The printed form must not depend on the PSK. (Searching it for
       * the PSK's base64 was wrong: the portal may send a peer key equal
       * to the PSK, and the key is printed; the fuzzer did that.) */
      if (m->has_psk)
        {
          for (guint i = 0; i < sizeof m->psk; i++)
            m->psk[i] ^= 0xa5;
          char *other = fz_portal_message_to_json (m);
          if (other == NULL || strcmp (json, other) != 0)
            abort ();
          g_free (other);
        }
      g_free (json);
      fz_portal_message_free (m);
    }
  fz_phoenix_frame_free (f);
  return 0;
}
