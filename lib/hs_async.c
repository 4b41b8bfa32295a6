/* libhandshake's async form: one handoff connection carries many requests
 * (ids are ours, the daemon echoes them), results are queued as events by
 * the caller's cookie. The reply handling is the blocking calls' own
 * (hs_conn_take_reply, hs_conn_take_confirmed in handshake.c).
 *
 * hs_async_fd is an epoll fd over the daemon socket and a timerfd; the
 * timer fires at once while events are queued (a reply read by hs_confirm
 * leaves the socket drained but an event for hs_async_next), at the next
 * deadline, and every SEND_RETRY_MS while requests wait for room in the
 * socket, so a level-triggered poll on the fd never misses work. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "handoff.h"
#include "hs_conn.h"

#define SEND_RETRY_MS 10

/* One request, in submission order. */
struct req {
	uint32_t id;
	uint64_t cookie;
	hs_conn *c;                /* NULL once orphaned by hs_free before CONFIRMED */
	int64_t deadline;          /* hs_now_ms */
	bool done;                 /* DONE delivered, CONFIRMED due: c is the caller's */
	bool unsent;               /* msg (with c->fd) still to send */
	tls_buf msg;
};

struct hs_async {
	int ep;                    /* hs_async_fd */
	int sock;                  /* the handoff connection; -1 once gone */
	int timer;
	int64_t armed;             /* the timer's absolute ms, -1 when not armed */
	char path[108];
	uint32_t next_id;
	struct req **reqs;
	size_t n, cap;
	struct hs_async_event *evq; /* FIFO: evq[head .. head + len) */
	size_t head, len, evcap;
	uint8_t *buf;              /* one reply; wiped after each (it holds secrets) */
};

/* ---- the event queue ---- */

static int push_event(hs_async *a, uint64_t cookie, enum hs_async_kind kind, hs_conn *c,
		      const struct hs_error *err)
{
	struct hs_async_event *ev;

	if (a->head + a->len == a->evcap) {
		if (a->head) {  /* reuse the consumed front */
			memmove(a->evq, a->evq + a->head, a->len * sizeof(*a->evq));
			a->head = 0;
		} else {
			size_t cap = a->evcap ? a->evcap * 2 : 16;
			struct hs_async_event *q = realloc(a->evq, cap * sizeof(*q));
			if (!q)
				return -1;
			a->evq = q;
			a->evcap = cap;
		}
	}
	ev = &a->evq[a->head + a->len++];
	memset(ev, 0, sizeof(*ev));
	ev->cookie = cookie;
	ev->kind = kind;
	ev->conn = c;
	if (err)
		ev->err = *err;
	return 0;
}

/* No queued event may name c any more. */
static void drop_events_of(hs_async *a, const hs_conn *c)
{
	size_t w = a->head;

	for (size_t r = a->head; r < a->head + a->len; r++)
		if (a->evq[r].conn != c)
			a->evq[w++] = a->evq[r];
	a->len = w - a->head;
}

/* ---- requests ---- */

static ssize_t find(const hs_async *a, uint32_t id)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->reqs[i]->id == id)
			return (ssize_t)i;
	return -1;
}

static void remove_at(hs_async *a, size_t i)
{
	struct req *r = a->reqs[i];

	tls_buf_free(&r->msg);
	free(r);
	memmove(a->reqs + i, a->reqs + i + 1, (a->n - i - 1) * sizeof(*a->reqs));
	a->n--;
}

/* An event that cannot be queued (out of memory) would break the promise
 * of one event per request: the caller's conn is marked failed anyway,
 * and a connection we still own is freed. */
static int queue(hs_async *a, struct req *r, enum hs_async_kind kind, const struct hs_error *err)
{
	if (push_event(a, r->cookie, kind, r->c, err) == 0)
		return 0;
	if (r->c && !r->done)
		hs_free(r->c);
	return -1;
}

/* Request i failed: an event (with the conn when the caller holds it),
 * then it is forgotten. */
__attribute__((format(printf, 5, 6)))
static void fail_req(hs_async *a, size_t i, enum hs_reason why, int e, const char *fmt, ...)
{
	struct req *r = a->reqs[i];
	struct hs_error err = { .reason = why, .sys_errno = e };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err.text, sizeof(err.text), fmt, ap);
	va_end(ap);
	if (r->c && r->done) {  /* after an early DONE: the caller's conn fails */
		r->c->err = err;
		r->c->failed = true;
		r->c->failed_errno = e;
		queue(a, r, HS_ASYNC_FAILED, &err);
	} else if (r->c) {
		hs_conn *c = r->c;
		r->c = NULL;
		hs_free(c);
		queue(a, r, HS_ASYNC_FAILED, &err);
	}
	remove_at(a, i);
}

/* The daemon is gone (or its stream unusable): every request fails now;
 * the next submission connects again. */
static void gone(hs_async *a, enum hs_reason why, int e, const char *text)
{
	if (a->sock >= 0) {
		epoll_ctl(a->ep, EPOLL_CTL_DEL, a->sock, NULL);
		close(a->sock);
		a->sock = -1;
	}
	while (a->n)
		fail_req(a, 0, why, e, "%s", text);
}

static void on_reply(hs_async *a, const struct handoff_msg *m)
{
	ssize_t i = find(a, m->id);
	struct req *r;
	struct hs_error err = { 0 };

	if (i < 0)
		return;  /* a request that timed out: too late */
	r = a->reqs[i];
	if (!r->done) {
		if (hs_conn_take_reply(r->c, m, &err) != 0) {
			hs_free(r->c);
			r->c = NULL;
			queue(a, r, HS_ASYNC_FAILED, &err);
			remove_at(a, (size_t)i);
			return;
		}
		if (r->c->info.confirmed) {
			queue(a, r, HS_ASYNC_DONE, NULL);
			remove_at(a, (size_t)i);
			return;
		}
		if (queue(a, r, HS_ASYNC_DONE, NULL) != 0) {
			remove_at(a, (size_t)i);
			return;
		}
		/* 0-RTT: CONFIRMED (or FAILED) follows with the same id */
		r->done = true;
		r->c->async = a;
		r->deadline = hs_now_ms() + r->c->timeout_ms;
		return;
	}
	if (r->c) {  /* not orphaned */
		if (hs_conn_take_confirmed(r->c, m) == 0)
			queue(a, r, HS_ASYNC_CONFIRMED, NULL);
		else
			queue(a, r, HS_ASYNC_FAILED, &r->c->err);
	}
	remove_at(a, (size_t)i);
}

/* Queued requests in order, until the socket is full. */
static void flush(hs_async *a)
{
	for (size_t i = 0; i < a->n && a->sock >= 0;) {
		struct req *r = a->reqs[i];
		if (!r->unsent) {
			i++;
			continue;
		}
		if (handoff_send(a->sock, &r->msg, r->c->fd) == 0) {
			r->unsent = false;
			tls_buf_free(&r->msg);  /* may hold early data */
			i++;
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			return;  /* the socket is full: the timer retries */
		if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN) {
			gone(a, HS_R_DAEMON_GONE, errno, "handshaked closed the connection");
			return;
		}
		fail_req(a, i, HS_R_SYSTEM, errno, "sending to handshaked: %s", strerror(errno));
	}
}

/* Everything the socket holds now. */
static void pump(hs_async *a)
{
	flush(a);
	while (a->sock >= 0) {
		struct handoff_msg m;
		const char *why = NULL;
		int fd = -1;
		ssize_t n = handoff_recv(a->sock, a->buf, HANDOFF_MAX_MSG, &fd);

		if (fd >= 0)
			close(fd);  /* replies carry no fd */
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n == 0) {
			gone(a, HS_R_DAEMON_GONE, ECONNRESET, "handshaked closed the connection before answering");
			break;
		}
		if (n < 0) {
			int e = errno;
			char t[160];
			snprintf(t, sizeof(t), "handshaked: %s", strerror(e));
			gone(a, e == ECONNRESET ? HS_R_DAEMON_GONE : HS_R_PROTOCOL, e, t);
			break;
		}
		memset(&m, 0, sizeof(m));  /* id 0 is never ours */
		if (handoff_parse(a->buf, (size_t)n, &m, &why) != 0) {
			ssize_t i = find(a, m.id);
			if (i >= 0 && a->reqs[i]->c)
				fail_req(a, (size_t)i, HS_R_PROTOCOL, EPROTO, "malformed reply from handshaked: %s",
					 why ? why : "?");
			else if (i >= 0)
				remove_at(a, (size_t)i);
		} else {
			on_reply(a, &m);
		}
		OPENSSL_cleanse(a->buf, (size_t)n);
	}
	flush(a);  /* replies read made room */
}

static void expire(hs_async *a)
{
	int64_t now = hs_now_ms();

	for (size_t i = 0; i < a->n;) {
		struct req *r = a->reqs[i];
		if (r->deadline > now)
			i++;
		else if (!r->c)
			remove_at(a, i);  /* orphaned: nobody waits */
		else if (r->done)
			fail_req(a, i, HS_R_TIMEOUT, ETIMEDOUT, "no confirmation from handshaked in time");
		else
			fail_req(a, i, HS_R_TIMEOUT, ETIMEDOUT, "no answer from handshaked in time");
	}
}

/* When hs_async_next has work next: now (queued events, unless the
 * caller is draining them), a deadline, a send retry; -1 never. */
static int64_t next_wake(const hs_async *a, bool draining)
{
	int64_t t = -1;

	if (a->len && !draining)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		int64_t w = a->reqs[i]->deadline;
		if (a->reqs[i]->unsent && a->sock >= 0) {
			int64_t retry = hs_now_ms() + SEND_RETRY_MS;
			if (retry < w)
				w = retry;
		}
		if (t < 0 || w < t)
			t = w;
	}
	return t;
}

static void arm_for(hs_async *a, bool draining)
{
	int64_t t = next_wake(a, draining);
	struct itimerspec its = { 0 };

	/* Armed for an earlier time than now needed: let it fire, it re-arms
	 * then. One timerfd_settime per wake-up, not one per request
	 * finished; with nothing left to wait for it is disarmed. */
	if (t == a->armed || (a->armed > 0 && t > a->armed))
		return;
	if (t == 0)
		its.it_value.tv_nsec = 1;  /* in the past: fires at once */
	else if (t > 0) {
		its.it_value.tv_sec = t / 1000;
		its.it_value.tv_nsec = (t % 1000) * 1000000;
	}
	if (timerfd_settime(a->timer, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		a->armed = t;
}

static void arm(hs_async *a)
{
	arm_for(a, false);
}

/* ---- the connection ---- */

static int open_sock(hs_async *a, struct hs_error *err)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int s = hs_daemon_connect(a->path, err);

	if (s < 0)
		return -1;
	if (fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK) < 0 ||
	    epoll_ctl(a->ep, EPOLL_CTL_ADD, s, &ev) < 0) {
		int e = errno;
		close(s);
		return hs_fail(err, HS_R_SYSTEM, e, "handoff socket: %s", strerror(e));
	}
	a->sock = s;
	return 0;
}

hs_async *hs_async_new(const struct hs_opts *opts, struct hs_error *err)
{
	struct epoll_event ev = { .events = EPOLLIN };
	hs_async *a;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!(a = calloc(1, sizeof(*a)))) {
		hs_fail(err, HS_R_SYSTEM, ENOMEM, "out of memory");
		return NULL;
	}
	a->sock = a->timer = a->ep = -1;
	a->armed = -1;
	a->next_id = 1;
	snprintf(a->path, sizeof(a->path), "%s", hs_socket_path(opts));
	if (!(a->buf = malloc(HANDOFF_MAX_MSG))) {
		hs_fail(err, HS_R_SYSTEM, ENOMEM, "out of memory");
		goto fail;
	}
	a->ep = epoll_create1(EPOLL_CLOEXEC);
	a->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (a->ep < 0 || a->timer < 0 || epoll_ctl(a->ep, EPOLL_CTL_ADD, a->timer, &ev) < 0) {
		hs_fail(err, HS_R_SYSTEM, errno, "epoll/timerfd: %s", strerror(errno));
		goto fail;
	}
	if (open_sock(a, err) != 0)
		goto fail;
	return a;
fail:
	{
		int e = errno;
		hs_async_free(a);
		errno = e;
	}
	return NULL;
}

int hs_async_fd(const hs_async *a)
{
	return a ? a->ep : -1;
}

/* A built request joins the queue and goes out if it can; from here on
 * its outcome is an event. */
static int submit(hs_async *a, hs_conn *c, tls_buf *msg, uint64_t cookie, struct hs_error *err)
{
	struct req *r = NULL;

	if (!c)
		return -1;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct req **q = realloc(a->reqs, cap * sizeof(*q));
		if (!q)
			goto nomem;
		a->reqs = q;
		a->cap = cap;
	}
	if (!(r = calloc(1, sizeof(*r))))
		goto nomem;
	if (a->sock < 0 && open_sock(a, err) != 0) {  /* the daemon may be back */
		free(r);
		hs_free(c);
		return -1;
	}
	snprintf(c->socket_path, sizeof(c->socket_path), "%s", a->path);  /* STORE_TICKET */
	r->id = c->req_id;
	r->cookie = cookie;
	r->c = c;
	r->deadline = hs_now_ms() + c->timeout_ms;
	r->unsent = true;
	r->msg = *msg;
	tls_buf_init(msg, 0);  /* moved */
	a->reqs[a->n++] = r;
	flush(a);
	arm(a);
	return 0;
nomem:
	hs_free(c);
	return hs_fail(err, HS_R_SYSTEM, ENOMEM, "out of memory");
}

/* Ids are ours: never 0 (a parse failure's m.id), never one in use. */
static uint32_t new_id(hs_async *a)
{
	do {
		a->next_id++;
	} while (a->next_id == 0 || find(a, a->next_id) >= 0);
	return a->next_id;
}

int hs_async_accept(hs_async *a, int fd, const struct hs_opts *opts, uint64_t cookie, struct hs_error *err)
{
	tls_buf req;
	int r;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!a)
		return hs_fail(err, HS_R_INVALID, EINVAL, "hs_async_accept: no context");
	tls_buf_init(&req, HANDOFF_MAX_MSG);
	r = submit(a, hs_accept_request(fd, opts, new_id(a), &req, err), &req, cookie, err);
	tls_buf_free(&req);
	return r;
}

int hs_async_connect(hs_async *a, int fd, const char *server_name, const struct hs_opts *opts,
		     uint64_t cookie, struct hs_error *err)
{
	tls_buf req;
	int r;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!a)
		return hs_fail(err, HS_R_INVALID, EINVAL, "hs_async_connect: no context");
	tls_buf_init(&req, HANDOFF_MAX_MSG);
	r = submit(a, hs_connect_request(fd, server_name, opts, new_id(a), &req, err), &req, cookie, err);
	tls_buf_free(&req);
	return r;
}

int hs_async_next(hs_async *a, struct hs_async_event *ev)
{
	uint64_t ticks;
	int r = -1;

	if (!a || !ev) {
		errno = EINVAL;
		return -1;
	}
	/* the timer is read only once its time has come: no syscall per event */
	if (a->armed >= 0 && hs_now_ms() >= a->armed && read(a->timer, &ticks, sizeof(ticks)) == sizeof(ticks))
		a->armed = -1;  /* fired: one-shot */
	pump(a);
	expire(a);
	if (a->len) {
		*ev = a->evq[a->head];
		a->head++;
		a->len--;
		if (!a->len)
			a->head = 0;
		/* the last event naming a conn the caller holds: the context
		 * lets go of it */
		if (ev->conn && ev->kind != HS_ASYNC_DONE)
			ev->conn->async = NULL;
		r = 0;
	} else {
		errno = EAGAIN;
	}
	/* an event returned: the caller calls again until EAGAIN (the
	 * contract), so the rest queued needs no wake-up of its own */
	arm_for(a, r == 0);
	if (r == 0)
		errno = 0;
	return r;
}

int hs_async_timeout_ms(const hs_async *a)
{
	int64_t t, left;

	if (!a)
		return -1;
	if ((t = next_wake(a, false)) < 0)
		return -1;
	left = t - hs_now_ms();
	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

size_t hs_async_pending(const hs_async *a)
{
	size_t n = 0;

	for (size_t i = 0; a && i < a->n; i++)
		n += a->reqs[i]->c != NULL;
	return n;
}

/* ---- hs_conn's side (hs_confirm, hs_recv, hs_free) ---- */

int hs_async_confirm(hs_conn *c, bool wait)
{
	hs_async *a = c->async;
	int r = -1;

	for (;;) {
		ssize_t i;
		int64_t left;
		struct pollfd p;

		pump(a);
		expire(a);
		if (c->info.confirmed) {
			r = 0;
			break;
		}
		if (c->failed) {
			errno = c->failed_errno;
			break;
		}
		if (!wait) {
			errno = EAGAIN;
			break;
		}
		/* only c's reply ends the wait: the others are queued events */
		for (i = 0; i < (ssize_t)a->n && a->reqs[i]->c != c; i++)
			;
		if (i == (ssize_t)a->n) {  /* cannot be: c->async says a request waits */
			r = hs_conn_fail(c, HS_R_INTERNAL, EPROTO, "no request waits for the confirmation");
			break;
		}
		left = a->reqs[i]->deadline - hs_now_ms();
		p = (struct pollfd){ .fd = a->sock, .events = POLLIN };
		if (a->sock >= 0 && left > 0 && poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left) < 0 &&
		    errno != EINTR) {
			r = hs_conn_fail(c, HS_R_SYSTEM, errno, "poll: %s", strerror(errno));
			break;
		}
	}
	arm(a);  /* events queued meanwhile make the fd readable */
	return r;
}

void hs_async_detach(hs_conn *c)
{
	hs_async *a = c->async;

	for (size_t i = 0; i < a->n; i++)
		if (a->reqs[i]->c == c)
			a->reqs[i]->c = NULL;  /* its reply will be dropped */
	drop_events_of(a, c);
	c->async = NULL;
	arm(a);
}

void hs_async_free(hs_async *a)
{
	if (!a)
		return;
	/* connections never handed out (queued DONE) are ours to free */
	while (a->len) {
		struct hs_async_event *ev = &a->evq[a->head];
		hs_conn *c = ev->kind == HS_ASYNC_DONE ? ev->conn : NULL;
		if (ev->conn)
			ev->conn->async = NULL;
		a->head++;
		a->len--;
		if (c) {
			drop_events_of(a, c);
			for (size_t i = 0; i < a->n; i++)
				if (a->reqs[i]->c == c)
					a->reqs[i]->c = NULL;
			hs_free(c);
		}
	}
	for (size_t i = 0; i < a->n; i++) {
		struct req *r = a->reqs[i];
		if (r->c && r->done) {  /* the caller's: no CONFIRMED will come */
			r->c->async = NULL;
			hs_conn_fail(r->c, HS_R_SYSTEM, ECANCELED,
				     "the hs_async context was freed before the handshake was confirmed");
		} else if (r->c) {
			hs_free(r->c);
		}
		tls_buf_free(&r->msg);
		free(r);
	}
	free(a->reqs);
	free(a->evq);
	if (a->buf) {
		OPENSSL_cleanse(a->buf, HANDOFF_MAX_MSG);
		free(a->buf);
	}
	if (a->sock >= 0)
		close(a->sock);
	if (a->timer >= 0)
		close(a->timer);
	if (a->ep >= 0)
		close(a->ep);
	free(a);
}
