#!/usr/bin/env bash
# Resumption, 0-RTT and external PSKs over TCP against OpenSSL: our
# `peer server` with `openssl s_client -sess_out/-sess_in/-early_data/-psk`
# (tickets, 0-RTT accepted and rejected, a replayed first flight, STEKs
# shared by two servers, a tampered ticket, a certificate-less PSK server)
# and our `peer client` with `openssl s_server -num_tickets 2 -early_data`
# and `s_server -psk`.
. "$(dirname "$0")/lib.sh"
require openssl

C=$CERTS
CTL=$BUILD/handshakectl
printf 'GET / HTTP/1.0\r\n\r\n' >"$T/get"

# sc NAME ARGS...: one s_client connection to our server, sending an HTTP
# GET on stdin (-ign_eof: read until our server closes; EOF=close: close
# at the end of stdin instead); $T/NAME.out. Then LINE is our server's
# line about the connection and RES its "resumed=... early_data=..." line.
sc() {
	local name=$1
	shift
	local eof=-ign_eof
	[ "${EOF:-}" = close ] && eof=-no_ign_eof
	timeout 10 openssl s_client -connect "127.0.0.1:$PEER_PORT" -servername localhost $eof \
		-CAfile "$C/ca.pem" -verify_return_error "$@" <"${INPUT:-$T/get}" >"$T/$name.out" 2>&1
	RC=$?
	conn_line
	local who=${LINE#peer: }
	who=${who%% *}
	RES=$(grep "^peer: $who resumed=" "$T/peer-server.log" | tail -n 1)
}

# answered NAME: s_client got our HTTP answer and our server logged a clean end.
answered() {
	[ "$RC" -eq 0 ] && grep -q '^hello from handshaked peer: ' "$T/$1.out" &&
		[[ $LINE == *" ok "*"end=close_notify received"* ]]
}

# report STATUS TEST_NAME OUT_NAME: a TAP line, and what went wrong.
report() {
	ok "$1" "$2"
	if [ "$1" -ne 0 ]; then
		echo "# exit status $RC; server: $LINE; $RES"
		diag "$T/$3.out"
	fi
}

# zero_rtt_bytes: the bytes our server says it took as 0-RTT on the last
# connection ("" if it took none).
zero_rtt_bytes() {
	local who=${LINE#peer: }
	who=${who%% *}
	sed -n "s/^peer: $who 0-RTT: \([0-9]*\) bytes, confirmed.*/\1/p" "$T/peer-server.log"
}

# tamper_ticket IN OUT: the s_client session IN with one bit of its ticket
# (the middle of the AES-GCM ciphertext) flipped; the DER stays valid.
tamper_ticket() {
	local f off hl l pos byte
	f=$(openssl asn1parse -in "$1" | grep -A1 'cont \[ 10 \]' | tail -n 1)
	[[ $f =~ ^\ *([0-9]+):d=[0-9]+\ +hl=([0-9]+)\ +l=\ *([0-9]+)\ prim:\ OCTET\ STRING ]] || return 1
	off=${BASH_REMATCH[1]} hl=${BASH_REMATCH[2]} l=${BASH_REMATCH[3]}
	pos=$((off + hl + l / 2))
	openssl sess_id -in "$1" -outform DER -out "$T/tamper.der" || return 1
	byte=$(od -An -tu1 -j "$pos" -N 1 "$T/tamper.der" | tr -d ' ')
	printf "\\$(printf %03o $((byte ^ 1)))" | dd of="$T/tamper.der" bs=1 seek="$pos" conv=notrunc status=none
	openssl sess_id -inform DER -in "$T/tamper.der" -out "$2"
}

"$CTL" ticket-keys new "$T/keys" >/dev/null && "$CTL" ticket-keys new "$T/other-keys" >/dev/null
ok $? "handshakectl ticket-keys new: two key files"
SRV=(--cert "$C/p256.pem" --key "$C/p256.key")

# ---- server A: 0-RTT on (16 KiB), STEKs from $T/keys ----
start_peer_server "${SRV[@]}" --ticket-keys "$T/keys" --early-data 16384 --tickets 3 ||
	{ ok 1 "peer server starts"; finish; exit; }

sc full -sess_out "$T/s1"
answered full && grep -q '^New, TLSv1.3' "$T/full.out" && [[ $RES == *"resumed=no early_data=none" ]] &&
	[ "$(grep -c '^Post-Handshake New Session Ticket arrived' "$T/full.out")" -eq 3 ] && [ -s "$T/s1" ]
report $? "full handshake: s_client gets 3 tickets (--tickets 3), -sess_out writes one" full

sc resumed -sess_in "$T/s1" -sess_out "$T/s2"
answered resumed && grep -q '^Reused, TLSv1.3' "$T/resumed.out" && [[ $RES == *"resumed=yes early_data=none" ]] &&
	grep -q '^hello from handshaked peer: .* sig=none ' "$T/resumed.out"
report $? "s_client -sess_in: 'Reused, TLSv1.3', our server resumed=yes, no certificate signature" resumed

# The request goes only as early data (stdin is empty): it can only be
# answered if our server took it.
INPUT=/dev/null sc early -sess_in "$T/s2" -early_data "$T/get" -sess_out "$T/s3"
answered early && grep -q '^Early data was accepted' "$T/early.out" &&
	[[ $RES == *"resumed=yes early_data=accepted" ]] && [ "$(zero_rtt_bytes)" = "$(wc -c <"$T/get")" ]
report $? "s_client -early_data: accepted, our server answers the 0-RTT request (18 bytes confirmed)" early

# s_client offers the same ticket again in a NEW ClientHello. §8.2
# recording (our design: keyed by the PSK binder) tells replays of a
# ClientHello apart, not ticket reuse, so this must at least resume.
INPUT=/dev/null sc reuse -sess_in "$T/s2" -early_data "$T/get"
answered reuse && grep -q '^Reused, TLSv1.3' "$T/reuse.out" && [[ $RES == *"resumed=yes early_data=accepted" ]]
report $? "the same ticket in a new ClientHello: resumed, 0-RTT accepted (only a byte replay is one)" reuse

# A byte-exact replay (RFC 8446 §8.2): s_client's first flight
# (ClientHello, CCS, the 0-RTT record) is captured by a fake server, then
# sent to our server twice. Neither copy can finish (no client Finished
# for our new key share); the first has its 0-RTT accepted (unconfirmed,
# so dropped), the second must be rejected by the ClientHello recorder.
# (Python, as bash can neither listen nor half-close a socket.)
capture() {
	/usr/bin/python3 - "$@" <<'EOF'
import socket, struct, sys
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
print(l.getsockname()[1], flush=True)
l.settimeout(10)
c, _ = l.accept()
c.settimeout(10)
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
replay() {
	/usr/bin/python3 - "$@" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(open(sys.argv[2], "rb").read())
s.shutdown(socket.SHUT_WR)  # then read until our server gives up
while s.recv(65536):
    pass
EOF
}
# replay_line: our server's line about the 0-RTT of a failed handshake.
replay_line() {
	local who=${LINE#peer: }
	who=${who%% *}
	grep "^peer: $who 0-RTT " "$T/peer-server.log"
}
: >"$T/flight"
coproc CAPTURE { capture "$T/flight" 2>"$T/capture.err"; }
cap_pid=$CAPTURE_PID  # bash unsets CAPTURE_PID when the coproc ends
PIDS+=("$cap_pid")
read -r -t 10 cport <&"${CAPTURE[0]}"
timeout 10 openssl s_client -connect "127.0.0.1:${cport:-0}" -servername localhost -sess_in "$T/s2" \
	-early_data "$T/get" </dev/null >"$T/capture.out" 2>&1
wait "$cap_pid"
ok $? "capture s_client's first flight with 0-RTT ($(wc -c <"$T/flight") bytes)"
replay "$PEER_PORT" "$T/flight"
conn_line
[[ $LINE == *" failed: "* ]] && replay_line | grep -q ' 0-RTT accepted, handshake failed: 18 unconfirmed bytes dropped$'
st=$?
ok $st "replayed first flight, 1st copy: 0-RTT accepted, never confirmed, dropped"
[ $st -eq 0 ] || echo "# server: $LINE; $(replay_line)"
replay "$PEER_PORT" "$T/flight"
conn_line
[[ $LINE == *" failed: "* ]] && replay_line | grep -q ' 0-RTT rejected, handshake failed: 0 unconfirmed bytes dropped$'
st=$?
ok $st "replayed first flight, 2nd copy: 0-RTT rejected by the anti-replay recorder"
[ $st -eq 0 ] || echo "# server: $LINE; $(replay_line)"

sc more -sess_in "$T/s3" -sess_out "$T/s4"
sc more -sess_in "$T/s4" -sess_out "$T/s5"
answered more && [ -s "$T/s5" ]
report $? "two more resumptions for tickets to use on other servers" more

tamper_ticket "$T/s3" "$T/s3-bad" || echo "# tamper_ticket failed"
sc tampered -sess_in "$T/s3-bad"
answered tampered && grep -q '^New, TLSv1.3' "$T/tampered.out" && [[ $RES == *"resumed=no early_data=none" ]] &&
	grep -q '^hello from handshaked peer: .* sig=ecdsa_secp256r1_sha256 ' "$T/tampered.out"
report $? "a ticket with one bit flipped: full handshake, no alert" tampered

# s_client closes after the handshake: our server ends without a request.
EOF=close INPUT=/dev/null sc tampered-early -sess_in "$T/s3-bad" -early_data "$T/get"
[ "$RC" -eq 0 ] && grep -q '^New, TLSv1.3' "$T/tampered-early.out" &&
	grep -q '^Early data was rejected' "$T/tampered-early.out" && [[ $RES == *"resumed=no early_data=rejected" ]] &&
	[ -z "$(zero_rtt_bytes)" ] && ! grep -q '^hello from handshaked peer' "$T/tampered-early.out" &&
	[[ $LINE == *" ok "*"end=close_notify received"* ]]
report $? "tampered ticket with 0-RTT: full handshake, the early request is skipped, never answered" tampered-early
stop_peer_server

# ---- server B: the same key file, 0-RTT off (another machine of the fleet) ----
start_peer_server "${SRV[@]}" --ticket-keys "$T/keys" --early-data 0 || { ok 1 "peer server B starts"; finish; exit; }
sc fleet -sess_in "$T/s4"
answered fleet && grep -q '^Reused, TLSv1.3' "$T/fleet.out" && [[ $RES == *"resumed=yes early_data=none" ]]
report $? "--ticket-keys shared: a ticket from server A resumes on server B" fleet

# The request goes both as 0-RTT and on stdin: rejected 0-RTT is skipped
# and the 1-RTT copy is answered.
sc fleet-early -sess_in "$T/s5" -early_data "$T/get"
answered fleet-early && grep -q '^Reused, TLSv1.3' "$T/fleet-early.out" &&
	grep -q '^Early data was rejected' "$T/fleet-early.out" && [[ $RES == *"resumed=yes early_data=rejected" ]] &&
	[ -z "$(zero_rtt_bytes)" ]
report $? "server B with --early-data 0: resumed, 0-RTT rejected, the 1-RTT request answered" fleet-early
stop_peer_server

# ---- server C: other keys ----
start_peer_server "${SRV[@]}" --ticket-keys "$T/other-keys" --early-data 16384 ||
	{ ok 1 "peer server C starts"; finish; exit; }
sc stranger -sess_in "$T/s1"
answered stranger && grep -q '^New, TLSv1.3' "$T/stranger.out" && [[ $RES == *"resumed=no early_data=none" ]]
report $? "a server with other ticket keys: full handshake" stranger
stop_peer_server

# ---- server D: external PSK only, no certificate ----
PSK_ID=alice
PSK_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
BAD_KEY=ff${PSK_KEY#??}
if start_peer_server --psk "$PSK_ID:$PSK_KEY"; then
	sc psk -psk_identity "$PSK_ID" -psk "$PSK_KEY"
	answered psk && grep -q '^Reused, TLSv1.3' "$T/psk.out" && [[ $RES == *"resumed=yes early_data=none psk=external" ]]
	report $? "s_client -psk_identity/-psk: our certificate-less server takes the external PSK" psk
	EOF=close sc psk-bad -psk_identity "$PSK_ID" -psk "$BAD_KEY"
	[[ $LINE == *"failed: alert decrypt_error sent"* ]] && ! grep -q '^hello from handshaked peer' "$T/psk-bad.out"
	report $? "s_client with the wrong PSK key: our server sends decrypt_error (binder)" psk-bad
	stop_peer_server
else
	ok 1 "peer server --psk starts"
fi

# ---- our client against openssl s_server -early_data ----
# Without -www (which -early_data excludes) s_server prints what it reads
# and reads commands from stdin: a fifo we hold open. stdbuf: its stdio
# output in order with the raw data it writes.
mkfifo "$T/ss.in"
exec 4<>"$T/ss.in"

# s_serve NAME ARGS...: one s_server for several connections.
s_serve() {
	local name=$1
	shift
	: >"$T/$name.out"
	stdbuf -oL openssl s_server -accept 127.0.0.1:0 -cert "$C/p256.pem" -key "$C/p256.key" "$@" \
		<&4 >"$T/$name.out" 2>"$T/$name.err" &
	SPID=$!
	PIDS+=("$SPID")
	SOUT=$T/$name.out
	SCONN=0
	wait_for "$SOUT" '^ACCEPT' "$SPID" || { diag "$SOUT" "$T/$name.err"; return 1; }
	SPORT=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$SOUT")
}

# s_conn: waits for s_server's end of the next connection; $T/ss.conn is
# what it printed about that connection.
s_conn() {
	SCONN=$((SCONN + 1))
	local i
	for ((i = 0; i < WAIT_SECONDS * 50; i++)); do
		[ "$(grep -c '^CONNECTION CLOSED' "$SOUT")" -ge "$SCONN" ] && break
		sleep 0.02
	done
	awk -v n="$SCONN" '/^CONNECTION CLOSED/ { k++; next } k == n - 1' "$SOUT" >"$T/ss.conn"
}

# pc NAME ARGS...: one `peer client` sending $INPUT; $T/NAME.{out,err}.
pc() {
	local name=$1
	shift
	timeout 10 "$PEER" client "127.0.0.1:$SPORT" --ca "$C/ca.pem" --servername localhost "$@" \
		<"${INPUT:-$T/get}" >"$T/$name.out" 2>"$T/$name.err"
	RC=$?
}

# pc_ok NAME REGEX: clean exit, and our stderr matches REGEX.
pc_ok() {
	[ "$RC" -eq 0 ] && grep -q 'end=close_notify received' "$T/$1.err" && grep -qE -- "$2" "$T/$1.err"
}

pc_report() {
	ok "$1" "$2"
	[ "$1" -eq 0 ] || { echo "# exit status $RC"; diag "$T/$3.err" "$T/ss.conn"; }
}

printf 'GET /zero-rtt HTTP/1.0\r\n\r\n' >"$T/early"
if s_serve s_server -num_tickets 2 -early_data; then
	pc c-full --sess-out "$T/c1"
	s_conn
	pc_ok c-full 'client resumed=no early_data=none' && [ "$(grep -c '^peer: session saved' "$T/c-full.err")" -eq 2 ] &&
		grep -q '^GET / HTTP/1.0' "$T/ss.conn" && [ -s "$T/c1" ]
	pc_report $? "--sess-out: full handshake, both s_server tickets saved" c-full

	pc c-resumed --sess-in "$T/c1" --sess-out "$T/c2"
	s_conn
	pc_ok c-resumed 'client resumed=yes early_data=none' && grep -q '^Reused session-id' "$T/ss.conn" &&
		grep -q '^GET / HTTP/1.0' "$T/ss.conn" && grep -q '^peer: session saved' "$T/c-resumed.err"
	pc_report $? "--sess-in: s_server resumes ('Reused session-id')" c-resumed

	INPUT=/dev/null pc c-early --sess-in "$T/c2" --early "$T/early"
	s_conn
	pc_ok c-early 'client resumed=yes early_data=accepted' &&
		grep -A1 '^Early data received:' "$T/ss.conn" | grep -q '^GET /zero-rtt HTTP/1.0'
	pc_report $? "--early: s_server accepts and prints our 0-RTT request" c-early

	stop "$SPID"
else
	ok 1 "s_server -early_data starts"
fi

# A new s_server process has other ticket keys and no -early_data: the
# ticket is declined, our 0-RTT rejected, and we resend it as 1-RTT data.
if s_serve s_server2 -num_tickets 2; then
	INPUT=/dev/null pc c-rejected --sess-in "$T/c1" --early "$T/early"
	s_conn
	pc_ok c-rejected 'client resumed=no early_data=rejected' && ! grep -q '^Early data received' "$T/ss.conn" &&
		grep -q '^GET /zero-rtt HTTP/1.0' "$T/ss.conn"
	pc_report $? "s_server without -early_data: 0-RTT rejected, resent after the handshake" c-rejected
	stop "$SPID"
else
	ok 1 "s_server starts"
fi
exec 4>&-

if start_s_server s_server3 -naccept 2 -nocert -psk_identity "$PSK_ID" -psk "$PSK_KEY" -www; then
	pc c-psk --psk "$PSK_ID:$PSK_KEY"
	pc_ok c-psk 'client resumed=yes early_data=none psk=external' && grep -q '^s_server .*-psk ' "$T/c-psk.out"
	pc_report $? "--psk against s_server -psk -nocert -www" c-psk
	pc c-psk-bad --psk "$PSK_ID:$BAD_KEY"
	[ "$RC" -eq 2 ] && grep -qE 'handshake failed: alert [a-z_]+ received' "$T/c-psk-bad.err"
	pc_report $? "--psk with the wrong key: s_server refuses with an alert" c-psk-bad
	sed -n 's/^peer: handshake failed: /# s_server: /p' "$T/c-psk-bad.err"  # OpenSSL: illegal_parameter
	stop "$SPID"
else
	ok 1 "s_server -psk starts"
fi

finish
