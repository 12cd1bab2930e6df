/* The p2p control payloads: round trips through JSON and through a
 * control packet, connlib's own texts, and each kind of bad input
 * refused with one error naming what is wrong. */
#include "fz-private.h"

#include <string.h>

#define RID "00000000-0000-0000-0000-000000000065"

static const char *const v4[]
  = { "100.96.0.1", "100.96.0.2", "100.127.255.254", "100.100.0.9" };
static const char *const v6[]
  = { "fd00:2021:1111:8000::1", "fd00:2021:1111:8000::2", "fd00:2021:1111:8000::1f:ffff",
      "fd00:2021:1111:8000::10:0" };

static FzAssignedIps
assigned (const char *domain, gboolean with_v4, gboolean with_v6)
{
  FzAssignedIps m = { .resource = g_strdup (RID), .domain = g_strdup (domain) };

  for (guint i = 0; with_v4 && i < 4; i++)
    g_assert_true (fz_ip_addr_parse (&m.proxy_ips[m.n_proxy_ips++], v4[i]));
  for (guint i = 0; with_v6 && i < 4; i++)
    g_assert_true (fz_ip_addr_parse (&m.proxy_ips[m.n_proxy_ips++], v6[i]));
  return m;
}

static void
assert_same_assigned (const FzAssignedIps *a, const FzAssignedIps *b)
{
  g_assert_cmpstr (a->resource, ==, b->resource);
  g_assert_cmpstr (a->domain, ==, b->domain);
  g_assert_cmpuint (a->n_proxy_ips, ==, b->n_proxy_ips);
  for (guint i = 0; i < a->n_proxy_ips; i++)
    g_assert_true (fz_ip_addr_equal (&a->proxy_ips[i], &b->proxy_ips[i]));
}

/* Encodes, wraps in a control packet, parses it, takes the payload out
 * and decodes it again. */
static void
round_trip_assigned (const FzAssignedIps *m)
{
  g_autoptr (GBytes) json = fz_assigned_ips_encode (m);
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  g_autoptr (GError) error = NULL;
  FzAssignedIps back;
  FzIpPacket pkt;
  FzControlType type;
  const guint8 *payload;
  gsize len;

  g_assert_true (fz_ip_build_control (buf, &pkt, FZ_CONTROL_ASSIGNED_IPS,
                                      g_bytes_get_data (json, NULL),
                                      g_bytes_get_size (json), NULL));
  g_assert_cmpint (fz_ip_packet_parse (&pkt, buf->data, buf->len, FZ_IP_MTU_TUNNEL), ==,
                   FZ_IP_OK);
  g_assert_true (fz_p2p_control_payload (&pkt, &type, &payload, &len));
  g_assert_cmpint (type, ==, FZ_CONTROL_ASSIGNED_IPS);
  g_assert_cmpmem (payload, len, g_bytes_get_data (json, NULL), g_bytes_get_size (json));
  g_assert_true (fz_assigned_ips_decode (payload, len, &back, &error));
  g_assert_no_error (error);
  assert_same_assigned (m, &back);
  fz_assigned_ips_clear (&back);

  /* The builder makes the same packet. */
  {
    g_autoptr (FzPacketBuf) again = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
    FzIpPacket pkt2;
    g_assert_true (fz_p2p_control_build_assigned_ips (again, &pkt2, m, NULL));
    g_assert_cmpmem (again->data, again->len, buf->data, buf->len);
  }
}

static void
test_assigned_ips_round_trip (void)
{
  g_autofree char *longest = NULL;
  FzAssignedIps m;

  m = assigned ("example.com", TRUE, TRUE);
  round_trip_assigned (&m);
  fz_assigned_ips_clear (&m);
  /* connlib for a single-stack resource sends one family only. */
  m = assigned ("a.b.example.com", TRUE, FALSE);
  round_trip_assigned (&m);
  fz_assigned_ips_clear (&m);
  m = assigned ("_sip._tcp.example.com.", FALSE, TRUE);
  round_trip_assigned (&m);
  fz_assigned_ips_clear (&m);

  /* connlib's longest case: five 49-character labels and "com", 253. */
  longest = g_strdup_printf ("%1$s.%1$s.%1$s.%1$s.%1$s.com",
                             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  g_assert_cmpuint (strlen (longest), ==, 253);
  m = assigned (longest, TRUE, TRUE);
  round_trip_assigned (&m);
  {
    g_autoptr (GBytes) json = fz_assigned_ips_encode (&m);
    g_assert_cmpuint (g_bytes_get_size (json), <=, FZ_P2P_CONTROL_MAX_PAYLOAD);
  }
  fz_assigned_ips_clear (&m);
}

static void
test_domain_status_round_trip (void)
{
  for (int s = FZ_NAT_INACTIVE; s <= FZ_NAT_ACTIVE; s++)
    {
      FzDomainStatus m
        = { .resource = (char *) RID, .domain = (char *) "example.com", .status = s };
      g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
      g_autoptr (GError) error = NULL;
      FzDomainStatus back;
      FzIpPacket pkt;
      FzControlType type;
      const guint8 *payload;
      gsize len;

      g_assert_true (fz_p2p_control_build_domain_status (buf, &pkt, &m, NULL));
      g_assert_cmpint (fz_ip_packet_parse (&pkt, buf->data, buf->len, FZ_IP_MTU_TUNNEL),
                       ==, FZ_IP_OK);
      g_assert_true (fz_p2p_control_payload (&pkt, &type, &payload, &len));
      g_assert_cmpint (type, ==, FZ_CONTROL_DOMAIN_STATUS);
      g_assert_true (fz_domain_status_decode (payload, len, &back, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (back.resource, ==, RID);
      g_assert_cmpstr (back.domain, ==, "example.com");
      g_assert_cmpint (back.status, ==, s);
      fz_domain_status_clear (&back);
    }
}

/* Texts as connlib writes them (serde field order), with members we do
 * not know, and a status from a newer peer. */
static void
test_connlib_texts (void)
{
  const char *ips
    = "{\"resource\":\"" RID "\",\"domain\":\"example.com\",\"proxy_ips\":"
      "[\"100.96.0.1\",\"100.96.0.2\",\"100.96.0.3\",\"100.96.0.4\","
      "\"fd00:2021:1111:8000::\",\"fd00:2021:1111:8000::1\","
      "\"fd00:2021:1111:8000::2\",\"fd00:2021:1111:8000::3\"],\"extra\":[1]}";
  const char *status = "{\"status\":\"Active\",\"resource\":\"" RID
                       "\",\"domain\":\"example.com\",\"later\":{}}";
  const char *unknown
    = "{\"resource\":\"" RID "\",\"domain\":\"example.com\",\"status\":\"what_is_this\"}";
  g_autoptr (GError) error = NULL;
  FzAssignedIps a;
  FzDomainStatus d;

  g_assert_true (fz_assigned_ips_decode (ips, strlen (ips), &a, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (a.n_proxy_ips, ==, 8);
  g_assert_cmpuint (a.proxy_ips[4].family, ==, 6);
  fz_assigned_ips_clear (&a);

  g_assert_true (fz_domain_status_decode (status, strlen (status), &d, &error));
  g_assert_cmpint (d.status, ==, FZ_NAT_ACTIVE);
  fz_domain_status_clear (&d);
  g_assert_true (fz_domain_status_decode (unknown, strlen (unknown), &d, &error));
  g_assert_cmpint (d.status, ==, FZ_NAT_INACTIVE);
  fz_domain_status_clear (&d);
}

static char *
ips_json (const char *resource, const char *domain, const char *list)
{
  return g_strdup_printf ("{\"resource\":%s,\"domain\":%s,\"proxy_ips\":%s}", resource,
                          domain, list);
}

#define GOOD_R  "\"" RID "\""
#define GOOD_D  "\"example.com\""
#define FOUR_V4 "[\"100.96.0.1\",\"100.96.0.2\",\"100.96.0.3\",\"100.96.0.4\"]"
#define FOUR_V6                                                                          \
  "[\"fd00:2021:1111:8000::1\",\"fd00:2021:1111:8000::2\",\"fd00:2021:1111:8000::3\","   \
  "\"fd00:2021:1111:8000::4\"]"
#define MIXED_4                                                                          \
  "[\"100.96.0.1\",\"100.96.0.2\",\"fd00:2021:1111:8000::3\",\"fd00:2021:1111:8000::"    \
  "4\"]"
#define FIVE_3                                                                           \
  "[\"100.96.0.1\",\"100.96.0.2\",\"100.96.0.3\",\"100.96.0.4\",\"100.96.0.5\",\"fd00:"  \
  "2021:1111:8000::1\",\"fd00:2021:1111:8000::2\",\"fd00:2021:1111:8000::3\"]"

static void
expect_assigned_fails (const char *json, gsize len, const char *needle)
{
  g_autoptr (GError) error = NULL;
  FzAssignedIps m;

  if (fz_assigned_ips_decode (json, len, &m, &error))
    g_error ("accepted: %.*s", (int) len, json);
  g_assert_error (error, FZ_P2P_CONTROL_ERROR, FZ_P2P_CONTROL_ERROR_INVALID);
  if (strstr (error->message, needle) == NULL)
    g_error ("\"%s\" not in \"%s\"", needle, error->message);
  g_assert_null (m.resource);
  g_assert_null (m.domain);
  g_assert_cmpuint (m.n_proxy_ips, ==, 0);
}

static void
test_assigned_ips_bad (void)
{
  struct
  {
    const char *r, *d, *list, *needle;
  } cases[] = {
    { "null", GOOD_D, FOUR_V4, "\"resource\" is not a string" },
    { "5", GOOD_D, FOUR_V4, "\"resource\" is not a string" },
    { "\"\"", GOOD_D, FOUR_V4, "\"resource\" is empty" },
    { "\"a/b\"", GOOD_D, FOUR_V4, "\"resource\" is not an id" },
    { "\"0123456789012345678901234567890123456789012345678901234567890123X\"", GOOD_D,
      FOUR_V4, "\"resource\" is empty or longer" },
    { GOOD_R, "[]", FOUR_V4, "\"domain\" is not a string" },
    { GOOD_R, "\"\"", FOUR_V4, "\"domain\" is not a DNS name" },
    { GOOD_R, "\"a..b\"", FOUR_V4, "\"domain\" is not a DNS name" },
    { GOOD_R, "\".a\"", FOUR_V4, "\"domain\" is not a DNS name" },
    { GOOD_R, "\"a b.com\"", FOUR_V4, "\"domain\" is not a DNS name" },
    /* json-glib would cut these at the NUL, leaving a valid "ex". */
    { GOOD_R, "\"ex\\u0000ample.com\"", FOUR_V4, "escaped NUL" },
    { "\"abc\\u0000/x\"", GOOD_D, FOUR_V4, "escaped NUL" },
    { GOOD_R, "\"*.example.com\"", FOUR_V4, "\"domain\" is not a DNS name" },
    { GOOD_R, "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com\"",
      FOUR_V4, "\"domain\" is not a DNS name" }, /* a 64-character label */
    { GOOD_R, GOOD_D, "\"100.96.0.1\"", "\"proxy_ips\" is not an array" },
    { GOOD_R, GOOD_D, "[]", "has 0 addresses" },
    { GOOD_R, GOOD_D, "[\"100.96.0.1\",\"100.96.0.2\",\"100.96.0.3\"]",
      "has 3 addresses" },
    { GOOD_R, GOOD_D, "[\"100.96.0.1\",\"100.96.0.2\",\"100.96.0.3\",1]",
      "\"proxy_ips\"[3] is not an IP address" },
    { GOOD_R, GOOD_D, "[\"100.96.0.1\",\"100.96.0.2\",\"100.96.0.3\",\"100.96.0.256\"]",
      "\"proxy_ips\"[3] is not an IP address" },
    { GOOD_R, GOOD_D, "[\"100.96.0.1\",\"100.64.0.2\",\"100.96.0.3\",\"100.96.0.4\"]",
      "\"proxy_ips\"[1] is outside the proxy ranges" },
    { GOOD_R, GOOD_D, "[\"100.96.0.1\",\"100.128.0.2\",\"100.96.0.3\",\"100.96.0.4\"]",
      "\"proxy_ips\"[1] is outside the proxy ranges" },
    { GOOD_R, GOOD_D,
      "[\"fd00:2021:1111::1\",\"fd00:2021:1111:8000::2\",\"fd00:2021:1111:8000::3\","
      "\"fd00:2021:1111:8000::4\"]",
      "\"proxy_ips\"[0] is outside the proxy ranges" },
    { GOOD_R, GOOD_D,
      "[\"fd00:2021:1111:8000::20:0\",\"fd00:2021:1111:8000::2\",\"fd00:2021:1111:8000::"
      "3\","
      "\"fd00:2021:1111:8000::4\"]",
      "\"proxy_ips\"[0] is outside the proxy ranges" },
    { GOOD_R, GOOD_D,
      "[\"::ffff:100.96.0.1\",\"100.96.0.2\",\"100.96.0.3\",\"100.96.0.4\"]",
      "\"proxy_ips\"[0] is outside the proxy ranges" },
    { GOOD_R, GOOD_D, MIXED_4, "not 4 of one family" },
    { GOOD_R, GOOD_D, FIVE_3, "not 4 of one family" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *json = ips_json (cases[i].r, cases[i].d, cases[i].list);
      expect_assigned_fails (json, strlen (json), cases[i].needle);
    }

  /* The good lists pass with the same frame. */
  {
    g_autofree char *a = ips_json (GOOD_R, GOOD_D, FOUR_V4);
    g_autofree char *b = ips_json (GOOD_R, GOOD_D, FOUR_V6);
    FzAssignedIps m;
    g_assert_true (fz_assigned_ips_decode (a, strlen (a), &m, NULL));
    fz_assigned_ips_clear (&m);
    g_assert_true (fz_assigned_ips_decode (b, strlen (b), &m, NULL));
    fz_assigned_ips_clear (&m);
  }

  /* Members missing, and what is not an object of JSON. */
  {
    const char *no_resource = "{\"domain\":" GOOD_D ",\"proxy_ips\":" FOUR_V4 "}";
    expect_assigned_fails (no_resource, strlen (no_resource), "\"resource\" is missing");
    const char *no_domain = "{\"resource\":" GOOD_R ",\"proxy_ips\":" FOUR_V4 "}";
    const char *no_ips = "{\"resource\":" GOOD_R ",\"domain\":" GOOD_D "}";
    expect_assigned_fails (no_domain, strlen (no_domain), "\"domain\" is missing");
    expect_assigned_fails (no_ips, strlen (no_ips), "\"proxy_ips\" is missing");
  }
  expect_assigned_fails ("", 0, "not a JSON object");
  expect_assigned_fails ("{\"resource\":", 12, "not JSON");
  expect_assigned_fails ("[1,2]", 5, "not a JSON object");
  expect_assigned_fails ("\"x\"", 3, "not a JSON object");
  expect_assigned_fails ("{}\0{}", 5, "NUL byte");

  /* Bounded: 2 KiB at most, however it is padded. */
  {
    g_autofree char *good = ips_json (GOOD_R, GOOD_D, FOUR_V4);
    GString *big = g_string_new (NULL);
    g_string_append_printf (
      big, "%*s%s", (int) (FZ_P2P_CONTROL_MAX_PAYLOAD + 1 - strlen (good)), "", good);
    g_assert_cmpuint (big->len, ==, FZ_P2P_CONTROL_MAX_PAYLOAD + 1);
    expect_assigned_fails (big->str, big->len, "longer than 2048");
    FzAssignedIps m;
    g_assert_true (fz_assigned_ips_decode (big->str + 1, big->len - 1, &m, NULL));
    fz_assigned_ips_clear (&m);
    g_string_free (big, TRUE);
  }
}

static void
test_domain_status_bad (void)
{
  struct
  {
    const char *json, *needle;
  } cases[] = {
    { "{\"resource\":" GOOD_R ",\"domain\":" GOOD_D "}", "\"status\" is missing" },
    { "{\"resource\":" GOOD_R ",\"domain\":" GOOD_D ",\"status\":true}",
      "\"status\" is not a string" },
    { "{\"resource\":" GOOD_R ",\"domain\":\"-.\\n\",\"status\":\"Active\"}",
      "\"domain\" is not a DNS name" },
    { "{\"domain\":" GOOD_D ",\"status\":\"Active\"}", "\"resource\" is missing" },
    { "nope", "not JSON" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      FzDomainStatus m;

      g_assert_false (
        fz_domain_status_decode (cases[i].json, strlen (cases[i].json), &m, &error));
      g_assert_error (error, FZ_P2P_CONTROL_ERROR, FZ_P2P_CONTROL_ERROR_INVALID);
      if (strstr (error->message, cases[i].needle) == NULL)
        g_error ("\"%s\" not in \"%s\"", cases[i].needle, error->message);
      g_assert_null (m.resource);
    }
}

static void
test_payload_of_packets (void)
{
  g_autoptr (FzPacketBuf) buf = fz_packet_buf_new (FZ_PACKET_BUF_HEADROOM, 2048);
  FzIpAddr a, b;
  FzIpPacket pkt;
  FzControlType type;
  const guint8 *payload;
  gsize len;

  g_assert_true (fz_ip_build_control (buf, &pkt, FZ_CONTROL_GOODBYE, NULL, 0, NULL));
  g_assert_true (fz_p2p_control_payload (&pkt, &type, &payload, &len));
  g_assert_cmpint (type, ==, FZ_CONTROL_GOODBYE);
  g_assert_cmpuint (len, ==, 0);

  fz_ip_addr_parse (&a, "100.64.0.1");
  fz_ip_addr_parse (&b, "100.64.0.2");
  g_assert_true (fz_ip_build_udp (buf, &pkt, &a, &b, 1, 2, "x", 1, NULL));
  g_assert_false (fz_p2p_control_payload (&pkt, &type, &payload, &len));
}

static void
test_proxy_ranges (void)
{
  struct
  {
    const char *ip;
    gboolean in;
  } cases[] = {
    { "100.96.0.0", TRUE },
    { "100.127.255.255", TRUE },
    { "100.95.255.255", FALSE },
    { "100.128.0.0", FALSE },
    { "101.96.0.1", FALSE },
    { "fd00:2021:1111:8000::", TRUE },
    { "fd00:2021:1111:8000::1f:ffff", TRUE },
    { "fd00:2021:1111:8000::20:0", FALSE },
    { "fd00:2021:1111:7fff:ffff:ffff:ffff:ffff", FALSE },
    { "fd00:2021:1111:8001::", FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      FzIpAddr addr;
      g_assert_true (fz_ip_addr_parse (&addr, cases[i].ip));
      g_assert_cmpint (fz_p2p_control_is_proxy_ip (&addr), ==, cases[i].in);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/p2p-control/assigned-ips/round-trip", test_assigned_ips_round_trip);
  g_test_add_func ("/p2p-control/domain-status/round-trip",
                   test_domain_status_round_trip);
  g_test_add_func ("/p2p-control/connlib-texts", test_connlib_texts);
  g_test_add_func ("/p2p-control/assigned-ips/bad", test_assigned_ips_bad);
  g_test_add_func ("/p2p-control/domain-status/bad", test_domain_status_bad);
  g_test_add_func ("/p2p-control/payload-of-packets", test_payload_of_packets);
  g_test_add_func ("/p2p-control/proxy-ranges", test_proxy_ranges);
  return g_test_run ();
}
