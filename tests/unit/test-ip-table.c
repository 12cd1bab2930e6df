/* FzIpTable and FzIpPrefix: known cases, then random operations checked
 * against a plain linear table. */
#include "fz-private.h"

#include <string.h>

static FzIpPrefix
P (const char *text)
{
  FzIpPrefix p;

  g_assert_true (fz_ip_prefix_parse (&p, text));
  return p;
}

static FzIpAddr
A (const char *text)
{
  FzIpAddr a;

  g_assert_true (fz_ip_addr_parse (&a, text));
  return a;
}

/* The prefix that matched @addr as text, or "-" for none. */
static const char *
match (FzIpTable *t, const char *addr, char buf[FZ_IP_PREFIX_STRLEN])
{
  FzIpAddr a = A (addr);
  FzIpPrefix m;

  if (fz_ip_table_lookup (t, &a, &m) == NULL)
    return "-";
  return fz_ip_prefix_to_string (&m, buf);
}

static void
test_prefix_parse (void)
{
  static const char *good[][2] = {
    { "10.0.0.0/8", "10.0.0.0/8" },
    { "10.1.2.3/8", "10.0.0.0/8" }, /* host bits cleared */
    { "0.0.0.0/0", "0.0.0.0/0" },
    { "1.2.3.4", "1.2.3.4/32" },
    { "255.255.255.255/31", "255.255.255.254/31" },
    { "fd00::/107", "fd00::/107" },
    { "fd00:2021:1111:8000::ffff/107", "fd00:2021:1111:8000::/107" },
    { "::/0", "::/0" },
    { "::1", "::1/128" },
    { "FD00::1/128", "fd00::1/128" },
    { "2001:db8::/33", "2001:db8::/33" },
  };
  static const char *bad[] = {
    "",
    "/8",
    "10.0.0.0/",
    "10.0.0.0/33",
    "fd00::/129",
    "10.0.0.0/08",
    "10.0.0.0/-1",
    "10.0.0.0/+8",
    "10.0.0.0/ 8",
    "10.0.0.0/8 ",
    " 10.0.0.0/8",
    "10.0.0.0/8/8",
    "10.0.0/8",
    "10.0.0.0/8x",
    "example/8",
    "fd00::%1/64",
    "10.0.0.0/1000",
    "10.0.0.0//8",
    "10.0.0.0/0x8",
    "::ffff:1.2.3.4/129",
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      char s[FZ_IP_PREFIX_STRLEN];
      FzIpPrefix p;

      g_assert_true (fz_ip_prefix_parse (&p, good[i][0]));
      g_assert_cmpstr (fz_ip_prefix_to_string (&p, s), ==, good[i][1]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      FzIpPrefix p = { .len = 7 };
      g_assert_false (fz_ip_prefix_parse (&p, bad[i]));
      g_assert_cmpuint (p.len, ==, 7); /* untouched */
    }
  {
    FzIpPrefix p;
    g_assert_false (fz_ip_prefix_parse (&p, NULL));
  }
  {
    FzIpPrefix p = P ("10.0.0.0/8");
    FzIpAddr in = A ("10.255.0.1"), out = A ("11.0.0.0"), v6 = A ("a00::");
    g_assert_true (fz_ip_prefix_contains (&p, &in));
    g_assert_false (fz_ip_prefix_contains (&p, &out));
    g_assert_false (fz_ip_prefix_contains (&p, &v6));
  }
}

/* The spec's ranges, and the group addresses no packet may go to or get
 * ICMP from (one check for the client and the gateway). */
static void
test_ranges (void)
{
  g_assert_false (fz_ip_in_tunnel_range (&(FzIpAddr){ 0 })); /* no family */
  const char *tunnel[] = { "100.64.0.1", "100.95.255.255", "fd00:2021:1111::1" };
  const char *proxy[] = { "100.96.0.1", "100.127.255.254", "fd00:2021:1111:8000::1" };
  const char *neither[] = { "100.63.255.255", "100.128.0.0", "fd00:2021:1112::1" };
  for (guint i = 0; i < 3; i++)
    {
      FzIpAddr t = A (tunnel[i]), p = A (proxy[i]), n = A (neither[i]);
      g_assert_true (fz_ip_in_tunnel_range (&t) && !fz_ip_in_proxy_range (&t));
      g_assert_true (fz_ip_in_proxy_range (&p) && !fz_ip_in_tunnel_range (&p));
      g_assert_false (fz_ip_in_tunnel_range (&n) || fz_ip_in_proxy_range (&n));
    }
  const char *group[]
    = { "224.0.0.251", "239.1.2.3", "255.255.255.255", "0.0.0.0", "ff02::1", "::" };
  const char *host[] = { "223.255.255.255", "240.0.0.1", "1.0.0.0", "::1", "fe80::1" };
  for (guint i = 0; i < G_N_ELEMENTS (group); i++)
    {
      FzIpAddr a = A (group[i]);
      g_assert_true (fz_ip_addr_is_group (&a));
    }
  for (guint i = 0; i < G_N_ELEMENTS (host); i++)
    {
      FzIpAddr a = A (host[i]);
      g_assert_false (fz_ip_addr_is_group (&a));
    }
}

static void
test_default_and_hosts (void)
{
  g_autoptr (FzIpTable) t = fz_ip_table_new (NULL);
  char b[FZ_IP_PREFIX_STRLEN];
  FzIpPrefix p;

  g_assert_cmpstr (match (t, "1.2.3.4", b), ==, "-");
  p = P ("0.0.0.0/0");
  g_assert_true (fz_ip_table_insert (t, &p, "v4 default"));
  g_assert_cmpstr (match (t, "1.2.3.4", b), ==, "0.0.0.0/0");
  g_assert_cmpstr (match (t, "255.255.255.255", b), ==, "0.0.0.0/0");
  g_assert_cmpstr (match (t, "::1", b), ==, "-");
  p = P ("192.0.2.7");
  g_assert_true (fz_ip_table_insert (t, &p, "host"));
  g_assert_cmpstr (match (t, "192.0.2.7", b), ==, "192.0.2.7/32");
  g_assert_cmpstr (match (t, "192.0.2.6", b), ==, "0.0.0.0/0");
  g_assert_cmpstr (match (t, "192.0.2.8", b), ==, "0.0.0.0/0");
  p = P ("2001:db8::1");
  g_assert_true (fz_ip_table_insert (t, &p, "host6"));
  g_assert_cmpstr (match (t, "2001:db8::1", b), ==, "2001:db8::1/128");
  g_assert_cmpstr (match (t, "2001:db8::", b), ==, "-");
  g_assert_cmpstr (match (t, "2001:db8::3", b), ==, "-");
  p = P ("::/0");
  g_assert_true (fz_ip_table_insert (t, &p, "v6 default"));
  g_assert_cmpstr (match (t, "2001:db8::3", b), ==, "::/0");
  g_assert_cmpstr (fz_ip_table_lookup (t, &(FzIpAddr){ .family = 6 }, NULL), ==,
                   "v6 default");
  g_assert_cmpuint (fz_ip_table_size (t), ==, 4);
}

static void
test_overlapping (void)
{
  static const char *prefixes[]
    = { "10.1.2.0/24", "10.0.0.0/8", "10.1.2.3/32", "10.1.0.0/16", "10.1.2.128/25" };
  static const char *cases[][2] = {
    { "10.1.2.3", "10.1.2.3/32" },     { "10.1.2.4", "10.1.2.0/24" },
    { "10.1.2.200", "10.1.2.128/25" }, { "10.1.3.1", "10.1.0.0/16" },
    { "10.2.0.0", "10.0.0.0/8" },      { "11.0.0.0", "-" },
    { "9.255.255.255", "-" },
  };
  g_autoptr (FzIpTable) t = fz_ip_table_new (NULL);
  char b[FZ_IP_PREFIX_STRLEN];

  for (guint i = 0; i < G_N_ELEMENTS (prefixes); i++)
    {
      FzIpPrefix p = P (prefixes[i]);
      g_assert_true (fz_ip_table_insert (t, &p, (gpointer) prefixes[i]));
    }
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpstr (match (t, cases[i][0], b), ==, cases[i][1]);
  for (guint i = 0; i < G_N_ELEMENTS (prefixes); i++)
    {
      FzIpPrefix p = P (prefixes[i]);
      g_assert_true (fz_ip_table_lookup_exact (t, &p) == prefixes[i]);
    }
  {
    FzIpPrefix p = P ("10.1.0.0/15");
    g_assert_null (fz_ip_table_lookup_exact (t, &p));
    g_assert_false (fz_ip_table_remove (t, &p));
  }
}

/* A prefix whose node sits between others: removing it must keep the
 * longer ones under it and the sibling branches reachable. */
static void
test_remove_middle (void)
{
  g_autoptr (FzIpTable) t = fz_ip_table_new (NULL);
  char b[FZ_IP_PREFIX_STRLEN];
  FzIpPrefix p;

  for (const char *const *s
       = (const char *const[]){ "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.3.0/24",
                                "10.1.2.3/32", NULL };
       *s != NULL; s++)
    {
      p = P (*s);
      fz_ip_table_insert (t, &p, (gpointer) *s);
    }
  p = P ("10.1.0.0/16");
  g_assert_true (fz_ip_table_remove (t, &p));
  g_assert_false (fz_ip_table_remove (t, &p));
  g_assert_cmpuint (fz_ip_table_size (t), ==, 4);
  g_assert_cmpstr (match (t, "10.1.2.3", b), ==, "10.1.2.3/32");
  g_assert_cmpstr (match (t, "10.1.2.9", b), ==, "10.1.2.0/24");
  g_assert_cmpstr (match (t, "10.1.3.9", b), ==, "10.1.3.0/24");
  g_assert_cmpstr (match (t, "10.1.4.9", b), ==, "10.0.0.0/8");
  p = P ("10.1.2.0/24");
  g_assert_true (fz_ip_table_remove (t, &p));
  g_assert_cmpstr (match (t, "10.1.2.3", b), ==, "10.1.2.3/32");
  g_assert_cmpstr (match (t, "10.1.2.9", b), ==, "10.0.0.0/8");
  p = P ("10.0.0.0/8");
  g_assert_true (fz_ip_table_remove (t, &p));
  g_assert_cmpstr (match (t, "10.1.2.3", b), ==, "10.1.2.3/32");
  g_assert_cmpstr (match (t, "10.1.3.1", b), ==, "10.1.3.0/24");
  g_assert_cmpstr (match (t, "10.1.4.9", b), ==, "-");
}

/* The same leading bits in both families: never a match across. */
static void
test_families_apart (void)
{
  g_autoptr (FzIpTable) t = fz_ip_table_new (NULL);
  char b[FZ_IP_PREFIX_STRLEN];
  FzIpPrefix p;

  p = P ("1.2.3.0/24");
  fz_ip_table_insert (t, &p, "v4");
  g_assert_cmpstr (match (t, "102:300::1", b), ==, "-");
  g_assert_cmpstr (match (t, "::ffff:1.2.3.4", b), ==, "-");
  p = P ("102:300::/24");
  fz_ip_table_insert (t, &p, "v6");
  g_assert_cmpstr (match (t, "1.2.3.4", b), ==, "1.2.3.0/24");
  g_assert_cmpstr (match (t, "102:300::1", b), ==, "102:300::/24");
  p = P ("102:300::/24");
  g_assert_true (fz_ip_table_remove (t, &p));
  g_assert_cmpstr (match (t, "1.2.3.4", b), ==, "1.2.3.0/24");
  p = P ("0.0.0.0/0");
  fz_ip_table_insert (t, &p, "v4 default");
  g_assert_cmpstr (match (t, "::", b), ==, "-");
}

/* Host bits past the length are cleared on insert: the prefix is the
 * network, whatever address it was given with. */
static void
test_host_bits (void)
{
  g_autoptr (FzIpTable) t = fz_ip_table_new (NULL);
  char b[FZ_IP_PREFIX_STRLEN];
  FzIpPrefix p = { .addr = A ("10.1.2.3"), .len = 8 };
  FzIpPrefix q = P ("10.0.0.0/8");
  FzIpPrefix r = { .addr = A ("fd00::ffff"), .len = 112 };

  g_assert_true (fz_ip_table_insert (t, &p, "a"));
  g_assert_cmpstr (fz_ip_table_lookup_exact (t, &q), ==, "a");
  g_assert_false (fz_ip_table_insert (t, &q, "b")); /* the same prefix */
  g_assert_cmpstr (match (t, "10.200.0.0", b), ==, "10.0.0.0/8");
  g_assert_true (fz_ip_table_insert (t, &r, "c"));
  g_assert_cmpstr (match (t, "fd00::1:0", b), ==, "-");
  g_assert_cmpstr (match (t, "fd00::1", b), ==, "fd00::/112");
  q = (FzIpPrefix){ .addr = A ("10.9.9.9"), .len = 8 };
  g_assert_true (fz_ip_table_remove (t, &q));
  g_assert_cmpuint (fz_ip_table_size (t), ==, 1);
}

static void
count_free (gpointer data)
{
  (*(guint *) data)++;
}

static void
append_prefix (const FzIpPrefix *p, gpointer value, gpointer user_data)
{
  char b[FZ_IP_PREFIX_STRLEN];

  g_string_append_printf (user_data, "%s=%s ", fz_ip_prefix_to_string (p, b),
                          value == NULL ? "?" : "v");
}

static void
test_values (void)
{
  guint freed[4] = { 0 };
  g_autoptr (FzIpTable) t = fz_ip_table_new (count_free);
  g_autoptr (GString) order = g_string_new (NULL);
  FzIpPrefix p;

  p = P ("10.0.0.0/8");
  fz_ip_table_insert (t, &p, &freed[0]);
  g_assert_false (fz_ip_table_insert (t, &p, &freed[1])); /* replaces: frees the old */
  g_assert_cmpuint (freed[0], ==, 1);
  g_assert_false (fz_ip_table_insert (t, &p, &freed[1])); /* the same value: kept */
  g_assert_cmpuint (freed[1], ==, 0);
  for (const char *const *s = (const char *const[]){ "fd00::/8", "10.1.0.0/16", "::/0",
                                                     "9.0.0.0/8", "10.0.0.0/7", NULL };
       *s != NULL; s++)
    {
      p = P (*s);
      fz_ip_table_insert (t, &p, &freed[2]);
    }
  p = P ("10.2.0.0/16");
  fz_ip_table_insert (t, &p, &freed[3]);
  fz_ip_table_foreach (t, append_prefix, order);
  g_assert_cmpstr (order->str, ==,
                   "9.0.0.0/8=v 10.0.0.0/7=v 10.0.0.0/8=v 10.1.0.0/16=v 10.2.0.0/16=v "
                   "::/0=v fd00::/8=v ");
  g_assert_cmpuint (fz_ip_table_remove_value (t, &freed[2]), ==, 5);
  g_assert_cmpuint (freed[2], ==, 5);
  g_assert_cmpuint (fz_ip_table_size (t), ==, 2);
  g_assert_cmpuint (fz_ip_table_remove_value (t, &freed[2]), ==, 0);
  {
    char b[FZ_IP_PREFIX_STRLEN];
    g_assert_cmpstr (match (t, "10.1.0.1", b), ==, "10.0.0.0/8");
  }
  fz_ip_table_clear (t);
  g_assert_cmpuint (freed[1], ==, 1);
  g_assert_cmpuint (freed[3], ==, 1);
  g_assert_cmpuint (fz_ip_table_size (t), ==, 0);
  g_assert_null (fz_ip_table_lookup (t, &(FzIpAddr){ .family = 4 }, NULL));
  p = P ("1.0.0.0/8");
  g_assert_true (fz_ip_table_insert (t, &p, &freed[0])); /* usable after clear */
  g_clear_pointer (&t, fz_ip_table_free);
  g_assert_cmpuint (freed[0], ==, 2);
}

/* The reference: a list, searched from end to end. */
typedef struct
{
  FzIpPrefix p;
  gpointer value;
} Entry;

static gint
ref_find (GArray *ref, const FzIpPrefix *p)
{
  for (guint i = 0; i < ref->len; i++)
    if (fz_ip_prefix_equal (&g_array_index (ref, Entry, i).p, p))
      return (gint) i;
  return -1;
}

static const Entry *
ref_lookup (GArray *ref, const FzIpAddr *a)
{
  const Entry *best = NULL;

  for (guint i = 0; i < ref->len; i++)
    {
      const Entry *e = &g_array_index (ref, Entry, i);
      if (fz_ip_prefix_contains (&e->p, a) && (best == NULL || e->p.len > best->p.len))
        best = e;
    }
  return best;
}

static gint
entry_cmp (gconstpointer a, gconstpointer b)
{
  const Entry *x = a, *y = b;
  int c = (int) x->p.addr.family - (int) y->p.addr.family;

  if (c == 0)
    c = memcmp (x->p.addr.bytes, y->p.addr.bytes, 16);
  return c != 0 ? c : (int) x->p.len - (int) y->p.len;
}

static void
collect (const FzIpPrefix *p, gpointer value, gpointer user_data)
{
  Entry e = { .p = *p, .value = value };
  g_array_append_val (user_data, e);
}

/* Addresses near a few cluster bases, so that prefixes nest and overlap. */
typedef struct
{
  GRand *rand;
  FzIpAddr base[2][3];
} Gen;

static FzIpAddr
gen_addr (Gen *g, guint8 family)
{
  FzIpAddr a = g->base[family == 4 ? 0 : 1][g_rand_int_range (g->rand, 0, 3)];
  guint max = fz_ip_prefix_max_len (family);
  guint from = (guint) g_rand_int_range (g->rand, (gint) max / 2, (gint) max + 1);

  for (guint i = from; i < max; i++)
    if (g_rand_boolean (g->rand))
      a.bytes[i / 8] ^= (guint8) (0x80 >> (i % 8));
  return a;
}

static FzIpPrefix
gen_prefix (Gen *g)
{
  guint8 family = g_rand_boolean (g->rand) ? 4 : 6;
  guint max = fz_ip_prefix_max_len (family);
  FzIpAddr a = gen_addr (g, family);
  FzIpPrefix p;
  guint len = g_rand_int_range (g->rand, 0, 4) == 0
                ? (guint) g_rand_int_range (g->rand, 0, (gint) max + 1)
                : (guint) g_rand_int_range (g->rand, (gint) max * 3 / 4, (gint) max + 1);

  fz_ip_prefix_init (&p, &a, len);
  return p;
}

static void
check_all (FzIpTable *t, GArray *ref)
{
  g_autoptr (GArray) got = g_array_new (FALSE, FALSE, sizeof (Entry));
  g_autoptr (GArray) want = g_array_copy (ref);

  g_assert_cmpuint (fz_ip_table_size (t), ==, ref->len);
  fz_ip_table_foreach (t, collect, got);
  g_array_sort (want, entry_cmp);
  g_assert_cmpuint (got->len, ==, want->len);
  for (guint i = 0; i < got->len; i++)
    {
      Entry *x = &g_array_index (got, Entry, i), *y = &g_array_index (want, Entry, i);
      g_assert_true (fz_ip_prefix_equal (&x->p, &y->p));
      g_assert_true (x->value == y->value);
    }
}

static void
random_op (FzIpTable *t, GArray *ref, Gen *g)
{
  guint op = (guint) g_rand_int_range (g->rand, 0, 100);
  FzIpPrefix p = gen_prefix (g);
  gint i = ref_find (ref, &p);

  if (op < 40)
    {
      Entry e = { .p = p, .value = GUINT_TO_POINTER (g_rand_int_range (g->rand, 1, 9)) };
      g_assert_cmpint (fz_ip_table_insert (t, &p, e.value), ==, i < 0);
      if (i < 0)
        g_array_append_val (ref, e);
      else
        g_array_index (ref, Entry, i).value = e.value;
    }
  else if (op < 55)
    {
      if (ref->len > 0 && g_rand_boolean (g->rand))
        p = g_array_index (ref, Entry, g_rand_int_range (g->rand, 0, (gint) ref->len)).p;
      i = ref_find (ref, &p);
      g_assert_cmpint (fz_ip_table_remove (t, &p), ==, i >= 0);
      if (i >= 0)
        g_array_remove_index_fast (ref, (guint) i);
    }
  else if (op < 57)
    {
      gpointer v = GUINT_TO_POINTER (g_rand_int_range (g->rand, 1, 9));
      guint n = 0;
      for (guint k = ref->len; k-- > 0;)
        if (g_array_index (ref, Entry, k).value == v)
          g_array_remove_index_fast (ref, k), n++;
      g_assert_cmpuint (fz_ip_table_remove_value (t, v), ==, n);
    }
  else if (op < 65)
    g_assert_true (fz_ip_table_lookup_exact (t, &p)
                   == (i >= 0 ? g_array_index (ref, Entry, i).value : NULL));
  else
    {
      FzIpAddr a = gen_addr (g, g_rand_boolean (g->rand) ? 4 : 6);
      const Entry *want = ref_lookup (ref, &a);
      FzIpPrefix m;
      gpointer got = fz_ip_table_lookup (t, &a, &m);

      g_assert_true (got == (want != NULL ? want->value : NULL));
      if (want != NULL)
        g_assert_true (fz_ip_prefix_equal (&m, &want->p));
    }
}

static void
test_random (void)
{
  for (guint32 seed = 1; seed <= 8; seed++)
    {
      g_autoptr (FzIpTable) t = fz_ip_table_new (NULL);
      g_autoptr (GArray) ref = g_array_new (FALSE, FALSE, sizeof (Entry));
      Gen g = { .rand = g_rand_new_with_seed (seed) };

      for (guint f = 0; f < 2; f++)
        for (guint k = 0; k < 3; k++)
          {
            g.base[f][k].family = f == 0 ? 4 : 6;
            for (guint b = 0; b < 16; b++)
              g.base[f][k].bytes[b] = f == 0 && b >= 4 ? 0 : (guint8) g_rand_int (g.rand);
          }
      g_test_message ("seed %u", seed);
      for (guint n = 0; n < 5000; n++)
        {
          random_op (t, ref, &g);
          if (n % 500 == 0)
            check_all (t, ref);
        }
      check_all (t, ref);
      /* Emptied one prefix at a time, the table ends empty. */
      while (ref->len > 0)
        {
          g_assert_true (fz_ip_table_remove (t, &g_array_index (ref, Entry, 0).p));
          g_array_remove_index_fast (ref, 0);
        }
      check_all (t, ref);
      g_rand_free (g.rand);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ip-table/prefix-parse", test_prefix_parse);
  g_test_add_func ("/ip-table/ranges", test_ranges);
  g_test_add_func ("/ip-table/default-and-hosts", test_default_and_hosts);
  g_test_add_func ("/ip-table/overlapping", test_overlapping);
  g_test_add_func ("/ip-table/remove-middle", test_remove_middle);
  g_test_add_func ("/ip-table/families-apart", test_families_apart);
  g_test_add_func ("/ip-table/host-bits", test_host_bits);
  g_test_add_func ("/ip-table/values", test_values);
  g_test_add_func ("/ip-table/random", test_random);
  return g_test_run ();
}
