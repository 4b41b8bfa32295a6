#!/usr/bin/env bash
# handshaked's client role on the running kernel (in the VM on >= 6.14 and
# on 6.12): `tests/peer client --handoff` hands a connected socket to the
# daemon (hs_client_connect), which runs the client handshake, installs
# kTLS and keeps the server's tickets (NewSessionTickets read by hs_recv
# come back with STORE_TICKET) in its cache.
#  - openssl s_server -tls1_3 -early_data -num_tickets 2: a full handshake
#    with data both ways; the second connect resumes from the daemon's
#    cache and sends 0-RTT (s_server prints the early data)
#  - ALPN offered and chosen
#  - a server whose certificate the daemon's CA does not know: FAILED tls
#    with unknown_ca
#  - gnutls-serv: full, then resumed from the cache
WAIT_SECONDS=${WAIT_SECONDS:-30}  # TCG is slow
. "$(dirname "$0")/../tests/tcp/lib.sh"
. "$ROOT/kselftest/lib/daemon.bash"
ktls_or_skip "handshaked client role"
require openssl
require gnutls-serv
need_built handshaked
C=$CERTS
echo "# Linux $(uname -r)"

# start_s_server_held NAME ARGS...: as start_s_server, but with a stdin
# that never ends (s_server closes its connection at stdin's EOF).
start_s_server_held() {
	local name=$1 fd
	shift
	mkfifo "$T/$name.in"
	exec {fd}<>"$T/$name.in"   # held open by us: no EOF for s_server
	bg "$name" bash -c 'exec openssl s_server -accept 127.0.0.1:0 "$@" <"$0"' "$T/$name.in" "$@"
	SPID=$LAST_PID
	wait_for "$T/$name.out" '^ACCEPT' "$SPID" || {
		diag "$T/$name.out" "$T/$name.err"
		return 1
	}
	SPORT=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$T/$name.out")
}

# pc PORT ARGS...: our client through the daemon, stdin from $IN.
pc() {
	local port=$1
	shift
	timeout 30 "$PEER" client --handoff "$T/d.sock" "127.0.0.1:$port" --servername localhost "$@" \
		<"$IN" >"$T/pc.out" 2>"$T/pc.err"
}

# Tickets come back after the hand-back (STORE_TICKET): wait until the
# daemon has n of them stored in all.
stored() {
	local n=$1 i
	for ((i = 0; i < WAIT_SECONDS * 50; i++)); do
		[ "$(grep -c 'event=ticket_stored ' "$T/daemon.err")" -ge "$n" ] && return 0
		sleep 0.02
	done
	return 1
}

result() {
	local st=$1 name=$2
	shift 2
	ok "$st" "$name"
	[ "$st" -eq 0 ] && return
	diag "$@" "$T/pc.err" "$T/daemon.err"
}

start_daemon "$T/d.sock" "$T/daemon.err" --cert "$C/p256.pem" --key "$C/p256.key" \
	--client-ca-file "$C/ca.pem" --log-level debug || { ok 1 "handshaked starts"; finish; exit; }
ok 0 "handshaked --client-ca-file starts (pid $DPID)"

IN=$T/in
EARLY=$T/early
printf 'hello-full\n' >"$IN"
printf 'early-hello\n' >"$EARLY"

# 1-3. openssl s_server with 0-RTT and two tickets per handshake.
start_s_server_held s1 -tls1_3 -early_data -num_tickets 2 -cert "$C/p256.pem" -key "$C/p256.key" ||
	{ ok 1 "openssl s_server -early_data starts"; finish; exit; }
pc "$SPORT" --ca "$C/ca.pem" --early "$EARLY"
rc=$?
[ $rc -eq 0 ] && grep -q 'client handoff done: ktls tx=yes rx=yes' "$T/pc.err" &&
	grep -q 'client resumed=no early_data=none' "$T/pc.err" &&
	wait_for "$T/s1.out" 'hello-full' && wait_for "$T/s1.out" 'early-hello' && stored 2
result $? "s_server: full handshake verified against [client] ca_file, kTLS both ways, data (early bytes resent), 2 tickets stored" "$T/s1.out"

printf 'after-early\n' >"$IN"
pc "$SPORT" --ca "$C/ca.pem" --early "$EARLY"
rc=$?
[ $rc -eq 0 ] && grep -q 'client resumed=yes early_data=accepted' "$T/pc.err" &&
	wait_for "$T/s1.out" 'End of early data' && wait_for "$T/s1.out" 'after-early' &&
	[ "$(grep -c 'early-hello' "$T/s1.out")" -ge 2 ]
result $? "s_server: second connect resumes from the daemon's cache, 0-RTT accepted (s_server printed it)" "$T/s1.out"

grep -q 'event=handshake_ok role=client via=handoff peer=127.0.0.1:[0-9]* .*resumed=1 .*early=accepted' "$T/daemon.err"
result $? "the daemon logs the resumed connect with early=accepted"
stop "$SPID"

# 4. ALPN
start_s_server_held s2 -tls1_3 -alpn h2,http/1.1 -cert "$C/p256.pem" -key "$C/p256.key" ||
	{ ok 1 "openssl s_server -alpn starts"; finish; exit; }
printf 'alpn\n' >"$IN"
pc "$SPORT" --ca "$C/ca.pem" --alpn http/1.1
[ $? -eq 0 ] && grep -q 'alpn=http/1.1' "$T/pc.err"
result $? "ALPN: offered http/1.1, chosen by s_server" "$T/s2.out"
stop "$SPID"

# 5. Untrusted server certificate (signed by ca2)
start_s_server_held s3 -tls1_3 -cert "$C/other.pem" -key "$C/other.key" ||
	{ ok 1 "openssl s_server (other CA) starts"; finish; exit; }
pc "$SPORT" --ca "$C/ca.pem"
rc=$?
[ $rc -ne 0 ] && grep -q 'client failed: handoff: .*alert unknown_ca sent' "$T/pc.err" &&
	grep -q 'alert 48,' "$T/pc.err" &&
	grep -q 'event=handshake_failed role=client via=handoff .*reason=tls alert=unknown_ca alert_dir=sent' "$T/daemon.err"
result $? "untrusted server certificate: FAILED tls with unknown_ca" "$T/s3.out" "$T/s3.err"
stop "$SPID"

# 6-7. gnutls-serv (echo), full then resumed from the cache
start_on_free_port gs gnutls-serv --echo -p @PORT@ --x509certfile "$C/p256.pem" --x509keyfile "$C/p256.key" ||
	{ ok 1 "gnutls-serv starts"; finish; exit; }
n0=$(grep -c 'event=ticket_stored ' "$T/daemon.err")
printf 'echo-me\n' >"$IN"
pc "$SPORT" --ca "$C/ca.pem"
[ $? -eq 0 ] && grep -q 'client resumed=no' "$T/pc.err" && grep -q 'echo-me' "$T/pc.out" && stored $((n0 + 1))
result $? "gnutls-serv: full handshake, data echoed through kTLS, ticket stored" "$T/gs.err"
pc "$SPORT" --ca "$C/ca.pem"
[ $? -eq 0 ] && grep -q 'client resumed=yes' "$T/pc.err" && grep -q 'echo-me' "$T/pc.out"
result $? "gnutls-serv: resumed from the daemon's cache" "$T/gs.err"
stop "$SPID"

finish
