/* The post-handshake object (tls_post) against live peers, in memory.
 * Each side's tls_post plays what a kTLS socket keeps once the tls_conn is
 * gone; "the kernel" is a tls_traffic_key made from its secrets. Covered:
 * encode/decode in both roles (secrets, sequence numbers, names, peer
 * identity, no server resumption secret in the bytes), KeyUpdate both ways
 * against the other side's tls_conn, a client turning NewSessionTickets
 * into session blobs (the same bytes as the live conn's callback) that
 * resume, a server with deferred tickets building them (resumed by our
 * client and by OpenSSL libssl, the client identity carried on), the
 * exporter against tls_conn_export and SSL_export_keying_material, and
 * decode refusing truncated, altered and over-long input. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "pair.h"
#include "test.h"
#include "testkeys.h"
#include "tls/tls.h"

enum { CT_HANDSHAKE = 22, CT_APPDATA = 23, HS_NST = 4, HS_KEY_UPDATE = 24 };

static struct test_pki pki, client_pki;

static uint64_t fixed_now = 1700000000000ull;

static uint64_t fixed_clock(void *ctx)
{
	(void)ctx;
	return fixed_now;
}

static tls_config *server_cfg(bool mtls)
{
	tls_config *cfg = tls_config_new(TLS_SERVER);
	tls_chain ch;
	char err[256];
	test_pki_chain(&pki, &ch);
	if (!cfg || tls_config_add_cert(cfg, &ch, test_pki_leaf_key(&pki)) ||
	    tls_config_set_alpn(cfg, "h2") || tls_config_set_clock(cfg, fixed_clock, NULL))
		abort();
	if (mtls && (tls_config_set_client_auth(cfg, TLS_CLIENT_AUTH_REQUIRE) ||
		     tls_config_load_ca(cfg, client_pki.ca_path, err, sizeof(err))))
		abort();
	return cfg;
}

static tls_config *client_cfg(bool mtls)
{
	tls_config *cfg = tls_config_new(TLS_CLIENT);
	char err[256];
	if (!cfg || tls_config_load_ca(cfg, pki.ca_path, err, sizeof(err)) ||
	    tls_config_set_alpn(cfg, "h2") || tls_config_set_clock(cfg, fixed_clock, NULL))
		abort();
	if (mtls) {
		tls_chain ch;
		test_pki_chain(&client_pki, &ch);
		if (tls_config_add_cert(cfg, &ch, test_pki_leaf_key(&client_pki)))
			abort();
	}
	return cfg;
}

/* ---- the kernel's part: record protection from a tls_post ---- */

/* One direction's key at the post's current secret and sequence number. */
static bool post_key(const tls_post *p, enum tls_dir dir, tls_traffic_key *k)
{
	uint8_t sec[TLS_MAX_HASH];
	size_t len = sizeof(sec);
	uint64_t seq = 0;
	const tls_cipher *cs = tls_cipher_find(tls_post_cipher(p));
	memset(k, 0, sizeof(*k));
	bool ok = cs && tls_post_traffic(p, dir, sec, &len, &seq) == 0 &&
		  tls_traffic_key_init(k, cs, sec) == 0;
	k->seq = seq;
	OPENSSL_cleanse(sec, sizeof(sec));
	return ok;
}

/* Seals data as one record under p's current TX key and tells p the
 * sequence number the kernel would now be at. */
static bool post_seal(tls_post *p, uint8_t type, const void *data, size_t len, tls_buf *out)
{
	tls_traffic_key k;
	bool ok = post_key(p, TLS_DIR_TX, &k) && tls_record_seal(&k, type, data, len, 0, out) == 0;
	tls_post_set_seq(p, TLS_DIR_TX, k.seq);
	tls_traffic_key_clear(&k);
	return ok;
}

/* Opens the first record of in (then dropped from in) under p's current RX
 * key; its type and plaintext (appended to plain). */
static bool post_open(tls_post *p, tls_buf *in, uint8_t *type, tls_buf *plain)
{
	tls_reader r = tls_reader_init(in->base, in->len);
	tls_reader h = r;
	tls_read_u8(&h);
	tls_read_u16(&h);
	size_t n = TLS_RECORD_HEADER + tls_read_u16(&h);
	const uint8_t *rec = tls_read_bytes(&r, n);
	uint8_t buf[TLS_RECORD_HEADER + TLS_MAX_CIPHERTEXT], *data = NULL;
	size_t dlen = 0;
	tls_traffic_key k;
	if (h.err || !rec || n > sizeof(buf) || !post_key(p, TLS_DIR_RX, &k))
		return false;
	memcpy(buf, rec, n);
	bool ok = tls_record_open(&k, buf, n, type, &data, &dlen) == 0;
	if (ok)
		tls_write_bytes(plain, data, dlen);
	tls_post_set_seq(p, TLS_DIR_RX, k.seq);
	tls_traffic_key_clear(&k);
	tls_buf_consume(in, n);
	return ok;
}

/* The conn reads wire whole and gets exactly want, sending nothing. */
static bool conn_reads(tls_conn *c, const tls_buf *wire, const char *want)
{
	tls_buf back, plain;
	tls_buf_init(&back, 0);
	tls_buf_init(&plain, 0);
	size_t n = wire->len;
	int rc = tls_conn_recv(c, &back, &plain, wire->base, &n);
	bool ok = rc == 0 && n == wire->len && back.len == 0 && plain.len == strlen(want) &&
		  !memcmp(plain.base, want, plain.len);
	if (!ok)
		test_diag("conn read: %d %s", rc, tls_conn_error(c));
	tls_buf_free(&back);
	tls_buf_free(&plain);
	return ok;
}

/* The current secret and seq of dir are the same in p and c. */
static bool same_traffic(const tls_post *p, enum tls_dir pdir, const tls_conn *c,
			 enum tls_dir cdir)
{
	uint8_t a[TLS_MAX_HASH], b[TLS_MAX_HASH];
	size_t al = sizeof(a), bl = sizeof(b);
	uint64_t as = 1, bs = 2;
	return tls_post_traffic(p, pdir, a, &al, &as) == 0 &&
	       tls_conn_traffic(c, cdir, b, &bl, &bs) == 0 && al == bl && !memcmp(a, b, al) &&
	       as == bs;
}

/* ---- setups ---- */

/* A full handshake (mTLS when asked; the server's tickets deferred when
 * asked), left in *p with the server's post-handshake bytes in p->s2c. */
static bool handshake(struct test_pair *p, const tls_config *ccfg, const tls_config *scfg,
		      bool defer)
{
	test_pair_init(p, ccfg, scfg, "server.test");
	if (defer && tls_conn_defer_tickets(p->sv.c) != 0)
		return false;
	if (!test_pair_run(p)) {
		test_diag("handshake: %s / %s", tls_conn_error(p->cl.c), tls_conn_error(p->sv.c));
		return false;
	}
	return true;
}

/* A handshake offering blob, in *p (the caller frees it); true when both
 * sides say resumed. */
static bool resumes(const tls_config *ccfg, const tls_config *scfg, const tls_buf *blob,
		    struct test_pair *p)
{
	test_pair_init(p, ccfg, scfg, "server.test");
	return blob->base && tls_conn_set_session(p->cl.c, blob->base, blob->len) == 0 &&
	       test_pair_go(p) && tls_conn_params(p->cl.c)->resumed &&
	       tls_conn_params(p->sv.c)->resumed;
}

/* ---- encode / decode ---- */

static bool same_bytes(const tls_buf *a, const tls_buf *b)
{
	return a->len == b->len && !memcmp(a->base, b->base, a->len);
}

/* What a decoded copy of p says equals what c says. */
static bool roundtrip(const tls_post *p, const tls_conn *c, tls_buf *enc)
{
	tls_buf again;
	tls_buf_init(&again, 0);
	tls_post *d = tls_post_encode(p, enc) == 0 ? tls_post_decode(enc->base, enc->len) : NULL;
	const tls_params *pa = tls_conn_params(c);
	uint8_t id1[32], id2[32];
	const uint8_t *s1 = NULL, *s2 = NULL;
	size_t l1 = 0, l2 = 0;
	bool ok = d && tls_post_encode(d, &again) == 0 && same_bytes(enc, &again) &&
		  tls_post_role(d) == tls_post_role(p) && tls_post_cipher(d) == pa->cipher->id &&
		  same_traffic(d, TLS_DIR_TX, c, TLS_DIR_TX) &&
		  same_traffic(d, TLS_DIR_RX, c, TLS_DIR_RX) &&
		  tls_post_server_name(d) && !strcmp(tls_post_server_name(d), "server.test") &&
		  tls_post_alpn(d) && !strcmp(tls_post_alpn(d), "h2") &&
		  tls_post_resumed(d) == pa->resumed &&
		  tls_post_peer_id(p, id1, &s1, &l1) == tls_post_peer_id(d, id2, &s2, &l2) &&
		  l1 == l2 && (!l1 || (!memcmp(id1, id2, 32) && !memcmp(s1, s2, l1)));
	tls_post_free(d);
	tls_buf_free(&again);
	return ok;
}

/* The resumption secret of a client encoding, read as the format says:
 * magic, version, role, suite, two directions, the exporter secret. */
static bool client_res_secret(const tls_buf *enc, uint8_t *out, size_t *len)
{
	tls_reader r = tls_reader_init(enc->base, enc->len);
	tls_read_bytes(&r, 4 + 1 + 1 + 2);
	for (int d = 0; d < 2; d++) {
		tls_read_vec8(&r, 32, 48);
		tls_read_bytes(&r, 16);
	}
	tls_read_vec8(&r, 32, 48);
	tls_reader res = tls_read_vec8(&r, 32, 48);
	*len = res.left;
	tls_read_copy(&res, out, res.left);
	return !r.err && !res.err;
}

static void encode_decode(void)
{
	tls_config *scfg = server_cfg(true), *ccfg = client_cfg(true);
	struct test_pair p;
	bool ok = handshake(&p, ccfg, scfg, true);
	tls_post *cp = ok ? tls_conn_post(p.cl.c) : NULL;
	tls_post *sp = ok ? tls_conn_post(p.sv.c) : NULL;
	test_ok(cp && sp && tls_post_role(cp) == TLS_CLIENT && tls_post_role(sp) == TLS_SERVER &&
		same_traffic(cp, TLS_DIR_TX, p.cl.c, TLS_DIR_TX) &&
		same_traffic(sp, TLS_DIR_RX, p.sv.c, TLS_DIR_RX),
		"tls_conn_post in both roles: the conns' traffic secrets and seqs");
	tls_buf ce, se;
	tls_buf_init(&ce, 0);
	tls_buf_init(&se, 0);
	test_ok(cp && roundtrip(cp, p.cl.c, &ce),
		"client tls_post: encode/decode keeps role, suite, secrets, seqs, SNI, ALPN, peer id");
	test_ok(sp && roundtrip(sp, p.sv.c, &se), "server tls_post: the same");

	/* peer identity: the client has the server's leaf, the server the client's */
	uint8_t id[32], want[32];
	unsigned int wl = 0;
	const uint8_t *subj = NULL;
	size_t sl = 0;
	const tls_params *sv = tls_conn_params(p.sv.c);
	X509_digest(pki.leaf, EVP_sha256(), want, &wl);
	test_ok(cp && tls_post_peer_id(cp, id, &subj, &sl) && !memcmp(id, want, 32) && sl > 0 &&
		sl == (size_t)i2d_X509_NAME(X509_get_subject_name(pki.leaf), NULL),
		"client peer id: SHA-256 and subject of the server's leaf");
	test_ok(sp && tls_post_peer_id(sp, id, &subj, &sl) && sv->client_id &&
		!memcmp(id, sv->client_cert_sha256, 32) && sl == sv->client_subject_len &&
		!memcmp(subj, sv->client_subject, sl),
		"server peer id: the client certificate's, as params report it");

	/* the server's resumption secret never leaves memory */
	uint8_t res[48];
	size_t rl = 0;
	ok = client_res_secret(&ce, res, &rl);
	test_ok(ok && rl == 32 && !memmem(se.base, se.len, res, rl),
		"server encoding: no resumption secret (the client's holds it: %zu bytes)", rl);
	tls_post *sd = tls_post_decode(se.base, se.len);
	tls_buf m;
	tls_buf_init(&m, 0);
	test_ok(sd && tls_post_tickets_owed(sp) == 2 && tls_post_tickets_owed(sd) == 0 &&
		tls_post_ticket_send(sd, scfg, &m) == -1 && m.len == 0 &&
		tls_post_ticket_send(sp, scfg, &m) == 0 && m.len > 0,
		"a decoded server tls_post sends no tickets; the original does");
	tls_post_free(sd);
	tls_buf_free(&m);

	/* sequence numbers the caller learned */
	tls_post_set_seq(cp, TLS_DIR_TX, 77);
	tls_post_set_seq(cp, TLS_DIR_RX, 5);
	tls_buf_reset(&ce);
	tls_post *cd = cp && tls_post_encode(cp, &ce) == 0 ? tls_post_decode(ce.base, ce.len) : NULL;
	uint8_t sec[TLS_MAX_HASH];
	size_t len = sizeof(sec);
	uint64_t tx = 0, rx = 0;
	ok = cd && tls_post_traffic(cd, TLS_DIR_TX, sec, &len, &tx) == 0 &&
	     tls_post_traffic(cd, TLS_DIR_RX, sec, &len, &rx) == 0;
	test_ok(ok && tx == 77 && rx == 5, "tls_post_set_seq survives encoding (%llu, %llu)",
		(unsigned long long)tx, (unsigned long long)rx);
	len = 8;
	test_ok(cd && tls_post_traffic(cd, TLS_DIR_TX, sec, &len, NULL) == -1,
		"tls_post_traffic refuses a short buffer");
	tls_post_free(cd);

	/* server without deferral: tickets went inline, no secret kept */
	struct test_pair q;
	ok = handshake(&q, ccfg, scfg, false);
	tls_post *sq = ok ? tls_conn_post(q.sv.c) : NULL;
	uint64_t seq = 9;
	len = sizeof(sec);
	tls_buf_init(&m, 0);
	test_ok(sq && q.s2c.len > 0 && tls_post_tickets_owed(sq) == 0 &&
		tls_post_ticket_send(sq, scfg, &m) == -1 &&
		tls_post_traffic(sq, TLS_DIR_TX, sec, &len, &seq) == 0 && seq == 1,
		"inline tickets: the server's TX seq counts them (1), its tls_post sends none");
	tls_buf_free(&m);
	tls_post_free(sq);
	test_pair_free(&q);
	test_ok(ok && tls_conn_traffic(p.sv.c, TLS_DIR_TX, sec, &len, &seq) == 0 && seq == 0 &&
		p.s2c.len == 0,
		"deferred tickets: nothing after the server's handshake, TX seq 0");
	tls_conn *c = tls_conn_new(ccfg);
	test_ok(tls_conn_defer_tickets(c) == -1 && tls_conn_defer_tickets(p.sv.c) == -1 &&
		tls_conn_post(c) == NULL,
		"defer refused for a client and after the handshake; no tls_post before it");
	tls_conn_free(c);

	tls_post_free(cp);
	tls_post_free(sp);
	tls_buf_free(&ce);
	tls_buf_free(&se);
	test_pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* Every truncation, a byte more, and field values a decoder must refuse. */
static void decode_rejects(void)
{
	tls_config *scfg = server_cfg(false), *ccfg = client_cfg(false);
	struct test_pair p;
	bool ok = handshake(&p, ccfg, scfg, true);
	tls_post *cp = ok ? tls_conn_post(p.cl.c) : NULL, *sp = ok ? tls_conn_post(p.sv.c) : NULL;
	tls_buf e[2];
	tls_buf_init(&e[0], 0);
	tls_buf_init(&e[1], 0);
	ok = cp && sp && tls_post_encode(cp, &e[0]) == 0 && tls_post_encode(sp, &e[1]) == 0;
	size_t bad = 0;
	for (int i = 0; ok && i < 2; i++) {
		for (size_t cut = 0; cut < e[i].len; cut++) {
			tls_post *d = tls_post_decode(e[i].base, cut);
			bad += d != NULL;
			tls_post_free(d);
		}
	}
	test_ok(ok && bad == 0, "every truncation of both encodings is refused");
	tls_buf longer;
	tls_buf_init(&longer, 0);
	tls_write_bytes(&longer, e[0].base, e[0].len);
	tls_write_u8(&longer, 0);
	tls_post *d = tls_post_decode(longer.base, longer.len);
	test_ok(ok && !d && !tls_post_decode(NULL, 0), "a trailing byte is refused");
	tls_post_free(d);
	tls_buf_free(&longer);

	/* single changes at known offsets (layout in post_state.c) */
	static const struct {
		int which;         /* 0 client, 1 server encoding */
		size_t at;
		uint8_t value;
		const char *what;
	} alter[] = {
		{ 0, 0, 'X', "magic" },
		{ 0, 4, 2, "unknown version" },
		{ 0, 4, 0, "version 0" },
		{ 0, 5, 2, "role 2" },
		{ 0, 5, 1, "client bytes as a server (a resumption secret)" },
		{ 1, 5, 0, "server bytes as a client (no resumption secret)" },
		{ 0, 7, 0x05, "suite 0x1305" },
		{ 0, 7, 0x02, "suite with another hash length" },
		{ 0, 8, 31, "secret length 31" },
		{ 0, 8 + 1 + 32 + 8 + 7, 2, "epoch 2" },
	};
	for (size_t i = 0; ok && i < sizeof(alter) / sizeof(alter[0]); i++) {
		tls_buf *b = &e[alter[i].which];
		uint8_t was = b->base[alter[i].at];
		b->base[alter[i].at] = alter[i].value;
		d = tls_post_decode(b->base, b->len);
		test_ok(!d, "altered encoding refused: %s", alter[i].what);
		tls_post_free(d);
		b->base[alter[i].at] = was;
	}
	/* the flags byte: an unknown bit; found by its place before the
	 * server-only fields (13 bytes) and the peer identity (client: 42 +
	 * subject) */
	const uint8_t *subj = NULL;
	size_t sl = 0;
	if (ok && tls_post_peer_id(cp, NULL, &subj, &sl)) {
		size_t at = e[0].len - 13 - sl - 2 - 8 - 32 - 1;
		e[0].base[at] |= 0x80;
		d = tls_post_decode(e[0].base, e[0].len);
		test_ok(!d, "unknown flag refused");
		tls_post_free(d);
		e[0].base[at] &= 0x7f;
		e[0].base[at] &= (uint8_t)~2u; /* no identity: the bytes after do not fit */
		d = tls_post_decode(e[0].base, e[0].len);
		test_ok(!d, "identity flag cleared: the identity bytes are left over, refused");
		tls_post_free(d);
		e[0].base[at] |= 2;
	}
	/* a client's server-only fields must be zero */
	e[0].base[e[0].len - 1] = 1;
	d = tls_post_decode(e[0].base, e[0].len);
	test_ok(ok && !d, "a client encoding with max_early_data refused");
	tls_post_free(d);
	e[0].base[e[0].len - 1] = 0;
	d = tls_post_decode(e[0].base, e[0].len);
	test_ok(ok && d, "restored, it decodes again");
	tls_post_free(d);
	tls_buf_free(&e[0]);
	tls_buf_free(&e[1]);
	tls_post_free(cp);
	tls_post_free(sp);
	test_pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* ---- KeyUpdate ---- */

/* p (one side, on "the kernel") against peer (the other side's live conn):
 * p's KeyUpdate then data under its next key; the conn's
 * KeyUpdate(update_requested) then data, which p follows, answers, and the
 * conn reads data under the answer's key. */
static bool key_updates(tls_post *p, tls_conn *peer)
{
	uint8_t msg[TLS_KEY_UPDATE_MSG_LEN], type = 0;
	tls_buf wire, plain, hs;
	tls_buf_init(&wire, 0);
	tls_buf_init(&plain, 0);
	tls_buf_init(&hs, 0);
	/* ours: the message under the old key, then data under the new one */
	tls_traffic_key old;
	bool ok = post_key(p, TLS_DIR_TX, &old) && tls_post_key_update_send(p, false, msg) == 0 &&
		  tls_record_seal(&old, CT_HANDSHAKE, msg, sizeof(msg), 0, &wire) == 0 &&
		  post_seal(p, CT_APPDATA, "one", 3, &wire) && conn_reads(peer, &wire, "one") &&
		  same_traffic(p, TLS_DIR_TX, peer, TLS_DIR_RX);
	tls_traffic_key_clear(&old);
	if (!test_ok(ok, "tls_post KeyUpdate: the live peer follows and reads data under the new key"))
		goto out;

	/* theirs, asking for ours */
	tls_buf_reset(&wire);
	bool req = false;
	ok = tls_conn_key_update(peer, &wire, true) == 0 && tls_conn_send(peer, &wire, "two", 3) == 0 &&
	     post_open(p, &wire, &type, &hs) && type == CT_HANDSHAKE;
	tls_reader r = tls_reader_init(hs.base, hs.len);
	uint8_t hs_type = tls_read_u8(&r);
	tls_reader body = tls_read_vec24(&r, 0, 0xffffff);
	ok = ok && tls_reader_done(&r) && hs_type == HS_KEY_UPDATE &&
	     tls_post_key_update_recv(p, body.p, body.left, &req) == 0 && req &&
	     post_open(p, &wire, &type, &plain) && type == CT_APPDATA && plain.len == 3 &&
	     !memcmp(plain.base, "two", 3) && same_traffic(p, TLS_DIR_RX, peer, TLS_DIR_TX);
	if (!test_ok(ok, "peer KeyUpdate(update_requested): tls_post moves RX on, reads data"))
		goto out;
	tls_buf_reset(&wire);
	ok = post_key(p, TLS_DIR_TX, &old) && tls_post_key_update_send(p, false, msg) == 0 &&
	     tls_record_seal(&old, CT_HANDSHAKE, msg, sizeof(msg), 0, &wire) == 0 &&
	     post_seal(p, CT_APPDATA, "three", 5, &wire) && conn_reads(peer, &wire, "three");
	tls_traffic_key_clear(&old);
	test_ok(ok, "tls_post answers with its own KeyUpdate; the peer reads data under it");
	/* malformed bodies: the alerts to send */
	static const uint8_t two[] = { 2 }, long_body[] = { 0, 0 };
	test_ok(tls_post_key_update_recv(p, two, 1, &req) == TLS_ALERT_ILLEGAL_PARAMETER &&
		tls_post_key_update_recv(p, long_body, 2, &req) == TLS_ALERT_DECODE_ERROR &&
		tls_post_key_update_recv(p, long_body, 0, &req) == TLS_ALERT_DECODE_ERROR,
		"bad KeyUpdate bodies: illegal_parameter, decode_error");
out:
	tls_buf_free(&wire);
	tls_buf_free(&plain);
	tls_buf_free(&hs);
	return ok;
}

static void key_update(void)
{
	tls_config *scfg = server_cfg(false), *ccfg = client_cfg(false);
	struct test_pair p;
	bool ok = handshake(&p, ccfg, scfg, false) && test_pair_go(&p);
	/* both copies now: each one stays in step with the other side's conn */
	tls_post *cp = ok ? tls_conn_post(p.cl.c) : NULL, *sp = ok ? tls_conn_post(p.sv.c) : NULL;
	test_diag("client tls_post <-> server tls_conn");
	test_ok(cp && key_updates(cp, p.sv.c), "client tls_post: KeyUpdate both ways");
	test_diag("server tls_post <-> client tls_conn");
	test_ok(sp && key_updates(sp, p.cl.c), "server tls_post: KeyUpdate both ways");
	/* and it still round-trips with the new epochs */
	tls_buf b;
	tls_buf_init(&b, 0);
	tls_post *d = cp && tls_post_encode(cp, &b) == 0 ? tls_post_decode(b.base, b.len) : NULL;
	test_ok(d && same_traffic(d, TLS_DIR_TX, p.sv.c, TLS_DIR_RX) &&
		same_traffic(d, TLS_DIR_RX, p.sv.c, TLS_DIR_TX),
		"after the KeyUpdates the encoding carries the current secrets and seqs");
	tls_post_free(d);
	tls_buf_free(&b);
	tls_post_free(cp);
	tls_post_free(sp);
	test_pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* ---- tickets ---- */

/* The handshake messages of the records in `in`, opened under p's RX. */
static bool open_messages(tls_post *p, tls_buf *in, tls_buf *msgs)
{
	uint8_t type = 0;
	while (in->len)
		if (!post_open(p, in, &type, msgs) || type != CT_HANDSHAKE)
			return false;
	return true;
}

static void client_tickets(void)
{
	tls_config *scfg = server_cfg(false), *ccfg = client_cfg(false);
	struct test_pair p;
	bool ok = handshake(&p, ccfg, scfg, false);
	tls_post *cp = ok ? tls_conn_post(p.cl.c) : NULL;
	/* the same records to the post and to the live conn */
	tls_buf copy, msgs, blob[2];
	tls_buf_init(&copy, 0);
	tls_buf_init(&msgs, 0);
	tls_buf_init(&blob[0], 0);
	tls_buf_init(&blob[1], 0);
	tls_write_bytes(&copy, p.s2c.base, p.s2c.len);
	ok = cp && open_messages(cp, &copy, &msgs);
	size_t n = 0;
	int alert = 0;
	tls_reader r = tls_reader_init(msgs.base, msgs.len);
	while (ok && r.left && n < 2) {
		uint8_t type = tls_read_u8(&r);
		tls_reader body = tls_read_vec24(&r, 0, 0xffffff);
		ok = !r.err && type == HS_NST;
		if (ok)
			alert = tls_post_ticket_recv(cp, body.p, body.left, fixed_now, &blob[n++]);
	}
	test_ok(ok && n == 2 && !r.left && !alert && blob[0].len && blob[1].len &&
		!same_bytes(&blob[0], &blob[1]),
		"client tls_post: 2 NewSessionTickets -> 2 distinct session blobs");
	ok = ok && test_pair_go(&p) && p.cl.n_sess == 2;
	test_ok(ok && same_bytes(&blob[0], &p.cl.sess[0]) && same_bytes(&blob[1], &p.cl.sess[1]),
		"the blobs are byte for byte what the live conn's session callback gave");
	struct test_pair q;
	bool res = resumes(ccfg, scfg, &blob[1], &q);
	test_ok(ok && res && test_transfer(q.cl.c, q.sv.c, "x", 1),
		"a blob from tls_post_ticket_recv resumes");
	tls_post *rp = res ? tls_conn_post(q.cl.c) : NULL;
	test_ok(rp && tls_post_resumed(rp) && !tls_post_peer_id(rp, NULL, NULL, NULL),
		"the resumed client's tls_post: resumed, no server certificate");
	tls_post_free(rp);
	test_pair_free(&q);

	/* malformed and odd tickets */
	static const uint8_t zero_life[] = { 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 1, 0xaa, 0, 0 };
	static const uint8_t too_long[] = { 0, 9, 0x3a, 0x81, 1, 2, 3, 4, 0, 0, 1, 0xaa, 0, 0 };
	static const uint8_t short_body[] = { 0, 0, 0, 1, 1, 2 };
	tls_buf s;
	tls_buf_init(&s, 0);
	test_ok(cp && tls_post_ticket_recv(cp, zero_life, sizeof(zero_life), fixed_now, &s) == 0 &&
		s.len == 0, "lifetime 0: no session, no error");
	test_ok(cp && tls_post_ticket_recv(cp, too_long, sizeof(too_long), fixed_now, &s) ==
			      TLS_ALERT_ILLEGAL_PARAMETER &&
		tls_post_ticket_recv(cp, short_body, sizeof(short_body), fixed_now, &s) ==
			TLS_ALERT_DECODE_ERROR && s.len == 0,
		"lifetime over 7 days: illegal_parameter; truncated: decode_error");
	tls_post *sp = ok ? tls_conn_post(p.sv.c) : NULL;
	test_ok(sp && tls_post_ticket_recv(sp, zero_life, sizeof(zero_life), fixed_now, &s) ==
			      TLS_ALERT_UNEXPECTED_MESSAGE &&
		cp && tls_post_ticket_send(cp, scfg, &s) == -1 && s.len == 0,
		"roles: a server refuses a ticket, a client builds none");
	tls_post_free(sp);
	tls_buf_free(&s);
	tls_buf_free(&copy);
	tls_buf_free(&msgs);
	tls_buf_free(&blob[0]);
	tls_buf_free(&blob[1]);
	tls_post_free(cp);
	test_pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* The server's deferred tickets, built by its tls_post and sealed by "the
 * kernel" under its application key, read by the client conn. */
static bool send_deferred(struct test_pair *p, tls_post *sp, const tls_config *scfg,
			  size_t *n_out)
{
	tls_buf msgs, wire;
	tls_buf_init(&msgs, 0);
	tls_buf_init(&wire, 0);
	unsigned owed = tls_post_tickets_owed(sp);
	size_t n = 0;
	while (tls_post_tickets_owed(sp) && tls_post_ticket_send(sp, scfg, &msgs) == 0)
		n++;
	bool ok = n == owed && post_seal(sp, CT_HANDSHAKE, msgs.base, msgs.len, &wire) &&
		  conn_reads(p->cl.c, &wire, "");
	*n_out = n;
	tls_buf_free(&msgs);
	tls_buf_free(&wire);
	return ok;
}

static void server_tickets(void)
{
	tls_config *scfg = server_cfg(true), *ccfg = client_cfg(true);
	tls_config_set_early_data(scfg, 1000);
	struct test_pair p;
	bool ok = handshake(&p, ccfg, scfg, true);
	tls_post *sp = ok ? tls_conn_post(p.sv.c) : NULL;
	size_t n = 0;
	ok = sp && send_deferred(&p, sp, scfg, &n);
	test_ok(ok && n == 2 && p.cl.n_sess == 2 && !same_bytes(&p.cl.sess[0], &p.cl.sess[1]),
		"server tls_post: 2 deferred tickets, read by our client (%zu)", n);
	tls_buf extra;
	tls_buf_init(&extra, 0);
	test_ok(sp && tls_post_tickets_owed(sp) == 0 && tls_post_ticket_send(sp, scfg, &extra) == 0,
		"none owed now; one more can still be made");
	tls_buf_free(&extra);

	/* resumption, 0-RTT allowed, and the client identity carried on */
	struct test_pair q;
	ok = resumes(ccfg, scfg, &p.cl.sess[0], &q) && ok;
	const tls_params *sv = tls_conn_params(p.sv.c), *rv = ok ? tls_conn_params(q.sv.c) : NULL;
	test_ok(ok && rv->client_id && !memcmp(rv->client_cert_sha256, sv->client_cert_sha256, 32),
		"a ticket from tls_post_ticket_send resumes; the client identity comes back");
	test_pair_free(&q);
	struct test_pair e;
	test_pair_init(&e, ccfg, scfg, "server.test");
	ok = p.cl.n_sess == 2 && !tls_conn_set_session(e.cl.c, p.cl.sess[1].base, p.cl.sess[1].len) &&
	     !tls_conn_set_early_data(e.cl.c, (const uint8_t *)"GET", 3) &&
	     tls_conn_defer_tickets(e.sv.c) == 0 && test_pair_run(&e);
	test_ok(ok && tls_conn_params(e.sv.c)->early_data == TLS_EARLY_ACCEPTED && e.sv.early.len == 3,
		"the second ticket carries 0-RTT: accepted");
	/* second generation: the resumed server's tls_post takes the identity
	 * from the ticket and puts it into its own tickets */
	tls_post *rp = ok ? tls_conn_post(e.sv.c) : NULL;
	uint8_t id[32];
	const uint8_t *subj = NULL;
	size_t sl = 0;
	test_ok(rp && tls_post_resumed(rp) && tls_post_peer_id(rp, id, &subj, &sl) &&
		!memcmp(id, sv->client_cert_sha256, 32) && sl == sv->client_subject_len,
		"resumed server tls_post: peer identity from the ticket");
	ok = rp && send_deferred(&e, rp, scfg, &n) && e.cl.n_sess == 2;
	ok = resumes(ccfg, scfg, &e.cl.sess[0], &q) && ok;
	rv = ok ? tls_conn_params(q.sv.c) : NULL;
	test_ok(ok && rv->client_id && !memcmp(rv->client_cert_sha256, sv->client_cert_sha256, 32),
		"its tickets resume with the same identity");
	test_pair_free(&q);
	tls_post_free(rp);
	test_pair_free(&e);

	/* tickets off, or a client that allows none of our modes: none */
	tls_config *off = server_cfg(true);
	tls_config_set_tickets(off, 0, 0);
	tls_buf m;
	tls_buf_init(&m, 0);
	test_ok(sp && tls_post_ticket_send(sp, off, &m) == 1 && m.len == 0,
		"a config without tickets: tls_post_ticket_send says none (1)");
	tls_config_free(off);
	tls_config *ke = server_cfg(true);
	tls_config_set_psk_modes(ke, TLS_PSK_MODE_KE);
	test_ok(sp && tls_post_ticket_send(sp, ke, &m) == 1 && m.len == 0,
		"psk_ke only, the client offered psk_dhe_ke: none");
	tls_config_free(ke);
	tls_buf_free(&m);
	tls_post_free(sp);
	test_pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* ---- OpenSSL libssl: our server's tls_post against its client ---- */

static SSL_SESSION *ossl_sess;

static int new_session_cb(SSL *ssl, SSL_SESSION *s)
{
	(void)ssl;
	if (ossl_sess)
		return 0;
	ossl_sess = s;
	return 1;
}

struct ossl_pair {
	SSL *ssl;
	BIO *to, *from;            /* into OpenSSL, out of it (owned by ssl) */
	tls_conn *sv;
	tls_buf in;                /* OpenSSL's bytes not yet consumed by us */
};

static void ossl_take(struct ossl_pair *o)
{
	uint8_t buf[4096];
	int n;
	while ((n = BIO_read(o->from, buf, sizeof(buf))) > 0)
		tls_write_bytes(&o->in, buf, (size_t)n);
}

static bool ossl_give(struct ossl_pair *o, const tls_buf *b)
{
	return !b->len || BIO_write(o->to, b->base, (int)b->len) == (int)b->len;
}

/* OpenSSL client against our (deferring) server until both are done. */
static bool ossl_handshake(struct ossl_pair *o, SSL_CTX *ctx, const tls_config *scfg,
			   SSL_SESSION *resume)
{
	memset(o, 0, sizeof(*o));
	o->ssl = SSL_new(ctx);
	o->to = BIO_new(BIO_s_mem());
	o->from = BIO_new(BIO_s_mem());
	o->sv = tls_conn_new(scfg);
	if (!o->ssl || !o->to || !o->from || !o->sv)
		abort();
	SSL_set_bio(o->ssl, o->to, o->from);
	SSL_set_connect_state(o->ssl);
	SSL_set_tlsext_host_name(o->ssl, "server.test");
	if (resume)
		SSL_set_session(o->ssl, resume);
	tls_buf_init(&o->in, 0);
	tls_conn_defer_tickets(o->sv);
	tls_buf out;
	tls_buf_init(&out, 0);
	int rc = TLS_WANT_INPUT, done = 0;
	for (int i = 0; i < 20 && !(rc == 0 && done); i++) {
		if (!done) {
			int r = SSL_do_handshake(o->ssl);
			done = r == 1;
			if (!done && SSL_get_error(o->ssl, r) != SSL_ERROR_WANT_READ)
				break;
		}
		ossl_take(o);
		if (rc == TLS_WANT_INPUT) {
			size_t n = o->in.len;
			rc = tls_conn_handshake(o->sv, &out, o->in.base, &n);
			tls_buf_consume(&o->in, n);
			ossl_give(o, &out);
			tls_buf_reset(&out);
		}
	}
	tls_buf_free(&out);
	if (rc != 0 || !done) {
		char e[256] = "";
		ERR_error_string_n(ERR_peek_last_error(), e, sizeof(e));
		test_diag("OpenSSL handshake: ours %d %s / OpenSSL %s", rc, tls_conn_error(o->sv), e);
		ERR_clear_error();
		return false;
	}
	return true;
}

static void ossl_free(struct ossl_pair *o)
{
	SSL_free(o->ssl);
	tls_conn_free(o->sv);
	tls_buf_free(&o->in);
}

static void openssl(void)
{
	tls_config *scfg = server_cfg(false);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    SSL_CTX_load_verify_locations(ctx, pki.ca_path, NULL) != 1)
		abort();
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
	SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
	struct ossl_pair o;
	bool ok = ossl_handshake(&o, ctx, scfg, NULL);
	tls_post *sp = ok ? tls_conn_post(o.sv) : NULL;

	/* the exporter: OpenSSL, the live conn and the tls_post agree */
	static const char label[] = "EXPORTER-handshaked-test";
	static const uint8_t context[] = { 1, 2, 3 };
	uint8_t a[48], b[48], c[48];
	ok = sp && SSL_export_keying_material(o.ssl, a, sizeof(a), label, strlen(label), context,
					      sizeof(context), 1) == 1 &&
	     tls_conn_export(o.sv, label, context, sizeof(context), b, sizeof(b)) == 0 &&
	     tls_post_export(sp, label, context, sizeof(context), c, sizeof(c)) == 0;
	test_ok(ok && !memcmp(a, b, sizeof(a)) && !memcmp(a, c, sizeof(a)),
		"exporter: tls_post_export == tls_conn_export == SSL_export_keying_material");
	ok = sp && SSL_export_keying_material(o.ssl, a, 32, label, strlen(label), NULL, 0, 0) == 1 &&
	     tls_post_export(sp, label, NULL, 0, c, 32) == 0;
	test_ok(ok && !memcmp(a, c, 32), "exporter without a context: the same as OpenSSL's");
	tls_buf enc;
	tls_buf_init(&enc, 0);
	tls_post *d = sp && tls_post_encode(sp, &enc) == 0 ? tls_post_decode(enc.base, enc.len) : NULL;
	test_ok(d && tls_post_export(d, label, context, sizeof(context), c, sizeof(c)) == 0 &&
		!memcmp(b, c, sizeof(c)), "a decoded tls_post exports the same");
	tls_post_free(d);
	tls_buf_free(&enc);

	/* deferred tickets to OpenSSL, which resumes with one */
	tls_buf msgs, wire;
	tls_buf_init(&msgs, 0);
	tls_buf_init(&wire, 0);
	size_t n = 0;
	while (sp && tls_post_tickets_owed(sp) && tls_post_ticket_send(sp, scfg, &msgs) == 0)
		n++;
	uint8_t buf[16];
	ok = n == 2 && post_seal(sp, CT_HANDSHAKE, msgs.base, msgs.len, &wire) && ossl_give(&o, &wire) &&
	     SSL_read(o.ssl, buf, sizeof(buf)) <= 0 &&
	     SSL_get_error(o.ssl, -1) == SSL_ERROR_WANT_READ && ossl_sess;
	test_ok(ok, "OpenSSL reads the tickets tls_post_ticket_send built (%zu)", n);
	struct ossl_pair r;
	ok = ok && ossl_handshake(&r, ctx, scfg, ossl_sess);
	test_ok(ok && SSL_session_reused(r.ssl) && tls_conn_params(r.sv)->resumed,
		"OpenSSL resumes with one of them");
	if (ok)
		ossl_free(&r);
	SSL_SESSION_free(ossl_sess);
	ossl_sess = NULL;
	tls_buf_free(&msgs);
	tls_buf_free(&wire);
	tls_post_free(sp);
	ossl_free(&o);
	SSL_CTX_free(ctx);
	tls_config_free(scfg);
}

/* Both sides' tls_post export what the live conn does. */
static void exporter_pair(void)
{
	tls_config *scfg = server_cfg(false), *ccfg = client_cfg(false);
	struct test_pair p;
	bool ok = handshake(&p, ccfg, scfg, true);
	tls_post *cp = ok ? tls_conn_post(p.cl.c) : NULL, *sp = ok ? tls_conn_post(p.sv.c) : NULL;
	uint8_t a[100], b[100], c[100];
	ok = cp && sp && tls_conn_export(p.cl.c, "EXPORTER-x", (const uint8_t *)"ctx", 3, a, 100) == 0 &&
	     tls_post_export(cp, "EXPORTER-x", (const uint8_t *)"ctx", 3, b, 100) == 0 &&
	     tls_post_export(sp, "EXPORTER-x", (const uint8_t *)"ctx", 3, c, 100) == 0;
	test_ok(ok && !memcmp(a, b, 100) && !memcmp(a, c, 100),
		"exporter: client and server tls_post agree with tls_conn_export");
	test_ok(cp && tls_post_export(cp, "EXPORTER-x", NULL, 0, a, 255 * 32 + 1) == -1 &&
		tls_post_export(cp, NULL, NULL, 0, a, 16) == -1,
		"exporter: over 255 hashes or no label refused");
	tls_post_free(cp);
	tls_post_free(sp);
	test_pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

int main(void)
{
	test_pki_make(&pki, TESTKEY_P256, "server.test", 0);
	test_pki_make(&client_pki, TESTKEY_P256, "client.test", 0);
	encode_decode();
	decode_rejects();
	key_update();
	client_tickets();
	server_tickets();
	exporter_pair();
	openssl();
	test_pki_free(&pki);
	test_pki_free(&client_pki);
	return test_done();
}
