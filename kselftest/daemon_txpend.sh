#!/usr/bin/env bash
# libhandshake's owed KeyUpdate (hs_tx_pending, RFC 8446 §4.6.3) through
# handshaked on the running kernel (kselftest/run: in the VM on >= 6.14 and
# on 6.12). `tests/peer txpend-server` (hs_server_accept, non-blocking
# socket) sends a counter pattern until its send buffer is full; our
# engine's client (`txpend-client`, userspace records) has not read a byte
# and sends KeyUpdate(update_requested). With the buffer still full:
#  - >= 6.14: hs_recv(MSG_DONTWAIT), twice, returns -1/EAGAIN with
#    hs_tx_pending() true (the connection lives, the answer is owed); once
#    the client reads, hs_recv sends the answer, then more data and
#    close_notify; the client gets every byte in order and the server's
#    KeyUpdate exactly after the bytes sent before it
#  - 6.12: the documented refusal: hs_recv -1, EOPNOTSUPP,
#    HS_R_REKEY_UNSUPPORTED, alert internal_error; the client gets exactly
#    the bytes sent before, intact, never garbage
WAIT_SECONDS=${WAIT_SECONDS:-30}  # TCG is slow
. "$(dirname "$0")/../tests/tcp/lib.sh"
. "$(dirname "$0")/lib/daemon.bash"
ktls_or_skip "owed KeyUpdate"
need_built handshaked tests/peer
echo "# Linux $(uname -r), TLS 1.3 rekey: $([ $REKEY = 1 ] && echo yes || echo no)"
# result STATUS NAME FILE...: the TAP line, the files as comments on failure
result() {
	local st=$1 name=$2
	shift 2
	ok "$st" "$name"
	[ "$st" -eq 0 ] || diag "$@"
}

bg daemon "$DAEMON" --handoff "$T/d.sock" --cert "$CERTS/p256.pem" --key "$CERTS/p256.key"
for ((i = 0; i < WAIT_SECONDS * 50; i++)); do
	[ -S "$T/d.sock" ] && break
	sleep 0.02
done
[ -S "$T/d.sock" ]
st=$?
result $st "handshaked --handoff starts" "$T/daemon.err"
[ $st = 0 ] || { finish; exit; }

AFTER=65536
bg srv "$PEER" txpend-server --handoff "$T/d.sock" --listen 127.0.0.1:0 --full "$T/full" \
	--pending "$T/pending" --after $AFTER
SRV=$LAST_PID
wait_for "$T/srv.err" '^txpend: listening on' "$SRV"
port=$(sed -n 's/^txpend: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/srv.err")
bg cli timeout 60 "$PEER" txpend-client "127.0.0.1:${port:-1}" --full "$T/full" --pending "$T/pending"
CLI=$LAST_PID
wait "$SRV"
SRV_RC=$?
wait "$CLI"
CLI_RC=$?
S=$(cat "$T/srv.err") C=$(cat "$T/cli.err")
full=$(sed -n 's/^txpend: send buffer full after \([0-9]*\) bytes$/\1/p' <<<"$S")
echo "# server: send buffer full after ${full:-?} bytes"

if [ $REKEY = 1 ]; then
	[[ $S == *"hs_recv 1 with the send buffer full: -1 errno=Resource temporarily unavailable pending=yes ku_rx=1 ku_tx=0"* ]] &&
		[[ $S == *"hs_recv 2 with the send buffer full: -1 errno=Resource temporarily unavailable pending=yes ku_rx=1 ku_tx=0"* ]]
	result $? "hs_recv(MSG_DONTWAIT) reads the KeyUpdate with the send buffer full: -1 EAGAIN, hs_tx_pending, twice; the connection lives" \
		"$T/srv.err"
	[[ $S == *"KeyUpdate answered after "*" ku_tx=1"* ]]
	result $? "writable again: the next hs_recv sends the owed KeyUpdate (hs_tx_pending false, key_updates_tx 1)" "$T/srv.err"
	before=$(sed -n 's/^txpend: sent \([0-9]*\) bytes: \([0-9]*\) before our KeyUpdate.*/\2/p' <<<"$S")
	total=$(sed -n 's/^txpend: sent \([0-9]*\) bytes: .*/\1/p' <<<"$S")
	[ "$SRV_RC" = 0 ] && [ "$CLI_RC" = 0 ] && [ -n "$total" ] && [ "$total" -gt "${before:-0}" ] &&
		[[ $C == *"received $total bytes pattern=intact server_keyupdate_at=$before ku_tx=1 ku_rx=1 end=close_notify"* ]] &&
		[[ $S == *"done close_notify=yes"* ]]
	result $? "the client reads all ${total:-?} bytes intact (counter pattern), our KeyUpdate exactly after the ${before:-?} bytes before it, then close_notify" \
		"$T/srv.err" "$T/cli.err"
else
	[ "$SRV_RC" = 2 ] &&
		[[ $S == *"hs_recv 1 with the send buffer full: -1 errno=Operation not supported pending=no"* ]] &&
		[[ $S == *"reason=rekey unsupported alert=80 "*"TLS 1.3 rekey needs Linux 6.14"* ]]
	result $? "Linux $(uname -r): hs_recv refuses the peer's KeyUpdate as documented (-1 EOPNOTSUPP, HS_R_REKEY_UNSUPPORTED, internal_error)" \
		"$T/srv.err"
	got=$(sed -n 's/^txpend-client: received \([0-9]*\) bytes pattern=intact .*/\1/p' <<<"$C")
	sent=$(sed -n 's/^txpend: ended after \([0-9]*\) bytes$/\1/p' <<<"$S")
	[ -n "$got" ] && [ "$got" = "$sent" ] && [[ $C != *"server_keyupdate_at"* ]] &&
		! grep -qiE 'bad_record_mac|decrypt' "$T/cli.err"
	result $? "the client gets exactly the ${sent:-?} bytes sent before the end (${got:-?}), intact, no decryption error ($(sed -n 's/.* end=//p' <<<"$C"))" \
		"$T/srv.err" "$T/cli.err"
fi
finish
