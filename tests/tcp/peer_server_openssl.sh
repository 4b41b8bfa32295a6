#!/usr/bin/env bash
# Our `peer server` against `openssl s_client`: every cipher, group and
# signature scheme (AES-128-CCM, secp521r1, X448 and ffdhe* on a server that
# lists them; refused by a default one), ALPN, SNI, client certificates, TLS
# 1.2-only clients, KeyUpdate both ways, and a server that survives bad
# clients.
. "$(dirname "$0")/lib.sh"
require openssl

C=$CERTS
HTTP_GET='GET / HTTP/1.0\r\n\r\n'

# sc REQUEST ARGS...: one s_client connection to our server sending REQUEST;
# output in $T/sc.out. -ign_eof: read until our server closes.
sc() {
	local req=$1
	shift
	printf "$req" | timeout 10 openssl s_client -connect "127.0.0.1:$PEER_PORT" -ign_eof \
		-CAfile "$C/ca.pem" -verify_return_error "$@" >"$T/sc.out" 2>&1
}

# check NAME BODY_REGEX CLIENT_REGEX ARGS...: s_client gets our HTTP answer,
# whose body (what our server negotiated) matches BODY_REGEX, s_client's own
# report matches CLIENT_REGEX, and our server logs a clean connection.
check() {
	local name=$1 body=$2 client=$3
	shift 3
	sc "$HTTP_GET" "$@"
	local rc=$? line
	conn_line; line=$LINE
	if [ $rc -eq 0 ] && grep -qE "^hello from handshaked peer: (.* )?($body)" "$T/sc.out" &&
		grep -qiE -- "$client" "$T/sc.out" && grep -q 'Verify return code: 0 (ok)' "$T/sc.out" &&
		[[ $line == *" ok "*"end=close_notify received"* ]]; then
		ok 0 "$name"
	else
		ok 1 "$name"
		echo "# server: $line"
		diag "$T/sc.out"
	fi
}

# refused NAME SERVER_REGEX CLIENT_REGEX ARGS...: the handshake fails, our
# server logs SERVER_REGEX, s_client reports CLIENT_REGEX.
refused() {
	local name=$1 server=$2 client=$3
	shift 3
	sc "$HTTP_GET" "$@"
	local line
	conn_line; line=$LINE
	if [[ $line =~ $server ]] && grep -qiE -- "$client" "$T/sc.out" &&
		! grep -q '^hello from handshaked peer' "$T/sc.out"; then
		ok 0 "$name"
	else
		ok 1 "$name"
		echo "# server: $line"
		diag "$T/sc.out"
	fi
}

start_peer_server --cert "$C/p256.pem" --key "$C/p256.key" --cert "$C/p384.pem" --key "$C/p384.key" \
	--cert "$C/rsa2048.pem" --key "$C/rsa2048.key" --cert "$C/ed25519.pem" --key "$C/ed25519.key" \
	--cert "$C/alpha.pem" --key "$C/alpha.key" --cert "$C/beta.pem" --key "$C/beta.key" \
	--alpn h2,http/1.1 || { ok 1 "peer server starts"; finish; exit; }

for cs in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256; do
	check "s_client -ciphersuites $cs" "$cs " "Cipher is $cs" -servername localhost -ciphersuites "$cs"
done
check "s_client -groups X25519" "x25519 " "Server Temp Key: X25519" -servername localhost -groups X25519
check "s_client -groups P-256" "secp256r1 " "Server Temp Key: ECDH, prime256v1" -servername localhost -groups P-256
check "s_client -groups P-384" "secp384r1 " "Server Temp Key: ECDH, secp384r1" -servername localhost -groups P-384
check "s_client -groups P-256:X25519 (share P-256, we may take it)" "secp256r1 .*hrr=0|x25519 .*hrr=1" \
	"Server Temp Key" -servername localhost -groups P-256:X25519
# Our server picks the certificate that fits the client's signature_algorithms.
check "s_client -sigalgs ecdsa_secp256r1_sha256" "sig=ecdsa_secp256r1_sha256" "Peer signature type: ECDSA" \
	-servername localhost -sigalgs ecdsa_secp256r1_sha256
check "s_client -sigalgs ecdsa_secp384r1_sha384" "sig=ecdsa_secp384r1_sha384" "Peer signing digest: SHA384" \
	-servername localhost -sigalgs ecdsa_secp384r1_sha384
for h in 256 384 512; do
	check "s_client -sigalgs rsa_pss_rsae_sha$h" "sig=rsa_pss_rsae_sha$h" "Peer signature type: RSA-PSS" \
		-servername localhost -sigalgs "rsa_pss_rsae_sha$h"
done
check "s_client -sigalgs ed25519" "sig=ed25519" "Peer signature type: Ed25519" -servername localhost -sigalgs ed25519

check "ALPN h2" "alpn=h2 " "ALPN protocol: h2" -servername localhost -alpn h2
check "ALPN server preference (client http/1.1,h2 -> h2)" "alpn=h2 " "ALPN protocol: h2" \
	-servername localhost -alpn http/1.1,h2
check "ALPN not offered" "alpn=none " "No ALPN negotiated" -servername localhost
refused "ALPN without overlap -> no_application_protocol" "failed: alert no_application_protocol sent" \
	"no application protocol" -servername localhost -alpn foo

check "SNI alpha.test selects the alpha certificate" "sni=alpha.test " "subject=CN = alpha" \
	-servername alpha.test -verify_hostname alpha.test
check "SNI beta.test selects the beta certificate" "sni=beta.test " "subject=CN = beta" \
	-servername beta.test -verify_hostname beta.test
check "SNI x.wild.test gets the wildcard certificate" "sni=x.wild.test " "subject=CN = p256" \
	-servername x.wild.test -verify_hostname x.wild.test
check "no SNI gets the default certificate" "sni=none " "subject=CN = p256" -noservername -verify_ip 127.0.0.1

refused "default server: s_client -groups P-521:X448:ffdhe2048 -> handshake_failure" \
	"failed: alert handshake_failure sent" "alert handshake failure" -servername localhost \
	-groups P-521:X448:ffdhe2048
refused "default server: s_client -ciphersuites TLS_AES_128_CCM_SHA256 -> handshake_failure" \
	"failed: alert handshake_failure sent" "alert handshake failure" -servername localhost \
	-ciphersuites TLS_AES_128_CCM_SHA256
refused "s_client -ciphersuites TLS_AES_128_CCM_8_SHA256 -> handshake_failure" \
	"failed: alert handshake_failure sent" "alert handshake failure" -servername localhost \
	-ciphersuites TLS_AES_128_CCM_8_SHA256
refused "s_client -tls1_2 -> protocol_version" "failed: alert protocol_version sent" "alert protocol version" \
	-servername localhost -tls1_2
check "the server still serves after a refused client" "x25519 " "Cipher is" -servername localhost

# GET /keyupdate makes our server send KeyUpdate(update_requested) before
# the answer; s_client must decrypt the answer under the new key. (OpenSSL
# answers the request only with its next write, which s_client never makes
# here; answers are checked in tests/unit/interop_openssl and, for requests
# made of us, with gnutls-cli ^rekey^ and s_client K below.)
sc 'GET /keyupdate HTTP/1.0\r\n\r\n' -servername localhost
conn_line; line=$LINE
grep -q '^hello from handshaked peer' "$T/sc.out" && [[ $line == *" ok "*"ku_tx=1 "*"end=close_notify received"* ]]
ok $? "GET /keyupdate: s_client reads our answer after our KeyUpdate(update_requested)"
[[ $line == *"ku_tx=1 "* ]] || { echo "# server: $line"; diag "$T/sc.out"; }

# Garbage and a silent client: logged, and the server goes on.
printf 'GET / HTTP/1.0\r\n\r\n' >"$T/garbage"
timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PEER_PORT; cat '$T/garbage' >&3; cat <&3 >'$T/garbage.out'"
conn_line; line=$LINE
[[ $line == *"failed: alert "*" sent"* ]] && [ "$(head -c 1 "$T/garbage.out" | od -An -tx1 | tr -d ' ')" = 15 ]
ok $? "plain HTTP instead of TLS gets an alert record and a log line"
echo "# server: $line"  # the reason, for the record
timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PEER_PORT; exec 3>&-"
conn_line; line=$LINE
[[ $line == *"failed: connection closed by the peer"* ]]
ok $? "a client that connects and leaves is logged"
echo "# server: $line"
check "the server still serves after bad clients" "x25519 " "Cipher is" -servername localhost
stop_peer_server

# The opt-in cipher and groups, on a server that lists them.
start_peer_server --cert "$C/p256.pem" --key "$C/p256.key" \
	--ciphers TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384,TLS_CHACHA20_POLY1305_SHA256,TLS_AES_128_CCM_SHA256 \
	--groups secp521r1,x448,ffdhe2048,ffdhe3072,ffdhe4096 || { ok 1 "opt-in server starts"; finish; exit; }
check "s_client -ciphersuites TLS_AES_128_CCM_SHA256" "TLS_AES_128_CCM_SHA256 " \
	"Cipher is TLS_AES_128_CCM_SHA256" -servername localhost -ciphersuites TLS_AES_128_CCM_SHA256 \
	-groups ffdhe2048
check "s_client -groups P-521" "secp521r1 " "Server Temp Key: ECDH, secp521r1" -servername localhost -groups P-521
check "s_client -groups X448" "x448 " "Server Temp Key: X448" -servername localhost -groups X448
for b in 2048 3072 4096; do
	check "s_client -groups ffdhe$b" "ffdhe$b " "Server Temp Key: DH, $b bits" -servername localhost -groups "ffdhe$b"
done
check "s_client -groups X25519:ffdhe3072 (shares X25519): HelloRetryRequest to ffdhe3072" \
	"ffdhe3072 .*hrr=1" "Server Temp Key: DH, 3072 bits" -servername localhost -groups X25519:ffdhe3072
stop_peer_server

# KeyUpdate initiated by s_client ("K": update_requested, "k": not) on an
# echo server. s_client reads commands only without -ign_eof, and ends at
# stdin EOF, so stdin is a fifo we feed and close after the echo came back.
start_peer_server --cert "$C/p256.pem" --key "$C/p256.key" --echo || { ok 1 "echo server starts"; finish; exit; }
for cmd in K k; do
	rm -f "$T/fifo"
	mkfifo "$T/fifo"
	timeout 10 openssl s_client -connect "127.0.0.1:$PEER_PORT" -servername localhost -CAfile "$C/ca.pem" \
		<"$T/fifo" >"$T/ku.out" 2>&1 &
	sc_pid=$!
	exec 3>"$T/fifo"
	# One command per read(2) of s_client, so wait for each step's effect.
	printf 'before\n' >&3
	wait_for "$T/ku.out" '^before' "$sc_pid" && printf '%s\n' "$cmd" >&3 &&
		wait_for "$T/ku.out" '^KEYUPDATE' "$sc_pid" && printf 'after-%s\n' "$cmd" >&3 &&
		wait_for "$T/ku.out" "^after-$cmd" "$sc_pid"
	echoed=$?
	exec 3>&-
	wait "$sc_pid"
	conn_line; line=$LINE
	want="ku_tx=1 ku_rx=1 "
	[ "$cmd" = k ] && want="ku_tx=0 ku_rx=1 "
	[ $echoed -eq 0 ] && grep -q KEYUPDATE "$T/ku.out" && [[ $line == *"$want"* ]]
	[ $cmd = K ] && what="KeyUpdate(update_requested)" || what="KeyUpdate(update_not_requested)"
	ok $? "s_client '$cmd' sends $what: data still flows, our server logs $want"
	[[ $line == *"$want"* ]] || { echo "# server: $line"; diag "$T/ku.out"; }
done
stop_peer_server

# Client certificates.
for mode in optional require; do
	start_peer_server --cert "$C/p256.pem" --key "$C/p256.key" --client-ca "$C/ca.pem" --client-auth $mode ||
		{ ok 1 "mTLS server starts"; continue; }
	check "client-auth $mode: ECDSA client certificate" "peer_cert=client$" "Cipher is" \
		-servername localhost -cert "$C/client.pem" -key "$C/client.key"
	check "client-auth $mode: RSA client certificate" "peer_cert=client-rsa$" "Cipher is" \
		-servername localhost -cert "$C/client-rsa.pem" -key "$C/client-rsa.key"
	if [ $mode = optional ]; then
		check "client-auth optional: no client certificate" "peer_cert=none$" "Cipher is" -servername localhost
	else
		refused "client-auth require: no certificate -> certificate_required" \
			"failed: alert certificate_required sent" "certificate required" -servername localhost
	fi
	refused "client-auth $mode: certificate from another CA -> unknown_ca" "failed: alert unknown_ca sent" \
		"unknown ca" -servername localhost -cert "$C/client-ca2.pem" -key "$C/client-ca2.key"
	stop_peer_server
done
start_peer_server --cert "$C/p256.pem" --key "$C/p256.key" --client-ca "$C/ca.pem" --client-auth none
check "client-auth none: a client with a certificate is not asked" "peer_cert=none$" "Cipher is" \
	-servername localhost -cert "$C/client.pem" -key "$C/client.key"
stop_peer_server

finish
