#!/usr/bin/env bash
# A userspace TLS client (openssl s_client with the PSK) against the kernel's
# NVMe/TCP target, whose server handshakes handshaked serves through the
# upcall: what the daemon does with what a real client can send, and what
# happens on the consumer's socket afterwards (Linux >= 6.7 with NVMe TLS;
# skipped where the kernel lacks it). Root only (configfs, keyrings).
#  0. without CAP_NET_ADMIN the daemon refuses to start, saying why
#  1. a PSK handshake, then an NVMe/TCP ICReq through the client's TLS: the
#     target answers with its ICResp (the socket the daemon handed over
#     works under kTLS, nothing of the client's was lost)
#  2. a KeyUpdate from the client, then an ICReq: the target reads the
#     KeyUpdate as a record it does not handle ("TLS record 22 unhandled")
#     and answers nothing after it; Linux >= 6.14 stops decrypting at the
#     KeyUpdate (TlsRxRekeyReceived), older kernels fail the next record
#     (TlsDecryptError). No kernel consumer can re-key: see the README.
#  3. an identity the target's keyrings do not have: the handshake fails,
#     the daemon says so (DONE EKEYREJECTED)
#  4. a ClientHello record cut short: the daemon gives up at the kernel's
#     handshake timeout (nvmet's 10 s), not at its own longer deadline
#  5. a handshake record of garbage: refused with an alert
#  6. a normal handshake still works; the daemon runs, no fd grew
WAIT_SECONDS=${WAIT_SECONDS:-60}  # TCG is slow
. "$(dirname "$0")/../tests/tcp/lib.sh"
. "$ROOT/kselftest/lib/daemon.bash"
. "$ROOT/kselftest/lib/upcall.bash"

CFS=/sys/kernel/config/nvmet

[ "$(id -u)" = 0 ] || skip_all "needs root (configfs, keyrings)"
for m in gcm ctr ghash_generic aesni_intel chacha20poly1305 tls; do
	modprobe -q "$m" 2>/dev/null
done
grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null || skip_all "no kTLS on Linux $(uname -r)"
command -v keyctl >/dev/null || fail_all "keyctl (keyutils) is installed: ./deps"
command -v genl >/dev/null || fail_all "genl (iproute2) is installed: ./deps"
need_built handshaked
genl ctrl get name handshake >/dev/null 2>&1 || skip_all "no handshake netlink family on Linux $(uname -r)"
for m in nvme-keyring nvmet nvmet-tcp loop; do
	modprobe -q "$m" 2>/dev/null || skip_all "no module $m on Linux $(uname -r)"
done
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config ||
	fail_all "configfs mounts on /sys/kernel/config"

HOST=nqn.2014-08.org.nvmexpress:uuid:$(cat /proc/sys/kernel/random/uuid)
SUB=nqn.2026-01.org.handshaked:target-$$
PORTID='' LOOP='' KEY=''
for ((i = 4520; i < 4620; i++)); do
	[ -e "$CFS/ports/$i" ] || { PORTID=$i; break; }
done
PORT=$PORTID
teardown() {
	if [ -n "$PORTID" ] && [ -d "$CFS/ports/$PORTID" ]; then
		rm -f "$CFS/ports/$PORTID/subsystems/$SUB"
		rmdir "$CFS/ports/$PORTID"
	fi
	if [ -d "$CFS/subsystems/$SUB" ]; then
		echo 0 >"$CFS/subsystems/$SUB/namespaces/1/enable"
		rmdir "$CFS/subsystems/$SUB/namespaces/1"
		rmdir "$CFS/subsystems/$SUB"
	fi
	[ -n "$LOOP" ] && losetup -d "$LOOP"
	[ -n "$KEY" ] && keyctl unlink "$KEY" %:.nvme >/dev/null
	cleanup
} 2>/dev/null
trap teardown EXIT

truncate -s 8M "$T/disk.img"
LOOP=$(losetup -f --show "$T/disk.img") || fail_all "losetup on an 8 MiB file"
{
	mkdir "$CFS/subsystems/$SUB" &&
		echo 1 >"$CFS/subsystems/$SUB/attr_allow_any_host" &&
		mkdir "$CFS/subsystems/$SUB/namespaces/1" &&
		echo "$LOOP" >"$CFS/subsystems/$SUB/namespaces/1/device_path" &&
		echo 1 >"$CFS/subsystems/$SUB/namespaces/1/enable" &&
		mkdir "$CFS/ports/$PORTID" &&
		echo tcp >"$CFS/ports/$PORTID/addr_trtype" &&
		echo ipv4 >"$CFS/ports/$PORTID/addr_adrfam" &&
		echo 127.0.0.1 >"$CFS/ports/$PORTID/addr_traddr" &&
		echo "$PORT" >"$CFS/ports/$PORTID/addr_trsvcid"
} 2>"$T/setup.err" || { diag "$T/setup.err"; fail_all "nvmet subsystem on $LOOP, port $PORT"; }
echo tls1.3 >"$CFS/ports/$PORTID/addr_tsas" 2>/dev/null ||
	skip_all "nvmet-tcp without TLS on Linux $(uname -r) (CONFIG_NVME_TARGET_TCP_TLS)"
ln -s "$CFS/subsystems/$SUB" "$CFS/ports/$PORTID/subsystems/$SUB" 2>"$T/setup.err" ||
	{ diag "$T/setup.err"; fail_all "nvmet port 127.0.0.1:$PORT tsas=tls1.3 enabled"; }
head -c 32 /dev/urandom >"$T/psk"
HEX=$(od -An -tx1 -v "$T/psk" | tr -d ' \n')
ID="NVMe0R01 $HOST $SUB"
KEY=$(keyctl padd psk "$ID" %:.nvme <"$T/psk" 2>"$T/setup.err") || { diag "$T/setup.err"; fail_all "a psk key in .nvme"; }
echo "# Linux $(uname -r): nvmet target at 127.0.0.1:$PORT (tsas tls1.3), psk $KEY in .nvme"

# ---- 0. without CAP_NET_ADMIN: a clear refusal at start ----
if command -v setpriv >/dev/null; then
	out=$(timeout 20 setpriv --inh-caps=-net_admin --bounding-set=-net_admin -- "$DAEMON" --upcall --no-handoff \
		--control "$T/nocap.sock" 2>&1)
	st=$?
	[ $st -ne 0 ] && [ $st -ne 124 ] && [[ $out == *"needs CAP_NET_ADMIN"* ]]
	ok $? "without CAP_NET_ADMIN the daemon refuses to start: ${out//$'\n'/ }"
fi

DLOG=$T/daemon.log
"$DAEMON" --upcall --no-handoff --control "$T/control.sock" --deadline-ms 60000 --log-level debug \
	>"$DLOG" 2>&1 </dev/null &
DPID=$!
PIDS+=("$DPID")
wait_for "$DLOG" 'event=ready .* upcall=on' "$DPID" || { diag "$DLOG"; fail_all "handshaked --upcall starts"; }
FD0=$(ls /proc/"$DPID"/fd | wc -l)
kmsg_count() { dmesg | grep -c -- "$1"; }
oks() { grep -c 'event=handshake_ok role=server via=upcall ' "$DLOG"; }

# The 128-byte NVMe/TCP ICReq: pdu type 0, hlen 128, plen 128, PFV 0.
printf '\x00\x00\x80\x00\x80\x00\x00\x00' >"$T/icreq"
head -c 120 /dev/zero >>"$T/icreq"

# client NAME IDENTITY [k]: s_client with the PSK; after the handshake an
# optional KeyUpdate ("k"), then the ICReq; the record trace in NAME.msg.
# An ICResp comes back as one application record of 128 + 17 bytes (0x91).
client() {
	local name=$1 id=$2 cmd=${3:-}
	{
		sleep 4
		[ -n "$cmd" ] && { echo "$cmd"; sleep 2; }
		cat "$T/icreq"
		sleep 6
	} | timeout -k 5 40 openssl s_client -connect "127.0.0.1:$PORT" -tls1_3 -psk_identity "$id" -psk "$HEX" \
		-msgfile "$T/$name.msg" -msg >"$T/$name.out" 2>&1
}
icresp() { awk '/^<<< .*RecordHeader/ { getline; if ($0 ~ /17 03 03 00 91/) n++ } END { print n + 0 }' "$T/$1.msg"; }

# ---- 1. handshake, then the target's own protocol through the socket ----
ok0=$(oks)
client plain "$ID"
[ "$(icresp plain)" = 1 ] && [ "$(oks)" -gt "$ok0" ] && grep -q 'TLSv1.3' "$T/plain.out"
st=$?
ok $st "PSK handshake through the upcall, then an ICReq: the target answers with its ICResp under kTLS"
[ $st -eq 0 ] || { diag "$T/plain.out" "$DLOG"; dmesg | tail -n 5 | sed 's/^/# /'; }

# ---- 2. a KeyUpdate the target cannot follow ----
un0=$(kmsg_count 'TLS record 22 unhandled') rk0=$(tls_stat TlsRxRekeyReceived) de0=$(tls_stat TlsDecryptError)
client keyupdate "$ID" k
un=$(($(kmsg_count 'TLS record 22 unhandled') - un0))
rk=$(($(tls_stat TlsRxRekeyReceived) - ${rk0:-0})) de=$(($(tls_stat TlsDecryptError) - de0))
grep -q KEYUPDATE "$T/keyupdate.out" && [ "$(icresp keyupdate)" = 0 ] && [ $un -ge 1 ] && [ $((rk + de)) -ge 1 ]
st=$?
ok $st "a KeyUpdate, then an ICReq: no ICResp; the target logged 'TLS record 22 unhandled' x$un; kTLS RX: rekey received +$rk, decrypt errors +$de"
[ $st -eq 0 ] && [ -n "$rk0" ] && echo "# Linux $(uname -r) with kTLS rekey: RX waits for a key no consumer installs"
[ $st -eq 0 ] && [ -z "$rk0" ] && echo "# Linux $(uname -r) without kTLS rekey: the next record fails to decrypt"
[ $st -eq 0 ] || { diag "$T/keyupdate.out"; dmesg | tail -n 5 | sed 's/^/# /'; }

# ---- 3. an identity no keyring has ----
client unknown "NVMe0R01 nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000000 $SUB"
wait_for "$DLOG" 'event=handshake_failed role=server via=upcall .*reason=tls alert=handshake_failure alert_dir=sent .*text="alert handshake_failure sent: no usable PSK' "$DPID" &&
	grep -q 'event=psk_not_found .*identity="NVMe0R01 nqn.2014-08.org.nvmexpress:uuid:00000000' "$DLOG" &&
	[ "$(icresp unknown)" = 0 ] && grep -qi 'alert' "$T/unknown.out"
st=$?
ok $st "an unknown PSK identity: the client gets handshake_failure, the daemon logs the missing key"
[ $st -eq 0 ] || diag "$T/unknown.out" "$DLOG"

# ---- 4. a ClientHello cut short: the kernel's timeout ----
t0=$(now_ms)
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf '\x16\x03\x01\x01\x00\x01\x00\x00' >&3   # a 256-byte record header, 3 bytes of it
wait_for "$DLOG" 'event=handshake_failed role=server via=upcall .*reason=timeout .*text="the handshake deadline passed' "$DPID"
st=$?
el=$(($(now_ms) - t0))
exec 3>&-
grep -q 'event=upcall_request .*timeout_ms=10000 ' "$DLOG" && [ $st -eq 0 ] && [ "$el" -ge 9000 ] && [ "$el" -lt 45000 ]
st=$?
ok $st "a ClientHello cut short: the daemon gives up after $el ms (nvmet's TIMEOUT 10000 ms; own deadline 60 s)"
[ $st -eq 0 ] || diag "$DLOG"

# ---- 5. garbage in a handshake record ----
# (only lines after the mark: step 3's handshake_failure would match at once)
m5=$(log_mark "$DLOG")
{
	printf '\x16\x03\x01\x00\x40'
	head -c 64 /dev/urandom
	sleep 3
} | timeout 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; cat >&3; timeout 5 cat <&3 >'$T/garbage.out'" 2>/dev/null
wait_for_new "$DLOG" "$m5" 'reason=tls alert=(decode_error|unexpected_message|illegal_parameter|protocol_version|handshake_failure) alert_dir=sent' "$DPID"
st=$?
ok $st "a handshake record of garbage: refused with an alert ($(tail -c +$((m5 + 1)) "$DLOG" | grep -o 'alert=[a-z_]* alert_dir=sent' | tail -n 1))"
[ $st -eq 0 ] || diag "$DLOG"

# ---- 6. still serving ----
ok0=$(oks)
client again "$ID"
[ "$(icresp again)" = 1 ] && [ "$(oks)" -gt "$ok0" ]
st=$?
ok $st "after the failures a PSK handshake and ICReq/ICResp work again"
fd1=$(ls /proc/"$DPID"/fd | wc -l)
kill -0 "$DPID" 2>/dev/null && [ "$fd1" -le "$FD0" ]
ok $? "the daemon runs, fds $FD0 -> $fd1"
finish
