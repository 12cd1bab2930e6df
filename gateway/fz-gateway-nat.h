/* The gateway's host side of client traffic: masquerade with nftables, and
 * IP forwarding. Linux only; needs CAP_NET_ADMIN in the current network
 * namespace. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The nftables table this module owns; nothing else touches it. */
#define FZ_GATEWAY_NAT_TABLE "fz-gateway"

/* Replaces the table "inet fz-gateway" atomically with one masquerading
 * traffic from the tunnel ranges (100.64.0.0/11 for @v4,
 * fd00:2021:1111::/107 for @v6) that leaves through any interface other
 * than @tun_name (1 to 15 of [A-Za-z0-9_.-]; ignored when neither is
 * set). Neither: the table is removed. */
gboolean fz_gateway_nat_apply (const char *tun_name, gboolean v4, gboolean v6,
                               GError **error);
/* Removes the table (absent is fine). */
gboolean fz_gateway_nat_remove (GError **error);

/* Turns on net.ipv4.ip_forward and net.ipv6.conf.all.forwarding of the
 * current network namespace where they are off. FALSE, with one message
 * naming each that stays off and the command that turns it on, when
 * /proc/sys cannot be written (read-only, not root). A kernel without
 * IPv6 (no /proc/sys/net/ipv6) needs no IPv6 forwarding. */
gboolean fz_gateway_forwarding_ensure (GError **error);
/* As fz_gateway_forwarding_ensure(), changing nothing: FALSE when a start
 * would fail; *@off tells that one is off now (and would be turned on). */
gboolean fz_gateway_forwarding_check (gboolean *off, GError **error);
/* That nftables can be used here (CAP_NET_ADMIN, nf_tables), for the
 * masquerading the portal may ask for at any time. */
gboolean fz_gateway_nat_check (GError **error);

G_END_DECLS
