/* FzIceCandidate: one ICE candidate and its SDP text form
 * ("candidate:F 1 udp P ADDR PORT typ host|srflx|prflx|relay
 *  [raddr A rport P]"), as peers exchange them through the portal.
 *
 * Parsing accepts only what we can use (UDP, IP literals) and says why
 * it refuses the rest; extension pairs after the type are skipped. */
#pragma once

#include "fz-ip-addr.h"

#include <glib.h>

G_BEGIN_DECLS

#define FZ_ICE_MAX_CANDIDATE_TEXT 512
#define FZ_ICE_MAX_FOUNDATION     32

typedef enum
{
  FZ_ICE_HOST,
  FZ_ICE_SRFLX,
  FZ_ICE_PRFLX,
  FZ_ICE_RELAY,
} FzIceCandidateType;

typedef struct
{
  FzIceCandidateType type;
  FzSockAddr addr;
  /* Local candidates: the address we send from (the host address, or the
   * relayed address for a relay candidate). Remote ones: addr. */
  FzSockAddr base;
  FzSockAddr related; /* raddr/rport; ip.family 0 when absent */
  guint32 priority;
  guint16 component;
  char foundation[FZ_ICE_MAX_FOUNDATION + 1];
} FzIceCandidate;

#define FZ_ICE_CANDIDATE_ERROR (fz_ice_candidate_error_quark ())
GQuark fz_ice_candidate_error_quark (void);

typedef enum
{
  FZ_ICE_CANDIDATE_ERROR_INVALID,     /* not the grammar of RFC 8839 5.1 */
  FZ_ICE_CANDIDATE_ERROR_UNSUPPORTED, /* valid, but TCP or a host name */
} FzIceCandidateError;

const char *fz_ice_candidate_type_to_string (FzIceCandidateType type);

/* Type preferences (RFC 8445 5.1.2.2): host 126, prflx 110, srflx 100,
 * relay 0. IPv6 gets the higher local preference. */
guint32 fz_ice_candidate_priority (FzIceCandidateType type, guint8 family,
                                   guint16 component);

/* Fills priority, component 1 and a foundation derived from the type,
 * base address family and (for srflx/relay) the server. */
void fz_ice_candidate_init_local (FzIceCandidate *c, FzIceCandidateType type,
                                  const FzSockAddr *addr, const FzSockAddr *base,
                                  const FzSockAddr *server);

gboolean fz_ice_candidate_parse (FzIceCandidate *c, const char *text, GError **error);
char *fz_ice_candidate_to_string (const FzIceCandidate *c);
gboolean fz_ice_candidate_equal (const FzIceCandidate *a, const FzIceCandidate *b);
/* Highest priority first, for g_array_sort and friends. */
gint fz_ice_candidate_compare (gconstpointer a, gconstpointer b);

G_END_DECLS
