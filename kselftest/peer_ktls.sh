#!/usr/bin/env bash
# `peer --ktls` on the running kernel (kselftest/run: in the VM on >= 6.14
# and on 6.12): our server hands the connection to kernel TLS after the
# handshake and answers with sendfile(2); our client does the same.
#  - our server <- openssl s_client, each cipher (AES-128-CCM too, which
#    both ends list explicitly: it is no default): a 1 MiB body compared byte
#    for byte, TX/RX counted in /proc/net/tls_stat, sock_diag says sw/sw
#  - our client --glue: the first request record leaves in the Finished's
#    write; the server must find it in the socket after installing RX
#  - our client --ktls <- openssl s_server -WWW, each cipher, NewSessionTickets
#    arriving through kTLS saved as sessions
#  - KeyUpdate: s_client "K"/"k", GET /keyupdate, our client --keyupdate;
#    >= 6.14 re-keys through setsockopt, 6.12 refuses clearly (alert, and
#    the server carries on)
#  - resumption and 0-RTT (s_client -sess_out/-sess_in/-early_data, our
#    client --sess-out/--sess-in/--early), the early request answered; our
#    server defers its NewSessionTickets (tls_conn_defer_tickets), installs
#    TX at seq 0 and sends them through kTLS (tls_post_ticket_send)
#  - RFC 8449 record_size_limit 1024 from our client (kTLS and userspace):
#    >= 6.19 caps the server's kernel records (TLS_TX_MAX_PAYLOAD_LEN), older
#    kernels refuse the hand-off cleanly with an alert
WAIT_SECONDS=${WAIT_SECONDS:-30}  # TCG is slow
. "$(dirname "$0")/../tests/tcp/lib.sh"

if ! grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null &&
	! { [ "$(id -u)" = 0 ] && modprobe -q tls 2>/dev/null &&
		grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp; }; then
	echo "ok 1 - peer --ktls # SKIP no kTLS on Linux $(uname -r)"
	echo "1..1"
	exit 0
fi
require openssl

C=$CERTS
CIPHERS="TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256 TLS_AES_128_CCM_SHA256"
NCIPHERS=$(echo $CIPHERS | wc -w)
SIZE=1048576
BIG=$T/big
head -c "$SIZE" /dev/urandom >"$BIG"
HEAD=$(printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n' "$SIZE" | wc -c)
REQ='GET / HTTP/1.0\r\n\r\n'
if grep -q '^TlsRxRekeyOk' /proc/net/tls_stat 2>/dev/null; then REKEY=1; else REKEY=0; fi
echo "# Linux $(uname -r), TLS 1.3 rekey: $([ $REKEY = 1 ] && echo yes || echo no)"

tls_stat() { awk -v n="$1" '$1 == n { print $2 }' /proc/net/tls_stat; }

# body_ok FILE [STATUS_LINE HEADER_LEN]: FILE holds an HTTP answer whose body
# is exactly $BIG (other output around it is fine).
body_ok() {
	local status=${2:-HTTP/1.0 200 OK} head=${3:-$HEAD} off
	off=$(grep -aboF "$status" "$1" | head -n 1 | cut -d: -f1)
	[ -n "$off" ] && tail -c +$((off + head + 1)) "$1" | head -c "$SIZE" | cmp -s - "$BIG"
}

# The server's lines about the connection of the last conn_line.
conn_log() {
	local addr
	addr=$(echo "$LINE" | awk '{ print $2 }')
	grep -F "peer: $addr " "$T/peer-server.log"
}

# sc ARGS...: s_client -quiet sending $REQ, output in $T/sc.out/.err.
sc() {
	printf "$REQ" | timeout 30 openssl s_client -connect "127.0.0.1:$PEER_PORT" -quiet \
		-CAfile "$C/ca.pem" -verify_return_error -servername localhost "$@" \
		>"$T/sc.out" 2>"$T/sc.err"
}

# result STATUS NAME FILES...: one TAP line; on failure the server's line
# and the tails of FILES and the server log.
result() {
	local st=$1 name=$2
	shift 2
	ok "$st" "$name"
	[ "$st" -eq 0 ] && return
	echo "# server: ${LINE:-}"
	diag "$@" "$T/peer-server.log"
}

start_peer_server --ktls --cert "$C/p256.pem" --key "$C/p256.key" --file "$BIG" \
	--tickets 2 --early-data 16384 --ciphers "$(echo $CIPHERS | tr ' ' ,)" ||
	{ ok 1 "peer server --ktls starts"; finish; exit; }

# 1. s_client, each cipher: sendfile body through kTLS TX, request via RX.
for cs in $CIPHERS; do
	tx0=$(tls_stat TlsTxSw) rx0=$(tls_stat TlsRxSw)
	sc -ciphersuites "$cs"
	rc=$?
	conn_line
	log=$(conn_log)
	tx1=$(tls_stat TlsTxSw) rx1=$(tls_stat TlsRxSw)
	[ $rc -eq 0 ] && body_ok "$T/sc.out" && [[ $LINE == *" ok $cs "*"end=close_notify received"* ]] &&
		[[ $log == *"ktls $cs tx+rx installed"* ]] && [[ $log == *"tx=sw rx=sw"* ]] &&
		[ "$tx1" -gt "$tx0" ] && [ "$rx1" -gt "$rx0" ]
	result $? "s_client -ciphersuites $cs: 1 MiB via sendfile on kTLS, TlsTxSw $tx0->$tx1 TlsRxSw $rx0->$rx1" "$T/sc.err"
done

# 2. The request glued to the client Finished (one write): the server's
# record-exact reader leaves it in the socket for kTLS RX.
printf "$REQ" | timeout 30 "$PEER" client "127.0.0.1:$PEER_PORT" --ktls --glue --ca "$C/ca.pem" \
	--servername localhost >"$T/pc.out" 2>"$T/pc.err"
rc=$?
conn_line
log=$(conn_log)
[ $rc -eq 0 ] && body_ok "$T/pc.out" && grep -q 'ktls .* installed, tx_seq=1 rx_seq=0' "$T/pc.err" &&
	[[ $log == *"installed, tx_seq="*" rx_seq=0"* ]] && [[ $LINE == *" ok "*"end=close_notify received"* ]]
result $? "peer client --ktls --glue: request in the Finished's segment, kTLS on both ends" "$T/pc.err"

# 3. KeyUpdate from s_client: "K" (update_requested: we answer and re-key
# TX too) and "k", then the request under the new keys. s_client reads
# commands only without -quiet/-ign_eof, so stdin is a fifo we feed.
n_inst=$(grep -c 'tx+rx installed' "$T/peer-server.log")
for cmd in K k; do
	rm -f "$T/fifo"
	mkfifo "$T/fifo"
	timeout 40 openssl s_client -connect "127.0.0.1:$PEER_PORT" -servername localhost \
		-CAfile "$C/ca.pem" <"$T/fifo" >"$T/ku.out" 2>&1 &
	sc_pid=$!
	exec 3>"$T/fifo"
	n_inst=$((n_inst + 1))
	n_ku=$(grep -c 'KeyUpdate received\|KeyUpdate refused' "$T/peer-server.log")
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		[ "$(grep -c 'tx+rx installed' "$T/peer-server.log")" -ge $n_inst ] && break
		sleep 0.1
	done
	# (subshells: a write after s_client left must not SIGPIPE the script)
	(echo "$cmd" >&3) 2>/dev/null
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		[ "$(grep -c 'KeyUpdate received\|KeyUpdate refused' "$T/peer-server.log")" -gt "$n_ku" ] && break
		sleep 0.1
	done
	(printf "$REQ" >&3) 2>/dev/null
	conn_line
	wait "$sc_pid"
	exec 3>&-
	log=$(conn_log)
	if [ $REKEY = 1 ]; then
		if [ $cmd = K ]; then want="ku_tx=1 ku_rx=1"; else want="ku_tx=0 ku_rx=1"; fi
		body_ok "$T/ku.out" && [[ $LINE == *" ok "*"$want end=close_notify received"* ]] &&
			[[ $log == *"KeyUpdate received (update_requested=$([ $cmd = K ] && echo 1 || echo 0)): rx re-keyed"* ]]
		result $? "s_client '$cmd': RX re-keyed via setsockopt$([ $cmd = K ] && echo ', our KeyUpdate + TX re-key'), then 1 MiB" "$T/ku.out"
	else
		[[ $LINE == *"end=alert internal_error sent (TLS 1.3 rekey needs Linux 6.14"* ]] &&
			[[ $log == *"peer KeyUpdate refused: TLS 1.3 rekey needs Linux 6.14"* ]] &&
			grep -qi 'alert internal error' "$T/ku.out" && ! grep -qF 'HTTP/1.0 200' "$T/ku.out"
		result $? "s_client '$cmd' on $(uname -r): refused with 'TLS 1.3 rekey needs Linux 6.14' and an alert" "$T/ku.out"
	fi
done

# 4. GET /keyupdate: our server sends KeyUpdate(update_requested) through
# the kernel and re-keys TX before the body.
REQ='GET /keyupdate HTTP/1.0\r\n\r\n'
ok0=$(tls_stat TlsTxRekeyOk)
sc
rc=$?
conn_line
if [ $REKEY = 1 ]; then
	ok1=$(tls_stat TlsTxRekeyOk)
	[ $rc -eq 0 ] && body_ok "$T/sc.out" && [[ $LINE == *" ok "*"ku_tx=1 "*"end=close_notify received"* ]] &&
		[ "$ok1" -gt "$ok0" ]
	result $? "GET /keyupdate: TX re-keyed through the kernel (TlsTxRekeyOk $ok0->$ok1), s_client reads on" "$T/sc.err"
else
	msg='TLS 1.3 rekey needs Linux 6.14'
	grep -qaF "HTTP/1.0 501 Not Implemented" "$T/sc.out" && grep -qaF "$msg" "$T/sc.out" &&
		[[ $LINE == *" ok "*"ku_tx=0 "*"end=close_notify received"* ]]
	result $? "GET /keyupdate on $(uname -r): answered 501 '$msg', the connection ends cleanly" "$T/sc.out" "$T/sc.err"
fi
REQ='GET / HTTP/1.0\r\n\r\n'

# 5. Our client initiates a KeyUpdate(update_requested) to our server.
printf "$REQ" | timeout 30 "$PEER" client "127.0.0.1:$PEER_PORT" --ktls --keyupdate --ca "$C/ca.pem" \
	--servername localhost >"$T/pc.out" 2>"$T/pc.err"
rc=$?
if [ $REKEY = 1 ]; then
	conn_line
	[ $rc -eq 0 ] && body_ok "$T/pc.out" && grep -q 'ku_tx=1 ku_rx=1 end=close_notify received' "$T/pc.err" &&
		[[ $LINE == *" ok "*"ku_tx=1 ku_rx=1 end=close_notify received"* ]]
	result $? "peer client --ktls --keyupdate <-> peer server --ktls: both directions re-keyed" "$T/pc.err"
else
	conn_line
	[ $rc -ne 0 ] && grep -q 'end=TLS 1.3 rekey needs Linux 6.14' "$T/pc.err" && ! grep -q 'KeyUpdate sent' "$T/pc.err"
	result $? "peer client --ktls --keyupdate on $(uname -r): refused before sending anything" "$T/pc.err"
fi

# 6. Resumption and 0-RTT: s_client, then our client. The tickets leave our
# server after the hand-off: TX goes into the kernel at seq 0, the tickets
# are its first record (a handshake record through the record-type cmsg).
sc -sess_out "$T/sess.pem"
rc=$?
conn_line
log=$(conn_log)
[ $rc -eq 0 ] && body_ok "$T/sc.out" && [ -s "$T/sess.pem" ] &&
	[[ $log == *"tx+rx installed, tx_seq=0 rx_seq=0"* ]] &&
	[[ $log == *"2 NewSessionTickets sent through kTLS, tx_seq 0->1"* ]]
result $? "deferred tickets: TX installed at seq 0, 2 NewSessionTickets as kTLS record 0, then the body" "$T/sc.err"
printf "$REQ" >"$T/early.req"
timeout 30 openssl s_client -connect "127.0.0.1:$PEER_PORT" -servername localhost -CAfile "$C/ca.pem" \
	-sess_in "$T/sess.pem" -early_data "$T/early.req" -ign_eof </dev/null >"$T/sc.out" 2>"$T/sc.err"
rc=$?
conn_line
log=$(conn_log)
[ $rc -eq 0 ] && body_ok "$T/sc.out" && [[ $log == *"resumed=yes early_data=accepted"* ]] &&
	grep -q 'Reused, TLSv1.3' "$T/sc.out" && grep -q 'Early data was accepted' "$T/sc.out" &&
	[[ $LINE == *" ok "*"end=close_notify received"* ]]
result $? "s_client -sess_in -early_data: resumed, the 0-RTT request answered on kTLS" "$T/sc.out" "$T/sc.err"

# The ticket itself arrives on kTLS: the kernel decrypts the NewSessionTicket
# and the client's tls_post turns it into a session (tls_post_ticket_recv).
printf "$REQ" | timeout 30 "$PEER" client "127.0.0.1:$PEER_PORT" --ktls --ca "$C/ca.pem" --servername localhost \
	--sess-out "$T/peer.sess" >/dev/null 2>"$T/pc.err"
conn_line
timeout 30 "$PEER" client "127.0.0.1:$PEER_PORT" --ktls --ca "$C/ca.pem" --servername localhost \
	--sess-in "$T/peer.sess" --early "$T/early.req" </dev/null >"$T/pc.out" 2>"$T/pc.err"
rc=$?
conn_line
log=$(conn_log)
[ $rc -eq 0 ] && body_ok "$T/pc.out" && grep -q 'client resumed=yes early_data=accepted' "$T/pc.err" &&
	[[ $log == *"resumed=yes early_data=accepted"* ]] && [[ $LINE == *" ok "*"end=close_notify received"* ]]
result $? "peer client --ktls: ticket taken on kTLS, then --sess-in --early resumed, 0-RTT accepted, both ends on kTLS" "$T/pc.err"

# 8. RFC 8449: our client offers record_size_limit 1024. On >= 6.19 our
# server caps its kernel's TX records (TLS_TX_MAX_PAYLOAD_LEN = 1023, read
# back by getsockopt and sock_diag) and the sendfile body arrives intact.
# The wire check is our userspace client: its engine aborts with
# record_overflow on any record over 1024 + 16 bytes. Before 6.19 the
# server refuses the hand-off with an internal_error alert sealed in
# userspace before installing any key, and says why.
kv=$(uname -r | awk -F. '{ print $1 * 1000 + $2 }')
RSL_MSG='peer record_size_limit 1024: record_size_limit needs Linux 6.19'
for mode in --ktls userspace; do
	kflag=$([ $mode = --ktls ] && echo --ktls)
	printf "$REQ" | timeout 30 "$PEER" client "127.0.0.1:$PEER_PORT" $kflag --record-limit 1024 \
		--ca "$C/ca.pem" --servername localhost >"$T/pc.out" 2>"$T/pc.err"
	rc=$?
	conn_line
	log=$(conn_log)
	if [ "$kv" -ge 6019 ]; then
		[ $rc -eq 0 ] && body_ok "$T/pc.out" && [[ $LINE == *" ok "*"end=close_notify received"* ]] &&
			[[ $log == *"ktls tx_max_payload=1023 (peer record_size_limit 1024)"* ]] &&
			[[ $log == *"max_payload=1023"* ]] && grep -q 'end=close_notify received' "$T/pc.err"
		result $? "peer client ${mode#--} --record-limit 1024 <- peer server --ktls: kernel records capped at 1023 (getsockopt+diag), 1 MiB sendfile intact$([ $mode = userspace ] && echo ', every record within the limit')" "$T/pc.err"
	else
		# A kTLS client may find the connection already closed by the time
		# it installs its keys (ENOTCONN); the userspace one reads the alert.
		[ $rc -ne 0 ] && { grep -q 'alert internal_error received' "$T/pc.err" ||
			{ [ $mode = --ktls ] && grep -q 'not connected' "$T/pc.err"; }; } &&
			! grep -qaF 'HTTP/1.0 200' "$T/pc.out" &&
			[[ $LINE == *"failed: kTLS: $RSL_MSG"* ]] && [[ $log == *"kTLS hand-off refused: $RSL_MSG"* ]]
		result $? "peer client ${mode#--} --record-limit 1024 <- peer server --ktls on $(uname -r): hand-off refused ('record_size_limit needs Linux 6.19'), internal_error alert" "$T/pc.err"
	fi
done
stop_peer_server

# 7. Our client on kTLS against openssl s_server -WWW (files from $T), each
# cipher: 1 MiB through kTLS RX, s_server's tickets arrive as handshake
# records and become saved sessions; with --keyupdate s_server answers.
pushd "$T" >/dev/null || exit 1
start_s_server s_server -cert "$C/p256.pem" -key "$C/p256.key" -WWW -ciphersuites "$(echo $CIPHERS | tr ' ' :)"
popd >/dev/null || exit 1
if [ -z "${SPORT:-}" ]; then
	ok 1 "openssl s_server -WWW starts"
else
	WWW_HEAD=$(printf 'HTTP/1.0 200 ok\r\nContent-type: text/plain\r\n\r\n' | wc -c)
	good=0 bad=""
	for cs in $CIPHERS; do
		rm -f "$T/www.sess"
		printf 'GET /big HTTP/1.0\r\n\r\n' | timeout 30 "$PEER" client "127.0.0.1:$SPORT" --ktls \
			--ciphers "$cs" --ca "$C/ca.pem" --servername localhost --sess-out "$T/www.sess" \
			>"$T/pc.out" 2>"$T/pc.err"
		if [ $? -eq 0 ] && body_ok "$T/pc.out" "HTTP/1.0 200 ok" "$WWW_HEAD" &&
			grep -q "ktls $cs tx+rx installed" "$T/pc.err" && [ -s "$T/www.sess" ]; then
			good=$((good + 1))
		else
			bad="$bad $cs"
			diag "$T/pc.err"
		fi
	done
	[ $good = $NCIPHERS ]
	ok $? "peer client --ktls <- s_server -WWW: 1 MiB per cipher, tickets saved from kTLS ($good/$NCIPHERS${bad:+, failed:$bad})"
	printf 'GET /big HTTP/1.0\r\n\r\n' | timeout 30 "$PEER" client "127.0.0.1:$SPORT" --ktls --keyupdate \
		--ca "$C/ca.pem" --servername localhost >"$T/pc.out" 2>"$T/pc.err"
	rc=$?
	if [ $REKEY = 1 ]; then
		[ $rc -eq 0 ] && body_ok "$T/pc.out" "HTTP/1.0 200 ok" "$WWW_HEAD" &&
			grep -q 'ku_tx=1 ku_rx=1 end=' "$T/pc.err"
		result $? "peer client --ktls --keyupdate <- s_server: s_server's KeyUpdate re-keys our RX" "$T/pc.err"
	else
		[ $rc -ne 0 ] && grep -q 'TLS 1.3 rekey needs Linux 6.14' "$T/pc.err"
		result $? "peer client --ktls --keyupdate <- s_server on $(uname -r): refused clearly" "$T/pc.err"
	fi
	stop "$SPID"
fi
echo "# peer_ktls took ${SECONDS}s"
finish
