/* fz-dns-control, systemd-resolved mode, against a fake resolved on a
 * private system bus: a dbus-daemon of our own, and a thread that owns
 * org.freedesktop.resolve1 and records each call with its arguments.
 * The calls that set a link are not waited for: the test runs the main
 * context until the fake has them. */
#include "fz-dns-control.h"
#include "fz-private.h"
#include "child-setup.h"
#include "tmp-tree.h"

#define V4 "100.100.111.1"
#define V6 "fd00:2021:1111:8000:100:100:111:1"

static const char introspection[]
  = "<node><interface name='org.freedesktop.resolve1.Manager'>"
    "<method name='SetLinkDNS'><arg type='i'/><arg type='a(iay)'/></method>"
    "<method name='SetLinkDomains'><arg type='i'/><arg type='a(sb)'/></method>"
    "<method name='RevertLink'><arg type='i'/></method>"
    "<method name='SetLinkDefaultRoute'><arg type='i'/><arg type='b'/></method>"
    "<method name='SetLinkDNSSEC'><arg type='i'/><arg type='s'/></method>"
    "<method name='SetLinkDNSOverTLS'><arg type='i'/><arg type='s'/></method>"
    "<method name='SetLinkLLMNR'><arg type='i'/><arg type='s'/></method>"
    "<method name='SetLinkMulticastDNS'><arg type='i'/><arg type='s'/></method>"
    "<method name='FlushCaches'/>"
    "</interface></node>";

#define NO_SUCH_LINK 99 /* the fake fails calls on this link */
#define STUCK_LINK   98 /* and never answers calls on this one */

static struct
{
  char *dir;
  GSubprocess *daemon;
  char *address;
  GThread *thread;
  GMainLoop *loop;
  GMutex lock;
  GCond cond;
  gboolean owned;
  GPtrArray *calls;      /* "Method (args)" */
  GPtrArray *logged;     /* the code's messages */
  GPtrArray *unanswered; /* invocations on STUCK_LINK */
} fake;

static void
method_call (GDBusConnection *c, const char *sender, const char *path, const char *iface,
             const char *method, GVariant *params, GDBusMethodInvocation *inv,
             gpointer data)
{
  g_autofree char *args = g_variant_print (params, FALSE);
  g_mutex_lock (&fake.lock);
  g_ptr_array_add (fake.calls, g_strdup_printf ("%s %s", method, args));
  g_mutex_unlock (&fake.lock);
  gint32 ifindex = 0;
  if (g_variant_n_children (params) > 0)
    g_variant_get_child (params, 0, "i", &ifindex);
  if (ifindex == STUCK_LINK)
    g_ptr_array_add (fake.unanswered, g_object_ref (inv));
  else if (ifindex == NO_SUCH_LINK)
    g_dbus_method_invocation_return_dbus_error (
      inv, "org.freedesktop.resolve1.NoSuchLink", "Link 99 not known");
  else
    g_dbus_method_invocation_return_value (inv, NULL);
}

static gpointer
fake_thread (gpointer data)
{
  GMainContext *ctx = g_main_context_new ();
  g_main_context_push_thread_default (ctx);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) c = g_dbus_connection_new_for_address_sync (
    fake.address,
    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
      | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
    NULL, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (GDBusNodeInfo) node = g_dbus_node_info_new_for_xml (introspection, &error);
  g_assert_no_error (error);
  static const GDBusInterfaceVTable vtable = { method_call, NULL, NULL, { 0 } };
  guint id = g_dbus_connection_register_object (
    c, "/org/freedesktop/resolve1", node->interfaces[0], &vtable, NULL, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (GVariant) ret = g_dbus_connection_call_sync (
    c, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
    "RequestName",
    g_variant_new ("(su)", "org.freedesktop.resolve1", 4 /* do not queue */),
    G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  guint32 reply;
  g_variant_get (ret, "(u)", &reply);
  g_assert_cmpuint (reply, ==, 1); /* primary owner */

  g_mutex_lock (&fake.lock);
  fake.owned = TRUE;
  g_cond_signal (&fake.cond);
  g_mutex_unlock (&fake.lock);

  fake.loop = g_main_loop_new (ctx, FALSE);
  g_main_loop_run (fake.loop);
  g_dbus_connection_unregister_object (c, id);
  g_dbus_connection_close_sync (c, NULL, NULL);
  g_main_loop_unref (fake.loop);
  g_main_context_pop_thread_default (ctx);
  g_main_context_unref (ctx);
  return NULL;
}

static void
start_bus (void)
{
  fake.dir = tmp_tree_new ();
  g_autofree char *socket = g_build_filename (fake.dir, "system_bus_socket", NULL);
  g_autofree char *config_path = g_build_filename (fake.dir, "system.conf", NULL);
  g_autofree char *config = g_strdup_printf (
    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" "
    "\"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
    "<busconfig><type>system</type><listen>unix:path=%s</listen><auth>EXTERNAL</auth>"
    "<policy context='default'><allow user='*'/><allow own='*'/>"
    "<allow send_destination='*'/><allow receive_sender='*'/></policy></busconfig>\n",
    socket);
  g_assert_true (g_file_set_contents (config_path, config, -1, NULL));

  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) launcher
    = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, fz_test_die_with_parent, NULL, NULL);
  fake.daemon = g_subprocess_launcher_spawn (launcher, &error, "dbus-daemon",
                                             "--config-file", config_path, "--nofork",
                                             "--nopidfile", "--print-address=1", NULL);
  if (fake.daemon == NULL)
    g_error ("cannot start dbus-daemon (run tools/setup): %s", error->message);
  /* The address line says it listens. */
  g_autoptr (GDataInputStream) out
    = g_data_input_stream_new (g_subprocess_get_stdout_pipe (fake.daemon));
  g_autofree char *line = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  fake.address = g_strdup_printf ("unix:path=%s", socket);
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", fake.address, TRUE);

  /* The code under test uses the shared system bus; it must not exit
   * the test when our daemon stops at the end. */
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  g_assert_no_error (error);
  g_dbus_connection_set_exit_on_close (bus, FALSE);
}

static void
stop_bus (void)
{
  if (fake.thread != NULL)
    {
      g_main_loop_quit (fake.loop);
      g_thread_join (fake.thread);
    }
  g_subprocess_force_exit (fake.daemon);
  g_subprocess_wait (fake.daemon, NULL, NULL);
  g_object_unref (fake.daemon);
  tmp_tree_remove (fake.dir);
  g_free (fake.dir);
  g_free (fake.address);
}

static void
start_fake (void)
{
  if (fake.thread != NULL)
    return;
  fake.thread = g_thread_new ("fake-resolved", fake_thread, NULL);
  g_mutex_lock (&fake.lock);
  while (!fake.owned)
    g_cond_wait (&fake.cond, &fake.lock);
  g_mutex_unlock (&fake.lock);
}

/* Runs the main context until the fake has had @n calls since the last
 * check (5 s at most). */
static void
wait_calls (guint n)
{
  gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  for (;;)
    {
      g_mutex_lock (&fake.lock);
      guint have = fake.calls->len;
      g_mutex_unlock (&fake.lock);
      if (have >= n || g_get_monotonic_time () > end)
        break;
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
}

/* Runs the main context for @ms: replies due by then are handled. */
static void
run_for (guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;
  while (g_get_monotonic_time () < end)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
}

static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  for (gsize i = 0; i < n_fields && (level & G_LOG_LEVEL_MESSAGE); i++)
    if (g_str_equal (fields[i].key, "MESSAGE") && fields[i].length < 0)
      g_ptr_array_add (fake.logged, g_strdup (fields[i].value));
  return g_log_writer_default (level, fields, n_fields, data);
}

/* The calls made since the last check, one per line. */
static char *
take_calls (void)
{
  g_mutex_lock (&fake.lock);
  g_ptr_array_add (fake.calls, NULL);
  char *s = g_strjoinv ("\n", (char **) fake.calls->pdata);
  g_ptr_array_set_size (fake.calls, 0);
  g_mutex_unlock (&fake.lock);
  return s;
}

static const char *const servers[] = { V4, V6, NULL };

static void
test_not_running (void)
{
  g_autoptr (GError) error = NULL;
  FzDnsControlMode mode;

  g_assert_false (fz_dns_control_set (FZ_DNS_CONTROL_SYSTEMD_RESOLVED, NULL, NULL, 7,
                                      servers, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "systemd-resolved is not running"));
  g_clear_error (&error);
  /* Nothing to revert then. */
  g_assert_true (
    fz_dns_control_revert (FZ_DNS_CONTROL_SYSTEMD_RESOLVED, NULL, NULL, 7, &error));
  g_assert_no_error (error);

  /* The default without resolved; resolved asked for, but absent. */
  g_assert_true (fz_dns_control_mode_choose (NULL, &mode, &error));
  g_assert_cmpint (mode, ==, FZ_DNS_CONTROL_ETC_RESOLV_CONF);
  g_assert_true (fz_dns_control_mode_choose ("", &mode, &error));
  g_assert_cmpint (mode, ==, FZ_DNS_CONTROL_ETC_RESOLV_CONF);
  g_assert_false (fz_dns_control_mode_choose ("systemd-resolved", &mode, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "FIREZONE_DNS_CONTROL=etc-resolv-conf"));
  g_clear_error (&error);
  g_assert_true (fz_dns_control_mode_choose ("disabled", &mode, &error));
  g_assert_cmpint (mode, ==, FZ_DNS_CONTROL_DISABLED);
  g_assert_false (fz_dns_control_mode_choose ("resolved", &mode, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  /* Nothing to flush, and no call. */
  fz_dns_control_flush (FZ_DNS_CONTROL_SYSTEMD_RESOLVED);
  run_for (100);
}

#define SET_LINK(i)                                                                      \
  "SetLinkDefaultRoute (" i ", true)\n"                                                  \
  "SetLinkDNSSEC (" i ", 'no')\n"                                                        \
  "SetLinkDNSOverTLS (" i ", 'no')\n"                                                    \
  "SetLinkLLMNR (" i ", 'no')\n"                                                         \
  "SetLinkMulticastDNS (" i ", 'no')\n"                                                  \
  "FlushCaches ()"

static void
test_set_revert (void)
{
  start_fake ();
  g_autoptr (GError) error = NULL;
  FzDnsControlMode mode;

  g_ptr_array_set_size (fake.logged, 0);
  /* Running: the default, and allowed when asked for. */
  g_assert_true (fz_dns_control_mode_choose (NULL, &mode, &error));
  g_assert_cmpint (mode, ==, FZ_DNS_CONTROL_SYSTEMD_RESOLVED);
  g_assert_cmpstr (fz_dns_control_mode_name (mode), ==, "systemd-resolved");
  g_assert_true (fz_dns_control_mode_choose ("systemd-resolved", &mode, &error));
  g_assert_cmpint (mode, ==, FZ_DNS_CONTROL_SYSTEMD_RESOLVED);
  g_assert_true (fz_dns_control_mode_choose ("etc-resolv-conf", &mode, &error));
  g_assert_cmpint (mode, ==, FZ_DNS_CONTROL_ETC_RESOLV_CONF);

  g_assert_true (fz_dns_control_set (FZ_DNS_CONTROL_SYSTEMD_RESOLVED, NULL, NULL, 7,
                                     servers, "corp.example", &error));
  g_assert_no_error (error);
  wait_calls (8);
  g_autofree char *calls = take_calls ();
  g_assert_cmpstr (
    calls, ==,
    "SetLinkDNS (7, [(2, [0x64, 0x64, 0x6f, 0x01]), (10, [0xfd, 0x00, "
    "0x20, 0x21, 0x11, 0x11, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, "
    "0x11, 0x00, 0x01])])\n"
    "SetLinkDomains (7, [('corp.example', false), ('.', true)])\n" SET_LINK ("7"));

  /* Without a search domain, routing only. */
  const char *const one[] = { V4, NULL };
  g_assert_true (fz_dns_control_set (FZ_DNS_CONTROL_SYSTEMD_RESOLVED, NULL, NULL, 3, one,
                                     NULL, &error));
  g_assert_no_error (error);
  wait_calls (8);
  g_autofree char *calls2 = take_calls ();
  g_assert_cmpstr (calls2, ==,
                   "SetLinkDNS (3, [(2, [0x64, 0x64, 0x6f, 0x01])])\n"
                   "SetLinkDomains (3, [('.', true)])\n" SET_LINK ("3"));

  fz_dns_control_flush (FZ_DNS_CONTROL_SYSTEMD_RESOLVED);
  fz_dns_control_flush (FZ_DNS_CONTROL_ETC_RESOLV_CONF);
  wait_calls (1);
  run_for (50);
  g_autofree char *calls_flush = take_calls ();
  g_assert_cmpstr (calls_flush, ==, "FlushCaches ()");

  g_assert_true (
    fz_dns_control_revert (FZ_DNS_CONTROL_SYSTEMD_RESOLVED, NULL, NULL, 7, &error));
  g_assert_no_error (error);
  g_autofree char *calls3 = take_calls ();
  g_assert_cmpstr (calls3, ==, "RevertLink (7,)");

  /* Bad input never reaches resolved. */
  const char *const bad[] = { "dns.example", NULL };
  g_assert_false (fz_dns_control_set (FZ_DNS_CONTROL_SYSTEMD_RESOLVED, NULL, NULL, 7, bad,
                                      NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (fz_dns_control_set (FZ_DNS_CONTROL_SYSTEMD_RESOLVED, NULL, NULL, 7, one,
                                      "a b", &error));
  g_clear_error (&error);
  run_for (50);
  g_autofree char *calls4 = take_calls ();
  g_assert_cmpstr (calls4, ==, "");
  for (guint i = 0; i < fake.logged->len; i++)
    g_test_message ("logged: %s", (char *) fake.logged->pdata[i]);
  g_assert_cmpuint (fake.logged->len, ==, 0);
}

static gboolean
logged (const char *message)
{
  for (guint i = 0; i < fake.logged->len; i++)
    if (g_str_equal (fake.logged->pdata[i], message))
      return TRUE;
  return FALSE;
}

static void
test_refused (void)
{
  start_fake ();
  g_autoptr (GError) error = NULL;
  const char *const one[] = { V4, NULL };

  /* Sent: resolved's refusal is logged when it comes. */
  g_assert_true (fz_dns_control_set (FZ_DNS_CONTROL_SYSTEMD_RESOLVED, NULL, NULL,
                                     NO_SUCH_LINK, one, NULL, &error));
  g_assert_no_error (error);
  wait_calls (8);
  run_for (100);
  g_assert_true (logged ("DNS: systemd-resolved SetLinkDNS failed: Link 99 not known"));
  g_assert_true (
    logged ("DNS: systemd-resolved SetLinkDNSSEC failed: Link 99 not known"));
  g_ptr_array_set_size (fake.logged, 0);
  g_assert_false (fz_dns_control_revert (FZ_DNS_CONTROL_SYSTEMD_RESOLVED, NULL, NULL,
                                         NO_SUCH_LINK, &error));
  g_assert_cmpstr (error->message, ==,
                   "systemd-resolved RevertLink failed: Link 99 not known");
  /* Callers may ignore the error. */
  g_assert_false (fz_dns_control_revert (FZ_DNS_CONTROL_SYSTEMD_RESOLVED, NULL, NULL,
                                         NO_SUCH_LINK, NULL));
  g_autofree char *calls = take_calls ();
  g_assert_cmpstr (calls, ==,
                   "SetLinkDNS (99, [(2, [0x64, 0x64, 0x6f, 0x01])])\n"
                   "SetLinkDomains (99, [('.', true)])\n" SET_LINK (
                     "99") "\n"
                           "RevertLink (99,)\nRevertLink (99,)");
}

/* A resolved that never answers: setting returns at once, the calls time
 * out in the background, and reverting gives up after the timeout. */
static void
test_stuck (void)
{
  start_fake ();
  g_autoptr (GError) error = NULL;
  const char *const one[] = { V4, NULL };

  gint64 t0 = g_get_monotonic_time ();
  g_assert_true (fz_dns_control_set (FZ_DNS_CONTROL_SYSTEMD_RESOLVED, NULL, NULL,
                                     STUCK_LINK, one, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, FZ_DNS_CONTROL_TIMEOUT_MS * 1000 / 2);
  wait_calls (7); /* FlushCaches has no link: answered */
  run_for (FZ_DNS_CONTROL_TIMEOUT_MS + 500);
  g_assert_true (logged ("DNS: systemd-resolved SetLinkDNS failed: Timeout was reached"));

  t0 = g_get_monotonic_time ();
  g_assert_false (fz_dns_control_revert (FZ_DNS_CONTROL_SYSTEMD_RESOLVED, NULL, NULL,
                                         STUCK_LINK, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  gint64 waited = g_get_monotonic_time () - t0;
  g_assert_cmpint (waited, <, (FZ_DNS_CONTROL_TIMEOUT_MS + 1000) * 1000);
  g_free (take_calls ());
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  fake.calls = g_ptr_array_new_with_free_func (g_free);
  fake.logged = g_ptr_array_new_with_free_func (g_free);
  fake.unanswered = g_ptr_array_new_with_free_func (g_object_unref);
  g_log_set_writer_func (log_writer, NULL, NULL);
  start_bus ();
  /* In this order: the fake starts after not-running. */
  g_test_add_func ("/dns-control-resolved/not-running", test_not_running);
  g_test_add_func ("/dns-control-resolved/set-revert", test_set_revert);
  g_test_add_func ("/dns-control-resolved/refused", test_refused);
  g_test_add_func ("/dns-control-resolved/stuck", test_stuck);
  int ret = g_test_run ();
  stop_bus ();
  g_ptr_array_unref (fake.calls);
  g_ptr_array_unref (fake.logged);
  g_ptr_array_unref (fake.unanswered);
  return ret;
}
