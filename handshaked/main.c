/* handshaked: TLS 1.3 handshakes for kernel TLS, for other processes.
 * Reads the configuration, owns what outlives a reload (the session
 * ticket keys, the 0-RTT anti-replay recorder), starts the loops (one
 * thread each) and supervises them. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "privs.h"
#include "sandbox.h"
#include "sdnotify.h"
#include "upcall.h"

/* The recorder is shared by every config across reloads, so the configs
 * must not free it: these ops have no destroy. */
static struct tls_antireplay_ops replay_ops;
static bool replay_ops_ready;

/* Ticket keys: from the file (several machines share them; the operator
 * rotates the file, SIGHUP reloads it) or a fresh in-memory ring that the
 * loop's timer rotates. */
static int load_ticket_keys(struct daemon *d, const struct dconfig *c, char *err, size_t len)
{
	bool fresh = !d->stek;     /* a new file-backed ring is not from the file until loaded */

	if (fresh) {
		d->stek = c->ticket_key_file ? tls_stek_ring_new(TLS_STEK_MAX_KEYS - 1, 0)
					     : tls_stek_ring_new(TLS_STEK_DEFAULT_KEEP, TLS_STEK_DEFAULT_PERIOD_S);
		if (!d->stek) {
			snprintf(err, len, "out of memory for the session ticket keys");
			return -1;
		}
		if (!c->ticket_key_file && tls_stek_ring_maybe_rotate(d->stek, (uint64_t)time(NULL)) < 0) {
			snprintf(err, len, "cannot make a session ticket key (random generator)");
			return -1;
		}
	}
	if (!fresh && !c->ticket_key_file != !tls_stek_ring_from_file(d->stek)) {
		/* configs in use borrow the ring: it cannot be swapped under them */
		log_ev(LOG_WARN, "restart_needed", "setting=ticket_keys "
		       "text=\"switching between a ticket key file and in-memory keys needs a restart\"");
		return 0;
	}
	if (c->ticket_key_file && tls_stek_ring_load(d->stek, c->ticket_key_file, err, len) != 0)
		return -1;
	return 0;
}

static tls_config *build(struct daemon *d, const struct dconfig *c, char *err, size_t len)
{
	if (c->early_max && !d->replay) {
		d->replay = tls_replay_cache_new(TLS_ANTIREPLAY_DEFAULT_WINDOW_MS,
						 TLS_ANTIREPLAY_DEFAULT_MAX_ENTRIES);
		if (!d->replay) {
			snprintf(err, len, "out of memory for the 0-RTT anti-replay recorder");
			return NULL;
		}
	}
	if (!replay_ops_ready) {   /* once, before the loops run: they read it */
		replay_ops = tls_replay_cache_ops;
		replay_ops.destroy = NULL;
		replay_ops_ready = true;
	}
	return config_build_tls(c, d->stek, d->replay ? &replay_ops : NULL, d->replay, err, len);
}

/* The slow part (files, certificates) runs outside the lock; the loops
 * wait only for the swap. */
int daemon_reload(struct daemon *d, char *err, size_t len)
{
	struct dconfig c;
	tls_config *t = NULL, *old;

	pthread_mutex_lock(&d->reload_lock);
	if (config_load(&c, d->argc, d->argv, err, len) != 0 || load_ticket_keys(d, &c, err, len) != 0 ||
	    !(t = build(d, &c, err, len)) || client_setup(d, &c, true, err, len) != 0 ||
	    upcall_setup(d, &c, true, err, len) != 0) {
		log_ev(LOG_ERR, "reload_failed", "error=%s%s%s%s text=\"the old configuration stays\"", log_q(err),
		       d->cfg.user && strstr(err, strerror(EACCES)) ? " user=" : "",
		       d->cfg.user && strstr(err, strerror(EACCES)) ? log_q(d->cfg.user) : "",
		       d->cfg.user && strstr(err, strerror(EACCES)) ? " hint=\"the files must be readable by the user\"" : "");
		tls_config_free(t);
		config_free(&c);
		stats_reload(&d->stats, false);
		pthread_mutex_unlock(&d->reload_lock);
		return -1;
	}
	if (c.handoff_off != d->cfg.handoff_off || c.upcall != d->cfg.upcall ||
	    (!d->listen_passed && c.handoff_path && d->cfg.handoff_path &&
	     strcmp(c.handoff_path, d->cfg.handoff_path) != 0) ||
	    c.handoff_mode != d->cfg.handoff_mode)
		log_ev(LOG_WARN, "restart_needed", "setting=handoff handoff=%s upcall=%s "
		       "text=\"the handoff socket and the upcall change only on restart\"",
		       log_q(d->listen_fd >= 0 ? d->cfg.handoff_path : "off"), d->upcall ? "on" : "off");
	if (strcmp(c.control_path, d->cfg.control_path) != 0 || c.loops != d->cfg.loops)
		log_ev(LOG_WARN, "restart_needed", "setting=control "
		       "text=\"the control socket and the number of loops change only on restart\"");
	if (!c.metrics_listen != !d->cfg.metrics_listen ||
	    (c.metrics_listen && strcmp(c.metrics_listen, d->cfg.metrics_listen) != 0))
		log_ev(LOG_WARN, "restart_needed", "setting=metrics metrics=%s "
		       "text=\"the metrics listener changes only on restart\"", log_q(d->cfg.metrics_listen));
	if (!c.user != !d->cfg.user || (c.user && strcmp(c.user, d->cfg.user) != 0) || !c.group != !d->cfg.group ||
	    (c.group && strcmp(c.group, d->cfg.group) != 0) || c.seccomp_off != d->cfg.seccomp_off)
		log_ev(LOG_WARN, "restart_needed", "setting=daemon "
		       "text=\"the user, group and seccomp change only on restart\"");
	if (c.ticket_cache != d->cfg.ticket_cache)
		log_ev(LOG_WARN, "restart_needed", "setting=ticket_cache ticket_cache=%zu "
		       "text=\"the client ticket cache size changes only on restart\"", d->cfg.ticket_cache);
	/* keep the sockets we are listening on, and the loops we run */
	free(c.handoff_path);
	free(c.control_path);
	free(c.metrics_listen);
	pthread_rwlock_wrlock(&d->lock);
	c.handoff_path = d->cfg.handoff_path;
	c.control_path = d->cfg.control_path;
	c.metrics_listen = d->cfg.metrics_listen;
	d->cfg.handoff_path = d->cfg.control_path = d->cfg.metrics_listen = NULL;
	c.handoff_mode = d->cfg.handoff_mode;
	c.handoff_off = d->cfg.handoff_off;
	c.upcall = d->cfg.upcall;
	c.loops = d->cfg.loops;
	free(c.user);              /* and who we are: privs_enter ran at start */
	free(c.group);
	c.user = d->cfg.user;
	c.group = d->cfg.group;
	d->cfg.user = d->cfg.group = NULL;
	c.seccomp_off = d->cfg.seccomp_off;
	config_free(&d->cfg);
	d->cfg = c;
	old = d->tls;
	d->tls = t;
	log_set_level(d->cfg.log_level);
	pthread_rwlock_unlock(&d->lock);
	tls_config_free(old);      /* handshakes under way keep their reference */
	stats_reload(&d->stats, true);
	log_ev(LOG_INFO, "reloaded", "certificates=%zu", d->cfg.n_certs);
	/* renewed certificates: their new expiry, and the warning if due */
	certs_free(&d->certs);
	certs_inspect(&d->cfg, &d->certs);
	certs_log(&d->certs, (int64_t)time(NULL));
	pthread_mutex_unlock(&d->reload_lock);
	return 0;
}

static void *loop_thread(void *arg)
{
	struct loop *l = arg;
	uint64_t one = 1;

	l->rc = loop_run(l);
	if (l->rc != 0)
		__atomic_store_n(&l->d->loop_failed, true, __ATOMIC_RELEASE);
	/* the supervisor stops the others if this one ended on its own */
	if (write(l->d->sup_fd, &one, sizeof(one)) < 0)
		log_ev(LOG_ERR, "loop_error", "loop=%u error=%s text=\"telling the supervisor\"", l->index,
		       log_q(strerror(errno)));
	return NULL;
}

/* Starts the loops and supervises them; 0 when all drained cleanly. */
static int run(struct daemon *d)
{
	unsigned n = d->cfg.loops, started = 0, made = 0;
	pthread_rwlockattr_t ra;
	sigset_t set;
	int rc = -1;

	/* a reload must not wait behind a steady stream of batches */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&d->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&d->reload_lock, NULL);
	/* blocked before any thread starts: only the supervisor's signalfd sees them */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (!(d->loops = calloc(n, sizeof(*d->loops))) || handoff_listen(d) != 0 || control_listen(d) != 0 ||
	    metrics_listen(d) != 0)
		goto out;
	if ((d->sup_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		log_ev(LOG_ERR, "loop_error", "error=%s text=\"the supervisor's eventfd\"", log_q(strerror(errno)));
		goto out;
	}
	for (; made < n; made++)
		if (loop_init(&d->loops[made], d, made) != 0)
			goto out;
	/* the privileged start is over: no thread runs yet, all inherit */
	if (privs_enter(d) != 0 || (!d->cfg.seccomp_off && sandbox_seccomp() != 0))
		goto out;
	for (; started < n; started++) {
		int e = pthread_create(&d->loops[started].thread, NULL, loop_thread, &d->loops[started]);
		if (e) {
			log_ev(LOG_ERR, "loop_error", "loop=%u error=%s text=\"starting the thread\"", started,
			       log_q(strerror(e)));
			break;
		}
	}
	d->n_loops = started;
	if (started == n) {
		/* requests may go to any loop now that all run (spread.c) */
		__atomic_store_n(&d->spread_loops, n > 1 ? n : 0, __ATOMIC_RELEASE);
		log_ev(LOG_INFO, "ready", "loops=%u certificates=%zu deadline_ms=%u max_inflight=%u max_per_app=%u "
		       "tickets=%u early_data=%u handoff=%s upcall=%s metrics=%s", n, d->cfg.n_certs,
		       d->cfg.deadline_ms, d->cfg.max_inflight, d->cfg.max_per_app, d->cfg.tickets, d->cfg.early_max,
		       d->listen_fd >= 0 ? "on" : "off", d->upcall ? "on" : "off", log_q(d->cfg.metrics_listen));
		rc = supervise(d);
	} else {
		__atomic_store_n(&d->stopping, true, __ATOMIC_RELEASE);
		for (unsigned i = 0; i < started; i++)
			loop_wake(&d->loops[i]);
	}
	for (unsigned i = 0; i < started; i++) {
		pthread_join(d->loops[i].thread, NULL);
		if (d->loops[i].rc != 0)
			rc = -1;
	}
out:
	for (unsigned i = 0; i < made; i++)
		loop_free(&d->loops[i]);
	free(d->loops);
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		if (!d->listen_passed)
			privs_unlink(d->cfg.handoff_path);
	}
	if (d->ctl_fd >= 0) {
		close(d->ctl_fd);
		privs_unlink(d->cfg.control_path);
	}
	metrics_close(d);
	if (d->sup_fd >= 0)
		close(d->sup_fd);
	return rc;
}

int main(int argc, char **argv)
{
	struct daemon d = { .argc = argc, .argv = argv, .self_uid = getuid(), .listen_fd = -1, .sup_fd = -1,
			  .ctl_fd = -1 };
	char err[1024];
	int rc = 1;

	if (sandbox_secure_heap_init() != 0)  /* before libcrypto allocates, before any key is read */
		return 1;
	if (config_load(&d.cfg, argc, argv, err, sizeof(err)) != 0) {
		log_ev(LOG_ERR, "start_failed", "error=%s", log_q(err));
		config_free(&d.cfg);
		return 1;
	}
	if (d.cfg.help) {
		config_usage(stdout);
		config_free(&d.cfg);
		return 0;
	}
	log_set_level(d.cfg.log_level);
	sdnotify_init();
	signal(SIGPIPE, SIG_IGN);
	if (load_ticket_keys(&d, &d.cfg, err, sizeof(err)) != 0 || !(d.tls = build(&d, &d.cfg, err, sizeof(err))) ||
	    client_setup(&d, &d.cfg, false, err, sizeof(err)) != 0 ||
	    upcall_setup(&d, &d.cfg, false, err, sizeof(err)) != 0) {
		log_ev(LOG_ERR, "start_failed", "error=%s", log_q(err));
		goto out;
	}
	certs_inspect(&d.cfg, &d.certs);
	certs_log(&d.certs, (int64_t)time(NULL));
	if (d.cfg.check_only) {
		printf("configuration ok\n");
		rc = 0;
		goto out;
	}
	stats_init(&d.stats);
	rc = run(&d) == 0 ? 0 : 1;
	log_ev(LOG_INFO, "stopped", "status=%d", rc);
out:
	upcall_teardown(&d);
	client_teardown(&d);
	tls_config_free(d.tls);
	tls_replay_cache_free(d.replay);
	tls_stek_ring_free(d.stek);
	certs_free(&d.certs);
	config_free(&d.cfg);
	sandbox_secure_heap_done();
	return rc;
}
