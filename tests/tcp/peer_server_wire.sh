#!/usr/bin/env bash
# What our `peer server` puts on the wire, counted by the other end:
#  - an HTTP answer travels in as few records as it fits: the head shares
#    the first record with the body (openssl s_client -msg counts them)
#  - --echo answers everything one read brought in one send: a client whose
#    8 small records (the server's record_size_limit 512) came in one write
#    gets 1 record back (our client counts records_in)
#  - --echo honours `GET /keyupdate` like the HTTP mode
#  - after a fatal alert the server reads on for a moment instead of
#    closing under a client that is still sending: the client's writes do
#    not fail with a reset and it reads the alert (a python3 client that
#    writes only after the server has failed; s_client and our client
#    with a large stdin)
# PEER_WIRE_KTLS=1 runs the record counts with `peer server --ktls`
# (kselftest/peer_wire.sh); the alert cases fail in the handshake, before
# any kTLS, so they run here only.
. "$(dirname "$0")/lib.sh"
require openssl
require python3

C=$CERTS
KTLS=()
[ "${PEER_WIRE_KTLS:-0}" = 1 ] && KTLS=(--ktls)
REKEY=1
if [ ${#KTLS[@]} -gt 0 ] && ! grep -q '^TlsRxRekeyOk' /proc/net/tls_stat 2>/dev/null; then
	REKEY=0  # Linux < 6.14: the kernel cannot re-key
fi
where="${KTLS[*]:-userspace records}"
HTTP_GET='GET / HTTP/1.0\r\n\r\n'

# app_records FILE: application data records in an s_client -msg log (a
# -msg line may follow body bytes on the same line).
app_records() {
	awk '/<<< .*InnerContent/ { getline; if ($1 == "17") n++ } END { print n + 0 }' "$1"
}

# http_records NAME WANT ARGS...: a server started with ARGS answers
# s_client -msg, which must count WANT application records, and our client,
# which must get the same count (+1: close_notify) and, for --file, the
# body byte for byte.
http_records() {
	local name=$1 want=$2 got mine rc
	shift 2
	start_peer_server "${KTLS[@]}" --cert "$C/p256.pem" --key "$C/p256.key" --tickets 0 "$@" ||
		{ ok 1 "peer server $* starts"; return; }
	printf "$HTTP_GET" | timeout 20 openssl s_client -connect "127.0.0.1:$PEER_PORT" -msg -ign_eof \
		-CAfile "$C/ca.pem" -servername localhost >"$T/$name.out" 2>&1
	conn_line
	got=$(app_records "$T/$name.out")
	printf "$HTTP_GET" | timeout 20 "$PEER" client "127.0.0.1:$PEER_PORT" --ca "$C/ca.pem" \
		--servername localhost >"$T/$name.pc" 2>"$T/$name.err"
	rc=$?
	conn_line
	mine=$(sed -n 's/^peer: records_in=//p' "$T/$name.err")
	[ "$got" = "$want" ] && [ "$rc" -eq 0 ] && [ "$mine" = $((want + 1)) ] &&
		{ [ "$name" != file ] || tail -c "$SIZE" "$T/$name.pc" | cmp -s - "$T/body"; }
	ok $? "HTTP answer, $name body ($where): $want record(s) for s_client, got $got; our client $mine (+close_notify)"
	[ "$got" = "$want" ] || { echo "# server: $LINE"; diag "$T/$name.out"; }
	stop_peer_server
}

http_records short 1
SIZE=100000
head -c "$SIZE" /dev/zero | tr '\0' a >"$T/body"
HEAD=$(printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n' "$SIZE" | wc -c)
http_records file $(((HEAD + SIZE + 16383) / 16384)) --file "$T/body"

# ---- --echo ----
start_peer_server "${KTLS[@]}" --cert "$C/p256.pem" --key "$C/p256.key" --tickets 0 --echo \
	--record-limit 512 || { ok 1 "echo server starts"; finish; exit; }

# pc NAME: our client sends $T/NAME.in, output in $T/NAME.{out,err}.
pc() {
	timeout 20 "$PEER" client "127.0.0.1:$PEER_PORT" --ca "$C/ca.pem" --servername localhost \
		<"$T/$1.in" >"$T/$1.out" 2>"$T/$1.err"
	RC=$?
	conn_line
}

head -c 4000 /dev/zero | tr '\0' b >"$T/burst.in"
pc burst
# 8 records of at most 511 bytes left in one write; back: the echo and close_notify.
cmp -s "$T/burst.in" "$T/burst.out" && grep -q '^peer: records_in=2$' "$T/burst.err"
ok $? "--echo ($where): 4000 bytes in 8 records in one write come back in 1 record"
grep -q '^peer: records_in=2$' "$T/burst.err" || { echo "# server: $LINE"; diag "$T/burst.err"; }

printf 'GET /keyupdate\r\n' >"$T/ku.in"
pc ku
if [ "$REKEY" = 1 ]; then
	cmp -s "$T/ku.in" "$T/ku.out" && grep -q 'ku_rx=1 ' "$T/ku.err" && [[ $LINE == *"ku_tx=1 "* ]]
	ok $? "--echo ($where): GET /keyupdate gets our KeyUpdate(update_requested), then its echo"
else
	cmp -s "$T/ku.in" "$T/ku.out" && grep -q 'GET /keyupdate refused: TLS 1.3 rekey needs' "$T/peer-server.log"
	ok $? "--echo ($where) on Linux $(uname -r): GET /keyupdate refused as in HTTP mode, echoed"
fi
[ "$RC" -eq 0 ] || { echo "# server: $LINE"; diag "$T/ku.err"; }
stop_peer_server
[ ${#KTLS[@]} -gt 0 ] && { finish; exit; }

# ---- a fatal alert reaches a client that is still sending ----
start_peer_server --cert "$C/p256.pem" --key "$C/p256.key" --client-ca "$C/ca.pem" --client-auth require ||
	{ ok 1 "mTLS server starts"; finish; exit; }

# A client whose certificate our server refuses (unknown_ca). TLS 1.3: its
# handshake is over when it has sent its flight, so it writes on; it writes
# only after our server has failed, then reads.
cat >"$T/late.py" <<'PY'
import socket, ssl, sys, time
port, ca, cert, key = sys.argv[1:5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_verify_locations(ca)
ctx.load_cert_chain(cert, key)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(port))), server_hostname="localhost")
time.sleep(0.3)  # the server has read our certificate and sent its alert by now
try:
    s.sendall(b"x" * 65536)
except OSError as e:
    sys.exit("write failed: %s" % e)
try:
    s.recv(100)
    sys.exit("no alert")
except ssl.SSLError as e:
    print("alert:", e.reason)
PY
timeout 20 python3 "$T/late.py" "$PEER_PORT" "$C/ca.pem" "$C/client-ca2.pem" "$C/client-ca2.key" \
	>"$T/late.out" 2>&1
rc=$?
conn_line
[ $rc -eq 0 ] && grep -q 'alert: TLSV1_ALERT_UNKNOWN_CA' "$T/late.out" && [[ $LINE == *"failed: alert unknown_ca sent"* ]]
ok $? "a client writing after our alert is not reset and reads unknown_ca"
grep -q 'alert: TLSV1_ALERT_UNKNOWN_CA' "$T/late.out" || { echo "# server: $LINE"; diag "$T/late.out"; }

# Clients that stream stdin while the alert comes: each must report it.
head -c 2000000 /dev/zero >"$T/zeros"
seen=0
for _ in 1 2 3; do
	timeout 20 openssl s_client -connect "127.0.0.1:$PEER_PORT" -servername localhost -CAfile "$C/ca.pem" \
		-cert "$C/client-ca2.pem" -key "$C/client-ca2.key" -quiet <"$T/zeros" >"$T/sc.out" 2>&1
	conn_line
	grep -q 'alert unknown ca' "$T/sc.out" && seen=$((seen + 1))
	timeout 20 "$PEER" client "127.0.0.1:$PEER_PORT" --ca "$C/ca.pem" --servername localhost \
		--cert "$C/client-ca2.pem" --key "$C/client-ca2.key" <"$T/zeros" >/dev/null 2>"$T/pc.err"
	conn_line
	grep -q 'end=alert unknown_ca received\|handshake failed: alert unknown_ca received' "$T/pc.err" &&
		seen=$((seen + 1))
done
[ "$seen" -eq 6 ]
ok $? "s_client and our client streaming stdin read unknown_ca: $seen of 6"
[ "$seen" -eq 6 ] || diag "$T/sc.out" "$T/pc.err"
stop_peer_server

finish
