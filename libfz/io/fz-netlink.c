#include <net/if.h> /* before libnl's <linux/if.h>, which then defers to it */

#include "fz-netlink-private.h"

#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <arpa/inet.h>
#include <glib-unix.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>

struct _FzNetlink
{
  struct nl_sock *sock;
};

/* libnl's types under names g_autoptr can take */
typedef struct nl_cache NlCache;
typedef struct nl_addr NlAddr;
typedef struct rtnl_link RtnlLink;
typedef struct rtnl_addr RtnlAddr;
typedef struct rtnl_route RtnlRoute;
typedef struct rtnl_rule RtnlRule;

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NlCache, nl_cache_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NlAddr, nl_addr_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RtnlLink, rtnl_link_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RtnlAddr, rtnl_addr_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RtnlRoute, rtnl_route_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RtnlRule, rtnl_rule_put)

#define LINK_NAME_LEN 32

static GIOErrorEnum
io_code (int err)
{
  switch (-err)
    {
    case NLE_EXIST: return G_IO_ERROR_EXISTS;
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
    case NLE_NOADDR: return G_IO_ERROR_NOT_FOUND;
    case NLE_PERM: return G_IO_ERROR_PERMISSION_DENIED;
    case NLE_INVAL:
    case NLE_RANGE: return G_IO_ERROR_INVALID_ARGUMENT;
    case NLE_OPNOTSUPP:
    case NLE_AF_NOSUPPORT: return G_IO_ERROR_NOT_SUPPORTED;
    default: return G_IO_ERROR_FAILED;
    }
}

/* "WHAT: libnl's reason", @err being libnl's negative code. */
G_GNUC_PRINTF (3, 4)
static void
set_nl_error (GError **error, int err, const char *format, ...)
{
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, G_IO_ERROR, io_code (err), "%s: %s", what, nl_geterror (err));
}

/* The link's name for messages, or its number when it has none (gone). */
static const char *
link_name (int ifindex, char buf[LINK_NAME_LEN])
{
  char name[IF_NAMESIZE];

  if (ifindex > 0 && if_indextoname ((unsigned) ifindex, name) != NULL)
    g_strlcpy (buf, name, LINK_NAME_LEN);
  else
    g_snprintf (buf, LINK_NAME_LEN, "interface #%d", ifindex);
  return buf;
}

static int
af_of (guint8 family)
{
  return family == 4 ? AF_INET : AF_INET6;
}

static struct nl_addr *
nl_addr_from_ip (const FzIpAddr *ip, guint prefix_len)
{
  struct nl_addr *a = nl_addr_build (af_of (ip->family), ip->bytes, fz_ip_addr_len (ip));

  if (a != NULL)
    nl_addr_set_prefixlen (a, (int) prefix_len);
  return a;
}

/* FALSE for families other than IPv4 and IPv6. A short binary address (a
 * default route's destination has none) reads as zeros. */
static gboolean
ip_from_nl_addr (FzIpAddr *ip, struct nl_addr *a)
{
  guint8 bytes[16] = { 0 };
  guint len;

  if (a == NULL)
    return FALSE;
  len = MIN (nl_addr_get_len (a), sizeof bytes);
  memcpy (bytes, nl_addr_get_binary_addr (a), len);
  switch (nl_addr_get_family (a))
    {
    case AF_INET: fz_ip_addr_set_v4 (ip, bytes); return TRUE;
    case AF_INET6: fz_ip_addr_set_v6 (ip, bytes); return TRUE;
    default: return FALSE;
    }
}

/* Checked before anything changes, so a bad argument changes nothing. */
static gboolean
check_family (const FzIpAddr *addr, const char *what, guint i, guint n, GError **error)
{
  if (addr->family == 4 || addr->family == 6)
    return TRUE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "%s %u of %u has no IP family", what, i + 1, n);
  return FALSE;
}

FzNetlink *
fz_netlink_new (GError **error)
{
  g_autoptr (FzNetlink) nl = g_new0 (FzNetlink, 1);
  int err;

  nl->sock = nl_socket_alloc ();
  if (nl->sock == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           "cannot allocate a netlink socket");
      return NULL;
    }
  err = nl_connect (nl->sock, NETLINK_ROUTE);
  if (err < 0)
    {
      set_nl_error (error, err, "cannot open a rtnetlink socket");
      return NULL;
    }
  return g_steal_pointer (&nl);
}

void
fz_netlink_free (FzNetlink *nl)
{
  if (nl == NULL)
    return;
  if (nl->sock != NULL)
    nl_socket_free (nl->sock); /* closes it */
  g_free (nl);
}

int
fz_netlink_link_index (FzNetlink *nl, const char *name, GError **error)
{
  g_autoptr (RtnlLink) link = NULL;
  int err;

  if (strlen (name) == 0 || strlen (name) >= IF_NAMESIZE)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "no network interface can be named '%s'", name);
      return 0;
    }
  err = rtnl_link_get_kernel (nl->sock, 0, name, &link);
  if (err < 0)
    {
      /* the kernel's ENODEV comes back as one of several libnl codes */
      g_set_error (error, G_IO_ERROR,
                   err == -NLE_PERM ? G_IO_ERROR_PERMISSION_DENIED : G_IO_ERROR_NOT_FOUND,
                   "cannot find network interface %s: %s", name, nl_geterror (err));
      return 0;
    }
  return rtnl_link_get_ifindex (link);
}

gboolean
fz_netlink_link_up (FzNetlink *nl, int ifindex, guint mtu, guint txqueuelen,
                    GError **error)
{
  g_autoptr (RtnlLink) orig = NULL;
  g_autoptr (RtnlLink) gen = rtnl_link_alloc ();
  g_autoptr (RtnlLink) up = rtnl_link_alloc ();
  char name[LINK_NAME_LEN];
  int err;

  err = rtnl_link_get_kernel (nl->sock, ifindex, NULL, &orig);
  if (err < 0)
    {
      set_nl_error (error, err, "cannot read %s", link_name (ifindex, name));
      return FALSE;
    }
  /* In its own request and first: the kernel applies IFLA_AF_SPEC after
   * the flags, and a link that came up with EUI-64 generation would
   * already have a link-local address (and run DAD on it). */
  rtnl_link_inet6_set_addr_gen_mode (gen, IN6_ADDR_GEN_MODE_NONE);
  err = rtnl_link_change (nl->sock, orig, gen, 0);
  if (err < 0 && err != -NLE_AF_NOSUPPORT) /* IPv6 off on this link */
    {
      set_nl_error (error, err, "cannot turn off IPv6 address generation on %s",
                    link_name (ifindex, name));
      return FALSE;
    }
  rtnl_link_set_mtu (up, mtu);
  rtnl_link_set_txqlen (up, txqueuelen);
  rtnl_link_set_flags (up, IFF_UP);
  err = rtnl_link_change (nl->sock, orig, up, 0);
  if (err < 0)
    {
      set_nl_error (error, err, "cannot set %s up with MTU %u and txqueuelen %u",
                    link_name (ifindex, name), mtu, txqueuelen);
      return FALSE;
    }
  return TRUE;
}

static struct rtnl_addr *
host_addr_new (int ifindex, const FzIpAddr *ip)
{
  g_autoptr (RtnlAddr) a = rtnl_addr_alloc ();
  g_autoptr (NlAddr) local = nl_addr_from_ip (ip, fz_ip_prefix_max_len (ip->family));

  if (a == NULL || local == NULL)
    return NULL;
  rtnl_addr_set_ifindex (a, ifindex);
  rtnl_addr_set_family (a, af_of (ip->family));
  if (rtnl_addr_set_local (a, local) < 0)
    return NULL;
  rtnl_addr_set_prefixlen (a, (int) fz_ip_prefix_max_len (ip->family));
  /* A TUN has no neighbours to ask: the address is usable at once. */
  if (ip->family == 6)
    rtnl_addr_set_flags (a, IFA_F_NODAD);
  return g_steal_pointer (&a);
}

static gboolean
add_address (FzNetlink *nl, int ifindex, const FzIpAddr *ip, GError **error)
{
  g_autoptr (RtnlAddr) a = host_addr_new (ifindex, ip);
  char name[LINK_NAME_LEN], text[FZ_IP_ADDR_STRLEN];
  int err = a != NULL ? rtnl_addr_add (nl->sock, a, NLM_F_EXCL) : -NLE_NOMEM;

  if (err < 0 && err != -NLE_EXIST)
    {
      set_nl_error (error, err, "cannot add address %s to %s",
                    fz_ip_addr_to_string (ip, text), link_name (ifindex, name));
      return FALSE;
    }
  return TRUE;
}

gboolean
fz_netlink_set_addresses (FzNetlink *nl, int ifindex, const FzIpAddr *addrs, guint n,
                          GError **error)
{
  g_autoptr (NlCache) cache = NULL;
  g_autofree gboolean *have = g_new0 (gboolean, MAX (n, 1));
  char name[LINK_NAME_LEN], text[FZ_IP_ADDR_STRLEN];
  int err;

  for (guint i = 0; i < n; i++)
    if (!check_family (&addrs[i], "address", i, n, error))
      return FALSE;
  err = rtnl_addr_alloc_cache (nl->sock, &cache);
  if (err < 0)
    {
      set_nl_error (error, err, "cannot list the addresses of %s",
                    link_name (ifindex, name));
      return FALSE;
    }
  /* Removals first: an address leaving and one arriving may share a
   * subnet, and a stale one must not be the source of anything new. */
  for (struct nl_object *o = nl_cache_get_first (cache); o; o = nl_cache_get_next (o))
    {
      struct rtnl_addr *a = (struct rtnl_addr *) o;
      gboolean wanted = FALSE;
      FzIpAddr ip;

      if (rtnl_addr_get_ifindex (a) != ifindex
          || !ip_from_nl_addr (&ip, rtnl_addr_get_local (a)))
        continue;
      for (guint i = 0; i < n; i++)
        if (fz_ip_addr_equal (&ip, &addrs[i])
            && (guint) rtnl_addr_get_prefixlen (a) == fz_ip_prefix_max_len (ip.family))
          wanted = have[i] = TRUE;
      if (wanted)
        continue;
      err = rtnl_addr_delete (nl->sock, a, 0);
      if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NOADDR)
        {
          set_nl_error (error, err, "cannot remove address %s/%d from %s",
                        fz_ip_addr_to_string (&ip, text), rtnl_addr_get_prefixlen (a),
                        link_name (ifindex, name));
          return FALSE;
        }
    }
  for (guint i = 0; i < n; i++)
    if (!have[i] && !add_address (nl, ifindex, &addrs[i], error))
      return FALSE;
  return TRUE;
}

static char *
table_name (guint32 table, char buf[16])
{
  g_snprintf (buf, 16, table == RT_TABLE_MAIN ? "main" : "%u", table);
  return buf;
}

/* One of the link's routes in @table that set_routes manages: unicast,
 * not the kernel's, with the link as its only next hop. */
static gboolean
route_is_managed (struct rtnl_route *r, int ifindex, guint32 table, FzIpPrefix *dst)
{
  struct nl_addr *d = rtnl_route_get_dst (r);
  struct rtnl_nexthop *nh;
  FzIpAddr ip;

  if (rtnl_route_get_table (r) != table || rtnl_route_get_type (r) != RTN_UNICAST
      || rtnl_route_get_protocol (r) == RTPROT_KERNEL
      || rtnl_route_get_nnexthops (r) != 1)
    return FALSE;
  nh = rtnl_route_nexthop_n (r, 0);
  if (nh == NULL || rtnl_route_nh_get_ifindex (nh) != ifindex
      || !ip_from_nl_addr (&ip, d))
    return FALSE;
  fz_ip_prefix_init (dst, &ip, (guint) nl_addr_get_prefixlen (d));
  return TRUE;
}

static gboolean
add_route (FzNetlink *nl, int ifindex, guint32 table, const FzIpPrefix *p, GError **error)
{
  g_autoptr (RtnlRoute) r = rtnl_route_alloc ();
  g_autoptr (NlAddr) dst = nl_addr_from_ip (&p->addr, p->len);
  struct rtnl_nexthop *nh = rtnl_route_nh_alloc ();
  char name[LINK_NAME_LEN], text[FZ_IP_PREFIX_STRLEN], tname[16];
  int err = -NLE_NOMEM;

  if (r != NULL && dst != NULL && nh != NULL)
    {
      rtnl_route_set_family (r, (guint8) af_of (p->addr.family));
      rtnl_route_set_table (r, table);
      rtnl_route_set_scope (r, RT_SCOPE_LINK);
      rtnl_route_set_protocol (r, FZ_NETLINK_RTPROT);
      rtnl_route_set_type (r, RTN_UNICAST);
      rtnl_route_set_dst (r, dst);
      rtnl_route_nh_set_ifindex (nh, ifindex);
      rtnl_route_add_nexthop (r, g_steal_pointer (&nh));
      err = rtnl_route_add (nl->sock, r, NLM_F_EXCL);
    }
  if (nh != NULL)
    rtnl_route_nh_free (nh);
  /* Not ours (those were listed): "exists" is another link's route to
   * the same place, which would take our traffic. */
  if (err < 0)
    {
      set_nl_error (error, err, "cannot add route %s to table %s via %s",
                    fz_ip_prefix_to_string (p, text), table_name (table, tname),
                    link_name (ifindex, name));
      return FALSE;
    }
  return TRUE;
}

static guint
prefix_hash (const FzIpPrefix *p)
{
  return fz_ip_addr_hash (&p->addr) * 31 + p->len;
}

gboolean
fz_netlink_set_routes (FzNetlink *nl, int ifindex, guint32 table,
                       const FzIpPrefix *routes, guint n, GError **error)
{
  g_autoptr (NlCache) cache = NULL;
  /* wanted route → whether it is already there; a set, so that a
   * thousand routes are a thousand lookups, not a million compares */
  g_autoptr (GHashTable) want
    = g_hash_table_new ((GHashFunc) prefix_hash, (GEqualFunc) fz_ip_prefix_equal);
  char name[LINK_NAME_LEN], text[FZ_IP_PREFIX_STRLEN], tname[16];
  GHashTableIter it;
  gpointer key, present;
  int err;

  for (guint i = 0; i < n; i++)
    {
      if (!check_family (&routes[i].addr, "route", i, n, error))
        return FALSE;
      g_hash_table_insert (want, (gpointer) &routes[i], GINT_TO_POINTER (FALSE));
    }
  err = rtnl_route_alloc_cache (nl->sock, AF_UNSPEC, 0, &cache);
  if (err < 0)
    {
      set_nl_error (error, err, "cannot list the routes of table %s",
                    table_name (table, tname));
      return FALSE;
    }
  for (struct nl_object *o = nl_cache_get_first (cache); o; o = nl_cache_get_next (o))
    {
      struct rtnl_route *r = (struct rtnl_route *) o;
      FzIpPrefix dst;

      if (!route_is_managed (r, ifindex, table, &dst))
        continue;
      if (g_hash_table_lookup_extended (want, &dst, &key, NULL))
        {
          g_hash_table_insert (want, key, GINT_TO_POINTER (TRUE));
          continue;
        }
      err = rtnl_route_delete (nl->sock, r, 0);
      if (err < 0 && err != -NLE_OBJ_NOTFOUND)
        {
          set_nl_error (error, err, "cannot remove route %s from table %s via %s",
                        fz_ip_prefix_to_string (&dst, text), table_name (table, tname),
                        link_name (ifindex, name));
          return FALSE;
        }
    }
  g_hash_table_iter_init (&it, want);
  while (g_hash_table_iter_next (&it, &key, &present))
    if (!GPOINTER_TO_INT (present) && !add_route (nl, ifindex, table, key, error))
      return FALSE;
  return TRUE;
}

/* Sends a rule request with FIB_RULE_INVERT set, which libnl's rule
 * object cannot carry. */
static int
send_rule (FzNetlink *nl, int family, guint32 mark, guint32 table, guint32 priority,
           gboolean add)
{
  g_autoptr (RtnlRule) rule = rtnl_rule_alloc ();
  struct nl_msg *msg = NULL;
  struct fib_rule_hdr *frh;
  int err;

  if (rule == NULL)
    return -NLE_NOMEM;
  rtnl_rule_set_family (rule, family);
  rtnl_rule_set_prio (rule, priority);
  rtnl_rule_set_mark (rule, mark);
  rtnl_rule_set_table (rule, table);
  rtnl_rule_set_action (rule, FR_ACT_TO_TBL);
  /* The kernel ignores the invert flag when it looks for "the same" rule
   * (NLM_F_EXCL, deletion) but not the protocol: without it, someone's
   * plain "fwmark MARK lookup TABLE" would pass for ours, or be removed. */
  rtnl_rule_set_protocol (rule, FZ_NETLINK_RTPROT);
  err = add ? rtnl_rule_build_add_request (rule, NLM_F_EXCL, &msg)
            : rtnl_rule_build_delete_request (rule, 0, &msg);
  if (err < 0)
    return err;
  frh = nlmsg_data (nlmsg_hdr (msg));
  frh->flags |= FIB_RULE_INVERT;
  return nl_send_sync (nl->sock, msg); /* frees @msg */
}

gboolean
fz_netlink_add_rules (FzNetlink *nl, guint32 mark, guint32 table, guint32 priority,
                      GError **error)
{
  static const int families[] = { AF_INET, AF_INET6 };

  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    {
      int err = send_rule (nl, families[i], mark, table, priority, TRUE);

      if (err < 0 && err != -NLE_EXIST)
        {
          set_nl_error (error, err, "cannot add IPv%d rule %u: not fwmark 0x%x lookup %u",
                        families[i] == AF_INET ? 4 : 6, priority, mark, table);
          return FALSE;
        }
    }
  return TRUE;
}

void
fz_netlink_remove_rules (FzNetlink *nl, guint32 mark, guint32 table, guint32 priority)
{
  static const int families[] = { AF_INET, AF_INET6 };

  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    {
      int err = send_rule (nl, families[i], mark, table, priority, FALSE);

      if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NOADDR)
        g_warning ("cannot remove IPv%d rule %u: not fwmark 0x%x lookup %u: %s",
                   families[i] == AF_INET ? 4 : 6, priority, mark, table,
                   nl_geterror (err));
    }
}

static gboolean
usable_host_address (struct rtnl_addr *a, const FzIpAddr *ip)
{
  static const guint8 link_local[2] = { 0xfe, 0x80 };

  if (ip->family != 6)
    return TRUE;
  if (ip->bytes[0] == link_local[0] && (ip->bytes[1] & 0xc0) == link_local[1])
    return FALSE;
  return (rtnl_addr_get_flags (a)
          & (IFA_F_TENTATIVE | IFA_F_DEPRECATED | IFA_F_DADFAILED))
         == 0;
}

GArray *
fz_netlink_host_addresses (FzNetlink *nl, int skip_ifindex, GError **error)
{
  g_autoptr (NlCache) links = NULL;
  g_autoptr (NlCache) addrs = NULL;
  g_autoptr (GArray) out = g_array_new (FALSE, FALSE, sizeof (FzIpAddr));
  int err;

  err = rtnl_link_alloc_cache (nl->sock, AF_UNSPEC, &links);
  if (err < 0)
    {
      set_nl_error (error, err, "cannot list the network interfaces");
      return NULL;
    }
  err = rtnl_addr_alloc_cache (nl->sock, &addrs);
  if (err < 0)
    {
      set_nl_error (error, err, "cannot list the addresses of the network interfaces");
      return NULL;
    }
  for (struct nl_object *o = nl_cache_get_first (addrs); o; o = nl_cache_get_next (o))
    {
      struct rtnl_addr *a = (struct rtnl_addr *) o;
      int ifindex = rtnl_addr_get_ifindex (a);
      g_autoptr (RtnlLink) link = NULL;
      gboolean seen = FALSE;
      FzIpAddr ip;

      if (ifindex == skip_ifindex || !ip_from_nl_addr (&ip, rtnl_addr_get_local (a))
          || !usable_host_address (a, &ip))
        continue;
      link = rtnl_link_get (links, ifindex);
      if (link == NULL
          || (rtnl_link_get_flags (link) & (IFF_UP | IFF_LOOPBACK)) != IFF_UP)
        continue;
      for (guint i = 0; i < out->len && !seen; i++)
        seen = fz_ip_addr_equal (&g_array_index (out, FzIpAddr, i), &ip);
      if (!seen)
        g_array_append_val (out, ip);
    }
  return g_steal_pointer (&out);
}

/* FzNetlinkMonitor */

/* glibc's <net/if.h> stops before it and hides the kernel's */
#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif

/* The link flags whose change changes which addresses can be used. */
#define LINK_STATE_FLAGS (IFF_UP | IFF_RUNNING | IFF_LOWER_UP)

struct _FzNetlinkMonitor
{
  struct nl_sock *sock;
  struct nl_sock *route_sock; /* routes apart: our own come in thousands */
  GMainContext *context;
  GSource *io, *route_io;
  GSource *quiet;       /* the debounce timer, while a change waits */
  GHashTable *links;    /* ifindex → 1 + its LINK_STATE_FLAGS */
  GHashTable *defaults; /* the main table's default routes, as keys */
  int skip_ifindex;
  gboolean priming; /* reading the initial link dump */
  FzNetlinkChangedFunc func;
  gpointer user_data;
};

static gboolean
on_quiet (gpointer data)
{
  FzNetlinkMonitor *monitor = data;

  g_clear_pointer (&monitor->quiet, g_source_unref);
  monitor->func (monitor->user_data); /* last: it may free @monitor */
  return G_SOURCE_REMOVE;
}

/* Every change restarts the wait: a burst (DHCP, a roam) is one call. */
static void
changed (FzNetlinkMonitor *monitor)
{
  if (monitor->quiet != NULL)
    {
      g_source_destroy (monitor->quiet);
      g_source_unref (monitor->quiet);
    }
  monitor->quiet = g_timeout_source_new (FZ_NETLINK_MONITOR_DEBOUNCE_MS);
  g_source_set_callback (monitor->quiet, on_quiet, monitor, NULL);
  g_source_attach (monitor->quiet, monitor->context);
}

/* Link notifications also come for changes that do not
 * matter (a name, a queue length): only the state flags count. */
static gboolean
link_state_changed (FzNetlinkMonitor *monitor, int ifindex, gboolean gone, guint flags)
{
  gpointer key = GINT_TO_POINTER (ifindex), old;
  gboolean known = g_hash_table_lookup_extended (monitor->links, key, NULL, &old);

  if (gone)
    return g_hash_table_remove (monitor->links, key);
  flags &= LINK_STATE_FLAGS;
  g_hash_table_insert (monitor->links, key, GUINT_TO_POINTER (flags + 1));
  return known ? GPOINTER_TO_UINT (old) != flags + 1 : (flags & IFF_UP) != 0;
}

/* A default route of the main table (not the tunnel's: its table is
 * another, its link skipped) as "family priority oif gateway"; NULL for
 * any other route. */
static char *
default_route_key (FzNetlinkMonitor *monitor, struct nlmsghdr *h)
{
  const struct rtmsg *rtm = nlmsg_data (h);
  struct nlattr *tb[RTA_MAX + 1];
  guint32 table = rtm->rtm_table, oif = 0, prio = 0;
  char gw[INET6_ADDRSTRLEN] = "-";

  if (rtm->rtm_dst_len != 0 || rtm->rtm_type != RTN_UNICAST
      || nlmsg_parse (h, sizeof (struct rtmsg), tb, RTA_MAX, NULL) < 0)
    return NULL;
  if (tb[RTA_TABLE] != NULL)
    table = nla_get_u32 (tb[RTA_TABLE]);
  if (tb[RTA_OIF] != NULL)
    oif = nla_get_u32 (tb[RTA_OIF]);
  if (tb[RTA_PRIORITY] != NULL)
    prio = nla_get_u32 (tb[RTA_PRIORITY]);
  if (table != RT_TABLE_MAIN
      || (monitor->skip_ifindex != 0 && (int) oif == monitor->skip_ifindex))
    return NULL;
  if (tb[RTA_GATEWAY] != NULL
      && (size_t) nla_len (tb[RTA_GATEWAY]) == (rtm->rtm_family == AF_INET ? 4u : 16u))
    inet_ntop (rtm->rtm_family, nla_data (tb[RTA_GATEWAY]), gw, sizeof gw);
  return g_strdup_printf ("%u %u %u %s", rtm->rtm_family, prio, oif, gw);
}

/* Whether the set of default routes changed: a route written again as it
 * was (a network manager refreshing it) is no change. A replacement
 * (NLM_F_REPLACE, no RTM_DELROUTE for the old one) takes the place of
 * those of its family and priority. Routes the kernel flushes without a
 * word (IPv4 ones with their address or link) may stay in the set: the
 * address or link change that flushed them counts already. */
static gboolean
default_route_changed (FzNetlinkMonitor *monitor, GHashTable *defaults,
                       struct nlmsghdr *h)
{
  g_autofree char *key = NULL;
  gboolean had_key = FALSE;
  guint removed = 0;

  if (!nlmsg_valid_hdr (h, sizeof (struct rtmsg)))
    return FALSE;
  key = default_route_key (monitor, h);
  if (key == NULL)
    return FALSE;
  if (h->nlmsg_type == RTM_DELROUTE)
    return g_hash_table_remove (defaults, key);
  if (h->nlmsg_flags & NLM_F_REPLACE)
    {
      /* "family priority " */
      gsize prefix = (gsize) (strchr (strchr (key, ' ') + 1, ' ') - key + 1);
      GHashTableIter it;
      gpointer k;

      g_hash_table_iter_init (&it, defaults);
      while (g_hash_table_iter_next (&it, &k, NULL))
        if (strncmp (k, key, prefix) == 0)
          {
            had_key = had_key || g_str_equal (k, key);
            g_hash_table_iter_remove (&it);
            removed++;
          }
      g_hash_table_add (defaults, g_steal_pointer (&key));
      return !(removed == 1 && had_key);
    }
  return g_hash_table_add (defaults, g_steal_pointer (&key));
}

typedef struct
{
  FzNetlinkMonitor *monitor;
  GHashTable *defaults;
} RouteDump;

static int
on_route_dumped (struct nl_msg *msg, void *data)
{
  RouteDump *d = data;
  struct nlmsghdr *h = nlmsg_hdr (msg);

  if (h->nlmsg_type == RTM_NEWROUTE)
    default_route_changed (d->monitor, d->defaults, h);
  return NL_OK;
}

/* The default routes as they are now, from a dump on a socket of its
 * own; NULL when it fails. */
static GHashTable *
dump_default_routes (FzNetlinkMonitor *monitor)
{
  RouteDump d
    = { monitor, g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL) };
  struct nl_sock *sock = nl_socket_alloc ();
  int err = sock != NULL ? nl_connect (sock, NETLINK_ROUTE) : -NLE_NOMEM;

  if (err >= 0)
    err = nl_socket_modify_cb (sock, NL_CB_VALID, NL_CB_CUSTOM, on_route_dumped, &d);
  if (err >= 0)
    err = nl_rtgen_request (sock, RTM_GETROUTE, AF_UNSPEC, NLM_F_DUMP);
  if (err >= 0)
    err = nl_recvmsgs_default (sock);
  if (sock != NULL)
    nl_socket_free (sock);
  if (err < 0)
    {
      g_debug ("netlink monitor: cannot list the routes: %s", nl_geterror (err));
      g_clear_pointer (&d.defaults, g_hash_table_unref);
    }
  return d.defaults;
}

static gboolean
same_set (GHashTable *a, GHashTable *b)
{
  GHashTableIter it;
  gpointer k;

  if (g_hash_table_size (a) != g_hash_table_size (b))
    return FALSE;
  g_hash_table_iter_init (&it, a);
  while (g_hash_table_iter_next (&it, &k, NULL))
    if (!g_hash_table_contains (b, k))
      return FALSE;
  return TRUE;
}

static int
on_route_message (struct nl_msg *msg, void *data)
{
  FzNetlinkMonitor *monitor = data;
  struct nlmsghdr *h = nlmsg_hdr (msg);

  if ((h->nlmsg_type == RTM_NEWROUTE || h->nlmsg_type == RTM_DELROUTE)
      && default_route_changed (monitor, monitor->defaults, h))
    changed (monitor);
  return NL_OK;
}

/* A burst of routes (a client's thousand resources) may overrun the
 * socket: then the default routes are read again and compared, rather
 * than taken as changed. */
static gboolean
on_route_readable (int fd, GIOCondition condition, gpointer data)
{
  FzNetlinkMonitor *monitor = data;
  int err = nl_recvmsgs_default (monitor->route_sock);
  g_autoptr (GHashTable) now = NULL;

  if (err >= 0 || err == -NLE_AGAIN)
    return G_SOURCE_CONTINUE;
  g_debug ("netlink monitor (routes): %s", nl_geterror (err));
  now = dump_default_routes (monitor);
  if (now == NULL || !same_set (now, monitor->defaults))
    changed (monitor);
  if (now != NULL)
    {
      g_hash_table_unref (monitor->defaults);
      monitor->defaults = g_steal_pointer (&now);
    }
  return G_SOURCE_CONTINUE;
}

/* The route socket: notifications from now on, the set as it is. */
static int
watch_routes (FzNetlinkMonitor *monitor)
{
  int err;

  monitor->route_sock = nl_socket_alloc ();
  if (monitor->route_sock == NULL)
    return -NLE_NOMEM;
  nl_socket_disable_seq_check (monitor->route_sock);
  nl_socket_modify_cb (monitor->route_sock, NL_CB_VALID, NL_CB_CUSTOM, on_route_message,
                       monitor);
  err = nl_connect (monitor->route_sock, NETLINK_ROUTE);
  if (err >= 0)
    err = nl_socket_set_buffer_size (monitor->route_sock, 256 * 1024, 0);
  if (err >= 0)
    err = nl_socket_add_memberships (monitor->route_sock, RTNLGRP_IPV4_ROUTE,
                                     RTNLGRP_IPV6_ROUTE, 0);
  if (err >= 0)
    err = nl_socket_set_nonblocking (monitor->route_sock);
  if (err < 0)
    return err;
  /* Subscribed first: a change in between is seen twice at worst. */
  monitor->defaults = dump_default_routes (monitor);
  if (monitor->defaults == NULL)
    return -NLE_FAILURE;
  monitor->route_io
    = g_unix_fd_source_new (nl_socket_get_fd (monitor->route_sock), G_IO_IN);
  g_source_set_callback (monitor->route_io, G_SOURCE_FUNC (on_route_readable), monitor,
                         NULL);
  g_source_attach (monitor->route_io, monitor->context);
  return 0;
}

static int
on_message (struct nl_msg *msg, void *data)
{
  FzNetlinkMonitor *monitor = data;
  struct nlmsghdr *h = nlmsg_hdr (msg);

  switch (h->nlmsg_type)
    {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      if (nlmsg_valid_hdr (h, sizeof (struct ifinfomsg)))
        {
          const struct ifinfomsg *ifi = nlmsg_data (h);

          if (link_state_changed (monitor, ifi->ifi_index, h->nlmsg_type == RTM_DELLINK,
                                  ifi->ifi_flags)
              && ifi->ifi_index != monitor->skip_ifindex && !monitor->priming)
            changed (monitor);
        }
      break;
    case RTM_NEWADDR:
    case RTM_DELADDR:
      if (nlmsg_valid_hdr (h, sizeof (struct ifaddrmsg)))
        {
          const struct ifaddrmsg *ifa = nlmsg_data (h);

          if ((int) ifa->ifa_index != monitor->skip_ifindex)
            changed (monitor);
        }
      break;
    default: break;
    }
  return NL_OK;
}

static gboolean
on_readable (int fd, GIOCondition condition, gpointer data)
{
  FzNetlinkMonitor *monitor = data;
  int err = nl_recvmsgs_default (monitor->sock);

  /* ENOBUFS (NLE_NOMEM): the kernel dropped notifications; whatever
   * they said, something changed. */
  if (err < 0 && err != -NLE_AGAIN)
    {
      g_debug ("netlink monitor: %s", nl_geterror (err));
      changed (monitor);
    }
  return G_SOURCE_CONTINUE;
}

FzNetlinkMonitor *
fz_netlink_monitor_new (int skip_ifindex, FzNetlinkChangedFunc func, gpointer user_data,
                        GError **error)
{
  g_autoptr (FzNetlinkMonitor) monitor = g_new0 (FzNetlinkMonitor, 1);
  int err;

  monitor->context = g_main_context_ref_thread_default ();
  monitor->links = g_hash_table_new (NULL, NULL);
  monitor->skip_ifindex = skip_ifindex;
  monitor->func = func;
  monitor->user_data = user_data;
  monitor->sock = nl_socket_alloc ();
  if (monitor->sock == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           "cannot allocate a netlink socket");
      return NULL;
    }
  nl_socket_disable_seq_check (monitor->sock); /* notifications have none */
  nl_socket_modify_cb (monitor->sock, NL_CB_VALID, NL_CB_CUSTOM, on_message, monitor);
  err = nl_connect (monitor->sock, NETLINK_ROUTE);
  if (err >= 0) /* room for a burst, so fewer overruns */
    err = nl_socket_set_buffer_size (monitor->sock, 256 * 1024, 0);
  if (err >= 0)
    err = nl_socket_add_memberships (monitor->sock, RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
                                     RTNLGRP_IPV6_IFADDR, 0);
  /* Subscribed first, then the links' state as it is: no change falls
   * between the two. */
  monitor->priming = TRUE;
  if (err >= 0)
    err = nl_rtgen_request (monitor->sock, RTM_GETLINK, AF_UNSPEC, NLM_F_DUMP);
  if (err >= 0)
    err = nl_recvmsgs_default (monitor->sock);
  monitor->priming = FALSE;
  if (err >= 0)
    err = nl_socket_set_nonblocking (monitor->sock);
  if (err >= 0)
    err = watch_routes (monitor);
  if (err < 0)
    {
      set_nl_error (error, err, "cannot watch the network interfaces");
      return NULL;
    }
  monitor->io = g_unix_fd_source_new (nl_socket_get_fd (monitor->sock), G_IO_IN);
  g_source_set_callback (monitor->io, G_SOURCE_FUNC (on_readable), monitor, NULL);
  g_source_attach (monitor->io, monitor->context);
  return g_steal_pointer (&monitor);
}

void
fz_netlink_monitor_set_skip_ifindex (FzNetlinkMonitor *monitor, int skip_ifindex)
{
  monitor->skip_ifindex = skip_ifindex;
}

void
fz_netlink_monitor_free (FzNetlinkMonitor *monitor)
{
  if (monitor == NULL)
    return;
  if (monitor->io != NULL)
    {
      g_source_destroy (monitor->io);
      g_source_unref (monitor->io);
    }
  if (monitor->quiet != NULL)
    {
      g_source_destroy (monitor->quiet);
      g_source_unref (monitor->quiet);
    }
  if (monitor->route_io != NULL)
    {
      g_source_destroy (monitor->route_io);
      g_source_unref (monitor->route_io);
    }
  if (monitor->sock != NULL)
    nl_socket_free (monitor->sock);
  if (monitor->route_sock != NULL)
    nl_socket_free (monitor->route_sock);
  g_hash_table_unref (monitor->links);
  g_clear_pointer (&monitor->defaults, g_hash_table_unref);
  g_main_context_unref (monitor->context);
  g_free (monitor);
}
