/* Any configuration request to fz-wg: the real fz-uapi.c against a
 * device without I/O (this file supplies the socket side). Every request
 * gets exactly one reply ending in errno=N and a blank line (carried out
 * a few lines or peers at a time); nothing crashes or leaks. */
#include "fz-wg-iface.h"

#include <gio/gio.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static FzWgIface iface;
static FzRng rng;

gboolean
fz_wg_iface_listen (FzWgIface *i, guint16 port, GError **error)
{
  if (port == 1) /* stands for a port in use */
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE, "port in use");
      return FALSE;
    }
  i->listen_port = port != 0 ? port : 51820;
  return TRUE;
}

gboolean
fz_wg_iface_set_fwmark (FzWgIface *i, guint32 mark, GError **error)
{
  i->fwmark = mark;
  return TRUE;
}

void
fz_wg_iface_flush (FzWgIface *i, gint64 now)
{
  FzWgTransmit tx;
  FzWgEvent ev;

  while (fz_wg_device_poll_transmit (i->dev, &tx))
    fz_packet_buf_free (tx.buf);
  while (fz_wg_device_poll_event (i->dev, &ev))
    ;
}

static void
reset (void)
{
  guint8 none[FZ_WG_KEY_LEN] = { 0 };

  if (iface.dev != NULL)
    {
      fz_wg_device_free (iface.dev);
      fz_ip_table_free (iface.allowed);
      g_hash_table_unref (iface.psks);
    }
  else
    {
      fz_rng_init_seeded (&rng, 7);
      iface.pool = fz_buf_pool_new (2048, 16);
    }
  iface.dev = fz_wg_device_new (none, &rng, iface.pool);
  iface.allowed = fz_ip_table_new (NULL);
  iface.psks = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  iface.has_key = FALSE;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GString) reply = g_string_new (NULL);
  g_autoptr (FzUapiRequest) pending = NULL;
  char *req;

  if (iface.dev == NULL || fz_wg_device_peers (iface.dev)->len > 64)
    reset ();
  req = g_strndup ((const char *) data, size);
  pending = fz_uapi_handle (&iface, req, reply, G_USEC_PER_SEC);
  g_free (req);
  while (pending != NULL && fz_uapi_request_next (pending, &iface, reply, 3))
    ;
  if (reply->len < 9 || !g_str_has_suffix (reply->str, "\n\n")
      || strstr (reply->str, "errno=") == NULL)
    abort ();
  return 0;
}
