#!/usr/bin/env bash
# handshaked end to end on the running kernel (kselftest/run: in the VM on
# >= 6.14 and on 6.12): build/handshaked runs the handshakes for
# `tests/peer server --handoff`, which gets each socket back from
# libhandshake (hs_server_accept) with kTLS installed, reads with hs_recv
# and answers with sendfile(2).
#  - openssl s_client, each cipher: a 1 MiB body compared byte for byte
#  - ALPN chosen by the daemon; resumption (-sess_out/-sess_in) from the
#    daemon's tickets
#  - KeyUpdate from s_client ("K", "k") handled by hs_recv, and GET
#    /keyupdate (hs_key_update): >= 6.14 re-keys through setsockopt, 6.12
#    ends the connection with an alert and a clear error
#  - 0-RTT: the early hand-back (DONE before the client's Finished, kTLS TX
#    only, the early bytes unconfirmed; CONFIRMED later) with s_client
#    -early_data; a captured first flight replayed: the 1st copy is
#    answered though no Finished ever comes, the 2nd copy's early data is
#    refused
#  - gnutls-cli, a full handshake
#  - the daemon SIGKILLed mid-handshake: hs_server_accept returns an error
#    within 1 s (never a hang)
WAIT_SECONDS=${WAIT_SECONDS:-30}  # TCG is slow
. "$(dirname "$0")/../tests/tcp/lib.sh"
. "$ROOT/kselftest/lib/daemon.bash"
ktls_or_skip handshaked
require openssl
require gnutls-cli
need_built handshaked

C=$CERTS
CIPHERS="TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256"
SIZE=1048576
BIG=$T/big
head -c "$SIZE" /dev/urandom >"$BIG"
HEAD=$(printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n' "$SIZE" | wc -c)
REQ='GET / HTTP/1.0\r\n\r\n'
echo "# Linux $(uname -r), TLS 1.3 rekey: $([ $REKEY = 1 ] && echo yes || echo no)"
REKEY_MSG='TLS 1.3 rekey needs Linux 6.14'

sc() {
	printf "$REQ" | timeout 30 openssl s_client -connect "127.0.0.1:$PEER_PORT" -quiet \
		-CAfile "$C/ca.pem" -verify_return_error -servername localhost "$@" \
		>"$T/sc.out" 2>"$T/sc.err"
}

result() {
	local st=$1 name=$2
	shift 2
	ok "$st" "$name"
	[ "$st" -eq 0 ] && return
	echo "# server: ${LINE:-}"
	diag "$@" "$T/peer-server.log" "$T/daemon.err"
}

start_daemon "$T/daemon.sock" "$T/daemon.err" --cert "$C/p256.pem" --key "$C/p256.key" --alpn h2,http/1.1 --tickets 2 --early-data 16384 ||
	{ ok 1 "handshaked --handoff starts"; finish; exit; }
ok 0 "handshaked --handoff $T/daemon.sock starts (pid $DPID)"
start_peer_server --handoff "$T/daemon.sock" --file "$BIG" ||
	{ ok 1 "peer server --handoff starts"; finish; exit; }

# 1. Each cipher: the daemon's handshake, kTLS from hs_server_accept on,
# the request read by hs_recv, the body by sendfile.
for cs in $CIPHERS; do
	tx0=$(tls_stat TlsTxSw) rx0=$(tls_stat TlsRxSw)
	sc -ciphersuites "$cs"
	rc=$?
	conn_line
	log=$(conn_log)
	tx1=$(tls_stat TlsTxSw) rx1=$(tls_stat TlsRxSw)
	[ $rc -eq 0 ] && body_ok "$T/sc.out" && [[ $LINE == *" ok $cs "*"end=close_notify received"* ]] &&
		[[ $log == *"handoff done: ktls tx=yes rx=yes $cs"* ]] &&
		[ "$tx1" -gt "$tx0" ] && [ "$rx1" -gt "$rx0" ]
	result $? "s_client -ciphersuites $cs via handshaked: 1 MiB via sendfile on kTLS, TlsTxSw $tx0->$tx1 TlsRxSw $rx0->$rx1" "$T/sc.err"
done

# 2. ALPN: the daemon chooses from its list.
sc -alpn h2
rc=$?
conn_line
[ $rc -eq 0 ] && body_ok "$T/sc.out" && [[ $LINE == *" alpn=h2 "* ]]
result $? "s_client -alpn h2: the daemon chose h2, hs_info says so" "$T/sc.err"

# 3. Resumption with the daemon's ticket (sent before the hand-back).
sc -sess_out "$T/sess.pem"
rc=$?
conn_line
[ $rc -eq 0 ] && [ -s "$T/sess.pem" ] && body_ok "$T/sc.out"
result $? "s_client -sess_out: a ticket from the daemon" "$T/sc.err"
printf "$REQ" | timeout 30 openssl s_client -connect "127.0.0.1:$PEER_PORT" -servername localhost \
	-CAfile "$C/ca.pem" -sess_in "$T/sess.pem" -ign_eof >"$T/sc.out" 2>"$T/sc.err"
rc=$?
conn_line
log=$(conn_log)
[ $rc -eq 0 ] && body_ok "$T/sc.out" && grep -q 'Reused, TLSv1.3' "$T/sc.out" &&
	[[ $log == *"resumed=yes"* ]] && [[ $LINE == *" ok "*"end=close_notify received"* ]]
result $? "s_client -sess_in: resumed (hs_info resumed=yes), body intact" "$T/sc.out" "$T/sc.err"

# 3b. 0-RTT: the request arrives as early data; the daemon hands the socket
# back before the client's Finished (DONE: kTLS TX only, the early bytes
# unconfirmed), the application answers at once (0.5-RTT), and hs_recv
# takes the daemon's CONFIRMED (hs_confirm: RX, tickets) before reading the
# socket. (Should the client's Finished be read before the daemon found
# the socket idle, DONE and CONFIRMED come together: also correct.)
printf "$REQ" >"$T/early.req"
n_early=$(grep -c 'event=early_handback ' "$T/daemon.err")
timeout 30 openssl s_client -connect "127.0.0.1:$PEER_PORT" -servername localhost -CAfile "$C/ca.pem" \
	-sess_in "$T/sess.pem" -early_data "$T/early.req" -ign_eof </dev/null >"$T/sc.out" 2>"$T/sc.err"
rc=$?
conn_line
log=$(conn_log)
handed=no
[ "$(grep -c 'event=early_handback ' "$T/daemon.err")" -gt "$n_early" ] && handed=yes
[ $rc -eq 0 ] && body_ok "$T/sc.out" && grep -q 'Early data was accepted' "$T/sc.out" &&
	[[ $log == *"resumed=yes early_data=accepted"* ]] && [[ $log == *"0-RTT confirmed=yes"* ]] &&
	[[ $LINE == *" ok "*"end=close_notify received"* ]] &&
	{ [ $handed = no ] || [[ $log == *"handoff done: ktls tx=yes rx=no(unconfirmed)"* ]]; }
result $? "s_client -early_data: 0-RTT accepted, early hand-back=$handed, the early request answered, CONFIRMED taken by hs_recv, body intact" "$T/sc.out" "$T/sc.err"

# 3c. The early hand-back without any Finished: s_client's first flight
# (ClientHello + 0-RTT GET) is captured, then sent raw, twice. The 1st copy:
# the daemon answers its flight, hands the socket back with the GET
# (unconfirmed), and the whole response arrives though the client never
# sends Finished; when it goes, the confirmation fails (FAILED, no alert:
# the daemon no longer writes). The 2nd copy is a replay: the daemon's
# anti-replay refuses its early data, nothing is answered.
capture() {
	/usr/bin/python3 - "$@" <<'EOF'
import socket, struct, sys
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
print(l.getsockname()[1], flush=True)
l.settimeout(30)
c, _ = l.accept()
c.settimeout(30)
buf, out = b"", b""
while not out or out[0] != 23:  # up to the first application_data record
    while len(buf) < 5 or len(buf) < 5 + struct.unpack(">H", buf[3:5])[0]:
        d = c.recv(65536)
        if not d:
            sys.exit("capture: EOF before a 0-RTT record")
        buf += d
    n = 5 + struct.unpack(">H", buf[3:5])[0]
    out, buf = buf[:n], buf[n:]
    open(sys.argv[1], "ab").write(out)
EOF
}
# replay PORT FILE WANT: sends FILE, reads until WANT bytes came or the
# server is idle for 3 s, never sends more; prints the bytes received.
replay() {
	/usr/bin/python3 - "$@" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(open(sys.argv[2], "rb").read())
s.settimeout(3)
got = 0
try:
    while got < int(sys.argv[3]):
        d = s.recv(65536)
        if not d:
            break
        got += len(d)
except socket.timeout:
    pass
print(got)
EOF
}
: >"$T/flight"
coproc CAPTURE { capture "$T/flight" 2>"$T/capture.err"; }
cap_pid=$CAPTURE_PID  # bash unsets CAPTURE_PID when the coproc ends
PIDS+=("$cap_pid")
read -r -t 30 cport <&"${CAPTURE[0]}"
timeout 30 openssl s_client -connect "127.0.0.1:${cport:-0}" -servername localhost -sess_in "$T/sess.pem" \
	-early_data "$T/early.req" </dev/null >"$T/capture.out" 2>&1
wait "$cap_pid"
result $? "capture s_client's first flight with 0-RTT ($(wc -c <"$T/flight") bytes)" "$T/capture.err"
n_early=$(grep -c 'event=early_handback ' "$T/daemon.err")
got=$(replay "$PEER_PORT" "$T/flight" "$SIZE")
conn_line
log=$(conn_log)
[ "${got:-0}" -ge "$SIZE" ] && [[ $log == *"handoff done: ktls tx=yes rx=no(unconfirmed)"* ]] &&
	[[ $log == *"resumed=yes early_data=accepted"* ]] && [[ $log == *"0-RTT confirmed=no"* ]] &&
	[ "$(grep -c 'event=early_handback ' "$T/daemon.err")" -gt "$n_early" ]
result $? "replayed flight, 1st copy: early hand-back, the 0-RTT GET answered (${got:-0} bytes) with no client Finished, never confirmed" "$T/daemon.err"
got=$(replay "$PEER_PORT" "$T/flight" "$SIZE")
conn_line
[ "${got:-0}" -gt 0 ] && [ "${got:-0}" -lt 16384 ] && [[ $LINE == *" failed: handoff: "* ]] &&
	! conn_log | grep -q 'early_data=accepted'
result $? "replayed flight, 2nd copy: 0-RTT refused (anti-replay), only the server flight (${got:-0} bytes), nothing answered" "$T/daemon.err"

# 4. KeyUpdate from s_client ("K": update_requested, so hs_recv answers
# with ours and re-keys TX; "k"), then the request under the new keys.
n_done=$(grep -c 'handoff done' "$T/peer-server.log")
for cmd in K k; do
	rm -f "$T/fifo"
	mkfifo "$T/fifo"
	timeout 40 openssl s_client -connect "127.0.0.1:$PEER_PORT" -servername localhost \
		-CAfile "$C/ca.pem" <"$T/fifo" >"$T/ku.out" 2>&1 &
	sc_pid=$!
	exec 3>"$T/fifo"
	n_done=$((n_done + 1))
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		[ "$(grep -c 'handoff done' "$T/peer-server.log")" -ge $n_done ] && break
		sleep 0.1
	done
	(echo "$cmd" >&3) 2>/dev/null
	sleep 0.5
	(printf "$REQ" >&3) 2>/dev/null
	conn_line
	wait "$sc_pid"
	exec 3>&-
	if [ $REKEY = 1 ]; then
		if [ $cmd = K ]; then want="ku_tx=1 ku_rx=1"; else want="ku_tx=0 ku_rx=1"; fi
		body_ok "$T/ku.out" && [[ $LINE == *" ok "*"$want end=close_notify received"* ]]
		result $? "s_client '$cmd': hs_recv re-keyed RX$([ $cmd = K ] && echo ', answered with our KeyUpdate + TX re-key'), then 1 MiB" "$T/ku.out"
	else
		[[ $LINE == *"end=peer KeyUpdate refused: $REKEY_MSG"* ]] &&
			grep -qi 'alert internal error' "$T/ku.out" && ! grep -qF 'HTTP/1.0 200' "$T/ku.out"
		result $? "s_client '$cmd' on $(uname -r): hs_recv refuses with '$REKEY_MSG' and an internal_error alert" "$T/ku.out"
	fi
done

# 5. GET /keyupdate: hs_key_update(request_peer) before the body.
REQ='GET /keyupdate HTTP/1.0\r\n\r\n'
ok0=$(tls_stat TlsTxRekeyOk)
sc
rc=$?
conn_line
if [ $REKEY = 1 ]; then
	ok1=$(tls_stat TlsTxRekeyOk)
	[ $rc -eq 0 ] && body_ok "$T/sc.out" && [[ $LINE == *" ok "*"ku_tx=1 "*"end=close_notify received"* ]] &&
		[ "$ok1" -gt "$ok0" ]
	result $? "GET /keyupdate: hs_key_update re-keyed TX (TlsTxRekeyOk $ok0->$ok1), s_client reads on" "$T/sc.err"
else
	grep -qaF "HTTP/1.0 501 Not Implemented" "$T/sc.out" && grep -qaF "$REKEY_MSG" "$T/sc.out" &&
		[[ $LINE == *" ok "*"ku_tx=0 "*"end=close_notify received"* ]]
	result $? "GET /keyupdate on $(uname -r): hs_key_update refused before sending anything, answered 501 '$REKEY_MSG'" "$T/sc.out" "$T/sc.err"
fi
REQ='GET / HTTP/1.0\r\n\r\n'

# 6. gnutls-cli, a full handshake (it sends close_notify after its request
# and reads on: hs_recv returns 0, our answer still goes out).
# (it may end with a TCP FIN alone: either end is clean here)
printf "$REQ" | timeout 30 gnutls-cli -p "$PEER_PORT" 127.0.0.1 --x509cafile "$C/ca.pem" \
	--sni-hostname localhost --verify-hostname localhost >"$T/gc.out" 2>"$T/gc.err"
rc=$?
conn_line
[ $rc -eq 0 ] && body_ok "$T/gc.out" && cat "$T/gc.out" "$T/gc.err" | grep -aq 'The certificate is trusted' &&
	[[ $LINE == *" ok "*"end="@(close_notify received|connection closed by the peer) ]]
result $? "gnutls-cli: full handshake through handshaked, 1 MiB intact" "$T/gc.err"
stop_peer_server

# 3d. The tickets of an early hand-back travel in CONFIRMED: hs_confirm
# (here implicit, in hs_recv after the early bytes) sends them through kTLS
# as handshake records; s_client parses them. An echo server, so the
# connection outlives the confirmation.
stop_peer_server
start_peer_server --handoff "$T/daemon.sock" --echo ||
	{ ok 1 "peer server --handoff --echo starts"; finish; exit; }
printf 'early ping\n' >"$T/early2.req"
n_early=$(grep -c 'event=early_handback ' "$T/daemon.err")
n_conf=$(grep -c 'early=accepted handback=yes app_tickets=2 ' "$T/daemon.err")
{ sleep 3; printf 'late ping\n'; sleep 2; } | timeout 30 openssl s_client -connect "127.0.0.1:$PEER_PORT" \
	-servername localhost -CAfile "$C/ca.pem" -sess_in "$T/sess.pem" -early_data "$T/early2.req" \
	>"$T/sc.out" 2>"$T/sc.err"
conn_line
log=$(conn_log)
handed=no
[ "$(grep -c 'event=early_handback ' "$T/daemon.err")" -gt "$n_early" ] && handed=yes
grep -q 'Early data was accepted' "$T/sc.out" && grep -q '^early ping' "$T/sc.out" &&
	grep -q '^late ping' "$T/sc.out" && [[ $log == *"0-RTT confirmed=yes"* ]] &&
	[ "$(grep -c 'Post-Handshake New Session Ticket arrived' "$T/sc.out")" -eq 2 ] &&
	{ [ $handed = no ] ||
		[ "$(grep -c 'early=accepted handback=yes app_tickets=2 ' "$T/daemon.err")" -gt "$n_conf" ]; }
result $? "s_client -early_data, echo: early hand-back=$handed, 2 NewSessionTickets from CONFIRMED sent by the library, data both ways after" "$T/sc.out" "$T/sc.err"
stop_peer_server

# 7. The daemon SIGKILLed while a handshake waits for its ClientHello:
# hs_server_accept must see the daemon's end at once.
start_daemon "$T/victim.sock" "$T/victim.err" --cert "$C/p256.pem" --key "$C/p256.key" || { ok 1 "a second handshaked starts"; finish; exit; }
VPID=$DPID
start_peer_server --handoff "$T/victim.sock" --file "$BIG" ||
	{ ok 1 "peer server --handoff (victim) starts"; finish; exit; }
exec 5<>"/dev/tcp/127.0.0.1/$PEER_PORT"   # a client that says nothing
wait_for "$T/peer-server.log" 'handoff: asking handshaked' "$PEER_PID"
sleep 0.3  # the request is with the daemon
t0=$(($(date +%s%N) / 1000000))
kill -9 "$VPID"
conn_line
exec 5>&-
# the peer notes when hs_server_accept returned (no polling delay of ours)
t1=$(sed -n 's/^peer: .* handoff failed at unix_ms=\([0-9]*\)$/\1/p' "$T/peer-server.log" | tail -n 1)
ms=$((${t1:-999999999999999} - t0))
[[ $LINE == *" failed: handoff: "* ]] && [[ $LINE == *"daemon gone"* ]] && [ "$ms" -lt 1000 ]
result $? "handshaked killed mid-handshake: hs_server_accept returned ${ms} ms after SIGKILL (daemon gone)"
# and the server goes on: the next connection fails at once too (no daemon)
printf "$REQ" | timeout 10 openssl s_client -connect "127.0.0.1:$PEER_PORT" -quiet >/dev/null 2>&1
conn_line
[[ $LINE == *" failed: handoff: cannot reach handshaked"* ]]
result $? "without the daemon hs_server_accept fails at once: daemon unreachable"
stop_peer_server
finish
