/* FzPhoenixFrame: one Phoenix V1 JSON frame of the portal's WebSocket,
 * {"topic":..,"event":..,"payload":..,"ref":N|null}.
 *
 * Parsing is strict about what the protocol needs (an object, topic and
 * event strings of bounded length, a payload, a ref that is a
 * non-negative integer or null) and ignores members it does not know,
 * so that a newer portal does not break an older client. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

#define FZ_PHOENIX_MAX_FRAME (1024 * 1024)
#define FZ_PHOENIX_MAX_NAME  128 /* topic and event */
#define FZ_PHOENIX_NO_REF    (-1)
#define FZ_PHOENIX_MAX_DEPTH 64 /* nesting of [ and { */

#define FZ_PHOENIX_ERROR (fz_phoenix_error_quark ())
GQuark fz_phoenix_error_quark (void);

typedef enum
{
  FZ_PHOENIX_ERROR_INVALID, /* not a frame: the message says why */
} FzPhoenixError;

typedef struct
{
  char *topic;
  char *event;
  JsonNode *payload; /* never NULL: a JSON null when the frame had null */
  gint64 ref;        /* FZ_PHOENIX_NO_REF for server pushes */
} FzPhoenixFrame;

FzPhoenixFrame *fz_phoenix_frame_new (const char *topic, const char *event,
                                      JsonNode *payload, gint64 ref);
void fz_phoenix_frame_free (FzPhoenixFrame *frame);

FzPhoenixFrame *fz_phoenix_frame_parse (const char *text, gsize len, GError **error);
/* Any JSON from the network: strict RFC 8259 syntax (json-glib alone
 * also takes comments and single quotes) nested at most
 * FZ_PHOENIX_MAX_DEPTH deep, checked before json-glib, whose parser
 * recurses once per level and overflows the stack on deep input. An
 * empty text is a JSON null. */
JsonNode *fz_phoenix_json_parse (const char *text, gsize len, GError **error);
/* Compact JSON with the members in the protocol's order. */
char *fz_phoenix_frame_to_string (const FzPhoenixFrame *frame);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzPhoenixFrame, fz_phoenix_frame_free)

/* FzPhoenixLimit bounds a WebSocket message assembled from fragments,
 * which libsoup 3.2 does not do (it bounds each frame only). As a
 * connection's last extension it sees every data frame: past the limit
 * it fails the connection with 1009 (too big) and drops what the peer
 * sends until the socket closes. It sends no parameters and changes no
 * frame. */
#define FZ_TYPE_PHOENIX_LIMIT (fz_phoenix_limit_get_type ())
G_DECLARE_FINAL_TYPE (FzPhoenixLimit, fz_phoenix_limit, FZ, PHOENIX_LIMIT,
                      SoupWebsocketExtension)

/* A limit of @max bytes; one made by libsoup has FZ_PHOENIX_MAX_FRAME. */
SoupWebsocketExtension *fz_phoenix_limit_new (gsize max);
/* For a client: makes @session's WebSockets carry the limit (and no
 * compression). */
void fz_phoenix_limit_add_to_session (SoupSession *session);
/* For a client: call on each handshake @msg before connecting. libsoup
 * makes only the extensions the server named, so the name is added to
 * the response it reads; the server never sees more than an offer it
 * ignores. */
void fz_phoenix_limit_prepare (SoupMessage *msg);

G_END_DECLS
