/* FzTransmitQueue: the datagrams a sans-IO layer has for its caller, in
 * the order they were queued.
 *
 * Each layer hands out its own transmit struct (FzWgTransmit,
 * FzIceTransmit, FzAllocationTransmit, FzNodeTransmit), all with an
 * FzPacketBuf *buf that becomes the caller's when popped. The queue
 * keeps them by value in a ring that grows as needed (no allocation per
 * datagram once it has grown), and frees the buffers still queued when
 * it is cleared. Internal to libfz: not installed. */
#pragma once

#include "fz-packet-buf.h"

G_BEGIN_DECLS

typedef struct
{
  /*< private >*/
  guint8 *ring;
  gsize entry_size;
  gsize buf_offset; /* of the entry's FzPacketBuf * */
  guint head, len, cap;
} FzTransmitQueue;

/* @Type is the entry struct: it must have a member `FzPacketBuf *buf`. */
#define fz_transmit_queue_init(q, Type)                                                  \
  G_STMT_START                                                                           \
  {                                                                                      \
    G_STATIC_ASSERT (                                                                    \
      __builtin_types_compatible_p (__typeof__ (((Type *) NULL)->buf), FzPacketBuf *));  \
    fz_transmit_queue_init_sized ((q), sizeof (Type), G_STRUCT_OFFSET (Type, buf));      \
  }                                                                                      \
  G_STMT_END

void fz_transmit_queue_init_sized (FzTransmitQueue *q, gsize entry_size,
                                   gsize buf_offset);
/* Frees the buffers of the entries left, and the ring; the queue is then
 * empty and may be used again. */
void fz_transmit_queue_clear (FzTransmitQueue *q);

/* Copies *@entry (of the queue's entry type) to the tail. */
void fz_transmit_queue_push (FzTransmitQueue *q, gconstpointer entry);
/* Moves the head entry to *@out; FALSE when the queue is empty. */
gboolean fz_transmit_queue_pop (FzTransmitQueue *q, gpointer out);
guint fz_transmit_queue_length (const FzTransmitQueue *q);
/* The @i-th entry from the head, in place (to update it), or NULL. */
gpointer fz_transmit_queue_peek_nth (FzTransmitQueue *q, guint i);

G_END_DECLS
