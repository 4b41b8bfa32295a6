/* libhandshake's async form (lib/hs_async.c) against a fake daemon: a
 * SOCK_SEQPACKET listener in a temporary directory, replies built with
 * lib/handoff.c. Covered: requests on the wire (ids, fds, attributes),
 * replies mapped back to cookies out of order, DONE in both roles (the
 * session state from an in-memory handshake), FAILED and BUSY, the 0-RTT
 * early DONE then FAILED or CONFIRMED with the same cookie and conn, a
 * conn freed before its CONFIRMED, malformed replies, deadline expiry by
 * the fd alone, daemon EOF failing everything at once and the reconnect,
 * hs_confirm reading the socket while other replies stay queued (and the
 * fd readable), the send queue when the daemon does not read, freeing a
 * context with work outstanding, and no fd left behind. (CONFIRMED's
 * success needs kTLS: kselftest/daemon_async.sh.) */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "handoff.h"
#include "handshake.h"
#include "hs_conn.h"
#include "pair.h"
#include "test.h"
#include "testkeys.h"

static char dir[64], path[128];
static int lsn = -1;              /* the fake daemon's listener */
static tls_buf server_post, client_post;
static uint8_t rbuf[HANDOFF_MAX_MSG];

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The tls_post blobs a daemon would send, from a handshake in memory. */
static void make_posts(void)
{
	struct test_pki pki;
	test_pki_make(&pki, TESTKEY_P256, "server.test", 0);
	tls_config *s = test_server_config(&pki), *c = test_client_config(&pki);
	struct test_pair p;
	test_pair_init(&p, c, s, "server.test");
	if (!test_pair_go(&p))
		abort();
	tls_post *sp = tls_conn_post(p.sv.c), *cp = tls_conn_post(p.cl.c);
	tls_buf_init(&server_post, 0);
	tls_buf_init(&client_post, 0);
	if (!sp || !cp || tls_post_encode(sp, &server_post) || tls_post_encode(cp, &client_post))
		abort();
	tls_post_free(sp);
	tls_post_free(cp);
	test_pair_free(&p);
	tls_config_free(s);
	tls_config_free(c);
	test_pki_free(&pki);
}

/* ---- the fake daemon ---- */

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1;
}

/* One request: its parse in *m (pointing into rbuf), the fd closed. */
static bool get_req(int d, struct handoff_msg *m, bool *had_fd)
{
	int fd = -1;
	const char *why;
	if (!readable(d, 2000))
		return false;
	ssize_t n = handoff_recv(d, rbuf, sizeof(rbuf), &fd);
	if (had_fd)
		*had_fd = fd >= 0;
	if (fd >= 0)
		close(fd);
	return n > 0 && handoff_parse(rbuf, (size_t)n, m, &why) == 0;
}

static void send_msg(int d, tls_buf *b)
{
	if (handoff_end(b) != 0 || b->err || handoff_send(d, b, -1) != 0)
		abort();
	tls_buf_free(b);
}

static void reply_done(int d, uint32_t id, bool client)
{
	tls_buf b;
	tls_buf_init(&b, HANDOFF_MAX_MSG);
	handoff_begin(&b, HANDOFF_DONE, id);
	handoff_put_bytes(&b, HANDOFF_A_POST, client ? client_post.base : server_post.base,
			  client ? client_post.len : server_post.len);
	handoff_put_u16(&b, HANDOFF_A_GROUP, 0x001d);
	handoff_put_str(&b, HANDOFF_A_ALPN, "h2");
	handoff_put_u8(&b, HANDOFF_A_KTLS, HANDOFF_KTLS_TX | HANDOFF_KTLS_RX);
	send_msg(d, &b);
}

/* The 0-RTT early hand-back: TX only, no POST, the early bytes. */
static void reply_early_done(int d, uint32_t id, const char *early)
{
	tls_buf b;
	tls_buf_init(&b, HANDOFF_MAX_MSG);
	handoff_begin(&b, HANDOFF_DONE, id);
	handoff_put_u16(&b, HANDOFF_A_CIPHER, 0x1301);
	handoff_put_u8(&b, HANDOFF_A_RESUMED, 1);
	handoff_put_u8(&b, HANDOFF_A_EARLY_STATE, HANDOFF_EARLY_ACCEPTED);
	handoff_put_bytes(&b, HANDOFF_A_EARLY_DATA, (const uint8_t *)early, strlen(early));
	handoff_put_u8(&b, HANDOFF_A_KTLS, HANDOFF_KTLS_TX);
	send_msg(d, &b);
}

static void reply_confirmed(int d, uint32_t id)
{
	tls_buf b;
	tls_buf_init(&b, HANDOFF_MAX_MSG);
	handoff_begin(&b, HANDOFF_CONFIRMED, id);
	handoff_put_bytes(&b, HANDOFF_A_POST, server_post.base, server_post.len);
	handoff_put_u8(&b, HANDOFF_A_KTLS, HANDOFF_KTLS_TX | HANDOFF_KTLS_RX);
	send_msg(d, &b);
}

static void reply_failed(int d, uint32_t id, uint32_t reason, uint8_t alert, const char *text)
{
	tls_buf b;
	tls_buf_init(&b, HANDOFF_MAX_MSG);
	handoff_begin(&b, HANDOFF_FAILED, id);
	handoff_put_u32(&b, HANDOFF_A_REASON, reason);
	handoff_put_u8(&b, HANDOFF_A_ALERT, alert);
	handoff_put_str(&b, HANDOFF_A_TEXT, text);
	send_msg(d, &b);
}

static void reply_busy(int d, uint32_t id)
{
	tls_buf b;
	tls_buf_init(&b, HANDOFF_MAX_MSG);
	handoff_begin(&b, HANDOFF_BUSY, id);
	send_msg(d, &b);
}

/* A DONE whose CIPHER attribute is 3 bytes long (the builder would refuse). */
static void reply_malformed(int d, uint32_t id)
{
	tls_buf b;
	tls_buf_init(&b, HANDOFF_MAX_MSG);
	handoff_begin(&b, HANDOFF_DONE, id);
	tls_write_u16(&b, HANDOFF_A_CIPHER);
	tls_write_u16(&b, 3);
	tls_write_bytes(&b, "\x13\x01\x00", 3);
	send_msg(d, &b);
}

/* ---- the application side ---- */

struct ev_list {
	struct hs_async_event ev[32];
	int n;
};

/* Waits (poll on hs_async_fd only) until want events came, or ms passed. */
static void collect(hs_async *a, struct ev_list *l, int want, int ms)
{
	int64_t end = ms_now() + ms;
	l->n = 0;
	while (l->n < want && ms_now() < end) {
		if (!readable(hs_async_fd(a), (int)(end - ms_now())))
			break;
		while (l->n < 32 && hs_async_next(a, &l->ev[l->n]) == 0)
			l->n++;
	}
}

static const struct hs_async_event *by_cookie(const struct ev_list *l, uint64_t cookie, int nth)
{
	for (int i = 0; i < l->n; i++)
		if (l->ev[i].cookie == cookie && nth-- == 0)
			return &l->ev[i];
	return NULL;
}

static int new_daemon_conn(void)
{
	return readable(lsn, 2000) ? accept4(lsn, NULL, NULL, SOCK_CLOEXEC) : -1;
}

/* A stand-in for the TCP socket: the library only passes it on. */
static int tcp_fd(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		abort();
	close(sv[1]);
	return sv[0];
}

static void cookies_and_order(hs_async *a, int d)
{
	int fds[3] = { tcp_fd(), tcp_fd(), tcp_fd() };
	struct handoff_msg m[3];
	struct hs_opts o = { .alpn = "h2,http/1.1", .timeout_ms = 4000 };
	struct hs_error err;
	struct ev_list l;
	bool fd_ok = true, had;
	uint32_t ids[3];
	uint32_t tmo = 0;
	char alpn[64] = "";

	for (int i = 0; i < 3; i++)
		hs_async_accept(a, fds[i], &o, 100 * (uint64_t)(i + 1), &err);
	test_ok(hs_async_pending(a) == 3, "three requests pending (%zu)", hs_async_pending(a));
	for (int i = 0; i < 3; i++) {
		if (!get_req(d, &m[i], &had)) {
			test_ok(false, "request %d arrives", i);
			return;
		}
		fd_ok &= had && m[i].type == HANDOFF_ACCEPT;
		ids[i] = m[i].id;
	}
	handoff_get_u32(&m[2], HANDOFF_A_TIMEOUT_MS, &tmo);
	handoff_get_str(&m[2], HANDOFF_A_ALPN, alpn, sizeof(alpn));
	test_ok(fd_ok && ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2] && tmo == 4000 &&
			!strcmp(alpn, "h2,http/1.1"),
		"ACCEPTs on the wire: fd attached, distinct ids %u %u %u, TIMEOUT_MS %u, ALPN %s", ids[0],
		ids[1], ids[2], tmo, alpn);
	test_ok(hs_async_next(a, &l.ev[0]) == -1 && errno == EAGAIN, "no event before a reply: EAGAIN");
	/* out of order: the third, then the first, then the second */
	reply_done(d, ids[2], false);
	reply_failed(d, ids[0], HANDOFF_R_TLS, 40, "no shared group");
	reply_busy(d, ids[1]);
	collect(a, &l, 3, 2000);
	const struct hs_async_event *e3 = by_cookie(&l, 300, 0), *e1 = by_cookie(&l, 100, 0),
				    *e2 = by_cookie(&l, 200, 0);
	test_ok(l.n == 3 && l.ev[0].cookie == 300 && l.ev[1].cookie == 100 && l.ev[2].cookie == 200,
		"three events in reply order: cookies 300 100 200 (%d events)", l.n);
	test_ok(e3 && e3->kind == HS_ASYNC_DONE && e3->conn && hs_fd(e3->conn) == fds[2] &&
			hs_info(e3->conn)->confirmed && hs_info(e3->conn)->cipher == 0x1301 &&
			!strcmp(hs_info(e3->conn)->alpn, "h2") && e3->err.reason == HS_R_OK,
		"cookie 300: DONE with its conn (fd %d, cipher %04x, alpn %s)", e3 && e3->conn ? hs_fd(e3->conn) : -1,
		e3 && e3->conn ? hs_info(e3->conn)->cipher : 0, e3 && e3->conn ? hs_info(e3->conn)->alpn : "");
	test_ok(e1 && e1->kind == HS_ASYNC_FAILED && !e1->conn && e1->err.reason == HS_R_TLS &&
			e1->err.alert == 40 && strstr(e1->err.text, "no shared group"),
		"cookie 100: FAILED tls, alert 40: %s", e1 ? e1->err.text : "-");
	test_ok(e2 && e2->kind == HS_ASYNC_FAILED && !e2->conn && e2->err.reason == HS_R_BUSY &&
			e2->err.sys_errno == EAGAIN,
		"cookie 200: BUSY -> FAILED HS_R_BUSY (EAGAIN)");
	test_ok(hs_async_pending(a) == 0 && hs_async_timeout_ms(a) == -1 && !readable(hs_async_fd(a), 0),
		"all answered: nothing pending, no timeout, the fd quiet");
	if (e3)
		hs_free(e3->conn);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

static void client_role(hs_async *a, int d)
{
	int fd = tcp_fd();
	struct hs_opts o = { .no_verify_name = true, .port = 8443 };
	struct hs_error err;
	struct handoff_msg m;
	struct ev_list l;
	char sni[64] = "";
	uint16_t port = 0;

	test_ok(hs_async_connect(a, fd, "server.test", &o, 7, &err) == 0, "hs_async_connect submitted");
	if (!get_req(d, &m, NULL))
		return;
	handoff_get_str(&m, HANDOFF_A_SERVER_NAME, sni, sizeof(sni));
	handoff_get_u16(&m, HANDOFF_A_PORT, &port);
	test_ok(m.type == HANDOFF_CONNECT && !strcmp(sni, "server.test") && port == 8443,
		"CONNECT on the wire: SERVER_NAME %s, PORT %u", sni, port);
	reply_done(d, m.id, true);
	collect(a, &l, 1, 2000);
	test_ok(l.n == 1 && l.ev[0].kind == HS_ASYNC_DONE && l.ev[0].cookie == 7 && l.ev[0].conn &&
			hs_info(l.ev[0].conn)->confirmed && !strcmp(hs_info(l.ev[0].conn)->server_name, "server.test"),
		"client DONE: cookie 7, confirmed, server name %s",
		l.n && l.ev[0].conn ? hs_info(l.ev[0].conn)->server_name : "-");
	if (l.n)
		hs_free(l.ev[0].conn);
	close(fd);
	test_ok(hs_async_connect(a, fd, NULL, NULL, 8, &err) == -1 && err.reason == HS_R_INVALID &&
			hs_async_accept(a, -1, NULL, 9, &err) == -1 && err.reason == HS_R_INVALID &&
			hs_async_pending(a) == 0,
		"bad submissions (no server name, fd -1): -1 HS_R_INVALID at once, nothing pending");
}

static void zero_rtt(hs_async *a, int d)
{
	int fd = tcp_fd(), fd2 = tcp_fd();
	struct hs_error err;
	struct handoff_msg m, m2;
	struct ev_list l;
	char buf[64];
	ssize_t n;

	/* early DONE, then FAILED after it: same cookie, same conn */
	hs_async_accept(a, fd, NULL, 42, &err);
	if (!get_req(d, &m, NULL))
		return;
	reply_early_done(d, m.id, "GET / HTTP/1.1\r\n");
	collect(a, &l, 1, 2000);
	hs_conn *c = l.n == 1 && l.ev[0].kind == HS_ASYNC_DONE ? l.ev[0].conn : NULL;
	test_ok(c && l.ev[0].cookie == 42 && !hs_info(c)->confirmed && hs_info(c)->early == HS_EARLY_ACCEPTED &&
			hs_info(c)->ktls_tx && !hs_info(c)->ktls_rx && hs_async_pending(a) == 1,
		"0-RTT: DONE unconfirmed (early accepted, TX only), still pending");
	test_ok(c && c->rekey_check_ms > 0,
		"the connection's first TX sequence check is timed from its start, not its first hs_recv");
	if (!c)
		return;
	n = hs_recv(c, buf, sizeof(buf), MSG_DONTWAIT);
	test_ok(n == 16 && !memcmp(buf, "GET / HTTP/1.1\r\n", 16), "hs_recv gives the early bytes (%zd)", n);
	n = hs_recv(c, buf, sizeof(buf), MSG_DONTWAIT);
	test_ok(n == -1 && errno == EAGAIN, "then MSG_DONTWAIT: EAGAIN until CONFIRMED");
	reply_failed(d, m.id, HANDOFF_R_PEER_CLOSED, 0, "the client left");
	collect(a, &l, 1, 2000);
	test_ok(l.n == 1 && l.ev[0].kind == HS_ASYNC_FAILED && l.ev[0].cookie == 42 && l.ev[0].conn == c &&
			l.ev[0].err.reason == HS_R_PEER_CLOSED && hs_async_pending(a) == 0,
		"FAILED after the early DONE: cookie 42, the same conn, peer closed");
	test_ok(hs_confirm(c) == -1 && hs_last_error(c)->reason == HS_R_PEER_CLOSED &&
			hs_recv(c, buf, sizeof(buf), MSG_DONTWAIT) == -1,
		"the conn is failed: hs_confirm and hs_recv -1");
	hs_free(c);

	/* early DONE, then CONFIRMED: applied as hs_confirm does. Without
	 * kTLS here RX cannot be installed: FAILED (ktls) with the conn. */
	hs_async_accept(a, fd, NULL, 43, &err);
	if (!get_req(d, &m, NULL))
		return;
	reply_early_done(d, m.id, "x");
	reply_confirmed(d, m.id);
	collect(a, &l, 2, 2000);
	test_ok(l.n == 2 && l.ev[0].kind == HS_ASYNC_DONE && l.ev[1].cookie == 43 && l.ev[1].conn == l.ev[0].conn &&
			l.ev[1].kind == HS_ASYNC_FAILED && l.ev[1].err.reason == HS_R_KTLS,
		"CONFIRMED applied (RX install; no kTLS on this host: FAILED ktls): %s",
		l.n == 2 ? l.ev[1].err.text : "-");
	if (l.n >= 1)
		hs_free(l.ev[0].conn);

	/* hs_free before CONFIRMED: the reply is dropped, no event */
	hs_async_accept(a, fd, NULL, 44, &err);
	if (!get_req(d, &m, NULL))
		return;
	reply_early_done(d, m.id, "y");
	collect(a, &l, 1, 2000);
	if (l.n == 1)
		hs_free(l.ev[0].conn);
	reply_confirmed(d, m.id);
	collect(a, &l, 1, 200);
	test_ok(l.n == 0 && hs_async_pending(a) == 0, "conn freed before CONFIRMED: no event (%d), nothing pending",
		l.n);

	/* hs_confirm reads the context: another request's reply stays queued
	 * and the fd says so */
	hs_async_accept(a, fd, NULL, 45, &err);
	hs_async_accept(a, fd2, NULL, 46, &err);
	if (!get_req(d, &m, NULL) || !get_req(d, &m2, NULL))
		return;
	reply_early_done(d, m.id, "z");
	collect(a, &l, 1, 2000);
	c = l.n == 1 ? l.ev[0].conn : NULL;
	reply_done(d, m2.id, false);
	reply_failed(d, m.id, HANDOFF_R_TIMEOUT, 0, "no Finished");
	usleep(50000);
	int r = c ? hs_confirm(c) : 0;
	test_ok(r == -1 && hs_last_error(c)->reason == HS_R_TIMEOUT && readable(hs_async_fd(a), 0),
		"blocking hs_confirm on an async conn: -1 (timeout from the daemon); the fd readable for the rest");
	collect(a, &l, 2, 2000);
	test_ok(l.n == 2 && l.ev[0].cookie == 46 && l.ev[0].kind == HS_ASYNC_DONE && l.ev[1].cookie == 45 &&
			l.ev[1].kind == HS_ASYNC_FAILED && l.ev[1].conn == c,
		"then hs_async_next: cookie 46 DONE, cookie 45 FAILED (%d events)", l.n);
	if (l.n >= 1 && l.ev[0].kind == HS_ASYNC_DONE)
		hs_free(l.ev[0].conn);
	hs_free(c);
	close(fd);
	close(fd2);
}

static void malformed(hs_async *a, int d)
{
	int fd = tcp_fd();
	struct hs_error err;
	struct handoff_msg m[3];
	struct ev_list l;

	for (int i = 0; i < 3; i++)
		hs_async_accept(a, fd, NULL, 60 + (uint64_t)i, &err);
	for (int i = 0; i < 3; i++)
		if (!get_req(d, &m[i], NULL))
			return;
	reply_malformed(d, m[0].id);
	{
		tls_buf b;  /* DONE without kTLS */
		tls_buf_init(&b, HANDOFF_MAX_MSG);
		handoff_begin(&b, HANDOFF_DONE, m[1].id);
		handoff_put_bytes(&b, HANDOFF_A_POST, server_post.base, server_post.len);
		handoff_put_u8(&b, HANDOFF_A_KTLS, 0);
		send_msg(d, &b);
		tls_buf_init(&b, HANDOFF_MAX_MSG);  /* a request type as a reply */
		handoff_begin(&b, HANDOFF_ACCEPT, m[2].id);
		send_msg(d, &b);
		tls_buf_init(&b, HANDOFF_MAX_MSG);  /* an id nobody asked for */
		handoff_begin(&b, HANDOFF_BUSY, 0x7fffffff);
		send_msg(d, &b);
	}
	collect(a, &l, 3, 2000);
	const struct hs_async_event *e0 = by_cookie(&l, 60, 0), *e1 = by_cookie(&l, 61, 0), *e2 = by_cookie(&l, 62, 0);
	test_ok(e0 && e0->kind == HS_ASYNC_FAILED && e0->err.reason == HS_R_PROTOCOL && strstr(e0->err.text, "CIPHER"),
		"malformed reply: FAILED protocol for its cookie: %s", e0 ? e0->err.text : "-");
	test_ok(e1 && e1->kind == HS_ASYNC_FAILED && e1->err.reason == HS_R_PROTOCOL && !e1->conn,
		"DONE without kTLS TX: FAILED protocol: %s", e1 ? e1->err.text : "-");
	test_ok(e2 && e2->kind == HS_ASYNC_FAILED && e2->err.reason == HS_R_PROTOCOL,
		"a reply of a request type: FAILED protocol: %s", e2 ? e2->err.text : "-");
	test_ok(l.n == 3 && hs_async_pending(a) == 0, "the unknown id is ignored (%d events)", l.n);
	close(fd);
}

static void deadline(hs_async *a, int d)
{
	int fd = tcp_fd();
	struct hs_opts o = { .timeout_ms = 150 };
	struct hs_error err;
	struct handoff_msg m;
	struct ev_list l;
	int64_t t0 = ms_now();

	hs_async_accept(a, fd, &o, 77, &err);
	int left = hs_async_timeout_ms(a);
	test_ok(left > 100 && left <= 150, "hs_async_timeout_ms: %d ms to the deadline", left);
	if (!get_req(d, &m, NULL))
		return;
	collect(a, &l, 1, 2000);  /* only the fd wakes us */
	int64_t took = ms_now() - t0;
	test_ok(l.n == 1 && l.ev[0].cookie == 77 && l.ev[0].kind == HS_ASYNC_FAILED &&
			l.ev[0].err.reason == HS_R_TIMEOUT && took >= 145 && took < 1000,
		"no reply: the fd woke us at the deadline, FAILED timeout after %lld ms", (long long)took);
	reply_done(d, m.id, false);  /* too late: dropped */
	collect(a, &l, 1, 200);
	test_ok(l.n == 0 && hs_async_pending(a) == 0, "the late DONE is dropped (%d events)", l.n);
	close(fd);
}

/* The daemon stops reading: requests wait in the library, in order. */
static int send_queue(hs_async *a, int d)
{
	enum { MAX = 4000 };
	int fd = tcp_fd(), N = 0;
	struct hs_opts o = { .alpn = "a-protocol-name-to-make-the-request-bigger", .timeout_ms = 10000 };
	struct hs_error err;
	struct handoff_msg m;
	struct hs_async_event ev;
	int submitted = 0, got = 0, events = 0, done = 0;
	uint32_t last = 0;
	bool in_order = true;

	/* until the socket is full: then the library queues, and says so
	 * with a send retry due within 10 ms (the deadlines are 10 s away) */
	while (N < MAX && (N == 0 || hs_async_timeout_ms(a) > 10)) {
		submitted += hs_async_accept(a, fd, &o, 1000 + (uint64_t)N, &err) == 0;
		N++;
	}
	for (int i = 0; i < 50; i++, N++)  /* and some more behind them */
		submitted += hs_async_accept(a, fd, &o, 1000 + (uint64_t)N, &err) == 0;
	while (readable(d, 0) && get_req(d, &m, NULL)) {
		in_order &= m.id > last;
		last = m.id;
		got++;
		reply_busy(d, m.id);
	}
	test_ok(submitted == N && got < N, "%d submitted, %d reached the daemon before it read (the rest queued)",
		submitted, got);
	int64_t end = ms_now() + 5000;
	/* from here on the daemon reads and answers; the app only polls its fd */
	while ((got < N || done < N) && ms_now() < end) {
		while (readable(d, 0) && get_req(d, &m, NULL)) {
			in_order &= m.id > last;
			last = m.id;
			got++;
			reply_busy(d, m.id);
		}
		if (readable(hs_async_fd(a), 20))
			while (hs_async_next(a, &ev) == 0) {
				events++;
				done += ev.kind == HS_ASYNC_FAILED && ev.err.reason == HS_R_BUSY;
			}
	}
	test_ok(got == N && in_order && done == N && events == N && hs_async_pending(a) == 0,
		"all %d sent in order (%d reached the daemon) and answered (%d events)", N, got, events);
	close(fd);
	return 0;
}

static int eof_and_reconnect(hs_async *a, int d)
{
	int fd = tcp_fd();
	struct hs_error err;
	struct handoff_msg m[4];
	struct ev_list l;
	char buf[8];

	for (int i = 0; i < 4; i++)
		hs_async_accept(a, fd, NULL, 500 + (uint64_t)i, &err);
	for (int i = 0; i < 4; i++)
		if (!get_req(d, &m[i], NULL))
			return d;
	reply_early_done(d, m[3].id, "e");  /* one waits for CONFIRMED */
	collect(a, &l, 1, 2000);
	hs_conn *c = l.n == 1 ? l.ev[0].conn : NULL;
	int64_t t0 = ms_now();
	close(d);  /* the daemon dies */
	collect(a, &l, 4, 2000);
	int64_t took = ms_now() - t0;
	int gone = 0;
	for (int i = 0; i < l.n; i++)
		gone += l.ev[i].kind == HS_ASYNC_FAILED && l.ev[i].err.reason == HS_R_DAEMON_GONE;
	test_ok(l.n == 4 && gone == 4 && by_cookie(&l, 503, 0) && by_cookie(&l, 503, 0)->conn == c &&
			hs_async_pending(a) == 0 && took < 500,
		"daemon EOF: all 4 FAILED daemon gone within %lld ms (the unconfirmed one with its conn)",
		(long long)took);
	test_ok(c && hs_recv(c, buf, sizeof(buf), 0) == 1 && hs_recv(c, buf, sizeof(buf), 0) == -1 &&
			hs_last_error(c)->reason == HS_R_DAEMON_GONE,
		"its conn: the early byte, then -1 daemon gone");
	hs_free(c);
	test_ok(!readable(hs_async_fd(a), 50), "after the EOF the fd is quiet (no spin on a dead socket)");
	/* the next submission connects again */
	test_ok(hs_async_accept(a, fd, NULL, 600, &err) == 0, "a submission after EOF reconnects");
	d = new_daemon_conn();
	struct handoff_msg mm;
	if (d >= 0 && get_req(d, &mm, NULL))
		reply_done(d, mm.id, false);
	collect(a, &l, 1, 2000);
	test_ok(l.n == 1 && l.ev[0].cookie == 600 && l.ev[0].kind == HS_ASYNC_DONE, "and works (DONE)");
	if (l.n == 1)
		hs_free(l.ev[0].conn);
	close(fd);
	return d;
}

static void free_with_work(hs_async *a, int d)
{
	int fd = tcp_fd();
	struct hs_error err;
	struct handoff_msg m[3];
	struct ev_list l;

	for (int i = 0; i < 3; i++)
		hs_async_accept(a, fd, NULL, 700 + (uint64_t)i, &err);
	for (int i = 0; i < 3; i++)
		if (!get_req(d, &m[i], NULL))
			return;
	reply_early_done(d, m[0].id, "a");
	collect(a, &l, 1, 2000);
	hs_conn *c = l.n == 1 ? l.ev[0].conn : NULL;
	reply_early_done(d, m[1].id, "b");  /* read by the context, never handed out */
	usleep(50000);
	char b[4];
	/* the early byte, then a read of the context: m[1]'s DONE gets queued */
	test_ok(c && hs_recv(c, b, sizeof(b), MSG_DONTWAIT) == 1 && hs_recv(c, b, sizeof(b), MSG_DONTWAIT) == -1 &&
			errno == EAGAIN && readable(hs_async_fd(a), 0),
		"hs_recv(MSG_DONTWAIT) on an unconfirmed conn: EAGAIN; another DONE queued, the fd readable");
	hs_async_free(a);
	test_ok(c && hs_confirm(c) == -1 && errno == ECANCELED, "context freed: a delivered unconfirmed conn fails (ECANCELED)");
	hs_free(c);
	test_ok(readable(d, 1000) && recv(d, m, 1, MSG_DONTWAIT) == 0, "the daemon sees the connection end");
	close(fd);
}

int main(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct hs_opts o = { 0 };
	struct hs_error err;
	int fds0;

	make_posts();
	fds0 = count_fds();
	snprintf(dir, sizeof(dir), "/tmp/hs_async.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/handoff.sock", dir);
	o.socket_path = path;
	hs_async *a = hs_async_new(&o, &err);
	test_ok(!a && err.reason == HS_R_UNREACHABLE, "no daemon: hs_async_new NULL, %s", err.text);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	lsn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lsn < 0 || bind(lsn, (struct sockaddr *)&sa, sizeof(sa)) || listen(lsn, 8))
		abort();
	a = hs_async_new(&o, &err);
	int d = new_daemon_conn();
	test_ok(a && d >= 0 && hs_async_fd(a) >= 0 && hs_async_pending(a) == 0 && hs_async_timeout_ms(a) == -1,
		"hs_async_new connects; nothing pending, no timeout");
	if (!a || d < 0)
		return test_done();
	cookies_and_order(a, d);
	client_role(a, d);
	zero_rtt(a, d);
	malformed(a, d);
	deadline(a, d);
	send_queue(a, d);
	d = eof_and_reconnect(a, d);
	if (d >= 0) {
		free_with_work(a, d);
		close(d);
	} else {
		hs_async_free(a);
	}
	close(lsn);
	unlink(path);
	rmdir(dir);
	test_ok(count_fds() == fds0, "no fd left behind (%d -> %d)", fds0, count_fds());
	tls_buf_free(&server_post);
	tls_buf_free(&client_post);
	return test_done();
}
