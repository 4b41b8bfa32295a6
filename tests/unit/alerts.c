/* Negative tests: every way a peer can misbehave gets the RFC's alert.
 *
 * Each case checks three things: the return code names the alert
 * (TLS_ERR_LOCAL), the record the engine put in `out` is that fatal alert
 * (decrypted with the keys learned through the secret callback when the
 * engine already sends protected records), and the connection processes
 * nothing further (a later call fails again and writes nothing).
 *
 * Malformed ClientHellos are built by hand with tls_buf; malformed server
 * flights, Finished, CertificateVerify and post-handshake records come from a
 * real handshake between our own client and server, decrypted, edited and
 * sealed again with the traffic secrets the engine reported.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "pair.h"
#include "test.h"
#include "testkeys.h"
#include "tls/engine.h"
#include "tls/test_hooks.h"

#define HS_CLIENT_HELLO 1
#define HS_SERVER_HELLO 2
#define HS_ENCRYPTED_EXTENSIONS 8
#define HS_CERTIFICATE 11
#define HS_CERTIFICATE_VERIFY 15
#define HS_FINISHED 20
#define HS_KEY_UPDATE 24

#define EXT_SERVER_NAME 0x0000
#define EXT_SUPPORTED_GROUPS 0x000a
#define EXT_SIGNATURE_ALGORITHMS 0x000d
#define EXT_ALPN 0x0010
#define EXT_PADDING 0x0015
#define EXT_PRE_SHARED_KEY 0x0029
#define EXT_SUPPORTED_VERSIONS 0x002b
#define EXT_PSK_MODES 0x002d
#define EXT_KEY_SHARE 0x0033

static struct test_pki pki;       /* the server's certificate */
static struct test_pki other_pki; /* a CA the client does not trust */
static uint8_t x25519_pub[32];    /* a valid share for hand-made ClientHellos */

/* ---- alert checks ---- */

static void expect_alert(const char *name, struct test_side *s, int rc, int alert)
{
	bool enc;
	int got = test_side_alert(s, &enc);
	bool ok = TLS_IS_LOCAL_ERR(rc) && TLS_ERR_ALERT(rc) == alert && got == alert;
	test_ok(ok, "%s -> %s (%s)", name, tls_alert_name(alert), enc ? "protected" : "plaintext");
	if (!ok)
		test_diag("%s: returned %d (%s), alert record in out: %d, engine says: %s", name, rc,
			  TLS_IS_LOCAL_ERR(rc) || TLS_IS_PEER_ERR(rc) ? tls_alert_name(TLS_ERR_ALERT(rc))
								     : "no error",
			  got, tls_conn_error(s->c));
	/* A dead connection stays dead: the next call fails and writes nothing. */
	static const uint8_t again[] = { 22, 3, 3, 0, 4, HS_FINISHED, 0, 0, 0 };
	size_t n = sizeof(again), before = s->out.len;
	int rc2 = tls_conn_handshake(s->c, &s->out, again, &n);
	test_ok(rc2 < 0 && s->out.len == before, "%s: nothing processed after the alert (%d)", name,
		rc2);
}

/* ---- hand-made ClientHellos ---- */

struct ext {
	uint16_t type;
	uint8_t data[2200];
	size_t len;
};

struct ch {
	uint16_t version;
	uint8_t sid_len;
	uint16_t ciphers[8];
	size_t n_ciphers;
	uint8_t comp[4];
	size_t n_comp;
	struct ext ext[16];
	size_t n_ext;
	long ext_len_delta; /* lie about the extensions length */
};

static struct ext *ch_append(struct ch *h, uint16_t type, const void *data, size_t len)
{
	struct ext *e = &h->ext[h->n_ext++];
	e->type = type;
	memcpy(e->data, data, len);
	e->len = len;
	return e;
}

static struct ext *ch_find(struct ch *h, uint16_t type)
{
	for (size_t i = 0; i < h->n_ext; i++)
		if (h->ext[i].type == type)
			return &h->ext[i];
	return NULL;
}

static void ch_put(struct ch *h, uint16_t type, const void *data, size_t len)
{
	struct ext *e = ch_find(h, type);
	if (!e) {
		ch_append(h, type, data, len);
		return;
	}
	memcpy(e->data, data, len);
	e->len = len;
}

static void ch_del(struct ch *h, uint16_t type)
{
	for (size_t i = 0; i < h->n_ext; i++)
		if (h->ext[i].type == type) {
			memmove(&h->ext[i], &h->ext[i + 1], (h->n_ext - i - 1) * sizeof(h->ext[0]));
			h->n_ext--;
			return;
		}
}

/* u16 list with a 1- or 2-byte length prefix */
static size_t u16_list(uint8_t *out, int width, const uint16_t *v, size_t n)
{
	tls_buf b;
	tls_buf_init_fixed(&b, out, 600);
	tls_write_open(&b, width);
	for (size_t i = 0; i < n; i++)
		tls_write_u16(&b, v[i]);
	tls_write_close(&b);
	return b.len;
}

static size_t key_share(uint8_t *out, uint16_t group, const uint8_t *pub, size_t len)
{
	tls_buf b;
	tls_buf_init_fixed(&b, out, 600);
	tls_write_open(&b, 2);
	if (pub) {
		tls_write_u16(&b, group);
		tls_write_open(&b, 2);
		tls_write_bytes(&b, pub, len);
		tls_write_close(&b);
	}
	tls_write_close(&b);
	return b.len;
}

static void ch_default(struct ch *h)
{
	static const uint16_t versions[] = { 0x0304 };
	static const uint16_t groups[] = { TLS_GROUP_X25519, TLS_GROUP_SECP256R1 };
	static const uint16_t sigalgs[] = { TLS_SIG_ECDSA_SECP256R1_SHA256, TLS_SIG_RSA_PSS_RSAE_SHA256,
					    TLS_SIG_ED25519 };
	uint8_t tmp[600];
	memset(h, 0, sizeof(*h));
	h->version = 0x0303;
	h->ciphers[0] = TLS_AES_128_GCM_SHA256;
	h->ciphers[1] = TLS_AES_256_GCM_SHA384;
	h->n_ciphers = 2;
	h->n_comp = 1;
	ch_append(h, EXT_SUPPORTED_VERSIONS, tmp, u16_list(tmp, 1, versions, 1));
	ch_append(h, EXT_SUPPORTED_GROUPS, tmp, u16_list(tmp, 2, groups, 2));
	ch_append(h, EXT_SIGNATURE_ALGORITHMS, tmp, u16_list(tmp, 2, sigalgs, 3));
	ch_append(h, EXT_KEY_SHARE, tmp, key_share(tmp, TLS_GROUP_X25519, x25519_pub, 32));
}

/* The ClientHello as plaintext handshake record(s). */
static void ch_records(const struct ch *h, tls_buf *rec)
{
	tls_buf m;
	tls_buf_init(&m, 0);
	tls_write_u8(&m, HS_CLIENT_HELLO);
	tls_write_open(&m, 3);
	tls_write_u16(&m, h->version);
	uint8_t random[32];
	memset(random, 0x42, sizeof(random));
	tls_write_bytes(&m, random, 32);
	tls_write_u8(&m, h->sid_len);
	tls_write_zeros(&m, h->sid_len);
	tls_write_u16(&m, (uint16_t)(2 * h->n_ciphers));
	for (size_t i = 0; i < h->n_ciphers; i++)
		tls_write_u16(&m, h->ciphers[i]);
	tls_write_u8(&m, (uint8_t)h->n_comp);
	tls_write_bytes(&m, h->comp, h->n_comp);
	size_t total = 0;
	for (size_t i = 0; i < h->n_ext; i++)
		total += 4 + h->ext[i].len;
	tls_write_u16(&m, (uint16_t)((long)total + h->ext_len_delta));
	for (size_t i = 0; i < h->n_ext; i++) {
		tls_write_u16(&m, h->ext[i].type);
		tls_write_u16(&m, (uint16_t)h->ext[i].len);
		tls_write_bytes(&m, h->ext[i].data, h->ext[i].len);
	}
	tls_write_close(&m);
	tls_buf_init(rec, 0);
	for (size_t off = 0; off < m.len; off += TLS_MAX_PLAINTEXT) {
		size_t n = m.len - off > TLS_MAX_PLAINTEXT ? TLS_MAX_PLAINTEXT : m.len - off;
		tls_write_u8(rec, 22);
		tls_write_u16(rec, 0x0301);
		tls_write_u16(rec, (uint16_t)n);
		tls_write_bytes(rec, m.base + off, n);
	}
	tls_buf_free(&m);
}

/* Feeds raw bytes to a fresh default server and expects `alert`. */
static void server_raw_case(const char *name, const uint8_t *in, size_t len, int alert,
			    tls_config *cfg)
{
	tls_config *own = cfg ? NULL : test_server_config(&pki);
	struct test_side sv;
	test_side_init(&sv, cfg ? cfg : own);
	int rc = test_side_hs(&sv, in, len, NULL);
	expect_alert(name, &sv, rc, alert);
	test_side_free(&sv);
	tls_config_free(own);
}

static void server_ch_case(const char *name, const struct ch *h, int alert, tls_config *cfg)
{
	tls_buf rec;
	ch_records(h, &rec);
	server_raw_case(name, rec.base, rec.len, alert, cfg);
	tls_buf_free(&rec);
}

static void client_hello_tests(void)
{
	struct ch h;
	uint8_t tmp[2200];
	tls_buf rec;

	/* Positive controls: the default hand-made hello is accepted, and a
	 * supported group without a share gets a HelloRetryRequest. */
	tls_config *cfg = test_server_config(&pki);
	struct test_side sv;
	ch_default(&h);
	ch_append(&h, 0xfafa, "", 0); /* unknown (GREASE) extension: ignored */
	ch_records(&h, &rec);
	test_side_init(&sv, cfg);
	int rc = test_side_hs(&sv, rec.base, rec.len, NULL);
	test_ok(rc == TLS_WANT_INPUT && sv.out.len > 0 && sv.out.base[0] == 22,
		"control: hand-made ClientHello (with an unknown extension) is accepted (%d: %s)", rc,
		tls_conn_error(sv.c));
	test_side_free(&sv);
	tls_buf_free(&rec);

	ch_default(&h);
	ch_put(&h, EXT_KEY_SHARE, tmp, key_share(tmp, 0, NULL, 0));
	ch_records(&h, &rec);
	test_side_init(&sv, cfg);
	rc = test_side_hs(&sv, rec.base, rec.len, NULL);
	static const uint8_t hrr_random[] = { 0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11 };
	test_ok(rc == TLS_WANT_INPUT && sv.out.len > 19 && sv.out.base[5] == HS_SERVER_HELLO &&
			memcmp(sv.out.base + 11, hrr_random, sizeof(hrr_random)) == 0,
		"supported group without a share -> HelloRetryRequest (%d: %s)", rc,
		tls_conn_error(sv.c));
	test_side_free(&sv);
	tls_buf_free(&rec);

	/* Partial record: not an error, nothing consumed. */
	ch_default(&h);
	ch_records(&h, &rec);
	test_side_init(&sv, cfg);
	size_t used = 1;
	rc = test_side_hs(&sv, rec.base, rec.len - 10, &used);
	test_ok(rc == TLS_WANT_INPUT && used == 0 && sv.out.len == 0,
		"partial record: wants input, consumes nothing (%d, %zu)", rc, used);
	test_side_free(&sv);
	tls_buf_free(&rec);
	tls_config_free(cfg);

	/* ---- record layer ---- */
	static const uint8_t empty_hs[] = { 22, 3, 1, 0, 0 };
	server_raw_case("empty handshake record", empty_hs, sizeof(empty_hs),
			TLS_ALERT_UNEXPECTED_MESSAGE, NULL);
	static const uint8_t bad_type[] = { 25, 3, 1, 0, 1, 0 };
	server_raw_case("unknown record type 25", bad_type, sizeof(bad_type),
			TLS_ALERT_UNEXPECTED_MESSAGE, NULL);
	uint8_t *big = calloc(1, 5 + 16385);
	if (!big)
		abort();
	big[0] = 22, big[1] = 3, big[2] = 1, big[3] = 0x40, big[4] = 0x01;
	big[5] = HS_CLIENT_HELLO;
	server_raw_case("plaintext record of 16385 bytes", big, 5 + 16385,
			TLS_ALERT_RECORD_OVERFLOW, NULL);
	free(big);
	static const uint8_t early_ccs[] = { 20, 3, 3, 0, 1, 1 };
	server_raw_case("change_cipher_spec before ClientHello", early_ccs, sizeof(early_ccs),
			TLS_ALERT_UNEXPECTED_MESSAGE, NULL);
	static const uint8_t early_fin[] = { 22, 3, 1, 0, 36, HS_FINISHED, 0, 0, 32 };
	uint8_t fin[5 + 36] = { 0 };
	memcpy(fin, early_fin, sizeof(early_fin));
	server_raw_case("Finished instead of ClientHello", fin, sizeof(fin),
			TLS_ALERT_UNEXPECTED_MESSAGE, NULL);
	static const uint8_t appdata[] = { 23, 3, 3, 0, 17, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
					   13, 14, 15, 16, 17 };
	server_raw_case("protected record before any key", appdata, sizeof(appdata),
			TLS_ALERT_UNEXPECTED_MESSAGE, NULL);

	/* §5.1: legacy_record_version MUST be ignored; what is wrong with an
	 * application_data record before any key is the record itself */
	static const uint8_t appdata_0300[] = { 23, 3, 0, 0, 0 };
	server_raw_case("empty application_data record stamped 0x0300 before any key",
			appdata_0300, sizeof(appdata_0300), TLS_ALERT_UNEXPECTED_MESSAGE, NULL);
	static const uint8_t ccs_0300[] = { 20, 3, 0, 0, 1, 1 };
	server_raw_case("change_cipher_spec stamped 0x0300 before ClientHello", ccs_0300,
			sizeof(ccs_0300), TLS_ALERT_UNEXPECTED_MESSAGE, NULL);

	/* ---- ClientHello contents ---- */
	ch_default(&h);
	h.version = 0x0300;
	server_ch_case("legacy_version 0x0300 with TLS 1.3 in supported_versions (D.5)", &h,
		       TLS_ALERT_PROTOCOL_VERSION, NULL);
	ch_default(&h);
	h.version = 0x0200;
	server_ch_case("legacy_version 0x0200 (SSL 2)", &h, TLS_ALERT_PROTOCOL_VERSION, NULL);
	{
		/* a ClientHello record stamped 0x0300 is read all the same */
		ch_default(&h);
		ch_records(&h, &rec);
		rec.base[2] = 0;
		cfg = test_server_config(&pki);
		test_side_init(&sv, cfg);
		rc = test_side_hs(&sv, rec.base, rec.len, NULL);
		test_ok(rc == TLS_WANT_INPUT && sv.out.len > 0 && sv.out.base[0] == 22,
			"ClientHello record stamped 0x0300: record version ignored (%d: %s)", rc,
			tls_conn_error(sv.c));
		test_side_free(&sv);
		tls_buf_free(&rec);
		tls_config_free(cfg);
	}

	ch_default(&h);
	h.ext_len_delta = 20;
	server_ch_case("ClientHello truncated inside its extensions", &h, TLS_ALERT_DECODE_ERROR,
		       NULL);

	ch_default(&h);
	memset(tmp, 0, 2000);
	ch_append(&h, EXT_PADDING, tmp, 2000);
	cfg = test_server_config(&pki);
	tls_config_set_max_handshake(cfg, 1024);
	server_ch_case("ClientHello over the 1024-byte message cap", &h,
		       TLS_ALERT_ILLEGAL_PARAMETER, cfg);
	tls_config_free(cfg);

	ch_default(&h);
	ch_append(&h, EXT_SUPPORTED_GROUPS, ch_find(&h, EXT_SUPPORTED_GROUPS)->data,
		  ch_find(&h, EXT_SUPPORTED_GROUPS)->len);
	server_ch_case("duplicated supported_groups", &h, TLS_ALERT_ILLEGAL_PARAMETER, NULL);

	{
		/* A well-formed pre_shared_key, but not the last extension. */
		tls_buf b;
		tls_buf_init_fixed(&b, tmp, sizeof(tmp));
		tls_write_open(&b, 2);
		tls_write_open(&b, 2);
		tls_write_bytes(&b, "ticket-identity", 15);
		tls_write_close(&b);
		tls_write_u32(&b, 1234);
		tls_write_close(&b);
		tls_write_open(&b, 2);
		tls_write_open(&b, 1);
		tls_write_zeros(&b, 32);
		tls_write_close(&b);
		tls_write_close(&b);
		ch_default(&h);
		static const uint8_t modes[] = { 1, 1 };
		ch_append(&h, EXT_PSK_MODES, modes, 2);
		struct ext ks = *ch_find(&h, EXT_KEY_SHARE);
		ch_del(&h, EXT_KEY_SHARE);
		ch_append(&h, EXT_PRE_SHARED_KEY, tmp, b.len);
		ch_append(&h, ks.type, ks.data, ks.len);
		server_ch_case("pre_shared_key not the last extension", &h,
			       TLS_ALERT_ILLEGAL_PARAMETER, NULL);
	}

	ch_default(&h);
	h.n_comp = 2;
	h.comp[0] = 1;
	h.comp[1] = 0;
	server_ch_case("compression methods {1, 0}", &h, TLS_ALERT_ILLEGAL_PARAMETER, NULL);

	ch_default(&h);
	ch_del(&h, EXT_SUPPORTED_VERSIONS);
	server_ch_case("no supported_versions (TLS 1.2 ClientHello)", &h,
		       TLS_ALERT_PROTOCOL_VERSION, NULL);

	ch_default(&h);
	{
		static const uint16_t v12[] = { 0x0303, 0x0302 };
		ch_put(&h, EXT_SUPPORTED_VERSIONS, tmp, u16_list(tmp, 1, v12, 2));
	}
	server_ch_case("supported_versions offers TLS 1.2/1.1 only", &h,
		       TLS_ALERT_PROTOCOL_VERSION, NULL);

	ch_default(&h);
	ch_del(&h, EXT_SIGNATURE_ALGORITHMS);
	server_ch_case("no signature_algorithms", &h, TLS_ALERT_MISSING_EXTENSION, NULL);

	ch_default(&h);
	{
		static const uint16_t sha1[] = { 0x0201, 0x0203 };
		ch_put(&h, EXT_SIGNATURE_ALGORITHMS, tmp, u16_list(tmp, 2, sha1, 2));
	}
	server_ch_case("signature_algorithms with only SHA-1 schemes", &h,
		       TLS_ALERT_HANDSHAKE_FAILURE, NULL);

	ch_default(&h);
	h.ciphers[0] = 0x00ff, h.ciphers[1] = 0xc02f;
	server_ch_case("only unknown cipher suites", &h, TLS_ALERT_HANDSHAKE_FAILURE, NULL);

	ch_default(&h);
	{
		static const uint16_t unknown[] = { 0x0a0a, 0x1234, 0x0100 /* ffdhe2048: opt-in */ };
		ch_put(&h, EXT_SUPPORTED_GROUPS, tmp, u16_list(tmp, 2, unknown, 3));
		ch_put(&h, EXT_KEY_SHARE, tmp, key_share(tmp, 0, NULL, 0));
	}
	server_ch_case("only unknown groups", &h, TLS_ALERT_HANDSHAKE_FAILURE, NULL);

	ch_default(&h);
	{
		static const uint16_t only_p256[] = { TLS_GROUP_SECP256R1 };
		ch_put(&h, EXT_SUPPORTED_GROUPS, tmp, u16_list(tmp, 2, only_p256, 1));
	}
	server_ch_case("key_share for a group not in supported_groups", &h,
		       TLS_ALERT_ILLEGAL_PARAMETER, NULL);

	ch_default(&h);
	ch_put(&h, EXT_KEY_SHARE, tmp, key_share(tmp, TLS_GROUP_X25519, x25519_pub, 31));
	server_ch_case("x25519 share of 31 bytes", &h, TLS_ALERT_ILLEGAL_PARAMETER, NULL);

	ch_default(&h);
	{
		static const uint8_t zero[32] = { 0 };
		ch_put(&h, EXT_KEY_SHARE, tmp, key_share(tmp, TLS_GROUP_X25519, zero, 32));
	}
	server_ch_case("x25519 share of small order (all-zero secret)", &h,
		       TLS_ALERT_ILLEGAL_PARAMETER, NULL);

	ch_default(&h);
	{
		uint8_t pt[65];
		memset(pt, 0x11, sizeof(pt));
		pt[0] = 4;
		static const uint16_t p256[] = { TLS_GROUP_SECP256R1 };
		ch_put(&h, EXT_SUPPORTED_GROUPS, tmp, u16_list(tmp, 2, p256, 1));
		ch_put(&h, EXT_KEY_SHARE, tmp, key_share(tmp, TLS_GROUP_SECP256R1, pt, 65));
	}
	server_ch_case("P-256 share not on the curve", &h, TLS_ALERT_ILLEGAL_PARAMETER, NULL);

	ch_default(&h);
	{
		static const uint8_t alpn[] = { 0, 4, 3, 'f', 'o', 'o' };
		ch_append(&h, EXT_ALPN, alpn, sizeof(alpn));
	}
	cfg = test_server_config(&pki);
	tls_config_set_alpn(cfg, "h2,http/1.1");
	server_ch_case("ALPN without overlap", &h, TLS_ALERT_NO_APPLICATION_PROTOCOL, cfg);
	tls_config_free(cfg);
}

/* ---- real handshakes, tampered ---- */

/* A pair (pair.h) from these configs or the defaults (taken: the conns
 * keep their own references), the client sending "server.test". */
static void pair_new(struct test_pair *p, tls_config *ccfg, tls_config *scfg)
{
	tls_config *c = ccfg ? ccfg : test_client_config(&pki);
	tls_config *s = scfg ? scfg : test_server_config(&pki);
	test_pair_init(p, c, s, "server.test");
	tls_config_free(c);
	tls_config_free(s);
}

enum edit_op { ED_NONE, ED_DROP, ED_FLIP_LAST, ED_EE_ADD, ED_SET_U16 };
struct edit {
	enum edit_op op;
	uint8_t type;        /* message to drop / flip / extend */
	uint16_t ext_type;   /* ED_EE_ADD; ED_SET_U16: the body's first two bytes */
	const uint8_t *ext;
	size_t ext_len;
};

/* Decrypts the protected records of `recs` with the sender's handshake TX
 * secret, applies the edit to the handshake messages, and seals them again
 * (plaintext records such as ServerHello and CCS pass through first). */
static bool reseal(const struct test_side *sender, const tls_buf *recs, const struct edit *ed,
		   tls_buf *res)
{
	tls_buf plain, edited;
	tls_buf_init(&plain, 0);
	tls_buf_init(&edited, 0);
	tls_buf_init(res, 0);
	bool ok = test_side_open(sender, TLS_EPOCH_HANDSHAKE, recs, res, &plain);
	tls_reader m = tls_reader_init(plain.base, plain.len);
	bool done = false;
	while (m.left && !m.err && ok) {
		tls_reader h = m;
		uint8_t type = tls_read_u8(&h);
		uint32_t len = tls_read_u24(&h);
		const uint8_t *msg = tls_read_bytes(&m, 4 + (size_t)len);
		if (!msg)
			break;
		if (done || type != ed->type || ed->op == ED_NONE) {
			tls_write_bytes(&edited, msg, 4 + (size_t)len);
			continue;
		}
		done = true;
		if (ed->op == ED_DROP)
			continue;
		if (ed->op == ED_FLIP_LAST) {
			size_t at = edited.len + 4 + len - 1;
			tls_write_bytes(&edited, msg, 4 + (size_t)len);
			edited.base[at] ^= 0x01;
			continue;
		}
		if (ed->op == ED_SET_U16) {
			if (len < 2) {
				ok = false;
				break;
			}
			tls_write_bytes(&edited, msg, 4);
			tls_write_u16(&edited, ed->ext_type);
			tls_write_bytes(&edited, msg + 6, len - 2);
			continue;
		}
		/* ED_EE_ADD: EE body is extensions<0..2^16-1>; append one. */
		tls_write_u8(&edited, type);
		tls_write_open(&edited, 3);
		tls_write_open(&edited, 2);
		tls_write_bytes(&edited, msg + 6, len - 2);
		tls_write_u16(&edited, ed->ext_type);
		tls_write_u16(&edited, (uint16_t)ed->ext_len);
		tls_write_bytes(&edited, ed->ext, ed->ext_len);
		tls_write_close(&edited);
		tls_write_close(&edited);
	}
	ok = ok && test_side_seal(sender, TLS_EPOCH_HANDSHAKE, edited.base, edited.len, res);
	tls_buf_free(&plain);
	tls_buf_free(&edited);
	return ok && done == (ed->op != ED_NONE) && !res->err;
}

/* Server flight edited, fed to the client. */
static void client_flight_case(const char *name, const struct edit *ed, int alert)
{
	struct test_pair p;
	pair_new(&p, NULL, NULL);
	int rc = test_pair_flights(&p, 2);
	tls_buf bad;
	if (!test_ok(rc == TLS_WANT_INPUT && reseal(&p.sv, &p.sflight, ed, &bad),
		     "%s: setup (server flight made and edited, %d)", name, rc)) {
		test_pair_free(&p);
		return;
	}
	rc = test_side_hs(&p.cl, bad.base, bad.len, NULL);
	expect_alert(name, &p.cl, rc, alert);
	tls_buf_free(&bad);
	test_pair_free(&p);
}

/* ServerHello edits: one more extension, another cipher, a different
 * session id echo, or supported_versions naming another version. */
struct sh_edit {
	uint16_t add_type;
	const uint8_t *add;
	size_t add_len;
	uint16_t cipher;
	bool flip_sid;
	uint16_t version;
	uint16_t legacy;     /* ServerHello.legacy_version, when not 0 */
	const uint8_t *share; /* key_exchange bytes replacing the server's */
	size_t share_len;
};

static bool sh_rewrite(const tls_buf *flight, const struct sh_edit *e, tls_buf *res)
{
	tls_reader r = tls_reader_init(flight->base, flight->len);
	tls_read_bytes(&r, 3);
	uint16_t n = tls_read_u16(&r);
	tls_reader body = tls_read_sub(&r, n);
	if (tls_read_u8(&body) != HS_SERVER_HELLO)
		return false;
	tls_read_u24(&body);
	uint16_t version = tls_read_u16(&body);
	const uint8_t *random = tls_read_bytes(&body, 32);
	tls_reader sid = tls_read_vec8(&body, 0, 32);
	uint16_t cs = tls_read_u16(&body);
	uint8_t comp = tls_read_u8(&body);
	tls_reader exts = tls_read_vec16(&body, 0, 65535);
	if (r.err || body.err || !random || (e->flip_sid && sid.left == 0))
		return false;
	tls_buf_init(res, 0);
	tls_write_u8(res, 22);
	tls_write_u16(res, 0x0303);
	tls_write_open(res, 2);
	tls_write_u8(res, HS_SERVER_HELLO);
	tls_write_open(res, 3);
	tls_write_u16(res, e->legacy ? e->legacy : version);
	tls_write_bytes(res, random, 32);
	tls_write_u8(res, (uint8_t)sid.left);
	size_t at = res->len;
	tls_write_bytes(res, sid.p, sid.left);
	if (e->flip_sid)
		res->base[at] ^= 1;
	tls_write_u16(res, e->cipher ? e->cipher : cs);
	tls_write_u8(res, comp);
	tls_write_open(res, 2);
	while (exts.left && !exts.err) {
		uint16_t type = tls_read_u16(&exts);
		tls_reader data = tls_read_vec16(&exts, 0, 65535);
		tls_write_u16(res, type);
		if (type == EXT_SUPPORTED_VERSIONS && e->version) {
			tls_write_u16(res, 2);
			tls_write_u16(res, e->version);
			continue;
		}
		if (type == EXT_KEY_SHARE && e->share) {
			tls_write_u16(res, (uint16_t)(4 + e->share_len));
			tls_write_u16(res, tls_read_u16(&data));
			tls_write_u16(res, (uint16_t)e->share_len);
			tls_write_bytes(res, e->share, e->share_len);
			continue;
		}
		tls_write_u16(res, (uint16_t)data.left);
		tls_write_bytes(res, data.p, data.left);
	}
	if (e->add_type || e->add) {
		tls_write_u16(res, e->add_type);
		tls_write_u16(res, (uint16_t)e->add_len);
		tls_write_bytes(res, e->add, e->add_len);
	}
	tls_write_close(res);
	tls_write_close(res);
	tls_write_close(res);
	/* the rest of the flight (CCS, protected records) unchanged */
	tls_write_bytes(res, r.p, r.left);
	return !res->err && !exts.err;
}

static void server_hello_case(const char *name, tls_config *ccfg, const struct sh_edit *e,
			      int alert)
{
	struct test_pair p;
	pair_new(&p, ccfg, NULL);
	int rc = test_pair_flights(&p, 2);
	tls_buf bad;
	if (!test_ok(rc == TLS_WANT_INPUT && sh_rewrite(&p.sflight, e, &bad), "%s: setup (%d)",
		     name, rc)) {
		test_pair_free(&p);
		return;
	}
	rc = test_side_hs(&p.cl, bad.base, bad.len, NULL);
	expect_alert(name, &p.cl, rc, alert);
	tls_buf_free(&bad);
	test_pair_free(&p);
}

/* A hand-made HelloRetryRequest for the client's ClientHello in p->ch. */
static void hrr_record(const struct test_pair *p, uint16_t group, tls_buf *rec)
{
	static const uint8_t hrr_random[32] = {
		0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65,
		0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2,
		0xc8, 0xa8, 0x33, 0x9c,
	};
	tls_reader r = tls_reader_init(p->ch.base, p->ch.len);
	tls_read_bytes(&r, TLS_RECORD_HEADER + 4 + 2 + 32);
	tls_reader sid = tls_read_vec8(&r, 0, 32);
	tls_buf_init(rec, 0);
	tls_write_u8(rec, 22);
	tls_write_u16(rec, 0x0303);
	tls_write_open(rec, 2);
	tls_write_u8(rec, HS_SERVER_HELLO);
	tls_write_open(rec, 3);
	tls_write_u16(rec, 0x0303);
	tls_write_bytes(rec, hrr_random, 32);
	tls_write_u8(rec, (uint8_t)sid.left);
	tls_write_bytes(rec, sid.p, sid.left);
	tls_write_u16(rec, TLS_AES_128_GCM_SHA256);
	tls_write_u8(rec, 0);
	tls_write_open(rec, 2);
	tls_write_u16(rec, EXT_SUPPORTED_VERSIONS);
	tls_write_u16(rec, 2);
	tls_write_u16(rec, 0x0304);
	tls_write_u16(rec, EXT_KEY_SHARE);
	tls_write_u16(rec, 2);
	tls_write_u16(rec, group);
	tls_write_close(rec);
	tls_write_close(rec);
	tls_write_close(rec);
}

static void client_hrr_case(const char *name, uint16_t group, int alert)
{
	struct test_pair p;
	tls_config *ccfg = test_client_config(&pki);
	static const uint16_t groups[] = { TLS_GROUP_X25519, TLS_GROUP_SECP256R1 };
	tls_config_set_groups(ccfg, groups, 2);
	tls_config_set_key_share_groups(ccfg, groups, 1);
	pair_new(&p, ccfg, NULL);
	int rc = test_pair_flights(&p, 1);
	tls_buf hrr;
	hrr_record(&p, group, &hrr);
	if (test_ok(rc == TLS_WANT_INPUT && !hrr.err, "%s: setup", name)) {
		rc = test_side_hs(&p.cl, hrr.base, hrr.len, NULL);
		expect_alert(name, &p.cl, rc, alert);
	}
	tls_buf_free(&hrr);
	test_pair_free(&p);
}

/* Server: ClientHello1 without a share gets an HRR; then ClientHello2. */
static void server_ch2_case(const char *name, bool cookie, bool change, int alert)
{
	tls_config *cfg = test_server_config(&pki);
	struct test_side sv;
	struct ch h;
	uint8_t tmp[600];
	tls_buf rec;
	test_side_init(&sv, cfg);
	ch_default(&h);
	ch_put(&h, EXT_KEY_SHARE, tmp, key_share(tmp, 0, NULL, 0));
	ch_records(&h, &rec);
	int rc = test_side_hs(&sv, rec.base, rec.len, NULL);
	tls_buf_free(&rec);
	/* find the cookie in the HRR */
	tls_reader r = tls_reader_init(sv.out.base, sv.out.len);
	tls_read_bytes(&r, TLS_RECORD_HEADER + 4 + 2 + 32);
	tls_read_vec8(&r, 0, 32);
	tls_read_bytes(&r, 3);
	tls_reader exts = tls_read_vec16(&r, 0, 65535);
	const uint8_t *ck = NULL;
	size_t ck_len = 0;
	while (exts.left && !exts.err) {
		uint16_t type = tls_read_u16(&exts);
		tls_reader data = tls_read_vec16(&exts, 0, 65535);
		if (type == 0x002c && !exts.err) {
			ck = data.p;
			ck_len = data.left;
		}
	}
	if (!test_ok(rc == TLS_WANT_INPUT && ck && ck_len <= sizeof(h.ext[0].data),
		     "%s: setup (HelloRetryRequest with a cookie, %d)", name, rc)) {
		test_side_free(&sv);
		tls_config_free(cfg);
		return;
	}
	ch_default(&h);
	if (cookie)
		ch_append(&h, 0x002c, ck, ck_len);
	if (change)
		h.n_ciphers = 1;
	ch_records(&h, &rec);
	rc = test_side_hs(&sv, rec.base, rec.len, NULL);
	tls_buf_free(&rec);
	if (alert)
		expect_alert(name, &sv, rc, alert);
	else
		test_ok(rc == TLS_WANT_INPUT && sv.out.len > 0, "%s (%d: %s)", name, rc,
			tls_conn_error(sv.c));
	test_side_free(&sv);
	tls_config_free(cfg);
}

static void handshake_tests(void)
{
	/* Positive control: the full handshake works. */
	struct test_pair p;
	pair_new(&p, NULL, NULL);
	int rc = test_pair_flights(&p, 4);
	test_ok(rc == 0 && tls_conn_handshake_done(p.cl.c) && tls_conn_handshake_done(p.sv.c),
		"control: in-memory handshake completes (%d: %s / %s)", rc, tls_conn_error(p.cl.c),
		tls_conn_error(p.sv.c));
	test_pair_free(&p);

	struct edit ed = { .op = ED_DROP, .type = HS_CERTIFICATE };
	/* drop Certificate only: CertificateVerify arrives first */
	client_flight_case("CertificateVerify before Certificate", &ed, TLS_ALERT_UNEXPECTED_MESSAGE);
	ed = (struct edit){ .op = ED_FLIP_LAST, .type = HS_CERTIFICATE_VERIFY };
	client_flight_case("bad CertificateVerify signature", &ed, TLS_ALERT_DECRYPT_ERROR);
	/* an offered scheme that the server's P-256 key cannot have made */
	ed = (struct edit){ .op = ED_SET_U16, .type = HS_CERTIFICATE_VERIFY,
			    .ext_type = TLS_SIG_RSA_PSS_RSAE_SHA256 };
	client_flight_case("CertificateVerify scheme that does not fit the key", &ed,
			   TLS_ALERT_ILLEGAL_PARAMETER);
	ed = (struct edit){ .op = ED_FLIP_LAST, .type = HS_FINISHED };
	client_flight_case("bad server Finished", &ed, TLS_ALERT_DECRYPT_ERROR);
	static const uint8_t v13[] = { 0x03, 0x04 };
	ed = (struct edit){ .op = ED_EE_ADD, .type = HS_ENCRYPTED_EXTENSIONS,
			    .ext_type = EXT_SUPPORTED_VERSIONS, .ext = v13, .ext_len = 2 };
	client_flight_case("supported_versions in EncryptedExtensions", &ed,
			   TLS_ALERT_ILLEGAL_PARAMETER);
	static const uint8_t alpn_h2[] = { 0, 3, 2, 'h', '2' };
	ed = (struct edit){ .op = ED_EE_ADD, .type = HS_ENCRYPTED_EXTENSIONS, .ext_type = EXT_ALPN,
			    .ext = alpn_h2, .ext_len = sizeof(alpn_h2) };
	client_flight_case("ALPN in EncryptedExtensions that was not offered", &ed,
			   TLS_ALERT_UNSUPPORTED_EXTENSION);

	/* Finished directly after EncryptedExtensions: drop Certificate and
	 * CertificateVerify (two passes). */
	{
		pair_new(&p, NULL, NULL);
		rc = test_pair_flights(&p, 2);
		tls_buf once, twice;
		struct edit d1 = { .op = ED_DROP, .type = HS_CERTIFICATE };
		struct edit d2 = { .op = ED_DROP, .type = HS_CERTIFICATE_VERIFY };
		bool ok = rc == TLS_WANT_INPUT && reseal(&p.sv, &p.sflight, &d1, &once);
		/* the second pass must decrypt what the first sealed: same key, seq 0 */
		ok = ok && reseal(&p.sv, &once, &d2, &twice);
		if (test_ok(ok, "Finished before Certificate: setup")) {
			rc = test_side_hs(&p.cl, twice.base, twice.len, NULL);
			expect_alert("Finished before Certificate", &p.cl, rc,
				     TLS_ALERT_UNEXPECTED_MESSAGE);
		}
		if (ok)
			tls_buf_free(&twice);
		tls_buf_free(&once);
		test_pair_free(&p);
	}

	/* bad record MAC: one ciphertext bit flipped */
	pair_new(&p, NULL, NULL);
	rc = test_pair_flights(&p, 2);
	if (test_ok(rc == TLS_WANT_INPUT && p.sflight.len > 40, "bad record MAC: setup")) {
		p.sflight.base[p.sflight.len - 20] ^= 0x80;
		rc = test_side_hs(&p.cl, p.sflight.base, p.sflight.len, NULL);
		expect_alert("server flight with a flipped ciphertext bit", &p.cl, rc,
			     TLS_ALERT_BAD_RECORD_MAC);
	}
	test_pair_free(&p);

	/* ServerHello problems */
	static const uint8_t alpn_ext[] = { 0, 3, 2, 'h', '2' };
	struct sh_edit e = { .add_type = EXT_ALPN, .add = alpn_ext, .add_len = sizeof(alpn_ext) };
	server_hello_case("ALPN in ServerHello", NULL, &e, TLS_ALERT_ILLEGAL_PARAMETER);
	e = (struct sh_edit){ .add_type = 0xff77, .add = alpn_ext, .add_len = 0 };
	server_hello_case("unknown extension 0xff77 in ServerHello", NULL, &e,
			  TLS_ALERT_UNSUPPORTED_EXTENSION);
	e = (struct sh_edit){ .flip_sid = true };
	server_hello_case("ServerHello echoes another session id", NULL, &e,
			  TLS_ALERT_ILLEGAL_PARAMETER);
	e = (struct sh_edit){ .version = 0x0303 };
	server_hello_case("ServerHello supported_versions says TLS 1.2", NULL, &e,
			  TLS_ALERT_ILLEGAL_PARAMETER);
	e = (struct sh_edit){ .legacy = 0x0300 };
	server_hello_case("ServerHello legacy_version 0x0300 (D.5)", NULL, &e,
			  TLS_ALERT_PROTOCOL_VERSION);
	{
		tls_config *ccfg = test_client_config(&pki);
		static const uint16_t only128[] = { TLS_AES_128_GCM_SHA256 };
		tls_config_set_ciphers(ccfg, only128, 1);
		e = (struct sh_edit){ .cipher = TLS_AES_256_GCM_SHA384 };
		server_hello_case("ServerHello picks a cipher not offered", ccfg, &e,
				  TLS_ALERT_ILLEGAL_PARAMETER);
	}

	/* HelloRetryRequest that would not change the ClientHello, or asks
	 * for a group never offered */
	client_hrr_case("HelloRetryRequest for the group already shared", TLS_GROUP_X25519,
			TLS_ALERT_ILLEGAL_PARAMETER);
	client_hrr_case("HelloRetryRequest for a group not offered", TLS_GROUP_SECP384R1,
			TLS_ALERT_ILLEGAL_PARAMETER);
	server_ch2_case("control: second ClientHello with the cookie and a share", true, false, 0);
	server_ch2_case("second ClientHello without the cookie", false, false,
			TLS_ALERT_ILLEGAL_PARAMETER);
	server_ch2_case("second ClientHello with other cipher suites", true, true,
			TLS_ALERT_ILLEGAL_PARAMETER);

	/* HelloRetryRequest twice */
	{
		tls_config *ccfg = test_client_config(&pki), *scfg = test_server_config(&pki);
		static const uint16_t cgroups[] = { TLS_GROUP_X25519, TLS_GROUP_SECP256R1 };
		static const uint16_t sgroups[] = { TLS_GROUP_SECP256R1 };
		tls_config_set_groups(ccfg, cgroups, 2);
		tls_config_set_key_share_groups(ccfg, cgroups, 1);
		tls_config_set_compat_mode(ccfg, false);
		tls_config_set_groups(scfg, sgroups, 1);
		pair_new(&p, ccfg, scfg);
		rc = test_pair_flights(&p, 2);
		int rc2 = rc == TLS_WANT_INPUT ? test_side_hs(&p.cl, p.sflight.base, p.sflight.len, NULL) : rc;
		if (test_ok(rc == TLS_WANT_INPUT && rc2 == TLS_WANT_INPUT && p.cl.out.len > 0,
			    "HelloRetryRequest twice: setup, first HRR answered (%d, %d)", rc, rc2)) {
			rc = test_side_hs(&p.cl, p.sflight.base, p.sflight.len, NULL);
			expect_alert("second HelloRetryRequest", &p.cl, rc,
				     TLS_ALERT_UNEXPECTED_MESSAGE);
		}
		test_pair_free(&p);
	}

	/* Certificates */
	{
		struct test_pki expired, noname;
		test_pki_make(&expired, TESTKEY_P256, "server.test", TEST_PKI_EXPIRED);
		test_pki_make(&noname, TESTKEY_P256, "other.test", 0);
		struct {
			const char *name;
			tls_config *ccfg, *scfg;
			int alert;
		} cases[] = {
			{ "server certificate from an untrusted CA", test_client_config(&other_pki),
			  test_server_config(&pki), TLS_ALERT_UNKNOWN_CA },
			{ "expired server certificate", test_client_config(&expired),
			  test_server_config(&expired), TLS_ALERT_CERTIFICATE_EXPIRED },
			{ "server certificate for another name", test_client_config(&noname),
			  test_server_config(&noname), TLS_ALERT_BAD_CERTIFICATE },
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			pair_new(&p, cases[i].ccfg, cases[i].scfg);
			rc = test_pair_flights(&p, 3);
			expect_alert(cases[i].name, &p.cl, rc, cases[i].alert);
			test_pair_free(&p);
		}
		test_pki_free(&expired);
		test_pki_free(&noname);
	}

	/* Client certificate required, none sent */
	{
		tls_config *scfg = test_server_config(&pki);
		char err[256];
		tls_config_load_ca(scfg, pki.ca_path, err, sizeof(err));
		tls_config_set_client_auth(scfg, TLS_CLIENT_AUTH_REQUIRE);
		pair_new(&p, NULL, scfg);
		rc = test_pair_flights(&p, 3);
		if (test_ok(rc == 0, "certificate_required: client finishes without a certificate (%d: "
			    "%s)", rc, tls_conn_error(p.cl.c))) {
			rc = test_side_hs(&p.sv, p.cflight.base, p.cflight.len, NULL);
			expect_alert("client sends no certificate although required", &p.sv, rc,
				     TLS_ALERT_CERTIFICATE_REQUIRED);
		}
		test_pair_free(&p);
	}

	/* Client certificates the server must refuse */
	for (int i = 0; i < 2; i++) {
		const struct test_pki *who = i == 0 ? &other_pki : &pki;
		tls_config *scfg = test_server_config(&pki), *ccfg = test_client_config(&pki);
		char err[256];
		tls_config_load_ca(scfg, pki.ca_path, err, sizeof(err));
		tls_config_set_client_auth(scfg, TLS_CLIENT_AUTH_REQUIRE);
		tls_chain chain;
		test_pki_chain(who, &chain);
		tls_config_add_cert(ccfg, &chain, test_pki_leaf_key(who));
		pair_new(&p, ccfg, scfg);
		rc = test_pair_flights(&p, 3);
		const char *name = i == 0 ? "client certificate from an untrusted CA"
					  : "bad client CertificateVerify";
		tls_buf bad;
		struct edit cv = { .op = ED_FLIP_LAST, .type = HS_CERTIFICATE_VERIFY };
		bool ok = rc == 0 && (i == 0 || reseal(&p.cl, &p.cflight, &cv, &bad));
		if (test_ok(ok, "%s: setup (%d: %s)", name, rc, tls_conn_error(p.cl.c))) {
			const tls_buf *in = i == 0 ? &p.cflight : &bad;
			rc = test_side_hs(&p.sv, in->base, in->len, NULL);
			expect_alert(name, &p.sv, rc,
				     i == 0 ? TLS_ALERT_UNKNOWN_CA : TLS_ALERT_DECRYPT_ERROR);
			if (i == 1)
				tls_buf_free(&bad);
		}
		test_pair_free(&p);
	}

	/* bad client Finished; bad MAC towards the server */
	for (int mac = 0; mac < 2; mac++) {
		pair_new(&p, NULL, NULL);
		rc = test_pair_flights(&p, 3);
		tls_buf bad;
		struct edit fe = { .op = ED_FLIP_LAST, .type = HS_FINISHED };
		bool ok = rc == 0 && (mac || reseal(&p.cl, &p.cflight, &fe, &bad));
		if (test_ok(ok, "client flight tamper (%s): setup (%d)", mac ? "MAC" : "Finished", rc)) {
			if (mac) {
				p.cflight.base[p.cflight.len - 1] ^= 1;
				rc = test_side_hs(&p.sv, p.cflight.base, p.cflight.len, NULL);
				expect_alert("client Finished with a flipped tag bit", &p.sv, rc,
					     TLS_ALERT_BAD_RECORD_MAC);
			} else {
				rc = test_side_hs(&p.sv, bad.base, bad.len, NULL);
				expect_alert("bad client Finished", &p.sv, rc, TLS_ALERT_DECRYPT_ERROR);
				tls_buf_free(&bad);
			}
		}
		test_pair_free(&p);
	}

	/* CCS with a wrong value, in the middle of a compat-mode handshake */
	{
		tls_config *ccfg = test_client_config(&pki);
		tls_config_set_compat_mode(ccfg, true);
		pair_new(&p, ccfg, NULL);
		rc = test_pair_flights(&p, 2);
		static const uint8_t ccs2[] = { 20, 3, 3, 0, 1, 2 };
		if (test_ok(rc == TLS_WANT_INPUT, "CCS value 2: setup")) {
			rc = test_side_hs(&p.sv, ccs2, sizeof(ccs2), NULL);
			expect_alert("change_cipher_spec with value 2", &p.sv, rc,
				     TLS_ALERT_UNEXPECTED_MESSAGE);
		}
		test_pair_free(&p);
	}
}

/* ---- after the handshake: KeyUpdate ---- */

/* After a real handshake, the server's record layer gets `msgs` as one
 * record sealed with the client's application key (raw: msgs is the whole
 * record, unsealed). */
/* Sends `msgs` to a server whose handshake is done: raw bytes, or sealed
 * under the client's application key as one record of content type `ct`. */
static void post_record_case(const char *name, uint8_t ct, const uint8_t *msgs, size_t len,
			     bool raw, int alert)
{
	struct test_pair p;
	pair_new(&p, NULL, NULL);
	int rc = test_pair_flights(&p, 4);
	tls_traffic_key k;
	if (!test_ok(rc == 0 && p.cl.got[TLS_DIR_TX][TLS_EPOCH_APPLICATION] &&
			     !tls_traffic_key_init(&k, p.cl.cs[TLS_DIR_TX][TLS_EPOCH_APPLICATION],
						   p.cl.secret[TLS_DIR_TX][TLS_EPOCH_APPLICATION]),
		     "%s: setup (%d)", name, rc)) {
		test_pair_free(&p);
		return;
	}
	tls_buf rec, plain;
	tls_buf_init(&rec, 0);
	tls_buf_init(&plain, 0);
	if (raw)
		tls_write_bytes(&rec, msgs, len);
	else
		tls_record_seal(&k, ct, msgs, len, 0, &rec);
	tls_traffic_key_clear(&k);
	tls_buf_reset(&p.sv.out);
	size_t n = rec.len;
	rc = tls_conn_recv(p.sv.c, &p.sv.out, &plain, rec.base, &n);
	bool enc;
	int got = test_side_alert(&p.sv, &enc);
	bool ok = TLS_IS_LOCAL_ERR(rc) && TLS_ERR_ALERT(rc) == alert && got == alert;
	test_ok(ok, "%s -> %s (%s)", name, tls_alert_name(alert), enc ? "protected" : "plaintext");
	if (!ok)
		test_diag("%s: returned %d, alert record %d, engine says: %s", name, rc, got,
			  tls_conn_error(p.sv.c));
	size_t before = p.sv.out.len;
	n = rec.len;
	int rc2 = tls_conn_recv(p.sv.c, &p.sv.out, &plain, rec.base, &n);
	test_ok(rc2 < 0 && p.sv.out.len == before && plain.len == 0,
		"%s: nothing processed after the alert (%d)", name, rc2);
	tls_buf_free(&rec);
	tls_buf_free(&plain);
	test_pair_free(&p);
}

/* The client's first protected record is an alert of `len` bytes, sealed
 * under its handshake key: the server answers as under application keys. */
static void handshake_alert_case(const char *name, const uint8_t *a, size_t len, int alert)
{
	struct test_pair p;
	pair_new(&p, NULL, NULL);
	int rc = test_pair_flights(&p, 3);
	tls_traffic_key k;
	if (!test_ok(rc == 0 && p.cl.got[TLS_DIR_TX][TLS_EPOCH_HANDSHAKE] &&
			     !tls_traffic_key_init(&k, p.cl.cs[TLS_DIR_TX][TLS_EPOCH_HANDSHAKE],
						   p.cl.secret[TLS_DIR_TX][TLS_EPOCH_HANDSHAKE]),
		     "%s: setup (%d)", name, rc)) {
		test_pair_free(&p);
		return;
	}
	tls_buf rec;
	tls_buf_init(&rec, 0);
	tls_record_seal(&k, 21, a, len, 0, &rec);
	tls_traffic_key_clear(&k);
	rc = test_side_hs(&p.sv, rec.base, rec.len, NULL);
	expect_alert(name, &p.sv, rc, alert);
	tls_buf_free(&rec);
	test_pair_free(&p);
}

static void post_handshake_case(const char *name, const uint8_t *msgs, size_t len, bool raw,
				int alert)
{
	post_record_case(name, 22, msgs, len, raw, alert);
}

static void key_update_tests(void)
{
	static const uint8_t two[] = { HS_KEY_UPDATE, 0, 0, 1, 0, HS_KEY_UPDATE, 0, 0, 1, 0 };
	post_handshake_case("KeyUpdate not at the end of its record", two, sizeof(two), false,
			    TLS_ALERT_UNEXPECTED_MESSAGE);
	static const uint8_t bad[] = { HS_KEY_UPDATE, 0, 0, 1, 2 };
	post_handshake_case("KeyUpdate with request_update 2", bad, sizeof(bad), false,
			    TLS_ALERT_ILLEGAL_PARAMETER);
	static const uint8_t ch[] = { HS_CLIENT_HELLO, 0, 0, 0 };
	post_handshake_case("ClientHello after the handshake", ch, sizeof(ch), false,
			    TLS_ALERT_UNEXPECTED_MESSAGE);
	/* protected record longer than 2^14 + 256 */
	size_t big_len = TLS_RECORD_HEADER + TLS_MAX_CIPHERTEXT + 1;
	uint8_t *big = calloc(1, big_len);
	if (!big)
		abort();
	big[0] = 23, big[1] = 3, big[2] = 3;
	big[3] = (uint8_t)((TLS_MAX_CIPHERTEXT + 1) >> 8), big[4] = (uint8_t)(TLS_MAX_CIPHERTEXT + 1);
	post_handshake_case("protected record of 2^14+257 bytes", big, big_len, true,
			    TLS_ALERT_RECORD_OVERFLOW);
	free(big);
	/* a record whose tag does not verify */
	static const uint8_t junk[] = { 23, 3, 3, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
					11, 12, 13, 14, 15, 16, 17, 18, 19, 20 };
	post_handshake_case("application record with a bad tag", junk, sizeof(junk), true,
			    TLS_ALERT_BAD_RECORD_MAC);
	/* §5.1, §6: an alert record holds exactly one alert; an empty one is
	 * the same unexpected_message under any key */
	handshake_alert_case("empty alert record under handshake keys", NULL, 0,
			     TLS_ALERT_UNEXPECTED_MESSAGE);
	post_record_case("empty alert record under application keys", 21, NULL, 0, false,
			 TLS_ALERT_UNEXPECTED_MESSAGE);
	static const uint8_t three[] = { 2, 10, 0 };
	post_record_case("alert record of 3 bytes under application keys", 21, three, 3, false,
			 TLS_ALERT_DECODE_ERROR);
}

/* ---- review fixes: SNI, interleaved records, KeyUpdate storms, wiping ---- */

/* RFC 8446 §5.1: after a HelloRetryRequest (the one time a CCS is
 * allowed), the second ClientHello arrives in two records with `mid`
 * between them. */
static void interleave_case(const char *name, const uint8_t *mid, size_t mid_len)
{
	tls_config *scfg = test_server_config(&pki), *ccfg = test_client_config(&pki);
	static const uint16_t p256[] = { TLS_GROUP_SECP256R1 };
	tls_config_set_groups(scfg, p256, 1);
	tls_config_set_compat_mode(ccfg, false);
	struct test_pair p;
	pair_new(&p, ccfg, scfg);
	int crc = test_side_hs(&p.cl, NULL, 0, NULL);
	int src = test_side_hs(&p.sv, p.cl.out.base, p.cl.out.len, NULL);
	tls_buf hrr;
	tls_buf_init(&hrr, 0);
	tls_write_bytes(&hrr, p.sv.out.base, p.sv.out.len);
	crc = test_side_hs(&p.cl, hrr.base, hrr.len, NULL);
	tls_buf_free(&hrr);
	/* p.cl.out: CH2 as one plaintext record */
	if (!test_ok(crc == TLS_WANT_INPUT && src == TLS_WANT_INPUT && p.cl.out.len > 100 &&
			     p.cl.out.base[0] == 22,
		     "%s: setup (HelloRetryRequest, %d %d)", name, crc, src)) {
		test_pair_free(&p);
		return;
	}
	size_t blen = p.cl.out.len - TLS_RECORD_HEADER, half = blen / 2;
	const uint8_t *body = p.cl.out.base + TLS_RECORD_HEADER;
	tls_buf w;
	tls_buf_init(&w, 0);
	tls_write_u8(&w, 22);
	tls_write_u16(&w, 0x0303);
	tls_write_u16(&w, (uint16_t)half);
	tls_write_bytes(&w, body, half);
	tls_write_bytes(&w, mid, mid_len);
	tls_write_u8(&w, 22);
	tls_write_u16(&w, 0x0303);
	tls_write_u16(&w, (uint16_t)(blen - half));
	tls_write_bytes(&w, body + half, blen - half);
	src = test_side_hs(&p.sv, w.base, w.len, NULL);
	expect_alert(name, &p.sv, src, TLS_ALERT_UNEXPECTED_MESSAGE);
	tls_buf_free(&w);
	test_pair_free(&p);
}

static void review_fix_tests(void)
{
	struct ch h;
	uint8_t tmp[600];
	tls_buf b;

	/* RFC 6066 §3: one host_name, and a HostName is never an IP literal */
	static const char *const two[] = { "a.test", "b.test" };
	tls_buf_init(&b, 0);
	tls_write_open(&b, 2);
	for (int i = 0; i < 2; i++) {
		tls_write_u8(&b, 0);
		tls_write_u16(&b, (uint16_t)strlen(two[i]));
		tls_write_bytes(&b, two[i], strlen(two[i]));
	}
	tls_write_close(&b);
	ch_default(&h);
	ch_append(&h, EXT_SERVER_NAME, b.base, b.len);
	server_ch_case("server_name with two host_names", &h, TLS_ALERT_ILLEGAL_PARAMETER, NULL);
	tls_buf_free(&b);
	static const char *const ips[] = { "192.0.2.1", "2001:db8::1" };
	for (int i = 0; i < 2; i++) {
		size_t l = strlen(ips[i]);
		tmp[0] = 0, tmp[1] = (uint8_t)(l + 3), tmp[2] = 0, tmp[3] = 0, tmp[4] = (uint8_t)l;
		memcpy(tmp + 5, ips[i], l);
		ch_default(&h);
		ch_append(&h, EXT_SERVER_NAME, tmp, 5 + l);
		char name[64];
		snprintf(name, sizeof(name), "server_name %s (an IP literal)", ips[i]);
		server_ch_case(name, &h, TLS_ALERT_ILLEGAL_PARAMETER, NULL);
	}

	/* RFC 8446 §5.1: no other record between fragments of one message */
	static const uint8_t ccs[] = { 20, 3, 3, 0, 1, 1 };
	interleave_case("change_cipher_spec between two fragments of ClientHello2", ccs,
			sizeof(ccs));
	static const uint8_t warn[] = { 21, 3, 3, 0, 2, 1, TLS_ALERT_USER_CANCELED };
	interleave_case("alert between two fragments of ClientHello2", warn, sizeof(warn));

	/* Test hooks: a ClientHello listing early_data without any session, and
	 * a server that "accepts" it, must get an alert, not a crash. */
	{
		uint8_t priv[32], pub[32];
		size_t pl = sizeof(pub);
		memset(priv, 0x5a, sizeof(priv));
		EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
		if (!k || EVP_PKEY_get_raw_public_key(k, pub, &pl) != 1)
			abort();
		EVP_PKEY_free(k);
		tls_buf e;
		tls_buf_init(&e, 0);
		static const uint8_t fixed[] = {
			0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04,       /* supported_versions */
			0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d, /* supported_groups */
			0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03, /* signature_algorithms */
			0x00, 0x2a, 0x00, 0x00,                         /* early_data */
			0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, /* key_share */
		};
		tls_write_bytes(&e, fixed, sizeof(fixed));
		tls_write_bytes(&e, pub, sizeof(pub));
		static const uint8_t ee[] = { 0x00, 0x2a, 0x00, 0x00 };
		struct test_pair q;
		pair_new(&q, NULL, NULL);
		bool set = !tls_conn_test_set_kex_private(q.cl.c, TLS_GROUP_X25519, priv, 32) &&
			   !tls_conn_test_set_extensions(q.cl.c, HS_CLIENT_HELLO, e.base, e.len) &&
			   !tls_conn_test_set_extensions(q.sv.c, HS_ENCRYPTED_EXTENSIONS, ee,
							 sizeof(ee));
		int qrc = test_pair_flights(&q, 3);
		test_ok(set, "early_data without a session: hooks set");
		expect_alert("EncryptedExtensions accepting 0-RTT that was never sent", &q.cl, qrc,
			     TLS_ALERT_ILLEGAL_PARAMETER);
		tls_buf_free(&e);
		test_pair_free(&q);
	}

	/* A fatal alert from the peer mid-handshake wipes the handshake secrets. */
	struct test_pair p;
	pair_new(&p, NULL, NULL);
	int rc = test_pair_flights(&p, 2);
	static const uint8_t zero[TLS_MAX_HASH];
	bool had = rc == TLS_WANT_INPUT && memcmp(p.sv.c->c_hs, zero, sizeof(zero)) != 0;
	static const uint8_t fatal[] = { 21, 3, 3, 0, 2, 2, TLS_ALERT_BAD_CERTIFICATE };
	rc = test_side_hs(&p.sv, fatal, sizeof(fatal), NULL);
	test_ok(had && rc == TLS_ERR_PEER(TLS_ALERT_BAD_CERTIFICATE) &&
			!memcmp(p.sv.c->c_hs, zero, sizeof(zero)) &&
			!memcmp(p.sv.c->s_hs, zero, sizeof(zero)) && p.sv.c->n_kex == 0,
		"peer's fatal alert mid-handshake: handshake secrets wiped (%d)", rc);
	test_pair_free(&p);

	/* RFC 8446 §4.6.3: many update_requested while we are silent: one answer */
	pair_new(&p, NULL, NULL);
	rc = test_pair_flights(&p, 4);
	tls_buf ku, back, plain;
	tls_buf_init(&ku, 0);
	tls_buf_init(&back, 0);
	tls_buf_init(&plain, 0);
	for (int i = 0; i < 50 && rc == 0; i++)
		rc = tls_conn_key_update(p.cl.c, &ku, true);
	size_t n = ku.len;
	int src = rc ? rc : tls_conn_recv(p.sv.c, &back, &plain, ku.base, &n);
	size_t records = 0;
	tls_reader r = tls_reader_init(back.base, back.len);
	while (r.left && !r.err) {
		tls_read_bytes(&r, 3);
		tls_reader body = tls_read_vec16(&r, 0, 65535);
		records += !r.err && body.left;
	}
	test_ok(src == 0 && n == ku.len && records == 1 &&
			p.sv.c->tx_epoch == TLS_EPOCH_APPLICATION + 1 &&
			p.sv.c->rx_epoch == TLS_EPOCH_APPLICATION + 50,
		"50 KeyUpdate(update_requested) in a row: one answer (%d, %zu records, tx epoch %d)",
		src, records, p.sv.c->tx_epoch);
	/* the server's tickets come first */
	tls_buf_reset(&ku);
	n = p.sv.out.len;
	rc = tls_conn_recv(p.cl.c, &ku, &plain, p.sv.out.base, &n);
	n = back.len;
	if (rc == 0)
		rc = tls_conn_recv(p.cl.c, &ku, &plain, back.base, &n);
	test_ok(rc == 0 && ku.len == 0 && n == back.len,
		"the client takes the answer and owes nothing back (%d: %s)", rc,
		tls_conn_error(p.cl.c));
	tls_buf_free(&ku);
	tls_buf_free(&back);
	tls_buf_free(&plain);
	test_pair_free(&p);
}

/* ---- key shares of the opt-in groups (secp521r1, X448, ffdhe*) ---- */

/* A server configured with `group` only gets a ClientHello sharing `pub`. */
static void group_ch_case(const char *name, uint16_t group, const uint8_t *pub, size_t len,
			  int alert)
{
	struct ch h;
	uint8_t tmp[600];
	tls_config *cfg = test_server_config(&pki);
	tls_config_set_groups(cfg, &group, 1);
	ch_default(&h);
	ch_put(&h, EXT_SUPPORTED_GROUPS, tmp, u16_list(tmp, 2, &group, 1));
	ch_put(&h, EXT_KEY_SHARE, tmp, key_share(tmp, group, pub, len));
	if (alert) {
		server_ch_case(name, &h, alert, cfg);
	} else {
		tls_buf rec;
		struct test_side sv;
		ch_records(&h, &rec);
		test_side_init(&sv, cfg);
		int rc = test_side_hs(&sv, rec.base, rec.len, NULL);
		test_ok(rc == TLS_WANT_INPUT && sv.out.len > 0 && sv.out.base[0] == 22,
			"%s: accepted (%d: %s)", name, rc, tls_conn_error(sv.c));
		test_side_free(&sv);
		tls_buf_free(&rec);
	}
	tls_config_free(cfg);
}

/* Our client (offering `group` only) gets a ServerHello whose share for it
 * is replaced by `pub`. */
static void group_sh_case(const char *name, uint16_t group, const uint8_t *pub, size_t len)
{
	tls_config *ccfg = test_client_config(&pki), *scfg = test_server_config(&pki);
	tls_config_set_groups(ccfg, &group, 1);
	tls_config_set_groups(scfg, &group, 1);
	struct test_pair p;
	pair_new(&p, ccfg, scfg);
	int rc = test_pair_flights(&p, 2);
	struct sh_edit e = { .share = pub, .share_len = len };
	tls_buf bad;
	if (test_ok(rc == TLS_WANT_INPUT && sh_rewrite(&p.sflight, &e, &bad), "%s: setup (%d)", name,
		    rc)) {
		rc = test_side_hs(&p.cl, bad.base, bad.len, NULL);
		expect_alert(name, &p.cl, rc, TLS_ALERT_ILLEGAL_PARAMETER);
		tls_buf_free(&bad);
	}
	test_pair_free(&p);
}

static void group_share_tests(void)
{
	static const struct {
		uint16_t id;
		const char *name;
		size_t len;
		bool ec;
	} g[] = {
		{ TLS_GROUP_SECP521R1, "secp521r1", 133, true },
		{ TLS_GROUP_X448, "x448", 56, false },
		{ TLS_GROUP_FFDHE2048, "ffdhe2048", 256, false },
		{ TLS_GROUP_FFDHE3072, "ffdhe3072", 384, false },
		{ TLS_GROUP_FFDHE4096, "ffdhe4096", 512, false },
	};
	uint8_t bad[TLS_MAX_KEX_SHARE];
	char name[96];
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		tls_kex k;
		tls_buf pub;
		size_t n = g[i].len;
		tls_buf_init(&pub, 0);
		if (!test_ok(tls_kex_generate(&k, g[i].id, &pub) == 0 && pub.len == n,
			     "%s: a share of %zu bytes", g[i].name, n))
			continue;
		snprintf(name, sizeof(name), "control: %s share", g[i].name);
		group_ch_case(name, g[i].id, pub.base, n, 0);
		snprintf(name, sizeof(name), "%s share one byte short", g[i].name);
		group_ch_case(name, g[i].id, pub.base, n - 1, TLS_ALERT_ILLEGAL_PARAMETER);
		memset(bad, 0, n);
		if (g[i].ec) {
			memset(bad, 0x11, n);
			bad[0] = 4;
			snprintf(name, sizeof(name), "%s share not on the curve", g[i].name);
		} else if (g[i].id == TLS_GROUP_X448) {
			snprintf(name, sizeof(name), "x448 share of small order (all-zero secret)");
		} else {
			bad[n - 1] = 1;
			snprintf(name, sizeof(name), "%s share Y = 1 (RFC 8446 4.2.8.1)", g[i].name);
		}
		group_ch_case(name, g[i].id, bad, n, TLS_ALERT_ILLEGAL_PARAMETER);
		char sh_name[128];
		snprintf(sh_name, sizeof(sh_name), "ServerHello: %s", name);
		group_sh_case(sh_name, g[i].id, bad, n);
		if (!g[i].ec && g[i].id != TLS_GROUP_X448) {
			memset(bad, 0xff, n);
			snprintf(name, sizeof(name), "%s share Y > p", g[i].name);
			group_ch_case(name, g[i].id, bad, n, TLS_ALERT_ILLEGAL_PARAMETER);
		}
		tls_kex_clear(&k);
		tls_buf_free(&pub);
	}

	/* TLS_AES_128_CCM_8_SHA256 is never accepted, even as the only suite */
	struct ch h;
	ch_default(&h);
	h.ciphers[0] = TLS_AES_128_CCM_8_SHA256;
	h.n_ciphers = 1;
	server_ch_case("only TLS_AES_128_CCM_8_SHA256 offered", &h, TLS_ALERT_HANDSHAKE_FAILURE, NULL);
}

int main(void)
{
	test_pki_make(&pki, TESTKEY_P256, "server.test", 0);
	test_pki_make(&other_pki, TESTKEY_P256, "server.test", 0);
	tls_kex k = { 0 };
	tls_buf pub;
	tls_buf_init(&pub, 0);
	if (tls_kex_generate(&k, TLS_GROUP_X25519, &pub) || pub.len != 32) {
		fprintf(stderr, "alerts: no x25519\n");
		return 1;
	}
	memcpy(x25519_pub, pub.base, 32);
	tls_kex_clear(&k);
	tls_buf_free(&pub);

	client_hello_tests();
	handshake_tests();
	key_update_tests();
	review_fix_tests();
	group_share_tests();

	test_pki_free(&pki);
	test_pki_free(&other_pki);
	return test_done();
}
