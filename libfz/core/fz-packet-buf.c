#include "fz-packet-buf.h"

#include "fz-buf-pool.h"

#include <string.h>

/* Storage follows the struct in the same allocation, aligned to 64 bytes
 * so the packet data starts on a cache line. */
#define STORAGE_ALIGN 64

FzPacketBuf *
fz_packet_buf_new (gsize headroom, gsize capacity)
{
  gsize hdr = (sizeof (FzPacketBuf) + STORAGE_ALIGN - 1) & ~(gsize) (STORAGE_ALIGN - 1);
  gsize size = headroom + capacity;
  FzPacketBuf *buf;

  g_return_val_if_fail (capacity > 0, NULL);
  buf = g_aligned_alloc (1, hdr + size, STORAGE_ALIGN);
  memset (buf, 0, sizeof *buf);
  buf->head = (guint8 *) buf + hdr;
  buf->size = size;
  buf->reserve = headroom;
  buf->data = buf->head + headroom;
  return buf;
}

FzPacketBuf *
fz_packet_buf_new_copy (const void *data, gsize len)
{
  FzPacketBuf *buf
    = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, len + FZ_PACKET_BUF_TAILROOM);
  memcpy (buf->data, data, len);
  buf->len = len;
  return buf;
}

void
fz_packet_buf_free (FzPacketBuf *buf)
{
  if (buf == NULL)
    return;
  if (buf->pool != NULL)
    fz_buf_pool_release (buf->pool, buf);
  else
    g_aligned_free (buf);
}

void
fz_packet_buf_reset (FzPacketBuf *buf)
{
  buf->data = buf->head + buf->reserve;
  buf->len = 0;
}

gsize
fz_packet_buf_headroom (const FzPacketBuf *buf)
{
  return (gsize) (buf->data - buf->head);
}

gsize
fz_packet_buf_tailroom (const FzPacketBuf *buf)
{
  return buf->size - fz_packet_buf_headroom (buf) - buf->len;
}

guint8 *
fz_packet_buf_push (FzPacketBuf *buf, gsize n)
{
  if (n > fz_packet_buf_headroom (buf))
    return NULL;
  buf->data -= n;
  buf->len += n;
  return buf->data;
}

void
fz_packet_buf_pull (FzPacketBuf *buf, gsize n)
{
  g_return_if_fail (n <= buf->len);
  buf->data += n;
  buf->len -= n;
}

guint8 *
fz_packet_buf_put (FzPacketBuf *buf, gsize n)
{
  guint8 *tail = buf->data + buf->len;

  if (n > fz_packet_buf_tailroom (buf))
    return NULL;
  buf->len += n;
  return tail;
}

void
fz_packet_buf_trim (FzPacketBuf *buf, gsize len)
{
  g_return_if_fail (len <= buf->len);
  buf->len = len;
}

gboolean
fz_packet_buf_set (FzPacketBuf *buf, const void *data, gsize len)
{
  fz_packet_buf_reset (buf);
  if (len > fz_packet_buf_tailroom (buf))
    return FALSE;
  memcpy (buf->data, data, len);
  buf->len = len;
  return TRUE;
}
