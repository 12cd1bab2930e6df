#define _GNU_SOURCE /* struct in6_pktinfo */
#include "fz-udp-socket-private.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/uio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static gboolean
raise_sysctl (const char *path, guint64 want, GError **error)
{
  g_autofree char *text = NULL;
  g_autofree char *value = NULL;

  if (g_file_get_contents (path, &text, NULL, NULL)
      && g_ascii_strtoull (text, NULL, 10) >= want)
    return TRUE;
  value = g_strdup_printf ("%" G_GUINT64_FORMAT "\n", want);
  {
    /* /proc/sys takes a plain write, not a rename into place */
    int fd = open (path, O_WRONLY | O_CLOEXEC), saved;
    gssize n = fd >= 0 ? write (fd, value, strlen (value)) : -1;
    saved = errno;
    if (fd >= 0)
      close (fd);
    if (n != (gssize) strlen (value))
      {
        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                     "cannot raise %s: %s", path, g_strerror (saved));
        return FALSE;
      }
  }
  return TRUE;
}

gboolean
fz_udp_raise_buffer_limits (GError **error)
{
  if (g_strcmp0 (g_getenv ("FIREZONE_NO_INC_BUF"), "true") == 0)
    return TRUE;
  return raise_sysctl ("/proc/sys/net/core/wmem_max", FZ_UDP_SEND_BUFFER, error)
         && raise_sysctl ("/proc/sys/net/core/rmem_max", FZ_UDP_RECV_BUFFER, error);
}

socklen_t
fz_sock_addr_to_native (const FzSockAddr *sa, struct sockaddr_storage *ss)
{
  memset (ss, 0, sizeof *ss);
  if (sa->ip.family == 4)
    {
      struct sockaddr_in *in = (struct sockaddr_in *) ss;
      in->sin_family = AF_INET;
      in->sin_port = g_htons (sa->port);
      memcpy (&in->sin_addr, sa->ip.bytes, 4);
      return sizeof *in;
    }
  else
    {
      struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;
      in6->sin6_family = AF_INET6;
      in6->sin6_port = g_htons (sa->port);
      memcpy (&in6->sin6_addr, sa->ip.bytes, 16);
      return sizeof *in6;
    }
}

void
fz_sock_addr_from_native (const struct sockaddr_storage *ss, FzSockAddr *sa)
{
  if (ss->ss_family == AF_INET)
    {
      const struct sockaddr_in *in = (const struct sockaddr_in *) ss;
      fz_ip_addr_set_v4 (&sa->ip, (const guint8 *) &in->sin_addr);
      sa->port = g_ntohs (in->sin_port);
    }
  else
    {
      const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) ss;
      fz_ip_addr_set_v6 (&sa->ip, (const guint8 *) &in6->sin6_addr);
      sa->port = g_ntohs (in6->sin6_port);
    }
}

static FzUdpSocket *
fail (int fd, GError **error, const char *what, int family, guint16 port)
{
  int saved = errno;

  if (fd >= 0)
    close (fd);
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
               "cannot %s a UDP socket (IPv%d, port %u): %s", what, family, port,
               g_strerror (saved));
  return NULL;
}

FzUdpSocket *
fz_udp_socket_open (int family, guint16 port, GError **error)
{
  FzSockAddr any = { .ip = { .family = (guint8) family }, .port = port };
  struct sockaddr_storage ss;
  socklen_t len;
  FzUdpSocket *s;
  int fd, one = 1;

  g_return_val_if_fail (family == 4 || family == 6, NULL);
  fd = socket (family == 4 ? AF_INET : AF_INET6,
               SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return fail (fd, error, "create", family, port);
  if (family == 6 && setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
    return fail (fd, error, "configure", family, port);
  len = fz_sock_addr_to_native (&any, &ss);
  if (bind (fd, (struct sockaddr *) &ss, len) < 0)
    return fail (fd, error, "bind", family, port);
  len = sizeof ss;
  if (getsockname (fd, (struct sockaddr *) &ss, &len) < 0)
    return fail (fd, error, "inspect", family, port);

  /* Best effort: the kernel caps them at wmem_max/rmem_max. */
  setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &(int){ FZ_UDP_SEND_BUFFER }, sizeof (int));
  setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &(int){ FZ_UDP_RECV_BUFFER }, sizeof (int));

  s = g_new0 (FzUdpSocket, 1);
  s->fd = fd;
  s->family = family;
  s->gso = TRUE; /* until the kernel says otherwise */
  s->gro = setsockopt (fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
  /* Which local address each datagram came to (ICE needs it), and its
   * ECN bits. */
  if (family == 4)
    {
      setsockopt (fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
      setsockopt (fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof one);
    }
  else
    {
      setsockopt (fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
      setsockopt (fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof one);
    }
  s->port = g_ntohs (family == 4 ? ((struct sockaddr_in *) &ss)->sin_port
                                 : ((struct sockaddr_in6 *) &ss)->sin6_port);
  return s;
}

void
fz_udp_socket_close (FzUdpSocket *s)
{
  if (s == NULL)
    return;
  close (s->fd);
  g_free (s);
}

guint16
fz_udp_socket_get_port (FzUdpSocket *s)
{
  return s->port;
}

int
fz_udp_socket_get_family (FzUdpSocket *s)
{
  return s->family;
}

gboolean
fz_udp_socket_set_mark (FzUdpSocket *s, guint32 mark, GError **error)
{
  if (setsockopt (s->fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot set fwmark %u: %s", mark, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* Room for the control messages of a send: a segment size, a source
 * address and a TOS or traffic class. */
typedef union
{
  char buf[CMSG_SPACE (sizeof (guint16)) + CMSG_SPACE (sizeof (struct in6_pktinfo))
           + CMSG_SPACE (sizeof (int))];
  struct cmsghdr align;
} SendControl;

/* Room for what a receive reports: a GRO segment size, the local address
 * and the TOS or traffic class. */
typedef union
{
  char buf[CMSG_SPACE (sizeof (int)) + CMSG_SPACE (sizeof (struct in6_pktinfo))
           + CMSG_SPACE (sizeof (int))];
  struct cmsghdr align;
} RecvControl;

/* Appends one control message; the caller's buffer has room for it. */
static void
put_cmsg (struct msghdr *msg, int level, int type, const void *data, gsize len)
{
  struct cmsghdr *c
    = (struct cmsghdr *) ((char *) msg->msg_control + msg->msg_controllen);

  c->cmsg_level = level;
  c->cmsg_type = type;
  c->cmsg_len = CMSG_LEN (len);
  memcpy (CMSG_DATA (c), data, len);
  msg->msg_controllen += CMSG_SPACE (len);
}

static void
put_source (const FzUdpSocket *s, struct msghdr *msg, const FzSockAddr *src)
{
  if (s->family == 4)
    {
      struct in_pktinfo pi = { 0 };
      memcpy (&pi.ipi_spec_dst, src->ip.bytes, 4);
      put_cmsg (msg, IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi);
    }
  else
    {
      struct in6_pktinfo pi = { 0 };
      memcpy (&pi.ipi6_addr, src->ip.bytes, 16);
      put_cmsg (msg, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof pi);
    }
}

/* Points @msg at @ctl holding the segment size (0: no GSO), the source
 * address and the ECN of a send; no control at all when none is asked
 * for. FALSE (errno set) for a source of the other family. */
static gboolean
set_send_control (const FzUdpSocket *s, struct msghdr *msg, SendControl *ctl,
                  guint16 segment, const FzSockAddr *src, guint8 ecn)
{
  int tos = ecn & FZ_UDP_ECN_MASK;

  memset (ctl, 0, sizeof *ctl);
  msg->msg_control = ctl->buf;
  msg->msg_controllen = 0;
  if (segment > 0)
    put_cmsg (msg, SOL_UDP, UDP_SEGMENT, &segment, sizeof segment);
  if (src != NULL && src->ip.family != 0)
    {
      if (src->ip.family != s->family)
        {
          errno = EAFNOSUPPORT;
          return FALSE;
        }
      put_source (s, msg, src);
    }
  if (tos != 0)
    put_cmsg (msg, s->family == 4 ? IPPROTO_IP : IPPROTO_IPV6,
              s->family == 4 ? IP_TOS : IPV6_TCLASS, &tos, sizeof tos);
  if (msg->msg_controllen == 0)
    msg->msg_control = NULL;
  return TRUE;
}

/* Copies the data of @c if it is the size expected. */
static gboolean
cmsg_get (const struct cmsghdr *c, void *out, gsize len)
{
  if (c->cmsg_len < CMSG_LEN (len))
    return FALSE;
  memcpy (out, CMSG_DATA (c), len);
  return TRUE;
}

/* What the kernel said about a received datagram of @n bytes; each out
 * parameter may be NULL. */
static void
read_control (const FzUdpSocket *s, struct msghdr *msg, gsize n, FzSockAddr *local,
              guint8 *ecn, guint16 *segment)
{
  if (local != NULL)
    memset (local, 0, sizeof *local);
  if (ecn != NULL)
    *ecn = 0;
  if (segment != NULL)
    *segment = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR (msg); c != NULL; c = CMSG_NXTHDR (msg, c))
    {
      struct in_pktinfo pi;
      struct in6_pktinfo pi6;
      int size, tclass;
      guint8 tos;

      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO)
        {
          if (segment != NULL && cmsg_get (c, &size, sizeof size) && size > 0
              && (gsize) size < n)
            *segment = (guint16) size;
        }
      else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
        {
          if (local != NULL && cmsg_get (c, &pi, sizeof pi))
            {
              fz_ip_addr_set_v4 (&local->ip, (const guint8 *) &pi.ipi_addr);
              local->port = s->port;
            }
        }
      else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO)
        {
          if (local != NULL && cmsg_get (c, &pi6, sizeof pi6))
            {
              fz_ip_addr_set_v6 (&local->ip, (const guint8 *) &pi6.ipi6_addr);
              local->port = s->port;
            }
        }
      else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS)
        {
          if (ecn != NULL && cmsg_get (c, &tos, sizeof tos))
            *ecn = tos & FZ_UDP_ECN_MASK;
        }
      else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS)
        {
          if (ecn != NULL && cmsg_get (c, &tclass, sizeof tclass))
            *ecn = (guint8) (tclass & FZ_UDP_ECN_MASK);
        }
    }
}

gssize
fz_udp_socket_send (FzUdpSocket *s, const guint8 *buf, gsize len, const FzSockAddr *src,
                    const FzSockAddr *to, guint8 ecn)
{
  struct sockaddr_storage ss;
  struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
  SendControl ctl;
  struct msghdr msg = { .msg_name = &ss,
                        .msg_namelen = fz_sock_addr_to_native (to, &ss),
                        .msg_iov = &iov,
                        .msg_iovlen = 1 };

  if (!set_send_control (s, &msg, &ctl, 0, src, ecn))
    return -1;
  return sendmsg (s->fd, &msg, 0);
}

gssize
fz_udp_socket_recv_gro (FzUdpSocket *s, guint8 *buf, gsize cap, FzSockAddr *local,
                        FzSockAddr *from, guint8 *ecn, guint16 *segment)
{
  struct sockaddr_storage ss;
  struct iovec iov = { .iov_base = buf, .iov_len = cap };
  RecvControl control;
  struct msghdr msg = { .msg_name = &ss,
                        .msg_namelen = sizeof ss,
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof control.buf };
  gssize n = recvmsg (s->fd, &msg, 0);

  if (n < 0)
    {
      msg.msg_controllen = 0; /* nothing to read: only clear the outputs */
      read_control (s, &msg, 0, local, ecn, segment);
      return n;
    }
  fz_sock_addr_from_native (&ss, from);
  read_control (s, &msg, (gsize) n, local, ecn, segment);
  return n;
}

static gboolean
send_gso (FzUdpSocket *s, FzPacketBuf *const *bufs, guint n, const FzSockAddr *src,
          const FzSockAddr *to, guint8 ecn)
{
  struct sockaddr_storage ss;
  struct iovec iov[FZ_UDP_GSO_MAX_SEGMENTS];
  SendControl ctl;
  struct msghdr msg = { .msg_name = &ss,
                        .msg_namelen = fz_sock_addr_to_native (to, &ss),
                        .msg_iov = iov,
                        .msg_iovlen = n };

  for (guint i = 0; i < n; i++)
    {
      iov[i].iov_base = bufs[i]->data;
      iov[i].iov_len = bufs[i]->len;
    }
  return set_send_control (s, &msg, &ctl, (guint16) bufs[0]->len, src, ecn)
         && sendmsg (s->fd, &msg, 0) >= 0;
}

/* One by one, but in one syscall per FZ_UDP_GSO_MAX_SEGMENTS; every
 * datagram with the same control messages. */
static gboolean
send_each (FzUdpSocket *s, FzPacketBuf *const *bufs, guint n, const FzSockAddr *src,
           const FzSockAddr *to, guint8 ecn)
{
  struct mmsghdr msgs[FZ_UDP_GSO_MAX_SEGMENTS];
  struct iovec iov[FZ_UDP_GSO_MAX_SEGMENTS];
  struct sockaddr_storage ss;
  SendControl ctl;
  struct msghdr proto
    = { .msg_name = &ss, .msg_namelen = fz_sock_addr_to_native (to, &ss) };

  if (!set_send_control (s, &proto, &ctl, 0, src, ecn))
    return FALSE;
  for (guint done = 0; done < n;)
    {
      guint m = MIN (n - done, (guint) FZ_UDP_GSO_MAX_SEGMENTS);
      int sent;

      for (guint i = 0; i < m; i++)
        {
          iov[i] = (struct iovec){ bufs[done + i]->data, bufs[done + i]->len };
          msgs[i] = (struct mmsghdr){ .msg_hdr = proto };
          msgs[i].msg_hdr.msg_iov = &iov[i];
          msgs[i].msg_hdr.msg_iovlen = 1;
        }
      sent = sendmmsg (s->fd, msgs, m, 0);
      if (sent <= 0)
        return FALSE;
      done += (guint) sent;
      if ((guint) sent < m)
        return FALSE;
    }
  return TRUE;
}

gboolean
fz_udp_socket_send_batch (FzUdpSocket *s, FzPacketBuf *const *bufs, guint n,
                          const FzSockAddr *src, const FzSockAddr *to, guint8 ecn)
{
  gsize total = 0;
  gboolean refused, ok;

  for (guint i = 0; i < n; i++)
    total += bufs[i]->len;
  if (!s->gso || n < 2 || n > FZ_UDP_GSO_MAX_SEGMENTS || total > 65000)
    return send_each (s, bufs, n, src, to, ecn);
  if (send_gso (s, bufs, n, src, to, ecn))
    return TRUE;
  if (errno == EAGAIN || errno == ENOBUFS)
    return FALSE; /* a full buffer: dropped, as one datagram would be */
  /* EIO, EINVAL: the path or the device cannot segment, unless it is the
   * source address the kernel refuses (EINVAL too): only when the batch
   * goes out without GSO is GSO off for good. Anything else (EMSGSIZE...):
   * this batch goes one by one. */
  refused = errno == EIO || errno == EINVAL;
  ok = send_each (s, bufs, n, src, to, ecn);
  if (refused && ok)
    s->gso = FALSE;
  return ok;
}

/* One GSO batch shares its control messages. */
static gboolean
same_path (const FzUdpTransmit *a, const FzUdpTransmit *b)
{
  return fz_ip_addr_equal (&a->src.ip, &b->src.ip)
         && fz_sock_addr_equal (&a->dst, &b->dst)
         && (a->ecn & FZ_UDP_ECN_MASK) == (b->ecn & FZ_UDP_ECN_MASK);
}

/* How many of @tx, from the first, one GSO batch takes: of one path, all
 * of the first's size but a last no larger, within the segment and size
 * limits. */
static guint
batch_length (const FzUdpTransmit *tx, guint n)
{
  gsize size = tx[0].buf->len, total = size;
  guint j = 1;

  while (j < n && j < FZ_UDP_GSO_MAX_SEGMENTS && tx[j - 1].buf->len == size
         && tx[j].buf->len <= size && total + tx[j].buf->len <= 65000
         && same_path (&tx[0], &tx[j]))
    total += tx[j++].buf->len;
  return j;
}

gboolean
fz_udp_socket_send_many (FzUdpSocket *s, const FzUdpTransmit *tx, guint n)
{
  FzPacketBuf *bufs[FZ_UDP_GSO_MAX_SEGMENTS];
  gboolean ok = TRUE;

  for (guint i = 0, m; i < n; i += m)
    {
      m = batch_length (tx + i, n - i);
      for (guint k = 0; k < m; k++)
        bufs[k] = tx[i + k].buf;
      ok &= fz_udp_socket_send_batch (s, bufs, m, &tx[i].src, &tx[i].dst, tx[i].ecn);
    }
  return ok;
}

guint
fz_udp_socket_recv_many (FzUdpSocket *s, FzPacketBuf **bufs, FzSockAddr *local,
                         FzSockAddr *from, guint8 *ecn, guint n)
{
  struct mmsghdr msgs[FZ_UDP_GSO_MAX_SEGMENTS];
  struct iovec iov[FZ_UDP_GSO_MAX_SEGMENTS];
  struct sockaddr_storage ss[FZ_UDP_GSO_MAX_SEGMENTS];
  RecvControl control[FZ_UDP_GSO_MAX_SEGMENTS];
  int got;

  n = MIN (n, (guint) FZ_UDP_GSO_MAX_SEGMENTS);
  for (guint i = 0; i < n; i++)
    {
      iov[i] = (struct iovec){ bufs[i]->data, fz_packet_buf_tailroom (bufs[i]) };
      msgs[i]
        = (struct mmsghdr){ .msg_hdr = { .msg_name = &ss[i],
                                         .msg_namelen = sizeof ss[i],
                                         .msg_iov = &iov[i],
                                         .msg_iovlen = 1,
                                         .msg_control = control[i].buf,
                                         .msg_controllen = sizeof control[i].buf } };
    }
  got = recvmmsg (s->fd, msgs, n, MSG_DONTWAIT, NULL);
  if (got <= 0)
    return 0;
  for (int i = 0; i < got; i++)
    {
      bufs[i]->len = msgs[i].msg_len;
      fz_sock_addr_from_native (&ss[i], &from[i]);
      read_control (s, &msgs[i].msg_hdr, msgs[i].msg_len,
                    local != NULL ? &local[i] : NULL, ecn != NULL ? &ecn[i] : NULL, NULL);
    }
  return (guint) got;
}
