/* Load generator for the kstatic benchmark (bench/kstatic.sh, method in
 * bench/README.md): HTTPS clients on OpenSSL libssl, many connections at once
 * from one thread (epoll), the same client for every server (kstatic +
 * handshaked, nginx). Why our own: wrk and h2load keep their connections
 * (no new handshake per request) and do not resume TLS 1.3 sessions;
 * `openssl s_time` runs one connection at a time and cannot sample the
 * server's CPU over a window; and 10,000 idle TLS connections want a client
 * that holds them in little memory (libssl with released buffers).
 *
 *   kstatic_load hs   --port P --path PATH --concurrency N --seconds S
 *                     [--warmup S] [--pids PID[,PID...]] [--resume]
 *                     [--host IPV4] [--cpu-from IPV4:PORT]
 *   kstatic_load hold --port P --path PATH --conns N [--concurrency C]
 *   kstatic_load cpu-server --listen PORT
 *   kstatic_load agent --listen IPV4:PORT
 *
 * hs: each slot connects, does a TLS 1.3 handshake (full, or with --resume
 * the newest ticket it was given), sends one GET PATH with Connection: close,
 * reads the whole 200 response (Content-Length), closes, starts again.
 * Counts connections completed within S seconds after the warm-up and the
 * CPU (utime, stime from /proc/PID/stat) the --pids used meanwhile, and the
 * busy time of the machine they run on (with the client elsewhere, all of it
 * is the servers': their interrupts and softirqs too). Last line: `hs
 * conns=N seconds=W conns_per_s=R resumed=K failed=F server_cpu_s=C
 * server_user_s=U server_sys_s=Y cpu_ms_per_1000=M client_cpu_s=C
 * machine_busy_s=B machine_ms_per_1000=M pid_cpu=PID:U/S,...`.
 *
 * hold: N connections, at most C (64) handshaking at once, each with one
 * keep-alive GET PATH answered; then prints `holding N` and keeps them all
 * open until standard input ends.
 *
 * The load from outside the VM (bench/run over kselftest/vm/run --net-host):
 * the client then costs the VM's CPUs nothing, so the servers, not the
 * client, set the rate. `agent` runs on the host, bound to the link's host
 * address: each connection sends one line of `hs` arguments, the agent runs
 * `kstatic_load hs ... --host PEER` with its output to the connection, then
 * a last line `agent: exit N` (or a line of `curl` arguments: curl runs them,
 * for the bulk rows). `cpu-server` runs in the VM next to the
 * servers: each connection sends `PID,PID...` and gets back `U S ... B` (user
 * and system seconds of each, then the machine's busy seconds from
 * /proc/stat), which `hs --cpu-from` asks for at both ends of the window
 * instead of reading /proc itself.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procstat.h"

#define MAX_PIDS 16
#define MAX_CONNS 100000
#define HEAD_CAP 4096
#define SERVER_NAME "localhost"
#define DRAIN_SECONDS 60

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "kstatic_load: ");
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

static long parse_long(const char *what, const char *s, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		die("%s: '%s' is not a number in %ld..%ld", what, s, min, max);
	return v;
}

static double parse_seconds(const char *what, const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v >= 0) || v > 3600)
		die("%s: '%s' is not a number of seconds (0..3600)", what, s);
	return v;
}

/* ---- the servers' CPU ---- */

static int pids[MAX_PIDS];
static size_t n_pids;

struct cpu {
	double user, sys;
};

/* utime and stime of pid in seconds (the whole process, every thread). */
static struct cpu proc_cpu(int pid)
{
	struct cpu c;

	if (!procstat_cpu(pid, &c.user, &c.sys))
		die("/proc/%d/stat: %s%s", pid, errno == EPROTO ? "unexpected format" : strerror(errno),
		    errno == EPROTO ? "" : " (did the server exit?)");
	return c;
}

static struct sockaddr_in cpu_from;  /* --cpu-from; sin_port 0: read /proc here */

/* The machine's busy CPU seconds (every CPU, every process and interrupt). */
static double machine_busy_s(void)
{
	double s;

	if (!procstat_busy(&s))
		die("/proc/stat: %s", errno == EPROTO ? "unexpected format" : strerror(errno));
	return s;
}

static void parse_addr(const char *what, const char *s, struct sockaddr_in *sa)
{
	char buf[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(buf))
		die("%s: not IPV4:PORT: %s", what, s);
	memcpy(buf, s, (size_t)(colon - s));
	buf[colon - s] = 0;
	*sa = (struct sockaddr_in){ .sin_family = AF_INET,
				    .sin_port = htons((uint16_t)parse_long(what, colon + 1, 1, 65535)) };
	if (inet_pton(AF_INET, buf, &sa->sin_addr) != 1)
		die("%s: not an IPv4 address: %s", what, buf);
}

/* Every --pids process's CPU and the machine's busy time, from /proc or
 * from the cpu-server. */
static void sample_cpu(struct cpu *out, double *busy)
{
	char line[1024];
	size_t len = 0;
	ssize_t n;
	int fd;

	if (!cpu_from.sin_port) {
		for (size_t i = 0; i < n_pids; i++)
			out[i] = proc_cpu(pids[i]);
		*busy = machine_busy_s();
		return;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&cpu_from, sizeof(cpu_from)) != 0)
		die("--cpu-from: connect: %s", strerror(errno));
	for (size_t i = 0; i < n_pids; i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%d", i ? "," : "", pids[i]);
	line[len++] = '\n';
	if (write(fd, line, len) != (ssize_t)len)
		die("--cpu-from: write: %s", strerror(errno));
	for (len = 0; len < sizeof(line) - 1 && (n = read(fd, line + len, sizeof(line) - 1 - len)) > 0;)
		len += (size_t)n;
	close(fd);
	line[len] = 0;
	char *p = line, *end;
	for (size_t i = 0; i < n_pids; i++) {
		out[i].user = strtod(p, &end);
		if (end == p)
			die("--cpu-from: unexpected answer: %s", line);
		out[i].sys = strtod(p = end, &end);
		if (end == p)
			die("--cpu-from: unexpected answer: %s", line);
		p = end;
	}
	*busy = strtod(p, &end);
	if (end == p)
		die("--cpu-from: unexpected answer: %s", line);
}

static int listen_on(const struct sockaddr_in *sa)
{
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 || listen(fd, 16) != 0)
		die("--listen: %s", strerror(errno));
	return fd;
}

/* One line (up to cap - 1 bytes, without its newline) from fd. */
static bool read_line(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;

	while (len < cap - 1 && (n = read(fd, buf + len, 1)) == 1 && buf[len] != '\n')
		len++;
	buf[len] = 0;
	return len > 0 && len < cap - 1;
}

__attribute__((noreturn)) static void cmd_cpu_server(const struct sockaddr_in *sa)
{
	int lfd = listen_on(sa);

	for (;;) {
		char line[512], out[1024];
		size_t len = 0;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (read_line(fd, line, sizeof(line))) {
			char *save = NULL;
			for (char *t = strtok_r(line, ",", &save); t && len < sizeof(out) - 64;
			     t = strtok_r(NULL, ",", &save)) {
				struct cpu c = proc_cpu((int)parse_long("pid", t, 1, 1 << 30));
				len += (size_t)snprintf(out + len, sizeof(out) - len, "%.2f %.2f ", c.user, c.sys);
			}
			len += (size_t)snprintf(out + len, sizeof(out) - len, "%.2f\n", machine_busy_s());
			if (write(fd, out, len) != (ssize_t)len)
				fprintf(stderr, "kstatic_load cpu-server: write: %s\n", strerror(errno));
		}
		close(fd);
	}
}

/* Runs one `hs` run per connection, against the connecting address. */
__attribute__((noreturn)) static void cmd_agent(const struct sockaddr_in *sa)
{
	int lfd = listen_on(sa);

	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		struct sockaddr_in peer;
		socklen_t pl = sizeof(peer);
		static char line[1 << 18];
		static char *args[1 << 13];
		char host_s[INET_ADDRSTRLEN];
		int argc = 0, fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC), status = 0;
		if (fd < 0)
			continue;
		if (!read_line(fd, line, sizeof(line))) {
			close(fd);
			continue;
		}
		inet_ntop(AF_INET, &peer.sin_addr, host_s, sizeof(host_s));
		args[argc++] = "kstatic_load";
		for (char *save = NULL, *t = strtok_r(line, " ", &save); t && argc < (int)(sizeof(args) / sizeof(*args)) - 4;
		     t = strtok_r(NULL, " ", &save))
			args[argc++] = t;
		if (argc < 2 || (strcmp(args[1], "hs") && strcmp(args[1], "curl"))) {
			dprintf(fd, "agent: only hs and curl run here\nagent: exit 2\n");
			close(fd);
			continue;
		}
		if (!strcmp(args[1], "hs")) {  /* against the VM that asks */
			args[argc++] = "--host";
			args[argc++] = host_s;
		}
		args[argc] = NULL;
		pid_t pid = fork();
		if (pid == 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			if (!strcmp(args[1], "curl"))
				execvp("curl", args + 1);
			else
				execv("/proc/self/exe", args);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) < 0)
			status = 127 << 8;
		dprintf(fd, "agent: exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		close(fd);
	}
}

static double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- one client connection ---- */

enum cstate { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_REQUEST, C_HEAD, C_BODY, C_HELD };

struct conn {
	enum cstate state;
	int fd;
	SSL *ssl;
	size_t req_off;
	char head[HEAD_CAP];
	size_t head_len;
	long long body_left;
};

static SSL_CTX *ctx;
static SSL_SESSION *ticket;         /* the newest one a server gave us */
static int ep;
static struct conn *conns;
static size_t n_conns;
static uint16_t port;
static struct in_addr host;  /* --host; 127.0.0.1 (set in main) */
static char request[512];
static size_t request_len;
static bool resume, hold_mode, stop_starting;
static uint64_t done_count, resumed_count, fail_count;
static char scratch[65536];         /* bodies are read and dropped */

static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	(void)ssl;
	if (ticket)
		SSL_SESSION_free(ticket);
	ticket = sess;
	return 1;                   /* we keep the reference */
}

static void set_events(struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void conn_close(struct conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	c->ssl = NULL;
	if (c->fd >= 0)
		close(c->fd);     /* also leaves the epoll set */
	c->fd = -1;
	c->state = C_IDLE;
}

static void conn_start(struct conn *c)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr = host };
	struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket: %s (raise ulimit -n)", strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		die("connect to port %u: %s", port, strerror(errno));
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e) < 0)
		die("epoll_ctl: %s", strerror(errno));
	if (!(c->ssl = SSL_new(ctx)) || !SSL_set_fd(c->ssl, c->fd) ||
	    !SSL_set_tlsext_host_name(c->ssl, SERVER_NAME))
		die("SSL_new failed");
	if (resume && ticket && !SSL_set_session(c->ssl, ticket))
		die("SSL_set_session failed");
	c->req_off = c->head_len = 0;
	c->body_left = 0;
	c->state = C_CONNECTING;
}

static void conn_fail(struct conn *c, const char *why)
{
	if (fail_count < 10) {
		unsigned long e = ERR_get_error();
		fprintf(stderr, "kstatic_load: a connection failed: %s%s%s\n", why, e ? ": " : "",
			e ? ERR_error_string(e, NULL) : "");
	}
	ERR_clear_error();
	fail_count++;
	conn_close(c);
	if (!stop_starting && !hold_mode)
		conn_start(c);
}

static void conn_done(struct conn *c)
{
	done_count++;
	/* a clean end: SSL_free would otherwise mark the connection's
	 * session, which is the newest ticket, not resumable */
	SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	if (hold_mode) {
		c->state = C_HELD;
		set_events(c, 0);
		return;
	}
	conn_close(c);
	if (!stop_starting)
		conn_start(c);
}

/* An SSL call returned r <= 0: wait for the socket (true) or fail. */
static bool want(struct conn *c, int r, const char *what)
{
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		set_events(c, EPOLLIN);
		return true;
	case SSL_ERROR_WANT_WRITE:
		set_events(c, EPOLLOUT);
		return true;
	case SSL_ERROR_ZERO_RETURN:
		conn_fail(c, "the server closed early");
		return false;
	default:
		conn_fail(c, what);
		return false;
	}
}

/* The response head is complete in c->head: status 200 and its length. */
static bool parse_head(struct conn *c, size_t end)
{
	c->head[end] = 0;
	if (strncmp(c->head, "HTTP/1.1 200 ", 13)) {
		char *nl = strchr(c->head, '\r');
		if (nl)
			*nl = 0;
		fprintf(stderr, "kstatic_load: answer '%.80s'\n", c->head);
		return false;
	}
	c->body_left = -1;
	for (char *l = strstr(c->head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n"))
		if (!strncasecmp(l + 2, "content-length:", 15))
			c->body_left = strtoll(l + 17, NULL, 10);
	return c->body_left >= 0;
}

static void conn_step(struct conn *c)
{
	for (;;) {
		int r;
		switch (c->state) {
		case C_HANDSHAKE:
			if ((r = SSL_connect(c->ssl)) <= 0) {
				want(c, r, "handshake");
				return;
			}
			if (SSL_session_reused(c->ssl))
				resumed_count++;
			c->state = C_REQUEST;
			break;
		case C_REQUEST:
			if ((r = SSL_write(c->ssl, request + c->req_off, (int)(request_len - c->req_off))) <= 0) {
				want(c, r, "request");
				return;
			}
			c->req_off += (size_t)r;
			if (c->req_off == request_len)
				c->state = C_HEAD;
			break;
		case C_HEAD: {
			if ((r = SSL_read(c->ssl, c->head + c->head_len, (int)(HEAD_CAP - 1 - c->head_len))) <= 0) {
				want(c, r, "response head");
				return;
			}
			c->head_len += (size_t)r;
			c->head[c->head_len] = 0;
			char *end = strstr(c->head, "\r\n\r\n");
			if (!end) {
				if (c->head_len == HEAD_CAP - 1) {
					conn_fail(c, "response head too long");
					return;
				}
				break;
			}
			size_t hl = (size_t)(end - c->head) + 4, extra = c->head_len - hl;
			if (!parse_head(c, hl - 2)) {
				conn_fail(c, "not a 200 with Content-Length");
				return;
			}
			if ((long long)extra > c->body_left) {
				conn_fail(c, "more bytes than Content-Length");
				return;
			}
			c->body_left -= (long long)extra;
			c->state = C_BODY;
			break;
		}
		case C_BODY:
			if (c->body_left == 0) {
				conn_done(c);
				return;
			}
			if ((r = SSL_read(c->ssl, scratch, sizeof(scratch))) <= 0) {
				want(c, r, "response body");
				return;
			}
			if (r > c->body_left) {
				conn_fail(c, "more bytes than Content-Length");
				return;
			}
			c->body_left -= r;
			break;
		default:
			return;
		}
	}
}

static void conn_on_event(struct conn *c, uint32_t ev)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (c->state == C_HELD) {
		conn_fail(c, "the server closed an idle connection");
		return;
	}
	if (c->state == C_CONNECTING) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
			conn_fail(c, strerror(err ? err : errno));
			return;
		}
		c->state = C_HANDSHAKE;
	}
	(void)ev;
	conn_step(c);
}

static void poll_once(int timeout_ms)
{
	struct epoll_event ev[128];
	int n = epoll_wait(ep, ev, 128, timeout_ms);
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

static void setup(size_t n, const char *path)
{
	/* the same offer to every server: TLS 1.3, X25519, AES-128-GCM, no
	 * chain verification (its cost is the client's) */
	if (!(ctx = SSL_CTX_new(TLS_client_method())) || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256") || !SSL_CTX_set1_groups_list(ctx, "X25519"))
		die("cannot configure the client");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, on_new_session);
	int rl = snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\nHost: " SERVER_NAME "\r\n%s\r\n", path,
			  hold_mode ? "" : "Connection: close\r\n");
	if (rl < 0 || (size_t)rl >= sizeof(request))
		die("--path too long");
	request_len = (size_t)rl;
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1: %s", strerror(errno));
	n_conns = n;
	if (!(conns = calloc(n_conns, sizeof(*conns))))
		die("out of memory");
	for (size_t i = 0; i < n_conns; i++)
		conns[i].fd = -1;
}

static void teardown(void)
{
	for (size_t i = 0; i < n_conns; i++)
		if (conns[i].state != C_IDLE)
			conn_close(&conns[i]);
	free(conns);
	close(ep);
	if (ticket)
		SSL_SESSION_free(ticket);
	SSL_CTX_free(ctx);
}

/* ---- hs: connections per second and the servers' CPU ---- */

static int cmd_hs(size_t concurrency, double seconds, double warmup)
{
	struct cpu c0[MAX_PIDS], c1[MAX_PIDS];

	if (resume) {
		/* one full handshake first: its ticket starts the chain */
		hold_mode = false;
		stop_starting = true;
		conn_start(&conns[0]);
		for (double end = now_s() + 60; conns[0].state != C_IDLE; poll_once(50))
			if (now_s() > end)
				die("the first connection took over 60 s");
		if (!ticket)
			die("the server sent no session ticket: no resumption possible");
		stop_starting = false;
	}
	for (size_t i = 0; i < n_conns; i++)
		conn_start(&conns[i]);
	double t = now_s(), t0 = t + warmup, t1;
	/* warm: the time asked, and every slot through one connection */
	while (now_s() < t0 || done_count < n_conns) {
		if (now_s() > t0 + 120)
			die("warm-up: %llu of %zu first connections in 120 s", (unsigned long long)done_count,
			    n_conns);
		poll_once(50);
	}
	uint64_t d0 = done_count, r0 = resumed_count, f0 = fail_count;
	double busy0, busy1;
	sample_cpu(c0, &busy0);
	double self0 = self_cpu_s();
	t0 = now_s();
	t1 = t0 + seconds;
	while ((t = now_s()) < t1)
		poll_once((int)((t1 - t) * 1000) + 1);
	uint64_t d1 = done_count, r1 = resumed_count, f1 = fail_count;
	sample_cpu(c1, &busy1);
	double self1 = self_cpu_s();
	t1 = now_s();
	/* the ones under way finish: an abandoned one would cost the next run */
	stop_starting = true;
	for (double end = now_s() + DRAIN_SECONDS; now_s() < end && count_state(C_IDLE) < n_conns;)
		poll_once(50);
	size_t stuck = n_conns - count_state(C_IDLE);
	teardown();
	if (stuck)
		die("%zu connections did not finish within %d s after the window", stuck, DRAIN_SECONDS);

	uint64_t n = d1 - d0;
	double user = 0, sys = 0;
	char per[512] = "";
	size_t pl = 0;
	for (size_t i = 0; i < n_pids; i++) {
		double u = c1[i].user - c0[i].user, s = c1[i].sys - c0[i].sys;
		user += u;
		sys += s;
		int w = snprintf(per + pl, sizeof(per) - pl, "%s%d:%.2f/%.2f", i ? "," : "", pids[i], u, s);
		if (w > 0 && (size_t)w < sizeof(per) - pl)
			pl += (size_t)w;
	}
	printf("hs conns=%llu seconds=%.3f conns_per_s=%.1f resumed=%llu failed=%llu server_cpu_s=%.3f "
	       "server_user_s=%.3f server_sys_s=%.3f cpu_ms_per_1000=%.1f client_cpu_s=%.3f machine_busy_s=%.3f "
	       "machine_ms_per_1000=%.1f pid_cpu=%s\n",
	       (unsigned long long)n, t1 - t0, (double)n / (t1 - t0), (unsigned long long)(r1 - r0),
	       (unsigned long long)(f1 - f0), user + sys, user, sys, n ? (user + sys) * 1e6 / (double)n : 0,
	       self1 - self0, busy1 - busy0, n ? (busy1 - busy0) * 1e6 / (double)n : 0, n_pids ? per : "-");
	if (!n)
		die("no connection completed in %.1f s", t1 - t0);
	if (resume && (r1 - r0) * 100 < n * 95)
		die("only %llu of %llu connections resumed", (unsigned long long)(r1 - r0), (unsigned long long)n);
	return fail_count ? 1 : 0;
}

/* ---- hold: N established idle keep-alive connections ---- */

static int cmd_hold(size_t n, size_t concurrency)
{
	size_t started = 0;
	double end = now_s() + 1800;

	hold_mode = true;
	while (done_count < n) {
		if (fail_count)
			die("%llu connections failed", (unsigned long long)fail_count);
		if (now_s() > end)
			die("only %llu of %zu connections after 1800 s", (unsigned long long)done_count, n);
		while (started < n && started - done_count < concurrency)
			conn_start(&conns[started++]);
		poll_once(50);
	}
	printf("holding %zu\n", n);
	fflush(stdout);
	/* idle until our caller closes our stdin; a server closing one of
	 * them is reported */
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &e) < 0)
		die("epoll_ctl(stdin): %s", strerror(errno));
	for (;;) {
		struct epoll_event ev[64];
		int k = epoll_wait(ep, ev, 64, -1);
		if (k < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < k; i++) {
			if (!ev[i].data.ptr) {
				ssize_t r = read(0, scratch, sizeof(scratch));
				if (r <= 0) {
					uint64_t failed = fail_count;
					teardown();
					if (failed)
						fprintf(stderr, "kstatic_load: %llu held connections were closed\n",
							(unsigned long long)failed);
					return failed ? 1 : 0;
				}
				continue;
			}
			conn_on_event(ev[i].data.ptr, ev[i].events);
		}
	}
}

/* ---- main ---- */

__attribute__((noreturn)) static void usage(void)
{
	fprintf(stderr, "usage: kstatic_load hs   --port P --path PATH --concurrency N --seconds S\n"
			"                         [--warmup S] [--pids PID[,PID...]] [--resume]\n"
			"                         [--host IPV4] [--cpu-from IPV4:PORT]\n"
			"       kstatic_load hold --port P --path PATH --conns N [--concurrency C]\n"
			"       kstatic_load cpu-server --listen PORT\n"
			"       kstatic_load agent --listen IPV4:PORT\n");
	exit(2);
}

static void parse_pids(const char *s)
{
	char buf[256];
	if (strlen(s) >= sizeof(buf))
		die("--pids: too long");
	strcpy(buf, s);
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n_pids == MAX_PIDS)
			die("--pids: more than %d", MAX_PIDS);
		pids[n_pids++] = (int)parse_long("--pids", t, 1, 1 << 30);
	}
	if (!n_pids)
		die("--pids: empty list");
}

int main(int argc, char **argv)
{
	long concurrency = 0, nconns = 0;
	double seconds = 0, warmup = 1;
	const char *path = NULL;
	bool hs;

	if (argc == 4 && !strcmp(argv[2], "--listen") &&
	    (!strcmp(argv[1], "cpu-server") || !strcmp(argv[1], "agent"))) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		if (!strcmp(argv[1], "agent"))
			parse_addr("--listen", argv[3], &sa);
		else
			sa.sin_port = htons((uint16_t)parse_long("--listen", argv[3], 1, 65535));
		if (!strcmp(argv[1], "agent"))
			cmd_agent(&sa);
		cmd_cpu_server(&sa);
	}
	if (argc < 2 || (strcmp(argv[1], "hs") && strcmp(argv[1], "hold")))
		usage();
	hs = !strcmp(argv[1], "hs");
	host.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--resume")) {
			resume = true;
			continue;
		}
		const char *val = i + 1 < argc ? argv[++i] : NULL;
		if (!val)
			usage();
		if (!strcmp(a, "--port"))
			port = (uint16_t)parse_long(a, val, 1, 65535);
		else if (!strcmp(a, "--cpu-from"))
			parse_addr(a, val, &cpu_from);
		else if (!strcmp(a, "--host")) {
			if (inet_pton(AF_INET, val, &host) != 1)
				die("--host: not an IPv4 address: %s", val);
		} else if (!strcmp(a, "--path"))
			path = val;
		else if (!strcmp(a, "--pids"))
			parse_pids(val);
		else if (!strcmp(a, "--concurrency"))
			concurrency = parse_long(a, val, 1, 4096);
		else if (!strcmp(a, "--conns"))
			nconns = parse_long(a, val, 1, MAX_CONNS);
		else if (!strcmp(a, "--seconds"))
			seconds = parse_seconds(a, val);
		else if (!strcmp(a, "--warmup"))
			warmup = parse_seconds(a, val);
		else
			usage();
	}
	if (!port || !path || path[0] != '/')
		usage();
	/* as many descriptors as we may have */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (hs) {
		if (!concurrency || !(seconds > 0) || nconns || hold_mode)
			usage();
		setup((size_t)concurrency, path);
		return cmd_hs((size_t)concurrency, seconds, warmup);
	}
	if (!nconns || resume || n_pids)
		usage();
	hold_mode = true;
	setup((size_t)nconns, path);
	return cmd_hold((size_t)nconns, concurrency ? (size_t)concurrency : 64);
}
