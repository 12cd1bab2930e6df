/* FzDnsStub: what the client's stub resolver on the DNS sentinels does
 * with one query (data-plane spec, "Client policy state"). Sans-IO and
 * without state of its own: the caller owns the resources
 * (FzDnsResourceSet), the proxy IPs and the sockets; the stub parses the
 * query with ldns, decides, and builds the answers it gives itself.
 *
 * Per query, on the caller's stack:
 *
 *   FzDnsStubQuery q;
 *   fz_dns_stub_query_init (&q);
 *   switch (fz_dns_stub_decide (&q, resources, payload, len)) {
 *   case FZ_DNS_STUB_ANSWER:    send q.answer back to the application
 *   case FZ_DNS_STUB_RESOURCE:  fz_dns_stub_answer_addresses (&q, ...), then send
 * q.answer case FZ_DNS_STUB_PTR:       fz_dns_stub_answer_ptr (&q, name) when q.ptr_addr
 * is assigned, else forward upstream case FZ_DNS_STUB_GATEWAY:   send the payload to
 * <gateway tunnel IP>:53535 of the site of q.resource_id case FZ_DNS_STUB_UPSTREAM:  send
 * the payload to an upstream resolver case FZ_DNS_STUB_DROP:      nothing
 *   }
 *   fz_dns_stub_query_clear (&q);
 *
 * Answers that come back from upstream or a gateway go through
 * fz_dns_answer_matches_query, then for UDP fz_dns_answer_cap_udp, and
 * when fz_dns_answer_is_truncated the caller retries upstream over TCP.
 * `payload` is a UDP datagram's payload or one DNS-over-TCP message
 * without its 2-byte length prefix. Only ldns allocates on the way. */
#pragma once

#include <glib.h>

#include "fz-dns-pattern-private.h"
#include "fz-dns-resource-set-private.h"
#include "fz-ip-addr.h"
#include "fz-portal-types.h"

G_BEGIN_DECLS

#define FZ_DNS_MESSAGE_MAX    65535
#define FZ_DNS_UDP_ANSWER_MAX 1212  /* answers to the application over UDP */
#define FZ_DNS_STUB_TTL       1     /* seconds, for the answers the stub builds */
#define FZ_DNS_GATEWAY_PORT   53535 /* a gateway's DNS server for SRV/TXT */

typedef enum
{
  FZ_DNS_STUB_DROP,     /* not a query, or too broken to answer */
  FZ_DNS_STUB_ANSWER,   /* answered: q.answer (FORMERR, NOTIMP, HTTPS, DoH canary) */
  FZ_DNS_STUB_RESOURCE, /* A/AAAA for a resource: q.resource_id, q.name, q.family */
  FZ_DNS_STUB_PTR,      /* PTR of an address in the proxy ranges: q.ptr_addr */
  FZ_DNS_STUB_GATEWAY,  /* SRV/TXT for a resource: q.resource_id */
  FZ_DNS_STUB_UPSTREAM, /* anything else: forward the payload as it is */
} FzDnsStubAction;

typedef struct
{
  FzDnsStubAction action;
  guint16 qtype;
  /* RESOURCE, GATEWAY: borrowed from the set, valid until it changes. */
  const char *resource_id;
  /* The question's name, lowercased (no labels when it is no host name). */
  FzDnsName name;
  guint8 family;     /* RESOURCE: 4 for A, 6 for AAAA */
  FzIpAddr ptr_addr; /* PTR */
  /* ANSWER, and after fz_dns_stub_answer_*: the answer's bytes
   * (malloc'd by ldns, freed by fz_dns_stub_query_clear). */
  guint8 *answer;
  gsize answer_len;
  /*< private >*/
  struct ldns_struct_pkt *pkt;
} FzDnsStubQuery;

void fz_dns_stub_query_init (FzDnsStubQuery *q);
void fz_dns_stub_query_clear (FzDnsStubQuery *q);

/* Parses `payload` strictly and decides (see FzDnsStubAction): at most
 * 65535 bytes, QR clear, opcode QUERY (else NOTIMP), exactly one
 * question (else FORMERR); class IN, else upstream. Then in this order:
 * `use-application-dns.net` → NXDOMAIN; HTTPS (type 65) → NOERROR with
 * no records; A/AAAA of a resource name → RESOURCE; SRV/TXT of one →
 * GATEWAY; PTR under in-addr.arpa/ip6.arpa of a proxy-range address →
 * PTR; the rest → UPSTREAM. */
FzDnsStubAction fz_dns_stub_decide (FzDnsStubQuery *q, const FzDnsResourceSet *resources,
                                    const guint8 *payload, gsize len);

/* For RESOURCE: answers NOERROR, TTL 1 s, with those of `proxy_ips` that
 * have the question's family (at most 8), none when `ip_stack` excludes
 * that family (e.g. AAAA of an ipv4_only resource). Owner names are the
 * question's name as asked (0x20 case kept). FALSE if ldns fails. */
gboolean fz_dns_stub_answer_addresses (FzDnsStubQuery *q, FzIpStack ip_stack,
                                       const FzIpAddr *proxy_ips, guint n_proxy_ips);
/* For PTR: answers NOERROR, TTL 1 s, with one PTR record naming `name`
 * (dotted text). FALSE when `name` is no valid name or ldns fails. */
gboolean fz_dns_stub_answer_ptr (FzDnsStubQuery *q, const char *name);

/* Whether `addr` is in the DNS-resource proxy ranges, 100.96.0.0/11 or
 * fd00:2021:1111:8000::/107, outside the sentinels' 100.100.111.0/24 (which
 * lies inside the IPv4 range: proxy IPs must skip it, as Firezone's do). */
gboolean fz_dns_is_proxy_ip (const FzIpAddr *addr);
/* Whether `addr` is a DNS sentinel: 100.100.111.0/24 or
 * fd00:2021:1111:8000:100:100:111:0/120. */
gboolean fz_dns_is_sentinel_ip (const FzIpAddr *addr);

/* Whether `answer` answers `query` as it was sent: both parse, QR set,
 * same id and opcode, and the same question (name compared without
 * case). An answer with no question is accepted only with FORMERR. */
gboolean fz_dns_answer_matches_query (const guint8 *query, gsize query_len,
                                      const guint8 *answer, gsize answer_len);
/* Caps an answer for the application's UDP socket at 1212 bytes: a
 * longer one is rewritten in place as its header and question with TC
 * set and no records, so the application retries over TCP. Returns the
 * new length; 0 when it was too long and did not parse (drop it). */
gsize fz_dns_answer_cap_udp (guint8 *answer, gsize len);
/* An upstream answer with every A/AAAA record that points into the
 * tunnel's own ranges (proxy IPs, sentinels, tunnel addresses) removed:
 * a public name must not resolve to what stands for a resource here (DNS
 * rebinding). A new message (g_free) and its length, or NULL when there
 * is nothing to remove (or it does not parse): then use it as it is. */
guint8 *fz_dns_answer_without_internal (const guint8 *answer, gsize len, gsize *out_len);
/* Both of the above with one parse of each message: FALSE when @answer
 * does not answer @query; else TRUE, with *@cleaned as
 * fz_dns_answer_without_internal gives it (NULL: use @answer as it is);
 * @cleaned may be NULL, for the match alone. */
gboolean fz_dns_answer_accept (const guint8 *query, gsize query_len, const guint8 *answer,
                               gsize answer_len, guint8 **cleaned, gsize *cleaned_len);
/* An answer to @query with @rcode (an LDNS_RCODE_*, e.g. SERVFAIL,
 * REFUSED, NXDOMAIN) and no records: its header and question only. A new
 * message (g_free) and its length, or NULL when @query does not parse. */
guint8 *fz_dns_error_answer (const guint8 *query, gsize len, guint rcode, gsize *out_len);
/* The TC bit: the caller asked over UDP and must ask again over TCP. */
gboolean fz_dns_answer_is_truncated (const guint8 *answer, gsize len);

/* ldns_wire2pkt (@pkt: an ldns_pkt **), refusing a message with more
 * than one TSIG record: ldns 1.8 keeps the last and leaks the others,
 * so a peer could grow our memory at will. Returns TRUE when parsed. */
gboolean fz_dns_wire2pkt (void *pkt, const guint8 *wire, gsize len);

G_END_DECLS
