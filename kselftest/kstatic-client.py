#!/usr/bin/python3
"""Raw HTTP/1.1 over TLS for kselftest/kstatic.sh (what curl cannot do).

  kstatic-client.py raw PORT CA FILE    send FILE's bytes in one write, read
                                        until the server closes; one line per
                                        response: STATUS len=N sha256=HEX
  kstatic-client.py split FILE         the same lines for responses saved in FILE
  kstatic-client.py idle PORT CA        connect, send nothing; print how many
                                        seconds until the server closed
  kstatic-client.py hold PORT CA N PATH N connections, one GET PATH each
                                        (keep-alive), then idle: prints
                                        "holding N" and waits for stdin EOF
"""
import hashlib
import socket
import ssl
import sys
import time


def connect(port, ca):
    ctx = ssl.create_default_context(cafile=ca)
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    return ctx.wrap_socket(s, server_hostname="localhost")


def read_all(s):
    data = b""
    while True:
        try:
            b = s.recv(65536)
        except (ssl.SSLError, ConnectionResetError) as e:
            print("# read ended: %s" % e, file=sys.stderr)
            break
        if not b:
            break
        data += b
    return data


def responses(data):
    """Splits a stream of responses (none to HEAD) by Content-Length."""
    out = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            out.append("TRUNCATED head")
            break
        head = data[:end].decode("latin-1").split("\r\n")
        n = 0
        for h in head[1:]:
            k, _, v = h.partition(":")
            if k.strip().lower() == "content-length":
                n = int(v.strip())
        body = data[end + 4:end + 4 + n]
        status = head[0].split(" ")[1]
        if len(body) < n:
            out.append("%s TRUNCATED len=%d of %d" % (status, len(body), n))
            break
        out.append("%s len=%d sha256=%s" % (status, n, hashlib.sha256(body).hexdigest()))
        data = data[end + 4 + n:]
    return out


def main():
    if sys.argv[1] == "split":
        with open(sys.argv[2], "rb") as f:
            for line in responses(f.read()):
                print(line)
        return
    cmd, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if cmd == "raw":
        with open(sys.argv[4], "rb") as f:
            req = f.read()
        s = connect(port, ca)
        s.sendall(req)
        for line in responses(read_all(s)):
            print(line)
    elif cmd == "idle":
        s = connect(port, ca)
        t0 = time.monotonic()
        read_all(s)
        print("closed after %.1f s" % (time.monotonic() - t0))
    elif cmd == "hold":
        n, path = int(sys.argv[4]), sys.argv[5]
        req = ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode()
        conns = []
        for _ in range(n):
            s = connect(port, ca)
            s.sendall(req)
            got = b""
            while b"\r\n\r\n" not in got:
                got += s.recv(65536)
            conns.append(s)
        print("holding %d" % len(conns), flush=True)
        sys.stdin.read()
    else:
        sys.exit("unknown command " + cmd)


main()
