#!/usr/bin/env bash
# handshaked --upcall serving the kernel's own TLS handshakes for NFS over
# TLS (RFC 9289, x509), client and server on one machine: the NFS client
# (mount -o xprtsec=tls: AUTH_MODE=UNAUTH, the server's certificate checked
# against PEERNAME = the mount's server name; xprtsec=mtls: with the
# daemon's client certificate) and nfsd (a server handshake, x509, client
# certificate asked for but optional) both ask the daemon through the
# "handshake" generic netlink family (Linux >= 6.6). Only in the VM of
# kselftest/vm/run (it installs and starts an NFS server there: see
# kselftest/lib/nfs.bash); skipped where the kernel lacks the family or NFS.
#  1. plain NFSv4.2 (no TLS): the setup works, a file round-trips
#  2. no daemon: the xprtsec=tls mount fails at once (ESRCH)
#  3. daemon: mount xprtsec=tls localhost:/export works, /proc/mounts says
#     xprtsec=tls, the daemon's log shows a client and a server upcall that
#     succeeded, kTLS on both ends (/proc/net/tls_stat), 1 MiB written
#     reads back identical (and is identical on the server); after umount
#     the kTLS sockets are gone
#  4. mount xprtsec=mtls works (the daemon's client certificate, which
#     nfsd's handshake saw)
#  5. a server certificate from another CA (chosen by SNI for the name
#     otherca.test): the mount fails, the daemon logs the client's failure
#     and keeps serving
#  6. xprtsec=tls again after the failure; the daemon still runs, its fd
#     count did not grow
#  7. the daemon started from tlshd's own configuration file instead
#     (--tlshd-config): an xprtsec=mtls mount works the same
#  8. no client certificate configured, the mount names one in the .nfs
#     keyring (cert_serial=, privkey_serial=, DER): the daemon presents it
# The NFS tools come from kselftest/lib/nfs-tools (run it on the host first).
#
# Environment: UPCALL_CMD replaces "$BUILD/handshaked --upcall --no-handoff
# --log-level debug" (e.g. to check this script against ktls-utils' tlshd);
# UPCALL_ARGS adds arguments.
WAIT_SECONDS=${WAIT_SECONDS:-60}  # TCG is slow
. "$(dirname "$0")/../tests/tcp/lib.sh"
. "$ROOT/kselftest/lib/daemon.bash"
. "$ROOT/kselftest/lib/upcall.bash"
. "$ROOT/kselftest/lib/nfs.bash"


[ "$(id -u)" = 0 ] || skip_all "needs root (an NFS server)"
[ -d /run/hsvm ] || skip_all "runs only in the VM of kselftest/vm/run (it starts an NFS server)"
for m in gcm ctr ghash_generic aesni_intel chacha20poly1305 tls; do
	modprobe -q "$m" 2>/dev/null
done
grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null || skip_all "no kTLS on Linux $(uname -r)"
command -v genl >/dev/null || fail_all "genl (iproute2) is installed: ./deps"
need_built handshaked
genl ctrl get name handshake >"$T/genl.out" 2>&1 ||
	skip_all "no handshake netlink family on Linux $(uname -r)"
GROUP=$(sed -n 's/.*ID-0x\([0-9a-f]*\) *name: tlshd.*/\1/p' "$T/genl.out")
[ -e "$NFS_TOOLS/.complete" ] || skip_all "no NFS tools in $NFS_TOOLS: run kselftest/lib/nfs-tools first"
nfs_install >"$T/install.log" 2>&1 || { diag "$T/install.log"; skip_all "NFS (nfsd, nfsv4) on Linux $(uname -r)"; }

C=$CERTS
DLOG=$T/daemon.log
MNT=$T/mnt
SIZE=$((1024 * 1024))
head -c "$SIZE" /dev/urandom >"$T/data"

nfs_teardown() {
	nfs_stop
	cleanup # lib.sh: the daemon, $T
} 2>/dev/null
trap nfs_teardown EXIT

# mounted MNT: the line of /proc/mounts for MNT
mounted() { awk -v m="$1" '$2 == m' /proc/mounts; }
# roundtrip MNT NAME: the data written through MNT reads back identical
# after dropping the caches, and is identical in the server's directory
roundtrip() {
	cp "$T/data" "$1/$2" && sync &&
		echo 3 >/proc/sys/vm/drop_caches && cmp -s "$T/data" "$1/$2" &&
		cmp -s "$T/data" "$NFS_SRVDIR/$2"
}
# mount_tls OPTS NAME SPEC: nfs_mount timed; sets MS, MOUNT_OUT
mount_tls() {
	local t0 rc
	t0=$(now_ms)
	nfs_mount "$1" "$MNT" "$2"
	rc=$?
	MS=$(($(now_ms) - t0))
	MOUNT_OUT=$(tr '\n' ' ' <"$NFS_LOG/mount.log")
	return $rc
}
unmount() { umount "$MNT" 2>/dev/null || umount -f -l "$MNT" 2>/dev/null; }
# the kTLS sockets open now, software and offloaded
ktls_tx() { echo $(($(tls_stat TlsCurrTxSw) + $(tls_stat TlsCurrTxDevice))); }
ktls_rx() { echo $(($(tls_stat TlsCurrRxSw) + $(tls_stat TlsCurrRxDevice))); }
kmsg() { dmesg 2>/dev/null | grep -iE 'nfs|rpc|handshake|tls' | tail -n 8 | sed 's/^/# dmesg: /'; }
fds() { ls /proc/"$DPID"/fd 2>/dev/null | wc -l; }

# wait_ktls TX RX: until at most TX and RX kTLS sockets are open
wait_ktls() {
	local i
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		[ "$(ktls_tx)" -le "$1" ] && [ "$(ktls_rx)" -le "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# The daemon's log lines about upcalls since mark_log, by role and outcome
# (loose, as in upcall_nvme.sh, so that UPCALL_CMD=tlshd fits too): the
# role is the word client or server in the line, else its peer: nfsd's
# port 2049 means the client role.
LOG_OK_RE='(\<ok\>|handshake_ok|succeeded|success)'
LOG_FAIL_RE='(fail|refused|reject|denied|alert|error)'
mark_log() { MARK=$(wc -l <"$DLOG"); }
log_new() { tail -n +$((MARK + 1)) "$DLOG" | grep -iE '(upcall|handshake)'; }
# log_lines ROLE ok|fail: the new lines for ROLE (client|server) ending so
log_lines() {
	local l role re c s
	[ "$2" = ok ] && re=$LOG_OK_RE || re=$LOG_FAIL_RE
	while IFS= read -r l; do
		c=0 s=0
		[[ ${l,,} =~ (^|[^a-z])client([^a-z]|$) ]] && c=1
		[[ ${l,,} =~ (^|[^a-z])server([^a-z]|$) ]] && s=1
		if [ $c != $s ]; then
			[ $c = 1 ] && role=client || role=server
		else # neither or both words: by the peer's port
			[[ $l =~ 127\.0\.0\.1:([0-9]+) ]] || continue
			[ "${BASH_REMATCH[1]}" = 2049 ] && role=client || role=server
		fi
		[ "$role" = "$1" ] && echo "$l"
	done <<<"$(log_new | grep -iE "$re")"
}
# handshakes_ok WHAT: one client and one server upcall succeeded since
# mark_log; sets HS (the two lines, for the TAP line)
handshakes_ok() {
	local c s
	c=$(log_lines client ok | head -n 1) s=$(log_lines server ok | head -n 1)
	HS="client: ${c#*: } | server: ${s#*: }"
	[ -n "$c" ] && [ -n "$s" ]
}


# ---- 1. the NFS server; plain NFSv4.2 ----
nfs_server_start /export >"$T/server.log" 2>&1 ||
	{ diag "$T/server.log" "$NFS_LOG"/*.log; fail_all "NFS server (rpcbind, nfsd, mountd) starts"; }
if mount_tls vers=4.2 localhost:/export; then
	roundtrip "$MNT" plain
	ok $? "plain NFSv4.2 (no TLS): mount localhost:/export in $MS ms, 1 MiB round-trips"
	unmount
else
	ok 1 "plain NFSv4.2 mount localhost:/export: $MOUNT_OUT"
	kmsg
fi

# ---- 2. no daemon: nobody on the netlink group, the mount fails at once ----
if mount_tls vers=4.2,xprtsec=tls,retry=0 localhost:/export; then
	ok 1 "without a daemon the xprtsec=tls mount must fail, but it mounted"
	unmount
else
	[ "$MS" -lt 10000 ] && [[ $MOUNT_OUT == *"No such process"* ]]
	st=$?
	ok $st "no daemon: mount xprtsec=tls fails in $MS ms with ESRCH: $MOUNT_OUT"
	[ $st -eq 0 ] || kmsg
fi

# ---- the daemon: server certs by SNI (localhost: ca; otherca.test: ca2) ----
# the client role trusts ca and presents client.pem when asked for x509
cat >"$T/otherca.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:otherca.test
EOF
{
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/otherca.key" &&
		openssl req -new -key "$T/otherca.key" -subj /CN=otherca.test -out "$T/otherca.csr" &&
		openssl x509 -req -in "$T/otherca.csr" -CA "$C/ca2.pem" -CAkey "$C/ca2.key" \
			-CAcreateserial -CAserial "$T/ca2.srl" -days 2 -extfile "$T/otherca.ext" -out "$T/otherca.pem"
} >"$T/openssl.log" 2>&1 || { diag "$T/openssl.log"; fail_all "openssl makes a server certificate from ca2"; }
echo "127.0.0.1 otherca.test" >>/etc/hosts # the VM's overlay
cat >"$T/upcall.conf" <<EOF
[upcall]
ca_file = $C/ca.pem
cert = $C/client.pem
key = $C/client.key
EOF
if [ -n "${UPCALL_CMD:-}" ]; then
	read -r -a cmd <<<"$UPCALL_CMD"
else
	cmd=("$DAEMON" --upcall --no-handoff --log-level debug --control "$T/ctl.sock"
		--cert "$C/p256.pem" --key "$C/p256.key" --cert "$T/otherca.pem" --key "$T/otherca.key"
		--client-ca "$C/ca.pem" --client-auth optional -c "$T/upcall.conf")
fi
# shellcheck disable=SC2206
cmd+=(${UPCALL_ARGS:-})
"${cmd[@]}" >"$DLOG" 2>&1 </dev/null &
DPID=$!
PIDS+=("$DPID")
wait_subscribed "$DPID"
st=$?
ok $st "${cmd[0]##*/} --upcall runs (pid $DPID) and joined the netlink group tlshd (0x$GROUP)"
if [ $st -ne 0 ]; then
	diag "$DLOG"
	finish
	exit 1
fi
FD0=$(fds)

# ---- 3. xprtsec=tls: both handshakes through the daemon, kTLS, data ----
tx0=$(ktls_tx) rx0=$(ktls_rx)
mark_log
if mount_tls vers=4.2,xprtsec=tls localhost:/export; then
	line=$(mounted "$MNT")
	[[ $line == *",xprtsec=tls"* ]]
	ok $? "mount xprtsec=tls localhost:/export in $MS ms; /proc/mounts: ${line#* * }"
	handshakes_ok
	ok $? "the daemon did both ends: $HS"
	tx1=$(ktls_tx) rx1=$(ktls_rx)
	# the client's transport and nfsd's: one kTLS socket each way on each end
	[ $((tx1 - tx0)) -ge 2 ] && [ $((rx1 - rx0)) -ge 2 ]
	ok $? "kTLS on both ends: TlsCurrTx $tx0->$tx1, TlsCurrRx $rx0->$rx1 (want +2 each)"
	roundtrip "$MNT" tls
	ok $? "1 MiB written over xprtsec=tls reads back identical (and is on the server)"
	unmount
	# no socket kept: nfsd closes its end when the client's goes
	wait_ktls "$tx0" "$rx0"
	ok $? "umount: the kTLS sockets are gone (TlsCurrTx $(ktls_tx), TlsCurrRx $(ktls_rx), want $tx0, $rx0)"
	FD1=$(fds)
else
	ok 1 "mount xprtsec=tls localhost:/export through the daemon: $MOUNT_OUT"
	kmsg
	diag "$DLOG"
	FD1=$(fds)
fi

# ---- 4. xprtsec=mtls: the daemon presents client.pem ----
mark_log
if mount_tls vers=4.2,xprtsec=mtls localhost:/export; then
	line=$(mounted "$MNT")
	[[ $line == *",xprtsec=mtls"* ]] && cmp -s "$T/data" "$MNT/tls"
	ok $? "mount xprtsec=mtls in $MS ms, the file reads back; /proc/mounts: ${line#* * }"
	handshakes_ok
	st=$?
	# our daemon's server line says whether the client showed a certificate
	[ $st -eq 0 ] && [ -z "${UPCALL_CMD:-}" ] && [[ $HS != *"server: "*"client_cert=yes"* ]] && st=1
	ok $st "the daemon did both ends, nfsd's with the client's certificate: $HS"
	unmount
else
	ok 1 "mount xprtsec=mtls localhost:/export through the daemon: $MOUNT_OUT"
	kmsg
	diag "$DLOG"
fi

# ---- 5. the server's certificate from another CA: the mount fails ----
mark_log
if mount_tls vers=4.2,xprtsec=tls,retry=0 otherca.test:/export; then
	ok 1 "otherca.test (server certificate from ca2): the mount must fail, but it mounted"
	unmount
else
	fail=$(log_lines client fail | head -n 1)
	kill -0 "$DPID" 2>/dev/null && [ -n "$fail" ]
	st=$?
	ok $st "otherca.test (server certificate from ca2, not trusted): the mount fails in $MS ms ($MOUNT_OUT), the daemon still runs and logged: ${fail#*: }"
	[ $st -eq 0 ] || diag "$DLOG"
fi

# ---- 6. the daemon keeps serving ----
if mount_tls vers=4.2,xprtsec=tls localhost:/export; then
	cmp -s "$T/data" "$MNT/tls"
	ok $? "after the failure: mount xprtsec=tls in $MS ms, the file reads back"
	unmount
else
	ok 1 "after the failure, mount xprtsec=tls: $MOUNT_OUT"
	kmsg
	diag "$DLOG"
fi
FD2=$(fds)
kill -0 "$DPID" 2>/dev/null && [ "$FD2" -le "$FD1" ]
st=$?
ok $st "umount; the daemon still runs; its fds: $FD0 at start, $FD1 after the first mount, $FD2 at the end (want <= $FD1)"
[ $st -eq 0 ] || { ls -l /proc/"$DPID"/fd 2>/dev/null | sed 's/^/# /'; diag "$DLOG"; }

# ---- 7. swapped in for tlshd: the same service from tlshd's own file ----
if [ -z "${UPCALL_CMD:-}" ]; then
	stop "$DPID"
	cat >"$T/tlshd.conf" <<EOF
# tlshd.conf(5) syntax (a GLib key file), read as is
[debug]
loglevel=1

[authenticate]
keyrings=.nfs;.nfsd;

[authenticate.client]
x509.truststore= $C/ca.pem
x509.certificate= $C/client.pem
x509.private_key= $C/client.key

[authenticate.server]
x509.truststore= $C/ca.pem
x509.certificate= $C/p256.pem
x509.private_key= $C/p256.key
EOF
	DLOG=$T/daemon-tlshd.log
	"$DAEMON" --tlshd-config "$T/tlshd.conf" --no-handoff --control "$T/ctl2.sock" --log-level debug \
		>"$DLOG" 2>&1 </dev/null &
	DPID=$!
	PIDS+=("$DPID")
	wait_subscribed "$DPID"
	mark_log
	if mount_tls vers=4.2,xprtsec=mtls localhost:/export; then
		handshakes_ok
		st=$?
		[ $st -eq 0 ] && [[ $HS != *"server: "*"client_cert=yes"* ]] && st=1
		cmp -s "$T/data" "$MNT/tls" || st=1
		ok $st "from tlshd's config file (--tlshd-config): mount xprtsec=mtls in $MS ms, both ends, the client's certificate: $HS"
		unmount
	else
		ok 1 "from tlshd's config file (--tlshd-config): mount xprtsec=mtls: $MOUNT_OUT"
		kmsg
		diag "$DLOG"
	fi

	# ---- 8. the client certificate from the kernel keyring (cert_serial=) ----
	stop "$DPID"
	# DER in "user" keys of nfs.ko's .nfs keyring, as tlshd(8) documents it;
	# kernels before .nfs existed (6.12): a keyring of our own, named in the
	# daemon's [upcall] keyrings so that it links it and may read its keys
	RINGNAME=.nfs
	keyctl search @u keyring .nfs >/dev/null 2>&1 || keyctl show %:.nfs >/dev/null 2>&1 || {
		RINGNAME=handshaked-nfs-test
		keyctl newring "$RINGNAME" @u >/dev/null
	}
	printf '[upcall]\nca_file = %s\nkeyrings = %s\n' "$C/ca.pem" "$RINGNAME" >"$T/nocert.conf"
	DLOG=$T/daemon-keyring.log
	"$DAEMON" --upcall --no-handoff --control "$T/ctl3.sock" --log-level debug --cert "$C/p256.pem" \
		--key "$C/p256.key" --client-ca "$C/ca.pem" --client-auth optional -c "$T/nocert.conf" \
		>"$DLOG" 2>&1 </dev/null &
	DPID=$!
	PIDS+=("$DPID")
	wait_subscribed "$DPID"
	openssl x509 -in "$C/client.pem" -outform DER -out "$T/client.der" &&
		openssl pkey -in "$C/client.key" -outform DER -out "$T/client.key.der" &&
		cs=$(keyctl padd user nfs-client-cert "%:$RINGNAME" <"$T/client.der") &&
		ks=$(keyctl padd user nfs-client-key "%:$RINGNAME" <"$T/client.key.der")
	st=$?
	mark_log
	if [ $st -eq 0 ] && mount_tls "vers=4.2,xprtsec=mtls,cert_serial=$cs,privkey_serial=$ks" localhost:/export; then
		handshakes_ok
		st=$?
		[ $st -eq 0 ] && [[ $HS != *"server: "*"client_cert=yes"* ]] && st=1
		ok $st "mount xprtsec=mtls,cert_serial=$cs,privkey_serial=$ks with no client certificate configured: the keyring's (DER) is sent: $HS"
		unmount
	elif dmesg | grep -q "Unknown parameter 'cert_serial'"; then
		# the option came with the .nfs keyring, after 6.12: nothing to test
		echo "# Linux $(uname -r): NFS has no cert_serial= mount option; the keyring certificate case needs a newer kernel"
	else
		ok 1 "mount xprtsec=mtls with the client certificate in $RINGNAME (serials ${cs:-?}/${ks:-?}): ${MOUNT_OUT:-keyctl failed}"
		kmsg
		diag "$DLOG"
	fi
	keyctl unlink "${cs:-0}" "%:$RINGNAME" >/dev/null 2>&1
	keyctl unlink "${ks:-0}" "%:$RINGNAME" >/dev/null 2>&1
fi
finish
