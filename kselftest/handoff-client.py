#!/usr/bin/python3
"""A minimal application of handshaked, without libhandshake: listens on
TCP, sends each accepted socket to the daemon with an ACCEPT request
(lib/handoff.h wire format, SCM_RIGHTS), prints the reply's attributes, and
on DONE talks through kernel TLS with plain send/recv: it sends one line,
then reads what the client sent until EOF or LINES lines.

  handoff-client.py HANDOFF_SOCK PORT [COUNT] [--timeout-ms N] [--raw]

PORT 'any' listens on a port the kernel picks (no race with other
listeners); the first line printed is 'listening PORT' either way.

--abandon: close the handoff connection right after the request.
--close-fd: close the accepted TCP socket right after sending it (the
daemon's copy carries on); print the replies, talk no TLS.
--raw: send the request for a socket without accepting TCP first (a pipe),
to see the daemon refuse it; --udp: the same with a UDP socket.
--flood: send requests for pipes (each refused with BAD_SOCKET) without
reading replies until the socket stops taking them for a second, then
read the replies: prints 'flood sent N replies M' (none may be lost).
--connect PORT (with --burst): the client role: COUNT TCP connections to
127.0.0.1:PORT, then COUNT CONNECT requests at once (server name
localhost, no verification), then talks on each DONE one as below.
--burst: accept COUNT connections first, then send all COUNT requests at
once and print the replies as they come (the per-application cap; with
--loops N the daemon spreads them over its loops); then talks on each
DONE one as below. With --abandon: close the handoff connection right
after the requests (their handshakes are aborted wherever they run).
Prints one 'reply ...' line per request, and 'summary TYPE=N ...' last."""
import collections, os, socket, struct, sys, time

ATTR = {1: 'SERVER_NAME', 2: 'ALPN', 3: 'EARLY_DATA', 4: 'POST', 5: 'RESUMED', 6: 'EARLY_STATE',
        7: 'CIPHER', 8: 'GROUP', 9: 'SIG_SCHEME', 10: 'REASON', 11: 'ALERT', 12: 'TEXT',
        15: 'PEER_ID', 16: 'HRR', 20: 'KTLS'}
TYPES = {0x81: 'DONE', 0x82: 'CONFIRMED', 0x83: 'FAILED', 0x84: 'BUSY'}


def request(rid, attrs=b'', typ=1):
    return b'HO' + bytes([1, typ]) + struct.pack('>II', rid, len(attrs)) + attrs


def connect_attrs():
    """CONNECT: SERVER_NAME localhost, VERIFY 0 (the test server's own certificate)."""
    name = b'localhost'
    return struct.pack('>HH', 1, len(name)) + name + struct.pack('>HHB', 13, 1, 0)


def parse(msg):
    typ, rid, blen = msg[3], *struct.unpack('>II', msg[4:12])
    out, p = {}, 12
    while p < 12 + blen:
        t, l = struct.unpack('>HH', msg[p:p + 4])
        v = msg[p + 4:p + 4 + l]
        p += 4 + l
        name = ATTR.get(t, str(t))
        if name in ('SERVER_NAME', 'ALPN', 'TEXT'):
            v = v.decode()
        elif name in ('POST', 'PEER_ID'):
            v = '<%d bytes>' % len(v)
        elif name == 'EARLY_DATA':
            v = repr(bytes(v))
        elif l in (1, 2, 4):
            v = int.from_bytes(v, 'big')
        out[name] = v
    return TYPES.get(typ, hex(typ)), rid, out


def talk(c):
    """kTLS: plain send/recv are records now."""
    c.sendall(b'hello from handoff-client over kTLS\n')
    got = b''
    c.settimeout(10)
    try:
        while True:
            d = c.recv(4096)
            if not d:
                break
            got += d
            if b'QUIT' in got:
                break
    except OSError as e:
        print('recv:', e, flush=True)
    print('received', repr(got), flush=True)
    c.close()


def main():
    path, port = sys.argv[1], (0 if sys.argv[2] == 'any' else int(sys.argv[2]))
    count = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3].isdigit() else 1
    attrs = b''
    if '--timeout-ms' in sys.argv:
        ms = int(sys.argv[sys.argv.index('--timeout-ms') + 1])
        attrs += struct.pack('>HHI', 17, 4, ms)
    ho = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ho.connect(path)
    if '--flood' in sys.argv:
        sent = got = 0
        stalled = None
        ho.setblocking(False)      # (send_fds drops its flags argument)
        while True:
            r, w = os.pipe()
            try:
                socket.send_fds(ho, [request(1000 + sent)], [r])
                sent += 1
                stalled = None
            except BlockingIOError:
                stalled = stalled or time.monotonic()
                if time.monotonic() - stalled > 1:
                    break
                time.sleep(0.01)
            finally:
                os.close(r)
                os.close(w)
        ho.settimeout(10)
        try:
            while got < sent and parse(ho.recv(65536))[2].get('REASON') == 2:
                got += 1
        except OSError as e:
            print('recv:', e, flush=True)
        print('flood sent', sent, 'replies', got, flush=True)
        return
    if '--raw' in sys.argv or '--udp' in sys.argv:
        if '--udp' in sys.argv:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.connect(('127.0.0.1', 9))
            fd = u.fileno()
        else:
            fd, w = os.pipe()
        socket.send_fds(ho, [request(7, attrs)], [fd])
        print('reply', *parse(ho.recv(65536)), flush=True)
        return
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(('127.0.0.1', port))
    ls.listen(16)
    print('listening', ls.getsockname()[1], flush=True)
    seen = collections.Counter()
    if '--burst' in sys.argv:
        if '--connect' in sys.argv:
            to = int(sys.argv[sys.argv.index('--connect') + 1])
            conns = [socket.create_connection(('127.0.0.1', to)) for i in range(count)]
            for i, c in enumerate(conns):
                socket.send_fds(ho, [request(100 + i, attrs + connect_attrs(), 2)], [c.fileno()])
        else:
            conns = [ls.accept()[0] for i in range(count)]
            for i, c in enumerate(conns):
                socket.send_fds(ho, [request(100 + i, attrs)], [c.fileno()])
        if '--abandon' in sys.argv:
            ho.close()
            print('abandoned', count, flush=True)
            time.sleep(1)          # the TCP sockets outlive the handoff connection a while
            return
        done = []
        for i in range(count):
            typ, rid, a = parse(ho.recv(65536))
            seen[typ] += 1
            print('reply', typ, rid, a, flush=True)
            if typ == 'DONE':
                done.append(conns[rid - 100])
        for c in done:
            talk(c)
        print('summary', *('%s=%d' % kv for kv in sorted(seen.items())), flush=True)
        return
    for i in range(count):
        c, _ = ls.accept()
        socket.send_fds(ho, [request(100 + i, attrs)], [c.fileno()])
        if '--close-fd' in sys.argv:  # our copy goes; the daemon holds its own
            c.close()
            print('closed our copy of the socket', flush=True)
        if '--abandon' in sys.argv:  # the application goes away mid-handshake
            c.close()
            ho.close()
            print('abandoned', flush=True)
            return
        typ, rid, a = parse(ho.recv(65536))
        seen[typ] += 1
        print('reply', typ, rid, a, flush=True)
        if typ == 'DONE' and a.get('EARLY_STATE') == 1:
            print('reply', *parse(ho.recv(65536)), flush=True)
        if typ != 'DONE' or '--close-fd' in sys.argv:
            c.close()
            continue
        talk(c)
    print('summary', *('%s=%d' % kv for kv in sorted(seen.items())), flush=True)


main()
