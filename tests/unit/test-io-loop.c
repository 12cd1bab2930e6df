/* FzIoLoop on loopback: a UDP socket and a stand-in TUN (an AF_UNIX
 * SOCK_SEQPACKET pair per queue, read and written as a TUN without the
 * virtio-net header), no root needed. Batches arrive whole with their
 * addresses, what the owner queues goes out at the flush (in order, also
 * past the pending bound), two flooded sources take turns of at most
 * FZ_IO_LOOP_BATCHES batches, every TUN queue is read, and re-listening
 * frees the old port. */
#include "fz-private.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct
{
  int src; /* 0: TUN, 4: UDP */
  guint batches;
} Dispatch;

typedef struct
{
  FzIoLoop *io;
  FzTun *tun; /* a stand-in, or NULL */
  int tun_peer[FZ_TUN_MAX_QUEUES];
  GArray *dispatches; /* Dispatch */
  int current;        /* source of the dispatch under way, -1: none */
  guint current_batches;
  GArray *tun_seqs, *udp_seqs; /* guint32 from each payload, in arrival order */
  guint max_batch;
  gboolean whole; /* every datagram had its source and local address */
  FzSockAddr client;
  gboolean echo; /* udp -> TUN and TUN -> client */
} Fixture;

static guint32
payload_seq (FzPacketBuf *b)
{
  guint32 v = 0;

  g_assert_cmpuint (b->len, >=, 24);
  memcpy (&v, b->data + 20, 4);
  return v;
}

/* A 24-byte IPv4 packet (protocol 253, for experiments) carrying @seq. */
static gsize
make_packet (guint8 *p, guint32 seq)
{
  memset (p, 0, 24);
  p[0] = 0x45;
  p[3] = 24;
  p[8] = 64;
  p[9] = 253;
  p[12] = 10, p[15] = 1;
  p[16] = 10, p[19] = 2;
  memcpy (p + 20, &seq, 4);
  return 24;
}

static void
note_batch (Fixture *f, int src, FzBatch *b)
{
  g_assert_true (f->current == -1 || f->current == src);
  f->current = src;
  f->current_batches++;
  f->max_batch = MAX (f->max_batch, b->n);
  g_assert_cmpuint (b->n, >, 0);
  g_assert_cmpuint (b->n, <=, FZ_BATCH_MAX);
}

static void
on_tun_batch (gpointer data, FzBatch *b, gint64 now)
{
  Fixture *f = data;

  note_batch (f, 0, b);
  for (guint i = 0; i < b->n; i++)
    {
      guint32 seq = payload_seq (b->bufs[i]);
      g_array_append_val (f->tun_seqs, seq);
      if (f->echo)
        {
          FzUdpTransmit tx = { .dst = f->client, .buf = b->bufs[i] };
          fz_io_loop_queue_datagram (f->io, &tx);
          b->bufs[i] = NULL;
        }
    }
  if (f->echo)
    b->n = 0;
}

static void
on_udp_batch (gpointer data, FzBatch *b, gint64 now)
{
  Fixture *f = data;

  note_batch (f, 4, b);
  for (guint i = 0; i < b->n; i++)
    {
      guint32 seq = payload_seq (b->bufs[i]);
      g_array_append_val (f->udp_seqs, seq);
      f->whole &= fz_sock_addr_equal (&b->from[i], &f->client)
                  && b->local[i].ip.family == 4
                  && b->local[i].port == fz_io_loop_get_port (f->io);
      if (f->echo)
        {
          fz_io_loop_queue_tun (f->io, b->bufs[i]);
          b->bufs[i] = NULL;
        }
    }
  if (f->echo)
    b->n = 0;
}

static void
on_flush (gpointer data, gint64 now)
{
  Fixture *f = data;
  Dispatch d = { f->current, f->current_batches };

  /* A wake-up can find the batches taken already (a dispatch before
   * left some for the next one): nothing to count then. */
  if (f->current != -1)
    g_array_append_val (f->dispatches, d);
  f->current = -1;
  f->current_batches = 0;
  fz_io_loop_flush (f->io);
}

static void
on_tun_gone (gpointer data, int err)
{
  g_assert_not_reached ();
}

static const FzIoLoopCallbacks callbacks = {
  .tun_batch = on_tun_batch,
  .udp_batch = on_udp_batch,
  .flush = on_flush,
  .tun_gone = on_tun_gone,
};

/* A TUN stand-in with @n queues: the loop's ends non-blocking, as a
 * TUN's are; the test keeps the other ends (blocking). */
static FzTun *
fake_tun (Fixture *f, guint n)
{
  FzTun *tun = g_new0 (FzTun, 1);

  g_strlcpy (tun->name, "fake", sizeof tun->name);
  tun->ctl = -1;
  tun->n_queues = n;
  for (guint q = 0; q < n; q++)
    {
      int sv[2], big = 4 << 20;
      g_assert_no_errno (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
      setsockopt (sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
      setsockopt (sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big); /* root only */
      g_assert_no_errno (fcntl (sv[0], F_SETFL, O_NONBLOCK));
      tun->queues[q] = sv[0];
      f->tun_peer[q] = sv[1];
    }
  tun->fd = tun->queues[0];
  return tun;
}

static int
client_socket (Fixture *f)
{
  struct sockaddr_in sa
    = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int big = 4 << 20;
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big); /* root only */
  g_assert_no_errno (bind (fd, (struct sockaddr *) &sa, sizeof sa));
  g_assert_no_errno (getsockname (fd, (struct sockaddr *) &ss, &len));
  fz_sock_addr_from_native (&ss, &f->client);
  return fd;
}

static void
fixture_set_up (Fixture *f, guint tun_queues)
{
  g_autoptr (GError) error = NULL;

  memset (f, 0, sizeof *f);
  f->current = -1;
  f->whole = TRUE;
  f->dispatches = g_array_new (FALSE, FALSE, sizeof (Dispatch));
  f->tun_seqs = g_array_new (FALSE, FALSE, sizeof (guint32));
  f->udp_seqs = g_array_new (FALSE, FALSE, sizeof (guint32));
  if (tun_queues > 0)
    f->tun = fake_tun (f, tun_queues);
  f->io = fz_io_loop_new (g_main_context_default (), f->tun, &callbacks, f);
  g_assert_true (fz_io_loop_listen (f->io, 0, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (fz_io_loop_get_port (f->io), !=, 0);
}

static void
fixture_tear_down (Fixture *f)
{
  g_clear_pointer (&f->io, fz_io_loop_free);
  if (f->tun != NULL)
    for (guint q = 0; q < f->tun->n_queues; q++)
      {
        close (f->tun->queues[q]);
        close (f->tun_peer[q]);
      }
  g_free (f->tun);
  g_array_unref (f->dispatches);
  g_array_unref (f->tun_seqs);
  g_array_unref (f->udp_seqs);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
send_to_loop (Fixture *f, int fd, guint32 first, guint n)
{
  FzSockAddr to = { .port = fz_io_loop_get_port (f->io) };
  struct sockaddr_storage ss;
  socklen_t len;
  guint8 p[24];

  fz_ip_addr_parse (&to.ip, "127.0.0.1");
  len = fz_sock_addr_to_native (&to, &ss);
  for (guint i = 0; i < n; i++)
    g_assert_cmpint (
      sendto (fd, p, make_packet (p, first + i), 0, (struct sockaddr *) &ss, len), ==,
      24);
}

/* Iterates the default context until @done says so or @ms pass. */
static gboolean
run_until (gboolean (*done) (Fixture *), Fixture *f, guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;

  while (!done (f) && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (1000), TRUE);
  return done (f);
}

static guint want;

static gboolean
got_udp (Fixture *f)
{
  return f->udp_seqs->len >= want;
}

static gboolean
got_tun (Fixture *f)
{
  return f->tun_seqs->len >= want;
}

static void
assert_in_order (GArray *seqs, guint32 first, guint n)
{
  g_assert_cmpuint (seqs->len, ==, n);
  for (guint i = 0; i < n; i++)
    g_assert_cmpuint (g_array_index (seqs, guint32, i), ==, first + i);
}

/* Receives @n datagrams (or packets) on @fd within 2 s each; their
 * sequence numbers must count up from @first. */
static void
expect_seqs (int fd, guint32 first, guint n)
{
  for (guint i = 0; i < n; i++)
    {
      struct pollfd p = { .fd = fd, .events = POLLIN };
      guint8 buf[2048];
      guint32 seq;
      gssize got;

      g_assert_cmpint (poll (&p, 1, 2000), ==, 1);
      got = recv (fd, buf, sizeof buf, 0);
      g_assert_cmpint (got, ==, 24);
      memcpy (&seq, buf + 20, 4);
      g_assert_cmpuint (seq, ==, first + i);
    }
}

static void
assert_nothing_waits (int fd)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };
  g_assert_cmpint (poll (&p, 1, 0), ==, 0);
}

/* GSO sends of @per datagrams each (UDP_SEGMENT): over loopback the
 * reader's GRO receives get them coalesced, as from a NIC. */
static void
send_segments_to_loop (Fixture *f, int fd, guint32 first, guint n, guint per)
{
  FzSockAddr to = { .port = fz_io_loop_get_port (f->io) };
  struct sockaddr_storage ss;
  socklen_t len;
  int seg = 24;
  g_autofree guint8 *p = g_malloc (24 * per);

  g_assert_no_errno (setsockopt (fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof seg));
  fz_ip_addr_parse (&to.ip, "127.0.0.1");
  len = fz_sock_addr_to_native (&to, &ss);
  for (guint sent = 0; sent < n;)
    {
      guint k = MIN (per, n - sent);
      for (guint i = 0; i < k; i++)
        make_packet (p + 24 * i, first + sent + i);
      g_assert_cmpint (sendto (fd, p, 24 * k, 0, (struct sockaddr *) &ss, len), ==,
                       24 * k);
      sent += k;
    }
}

/* Datagrams sent to the loop, one a send or @per a GSO send (0: one),
 * come in whole batches with their addresses, each dispatch ends in one
 * flush, and what the owner queued in it (here: the datagrams, for the
 * TUN) is written then, in order. */
static void
check_udp_echo (guint32 first, guint n, guint per)
{
  Fixture f;
  int fd;

  fixture_set_up (&f, 1);
  fd = client_socket (&f);
  f.echo = TRUE;
  fz_io_loop_start (f.io);
  want = n;
  if (per == 0)
    send_to_loop (&f, fd, first, n);
  else
    send_segments_to_loop (&f, fd, first, n, per);
  g_assert_true (run_until (got_udp, &f, 5000));
  assert_in_order (f.udp_seqs, first, n);
  g_assert_true (f.whole);
  for (guint i = 0; i < f.dispatches->len; i++)
    {
      Dispatch *d = &g_array_index (f.dispatches, Dispatch, i);
      g_assert_cmpint (d->src, ==, 4);
      g_assert_cmpuint (d->batches, <=, FZ_IO_LOOP_BATCHES);
    }
  expect_seqs (f.tun_peer[0], first, n); /* written to the TUN at the flushes */
  assert_nothing_waits (f.tun_peer[0]);
  close (fd);
  fixture_tear_down (&f);
}

static void
test_udp_batches (void)
{
  check_udp_echo (1000, 300, 0);
}

/* A GRO receive holding more datagrams than a batch has room for is split
 * over batches without losing or reordering one (the reader takes buffers
 * a batch's room at a time): 50 a receive, so most cross a batch's end. */
static void
test_udp_gro (void)
{
  check_udp_echo (5000, 5 * 50 + 7, 50);
}

/* TUN packets from every queue reach the owner; datagrams it queues go
 * out in order at the flush. */
static void
test_tun_queues (void)
{
  Fixture f;
  int fd;
  guint8 p[24];

  fixture_set_up (&f, 2);
  fd = client_socket (&f);
  f.echo = TRUE;
  fz_io_loop_start (f.io);
  want = 100;
  for (guint i = 0; i < 100; i++)
    g_assert_cmpint (write (f.tun_peer[0], p, make_packet (p, i)), ==, 24);
  g_assert_true (run_until (got_tun, &f, 5000));
  want = 200;
  for (guint i = 100; i < 200; i++)
    g_assert_cmpint (write (f.tun_peer[1], p, make_packet (p, i)), ==, 24);
  g_assert_true (run_until (got_tun, &f, 5000));
  assert_in_order (f.tun_seqs, 0, 200);
  expect_seqs (fd, 0, 200);
  close (fd);
  fixture_tear_down (&f);
}

/* More queued than FZ_IO_LOOP_MAX_PENDING before a flush: nothing is
 * lost, nothing reordered, and nothing goes out before the bound or the
 * flush. */
static void
test_flush (void)
{
  Fixture f;
  guint n = FZ_IO_LOOP_MAX_PENDING + 40;
  g_autoptr (FzBufPool) pool = fz_buf_pool_new (2048, 16);
  int fd;

  fixture_set_up (&f, 1);
  fd = client_socket (&f);
  for (guint i = 0; i < n; i++)
    {
      FzUdpTransmit tx = { .dst = f.client, .buf = fz_buf_pool_alloc (pool) };
      FzPacketBuf *t = fz_buf_pool_alloc (pool);

      tx.buf->len = make_packet (tx.buf->data, i);
      t->len = make_packet (t->data, i);
      fz_io_loop_queue_datagram (f.io, &tx);
      fz_io_loop_queue_tun (f.io, t);
      if (i == 10)
        {
          assert_nothing_waits (fd);
          assert_nothing_waits (f.tun_peer[0]);
        }
    }
  expect_seqs (fd, 0, FZ_IO_LOOP_MAX_PENDING); /* the bound flushed those */
  expect_seqs (f.tun_peer[0], 0, FZ_IO_LOOP_MAX_PENDING);
  assert_nothing_waits (fd);
  fz_io_loop_flush (f.io);
  expect_seqs (fd, FZ_IO_LOOP_MAX_PENDING, n - FZ_IO_LOOP_MAX_PENDING);
  expect_seqs (f.tun_peer[0], FZ_IO_LOOP_MAX_PENDING, n - FZ_IO_LOOP_MAX_PENDING);
  /* Queued and never flushed: freed with the loop (the sanitizer checks). */
  {
    FzUdpTransmit tx = { .dst = f.client, .buf = fz_buf_pool_alloc (pool) };
    tx.buf->len = make_packet (tx.buf->data, 0);
    fz_io_loop_queue_datagram (f.io, &tx);
    fz_io_loop_queue_tun (f.io, fz_buf_pool_alloc (pool));
  }
  close (fd);
  fixture_tear_down (&f);
}

/* Two sources flooded before the loop runs: each dispatch takes at most
 * FZ_IO_LOOP_BATCHES batches, and the two take turns. */
static gboolean
queued_enough (Fixture *f)
{
  guint d[3];

  fz_io_loop_take_depths (f->io, d);
  return d[0] >= 2 * FZ_IO_LOOP_BATCHES && d[1] >= 2 * FZ_IO_LOOP_BATCHES;
}

static gboolean
drained (Fixture *f)
{
  return FALSE;
}

static void
test_fairness (void)
{
  Fixture f;
  int fd;
  guint8 p[24];
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  fixture_set_up (&f, 1);
  fd = client_socket (&f);
  fz_io_loop_start (f.io);
  /* Packets one at a time, so that the readers make small batches,
   * until both queues hold two dispatches' worth (a loaded machine may
   * put several packets in one batch: then it takes more). */
  for (guint i = 0; !queued_enough (&f) && g_get_monotonic_time () < end; i++)
    {
      g_assert_cmpint (write (f.tun_peer[0], p, make_packet (p, i)), ==, 24);
      send_to_loop (&f, fd, i, 1);
      g_usleep (2000);
    }
  g_assert_true (queued_enough (&f));
  run_until (drained, &f, 300);
  g_assert_cmpuint (f.dispatches->len, >=, 4);
  for (guint i = 0; i < f.dispatches->len; i++)
    g_assert_cmpuint (g_array_index (f.dispatches, Dispatch, i).batches, <=,
                      FZ_IO_LOOP_BATCHES);
  for (guint i = 0; i < 4; i++)
    {
      Dispatch *d = &g_array_index (f.dispatches, Dispatch, i);
      g_assert_cmpuint (d->batches, ==, FZ_IO_LOOP_BATCHES);
      if (i > 0)
        g_assert_cmpint (d->src, !=, g_array_index (f.dispatches, Dispatch, i - 1).src);
    }
  close (fd);
  fixture_tear_down (&f);
}

/* A new port closes the old sockets (the port is free again); the same
 * port keeps them; a taken one fails and leaves none. */
static void
test_listen (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FzUdpSocket) holder = NULL;
  Fixture f;
  guint16 old, next;
  FzUdpSocket *s4;
  int fd;

  fixture_set_up (&f, 0);
  fz_io_loop_start (f.io);
  old = fz_io_loop_get_port (f.io);
  s4 = fz_io_loop_get_socket (f.io, 4);
  g_assert_true (fz_io_loop_listen (f.io, old, &error));
  g_assert_cmpuint (fz_io_loop_get_port (f.io), ==, old);
  g_assert_true (fz_io_loop_get_socket (f.io, 4) == s4);
  g_assert_true (fz_io_loop_listen (f.io, 0, &error));
  next = fz_io_loop_get_port (f.io);
  g_assert_cmpuint (next, !=, 0);
  holder = fz_udp_socket_open (4, old, &error); /* the old port is free */
  g_assert_no_error (error);
  /* The new socket reads. */
  fd = client_socket (&f);
  want = 5;
  send_to_loop (&f, fd, 7, 5);
  g_assert_true (run_until (got_udp, &f, 5000));
  assert_in_order (f.udp_seqs, 7, 5);
  /* Taken: an error, and no socket. */
  g_assert_false (fz_io_loop_listen (f.io, old, &error));
  g_assert_nonnull (error);
  g_assert_cmpuint (fz_io_loop_get_port (f.io), ==, 0);
  g_assert_null (fz_io_loop_get_socket (f.io, 4));
  g_clear_error (&error);
  g_assert_true (fz_io_loop_listen (f.io, next, &error));
  g_assert_cmpuint (fz_io_loop_get_port (f.io), ==, next);
  close (fd);
  fixture_tear_down (&f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/io-loop/udp-batches", test_udp_batches);
  g_test_add_func ("/io-loop/udp-gro", test_udp_gro);
  g_test_add_func ("/io-loop/tun-queues", test_tun_queues);
  g_test_add_func ("/io-loop/flush", test_flush);
  g_test_add_func ("/io-loop/fairness", test_fairness);
  g_test_add_func ("/io-loop/listen", test_listen);
  return g_test_run ();
}
