/* The control socket: a SOCK_STREAM unix socket, mode 0600, for root and
 * the daemon's own user (SO_PEERCRED). One line in ("stats prometheus\n"),
 * then the answer: a first line "ok" or "error: why", the body, and EOF.
 * docs/handshakectl.md. Served by the supervisor one client at a time
 * with 1 s timeouts, so a silent client delays signals by a second at
 * most and never touches a loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "sdnotify.h"
#include "metrics.h"
#include "tls/stek.h"

#define CMD_MAX 256

int control_listen(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->cfg.control_path);
	if (lstat(sa.sun_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_ev(LOG_ERR, "listen_failed", "socket=control path=%s text=\"exists and is not a socket\"",
			       log_q(sa.sun_path));
			return -1;
		}
		unlink(sa.sun_path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	/* created 0600: no window in which others could connect */
	old = umask(077);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		umask(old);
		log_ev(LOG_ERR, "listen_failed", "socket=control path=%s error=%s", log_q(sa.sun_path),
		       log_q(strerror(errno)));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	umask(old);
	d->ctl_fd = fd;
	log_ev(LOG_INFO, "listening", "socket=control path=%s", log_q(sa.sun_path));
	return 0;
}

/* The current ticket key's id (in every ticket: no secret) and age, so
 * that machines sharing a key file can be compared after a rotation.
 * Keys change only on this thread (reload, rotation timer, control). */
static void ticket_key_status(struct daemon *d, int64_t now, FILE *f)
{
	const tls_stek *k = tls_stek_ring_key(d->stek, 0);
	char when[32] = "?";
	time_t t;
	struct tm tm;

	if (!k)
		return;
	t = (time_t)k->created;
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "ticket_key_current ");
	for (size_t i = 0; i < TLS_STEK_ID_LEN; i++)
		fprintf(f, "%02x", k->id[i]);
	fprintf(f, " created=%s age_s=%lld\n", when, (long long)(now - (int64_t)k->created));
}

static void status(struct daemon *d, FILE *f)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	fprintf(f, "state %s\n", __atomic_load_n(&d->stopping, __ATOMIC_ACQUIRE) ? "stopping" : "running");
	fprintf(f, "pid %d\n", (int)getpid());
	fprintf(f, "uptime %llu s\n", (unsigned long long)((now - d->stats.started_us) / 1000000));
	fprintf(f, "loops %u\n", d->n_loops);
	fprintf(f, "in_flight %lld\n", (long long)stats_inflight(&d->stats));
	fprintf(f, "config %s\n", d->cfg.file ? d->cfg.file : "-");
	fprintf(f, "handoff %s\n", d->listen_fd >= 0 ? d->cfg.handoff_path : "off");
	fprintf(f, "upcall %s\n", d->upcall ? "on" : "off");
	fprintf(f, "certificates %zu\n", d->cfg.n_certs);
	certs_print_status(&d->certs, (int64_t)ts.tv_sec, f);
	fprintf(f, "metrics %s\n", d->metrics ? d->cfg.metrics_listen : "off");
	fprintf(f, "ticket_keys %zu (%s)\n", tls_stek_ring_count(d->stek),
		tls_stek_ring_from_file(d->stek) ? d->cfg.ticket_key_file : "in memory");
	ticket_key_status(d, (int64_t)ts.tv_sec, f);
	fprintf(f, "limits max_inflight=%u max_per_app=%u deadline_ms=%u\n", d->cfg.max_inflight,
		d->cfg.max_per_app, d->cfg.deadline_ms);
}

/* The reply to one command line into f; the first line says ok or not. */
static void command(struct daemon *d, char *line, FILE *f)
{
	char err[1024];
	char *argv[4];
	int argc = 0;

	for (char *t = strtok(line, " \t\r\n"); t && argc < 4; t = strtok(NULL, " \t\r\n"))
		argv[argc++] = t;
	if (argc == 1 && strcmp(argv[0], "status") == 0) {
		fprintf(f, "ok\n");
		status(d, f);
	} else if (argc == 1 && strcmp(argv[0], "stats") == 0) {
		fprintf(f, "ok\n");
		stats_print_table(&d->stats, d->n_loops, f);
	} else if (argc == 2 && strcmp(argv[0], "stats") == 0 && strcmp(argv[1], "prometheus") == 0) {
		fprintf(f, "ok\n");
		metrics_print(d, f);
	} else if (argc == 1 && strcmp(argv[0], "reload") == 0) {
		log_ev(LOG_INFO, "reload_requested", "by=control");
		sdnotify_reloading();      /* systemd hears of this reload too */
		bool reloaded = daemon_reload(d, err, sizeof(err)) == 0;
		sdnotify_reloaded(d, reloaded ? NULL : err);
		if (reloaded)
			fprintf(f, "ok\nconfiguration reloaded: %zu certificates\n", d->cfg.n_certs);
		else
			fprintf(f, "error: %s\n", err);
	} else if (argc == 1 && strcmp(argv[0], "rotate-tickets") == 0) {
		/* a shared key file is the operator's to rotate: the machines
		 * sharing it must agree on the keys */
		if (tls_stek_ring_from_file(d->stek))
			fprintf(f, "error: the ticket keys come from %s: rotate it with "
				   "'handshakectl ticket-keys rotate', then reload\n", d->cfg.ticket_key_file);
		else if (tls_stek_ring_rotate(d->stek, (uint64_t)time(NULL)) != 0)
			fprintf(f, "error: rotation failed (random generator)\n");
		else {
			log_ev(LOG_INFO, "ticket_key_rotated", "by=control keys=%zu", tls_stek_ring_count(d->stek));
			fprintf(f, "ok\nsession ticket key rotated: %zu keys\n", tls_stek_ring_count(d->stek));
		}
	} else {
		fprintf(f, "error: unknown command (status, stats [prometheus], reload, rotate-tickets)\n");
	}
}

void control_serve(struct daemon *d, int fd)
{
	struct timeval tv = { .tv_sec = 1 };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char line[CMD_MAX + 1], *out = NULL;
	size_t got = 0, outlen = 0;
	FILE *f;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
	    (cred.uid != 0 && cred.uid != d->self_uid)) {
		log_ev(LOG_WARN, "control_refused", "uid=%d", len == sizeof(cred) ? (int)cred.uid : -1);
		close(fd);
		return;
	}
	/* the accepted fd is blocking (accept4 without SOCK_NONBLOCK) */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (got < CMD_MAX && !memchr(line, '\n', got)) {
		ssize_t n = recv(fd, line + got, CMD_MAX - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	line[got] = 0;
	if (!memchr(line, '\n', got)) {
		close(fd);             /* no whole line in time: nothing to answer */
		return;
	}
	if (!(f = open_memstream(&out, &outlen))) {
		close(fd);
		return;
	}
	command(d, line, f);
	fclose(f);
	for (size_t off = 0; off < outlen;) {
		ssize_t n = send(fd, out + off, outlen - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	free(out);
	close(fd);
}
