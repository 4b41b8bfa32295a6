/* kstatic: one connection. Requests are read with hs_recv (so KeyUpdate and
 * alerts are handled by libhandshake) and answered with send() and
 * sendfile() straight on the kTLS socket; nothing here ever blocks: a full
 * socket parks the connection on EPOLLOUT. See kstatic.h for the states. */
#include "kstatic.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_path.h"
#include "http_response.h"

/* Head and body up to one TLS record's worth leave in one send(): one
 * record on the wire. Larger bodies: the head with MSG_MORE (it shares the
 * first record with the body), then sendfile. */
#define SMALL_RESPONSE 16384
/* sendfile bytes per connection per loop turn: the others get theirs. */
#define SEND_BUDGET (1u << 20)
/* hs_rekey_if_needed after this many bytes (the AES-GCM threshold is 2^23
 * records, 128 GiB: checking every 64 MiB costs nothing). */
#define REKEY_CHECK_BYTES (64ull << 20)
#define LINGER_READS 16

enum { T_HANDSHAKE, T_HEADER, T_IDLE, T_SEND, T_LINGER };

struct response {
	int file_fd;          /* -1: the body (if any) is in data[] */
	uint64_t off, left;   /* file bytes still to send, from off */
	uint64_t body_sent;   /* file bytes sent, for the log */
	uint64_t unchecked;   /* bytes since the last hs_rekey_if_needed */
	uint32_t len, sent;   /* bytes in data[] (head and small body), sent */
	uint32_t head_len;
	uint16_t target_len;  /* the request-target, after data[len], for the log */
	uint8_t method, minor;
	bool early;           /* answered before the handshake was confirmed */
	int status;
	int64_t start_us;
	uint8_t data[];
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t buf_cap(const struct conn *c)
{
	return c->w->o->max_head;
}

static void arm(struct conn *c, int kind)
{
	static const size_t where[] = {
		[T_HANDSHAKE] = offsetof(struct worker, t_handshake),
		[T_HEADER] = offsetof(struct worker, t_header),
		[T_IDLE] = offsetof(struct worker, t_idle),
		[T_SEND] = offsetof(struct worker, t_send),
		[T_LINGER] = offsetof(struct worker, t_linger),
	};

	c->timer_kind = (uint8_t)kind;
	timer_arm((struct timer_list *)((char *)c->w + where[kind]), &c->timer, timer_now_ms());
}

/* The epoll interest: 0 takes the fd out of the set. */
static int set_events(struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };
	int op = !c->events ? EPOLL_CTL_ADD : ev ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;

	if (ev == c->events)
		return 0;
	if (epoll_ctl(c->w->ep, op, c->fd, &e) != 0)
		return -1;
	c->events = ev;
	return 0;
}

static void format_peer(const struct conn *c, char *out, size_t cap)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (c->peer.v4.sin_family == AF_INET6) {
		inet_ntop(AF_INET6, &c->peer.v6.sin6_addr, a, sizeof(a));
		snprintf(out, cap, "[%s]:%u", a, ntohs(c->peer.v6.sin6_port));
	} else {
		inet_ntop(AF_INET, &c->peer.v4.sin_addr, a, sizeof(a));
		snprintf(out, cap, "%s:%u", a, ntohs(c->peer.v4.sin_port));
	}
}

struct conn *conn_new(struct worker *w, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c)
		return NULL;
	c->w = w;
	c->fd = fd;
	memcpy(&c->peer, sa, salen < sizeof(c->peer) ? salen : sizeof(c->peer));
	http_parser_init(&c->parser, w->o->max_head);
	/* our records go out whole and at once; MSG_MORE still groups them */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	w->conns++;
	arm(c, T_HANDSHAKE);
	return c;
}

/* The access-log line of the response that ends. */
static void log_response(struct conn *c, const struct response *r)
{
	struct worker *w = c->w;
	struct http_request *lr = &w->log_req;
	char peer[INET6_ADDRSTRLEN + 16], line[HTTP_TARGET_MAX * 4 + 256];
	struct http_log_entry e = {
		.peer = peer,
		.when = time(NULL),
		.req = lr,
		.status = r->status,
		.bytes = r->body_sent + (r->sent > r->head_len ? r->sent - r->head_len : 0),
		.usec = (uint64_t)(now_us() - r->start_us),
		.early = r->early,
	};

	lr->method = (enum http_method)r->method;
	lr->minor = r->minor;
	memcpy(lr->target, r->data + r->len, r->target_len);
	lr->target_len = r->target_len;
	format_peer(c, peer, sizeof(peer));
	worker_log(w, line, http_format_access_log(line, sizeof(line), &e));
}

static void end_response(struct conn *c)
{
	struct response *r = c->resp;

	log_response(c, r);
	if (r->file_fd >= 0)
		close(r->file_fd);
	free(r);
	c->resp = NULL;
	c->w->requests++;
	arm(c, c->len ? T_HEADER : T_IDLE);
}

void conn_close(struct conn *c)
{
	struct worker *w = c->w;

	if (c->state == CONN_CLOSED)
		return;
	if (c->resp)
		end_response(c);  /* logged with what was sent */
	timer_disarm(&c->timer);
	hs_free(c->h);
	c->h = NULL;
	close(c->fd);  /* also leaves the epoll set */
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->state = CONN_CLOSED;
	w->conns--;
	/* freed at the end of the loop turn: an event for it may still be in
	 * this turn's batch */
	c->next_dead = w->dead;
	w->dead = c;
}

/* The end of a connection that may still read: close_notify, our FIN,
 * then drain what the client still sends (LINGER) so that closing with
 * unread bytes does not reset the connection under our last response. */
static void conn_finish(struct conn *c)
{
	bool notified = c->h && hs_shutdown(c->h) == 0;

	if (notified && c->state == CONN_SERVING && !c->rx_done && shutdown(c->fd, SHUT_WR) == 0 &&
	    set_events(c, EPOLLIN) == 0) {
		free(c->buf);
		c->buf = NULL;
		c->len = 0;
		c->state = CONN_LINGER;
		arm(c, T_LINGER);
		return;
	}
	conn_close(c);
}

/* hs_recv failed (our alert is out, or the stream broke): nothing more is
 * read through the library. Closing with unread bytes would reset the
 * connection at once and destroy what the socket still has to send (the
 * end of the last response), so: our FIN, then wait for the client's FIN
 * (EPOLLRDHUP) or the linger deadline. */
static void conn_abort(struct conn *c)
{
	if (c->state == CONN_SERVING && shutdown(c->fd, SHUT_WR) == 0 && set_events(c, EPOLLRDHUP) == 0) {
		free(c->buf);
		c->buf = NULL;
		c->len = 0;
		c->rx_done = true;  /* in LINGER: do not read */
		c->state = CONN_LINGER;
		arm(c, T_LINGER);
		return;
	}
	conn_close(c);
}

static void linger_read(struct conn *c)
{
	char junk[4096];

	if (c->rx_done) {  /* after conn_abort: the client's FIN came */
		conn_close(c);
		return;
	}
	for (int i = 0; i < LINGER_READS; i++) {
		ssize_t n = hs_recv(c->h, junk, sizeof(junk), MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
	}
	conn_close(c);
}

static struct response *response_new(struct conn *c, const struct http_request *req, size_t len, int status,
				     bool early)
{
	size_t tl = req->method != HTTP_METHOD_NONE ? req->target_len : 0;
	struct response *r = malloc(sizeof(*r) + len + tl);

	if (!r)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->file_fd = -1;
	r->len = (uint32_t)len;
	r->head_len = (uint32_t)len;
	r->target_len = (uint16_t)tl;
	r->method = (uint8_t)req->method;
	r->minor = (uint8_t)req->minor;
	r->early = early;
	r->status = status;
	r->start_us = now_us();
	memcpy(r->data + len, req->target, tl);
	return r;
}

/* An error answer (head and a one-line body); close: Connection: close. */
static int start_error(struct conn *c, const struct http_request *req, int status, bool close, bool early,
		       uint64_t size)
{
	uint8_t head[1024];
	size_t n = http_format_error(head, sizeof(head), status, req->method == HTTP_HEAD, !close, req->minor, size,
				     time(NULL));

	if (!n || !(c->resp = response_new(c, req, n, status, early)))
		return -1;
	memcpy(c->resp->data, head, n);
	c->close_after = close;
	return 0;
}

/* A whole-file answer: 200, 206, 304 (412 and 416 are errors). */
static int start_file(struct conn *c, struct http_request *req, bool early)
{
	struct worker *w = c->w;
	char rel[HTTP_PATH_MAX];
	const char *why = NULL;
	struct http_file f = { .fd = -1 };
	struct http_file_meta m;
	struct http_plan plan;
	uint8_t head[1024];
	size_t hl;
	bool inline_body;
	int st;

	if (w->stopping || c->rx_done)
		req->keep_alive = false;
	st = http_path_from_target(req->target, req->target_len, rel, sizeof(rel), &why);
	if (st == 0)
		st = http_file_open(w->root_fd, rel, &f);
	if (st != 0)
		return start_error(c, req, st, !req->keep_alive, early, 0);
	http_file_meta_init(&m, &f.st, f.is_index ? HTTP_INDEX_FILE : rel);
	http_plan_response(req, &m, &plan);
	if (plan.status == 412 || plan.status == 416) {
		close(f.fd);
		return start_error(c, req, plan.status, !req->keep_alive, early, m.size);
	}
	hl = http_format_file_head(head, sizeof(head), req, &m, &plan, time(NULL));
	inline_body = plan.send_body && hl + plan.length <= SMALL_RESPONSE;
	if (!hl || !(c->resp = response_new(c, req, hl + (inline_body ? plan.length : 0), plan.status, early))) {
		close(f.fd);
		return -1;
	}
	memcpy(c->resp->data, head, hl);
	c->resp->head_len = (uint32_t)hl;
	c->close_after = !req->keep_alive;
	if (inline_body) {
		for (size_t got = 0; got < plan.length;) {
			ssize_t n = pread(f.fd, c->resp->data + hl + got, plan.length - got, (off_t)(plan.offset + got));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {  /* shrank under us: the head is wrong now */
				close(f.fd);
				return -1;
			}
			got += (size_t)n;
		}
		close(f.fd);
	} else if (plan.send_body && plan.length) {
		c->resp->file_fd = f.fd;
		c->resp->off = plan.offset;
		c->resp->left = plan.length;
	} else {
		close(f.fd);
	}
	return 0;
}

/* The next buffered request: 1 a response was started, 0 none yet (more
 * bytes needed, or held until the handshake is confirmed), -1 close. */
static int next_request(struct conn *c)
{
	struct worker *w = c->w;
	struct http_request *req = &w->req;
	enum http_parse_result r = http_parse(&c->parser, c->buf, c->len, req);
	bool early = c->state == CONN_EARLY;

	if (r == HTTP_PARSE_MORE) {
		if (c->len < buf_cap(c))
			return 0;
		memset(req, 0, sizeof(*req));  /* the parser caps the head below this */
		r = HTTP_PARSE_ERROR;
		req->status = 431;
	}
	if (!http_early_may_answer(req, early)) {
		/* replayable: parsed again from the start once confirmed */
		http_parser_init(&c->parser, w->o->max_head);
		c->held = true;
		return 0;
	}
	if (r == HTTP_PARSE_ERROR) {
		c->len = 0;  /* where the next request starts is unknowable */
		return start_error(c, req, req->status, true, early, 0) == 0 ? 1 : -1;
	}
	c->len -= (uint32_t)req->consumed;
	memmove(c->buf, c->buf + req->consumed, c->len);
	if (start_file(c, req, early) != 0) {
		req->keep_alive = false;
		return start_error(c, req, 500, true, early, 0) == 0 ? 1 : -1;
	}
	return 1;
}

/* Sends what the socket takes: 1 the response is out, 0 wait (EPOLLOUT),
 * -1 the connection is dead. */
static int send_response(struct conn *c)
{
	struct response *r = c->resp;
	size_t budget = SEND_BUDGET;

	while (r->sent < r->len) {
		int flags = MSG_NOSIGNAL | MSG_DONTWAIT | (r->left ? MSG_MORE : 0);
		ssize_t n = send(c->fd, r->data + r->sent, r->len - r->sent, flags);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			goto full;
		if (n < 0)
			return -1;
		r->sent += (uint32_t)n;
		arm(c, T_SEND);
	}
	while (r->left) {
		off_t off = (off_t)r->off;
		ssize_t n;

		if (r->unchecked >= REKEY_CHECK_BYTES) {
			/* the socket had room a moment ago: a KeyUpdate fits */
			r->unchecked = 0;
			if (hs_rekey_if_needed(c->h) < 0 && errno != EAGAIN)
				return -1;
		}
		if (!budget)
			return 0;  /* EPOLLOUT is ready at once: a fair turn for others */
		n = sendfile(c->fd, r->file_fd, &off, r->left < budget ? r->left : budget);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			goto full;
		if (n <= 0) {
			if (n == 0)
				fprintf(stderr, "kstatic: a file shrank while being sent\n");
			return -1;
		}
		r->off += (uint64_t)n;
		r->left -= (uint64_t)n;
		r->body_sent += (uint64_t)n;
		r->unchecked += (uint64_t)n;
		budget -= (size_t)n;
		arm(c, T_SEND);
	}
	return 1;
full:
	c->tx_full = true;
	if (c->timer_kind != T_SEND)
		arm(c, T_SEND);
	return 0;
}

/* Reads what is there: 1 bytes came, 0 nothing now, -1 the stream ended
 * (c->rx_done) or failed. */
static int read_some(struct conn *c)
{
	ssize_t n;

	if (!c->buf && !(c->buf = malloc(buf_cap(c))))
		return -1;
	n = hs_recv(c->h, c->buf + c->len, buf_cap(c) - c->len, MSG_DONTWAIT);
	if (n > 0) {
		if (c->len == 0 && c->timer_kind == T_IDLE)
			arm(c, T_HEADER);  /* a new request: its head has header_ms */
		c->len += (uint32_t)n;
		return 1;
	}
	if (n == 0) {
		c->rx_done = true;
	} else if (errno == EAGAIN) {
		/* the peer's asked-for KeyUpdate is owed: EPOLLOUT, then read */
		if (hs_tx_pending(c->h))
			c->tx_full = true;
		if (!c->len) {  /* an idle connection keeps no buffer */
			free(c->buf);
			c->buf = NULL;
		}
		return 0;
	} else {
		char peer[INET6_ADDRSTRLEN + 16];
		format_peer(c, peer, sizeof(peer));
		fprintf(stderr, "kstatic: %s: %s\n", peer, hs_last_error(c->h)->text);
	}
	return -1;
}

/* Moves c as far as it goes without blocking. */
static void conn_pump(struct conn *c)
{
	for (;;) {
		int r;

		if (c->resp) {
			r = send_response(c);
			if (r < 0) {
				conn_close(c);
				return;
			}
			if (r == 0) {
				if (set_events(c, EPOLLOUT) != 0)
					conn_close(c);
				return;
			}
			end_response(c);
			continue;
		}
		/* before reading (a KeyUpdate may need our answer) or closing
		 * (close_notify), wait until the socket takes bytes again */
		if (c->tx_full) {
			if (set_events(c, EPOLLOUT) != 0)
				conn_close(c);
			return;
		}
		if (c->close_after || (c->w->stopping && !c->len)) {
			conn_finish(c);
			return;
		}
		if (c->held)
			return;  /* until CONFIRMED */
		if (c->len) {
			r = next_request(c);
			if (r > 0)
				continue;
			if (r < 0) {
				conn_close(c);
				return;
			}
			if (c->held)
				return;
		}
		if (c->rx_done) {
			if (c->len)
				conn_close(c);  /* a request cut short */
			else
				conn_finish(c);
			return;
		}
		r = read_some(c);
		if (r > 0)
			continue;
		if (r < 0 && !c->rx_done) {
			conn_abort(c);
			return;
		}
		if (r < 0)
			continue;
		/* nothing to read now. EARLY: the daemon still reads the
		 * socket; the rest comes after CONFIRMED. */
		if (set_events(c, c->state == CONN_SERVING ? EPOLLIN : 0) != 0)
			conn_close(c);
		return;
	}
}

void conn_on_done(struct conn *c, hs_conn *h)
{
	c->h = h;
	c->state = hs_info(h)->confirmed ? CONN_SERVING : CONN_EARLY;
	arm(c, T_HEADER);
	conn_pump(c);
}

void conn_on_confirmed(struct conn *c)
{
	if (c->state != CONN_EARLY)
		return;
	c->state = CONN_SERVING;
	c->held = false;
	if (!c->resp && !c->tx_full && set_events(c, EPOLLIN) != 0) {
		conn_close(c);
		return;
	}
	conn_pump(c);
}

void conn_on_event(struct conn *c, uint32_t events)
{
	if (c->state == CONN_CLOSED)
		return;
	if (c->state == CONN_LINGER) {
		linger_read(c);
		return;
	}
	if (events & EPOLLERR) {
		conn_close(c);
		return;
	}
	if (events & EPOLLOUT)
		c->tx_full = false;
	conn_pump(c);
}

void conn_on_timeout(struct conn *c)
{
	if (c->state == CONN_HANDSHAKING) {
		arm(c, T_HANDSHAKE);  /* the daemon's deadline ends it (FAILED) */
		return;
	}
	conn_close(c);
}

void conn_stop_if_idle(struct conn *c)
{
	if (c->state == CONN_SERVING && !c->resp && !c->len && !c->held)
		conn_finish(c);
}
