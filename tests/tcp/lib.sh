# Shared helpers of the TCP interop scripts (sourced, not run; bash).
#
#   ok STATUS NAME        one TAP line from an exit status (0 = pass)
#   diag FILE...          the files as "# " comment lines
#   start_peer_server ARGS...   our server on 127.0.0.1:0; sets PEER_PORT,
#                         logs to $T/peer-server.log
#   stop_peer_server      SIGTERM; a failing line if it did not exit cleanly
#   conn_line             waits for the server's line about the next
#                         connection and sets LINE to it
#   start_s_server NAME ARGS... openssl s_server on 127.0.0.1:0; sets SPORT
#   start_on_free_port NAME CMD... (with @PORT@ in CMD) for servers that cannot
#                         bind port 0 (gnutls-serv); sets SPORT
#   wait_for FILE REGEX [PID]  until REGEX appears in FILE (fails if PID dies)
#   log_mark FILE         FILE's size now, for wait_for_new
#   wait_for_new FILE MARK REGEX [PID]  the same, in what FILE got after MARK
#                         (a line an earlier step logged does not count)
#   finish                prints the plan; exit status 0 iff all passed
# Every background process is killed on exit; $T is a private temp dir.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
PEER=$BUILD/tests/peer
CERTS=$BUILD/certs
T=$(mktemp -d "${TMPDIR:-/tmp}/handshaked-tcp.XXXXXX")
PIDS=()
N=0
FAILED=0
CONN=0
WAIT_SECONDS=${WAIT_SECONDS:-10}

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() {
	N=$((N + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $N - $2"
	else
		echo "not ok $N - $2"
		FAILED=$((FAILED + 1))
	fi
}

skip() {
	N=$((N + 1))
	echo "ok $N - $2 # SKIP $1"
}

diag() {
	local f
	for f in "$@"; do
		[ -s "$f" ] && sed -e 's/^/# /' "$f" | tail -n 15
	done
	return 0
}

finish() {
	echo "1..$N"
	[ "$FAILED" -eq 0 ]
}

# The whole script is skipped when a tool is missing ("1..0 # SKIP why");
# tests/run-all lists it and, since ./deps installs every tool, fails it.
require() {
	command -v "$1" >/dev/null 2>&1 || {
		echo "1..0 # SKIP $1 not installed"
		exit 0
	}
}

wait_for() {
	wait_for_new "$1" 0 "$2" "${3:-}"
}

log_mark() {
	stat -c %s "$1" 2>/dev/null || echo 0
}

wait_for_new() {
	local file=$1 mark=$2 re=$3 pid=${4:-} i
	for ((i = 0; i < WAIT_SECONDS * 50; i++)); do
		tail -c +$((mark + 1)) "$file" 2>/dev/null | grep -qE -- "$re" && return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			tail -c +$((mark + 1)) "$file" 2>/dev/null | grep -qE -- "$re"
			return
		fi
		sleep 0.02
	done
	return 1
}

# bg NAME CMD...: runs CMD in the background, output in $T/NAME.{out,err}.
bg() {
	local name=$1
	shift
	: >"$T/$name.out"  # truncated before the start: no stale output to match
	: >"$T/$name.err"
	"$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

stop() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# Stops our server and checks it exited cleanly (with SAN=1 builds this is
# where leaks show up).
stop_peer_server() {
	kill "$PEER_PID" 2>/dev/null
	wait "$PEER_PID" 2>/dev/null
	if ! grep -q '^peer: stopped' "$T/peer-server.log" || grep -q 'Sanitizer' "$T/peer-server.log"; then
		ok 1 "peer server exits cleanly"
		diag "$T/peer-server.log"
	fi
}

start_peer_server() {
	: >"$T/peer-server.log"  # no stale "listening" line from a previous server
	"$PEER" server --listen 127.0.0.1:0 "$@" 2>"$T/peer-server.log" </dev/null &
	PEER_PID=$!
	PIDS+=("$PEER_PID")
	CONN=0
	wait_for "$T/peer-server.log" '^peer: listening on' "$PEER_PID" || {
		diag "$T/peer-server.log"
		return 1
	}
	PEER_PORT=$(sed -n 's/^peer: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/peer-server.log")
}

# Our server writes one line per connection; this returns the next one.
conn_line() {
	CONN=$((CONN + 1))
	local i
	for ((i = 0; i < WAIT_SECONDS * 50; i++)); do
		if [ "$(grep -cE '^peer: [0-9.]+:[0-9]+ (ok|failed)' "$T/peer-server.log")" -ge "$CONN" ]; then
			LINE=$(grep -E '^peer: [0-9.]+:[0-9]+ (ok|failed)' "$T/peer-server.log" | sed -n "${CONN}p")
			return 0
		fi
		sleep 0.02
	done
	LINE="(no line for connection $CONN)"
	return 1
}

start_s_server() {
	local name=$1
	shift
	bg "$name" openssl s_server -accept 127.0.0.1:0 "$@"
	SPID=$LAST_PID
	wait_for "$T/$name.out" '^ACCEPT' "$SPID" || {
		diag "$T/$name.out" "$T/$name.err"
		return 1
	}
	SPORT=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$T/$name.out")
}

# A port nobody listens on now; start_on_free_port retries if we lose a race.
free_port() {
	local p
	while :; do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		[ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && echo "$p" && return
	done
}

start_on_free_port() {
	local name=$1 try i
	shift
	for ((try = 0; try < 5; try++)); do
		SPORT=$(free_port)
		bg "$name" "${@//@PORT@/$SPORT}"
		SPID=$LAST_PID
		for ((i = 0; i < WAIT_SECONDS * 50; i++)); do
			kill -0 "$SPID" 2>/dev/null || break
			ss -Htlnp "sport = :$SPORT" 2>/dev/null | grep -q "pid=$SPID," && return 0
			sleep 0.02
		done
		stop "$SPID"
	done
	diag "$T/$name.out" "$T/$name.err"
	return 1
}

# Certificates are made on first use and cached in $BUILD/certs.
"$ROOT/tests/certs/mk" "$CERTS" || {
	echo "not ok 1 - tests/certs/mk $CERTS"
	echo "1..1"
	exit 1
}
if [ ! -x "$PEER" ]; then
	echo "not ok 1 - $PEER is built (make BUILD=${BUILD##*/})"
	echo "1..1"
	exit 1
fi
