#!/usr/bin/env bash
# The daemon benchmark, run inside the VM (needs kTLS; bench/run starts it
# with kselftest/vm/run). Method and rows: bench/README.md. Everything is
# measured in this one run, rounds interleaved so that load on the host
# hits both sides of each ratio alike:
#   - server CPU per handshake: `peer server --handoff` + handshaked (the
#     daemon's CPU and the application's) vs `peer server --ktls` (the
#     engine in-process, then kTLS), CPU_CONC connections at once;
#   - handshakes/s at concurrency 64 with --loops 1 and --loops 2: the
#     server's capacity, 64 full handshakes at once with the load
#     generator's own crypto outside the timed phases (daemon_load burst),
#     with one event-driven application (`peer async-server --echo`, as
#     kstatic: the summary's ratio) and with 64 application processes
#     (`peer server --handoff --echo`, one connection each);
#   - the daemon's heap per in-flight and per established connection
#     (handshaked_heap_bytes), K at once.
# Last line:
#   daemon handoff_cpu_vs_inprocess=R bytes_per_inflight=N bytes_per_established=N loops2_vs_loops1=R
#          loops2_vs_loops1_processes=R
# Environment: DAEMON_BENCH_ROUNDS (5), DAEMON_BENCH_SECONDS (4 per run),
# DAEMON_BENCH_CPU_CONC (8), DAEMON_BENCH_K (64), DAEMON_BENCH_BURSTS (3
# timed bursts of 64 per capacity run).
WAIT_SECONDS=${WAIT_SECONDS:-30}  # TCG is slow
. "$(dirname "$0")/../tests/tcp/lib.sh"
set -o pipefail
ROUNDS=${DAEMON_BENCH_ROUNDS:-5}
SECS=${DAEMON_BENCH_SECONDS:-4}
CPU_CONC=${DAEMON_BENCH_CPU_CONC:-8}
K=${DAEMON_BENCH_K:-64}
BURSTS=${DAEMON_BENCH_BURSTS:-3}
CONC=64
B=$BUILD
LOAD=$B/bench/daemon_load
ENGINE_THREADS=$B/bench/engine_threads
SOCK=$T/handoff.sock
CTL=$T/control.sock

die() {
	echo "bench/daemon.sh: $*" >&2
	exit 1
}
for f in "$LOAD" "$ENGINE_THREADS" "$PEER" "$B/handshaked"; do
	[ -x "$f" ] || die "$f is missing: make BUILD=$BUILD"
done
[ -f "$CERTS/p256.pem" ] || die "$CERTS/p256.pem is missing: tests/certs/mk $CERTS"
grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null ||
	{ [ "$(id -u)" = 0 ] && modprobe -q tls 2>/dev/null && grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp; } ||
	die "no kTLS on Linux $(uname -r): run it in the VM (bench/run does)"
[ "$CPU_CONC" -le "$CONC" ] || die "DAEMON_BENCH_CPU_CONC must be <= $CONC"
[ "$K" -le "$CONC" ] || die "DAEMON_BENCH_K must be <= $CONC (one peer process per handshake)"

DPID=
start_daemon() {
	rm -f "$CTL"
	"$B/handshaked" --handoff "$SOCK" --control "$CTL" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key" \
		--tickets 0 --loops "$1" --deadline-ms 60000 --log-level warn 2>>"$T/daemon.log" &
	DPID=$!
	PIDS+=("$DPID")
	local i
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		[ -S "$CTL" ] && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$T/daemon.log" >&2
	die "handshaked --loops $1 did not start"
}
stop_daemon() {
	kill "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=
}

# peers NAME COUNT ARGS...: COUNT `peer server --echo ARGS` on port 0;
# sets P_PORTS and P_PIDS (comma-separated). One connection at a time each.
peers() {
	local name=$1 count=$2 i log pids=() ports=()
	shift 2
	for ((i = 0; i < count; i++)); do
		log=$T/$name.$i.log
		: >"$log"
		"$PEER" server --listen 127.0.0.1:0 --echo "$@" 2>"$log" </dev/null &
		pids+=("$!")
		PIDS+=("$!")
	done
	for ((i = 0; i < count; i++)); do
		log=$T/$name.$i.log
		wait_for "$log" '^peer: listening on' "${pids[$i]}" || { cat "$log" >&2; die "peer $name.$i did not start"; }
		ports+=("$(sed -n 's/^peer: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")")
	done
	P_PORTS=$(IFS=,; echo "${ports[*]}")
	P_PIDS=$(IFS=,; echo "${pids[*]}")
}

# first N of a comma-separated list
firstn() { echo "$2" | cut -d, -f1-"$1"; }
# field NAME from a `run ...` / `heap ...` line
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# run LABEL ARGS...: one daemon_load run; its line goes to $T/runs
run() {
	local label=$1 out
	shift
	out=$("$LOAD" run --seconds "$SECS" --warmup 1 "$@" 2>"$T/load.err") ||
		{ cat "$T/load.err" >&2; tail -n 5 "$T/daemon.log" >&2; die "$label: the load run failed"; }
	echo "$label $out" >>"$T/runs"
	echo "# $label: $(field handshakes "$out") handshakes, $(field hs_per_s "$out")/s," \
		"server $(field server_cpu_us_per_hs "$out") us CPU each (daemon $(field daemon_cpu_s "$out") s)," \
		"client $(field client_cpu_s "$out") s CPU"
	LINE=$out
}

# burst LABEL PORTS PIDS: the capacity at concurrency $CONC of the running
# daemon, the applications on PORTS (their processes PIDS)
burst() {
	local label=$1 out
	out=$("$LOAD" burst --ports "$2" --control "$CTL" --daemon "$DPID" --pids "$3" \
		--k "$CONC" --bursts "$BURSTS" 2>"$T/load.err") ||
		{ cat "$T/load.err" >&2; tail -n 5 "$T/daemon.log" >&2; die "$label: the burst run failed"; }
	echo "$label $out" >>"$T/runs"
	echo "# $label: $(field hs_per_s "$out") hs/s over $(field seconds "$out") s timed;" \
		"daemon $(field daemon_cpu_pct "$out")% CPU (threads $(field threads_pct "$out")," \
		"handshakes per loop $(field loop_split "$out")), server $(field server_cpu_pct "$out")%," \
		"load generator $(field client_cpu_pct "$out")%; A $(field a_seconds "$out") s" \
		"(daemon $(field a_daemon_cpu_pct "$out")%, applications $(field a_apps_cpu_pct "$out")%," \
		"machine busy $(field a_machine_busy_pct "$out")%), B $(field b_seconds "$out") s" \
		"(daemon $(field b_daemon_cpu_pct "$out")%, applications $(field b_apps_cpu_pct "$out")%," \
		"machine busy $(field b_machine_busy_pct "$out")%)"
	LINE=$out
}

# stats COLUMN: "median min max" of the numbers on stdin
stats() { sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
	printf "%.3f %.3f %.3f\n", m, v[1], v[NR] }'; }

echo "# handshaked benchmark on Linux $(uname -r), $(nproc) CPUs; $ROUNDS rounds of ${SECS} s runs"
echo "# server: P-256 ECDSA certificate, X25519, no tickets; client: our engine (bench/daemon_load), no verification"
peers ktls "$CPU_CONC" --ktls --tickets 0 --cert "$CERTS/p256.pem" --key "$CERTS/p256.key"
KTLS_PORTS=$P_PORTS KTLS_PIDS=$P_PIDS
peers handoff "$CONC" --handoff "$SOCK"
HO_PORTS=$P_PORTS HO_PIDS=$P_PIDS
HO_CPU_PORTS=$(firstn "$CPU_CONC" "$HO_PORTS") HO_CPU_PIDS=$(firstn "$CPU_CONC" "$HO_PIDS")

: >"$T/ratios.cpu"
: >"$T/ratios.loops"
: >"$T/ratios.ceiling"
: >"$T/ratios.threads"
: >"$T/ratios.loops_a"
: >"$T/ratios.loops_ev"
# ceiling: what two CPU-bound processes get over one on this VM (openssl
# speed, X25519 derivations), the most two loops could gain here
ceiling() {
	local one two
	one=$(openssl speed -seconds 3 -multi 1 ecdhx25519 2>/dev/null | awk '/X25519/ { v = $NF } END { print v }')
	two=$(openssl speed -seconds 3 -multi 2 ecdhx25519 2>/dev/null | awk '/X25519/ { v = $NF } END { print v }')
	[ -n "$one" ] && [ -n "$two" ] || die "openssl speed printed no X25519 figure"
	awk -v a="$two" -v b="$one" 'BEGIN { printf "%.4f\n", a / b }'
}
# and what two threads of one process get from the engine alone (in-memory
# handshakes, shared configurations, as the loops share theirs): whether
# shared state inside one process costs the loops anything here
engine_threads() {
	local line
	line=$("$ENGINE_THREADS" --threads 2 --seconds 3 | tail -n1) || die "engine_threads failed"
	field threads_vs_one "$line"
}
start_daemon 1
# one event-driven application (hs_async + epoll, as kstatic) for all $CONC
# connections; it reaches the daemon at once (and again after each restart)
: >"$T/async.log"
"$PEER" async-server --handoff "$SOCK" --listen 127.0.0.1:0 --async "$CONC" --echo 2>"$T/async.log" </dev/null &
EV_PID=$!
PIDS+=("$EV_PID")
wait_for "$T/async.log" '^peer: listening on' "$EV_PID" || { cat "$T/async.log" >&2; die "peer async-server did not start"; }
EV_PORT=$(sed -n 's/^peer: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/async.log")
for ((r = 1; r <= ROUNDS; r++)); do
	# CPU per handshake, in-process vs hand-off (daemon --loops 1)
	run "r$r in-process" --ports "$KTLS_PORTS" --pids "$KTLS_PIDS" --concurrency "$CPU_CONC"
	inproc=$(field server_cpu_us_per_hs "$LINE")
	run "r$r handoff" --ports "$HO_CPU_PORTS" --pids "$HO_CPU_PIDS" --daemon "$DPID" --concurrency "$CPU_CONC"
	handoff=$(field server_cpu_us_per_hs "$LINE")
	awk -v a="$handoff" -v b="$inproc" 'BEGIN { printf "%.4f\n", a / b }' >>"$T/ratios.cpu"
	# capacity at concurrency 64, --loops 1 then --loops 2
	burst "r$r loops1 c$CONC" "$HO_PORTS" "$HO_PIDS"
	l1=$(field hs_per_s "$LINE") a1=$(field a_seconds "$LINE")
	burst "r$r evloops1 c$CONC" "$EV_PORT" "$EV_PID"
	e1=$(field hs_per_s "$LINE")
	stop_daemon
	start_daemon 2
	burst "r$r loops2 c$CONC" "$HO_PORTS" "$HO_PIDS"
	l2=$(field hs_per_s "$LINE") a2=$(field a_seconds "$LINE")
	burst "r$r evloops2 c$CONC" "$EV_PORT" "$EV_PID"
	e2=$(field hs_per_s "$LINE")
	awk -v a="$l2" -v b="$l1" 'BEGIN { printf "%.4f\n", a / b }' >>"$T/ratios.loops"
	awk -v a="$a1" -v b="$a2" 'BEGIN { printf "%.4f\n", a / b }' >>"$T/ratios.loops_a"
	awk -v a="$e2" -v b="$e1" 'BEGIN { printf "%.4f\n", a / b }' >>"$T/ratios.loops_ev"
	stop_daemon
	ceiling >>"$T/ratios.ceiling"
	engine_threads >>"$T/ratios.threads"
	start_daemon 1
done

# heap: idle, K in flight, K handed back; under --loops 1 and --loops 2
heap_line() {
	"$LOAD" heap --ports "$HO_PORTS" --control "$CTL" --k "$K" 2>"$T/load.err" ||
		{ cat "$T/load.err" >&2; tail -n 5 "$T/daemon.log" >&2; die "heap: the load run failed"; }
}
H1=$(heap_line)
stop_daemon
start_daemon 2
H2=$(heap_line)
stop_daemon

read -r cpu_med cpu_min cpu_max <<<"$(stats <"$T/ratios.cpu")"
read -r loops_med loops_min loops_max <<<"$(stats <"$T/ratios.loops")"
read -r ceil_med ceil_min ceil_max <<<"$(stats <"$T/ratios.ceiling")"
read -r thr_med thr_min thr_max <<<"$(stats <"$T/ratios.threads")"
read -r la_med la_min la_max <<<"$(stats <"$T/ratios.loops_a")"
read -r ev_med ev_min ev_max <<<"$(stats <"$T/ratios.loops_ev")"
read -r inproc_med inproc_min inproc_max <<<"$(grep -- ' in-process run ' "$T/runs" | sed 's/.*server_cpu_us_per_hs=\([^ ]*\).*/\1/' | stats)"
read -r handoff_med handoff_min handoff_max <<<"$(grep -- ' handoff run ' "$T/runs" | sed 's/.*server_cpu_us_per_hs=\([^ ]*\).*/\1/' | stats)"
read -r l1_med l1_min l1_max <<<"$(grep -- ' loops1 ' "$T/runs" | sed 's/.*hs_per_s=\([^ ]*\).*/\1/' | stats)"
read -r l2_med l2_min l2_max <<<"$(grep -- ' loops2 ' "$T/runs" | sed 's/.*hs_per_s=\([^ ]*\).*/\1/' | stats)"
read -r e1_med e1_min e1_max <<<"$(grep -- ' evloops1 ' "$T/runs" | sed 's/.*hs_per_s=\([^ ]*\).*/\1/' | stats)"
read -r e2_med e2_min e2_max <<<"$(grep -- ' evloops2 ' "$T/runs" | sed 's/.*hs_per_s=\([^ ]*\).*/\1/' | stats)"
read -r de1_med de1_min de1_max <<<"$(grep -- ' evloops1 ' "$T/runs" | sed 's/.* daemon_cpu_pct=\([^ ]*\).*/\1/' | stats)"
read -r de2_med de2_min de2_max <<<"$(grep -- ' evloops2 ' "$T/runs" | sed 's/.* daemon_cpu_pct=\([^ ]*\).*/\1/' | stats)"
read -r d1_med d1_min d1_max <<<"$(grep -- ' loops1 ' "$T/runs" | sed 's/.* daemon_cpu_pct=\([^ ]*\).*/\1/' | stats)"
read -r d2_med d2_min d2_max <<<"$(grep -- ' loops2 ' "$T/runs" | sed 's/.* daemon_cpu_pct=\([^ ]*\).*/\1/' | stats)"
read -r hd_med hd_min hd_max <<<"$(grep -- ' handoff run ' "$T/runs" | awk '{ for (i = 1; i <= NF; i++) {
	if ($i ~ /^handshakes=/) h = substr($i, 12); if ($i ~ /^daemon_cpu_s=/) d = substr($i, 14) }
	printf "%.1f\n", d * 1e6 / h }' | stats)"
echo
echo "$ROUNDS rounds; median (min, max) over rounds; ratios are medians of per-round ratios"
printf '%-50s %10s %10s %10s\n' "row" "median" "min" "max"
printf '%-50s %10.1f %10.1f %10.1f\n' "server CPU us/hs, in-process (peer --ktls)" "$inproc_med" "$inproc_min" "$inproc_max"
printf '%-50s %10.1f %10.1f %10.1f\n' "server CPU us/hs, handoff (peer + daemon)" "$handoff_med" "$handoff_min" "$handoff_max"
printf '%-50s %10.3f %10.3f %10.3f\n' "  ratio handoff / in-process" "$cpu_med" "$cpu_min" "$cpu_max"
printf '%-50s %10.1f %10.1f %10.1f\n' "  of it the daemon's" "$hd_med" "$hd_min" "$hd_max"
printf '%-50s %10s %10s %10s\n' "one event-driven application (peer async-server):"
printf '%-50s %10.1f %10.1f %10.1f\n' "handshakes/s c$CONC (bursts), --loops 1" "$e1_med" "$e1_min" "$e1_max"
printf '%-50s %10.1f %10.1f %10.1f\n' "handshakes/s c$CONC (bursts), --loops 2" "$e2_med" "$e2_min" "$e2_max"
printf '%-50s %10.3f %10.3f %10.3f\n' "  ratio loops 2 / loops 1" "$ev_med" "$ev_min" "$ev_max"
printf '%-50s %10.0f %10.0f %10.0f\n' "  daemon CPU % in the bursts, --loops 1" "$de1_med" "$de1_min" "$de1_max"
printf '%-50s %10.0f %10.0f %10.0f\n' "  daemon CPU % in the bursts, --loops 2" "$de2_med" "$de2_min" "$de2_max"
printf '%-50s %10s %10s %10s\n' "$CONC application processes (peer server --handoff):"
printf '%-50s %10.1f %10.1f %10.1f\n' "handshakes/s c$CONC (bursts), --loops 1" "$l1_med" "$l1_min" "$l1_max"
printf '%-50s %10.1f %10.1f %10.1f\n' "handshakes/s c$CONC (bursts), --loops 2" "$l2_med" "$l2_min" "$l2_max"
printf '%-50s %10.3f %10.3f %10.3f\n' "  ratio loops 2 / loops 1" "$loops_med" "$loops_min" "$loops_max"
printf '%-50s %10.3f %10.3f %10.3f\n' "  of it phase A (ClientHello to flight)" "$la_med" "$la_min" "$la_max"
printf '%-50s %10.0f %10.0f %10.0f\n' "  daemon CPU % in the bursts, --loops 1" "$d1_med" "$d1_min" "$d1_max"
printf '%-50s %10.0f %10.0f %10.0f\n' "  daemon CPU % in the bursts, --loops 2" "$d2_med" "$d2_min" "$d2_max"
printf '%-50s %10.3f %10.3f %10.3f\n' "ceiling: openssl speed -multi 2 / -multi 1" "$ceil_med" "$ceil_min" "$ceil_max"
printf '%-50s %10.3f %10.3f %10.3f\n' "ceiling: engine, 2 threads / 1, one process" "$thr_med" "$thr_min" "$thr_max"
echo "daemon heap, --loops 1: $H1"
echo "daemon heap, --loops 2: $H2"
inflight=$(field bytes_per_inflight "$H2")
est=$(field bytes_per_established "$H2")
met() { awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { ok = op == "<=" ? v <= t : v >= t; print ok ? "met" : "MISSED" }'; }
echo "targets: handoff CPU <= 1.15x in-process: $(met "$cpu_med" '<=' 1.15) ($cpu_med);" \
	"heap per in-flight <= 16384: $(met "$inflight" '<=' 16384) ($inflight);" \
	"per established 0: $(met "$est" '<=' 0) ($est); loops 2 >= 1.7x loops 1: $(met "$ev_med" '>=' 1.7) ($ev_med," \
	"one event-driven application; $loops_med with $CONC application processes)"
echo "(two loops against this VM's ceiling for two CPU-bound processes: $(awk -v a="$ev_med" -v b="$ceil_med" 'BEGIN { printf "%.2f", a / b }')" \
	"with one event-driven application, $(awk -v a="$loops_med" -v b="$ceil_med" 'BEGIN { printf "%.2f", a / b }') with $CONC processes)"
echo "daemon handoff_cpu_vs_inprocess=$cpu_med bytes_per_inflight=$inflight bytes_per_established=$est loops2_vs_loops1=$ev_med loops2_vs_loops1_processes=$loops_med"
