#!/bin/sh
# Smoke test of the kernel-test environment (the VM of kselftest/vm/run, or a
# native kernel with kTLS): the kTLS ULP is there, loopback works, and the
# checkout is visible and writable. TAP.
cd "$(dirname "$0")/.." || exit 1
echo "1..4"
n=0
check() { # check NAME COMMAND...: one TAP line from COMMAND's exit status
	name=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $name"
	else
		echo "not ok $n - $name"
		failed=1
	fi
}
failed=0

has_tls_ulp() { grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null; }
lo_up() { # IFF_UP is bit 0 of the interface flags
	flags=$(cat /sys/class/net/lo/flags 2>/dev/null) || return 1
	[ $((flags & 1)) -eq 1 ]
}
checkout_writable() {
	[ -f kselftest/vm/run ] || return 1
	f=$(mktemp ./.vm-smoke.XXXXXX) || return 1
	echo probe >"$f" && [ "$(cat "$f")" = probe ]
	rc=$?
	rm -f "$f"
	return $rc
}

check "TCP ULP \"tls\" is available (kernel $(uname -r))" has_tls_ulp
check "/proc/net/tls_stat exists" test -r /proc/net/tls_stat
check "loopback interface is up" lo_up
check "the checkout ($(pwd)) is visible and writable" checkout_writable
exit $failed
