#include "fz-gateway-check.h"

#include "fz-gateway-nat.h"
#include "fz-health.h"

#include "fz.h"
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <unistd.h>

#define TUN_DEVICE "/dev/net/tun"

/* The URL as the portal channel would build it; the key is a stand-in. */
static gboolean
check_api_url (const char *api_url, const char *device_id, GError **error)
{
  static const guint8 key[32] = { 0 };
  FzPortalUrlParams params = { .external_id = device_id, .public_key = key };
  g_autofree char *url = fz_portal_url (api_url, TRUE, &params, error);
  return url != NULL;
}

/* Opening it creates nothing: the interface comes with TUNSETIFF. */
static gboolean
check_tun_device (GError **error)
{
  int fd = open (TUN_DEVICE, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    {
      int err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot open %s: %s (is the tun module loaded, and the device "
                   "visible to the service?)",
                   TUN_DEVICE, g_strerror (err));
      return FALSE;
    }
  close (fd);
  return TRUE;
}

gboolean
fz_gateway_check (const FzGatewayCheck *check, GError **error)
{
  g_autofree char *id = fz_device_id_get (TRUE, check->state_dir, error);
  const char *name = g_getenv ("FIREZONE_NAME");
  gboolean forwarding_off = FALSE;

  if (id == NULL || !check_api_url (check->api_url, id, error))
    return FALSE;
  if (check->health_addr != NULL && !fz_health_addr_check (check->health_addr, error))
    return FALSE;
  if (!check_tun_device (error) || !fz_gateway_nat_check (error)
      || !fz_gateway_forwarding_check (&forwarding_off, error))
    return FALSE;

  g_print ("portal:         %s\n", check->api_url);
  g_print ("device id:      %s\n", id);
  g_print ("name:           %s\n",
           name != NULL && name[0] != '\0' ? name : g_get_host_name ());
  g_print ("health check:   %s\n",
           check->health_addr != NULL ? check->health_addr : "off");
  g_print ("IP forwarding:  %s\n", forwarding_off ? "off (a start turns it on)" : "on");
  g_print ("masquerade:     %s\n",
           check->masquerade ? "always (--masquerade)" : "when the portal asks");
  return TRUE;
}
