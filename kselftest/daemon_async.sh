#!/usr/bin/env bash
# libhandshake's async form with the real daemon (kselftest/run: in the VM):
# `tests/peer async-server` serves N connections in one thread through one
# hs_async context and epoll.
#  - two clients that connect and say nothing keep two requests pending
#    while openssl s_client connections (one for a ticket, then three at
#    once and one 0-RTT) are served: results by cookie, out of order
#  - 0-RTT: DONE unconfirmed with the early request answered at once
#    (0.5-RTT), then CONFIRMED for the same cookie (RX installed); the
#    client's Finished is held back 1 s by kselftest/lib/holdfin.py, or
#    whether it arrived before the daemon looked would be a race
#  - handshaked SIGKILLed with the two requests pending: both FAILED with
#    "daemon gone" within 1 s, and the server exits (never a hang)
#  - a second daemon with --max-per-app 1: the context's second request is
#    FAILED busy at once
#  - a third with --loops 2 and `peer async-server --echo` (one handoff
#    connection): a silent client holds one loop, so python ssl clients'
#    handshakes run on the other (spread.c) and echo through kTLS; the
#    daemon restarted, the same context connects again and serves on
WAIT_SECONDS=${WAIT_SECONDS:-30}  # TCG is slow
. "$(dirname "$0")/../tests/tcp/lib.sh"

if [ "$(id -u)" = 0 ]; then
	for m in gcm ctr ghash_generic aesni_intel chacha20poly1305 tls; do
		modprobe -q "$m" 2>/dev/null
	done
fi
if ! grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null; then
	echo "ok 1 - handshaked async # SKIP no kTLS on Linux $(uname -r)"
	echo "1..1"
	exit 0
fi
require openssl
DAEMON=$BUILD/handshaked
C=$CERTS
REQ='GET / HTTP/1.0\r\n\r\n'

# start_daemon NAME ARGS...: handshaked on $T/NAME.sock; sets DPID.
start_daemon() {
	local name=$1 i
	shift
	"$DAEMON" --handoff "$T/$name.sock" --cert "$C/p256.pem" --key "$C/p256.key" "$@" \
		>"$T/$name.out" 2>"$T/$name.err" </dev/null &
	DPID=$!
	PIDS+=("$DPID")
	for ((i = 0; i < WAIT_SECONDS * 50; i++)); do
		[ -S "$T/$name.sock" ] && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.02
	done
	diag "$T/$name.err"
	return 1
}

# start_async NAME N ARGS...: peer async-server; sets APID and APORT.
start_async() {
	local name=$1 n=$2
	shift 2
	bg "$name" "$PEER" async-server --listen 127.0.0.1:0 --async "$n" "$@"
	APID=$LAST_PID
	wait_for "$T/$name.err" '^peer: listening on' "$APID" || { diag "$T/$name.err"; return 1; }
	APORT=$(sed -n 's/^peer: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/$name.err")
}

# silent PORT COUNT: COUNT TCP connections that never send (kept 60 s).
silent() {
	bg silent-$1 /usr/bin/python3 -c '
import socket, sys, time
s = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(int(sys.argv[2]))]
time.sleep(60)' "$@"
	SILENT_PID=$LAST_PID
}

sc() {
	local out=$1
	shift
	printf "$REQ" | timeout 30 openssl s_client -connect "127.0.0.1:$APORT" -quiet -CAfile "$C/ca.pem" \
		-servername localhost "$@" >"$T/$out.out" 2>"$T/$out.err"
}

count() { grep -cE "$2" "$T/$1.err"; }

start_daemon d1 --tickets 2 --early-data 16384 --deadline-ms 60000 || { ok 1 "handshaked starts"; finish; exit; }
start_async a1 7 --handoff "$T/d1.sock" --timeout-ms 60000 || { ok 1 "peer async-server starts"; finish; exit; }
ok 0 "handshaked (pid $DPID) and peer async-server --async 7 on port $APORT"

# 1. two silent clients: cookies 0 and 1 stay pending in the daemon
silent "$APORT" 2
wait_for "$T/a1.err" 'cookie=1 submitted' "$APID"
ok $? "two silent connections submitted (cookies 0, 1 pending)"

# 2. a ticket, then three clients at once and one 0-RTT, while 0 and 1 wait
sc ticket -sess_out "$T/sess.pem"
grep -q 'async-ok cookie=2' "$T/ticket.out" && [ -s "$T/sess.pem" ]
ok $? "s_client (cookie 2) served while cookies 0 and 1 are pending; a ticket saved"
printf "$REQ" >"$T/early.req"
cpids=()
for cs in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256; do
	sc "c-$cs" -ciphersuites "$cs" &
	cpids+=($!)
done
# through a relay that holds its Finished 1 s: the daemon sees the early
# data with nothing behind it, so the early hand-back is certain
bg holdfin /usr/bin/python3 "$ROOT/kselftest/lib/holdfin.py" "$APORT" 1
wait_for "$T/holdfin.out" '^listening' "$LAST_PID"
HPORT=$(sed -n 's/^listening \([0-9]*\)$/\1/p' "$T/holdfin.out")
timeout 30 openssl s_client -connect "127.0.0.1:${HPORT:-1}" -servername localhost -CAfile "$C/ca.pem" \
	-sess_in "$T/sess.pem" -early_data "$T/early.req" -ign_eof </dev/null >"$T/early.out" 2>"$T/early.err" &
cpids+=($!)
st=0
for p in "${cpids[@]}"; do wait "$p" || st=1; done
served=0
for cs in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256; do
	grep -q 'async-ok cookie=[3-6]' "$T/c-$cs.out" && served=$((served + 1))
done
[ $st = 0 ] && [ $served = 3 ]
ok $? "three concurrent s_client (each cipher) served through the one context ($served/3)"
ecookie=$(sed -n 's/.*async-ok cookie=\([0-9]*\).*/\1/p' "$T/early.out" | head -n 1)
grep -q 'Early data was accepted' "$T/early.out" && [ -n "$ecookie" ] &&
	grep -q "cookie=$ecookie done confirmed=no early=accepted" "$T/a1.err" &&
	grep -q "cookie=$ecookie answered bytes=[0-9]* early=yes" "$T/a1.err"
ok $? "0-RTT (cookie ${ecookie:-?}): DONE unconfirmed, the early request answered at once (0.5-RTT)"
wait_for "$T/a1.err" "cookie=${ecookie:-x} confirmed ktls_rx=yes" "$APID"
ok $? "then CONFIRMED on the same cookie: RX installed by the library"
[ "$(count a1 'cookie=[01] (done|failed)')" = 0 ]
ok $? "cookies 0 and 1 still pending: results came out of order"

# 3. kill -9 the daemon with cookies 0 and 1 pending
t0=$(date +%s%3N)
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
wait_for "$T/a1.err" '^peer: async stopped' ""
st=$?
late=0 after=""
for ms in $(sed -n 's/.*cookie=[01] failed reason=daemon gone unix_ms=\([0-9]*\).*/\1/p' "$T/a1.err"); do
	[ $((ms - t0)) -le 1000 ] || late=1
	after="$after $((ms - t0))"
done
[ $st = 0 ] && [ "$(count a1 'cookie=[01] failed reason=daemon gone')" = 2 ] && [ $late = 0 ]
ok $? "handshaked SIGKILLed: both pending requests FAILED (daemon gone) within 1 s (after${after:- ?} ms)"
grep -q 'async stopped: done=5 confirmed=1 failed=2' "$T/a1.err"
ok $? "the server ends: $(grep -o 'done=.*' "$T/a1.err")"
stop "$SILENT_PID"
[ $FAILED = 0 ] || diag "$T/a1.err" "$T/d1.err"

# 4. the per-application cap counts the context's requests
start_daemon d2 --max-per-app 1 || { ok 1 "handshaked --max-per-app 1 starts"; finish; exit; }
start_async a2 2 --handoff "$T/d2.sock" || { ok 1 "peer async-server starts"; finish; exit; }
silent "$APORT" 2
wait_for "$T/a2.err" 'cookie=[01] failed reason=daemon busy' "$APID"
ok $? "--max-per-app 1: the context's second request FAILED busy"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
wait_for "$T/a2.err" '^peer: async stopped' ""
grep -q 'failed reason=daemon gone' "$T/a2.err"
ok $? "and the first one FAILED daemon gone on the kill"
stop "$SILENT_PID"
[ $FAILED = 0 ] || diag "$T/a2.err" "$T/d2.err"

# 5. --loops 2, one event-driven application: its handshakes on both loops
# echoes N: N python ssl clients at once, each sends a line and reads it back
echoes() {
	timeout 120 /usr/bin/python3 -c '
import socket, ssl, sys, threading
port, n, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
ok = []
def one(i):
    msg = b"echo %d\n" % i
    try:
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=60),
                             server_hostname="localhost") as s:
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                d = s.recv(100)
                if not d:
                    break
                got += d
            if got == msg:
                ok.append(i)
    except Exception as e:
        print("client", i, e, file=sys.stderr)
t = [threading.Thread(target=one, args=(i,)) for i in range(n)]
[x.start() for x in t]
[x.join() for x in t]
print("echoed", len(ok), "of", n)' "$APORT" "$1" "$C/ca.pem"
}
CTL=$T/d3.ctl
loop_hs() { "$BUILD/handshakectl" stats --prometheus --socket "$CTL" |
	awk -v m="handshaked_loop_handshakes_total{loop=\"$1\"}" '$1 == m { print $2 }'; }
start_daemon d3 --loops 2 --control "$CTL" --deadline-ms 60000 || { ok 1 "handshaked --loops 2 starts"; finish; exit; }
start_async a3 64 --handoff "$T/d3.sock" --echo || { ok 1 "peer async-server --echo starts"; finish; exit; }
silent "$APORT" 1
for ((i = 0; i < 250; i++)); do
	[ "$("$BUILD/handshakectl" status --socket "$CTL" 2>/dev/null | awk '$1 == "in_flight" { print $2 }')" = 1 ] && break
	sleep 0.02
done
out=$(echoes 6 2>"$T/echoes.err")
l0=$(loop_hs 0) l1=$(loop_hs 1)
[ "$out" = "echoed 6 of 6" ] && [ "${l0:-0}" -ge 1 ] && [ "${l1:-0}" -ge 1 ]
ok $? "--loops 2, one application connection: 6 clients echoed through kTLS; handshakes per loop ${l0:-?}/${l1:-?}"
stop "$SILENT_PID"
kill -TERM "$DPID"
wait "$DPID" 2>/dev/null
start_daemon d3 --loops 2 --control "$CTL" || { ok 1 "handshaked restarts"; finish; exit; }
out=$(echoes 2 2>>"$T/echoes.err")
[ "$out" = "echoed 2 of 2" ] && kill -0 "$APID" 2>/dev/null
ok $? "handshaked restarted: the same context connects again and serves ($out)"
[ $FAILED = 0 ] || diag "$T/a3.err" "$T/d3.err" "$T/echoes.err"
finish
