/* FzNatTable: the gateway's NAT for DNS resources, sans-IO.
 *
 * A client sends to a proxy IP (100.96.0.0/11, fd00:2021:1111:8000::/107)
 * that the gateway state maps to a real IP of the resolved resource. The
 * outbound packet's destination becomes the real IP; its source (the
 * client's tunnel IP) and source port (or ICMP echo id) stay, unless that
 * tuple is taken already (two proxy IPs of one real IP, say): then another
 * port is picked. Replies are rewritten back: source real -> proxy,
 * destination port restored. ICMP errors from the resource side are
 * rewritten too, quote included, so the client sees an error about the
 * packet it sent.
 *
 * Sessions are keyed exactly, both ways, in hash tables (SipHash with a
 * random key, so a client cannot pick colliding ports): outbound by
 * (protocol, client IP, source port, proxy IP, destination port), inbound
 * by (protocol, real IP, destination port, client IP, translated port).
 * A packet of an existing session allocates nothing. A session keeps the
 * real IP it started with when the gateway re-resolves the domain.
 *
 * Timeouts (RFC 5382/4787, as Firezone's gateway): TCP 2 h 4 min, UDP and
 * ICMP 2 min after the last packet either way; 60 s after the last
 * outbound packet while nothing ever came back; 5 s after FIN seen both
 * ways; at once after an RST either way. Deadlines sit in an FzTimerHeap;
 * traffic only moves them lazily (a due session whose deadline moved is
 * re-armed), so a packet costs no heap operation unless a FIN or RST
 * brings the deadline forward. Internal to libfz. */
#pragma once

#include "fz-ip-packet.h"
#include "fz-rng.h"

G_BEGIN_DECLS

/* Firezone's gateway keeps no bound; Linux conntrack's default table is
 * 65536 entries. One client may hold an eighth of it, so a flood of
 * source ports from one client cannot starve the others. */
#define FZ_NAT_MAX_SESSIONS            65536
#define FZ_NAT_MAX_SESSIONS_PER_CLIENT 8192

#define FZ_NAT_TCP_TTL         (G_GINT64_CONSTANT (124) * 60 * G_USEC_PER_SEC)
#define FZ_NAT_UDP_TTL         (G_GINT64_CONSTANT (120) * G_USEC_PER_SEC)
#define FZ_NAT_ICMP_TTL        (G_GINT64_CONSTANT (120) * G_USEC_PER_SEC)
#define FZ_NAT_UNCONFIRMED_TTL (G_GINT64_CONSTANT (60) * G_USEC_PER_SEC)
#define FZ_NAT_FIN_TTL         (G_GINT64_CONSTANT (5) * G_USEC_PER_SEC)

/* Where a port must be changed, random ports in [1024, 65535] are tried
 * this many times: with at most 8192 sessions per client, all 32 fail
 * with a probability below 2^-95. */
#define FZ_NAT_PORT_TRIES 32

typedef enum
{
  FZ_NAT_TRANSLATED = 0,
  FZ_NAT_NOT_NAT,         /* outbound: destination is not a proxy IP */
  FZ_NAT_NO_SESSION,      /* no session (inbound; outbound without a real IP) */
  FZ_NAT_TABLE_FULL,      /* FZ_NAT_MAX_SESSIONS (or the table's own bound) */
  FZ_NAT_CLIENT_FULL,     /* the client's bound */
  FZ_NAT_PORTS_EXHAUSTED, /* no free translated port found */
  FZ_NAT_UNSUPPORTED,     /* not TCP, UDP, ICMP echo or a translatable ICMP error */
  FZ_NAT_MALFORMED,       /* ICMP error whose quote is too short or inconsistent */
} FzNatResult;

const char *fz_nat_result_to_string (FzNatResult result);

typedef struct _FzNatTable FzNatTable;

/* @rng is kept (borrowed) for the hash key and port picks; 0 bounds take
 * the defaults above. */
FzNatTable *fz_nat_table_new (FzRng *rng, guint max_sessions, guint max_per_client);
void fz_nat_table_free (FzNatTable *table);

/* A packet from a client to a proxy IP. An existing session is used as is
 * (with its own real IP); otherwise, with @real (the proxy IP's mapping,
 * of the packet's family) a session is made, and without it the result is
 * FZ_NAT_NO_SESSION. The packet is rewritten only when translated. */
FzNatResult fz_nat_table_translate_out (FzNatTable *table, FzIpPacket *pkt,
                                        const FzIpAddr *real, gint64 now);

/* A packet towards a client: a reply of a session, or an ICMP error
 * (unreachable, packet too big, time exceeded) quoting one. */
FzNatResult fz_nat_table_translate_in (FzNatTable *table, FzIpPacket *pkt, gint64 now);

/* The next deadline (G_MAXINT64 if none); may be early, never late. */
gint64 fz_nat_table_poll_timeout (const FzNatTable *table);
/* Removes the sessions due at @now; returns how many. */
guint fz_nat_table_handle_timeout (FzNatTable *table, gint64 now);

/* Removal; each returns the number of sessions removed. */
guint fz_nat_table_remove_client (FzNatTable *table, const FzIpAddr *client);
guint fz_nat_table_remove_proxy (FzNatTable *table, const FzIpAddr *client,
                                 const FzIpAddr *proxy);
/* For a client that renumbered: every session to any of @proxies. */
guint fz_nat_table_remove_proxies (FzNatTable *table, const FzIpAddr *client,
                                   const FzIpAddr *proxies, guint n_proxies);

guint fz_nat_table_size (const FzNatTable *table);
guint fz_nat_table_client_size (const FzNatTable *table, const FzIpAddr *client);

/* TRUE for 100.96.0.0/11 and fd00:2021:1111:8000::/107. */
gboolean fz_nat_is_proxy_ip (const FzIpAddr *addr);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzNatTable, fz_nat_table_free)

G_END_DECLS
