/* A simulated IPv4 network on simulated time: hosts, NATs of three kinds,
 * firewalls, loss, latency with jitter, reordering, duplication, and
 * minimal TURN servers. Everything random comes from one seeded
 * generator, so a run repeats exactly from its seed. */
#pragma once

#include "fz-private.h"

G_BEGIN_DECLS

typedef enum
{
  SIM_NAT_NONE,      /* a public host */
  SIM_NAT_EI,        /* endpoint-independent mapping and filtering */
  SIM_NAT_AD,        /* endpoint-independent mapping, address-dependent filtering */
  SIM_NAT_SYMMETRIC, /* a mapping and a filter per destination address and port */
} SimNatKind;

const char *sim_nat_kind_name (SimNatKind kind);

typedef struct _SimNet SimNet;
typedef struct _SimHost SimHost;

/* Delivers a datagram to a host: to @local (its own address) from @from. */
typedef void (*SimRecvFn) (SimHost *host, const FzSockAddr *local, const FzSockAddr *from,
                           const guint8 *data, gsize len, gpointer user_data);

SimNet *sim_net_new (guint64 seed);
void sim_net_free (SimNet *net);
FzRng *sim_net_rng (SimNet *net);
gint64 sim_net_now (SimNet *net);
void sim_net_set_loss (SimNet *net, double loss);
void sim_net_set_latency (SimNet *net, gint64 base, gint64 jitter);
/* With probability @p each datagram is held back up to @max_delay more,
 * so that later ones overtake it. */
void sim_net_set_reordering (SimNet *net, double p, gint64 max_delay);
/* With probability @p each datagram goes out twice, the copy up to
 * @max_delay later than it would have been (a replay when it is late). */
void sim_net_set_duplication (SimNet *net, double p, gint64 max_delay);
/* Copies handed to a host as duplicates, and datagrams handed to a host
 * after one its source sent later. */
void sim_net_stats (SimNet *net, guint *duplicated, guint *reordered);

/* A host behind its own NAT (or public), bound to one UDP port.
 * @firewall drops all UDP to and from addresses outside @allowed
 * (relays), as a company firewall would. */
SimHost *sim_net_add_host (SimNet *net, SimNatKind nat, gboolean random_ports,
                           gboolean firewall, SimRecvFn recv, gpointer user_data);
const FzSockAddr *sim_host_address (SimHost *host);
/* The host's NAT forgets its mappings (as after a reboot or a timeout):
 * later sends get new public ports, never one used before, and what
 * comes to the old ones is dropped. FALSE (nothing done) for a public
 * host. */
gboolean sim_host_rebind (SimHost *host);
void sim_net_allow (SimNet *net, const FzIpAddr *addr);
/* Returns the send's tag: what a relay forwards of it keeps the tag. */
guint64 sim_host_send (SimHost *host, const FzSockAddr *dst, const guint8 *data,
                       gsize len);
/* How many copies of that send (direct or through relays) reached a host:
 * 0 when the network lost it (loss, a NAT, a firewall or a dead relay). */
guint sim_net_delivered (SimNet *net, guint64 tag);

/* A TURN server on a public address (username "sim", password "secret",
 * realm "sim"); removing it drops everything sent to it. */
const FzSockAddr *sim_net_add_relay (SimNet *net);
/* Extra one-way delay on every datagram to or from that relay. */
void sim_net_set_relay_delay (SimNet *net, const FzSockAddr *server, gint64 delay);
/* Whether that relay sends peer data as Data indications even for bound
 * channels (as relays do before a channel is bound, or always when they
 * never bind one); off for the first relay, on for the second. */
void sim_net_set_relay_data_indications (SimNet *net, const FzSockAddr *server,
                                         gboolean on);
/* Sees every datagram delivered, before its receiver does. */
typedef void (*SimTapFn) (const FzSockAddr *src, const FzSockAddr *dst,
                          const guint8 *data, gsize len, gpointer user_data);
void sim_net_set_tap (SimNet *net, SimTapFn tap, gpointer user_data);
void sim_net_remove_relay (SimNet *net, const FzSockAddr *server);
/* The relay restarts at the same address: every allocation, permission
 * and channel is forgotten (its clients learn only from a 437). */
void sim_net_restart_relay (SimNet *net, const FzSockAddr *server);

/* Runs to @until: each step first calls @timers (which handles what is
 * due at the time it is given and returns its next deadline), then
 * delivers the datagrams due. */
typedef gint64 (*SimTimerFn) (gpointer user_data, gint64 now);
void sim_net_run (SimNet *net, gint64 until, SimTimerFn timers, gpointer user_data);

G_END_DECLS
