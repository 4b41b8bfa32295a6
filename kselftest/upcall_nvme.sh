#!/usr/bin/env bash
# handshaked --upcall serving the kernel's own TLS handshakes: NVMe/TCP with
# TLS 1.3 (PSK) over loopback, the NVMe host (client role) and the nvmet
# target (server role) on one machine, both asking the daemon through the
# "handshake" generic netlink family (Linux >= 6.7 with NVMe TLS; skipped
# where the kernel lacks it, e.g. 6.1). Root only (configfs, keyrings).
#  1. no daemon: the connect fails at once (ESRCH, "failed to start TLS")
#  2. daemon: the connect succeeds; 8 MiB written through /dev/nvmeXnY
#     (O_DIRECT) read back identical, and identical in the target's file
#  3. kTLS on every queue of both ends (/proc/net/tls_stat TlsCurr*), the
#     daemon's log shows client and server upcalls that succeeded
#  4. disconnect (the kTLS sockets go away: no socket kept by the daemon),
#     connect again, the data still reads back
#  5. the host offers an identity the target does not know (tls_key= a PSK
#     in another keyring): the connect fails before the kernel's 10 s
#     handshake timeout (the daemon answers DONE with an error), the daemon
#     logs the failure of both roles
#  6. the right identity with the wrong key bytes: the same
#  7. a normal connect works after the failures
#  8. the daemon still runs, its fd count did not grow
# The PSK is a retained SHA-256 one ("NVMe0R01 <hostnqn> <subnqn>") in the
# kernel's .nvme keyring, where host and target both find it. The daemon
# runs in a session keyring of its own (as under systemd), so it reaches
# .nvme only the way it would in production. Options are written to
# /dev/nvme-fabrics directly (bookworm's nvme-cli is too old for TLS).
#
# Environment: NVME_PORT (TCP port, default 4420); UPCALL_CMD replaces
# "$BUILD/handshaked --upcall --no-handoff --control $T/control.sock
# --log-level debug" (e.g. to check
# this script against ktls-utils' tlshd); UPCALL_ARGS adds arguments.
WAIT_SECONDS=${WAIT_SECONDS:-60}  # TCG is slow; also the connect timeout
. "$(dirname "$0")/../tests/tcp/lib.sh"
. "$ROOT/kselftest/lib/daemon.bash"
. "$ROOT/kselftest/lib/upcall.bash"

# How the daemon's log says an upcall ended, one line per request, e.g.
# "event=handshake_ok role=client via=upcall peer=127.0.0.1:4420 ..." or
# "event=handshake_failed role=server via=upcall peer=127.0.0.1:44180 ..."
# (tlshd words it otherwise, hence the loose patterns). A line counts for the role it
# names (client or server), else by its peer: the target's port
# ($NVME_PORT) means the client role, another port the server role.
LOG_OK_RE='(\<ok\>|handshake_ok|succeeded|success)'
LOG_FAIL_RE='(fail|refused|reject|denied|alert|error)'
LOG_UPCALL_RE='(upcall|handshake)'

TRSVCID=${NVME_PORT:-4420}
CONNECT_TIMEOUT=$WAIT_SECONDS
CFS=/sys/kernel/config/nvmet
FABRICS=/dev/nvme-fabrics
SIZE=$((8 * 1024 * 1024))


[ "$(id -u)" = 0 ] || skip_all "needs root (configfs, keyrings, /dev/nvme-fabrics)"

# ---- the kernel: kTLS, the handshake family, NVMe/TCP TLS on both ends ----
for m in gcm ctr ghash_generic aesni_intel chacha20poly1305 tls; do
	modprobe -q "$m" 2>/dev/null
done
grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null || skip_all "no kTLS on Linux $(uname -r)"
command -v genl >/dev/null || fail_all "genl (iproute2) is installed: ./deps"
command -v keyctl >/dev/null || fail_all "keyctl (keyutils) is installed: ./deps"
command -v losetup >/dev/null || fail_all "losetup (util-linux) is installed"
need_built handshaked
# the family is built in (CONFIG_NET_HANDSHAKE) whenever a consumer is
genl ctrl get name handshake >"$T/genl.out" 2>&1 ||
	skip_all "no handshake netlink family on Linux $(uname -r)"
GROUP=$(sed -n 's/.*ID-0x\([0-9a-f]*\) *name: tlshd.*/\1/p' "$T/genl.out")
for m in nvme-keyring nvme-fabrics nvme-tcp nvmet nvmet-tcp; do
	modprobe -q "$m" 2>/dev/null || skip_all "no module $m on Linux $(uname -r)"
done
modprobe -q loop 2>/dev/null
grep -q ',tls_key=%d' "$FABRICS" && grep -q ',tls\(,\|$\)' "$FABRICS" ||
	skip_all "nvme-tcp without TLS on Linux $(uname -r) (CONFIG_NVME_TCP_TLS)"
if ! mountpoint -q /sys/kernel/config; then
	mount -t configfs none /sys/kernel/config || fail_all "configfs mounts on /sys/kernel/config"
fi
[ -d "$CFS" ] || fail_all "nvmet's configfs tree $CFS exists"

# ---- names: a fresh host (hostid = the UUID in the hostnqn), a subsystem ----
UUID=$(cat /proc/sys/kernel/random/uuid)
HOST=nqn.2014-08.org.nvmexpress:uuid:$UUID
OTHER=nqn.2014-08.org.nvmexpress:uuid:$(cat /proc/sys/kernel/random/uuid)
SUB=nqn.2026-01.org.handshaked:upcall-$$
PORTID=
for ((i = 4420; i < 4520; i++)); do
	[ -e "$CFS/ports/$i" ] || { PORTID=$i; break; }
done
LOOP='' KEY='' RING=''

# Everything this script made, in reverse order; also on failure (trap).
nvme_teardown() {
	local c i
	for c in /sys/class/nvme/nvme*; do
		[ "$(cat "$c/subsysnqn" 2>/dev/null)" = "$SUB" ] || continue
		echo 1 >"$c/delete_controller" 2>/dev/null
		for ((i = 0; i < 300; i++)); do
			[ -e "$c" ] || break
			sleep 0.1
		done
	done
	if [ -n "$PORTID" ] && [ -d "$CFS/ports/$PORTID" ]; then
		rm -f "$CFS/ports/$PORTID/subsystems/$SUB"
		rmdir "$CFS/ports/$PORTID"
	fi
	if [ -d "$CFS/subsystems/$SUB" ]; then
		if [ -d "$CFS/subsystems/$SUB/namespaces/1" ]; then
			echo 0 >"$CFS/subsystems/$SUB/namespaces/1/enable"
			rmdir "$CFS/subsystems/$SUB/namespaces/1"
		fi
		rm -f "$CFS/subsystems/$SUB/allowed_hosts/$HOST"
		rmdir "$CFS/subsystems/$SUB"
	fi
	[ -d "$CFS/hosts/$HOST" ] && rmdir "$CFS/hosts/$HOST"
	[ -n "$LOOP" ] && losetup -d "$LOOP"
	[ -n "$KEY" ] && keyctl unlink "$KEY" %:.nvme >/dev/null
	[ -n "$RING" ] && keyctl unlink "$RING" @u >/dev/null
	cleanup  # lib.sh: the daemon, $T
} 2>/dev/null
trap nvme_teardown EXIT

# ---- the target: a loop device, subsystem, allowed host, TLS port ----
truncate -s 32M "$T/disk.img"
LOOP=$(losetup -f --show "$T/disk.img") || fail_all "losetup on a 32 MiB file"
{
	mkdir "$CFS/hosts/$HOST" &&
		mkdir "$CFS/subsystems/$SUB" &&
		echo 0 >"$CFS/subsystems/$SUB/attr_allow_any_host" &&
		ln -s "$CFS/hosts/$HOST" "$CFS/subsystems/$SUB/allowed_hosts/$HOST" &&
		mkdir "$CFS/subsystems/$SUB/namespaces/1" &&
		echo "$LOOP" >"$CFS/subsystems/$SUB/namespaces/1/device_path" &&
		echo 1 >"$CFS/subsystems/$SUB/namespaces/1/enable" &&
		[ -n "$PORTID" ] && mkdir "$CFS/ports/$PORTID" &&
		echo tcp >"$CFS/ports/$PORTID/addr_trtype" &&
		echo ipv4 >"$CFS/ports/$PORTID/addr_adrfam" &&
		echo 127.0.0.1 >"$CFS/ports/$PORTID/addr_traddr" &&
		echo "$TRSVCID" >"$CFS/ports/$PORTID/addr_trsvcid"
} 2>"$T/setup.err" || { diag "$T/setup.err"; fail_all "nvmet subsystem $SUB on $LOOP, port $PORTID"; }
# EINVAL here: nvmet-tcp built without CONFIG_NVME_TARGET_TCP_TLS
echo tls1.3 >"$CFS/ports/$PORTID/addr_tsas" 2>/dev/null ||
	skip_all "nvmet-tcp without TLS on Linux $(uname -r) (CONFIG_NVME_TARGET_TCP_TLS)"
ln -s "$CFS/subsystems/$SUB" "$CFS/ports/$PORTID/subsystems/$SUB" 2>"$T/setup.err" ||
	{ diag "$T/setup.err"; fail_all "nvmet port 127.0.0.1:$TRSVCID tsas=tls1.3 enabled"; }

# ---- the PSK, in the kernel's .nvme keyring (default permissions) ----
head -c 32 /dev/urandom >"$T/psk"
KEY=$(keyctl padd psk "NVMe0R01 $HOST $SUB" %:.nvme <"$T/psk" 2>"$T/setup.err") ||
	{ diag "$T/setup.err"; fail_all "a psk key in .nvme"; }
echo "# Linux $(uname -r): target $SUB on $LOOP at 127.0.0.1:$TRSVCID (port $PORTID, treq $(cat "$CFS/ports/$PORTID/addr_treq")), psk $KEY in .nvme"

# ---- helpers ----
# nvme_connect [OPTION...]: one controller create through /dev/nvme-fabrics
# (blocks until connected or failed; killed after CONNECT_TIMEOUT s). Sets
# CTRL (nvmeN, empty on failure), CONNECT_OUT (the kernel's answer or the
# error), CONNECT_MS.
nvme_connect() {
	local opts="transport=tcp,traddr=127.0.0.1,trsvcid=$TRSVCID,nqn=$SUB,hostnqn=$HOST,hostid=$UUID,tls" o t0 rc
	for o in "$@"; do opts+=",$o"; done
	t0=$(now_ms)
	CONNECT_OUT=$(timeout -k 5 "$CONNECT_TIMEOUT" bash -c \
		'exec 3<>"$1" && printf "%s" "$2" >&3 && IFS= read -r l <&3 && echo "$l"' _ "$FABRICS" "$opts" 2>&1)
	rc=$?
	CONNECT_MS=$(($(now_ms) - t0))
	CONNECT_OUT=${CONNECT_OUT//$'\n'/; }
	CTRL=
	[ $rc -eq 124 ] && CONNECT_OUT="timed out after ${CONNECT_TIMEOUT} s: $CONNECT_OUT"
	[ $rc -eq 0 ] || return 1
	CTRL=$(echo "$CONNECT_OUT" | sed -n 's/^instance=\([0-9]*\),.*/nvme\1/p')
	[ -n "$CTRL" ] && [ -d "/sys/class/nvme/$CTRL" ]
}

# namespace_dev: the block device of $CTRL's namespace 1 (multipath: the
# head nvme<subsys>n1 of the path nvme<subsys>c<ctrl>n1); sets DEV
namespace_dev() {
	local i p n
	DEV=
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		for p in /sys/class/nvme/"$CTRL"/nvme*n1; do
			[ -e "$p" ] || continue
			n=${p##*/}
			[[ $n =~ ^nvme([0-9]+)c[0-9]+n1$ ]] && n=nvme${BASH_REMATCH[1]}n1
			[ -b "/dev/$n" ] && { DEV=/dev/$n; return 0; }
		done
		sleep 0.1
	done
	return 1
}

# nvme_disconnect: deletes $CTRL and waits until it is gone
nvme_disconnect() {
	local i
	[ -n "$CTRL" ] && [ -d "/sys/class/nvme/$CTRL" ] || return 0
	echo 1 >"/sys/class/nvme/$CTRL/delete_controller" || return 1
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		[ -d "/sys/class/nvme/$CTRL" ] || { CTRL=; return 0; }
		sleep 0.1
	done
	return 1
}

# the kTLS sockets open now, software and offloaded
ktls_tx() { echo $(($(tls_stat TlsCurrTxSw) + $(tls_stat TlsCurrTxDevice))); }
ktls_rx() { echo $(($(tls_stat TlsCurrRxSw) + $(tls_stat TlsCurrRxDevice))); }

# wait_ktls N: until at most N kTLS sockets (TX and RX) are open
wait_ktls() {
	local i
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		[ "$(ktls_tx)" -le "$1" ] && [ "$(ktls_rx)" -le "$1" ] && return 0
		sleep 0.1
	done
	return 1
}


# log_count ROLE KIND: the daemon's log lines about ROLE (client|server|any)
# upcalls ending KIND (ok|fail). The role: the one of the words client and
# server the line names, else its peer: the target's port means the client.
log_count() {
	local re n=0 l role
	[ "$2" = ok ] && re=$LOG_OK_RE || re=$LOG_FAIL_RE
	while IFS= read -r l; do
		[ -n "$l" ] || continue
		l=${l,,}
		role=
		[[ $l =~ (^|[^a-z])client(hello)?([^a-z]|$) ]] && role=client
		if [[ $l =~ (^|[^a-z])server(hello)?([^a-z]|$) ]]; then
			[ -z "$role" ] && role=server || role=
		fi
		if [ -z "$role" ] && [[ $l =~ 127\.0\.0\.1:([0-9]+) ]]; then
			[ "${BASH_REMATCH[1]}" = "$TRSVCID" ] && role=client || role=server
		fi
		[ "$1" = any ] || [ "$1" = "$role" ] && n=$((n + 1))
	done <<<"$(grep -iE "$LOG_UPCALL_RE" "$DLOG" | grep -iE "$re")"
	echo $n
}

kmsg() { dmesg 2>/dev/null | grep -E 'nvme|handshake|tls' | tail -n 8 | sed 's/^/# dmesg: /'; }
fds() { ls /proc/"$DPID"/fd 2>/dev/null | wc -l; }
sha() { sha256sum | cut -d' ' -f1; }

# ---- 1. no daemon: no listener on the netlink group, both ends fail at once ----
esrch() { dmesg 2>/dev/null | grep -c 'failed to start TLS: -3'; }
dm0=$(esrch)
if nvme_connect; then
	ok 1 "without a daemon the TLS connect must fail, but $CTRL connected"
	nvme_disconnect
else
	dm=$(($(esrch) - dm0))
	[ "$CONNECT_MS" -lt 10000 ] && [[ $CONNECT_OUT == *"No such process"* ]] && [ "$dm" -gt 0 ]
	st=$?
	ok $st "no daemon: the connect fails in $CONNECT_MS ms with ESRCH ('failed to start TLS: -3' x$dm): $CONNECT_OUT"
	[ $st -eq 0 ] || kmsg
fi

# ---- the daemon ----
# Until handshaked has --upcall, everything below fails here, in one line.
DLOG=$T/daemon.log
if [ -n "${UPCALL_CMD:-}" ]; then
	read -r -a cmd <<<"$UPCALL_CMD"
else
	cmd=("$DAEMON" --upcall --no-handoff --control "$T/control.sock" --log-level debug)
fi
# shellcheck disable=SC2206
cmd+=(${UPCALL_ARGS:-})
keyctl session - "${cmd[@]}" >"$DLOG" 2>&1 </dev/null &
DPID=$!
PIDS+=("$DPID")
wait_subscribed "$DPID"
st=$?
ok $st "${cmd[*]##*/} runs (pid $DPID) and joined the netlink group tlshd (0x$GROUP)"
if [ $st -ne 0 ]; then
	diag "$DLOG"
	finish
	exit 1
fi
FD0=$(fds)

# ---- 2. the connect through the daemon, 8 MiB through the block device ----
tx0=$(ktls_tx) rx0=$(ktls_rx)
head -c "$SIZE" /dev/urandom >"$T/data"
SUM=$(sha <"$T/data")
connected=1
if nvme_connect && namespace_dev; then
	connected=0
	ok 0 "connect with TLS in $CONNECT_MS ms: $CTRL ($CONNECT_OUT), namespace $DEV"
else
	ok 1 "connect with TLS through the daemon: ${CTRL:-no controller} ${CONNECT_OUT}"
	kmsg
	diag "$DLOG"
fi
if [ $connected -eq 0 ]; then
	dd if="$T/data" of="$DEV" bs=1M count=8 oflag=direct conv=fsync status=none 2>"$T/dd.err" &&
		got=$(dd if="$DEV" bs=1M count=8 iflag=direct status=none 2>>"$T/dd.err" | sha) &&
		[ "$got" = "$SUM" ] && [ "$(head -c "$SIZE" "$T/disk.img" | sha)" = "$SUM" ]
	st=$?
	ok $st "8 MiB written to $DEV (O_DIRECT) read back identical, and identical in the target's backing file"
	[ $st -eq 0 ] || diag "$T/dd.err"
else
	ok 1 "8 MiB through the block device (no controller)"
fi

# ---- 3. kTLS on every queue of both ends; the daemon's log: both roles ----
if [ $connected -eq 0 ]; then
	qc=$(cat "/sys/class/nvme/$CTRL/queue_count")
	tx1=$(ktls_tx) rx1=$(ktls_rx)
	[ $((tx1 - tx0)) -ge $((2 * qc)) ] && [ $((rx1 - rx0)) -ge $((2 * qc)) ]
	ok $? "kTLS on all $qc queues of host and target: TlsCurrTx $tx0->$tx1, TlsCurrRx $rx0->$rx1 (want +$((2 * qc)))"
else
	qc=1
	ok 1 "kTLS in use (no controller)"
fi
cl=$(log_count client ok) sv=$(log_count server ok)
[ "$cl" -ge "$qc" ] && [ "$sv" -ge "$qc" ]
st=$?
ok $st "the daemon's log: $cl client and $sv server upcalls succeeded (want >= $qc each)"
[ $st -eq 0 ] || diag "$DLOG"

# ---- 4. disconnect: the kTLS sockets go; connect again, the data is there ----
nvme_disconnect && wait_ktls "$tx0"
ok $? "disconnect: the controller is gone and so are its kTLS sockets (TlsCurrTx $(ktls_tx), TlsCurrRx $(ktls_rx), want $tx0)"
FD1=$(fds)
if nvme_connect && namespace_dev; then
	got=$(dd if="$DEV" bs=1M count=8 iflag=direct status=none 2>"$T/dd.err" | sha)
	[ "$got" = "$SUM" ]
	ok $? "connect again in $CONNECT_MS ms ($CTRL): the 8 MiB read back identical"
else
	ok 1 "connect again: ${CONNECT_OUT}"
	kmsg
	diag "$DLOG"
fi
nvme_disconnect

# ---- 5. an identity the target does not know (a key outside .nvme) ----
RING=$(keyctl newring handshaked-upcall-$$ @u)
# user-readable: the daemon (in its own session) reads it by serial, as the
# host's PEER_IDENTITY, but cannot find it by searching
head -c 32 /dev/urandom >"$T/psk5"
K5=$(keyctl padd psk "NVMe0R01 $OTHER $SUB" "$RING" <"$T/psk5") && keyctl setperm "$K5" 0x3f0b0000
c0=$(log_count client fail) s0=$(log_count server fail)
if nvme_connect "tls_key=$K5"; then
	ok 1 "identity 'NVMe0R01 <other host> $SUB' (key $K5): the connect must fail but $CTRL connected"
	nvme_disconnect
else
	c1=$(log_count client fail) s1=$(log_count server fail)
	[ "$c1" -gt "$c0" ] && [ "$s1" -gt "$s0" ] && [ "$CONNECT_MS" -lt 10000 ]
	st=$?
	ok $st "unknown identity (tls_key=$K5 'NVMe0R01 <other host> <sub>'): the connect fails in $CONNECT_MS ms (want < 10 s: the daemon answers, no kernel timeout; $CONNECT_OUT), the daemon logged $((c1 - c0)) client and $((s1 - s0)) server failures"
	[ $st -eq 0 ] || { kmsg; diag "$DLOG"; }
fi

# ---- 6. the right identity, the wrong key bytes ----
head -c 32 /dev/urandom >"$T/psk6"
K6=$(keyctl padd psk "NVMe0R01 $HOST $SUB" "$RING" <"$T/psk6") && keyctl setperm "$K6" 0x3f0b0000
c0=$(log_count client fail) s0=$(log_count server fail)
if nvme_connect "tls_key=$K6"; then
	ok 1 "wrong key bytes for 'NVMe0R01 $HOST $SUB' (key $K6): the connect must fail but $CTRL connected"
	nvme_disconnect
else
	c1=$(log_count client fail) s1=$(log_count server fail)
	[ "$c1" -gt "$c0" ] && [ "$s1" -gt "$s0" ] && [ "$CONNECT_MS" -lt 10000 ]
	st=$?
	ok $st "wrong key for the right identity (tls_key=$K6): the connect fails in $CONNECT_MS ms (want < 10 s: the daemon answers, no kernel timeout; $CONNECT_OUT), the daemon logged $((c1 - c0)) client and $((s1 - s0)) server failures"
	[ $st -eq 0 ] || { kmsg; diag "$DLOG"; }
fi

# ---- 7. after the failures a normal connect still works ----
if nvme_connect && namespace_dev; then
	got=$(dd if="$DEV" bs=1M count=8 iflag=direct status=none 2>"$T/dd.err" | sha)
	[ "$got" = "$SUM" ]
	ok $? "after the failures: connect in $CONNECT_MS ms ($CTRL), the 8 MiB read back identical"
else
	ok 1 "after the failures, connect: ${CONNECT_OUT}"
	kmsg
	diag "$DLOG"
fi
nvme_disconnect && wait_ktls "$tx0"

# ---- 8. the daemon still serves, no fd left behind ----
FD2=$(fds)
kill -0 "$DPID" 2>/dev/null && [ "$FD2" -eq "$FD1" ]
st=$?
ok $st "the daemon still runs; its fds: $FD0 at start, $FD1 after the first connection, $FD2 at the end (want $FD1)"
[ $st -eq 0 ] || { ls -l /proc/"$DPID"/fd 2>/dev/null | sed 's/^/# /'; diag "$DLOG"; }
finish
