#!/usr/bin/env bash
# tests/tcp/peer_server_wire.sh with `peer server --ktls`: the HTTP answer's
# head shares a kernel record with the sendfile(2) body (MSG_MORE), the echo
# collects every record the kernel has queued before one send, and after a
# fatal alert the server reads the kernel's records on for a moment.
WAIT_SECONDS=${WAIT_SECONDS:-30}  # TCG is slow
if ! grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null &&
	! { [ "$(id -u)" = 0 ] && modprobe -q tls 2>/dev/null &&
		grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp; }; then
	echo "1..0 # SKIP no kTLS on Linux $(uname -r)"
	exit 0
fi
WAIT_SECONDS=$WAIT_SECONDS PEER_WIRE_KTLS=1 exec "$(dirname "$0")/../tests/tcp/peer_server_wire.sh"
