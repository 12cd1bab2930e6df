#!/usr/bin/env python3
"""e2e-udp.py ADDR PORT [COUNT]: sends COUNT (default 5) datagrams to an
echo server, one at a time with a 1 s timeout each, and exits 0 when at
least one came back unchanged; prints how many did."""
import os
import socket
import sys

addr, port = sys.argv[1], int(sys.argv[2])
count = int(sys.argv[3]) if len(sys.argv) > 3 else 5
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
ok = 0
for i in range(count):
    msg = os.urandom(32 + i)
    s.sendto(msg, (addr, port))
    try:
        data, _ = s.recvfrom(2048)
        ok += data == msg
    except socket.timeout:
        pass
print(f"{ok}/{count} echoed")
sys.exit(0 if ok else 1)
