# NFS server and client inside the VM of kselftest/vm/run, for tests of the
# kernel's handshake upcall with NFS over TLS. Sourced (bash), never run on
# a real machine: it copies the tools that kselftest/lib/nfs-tools unpacked
# (on the host, before the VM) over /, which only the VM's throw-away
# overlay may take. No systemd in the VM: the daemons are started by hand.
#
#   nfs_install            copies the tools over / and loads the modules;
#                          fails (status 1, a "# " line why) when the tree is
#                          missing: run kselftest/lib/nfs-tools on the host
#   nfs_server_start EXPORTDIR  rpcbind, mountd, nfsdcld, nfsd (NFSv4 only) serving
#                          the client path EXPORTDIR (e.g. /export); its files
#                          are in $NFS_SRVDIR (the VM's overlay cannot be
#                          exported, so it lives on a tmpfs: the NFSv4 root
#                          $NFS_V4ROOT, fsid=0)
#   nfs_mount OPTS MNT [SPEC]  mount -t nfs -o OPTS SPEC MNT (SPEC defaults to
#                          localhost:EXPORTDIR), at most NFS_MOUNT_TIMEOUT
#                          seconds (default 60); mount's output in $NFS_LOG/mount.log
#   nfs_stop               unmounts what nfs_mount mounted, stops the server
#
# Logs of the daemons are in $NFS_LOG (default /tmp/nfs-log).
NFS_TOOLS=${NFS_TOOLS:-${HANDSHAKED_VM_CACHE:-$HOME/.cache/handshaked-vm}/nfs/bookworm/root}
NFS_V4ROOT=${NFS_V4ROOT:-/srv/nfs4}
NFS_LOG=${NFS_LOG:-/tmp/nfs-log}
NFS_MOUNT_TIMEOUT=${NFS_MOUNT_TIMEOUT:-60}
NFS_PIDS=()
NFS_MOUNTS=()

nfs_install() {
	if ! [ -e "$NFS_TOOLS/.complete" ]; then
		echo "# no NFS tools in $NFS_TOOLS: run kselftest/lib/nfs-tools on the host first"
		return 1
	fi
	if [ "$(id -u)" != 0 ] || ! [ -d /run/hsvm ] || ! grep -q '^overlay / overlay ' /proc/mounts; then
		echo "# nfs_install runs only as root in the VM (kselftest/vm/run): it writes over /"
		return 1
	fi
	mkdir -p "$NFS_LOG"
	# the tree is usr-merged (nfs-tools), so only usr, etc and var are in it
	# (no ldconfig: slow over 9p; ld.so finds the few new libraries in
	# /usr/lib/<multiarch>, a default directory, without its cache)
	cp -a "$NFS_TOOLS/usr/." /usr/ && cp -a "$NFS_TOOLS/etc/." /etc/ &&
		cp -a "$NFS_TOOLS/var/." /var/ || return 1
	: >>/etc/exports
	# rpcbind drops its privileges to _rpc (the package's postinst adds it)
	getent passwd _rpc >/dev/null ||
		echo '_rpc:x:107:65534::/run/rpcbind:/usr/sbin/nologin' >>/etc/passwd
	# net/handshake is built in; tls for the kTLS the daemon installs
	modprobe -a sunrpc nfsd nfs nfsv4 tls || return 1
}

nfs_server_start() {
	local export=$1 i
	NFS_EXPORT=$export
	NFS_SRVDIR=$NFS_V4ROOT$export
	mkdir -p "$NFS_V4ROOT" /run/rpcbind /var/lib/nfs/v4recovery
	mount -t tmpfs -o mode=755 nfs4root "$NFS_V4ROOT" || return 1
	mkdir -p "$NFS_SRVDIR"
	chmod 1777 "$NFS_SRVDIR"
	grep -q ' /proc/fs/nfsd ' /proc/mounts || mount -t nfsd nfsd /proc/fs/nfsd || return 1
	grep -q ' /run/rpc_pipefs ' /proc/mounts ||
		{ mkdir -p /run/rpc_pipefs && mount -t rpc_pipefs sunrpc /run/rpc_pipefs; } || return 1
	rpcbind -f -w >"$NFS_LOG/rpcbind.log" 2>&1 &
	NFS_PIDS+=($!)
	for ((i = 0; i < 100; i++)); do
		[ -S /run/rpcbind.sock ] && break
		sleep 0.05
	done
	# the shortest lease and grace (10 s) the kernel takes, set before the
	# threads start; the grace period is also ended at once below
	echo 10 >/proc/fs/nfsd/nfsv4leasetime
	echo 10 >/proc/fs/nfsd/nfsv4gracetime
	exportfs -o rw,insecure,no_root_squash,no_subtree_check,fsid=0 "*:$NFS_V4ROOT" \
		>"$NFS_LOG/exportfs.log" 2>&1 || { cat "$NFS_LOG/exportfs.log"; return 1; }
	rpc.mountd -F -N 3 >"$NFS_LOG/mountd.log" 2>&1 &
	NFS_PIDS+=($!)
	# nfsd waits seconds for nfsdcld (client tracking) before giving up
	mkdir -p /var/lib/nfs/nfsdcld
	nfsdcld -F -p /run/rpc_pipefs >"$NFS_LOG/nfsdcld.log" 2>&1 &
	NFS_PIDS+=($!)
	# threads block in the server's TLS handshake: more than one connection's worth
	rpc.nfsd -N 3 -U 8 >"$NFS_LOG/nfsd.log" 2>&1 || { cat "$NFS_LOG/nfsd.log"; return 1; }
	echo Y >/proc/fs/nfsd/v4_end_grace 2>/dev/null
	return 0
}

nfs_mount() {
	local opts=$1 mnt=$2 spec=${3:-localhost:$NFS_EXPORT} rc=0
	mkdir -p "$mnt"
	timeout -k 5 "$NFS_MOUNT_TIMEOUT" mount -t nfs -o "$opts" "$spec" "$mnt" \
		>"$NFS_LOG/mount.log" 2>&1 || rc=$?
	[ "$rc" = 0 ] && NFS_MOUNTS+=("$mnt")
	return "$rc"
}

nfs_stop() {
	local m p
	for m in "${NFS_MOUNTS[@]}"; do
		grep -q " $m nfs" /proc/mounts && { umount "$m" || umount -f -l "$m"; }
	done
	NFS_MOUNTS=()
	rpc.nfsd 0 >/dev/null 2>&1
	exportfs -ua >/dev/null 2>&1
	for p in "${NFS_PIDS[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	NFS_PIDS=()
	grep -q " $NFS_V4ROOT tmpfs" /proc/mounts && umount "$NFS_V4ROOT"
	return 0
}
