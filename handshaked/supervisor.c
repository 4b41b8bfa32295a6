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
#include "metrics.h"
#include "privs.h"
#include "sdnotify.h"

#define ROTATE_CHECK_S 60          /* how often the STEK ring is looked at */

static void rotate_tickets(struct daemon *d)
{
	int r = tls_stek_ring_maybe_rotate(d->stek, (uint64_t)time(NULL));
	if (r > 0)
		log_ev(LOG_INFO, "ticket_key_rotated", "by=timer keys=%zu", tls_stek_ring_count(d->stek));
	else if (r < 0)
		log_ev(LOG_ERR, "ticket_key_rotation_failed", "text=\"random generator\"");
}

/* No new requests: the handoff socket goes (connect fails at once), each
 * loop closes its dup and ends when its handshakes have. */
static void stop_all(struct daemon *d)
{
	if (__atomic_exchange_n(&d->stopping, true, __ATOMIC_ACQ_REL))
		return;
	sdnotify_stopping(d);
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		if (!d->listen_passed)     /* systemd's socket stays: requests queue for the next start */
			privs_unlink(d->cfg.handoff_path);
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
		log_ev(LOG_INFO, "reload_requested", "by=SIGHUP");
		sdnotify_reloading();
		sdnotify_reloaded(d, daemon_reload(d, err, sizeof(err)) == 0 ? NULL : err);
		break;
	case SIGTERM:
	case SIGINT:
		if (!__atomic_load_n(&d->stopping, __ATOMIC_ACQUIRE))
			log_ev(LOG_INFO, "stopping", "by=%s inflight=%lld "
			       "text=\"no new requests; the handshakes in flight finish first\"",
			       si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT", (long long)stats_inflight(&d->stats));
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
		log_ev(LOG_ERR, "supervisor_error", "error=%s text=signalfd", log_q(strerror(errno)));
		stop_all(d);
		rc = -1;
	}
	while (ended < d->n_loops) {
		struct pollfd p[3 + METRICS_POLLFDS] = {
			{ .fd = d->sup_fd, .events = POLLIN },
			{ .fd = sig_fd, .events = POLLIN },
			{ .fd = d->ctl_fd, .events = POLLIN },
		};
		time_t now = time(NULL);
		int wait_ms = now >= next_rotate ? 0 : (int)(next_rotate - now) * 1000;
		int sd_ms = sdnotify_tick(d);   /* READY=1, watchdog, status */

		if (sd_ms >= 0 && sd_ms < wait_ms)
			wait_ms = sd_ms;

		int np = 3 + metrics_pollfds(d, p + 3, &wait_ms);

		if (poll(p, (nfds_t)np, wait_ms) < 0 && errno != EINTR) {
			log_ev(LOG_ERR, "supervisor_error", "error=%s text=poll", log_q(strerror(errno)));
			stop_all(d);
			rc = -1;
			sleep(1);          /* the loops drain meanwhile; no spin */
		}
		if (p[0].revents & POLLIN) {
			uint64_t n;
			if (read(d->sup_fd, &n, sizeof(n)) == sizeof(n)) {
				ended += (unsigned)n;
				if (!__atomic_load_n(&d->stopping, __ATOMIC_ACQUIRE)) {
					log_ev(LOG_ERR, "loop_error", "text=\"a loop ended on its own: stopping\"");
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
		metrics_serve(d, p + 3, np - 3);
		if (time(NULL) >= next_rotate) {
			rotate_tickets(d);
			next_rotate = time(NULL) + ROTATE_CHECK_S;
		}
	}
	if (sig_fd >= 0)
		close(sig_fd);
	return rc;
}
