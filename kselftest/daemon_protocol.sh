#!/usr/bin/env bash
# handshaked's handoff protocol end to end without libhandshake (kTLS: run by
# kselftest/run, in the VM where the host has none): kselftest/handoff-client.py
# hands accepted TCP sockets to the daemon with SCM_RIGHTS and prints its
# replies; openssl s_client is the TLS peer; data crosses kTLS both ways.
# Also: resumption and 0-RTT (DONE then CONFIRMED), a silent client cut at
# the deadline, garbage, a pipe instead of a socket, the application leaving
# mid-handshake, the application closing its copy of the socket at once,
# SIGHUP and SIGTERM.
WAIT_SECONDS=${WAIT_SECONDS:-30}  # TCG is slow
. "$(dirname "$0")/../tests/tcp/lib.sh"
. "$ROOT/kselftest/lib/daemon.bash"
require openssl
PY=/usr/bin/python3
need_built handshaked
ktls_or_skip "handshaked protocol"
B=$BUILD
C=$CERTS
SOCK=$T/handoff.sock
pass() { ok 0 "$*"; }
nok() { ok 1 "$*"; }

start_daemon "$SOCK" $T/daemon.log --cert $C/p256.pem --key $C/p256.key --alpn http/1.1 \
	--early-data 16384 --deadline-ms 2000 --log-level debug || { nok "handshaked starts"; finish; exit; }

# 1. full handshake, data both ways through kTLS
timeout 40 $PY kselftest/handoff-client.py "$SOCK" any 3 >$T/client.log 2>&1 &
CPID=$!
listening $T/client.log
PORT=$APORT
(printf 'ping from s_client\nQUIT\n'; sleep 2) | timeout 20 openssl s_client -connect 127.0.0.1:$PORT \
	-CAfile $C/ca.pem -servername localhost -alpn http/1.1 -sess_out $T/sess -quiet >$T/s1.out 2>$T/s1.err
grep -q 'hello from handoff-client over kTLS' $T/s1.out && pass "s_client read the application's data through kTLS" \
	|| nok "s_client did not get the data"
# 2. resumption (ticket sent through kTLS by the daemon)
(printf 'again\nQUIT\n'; sleep 2) | timeout 20 openssl s_client -connect 127.0.0.1:$PORT \
	-CAfile $C/ca.pem -servername localhost -sess_in $T/sess -quiet >$T/s2.out 2>$T/s2.err
# 3. 0-RTT: the early bytes come in the DONE reply, then CONFIRMED
printf 'early bytes\n' > $T/early
(sleep 1; printf 'after\nQUIT\n'; sleep 2) | timeout 20 openssl s_client -connect 127.0.0.1:$PORT \
	-CAfile $C/ca.pem -servername localhost -alpn http/1.1 -sess_in $T/sess -early_data $T/early \
	-quiet >$T/s3.out 2>$T/s3.err
wait $CPID
grep -F "'EARLY_STATE': 1, 'EARLY_DATA'" $T/client.log | grep -qF 'early bytes' \
	&& pass "0-RTT accepted, early bytes in DONE" \
	|| nok "0-RTT"
grep -q "^reply CONFIRMED" $T/client.log && pass "CONFIRMED after the 0-RTT DONE" || nok "no CONFIRMED"
grep -q "received b'after" $T/client.log && pass "data after 0-RTT through kTLS" || nok "data after 0-RTT"
grep -q "received b'ping from s_client" $T/client.log && pass "the application read s_client's data through kTLS" \
	|| nok "application did not read the data"
grep -q "'RESUMED': 1" $T/client.log && pass "second connection resumed with the daemon's ticket" \
	|| nok "no resumption"

# 3. slowloris: connect and say nothing -> FAILED TIMEOUT at the deadline
timeout 30 $PY kselftest/handoff-client.py "$SOCK" any 1 >$T/c3.log 2>&1 &
CPID=$!
listening $T/c3.log
$PY -c "import socket,time; s=socket.create_connection(('127.0.0.1',$APORT)); s.send(b'\x16\x03'); time.sleep(4)"
wait $CPID
grep -q "'REASON': 6" $T/c3.log && pass "silent client cut at the deadline (TIMEOUT)" || nok "no timeout"

# 4. garbage -> FAILED TLS with an alert
timeout 30 $PY kselftest/handoff-client.py "$SOCK" any 1 >$T/c4.log 2>&1 &
CPID=$!
listening $T/c4.log
$PY -c "import socket,time; s=socket.create_connection(('127.0.0.1',$APORT)); s.send(b'GET / HTTP/1.0\r\n\r\n'); time.sleep(1)"
wait $CPID
grep -q "'REASON': 4" $T/c4.log && pass "garbage refused with FAILED TLS" || nok "garbage"

# 5. a pipe instead of a TCP socket -> BAD_SOCKET
timeout 30 $PY kselftest/handoff-client.py "$SOCK" 0 --raw >$T/c5.log 2>&1
grep -q "'REASON': 2" $T/c5.log && pass "a pipe refused with BAD_SOCKET" || nok "pipe"

# 6. the application closes its handoff connection mid-handshake
timeout 30 $PY kselftest/handoff-client.py "$SOCK" any 1 --abandon >$T/c6.log 2>&1 &
CPID=$!
listening $T/c6.log
$PY -c "import socket,time; s=socket.create_connection(('127.0.0.1',$APORT)); s.settimeout(5); print('peer got', repr(s.recv(100)))" >$T/c6p.log 2>&1
wait $CPID
grep -q "peer got b''" $T/c6p.log && grep -q 'event=handshake_aborted .*text="the application closed' $T/daemon.log \
	&& pass "application gone mid-handshake: aborted, socket closed" || nok "abandon"

# 7. out of fds: a daemon limited to 24 fds, 40 applications connect; the
# failing accept pauses (no busy loop: a bounded number of log lines) and
# the daemon serves again once they leave
SOCK2=$T/handoff2.sock
(ulimit -n 24; exec $B/handshaked --handoff "$SOCK2" --cert $C/p256.pem --key $C/p256.key \
	--log-level info 2>$T/daemon2.log) &
D2=$!
PIDS+=("$D2")
for i in $(seq 50); do [ -S "$SOCK2" ] && break; sleep 0.1; done
$PY -c "
import socket, time
s = []
for i in range(40):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); c.connect('$SOCK2'); s.append(c)
time.sleep(2)
" >$T/c8.log 2>&1
emfile=$(grep -c 'Too many open files' $T/daemon2.log)
timeout 30 $PY kselftest/handoff-client.py "$SOCK2" 0 --raw >$T/c8b.log 2>&1
[ "$emfile" -ge 1 ] && [ "$emfile" -le 60 ] && grep -q "'REASON': 2" $T/c8b.log &&
	pass "out of fds: accept pauses ($emfile log lines in 2 s, no spin), then serves again" ||
	nok "out of fds: $emfile accept errors logged; served again: $(grep -c "'REASON'" $T/c8b.log)"
kill -TERM $D2 2>/dev/null; wait $D2 2>/dev/null

# 8. the application closes its copy of the TCP socket right after handing
# it over: the daemon's own copy (SCM_RIGHTS) carries the handshake through
# to DONE, then the daemon closes it, the last one: the peer sees the end.
# No fd stays behind in the daemon, and it serves the next one as before.
# tls_peer MODE PORT: python's ssl as the TLS peer; MODE eof waits for the
# end after the handshake, MODE talk trades lines with handoff-client.py
tls_peer() {
	$PY - "$@" $C/ca.pem <<'EOF'
import socket, ssl, sys
mode, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = ssl.create_default_context(cafile=ca).wrap_socket(
    socket.create_connection(('127.0.0.1', port), timeout=10), server_hostname='localhost')
print('peer handshake', s.version(), flush=True)
try:
    if mode == 'talk':
        s.sendall(b'ping\nQUIT\n')
    print('peer got', repr(s.recv(100)), flush=True)
except (OSError, ssl.SSLError) as e:
    print('peer error', e, flush=True)
EOF
}
daemon_fds() { ls /proc/$DPID/fd | wc -l; }
fd0=$(daemon_fds)
timeout 30 $PY kselftest/handoff-client.py "$SOCK" any 1 --close-fd >$T/c9.log 2>&1 &
CPID=$!
listening $T/c9.log
tls_peer eof $APORT >$T/c9p.log 2>&1
wait $CPID
grep -q "^closed our copy" $T/c9.log && grep -q "^reply DONE 100 .*'KTLS': 3" $T/c9.log &&
	grep -q "peer handshake TLSv1.3" $T/c9p.log && grep -q "peer got b''" $T/c9p.log &&
	pass "application closed its copy of the socket: DONE, then the peer sees the end" ||
	nok "application closed its copy of the socket"
for i in $(seq 50); do [ "$(daemon_fds)" = "$fd0" ] && break; sleep 0.1; done
fd1=$(daemon_fds)
[ "$fd1" = "$fd0" ] && pass "no fd left in the daemon ($fd0 before, $fd1 after)" ||
	nok "daemon fds: $fd0 before, $fd1 after"
timeout 30 $PY kselftest/handoff-client.py "$SOCK" any 1 >$T/c9b.log 2>&1 &
CPID=$!
listening $T/c9b.log
tls_peer talk $APORT >$T/c9q.log 2>&1
wait $CPID
grep -q "peer got b'hello from handoff-client over kTLS" $T/c9q.log && grep -q "received b'ping" $T/c9b.log &&
	pass "the daemon serves the next application as before" || nok "serving after the closed copy"

# 9. an application that sends requests without reading the replies:
# the daemon queues what the socket has no room for, stops reading its
# requests meanwhile (the application's sends stall), and loses nothing
timeout 60 $PY kselftest/handoff-client.py "$SOCK" 0 --flood >$T/c10.log 2>&1
fsent=$(sed -n 's/^flood sent \([0-9]*\) replies .*/\1/p' $T/c10.log)  # (no /dev/fd in the VM: no <())
fgot=$(sed -n 's/^flood sent [0-9]* replies \([0-9]*\)$/\1/p' $T/c10.log)
[ -n "${fsent:-}" ] && [ "$fsent" -gt 100 ] && [ "$fsent" = "$fgot" ] &&
	pass "$fsent requests sent without reading: $fgot replies, none lost" ||
	nok "flood: $(tail -1 $T/c10.log)"

# 10. after a fatal alert the daemon half-closes and reads what the peer
# still sends (bounded), so the peer's writes do not meet a reset and the
# alert is there to read; the FAILED reply comes at the peer's end
timeout 30 $PY kselftest/handoff-client.py "$SOCK" any 1 >$T/c11.log 2>&1 &
CPID=$!
listening $T/c11.log
$PY - $APORT >$T/c11p.log 2>&1 <<'EOF'
import socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)
s.sendall(b'\x16\x03\x01\x00\x05hello')   # a handshake record that is no ClientHello
time.sleep(0.5)                           # the daemon has answered by now
try:
    for i in range(8):
        s.sendall(b'x' * 8192)            # a flight that was on its way
    print('late writes ok', flush=True)
    got = b''
    while True:
        b = s.recv(4096)
        if not b:
            break
        got += b
    print('read', got.hex(), 'then EOF', flush=True)
except OSError as e:
    print('error', e, flush=True)
EOF
wait $CPID
grep -q '^late writes ok' $T/c11p.log && grep -q '^read 150303000202.. then EOF' $T/c11p.log &&
	grep -q "^reply FAILED .*'REASON': 4" $T/c11.log &&
	pass "alert $(sed -n 's/^read 150303000202\(..\) then EOF/0x\1/p' $T/c11p.log) sent, the peer's late 64 KiB read and dropped: no reset, FAILED after" ||
	nok "drain after the alert: $(tr '\n' ' ' <$T/c11p.log)"

# 11. the client vanishes mid-handshake, after its ClientHello: with a FIN
# and with a reset; FAILED peer_closed at once, not at the deadline
for how in fin rst; do
	timeout 30 $PY kselftest/handoff-client.py "$SOCK" any 1 >$T/c12$how.log 2>&1 &
	CPID=$!
	listening $T/c12$how.log
	$PY - $APORT $how <<'EOF'
import socket, ssl, struct, sys, time
raw = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)
ctx = ssl.create_default_context()
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
# memory BIOs: the server's answer is never fed back, so this client can
# never finish (on a socket a slow VM let it read the flight in time)
obj = ctx.wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname='localhost')
try:
    obj.do_handshake()
except ssl.SSLWantReadError:
    pass
raw.sendall(out.read())              # the ClientHello goes out
time.sleep(0.3)                      # the server flight comes; nobody reads it
if sys.argv[2] == 'rst':
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
raw.close()
EOF
	t0=$(date +%s%N)
	wait $CPID
	ms=$((($(date +%s%N) - t0) / 1000000))
	grep -q "^reply FAILED .*'REASON': 5" $T/c12$how.log && [ $ms -lt 1500 ] &&
		pass "client gone after its ClientHello ($how): FAILED peer_closed ${ms} ms later" ||
		nok "client gone ($how): $(grep '^reply' $T/c12$how.log) after ${ms} ms"
done

# 12. SIGHUP reload, then SIGTERM exits 0
kill -HUP $DPID; sleep 0.3
grep -q 'event=reloaded ' $T/daemon.log && pass "SIGHUP reloaded" || nok "reload"
kill -TERM $DPID
for i in $(seq 50); do kill -0 $DPID 2>/dev/null || break; sleep 0.1; done
kill -0 $DPID 2>/dev/null && { nok "daemon still running after SIGTERM"; kill -KILL $DPID; }
wait $DPID; rc=$?
[ $rc = 0 ] && pass "SIGTERM: exit 0" || nok "SIGTERM exit $rc"

[ "$FAILED" -eq 0 ] || diag $T/daemon.log $T/client.log $T/s1.err $T/s2.err $T/s3.err $T/c3.log \
	$T/c4.log $T/c5.log $T/c6.log $T/c6p.log $T/daemon2.log $T/c8.log $T/c8b.log \
	$T/c9.log $T/c9p.log $T/c9b.log $T/c9q.log $T/c10.log $T/c11.log $T/c11p.log $T/c12fin.log $T/c12rst.log
finish
