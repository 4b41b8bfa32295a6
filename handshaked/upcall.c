/* The kernel's handshake upcall, served in the loops (--upcall).
 *
 * A kernel TLS consumer (the NFS client or server, the NVMe/TCP host or
 * target) queues a request and the kernel multicasts READY; each loop is
 * joined and answers with ACCEPT, so a request goes to whichever loop asks
 * first (the others hear "nothing pending"). ACCEPT puts the connected TCP
 * socket into our fd table with what the consumer wants: our role, the
 * authentication (x509, PSK, or an unauthenticated client), key serials,
 * the peer's name, a timeout. The handshake then runs like any other
 * (hsio.c: record-exact reads, so the consumer's first bytes stay in the
 * socket), both keys go to kTLS, DONE reports the outcome with the peer's
 * identity, and our copy of the fd is closed: the consumer owns the socket.
 * Every request gets a DONE, also when it fails (a positive errno), so a
 * consumer never waits for its own timeout because of us.
 *
 * No session tickets (the consumers read the socket and drop what is not
 * application data), no 0-RTT, TLS 1.3 only. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <openssl/crypto.h>

#include "daemon.h"
#include "hsio.h"
#include "keyring.h"
#include "log.h"
#include "upcall.h"
#include "upcall_nl.h"

/* What DONE carries for a verified client certificate: the consumers
 * (nfsd) only ask whether there is one; tlshd sends the same. */
#define REMOTE_X509_VERIFIED UINT32_MAX
/* The largest DER certificate or key read from a keyring. */
#define KEY_MAX 16384

/* d->upcall: shared by the loops; the configs and keyrings change only
 * under the write side of d->lock (a reload). */
struct upcall {
	uint16_t family;
	uint32_t group;
	tls_config *server;        /* x509 server: [server] certificates, no tickets */
	tls_config *client;        /* unauthenticated client: verifies the server */
	tls_config *client_x509;   /* with [upcall] cert, or NULL */
	/* for per-request configs (certificates from a keyring, PSKs) */
	struct cfg_prefs server_prefs, client_prefs;
	size_t max_handshake;
	char *ca;                  /* verifies servers; NULL: the system store */
	char *client_ca;           /* verifies client certificates, or NULL */
	enum tls_client_auth client_auth;
	char *names[CFG_MAX_KEYRINGS]; /* keyrings searched for PSKs */
	size_t n_names;
	key_serial rings[CFG_MAX_KEYRINGS]; /* their serials, 0: not found yet */
	uint64_t looked_us;        /* the last look for the missing ones */
};

struct upcall_loop {
	struct upcall_nl nl;
	struct op op;
	bool armed;
};

struct usession {
	struct hsio io;
	struct upcall_req req;
	uint32_t remote;           /* DONE's REMOTE_AUTH */
	key_serial psk;            /* the PSK used (either role) */
	bool psk_missed;           /* server: the client's identities are in no keyring */
	char identity[TLS_PSK_MAX_IDENTITY + 1]; /* the PSK identity used */
};

static struct usession *of(struct hsio *io)
{
	return (struct usession *)((char *)io - offsetof(struct usession, io));
}

static const char *role_name(uint32_t msg_type)
{
	return msg_type == UPCALL_MSG_CLIENTHELLO ? "client" : "server";
}

static const char *auth_name(uint32_t auth)
{
	switch (auth) {
	case UPCALL_AUTH_UNAUTH:
		return "unauthenticated";
	case UPCALL_AUTH_PSK:
		return "psk";
	case UPCALL_AUTH_X509:
		return "x509";
	}
	return "unknown";
}

/* ---- keyrings ---- */

/* The configured keyrings not found yet: looked up by name and linked
 * into our process keyring (keyring_link: their keys become ours to
 * read). A keyring made after our start (nfs.ko or nvme-keyring loaded
 * later) is found here, at most once a second. */
static void find_keyrings(struct upcall *u)
{
	uint64_t now = stats_now_us(), last = __atomic_load_n(&u->looked_us, __ATOMIC_RELAXED);

	if (last && now - last < 1000000)
		return;
	__atomic_store_n(&u->looked_us, now, __ATOMIC_RELAXED);
	for (size_t i = 0; i < u->n_names; i++) {
		key_serial r;
		if (__atomic_load_n(&u->rings[i], __ATOMIC_RELAXED) || (r = keyring_by_name(u->names[i])) <= 0)
			continue;
		if (keyring_link(r) != 0)
			log_ev(LOG_WARN, "keyring_link_failed", "keyring=%s serial=%d error=%s", log_q(u->names[i]), r,
			       log_q(strerror(errno)));
		else
			log_ev(LOG_DEBUG, "keyring_linked", "keyring=%s serial=%d", log_q(u->names[i]), r);
		__atomic_store_n(&u->rings[i], r, __ATOMIC_RELAXED);
	}
}

/* The PSK for identity in the request's keyring or a configured one. */
static key_serial find_psk(struct upcall *u, key_serial req_ring, const char *identity)
{
	key_serial k;

	if (req_ring > 0 && (k = keyring_search(req_ring, "psk", identity)) > 0)
		return k;
	find_keyrings(u);
	for (size_t i = 0; i < u->n_names; i++) {
		key_serial r = __atomic_load_n(&u->rings[i], __ATOMIC_RELAXED);
		if (r > 0 && (k = keyring_search(r, "psk", identity)) > 0)
			return k;
		if (r > 0 && k < 0 && errno != EACCES)
			/* revoked or gone: look the name up again */
			__atomic_store_n(&u->rings[i], 0, __ATOMIC_RELAXED);
	}
	return 0;
}

/* Server: the engine asks for the client's identity. */
static int psk_find(void *ctx, const uint8_t *identity, size_t identity_len, uint8_t *key, size_t *key_len,
		    uint16_t *cipher)
{
	struct usession *s = ctx;
	char id[TLS_PSK_MAX_IDENTITY + 1];
	uint8_t buf[TLS_PSK_MAX_KEY];
	key_serial k;
	ssize_t n;

	/* a key description is text: an identity with a NUL cannot match */
	if (identity_len >= sizeof(id) || memchr(identity, 0, identity_len))
		return -1;
	memcpy(id, identity, identity_len);
	id[identity_len] = '\0';
	if (!(k = find_psk(s->io.l->d->upcall, s->req.keyring, id))) {
		log_ev(LOG_DEBUG, "psk_not_found", "via=upcall peer=%s identity=%s", log_q(s->io.peer), log_q(id));
		s->psk_missed = true;
		return -1;
	}
	if ((n = keyring_read(k, buf, sizeof(buf))) <= 0 || (size_t)n > *key_len ||
	    !(*cipher = keyring_psk_cipher(id, (size_t)n))) {
		log_ev(LOG_WARN, "psk_unusable", "via=upcall peer=%s identity=%s serial=%d "
		       "text=\"unreadable or of an unusable length\"", log_q(s->io.peer), log_q(id), k);
		OPENSSL_cleanse(buf, sizeof(buf));
		s->psk_missed = true;
		return -1;
	}
	memcpy(key, buf, (size_t)n);
	*key_len = (size_t)n;
	OPENSSL_cleanse(buf, sizeof(buf));
	memcpy(s->identity, id, identity_len + 1);
	s->psk = k;
	s->psk_missed = false;
	return 0;
}

/* Reads key into a fresh buffer (freed with free_key). */
static uint8_t *read_key(key_serial k, size_t *len)
{
	uint8_t *b = malloc(KEY_MAX);
	ssize_t n;

	if (!b)
		return NULL;
	if ((n = keyring_read(k, b, KEY_MAX)) <= 0) {
		free(b);
		return NULL;
	}
	*len = (size_t)n;
	return b;
}

static void free_key(uint8_t *b)
{
	if (b) {
		OPENSSL_cleanse(b, KEY_MAX);
		free(b);
	}
}

/* ---- configurations ---- */

/* A configuration made for one request (a certificate from a keyring,
 * a PSK): the preferences and trust of the shared ones, no tickets. */
static tls_config *new_config(const struct upcall *u, enum tls_role role, char *why, size_t len)
{
	tls_config *t = tls_config_new(role);
	const char *ca = role == TLS_SERVER ? u->client_ca : u->ca;
	char e[200];

	if (!t) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	if (config_apply_prefs(t, role == TLS_SERVER ? &u->server_prefs : &u->client_prefs, e, sizeof(e)) != 0 ||
	    (role == TLS_SERVER && (tls_config_set_tickets(t, 0, 1) != 0 ||
				    tls_config_set_client_auth(t, u->client_auth) != 0)) ||
	    (u->max_handshake && tls_config_set_max_handshake(t, u->max_handshake) != 0)) {
		snprintf(why, len, "settings refused by the engine");
		goto fail;
	}
	if (ca && tls_config_load_ca(t, ca, e, sizeof(e)) != 0) {
		snprintf(why, len, "CA file %s: %s", ca, e);
		goto fail;
	}
	return t;
fail:
	tls_config_free(t);
	return NULL;
}

/* A certificate and key the consumer put in a keyring (DER). */
static int add_keyring_cert(struct upcall *u, tls_config *t, const struct upcall_req *r, char *why, size_t len)
{
	size_t cl = 0, kl = 0;
	uint8_t *cert, *key;
	int rc = -1;

	find_keyrings(u);          /* .nfs linked: its keys are readable */
	cert = read_key(r->cert, &cl);
	key = cert ? read_key(r->privkey, &kl) : NULL;

	if (!cert || !key)
		snprintf(why, len, "cannot read the %s (key %d) from the keyring: %s", cert ? "private key" : "certificate",
			 cert ? r->privkey : r->cert, strerror(errno));
	else if (tls_config_add_cert_der(t, cert, cl, key, kl, why, len) == 0)
		rc = 0;
	free_key(cert);
	free_key(key);
	return rc;
}

/* The request's configuration (a reference), or NULL with status and why. */
static tls_config *request_config(struct usession *s, uint32_t *status, char *why, size_t len)
{
	struct upcall *u = s->io.l->d->upcall;
	const struct upcall_req *r = &s->req;
	bool server = r->msg_type == UPCALL_MSG_SERVERHELLO;
	tls_config *t = NULL;

	*status = EINVAL;
	if (r->msg_type != UPCALL_MSG_CLIENTHELLO && !server) {
		*status = EOPNOTSUPP;
		snprintf(why, len, "unknown message type %u", r->msg_type);
		return NULL;
	}
	switch (r->auth) {
	case UPCALL_AUTH_X509:
		if (r->cert > 0 || r->privkey > 0) {
			if (!(t = new_config(u, server ? TLS_SERVER : TLS_CLIENT, why, len)))
				return NULL;
			if (add_keyring_cert(u, t, r, why, len) != 0) {
				*status = ENOKEY;
				tls_config_free(t);
				return NULL;
			}
			tls_config_freeze(t);
			return t;
		}
		if (server ? !u->server : !u->client_x509) {
			*status = ENOKEY;
			snprintf(why, len, "x509 %s: no certificate configured (%s)", role_name(r->msg_type),
				 server ? "[server] cert" : "[upcall] cert");
			return NULL;
		}
		return tls_config_ref(server ? u->server : u->client_x509);
	case UPCALL_AUTH_UNAUTH:
		if (server) {
			snprintf(why, len, "an unauthenticated server is not a TLS 1.3 mode");
			return NULL;
		}
		return tls_config_ref(u->client);
	case UPCALL_AUTH_PSK:
		if (!(t = new_config(u, server ? TLS_SERVER : TLS_CLIENT, why, len)))
			return NULL;
		if (server && tls_config_set_psk_find(t, psk_find, s) != 0) {
			snprintf(why, len, "PSK lookup refused by the engine");
			tls_config_free(t);
			return NULL;
		}
		if (server)
			tls_config_freeze(t);
		else if (tls_config_set_verify_name(t, false) != 0) {
			/* no certificate is expected: handshake_done insists on the PSK */
			snprintf(why, len, "settings refused by the engine");
			tls_config_free(t);
			return NULL;
		}
		return t;          /* the client's PSK is set by client_psk, which freezes it */
	default:
		*status = EOPNOTSUPP;
		snprintf(why, len, "unknown authentication mode %u", r->auth);
		return NULL;
	}
}

/* Client, PSK: the first of the consumer's keys we can read, as the one
 * identity offered (the engine offers one external PSK). */
static int client_psk(struct usession *s, tls_config *t, char *why, size_t len)
{
	const struct upcall_req *r = &s->req;
	char type[32];

	if (!r->n_peerids) {
		snprintf(why, len, "PSK requested without a key");
		return -1;
	}
	for (unsigned i = 0; i < r->n_peerids; i++) {
		uint8_t key[TLS_PSK_MAX_KEY];
		ssize_t n;
		uint16_t cipher;
		int rc;

		if (keyring_describe(r->peerids[i], type, sizeof(type), s->identity, sizeof(s->identity)) != 0 ||
		    (n = keyring_read(r->peerids[i], key, sizeof(key))) <= 0) {
			snprintf(why, len, "cannot read PSK key %d: %s", r->peerids[i], strerror(errno));
			continue;
		}
		if (!(cipher = keyring_psk_cipher(s->identity, (size_t)n))) {
			snprintf(why, len, "PSK key %d (\"%.200s\"): %zd bytes, no hash fits", r->peerids[i], s->identity, n);
			OPENSSL_cleanse(key, sizeof(key));
			continue;
		}
		rc = tls_config_set_psk(t, (const uint8_t *)s->identity, strlen(s->identity), key, (size_t)n, cipher);
		OPENSSL_cleanse(key, sizeof(key));
		if (rc == 0) {
			s->psk = r->peerids[i];
			tls_config_freeze(t);
			return 0;
		}
		snprintf(why, len, "PSK key %d refused by the engine", r->peerids[i]);
	}
	return -1;
}

/* ---- ending a request ---- */

static void done(struct usession *s, uint32_t status, uint32_t remote)
{
	struct upcall_loop *ul = s->io.l->upcall;

	if (s->io.fd >= 0 && ul)
		upcall_nl_done(&ul->nl, s->io.fd, status, remote);
}

static uint32_t status_of(const struct usession *s, enum handoff_reason r)
{
	switch (r) {
	case HANDOFF_R_TIMEOUT:
	case HANDOFF_R_PEER_CLOSED:
		return ETIMEDOUT;  /* as tlshd: the consumer may retry */
	case HANDOFF_R_TLS:
		if (s->psk_missed || (TLS_IS_PEER_ERR(s->io.result) &&
				      TLS_ERR_ALERT(s->io.result) == TLS_ALERT_UNKNOWN_PSK_IDENTITY))
			return EKEYREJECTED;
		return EACCES;
	default:
		return EIO;
	}
}

static void failed(struct hsio *io, enum handoff_reason r, uint8_t alert, const char *text)
{
	struct usession *s = of(io);

	(void)alert;
	(void)text;                /* hsio logged it */
	stats_failed(&io->l->d->stats, r);
	stats_upcall(&io->l->d->stats, s->req.msg_type == UPCALL_MSG_CLIENTHELLO, STATS_UPCALL_FAILED);
	done(s, status_of(s, r), 0);
}

static void release(struct hsio *io)
{
	stats_finished(&io->l->d->stats);
	free(of(io));
}

/* Our Finished is out (client) or the client's verified (server): the
 * keys go to the kernel, then DONE. */
static void handshake_done(struct hsio *io)
{
	struct usession *s = of(io);
	const tls_params *p = tls_conn_params(io->conn);
	tls_post *post = NULL;

	if (io->in.len) {
		hsio_fail(io, HANDOFF_R_INTERNAL, 0, "bytes left over after the handshake");
		return;
	}
	if (s->req.auth == UPCALL_AUTH_PSK && !p->psk_external) {
		hsio_fail(io, HANDOFF_R_TLS, 0, "the peer did not use the PSK");
		return;
	}
	if (hsio_ktls_both(io, &post) != 0)
		return;
	tls_post_free(post);
	if (s->req.auth == UPCALL_AUTH_PSK)
		s->remote = (uint32_t)s->psk;
	else if (s->req.msg_type == UPCALL_MSG_SERVERHELLO && p->client_id)
		s->remote = REMOTE_X509_VERIFIED;
	done(s, 0, s->remote);
	stats_ok(&io->l->d->stats, stats_now_us() - io->t0, false, HANDOFF_EARLY_NONE);
	stats_upcall(&io->l->d->stats, s->req.msg_type == UPCALL_MSG_CLIENTHELLO, STATS_UPCALL_OK);
	log_ev(LOG_INFO, "handshake_ok", "role=%s via=upcall peer=%s auth=%s cipher=%s group=%s peername=%s%s%s "
	       "client_cert=%s ms=%.1f", role_name(s->req.msg_type), log_q(io->peer), auth_name(s->req.auth),
	       tls_cipher_name(p->cipher), hsio_group_name(p->group), log_q(*s->req.peername ? s->req.peername : NULL),
	       *s->identity ? " psk_identity=" : "", *s->identity ? log_q(s->identity) : "",
	       p->client_id ? "yes" : "no", hsio_ms(io));
	hsio_finish(io);
}

static const struct hsio_role server_role = {
	.role = "server",
	.via = "upcall",
	.peer_word = "client",
	.done = handshake_done,
	.failed = failed,
	.release = release,
};

static const struct hsio_role client_role = {
	.role = "client",
	.via = "upcall",
	.peer_word = "server",
	.done = handshake_done,
	.failed = failed,
	.release = release,
};

/* "address:port" of the connection's peer (also the name verified when
 * the consumer gave none: tls_conn_set_server_name takes an IP). */
static void peer_of(int fd, char *peer, size_t len, char *ip, size_t ip_len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof(a));
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof(a));
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
	}
	snprintf(ip, ip_len, "%s", a);
	snprintf(peer, len, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
}

/* One accepted request: a handshake in this loop, or DONE with an error. */
static void start(struct loop *l, const struct upcall_req *r)
{
	struct usession *s = calloc(1, sizeof(*s));
	char why[512] = "", peer[80], ip[INET6_ADDRSTRLEN];
	uint32_t status = ENOMEM, timeout;
	int proto = 0;
	socklen_t pl = sizeof(proto);
	tls_config *cfg = NULL;
	tls_conn *conn = NULL;
	bool client = r->msg_type == UPCALL_MSG_CLIENTHELLO;
	const char *name;

	peer_of(r->fd, peer, sizeof(peer), ip, sizeof(ip));
	log_ev(LOG_DEBUG, "upcall_request", "role=%s via=upcall peer=%s auth=%s peername=%s timeout_ms=%u psk_keys=%u "
	       "keyring=%d", role_name(r->msg_type), log_q(peer), auth_name(r->auth),
	       log_q(*r->peername ? r->peername : NULL), r->timeout_ms, r->n_peerids, r->keyring);
	if (!s) {
		snprintf(why, sizeof(why), "out of memory");
		goto refuse;
	}
	s->req = *r;
	s->io.l = l;               /* request_config and psk_find reach the daemon through it */
	if (getsockopt(r->fd, SOL_SOCKET, SO_PROTOCOL, &proto, &pl) != 0 || proto != IPPROTO_TCP) {
		status = EOPNOTSUPP;
		snprintf(why, sizeof(why), "not a TCP socket (protocol %d)", proto);
		goto refuse;
	}
	if (!(cfg = request_config(s, &status, why, sizeof(why))))
		goto refuse;
	if (client && r->auth == UPCALL_AUTH_PSK && client_psk(s, cfg, why, sizeof(why)) != 0) {
		status = ENOKEY;
		goto refuse;
	}
	/* the name to send and verify: the consumer's, else the address */
	name = *r->peername ? r->peername : (client && r->auth != UPCALL_AUTH_PSK ? ip : NULL);
	if (!(conn = tls_conn_new(cfg)) || (client && name && tls_conn_set_server_name(conn, name) != 0)) {
		status = conn ? EINVAL : ENOMEM;
		snprintf(why, sizeof(why), conn ? "peer name \"%s\" refused" : "out of memory", name);
		goto refuse;
	}
	timeout = r->timeout_ms ? r->timeout_ms : l->d->cfg.deadline_ms;
	stats_started(&l->d->stats, l->index);
	s->io.name = *s->req.peername ? s->req.peername : NULL;
	hsio_start(&s->io, client ? &client_role : &server_role, l, NULL, 0, r->fd, timeout, peer, conn, cfg);
	if (client)
		hsio_drive(&s->io);        /* the ClientHello */
	else
		hsio_recv(&s->io, 5, 0);   /* the ClientHello's record header */
	return;
refuse:
	log_ev(LOG_WARN, "handshake_refused", "role=%s via=upcall peer=%s text=%s", role_name(r->msg_type), log_q(peer),
	       log_q(why));
	stats_upcall(&l->d->stats, client, STATS_UPCALL_REFUSED);
	tls_conn_free(conn);
	tls_config_free(cfg);
	free(s);
	if (l->upcall)
		upcall_nl_done(&l->upcall->nl, r->fd, status, 0);
	close(r->fd);
}

/* ---- the loop's side ---- */

static void arm(struct loop *l)
{
	struct upcall_loop *ul = l->upcall;
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_poll_add(sqe, upcall_nl_fd(&ul->nl), POLLIN);
	io_uring_sqe_set_data(sqe, &ul->op);
	ul->armed = true;
}

int upcall_loop_init(struct loop *l)
{
	struct upcall *u = l->d->upcall;
	struct upcall_loop *ul;
	char err[300];

	if (!u)
		return 0;
	if (!(ul = calloc(1, sizeof(*ul)))) {
		log_ev(LOG_ERR, "out_of_memory", "for=upcall");
		return -1;
	}
	if (upcall_nl_open(&ul->nl, u->family, u->group, err, sizeof(err)) != 0) {
		log_ev(LOG_ERR, "upcall_failed", "text=%s", log_q(err));
		free(ul);
		return -1;
	}
	ul->op = (struct op){ OP_UPCALL, l };
	l->upcall = ul;
	arm(l);
	return 0;
}

/* ACCEPT until nothing is pending, at most n times (n < 0: no limit). */
static void accept_some(struct loop *l, int n)
{
	struct upcall_req r;
	int got;

	while (n-- != 0 && (got = upcall_nl_accept(&l->upcall->nl, &r)) > 0)
		start(l, &r);
}

void upcall_on_ready(struct loop *l, int res)
{
	struct upcall_loop *ul = l->upcall;
	int n;

	if (!ul)
		return;
	ul->armed = false;
	if (l->stopping)
		return;
	if (res < 0 && res != -EINTR) {
		log_ev(LOG_ERR, "upcall_failed", "error=%s text=\"polling the netlink socket\"", log_q(strerror(-res)));
		return;
	}
	n = upcall_nl_ready(&ul->nl);
	/* one ACCEPT per READY (another loop may take it); when
	 * notifications were lost, every pending request */
	accept_some(l, n < 0 ? -1 : n);
	arm(l);
}

void upcall_loop_stop(struct loop *l)
{
	struct upcall_loop *ul = l->upcall;
	struct io_uring_sqe *sqe;

	if (!ul || !ul->armed)
		return;
	sqe = loop_sqe(l);
	io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)&ul->op);
	io_uring_sqe_set_data64(sqe, 0);
	ul->armed = false;
}

void upcall_loop_free(struct loop *l)
{
	if (!l->upcall)
		return;
	upcall_nl_close(&l->upcall->nl);
	free(l->upcall);
	l->upcall = NULL;
}

/* ---- set-up ---- */

static int check_privileges(char *err, size_t len)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &h, data) != 0) {
		snprintf(err, len, "reading our capabilities: %s", strerror(errno));
		return -1;
	}
	if (!(data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective & CAP_TO_MASK(CAP_NET_ADMIN))) {
		snprintf(err, len, "the handshake upcall needs CAP_NET_ADMIN (the kernel's ACCEPT is an admin "
			 "operation): run as root or grant the capability");
		return -1;
	}
	return 0;
}

static tls_config *build_client(const struct dconfig *c, const char *cert, const char *key, char *err, size_t len)
{
	tls_config *t = tls_config_new(TLS_CLIENT);
	const char *ca = c->upcall_ca ? c->upcall_ca : c->server_ca;
	char why[300];

	if (!t) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	/* without a CA file: the system trust store (tls.h) */
	if (ca && tls_config_load_ca(t, ca, why, sizeof(why)) != 0) {
		snprintf(err, len, "[upcall] ca_file %s: %s", ca, why);
		goto fail;
	}
	if (cert && tls_config_add_cert_files(t, cert, key, why, sizeof(why)) != 0) {
		snprintf(err, len, "[upcall] cert %s / key %s: %s", cert, key, why);
		goto fail;
	}
	if (config_apply_prefs(t, &c->client_prefs, why, sizeof(why)) != 0) {
		snprintf(err, len, "[client] %s", why);
		goto fail;
	}
	if (c->max_handshake && tls_config_set_max_handshake(t, c->max_handshake) != 0) {
		snprintf(err, len, "max_handshake refused by the engine");
		goto fail;
	}
	tls_config_freeze(t);
	return t;
fail:
	tls_config_free(t);
	return NULL;
}

static void free_parts(struct upcall *u)
{
	tls_config_free(u->server);
	tls_config_free(u->client);
	tls_config_free(u->client_x509);
	free(u->ca);
	free(u->client_ca);
	for (size_t i = 0; i < u->n_names; i++)
		free(u->names[i]);
}

int upcall_setup(struct daemon *d, const struct dconfig *c, bool reload, char *err, size_t len)
{
	static const char *const defaults[] = { ".nvme", ".nfs", ".nfsd" };
	struct upcall n = { 0 }, *u = d->upcall;
	struct dconfig sc;

	if (!c->upcall) {
		if (reload && u)
			log_ev(LOG_WARN, "restart_needed", "setting=upcall text=\"the upcall is turned off only by a restart\"");
		if (!reload || !u)
			return 0;
	}
	if (!u) {
		if (reload) {
			log_ev(LOG_WARN, "restart_needed", "setting=upcall text=\"the upcall is turned on only by a restart\"");
			return 0;
		}
		if (check_privileges(err, len) != 0 || upcall_nl_family(&n.family, &n.group, err, len) != 0)
			return -1;
	}
	/* the server: [server] certificates, no tickets, no 0-RTT, no ALPN */
	if (c->n_certs) {
		sc = *c;
		sc.tickets = 0;
		sc.early_max = 0;
		sc.alpn = NULL;
		if (!(n.server = config_build_tls(&sc, NULL, NULL, NULL, err, len)))
			goto fail;
	}
	if (!(n.client = build_client(c, NULL, NULL, err, len)) ||
	    (c->upcall_cert && !(n.client_x509 = build_client(c, c->upcall_cert, c->upcall_key, err, len))))
		goto fail;
	n.server_prefs = c->server_prefs;
	n.client_prefs = c->client_prefs;
	n.max_handshake = c->max_handshake;
	n.client_auth = c->client_auth;
	if ((c->upcall_ca || c->server_ca) && !(n.ca = strdup(c->upcall_ca ? c->upcall_ca : c->server_ca))) {
		snprintf(err, len, "out of memory");
		goto fail;
	}
	if (c->client_ca && !(n.client_ca = strdup(c->client_ca))) {
		snprintf(err, len, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < (c->n_keyrings ? c->n_keyrings : 3); i++) {
		if (!(n.names[i] = strdup(c->n_keyrings ? c->keyrings[i] : defaults[i]))) {
			snprintf(err, len, "out of memory");
			goto fail;
		}
		n.n_names++;
	}
	find_keyrings(&n);
	if (!u) {
		if (!(u = malloc(sizeof(*u)))) {
			snprintf(err, len, "out of memory");
			goto fail;
		}
		*u = n;
		d->upcall = u;
		return 0;
	}
	n.family = u->family;
	n.group = u->group;
	pthread_rwlock_wrlock(&d->lock);
	struct upcall old = *u;
	*u = n;
	pthread_rwlock_unlock(&d->lock);
	free_parts(&old);          /* handshakes under way hold their configs */
	return 0;
fail:
	free_parts(&n);
	return -1;
}

void upcall_teardown(struct daemon *d)
{
	if (!d->upcall)
		return;
	free_parts(d->upcall);
	free(d->upcall);
	d->upcall = NULL;
}
