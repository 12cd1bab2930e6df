/* FzDnsTcp: DNS over TCP (RFC 7766) on the client's DNS sentinels.
 *
 * Applications that get a truncated answer, or always use TCP, open a TCP
 * connection to a sentinel address that exists only inside our TUN, so
 * the client answers as the server. This is the smallest TCP that does
 * that: passive open only; data accepted in order only (anything else is
 * acknowledged again and dropped, the application retransmits); our data
 * sent within the peer's window and resent go-back-N on a doubling
 * timeout; passive close; RST for anything else. A general stack would
 * do more, but the one Debian ships (lwIP) is a single global instance
 * with its own thread and clock, which a sans-IO core run many times in
 * one simulator cannot use.
 *
 * The caller hands over TCP packets to a sentinel's port 53, polls the
 * DNS messages that arrived (length prefix removed), answers each by its
 * handle in any order, and polls the IP packets for the TUN. Every
 * connection is bounded (queries in flight, buffered bytes, idle time),
 * and so is their number. Internal to libfz. */
#pragma once

#include "fz-ip-packet-build.h"
#include "fz-rng.h"

G_BEGIN_DECLS

#define FZ_DNS_TCP_MAX_CONNECTIONS 256
#define FZ_DNS_TCP_MAX_MESSAGE     4096 /* a longer query resets the connection */
#define FZ_DNS_TCP_MAX_PENDING     8    /* unanswered queries per connection */
#define FZ_DNS_TCP_IDLE_TIMEOUT    (30 * G_USEC_PER_SEC)
#define FZ_DNS_TCP_INITIAL_RTO     (200 * G_TIME_SPAN_MILLISECOND)
#define FZ_DNS_TCP_MAX_RETRIES     6

typedef struct _FzDnsTcp FzDnsTcp;

typedef struct
{
  guint64 handle; /* for fz_dns_tcp_answer() */
  FzIpAddr app, sentinel;
  guint16 app_port;
  GBytes *message; /* the caller's; without the length prefix */
} FzDnsTcpQuery;

/* @mtu: the TUN's, for the segment size. */
FzDnsTcp *fz_dns_tcp_new (FzRng *rng, gsize mtu);
void fz_dns_tcp_free (FzDnsTcp *tcp);

/* A TCP packet whose destination is a sentinel's port 53. */
void fz_dns_tcp_handle_packet (FzDnsTcp *tcp, const FzIpPacket *pkt, gint64 now);
gboolean fz_dns_tcp_poll_query (FzDnsTcp *tcp, FzDnsTcpQuery *out);
void fz_dns_tcp_query_clear (FzDnsTcpQuery *q);
/* Sends @msg (one DNS message, at most 65535 bytes) on the connection the
 * query came on; FALSE when that connection is gone or @msg is too long. */
gboolean fz_dns_tcp_answer (FzDnsTcp *tcp, guint64 handle, const guint8 *msg, gsize len,
                            gint64 now);

/* Builds the next packet for the TUN into @buf; FALSE when there is none. */
gboolean fz_dns_tcp_poll_packet (FzDnsTcp *tcp, FzPacketBuf *buf, FzIpPacket *out);
gint64 fz_dns_tcp_poll_timeout (FzDnsTcp *tcp);
void fz_dns_tcp_handle_timeout (FzDnsTcp *tcp, gint64 now);
guint fz_dns_tcp_n_connections (FzDnsTcp *tcp);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzDnsTcp, fz_dns_tcp_free)

G_END_DECLS
