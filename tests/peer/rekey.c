/* peer rekey-server: one connection through handshaked (hs_server_accept),
 * then a file sent in small records with send(2), so that a low re-key
 * threshold (hs_set_rekey_records) is crossed several times:
 *   explicit (default): hs_rekey_if_needed after every send;
 *   --auto: only hs_recv(MSG_DONTWAIT) after every send, which checks the
 *   TX sequence at most every HS_REKEY_CHECK_MS (a pause after each
 *   threshold's worth of records lets it come round).
 * Before sending it prints hs_info's offload state (hs_info_refresh) and
 * waits for --go FILE to exist, so a script can compare with ss -tie.
 * Lines on stderr start with "rekey:". Exit 0, 2 when the re-key failed
 * (the error printed: on Linux < 6.14 HS_R_REKEY_UNSUPPORTED), 1 else. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"

struct rk_opts {
	const char *handoff, *addr, *file, *go;
	uint64_t records;
	size_t chunk;
	bool automatic;
};

static const char *offload_name(enum hs_offload o)
{
	switch (o) {
	case HS_OFFLOAD_NONE:
		return "none";
	case HS_OFFLOAD_SOFTWARE:
		return "software";
	case HS_OFFLOAD_HARDWARE:
		return "hardware";
	case HS_OFFLOAD_HARDWARE_RECORD:
		return "hardware-record";
	case HS_OFFLOAD_UNKNOWN:
		break;
	}
	return "unknown";
}

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void wait_go(const char *path)
{
	for (int i = 0; path && i < 3000 && access(path, F_OK) != 0; i++)
		usleep(10000);
}

static int listen_on(const char *addr)
{
	struct addrinfo *ai;
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	char host[64], port[8];
	int one = 1, l;

	if (peer_resolve(addr, true, &ai) != 0)
		return -1;
	l = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(l, ai->ai_addr, ai->ai_addrlen) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) < 0 ||
	    getnameinfo((struct sockaddr *)&sa, len, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		fprintf(stderr, "rekey: listen on %s: %s\n", addr, strerror(errno));
		freeaddrinfo(ai);
		if (l >= 0)
			close(l);
		return -1;
	}
	freeaddrinfo(ai);
	fprintf(stderr, "rekey: listening on %s:%s\n", host, port);
	return l;
}

static int failed(hs_conn *c, const char *what, size_t sent)
{
	const struct hs_error *e = hs_last_error(c);
	fprintf(stderr, "rekey: %s failed after %zu bytes: reason=%s alert=%d errno=%s: %s\n", what, sent,
		hs_reason_name(e->reason), e->alert, strerror(e->sys_errno), e->text);
	fprintf(stderr, "rekey: key_updates_tx=%u\n", hs_info(c)->key_updates_tx);
	/* nothing more may reach the peer: TCP sends nothing after our FIN
	 * (kTLS still reports such sends as done; the script checks the peer) */
	for (int k = 1; k <= 2; k++) {
		if (send(hs_fd(c), "x", 1, MSG_NOSIGNAL) < 0)
			fprintf(stderr, "rekey: send %d after the end: %s\n", k, strerror(errno));
		else
			fprintf(stderr, "rekey: send %d after the end: accepted\n", k);
	}
	return 2;
}

/* The body: returns 0, or 2 on a re-key failure, 1 on another. */
static int serve(const struct rk_opts *o, hs_conn *c, const uint8_t *data, size_t size)
{
	int fd = hs_fd(c);
	size_t off = 0;
	uint64_t recs = 0;
	unsigned rekeys = 0;
	uint8_t in[256];

	while (off < size) {
		size_t n = size - off < o->chunk ? size - off : o->chunk;
		ssize_t w = send(fd, data + off, n, MSG_NOSIGNAL);
		int r;

		if (w < 0) {
			fprintf(stderr, "rekey: send after %zu bytes: %s\n", off, strerror(errno));
			return 1;
		}
		off += (size_t)w;
		recs++;
		if (!o->automatic) {
			r = hs_rekey_if_needed(c);
			if (r < 0)
				return failed(c, "hs_rekey_if_needed", off);
			rekeys += (unsigned)r;
			continue;
		}
		if (recs % o->records == 0)  /* let hs_recv's check come round */
			usleep((HS_REKEY_CHECK_MS + 20) * 1000);
		if (hs_recv(c, in, sizeof(in), MSG_DONTWAIT) >= 0 || errno != EAGAIN)
			return failed(c, "hs_recv", off);
	}
	fprintf(stderr, "rekey: sent %zu bytes in %llu records, %s re-keys %u\n", off, (unsigned long long)recs,
		o->automatic ? "hs_recv" : "hs_rekey_if_needed", o->automatic ? hs_info(c)->key_updates_tx : rekeys);
	if (!o->automatic) {
		/* the cost of a check that is not due: one getsockopt */
		const int n = 2000;
		double t0;
		int r = 0;

		t0 = now_ns();
		for (int i = 0; i < n; i++)
			r |= hs_rekey_if_needed(c);
		fprintf(stderr, "rekey: hs_rekey_if_needed not due: %.0f ns per call%s\n", (now_ns() - t0) / n,
			r ? " (but it re-keyed)" : "");
	}
	return 0;
}

static int run(const struct rk_opts *o, const uint8_t *data, size_t size)
{
	struct hs_opts ho = { .socket_path = o->handoff };
	struct hs_error err;
	const struct hs_info *i;
	hs_conn *c;
	int l, fd, r;

	if ((l = listen_on(o->addr)) < 0)
		return 1;
	fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	if (fd < 0) {
		fprintf(stderr, "rekey: accept: %s\n", strerror(errno));
		return 1;
	}
	if (hs_server_accept(fd, &ho, &c, &err) != 0) {
		fprintf(stderr, "rekey: handoff failed: %s (%s)\n", err.text, hs_reason_name(err.reason));
		close(fd);
		return 1;
	}
	hs_set_rekey_records(c, o->records);
	i = hs_info(c);
	if (hs_info_refresh(c) == 0)
		fprintf(stderr, "rekey: %s offload tx=%s rx=%s\n", i->cipher_name, offload_name(i->offload_tx),
			offload_name(i->offload_rx));
	else
		fprintf(stderr, "rekey: hs_info_refresh failed: %s\n", hs_last_error(c)->text);
	wait_go(o->go);
	r = serve(o, c, data, size);
	if (r == 0) {
		fprintf(stderr, "rekey: done key_updates_tx=%u key_updates_rx=%u\n", i->key_updates_tx,
			i->key_updates_rx);
		hs_shutdown(c);
	}
	hs_free(c);
	close(fd);
	return r;
}

static uint8_t *slurp(const char *path, size_t *size)
{
	struct stat st;
	uint8_t *p = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0 && (p = malloc((size_t)st.st_size)) &&
	    read(fd, p, (size_t)st.st_size) == st.st_size) {
		*size = (size_t)st.st_size;
	} else {
		fprintf(stderr, "rekey: %s: %s\n", path, strerror(errno ? errno : EIO));
		free(p);
		p = NULL;
	}
	if (fd >= 0)
		close(fd);
	return p;
}

int peer_rekey_server(int argc, char **argv)
{
	struct rk_opts o = { .chunk = 1000 };
	uint8_t *data;
	size_t size = 0;
	int r;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--auto")) {
			o.automatic = true;
			continue;
		}
		if (!v)
			goto usage;
		i++;
		if (!strcmp(a, "--handoff"))
			o.handoff = v;
		else if (!strcmp(a, "--listen"))
			o.addr = v;
		else if (!strcmp(a, "--file"))
			o.file = v;
		else if (!strcmp(a, "--go"))
			o.go = v;
		else if (!strcmp(a, "--records"))
			o.records = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--chunk"))
			o.chunk = strtoul(v, NULL, 10);
		else
			goto usage;
	}
	if (!o.handoff || !o.addr || !o.file || !o.records || !o.chunk || o.chunk > 16384)
		goto usage;
	if (!(data = slurp(o.file, &size)))
		return 1;
	r = run(&o, data, size);
	free(data);
	return r;
usage:
	fprintf(stderr, "usage: peer rekey-server --handoff PATH --listen ADDR:PORT --file F --records N\n"
			"                         [--chunk BYTES (1000, <= 16384)] [--auto] [--go FILE]\n");
	return 1;
}
