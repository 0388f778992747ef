#!/usr/bin/env python3
"""Connect/disconnect churn against a pos-lottery server: N short-lived connections.

    python3 scripts/churn.py HOST PORT [CYCLES]

Each cycle opens a connection and closes it in one of four ways: at once; after staking;
after staking and proposing; after reading the first bytes. Every fourth close is abortive
(RST), the rest are orderly. Prints cycles/s. Bounded: every socket operation times out.
"""
import socket
import struct
import sys
import time


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    cycles = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
    start = time.monotonic()
    for i in range(cycles):
        s = socket.create_connection((host, port), timeout=10)
        kind = i % 4
        if kind == 1:
            s.sendall(b"12\n")
        elif kind == 2:
            s.sendall(b"12\n70\n")
        elif kind == 3:
            s.recv(64)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    elapsed = time.monotonic() - start
    print(f"{cycles} cycles in {elapsed:.1f} s ({cycles / elapsed:.0f}/s)")


if __name__ == "__main__":
    main()
