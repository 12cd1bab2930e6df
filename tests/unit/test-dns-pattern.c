/* DNS resource patterns (FzDnsPattern, FzDnsName) and the lookup of the
 * most specific resource (FzDnsResourceSet), checked against a linear
 * scan on random patterns and names. */
#include "fz-private.h"

static void
test_valid (void)
{
  static const struct
  {
    const char *pattern, *text, *tail;
    gboolean exact;
  } cases[] = {
    { "example.com", "example.com", "example.com", TRUE },
    { "Example.COM.", "example.com", "example.com", TRUE },
    { "*", "*", "", FALSE },
    { "**", "**", "", FALSE },
    { "?", "?", "", FALSE },
    { "*.example.com", "*.example.com", "example.com", FALSE },
    { "**.Example.com", "**.example.com", "example.com", FALSE },
    { "app.**.example.com", "app.**.example.com", "example.com", FALSE },
    { "*ample.com", "*ample.com", "com", FALSE },
    { "a.b?.c.d", "a.b?.c.d", "c.d", FALSE },
    { "a.b.c*", "a.b.c*", "", FALSE },
    { "_sip._tcp.x-y.com", "_sip._tcp.x-y.com", "_sip._tcp.x-y.com", TRUE },
    { "xn--bcher-kva.example", "xn--bcher-kva.example", "xn--bcher-kva.example", TRUE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FzDnsPattern) p = fz_dns_pattern_new (cases[i].pattern, &error);

      g_assert_no_error (error);
      g_assert_cmpstr (fz_dns_pattern_get_text (p), ==, cases[i].text);
      g_assert_cmpstr (fz_dns_pattern_get_tail (p), ==, cases[i].tail);
      g_assert_cmpint (fz_dns_pattern_is_exact (p), ==, cases[i].exact);
    }
}

static void
test_bounds (void)
{
  g_autofree char *label63 = g_strnfill (63, 'a');
  g_autofree char *label64 = g_strnfill (64, 'a');
  g_autofree char *ok63 = g_strconcat (label63, ".com", NULL);
  g_autofree char *bad64 = g_strconcat (label64, ".com", NULL);
  /* 4 labels of 63 and 3 dots: 255 characters; one label less: 191. */
  g_autofree char *long255 = g_strjoin (".", label63, label63, label63, label63, NULL);
  g_autofree char *ok253 = g_strdup (long255 + 2);
  g_autofree char *ok253dot = g_strconcat (ok253, ".", NULL);
  g_autofree char *bad254 = g_strdup (long255 + 1);
  const char *good[] = { ok63, ok253, ok253dot };
  const char *bad[] = { bad64, bad254, long255 };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FzDnsPattern) p = fz_dns_pattern_new (good[i], &error);
      FzDnsName n;

      g_assert_no_error (error);
      g_assert_true (fz_dns_name_parse (&n, good[i]));
      g_assert_true (fz_dns_pattern_matches_name (p, &n));
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      FzDnsName n;

      g_assert_null (fz_dns_pattern_new (bad[i], &error));
      g_assert_error (error, FZ_DNS_PATTERN_ERROR, FZ_DNS_PATTERN_ERROR_INVALID);
      g_assert_false (fz_dns_name_parse (&n, bad[i]));
    }
}

static void
test_invalid (void)
{
  static const char *bad[] = {
    "",         ".",       "..",        "a..b",      ".a.com",   "a.com..",
    "a**.com",  "***.com", "**a.com",   "bücher.de", "a b.com",  "a/b.com",
    "[ab].com", "a,b.com", "a\\.b.com", "*.com/",    "a.*.b.\t", "x@y.com",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (FzDnsPattern) p = fz_dns_pattern_new (bad[i], &error);

      if (p != NULL)
        g_error ("\"%s\" compiled", bad[i]);
      g_assert_error (error, FZ_DNS_PATTERN_ERROR, FZ_DNS_PATTERN_ERROR_INVALID);
      g_assert_nonnull (strstr (error->message, "invalid"));
    }
}

static void
test_matches (void)
{
  static const struct
  {
    const char *pattern, *name;
    gboolean matches;
  } cases[] = {
    /* Firezone's own cases (connlib dns/pattern.rs) */
    { "**.example.com", "example.com", TRUE },
    { "app.**.example.com", "app.bar.foo.example.com", TRUE },
    { "**.example.com", "foo.example.com", TRUE },
    { "**.example.com", "foo.bar.example.com", TRUE },
    { "*.example.com", "foo.example.com", TRUE },
    { "*.example.com", "example.com", TRUE },
    { "foo.*.example.com", "foo.bar.example.com", TRUE },
    { "app.*.*.example.com", "app.foo.bar.example.com", TRUE },
    { "app.f??.example.com", "app.foo.example.com", TRUE },
    { "app.example.com", "app.example.com", TRUE },
    { "*?*.example.com", "app.example.com", TRUE },
    /* one label for `*`, one character for `?` */
    { "*.example.com", "foo.bar.example.com", FALSE },
    { "*.example.com", "example.org", FALSE },
    { "*.example.com", "fooexample.com", FALSE },
    { "foo.*.example.com", "foo.example.com", FALSE },
    { "app.f??.example.com", "app.fo.example.com", FALSE },
    { "app.f??.example.com", "app.fooo.example.com", FALSE },
    { "*?*.example.com", "example.com", FALSE },
    { "*.*.x.com", "a.x.com", FALSE },
    { "*.*.x.com", "a.b.x.com", TRUE },
    { "*ample.com", "example.com", TRUE },
    { "*ample.com", "ample.com", TRUE },
    { "*ample.com", "a.example.com", FALSE },
    { "a*b*c.x", "aXXbYYc.x", TRUE },
    { "a*b*c.x", "aXXbYY.x", FALSE },
    { "app.**.example.com", "app.example.com", TRUE },
    { "app.**.example.com", "example.com", FALSE },
    { "a.**.b.**.c", "a.x.b.y.z.c", TRUE },
    { "a.**.b.**.c", "a.x.c", FALSE },
    /* `*` and `**` alone */
    { "*", "com", TRUE },
    { "*", "example.com", FALSE },
    { "**", "example.com", TRUE },
    { "**", "a.b.c.d.e.f", TRUE },
    { "**", ".", FALSE },
    { "**", "", FALSE },
    { "?", "a", TRUE },
    { "?", "ab", FALSE },
    /* case and trailing dots */
    { "app.example.com", "APP.Example.COM.", TRUE },
    { "APP.example.com.", "app.example.com", TRUE },
    { "*.Example.com", "FOO.EXAMPLE.COM", TRUE },
    { "x-y_z.example.com", "X-Y_Z.example.com", TRUE },
    { "app.example.com", "app.example.com..", FALSE },
    /* names that are no host names */
    { "**.example.com", "a..example.com", FALSE },
    { "**.example.com", ".example.com", FALSE },
    { "**.example.com", "a b.example.com", FALSE },
    { "*.example.com", "*.example.com", FALSE },
    { "**", "bücher.de", FALSE },
    { "xn--bcher-kva.de", "XN--BCHER-KVA.de", TRUE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (FzDnsPattern) p = fz_dns_pattern_new (cases[i].pattern, NULL);

      g_assert_nonnull (p);
      if (fz_dns_pattern_matches (p, cases[i].name) != cases[i].matches)
        g_error ("%s vs %s: expected %d", cases[i].pattern, cases[i].name,
                 cases[i].matches);
    }
}

static void
test_name_wire (void)
{
  static const guint8 good[]
    = { 3, 'W', 'w', 'W', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0 };
  static const guint8 root[] = { 0 };
  static const guint8 pointer[] = { 3, 'w', 'w', 'w', 0xc0, 0x0c };
  static const guint8 unterminated[] = { 3, 'w', 'w', 'w' };
  static const guint8 overrun[] = { 5, 'w', 'w', 'w', 0 };
  static const guint8 trailing[] = { 1, 'a', 0, 0 };
  static const guint8 dot_inside[] = { 3, 'a', '.', 'b', 0 };
  FzDnsName n;

  g_assert_true (fz_dns_name_parse_wire (&n, good, sizeof good));
  g_assert_cmpstr (n.text, ==, "www.example");
  g_assert_cmpuint (n.n_labels, ==, 2);
  g_assert_cmpuint (n.label_start[1], ==, 4);
  g_assert_true (fz_dns_name_parse_wire (&n, root, sizeof root));
  g_assert_cmpuint (n.n_labels, ==, 0);
  g_assert_cmpstr (n.text, ==, "");
  g_assert_false (fz_dns_name_parse_wire (&n, pointer, sizeof pointer));
  g_assert_false (fz_dns_name_parse_wire (&n, unterminated, sizeof unterminated));
  g_assert_false (fz_dns_name_parse_wire (&n, overrun, sizeof overrun));
  g_assert_false (fz_dns_name_parse_wire (&n, trailing, sizeof trailing));
  g_assert_false (fz_dns_name_parse_wire (&n, dot_inside, sizeof dot_inside));
  g_assert_false (fz_dns_name_parse_wire (&n, good, 0));

  /* A failure never leaves half a name behind. */
  g_assert_false (fz_dns_name_parse_wire (&n, dot_inside, sizeof dot_inside));
  g_assert_cmpuint (n.n_labels, ==, 0);
  g_assert_cmpstr (n.text, ==, "");
  g_assert_false (fz_dns_name_parse (&n, "www.example..com"));
  g_assert_cmpuint (n.n_labels, ==, 0);
  g_assert_cmpstr (n.text, ==, "");
}

/* Firezone's own ordering test, most specific first. */
static void
test_specificity (void)
{
  static const char *ordered[] = {
    "example.com",     "bar.example.com", "*.bar.example.com",
    "foo.example.com", "?.example.com",   "*.example.com",
    "**.example.com",  "*ample.com",      "*.com",
  };
  static const char *pairs[][2] = {
    /* the first is more specific than the second */
    { "foo.example.com", "?oo.example.com" },
    { "?oo.example.com", "*oo.example.com" },
    { "?.example.com", "*.example.com" },
    { "*.example.com", "**.example.com" },
    { "*.foo.example.com", "*.example.com" },
    { "**.foo.example.com", "*.example.com" },
    { "**.example.com", "*ample.com" },
    { "**.example.com", "app.**.example.com" }, /* Firezone: shorter first */
    { "a.b.c.d", "**" },
    { "*.com", "**" },
  };
  GPtrArray *ps = g_ptr_array_new_with_free_func ((GDestroyNotify) fz_dns_pattern_free);

  for (guint i = 0; i < G_N_ELEMENTS (ordered); i++)
    g_ptr_array_add (ps, fz_dns_pattern_new (ordered[i], NULL));
  for (guint i = 0; i < ps->len; i++)
    for (guint j = 0; j < ps->len; j++)
      {
        int c = fz_dns_pattern_compare (ps->pdata[i], ps->pdata[j]);
        int want = i < j ? -1 : i > j ? 1 : 0;

        if ((c > 0) - (c < 0) != want)
          g_error ("%s vs %s: %d", ordered[i], ordered[j], c);
      }
  g_ptr_array_unref (ps);

  for (guint i = 0; i < G_N_ELEMENTS (pairs); i++)
    {
      g_autoptr (FzDnsPattern) a = fz_dns_pattern_new (pairs[i][0], NULL);
      g_autoptr (FzDnsPattern) b = fz_dns_pattern_new (pairs[i][1], NULL);

      g_assert_cmpint (fz_dns_pattern_compare (a, b), <, 0);
      g_assert_cmpint (fz_dns_pattern_compare (b, a), >, 0);
    }
}

static void
test_set_basic (void)
{
  g_autoptr (FzDnsResourceSet) set = fz_dns_resource_set_new ();
  g_autoptr (GError) error = NULL;
  const char *ids[8];
  FzDnsName n;

  g_assert_true (fz_dns_resource_set_add (set, "r-any", "**.corp.example", NULL));
  g_assert_true (fz_dns_resource_set_add (set, "r-one", "*.corp.example", NULL));
  g_assert_true (fz_dns_resource_set_add (set, "r-git", "git.corp.example", NULL));
  g_assert_true (fz_dns_resource_set_add (set, "r-q", "gi?.corp.example", NULL));
  g_assert_false (fz_dns_resource_set_add (set, "r-bad", "a**.corp.example", &error));
  g_assert_error (error, FZ_DNS_PATTERN_ERROR, FZ_DNS_PATTERN_ERROR_INVALID);
  g_assert_cmpuint (fz_dns_resource_set_size (set), ==, 4);

  g_assert_true (fz_dns_name_parse (&n, "GIT.corp.example."));
  g_assert_cmpstr (fz_dns_resource_set_lookup (set, &n), ==, "r-git");
  g_assert_cmpuint (fz_dns_resource_set_lookup_all (set, &n, ids, 8), ==, 4);
  g_assert_cmpstr (ids[0], ==, "r-git");
  g_assert_cmpstr (ids[1], ==, "r-q");
  g_assert_cmpstr (ids[2], ==, "r-one");
  g_assert_cmpstr (ids[3], ==, "r-any");
  g_assert_cmpuint (fz_dns_resource_set_lookup_all (set, &n, ids, 2), ==, 2);
  g_assert_cmpstr (ids[1], ==, "r-q");

  g_assert_true (fz_dns_name_parse (&n, "corp.example"));
  g_assert_cmpstr (fz_dns_resource_set_lookup (set, &n), ==, "r-one");
  g_assert_true (fz_dns_name_parse (&n, "a.b.corp.example"));
  g_assert_cmpstr (fz_dns_resource_set_lookup (set, &n), ==, "r-any");
  g_assert_true (fz_dns_name_parse (&n, "example"));
  g_assert_null (fz_dns_resource_set_lookup (set, &n));
  g_assert_true (fz_dns_name_parse (&n, ""));
  g_assert_null (fz_dns_resource_set_lookup (set, &n));

  /* Replacing a resource's pattern moves it. */
  g_assert_true (fz_dns_resource_set_add (set, "r-git", "git.other.example", NULL));
  g_assert_cmpuint (fz_dns_resource_set_size (set), ==, 4);
  g_assert_true (fz_dns_name_parse (&n, "git.corp.example"));
  g_assert_cmpstr (fz_dns_resource_set_lookup (set, &n), ==, "r-q");
  g_assert_cmpstr (
    fz_dns_pattern_get_text (fz_dns_resource_set_get_pattern (set, "r-git")), ==,
    "git.other.example");
  /* A failed replacement leaves it. */
  g_assert_false (fz_dns_resource_set_add (set, "r-git", "", NULL));
  g_assert_nonnull (fz_dns_resource_set_get_pattern (set, "r-git"));

  g_assert_true (fz_dns_resource_set_remove (set, "r-q"));
  g_assert_false (fz_dns_resource_set_remove (set, "r-q"));
  g_assert_cmpstr (fz_dns_resource_set_lookup (set, &n), ==, "r-one");

  /* The same pattern twice: the greater id wins, as in Firezone. */
  g_assert_true (fz_dns_resource_set_add (set, "r-a", "x.example", NULL));
  g_assert_true (fz_dns_resource_set_add (set, "r-b", "X.example.", NULL));
  g_assert_true (fz_dns_name_parse (&n, "x.example"));
  g_assert_cmpstr (fz_dns_resource_set_lookup (set, &n), ==, "r-b");
}

/* ---- the set against a linear scan ---- */

static char *
random_pattern (GRand *rand)
{
  static const char *labels[]
    = { "a", "b", "ab", "*", "**", "?", "a*", "*b", "?b", "a?" };
  static const char *literals[] = { "a", "b", "ab", "c" };
  guint n = g_rand_int_range (rand, 1, 5);
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    {
      /* Mostly literal towards the end, as real patterns are. */
      gboolean lit = i + 1 >= n - 1 ? g_rand_int_range (rand, 0, 3) != 0 : FALSE;
      const char *l = lit ? literals[g_rand_int_range (rand, 0, G_N_ELEMENTS (literals))]
                          : labels[g_rand_int_range (rand, 0, G_N_ELEMENTS (labels))];

      g_string_append_printf (s, "%s%s", i > 0 ? "." : "", l);
    }
  return g_string_free (s, FALSE);
}

static char *
random_name (GRand *rand)
{
  static const char *labels[] = { "a", "b", "ab", "ba", "c", "abb" };
  guint n = g_rand_int_range (rand, 1, 6);
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    g_string_append_printf (s, "%s%s", i > 0 ? "." : "",
                            labels[g_rand_int_range (rand, 0, G_N_ELEMENTS (labels))]);
  return g_string_free (s, FALSE);
}

typedef struct
{
  char *id;
  FzDnsPattern *p;
} RefEntry;

/* The reference: every pattern that matches, most specific first by a
 * plain selection sort over the whole list. */
static guint
ref_lookup_all (GPtrArray *ref, const FzDnsName *name, const char **ids, guint max)
{
  g_autoptr (GPtrArray) hits = g_ptr_array_new ();
  guint n = 0;

  for (guint i = 0; i < ref->len; i++)
    {
      RefEntry *e = ref->pdata[i];
      if (e->p != NULL && fz_dns_pattern_matches_name (e->p, name))
        g_ptr_array_add (hits, e);
    }
  while (hits->len > 0 && n < max)
    {
      guint best = 0;
      for (guint i = 1; i < hits->len; i++)
        {
          RefEntry *a = hits->pdata[i], *b = hits->pdata[best];
          int c = fz_dns_pattern_compare (a->p, b->p);
          if (c < 0 || (c == 0 && strcmp (a->id, b->id) > 0))
            best = i;
        }
      ids[n++] = ((RefEntry *) hits->pdata[best])->id;
      g_ptr_array_remove_index (hits, best);
    }
  return n;
}

static void
test_set_random (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (12);
  guint checked = 0, matched = 0;

  for (guint round = 0; round < 60; round++)
    {
      g_autoptr (FzDnsResourceSet) set = fz_dns_resource_set_new ();
      RefEntry ref_entries[40] = { { 0 } };
      GPtrArray *ref = g_ptr_array_new ();

      for (guint i = 0; i < G_N_ELEMENTS (ref_entries); i++)
        {
          ref_entries[i].id = g_strdup_printf ("r%02u", i);
          g_ptr_array_add (ref, &ref_entries[i]);
        }
      for (guint step = 0; step < 300; step++)
        {
          RefEntry *e
            = &ref_entries[g_rand_int_range (rand, 0, G_N_ELEMENTS (ref_entries))];

          if (g_rand_int_range (rand, 0, 5) == 0)
            {
              g_assert_cmpint (fz_dns_resource_set_remove (set, e->id), ==, e->p != NULL);
              g_clear_pointer (&e->p, fz_dns_pattern_free);
            }
          else
            {
              g_autofree char *text = random_pattern (rand);
              g_assert_true (fz_dns_resource_set_add (set, e->id, text, NULL));
              fz_dns_pattern_free (e->p);
              e->p = fz_dns_pattern_new (text, NULL);
            }

          g_autofree char *name_text = random_name (rand);
          const char *got[40], *want[40];
          FzDnsName name;

          g_assert_true (fz_dns_name_parse (&name, name_text));
          guint n_got = fz_dns_resource_set_lookup_all (set, &name, got, 40);
          guint n_want = ref_lookup_all (ref, &name, want, 40);
          g_assert_cmpuint (n_got, ==, n_want);
          for (guint i = 0; i < n_got; i++)
            g_assert_cmpstr (got[i], ==, want[i]);
          g_assert_cmpstr (fz_dns_resource_set_lookup (set, &name), ==,
                           n_want ? want[0] : NULL);
          checked++;
          matched += n_want > 0;
        }
      for (guint i = 0; i < G_N_ELEMENTS (ref_entries); i++)
        {
          g_free (ref_entries[i].id);
          fz_dns_pattern_free (ref_entries[i].p);
        }
      g_ptr_array_unref (ref);
    }
  /* The random names must hit patterns often enough to test anything. */
  g_assert_cmpuint (matched, >, checked / 4);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dns-pattern/valid", test_valid);
  g_test_add_func ("/dns-pattern/bounds", test_bounds);
  g_test_add_func ("/dns-pattern/invalid", test_invalid);
  g_test_add_func ("/dns-pattern/matches", test_matches);
  g_test_add_func ("/dns-pattern/name-wire", test_name_wire);
  g_test_add_func ("/dns-pattern/specificity", test_specificity);
  g_test_add_func ("/dns-resource-set/basic", test_set_basic);
  g_test_add_func ("/dns-resource-set/random", test_set_random);
  return g_test_run ();
}
