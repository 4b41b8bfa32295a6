/* The client role: one CONNECT on one TCP socket, driven by the loop's
 * ring like a server session (session.c): record-exact reads, each
 * flight sent whole, a deadline. It resumes from the daemon's ticket
 * cache (tickets.c) when it can, then the request's EARLY_DATA goes as
 * 0-RTT if the ticket allows. Once the server's Finished is verified
 * and our Finished sent: kTLS TX and RX at the engine's sequence
 * numbers, DONE to the application, and the daemon's copy of the fd is
 * closed. The server's NewSessionTickets come later, through kTLS: the
 * library reads them (hs_recv) and sends them back with STORE_TICKET. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "daemon.h"
#include "ktls.h"
#include "log.h"
#include "tickets.h"

enum cstate {
	C_READ,                    /* a recv is pending */
	C_SEND,                    /* a flight (or the alert) is being sent */
	C_DEAD,                    /* finished: waiting for pending ops */
};

struct csession {
	struct loop *l;
	struct app *app;           /* NULL once the application is gone */
	struct csession *next, *prev; /* in app->csessions */
	uint32_t id;
	int fd;
	char peer[64];
	char name[HANDOFF_MAX_STR + 1], alpn[HANDOFF_MAX_STR + 1]; /* the cache key, with port */
	uint16_t port;
	tls_conn *conn;
	tls_config *cfg;
	tls_buf in, out;
	size_t sent;
	int result;
	enum cstate state;
	unsigned pending;
	struct op rx_op, tx_op, tmo_op;
	struct __kernel_timespec deadline;
	uint64_t start_us;         /* for the latency counter */
	uint8_t ktls;
	bool offered;              /* a cached ticket was offered */
	bool abort;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);  /* the engine's ticket clock */
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- configuration: one frozen client tls_config per VERIFY mode ---- */

static int idx(uint8_t verify)
{
	if (!(verify & (HANDOFF_VERIFY_PEER | HANDOFF_VERIFY_NAME)))
		return 0;
	return verify & HANDOFF_VERIFY_NAME ? 2 : 1;  /* the name implies the chain */
}

static tls_config *build_one(const struct dconfig *c, int i, char *err, size_t len)
{
	tls_config *t = tls_config_new(TLS_CLIENT);
	char why[300];

	if (!t) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	/* without [client] ca_file: the system trust store (tls.h) */
	if (c->server_ca && tls_config_load_ca(t, c->server_ca, why, sizeof(why)) != 0) {
		snprintf(err, len, "[client] ca_file %s: %s", c->server_ca, why);
		goto fail;
	}
	if (tls_config_set_verify_peer(t, i > 0) != 0 || tls_config_set_verify_name(t, i == 2) != 0 ||
	    (c->max_handshake && tls_config_set_max_handshake(t, c->max_handshake) != 0)) {
		snprintf(err, len, "client settings refused by the engine");
		goto fail;
	}
	tls_config_freeze(t);
	return t;
fail:
	tls_config_free(t);
	return NULL;
}

int client_setup(struct daemon *d, const struct dconfig *c, bool reload, char *err, size_t len)
{
	tls_config *t[CLIENT_CONFIGS] = { 0 }, *old[CLIENT_CONFIGS];

	for (int i = 0; i < CLIENT_CONFIGS; i++)
		if (!(t[i] = build_one(c, i, err, len))) {
			while (i--)
				tls_config_free(t[i]);
			return -1;
		}
	/* the cache outlives reloads; its size is fixed at start */
	if (!d->tickets && !(d->tickets = tcache_new(c->ticket_cache))) {
		snprintf(err, len, "out of memory for the ticket cache");
		for (int i = 0; i < CLIENT_CONFIGS; i++)
			tls_config_free(t[i]);
		return -1;
	}
	/* the loops read them under the read side of d->lock */
	if (reload)
		pthread_rwlock_wrlock(&d->lock);
	for (int i = 0; i < CLIENT_CONFIGS; i++) {
		old[i] = d->client_tls[i];
		d->client_tls[i] = t[i];
	}
	if (reload)
		pthread_rwlock_unlock(&d->lock);
	for (int i = 0; i < CLIENT_CONFIGS; i++)
		tls_config_free(old[i]);   /* handshakes under way keep theirs */
	return 0;
}

void client_teardown(struct daemon *d)
{
	for (int i = 0; i < CLIENT_CONFIGS; i++) {
		tls_config_free(d->client_tls[i]);
		d->client_tls[i] = NULL;
	}
	tcache_free(d->tickets);
	d->tickets = NULL;
}

/* ---- the handshake ---- */

struct csession *client_next_in_app(const struct csession *s)
{
	return s->next;
}

/* A ticket that came with the handshake (the engine's session callback). */
static void on_session(void *ctx, const uint8_t *blob, size_t len)
{
	struct csession *s = ctx;
	tcache_put(s->l->d->tickets, s->name, s->port, s->alpn, blob, len, now_ms());
}

static void unlink_app(struct csession *s)
{
	struct app *a = s->app;

	if (!a)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		a->csessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	s->app = NULL;
	app_session_gone(a, NULL);
}

static void maybe_free(struct csession *s)
{
	if (s->state != C_DEAD || s->pending)
		return;
	unlink_app(s);
	s->l->inflight--;
	tls_conn_free(s->conn);
	tls_config_free(s->cfg);
	tls_buf_free(&s->in);
	tls_buf_free(&s->out);     /* held the early data's records */
	free(s);
}

static void finish(struct csession *s)
{
	struct io_uring_sqe *sqe;

	if (s->state == C_DEAD)
		return;
	s->state = C_DEAD;
	if (s->pending) {
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

static void fail(struct csession *s, enum handoff_reason r, uint8_t alert, const char *text)
{
	log_msg(LOG_WARN, "connect to %s (%s) failed: %s: %s", s->peer, *s->name ? s->name : "-",
		handoff_reason_name(r), text);
	if (!s->abort)
		app_reply_failed(s->app, s->id, r, alert, text);
	finish(s);
}

void client_abort(struct csession *s, const char *why)
{
	log_msg(LOG_INFO, "connect to %s aborted: %s", s->peer, why);
	s->abort = true;
	finish(s);
}

static void post_recv(struct csession *s, size_t need)
{
	uint8_t *p = tls_buf_reserve(&s->in, need);
	struct io_uring_sqe *sqe;

	if (!p) {
		fail(s, HANDOFF_R_INTERNAL, 0, "out of memory");
		return;
	}
	sqe = loop_sqe(s->l);
	io_uring_prep_recv(sqe, s->fd, p, need, 0);
	io_uring_sqe_set_data(sqe, &s->rx_op);
	s->pending++;
	s->state = C_READ;
}

static void post_send(struct csession *s)
{
	struct io_uring_sqe *sqe = loop_sqe(s->l);

	io_uring_prep_send(sqe, s->fd, s->out.base + s->sent, s->out.len - s->sent, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &s->tx_op);
	s->pending++;
	s->state = C_SEND;
}

static void engine_failed(struct csession *s)
{
	char text[300];
	int r = s->result;

	if (TLS_IS_LOCAL_ERR(r)) {
		snprintf(text, sizeof(text), "alert %s sent: %s", tls_alert_name(TLS_ERR_ALERT(r)),
			 tls_conn_error(s->conn));
		fail(s, HANDOFF_R_TLS, (uint8_t)TLS_ERR_ALERT(r), text);
	} else if (TLS_IS_PEER_ERR(r)) {
		snprintf(text, sizeof(text), "the server sent alert %s", tls_alert_name(TLS_ERR_ALERT(r)));
		fail(s, HANDOFF_R_TLS, 0, text);
	} else {
		snprintf(text, sizeof(text), "engine error %d: %s", r, tls_conn_error(s->conn));
		fail(s, HANDOFF_R_INTERNAL, 0, text);
	}
}

static void handshake_done(struct csession *s);

static void next_step(struct csession *s)
{
	size_t need;

	if (s->result == 0) {
		handshake_done(s);
		return;
	}
	if (s->result != TLS_WANT_INPUT) {
		engine_failed(s);      /* the alert went out */
		return;
	}
	if (!(need = tls_record_need(s->in.base, s->in.len))) {
		fail(s, HANDOFF_R_INTERNAL, 0, "the engine left a whole record unread");
		return;
	}
	post_recv(s, need);
}

static void drive(struct csession *s, bool first)
{
	size_t n = s->in.len;

	s->result = tls_conn_handshake(s->conn, &s->out, first ? NULL : s->in.base, &n);
	if (!first)
		tls_buf_consume(&s->in, n);
	if (s->out.err) {
		fail(s, HANDOFF_R_INTERNAL, 0, "out of memory");
		return;
	}
	if (s->out.len) {              /* a flight, or the alert: send it first */
		s->sent = 0;
		post_send(s);
		return;
	}
	next_step(s);
}

static void reply_done(struct csession *s, tls_post *post)
{
	const tls_params *p = tls_conn_params(s->conn);
	uint8_t early = p->early_data == TLS_EARLY_ACCEPTED   ? HANDOFF_EARLY_ACCEPTED
			: p->early_data == TLS_EARLY_REJECTED ? HANDOFF_EARLY_REJECTED
							      : HANDOFF_EARLY_NONE;
	uint8_t peer_id[32];
	tls_buf m, enc;

	tls_buf_init(&enc, 0);
	tls_buf_init(&m, HANDOFF_MAX_MSG);
	if (tls_post_encode(post, &enc) != 0 || enc.err) {
		fail(s, HANDOFF_R_INTERNAL, 0, "encoding the post-handshake state failed");
		goto out;
	}
	handoff_begin(&m, HANDOFF_DONE, s->id);
	handoff_put_bytes(&m, HANDOFF_A_POST, enc.base, enc.len);
	handoff_put_u16(&m, HANDOFF_A_CIPHER, tls_cipher_id(p->cipher));
	handoff_put_u16(&m, HANDOFF_A_GROUP, p->group);
	handoff_put_u16(&m, HANDOFF_A_SIG_SCHEME, p->sig_scheme);
	if (*s->name)
		handoff_put_str(&m, HANDOFF_A_SERVER_NAME, s->name);
	if (p->alpn)
		handoff_put_str(&m, HANDOFF_A_ALPN, p->alpn);
	handoff_put_u8(&m, HANDOFF_A_RESUMED, p->resumed);
	handoff_put_u8(&m, HANDOFF_A_HRR, p->hrr);
	if (tls_post_peer_id(post, peer_id, NULL, NULL))
		handoff_put_bytes(&m, HANDOFF_A_PEER_ID, peer_id, 32);
	handoff_put_u8(&m, HANDOFF_A_KTLS, s->ktls);
	/* rejected (or none: no ticket allowed it): the application sends
	 * its early bytes again as ordinary data */
	handoff_put_u8(&m, HANDOFF_A_EARLY_STATE, early);
	if (handoff_end(&m) != 0 || m.err) {
		fail(s, HANDOFF_R_INTERNAL, 0, "the DONE reply does not fit one message");
		goto out;
	}
	app_reply(s->app, &m);
	stats_ok(&s->l->d->stats, stats_now_us() - s->start_us, p->resumed, early);
	log_msg(LOG_INFO, "connect to %s ok: %s group=0x%04x sni=%s alpn=%s resumed=%d hrr=%d early=%s", s->peer,
		tls_cipher_name(p->cipher), p->group, *s->name ? s->name : "-", p->alpn ? p->alpn : "-",
		p->resumed, p->hrr,
		early == HANDOFF_EARLY_ACCEPTED ? "accepted" : early == HANDOFF_EARLY_REJECTED ? "rejected" : "none");
	finish(s);
out:
	tls_buf_free(&enc);        /* both wipe: they held secrets */
	tls_buf_free(&m);
}

static const char *ktls_why(enum ktls_err e, int err, const char *what, char *buf, size_t len)
{
	char t[200];
	snprintf(buf, len, "%s: %s", what, ktls_error_text(e, err, t, sizeof(t)));
	return buf;
}

/* The server's Finished verified and ours sent: the keys go to the
 * kernel. Nothing of the server's application data left the socket
 * (exact reads). */
static void handshake_done(struct csession *s)
{
	const tls_params *p = tls_conn_params(s->conn);
	uint8_t tx[TLS_MAX_SECRET], rx[TLS_MAX_SECRET];
	size_t tx_len = sizeof(tx), rx_len = sizeof(rx);
	uint64_t tx_seq = 0, rx_seq = 0;
	uint16_t want = p->peer_record_limit < 16385 ? ktls_max_payload_for_limit(p->peer_record_limit) : 0;
	tls_post *post = NULL;
	char why[300];
	enum ktls_err e;

	if (s->in.len) {
		fail(s, HANDOFF_R_INTERNAL, 0, "bytes left over after the handshake");
		goto out;
	}
	if (tls_conn_traffic(s->conn, TLS_DIR_TX, tx, &tx_len, &tx_seq) != 0 ||
	    tls_conn_traffic(s->conn, TLS_DIR_RX, rx, &rx_len, &rx_seq) != 0 || !(post = tls_conn_post(s->conn))) {
		fail(s, HANDOFF_R_INTERNAL, 0, "no application secrets from the engine");
		goto out;
	}
	if ((e = ktls_install(s->fd, KTLS_DIR_TX, p->cipher, tx, tx_seq)) != KTLS_OK) {
		fail(s, HANDOFF_R_KTLS, 0, ktls_why(e, errno, "kTLS TX", why, sizeof(why)));
		goto out;
	}
	s->ktls |= HANDOFF_KTLS_TX;
	if (want && (e = ktls_set_tx_max_payload(s->fd, want)) != KTLS_OK) {
		fail(s, HANDOFF_R_KTLS, 0, ktls_why(e, errno, "kTLS record size limit", why, sizeof(why)));
		goto out;
	}
	if ((e = ktls_install(s->fd, KTLS_DIR_RX, p->cipher, rx, rx_seq)) != KTLS_OK) {
		fail(s, HANDOFF_R_KTLS, 0, ktls_why(e, errno, "kTLS RX", why, sizeof(why)));
		goto out;
	}
	s->ktls |= HANDOFF_KTLS_RX;
	reply_done(s, post);
out:
	tls_post_free(post);
	OPENSSL_cleanse(tx, sizeof(tx));
	OPENSSL_cleanse(rx, sizeof(rx));
}

static void on_recv(struct csession *s, int res)
{
	char text[200];

	if (res <= 0) {
		snprintf(text, sizeof(text), "%s", res == 0 ? "the server closed the connection" : strerror(-res));
		fail(s, HANDOFF_R_PEER_CLOSED, 0, text);
		return;
	}
	s->in.len += (size_t)res;
	drive(s, false);
}

static void on_send(struct csession *s, int res)
{
	char text[200];

	if (res < 0) {
		snprintf(text, sizeof(text), "send: %s", strerror(-res));
		fail(s, HANDOFF_R_PEER_CLOSED, 0, text);
		return;
	}
	s->sent += (size_t)res;
	if (s->sent < s->out.len) {
		post_send(s);
		return;
	}
	tls_buf_reset(&s->out);
	s->sent = 0;
	next_step(s);
}

void client_on_op(struct csession *s, enum op_kind kind, int res)
{
	s->pending--;
	if (s->state == C_DEAD) {
		maybe_free(s);
		return;
	}
	switch (kind) {
	case OP_C_RECV:
		on_recv(s, res);
		break;
	case OP_C_SEND:
		on_send(s, res);
		break;
	case OP_C_TIMEOUT:
		if (res == -ETIME)
			fail(s, HANDOFF_R_TIMEOUT, 0, "the handshake deadline passed");
		break;
	default:
		break;
	}
}

/* The newest cached ticket that the engine takes (an expired or foreign
 * one is dropped: each is used once anyway). */
static void offer_ticket(struct csession *s)
{
	uint8_t *blob;
	size_t len;

	for (int tries = 0; tries < 4 && !s->offered; tries++) {
		if (!tcache_take(s->l->d->tickets, s->name, s->port, s->alpn, now_ms(), &blob, &len))
			return;
		s->offered = tls_conn_set_session(s->conn, blob, len) == 0;
		tcache_blob_free(blob, len);
	}
}

int client_start(struct loop *l, struct app *a, const struct handoff_msg *m, int fd, uint32_t timeout_ms,
		 const char *peer, enum handoff_reason *reason, char *why, size_t why_len)
{
	static const tls_callbacks cb = { .session = on_session };
	uint8_t verify = HANDOFF_VERIFY_PEER | HANDOFF_VERIFY_NAME;
	struct csession *s;
	struct io_uring_sqe *sqe;
	const uint8_t *early;
	size_t early_len = 0;

	*reason = HANDOFF_R_INTERNAL;
	if (!(s = calloc(1, sizeof(*s)))) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	handoff_get_u8(m, HANDOFF_A_VERIFY, &verify);
	handoff_get_str(m, HANDOFF_A_SERVER_NAME, s->name, sizeof(s->name));
	handoff_get_str(m, HANDOFF_A_ALPN, s->alpn, sizeof(s->alpn));
	handoff_get_u16(m, HANDOFF_A_PORT, &s->port);
	early = handoff_get_bytes(m, HANDOFF_A_EARLY_DATA, &early_len);
	if (!*s->name && (verify & HANDOFF_VERIFY_NAME)) {
		*reason = HANDOFF_R_MALFORMED;
		snprintf(why, why_len, "CONNECT without SERVER_NAME needs VERIFY without the name bit");
		free(s);
		return -1;
	}
	s->cfg = tls_config_ref(l->d->client_tls[idx(verify)]);
	if (!(s->conn = tls_conn_new(s->cfg)) || (*s->name && tls_conn_set_server_name(s->conn, s->name) != 0) ||
	    (*s->alpn && tls_conn_set_alpn(s->conn, s->alpn) != 0)) {
		*reason = s->conn ? HANDOFF_R_MALFORMED : HANDOFF_R_INTERNAL;
		snprintf(why, why_len, "%s", s->conn ? "SERVER_NAME or ALPN refused by the engine" : "out of memory");
		tls_conn_free(s->conn);
		tls_config_free(s->cfg);
		free(s);
		return -1;
	}
	s->l = l;
	s->app = a;
	s->id = m->id;
	s->fd = fd;
	s->start_us = stats_now_us();
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	s->rx_op = (struct op){ OP_C_RECV, s };
	s->tx_op = (struct op){ OP_C_SEND, s };
	s->tmo_op = (struct op){ OP_C_TIMEOUT, s };
	tls_buf_init(&s->in, 0);
	tls_buf_init(&s->out, 0);
	tls_conn_set_callbacks(s->conn, &cb, s);
	offer_ticket(s);
	/* 0-RTT only on a ticket that allows it; otherwise EARLY_STATE none
	 * tells the application to send the bytes itself */
	if (s->offered && early && early_len)
		tls_conn_set_early_data(s->conn, early, early_len);
	l->inflight++;
	s->next = a->csessions;
	if (a->csessions)
		a->csessions->prev = s;
	a->csessions = s;
	s->deadline.tv_sec = timeout_ms / 1000;
	s->deadline.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
	sqe = loop_sqe(l);
	io_uring_prep_timeout(sqe, &s->deadline, 0, 0);
	io_uring_sqe_set_data(sqe, &s->tmo_op);
	s->pending++;
	drive(s, true);            /* the ClientHello (and 0-RTT) */
	return 0;
}

void client_store_ticket(struct loop *l, const struct handoff_msg *m)
{
	char name[HANDOFF_MAX_STR + 1] = "", alpn[HANDOFF_MAX_STR + 1] = "";
	uint16_t port = 0;
	const uint8_t *blob;
	size_t len = 0;

	handoff_get_str(m, HANDOFF_A_SERVER_NAME, name, sizeof(name));
	handoff_get_str(m, HANDOFF_A_ALPN, alpn, sizeof(alpn));
	handoff_get_u16(m, HANDOFF_A_PORT, &port);
	if (!(blob = handoff_get_bytes(m, HANDOFF_A_TICKET, &len)) ||
	    tcache_put(l->d->tickets, name, port, alpn, blob, len, now_ms()) != 0)
		log_msg(LOG_DEBUG, "STORE_TICKET for %s:%u refused (no, malformed or expired ticket)", name, port);
	else
		log_msg(LOG_DEBUG, "ticket stored for %s:%u alpn=%s", name, port, *alpn ? alpn : "-");
}
