/* A seeded simulation of the whole sans-IO tunnel: 1-3 FzClientStates and
 * a few FzGatewayStates on sim-net hosts behind random NATs, a portal
 * model that wires them as the real portal does, a resource network
 * behind the gateways, and applications behind the client. Each seed
 * builds a random world and drives it with random actions (packets, DNS
 * queries, churn); a plain reference model (its own longest-prefix loop,
 * filter check, glob matcher and proxy-IP counter, nothing shared with
 * libfz) says what must happen to each packet and query, and the run
 * checks that exactly that happened (docs/architecture.md, "The tunnel
 * simulation").
 *
 *   test-tunnel [--seeds N] [--first S] [--verbose]
 *   FZ_SIM_SEEDS=N wins over --seeds, as in test-sim; FZ_SIM_TAP=1 with
 *   -v traces every datagram. */
#include "sim-net.h"

#include <ldns/ldns.h>
#include <stdio.h>
#include <string.h>

#define MS    1000
#define S     G_USEC_PER_SEC
#define WALL0 (G_GINT64_CONSTANT (1800000000) * S)
/* After each action: more than the client's 2 s debounce of requests, and
 * more than WireGuard's 5 s retry when two handshakes cross (a restarted
 * client's first one and the gateway's own after unanswered data). */
#define STEP           (7 * S)
#define MAX_CL         3
#define MAX_GW         6
#define MAX_RES        24
#define MAX_GW_BITS    8
#define TAG_FIRST      1024
#define PORTAL_LATENCY (20 * MS)
/* After a NAT rebinding, how long traffic may fail (at most once, at the
 * right place) before everything must get through again: a relayed
 * connection learns of it from the next TURN keepalive (its mapped
 * address moved) and allocates again; the client's ICE may need its
 * overall timeout and the disconnected grace to leave the dead pair for
 * the new candidates. */
#define REBIND_RECOVERY                                                                  \
  (FZ_TURN_KEEPALIVE + fz_ice_timeouts_overall (&fz_ice_client_default)                  \
   + FZ_ICE_DISCONNECTED_TIMEOUT + 5 * S)

static gboolean verbose;

/* ---- the reference model ---- */

typedef struct
{
  FzIpAddr base;
  guint len;
} Prefix;

typedef struct
{
  guint8 proto; /* 6, 17, or 1 for "icmp" (either family) */
  guint16 lo, hi;
} Filter;

typedef enum
{
  RES_CIDR,
  RES_INTERNET,
  RES_DNS,
} ResKind;

typedef struct
{
  char id[16];
  ResKind kind;
  Prefix prefix;
  char pattern[40]; /* RES_DNS */
  guint site;
  Filter filters[3];
  guint n_filters;
  gboolean allowed; /* by policy; the portal refuses the others */
  gboolean authorized;
  gboolean gone;               /* deleted */
  guint access;                /* gateways (bits) the portal gave access to it */
  gint64 expires[MAX_GW_BITS]; /* unix s of each gateway's access, or 0 */
  gint64 uncertain_after;      /* an access expires: the model knows less */
  gboolean uncertain;
  gint64 last_request; /* the client asks again 2 s after this at the earliest */
} Res;

typedef enum
{
  V_DROP,       /* nothing at all: no route */
  V_PROHIBITED, /* an ICMP "prohibited" from the client: a filter */
  V_FORBIDDEN,  /* an ICMP "net unreachable": the portal refused */
  V_DELIVER,    /* once to a gateway of .site, the reply back */
  V_HELD,       /* buffered: a request was refused < 2 s ago; at most the ICMP */
  V_REFUSED,    /* the Internet resource's gateway refuses private addresses */
  V_DNS,        /* a query to the stub: the answer the model expects */
  V_UNCERTAIN,  /* an access expired: at most once, right place, any ICMP */
  V_OFFLINE,    /* no gateway in the site: as forbidden (but a lost goodbye
                 * leaves the client sending into the void for a while) */
} Verdict;

static const char *const verdict_names[]
  = { "drop",    "prohibited", "forbidden", "deliver", "held",
      "refused", "dns",        "uncertain", "offline" };

static gboolean
prefix_contains (const Prefix *p, const FzIpAddr *a)
{
  if (p->base.family != a->family)
    return FALSE;
  for (guint bit = 0; bit < p->len; bit++)
    {
      guint8 m = 0x80 >> (bit % 8);
      if ((p->base.bytes[bit / 8] & m) != (a->bytes[bit / 8] & m))
        return FALSE;
    }
  return TRUE;
}

static gboolean
filters_allow (const Res *r, guint8 proto, guint16 port)
{
  if (r->n_filters == 0)
    return TRUE;
  for (guint i = 0; i < r->n_filters; i++)
    {
      const Filter *f = &r->filters[i];
      if (proto == FZ_IP_PROTO_ICMP || proto == FZ_IP_PROTO_ICMPV6)
        {
          if (f->proto == 1)
            return TRUE;
        }
      else if (f->proto == proto && port >= f->lo && port <= f->hi)
        return TRUE;
    }
  return FALSE;
}

static gboolean
in_any (const Prefix *ranges, guint n, const FzIpAddr *a)
{
  for (guint i = 0; i < n; i++)
    if (prefix_contains (&ranges[i], a))
      return TRUE;
  return FALSE;
}

/* Where the client never sends through the Internet resource. */
static gboolean
in_tunnel_ranges (const FzIpAddr *a)
{
  static const Prefix ranges[] = {
    { { 4, { 100, 64 } }, 10 },
    { { 6, { 0xfd, 0x00, 0x20, 0x21, 0x11, 0x11 } }, 48 },
  };
  return in_any (ranges, G_N_ELEMENTS (ranges), a);
}

/* Where the Internet resource never goes (private, shared, reserved). */
static gboolean
internet_refuses (const FzIpAddr *a)
{
  static const Prefix ranges[] = {
    { { 4, { 0 } }, 8 },           { { 4, { 10 } }, 8 },
    { { 4, { 100, 64 } }, 10 },    { { 4, { 127 } }, 8 },
    { { 4, { 169, 254 } }, 16 },   { { 4, { 172, 16 } }, 12 },
    { { 4, { 192, 168 } }, 16 },   { { 4, { 224 } }, 3 },
    { { 6, { 0 } }, 127 },         { { 6, { 0xfc } }, 7 },
    { { 6, { 0xfe, 0x80 } }, 10 }, { { 6, { 0xff } }, 8 },
  };
  return in_any (ranges, G_N_ELEMENTS (ranges), a);
}

/* DNS patterns, by labels: `?` one character, `*` any run inside a label
 * (a whole `*` label: exactly one label), `**` any number of labels; a
 * leading `*.` also matches the rest itself. */
static gboolean
label_match (const char *p, const char *n)
{
  if (*p == '\0')
    return *n == '\0';
  if (*p == '*')
    return label_match (p + 1, n) || (*n != '\0' && label_match (p, n + 1));
  if (*n == '\0')
    return FALSE;
  return (*p == '?' || *p == *n) && label_match (p + 1, n + 1);
}

static gboolean
labels_match (char **p, char **n)
{
  if (p[0] == NULL)
    return n[0] == NULL;
  if (g_str_equal (p[0], "**"))
    return labels_match (p + 1, n) || (n[0] != NULL && labels_match (p, n + 1));
  return n[0] != NULL && label_match (p[0], n[0]) && labels_match (p + 1, n + 1);
}

static gboolean
pattern_matches (const char *pattern, const char *name)
{
  g_auto (GStrv) p = g_strsplit (pattern, ".", -1);
  g_auto (GStrv) n = g_strsplit (name, ".", -1);
  if (g_str_has_prefix (pattern, "*.") && labels_match (p + 1, n))
    return TRUE;
  return labels_match (p, n);
}

static gboolean
has_wildcard (const char *p)
{
  return strpbrk (p, "*?") != NULL;
}

/* Characters after the last wildcard, and the kind of that wildcard:
 * 1 `?`, 2 `*`, 3 `**`. */
static guint
literal_tail (const char *p, guint *rank)
{
  gsize len = strlen (p), i = len;
  while (i > 0 && p[i - 1] != '*' && p[i - 1] != '?')
    i--;
  *rank = i == 0 ? 0 : p[i - 1] == '?' ? 1 : (i >= 2 && p[i - 2] == '*') ? 3 : 2;
  return (guint) (len - i);
}

/* The exact name first, then the longest literal tail, then `?` before
 * `*` before `**`. */
static gboolean
more_specific (const char *a, const char *b)
{
  guint ra, rb;
  if (has_wildcard (a) != has_wildcard (b))
    return !has_wildcard (a);
  guint ta = literal_tail (a, &ra), tb = literal_tail (b, &rb);
  if (ta != tb)
    return ta > tb;
  return ra < rb;
}

static Res *
dns_resource_for (Res *res, guint n_res, const char *name)
{
  Res *best = NULL;
  for (guint i = 0; i < n_res; i++)
    if (res[i].kind == RES_DNS && !res[i].gone && pattern_matches (res[i].pattern, name)
        && (best == NULL || more_specific (res[i].pattern, best->pattern)))
      best = &res[i];
  return best;
}

/* Proxy IP @i of family @family for the @k-th name given one: counted
 * from 100.96.0.1 and fd00:2021:1111:8000::1, four a name. */
static void
proxy_ip (guint k, guint family, guint i, FzIpAddr *out)
{
  guint32 n = 1 + 4 * k + i;
  guint8 v4[4] = { 100, 96 + (n >> 16), (n >> 8) & 255, n & 255 };
  guint8 v6[16] = { 0xfd, 0x00, 0x20, 0x21, 0x11, 0x11, 0x80, 0x00 };
  v6[12] = n >> 24, v6[13] = (n >> 16) & 255, v6[14] = (n >> 8) & 255, v6[15] = n & 255;
  if (family == 4)
    fz_ip_addr_set_v4 (out, v4);
  else
    fz_ip_addr_set_v6 (out, v6);
}

static gboolean
in_proxy_ranges (const FzIpAddr *a)
{
  static const Prefix ranges[] = {
    { { 4, { 100, 96 } }, 11 },
    { { 6, { 0xfd, 0x00, 0x20, 0x21, 0x11, 0x11, 0x80 } }, 107 },
  };
  return in_any (ranges, G_N_ELEMENTS (ranges), a);
}

/* The world's DNS records: what gateways resolve. */
#define MAX_NAMES 10
typedef struct
{
  const char *name;
  FzIpAddr v4[3], v6[3];
  guint n4, n6;
  /* Earlier versions: a gateway may still use what it resolved before. */
  FzIpAddr old4[4][3], old6[4][3];
  guint old_n4[4], old_n6[4], n_old;
} Rec;

/* What all clients share: the records and the sites that are up. */
typedef struct
{
  Rec recs[MAX_NAMES];
  guint n_recs;
  guint sites_up; /* bits: sites with a gateway online */
} Shared;

/* One client's view: the resources (the same for all clients, but each
 * has its own policies, authorizations and accesses) and its names. */
typedef struct
{
  Res res[MAX_RES];
  guint n_res;
  gboolean internet_on;
  GPtrArray *names; /* the names given proxy IPs, in order */
  Shared *sh;
} Model;

static const Rec *
record_of (const Shared *sh, const char *name)
{
  for (guint i = 0; i < sh->n_recs; i++)
    if (g_str_equal (sh->recs[i].name, name))
      return &sh->recs[i];
  return NULL;
}

/* The name a proxy IP was given to, and its index in its family. */
static const char *
name_of_proxy (const Model *m, const FzIpAddr *a, guint *index)
{
  FzIpAddr p;
  for (guint k = 0; k < m->names->len; k++)
    for (guint i = 0; i < 4; i++)
      {
        proxy_ip (k, a->family, i, &p);
        if (fz_ip_addr_equal (&p, a))
          {
            *index = i;
            return m->names->pdata[k];
          }
      }
  return NULL;
}

/* The proxy IPs' owner: the name's index, given one now if new. */
static guint
assign_name (Model *m, const char *name)
{
  for (guint k = 0; k < m->names->len; k++)
    if (g_str_equal (m->names->pdata[k], name))
      return k;
  g_ptr_array_add (m->names, g_strdup (name));
  return m->names->len - 1;
}

/* What must happen to a packet from an application: the resource it goes
 * to (or NULL) and the verdict. */
static Verdict
model_verdict (Model *m, const FzIpAddr *dst, guint8 proto, guint16 dport, gint64 now,
               Res **out, FzIpAddr *real, const char **name_out, guint *index_out)
{
  Res *best = NULL, *res = m->res;
  const char *name = NULL;
  guint index = 0;

  *real = *dst;
  for (guint i = 0; i < m->n_res; i++)
    if (res[i].kind == RES_CIDR && !res[i].gone && prefix_contains (&res[i].prefix, dst)
        && (best == NULL || res[i].prefix.len > best->prefix.len))
      best = &res[i];
  if (best == NULL && in_proxy_ranges (dst)
      && (name = name_of_proxy (m, dst, &index)) != NULL)
    {
      /* Proxy i of a family reaches resolved address i mod n. */
      best = dns_resource_for (m->res, m->n_res, name);
      const Rec *r = record_of (m->sh, name);
      g_assert (r != NULL && r->n4 > 0 && r->n6 > 0);
      *real = dst->family == 4 ? r->v4[index % r->n4] : r->v6[index % r->n6];
      *name_out = name;
      *index_out = index;
    }
  else if (best == NULL && m->internet_on && !in_tunnel_ranges (dst))
    for (guint i = 0; i < m->n_res; i++)
      if (res[i].kind == RES_INTERNET && !res[i].gone)
        best = &res[i];
  *out = best;
  if (best == NULL)
    return V_DROP;
  if (!filters_allow (best, proto, dport))
    return V_PROHIBITED;
  if (best->uncertain_after != 0 && now >= best->uncertain_after)
    best->uncertain = TRUE;
  gboolean held = FALSE;
  if (!best->authorized)
    {
      held = best->last_request != 0 && now - best->last_request < 2 * S;
      if (!held)
        {
          best->last_request = now;
          best->authorized = best->allowed && (m->sh->sites_up & (1u << best->site));
        }
    }
  if (best->uncertain && best->allowed)
    return V_UNCERTAIN;
  if (held)
    return V_HELD;
  if (!best->allowed)
    return V_FORBIDDEN;
  if (!best->authorized)
    return V_OFFLINE;
  if (best->kind == RES_INTERNET && internet_refuses (dst))
    return V_REFUSED;
  return V_DELIVER;
}

/* ---- the world ---- */

typedef struct _World World;

typedef struct
{
  World *w;
  guint idx, site;
  char id[16];
  SimHost *host;
  FzGatewayState *gs;
  guint8 psk[MAX_CL][32]; /* of its connection with each client */
  SimNatKind nat;
  FzIpAddr ip4, ip6;
  gboolean gone; /* shut down */
} Gw;

/* A client: its own state, key, tunnel IPs, NAT and model. */
typedef struct
{
  World *w;
  guint idx;
  char id[16];
  FzIpAddr ip4, ip6; /* its tunnel IPs */
  guint8 key[32];
  SimHost *host;
  SimNatKind nat;
  FzClientState *cl;
  Model m;
  GQueue app_out;      /* FzPacketBuf*: TCP segments its applications send next */
  guint ever_access;   /* gateways (bits) that ever gave it an access */
  FzIpAddr old4, old6; /* its tunnel IPs before it was renumbered */
} Client;

/* A packet an application sent, and what became of it. */
typedef struct
{
  Client *c;    /* whose application sent it */
  FzIpAddr src; /* from which of its tunnel IPs (or, a probe: to which) */
  guint tag;
  FzIpAddr dst;
  guint8 proto;
  guint16 dport;
  Verdict want;
  Res *res;
  FzIpAddr real; /* where it must arrive */
  /* V_DNS: the answer the model expects */
  gint64 at;        /* when it was sent */
  const char *name; /* to a proxy IP: its name, and the proxy's index */
  guint index;
  guint16 qid, qtype;
  gboolean may_servfail, may_refuse;
  char ptr_name[64]; /* PTR: the name the proxy IP was given to */
  guint8 rcode;
  FzIpAddr answers[4];
  guint n_answers;
  guint32 ttl;
  guint delivered, replies, icmp, wrong;
  guint8 icmp_type, icmp_code;
  /* A resource's unsolicited packet to another client (.c): it may
   * arrive only where that client ever had access. */
  gboolean probe, may_arrive;
  /* A DNS query over TCP: the query, what came back so far, where the
   * exchange is (1 SYN sent, 2 query sent, 3 answered, FIN sent). */
  GBytes *tcp_query;
  GByteArray *tcp_in;
  guint tcp_phase;
  guint32 tcp_ack; /* the sentinel's next sequence number */
  int gw;          /* the gateway that delivered it */
} Sent;

struct _World
{
  guint64 seed;
  SimNet *net;
  FzRng rng, srng; /* the world's choices; the states' */
  FzBufPool *pool;
  const FzSockAddr *relay;
  Client cl[MAX_CL];
  guint n_cl, next_ip; /* the last byte of the next tunnel IPs given */
  Gw gw[MAX_GW];
  guint n_gw, n_sites;
  Shared sh;
  GHashTable *sent; /* tag → Sent* */
  GQueue portal_q;  /* Pending* */
  GHashTable *refs; /* create_authorization's ref → authorization_created */
  guint next_tag, next_ref;
  gboolean lossy;
  guint expiries; /* accesses given with an expiry */
  guint n_stale;  /* delivered to an earlier version of a name's records */
  gint64 relays_gone_at, relays_back_at; /* the last times the relay went, came */
  guint relay_n;                         /* relay-N is the current one */
  gboolean relay_down;
  guint wakeups;     /* timers() calls in this step */
  gboolean stuck;    /* too many: a state asks to be woken again and again */
  gint64 rebound_at; /* the last NAT rebinding */
  GString *why;
  gboolean failed;
  /* totals for the summary */
  guint n_delivered, n_prohibited, n_forbidden, n_dropped, n_held, n_refused, n_dns,
    n_proxied;
};

static struct
{
  guint delivered, prohibited, forbidden, dropped, held, refused, dns, proxied, actions;
  guint churn[13];
  guint stale;
  guint lossy, lost; /* worlds with loss; packets delivered 0 times there */
  guint expiries, uncertain;
  guint clients, leaks_checked, probes, probes_arrived;
  guint rebinds, rebind_uncertain, tcp_queries, relays_gone, relays_back,
    after_relay_back;
} totals;

#define FAIL(w, ...)                                                                     \
  G_STMT_START                                                                           \
  {                                                                                      \
    if (!(w)->failed)                                                                    \
      g_string_append_printf ((w)->why, __VA_ARGS__);                                    \
    (w)->failed = TRUE;                                                                  \
  }                                                                                      \
  G_STMT_END

#define TRACE(w, ...)                                                                    \
  G_STMT_START                                                                           \
  {                                                                                      \
    if (verbose)                                                                         \
      {                                                                                  \
        g_printerr ("%8.3f ", (sim_net_now ((w)->net) - 1000 * S) / 1e6);                \
        g_printerr (__VA_ARGS__);                                                        \
        g_printerr ("\n");                                                               \
      }                                                                                  \
  }                                                                                      \
  G_STMT_END

static const char *
addr_str (const FzIpAddr *a, char buf[FZ_IP_ADDR_STRLEN])
{
  return fz_ip_addr_to_string (a, buf);
}

static gint64
now_of (World *w)
{
  return sim_net_now (w->net);
}

/* The wall clock runs with simulated time (a restarted client's
 * handshakes must be newer than its last ones). */
static gint64
wall_of (World *w)
{
  return WALL0 + now_of (w) - 1000 * S;
}

static void
sent_free (gpointer p)
{
  Sent *s = p;
  g_clear_pointer (&s->tcp_query, g_bytes_unref);
  if (s->tcp_in != NULL)
    g_byte_array_unref (s->tcp_in);
  g_free (s);
}

/* ---- the portal model ---- */

static FzPortalMessage *
decode (FzPortalRole role, const char *event, const char *json)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) payload = json_from_string (json, &error);
  g_assert_no_error (error);
  FzPortalMessage *m = fz_portal_message_decode (role, event, payload, &error);
  if (m == NULL)
    g_error ("%s %s: %s", event, json, error->message);
  return m;
}

static void client_flush (Client *c);
static void gw_flush (Gw *g);

/* The portal's messages go out in order, PORTAL_LATENCY after they were
 * sent (the gateway's candidates after its authorization_created, as one
 * channel carries them). */
typedef struct
{
  gint64 at;
  int to; /* a gateway's index, or -1 - a client's index */
  FzPortalMessage *m;
} Pending;

static void
portal_send (World *w, int to, FzPortalMessage *m)
{
  Pending *p = g_new0 (Pending, 1);
  p->at = now_of (w) + PORTAL_LATENCY;
  p->to = to;
  p->m = m;
  g_queue_push_tail (&w->portal_q, p);
}

static void
portal_deliver (World *w, gint64 now)
{
  while (!g_queue_is_empty (&w->portal_q)
         && ((Pending *) g_queue_peek_head (&w->portal_q))->at <= now)
    {
      Pending *p = g_queue_pop_head (&w->portal_q);
      if (p->to < 0)
        {
          Client *c = &w->cl[-1 - p->to];
          TRACE (w, "portal → %s: %s", c->id, fz_portal_event_name (p->m->event));
          fz_client_state_handle_portal (c->cl, p->m, now);
          client_flush (c);
        }
      else
        {
          Gw *g = &w->gw[p->to];
          TRACE (w, "portal → %s: %s", g->id, fz_portal_event_name (p->m->event));
          fz_gateway_state_handle_portal (g->gs, p->m, now);
          gw_flush (g);
        }
      fz_portal_message_free (p->m);
      g_free (p);
    }
}

static void
to_client (Client *c, const char *event, const char *json)
{
  portal_send (c->w, -1 - (int) c->idx, decode (FZ_PORTAL_ROLE_CLIENT, event, json));
}

static void
to_clients (World *w, const char *event, const char *json)
{
  for (guint i = 0; i < w->n_cl; i++)
    to_client (&w->cl[i], event, json);
}

static void
to_gateway (Gw *g, const char *event, const char *json)
{
  portal_send (g->w, (int) g->idx, decode (FZ_PORTAL_ROLE_GATEWAY, event, json));
}

static char *
relays_json (World *w)
{
  char a[FZ_SOCK_ADDR_STRLEN];
  if (w->relay_down)
    return g_strdup ("[]");
  return g_strdup_printf ("[{\"id\":\"relay-%u\",\"type\":\"turn\",\"addr\":\"%s\","
                          "\"username\":\"sim\",\"password\":\"secret\","
                          "\"expires_at\":2145916800}]",
                          w->relay_n, fz_sock_addr_to_string (w->relay, a));
}

static void
filters_json (GString *s, const Res *r)
{
  static const char *const names[] = { [1] = "icmp", [6] = "tcp", [17] = "udp" };
  g_string_append (s, "\"filters\":[");
  for (guint i = 0; i < r->n_filters; i++)
    {
      const Filter *f = &r->filters[i];
      g_string_append_printf (s, "%s{\"protocol\":\"%s\"", i ? "," : "", names[f->proto]);
      if (f->proto != 1)
        g_string_append_printf (s, ",\"port_range_start\":%u,\"port_range_end\":%u",
                                f->lo, f->hi);
      g_string_append (s, "}");
    }
  g_string_append (s, "]");
}

static void
res_json (GString *s, const Res *r)
{
  char a[FZ_IP_ADDR_STRLEN];
  if (r->kind == RES_INTERNET)
    {
      g_string_append_printf (s,
                              "{\"id\":\"%s\",\"type\":\"internet\",\"can_be_disabled\":"
                              "true,\"sites\":[{\"id\":\"site-%u\",\"name\":\"S%u\"}]}",
                              r->id, r->site, r->site);
      return;
    }
  if (r->kind == RES_DNS)
    g_string_append_printf (s,
                            "{\"id\":\"%s\",\"type\":\"dns\",\"address\":\"%s\","
                            "\"name\":\"%s\",\"ip_stack\":\"dual\",\"sites\":[{\"id\":"
                            "\"site-%u\",\"name\":\"S%u\"}],",
                            r->id, r->pattern, r->id, r->site, r->site);
  else
    g_string_append_printf (s,
                            "{\"id\":\"%s\",\"type\":\"cidr\",\"address\":\"%s/%u\","
                            "\"name\":\"%s\",\"sites\":[{\"id\":\"site-%u\",\"name\":"
                            "\"S%u\"}],",
                            r->id, addr_str (&r->prefix.base, a), r->prefix.len, r->id,
                            r->site, r->site);
  filters_json (s, r);
  g_string_append (s, "}");
}

static Res *
res_by_id (Client *c, const char *id)
{
  for (guint i = 0; i < c->m.n_res; i++)
    if (g_str_equal (c->m.res[i].id, id) && !c->m.res[i].gone)
      return &c->m.res[i];
  return NULL;
}

static Client *
client_by_id (World *w, const char *id)
{
  for (guint i = 0; i < w->n_cl; i++)
    if (g_str_equal (w->cl[i].id, id))
      return &w->cl[i];
  return NULL;
}

static Gw *
gw_by_id (World *w, const char *id)
{
  for (guint i = 0; i < w->n_gw; i++)
    if (g_str_equal (w->gw[i].id, id))
      return &w->gw[i];
  return NULL;
}

static char *
interface_json (Client *c)
{
  char a4[FZ_IP_ADDR_STRLEN], a6[FZ_IP_ADDR_STRLEN];
  return g_strdup_printf ("{\"ipv4\":\"%s\",\"ipv6\":\"%s\",\"search_domain\":null,"
                          "\"upstream_do53\":[{\"ip\":\"1.1.1.1\"}],\"upstream_doh\":[]}",
                          addr_str (&c->ip4, a4), addr_str (&c->ip6, a6));
}

static void
client_init (Client *c)
{
  g_autoptr (GString) s = g_string_new (NULL);
  g_autofree char *relays = relays_json (c->w);
  g_autofree char *iface = interface_json (c);
  g_string_append_printf (s, "{\"interface\":%s,\"resources\":[", iface);
  gboolean first = TRUE;
  for (guint i = 0; i < c->m.n_res; i++)
    if (!c->m.res[i].gone)
      {
        if (!first)
          g_string_append_c (s, ',');
        first = FALSE;
        res_json (s, &c->m.res[i]);
      }
  g_string_append_printf (s, "],\"relays\":%s,\"authorizations\":[]}", relays);
  to_client (c, "init", s->str);
}

static void
gateway_init (Gw *g)
{
  char a4[FZ_IP_ADDR_STRLEN], a6[FZ_IP_ADDR_STRLEN];
  g_autofree char *relays = relays_json (g->w);
  g_autoptr (GString) auth = g_string_new (NULL);
  /* The accesses it gave that still hold (none at the first). */
  for (guint k = 0; k < g->w->n_cl; k++)
    for (guint i = 0; i < g->w->cl[k].m.n_res; i++)
      {
        const Res *r = &g->w->cl[k].m.res[i];
        gint64 exp = r->expires[g->idx] ? r->expires[g->idx] : 2145916800;
        if (!r->gone && (r->access & (1u << g->idx)) && exp > wall_of (g->w) / S)
          g_string_append_printf (auth,
                                  "%s{\"client_id\":\"%s\",\"resource_id\":"
                                  "\"%s\",\"expires_at\":%" G_GINT64_FORMAT "}",
                                  auth->len ? "," : "", g->w->cl[k].id, r->id, exp);
      }
  g_autofree char *json = g_strdup_printf (
    "{\"interface\":{\"ipv4\":\"%s\",\"ipv6\":\"%s\"},\"config\":{"
    "\"ipv4_masquerade_enabled\":true,\"ipv6_masquerade_enabled\":true},"
    "\"relays\":%s,\"account_slug\":\"acme\",\"authorizations\":[%s]}",
    addr_str (&g->ip4, a4), addr_str (&g->ip6, a6), relays, auth->str);
  to_gateway (g, "init", json);
}

static char *
b64 (const guint8 *k)
{
  return g_base64_encode (k, 32);
}

/* The gateway the portal picks for @r: a connected one of its site if
 * the client named one, else one of the site at random. */
static Gw *
pick_gateway (World *w, const Res *r, GPtrArray *connected)
{
  Gw *of_site[MAX_GW];
  guint n = 0;
  for (guint i = 0; i < connected->len; i++)
    {
      Gw *g = gw_by_id (w, connected->pdata[i]);
      if (g != NULL && !g->gone && g->site == r->site)
        return g;
    }
  for (guint i = 0; i < w->n_gw; i++)
    if (w->gw[i].site == r->site && !w->gw[i].gone)
      of_site[n++] = &w->gw[i];
  return n == 0 ? NULL : of_site[fz_rng_below (&w->rng, n)];
}

/* An authorization_created waiting for the gateway's answer to its ref. */
typedef struct
{
  guint client;
  char *json;
} Ref;

static void
ref_free (gpointer p)
{
  Ref *r = p;
  g_free (r->json);
  g_free (r);
}

/* ICE credentials per (client, gateway) pair, as the portal derives them. */
static char *
ice_json (const Client *c, const Gw *g)
{
  guint pair = g->idx * MAX_CL + c->idx;
  return g_strdup_printf (
    "\"client_ice_credentials\":{\"username\":\"cuuu%u\",\"password\":"
    "\"cp%022u\"},\"gateway_ice_credentials\":{\"username\":\"guuu%u\","
    "\"password\":\"gp%022u\"}",
    pair, pair, pair, pair);
}

/* create_authorization of @r for @c to @g (the client's current tunnel
 * IPs); the gateway's answer sends @created to the client, if not NULL. */
static void
create_authorization (Client *c, Gw *g, const Res *r, gint64 expires_at, char *created)
{
  World *w = c->w;
  g_autoptr (GString) res = g_string_new (NULL);
  res_json (res, r);
  g_autofree char *expiry
    = expires_at != 0 ? g_strdup_printf (",\"expires_at\":%" G_GINT64_FORMAT, expires_at)
                      : g_strdup ("");
  g_autofree char *ck = b64 (fz_node_public_key (fz_client_state_get_node (c->cl)));
  g_autofree char *psk = b64 (g->psk[c->idx]);
  g_autofree char *ice = ice_json (c, g);
  char c4[FZ_IP_ADDR_STRLEN], c6[FZ_IP_ADDR_STRLEN];
  g_autofree char *create
    = g_strdup_printf ("{\"ref\":\"ref-%u\",\"resource\":%s,\"client\":{\"id\":\"%s\","
                       "\"public_key\":\"%s\",\"preshared_key\":\"%s\",\"ipv4\":\"%s\","
                       "\"ipv6\":\"%s\",\"version\":\"1.4.0\"},%s%s}",
                       w->next_ref++, res->str, c->id, ck, psk, addr_str (&c->ip4, c4),
                       addr_str (&c->ip6, c6), ice, expiry);
  Ref *pending = g_new0 (Ref, 1);
  pending->client = c->idx;
  pending->json = created;
  g_hash_table_insert (w->refs, g_strdup_printf ("ref-%u", w->next_ref - 1), pending);
  to_gateway (g, "create_authorization", create);
}

static void
authorize (Client *c, const char *rid, GPtrArray *connected)
{
  World *w = c->w;
  Res *r = res_by_id (c, rid);
  Gw *g = r != NULL ? pick_gateway (w, r, connected) : NULL;
  const char *fail = r == NULL     ? "not_found"
                     : !r->allowed ? "forbidden"
                     : g == NULL   ? "offline"
                                   : NULL;
  if (fail != NULL)
    {
      g_autofree char *json
        = g_strdup_printf ("{\"resource_id\":\"%s\",\"reason\":\"%s\"}", rid, fail);
      to_client (c, "authorization_creation_failed", json);
      return;
    }
  /* A quarter of the accesses expire in 5 to 20 s. */
  gint64 expires_at = 0;
  if (r->kind != RES_INTERNET && fz_rng_below (&w->rng, 4) == 0)
    {
      gint64 in = 5 + fz_rng_below (&w->rng, 16);
      expires_at = wall_of (w) / S + in;
      gint64 from = now_of (w) + (in - 1) * S;
      if (r->uncertain_after == 0 || from < r->uncertain_after)
        r->uncertain_after = from;
      w->expiries++;
      TRACE (w, "portal: %s's access for %s at %s expires in %" G_GINT64_FORMAT " s",
             r->id, c->id, g->id, in);
    }
  g_autofree char *gk = b64 (fz_node_public_key (fz_gateway_state_get_node (g->gs)));
  g_autofree char *psk = b64 (g->psk[c->idx]);
  g_autofree char *ice = ice_json (c, g);
  char a4[FZ_IP_ADDR_STRLEN], a6[FZ_IP_ADDR_STRLEN];
  char *created = g_strdup_printf (
    "{\"resource_id\":\"%s\",\"gateway_id\":\"%s\",\"gateway_public_key\":\"%s\","
    "\"gateway_ipv4\":\"%s\",\"gateway_ipv6\":\"%s\",\"site_id\":\"site-%u\","
    "\"preshared_key\":\"%s\",%s}",
    rid, g->id, gk, addr_str (&g->ip4, a4), addr_str (&g->ip6, a6), g->site, psk, ice);
  r->access |= 1u << g->idx;
  c->ever_access |= 1u << g->idx;
  r->expires[g->idx] = expires_at;
  create_authorization (c, g, r, expires_at, created);
}

/* ---- the client and its applications ---- */

static guint
tag_of_l4 (guint8 proto, const guint8 *l4, gsize len, gboolean *ok)
{
  *ok = len >= 8;
  if (!*ok)
    return 0;
  if (proto == FZ_IP_PROTO_ICMP || proto == FZ_IP_PROTO_ICMPV6)
    return (l4[4] << 8) | l4[5]; /* the echo id */
  return (l4[0] << 8) | l4[1];   /* the source port */
}

/* Nothing leaks to the wrong client: what reaches @c's applications is
 * about a packet one of them sent, and addressed to the tunnel IP it was
 * sent from (a late answer may come after a renumbering). */
static gboolean
leaked (Client *c, const Sent *s, const FzIpPacket *pkt)
{
  FzIpAddr dst;
  fz_ip_packet_dst (pkt, &dst);
  totals.leaks_checked++;
  if (s->c == c && fz_ip_addr_equal (&dst, &s->src))
    return FALSE;
  FAIL (c->w, "tag %u of %s reached %s's application", s->tag, s->c->id, c->id);
  return TRUE;
}

/* An ICMP error to the application: the tag of the packet it is about. */
static void
app_icmp_error (Client *c, const FzIpPacket *pkt)
{
  World *w = c->w;
  const guint8 *in = fz_ip_packet_l4 (pkt) + 8;
  gsize len = fz_ip_packet_l4_len (pkt) >= 8 ? fz_ip_packet_l4_len (pkt) - 8 : 0;
  guint8 proto;
  gsize hlen;
  gboolean ok;

  if (len < 20)
    {
      FAIL (w, "a short ICMP error to the application");
      return;
    }
  if ((in[0] >> 4) == 4)
    proto = in[9], hlen = (in[0] & 15) * 4;
  else
    proto = in[6], hlen = 40;
  guint tag = len > hlen ? tag_of_l4 (proto, in + hlen, len - hlen, &ok) : 0;
  Sent *s = g_hash_table_lookup (w->sent, GUINT_TO_POINTER (tag));
  if (s == NULL)
    {
      FAIL (w, "an ICMP error about no packet sent (tag %u)", tag);
      return;
    }
  if (leaked (c, s, pkt))
    return;
  s->icmp++;
  s->icmp_type = fz_ip_packet_icmp_type (pkt);
  s->icmp_code = fz_ip_packet_icmp_code (pkt);
}

/* The stub's answer against the model's. */
static gboolean
dns_answer_ok (World *w, Sent *s, const guint8 *payload, gsize len)
{
  ldns_pkt *a = NULL;
  gboolean ok = FALSE;

  if (ldns_wire2pkt (&a, payload, len) != LDNS_STATUS_OK)
    return FALSE;
  ldns_rr_list *rrs = ldns_pkt_answer (a);
  guint n = 0;
  for (guint i = 0; i < ldns_rr_list_rr_count (rrs); i++)
    {
      ldns_rr *rr = ldns_rr_list_rr (rrs, i);
      ldns_rdf *rd = ldns_rr_rdf (rr, 0);
      FzIpAddr got;
      if (ldns_rr_get_type (rr) != s->qtype || n >= s->n_answers
          || ldns_rr_ttl (rr) != s->ttl)
        goto out;
      if (s->qtype == LDNS_RR_TYPE_PTR)
        {
          g_autofree char *target = ldns_rdf2str (rd);
          g_autofree char *want = g_strconcat (s->ptr_name, ".", NULL);
          if (g_strcmp0 (target, want) != 0)
            goto out;
          n++;
          continue;
        }
      if (s->qtype == LDNS_RR_TYPE_A && ldns_rdf_size (rd) == 4)
        fz_ip_addr_set_v4 (&got, ldns_rdf_data (rd));
      else if (s->qtype == LDNS_RR_TYPE_AAAA && ldns_rdf_size (rd) == 16)
        fz_ip_addr_set_v6 (&got, ldns_rdf_data (rd));
      else
        goto out;
      if (!fz_ip_addr_equal (&got, &s->answers[n++]))
        goto out;
    }
  ok = n == s->n_answers && ldns_pkt_id (a) == s->qid
       && (ldns_pkt_get_rcode (a) == s->rcode
           || (s->may_servfail && ldns_pkt_get_rcode (a) == LDNS_RCODE_SERVFAIL)
           || (s->may_refuse && ldns_pkt_get_rcode (a) == LDNS_RCODE_REFUSED))
       && ldns_pkt_qr (a);
out:
  if (!ok)
    TRACE (w, "tag %u: DNS answer rcode %u, %zu answers, id %u", s->tag,
           ldns_pkt_get_rcode (a), ldns_rr_list_rr_count (rrs), ldns_pkt_id (a));
  ldns_pkt_free (a);
  return ok;
}

/* A reply from a resource: from the address and port the packet went to. */
static void
app_reply (Client *c, const FzIpPacket *pkt)
{
  World *w = c->w;
  FzIpAddr src;
  gboolean ok;
  guint8 proto = pkt->proto;
  const guint8 *l4 = fz_ip_packet_l4 (pkt);
  guint16 tag = proto == FZ_IP_PROTO_UDP
                  ? fz_ip_packet_dst_port (pkt)
                  : tag_of_l4 (proto, l4, fz_ip_packet_l4_len (pkt), &ok);
  Sent *s = g_hash_table_lookup (w->sent, GUINT_TO_POINTER ((guint) tag));
  fz_ip_packet_src (pkt, &src);
  if (s == NULL)
    {
      FAIL (w, "a packet for the application that answers nothing sent");
      return;
    }
  if (leaked (c, s, pkt))
    return;
  if (s->probe)
    {
      s->replies++;
      return;
    }
  if (!fz_ip_addr_equal (&src, &s->dst)
      || (proto == FZ_IP_PROTO_UDP && fz_ip_packet_src_port (pkt) != s->dport)
      || !fz_ip_packet_verify_l4_checksum (pkt))
    {
      s->wrong++;
      return;
    }
  guint32 plen;
  const guint8 *payload = fz_ip_packet_payload (pkt, &plen);
  if (s->want == V_DNS && !dns_answer_ok (w, s, payload, plen))
    s->wrong++;
  s->replies++;
}

/* The application's next TCP segment to the sentinel it asks. */
static void
tcp_send (Client *c, Sent *s, guint8 flags, guint32 seq, const void *data, gsize len)
{
  FzIpPacket pkt;
  FzTcpSegment seg = { .sport = s->tag,
                       .dport = 53,
                       .seq = seq,
                       .ack = s->tcp_ack,
                       .flags = flags,
                       .window = 65535,
                       .mss = (flags & FZ_TCP_SYN) ? 1240 : 0 };
  FzPacketBuf *b = fz_buf_pool_alloc (c->w->pool);
  g_assert_true (fz_ip_build_tcp (b, &pkt, &s->src, &s->dst, &seg, data, len, NULL));
  g_queue_push_tail (&c->app_out, b);
}

#define TCP_ISS 1000

/* The application's side of DNS over TCP, segment by segment: after the
 * SYN-ACK the query (two length bytes first), then it collects the answer,
 * checks it against the model and closes. */
static void
app_tcp_dns (Client *c, Sent *s, const FzIpPacket *pkt)
{
  const guint8 *l4 = fz_ip_packet_l4 (pkt);
  guint32 seq = (guint32) l4[4] << 24 | l4[5] << 16 | l4[6] << 8 | l4[7];
  guint8 flags = l4[13];
  guint32 len;
  const guint8 *data = fz_ip_packet_payload (pkt, &len);
  gsize qlen;
  const guint8 *q = g_bytes_get_data (s->tcp_query, &qlen);

  if (flags & FZ_TCP_RST)
    return;
  if ((flags & FZ_TCP_SYN) && s->tcp_phase == 1)
    {
      s->tcp_ack = seq + 1;
      s->tcp_phase = 2;
      tcp_send (c, s, FZ_TCP_ACK | 0x08 /* PSH */, TCP_ISS + 1, q, qlen);
      return;
    }
  if (len > 0 && seq == s->tcp_ack && s->tcp_phase == 2)
    {
      g_byte_array_append (s->tcp_in, data, len);
      s->tcp_ack += len;
    }
  if (flags & FZ_TCP_FIN)
    s->tcp_ack = seq + len + 1;
  const guint8 *in = s->tcp_in->data;
  if (s->tcp_phase == 2 && s->tcp_in->len >= 2
      && s->tcp_in->len >= 2u + (in[0] << 8 | in[1]))
    {
      s->tcp_phase = 3;
      if (s->tcp_in->len != 2u + (in[0] << 8 | in[1])
          || !dns_answer_ok (c->w, s, in + 2, s->tcp_in->len - 2))
        s->wrong++;
      s->replies++;
      tcp_send (c, s, FZ_TCP_ACK | FZ_TCP_FIN, TCP_ISS + 1 + qlen, NULL, 0);
    }
  else if (len > 0 || (flags & FZ_TCP_FIN))
    tcp_send (c, s, FZ_TCP_ACK, TCP_ISS + 1 + qlen + (s->tcp_phase == 3), NULL, 0);
}

static void
client_to_app (Client *c, FzPacketBuf *b)
{
  FzIpPacket pkt;
  if (fz_ip_packet_parse (&pkt, b->data, b->len, 65535) != FZ_IP_OK)
    FAIL (c->w, "a malformed packet to the application");
  else if (fz_ip_packet_is_icmp_error (&pkt))
    app_icmp_error (c, &pkt);
  else if (pkt.proto == FZ_IP_PROTO_TCP && fz_ip_packet_src_port (&pkt) == 53)
    {
      /* From a sentinel, DNS over TCP: to the port the query came from. */
      Sent *s = g_hash_table_lookup (c->w->sent,
                                     GUINT_TO_POINTER (fz_ip_packet_dst_port (&pkt)));
      if (s == NULL || s->tcp_query == NULL)
        FAIL (c->w, "a TCP segment for the application that answers nothing sent");
      else if (!leaked (c, s, &pkt))
        app_tcp_dns (c, s, &pkt);
    }
  else
    app_reply (c, &pkt);
  fz_packet_buf_free (b);
}

/* The upstream resolver's answer for a name: one public address. */
static void
upstream_addr (const char *name, guint16 qtype, FzIpAddr *out)
{
  guint8 v4[4] = { 198, 51, 100, strlen (name) };
  guint8 v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = strlen (name) };
  memset (out, 0, sizeof *out);
  if (qtype == LDNS_RR_TYPE_A)
    fz_ip_addr_set_v4 (out, v4);
  else if (qtype == LDNS_RR_TYPE_AAAA)
    fz_ip_addr_set_v6 (out, v6);
}

/* An answer built from @query: @rcode and @n addresses, TTL @ttl. */
static guint8 *
dns_answer (ldns_pkt *query, guint8 rcode, const FzIpAddr *addrs, guint n, guint32 ttl,
            gsize *len)
{
  ldns_pkt *a = ldns_pkt_clone (query);
  ldns_rr *q = ldns_rr_list_rr (ldns_pkt_question (query), 0);
  guint8 *wire = NULL;
  size_t wlen = 0;

  ldns_pkt_set_qr (a, true);
  ldns_pkt_set_ra (a, true);
  ldns_pkt_set_rcode (a, rcode);
  for (guint i = 0; i < n; i++)
    {
      ldns_rr *rr = ldns_rr_new ();
      ldns_rr_set_owner (rr, ldns_rdf_clone (ldns_rr_owner (q)));
      ldns_rr_set_type (rr, addrs[i].family == 4 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA);
      ldns_rr_set_class (rr, LDNS_RR_CLASS_IN);
      ldns_rr_set_ttl (rr, ttl);
      ldns_rr_push_rdf (rr, ldns_rdf_new_frm_data (
                              addrs[i].family == 4 ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA,
                              fz_ip_addr_len (&addrs[i]), addrs[i].bytes));
      ldns_pkt_push_rr (a, LDNS_SECTION_ANSWER, rr);
    }
  g_assert_cmpint (ldns_pkt2wire (&wire, a, &wlen), ==, LDNS_STATUS_OK);
  ldns_pkt_free (a);
  *len = wlen;
  return wire;
}

static void
upstream_answer (Client *c, const FzClientEvent *e)
{
  World *w = c->w;
  gsize qlen, len;
  const guint8 *qw = g_bytes_get_data (e->query, &qlen);
  ldns_pkt *q = NULL;
  if (ldns_wire2pkt (&q, qw, qlen) != LDNS_STATUS_OK)
    {
      FAIL (w, "the client sent upstream a query that does not parse");
      return;
    }
  ldns_rr *rr = ldns_rr_list_rr (ldns_pkt_question (q), 0);
  g_autofree char *owner = ldns_rdf2str (ldns_rr_owner (rr));
  owner[strlen (owner) - 1] = '\0';
  FzIpAddr addr;
  upstream_addr (owner, ldns_rr_get_type (rr), &addr);
  TRACE (w, "upstream: %s", owner);
  guint n = addr.family != 0 ? 1 : 0; /* SRV, TXT: nothing */
  guint8 *wire = dns_answer (q, LDNS_RCODE_NOERROR, &addr, n, 300, &len);
  fz_client_state_upstream_answer (c->cl, e->request, wire, len, now_of (w));
  free (wire);
  ldns_pkt_free (q);
}

static void
client_flush (Client *c)
{
  World *w = c->w;
  FzPortalMessage *m;
  FzClientEvent e;
  FzPacketBuf *b;
  FzNodeTransmit tx;
  g_autoptr (GPtrArray) auth = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) conn = g_ptr_array_new_with_free_func (g_free);

  while ((m = fz_client_state_poll_portal (c->cl)) != NULL)
    {
      if (m->event == FZ_PORTAL_REQUEST_AUTHORIZATION)
        {
          TRACE (w, "%s → portal: request_authorization %s", c->id, m->resource_id);
          g_ptr_array_add (auth, g_strdup (m->resource_id));
          g_ptr_array_set_size (conn, 0);
          for (guint i = 0; i < m->peer_ids->len; i++)
            g_ptr_array_add (conn, g_strdup (m->peer_ids->pdata[i]));
        }
      else if (m->event == FZ_PORTAL_NEW_GATEWAY_ICE_CANDIDATES
               || m->event == FZ_PORTAL_INVALIDATE_GATEWAY_ICE_CANDIDATES)
        {
          Gw *g = m->peer_id != NULL ? gw_by_id (w, m->peer_id) : NULL;
          if (g != NULL)
            {
              g_autoptr (FzPortalMessage) x
                = fz_portal_message_new (m->event == FZ_PORTAL_NEW_GATEWAY_ICE_CANDIDATES
                                           ? FZ_PORTAL_ICE_CANDIDATES
                                           : FZ_PORTAL_INVALIDATE_ICE_CANDIDATES);
              x->peer_id = g_strdup (c->id);
              TRACE (w, "%s → %s: %u candidates", c->id, g->id, m->candidates->len);
              g_array_append_vals (x->candidates, m->candidates->data,
                                   m->candidates->len);
              portal_send (w, (int) g->idx, g_steal_pointer (&x));
            }
        }
      fz_portal_message_free (m);
    }
  while (fz_client_state_poll_event (c->cl, &e))
    {
      if (e.type == FZ_CLIENT_EVENT_UPSTREAM_DNS)
        upstream_answer (c, &e);
      fz_client_event_clear (&e);
    }
  gboolean fed = FALSE;
  while ((b = fz_client_state_poll_tun (c->cl)) != NULL)
    {
      client_to_app (c, b);
      /* What the application answers (TCP), before the next one. */
      while ((b = g_queue_pop_head (&c->app_out)) != NULL)
        {
          fz_client_state_handle_tun (c->cl, b, now_of (w));
          fed = TRUE;
        }
    }
  while (fz_client_state_poll_transmit (c->cl, &tx))
    {
      sim_host_send (c->host, &tx.dst, tx.buf->data, tx.buf->len);
      fz_packet_buf_free (tx.buf);
    }
  for (guint i = 0; i < auth->len; i++)
    authorize (c, auth->pdata[i], conn);
  if (fed)
    client_flush (c); /* what the application's segments caused */
}

/* ---- the gateways and the resource network ---- */

/* To a proxy IP, the real address of an earlier version of its name's
 * records (the gateway resolves again only when asked). */
static gboolean
stale_record (World *w, const Sent *s, const FzIpAddr *dst)
{
  const Rec *r = s->name != NULL ? record_of (&w->sh, s->name) : NULL;
  for (guint v = 0; r != NULL && v < r->n_old; v++)
    {
      const FzIpAddr *a = dst->family == 4 ? &r->old4[v][s->index % r->old_n4[v]]
                                           : &r->old6[v][s->index % r->old_n6[v]];
      if (fz_ip_addr_equal (a, dst))
        return TRUE;
    }
  return FALSE;
}

/* Whether a client has @a (v4) as its tunnel IP now. */
static gboolean
ip_held (World *w, const FzIpAddr *a)
{
  for (guint i = 0; i < w->n_cl; i++)
    if (fz_ip_addr_equal (&w->cl[i].ip4, a))
      return TRUE;
  return FALSE;
}

/* From the resource @src:@sport, a UDP packet to another client than the
 * one it answers: the gateway may pass it only to a client it ever gave
 * an access. */
static void
probe_other_client (Gw *g, const Sent *s, const FzIpAddr *src, guint16 sport)
{
  World *w = g->w;
  Client *t = &w->cl[fz_rng_below (&w->rng, w->n_cl)];
  FzIpPacket out;
  if (t == s->c)
    return;
  Sent *p = g_new0 (Sent, 1);
  p->c = t;
  p->tag = w->next_tag++;
  p->gw = -1;
  p->at = now_of (w);
  p->want = V_DROP;
  p->probe = TRUE;
  p->may_arrive = (t->ever_access & (1u << g->idx)) != 0;
  p->dst = *src;
  const FzIpAddr *to = src->family == 4 ? &t->ip4 : &t->ip6;
  /* Or to the IP it had before it was renumbered, if no one has it now:
   * it must reach no one. */
  if (t->old4.family != 0 && !ip_held (w, &t->old4) && fz_rng_below (&w->rng, 2) == 0)
    {
      to = src->family == 4 ? &t->old4 : &t->old6;
      p->may_arrive = FALSE;
    }
  p->src = *to;
  g_hash_table_insert (w->sent, GUINT_TO_POINTER (p->tag), p);
  guint32 payload = GUINT32_TO_BE (p->tag);
  FzPacketBuf *b = fz_buf_pool_alloc (w->pool);
  g_assert_true (
    fz_ip_build_udp (b, &out, src, to, sport, p->tag, &payload, sizeof payload, NULL));
  TRACE (w, "resource %s → %s via %s: probe tag %u", "", t->id, g->id, p->tag);
  totals.probes++;
  fz_gateway_state_handle_tun (g->gs, b, now_of (w));
}

/* A packet a gateway wrote to its TUN: record it, answer UDP and echo. */
static void
resource_network (Gw *g, FzPacketBuf *b)
{
  World *w = g->w;
  FzIpPacket pkt;
  FzIpAddr src, dst;

  if (fz_ip_packet_parse (&pkt, b->data, b->len, 65535) != FZ_IP_OK)
    {
      FAIL (w, "%s wrote a malformed packet to its TUN", g->id);
      fz_packet_buf_free (b);
      return;
    }
  fz_ip_packet_src (&pkt, &src);
  fz_ip_packet_dst (&pkt, &dst);
  /* By the tag in the payload: DNS-resource NAT may change the ports. */
  guint32 plen0;
  const guint8 *p0 = fz_ip_packet_payload (&pkt, &plen0);
  guint tag = plen0 == 4 ? (p0[0] << 24) | (p0[1] << 16) | (p0[2] << 8) | p0[3] : 0;
  Sent *s = g_hash_table_lookup (w->sent, GUINT_TO_POINTER (tag));
  char a[FZ_IP_ADDR_STRLEN];
  TRACE (w, "%s → resource %s tag %u", g->id, addr_str (&dst, a), tag);
  if (s == NULL)
    {
      FAIL (w, "%s delivered a packet nobody sent (to %s)", g->id, a);
      fz_packet_buf_free (b);
      return;
    }
  s->delivered++;
  s->gw = (int) g->idx;
  /* From the client that sent it, at its tunnel IP. */
  if (!fz_ip_addr_equal (&src, src.family == 4 ? &s->c->ip4 : &s->c->ip6))
    s->wrong++;
  if (!fz_ip_addr_equal (&dst, &s->real) && stale_record (w, s, &dst))
    w->n_stale++;
  else if (!fz_ip_addr_equal (&dst, &s->real) || pkt.proto != s->proto
           || (fz_ip_packet_has_ports (&pkt) && fz_ip_packet_dst_port (&pkt) != s->dport))
    s->wrong++;
  /* The answer, from the resource back into that gateway's TUN. */
  if (pkt.proto == FZ_IP_PROTO_UDP || fz_ip_packet_is_icmp_echo (&pkt))
    {
      FzPacketBuf *r = fz_buf_pool_alloc (w->pool);
      FzIpPacket out;
      guint32 plen;
      const guint8 *payload = fz_ip_packet_payload (&pkt, &plen);
      gboolean built
        = pkt.proto == FZ_IP_PROTO_UDP
            ? fz_ip_build_udp (r, &out, &dst, &src, fz_ip_packet_dst_port (&pkt),
                               fz_ip_packet_src_port (&pkt), payload, plen, NULL)
            : fz_ip_build_icmp_echo (
              r, &out, &dst, &src, TRUE, fz_ip_packet_icmp_echo_id (&pkt),
              fz_ip_packet_icmp_echo_seq (&pkt), payload, plen, NULL);
      g_assert_true (built);
      fz_gateway_state_handle_tun (g->gs, r, now_of (w));
      if (pkt.proto == FZ_IP_PROTO_UDP && fz_rng_below (&w->rng, 2) == 0)
        probe_other_client (g, s, &dst, fz_ip_packet_dst_port (&pkt));
    }
  fz_packet_buf_free (b);
}

/* The DNS server behind the gateway: the world's records, IPv4 first. */
static void
resolve (Gw *g, const FzGatewayEvent *e)
{
  FzIpAddr addrs[6];
  guint n = 0;
  const Rec *r = record_of (&g->w->sh, e->domain);
  TRACE (g->w, "%s resolves %s", g->id, e->domain);
  if (r != NULL)
    {
      for (guint i = 0; i < r->n4; i++)
        addrs[n++] = r->v4[i];
      for (guint i = 0; i < r->n6; i++)
        addrs[n++] = r->v6[i];
    }
  fz_gateway_state_resolved (g->gs, e->request, addrs, n, now_of (g->w));
}

/* The resolver behind a gateway, for clients' SRV/TXT queries: NOERROR
 * (nothing) for the names it has records of, NXDOMAIN for others. */
static void
gateway_resolver (Gw *g, const FzGatewayEvent *e)
{
  gsize qlen, len;
  const guint8 *qw = g_bytes_get_data (e->query, &qlen);
  ldns_pkt *q = NULL;
  if (ldns_wire2pkt (&q, qw, qlen) != LDNS_STATUS_OK)
    {
      FAIL (g->w, "%s passed on a query that does not parse", g->id);
      fz_gateway_state_dns_answer (g->gs, e->request, NULL, 0, now_of (g->w));
      return;
    }
  ldns_rr *rr = ldns_rr_list_rr (ldns_pkt_question (q), 0);
  g_autofree char *owner = ldns_rdf2str (ldns_rr_owner (rr));
  owner[strlen (owner) - 1] = '\0';
  TRACE (g->w, "%s's resolver: %s", g->id, owner);
  guint8 rcode
    = record_of (&g->w->sh, owner) != NULL ? LDNS_RCODE_NOERROR : LDNS_RCODE_NXDOMAIN;
  guint8 *wire = dns_answer (q, rcode, NULL, 0, 0, &len);
  fz_gateway_state_dns_answer (g->gs, e->request, wire, len, now_of (g->w));
  free (wire);
  ldns_pkt_free (q);
}

static void
gw_flush (Gw *g)
{
  World *w = g->w;
  FzPortalMessage *m;
  FzGatewayEvent e;
  FzPacketBuf *b;
  FzNodeTransmit tx;

  for (gboolean again = TRUE; again;)
    {
      again = FALSE;
      while ((m = fz_gateway_state_poll_portal (g->gs)) != NULL)
        {
          gboolean broadcast
            = m->event == FZ_PORTAL_BROADCAST_ICE_CANDIDATES
              || m->event == FZ_PORTAL_BROADCAST_INVALIDATED_ICE_CANDIDATES;
          for (guint i = 0; broadcast && i < m->peer_ids->len; i++)
            {
              Client *c = client_by_id (w, m->peer_ids->pdata[i]);
              if (c == NULL)
                continue;
              FzPortalMessage *x
                = fz_portal_message_new (m->event == FZ_PORTAL_BROADCAST_ICE_CANDIDATES
                                           ? FZ_PORTAL_ICE_CANDIDATES
                                           : FZ_PORTAL_INVALIDATE_ICE_CANDIDATES);
              x->peer_id = g_strdup (g->id);
              TRACE (w, "%s → %s: %u candidates", g->id, c->id, m->candidates->len);
              g_array_append_vals (x->candidates, m->candidates->data,
                                   m->candidates->len);
              portal_send (w, -1 - (int) c->idx, x);
            }
          if (m->event == FZ_PORTAL_AUTHORIZATION_CREATED_REF)
            {
              Ref *created = g_hash_table_lookup (w->refs, m->ref);
              if (created == NULL)
                FAIL (w, "%s answered an unknown ref %s", g->id, m->ref);
              else if (created->json != NULL)
                to_client (&w->cl[created->client], "authorization_created",
                           created->json);
              g_hash_table_remove (w->refs, m->ref);
            }
          fz_portal_message_free (m);
        }
      while (fz_gateway_state_poll_event (g->gs, &e))
        {
          if (e.type == FZ_GATEWAY_EVENT_RESOLVE)
            resolve (g, &e);
          else if (e.type == FZ_GATEWAY_EVENT_DNS_QUERY)
            gateway_resolver (g, &e);
          fz_gateway_event_clear (&e);
          again = TRUE;
        }
      while ((b = fz_gateway_state_poll_tun (g->gs)) != NULL)
        {
          resource_network (g, b);
          again = TRUE;
        }
      while (fz_gateway_state_poll_transmit (g->gs, &tx))
        {
          sim_host_send (g->host, &tx.dst, tx.buf->data, tx.buf->len);
          fz_packet_buf_free (tx.buf);
        }
    }
}

/* ---- the network's callbacks ---- */

static FzPacketBuf *
buf_of (World *w, const guint8 *data, gsize len)
{
  FzPacketBuf *buf = fz_buf_pool_alloc (w->pool);
  if (!fz_packet_buf_set (buf, data, len))
    {
      fz_packet_buf_free (buf);
      return NULL;
    }
  return buf;
}

static void
client_recv (SimHost *host, const FzSockAddr *local, const FzSockAddr *from,
             const guint8 *data, gsize len, gpointer user_data)
{
  Client *c = user_data;
  FzPacketBuf *buf = buf_of (c->w, data, len);
  (void) host;
  if (buf == NULL)
    return;
  fz_client_state_handle_datagram (c->cl, local, from, buf, now_of (c->w));
  client_flush (c);
}

static void
gw_recv (SimHost *host, const FzSockAddr *local, const FzSockAddr *from,
         const guint8 *data, gsize len, gpointer user_data)
{
  Gw *g = user_data;
  FzPacketBuf *buf = buf_of (g->w, data, len);
  (void) host;
  if (buf == NULL)
    return;
  fz_gateway_state_handle_datagram (g->gs, local, from, buf, now_of (g->w));
  gw_flush (g);
}

static gint64
timers (gpointer user_data, gint64 now)
{
  World *w = user_data;
  /* A state that keeps asking to be woken without time moving on would
   * hang the run: fail the seed instead, naming who asked. */
  if (w->stuck || ++w->wakeups > 200000)
    {
      if (!w->stuck)
        {
          g_autoptr (GString) who = g_string_new (NULL);
          for (guint i = 0; i < w->n_cl; i++)
            if (fz_client_state_poll_timeout (w->cl[i].cl) <= now)
              g_string_append_printf (who, " %s", w->cl[i].id);
          for (guint i = 0; i < w->n_gw; i++)
            if (fz_gateway_state_poll_timeout (w->gw[i].gs) <= now)
              g_string_append_printf (who, " %s", w->gw[i].id);
          FAIL (w,
                "seed %" G_GUINT64_FORMAT ": 200000 wake-ups in one step, at %.3f s "
                "due:%s",
                w->seed, (now - 1000 * S) / 1e6, who->str);
        }
      w->stuck = TRUE;
      return G_MAXINT64;
    }
  portal_deliver (w, now);
  gint64 next = G_MAXINT64;
  for (guint i = 0; i < w->n_cl; i++)
    {
      Client *c = &w->cl[i];
      if (fz_client_state_poll_timeout (c->cl) <= now)
        {
          fz_client_state_handle_timeout (c->cl, now);
          client_flush (c);
        }
      next = MIN (next, fz_client_state_poll_timeout (c->cl));
    }
  for (guint i = 0; i < w->n_gw; i++)
    {
      Gw *g = &w->gw[i];
      if (fz_gateway_state_poll_timeout (g->gs) <= now)
        {
          fz_gateway_state_handle_timeout (g->gs, now);
          gw_flush (g);
        }
      next = MIN (next, fz_gateway_state_poll_timeout (g->gs));
    }
  if (!g_queue_is_empty (&w->portal_q))
    next = MIN (next, ((Pending *) g_queue_peek_head (&w->portal_q))->at);
  return next;
}

static void
run_for (World *w, gint64 span)
{
  w->wakeups = 0;
  sim_net_run (w->net, now_of (w) + span, timers, w);
}

/* ---- building a world ---- */

static void
random_prefix (World *w, Prefix *p)
{
  static const guint lens4[] = { 8, 16, 24, 28, 32 };
  static const guint lens6[] = { 32, 64, 112, 128 };
  memset (p, 0, sizeof *p);
  if (fz_rng_below (&w->rng, 3) > 0)
    {
      /* Inside 10.0-1.0-1.x: small, so that resources overlap. */
      guint8 b[4] = { 10, fz_rng_below (&w->rng, 2), fz_rng_below (&w->rng, 2),
                      fz_rng_below (&w->rng, 256) };
      fz_ip_addr_set_v4 (&p->base, b);
      p->len = lens4[fz_rng_below (&w->rng, G_N_ELEMENTS (lens4))];
    }
  else
    {
      guint8 b[16] = { 0xfd, 0xaa, 0, 0, 0, 0, 0, fz_rng_below (&w->rng, 2) };
      b[15] = fz_rng_below (&w->rng, 256);
      fz_ip_addr_set_v6 (&p->base, b);
      p->len = lens6[fz_rng_below (&w->rng, G_N_ELEMENTS (lens6))];
    }
  /* Clear the host bits, as the portal would. */
  for (guint bit = p->len; bit < 128; bit++)
    p->base.bytes[bit / 8] &= ~(0x80 >> (bit % 8));
}

static const guint16 ports[] = { 53, 80, 443, 1000, 1001, 5000 };

static void
random_filters (World *w, Res *r)
{
  r->n_filters = fz_rng_below (&w->rng, 2) == 0 ? 0 : 1 + fz_rng_below (&w->rng, 3);
  for (guint i = 0; i < r->n_filters; i++)
    {
      Filter *f = &r->filters[i];
      static const guint8 protos[] = { 1, 6, 17 };
      f->proto = protos[fz_rng_below (&w->rng, 3)];
      f->lo = ports[fz_rng_below (&w->rng, G_N_ELEMENTS (ports))];
      f->hi = f->lo + fz_rng_below (&w->rng, 2) * 1000;
    }
}

/* Names the applications ask for; the first ones have records. */
static const char *const names[]
  = { "a.test",   "x.a.test",   "y.a.test", "zz.a.test", "p.q.a.test",
      "b.a.test", "x.b.a.test", "c.test",   "x.c.test",  "use-application-dns.net",
      "d.example" };
#define N_RECORDED 9

static void
new_addresses (World *w, Rec *r, guint i)
{
  r->n4 = 1 + fz_rng_below (&w->rng, 3);
  r->n6 = 1 + fz_rng_below (&w->rng, 3);
  for (guint j = 0; j < 3; j++)
    {
      guint8 b4[4] = { 172, 16, i, 1 + fz_rng_below (&w->rng, 250) };
      guint8 b6[16] = { 0xfd, 0xbb, [13] = i, [15] = 1 + fz_rng_below (&w->rng, 250) };
      fz_ip_addr_set_v4 (&r->v4[j], b4);
      fz_ip_addr_set_v6 (&r->v6[j], b6);
    }
}

static void
add_records (World *w)
{
  for (guint i = 0; i < N_RECORDED; i++)
    {
      Rec *r = &w->sh.recs[w->sh.n_recs++];
      r->name = names[i];
      new_addresses (w, r, i);
    }
}

/* A name's records change (up to 4 times: the old ones are kept). */
static void
change_records (World *w)
{
  guint i = fz_rng_below (&w->rng, w->sh.n_recs);
  Rec *r = &w->sh.recs[i];
  if (r->n_old == G_N_ELEMENTS (r->old4))
    return;
  memcpy (r->old4[r->n_old], r->v4, sizeof r->v4);
  memcpy (r->old6[r->n_old], r->v6, sizeof r->v6);
  r->old_n4[r->n_old] = r->n4;
  r->old_n6[r->n_old] = r->n6;
  r->n_old++;
  new_addresses (w, r, i);
  TRACE (w, "dns: %s has new records", r->name);
}

/* A new resource for every client, each with its own policy. */
static void
publish_resource (World *w, const Res *tmpl)
{
  for (guint i = 0; i < w->n_cl; i++)
    {
      Model *m = &w->cl[i].m;
      Res *r = &m->res[m->n_res++];
      *r = *tmpl;
      r->allowed = fz_rng_below (&w->rng, 4) > 0;
    }
}

static void
add_dns_resources (World *w)
{
  static const char *const bases[] = { "a.test", "b.a.test", "c.test" };
  static const char *const forms[] = { "%s", "x.%s", "?.%s", "*.%s", "**.%s" };
  guint n = fz_rng_below (&w->rng, 5);
  Model *m0 = &w->cl[0].m;

  for (guint i = 0; i < n && m0->n_res < MAX_RES; i++)
    {
      Res tmpl = { 0 }, *r = &tmpl;
      r->kind = RES_DNS;
      g_snprintf (r->id, sizeof r->id, "r-%u", m0->n_res);
      G_GNUC_BEGIN_IGNORE_DEPRECATIONS
      g_snprintf (r->pattern, sizeof r->pattern,
                  forms[fz_rng_below (&w->rng, G_N_ELEMENTS (forms))],
                  bases[fz_rng_below (&w->rng, G_N_ELEMENTS (bases))]);
      G_GNUC_END_IGNORE_DEPRECATIONS
      gboolean dup = FALSE;
      for (guint j = 0; j < m0->n_res; j++)
        dup |= m0->res[j].kind == RES_DNS && g_str_equal (m0->res[j].pattern, r->pattern);
      if (dup)
        continue;
      r->site = fz_rng_below (&w->rng, w->n_sites);
      random_filters (w, r);
      publish_resource (w, r);
    }
}

static void
add_cidr_resource (World *w)
{
  Model *m0 = &w->cl[0].m;
  Res tmpl = { 0 }, *r = &tmpl;
  r->kind = RES_CIDR;
  g_snprintf (r->id, sizeof r->id, "r-%u", m0->n_res);
  /* Two resources with one prefix: which one wins is not defined. */
  for (gboolean dup = TRUE; dup;)
    {
      random_prefix (w, &r->prefix);
      dup = FALSE;
      for (guint j = 0; j < m0->n_res; j++)
        dup |= m0->res[j].prefix.len == r->prefix.len
               && fz_ip_addr_equal (&m0->res[j].prefix.base, &r->prefix.base);
    }
  r->site = fz_rng_below (&w->rng, w->n_sites);
  random_filters (w, r);
  publish_resource (w, r);
}

static void
add_resources (World *w)
{
  for (guint n = 2 + fz_rng_below (&w->rng, 6); n > 0; n--)
    add_cidr_resource (w);
  if (fz_rng_below (&w->rng, 2) == 0)
    {
      Res r = { 0 };
      r.kind = RES_INTERNET;
      g_snprintf (r.id, sizeof r.id, "r-inet");
      r.site = fz_rng_below (&w->rng, w->n_sites);
      publish_resource (w, &r);
    }
  add_records (w);
  add_dns_resources (w);
}

static void
describe (World *w)
{
  char a[FZ_IP_ADDR_STRLEN];
  if (!verbose)
    return;
  g_printerr ("seed %" G_GUINT64_FORMAT ": %u sites, %u gateways, %u clients\n", w->seed,
              w->n_sites, w->n_gw, w->n_cl);
  for (guint i = 0; i < w->n_cl; i++)
    g_printerr ("  %s %s %s\n", w->cl[i].id, addr_str (&w->cl[i].ip4, a),
                sim_nat_kind_name (w->cl[i].nat));
  for (guint i = 0; i < w->n_gw; i++)
    g_printerr ("  %s site-%u %s\n", w->gw[i].id, w->gw[i].site,
                sim_nat_kind_name (w->gw[i].nat));
  for (guint i = 0; i < w->cl[0].m.n_res; i++)
    {
      Res *r = &w->cl[0].m.res[i];
      g_printerr ("  %s site-%u %s/%u allowed to", r->id, r->site,
                  r->kind == RES_CIDR  ? addr_str (&r->prefix.base, a)
                  : r->kind == RES_DNS ? r->pattern
                                       : "internet",
                  r->prefix.len);
      for (guint k = 0; k < w->n_cl; k++)
        if (w->cl[k].m.res[i].allowed)
          g_printerr (" %s", w->cl[k].id);
      g_printerr (", %u filters:", r->n_filters);
      for (guint j = 0; j < r->n_filters; j++)
        g_printerr (" %u:%u-%u", r->filters[j].proto, r->filters[j].lo, r->filters[j].hi);
      g_printerr ("\n");
    }
}

/* -vv: every datagram. */
static void
tap (const FzSockAddr *src, const FzSockAddr *dst, const guint8 *data, gsize len,
     gpointer user_data)
{
  World *w = user_data;
  char a[FZ_SOCK_ADDR_STRLEN], b[FZ_SOCK_ADDR_STRLEN];
  TRACE (w, "  net %s → %s: %zu bytes, first %u", fz_sock_addr_to_string (src, a),
         fz_sock_addr_to_string (dst, b), len, len ? data[0] : 0);
}

static SimNatKind
random_nat (World *w)
{
  return (SimNatKind) fz_rng_below (&w->rng, 4);
}

static void
world_setup (World *w, guint64 seed)
{
  guint8 key[32];
  g_autoptr (GError) error = NULL;

  memset (w, 0, sizeof *w);
  w->seed = seed;
  w->why = g_string_new (NULL);
  w->sent = g_hash_table_new_full (NULL, NULL, NULL, sent_free);
  w->refs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, ref_free);
  w->next_tag = TAG_FIRST;
  fz_rng_init_seeded (&w->rng, seed * 2654435761u + 1);
  fz_rng_init_seeded (&w->srng, seed);
  w->net = sim_net_new (seed);
  sim_net_set_latency (w->net, 10 * MS, 5 * MS);
  /* A quarter of the worlds lose, duplicate and reorder datagrams. */
  w->lossy = fz_rng_below (&w->rng, 4) == 0;
  if (w->lossy)
    {
      sim_net_set_loss (w->net, 0.05);
      sim_net_set_duplication (w->net, 0.05, 50 * MS);
      sim_net_set_reordering (w->net, 0.05, 30 * MS);
      totals.lossy++;
    }
  w->pool = fz_buf_pool_new (2048, 64);
  w->relay = sim_net_add_relay (w->net);
  w->relay_n = 1;
  if (g_getenv ("FZ_SIM_TAP") != NULL)
    sim_net_set_tap (w->net, tap, w);
  w->n_sites = 1 + fz_rng_below (&w->rng, 3);
  for (guint s = 0; s < w->n_sites; s++)
    for (guint k = 1 + fz_rng_below (&w->rng, 2); k > 0; k--)
      {
        Gw *g = &w->gw[w->n_gw];
        g->w = w;
        g->idx = w->n_gw;
        g->site = s;
        g_snprintf (g->id, sizeof g->id, "gw-%u", g->idx);
        guint8 b4[4] = { 100, 64, 1, g->idx + 1 };
        guint8 b6[16] = { 0xfd, 0, 0x20, 0x21, 0x11, 0x11, [13] = 1, [15] = g->idx + 1 };
        fz_ip_addr_set_v4 (&g->ip4, b4);
        fz_ip_addr_set_v6 (&g->ip6, b6);
        fz_rng_fill (&w->rng, key, sizeof key);
        fz_rng_fill (&w->rng, (guint8 *) g->psk, sizeof g->psk);
        g->nat = random_nat (w);
        g->host = sim_net_add_host (w->net, g->nat, fz_rng_below (&w->rng, 2), FALSE,
                                    gw_recv, g);
        g->gs = fz_gateway_state_new (key, &w->srng, w->pool, wall_of (w), now_of (w));
        fz_node_add_host_address (fz_gateway_state_get_node (g->gs),
                                  sim_host_address (g->host), now_of (w));
        w->sh.sites_up |= 1u << s;
        w->n_gw++;
      }
  w->n_cl = 1 + fz_rng_below (&w->rng, MAX_CL);
  w->next_ip = 2 + MAX_CL;
  totals.clients += w->n_cl;
  for (guint i = 0; i < w->n_cl; i++)
    {
      Client *c = &w->cl[i];
      c->w = w;
      c->idx = i;
      g_snprintf (c->id, sizeof c->id, "c-%u", i + 1);
      guint8 b4[4] = { 100, 64, 0, i + 2 };
      guint8 b6[16] = { 0xfd, 0, 0x20, 0x21, 0x11, 0x11, [15] = i + 2 };
      fz_ip_addr_set_v4 (&c->ip4, b4);
      fz_ip_addr_set_v6 (&c->ip6, b6);
      c->m.names = g_ptr_array_new_with_free_func (g_free);
      c->m.sh = &w->sh;
    }
  add_resources (w);
  for (guint i = 0; i < w->n_cl; i++)
    {
      Client *c = &w->cl[i];
      fz_rng_fill (&w->rng, c->key, sizeof c->key);
      memcpy (key, c->key, sizeof key);
      c->nat = random_nat (w);
      c->host = sim_net_add_host (w->net, c->nat, fz_rng_below (&w->rng, 2), FALSE,
                                  client_recv, c);
      c->cl = fz_client_state_new (key, &w->srng, w->pool, NULL, now_of (w), &error);
      g_assert_no_error (error);
      fz_node_set_wall_clock (fz_client_state_get_node (c->cl), wall_of (w), now_of (w));
      fz_node_add_host_address (fz_client_state_get_node (c->cl),
                                sim_host_address (c->host), now_of (w));
    }
  describe (w);
  for (guint i = 0; i < w->n_gw; i++)
    gateway_init (&w->gw[i]);
  for (guint i = 0; i < w->n_cl; i++)
    client_init (&w->cl[i]);
  run_for (w, 200 * MS);
}

static void
world_clear (World *w)
{
  for (guint i = 0; i < w->n_cl; i++)
    {
      fz_client_state_free (w->cl[i].cl);
      g_ptr_array_unref (w->cl[i].m.names);
    }
  for (guint i = 0; i < w->n_gw; i++)
    {
      fz_gateway_state_free (w->gw[i].gs);
    }
  sim_net_free (w->net);
  g_hash_table_unref (w->sent);
  g_hash_table_unref (w->refs);
  Pending *p;
  while ((p = g_queue_pop_head (&w->portal_q)) != NULL)
    {
      fz_portal_message_free (p->m);
      g_free (p);
    }
  if (fz_buf_pool_outstanding (w->pool) != 0)
    FAIL (w, "%u packet buffers leaked", fz_buf_pool_outstanding (w->pool));
  fz_buf_pool_free (w->pool);
}

/* ---- actions ---- */

/* A destination: inside a resource, near one, on the Internet. */
static void
random_destination (Client *c, FzIpAddr *dst)
{
  World *w = c->w;
  guint pick = fz_rng_below (&w->rng, 10);
  Res *r = &c->m.res[fz_rng_below (&w->rng, c->m.n_res)];
  if (c->m.names->len > 0 && fz_rng_below (&w->rng, 2) == 0)
    {
      /* A proxy IP from an answer, or one never handed out. */
      guint k = fz_rng_below (&w->rng, c->m.names->len + 1);
      proxy_ip (k == c->m.names->len ? k + 7 : k, fz_rng_below (&w->rng, 2) ? 4 : 6,
                fz_rng_below (&w->rng, 4), dst);
      return;
    }
  if (pick < 7 && r->kind == RES_CIDR)
    {
      *dst = r->prefix.base;
      gsize n = dst->family == 4 ? 4 : 16;
      /* Random host bits. */
      for (guint bit = r->prefix.len; bit < n * 8; bit++)
        if (fz_rng_below (&w->rng, 2))
          dst->bytes[bit / 8] |= 0x80 >> (bit % 8);
      return;
    }
  if (pick < 9)
    {
      guint8 b4[4] = { 10, fz_rng_below (&w->rng, 3), fz_rng_below (&w->rng, 2),
                       fz_rng_below (&w->rng, 256) };
      fz_ip_addr_set_v4 (dst, b4);
      return;
    }
  guint8 b4[4] = { 8, 8, 4, fz_rng_below (&w->rng, 256) };
  guint8 b6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = fz_rng_below (&w->rng, 256) };
  if (fz_rng_below (&w->rng, 2))
    fz_ip_addr_set_v4 (dst, b4);
  else
    fz_ip_addr_set_v6 (dst, b6);
}

static void
send_packet (Client *c)
{
  World *w = c->w;
  Sent *s = g_new0 (Sent, 1);
  FzIpAddr src;
  FzIpPacket pkt;
  static const guint8 protos[] = { FZ_IP_PROTO_UDP, FZ_IP_PROTO_TCP, FZ_IP_PROTO_ICMP };
  char a[FZ_IP_ADDR_STRLEN];

  s->c = c;
  s->tag = w->next_tag++;
  s->gw = -1;
  s->at = now_of (w);
  random_destination (c, &s->dst);
  s->proto = protos[fz_rng_below (&w->rng, 3)];
  if (s->proto == FZ_IP_PROTO_ICMP && s->dst.family == 6)
    s->proto = FZ_IP_PROTO_ICMPV6;
  s->dport
    = s->proto == FZ_IP_PROTO_UDP || s->proto == FZ_IP_PROTO_TCP
        ? ports[fz_rng_below (&w->rng, G_N_ELEMENTS (ports))] + fz_rng_below (&w->rng, 2)
        : 0;
  /* From the tunnel IP it had before it was renumbered: dropped. */
  gboolean old = c->old4.family != 0 && fz_rng_below (&w->rng, 4) == 0;
  if (old)
    s->want = V_DROP, s->real = s->dst;
  else
    s->want = model_verdict (&c->m, &s->dst, s->proto, s->dport, now_of (w), &s->res,
                             &s->real, &s->name, &s->index);
  g_hash_table_insert (w->sent, GUINT_TO_POINTER (s->tag), s);
  src = s->dst.family == 4 ? (old ? c->old4 : c->ip4) : (old ? c->old6 : c->ip6);
  s->src = src;
  guint32 payload = GUINT32_TO_BE (s->tag);
  FzPacketBuf *buf = fz_buf_pool_alloc (w->pool);
  gboolean built;
  if (s->proto == FZ_IP_PROTO_UDP)
    built = fz_ip_build_udp (buf, &pkt, &src, &s->dst, s->tag, s->dport, &payload,
                             sizeof payload, NULL);
  else if (s->proto == FZ_IP_PROTO_TCP)
    {
      FzTcpSegment seg = {
        .sport = s->tag, .dport = s->dport, .seq = 1, .flags = FZ_TCP_SYN, .window = 1000
      };
      built = fz_ip_build_tcp (buf, &pkt, &src, &s->dst, &seg, &payload, sizeof payload,
                               NULL);
    }
  else
    built = fz_ip_build_icmp_echo (buf, &pkt, &src, &s->dst, FALSE, s->tag, 1, &payload,
                                   sizeof payload, NULL);
  g_assert_true (built);
  TRACE (w, "app of %s%s: proto %u to %s port %u, tag %u: the model says %s%s%s", c->id,
         old ? " (old IP)" : "", s->proto, addr_str (&s->dst, a), s->dport, s->tag,
         verdict_names[s->want], s->res ? " via " : "", s->res ? s->res->id : "");
  fz_client_state_handle_tun (c->cl, buf, now_of (w));
  client_flush (c);
}

/* A query to the stub: what the model expects it to answer. */
/* SRV and TXT: a DNS resource's go to its gateway once authorized (which
 * answers from the world's records); before, the client asks for the
 * authorization and answers SERVFAIL. Others go upstream. */
static void
model_gateway_query (World *w, Sent *s, Res *r, const char *name)
{
  s->res = r;
  if (r == NULL)
    return; /* upstream: NOERROR, nothing */
  /* Authorized before (not on its way since now)? */
  gboolean ready = r->authorized && r->last_request != now_of (w);
  if (!r->authorized && (r->last_request == 0 || now_of (w) - r->last_request >= 2 * S))
    {
      r->last_request = now_of (w);
      r->authorized = r->allowed && (w->sh.sites_up & (1u << r->site));
    }
  s->rcode = record_of (&w->sh, name) != NULL ? LDNS_RCODE_NOERROR : LDNS_RCODE_NXDOMAIN;
  if (r->uncertain_after != 0 && now_of (w) + STEP > r->uncertain_after)
    {
      /* An access expired: the answer, SERVFAIL or REFUSED. */
      s->may_servfail = s->may_refuse = TRUE;
      return;
    }
  if (!ready)
    {
      s->rcode = LDNS_RCODE_SERVFAIL;
      return;
    }
  /* The query or its answer lost, or an access expired (and the gateway's
   * goodbye made the client forget): SERVFAIL. */
  s->may_servfail
    = w->lossy || w->expiries > 0 || w->relays_gone_at != 0
      || (w->rebound_at != 0 && now_of (w) < w->rebound_at + REBIND_RECOVERY);
}

static void
model_query (World *w, Sent *s, const char *name)
{
  Model *m = &s->c->m;
  Res *r = dns_resource_for (m->res, m->n_res, name);
  guint family = s->qtype == LDNS_RR_TYPE_A ? 4 : 6;

  s->rcode = LDNS_RCODE_NOERROR;
  if (g_str_equal (name, "use-application-dns.net"))
    {
      s->rcode = LDNS_RCODE_NXDOMAIN; /* the DoH canary: no DoH, please */
      return;
    }
  if (s->qtype == LDNS_RR_TYPE_HTTPS)
    return; /* NOERROR, nothing: no HTTPS records, use A and AAAA */
  if (s->qtype != LDNS_RR_TYPE_A && s->qtype != LDNS_RR_TYPE_AAAA)
    {
      model_gateway_query (w, s, r, name);
      return;
    }
  if (r != NULL)
    {
      guint k = assign_name (m, name);
      for (guint i = 0; i < 4; i++)
        proxy_ip (k, family, i, &s->answers[i]);
      s->n_answers = 4;
      s->ttl = 1;
      s->res = r;
      return;
    }
  upstream_addr (name, s->qtype, &s->answers[0]);
  s->n_answers = 1;
  s->ttl = 300;
}

/* PTR of a proxy IP (one handed out or not): the name it was given to
 * (NXDOMAIN when no resource covers it any more), else the upstream's
 * answer (nothing). Returns the reverse name. */
static const char *
model_ptr_query (World *w, Sent *s, char reverse[80])
{
  FzIpAddr a;
  Model *m = &s->c->m;
  guint k = fz_rng_below (&w->rng, m->names->len + 1), index;
  proxy_ip (k == m->names->len ? k + 7 : k, fz_rng_below (&w->rng, 2) ? 4 : 6,
            fz_rng_below (&w->rng, 4), &a);
  GString *r = g_string_new (NULL);
  if (a.family == 4)
    g_string_printf (r, "%u.%u.%u.%u.in-addr.arpa", a.bytes[3], a.bytes[2], a.bytes[1],
                     a.bytes[0]);
  else
    {
      for (int i = 15; i >= 0; i--)
        g_string_append_printf (r, "%x.%x.", a.bytes[i] & 15, a.bytes[i] >> 4);
      g_string_append (r, "ip6.arpa");
    }
  g_strlcpy (reverse, r->str, 80);
  g_string_free (r, TRUE);
  s->rcode = LDNS_RCODE_NOERROR;
  const char *name = name_of_proxy (m, &a, &index);
  if (name != NULL && dns_resource_for (m->res, m->n_res, name) == NULL)
    s->rcode = LDNS_RCODE_NXDOMAIN; /* no resource has that name now */
  else if (name != NULL)
    {
      g_strlcpy (s->ptr_name, name, sizeof s->ptr_name);
      s->n_answers = 1;
      s->ttl = 1;
    }
  return reverse;
}

static void
send_query (Client *c)
{
  World *w = c->w;
  Sent *s = g_new0 (Sent, 1);
  const char *name = names[fz_rng_below (&w->rng, G_N_ELEMENTS (names))];
  const FzClientInterface *iface = fz_client_state_get_interface (c->cl);
  FzIpAddr src;
  FzIpPacket pkt;
  ldns_pkt *q = NULL;
  guint8 *wire = NULL;
  size_t len = 0;

  s->c = c;
  s->tag = w->next_tag++;
  s->gw = -1;
  s->want = V_DNS;
  s->proto = FZ_IP_PROTO_UDP;
  s->dport = 53;
  s->dst = g_array_index (iface->dns_sentinels, FzIpAddr, fz_rng_below (&w->rng, 2));
  s->real = s->dst;
  static const guint16 qtypes[]
    = { LDNS_RR_TYPE_A,   LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_A,     LDNS_RR_TYPE_AAAA,
        LDNS_RR_TYPE_SRV, LDNS_RR_TYPE_TXT,  LDNS_RR_TYPE_HTTPS, LDNS_RR_TYPE_PTR };
  s->qtype = qtypes[fz_rng_below (&w->rng, G_N_ELEMENTS (qtypes))];
  s->qid = fz_rng_below (&w->rng, 65536);
  char reverse[80];
  /* From the tunnel IP it had before it was renumbered: dropped. */
  gboolean old = c->old4.family != 0 && fz_rng_below (&w->rng, 4) == 0;
  if (s->qtype == LDNS_RR_TYPE_PTR)
    name = model_ptr_query (w, s, reverse);
  else if (!old)
    model_query (w, s, name);
  if (old)
    s->want = V_DROP;
  g_hash_table_insert (w->sent, GUINT_TO_POINTER (s->tag), s);
  g_assert_cmpint (
    ldns_pkt_query_new_frm_str (&q, name, s->qtype, LDNS_RR_CLASS_IN, LDNS_RD), ==,
    LDNS_STATUS_OK);
  ldns_pkt_set_id (q, s->qid);
  g_assert_cmpint (ldns_pkt2wire (&wire, q, &len), ==, LDNS_STATUS_OK);
  ldns_pkt_free (q);
  src = s->dst.family == 4 ? (old ? c->old4 : c->ip4) : (old ? c->old6 : c->ip6);
  s->src = src;
  /* A quarter of the applications ask over TCP. */
  if (!old && fz_rng_below (&w->rng, 4) == 0)
    {
      guint8 *framed = g_malloc (len + 2);
      framed[0] = len >> 8, framed[1] = len & 255;
      memcpy (framed + 2, wire, len);
      free (wire);
      s->tcp_query = g_bytes_new_take (framed, len + 2);
      s->tcp_in = g_byte_array_new ();
      s->tcp_phase = 1;
      s->proto = FZ_IP_PROTO_TCP;
      totals.tcp_queries++;
      TRACE (w, "app of %s: DNS %s over TCP, tag %u", c->id, name, s->tag);
      tcp_send (c, s, FZ_TCP_SYN, TCP_ISS, NULL, 0);
      fz_client_state_handle_tun (c->cl, g_queue_pop_head (&c->app_out), now_of (w));
      client_flush (c);
      return;
    }
  FzPacketBuf *buf = fz_buf_pool_alloc (w->pool);
  g_assert_true (fz_ip_build_udp (buf, &pkt, &src, &s->dst, s->tag, 53, wire, len, NULL));
  free (wire);
  g_autofree char *qtype_name = ldns_rr_type2str (s->qtype);
  TRACE (w, "app of %s: DNS %s %s, tag %u: the model says %s%u answers", c->id, name,
         qtype_name, s->tag, s->rcode ? "NXDOMAIN, " : "", s->n_answers);
  fz_client_state_handle_tun (c->cl, buf, now_of (w));
  client_flush (c);
}

/* What became of a packet, against the model's verdict. */
static void
check_sent (World *w, Sent *s)
{
  char a[FZ_IP_ADDR_STRLEN];
  const char *what = NULL;
  gboolean v4 = s->dst.family == 4;
  gboolean want_reply = s->proto != FZ_IP_PROTO_TCP;
  gboolean lossy = w->lossy; /* then at most once, never elsewhere */
  char r[FZ_IP_ADDR_STRLEN];

  /* An access that expires before the packet got there (the connection
   * may take seconds under loss). */
  if (s->want == V_DELIVER && s->res->uncertain_after != 0
      && s->res->uncertain_after < s->at + STEP)
    s->want = V_UNCERTAIN;
  /* Without relays, connections through them die and gateways take no
   * new client; what is sent once a relay is back must get through. */
  if ((s->want == V_DELIVER || s->want == V_REFUSED || s->want == V_OFFLINE)
      && w->relays_gone_at != 0 && s->at + STEP > w->relays_gone_at
      && (w->relay_down || s->at < w->relays_back_at))
    s->want = V_UNCERTAIN;
  /* Sent while the connections recover from a NAT rebinding. */
  if ((s->want == V_DELIVER || s->want == V_REFUSED || s->want == V_OFFLINE)
      && w->rebound_at != 0 && s->at < w->rebound_at + REBIND_RECOVERY)
    {
      s->want = V_UNCERTAIN;
      totals.rebind_uncertain++;
    }

  if (s->probe)
    {
      totals.probes_arrived += s->replies;
      if (s->replies > 0 && !s->may_arrive)
        FAIL (w,
              "seed %" G_GUINT64_FORMAT ": a resource's packet (tag %u) reached %s, "
              "which never had access there",
              w->seed, s->tag, s->c->id);
      return;
    }
  if (s->wrong > 0)
    what = "went to the wrong place or came back from one";
  else if (s->want == V_DNS && (s->replies != 1 || s->icmp > 0))
    what = "got no DNS answer (or several)";
  else if (s->want == V_UNCERTAIN && s->delivered > 1)
    what = "was delivered more than once";
  else if (s->want == V_UNCERTAIN && s->delivered == 1
           && w->gw[s->gw].site != s->res->site)
    what = "reached a gateway of another site";
  else if (s->want != V_DELIVER && s->want != V_UNCERTAIN && s->delivered > 0)
    what = "reached a resource";
  else if (s->want == V_DELIVER && (lossy ? s->delivered > 1 : s->delivered != 1))
    what = lossy ? "was delivered more than once" : "was not delivered exactly once";
  else if (s->want == V_DELIVER && s->delivered == 1 && w->gw[s->gw].site != s->res->site)
    what = "reached a gateway of another site";
  else if (s->replies > s->delivered && s->want != V_DNS)
    what = "got a reply it was never delivered for";
  else if (s->want == V_DELIVER && want_reply
           && (lossy ? s->replies > 1 : s->replies != 1))
    what = "got no reply (or several)";
  else if (s->want == V_DELIVER && s->icmp > 0)
    what = "got an ICMP error";
  else if (s->want == V_DROP && s->icmp > 0)
    what = "got an ICMP error instead of nothing";
  else if (s->want == V_PROHIBITED
           && (s->icmp != 1 || s->icmp_type != (v4 ? 3 : 1)
               || s->icmp_code != (v4 ? 13 : 1)))
    what = "did not get one ICMP prohibited";
  else if (s->want == V_HELD && s->icmp > 0
           && (s->icmp != 1 || s->icmp_type != (v4 ? 3 : 1)
               || s->icmp_code != (v4 ? 0 : 3)))
    what = "got an ICMP error other than one net unreachable";
  else if ((s->want == V_FORBIDDEN
            || ((s->want == V_REFUSED || s->want == V_OFFLINE)
                && !(lossy && s->icmp == 0)))
           && (s->icmp != 1 || s->icmp_type != (v4 ? 3 : 1)
               || s->icmp_code != (v4 ? 0 : 3)))
    what = "did not get one ICMP net unreachable";
  if (what != NULL)
    FAIL (w,
          "seed %" G_GUINT64_FORMAT
          ": tag %u (proto %u to %s port %u, model: %s%s%s, real %s) %s: "
          "delivered %u (gw %d), replies %u, icmp %u (%u/%u), wrong %u",
          w->seed, s->tag, s->proto, addr_str (&s->dst, a), s->dport,
          verdict_names[s->want], s->res ? " via " : "", s->res ? s->res->id : "",
          addr_str (&s->real, r), what, s->delivered, s->gw, s->replies, s->icmp,
          s->icmp_type, s->icmp_code, s->wrong);
  if (s->want == V_DELIVER && s->delivered == 0)
    totals.lost++;
  if (s->want == V_DELIVER && w->relays_back_at != 0 && s->at >= w->relays_back_at)
    totals.after_relay_back++;
  switch (s->want)
    {
    case V_DELIVER:
      w->n_delivered++;
      w->n_proxied += s->res->kind == RES_DNS;
      break;
    case V_PROHIBITED: w->n_prohibited++; break;
    case V_FORBIDDEN: w->n_forbidden++; break;
    case V_DROP: w->n_dropped++; break;
    case V_HELD: w->n_held++; break;
    case V_REFUSED: w->n_refused++; break;
    case V_DNS: w->n_dns++; break;
    case V_OFFLINE: w->n_forbidden++; break;
    case V_UNCERTAIN: totals.uncertain++; break;
    }
}

static void
toggle_internet (Client *c)
{
  c->m.internet_on = !c->m.internet_on;
  TRACE (c->w, "app of %s: Internet resource %s", c->id, c->m.internet_on ? "on" : "off");
  fz_client_state_set_internet_resource_enabled (c->cl, c->m.internet_on, now_of (c->w));
  client_flush (c);
}

/* ---- churn ---- */

/* The portal's connections dropped and came back: init again to all. */
static void
portal_reconnect (World *w)
{
  TRACE (w, "portal: reconnected, init again");
  for (guint i = 0; i < w->n_gw; i++)
    if (!w->gw[i].gone)
      gateway_init (&w->gw[i]);
  for (guint i = 0; i < w->n_cl; i++)
    client_init (&w->cl[i]);
}

/* A resource's index (the same in every client's model), or -1. */
static int
random_live_resource (World *w, gboolean internet_too)
{
  guint live[MAX_RES], n = 0;
  const Model *m0 = &w->cl[0].m;
  for (guint i = 0; i < m0->n_res; i++)
    if (!m0->res[i].gone && (internet_too || m0->res[i].kind != RES_INTERNET))
      live[n++] = i;
  return n == 0 ? -1 : (int) live[fz_rng_below (&w->rng, n)];
}

/* A resource deleted (or the policy giving it gone): the clients forget
 * it, the gateways that gave access lose it. */
static void
remove_resource (World *w)
{
  int i = random_live_resource (w, TRUE);
  if (i < 0)
    return;
  for (guint k = 0; k < w->n_cl; k++)
    {
      Client *c = &w->cl[k];
      Res *r = &c->m.res[i];
      TRACE (w, "portal: %s deleted for %s", r->id, c->id);
      r->gone = TRUE;
      g_autofree char *id = g_strdup_printf ("\"%s\"", r->id);
      to_client (c, "resource_deleted", id);
      for (guint j = 0; j < w->n_gw; j++)
        if ((r->access & (1u << j)) && !w->gw[j].gone)
          {
            g_autofree char *json = g_strdup_printf (
              "{\"client_id\":\"%s\",\"resource_id\":\"%s\"}", c->id, r->id);
            to_gateway (&w->gw[j], "reject_access", json);
          }
    }
}

/* New filters: to the clients, and to every gateway (those without access
 * ignore it). */
static void
change_filters (World *w)
{
  int i = random_live_resource (w, FALSE);
  if (i < 0)
    return;
  Res *r = &w->cl[0].m.res[i];
  random_filters (w, r);
  for (guint k = 1; k < w->n_cl; k++)
    {
      memcpy (w->cl[k].m.res[i].filters, r->filters, sizeof r->filters);
      w->cl[k].m.res[i].n_filters = r->n_filters;
    }
  TRACE (w, "portal: %s now has %u filters", r->id, r->n_filters);
  g_autoptr (GString) json = g_string_new (NULL);
  res_json (json, r);
  to_clients (w, "resource_created_or_updated", json->str);
  for (guint j = 0; j < w->n_gw; j++)
    if (!w->gw[j].gone)
      to_gateway (&w->gw[j], "resource_updated", json->str);
}

static void
add_resource (World *w)
{
  if (w->cl[0].m.n_res + 1 >= MAX_RES)
    return;
  guint before = w->cl[0].m.n_res;
  if (fz_rng_below (&w->rng, 2))
    add_dns_resources (w);
  else
    add_cidr_resource (w);
  for (guint i = before; i < w->cl[0].m.n_res; i++)
    {
      g_autoptr (GString) json = g_string_new (NULL);
      res_json (json, &w->cl[0].m.res[i]);
      TRACE (w, "portal: %s created", w->cl[0].m.res[i].id);
      to_clients (w, "resource_created_or_updated", json->str);
    }
}

/* A gateway shuts down: its goodbye to the clients; the portal takes it
 * off its site. */
static void
gateway_leaves (World *w)
{
  Gw *g = &w->gw[fz_rng_below (&w->rng, w->n_gw)];
  if (g->gone)
    return;
  TRACE (w, "%s shuts down", g->id);
  fz_gateway_state_shutdown (g->gs, now_of (w));
  gw_flush (g);
  g->gone = TRUE;
  w->sh.sites_up = 0;
  for (guint i = 0; i < w->n_gw; i++)
    if (!w->gw[i].gone)
      w->sh.sites_up |= 1u << w->gw[i].site;
  for (guint k = 0; k < w->n_cl; k++)
    for (guint i = 0; i < w->cl[k].m.n_res; i++)
      {
        Res *r = &w->cl[k].m.res[i];
        if (r->access & (1u << g->idx))
          {
            r->access &= ~(1u << g->idx);
            r->authorized = FALSE;
          }
      }
}

static void
forget_authorizations (Client *c, gboolean restart)
{
  for (guint i = 0; i < c->m.n_res; i++)
    {
      c->m.res[i].authorized = FALSE;
      if (restart)
        c->m.res[i].last_request = 0;
    }
}

static void
add_host_address (Client *c)
{
  fz_node_add_host_address (fz_client_state_get_node (c->cl), sim_host_address (c->host),
                            now_of (c->w));
}

/* The network changed under the client. */
static void
client_reset (Client *c)
{
  TRACE (c->w, "%s: reset", c->id);
  fz_client_state_reset (c->cl, now_of (c->w));
  add_host_address (c);
  forget_authorizations (c, FALSE);
  client_flush (c);
}

/* The client restarts with the mappings it saved: the same names must
 * get the same proxy IPs. */
static void
client_restart (Client *c)
{
  World *w = c->w;
  g_autoptr (GError) error = NULL;
  g_autofree char *mappings = fz_client_state_save_mappings (c->cl);
  TRACE (w, "%s: restart", c->id);
  fz_client_state_free (c->cl);
  c->cl = fz_client_state_new (c->key, &w->srng, w->pool, mappings, now_of (w), &error);
  if (c->cl == NULL)
    g_error ("the saved mappings do not load: %s", error->message);
  fz_node_set_wall_clock (fz_client_state_get_node (c->cl), wall_of (w), now_of (w));
  add_host_address (c);
  c->m.internet_on = FALSE;
  forget_authorizations (c, TRUE);
  client_init (c);
}

/* The portal gives the client new tunnel IPs (config_changed). The
 * gateways that gave it accesses learn them as they learnt the first
 * ones: the portal authorizes those accesses again (create_authorization
 * with the new IPs; the client hears nothing of it). */
static void
client_renumber (Client *c)
{
  World *w = c->w;
  char a[FZ_IP_ADDR_STRLEN];
  guint n = w->next_ip;
  /* Half the time the IPs another client gave up (its proxy IPs and NAT
   * sessions must not carry over), else new ones. */
  for (guint i = 0; i < w->n_cl; i++)
    if (w->cl[i].old4.family != 0 && !ip_held (w, &w->cl[i].old4)
        && fz_rng_below (&w->rng, 2) == 0)
      n = w->cl[i].old4.bytes[3];
  if (n == 255)
    return;
  if (n == w->next_ip)
    w->next_ip++;
  guint8 b4[4] = { 100, 64, 0, n };
  guint8 b6[16] = { 0xfd, 0, 0x20, 0x21, 0x11, 0x11, [15] = n };
  c->old4 = c->ip4;
  c->old6 = c->ip6;
  fz_ip_addr_set_v4 (&c->ip4, b4);
  fz_ip_addr_set_v6 (&c->ip6, b6);
  TRACE (w, "portal: %s renumbered to %s", c->id, addr_str (&c->ip4, a));
  g_autofree char *iface = interface_json (c);
  g_autofree char *json = g_strdup_printf ("{\"interface\":%s}", iface);
  to_client (c, "config_changed", json);
  for (guint j = 0; j < w->n_gw; j++)
    for (guint i = 0; i < c->m.n_res && !w->gw[j].gone; i++)
      {
        const Res *r = &c->m.res[i];
        if (!r->gone && (r->access & (1u << j))
            && (r->expires[j] == 0 || r->expires[j] > wall_of (w) / S))
          create_authorization (c, &w->gw[j], r, r->expires[j], NULL);
      }
}

/* A NAT in front of a client or a gateway forgets its mappings: the
 * host's next datagrams leave from a new public port. */
static void
nat_rebinds (World *w)
{
  guint pick = fz_rng_below (&w->rng, w->n_cl + w->n_gw);
  SimHost *h = pick < w->n_cl ? w->cl[pick].host : w->gw[pick - w->n_cl].host;
  const char *id = pick < w->n_cl ? w->cl[pick].id : w->gw[pick - w->n_cl].id;
  if (!sim_host_rebind (h))
    return;
  TRACE (w, "the NAT of %s rebinds", id);
  w->rebound_at = now_of (w);
  totals.rebinds++;
}

/* The relay goes away, and the portal says so. */
static void
relays_go (World *w)
{
  if (w->relay_down)
    return;
  TRACE (w, "relay-%u goes away", w->relay_n);
  w->relays_gone_at = now_of (w);
  w->relay_down = TRUE;
  totals.relays_gone++;
  sim_net_remove_relay (w->net, w->relay);
  g_autofree char *json = g_strdup_printf (
    "{\"disconnected_ids\":[\"relay-%u\"],\"connected\":[]}", w->relay_n);
  to_clients (w, "relays_presence", json);
  for (guint i = 0; i < w->n_gw; i++)
    if (!w->gw[i].gone)
      to_gateway (&w->gw[i], "relays_presence", json);
}

/* A new relay, and the portal announces it. */
static void
relay_comes (World *w)
{
  if (!w->relay_down)
    return;
  w->relay = sim_net_add_relay (w->net);
  w->relay_n++;
  w->relay_down = FALSE;
  w->relays_back_at = now_of (w);
  totals.relays_back++;
  TRACE (w, "relay-%u comes", w->relay_n);
  g_autofree char *list = relays_json (w);
  g_autofree char *json
    = g_strdup_printf ("{\"disconnected_ids\":[],\"connected\":%s}", list);
  to_clients (w, "relays_presence", json);
  for (guint i = 0; i < w->n_gw; i++)
    if (!w->gw[i].gone)
      to_gateway (&w->gw[i], "relays_presence", json);
}

static void
churn (World *w)
{
  guint pick = fz_rng_below (&w->rng, 13);
  Client *c = &w->cl[fz_rng_below (&w->rng, w->n_cl)];
  totals.churn[pick]++;
  switch (pick)
    {
    case 0: toggle_internet (c); break;
    case 1: portal_reconnect (w); break;
    case 2: remove_resource (w); break;
    case 3: change_filters (w); break;
    case 4: add_resource (w); break;
    case 5: gateway_leaves (w); break;
    case 6: client_reset (c); break;
    case 7: client_restart (c); break;
    case 8: change_records (w); break;
    case 9: w->relay_down ? relay_comes (w) : relays_go (w); break;
    case 10: client_renumber (c); break;
    case 11: nat_rebinds (w); break;
    case 12: relay_comes (w); break;
    }
}

static gboolean
run_seed (guint64 seed, GString *why)
{
  World w;
  world_setup (&w, seed);
  guint n_actions = 6 + fz_rng_below (&w.rng, 10);
  if (g_getenv ("XACT"))
    n_actions = atoi (g_getenv ("XACT"));
  for (guint i = 0; i < n_actions && !w.failed; i++)
    {
      guint first = w.next_tag;
      guint pick = fz_rng_below (&w.rng, 10);
      if (pick <= 1)
        churn (&w);
      else if (pick <= 3)
        for (guint k = 1 + fz_rng_below (&w.rng, 2); k > 0; k--)
          send_query (&w.cl[fz_rng_below (&w.rng, w.n_cl)]);
      else
        for (guint k = 1 + fz_rng_below (&w.rng, 3); k > 0; k--)
          send_packet (&w.cl[fz_rng_below (&w.rng, w.n_cl)]);
      run_for (&w, STEP);
      for (guint t = first; t < w.next_tag; t++)
        check_sent (&w, g_hash_table_lookup (w.sent, GUINT_TO_POINTER (t)));
      totals.actions++;
    }
  totals.delivered += w.n_delivered;
  totals.prohibited += w.n_prohibited;
  totals.forbidden += w.n_forbidden;
  totals.dropped += w.n_dropped;
  totals.held += w.n_held;
  totals.refused += w.n_refused;
  totals.dns += w.n_dns;
  totals.expiries += w.expiries;
  totals.stale += w.n_stale;
  totals.proxied += w.n_proxied;
  world_clear (&w);
  g_string_append (why, w.why->str);
  g_string_free (w.why, TRUE);
  return !w.failed;
}

static gboolean
seed_passes (gint64 s)
{
  g_autoptr (GString) why = g_string_new (NULL);
  if (run_seed ((guint64) s, why))
    return TRUE;
  printf ("FAIL %s\n  repeat: test-tunnel --first %" G_GINT64_FORMAT " --seeds 1 -v\n",
          why->str, s);
  return FALSE;
}

int
main (int argc, char **argv)
{
  gint seeds = 1000;
  gint64 first = 1;
  GOptionEntry entries[] = {
    { "seeds", 0, 0, G_OPTION_ARG_INT, &seeds, "how many seeds", "N" },
    { "first", 0, 0, G_OPTION_ARG_INT64, &first, "first seed", "S" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "trace each world", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, NULL))
    return 2;
  const char *env = g_getenv ("FZ_SIM_SEEDS");
  guint64 n;
  if (env != NULL && !g_ascii_string_to_unsigned (env, 10, 1, G_MAXINT, &n, NULL))
    {
      printf ("FZ_SIM_SEEDS=%s is not a number of seeds\n", env);
      return 2;
    }
  if (env != NULL)
    seeds = (gint) n;
  if (!verbose)
    g_log_set_writer_func (g_log_writer_default, NULL, NULL);

  guint failed = 0;
  gint64 t0 = g_get_monotonic_time ();
  for (gint64 s = first; s < first + seeds; s++)
    if (!seed_passes (s))
      failed++;
  printf (
    "%d seeds, %u failed, %.1f s; %u actions; packets the model said: %u delivered (%u "
    "to DNS resources), "
    "%u prohibited, %u forbidden, %u dropped, %u held, %u refused; %u DNS queries\n",
    seeds, failed, (g_get_monotonic_time () - t0) / 1e6, totals.actions, totals.delivered,
    totals.proxied, totals.prohibited, totals.forbidden, totals.dropped, totals.held,
    totals.refused, totals.dns);
  printf (
    "%u accesses expired; then %u packets only at most once and to the right place\n",
    totals.expiries, totals.uncertain);
  printf ("%u clients (each its own state, key and tunnel IPs); %u packets to "
          "applications checked to be their own; %u resource packets to other "
          "clients (%u passed to one with access)\n",
          totals.clients, totals.leaks_checked, totals.probes, totals.probes_arrived);
  printf ("%u worlds with loss, duplication and reordering (%u packets lost there)\n",
          totals.lossy, totals.lost);
  printf ("churn: %u Internet toggles, %u portal reconnects, %u resources deleted, %u "
          "changed, %u added, %u gateways left, %u client resets, %u restarts, %u "
          "records changed (%u packets to the earlier ones), %u relays gone, %u clients "
          "renumbered, %u DNS queries over TCP, %u NAT rebindings (%u packets sent while "
          "the connections "
          "recovered: at most once, right place), %u relays back (%u packets "
          "delivered after)\n",
          totals.churn[0], totals.churn[1], totals.churn[2], totals.churn[3],
          totals.churn[4], totals.churn[5], totals.churn[6], totals.churn[7],
          totals.churn[8], totals.stale, totals.relays_gone, totals.churn[10],
          totals.tcp_queries, totals.rebinds, totals.rebind_uncertain, totals.relays_back,
          totals.after_relay_back);
  /* Every verdict must have been exercised, or the worlds are too tame. */
  if (seeds >= 100
      && (totals.proxied == 0 || totals.dns == 0 || totals.prohibited == 0
          || totals.forbidden == 0 || totals.dropped == 0))
    {
      printf ("FAIL a verdict was never exercised\n");
      failed++;
    }
  return failed == 0 ? 0 : 1;
}
