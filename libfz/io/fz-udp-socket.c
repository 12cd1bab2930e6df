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
  /* Which local address each datagram came to: ICE needs it. */
  if (family == 4)
    setsockopt (fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  else
    setsockopt (fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
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

gssize
fz_udp_socket_send (FzUdpSocket *s, const guint8 *buf, gsize len, const FzSockAddr *to)
{
  struct sockaddr_storage ss;
  socklen_t sl = fz_sock_addr_to_native (to, &ss);

  return sendto (s->fd, buf, len, 0, (struct sockaddr *) &ss, sl);
}

gssize
fz_udp_socket_recv_gro (FzUdpSocket *s, guint8 *buf, gsize cap, FzSockAddr *from,
                        FzSockAddr *local, guint16 *segment)
{
  struct sockaddr_storage ss;
  struct iovec iov = { .iov_base = buf, .iov_len = cap };
  union
  {
    char buf[CMSG_SPACE (sizeof (int)) + CMSG_SPACE (sizeof (struct in6_pktinfo))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = { .msg_name = &ss,
                        .msg_namelen = sizeof ss,
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof control.buf };
  gssize n = recvmsg (s->fd, &msg, 0);

  *segment = 0;
  if (local != NULL)
    memset (local, 0, sizeof *local);
  if (n < 0)
    return n;
  fz_sock_addr_from_native (&ss, from);
  for (struct cmsghdr *c = CMSG_FIRSTHDR (&msg); c != NULL; c = CMSG_NXTHDR (&msg, c))
    {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO)
        {
          int size;
          memcpy (&size, CMSG_DATA (c), sizeof size);
          if (size > 0 && size < n)
            *segment = (guint16) size;
        }
      else if (local != NULL && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
        {
          struct in_pktinfo pi;
          memcpy (&pi, CMSG_DATA (c), sizeof pi);
          fz_ip_addr_set_v4 (&local->ip, (const guint8 *) &pi.ipi_addr);
          local->port = s->port;
        }
      else if (local != NULL && c->cmsg_level == IPPROTO_IPV6
               && c->cmsg_type == IPV6_PKTINFO)
        {
          struct in6_pktinfo pi;
          memcpy (&pi, CMSG_DATA (c), sizeof pi);
          fz_ip_addr_set_v6 (&local->ip, (const guint8 *) &pi.ipi6_addr);
          local->port = s->port;
        }
    }
  return n;
}

static gboolean
send_gso (FzUdpSocket *s, FzPacketBuf *const *bufs, guint n, const FzSockAddr *to)
{
  struct sockaddr_storage ss;
  struct iovec iov[FZ_UDP_GSO_MAX_SEGMENTS];
  union
  {
    char buf[CMSG_SPACE (sizeof (guint16))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = { .msg_name = &ss,
                        .msg_iov = iov,
                        .msg_iovlen = n,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof control.buf };
  struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
  guint16 size = (guint16) bufs[0]->len;

  msg.msg_namelen = fz_sock_addr_to_native (to, &ss);
  for (guint i = 0; i < n; i++)
    {
      iov[i].iov_base = bufs[i]->data;
      iov[i].iov_len = bufs[i]->len;
    }
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN (sizeof size);
  memcpy (CMSG_DATA (c), &size, sizeof size);
  return sendmsg (s->fd, &msg, 0) >= 0;
}

gboolean
fz_udp_socket_send_batch (FzUdpSocket *s, FzPacketBuf *const *bufs, guint n,
                          const FzSockAddr *to)
{
  gboolean ok = TRUE;
  gsize total = 0;

  for (guint i = 0; i < n; i++)
    total += bufs[i]->len;
  if (s->gso && n > 1 && n <= FZ_UDP_GSO_MAX_SEGMENTS && total <= 65000)
    {
      if (send_gso (s, bufs, n, to))
        return TRUE;
      if (errno == EAGAIN || errno == ENOBUFS)
        return FALSE; /* a full buffer: dropped, as one datagram would be */
      if (errno == EIO || errno == EINVAL)
        s->gso = FALSE; /* the path or the device cannot: never again here */
      /* Anything else (EMSGSIZE...): this batch goes one by one. */
    }
  {
    /* One by one, but in one syscall. */
    struct mmsghdr msgs[FZ_UDP_GSO_MAX_SEGMENTS];
    struct iovec iov[FZ_UDP_GSO_MAX_SEGMENTS];
    struct sockaddr_storage ss;
    socklen_t sl = fz_sock_addr_to_native (to, &ss);

    for (guint done = 0; done < n;)
      {
        guint m = MIN (n - done, (guint) FZ_UDP_GSO_MAX_SEGMENTS);
        int sent;

        for (guint i = 0; i < m; i++)
          {
            iov[i] = (struct iovec){ bufs[done + i]->data, bufs[done + i]->len };
            msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &ss,
                                                     .msg_namelen = sl,
                                                     .msg_iov = &iov[i],
                                                     .msg_iovlen = 1 } };
          }
        sent = sendmmsg (s->fd, msgs, m, 0);
        if (sent <= 0)
          return FALSE;
        ok &= (guint) sent == m;
        done += (guint) sent;
        if ((guint) sent < m)
          break;
      }
  }
  return ok;
}

guint
fz_udp_socket_recv_many (FzUdpSocket *s, FzPacketBuf **bufs, FzSockAddr *from, guint n)
{
  struct mmsghdr msgs[FZ_UDP_GSO_MAX_SEGMENTS];
  struct iovec iov[FZ_UDP_GSO_MAX_SEGMENTS];
  struct sockaddr_storage ss[FZ_UDP_GSO_MAX_SEGMENTS];
  int got;

  n = MIN (n, (guint) FZ_UDP_GSO_MAX_SEGMENTS);
  for (guint i = 0; i < n; i++)
    {
      iov[i] = (struct iovec){ bufs[i]->data, fz_packet_buf_tailroom (bufs[i]) };
      msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &ss[i],
                                               .msg_namelen = sizeof ss[i],
                                               .msg_iov = &iov[i],
                                               .msg_iovlen = 1 } };
    }
  got = recvmmsg (s->fd, msgs, n, MSG_DONTWAIT, NULL);
  if (got <= 0)
    return 0;
  for (int i = 0; i < got; i++)
    {
      bufs[i]->len = msgs[i].msg_len;
      fz_sock_addr_from_native (&ss[i], &from[i]);
    }
  return (guint) got;
}
