# Shared helpers of the handshake upcall tests (kselftest/upcall_*.sh),
# sourced after tests/tcp/lib.sh.
#
#   skip_all WHY        the whole script is skipped ("1..0 # SKIP WHY")
#   fail_all WHY        the set-up cannot go on: one failing line, the plan
#   now_ms              milliseconds since the epoch
#   subscribed PID      one of PID's netlink sockets joined the group whose
#                       id is $GROUP (hex; /proc/net/netlink shows the first
#                       32 groups as a bit mask)
#   wait_subscribed PID until PID joined it (or died: fails)

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

# wait_subscribed PID: until PID has joined the group (WAIT_SECONDS at most;
# a group id past 32 cannot be seen in /proc/net/netlink: 2 s of grace
# instead); fails when PID died or never joined
wait_subscribed() {
	local i
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		kill -0 "$1" 2>/dev/null || return 1
		if [ -z "${GROUP:-}" ] || [ $((0x$GROUP)) -gt 32 ]; then
			sleep 2
			kill -0 "$1" 2>/dev/null
			return
		fi
		subscribed "$1" && return 0
		sleep 0.1
	done
	return 1
}
