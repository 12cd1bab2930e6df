/* Any bytes as a portal frame, decoded as a client and a gateway would,
 * and as the portal reads what they send: a message or one error, never
 * a crash; a decoded message always prints, without the PSK. */
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
      if (m->has_psk)
        {
          char *psk = g_base64_encode (m->psk, 32);
          if (strstr (json, psk) != NULL)
            abort ();
          g_free (psk);
        }
      g_free (json);
      fz_portal_message_free (m);
    }
  fz_phoenix_frame_free (f);
  return 0;
}
