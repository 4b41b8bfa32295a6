/* kstatic: an HTTP/1.1 static file server on kernel TLS. Handshakes are
 * handshaked's (libhandshake's async API); bodies go out with sendfile()
 * through kTLS. This file: options, the listeners, the worker threads and
 * the signals. */
#include "kstatic.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_path.h"

#define MAX_THREADS 256

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kstatic --root DIR --listen ADDR:PORT --handoff SOCKET [--threads N]\n"
		"               [--access-log FILE] [--max-conns N] [--max-header BYTES]\n"
		"               [--handshake-timeout MS] [--header-timeout MS] [--idle-timeout MS]\n"
		"               [--send-timeout MS] [--grace MS]\n"
		"       kstatic --help\n"
		"Serves the files under DIR over HTTPS (HTTP/1.1, GET and HEAD): handshakes by\n"
		"handshaked through SOCKET, bodies by sendfile() on kernel TLS.\n"
		"  --root DIR              the document root; no request leaves it\n"
		"  --listen ADDR:PORT      where to listen (port 0: any; [v6]:PORT)\n"
		"  --handoff SOCKET        handshaked's handoff socket\n"
		"  --threads N             worker threads, one event loop each (1)\n"
		"  --access-log FILE       one line per request (default: standard output)\n"
		"  --max-conns N           open connections at most, all threads (10000)\n"
		"  --max-header BYTES      request head cap, 431 above (8192)\n"
		"  --handshake-timeout MS  a handshake's deadline in handshaked (10000)\n"
		"  --header-timeout MS     a request head must arrive within (10000)\n"
		"  --idle-timeout MS       keep-alive between requests (60000)\n"
		"  --send-timeout MS       a response that makes no progress (60000)\n"
		"  --grace MS              on SIGTERM, in-flight responses may finish (10000)\n");
}

/* A positive integer option, or exit with a clear error. */
static long number(const char *name, const char *v, long min, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < min || n > max) {
		fprintf(stderr, "kstatic: --%s %s: not a number in [%ld, %ld]\n", name, v, min, max);
		exit(2);
	}
	return n;
}

static int parse_args(int argc, char **argv, struct kstatic_opts *o)
{
	static const struct option longs[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "listen", required_argument, NULL, 'l' },
		{ "handoff", required_argument, NULL, 'H' },
		{ "threads", required_argument, NULL, 't' },
		{ "access-log", required_argument, NULL, 'a' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "max-header", required_argument, NULL, 'x' },
		{ "handshake-timeout", required_argument, NULL, 'S' },
		{ "header-timeout", required_argument, NULL, 'R' },
		{ "idle-timeout", required_argument, NULL, 'I' },
		{ "send-timeout", required_argument, NULL, 'W' },
		{ "grace", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*o = (struct kstatic_opts){
		.threads = 1,
		.max_conns = 10000,
		.max_head = HTTP_HEAD_DEFAULT_MAX,
		.handshake_ms = 10000,
		.header_ms = 10000,
		.idle_ms = 60000,
		.send_ms = 60000,
		.grace_ms = 10000,
	};
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (ch) {
		case 'r': o->root = optarg; break;
		case 'l': o->listen = optarg; break;
		case 'H': o->handoff = optarg; break;
		case 'a': o->access_log = optarg; break;
		case 't': o->threads = (int)number("threads", optarg, 1, MAX_THREADS); break;
		case 'm': o->max_conns = (unsigned)number("max-conns", optarg, 1, 1000000); break;
		case 'x': o->max_head = (size_t)number("max-header", optarg, 256, 65536); break;
		case 'S': o->handshake_ms = (int)number("handshake-timeout", optarg, 1, 600000); break;
		case 'R': o->header_ms = (int)number("header-timeout", optarg, 1, 600000); break;
		case 'I': o->idle_ms = (int)number("idle-timeout", optarg, 1, 3600000); break;
		case 'W': o->send_ms = (int)number("send-timeout", optarg, 1, 3600000); break;
		case 'g': o->grace_ms = (int)number("grace", optarg, 0, 600000); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc || !o->root || !o->listen || !o->handoff) {
		fprintf(stderr, "kstatic: %s\n",
			optind != argc ? "unexpected argument" : "--root, --listen and --handoff are needed");
		usage(stderr);
		return -1;
	}
	if (o->max_conns < (unsigned)o->threads)
		o->max_conns = (unsigned)o->threads;
	return 0;
}

/* ADDR:PORT or [ADDR]:PORT (numeric or a name) into one address. */
static int resolve(const char *spec, struct sockaddr_storage *sa, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
	size_t hl;
	int e;

	if (!colon || !colon[1]) {
		fprintf(stderr, "kstatic: --listen %s: ADDR:PORT expected\n", spec);
		return -1;
	}
	hl = (size_t)(colon - spec);
	if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		fprintf(stderr, "kstatic: --listen: address too long\n");
		return -1;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if ((e = getaddrinfo(hl ? host : NULL, colon + 1, &hints, &ai)) != 0) {
		fprintf(stderr, "kstatic: --listen %s: %s\n", spec, gai_strerror(e));
		return -1;
	}
	memcpy(sa, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* One listener; every worker has its own on the same address. */
static int listen_on(const struct sockaddr_storage *sa, socklen_t len)
{
	int one = 1;
	int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    bind(fd, (const struct sockaddr *)sa, len) != 0 || listen(fd, 1024) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct kstatic_opts o;
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	struct worker *ws = NULL;
	pthread_t *tids = NULL;
	char err[512], host[INET6_ADDRSTRLEN], port[16];
	int root_fd = -1, log_fd = STDOUT_FILENO, started = 0, sig = 0, rc = 1;
	uint64_t requests = 0, failures = 0;
	sigset_t set;

	if (parse_args(argc, argv, &o) != 0)
		return 2;
	if ((root_fd = http_root_open(o.root, err, sizeof(err))) < 0) {
		fprintf(stderr, "kstatic: --root: %s\n", err);
		return 1;
	}
	if (o.access_log && (log_fd = open(o.access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) < 0) {
		fprintf(stderr, "kstatic: --access-log %s: %s\n", o.access_log, strerror(errno));
		goto out;
	}
	if (resolve(o.listen, &sa, &salen) != 0)
		goto out;
	ws = calloc((size_t)o.threads, sizeof(*ws));
	tids = calloc((size_t)o.threads, sizeof(*tids));
	if (!ws || !tids) {
		fprintf(stderr, "kstatic: out of memory\n");
		goto out;
	}
	for (int i = 0; i < o.threads; i++) {
		int lfd = listen_on(&sa, salen);
		if (lfd < 0) {
			fprintf(stderr, "kstatic: listen on %s: %s\n", o.listen, strerror(errno));
			goto out;
		}
		/* port 0: the others bind the port the first one got */
		if (i == 0 && getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0) {
			close(lfd);
			goto out;
		}
		if (worker_init(&ws[i], &o, i, lfd, root_fd, log_fd, err, sizeof(err)) != 0) {
			fprintf(stderr, "kstatic: %s\n", err);
			close(lfd);
			ws[i].lfd = -1;
			goto out;
		}
	}
	/* signals go to this thread only (sigwait); the workers never see them */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (; started < o.threads; started++) {
		int e = pthread_create(&tids[started], NULL, worker_run, &ws[started]);
		if (e) {
			fprintf(stderr, "kstatic: pthread_create: %s\n", strerror(e));
			break;
		}
	}
	if (started == o.threads) {
		getnameinfo((struct sockaddr *)&sa, salen, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
		fprintf(stderr, "kstatic: listening on %s%s%s:%s, %d thread%s, root %s, handoff %s (%zu bytes per connection)\n",
			sa.ss_family == AF_INET6 ? "[" : "", host, sa.ss_family == AF_INET6 ? "]" : "", port,
			o.threads, o.threads == 1 ? "" : "s", o.root, o.handoff, sizeof(struct conn));
		sigwait(&set, &sig);
		fprintf(stderr, "kstatic: %s: stopping (grace %d ms)\n", strsignal(sig), o.grace_ms);
		rc = 0;
	}
	for (int i = 0; i < started; i++) {
		uint64_t one = 1;
		if (write(ws[i].stop_fd, &one, sizeof(one)) < 0)
			fprintf(stderr, "kstatic: stop: %s\n", strerror(errno));
	}
	for (int i = 0; i < started; i++) {
		pthread_join(tids[i], NULL);
		requests += ws[i].requests;
		failures += ws[i].handshake_failures;
	}
	if (started == o.threads)
		fprintf(stderr, "kstatic: stopped: %llu requests, %llu failed handshakes\n",
			(unsigned long long)requests, (unsigned long long)failures);
out:
	/* workers never started own their resources here */
	for (int i = ws ? started : 0; ws && i < o.threads; i++) {
		if (ws[i].lfd > 0)
			close(ws[i].lfd);
		hs_async_free(ws[i].a);
		if (ws[i].ep > 0)
			close(ws[i].ep);
		if (ws[i].stop_fd > 0)
			close(ws[i].stop_fd);
	}
	free(ws);
	free(tids);
	if (log_fd != STDOUT_FILENO)
		close(log_fd);
	close(root_fd);
	return rc;
}
