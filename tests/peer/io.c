/* Blocking record I/O for peer: reads whatever the socket has, lets the
 * engine consume whole records, writes what it produced. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "ktls.h"
#include "peer.h"
#include "tls/names.h"

#define LINGER_MS 1000             /* after a fatal alert: how long we drain */
#define LINGER_BYTES (16 << 20)    /* and how much at most */

static void on_secret(void *ctx, enum tls_dir dir, int epoch, const tls_cipher *cs,
		      const uint8_t *secret, size_t len)
{
	struct peer_io *io = ctx;
	(void)cs, (void)secret, (void)len;
	io->epoch[dir] = epoch;
}

/* Server: 0-RTT data, unconfirmed (replayable) until the handshake ends. */
static void on_early_data(void *ctx, const uint8_t *data, size_t len)
{
	struct peer_io *io = ctx;
	if (io->early)
		tls_write_bytes(io->early, data, len);
}

void io_save_session(const char *path, const uint8_t *blob, size_t len)
{
	FILE *f;

	if (!path)
		return;
	if (!(f = fopen(path, "wb"))) {
		fprintf(stderr, "peer: %s: %s\n", path, strerror(errno));
		return;
	}
	/* It holds the resumption PSK: owner only. */
	fchmod(fileno(f), 0600);
	if (fwrite(blob, 1, len, f) != len)
		fprintf(stderr, "peer: %s: short write\n", path);
	if (fclose(f) != 0)
		fprintf(stderr, "peer: %s: %s\n", path, strerror(errno));
	else
		fprintf(stderr, "peer: session saved to %s\n", path);
}

/* Client: each NewSessionTicket replaces the --sess-out file (the newest
 * one is offered next time; a ticket is used once). */
static void on_session(void *ctx, const uint8_t *blob, size_t len)
{
	struct peer_io *io = ctx;
	io_save_session(io->sess_out, blob, len);
}

void io_init(struct peer_io *io, int fd, tls_conn *c)
{
	static const tls_callbacks cb = { .secret = on_secret, .session = on_session,
					  .early_data = on_early_data };
	memset(io, 0, sizeof(*io));
	io->fd = fd;
	io->c = c;
	tls_buf_init(&io->in, 0);
	tls_buf_init(&io->out, 0);
	tls_conn_set_callbacks(c, &cb, io);
}

void io_free(struct peer_io *io)
{
	tls_buf_free(&io->in);
	tls_buf_free(&io->out);
}

static int flush(struct peer_io *io)
{
	size_t off = 0;
	if (io->out.err) {
		io->io_errno = ENOMEM;
		return PEER_IO_ERR;
	}
	while (off < io->out.len) {
		ssize_t n = write(io->fd, io->out.base + off, io->out.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			io->io_errno = n < 0 ? errno : EPIPE;
			return PEER_IO_ERR;
		}
		off += (size_t)n;
	}
	tls_buf_consume(&io->out, off);
	return 0;
}

/* One read(2) into io->in: 0, PEER_EOF or PEER_IO_ERR. */
static int fill(struct peer_io *io)
{
	uint8_t *p = tls_buf_reserve(&io->in, 16384 + 512);
	ssize_t n;

	if (!p) {
		io->io_errno = ENOMEM;
		return PEER_IO_ERR;
	}
	do
		n = read(io->fd, p, 16384 + 512);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		io->io_errno = errno;
		return PEER_IO_ERR;
	}
	if (n == 0)
		return PEER_EOF;
	io->in.len += (size_t)n;
	return 0;
}

/* Reads exactly n more bytes into io->in: 0, PEER_EOF or PEER_IO_ERR. */
static int read_exact(struct peer_io *io, size_t n)
{
	uint8_t *p = tls_buf_reserve(&io->in, n);

	if (!p) {
		io->io_errno = ENOMEM;
		return PEER_IO_ERR;
	}
	while (n) {
		ssize_t got = read(io->fd, p, n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			io->io_errno = errno;
			return PEER_IO_ERR;
		}
		if (got == 0)
			return PEER_EOF;
		io->in.len += (size_t)got;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* Reads what the first incomplete record in io->in lacks: the rest of its
 * 5-byte header, or exactly the rest of the body the header announces.
 * During the handshake we never read further than that, so whatever follows
 * the record that ends the handshake (application data glued to the client
 * Finished, NewSessionTickets) is still in the socket when kTLS RX is
 * installed. The engine sees each header before we wait for its body, so a
 * bad header (a plain-text client) is refused at once. */
static int fill_record(struct peer_io *io)
{
	tls_reader rd = tls_reader_init(io->in.base, io->in.len);

	while (rd.left >= 5) {
		tls_reader hdr = tls_read_sub(&rd, 5);
		tls_read_u8(&hdr);         /* content type */
		tls_read_u16(&hdr);        /* legacy_record_version */
		size_t len = tls_read_u16(&hdr);
		if (len > rd.left)
			return read_exact(io, len - rd.left);
		tls_read_bytes(&rd, len);
	}
	return read_exact(io, 5 - rd.left);  /* the rest of a header */
}

int io_handshake(struct peer_io *io)
{
	for (;;) {
		size_t n = io->in.len;
		int r = tls_conn_handshake(io->c, &io->out, io->in.base, &n);
		tls_buf_consume(&io->in, n);
		/* --glue: the first application record leaves in the same
		 * write as our last handshake flight (the client Finished). */
		if (r == 0 && io->glue_len) {
			r = tls_conn_send(io->c, &io->out, io->glue, io->glue_len);
			io->glue_len = 0;
		}
		/* An alert we generated still goes out before we give up. */
		int w = flush(io);
		if (r != TLS_WANT_INPUT)
			return r != 0 ? r : w;
		if (w)
			return w;
		if ((r = fill_record(io)) != 0)
			return r;
	}
}

/* Whole records in p[0..n) (the bytes the engine consumed). */
static unsigned long count_records(const uint8_t *p, size_t n)
{
	unsigned long count = 0;
	size_t off = 0;

	while (off + 5 <= n) {
		off += 5 + ((size_t)p[off + 3] << 8 | p[off + 4]);
		count++;
	}
	return count;
}

/* Runs the record layer over the buffered bytes until it needs more input or
 * has application data. An end (close_notify, alert) that arrives together
 * with data is held back until the data has been returned. */
static int drain(struct peer_io *io, tls_buf *plain)
{
	size_t before = plain->len;
	int r = io->deferred;

	if (r)
		return r;
	while (io->in.len && plain->len == before) {
		size_t n = io->in.len;
		r = tls_conn_recv(io->c, &io->out, plain, io->in.base, &n);
		io->records_in += count_records(io->in.base, n);
		tls_buf_consume(&io->in, n);
		int w = flush(io);  /* KeyUpdate answers, alerts */
		if (r != 0 && r != TLS_WANT_INPUT) {
			if (plain->len == before)
				return r;
			io->deferred = r;
			return 0;
		}
		if (w || r == TLS_WANT_INPUT || n == 0)
			return w;
	}
	return 0;
}

int io_recv(struct peer_io *io, tls_buf *plain)
{
	size_t before = plain->len;
	for (;;) {
		int r = drain(io, plain);
		if (r || plain->len > before)
			return r;
		if ((r = fill(io)) != 0)
			return r;
	}
}

int io_recv_some(struct peer_io *io, tls_buf *plain, bool may_read)
{
	size_t before = plain->len;
	int r = drain(io, plain);
	if (r || plain->len > before || !may_read)
		return r;
	if ((r = fill(io)) != 0)
		return r;
	return drain(io, plain);
}

int io_send(struct peer_io *io, const void *data, size_t len)
{
	int r = tls_conn_send(io->c, &io->out, data, len);
	int w = flush(io);
	return r ? r : w;
}

int io_key_update(struct peer_io *io, bool request_peer)
{
	int r = tls_conn_key_update(io->c, &io->out, request_peer);
	int w = flush(io);
	return r ? r : w;
}

int io_close(struct peer_io *io)
{
	int r = tls_conn_close(io->c, &io->out);
	int w = flush(io);
	return r ? r : w;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* A peer that is still sending when we fail (a client goes on with its
 * flight or data after the message we refuse) would, if we closed now, get
 * a reset for the unread bytes, and a peer busy writing then sees
 * ECONNRESET instead of reading our alert. So: FIN after the alert, then
 * read and drop what arrives until its EOF, LINGER_MS or LINGER_BYTES.
 * Under kTLS RX the kernel's records are read (and dropped); when it can
 * read no further (a key we do not have), we only wait for the peer's
 * FIN. */
void io_drain_after_alert(int fd, bool ktls_rx, const char *who)
{
	uint8_t buf[16384];
	struct timespec t0;
	size_t total = 0;
	bool can_read = true;
	const char *end = NULL;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	shutdown(fd, SHUT_WR);
	while (!end) {
		long left = LINGER_MS - ms_since(&t0);
		if (left <= 0 || total >= LINGER_BYTES) {
			end = left <= 0 ? "the time limit" : "the byte limit";
			break;
		}
		struct pollfd p = { fd, (short)(can_read ? POLLIN | POLLRDHUP : POLLRDHUP), 0 };
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			end = n == 0 ? "the time limit" : "a poll error";
		else if (!can_read || !(p.revents & POLLIN))
			end = "its FIN";  /* (or a socket error): nothing left to take */
		else if (ktls_rx) {
			struct ktls_rec rec;
			enum ktls_err e = ktls_recv_record(fd, buf, sizeof(buf), MSG_DONTWAIT, &rec);
			if (e == KTLS_OK)
				total += rec.len;
			else if (e == KTLS_E_CLOSED)
				end = "its FIN";
			else if (e == KTLS_E_AGAIN)  /* half a record: poll says readable */
				nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
			else
				can_read = false;  /* e.g. a key we do not have: wait for the FIN */
		} else {
			ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (got > 0)
				total += (size_t)got;
			else if (got == 0)
				end = "its FIN";
			else if (errno != EAGAIN && errno != EINTR)
				end = "a socket error";
		}
	}
	fprintf(stderr, "peer: %s after our alert: dropped %zu bytes from the peer until %s\n", who,
		total, end);
}

void io_log_resumption(const struct peer_io *io, const char *who)
{
	const tls_params *p = tls_conn_params(io->c);
	fprintf(stderr, "peer: %s resumed=%s early_data=%s%s\n", who, p->resumed ? "yes" : "no",
		p->early_data == TLS_EARLY_ACCEPTED   ? "accepted"
		: p->early_data == TLS_EARLY_REJECTED ? "rejected"
						      : "none",
		p->psk_external ? " psk=external" : "");
}

int io_updates(const struct peer_io *io, enum tls_dir dir)
{
	return io->epoch[dir] > TLS_EPOCH_APPLICATION ? io->epoch[dir] - TLS_EPOCH_APPLICATION : 0;
}

const char *io_strerror(const struct peer_io *io, int r, char *buf, size_t len)
{
	if (r == 0)
		snprintf(buf, len, "ok");
	else if (r == TLS_CLOSED)
		snprintf(buf, len, "close_notify received");
	else if (r == PEER_EOF)
		snprintf(buf, len, "connection closed by the peer");
	else if (r == PEER_IO_ERR)
		snprintf(buf, len, "socket: %s", strerror(io->io_errno));
	else if (TLS_IS_LOCAL_ERR(r))
		snprintf(buf, len, "alert %s sent (%s)", tls_alert_name(TLS_ERR_ALERT(r)),
			 tls_conn_error(io->c));
	else if (TLS_IS_PEER_ERR(r))
		snprintf(buf, len, "alert %s received", tls_alert_name(TLS_ERR_ALERT(r)));
	else
		snprintf(buf, len, "error %d (%s)", r, tls_conn_error(io->c));
	return buf;
}

/* Names from lib/tls/names.c, "none" for 0 (psk_ke, resumed). */
const char *peer_group_name(unsigned id)
{
	const char *n = tls_group_name((uint16_t)id);
	return id == 0 ? "none" : n ? n : "unknown";
}

const char *peer_sig_name(unsigned id)
{
	const char *n = tls_sigalg_name((uint16_t)id);
	return id == 0 ? "none" : n ? n : "unknown";
}

const char *io_describe(const struct peer_io *io, char *buf, size_t len)
{
	const tls_params *p = tls_conn_params(io->c);
	char peer_cn[128] = "none";

	if (p->peer_chain && p->peer_chain->n > 0)
		X509_NAME_get_text_by_NID(X509_get_subject_name(p->peer_chain->certs[0]),
					  NID_commonName, peer_cn, sizeof(peer_cn));
	snprintf(buf, len, "%s %s sig=%s alpn=%s sni=%s hrr=%d peer_cert=%s",
		 p->cipher ? p->cipher->name : "none", peer_group_name(p->group),
		 peer_sig_name(p->sig_scheme), p->alpn ? p->alpn : "none",
		 p->server_name ? p->server_name : "none", p->hrr, peer_cn);
	return buf;
}

int peer_resolve(const char *addr, bool passive, struct addrinfo **res)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0 };

	if (!colon || (size_t)(colon - addr) >= sizeof(host)) {
		fprintf(stderr, "peer: '%s' is not HOST:PORT\n", addr);
		return -1;
	}
	/* strip [] around an IPv6 literal */
	size_t len = (size_t)(colon - addr);
	if (len >= 2 && addr[0] == '[' && addr[len - 1] == ']')
		snprintf(host, sizeof(host), "%.*s", (int)len - 2, addr + 1);
	else
		snprintf(host, sizeof(host), "%.*s", (int)len, addr);
	int r = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, res);
	if (r != 0) {
		fprintf(stderr, "peer: %s: %s\n", addr, gai_strerror(r));
		return -1;
	}
	return 0;
}
