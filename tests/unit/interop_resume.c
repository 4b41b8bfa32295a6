/* Resumption, external PSKs, 0-RTT and KeyUpdate against OpenSSL libssl
 * in memory, in both roles: our session blobs against an OpenSSL server's
 * tickets, OpenSSL's SSL_SESSION against our tickets, psk_ke vs psk_dhe_ke
 * (SSL_OP_ALLOW_NO_DHE_KEX), 0-RTT accepted and rejected
 * (SSL_write_early_data / SSL_read_early_data), tickets across a STEK
 * rotation, HRR + resumption, external PSKs through OpenSSL's PSK session
 * callbacks, and KeyUpdate both ways with and without update_requested. */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "test.h"
#include "testkeys.h"
#include "tls/engine.h"

static struct test_pki pki;

/* ---- one of our conns joined to one SSL through memory BIOs ---- */

struct peer {
	tls_conn *c;
	SSL *ssl;
	BIO *to_ssl, *from_ssl;    /* owned by ssl */
	tls_buf in;                /* bytes from OpenSSL not yet consumed by us */
	int rc;                    /* our last result */
	int ssl_rc;                /* 1 once OpenSSL finished */
	bool ssl_server;
	/* what our callbacks saw */
	tls_session *sess[4];
	size_t n_sess;
	tls_buf early;             /* our server: early data */
	/* OpenSSL server: early data read */
	uint8_t ossl_early[256];
	size_t ossl_early_len;
	bool ossl_read_early;      /* call SSL_read_early_data first */
};

/* Sessions are blobs; the tests look inside (engine.h). */
static void on_session(void *ctx, const uint8_t *blob, size_t len)
{
	struct peer *p = ctx;
	if (p->n_sess < 4)
		p->sess[p->n_sess++] = tls_session_decode(blob, len);
}

/* Offers s the way an application does: as its blob. */
static int set_sess(tls_conn *c, const tls_session *s)
{
	tls_buf b;
	tls_buf_init(&b, 0);
	int rc = s && tls_session_encode(s, &b) == 0 ? tls_conn_set_session(c, b.base, b.len) : -1;
	tls_buf_free(&b);
	return rc;
}

static void on_early(void *ctx, const uint8_t *data, size_t len)
{
	struct peer *p = ctx;
	tls_write_bytes(&p->early, data, len);
}

static const tls_callbacks cbs = { .session = on_session, .early_data = on_early };

static struct peer *peer_new(const tls_config *cfg, SSL_CTX *ctx)
{
	struct peer *p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	p->c = tls_conn_new(cfg);
	p->ssl = SSL_new(ctx);
	p->to_ssl = BIO_new(BIO_s_mem());
	p->from_ssl = BIO_new(BIO_s_mem());
	if (!p->c || !p->ssl || !p->to_ssl || !p->from_ssl)
		abort();
	SSL_set_bio(p->ssl, p->to_ssl, p->from_ssl);
	p->ssl_server = cfg->role == TLS_CLIENT;
	if (p->ssl_server)
		SSL_set_accept_state(p->ssl);
	else
		SSL_set_connect_state(p->ssl);
	tls_buf_init(&p->in, 0);
	tls_buf_init(&p->early, 0);
	tls_conn_set_callbacks(p->c, &cbs, p);
	p->rc = TLS_WANT_INPUT;
	if (cfg->role == TLS_CLIENT)
		tls_conn_set_server_name(p->c, "server.test");
	else
		SSL_set_tlsext_host_name(p->ssl, "server.test");
	return p;
}

static void peer_free(struct peer *p)
{
	if (!p)
		return;
	tls_conn_free(p->c);
	SSL_free(p->ssl);
	tls_buf_free(&p->in);
	tls_buf_free(&p->early);
	for (size_t i = 0; i < p->n_sess; i++)
		tls_session_free(p->sess[i]);
	free(p);
}

/* Our output to OpenSSL. */
static void give(struct peer *p, tls_buf *out)
{
	if (out->len && BIO_write(p->to_ssl, out->base, (int)out->len) != (int)out->len)
		abort();
	tls_buf_reset(out);
}

/* OpenSSL's output to us. */
static size_t take(struct peer *p)
{
	uint8_t buf[4096];
	size_t total = 0;
	int n;
	while ((n = BIO_read(p->from_ssl, buf, sizeof(buf))) > 0) {
		tls_write_bytes(&p->in, buf, (size_t)n);
		total += (size_t)n;
	}
	return total;
}

static bool ssl_step(struct peer *p)
{
	if (p->ossl_read_early) {
		for (;;) {
			size_t got = 0;
			int r = SSL_read_early_data(p->ssl, p->ossl_early + p->ossl_early_len,
						    sizeof(p->ossl_early) - p->ossl_early_len, &got);
			p->ossl_early_len += got;
			if (r == SSL_READ_EARLY_DATA_SUCCESS)
				continue;
			if (r == SSL_READ_EARLY_DATA_FINISH) {
				p->ossl_read_early = false;
				break;
			}
			int e = SSL_get_error(p->ssl, 0);
			return e == SSL_ERROR_WANT_READ;
		}
	}
	int r = SSL_do_handshake(p->ssl);
	if (r == 1) {
		p->ssl_rc = 1;
		return true;
	}
	int e = SSL_get_error(p->ssl, r);
	return e == SSL_ERROR_WANT_READ;
}

/* Runs the handshake; then our client reads what OpenSSL sent after it
 * (tickets), or OpenSSL's client reads ours (SSL_read processes them). */
static bool pump(struct peer *p)
{
	tls_buf out;
	tls_buf_init(&out, 0);
	bool ok = true;
	for (int i = 0; i < 40 && ok; i++) {
		if (p->rc == TLS_WANT_INPUT) {
			size_t n = p->in.len;
			p->rc = tls_conn_handshake(p->c, &out, p->in.base, &n);
			tls_buf_consume(&p->in, n);
			give(p, &out);
		}
		if (p->ssl_rc != 1)
			ok = ssl_step(p);
		take(p);
		if (p->rc < 0)
			ok = false;
		if (p->rc == 0 && p->ssl_rc == 1)
			break;
	}
	ok = ok && p->rc == 0 && p->ssl_rc == 1;
	if (ok && p->in.len) {
		tls_buf plain;
		tls_buf_init(&plain, 0);
		size_t n = p->in.len;
		int rc = tls_conn_recv(p->c, &out, &plain, p->in.base, &n);
		tls_buf_consume(&p->in, n);
		ok = rc == 0 && plain.len == 0 && p->in.len == 0;
		give(p, &out);
		tls_buf_free(&plain);
	}
	if (ok && !p->ssl_server) {
		uint8_t b[16];
		/* processes our NewSessionTickets */
		ok = SSL_read(p->ssl, b, sizeof(b)) <= 0 &&
		     SSL_get_error(p->ssl, -1) == SSL_ERROR_WANT_READ;
	}
	if (!ok) {
		char e[256] = "";
		unsigned long err = ERR_peek_last_error();
		if (err)
			ERR_error_string_n(err, e, sizeof(e));
		test_diag("ours: %d %s / OpenSSL: %d %s", p->rc, tls_conn_error(p->c), p->ssl_rc, e);
		ERR_clear_error();
	}
	tls_buf_free(&out);
	return ok;
}

/* Application data both ways. */
static bool exchange(struct peer *p, const char *a, const char *b)
{
	tls_buf out, plain;
	tls_buf_init(&out, 0);
	tls_buf_init(&plain, 0);
	bool ok = tls_conn_send(p->c, &out, a, strlen(a)) == 0;
	give(p, &out);
	char buf[256];
	int n = SSL_read(p->ssl, buf, sizeof(buf));
	ok = ok && n == (int)strlen(a) && !memcmp(buf, a, (size_t)n);
	ok = ok && SSL_write(p->ssl, b, (int)strlen(b)) == (int)strlen(b);
	take(p);
	size_t used = p->in.len;
	int rc = tls_conn_recv(p->c, &out, &plain, p->in.base, &used);
	tls_buf_consume(&p->in, used);
	give(p, &out);
	ok = ok && rc == 0 && plain.len == strlen(b) && !memcmp(plain.base, b, plain.len);
	tls_buf_free(&out);
	tls_buf_free(&plain);
	return ok;
}

/* ---- configs ---- */

static tls_config *our_server(void)
{
	tls_config *cfg = tls_config_new(TLS_SERVER);
	tls_chain ch;
	test_pki_chain(&pki, &ch);
	if (!cfg || tls_config_add_cert(cfg, &ch, test_pki_leaf_key(&pki)))
		abort();
	return cfg;
}

static tls_config *our_client(void)
{
	tls_config *cfg = tls_config_new(TLS_CLIENT);
	char err[256];
	if (!cfg || tls_config_load_ca(cfg, pki.ca_path, err, sizeof(err)))
		abort();
	return cfg;
}

/* OpenSSL client sessions land here. */
static SSL_SESSION *their_sess[8];
static size_t n_their_sess;

static int new_session_cb(SSL *ssl, SSL_SESSION *s)
{
	(void)ssl;
	if (n_their_sess == 8)
		return 0;
	their_sess[n_their_sess++] = s;
	return 1; /* we keep the reference */
}

static void their_sessions_free(void)
{
	for (size_t i = 0; i < n_their_sess; i++)
		SSL_SESSION_free(their_sess[i]);
	n_their_sess = 0;
}

static SSL_CTX *their_ctx(bool server)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION))
		abort();
	if (server) {
		if (SSL_CTX_use_certificate(ctx, pki.leaf) != 1 ||
		    SSL_CTX_use_PrivateKey(ctx, pki.leaf_key) != 1)
			abort();
	} else {
		if (SSL_CTX_load_verify_locations(ctx, pki.ca_path, NULL) != 1)
			abort();
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
		SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
	}
	return ctx;
}

/* ---- OpenSSL server, our client ---- */

static tls_session *sessions_from(SSL_CTX *sctx, const tls_config *ccfg, size_t *n_out,
				  tls_session **second)
{
	struct peer *p = peer_new(ccfg, sctx);
	tls_session *s = NULL;
	if (pump(p) && p->n_sess) {
		s = p->sess[0];
		p->sess[0] = NULL;
		if (second && p->n_sess > 1) {
			*second = p->sess[1];
			p->sess[1] = NULL;
		}
	}
	if (n_out)
		*n_out = p->n_sess;
	peer_free(p);
	return s;
}

static int refuse_early(SSL *ssl, void *arg)
{
	(void)ssl;
	(void)arg;
	return 0;
}

static void openssl_server(void)
{
	SSL_CTX *sctx = their_ctx(true);
	tls_config *ccfg = our_client();
	size_t n = 0;
	tls_session *s2 = NULL;
	tls_session *s = sessions_from(sctx, ccfg, &n, &s2);
	test_ok(s && n == 2 && s->lifetime_s > 0 && s->cipher == TLS_AES_128_GCM_SHA256,
		"OpenSSL server: our client got %zu sessions", n);
	struct peer *p = peer_new(ccfg, sctx);
	bool ok = s && set_sess(p->c, s) == 0 && pump(p);
	test_ok(ok && tls_conn_params(p->c)->resumed && SSL_session_reused(p->ssl) &&
		tls_conn_params(p->c)->group != 0 && exchange(p, "hello", "world"),
		"OpenSSL server: resumed with our session (psk_dhe_ke)");
	peer_free(p);
	tls_session_free(s);

	/* the session survives our encoding */
	tls_buf b;
	tls_buf_init(&b, 0);
	tls_session *d = s2 && !tls_session_encode(s2, &b) ? tls_session_decode(b.base, b.len) : NULL;
	p = peer_new(ccfg, sctx);
	ok = d && set_sess(p->c, d) == 0 && pump(p);
	test_ok(ok && tls_conn_params(p->c)->resumed && SSL_session_reused(p->ssl),
		"OpenSSL server: resumed with an encoded/decoded session");
	peer_free(p);
	tls_session_free(d);
	tls_session_free(s2);
	tls_buf_free(&b);

	/* psk_ke */
	SSL_CTX_set_options(sctx, SSL_OP_ALLOW_NO_DHE_KEX);
	tls_config_set_psk_modes(ccfg, TLS_PSK_MODE_KE);
	s = sessions_from(sctx, ccfg, NULL, NULL);
	p = peer_new(ccfg, sctx);
	ok = s && set_sess(p->c, s) == 0 && pump(p);
	test_ok(ok && tls_conn_params(p->c)->resumed && tls_conn_params(p->c)->group == 0 &&
		exchange(p, "a", "b"),
		"OpenSSL server (ALLOW_NO_DHE_KEX): psk_ke resumption");
	peer_free(p);
	tls_session_free(s);
	tls_config_set_psk_modes(ccfg, TLS_PSK_MODE_DHE_KE);
	SSL_CTX_clear_options(sctx, SSL_OP_ALLOW_NO_DHE_KEX);

	/* HRR + resumption: the server wants P-256, we share X25519 first */
	s = sessions_from(sctx, ccfg, NULL, NULL);
	p = peer_new(ccfg, sctx);
	SSL_set1_groups_list(p->ssl, "P-256");
	ok = s && set_sess(p->c, s) == 0 && pump(p);
	test_ok(ok && tls_conn_params(p->c)->resumed && tls_conn_params(p->c)->hrr &&
		tls_conn_params(p->c)->group == TLS_GROUP_SECP256R1,
		"OpenSSL server: HRR + resumption");
	peer_free(p);
	tls_session_free(s);

	/* 0-RTT */
	const char *req = "GET /early HTTP/1.1\r\n\r\n";
	SSL_CTX_set_max_early_data(sctx, 4096);
	s = sessions_from(sctx, ccfg, NULL, NULL);
	test_ok(s && s->max_early_data == 4096, "OpenSSL ticket allows 0-RTT (%u)",
		s ? s->max_early_data : 0);
	p = peer_new(ccfg, sctx);
	p->ossl_read_early = true;
	ok = s && set_sess(p->c, s) == 0 &&
	     tls_conn_set_early_data(p->c, (const uint8_t *)req, strlen(req)) == 0 && pump(p);
	test_ok(ok && SSL_get_early_data_status(p->ssl) == SSL_EARLY_DATA_ACCEPTED &&
		p->ossl_early_len == strlen(req) && !memcmp(p->ossl_early, req, strlen(req)) &&
		tls_conn_params(p->c)->early_data == TLS_EARLY_ACCEPTED && exchange(p, "1", "2"),
		"OpenSSL server: our 0-RTT accepted (SSL_read_early_data)");
	peer_free(p);
	tls_session_free(s);

	s = sessions_from(sctx, ccfg, NULL, NULL);
	p = peer_new(ccfg, sctx);
	SSL_set_allow_early_data_cb(p->ssl, refuse_early, NULL);
	p->ossl_read_early = true;
	ok = s && set_sess(p->c, s) == 0 &&
	     tls_conn_set_early_data(p->c, (const uint8_t *)req, strlen(req)) == 0 && pump(p);
	test_ok(ok && SSL_get_early_data_status(p->ssl) == SSL_EARLY_DATA_REJECTED &&
		p->ossl_early_len == 0 && tls_conn_params(p->c)->early_data == TLS_EARLY_REJECTED &&
		tls_conn_params(p->c)->resumed && exchange(p, "resend", "ok"),
		"OpenSSL server: our 0-RTT rejected, resumed, data resent");
	peer_free(p);
	tls_session_free(s);
	SSL_CTX_free(sctx);
	tls_config_free(ccfg);
}

/* ---- our server, OpenSSL client ---- */

static SSL_SESSION *their_session(const tls_config *scfg, SSL_CTX *cctx)
{
	their_sessions_free();
	struct peer *p = peer_new(scfg, cctx);
	bool ok = pump(p);
	peer_free(p);
	if (!ok || !n_their_sess)
		return NULL;
	SSL_SESSION *s = their_sess[0];
	SSL_SESSION_up_ref(s);
	their_sessions_free();
	return s;
}

static void our_server_tests(void)
{
	tls_config *scfg = our_server();
	SSL_CTX *cctx = their_ctx(false);
	their_sessions_free();
	struct peer *p = peer_new(scfg, cctx);
	bool ok = pump(p);
	test_ok(ok && n_their_sess == 2, "our server: OpenSSL client got %zu tickets", n_their_sess);
	SSL_SESSION *s = n_their_sess ? their_sess[0] : NULL;
	if (s)
		SSL_SESSION_up_ref(s);
	their_sessions_free();
	peer_free(p);
	p = peer_new(scfg, cctx);
	ok = s && SSL_set_session(p->ssl, s) && pump(p);
	test_ok(ok && SSL_session_reused(p->ssl) && tls_conn_params(p->c)->resumed &&
		tls_conn_params(p->c)->group != 0 && exchange(p, "x", "y"),
		"our server: OpenSSL resumed with its SSL_SESSION (psk_dhe_ke)");
	peer_free(p);
	SSL_SESSION_free(s);

	/* psk_ke: OpenSSL offers both with ALLOW_NO_DHE_KEX, we allow only psk_ke */
	SSL_CTX_set_options(cctx, SSL_OP_ALLOW_NO_DHE_KEX);
	tls_config_set_psk_modes(scfg, TLS_PSK_MODE_KE);
	s = their_session(scfg, cctx);
	p = peer_new(scfg, cctx);
	ok = s && SSL_set_session(p->ssl, s) && pump(p);
	test_ok(ok && SSL_session_reused(p->ssl) && tls_conn_params(p->c)->group == 0 &&
		exchange(p, "ke", "ok"),
		"our server (psk_ke only): OpenSSL client resumed without (EC)DHE");
	peer_free(p);
	SSL_SESSION_free(s);
	tls_config_set_psk_modes(scfg, TLS_PSK_MODE_DHE_KE);
	SSL_CTX_clear_options(cctx, SSL_OP_ALLOW_NO_DHE_KEX);

	/* STEK rotation */
	tls_stek_ring *ring = tls_stek_ring_new(1, 0);
	tls_stek_ring_rotate(ring, 1700000000);
	tls_config_set_ticket_keys(scfg, ring);
	s = their_session(scfg, cctx);
	SSL_SESSION *s2 = their_session(scfg, cctx);
	tls_stek_ring_rotate(ring, 1700000001);
	p = peer_new(scfg, cctx);
	ok = s && SSL_set_session(p->ssl, s) && pump(p);
	test_ok(ok && SSL_session_reused(p->ssl), "our server: ticket opens after one STEK rotation");
	peer_free(p);
	tls_stek_ring_rotate(ring, 1700000002);
	p = peer_new(scfg, cctx);
	ok = s2 && SSL_set_session(p->ssl, s2) && pump(p);
	test_ok(ok && !SSL_session_reused(p->ssl) && !tls_conn_params(p->c)->resumed,
		"our server: ticket of a dropped STEK -> full handshake");
	peer_free(p);
	SSL_SESSION_free(s);
	SSL_SESSION_free(s2);
	tls_config_set_ticket_keys(scfg, NULL);
	tls_stek_ring_free(ring);

	/* HRR + resumption */
	s = their_session(scfg, cctx);
	const uint16_t p256[] = { TLS_GROUP_SECP256R1 };
	tls_config *hcfg = our_server();
	tls_stek_ring *shared = tls_stek_ring_new(2, 0);
	tls_stek_ring_rotate(shared, 1700000000);
	tls_config_set_ticket_keys(scfg, shared);
	tls_config_set_ticket_keys(hcfg, shared);
	tls_config_set_groups(hcfg, p256, 1);
	SSL_SESSION_free(s);
	s = their_session(scfg, cctx);
	p = peer_new(hcfg, cctx);
	ok = s && SSL_set_session(p->ssl, s) && pump(p);
	test_ok(ok && SSL_session_reused(p->ssl) && tls_conn_params(p->c)->hrr &&
		tls_conn_params(p->c)->resumed,
		"our server: HRR + resumption with OpenSSL");
	peer_free(p);
	SSL_SESSION_free(s);

	/* 0-RTT */
	const char *req = "early bytes from OpenSSL";
	tls_config_set_early_data(scfg, 8192);
	s = their_session(scfg, cctx);
	test_ok(s && SSL_SESSION_get_max_early_data(s) == 8192, "our ticket allows 0-RTT for OpenSSL");
	p = peer_new(scfg, cctx);
	size_t w = 0;
	ok = s && SSL_set_session(p->ssl, s) &&
	     SSL_write_early_data(p->ssl, req, strlen(req), &w) == 1 && w == strlen(req);
	take(p);
	ok = ok && pump(p);
	test_ok(ok && SSL_get_early_data_status(p->ssl) == SSL_EARLY_DATA_ACCEPTED &&
		p->early.len == strlen(req) && !memcmp(p->early.base, req, strlen(req)) &&
		tls_conn_params(p->c)->early_data == TLS_EARLY_ACCEPTED && exchange(p, "a", "b"),
		"our server: OpenSSL 0-RTT accepted and delivered");
	peer_free(p);
	SSL_SESSION_free(s);

	s = their_session(scfg, cctx);
	p = peer_new(hcfg, cctx); /* no 0-RTT there, and an HRR */
	ok = s && SSL_set_session(p->ssl, s) &&
	     SSL_write_early_data(p->ssl, req, strlen(req), &w) == 1;
	take(p);
	ok = ok && pump(p);
	test_ok(ok && SSL_get_early_data_status(p->ssl) == SSL_EARLY_DATA_REJECTED &&
		p->early.len == 0 && SSL_session_reused(p->ssl) && exchange(p, "c", "d"),
		"our server: OpenSSL 0-RTT rejected (disabled + HRR), skipped, resumed");
	peer_free(p);
	SSL_SESSION_free(s);

	s = their_session(scfg, cctx);
	tls_config_set_early_data(scfg, 0);
	p = peer_new(scfg, cctx);
	ok = s && SSL_set_session(p->ssl, s) &&
	     SSL_write_early_data(p->ssl, req, strlen(req), &w) == 1;
	take(p);
	ok = ok && pump(p);
	test_ok(ok && SSL_get_early_data_status(p->ssl) == SSL_EARLY_DATA_REJECTED &&
		p->early.len == 0 && !tls_conn_params(p->c)->hrr && SSL_session_reused(p->ssl),
		"our server: OpenSSL 0-RTT rejected (disabled), trial-decrypted away");
	peer_free(p);
	SSL_SESSION_free(s);
	tls_config_set_ticket_keys(scfg, NULL);
	tls_config_set_ticket_keys(hcfg, NULL);
	tls_stek_ring_free(shared);
	tls_config_free(hcfg);
	SSL_CTX_free(cctx);
	tls_config_free(scfg);
	their_sessions_free();
}

/* ---- external PSKs ---- */

static const uint8_t ext_key[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
				     17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
static const char ext_id[] = "nqn.2014-08.org.nvmexpress:host";

static SSL_SESSION *psk_session(SSL *ssl)
{
	const SSL_CIPHER *ciph = SSL_CIPHER_find(ssl, (const unsigned char *)"\x13\x01");
	SSL_SESSION *s = SSL_SESSION_new();
	if (!s || !ciph || !SSL_SESSION_set1_master_key(s, ext_key, sizeof(ext_key)) ||
	    !SSL_SESSION_set_cipher(s, ciph) || !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION))
		abort();
	return s;
}

static int use_psk_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
		      SSL_SESSION **sess)
{
	(void)md;
	*sess = psk_session(ssl);
	*id = (const unsigned char *)ext_id;
	*idlen = strlen(ext_id);
	return 1;
}

static int find_psk_cb(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
	if (idlen != strlen(ext_id) || memcmp(id, ext_id, idlen)) {
		*sess = NULL;
		return 1;
	}
	*sess = psk_session(ssl);
	return 1;
}

static int our_find(void *ctx, const uint8_t *id, size_t id_len, uint8_t *key, size_t *key_len,
		    uint16_t *cipher)
{
	(void)ctx;
	if (id_len != strlen(ext_id) || memcmp(id, ext_id, id_len) || *key_len < sizeof(ext_key))
		return -1;
	memcpy(key, ext_key, sizeof(ext_key));
	*key_len = sizeof(ext_key);
	*cipher = TLS_AES_128_GCM_SHA256;
	return 0;
}

static void external_psks(void)
{
	for (int ke = 0; ke < 2; ke++) {
		const char *mode = ke ? "psk_ke" : "psk_dhe_ke";
		/* OpenSSL server, our client */
		SSL_CTX *sctx = their_ctx(true);
		SSL_CTX_set_psk_find_session_callback(sctx, find_psk_cb);
		tls_config *ccfg = tls_config_new(TLS_CLIENT);
		tls_config_set_psk(ccfg, (const uint8_t *)ext_id, strlen(ext_id), ext_key,
				   sizeof(ext_key), TLS_AES_128_GCM_SHA256);
		if (ke) {
			SSL_CTX_set_options(sctx, SSL_OP_ALLOW_NO_DHE_KEX);
			tls_config_set_psk_modes(ccfg, TLS_PSK_MODE_KE);
		}
		struct peer *p = peer_new(ccfg, sctx);
		bool ok = pump(p);
		test_ok(ok && tls_conn_params(p->c)->psk_external && SSL_session_reused(p->ssl) &&
			(tls_conn_params(p->c)->group == 0) == (ke == 1) && exchange(p, "nvme", "tcp"),
			"OpenSSL server (psk_find_session_cb): our external PSK, %s", mode);
		peer_free(p);
		SSL_CTX_free(sctx);
		tls_config_free(ccfg);

		/* our server, OpenSSL client */
		SSL_CTX *cctx = their_ctx(false);
		SSL_CTX_set_psk_use_session_callback(cctx, use_psk_cb);
		tls_config *scfg = our_server();
		tls_config_set_psk_find(scfg, our_find, NULL);
		if (ke) {
			SSL_CTX_set_options(cctx, SSL_OP_ALLOW_NO_DHE_KEX);
			tls_config_set_psk_modes(scfg, TLS_PSK_MODE_KE);
		}
		p = peer_new(scfg, cctx);
		ok = pump(p);
		test_ok(ok && tls_conn_params(p->c)->psk_external && SSL_session_reused(p->ssl) &&
			(tls_conn_params(p->c)->group == 0) == (ke == 1) && exchange(p, "nvme", "tcp"),
			"our server: OpenSSL external PSK (psk_use_session_cb), %s", mode);
		peer_free(p);
		SSL_CTX_free(cctx);
		tls_config_free(scfg);
		their_sessions_free();
	}
}

/* ---- KeyUpdate ---- */

/* Our side sends a KeyUpdate, then data; OpenSSL reads (and answers). */
static bool ours_updates(struct peer *p, bool request)
{
	tls_buf out;
	tls_buf_init(&out, 0);
	bool ok = tls_conn_key_update(p->c, &out, request) == 0;
	give(p, &out);
	tls_buf_free(&out);
	ok = ok && exchange(p, "after our update", "their answer");
	return ok && exchange(p, "again", "still fine");
}

/* OpenSSL sends a KeyUpdate with its next write; we follow (and answer). */
static bool theirs_updates(struct peer *p, bool request)
{
	bool ok = SSL_key_update(p->ssl, request ? SSL_KEY_UPDATE_REQUESTED
						 : SSL_KEY_UPDATE_NOT_REQUESTED) == 1;
	ok = ok && exchange(p, "ping", "their update + data");
	return ok && exchange(p, "our answer went first", "and again");
}

static void key_updates(void)
{
	for (int role = 0; role < 2; role++) {
		const char *who = role ? "our server" : "our client";
		SSL_CTX *ctx = their_ctx(role == 1 ? false : true);
		tls_config *cfg = role ? our_server() : our_client();
		for (int req = 0; req < 2; req++) {
			struct peer *p = peer_new(cfg, ctx);
			bool ok = pump(p);
			test_ok(ok && ours_updates(p, req), "%s initiates KeyUpdate (%s)", who,
				req ? "update_requested" : "update_not_requested");
			test_ok(ok && theirs_updates(p, req), "OpenSSL initiates KeyUpdate (%s) to %s",
				req ? "update_requested" : "update_not_requested", who);
			peer_free(p);
		}
		SSL_CTX_free(ctx);
		tls_config_free(cfg);
		their_sessions_free();
	}
}

int main(void)
{
	test_pki_make(&pki, TESTKEY_P256, "server.test", 0);
	openssl_server();
	our_server_tests();
	external_psks();
	key_updates();
	test_pki_free(&pki);
	return test_done();
}
