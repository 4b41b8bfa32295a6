/* The metrics listener (metrics.h). Each connection is a slot with its
 * request head, its answer and a deadline; the supervisor polls them with
 * everything else it watches, so a slow or silent scraper costs a slot
 * until its deadline and never delays a signal, a reload or a loop. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "privs.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct mconn {
	int fd;                    /* -1: a free slot */
	uint64_t deadline_ms;
	size_t got;
	char req[METRICS_REQ_MAX + 1];
	char *out;                 /* the whole answer, once the head is in */
	size_t out_len, sent;
};

struct metrics {
	int fd;
	char *unix_path;           /* unlinked at close */
	struct mconn c[METRICS_CONNS];
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void metrics_print(struct daemon *d, FILE *f)
{
	tls_stek_stats ts;

	stats_print_prometheus(&d->stats, d->n_loops, f);
	/* tickets from another fleet or rotated out show as unknown_key */
	tls_stek_ring_stats(d->stek, &ts);
	fprintf(f, "# HELP handshaked_ticket_opens_total Session tickets offered for resumption, by what became "
		   "of them.\n# TYPE handshaked_ticket_opens_total counter\n"
		   "handshaked_ticket_opens_total{result=\"opened\"} %llu\n"
		   "handshaked_ticket_opens_total{result=\"unknown_key\"} %llu\n"
		   "handshaked_ticket_opens_total{result=\"tampered\"} %llu\n"
		   "handshaked_ticket_opens_total{result=\"expired\"} %llu\n"
		   "handshaked_ticket_opens_total{result=\"malformed\"} %llu\n",
		(unsigned long long)ts.opened, (unsigned long long)ts.unknown_key, (unsigned long long)ts.tampered,
		(unsigned long long)ts.expired, (unsigned long long)ts.malformed);
	fprintf(f, "# HELP handshaked_ticket_keys Session ticket keys held (the current one and those that "
		   "still decrypt).\n# TYPE handshaked_ticket_keys gauge\nhandshaked_ticket_keys %zu\n",
		tls_stek_ring_count(d->stek));
	certs_print_prometheus(&d->certs, f);
}

int metrics_listen(struct daemon *d)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct metrics *m;
	char err[256];
	int one = 1;
	mode_t old;

	if (!d->cfg.metrics_listen)
		return 0;
	if (metrics_addr_parse(d->cfg.metrics_listen, &ss, &sl, err, sizeof(err)) != 0) {
		log_ev(LOG_ERR, "listen_failed", "socket=metrics text=%s", log_q(err));
		return -1;
	}
	if (!(m = calloc(1, sizeof(*m)))) {
		log_ev(LOG_ERR, "out_of_memory", "for=metrics");
		return -1;
	}
	for (unsigned i = 0; i < METRICS_CONNS; i++)
		m->c[i].fd = -1;
	if (ss.ss_family == AF_UNIX) {
		const char *path = ((struct sockaddr_un *)&ss)->sun_path;
		struct stat st;

		if (lstat(path, &st) == 0) {
			if (!S_ISSOCK(st.st_mode)) {
				log_ev(LOG_ERR, "listen_failed", "socket=metrics path=%s "
				       "text=\"exists and is not a socket\"", log_q(path));
				free(m);
				return -1;
			}
			unlink(path);
		}
		m->unix_path = strdup(path);
	}
	m->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->fd >= 0 && ss.ss_family != AF_UNIX)
		setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* a unix socket is made 0666: the same as a loopback port, which
	 * every local user can reach (counters are not secrets) */
	old = umask(0111);
	if (m->fd < 0 || bind(m->fd, (struct sockaddr *)&ss, sl) != 0 || listen(m->fd, 16) != 0) {
		umask(old);
		log_ev(LOG_ERR, "listen_failed", "socket=metrics address=%s error=%s", log_q(d->cfg.metrics_listen),
		       log_q(strerror(errno)));
		if (m->fd >= 0)
			close(m->fd);
		free(m->unix_path);
		free(m);
		return -1;
	}
	umask(old);
	d->metrics = m;
	log_ev(LOG_INFO, "listening", "socket=metrics address=%s path=/metrics", log_q(d->cfg.metrics_listen));
	return 0;
}

static void drop(struct mconn *c)
{
	close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
	c->got = c->out_len = c->sent = 0;
}

void metrics_close(struct daemon *d)
{
	struct metrics *m = d->metrics;

	if (!m)
		return;
	for (unsigned i = 0; i < METRICS_CONNS; i++)
		if (m->c[i].fd >= 0)
			drop(&m->c[i]);
	close(m->fd);
	if (m->unix_path)
		privs_unlink(m->unix_path);
	free(m->unix_path);
	free(m);
	d->metrics = NULL;
}

int metrics_pollfds(struct daemon *d, struct pollfd *p, int *timeout_ms)
{
	struct metrics *m = d->metrics;
	uint64_t now = now_ms();
	bool room = false;
	int n = 0;

	if (!m)
		return 0;
	for (unsigned i = 0; i < METRICS_CONNS; i++) {
		struct mconn *c = &m->c[i];
		if (c->fd < 0) {
			room = true;
			continue;
		}
		p[n++] = (struct pollfd){ .fd = c->fd, .events = c->out ? POLLOUT : POLLIN };
		int left = c->deadline_ms > now ? (int)(c->deadline_ms - now) : 0;
		if (left < *timeout_ms)
			*timeout_ms = left;
	}
	/* all slots busy: new scrapers wait in the backlog */
	if (room)
		p[n++] = (struct pollfd){ .fd = m->fd, .events = POLLIN };
	return n;
}

/* The answer to the head in c->req (NUL-terminated). */
static void answer(struct daemon *d, struct mconn *c)
{
	char method[16], target[256], version[16];
	const char *status = "200 OK", *extra = "";
	char *body = NULL;
	size_t body_len = 0;
	bool head = false;
	FILE *f;

	if (sscanf(c->req, "%15s %255s %15s", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1') || version[8])
		status = "400 Bad Request";
	else if (strcmp(method, "GET") != 0 && !(head = strcmp(method, "HEAD") == 0)) {
		status = "405 Method Not Allowed";
		extra = "Allow: GET, HEAD\r\n";
	} else if (strcmp(target, "/metrics") != 0 && strncmp(target, "/metrics?", 9) != 0)
		status = "404 Not Found";
	if (!(f = open_memstream(&body, &body_len)))
		return;                /* c->out stays NULL: dropped below */
	if (strcmp(status, "200 OK") == 0)
		metrics_print(d, f);
	else
		fprintf(f, "%s\n", status);
	fclose(f);
	if (!body)
		return;
	f = open_memstream(&c->out, &c->out_len);
	if (f) {
		fprintf(f, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
			status, strcmp(status, "200 OK") == 0 ? CONTENT_TYPE : "text/plain; charset=utf-8", body_len,
			extra);
		if (!head)
			fwrite(body, 1, body_len, f);
		fclose(f);
	}
	log_ev(LOG_DEBUG, "metrics_request", "method=%s target=%s status=%.3s bytes=%zu", log_q(method),
	       log_q(target), status, c->out_len);
	free(body);
}

/* Reads what is there; once the head is whole, builds the answer. */
static void on_in(struct daemon *d, struct mconn *c)
{
	ssize_t r = recv(c->fd, c->req + c->got, METRICS_REQ_MAX - c->got, MSG_DONTWAIT);

	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		drop(c);
		return;
	}
	if (r < 0)
		return;
	c->got += (size_t)r;
	c->req[c->got] = '\0';
	if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n")) {
		answer(d, c);
	} else if (c->got == METRICS_REQ_MAX) {
		static const char too[] = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
					  "Connection: close\r\n\r\n";
		c->out = strdup(too);
		c->out_len = c->out ? sizeof(too) - 1 : 0;
	} else {
		return;                /* more of the head to come */
	}
	if (!c->out)
		drop(c);               /* out of memory: no answer at all */
}

static void on_out(struct mconn *c)
{
	ssize_t r = send(c->fd, c->out + c->sent, c->out_len - c->sent, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (r > 0 && (c->sent += (size_t)r) < c->out_len)
		return;
	/* all sent (or the scraper went): FIN, then close; a request body
	 * left unread could turn the close into a reset, so take it first */
	if (r > 0) {
		char sink[512];
		shutdown(c->fd, SHUT_WR);
		while (recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
	}
	drop(c);
}

static void on_accept(struct metrics *m)
{
	for (unsigned i = 0; i < METRICS_CONNS; i++) {
		struct mconn *c = &m->c[i];
		int fd;

		if (c->fd >= 0)
			continue;
		if ((fd = accept4(m->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
				log_ev(LOG_WARN, "accept_failed", "socket=metrics error=%s", log_q(strerror(errno)));
			return;
		}
		c->fd = fd;
		c->deadline_ms = now_ms() + METRICS_TIMEOUT_MS;
	}
}

void metrics_serve(struct daemon *d, const struct pollfd *p, int n)
{
	struct metrics *m = d->metrics;
	uint64_t now = now_ms();

	if (!m)
		return;
	for (int i = 0; i < n; i++) {
		if (!p[i].revents)
			continue;
		if (p[i].fd == m->fd) {
			on_accept(m);
			continue;
		}
		for (unsigned k = 0; k < METRICS_CONNS; k++) {
			struct mconn *c = &m->c[k];
			if (c->fd != p[i].fd)
				continue;
			if (!c->out)
				on_in(d, c);
			if (c->fd >= 0 && c->out)
				on_out(c);  /* most answers go out at once */
			break;
		}
	}
	for (unsigned k = 0; k < METRICS_CONNS; k++)
		if (m->c[k].fd >= 0 && m->c[k].deadline_ms <= now)
			drop(&m->c[k]);
}
