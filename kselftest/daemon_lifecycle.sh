#!/usr/bin/env bash
# Key and certificate lifecycle through handshaked, into kTLS (in the VM on
# >= 6.14 and on 6.12); the application is `tests/peer server --handoff`.
#  - certificate renewal as certbot and ACME clients do it: the files the
#    config names are replaced in place (a new file renamed over the old;
#    later a symlink swapped to a new archive file), then SIGHUP or
#    `handshakectl reload`: new connections get the new certificate, a
#    connection established before the reload keeps working, a handshake
#    in flight during the reload finishes with the certificate it started
#    with; `handshakectl status` follows the renewal
#  - ticket keys across a fleet: two daemons share one key file
#    (handshakectl ticket-keys new); each resumes the other's tickets; after
#    `handshakectl ticket-keys rotate FILE` and a reload of one daemon only,
#    its new tickets are unknown to the other (a full handshake, counted as
#    unknown_key) until that one reloads too; then both have the same
#    current key, resume each other's new tickets, and the old tickets
#    still resume (the rotated key stays as a previous key)
# Python's ssl (tlsconn.py) holds the connections that must span a reload.
WAIT_SECONDS=${WAIT_SECONDS:-30}  # TCG is slow
. "$(dirname "$0")/../tests/tcp/lib.sh"
. "$ROOT/kselftest/lib/daemon.bash"
ktls_or_skip "handshaked lifecycle"
require openssl
need_built handshaked handshakectl tests/peer
PY=/usr/bin/python3
C=$CERTS
REQ='GET / HTTP/1.0\r\n\r\n'
echo "# Linux $(uname -r)"

# mkleaf NAME: a P-256 leaf for localhost, CN=NAME, 90 days, from the test CA
mkleaf() {
	printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$T/ext"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/archive/$1.key" 2>/dev/null &&
		openssl req -new -key "$T/archive/$1.key" -subj "/CN=$1" 2>/dev/null |
		openssl x509 -req -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial -days 90 -extfile "$T/ext" \
			-out "$T/archive/$1.pem" 2>/dev/null
}
mkdir -p "$T/archive" "$T/live"
mkleaf r1 && mkleaf r2 || { ok 1 "openssl makes the renewed certificates"; finish; exit; }
cp "$C/p256.pem" "$T/live/cert.pem" && cp "$C/p256.key" "$T/live/key.pem"

# sc PORT ARGS...: s_client GET / (verified), output in $T/sc.out, $T/sc.err
sc() {
	local port=$1
	shift
	printf "$REQ" | timeout 30 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
		-CAfile "$C/ca.pem" -verify_return_error -ign_eof "$@" >"$T/sc.out" 2>"$T/sc.err"
}
leaf() { sed -n 's/^depth=0 CN = \(.*\)$/\1/p' "$T/sc.err" | head -n 1; }
answered() { grep -q '^HTTP/1.0 200 OK' "$T/sc.out"; }
reloads() { grep -c 'event=reloaded ' "$1"; }
# wait_reload LOG N: until LOG has more than N reloads
wait_reload() {
	local i
	for ((i = 0; i < WAIT_SECONDS * 20; i++)); do
		[ "$(reloads "$1")" -gt "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
# conn CMD: one step of the held connection (coproc TC), its answer in R
conn() {
	echo "$1" >&"${TC[1]}"
	R=""
	read -r -t 60 -u "$TC_OUT" R
	[[ $R != error* ]] && [ -n "$R" ]
}
start_conn() {
	coproc TC { "$PY" "$ROOT/kselftest/lib/tlsconn.py" "$PEER_PORT" "$C/ca.pem"; }
	PIDS+=("$TC_PID")
	exec {TC_OUT}<&"${TC[0]}"
}
end_conn() {
	exec {TC[1]}>&- {TC_OUT}<&-
	wait "$TC_PID" 2>/dev/null
}

DLOG=$T/daemon.log
CTL=$T/d.ctl
start_daemon "$T/d.sock" "$DLOG" --control "$CTL" --cert "$T/live/cert.pem" --key "$T/live/key.pem" \
	--deadline-ms 60000 ||
	{ ok 1 "handshaked starts"; finish; exit; }
start_handoff_server "$T/d.sock" || { ok 1 "peer server --handoff starts"; finish; exit; }

# 1. the certificate at start
sc "$PEER_PORT"
rc=$?
conn_line
[ $rc = 0 ] && answered && [ "$(leaf)" = p256 ]
ok $? "at start: s_client gets the configured certificate (CN=$(leaf))"

# 2. renewal by rename, SIGHUP; a connection established before it
start_conn
conn connect && conn handshake && [[ $R == "handshake CN=p256 "* ]]
ok $? "a connection established before the renewal: $R"
n=$(reloads "$DLOG")
cp "$T/archive/r1.pem" "$T/live/cert.pem.new" && cp "$T/archive/r1.key" "$T/live/key.pem.new" &&
	mv "$T/live/key.pem.new" "$T/live/key.pem" && mv "$T/live/cert.pem.new" "$T/live/cert.pem" &&
	kill -HUP "$DPID" && wait_reload "$DLOG" "$n"
ok $? "renewal: new files renamed over cert.pem and key.pem, SIGHUP: $(grep 'event=reloaded ' "$DLOG" | tail -n 1)"
conn get && [[ $R == "answer HTTP/1.0 200 OK "* ]]
ok $? "the connection established before the reload still works on kTLS: $R"
end_conn
conn_line
sc "$PEER_PORT"
rc=$?
conn_line
[ $rc = 0 ] && answered && [ "$(leaf)" = r1 ]
ok $? "after SIGHUP a new connection gets the renewed certificate (CN=$(leaf))"
want=$(date -u -d "$(openssl x509 -noout -enddate -in "$T/archive/r1.pem" | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)
ctl status >"$T/status.out"
grep -q "^certificate server $T/live/cert.pem subject=\"CN=r1\" names=localhost,127.0.0.1 not_after=$want days_left=" \
	"$T/status.out" && ! grep -q '^WARNING' "$T/status.out"
ok $? "handshakectl status shows the renewed certificate (not_after $want)"

# 3. renewal by symlink swap (certbot's live/ -> archive/), handshakectl
# reload, with a handshake in flight: it finishes with the certificate it
# started with
ln -s "$T/archive/r1.pem" "$T/live/cert.lnk" && ln -s "$T/archive/r1.key" "$T/live/key.lnk" &&
	mv -T "$T/live/cert.lnk" "$T/live/cert.pem" && mv -T "$T/live/key.lnk" "$T/live/key.pem"
start_conn
conn connect
inflight=""
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	inflight=$(metric handshaked_inflight)
	[ "$inflight" = 1 ] && break
	sleep 0.1
done
[ "$inflight" = 1 ]
ok $? "a handshake in flight: TCP connected, handed to the daemon, no ClientHello yet (in flight: $inflight)"
ln -s "$T/archive/r2.key" "$T/live/key.lnk" && ln -s "$T/archive/r2.pem" "$T/live/cert.lnk" &&
	mv -T "$T/live/key.lnk" "$T/live/key.pem" && mv -T "$T/live/cert.lnk" "$T/live/cert.pem" &&
	ctl reload >"$T/reload.out" 2>&1
ok $? "renewal: the live/ symlinks swapped to new archive files, handshakectl reload: $(head -n 1 "$T/reload.out")"
conn handshake && [[ $R == "handshake CN=r1 "* ]] && conn get && [[ $R == "answer HTTP/1.0 200 OK "* ]]
ok $? "the handshake in flight during the reload finished with the certificate it started with (CN=r1), answered"
end_conn
conn_line
sc "$PEER_PORT"
rc=$?
conn_line
[ $rc = 0 ] && answered && [ "$(leaf)" = r2 ]
ok $? "after handshakectl reload a new connection gets the new certificate (CN=$(leaf))"
stop_peer_server
stop "$DPID"

# 4. ticket keys across a fleet: two daemons, one key file
KEYS=$T/fleet.keys
"$BUILD/handshakectl" ticket-keys new "$KEYS" >"$T/keys.out"
ok $? "handshakectl ticket-keys new: $(cat "$T/keys.out")"
start_daemon "$T/a.sock" "$T/a.log" --control "$T/a.ctl" --cert "$C/p256.pem" --key "$C/p256.key" \
	--ticket-keys "$KEYS" && start_daemon "$T/b.sock" "$T/b.log" --control "$T/b.ctl" --cert "$C/p256.pem" \
	--key "$C/p256.key" --ticket-keys "$KEYS"
ok $? "two daemons with --ticket-keys $KEYS"
start_handoff_server "$T/a.sock" || { ok 1 "peer server for daemon a starts"; finish; exit; }
PA=$PEER_PORT
"$BUILD/tests/peer" server --listen 127.0.0.1:0 --handoff "$T/b.sock" 2>"$T/peer-b.log" </dev/null &
PIDS+=($!)
wait_for "$T/peer-b.log" '^peer: listening on' || { ok 1 "peer server for daemon b starts"; finish; exit; }
PB=$(sed -n 's/^peer: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/peer-b.log")
actl() { CTL=$T/a.ctl ctl "$@"; }
bctl() { CTL=$T/b.ctl ctl "$@"; }
ametric() { CTL=$T/a.ctl metric "$1"; }
bmetric() { CTL=$T/b.ctl metric "$1"; }
current() { "$@" status | sed -n 's/^ticket_key_current \([0-9a-f]*\) .*/\1/p'; }
file_current() { "$BUILD/handshakectl" ticket-keys show "$KEYS" | sed -n 's/^ *current *id \([0-9a-f]*\) .*/\1/p'; }
# resumed PORT SESSION: s_client -sess_in SESSION resumed and was answered
resumed() { sc "$1" -sess_in "$2" && answered && grep -q '^Reused, TLSv1.3' "$T/sc.out"; }

sc "$PA" -sess_out "$T/s1.pem" && answered && [ -s "$T/s1.pem" ] && resumed "$PB" "$T/s1.pem"
ok $? "a ticket from daemon a resumes on daemon b (one key file)"
sc "$PB" -sess_out "$T/s0.pem" && resumed "$PA" "$T/s0.pem"
ok $? "and one from b on a"

k0=$(file_current)
"$BUILD/handshakectl" ticket-keys rotate "$KEYS" >"$T/rotate.out" && k1=$(file_current) && [ "$k1" != "$k0" ] &&
	actl reload >/dev/null && [ "$(current actl)" = "$k1" ] && [ "$(current bctl)" = "$k0" ]
ok $? "ticket-keys rotate, a reloaded: a's current key ${k1:0:8}.. is the file's, b still has ${k0:0:8}.."
unknown0=$(bmetric 'handshaked_ticket_opens_total{result="unknown_key"}')
sc "$PA" -sess_out "$T/s2.pem" && answered && sc "$PB" -sess_in "$T/s2.pem" && answered &&
	grep -q '^New, TLSv1.3' "$T/sc.out" &&
	[ "$(bmetric 'handshaked_ticket_opens_total{result="unknown_key"}')" = $((unknown0 + 1)) ]
ok $? "until b reloads, a's new ticket means a full handshake on b (b counts it as unknown_key)"
bctl reload >/dev/null && [ "$(current bctl)" = "$k1" ] && [ "$(current actl)" = "$k1" ]
ok $? "b reloaded: both daemons' current ticket key is the file's (handshakectl status: ${k1:0:8}..)"
resumed "$PB" "$T/s2.pem"
ok $? "a's ticket under the new key resumes on b"
sc "$PB" -sess_out "$T/s3.pem" && resumed "$PA" "$T/s3.pem"
ok $? "b's ticket under the new key resumes on a"
resumed "$PA" "$T/s1.pem" && o1=$(ametric 'handshaked_ticket_opens_total{result="opened"}')
ok $? "a ticket sealed before the rotation still resumes (the old key is kept as a previous key; a opened ${o1:-?})"
[ "$(ametric 'handshaked_ticket_opens_total{result="tampered"}')" = 0 ] &&
	[ "$(bmetric 'handshaked_ticket_opens_total{result="tampered"}')" = 0 ] &&
	[ "$(ametric 'handshaked_ticket_keys')" = 2 ] && [ "$(bmetric 'handshaked_ticket_keys')" = 2 ]
ok $? "no ticket failed to authenticate; both hold 2 keys (current + previous)"

[ "$FAILED" = 0 ] || diag "$DLOG" "$T/a.log" "$T/b.log" "$T/sc.err" "$T/peer-server.log" "$T/peer-b.log"
finish
