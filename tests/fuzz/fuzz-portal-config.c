/* Any bytes as fz-portal's config file: refused with one line naming
 * what is wrong, or parsed into a config whose every resource the
 * protocol's own decoder accepts again. */
#include "fz-portal-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  FzPortalConfig *c
    = fz_portal_config_parse ((const char *) data, size, "fuzz.conf", &error);
  if (c == NULL)
    {
      if (error == NULL || error->message[0] == '\0')
        abort ();
      g_error_free (error);
      return 0;
    }
  for (guint i = 0; i < c->resources->len; i++)
    {
      JsonNode *n = fz_resource_encode (c->resources->pdata[i]);
      FzResource *back = fz_resource_decode (n, NULL);
      if (back == NULL)
        abort ();
      fz_resource_free (back);
      json_node_unref (n);
    }
  for (guint i = 0; i < c->users->len; i++)
    fz_portal_config_allows (
      c, ((FzPortalUser *) c->users->pdata[i])->name,
      c->resources->len > 0 ? ((FzResource *) c->resources->pdata[0])->id : "none");
  fz_portal_config_free (c);
  return 0;
}
