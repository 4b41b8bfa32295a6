/* The handoff socket, server side: applications connect to a
 * SOCK_SEQPACKET socket and send requests with the TCP socket attached
 * (lib/handoff.h). Each request is checked (peer credentials, the fd,
 * limits) before a handshake starts; every refusal is a reply, never a
 * dropped request. The ring tells when an application's socket is
 * readable; its requests are then read into the loop's one buffer.
 * Replies are non-blocking sends; those the socket has no room for wait
 * in order in a queue, and while it is long the application's requests
 * are not read (backpressure: its own sends block), so an application
 * that does not read its replies neither loses them nor grows the
 * daemon, and cannot stall the loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "daemon.h"
#include "hsio.h"
#include "ktls.h"
#include "log.h"
#include "sdnotify.h"

/* Socket activation: systemd bound and listens (handshaked.socket), so
 * applications could connect before we started; its path wins over
 * [handoff] path, and its SocketMode= over [handoff] mode. */
static int use_passed(struct daemon *d, int fd)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	size_t off = offsetof(struct sockaddr_un, sun_path);
	char *path;

	memset(&sa, 0, sizeof(sa));
	if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0 && len > off && sa.sun_path[0] &&
	    strncmp(sa.sun_path, d->cfg.handoff_path, sizeof(sa.sun_path)) != 0) {
		sa.sun_path[sizeof(sa.sun_path) - 1] = '\0';
		log_ev(LOG_WARN, "socket_activation_path", "path=%s configured=%s text=\"the passed socket is served\"",
		       log_q(sa.sun_path), log_q(d->cfg.handoff_path));
		if ((path = strdup(sa.sun_path))) {
			free(d->cfg.handoff_path);
			d->cfg.handoff_path = path;
		}
	}
	d->listen_fd = fd;
	d->listen_passed = true;
	log_ev(LOG_INFO, "listening", "socket=handoff path=%s via=socket_activation", log_q(d->cfg.handoff_path));
	return 0;
}

int handoff_listen(struct daemon *d)
{
	const struct dconfig *c = &d->cfg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd = sdnotify_listen_fd();

	if (c->handoff_off) {
		if (fd >= 0) {
			log_ev(LOG_WARN, "socket_activation_unused", "fd=%d text=\"the handoff is off: closed\"", fd);
			close(fd);
		}
		return 0;
	}
	if (fd >= 0)
		return use_passed(d, fd);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->handoff_path);
	/* a stale socket from an earlier run; anything else is not ours */
	if (lstat(sa.sun_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_ev(LOG_ERR, "listen_failed", "socket=handoff path=%s text=\"exists and is not a socket\"",
			       log_q(sa.sun_path));
			return -1;
		}
		unlink(sa.sun_path);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(sa.sun_path, c->handoff_mode) < 0 || listen(fd, 128) < 0) {
		log_ev(LOG_ERR, "listen_failed", "socket=handoff path=%s error=%s", log_q(sa.sun_path),
		       log_q(strerror(errno)));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	d->listen_fd = fd;
	log_ev(LOG_INFO, "listening", "socket=handoff path=%s mode=%04o", log_q(sa.sun_path), c->handoff_mode);
	return 0;
}

/* Each loop accepts on its own dup: closing it stops that loop only. */
int app_listen(struct loop *l)
{
	if (l->d->listen_fd < 0)
		return 0;          /* [handoff] enabled = no: the kernel's upcall only */
	if ((l->listen_fd = fcntl(l->d->listen_fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		log_ev(LOG_ERR, "listen_failed", "socket=handoff loop=%u error=%s text=dup", l->index,
		       log_q(strerror(errno)));
		return -1;
	}
	l->accept_op = (struct op){ OP_ACCEPT, l };
	app_arm_accept(l);
	return 0;
}

void app_stop_listening(struct loop *l)
{
	struct io_uring_sqe *sqe;

	if (l->listen_fd < 0)
		return;
	sqe = loop_sqe(l);
	io_uring_prep_cancel(sqe, &l->accept_op, 0);
	io_uring_sqe_set_data64(sqe, 0);
	close(l->listen_fd);
	l->listen_fd = -1;
}

/* While this many replies wait, the application's requests are not read. */
#define APP_QUEUE_PAUSE 32
/* Requests read per readable event: the other applications get a turn. */
#define APP_READ_BATCH 16

static void post_poll(struct app *a, struct op *op, unsigned events)
{
	struct io_uring_sqe *sqe = loop_sqe(a->l);

	io_uring_prep_poll_add(sqe, a->fd, events);
	io_uring_sqe_set_data(sqe, op);
}

static void post_in(struct app *a)
{
	if (a->in_pending || a->closing || a->queued >= APP_QUEUE_PAUSE)
		return;
	post_poll(a, &a->in_op, POLLIN);
	a->in_pending = true;
}

static void post_out(struct app *a)
{
	if (a->out_pending || a->closing)
		return;
	post_poll(a, &a->out_op, POLLOUT);
	a->out_pending = true;
}

static void drop_queue(struct app *a)
{
	struct app_reply *r;

	while ((r = a->queue)) {
		a->queue = r->next;
		OPENSSL_cleanse(r->data, r->len);  /* DONE and CONFIRMED carry traffic secrets */
		free(r);
	}
	a->queue_tail = &a->queue;
	a->queued = 0;
}

static void app_free(struct app *a)
{
	struct loop *l = a->l;

	if (a->prev)
		a->prev->next = a->next;
	else
		l->apps = a->next;
	if (a->next)
		a->next->prev = a->prev;
	if (a->queued)
		log_ev(LOG_WARN, "replies_lost", "pid=%d count=%u text=\"the application closed its connection\"",
		       (int)a->pid, a->queued);
	drop_queue(a);
	spread_free_app(a);
	close(a->fd);
	free(a);
}

void app_maybe_free(struct app *a)
{
	if (a->closing && !a->holding && !a->in_pending && !a->out_pending && !a->handshakes && !a->remote)
		app_free(a);
}

static void cancel(struct app *a, struct op *op, bool pending)
{
	struct io_uring_sqe *sqe;

	if (!pending)
		return;
	sqe = loop_sqe(a->l);
	io_uring_prep_cancel(sqe, op, 0);
	io_uring_sqe_set_data64(sqe, 0);
}

void app_handshake_gone(struct app *a)
{
	if (a->home) {             /* a proxy: its application's loop counts it */
		spread_gone(a);
		return;
	}
	if (a->inflight) {
		a->inflight--;
		stats_finished(&a->l->d->stats);
	}
	app_maybe_free(a);
}

/* The application is gone (EOF, error, or the daemon exits): its
 * handshakes in flight are aborted and their sockets closed. */
static void app_close(struct app *a, const char *why)
{
	struct hsio *io, *next;

	if (a->closing)
		return;
	a->closing = true;
	if (a->handshakes || a->remote)
		log_ev(LOG_INFO, "app_closed", "pid=%d text=%s", (int)a->pid, log_q(why));
	/* keep a alive while its handshakes unlink themselves */
	a->holding = true;
	for (io = a->handshakes; io; io = next) {
		next = io->next;
		stats_aborted(&a->l->d->stats);
		hsio_abort(io, "the application closed its handoff connection");
	}
	a->holding = false;
	spread_abort(a);           /* and those running on other loops */
	cancel(a, &a->in_op, a->in_pending);
	cancel(a, &a->out_op, a->out_pending);
	app_maybe_free(a);
}

void app_on_accept(struct loop *l, int res)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct app *a;

	if (l->listen_fd < 0) {        /* stopping: a late completion */
		if (res >= 0)
			close(res);
		return;
	}
	if (res >= 0) {
		if (!(a = calloc(1, sizeof(*a)))) {
			log_ev(LOG_ERR, "out_of_memory", "for=app_connection");
			close(res);
		} else {
			a->l = l;
			a->fd = res;
			a->in_op = (struct op){ OP_APP_IN, a };
			a->out_op = (struct op){ OP_APP_OUT, a };
			a->queue_tail = &a->queue;
			if (getsockopt(res, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
				a->uid = cred.uid;
				a->gid = cred.gid;
				a->pid = cred.pid;
			} else {
				a->uid = (uid_t)-1;  /* unknown: never allowed */
				a->gid = (gid_t)-1;
			}
			a->next = l->apps;
			if (l->apps)
				l->apps->prev = a;
			l->apps = a;
			post_in(a);
			log_ev(LOG_DEBUG, "app_connected", "pid=%d uid=%u", (int)a->pid, (unsigned)a->uid);
		}
	} else if (res != -EINTR && res != -ECONNABORTED) {
		log_ev(LOG_WARN, "accept_failed", "socket=handoff error=%s", log_q(strerror(-res)));
		if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
			/* out of fds or memory: accepting again at once would spin;
			 * pause 100 ms (handshakes in flight free fds meanwhile) */
			l->accept_retry_op = (struct op){ OP_ACCEPT_RETRY, l };
			l->accept_retry_ts = (struct __kernel_timespec){ .tv_nsec = 100000000 };
			struct io_uring_sqe *sqe = loop_sqe(l);
			io_uring_prep_timeout(sqe, &l->accept_retry_ts, 0, 0);
			io_uring_sqe_set_data(sqe, &l->accept_retry_op);
			return;
		}
	}
	app_arm_accept(l);
}

void app_arm_accept(struct loop *l)
{
	if (l->listen_fd < 0)
		return;
	struct io_uring_sqe *sqe = loop_sqe(l);
	io_uring_prep_accept(sqe, l->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, &l->accept_op);
}

/* In order: straight out when nothing waits and there is room, else
 * queued until the socket polls writable (app_on_out). */
void app_reply(struct app *a, const tls_buf *msg)
{
	struct app_reply *r;

	if (a && a->home) {        /* a proxy: its application's loop sends it */
		spread_reply(a, msg);
		return;
	}
	if (!a || a->closing || !msg || msg->err || !msg->len)
		return;
	if (!a->queue) {
		if (handoff_send(a->fd, msg, -1) == 0)
			return;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
			/* the application is gone: its EOF closes it */
			log_ev(LOG_WARN, "replies_lost", "pid=%d count=1 error=%s", (int)a->pid, log_q(strerror(errno)));
			return;
		}
	}
	if (!(r = malloc(sizeof(*r) + msg->len))) {
		log_ev(LOG_ERR, "replies_lost", "pid=%d count=1 error=\"out of memory\"", (int)a->pid);
		return;
	}
	r->next = NULL;
	r->len = msg->len;
	memcpy(r->data, msg->base, msg->len);
	*a->queue_tail = r;
	a->queue_tail = &r->next;
	a->queued++;
	post_out(a);
}

/* Sends what the queue holds while there is room. */
static void flush_queue(struct app *a)
{
	struct app_reply *r;

	while ((r = a->queue)) {
		tls_buf b = { .base = r->data, .len = r->len };
		if (handoff_send(a->fd, &b, -1) != 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
				return;
			log_ev(LOG_WARN, "replies_lost", "pid=%d count=%u error=%s", (int)a->pid, a->queued,
			       log_q(strerror(errno)));
			drop_queue(a);
			return;
		}
		a->queue = r->next;
		if (!a->queue)
			a->queue_tail = &a->queue;
		a->queued--;
		OPENSSL_cleanse(r->data, r->len);
		free(r);
	}
}

void app_on_out(struct app *a, int res)
{
	a->out_pending = false;
	if (a->closing) {
		app_maybe_free(a);
		return;
	}
	flush_queue(a);
	if (a->queue)
		post_out(a);
	post_in(a);                /* reading again if the queue held it back */
}

void app_reply_failed(struct app *a, uint32_t id, enum handoff_reason r, uint8_t alert,
		      const char *text)
{
	tls_buf m;

	if (a)  /* counted even when nobody hears it */
		stats_failed(&a->l->d->stats, r);
	if (!a || a->closing)
		return;
	tls_buf_init(&m, HANDOFF_MAX_MSG);
	handoff_begin(&m, HANDOFF_FAILED, id);
	handoff_put_u32(&m, HANDOFF_A_REASON, r);
	handoff_put_u8(&m, HANDOFF_A_ALERT, alert);
	if (text) {
		char t[HANDOFF_MAX_STR + 1];
		snprintf(t, sizeof(t), "%s", text);  /* long texts are cut, not dropped */
		handoff_put_str(&m, HANDOFF_A_TEXT, t);
	}
	if (handoff_end(&m) == 0 && !m.err)
		app_reply(a, &m);
	tls_buf_free(&m);
}

static void reply_busy(struct app *a, uint32_t id)
{
	tls_buf m;

	stats_busy(&a->l->d->stats);
	tls_buf_init(&m, HANDOFF_MAX_MSG);
	handoff_begin(&m, HANDOFF_BUSY, id);
	if (handoff_end(&m) == 0 && !m.err)
		app_reply(a, &m);
	tls_buf_free(&m);
}

static bool allowed(const struct loop *l, const struct app *a)
{
	const struct dconfig *c = &l->d->cfg;

	if (a->uid == (uid_t)-1)
		return false;
	if (!c->n_uid && !c->n_gid)
		return a->uid == 0 || a->uid == l->d->self_uid;
	for (size_t i = 0; i < c->n_uid; i++)
		if (c->allow_uid[i] == a->uid)
			return true;
	for (size_t i = 0; i < c->n_gid; i++)
		if (c->allow_gid[i] == a->gid)
			return true;
	return false;
}

/* Why fd, which is not a TCP socket, is refused. */
static const char *not_tcp(int fd, char *why, size_t len)
{
	int v;
	socklen_t vl = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &vl) < 0) {
		snprintf(why, len, "not a socket (%s)", strerror(errno));
		return why;
	}
	if (v != AF_INET && v != AF_INET6)
		return "not an IPv4 or IPv6 socket";
	vl = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &vl) < 0 || v != SOCK_STREAM)
		return "not a stream socket";
	return "not a TCP socket";
}

/* NULL when fd is a connected TCP socket without a ULP, else why not;
 * the peer's address in *ss. Three syscalls for a good socket (only TCP
 * is IPPROTO_TCP, always a stream of AF_INET or AF_INET6). */
static const char *bad_socket(int fd, struct sockaddr_storage *ss, socklen_t *sl, char *why,
			      size_t len)
{
	char ulp[32] = "";
	int v;
	socklen_t vl = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &vl) < 0 || v != IPPROTO_TCP)
		return not_tcp(fd, why, len);
	*sl = sizeof(*ss);
	if (getpeername(fd, (struct sockaddr *)ss, sl) < 0)
		return "not connected";
	vl = sizeof(ulp) - 1;
	if (getsockopt(fd, IPPROTO_TCP, TCP_ULP, ulp, &vl) == 0 && ulp[0]) {
		snprintf(why, len, "the socket already has the ULP \"%s\"", ulp);
		return why;
	}
	return NULL;
}

static void peer_name(const struct sockaddr_storage *ss, socklen_t sl, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";

	getnameinfo((const struct sockaddr *)ss, sl, host, sizeof(host), port, sizeof(port),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(buf, len, ss->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* The attached fd (the first SCM_RIGHTS one; any others are closed). */
static int take_fd(struct msghdr *msg)
{
	int fd = -1;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int f;
			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (fd < 0)
				fd = f;
			else
				close(f);
		}
	}
	return fd;
}

/* ACCEPT or CONNECT (m, parsed from req, req_len), with its socket fd. */
static void on_handshake_request(struct app *a, const struct handoff_msg *m, const uint8_t *req,
				 size_t req_len, int fd)
{
	struct loop *l = a->l;
	const struct dconfig *c = &l->d->cfg;
	uint32_t timeout = c->deadline_ms, t;
	enum handoff_reason r;
	char why[200], peer[64];
	const char *bad;
	struct sockaddr_storage ss;
	socklen_t sl;

	if (fd < 0) {
		app_reply_failed(a, m->id, HANDOFF_R_MALFORMED, 0,
				 m->type == HANDOFF_CONNECT ? "CONNECT without a socket attached"
							    : "ACCEPT without a socket attached");
		return;
	}
	if ((bad = bad_socket(fd, &ss, &sl, why, sizeof(why)))) {
		log_ev(LOG_WARN, "request_refused", "pid=%d reason=bad_socket text=%s", (int)a->pid, log_q(bad));
		app_reply_failed(a, m->id, HANDOFF_R_BAD_SOCKET, 0, bad);
		close(fd);
		return;
	}
	/* across loops the check and the start are not one step: the limit
	 * may be passed by at most one request per other loop */
	int64_t all = stats_inflight(&l->d->stats);
	if (all >= (int64_t)c->max_inflight || a->inflight >= c->max_per_app) {
		log_ev(LOG_WARN, "busy", "inflight=%lld app_inflight=%u pid=%d", (long long)all, a->inflight,
		       (int)a->pid);
		reply_busy(a, m->id);
		close(fd);
		return;
	}
	/* the application may ask for less time than the daemon allows */
	if (handoff_get_u32(m, HANDOFF_A_TIMEOUT_MS, &t) == 0 && t > 0 && t < timeout)
		timeout = t;
	peer_name(&ss, sl, peer, sizeof(peer));
	/* the least loaded loop runs it (spread.c) */
	struct loop *to = spread_pick(a);
	struct spread_req sr = { .id = m->id, .timeout_ms = timeout, .fd = fd, .peer = peer };
	if (m->type == HANDOFF_CONNECT) {
		sr.connect = req;
		sr.connect_len = req_len;
	}
	if (to != l && spread_start(a, to, &sr) == 0) {
		a->inflight++;         /* the GONE from there takes it back */
		stats_started(&l->d->stats, to->index);
		return;
	}
	/* counted first: a start that fails gives it back, and so does the
	 * handshake's end (app_handshake_gone) */
	a->inflight++;
	stats_started(&l->d->stats, l->index);
	if (handshake_start(l, a, m->id, m->type == HANDOFF_CONNECT ? m : NULL, fd, timeout, peer, &r, why,
			    sizeof(why)) != 0) {
		a->inflight--;
		stats_finished(&l->d->stats);
		app_reply_failed(a, m->id, r, 0, why);
		close(fd);
	}
}

int handshake_start(struct loop *l, struct app *a, uint32_t id, const struct handoff_msg *connect, int fd,
		    uint32_t timeout_ms, const char *peer, enum handoff_reason *reason, char *why, size_t why_len)
{
	if (connect)               /* client role: client.c */
		return client_start(l, a, connect, fd, timeout_ms, peer, reason, why, why_len);
	if (session_start(l, a, id, fd, timeout_ms, peer) == 0)
		return 0;
	*reason = HANDOFF_R_INTERNAL;
	snprintf(why, why_len, "out of memory");
	return -1;
}

static void on_request(struct app *a, const uint8_t *buf, size_t len, int flags, int fd)
{
	struct handoff_msg m;
	const char *why = NULL;

	/* the parse fills in m.id from any whole header, even when it refuses
	 * the rest: a malformed request still gets its answer */
	int bad = handoff_parse(buf, len, &m, &why);
	stats_request(&a->l->d->stats, a->l->index);
	if (flags & (MSG_TRUNC | MSG_CTRUNC)) {
		app_reply_failed(a, m.id, HANDOFF_R_MALFORMED, 0, "message or control data truncated");
		goto drop;
	}
	if (bad) {
		app_reply_failed(a, m.id, HANDOFF_R_MALFORMED, 0, why ? why : "malformed message");
		goto drop;
	}
	if (!allowed(a->l, a)) {
		log_ev(LOG_WARN, "request_refused", "pid=%d uid=%u gid=%u reason=denied", (int)a->pid,
		       (unsigned)a->uid, (unsigned)a->gid);
		app_reply_failed(a, m.id, HANDOFF_R_DENIED, 0, "this user may not use handshaked");
		goto drop;
	}
	if (a->l->stopping) {
		app_reply_failed(a, m.id, HANDOFF_R_SHUTDOWN, 0, "handshaked is stopping");
		goto drop;
	}
	switch (m.type) {
	case HANDOFF_ACCEPT:
	case HANDOFF_CONNECT:
		on_handshake_request(a, &m, buf, len, fd);
		return;
	case HANDOFF_STORE_TICKET:
		client_store_ticket(a, &m);  /* no reply: the library does not wait */
		goto drop;
	default:
		app_reply_failed(a, m.id, HANDOFF_R_MALFORMED, 0, "not a request type");
		goto drop;
	}
drop:
	if (fd >= 0)
		close(fd);
}

/* The socket polled readable: up to APP_READ_BATCH requests, each read
 * whole into the loop's buffer (the parse and the handshake's start take
 * what they keep from it before the next). */
void app_on_in(struct app *a, int res)
{
	struct loop *l = a->l;

	a->in_pending = false;
	if (a->closing) {
		app_maybe_free(a);
		return;
	}
	if (res < 0 && res != -EINTR && res != -ECANCELED) {
		app_close(a, strerror(-res));
		return;
	}
	for (int i = 0; i < APP_READ_BATCH && !a->closing && a->queued < APP_QUEUE_PAUSE; i++) {
		struct iovec iov = { .iov_base = l->rbuf, .iov_len = HANDOFF_MAX_MSG };
		struct msghdr msg = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = l->rcmsg.buf,
			.msg_controllen = sizeof(l->rcmsg.buf),
		};
		ssize_t n = recvmsg(a->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			app_close(a, n == 0 ? "end of stream" : strerror(errno));
			return;
		}
		on_request(a, l->rbuf, (size_t)n, msg.msg_flags, take_fd(&msg));
	}
	post_in(a);
}

/* At exit, after the ring is gone (nothing of ours is pending in it),
 * with no handshake in flight. */
void app_close_all(struct loop *l)
{
	while (l->apps) {
		flush_queue(l->apps);     /* last replies: best effort, non-blocking */
		app_free(l->apps);
	}
}
