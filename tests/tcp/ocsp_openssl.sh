#!/usr/bin/env bash
# OCSP stapling over TCP against openssl: `openssl s_client -status` against
# our `peer server --ocsp`, and our `peer client` (which asks when it
# verifies, --ca) against `openssl s_server -status_file`. The response is a
# real one for the p256 leaf (status good), signed by the test CA with
# `openssl ocsp`.
. "$(dirname "$0")/lib.sh"
require openssl

C=$CERTS
HTTP_GET='GET / HTTP/1.0\r\n\r\n'

# The OCSP response: a one-line index (openssl ca's format) naming the
# leaf as valid, a request for it, the CA answering it.
mk_ocsp() {
	local serial end
	serial=$(openssl x509 -in "$C/p256.pem" -noout -serial | cut -d= -f2) &&
		end=$(date -u -d "$(openssl x509 -in "$C/p256.pem" -noout -enddate | cut -d= -f2)" \
			+%y%m%d%H%M%SZ) &&
		printf 'V\t%s\t\t%s\tunknown\t/CN=p256\n' "$end" "$serial" >"$T/index.txt" &&
		openssl ocsp -issuer "$C/ca.pem" -cert "$C/p256.pem" -no_nonce -reqout "$T/req.der" \
			>"$T/ocsp.log" 2>&1 &&
		openssl ocsp -index "$T/index.txt" -rsigner "$C/ca.pem" -rkey "$C/ca.key" \
			-CA "$C/ca.pem" -reqin "$T/req.der" -respout "$T/resp.der" -ndays 1 \
			>>"$T/ocsp.log" 2>&1 &&
		[ -s "$T/resp.der" ]
}
if mk_ocsp; then
	ok 0 "openssl ocsp makes a response for the p256 leaf"
else
	ok 1 "openssl ocsp makes a response for the p256 leaf"
	diag "$T/ocsp.log"
fi
SERIAL=$(openssl x509 -in "$C/p256.pem" -noout -serial | cut -d= -f2)
SIZE=$(stat -c %s "$T/resp.der" 2>/dev/null || echo 0)
SUM=$(sha256sum "$T/resp.der" 2>/dev/null | cut -d' ' -f1)
# "Produced At: ..." tells this response from any other
PRODUCED=$(openssl ocsp -respin "$T/resp.der" -resp_text -noverify 2>/dev/null |
	sed -n 's/^ *\(Produced At: .*\)$/\1/p')

# ---- our server, openssl s_client ----

# sc ARGS...: one s_client connection sending an HTTP GET; output in
# $T/sc.out; sets LINE to our server's line for it.
sc() {
	printf "$HTTP_GET" | timeout 10 openssl s_client -connect "127.0.0.1:$PEER_PORT" -ign_eof \
		-CAfile "$C/ca.pem" -verify_return_error -servername localhost "$@" >"$T/sc.out" 2>&1
	RC=$?
	conn_line
}

# served NAME REGEX...: a clean connection whose s_client output matches
# every REGEX.
served() {
	local name=$1 re good=1
	shift
	[ "$RC" -eq 0 ] && grep -q '^hello from handshaked peer' "$T/sc.out" &&
		[[ $LINE == *" ok "* ]] || good=0
	for re in "$@"; do
		grep -qE -- "$re" "$T/sc.out" || good=0
	done
	if [ $good -eq 1 ]; then
		ok 0 "$name"
	else
		ok 1 "$name"
		echo "# exit status $RC; server: $LINE"
		diag "$T/sc.out"
	fi
}

if start_peer_server --cert "$C/p256.pem" --key "$C/p256.key" --ocsp "$T/resp.der"; then
	sc -status
	served "s_client -status: our server staples the file's OCSP response (good, serial $SERIAL)" \
		'OCSP Response Status: successful' 'Cert Status: good' "Serial Number: $SERIAL" \
		"${PRODUCED:-no Produced At in the file}"
	sc
	served "s_client without -status: a plain handshake, no OCSP response" \
		'^Verify return code: 0'
	if grep -q 'OCSP response' "$T/sc.out"; then
		ok 1 "s_client without -status reports no OCSP response"
		diag "$T/sc.out"
	else
		ok 0 "s_client without -status reports no OCSP response"
	fi
	stop_peer_server
else
	ok 1 "peer server --ocsp starts"
fi

if start_peer_server --cert "$C/p256.pem" --key "$C/p256.key"; then
	sc -status
	served "s_client -status, our server without --ocsp: no response sent" \
		'OCSP response: no response sent'
	stop_peer_server
else
	ok 1 "peer server starts"
fi

# ---- our client, openssl s_server -status_file ----

printf "$HTTP_GET" >"$T/get"
# pc ARGS...: one `peer client` against a fresh s_server -www stapling
# resp.der; our stderr in $T/pc.err.
pc() {
	start_s_server s_server -naccept 1 -cert "$C/p256.pem" -key "$C/p256.key" -www \
		-status_file "$T/resp.der" || { RC=99; return; }
	timeout 10 "$PEER" client "127.0.0.1:$SPORT" --servername localhost "$@" <"$T/get" \
		>"$T/pc.out" 2>"$T/pc.err"
	RC=$?
	stop "$SPID"
}

pc --ca "$C/ca.pem"
if [ "$RC" -eq 0 ] && grep -q "^peer: OCSP response: $SIZE bytes sha256=$SUM\$" "$T/pc.err" &&
	grep -q 'end=close_notify received' "$T/pc.err"; then
	ok 0 "peer client --ca: s_server -status_file staples the response ($SIZE bytes, same sha256)"
else
	ok 1 "peer client --ca: s_server -status_file staples the response"
	echo "# exit status $RC, want $SIZE bytes sha256=$SUM"
	diag "$T/pc.err" "$T/s_server.out" "$T/s_server.err"
fi
pc
if [ "$RC" -eq 0 ] && ! grep -q 'OCSP response' "$T/pc.err" &&
	grep -q 'end=close_notify received' "$T/pc.err"; then
	ok 0 "peer client without --ca asks for nothing: no OCSP response"
else
	ok 1 "peer client without --ca asks for nothing: no OCSP response"
	echo "# exit status $RC"
	diag "$T/pc.err" "$T/s_server.out" "$T/s_server.err"
fi

finish
