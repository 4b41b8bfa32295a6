/* peer server: accepts connections one after another until killed. Each gets
 * a handshake, then either an echo of everything it sends (--echo) or one
 * HTTP/1.0 answer naming the negotiated parameters, then close_notify. One
 * line per connection goes to stderr, also for clients that fail: the server
 * carries on with the next one. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "peer.h"

#define MAX_REQUEST 65536
#define IO_TIMEOUT_SEC 10  /* a stalled client must not block the next one */

static int echo(struct peer_io *io)
{
	tls_buf plain;
	int r;

	tls_buf_init(&plain, 0);
	while ((r = io_recv(io, &plain)) == 0) {
		r = io_send(io, plain.base, plain.len);
		tls_buf_reset(&plain);
		if (r)
			break;
	}
	if (r == TLS_CLOSED)
		io_close(io);
	tls_buf_free(&plain);
	return r;
}

/* Reads one request; `GET /keyupdate` first gets a KeyUpdate with
 * update_requested. After our close_notify we read on until the client
 * closes, so its answer to the KeyUpdate is seen (and counted). */
static int http(struct peer_io *io, const char *desc)
{
	char head[256];
	tls_buf req;
	int r = 0;

	tls_buf_init(&req, 0);
	while (!memmem(req.base ? req.base : (uint8_t *)"", req.len, "\r\n\r\n", 4)) {
		if (req.len > MAX_REQUEST) {
			fprintf(stderr, "peer: request larger than %d bytes\n", MAX_REQUEST);
			r = io_close(io);
			goto out;
		}
		if ((r = io_recv(io, &req)) != 0)
			goto out;
	}
	if (req.len >= 14 && memcmp(req.base, "GET /keyupdate", 14) == 0 &&
	    (r = io_key_update(io, true)) != 0)
		goto out;
	int body = (int)strlen(desc) + 28;
	snprintf(head, sizeof(head),
		 "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", body);
	tls_buf_reset(&req);
	tls_write_bytes(&req, head, strlen(head));
	tls_write_bytes(&req, "hello from handshaked peer: ", 28);
	tls_write_bytes(&req, desc, strlen(desc));
	tls_write_bytes(&req, "\n", 1);
	if ((r = io_send(io, req.base, req.len)) != 0 || (r = io_close(io)) != 0)
		goto out;
	do {
		tls_buf_reset(&req);
		r = io_recv(io, &req);
	} while (r == 0);
out:
	tls_buf_free(&req);
	return r;
}

static void serve(const struct peer_opts *o, const tls_config *cfg, int fd, const char *who)
{
	char desc[512], why[300];
	struct peer_io io;
	tls_conn *c = tls_conn_new(cfg);

	if (!c) {
		fprintf(stderr, "peer: %s failed: tls_conn_new\n", who);
		return;
	}
	io_init(&io, fd, c);
	int r = io_handshake(&io);
	if (r != 0) {
		fprintf(stderr, "peer: %s failed: %s\n", who, io_strerror(&io, r, why, sizeof(why)));
	} else {
		io_describe(&io, desc, sizeof(desc));
		r = o->echo ? echo(&io) : http(&io, desc);
		fprintf(stderr, "peer: %s ok %s ku_tx=%d ku_rx=%d end=%s\n", who, desc,
			io_updates(&io, TLS_DIR_TX), io_updates(&io, TLS_DIR_RX),
			io_strerror(&io, r, why, sizeof(why)));
	}
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
		serve(o, cfg, fd, addr_name(&sa, name, sizeof(name)));
		close(fd);
	}
	close(lfd);
	fprintf(stderr, "peer: stopped\n");
	return 0;
}
