/* fz-tun-capture: records every packet the kernel sends into a TUN device
 * as a raw-IP pcap, for checksum and format tests on kernel-made packets.
 *
 *   fz-tun-capture IFNAME OUT.pcap READY_FILE [V4_LOCAL V4_PEER V6_LOCAL V6_PEER]
 *
 * Touches READY_FILE once the device exists. On SIGUSR1 it injects probes
 * from PEER to LOCAL built by libfz (UDP and TCP to a closed port, ICMP
 * echo), which the kernel answers only if their checksums are right. On
 * also sends UDP from a socket with IPv6 hop-by-hop and destination options,
 * so the kernel builds extension headers. On SIGTERM or after 60 s it writes the pcap and
 * exits. */
#include "fz-private.h"
#include "pcap-file.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop, inject;

static void
on_signal (int sig)
{
  if (sig == SIGUSR1)
    inject = 1;
  else
    stop = 1;
}

static int
open_tun (const char *name)
{
  struct ifreq ifr = { 0 };
  int fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC);

  if (fd < 0)
    return -1;
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  g_strlcpy (ifr.ifr_name, name, IFNAMSIZ);
  if (ioctl (fd, TUNSETIFF, &ifr) < 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

/* A TCP SYN with no options: libfz has no TCP builder, so the header is
 * written here and the checksums by fz_ip_packet_update_checksums(). */
static gboolean
build_syn (FzPacketBuf *buf, const FzIpAddr *src, const FzIpAddr *dst)
{
  gsize hdr = src->family == 4 ? 20 : 40;
  guint8 *p;
  FzIpPacket pkt;

  fz_packet_buf_reset (buf);
  p = fz_packet_buf_put (buf, hdr + 20);
  memset (p, 0, hdr + 20);
  if (src->family == 4)
    {
      p[0] = 0x45, p[3] = 40, p[6] = 0x40, p[8] = 64, p[9] = FZ_IP_PROTO_TCP;
      memcpy (p + 12, src->bytes, 4);
      memcpy (p + 16, dst->bytes, 4);
    }
  else
    {
      p[0] = 0x60, p[5] = 20, p[6] = FZ_IP_PROTO_TCP, p[7] = 64;
      memcpy (p + 8, src->bytes, 16);
      memcpy (p + 24, dst->bytes, 16);
    }
  p += hdr;
  p[0] = 0xc3, p[1] = 0x50; /* 50000 */
  p[3] = 9;                 /* discard: closed */
  p[7] = 1;                 /* seq 1 */
  p[12] = 5 << 4;
  p[13] = FZ_TCP_SYN;
  p[14] = 0xff, p[15] = 0xff;
  if (fz_ip_packet_parse (&pkt, buf->data, buf->len, FZ_IP_MTU_TUNNEL) != FZ_IP_OK)
    return FALSE;
  fz_ip_packet_update_checksums (&pkt);
  return TRUE;
}

/* One datagram to @peer whose IPv6 header chain the kernel builds with a
 * sticky option header (@opt: IPV6_HOPOPTS or IPV6_DSTOPTS). */
static void
send_with_ext_header (const FzIpAddr *peer, int opt)
{
  /* next header (kernel fills it), length 0 (8 bytes), PadN of 4 bytes */
  static const guint8 ext[8] = { 0, 0, 1, 4, 0, 0, 0, 0 };
  struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons (5353) };
  int s = socket (AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  memcpy (&sa.sin6_addr, peer->bytes, 16);
  if (s < 0 || setsockopt (s, IPPROTO_IPV6, opt, ext, sizeof ext) < 0
      || sendto (s, "ext", 3, 0, (struct sockaddr *) &sa, sizeof sa) < 0)
    g_warning ("sending with IPv6 option header %d: %s", opt, g_strerror (errno));
  if (s >= 0)
    close (s);
}

static void
inject_probes (int fd, char **addrs)
{
  static const char probe[] = "fz-probe!"; /* 9 bytes: odd on purpose */
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  guint8 ping[57];

  for (guint i = 0; i < sizeof ping; i++)
    ping[i] = (guint8) i; /* odd length: exercises the trailing byte */

  for (int fam = 0; fam < 2; fam++)
    {
      FzIpAddr local, peer;
      FzIpPacket pkt;

      if (!fz_ip_addr_parse (&local, addrs[fam * 2])
          || !fz_ip_addr_parse (&peer, addrs[fam * 2 + 1]))
        g_error ("bad address");
      if (fz_ip_build_udp (buf, &pkt, &peer, &local, 50000, 9, probe, sizeof probe - 1,
                           NULL)
          && write (fd, buf->data, buf->len) < 0)
        g_warning ("inject UDP: %s", g_strerror (errno));
      if (fz_ip_build_icmp_echo (buf, &pkt, &peer, &local, FALSE, 0x1234, 1, ping,
                                 sizeof ping, NULL)
          && write (fd, buf->data, buf->len) < 0)
        g_warning ("inject echo: %s", g_strerror (errno));
      if (build_syn (buf, &peer, &local) && write (fd, buf->data, buf->len) < 0)
        g_warning ("inject SYN: %s", g_strerror (errno));
      if (peer.family == 6)
        {
          send_with_ext_header (&peer, IPV6_HOPOPTS);
          send_with_ext_header (&peer, IPV6_DSTOPTS);
        }
    }
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  struct sigaction sa = { .sa_handler = on_signal };
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  PcapWriter *w;
  guint8 pkt[65536];
  guint count = 0;
  int fd;

  if (argc != 4 && argc != 8)
    {
      g_printerr (
        "usage: %s IFNAME OUT.pcap READY_FILE [V4_LOCAL V4_PEER V6_LOCAL V6_PEER]\n",
        argv[0]);
      return 2;
    }
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGUSR1, &sa, NULL);

  fd = open_tun (argv[1]);
  if (fd < 0)
    {
      g_printerr ("cannot create TUN %s: %s\n", argv[1], g_strerror (errno));
      return 1;
    }
  w = pcap_writer_open (argv[2], &error);
  if (w == NULL || !g_file_set_contents (argv[3], "", 0, &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }

  while (!stop && g_get_monotonic_time () < deadline)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      ssize_t n;

      if (inject && argc == 8)
        {
          inject = 0;
          inject_probes (fd, argv + 4);
        }
      if (poll (&pfd, 1, 100) <= 0)
        continue;
      n = read (fd, pkt, sizeof pkt);
      if (n <= 0)
        continue;
      pcap_writer_add (w, pkt, (gsize) n, g_get_real_time ());
      count++;
    }
  close (fd);
  if (!pcap_writer_close (w, &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  g_print ("captured %u packets\n", count);
  return 0;
}
