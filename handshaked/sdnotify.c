/* systemd integration (sdnotify.h). Readiness means the loops run: the
 * supervisor wakes each loop through its eventfd and waits until every
 * loop counted the wake (struct loop's wakes), so READY=1 follows the
 * handoff socket's listen(), the keys, the upcall's join and a ring that
 * serves. The watchdog repeats that probe: a loop that stops answering
 * (stuck in a handler, a lock, a spin) stops the pings and systemd
 * restarts the daemon.
 * Built without libsystemd, these calls do nothing: no notifications, no
 * socket activation (logged once at debug level). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "sdnotify.h"

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

#define PROBE_POLL_MS 5            /* while waiting for the loops' first answer */
#define STATUS_EVERY_US 5000000    /* STATUS= refresh, when it changed */

static struct {
	bool on;                   /* NOTIFY_SOCKET is set */
	bool ready;                /* READY=1 sent */
	bool probing;              /* loops woken, their counters in seen[] */
	bool stuck;                /* a loop missed a probe: pings stopped (logged once) */
	bool stopping;
	uint64_t seen[CFG_MAX_LOOPS];
	uint64_t period_us;        /* half of WATCHDOG_USEC; 0: no watchdog */
	uint64_t next_ping_us, next_status_us;
	char status[200];          /* the last STATUS= sent */
} sn;

void sdnotify_init(void)
{
	const char *ns = getenv("NOTIFY_SOCKET");
	uint64_t usec = 0;

	sn.on = ns && *ns;
	if (!sn.on)
		return;
	/* > 0 only when WATCHDOG_PID (if set) is us */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2)
		sn.period_us = usec / 2;
	log_ev(LOG_DEBUG, "systemd_notify", "socket=%s watchdog_ping_ms=%llu", log_q(ns),
	       (unsigned long long)sn.period_us / 1000);
}

int sdnotify_listen_fd(void)
{
	int n = sd_listen_fds(1), fd = -1;   /* 1: LISTEN_* unset, fds made CLOEXEC */

	if (n < 0) {
		log_ev(LOG_WARN, "socket_activation_failed", "error=%s", log_q(strerror(-n)));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		int f = SD_LISTEN_FDS_START + i;
		if (fd < 0 && sd_is_socket_unix(f, SOCK_SEQPACKET, 1, NULL, 0) > 0) {
			fd = f;
			continue;
		}
		log_ev(LOG_WARN, "socket_activation_refused", "fd=%d text=\"not a listening SOCK_SEQPACKET Unix "
		       "socket, or a second one: closed\"", f);
		close(f);
	}
	return fd;
}

static void status(struct daemon *d, bool force)
{
	char s[sizeof(sn.status)];

	snprintf(s, sizeof(s), "serving %lld in flight, %llu handshakes done, %u loops",
		 (long long)stats_inflight(&d->stats),
		 (unsigned long long)__atomic_load_n(&d->stats.ok, __ATOMIC_RELAXED), d->n_loops);
	if (!force && strcmp(s, sn.status) == 0)
		return;
	memcpy(sn.status, s, sizeof(s));
	sd_notifyf(0, "STATUS=%s", s);
}

/* Wakes every loop and notes how far each has counted. */
static void probe(struct daemon *d)
{
	for (unsigned i = 0; i < d->n_loops && i < CFG_MAX_LOOPS; i++) {
		sn.seen[i] = __atomic_load_n(&d->loops[i].wakes, __ATOMIC_ACQUIRE);
		loop_wake(&d->loops[i]);
	}
	sn.probing = true;
}

/* -1: every loop counted the last probe's wake; else the first that did not. */
static int laggard(struct daemon *d)
{
	for (unsigned i = 0; i < d->n_loops && i < CFG_MAX_LOOPS; i++)
		if (__atomic_load_n(&d->loops[i].wakes, __ATOMIC_ACQUIRE) == sn.seen[i])
			return (int)i;
	return -1;
}

static int until_ms(uint64_t at, uint64_t now)
{
	return at <= now ? 0 : (int)((at - now + 999) / 1000);
}

int sdnotify_tick(struct daemon *d)
{
	uint64_t now = stats_now_us();
	int wait;

	if (!sn.on || sn.stopping)
		return -1;
	if (!sn.ready) {
		if (!sn.probing)
			probe(d);
		if (laggard(d) >= 0)
			return PROBE_POLL_MS;
		sn.ready = true;
		sn.probing = false;
		snprintf(sn.status, sizeof(sn.status), "ready: %u loops, %zu certificates, handoff %s, kernel upcall %s",
			 d->n_loops, d->cfg.n_certs, d->listen_fd >= 0 ? d->cfg.handoff_path : "off",
			 d->upcall ? "on" : "off");
		sd_notifyf(0, "READY=1\nSTATUS=%s", sn.status);
		log_ev(LOG_DEBUG, "systemd_ready", "loops=%u", d->n_loops);
		sn.next_status_us = now + STATUS_EVERY_US;
		if (sn.period_us) {
			sn.next_ping_us = now + sn.period_us;
			probe(d);
		}
	}
	if (sn.period_us && now >= sn.next_ping_us) {
		int i = laggard(d);
		if (i < 0) {
			sd_notify(0, "WATCHDOG=1");
			if (sn.stuck)
				log_ev(LOG_WARN, "watchdog_resumed", "text=\"every loop answers again\"");
			sn.stuck = false;
		} else if (!sn.stuck) {
			log_ev(LOG_ERR, "watchdog_stuck", "loop=%d text=\"the loop does not answer its wake: "
			       "watchdog pings stop\"", i);
			sd_notifyf(0, "STATUS=loop %d does not answer: watchdog pings stopped", i);
			sn.status[0] = '\0';
			sn.stuck = true;
		}
		probe(d);
		sn.next_ping_us = now + sn.period_us;
	}
	if (now >= sn.next_status_us) {
		if (!sn.stuck)
			status(d, false);
		sn.next_status_us = now + STATUS_EVERY_US;
	}
	wait = until_ms(sn.next_status_us, now);
	if (sn.period_us && until_ms(sn.next_ping_us, now) < wait)
		wait = until_ms(sn.next_ping_us, now);
	return wait;
}

void sdnotify_reloading(void)
{
	if (!sn.on || sn.stopping)
		return;
	/* MONOTONIC_USEC: systemd >= 253 matches it against its own reload
	 * request; older ones ignore it */
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the configuration",
		   (unsigned long long)stats_now_us());
}

void sdnotify_reloaded(struct daemon *d, const char *err)
{
	if (!sn.on || sn.stopping)
		return;
	if (err)
		sd_notifyf(0, "READY=1\nSTATUS=reload failed, the old configuration stays: %.200s", err);
	else
		sd_notifyf(0, "READY=1\nSTATUS=configuration reloaded: %zu certificates", d->cfg.n_certs);
	/* the next refresh says how many are in flight */
	sn.status[0] = '\0';
}

void sdnotify_stopping(struct daemon *d)
{
	if (!sn.on || sn.stopping)
		return;
	sn.stopping = true;
	sd_notifyf(0, "STOPPING=1\nSTATUS=stopping: %lld handshakes in flight finish first",
		   (long long)stats_inflight(&d->stats));
}

#else /* !HAVE_LIBSYSTEMD */

void sdnotify_init(void)
{
	log_ev(LOG_DEBUG, "systemd_unavailable", "text=\"built without libsystemd: no readiness notification, "
	       "watchdog or socket activation\"");
}

int sdnotify_listen_fd(void)
{
	return -1;
}

int sdnotify_tick(struct daemon *d)
{
	return -1;
}

void sdnotify_reloading(void)
{
}

void sdnotify_reloaded(struct daemon *d, const char *err)
{
}

void sdnotify_stopping(struct daemon *d)
{
}

#endif
