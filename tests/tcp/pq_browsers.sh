#!/usr/bin/env bash
# Headless Chromium and Firefox ESR (Debian's) against our `peer server`:
# both offer X25519MLKEM768 with a key share and must get it; a server
# limited to X25519 still serves them (fallback); a server whose groups the
# browser supports but did not share (SecP256r1MLKEM768, which neither
# offers, then P-384) makes them retry after a HelloRetryRequest. Each
# browser trusts the test CA through a throw-away NSS database (no
# certificate errors ignored); without it both refuse our certificate.
#
# Our server logs one line per connection with what it negotiated; those
# lines are the verdict (a browser also opens a connection for the favicon).
# Chromium's --dump-dom also shows the page our server sent; Firefox's
# --screenshot shows it only as an image, so there the log line and the
# client's close_notify after reading the page stand for it.
. "$(dirname "$0")/lib.sh"
require chromium
require firefox-esr
require certutil

C=$CERTS
BROWSER_TIMEOUT=${BROWSER_TIMEOUT:-60}
echo "# $(chromium --version 2>/dev/null); $(firefox-esr --version 2>/dev/null)"

# nssdb DIR [trust]: a new NSS database in DIR (trusting the test CA).
nssdb() {
	mkdir -p "$1" && certutil -d "sql:$1" -N --empty-password &&
		if [ "${2:-}" = trust ]; then
			certutil -d "sql:$1" -A -t "C,," -n handshaked-test-ca -i "$C/ca.pem"
		fi
}

# Chromium reads $HOME/.pki/nssdb; Firefox the profile's own database.
for who in trusting untrusting; do
	mode=; [ $who = trusting ] && mode=trust
	nssdb "$T/chromium-$who/.pki/nssdb" $mode || { ok 1 "NSS database for Chromium"; finish; exit; }
	nssdb "$T/firefox-$who/profile" $mode || { ok 1 "NSS database for Firefox"; finish; exit; }
	# no first-run pages, updates, telemetry or probes of the network
	cat >"$T/firefox-$who/profile/user.js" <<'EOF'
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.aboutwelcome.enabled", false);
user_pref("app.update.enabled", false);
user_pref("app.normandy.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("extensions.update.enabled", false);
EOF
done

LINE_RE='^peer: [0-9.]+:[0-9]+ (ok|failed)'
count_lines() { grep -cE "$LINE_RE" "$T/peer-server.log"; }
mark() { MARK=$(log_mark "$T/peer-server.log"); }
# Our server's lines since mark: after the first one, until none came for
# half a second (the browser may still be closing its favicon connection).
new_lines() {
	local n last=-1
	wait_for_new "$T/peer-server.log" "$MARK" "$LINE_RE"
	while n=$(count_lines); [ "$n" != "$last" ]; do
		last=$n
		sleep 0.5
	done
	tail -c +$((MARK + 1)) "$T/peer-server.log" | grep -E "$LINE_RE" >"$T/lines"
}

# chromium_get NAME WHO: one page load; the DOM in $T/NAME.dom.
chromium_get() {
	mark
	HOME=$T/chromium-$2 timeout -k 5 "$BROWSER_TIMEOUT" chromium --headless=new --no-sandbox --disable-gpu \
		--no-first-run --disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$T/chromium-$2/profile" --dump-dom "https://localhost:$PEER_PORT/" \
		>"$T/$1.dom" 2>"$T/$1.err" </dev/null
	RC=$?
	new_lines
}

# firefox_get NAME WHO: one page load with a screenshot ($T/NAME.png).
# Firefox waits on its error page forever, so when our server has refused
# the connection it is stopped once the line is there.
firefox_get() {
	mark
	rm -f "$T/$1.png"
	HOME=$T/firefox-$2 MOZ_HEADLESS=1 timeout -k 5 "$BROWSER_TIMEOUT" firefox-esr --headless --no-remote \
		--new-instance --profile "$T/firefox-$2/profile" --screenshot "$T/$1.png" \
		"https://localhost:$PEER_PORT/" >"$T/$1.out" 2>&1 </dev/null &
	local pid=$!
	if [ "$2" = untrusting ]; then
		# its own handshake's line, after the mark: any earlier browser's
		# line matched at once, and a Firefox slower than the second after
		# it (a loaded machine) was stopped before it connected
		WAIT_SECONDS=$BROWSER_TIMEOUT wait_for_new "$T/peer-server.log" "$MARK" "$LINE_RE" "$pid"
		sleep 1
		kill "$pid" 2>/dev/null
	fi
	wait "$pid"
	RC=$?
	new_lines
}

# judge NAME GROUP HRR [DOM]: at least one handshake completed, each one
# with GROUP and hrr=HRR, none refused with an alert (a connection the
# browser dropped when it exited is not held against it); Chromium's page
# (DOM) names the same.
judge() {
	local name=$1 group=$2 hrr=$3 dom=${4:-} good=0 bad=0 line
	while IFS= read -r line; do
		if [[ $line =~ \ ok\ [A-Z0-9_]+\ $group\ .*hrr=$hrr\  ]]; then
			good=$((good + 1))
		elif [[ $line != *"failed: connection closed by the peer"* ]]; then
			bad=$((bad + 1))
		fi
	done <"$T/lines"
	if [ "$RC" -eq 0 ] && [ $good -gt 0 ] && [ $bad -eq 0 ] &&
		{ [ -z "$dom" ] || grep -qE "hello from handshaked peer: [A-Z0-9_]+ $group .*hrr=$hrr " "$dom"; }; then
		ok 0 "$name"
	else
		ok 1 "$name"
		echo "# exit status $RC"
		[ -n "$dom" ] && diag "$dom"
	fi
	sed -e 's/^/# server: /' "$T/lines"
}

# refused NAME: every connection was refused by the browser with an alert
# about our certificate, and no page came.
refused() {
	if [ -s "$T/lines" ] && ! grep -q ' ok ' "$T/lines" &&
		grep -qE 'failed: alert (unknown_ca|certificate_unknown|bad_certificate) received' "$T/lines" &&
		{ [ -z "${2:-}" ] || ! grep -q 'hello from handshaked peer' "$2"; }; then
		ok 0 "$1"
	else
		ok 1 "$1"
		[ -n "${2:-}" ] && diag "$2"
	fi
	sed -e 's/^/# server: /' "$T/lines"
}

start_peer_server --cert "$C/p256.pem" --key "$C/p256.key" || { ok 1 "peer server starts"; finish; exit; }
chromium_get chromium trusting
judge "chromium (default groups) negotiates X25519MLKEM768 with our default server, no HRR" \
	X25519MLKEM768 0 "$T/chromium.dom"
firefox_get firefox trusting
judge "firefox-esr (default groups) negotiates X25519MLKEM768 with our default server, no HRR" X25519MLKEM768 0
[ -s "$T/firefox.png" ] && [ "$(head -c 4 "$T/firefox.png" | od -An -tx1 | tr -d ' ')" = 89504e47 ]
ok $? "firefox-esr rendered the page (a PNG screenshot)"
chromium_get chromium-untrusted untrusting
refused "chromium without the test CA in its NSS database refuses our certificate" "$T/chromium-untrusted.dom"
firefox_get firefox-untrusted untrusting
refused "firefox-esr without the test CA in its NSS database refuses our certificate"
stop_peer_server

# Fallback: a server that does not do the hybrid group.
start_peer_server --cert "$C/p256.pem" --key "$C/p256.key" --groups x25519 ||
	{ ok 1 "x25519-only server starts"; finish; exit; }
chromium_get chromium-x25519 trusting
judge "server --groups x25519: chromium falls back to its X25519 share, no HRR" x25519 0 "$T/chromium-x25519.dom"
firefox_get firefox-x25519 trusting
judge "server --groups x25519: firefox-esr falls back to its X25519 share, no HRR" x25519 0
stop_peer_server

# HelloRetryRequest: our first preference is a hybrid group neither browser
# offers, the second one they offer without a share (Chromium shares
# X25519MLKEM768 and X25519, Firefox also P-256; both list P-384).
start_peer_server --cert "$C/p256.pem" --key "$C/p256.key" --groups SecP256r1MLKEM768,secp384r1 ||
	{ ok 1 "SecP256r1MLKEM768,P-384 server starts"; finish; exit; }
chromium_get chromium-hrr trusting
judge "server --groups SecP256r1MLKEM768,secp384r1: chromium retries with P-384 after our HRR" secp384r1 1 \
	"$T/chromium-hrr.dom"
firefox_get firefox-hrr trusting
judge "server --groups SecP256r1MLKEM768,secp384r1: firefox-esr retries with P-384 after our HRR" secp384r1 1
stop_peer_server

finish
