/* The connection after the handshake on kernel TLS: the engine's
 * application secrets go into the socket (lib/ktls.c), then records are read
 * with a control-message buffer so alerts and post-handshake messages come
 * to us, and KeyUpdates re-key the kernel (Linux >= 6.14). On older kernels
 * a peer's KeyUpdate cannot be followed: we say so and close with an alert
 * rather than let the next record fail to decrypt. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>

#include <openssl/crypto.h>

#include "ktls.h"
#include "peer.h"

#define REC_CAP 16384              /* a TLS 1.3 record's plaintext */

static int ktls_fail(struct peer_kio *k, enum ktls_err e, const char *what)
{
	char buf[160];
	snprintf(k->why, sizeof(k->why), "%s: %s", what, ktls_error_text(e, errno, buf, sizeof(buf)));
	k->io_errno = errno;
	return PEER_KTLS_ERR;
}

/* A fatal alert (or close_notify) through the kernel; nothing more is
 * sent afterwards. */
static void send_alert(struct peer_kio *k, uint8_t level, uint8_t desc)
{
	uint8_t a[2] = { level, desc };
	if (k->tx_done)
		return;
	k->tx_done = true;
	if (ktls_send_record(k->fd, KTLS_CT_ALERT, a, sizeof(a), NULL) == KTLS_OK && level == 2)
		k->alert_sent = desc;
}

/* Fails the connection with alert `a`; why is the reason for the log. */
static int local_error(struct peer_kio *k, int a, const char *why)
{
	snprintf(k->why, sizeof(k->why), "%s", why);
	send_alert(k, 2, (uint8_t)a);
	return TLS_ERR_LOCAL(a);
}

/* A fatal alert from the engine, under the key it still holds: for
 * refusing the hand-off before any key is in the kernel. */
static void userspace_alert(struct peer_kio *k, uint8_t desc)
{
	tls_buf b;
	tls_buf_init(&b, 0);
	tls_conn_send_alert(k->conn, &b, desc);
	size_t off = 0;
	while (off < b.len) {
		ssize_t n = send(k->fd, b.base + off, b.len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (b.len && off == b.len)
		k->alert_sent = desc;
	k->tx_done = true;         /* nothing else goes out, not even close_notify */
	tls_buf_free(&b);
}

/* The kernel TX record cap for the peer's RFC 8449 record_size_limit
 * (0: the peer sent none, or one the default 16 KiB records satisfy). */
static uint16_t wanted_max_payload(const tls_params *p)
{
	return p->peer_record_limit < 16385 ? ktls_max_payload_for_limit(p->peer_record_limit) : 0;
}

/* Refuses the hand-off, before any key is installed, when the peer's
 * record_size_limit cannot be honoured by this kernel: sending it 16 KiB
 * records would only make it abort with record_overflow. */
static int check_max_payload(struct peer_kio *k, uint16_t want, uint16_t limit)
{
	char buf[160];
	uint16_t cur;
	enum ktls_err e = ktls_attach(k->fd);
	int err;

	if (e == KTLS_OK)
		e = ktls_get_tx_max_payload(k->fd, &cur);
	if (e == KTLS_OK)
		return 0;
	err = errno;
	if (e == KTLS_E_MAX_PAYLOAD_UNSUPPORTED) {
		struct utsname u;
		uname(&u);
		snprintf(k->why, sizeof(k->why),
			 "peer record_size_limit %u: record_size_limit needs Linux 6.19 (running %s)",
			 limit, u.release);
	} else {
		snprintf(k->why, sizeof(k->why), "kTLS record size %u: %s", want,
			 ktls_error_text(e, err, buf, sizeof(buf)));
	}
	k->io_errno = err;
	fprintf(stderr, "peer: %s kTLS hand-off refused: %s\n", k->who, k->why);
	userspace_alert(k, TLS_ALERT_INTERNAL_ERROR);
	return PEER_KTLS_ERR;
}

static void log_diag(const struct peer_kio *k)
{
	struct ktls_diag d;
	char buf[160];
	enum ktls_err e = ktls_diag_get(k->fd, &d);

	if (e != KTLS_OK) {
		fprintf(stderr, "peer: %s ktls diag unavailable: %s\n", k->who,
			ktls_error_text(e, errno, buf, sizeof(buf)));
		return;
	}
	fprintf(stderr, "peer: %s ktls diag: ulp=%s version=0x%04x cipher=%u tx=%s rx=%s max_payload=%u\n",
		k->who, d.ulp, d.version, d.cipher, ktls_conf_name(d.txconf), ktls_conf_name(d.rxconf),
		d.tx_max_payload);
}

int kio_install(struct peer_kio *k, const struct peer_io *io, enum tls_role role, const char *who)
{
	const tls_params *p = tls_conn_params(io->c);
	size_t tx_len = sizeof(k->tx_secret), rx_len = sizeof(k->rx_secret);
	uint64_t tx_seq = 0, rx_seq = 0;
	uint16_t want, got = 0;
	enum ktls_err e;

	memset(k, 0, sizeof(*k));
	k->fd = io->fd;
	k->conn = io->c;
	k->who = who;
	k->role = role;
	tls_buf_init(&k->hs, 65536 + 4);
	k->cs = p->cipher;
	k->rec = malloc(REC_CAP);
	if (!k->rec || !k->cs) {
		snprintf(k->why, sizeof(k->why), "%s", k->cs ? "out of memory" : "no cipher negotiated");
		return PEER_KTLS_ERR;
	}
	/* Anything buffered here was read past the handshake and would be
	 * lost to the kernel: the record-exact reader must prevent it. */
	if (io->in.len) {
		snprintf(k->why, sizeof(k->why), "%zu bytes were read past the handshake", io->in.len);
		return PEER_KTLS_ERR;
	}
	if (tls_conn_traffic(io->c, TLS_DIR_TX, k->tx_secret, &tx_len, &tx_seq) != 0 ||
	    tls_conn_traffic(io->c, TLS_DIR_RX, k->rx_secret, &rx_len, &rx_seq) != 0) {
		snprintf(k->why, sizeof(k->why), "no application secrets from the engine");
		return PEER_KTLS_ERR;
	}
	/* what the socket keeps once the engine is gone (tickets) */
	k->sess_out = io->sess_out;
	if (!(k->post = tls_conn_post(io->c))) {
		snprintf(k->why, sizeof(k->why), "no post-handshake state from the engine");
		return PEER_KTLS_ERR;
	}
	want = wanted_max_payload(p);
	if (want && check_max_payload(k, want, p->peer_record_limit) != 0)
		return PEER_KTLS_ERR;
	if ((e = ktls_install(k->fd, KTLS_DIR_TX, k->cs, k->tx_secret, tx_seq)) != KTLS_OK)
		return ktls_fail(k, e, "kTLS TX");
	/* after TX (63 is only valid once the kernel knows it is TLS 1.3),
	 * before any data is queued */
	if (want) {
		if ((e = ktls_set_tx_max_payload(k->fd, want)) == KTLS_OK)
			e = ktls_get_tx_max_payload(k->fd, &got);
		if (e != KTLS_OK || got != want) {
			ktls_fail(k, e, "kTLS record size");
			send_alert(k, 2, TLS_ALERT_INTERNAL_ERROR);
			return PEER_KTLS_ERR;
		}
		fprintf(stderr, "peer: %s ktls tx_max_payload=%u (peer record_size_limit %u)\n", who,
			got, p->peer_record_limit);
	}
	if ((e = ktls_install(k->fd, KTLS_DIR_RX, k->cs, k->rx_secret, rx_seq)) != KTLS_OK) {
		ktls_fail(k, e, "kTLS RX");
		send_alert(k, 2, TLS_ALERT_INTERNAL_ERROR);
		return PEER_KTLS_ERR;
	}
	fprintf(stderr, "peer: %s ktls %s tx+rx installed, tx_seq=%llu rx_seq=%llu rekey=%s\n", who,
		k->cs->name, (unsigned long long)tx_seq, (unsigned long long)rx_seq,
		ktls_rekey_supported() ? "yes" : "no");
	log_diag(k);
	return 0;
}

void kio_free(struct peer_kio *k)
{
	tls_post_free(k->post);
	k->post = NULL;
	OPENSSL_cleanse(k->tx_secret, sizeof(k->tx_secret));
	OPENSSL_cleanse(k->rx_secret, sizeof(k->rx_secret));
	free(k->rec);
	k->rec = NULL;
	tls_buf_free(&k->hs);
}

/* application_traffic_secret_N+1 of one direction (§7.2). */
static int next_secret(struct peer_kio *k, uint8_t *secret, uint8_t *next)
{
	if (tls_next_traffic_secret(k->cs, secret, next) != 0)
		return local_error(k, TLS_ALERT_INTERNAL_ERROR, "KeyUpdate: secret derivation failed");
	return 0;
}

static int rekey_refused(struct peer_kio *k)
{
	struct utsname u;
	char why[200];

	uname(&u);
	snprintf(why, sizeof(why), "TLS 1.3 rekey needs Linux 6.14 (running %s)", u.release);
	fprintf(stderr, "peer: %s peer KeyUpdate refused: %s\n", k->who, why);
	return local_error(k, TLS_ALERT_INTERNAL_ERROR, why);
}

/* The peer's KeyUpdate (§4.6.3): its next secret for our RX, and when it
 * asks, our own KeyUpdate and TX re-key. */
static int on_key_update(struct peer_kio *k, uint8_t request)
{
	uint8_t next[TLS_MAX_HASH];
	enum ktls_err e;
	int r;

	if (request > 1)
		return local_error(k, TLS_ALERT_ILLEGAL_PARAMETER, "KeyUpdate: bad request_update");
	if (!ktls_rekey_supported())
		return rekey_refused(k);
	if ((r = next_secret(k, k->rx_secret, next)) != 0)
		return r;
	e = ktls_rekey(k->fd, KTLS_DIR_RX, k->cs, next);
	if (e == KTLS_E_REKEY_UNSUPPORTED) {
		OPENSSL_cleanse(next, sizeof(next));
		return rekey_refused(k);
	}
	if (e != KTLS_OK) {
		OPENSSL_cleanse(next, sizeof(next));
		ktls_fail(k, e, "KeyUpdate: RX re-key");
		send_alert(k, 2, TLS_ALERT_INTERNAL_ERROR);
		return PEER_KTLS_ERR;
	}
	memcpy(k->rx_secret, next, k->cs->hash_len);
	OPENSSL_cleanse(next, sizeof(next));
	k->ku_rx++;
	fprintf(stderr, "peer: %s KeyUpdate received (update_requested=%u): rx re-keyed, %d so far\n",
		k->who, request, k->ku_rx);
	/* After our close_notify we send nothing, not even the answer. */
	if (request && !k->tx_done)
		return kio_key_update(k, false);
	return 0;
}

/* Client: a NewSessionTicket the kernel decrypted becomes a session blob
 * for --sess-out (the newest one wins, as in userspace). */
static int on_ticket(struct peer_kio *k, const uint8_t *body, size_t len)
{
	struct timespec now;
	tls_buf blob;
	int a;

	clock_gettime(CLOCK_REALTIME, &now);  /* the engine's default clock */
	tls_buf_init(&blob, 0);
	a = tls_post_ticket_recv(k->post, body, len,
				 (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000, &blob);
	if (a == 0 && blob.len)
		io_save_session(k->sess_out, blob.base, blob.len);
	tls_buf_free(&blob);
	return a ? local_error(k, a, "bad NewSessionTicket") : 0;
}

int kio_send_tickets(struct peer_kio *k, const tls_config *cfg)
{
	unsigned n = tls_post_tickets_owed(k->post), sent = 0;
	uint64_t seq0 = 0, seq1 = 0;
	enum ktls_err e;
	tls_buf m;
	int r = 0;

	if (!n)
		return 0;
	tls_buf_init(&m, 0);
	while (sent < n && (r = tls_post_ticket_send(k->post, cfg, &m)) == 0)
		sent++;
	if (r < 0 || m.err) {
		tls_buf_free(&m);
		snprintf(k->why, sizeof(k->why), "NewSessionTicket failed");
		send_alert(k, 2, TLS_ALERT_INTERNAL_ERROR);
		return PEER_KTLS_ERR;
	}
	/* the kernel's TX sequence numbers around the ticket record, for the log */
	ktls_get_state(k->fd, KTLS_DIR_TX, NULL, NULL, &seq0);
	e = m.len ? ktls_send_record(k->fd, KTLS_CT_HANDSHAKE, m.base, m.len, NULL) : KTLS_OK;
	tls_buf_free(&m);
	if (e != KTLS_OK)
		return ktls_fail(k, e, "NewSessionTicket through kTLS");
	if (ktls_get_state(k->fd, KTLS_DIR_TX, NULL, NULL, &seq1) == KTLS_OK)
		tls_post_set_seq(k->post, TLS_DIR_TX, seq1);
	fprintf(stderr, "peer: %s %u NewSessionTickets sent through kTLS, tx_seq %llu->%llu\n",
		k->who, sent, (unsigned long long)seq0, (unsigned long long)seq1);
	return 0;
}

/* Complete handshake messages in k->hs. A KeyUpdate must end its record
 * (§5.1: no message may span a key change). */
static int on_handshake(struct peer_kio *k, bool record_end)
{
	tls_reader rd = tls_reader_init(k->hs.base, k->hs.len);
	int r = 0;

	while (r == 0 && rd.left >= 4) {
		tls_reader save = rd;
		uint8_t type = tls_read_u8(&rd);
		uint32_t len = tls_read_u24(&rd);
		if (len > rd.left) {
			if (len > 65536)
				return local_error(k, TLS_ALERT_UNEXPECTED_MESSAGE,
						   "post-handshake message too large");
			rd = save;
			break;
		}
		tls_reader body = tls_read_sub(&rd, len);
		switch (type) {
		case KTLS_HS_KEY_UPDATE:
			if (len != 1)
				return local_error(k, TLS_ALERT_DECODE_ERROR, "KeyUpdate: bad length");
			if (rd.left || !record_end)
				return local_error(k, TLS_ALERT_UNEXPECTED_MESSAGE,
						   "KeyUpdate not at the end of its record");
			r = on_key_update(k, tls_read_u8(&body));
			break;
		case KTLS_HS_NEW_SESSION_TICKET:
			if (k->role != TLS_CLIENT)
				return local_error(k, TLS_ALERT_UNEXPECTED_MESSAGE,
						   "NewSessionTicket sent to a server");
			r = on_ticket(k, body.p, body.left);
			break;
		default: {
			char why[64];
			snprintf(why, sizeof(why), "unexpected post-handshake message %u", type);
			return local_error(k, TLS_ALERT_UNEXPECTED_MESSAGE, why);
		}
		}
	}
	tls_buf_consume(&k->hs, k->hs.len - rd.left);
	return r;
}

static int on_alert(struct peer_kio *k, const struct ktls_rec *rec)
{
	if (rec->len != 2 || !rec->complete)
		return local_error(k, TLS_ALERT_DECODE_ERROR, "malformed alert");
	tls_reader rd = tls_reader_init(k->rec, 2);
	tls_read_u8(&rd);          /* level: TLS 1.3 goes by the description */
	uint8_t desc = tls_read_u8(&rd);
	if (desc == TLS_ALERT_CLOSE_NOTIFY)
		return TLS_CLOSED;
	if (desc == TLS_ALERT_USER_CANCELED)
		return 0;          /* a close_notify follows (§6.1) */
	return TLS_ERR_PEER(desc);
}

int kio_recv(struct peer_kio *k, tls_buf *plain, bool wait)
{
	struct ktls_rec rec;
	enum ktls_err e;
	int r;

	for (;;) {
		e = ktls_recv_record(k->fd, k->rec, REC_CAP, wait ? 0 : MSG_DONTWAIT, &rec);
		if (e == KTLS_E_AGAIN && !wait)
			return 0;
		if (e == KTLS_E_CLOSED)
			return PEER_EOF;
		if (e == KTLS_E_DECRYPT)
			return ktls_fail(k, e, "kTLS RX (the connection is dead)");
		if (e != KTLS_OK) {
			/* EKEYEXPIRED would mean we missed a KeyUpdate */
			int saved = errno;
			ktls_fail(k, e, "kTLS recv");
			k->io_errno = saved;
			return PEER_KTLS_ERR;
		}
		if (rec.type != KTLS_CT_HANDSHAKE && k->hs.len)
			return local_error(k, TLS_ALERT_UNEXPECTED_MESSAGE,
					   "handshake message interrupted by another record type");
		switch (rec.type) {
		case KTLS_CT_DATA:
			tls_write_bytes(plain, k->rec, rec.len);
			if (plain->err)
				return local_error(k, TLS_ALERT_INTERNAL_ERROR, "out of memory");
			return 0;
		case KTLS_CT_ALERT:
			if ((r = on_alert(k, &rec)) != 0)
				return r;
			break;
		case KTLS_CT_HANDSHAKE:
			tls_write_bytes(&k->hs, k->rec, rec.len);
			if (k->hs.err)
				return local_error(k, TLS_ALERT_UNEXPECTED_MESSAGE,
						   "post-handshake message too large");
			if ((r = on_handshake(k, rec.complete)) != 0)
				return r;
			break;
		default: {
			char why[64];
			snprintf(why, sizeof(why), "unexpected record type %u after the handshake",
				 rec.type);
			return local_error(k, TLS_ALERT_UNEXPECTED_MESSAGE, why);
		}
		}
		/* After a control record read on: the kernel masks POLLIN while a
		 * KeyUpdate is pending, and records may already be queued. */
	}
}

int kio_send(struct peer_kio *k, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n = send(k->fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			k->io_errno = n < 0 ? errno : EPIPE;
			return PEER_IO_ERR;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int kio_send_file(struct peer_kio *k, const void *head, size_t head_len, int fd, size_t len)
{
	const uint8_t *p = head;
	off_t off = 0;

	/* MSG_MORE keeps the kernel's record open, so the file's first bytes
	 * join the head in it (sendfile ends by pushing the last record). */
	while (head_len) {
		ssize_t n = send(k->fd, p, head_len, MSG_NOSIGNAL | (len ? MSG_MORE : 0));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			k->io_errno = n < 0 ? errno : EPIPE;
			return PEER_IO_ERR;
		}
		p += n;
		head_len -= (size_t)n;
	}
	while ((size_t)off < len) {
		ssize_t n = sendfile(k->fd, fd, &off, len - (size_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			k->io_errno = n < 0 ? errno : EIO;  /* 0: the file shrank */
			return PEER_IO_ERR;
		}
	}
	return 0;
}

int kio_key_update(struct peer_kio *k, bool request_peer)
{
	uint8_t next[TLS_MAX_HASH];
	enum ktls_err e;
	int r;

	if ((r = next_secret(k, k->tx_secret, next)) != 0)
		return r;
	e = ktls_key_update_tx(k->fd, k->cs, next, request_peer);
	if (e != KTLS_OK) {
		OPENSSL_cleanse(next, sizeof(next));
		if (e == KTLS_E_REKEY_UNSUPPORTED) {
			snprintf(k->why, sizeof(k->why), "TLS 1.3 rekey needs Linux 6.14");
			return PEER_KTLS_ERR;
		}
		return ktls_fail(k, e, "KeyUpdate: TX re-key");
	}
	memcpy(k->tx_secret, next, k->cs->hash_len);
	OPENSSL_cleanse(next, sizeof(next));
	k->ku_tx++;
	fprintf(stderr, "peer: %s KeyUpdate sent (update_requested=%d): tx re-keyed, %d so far\n",
		k->who, request_peer, k->ku_tx);
	return 0;
}

int kio_close(struct peer_kio *k)
{
	if (k->tx_done)
		return 0;
	send_alert(k, 1, TLS_ALERT_CLOSE_NOTIFY);
	return 0;
}

const char *kio_strerror(const struct peer_kio *k, int r, char *buf, size_t len)
{
	if (r == 0)
		snprintf(buf, len, "ok");
	else if (r == TLS_CLOSED)
		snprintf(buf, len, "close_notify received");
	else if (r == PEER_EOF)
		snprintf(buf, len, "connection closed by the peer");
	else if (r == PEER_IO_ERR)
		snprintf(buf, len, "socket: %s", strerror(k->io_errno));
	else if (r == PEER_KTLS_ERR)
		snprintf(buf, len, "%s", k->why);
	else if (TLS_IS_LOCAL_ERR(r))
		snprintf(buf, len, "alert %s sent (%s)", tls_alert_name(TLS_ERR_ALERT(r)), k->why);
	else if (TLS_IS_PEER_ERR(r))
		snprintf(buf, len, "alert %s received", tls_alert_name(TLS_ERR_ALERT(r)));
	else
		snprintf(buf, len, "error %d", r);
	return buf;
}
