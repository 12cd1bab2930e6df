/* fz-msgdump: decodes one portal frame and prints it as normalized JSON,
 * for operators debugging a portal and for tests.
 *
 *   fz-msgdump --role client|gateway|portal < frame.json
 *
 * The role is who receives the frame: a client or a gateway (what the
 * portal pushes, and its phx_reply with status and reason, as when a join
 * is refused), or the portal (what clients and gateways send).
 *
 * Prints the decoded message (secrets shown as "(set)"), or one line
 * saying what is wrong and exits with status 1. */
#include "fz.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  g_autofree char *role = NULL;
  GOptionEntry entries[] = {
    { "role", 0, 0, G_OPTION_ARG_STRING, &role, "who receives the frame",
      "client|gateway|portal" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("< FRAME");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "fz-msgdump: %s\n", error->message);
      return 1;
    }
  FzPortalRole r;
  if (g_strcmp0 (role, "client") == 0)
    r = FZ_PORTAL_ROLE_CLIENT;
  else if (g_strcmp0 (role, "gateway") == 0)
    r = FZ_PORTAL_ROLE_GATEWAY;
  else if (g_strcmp0 (role, "portal") == 0)
    r = FZ_PORTAL_ROLE_PORTAL;
  else
    {
      fprintf (stderr, "fz-msgdump: give --role client, gateway or portal\n");
      return 1;
    }

  /* One frame, bounded: read at most one byte more than allowed. */
  GString *in = g_string_new (NULL);
  char buf[65536];
  ssize_t n;
  while ((n = read (0, buf, sizeof buf)) > 0 && in->len <= FZ_PHOENIX_MAX_FRAME)
    g_string_append_len (in, buf, n);
  g_autoptr (FzPhoenixFrame) frame = fz_phoenix_frame_parse (in->str, in->len, &error);
  g_string_free (in, TRUE);
  if (frame == NULL)
    {
      fprintf (stderr, "fz-msgdump: %s\n", error->message);
      return 1;
    }
  g_autoptr (FzPortalMessage) m
    = fz_portal_message_decode (r, frame->event, frame->payload, &error);
  if (m == NULL)
    {
      fprintf (stderr, "fz-msgdump: %s\n", error->message);
      return 1;
    }
  g_autofree char *json = fz_portal_message_to_json (m);
  printf ("%s\n", json);
  return 0;
}
