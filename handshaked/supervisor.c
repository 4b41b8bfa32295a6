/* The supervisor: the main thread while the loops run. It owns what is
 * not per-request: signals (signalfd; blocked in every thread), the
 * control socket, and the ticket-key rotation timer. It may block
 * briefly (a reload reads files, a control client gets a short timeout)
 * without stalling a handshake: the loops run on their own threads. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

#define ROTATE_CHECK_S 60          /* how often the STEK ring is looked at */

static void rotate_tickets(struct daemon *d)
{
	int r = tls_stek_ring_maybe_rotate(d->stek, (uint64_t)time(NULL));
	if (r > 0)
		log_msg(LOG_INFO, "session ticket key rotated");
	else if (r < 0)
		log_msg(LOG_ERR, "session ticket key rotation failed (random generator)");
}

/* No new requests: the handoff socket goes (connect fails at once), each
 * loop closes its dup and ends when its handshakes have. */
static void stop_all(struct daemon *d)
{
	if (__atomic_exchange_n(&d->stopping, true, __ATOMIC_ACQ_REL))
		return;
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		unlink(d->cfg.handoff_path);
		d->listen_fd = -1;
	}
	for (unsigned i = 0; i < d->n_loops; i++)
		loop_wake(&d->loops[i]);
}

static void on_signal(struct daemon *d, const struct signalfd_siginfo *si)
{
	char err[1024];

	switch (si->ssi_signo) {
	case SIGHUP:
		log_msg(LOG_INFO, "SIGHUP: reloading the configuration");
		daemon_reload(d, err, sizeof(err));
		break;
	case SIGTERM:
	case SIGINT:
		if (!__atomic_load_n(&d->stopping, __ATOMIC_ACQUIRE))
			log_msg(LOG_INFO, "%s: no new requests; %lld handshakes in flight finish first",
				si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT",
				(long long)stats_inflight(&d->stats));
		stop_all(d);
		break;
	}
}

int supervise(struct daemon *d)
{
	struct signalfd_siginfo si;
	sigset_t set;
	unsigned ended = 0;
	time_t next_rotate = time(NULL) + ROTATE_CHECK_S;
	int sig_fd, rc = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if ((sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		log_msg(LOG_ERR, "signalfd: %s", strerror(errno));
		stop_all(d);
		rc = -1;
	}
	while (ended < d->n_loops) {
		struct pollfd p[3] = {
			{ .fd = d->sup_fd, .events = POLLIN },
			{ .fd = sig_fd, .events = POLLIN },
			{ .fd = d->ctl_fd, .events = POLLIN },
		};
		time_t now = time(NULL);
		int wait_ms = now >= next_rotate ? 0 : (int)(next_rotate - now) * 1000;

		if (poll(p, 3, wait_ms) < 0 && errno != EINTR) {
			log_msg(LOG_ERR, "poll: %s", strerror(errno));
			stop_all(d);
			rc = -1;
			sleep(1);          /* the loops drain meanwhile; no spin */
		}
		if (p[0].revents & POLLIN) {
			uint64_t n;
			if (read(d->sup_fd, &n, sizeof(n)) == sizeof(n)) {
				ended += (unsigned)n;
				if (!__atomic_load_n(&d->stopping, __ATOMIC_ACQUIRE)) {
					log_msg(LOG_ERR, "a loop ended on its own: stopping");
					rc = -1;
				}
				stop_all(d);
			}
		}
		if (p[1].revents & POLLIN)
			while (read(sig_fd, &si, sizeof(si)) == sizeof(si))
				on_signal(d, &si);
		if (p[2].revents & POLLIN) {
			int c = accept4(d->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0)
				control_serve(d, c);  /* closes c */
		}
		if (time(NULL) >= next_rotate) {
			rotate_tickets(d);
			next_rotate = time(NULL) + ROTATE_CHECK_S;
		}
	}
	if (sig_fd >= 0)
		close(sig_fd);
	return rc;
}
