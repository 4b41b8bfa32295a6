/* handshaked: TLS 1.3 handshakes for kernel TLS, for other processes.
 * Reads the configuration, owns what outlives a reload (the session
 * ticket keys, the 0-RTT anti-replay recorder), and runs the loop. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

/* The recorder is shared by every config across reloads, so the configs
 * must not free it: these ops have no destroy. */
static struct tls_antireplay_ops replay_ops;

/* Ticket keys: from the file (several machines share them; the operator
 * rotates the file, SIGHUP reloads it) or a fresh in-memory ring that the
 * loop's timer rotates. */
static int load_ticket_keys(struct daemon *d, const struct dconfig *c, char *err, size_t len)
{
	if (!d->stek) {
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
	if (!c->ticket_key_file != !tls_stek_ring_from_file(d->stek)) {
		/* configs in use borrow the ring: it cannot be swapped under them */
		log_msg(LOG_WARN, "switching between a ticket key file and in-memory keys needs a restart");
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
	replay_ops = tls_replay_cache_ops;
	replay_ops.destroy = NULL;
	return config_build_tls(c, d->stek, d->replay ? &replay_ops : NULL, d->replay, err, len);
}

void daemon_reload(struct daemon *d)
{
	struct dconfig c;
	char err[1024];
	tls_config *t = NULL;

	if (config_load(&c, d->argc, d->argv, err, sizeof(err)) != 0 ||
	    load_ticket_keys(d, &c, err, sizeof(err)) != 0 ||
	    !(t = build(d, &c, err, sizeof(err)))) {
		log_msg(LOG_ERR, "reload failed, the old configuration stays: %s", err);
		config_free(&c);
		return;
	}
	if (strcmp(c.handoff_path, d->cfg.handoff_path) != 0 || c.handoff_mode != d->cfg.handoff_mode)
		log_msg(LOG_WARN, "reload: the handoff socket changes only on restart (still %s)",
			d->cfg.handoff_path);
	/* keep the socket we are listening on */
	free(c.handoff_path);
	c.handoff_path = d->cfg.handoff_path;
	d->cfg.handoff_path = NULL;
	c.handoff_mode = d->cfg.handoff_mode;
	config_free(&d->cfg);
	d->cfg = c;
	tls_config_free(d->tls);   /* handshakes under way keep their reference */
	d->tls = t;
	log_set_level(d->cfg.log_level);
	log_msg(LOG_INFO, "configuration reloaded: %zu certificates", d->cfg.n_certs);
}

int main(int argc, char **argv)
{
	struct daemon d = { .argc = argc, .argv = argv, .self_uid = getuid() };
	struct loop l;
	char err[1024];
	int rc = 1;

	if (config_load(&d.cfg, argc, argv, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		config_free(&d.cfg);
		return 1;
	}
	if (d.cfg.help) {
		config_usage(stdout);
		config_free(&d.cfg);
		return 0;
	}
	log_set_level(d.cfg.log_level);
	signal(SIGPIPE, SIG_IGN);
	if (load_ticket_keys(&d, &d.cfg, err, sizeof(err)) != 0 || !(d.tls = build(&d, &d.cfg, err, sizeof(err)))) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	if (d.cfg.check_only) {
		printf("configuration ok\n");
		rc = 0;
		goto out;
	}
	if (loop_init(&l, &d) != 0)
		goto out;
	log_msg(LOG_INFO, "ready: %zu certificates, deadline %u ms, max %u in flight, tickets %u, 0-RTT %u bytes",
		d.cfg.n_certs, d.cfg.deadline_ms, d.cfg.max_inflight, d.cfg.tickets, d.cfg.early_max);
	rc = loop_run(&l) == 0 ? 0 : 1;
	loop_free(&l);
	log_msg(LOG_INFO, "stopped");
out:
	tls_config_free(d.tls);
	tls_replay_cache_free(d.replay);
	tls_stek_ring_free(d.stek);
	config_free(&d.cfg);
	return rc;
}
