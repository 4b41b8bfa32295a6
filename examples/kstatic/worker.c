/* kstatic: one worker thread's event loop: its listener, its hs_async
 * context, its connections and their deadlines, all on one epoll set. */
#include "kstatic.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define LINGER_MS 2000

static struct conn *conn_of(struct timer_link *t)
{
	return (struct conn *)((char *)t - offsetof(struct conn, timer));
}

int worker_init(struct worker *w, const struct kstatic_opts *o, int id, int lfd, int root_fd, int log_fd,
		char *err, size_t errlen)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct hs_error he;

	w->o = o;
	w->id = id;
	w->lfd = lfd;
	w->root_fd = root_fd;
	w->log_fd = log_fd;
	w->ho.socket_path = o->handoff;
	w->ho.timeout_ms = o->handshake_ms;
	w->max_conns = (o->max_conns + (unsigned)o->threads - 1) / (unsigned)o->threads;
	timer_list_init(&w->t_handshake, o->handshake_ms);
	timer_list_init(&w->t_header, o->header_ms);
	timer_list_init(&w->t_idle, o->idle_ms);
	timer_list_init(&w->t_send, o->send_ms);
	timer_list_init(&w->t_linger, LINGER_MS);
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->ep < 0 || w->stop_fd < 0) {
		snprintf(err, errlen, "epoll/eventfd: %s", strerror(errno));
		return -1;
	}
	if (!(w->a = hs_async_new(&w->ho, &he))) {
		snprintf(err, errlen, "--handoff: %s", he.text);
		return -1;
	}
	ev.data.ptr = &w->lfd;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, lfd, &ev) != 0)
		goto fail;
	ev.data.ptr = &w->a;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, hs_async_fd(w->a), &ev) != 0)
		goto fail;
	ev.data.ptr = &w->stop_fd;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->stop_fd, &ev) != 0)
		goto fail;
	w->accepting = true;
	w->resume_below = UINT_MAX;
	return 0;
fail:
	snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
	return -1;
}

void worker_flush_log(struct worker *w)
{
	size_t off = 0;

	while (off < w->log_len) {
		ssize_t n = write(w->log_fd, w->log_buf + off, w->log_len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;  /* a log that cannot be written does not stop serving */
		off += (size_t)n;
	}
	w->log_len = 0;
}

/* Whole lines only, so that workers sharing the log never interleave
 * inside a line (O_APPEND, one write per flush). */
void worker_log(struct worker *w, const char *line, size_t len)
{
	if (len > sizeof(w->log_buf) - w->log_len)
		worker_flush_log(w);
	if (len > sizeof(w->log_buf))
		len = sizeof(w->log_buf);
	memcpy(w->log_buf + w->log_len, line, len);
	w->log_len += len;
}

static void set_accepting(struct worker *w, bool on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.ptr = &w->lfd };

	if (w->lfd >= 0 && w->accepting != on && epoll_ctl(w->ep, EPOLL_CTL_MOD, w->lfd, &ev) == 0)
		w->accepting = on;
}

static void accept_some(struct worker *w)
{
	for (int i = 0; i < BATCH; i++) {
		struct sockaddr_storage sa;
		socklen_t salen = sizeof(sa);
		struct hs_error he;
		struct conn *c;
		int fd;

		if (w->conns >= w->max_conns) {
			set_accepting(w, false);  /* the backlog waits; resumed as conns end */
			return;
		}
		fd = accept4(w->lfd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* out of fds: the listener would wake us in a loop;
				 * accept again once a connection has ended */
				w->resume_below = w->conns;
				set_accepting(w, false);
			}
			if (errno != EAGAIN)
				fprintf(stderr, "kstatic: accept: %s\n", strerror(errno));
			return;
		}
		if (!(c = conn_new(w, fd, (struct sockaddr *)&sa, salen))) {
			close(fd);
			continue;
		}
		if (hs_async_accept(w->a, fd, &w->ho, (uint64_t)(uintptr_t)c, &he) != 0) {
			fprintf(stderr, "kstatic: handshake not submitted: %s\n", he.text);
			w->handshake_failures++;
			conn_close(c);
		}
	}
}

static void async_events(struct worker *w)
{
	struct hs_async_event e;

	while (hs_async_next(w->a, &e) == 0) {
		struct conn *c = (struct conn *)(uintptr_t)e.cookie;

		switch (e.kind) {
		case HS_ASYNC_DONE:
			conn_on_done(c, e.conn);
			break;
		case HS_ASYNC_CONFIRMED:
			conn_on_confirmed(c);
			break;
		case HS_ASYNC_FAILED:
			w->handshake_failures++;
			fprintf(stderr, "kstatic: handshake failed (%s): %s\n", hs_reason_name(e.err.reason),
				e.err.text);
			if (e.conn)
				c->h = e.conn;
			conn_close(c);
			break;
		}
	}
}

static void close_idle(struct worker *w, struct timer_list *l)
{
	struct timer_link *t = timer_first(l);

	while (t) {
		struct timer_link *next = t->next == &l->head ? NULL : t->next;
		conn_stop_if_idle(conn_of(t));
		t = next;
	}
}

/* SIGTERM: no new connections; idle ones end now, busy ones after their
 * response (or at the grace deadline). */
static void begin_stop(struct worker *w)
{
	uint64_t v;

	if (read(w->stop_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	if (w->stopping)
		return;
	w->stopping = true;
	w->stop_deadline = timer_now_ms() + w->o->grace_ms;
	if (w->lfd >= 0) {
		close(w->lfd);
		w->lfd = -1;
	}
	close_idle(w, &w->t_idle);
	close_idle(w, &w->t_header);
}

static void close_all(struct worker *w, struct timer_list *l)
{
	struct timer_link *t;

	while ((t = timer_first(l)))
		conn_close(conn_of(t));
}

static void free_dead(struct worker *w)
{
	while (w->dead) {
		struct conn *c = w->dead;
		w->dead = c->next_dead;
		free(c);
	}
}

static int min_wait(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct timer_list *lists[] = { &w->t_handshake, &w->t_header, &w->t_idle, &w->t_send, &w->t_linger };
	struct epoll_event evs[BATCH];

	for (;;) {
		int64_t now = timer_now_ms();
		int wait = -1, n;

		for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
			struct timer_link *t;
			while ((t = timer_due(lists[i], now)))
				conn_on_timeout(conn_of(t));
			wait = min_wait(wait, timer_wait_ms(lists[i], now));
		}
		free_dead(w);
		if (w->stopping) {
			if (!w->conns || now >= w->stop_deadline)
				break;
			wait = min_wait(wait, (int)(w->stop_deadline - now));
		} else if (!w->accepting && w->conns < w->max_conns && w->conns < w->resume_below) {
			w->resume_below = UINT_MAX;
			set_accepting(w, true);
		}
		worker_flush_log(w);
		/* the coarse clock lags by up to a tick: never wake too early */
		n = epoll_wait(w->ep, evs, BATCH, wait < 0 ? -1 : wait + 5);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "kstatic: epoll_wait: %s\n", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &w->lfd)
				accept_some(w);
			else if (p == &w->a)
				async_events(w);
			else if (p == &w->stop_fd)
				begin_stop(w);
			else
				conn_on_event(p, evs[i].events);
		}
	}
	/* the daemon aborts what is in flight; then every connection ends */
	hs_async_free(w->a);
	w->a = NULL;
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		close_all(w, lists[i]);
	free_dead(w);
	worker_flush_log(w);
	if (w->lfd >= 0)
		close(w->lfd);
	close(w->ep);
	close(w->stop_fd);
	return NULL;
}
