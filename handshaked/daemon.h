/* The daemon's shared state: N loops (threads, each an io_uring ring with
 * everything it drives), the applications connected to the handoff
 * socket, and the handshakes in flight. The main thread supervises
 * (supervisor.c): signals, the control socket, ticket-key rotation.
 * Daemon-internal; see ../shared/DESIGN.md. */
#ifndef HANDSHAKED_DAEMON_H
#define HANDSHAKED_DAEMON_H

#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <handshake/tls.h>

#include "certs.h"
#include "config.h"
#include "handoff.h"
#include "stats.h"

/* Every SQE's user_data points at one of these (0: a cancel or timeout
 * removal whose completion nobody needs); kind says whose it is. */
enum op_kind {
	OP_ACCEPT,                 /* owner: struct loop */
	OP_ACCEPT_RETRY,           /* the pause after an accept that ran out of fds */
	OP_WAKE,                   /* the loop's eventfd: the supervisor has news (stop) */
	OP_APP_IN,                 /* owner: struct app: its socket is readable */
	OP_APP_OUT,                /* owner: struct app: room for its queued replies */
	OP_HSIO_RECV,              /* owner: struct hsio (hsio.h), in either role */
	OP_HSIO_SEND,
	OP_HSIO_TIMEOUT,
	OP_UPCALL,                 /* owner: struct loop: the kernel's READY notifications */
};

/* Client tls_configs: no verification, the chain, the chain and name. */
#define CLIENT_CONFIGS 3

struct op {
	enum op_kind kind;
	void *owner;
};

struct loop;
struct lmsg;

/* What outlives a reload and is shared by every loop. cfg and tls change
 * only under the write side of lock; each loop holds the read side while
 * it handles a batch of completions, so a reload waits for the batch and
 * never frees what a handler is reading. */
struct daemon {
	int argc;
	char **argv;               /* kept for SIGHUP: defaults, file, flags again */
	pthread_rwlock_t lock;
	pthread_mutex_t reload_lock; /* one reload at a time (SIGHUP, control) */
	struct dconfig cfg;
	tls_config *tls;           /* current; each handshake holds its own reference */
	struct loop *loops;
	unsigned n_loops;
	unsigned spread_loops;     /* atomic: loops a request may go to (spread.c); 0 until all run */
	bool loop_failed;          /* atomic: a loop ended on an error: nobody waits for its news */
	int listen_fd;             /* the handoff socket; each loop accepts on a dup */
	bool listen_passed;        /* listen_fd came from systemd (socket activation): never unlinked */
	int sup_fd;                /* eventfd: a loop ended (the supervisor stops the rest) */
	int ctl_fd;                /* the control socket (control.c) */
	struct metrics *metrics;   /* [metrics] listen (metrics.c), NULL: off */
	struct cert_list certs;    /* names and expiry (certs.c): the supervisor's */
	bool stopping;             /* atomic: SIGTERM, no new requests */
	struct stats stats;
	tls_stek_ring *stek;
	tls_replay_cache *replay;  /* made on first need, shared by every config */
	tls_config *client_tls[CLIENT_CONFIGS]; /* client role, per VERIFY mode (client.c) */
	struct tcache *tickets;    /* client role: sessions to resume (tickets.h) */
	struct upcall *upcall;     /* the kernel's handshake upcall (upcall.c), NULL: off */
	uid_t self_uid;
};

struct app;
struct hsio;
struct tcache;

struct loop {
	struct io_uring ring;
	struct daemon *d;
	unsigned index;
	pthread_t thread;
	int rc;                    /* loop_run's */
	int listen_fd;
	int wake_fd;               /* eventfd written by the supervisor */
	uint64_t wake_val;
	uint64_t wakes;            /* atomic: wakes handled; the supervisor's liveness probe (sdnotify.c) */
	struct op accept_op, accept_retry_op, wake_op;
	struct __kernel_timespec accept_retry_ts;
	struct app *apps;          /* connected applications */
	uint8_t *rbuf;             /* HANDOFF_MAX_MSG: every application's requests are read here */
	uint8_t drain_buf[4096];   /* where draining handshakes drop what peers still send (hsio.c) */
	union {
		size_t align;      /* cmsghdr alignment (it ends in a flexible array) */
		char buf[128];     /* >= CMSG_SPACE(8 * sizeof(int)): a few fds; extras are cut (MSG_CTRUNC) */
	} rcmsg;
	unsigned inflight;         /* atomic (other loops read it): sessions alive */
	struct upcall_loop *upcall; /* NULL: the upcall is off */
	bool stopping;             /* SIGTERM: no new requests, drain */
	/* spread.c: news from the other loops, taken on a wake */
	pthread_mutex_t inbox_lock;
	struct lmsg *inbox, **inbox_tail;
	unsigned incoming;         /* atomic: handshakes sent here by other loops, not started yet */
	bool closed;               /* atomic: stopping; other loops send no more handshakes */
	unsigned remote;           /* handshakes of this loop's applications running on others */
};

/* A reply the application's socket had no room for (app_reply). */
struct app_reply {
	struct app_reply *next;
	size_t len;
	uint8_t data[];
};

/* One application connection on the handoff socket. Requests are read
 * into the loop's buffer when the socket polls readable, so an idle or
 * waiting application costs this struct only. */
struct app {
	struct loop *l;
	struct app *next, *prev;
	int fd;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	struct op in_op, out_op;   /* POLLIN, POLLOUT polls in the ring */
	bool in_pending, out_pending;
	bool closing;              /* EOF seen: freed once nothing is pending */
	bool holding;              /* app_close is walking its list: not freed under it */
	struct hsio *handshakes;   /* its handshakes in flight, both roles */
	unsigned inflight;         /* of them, against max_per_app */
	struct app_reply *queue, **queue_tail;  /* replies waiting for room, in order */
	unsigned queued;
	/* spread.c: an application's handshakes may run on other loops, each
	 * linked to a stand-in struct app there (a proxy: fd -1, home set). */
	struct app *home;          /* proxy: the application it stands for (on its own loop) */
	struct lmsg *spare;        /* proxy: messages for telling home that a handshake ended */
	struct app **proxies;      /* home: per loop index, NULL until one is needed */
	unsigned *remote_on;       /* home: its handshakes running on each loop */
	unsigned remote;           /* home: of them in all, plus aborts not acknowledged */
};

/* loop.c */
int loop_init(struct loop *l, struct daemon *d, unsigned index);
int loop_run(struct loop *l);
void loop_free(struct loop *l);
/* Tells the loop to look at d->stopping (any thread). */
void loop_wake(struct loop *l);
/* An SQE, submitting first when the ring is full (never NULL: the ring
 * is drained by submission). */
struct io_uring_sqe *loop_sqe(struct loop *l);
/* main.c. SIGHUP or the control socket: a new configuration; on error
 * the old one stays and err says why (-1). Not from a loop thread. */
int daemon_reload(struct daemon *d, char *err, size_t len);

/* supervisor.c: the main thread once the loops run; returns when they
 * all ended (0: drained after SIGTERM, -1: a loop failed). */
int supervise(struct daemon *d);

/* control.c: the control socket (docs/handshakectl.md) */
int control_listen(struct daemon *d);
/* Serves one client (already accepted) with short timeouts. */
void control_serve(struct daemon *d, int fd);

/* handoff.c: the handoff socket, server side */
/* Creates d->listen_fd (main thread, before the loops). */
int handoff_listen(struct daemon *d);
int app_listen(struct loop *l);
void app_on_accept(struct loop *l, int res);
/* (Re)arms the accept on the handoff socket (after a pause, see app_on_accept). */
void app_arm_accept(struct loop *l);
void app_on_in(struct app *a, int res);
void app_on_out(struct app *a, int res);
void app_stop_listening(struct loop *l);
void app_close_all(struct loop *l);
/* Replies to request id on a's socket; a NULL a (gone) drops it. */
void app_reply(struct app *a, const tls_buf *msg);
void app_reply_failed(struct app *a, uint32_t id, enum handoff_reason r, uint8_t alert,
		      const char *text);
/* One of a's handshakes ended (hsio.c). */
void app_handshake_gone(struct app *a);
/* Frees a once it is closing and nothing refers to it any more. */
void app_maybe_free(struct app *a);

/* spread.c: handshakes spread over the loops. A request is read by the
 * loop of its application's connection; the handshake runs on the least
 * loaded loop; its replies and its end travel back as messages. */
int spread_init(struct loop *l);
/* Every message in l's inbox (on a wake). */
void spread_run(struct loop *l);
/* l stops: no more handshakes from other loops (spread_idle tells when
 * those already sent have started). */
void spread_close(struct loop *l);
bool spread_idle(struct loop *l);
/* Where a new server handshake of a goes: a's loop or another. */
struct loop *spread_pick(struct app *a);
/* A checked request: ACCEPT, or CONNECT with the request's bytes. */
struct spread_req {
	uint32_t id, timeout_ms;
	int fd;
	const char *peer;
	const uint8_t *connect;    /* CONNECT: the whole request, parsed again there */
	size_t connect_len;        /* 0: ACCEPT */
};
/* Sends it to t (0), or -1: t is stopping or no memory; run it here. */
int spread_start(struct app *a, struct loop *t, const struct spread_req *r);
/* For a proxy: the reply goes to its application's loop. */
void spread_reply(struct app *proxy, const tls_buf *msg);
/* For a proxy: one of its handshakes ended. */
void spread_gone(struct app *proxy);
/* The application closed: its handshakes elsewhere are aborted. */
void spread_abort(struct app *home);
/* With the application: its proxies (nothing refers to them any more). */
void spread_free_app(struct app *home);
/* At exit, the loops joined: what is left in the inbox. */
void spread_free(struct loop *l);

/* handoff.c: starts on loop l, for a (an application or a proxy), the
 * handshake an ACCEPT (connect NULL) or a CONNECT (connect: the parsed
 * request) asks for. 0: started (every later outcome is a reply); -1:
 * nothing started, the caller replies FAILED *reason with why and closes
 * fd. */
int handshake_start(struct loop *l, struct app *a, uint32_t id, const struct handoff_msg *connect, int fd,
		    uint32_t timeout_ms, const char *peer, enum handoff_reason *reason, char *why, size_t why_len);

/* session.c: one server handshake on one TCP socket */
int session_start(struct loop *l, struct app *a, uint32_t id, int fd, uint32_t timeout_ms,
		  const char *peer);

/* client.c: the client role (CONNECT, STORE_TICKET) */
/* Builds d->client_tls from c (and the ticket cache on first use) and
 * swaps them in, under d->lock when reload; on error the old ones stay
 * and err says why (-1). */
int client_setup(struct daemon *d, const struct dconfig *c, bool reload, char *err, size_t len);
void client_teardown(struct daemon *d);
/* 0: started (every later outcome is a reply); -1: nothing started, the
 * caller replies FAILED *reason with why and closes fd. */
int client_start(struct loop *l, struct app *a, const struct handoff_msg *m, int fd, uint32_t timeout_ms,
		 const char *peer, enum handoff_reason *reason, char *why, size_t why_len);
/* STORE_TICKET: into the cache, for a's user only; no reply (the
 * library does not wait). */
void client_store_ticket(struct app *a, const struct handoff_msg *m);

#endif
