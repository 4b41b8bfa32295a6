/* kstatic: the server program (options, the per-thread event loop, the
 * connections). The HTTP core it drives is http_request.h, http_path.h and
 * http_response.h; the handshakes are handshaked's, through libhandshake's
 * async API.
 *
 * Threads: each worker has its own epoll set, its own listening socket on
 * the same address (SO_REUSEPORT: the kernel spreads connections, no lock
 * and no thundering herd) and its own hs_async context; nothing is shared
 * between workers but the read-only options and the root directory's fd.
 *
 * A connection: HANDSHAKING (submitted to the daemon) -> EARLY (0-RTT
 * accepted, not yet confirmed: only safe requests are answered) ->
 * SERVING -> LINGER (our close_notify sent, the client's last bytes drained
 * so that our response is not destroyed by a reset) -> closed. */
#ifndef KSTATIC_H
#define KSTATIC_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handshake.h"
#include "http_request.h"
#include "timer.h"

struct kstatic_opts {
	const char *root, *listen, *handoff, *access_log;
	int threads;
	unsigned max_conns;        /* per process, split between the workers */
	size_t max_head;           /* request head cap (431 above) */
	int handshake_ms;          /* the daemon's deadline for one handshake */
	int header_ms;             /* a request head must arrive within this */
	int idle_ms;               /* keep-alive: between requests */
	int send_ms;               /* a response that makes no progress */
	int grace_ms;              /* SIGTERM: in-flight responses may finish */
};

enum conn_state {
	CONN_HANDSHAKING,
	CONN_EARLY,
	CONN_SERVING,
	CONN_LINGER,
	CONN_CLOSED,               /* freed at the end of the loop turn */
};

struct response;

/* What an established idle keep-alive connection costs us: this struct
 * (the request buffer and the response exist only while in use) plus
 * libhandshake's hs_conn. */
struct conn {
	struct timer_link timer;   /* in one of the worker's lists (timer.h) */
	struct worker *w;
	hs_conn *h;                /* from the DONE event on */
	uint8_t *buf;              /* request bytes not yet answered; lazily */
	struct response *resp;     /* being sent, or NULL */
	struct http_parser parser;
	uint32_t len;              /* bytes in buf */
	int fd;
	uint32_t events;           /* the epoll interest now (0: not in the set) */
	uint8_t state;             /* enum conn_state */
	uint8_t timer_kind;        /* which of the worker's lists (conn.c) */
	bool held;                 /* an early request waits for CONFIRMED */
	bool rx_done;              /* the client ended its stream */
	bool tx_full;              /* a send met a full socket since the last
				    * EPOLLOUT: read only once there is room,
				    * since a KeyUpdate read may need to answer */
	bool close_after;          /* close once the response is sent */
	struct conn *next_dead;    /* the worker's list of closed connections */
	union {
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} peer;
};

struct worker {
	const struct kstatic_opts *o;
	int id;
	int ep;                    /* epoll */
	int lfd;                   /* our SO_REUSEPORT listener; -1 once closed */
	int root_fd;               /* the document root (shared, read-only) */
	int stop_fd;               /* eventfd: the main thread says stop */
	int log_fd;                /* access log (stdout or --access-log) */
	hs_async *a;
	struct hs_opts ho;
	struct timer_list t_handshake, t_header, t_idle, t_send, t_linger;
	unsigned conns, max_conns;
	unsigned resume_below;     /* after EMFILE: accept again below this */
	struct conn *dead;         /* closed this turn, freed at its end */
	bool accepting, stopping;
	int64_t stop_deadline;
	uint64_t requests, handshake_failures;
	size_t log_len;
	char log_buf[32768];       /* access log lines, written once per loop turn */
	struct http_request req;   /* scratch: one request is handled at a time */
	struct http_request log_req; /* scratch: the logged request's method/target */
};

/* worker.c */
int worker_init(struct worker *w, const struct kstatic_opts *o, int id, int lfd, int root_fd, int log_fd,
		char *err, size_t errlen);
void *worker_run(void *w);
void worker_log(struct worker *w, const char *line, size_t len);
void worker_flush_log(struct worker *w);

/* conn.c: called by the worker's loop */
struct conn *conn_new(struct worker *w, int fd, const struct sockaddr *sa, socklen_t salen);
void conn_on_done(struct conn *c, hs_conn *h);
void conn_on_confirmed(struct conn *c);
void conn_on_event(struct conn *c, uint32_t events);
void conn_on_timeout(struct conn *c);
/* Closes c and frees it (hs_free, close; the worker's count drops). */
void conn_close(struct conn *c);
/* SIGTERM: close c now if it is between requests. */
void conn_stop_if_idle(struct conn *c);

#endif
