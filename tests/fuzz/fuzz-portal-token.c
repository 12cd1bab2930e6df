/* Any bytes as a client token presented to fz-portal: refused with a
 * reason, or accepted only when it is exactly what the portal issued for
 * that nonce, user and expiry. */
#include "fz-portal-credentials.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const guint8 secret[FZ_PORTAL_SECRET_LEN] = "fuzzing-secret-fuzzing-secret-12";

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *token = g_strndup ((const char *) data, size);
  gint64 exp = 0;
  const char *why = NULL;
  char *user = fz_portal_client_token_verify (secret, token, 1000, &exp, &why);
  if (user == NULL)
    {
      if (why == NULL)
        abort ();
    }
  else
    {
      /* Accepted: it must be the one token issued for these values. */
      const char *tag = strstr (token, ".fzc1.");
      char *nonce = g_strndup (token, tag - token);
      char *fragment = fz_portal_client_fragment (secret, nonce, user, exp);
      char *again = g_strconcat (nonce, fragment, NULL);
      if (strcmp (again, token) != 0 || exp <= 1000)
        abort ();
      g_free (again);
      g_free (fragment);
      g_free (nonce);
      g_free (user);
    }
  /* And one that is issued is accepted, whatever the nonce. */
  if (size > 0 && size <= FZ_PORTAL_MAX_NONCE && fz_portal_valid_nonce (token))
    {
      char *fragment = fz_portal_client_fragment (secret, token, "alice", 2000);
      char *whole = g_strconcat (token, fragment, NULL);
      char *who = fz_portal_client_token_verify (secret, whole, 1000, &exp, &why);
      if (who == NULL || strcmp (who, "alice") != 0 || exp != 2000)
        abort ();
      g_free (who);
      g_free (whole);
      g_free (fragment);
    }
  g_free (token);
  return 0;
}
