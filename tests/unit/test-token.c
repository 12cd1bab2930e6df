/* fz_token_load: FIREZONE_TOKEN (then removed), systemd credentials, a
 * root-only file; errors name the file and the fix, never the token. */
#include "fz-private.h"
#include "tmp-tree.h"

#include <sys/stat.h>
#include <unistd.h>

#define TOKEN "SFMyNTY.g2gDaANtAAAAJDEyMzQ1Njc4.dGVzdC10b2tlbg"

typedef struct
{
  char *dir;
  char *path;
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
  f->dir = tmp_tree_new ();
  f->path = g_build_filename (f->dir, "token", NULL);
  g_unsetenv ("FIREZONE_TOKEN");
  g_unsetenv ("CREDENTIALS_DIRECTORY");
}

static void
teardown (Fixture *f, gconstpointer data)
{
  tmp_tree_remove (f->dir);
  g_free (f->dir);
  g_free (f->path);
  g_unsetenv ("FIREZONE_TOKEN");
  g_unsetenv ("CREDENTIALS_DIRECTORY");
}

static void
write_token (const char *path, const char *text, int mode)
{
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  g_assert_cmpint (chmod (path, (mode_t) mode), ==, 0);
}

/* The owner check wants root; tests run as root in CI. */
static gboolean
require_root (void)
{
  if (getuid () == 0)
    return TRUE;
  if (g_strcmp0 (g_getenv ("FZ_REQUIRE_ALL"), "1") == 0)
    g_test_fail_printf ("needs root (FZ_REQUIRE_ALL=1)");
  else
    g_test_skip ("needs root");
  return FALSE;
}

/* Loads from @path expecting an error with @code whose message holds
 * @hint and never the token. */
static void
assert_refused (const char *path, int code, const char *hint)
{
  g_autoptr (GError) error = NULL;
  g_assert_null (fz_token_load_owned (path, getuid (), &error));
  g_assert_error (error, G_IO_ERROR, code);
  g_assert_nonnull (strstr (error->message, hint));
  g_assert_null (strstr (error->message, "SFMyNTY"));
}

static void
test_env (Fixture *f, gconstpointer data)
{
  write_token (f->path, "from-file", 0600);
  g_setenv ("FIREZONE_TOKEN", "  " TOKEN "\n", TRUE);
  g_autoptr (GError) error = NULL;
  char *token = fz_token_load_owned (f->path, getuid (), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (token, ==, TOKEN);
  fz_token_free (token);
  /* Children never see it. */
  g_assert_null (g_getenv ("FIREZONE_TOKEN"));

  /* Empty is unset: the file is next. */
  g_setenv ("FIREZONE_TOKEN", "", TRUE);
  token = fz_token_load_owned (f->path, getuid (), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (token, ==, "from-file");
  fz_token_free (token);
  g_assert_null (g_getenv ("FIREZONE_TOKEN"));

  /* An invalid one is an error, and removed too. */
  g_setenv ("FIREZONE_TOKEN", "SFMyNTY with space", TRUE);
  g_assert_null (fz_token_load_owned (f->path, getuid (), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "FIREZONE_TOKEN"));
  g_assert_null (strstr (error->message, "SFMyNTY"));
  g_assert_null (g_getenv ("FIREZONE_TOKEN"));
  fz_token_free (NULL);
}

static void
test_env_not_inherited (Fixture *f, gconstpointer data)
{
  g_setenv ("FIREZONE_TOKEN", TOKEN, TRUE);
  char *token = fz_token_load (NULL, NULL);
  g_assert_cmpstr (token, ==, TOKEN);
  fz_token_free (token);
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  const char *argv[] = { "/usr/bin/env", NULL };
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_null (strstr (out, "FIREZONE_TOKEN"));
  g_assert_null (strstr (out, TOKEN));
}

static void
test_file (Fixture *f, gconstpointer data)
{
  if (!require_root ())
    return;
  write_token (f->path, "\t " TOKEN " \r\n\n", 0600);
  g_autoptr (GError) error = NULL;
  char *token = fz_token_load (f->path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (token, ==, TOKEN);
  fz_token_free (token);

  g_assert_cmpint (chmod (f->path, 0400), ==, 0);
  token = fz_token_load (f->path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (token, ==, TOKEN);
  fz_token_free (token);

  /* A symlink to a good file is read (secrets mounted by a container
   * runtime are symlinks); the file's own owner and mode count. */
  g_autofree char *link = g_build_filename (f->dir, "link", NULL);
  g_assert_cmpint (symlink (f->path, link), ==, 0);
  token = fz_token_load (link, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (token, ==, TOKEN);
  fz_token_free (token);
}

static void
test_mode (Fixture *f, gconstpointer data)
{
  const int bad[] = { 0644, 0640, 0604, 0700, 0660, 04600, 0200 };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      write_token (f->path, TOKEN, bad[i]);
      g_autofree char *hint = g_strdup_printf ("(chmod 600 %s)", f->path);
      assert_refused (f->path, G_IO_ERROR_PERMISSION_DENIED, hint);
    }
  write_token (f->path, TOKEN, 0644);
  g_autofree char *mode = g_strdup_printf ("%s has mode 0644", f->path);
  assert_refused (f->path, G_IO_ERROR_PERMISSION_DENIED, mode);
}

static void
test_owner (Fixture *f, gconstpointer data)
{
  if (!require_root ())
    return;
  write_token (f->path, TOKEN, 0600);
  g_assert_cmpint (chown (f->path, 65534, 65534), ==, 0);
  g_autoptr (GError) error = NULL;
  g_assert_null (fz_token_load (f->path, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_autofree char *hint = g_strdup_printf ("owned by uid 65534; it must be owned by root "
                                           "(chown 0 %s)",
                                           f->path);
  g_assert_nonnull (strstr (error->message, hint));
  g_clear_error (&error);

  /* The owner a test expects instead of root. */
  char *token = fz_token_load_owned (f->path, 65534, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (token, ==, TOKEN);
  fz_token_free (token);
}

static void
test_content (Fixture *f, gconstpointer data)
{
  g_autofree char *longest = g_strnfill (FZ_TOKEN_MAX, 'x');
  write_token (f->path, longest, 0600);
  g_autoptr (GError) error = NULL;
  char *token = fz_token_load_owned (f->path, getuid (), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (token), ==, FZ_TOKEN_MAX);
  fz_token_free (token);

  g_autofree char *too_long = g_strnfill (FZ_TOKEN_MAX + 1, 'x');
  g_autofree char *huge = g_strnfill (1024 * 1024, ' ');
  struct
  {
    const char *text, *hint;
  } bad[] = {
    { "", "is empty" },
    { " \n\t\n", "is empty" },
    { too_long, "longer than 4096 bytes" },
    { huge, "larger than" },
    { "SFMyNTY inner space", "printable ASCII" },
    { "SFMyNTY\ttab", "printable ASCII" },
    { "SFMyNTY\xc3\xa9", "printable ASCII" },
    { "SFMyNTY\x01", "printable ASCII" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      write_token (f->path, bad[i].text, 0600);
      assert_refused (f->path, G_IO_ERROR_INVALID_DATA, bad[i].hint);
    }
}

static void
test_missing (Fixture *f, gconstpointer data)
{
  assert_refused (f->path, G_IO_ERROR_NOT_FOUND, f->path);
  assert_refused (f->dir, G_IO_ERROR_INVALID_DATA, "is not a regular file");

  g_autoptr (GError) error = NULL;
  g_assert_null (fz_token_load (NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "FIREZONE_TOKEN"));
}

static void
test_credentials (Fixture *f, gconstpointer data)
{
  g_autofree char *creds = g_build_filename (f->dir, "creds", NULL);
  g_autofree char *cred = g_build_filename (creds, "FIREZONE_TOKEN", NULL);
  g_assert_cmpint (g_mkdir (creds, 0700), ==, 0);
  write_token (f->path, "from-file", 0600);
  g_setenv ("CREDENTIALS_DIRECTORY", creds, TRUE);

  /* Without the credential, the file. */
  g_autoptr (GError) error = NULL;
  char *token = fz_token_load_owned (f->path, getuid (), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (token, ==, "from-file");
  fz_token_free (token);

  /* systemd's credential (0400 of the service's user) wins over the file. */
  write_token (cred, TOKEN "\n", 0440);
  token = fz_token_load_owned (f->path, getuid (), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (token, ==, TOKEN);
  fz_token_free (token);

  /* FIREZONE_TOKEN wins over both. */
  g_setenv ("FIREZONE_TOKEN", "from-env", TRUE);
  token = fz_token_load_owned (f->path, getuid (), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (token, ==, "from-env");
  fz_token_free (token);

  /* A bad credential is an error naming it. */
  write_token (cred, "", 0400);
  assert_refused (f->path, G_IO_ERROR_INVALID_DATA, cred);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, fn) g_test_add ("/token/" name, Fixture, NULL, setup, fn, teardown)
  ADD ("env", test_env);
  ADD ("env-not-inherited", test_env_not_inherited);
  ADD ("file", test_file);
  ADD ("mode", test_mode);
  ADD ("owner", test_owner);
  ADD ("content", test_content);
  ADD ("missing", test_missing);
  ADD ("credentials", test_credentials);
  return g_test_run ();
}
