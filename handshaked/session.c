/* One server handshake on one TCP socket: the server role's part; the
 * socket I/O (record-exact reads, whole flights, the deadline) and how a
 * handshake ends are hsio.c's, shared with the client role.
 *
 * Once the handshake is done: kTLS TX and RX at the engine's sequence
 * numbers, the deferred NewSessionTickets through kTLS as one handshake
 * record (record-type cmsg), then DONE to the application and the
 * daemon's copy of the fd is closed.
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
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "daemon.h"
#include "hsio.h"
#include "ktls.h"
#include "log.h"

struct session {
	struct hsio io;            /* the socket, the engine, the request */
	tls_buf early, tickets;
	tls_post *post;
	/* 0-RTT early hand-back */
	bool early_rx;             /* the engine took the client's early key */
	bool eoed;                 /* EndOfEarlyData read (handshake RX key after it) */
	size_t early_sent;         /* of early, in the early DONE (io.app_owns_tx: sent) */
	const tls_cipher *cs;
	size_t tx_ap_len;          /* 0 until the server's application secret */
	uint8_t tx_ap[TLS_MAX_SECRET];
};

static struct session *of(struct hsio *io)
{
	return (struct session *)((char *)io - offsetof(struct session, io));
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

static void release(struct hsio *io)
{
	struct session *s = of(io);

	tls_post_free(s->post);
	tls_buf_free(&s->early);
	tls_buf_free(&s->tickets);
	OPENSSL_cleanse(s->tx_ap, sizeof(s->tx_ap));
	free(s);
}

/* The next record. With 0-RTT accepted, our flight sent and some early
 * data (or its end) read, at a record boundary: a non-blocking read, whose
 * EAGAIN means the client has nothing more for now -> early hand-back. */
static void next_read(struct hsio *io, size_t need)
{
	struct session *s = of(io);
	bool probe = s->early_rx && s->tx_ap_len && !io->app_owns_tx && !io->in.len && (s->early.len || s->eoed);

	hsio_recv(io, need, probe ? MSG_DONTWAIT : 0);
}

static void reply_done(struct hsio *io);
static void reply_early(struct session *s);
static void confirm_done(struct session *s);

/* Nothing more from the client for now: the early bytes go back. */
static void idle(struct hsio *io)
{
	reply_early(of(io));
	if (io->state != HSIO_DEAD)
		hsio_recv(io, tls_record_need(io->in.base, io->in.len), 0);
}

/* The client's Finished verified: the keys go to the kernel, then the
 * tickets through it. */
static void handshake_done(struct hsio *io)
{
	struct session *s = of(io);
	unsigned owed, made = 0;
	int r = 0;

	if (io->app_owns_tx) {
		confirm_done(s);
		return;
	}
	if (hsio_ktls_both(io, &s->post) != 0)
		return;
	owed = tls_post_tickets_owed(s->post);
	tls_buf_init(&s->tickets, 0);
	while (made < owed && (r = tls_post_ticket_send(s->post, io->cfg, &s->tickets)) == 0)
		made++;
	if (r < 0 || s->tickets.err) {
		hsio_fail(io, HANDOFF_R_INTERNAL, 0, "NewSessionTicket failed");
		return;
	}
	if (s->tickets.len)
		hsio_send_records(io, &s->tickets, KTLS_CT_HANDSHAKE, "NewSessionTicket through kTLS");
	else
		reply_done(io);
}

/* 0-RTT, before the client's Finished: TX at our application secret
 * (seq 0: the tickets are deferred, nothing went under it yet), then DONE
 * with the unconfirmed early bytes. From here on the daemon only reads. */
static void reply_early(struct session *s)
{
	struct hsio *io = &s->io;
	const tls_params *p = tls_conn_params(io->conn);
	tls_buf m;
	int r;

	r = hsio_ktls_tx(io, s->cs, s->tx_ap, 0);
	OPENSSL_cleanse(s->tx_ap, sizeof(s->tx_ap));  /* the kernel has it now */
	if (r != 0)
		return;
	tls_buf_init(&m, HANDOFF_MAX_MSG);
	handoff_begin(&m, HANDOFF_DONE, io->id);
	hsio_put_params(io, &m, p->server_name, p->client_id ? p->client_cert_sha256 : NULL, HANDOFF_EARLY_ACCEPTED);
	if (s->early.len)
		handoff_put_bytes(&m, HANDOFF_A_EARLY_DATA, s->early.base, s->early.len);
	if (handoff_end(&m) != 0 || m.err) {
		tls_buf_free(&m);
		hsio_fail(io, HANDOFF_R_INTERNAL, 0, "the early DONE reply does not fit one message");
		return;
	}
	app_reply(io->app, &m);
	tls_buf_free(&m);          /* wipes the early bytes' copy */
	io->app_owns_tx = true;
	s->early_sent = s->early.len;
	log_ev(LOG_INFO, "early_handback", "role=server via=handoff peer=%s early_bytes=%zu ms=%.1f "
	       "text=\"0-RTT accepted, handed back before the client's Finished\"", log_q(io->peer), s->early_sent,
	       hsio_ms(io));
}

/* The client's Finished after an early hand-back: RX at the engine's
 * sequence, then CONFIRMED with POST and the tickets for the library to
 * send (the daemon does not write to a socket the application holds). */
static void confirm_done(struct session *s)
{
	struct hsio *io = &s->io;
	const tls_params *p = tls_conn_params(io->conn);
	uint8_t rx[TLS_MAX_SECRET];
	size_t rx_len = sizeof(rx);
	uint64_t rx_seq = 0;
	unsigned owed, made = 0;
	tls_buf m, post;
	int r = 0;

	if (tls_conn_traffic(io->conn, TLS_DIR_RX, rx, &rx_len, &rx_seq) != 0 ||
	    !(s->post = tls_conn_post(io->conn))) {
		OPENSSL_cleanse(rx, sizeof(rx));
		hsio_fail(io, HANDOFF_R_INTERNAL, 0, "no application secrets from the engine");
		return;
	}
	r = hsio_ktls_rx(io, p->cipher, rx, rx_seq);
	OPENSSL_cleanse(rx, sizeof(rx));
	if (r != 0)
		return;
	owed = tls_post_tickets_owed(s->post);
	tls_buf_reset(&s->tickets);
	while (made < owed && (r = tls_post_ticket_send(s->post, io->cfg, &s->tickets)) == 0)
		made++;
	tls_buf_init(&post, 0);
	tls_buf_init(&m, HANDOFF_MAX_MSG);
	if (r < 0 || s->tickets.err || tls_post_encode(s->post, &post) != 0 || post.err) {
		tls_buf_free(&post);
		tls_buf_free(&m);
		hsio_fail(io, HANDOFF_R_INTERNAL, 0, "NewSessionTicket or the post-handshake state failed");
		return;
	}
	handoff_begin(&m, HANDOFF_CONFIRMED, io->id);
	handoff_put_bytes(&m, HANDOFF_A_POST, post.base, post.len);
	handoff_put_u8(&m, HANDOFF_A_KTLS, io->ktls);
	if (s->tickets.len)
		handoff_put_bytes(&m, HANDOFF_A_NST, s->tickets.base, s->tickets.len);
	/* early data that came after the early DONE: confirmed with it */
	if (s->early.len > s->early_sent)
		handoff_put_bytes(&m, HANDOFF_A_EARLY_DATA, s->early.base + s->early_sent,
				  s->early.len - s->early_sent);
	if (handoff_end(&m) != 0 || m.err) {
		tls_buf_free(&post);
		tls_buf_free(&m);
		hsio_fail(io, HANDOFF_R_INTERNAL, 0, "the CONFIRMED reply does not fit one message");
		return;
	}
	app_reply(io->app, &m);
	stats_ok(&io->l->d->stats, stats_now_us() - io->t0, p->resumed, HANDOFF_EARLY_ACCEPTED);
	log_ev(LOG_INFO, "handshake_ok", "role=server via=handoff peer=%s cipher=%s group=%s sni=%s alpn=%s resumed=%d "
	       "hrr=%d early=accepted handback=yes app_tickets=%u client_cert=%s ms=%.1f", log_q(io->peer),
	       tls_cipher_name(p->cipher), hsio_group_name(p->group), log_q(p->server_name), log_q(p->alpn),
	       p->resumed, p->hrr, made, p->client_id ? "yes" : "no", hsio_ms(io));
	tls_buf_free(&post);
	tls_buf_free(&m);
	hsio_finish(io);
}

/* Both keys in the kernel and the tickets sent through it. */
static void reply_done(struct hsio *io)
{
	struct session *s = of(io);
	const tls_params *p = tls_conn_params(io->conn);
	uint8_t early = hsio_early_state(p);
	uint64_t seq;
	tls_buf m, post;

	/* the kernel's TX sequence after the tickets, for the library's KeyUpdate */
	if (ktls_get_state(io->fd, KTLS_DIR_TX, NULL, NULL, &seq) == KTLS_OK)
		tls_post_set_seq(s->post, TLS_DIR_TX, seq);
	tls_buf_init(&post, 0);
	tls_buf_init(&m, HANDOFF_MAX_MSG);
	if (tls_post_encode(s->post, &post) != 0 || post.err) {
		tls_buf_free(&post);
		tls_buf_free(&m);
		hsio_fail(io, HANDOFF_R_INTERNAL, 0, "encoding the post-handshake state failed");
		return;
	}
	handoff_begin(&m, HANDOFF_DONE, io->id);
	handoff_put_bytes(&m, HANDOFF_A_POST, post.base, post.len);
	hsio_put_params(io, &m, p->server_name, p->client_id ? p->client_cert_sha256 : NULL, early);
	if (s->early.len)
		handoff_put_bytes(&m, HANDOFF_A_EARLY_DATA, s->early.base, s->early.len);
	if (handoff_end(&m) != 0 || m.err) {
		tls_buf_free(&post);
		tls_buf_free(&m);
		hsio_fail(io, HANDOFF_R_INTERNAL, 0, "the DONE reply does not fit one message");
		return;
	}
	app_reply(io->app, &m);
	/* The 0-RTT bytes were delivered after the client's Finished (RX is
	 * already installed), so CONFIRMED follows at once; the daemon sent
	 * the tickets itself and has none for the library. */
	if (early == HANDOFF_EARLY_ACCEPTED) {
		tls_buf_reset(&m);
		handoff_begin(&m, HANDOFF_CONFIRMED, io->id);
		handoff_put_bytes(&m, HANDOFF_A_POST, post.base, post.len);
		if (handoff_end(&m) == 0 && !m.err)
			app_reply(io->app, &m);
	}
	stats_ok(&io->l->d->stats, stats_now_us() - io->t0, p->resumed, early);
	log_ev(LOG_INFO, "handshake_ok", "role=server via=handoff peer=%s cipher=%s group=%s sni=%s alpn=%s resumed=%d "
	       "hrr=%d early=%s client_cert=%s ms=%.1f", log_q(io->peer), tls_cipher_name(p->cipher),
	       hsio_group_name(p->group), log_q(p->server_name), log_q(p->alpn), p->resumed, p->hrr,
	       hsio_early_name(early), p->client_id ? "yes" : "no", hsio_ms(io));
	tls_buf_free(&post);
	tls_buf_free(&m);
	hsio_finish(io);
}

static const struct hsio_role server_role = {
	.role = "server",
	.via = "handoff",
	.peer_word = "peer",
	.done = handshake_done,
	.next_read = next_read,
	.idle = idle,
	.records_sent = reply_done,
	.release = release,
};

int session_start(struct loop *l, struct app *a, uint32_t id, int fd, uint32_t timeout_ms,
		  const char *peer)
{
	static const tls_callbacks cb = { .early_data = on_early_data, .secret = on_secret };
	struct session *s = calloc(1, sizeof(*s));
	tls_conn *conn;

	if (!s || !(conn = tls_conn_new(l->d->tls))) {
		free(s);
		return -1;
	}
	tls_buf_init(&s->early, 0);
	tls_buf_init(&s->tickets, 0);
	tls_conn_set_callbacks(conn, &cb, s);
	/* kTLS: tickets go out through the kernel once TX is installed */
	tls_conn_defer_tickets(conn);
	hsio_start(&s->io, &server_role, l, a, id, fd, timeout_ms, peer, conn, tls_config_ref(l->d->tls));
	hsio_recv(&s->io, 5, 0);   /* the ClientHello's record header */
	return 0;
}
