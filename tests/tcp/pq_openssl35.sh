#!/usr/bin/env bash
# The hybrid groups X25519MLKEM768 and SecP256r1MLKEM768 against OpenSSL 3.5
# (Debian trixie's, fetched into a private cache by tests/tcp/openssl-trixie
# and run with trixie's own loader and libraries): `openssl s_client`
# against our `peer server`, and our `peer client` against `openssl
# s_server`, each hybrid group, HelloRetryRequest in both directions (into
# a hybrid group, and from one hybrid group to the other), and the fallback
# to X25519 when one side has no hybrid group. Both sides' view of the
# group is checked: our peer's line, s_client's "Negotiated TLS1.3 group",
# and the ServerHello(s) in s_server's -trace.
. "$(dirname "$0")/lib.sh"
require openssl

C=$CERTS
if ! OSSL35=$("$ROOT/tests/tcp/openssl-trixie" 2>"$T/fetch.err"); then
	ok 1 "OpenSSL 3.5 from Debian trixie (tests/tcp/openssl-trixie)"
	diag "$T/fetch.err"
	finish
	exit
fi
version=$("$OSSL35" version 2>&1)
[[ $version == "OpenSSL 3."[5-9]* ]]
ok $? "trixie's openssl runs here with its own loader: $version"

HTTP_GET='GET / HTTP/1.0\r\n\r\n'

# ---- openssl s_client against our server ----

# sc NAME BODY_REGEX GROUP ARGS...: s_client gets our HTTP answer, whose
# body (what our server negotiated) matches BODY_REGEX, s_client reports
# GROUP as negotiated ("Negotiated TLS1.3 group: G" for a hybrid group,
# "Peer Temp Key: G" for a classical one), the chain verifies, and our
# server logs a clean connection.
sc() {
	local name=$1 body=$2 group=$3 line
	shift 3
	printf "$HTTP_GET" | timeout 10 "$OSSL35" s_client -connect "127.0.0.1:$PEER_PORT" -ign_eof \
		-CAfile "$C/ca.pem" -verify_return_error -servername localhost "$@" >"$T/sc.out" 2>&1
	local rc=$?
	conn_line; line=$LINE
	if [ $rc -eq 0 ] && grep -qE "^hello from handshaked peer: [A-Z0-9_]+ $body" "$T/sc.out" &&
		grep -qE "^(Negotiated TLS1.3 group: $group$|Peer Temp Key: $group,)" "$T/sc.out" &&
		grep -q 'Verify return code: 0 (ok)' "$T/sc.out" && [[ $line == *" ok "*"end=close_notify received"* ]]; then
		ok 0 "$name"
	else
		ok 1 "$name"
		echo "# exit status $rc; server: $line"
		diag "$T/sc.out"
	fi
}

# sc_refused NAME SERVER_REGEX ARGS...: no shared group, the handshake fails.
sc_refused() {
	local name=$1 server=$2 line
	shift 2
	printf "$HTTP_GET" | timeout 10 "$OSSL35" s_client -connect "127.0.0.1:$PEER_PORT" -ign_eof \
		-CAfile "$C/ca.pem" -servername localhost "$@" >"$T/sc.out" 2>&1
	conn_line; line=$LINE
	if [[ $line =~ $server ]] && grep -qi "alert handshake failure" "$T/sc.out" &&
		! grep -q '^hello from handshaked peer' "$T/sc.out"; then
		ok 0 "$name"
	else
		ok 1 "$name"
		echo "# server: $line"
		diag "$T/sc.out"
	fi
}

start_peer_server --cert "$C/p256.pem" --key "$C/p256.key" || { ok 1 "peer server starts"; finish; exit; }
sc "s_client 3.5 defaults (shares X25519MLKEM768, X25519): X25519MLKEM768, no HRR" \
	"X25519MLKEM768 .*hrr=0 " X25519MLKEM768
sc "s_client -groups X25519MLKEM768" "X25519MLKEM768 .*hrr=0 " X25519MLKEM768 -groups X25519MLKEM768
sc "s_client -groups x25519:X25519MLKEM768 (shares x25519): our HRR asks for X25519MLKEM768" \
	"X25519MLKEM768 .*hrr=1 " X25519MLKEM768 -groups x25519:X25519MLKEM768
sc_refused "default server (no SecP256r1MLKEM768): s_client -groups SecP256r1MLKEM768 -> handshake_failure" \
	"failed: alert handshake_failure sent" -groups SecP256r1MLKEM768
sc "the default server still serves after that" "X25519MLKEM768 .*hrr=0 " X25519MLKEM768
stop_peer_server

start_peer_server --cert "$C/p256.pem" --key "$C/p256.key" --groups SecP256r1MLKEM768,X25519MLKEM768,x25519 ||
	{ ok 1 "SecP256r1MLKEM768 server starts"; finish; exit; }
sc "server --groups SecP256r1MLKEM768,...: s_client -groups SecP256r1MLKEM768" \
	"SecP256r1MLKEM768 .*hrr=0 " SecP256r1MLKEM768 -groups SecP256r1MLKEM768
sc "s_client -groups X25519MLKEM768:SecP256r1MLKEM768 (shares X25519MLKEM768): our HRR asks for SecP256r1MLKEM768" \
	"SecP256r1MLKEM768 .*hrr=1 " SecP256r1MLKEM768 -groups X25519MLKEM768:SecP256r1MLKEM768
stop_peer_server

start_peer_server --cert "$C/p256.pem" --key "$C/p256.key" --groups x25519 ||
	{ ok 1 "x25519-only server starts"; finish; exit; }
sc "server --groups x25519: s_client 3.5 defaults fall back to their X25519 share, no HRR" "x25519 .*hrr=0 " X25519
stop_peer_server

# ---- our client against openssl s_server ----

printf "$HTTP_GET" >"$T/get"

# ss_group: the group of s_server's last ServerHello key_share and how many
# ServerHellos it sent (2: the first was a HelloRetryRequest), from -trace.
ss_group() {
	awk '/^ *ServerHello, Length=/ { n++; in_sh = 1; next }
	     /^(Sent|Received) TLS Record/ { in_sh = 0 }
	     in_sh && /NamedGroup:/ { g = $2 }
	     END { print g, n + 0 }' "$T/s_server.out"
}

# pc NAME OURS_REGEX GROUP HELLOS S_SERVER_ARGS -- CLIENT_ARGS: one s_server
# -www -trace for one connection and one `peer client`: a clean exit, our
# line matches OURS_REGEX, s_server's trace shows GROUP after HELLOS
# ServerHellos, and its page came back.
pc() {
	local name=$1 ours=$2 group=$3 hellos=$4 sargs=() rc got
	shift 4
	while [ "$1" != -- ]; do
		sargs+=("$1")
		shift
	done
	shift
	bg s_server "$OSSL35" s_server -accept 127.0.0.1:0 -naccept 1 -cert "$C/p256.pem" -key "$C/p256.key" \
		-www -trace "${sargs[@]}"
	SPID=$LAST_PID
	if ! wait_for "$T/s_server.out" '^ACCEPT' "$SPID"; then
		ok 1 "$name (s_server 3.5 starts)"
		diag "$T/s_server.out" "$T/s_server.err"
		return
	fi
	SPORT=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$T/s_server.out")
	timeout 10 "$PEER" client "127.0.0.1:$SPORT" --ca "$C/ca.pem" --servername localhost "$@" \
		<"$T/get" >"$T/pc.out" 2>"$T/pc.err"
	rc=$?
	wait "$SPID" 2>/dev/null # -naccept 1: it ends after our connection
	got=$(ss_group)
	if [ $rc -eq 0 ] && grep -qE -- "^peer: connected [A-Z0-9_]+ $ours" "$T/pc.err" &&
		grep -q 'end=close_notify received' "$T/pc.err" && grep -q '^New, TLSv1.3' "$T/pc.out" &&
		[ "$got" = "$group $hellos" ]; then
		ok 0 "$name"
	else
		ok 1 "$name"
		echo "# exit status $rc; s_server's trace: group, ServerHellos = $got"
		diag "$T/pc.err" "$T/s_server.err"
	fi
}

pc "our default client (shares X25519MLKEM768, X25519) against s_server 3.5 defaults: X25519MLKEM768" \
	"X25519MLKEM768 .*hrr=0 " X25519MLKEM768 1 --
pc "--groups X25519MLKEM768 against s_server -groups X25519MLKEM768" \
	"X25519MLKEM768 .*hrr=0 " X25519MLKEM768 1 -groups X25519MLKEM768 -- --groups X25519MLKEM768
pc "--groups SecP256r1MLKEM768 against s_server -groups SecP256r1MLKEM768" \
	"SecP256r1MLKEM768 .*hrr=0 " SecP256r1MLKEM768 1 -groups SecP256r1MLKEM768 -- --groups SecP256r1MLKEM768
pc "HRR from X25519MLKEM768 to SecP256r1MLKEM768: we share X25519MLKEM768 and X25519, s_server wants SecP256r1MLKEM768" \
	"SecP256r1MLKEM768 .*hrr=1 " SecP256r1MLKEM768 2 -groups SecP256r1MLKEM768 -- \
	--groups X25519MLKEM768,x25519,SecP256r1MLKEM768
pc "HRR into a hybrid group: we share P-256 only, s_server wants SecP256r1MLKEM768" \
	"SecP256r1MLKEM768 .*hrr=1 " SecP256r1MLKEM768 2 -groups SecP256r1MLKEM768 -- \
	--groups secp256r1,SecP256r1MLKEM768
pc "HRR into X25519MLKEM768: s_server -groups X25519MLKEM768, we share P-256 (--groups P-256,X25519MLKEM768 shares it first)" \
	"X25519MLKEM768 .*hrr=1 " X25519MLKEM768 2 -groups X25519MLKEM768 -- --groups secp256r1,X25519MLKEM768
pc "s_server -groups x25519 (no hybrid): our default client uses its X25519 share, no HRR" \
	"x25519 .*hrr=0 " ecdh_x25519 1 -groups x25519 --

finish
