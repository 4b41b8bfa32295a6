/* peer async-server: N connections served by one thread through one
 * hs_async context and epoll (what examples/kstatic will do), for
 * kselftest/daemon_async.sh.
 *
 *   peer async-server --handoff PATH --listen ADDR:PORT --async N [--timeout-ms MS] [--echo]
 *
 * Each accepted socket is submitted with its slot as the cookie. A DONE
 * reads the request (0-RTT: the early bytes, answered at once as 0.5-RTT
 * data; the socket is not polled until CONFIRMED, the daemon still reads
 * it); a confirmed connection is polled and read with hs_recv. The answer
 * is "HTTP/1.0 200" with a body naming the cookie, then close_notify.
 * After N connections ended it prints a summary and exits. One line per
 * event on stderr:
 *   peer: async cookie=K submitted pending=P
 *   peer: async cookie=K done confirmed=yes|no early=accepted|rejected|none CIPHER
 *   peer: async cookie=K confirmed
 *   peer: async cookie=K failed reason=NAME unix_ms=T: TEXT
 *   peer: async cookie=K answered bytes=B early=yes|no
 *   peer: async stopped: done=D confirmed=C failed=F max_pending=P
 *
 * --echo (bench/daemon.sh: one event-driven application, as kstatic):
 * serves until killed, up to N connections at once, each echoing what it
 * reads until the client closes; only failures are printed. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"

struct slot {
	int fd;                    /* -1: free or ended */
	hs_conn *h;
	char req[4096];
	size_t len;
	bool answered;
	bool polled;               /* the TCP fd is in the epoll set */
};

#define LISTENER ((uint64_t)-1)
#define CONTEXT ((uint64_t)-2)

struct srv {
	int ep, lfd, n, accepted, ended;
	int done, confirmed, failed;
	bool echo, listening;
	size_t max_pending;
	hs_async *a;
	struct hs_opts ho;
	struct slot *s;
};

static long long unix_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void end_slot(struct srv *v, int k)
{
	struct slot *s = &v->s[k];

	if (s->fd < 0)
		return;
	if (s->h) {
		hs_shutdown(s->h);
		hs_free(s->h);
	}
	close(s->fd);  /* also leaves the epoll set */
	*s = (struct slot){ .fd = -1 };
	v->ended++;
	if (v->echo && !v->listening) {  /* a slot is free again */
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = LISTENER };
		v->listening = epoll_ctl(v->ep, EPOLL_CTL_ADD, v->lfd, &ev) == 0;
	}
}

/* --echo: sends back what hs_recv has; -1 when the connection ended. */
static int echo_back(struct srv *v, int k)
{
	struct slot *s = &v->s[k];

	for (;;) {
		ssize_t n = hs_recv(s->h, s->req, sizeof(s->req), MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			fprintf(stderr, "peer: async cookie=%d read: %s\n", k, hs_last_error(s->h)->text);
		if (n <= 0)
			return -1;
		if (send(s->fd, s->req, (size_t)n, MSG_NOSIGNAL) != n) {
			fprintf(stderr, "peer: async cookie=%d send: %s\n", k, strerror(errno));
			return -1;
		}
	}
}

static void answer(struct srv *v, int k, bool early)
{
	struct slot *s = &v->s[k];
	char body[64], msg[160];
	int bl = snprintf(body, sizeof(body), "async-ok cookie=%d\n", k);
	int ml = snprintf(msg, sizeof(msg), "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s", bl, body);

	if (send(s->fd, msg, (size_t)ml, MSG_NOSIGNAL) != ml)
		fprintf(stderr, "peer: async cookie=%d send: %s\n", k, strerror(errno));
	s->answered = true;
	fprintf(stderr, "peer: async cookie=%d answered bytes=%d early=%s\n", k, ml, early ? "yes" : "no");
}

/* Reads what hs_recv has without blocking; answers a whole request.
 * -1 when the connection ended. */
static int read_request(struct srv *v, int k, bool early)
{
	struct slot *s = &v->s[k];

	if (v->echo)
		return echo_back(v, k);
	while (!s->answered) {
		ssize_t n = hs_recv(s->h, s->req + s->len, sizeof(s->req) - 1 - s->len, MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			fprintf(stderr, "peer: async cookie=%d read ended: %s\n", k,
				n == 0 ? "end of stream" : hs_last_error(s->h)->text);
			return -1;
		}
		s->len += (size_t)n;
		s->req[s->len] = '\0';
		if (strstr(s->req, "\r\n\r\n"))
			answer(v, k, early);
		else if (s->len == sizeof(s->req) - 1)
			return -1;
	}
	return 0;
}

static void poll_fd(struct srv *v, int k)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)k };

	if (!v->s[k].polled && epoll_ctl(v->ep, EPOLL_CTL_ADD, v->s[k].fd, &ev) == 0)
		v->s[k].polled = true;
}

static void on_event(struct srv *v, const struct hs_async_event *e)
{
	int k = (int)e->cookie;
	struct slot *s = &v->s[k];
	const struct hs_info *i;

	switch (e->kind) {
	case HS_ASYNC_DONE:
		s->h = e->conn;
		i = hs_info(s->h);
		v->done++;
		if (v->echo) {
			if (i->confirmed)
				poll_fd(v, k);
			if (read_request(v, k, !i->confirmed) != 0)
				end_slot(v, k);
			return;
		}
		fprintf(stderr, "peer: async cookie=%d done confirmed=%s early=%s %s\n", k, i->confirmed ? "yes" : "no",
			i->early == HS_EARLY_ACCEPTED   ? "accepted"
			: i->early == HS_EARLY_REJECTED ? "rejected"
							: "none",
			i->cipher_name);
		if (!i->confirmed) {  /* the early bytes only: the daemon reads the socket */
			if (read_request(v, k, true) != 0)
				end_slot(v, k);
			return;
		}
		poll_fd(v, k);
		if (read_request(v, k, false) != 0 || s->answered)
			end_slot(v, k);
		return;
	case HS_ASYNC_CONFIRMED:
		v->confirmed++;
		if (v->echo) {
			poll_fd(v, k);
			if (read_request(v, k, false) != 0)
				end_slot(v, k);
			return;
		}
		fprintf(stderr, "peer: async cookie=%d confirmed ktls_rx=%s\n", k,
			hs_info(s->h)->ktls_rx ? "yes" : "no");
		poll_fd(v, k);
		if (s->answered || read_request(v, k, false) != 0 || s->answered)
			end_slot(v, k);
		return;
	case HS_ASYNC_FAILED:
		v->failed++;
		fprintf(stderr, "peer: async cookie=%d failed reason=%s unix_ms=%lld: %s\n", k,
			hs_reason_name(e->err.reason), unix_ms(), e->err.text);
		end_slot(v, k);
		return;
	}
}

static void on_accept(struct srv *v)
{
	struct hs_error err;
	int fd = accept4(v->lfd, NULL, NULL, SOCK_CLOEXEC);
	int k = v->accepted;

	if (v->echo)  /* a free slot: there is one while the listener is polled */
		for (k = 0; k < v->n && v->s[k].fd >= 0; k++)
			;
	if (fd < 0 || k >= v->n) {
		if (fd >= 0)
			close(fd);
		return;
	}
	v->accepted++;
	v->s[k].fd = fd;
	if (hs_async_accept(v->a, fd, &v->ho, (uint64_t)k, &err) != 0) {
		fprintf(stderr, "peer: async cookie=%d failed reason=%s unix_ms=%lld: %s\n", k,
			hs_reason_name(err.reason), unix_ms(), err.text);
		v->failed++;
		end_slot(v, k);
		return;
	}
	if (hs_async_pending(v->a) > v->max_pending)
		v->max_pending = hs_async_pending(v->a);
	if (!v->echo)
		fprintf(stderr, "peer: async cookie=%d submitted pending=%zu\n", k, hs_async_pending(v->a));
	if (v->accepted == v->n || (v->echo && v->accepted - v->ended == v->n)) {
		epoll_ctl(v->ep, EPOLL_CTL_DEL, v->lfd, NULL);
		v->listening = false;
	}
}

static int listen_on(const char *addr)
{
	struct addrinfo *ai;
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	char host[64], port[16];
	int one = 1, lfd;

	if (peer_resolve(addr, true, &ai) != 0)
		return -1;
	lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(lfd, 64) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0 ||
	    getnameinfo((struct sockaddr *)&sa, salen, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		fprintf(stderr, "peer: listen on %s: %s\n", addr, strerror(errno));
		freeaddrinfo(ai);
		if (lfd >= 0)
			close(lfd);
		return -1;
	}
	freeaddrinfo(ai);
	fprintf(stderr, "peer: listening on %s:%s\n", host, port);
	return lfd;
}

int peer_async_server(int argc, char **argv)
{
	struct srv v = { .ep = -1, .lfd = -1 };
	const char *handoff = NULL, *addr = NULL;
	struct hs_error err;
	struct epoll_event ev = { .events = EPOLLIN };
	int r = 1;

	for (int i = 1; i < argc; i += 2) {
		if (!strcmp(argv[i], "--echo")) {
			v.echo = true;
			i--;
		} else if (i + 1 == argc)
			argc = 0;
		else if (!strcmp(argv[i], "--handoff"))
			handoff = argv[i + 1];
		else if (!strcmp(argv[i], "--listen"))
			addr = argv[i + 1];
		else if (!strcmp(argv[i], "--async"))
			v.n = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--timeout-ms"))
			v.ho.timeout_ms = atoi(argv[i + 1]);
		else
			argc = 0;
	}
	if (!handoff || !addr || v.n <= 0 || v.n > 1000 || !argc) {
		fprintf(stderr, "usage: peer async-server --handoff PATH --listen ADDR:PORT --async N [--timeout-ms MS]"
				" [--echo]\n");
		return 1;
	}
	v.ho.socket_path = handoff;
	if (!(v.s = calloc((size_t)v.n, sizeof(*v.s))))
		return 1;
	for (int k = 0; k < v.n; k++)
		v.s[k].fd = -1;
	if (!(v.a = hs_async_new(&v.ho, &err))) {
		fprintf(stderr, "peer: hs_async_new: %s (%s)\n", err.text, hs_reason_name(err.reason));
		goto out;
	}
	if ((v.lfd = listen_on(addr)) < 0 || (v.ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		goto out;
	ev.data.u64 = LISTENER;
	v.listening = epoll_ctl(v.ep, EPOLL_CTL_ADD, v.lfd, &ev) == 0;
	ev.data.u64 = CONTEXT;
	epoll_ctl(v.ep, EPOLL_CTL_ADD, hs_async_fd(v.a), &ev);
	while (v.echo || v.ended < v.n) {
		struct epoll_event evs[16];
		int n = epoll_wait(v.ep, evs, 16, hs_async_timeout_ms(v.a));
		if (n < 0 && errno != EINTR) {
			perror("peer: epoll_wait");
			goto out;
		}
		for (int j = 0; j < n; j++) {
			uint64_t d = evs[j].data.u64;
			if (d == LISTENER) {
				on_accept(&v);
			} else if (d == CONTEXT) {
				struct hs_async_event e;
				while (hs_async_next(v.a, &e) == 0)
					on_event(&v, &e);
			} else if (!v.s[d].polled) {
				/* ended in this batch (and maybe taken again): stale */
			} else if (read_request(&v, (int)d, false) != 0) {
				end_slot(&v, (int)d);
			} else if (v.s[d].fd >= 0 && v.s[d].answered) {
				end_slot(&v, (int)d);
			}
		}
	}
	r = 0;
out:
	fprintf(stderr, "peer: async stopped: done=%d confirmed=%d failed=%d max_pending=%zu\n", v.done, v.confirmed,
		v.failed, v.max_pending);
	for (int k = 0; k < v.n; k++)
		end_slot(&v, k);
	hs_async_free(v.a);
	if (v.lfd >= 0)
		close(v.lfd);
	if (v.ep >= 0)
		close(v.ep);
	free(v.s);
	return r;
}
