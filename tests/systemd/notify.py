#!/usr/bin/python3
"""The daemon's side of systemd's protocols, without systemd: this script
plays the service manager. It owns the notify socket (a Unix datagram
socket, NOTIFY_SOCKET), sets WATCHDOG_USEC/WATCHDOG_PID and passes a
listening socket as fd 3 with LISTEN_FDS/LISTEN_PID (forked child sets the
environment for its own pid, then execs the daemon, as systemd does).

  notify.py DAEMON CERTDIR TMPDIR HAVE_LIBSYSTEMD(0|1) [STRACE]

Prints one line per check for tests/systemd/check to turn into TAP:
"R 0 NAME" (pass), "R 1 NAME" (fail), "D TEXT" (a diagnostic line).
With STRACE (a path), the socket-activation run is traced (strace -D keeps
the daemon's pid) and every system call it made must be allowed by the
SystemCallFilter= lines of the unit SYSTEMD_SERVICE (a path, from the
environment), its groups expanded with `systemd-analyze syscall-filter`."""
import array, ctypes, os, re, signal, socket, struct, subprocess, sys, threading, time

DAEMON, CERTS, T, HAVE_SD = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == '1'
STRACE = sys.argv[5] if len(sys.argv) > 5 else ''
CERT, KEY = os.path.join(CERTS, 'p256.pem'), os.path.join(CERTS, 'p256.key')
failed = 0


def result(good, name):
    global failed
    failed += 0 if good else 1
    print('R %d %s' % (0 if good else 1, name), flush=True)


def diag(text):
    for line in str(text).splitlines() or ['']:
        print('D ' + line, flush=True)


def diag_log(path, n=15):
    try:
        with open(path, errors='replace') as f:
            lines = f.read().splitlines()
    except OSError as e:
        lines = [str(e)]
    for line in lines[-n:]:
        diag(line)


def mono_us():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class Notify:
    """The service manager's notify socket: every datagram with its time and
    the sender's pid (SCM_CREDENTIALS, as systemd checks NotifyAccess=)."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(0.1)
        self.msgs = []             # (monotonic seconds, pid, {key: value}, text)
        self.cv = threading.Condition()
        self.done = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        space = socket.CMSG_SPACE(struct.calcsize('3i'))
        while not self.done:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, space)
            except socket.timeout:
                continue
            except OSError:
                return
            pid = -1
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                    pid = struct.unpack('3i', cdata[:12])[0]
            text = data.decode(errors='replace')
            fields = dict(l.split('=', 1) for l in text.split('\n') if '=' in l)
            with self.cv:
                self.msgs.append((time.monotonic(), pid, fields, text))
                self.cv.notify_all()

    def mark(self):
        with self.cv:
            return len(self.msgs)

    def wait(self, key, start=0, timeout=20.0, pred=None):
        """The index of the first message from start on that has key (and
        satisfies pred(fields)), or None after timeout seconds."""
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                for i in range(start, len(self.msgs)):
                    f = self.msgs[i][2]
                    if key in f and (pred is None or pred(f)):
                        return i
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cv.wait(left)

    def since(self, start, key=None):
        with self.cv:
            return [m for m in self.msgs[start:] if key is None or key in m[2]]

    def reset(self):
        with self.cv:
            self.msgs.clear()

    def close(self):
        self.done = True
        self.thread.join()
        self.sock.close()


def request(rid):
    """An ACCEPT request (lib/handoff.h): header only, the fd goes beside it."""
    return b'HO' + bytes([1, 1]) + struct.pack('>II', rid, 0)


def send_pipe_request(c, rid):
    """Sends ACCEPT with a pipe attached: the daemon must answer FAILED
    BAD_SOCKET (no kTLS needed for that)."""
    r, w = os.pipe()
    try:
        c.sendmsg([request(rid)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [r]))])
    finally:
        os.close(r)
        os.close(w)


def read_reply(c, timeout=20.0):
    """(type, request id, reason) of the next reply; None on timeout or EOF."""
    c.settimeout(timeout)
    try:
        msg = c.recv(65536)
    except OSError:
        return None
    if len(msg) < 12 or msg[:2] != b'HO':
        return None
    typ, rid, blen = msg[3], *struct.unpack('>II', msg[4:12])
    reason, p = None, 12
    while p + 4 <= 12 + blen and p + 4 <= len(msg):
        t, l = struct.unpack('>HH', msg[p:p + 4])
        if t == 10 and l == 4:
            reason = struct.unpack('>I', msg[p + 4:p + 8])[0]
        p += 4 + l
    return typ, rid, reason


def served(path, rid=7, timeout=20.0):
    """True when a request on the handoff socket at path gets FAILED
    BAD_SOCKET back (the socket listens and a loop serves it)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as c:
            c.settimeout(timeout)
            c.connect(path)
            send_pipe_request(c, rid)
            return read_reply(c, timeout) == (0x83, rid, 2)
    except OSError as e:
        diag('request on %s: %s' % (path, e))
        return False


class Daemon:
    def __init__(self, name, args, notify=None, pass_fd=None, watchdog_usec=0, watchdog_pid=None, trace=None):
        self.log = os.path.join(T, name + '.log')
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(('NOTIFY_', 'LISTEN_', 'WATCHDOG_'))}
        if notify:
            env['NOTIFY_SOCKET'] = notify.path
        argv = [DAEMON] + args
        if trace:
            # -D: strace runs as a detached grandchild, the daemon keeps our pid
            argv = [STRACE, '-D', '-f', '-qq', '-o', trace] + argv
        log = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        pid = os.fork()
        if pid == 0:
            try:
                me = str(os.getpid())
                if pass_fd is not None:
                    if pass_fd != 3:
                        os.dup2(pass_fd, 3)
                    os.set_inheritable(3, True)
                    env['LISTEN_FDS'] = '1'
                    env['LISTEN_PID'] = me
                if watchdog_usec:
                    env['WATCHDOG_USEC'] = str(watchdog_usec)
                    env['WATCHDOG_PID'] = watchdog_pid or me
                null = os.open('/dev/null', os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(log, 1)
                os.dup2(log, 2)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        os.close(log)
        self.pid = pid
        self.status = None

    def wait(self, timeout=30.0):
        """The exit status (os.waitstatus_to_exitcode), or None if it runs on."""
        end = time.monotonic() + timeout
        while self.status is None and time.monotonic() < end:
            p, st = os.waitpid(self.pid, os.WNOHANG)
            if p:
                self.status = os.waitstatus_to_exitcode(st)
                break
            time.sleep(0.02)
        return self.status

    def alive(self):
        return self.wait(0) is None

    def stop(self, timeout=30.0):
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.wait(10)

    def logged(self, regex):
        try:
            with open(self.log, errors='replace') as f:
                return re.search(regex, f.read(), re.M) is not None
        except OSError:
            return False


def base_args(name, extra=()):
    return ['--handoff', os.path.join(T, name + '.sock'), '--control', os.path.join(T, name + '.ctl'),
            '--cert', CERT, '--key', KEY, '--log-level', 'debug'] + list(extra)


def write_conf(path, cert, sock, ctl):
    with open(path, 'w') as f:
        f.write('[handoff]\npath = %s\n[control]\npath = %s\n[server]\ncert = %s\nkey = %s\n'
                % (sock, ctl, cert, KEY))


# ---- (a) readiness, reload, stop
def test_notify(n):
    sock, ctl, conf = (os.path.join(T, 'a' + s) for s in ('.sock', '.ctl', '.conf'))
    write_conf(conf, CERT, sock, ctl)
    d = Daemon('a', ['-c', conf, '--loops', '2', '--log-level', 'debug'], notify=n)
    i = n.wait('READY', timeout=30)
    # the moment READY=1 arrives: the sockets exist, a connection is served
    at_ready = os.path.exists(sock) and os.path.exists(ctl) and served(sock, 1, 10)
    result(i is not None, 'READY=1 arrives')
    result(i is not None and at_ready, 'at READY=1 the handoff socket accepts and a loop answers a request')
    if i is None:
        diag_log(d.log)
        d.kill()
        return
    first = n.since(0)[0]
    result(first[2].get('READY') == '1', 'READY=1 is the first notification (nothing before it)')
    st = n.msgs[i][2].get('STATUS', '')
    result(st.startswith('ready: 2 loops'), 'STATUS= with READY=1 says what serves: ' + st)

    # SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1
    m = n.mark()
    before = mono_us()
    os.kill(d.pid, signal.SIGHUP)
    r = n.wait('RELOADING', m, 20)
    rr = n.wait('READY', r if r is not None else m, 20)
    after = mono_us()
    ok = r is not None and rr is not None and rr > r
    result(ok, 'SIGHUP: RELOADING=1, then READY=1')
    usec = int(n.msgs[r][2].get('MONOTONIC_USEC', '0')) if r is not None else 0
    result(before <= usec <= after, 'RELOADING=1 carries MONOTONIC_USEC= from CLOCK_MONOTONIC (%d in [%d, %d])'
           % (usec, before, after))
    result(rr is not None and n.msgs[rr][2].get('STATUS', '').startswith('configuration reloaded'),
           'READY=1 after the reload says it reloaded')

    # the same through the control socket (handshakectl reload)
    m = n.mark()
    ctl_out = subprocess.run([os.path.join(os.path.dirname(DAEMON), 'handshakectl'), 'reload', '--socket', ctl],
                             capture_output=True, text=True, timeout=30)
    r = n.wait('RELOADING', m, 5)
    rr = n.wait('READY', r if r is not None else m, 5)
    result(ctl_out.returncode == 0 and r is not None and rr is not None and rr > r,
           'handshakectl reload: RELOADING=1, then READY=1 (%s)' % ctl_out.stdout.strip().replace('\n', ' '))

    # a reload that fails: still READY=1 (the old configuration serves), STATUS says why
    write_conf(conf, os.path.join(T, 'missing.pem'), sock, ctl)
    m = n.mark()
    os.kill(d.pid, signal.SIGHUP)
    r = n.wait('RELOADING', m, 20)
    rr = n.wait('READY', r if r is not None else m, 20)
    st = n.msgs[rr][2].get('STATUS', '') if rr is not None else ''
    result(r is not None and rr is not None and st.startswith('reload failed'),
           'a failed reload: RELOADING=1, READY=1, STATUS= says why (%s)' % st[:60])
    result(served(sock, 2), 'after the failed reload the old configuration serves')
    write_conf(conf, CERT, sock, ctl)

    # the periodic STATUS= line (every 5 s when it changed)
    m = n.mark()
    s = n.wait('STATUS', m, 12, lambda f: f['STATUS'].startswith('serving '))
    result(s is not None, 'STATUS= is refreshed: ' + (n.msgs[s][2]['STATUS'] if s is not None else 'none'))
    result(not n.since(0, 'WATCHDOG'), 'no WATCHDOG=1 without WATCHDOG_USEC')

    m = n.mark()
    rc = d.stop()
    stop = n.wait('STOPPING', m, 5)
    result(stop is not None, 'SIGTERM: STOPPING=1')
    result(rc == 0 and not os.path.exists(sock), 'the daemon exits 0 and unlinks the socket it bound (%s)' % rc)
    pids = {m[1] for m in n.since(0)}
    result(pids == {d.pid}, 'every notification comes from the main pid (NotifyAccess=main): %s' % sorted(pids))
    if failed:
        diag_log(d.log)


def ptrace(req, tid):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    if libc.ptrace(req, tid, None, None) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 17, 0x4206, 0x4207


def pings(n, start, t0, t1):
    return [m[0] for m in n.since(start, 'WATCHDOG') if t0 <= m[0] < t1]


# ---- (a) the watchdog
def test_watchdog(n):
    d = Daemon('w', base_args('w', ['--loops', '2']), notify=n, watchdog_usec=1000000)
    i = n.wait('READY', timeout=30)
    if i is None:
        result(False, 'watchdog run: READY=1')
        diag_log(d.log)
        d.kill()
        return
    t0 = n.msgs[i][0]
    time.sleep(3.2)
    got = pings(n, i, t0, t0 + 3.1)
    gaps = sorted(b - a for a, b in zip(got, got[1:]))
    mid = gaps[len(gaps) // 2] if gaps else 0
    result(5 <= len(got) <= 7 and 0.4 <= mid <= 0.65,
           'WATCHDOG_USEC=1 s: WATCHDOG=1 every half second (%d in 3.1 s, median gap %.2f s)' % (len(got), mid))

    # a loop that stops answering stops the pings; they resume with it
    tids = sorted(int(t) for t in os.listdir('/proc/%d/task' % d.pid) if int(t) != d.pid)
    if len(tids) != 2:
        result(False, 'two loop threads besides the supervisor (%s)' % tids)
        d.kill()
        return
    try:
        ptrace(PTRACE_SEIZE, tids[0])
        ptrace(PTRACE_INTERRUPT, tids[0])
        os.waitpid(tids[0], 0x40000000)  # __WALL: until it stopped
    except OSError as e:
        result(False, 'stopping one loop thread with ptrace: %s' % e)
        d.kill()
        return
    ts = time.monotonic()
    m = n.mark()
    time.sleep(2.5)
    late = pings(n, m, ts + 1.1, ts + 2.5)   # the probe under way may still pass
    result(not late and d.logged(r'event=watchdog_stuck loop=\d'),
           'one loop stuck: the pings stop (%d in the 1.4 s after the next probe), the log says so' % len(late))
    stuck = n.wait('STATUS', m, 0.1, lambda f: 'does not answer' in f['STATUS'])
    result(stuck is not None, 'STATUS= says a loop does not answer')
    ptrace(PTRACE_DETACH, tids[0])
    td = time.monotonic()
    m = n.mark()
    again = n.wait('WATCHDOG', m, 3)
    result(again is not None and n.msgs[again][0] - td < 1.6 and d.logged('event=watchdog_resumed'),
           'the loop answers again: the pings resume')
    rc = d.stop()
    result(rc == 0, 'watchdog run: the daemon exits 0 on SIGTERM (%s)' % rc)
    if failed:
        diag_log(d.log)

    # WATCHDOG_PID names another process: the watchdog is not ours
    m = n.mark()
    d = Daemon('w2', base_args('w2'), notify=n, watchdog_usec=200000, watchdog_pid='1')
    i = n.wait('READY', m, 30)
    time.sleep(1.0)
    result(i is not None and not n.since(m, 'WATCHDOG'), 'WATCHDOG_PID of another process: no pings')
    d.stop()


def listener(path, kind=socket.SOCK_SEQPACKET):
    s = socket.socket(socket.AF_UNIX, kind)
    s.bind(path)
    s.listen(16)
    return s


def syscalls(trace_prefix):
    names = set()
    for f in os.listdir(T):
        if not f.startswith(os.path.basename(trace_prefix)):
            continue
        with open(os.path.join(T, f), errors='replace') as fh:
            for line in fh:
                mm = re.match(r'^(?:\d+\s+)?([a-z0-9_]+)\(', line)
                if mm:
                    names.add(mm.group(1))
    return names


def filter_groups():
    """{"@group": [members]} from systemd-analyze (members may be @groups)."""
    out = subprocess.run(['systemd-analyze', 'syscall-filter'], capture_output=True, text=True, check=True).stdout
    groups, cur = {}, None
    for line in out.splitlines():
        if line.startswith('@'):
            cur = groups.setdefault(line.strip(), [])
        elif cur is not None and line.startswith('    ') and not line.strip().startswith('#'):
            cur.append(line.strip())
        elif not line.strip():
            cur = None
    return groups


def unit_filter(files):
    """The system calls that the SystemCallFilter= lines of a unit and its
    drop-ins (files, in order) allow (allow-list form: the first line sets,
    later plain lines add, "~" lines remove)."""
    groups = filter_groups()

    def expand(name, seen=()):
        if not name.startswith('@'):
            return {name}
        if name not in groups or name in seen:
            raise ValueError('unknown group ' + name)
        return set().union(*(expand(m, seen + (name,)) for m in groups[name]))

    allowed, first = set(), True
    lines = []
    for name in files:
        with open(name) as f:
            lines += [l.split('=', 1)[1].strip() for l in f if l.startswith('SystemCallFilter=')]
    for v in lines:
        deny = v.startswith('~')
        names = set().union(*(expand(x) for x in v.lstrip('~').split()))
        if first and deny:
            raise ValueError('a deny-list filter: nothing to check')
        allowed = allowed - names if deny else allowed | names
        first = False
    if first:
        raise ValueError('no SystemCallFilter= in ' + ' '.join(files))
    return allowed


# ---- (b) socket activation
def test_activation(n):
    path = os.path.join(T, 'b.sock')
    unused = os.path.join(T, 'b-unused.sock')
    ls = listener(path)
    # an application that starts first: connects and asks before the daemon runs
    early = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    early.connect(path)
    send_pipe_request(early, 11)
    trace = os.path.join(T, 'strace.b') if STRACE else None
    args = ['--handoff', unused, '--control', os.path.join(T, 'b.ctl'), '--cert', CERT, '--key', KEY,
            '--loops', '2', '--log-level', 'debug']
    m = n.mark()
    d = Daemon('b', args, notify=n, pass_fd=ls.fileno(), watchdog_usec=400000, trace=trace)
    result(read_reply(early, 30) == (0x83, 11, 2),
           'socket activation: a request sent before the daemon started is answered')
    early.close()
    i = n.wait('READY', m, 30)
    st = n.msgs[i][2].get('STATUS', '') if i is not None else ''
    result(i is not None and path in st, 'READY=1 names the passed socket: ' + st)
    result(served(path, 12), 'a request on the passed socket is answered')
    result(not os.path.exists(unused)
           and d.logged(r'event=listening socket=handoff path=\S*b\.sock via=socket_activation')
           and d.logged(r'event=socket_activation_path path=\S*b\.sock '),
           'the daemon serves the passed socket, binds no [handoff] path, says which it serves')
    result(n.wait('WATCHDOG', m, 3) is not None, 'socket activation run: the watchdog pings too')
    mr = n.mark()
    os.kill(d.pid, signal.SIGHUP)
    rr = n.wait('READY', mr, 20)
    result(rr is not None and served(path, 13) and not d.logged(r'handoff[^\n]*restart|restart[^\n]*handoff'),
           'a reload keeps the passed socket (no warning about [handoff] path)')
    rc = d.stop()
    result(rc == 0 and os.path.exists(path), 'SIGTERM: exit 0, the passed socket is not unlinked (%s)' % rc)
    if rc != 0 or not os.path.exists(path):
        diag_log(d.log)

    # between two daemons: a request waits in systemd's socket for the next
    between = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    between.connect(path)
    send_pipe_request(between, 14)
    d2 = Daemon('b2', args, notify=n, pass_fd=ls.fileno())
    result(read_reply(between, 30) == (0x83, 14, 2), 'a request sent between two daemons is answered by the next')
    between.close()
    d2.stop()
    ls.close()

    if STRACE:
        try:
            allowed = unit_filter([os.environ['SYSTEMD_SERVICE']])
        except (OSError, KeyError, ValueError) as e:
            result(False, 'the unit\'s SystemCallFilter=: %s' % e)
            return
        used = syscalls(trace)
        out = sorted(used - allowed)
        result(bool(used) and not out, 'the daemon\'s %d system calls (traced) all pass the unit\'s '
               'SystemCallFilter=%s' % (len(used), '; refused: ' + ' '.join(out) if out else ''))

    # a passed socket of the wrong kind: warned about, closed; the daemon binds its own
    wrong_path = os.path.join(T, 'c-stream.sock')
    ws = listener(wrong_path, socket.SOCK_STREAM)
    m = n.mark()
    d = Daemon('c', base_args('c'), notify=n, pass_fd=ws.fileno())
    i = n.wait('READY', m, 30)
    result(i is not None and served(os.path.join(T, 'c.sock'), 15)
           and d.logged(r'event=socket_activation_refused fd=3 '),
           'a passed SOCK_STREAM socket is refused (logged); the daemon binds [handoff] path')
    d.stop()
    ws.close()


# ---- a daemon that becomes nobody (--user): the unit with its drop-in
def test_user(n):
    os.chmod(T, 0o711)             # the notify socket, as /run/systemd/notify, for any user
    os.chmod(n.path, 0o777)
    trace = os.path.join(T, 'strace.u')
    m = n.mark()
    d = Daemon('u', base_args('u', ['--user', 'nobody']), notify=n, watchdog_usec=400000, trace=trace)
    i = n.wait('READY', m, 30)
    result(i is not None and served(os.path.join(T, 'u.sock'), 21) and n.wait('WATCHDOG', m, 3) is not None,
           '--user nobody: READY=1 and the watchdog pings come after the drop; requests are served')
    rc = d.stop()
    result(rc == 0, '--user nobody: SIGTERM, exit 0 (%s)' % rc)
    if i is None or rc != 0:
        diag_log(d.log)
    try:
        allowed = unit_filter([os.environ['SYSTEMD_SERVICE'], os.environ['SYSTEMD_USER_DROPIN']])
    except (OSError, KeyError, ValueError) as e:
        result(False, 'SystemCallFilter= of the unit and handshaked-user.conf: %s' % e)
        return
    used = syscalls(trace)
    out = sorted(used - allowed)
    result(bool(used) and not out, '--user nobody: its %d system calls pass SystemCallFilter= with '
           'handshaked-user.conf%s' % (len(used), '; refused: ' + ' '.join(out) if out else ''))


# ---- built without libsystemd: the protocols are off, the daemon works
def test_without(n):
    path = os.path.join(T, 'n.sock')
    ls = listener(os.path.join(T, 'n-passed.sock'))
    d = Daemon('n', base_args('n'), notify=n, pass_fd=ls.fileno(), watchdog_usec=200000)
    end = time.monotonic() + 30
    while time.monotonic() < end and not os.path.exists(os.path.join(T, 'n.ctl')):
        time.sleep(0.05)
    result(served(path), 'without libsystemd: the daemon binds [handoff] path and serves')
    time.sleep(1.0)
    result(not n.since(0), 'without libsystemd: no notification at all')
    result(d.logged('event=systemd_unavailable'), 'without libsystemd: the debug log says so once')
    result(d.stop() == 0, 'without libsystemd: SIGTERM, exit 0')
    ls.close()


def main():
    n = Notify(os.path.join(T, 'notify.sock'))
    try:
        if HAVE_SD:
            test_notify(n)
            n.reset()
            test_watchdog(n)
            n.reset()
            test_activation(n)
            if STRACE:
                n.reset()
                test_user(n)
        else:
            test_without(n)
    finally:
        n.close()
    # the daemon's own seccomp filter (handshaked/sandbox.c) lets what
    # libsystemd calls through: no refusal in any run's log
    refused = [f for f in sorted(os.listdir(T)) if f.endswith('.log')
               and 'event=seccomp_refused' in open(os.path.join(T, f), errors='replace').read()]
    result(not refused, 'no system call refused by the daemon\'s own seccomp filter%s'
           % (' (in %s)' % ' '.join(refused) if refused else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
