#!/usr/bin/python3
"""One TLS client connection driven step by step from stdin, so that a test
can put a reload between its steps (kselftest/daemon_lifecycle.sh):

    tlsconn.py PORT CAFILE [SERVERNAME]

Commands, one per line, each answered by one line on stdout:
    connect    TCP only                    -> "connected LOCALPORT"
    handshake  TLS 1.3 over it (verified)  -> "handshake CN=NAME serial=HEX"
    get        GET / HTTP/1.0, read to EOF -> "answer STATUS-LINE BYTES"
Any failure: "error WHAT" and exit 1. Python's ssl (OpenSSL) is the peer.
"""
import socket
import ssl
import sys


def main():
    port, ca = int(sys.argv[1]), sys.argv[2]
    name = sys.argv[3] if len(sys.argv) > 3 else 'localhost'
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    raw = tls = None
    for line in sys.stdin:
        cmd = line.strip()
        try:
            if cmd == 'connect':
                raw = socket.create_connection(('127.0.0.1', port), timeout=30)
                print(f'connected {raw.getsockname()[1]}', flush=True)
            elif cmd == 'handshake':
                tls = ctx.wrap_socket(raw, server_hostname=name)
                cert = tls.getpeercert()
                cn = dict(x[0] for x in cert['subject']).get('commonName', '?')
                print(f'handshake CN={cn} serial={cert["serialNumber"]}', flush=True)
            elif cmd == 'get':
                tls.sendall(b'GET / HTTP/1.0\r\n\r\n')
                data = b''
                while True:
                    b = tls.recv(65536)
                    if not b:
                        break
                    data += b
                status = data.split(b'\r\n', 1)[0].decode(errors='replace')
                print(f'answer {status} {len(data)}', flush=True)
            elif cmd:
                print(f'error unknown command {cmd}', flush=True)
                return 1
        except (OSError, ssl.SSLError, KeyError, AttributeError) as e:
            print(f'error {cmd}: {e}', flush=True)
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
