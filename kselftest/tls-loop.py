#!/usr/bin/python3
"""A TLS test peer for the daemon's fault tests (python's ssl module, i.e.
OpenSSL libssl, as the client): COUNT sequential handshakes to 127.0.0.1:
PORT; each reads the application's line through kTLS, sends QUIT and closes.

  tls-loop.py PORT COUNT CAFILE [--delay S]

--delay S: connect, wait S seconds, then handshake (a request in flight
while the test signals the daemon). Prints 'done OK FAILED' at the end;
exit 0 iff every handshake and exchange worked."""
import socket, ssl, sys, time

port, count, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
delay = float(sys.argv[sys.argv.index('--delay') + 1]) if '--delay' in sys.argv else 0
ctx = ssl.create_default_context(cafile=ca)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ok = failed = 0
for i in range(count):
    try:
        raw = socket.create_connection(('127.0.0.1', port), timeout=20)
        if delay:
            time.sleep(delay)
        with ctx.wrap_socket(raw, server_hostname='localhost') as s:
            line = b''
            while not line.endswith(b'\n'):
                d = s.recv(100)
                if not d:
                    break
                line += d
            if b'hello from handoff-client' not in line:
                raise RuntimeError('got %r' % line)
            s.sendall(b'QUIT\n')
        ok += 1
    except Exception as e:  # keep going: the count of failures is the result
        failed += 1
        print('handshake %d failed: %s' % (i, e), flush=True)
print('done', ok, failed, flush=True)
sys.exit(0 if failed == 0 else 1)
