/* Figures, not a pass/fail test: DNS resource lookups per second with
 * 10 000 patterns (exact names and wildcards under 1000 domains), and
 * the stub's whole decision per query (ldns parse included), for names
 * that hit a resource and names that go upstream.
 *
 *   bench-dns [ITERATIONS]
 *
 * Meaningful only from an optimised build without sanitizers
 * (tools/bench); the test suites run it briefly to keep it working. */
#include "fz-private.h"

#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>

#define N_RESOURCES 10000
#define N_NAMES     1024

static double
per_second (gint64 start_us, guint64 n)
{
  gint64 us = MAX (g_get_monotonic_time () - start_us, 1);
  return (double) n * 1e6 / (double) us;
}

/* Resource i: a tenth are `**.dI.example`, a tenth `*.dI.example`, the
 * rest exact `hI.dI.example`, over 1000 domains. */
static FzDnsResourceSet *
make_set (void)
{
  FzDnsResourceSet *set = fz_dns_resource_set_new ();

  for (guint i = 0; i < N_RESOURCES; i++)
    {
      char id[16], pattern[64];
      guint d = i % 1000;

      g_snprintf (id, sizeof id, "r%u", i);
      if (i % 10 == 0)
        g_snprintf (pattern, sizeof pattern, "**.d%u.example", d);
      else if (i % 10 == 1)
        g_snprintf (pattern, sizeof pattern, "*.d%u.example", d);
      else
        g_snprintf (pattern, sizeof pattern, "h%u.d%u.example", i, d);
      if (!fz_dns_resource_set_add (set, id, pattern, NULL))
        abort ();
    }
  return set;
}

static GBytes *
make_query (const char *name)
{
  ldns_pkt *p = NULL;
  guint8 *wire = NULL;
  size_t len = 0;

  if (ldns_pkt_query_new_frm_str (&p, name, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD)
        != LDNS_STATUS_OK
      || ldns_pkt2wire (&wire, p, &len) != LDNS_STATUS_OK)
    abort ();
  ldns_pkt_free (p);
  GBytes *b = g_bytes_new (wire, len);
  free (wire);
  return b;
}

int
main (int argc, char **argv)
{
  guint64 iters = argc > 1 ? g_ascii_strtoull (argv[1], NULL, 10) : 2000000;
  g_autoptr (FzDnsResourceSet) set = make_set ();
  FzDnsName names[N_NAMES];
  GBytes *hit[N_NAMES / 4], *miss[N_NAMES / 4];
  guint64 found = 0;

  if (iters == 0)
    {
      fprintf (stderr, "usage: %s [ITERATIONS > 0]\n", argv[0]);
      return 2;
    }
  /* Half hit an exact name, a quarter a wildcard, a quarter nothing. */
  for (guint i = 0; i < N_NAMES; i++)
    {
      char text[96];
      guint r = (i * 7919u) % N_RESOURCES;

      if (i % 4 < 2)
        g_snprintf (text, sizeof text, "h%u.d%u.example", r, r % 1000);
      else if (i % 4 == 2)
        g_snprintf (text, sizeof text, "www.a.b.d%u.example", r % 1000);
      else
        g_snprintf (text, sizeof text, "www.a.b.host%u.example.org", r);
      if (!fz_dns_name_parse (&names[i], text))
        abort ();
    }
  for (guint i = 0; i < N_NAMES / 4; i++)
    {
      char text[96];
      g_snprintf (text, sizeof text, "h%u.d%u.example", i * 10 + 2, (i * 10 + 2) % 1000);
      hit[i] = make_query (text);
      g_snprintf (text, sizeof text, "www.host%u.example.org", i);
      miss[i] = make_query (text);
    }

  printf ("libfz %s: DNS benchmark, %u resources, %" G_GUINT64_FORMAT " iterations\n",
          fz_version (), N_RESOURCES, iters);

  gint64 t0 = g_get_monotonic_time ();
  for (guint64 k = 0; k < iters; k++)
    found += fz_dns_resource_set_lookup (set, &names[k % N_NAMES]) != NULL;
  printf ("  resource lookup        %12.0f /s  (%" G_GUINT64_FORMAT " found)\n",
          per_second (t0, iters), found);

  GBytes **sets[] = { hit, miss };
  const char *labels[] = { "stub decide, resource", "stub decide, upstream" };
  for (guint s = 0; s < 2; s++)
    {
      guint64 n = MAX (iters / 10, 1);
      FzDnsStubQuery q;

      fz_dns_stub_query_init (&q);
      t0 = g_get_monotonic_time ();
      for (guint64 k = 0; k < n; k++)
        {
          gsize len;
          const guint8 *d = g_bytes_get_data (sets[s][k % (N_NAMES / 4)], &len);
          fz_dns_stub_decide (&q, set, d, len);
        }
      printf ("  %-22s %12.0f /s\n", labels[s], per_second (t0, n));
      fz_dns_stub_query_clear (&q);
    }

  for (guint i = 0; i < N_NAMES / 4; i++)
    {
      g_bytes_unref (hit[i]);
      g_bytes_unref (miss[i]);
    }
  return 0;
}
