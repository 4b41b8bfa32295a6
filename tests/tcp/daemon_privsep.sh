#!/usr/bin/env bash
# handshaked --user: started as root, it reads its keys and binds its
# sockets, then runs as the user with no capability (the upcall's
# CAP_NET_ADMIN is checked in the VM: kselftest/daemon_privsep.sh), under
# its seccomp filter. On the host (no kTLS: a handshake ends when the
# daemon installs the keys, after everything else). Root only.
#  1. /proc/PID/status: uid and gid nobody's everywhere, no capability in
#     any set, NoNewPrivs, Seccomp 2 (filter)
#  2. the handoff socket belongs to nobody:nogroup with its [handoff]
#     mode, the control socket to nobody with 0600; root still talks to it
#  3. a handshake runs as far as the host allows (kTLS), nothing refused
#     by seccomp
#  4. SIGHUP reload with files readable by the user (a group of theirs, as
#     Debian's ssl-cert), also the ticket key file (the user's, 0600)
#  5. SIGHUP when the user cannot read a key: the reload fails, the log
#     says why and as whom, the old configuration stays and still serves
#  6. SIGTERM: exit status 0, though the socket files' directory is not
#     the user's (the files stay, the next start replaces them)
#  7. --seccomp no: no filter (Seccomp 0); --user root and an unknown user
#     are refused
WAIT_SECONDS=${WAIT_SECONDS:-10}
. "$(dirname "$0")/lib.sh"
. "$ROOT/kselftest/lib/daemon.bash"
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root to change user"; exit 0; }
getent passwd nobody >/dev/null && getent group nogroup >/dev/null ||
	{ echo "1..0 # SKIP no user nobody or group nogroup"; exit 0; }
require openssl
require python3
need_built handshaked handshakectl

C=$CERTS
# keys the user reads through its group, in a directory it may enter
K=$T/keys
mkdir "$K"
cp "$C/p256.pem" "$C/p256.key" "$C/rsa2048.pem" "$C/rsa2048.key" "$K/"
chgrp -R nogroup "$K"
chmod 0750 "$K"
chmod 0640 "$K"/*
chmod 0755 "$T"   # the daemon's directory stays root's: it cannot remove its sockets there
printf 'v1 00112233445566778899aabbccddeeff %s %s\n' \
	8d3c7a1e55f09b26c4e1d7a03b9f6e2c51a8d0f47e3b92c6d5a1f08e7c4b3d29 "$(date +%s)" >"$K/stek"
chown nobody "$K/stek"
chmod 0600 "$K/stek"
SOCK=$T/d.sock
CTL=$SOCK.ctl

status() { awk -v k="$1:" '$1 == k { $1 = ""; print substr($0, 2) }' /proc/"$DPID"/status; }
handshake() {
	local name=$1 sig=$2
	echo Q | timeout 20 openssl s_client -connect "127.0.0.1:$APORT" -sigalgs "$sig" -CAfile "$C/ca.pem" \
		-verify_return_error -servername localhost >"$T/sc-$name.log" 2>&1
	grep -q '^Verification: OK' "$T/sc-$name.log"
}

start_daemon "$SOCK" "$T/daemon.log" --cert "$K/p256.pem" --key "$K/p256.key" \
	--cert "$K/rsa2048.pem" --key "$K/rsa2048.key" --ticket-keys "$K/stek" --user nobody ||
	{ ok 1 "handshaked --user nobody starts"; finish; exit; }
# the sockets exist before the drop: wait for the filter, installed after it
wait_for "$T/daemon.log" 'event=seccomp_(on|off)' "$DPID"
ok $? "handshaked --user nobody starts (pid $DPID)"

# 1. who it is
uid=$(id -u nobody) gid=$(getent group nogroup | cut -d: -f3)
[ "$(status Uid)" = "$uid $uid $uid $uid" ] && [ "$(status Gid)" = "$gid $gid $gid $gid" ]
ok $? "uid and gid are nobody's, real, effective, saved and filesystem ($(status Uid) / $(status Gid))"
caps="$(status CapInh) $(status CapPrm) $(status CapEff) $(status CapBnd) $(status CapAmb)"
[ "$caps" = "0000000000000000 0000000000000000 0000000000000000 0000000000000000 0000000000000000" ]
ok $? "no capability in any set (inheritable permitted effective bounding ambient: $caps)"
want=2   # a filter; none in a sanitizer build (make SAN=1), which says so
grep -q 'event=seccomp_off reason=sanitizer' "$T/daemon.log" && want=0
[ "$(status NoNewPrivs)" = 1 ] && [ "$(status Seccomp)" = $want ]
ok $? "NoNewPrivs $(status NoNewPrivs), Seccomp $(status Seccomp) (2: a filter)"

# 2. its sockets
[ "$(stat -c '%U:%G %a' "$SOCK")" = "nobody:nogroup 660" ] && [ "$(stat -c '%U %a' "$CTL")" = "nobody 700" ]
ok $? "the handoff socket is nobody:nogroup $(stat -c %a "$SOCK"), the control socket nobody's, $(stat -c %a "$CTL") (umask 077)"
out=$("$BUILD/handshakectl" status --socket "$CTL" 2>&1)
[[ $out == *"state running"* && $out == *"certificates 2"* ]]
ok $? "handshakectl status as root: ${out%%$'\n'*}, $(grep -c . <<<"$out") lines"

# 3. a handshake (to the kTLS step, or through it on a kernel with kTLS)
python3 "$ROOT/kselftest/handoff-client.py" "$SOCK" any 3 >"$T/app.log" 2>&1 &
PIDS+=($!)
listening "$T/app.log" || { ok 1 "the application listens"; finish; exit; }
handshake 1 ecdsa_secp256r1_sha256
ok $? "s_client (ECDSA) through the daemon running as nobody: the server's flight verifies"
wait_for "$T/app.log" '^reply ' || true
grep -qE '^reply (DONE|FAILED .*kTLS)' "$T/app.log" && ! grep -q seccomp_refused "$T/daemon.log"
ok $? "the daemon answered the application ($(grep '^reply' "$T/app.log" | head -1 | cut -c1-60)), seccomp refused nothing"

# 4. reloads as the user
kill -HUP "$DPID"
wait_for "$T/daemon.log" 'reloaded' "$DPID"
ok $? "SIGHUP as nobody: the keys (group nogroup, 0640) and the ticket key file (nobody's, 0600) are read again"

# 5. a key the user cannot read
chmod 0600 "$K/rsa2048.key"
kill -HUP "$DPID"
wait_for "$T/daemon.log" 'reload.*fail' "$DPID"
line=$(grep -E 'reload.*fail' "$T/daemon.log" | tail -1)
[[ $line == *"rsa2048.key"* && $line == *"Permission denied"* && $line == *"user=nobody"* ]]
ok $? "SIGHUP with an unreadable key: the reload fails and says why: $line"
handshake 2 rsa_pss_rsae_sha256
ok $? "the old configuration stays: the RSA key still signs"
chmod 0640 "$K/rsa2048.key"

# 6. SIGTERM
kill -TERM "$DPID"
wait "$DPID"
st=$?
[ $st -eq 0 ] && grep -q 'socket_left' "$T/daemon.log"
ok $? "SIGTERM: exit status $st; the socket files in a directory of root's stay: $(grep -c socket_left "$T/daemon.log") said so"

# 7. the switches and the refusals
start_daemon "$T/e.sock" "$T/e.log" --cert "$K/p256.pem" --key "$K/p256.key" --user nobody --seccomp no ||
	{ ok 1 "handshaked --seccomp no starts"; finish; exit; }
wait_for "$T/e.log" 'event=privs_dropped' "$DPID"
[ "$(status Seccomp)" = 0 ] && [ "$(status Uid)" = "$uid $uid $uid $uid" ]
ok $? "--seccomp no: Seccomp $(status Seccomp), still nobody"
out=$(timeout 20 "$DAEMON" --handoff "$T/r.sock" --cert "$K/p256.pem" --key "$K/p256.key" --user root 2>&1)
st=$?
[ $st -ne 0 ] && [[ $out == *"is root"* ]]
ok $? "--user root is refused (status $st): $(grep -m1 privs <<<"$out")"
out=$(timeout 20 "$DAEMON" --handoff "$T/r.sock" --cert "$K/p256.pem" --key "$K/p256.key" --user no-such-user-$$ 2>&1)
st=$?
[ $st -ne 0 ] && [[ $out == *"no user"* ]]
ok $? "an unknown user is refused (status $st): $out"
finish
