#!/usr/bin/env python3
"""Misuses of fz-wg's configuration socket, one check per subcommand;
exits non-zero with a message on the first failure.

  wg-uapi.py SOCKET CHECK [ARGS]
"""
import hashlib
import os
import socket
import sys
import time

SOCK = sys.argv[1]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def connect(timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    while True:
        try:
            s.connect(SOCK)
            return s
        except BlockingIOError:  # the listen backlog is full: wait for accept
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
        except ConnectionRefusedError:
            fail("connection refused: fz-wg is gone")


def read_reply(s):
    """Everything through the blank line after errno=N, or what came
    before the connection closed."""
    data = b""
    while not (data.endswith(b"\n\n") and b"errno=" in data.rsplit(b"\n", 3)[-3]):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def request(text, timeout=10):
    with connect(timeout) as s:
        s.sendall(text)
        return read_reply(s)


def key(i):
    """A peer's public key: uniformly random-looking, as real keys are."""
    return hashlib.sha256(b"%d" % i).hexdigest().encode()


def add_peers(n):
    """n peers in requests of 2000, one in ten with a /32 (the routing
    table is linear: 20 000 entries fill in quadratic time)."""
    for start in range(0, n, 2000):
        lines = [b"set=1"]
        for i in range(start, min(n, start + 2000)):
            lines.append(b"public_key=" + key(i))
            if i % 10 == 0:
                lines.append(b"allowed_ip=10.%d.%d.%d/32" % (i >> 16 & 255, i >> 8 & 255, i & 255))
        reply = request(b"\n".join(lines) + b"\n\n", timeout=120)
        if reply != b"errno=0\n\n":
            fail("adding peers: %r" % reply[:200])


def peer_count():
    reply = request(b"get=1\n\n", timeout=60)
    if not reply.endswith(b"errno=0\n\n"):
        fail("get did not complete: %d bytes, ends %r" % (len(reply), reply[-40:]))
    return reply.count(b"\npublic_key=")


def check_sigpipe(pid):
    """get=1 and close unread, many times, with an answer far larger than
    the socket buffer: fz-wg must survive and answer the next request."""
    add_peers(2000)
    for _ in range(50):
        with connect() as s:
            s.sendall(b"get=1\n\n")
    time.sleep(0.3)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        fail("fz-wg died after get=1 was closed unread")
    n = peer_count()
    if n != 2000:
        fail("after the unread gets: %d peers, expected 2000" % n)
    reply = request(b"set=1\nreplace_peers=true\n\n")
    if reply != b"errno=0\n\n":
        fail("replace_peers: %r" % reply)


def check_never_hangs():
    """Malformed requests are answered with errno=22 or the connection is
    closed, at once: never a client left waiting."""
    with connect() as s:
        s.sendall(b"get=2\n\nset=1\nlisten_port=0\n\nget=1\n\n")
        data = b""
        while data.count(b"errno=") < 3:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if not (data.startswith(b"errno=22\n\nerrno=0\n\n") and data.endswith(b"errno=0\n\n")
            and data.count(b"errno=") == 3):
        fail("three requests in one write: %r" % data)
    cases = {
        "NUL in get": b"get=1\x00\n\n",
        "NUL in set": b"set=1\nlisten_port=0\x00\n\n",
        "CRLF get": b"get=1\r\n\r\n",
        "CRLF set": b"set=1\r\nlisten_port=0\r\n\r\n",
        "CR alone": b"get=1\r\n",
        "a line of 100 000 bytes": b"set=1\nendpoint=" + b"1" * 100000,
        "a request of 40 MB": b"set=1\n" + b"allowed_ip=10.0.0.0/8\n" * 2000000,
    }
    for name, text in cases.items():
        t0 = time.monotonic()
        with connect(timeout=3) as s:
            try:
                s.sendall(text)
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed on us while sending: fine
            try:
                reply = read_reply(s)
            except socket.timeout:
                fail("%s: no answer and not closed within 3 s" % name)
            except ConnectionResetError:
                reply = b""
        if reply not in (b"", b"errno=22\n\n"):
            fail("%s: unexpected reply %r" % (name, reply[:100]))
        if time.monotonic() - t0 > 3:
            fail("%s: took %.1f s" % (name, time.monotonic() - t0))
    reply = request(b"get=1\n\n")
    if not reply.endswith(b"errno=0\n\n"):
        fail("fz-wg no longer answers after the malformed requests: %r" % reply)


def check_own_key(own_pub_hex, other_pub_hex, other_priv_hex):
    """Its own public key as a peer is ignored, as by wireguard-go and the
    kernel (the same configuration can be pushed to every peer); setting a
    private key whose public key is a peer's removes that peer."""
    reply = request(b"set=1\npublic_key=" + own_pub_hex + b"\nallowed_ip=10.9.9.9/32\n"
                    b"endpoint=192.0.2.9:5000\n\n")
    if reply != b"errno=0\n\n":
        fail("own key as a peer: %r" % reply)
    reply = request(b"set=1\npublic_key=" + own_pub_hex + b"\nendpoint=nonsense\n\n")
    if reply != b"errno=22\n\n":
        fail("a bad value for the ignored peer was not refused: %r" % reply)
    get = request(b"get=1\n\n")
    if b"public_key=" + own_pub_hex in get or b"10.9.9.9" in get:
        fail("its own public key was added as a peer")
    reply = request(b"set=1\npublic_key=" + other_pub_hex + b"\nallowed_ip=10.9.9.8/32\n\n")
    if reply != b"errno=0\n\n" or b"public_key=" + other_pub_hex not in request(b"get=1\n\n"):
        fail("adding another peer: %r" % reply)
    reply = request(b"set=1\nprivate_key=" + other_priv_hex + b"\n\n")
    get = request(b"get=1\n\n")
    if reply != b"errno=0\n\n" or b"public_key=" + other_pub_hex in get:
        fail("the peer with the new private key's public key was kept")


def check_streamed_get(npeers):
    """A large get read slowly never holds up the main loop: a second
    request is answered at once meanwhile, and the slow reader still gets
    every peer."""
    add_peers(npeers)
    slow = connect(timeout=60)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(b"get=1\n\n")
    time.sleep(0.05)
    worst = 0.0
    for _ in range(5):
        t0 = time.monotonic()
        reply = request(b"get=2\n\n", timeout=30)
        worst = max(worst, time.monotonic() - t0)
        if reply != b"errno=22\n\n":
            fail("second request during a large get: %r" % reply)
        slow.recv(4096)
        time.sleep(0.05)
    print("slowest answer during a large get: %.3f s" % worst)
    if worst > 0.5:
        fail("a request waited %.2f s behind a large get" % worst)
    data = read_reply(slow)
    slow.close()
    # 5 x 4 KiB already read: count the rest, every peer should be there.
    n = data.count(b"public_key=")
    if not data.endswith(b"errno=0\n\n") or n < npeers - 100:
        fail("the slow get ended early: %d peers, ends %r" % (n, data[-40:]))
    n = peer_count()
    if n != npeers:
        fail("get: %d peers, expected %d" % (n, npeers))


def send_big_set(npeers):
    """One set=1 of npeers peers with a /32 each, sent whole; the answer
    is not waited for."""
    lines = [b"set=1"]
    for i in range(npeers):
        lines.append(b"public_key=" + key(i))
        lines.append(b"allowed_ip=10.%d.%d.%d/32" % (i >> 16 & 255, i >> 8 & 255, i & 255))
    with connect() as s:
        s.sendall(b"\n".join(lines) + b"\n\n")
        print("sent", flush=True)
        try:
            s.recv(100)
        except OSError:
            pass


check = sys.argv[2]
if check == "sigpipe":
    check_sigpipe(int(sys.argv[3]))
elif check == "never-hangs":
    check_never_hangs()
elif check == "own-key":
    check_own_key(*(a.encode() for a in sys.argv[3:6]))
elif check == "streamed-get":
    check_streamed_get(int(sys.argv[3]))
elif check == "big-set":
    send_big_set(int(sys.argv[3]))
else:
    fail("unknown check " + check)
