#!/usr/bin/python3
"""Captures a client's 0-RTT first flight, then replays it across the
daemon's loops (kselftest/daemon_matrix.sh).

  replay0rtt.py FLIGHT APP_PORT WANT HANDSHAKECTL CONTROL_SOCK [MAX]

Listens on a free port and prints 'capture PORT'; takes one connection and
keeps its records up to the first application_data one (ClientHello + the
0-RTT record), never answering; prints 'captured BYTES'. Then sends that
flight raw to APP_PORT up to MAX times (default 5), each on a new
connection, reading until WANT bytes came or the server is idle for 1.5 s,
never sending more. Around each copy it reads the daemon's per-loop
handshake counters (handshakectl stats --prometheus) and prints
'copy N port LOCAL_PORT loop L got BYTES' (L: the loop whose count grew by
one, '?' otherwise). Stops after a copy past the 1st lands on another loop
than the 1st.
"""
import socket
import struct
import subprocess
import sys


def loops(ctl, sock):
    out = subprocess.run([ctl, "stats", "--prometheus", "--socket", sock], capture_output=True,
                         text=True, timeout=30).stdout
    n = {}
    for line in out.splitlines():
        if line.startswith('handshaked_loop_handshakes_total{loop="'):
            name, value = line.split()
            n[name.split('"')[1]] = int(value)
    return n


def capture(path):
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    print("capture", ls.getsockname()[1], flush=True)
    ls.settimeout(30)
    c, _ = ls.accept()
    c.settimeout(30)
    buf, rec, flight = b"", b"", b""
    while not rec or rec[0] != 23:  # up to the first application_data record
        while len(buf) < 5 or len(buf) < 5 + struct.unpack(">H", buf[3:5])[0]:
            d = c.recv(65536)
            if not d:
                sys.exit("capture: EOF before a 0-RTT record")
            buf += d
        n = 5 + struct.unpack(">H", buf[3:5])[0]
        rec, buf = buf[:n], buf[n:]
        flight += rec
    open(path, "wb").write(flight)
    print("captured", len(flight), flush=True)
    c.close()
    return flight


def send(port, flight, want):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    local = s.getsockname()[1]
    s.sendall(flight)
    s.settimeout(1.5)
    got = 0
    try:
        while got < want:
            d = s.recv(65536)
            if not d:
                break
            got += len(d)
    except socket.timeout:
        pass
    s.close()
    return local, got


def main():
    path, port, want, ctl, sock = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    most = int(sys.argv[6]) if len(sys.argv) > 6 else 5
    flight = capture(path)
    first = None
    for i in range(1, most + 1):
        before = loops(ctl, sock)
        local, got = send(port, flight, want)
        after = loops(ctl, sock)
        grew = [k for k in after if after[k] - before.get(k, 0) == 1]
        same = [k for k in after if after[k] == before.get(k, 0)]
        loop = grew[0] if len(grew) == 1 and len(same) == len(after) - 1 else "?"
        print("copy", i, "port", local, "loop", loop, "got", got, flush=True)
        if i == 1:
            first = loop
        elif loop != "?" and loop != first:
            break


main()
