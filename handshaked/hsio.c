/* The TCP socket being handshaken (hsio.h), driven by the loop's ring.
 *
 * Reads are record-exact: a record's header, then exactly the body it
 * announces (tls_record_need), so nothing behind the handshake leaves
 * the socket before kTLS RX is installed. Each flight is sent whole
 * before the next read. A deadline (an io_uring timeout) cuts off slow or
 * silent peers. Once the application owns TX (the server's 0-RTT early
 * hand-back) nothing more is written: a failure is a FAILED reply only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "hsio.h"
#include "ktls.h"
#include "log.h"
#include "tls/names.h"

void hsio_start(struct hsio *io, const struct hsio_role *role, struct loop *l, struct app *a, uint32_t id,
		int fd, uint32_t timeout_ms, const char *peer, tls_conn *conn, tls_config *cfg)
{
	struct io_uring_sqe *sqe;

	io->role = role;
	io->l = l;
	io->app = a;
	io->id = id;
	io->t0 = stats_now_us();
	io->fd = fd;
	snprintf(io->peer, sizeof(io->peer), "%s", peer);
	io->conn = conn;
	io->cfg = cfg;
	io->rx_op = (struct op){ OP_HSIO_RECV, io };
	io->tx_op = (struct op){ OP_HSIO_SEND, io };
	io->tmo_op = (struct op){ OP_HSIO_TIMEOUT, io };
	tls_buf_init(&io->in, 0);
	tls_buf_init(&io->out, 0);
	__atomic_add_fetch(&l->inflight, 1, __ATOMIC_RELAXED);  /* spread_pick reads it */
	if (a) {                   /* the upcall's handshakes have no application */
		io->next = a->handshakes;
		if (a->handshakes)
			a->handshakes->prev = io;
		a->handshakes = io;
	}
	io->deadline.tv_sec = timeout_ms / 1000;
	io->deadline.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
	sqe = loop_sqe(l);
	io_uring_prep_timeout(sqe, &io->deadline, 0, 0);
	io_uring_sqe_set_data(sqe, &io->tmo_op);
	io->pending++;
}

/* Out of the application's list; the app may go with its last handshake. */
static void unlink_app(struct hsio *io)
{
	struct app *a = io->app;

	if (!a)
		return;
	if (io->prev)
		io->prev->next = io->next;
	else
		a->handshakes = io->next;
	if (io->next)
		io->next->prev = io->prev;
	io->next = io->prev = NULL;
	io->app = NULL;
	app_handshake_gone(a);
}

static void maybe_free(struct hsio *io)
{
	if (io->state != HSIO_DEAD || io->pending)
		return;
	__atomic_sub_fetch(&io->l->inflight, 1, __ATOMIC_RELAXED);
	tls_conn_free(io->conn);
	tls_config_free(io->cfg);
	tls_buf_free(&io->in);
	tls_buf_free(&io->out);    /* wipes: the client's held its early data */
	free(io->fail_text);
	io->role->release(io);
}

void hsio_finish(struct hsio *io)
{
	struct io_uring_sqe *sqe;

	if (io->state == HSIO_DEAD)
		return;
	io->state = HSIO_DEAD;
	/* out of the application's list now, not once the cancels are in:
	 * an application leaving meanwhile must not abort it again */
	unlink_app(io);
	if (io->pending) {
		/* the timeout, and a recv/send if one is pending; cancelling
		 * what is not there just completes with -ENOENT */
		sqe = loop_sqe(io->l);
		io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&io->tmo_op, 0);
		io_uring_sqe_set_data64(sqe, 0);
		sqe = loop_sqe(io->l);
		io_uring_prep_cancel(sqe, &io->rx_op, 0);
		io_uring_sqe_set_data64(sqe, 0);
		sqe = loop_sqe(io->l);
		io_uring_prep_cancel(sqe, &io->tx_op, 0);
		io_uring_sqe_set_data64(sqe, 0);
	}
	if (io->fd >= 0)
		close(io->fd);
	io->fd = -1;
	maybe_free(io);
}

double hsio_ms(const struct hsio *io)
{
	return (double)(stats_now_us() - io->t0) / 1000;
}

const char *hsio_group_name(uint16_t group)
{
	static __thread char hex[8];
	const char *n = tls_group_name(group);

	if (n)
		return n;
	snprintf(hex, sizeof(hex), "0x%04x", group);
	return hex;
}

const char *hsio_early_name(uint8_t early)
{
	return early == HANDOFF_EARLY_ACCEPTED ? "accepted" : early == HANDOFF_EARLY_REJECTED ? "rejected" : "none";
}

/* event=handshake_failed; a TLS failure names its alert and which way it
 * went (not_sent: the application held TX already). */
static void log_failure(const struct hsio *io, enum handoff_reason r, const char *text)
{
	char alert[80] = "";
	int res = io->result;

	if (r == HANDOFF_R_TLS && (TLS_IS_LOCAL_ERR(res) || TLS_IS_PEER_ERR(res)))
		snprintf(alert, sizeof(alert), " alert=%s alert_dir=%s", tls_alert_name(TLS_ERR_ALERT(res)),
			 TLS_IS_PEER_ERR(res) ? "received" : io->app_owns_tx ? "not_sent" : "sent");
	log_ev(LOG_WARN, "handshake_failed", "role=%s via=%s peer=%s%s%s reason=%s%s ms=%.1f text=%s", io->role->role,
	       io->role->via, log_q(io->peer), io->name ? " name=" : "", io->name ? log_q(*io->name ? io->name : NULL) : "",
	       handoff_reason_name(r), alert, hsio_ms(io), log_q(text));
}

static void reply_failed(struct hsio *io, enum handoff_reason r, uint8_t alert, const char *text)
{
	if (io->role->failed)
		io->role->failed(io, r, alert, text);
	else
		app_reply_failed(io->app, io->id, r, alert, text);
}

void hsio_fail(struct hsio *io, enum handoff_reason r, uint8_t alert, const char *text)
{
	log_failure(io, r, text);
	if (!io->abort)
		reply_failed(io, r, alert, text);
	hsio_finish(io);
}

/* How long, and how much, a peer may still send after our fatal alert. */
#define DRAIN_MS 1000
#define DRAIN_MAX (1u << 20)

static void post_drain(struct hsio *io)
{
	struct io_uring_sqe *sqe = loop_sqe(io->l);

	io_uring_prep_recv(sqe, io->fd, io->l->drain_buf, sizeof(io->l->drain_buf), 0);
	io_uring_sqe_set_data(sqe, &io->rx_op);
	io->pending++;
}

/* After our fatal alert went out: FIN, then what the peer still sends is
 * read and dropped until its end (at most DRAIN_MS and DRAIN_MAX). The
 * peer may be sending a whole flight when it fails (a client Certificate
 * the server refuses): closing with those bytes unread would reset the
 * connection, and a reset can destroy the alert before the peer reads
 * it. The FAILED reply waits for the drain's end, so the application
 * does not close its copy of the socket first. */
static void fail_after_drain(struct hsio *io, enum handoff_reason r, uint8_t alert, const char *text)
{
	struct io_uring_sqe *sqe;

	if (!(io->fail_text = strdup(text)) || shutdown(io->fd, SHUT_WR) != 0) {
		hsio_fail(io, r, alert, text);
		return;
	}
	log_failure(io, r, text);
	io->fail_reason = r;
	io->fail_alert = alert;
	io->state = HSIO_DRAIN;
	io->deadline = (struct __kernel_timespec){ .tv_sec = DRAIN_MS / 1000,
						   .tv_nsec = (DRAIN_MS % 1000) * 1000000LL };
	sqe = loop_sqe(io->l);
	io_uring_prep_timeout_update(sqe, &io->deadline, (uint64_t)(uintptr_t)&io->tmo_op, 0);
	io_uring_sqe_set_data64(sqe, 0);
	post_drain(io);
}

static void drain_done(struct hsio *io)
{
	if (!io->abort)
		reply_failed(io, io->fail_reason, io->fail_alert, io->fail_text);
	hsio_finish(io);
}

static void on_drain(struct hsio *io, int res)
{
	if (res > 0 && (io->drained += (size_t)res) < DRAIN_MAX)
		post_drain(io);
	else
		drain_done(io);    /* the peer's end, an error, or enough */
}

void hsio_abort(struct hsio *io, const char *why)
{
	log_ev(LOG_INFO, "handshake_aborted", "role=%s via=%s peer=%s ms=%.1f text=%s", io->role->role, io->role->via,
	       log_q(io->peer), hsio_ms(io), log_q(why));
	io->abort = true;          /* no reply: nobody to send it to */
	hsio_finish(io);
}

void hsio_engine_failed(struct hsio *io)
{
	char text[300];
	int r = io->result;

	if (TLS_IS_LOCAL_ERR(r) && io->app_owns_tx) {
		snprintf(text, sizeof(text), "alert %s not sent (after the early hand-back): %s",
			 tls_alert_name(TLS_ERR_ALERT(r)), tls_conn_error(io->conn));
		hsio_fail(io, HANDOFF_R_TLS, 0, text);
	} else if (TLS_IS_LOCAL_ERR(r)) {
		snprintf(text, sizeof(text), "alert %s sent: %s", tls_alert_name(TLS_ERR_ALERT(r)),
			 tls_conn_error(io->conn));
		fail_after_drain(io, HANDOFF_R_TLS, (uint8_t)TLS_ERR_ALERT(r), text);
	} else if (TLS_IS_PEER_ERR(r)) {
		snprintf(text, sizeof(text), "the %s sent alert %s", io->role->peer_word,
			 tls_alert_name(TLS_ERR_ALERT(r)));
		hsio_fail(io, HANDOFF_R_TLS, 0, text);
	} else {
		snprintf(text, sizeof(text), "engine error %d: %s", r, tls_conn_error(io->conn));
		hsio_fail(io, HANDOFF_R_INTERNAL, 0, text);
	}
}

void hsio_recv(struct hsio *io, size_t need, int flags)
{
	uint8_t *p = tls_buf_reserve(&io->in, need);
	struct io_uring_sqe *sqe;

	if (!p) {
		hsio_fail(io, HANDOFF_R_INTERNAL, 0, "out of memory");
		return;
	}
	sqe = loop_sqe(io->l);
	io_uring_prep_recv(sqe, io->fd, p, need, flags);
	io_uring_sqe_set_data(sqe, &io->rx_op);
	io->pending++;
	io->state = HSIO_READ;
	io->probing = flags & MSG_DONTWAIT;
}

static void post_send(struct hsio *io)
{
	struct io_uring_sqe *sqe = loop_sqe(io->l);

	io_uring_prep_send(sqe, io->fd, io->out.base + io->sent, io->out.len - io->sent, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &io->tx_op);
	io->pending++;
	io->state = HSIO_SEND;
}

/* The rest of io->records, with its record type in a cmsg. */
static void post_records(struct hsio *io)
{
	struct io_uring_sqe *sqe = loop_sqe(io->l);
	struct cmsghdr *cm;

	memset(&io->rmsg, 0, sizeof(io->rmsg));
	io->riov.iov_base = io->records->base + io->sent;
	io->riov.iov_len = io->records->len - io->sent;
	io->rmsg.msg_iov = &io->riov;
	io->rmsg.msg_iovlen = 1;
	io->rmsg.msg_control = io->rcmsg.buf;
	io->rmsg.msg_controllen = CMSG_SPACE(sizeof(uint8_t));
	cm = CMSG_FIRSTHDR(&io->rmsg);
	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(uint8_t));
	*CMSG_DATA(cm) = io->records_type;
	io_uring_prep_sendmsg(sqe, io->fd, &io->rmsg, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &io->tx_op);
	io->pending++;
	io->state = HSIO_SEND_RECORDS;
}

void hsio_send_records(struct hsio *io, const tls_buf *b, uint8_t ctype, const char *what)
{
	io->records = b;
	io->records_type = ctype;
	io->records_what = what;
	io->sent = 0;
	post_records(io);
}

void hsio_next(struct hsio *io)
{
	size_t need;

	if (io->result == 0) {
		io->role->done(io);
		return;
	}
	if (io->result != TLS_WANT_INPUT) {
		hsio_engine_failed(io); /* TLS_WANT_SIGNATURE too: no async signer here */
		return;
	}
	if (!(need = tls_record_need(io->in.base, io->in.len))) {
		hsio_fail(io, HANDOFF_R_INTERNAL, 0, "the engine left a whole record unread");
		return;
	}
	if (io->role->next_read)
		io->role->next_read(io, need);
	else
		hsio_recv(io, need, 0);
}

void hsio_drive(struct hsio *io)
{
	size_t n = io->in.len;

	io->result = tls_conn_handshake(io->conn, &io->out, io->in.base, &n);
	tls_buf_consume(&io->in, n);
	if (io->out.err) {
		hsio_fail(io, HANDOFF_R_INTERNAL, 0, "out of memory");
		return;
	}
	if (io->app_owns_tx && io->out.len) { /* only an alert: the socket is not ours to write */
		tls_buf_reset(&io->out);
		if (io->result == 0 || io->result == TLS_WANT_INPUT) {
			hsio_fail(io, HANDOFF_R_INTERNAL, 0, "the engine wrote after the early hand-back");
			return;
		}
	}
	if (io->out.len) {             /* a flight, or the alert: send it first */
		io->sent = 0;
		post_send(io);
		return;
	}
	hsio_next(io);
}

static void on_recv(struct hsio *io, int res)
{
	char text[200];

	if (res == 0) {
		snprintf(text, sizeof(text), "the %s closed the connection", io->role->peer_word);
		hsio_fail(io, HANDOFF_R_PEER_CLOSED, 0, text);
		return;
	}
	if (res == -EAGAIN && io->probing && io->role->idle) {
		io->role->idle(io);
		return;
	}
	if (res < 0) {
		snprintf(text, sizeof(text), "recv: %s", strerror(-res));
		hsio_fail(io, HANDOFF_R_PEER_CLOSED, 0, text);
		return;
	}
	io->in.len += (size_t)res;
	/* the engine sees each header before we wait for its body, so a
	 * plain-text peer is refused at once, not after 8 KiB of "body" */
	hsio_drive(io);
}

static void on_send(struct hsio *io, int res)
{
	bool records = io->state == HSIO_SEND_RECORDS;
	const tls_buf *b = records ? io->records : &io->out;
	char text[200];

	if (res < 0) {
		snprintf(text, sizeof(text), "%s: %s", records ? io->records_what : "send", strerror(-res));
		hsio_fail(io, records ? HANDOFF_R_KTLS : HANDOFF_R_PEER_CLOSED, 0, text);
		return;
	}
	io->sent += (size_t)res;
	if (io->sent < b->len) {       /* short send: the rest */
		if (records)
			post_records(io);  /* the rest becomes records of its own: fine */
		else
			post_send(io);
		return;
	}
	if (records) {
		io->role->records_sent(io);
		return;
	}
	tls_buf_reset(&io->out);
	io->sent = 0;
	hsio_next(io);
}

void hsio_on_op(struct hsio *io, enum op_kind kind, int res)
{
	io->pending--;
	if (io->state == HSIO_DEAD) {  /* cancelled or late: just account */
		maybe_free(io);
		return;
	}
	if (io->state == HSIO_DRAIN) {
		if (kind == OP_HSIO_RECV)
			on_drain(io, res);
		else if (kind == OP_HSIO_TIMEOUT && res != -ECANCELED)
			drain_done(io);
		return;
	}
	switch (kind) {
	case OP_HSIO_RECV:
		on_recv(io, res);
		break;
	case OP_HSIO_SEND:
		on_send(io, res);
		break;
	case OP_HSIO_TIMEOUT:
		if (res == -ETIME)
			hsio_fail(io, HANDOFF_R_TIMEOUT, 0, "the handshake deadline passed");
		break;
	default:
		break;
	}
}

/* ---- kTLS ---- */

static const char *ktls_why(enum ktls_err e, int err, const char *what, char *buf, size_t len)
{
	char t[200];
	snprintf(buf, len, "%s: %s", what, ktls_error_text(e, err, t, sizeof(t)));
	return buf;
}

int hsio_ktls_tx(struct hsio *io, const tls_cipher *cs, const uint8_t *secret, uint64_t seq)
{
	const tls_params *p = tls_conn_params(io->conn);
	uint16_t want = p->peer_record_limit < 16385 ? ktls_max_payload_for_limit(p->peer_record_limit) : 0;
	enum ktls_err e;
	char why[300];

	if ((e = ktls_install(io->fd, KTLS_DIR_TX, cs, secret, seq)) != KTLS_OK) {
		hsio_fail(io, HANDOFF_R_KTLS, 0, ktls_why(e, errno, "kTLS TX", why, sizeof(why)));
		return -1;
	}
	io->ktls |= HANDOFF_KTLS_TX;
	/* the peer's record_size_limit (RFC 8449): after TX, before any data */
	if (want && (e = ktls_set_tx_max_payload(io->fd, want)) != KTLS_OK) {
		hsio_fail(io, HANDOFF_R_KTLS, 0, ktls_why(e, errno, "kTLS record size limit", why, sizeof(why)));
		return -1;
	}
	return 0;
}

int hsio_ktls_rx(struct hsio *io, const tls_cipher *cs, const uint8_t *secret, uint64_t seq)
{
	enum ktls_err e;
	char why[300];

	if ((e = ktls_install(io->fd, KTLS_DIR_RX, cs, secret, seq)) != KTLS_OK) {
		hsio_fail(io, HANDOFF_R_KTLS, 0, ktls_why(e, errno, "kTLS RX", why, sizeof(why)));
		return -1;
	}
	io->ktls |= HANDOFF_KTLS_RX;
	return 0;
}

int hsio_ktls_both(struct hsio *io, tls_post **post)
{
	const tls_params *p = tls_conn_params(io->conn);
	uint8_t tx[TLS_MAX_SECRET], rx[TLS_MAX_SECRET];
	size_t tx_len = sizeof(tx), rx_len = sizeof(rx);
	uint64_t tx_seq = 0, rx_seq = 0;
	int r = -1;

	*post = NULL;
	if (tls_conn_traffic(io->conn, TLS_DIR_TX, tx, &tx_len, &tx_seq) != 0 ||
	    tls_conn_traffic(io->conn, TLS_DIR_RX, rx, &rx_len, &rx_seq) != 0 || !(*post = tls_conn_post(io->conn))) {
		hsio_fail(io, HANDOFF_R_INTERNAL, 0, "no application secrets from the engine");
		goto out;
	}
	if (hsio_ktls_tx(io, p->cipher, tx, tx_seq) == 0 && hsio_ktls_rx(io, p->cipher, rx, rx_seq) == 0)
		r = 0;
out:
	OPENSSL_cleanse(tx, sizeof(tx));
	OPENSSL_cleanse(rx, sizeof(rx));
	return r;
}

/* ---- replies ---- */

uint8_t hsio_early_state(const tls_params *p)
{
	return p->early_data == TLS_EARLY_ACCEPTED   ? HANDOFF_EARLY_ACCEPTED
	       : p->early_data == TLS_EARLY_REJECTED ? HANDOFF_EARLY_REJECTED
						     : HANDOFF_EARLY_NONE;
}

void hsio_put_params(const struct hsio *io, tls_buf *m, const char *server_name, const uint8_t *peer_id,
		     uint8_t early)
{
	const tls_params *p = tls_conn_params(io->conn);

	handoff_put_u16(m, HANDOFF_A_CIPHER, tls_cipher_id(p->cipher));
	handoff_put_u16(m, HANDOFF_A_GROUP, p->group);
	handoff_put_u16(m, HANDOFF_A_SIG_SCHEME, p->sig_scheme);
	if (server_name)
		handoff_put_str(m, HANDOFF_A_SERVER_NAME, server_name);
	if (p->alpn)
		handoff_put_str(m, HANDOFF_A_ALPN, p->alpn);
	handoff_put_u8(m, HANDOFF_A_RESUMED, p->resumed);
	handoff_put_u8(m, HANDOFF_A_HRR, p->hrr);
	if (peer_id)
		handoff_put_bytes(m, HANDOFF_A_PEER_ID, peer_id, 32);
	handoff_put_u8(m, HANDOFF_A_KTLS, io->ktls);
	handoff_put_u8(m, HANDOFF_A_EARLY_STATE, early);
}
