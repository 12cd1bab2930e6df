/* SDP candidate strings: what peers (Firezone, browsers, libnice) send. */
#include "fz-private.h"

#include <string.h>

static void
roundtrip (const char *text, const char *expect)
{
  FzIceCandidate c;
  g_autoptr (GError) error = NULL;
  g_assert_true (fz_ice_candidate_parse (&c, text, &error));
  g_assert_no_error (error);
  g_autofree char *out = fz_ice_candidate_to_string (&c);
  g_assert_cmpstr (out, ==, expect ? expect : text);
}

static void
test_parse (void)
{
  roundtrip ("candidate:1 1 udp 2130706431 192.0.2.1 52625 typ host", NULL);
  roundtrip (
    "candidate:abc+/9 1 udp 1694498815 203.0.113.7 40000 typ srflx raddr 192.0.2.1 "
    "rport 52625",
    NULL);
  roundtrip (
    "candidate:r 1 udp 16777215 2001:db8::7 3478 typ relay raddr 2001:db8::1 rport 5",
    NULL);
  /* Case, an a= prefix and extensions as browsers write them. */
  roundtrip (
    "a=candidate:842163049 1 UDP 1677729535 198.51.100.3 61665 typ srflx raddr "
    "0.0.0.0 rport 0 generation 0 ufrag Xy network-cost 999",
    "candidate:842163049 1 udp 1677729535 198.51.100.3 61665 typ srflx raddr 0.0.0.0 "
    "rport 0");
  roundtrip ("candidate:1 1 udp 1 192.0.2.1 1 typ prflx", NULL);

  FzIceCandidate c;
  g_assert_true (fz_ice_candidate_parse (
    &c, "candidate:7 1 udp 100 192.0.2.9 9 typ relay raddr 192.0.2.1 rport 7", NULL));
  g_assert_cmpint (c.type, ==, FZ_ICE_RELAY);
  g_assert_cmpuint (c.priority, ==, 100);
  g_assert_cmpuint (c.addr.port, ==, 9);
  g_assert_cmpuint (c.related.port, ==, 7);
  g_assert_true (fz_sock_addr_equal (&c.base, &c.addr));
}

static void
reject (const char *text, gint code, const char *needle)
{
  FzIceCandidate c;
  g_autoptr (GError) error = NULL;
  g_assert_false (fz_ice_candidate_parse (&c, text, &error));
  g_assert_error (error, FZ_ICE_CANDIDATE_ERROR, code);
  if (strstr (error->message, needle) == NULL)
    g_error ("\"%s\": \"%s\" does not mention \"%s\"", text, error->message, needle);
}

static void
test_reject (void)
{
  const gint inv = FZ_ICE_CANDIDATE_ERROR_INVALID,
             uns = FZ_ICE_CANDIDATE_ERROR_UNSUPPORTED;
  reject ("", inv, "candidate:");
  reject ("1 1 udp 1 192.0.2.1 1 typ host", inv, "candidate:");
  reject ("candidate:1 1 udp 1 192.0.2.1 1 type host", inv, "typ");
  reject ("candidate:1 1 udp 1 192.0.2.1 1 typ", inv, "typ");
  reject ("candidate:1 1 udp 1 192.0.2.1 1 typ cloud", inv, "type");
  reject ("candidate: 1 udp 1 192.0.2.1 1 typ host", inv, "foundation");
  reject ("candidate:a-b 1 udp 1 192.0.2.1 1 typ host", inv, "foundation");
  reject ("candidate:123456789012345678901234567890123 1 udp 1 192.0.2.1 1 typ host", inv,
          "foundation");
  reject ("candidate:1 0 udp 1 192.0.2.1 1 typ host", inv, "component");
  reject ("candidate:1 257 udp 1 192.0.2.1 1 typ host", inv, "component");
  reject ("candidate:1 1 tcp 1 192.0.2.1 1 typ host tcptype active", uns, "UDP");
  reject ("candidate:1 1 udp 0 192.0.2.1 1 typ host", inv, "priority");
  reject ("candidate:1 1 udp 2147483648 192.0.2.1 1 typ host", inv, "priority");
  reject ("candidate:1 1 udp -1 192.0.2.1 1 typ host", inv, "priority");
  reject ("candidate:1 1 udp 99999999999999999999 192.0.2.1 1 typ host", inv, "priority");
  reject ("candidate:1 1 udp 1 f00.local 1 typ host", uns, "not an IP address");
  reject ("candidate:1 1 udp 1 192.0.2.256 1 typ host", uns, "not an IP address");
  reject ("candidate:1 1 udp 1 192.0.2.1 0 typ host", inv, "port");
  reject ("candidate:1 1 udp 1 192.0.2.1 65536 typ host", inv, "port");
  reject ("candidate:1 1 udp 1 192.0.2.1 1x typ host", inv, "port");
  reject ("candidate:1 1 udp 1 192.0.2.1 1 typ srflx raddr 192.0.2.2", inv, "rport");
  reject ("candidate:1 1 udp 1 192.0.2.1 1 typ srflx raddr", inv, "no value");
  reject ("candidate:1 1 udp 1 192.0.2.1 1 typ srflx raddr 192.0.2.2 generation 0", inv,
          "rport");
  reject ("candidate:1 1 udp 1 192.0.2.1 1 typ srflx raddr x rport 1", inv, "raddr");
  reject ("candidate:1  1 udp 1 192.0.2.1 1 typ host", inv, "component");
  g_autofree char *longer = g_strnfill (600, 'a');
  reject (longer, inv, "longer");
}

static void
test_priority_order (void)
{
  FzSockAddr v4 = { .port = 1 }, v6 = { .port = 1 }, srv = { .port = 3478 };
  fz_ip_addr_parse (&v4.ip, "192.0.2.1");
  fz_ip_addr_parse (&v6.ip, "2001:db8::1");
  fz_ip_addr_parse (&srv.ip, "198.51.100.1");

  FzIceCandidate c[5];
  fz_ice_candidate_init_local (&c[0], FZ_ICE_RELAY, &v4, &v4, &srv);
  fz_ice_candidate_init_local (&c[1], FZ_ICE_HOST, &v4, &v4, NULL);
  fz_ice_candidate_init_local (&c[2], FZ_ICE_SRFLX, &v4, &v4, &srv);
  fz_ice_candidate_init_local (&c[3], FZ_ICE_HOST, &v6, &v6, NULL);
  fz_ice_candidate_init_local (&c[4], FZ_ICE_SRFLX, &v6, &v6, &srv);
  g_qsort_with_data (c, 5, sizeof c[0], (GCompareDataFunc) fz_ice_candidate_compare,
                     NULL);
  /* host > srflx > relay, IPv6 before IPv4 within a type */
  g_assert_cmpint (c[0].type, ==, FZ_ICE_HOST);
  g_assert_cmpint (c[0].addr.ip.family, ==, 6);
  g_assert_cmpint (c[1].type, ==, FZ_ICE_HOST);
  g_assert_cmpint (c[2].type, ==, FZ_ICE_SRFLX);
  g_assert_cmpint (c[2].addr.ip.family, ==, 6);
  g_assert_cmpint (c[3].type, ==, FZ_ICE_SRFLX);
  g_assert_cmpint (c[4].type, ==, FZ_ICE_RELAY);
  /* RFC 8445 5.1.2.1 with type preference 126, local 65535, component 1 */
  g_assert_cmpuint (c[0].priority, ==, (126u << 24) + (65535u << 8) + 255);
  g_assert_cmpuint (c[4].priority, ==, (65534u << 8) + 255);
  /* Candidates of one type and base share a foundation; others do not. */
  FzIceCandidate a, b;
  fz_ice_candidate_init_local (&a, FZ_ICE_SRFLX, &v4, &v4, &srv);
  g_assert_cmpstr (a.foundation, ==, c[3].foundation);
  fz_ice_candidate_init_local (&b, FZ_ICE_RELAY, &v4, &v4, &srv);
  g_assert_cmpstr (a.foundation, !=, b.foundation);
  g_assert_true (fz_sock_addr_equal (&b.related, &v4));
  /* The text form of a local candidate parses back to the same one. */
  g_autofree char *text = fz_ice_candidate_to_string (&b);
  FzIceCandidate back;
  g_assert_true (fz_ice_candidate_parse (&back, text, NULL));
  g_assert_cmpuint (back.priority, ==, b.priority);
  g_assert_cmpstr (back.foundation, ==, b.foundation);
}

/* RFC 8445 5.1.2.1: priority = 2^24 * type preference + 2^8 * local
 * preference + (256 - component), with the type preferences of 5.1.2.2
 * (host 126, prflx 110, srflx 100, relay 0) and local preference 65535
 * for IPv6, 65534 for IPv4. The literals were computed from that formula
 * by hand, not by the code under test. */
static void
test_priority_values (void)
{
  static const struct
  {
    FzIceCandidateType type;
    guint8 family;
    guint16 component;
    guint32 priority;
  } want[] = {
    { FZ_ICE_HOST, 4, 1, 2130706175u },  { FZ_ICE_HOST, 6, 1, 2130706431u },
    { FZ_ICE_HOST, 4, 2, 2130706174u },  { FZ_ICE_PRFLX, 4, 1, 1862270719u },
    { FZ_ICE_PRFLX, 6, 1, 1862270975u }, { FZ_ICE_PRFLX, 6, 2, 1862270974u },
    { FZ_ICE_SRFLX, 4, 1, 1694498559u }, { FZ_ICE_SRFLX, 6, 1, 1694498815u },
    { FZ_ICE_SRFLX, 4, 2, 1694498558u }, { FZ_ICE_RELAY, 4, 1, 16776959u },
    { FZ_ICE_RELAY, 6, 1, 16777215u },   { FZ_ICE_RELAY, 6, 2, 16777214u },
  };
  for (guint i = 0; i < G_N_ELEMENTS (want); i++)
    {
      g_test_message ("%s IPv%u component %u",
                      fz_ice_candidate_type_to_string (want[i].type), want[i].family,
                      want[i].component);
      g_assert_cmpuint (
        fz_ice_candidate_priority (want[i].type, want[i].family, want[i].component), ==,
        want[i].priority);
    }

  /* Local candidates carry the same values, component 1. */
  FzSockAddr v4 = { .port = 1 }, v6 = { .port = 1 }, srv = { .port = 3478 };
  fz_ip_addr_parse (&v4.ip, "192.0.2.1");
  fz_ip_addr_parse (&v6.ip, "2001:db8::1");
  fz_ip_addr_parse (&srv.ip, "198.51.100.1");
  FzIceCandidate c;
  fz_ice_candidate_init_local (&c, FZ_ICE_PRFLX, &v4, &v4, &srv);
  g_assert_cmpuint (c.priority, ==, 1862270719u);
  g_assert_cmpuint (c.component, ==, 1);
  fz_ice_candidate_init_local (&c, FZ_ICE_SRFLX, &v6, &v6, &srv);
  g_assert_cmpuint (c.priority, ==, 1694498815u);
  fz_ice_candidate_init_local (&c, FZ_ICE_HOST, &v4, &v4, NULL);
  g_assert_cmpuint (c.priority, ==, 2130706175u);
  fz_ice_candidate_init_local (&c, FZ_ICE_RELAY, &v6, &v6, &srv);
  g_assert_cmpuint (c.priority, ==, 16777215u);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ice-candidate/parse", test_parse);
  g_test_add_func ("/ice-candidate/reject", test_reject);
  g_test_add_func ("/ice-candidate/priority-order", test_priority_order);
  g_test_add_func ("/ice-candidate/priority-values", test_priority_values);
  return g_test_run ();
}
