#!/usr/bin/env bash
# The kstatic benchmark, run inside the VM (needs kTLS; bench/run starts it
# with kselftest/vm/run). Method and rows: bench/README.md. Three servers
# with the same certificate (P-256), group (X25519), cipher (AES-128-GCM),
# one worker each, measured in this one run, rounds interleaved (and the
# servers' order rotated from round to round):
#   kstatic     kstatic --threads 1 + handshaked --loops 1 (kTLS, sendfile)
#   nginx       Debian's nginx, userspace TLS, sendfile on, one worker
#   nginx-ktls  the same with `ssl_conf_command Options KTLS`
# Rows: bulk (curl, fixed work: throughput and server CPU per GiB), new
# connections/s for a 1 KiB file at concurrency 64, full and resumed
# (bench/kstatic_load), server RSS per idle keep-alive connection.
# Machine-readable lines start with bulk/hs/mem/ktls; bench/kstatic-report
# turns them into a table and plots. Last line:
#   kstatic cpu_per_gib_vs_nginx=R tput_vs_nginx_ktls=R hs_per_s_vs_nginx=R
#   hs_cpu_vs_nginx=R resumed_hs_per_s_vs_nginx=R resumed_hs_cpu_vs_nginx=R
#   mem_per_conn_vs_nginx_ktls=R
# Environment: BENCH_QUICK (1: sizes for TCG; 0: the issue's full sizes),
# KSTATIC_BENCH_ROUNDS, _BIG_MIB, _HS_SECONDS, _IDLE (see bench/README.md);
# KSTATIC_LOAD_AGENT_PORT=PORT: the handshake rows' client runs outside the
# VM, in `kstatic_load agent` at $HSVM_HOST_IP:PORT (bench/run starts it
# with kselftest/vm/run --net-host), so it takes none of the VM's CPUs;
# KSTATIC_BENCH_BULK_OUTSIDE=1: the bulk rows' curl too (off by default:
# it changed nothing measurable, bench/README.md).
WAIT_SECONDS=${WAIT_SECONDS:-30}  # TCG is slow
. "$(dirname "$0")/../tests/tcp/lib.sh"
set -o pipefail
QUICK=${BENCH_QUICK:-1}
if [ "$QUICK" = 1 ]; then
	ROUNDS=${KSTATIC_BENCH_ROUNDS:-3} BIG_MIB=${KSTATIC_BENCH_BIG_MIB:-8}
	HS_SECS=${KSTATIC_BENCH_HS_SECONDS:-5} IDLE=${KSTATIC_BENCH_IDLE:-2000}
	# transfers per connection: small file, big file
	PER_SMALL=${KSTATIC_BENCH_PER_SMALL:-4} PER_BIG=${KSTATIC_BENCH_PER_BIG:-1}
else
	ROUNDS=${KSTATIC_BENCH_ROUNDS:-3} BIG_MIB=${KSTATIC_BENCH_BIG_MIB:-256}
	HS_SECS=${KSTATIC_BENCH_HS_SECONDS:-10} IDLE=${KSTATIC_BENCH_IDLE:-10000}
	PER_SMALL=${KSTATIC_BENCH_PER_SMALL:-64} PER_BIG=${KSTATIC_BENCH_PER_BIG:-2}
fi
SMALL_MIB=1
HS_CONC=64
B=$BUILD
LOAD=$B/bench/kstatic_load
C=$CERTS
W=$T/www
SERVERS="kstatic nginx nginx-ktls"

die() {
	echo "bench/kstatic.sh: $*" >&2
	exit 1
}
for f in "$LOAD" "$B/kstatic" "$B/handshaked"; do
	[ -x "$f" ] || die "$f is missing: make BUILD=$BUILD"
done
for t in nginx curl; do
	command -v "$t" >/dev/null || die "$t is not installed: run ./deps"
done
if [ "$(id -u)" = 0 ]; then
	for m in gcm ctr ghash_generic aesni_intel chacha20poly1305 tls; do modprobe -q "$m" 2>/dev/null; done
fi
grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null ||
	die "no kTLS on Linux $(uname -r): run it in the VM (bench/run kstatic does)"
# 10,000 connections at each end in one VM
ulimit -n 65536 2>/dev/null || die "cannot raise ulimit -n to 65536 (run as root, as the VM does)"
# where the handshake rows' client runs
AGENT="" LISTEN_IP=127.0.0.1 CPU_PORT=7701 BULK_OUTSIDE=${KSTATIC_BENCH_BULK_OUTSIDE:-0}
if [ -n "${KSTATIC_LOAD_AGENT_PORT:-}" ]; then
	[ -n "${HSVM_HOST_IP:-}" ] || die "KSTATIC_LOAD_AGENT_PORT needs the VM's link (kselftest/vm/run --net-host)"
	AGENT=$HSVM_HOST_IP:$KSTATIC_LOAD_AGENT_PORT
	LISTEN_IP=0.0.0.0
	"$LOAD" cpu-server --listen "$CPU_PORT" </dev/null &
	PIDS+=("$!")
fi
tls_stat() { awk -v n="$1" '$1 == n { print $2 }' /proc/net/tls_stat; }

mkdir -p "$W"
head -c 1024 /dev/urandom >"$W/1k.bin"
head -c $((SMALL_MIB << 20)) /dev/urandom >"$W/small.bin"
head -c $((BIG_MIB << 20)) /dev/urandom >"$W/big.bin"

# ---- the servers ----
declare -A PORT PIDS_OF NAMES_OF
start_wait() { # start_wait NAME PID LOG: until the log says it listens
	wait_for "$3" "$4" "$2" || { cat "$3" >&2; die "$1 did not start"; }
}

rm -f "$T/d.sock"
"$B/handshaked" --handoff "$T/d.sock" --control "$T/d.ctl" --cert "$C/p256.pem" --key "$C/p256.key" \
	--ciphers TLS_AES_128_GCM_SHA256 --groups x25519 --tickets 2 --loops 1 --max-inflight 4096 \
	--max-per-app 4096 --log-level warn >"$T/handshaked.log" 2>&1 </dev/null &
DPID=$!
PIDS+=("$DPID")
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	[ -S "$T/d.ctl" ] && break
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.1
done
[ -S "$T/d.ctl" ] || { cat "$T/handshaked.log" >&2; die "handshaked did not start"; }
"$B/kstatic" --root "$W" --listen "$LISTEN_IP:0" --handoff "$T/d.sock" --threads 1 --access-log /dev/null \
	--max-conns 30000 --idle-timeout 3600000 --header-timeout 600000 2>"$T/kstatic.err" </dev/null &
KPID=$!
PIDS+=("$KPID")
start_wait kstatic "$KPID" "$T/kstatic.err" '^kstatic: listening on'
PORT[kstatic]=$(sed -n 's/^kstatic: listening on [0-9.]*:\([0-9]*\),.*/\1/p' "$T/kstatic.err")
PIDS_OF[kstatic]="$KPID,$DPID" NAMES_OF[kstatic]="kstatic,handshaked"

# nginx NAME KTLS(0|1): Debian's nginx, one worker, on a free port
nginx_start() {
	local name=$1 ktls=$2 d=$T/$1 try port pid worker i
	mkdir -p "$d/tmp"
	for ((try = 0; try < 5; try++)); do
		port=$(free_port)
		cat >"$d/nginx.conf" <<EOF
user root;
worker_processes 1;
worker_rlimit_nofile 65536;
daemon off;
master_process on;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 30000; }
http {
	types { application/octet-stream bin; }
	access_log /dev/null;
	sendfile on;
	tcp_nopush on;
	keepalive_timeout 3600s;
	keepalive_requests 1000000;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	server {
		listen $LISTEN_IP:$port ssl;
		root $W;
		ssl_certificate $C/p256.pem;
		ssl_certificate_key $C/p256.key;
		ssl_protocols TLSv1.3;
		ssl_ecdh_curve X25519;
		ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
		$([ "$ktls" = 1 ] && echo 'ssl_conf_command Options KTLS;')
	}
}
EOF
		: >"$d/stderr"
		nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf" >"$d/stderr" 2>&1 </dev/null &
		pid=$!
		PIDS+=("$pid")
		for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			worker=$(pgrep -P "$pid" | head -n 1)
			[ -n "$worker" ] && ss -Htln "sport = :$port" | grep -q . && break
			sleep 0.1
		done
		if [ -n "${worker:-}" ] && kill -0 "$pid" 2>/dev/null; then
			PORT[$name]=$port
			PIDS_OF[$name]="$pid,$worker" NAMES_OF[$name]="master,worker"
			return 0
		fi
		stop "$pid"
	done
	cat "$d/stderr" "$d/error.log" >&2
	die "nginx ($name) did not start"
}
nginx_start nginx 0
nginx_start nginx-ktls 1

# ---- measuring helpers ----
# ticks PIDLIST: utime+stime in clock ticks of the comma-separated pids
ticks() {
	local p s=0 f
	for p in ${1//,/ }; do
		f=$(sed 's/.*) //' "/proc/$p/stat") || die "process $p is gone"
		set -- $f
		s=$((s + ${12} + ${13}))
	done
	echo "$s"
}
# rss PIDLIST: VmRSS in KiB, summed; rss_each: pid:KiB,...
rss() {
	local p s=0
	for p in ${1//,/ }; do s=$((s + $(awk '/^VmRSS/ { print $2 }' "/proc/$p/status"))); done
	echo "$s"
}
rss_each() { # rss_each PIDLIST NAMELIST: name:KiB,...
	local p out="" names=(${2//,/ }) i=0
	for p in ${1//,/ }; do out+="${out:+,}${names[$i]}:$(awk '/^VmRSS/ { print $2 }' "/proc/$p/status")"; i=$((i + 1)); done
	echo "$out"
}
HZ=$(getconf CLK_TCK)
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
cu() { curl -sS --cacert "$C/ca.pem" --resolve "localhost:${PORT[$1]}:127.0.0.1" "${@:2}"; }

# kTLS check: 4 connections each; TX/RX installs counted by the kernel
echo "# Linux $(uname -r), $(nproc) CPUs, VM ${BENCH_VM_ACCEL:-?}; $(nginx -v 2>&1 | sed 's/.*: //'), $(openssl version | cut -d' ' -f1-2)"
for s in $SERVERS; do
	tx0=$(tls_stat TlsTxSw) rx0=$(tls_stat TlsRxSw)
	for i in 1 2 3 4; do
		got=$(cu "$s" -o /dev/null -w '%{http_code} %{size_download}' "https://localhost:${PORT[$s]}/1k.bin") ||
			die "$s: curl failed"
		[ "$got" = "200 1024" ] || die "$s: GET /1k.bin: $got"
	done
	tx=$(($(tls_stat TlsTxSw) - tx0)) rx=$(($(tls_stat TlsRxSw) - rx0))
	echo "ktls server=$s conns=4 tx_sw=$tx rx_sw=$rx"
	echo "# $s: 4 TLS 1.3 connections: kernel TX installed on $tx, kernel RX on $rx (/proc/net/tls_stat TlsTxSw, TlsRxSw)"
done

# bulk R SERVER MIB CONC PER: CONC*PER GETs of a MIB file, CONC at once (curl
# reuses its connections); server CPU over the whole run
bulk() {
	local r=$1 s=$2 mib=$3 conc=$4 per=$5 file n i t0 t1 c0 c1 args=() got bytes secs
	file=$([ "$mib" = "$SMALL_MIB" ] && echo small.bin || echo big.bin)
	n=$((conc * per))
	for ((i = 0; i < n; i++)); do args+=(-o /dev/null "https://localhost:${PORT[$s]}/$file"); done
	[ "$conc" -gt 1 ] && args=(--parallel --parallel-immediate --parallel-max "$conc" "${args[@]}")
	args=(-sS --cacert "$C/ca.pem" --no-progress-meter -w '%{http_code}_%{size_download}\n' "${args[@]}")
	c0=$(ticks "${PIDS_OF[$s]}")
	t0=$(date +%s%N)
	if [ "$AGENT" ] && [ "$BULK_OUTSIDE" = 1 ]; then  # curl on the host, to this VM
		got=$(agent curl --resolve "localhost:${PORT[$s]}:$HSVM_GUEST_IP" "${args[@]}" 2>"$T/curl.err")
	else
		got=$(curl --resolve "localhost:${PORT[$s]}:127.0.0.1" "${args[@]}" 2>"$T/curl.err")
	fi || { cat "$T/curl.err" >&2; die "bulk $s $mib MiB c$conc: curl failed"; }
	t1=$(date +%s%N)
	c1=$(ticks "${PIDS_OF[$s]}")
	got=$(tr _ ' ' <<<"$got")  # the agent splits its line at spaces
	bytes=$(awk '$1 == 200 { b += $2; k++ } END { print k == '"$n"' ? b : -1 }' <<<"$got")
	[ "$bytes" = $((n * (mib << 20))) ] || die "bulk $s $mib MiB c$conc: got $(sort <<<"$got" | uniq -c | tr '\n' ' ')"
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
	awk -v r="$r" -v s="$s" -v m="$mib" -v c="$conc" -v b="$bytes" -v t="$secs" -v k=$((c1 - c0)) -v hz="$HZ" 'BEGIN {
		cpu = k / hz; gib = b / 1073741824
		printf "bulk r=%s server=%s size_mib=%s conc=%s bytes=%s seconds=%s mib_per_s=%.2f cpu_s=%.2f cpu_s_per_gib=%.3f\n",
			r, s, m, c, b, t, b / 1048576 / t, cpu, cpu / gib }'
}

# agent ARGS...: `kstatic_load hs ...` or `curl ...` run by the agent outside
# the VM (no argument may hold a space); their output, and their status
agent() {
	local fd got
	exec {fd}<>"/dev/tcp/${AGENT%:*}/${AGENT##*:}" || return 1
	printf '%s\n' "$*" >&"$fd"
	got=$(cat <&"$fd")
	exec {fd}>&-
	sed '$d' <<<"$got"
	[ "$(tail -n 1 <<<"$got")" = "agent: exit 0" ]
}

# hs R SERVER full|resumed
hs() {
	local r=$1 s=$2 mode=$3 out
	set -- hs --port "${PORT[$s]}" --path /1k.bin --concurrency "$HS_CONC" --seconds "$HS_SECS" \
		--warmup 1 --pids "${PIDS_OF[$s]}" $([ "$mode" = resumed ] && echo --resume)
	if [ -n "$AGENT" ]; then
		out=$(agent "$@" --cpu-from "$HSVM_GUEST_IP:$CPU_PORT" 2>"$T/load.err") &&
			out=$(grep '^hs ' <<<"$out")
	else
		out=$("$LOAD" "$@" 2>"$T/load.err")
	fi || { cat "$T/load.err" >&2; die "hs $s $mode: the load run failed"; }
	# pid_cpu=PID:user/sys,... with the processes' names
	local names=${NAMES_OF[$s]} pids=${PIDS_OF[$s]}
	out=${out/pid_cpu=${pids%%,*}:/pid_cpu=${names%%,*}:}
	out=${out/,${pids##*,}:/,${names##*,}:}
	echo "hs r=$r server=$s mode=$mode ${out#hs }"
}

# mem SERVER: RSS of the server's processes around IDLE held connections
mem() {
	local s=$1 r0 r1 e0 e1 line hp
	cu "$s" -o /dev/null -o /dev/null "https://localhost:${PORT[$s]}/1k.bin" "https://localhost:${PORT[$s]}/1k.bin"
	sleep 0.5
	r0=$(rss "${PIDS_OF[$s]}") e0=$(rss_each "${PIDS_OF[$s]}" "${NAMES_OF[$s]}")
	coproc HOLD { "$LOAD" hold --port "${PORT[$s]}" --path /1k.bin --conns "$IDLE" 2>"$T/hold.err"; }
	hp=$HOLD_PID
	read -r -t 1800 line <&"${HOLD[0]}"
	[ "$line" = "holding $IDLE" ] || { cat "$T/hold.err" >&2; die "mem $s: the client did not hold $IDLE connections"; }
	sleep 1
	r1=$(rss "${PIDS_OF[$s]}") e1=$(rss_each "${PIDS_OF[$s]}" "${NAMES_OF[$s]}")
	eval "exec ${HOLD[1]}>&-"
	wait "$hp" || { cat "$T/hold.err" >&2; die "mem $s: held connections were closed by the server"; }
	echo "mem server=$s conns=$IDLE rss_before_kib=$r0 rss_after_kib=$r1 bytes_per_conn=$(((r1 - r0) * 1024 / IDLE)) before=$e0 after=$e1"
	sleep 2  # the server sees the closes
}

echo "# quick=$QUICK rounds=$ROUNDS sizes ${SMALL_MIB} MiB (x$PER_SMALL per connection) and $BIG_MIB MiB (x$PER_BIG);" \
	"handshakes: c$HS_CONC for ${HS_SECS} s; memory: $IDLE idle connections"
echo "# cpu: utime+stime from /proc/PID/stat of kstatic+handshaked / nginx master+worker ($HZ Hz)"
if [ -n "$AGENT" ]; then
	echo "# load: handshakes$([ "$BULK_OUTSIDE" = 1 ] && echo " and bulk") from outside the VM (kstatic_load agent at $AGENT, natively, over a tap link to $HSVM_GUEST_IP); the rest from inside"
else
	echo "# load: every client inside the VM, on its vCPUs"
fi
# rotate(R): the servers in round R's order; each round starts with the next
# one, so none is always the first to run after the previous row's load
# (the handshake rows leave thousands of closing connections behind)
rotate() {
	local a=($SERVERS) i n=${#a[@]} out=""
	for ((i = 0; i < n; i++)); do out+="${out:+ }${a[$(((i + $1 - 1) % n))]}"; done
	echo "$out"
}
for ((r = 1; r <= ROUNDS; r++)); do
	order=$(rotate "$r")
	for mib in "$SMALL_MIB" "$BIG_MIB"; do
		for conc in 1 16; do
			per=$([ "$mib" = "$SMALL_MIB" ] && echo "$PER_SMALL" || echo "$PER_BIG")
			for s in $order; do bulk "$r" "$s" "$mib" "$conc" "$per"; done
		done
	done
	for mode in full resumed; do
		for s in $order; do hs "$r" "$s" "$mode"; done
	done
done | tee "$T/lines" || exit 1
for s in kstatic nginx-ktls; do mem "$s"; done | tee -a "$T/lines" || exit 1

# ---- ratios: medians of per-round ratios (geometric mean over bulk cells) ----
summary=$(awk '
function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
function kv(k,   i, p) { for (i = 2; i <= NF; i++) { split($i, p, "="); if (p[1] == k) return p[2] } return "" }
$1 == "bulk" { cell = kv("size_mib") " " kv("conc"); key = kv("r") " " cell
	cpu[key, kv("server")] = kv("cpu_s_per_gib"); tp[key, kv("server")] = kv("mib_per_s"); keys[key] = cell }
$1 == "hs" { key = kv("r") " " kv("mode"); rate[key, kv("server")] = kv("conns_per_s"); hcpu[key, kv("server")] = kv("cpu_ms_per_1000"); hk[key] = kv("mode") }
$1 == "mem" { m[kv("server")] = kv("bytes_per_conn") }
END {
	# per round: geometric mean over the bulk cells
	for (k in keys) { split(k, p, " "); rr = p[1]
		lc[rr] += log(cpu[k, "kstatic"] / cpu[k, "nginx"]); lt[rr] += log(tp[k, "kstatic"] / tp[k, "nginx-ktls"]); nc[rr]++ }
	n = 0; for (rr in nc) { n++; a[n] = exp(lc[rr] / nc[rr]); b[n] = exp(lt[rr] / nc[rr]) }
	c1 = med(a, n); t1 = med(b, n)
	split("", fr); split("", fc); split("", rrr); split("", rc); nf = nr = 0
	for (k in hk) { if (hk[k] == "full") { nf++; fr[nf] = rate[k, "kstatic"] / rate[k, "nginx"]; fc[nf] = hcpu[k, "kstatic"] / hcpu[k, "nginx"] }
		else { nr++; rrr[nr] = rate[k, "kstatic"] / rate[k, "nginx"]; rc[nr] = hcpu[k, "kstatic"] / hcpu[k, "nginx"] } }
	mm = m["nginx-ktls"] > 0 ? m["kstatic"] / m["nginx-ktls"] : -1
	printf "%.3f %.3f %.3f %.3f %.3f %.3f %.3f\n", c1, t1, med(fr, nf), med(fc, nf), med(rrr, nr), med(rc, nr), mm }' "$T/lines")
read -r cpu_r tput_r hs_r hsc_r res_r resc_r mem_r <<<"$summary"

echo
echo "# medians over rounds; TCG: absolute numbers are meaningless, only the ratios (same run) say something"
printf '# %-34s %12s %12s %12s\n' "row" kstatic nginx nginx-ktls
med_of() { # med_of TYPE FILTER FIELD SERVER
	awk -v t="$1" -v f="$2" -v fld="$3" -v s="$4" '
	function kv(k,   i, p) { for (i = 2; i <= NF; i++) { split($i, p, "="); if (p[1] == k) return p[2] } return "" }
	$1 == t && (" " $0 " ") ~ (" " f " ") && kv("server") == s { v[++n] = kv(fld) }
	END { if (!n) { print "-"; exit } for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
		print n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }' "$T/lines"
}
row() { printf '# %-34s %12s %12s %12s\n' "$1" "$(med_of "$2" "$3" "$4" kstatic)" "$(med_of "$2" "$3" "$4" nginx)" "$(med_of "$2" "$3" "$4" nginx-ktls)"; }
for mib in "$SMALL_MIB" "$BIG_MIB"; do
	for conc in 1 16; do
		row "MiB/s, $mib MiB c$conc" bulk "size_mib=$mib conc=$conc" mib_per_s
		row "CPU s/GiB, $mib MiB c$conc" bulk "size_mib=$mib conc=$conc" cpu_s_per_gib
	done
done
row "full handshakes/s c$HS_CONC" hs "mode=full" conns_per_s
row "CPU ms per 1000 full" hs "mode=full" cpu_ms_per_1000
row "resumed handshakes/s c$HS_CONC" hs "mode=resumed" conns_per_s
row "CPU ms per 1000 resumed" hs "mode=resumed" cpu_ms_per_1000
row "RSS bytes per idle connection" mem "conns=$IDLE" bytes_per_conn
met() { awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { ok = op == "<=" ? v <= t : v >= t; print ok ? "met" : "MISSED" }'; }
echo "# targets: CPU/GiB <= 0.5x nginx: $(met "$cpu_r" '<=' 0.5) ($cpu_r); throughput >= 1.0x nginx-ktls: $(met "$tput_r" '>=' 1.0) ($tput_r);" \
	"full hs/s >= 1.5x: $(met "$hs_r" '>=' 1.5) ($hs_r), CPU <= 0.67x: $(met "$hsc_r" '<=' 0.67) ($hsc_r);" \
	"resumed hs/s >= 1.3x: $(met "$res_r" '>=' 1.3) ($res_r), CPU <= 0.77x: $(met "$resc_r" '<=' 0.77) ($resc_r);" \
	"memory <= 0.25x nginx-ktls: $(met "$mem_r" '<=' 0.25) ($mem_r)"
echo "kstatic cpu_per_gib_vs_nginx=$cpu_r tput_vs_nginx_ktls=$tput_r hs_per_s_vs_nginx=$hs_r hs_cpu_vs_nginx=$hsc_r" \
	"resumed_hs_per_s_vs_nginx=$res_r resumed_hs_cpu_vs_nginx=$resc_r mem_per_conn_vs_nginx_ktls=$mem_r"
