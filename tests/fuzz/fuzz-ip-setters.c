/* Any packet that parses, any sequence of setters: the incrementally kept
 * checksums still verify and equal a full recompute.
 *
 * Input: 16 bytes of program (op, value, value) then the packet. */
#include "fz-private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define PROGRAM 16

static void
apply (FzIpPacket *pkt, guint8 op, guint8 x, guint8 y)
{
  guint16 v = (guint16) (x << 8 | y);
  FzIpAddr a;

  switch (op % 8)
    {
    case 0:
    case 1:
      /* an address made of the two value bytes, of the packet's family */
      memset (&a, 0, sizeof a);
      a.family = pkt->version;
      for (gsize i = 0; i < 16; i++)
        a.bytes[i] = (guint8) (i & 1 ? x : y) ^ (guint8) i;
      if (op % 8 == 0)
        fz_ip_packet_set_src (pkt, &a);
      else
        fz_ip_packet_set_dst (pkt, &a);
      break;
    case 2: fz_ip_packet_set_src_port (pkt, v); break;
    case 3: fz_ip_packet_set_dst_port (pkt, v); break;
    case 4: fz_ip_packet_set_ttl (pkt, x); break;
    case 5: fz_ip_packet_set_ecn (pkt, x & 3); break;
    case 6: fz_ip_packet_set_icmp_echo_id (pkt, v); break;
    case 7: fz_ip_packet_set_ttl (pkt, fz_ip_packet_ttl (pkt) - 1); break;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FzIpPacket pkt, ref;
  guint8 *buf, *copy;
  gsize len;

  if (size < PROGRAM)
    return 0;
  len = size - PROGRAM;
  buf = malloc (len ? len : 1);
  memcpy (buf, data + PROGRAM, len);
  if (fz_ip_packet_parse (&pkt, buf, len, FZ_IP_MAX_OFFLOAD) != FZ_IP_OK)
    {
      free (buf);
      return 0;
    }
  fz_ip_packet_update_checksums (&pkt);
  for (guint i = 0; i + 2 < PROGRAM; i += 3)
    apply (&pkt, data[i], data[i + 1], data[i + 2]);

  if (!fz_ip_packet_verify_ip_checksum (&pkt) || !fz_ip_packet_verify_l4_checksum (&pkt))
    abort ();
  copy = malloc (len);
  memcpy (copy, buf, len);
  ref = pkt;
  ref.data = copy;
  fz_ip_packet_update_checksums (&ref);
  if (memcmp (copy, buf, len) != 0)
    abort ();
  free (copy);
  free (buf);
  return 0;
}
