#!/usr/bin/env bash
# Our `peer client` against `openssl s_server` (-www, -rev): each cipher,
# group and signature scheme (the opt-in AES-128-CCM, secp521r1, X448 and
# ffdhe* listed with --ciphers/--groups; CCM_8 refused with its reason),
# HelloRetryRequest, ALPN, SNI, client
# certificates (-verify / -Verify), tickets, KeyUpdate, and the failures
# (unknown CA, expired, wrong name, TLS 1.2-only server).
. "$(dirname "$0")/lib.sh"
require openssl

C=$CERTS

# run S_SERVER_ARGS -- CLIENT_ARGS: one s_server for one connection
# (-naccept 1), one `peer client` sending $INPUT (an HTTP GET). Sets RC;
# output in $T/pc.out (stdout) and $T/pc.err (our negotiated parameters).
printf 'GET / HTTP/1.0\r\n\r\n' >"$T/get"
INPUT=$T/get
run() {
	local sargs=()
	while [ "$1" != -- ]; do
		sargs+=("$1")
		shift
	done
	shift
	start_s_server s_server -naccept 1 "${sargs[@]}" || { RC=99; return; }
	timeout 10 "$PEER" client "127.0.0.1:$SPORT" --ca "$C/ca.pem" "$@" <"$INPUT" \
		>"$T/pc.out" 2>"$T/pc.err"
	RC=$?
	stop "$SPID"
}

# expect NAME OURS_REGEX PAGE_REGEX: clean exit, our stderr matches
# OURS_REGEX and what s_server -www reported matches PAGE_REGEX.
expect() {
	if [ "$RC" -eq 0 ] && grep -qE -- "$2" "$T/pc.err" && grep -qE -- "$3" "$T/pc.out" &&
		grep -q 'end=close_notify received' "$T/pc.err"; then
		ok 0 "$1"
	else
		ok 1 "$1"
		echo "# exit status $RC"
		diag "$T/pc.err" "$T/s_server.out" "$T/s_server.err"
	fi
}

# fails NAME REGEX: exit status 2 and our stderr names the alert.
fails() {
	if [ "$RC" -eq 2 ] && grep -qE -- "$2" "$T/pc.err"; then
		ok 0 "$1"
	else
		ok 1 "$1"
		echo "# exit status $RC"
		diag "$T/pc.err" "$T/s_server.out" "$T/s_server.err"
	fi
}

SRV=(-cert "$C/p256.pem" -key "$C/p256.key" -www)
for cs in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256; do
	run "${SRV[@]}" -- --servername localhost --ciphers "$cs"
	expect "--ciphers $cs" "connected $cs " "Cipher is $cs"
done
for g in x25519 secp256r1 secp384r1; do
	run "${SRV[@]}" -- --servername localhost --groups "$g"
	expect "--groups $g" "connected [A-Z0-9_]+ $g " "Shared groups: $g$"
done
# our default shares are X25519MLKEM768 and X25519: openssl 3.0 knows only
# the second and must take it without a HelloRetryRequest
run "${SRV[@]}" -- --servername localhost
expect "default groups: openssl 3.0 takes our X25519 share, no HRR" "connected [A-Z0-9_]+ x25519 .*hrr=0 " "TLSv1.3"
run "${SRV[@]}" -groups P-384:P-256 -- --servername localhost --groups x25519,secp256r1,secp384r1
expect "HelloRetryRequest: s_server -groups P-384:P-256, we share x25519" "secp(384|256)r1 .*hrr=1 " "TLSv1.3"
run "${SRV[@]}" -ciphersuites TLS_AES_128_CCM_SHA256 -- --servername localhost --ciphers TLS_AES_128_CCM_SHA256
expect "--ciphers TLS_AES_128_CCM_SHA256" "connected TLS_AES_128_CCM_SHA256 " "Cipher is TLS_AES_128_CCM_SHA256"
for g in secp521r1 x448 ffdhe2048 ffdhe3072 ffdhe4096; do
	run "${SRV[@]}" -groups "$g" -- --servername localhost --groups "$g"
	expect "--groups $g" "connected [A-Z0-9_]+ $g " "Shared groups: $g$"
done
run "${SRV[@]}" -groups ffdhe4096 -- --servername localhost --groups x25519,ffdhe4096
expect "HelloRetryRequest: s_server -groups ffdhe4096, we share x25519" "ffdhe4096 .*hrr=1 " "TLSv1.3"
timeout 10 "$PEER" client "127.0.0.1:1" --ciphers TLS_AES_128_GCM_SHA256,TLS_AES_128_CCM_8_SHA256 \
	</dev/null >"$T/pc.out" 2>"$T/pc.err"
[ $? -eq 1 ] && grep -q 'TLS_AES_128_CCM_8_SHA256 is not supported: Linux kernel TLS has no cipher' "$T/pc.err"
ok $? "--ciphers with TLS_AES_128_CCM_8_SHA256 is refused with the reason"
diag "$T/pc.err"
for s in "p256 ecdsa_secp256r1_sha256" "p384 ecdsa_secp384r1_sha384" "rsa2048 rsa_pss_rsae_sha256" \
	"ed25519 ed25519"; do
	set -- $s
	run -cert "$C/$1.pem" -key "$C/$1.key" -www -- --servername localhost
	expect "s_server with the $1 certificate signs with $2" "sig=$2 " "TLSv1.3"
done
for h in 384 512; do
	run -cert "$C/rsa2048.pem" -key "$C/rsa2048.key" -www -sigalgs "rsa_pss_rsae_sha$h" -- --servername localhost
	expect "s_server -sigalgs rsa_pss_rsae_sha$h" "sig=rsa_pss_rsae_sha$h " "TLSv1.3"
done

run "${SRV[@]}" -alpn h2,http/1.1 -- --servername localhost --alpn http/1.1,h2
expect "ALPN: s_server preference h2 over our http/1.1,h2" "alpn=h2 " "TLSv1.3"
run "${SRV[@]}" -alpn h2 -- --servername localhost --alpn http/1.1
fails "ALPN without overlap: s_server sends no_application_protocol" "alert no_application_protocol received"

run "${SRV[@]}" -servername alpha.test -cert2 "$C/alpha.pem" -key2 "$C/alpha.key" -- --servername alpha.test
expect "SNI alpha.test: s_server switches to the alpha certificate, verified" "sni=alpha.test .*peer_cert=alpha$" \
	"TLSv1.3"
run "${SRV[@]}" -- --servername x.wild.test
expect "wildcard *.wild.test verifies x.wild.test" "peer_cert=p256$" "TLSv1.3"
run "${SRV[@]}" --
expect "IP 127.0.0.1 verified against the IP SAN, no SNI" "sni=none .*peer_cert=p256$" "TLSv1.3"

run "${SRV[@]}" -verify 1 -CAfile "$C/ca.pem" -- --servername localhost --cert "$C/client.pem" --key "$C/client.key"
expect "s_server -verify: our ECDSA client certificate is verified" "TLS_" "Peer signature type: ECDSA"
run "${SRV[@]}" -Verify 1 -CAfile "$C/ca.pem" -- --servername localhost --cert "$C/client-rsa.pem" \
	--key "$C/client-rsa.key"
expect "s_server -Verify: our RSA client certificate is verified" "TLS_" "Peer signature type: RSA-PSS"
run "${SRV[@]}" -verify 1 -CAfile "$C/ca.pem" -- --servername localhost
expect "s_server -verify: no client certificate is fine" "TLS_" "TLSv1.3"
run "${SRV[@]}" -Verify 1 -CAfile "$C/ca.pem" -- --servername localhost
fails "s_server -Verify without our certificate: certificate_required" "alert certificate_required received"

run "${SRV[@]}" -num_tickets 0 -- --servername localhost
expect "s_server -num_tickets 0" "TLS_" "TLSv1.3"
run "${SRV[@]}" -num_tickets 5 -- --servername localhost
expect "s_server -num_tickets 5: tickets are ignored" "TLS_" "TLSv1.3"

run "${SRV[@]}" -- --servername localhost --keyupdate
expect "--keyupdate: s_server answers our KeyUpdate(update_requested)" "ku_tx=1 ku_rx=1 " "TLSv1.3"

# Many records both ways through s_server -rev (reverses every line).
for ((i = 0; i < 3000; i++)); do
	printf 'line %05d abcdefghijklmnopqrstuvwxyz0123456789\n' "$i"
done >"$T/lines"
INPUT=$T/lines
run -cert "$C/p256.pem" -key "$C/p256.key" -rev -- --servername localhost
INPUT=$T/get
rev "$T/lines" >"$T/lines.rev"
[ "$RC" -eq 0 ] && grep -vE '^(CONNECTED|DONE|closed)' "$T/pc.out" | cmp -s - "$T/lines.rev"
ok $? "s_server -rev: 150 kB of lines come back reversed"

run "${SRV[@]}" -- --servername localhost --ca "$C/ca2.pem"
fails "untrusted CA: we send unknown_ca" "alert unknown_ca sent"
run -cert "$C/expired.pem" -key "$C/expired.key" -www -- --servername localhost
fails "expired server certificate: we send certificate_expired" "alert certificate_expired sent"
run "${SRV[@]}" -- --servername other.test
fails "certificate not valid for other.test: we refuse it" "alert (bad_certificate|certificate_unknown) sent"
run "${SRV[@]}" -tls1_2 -- --servername localhost
fails "TLS 1.2-only s_server: protocol_version" "alert protocol_version received"

finish
