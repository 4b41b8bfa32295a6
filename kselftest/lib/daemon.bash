# Shared setup of the daemon's kernel tests (kselftest/daemon*.sh). Sourced
# after tests/tcp/lib.sh (bash, not run: kselftest/inside runs only
# kselftest/*.sh, so this file lives in kselftest/lib/).
#
#   ktls_or_skip WHAT     loads the kTLS modules (not always auto-loaded, e.g.
#                         from a chroot); without kTLS the script is skipped;
#                         sets REKEY (1: the kernel can re-key TLS 1.3, >= 6.14)
#   need_built PROG...    each $BUILD/PROG is built, or one failing line and exit
#   start_daemon SOCK LOG ARGS...  handshaked --handoff SOCK ARGS $HANDSHAKED_ARGS,
#                         stdout and stderr in LOG; returns once it serves (its control
#                         socket, --control or SOCK.ctl, exists: it is made
#                         after the handoff socket listens); sets DPID
#   start_handoff_server SOCK ARGS...  tests/peer server --handoff SOCK ARGS
#                         (lib.sh's start_peer_server: PEER_PORT, conn_line)
#   ctl ARGS...           handshakectl ARGS --socket $CTL
#   metric NAME           one Prometheus sample of `ctl stats --prometheus`
#   listening LOG         until kselftest/handoff-client.py (port 'any')
#                         listens; sets APORT
#   tls_stat NAME         a counter of /proc/net/tls_stat
#   body_ok FILE [STATUS HEADLEN]  FILE holds an HTTP answer whose body is
#                         exactly $BIG ($SIZE bytes, $HEAD bytes of header)
#   conn_log              the peer server's lines about the connection of
#                         the last conn_line
DAEMON=$BUILD/handshaked

ktls_or_skip() {
	local m
	if [ "$(id -u)" = 0 ]; then
		for m in gcm ctr ghash_generic aesni_intel chacha20poly1305 tls; do
			modprobe -q "$m" 2>/dev/null
		done
	fi
	if grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null; then
		if grep -q '^TlsRxRekeyOk' /proc/net/tls_stat 2>/dev/null; then REKEY=1; else REKEY=0; fi
		return 0
	fi
	echo "ok 1 - $1 # SKIP no kTLS on Linux $(uname -r)"
	echo "1..1"
	exit 0
}

need_built() {
	local p
	for p in "$@"; do
		[ -x "$BUILD/$p" ] && continue
		echo "not ok 1 - $BUILD/$p is built (make BUILD=${BUILD##*/})"
		echo "1..1"
		exit 1
	done
}

start_daemon() {
	local sock=$1 log=$2 ctl i a prev=""
	shift 2
	ctl=$sock.ctl
	for a in "$@"; do
		[ "$prev" = --control ] && ctl=$a
		prev=$a
	done
	rm -f "$sock"
	# shellcheck disable=SC2086 # HANDSHAKED_ARGS: more options, e.g. --user nobody
	"$DAEMON" --handoff "$sock" "$@" ${HANDSHAKED_ARGS:-} >"$log" 2>&1 </dev/null &
	DPID=$!
	PIDS+=("$DPID")
	for ((i = 0; i < WAIT_SECONDS * 50; i++)); do
		[ -S "$sock" ] && [ -S "$ctl" ] && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.02
	done
	echo "# handshaked --handoff $sock $* did not start:"
	diag "$log"
	return 1
}

start_handoff_server() {
	local sock=$1
	shift
	start_peer_server --handoff "$sock" "$@"
}

ctl() { "$BUILD/handshakectl" "$@" --socket "$CTL"; }
metric() { ctl stats --prometheus | awk -v m="$1" '$1 == m { print $2 }'; }

listening() {
	local i
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		APORT=$(sed -n 's/^listening \([0-9]*\)$/\1/p' "$1" 2>/dev/null)
		[ -n "$APORT" ] && return 0
		sleep 0.1
	done
	echo "# $1: the application did not start listening:"
	sed 's/^/#   /' "$1"
	return 1
}

tls_stat() { awk -v n="$1" '$1 == n { print $2 }' /proc/net/tls_stat; }

body_ok() {
	local status=${2:-HTTP/1.0 200 OK} head=${3:-$HEAD} off
	off=$(grep -aboF "$status" "$1" | head -n 1 | cut -d: -f1)
	[ -n "$off" ] && tail -c +$((off + head + 1)) "$1" | head -c "$SIZE" | cmp -s - "$BIG"
}

conn_log() {
	local addr
	addr=$(echo "$LINE" | awk '{ print $2 }')
	grep -F "peer: $addr " "$T/peer-server.log"
}
