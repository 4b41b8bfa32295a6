#!/usr/bin/env bash
# Our `peer server` against `gnutls-cli`: each cipher, group and signature
# scheme by priority string (AES-128-CCM, SECP521R1, X448 and FFDHE* on a
# server that lists them; AES-128-CCM-8 refused), ALPN, SNI, client
# certificates, KeyUpdate (^rekey^ / ^rekey1^ inline commands) and a TLS
# 1.2-only client.
. "$(dirname "$0")/lib.sh"
require gnutls-cli

C=$CERTS
TLS13='NORMAL:-VERS-ALL:+VERS-TLS1.3'

# gc INPUT ARGS...: one gnutls-cli connection to our server, output in $T/gc.out.
# gnutls-cli sends close_notify at the end of its input and then reads on
# until we close (TLS 1.3 half-close).
gc() {
	local input=$1
	shift
	printf "$input" | timeout 10 gnutls-cli -p "$PEER_PORT" 127.0.0.1 --x509cafile "$C/ca.pem" "$@" \
		>"$T/gc.out" 2>&1
}

# check NAME BODY_REGEX CLIENT_REGEX ARGS...: gnutls-cli verifies us, gets the
# HTTP answer whose body (our side's view) matches BODY_REGEX, and its own
# report matches CLIENT_REGEX.
check() {
	local name=$1 body=$2 client=$3
	shift 3
	gc 'GET / HTTP/1.0\r\n\r\n' "$@"
	local rc=$?
	conn_line
	if [ $rc -eq 0 ] && grep -qE "^hello from handshaked peer: (.* )?($body)" "$T/gc.out" &&
		grep -qE -- "$client" "$T/gc.out" && grep -q 'The certificate is trusted' "$T/gc.out" &&
		[[ $LINE == *" ok "* ]]; then
		ok 0 "$name"
	else
		ok 1 "$name"
		echo "# server: $LINE"
		diag "$T/gc.out"
	fi
}

refused() {
	local name=$1 server=$2 client=$3
	shift 3
	gc 'GET / HTTP/1.0\r\n\r\n' "$@"
	conn_line
	if [[ $LINE =~ $server ]] && grep -qiE -- "$client" "$T/gc.out" &&
		! grep -q '^hello from handshaked peer' "$T/gc.out"; then
		ok 0 "$name"
	else
		ok 1 "$name"
		echo "# server: $LINE"
		diag "$T/gc.out"
	fi
}

start_peer_server --cert "$C/p256.pem" --key "$C/p256.key" --cert "$C/p384.pem" --key "$C/p384.key" \
	--cert "$C/rsa2048.pem" --key "$C/rsa2048.key" --cert "$C/ed25519.pem" --key "$C/ed25519.key" \
	--cert "$C/alpha.pem" --key "$C/alpha.key" --alpn h2,http/1.1 ||
	{ ok 1 "peer server starts"; finish; exit; }
NAME=(--sni-hostname localhost --verify-hostname localhost)

for c in "AES-128-GCM TLS_AES_128_GCM_SHA256" "AES-256-GCM TLS_AES_256_GCM_SHA384" \
	"CHACHA20-POLY1305 TLS_CHACHA20_POLY1305_SHA256"; do
	set -- $c
	check "gnutls-cli +$1" "$2 " "-\($1\)$" "${NAME[@]}" --priority "$TLS13:-CIPHER-ALL:+$1"
done
for g in "X25519 x25519" "SECP256R1 secp256r1" "SECP384R1 secp384r1"; do
	set -- $g
	check "gnutls-cli +GROUP-$1" "$2 " "\(ECDHE-$1\)" "${NAME[@]}" --priority "$TLS13:-GROUP-ALL:+GROUP-$1"
done
for s in "ECDSA-SECP256R1-SHA256 ecdsa_secp256r1_sha256" "ECDSA-SECP384R1-SHA384 ecdsa_secp384r1_sha384" \
	"RSA-PSS-RSAE-SHA256 rsa_pss_rsae_sha256" "RSA-PSS-RSAE-SHA384 rsa_pss_rsae_sha384" \
	"RSA-PSS-RSAE-SHA512 rsa_pss_rsae_sha512" "EDDSA-ED25519 ed25519"; do
	set -- $s
	check "gnutls-cli +SIGN-$1" "sig=$2 " "X.509\)-\(ECDHE" "${NAME[@]}" --priority "$TLS13:-SIGN-ALL:+SIGN-$1"
done
check "ALPN h2" "alpn=h2 " "Application protocol: h2" "${NAME[@]}" --alpn h2
check "ALPN server preference (http/1.1,h2 -> h2)" "alpn=h2 " "Application protocol: h2" "${NAME[@]}" \
	--alpn http/1.1 --alpn h2
refused "ALPN without overlap -> no_application_protocol" "failed: alert no_application_protocol sent" \
	"No supported application protocol|no_application_protocol|application protocol" "${NAME[@]}" --alpn foo
check "SNI alpha.test selects the alpha certificate" "sni=alpha.test " "trusted" \
	--sni-hostname alpha.test --verify-hostname alpha.test
check "SNI disabled: default certificate, verified by IP" "sni=none " "trusted" --disable-sni
refused "TLS 1.2-only gnutls-cli -> protocol_version" "failed: alert protocol_version sent" \
	"protocol version|Fatal error" "${NAME[@]}" --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2'

# KeyUpdate from gnutls: ^rekey^ asks us to update too, ^rekey1^ does not.
# The inline command runs between the two data lines it separates.
for cmd in rekey rekey1; do
	gc "GET / HTTP/1.0\r\n^$cmd^\n\r\n" "${NAME[@]}" --inline-commands
	conn_line
	want="ku_tx=1 ku_rx=1 "
	[ $cmd = rekey1 ] && want="ku_tx=0 ku_rx=1 "
	grep -q 'Rekey was completed' "$T/gc.out" && [[ $LINE == *"$want"* ]]
	ok $? "gnutls-cli ^$cmd^: our server logs $want"
	[[ $LINE == *"$want"* ]] || { echo "# server: $LINE"; diag "$T/gc.out"; }
done
# Our KeyUpdate(update_requested) before the answer: gnutls-cli decrypts the
# answer under the new key. (GnuTLS, like OpenSSL, answers the request with
# its next write, and gnutls-cli writes nothing more here; answers are
# checked above with ^rekey^ and in tests/unit/interop_openssl.)
gc 'GET /keyupdate HTTP/1.0\r\n\r\n' "${NAME[@]}"
conn_line
grep -q '^hello from handshaked peer' "$T/gc.out" && [[ $LINE == *" ok "*"ku_tx=1 "* ]]
ok $? "GET /keyupdate: gnutls-cli reads our answer after our KeyUpdate(update_requested)"
[[ $LINE == *"ku_tx=1 "* ]] || { echo "# server: $LINE"; diag "$T/gc.out"; }
stop_peer_server

# The opt-in cipher and groups, on a server that lists them.
start_peer_server --cert "$C/p256.pem" --key "$C/p256.key" \
	--ciphers TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384,TLS_CHACHA20_POLY1305_SHA256,TLS_AES_128_CCM_SHA256 \
	--groups x25519,secp521r1,x448,ffdhe2048,ffdhe3072,ffdhe4096 || { ok 1 "opt-in server starts"; finish; exit; }
check "gnutls-cli +AES-128-CCM" "TLS_AES_128_CCM_SHA256 " "-\(AES-128-CCM\)$" "${NAME[@]}" \
	--priority "$TLS13:-CIPHER-ALL:+AES-128-CCM"
refused "gnutls-cli +AES-128-CCM-8 -> handshake_failure" "failed: alert handshake_failure sent" \
	"Fatal error|handshake failure" "${NAME[@]}" --priority "$TLS13:-CIPHER-ALL:+AES-128-CCM-8"
for g in "SECP521R1 secp521r1 ECDHE" "X448 x448 ECDHE" "FFDHE2048 ffdhe2048 DHE" "FFDHE3072 ffdhe3072 DHE" \
	"FFDHE4096 ffdhe4096 DHE"; do
	set -- $g
	check "gnutls-cli +GROUP-$1" "$2 " "\($3-$1\)" "${NAME[@]}" --priority "$TLS13:-GROUP-ALL:+GROUP-$1"
done
stop_peer_server

# Client certificates.
start_peer_server --cert "$C/p256.pem" --key "$C/p256.key" --client-ca "$C/ca.pem" --client-auth require ||
	{ ok 1 "mTLS server starts"; finish; exit; }
check "client-auth require: gnutls-cli sends an ECDSA certificate" "peer_cert=client$" "trusted" \
	"${NAME[@]}" --x509certfile "$C/client.pem" --x509keyfile "$C/client.key"
check "client-auth require: gnutls-cli sends an RSA certificate" "peer_cert=client-rsa$" "trusted" \
	"${NAME[@]}" --x509certfile "$C/client-rsa.pem" --x509keyfile "$C/client-rsa.key"
refused "client-auth require: no certificate -> certificate_required" "failed: alert certificate_required sent" \
	"certificate.required|Fatal" "${NAME[@]}"
refused "client-auth require: certificate from another CA -> unknown_ca" "failed: alert unknown_ca sent" \
	"unknown|Fatal" "${NAME[@]}" --x509certfile "$C/client-ca2.pem" --x509keyfile "$C/client-ca2.key"
stop_peer_server
start_peer_server --cert "$C/p256.pem" --key "$C/p256.key" --client-ca "$C/ca.pem" --client-auth optional ||
	{ ok 1 "mTLS server starts"; finish; exit; }
check "client-auth optional: no certificate is fine" "peer_cert=none$" "trusted" "${NAME[@]}"
check "client-auth optional: gnutls-cli sends one" "peer_cert=client$" "trusted" \
	"${NAME[@]}" --x509certfile "$C/client.pem" --x509keyfile "$C/client.key"
stop_peer_server

finish
