/* fz_device_id_get: FIREZONE_ID, the stored file, the machine id, a
 * random saved id, in that order (portal-protocol.md, "Device id"). */
#include "fz-private.h"
#include "tmp-tree.h"

#include <sys/stat.h>

#define MACHINE_ID "b08cd8a2ec6e4c4c9fbd1e8cbd2a10e1\n"
/* openssl dgst -sha256 -hmac APP_ID of MACHINE_ID, newline included */
#define CLIENT_HMAC  "a1cc0fc2d2277c92906f7707347c70824c593beed161e7ba3afbea2844d689c6"
#define GATEWAY_HMAC "49ae261ce00464ead173b8ca6750d7d4b262e7b29671c0ca64ab8f4fa0348292"

typedef struct
{
  char *dir;
  char *state;      /* not created: fz_device_id_get makes it */
  char *file;       /* state/device-id.json */
  char *machine_id; /* dir/machine-id, absent unless a test writes it */
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
  f->dir = tmp_tree_new ();
  f->state = g_build_filename (f->dir, "state", NULL);
  f->file = g_build_filename (f->state, "device-id.json", NULL);
  f->machine_id = g_build_filename (f->dir, "machine-id", NULL);
  g_unsetenv ("FIREZONE_ID");
  g_setenv ("FZ_MACHINE_ID_PATH", f->machine_id, TRUE);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  tmp_tree_remove (f->dir);
  g_free (f->dir);
  g_free (f->state);
  g_free (f->file);
  g_free (f->machine_id);
  g_unsetenv ("FIREZONE_ID");
  g_unsetenv ("FZ_MACHINE_ID_PATH");
}

static char *
get (gboolean gateway, const char *state)
{
  g_autoptr (GError) error = NULL;
  char *id = fz_device_id_get (gateway, state, &error);
  g_assert_no_error (error);
  g_assert_nonnull (id);
  return id;
}

static void
write_file (const char *path, const char *text)
{
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
}

static void
test_env (Fixture *f, gconstpointer data)
{
  write_file (f->machine_id, MACHINE_ID);
  g_setenv ("FIREZONE_ID", "my-gateway-1", TRUE);
  g_autofree char *id = get (TRUE, f->state);
  g_assert_cmpstr (id, ==, "my-gateway-1");
  g_assert_false (g_file_test (f->state, G_FILE_TEST_EXISTS));

  g_autofree char *longest = g_strnfill (FZ_DEVICE_ID_MAX, 'a');
  g_setenv ("FIREZONE_ID", longest, TRUE);
  g_autofree char *id2 = get (TRUE, f->state);
  g_assert_cmpstr (id2, ==, longest);

  /* Empty is unset. */
  g_setenv ("FIREZONE_ID", "", TRUE);
  g_autofree char *id3 = get (FALSE, f->state);
  g_assert_cmpstr (id3, ==, CLIENT_HMAC);

  g_autofree char *too_long = g_strnfill (FZ_DEVICE_ID_MAX + 1, 'a');
  const char *bad[] = { too_long, "two words", "tab\there", "caf\xc3\xa9" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_setenv ("FIREZONE_ID", bad[i], TRUE);
      g_assert_null (fz_device_id_get (TRUE, f->state, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_assert_nonnull (strstr (error->message, "FIREZONE_ID"));
    }
}

static void
test_machine_id (Fixture *f, gconstpointer data)
{
  write_file (f->machine_id, MACHINE_ID);
  g_autofree char *client = get (FALSE, f->state);
  g_autofree char *gateway = get (TRUE, f->state);
  g_assert_cmpstr (client, ==, CLIENT_HMAC);
  g_assert_cmpstr (gateway, ==, GATEWAY_HMAC);
  /* Computed each time, not saved. */
  g_assert_false (g_file_test (f->file, G_FILE_TEST_EXISTS));

  /* An empty machine id is no machine id. */
  write_file (f->machine_id, "");
  g_autofree char *random = get (FALSE, f->state);
  g_assert_cmpstr (random, !=, CLIENT_HMAC);
  g_assert_true (g_file_test (f->file, G_FILE_TEST_EXISTS));
}

static void
assert_saved (Fixture *f, const char *id)
{
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (f->file, &text, NULL, NULL));
  g_autofree char *expected = g_strdup_printf ("{\"id\":\"%s\"}", id);
  g_assert_cmpstr (text, ==, expected);
  struct stat st;
  g_assert_cmpint (stat (f->file, &st), ==, 0);
  g_assert_cmpuint (st.st_mode & 07777, ==, 0640);
  g_assert_cmpint (stat (f->state, &st), ==, 0);
  g_assert_cmpuint (st.st_mode & 07777, ==, 0700);
}

static void
test_random_saved (Fixture *f, gconstpointer data)
{
  g_autofree char *id = get (FALSE, f->state);
  /* hex SHA-256 */
  g_assert_cmpuint (strlen (id), ==, 64);
  for (const char *p = id; *p != '\0'; p++)
    g_assert_true (g_ascii_isxdigit (*p) && !g_ascii_isupper (*p));
  assert_saved (f, id);

  /* The same on the next start, for the gateway too (the file wins over
   * a machine id that appeared since). */
  write_file (f->machine_id, MACHINE_ID);
  g_autofree char *again = get (TRUE, f->state);
  g_assert_cmpstr (again, ==, id);

  /* Another device gets another id. */
  g_autofree char *other_state = g_build_filename (f->dir, "other", NULL);
  g_unlink (f->machine_id);
  g_autofree char *other = get (FALSE, other_state);
  g_assert_cmpstr (other, !=, id);
}

static void
test_stored (Fixture *f, gconstpointer data)
{
  g_assert_cmpint (g_mkdir (f->state, 0700), ==, 0);
  write_file (f->file, "{\"id\":\"5d6e2a77-2ea0-4cd1-bb8a-d7d8c0b0a3a1\",\"later\":1}\n");
  write_file (f->machine_id, MACHINE_ID);
  g_autofree char *id = get (FALSE, f->state);
  g_assert_cmpstr (id, ==, "5d6e2a77-2ea0-4cd1-bb8a-d7d8c0b0a3a1");
}

static void
test_corrupt (Fixture *f, gconstpointer data)
{
  g_autofree char *too_long = g_strdup_printf ("{\"id\":\"%0300d\"}", 0);
  const char *corrupt[] = {
    "",
    "not json",
    "{\"id\":1}",
    "{\"id\":\"\"}",
    "{\"id\":\"a b\"}",
    "[\"id\"]",
    "{'id':'x'}",
    "{\"id\":\"x\"} trailing",
    too_long,
    "{\"other\":\"x\"}",
  };
  g_assert_cmpint (g_mkdir (f->state, 0700), ==, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (corrupt); i++)
    {
      /* Ignored and replaced by a new random id. */
      write_file (f->file, corrupt[i]);
      g_autofree char *id = get (FALSE, f->state);
      g_assert_cmpuint (strlen (id), ==, 64);
      assert_saved (f, id);
    }

  /* With a machine id, that is the id; the file is left for its owner. */
  write_file (f->file, "not json");
  write_file (f->machine_id, MACHINE_ID);
  g_autofree char *id = get (TRUE, f->state);
  g_assert_cmpstr (id, ==, GATEWAY_HMAC);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (f->file, &text, NULL, NULL));
  g_assert_cmpstr (text, ==, "not json");
}

static void
test_no_state_dir (Fixture *f, gconstpointer data)
{
  write_file (f->machine_id, MACHINE_ID);
  g_autofree char *id = get (FALSE, NULL);
  g_assert_cmpstr (id, ==, CLIENT_HMAC);

  g_unlink (f->machine_id);
  g_autoptr (GError) error = NULL;
  g_assert_null (fz_device_id_get (FALSE, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);

  /* A new id that cannot be saved is an error, not a new id on every
   * start (device-id.json is a directory here). */
  g_clear_error (&error);
  g_assert_cmpint (g_mkdir_with_parents (f->file, 0700), ==, 0);
  g_assert_null (fz_device_id_get (FALSE, f->state, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "save the new device id"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, fn) g_test_add ("/device-id/" name, Fixture, NULL, setup, fn, teardown)
  ADD ("env", test_env);
  ADD ("machine-id", test_machine_id);
  ADD ("random-saved", test_random_saved);
  ADD ("stored", test_stored);
  ADD ("corrupt", test_corrupt);
  ADD ("no-state-dir", test_no_state_dir);
  return g_test_run ();
}
