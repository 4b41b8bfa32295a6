/* The event loop: one io_uring ring drives the handoff socket, every
 * handshake's recv/send and deadline, the signals (signalfd) and the
 * ticket-key rotation timer. Nothing in it blocks: socket I/O goes
 * through the ring, replies are non-blocking sends. The state lives in
 * struct loop so that N loops (threads) can each own one later. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

#define RING_ENTRIES 256
#define ROTATE_CHECK_S 60          /* how often the STEK ring is looked at */

struct io_uring_sqe *loop_sqe(struct loop *l)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&l->ring)))
		io_uring_submit(&l->ring);
	memset(sqe, 0, sizeof(*sqe));
	return sqe;
}

static void arm_signal(struct loop *l)
{
	struct io_uring_sqe *sqe = loop_sqe(l);
	io_uring_prep_read(sqe, l->sig_fd, &l->siginfo, sizeof(l->siginfo), 0);
	io_uring_sqe_set_data(sqe, &l->sig_op);
}

static void arm_timer(struct loop *l)
{
	struct io_uring_sqe *sqe = loop_sqe(l);
	l->timer_ts.tv_sec = ROTATE_CHECK_S;
	l->timer_ts.tv_nsec = 0;
	io_uring_prep_timeout(sqe, &l->timer_ts, 0, 0);
	io_uring_sqe_set_data(sqe, &l->timer_op);
}

static void rotate_tickets(struct loop *l)
{
	int r = tls_stek_ring_maybe_rotate(l->d->stek, (uint64_t)time(NULL));
	if (r > 0)
		log_msg(LOG_INFO, "session ticket key rotated");
	else if (r < 0)
		log_msg(LOG_ERR, "session ticket key rotation failed (random generator)");
}

int loop_init(struct loop *l, struct daemon *d)
{
	sigset_t set;
	int r;

	memset(l, 0, sizeof(*l));
	l->d = d;
	l->listen_fd = -1;
	l->sig_fd = -1;
	if ((r = io_uring_queue_init(RING_ENTRIES, &l->ring, 0)) < 0) {
		log_msg(LOG_ERR, "io_uring: %s", strerror(-r));
		return -1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
	    (l->sig_fd = signalfd(-1, &set, SFD_CLOEXEC)) < 0) {
		log_msg(LOG_ERR, "signalfd: %s", strerror(errno));
		io_uring_queue_exit(&l->ring);
		return -1;
	}
	l->sig_op = (struct op){ OP_SIGNAL, l };
	l->timer_op = (struct op){ OP_TIMER, l };
	if (app_listen(l) != 0) {
		close(l->sig_fd);
		io_uring_queue_exit(&l->ring);
		return -1;
	}
	arm_signal(l);
	arm_timer(l);
	return 0;
}

static void on_signal(struct loop *l, int res)
{
	if (res != sizeof(l->siginfo)) {
		log_msg(LOG_ERR, "signalfd read: %s", res < 0 ? strerror(-res) : "short read");
		l->stopping = true;
		return;
	}
	switch (l->siginfo.ssi_signo) {
	case SIGHUP:
		log_msg(LOG_INFO, "SIGHUP: reloading the configuration");
		daemon_reload(l->d);
		break;
	case SIGTERM:
	case SIGINT:
		if (!l->stopping)
			log_msg(LOG_INFO, "%s: no new requests; %u handshakes in flight finish first",
				l->siginfo.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT", l->inflight);
		l->stopping = true;
		app_stop_listening(l);
		break;
	}
	arm_signal(l);
}

static void dispatch(struct loop *l, struct op *op, int res)
{
	switch (op->kind) {
	case OP_ACCEPT:
		app_on_accept(l, res);
		break;
	case OP_ACCEPT_RETRY:
		app_arm_accept(l);
		break;
	case OP_SIGNAL:
		on_signal(l, res);
		break;
	case OP_TIMER:
		rotate_tickets(l);
		arm_timer(l);
		break;
	case OP_APP_RECV:
		app_on_recv(op->owner, res);
		break;
	case OP_S_RECV:
	case OP_S_SEND:
	case OP_S_TIMEOUT:
		session_on_op(op->owner, op->kind, res);
		break;
	}
}

int loop_run(struct loop *l)
{
	struct io_uring_cqe *cqe;
	int r;

	while (!(l->stopping && l->inflight == 0)) {
		r = io_uring_submit_and_wait(&l->ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			log_msg(LOG_ERR, "io_uring_submit_and_wait: %s", strerror(-r));
			return -1;
		}
		/* one at a time: a handler may queue SQEs and even submit */
		while (io_uring_peek_cqe(&l->ring, &cqe) == 0) {
			struct op *op = io_uring_cqe_get_data(cqe);
			int res = cqe->res;
			io_uring_cqe_seen(&l->ring, cqe);
			if (op)
				dispatch(l, op, res);
		}
	}
	return 0;
}

void loop_free(struct loop *l)
{
	app_stop_listening(l);
	/* the ring first: nothing may still point into the apps' buffers */
	io_uring_queue_exit(&l->ring);
	app_close_all(l);
	if (l->sig_fd >= 0)
		close(l->sig_fd);
}
