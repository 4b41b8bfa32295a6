#!/usr/bin/env bash
# Our `peer client` against `gnutls-serv --http` / `--echo`: each cipher,
# group and signature scheme (server priority strings and certificates; the
# opt-in AES-128-CCM, secp521r1, X448 and ffdhe* listed with --ciphers and
# --groups),
# HelloRetryRequest, ALPN, SNI, client certificates, KeyUpdate and refusals.
# gnutls-serv cannot bind to loopback only, so where possible the script
# runs in its own network namespace whose only interface is lo.
if [ -z "${IN_NETNS:-}" ] && unshare -rn true 2>/dev/null; then
	IN_NETNS=1 exec unshare -rn bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
require gnutls-serv

C=$CERTS
TLS13='NORMAL:-VERS-ALL:+VERS-TLS1.3'
printf 'GET / HTTP/1.0\r\n\r\n' >"$T/get"

# serve ARGS...: (re)starts gnutls-serv on a free port with ARGS.
serve() {
	[ -n "${SPID:-}" ] && stop "$SPID"
	start_on_free_port gnutls-serv gnutls-serv -p @PORT@ --x509cafile "$C/ca.pem" "$@"
}

# run CLIENT_ARGS...: one `peer client` sending an HTTP GET; sets RC.
run() {
	timeout 10 "$PEER" client "127.0.0.1:$SPORT" --ca "$C/ca.pem" --servername localhost "$@" \
		<"${INPUT:-$T/get}" >"$T/pc.out" 2>"$T/pc.err"
	RC=$?
}

# expect NAME OURS_REGEX PAGE_REGEX: clean exit, our view matches
# OURS_REGEX, gnutls-serv's page (its view) matches PAGE_REGEX.
expect() {
	if [ "$RC" -eq 0 ] && grep -qE -- "$2" "$T/pc.err" && grep -qiE -- "$3" "$T/pc.out" &&
		grep -q 'end=close_notify received' "$T/pc.err"; then
		ok 0 "$1"
	else
		ok 1 "$1"
		echo "# exit status $RC"
		diag "$T/pc.err" "$T/gnutls-serv.err"
	fi
}

fails() {
	if [ "$RC" -eq 2 ] && grep -qE -- "$2" "$T/pc.err"; then
		ok 0 "$1"
	else
		ok 1 "$1"
		echo "# exit status $RC"
		diag "$T/pc.err" "$T/gnutls-serv.err"
	fi
}

if serve --http --x509certfile "$C/p256.pem" --x509keyfile "$C/p256.key" --alpn h2 --alpn http/1.1; then
	for c in "TLS_AES_128_GCM_SHA256 AES-128-GCM" "TLS_AES_256_GCM_SHA384 AES-256-GCM" \
		"TLS_CHACHA20_POLY1305_SHA256 CHACHA20-POLY1305"; do
		set -- $c
		run --ciphers "$1"
		expect "--ciphers $1" "connected $1 " "-\($2\)"
	done
	for g in "x25519 X25519" "secp256r1 SECP256R1" "secp384r1 SECP384R1"; do
		set -- $g
		run --groups "$1"
		expect "--groups $1" "connected [A-Z0-9_]+ $1 " "\(ECDHE-$2\)"
	done
	run --alpn http/1.1,h2
	expect "ALPN: gnutls-serv picks from our offer" "alpn=(h2|http/1.1) " "TLS1.3"
	run --alpn foo
	expect "ALPN without overlap: gnutls-serv continues without ALPN" "alpn=none " "TLS1.3"
	run --keyupdate
	expect "--keyupdate: gnutls-serv answers our KeyUpdate(update_requested)" "ku_tx=1 ku_rx=1 " "TLS1.3"
	run --servername x.wild.test
	expect "SNI x.wild.test: gnutls-serv sees it, wildcard verifies" "sni=x.wild.test .*peer_cert=p256$" \
		"Server Name: x.wild.test"
	run --servername other.test
	fails "certificate not valid for other.test: we refuse it" "alert (bad_certificate|certificate_unknown) sent"
	run --ca "$C/ca2.pem"
	fails "untrusted CA: we send unknown_ca" "alert unknown_ca sent"
else
	ok 1 "gnutls-serv starts"
fi

# The opt-in cipher and groups: gnutls-serv offers all, our client lists one.
if serve --http --x509certfile "$C/p256.pem" --x509keyfile "$C/p256.key" \
	--priority "$TLS13:+AES-128-CCM:+GROUP-ALL"; then
	run --ciphers TLS_AES_128_CCM_SHA256
	expect "--ciphers TLS_AES_128_CCM_SHA256" "connected TLS_AES_128_CCM_SHA256 " "-\(AES-128-CCM\)"
	for g in "secp521r1 ECDHE-SECP521R1" "x448 ECDHE-X448" "ffdhe2048 DHE-FFDHE2048" \
		"ffdhe3072 DHE-FFDHE3072" "ffdhe4096 DHE-FFDHE4096"; do
		set -- $g
		run --groups "$1"
		expect "--groups $1" "connected [A-Z0-9_]+ $1 " "\($2\)"
	done
else
	ok 1 "gnutls-serv starts"
fi
if serve --http --x509certfile "$C/p256.pem" --x509keyfile "$C/p256.key" \
	--priority "$TLS13:-GROUP-ALL:+GROUP-FFDHE3072"; then
	run --groups x25519,ffdhe3072
	expect "HelloRetryRequest: gnutls-serv (FFDHE3072 only), we share x25519" "ffdhe3072 .*hrr=1 " \
		"\(DHE-FFDHE3072\)"
else
	ok 1 "gnutls-serv starts"
fi

if serve --http --x509certfile "$C/p256.pem" --x509keyfile "$C/p256.key" --priority "$TLS13:-GROUP-ALL:+GROUP-SECP384R1"; then
	run --groups x25519,secp256r1,secp384r1
	expect "HelloRetryRequest: gnutls-serv (SECP384R1 only), we share x25519" "secp384r1 .*hrr=1 " \
		"\(ECDHE-SECP384R1\)"
else
	ok 1 "gnutls-serv starts"
fi

for s in "p384 ECDSA-SECP384R1-SHA384 ecdsa_secp384r1_sha384" "rsa2048 RSA-PSS-RSAE-SHA256 rsa_pss_rsae_sha256" \
	"rsa2048 RSA-PSS-RSAE-SHA384 rsa_pss_rsae_sha384" "rsa2048 RSA-PSS-RSAE-SHA512 rsa_pss_rsae_sha512" \
	"ed25519 EDDSA-ED25519 ed25519"; do
	set -- $s
	if serve --http --x509certfile "$C/$1.pem" --x509keyfile "$C/$1.key" --priority "$TLS13:-SIGN-ALL:+SIGN-$2"; then
		run
		expect "gnutls-serv with $1 signing $2" "sig=$3 " "\($2\)"
	else
		ok 1 "gnutls-serv starts"
	fi
done

if serve --http --x509certfile "$C/p256.pem" --x509keyfile "$C/p256.key" --require-client-cert; then
	run --cert "$C/client.pem" --key "$C/client.key"
	expect "gnutls-serv --require-client-cert: our ECDSA certificate is verified" "TLS_" "Subject: CN=client$"
	run --cert "$C/client-rsa.pem" --key "$C/client-rsa.key"
	expect "gnutls-serv --require-client-cert: our RSA certificate is verified" "TLS_" "Subject: CN=client-rsa$"
	run
	fails "gnutls-serv --require-client-cert without our certificate" "alert [a-z_]+ received"
else
	ok 1 "gnutls-serv starts"
fi

if serve --echo --x509certfile "$C/p256.pem" --x509keyfile "$C/p256.key"; then
	for ((i = 0; i < 2000; i++)); do
		printf 'echo line %05d abcdefghijklmnopqrstuvwxyz0123456789\n' "$i"
	done >"$T/lines"
	INPUT=$T/lines run --keyupdate
	[ "$RC" -eq 0 ] && cmp -s "$T/pc.out" "$T/lines" && grep -q 'ku_tx=1 ku_rx=1 ' "$T/pc.err"
	ok $? "gnutls-serv --echo: 100 kB echoed after a KeyUpdate both ways"
	[ "$RC" -eq 0 ] || diag "$T/pc.err"
else
	ok 1 "gnutls-serv starts"
fi
if serve --http --x509certfile "$C/p256.pem" --x509keyfile "$C/p256.key" --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2'; then
	run
	# gnutls finds no TLS 1.2 suite in our ClientHello before it looks at versions.
	fails "TLS 1.2-only gnutls-serv refuses us" "alert (protocol_version|handshake_failure) received"
else
	ok 1 "gnutls-serv starts"
fi

finish
