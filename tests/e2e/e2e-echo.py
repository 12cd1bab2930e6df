#!/usr/bin/env python3
"""UDP and TCP echo on ADDR PORT, for the end-to-end suite: each datagram
comes back as it is; a TCP connection gets back every byte it sends."""
import socket
import sys
import threading

addr, port = sys.argv[1], int(sys.argv[2])


def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)


def tcp_conn(c):
    with c:
        while True:
            data = c.recv(65536)
            if not data:
                return
            c.sendall(data)


def tcp():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=tcp_conn, args=(c,), daemon=True).start()


threading.Thread(target=udp, daemon=True).start()
tcp()
