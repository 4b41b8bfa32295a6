#!/usr/bin/env bash
# libhandshake's TX re-key before the AEAD limit, and hs_info's offload
# state, through handshaked on the running kernel (kselftest/run: in the VM
# on >= 6.14 and on 6.12). `tests/peer rekey-server` gets the socket back
# from hs_server_accept, lowers the threshold to 64 records
# (hs_set_rekey_records) and sends a 300 kB file as 300 records with
# send(2); openssl s_client (which follows KeyUpdates) receives it.
#  - hs_rekey_if_needed after every send, and hs_recv's own check (--auto):
#    >= 6.14: every byte intact (sha256), 4 KeyUpdates counted by hs_info
#    and by the kernel (TlsTxRekeyOk); 6.12: the connection ends at record
#    64 with internal_error and HS_R_REKEY_UNSUPPORTED, the socket shut
#    for writing (later send()s never reach the peer), the bytes before it
#    intact, never garbage
#  - hs_info_refresh (sock_diag): kTLS software on loopback in both
#    directions, as ss -tie and /proc/net/tls_stat (TlsCurrTxSw/RxSw) say
WAIT_SECONDS=${WAIT_SECONDS:-30}  # TCG is slow
. "$(dirname "$0")/../tests/tcp/lib.sh"
. "$(dirname "$0")/lib/daemon.bash"
ktls_or_skip "daemon re-key"
require openssl
need_built handshaked tests/peer
C=$CERTS
RECORDS=64 CHUNK=1000 SIZE=300000
BIG=$T/big
head -c "$SIZE" /dev/urandom >"$BIG"
echo "# Linux $(uname -r), TLS 1.3 rekey: $([ $REKEY = 1 ] && echo yes || echo no)"
sha() { sha256sum "$1" | cut -c1-64; }
# result STATUS NAME FILE...: the TAP line, the files as comments on failure
result() {
	local st=$1 name=$2
	shift 2
	ok "$st" "$name"
	[ "$st" -eq 0 ] || diag "$@"
}

rm -f "$T/d.sock"
bg daemon "$DAEMON" --handoff "$T/d.sock" --cert "$C/p256.pem" --key "$C/p256.key"
DPID=$LAST_PID
for ((i = 0; i < WAIT_SECONDS * 50; i++)); do
	[ -S "$T/d.sock" ] && break
	sleep 0.02
done
[ -S "$T/d.sock" ]
st=$?
result $st "handshaked --handoff starts (pid $DPID)" "$T/daemon.err"
[ $st = 0 ] || { finish; exit; }

# run NAME CIPHER [--auto]: the server, s_client against it; at the
# server's offload line the socket is checked from outside, then it sends.
run() {
	local name=$1 cs=$2 port
	shift 2
	rm -f "$T/go"
	bg "$name" "$PEER" rekey-server --handoff "$T/d.sock" --listen 127.0.0.1:0 --file "$BIG" \
		--records $RECORDS --chunk $CHUNK --go "$T/go" "$@"
	SRV=$LAST_PID
	wait_for "$T/$name.err" '^rekey: listening on' "$SRV" || return 1
	port=$(sed -n 's/^rekey: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/$name.err")
	REKEY0=$(tls_stat TlsTxRekeyOk)
	timeout 60 openssl s_client -connect "127.0.0.1:$port" -quiet -CAfile "$C/ca.pem" \
		-verify_return_error -servername localhost -ciphersuites "$cs" \
		</dev/null >"$T/$name.sc" 2>"$T/$name.scerr" &
	SC=$!
	PIDS+=("$SC")
	wait_for "$T/$name.err" '^rekey: (.* offload|hs_info_refresh failed)' "$SRV"
	SS=$(ss -tieHn state established "( sport = :$port )" 2>&1)
	CURR_TX=$(tls_stat TlsCurrTxSw) CURR_RX=$(tls_stat TlsCurrRxSw)
	: >"$T/go"
	wait "$SC"
	SC_RC=$?
	wait "$SRV"
	SRV_RC=$?
	REKEY1=$(tls_stat TlsTxRekeyOk)
	LOG=$(cat "$T/$name.err")
}

# 1. hs_rekey_if_needed after every send, AES-128-GCM; offload checked.
run explicit TLS_AES_128_GCM_SHA256
# ss prints the kernel's ULP info as "tcp-ulp-tls ... rxconf: sw txconf: sw"
# where iproute2 knows it; /proc/net/tls_stat counts it either way.
ss_sw=yes
[[ $SS == *tcp-ulp-tls* ]] && { [[ $SS == *"txconf: sw"* && $SS == *"rxconf: sw"* ]] || ss_sw=no; }
[[ $LOG == *"TLS_AES_128_GCM_SHA256 offload tx=software rx=software"* ]] && [ "$ss_sw" = yes ] &&
	[ "${CURR_TX:-0}" -ge 1 ] && [ "${CURR_RX:-0}" -ge 1 ]
result $? "hs_info_refresh: offload tx=software rx=software (ss: $([[ $SS == *tcp-ulp-tls* ]] && echo "$SS" | grep -o 'rxconf: [a-z-]* txconf: [a-z-]*' || echo 'no ULP info'); TlsCurrTxSw=$CURR_TX TlsCurrRxSw=$CURR_RX)" \
	"$T/explicit.err"

want=$(((SIZE / CHUNK) / RECORDS))   # a KeyUpdate after every 64 data records
check_run() {
	local name=$1 how=$2 n
	if [ $REKEY = 1 ]; then
		n=$(sed -n 's/.* re-keys \([0-9]*\)$/\1/p' <<<"$LOG")
		[ "$SRV_RC" = 0 ] && [ "$SC_RC" = 0 ] && [ "$(sha "$T/$name.sc")" = "$(sha "$BIG")" ] &&
			[ "$n" = "$want" ] && [[ $LOG == *"done key_updates_tx=$want "* ]] &&
			[ $((REKEY1 - REKEY0)) = "$want" ]
		result $? "$how: $SIZE bytes intact at s_client (sha256), $want KeyUpdates (hs_info key_updates_tx=${n:-?}, TlsTxRekeyOk +$((REKEY1 - REKEY0)))" \
			"$T/$name.err" "$T/$name.scerr"
	else
		# the kernel's TX sequence counts the daemon's ticket record too:
		# the end comes with the key at >= 64 records, after what was sent
		local sent used
		sent=$(sed -n 's/.* failed after \([0-9]*\) bytes: .*/\1/p' <<<"$LOG")
		used=$(sed -n 's/.*TX key used for \([0-9]*\) records (re-key due at '$RECORDS').*/\1/p' <<<"$LOG")
		n=$(wc -c <"$T/$name.sc")
		[ "$SRV_RC" = 2 ] && [[ $LOG == *"reason=rekey unsupported alert=80 "* ]] &&
			[[ $LOG == *"TLS 1.3 rekey needs Linux 6.14"* ]] && [[ $LOG == *"key_updates_tx=0"* ]] &&
			[ -n "$used" ] && [ "$used" -ge $RECORDS ] && [ "$used" -le $((RECORDS + 2)) ] &&
			[[ $LOG == *"send 2 after the end: "* ]] && [ "$n" = "$sent" ] &&
			head -c "$n" "$BIG" | cmp -s - "$T/$name.sc" &&
			grep -qi 'alert internal error' "$T/$name.scerr" && ! grep -qiE 'bad record mac|decrypt' "$T/$name.scerr"
		result $? "$how on Linux $(uname -r): ends with the key at ${used:-?} records (threshold $RECORDS): internal_error, HS_R_REKEY_UNSUPPORTED; s_client: the alert, no decryption error, exactly the $n bytes sent before it, intact (2 later send()s never reach it)" \
			"$T/$name.err" "$T/$name.scerr"
	fi
}
check_run explicit "hs_rekey_if_needed after each send (AES-128-GCM)"
cost=$(sed -n 's/^rekey: hs_rekey_if_needed not due: \([0-9]*\) ns.*/\1/p' <<<"$LOG")
[ -n "$cost" ] && echo "# hs_rekey_if_needed when not due (one getsockopt, TCG): $cost ns"

# 2. Only hs_recv: its check (at most every HS_REKEY_CHECK_MS) re-keys.
run auto TLS_CHACHA20_POLY1305_SHA256 --auto
check_run auto "hs_recv's own check (ChaCha20-Poly1305, threshold lowered below the suite's 2^62)"

finish
