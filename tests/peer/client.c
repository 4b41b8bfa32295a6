/* peer client: connects, handshakes, then copies stdin to the server and the
 * server's data to stdout until the server closes. At stdin's end we send
 * close_notify and keep reading (TLS 1.3 half-close). Negotiated parameters
 * and the end go to stderr. Exit status: 0 for a clean handshake and no
 * fatal alert, 1 for usage/socket trouble, 2 for a TLS failure. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"

static int connect_to(const char *addr)
{
	struct addrinfo *ai, *a;
	int fd = -1, err = 0;

	if (peer_resolve(addr, false, &ai) != 0)
		return -1;
	for (a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
			err = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0)
		fprintf(stderr, "peer: connect %s: %s\n", addr, strerror(err));
	return fd;
}

/* Copies stdin <-> connection until the server is done. */
static int relay(struct peer_io *io)
{
	bool stdin_open = true;
	tls_buf plain;
	int r;

	tls_buf_init(&plain, 0);
	r = io_recv_some(io, &plain, false);  /* records that came with the handshake */
	while (r == 0) {
		struct pollfd p[2] = { { io->fd, POLLIN, 0 }, { stdin_open ? 0 : -1, POLLIN, 0 } };
		if (plain.len) {
			if (fwrite(plain.base, 1, plain.len, stdout) != plain.len || fflush(stdout)) {
				perror("peer: stdout");
				break;
			}
			tls_buf_reset(&plain);
		}
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("peer: poll");
			break;
		}
		if (p[1].revents) {
			char buf[16384];
			ssize_t n = read(0, buf, sizeof(buf));
			if (n > 0) {
				r = io_send(io, buf, (size_t)n);
			} else {
				stdin_open = false;
				r = io_close(io);
			}
		}
		if (r == 0 && p[0].revents)
			r = io_recv_some(io, &plain, true);
	}
	if (plain.len)
		fwrite(plain.base, 1, plain.len, stdout);
	fflush(stdout);
	tls_buf_free(&plain);
	return r;
}

int peer_client(const struct peer_opts *o, const tls_config *cfg)
{
	char host[256], desc[512], why[300];
	const char *colon = strrchr(o->addr, ':');
	struct peer_io io;
	tls_conn *c;
	int fd, r;

	/* The name to send and verify defaults to HOST (brackets stripped). */
	snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - o->addr) : 0, o->addr);
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	if ((fd = connect_to(o->addr)) < 0)
		return 1;
	if (!(c = tls_conn_new(cfg)) ||
	    tls_conn_set_server_name(c, o->servername ? o->servername : host) != 0) {
		fprintf(stderr, "peer: cannot set up the connection\n");
		tls_conn_free(c);
		close(fd);
		return 1;
	}
	io_init(&io, fd, c);
	r = io_handshake(&io);
	if (r == 0) {
		fprintf(stderr, "peer: connected %s\n", io_describe(&io, desc, sizeof(desc)));
		if (o->keyupdate)
			r = io_key_update(&io, true);
		if (r == 0)
			r = relay(&io);
		fprintf(stderr, "peer: ku_tx=%d ku_rx=%d end=%s\n", io_updates(&io, TLS_DIR_TX),
			io_updates(&io, TLS_DIR_RX), io_strerror(&io, r, why, sizeof(why)));
		if (r == PEER_EOF)
			fprintf(stderr, "peer: warning: the server closed without close_notify\n");
	} else {
		fprintf(stderr, "peer: handshake failed: %s\n", io_strerror(&io, r, why, sizeof(why)));
	}
	io_free(&io);
	tls_conn_free(c);
	close(fd);
	if (r == 0 || r == TLS_CLOSED || r == PEER_EOF)
		return 0;
	return r == PEER_IO_ERR ? 1 : 2;
}
