/* What clients and gateways send survives encoding and the portal's
 * decoding; what the portal pushes keeps its fields. */
#include "fz.h"

#include <string.h>

static FzPortalMessage *
through_the_wire (FzPortalMessage *m)
{
  g_autoptr (JsonNode) payload = fz_portal_message_encode (m);
  g_autoptr (FzPhoenixFrame) f
    = fz_phoenix_frame_new ("client", m->event_name, json_node_copy (payload), 7);
  g_autofree char *text = fz_phoenix_frame_to_string (f);
  g_autoptr (FzPhoenixFrame) back = fz_phoenix_frame_parse (text, strlen (text), NULL);
  g_assert_nonnull (back);
  g_autoptr (GError) error = NULL;
  FzPortalMessage *d = fz_portal_message_decode (FZ_PORTAL_ROLE_PORTAL, back->event,
                                                 back->payload, &error);
  g_assert_no_error (error);
  g_assert_cmpint (d->event, ==, m->event);
  return d;
}

static void
test_outgoing (void)
{
  FzIceCandidate c;
  g_assert_true (fz_ice_candidate_parse (
    &c, "candidate:1 1 udp 2130706431 192.0.2.1 52625 typ host", NULL));

  g_autoptr (FzPortalMessage) req
    = fz_portal_message_new (FZ_PORTAL_REQUEST_AUTHORIZATION);
  req->resource_id = g_strdup ("res-1");
  g_ptr_array_add (req->peer_ids, g_strdup ("gw-1"));
  g_autoptr (FzPortalMessage) req2 = through_the_wire (req);
  g_assert_cmpstr (req2->resource_id, ==, "res-1");
  g_assert_cmpuint (req2->peer_ids->len, ==, 1);
  g_assert_cmpstr (req2->peer_ids->pdata[0], ==, "gw-1");

  for (FzPortalEvent ev = FZ_PORTAL_NEW_GATEWAY_ICE_CANDIDATES;
       ev <= FZ_PORTAL_INVALIDATE_GATEWAY_ICE_CANDIDATES; ev++)
    {
      g_autoptr (FzPortalMessage) m = fz_portal_message_new (ev);
      m->peer_id = g_strdup ("gw-2");
      g_array_append_val (m->candidates, c);
      g_autoptr (FzPortalMessage) d = through_the_wire (m);
      g_assert_cmpstr (d->peer_id, ==, "gw-2");
      g_assert_cmpuint (d->candidates->len, ==, 1);
      g_assert_true (
        fz_ice_candidate_equal (&g_array_index (d->candidates, FzIceCandidate, 0), &c));
    }
  for (FzPortalEvent ev = FZ_PORTAL_BROADCAST_ICE_CANDIDATES;
       ev <= FZ_PORTAL_BROADCAST_INVALIDATED_ICE_CANDIDATES; ev++)
    {
      g_autoptr (FzPortalMessage) m = fz_portal_message_new (ev);
      g_ptr_array_add (m->peer_ids, g_strdup ("c-1"));
      g_ptr_array_add (m->peer_ids, g_strdup ("c-2"));
      g_array_append_val (m->candidates, c);
      g_autoptr (FzPortalMessage) d = through_the_wire (m);
      g_assert_cmpuint (d->peer_ids->len, ==, 2);
      g_assert_cmpuint (d->candidates->len, ==, 1);
    }
  g_autoptr (FzPortalMessage) ack
    = fz_portal_message_new (FZ_PORTAL_AUTHORIZATION_CREATED_REF);
  ack->ref = g_strdup ("opaque \"ref\" 42");
  g_autoptr (FzPortalMessage) ack2 = through_the_wire (ack);
  g_assert_cmpstr (ack2->ref, ==, "opaque \"ref\" 42");
  g_assert_cmpstr (fz_portal_event_name (FZ_PORTAL_AUTHORIZATION_CREATED_REF), ==,
                   "authorization_created");

  g_autoptr (FzPortalMessage) caps
    = fz_portal_message_new (FZ_PORTAL_SET_SNOWNET_CAPABILITIES);
  g_autoptr (JsonNode) payload = fz_portal_message_encode (caps);
  g_autofree char *text = json_to_string (payload, FALSE);
  g_assert_cmpstr (text, ==, "{\"iceless\":false}");
  g_autoptr (FzPortalMessage) none = fz_portal_message_new (FZ_PORTAL_NO_RELAYS);
  g_autoptr (JsonNode) empty = fz_portal_message_encode (none);
  g_autofree char *etext = json_to_string (empty, FALSE);
  g_assert_cmpstr (etext, ==, "{}");
}

/* The same event name means different things to different receivers. */
static void
test_roles (void)
{
  g_autoptr (JsonParser) p = json_parser_new ();
  g_assert_true (json_parser_load_from_data (p, "{\"ref\":\"x\"}", -1, NULL));
  JsonNode *payload = json_parser_get_root (p);
  g_autoptr (GError) error = NULL;
  g_autoptr (FzPortalMessage) portal = fz_portal_message_decode (
    FZ_PORTAL_ROLE_PORTAL, "authorization_created", payload, &error);
  g_assert_no_error (error);
  g_assert_cmpint (portal->event, ==, FZ_PORTAL_AUTHORIZATION_CREATED_REF);
  /* To a client it is the full authorization, and this one is not. */
  g_autoptr (FzPortalMessage) client = fz_portal_message_decode (
    FZ_PORTAL_ROLE_CLIENT, "authorization_created", payload, &error);
  g_assert_null (client);
  g_assert_error (error, FZ_PORTAL_ERROR, FZ_PORTAL_ERROR_INVALID);
  g_clear_error (&error);
  /* A gateway does not get it at all. */
  g_autoptr (FzPortalMessage) gw = fz_portal_message_decode (
    FZ_PORTAL_ROLE_GATEWAY, "authorization_created", payload, &error);
  g_assert_nonnull (gw);
  g_assert_cmpint (gw->event, ==, FZ_PORTAL_UNKNOWN);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/portal-message/outgoing", test_outgoing);
  g_test_add_func ("/portal-message/roles", test_roles);
  return g_test_run ();
}
