/* Load generator for the daemon benchmark (bench/daemon.sh, method in
 * bench/README.md): our engine's client role over TCP, many connections at
 * once from one thread (epoll), against `tests/peer server --ktls --echo`
 * (in-process engine + kTLS) or `tests/peer server --handoff --echo` with
 * handshaked. A connection is done when its handshake completed and one
 * application record came back through the server's kTLS (the server
 * really finished too); then it closes and the slot opens the next one.
 *
 *   daemon_load run   --ports P[,P...] --concurrency N --seconds S
 *                     [--warmup S] [--pids PID[,PID...]] [--daemon PID]
 *   daemon_load burst --ports P[,P...] --control SOCK --daemon PID --k K
 *                     [--bursts B] [--pids PID[,PID...]]
 *   daemon_load heap  --ports P[,P...] --control SOCK --k K
 *
 * run: handshakes completed in S seconds (after the warm-up) and the CPU
 * (utime + stime from /proc/PID/stat) that the --pids and the --daemon
 * used meanwhile. Slot i always connects to port i % nports (the peer
 * serves one connection at a time: one slot per peer process keeps its
 * backlog short). Last line: `run handshakes=N seconds=W hs_per_s=R
 * server_cpu_s=C server_cpu_us_per_hs=U daemon_cpu_s=C client_cpu_s=C
 * failed=F`.
 *
 * burst: the server's capacity with the load generator out of the way.
 * K full handshakes at once, B times (after one untimed warm-up burst);
 * the client's expensive work happens only between the two timed phases:
 *   untimed: K ClientHellos made;
 *   A, timed: K connects, each sends its ClientHello, until all K
 *      server flights arrived (read by nobody yet);
 *   untimed: the client processes the K flights (ECDHE, certificate,
 *      CertificateVerify, Finished) and queues Finished + "ping", unsent;
 *   B, timed: all K sent, until all K pings came back through kTLS.
 * The server did every step of the K handshakes inside A + B (accept,
 * hand-off, handshake, kTLS, hand-back, echo); the client only connects,
 * sends and receives there. Last line: `burst k=K bursts=B seconds=W
 * hs_per_s=R daemon_cpu_pct=P server_cpu_pct=P threads_pct=T,T,...
 * loop_split=N/N/... client_cpu_pct=P`: hs_per_s = K*B / (A + B summed),
 * CPU in percent of one CPU over A + B (daemon: every thread, from
 * /proc/PID/task/TID/schedstat, ns), threads_pct per daemon thread by
 * thread id, loop_split the handshakes each loop started (from the
 * daemon's counters).
 *
 * heap: reads handshaked_heap_bytes from the control socket idle, with K
 * handshakes in flight (ClientHello sent, the server's flight received,
 * our Finished held back), and after those K completed and were handed
 * back (connections still open). Last line: `heap idle=B inflight=B
 * after=B k=K bytes_per_inflight=N bytes_per_established=N`.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "procstat.h"
#include "tls/tls.h"

#define MAX_PORTS 256
#define MAX_PIDS 256
#define MAX_CONC 1024
#define IN_CAP (16384 + 512)       /* one whole record and then some */
#define PING "ping"
#define PING_LEN 4
#define SERVER_NAME "localhost"
#define DRAIN_SECONDS 30           /* in-flight ones after the window */

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "daemon_load: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- options ---- */

static uint16_t ports[MAX_PORTS];
static size_t n_ports;
static int pids[MAX_PIDS];
static size_t n_pids;
static int daemon_pid;             /* --daemon; 0: none */

/* "a,b,c" of decimals in [min, max] into out; exits with a message. */
static size_t parse_numbers(const char *what, const char *s, long min, long max, long *out, size_t cap)
{
	size_t n = 0;
	while (*s) {
		char *end;
		errno = 0;
		long v = strtol(s, &end, 10);
		if (errno || end == s || v < min || v > max || (*end && *end != ','))
			die("%s: '%s' is not a list of numbers in %ld..%ld", what, s, min, max);
		if (n == cap)
			die("%s: more than %zu values", what, cap);
		out[n++] = v;
		s = *end ? end + 1 : end;
	}
	if (!n)
		die("%s: empty list", what);
	return n;
}

static double parse_seconds(const char *what, const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v >= 0) || v > 3600)
		die("%s: '%s' is not a number of seconds (0..3600)", what, s);
	return v;
}

/* ---- CPU of other processes ---- */

/* utime + stime of pid in seconds (whole process, every thread). */
static double proc_cpu_s(int pid)
{
	double user, sys;

	if (!procstat_cpu(pid, &user, &sys))
		die("/proc/%d/stat: %s%s", pid, errno == EPROTO ? "unexpected format" : strerror(errno),
		    errno == EPROTO ? "" : " (did the server exit?)");
	return user + sys;
}

static double pids_cpu_s(void)
{
	double t = daemon_pid ? proc_cpu_s(daemon_pid) : 0;
	for (size_t i = 0; i < n_pids; i++)
		t += proc_cpu_s(pids[i]);
	return t;
}

/* CPU ns of every thread of pid, from schedstat (precise, unlike the
 * tick-based stat); ns[i] per thread in tid order, *n of them. */
#define MAX_THREADS 80
struct tcpu {
	int n;
	int tid[MAX_THREADS];
	double ns[MAX_THREADS];
};

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static void threads_cpu(int pid, struct tcpu *t)
{
	char path[96];
	int tids[MAX_THREADS], n = 0;
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	if (!(d = opendir(path)))
		die("%s: %s (did the daemon exit?)", path, strerror(errno));
	while ((e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		if (n == MAX_THREADS)
			die("%s: more than %d threads", path, MAX_THREADS);
		tids[n++] = atoi(e->d_name);
	}
	closedir(d);
	qsort(tids, (size_t)n, sizeof(int), cmp_int);
	t->n = 0;
	for (int i = 0; i < n; i++) {
		unsigned long long ns;
		FILE *f;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", pid, tids[i]);
		if (!(f = fopen(path, "r")))
			continue;  /* the thread ended meanwhile */
		int ok = fscanf(f, "%llu", &ns) == 1;
		fclose(f);
		if (!ok)
			die("%s: unexpected format", path);
		t->tid[t->n] = tids[i];
		t->ns[t->n++] = (double)ns;
	}
}

/* t1 - t0 per thread into d (threads are matched by id; new ones count from 0). */
static void threads_add_delta(const struct tcpu *t0, const struct tcpu *t1, struct tcpu *sum)
{
	for (int i = 0; i < t1->n; i++) {
		double base = 0;
		for (int j = 0; j < t0->n; j++)
			if (t0->tid[j] == t1->tid[i])
				base = t0->ns[j];
		int k;
		for (k = 0; k < sum->n && sum->tid[k] != t1->tid[i]; k++)
			;
		if (k == sum->n) {
			if (sum->n == MAX_THREADS)
				continue;
			sum->tid[sum->n] = t1->tid[i];
			sum->ns[sum->n++] = 0;
		}
		sum->ns[k] += t1->ns[i] - base;
	}
}

static double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

/* Seconds every CPU of the machine spent busy (not idle, not waiting for
 * I/O), from /proc/stat: whether a phase had CPU to spare. Clock ticks
 * (USER_HZ), so only a sum over several bursts means anything. */
static double machine_busy_s(void)
{
	double s;

	return procstat_busy(&s) ? s : 0;
}

/* ---- one client connection ---- */

enum cstate { C_IDLE, C_READY, C_CONNECTING, C_HANDSHAKE, C_ECHO, C_HELD };

struct conn {
	enum cstate state;
	int fd;
	size_t slot;
	tls_conn *tc;
	tls_buf out, plain;
	size_t out_off;
	uint8_t in[IN_CAP];
	size_t in_len;
	bool stall;                /* heap: hold our Finished back */
	bool stalled;              /* ... and now waiting (server flight readable) */
	bool hold;                 /* heap: keep the connection open when done */
	bool hold_out;             /* burst: queue our output, send nothing yet */
};

static tls_config *client_cfg;
static int ep;
static struct conn *conns;
static size_t n_conns;
static uint64_t done_count, fail_count;
static bool stop_starting;
static double last_stall_t, last_done_t;  /* burst: when the last flight / echo came */

static void conn_events(struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);     /* also leaves the epoll set */
	c->fd = -1;
	tls_conn_free(c->tc);
	c->tc = NULL;
	tls_buf_free(&c->out);
	tls_buf_free(&c->plain);
	c->state = C_IDLE;
}

static void conn_start(struct conn *c);

static void conn_fail(struct conn *c, const char *why)
{
	if (fail_count < 10)
		fprintf(stderr, "daemon_load: connection to port %u failed: %s\n", ports[c->slot % n_ports], why);
	fail_count++;
	conn_close(c);
	if (!stop_starting && !c->hold)  /* run: the slot carries on */
		conn_start(c);
}

/* A new client connection with its ClientHello queued, not connected yet. */
static void conn_prepare(struct conn *c)
{
	size_t zero = 0;

	if (!(c->tc = tls_conn_new(client_cfg)) || tls_conn_set_server_name(c->tc, SERVER_NAME))
		die("tls_conn_new failed");
	tls_buf_init(&c->out, 0);
	tls_buf_init(&c->plain, 0);
	c->out_off = c->in_len = 0;
	c->stalled = false;
	if (tls_conn_handshake(c->tc, &c->out, NULL, &zero) != TLS_WANT_INPUT || c->out.err)
		die("no ClientHello: %s", tls_conn_error(c->tc));
	c->state = C_READY;
}

static void conn_connect(struct conn *c)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(ports[c->slot % n_ports]),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		die("connect to port %u: %s", ports[c->slot % n_ports], strerror(errno));
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e) < 0)
		die("epoll_ctl: %s", strerror(errno));
	c->state = C_CONNECTING;
}

static void conn_start(struct conn *c)
{
	conn_prepare(c);
	conn_connect(c);
}

/* Sends what is pending; false on a dead socket. */
static bool conn_flush(struct conn *c)
{
	if (c->hold_out)
		return true;
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.base + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			conn_events(c, EPOLLIN | EPOLLOUT);
			return true;
		}
		if (n <= 0)
			return false;
		c->out_off += (size_t)n;
	}
	tls_buf_reset(&c->out);
	c->out_off = 0;
	return true;
}

static void conn_done(struct conn *c)
{
	done_count++;
	last_done_t = now_s();
	if (c->hold) {
		c->state = C_HELD;
		conn_events(c, 0);
		return;
	}
	conn_close(c);
	if (!stop_starting)
		conn_start(c);
}

/* Feeds what arrived to the engine: the handshake, then the echo. */
static void conn_feed(struct conn *c)
{
	char why[160];
	int r;

	while (c->in_len) {
		size_t n = c->in_len;
		if (c->state == C_HANDSHAKE) {
			r = tls_conn_handshake(c->tc, &c->out, c->in, &n);
		} else {
			r = tls_conn_recv(c->tc, &c->out, &c->plain, c->in, &n);
		}
		memmove(c->in, c->in + n, c->in_len - n);
		c->in_len -= n;
		if (c->out.err) {
			conn_fail(c, "output buffer");
			return;
		}
		if (r != 0 && r != TLS_WANT_INPUT) {
			snprintf(why, sizeof(why), "%s: %d (%s)", c->state == C_HANDSHAKE ? "handshake" : "echo", r,
				 tls_conn_error(c->tc));
			conn_flush(c);     /* our alert, if any */
			conn_fail(c, why);
			return;
		}
		if (c->state == C_HANDSHAKE && r == 0) {
			c->state = C_ECHO;
			if (tls_conn_send(c->tc, &c->out, PING, PING_LEN) || c->out.err) {
				conn_fail(c, "tls_conn_send");
				return;
			}
		}
		if (!conn_flush(c)) {
			conn_fail(c, "send: peer gone");
			return;
		}
		if (c->state == C_ECHO && c->plain.len >= PING_LEN) {
			if (memcmp(c->plain.base, PING, PING_LEN))
				conn_fail(c, "echo differs");
			else
				conn_done(c);
			return;
		}
		if (r == TLS_WANT_INPUT)
			return;
	}
}

static void conn_on_event(struct conn *c, uint32_t ev)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (c->state == C_CONNECTING) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
			conn_fail(c, strerror(err ? err : errno));
			return;
		}
		c->state = C_HANDSHAKE;  /* the ClientHello is queued (conn_prepare) */
		conn_events(c, EPOLLIN);
		if (!conn_flush(c))
			conn_fail(c, "send: peer gone");
		return;
	}
	if ((ev & EPOLLOUT) && c->out_off < c->out.len) {
		conn_events(c, EPOLLIN);
		if (!conn_flush(c)) {
			conn_fail(c, "send: peer gone");
			return;
		}
	}
	if (c->state == C_HANDSHAKE && c->stall) {
		/* the server's flight is here: hold our Finished back */
		c->stalled = true;
		last_stall_t = now_s();
		conn_events(c, 0);
		return;
	}
	if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_fail(c, n == 0 ? "the server closed" : strerror(errno));
			return;
		}
		c->in_len += (size_t)n;
		conn_feed(c);
		if (c->state != C_HANDSHAKE && c->state != C_ECHO)
			return;
		if (c->in_len == sizeof(c->in)) {
			conn_fail(c, "record larger than the input buffer");
			return;
		}
	}
}

static void poll_once(int timeout_ms)
{
	struct epoll_event ev[64];
	int n = epoll_wait(ep, ev, 64, timeout_ms);
	if (n < 0 && errno != EINTR)
		die("epoll_wait: %s", strerror(errno));
	for (int i = 0; i < n; i++)
		conn_on_event(ev[i].data.ptr, ev[i].events);
}

static size_t count_state(enum cstate s)
{
	size_t k = 0;
	for (size_t i = 0; i < n_conns; i++)
		k += conns[i].state == s;
	return k;
}

static size_t count_stalled(void)
{
	size_t k = 0;
	for (size_t i = 0; i < n_conns; i++)
		k += conns[i].state == C_HANDSHAKE && conns[i].stalled;
	return k;
}

static void setup(size_t concurrency)
{
	const uint16_t grp = TLS_GROUP_X25519;

	client_cfg = tls_config_new(TLS_CLIENT);
	/* no chain verification: its cost is the client's, not the server's;
	 * X25519 alone, so that no server asks for its hybrid group with a
	 * HelloRetryRequest (the engine's default puts X25519MLKEM768 first) */
	if (!client_cfg || tls_config_set_verify_peer(client_cfg, false) ||
	    tls_config_set_groups(client_cfg, &grp, 1) ||
	    tls_config_set_key_share_groups(client_cfg, &grp, 1))
		die("cannot configure the client");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1: %s", strerror(errno));
	n_conns = concurrency;
	if (!(conns = calloc(n_conns, sizeof(*conns))))
		die("out of memory");
	for (size_t i = 0; i < n_conns; i++) {
		conns[i].fd = -1;
		conns[i].slot = i;
	}
}

static void teardown(void)
{
	for (size_t i = 0; i < n_conns; i++)
		if (conns[i].state != C_IDLE)
			conn_close(&conns[i]);
	free(conns);
	close(ep);
	tls_config_free(client_cfg);
}

/* ---- run: handshakes/s and server CPU per handshake ---- */

static int cmd_run(size_t concurrency, double seconds, double warmup)
{
	setup(concurrency);
	for (size_t i = 0; i < n_conns; i++)
		conn_start(&conns[i]);
	double t = now_s(), t0 = t + warmup, t1 = t0 + seconds;
	/* warm: the time asked, and every slot through one handshake (a
	 * loaded VM may take long for the first ones) */
	while (now_s() < t0 || done_count < n_conns) {
		if (now_s() > t0 + 120)
			die("warm-up: %llu of %zu first handshakes in 120 s", (unsigned long long)done_count, n_conns);
		poll_once(50);
	}
	t1 = now_s() + seconds;
	uint64_t d0 = done_count;
	double dcpu0 = daemon_pid ? proc_cpu_s(daemon_pid) : 0;
	double cpu0 = pids_cpu_s(), self0 = self_cpu_s();
	t0 = now_s();
	while ((t = now_s()) < t1)
		poll_once((int)((t1 - t) * 1000) + 1);
	uint64_t d1 = done_count;
	double cpu1 = pids_cpu_s(), self1 = self_cpu_s();
	double dcpu1 = daemon_pid ? proc_cpu_s(daemon_pid) : 0;
	t1 = now_s();
	/* let the ones under way finish: an abandoned handshake is a failure
	 * on the server side, and would be counted against the next run */
	stop_starting = true;
	for (double end = now_s() + DRAIN_SECONDS; now_s() < end && count_state(C_IDLE) < n_conns;)
		poll_once(50);
	size_t stuck = n_conns - count_state(C_IDLE);
	teardown();
	if (stuck)
		die("%zu connections did not finish within %d s after the window", stuck, DRAIN_SECONDS);

	uint64_t hs = d1 - d0;
	double cpu = cpu1 - cpu0;
	printf("run handshakes=%llu seconds=%.3f hs_per_s=%.1f server_cpu_s=%.3f server_cpu_us_per_hs=%.1f "
	       "daemon_cpu_s=%.3f client_cpu_s=%.3f failed=%llu\n",
	       (unsigned long long)hs, t1 - t0, (double)hs / (t1 - t0), cpu, hs ? cpu * 1e6 / (double)hs : 0,
	       dcpu1 - dcpu0, self1 - self0, (unsigned long long)fail_count);
	if (!hs)
		die("no handshake completed in %.1f s", t1 - t0);
	return fail_count ? 1 : 0;
}

/* ---- heap: the daemon's gauge around K held handshakes ---- */

#define MAX_LOOPS 16
struct dstats {
	long long heap, inflight, ok;
	long long loop_hs[MAX_LOOPS];  /* handshakes started by loop; -1: no such loop */
};

/* One "stats prometheus" from the control socket. */
static struct dstats control_stats(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct dstats s = { -1, -1, -1, { 0 } };
	static char buf[1 << 16];
	size_t got = 0;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		die("--control: path too long");
	strcpy(sa.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("control socket %s: %s", path, strerror(errno));
	if (send(fd, "stats prometheus\n", 17, MSG_NOSIGNAL) != 17)
		die("control socket %s: send: %s", path, strerror(errno));
	for (;;) {
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = 0;
	for (int i = 0; i < MAX_LOOPS; i++)
		s.loop_hs[i] = -1;
	if (strncmp(buf, "ok\n", 3))
		die("control socket %s: answer: %.200s", path, buf);
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		sscanf(l, "handshaked_heap_bytes %lld", &s.heap);
		sscanf(l, "handshaked_inflight %lld", &s.inflight);
		sscanf(l, "handshaked_handshakes_total{result=\"ok\",reason=\"\"} %lld", &s.ok);
		unsigned li;
		long long v;
		if (sscanf(l, "handshaked_loop_handshakes_total{loop=\"%u\"} %lld", &li, &v) == 2 && li < MAX_LOOPS)
			s.loop_hs[li] = v;
	}
	if (s.heap < 0)
		die("the daemon reports no handshaked_heap_bytes (a sanitizer build counts no heap)");
	if (s.inflight < 0 || s.ok < 0)
		die("the daemon's stats lack handshaked_inflight or the ok counter");
	return s;
}

/* Polls the loop (and the daemon) until cond holds, or dies after secs. */
#define WAIT_UNTIL(secs, what, cond)                                              \
	do {                                                                      \
		double end_ = now_s() + (secs);                                   \
		while (!(cond)) {                                                 \
			if (now_s() > end_)                                       \
				die("timed out waiting for %s", what);            \
			poll_once(20);                                            \
		}                                                                 \
	} while (0)

/* The gauge once it stopped moving (an application's EOF, a free on
 * another loop may still be on its way). */
static struct dstats settled(const char *ctl)
{
	struct dstats a = control_stats(ctl), b;
	for (int i = 0; i < 50; i++) {
		poll_once(100);
		b = control_stats(ctl);
		if (b.heap == a.heap && b.inflight == a.inflight)
			return b;
		a = b;
	}
	return a;
}

static int cmd_heap(const char *ctl, size_t k)
{
	struct dstats idle, inflight, after, s;

	setup(k);
	/* warm-up: every lazily made thing (provider caches, loop buffers) */
	for (size_t i = 0; i < n_conns; i++)
		conn_start(&conns[i]);
	WAIT_UNTIL(300, "the warm-up handshakes", done_count >= k);
	stop_starting = true;
	WAIT_UNTIL(60, "the warm-up to end", count_state(C_IDLE) == n_conns);
	if (fail_count)
		die("%llu warm-up handshakes failed", (unsigned long long)fail_count);
	WAIT_UNTIL(30, "the daemon to be idle", (s = control_stats(ctl)).inflight == 0);
	idle = settled(ctl);

	/* K in flight: each server flight received, our Finished held back */
	stop_starting = false;
	for (size_t i = 0; i < n_conns; i++) {
		conns[i].stall = true;
		conns[i].hold = true;
		conn_start(&conns[i]);
	}
	WAIT_UNTIL(120, "K server flights", count_stalled() == k);
	WAIT_UNTIL(30, "K handshakes in flight in the daemon", control_stats(ctl).inflight == (long long)k);
	inflight = settled(ctl);
	if (inflight.inflight != (long long)k)
		die("the daemon has %lld in flight, expected %zu", inflight.inflight, k);

	/* release: K hand-offs, connections kept open by both ends */
	for (size_t i = 0; i < n_conns; i++) {
		conns[i].stall = false;
		conns[i].stalled = false;
		conn_events(&conns[i], EPOLLIN);
	}
	WAIT_UNTIL(120, "K established connections", count_state(C_HELD) + count_state(C_IDLE) == k);
	if (fail_count)
		die("%llu held handshakes failed", (unsigned long long)fail_count);
	WAIT_UNTIL(30, "the daemon to hand all back", control_stats(ctl).inflight == 0);
	after = settled(ctl);
	if (after.ok - inflight.ok != (long long)k)
		die("the daemon counted %lld hand-offs, expected %zu", after.ok - inflight.ok, k);
	teardown();

	long long per_inflight = (inflight.heap - idle.heap) / (long long)k;
	long long per_est = (after.heap - idle.heap) / (long long)k;
	printf("heap idle=%lld inflight=%lld after=%lld k=%zu bytes_per_inflight=%lld bytes_per_established=%lld\n",
	       idle.heap, inflight.heap, after.heap, k, per_inflight, per_est);
	return 0;
}

/* ---- burst: the server's capacity, K at once ---- */

struct window {
	double secs, self_s, server_s, busy_s;
	struct tcpu threads;       /* the daemon's, summed over the timed phases */
};

struct mark {
	double t, self_s, server_s, busy_s;
	struct tcpu threads;
};

/* CPU readings are taken outside the timed phases (before t / after it). */
static void mark_before(struct mark *m)
{
	threads_cpu(daemon_pid, &m->threads);
	m->server_s = n_pids ? pids_cpu_s() - proc_cpu_s(daemon_pid) : 0;
	m->self_s = self_cpu_s();
	m->busy_s = machine_busy_s();
	m->t = now_s();
}

static void mark_after(struct mark *m, double t_end)
{
	m->t = t_end;
	m->busy_s = machine_busy_s();
	m->self_s = self_cpu_s();
	m->server_s = n_pids ? pids_cpu_s() - proc_cpu_s(daemon_pid) : 0;
	threads_cpu(daemon_pid, &m->threads);
}

static void window_add(struct window *w, const struct mark *a, const struct mark *b)
{
	w->secs += b->t - a->t;
	w->self_s += b->self_s - a->self_s;
	w->server_s += b->server_s - a->server_s;
	w->busy_s += b->busy_s - a->busy_s;
	threads_add_delta(&a->threads, &b->threads, &w->threads);
}

static double window_daemon_ns(const struct window *w)
{
	double ns = 0;
	for (int i = 0; i < w->threads.n; i++)
		ns += w->threads.ns[i];
	return ns;
}

/* One burst of K full handshakes; adds its two timed phases to w[0], w[1]. */
static void burst_once(const char *ctl, struct window w[2])
{
	struct mark a0, a1, b0, b1;

	stop_starting = true;  /* a finished connection closes, no new one */
	for (size_t i = 0; i < n_conns; i++) {
		conn_prepare(&conns[i]);
		conns[i].stall = true;
		conns[i].hold_out = false;
	}
	/* A: connect and send every ClientHello; until every server flight */
	mark_before(&a0);
	for (size_t i = 0; i < n_conns; i++)
		conn_connect(&conns[i]);
	while (count_stalled() < n_conns) {
		if (now_s() > a0.t + 300)
			die("burst: %zu of %zu server flights in 300 s", count_stalled(), n_conns);
		if (fail_count)
			die("burst: %llu handshakes failed", (unsigned long long)fail_count);
		poll_once(100);
	}
	mark_after(&a1, last_stall_t);
	window_add(&w[0], &a0, &a1);

	/* untimed: the client's part, its output held back */
	for (size_t i = 0; i < n_conns; i++) {
		conns[i].stall = false;
		conns[i].hold_out = true;
		conn_events(&conns[i], EPOLLIN);
	}
	double t = now_s();
	while (count_state(C_ECHO) < n_conns) {
		if (now_s() > t + 300)
			die("burst: the client processed %zu of %zu server flights in 300 s", count_state(C_ECHO),
			    n_conns);
		if (fail_count)
			die("burst: %llu handshakes failed", (unsigned long long)fail_count);
		poll_once(100);
	}

	/* B: every Finished + ping at once; until every ping came back */
	uint64_t d0 = done_count;
	mark_before(&b0);
	for (size_t i = 0; i < n_conns; i++) {
		conns[i].hold_out = false;
		if (!conn_flush(&conns[i]))
			conn_fail(&conns[i], "send: peer gone");
	}
	while (done_count - d0 < n_conns) {
		if (now_s() > b0.t + 300)
			die("burst: %llu of %zu echoes in 300 s", (unsigned long long)(done_count - d0), n_conns);
		if (fail_count)
			die("burst: %llu handshakes failed", (unsigned long long)fail_count);
		poll_once(100);
	}
	mark_after(&b1, last_done_t);
	window_add(&w[1], &b0, &b1);

	/* the next burst starts from an idle daemon */
	WAIT_UNTIL(30, "the daemon to be idle", control_stats(ctl).inflight == 0);
}

static int cmd_burst(const char *ctl, size_t k, long bursts)
{
	static struct window warm[2], ab[2], w;  /* A, B; w: both */
	struct dstats s0, s1;

	setup(k);
	burst_once(ctl, warm);  /* lazily made things, first-touch pages */
	s0 = control_stats(ctl);
	for (long b = 0; b < bursts; b++)
		burst_once(ctl, ab);
	w.secs = ab[0].secs + ab[1].secs;
	w.self_s = ab[0].self_s + ab[1].self_s;
	w.server_s = ab[0].server_s + ab[1].server_s;
	w.busy_s = ab[0].busy_s + ab[1].busy_s;
	w.threads = ab[0].threads;
	for (int i = 0; i < ab[1].threads.n; i++) {
		int j;
		for (j = 0; j < w.threads.n && w.threads.tid[j] != ab[1].threads.tid[i]; j++)
			;
		if (j == w.threads.n) {
			if (j == MAX_THREADS)
				continue;
			w.threads.tid[w.threads.n] = ab[1].threads.tid[i];
			w.threads.ns[w.threads.n++] = 0;
		}
		w.threads.ns[j] += ab[1].threads.ns[i];
	}
	s1 = control_stats(ctl);
	teardown();
	if (s1.ok - s0.ok != (long long)k * bursts)
		die("the daemon counted %lld handshakes, expected %lld", s1.ok - s0.ok, (long long)k * bursts);

	double dns = window_daemon_ns(&w);
	printf("burst k=%zu bursts=%ld seconds=%.3f hs_per_s=%.1f daemon_cpu_pct=%.0f server_cpu_pct=%.0f threads_pct=",
	       k, bursts, w.secs, (double)k * (double)bursts / w.secs, dns / 1e7 / w.secs,
	       (dns / 1e9 + w.server_s) * 100 / w.secs);
	for (int i = 0; i < w.threads.n; i++)
		printf("%s%.0f", i ? "," : "", w.threads.ns[i] / 1e7 / w.secs);
	printf(" loop_split=");
	for (int i = 0; i < MAX_LOOPS && s1.loop_hs[i] >= 0; i++)
		printf("%s%lld", i ? "/" : "", s1.loop_hs[i] - s0.loop_hs[i]);
	printf(" client_cpu_pct=%.0f a_seconds=%.3f a_daemon_cpu_pct=%.0f b_seconds=%.3f b_daemon_cpu_pct=%.0f",
	       w.self_s * 100 / w.secs, ab[0].secs, window_daemon_ns(&ab[0]) / 1e7 / ab[0].secs, ab[1].secs,
	       window_daemon_ns(&ab[1]) / 1e7 / ab[1].secs);
	/* per phase: the applications' CPU and the whole machine's busy time */
	printf(" a_apps_cpu_pct=%.0f b_apps_cpu_pct=%.0f a_machine_busy_pct=%.0f b_machine_busy_pct=%.0f\n",
	       ab[0].server_s * 100 / ab[0].secs, ab[1].server_s * 100 / ab[1].secs,
	       ab[0].busy_s * 100 / ab[0].secs, ab[1].busy_s * 100 / ab[1].secs);
	return 0;
}

/* ---- main ---- */

__attribute__((noreturn)) static void usage(void)
{
	fprintf(stderr, "usage: daemon_load run   --ports P[,P...] --concurrency N --seconds S [--warmup S]\n"
			"                         [--pids PID[,PID...]] [--daemon PID]\n"
			"       daemon_load burst --ports P[,P...] --control SOCK --daemon PID --k K [--bursts B]\n"
			"                         [--pids PID[,PID...]]\n"
			"       daemon_load heap  --ports P[,P...] --control SOCK --k K\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long v[MAX_PIDS > MAX_PORTS ? MAX_PIDS : MAX_PORTS];
	long concurrency = 0, k = 0, bursts = 3, dpid = 0;
	double seconds = 0, warmup = 1;
	const char *ctl = NULL;
	const char *cmd = argc > 1 ? argv[1] : "";

	if (strcmp(cmd, "run") && strcmp(cmd, "burst") && strcmp(cmd, "heap"))
		usage();
	for (int i = 2; i < argc; i += 2) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!val)
			usage();
		if (!strcmp(a, "--ports")) {
			n_ports = parse_numbers(a, val, 1, 65535, v, MAX_PORTS);
			for (size_t j = 0; j < n_ports; j++)
				ports[j] = (uint16_t)v[j];
		} else if (!strcmp(a, "--pids")) {
			n_pids = parse_numbers(a, val, 1, 1 << 30, v, MAX_PIDS);
			for (size_t j = 0; j < n_pids; j++)
				pids[j] = (int)v[j];
		} else if (!strcmp(a, "--concurrency")) {
			parse_numbers(a, val, 1, MAX_CONC, &concurrency, 1);
		} else if (!strcmp(a, "--daemon")) {
			parse_numbers(a, val, 1, 1 << 30, &dpid, 1);
			daemon_pid = (int)dpid;
		} else if (!strcmp(a, "--bursts")) {
			parse_numbers(a, val, 1, 1000, &bursts, 1);
		} else if (!strcmp(a, "--k")) {
			parse_numbers(a, val, 1, MAX_CONC, &k, 1);
		} else if (!strcmp(a, "--seconds")) {
			seconds = parse_seconds(a, val);
		} else if (!strcmp(a, "--warmup")) {
			warmup = parse_seconds(a, val);
		} else if (!strcmp(a, "--control")) {
			ctl = val;
		} else {
			usage();
		}
	}
	if (!n_ports)
		usage();
	if (!strcmp(cmd, "run")) {
		if (!concurrency || !(seconds > 0))
			usage();
		return cmd_run((size_t)concurrency, seconds, warmup);
	}
	if (!ctl || !k)
		usage();
	if (!strcmp(cmd, "burst")) {
		if (!daemon_pid)
			usage();
		return cmd_burst(ctl, (size_t)k, bursts);
	}
	return cmd_heap(ctl, (size_t)k);
}
