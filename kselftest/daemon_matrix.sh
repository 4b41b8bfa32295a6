#!/usr/bin/env bash
# The parameter matrix through handshaked (in the VM on >= 6.14 and on
# 6.12): real clients against `tests/peer server --handoff`, the daemon
# started from a config FILE written here (four certificates, client auth,
# ALPN, tickets, 0-RTT, --loops 2). What kselftest/daemon.sh already covers
# (each default cipher once, 0-RTT with the confirm step, KeyUpdate both
# ways) is not repeated. Each case checks the 128 KiB body byte for byte
# (it crosses kTLS: sendfile out, the request in through hs_recv) and the
# negotiated parameter in the application's hs_info line and the daemon's
# log line:
#  - s_client per cipher and per group: the config's `[server] ciphers` and
#    `groups` list all four ciphers and all eight groups, so those that are
#    no engine default (TLS_AES_128_CCM_SHA256, secp521r1, x448, ffdhe*) are
#    served too
#  - ALPN: the daemon's second choice; no overlap -> no_application_protocol
#  - SNI between alpha.test and beta.test; one name with ECDSA and RSA
#    certificates chosen by the client's signature_algorithms
#  - mTLS optional (without, with a certificate), then SIGHUP to required:
#    without -> certificate_required, unknown CA -> unknown_ca, RSA client ok
#  - gnutls-cli full then resumed (--resume); curl verifying the chain with
#    --tls13-ciphers
#  - a 0-RTT first flight captured and replayed: the 1st copy is accepted on
#    one loop, a copy that lands on the other loop (per-loop counters of
#    handshakectl stats --prometheus) is refused as 0-RTT: the handshake
#    goes on in 1-RTT (the server flight comes), the early GET is never
#    answered
#  - SIGHUP to shorter lists (ciphers AES-256 first, groups x25519 and
#    secp256r1, signature_algorithms rsa_pss_rsae_sha512 first): the
#    server's preferences pick the RSA certificate, AES-256 and sha512; a
#    key share for secp384r1 now gets an HRR; ChaCha20 is refused
#  - the stats: as many ok as served, none of them counted as aborted
WAIT_SECONDS=${WAIT_SECONDS:-30}  # TCG is slow
. "$(dirname "$0")/../tests/tcp/lib.sh"
. "$ROOT/kselftest/lib/daemon.bash"
ktls_or_skip "handshaked matrix"
require openssl
require gnutls-cli
require curl
need_built handshaked handshakectl

C=$CERTS
SIZE=131072
BIG=$T/big
head -c "$SIZE" /dev/urandom >"$BIG"
HEAD=$(printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n' "$SIZE" | wc -c)
REQ='GET / HTTP/1.0\r\n\r\n'
SOCK=$T/m.sock
CTL=$T/m.ctl
CONF=$T/handshaked.conf
DLOG=$T/daemon.log
echo "# Linux $(uname -r)"

# every group and cipher the engine has, so those off by default are served too
GROUPS_ON="x25519 secp256r1 secp384r1 secp521r1 x448 ffdhe2048 ffdhe3072 ffdhe4096"
CIPHERS_ON="TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256 TLS_AES_128_CCM_SHA256"
PREFS="groups = ${GROUPS_ON// /, }
ciphers = ${CIPHERS_ON// /,}"

# write_conf CLIENT_AUTH: the daemon's config file with $PREFS. p256 is the
# default certificate; rsa2048 has the same names (chosen by
# signature_algorithms).
write_conf() {
	cat >"$CONF" <<EOF
# kselftest/daemon_matrix.sh
[handoff]
path = $SOCK
[server]
cert = $C/p256.pem
key = $C/p256.key
cert = $C/rsa2048.pem
key = $C/rsa2048.key
cert = $C/alpha.pem
key = $C/alpha.key
cert = $C/beta.pem
key = $C/beta.key
alpn = h2,http/1.1
client_ca = $C/ca.pem
client_auth = $1
$PREFS
[tickets]
count = 2
[early_data]
max = 16384
[limits]
loops = 2
[control]
path = $CTL
EOF
}
write_conf optional
"$DAEMON" -t -c "$CONF" >"$T/check.out" 2>&1
result_t=$?
ok $result_t "handshaked -t -c FILE: the matrix's config file is valid"
[ $result_t -eq 0 ] || { diag "$T/check.out"; finish; exit; }
start_daemon "$SOCK" "$DLOG" -c "$CONF" --control "$CTL" ||
	{ ok 1 "handshaked -c FILE starts"; finish; exit; }
start_handoff_server "$SOCK" --file "$BIG" || { ok 1 "peer server --handoff starts"; finish; exit; }

# The per-case checks spawn no process (under TCG each costs 0.1-0.4 s):
# bash builtins only, a fifo nobody writes for short sleeps.
mkfifo "$T/nap"
exec {NAPFD}<>"$T/nap"
nap() { read -r -t "$1" -u "$NAPFD" _; return 0; }
slurp() { IFS= read -r -d '' "$1" <"$2"; return 0; }   # slurp VAR FILE (text)
# next_conn: the application's result line about the next connection
# (LINE), its address (ADDR) and all its lines (APP).
NCONN=0
next_conn() {
	local i l m n re='^peer: ([0-9.]+:[0-9]+) (ok|failed)'
	local -a L
	NCONN=$((NCONN + 1))
	for ((i = 0; i < WAIT_SECONDS * 20; i++)); do
		mapfile -t L <"$T/peer-server.log"
		n=0
		for l in "${L[@]}"; do
			[[ $l =~ $re ]] || continue
			n=$((n + 1))
			[ $n = $NCONN ] || continue
			LINE=$l ADDR=${BASH_REMATCH[1]} APP=""
			for m in "${L[@]}"; do
				[[ $m == "peer: $ADDR "* ]] && APP+=$m$'\n'
			done
			return 0
		done
		nap 0.05
	done
	LINE="(no line for connection $NCONN)" ADDR=none APP=""
	return 1
}
# daemon_line: the daemon's log line about ADDR's handshake (DLINE):
# "event=handshake_ok role=server via=handoff peer=ADDR ..." or
# "event=handshake_failed ...".
daemon_line() {
	local i l re="event=handshake_(ok|failed) role=server via=handoff peer=${ADDR//./\\.} "
	local -a L
	DLINE=""
	for ((i = 0; i < WAIT_SECONDS * 20; i++)); do
		mapfile -t L <"$DLOG"
		for l in "${L[@]}"; do
			[[ $l =~ $re ]] && DLINE=$l
		done
		[ -n "$DLINE" ] && return 0
		nap 0.05
	done
	return 1
}
WANT_OK=0   # handshakes the daemon must count as ok
# The answer to $REQ, byte for byte (tests/peer's header, then $BIG).
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n' "$SIZE" >"$T/answer"
cat "$BIG" >>"$T/answer"

result() {
	local st=$1 name=$2
	shift 2
	ok "$st" "$name"
	[ "$st" -eq 0 ] && return
	echo "# application: ${LINE:-}"
	echo "# daemon: ${DLINE:-}"
	diag "$@" "$T/peer-server.log" "$DLOG"
	return 1
}

# [DELAY=S] sc NAME ARGS...: s_client to server name NAME (verified) sends
# $REQ (S seconds after the start).
sc() {
	local name=$1
	shift
	{ [ -z "${DELAY:-}" ] || nap "$DELAY"; printf "$REQ"; } | timeout 30 openssl s_client -connect "127.0.0.1:$PEER_PORT" -quiet -CAfile "$C/ca.pem" \
		-verify_return_error -servername "$name" -verify_hostname "$name" "$@" >"$T/sc.out" 2>"$T/sc.err"
}

# [CN=LEAF] served TITLE APP DAEMON NAME ARGS...: s_client ARGS gets the
# answer intact; the application's line (hs_info) matches "ok APP" and the
# daemon's handshake_ok line "... DAEMON" after the peer (glob patterns,
# key=value); with CN, s_client
# verified the leaf CN=LEAF.
served() {
	local title=$1 app=$2 dmn=$3 rc err
	shift 3
	WANT_OK=$((WANT_OK + 1))
	sc "$@"
	rc=$?
	next_conn
	daemon_line
	slurp err "$T/sc.err"
	[ $rc -eq 0 ] && cmp -s "$T/sc.out" "$T/answer" && [[ $LINE == *" ok "$app*"end=close_notify received"* ]] &&
		[[ $DLINE == *"event=handshake_ok "*" "$dmn* ]] && { [ -z "${CN:-}" ] || [[ $err == *"depth=0 CN = $CN"$'\n'* ]]; }
	result $? "$title" "$T/sc.err" || echo "# s_client exit $rc"
}

# refused TITLE ALERT NAME ARGS...: s_client gets ALERT (its text in
# s_client's error), nothing of the answer; the application's hand-off
# fails with the alert, and the daemon says it sent it.
refused() {
	local title=$1 alert=$2 err out
	shift 2
	sc "$@"
	next_conn
	daemon_line
	slurp err "$T/sc.err"
	slurp out "$T/sc.out"
	[[ ${err,,} == *"alert ${alert//_/ }"* ]] && [[ $out != *"HTTP/1.0 200"* ]] &&
		[[ $LINE == *" failed: handoff: tls: alert $alert sent"* ]] &&
		[[ $DLINE == *"event=handshake_failed "*" reason=tls alert=$alert alert_dir=sent "* ]]
	result $? "$title" "$T/sc.err"
}

# 1. Ciphers (the default three at 1 MiB in daemon.sh too).
for cs in $CIPHERS_ON; do
	served "s_client -ciphersuites $cs: served, answer intact" "$cs x25519 " "cipher=$cs group=x25519 " \
		localhost -ciphersuites "$cs"
done

# 2. Groups: the client offers one group and sends its key share.
for g in $GROUPS_ON; do
	served "s_client -groups $g: key exchange on $g, no HRR" "TLS_AES_128_GCM_SHA256 $g *hrr=0 " \
		"*group=$g *hrr=0 " localhost -groups "$g"
done

# 4. ALPN: the daemon's preference (h2,http/1.1) against the client's list.
served "ALPN: s_client offers foo,http/1.1, the daemon chose http/1.1" "*alpn=http/1.1 " "*alpn=http/1.1 " \
	localhost -alpn foo,http/1.1
refused "ALPN: no overlap (foo): no_application_protocol" no_application_protocol localhost -alpn foo

# 5. Certificate selection by SNI (s_client verifies the name, and says
# which leaf came), and for one name by signature_algorithms.
for n in alpha beta; do
	CN=$n served "SNI $n.test: the $n certificate" "*sni=$n.test " "*sni=$n.test " $n.test
done
CN=rsa2048 served "signature_algorithms rsa_pss_rsae_sha256 only: the RSA certificate for localhost" \
	"*sig=rsa_pss_rsae_sha256 " "*sni=localhost " localhost -sigalgs rsa_pss_rsae_sha256
CN=p256 served "signature_algorithms ecdsa_secp256r1_sha256 only: the ECDSA certificate for localhost" \
	"*sig=ecdsa_secp256r1_sha256 " "*sni=localhost " localhost -sigalgs ecdsa_secp256r1_sha256

# 6. mTLS optional: without and with a certificate (hs_info's peer id is
# the certificate's SHA-256; the daemon logs client_cert=yes).
fp() { openssl x509 -in "$1" -outform DER | sha256sum | cut -c1-8; }
FP_CLIENT=$(fp "$C/client.pem")
FP_RSA=$(fp "$C/client-rsa.pem")
served "client_auth optional, no client certificate: served, no peer identity" "*peer_cert=none " \
	"*early=none" localhost
[[ $DLINE != *client_cert=yes* ]] || ok 1 "no client certificate, yet the daemon logged client_cert=yes"
served "client_auth optional, a client certificate: verified, its SHA-256 in hs_info" \
	"*peer_cert=sha256:$FP_CLIENT " "* client_cert=yes" localhost -cert "$C/client.pem" -key "$C/client.key"

# 7. gnutls-cli: a full handshake, then --resume reconnects with its ticket
# and sends the request.
printf "$REQ" | timeout 30 gnutls-cli -p "$PEER_PORT" 127.0.0.1 --x509cafile "$C/ca.pem" \
	--sni-hostname localhost --verify-hostname localhost --resume >"$T/gc.out" 2>"$T/gc.err"
rc=$?
WANT_OK=$((WANT_OK + 2))
next_conn
daemon_line
full=$LINE dfull=$DLINE
next_conn
daemon_line
slurp gerr "$T/gc.err"
[ $rc -eq 0 ] && [[ $full == *" ok "* ]] && [[ $dfull == *"event=handshake_ok "*" resumed=0 "* ]] &&
	grep -aq '^\*\*\* This is a resumed session' "$T/gc.out" && body_ok "$T/gc.out" &&
	[[ $LINE == *" ok "* ]] && [[ $APP == *" resumed=yes "* ]] && [[ $DLINE == *"event=handshake_ok "*" resumed=1 "* ]]
result $? "gnutls-cli --resume: full handshake, then resumed with the daemon's ticket, answer intact" \
	"$T/gc.out" "$T/gc.err"

# 8. curl: chain and name verified, HTTP/1.1 offered by ALPN, ChaCha20.
timeout 30 curl -sS --cacert "$C/ca.pem" --http1.1 --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256 \
	"https://localhost:$PEER_PORT/" -o "$T/curl.out" 2>"$T/curl.err"
rc=$?
WANT_OK=$((WANT_OK + 1))
next_conn
daemon_line
[ $rc -eq 0 ] && cmp -s "$T/curl.out" "$BIG" &&
	[[ $LINE == *" ok TLS_CHACHA20_POLY1305_SHA256 "*" alpn=http/1.1 "* ]] &&
	[[ $DLINE == *"event=handshake_ok "*" cipher=TLS_CHACHA20_POLY1305_SHA256 "*" alpn=http/1.1 "* ]]
result $? "curl --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256 --http1.1: verified, body intact" "$T/curl.err"

# 9. A 0-RTT first flight replayed across the two loops: s_client's first
# flight (ClientHello + 0-RTT GET) is captured by kselftest/lib/replay0rtt.py,
# never reaching the daemon, then sent raw: the 1st copy is accepted (early
# hand-back, the GET answered without any client Finished); later copies
# are replays of the same ClientHello, sent until one lands on the other
# loop than the 1st (handshakectl's per-loop counters): the recorder is
# shared by the loops, so that one must be refused as 0-RTT too.
sc localhost -sess_out "$T/sess.pem"
rc=$?
WANT_OK=$((WANT_OK + 1))
next_conn
[ $rc -eq 0 ] && [ -s "$T/sess.pem" ] && cmp -s "$T/sc.out" "$T/answer"
result $? "s_client -sess_out: a ticket from the daemon" "$T/sc.err"
printf "$REQ" >"$T/early.req"
coproc REPLAY { /usr/bin/python3 "$ROOT/kselftest/lib/replay0rtt.py" "$T/flight" "$PEER_PORT" "$SIZE" \
	"$BUILD/handshakectl" "$CTL" 5 2>"$T/replay.err"; }
rp_pid=$REPLAY_PID  # bash unsets REPLAY_PID when the coproc ends
PIDS+=("$rp_pid")
exec {RP}<&"${REPLAY[0]}"
read -r -t 60 -u "$RP" _ cport
timeout 30 openssl s_client -connect "127.0.0.1:${cport:-0}" -servername localhost -sess_in "$T/sess.pem" \
	-early_data "$T/early.req" </dev/null >"$T/capture.out" 2>&1
read -r -t 60 -u "$RP" what bytes
[ "$what" = captured ]
result $? "captured s_client's first flight with 0-RTT (${bytes:-no} bytes)" "$T/replay.err" "$T/capture.out"
first="" other=no
while read -r -t 60 -u "$RP" _ i _ port _ loop _ got; do
	next_conn
	if [ "$i" = 1 ]; then
		first=$loop
		[ "$got" -ge "$SIZE" ] && [ "$ADDR" = "127.0.0.1:$port" ] && [ "$loop" != "?" ] &&
			[[ $APP == *" resumed=yes early_data=accepted"* ]] &&
			[[ $APP == *" handoff done: ktls tx=yes rx=no(unconfirmed)"* ]]
		result $? "replay, 1st copy on loop $loop: 0-RTT accepted, the early GET answered ($got bytes)" "$T/replay.err"
		continue
	fi
	# refused as 0-RTT: the server flight comes (the handshake goes on in
	# 1-RTT, no alert), no answer to the GET; the hand-off fails since no
	# client Finished ever comes
	[ "$got" -gt 64 ] && [ "$got" -lt 16384 ] && [ "$ADDR" = "127.0.0.1:$port" ] && [ "$loop" != "?" ] &&
		[[ $LINE == *" failed: handoff: "* ]] && [[ $APP != *early_data=accepted* ]]
	result $? "replay, copy $i on loop $loop: 0-RTT refused, only the server flight ($got bytes), the GET never answered" \
		"$T/replay.err"
	[ "$loop" != "?" ] && [ "$loop" != "$first" ] && other=yes
done
exec {RP}<&-
wait "$rp_pid"
[ $other = yes ]
result $? "a replayed copy landed on the other loop than the 1st (loop $first) and was refused there" "$T/replay.err"

# 10. SIGHUP to client_auth require: no certificate -> certificate_required,
# a certificate from an unknown CA -> unknown_ca, an RSA client certificate
# from the trusted CA -> served.
# reload_conf CLIENT_AUTH: write_conf, SIGHUP, wait for the daemon's word.
reload_conf() {
	local i l n_rel reloaded=no
	mapfile -t L <"$DLOG"
	n_rel=${#L[@]}
	write_conf "$1"
	kill -HUP "$DPID"
	for ((i = 0; i < WAIT_SECONDS * 20; i++)); do
		mapfile -t L <"$DLOG"
		for l in "${L[@]:n_rel}"; do
			[[ $l == *"event=reloaded "* ]] && reloaded=yes
		done
		[ $reloaded = yes ] && break
		nap 0.05
	done
	[ $reloaded = yes ]
}
reload_conf require
result $? "SIGHUP: the config file now says client_auth = require"
# The verdict comes after the client's whole flight: a request sent at once
# is still unread when the daemon closes after its alert (no draining), and
# the kernel's RST may reach s_client before the alert; so it waits 1 s.
DELAY=1 refused "client_auth require, no client certificate: certificate_required" certificate_required localhost
DELAY=1 refused "client_auth require, a client certificate from an unknown CA: unknown_ca" unknown_ca localhost \
	-cert "$C/client-ca2.pem" -key "$C/client-ca2.key"
served "client_auth require, an RSA client certificate: verified, its SHA-256 in hs_info" \
	"*peer_cert=sha256:$FP_RSA " "* client_cert=yes" localhost -cert "$C/client-rsa.pem" -key "$C/client-rsa.key"

# 11. SIGHUP to shorter preference lists: the new handshakes follow them.
# Both certificates for localhost: p256 cannot sign with any listed scheme,
# so rsa2048 comes, signing with the server's first choice (sha512, where
# the default list would take sha256).
PREFS="groups = x25519,secp256r1
ciphers = TLS_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256
signature_algorithms = rsa_pss_rsae_sha512,rsa_pss_rsae_sha256"
reload_conf none
result $? "SIGHUP: [server] ciphers, groups, signature_algorithms now shorter"
CN=rsa2048 served "after the reload: the server's preferences: AES-256, x25519, rsa_pss_rsae_sha512 (RSA certificate)" \
	"TLS_AES_256_GCM_SHA384 x25519 sig=rsa_pss_rsae_sha512 " "cipher=TLS_AES_256_GCM_SHA384 group=x25519 " localhost
served "after the reload: s_client's key share for secp384r1 (no longer listed), the daemon asks for x25519 (HRR)" \
	"TLS_AES_256_GCM_SHA384 x25519 *hrr=1 " "*group=x25519 *hrr=1 " localhost -groups secp384r1:x25519
refused "after the reload: s_client -ciphersuites TLS_CHACHA20_POLY1305_SHA256 (no longer listed): handshake_failure" \
	handshake_failure localhost -ciphersuites TLS_CHACHA20_POLY1305_SHA256

# 12. The application closes its handoff connection right after each
# DONE (libhandshake does): finished handshakes must not count as aborted.
aborted=$(metric 'handshaked_handshakes_total{result="aborted",reason=""}')
okd=$(metric 'handshaked_handshakes_total{result="ok",reason=""}')
mapfile -t L <"$DLOG"
n_ab=0
for l in "${L[@]}"; do [[ $l == *"event=handshake_aborted "* ]] && n_ab=$((n_ab + 1)); done
[ "${aborted:-x}" = 0 ] && [ $n_ab = 0 ] && [ "${okd:-x}" = $WANT_OK ]
result $? "handshakectl stats: ${okd:-?} ok (want $WANT_OK), ${aborted:-?} aborted, $n_ab 'aborted' log lines (want 0)"

stop_peer_server
echo "# daemon_matrix took ${SECONDS}s"
finish
