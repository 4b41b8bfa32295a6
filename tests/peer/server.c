/* peer server: accepts connections one after another until killed. Each gets
 * a handshake, then either an echo of everything it sends (--echo) or one
 * HTTP/1.0 answer (the body names the negotiated parameters, or is the
 * --file), then close_notify. With --ktls the records after the handshake
 * are the kernel's and the body goes out with sendfile(2); with --handoff the
 * handshake is handshaked's and records are read with hs_recv (libhandshake),
 * sent as under --ktls. One line per
 * connection goes to stderr, also for clients that fail: the server carries
 * on with the next one. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "ktls.h"
#include "peer.h"

#define MAX_REQUEST 65536
#define IO_TIMEOUT_SEC 10  /* a stalled client must not block the next one */

/* The HTTP body: --file F, or the line naming what was negotiated in an
 * unlinked temp file, so that both paths can sendfile(2) it. */
static int open_body(const struct peer_opts *o, const char *desc, size_t *len)
{
	struct stat st;
	int fd;

	if (o->file) {
		fd = open(o->file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fprintf(stderr, "peer: %s: %s\n", o->file, strerror(errno));
	} else {
		const char *dir = getenv("TMPDIR");
		char path[4096];
		snprintf(path, sizeof(path), "%s/peer-body.XXXXXX", dir && *dir ? dir : "/tmp");
		fd = mkostemp(path, O_CLOEXEC);
		if (fd < 0) {
			perror("peer: temp file");
			return -1;
		}
		unlink(path);
		if (dprintf(fd, "hello from handshaked peer: %s\n", desc) < 0) {
			perror("peer: temp file");
			close(fd);
			return -1;
		}
	}
	if (fd >= 0 && fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	if (fd >= 0)
		*len = (size_t)st.st_size;
	return fd;
}

/* One connection's HTTP exchange over either record layer. */
struct conn {
	struct peer_io *io;
	struct peer_kio *k;        /* non-NULL: on kTLS (sending only, with h) */
	hs_conn *h;                /* non-NULL: handed back by handshaked */
	int deferred;              /* an end seen behind data not yet returned */
};

#define ECHO_MAX 65536             /* what one echo collects before sending */

static int c_recv(struct conn *c, tls_buf *plain)
{
	int r = c->deferred;
	c->deferred = 0;
	if (r)
		return r;
	if (c->h)
		return hio_recv(c->h, plain, true);
	return c->k ? kio_recv(c->k, plain, true) : io_recv(c->io, plain);
}

/* c_recv, then whatever else has already arrived (records queued in the
 * socket or left in our buffer) without waiting: everything one read
 * brought is answered in one send. An end behind the data waits for the
 * next call. */
static int c_recv_all(struct conn *c, tls_buf *plain)
{
	int r = c_recv(c, plain);
	while (r == 0 && plain->len < ECHO_MAX) {
		size_t before = plain->len;
		int more = c->h ? hio_recv(c->h, plain, false)
			   : c->k ? kio_recv(c->k, plain, false)
				  : io_recv_some(c->io, plain, false);
		if (more) {
			c->deferred = more;
			break;
		}
		if (plain->len == before)
			break;
	}
	return r;
}

static int c_send(struct conn *c, const void *data, size_t len)
{
	return c->k ? kio_send(c->k, data, len) : io_send(c->io, data, len);
}

static int c_close(struct conn *c)
{
	if (c->h)
		return hs_shutdown(c->h) == 0 ? 0 : PEER_HS_ERR;
	return c->k ? kio_close(c->k) : io_close(c->io);
}

/* The answer: head, then len bytes of fd, in as few records as they fit
 * (the head shares the first record with the body, as a fast server does):
 * under kTLS the head is sent with MSG_MORE and the body follows with
 * sendfile(2); without, read + userspace records of 16 KiB. */
static int c_send_answer(struct conn *c, const char *head, size_t head_len, int fd, size_t len)
{
	uint8_t buf[16384];
	size_t off = 0, used;
	int r = 0;

	if (c->k)
		return kio_send_file(c->k, head, head_len, fd, len);
	if (head_len > sizeof(buf)) {  /* not our short heads, but stay correct */
		if ((r = io_send(c->io, head, head_len)) != 0)
			return r;
		head_len = 0;
	}
	memcpy(buf, head, head_len);
	used = head_len;
	while (r == 0 && (off < len || used)) {
		size_t want = sizeof(buf) - used < len - off ? sizeof(buf) - used : len - off;
		ssize_t n = want ? pread(fd, buf + used, want, (off_t)off) : 0;
		if (n < 0 || (n == 0 && want)) {
			c->io->io_errno = n < 0 ? errno : EIO;  /* 0: the file shrank */
			return PEER_IO_ERR;
		}
		r = io_send(c->io, buf, used + (size_t)n);
		off += (size_t)n;
		used = 0;
	}
	return r;
}

/* GET /keyupdate: our KeyUpdate(update_requested) first. Under kTLS only
 * where the kernel can re-key; elsewhere 0 with *refused saying why, for
 * the answer. */
static int key_update_asked(struct conn *c, const tls_buf *req, const char **refused)
{
	int r;

	*refused = NULL;
	if (req->len < 14 || memcmp(req->base, "GET /keyupdate", 14) != 0)
		return 0;
	if (c->h) {
		if (hs_key_update(c->h, true) == 0)
			return 0;
		if (hs_last_error(c->h)->reason != HS_R_REKEY_UNSUPPORTED)
			return PEER_HS_ERR;
		*refused = "TLS 1.3 rekey needs Linux 6.14";
		fprintf(stderr, "peer: GET /keyupdate refused: %s (%s)\n", *refused,
			hs_last_error(c->h)->text);
		return 0;
	}
	if (!c->k)
		return io_key_update(c->io, true);
	r = kio_key_update(c->k, true);
	if (r == PEER_KTLS_ERR && !ktls_rekey_supported()) {
		*refused = "TLS 1.3 rekey needs Linux 6.14";
		fprintf(stderr, "peer: GET /keyupdate refused: %s\n", *refused);
		r = 0;
	}
	return r;
}

/* Everything one read brought goes back in one send; data that starts
 * with `GET /keyupdate` gets our KeyUpdate first, as in HTTP mode. */
static int echo(struct conn *c, tls_buf *plain)
{
	const char *refused;
	int r = 0;

	do {
		if (plain->len && (r = key_update_asked(c, plain, &refused)) == 0)
			r = c_send(c, plain->base, plain->len);
		tls_buf_reset(plain);
	} while (r == 0 && (r = c_recv_all(c, plain)) == 0);
	if (r == TLS_CLOSED)
		c_close(c);
	return r;
}

/* Reads one request (req may already hold 0-RTT bytes); `GET /keyupdate`
 * first gets a KeyUpdate with update_requested (under kTLS only where the
 * kernel can re-key; elsewhere a 501 answer says why). After our
 * close_notify we read on until the client closes, so its answer to the
 * KeyUpdate is seen (and counted). */
static int http(struct conn *c, const struct peer_opts *o, const char *desc, tls_buf *req)
{
	const char *refused;
	char head[256];
	size_t body_len = 0;
	int r = 0, body;

	while (!memmem(req->base ? req->base : (uint8_t *)"", req->len, "\r\n\r\n", 4)) {
		if (req->len > MAX_REQUEST) {
			fprintf(stderr, "peer: request larger than %d bytes\n", MAX_REQUEST);
			return c_close(c);
		}
		if ((r = c_recv(c, req)) != 0)
			return r;
	}
	if ((r = key_update_asked(c, req, &refused)) != 0)
		return r;
	if (refused) {  /* 501, the reason is the body */
		snprintf(head, sizeof(head),
			 "HTTP/1.0 501 Not Implemented\r\nContent-Type: text/plain\r\n"
			 "Content-Length: %zu\r\n\r\n%s\n", strlen(refused) + 1, refused);
		r = c_send(c, head, strlen(head));
	} else {
		if ((body = open_body(o, desc, &body_len)) < 0)
			return c_close(c);
		snprintf(head, sizeof(head),
			 "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n", body_len);
		r = c_send_answer(c, head, strlen(head), body, body_len);
		close(body);
	}
	if (r || (r = c_close(c)) != 0)
		return r;
	do {
		tls_buf_reset(req);
		r = c_recv(c, req);
	} while (r == 0);
	return r;
}

/* --handoff: the handshake is the daemon's, the rest as under --ktls. */
static void serve_handoff(const struct peer_opts *o, int fd, const char *who)
{
	char desc[512], why[300];
	struct peer_kio k;         /* its send side only: kio_send, kio_send_file */
	struct conn conn = { .k = &k };
	const struct hs_error *e;
	tls_buf plain;
	int r;

	memset(&k, 0, sizeof(k));
	k.fd = fd;
	if (hio_accept(o, fd, who, &conn.h) != 0)
		return;
	tls_buf_init(&plain, 0);
	hio_describe(conn.h, desc, sizeof(desc));
	r = o->echo ? echo(&conn, &plain) : http(&conn, o, desc, &plain);
	if (hs_info(conn.h)->early == HS_EARLY_ACCEPTED)  /* hs_recv waited for it */
		fprintf(stderr, "peer: %s 0-RTT confirmed=%s\n", who,
			hs_info(conn.h)->confirmed ? "yes" : "no");
	if (r == PEER_IO_ERR)
		snprintf(why, sizeof(why), "socket: %s", strerror(k.io_errno));
	else
		hio_strerror(conn.h, r, why, sizeof(why));
	fprintf(stderr, "peer: %s ok %s ku_tx=%u ku_rx=%u end=%s\n", who, desc,
		hs_info(conn.h)->key_updates_tx, hs_info(conn.h)->key_updates_rx, why);
	e = hs_last_error(conn.h);
	if (r == PEER_HS_ERR && (e->reason == HS_R_ALERT_SENT || e->reason == HS_R_REKEY_UNSUPPORTED))
		io_drain_after_alert(fd, true, who);
	tls_buf_free(&plain);
	hs_free(conn.h);
}

static void serve(const struct peer_opts *o, const tls_config *cfg, int fd, const char *who)
{
	char desc[512], why[300];
	struct peer_io io;
	struct peer_kio k;
	struct conn conn = { .io = &io };
	tls_buf plain;
	tls_conn *c = tls_conn_new(cfg);
	int r;

	if (!c) {
		fprintf(stderr, "peer: %s failed: tls_conn_new\n", who);
		return;
	}
	tls_buf_init(&plain, 0);
	io_init(&io, fd, c);
	io.early = &plain;  /* 0-RTT bytes start the request */
	memset(&k, 0, sizeof(k));
	/* kTLS: tickets go out through the kernel after TX is installed at
	 * seq 0, not sealed by the engine behind the handshake */
	if (o->ktls)
		tls_conn_defer_tickets(c);
	r = io_handshake(&io);
	if (r != 0) {
		/* 0-RTT is decided on the ClientHello; bytes taken before a
		 * handshake that never completes were never confirmed (a
		 * replayed flight ends here). */
		enum tls_early_state e = tls_conn_params(c)->early_data;
		if (e != TLS_EARLY_NONE)
			fprintf(stderr, "peer: %s 0-RTT %s, handshake failed: %zu unconfirmed bytes dropped\n",
				who, e == TLS_EARLY_ACCEPTED ? "accepted" : "rejected", plain.len);
		fprintf(stderr, "peer: %s failed: %s\n", who, io_strerror(&io, r, why, sizeof(why)));
		goto out;
	}
	io_describe(&io, desc, sizeof(desc));
	io_log_resumption(&io, who);
	/* Daemon style: 0-RTT bytes were held back until the client's
	 * Finished verified; only now (RX about to go to the kernel) are they
	 * handed on, confirmed. */
	if (tls_conn_params(c)->early_data == TLS_EARLY_ACCEPTED)
		fprintf(stderr, "peer: %s 0-RTT: %zu bytes, confirmed by the client Finished\n", who,
			plain.len);
	if (o->ktls) {
		r = kio_install(&k, &io, TLS_SERVER, who);
		if (r == 0) {
			conn.k = &k;
			r = kio_send_tickets(&k, cfg);
		}
		if (r != 0) {
			if (!conn.k && !k.tx_done)  /* TX still in userspace: say goodbye there */
				io_close(&io);
			fprintf(stderr, "peer: %s failed: kTLS: %s\n", who, k.why);
			goto out;
		}
	}
	r = o->echo ? echo(&conn, &plain) : http(&conn, o, desc, &plain);
	fprintf(stderr, "peer: %s ok %s ku_tx=%d ku_rx=%d end=%s\n", who, desc,
		conn.k ? k.ku_tx : io_updates(&io, TLS_DIR_TX),
		conn.k ? k.ku_rx : io_updates(&io, TLS_DIR_RX),
		conn.k ? kio_strerror(&k, r, why, sizeof(why)) : io_strerror(&io, r, why, sizeof(why)));
out:
	if (TLS_IS_LOCAL_ERR(r) || k.alert_sent)
		io_drain_after_alert(fd, conn.k != NULL, who);
	kio_free(&k);
	tls_buf_free(&plain);
	io_free(&io);
	tls_conn_free(c);
}

static const char *addr_name(const struct sockaddr_storage *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
	getnameinfo((const struct sockaddr *)sa, sizeof(*sa), host, sizeof(host), port, sizeof(port),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(buf, len, sa->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
	return buf;
}

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

int peer_server(const struct peer_opts *o, const tls_config *cfg)
{
	/* SIGTERM ends the accept loop (no SA_RESTART) so we exit normally and
	 * leak checkers see a clean shutdown. */
	struct sigaction sa_stop = { .sa_handler = on_stop };
	struct addrinfo *ai;
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	char name[80];
	int one = 1, lfd;

	if (peer_resolve(o->addr, true, &ai) != 0)
		return 1;
	lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(lfd, 16) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0) {
		fprintf(stderr, "peer: listen on %s: %s\n", o->addr, strerror(errno));
		freeaddrinfo(ai);
		return 1;
	}
	freeaddrinfo(ai);
	/* With port 0 this tells the caller which port it got. */
	fprintf(stderr, "peer: listening on %s\n", addr_name(&sa, name, sizeof(name)));
	sigaction(SIGTERM, &sa_stop, NULL);
	sigaction(SIGINT, &sa_stop, NULL);

	while (!stopping) {
		struct timeval tv = { .tv_sec = IO_TIMEOUT_SEC };
		salen = sizeof(sa);
		int fd = accept4(lfd, (struct sockaddr *)&sa, &salen, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;  /* the loop condition sees a stop */
			perror("peer: accept");
			close(lfd);
			return 1;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (o->handoff)
			serve_handoff(o, fd, addr_name(&sa, name, sizeof(name)));
		else
			serve(o, cfg, fd, addr_name(&sa, name, sizeof(name)));
		close(fd);
	}
	close(lfd);
	fprintf(stderr, "peer: stopped\n");
	return 0;
}
