#!/usr/bin/env python3
"""e2e-hold.py ADDR PORT SECONDS: holds one TCP connection to an echo
server for SECONDS, sending a numbered line every 0.2 s and reading it
back. Exits 0 when every line came back in order on the same connection;
prints the longest wait for an echo."""
import socket
import sys
import time

addr, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((addr, port), timeout=10)
s.settimeout(10)
end = time.monotonic() + seconds
n = 0
worst = 0.0
buf = b""
while time.monotonic() < end:
    line = b"line %d\n" % n
    t0 = time.monotonic()
    s.sendall(line)
    while b"\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            print("the connection closed after %d lines" % n)
            sys.exit(1)
        buf += chunk
    got, buf = buf.split(b"\n", 1)
    if got + b"\n" != line:
        print("line %d came back as %r" % (n, got))
        sys.exit(1)
    worst = max(worst, time.monotonic() - t0)
    n += 1
    time.sleep(0.2)
print("%d lines echoed on one connection; longest wait %.2f s" % (n, worst))
