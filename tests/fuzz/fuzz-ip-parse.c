/* Any bytes: parse never reads out of bounds, a parsed packet's accessors
 * stay inside it, and every rejection has an explanation. */
#include "fz-private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
touch_everything (const FzIpPacket *pkt)
{
  FzIpAddr a;
  guint32 plen;
  const guint8 *p;

  fz_ip_packet_src (pkt, &a);
  fz_ip_packet_dst (pkt, &a);
  (void) fz_ip_packet_src_port (pkt);
  (void) fz_ip_packet_dst_port (pkt);
  (void) fz_ip_packet_tcp_flags (pkt);
  (void) fz_ip_packet_icmp_type (pkt);
  (void) fz_ip_packet_icmp_code (pkt);
  (void) fz_ip_packet_icmp_echo_id (pkt);
  (void) fz_ip_packet_icmp_echo_seq (pkt);
  (void) fz_ip_packet_is_icmp_error (pkt);
  (void) fz_ip_packet_ttl (pkt);
  (void) fz_ip_packet_ecn (pkt);
  (void) fz_ip_packet_control_type (pkt);
  (void) fz_ip_packet_verify_ip_checksum (pkt);
  (void) fz_ip_packet_verify_l4_checksum (pkt);
  p = fz_ip_packet_payload (pkt, &plen);
  if (p < pkt->data || p + plen != pkt->data + pkt->len)
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* An exact-size copy, so ASan catches a read one past the end. */
  guint8 *buf = malloc (size ? size : 1);
  static const gsize maxes[] = { FZ_IP_MTU_TUNNEL, FZ_IP_MAX_OFFLOAD };

  memcpy (buf, data, size);
  for (guint i = 0; i < G_N_ELEMENTS (maxes); i++)
    {
      FzIpPacket pkt;
      FzIpReject r = fz_ip_packet_parse (&pkt, buf, size, maxes[i]);
      char *why = fz_ip_packet_explain (buf, size, maxes[i]);

      if ((r == FZ_IP_OK) != (why == NULL))
        abort ();
      if (r == FZ_IP_OK)
        {
          if (pkt.len != size || pkt.l4_off >= pkt.len
              || (pkt.version != 4 && pkt.version != 6))
            abort ();
          touch_everything (&pkt);
        }
      free (why);
    }
  free (buf);
  return 0;
}
