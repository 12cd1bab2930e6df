/* Any bytes as the payload of an assigned_ips and of a domain_status
 * control message: decoded, or refused with one error, never a crash;
 * what decodes encodes to JSON that decodes to the same message. */
#include "fz-private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_error (GError *error)
{
  if (error == NULL || error->domain != FZ_P2P_CONTROL_ERROR || error->message[0] == '\0')
    abort ();
  g_error_free (error);
}

static void
assigned_ips (const uint8_t *data, size_t size)
{
  FzAssignedIps m, back;
  GError *error = NULL;
  GBytes *json;

  if (!fz_assigned_ips_decode (data, size, &m, &error))
    {
      check_error (error);
      return;
    }
  json = fz_assigned_ips_encode (&m);
  if (!fz_assigned_ips_decode (g_bytes_get_data (json, NULL), g_bytes_get_size (json),
                               &back, NULL)
      || strcmp (m.resource, back.resource) != 0 || strcmp (m.domain, back.domain) != 0
      || m.n_proxy_ips != back.n_proxy_ips)
    abort ();
  for (guint i = 0; i < m.n_proxy_ips; i++)
    if (!fz_ip_addr_equal (&m.proxy_ips[i], &back.proxy_ips[i]))
      abort ();
  g_bytes_unref (json);
  fz_assigned_ips_clear (&m);
  fz_assigned_ips_clear (&back);
}

static void
domain_status (const uint8_t *data, size_t size)
{
  FzDomainStatus m, back;
  GError *error = NULL;
  GBytes *json;

  if (!fz_domain_status_decode (data, size, &m, &error))
    {
      check_error (error);
      return;
    }
  json = fz_domain_status_encode (&m);
  if (!fz_domain_status_decode (g_bytes_get_data (json, NULL), g_bytes_get_size (json),
                                &back, NULL)
      || strcmp (m.resource, back.resource) != 0 || strcmp (m.domain, back.domain) != 0
      || m.status != back.status)
    abort ();
  g_bytes_unref (json);
  fz_domain_status_clear (&m);
  fz_domain_status_clear (&back);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  assigned_ips (data, size);
  domain_status (data, size);
  return 0;
}
