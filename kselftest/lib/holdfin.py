#!/usr/bin/python3
"""A one-connection TCP relay that holds the client's second flight: what
the client sends after the server's first bytes reached it (with 0-RTT:
EndOfEarlyData and Finished) is forwarded only DELAY seconds later, so the
server sees its early data with no Finished behind it, whatever the timing
of the machine (the early hand-back is then certain, not a race).

  holdfin.py TARGET_PORT DELAY

Prints 'listening PORT' first; exits when both sides have closed."""
import select, socket, sys, time

target, delay = int(sys.argv[1]), float(sys.argv[2])
ls = socket.socket()
ls.bind(('127.0.0.1', 0))
ls.listen(1)
print('listening', ls.getsockname()[1], flush=True)
c, _ = ls.accept()
s = socket.create_connection(('127.0.0.1', target))


def send(sock, d):
    try:
        sock.sendall(d)
    except OSError:              # that side is gone: its close ends the relay
        pass


answered = None                  # when the server's first bytes went to the client
held = b''
open_ = {c: True, s: True}
while open_[c] or open_[s]:
    due = answered + delay if answered is not None else None
    wait = max(0.0, due - time.monotonic()) if held else None
    r, _, _ = select.select([x for x in (c, s) if open_[x]], [], [], wait)
    if held and time.monotonic() >= due:
        send(s, held)
        held = b''
    for x in r:
        d = x.recv(65536)
        if x is c:
            if not d:
                if held:
                    send(s, held)
                    held = b''
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                open_[c] = False
            elif answered is None or (time.monotonic() >= answered + delay and not held):
                send(s, d)
            else:
                held += d
        else:
            if not d:
                try:
                    c.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                open_[s] = False
            else:
                send(c, d)
                if answered is None:
                    answered = time.monotonic()
