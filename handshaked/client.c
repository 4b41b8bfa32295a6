/* The client role: one CONNECT on one TCP socket; the socket I/O
 * (record-exact reads, each flight sent whole, a deadline) and how a
 * handshake ends are hsio.c's, shared with the server role. It resumes from the daemon's ticket
 * cache (tickets.c, the requesting user's tickets only) when it can, then the request's EARLY_DATA goes as
 * 0-RTT if the ticket allows. Once the server's Finished is verified
 * and our Finished sent: kTLS TX and RX at the engine's sequence
 * numbers, DONE to the application, and the daemon's copy of the fd is
 * closed. The server's NewSessionTickets come later, through kTLS: the
 * library reads them (hs_recv) and sends them back with STORE_TICKET. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "hsio.h"
#include "log.h"
#include "tickets.h"

struct csession {
	struct hsio io;            /* the socket, the engine, the request */
	char name[HANDOFF_MAX_STR + 1], alpn[HANDOFF_MAX_STR + 1]; /* the cache key, with port and uid */
	uint16_t port;
	uid_t uid;                 /* the requesting application's: its tickets only */
	bool offered;              /* a cached ticket was offered */
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
	if (config_apply_prefs(t, &c->client_prefs, why, sizeof(why)) != 0) {
		snprintf(err, len, "[client] %s", why);
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

static struct csession *of(struct hsio *io)
{
	return (struct csession *)((char *)io - offsetof(struct csession, io));
}

/* A ticket that came with the handshake (the engine's session callback). */
static void on_session(void *ctx, const uint8_t *blob, size_t len)
{
	struct csession *s = ctx;
	tcache_put(s->io.l->d->tickets, s->uid, s->name, s->port, s->alpn, blob, len, now_ms());
}

static void release(struct hsio *io)
{
	free(of(io));
}

static void reply_done(struct csession *s, tls_post *post)
{
	struct hsio *io = &s->io;
	const tls_params *p = tls_conn_params(io->conn);
	uint8_t early = hsio_early_state(p);
	uint8_t peer_id[32];
	tls_buf m, enc;

	tls_buf_init(&enc, 0);
	tls_buf_init(&m, HANDOFF_MAX_MSG);
	if (tls_post_encode(post, &enc) != 0 || enc.err) {
		hsio_fail(io, HANDOFF_R_INTERNAL, 0, "encoding the post-handshake state failed");
		goto out;
	}
	handoff_begin(&m, HANDOFF_DONE, io->id);
	handoff_put_bytes(&m, HANDOFF_A_POST, enc.base, enc.len);
	/* EARLY_STATE rejected (or none: no ticket allowed it): the
	 * application sends its early bytes again as ordinary data */
	hsio_put_params(io, &m, *s->name ? s->name : NULL,
			tls_post_peer_id(post, peer_id, NULL, NULL) ? peer_id : NULL, early);
	if (handoff_end(&m) != 0 || m.err) {
		hsio_fail(io, HANDOFF_R_INTERNAL, 0, "the DONE reply does not fit one message");
		goto out;
	}
	app_reply(io->app, &m);
	stats_ok(&io->l->d->stats, stats_now_us() - io->t0, p->resumed, early);
	log_ev(LOG_INFO, "handshake_ok", "role=client via=handoff peer=%s cipher=%s group=%s sni=%s alpn=%s resumed=%d "
	       "hrr=%d early=%s ms=%.1f", log_q(io->peer), tls_cipher_name(p->cipher), hsio_group_name(p->group),
	       log_q(*s->name ? s->name : NULL), log_q(p->alpn), p->resumed, p->hrr, hsio_early_name(early),
	       hsio_ms(io));
	hsio_finish(io);
out:
	tls_buf_free(&enc);        /* both wipe: they held secrets */
	tls_buf_free(&m);
}

/* The server's Finished verified and ours sent: the keys go to the
 * kernel. Nothing of the server's application data left the socket
 * (exact reads). */
static void handshake_done(struct hsio *io)
{
	tls_post *post = NULL;

	if (io->in.len)
		hsio_fail(io, HANDOFF_R_INTERNAL, 0, "bytes left over after the handshake");
	else if (hsio_ktls_both(io, &post) == 0)
		reply_done(of(io), post);
	tls_post_free(post);
}

static const struct hsio_role client_role = {
	.role = "client",
	.via = "handoff",
	.peer_word = "server",
	.done = handshake_done,
	.release = release,
};

/* The newest cached ticket of this user that the engine takes (an
 * expired or foreign one is dropped: each is used once anyway). */
static void offer_ticket(struct csession *s, tls_conn *conn, struct tcache *tickets)
{
	uint8_t *blob;
	size_t len;

	for (int tries = 0; tries < 4 && !s->offered; tries++) {
		if (!tcache_take(tickets, s->uid, s->name, s->port, s->alpn, now_ms(), &blob, &len))
			return;
		s->offered = tls_conn_set_session(conn, blob, len) == 0;
		tcache_blob_free(blob, len);
	}
}

int client_start(struct loop *l, struct app *a, const struct handoff_msg *m, int fd, uint32_t timeout_ms,
		 const char *peer, enum handoff_reason *reason, char *why, size_t why_len)
{
	static const tls_callbacks cb = { .session = on_session };
	uint8_t verify = HANDOFF_VERIFY_PEER | HANDOFF_VERIFY_NAME;
	struct csession *s;
	tls_config *cfg;
	tls_conn *conn;
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
	s->uid = a->uid;
	early = handoff_get_bytes(m, HANDOFF_A_EARLY_DATA, &early_len);
	if (!*s->name && (verify & HANDOFF_VERIFY_NAME)) {
		*reason = HANDOFF_R_MALFORMED;
		snprintf(why, why_len, "CONNECT without SERVER_NAME needs VERIFY without the name bit");
		free(s);
		return -1;
	}
	cfg = tls_config_ref(l->d->client_tls[idx(verify)]);
	if (!(conn = tls_conn_new(cfg)) || (*s->name && tls_conn_set_server_name(conn, s->name) != 0) ||
	    (*s->alpn && tls_conn_set_alpn(conn, s->alpn) != 0)) {
		*reason = conn ? HANDOFF_R_MALFORMED : HANDOFF_R_INTERNAL;
		snprintf(why, why_len, "%s", conn ? "SERVER_NAME or ALPN refused by the engine" : "out of memory");
		tls_conn_free(conn);
		tls_config_free(cfg);
		free(s);
		return -1;
	}
	tls_conn_set_callbacks(conn, &cb, s);
	offer_ticket(s, conn, l->d->tickets);
	/* 0-RTT only on a ticket that allows it; otherwise EARLY_STATE none
	 * tells the application to send the bytes itself */
	if (s->offered && early && early_len)
		tls_conn_set_early_data(conn, early, early_len);
	s->io.name = s->name;
	hsio_start(&s->io, &client_role, l, a, m->id, fd, timeout_ms, peer, conn, cfg);
	hsio_drive(&s->io);        /* the ClientHello (and 0-RTT) */
	return 0;
}

void client_store_ticket(struct app *a, const struct handoff_msg *m)
{
	char name[HANDOFF_MAX_STR + 1] = "", alpn[HANDOFF_MAX_STR + 1] = "";
	uint16_t port = 0;
	const uint8_t *blob;
	size_t len = 0;

	handoff_get_str(m, HANDOFF_A_SERVER_NAME, name, sizeof(name));
	handoff_get_str(m, HANDOFF_A_ALPN, alpn, sizeof(alpn));
	handoff_get_u16(m, HANDOFF_A_PORT, &port);
	if (!(blob = handoff_get_bytes(m, HANDOFF_A_TICKET, &len)) ||
	    tcache_put(a->l->d->tickets, a->uid, name, port, alpn, blob, len, now_ms()) != 0)
		log_ev(LOG_DEBUG, "ticket_refused", "name=%s port=%u uid=%u text=\"no, malformed or expired ticket\"",
		       log_q(name), port, (unsigned)a->uid);
	else
		log_ev(LOG_DEBUG, "ticket_stored", "name=%s port=%u alpn=%s uid=%u", log_q(name), port,
		       log_q(*alpn ? alpn : NULL), (unsigned)a->uid);
}
