/* The daemon's shared state: one loop (an io_uring ring with everything
 * it drives), the applications connected to the handoff socket, and the
 * handshakes in flight. Daemon-internal; see ../shared/DESIGN.md. */
#ifndef HANDSHAKED_DAEMON_H
#define HANDSHAKED_DAEMON_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <handshake/tls.h>

#include "config.h"
#include "handoff.h"

/* Every SQE's user_data points at one of these (0: a cancel or timeout
 * removal whose completion nobody needs); kind says whose it is. */
enum op_kind {
	OP_ACCEPT,                 /* owner: struct loop */
	OP_ACCEPT_RETRY,           /* the pause after an accept that ran out of fds */
	OP_SIGNAL,
	OP_TIMER,
	OP_APP_RECV,               /* owner: struct app */
	OP_S_RECV,                 /* owner: struct session */
	OP_S_SEND,
	OP_S_TIMEOUT,
};

struct op {
	enum op_kind kind;
	void *owner;
};

/* What outlives a reload and is shared by every loop. */
struct daemon {
	int argc;
	char **argv;               /* kept for SIGHUP: defaults, file, flags again */
	struct dconfig cfg;
	tls_config *tls;           /* current; each handshake holds its own reference */
	tls_stek_ring *stek;
	tls_replay_cache *replay;  /* made on first need, shared by every config */
	uid_t self_uid;
};

struct app;
struct session;

struct loop {
	struct io_uring ring;
	struct daemon *d;
	int listen_fd;
	int sig_fd;
	struct op accept_op, accept_retry_op, sig_op, timer_op;
	struct signalfd_siginfo siginfo;
	struct __kernel_timespec timer_ts, accept_retry_ts;
	struct app *apps;          /* connected applications */
	unsigned inflight;         /* sessions alive */
	bool stopping;             /* SIGTERM: no new requests, drain */
};

/* One application connection on the handoff socket. */
struct app {
	struct loop *l;
	struct app *next, *prev;
	int fd;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	struct op recv_op;
	bool recv_pending;
	bool closing;              /* EOF seen: freed once nothing is pending */
	struct session *sessions;  /* its handshakes in flight */
	struct msghdr msg;
	struct iovec iov;
	union {
		size_t align;      /* cmsghdr alignment (it ends in a flexible array) */
		char buf[128];     /* >= CMSG_SPACE(8 * sizeof(int)): a few fds; extras are cut (MSG_CTRUNC) */
	} cmsg;
	uint8_t buf[HANDOFF_MAX_MSG];
};

/* loop.c */
int loop_init(struct loop *l, struct daemon *d);
int loop_run(struct loop *l);
void loop_free(struct loop *l);
/* An SQE, submitting first when the ring is full (never NULL: the ring
 * is drained by submission). */
struct io_uring_sqe *loop_sqe(struct loop *l);
/* SIGHUP: a new configuration; on error the old one stays. */
void daemon_reload(struct daemon *d);

/* handoff.c: the handoff socket, server side */
int app_listen(struct loop *l);
void app_on_accept(struct loop *l, int res);
/* (Re)arms the accept on the handoff socket (after a pause, see app_on_accept). */
void app_arm_accept(struct loop *l);
void app_on_recv(struct app *a, int res);
void app_stop_listening(struct loop *l);
void app_close_all(struct loop *l);
/* Replies to request id on a's socket; a NULL a (gone) drops it. */
void app_reply(struct app *a, const tls_buf *msg);
void app_reply_failed(struct app *a, uint32_t id, enum handoff_reason r, uint8_t alert,
		      const char *text);
void app_session_gone(struct app *a, struct session *s);

/* session.c: one server handshake on one TCP socket */
int session_start(struct loop *l, struct app *a, uint32_t id, int fd, uint32_t timeout_ms,
		  const char *peer);
void session_on_op(struct session *s, enum op_kind kind, int res);
/* The application went away: abort without a reply. */
void session_abort(struct session *s, const char *why);
struct session *session_next_in_app(const struct session *s);

#endif
