/* peer client: connects, handshakes, then copies stdin to the server and the
 * server's data to stdout until the server closes. At stdin's end we send
 * close_notify and keep reading (TLS 1.3 half-close). Negotiated parameters
 * and the end go to stderr. --ktls moves the connection to kernel TLS after
 * the handshake; --glue sends the first stdin chunk in the same write as
 * the client Finished; --sess-in/--sess-out/--early resume and send 0-RTT. Exit status: 0 for a clean handshake and no
 * fatal alert, 1 for usage/socket trouble, 2 for a TLS failure. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "peer.h"

/* What the server stapled (asked for with --ca), for the scripts to check:
 * "peer: OCSP response: 723 bytes sha256=HEX". */
static void log_staple(const char *what, const uint8_t *p, size_t len)
{
	uint8_t md[32];
	char hex[65];
	unsigned int n = 0;
	if (!p || !EVP_Digest(p, len, md, &n, EVP_sha256(), NULL))
		return;
	for (unsigned int i = 0; i < n && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	fprintf(stderr, "peer: %s: %zu bytes sha256=%s\n", what, len, n == 32 ? hex : "?");
}

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

/* One transport for the stdin <-> connection relay: our userspace records
 * or the kernel's (kTLS). recv(ctx, plain, may_block) appends data. */
struct relay_ops {
	int fd;
	void *ctx;
	int (*send)(void *ctx, const void *data, size_t len);
	int (*recv)(void *ctx, tls_buf *plain, bool may_block);
	int (*close)(void *ctx);
};

static int us_send(void *io, const void *d, size_t n) { return io_send(io, d, n); }
static int us_recv(void *io, tls_buf *plain, bool may_block) { return io_recv_some(io, plain, may_block); }
static int us_close(void *io) { return io_close(io); }
static int k_send(void *k, const void *d, size_t n) { return kio_send(k, d, n); }
/* kio_recv only after poll said readable, so it never waits. */
static int k_recv(void *k, tls_buf *plain, bool may_block) { return kio_recv(k, plain, false); }
static int k_close(void *k) { return kio_close(k); }

/* stdin goes to the peer, the peer's data to stdout, until either ends.
 * Records that came with the handshake are returned first. */
static int relay(const struct relay_ops *o)
{
	bool stdin_open = true;
	tls_buf plain;
	int r;

	tls_buf_init(&plain, 0);
	r = o->recv(o->ctx, &plain, false);
	while (r == 0) {
		struct pollfd p[2] = { { o->fd, POLLIN, 0 }, { stdin_open ? 0 : -1, POLLIN, 0 } };
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
				r = o->send(o->ctx, buf, (size_t)n);
			} else {
				stdin_open = false;
				r = o->close(o->ctx);
			}
		}
		if (r == 0 && p[0].revents)
			r = o->recv(o->ctx, &plain, true);
	}
	if (plain.len)
		fwrite(plain.base, 1, plain.len, stdout);
	fflush(stdout);
	tls_buf_free(&plain);
	return r;
}

static int slurp(const char *path, tls_buf *b);

/* --handoff: handshaked connects (hs_client_connect), the socket comes
 * back on kTLS; sends are plain send(2), reads go through hs_recv. */
static int h_send(void *h, const void *d, size_t n)
{
	const uint8_t *p = d;
	while (n) {
		ssize_t w = send(hs_fd(h), p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return PEER_IO_ERR;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}
static int h_recv(void *h, tls_buf *plain, bool may_block) { return hio_recv(h, plain, false); }
static int h_close(void *h) { return hs_shutdown(h) == 0 ? 0 : PEER_HS_ERR; }

static int client_handoff(const struct peer_opts *o, const char *host)
{
	char desc[512], why[300];
	tls_buf early;
	hs_conn *h = NULL;
	int fd, r;

	tls_buf_init(&early, 1 << 16);
	if (o->early && slurp(o->early, &early) != 0) {
		tls_buf_free(&early);
		return 1;
	}
	if ((fd = connect_to(o->addr)) < 0) {
		tls_buf_free(&early);
		return 1;
	}
	if (hio_connect(o, fd, o->servername ? o->servername : host, early.base, early.len, &h) != 0) {
		tls_buf_free(&early);
		close(fd);
		return 2;
	}
	fprintf(stderr, "peer: connected %s\n", hio_describe(h, desc, sizeof(desc)));
	r = 0;
	/* 0-RTT the server did not take (or that was never sent) goes again */
	if (early.len && hs_info(h)->early != HS_EARLY_ACCEPTED)
		r = h_send(h, early.base, early.len);
	if (r == 0 && o->keyupdate && hs_key_update(h, true) != 0)
		hs_shutdown(h);   /* refused (old kernel): end cleanly */
	if (r == 0)
		r = relay(&(struct relay_ops){ fd, h, h_send, h_recv, h_close });
	fprintf(stderr, "peer: ku_tx=%u ku_rx=%u end=%s\n", hs_info(h)->key_updates_tx,
		hs_info(h)->key_updates_rx, hio_strerror(h, r, why, sizeof(why)));
	if (r == PEER_EOF)
		fprintf(stderr, "peer: warning: the server closed without close_notify\n");
	hs_free(h);
	close(fd);
	tls_buf_free(&early);
	return r == 0 || r == TLS_CLOSED || r == PEER_EOF ? 0 : r == PEER_IO_ERR ? 1 : 2;
}

/* Reads a whole (small) file: 0 or -1 with a message. */
static int slurp(const char *path, tls_buf *b)
{
	FILE *f = fopen(path, "rb");
	uint8_t chunk[4096];
	size_t n;

	if (!f) {
		fprintf(stderr, "peer: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		tls_write_bytes(b, chunk, n);
	fclose(f);
	return b->err ? -1 : 0;
}

/* --sess-in F and --early F (its bytes stay in early for a resend). */
static int set_resumption(const struct peer_opts *o, tls_conn *c, tls_buf *early)
{
	tls_buf b;
	int r = 0;

	tls_buf_init(&b, 1 << 20);
	if (o->sess_in) {
		if (slurp(o->sess_in, &b) != 0) {
			r = -1;
		} else if (tls_conn_set_session(c, b.base, b.len) != 0) {
			fprintf(stderr, "peer: %s: session refused (malformed, expired or other hash)\n",
				o->sess_in);
			r = -1;
		}
		tls_buf_reset(&b);
	}
	tls_buf_free(&b);
	if (r == 0 && o->early) {
		if (slurp(o->early, early) != 0 || tls_conn_set_early_data(c, early->base, early->len) != 0) {
			fprintf(stderr, "peer: %s: cannot send as early data\n", o->early);
			r = -1;
		}
	}
	return r;
}

int peer_client(const struct peer_opts *o, const tls_config *cfg)
{
	char host[256], desc[512], why[300];
	const char *colon = strrchr(o->addr, ':');
	char glue[16384];
	struct peer_io io;
	struct peer_kio k;
	tls_buf early;
	tls_conn *c;
	bool on_ktls = false;      /* RX through the kernel */
	int fd, r;

	/* The name to send and verify defaults to HOST (brackets stripped). */
	snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - o->addr) : 0, o->addr);
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	if (o->handoff)
		return client_handoff(o, host);
	/* Set up (and check the session files) before connecting. */
	tls_buf_init(&early, 1 << 20);
	if (!(c = tls_conn_new(cfg)) ||
	    tls_conn_set_server_name(c, o->servername ? o->servername : host) != 0 ||
	    set_resumption(o, c, &early) != 0) {
		fprintf(stderr, "peer: cannot set up the connection\n");
		tls_conn_free(c);
		tls_buf_free(&early);
		return 1;
	}
	if ((fd = connect_to(o->addr)) < 0) {
		tls_conn_free(c);
		tls_buf_free(&early);
		return 1;
	}
	io_init(&io, fd, c);
	io.sess_out = o->sess_out;
	memset(&k, 0, sizeof(k));
	if (o->glue) {
		/* The first chunk of stdin goes out in the Finished's write. */
		ssize_t n = read(0, glue, sizeof(glue));
		if (n > 0) {
			io.glue = glue;
			io.glue_len = (size_t)n;
		}
	}
	r = io_handshake(&io);
	if (r == 0) {
		fprintf(stderr, "peer: connected %s\n", io_describe(&io, desc, sizeof(desc)));
		io_log_resumption(&io, "client");
		log_staple("OCSP response", tls_conn_params(c)->ocsp, tls_conn_params(c)->ocsp_len);
		log_staple("SCT list", tls_conn_params(c)->sct, tls_conn_params(c)->sct_len);
		/* 0-RTT the server did not take goes again as normal data. */
		bool resend = early.len && tls_conn_params(c)->early_data != TLS_EARLY_ACCEPTED;
		if (o->ktls) {
			r = kio_install(&k, &io, TLS_CLIENT, "client");
			on_ktls = r == 0;
			if (r != 0 && !k.tx_done)
				io_close(&io);
			if (r == 0 && resend)
				r = kio_send(&k, early.base, early.len);
			if (r == 0 && o->keyupdate && (r = kio_key_update(&k, true)) != 0)
				kio_close(&k);  /* refused (old kernel): end cleanly */
			if (r == 0)
				r = relay(&(struct relay_ops){ k.fd, &k, k_send, k_recv, k_close });
			fprintf(stderr, "peer: ku_tx=%d ku_rx=%d end=%s\n", k.ku_tx, k.ku_rx,
				kio_strerror(&k, r, why, sizeof(why)));
		} else {
			if (resend)
				r = io_send(&io, early.base, early.len);
			if (r == 0 && o->keyupdate)
				r = io_key_update(&io, true);
			if (r == 0)
				r = relay(&(struct relay_ops){ io.fd, &io, us_send, us_recv, us_close });
			fprintf(stderr, "peer: ku_tx=%d ku_rx=%d end=%s\n", io_updates(&io, TLS_DIR_TX),
				io_updates(&io, TLS_DIR_RX), io_strerror(&io, r, why, sizeof(why)));
			/* what the server's writes came as, for tests that count */
			fprintf(stderr, "peer: records_in=%lu\n", io.records_in);
		}
		if (r == PEER_EOF)
			fprintf(stderr, "peer: warning: the server closed without close_notify\n");
	} else {
		fprintf(stderr, "peer: handshake failed: %s\n", io_strerror(&io, r, why, sizeof(why)));
	}
	if (TLS_IS_LOCAL_ERR(r) || k.alert_sent)
		io_drain_after_alert(fd, on_ktls, "client");
	kio_free(&k);
	io_free(&io);
	tls_conn_free(c);
	tls_buf_free(&early);
	close(fd);
	if (r == 0 || r == TLS_CLOSED || r == PEER_EOF)
		return 0;
	return r == PEER_IO_ERR || r == PEER_KTLS_ERR ? 1 : 2;
}
