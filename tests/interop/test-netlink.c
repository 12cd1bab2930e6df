/* FzNetlink and FzNetlinkMonitor against the kernel, in a network
 * namespace of the test's own (root). What they did is read back with
 * `ip -j` (iproute2, a reader independent of libnl); libnl only builds
 * the scenery (veth pairs, stray addresses and routes). */
#define _GNU_SOURCE /* unshare */
#include <net/if.h>

#include "fz-netlink-private.h"
#include "fz-tun.h"

#include <json-glib/json-glib.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#define TUN_NAME "fz-nl0"
#define TABLE    100
#define MARK     0x20210
#define PRIO     1000

static char *no_netns; /* why the cases cannot run here, or NULL */
static FzTun *tun;
static int tun_index;
static FzNetlink *nl;
static struct nl_sock *scenery; /* libnl, for the test's own setup */

/* A missing prerequisite skips on a developer's machine but fails under
 * FZ_REQUIRE_ALL=1 (CI), as tests/lib.sh does for scripts. */
static gboolean
have_netns (void)
{
  if (no_netns == NULL)
    return TRUE;
  if (g_strcmp0 (g_getenv ("FZ_REQUIRE_ALL"), "1") == 0)
    g_test_fail_printf ("FZ_REQUIRE_ALL=1: %s", no_netns);
  else
    g_test_skip (no_netns);
  return FALSE;
}

/* `ip -j ARGS` as a JSON array. */
static JsonArray *ip_json (const char *format, ...) G_GNUC_PRINTF (1, 2);

static JsonArray *
ip_json (const char *format, ...)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *args = NULL, *cmd = NULL, *out = NULL, *err = NULL;
  g_auto (GStrv) argv = NULL;
  g_autoptr (JsonNode) node = NULL;
  va_list ap;
  int status;

  va_start (ap, format);
  args = g_strdup_vprintf (format, ap);
  va_end (ap);
  cmd = g_strdup_printf ("ip -j %s", args);
  g_assert_true (g_shell_parse_argv (cmd, NULL, &argv, NULL));
  g_assert_true (g_spawn_sync (NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, &error))
    g_error ("%s: %s: %s", cmd, error->message, err);
  g_strstrip (out);
  if (out[0] == '\0')
    return json_array_new ();
  node = json_from_string (out, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (node));
  return json_array_ref (json_node_get_array (node));
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

/* The strings sorted and joined by spaces: one comparable line. */
static char *
joined (GPtrArray *items)
{
  g_ptr_array_sort (items, compare_strings);
  g_ptr_array_add (items, NULL);
  return g_strjoinv (" ", (char **) items->pdata);
}

static const char *
member_or (JsonObject *o, const char *name, const char *fallback)
{
  return json_object_has_member (o, name) ? json_object_get_string_member (o, name)
                                          : fallback;
}

/* "ADDR/LEN" of each address of @dev, sorted. With @nodad_only, every
 * IPv6 one must be NODAD and none tentative. */
static char *
addresses_of (const char *dev, gboolean nodad_only)
{
  g_autoptr (JsonArray) links = ip_json ("addr show dev %s", dev);
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func (g_free);
  JsonArray *info;

  g_assert_cmpuint (json_array_get_length (links), ==, 1);
  info = json_object_get_array_member (json_array_get_object_element (links, 0),
                                       "addr_info");
  for (guint i = 0; i < json_array_get_length (info); i++)
    {
      JsonObject *a = json_array_get_object_element (info, i);

      if (nodad_only
          && g_str_equal (json_object_get_string_member (a, "family"), "inet6"))
        {
          g_assert_true (json_object_has_member (a, "nodad"));
          g_assert_false (json_object_has_member (a, "tentative"));
        }
      g_ptr_array_add (items,
                       g_strdup_printf ("%s/%" G_GINT64_FORMAT,
                                        json_object_get_string_member (a, "local"),
                                        json_object_get_int_member (a, "prefixlen")));
    }
  return joined (items);
}

/* "DST PROTO[ SCOPE]" of each route of @dev in @table (IPv4 and IPv6). */
static char *
routes_of (const char *dev, guint table)
{
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func (g_free);

  for (int v = 4; v <= 6; v += 2)
    {
      g_autoptr (JsonArray) routes
        = ip_json ("-%d route show table %u dev %s", v, table, dev);

      for (guint i = 0; i < json_array_get_length (routes); i++)
        {
          JsonObject *r = json_array_get_object_element (routes, i);
          const char *scope = member_or (r, "scope", NULL);

          g_ptr_array_add (
            items, g_strdup_printf ("%s %s%s%s", json_object_get_string_member (r, "dst"),
                                    member_or (r, "protocol", "?"), scope ? " " : "",
                                    scope ? scope : ""));
        }
    }
  return joined (items);
}

static void
assert_routes (const char *dev, guint table, const char *expected)
{
  g_autofree char *routes = routes_of (dev, table);

  g_assert_cmpstr (routes, ==, expected);
}

static void
add_scenery_address (const char *dev, const char *text, guint flags, gboolean deprecated)
{
  g_autoptr (GError) error = NULL;
  struct rtnl_addr *a = rtnl_addr_alloc ();
  struct nl_addr *local = NULL;

  g_assert_cmpint (nl_addr_parse (text, AF_UNSPEC, &local), ==, 0);
  rtnl_addr_set_ifindex (a, fz_netlink_link_index (nl, dev, &error));
  g_assert_no_error (error);
  g_assert_cmpint (rtnl_addr_set_local (a, local), ==, 0);
  rtnl_addr_set_prefixlen (a, nl_addr_get_prefixlen (local));
  rtnl_addr_set_flags (a, flags);
  if (deprecated)
    {
      rtnl_addr_set_preferred_lifetime (a, 0);
      rtnl_addr_set_valid_lifetime (a, 3600);
    }
  g_assert_cmpint (rtnl_addr_add (scenery, a, 0), ==, 0);
  nl_addr_put (local);
  rtnl_addr_put (a);
}

static void
set_scenery_up (const char *dev, gboolean up)
{
  struct rtnl_link *orig = NULL, *change = rtnl_link_alloc ();

  g_assert_cmpint (rtnl_link_get_kernel (scenery, 0, dev, &orig), ==, 0);
  if (up)
    rtnl_link_set_flags (change, IFF_UP);
  else
    rtnl_link_unset_flags (change, IFF_UP);
  g_assert_cmpint (rtnl_link_change (scenery, orig, change, 0), ==, 0);
  rtnl_link_put (orig);
  rtnl_link_put (change);
}

/* A veth pair: @a up through FzNetlink (no link-local address), @b as
 * asked. Made once; later calls only return @a's index. */
static int
veth_pair (const char *a, const char *b, gboolean b_up)
{
  g_autoptr (GError) error = NULL;
  int index;

  if (if_nametoindex (a) == 0)
    {
      g_assert_cmpint (rtnl_link_veth_add (scenery, a, b, getpid ()), ==, 0);
      index = fz_netlink_link_index (nl, a, &error);
      g_assert_no_error (error);
      g_assert_true (fz_netlink_link_up (nl, index, 1500, 1000, &error));
      g_assert_no_error (error);
      if (b_up)
        {
          g_assert_true (
            fz_netlink_link_up (nl, (int) if_nametoindex (b), 1500, 1000, &error));
          g_assert_no_error (error);
        }
    }
  return (int) if_nametoindex (a);
}

static void
set_tun_addresses (const char *const *texts, guint n)
{
  g_autoptr (GError) error = NULL;
  FzIpAddr addrs[8];

  g_assert_cmpuint (n, <=, G_N_ELEMENTS (addrs));
  for (guint i = 0; i < n; i++)
    g_assert_true (fz_ip_addr_parse (&addrs[i], texts[i]));
  g_assert_true (fz_netlink_set_addresses (nl, tun_index, addrs, n, &error));
  g_assert_no_error (error);
}

static void
set_routes (int ifindex, guint32 table, const char *const *texts, guint n)
{
  g_autoptr (GError) error = NULL;
  FzIpPrefix routes[8];

  g_assert_cmpuint (n, <=, G_N_ELEMENTS (routes));
  for (guint i = 0; i < n; i++)
    g_assert_true (fz_ip_prefix_parse (&routes[i], texts[i]));
  g_assert_true (fz_netlink_set_routes (nl, ifindex, table, routes, n, &error));
  g_assert_no_error (error);
}

static void
test_link_index (void)
{
  g_autoptr (GError) error = NULL;

  if (!have_netns ())
    return;
  g_assert_cmpint (tun_index, >, 0);
  g_assert_cmpint (tun_index, ==, (int) if_nametoindex (TUN_NAME));
  g_assert_cmpint (fz_netlink_link_index (nl, "fz-missing", &error), ==, 0);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "fz-missing"));
  g_clear_error (&error);
  g_assert_cmpint (fz_netlink_link_index (nl, "a-name-far-too-long", &error), ==, 0);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

static void
test_link_up (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonArray) links = NULL;
  g_autofree char *addrs = NULL;
  JsonObject *link;
  JsonArray *flags;
  gboolean up = FALSE;

  if (!have_netns ())
    return;
  g_assert_true (fz_netlink_link_up (nl, tun_index, 1280, 10000, &error));
  g_assert_no_error (error);
  /* again: nothing changes, nothing fails */
  g_assert_true (fz_netlink_link_up (nl, tun_index, 1280, 10000, &error));
  g_assert_no_error (error);
  links = ip_json ("-d link show dev %s", TUN_NAME);
  link = json_array_get_object_element (links, 0);
  g_assert_cmpint (json_object_get_int_member (link, "mtu"), ==, 1280);
  g_assert_cmpint (json_object_get_int_member (link, "txqlen"), ==, 10000);
  g_assert_cmpstr (json_object_get_string_member (link, "inet6_addr_gen_mode"), ==,
                   "none");
  flags = json_object_get_array_member (link, "flags");
  for (guint i = 0; i < json_array_get_length (flags); i++)
    up |= g_str_equal (json_array_get_string_element (flags, i), "UP");
  g_assert_true (up);
  /* no link-local address came with it */
  addrs = addresses_of (TUN_NAME, TRUE);
  g_assert_cmpstr (addrs, ==, "");
}

/* The kernel's creation time of @text on the TUN (hundredths of a second). */
static guint32
created (const char *text)
{
  struct nl_cache *cache = NULL;
  guint32 t = 0;
  FzIpAddr want;

  g_assert_true (fz_ip_addr_parse (&want, text));
  g_assert_cmpint (rtnl_addr_alloc_cache (scenery, &cache), ==, 0);
  for (struct nl_object *o = nl_cache_get_first (cache); o; o = nl_cache_get_next (o))
    {
      struct rtnl_addr *a = (struct rtnl_addr *) o;
      struct nl_addr *local = rtnl_addr_get_local (a);

      if (rtnl_addr_get_ifindex (a) == tun_index && nl_addr_get_len (local) == 16
          && memcmp (nl_addr_get_binary_addr (local), want.bytes, 16) == 0)
        t = rtnl_addr_get_create_time (a);
    }
  nl_cache_free (cache);
  g_assert_cmpuint (t, >, 0);
  return t;
}

static void
test_addresses (void)
{
  static const char *const first[] = { "100.64.0.1", "fd00:2021:1111::1" };
  static const char *const second[]
    = { "100.64.0.2", "fd00:2021:1111::1", "fd00:2021:1111::2" };
  g_autoptr (GError) error = NULL;
  g_autofree char *a1 = NULL, *a2 = NULL, *a3 = NULL;
  FzIpAddr none = { 0 };
  guint32 t;

  if (!have_netns ())
    return;
  /* strays: a subnet-sized one and a link-local one */
  add_scenery_address (TUN_NAME, "100.64.0.9/11", 0, FALSE);
  add_scenery_address (TUN_NAME, "fe80::9/64", IFA_F_NODAD, FALSE);
  set_tun_addresses (first, G_N_ELEMENTS (first));
  a1 = addresses_of (TUN_NAME, TRUE);
  g_assert_cmpstr (a1, ==, "100.64.0.1/32 fd00:2021:1111::1/128");

  t = created ("fd00:2021:1111::1");
  g_usleep (100 * 1000);
  set_tun_addresses (second, G_N_ELEMENTS (second));
  a2 = addresses_of (TUN_NAME, TRUE);
  g_assert_cmpstr (a2, ==, "100.64.0.2/32 fd00:2021:1111::1/128 fd00:2021:1111::2/128");
  g_assert_cmpuint (created ("fd00:2021:1111::1"), ==, t); /* untouched */
  set_tun_addresses (second, G_N_ELEMENTS (second));

  set_tun_addresses (NULL, 0);
  a3 = addresses_of (TUN_NAME, TRUE);
  g_assert_cmpstr (a3, ==, "");

  g_assert_false (fz_netlink_set_addresses (nl, tun_index, &none, 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void
add_stray_route (const char *dst_text)
{
  struct rtnl_route *r = rtnl_route_alloc ();
  struct rtnl_nexthop *nh = rtnl_route_nh_alloc ();
  struct nl_addr *dst = NULL;

  g_assert_cmpint (nl_addr_parse (dst_text, AF_UNSPEC, &dst), ==, 0);
  rtnl_route_set_table (r, RT_TABLE_MAIN);
  rtnl_route_set_protocol (r, RTPROT_BOOT);
  rtnl_route_set_scope (r, RT_SCOPE_LINK);
  g_assert_cmpint (rtnl_route_set_dst (r, dst), ==, 0);
  rtnl_route_nh_set_ifindex (nh, tun_index);
  rtnl_route_add_nexthop (r, nh);
  g_assert_cmpint (rtnl_route_add (scenery, r, NLM_F_EXCL), ==, 0);
  nl_addr_put (dst);
  rtnl_route_put (r);
}

static void
test_routes (void)
{
  static const char *const other[] = { "192.0.2.0/24" };
  static const char *const main1[] = { "10.0.0.0/8", "fd00:2021:1111::/107" };
  static const char *const dup[] = { "10.0.0.0/8", "fd00:2021:1111::/107", "10.0.0.0/8" };
  static const char *const main2[] = { "10.0.0.0/8", "172.16.0.0/12" };
  static const char *const custom[] = { "0.0.0.0/0", "::/0" };
  static const char *const ours[] = { "fd00:2021:1111::1" };
  int v0;

  if (!have_netns ())
    return;
  v0 = veth_pair ("fz-nlv0", "fz-nlv1", TRUE);
  set_routes (v0, RT_TABLE_MAIN, other, 1);
  set_tun_addresses (ours, 1); /* the kernel adds a route for it: it stays */
  add_stray_route ("203.0.113.0/24");

  set_routes (tun_index, RT_TABLE_MAIN, main1, 2);
  set_routes (tun_index, RT_TABLE_MAIN, main1, 2); /* idempotent */
  set_routes (tun_index, RT_TABLE_MAIN, dup, 3);   /* one of each */
  assert_routes (TUN_NAME, RT_TABLE_MAIN,
                 "10.0.0.0/8 static link fd00:2021:1111::/107 static "
                 "fd00:2021:1111::1 kernel");
  set_routes (tun_index, TABLE, custom, 2);
  assert_routes (TUN_NAME, TABLE, "default static default static link");

  set_routes (tun_index, RT_TABLE_MAIN, main2, 2);
  assert_routes (TUN_NAME, RT_TABLE_MAIN,
                 "10.0.0.0/8 static link 172.16.0.0/12 static link "
                 "fd00:2021:1111::1 kernel");
  set_routes (tun_index, RT_TABLE_MAIN, NULL, 0);
  assert_routes (TUN_NAME, RT_TABLE_MAIN, "fd00:2021:1111::1 kernel");
  /* the other table and the other link's route are untouched */
  assert_routes (TUN_NAME, TABLE, "default static default static link");
  assert_routes ("fz-nlv0", RT_TABLE_MAIN, "192.0.2.0/24 static link");
  set_routes (tun_index, TABLE, NULL, 0);
  assert_routes (TUN_NAME, TABLE, "");
  set_tun_addresses (NULL, 0);
}

/* How many rules `ip -j rule` shows at PRIO for IPv@v; each must have
 * MARK and TABLE, and @inverted of them the "not". */
static guint
rules_at_prio_inverted (int v, guint *inverted)
{
  g_autoptr (JsonArray) rules = ip_json ("-%d rule show", v);
  guint n = 0;

  *inverted = 0;
  for (guint i = 0; i < json_array_get_length (rules); i++)
    {
      JsonObject *r = json_array_get_object_element (rules, i);

      if (json_object_get_int_member (r, "priority") != PRIO)
        continue;
      n++;
      *inverted += json_object_has_member (r, "not");
      g_assert_cmpstr (member_or (r, "fwmark", ""), ==, "0x20210");
      g_assert_cmpstr (member_or (r, "table", ""), ==, "100");
    }
  return n;
}

static guint
rules_at_prio (int v)
{
  guint inverted;

  return rules_at_prio_inverted (v, &inverted);
}

/* Ours (inverted) is there, once, beside @plain others. */
static gboolean
rule_present (int v, guint plain)
{
  guint inverted, n = rules_at_prio_inverted (v, &inverted);

  g_assert_cmpuint (n - inverted, ==, plain);
  g_assert_cmpuint (inverted, <=, 1);
  return inverted == 1;
}

/* "fwmark MARK lookup TABLE" (not inverted) at PRIO, someone else's. */
static void
add_plain_rule (void)
{
  struct rtnl_rule *rule = rtnl_rule_alloc ();

  rtnl_rule_set_family (rule, AF_INET);
  rtnl_rule_set_prio (rule, PRIO);
  rtnl_rule_set_mark (rule, MARK);
  rtnl_rule_set_table (rule, TABLE);
  rtnl_rule_set_action (rule, FR_ACT_TO_TBL);
  g_assert_cmpint (rtnl_rule_add (scenery, rule, NLM_F_EXCL), ==, 0);
  rtnl_rule_put (rule);
}

static void
test_rules (void)
{
  g_autoptr (GError) error = NULL;

  if (!have_netns ())
    return;
  g_assert_cmpuint (rules_at_prio (4), ==, 0);
  g_assert_cmpuint (rules_at_prio (6), ==, 0);
  add_plain_rule (); /* in the way for a kernel that ignores the "not" */
  g_assert_true (fz_netlink_add_rules (nl, MARK, TABLE, PRIO, &error));
  g_assert_no_error (error);
  g_assert_true (fz_netlink_add_rules (nl, MARK, TABLE, PRIO, &error));
  g_assert_no_error (error);
  g_assert_true (rule_present (4, 1));
  g_assert_true (rule_present (6, 0));
  fz_netlink_remove_rules (nl, MARK, TABLE, PRIO);
  g_assert_false (rule_present (4, 1)); /* the plain one stays */
  g_assert_false (rule_present (6, 0));
  fz_netlink_remove_rules (nl, MARK, TABLE, PRIO); /* no warning: fatal here */
  g_assert_false (rule_present (4, 1));
}

static char *
host_addresses (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) addrs = fz_netlink_host_addresses (nl, tun_index, &error);
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func (g_free);
  char buf[FZ_IP_ADDR_STRLEN];

  g_assert_no_error (error);
  for (guint i = 0; i < addrs->len; i++)
    g_ptr_array_add (
      items, g_strdup (fz_ip_addr_to_string (&g_array_index (addrs, FzIpAddr, i), buf)));
  return joined (items);
}

static void
test_host_addresses (void)
{
  static const char *const ours[] = { "100.64.0.1", "fd00:2021:1111::1" };
  g_autofree char *before = NULL, *after = NULL;
  FILE *f;

  if (!have_netns ())
    return;
  set_scenery_up ("lo", TRUE);
  set_tun_addresses (ours, 2);
  veth_pair ("fz-nlv0", "fz-nlv1", TRUE);
  /* DAD of 50 probes keeps the next address tentative for the test */
  f = fopen ("/proc/sys/net/ipv6/conf/fz-nlv0/dad_transmits", "w");
  g_assert_nonnull (f);
  g_assert_cmpint (fputs ("50", f), >=, 0);
  g_assert_cmpint (fclose (f), ==, 0);
  add_scenery_address ("fz-nlv0", "192.0.2.10/24", 0, FALSE);
  add_scenery_address ("fz-nlv0", "2001:db8:1::10/64", IFA_F_NODAD, FALSE);
  add_scenery_address ("fz-nlv0", "fe80::10/64", IFA_F_NODAD, FALSE);
  add_scenery_address ("fz-nlv0", "2001:db8:2::1/64", IFA_F_NODAD, TRUE);
  add_scenery_address ("fz-nlv0", "2001:db8:3::1/64", 0, FALSE);
  /* a link that is down */
  veth_pair ("fz-nlw0", "fz-nlw1", FALSE);
  add_scenery_address ("fz-nlw1", "198.51.100.1/24", 0, FALSE);

  before = host_addresses ();
  g_assert_cmpstr (before, ==, "192.0.2.10 2001:db8:1::10");
  /* and its counterpart once up */
  set_scenery_up ("fz-nlw1", TRUE);
  after = host_addresses ();
  g_assert_cmpstr (after, ==, "192.0.2.10 198.51.100.1 2001:db8:1::10");
  set_tun_addresses (NULL, 0);
}

static void
test_errors (void)
{
  static const char *const ours[] = { "100.64.0.1" };
  static const char *const taken[] = { "198.18.0.0/15" };
  g_autoptr (GError) error = NULL;
  FzIpPrefix route;
  FzIpAddr addr;

  if (!have_netns ())
    return;
  g_assert_true (fz_ip_prefix_parse (&route, "10.0.0.0/8"));
  g_assert_false (fz_netlink_set_routes (nl, 9999, TABLE, &route, 1, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message,
                                   "cannot add route 10.0.0.0/8 to table 100 via "
                                   "interface #9999: "));
  g_clear_error (&error);

  /* another link's route to the same place would take our traffic */
  set_routes (veth_pair ("fz-nlv0", "fz-nlv1", TRUE), TABLE, taken, 1);
  g_assert_true (fz_ip_prefix_parse (&route, taken[0]));
  g_assert_false (fz_netlink_set_routes (nl, tun_index, TABLE, &route, 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_test_message ("%s", error->message);
  g_assert_cmpstr (
    error->message, ==,
    "cannot add route 198.18.0.0/15 to table 100 via fz-nl0: Object exists");
  g_clear_error (&error);
  set_routes (veth_pair ("fz-nlv0", "fz-nlv1", TRUE), TABLE, NULL, 0);

  g_assert_true (fz_ip_addr_parse (&addr, ours[0]));
  g_assert_false (fz_netlink_set_addresses (nl, 9999, &addr, 1, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message,
                                   "cannot add address 100.64.0.1 to interface #9999: "));
  g_clear_error (&error);

  g_assert_false (fz_netlink_link_up (nl, 9999, 1280, 10000, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, "cannot read interface #9999: "));
}

typedef struct
{
  guint calls;
  gint64 at; /* monotonic time of the last call */
} Changes;

static void
on_changed (gpointer data)
{
  Changes *c = data;

  c->calls++;
  c->at = g_get_monotonic_time ();
}

/* Runs the thread-default main context for @ms. */
static void
run_for (guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND;

  while (g_get_monotonic_time () < end)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (5 * 1000);
    }
}

static void
test_monitor (void)
{
  static const char *const ours[] = { "100.64.0.7" };
  g_autoptr (GError) error = NULL;
  g_autoptr (FzNetlinkMonitor) monitor = NULL;
  Changes c = { 0 };
  gint64 last;

  if (!have_netns ())
    return;
  veth_pair ("fz-nlv0", "fz-nlv1", TRUE);
  monitor = fz_netlink_monitor_new (tun_index, on_changed, &c, &error);
  g_assert_no_error (error);
  run_for (200);
  g_assert_cmpuint (c.calls, ==, 0);

  /* the skipped link's changes are ours, not the network's */
  set_tun_addresses (ours, 1);
  set_tun_addresses (NULL, 0);
  run_for (2 * FZ_NETLINK_MONITOR_DEBOUNCE_MS);
  g_assert_cmpuint (c.calls, ==, 0);

  /* a burst is one call, after the quiet time */
  add_scenery_address ("fz-nlv0", "192.0.2.20/24", 0, FALSE);
  run_for (FZ_NETLINK_MONITOR_DEBOUNCE_MS / 2);
  add_scenery_address ("fz-nlv0", "192.0.2.21/24", 0, FALSE);
  add_scenery_address ("fz-nlv0", "2001:db8:9::1/64", IFA_F_NODAD, FALSE);
  last = g_get_monotonic_time ();
  run_for (3 * FZ_NETLINK_MONITOR_DEBOUNCE_MS);
  g_assert_cmpuint (c.calls, ==, 1);
  g_assert_cmpint (c.at - last, >=, (FZ_NETLINK_MONITOR_DEBOUNCE_MS - 50) * 1000);

  /* the peer going down takes the carrier of fz-nlv0: one call */
  set_scenery_up ("fz-nlv1", FALSE);
  run_for (3 * FZ_NETLINK_MONITOR_DEBOUNCE_MS);
  g_assert_cmpuint (c.calls, ==, 2);
  set_scenery_up ("fz-nlv1", TRUE);
  run_for (3 * FZ_NETLINK_MONITOR_DEBOUNCE_MS);
  g_assert_cmpuint (c.calls, ==, 3);

  /* a change of something else about a link (its MTU) is not one */
  g_assert_true (
    fz_netlink_link_up (nl, veth_pair ("fz-nlv0", "fz-nlv1", TRUE), 1400, 1000, &error));
  g_assert_no_error (error);
  run_for (2 * FZ_NETLINK_MONITOR_DEBOUNCE_MS);
  g_assert_cmpuint (c.calls, ==, 3);

  /* a new default route is one; written again the same, none; another
   * table's (a VPN's, ours), none; its removal, one */
  json_array_unref (ip_json ("route add default via 192.0.2.1 dev fz-nlv0"));
  run_for (3 * FZ_NETLINK_MONITOR_DEBOUNCE_MS);
  g_assert_cmpuint (c.calls, ==, 4);
  json_array_unref (ip_json ("route replace default via 192.0.2.1 dev fz-nlv0"));
  json_array_unref (ip_json ("route add default via 192.0.2.1 dev fz-nlv0 table 100"));
  run_for (2 * FZ_NETLINK_MONITOR_DEBOUNCE_MS);
  g_assert_cmpuint (c.calls, ==, 4);
  json_array_unref (ip_json ("route replace default via 192.0.2.2 dev fz-nlv0"));
  run_for (3 * FZ_NETLINK_MONITOR_DEBOUNCE_MS);
  g_assert_cmpuint (c.calls, ==, 5);
  json_array_unref (ip_json ("route del default table 100"));
  json_array_unref (ip_json ("route del default"));
  run_for (3 * FZ_NETLINK_MONITOR_DEBOUNCE_MS);
  g_assert_cmpuint (c.calls, ==, 6);

  /* thousands of routes in another table at once (a client's
   * resources) overrun the socket: the default routes are read again,
   * the same, so no call */
  g_autofree char *batch
    = g_build_filename (g_get_tmp_dir (), "fz-nl-batch.XXXXXX", NULL);
  int fd = g_mkstemp (batch);
  g_assert_cmpint (fd, >=, 0);
  g_autoptr (GString) lines = g_string_new (NULL);
  for (guint i = 0; i < 4000; i++)
    g_string_append_printf (lines, "route add 10.88.%u.%u/32 dev fz-nlv0 table 100\n",
                            i / 250, i % 250 + 1);
  g_assert_true (g_file_set_contents (batch, lines->str, (gssize) lines->len, NULL));
  close (fd);
  json_array_unref (ip_json ("-batch %s", batch));
  unlink (batch);
  run_for (3 * FZ_NETLINK_MONITOR_DEBOUNCE_MS);
  g_assert_cmpuint (c.calls, ==, 6);
  json_array_unref (ip_json ("route flush table 100"));
  run_for (2 * FZ_NETLINK_MONITOR_DEBOUNCE_MS);
  g_assert_cmpuint (c.calls, ==, 6);
}

static void
free_monitor (gpointer data)
{
  FzNetlinkMonitor **monitor = data;

  g_clear_pointer (monitor, fz_netlink_monitor_free);
}

/* The callback may free the monitor. */
static void
test_monitor_freed_in_callback (void)
{
  g_autoptr (GError) error = NULL;
  FzNetlinkMonitor *monitor = NULL;

  if (!have_netns ())
    return;
  veth_pair ("fz-nlv0", "fz-nlv1", TRUE);
  monitor = fz_netlink_monitor_new (0, free_monitor, &monitor, &error);
  g_assert_no_error (error);
  add_scenery_address ("fz-nlv0", "192.0.2.30/24", 0, FALSE);
  run_for (3 * FZ_NETLINK_MONITOR_DEBOUNCE_MS);
  g_assert_null (monitor);
}

/* The namespace is this process's (its main thread's) own: it goes with
 * the process, whatever happens to the test. */
static void
make_netns (void)
{
  g_autoptr (GError) error = NULL;

  if (geteuid () != 0)
    {
      no_netns = g_strdup ("needs root (a network namespace of its own)");
      return;
    }
  if (unshare (CLONE_NEWNET) != 0)
    {
      no_netns = g_strdup_printf ("unshare(CLONE_NEWNET): %s", g_strerror (errno));
      return;
    }
  g_autofree char *ip = g_find_program_in_path ("ip");

  if (ip == NULL)
    {
      no_netns = g_strdup ("needs ip(8) from iproute2 to read back");
      return;
    }
  tun = fz_tun_open_multi (TUN_NAME, FALSE, 1, &error);
  nl = tun != NULL ? fz_netlink_new (&error) : NULL;
  if (nl != NULL)
    tun_index = fz_netlink_link_index (nl, TUN_NAME, &error);
  scenery = nl_socket_alloc ();
  if (error != NULL || scenery == NULL || nl_connect (scenery, NETLINK_ROUTE) != 0)
    no_netns = g_strdup_printf ("no TUN or netlink here: %s",
                                error ? error->message : "libnl socket");
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  make_netns ();
  g_test_add_func ("/netlink/link-index", test_link_index);
  g_test_add_func ("/netlink/link-up", test_link_up);
  g_test_add_func ("/netlink/addresses", test_addresses);
  g_test_add_func ("/netlink/routes", test_routes);
  g_test_add_func ("/netlink/rules", test_rules);
  g_test_add_func ("/netlink/host-addresses", test_host_addresses);
  g_test_add_func ("/netlink/errors", test_errors);
  g_test_add_func ("/netlink/monitor", test_monitor);
  g_test_add_func ("/netlink/monitor-freed-in-callback", test_monitor_freed_in_callback);
  status = g_test_run ();
  g_clear_pointer (&nl, fz_netlink_free);
  g_clear_pointer (&tun, fz_tun_close);
  if (scenery != NULL)
    nl_socket_free (scenery);
  g_free (no_netns);
  return status;
}
