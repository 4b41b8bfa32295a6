/* libhandshake, the daemon side: a request over the handoff socket with the
 * TCP fd attached (lib/handoff.h), a blocking wait for the reply that
 * never outlives the daemon, and the hs_conn built from a DONE reply. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include <openssl/crypto.h>

#include "handoff.h"
#include "hs_conn.h"
#include "ktls.h"

static const char *const reason_names[] = {
	[HS_R_OK] = "ok",
	[HS_R_MALFORMED] = "request malformed",
	[HS_R_BAD_SOCKET] = "bad socket",
	[HS_R_DENIED] = "denied",
	[HS_R_TLS] = "handshake failed",
	[HS_R_PEER_CLOSED] = "peer closed",
	[HS_R_TIMEOUT] = "timeout",
	[HS_R_KTLS] = "kernel TLS refused",
	[HS_R_INTERNAL] = "daemon internal error",
	[HS_R_SHUTDOWN] = "daemon shutting down",
};

const char *hs_reason_name(enum hs_reason r)
{
	switch (r) {
	case HS_R_UNREACHABLE: return "daemon unreachable";
	case HS_R_DAEMON_GONE: return "daemon gone";
	case HS_R_BUSY: return "daemon busy";
	case HS_R_PROTOCOL: return "bad reply from the daemon";
	case HS_R_REKEY_UNSUPPORTED: return "rekey unsupported";
	case HS_R_ALERT_RECEIVED: return "alert received";
	case HS_R_ALERT_SENT: return "alert sent";
	case HS_R_SYSTEM: return "system error";
	case HS_R_INVALID: return "invalid argument";
	default:
		break;
	}
	if ((unsigned)r < sizeof(reason_names) / sizeof(reason_names[0]) && reason_names[r])
		return reason_names[r];
	return "unknown";
}

__attribute__((format(printf, 4, 0)))
static int vfail(struct hs_error *err, enum hs_reason r, int e, const char *fmt, va_list ap)
{
	if (err) {
		err->reason = r;
		err->sys_errno = e;
		vsnprintf(err->text, sizeof(err->text), fmt, ap);
	}
	errno = e;
	return -1;
}

int hs_fail(struct hs_error *err, enum hs_reason r, int e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(err, r, e, fmt, ap);
	va_end(ap);
	return -1;
}

int hs_conn_fail(hs_conn *c, enum hs_reason r, int e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(&c->err, r, e, fmt, ap);
	va_end(ap);
	c->failed = true;
	c->failed_errno = e;
	errno = e;
	return -1;
}

/* ---- the daemon's socket ---- */

const char *hs_socket_path(const struct hs_opts *o)
{
	const char *env;
	if (o && o->socket_path && *o->socket_path)
		return o->socket_path;
	env = getenv("HANDSHAKED_SOCKET");
	return env && *env ? env : HS_DEFAULT_SOCKET;
}

int hs_daemon_connect(const char *path, struct hs_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s;

	if (strlen(path) >= sizeof(sa.sun_path))
		return hs_fail(err, HS_R_INVALID, ENAMETOOLONG, "handoff socket path too long: %s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return hs_fail(err, HS_R_SYSTEM, errno, "socket(AF_UNIX): %s", strerror(errno));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(s);
		return hs_fail(err, HS_R_UNREACHABLE, e, "cannot reach handshaked at %s: %s", path,
			       strerror(e));
	}
	return s;
}

int64_t hs_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for one reply to request id on s until deadline (CLOCK_MONOTONIC
 * ms). Returns its length in buf, or -1: the daemon closing or dying is
 * seen at once (EOF or ECONNRESET on the socket), never a hang. *used
 * grows to the most of buf any message filled (what to wipe). */
static ssize_t wait_reply(int s, uint32_t id, int64_t deadline, uint8_t *buf, size_t *used,
			  struct handoff_msg *m, struct hs_error *err)
{
	for (;;) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		int64_t left = deadline - hs_now_ms();
		const char *why = NULL;
		ssize_t n;
		int fd = -1, r;

		if (left <= 0)
			return hs_fail(err, HS_R_TIMEOUT, ETIMEDOUT, "no answer from handshaked in time");
		r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return hs_fail(err, HS_R_SYSTEM, errno, "poll: %s", strerror(errno));
		if (r == 0)
			continue;  /* the deadline check above ends it */
		n = handoff_recv(s, buf, HANDOFF_MAX_MSG, &fd);
		if (fd >= 0)
			close(fd);  /* replies carry no fd: never keep one */
		if (n == 0)
			return hs_fail(err, HS_R_DAEMON_GONE, ECONNRESET,
				       "handshaked closed the connection before answering");
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			return hs_fail(err, e == ECONNRESET ? HS_R_DAEMON_GONE : HS_R_SYSTEM, e,
				       "handshaked: %s", strerror(e));
		}
		if ((size_t)n > *used)
			*used = (size_t)n;
		if (handoff_parse(buf, (size_t)n, m, &why) != 0)
			return hs_fail(err, HS_R_PROTOCOL, EPROTO, "malformed reply from handshaked: %s",
				       why ? why : "?");
		if (m->id == id)
			return n;
		/* another request's reply: not ours, keep waiting */
	}
}

/* FAILED / BUSY / anything not DONE -> *err. */
static int reply_error(const struct handoff_msg *m, struct hs_error *err)
{
	uint32_t reason = HANDOFF_R_INTERNAL;
	uint8_t alert = 0;
	char text[HANDOFF_MAX_STR + 1] = "";

	if (m->type == HANDOFF_BUSY)
		return hs_fail(err, HS_R_BUSY, EAGAIN, "handshaked is busy (too many handshakes in flight)");
	if (m->type != HANDOFF_FAILED)
		return hs_fail(err, HS_R_PROTOCOL, EPROTO, "unexpected reply type %u from handshaked",
			       m->type);
	handoff_get_u32(m, HANDOFF_A_REASON, &reason);
	handoff_get_u8(m, HANDOFF_A_ALERT, &alert);
	handoff_get_str(m, HANDOFF_A_TEXT, text, sizeof(text));
	if (reason == HANDOFF_R_OK || reason > HANDOFF_R_SHUTDOWN)
		reason = HANDOFF_R_INTERNAL;
	hs_fail(err, (enum hs_reason)reason, reason == HANDOFF_R_TIMEOUT ? ETIMEDOUT : ECONNABORTED,
		"%s%s%s%s%s", handoff_reason_name(reason), *text ? ": " : "", text,
		alert ? ", alert " : "", alert ? tls_alert_name(alert) : "");
	if (err)
		err->alert = alert;
	return -1;
}

/* The POST attribute replaces c->post (DONE, and CONFIRMED with RX). */
static int take_post(hs_conn *c, const struct handoff_msg *m, struct hs_error *err)
{
	size_t len;
	const uint8_t *p = handoff_get_bytes(m, HANDOFF_A_POST, &len);
	tls_post *post = p ? tls_post_decode(p, len) : NULL;

	if (!post)
		return hs_fail(err, HS_R_PROTOCOL, EPROTO, "handshaked's reply has no usable session state");
	tls_post_free(c->post);
	c->post = post;
	c->cs = tls_cipher_find(tls_post_cipher(post));
	if (!c->cs)
		return hs_fail(err, HS_R_PROTOCOL, EPROTO, "handshaked's reply names an unknown cipher");
	return 0;
}

static int take_done(hs_conn *c, const struct handoff_msg *m, struct hs_error *err)
{
	struct hs_info *i = &c->info;
	uint8_t v = 0;
	size_t n;
	const uint8_t *p;

	/* the early hand-back (0-RTT, before the client's Finished) has no
	 * POST: the session state comes with CONFIRMED */
	if (handoff_has(m, HANDOFF_A_POST) || c->role != TLS_SERVER) {
		if (take_post(c, m, err) != 0)
			return -1;
		i->cipher = tls_post_cipher(c->post);
	}
	handoff_get_u16(m, HANDOFF_A_CIPHER, &i->cipher);
	if (!c->post && !(c->cs = tls_cipher_find(i->cipher)))
		return hs_fail(err, HS_R_PROTOCOL, EPROTO, "handshaked's reply names no known cipher");
	i->cipher_name = tls_cipher_name(c->cs);
	handoff_get_u16(m, HANDOFF_A_GROUP, &i->group);
	handoff_get_u16(m, HANDOFF_A_SIG_SCHEME, &i->sig_scheme);
	if (handoff_get_str(m, HANDOFF_A_SERVER_NAME, c->sni, sizeof(c->sni)) != 0 && c->post &&
	    tls_post_server_name(c->post))
		snprintf(c->sni, sizeof(c->sni), "%s", tls_post_server_name(c->post));
	if (handoff_get_str(m, HANDOFF_A_ALPN, c->alpn, sizeof(c->alpn)) != 0 && c->post &&
	    tls_post_alpn(c->post))
		snprintf(c->alpn, sizeof(c->alpn), "%s", tls_post_alpn(c->post));
	i->server_name = c->sni;
	i->alpn = c->alpn;
	i->resumed = handoff_get_u8(m, HANDOFF_A_RESUMED, &v) == 0 ? v != 0
									 : c->post && tls_post_resumed(c->post);
	i->hrr = handoff_get_u8(m, HANDOFF_A_HRR, &v) == 0 && v;
	if (handoff_get_u8(m, HANDOFF_A_EARLY_STATE, &v) == 0 && v <= HANDOFF_EARLY_REJECTED)
		i->early = (enum hs_early)v;
	if ((p = handoff_get_bytes(m, HANDOFF_A_PEER_ID, &n)) && n == 32) {
		i->peer_id = true;
		memcpy(i->peer_sha256, p, 32);
	}
	if (handoff_get_u8(m, HANDOFF_A_KTLS, &v) == 0) {
		i->ktls_tx = v & HANDOFF_KTLS_TX;
		i->ktls_rx = v & HANDOFF_KTLS_RX;
	} else {
		i->ktls_tx = ktls_is_installed(c->fd, KTLS_DIR_TX);
		i->ktls_rx = ktls_is_installed(c->fd, KTLS_DIR_RX);
	}
	if (!i->ktls_tx)
		return hs_fail(err, HS_R_PROTOCOL, EPROTO, "handshaked answered without kTLS TX on the socket");
	/* server 0-RTT: the bytes come first from hs_recv, unconfirmed */
	if (c->role == TLS_SERVER && (p = handoff_get_bytes(m, HANDOFF_A_EARLY_DATA, &n)) && n) {
		if (!(c->early = malloc(n)))
			return hs_fail(err, HS_R_SYSTEM, ENOMEM, "out of memory");
		memcpy(c->early, p, n);
		c->early_len = n;
	}
	/* RX follows with CONFIRMED only when 0-RTT was accepted (server) */
	i->confirmed = !(c->role == TLS_SERVER && i->early == HS_EARLY_ACCEPTED);
	if (i->confirmed && !i->ktls_rx)
		return hs_fail(err, HS_R_PROTOCOL, EPROTO, "handshaked answered without kTLS RX on the socket");
	if (!c->post && i->confirmed)
		return hs_fail(err, HS_R_PROTOCOL, EPROTO, "handshaked's reply has no usable session state");
	return 0;
}

/* CONFIRMED's EARLY_DATA: 0-RTT bytes read after the early DONE, returned
 * by hs_recv after the others. */
static int take_late_early(hs_conn *c, const struct handoff_msg *m)
{
	size_t n;
	const uint8_t *p = handoff_get_bytes(m, HANDOFF_A_EARLY_DATA, &n);
	uint8_t *b;

	if (!p || !n)
		return 0;
	if (!(b = malloc(c->early_len - c->early_off + n)))
		return hs_conn_fail(c, HS_R_SYSTEM, ENOMEM, "out of memory");
	if (c->early_len > c->early_off)
		memcpy(b, c->early + c->early_off, c->early_len - c->early_off);
	memcpy(b + c->early_len - c->early_off, p, n);
	if (c->early) {
		OPENSSL_cleanse(c->early, c->early_len);
		free(c->early);
	}
	c->early = b;
	c->early_len = c->early_len - c->early_off + n;
	c->early_off = 0;
	return 0;
}

/* RX from the POST, unless the daemon installed it (it does, at the
 * record boundary behind the client's Finished). */
static int install_rx(hs_conn *c)
{
	uint8_t rx[TLS_MAX_SECRET];
	size_t len = sizeof(rx);
	uint64_t seq = 0;
	enum ktls_err e;
	char t[160];

	if (ktls_is_installed(c->fd, KTLS_DIR_RX))
		return 0;
	if (tls_post_traffic(c->post, TLS_DIR_RX, rx, &len, &seq) != 0)
		return hs_conn_fail(c, HS_R_PROTOCOL, EPROTO, "CONFIRMED without an RX secret");
	e = ktls_install(c->fd, KTLS_DIR_RX, c->cs, rx, seq);
	OPENSSL_cleanse(rx, sizeof(rx));
	if (e != KTLS_OK)
		return hs_conn_fail(c, HS_R_KTLS, errno, "kTLS RX: %s", ktls_error_text(e, errno, t, sizeof(t)));
	return 0;
}

/* The first reply to ACCEPT or CONNECT: DONE fills c, anything else
 * says why not. Shared by the blocking calls and hs_async.c. */
int hs_conn_take_reply(hs_conn *c, const struct handoff_msg *m, struct hs_error *err)
{
	char asked[sizeof(c->sni)];
	int r;

	if (m->type != HANDOFF_DONE)
		return reply_error(m, err);
	/* client: the name we asked for stays when the reply names none */
	memcpy(asked, c->sni, sizeof(asked));
	r = take_done(c, m, err);
	if (r == 0 && !*c->sni)
		memcpy(c->sni, asked, sizeof(asked));
	return r;
}

static hs_conn *conn_new(int fd, enum tls_role role, const struct hs_opts *o)
{
	hs_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	c->daemon = -1;
	c->role = role;
	c->req_id = 1;
	c->timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : HS_DEFAULT_TIMEOUT_MS;
	snprintf(c->socket_path, sizeof(c->socket_path), "%s", hs_socket_path(o));
	tls_buf_init(&c->ctl, HS_REC_CAP);
	tls_buf_init(&c->hs, HS_MAX_HS_MSG + 4);
	c->info.server_name = c->sni;
	c->info.alpn = c->alpn;
	hs_rekey_auto_start(c);
	return c;
}

/* One request with fd attached, then the blocking wait for its reply. */
static int run_request(hs_conn *c, tls_buf *req, struct hs_error *err)
{
	uint8_t *buf = NULL;
	size_t used = 0;
	struct handoff_msg m;
	int64_t deadline = hs_now_ms() + c->timeout_ms;
	int s, r = -1;

	if ((s = hs_daemon_connect(c->socket_path, err)) < 0)
		return -1;
	if (handoff_send(s, req, c->fd) != 0) {
		int e = errno;
		hs_fail(err, e == EPIPE || e == ECONNRESET ? HS_R_DAEMON_GONE : HS_R_SYSTEM, e,
			"sending to handshaked: %s", strerror(e));
		goto out;
	}
	if (!(buf = malloc(HANDOFF_MAX_MSG))) {
		hs_fail(err, HS_R_SYSTEM, ENOMEM, "out of memory");
		goto out;
	}
	if (wait_reply(s, c->req_id, deadline, buf, &used, &m, err) < 0)
		goto out;
	if (hs_conn_take_reply(c, &m, err) != 0)
		goto out;
	r = 0;
	if (!c->info.confirmed) {
		c->daemon = s;  /* CONFIRMED comes here */
		s = -1;
	}
out:
	if (buf) {
		OPENSSL_cleanse(buf, used);  /* it held secrets */
		free(buf);
	}
	if (s >= 0)
		close(s);
	return r;
}

static void put_timeout(tls_buf *b, const hs_conn *c)
{
	handoff_put_u32(b, HANDOFF_A_TIMEOUT_MS, (uint32_t)c->timeout_ms);
}

static int finish(hs_conn *c, int r, hs_conn **out, struct hs_error *err)
{
	if (r != 0) {
		int e = errno;
		hs_free(c);
		errno = e;
		return -1;
	}
	if (err)
		memset(err, 0, sizeof(*err));
	*out = c;
	return 0;
}

/* The request is complete (its length patched) or c is dropped. */
static hs_conn *request_end(hs_conn *c, tls_buf *req, struct hs_error *err)
{
	put_timeout(req, c);
	if (req->err || handoff_end(req) != 0) {
		hs_free(c);
		hs_fail(err, HS_R_INVALID, EINVAL, "request too large for the handoff protocol");
		return NULL;
	}
	return c;
}

hs_conn *hs_accept_request(int fd, const struct hs_opts *opts, uint32_t id, tls_buf *req,
			   struct hs_error *err)
{
	hs_conn *c;

	if (fd < 0) {
		hs_fail(err, HS_R_INVALID, EINVAL, "bad fd %d", fd);
		return NULL;
	}
	if (!(c = conn_new(fd, TLS_SERVER, opts))) {
		hs_fail(err, HS_R_SYSTEM, ENOMEM, "out of memory");
		return NULL;
	}
	c->req_id = id;
	handoff_begin(req, HANDOFF_ACCEPT, id);
	if (opts && opts->alpn && *opts->alpn)
		handoff_put_str(req, HANDOFF_A_ALPN, opts->alpn);
	return request_end(c, req, err);
}

int hs_server_accept(int fd, const struct hs_opts *opts, hs_conn **out, struct hs_error *err)
{
	hs_conn *c;
	tls_buf req;
	int r = -1;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!out)
		return hs_fail(err, HS_R_INVALID, EINVAL, "hs_server_accept: out is NULL");
	*out = NULL;
	tls_buf_init(&req, HANDOFF_MAX_MSG);
	if ((c = hs_accept_request(fd, opts, 1, &req, err)))
		r = run_request(c, &req, err);
	tls_buf_free(&req);
	return c ? finish(c, r, out, err) : -1;
}

/* The peer's port, for the ticket cache key. */
static uint16_t peer_port(int fd)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);

	if (getpeername(fd, (struct sockaddr *)&sa, &len) != 0)
		return 0;
	if (sa.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&sa)->sin_port);
	if (sa.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
	return 0;
}

hs_conn *hs_connect_request(int fd, const char *server_name, const struct hs_opts *opts, uint32_t id,
			    tls_buf *req, struct hs_error *err)
{
	hs_conn *c;
	uint8_t verify = HANDOFF_VERIFY_PEER | HANDOFF_VERIFY_NAME;

	if (fd < 0) {
		hs_fail(err, HS_R_INVALID, EINVAL, "bad fd %d", fd);
		return NULL;
	}
	if (opts && opts->no_verify)
		verify = 0;
	else if (opts && opts->no_verify_name)
		verify = HANDOFF_VERIFY_PEER;
	if ((!server_name || !*server_name) && (verify & HANDOFF_VERIFY_NAME)) {
		hs_fail(err, HS_R_INVALID, EINVAL, "a server name is needed");
		return NULL;
	}
	if (!(c = conn_new(fd, TLS_CLIENT, opts))) {
		hs_fail(err, HS_R_SYSTEM, ENOMEM, "out of memory");
		return NULL;
	}
	c->req_id = id;
	c->port = opts && opts->port ? opts->port : peer_port(fd);
	if (opts && opts->alpn)
		snprintf(c->offer_alpn, sizeof(c->offer_alpn), "%s", opts->alpn);
	if (server_name)  /* hs_conn_take_reply keeps it when DONE names none */
		snprintf(c->sni, sizeof(c->sni), "%s", server_name);
	handoff_begin(req, HANDOFF_CONNECT, id);
	if (server_name && *server_name)
		handoff_put_str(req, HANDOFF_A_SERVER_NAME, server_name);
	if (*c->offer_alpn)
		handoff_put_str(req, HANDOFF_A_ALPN, c->offer_alpn);
	handoff_put_u16(req, HANDOFF_A_PORT, c->port);
	handoff_put_u8(req, HANDOFF_A_VERIFY, verify);
	if (opts && opts->early_data && opts->early_len)
		handoff_put_bytes(req, HANDOFF_A_EARLY_DATA, opts->early_data, opts->early_len);
	return request_end(c, req, err);
}

int hs_client_connect(int fd, const char *server_name, const struct hs_opts *opts, hs_conn **out,
		      struct hs_error *err)
{
	hs_conn *c;
	tls_buf req;
	int r = -1;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!out)
		return hs_fail(err, HS_R_INVALID, EINVAL, "hs_client_connect: out is NULL");
	*out = NULL;
	tls_buf_init(&req, HANDOFF_MAX_MSG);
	if ((c = hs_connect_request(fd, server_name, opts, 1, &req, err)))
		r = run_request(c, &req, err);
	tls_buf_free(&req);
	return c ? finish(c, r, out, err) : -1;
}

/* c->err already says why (errno too): later calls fail the same way. */
static void mark_failed(hs_conn *c)
{
	c->failed = true;
	c->failed_errno = errno;
}

/* The reply after an early DONE: CONFIRMED applied (session state, late
 * early bytes, RX, the tickets sent), or c marked failed with c->err.
 * Shared by hs_confirm and hs_async.c. */
int hs_conn_take_confirmed(hs_conn *c, const struct handoff_msg *m)
{
	size_t nst_len;
	const uint8_t *nst;

	if (m->type != HANDOFF_CONFIRMED) {
		reply_error(m, &c->err);
		mark_failed(c);
		return -1;
	}
	if (take_post(c, m, &c->err) != 0 || take_late_early(c, m) != 0 || install_rx(c) != 0) {
		mark_failed(c);
		return -1;
	}
	c->info.confirmed = true;
	c->info.ktls_rx = ktls_is_installed(c->fd, KTLS_DIR_RX);
	if (!c->info.ktls_rx)
		return hs_conn_alert(c, TLS_ALERT_INTERNAL_ERROR, EPROTO, "confirmed without kTLS RX");
	/* the daemon no longer writes to the socket: its tickets are ours to send */
	if ((nst = handoff_get_bytes(m, HANDOFF_A_NST, &nst_len)) && nst_len && !c->tx_done) {
		enum ktls_err e = ktls_send_record(c->fd, KTLS_CT_HANDSHAKE, nst, nst_len, NULL);
		if (e != KTLS_OK) {
			char t[160];
			return hs_conn_fail(c, HS_R_SYSTEM, errno, "NewSessionTicket through kTLS: %s",
					    ktls_error_text(e, errno, t, sizeof(t)));
		}
	}
	/* the POST counts only the daemon's records; since the early DONE we
	 * sent ours (0.5-RTT data, the tickets) through the kernel */
	{
		uint64_t seq;
		if (ktls_get_state(c->fd, KTLS_DIR_TX, NULL, NULL, &seq) == KTLS_OK)
			tls_post_set_seq(c->post, TLS_DIR_TX, seq);
	}
	return 0;
}

int hs_confirm(hs_conn *c)
{
	uint8_t *buf;
	size_t used = 0;
	struct handoff_msg m;
	int r = -1;

	if (!c)
		return hs_fail(NULL, HS_R_INVALID, EINVAL, "NULL");
	if (c->info.confirmed)
		return 0;
	if (c->failed) {
		errno = c->failed_errno;
		return -1;
	}
	if (c->async)  /* the CONFIRMED comes through an hs_async context */
		return hs_async_confirm(c, true);
	if (!(buf = malloc(HANDOFF_MAX_MSG)))
		return hs_conn_fail(c, HS_R_SYSTEM, ENOMEM, "out of memory");
	if (wait_reply(c->daemon, c->req_id, hs_now_ms() + c->timeout_ms, buf, &used, &m, &c->err) < 0) {
		mark_failed(c);
		goto out;
	}
	r = hs_conn_take_confirmed(c, &m);
out:
	OPENSSL_cleanse(buf, used);
	free(buf);
	close(c->daemon);
	c->daemon = -1;
	return r;
}

void hs_store_ticket(hs_conn *c, const uint8_t *blob, size_t len)
{
	tls_buf req;
	int s;

	if ((s = hs_daemon_connect(c->socket_path, NULL)) < 0)
		return;
	tls_buf_init(&req, HANDOFF_MAX_MSG);
	handoff_begin(&req, HANDOFF_STORE_TICKET, ++c->req_id);
	handoff_put_bytes(&req, HANDOFF_A_TICKET, blob, len);
	if (*c->sni)
		handoff_put_str(&req, HANDOFF_A_SERVER_NAME, c->sni);
	handoff_put_u16(&req, HANDOFF_A_PORT, c->port);
	if (*c->offer_alpn)
		handoff_put_str(&req, HANDOFF_A_ALPN, c->offer_alpn);
	if (!req.err && handoff_end(&req) == 0)
		handoff_send(s, &req, -1);  /* no reply: best effort */
	tls_buf_free(&req);         /* wipes the blob's copy */
	close(s);
}

const struct hs_info *hs_info(const hs_conn *c)
{
	return c ? &c->info : NULL;
}

const struct hs_error *hs_last_error(const hs_conn *c)
{
	return c ? &c->err : NULL;
}

int hs_fd(const hs_conn *c)
{
	return c ? c->fd : -1;
}

void hs_free(hs_conn *c)
{
	if (!c)
		return;
	if (c->async)
		hs_async_detach(c);
	if (c->daemon >= 0)
		close(c->daemon);
	tls_post_free(c->post);  /* wipes the traffic secrets */
	if (c->early) {
		OPENSSL_cleanse(c->early, c->early_len);
		free(c->early);
	}
	tls_buf_free(&c->ctl);
	tls_buf_free(&c->hs);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}
