/* FzUdpSocket: one non-blocking UDP socket of one address family, bound
 * to a port, with FzSockAddr in and out, UDP GRO on receive and GSO on
 * send where the kernel has them. */
#pragma once

#include "fz-ip-addr.h"
#include "fz-packet-buf.h"

#include <sys/socket.h>

G_BEGIN_DECLS

#define FZ_UDP_GSO_MAX_SEGMENTS 64

typedef struct _FzUdpSocket FzUdpSocket;

#define FZ_UDP_SEND_BUFFER (2 * 1024 * 1024) /* sized for 10 Gbit/s */
#define FZ_UDP_RECV_BUFFER (16 * 1024 * 1024)

/* Raises net.core.wmem_max/rmem_max to the buffer sizes above when they
 * are lower (the kernel caps SO_SNDBUF/SO_RCVBUF at them), unless
 * FIREZONE_NO_INC_BUF=true. FALSE with @error if it could not. */
gboolean fz_udp_raise_buffer_limits (GError **error);

/* Port 0 picks one. The socket asks for the buffer sizes above. */
FzUdpSocket *fz_udp_socket_open (int family, guint16 port, GError **error);
/* The port it is bound to, and its family (4 or 6). */
guint16 fz_udp_socket_get_port (FzUdpSocket *s);
int fz_udp_socket_get_family (FzUdpSocket *s);

/* FzSockAddr to and from the kernel's form; returns the length to pass. */
socklen_t fz_sock_addr_to_native (const FzSockAddr *sa, struct sockaddr_storage *ss);
void fz_sock_addr_from_native (const struct sockaddr_storage *ss, FzSockAddr *sa);
void fz_udp_socket_close (FzUdpSocket *s);
gboolean fz_udp_socket_set_mark (FzUdpSocket *s, guint32 mark, GError **error);
gssize fz_udp_socket_send (FzUdpSocket *s, const guint8 *buf, gsize len,
                           const FzSockAddr *to);

/* Receives one datagram (or -1 with errno set; EAGAIN: nothing waiting),
 * or with GRO on, several of one flow coalesced:
 * then *@segment is their size (the last may be shorter), else 0. @local
 * (may be NULL) gets the address it arrived on (IP_PKTINFO) and our port,
 * or family 0 if the kernel did not say. */
gssize fz_udp_socket_recv_gro (FzUdpSocket *s, guint8 *buf, gsize cap, FzSockAddr *from,
                               FzSockAddr *local, guint16 *segment);
/* Sends @n datagrams to @to, all but the last of one size. With GSO, one
 * syscall; if the kernel refuses it (EIO, EINVAL), GSO is turned off for
 * the socket and the batch resent one by one: nothing is dropped for it.
 * FALSE if some datagram could not be sent. */
gboolean fz_udp_socket_send_batch (FzUdpSocket *s, FzPacketBuf *const *bufs, guint n,
                                   const FzSockAddr *to);

/* Without GRO: up to @n datagrams in one syscall (recvmmsg), each into its
 * own buffer (len set) with its source. Returns how many; 0 when none. */
guint fz_udp_socket_recv_many (FzUdpSocket *s, FzPacketBuf **bufs, FzSockAddr *from,
                               guint n);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzUdpSocket, fz_udp_socket_close)

G_END_DECLS
