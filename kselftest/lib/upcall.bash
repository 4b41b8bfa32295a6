# Shared helpers of the handshake upcall tests (kselftest/upcall_*.sh),
# sourced after tests/tcp/lib.sh.
#
#   skip_all WHY        the whole script is skipped ("1..0 # SKIP WHY")
#   fail_all WHY        the set-up cannot go on: one failing line, the plan
#   now_ms              milliseconds since the epoch
#   subscribed PID      one of PID's netlink sockets joined the group whose
#                       id is $GROUP (hex; /proc/net/netlink shows the first
#                       32 groups as a bit mask)

skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

fail_all() {
	ok 1 "$*"
	finish
	exit 1
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

subscribed() {
	local -A ino=()
	local l f
	for l in /proc/"$1"/fd/*; do
		l=$(readlink "$l" 2>/dev/null) || continue
		[[ $l =~ ^socket:\[([0-9]+)\]$ ]] && ino[${BASH_REMATCH[1]}]=1
	done
	while read -r -a f; do
		[ "${f[1]}" = 16 ] && [ -n "${ino[${f[9]}]:-}" ] || continue
		(((0x${f[3]} >> (0x$GROUP - 1)) & 1)) && return 0
	done <<<"$(tail -n +2 /proc/net/netlink)"
	return 1
}
