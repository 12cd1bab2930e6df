/* Arbitrary packets both ways through an FzNatTable seeded with a few
 * mappings and sessions: nothing crashes or leaks, the table stays within
 * its bounds, and a packet whose checksums verified still verifies after
 * its translation.
 *
 * Input: records [op][n][n bytes]. op % 6: 0 outbound packet, 1 inbound
 * packet, 2 time passes (n seconds) and sessions expire, 3 a removal
 * (n picks which), 4 the reply to the last translated outbound packet,
 * 5 an ICMP error about it. */
#include "fz-private.h"
#include "fz-ip-packet-build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define MAX_SESSIONS   64
#define MAX_PER_CLIENT 16

typedef struct
{
  FzNatTable *nat;
  FzIpAddr clients[2], proxies[4];
  FzPacketBuf *buf, *last;
  gint64 now;
} State;

static void
addr (FzIpAddr *a, const char *text)
{
  if (!fz_ip_addr_parse (a, text))
    abort ();
}

/* The gateway state's proxy -> real mapping: any proxy IP maps to one of
 * four real IPs of its family. */
static void
real_for (const FzIpAddr *proxy, FzIpAddr *real)
{
  *real = *proxy;
  memset (real->bytes, 0, sizeof real->bytes);
  if (proxy->family == 4)
    real->bytes[0] = 192, real->bytes[2] = 2;
  else
    real->bytes[0] = 0x20, real->bytes[1] = 0x01, real->bytes[2] = 0x0d,
    real->bytes[3] = 0xb8;
  real->bytes[fz_ip_addr_len (proxy) - 1]
    = 1 + proxy->bytes[fz_ip_addr_len (proxy) - 1] % 4;
}

static gboolean
checksums_ok (const FzIpPacket *pkt)
{
  return fz_ip_packet_verify_ip_checksum (pkt) && fz_ip_packet_verify_l4_checksum (pkt);
}

static void
check_bounds (State *s)
{
  if (fz_nat_table_size (s->nat) > MAX_SESSIONS)
    abort ();
  for (guint i = 0; i < 2; i++)
    if (fz_nat_table_client_size (s->nat, &s->clients[i]) > MAX_PER_CLIENT)
      abort ();
}

static void
outbound (State *s, FzIpPacket *pkt)
{
  gboolean ok = checksums_ok (pkt);
  FzIpAddr dst, real;
  FzIpAddr src;

  fz_ip_packet_dst (pkt, &dst);
  real_for (&dst, &real);
  fz_ip_packet_src (pkt, &src);
  if (fz_nat_table_translate_out (s->nat, pkt, &real, s->now) != FZ_NAT_TRANSLATED)
    return;
  if (ok && !checksums_ok (pkt))
    abort ();
  if (fz_nat_table_client_size (s->nat, &src) > MAX_PER_CLIENT)
    abort ();
  fz_packet_buf_set (s->last, pkt->data, pkt->len);
}

static void
inbound (State *s, FzIpPacket *pkt)
{
  gboolean ok = checksums_ok (pkt);

  if (fz_nat_table_translate_in (s->nat, pkt, s->now) == FZ_NAT_TRANSLATED && ok
      && !checksums_ok (pkt))
    abort ();
}

/* The resource's answer to the last translated packet. */
static void
reply (State *s)
{
  FzIpPacket pkt;
  FzIpAddr src, dst;

  if (s->last->len == 0
      || fz_ip_packet_parse (&pkt, s->last->data, s->last->len, FZ_IP_MAX_OFFLOAD)
           != FZ_IP_OK)
    return;
  fz_packet_buf_set (s->buf, pkt.data, pkt.len);
  fz_ip_packet_parse (&pkt, s->buf->data, s->buf->len, FZ_IP_MAX_OFFLOAD);
  fz_ip_packet_src (&pkt, &src);
  fz_ip_packet_dst (&pkt, &dst);
  fz_ip_packet_set_src (&pkt, &dst);
  fz_ip_packet_set_dst (&pkt, &src);
  if (fz_ip_packet_has_ports (&pkt))
    {
      guint16 sp = fz_ip_packet_src_port (&pkt), dp = fz_ip_packet_dst_port (&pkt);
      fz_ip_packet_set_src_port (&pkt, dp);
      fz_ip_packet_set_dst_port (&pkt, sp);
    }
  else if (fz_ip_packet_is_icmp_echo (&pkt))
    fz_ip_packet_l4 (&pkt)[0] = pkt.version == 4 ? 0 : 129;
  fz_ip_packet_update_checksums (&pkt);
  inbound (s, &pkt);
}

static void
icmp_error (State *s, guint8 how)
{
  FzIpPacket pkt, err;

  if (s->last->len == 0
      || fz_ip_packet_parse (&pkt, s->last->data, s->last->len, FZ_IP_MAX_OFFLOAD)
           != FZ_IP_OK
      || !fz_ip_build_icmp_unreachable (
        s->buf, &err, &pkt, how & 1 ? FZ_ICMP_PROHIBITED : FZ_ICMP_NET_UNREACHABLE, NULL))
    return;
  inbound (s, &err);
}

static void
removal (State *s, guint8 how)
{
  const FzIpAddr *client = &s->clients[how & 1];

  switch ((how >> 1) % 3)
    {
    case 0: fz_nat_table_remove_client (s->nat, client); break;
    case 1:
      fz_nat_table_remove_proxy (s->nat, client, &s->proxies[(how >> 3) % 4]);
      break;
    default: fz_nat_table_remove_proxies (s->nat, client, s->proxies, 4); break;
    }
}

/* A few sessions to hit: UDP, TCP and ICMPv6 echo. */
static void
seed (State *s)
{
  FzIpPacket pkt;
  FzIpAddr real;

  real_for (&s->proxies[0], &real);
  fz_ip_build_udp (s->buf, &pkt, &s->clients[0], &s->proxies[0], 5000, 53, "q", 1, NULL);
  fz_nat_table_translate_out (s->nat, &pkt, &real, 0);
  fz_ip_build_udp (s->buf, &pkt, &s->clients[0], &s->proxies[1], 5000, 53, "q", 1, NULL);
  real_for (&s->proxies[1], &real);
  fz_nat_table_translate_out (s->nat, &pkt, &real, 0);
  real_for (&s->proxies[3], &real);
  fz_ip_build_icmp_echo (s->buf, &pkt, &s->clients[1], &s->proxies[3], FALSE, 7, 1, "p",
                         1, NULL);
  fz_nat_table_translate_out (s->nat, &pkt, &real, 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FzRng rng;
  State s = { 0 };

  fz_rng_init_seeded (&rng, size);
  s.nat = fz_nat_table_new (&rng, MAX_SESSIONS, MAX_PER_CLIENT);
  s.buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  s.last = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  addr (&s.clients[0], "100.64.0.1");
  addr (&s.clients[1], "fd00:2021:1111::1");
  addr (&s.proxies[0], "100.96.0.1");
  addr (&s.proxies[1], "100.96.0.5"); /* the same real IP as .1 */
  addr (&s.proxies[2], "100.96.0.2");
  addr (&s.proxies[3], "fd00:2021:1111:8000::1");
  seed (&s);

  for (size_t i = 0; i + 2 <= size;)
    {
      guint8 op = data[i] % 6, n = data[i + 1];
      FzIpPacket pkt;
      gsize len = MIN ((gsize) n, size - i - 2);

      if (op <= 1)
        {
          fz_packet_buf_set (s.buf, data + i + 2, len);
          if (fz_ip_packet_parse (&pkt, s.buf->data, len, FZ_IP_MAX_OFFLOAD) == FZ_IP_OK)
            {
              if (op == 0)
                outbound (&s, &pkt);
              else
                inbound (&s, &pkt);
            }
          i += 2 + len;
          continue;
        }
      if (op == 2)
        {
          s.now += (gint64) n * G_USEC_PER_SEC;
          fz_nat_table_handle_timeout (s.nat, s.now);
          if (fz_nat_table_poll_timeout (s.nat) <= s.now)
            abort ();
        }
      else if (op == 3)
        removal (&s, n);
      else if (op == 4)
        reply (&s);
      else
        icmp_error (&s, n);
      check_bounds (&s);
      i += 2;
    }

  fz_nat_table_free (s.nat);
  fz_packet_buf_free (s.buf);
  fz_packet_buf_free (s.last);
  return 0;
}
