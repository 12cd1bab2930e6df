/* A gateway state with clients and resources made through the portal's
 * own messages, for the fuzz target and the benchmark. */
#pragma once

#include "fz-private.h"

#include <stdio.h>
#include <string.h>

static inline void
gwsetup_push (FzGatewayState *gw, const char *event, const char *json, gint64 now)
{
  g_autoptr (JsonNode) payload = json_from_string (json, NULL);
  g_autoptr (FzPortalMessage) m
    = fz_portal_message_decode (FZ_PORTAL_ROLE_GATEWAY, event, payload, NULL);
  g_assert (m != NULL);
  fz_gateway_state_handle_portal (gw, m, now);
  FzPortalMessage *out;
  while ((out = fz_gateway_state_poll_portal (gw)) != NULL)
    fz_portal_message_free (out);
}

static inline void
gwsetup_init (FzGatewayState *gw, gint64 now)
{
  gwsetup_push (
    gw, "init",
    "{\"interface\":{\"ipv4\":\"100.64.0.1\",\"ipv6\":\"fd00:2021:1111::1\"},"
    "\"relays\":[{\"id\":\"relay-1\",\"type\":\"turn\",\"addr\":\"10.0.0.9:3478\","
    "\"username\":\"u\",\"password\":\"p\",\"expires_at\":2145916800}],"
    "\"authorizations\":[]}",
    now);
}

/* Client number @n (100.64.x.y / fd00:2021:1111::x:y) gets @resource. */
static inline void
gwsetup_authorize (FzGatewayState *gw, guint n, const char *resource, gint64 now)
{
  guint8 key[32], psk[32];
  FzRng rng; /* the same keys for the same client, every time */
  fz_rng_init_seeded (&rng, n + 1);
  fz_rng_fill (&rng, key, sizeof key);
  fz_rng_fill (&rng, psk, sizeof psk);
  g_autofree char *k = g_base64_encode (key, 32), *p = g_base64_encode (psk, 32);
  g_autofree char *json = g_strdup_printf (
    "{\"ref\":\"r\",\"resource\":%s,\"client\":{\"id\":\"client-%u\",\"public_key\":\"%"
    "s\","
    "\"preshared_key\":\"%s\",\"ipv4\":\"100.64.%u.%u\",\"ipv6\":\"fd00:2021:1111::%x:%"
    "x\"},"
    "\"client_ice_credentials\":{\"username\":\"cuuu\",\"password\":"
    "\"cp0123456789012345678901\"},"
    "\"gateway_ice_credentials\":{\"username\":\"guuu\",\"password\":"
    "\"gp0123456789012345678901\"}}",
    resource, n, k, p, 1 + n / 250, 1 + n % 250, 1 + n / 250, 1 + n % 250);
  gwsetup_push (gw, "create_authorization", json, now);
}

static inline void
gwsetup_client_ip (guint n, int family, FzIpAddr *out)
{
  char text[64];
  if (family == 4)
    g_snprintf (text, sizeof text, "100.64.%u.%u", 1 + n / 250, 1 + n % 250);
  else
    g_snprintf (text, sizeof text, "fd00:2021:1111::%x:%x", 1 + n / 250, 1 + n % 250);
  g_assert (fz_ip_addr_parse (out, text));
}

/* Client @n says it handed out proxy IPs 100.96.0.@first.. for @domain
 * of resource @rid, and the host resolves it to @real. */
static inline void
gwsetup_assign (FzGatewayState *gw, FzBufPool *pool, guint n, const char *rid,
                const char *domain, guint first, const FzIpAddr *real, gint64 now)
{
  FzAssignedIps msg = { .resource = (char *) rid, .domain = (char *) domain };
  FzIpPacket pkt;
  FzGatewayEvent e;
  char id[32];

  for (guint i = 0; i < 4; i++)
    {
      guint8 v4[4] = { 100, 96 + (first + i) / 65536 % 32, (first + i) / 256 % 256,
                       (first + i) % 256 };
      fz_ip_addr_set_v4 (&msg.proxy_ips[i], v4);
    }
  msg.n_proxy_ips = 4;
  FzPacketBuf *buf = fz_buf_pool_alloc (pool);
  g_assert (fz_p2p_control_build_assigned_ips (buf, &pkt, &msg, NULL));
  g_snprintf (id, sizeof id, "client-%u", n);
  fz_gateway_state_handle_client_packet (gw, id, buf, now);
  while (fz_gateway_state_poll_event (gw, &e))
    {
      if (e.type == FZ_GATEWAY_EVENT_RESOLVE)
        fz_gateway_state_resolved (gw, e.request, real, 1, now);
      fz_gateway_event_clear (&e);
    }
}
