/* Any bytes as the deep link that ends a sign-in, against a fixed
 * FzSignIn: taken only with its nonce as the token's start and within
 * the bounds, refused with an FZ_SIGN_IN_ERROR in valid UTF-8 otherwise.
 * The first input byte picks whether the link gets our prefix and state
 * in front, so the fuzzer reaches past the state check. */
#include "fz-sign-in.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NONCE "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define STATE "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static FzSignIn *
fixed_sign_in (void)
{
  static FzSignIn *s;

  if (s == NULL)
    {
      guint8 random[FZ_SIGN_IN_RANDOM_LEN];

      for (int i = 0; i < FZ_SIGN_IN_RANDOM_LEN; i++)
        random[i] = (guint8) i;
      s = fz_sign_in_new ("https://auth.example/", "acme", random, NULL);
      if (s == NULL)
        abort ();
    }
  return s;
}

static gboolean
bounded (const FzSignInResult *r)
{
  gsize slug = strlen (r->account_slug);

  return g_str_has_prefix (r->token, NONCE) && strlen (r->token) > strlen (NONCE)
         && strlen (r->token) <= 4096 && slug >= 1 && slug <= FZ_SIGN_IN_SLUG_MAX
         && strlen (r->actor_name) <= FZ_SIGN_IN_ACTOR_NAME_MAX
         && g_utf8_validate (r->actor_name, -1, NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char prefix[]
    = FZ_SIGN_IN_SCHEME "://" FZ_SIGN_IN_HOST "?state=" STATE "&";
  g_autoptr (GError) error = NULL;
  g_auto (FzSignInResult) r = { NULL };
  g_autofree char *link = NULL;

  if (size > 0 && data[0] == 'P')
    {
      link = g_malloc (sizeof prefix + size - 1);
      memcpy (link, prefix, sizeof prefix - 1);
      memcpy (link + sizeof prefix - 1, data + 1, size - 1);
      link[sizeof prefix - 1 + size - 1] = '\0';
    }
  else
    link = g_strndup ((const char *) data, size);

  if (fz_sign_in_complete (fixed_sign_in (), link, &r, &error))
    {
      if (error != NULL || !bounded (&r) || strlen (link) > FZ_SIGN_IN_LINK_MAX
          || !fz_sign_in_is_deep_link (link))
        abort ();
      return 0;
    }
  if (error == NULL || error->domain != FZ_SIGN_IN_ERROR
      || !g_utf8_validate (error->message, -1, NULL) || r.token != NULL
      || r.actor_name != NULL || r.account_slug != NULL
      || strstr (error->message, NONCE) != NULL || strstr (error->message, STATE) != NULL)
    abort ();
  return 0;
}
