/* FzProxyIps: allocation, lookups both ways, and the saved format. */
#include "fz-private.h"

#include <string.h>

static const char *
addr_str (const FzIpAddr *a)
{
  static char buf[8][FZ_IP_ADDR_STRLEN];
  static guint next;

  return fz_ip_addr_to_string (a, buf[next++ % 8]);
}

static FzIpAddr
A (const char *text)
{
  FzIpAddr a;

  g_assert_true (fz_ip_addr_parse (&a, text));
  return a;
}

/* @m's addresses: "v4 first..last, v6 first..last" shortened to the first
 * and last of each family, after checking they run in order. */
static void
assert_addrs (const FzProxyIpsMapping *m, const char *v4_first, const char *v6_first)
{
  FzIpAddr v4 = A (v4_first), v6 = A (v6_first);

  g_assert_nonnull (m);
  for (guint i = 0; i < FZ_PROXY_IPS_PER_FAMILY; i++)
    {
      g_assert_cmpstr (addr_str (&m->ipv4[i]), ==, addr_str (&v4));
      g_assert_cmpstr (addr_str (&m->ipv6[i]), ==, addr_str (&v6));
      v4.bytes[3]++;
      v6.bytes[15]++;
    }
}

static const FzProxyIpsMapping *
assign_ok (FzProxyIps *ips, const char *name)
{
  g_autoptr (GError) error = NULL;
  const FzProxyIpsMapping *m = fz_proxy_ips_assign (ips, name, &error);

  g_assert_no_error (error);
  g_assert_nonnull (m);
  return m;
}

static void
test_sequential (void)
{
  g_autoptr (FzProxyIps) ips = fz_proxy_ips_new ();

  g_assert_cmpuint (fz_proxy_ips_generation (ips), ==, 0);
  assert_addrs (assign_ok (ips, "a.example.com"), "100.96.0.1", "fd00:2021:1111:8000::1");
  g_assert_cmpuint (fz_proxy_ips_generation (ips), ==, 1);
  assert_addrs (assign_ok (ips, "b.example.com"), "100.96.0.5", "fd00:2021:1111:8000::5");
  assert_addrs (assign_ok (ips, "c"), "100.96.0.9", "fd00:2021:1111:8000::9");
  g_assert_cmpuint (fz_proxy_ips_generation (ips), ==, 3);
  g_assert_cmpuint (fz_proxy_ips_size (ips), ==, 3);
}

static void
test_same_name (void)
{
  g_autoptr (FzProxyIps) ips = fz_proxy_ips_new ();
  const FzProxyIpsMapping *m = assign_ok (ips, "Api.Example.COM");

  g_assert_cmpstr (m->name, ==, "api.example.com");
  assign_ok (ips, "other.example.com");
  g_assert_true (assign_ok (ips, "api.example.com") == m);
  g_assert_true (assign_ok (ips, "API.EXAMPLE.COM") == m);
  g_assert_true (fz_proxy_ips_lookup (ips, "aPi.example.com") == m);
  g_assert_null (fz_proxy_ips_lookup (ips, "api.example.org"));
  g_assert_null (fz_proxy_ips_lookup (ips, "not a name"));
  g_assert_cmpuint (fz_proxy_ips_generation (ips), ==, 2); /* repeats change nothing */
  assert_addrs (m, "100.96.0.1", "fd00:2021:1111:8000::1");
}

static void
test_reverse (void)
{
  g_autoptr (FzProxyIps) ips = fz_proxy_ips_new ();
  const FzProxyIpsMapping *a = assign_ok (ips, "a.example.com");
  const FzProxyIpsMapping *b = assign_ok (ips, "b.example.com");
  FzIpAddr unused4 = A ("100.96.0.9"), unused6 = A ("fd00:2021:1111:8000::9");
  FzIpAddr outside[] = { A ("100.64.0.1"), A ("100.128.0.1"), A ("fd00:2021:1111::1"),
                         A ("fd00:2021:1111:8000::20:0"), A ("::ffff:100.96.0.1") };

  for (guint i = 0; i < FZ_PROXY_IPS_PER_FAMILY; i++)
    {
      g_assert_true (fz_proxy_ips_lookup_addr (ips, &a->ipv4[i]) == a);
      g_assert_true (fz_proxy_ips_lookup_addr (ips, &a->ipv6[i]) == a);
      g_assert_true (fz_proxy_ips_lookup_addr (ips, &b->ipv4[i]) == b);
      g_assert_true (fz_proxy_ips_lookup_addr (ips, &b->ipv6[i]) == b);
    }
  g_assert_null (fz_proxy_ips_lookup_addr (ips, &unused4));
  g_assert_null (fz_proxy_ips_lookup_addr (ips, &unused6));
  g_assert_true (fz_proxy_ips_in_range (&unused4));
  g_assert_true (fz_proxy_ips_in_range (&unused6));
  for (guint i = 0; i < G_N_ELEMENTS (outside); i++)
    {
      g_assert_false (fz_proxy_ips_in_range (&outside[i]));
      g_assert_null (fz_proxy_ips_lookup_addr (ips, &outside[i]));
    }
  {
    FzIpAddr last4 = A ("100.127.255.255"), last6 = A ("fd00:2021:1111:8000::1f:ffff");
    g_assert_true (fz_proxy_ips_in_range (&last4));
    g_assert_true (fz_proxy_ips_in_range (&last6));
  }
}

/* Forgotten names keep their addresses used: a new name, and the same
 * name asked again, get fresh ones. */
static void
test_never_reused (void)
{
  g_autoptr (FzProxyIps) ips = fz_proxy_ips_new ();
  FzIpAddr old = assign_ok (ips, "a.example.com")->ipv4[0];

  g_assert_true (fz_proxy_ips_forget (ips, "A.example.com"));
  g_assert_false (fz_proxy_ips_forget (ips, "a.example.com"));
  g_assert_cmpuint (fz_proxy_ips_generation (ips), ==, 2);
  g_assert_null (fz_proxy_ips_lookup_addr (ips, &old));
  g_assert_null (fz_proxy_ips_lookup (ips, "a.example.com"));
  assert_addrs (assign_ok (ips, "b.example.com"), "100.96.0.5", "fd00:2021:1111:8000::5");
  assert_addrs (assign_ok (ips, "a.example.com"), "100.96.0.9", "fd00:2021:1111:8000::9");
  g_assert_cmpuint (fz_proxy_ips_size (ips), ==, 2);
}

static void
test_invalid_names (void)
{
  g_autofree char *label63 = g_strnfill (63, 'a');
  g_autofree char *label64 = g_strnfill (64, 'a');
  /* 4 labels of 61 and one of 5: 4 * 62 + 5 = 253 */
  g_autofree char *l61 = g_strnfill (61, 'b');
  g_autofree char *name253 = g_strdup_printf ("%s.%s.%s.%s.ccccc", l61, l61, l61, l61);
  g_autofree char *name254 = g_strdup_printf ("%s.%s.%s.%s.cccccc", l61, l61, l61, l61);
  const char *bad[] = { "",        ".",      "a..b",  "a.",      ".a",    "a b",  "a/b",
                        "*.a.com", "a.com.", "é.com", "a@b.com", label64, name254 };
  g_autoptr (FzProxyIps) ips = fz_proxy_ips_new ();

  g_assert_cmpuint (strlen (name253), ==, 253);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_null (fz_proxy_ips_assign (ips, bad[i], &error));
      g_assert_error (error, FZ_PROXY_IPS_ERROR, FZ_PROXY_IPS_ERROR_INVALID_NAME);
    }
  g_assert_cmpuint (fz_proxy_ips_generation (ips), ==, 0);
  assign_ok (ips, label63);
  assign_ok (ips, name253);
  assign_ok (ips, "_sip._tcp.example-1.com");
  g_assert_cmpuint (fz_proxy_ips_size (ips), ==, 3);
}

static FzProxyIps *
parse_ok (const char *text)
{
  g_autoptr (GError) error = NULL;
  FzProxyIps *ips = fz_proxy_ips_parse (text, strlen (text), &error);

  g_assert_no_error (error);
  g_assert_nonnull (ips);
  return ips;
}

static void
assert_same (FzProxyIps *x, FzProxyIps *y)
{
  g_autoptr (GPtrArray) a = fz_proxy_ips_list (x);
  g_autoptr (GPtrArray) b = fz_proxy_ips_list (y);

  g_assert_cmpuint (a->len, ==, b->len);
  for (guint i = 0; i < a->len; i++)
    {
      const FzProxyIpsMapping *m = a->pdata[i], *n = b->pdata[i];
      g_assert_cmpstr (m->name, ==, n->name);
      g_assert_cmpmem (m->ipv4, sizeof m->ipv4, n->ipv4, sizeof n->ipv4);
      g_assert_cmpmem (m->ipv6, sizeof m->ipv6, n->ipv6, sizeof n->ipv6);
    }
}

static void
test_round_trip (void)
{
  g_autoptr (FzProxyIps) ips = fz_proxy_ips_new ();
  g_autoptr (FzProxyIps) copy = NULL;
  g_autoptr (GPtrArray) list = NULL;
  g_autofree char *text = NULL;
  g_autofree char *again = NULL;

  {
    g_autofree char *empty = fz_proxy_ips_serialize (ips);
    g_assert_cmpstr (empty, ==, "{\"version\":1,\"mappings\":[]}");
  }
  for (guint i = 0; i < 60; i++)
    {
      g_autofree char *name = g_strdup_printf ("host-%u.example.com", i);
      assign_ok (ips, name);
    }
  /* A forgotten name leaves a hole that neither copy fills. */
  fz_proxy_ips_forget (ips, "host-7.example.com");
  list = fz_proxy_ips_list (ips);
  g_assert_cmpuint (list->len, ==, 59);
  for (guint i = 1; i < list->len; i++)
    g_assert_cmpint (memcmp (((FzProxyIpsMapping *) list->pdata[i - 1])->ipv4[0].bytes,
                             ((FzProxyIpsMapping *) list->pdata[i])->ipv4[0].bytes, 4),
                     <, 0);
  text = fz_proxy_ips_serialize (ips);
  g_assert_true (g_str_has_prefix (
    text, "{\"version\":1,\"mappings\":[{\"name\":\"host-0.example.com\",\"ipv4\":["
          "\"100.96.0.1\",\"100.96.0.2\",\"100.96.0.3\",\"100.96.0.4\"],\"ipv6\":["
          "\"fd00:2021:1111:8000::1\","));
  copy = parse_ok (text);
  assert_same (ips, copy);
  again = fz_proxy_ips_serialize (copy);
  g_assert_cmpstr (again, ==, text);
  g_assert_cmpuint (fz_proxy_ips_generation (copy), ==, 0);
  /* Both continue after the highest address in use. */
  assert_addrs (assign_ok (ips, "new.example.com"), "100.96.0.241",
                "fd00:2021:1111:8000::f1");
  assert_addrs (assign_ok (copy, "new.example.com"), "100.96.0.241",
                "fd00:2021:1111:8000::f1");
  /* Whitespace and member order are JSON's own business. */
  {
    g_autoptr (FzProxyIps) p
      = parse_ok (" {\"mappings\" : [ "
                  "{\"ipv6\":[\"fd00:2021:1111:8000::9\",\"fd00:2021:1111:8000::a\","
                  "\"fd00:2021:1111:8000::b\",\"fd00:2021:1111:8000::c\"],\"name\":\"X."
                  "com\",\"ipv4\":"
                  "[\"100.96.1.0\",\"100.96.1.1\",\"100.96.1.2\",\"100.96.1.3\"]} ], "
                  "\"version\":1}\n");
    FzIpAddr a = A ("fd00:2021:1111:8000::b");
    g_assert_cmpstr (fz_proxy_ips_lookup_addr (p, &a)->name, ==, "x.com");
    assert_addrs (assign_ok (p, "y.com"), "100.96.1.4", "fd00:2021:1111:8000::d");
  }
}

#define V4(a, b, c, d) "[\"" a "\",\"" b "\",\"" c "\",\"" d "\"]"
#define V4OK           V4 ("100.96.0.1", "100.96.0.2", "100.96.0.3", "100.96.0.4")
#define V6OK                                                                             \
  V4 ("fd00:2021:1111:8000::1", "fd00:2021:1111:8000::2", "fd00:2021:1111:8000::3",      \
      "fd00:2021:1111:8000::4")
#define DOC(mappings)     "{\"version\":1,\"mappings\":[" mappings "]}"
#define MAP(name, v4, v6) "{\"name\":" name ",\"ipv4\":" v4 ",\"ipv6\":" v6 "}"

static void
test_bad_input (void)
{
  static const char *bad[] = {
    "",
    "[]",
    "{}",
    "not json",
    "{\"version\":1,\"mappings\":[]",
    "{\"version\":2,\"mappings\":[]}",
    "{\"version\":\"1\",\"mappings\":[]}",
    "{\"version\":1.0,\"mappings\":[]}",
    "{\"version\":1}",
    "{\"version\":1,\"mappings\":{}}",
    "{\"version\":1,\"mappings\":[],\"extra\":0}",
    "{\"version\":1,\"mappings\":[]} {}",
    "/* c */ {\"version\":1,\"mappings\":[]}",
    DOC ("[]"),
    DOC ("[[[[[]]]]]"),
    DOC ("{\"name\":\"a.com\"}"),
    DOC (MAP ("\"a.com\"", V4OK, V6OK) ",0"),
    DOC ("{\"name\":\"a.com\",\"ipv4\":" V4OK ",\"ipv6\":" V6OK ",\"x\":1}"),
    DOC (MAP ("1", V4OK, V6OK)),
    DOC (MAP ("\"a..com\"", V4OK, V6OK)),
    DOC (MAP ("\"a.com.\"", V4OK, V6OK)),
    DOC (MAP ("\"a\\u0000.com\"", V4OK, V6OK)),
    DOC (MAP ("\"a.com\"", V4 ("100.96.0.1", "100.96.0.2", "100.96.0.3", "100.96.0.3"),
              V6OK)),
    DOC (MAP ("\"a.com\"", V4 ("100.96.0.1", "100.96.0.2", "100.96.0.3", "100.95.0.4"),
              V6OK)),
    DOC (MAP ("\"a.com\"", V4 ("100.96.0.0", "100.96.0.2", "100.96.0.3", "100.96.0.4"),
              V6OK)),
    DOC (MAP ("\"a.com\"", V4 ("100.96.0.1", "100.96.0.2", "100.96.0.3", "100.100.111.1"),
              V6OK)),
    DOC (MAP ("\"a.com\"",
              V4 ("100.96.0.1", "100.96.0.2", "100.96.0.3", "fd00:2021:1111:8000::9"),
              V6OK)),
    DOC (MAP ("\"a.com\"", V4 ("100.96.0.1", "100.96.0.2", "100.96.0.3", "x"), V6OK)),
    DOC (MAP ("\"a.com\"", "[\"100.96.0.1\",\"100.96.0.2\",\"100.96.0.3\"]", V6OK)),
    DOC (
      MAP ("\"a.com\"",
           "[\"100.96.0.1\",\"100.96.0.2\",\"100.96.0.3\",\"100.96.0.4\",\"100.96.0.5\"]",
           V6OK)),
    DOC (MAP ("\"a.com\"", "[\"100.96.0.1\",\"100.96.0.2\",\"100.96.0.3\",4]", V6OK)),
    DOC (MAP ("\"a.com\"", V4OK,
              V4 ("fd00:2021:1111:8000::1", "fd00:2021:1111:8000::2",
                  "fd00:2021:1111:8000::3", "fd00:2021:1111:8000::20:0"))),
    DOC (MAP ("\"a.com\"", V4OK,
              V4 ("fd00:2021:1111:8000::", "fd00:2021:1111:8000::2",
                  "fd00:2021:1111:8000::3", "fd00:2021:1111:8000::4"))),
    DOC (MAP ("\"a.com\"", V4OK, V4OK)),
    DOC (MAP ("\"a.com\"", V4OK,
              V6OK) "," MAP ("\"b.com\"", V4OK,
                             V4 ("fd00:2021:1111:8000::5", "fd00:2021:1111:8000::6",
                                 "fd00:2021:1111:8000::7", "fd00:2021:1111:8000::8"))),
    DOC (MAP ("\"a.com\"", V4OK, V6OK) "," MAP (
      "\"A.com\"", V4 ("100.96.0.5", "100.96.0.6", "100.96.0.7", "100.96.0.8"),
      V4 ("fd00:2021:1111:8000::5", "fd00:2021:1111:8000::6", "fd00:2021:1111:8000::7",
          "fd00:2021:1111:8000::8"))),
  };

  {
    g_autoptr (FzProxyIps) ok = parse_ok (DOC (MAP ("\"a.com\"", V4OK, V6OK)));
    g_assert_cmpuint (fz_proxy_ips_size (ok), ==, 1);
  }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_null (fz_proxy_ips_parse (bad[i], strlen (bad[i]), &error));
      g_assert_error (error, FZ_PROXY_IPS_ERROR, FZ_PROXY_IPS_ERROR_INVALID);
      g_test_message ("%u: %s", i, error->message);
    }
  {
    /* A NUL byte inside the given length. */
    static const char nul[] = "{\"version\":1,\"mappings\":[]}\0";
    g_autoptr (GError) error = NULL;
    g_assert_null (fz_proxy_ips_parse (nul, sizeof nul, &error));
    g_assert_error (error, FZ_PROXY_IPS_ERROR, FZ_PROXY_IPS_ERROR_INVALID);
  }
}

/* Allocation goes around the DNS sentinels, which lie inside the IPv4
 * range. */
static void
test_sentinels_skipped (void)
{
  g_autoptr (FzProxyIps) ips = parse_ok (DOC (
    MAP ("\"a.com\"",
         V4 ("100.100.110.250", "100.100.110.251", "100.100.110.252", "100.100.110.253"),
         V6OK)));
  const FzProxyIpsMapping *m = assign_ok (ips, "b.com");

  g_assert_cmpstr (addr_str (&m->ipv4[0]), ==, "100.100.110.254");
  g_assert_cmpstr (addr_str (&m->ipv4[1]), ==, "100.100.110.255");
  g_assert_cmpstr (addr_str (&m->ipv4[2]), ==, "100.100.112.0");
  g_assert_cmpstr (addr_str (&m->ipv4[3]), ==, "100.100.112.1");
  g_assert_cmpstr (addr_str (&m->ipv6[0]), ==, "fd00:2021:1111:8000::5");
  g_assert_cmpstr (addr_str (&m->ipv6[3]), ==, "fd00:2021:1111:8000::8");
}

static void
assert_exhausted (FzProxyIps *ips)
{
  g_autoptr (GError) error = NULL;
  guint size = fz_proxy_ips_size (ips);
  guint64 generation = fz_proxy_ips_generation (ips);

  g_assert_null (fz_proxy_ips_assign (ips, "one-more.example.com", &error));
  g_assert_error (error, FZ_PROXY_IPS_ERROR, FZ_PROXY_IPS_ERROR_EXHAUSTED);
  g_assert_cmpuint (fz_proxy_ips_size (ips), ==, size);
  g_assert_cmpuint (fz_proxy_ips_generation (ips), ==, generation);
  g_assert_null (fz_proxy_ips_lookup (ips, "one-more.example.com"));
}

static void
test_exhaustion (void)
{
  /* IPv4 at its end: 10 more names, then none, without wrapping round
   * to the free addresses at the start. */
  {
    g_autoptr (FzProxyIps) ips = parse_ok (DOC (MAP (
      "\"a.com\"",
      V4 ("100.127.255.212", "100.127.255.213", "100.127.255.214", "100.127.255.215"),
      V6OK)));
    for (guint i = 0; i < 10; i++)
      {
        g_autofree char *name = g_strdup_printf ("n%u.com", i);
        assign_ok (ips, name);
      }
    g_assert_cmpstr (addr_str (&fz_proxy_ips_lookup (ips, "n9.com")->ipv4[3]), ==,
                     "100.127.255.255");
    assert_exhausted (ips);
    assert_exhausted (ips);
    g_assert_nonnull (fz_proxy_ips_lookup (ips, "n9.com")); /* names known still answer */
  }
  /* IPv6 at its end, IPv4 not: no IPv4 addresses are taken either. */
  {
    g_autoptr (FzProxyIps) ips = parse_ok (
      DOC (MAP ("\"a.com\"", V4OK,
                V4 ("fd00:2021:1111:8000::1f:fffc", "fd00:2021:1111:8000::1f:fffd",
                    "fd00:2021:1111:8000::1f:fffe", "fd00:2021:1111:8000::1f:ffff"))));
    FzIpAddr next4 = A ("100.96.0.5");
    assert_exhausted (ips);
    g_assert_null (fz_proxy_ips_lookup_addr (ips, &next4));
    g_assert_true (fz_proxy_ips_forget (ips, "a.com")); /* frees nothing for reuse */
    assert_exhausted (ips);
  }
}

/* At most FZ_PROXY_IPS_MAX_NAMES names: one more is refused without a
 * change, known names still answer, and a slot freed is usable again. */
static void
test_cap (void)
{
  g_autoptr (FzProxyIps) ips = fz_proxy_ips_new ();
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < FZ_PROXY_IPS_MAX_NAMES; i++)
    {
      char name[32];
      g_snprintf (name, sizeof name, "n%u.com", i);
      g_assert_nonnull (fz_proxy_ips_assign (ips, name, NULL));
    }
  guint64 generation = fz_proxy_ips_generation (ips);
  g_assert_null (fz_proxy_ips_assign (ips, "one-more.com", &error));
  g_assert_error (error, FZ_PROXY_IPS_ERROR, FZ_PROXY_IPS_ERROR_FULL);
  g_assert_cmpuint (fz_proxy_ips_size (ips), ==, FZ_PROXY_IPS_MAX_NAMES);
  g_assert_cmpuint (fz_proxy_ips_generation (ips), ==, generation);
  g_assert_null (fz_proxy_ips_lookup (ips, "one-more.com"));
  const FzProxyIpsMapping *known = fz_proxy_ips_lookup (ips, "n7.com");
  g_assert_true (fz_proxy_ips_assign (ips, "N7.com", NULL) == known);
  g_assert_true (fz_proxy_ips_forget (ips, "n7.com"));
  g_assert_nonnull (fz_proxy_ips_assign (ips, "one-more.com", NULL));
}

/* Saved mappings with more names than a session holds: refused, saying
 * so, before any mapping is read. */
static void
test_parse_over_cap (void)
{
  g_autoptr (GString) text = g_string_new ("{\"version\":1,\"mappings\":[");
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i <= FZ_PROXY_IPS_MAX_NAMES; i++)
    g_string_append (text, i == 0 ? "{}" : ",{}");
  g_string_append (text, "]}");
  g_assert_null (fz_proxy_ips_parse (text->str, text->len, &error));
  g_assert_error (error, FZ_PROXY_IPS_ERROR, FZ_PROXY_IPS_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "65537 mappings, more than the 65536"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/proxy-ips/sequential", test_sequential);
  g_test_add_func ("/proxy-ips/same-name", test_same_name);
  g_test_add_func ("/proxy-ips/reverse", test_reverse);
  g_test_add_func ("/proxy-ips/never-reused", test_never_reused);
  g_test_add_func ("/proxy-ips/invalid-names", test_invalid_names);
  g_test_add_func ("/proxy-ips/round-trip", test_round_trip);
  g_test_add_func ("/proxy-ips/bad-input", test_bad_input);
  g_test_add_func ("/proxy-ips/sentinels-skipped", test_sentinels_skipped);
  g_test_add_func ("/proxy-ips/exhaustion", test_exhaustion);
  g_test_add_func ("/proxy-ips/cap", test_cap);
  g_test_add_func ("/proxy-ips/parse-over-cap", test_parse_over_cap);
  return g_test_run ();
}
