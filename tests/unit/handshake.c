/* Our client against our server in memory: the cipher x group x signature
 * matrix, HelloRetryRequest, ALPN, SNI certificate selection, client
 * certificates, fragmented input, application data, KeyUpdate, close_notify
 * and exact consumption of input. */
#include <stdlib.h>
#include <string.h>

#include "pair.h"
#include "test.h"
#include "testkeys.h"
#include "tls/engine.h"

/* ---- keys and configs ---- */

struct cred {
	struct test_pki pki;
	enum testkey_type type;
};

static const char *type_name(enum testkey_type t)
{
	switch (t) {
	case TESTKEY_P256: return "P-256";
	case TESTKEY_P384: return "P-384";
	case TESTKEY_RSA2048: return "RSA-2048";
	case TESTKEY_ED25519: return "Ed25519";
	}
	return "?";
}

static void add_cred(tls_config *cfg, const struct cred *cr)
{
	tls_chain ch;
	test_pki_chain(&cr->pki, &ch);
	if (tls_config_add_cert(cfg, &ch, test_pki_leaf_key(&cr->pki)) != 0)
		abort();
}

static tls_config *server_cfg(const struct cred *cr)
{
	tls_config *cfg = tls_config_new(TLS_SERVER);
	add_cred(cfg, cr);
	return cfg;
}

static tls_config *client_cfg(const struct cred *trust)
{
	tls_config *cfg = tls_config_new(TLS_CLIENT);
	char err[256];
	if (trust && tls_config_load_ca(cfg, trust->pki.ca_path, err, sizeof(err)) != 0) {
		test_diag("load ca: %s", err);
		abort();
	}
	return cfg;
}

/* A whole handshake, then the client reads the server's tickets. */
static bool handshake(const tls_config *ccfg, const tls_config *scfg, const char *sni,
		      bool bytewise, struct test_pair *p)
{
	test_pair_init(p, ccfg, scfg, sni);
	p->bytewise = bytewise;
	return test_pair_go(p);
}

/* ---- tests ---- */

static void basic(struct cred *p256)
{
	tls_config *scfg = server_cfg(p256);
	tls_config *ccfg = client_cfg(p256);
	struct test_pair p;
	bool ok = handshake(ccfg, scfg, "server.test", false, &p);
	test_ok(ok, "basic handshake X25519 / ECDSA P-256 / AES-128-GCM");
	if (ok) {
		const tls_params *cp = tls_conn_params(p.cl.c), *sp = tls_conn_params(p.sv.c);
		test_ok(cp->cipher->id == TLS_AES_128_GCM_SHA256 && sp->cipher == cp->cipher &&
			cp->group == TLS_GROUP_X25519MLKEM768 && sp->group == TLS_GROUP_X25519MLKEM768,
			"negotiated AES-128-GCM and X25519MLKEM768 (the default)");
		test_ok(cp->sig_scheme == TLS_SIG_ECDSA_SECP256R1_SHA256 &&
			sp->sig_scheme == TLS_SIG_ECDSA_SECP256R1_SHA256,
			"signature ecdsa_secp256r1_sha256");
		test_ok(sp->server_name && strcmp(sp->server_name, "server.test") == 0,
			"server saw SNI");
		test_ok(cp->peer_chain && cp->peer_chain->n == 2 && !sp->peer_chain,
			"client got the chain, server none");
		test_ok(p.cl.n_secrets == 4 && p.sv.n_secrets == 4, "4 secret callbacks per side");
		uint8_t a[48], b[48];
		size_t al = sizeof(a), bl = sizeof(b);
		uint64_t as, bs;
		test_ok(tls_conn_traffic(p.cl.c, TLS_DIR_TX, a, &al, &as) == 0 &&
			tls_conn_traffic(p.sv.c, TLS_DIR_RX, b, &bl, &bs) == 0 && al == 32 && bl == 32 &&
			memcmp(a, b, 32) == 0 && as == 0 && bs == 0,
			"client TX secret == server RX secret, seq 0");
		test_ok(test_transfer(p.cl.c, p.sv.c, "hello", 5) &&
			test_transfer(p.sv.c, p.cl.c, "world!", 6),
			"application data both ways");
	}
	test_pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

static void matrix(struct cred *creds, size_t n_creds)
{
	static const uint16_t ciphers[] = { TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
					    TLS_CHACHA20_POLY1305_SHA256 };
	static const uint16_t groups[] = { TLS_GROUP_X25519, TLS_GROUP_SECP256R1,
					   TLS_GROUP_SECP384R1 };
	static const struct {
		uint16_t scheme;
		enum testkey_type key;
	} sigs[] = {
		{ TLS_SIG_ECDSA_SECP256R1_SHA256, TESTKEY_P256 },
		{ TLS_SIG_ECDSA_SECP384R1_SHA384, TESTKEY_P384 },
		{ TLS_SIG_ED25519, TESTKEY_ED25519 },
		{ TLS_SIG_RSA_PSS_RSAE_SHA256, TESTKEY_RSA2048 },
		{ TLS_SIG_RSA_PSS_RSAE_SHA384, TESTKEY_RSA2048 },
		{ TLS_SIG_RSA_PSS_RSAE_SHA512, TESTKEY_RSA2048 },
	};
	for (size_t si = 0; si < sizeof(sigs) / sizeof(sigs[0]); si++) {
		const struct cred *cr = NULL;
		for (size_t k = 0; k < n_creds; k++)
			if (creds[k].type == sigs[si].key)
				cr = &creds[k];
		tls_config *scfg = server_cfg(cr);
		tls_config *ccfg = client_cfg(cr);
		tls_config_set_sigalgs(ccfg, &sigs[si].scheme, 1);
		for (size_t ci = 0; ci < 3; ci++) {
			for (size_t gi = 0; gi < 3; gi++) {
				tls_config_set_ciphers(ccfg, &ciphers[ci], 1);
				tls_config_set_groups(ccfg, &groups[gi], 1);
				struct test_pair p;
				bool ok = handshake(ccfg, scfg, "server.test", false, &p);
				const tls_params *cp = tls_conn_params(p.cl.c);
				ok = ok && cp->cipher->id == ciphers[ci] && cp->group == groups[gi] &&
				     cp->sig_scheme == sigs[si].scheme &&
				     tls_conn_params(p.sv.c)->sig_scheme == sigs[si].scheme &&
				     test_transfer(p.cl.c, p.sv.c, "ping", 4) &&
				     test_transfer(p.sv.c, p.cl.c, "pong", 4);
				test_ok(ok, "%s x group 0x%04x x sig 0x%04x (%s)",
					tls_cipher_find(ciphers[ci])->name, groups[gi], sigs[si].scheme,
					type_name(sigs[si].key));
				test_pair_free(&p);
			}
		}
		tls_config_free(scfg);
		tls_config_free(ccfg);
	}
}

static void hrr(struct cred *p256)
{
	tls_config *scfg = server_cfg(p256);
	tls_config *ccfg = client_cfg(p256);
	/* client shares only P-256, server prefers X25519 but accepts P-256 share
	 * (classical groups only: a preferred hybrid group would be asked for) */
	uint16_t share = TLS_GROUP_SECP256R1;
	static const uint16_t classical[] = { TLS_GROUP_X25519, TLS_GROUP_SECP256R1 };
	tls_config_set_groups(ccfg, classical, 2);
	tls_config_set_key_share_groups(ccfg, &share, 1);
	struct test_pair p;
	bool ok = handshake(ccfg, scfg, "server.test", false, &p);
	test_ok(ok && !tls_conn_params(p.cl.c)->hrr && tls_conn_params(p.cl.c)->group == share,
		"server uses the client's P-256 share without HRR");
	test_pair_free(&p);

	/* server only accepts X25519: HRR */
	uint16_t x = TLS_GROUP_X25519;
	tls_config_set_groups(scfg, &x, 1);
	ok = handshake(ccfg, scfg, "server.test", false, &p);
	test_ok(ok && tls_conn_params(p.cl.c)->hrr && tls_conn_params(p.sv.c)->hrr &&
		tls_conn_params(p.cl.c)->group == TLS_GROUP_X25519 &&
		test_transfer(p.cl.c, p.sv.c, "x", 1),
		"HelloRetryRequest to X25519, then handshake");
	test_pair_free(&p);
	ok = handshake(ccfg, scfg, "server.test", true, &p);
	test_ok(ok && tls_conn_params(p.cl.c)->hrr, "HelloRetryRequest with byte-at-a-time input");
	test_pair_free(&p);

	/* compat mode off: no session id, no CCS, still fine */
	tls_config_set_compat_mode(ccfg, false);
	ok = handshake(ccfg, scfg, "server.test", false, &p);
	test_ok(ok && tls_conn_params(p.cl.c)->hrr, "HelloRetryRequest without compatibility mode");
	test_pair_free(&p);

	/* no mutual group */
	uint16_t p384 = TLS_GROUP_SECP384R1;
	tls_config_set_groups(ccfg, &p384, 1);
	ok = handshake(ccfg, scfg, "server.test", false, &p);
	test_ok(!ok && p.sv.rc == TLS_ERR_LOCAL(TLS_ALERT_HANDSHAKE_FAILURE) &&
		p.cl.rc == TLS_ERR_PEER(TLS_ALERT_HANDSHAKE_FAILURE),
		"no mutual group: handshake_failure");
	test_pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* The opt-in groups and AES-128-CCM: not in the defaults, so a default
 * server refuses a client that offers only them; configured on both ends
 * they work, also byte at a time, and after an HRR to a 512-byte share. */
static void opt_in(struct cred *p256)
{
	static const uint16_t opt[] = { TLS_GROUP_SECP521R1, TLS_GROUP_X448, TLS_GROUP_FFDHE2048,
					TLS_GROUP_FFDHE3072, TLS_GROUP_FFDHE4096 };
	const uint16_t ccm = TLS_AES_128_CCM_SHA256;
	static char big[40000];  /* several records */
	tls_config *scfg = server_cfg(p256), *ccfg = client_cfg(p256);
	struct test_pair p;
	bool ok;

	tls_config_set_groups(ccfg, opt, 5);
	ok = handshake(ccfg, scfg, "server.test", false, &p);
	test_ok(!ok && p.sv.rc == TLS_ERR_LOCAL(TLS_ALERT_HANDSHAKE_FAILURE),
		"default server: a client with only the opt-in groups gets handshake_failure");
	test_pair_free(&p);
	tls_config_set_groups(ccfg, &opt[0], 1);
	tls_config_set_ciphers(ccfg, &ccm, 1);
	ok = handshake(ccfg, scfg, "server.test", false, &p);
	test_ok(!ok && p.sv.rc == TLS_ERR_LOCAL(TLS_ALERT_HANDSHAKE_FAILURE),
		"default server: a client with only TLS_AES_128_CCM_SHA256 gets handshake_failure");
	test_pair_free(&p);

	static const uint16_t ciphers[] = { TLS_AES_128_GCM_SHA256, TLS_AES_128_CCM_SHA256 };
	tls_config_set_ciphers(scfg, ciphers, 2);
	tls_config_set_groups(scfg, opt, 5);
	for (size_t i = 0; i < 5; i++) {
		tls_config_set_groups(ccfg, &opt[i], 1);
		ok = handshake(ccfg, scfg, "server.test", i == 2, &p);
		ok = ok && tls_conn_params(p.cl.c)->group == opt[i] &&
		     tls_conn_params(p.sv.c)->group == opt[i] &&
		     tls_conn_params(p.cl.c)->cipher->id == ccm && !tls_conn_params(p.cl.c)->hrr &&
		     test_transfer(p.cl.c, p.sv.c, "ping", 4) &&
		     test_transfer(p.sv.c, p.cl.c, big, sizeof(big));
		test_ok(ok, "TLS_AES_128_CCM_SHA256 x group 0x%04x configured on both ends%s", opt[i],
			i == 2 ? ", byte at a time" : "");
		test_pair_free(&p);
	}
	/* the client shares X25519, the server takes only ffdhe4096: HRR */
	static const uint16_t cg[] = { TLS_GROUP_X25519, TLS_GROUP_FFDHE4096 };
	tls_config_set_groups(ccfg, cg, 2);
	tls_config_set_groups(scfg, &cg[1], 1);
	tls_config_set_ciphers(ccfg, ciphers, 2);
	ok = handshake(ccfg, scfg, "server.test", false, &p);
	test_ok(ok && tls_conn_params(p.cl.c)->hrr &&
		tls_conn_params(p.cl.c)->group == TLS_GROUP_FFDHE4096 &&
		tls_conn_params(p.cl.c)->cipher->id == TLS_AES_128_GCM_SHA256 &&
		test_transfer(p.cl.c, p.sv.c, "x", 1),
		"HelloRetryRequest from X25519 to ffdhe4096, then handshake");
	test_pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

static void alpn(struct cred *p256)
{
	tls_config *scfg = server_cfg(p256);
	tls_config *ccfg = client_cfg(p256);
	tls_config_set_alpn(scfg, "h2,http/1.1");
	tls_config_set_alpn(ccfg, "http/1.1,h2");
	struct test_pair p;
	bool ok = handshake(ccfg, scfg, "server.test", false, &p);
	test_ok(ok && tls_conn_params(p.cl.c)->alpn &&
		strcmp(tls_conn_params(p.cl.c)->alpn, "h2") == 0 &&
		strcmp(tls_conn_params(p.sv.c)->alpn, "h2") == 0,
		"ALPN: server preference h2 wins");
	test_pair_free(&p);
	tls_config_set_alpn(ccfg, "foo,bar");
	ok = handshake(ccfg, scfg, "server.test", false, &p);
	test_ok(!ok && p.sv.rc == TLS_ERR_LOCAL(TLS_ALERT_NO_APPLICATION_PROTOCOL) &&
		p.cl.rc == TLS_ERR_PEER(TLS_ALERT_NO_APPLICATION_PROTOCOL),
		"ALPN without overlap: no_application_protocol");
	test_pair_free(&p);
	tls_config_set_alpn(ccfg, "");
	ok = handshake(ccfg, scfg, "server.test", false, &p);
	test_ok(ok && !tls_conn_params(p.cl.c)->alpn && !tls_conn_params(p.sv.c)->alpn,
		"ALPN: client offers none, none chosen");
	test_pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

static void sni(struct cred *creds)
{
	/* two names, and for "multi.test" both an ECDSA and an RSA cert */
	struct test_pki a, b, rsa;
	test_pki_make(&a, TESTKEY_P256, "a.test", 0);
	test_pki_make(&b, TESTKEY_P384, "*.b.test", 0);
	test_pki_make(&rsa, TESTKEY_RSA2048, "a.test", 0);
	tls_config *scfg = tls_config_new(TLS_SERVER);
	struct cred ca = { .pki = a }, cb = { .pki = b }, cr = { .pki = rsa };
	add_cred(scfg, &ca);
	add_cred(scfg, &cb);
	add_cred(scfg, &cr);
	tls_config *ccfg = tls_config_new(TLS_CLIENT);
	tls_config_set_verify_peer(ccfg, false); /* three CAs: selection, not trust, is tested */
	struct test_pair p;
	bool ok = handshake(ccfg, scfg, "a.test", false, &p);
	test_ok(ok && X509_cmp(tls_conn_params(p.cl.c)->peer_chain->certs[0], a.leaf) == 0,
		"SNI a.test selects the P-256 certificate");
	test_pair_free(&p);
	ok = handshake(ccfg, scfg, "x.b.test", false, &p);
	test_ok(ok && X509_cmp(tls_conn_params(p.cl.c)->peer_chain->certs[0], b.leaf) == 0 &&
		tls_conn_params(p.cl.c)->sig_scheme == TLS_SIG_ECDSA_SECP384R1_SHA384,
		"SNI x.b.test selects the wildcard P-384 certificate");
	test_pair_free(&p);
	ok = handshake(ccfg, scfg, "other.test", false, &p);
	test_ok(ok && X509_cmp(tls_conn_params(p.cl.c)->peer_chain->certs[0], a.leaf) == 0,
		"unknown SNI gets the default (first) certificate");
	test_pair_free(&p);
	uint16_t pss = TLS_SIG_RSA_PSS_RSAE_SHA256;
	tls_config_set_sigalgs(ccfg, &pss, 1);
	ok = handshake(ccfg, scfg, "a.test", false, &p);
	test_ok(ok && X509_cmp(tls_conn_params(p.cl.c)->peer_chain->certs[0], rsa.leaf) == 0,
		"SNI a.test with only rsa_pss in signature_algorithms selects the RSA certificate");
	test_pair_free(&p);
	uint16_t ed = TLS_SIG_ED25519;
	tls_config_set_sigalgs(ccfg, &ed, 1);
	ok = handshake(ccfg, scfg, "a.test", false, &p);
	test_ok(!ok && p.sv.rc == TLS_ERR_LOCAL(TLS_ALERT_HANDSHAKE_FAILURE),
		"no certificate for the client's signature_algorithms: handshake_failure");
	test_pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);
	/* client verifying name: wrong name fails */
	scfg = server_cfg(&creds[0]);
	ccfg = client_cfg(&creds[0]);
	ok = handshake(ccfg, scfg, "wrong.test", false, &p);
	test_ok(!ok && TLS_IS_LOCAL_ERR(p.cl.rc) && TLS_IS_PEER_ERR(p.sv.rc),
		"client rejects a certificate for another name (%s)", tls_conn_error(p.cl.c));
	test_pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);
	test_pki_free(&a);
	test_pki_free(&b);
	test_pki_free(&rsa);
}

/* Runs recv on b with whatever a wrote to wire; answers go back to a. */
static int deliver(tls_conn *b, tls_buf *wire, tls_buf *answer, tls_buf *plain)
{
	size_t n = wire->len;
	int rc = tls_conn_recv(b, answer, plain, wire->base, &n);
	tls_buf_consume(wire, n);
	return rc;
}

static void mtls(struct cred *creds)
{
	struct test_pki client;
	test_pki_make(&client, TESTKEY_P256, "client.test", 0);
	struct cred cc = { .pki = client };
	const char *names[] = { "none", "optional", "required" };
	for (int mode = 0; mode < 3; mode++) {
		for (int with = 0; with < 2; with++) {
			tls_config *scfg = server_cfg(&creds[0]);
			tls_config *ccfg = client_cfg(&creds[0]);
			char err[256];
			tls_config_load_ca(scfg, client.ca_path, err, sizeof(err));
			tls_config_set_client_auth(scfg, (enum tls_client_auth)mode);
			if (with)
				add_cred(ccfg, &cc);
			struct test_pair p;
			bool ok = handshake(ccfg, scfg, "server.test", false, &p);
			bool expect = !(mode == 2 && !with);
			const tls_chain *pc = ok ? tls_conn_params(p.sv.c)->peer_chain : NULL;
			bool good = expect ? ok && (pc != NULL) == (with && mode > 0) &&
						     test_transfer(p.cl.c, p.sv.c, "m", 1)
					   : !ok && p.sv.rc == TLS_ERR_LOCAL(TLS_ALERT_CERTIFICATE_REQUIRED);
			test_ok(good, "client auth %s, client %s certificate", names[mode],
				with ? "with" : "without");
			test_pair_free(&p);
			tls_config_free(scfg);
			tls_config_free(ccfg);
		}
	}
	/* a client certificate from an untrusted CA */
	tls_config *scfg = server_cfg(&creds[0]);
	tls_config *ccfg = client_cfg(&creds[0]);
	char err[256];
	tls_config_load_ca(scfg, creds[1].pki.ca_path, err, sizeof(err));
	tls_config_set_client_auth(scfg, TLS_CLIENT_AUTH_OPTIONAL);
	add_cred(ccfg, &cc);
	struct test_pair p;
	bool ok = handshake(ccfg, scfg, "server.test", false, &p);
	/* the client is done before the alert comes: it reads it as data */
	tls_buf back, plain;
	tls_buf_init(&back, 0);
	tls_buf_init(&plain, 0);
	int rc = deliver(p.cl.c, &p.s2c, &back, &plain);
	test_ok(!ok && p.sv.rc == TLS_ERR_LOCAL(TLS_ALERT_UNKNOWN_CA) &&
		rc == TLS_ERR_PEER(TLS_ALERT_UNKNOWN_CA),
		"client certificate from an untrusted CA: unknown_ca");
	tls_buf_free(&back);
	tls_buf_free(&plain);
	test_pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);
	test_pki_free(&client);
}

static void fragmented(struct cred *creds)
{
	for (int k = 0; k < 4; k++) {
		tls_config *scfg = server_cfg(&creds[k]);
		tls_config *ccfg = client_cfg(&creds[k]);
		struct test_pair p;
		bool ok = handshake(ccfg, scfg, "server.test", true, &p);
		test_ok(ok && test_transfer(p.cl.c, p.sv.c, "abc", 3),
			"byte-at-a-time handshake (%s)",
			type_name(creds[k].type));
		test_pair_free(&p);
		tls_config_free(scfg);
		tls_config_free(ccfg);
	}
}

/* Extra bytes behind the client Finished stay with the caller. */
static void exact_consumption(struct cred *p256)
{
	tls_config *scfg = server_cfg(p256);
	tls_config *ccfg = client_cfg(p256);
	tls_conn *c = tls_conn_new(ccfg), *s = tls_conn_new(scfg);
	tls_conn_set_server_name(c, "server.test");
	tls_buf c2s, s2c;
	tls_buf_init(&c2s, 0);
	tls_buf_init(&s2c, 0);
	size_t n = 0;
	int crc = tls_conn_handshake(c, &c2s, NULL, &n);
	n = c2s.len;
	int src = tls_conn_handshake(s, &s2c, c2s.base, &n);
	bool ok = crc == TLS_WANT_INPUT && src == TLS_WANT_INPUT && n == c2s.len;
	tls_buf_reset(&c2s);
	/* server flight plus trailing junk: the client stops after server Finished */
	size_t flight = s2c.len;
	tls_write_bytes(&s2c, "\x17\x03\x03\x00\x05junk!", 10);
	n = s2c.len;
	crc = tls_conn_handshake(c, &c2s, s2c.base, &n);
	ok = ok && crc == 0 && n == flight;
	test_ok(ok, "client consumed exactly the server flight (%zu of %zu)", n, s2c.len);
	/* client Finished + application data in the same buffer */
	size_t fin = c2s.len;
	ok = tls_conn_send(c, &c2s, "early-ish", 9) == 0;
	n = c2s.len;
	src = tls_conn_handshake(s, &s2c, c2s.base, &n);
	test_ok(ok && src == 0 && n == fin, "server consumed exactly up to the client Finished");
	tls_buf plain, out;
	tls_buf_init(&plain, 0);
	tls_buf_init(&out, 0);
	size_t rest = c2s.len - n;
	size_t m = rest;
	ok = tls_conn_recv(s, &out, &plain, c2s.base + n, &m) == 0 && m == rest && plain.len == 9 &&
	     memcmp(plain.base, "early-ish", 9) == 0;
	test_ok(ok, "the bytes behind the Finished are the first application record");
	/* a second call after done consumes nothing */
	n = c2s.len;
	test_ok(tls_conn_handshake(s, &s2c, c2s.base, &n) == 0 && n == 0,
		"handshake call after completion consumes nothing");
	tls_buf_free(&plain);
	tls_buf_free(&out);
	tls_buf_free(&c2s);
	tls_buf_free(&s2c);
	tls_conn_free(c);
	tls_conn_free(s);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

static void key_update(struct cred *p256)
{
	tls_config *scfg = server_cfg(p256);
	tls_config *ccfg = client_cfg(p256);
	for (int dir = 0; dir < 2; dir++) {
		for (int req = 0; req < 2; req++) {
			struct test_pair p;
			bool ok = handshake(ccfg, scfg, "server.test", false, &p);
			tls_conn *a = dir ? p.sv.c : p.cl.c, *b = dir ? p.cl.c : p.sv.c;
			struct test_side *ta = dir ? &p.sv : &p.cl, *tb = dir ? &p.cl : &p.sv;
			int *sa = &ta->n_secrets, *sb = &tb->n_secrets;
			int sa0 = *sa, sb0 = *sb;
			tls_buf wire, back, plain, junk;
			tls_buf_init(&wire, 0);
			tls_buf_init(&back, 0);
			tls_buf_init(&plain, 0);
			tls_buf_init(&junk, 0);
			uint8_t before[48], after[48];
			size_t l = sizeof(before);
			uint64_t seq;
			tls_conn_traffic(b, TLS_DIR_TX, before, &l, &seq);
			ok = ok && tls_conn_key_update(a, &wire, req) == 0 &&
			     tls_conn_send(a, &wire, "after", 5) == 0 &&
			     deliver(b, &wire, &back, &plain) == 0 && plain.len == 5 &&
			     memcmp(plain.base, "after", 5) == 0;
			ok = ok && (back.len > 0) == (req == 1);
			if (req) {
				/* b answered with its own KeyUpdate: a must read it */
				tls_buf_reset(&plain);
				ok = ok && tls_conn_send(b, &back, "back", 4) == 0 &&
				     deliver(a, &back, &junk, &plain) == 0 && plain.len == 4 &&
				     junk.len == 0;
			}
			l = sizeof(after);
			tls_conn_traffic(b, TLS_DIR_TX, after, &l, &seq);
			ok = ok && (memcmp(before, after, l) != 0) == (req == 1);
			ok = ok && *sa == sa0 + 1 + req && *sb == sb0 + 1 + req;
			ok = ok && test_transfer(p.cl.c, p.sv.c, "c", 1) &&
			     test_transfer(p.sv.c, p.cl.c, "s", 1);
			test_ok(ok, "KeyUpdate from the %s, update_requested=%d",
				dir ? "server" : "client", req);
			tls_buf_free(&wire);
			tls_buf_free(&back);
			tls_buf_free(&plain);
			tls_buf_free(&junk);
			test_pair_free(&p);
		}
	}
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

static void close_notify(struct cred *p256)
{
	tls_config *scfg = server_cfg(p256);
	tls_config *ccfg = client_cfg(p256);
	struct test_pair p;
	bool ok = handshake(ccfg, scfg, "server.test", false, &p);
	tls_buf wire, back, plain;
	tls_buf_init(&wire, 0);
	tls_buf_init(&back, 0);
	tls_buf_init(&plain, 0);
	ok = ok && tls_conn_send(p.cl.c, &wire, "bye", 3) == 0 &&
	     tls_conn_close(p.cl.c, &wire) == 0;
	size_t total = wire.len;
	tls_write_bytes(&wire, "trailing", 8);
	size_t n = wire.len;
	int rc = tls_conn_recv(p.sv.c, &back, &plain, wire.base, &n);
	test_ok(ok && rc == TLS_CLOSED && n == total && plain.len == 3,
		"close_notify: data delivered, then TLS_CLOSED, nothing consumed behind it");
	tls_buf_free(&wire);
	tls_buf_free(&back);
	tls_buf_free(&plain);
	test_pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

static void big_data(struct cred *p256)
{
	tls_config *scfg = server_cfg(p256);
	tls_config *ccfg = client_cfg(p256);
	tls_config_set_record_size_limit(scfg, 1000);
	struct test_pair p;
	bool ok = handshake(ccfg, scfg, "server.test", false, &p);
	size_t len = 100000;
	char *data = malloc(len);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 7);
	ok = ok && test_transfer(p.sv.c, p.cl.c, data, len);
	test_ok(ok, "100 kB server to client in records of 2^14");
	tls_buf wire;
	tls_buf_init(&wire, 0);
	ok = tls_conn_params(p.cl.c)->peer_record_limit == 1000 &&
	     tls_conn_send(p.cl.c, &wire, data, 5000) == 0 && wire.len == 5 * (5 + 999 + 1 + 16) + (5 + 5 + 1 + 16);
	test_ok(ok, "client honours the server's record_size_limit 1000 (%zu bytes on the wire)",
		wire.len);
	tls_buf back, plain;
	tls_buf_init(&back, 0);
	tls_buf_init(&plain, 0);
	test_ok(deliver(p.sv.c, &wire, &back, &plain) == 0 && plain.len == 5000 && wire.len == 0,
		"server reads the six small records");
	tls_buf_free(&back);
	tls_buf_free(&plain);
	tls_buf_free(&wire);
	test_ok(test_transfer(p.cl.c, p.sv.c, data, len),
		"100 kB client to server in records of 999");
	free(data);
	test_pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

static void keylog(struct cred *p256)
{
	tls_config *scfg = server_cfg(p256);
	tls_config *ccfg = client_cfg(p256);
	FILE *fc = tmpfile(), *fs = tmpfile();
	tls_config_set_keylog(ccfg, test_keylog_to_file, fc);
	tls_config_set_keylog(scfg, test_keylog_to_file, fs);
	struct test_pair p;
	bool ok = handshake(ccfg, scfg, "server.test", false, &p);
	char a[2048] = "", b[2048] = "";
	rewind(fc);
	rewind(fs);
	size_t na = fread(a, 1, sizeof(a) - 1, fc), nb = fread(b, 1, sizeof(b) - 1, fs);
	a[na] = b[nb] = 0;
	int lines = 0;
	for (size_t i = 0; i < na; i++)
		lines += a[i] == '\n';
	ok = ok && lines == 4 && strstr(a, "CLIENT_HANDSHAKE_TRAFFIC_SECRET ") &&
	     strstr(a, "SERVER_TRAFFIC_SECRET_0 ") && strstr(b, "CLIENT_TRAFFIC_SECRET_0 ");
	/* both sides log the same four lines, in another order */
	char *line = strtok(a, "\n");
	while (ok && line) {
		const char *sp = strchr(line, ' ');
		ok = strstr(b, line) != NULL && sp && strlen(sp) == 1 + 64 + 1 + 64 && sp[65] == ' ';
		line = strtok(NULL, "\n");
	}
	test_ok(ok, "keylog: 4 NSS lines per side, identical on both sides");
	fclose(fc);
	fclose(fs);
	test_pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* A peer that ignores our record_size_limit gets record_overflow. */
static void rsl_enforced(struct cred *p256)
{
	tls_config *scfg = server_cfg(p256);
	tls_config *ccfg = client_cfg(p256);
	tls_config_set_record_size_limit(ccfg, 256);
	struct test_pair p;
	bool ok = handshake(ccfg, scfg, "server.test", false, &p);
	/* the server honours it */
	char data[1000];
	memset(data, 'x', sizeof(data));
	ok = ok && test_transfer(p.sv.c, p.cl.c, data, sizeof(data));
	test_ok(ok, "server splits records at the client's limit 256");
	/* forge an oversized record under the server's key */
	tls_buf wire, back, plain;
	tls_buf_init(&wire, 0);
	tls_buf_init(&back, 0);
	tls_buf_init(&plain, 0);
	p.sv.c->peer_limit = TLS_MAX_PLAINTEXT;
	tls_conn_send(p.sv.c, &wire, data, sizeof(data));
	int rc = deliver(p.cl.c, &wire, &back, &plain);
	test_ok(rc == TLS_ERR_LOCAL(TLS_ALERT_RECORD_OVERFLOW), "oversized record: record_overflow (%d)", rc);
	tls_buf_free(&wire);
	tls_buf_free(&back);
	tls_buf_free(&plain);
	test_pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* RFC 8446 §4.4.2.4 / RFC 6125: a client checks the server's identity by
 * default and refuses to start without a name to check. */
static void verify_defaults(struct cred *p256)
{
	tls_config *scfg = server_cfg(p256);
	tls_config *ccfg = client_cfg(p256);
	struct test_pair p;
	test_pair_init(&p, ccfg, scfg, NULL);
	tls_buf out;
	tls_buf_init(&out, 0);
	size_t n = 0;
	int rc = tls_conn_handshake(p.cl.c, &out, NULL, &n);
	test_ok(rc == TLS_ERR_LOCAL(TLS_ALERT_INTERNAL_ERROR) && out.len == 0 &&
		strstr(tls_conn_error(p.cl.c), "no server name to verify the certificate against"),
		"verifying client without a server name fails at start (%d: %s)", rc,
		tls_conn_error(p.cl.c));
	tls_buf_free(&out);
	test_pair_free(&p);

	tls_config_set_verify_name(ccfg, false);
	bool ok = handshake(ccfg, scfg, NULL, false, &p);
	test_ok(ok && tls_conn_params(p.cl.c)->peer_chain,
		"name check off: chain-only verification");
	test_pair_free(&p);
	tls_config_free(ccfg);

	/* no CA loaded: the system store, which does not know our test CA */
	ccfg = tls_config_new(TLS_CLIENT);
	ok = handshake(ccfg, scfg, "server.test", false, &p);
	test_ok(!ok && p.cl.rc == TLS_ERR_LOCAL(TLS_ALERT_UNKNOWN_CA),
		"no CA loaded: verification still on (system store) -> unknown_ca (%d)", p.cl.rc);
	test_pair_free(&p);
	ok = handshake(ccfg, scfg, NULL, false, &p);
	test_ok(!ok && p.cl.rc == TLS_ERR_LOCAL(TLS_ALERT_INTERNAL_ERROR),
		"no CA loaded, no name: refused at start");
	test_pair_free(&p);
	tls_config_set_verify_peer(ccfg, false);
	ok = handshake(ccfg, scfg, NULL, false, &p);
	test_ok(ok, "verification explicitly off: no name needed");
	if (ok) {
		static const uint8_t zero[TLS_MAX_HASH];
		test_ok(memcmp(p.sv.c->res_master, zero, sizeof(zero)) == 0 &&
			memcmp(p.cl.c->res_master, zero, sizeof(zero)) != 0,
			"server wiped res_master after its tickets; the client keeps it");
	}
	test_pair_free(&p);
	tls_config_free(ccfg);
	tls_config_free(scfg);
}

int main(void)
{
	struct cred p256 = { .type = TESTKEY_P256 };
	test_pki_make(&p256.pki, TESTKEY_P256, "server.test", 0);
	basic(&p256);
	struct cred creds[4] = { { .type = TESTKEY_P256 }, { .type = TESTKEY_P384 },
				 { .type = TESTKEY_ED25519 }, { .type = TESTKEY_RSA2048 } };
	for (size_t i = 0; i < 4; i++)
		test_pki_make(&creds[i].pki, creds[i].type, "server.test", 0);
	matrix(creds, 4);
	hrr(&p256);
	opt_in(&p256);
	alpn(&p256);
	sni(creds);
	mtls(creds);
	fragmented(creds);
	exact_consumption(&p256);
	key_update(&p256);
	close_notify(&p256);
	big_data(&p256);
	keylog(&p256);
	rsl_enforced(&p256);
	verify_defaults(&p256);
	test_diag("sizeof(tls_conn) = %zu", sizeof(struct tls_conn));
	for (size_t i = 0; i < 4; i++)
		test_pki_free(&creds[i].pki);
	test_pki_free(&p256.pki);
	return test_done();
}
