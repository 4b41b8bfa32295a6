/* One server handshake on one TCP socket, driven by the loop's ring.
 *
 * Reads are record-exact: the 5-byte header, then exactly the body it
 * announces (tls_record_need), so nothing behind the client's Finished
 * leaves the socket before kTLS RX is installed. Each flight is sent
 * whole before the next read. Once the handshake is done: kTLS TX and RX
 * at the engine's sequence numbers, the deferred NewSessionTickets
 * through kTLS as one handshake record (record-type cmsg), then DONE to
 * the application and the daemon's copy of the fd is closed. A deadline
 * (an io_uring timeout) cuts off slow or silent clients.
 *
 * 0-RTT accepted: once the server flight is out and the early data read so
 * far (a non-blocking read finds no next record), kTLS TX goes on at the
 * server's application secret (from the secret callback: seq 0) and an
 * early DONE (EARLY_STATE accepted, EARLY_DATA unconfirmed, KTLS=TX, no
 * POST) lets the application answer at once (0.5-RTT). The daemon reads on
 * (EndOfEarlyData, the client's Finished, record-exact), installs RX and
 * replies CONFIRMED with POST and the NewSessionTickets (NST) for the
 * library to send. From the early DONE on the application owns TX and the
 * daemon never writes to the socket (one writer per socket): a failure is
 * a FAILED reply only, no alert to the peer; the application closes. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "daemon.h"
#include "ktls.h"
#include "log.h"
#include "tls/wire.h"

enum state {
	S_READ,                    /* a recv is pending */
	S_SEND,                    /* a flight (or the alert) is being sent */
	S_TICKETS,                 /* NewSessionTickets through kTLS */
	S_DEAD,                    /* finished: waiting for pending ops */
};

struct session {
	struct loop *l;
	struct app *app;           /* NULL once the application is gone */
	struct session *next, *prev; /* in app->sessions */
	uint32_t id;
	uint64_t t0;               /* stats_now_us() at the start: the latency histogram */
	int fd;
	char peer[64];
	tls_conn *conn;
	tls_config *cfg;           /* the config it started with (a reload swaps the daemon's) */
	tls_buf in, out, early, tickets;
	size_t sent;               /* of out (or tickets) */
	int result;                /* the engine's last result */
	enum state state;
	unsigned pending;          /* ops in the ring */
	struct op rx_op, tx_op, tmo_op;
	struct __kernel_timespec deadline;
	struct msghdr tmsg;        /* the tickets' sendmsg */
	struct iovec tiov;
	union {
		size_t align;      /* cmsghdr alignment (it ends in a flexible array) */
		char buf[32];      /* >= CMSG_SPACE(1) (not a constant for clang) */
	} tcmsg;
	tls_post *post;
	uint8_t ktls;              /* HANDOFF_KTLS_* installed */
	bool abort;
	/* 0-RTT early hand-back */
	bool early_rx;             /* the engine took the client's early key */
	bool eoed;                 /* EndOfEarlyData read (handshake RX key after it) */
	bool probing;              /* the pending recv is MSG_DONTWAIT */
	bool handed;               /* early DONE sent: the application owns TX */
	size_t early_sent;         /* of early, in the early DONE */
	const tls_cipher *cs;
	size_t tx_ap_len;          /* 0 until the server's application secret */
	uint8_t tx_ap[TLS_MAX_SECRET];
};

struct session *session_next_in_app(const struct session *s)
{
	return s->next;
}

static void on_early_data(void *ctx, const uint8_t *data, size_t len)
{
	struct session *s = ctx;
	tls_write_bytes(&s->early, data, len);
}

/* tls_conn_traffic works only after the handshake: the early hand-back
 * takes our application TX secret (seq 0) when the engine makes it. */
static void on_secret(void *ctx, enum tls_dir dir, int epoch, const tls_cipher *cs,
		      const uint8_t *secret, size_t len)
{
	struct session *s = ctx;

	if (dir == TLS_DIR_RX && epoch == TLS_EPOCH_EARLY)
		s->early_rx = true;
	else if (dir == TLS_DIR_RX && epoch == TLS_EPOCH_HANDSHAKE && s->early_rx)
		s->eoed = true;
	else if (dir == TLS_DIR_TX && epoch == TLS_EPOCH_APPLICATION && len <= sizeof(s->tx_ap)) {
		memcpy(s->tx_ap, secret, len);
		s->tx_ap_len = len;
		s->cs = cs;
	}
}

/* Out of the application's list; the app may go with its last session. */
static void unlink_app(struct session *s)
{
	struct app *a = s->app;

	if (!a)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		a->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	s->app = NULL;
	app_session_gone(a, s);
}

static void maybe_free(struct session *s)
{
	if (s->state != S_DEAD || s->pending)
		return;
	unlink_app(s);
	s->l->inflight--;
	tls_post_free(s->post);
	tls_conn_free(s->conn);
	tls_config_free(s->cfg);
	tls_buf_free(&s->in);
	tls_buf_free(&s->out);
	tls_buf_free(&s->early);
	tls_buf_free(&s->tickets);
	OPENSSL_cleanse(s->tx_ap, sizeof(s->tx_ap));
	free(s);
}

/* Ends the session: cancels what is still in the ring, closes the
 * daemon's copy of the socket (the application keeps its own). */
static void finish(struct session *s)
{
	struct io_uring_sqe *sqe;

	if (s->state == S_DEAD)
		return;
	s->state = S_DEAD;
	if (s->pending) {
		/* the timeout, and a recv/send if one is pending; cancelling
		 * what is not there just completes with -ENOENT */
		sqe = loop_sqe(s->l);
		io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&s->tmo_op, 0);
		io_uring_sqe_set_data64(sqe, 0);
		sqe = loop_sqe(s->l);
		io_uring_prep_cancel(sqe, &s->rx_op, 0);
		io_uring_sqe_set_data64(sqe, 0);
		sqe = loop_sqe(s->l);
		io_uring_prep_cancel(sqe, &s->tx_op, 0);
		io_uring_sqe_set_data64(sqe, 0);
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	maybe_free(s);
}

static void fail(struct session *s, enum handoff_reason r, uint8_t alert, const char *text)
{
	log_msg(LOG_WARN, "handshake with %s failed: %s: %s", s->peer, handoff_reason_name(r), text);
	if (!s->abort)
		app_reply_failed(s->app, s->id, r, alert, text);
	finish(s);
}

void session_abort(struct session *s, const char *why)
{
	log_msg(LOG_INFO, "handshake with %s aborted: %s", s->peer, why);
	s->abort = true;           /* no reply: nobody to send it to */
	finish(s);
}

static void post_recv_flags(struct session *s, size_t need, int flags)
{
	uint8_t *p = tls_buf_reserve(&s->in, need);
	struct io_uring_sqe *sqe;

	if (!p) {
		fail(s, HANDOFF_R_INTERNAL, 0, "out of memory");
		return;
	}
	sqe = loop_sqe(s->l);
	io_uring_prep_recv(sqe, s->fd, p, need, flags);
	io_uring_sqe_set_data(sqe, &s->rx_op);
	s->pending++;
	s->state = S_READ;
	s->probing = flags & MSG_DONTWAIT;
}

static void post_recv(struct session *s, size_t need)
{
	post_recv_flags(s, need, 0);
}

/* The next record. With 0-RTT accepted, our flight sent and some early
 * data (or its end) read, at a record boundary: a non-blocking read, whose
 * EAGAIN means the client has nothing more for now -> early hand-back. */
static void next_read(struct session *s)
{
	size_t need = tls_record_need(s->in.base, s->in.len);

	if (s->early_rx && s->tx_ap_len && !s->handed && !s->in.len && (s->early.len || s->eoed))
		post_recv_flags(s, need, MSG_DONTWAIT);
	else
		post_recv(s, need);
}

static void post_send(struct session *s, const tls_buf *b)
{
	struct io_uring_sqe *sqe = loop_sqe(s->l);

	io_uring_prep_send(sqe, s->fd, b->base + s->sent, b->len - s->sent, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &s->tx_op);
	s->pending++;
}

/* The tickets as handshake records under the kernel's TX key. */
static void post_tickets(struct session *s)
{
	struct io_uring_sqe *sqe = loop_sqe(s->l);
	struct cmsghdr *cm;

	memset(&s->tmsg, 0, sizeof(s->tmsg));
	s->tiov.iov_base = s->tickets.base + s->sent;
	s->tiov.iov_len = s->tickets.len - s->sent;
	s->tmsg.msg_iov = &s->tiov;
	s->tmsg.msg_iovlen = 1;
	s->tmsg.msg_control = s->tcmsg.buf;
	s->tmsg.msg_controllen = CMSG_SPACE(sizeof(uint8_t));
	cm = CMSG_FIRSTHDR(&s->tmsg);
	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(uint8_t));
	*CMSG_DATA(cm) = KTLS_CT_HANDSHAKE;
	io_uring_prep_sendmsg(sqe, s->fd, &s->tmsg, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &s->tx_op);
	s->pending++;
	s->state = S_TICKETS;
}

static void engine_failed(struct session *s)
{
	char text[300];
	int r = s->result;

	if (TLS_IS_LOCAL_ERR(r) && s->handed) {
		/* the application owns TX since the early DONE: no alert */
		snprintf(text, sizeof(text), "alert %s not sent (after the early hand-back): %s",
			 tls_alert_name(TLS_ERR_ALERT(r)), tls_conn_error(s->conn));
		fail(s, HANDOFF_R_TLS, 0, text);
	} else if (TLS_IS_LOCAL_ERR(r)) {
		snprintf(text, sizeof(text), "alert %s sent: %s", tls_alert_name(TLS_ERR_ALERT(r)),
			 tls_conn_error(s->conn));
		fail(s, HANDOFF_R_TLS, (uint8_t)TLS_ERR_ALERT(r), text);
	} else if (TLS_IS_PEER_ERR(r)) {
		snprintf(text, sizeof(text), "the peer sent alert %s", tls_alert_name(TLS_ERR_ALERT(r)));
		fail(s, HANDOFF_R_TLS, 0, text);
	} else {
		snprintf(text, sizeof(text), "engine error %d: %s", r, tls_conn_error(s->conn));
		fail(s, HANDOFF_R_INTERNAL, 0, text);
	}
}

static void reply_done(struct session *s);
static void handshake_done(struct session *s);
static void confirm_done(struct session *s);

/* Feeds whatever whole records are buffered, then sends the engine's
 * output or reads the next record. */
static void drive(struct session *s)
{
	size_t n = s->in.len, need;

	s->result = tls_conn_handshake(s->conn, &s->out, s->in.base, &n);
	tls_buf_consume(&s->in, n);
	if (s->out.err) {
		fail(s, HANDOFF_R_INTERNAL, 0, "out of memory");
		return;
	}
	if (s->handed && s->out.len) { /* only an alert: the socket is not ours to write */
		tls_buf_reset(&s->out);
		if (s->result == 0 || s->result == TLS_WANT_INPUT) {
			fail(s, HANDOFF_R_INTERNAL, 0, "the engine wrote after the early hand-back");
			return;
		}
	}
	if (s->out.len) {              /* a flight, or the alert: send it first */
		s->sent = 0;
		s->state = S_SEND;
		post_send(s, &s->out);
		return;
	}
	if (s->result == 0) {
		handshake_done(s);
		return;
	}
	if (s->result != TLS_WANT_INPUT) {
		engine_failed(s);      /* TLS_WANT_SIGNATURE too: no async signer here */
		return;
	}
	need = tls_record_need(s->in.base, s->in.len);
	if (!need) {                   /* a whole record the engine did not take */
		fail(s, HANDOFF_R_INTERNAL, 0, "the engine left a whole record unread");
		return;
	}
	next_read(s);
}

static const char *ktls_why(enum ktls_err e, int err, const char *what, char *buf, size_t len)
{
	char t[200];
	snprintf(buf, len, "%s: %s", what, ktls_error_text(e, err, t, sizeof(t)));
	return buf;
}

/* The client's Finished verified: the keys go to the kernel, then the
 * tickets through it. */
static void handshake_done(struct session *s)
{
	const tls_params *p = tls_conn_params(s->conn);
	uint8_t tx[TLS_MAX_SECRET], rx[TLS_MAX_SECRET];
	size_t tx_len = sizeof(tx), rx_len = sizeof(rx);
	uint64_t tx_seq = 0, rx_seq = 0;
	uint16_t want = p->peer_record_limit < 16385 ? ktls_max_payload_for_limit(p->peer_record_limit) : 0;
	char why[300];
	enum ktls_err e = KTLS_OK;
	unsigned owed, made = 0;
	int r = 0;

	if (s->handed) {
		confirm_done(s);
		return;
	}
	if (tls_conn_traffic(s->conn, TLS_DIR_TX, tx, &tx_len, &tx_seq) != 0 ||
	    tls_conn_traffic(s->conn, TLS_DIR_RX, rx, &rx_len, &rx_seq) != 0 ||
	    !(s->post = tls_conn_post(s->conn))) {
		fail(s, HANDOFF_R_INTERNAL, 0, "no application secrets from the engine");
		goto out;
	}
	if ((e = ktls_install(s->fd, KTLS_DIR_TX, p->cipher, tx, tx_seq)) != KTLS_OK) {
		fail(s, HANDOFF_R_KTLS, 0, ktls_why(e, errno, "kTLS TX", why, sizeof(why)));
		goto out;
	}
	s->ktls |= HANDOFF_KTLS_TX;
	/* the peer's record_size_limit (RFC 8449): after TX, before any data */
	if (want && (e = ktls_set_tx_max_payload(s->fd, want)) != KTLS_OK) {
		fail(s, HANDOFF_R_KTLS, 0, ktls_why(e, errno, "kTLS record size limit", why, sizeof(why)));
		goto out;
	}
	if ((e = ktls_install(s->fd, KTLS_DIR_RX, p->cipher, rx, rx_seq)) != KTLS_OK) {
		fail(s, HANDOFF_R_KTLS, 0, ktls_why(e, errno, "kTLS RX", why, sizeof(why)));
		goto out;
	}
	s->ktls |= HANDOFF_KTLS_RX;
	owed = tls_post_tickets_owed(s->post);
	tls_buf_init(&s->tickets, 0);
	while (made < owed && (r = tls_post_ticket_send(s->post, s->cfg, &s->tickets)) == 0)
		made++;
	if (r < 0 || s->tickets.err) {
		fail(s, HANDOFF_R_INTERNAL, 0, "NewSessionTicket failed");
		goto out;
	}
	if (s->tickets.len) {
		s->sent = 0;
		post_tickets(s);
	} else {
		reply_done(s);
	}
out:
	OPENSSL_cleanse(tx, sizeof(tx));
	OPENSSL_cleanse(rx, sizeof(rx));
}

/* DONE's attributes but POST and EARLY_DATA. */
static void put_params(const struct session *s, tls_buf *m, uint8_t early)
{
	const tls_params *p = tls_conn_params(s->conn);

	handoff_put_u16(m, HANDOFF_A_CIPHER, tls_cipher_id(p->cipher));
	handoff_put_u16(m, HANDOFF_A_GROUP, p->group);
	handoff_put_u16(m, HANDOFF_A_SIG_SCHEME, p->sig_scheme);
	if (p->server_name)
		handoff_put_str(m, HANDOFF_A_SERVER_NAME, p->server_name);
	if (p->alpn)
		handoff_put_str(m, HANDOFF_A_ALPN, p->alpn);
	handoff_put_u8(m, HANDOFF_A_RESUMED, p->resumed);
	handoff_put_u8(m, HANDOFF_A_HRR, p->hrr);
	if (p->client_id)
		handoff_put_bytes(m, HANDOFF_A_PEER_ID, p->client_cert_sha256, 32);
	handoff_put_u8(m, HANDOFF_A_KTLS, s->ktls);
	handoff_put_u8(m, HANDOFF_A_EARLY_STATE, early);
}

/* 0-RTT, before the client's Finished: TX at our application secret
 * (seq 0: the tickets are deferred, nothing went under it yet), then DONE
 * with the unconfirmed early bytes. From here on the daemon only reads. */
static void reply_early(struct session *s)
{
	const tls_params *p = tls_conn_params(s->conn);
	uint16_t want = p->peer_record_limit < 16385 ? ktls_max_payload_for_limit(p->peer_record_limit) : 0;
	enum ktls_err e;
	char why[300];
	tls_buf m;

	e = ktls_install(s->fd, KTLS_DIR_TX, s->cs, s->tx_ap, 0);
	OPENSSL_cleanse(s->tx_ap, sizeof(s->tx_ap));  /* the kernel has it now */
	if (e != KTLS_OK) {
		fail(s, HANDOFF_R_KTLS, 0, ktls_why(e, errno, "kTLS TX", why, sizeof(why)));
		return;
	}
	s->ktls |= HANDOFF_KTLS_TX;
	if (want && (e = ktls_set_tx_max_payload(s->fd, want)) != KTLS_OK) {
		fail(s, HANDOFF_R_KTLS, 0, ktls_why(e, errno, "kTLS record size limit", why, sizeof(why)));
		return;
	}
	tls_buf_init(&m, HANDOFF_MAX_MSG);
	handoff_begin(&m, HANDOFF_DONE, s->id);
	put_params(s, &m, HANDOFF_EARLY_ACCEPTED);
	if (s->early.len)
		handoff_put_bytes(&m, HANDOFF_A_EARLY_DATA, s->early.base, s->early.len);
	if (handoff_end(&m) != 0 || m.err) {
		tls_buf_free(&m);
		fail(s, HANDOFF_R_INTERNAL, 0, "the early DONE reply does not fit one message");
		return;
	}
	app_reply(s->app, &m);
	tls_buf_free(&m);          /* wipes the early bytes' copy */
	s->handed = true;
	s->early_sent = s->early.len;
	log_msg(LOG_INFO, "handshake with %s: 0-RTT accepted, %zu early bytes handed back before the client's Finished",
		s->peer, s->early_sent);
}

/* The client's Finished after an early hand-back: RX at the engine's
 * sequence, then CONFIRMED with POST and the tickets for the library to
 * send (the daemon does not write to a socket the application holds). */
static void confirm_done(struct session *s)
{
	const tls_params *p = tls_conn_params(s->conn);
	uint8_t rx[TLS_MAX_SECRET];
	size_t rx_len = sizeof(rx);
	uint64_t rx_seq = 0;
	unsigned owed, made = 0;
	tls_buf m, post;
	enum ktls_err e;
	char why[300];
	int r = 0;

	if (tls_conn_traffic(s->conn, TLS_DIR_RX, rx, &rx_len, &rx_seq) != 0 ||
	    !(s->post = tls_conn_post(s->conn))) {
		OPENSSL_cleanse(rx, sizeof(rx));
		fail(s, HANDOFF_R_INTERNAL, 0, "no application secrets from the engine");
		return;
	}
	e = ktls_install(s->fd, KTLS_DIR_RX, p->cipher, rx, rx_seq);
	OPENSSL_cleanse(rx, sizeof(rx));
	if (e != KTLS_OK) {
		fail(s, HANDOFF_R_KTLS, 0, ktls_why(e, errno, "kTLS RX", why, sizeof(why)));
		return;
	}
	s->ktls |= HANDOFF_KTLS_RX;
	owed = tls_post_tickets_owed(s->post);
	tls_buf_reset(&s->tickets);
	while (made < owed && (r = tls_post_ticket_send(s->post, s->cfg, &s->tickets)) == 0)
		made++;
	tls_buf_init(&post, 0);
	tls_buf_init(&m, HANDOFF_MAX_MSG);
	if (r < 0 || s->tickets.err || tls_post_encode(s->post, &post) != 0 || post.err) {
		tls_buf_free(&post);
		tls_buf_free(&m);
		fail(s, HANDOFF_R_INTERNAL, 0, "NewSessionTicket or the post-handshake state failed");
		return;
	}
	handoff_begin(&m, HANDOFF_CONFIRMED, s->id);
	handoff_put_bytes(&m, HANDOFF_A_POST, post.base, post.len);
	handoff_put_u8(&m, HANDOFF_A_KTLS, s->ktls);
	if (s->tickets.len)
		handoff_put_bytes(&m, HANDOFF_A_NST, s->tickets.base, s->tickets.len);
	/* early data that came after the early DONE: confirmed with it */
	if (s->early.len > s->early_sent)
		handoff_put_bytes(&m, HANDOFF_A_EARLY_DATA, s->early.base + s->early_sent,
				  s->early.len - s->early_sent);
	if (handoff_end(&m) != 0 || m.err) {
		tls_buf_free(&post);
		tls_buf_free(&m);
		fail(s, HANDOFF_R_INTERNAL, 0, "the CONFIRMED reply does not fit one message");
		return;
	}
	app_reply(s->app, &m);
	stats_ok(&s->l->d->stats, stats_now_us() - s->t0, p->resumed, HANDOFF_EARLY_ACCEPTED);
	log_msg(LOG_INFO, "handshake with %s ok: %s group=0x%04x sni=%s alpn=%s resumed=%d hrr=%d early=accepted confirmed (early hand-back, %u tickets to the application)",
		s->peer, tls_cipher_name(p->cipher), p->group, p->server_name ? p->server_name : "-",
		p->alpn ? p->alpn : "-", p->resumed, p->hrr, made);
	tls_buf_free(&post);
	tls_buf_free(&m);
	finish(s);
}

static void reply_done(struct session *s)
{
	const tls_params *p = tls_conn_params(s->conn);
	uint64_t seq;
	tls_buf m, post;
	uint8_t early = p->early_data == TLS_EARLY_ACCEPTED   ? HANDOFF_EARLY_ACCEPTED
			: p->early_data == TLS_EARLY_REJECTED ? HANDOFF_EARLY_REJECTED
							      : HANDOFF_EARLY_NONE;

	/* the kernel's TX sequence after the tickets, for the library's KeyUpdate */
	if (ktls_get_state(s->fd, KTLS_DIR_TX, NULL, NULL, &seq) == KTLS_OK)
		tls_post_set_seq(s->post, TLS_DIR_TX, seq);
	tls_buf_init(&post, 0);
	tls_buf_init(&m, HANDOFF_MAX_MSG);
	if (tls_post_encode(s->post, &post) != 0 || post.err) {
		tls_buf_free(&post);
		tls_buf_free(&m);
		fail(s, HANDOFF_R_INTERNAL, 0, "encoding the post-handshake state failed");
		return;
	}
	handoff_begin(&m, HANDOFF_DONE, s->id);
	handoff_put_bytes(&m, HANDOFF_A_POST, post.base, post.len);
	put_params(s, &m, early);
	if (s->early.len)
		handoff_put_bytes(&m, HANDOFF_A_EARLY_DATA, s->early.base, s->early.len);
	if (handoff_end(&m) != 0 || m.err) {
		tls_buf_free(&post);
		tls_buf_free(&m);
		fail(s, HANDOFF_R_INTERNAL, 0, "the DONE reply does not fit one message");
		return;
	}
	app_reply(s->app, &m);
	/* The 0-RTT bytes were delivered after the client's Finished (RX is
	 * already installed), so CONFIRMED follows at once; the daemon sent
	 * the tickets itself and has none for the library. */
	if (early == HANDOFF_EARLY_ACCEPTED) {
		tls_buf_reset(&m);
		handoff_begin(&m, HANDOFF_CONFIRMED, s->id);
		handoff_put_bytes(&m, HANDOFF_A_POST, post.base, post.len);
		if (handoff_end(&m) == 0 && !m.err)
			app_reply(s->app, &m);
	}
	stats_ok(&s->l->d->stats, stats_now_us() - s->t0, p->resumed, early);
	log_msg(LOG_INFO, "handshake with %s ok: %s group=0x%04x sni=%s alpn=%s resumed=%d hrr=%d early=%s%s",
		s->peer, tls_cipher_name(p->cipher), p->group, p->server_name ? p->server_name : "-",
		p->alpn ? p->alpn : "-", p->resumed, p->hrr,
		early == HANDOFF_EARLY_ACCEPTED ? "accepted" : early == HANDOFF_EARLY_REJECTED ? "rejected" : "none",
		p->client_id ? " client_cert=yes" : "");
	tls_buf_free(&post);
	tls_buf_free(&m);
	finish(s);
}

static void on_recv(struct session *s, int res)
{
	char text[200];

	if (res == 0) {
		fail(s, HANDOFF_R_PEER_CLOSED, 0, "the peer closed the connection");
		return;
	}
	if (res == -EAGAIN && s->probing) {
		/* nothing more from the client for now: the early bytes go back */
		reply_early(s);
		if (s->state != S_DEAD)
			post_recv(s, tls_record_need(s->in.base, s->in.len));
		return;
	}
	if (res < 0) {
		snprintf(text, sizeof(text), "recv: %s", strerror(-res));
		fail(s, HANDOFF_R_PEER_CLOSED, 0, text);
		return;
	}
	s->in.len += (size_t)res;
	/* the engine sees each header before we wait for its body, so a
	 * plain-text client is refused at once, not after 8 KiB of "body" */
	drive(s);
}

static void on_send(struct session *s, int res)
{
	tls_buf *b = s->state == S_TICKETS ? &s->tickets : &s->out;
	char text[200];

	if (res < 0) {
		snprintf(text, sizeof(text), "%s: %s", s->state == S_TICKETS ? "NewSessionTicket through kTLS" : "send",
			 strerror(-res));
		fail(s, s->state == S_TICKETS ? HANDOFF_R_KTLS : HANDOFF_R_PEER_CLOSED, 0, text);
		return;
	}
	s->sent += (size_t)res;
	if (s->sent < b->len) {        /* short send: the rest */
		if (s->state == S_TICKETS)
			post_tickets(s);  /* the rest becomes records of its own: fine */
		else
			post_send(s, b);
		return;
	}
	if (s->state == S_TICKETS) {
		reply_done(s);
		return;
	}
	tls_buf_reset(&s->out);
	s->sent = 0;
	if (s->result == 0)
		handshake_done(s);
	else if (s->result != TLS_WANT_INPUT)
		engine_failed(s);      /* the alert went out */
	else
		next_read(s);
}

void session_on_op(struct session *s, enum op_kind kind, int res)
{
	s->pending--;
	if (s->state == S_DEAD) {      /* cancelled or late: just account */
		maybe_free(s);
		return;
	}
	switch (kind) {
	case OP_S_RECV:
		on_recv(s, res);
		break;
	case OP_S_SEND:
		on_send(s, res);
		break;
	case OP_S_TIMEOUT:
		if (res == -ETIME)
			fail(s, HANDOFF_R_TIMEOUT, 0, "the handshake deadline passed");
		break;
	default:
		break;
	}
}

int session_start(struct loop *l, struct app *a, uint32_t id, int fd, uint32_t timeout_ms,
		  const char *peer)
{
	static const tls_callbacks cb = { .early_data = on_early_data, .secret = on_secret };
	struct session *s = calloc(1, sizeof(*s));
	struct io_uring_sqe *sqe;

	if (!s || !(s->conn = tls_conn_new(l->d->tls))) {
		free(s);
		return -1;
	}
	s->cfg = tls_config_ref(l->d->tls);
	s->l = l;
	s->app = a;
	s->id = id;
	s->t0 = stats_now_us();
	s->fd = fd;
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	s->rx_op = (struct op){ OP_S_RECV, s };
	s->tx_op = (struct op){ OP_S_SEND, s };
	s->tmo_op = (struct op){ OP_S_TIMEOUT, s };
	tls_buf_init(&s->in, 0);
	tls_buf_init(&s->out, 0);
	tls_buf_init(&s->early, 0);
	tls_buf_init(&s->tickets, 0);
	tls_conn_set_callbacks(s->conn, &cb, s);
	/* kTLS: tickets go out through the kernel once TX is installed */
	tls_conn_defer_tickets(s->conn);
	l->inflight++;
	s->next = a->sessions;
	if (a->sessions)
		a->sessions->prev = s;
	a->sessions = s;
	s->deadline.tv_sec = timeout_ms / 1000;
	s->deadline.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
	sqe = loop_sqe(l);
	io_uring_prep_timeout(sqe, &s->deadline, 0, 0);
	io_uring_sqe_set_data(sqe, &s->tmo_op);
	s->pending++;
	post_recv(s, 5);               /* the ClientHello's record header */
	return 0;
}
