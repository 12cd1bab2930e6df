#include "fz-transmit-queue.h"

#include <string.h>

#define MIN_CAP 8
/* A ring this large is given back once it drains, so that a burst (a
 * reset of thousands of connections) does not hold its memory for good. */
#define KEEP_CAP 1024

void
fz_transmit_queue_init_sized (FzTransmitQueue *q, gsize entry_size, gsize buf_offset)
{
  g_return_if_fail (buf_offset + sizeof (FzPacketBuf *) <= entry_size);
  memset (q, 0, sizeof *q);
  q->entry_size = entry_size;
  q->buf_offset = buf_offset;
}

static guint8 *
slot (const FzTransmitQueue *q, guint i)
{
  return q->ring + (gsize) ((q->head + i) % q->cap) * q->entry_size;
}

static void
release_ring (FzTransmitQueue *q)
{
  g_clear_pointer (&q->ring, g_free);
  q->head = q->len = q->cap = 0;
}

void
fz_transmit_queue_clear (FzTransmitQueue *q)
{
  for (guint i = 0; i < q->len; i++)
    {
      FzPacketBuf *buf;
      memcpy (&buf, slot (q, i) + q->buf_offset, sizeof buf);
      fz_packet_buf_free (buf);
    }
  release_ring (q);
}

/* Doubles the ring, unwrapping it so the head is at slot 0. */
static void
grow (FzTransmitQueue *q)
{
  guint cap = q->cap == 0 ? MIN_CAP : q->cap * 2;
  g_assert (cap > q->cap); /* guint overflow: 2^31 queued datagrams */
  guint8 *ring = g_malloc_n (cap, q->entry_size);
  for (guint i = 0; i < q->len; i++)
    memcpy (ring + (gsize) i * q->entry_size, slot (q, i), q->entry_size);
  g_free (q->ring);
  q->ring = ring;
  q->cap = cap;
  q->head = 0;
}

void
fz_transmit_queue_push (FzTransmitQueue *q, gconstpointer entry)
{
  if (q->len == q->cap)
    grow (q);
  memcpy (slot (q, q->len), entry, q->entry_size);
  q->len++;
}

gboolean
fz_transmit_queue_pop (FzTransmitQueue *q, gpointer out)
{
  if (q->len == 0)
    return FALSE;
  memcpy (out, slot (q, 0), q->entry_size);
  q->head = (q->head + 1) % q->cap;
  q->len--;
  if (q->len == 0 && q->cap > KEEP_CAP)
    release_ring (q);
  return TRUE;
}

guint
fz_transmit_queue_length (const FzTransmitQueue *q)
{
  return q->len;
}

gpointer
fz_transmit_queue_peek_nth (FzTransmitQueue *q, guint i)
{
  return i < q->len ? slot (q, i) : NULL;
}
