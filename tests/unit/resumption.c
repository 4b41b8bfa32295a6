/* Resumption, external PSKs, 0-RTT and KeyUpdate limits: our client
 * against our server in memory. Tickets issued and used, psk_ke vs
 * psk_dhe_ke, tickets that must fall back to a full handshake (tampered,
 * expired, foreign key, rotated out, other SNI), HRR with a PSK, external
 * PSKs, 0-RTT accepted / rejected / replayed / too long, the session codec,
 * mTLS identity across resumption and the automatic KeyUpdate. */
#include <stdlib.h>
#include <string.h>

#include "pair.h"
#include "test.h"
#include "testkeys.h"
#include "tls/aead_limits.h"
#include "tls/engine.h"
#include "tls/keyupdate.h"
#include "tls/test_hooks.h"

/* ---- clocks: client and server can disagree (ticket age tests) ---- */

static uint64_t cli_now = 1700000000000ull, srv_now = 1700000000000ull;

static uint64_t cli_clock(void *ctx)
{
	(void)ctx;
	return cli_now;
}

static uint64_t srv_clock(void *ctx)
{
	(void)ctx;
	return srv_now;
}

static void advance(uint64_t ms)
{
	cli_now += ms;
	srv_now += ms;
}

/* ---- sessions ---- */

/* Offers s the way an application does: as its blob. */
static int set_sess(tls_conn *c, const tls_session *s)
{
	tls_buf b;
	tls_buf_init(&b, 0);
	int rc = s && tls_session_encode(s, &b) == 0 ? tls_conn_set_session(c, b.base, b.len) : -1;
	tls_buf_free(&b);
	return rc;
}

/* The i-th session the client of r got, decoded to look inside
 * (engine.h); NULL when there is none. The caller frees it. */
static tls_session *got_sess(const struct test_pair *r, size_t i)
{
	return i < r->cl.n_sess ? tls_session_decode(r->cl.sess[i].base, r->cl.sess[i].len) : NULL;
}

/* ---- configs ---- */

static struct test_pki pki, client_pki;

static tls_config *server_cfg(void)
{
	tls_config *cfg = tls_config_new(TLS_SERVER);
	tls_chain ch;
	test_pki_chain(&pki, &ch);
	if (!cfg || tls_config_add_cert(cfg, &ch, test_pki_leaf_key(&pki)))
		abort();
	tls_config_set_clock(cfg, srv_clock, NULL);
	return cfg;
}

static tls_config *client_cfg(void)
{
	tls_config *cfg = tls_config_new(TLS_CLIENT);
	char err[256];
	if (!cfg || tls_config_load_ca(cfg, pki.ca_path, err, sizeof(err)))
		abort();
	tls_config_set_clock(cfg, cli_clock, NULL);
	return cfg;
}

/* A full handshake that leaves the client's sessions in *out (n of them). */
static size_t get_sessions(const tls_config *ccfg, const tls_config *scfg, tls_session **out,
			   size_t max)
{
	struct test_pair r;
	test_pair_init(&r, ccfg, scfg, "server.test");
	size_t n = 0;
	if (test_pair_go(&r)) {
		for (size_t i = 0; i < r.cl.n_sess && n < max; i++)
			out[n++] = got_sess(&r, i);
	}
	test_pair_free(&r);
	return n;
}

/* Resumes with sess (and early data, if any); returns the run for checks. */
static bool resume(struct test_pair *r, const tls_config *ccfg, const tls_config *scfg,
		   tls_session *sess, const char *early)
{
	test_pair_init(r, ccfg, scfg, "server.test");
	if (sess && set_sess(r->cl.c, sess) != 0) {
		test_diag("tls_conn_set_session refused");
		return false;
	}
	if (early && tls_conn_set_early_data(r->cl.c, (const uint8_t *)early, strlen(early)))
		return false;
	return test_pair_go(r);
}

/* ---- tests ---- */

static void tickets_and_resumption(void)
{
	tls_config *scfg = server_cfg(), *ccfg = client_cfg();
	struct test_pair r;
	test_pair_init(&r, ccfg, scfg, "server.test");
	bool ok = test_pair_go(&r);
	test_ok(ok && r.cl.n_sess == 2, "full handshake: 2 tickets by default (%zu)", r.cl.n_sess);
	uint64_t seq = 0;
	uint8_t sec[TLS_MAX_HASH];
	size_t sl = sizeof(sec);
	bool got = ok && tls_conn_traffic(r.sv.c, TLS_DIR_TX, sec, &sl, &seq) == 0;
	test_ok(got && seq == 1, "NewSessionTickets (one record) counted on the server TX key (seq %llu)",
		(unsigned long long)seq);
	tls_session *s0 = got_sess(&r, 0), *s1 = got_sess(&r, 1);
	test_ok(ok && r.cl.n_sess == 2 && s0 && s1 &&
		memcmp(s0->psk, s1->psk, s0->psk_len) != 0 &&
		memcmp(s0->ticket, s1->ticket, s0->ticket_len) != 0,
		"two tickets with distinct PSKs (distinct nonces)");
	test_ok(ok && s0 && s0->lifetime_s == 7200 && !strcmp(s0->server_name, "server.test") &&
		s0->cipher == TLS_AES_128_GCM_SHA256 && s0->max_early_data == 0,
		"session parameters: lifetime 7200, SNI, cipher, no 0-RTT");
	test_pair_free(&r);

	struct test_pair q;
	ok = s0 && resume(&q, ccfg, scfg, s0, NULL);
	const tls_params *cp = tls_conn_params(q.cl.c), *sp = tls_conn_params(q.sv.c);
	test_ok(ok && cp->resumed && sp->resumed && !cp->peer_chain && cp->group == TLS_GROUP_X25519MLKEM768 &&
		sp->sig_scheme == 0,
		"resumed with psk_dhe_ke: no certificate, X25519MLKEM768 (default)");
	test_ok(ok && q.cl.n_sess == 2, "resumed connection issues new tickets");
	test_ok(ok && test_transfer(q.cl.c, q.sv.c, "ping", 4) && test_transfer(q.sv.c, q.cl.c, "pong", 4),
		"application data after resumption");
	test_pair_free(&q);
	/* blobs the conn refuses: malformed, expired (client clock) */
	tls_conn *c = tls_conn_new(ccfg);
	tls_buf blob;
	tls_buf_init(&blob, 0);
	ok = s0 && tls_session_encode(s0, &blob) == 0;
	test_ok(ok && tls_conn_set_session(c, blob.base, blob.len - 1) == -1 &&
		tls_conn_set_session(c, blob.base, 4) == -1 && tls_conn_set_session(c, NULL, 0) == -1,
		"a truncated session blob is refused");
	uint64_t was = cli_now;
	cli_now += 7200 * 1000;
	test_ok(ok && tls_conn_set_session(c, blob.base, blob.len) == -1,
		"an expired session blob is refused");
	cli_now = was;
	test_ok(ok && tls_conn_set_session(c, blob.base, blob.len) == 0,
		"the same blob before expiry is taken");
	tls_buf_free(&blob);
	tls_conn_free(c);

	/* ticket count and lifetime knobs */
	tls_config_set_tickets(scfg, 3, 60);
	tls_session *ss[TEST_MAX_SESS];
	size_t n = get_sessions(ccfg, scfg, ss, TEST_MAX_SESS);
	test_ok(n == 3 && ss[0]->lifetime_s == 60, "3 tickets of 60 s when configured");
	for (size_t i = 0; i < n; i++)
		tls_session_free(ss[i]);
	tls_config_set_tickets(scfg, 0, 0);
	n = get_sessions(ccfg, scfg, ss, TEST_MAX_SESS);
	test_ok(n == 0, "no tickets when disabled");
	test_ok(tls_config_set_tickets(scfg, 2, 604801) == -1, "lifetime over 7 days refused");
	tls_config_set_tickets(scfg, 2, 60);
	tls_session_free(s1);
	s1 = get_sessions(ccfg, scfg, ss, 1) == 1 ? ss[0] : NULL;

	/* expiry on the server's clock */
	srv_now += 61000;
	ok = s1 && resume(&q, ccfg, scfg, s1, NULL);
	test_ok(ok && !tls_conn_params(q.cl.c)->resumed && tls_conn_params(q.cl.c)->peer_chain,
		"expired ticket (server clock) -> full handshake");
	test_pair_free(&q);
	srv_now = cli_now;
	tls_session_free(s0);
	tls_session_free(s1);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

static void psk_modes(void)
{
	tls_config *scfg = server_cfg(), *ccfg = client_cfg();
	tls_session *ss[2];
	tls_config_set_psk_modes(scfg, TLS_PSK_MODE_KE | TLS_PSK_MODE_DHE_KE);
	tls_config_set_psk_modes(ccfg, TLS_PSK_MODE_KE);
	size_t n = get_sessions(ccfg, scfg, ss, 2);
	struct test_pair r;
	bool ok = n == 2 && resume(&r, ccfg, scfg, ss[0], NULL);
	test_ok(ok && tls_conn_params(r.cl.c)->resumed && tls_conn_params(r.cl.c)->group == 0 &&
		tls_conn_params(r.sv.c)->group == 0 && test_transfer(r.cl.c, r.sv.c, "x", 1),
		"psk_ke: resumed without (EC)DHE");
	test_pair_free(&r);
	/* a server that does not allow psk_ke ignores the PSK and issues no tickets */
	tls_config_set_psk_modes(scfg, TLS_PSK_MODE_DHE_KE);
	ok = n == 2 && resume(&r, ccfg, scfg, ss[1], NULL);
	test_ok(ok && !tls_conn_params(r.cl.c)->resumed && r.cl.n_sess == 0,
		"psk_ke offered, server allows only psk_dhe_ke -> full handshake, no tickets");
	test_pair_free(&r);
	for (size_t i = 0; i < n; i++)
		tls_session_free(ss[i]);
	/* both offered and allowed: psk_dhe_ke wins */
	tls_config_set_psk_modes(scfg, TLS_PSK_MODE_KE | TLS_PSK_MODE_DHE_KE);
	tls_config_set_psk_modes(ccfg, TLS_PSK_MODE_KE | TLS_PSK_MODE_DHE_KE);
	n = get_sessions(ccfg, scfg, ss, 1);
	ok = n == 1 && resume(&r, ccfg, scfg, ss[0], NULL);
	test_ok(ok && tls_conn_params(r.cl.c)->resumed && tls_conn_params(r.cl.c)->group != 0,
		"both modes: psk_dhe_ke preferred");
	test_pair_free(&r);
	if (n)
		tls_session_free(ss[0]);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

static void bad_tickets(void)
{
	tls_config *scfg = server_cfg(), *ccfg = client_cfg(), *other = server_cfg();
	tls_session *ss[2];
	size_t n = get_sessions(ccfg, scfg, ss, 2);
	struct test_pair r;
	if (n == 2)
		ss[0]->ticket[ss[0]->ticket_len / 2] ^= 1;
	bool ok = n == 2 && resume(&r, ccfg, scfg, ss[0], NULL);
	test_ok(ok && !tls_conn_params(r.cl.c)->resumed && tls_conn_params(r.sv.c)->peer_chain == NULL &&
		tls_conn_params(r.cl.c)->peer_chain,
		"tampered ticket -> full handshake");
	test_pair_free(&r);
	ok = n == 2 && resume(&r, ccfg, other, ss[1], NULL);
	test_ok(ok && !tls_conn_params(r.cl.c)->resumed, "ticket of another server's key -> full handshake");
	test_pair_free(&r);
	for (size_t i = 0; i < n; i++)
		tls_session_free(ss[i]);

	/* another SNI */
	n = get_sessions(ccfg, scfg, ss, 1);
	test_pair_init(&r, ccfg, scfg, "server.test");
	tls_conn_set_server_name(r.cl.c, "other.test");
	tls_config_set_verify_peer(ccfg, false);
	ok = n == 1 && set_sess(r.cl.c, ss[0]) == 0 && test_pair_go(&r);
	test_ok(ok && !tls_conn_params(r.cl.c)->resumed, "ticket for another SNI -> full handshake");
	tls_config_set_verify_peer(ccfg, true);
	test_pair_free(&r);
	if (n)
		tls_session_free(ss[0]);
	tls_config_free(scfg);
	tls_config_free(other);
	tls_config_free(ccfg);
}

static void stek_rotation(void)
{
	tls_config *scfg = server_cfg(), *ccfg = client_cfg();
	tls_stek_ring *ring = tls_stek_ring_new(1, 0);
	tls_stek_ring_rotate(ring, srv_now / 1000);
	tls_config_set_ticket_keys(scfg, ring);
	tls_session *ss[2];
	size_t n = get_sessions(ccfg, scfg, ss, 2);
	tls_stek_ring_rotate(ring, srv_now / 1000);
	struct test_pair r;
	bool ok = n == 2 && resume(&r, ccfg, scfg, ss[0], NULL);
	test_ok(ok && tls_conn_params(r.cl.c)->resumed, "after one rotation the previous key opens");
	test_pair_free(&r);
	tls_stek_ring_rotate(ring, srv_now / 1000);
	ok = n == 2 && resume(&r, ccfg, scfg, ss[1], NULL);
	test_ok(ok && !tls_conn_params(r.cl.c)->resumed, "key rotated out -> full handshake");
	test_pair_free(&r);
	for (size_t i = 0; i < n; i++)
		tls_session_free(ss[i]);
	tls_config_free(scfg);
	tls_stek_ring_free(ring);
	tls_config_free(ccfg);
}

static void hrr_resumption(void)
{
	tls_config *scfg = server_cfg(), *ccfg = client_cfg();
	const uint16_t sg[] = { TLS_GROUP_SECP256R1 };
	const uint16_t cg[] = { TLS_GROUP_X25519, TLS_GROUP_SECP256R1 };
	tls_session *ss[2];
	size_t n = get_sessions(ccfg, scfg, ss, 2);
	tls_config_set_groups(scfg, sg, 1);
	tls_config_set_groups(ccfg, cg, 2);
	struct test_pair r;
	bool ok = n == 2 && resume(&r, ccfg, scfg, ss[0], NULL);
	test_ok(ok && tls_conn_params(r.cl.c)->resumed && tls_conn_params(r.cl.c)->hrr &&
		tls_conn_params(r.cl.c)->group == TLS_GROUP_SECP256R1,
		"HRR + resumption: binder recomputed on ClientHello2");
	test_pair_free(&r);
	/* 0-RTT offered, then an HRR: rejected, never surfaced */
	tls_config_set_early_data(scfg, 1024);
	tls_config_set_groups(scfg, cg, 2);
	for (size_t i = 0; i < n; i++)
		tls_session_free(ss[i]);
	n = get_sessions(ccfg, scfg, ss, 1);
	tls_config_set_groups(scfg, sg, 1);
	ok = n == 1 && resume(&r, ccfg, scfg, ss[0], "early after HRR");
	test_ok(ok && tls_conn_params(r.cl.c)->resumed && tls_conn_params(r.cl.c)->hrr &&
		tls_conn_params(r.cl.c)->early_data == TLS_EARLY_REJECTED && r.sv.early.len == 0,
		"0-RTT + HRR: rejected and skipped, handshake completes");
	test_pair_free(&r);
	if (n)
		tls_session_free(ss[0]);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

struct ext_psk {
	const char *id;
	uint8_t key[32];
	unsigned calls;            /* lookups so far */
};

static int find_psk(void *ctx, const uint8_t *id, size_t id_len, uint8_t *key, size_t *key_len,
		    uint16_t *cipher)
{
	struct ext_psk *p = ctx;
	p->calls++;
	if (id_len != strlen(p->id) || memcmp(id, p->id, id_len) || *key_len < 32)
		return -1;
	memcpy(key, p->key, 32);
	*key_len = 32;
	*cipher = TLS_AES_128_GCM_SHA256;
	return 0;
}

static void external_psk(void)
{
	struct ext_psk sp = { .id = "nvme-host-1" };
	for (int i = 0; i < 32; i++)
		sp.key[i] = (uint8_t)(i * 7 + 1);
	tls_config *scfg = tls_config_new(TLS_SERVER); /* no certificate at all */
	tls_config *ccfg = tls_config_new(TLS_CLIENT);
	tls_config_set_psk_find(scfg, find_psk, &sp);
	tls_config_set_psk(ccfg, (const uint8_t *)sp.id, strlen(sp.id), sp.key, 32,
			   TLS_AES_128_GCM_SHA256);
	struct test_pair r;
	bool ok = resume(&r, ccfg, scfg, NULL, NULL);
	const tls_params *cp = tls_conn_params(r.cl.c);
	test_ok(ok && cp->resumed && cp->psk_external && tls_conn_params(r.sv.c)->psk_external &&
		cp->group != 0 && test_transfer(r.cl.c, r.sv.c, "nvme", 4),
		"external PSK, psk_dhe_ke, server without certificate");
	test_pair_free(&r);
	tls_config_set_psk_modes(scfg, TLS_PSK_MODE_KE);
	tls_config_set_psk_modes(ccfg, TLS_PSK_MODE_KE);
	ok = resume(&r, ccfg, scfg, NULL, NULL);
	test_ok(ok && tls_conn_params(r.cl.c)->psk_external && tls_conn_params(r.cl.c)->group == 0,
		"external PSK, psk_ke");
	test_pair_free(&r);
	/* wrong key: the binder fails -> decrypt_error */
	uint8_t bad[32];
	memcpy(bad, sp.key, 32);
	bad[0] ^= 0x80;
	tls_config_set_psk(ccfg, (const uint8_t *)sp.id, strlen(sp.id), bad, 32,
			   TLS_AES_128_GCM_SHA256);
	ok = resume(&r, ccfg, scfg, NULL, NULL);
	test_ok(!ok && r.sv.rc == TLS_ERR_LOCAL(TLS_ALERT_DECRYPT_ERROR) &&
		r.cl.rc == TLS_ERR_PEER(TLS_ALERT_DECRYPT_ERROR),
		"external PSK with a wrong key -> decrypt_error");
	test_pair_free(&r);
	/* unknown identity and no certificate: no way to authenticate */
	tls_config_set_psk(ccfg, (const uint8_t *)"who", 3, sp.key, 32, TLS_AES_128_GCM_SHA256);
	ok = resume(&r, ccfg, scfg, NULL, NULL);
	test_ok(!ok && r.sv.rc < 0, "unknown external identity without a certificate fails");
	test_pair_free(&r);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

static tls_session *early_session(const tls_config *ccfg, const tls_config *scfg)
{
	tls_session *s = NULL;
	return get_sessions(ccfg, scfg, &s, 1) == 1 ? s : NULL;
}

static void zero_rtt(void)
{
	tls_config *scfg = server_cfg(), *ccfg = client_cfg();
	tls_config_set_early_data(scfg, 4096);
	tls_config_set_alpn(scfg, "h2,http/1.1");
	tls_config_set_alpn(ccfg, "h2");
	const char *req = "GET / HTTP/1.1\r\n\r\n";
	tls_session *s = early_session(ccfg, scfg);
	test_ok(s && s->max_early_data == 4096 && !strcmp(s->alpn, "h2"),
		"ticket carries max_early_data 4096 and ALPN h2");
	struct test_pair r;
	FILE *kl = tmpfile();
	tls_config_set_keylog(ccfg, test_keylog_to_file, kl);
	advance(1500);
	bool ok = s && resume(&r, ccfg, scfg, s, req);
	tls_config_set_keylog(ccfg, NULL, NULL);
	test_ok(ok && r.sv.early.len == strlen(req) && !memcmp(r.sv.early.base, req, strlen(req)),
		"0-RTT accepted: the server got the early data");
	test_ok(ok && r.sv.early_before_done, "early data delivered before confirmation");
	test_ok(ok && tls_conn_params(r.sv.c)->early_data == TLS_EARLY_ACCEPTED &&
		tls_conn_params(r.cl.c)->early_data == TLS_EARLY_ACCEPTED && tls_conn_handshake_done(r.sv.c),
		"confirmed by the client Finished; both report accepted");
	test_ok(ok && r.cl.early_secrets == 1 && r.sv.early_secrets == 1,
		"early traffic secret reported (epoch 1) on both sides");
	char line[512];
	bool found = false;
	rewind(kl);
	while (fgets(line, sizeof(line), kl))
		found = found || !strncmp(line, "CLIENT_EARLY_TRAFFIC_SECRET ", 28);
	fclose(kl);
	test_ok(found, "keylog has CLIENT_EARLY_TRAFFIC_SECRET");
	test_ok(ok && test_transfer(r.cl.c, r.sv.c, "after", 5) && test_transfer(r.sv.c, r.cl.c, "ok", 2),
		"application data after 0-RTT");
	test_pair_free(&r);
	tls_session_free(s);

	/* exact consumption: the server stops after the client Finished record */
	s = early_session(ccfg, scfg);
	test_pair_init(&r, ccfg, scfg, "server.test");
	ok = s && !set_sess(r.cl.c, s) &&
	     !tls_conn_set_early_data(r.cl.c, (const uint8_t *)req, strlen(req));
	test_side_feed(&r.cl, &r.s2c, &r.c2s);
	test_side_feed(&r.sv, &r.c2s, &r.s2c);
	test_side_feed(&r.cl, &r.s2c, &r.c2s);
	size_t fin_len = r.c2s.len;
	tls_conn_send(r.cl.c, &r.c2s, "tail", 4);
	size_t n = r.c2s.len;
	int rc = tls_conn_handshake(r.sv.c, &r.s2c, r.c2s.base, &n);
	test_ok(ok && r.cl.rc == 0 && rc == 0 && n == fin_len && r.sv.early.len == strlen(req),
		"0-RTT: EndOfEarlyData + Finished consumed exactly (%zu of %zu)", n, r.c2s.len);
	test_pair_free(&r);
	tls_session_free(s);

	/* rejected: the server now prefers another ALPN */
	s = early_session(ccfg, scfg);
	tls_config_set_alpn(ccfg, "h2,http/1.1");
	tls_config_set_alpn(scfg, "http/1.1,h2");
	ok = s && resume(&r, ccfg, scfg, s, req);
	test_ok(ok && tls_conn_params(r.cl.c)->resumed && r.sv.early.len == 0 &&
		tls_conn_params(r.cl.c)->early_data == TLS_EARLY_REJECTED &&
		tls_conn_params(r.sv.c)->early_data == TLS_EARLY_REJECTED,
		"other ALPN: resumed, 0-RTT rejected and never surfaced");
	test_pair_free(&r);
	tls_session_free(s);
	tls_config_set_alpn(scfg, "h2,http/1.1");
	tls_config_set_alpn(ccfg, "h2");

	/* rejected: stale ticket age (server clock 30 s ahead of the client's view) */
	s = early_session(ccfg, scfg);
	srv_now += 30000;
	ok = s && resume(&r, ccfg, scfg, s, req);
	test_ok(ok && tls_conn_params(r.cl.c)->resumed && r.sv.early.len == 0 &&
		tls_conn_params(r.cl.c)->early_data == TLS_EARLY_REJECTED,
		"ticket age off by 30 s: 0-RTT rejected, resumed");
	test_pair_free(&r);
	srv_now = cli_now;
	tls_session_free(s);

	/* rejected: 0-RTT disabled on the server (ticket from when it was on) */
	s = early_session(ccfg, scfg);
	tls_config_set_early_data(scfg, 0);
	ok = s && resume(&r, ccfg, scfg, s, req);
	test_ok(ok && r.sv.early.len == 0 && tls_conn_params(r.cl.c)->early_data == TLS_EARLY_REJECTED,
		"0-RTT disabled: rejected");
	test_pair_free(&r);
	tls_session_free(s);
	s = early_session(ccfg, scfg);
	test_ok(s && s->max_early_data == 0, "tickets say no 0-RTT when disabled");
	test_pair_init(&r, ccfg, scfg, "server.test");
	ok = s && !set_sess(r.cl.c, s) &&
	     !tls_conn_set_early_data(r.cl.c, (const uint8_t *)req, strlen(req)) && test_pair_go(&r);
	test_ok(ok && tls_conn_params(r.cl.c)->early_data == TLS_EARLY_NONE && r.cl.early_secrets == 0,
		"client does not send 0-RTT on a ticket without it");
	test_pair_free(&r);
	tls_session_free(s);
	tls_config_set_early_data(scfg, 4096);

	/* replay: the same first flight to a second server conn */
	s = early_session(ccfg, scfg);
	test_pair_init(&r, ccfg, scfg, "server.test");
	ok = s && !set_sess(r.cl.c, s) &&
	     !tls_conn_set_early_data(r.cl.c, (const uint8_t *)req, strlen(req));
	test_side_feed(&r.cl, &r.s2c, &r.c2s);
	tls_buf copy;
	tls_buf_init(&copy, 0);
	tls_write_bytes(&copy, r.c2s.base, r.c2s.len);
	struct test_pair first;
	test_pair_init(&first, ccfg, scfg, "server.test");
	test_side_feed(&first.sv, &copy, &first.s2c);
	test_ok(ok && first.sv.rc == TLS_WANT_INPUT && first.sv.early.len == strlen(req),
		"first server conn accepts the 0-RTT");
	test_side_feed(&r.sv, &r.c2s, &r.s2c);
	ok = ok && test_pair_go(&r);
	test_ok(ok && r.sv.early.len == 0 && tls_conn_params(r.sv.c)->early_data == TLS_EARLY_REJECTED &&
		tls_conn_params(r.cl.c)->early_data == TLS_EARLY_REJECTED && tls_conn_params(r.cl.c)->resumed,
		"replayed ClientHello: early data rejected, handshake completes");
	test_pair_free(&first);
	test_pair_free(&r);
	tls_buf_free(&copy);
	tls_session_free(s);

	/* too much early data: the client claims a larger allowance */
	tls_config_set_early_data(scfg, 16);
	s = early_session(ccfg, scfg);
	if (s)
		s->max_early_data = 1000;
	ok = s && resume(&r, ccfg, scfg, s, "this is more than sixteen bytes");
	test_ok(!ok && r.sv.rc == TLS_ERR_LOCAL(TLS_ALERT_UNEXPECTED_MESSAGE) && r.sv.early.len == 0,
		"early data over max_early_data -> unexpected_message");
	test_pair_free(&r);
	tls_session_free(s);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

static void session_codec(void)
{
	tls_config *scfg = server_cfg(), *ccfg = client_cfg();
	tls_config_set_alpn(scfg, "h2");
	tls_config_set_alpn(ccfg, "h2");
	tls_config_set_early_data(scfg, 100);
	tls_session *s = early_session(ccfg, scfg);
	tls_buf b;
	tls_buf_init(&b, 0);
	bool ok = s && tls_session_encode(s, &b) == 0;
	tls_session *d = ok ? tls_session_decode(b.base, b.len) : NULL;
	test_ok(d && d->cipher == s->cipher && d->psk_len == s->psk_len &&
		!memcmp(d->psk, s->psk, s->psk_len) && d->ticket_len == s->ticket_len &&
		!memcmp(d->ticket, s->ticket, s->ticket_len) && d->lifetime_s == s->lifetime_s &&
		d->age_add == s->age_add && d->max_early_data == 100 &&
		d->created_ms == s->created_ms && !strcmp(d->server_name, "server.test") &&
		!strcmp(d->alpn, "h2"),
		"session encode/decode round trip");
	size_t bad = 0;
	for (size_t cut = 0; ok && cut < b.len; cut++) {
		tls_session *t = tls_session_decode(b.base, cut);
		if (t) {
			bad++;
			tls_session_free(t);
		}
	}
	test_ok(ok && bad == 0, "every truncation of an encoded session is refused");
	struct test_pair r;
	ok = d && resume(&r, ccfg, scfg, d, "GET");
	test_ok(ok && tls_conn_params(r.cl.c)->resumed && r.sv.early.len == 3,
		"a decoded session resumes with 0-RTT");
	test_pair_free(&r);
	tls_buf_free(&b);
	tls_session_free(s);
	tls_session_free(d);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

static void mtls_identity(void)
{
	tls_config *scfg = server_cfg(), *ccfg = client_cfg();
	char err[256];
	tls_config_set_client_auth(scfg, TLS_CLIENT_AUTH_REQUIRE);
	tls_config_load_ca(scfg, client_pki.ca_path, err, sizeof(err));
	tls_chain ch;
	test_pki_chain(&client_pki, &ch);
	tls_config_add_cert(ccfg, &ch, test_pki_leaf_key(&client_pki));
	struct test_pair r;
	test_pair_init(&r, ccfg, scfg, "server.test");
	bool ok = test_pair_go(&r);
	uint8_t full_id[32];
	const tls_params *sp = tls_conn_params(r.sv.c);
	test_ok(ok && sp->client_id && sp->client_subject_len > 0, "mTLS: server records the client identity");
	memcpy(full_id, sp->client_cert_sha256, 32);
	tls_session *s = got_sess(&r, 0);
	test_pair_free(&r);
	ok = s && resume(&r, ccfg, scfg, s, NULL);
	sp = tls_conn_params(r.sv.c);
	test_ok(ok && sp->resumed && !sp->peer_chain && sp->client_id &&
		!memcmp(sp->client_cert_sha256, full_id, 32),
		"resumed mTLS connection reports the original client identity");
	/* the identity also travels into the tickets of the resumed connection */
	tls_session *s2 = got_sess(&r, 0);
	test_pair_free(&r);
	ok = s2 && resume(&r, ccfg, scfg, s2, NULL);
	sp = tls_conn_params(r.sv.c);
	test_ok(ok && sp->resumed && sp->client_id && !memcmp(sp->client_cert_sha256, full_id, 32),
		"second-generation ticket keeps the identity");
	test_pair_free(&r);
	tls_session_free(s);
	tls_session_free(s2);

	/* a ticket without a client identity does not bypass REQUIRE */
	tls_config *plain = server_cfg();
	tls_stek_ring *ring = tls_stek_ring_new(1, 0);
	tls_stek_ring_rotate(ring, srv_now / 1000);
	tls_config_set_ticket_keys(plain, ring);
	tls_config_set_ticket_keys(scfg, ring);
	s = early_session(ccfg, plain);
	ok = s && resume(&r, ccfg, scfg, s, NULL);
	sp = tls_conn_params(r.sv.c);
	test_ok(ok && !sp->resumed && sp->peer_chain && sp->client_id,
		"ticket without client identity at a server requiring one -> full handshake with cert");
	test_pair_free(&r);
	tls_session_free(s);
	tls_config_free(plain);
	tls_config_free(scfg);
	tls_stek_ring_free(ring);
	tls_config_free(ccfg);
}

static void key_update_limits(void)
{
	uint8_t m[TLS_KEY_UPDATE_MSG_LEN];
	bool req = false;
	tls_key_update_build(m, true);
	test_ok(tls_key_update_parse(m, sizeof(m), &req) == 0 && req, "KeyUpdate build/parse");
	m[4] = 2;
	test_ok(tls_key_update_parse(m, sizeof(m), &req) == TLS_ALERT_ILLEGAL_PARAMETER,
		"KeyUpdate request 2 -> illegal_parameter");
	test_ok(tls_key_update_parse(m, 4, &req) == TLS_ALERT_DECODE_ERROR,
		"short KeyUpdate -> decode_error");

	tls_config *scfg = server_cfg(), *ccfg = client_cfg();
	struct test_pair r;
	test_pair_init(&r, ccfg, scfg, "server.test");
	bool ok = test_pair_go(&r);
	uint64_t at = tls_aead_update_threshold(TLS_AES_128_GCM_SHA256);
	ok = ok && tls_conn_test_set_seq(r.cl.c, TLS_DIR_TX, at - 1) == 0 &&
	     tls_conn_test_set_seq(r.sv.c, TLS_DIR_RX, at - 1) == 0;
	int before = r.cl.max_epoch[TLS_DIR_TX];
	test_ok(ok && test_transfer(r.cl.c, r.sv.c, "one", 3) && r.cl.max_epoch[TLS_DIR_TX] == before,
		"below the threshold: no KeyUpdate");
	test_ok(ok && test_transfer(r.cl.c, r.sv.c, "two", 3) && r.cl.max_epoch[TLS_DIR_TX] == before + 1 &&
		r.sv.max_epoch[TLS_DIR_RX] == before + 1,
		"at the threshold: KeyUpdate sent before the record, peer follows");
	uint64_t seq = 99;
	uint8_t sec[TLS_MAX_HASH];
	size_t sl = sizeof(sec);
	bool got = ok && tls_conn_traffic(r.cl.c, TLS_DIR_TX, sec, &sl, &seq) == 0;
	test_ok(got && seq == 1, "new key after one record (seq %llu)", (unsigned long long)seq);
	/* a KeyUpdate followed by more data in the same record is refused */
	tls_buf wire, back, plain;
	tls_buf_init(&wire, 0);
	tls_buf_init(&back, 0);
	tls_buf_init(&plain, 0);
	const uint8_t two[10] = { 24, 0, 0, 1, 0, 24, 0, 0, 1, 0 };
	ok = ok && tls_rl_write_sealed(r.cl.c, &wire, TLS_CT_HANDSHAKE, two, sizeof(two)) == 0;
	size_t n = wire.len;
	int rc = tls_conn_recv(r.sv.c, &back, &plain, wire.base, &n);
	test_ok(ok && rc == TLS_ERR_LOCAL(TLS_ALERT_UNEXPECTED_MESSAGE),
		"KeyUpdate not at the end of its record -> unexpected_message");
	tls_buf_free(&wire);
	tls_buf_free(&back);
	tls_buf_free(&plain);
	test_pair_free(&r);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

static void exporter(void)
{
	tls_config *scfg = server_cfg(), *ccfg = client_cfg();
	struct test_pair r;
	test_pair_init(&r, ccfg, scfg, "server.test");
	bool ok = test_pair_go(&r);
	uint8_t a[32], b[32], c2[32];
	ok = ok && !tls_conn_export(r.cl.c, "EXPORTER-test", (const uint8_t *)"ctx", 3, a, 32) &&
	     !tls_conn_export(r.sv.c, "EXPORTER-test", (const uint8_t *)"ctx", 3, b, 32) &&
	     !tls_conn_export(r.sv.c, "EXPORTER-test", (const uint8_t *)"ctX", 3, c2, 32);
	test_ok(ok && !memcmp(a, b, 32) && memcmp(b, c2, 32), "exporter agrees, context matters");
	test_pair_free(&r);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* ---- malformed PSK offers and answers ---- */

/* A ClientHello made by hand, up to its last extension: X25519 share,
 * optional server_name, psk_key_exchange_modes and early_data. */
static void raw_ch_head(tls_buf *m, bool modes, bool early, const char *sni)
{
	uint8_t pubmem[64];
	tls_buf pub;
	tls_kex k = { 0 };
	tls_buf_init_fixed(&pub, pubmem, sizeof(pubmem));
	if (tls_kex_generate(&k, TLS_GROUP_X25519, &pub))
		abort();
	tls_kex_clear(&k);
	tls_msg_begin(m, TLS_HS_CLIENT_HELLO);
	tls_write_u16(m, 0x0303);
	tls_write_zeros(m, 32);
	tls_write_u8(m, 0);
	tls_write_u16(m, 2);
	tls_write_u16(m, TLS_AES_128_GCM_SHA256);
	tls_write_u8(m, 1);
	tls_write_u8(m, 0);
	tls_write_open(m, 2);
	tls_write_u16(m, TLS_EXT_SUPPORTED_VERSIONS);
	tls_write_u16(m, 3);
	tls_write_u8(m, 2);
	tls_write_u16(m, 0x0304);
	tls_write_u16(m, TLS_EXT_SUPPORTED_GROUPS);
	tls_write_u16(m, 4);
	tls_write_u16(m, 2);
	tls_write_u16(m, TLS_GROUP_X25519);
	tls_write_u16(m, TLS_EXT_SIGNATURE_ALGORITHMS);
	tls_write_u16(m, 4);
	tls_write_u16(m, 2);
	tls_write_u16(m, TLS_SIG_ECDSA_SECP256R1_SHA256);
	tls_write_u16(m, TLS_EXT_KEY_SHARE);
	tls_write_open(m, 2);
	tls_write_open(m, 2);
	tls_write_u16(m, TLS_GROUP_X25519);
	tls_write_u16(m, (uint16_t)pub.len);
	tls_write_bytes(m, pub.base, pub.len);
	tls_write_close(m);
	tls_write_close(m);
	if (modes) {
		tls_write_u16(m, TLS_EXT_PSK_KEY_EXCHANGE_MODES);
		tls_write_u16(m, 2);
		tls_write_u8(m, 1);
		tls_write_u8(m, TLS_PSK_DHE_KE);
	}
	if (early) {
		tls_write_u16(m, TLS_EXT_EARLY_DATA);
		tls_write_u16(m, 0);
	}
	if (sni) {
		tls_write_u16(m, TLS_EXT_SERVER_NAME);
		tls_write_open(m, 2);
		tls_write_open(m, 2);
		tls_write_u8(m, 0);
		tls_write_u16(m, (uint16_t)strlen(sni));
		tls_write_bytes(m, sni, strlen(sni));
		tls_write_close(m);
		tls_write_close(m);
	}
}

/* Closes the extensions block and the message raw_ch_head opened. */
static void raw_ch_end(tls_buf *m)
{
	tls_write_close(m);
	tls_msg_end(m);
}

/* Appends the message to rec as handshake records of at most 2^14 bytes. */
static void raw_ch_records(tls_buf *rec, const tls_buf *m)
{
	for (size_t off = 0; off < m->len;) {
		size_t n = m->len - off < 16384 ? m->len - off : 16384;
		tls_write_u8(rec, TLS_CT_HANDSHAKE);
		tls_write_u16(rec, 0x0301);
		tls_write_u16(rec, (uint16_t)n);
		tls_write_bytes(rec, m->base + off, n);
		off += n;
	}
}

/* raw_ch_head, then pre_shared_key with n_ids identities `id` and
 * n_binders binders of binder_len bytes (all 0x5a). */
static void raw_ch(tls_buf *rec, bool modes, bool early, const char *id, int n_ids,
		   int n_binders, size_t binder_len)
{
	tls_buf m;
	tls_buf_init(&m, 0);
	raw_ch_head(&m, modes, early, NULL);
	tls_write_u16(&m, TLS_EXT_PRE_SHARED_KEY);
	tls_write_open(&m, 2);
	tls_write_open(&m, 2);
	for (int i = 0; i < n_ids; i++) {
		tls_write_u16(&m, (uint16_t)strlen(id));
		tls_write_bytes(&m, id, strlen(id));
		tls_write_u32(&m, 0);
	}
	tls_write_close(&m);
	tls_write_open(&m, 2);
	for (int i = 0; i < n_binders; i++) {
		tls_write_u8(&m, (uint8_t)binder_len);
		for (size_t j = 0; j < binder_len; j++)
			tls_write_u8(&m, 0x5a);
	}
	tls_write_close(&m);
	tls_write_close(&m);
	raw_ch_end(&m);
	raw_ch_records(rec, &m);
	tls_buf_free(&m);
}

static int feed_server(const tls_config *scfg, const tls_buf *in, tls_conn **keep)
{
	tls_conn *s = tls_conn_new(scfg);
	tls_buf out;
	tls_buf_init(&out, 0);
	size_t n = in->len;
	int rc = tls_conn_handshake(s, &out, in->base, &n);
	tls_buf_free(&out);
	if (keep)
		*keep = s;
	else
		tls_conn_free(s);
	return rc;
}

static void malformed_psk(void)
{
	struct ext_psk sp = { .id = "known" };
	memset(sp.key, 7, sizeof(sp.key));
	tls_config *scfg = server_cfg();
	tls_config_set_psk_find(scfg, find_psk, &sp);
	tls_config_set_early_data(scfg, 1000);
	tls_buf rec;
	tls_buf_init(&rec, 0);
	raw_ch(&rec, false, false, "ticket", 1, 1, 32);
	test_ok(feed_server(scfg, &rec, NULL) == TLS_ERR_LOCAL(TLS_ALERT_MISSING_EXTENSION),
		"pre_shared_key without psk_key_exchange_modes -> missing_extension");
	tls_buf_reset(&rec);
	raw_ch(&rec, true, false, "ticket", 2, 1, 32);
	test_ok(feed_server(scfg, &rec, NULL) == TLS_ERR_LOCAL(TLS_ALERT_ILLEGAL_PARAMETER),
		"2 identities, 1 binder -> illegal_parameter");
	tls_buf_reset(&rec);
	raw_ch(&rec, true, false, "known", 1, 1, 32);
	test_ok(feed_server(scfg, &rec, NULL) == TLS_ERR_LOCAL(TLS_ALERT_DECRYPT_ERROR),
		"known identity, wrong binder -> decrypt_error");
	tls_buf_reset(&rec);
	raw_ch(&rec, true, false, "known", 1, 1, 48);
	test_ok(feed_server(scfg, &rec, NULL) == TLS_ERR_LOCAL(TLS_ALERT_DECRYPT_ERROR),
		"known identity, binder of the wrong length -> decrypt_error");
	/* an unknown identity with early data: full handshake, 0-RTT skipped */
	tls_buf_reset(&rec);
	raw_ch(&rec, true, true, "no such ticket", 1, 1, 32);
	tls_conn *s = NULL;
	int rc = feed_server(scfg, &rec, &s);
	tls_buf junk, out;
	tls_buf_init(&junk, 0);
	tls_buf_init(&out, 0);
	tls_write_u8(&junk, TLS_CT_APPDATA);
	tls_write_u16(&junk, 0x0303);
	tls_write_u16(&junk, 200);
	tls_write_zeros(&junk, 200);
	size_t n = junk.len;
	int rc2 = s ? tls_conn_handshake(s, &out, junk.base, &n) : -1;
	test_ok(rc == TLS_WANT_INPUT && rc2 == TLS_WANT_INPUT && n == junk.len &&
		tls_conn_params(s)->early_data == TLS_EARLY_REJECTED,
		"unknown identity + early_data: full handshake, undecryptable 0-RTT skipped");
	tls_conn_free(s);
	tls_buf_free(&junk);
	tls_buf_free(&out);
	tls_buf_free(&rec);
	tls_config_free(scfg);

	/* the client's checks on the server's answers */
	scfg = server_cfg();
	tls_config *ccfg = client_cfg();
	static const uint8_t ee_early[] = { 0x00, 0x2a, 0x00, 0x00 };
	struct test_pair r;
	test_pair_init(&r, ccfg, scfg, "server.test");
	tls_conn_test_set_extensions(r.sv.c, TLS_HS_ENCRYPTED_EXTENSIONS, ee_early, sizeof(ee_early));
	bool ok = test_pair_go(&r);
	test_ok(!ok && r.cl.rc == TLS_ERR_LOCAL(TLS_ALERT_UNSUPPORTED_EXTENSION),
		"early_data in EE we did not offer -> unsupported_extension");
	test_pair_free(&r);
	uint8_t sh[64];
	tls_buf b;
	tls_buf_init_fixed(&b, sh, sizeof(sh));
	tls_write_u16(&b, TLS_EXT_KEY_SHARE);
	tls_write_u16(&b, 36);
	tls_write_u16(&b, TLS_GROUP_X25519);
	tls_write_u16(&b, 32);
	tls_write_zeros(&b, 31);
	tls_write_u8(&b, 9);
	tls_write_u16(&b, TLS_EXT_PRE_SHARED_KEY);
	tls_write_u16(&b, 2);
	tls_write_u16(&b, 1);
	tls_write_u16(&b, TLS_EXT_SUPPORTED_VERSIONS);
	tls_write_u16(&b, 2);
	tls_write_u16(&b, 0x0304);
	test_pair_init(&r, ccfg, scfg, "server.test");
	tls_conn_test_set_extensions(r.sv.c, TLS_HS_SERVER_HELLO, sh, b.len);
	ok = test_pair_go(&r);
	test_ok(!ok && r.cl.rc == TLS_ERR_LOCAL(TLS_ALERT_UNSUPPORTED_EXTENSION),
		"pre_shared_key in ServerHello without an offer -> unsupported_extension");
	test_pair_free(&r);
	tls_session *sess = early_session(ccfg, scfg);
	test_pair_init(&r, ccfg, scfg, "server.test");
	tls_conn_test_set_extensions(r.sv.c, TLS_HS_SERVER_HELLO, sh, b.len);
	ok = sess && !set_sess(r.cl.c, sess) && test_pair_go(&r);
	test_ok(!ok && r.cl.rc == TLS_ERR_LOCAL(TLS_ALERT_ILLEGAL_PARAMETER),
		"server selects PSK identity 1 of 1 -> illegal_parameter");
	test_pair_free(&r);
	tls_session_free(sess);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* ---- many PSK identities (§4.2.11: the server picks any) ---- */

/* A ClientHello (SNI server.test) offering n identities: forged tickets
 * under key id `kid` (they pass every cheap check and fail authentication)
 * and, at index `at`, sess's ticket with its real binder. */
static void flood_ch(tls_buf *rec, const uint8_t kid[TLS_STEK_ID_LEN], size_t n, size_t at,
		     const tls_session *sess)
{
	const tls_cipher *cs = tls_cipher_find(sess->cipher);
	tls_buf m;
	tls_buf_init(&m, 0);
	raw_ch_head(&m, true, false, "server.test");
	tls_write_u16(&m, TLS_EXT_PRE_SHARED_KEY);
	tls_write_open(&m, 2);
	tls_write_open(&m, 2);
	for (size_t i = 0; i < n; i++) {
		if (i == at) {
			tls_write_u16(&m, (uint16_t)sess->ticket_len);
			tls_write_bytes(&m, sess->ticket, sess->ticket_len);
		} else {
			tls_write_u16(&m, TLS_TICKET_OVERHEAD + 40);
			tls_write_bytes(&m, kid, TLS_STEK_ID_LEN);
			for (size_t j = TLS_STEK_ID_LEN; j < TLS_TICKET_OVERHEAD + 40; j++)
				tls_write_u8(&m, (uint8_t)(i * 31 + j));
		}
		tls_write_u32(&m, 0);
	}
	tls_write_close(&m);
	size_t binders_at = m.len;
	tls_write_open(&m, 2);
	for (size_t i = 0; i < n; i++) {
		tls_write_u8(&m, (uint8_t)cs->hash_len);
		tls_write_zeros(&m, cs->hash_len);
	}
	tls_write_close(&m);
	tls_write_close(&m);
	raw_ch_end(&m); /* the binder covers the final lengths */
	tls_transcript tr;
	tls_transcript_init(&tr);
	uint8_t binder[TLS_MAX_HASH];
	if (tls_psk_binder(cs, sess->psk, sess->psk_len, false, &tr, m.base, binders_at, binder))
		abort();
	tls_transcript_free(&tr);
	memcpy(m.base + binders_at + 2 + at * (1 + cs->hash_len) + 1, binder, cs->hash_len);
	raw_ch_records(rec, &m);
	tls_buf_free(&m);
}

static void many_identities(void)
{
	tls_config *scfg = server_cfg(), *ccfg = client_cfg();
	tls_stek_ring *ring = tls_stek_ring_new(1, 0);
	tls_stek_ring_rotate(ring, srv_now / 1000);
	tls_config_set_ticket_keys(scfg, ring);
	struct ext_psk sp = { .id = "known" };
	tls_config_set_psk_find(scfg, find_psk, &sp);
	tls_session *ss[2];
	size_t n = get_sessions(ccfg, scfg, ss, 2);
	const uint8_t *kid = tls_stek_ring_current(ring)->id;
	tls_buf rec;
	tls_buf_init(&rec, 0);

	/* the valid ticket last: a full handshake, at most the cap tried */
	tls_stek_stats a, b;
	tls_stek_ring_stats(ring, &a);
	sp.calls = 0;
	tls_conn *s = NULL;
	int rc = -1;
	if (n == 2) {
		flood_ch(&rec, kid, 300, 299, ss[0]);
		rc = feed_server(scfg, &rec, &s);
	}
	tls_stek_ring_stats(ring, &b);
	test_ok(rc == TLS_WANT_INPUT && !tls_conn_params(s)->resumed &&
		b.decrypts - a.decrypts <= TLS_PSK_MAX_TRIED && b.opened == a.opened &&
		sp.calls <= TLS_PSK_MAX_TRIED,
		"300 forged tickets, the valid one last: full handshake, %llu of 300 decrypted, "
		"%u lookups (cap %d)", (unsigned long long)(b.decrypts - a.decrypts), sp.calls,
		TLS_PSK_MAX_TRIED);
	test_ok(b.tampered - a.tampered == b.decrypts - a.decrypts,
		"the ring counts the forged tickets as tampered");
	tls_conn_free(s);

	/* the valid ticket within the cap still resumes */
	tls_buf_reset(&rec);
	tls_stek_ring_stats(ring, &a);
	sp.calls = 0;
	s = NULL;
	rc = -1;
	if (n == 2) {
		flood_ch(&rec, kid, 300, TLS_PSK_MAX_TRIED - 1, ss[1]);
		rc = feed_server(scfg, &rec, &s);
	}
	tls_stek_ring_stats(ring, &b);
	test_ok(rc == TLS_WANT_INPUT && tls_conn_params(s)->resumed && b.opened - a.opened == 1 &&
		b.decrypts - a.decrypts == TLS_PSK_MAX_TRIED && sp.calls == TLS_PSK_MAX_TRIED,
		"the valid ticket at index %d of 300: resumed", TLS_PSK_MAX_TRIED - 1);
	tls_conn_free(s);

	/* binders are still counted for every identity */
	tls_buf_reset(&rec);
	raw_ch(&rec, true, false, "ticket", 300, 299, 32);
	test_ok(feed_server(scfg, &rec, NULL) == TLS_ERR_LOCAL(TLS_ALERT_ILLEGAL_PARAMETER),
		"300 identities, 299 binders -> illegal_parameter");
	tls_buf_free(&rec);
	for (size_t i = 0; i < n; i++)
		tls_session_free(ss[i]);
	tls_config_free(scfg);
	tls_config_free(ccfg);
	tls_stek_ring_free(ring);
}

/* ---- RFC 8448 §4 (resumed 0-RTT): PSK, binder, early traffic secret ---- */

/* RFC 8448 §3 {server} derive secret "tls13 res master": expanded */
static const char s3_res_master[] =
	"7df235f2031d2a051287d02b0241b0bfdaf86cc856231f2d5aba46c434ec196c";

/* RFC 8448 §4: ClientHello prefix (477 octets), binder ("finished"),
 * the whole ClientHello (512 octets), c e traffic, the PSK (early IKM) */
static const char s4_ch_prefix[] =
	"010001fc03031bc3ceb6bbe39cff938355b5a50adb6db21b7a6af649d7b4bc41"
	"9d7876487d95000006130113031302010001cd0000000b000900000673657276"
	"6572ff01000100000a00140012001d0017001800190100010101020103010400"
	"3300260024001d0020e4ffb68ac05f8d96c99da26698346c6be16482badddafe"
	"051a66b4f18d668f0b002a0000002b0003020304000d0020001e040305030603"
	"020308040805080604010501060102010402050206020202002d00020101001c"
	"0002400100150057000000000000000000000000000000000000000000000000"
	"0000000000000000000000000000000000000000000000000000000000000000"
	"0000000000000000000000000000000000000000000000000000000000000000"
	"2900dd00b800b22c035d829359ee5ff7af4ec900000000262a6494dc486d2c8a"
	"34cb33fa90bf1b0070ad3c498883c9367c09a2be785abc55cd226097a3a98211"
	"7283f82a03a143efd3ff5dd36d64e861be7fd61d2827db279cce145077d454a3"
	"664d4e6da4d29ee03725a6a4dafcd0fc67d2aea70529513e3da2677fa5906c5b"
	"3f7d8f92f228bda40dda721470f9fbf297b5aea617646fac5c03272e970727c6"
	"21a79141ef5f7de6505e5bfbc388e93343694093934ae4d357fad6aacb";

static const char s4_binder[] =
	"3add4fb2d8fdf822a0ca3cf7678ef5e88dae990141c5924d57bb6fa31b9e5f9d";

static const char s4_ch[] =
	"010001fc03031bc3ceb6bbe39cff938355b5a50adb6db21b7a6af649d7b4bc41"
	"9d7876487d95000006130113031302010001cd0000000b000900000673657276"
	"6572ff01000100000a00140012001d0017001800190100010101020103010400"
	"3300260024001d0020e4ffb68ac05f8d96c99da26698346c6be16482badddafe"
	"051a66b4f18d668f0b002a0000002b0003020304000d0020001e040305030603"
	"020308040805080604010501060102010402050206020202002d00020101001c"
	"0002400100150057000000000000000000000000000000000000000000000000"
	"0000000000000000000000000000000000000000000000000000000000000000"
	"0000000000000000000000000000000000000000000000000000000000000000"
	"2900dd00b800b22c035d829359ee5ff7af4ec900000000262a6494dc486d2c8a"
	"34cb33fa90bf1b0070ad3c498883c9367c09a2be785abc55cd226097a3a98211"
	"7283f82a03a143efd3ff5dd36d64e861be7fd61d2827db279cce145077d454a3"
	"664d4e6da4d29ee03725a6a4dafcd0fc67d2aea70529513e3da2677fa5906c5b"
	"3f7d8f92f228bda40dda721470f9fbf297b5aea617646fac5c03272e970727c6"
	"21a79141ef5f7de6505e5bfbc388e93343694093934ae4d357fad6aacb002120"
	"3add4fb2d8fdf822a0ca3cf7678ef5e88dae990141c5924d57bb6fa31b9e5f9d";

static const char s4_c_e_traffic[] =
	"3fbbe6a60deb66c30a32795aba0eff7eaa10105586e7be5c09678d63b6caab62";

static const char s4_psk[] =
	"4ecd0eb6ec3b4d87f5d6028f922ca4c5851a277fd41311c9e62d2c9492e1c4f3";

static void rfc8448_resumption(void)
{
	const tls_cipher *cs = tls_cipher_find(TLS_AES_128_GCM_SHA256);
	static uint8_t prefix[477], ch[512];
	uint8_t res[32], psk[32], want[32], got[32], hash[32];
	const uint8_t nonce[2] = { 0, 0 };
	test_unhex(s3_res_master, res, sizeof(res));
	test_unhex(s4_psk, want, sizeof(want));
	test_ok(tls_ticket_psk(cs, res, nonce, 2, psk) == 0 && !memcmp(psk, want, 32),
		"RFC 8448: PSK from the §3 resumption master secret and ticket nonce");
	tls_transcript tr;
	tls_transcript_init(&tr);
	size_t n = test_unhex(s4_ch_prefix, prefix, sizeof(prefix));
	test_unhex(s4_binder, want, sizeof(want));
	test_ok(n == 477 && tls_psk_binder(cs, psk, 32, false, &tr, prefix, n, got) == 0 &&
		!memcmp(got, want, 32), "RFC 8448 §4: PSK binder");
	tls_transcript_free(&tr);
	n = test_unhex(s4_ch, ch, sizeof(ch));
	test_ok(n == 512 && !memcmp(ch + 512 - 32, want, 32) && !memcmp(ch, prefix, 477),
		"RFC 8448 §4: the binder sits at the end of the ClientHello");
	tls_config *ccfg = tls_config_new(TLS_CLIENT);
	tls_conn *c = tls_conn_new(ccfg);
	unsigned int hl = 0;
	c->psk_cs = cs;
	memcpy(c->psk, psk, 32);
	c->psk_len = 32;
	test_unhex(s4_c_e_traffic, want, sizeof(want));
	test_ok(EVP_Digest(ch, 512, hash, &hl, EVP_sha256(), NULL) && tls_psk_early_secret(c, hash) == 0 &&
		!memcmp(c->c_early, want, 32), "RFC 8448 §4: client_early_traffic_secret");
	tls_conn_free(c);
	tls_config_free(ccfg);
}

/* The first flight of a resumption with 0-RTT, fed to a fresh server conn;
 * returns the early bytes that conn delivered. */
static size_t early_delivered(const tls_config *scfg, const tls_buf *flight)
{
	struct test_pair r;
	test_pair_init(&r, scfg, scfg, NULL); /* only r.sv.c is used */
	tls_buf in;
	tls_buf_init(&in, 0);
	tls_write_bytes(&in, flight->base, flight->len);
	test_side_feed(&r.sv, &in, &r.s2c);
	size_t n = r.sv.early.len;
	tls_buf_free(&in);
	test_pair_free(&r);
	return n;
}

/* RFC 8446 §8.2/§8.3: a ClientHello replayed within the freshness window
 * must still be in the recorder, whatever order the config calls came in. */
static void replay_window_order(void)
{
	const char *req = "GET /transfer";
	for (int order = 0; order < 2; order++) {
		tls_config *scfg = server_cfg(), *ccfg = client_cfg();
		if (order == 1)
			tls_config_set_fresh_window(scfg, 60000);
		tls_config_set_early_data(scfg, 4096);
		if (order == 0)
			tls_config_set_fresh_window(scfg, 60000);
		tls_session *s = early_session(ccfg, scfg);
		advance(1000);
		struct test_pair r;
		test_pair_init(&r, ccfg, scfg, "server.test");
		bool ok = s && !set_sess(r.cl.c, s) &&
			  !tls_conn_set_early_data(r.cl.c, (const uint8_t *)req, strlen(req));
		test_side_feed(&r.cl, &r.s2c, &r.c2s);
		size_t first = early_delivered(scfg, &r.c2s);
		srv_now += 30000; /* within the 60 s freshness window */
		size_t replay = early_delivered(scfg, &r.c2s);
		srv_now = cli_now;
		test_ok(ok && first == strlen(req) && replay == 0,
			"fresh window 60 s set %s 0-RTT: replay 30 s later rejected (first %zu, replay %zu)",
			order ? "before" : "after", first, replay);
		test_pair_free(&r);
		tls_session_free(s);
		tls_config_free(scfg);
		tls_config_free(ccfg);
	}
}

/* A recorder of our own whose window can be set: refused when shorter than
 * twice the freshness window. */
struct short_recorder {
	tls_replay_cache *cache;
	uint32_t window;
};

static bool short_check(void *ctx, const uint8_t *key, size_t len, uint64_t now)
{
	struct short_recorder *sr = ctx;
	return tls_replay_cache_check(sr->cache, key, len, now) == TLS_REPLAY_FRESH;
}

static uint32_t short_window(void *ctx)
{
	return ((struct short_recorder *)ctx)->window;
}

static void short_destroy(void *ctx)
{
	tls_replay_cache_free(((struct short_recorder *)ctx)->cache);
}

static const struct tls_antireplay_ops short_ops = {
	.check_and_record = short_check, .destroy = short_destroy, .window_ms = short_window,
};
static const struct tls_antireplay_ops no_window_ops = {
	.check_and_record = short_check, .destroy = short_destroy,
};

static void custom_recorder_window(void)
{
	const char *req = "hello";
	static const struct {
		const struct tls_antireplay_ops *ops;
		uint32_t window;
		bool accept;
		const char *what;
	} cases[] = {
		{ &short_ops, 19999, false, "window 19999 ms < 2 x 10 s: 0-RTT refused" },
		{ &short_ops, 20000, true, "window 20000 ms = 2 x 10 s: 0-RTT accepted" },
		{ &no_window_ops, 20000, false, "recorder without window_ms: 0-RTT refused" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tls_config *scfg = server_cfg(), *ccfg = client_cfg();
		struct short_recorder sr = { tls_replay_cache_new(cases[i].window, 64),
					     cases[i].window };
		tls_config_set_early_data(scfg, 4096);
		tls_config_set_antireplay(scfg, cases[i].ops, &sr);
		tls_session *s = early_session(ccfg, scfg);
		struct test_pair r;
		bool ok = s && resume(&r, ccfg, scfg, s, req);
		bool accepted = ok && tls_conn_params(r.sv.c)->early_data == TLS_EARLY_ACCEPTED &&
				r.sv.early.len == strlen(req);
		bool rejected = ok && tls_conn_params(r.sv.c)->early_data == TLS_EARLY_REJECTED &&
				r.sv.early.len == 0;
		test_ok(cases[i].accept ? accepted : rejected, "custom recorder: %s", cases[i].what);
		test_pair_free(&r);
		tls_session_free(s);
		tls_config_free(scfg);
		tls_config_free(ccfg);
	}
}

/* RFC 8449 §4: our record_size_limit is not known to the client when it
 * sends 0-RTT, so it does not apply to early records. */
static void rsl_not_for_early_data(void)
{
	tls_config *scfg = server_cfg(), *ccfg = client_cfg();
	tls_config_set_early_data(scfg, 100000);
	tls_config_set_record_size_limit(scfg, 512);
	static char big[2001];
	memset(big, 'e', sizeof(big) - 1);
	tls_session *s = early_session(ccfg, scfg);
	struct test_pair r;
	bool ok = s && resume(&r, ccfg, scfg, s, big);
	test_ok(ok && tls_conn_params(r.sv.c)->early_data == TLS_EARLY_ACCEPTED &&
		r.sv.early.len == 2000,
		"server record_size_limit 512, 2000 bytes of 0-RTT in one record: accepted");
	test_ok(ok && test_transfer(r.cl.c, r.sv.c, big, 2000),
		"after the handshake the client splits at 511 and the server takes it");
	test_pair_free(&r);
	tls_session_free(s);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* §4.2.10: the 0-RTT allowance is the ticket's, even after the server's
 * configured maximum grew. */
static void early_limit_from_ticket(void)
{
	tls_config *scfg = server_cfg(), *ccfg = client_cfg();
	tls_config_set_early_data(scfg, 16);
	tls_session *s = early_session(ccfg, scfg);
	tls_config_set_early_data(scfg, 100000); /* a reload raised it */
	if (s)
		s->max_early_data = 1000; /* a client ignoring its ticket */
	struct test_pair r;
	bool ok = s && resume(&r, ccfg, scfg, s, "this is more than sixteen bytes");
	test_ok(!ok && r.sv.rc == TLS_ERR_LOCAL(TLS_ALERT_UNEXPECTED_MESSAGE) && r.sv.early.len == 0,
		"ticket allows 16 bytes, config now 100000: 31 bytes of 0-RTT -> unexpected_message");
	test_pair_free(&r);
	tls_session_free(s);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* §4.6.1: a session is offered only under the SNI it was made with. */
static void session_other_sni(void)
{
	tls_config *scfg = server_cfg(), *ccfg = client_cfg();
	tls_config_set_verify_peer(ccfg, false); /* other.test is not on the certificate */
	tls_config_set_early_data(scfg, 4096);
	tls_session *s = early_session(ccfg, scfg);
	struct test_pair r;
	test_pair_init(&r, ccfg, scfg, "server.test");
	tls_conn_set_server_name(r.cl.c, "other.test");
	bool ok = s && !set_sess(r.cl.c, s) &&
		  !tls_conn_set_early_data(r.cl.c, (const uint8_t *)"hi", 2) && test_pair_go(&r);
	test_ok(ok && !tls_conn_params(r.cl.c)->resumed && r.cl.early_secrets == 0 &&
		tls_conn_params(r.cl.c)->early_data == TLS_EARLY_NONE,
		"session for server.test not offered (nor its 0-RTT) to other.test");
	test_pair_free(&r);
	tls_session_free(s);
	s = early_session(ccfg, scfg);
	test_pair_init(&r, ccfg, scfg, "server.test");
	ok = s && !set_sess(r.cl.c, s) && test_pair_go(&r);
	test_ok(ok && tls_conn_params(r.cl.c)->resumed, "control: the same name resumes");
	test_pair_free(&r);
	tls_session_free(s);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

int main(void)
{
	test_pki_make(&pki, TESTKEY_P256, "server.test", 0);
	test_pki_make(&client_pki, TESTKEY_P256, "client.test", 0);
	tickets_and_resumption();
	psk_modes();
	bad_tickets();
	stek_rotation();
	hrr_resumption();
	external_psk();
	zero_rtt();
	session_codec();
	mtls_identity();
	key_update_limits();
	exporter();
	malformed_psk();
	many_identities();
	rfc8448_resumption();
	replay_window_order();
	custom_recorder_window();
	rsl_not_for_early_data();
	early_limit_from_ticket();
	session_other_sni();
	test_pki_free(&pki);
	test_pki_free(&client_pki);
	return test_done();
}
