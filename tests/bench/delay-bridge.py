#!/usr/bin/env python3
"""A wire with a delay: forwards every Ethernet frame between two
interfaces of this network namespace (AF_PACKET), each after DELAY_MS.
For hosts without sch_netem; run it in a namespace of its own whose two
veth ends lead to the two sides. Offloads (TSO, GSO, checksums) must be
off on the veths that feed it: frames go on as they were read. A frame
longer than the MTU allows is dropped and counted.

  delay-bridge.py IF_A IF_B DELAY_MS [SECONDS]

Runs SECONDS at most (default 3600), or until SIGTERM; then prints how
many frames went each way."""
import collections
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
MAX_FRAME = 1514 + 4  # an MTU of 1500 and a VLAN tag at most


def open_raw(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, 0))
    s.setblocking(False)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    return s


def main():
    if_a, if_b, delay_ms = sys.argv[1], sys.argv[2], float(sys.argv[3])
    limit = float(sys.argv[4]) if len(sys.argv) > 4 else 3600.0
    delay = delay_ms / 1000.0
    socks = [open_raw(if_a), open_raw(if_b)]
    queues = [collections.deque(), collections.deque()]  # frames to send out of 0, 1
    sent = [0, 0]
    dropped = 0
    running = [True]

    def stop(*_):
        running[0] = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    end = time.monotonic() + limit
    while running[0] and time.monotonic() < end:
        now = time.monotonic()
        due = [q[0][0] for q in queues if q]
        timeout = max(0.0, min(due) - now) if due else 0.2
        try:
            readable, _, _ = select.select(socks, [], [], min(timeout, 0.2))
        except InterruptedError:
            continue
        for i, s in enumerate(socks):
            if s not in readable:
                continue
            for _ in range(256):
                try:
                    frame, addr = s.recvfrom(65536)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:  # our own sends, seen again
                    continue
                if len(frame) > MAX_FRAME:
                    dropped += 1
                    continue
                queues[1 - i].append((time.monotonic() + delay, frame))
        now = time.monotonic()
        for i, q in enumerate(queues):
            while q and q[0][0] <= now:
                try:
                    socks[i].send(q.popleft()[1])
                    sent[i] += 1
                except (BlockingIOError, OSError):
                    dropped += 1
    print("delay-bridge: %d frames to %s, %d to %s, %d dropped"
          % (sent[1], if_b, sent[0], if_a, dropped))


if __name__ == "__main__":
    main()
