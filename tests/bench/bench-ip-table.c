/* Figures, not a pass/fail test: FzIpTable longest-prefix lookups per
 * second over 10 000 random prefixes, IPv4 and IPv6 apart, with random
 * addresses of which about half fall inside some prefix; and inserts
 * per second building the table.
 *
 *   bench-ip-table [LOOKUPS]
 *
 * Meaningful only from an optimised build without sanitizers
 * (tools/bench); the test suites run it briefly to keep it working. */
#include "fz-private.h"

#include <stdio.h>

#define N_PREFIXES 10000
#define N_ADDRS    4096 /* a power of two */

static FzIpAddr
random_addr (GRand *r, guint8 family)
{
  FzIpAddr a = { .family = family };

  for (guint i = 0; i < fz_ip_addr_len (&a); i++)
    a.bytes[i] = (guint8) g_rand_int (r);
  return a;
}

/* Prefix lengths as routing tables have them: mostly /16../24 (IPv4)
 * or /32../64 (IPv6), some shorter, some hosts. Kept under 2001::/16 or
 * 10.0.0.0/8 half the time so that they nest. */
static FzIpPrefix
random_prefix (GRand *r, guint8 family)
{
  guint max = fz_ip_prefix_max_len (family);
  FzIpAddr a = random_addr (r, family);
  guint len;
  FzIpPrefix p;

  if (g_rand_boolean (r))
    {
      a.bytes[0] = family == 4 ? 10 : 0x20;
      if (family == 6)
        a.bytes[1] = 0x01;
    }
  switch (g_rand_int_range (r, 0, 8))
    {
    case 0: len = (guint) g_rand_int_range (r, 8, (gint) max / 2); break;
    case 1: len = max; break;
    default: len = (guint) g_rand_int_range (r, (gint) max / 2, (gint) max * 3 / 4 + 1);
    }
  fz_ip_prefix_init (&p, &a, len);
  return p;
}

static void
run (guint8 family, guint64 lookups)
{
  g_autoptr (FzIpTable) t = fz_ip_table_new (NULL);
  g_autofree FzIpPrefix *prefixes = g_new (FzIpPrefix, N_PREFIXES);
  g_autofree FzIpAddr *addrs = g_new (FzIpAddr, N_ADDRS);
  GRand *r = g_rand_new_with_seed (family);
  guint64 hits = 0;
  gint64 start;
  double insert_s, lookup_s;

  for (guint i = 0; i < N_PREFIXES; i++)
    prefixes[i] = random_prefix (r, family);
  start = g_get_monotonic_time ();
  for (guint i = 0; i < N_PREFIXES; i++)
    fz_ip_table_insert (t, &prefixes[i], GUINT_TO_POINTER (i + 1));
  insert_s = (double) (g_get_monotonic_time () - start) / 1e6;

  /* Half inside a random prefix (host bits random), half anywhere. */
  for (guint i = 0; i < N_ADDRS; i++)
    {
      addrs[i] = random_addr (r, family);
      if (i % 2 == 0)
        {
          FzIpPrefix *p = &prefixes[g_rand_int_range (r, 0, N_PREFIXES)];
          FzIpPrefix inside;
          fz_ip_prefix_init (&inside, &addrs[i], p->len);
          for (guint b = 0; b < 16; b++)
            addrs[i].bytes[b] ^= inside.addr.bytes[b] ^ p->addr.bytes[b];
        }
    }
  start = g_get_monotonic_time ();
  for (guint64 n = 0; n < lookups; n++)
    hits += fz_ip_table_lookup (t, &addrs[n & (N_ADDRS - 1)], NULL) != NULL;
  lookup_s = (double) (g_get_monotonic_time () - start) / 1e6;

  printf ("%-5s %8u %12.0f %14.0f %10.1f %7.0f%%\n", family == 4 ? "IPv4" : "IPv6",
          fz_ip_table_size (t), N_PREFIXES / MAX (insert_s, 1e-9),
          (double) lookups / MAX (lookup_s, 1e-9), lookup_s * 1e9 / (double) lookups,
          100.0 * (double) hits / (double) lookups);
  g_rand_free (r);
}

int
main (int argc, char **argv)
{
  guint64 lookups = argc > 1 ? g_ascii_strtoull (argv[1], NULL, 10) : 10000000;

  if (lookups == 0)
    {
      fprintf (stderr, "usage: %s [LOOKUPS > 0]\n", argv[0]);
      return 2;
    }
  printf ("libfz %s: IP table benchmark, %u random prefixes, %" G_GUINT64_FORMAT
          " lookups each\n",
          fz_version (), N_PREFIXES, lookups);
  printf ("%-5s %8s %12s %14s %10s %8s\n", "table", "prefixes", "inserts/s", "lookups/s",
          "ns/lookup", "hits");
  run (4, lookups);
  run (6, lookups);
  return 0;
}
