/* Any bytes as a query to the client's DNS stub, and as an answer from
 * upstream: no crash or leak, every answer the stub builds parses back
 * as an answer to that query and fits a plain 512-byte UDP answer, and
 * capping leaves at most 1212 bytes with TC set when it cut. */
#include "fz-private.h"

#include <ldns/ldns.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static FzDnsResourceSet *
resources (void)
{
  static FzDnsResourceSet *set;

  if (set == NULL)
    {
      static const char *patterns[]
        = { "**.corp.example", "git.corp.example", "*.one.example", "a?c.*.x", "**" };
      set = fz_dns_resource_set_new ();
      for (guint i = 0; i < G_N_ELEMENTS (patterns); i++)
        {
          char id[8];
          g_snprintf (id, sizeof id, "r%u", i);
          if (!fz_dns_resource_set_add (set, id, patterns[i], NULL))
            abort ();
        }
    }
  return set;
}

/* The answer the stub built: an answer, same id, small. */
static void
check_answer (const FzDnsStubQuery *q, const uint8_t *data)
{
  ldns_pkt *a = NULL;

  if (q->answer == NULL || q->answer_len > 512)
    abort ();
  if (ldns_wire2pkt (&a, q->answer, q->answer_len) != LDNS_STATUS_OK)
    abort ();
  if (!ldns_pkt_qr (a) || ldns_pkt_id (a) != (data[0] << 8 | data[1]))
    abort ();
  ldns_pkt_free (a);
}

static void
as_query (const uint8_t *data, size_t size)
{
  FzDnsStubQuery q;
  FzIpAddr ips[8];

  for (guint i = 0; i < 4; i++)
    {
      const guint8 v4[4] = { 100, 96, 0, (guint8) (i + 1) };
      const guint8 v6[16]
        = { 0xfd, 0, 0x20, 0x21, 0x11, 0x11, 0x80, [15] = (guint8) (i + 1) };
      fz_ip_addr_set_v4 (&ips[i], v4);
      fz_ip_addr_set_v6 (&ips[4 + i], v6);
    }

  fz_dns_stub_query_init (&q);
  switch (fz_dns_stub_decide (&q, resources (), data, size))
    {
    case FZ_DNS_STUB_ANSWER: check_answer (&q, data); break;
    case FZ_DNS_STUB_RESOURCE:
      if (q.resource_id == NULL || (q.family != 4 && q.family != 6))
        abort ();
      if (!fz_dns_stub_answer_addresses (&q, size % 3, ips, 8))
        abort ();
      check_answer (&q, data);
      if (!fz_dns_answer_matches_query (data, size, q.answer, q.answer_len))
        abort ();
      break;
    case FZ_DNS_STUB_PTR:
      if (!fz_dns_is_proxy_ip (&q.ptr_addr)
          || !fz_dns_stub_answer_ptr (&q, "git.corp.example"))
        abort ();
      check_answer (&q, data);
      if (!fz_dns_answer_matches_query (data, size, q.answer, q.answer_len))
        abort ();
      break;
    case FZ_DNS_STUB_GATEWAY:
      if (q.resource_id == NULL)
        abort ();
      break;
    case FZ_DNS_STUB_UPSTREAM:
    case FZ_DNS_STUB_DROP:
      if (q.answer != NULL)
        abort ();
      break;
    }
  fz_dns_stub_query_clear (&q);
}

static void
as_answer (const uint8_t *data, size_t size)
{
  static const guint8 query[]
    = { 0x12, 0x34, 0x01, 0x00, 0,   1, 0,   0,   0,   0, 0, 0, 7, 'e', 'x',
        'a',  'm',  'p',  'l',  'e', 3, 'o', 'r', 'g', 0, 0, 1, 0, 1 };
  fz_dns_answer_matches_query (query, sizeof query, data, size);
  fz_dns_answer_matches_query (data, size, data, size);
  fz_dns_answer_is_truncated (data, size);

  guint8 *copy = g_memdup2 (data, size);
  gsize capped = fz_dns_answer_cap_udp (copy, size);
  if (size <= FZ_DNS_UDP_ANSWER_MAX ? capped != size : capped > FZ_DNS_UDP_ANSWER_MAX)
    abort ();
  if (capped != size && capped != 0 && !fz_dns_answer_is_truncated (copy, capped))
    abort ();
  g_free (copy);

  /* Stripping internal records: once is enough, a second finds none. */
  gsize clean_len = 0, again_len = 0;
  guint8 *clean = fz_dns_answer_without_internal (data, size, &clean_len);
  if (clean != NULL)
    {
      guint8 *again = fz_dns_answer_without_internal (clean, clean_len, &again_len);
      if (again != NULL)
        abort ();
      g_free (clean);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  as_query (data, size);
  as_answer (data, size);
  return 0;
}
