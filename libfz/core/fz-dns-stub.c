#include "fz-dns-stub-private.h"
#include "fz-ip-prefix-private.h"

#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_LEN           12
#define DOH_CANARY           "use-application-dns.net"
#define MAX_ADDRS_PER_FAMILY 8 /* keeps the answer under 512 bytes */

void
fz_dns_stub_query_init (FzDnsStubQuery *q)
{
  memset (q, 0, sizeof *q);
}

void
fz_dns_stub_query_clear (FzDnsStubQuery *q)
{
  if (q->pkt != NULL)
    ldns_pkt_free (q->pkt);
  free (q->answer);
  fz_dns_stub_query_init (q);
}

/* ---- building answers ---- */

static ldns_rr *
question_of (const ldns_pkt *pkt)
{
  return ldns_rr_list_rr (ldns_pkt_question (pkt), 0);
}

/* A response to `query` (which parsed) with `rcode`, its question copied
 * when it has exactly one. */
static ldns_pkt *
response_new (const ldns_pkt *query, guint8 rcode)
{
  ldns_pkt *r = ldns_pkt_new ();

  if (r == NULL)
    return NULL;
  ldns_pkt_set_id (r, ldns_pkt_id (query));
  ldns_pkt_set_qr (r, true);
  ldns_pkt_set_opcode (r, ldns_pkt_get_opcode (query));
  ldns_pkt_set_rd (r, ldns_pkt_rd (query));
  ldns_pkt_set_cd (r, ldns_pkt_cd (query));
  ldns_pkt_set_ra (r, true);
  ldns_pkt_set_rcode (r, rcode);
  if (ldns_pkt_qdcount (query) == 1)
    {
      ldns_rr *qr = ldns_rr_clone (question_of (query));

      if (qr == NULL || !ldns_pkt_push_rr (r, LDNS_SECTION_QUESTION, qr))
        {
          ldns_rr_free (qr);
          ldns_pkt_free (r);
          return NULL;
        }
    }
  return r;
}

/* Serialises `r` into q->answer and frees it. */
static gboolean
finish (FzDnsStubQuery *q, ldns_pkt *r)
{
  size_t len = 0;

  free (q->answer);
  q->answer = NULL;
  q->answer_len = 0;
  if (r == NULL)
    return FALSE;

  ldns_status st = ldns_pkt2wire (&q->answer, r, &len);
  ldns_pkt_free (r);
  if (st != LDNS_STATUS_OK)
    {
      free (q->answer);
      q->answer = NULL;
      return FALSE;
    }
  q->answer_len = len;
  return TRUE;
}

static FzDnsStubAction
answer_with (FzDnsStubQuery *q, guint8 rcode)
{
  q->action
    = finish (q, response_new (q->pkt, rcode)) ? FZ_DNS_STUB_ANSWER : FZ_DNS_STUB_DROP;
  return q->action;
}

/* FORMERR or NOTIMP for a query ldns cannot parse, from its header. */
static FzDnsStubAction
answer_from_header (FzDnsStubQuery *q, const guint8 *payload)
{
  guint8 opcode = (payload[2] >> 3) & 0x0f;
  ldns_pkt *r = ldns_pkt_new ();

  if (r != NULL)
    {
      ldns_pkt_set_id (r, (guint16) (payload[0] << 8 | payload[1]));
      ldns_pkt_set_qr (r, true);
      ldns_pkt_set_opcode (r, opcode);
      ldns_pkt_set_rd (r, (payload[2] & 0x01) != 0);
      ldns_pkt_set_ra (r, true);
      ldns_pkt_set_rcode (r, opcode == LDNS_PACKET_QUERY ? LDNS_RCODE_FORMERR
                                                         : LDNS_RCODE_NOTIMPL);
    }
  q->action = finish (q, r) ? FZ_DNS_STUB_ANSWER : FZ_DNS_STUB_DROP;
  return q->action;
}

static ldns_rr *
record_new (const ldns_rr *question, ldns_rr_type type, ldns_rdf *rdata)
{
  ldns_rr *rr = ldns_rr_new ();
  ldns_rdf *owner = ldns_rdf_clone (ldns_rr_owner (question));

  if (rr == NULL || owner == NULL || rdata == NULL)
    {
      ldns_rr_free (rr);
      ldns_rdf_deep_free (owner);
      ldns_rdf_deep_free (rdata);
      return NULL;
    }
  ldns_rr_set_owner (rr, owner);
  ldns_rr_set_type (rr, type);
  ldns_rr_set_class (rr, LDNS_RR_CLASS_IN);
  ldns_rr_set_ttl (rr, FZ_DNS_STUB_TTL);
  ldns_rr_push_rdf (rr, rdata);
  return rr;
}

static gboolean
push_answer (ldns_pkt *r, ldns_rr *rr)
{
  if (rr != NULL && ldns_pkt_push_rr (r, LDNS_SECTION_ANSWER, rr))
    return TRUE;
  ldns_rr_free (rr);
  return FALSE;
}

static gboolean
family_allowed (FzIpStack stack, guint8 family)
{
  return family == 4 ? stack != FZ_IP_STACK_IPV6_ONLY : stack != FZ_IP_STACK_IPV4_ONLY;
}

gboolean
fz_dns_stub_answer_addresses (FzDnsStubQuery *q, FzIpStack ip_stack,
                              const FzIpAddr *proxy_ips, guint n_proxy_ips)
{
  g_return_val_if_fail (q->action == FZ_DNS_STUB_RESOURCE, FALSE);
  ldns_pkt *r = response_new (q->pkt, LDNS_RCODE_NOERROR);
  ldns_rr_type type = q->family == 4 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA;
  ldns_rdf_type rdf = q->family == 4 ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA;
  guint n = 0;

  for (guint i = 0; r != NULL && family_allowed (ip_stack, q->family) && i < n_proxy_ips;
       i++)
    {
      if (proxy_ips[i].family != q->family || n == MAX_ADDRS_PER_FAMILY)
        continue;
      ldns_rdf *data
        = ldns_rdf_new_frm_data (rdf, fz_ip_addr_len (&proxy_ips[i]), proxy_ips[i].bytes);
      if (!push_answer (r, record_new (question_of (q->pkt), type, data)))
        {
          ldns_pkt_free (r);
          r = NULL;
        }
      n++;
    }
  return finish (q, r);
}

gboolean
fz_dns_stub_answer_ptr (FzDnsStubQuery *q, const char *name)
{
  g_return_val_if_fail (q->action == FZ_DNS_STUB_PTR, FALSE);
  FzDnsName check;

  /* Only host names, bounded, as the proxy names are. */
  if (!fz_dns_name_parse (&check, name) || check.n_labels == 0)
    return FALSE;

  ldns_rdf *target = ldns_dname_new_frm_str (check.text);
  ldns_pkt *r = response_new (q->pkt, LDNS_RCODE_NOERROR);

  if (r == NULL)
    {
      ldns_rdf_deep_free (target);
      return FALSE;
    }
  if (!push_answer (r, record_new (question_of (q->pkt), LDNS_RR_TYPE_PTR, target)))
    {
      ldns_pkt_free (r);
      return FALSE;
    }
  return finish (q, r);
}

/* ---- reverse names ---- */

gboolean
fz_dns_is_sentinel_ip (const FzIpAddr *addr)
{
  static const guint8 v6_prefix[15] = { 0xfd, 0x00, 0x20, 0x21, 0x11, 0x11, 0x80,
                                        0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x11 };

  if (addr->family == 4)
    return addr->bytes[0] == 100 && addr->bytes[1] == 100 && addr->bytes[2] == 111;
  if (addr->family == 6)
    return memcmp (addr->bytes, v6_prefix, sizeof v6_prefix) == 0;
  return FALSE;
}

gboolean
fz_dns_is_proxy_ip (const FzIpAddr *addr)
{
  return fz_ip_in_proxy_range (addr) && !fz_dns_is_sentinel_ip (addr);
}

static const char *
label_of (const FzDnsName *name, guint i, gsize *len)
{
  gsize end = i + 1 < name->n_labels ? name->label_start[i + 1] - 1u : name->len;

  *len = end - name->label_start[i];
  return name->text + name->label_start[i];
}

/* A decimal octet without leading zeros. */
static gboolean
parse_octet (const char *s, gsize len, guint8 *out)
{
  guint v = 0;

  if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      if (!g_ascii_isdigit (s[i]))
        return FALSE;
      v = v * 10 + (guint) (s[i] - '0');
    }
  if (v > 255)
    return FALSE;
  *out = (guint8) v;
  return TRUE;
}

static gboolean
parse_reverse_v4 (const FzDnsName *name, FzIpAddr *addr)
{
  guint8 bytes[4];
  gsize len;

  for (guint i = 0; i < 4; i++)
    {
      const char *l = label_of (name, i, &len);
      if (!parse_octet (l, len, &bytes[3 - i]))
        return FALSE;
    }
  fz_ip_addr_set_v4 (addr, bytes);
  return TRUE;
}

static gboolean
parse_reverse_v6 (const FzDnsName *name, FzIpAddr *addr)
{
  guint8 bytes[16] = { 0 };
  gsize len;

  for (guint i = 0; i < 32; i++)
    {
      const char *l = label_of (name, i, &len);
      if (len != 1 || !g_ascii_isxdigit (l[0]))
        return FALSE;
      /* The first label is the lowest nibble. */
      guint nibble = 31 - i;
      bytes[nibble / 2] |= (guint8) (g_ascii_xdigit_value (l[0]) << (nibble % 2 ? 0 : 4));
    }
  fz_ip_addr_set_v6 (addr, bytes);
  return TRUE;
}

static gboolean
parse_reverse (const FzDnsName *name, FzIpAddr *addr)
{
  if (name->n_labels == 6 && g_str_has_suffix (name->text, ".in-addr.arpa"))
    return parse_reverse_v4 (name, addr);
  if (name->n_labels == 34 && g_str_has_suffix (name->text, ".ip6.arpa"))
    return parse_reverse_v6 (name, addr);
  return FALSE;
}

/* ---- deciding ---- */

/* The header checks that need no ldns: FALSE means drop. */
static gboolean
header_acceptable (const guint8 *payload, gsize len)
{
  return payload != NULL && len >= HEADER_LEN && len <= FZ_DNS_MESSAGE_MAX
         && (payload[2] & 0x80) == 0; /* QR: never answer an answer */
}

static FzDnsStubAction
decide_question (FzDnsStubQuery *q, const FzDnsResourceSet *resources)
{
  const ldns_rr *question = question_of (q->pkt);
  const ldns_rdf *owner = ldns_rr_owner (question);

  q->qtype = ldns_rr_get_type (question);
  if (ldns_rr_get_class (question) != LDNS_RR_CLASS_IN
      || !fz_dns_name_parse_wire (&q->name, ldns_rdf_data (owner), ldns_rdf_size (owner)))
    return q->action = FZ_DNS_STUB_UPSTREAM;

  if (strcmp (q->name.text, DOH_CANARY) == 0)
    return answer_with (q, LDNS_RCODE_NXDOMAIN);
  if (q->qtype == LDNS_RR_TYPE_HTTPS)
    return answer_with (q, LDNS_RCODE_NOERROR);

  switch (q->qtype)
    {
    case LDNS_RR_TYPE_A:
    case LDNS_RR_TYPE_AAAA:
      q->resource_id = fz_dns_resource_set_lookup (resources, &q->name);
      q->family = q->qtype == LDNS_RR_TYPE_A ? 4 : 6;
      return q->action
             = q->resource_id != NULL ? FZ_DNS_STUB_RESOURCE : FZ_DNS_STUB_UPSTREAM;
    case LDNS_RR_TYPE_SRV:
    case LDNS_RR_TYPE_TXT:
      q->resource_id = fz_dns_resource_set_lookup (resources, &q->name);
      return q->action
             = q->resource_id != NULL ? FZ_DNS_STUB_GATEWAY : FZ_DNS_STUB_UPSTREAM;
    case LDNS_RR_TYPE_PTR:
      if (parse_reverse (&q->name, &q->ptr_addr) && fz_dns_is_proxy_ip (&q->ptr_addr))
        return q->action = FZ_DNS_STUB_PTR;
      return q->action = FZ_DNS_STUB_UPSTREAM;
    default: return q->action = FZ_DNS_STUB_UPSTREAM;
    }
}

FzDnsStubAction
fz_dns_stub_decide (FzDnsStubQuery *q, const FzDnsResourceSet *resources,
                    const guint8 *payload, gsize len)
{
  fz_dns_stub_query_clear (q);
  if (!header_acceptable (payload, len))
    return q->action = FZ_DNS_STUB_DROP;
  if (!fz_dns_wire2pkt (&q->pkt, payload, len))
    {
      q->pkt = NULL;
      return answer_from_header (q, payload);
    }
  if (ldns_pkt_get_opcode (q->pkt) != LDNS_PACKET_QUERY)
    return answer_with (q, LDNS_RCODE_NOTIMPL);
  if (ldns_pkt_qdcount (q->pkt) != 1)
    return answer_with (q, LDNS_RCODE_FORMERR);
  return decide_question (q, resources);
}

/* ---- answers from upstream ---- */

static gboolean
questions_equal (const ldns_pkt *query, const ldns_pkt *ans)
{
  const ldns_rr *a = question_of (query), *b = question_of (ans);

  return ldns_rr_get_type (a) == ldns_rr_get_type (b)
         && ldns_rr_get_class (a) == ldns_rr_get_class (b)
         && ldns_dname_compare (ldns_rr_owner (a), ldns_rr_owner (b)) == 0;
}

static gboolean
packets_match (const ldns_pkt *query, const ldns_pkt *ans)
{
  if (!ldns_pkt_qr (ans) || ldns_pkt_qr (query)
      || ldns_pkt_id (ans) != ldns_pkt_id (query)
      || ldns_pkt_get_opcode (ans) != ldns_pkt_get_opcode (query)
      || ldns_pkt_qdcount (query) != 1)
    return FALSE;
  if (ldns_pkt_qdcount (ans) == 0)
    return ldns_pkt_get_rcode (ans) == LDNS_RCODE_FORMERR;
  return ldns_pkt_qdcount (ans) == 1 && questions_equal (query, ans);
}

static guint
tsig_records (const guint8 *wire, gsize len)
{
  guint total = (guint) LDNS_QDCOUNT (wire) + LDNS_ANCOUNT (wire) + LDNS_NSCOUNT (wire)
                + LDNS_ARCOUNT (wire);
  size_t pos = HEADER_LEN;
  guint n = 0;
  for (guint i = 0; i < total; i++)
    {
      ldns_rr *rr = NULL;
      ldns_pkt_section s
        = i < LDNS_QDCOUNT (wire) ? LDNS_SECTION_QUESTION : LDNS_SECTION_ADDITIONAL;
      /* Each record takes bytes: a bad one ends the walk quickly, and
       * ldns_wire2pkt then reports it. */
      if (ldns_wire2rr (&rr, wire, len, &pos, s) != LDNS_STATUS_OK)
        return n;
      n += ldns_rr_get_type (rr) == LDNS_RR_TYPE_TSIG;
      ldns_rr_free (rr);
    }
  return n;
}

gboolean
fz_dns_wire2pkt (void *pkt, const guint8 *wire, gsize len)
{
  /* Two TSIGs need two additional records; most messages have fewer,
   * and skip the walk. */
  if (len < HEADER_LEN || len > FZ_DNS_MESSAGE_MAX
      || (LDNS_ARCOUNT (wire) >= 2 && tsig_records (wire, len) > 1))
    return FALSE;
  return ldns_wire2pkt ((ldns_pkt **) pkt, wire, len) == LDNS_STATUS_OK;
}

/* Both parsed (the caller frees what is not NULL) and matching. */
static gboolean
parse_matching (const guint8 *query, gsize query_len, const guint8 *answer,
                gsize answer_len, ldns_pkt **q, ldns_pkt **a)
{
  return query_len <= FZ_DNS_MESSAGE_MAX && answer_len <= FZ_DNS_MESSAGE_MAX
         && query_len >= HEADER_LEN && answer_len >= HEADER_LEN
         && fz_dns_wire2pkt (q, query, query_len)
         && fz_dns_wire2pkt (a, answer, answer_len) && packets_match (*q, *a);
}

gboolean
fz_dns_answer_matches_query (const guint8 *query, gsize query_len, const guint8 *answer,
                             gsize answer_len)
{
  return fz_dns_answer_accept (query, query_len, answer, answer_len, NULL, NULL);
}

/* The header and question of `ans`, TC set, no records. */
static ldns_pkt *
truncated_new (const ldns_pkt *ans)
{
  ldns_pkt *r = response_new (ans, ldns_pkt_get_rcode (ans));

  if (r == NULL)
    return NULL;
  ldns_pkt_set_qr (r, ldns_pkt_qr (ans));
  ldns_pkt_set_aa (r, ldns_pkt_aa (ans));
  ldns_pkt_set_ra (r, ldns_pkt_ra (ans));
  ldns_pkt_set_ad (r, ldns_pkt_ad (ans));
  ldns_pkt_set_tc (r, true);
  return r;
}

gsize
fz_dns_answer_cap_udp (guint8 *answer, gsize len)
{
  ldns_pkt *a = NULL, *r = NULL;
  guint8 *wire = NULL;
  size_t wire_len = 0;
  gsize out = 0;

  if (len <= FZ_DNS_UDP_ANSWER_MAX)
    return len;
  if (len <= FZ_DNS_MESSAGE_MAX && fz_dns_wire2pkt (&a, answer, len)
      && ldns_pkt_qdcount (a) <= 1 && (r = truncated_new (a)) != NULL
      && ldns_pkt2wire (&wire, r, &wire_len) == LDNS_STATUS_OK
      && wire_len <= FZ_DNS_UDP_ANSWER_MAX)
    {
      memcpy (answer, wire, wire_len);
      out = wire_len;
    }
  free (wire);
  if (r != NULL)
    ldns_pkt_free (r);
  if (a != NULL)
    ldns_pkt_free (a);
  return out;
}

static gboolean
internal_address (const ldns_rr *rr)
{
  const ldns_rdf *rd = ldns_rr_rdf (rr, 0);
  FzIpAddr a = { 0 };

  if (rd == NULL)
    return FALSE;
  if (ldns_rr_get_type (rr) == LDNS_RR_TYPE_A && ldns_rdf_size (rd) == 4)
    fz_ip_addr_set_v4 (&a, ldns_rdf_data (rd));
  else if (ldns_rr_get_type (rr) == LDNS_RR_TYPE_AAAA && ldns_rdf_size (rd) == 16)
    fz_ip_addr_set_v6 (&a, ldns_rdf_data (rd));
  else
    return FALSE;
  return fz_ip_in_tunnel_range (&a) || fz_ip_in_proxy_range (&a);
}

/* Removes the internal A/AAAA records of @list; TRUE if any went. */
static gboolean
strip_internal (ldns_rr_list *list)
{
  ldns_rr_list *keep = ldns_rr_list_new ();
  gboolean removed = FALSE;

  for (size_t i = 0; i < ldns_rr_list_rr_count (list); i++)
    {
      ldns_rr *rr = ldns_rr_list_rr (list, i);
      if (internal_address (rr))
        {
          ldns_rr_free (rr);
          removed = TRUE;
        }
      else
        ldns_rr_list_push_rr (keep, rr);
    }
  ldns_rr_list_set_rr_count (list, 0);
  ldns_rr_list_cat (list, keep);
  ldns_rr_list_free (keep);
  return removed;
}

/* @a without its internal A/AAAA records, as a new message, or NULL
 * when it has none. */
static guint8 *
strip_to_wire (ldns_pkt *a, gsize *out_len)
{
  guint8 *wire = NULL, *out = NULL;
  size_t wire_len = 0;

  gboolean an = strip_internal (ldns_pkt_answer (a));
  gboolean ar = strip_internal (ldns_pkt_additional (a));
  /* The header's counts are ldns's own fields, not the lists'. */
  ldns_pkt_set_ancount (a, ldns_rr_list_rr_count (ldns_pkt_answer (a)));
  ldns_pkt_set_arcount (a, ldns_rr_list_rr_count (ldns_pkt_additional (a)));
  if ((an || ar) && ldns_pkt2wire (&wire, a, &wire_len) == LDNS_STATUS_OK)
    {
      out = g_memdup2 (wire, wire_len);
      *out_len = wire_len;
    }
  free (wire);
  return out;
}

guint8 *
fz_dns_answer_without_internal (const guint8 *answer, gsize len, gsize *out_len)
{
  ldns_pkt *a = NULL;

  if (len > FZ_DNS_MESSAGE_MAX || !fz_dns_wire2pkt (&a, answer, len))
    return NULL;
  guint8 *out = strip_to_wire (a, out_len);
  ldns_pkt_free (a);
  return out;
}

gboolean
fz_dns_answer_accept (const guint8 *query, gsize query_len, const guint8 *answer,
                      gsize answer_len, guint8 **cleaned, gsize *cleaned_len)
{
  ldns_pkt *q = NULL, *a = NULL;
  gboolean ok = parse_matching (query, query_len, answer, answer_len, &q, &a);

  if (cleaned != NULL)
    *cleaned = ok ? strip_to_wire (a, cleaned_len) : NULL;
  if (q != NULL)
    ldns_pkt_free (q);
  if (a != NULL)
    ldns_pkt_free (a);
  return ok;
}

guint8 *
fz_dns_error_answer (const guint8 *query, gsize len, guint rcode, gsize *out_len)
{
  ldns_pkt *pkt = NULL;
  guint8 *wire = NULL, *out = NULL;
  size_t wlen = 0;

  if (len > FZ_DNS_MESSAGE_MAX || !fz_dns_wire2pkt (&pkt, query, len))
    return NULL;
  ldns_pkt_set_qr (pkt, true);
  ldns_pkt_set_ra (pkt, true);
  ldns_pkt_set_rcode (pkt, (guint8) rcode);
  ldns_rr_list_deep_free (ldns_pkt_answer (pkt));
  ldns_rr_list_deep_free (ldns_pkt_authority (pkt));
  ldns_rr_list_deep_free (ldns_pkt_additional (pkt));
  ldns_pkt_set_answer (pkt, ldns_rr_list_new ());
  ldns_pkt_set_authority (pkt, ldns_rr_list_new ());
  ldns_pkt_set_additional (pkt, ldns_rr_list_new ());
  ldns_pkt_set_ancount (pkt, 0);
  ldns_pkt_set_nscount (pkt, 0);
  ldns_pkt_set_arcount (pkt, 0);
  ldns_pkt_set_edns_udp_size (pkt, 0);
  if (ldns_pkt2wire (&wire, pkt, &wlen) == LDNS_STATUS_OK)
    {
      out = g_memdup2 (wire, wlen);
      *out_len = wlen;
    }
  free (wire);
  ldns_pkt_free (pkt);
  return out;
}

gboolean
fz_dns_answer_is_truncated (const guint8 *answer, gsize len)
{
  return len >= HEADER_LEN && (answer[2] & 0x02) != 0;
}
