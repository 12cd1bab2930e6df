/* fzctl's parts without I/O: the command line (never echoing what could
 * be a token), the token's checks, the exit status of each D-Bus error,
 * and the text and JSON made from the service's properties. */
#include "fzctl-args.h"
#include "fzctl-exit.h"
#include "fzctl-format.h"
#include "fzctl-token.h"
#include "tmp-tree.h"

#include <string.h>
#include <sys/stat.h>

#define SECRET "SFMyNTY.g2gDaANtAAAAJDEy.c2VjcmV0"

/* Parses the words of @line (split at spaces) after "fzctl". */
static gboolean
parse (FzctlArgs *args, const char *line, GError **error)
{
  g_autofree char *full = g_strconcat ("fzctl ", line, NULL);
  g_auto (GStrv) argv = g_strsplit (g_strstrip (full), " ", -1);

  return fzctl_args_parse (args, (int) g_strv_length (argv), (const char *const *) argv,
                           error);
}

static void
test_args_commands (void)
{
  FzctlArgs a;

  g_assert_true (parse (&a, "status", NULL));
  g_assert_cmpint (a.command, ==, FZCTL_CMD_STATUS);
  g_assert_false (a.json);
  g_assert_true (parse (&a, "resources --json", NULL));
  g_assert_cmpint (a.command, ==, FZCTL_CMD_RESOURCES);
  g_assert_true (a.json);
  g_assert_true (parse (&a, "--json --timeout=5 watch", NULL));
  g_assert_cmpint (a.command, ==, FZCTL_CMD_WATCH);
  g_assert_cmpuint (a.timeout_s, ==, 5);
  g_assert_true (parse (&a, "internet on", NULL));
  g_assert_cmpint (a.command, ==, FZCTL_CMD_INTERNET);
  g_assert_cmpint (a.internet, ==, 1);
  g_assert_true (parse (&a, "internet off", NULL));
  g_assert_cmpint (a.internet, ==, 0);
  g_assert_true (parse (&a,
                        "connect --token-file - --api-url ws://198.18.0.1:8080/ "
                        "--internet=on --no-wait --timeout 60",
                        NULL));
  g_assert_cmpint (a.command, ==, FZCTL_CMD_CONNECT);
  g_assert_cmpstr (a.token_file, ==, "-");
  g_assert_cmpstr (a.api_url, ==, "ws://198.18.0.1:8080/");
  g_assert_cmpint (a.internet, ==, 1);
  g_assert_true (a.no_wait);
  g_assert_cmpuint (a.timeout_s, ==, 60);
  fzctl_args_clear (&a);
  g_assert_true (parse (&a, "connect --account-slug e2e_Corp-1", NULL));
  g_assert_cmpstr (a.account_slug, ==, "e2e_Corp-1");
  fzctl_args_clear (&a);
  g_assert_true (parse (&a, "connect", NULL));
  g_assert_null (a.token_file);
  g_assert_null (a.account_slug);
  g_assert_cmpint (a.internet, ==, -1);
  g_assert_true (parse (&a, "status --help", NULL));
  g_assert_cmpint (a.command, ==, FZCTL_CMD_HELP);
  g_assert_true (parse (&a, "--version", NULL));
  g_assert_cmpint (a.command, ==, FZCTL_CMD_VERSION);
  /* "--" ends the options. */
  g_assert_true (parse (&a, "-- reset", NULL));
  g_assert_cmpint (a.command, ==, FZCTL_CMD_RESET);
}

/* @line is refused with a message holding @hint. */
static void
assert_usage (const char *line, const char *hint)
{
  FzctlArgs a;
  g_autoptr (GError) error = NULL;

  g_assert_false (parse (&a, line, &error));
  fzctl_args_clear (&a);
  g_assert_error (error, G_OPTION_ERROR, error->code);
  if (strstr (error->message, hint) == NULL)
    g_error ("'%s': '%s' lacks '%s'", line, error->message, hint);
  g_assert_null (strstr (error->message, "SFMyNTY"));
}

static void
test_args_refused (void)
{
  assert_usage ("", "no command");
  assert_usage ("stat", "unknown command stat");
  assert_usage ("status extra", "status takes no arguments");
  assert_usage ("internet", "on or off");
  assert_usage ("internet yes", "on or off");
  assert_usage ("internet on off", "on or off");
  assert_usage ("status --token-file f", "options of connect");
  assert_usage ("internet on --no-wait", "options of connect");
  assert_usage ("connect --internet maybe", "--internet takes on or off");
  assert_usage ("connect --api-url ftp://x/", "ws://");
  assert_usage ("connect --api-url not-a-url", "ws://");
  assert_usage ("connect --api-url wss://user:pw@portal.example/", "user name");
  assert_usage ("connect --api-url wss:///path", "with a host");
  assert_usage ("connect --account-slug a.b", "--account-slug takes");
  assert_usage ("status --account-slug a", "options of connect");
  assert_usage ("connect --token-file", "needs a value");
  assert_usage ("status --timeout 0", "1 to 3600");
  assert_usage ("status --timeout 3601", "1 to 3600");
  assert_usage ("status --timeout 5s", "1 to 3600");
  assert_usage ("status --json=yes", "takes no value");
  assert_usage ("status --colour", "unknown option --colour");
  /* What may be a token is never shown back. */
  assert_usage ("connect " SECRET, "never on the command line");
  assert_usage (SECRET, "unknown command");
  assert_usage ("connect --token=" SECRET, "unknown option");
  assert_usage ("connect -" SECRET, "unknown option");
}

static void
test_on_off (void)
{
  gboolean on = FALSE;

  g_assert_true (fzctl_parse_on_off ("on", &on) && on);
  g_assert_true (fzctl_parse_on_off ("off", &on) && !on);
  g_assert_false (fzctl_parse_on_off ("ON", &on));
  g_assert_false (fzctl_parse_on_off ("", &on));
  g_assert_false (fzctl_parse_on_off (NULL, &on));
}

static void
assert_token_refused (const char *raw, gsize len, const char *hint)
{
  g_autoptr (GError) error = NULL;

  g_assert_null (fzctl_token_parse (raw, len, "stdin", &error));
  g_assert_error (error, FZ_CTL_ERROR, FZCTL_EXIT_BAD_TOKEN);
  g_assert_nonnull (strstr (error->message, hint));
  g_assert_null (strstr (error->message, "SFMyNTY"));
}

static void
test_token_parse (void)
{
  g_autoptr (FzctlToken) plain = fzctl_token_parse (SECRET, strlen (SECRET), "x", NULL);
  g_autoptr (FzctlToken) nl
    = fzctl_token_parse (SECRET "\n", strlen (SECRET) + 1, "x", NULL);
  g_autoptr (FzctlToken) crlf
    = fzctl_token_parse (SECRET "\r\n", strlen (SECRET) + 2, "x", NULL);
  g_autofree char *longest = g_strnfill (FZCTL_TOKEN_MAX, 'a');
  g_autofree char *longer = g_strnfill (FZCTL_TOKEN_MAX + 1, 'a');
  g_autoptr (FzctlToken) max = fzctl_token_parse (longest, FZCTL_TOKEN_MAX, "x", NULL);

  g_assert_cmpstr (plain, ==, SECRET);
  g_assert_cmpstr (nl, ==, SECRET);
  g_assert_cmpstr (crlf, ==, SECRET);
  g_assert_cmpstr (max, ==, longest);
  assert_token_refused ("", 0, "empty");
  assert_token_refused ("\n", 1, "empty");
  assert_token_refused (longer, FZCTL_TOKEN_MAX + 1, "longer than 4096");
  /* Only one newline goes; anything else that is not a token's. */
  assert_token_refused (SECRET "\n\n", strlen (SECRET) + 2, "byte 34");
  assert_token_refused (" " SECRET, strlen (SECRET) + 1, "byte 1");
  assert_token_refused (SECRET "\nmore", strlen (SECRET) + 5, "byte 34");
  assert_token_refused ("SFMyNTY\0x", 9, "byte 8");
  assert_token_refused ("SFMyNTY\xc3\xa9", 9, "printable ASCII");
}

static void
write_file (const char *path, const char *text, int mode)
{
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  g_assert_cmpint (chmod (path, (mode_t) mode), ==, 0);
}

static void
test_token_file (void)
{
  g_autofree char *dir = tmp_tree_new ();
  g_autofree char *path = g_build_filename (dir, "token", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (FzctlToken) token = NULL;

  write_file (path, SECRET "\n", 0600);
  token = fzctl_token_read (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (token, ==, SECRET);

  fzctl_token_free (g_steal_pointer (&token));
  write_file (path, SECRET, 0400);
  token = fzctl_token_read (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (token, ==, SECRET);

  /* Like ssh's keys: no access for the group or others. */
  static const int modes[] = { 0644, 0640, 0604, 0620, 0602, 0666 };
  for (gsize i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      g_clear_error (&error);
      write_file (path, SECRET "\n", modes[i]);
      g_assert_null (fzctl_token_read (path, &error));
      g_assert_error (error, FZ_CTL_ERROR, FZCTL_EXIT_BAD_TOKEN);
      g_assert_nonnull (strstr (error->message, "chmod 600"));
      g_assert_null (strstr (error->message, "SFMyNTY"));
    }
  g_clear_error (&error);
  g_assert_null (fzctl_token_read (dir, &error));
  g_assert_nonnull (strstr (error->message, "not a regular file"));
  g_clear_error (&error);
  g_unlink (path);
  g_assert_null (fzctl_token_read (path, &error));
  g_assert_nonnull (strstr (error->message, "cannot open"));
  tmp_tree_remove (dir);
}

static void
test_exit_codes (void)
{
  static const struct
  {
    const char *name;
    FzctlExit code;
  } cases[] = {
    { "dev.libfz.Tunnel1.Error.NotConnected", FZCTL_EXIT_NOT_CONNECTED },
    { "dev.libfz.Tunnel1.Error.AlreadyConnected", FZCTL_EXIT_ALREADY_CONNECTED },
    { "org.freedesktop.DBus.Error.AccessDenied", FZCTL_EXIT_NOT_AUTHORIZED },
    { "org.freedesktop.PolicyKit1.Error.NotAuthorized", FZCTL_EXIT_NOT_AUTHORIZED },
    { "org.freedesktop.DBus.Error.InvalidArgs", FZCTL_EXIT_USAGE },
    { "org.freedesktop.DBus.Error.ServiceUnknown", FZCTL_EXIT_NO_SERVICE },
    { "org.freedesktop.DBus.Error.Spawn.ChildExited", FZCTL_EXIT_NO_SERVICE },
    { "org.freedesktop.DBus.Error.NoReply", FZCTL_EXIT_TIMEOUT },
    { "org.freedesktop.DBus.Error.Failed", FZCTL_EXIT_FAILED },
    { "com.example.Other", FZCTL_EXIT_FAILED },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) e = g_dbus_error_new_for_dbus_error (cases[i].name, "why");
      g_assert_cmpint (fzctl_exit_for_error (e), ==, cases[i].code);
    }
  g_autoptr (GError) own = g_error_new (FZ_CTL_ERROR, FZCTL_EXIT_SIGN_IN_REQUIRED, "x");
  g_autoptr (GError) io = g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "x");
  g_autoptr (GError) other = g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "x");
  g_assert_cmpint (fzctl_exit_for_error (own), ==, FZCTL_EXIT_SIGN_IN_REQUIRED);
  g_assert_cmpint (fzctl_exit_for_error (io), ==, FZCTL_EXIT_TIMEOUT);
  g_assert_cmpint (fzctl_exit_for_error (other), ==, FZCTL_EXIT_FAILED);
  g_assert_cmpstr (fzctl_exit_name (FZCTL_EXIT_NOT_CONNECTED), ==, "not-connected");
  g_assert_cmpstr (fzctl_exit_name (FZCTL_EXIT_INTERRUPTED), ==, "interrupted");
}

static GVariant *
resource (const char *name, const char *type, const char *address, const char *site,
          const char *status)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "id", g_variant_new_string (name));
  g_variant_builder_add (&b, "{sv}", "name", g_variant_new_string (name));
  g_variant_builder_add (&b, "{sv}", "type", g_variant_new_string (type));
  if (address != NULL)
    g_variant_builder_add (&b, "{sv}", "address", g_variant_new_string (address));
  if (site != NULL)
    g_variant_builder_add (&b, "{sv}", "site_name", g_variant_new_string (site));
  g_variant_builder_add (&b, "{sv}", "site_status", g_variant_new_string (status));
  g_variant_builder_add (&b, "{sv}", "can_be_disabled", g_variant_new_boolean (FALSE));
  return g_variant_builder_end (&b);
}

static GVariant *
world_resources (void)
{
  GVariant *r[] = {
    resource ("Web", "cidr", "172.16.1.10/32", "A", "online"),
    resource ("App", "dns", "app.corp.test", "A", "unknown"),
    resource ("Internet", "internet", NULL, NULL, "online"),
    resource ("Na\xc3\xafve\x1b[31m", "dns", "**.svc.corp.test", "A", "offline"),
  };
  return g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARDICT, r, 4));
}

static GVariant *
world_status (GVariant *resources)
{
  GVariantBuilder b;
  const char *addresses[] = { "100.64.0.2", "fd00:2021:1111::2", NULL };

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "State", g_variant_new_string ("connected"));
  g_variant_builder_add (&b, "{sv}", "Resources", resources);
  g_variant_builder_add (&b, "{sv}", "TunnelAddresses",
                         g_variant_new_strv (addresses, -1));
  g_variant_builder_add (&b, "{sv}", "InternetResourceEnabled",
                         g_variant_new_boolean (TRUE));
  g_variant_builder_add (&b, "{sv}", "DeviceId", g_variant_new_string ("dev-1"));
  /* A mistyped value is shown as unknown, not trusted. */
  g_variant_builder_add (&b, "{sv}", "Version", g_variant_new_int32 (3));
  g_variant_builder_add (&b, "{sv}", "LastError", g_variant_new_string (""));
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

static void
test_format_text (void)
{
  g_autoptr (GVariant) resources = world_resources ();
  g_autoptr (GVariant) status = world_status (resources);
  g_autofree char *text = fzctl_format_status (status);
  g_autofree char *table = fzctl_format_resources (resources);
  g_autofree char *none = fzctl_format_resources (NULL);
  g_autofree char *addresses = NULL, *off = NULL;

  g_assert_cmpstr (text, ==,
                   "State:             connected\n"
                   "Internet resource: on\n"
                   "Tunnel addresses:  100.64.0.2, fd00:2021:1111::2\n"
                   "Resources:         4 (App, Internet, Na\xc3\xafve?[31m, Web)\n"
                   "Last error:        none\n"
                   "Device id:         dev-1\n"
                   "Version:           unknown\n");
  /* Sorted by name, aligned by characters, the escape made harmless. */
  g_assert_cmpstr (table, ==,
                   "NAME        TYPE      ADDRESS           SITE  STATUS\n"
                   "App         dns       app.corp.test     A     unknown\n"
                   "Internet    internet  -                 -     online\n"
                   "Na\xc3\xafve?[31m  dns       **.svc.corp.test  A     offline\n"
                   "Web         cidr      172.16.1.10/32    A     online\n");
  g_assert_cmpstr (none, ==, "No resources.\n");
  addresses = fzctl_format_value ("TunnelAddresses", g_variant_new_strv (NULL, 0));
  g_assert_cmpstr (addresses, ==, "none");
  off = fzctl_format_value ("InternetResourceEnabled", g_variant_new_boolean (FALSE));
  g_assert_cmpstr (off, ==, "off");
  g_assert_null (fzctl_format_value ("State", NULL));
  g_assert_null (fzctl_format_value ("Colour", g_variant_new_string ("red")));
  g_assert_cmpstr (fzctl_property_label ("InternetResourceEnabled"), ==,
                   "Internet resource");
  g_assert_cmpstr (fzctl_property_key ("TunnelAddresses"), ==, "tunnel_addresses");
}

static void
test_sanitize (void)
{
  static const char *const cases[][2] = {
    { "plain", "plain" },
    { "tab\there", "tab?here" },
    { "\x1b]0;title\x07", "?]0;title?" },
    { "bidi\xe2\x80\xae"
      "evil",
      "bidi?evil" },                           /* U+202E */
    { "zero\xe2\x80\x8bwidth", "zero?width" }, /* U+200B */
    { "line\xe2\x80\xa8sep", "line?sep" },     /* U+2028 */
    { "c1\xc2\x9b"
      "31m",
      "c1?31m" },                               /* U+009B CSI */
    { "bad\xff utf8", "bad\xef\xbf\xbd utf8" }, /* replaced by U+FFFD */
    { "caf\xc3\xa9", "caf\xc3\xa9" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *out = fzctl_sanitize (cases[i][0]);
      g_assert_cmpstr (out, ==, cases[i][1]);
    }
}

static void
test_format_json (void)
{
  g_autoptr (GVariant) resources = world_resources ();
  g_autoptr (GVariant) status = world_status (resources);
  g_autoptr (GVariant) empty = g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
  g_autoptr (JsonNode) node = fzctl_status_to_json (status);
  g_autoptr (JsonNode) bare = fzctl_status_to_json (empty);
  g_autofree char *line = fzctl_json_line (node);
  g_autofree char *bare_line = fzctl_json_line (bare);

  g_assert_cmpstr (
    line, ==,
    "{\"state\":\"connected\",\"internet_resource_enabled\":true,"
    "\"tunnel_addresses\":[\"100.64.0.2\",\"fd00:2021:1111::2\"],\"resources\":["
    "{\"id\":\"App\",\"name\":\"App\",\"type\":\"dns\",\"address\":\"app.corp.test\","
    "\"address_description\":null,\"site_name\":\"A\",\"site_status\":\"unknown\","
    "\"can_be_disabled\":false},"
    "{\"id\":\"Internet\",\"name\":\"Internet\",\"type\":\"internet\",\"address\":null,"
    "\"address_description\":null,\"site_name\":null,\"site_status\":\"online\","
    "\"can_be_disabled\":false},"
    "{\"id\":\"Na\xc3\xafve\\u001b[31m\",\"name\":\"Na\xc3\xafve\\u001b[31m\","
    "\"type\":\"dns\",\"address\":\"**.svc.corp.test\",\"address_description\":null,"
    "\"site_name\":\"A\",\"site_status\":\"offline\",\"can_be_disabled\":false},"
    "{\"id\":\"Web\",\"name\":\"Web\",\"type\":\"cidr\",\"address\":\"172.16.1.10/32\","
    "\"address_description\":null,\"site_name\":\"A\",\"site_status\":\"online\","
    "\"can_be_disabled\":false}],"
    "\"last_error\":\"\",\"device_id\":\"dev-1\",\"version\":null}\n");
  /* Every key is there, also when the service gave nothing. */
  g_assert_cmpstr (bare_line, ==,
                   "{\"state\":null,\"internet_resource_enabled\":null,"
                   "\"tunnel_addresses\":null,\"resources\":null,\"last_error\":null,"
                   "\"device_id\":null,\"version\":null}\n");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/fzctl/args/commands", test_args_commands);
  g_test_add_func ("/fzctl/args/refused", test_args_refused);
  g_test_add_func ("/fzctl/args/on-off", test_on_off);
  g_test_add_func ("/fzctl/token/parse", test_token_parse);
  g_test_add_func ("/fzctl/token/file", test_token_file);
  g_test_add_func ("/fzctl/exit-codes", test_exit_codes);
  g_test_add_func ("/fzctl/format/text", test_format_text);
  g_test_add_func ("/fzctl/format/sanitize", test_sanitize);
  g_test_add_func ("/fzctl/format/json", test_format_json);
  return g_test_run ();
}
