/* peer txpend-server / txpend-client: libhandshake's owed KeyUpdate
 * (hs_tx_pending, RFC 8446 §4.6.3) on a non-blocking kTLS socket.
 *
 *   peer txpend-server --handoff PATH --listen ADDR:PORT --full F --pending F
 *               [--after BYTES]
 *   peer txpend-client HOST:PORT --full F --pending F
 *
 * The server (hs_server_accept through handshaked) sends a counter pattern
 * until send() says EAGAIN, then creates --full. The client (our engine,
 * userspace records) has not read a byte; it now sends
 * KeyUpdate(update_requested) and waits for --pending. The server fills
 * its buffer again and calls hs_recv(MSG_DONTWAIT) twice: each must return
 * -1/EAGAIN with hs_tx_pending() true (the answer owed, the connection
 * alive); then it creates --pending. The client reads everything, one
 * record at a time; the server polls for POLLOUT, calls hs_recv until the
 * answer went out, sends --after more bytes and close_notify. The client
 * checks every byte against the pattern and where the server's KeyUpdate
 * fell: exactly after the bytes sent before it.
 * Lines on stderr start with "txpend:" / "txpend-client:". Exit 0; 2 when
 * a libhandshake call failed (the error printed; on Linux < 6.14 the
 * documented refusal HS_R_REKEY_UNSUPPORTED); 1 otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"

#define WAIT_MS 20000              /* for a file or the socket: TCG is slow */
#define SMALL_BUF 32768            /* socket buffers: filled in few records */

/* Byte i of the stream: the 4-byte big-endian index of its word, so any
 * lost, repeated or reordered byte shows at its offset. */
static uint8_t pattern(uint64_t i)
{
	return (uint8_t)((i / 4) >> (8 * (3 - i % 4)));
}

static bool wait_file(const char *path)
{
	for (int i = 0; i < WAIT_MS / 10; i++) {
		if (access(path, F_OK) == 0)
			return true;
		usleep(10000);
	}
	return false;
}

static void create_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	else
		fprintf(stderr, "txpend: %s: %s\n", path, strerror(errno));
}

static bool wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	do
		r = poll(&p, 1, WAIT_MS);
	while (r < 0 && errno == EINTR);
	return r == 1;
}

/* ---- server ---- */

struct tp_opts {
	const char *handoff, *addr, *full, *pending;
	size_t after;
};

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
		fprintf(stderr, "txpend: listen on %s: %s\n", addr, strerror(errno));
		freeaddrinfo(ai);
		if (l >= 0)
			close(l);
		return -1;
	}
	freeaddrinfo(ai);
	fprintf(stderr, "txpend: listening on %s:%s\n", host, port);
	return l;
}

/* Sends the pattern from *off until EAGAIN (limit: stop there anyway).
 * 0, or -1 when send failed otherwise. */
static int send_pattern(int fd, uint64_t *off, uint64_t limit)
{
	uint8_t buf[4096];

	while (*off < limit) {
		size_t n = limit - *off < sizeof(buf) ? (size_t)(limit - *off) : sizeof(buf);
		ssize_t w;

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(*off + i);
		w = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return 0;
		if (w < 0) {
			fprintf(stderr, "txpend: send after %llu bytes: %s\n", (unsigned long long)*off,
				strerror(errno));
			return -1;
		}
		*off += (uint64_t)w;
	}
	return 0;
}

static int hs_failed(hs_conn *c, const char *what)
{
	const struct hs_error *e = hs_last_error(c);
	fprintf(stderr, "txpend: %s failed: reason=%s alert=%d errno=%s: %s\n", what, hs_reason_name(e->reason),
		e->alert, strerror(e->sys_errno), e->text);
	return 2;
}

/* hs_recv(MSG_DONTWAIT) with the send buffer full: -1/EAGAIN, answer owed. */
static int owed_check(hs_conn *c, int n)
{
	const struct hs_info *i = hs_info(c);
	uint8_t in[256];
	ssize_t r = hs_recv(c, in, sizeof(in), MSG_DONTWAIT);
	int e = errno;

	fprintf(stderr, "txpend: hs_recv %d with the send buffer full: %zd errno=%s pending=%s ku_rx=%u ku_tx=%u\n",
		n, r, r < 0 ? strerror(e) : "-", hs_tx_pending(c) ? "yes" : "no", i->key_updates_rx,
		i->key_updates_tx);
	if (r < 0 && e != EAGAIN)
		return hs_failed(c, "hs_recv");
	if (r >= 0 || !hs_tx_pending(c) || i->key_updates_rx != 1 || i->key_updates_tx != 0) {
		fprintf(stderr, "txpend: wrong: want -1 EAGAIN, pending, ku_rx=1 ku_tx=0\n");
		return 1;
	}
	return 0;
}

/* Socket writable again: hs_recv sends the owed KeyUpdate first. */
static int pay_owed(hs_conn *c)
{
	uint8_t in[256];
	int polls = 0;

	while (hs_tx_pending(c)) {
		if (!wait_fd(hs_fd(c), POLLOUT)) {
			fprintf(stderr, "txpend: never writable again\n");
			return 1;
		}
		polls++;
		if (hs_recv(c, in, sizeof(in), MSG_DONTWAIT) >= 0) {
			fprintf(stderr, "txpend: hs_recv returned data the client never sent\n");
			return 1;
		}
		if (errno != EAGAIN)
			return hs_failed(c, "hs_recv (paying)");
	}
	fprintf(stderr, "txpend: KeyUpdate answered after %d poll(s): ku_tx=%u\n", polls, hs_info(c)->key_updates_tx);
	return hs_info(c)->key_updates_tx == 1 ? 0 : 1;
}

static int serve(const struct tp_opts *o, hs_conn *c)
{
	int fd = hs_fd(c), sz = SMALL_BUF, r;
	uint64_t off = 0, before;
	uint8_t in[256];

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		fprintf(stderr, "txpend: socket options: %s\n", strerror(errno));
		return 1;
	}
	if (send_pattern(fd, &off, UINT64_MAX) != 0)
		return 1;
	fprintf(stderr, "txpend: send buffer full after %llu bytes\n", (unsigned long long)off);
	create_file(o->full);
	if (!wait_fd(fd, POLLIN)) {
		fprintf(stderr, "txpend: no KeyUpdate from the client\n");
		return 1;
	}
	/* what drained meanwhile is refilled: the answer must find it full */
	if (send_pattern(fd, &off, UINT64_MAX) != 0)
		return 1;
	before = off;
	r = owed_check(c, 1);
	if (r == 0)
		r = owed_check(c, 2);  /* still owed, still EAGAIN */
	create_file(o->pending);   /* the client reads now, whatever happened */
	if (r != 0) {
		fprintf(stderr, "txpend: ended after %llu bytes\n", (unsigned long long)off);
		return r;
	}
	if ((r = pay_owed(c)) != 0)
		return r;
	while (off < before + o->after) {
		if (!wait_fd(fd, POLLOUT) || send_pattern(fd, &off, before + o->after) != 0) {
			fprintf(stderr, "txpend: sending after the KeyUpdate failed at %llu\n",
				(unsigned long long)off);
			return 1;
		}
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if (hs_shutdown(c) != 0)
		return hs_failed(c, "hs_shutdown");
	fprintf(stderr, "txpend: sent %llu bytes: %llu before our KeyUpdate, %llu after; ku_tx=%u ku_rx=%u\n",
		(unsigned long long)off, (unsigned long long)before, (unsigned long long)(off - before),
		hs_info(c)->key_updates_tx, hs_info(c)->key_updates_rx);
	/* the client's close_notify, so that closing resets nothing */
	if (wait_fd(fd, POLLIN) && hs_recv(c, in, sizeof(in), 0) != 0)
		return hs_failed(c, "hs_recv (end)");
	fprintf(stderr, "txpend: done close_notify=%s\n", hs_info(c)->close_notify ? "yes" : "no");
	return 0;
}

int peer_txpend_server(int argc, char **argv)
{
	struct tp_opts o = { .after = 65536 };
	struct hs_opts ho = { 0 };
	struct hs_error err;
	hs_conn *c;
	int l, fd, r;

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (!strcmp(a, "--handoff"))
			o.handoff = v;
		else if (!strcmp(a, "--listen"))
			o.addr = v;
		else if (!strcmp(a, "--full"))
			o.full = v;
		else if (!strcmp(a, "--pending"))
			o.pending = v;
		else if (!strcmp(a, "--after"))
			o.after = strtoul(v, NULL, 10);
		else
			goto usage;
	}
	if (argc % 2 == 0 || !o.handoff || !o.addr || !o.full || !o.pending)
		goto usage;
	ho.socket_path = o.handoff;
	if ((l = listen_on(o.addr)) < 0)
		return 1;
	fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	if (fd < 0) {
		fprintf(stderr, "txpend: accept: %s\n", strerror(errno));
		return 1;
	}
	if (hs_server_accept(fd, &ho, &c, &err) != 0) {
		fprintf(stderr, "txpend: handoff failed: %s (%s)\n", err.text, hs_reason_name(err.reason));
		create_file(o.full);
		close(fd);
		return 1;
	}
	fprintf(stderr, "txpend: handoff done %s\n", hs_info(c)->cipher_name);
	r = serve(&o, c);
	create_file(o.full);       /* a client still waiting gives up at once */
	create_file(o.pending);
	hs_free(c);
	close(fd);
	return r;
usage:
	fprintf(stderr, "usage: peer txpend-server --handoff PATH --listen ADDR:PORT --full F --pending F"
			" [--after BYTES]\n");
	return 1;
}

/* ---- client ---- */

static int write_all(int fd, tls_buf *out)
{
	size_t off = 0;

	while (off < out->len) {
		ssize_t n = write(fd, out->base + off, out->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return PEER_IO_ERR;
		off += (size_t)n;
	}
	tls_buf_reset(out);
	return 0;
}

static int read_exact(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t got = read(fd, p, n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got == 0 ? PEER_EOF : PEER_IO_ERR;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* One record at a time, so the server's KeyUpdate has an exact offset. */
static int read_all(struct peer_io *io, uint64_t *total, uint64_t *bad, uint64_t *ku_at)
{
	uint8_t rec[5 + 16384 + 256];
	tls_buf plain;
	int r;

	tls_buf_init(&plain, 0);
	for (;;) {
		size_t len, n;
		int rx = io_updates(io, TLS_DIR_RX);

		if ((r = read_exact(io->fd, rec, 5)) != 0)
			break;
		len = (size_t)rec[3] << 8 | rec[4];
		if (len > sizeof(rec) - 5) {
			r = PEER_IO_ERR;
			break;
		}
		if ((r = read_exact(io->fd, rec + 5, len)) != 0)
			break;
		n = 5 + len;
		r = tls_conn_recv(io->c, &io->out, &plain, rec, &n);
		if (write_all(io->fd, &io->out) != 0 && r == 0)
			r = PEER_IO_ERR;
		if (io_updates(io, TLS_DIR_RX) > rx && *ku_at == UINT64_MAX)
			*ku_at = *total;
		for (size_t i = 0; i < plain.len; i++)
			if (*bad == UINT64_MAX && plain.base[i] != pattern(*total + i))
				*bad = *total + i;
		*total += plain.len;
		tls_buf_reset(&plain);
		if (r != 0 && r != TLS_WANT_INPUT)
			break;
	}
	tls_buf_free(&plain);
	return r;
}

int peer_txpend_client(int argc, char **argv)
{
	const char *addr = NULL, *full = NULL, *pending = NULL;
	struct addrinfo *ai = NULL;
	uint64_t total = 0, bad = UINT64_MAX, ku_at = UINT64_MAX;
	struct peer_io io;
	tls_config *cfg;
	tls_conn *c;
	char why[300];
	int fd = -1, sz = SMALL_BUF, r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--full") && i + 1 < argc)
			full = argv[++i];
		else if (!strcmp(argv[i], "--pending") && i + 1 < argc)
			pending = argv[++i];
		else if (argv[i][0] != '-' && !addr)
			addr = argv[i];
		else
			addr = full = NULL, i = argc;
	}
	if (!addr || !full || !pending) {
		fprintf(stderr, "usage: peer txpend-client HOST:PORT --full F --pending F\n");
		return 1;
	}
	if (peer_resolve(addr, false, &ai) != 0)
		return 1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* a small receive window: the server's buffer fills fast */
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)) < 0 ||
	    connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		fprintf(stderr, "txpend-client: connect %s: %s\n", addr, strerror(errno));
		freeaddrinfo(ai);
		if (fd >= 0)
			close(fd);
		return 1;
	}
	freeaddrinfo(ai);
	cfg = tls_config_new(TLS_CLIENT);
	if (cfg)
		tls_config_set_verify_peer(cfg, false);  /* the daemon's test certificate */
	c = cfg ? tls_conn_new(cfg) : NULL;
	if (!c || tls_conn_set_server_name(c, "localhost") != 0) {
		fprintf(stderr, "txpend-client: cannot set up the connection\n");
		tls_conn_free(c);
		tls_config_free(cfg);
		close(fd);
		return 1;
	}
	io_init(&io, fd, c);
	r = io_handshake(&io);
	if (r == 0 && !wait_file(full)) {
		fprintf(stderr, "txpend-client: the server never filled its buffer\n");
		r = PEER_IO_ERR;
	}
	if (r == 0) {
		r = io_key_update(&io, true);
		fprintf(stderr, "txpend-client: KeyUpdate(update_requested) sent without reading: %s\n",
			io_strerror(&io, r, why, sizeof(why)));
	}
	if (r == 0 && !wait_file(pending))
		fprintf(stderr, "txpend-client: no --pending from the server: reading anyway\n");
	if (r == 0) {
		r = read_all(&io, &total, &bad, &ku_at);
		if (r == TLS_CLOSED)
			io_close(&io);
		fprintf(stderr, "txpend-client: received %llu bytes pattern=%s", (unsigned long long)total,
			bad == UINT64_MAX ? "intact" : "BROKEN");
		if (bad != UINT64_MAX)
			fprintf(stderr, " first_bad=%llu", (unsigned long long)bad);
		if (ku_at != UINT64_MAX)
			fprintf(stderr, " server_keyupdate_at=%llu", (unsigned long long)ku_at);
		fprintf(stderr, " ku_tx=%d ku_rx=%d end=%s\n", io_updates(&io, TLS_DIR_TX),
			io_updates(&io, TLS_DIR_RX), io_strerror(&io, r, why, sizeof(why)));
	} else {
		fprintf(stderr, "txpend-client: failed: %s\n", io_strerror(&io, r, why, sizeof(why)));
	}
	io_free(&io);
	tls_conn_free(c);
	tls_config_free(cfg);
	close(fd);
	if (r == TLS_CLOSED || r == PEER_EOF)
		return bad == UINT64_MAX ? 0 : 2;
	return r == PEER_IO_ERR ? 1 : 2;
}
