/* FzPacketBuf: one packet in a buffer with headroom and tailroom.
 *
 * Layers below the IP packet (WireGuard header, TURN channel header) are
 * pushed into the headroom in place, and the AEAD tag is put into the
 * tailroom, so a packet is never copied on its way to the wire. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Room for a TURN ChannelData header (4) and a WireGuard data header (16),
 * rounded up so the IP header stays 16-byte aligned. */
#define FZ_PACKET_BUF_HEADROOM 32
/* Room for the WireGuard AEAD tag (16) and padding to 16 bytes. */
#define FZ_PACKET_BUF_TAILROOM 32

typedef struct _FzBufPool FzBufPool;
typedef struct _FzPacketBuf FzPacketBuf;

struct _FzPacketBuf
{
  guint8 *data; /* first byte of the packet */
  gsize len;    /* bytes of packet at data */

  /*< private >*/
  guint8 *head;    /* first byte of storage */
  gsize size;      /* bytes of storage */
  gsize reserve;   /* headroom given back by reset() */
  FzBufPool *pool; /* NULL when not pooled */
  FzPacketBuf *next;
  gboolean idle; /* in the pool's free list: a second release is a bug */
};

FzPacketBuf *fz_packet_buf_new (gsize headroom, gsize capacity);
/* A buffer of its own (not pooled) holding a copy of @len bytes at @data,
 * with FZ_PACKET_BUF_HEADROOM and FZ_PACKET_BUF_TAILROOM around them. */
FzPacketBuf *fz_packet_buf_new_copy (const void *data, gsize len);
void fz_packet_buf_free (FzPacketBuf *buf);
void fz_packet_buf_reset (FzPacketBuf *buf);

gsize fz_packet_buf_headroom (const FzPacketBuf *buf);
gsize fz_packet_buf_tailroom (const FzPacketBuf *buf);

/* Grows the packet by @n bytes at the front; returns the new data pointer,
 * or NULL when the headroom is too small. */
guint8 *fz_packet_buf_push (FzPacketBuf *buf, gsize n);
/* Removes @n bytes from the front (a header that has been consumed). */
void fz_packet_buf_pull (FzPacketBuf *buf, gsize n);
/* Grows the packet by @n bytes at the end; returns a pointer to them, or
 * NULL when the tailroom is too small. */
guint8 *fz_packet_buf_put (FzPacketBuf *buf, gsize n);
void fz_packet_buf_trim (FzPacketBuf *buf, gsize len);
/* Replaces the contents with a copy of @data. FALSE if it does not fit. */
gboolean fz_packet_buf_set (FzPacketBuf *buf, const void *data, gsize len);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzPacketBuf, fz_packet_buf_free)

G_END_DECLS
