/* Any bytes as the a{sv} options of dev.libfz.Tunnel1.Connect, as GDBus
 * would hand them over (a checked, possibly non-normal serialisation):
 * taken or refused with InvalidArgs, and whatever is taken is within its
 * bounds. */
#include "fz-connect-options.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GBytes) bytes = g_bytes_new (data, size);
  g_autoptr (GVariant) v = g_variant_ref_sink (
    g_variant_new_from_bytes (G_VARIANT_TYPE_VARDICT, bytes, FALSE));
  g_autoptr (GError) error = NULL;
  FzConnectOptions o;

  if (!fz_connect_options_parse (v, &o, &error))
    {
      if (error == NULL
          || !g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS)
          || !g_utf8_validate (error->message, -1, NULL))
        abort ();
      return 0;
    }
  if (error != NULL)
    abort ();
  if (o.api_url != NULL
      && (strlen (o.api_url) > FZ_CONNECT_API_URL_MAX
          || strstr (o.api_url, "://") == NULL))
    abort ();
  if (o.account_slug != NULL
      && (o.account_slug[0] == '\0' || strlen (o.account_slug) > FZ_CONNECT_SLUG_MAX))
    abort ();
  return 0;
}
