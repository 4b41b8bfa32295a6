/* The event loop: one io_uring ring drives the handoff socket (an accept
 * on this loop's dup of it: the kernel hands each connection to one
 * waiting loop), the applications' requests and every handshake's
 * recv/send and deadline. Nothing in it blocks: socket I/O goes through
 * the ring, replies are non-blocking sends. --loops N runs N of these,
 * one per thread; signals, the control socket and the ticket-key timer
 * belong to the supervisor (main thread), which wakes a loop through its
 * eventfd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon.h"
#include "hsio.h"
#include "log.h"
#include "sandbox.h"
#include "upcall.h"

#define RING_ENTRIES 256

struct io_uring_sqe *loop_sqe(struct loop *l)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&l->ring)))
		io_uring_submit(&l->ring);
	memset(sqe, 0, sizeof(*sqe));
	return sqe;
}

static void arm_wake(struct loop *l)
{
	struct io_uring_sqe *sqe = loop_sqe(l);
	io_uring_prep_read(sqe, l->wake_fd, &l->wake_val, sizeof(l->wake_val), 0);
	io_uring_sqe_set_data(sqe, &l->wake_op);
}

void loop_wake(struct loop *l)
{
	uint64_t one = 1;
	if (write(l->wake_fd, &one, sizeof(one)) < 0)
		log_ev(LOG_ERR, "loop_error", "loop=%u error=%s text=\"waking the loop\"", l->index, log_q(strerror(errno)));
}

int loop_init(struct loop *l, struct daemon *d, unsigned index)
{
	int r;

	memset(l, 0, sizeof(*l));
	l->d = d;
	l->index = index;
	l->listen_fd = -1;
	if (spread_init(l) != 0 || !(l->rbuf = malloc(HANDOFF_MAX_MSG))) {
		log_ev(LOG_ERR, "out_of_memory", "for=loop loop=%u", index);
		return -1;
	}
	if ((r = sandbox_ring_init(RING_ENTRIES, &l->ring)) < 0) {
		log_ev(LOG_ERR, "loop_error", "loop=%u error=%s text=io_uring_queue_init", index, log_q(strerror(-r)));
		free(l->rbuf);
		return -1;
	}
	if ((l->wake_fd = eventfd(0, EFD_CLOEXEC)) < 0) {
		log_ev(LOG_ERR, "loop_error", "loop=%u error=%s text=eventfd", index, log_q(strerror(errno)));
		io_uring_queue_exit(&l->ring);
		free(l->rbuf);
		return -1;
	}
	l->wake_op = (struct op){ OP_WAKE, l };
	if (app_listen(l) != 0) {
		close(l->wake_fd);
		io_uring_queue_exit(&l->ring);
		free(l->rbuf);
		return -1;
	}
	if (upcall_loop_init(l) != 0) {
		app_stop_listening(l);
		close(l->wake_fd);
		io_uring_queue_exit(&l->ring);
		free(l->rbuf);
		return -1;
	}
	arm_wake(l);
	return 0;
}

static void stop(struct loop *l)
{
	l->stopping = true;
	spread_close(l);
	app_stop_listening(l);
	upcall_loop_stop(l);
}

static void on_wake(struct loop *l, int res)
{
	__atomic_add_fetch(&l->wakes, 1, __ATOMIC_RELEASE);  /* alive: sdnotify.c's probe */
	if (res < 0 && res != -EINTR && res != -EAGAIN) {
		log_ev(LOG_ERR, "loop_error", "loop=%u error=%s text=\"eventfd read\"", l->index, log_q(strerror(-res)));
		spread_run(l);
		stop(l);
		return;
	}
	spread_run(l);             /* news from the other loops */
	if (__atomic_load_n(&l->d->stopping, __ATOMIC_ACQUIRE) && !l->stopping)
		stop(l);
	arm_wake(l);
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
	case OP_WAKE:
		on_wake(l, res);
		break;
	case OP_APP_IN:
		app_on_in(op->owner, res);
		break;
	case OP_APP_OUT:
		app_on_out(op->owner, res);
		break;
	case OP_HSIO_RECV:
	case OP_HSIO_SEND:
	case OP_HSIO_TIMEOUT:
		hsio_on_op(op->owner, op->kind, res);
		break;
	case OP_UPCALL:
		upcall_on_ready(l, res);
		break;
	}
}

int loop_run(struct loop *l)
{
	struct io_uring_cqe *cqe;
	int r;

	while (!(l->stopping && __atomic_load_n(&l->inflight, __ATOMIC_RELAXED) == 0 && spread_idle(l))) {
		r = io_uring_submit_and_wait(&l->ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			log_ev(LOG_ERR, "loop_error", "loop=%u error=%s text=io_uring_submit_and_wait", l->index,
			       log_q(strerror(-r)));
			spread_close(l);
			return -1;
		}
		/* the configuration cannot change under a batch (daemon.h) */
		pthread_rwlock_rdlock(&l->d->lock);
		/* one at a time: a handler may queue SQEs and even submit */
		while (io_uring_peek_cqe(&l->ring, &cqe) == 0) {
			struct op *op = io_uring_cqe_get_data(cqe);
			int res = cqe->res;
			io_uring_cqe_seen(&l->ring, cqe);
			if (op)
				dispatch(l, op, res);
		}
		pthread_rwlock_unlock(&l->d->lock);
	}
	return 0;
}

void loop_free(struct loop *l)
{
	app_stop_listening(l);
	/* the ring first: nothing may still point into the apps' buffers */
	io_uring_queue_exit(&l->ring);
	app_close_all(l);
	spread_free(l);
	upcall_loop_free(l);
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	free(l->rbuf);
	l->rbuf = NULL;
}
