#!/usr/bin/python3
"""A bare HTTP client for handshaked's metrics listener (tests/ops/check).

    http.py ADDR raw REQUEST     sends REQUEST (Python escapes: \\r\\n), prints the
                                 whole answer as it came, until the server closes
    http.py ADDR idle N SECONDS  opens N connections that send nothing, prints
                                 "opened N", then per connection "closed T" (seconds
                                 until the server closed it) or "open" at SECONDS
    http.py ADDR slow REQUEST    sends REQUEST one byte every 0.1 s; prints the answer

ADDR: HOST:PORT ([v6]:PORT) or unix:PATH.
"""
import socket
import sys
import time


def connect(addr):
    if addr.startswith('unix:'):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr[5:])
        return s
    host, port = addr.rsplit(':', 1)
    host = host.strip('[]')
    s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)
    s.connect((host, int(port)))
    return s


def read_all(s, limit=10.0):
    s.settimeout(limit)
    out = b''
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (socket.timeout, ConnectionResetError) as e:
        out += f'\n[{type(e).__name__}]'.encode()
    return out


def main():
    addr, mode = sys.argv[1], sys.argv[2]
    if mode in ('raw', 'slow'):
        req = sys.argv[3].encode().decode('unicode_escape').encode('latin-1')
        s = connect(addr)
        if mode == 'raw':
            s.sendall(req)
        else:
            try:
                for i in range(len(req)):
                    s.sendall(req[i:i + 1])
                    time.sleep(0.1)
            except OSError as e:   # the server cut us off
                print(f'[{type(e).__name__} after {i} bytes]', flush=True)
                return 0
        sys.stdout.buffer.write(read_all(s))
        return 0
    if mode == 'idle':
        n, secs = int(sys.argv[3]), float(sys.argv[4])
        conns = [connect(addr) for _ in range(n)]
        t0 = time.monotonic()
        print(f'opened {n}', flush=True)
        closed = {}
        for c in conns:
            c.setblocking(False)
        while len(closed) < n and time.monotonic() - t0 < secs:
            for i, c in enumerate(conns):
                if i in closed:
                    continue
                try:
                    if c.recv(1) == b'':
                        closed[i] = time.monotonic() - t0
                except BlockingIOError:
                    pass
                except OSError:
                    closed[i] = time.monotonic() - t0
            time.sleep(0.05)
        for i in range(n):
            print(f'closed {closed[i]:.2f}' if i in closed else 'open', flush=True)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main())
