#include "fz-tun-private.h"

#include "fz-vnet-private.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int
open_queue (const char *name, gboolean offload, gboolean multi, char out_name[IFNAMSIZ],
            GError **error)
{
  struct ifreq ifr = { 0 };
  int fd, saved;

  fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    {
      saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot open /dev/net/tun: %s", g_strerror (saved));
      return -1;
    }
  ifr.ifr_flags
    = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0) | (multi ? IFF_MULTI_QUEUE : 0);
  g_strlcpy (ifr.ifr_name, name, IFNAMSIZ);
  if (ioctl (fd, TUNSETIFF, &ifr) < 0)
    {
      saved = errno;
      close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot create TUN device %s: %s", name, g_strerror (saved));
      return -1;
    }
  g_strlcpy (out_name, ifr.ifr_name, IFNAMSIZ);
  return fd;
}

FzTun *
fz_tun_open_multi (const char *name, gboolean offload, guint n_queues, GError **error)
{
  g_autoptr (FzTun) tun = NULL;

  if (strlen (name) >= IFNAMSIZ)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "interface name '%s' is longer than %d characters", name,
                   IFNAMSIZ - 1);
      return NULL;
    }
  if (n_queues == 0 || n_queues > FZ_TUN_MAX_QUEUES)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "%u TUN queues asked for; 1 to %d are possible", n_queues,
                   FZ_TUN_MAX_QUEUES);
      return NULL;
    }
  tun = g_new0 (FzTun, 1);
  tun->ctl = -1;
  tun->vnet = offload;
  for (guint i = 0; i < n_queues; i++)
    {
      /* the first queue names the device; the others attach to it */
      int fd
        = open_queue (i == 0 ? name : tun->name, offload, n_queues > 1, tun->name, error);
      if (fd < 0)
        return NULL;
      tun->queues[tun->n_queues++] = fd;
      /* Without TSO the kernel still sends the header, all zeros. */
      if (offload)
        tun->tso = ioctl (fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0
                   && (i == 0 || tun->tso);
    }
  tun->fd = tun->queues[0];
  tun->ctl = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (tun->ctl < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot open a control socket: %s", g_strerror (saved));
      return NULL;
    }
  return g_steal_pointer (&tun);
}

void
fz_tun_close (FzTun *tun)
{
  if (tun == NULL)
    return;
  for (guint i = 0; i < tun->n_queues; i++)
    close (tun->queues[i]);
  if (tun->ctl >= 0)
    close (tun->ctl);
  g_free (tun);
}

const char *
fz_tun_get_name (FzTun *tun)
{
  return tun->name;
}

guint
fz_tun_get_n_queues (FzTun *tun)
{
  return tun->n_queues;
}

gboolean
fz_tun_get_offload (FzTun *tun)
{
  return tun->tso;
}

static int
ifreq_ioctl (FzTun *tun, unsigned long req, struct ifreq *ifr)
{
  g_strlcpy (ifr->ifr_name, tun->name, IFNAMSIZ);
  return ioctl (tun->ctl, req, ifr);
}

int
fz_tun_get_mtu (FzTun *tun)
{
  struct ifreq ifr = { 0 };
  return ifreq_ioctl (tun, SIOCGIFMTU, &ifr) < 0 ? -1 : ifr.ifr_mtu;
}

gboolean
fz_tun_set_txqueuelen (FzTun *tun, int len, GError **error)
{
  struct ifreq ifr = { 0 };

  ifr.ifr_qlen = len;
  if (ifreq_ioctl (tun, SIOCSIFTXQLEN, &ifr) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot set the transmit queue of %s to %d: %s", tun->name, len,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

int
fz_tun_read_queue (FzTun *tun, guint queue, FzBufPool *pool, FzPacketBuf **out, guint max)
{
  int fd = tun->queues[queue];
  FzPacketBuf *buf = fz_buf_pool_alloc (pool);
  gsize room = fz_packet_buf_tailroom (buf) - FZ_PACKET_BUF_TAILROOM;
  FzVnetHdr h = { 0 };
  gssize n;

  if (tun->vnet)
    {
      /* The header lands in the headroom side of the buffer: the packet
       * itself starts where it would without it. */
      guint8 *start = fz_packet_buf_push (buf, FZ_VNET_HDR_LEN);
      n = read (fd, start, room + FZ_VNET_HDR_LEN);
      if (n >= FZ_VNET_HDR_LEN)
        {
          fz_vnet_hdr_read (&h, start);
          fz_packet_buf_pull (buf, FZ_VNET_HDR_LEN);
          n -= FZ_VNET_HDR_LEN;
        }
      else if (n >= 0)
        n = 0;
    }
  else
    n = read (fd, buf->data, room);
  if (n <= 0)
    {
      int saved = n == 0 ? EAGAIN : errno;
      fz_packet_buf_free (buf);
      errno = saved;
      return saved == EAGAIN ? 0 : -1;
    }
  buf->len = (gsize) n;
  errno = 0; /* 0 packets with errno 0: a malformed read, dropped */
  return (int) fz_vnet_segment (&h, buf, pool, out, max);
}

gboolean
fz_tun_write (FzTun *tun, FzPacketBuf *buf)
{
  gssize n;

  if (tun->vnet)
    {
      guint8 *h = fz_packet_buf_push (buf, FZ_VNET_HDR_LEN);
      if (h == NULL)
        return FALSE;
      memset (h, 0, FZ_VNET_HDR_LEN);
    }
  n = write (tun->fd, buf->data, buf->len);
  if (tun->vnet)
    fz_packet_buf_pull (buf, FZ_VNET_HDR_LEN);
  return n == (gssize) buf->len + (tun->vnet ? FZ_VNET_HDR_LEN : 0);
}

guint
fz_tun_write_batch (FzTun *tun, FzPacketBuf *const *bufs, guint n)
{
  guint failed = 0;

  for (guint i = 0; i < n;)
    {
      struct iovec iov[65];
      guint8 hdr[FZ_VNET_HDR_LEN];
      FzVnetHdr h;
      guint k = tun->vnet ? fz_vnet_coalesce (bufs + i, n - i, &h) : 1;
      gsize want = FZ_VNET_HDR_LEN + bufs[i]->len;

      if (k == 1)
        {
          failed += !fz_tun_write (tun, bufs[i]);
          i++;
          continue;
        }
      fz_vnet_hdr_write (&h, hdr);
      iov[0] = (struct iovec){ hdr, sizeof hdr };
      iov[1] = (struct iovec){ bufs[i]->data, bufs[i]->len };
      for (guint j = 1; j < k; j++)
        {
          gsize off = fz_vnet_payload_offset (bufs[i + j]);
          iov[j + 1] = (struct iovec){ bufs[i + j]->data + off, bufs[i + j]->len - off };
          want += bufs[i + j]->len - off;
        }
      if (writev (tun->fd, iov, (int) k + 1) != (gssize) want)
        failed += k;
      i += k;
    }
  return failed;
}
