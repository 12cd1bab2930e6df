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

/* What sends and receives carry besides the payload: the local address
 * (@src on send, @local on receive) and the two ECN bits of the IP header.
 *
 * On send, @src (NULL or family 0: the kernel picks; its port is ignored,
 * the socket's own is used) sets the source address (IP_PKTINFO,
 * IPV6_PKTINFO), as ICE needs on a host with several addresses; an
 * address that is not ours fails the send (EINVAL, ENETUNREACH), one of
 * the other family too (EAFNOSUPPORT). @ecn (only its two low bits count;
 * 0 is Not-ECT and adds nothing) goes into the TOS or traffic class
 * (IP_TOS, IPV6_TCLASS), with DSCP 0. */
#define FZ_UDP_ECN_MASK 3

gssize fz_udp_socket_send (FzUdpSocket *s, const guint8 *buf, gsize len,
                           const FzSockAddr *src, const FzSockAddr *to, guint8 ecn);

/* Receives one datagram (or -1 with errno set; EAGAIN: nothing waiting),
 * or with GRO on, several of one flow coalesced:
 * then *@segment is their size (the last may be shorter), else 0. @local
 * (may be NULL) gets the address it arrived on (IP_PKTINFO, IPV6_PKTINFO)
 * and our port, or family 0 if the kernel did not say; @ecn (may be NULL)
 * the ECN bits it arrived with (IP_RECVTOS, IPV6_RECVTCLASS). With GRO,
 * both hold for every coalesced segment. */
gssize fz_udp_socket_recv_gro (FzUdpSocket *s, guint8 *buf, gsize cap, FzSockAddr *local,
                               FzSockAddr *from, guint8 *ecn, guint16 *segment);
/* Sends @n datagrams from @src to @to with @ecn (as fz_udp_socket_send),
 * all but the last of one size: with GSO one segment batch shares one
 * source, destination and ECN, so callers group datagrams by the three.
 * With GSO, one syscall; if the kernel refuses it (EIO, EINVAL) and the
 * batch then goes out one by one, GSO is turned off for the socket:
 * nothing is dropped for it, and an address the kernel refuses does not
 * turn it off. FALSE if some datagram could not be sent. */
gboolean fz_udp_socket_send_batch (FzUdpSocket *s, FzPacketBuf *const *bufs, guint n,
                                   const FzSockAddr *src, const FzSockAddr *to,
                                   guint8 ecn);

/* One datagram to send, with what a node's transmit (FzNodeTransmit) says
 * of it. */
typedef struct
{
  FzSockAddr src; /* family 0: the kernel picks */
  FzSockAddr dst;
  FzPacketBuf *buf; /* stays the caller's */
  guint8 ecn;
} FzUdpTransmit;

/* Sends @n datagrams of @s's family in order, in as few GSO batches as
 * they allow: consecutive ones with the same source, destination and ECN,
 * all but the last of one size. FALSE if some could not be sent. */
gboolean fz_udp_socket_send_many (FzUdpSocket *s, const FzUdpTransmit *tx, guint n);

/* Without GRO: up to @n datagrams in one syscall (recvmmsg), each into its
 * own buffer (len set) with its source, and (arrays that may be NULL) the
 * local address and ECN bits as fz_udp_socket_recv_gro gives them.
 * Returns how many; 0 when none. */
guint fz_udp_socket_recv_many (FzUdpSocket *s, FzPacketBuf **bufs, FzSockAddr *local,
                               FzSockAddr *from, guint8 *ecn, guint n);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzUdpSocket, fz_udp_socket_close)

G_END_DECLS
