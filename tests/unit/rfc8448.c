/* RFC 8448 traces through the engine, byte for byte, in both roles.
 *
 * Each trace drives our client with the RFC's random, ephemeral keys and
 * ClientHello extensions, and compares every record it writes to the RFC's;
 * then our server with the RFC's ClientHello, server random, key and
 * extensions, comparing the ServerHello and the encrypted flight. RSA-PSS and
 * ECDSA signatures are randomised, so the signer is injected: it returns the
 * RFC's signature after verifying it over the content the engine asked to
 * sign (which proves the transcript up to Certificate is the RFC's).
 *
 * The RFC implementation sends extensions we never would (ffdhe groups,
 * renegotiation_info, ...), so the extension blocks of the hellos,
 * EncryptedExtensions and CertificateRequest are injected through the
 * tls_conn_test_set_extensions hook; everything else (record framing, message
 * encoding, key schedule, Finished, record protection) is the engine's own.
 * When a record differs, the encrypted flight is decrypted with the keys the
 * engine reported and compared message by message to say which one differs.
 *
 * Section 4 (resumed 0-RTT) resumes with section 3's NewSessionTicket; see
 * the comment above s4_client for how each role gets the ticket.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "test.h"
#include "tls/engine.h" /* the session blob's contents, to compare with the RFC */
#include "tls/ticket.h"
#include "tls/tls.h"
#include "tls/test_hooks.h"

#include "../vectors/rfc8448_keys.h"
#include "../vectors/rfc8448_s3.h"
#include "../vectors/rfc8448_s4.h"
#include "../vectors/rfc8448_s5.h"
#include "../vectors/rfc8448_s6.h"
#include "../vectors/rfc8448_s7.h"

#define HS_CLIENT_HELLO 1
#define HS_SERVER_HELLO 2
#define HS_NEW_SESSION_TICKET 4
#define HS_ENCRYPTED_EXTENSIONS 8
#define HS_CERTIFICATE 11
#define HS_CERTIFICATE_REQUEST 13
#define HS_CERTIFICATE_VERIFY 15
#define HS_FINISHED 20

/* ---- decoded vectors ---- */

struct blob {
	uint8_t *p;
	size_t n;
};

static struct blob unhex(const char *hex)
{
	struct blob b = { NULL, 0 };
	if (!hex)
		return b;
	size_t cap = strlen(hex) / 2 + 1;
	b.p = malloc(cap);
	if (!b.p)
		abort();
	b.n = test_unhex(hex, b.p, cap);
	return b;
}

static struct blob concat(struct blob a, struct blob b)
{
	struct blob c = { malloc(a.n + b.n + 1), a.n + b.n };
	if (!c.p)
		abort();
	if (a.n)
		memcpy(c.p, a.p, a.n);
	if (b.n)
		memcpy(c.p + a.n, b.p, b.n);
	return c;
}

/* ---- parsing the RFC's messages (all through tls_reader) ---- */

struct hello {
	const uint8_t *random;
	const uint8_t *sid;
	size_t sid_len;
	const uint8_t *ext;
	size_t ext_len;
};

/* msg: one handshake message, header included. */
static bool parse_hello(const uint8_t *msg, size_t len, struct hello *h)
{
	tls_reader r = tls_reader_init(msg, len);
	uint8_t type = tls_read_u8(&r);
	tls_reader body = tls_read_vec24(&r, 0, 1 << 24);
	tls_read_u16(&body);
	h->random = tls_read_bytes(&body, 32);
	tls_reader sid = tls_read_vec8(&body, 0, 32);
	h->sid = sid.p;
	h->sid_len = sid.left;
	if (type == HS_CLIENT_HELLO) {
		tls_read_vec16(&body, 2, 65534);
		tls_read_vec8(&body, 1, 255);
	} else {
		tls_read_u16(&body);
		tls_read_u8(&body);
	}
	tls_reader ext = tls_read_vec16(&body, 0, 65535);
	h->ext = ext.p;
	h->ext_len = ext.left;
	return !r.err && !body.err && tls_reader_done(&body) && tls_reader_done(&r);
}

/* The contents of extension `type` inside an extension block, or NULL. */
static const uint8_t *find_ext(const uint8_t *ext, size_t len, uint16_t type, size_t *out_len)
{
	tls_reader r = tls_reader_init(ext, len);
	while (r.left && !r.err) {
		uint16_t t = tls_read_u16(&r);
		tls_reader data = tls_read_vec16(&r, 0, 65535);
		if (!r.err && t == type) {
			*out_len = data.left;
			return data.p;
		}
	}
	return NULL;
}

/* The extension block of EncryptedExtensions or CertificateRequest. */
static bool message_ext(const struct blob *msg, struct blob *ext)
{
	tls_reader r = tls_reader_init(msg->p, msg->n);
	uint8_t type = tls_read_u8(&r);
	tls_reader body = tls_read_vec24(&r, 0, 1 << 24);
	if (type == HS_CERTIFICATE_REQUEST)
		tls_read_vec8(&body, 0, 255);
	tls_reader e = tls_read_vec16(&body, 0, 65535);
	ext->p = (uint8_t *)e.p;
	ext->n = e.left;
	return !r.err && tls_reader_done(&body);
}

/* The certificates of a Certificate message as a tls_chain. */
static tls_chain *message_chain(const struct blob *msg)
{
	const uint8_t *der[8];
	size_t len[8], n = 0;
	tls_reader r = tls_reader_init(msg->p, msg->n);
	tls_read_u8(&r);
	tls_reader body = tls_read_vec24(&r, 0, 1 << 24);
	tls_read_vec8(&body, 0, 255);
	tls_reader list = tls_read_vec24(&body, 0, 1 << 24);
	while (list.left && !list.err && n < 8) {
		tls_reader cert = tls_read_vec24(&list, 1, 1 << 24);
		tls_read_vec16(&list, 0, 65535);
		der[n] = cert.p;
		len[n++] = cert.left;
	}
	tls_chain *c = calloc(1, sizeof(*c));
	if (!c || list.err || tls_chain_from_der(c, der, len, n)) {
		free(c);
		return NULL;
	}
	return c;
}

/* scheme and signature of a CertificateVerify message */
static bool message_cv(const struct blob *msg, uint16_t *scheme, struct blob *sig)
{
	tls_reader r = tls_reader_init(msg->p, msg->n);
	tls_read_u8(&r);
	tls_reader body = tls_read_vec24(&r, 0, 1 << 24);
	*scheme = tls_read_u16(&body);
	tls_reader s = tls_read_vec16(&body, 1, 65535);
	sig->p = (uint8_t *)s.p;
	sig->n = s.left;
	return tls_reader_done(&body);
}

/* The RFC's RSA private key (section 2) from its numbers. */
static EVP_PKEY *rfc_rsa_key(void)
{
	static const char *const hex[] = { rfc8448_rsa_n, rfc8448_rsa_e, rfc8448_rsa_d,
					  rfc8448_rsa_p, rfc8448_rsa_q, rfc8448_rsa_dp,
					  rfc8448_rsa_dq, rfc8448_rsa_qinv };
	static const char *const names[] = { OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E,
					    OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1,
					    OSSL_PKEY_PARAM_RSA_FACTOR2,
					    OSSL_PKEY_PARAM_RSA_EXPONENT1,
					    OSSL_PKEY_PARAM_RSA_EXPONENT2,
					    OSSL_PKEY_PARAM_RSA_COEFFICIENT1 };
	BIGNUM *bn[8] = { NULL };
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *key = NULL;
	bool ok = bld && ctx;
	for (size_t i = 0; ok && i < 8; i++) {
		struct blob b = unhex(hex[i]);
		bn[i] = BN_bin2bn(b.p, (int)b.n, NULL);
		free(b.p);
		ok = bn[i] && OSSL_PARAM_BLD_push_BN(bld, names[i], bn[i]);
	}
	if (ok)
		params = OSSL_PARAM_BLD_to_param(bld);
	if (!params || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params) <= 0)
		key = NULL;
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	for (size_t i = 0; i < 8; i++)
		BN_free(bn[i]);
	return key;
}

/* ---- a trace ---- */

struct trace {
	const char *name;
	const char *client_priv, *client_p256_priv;
	const char *ch1, *hrr, *ch2;
	const char *server_priv;
	uint16_t server_group;
	const char *sh, *server_ccs, *server_flight;
	const char *ee, *cr, *server_cert, *server_cv, *server_finished;
	const char *client_cert, *client_cv, *client_finished;
	const char *client_ccs, *client_flight;
	const char *c_hs, *s_hs, *c_ap, *s_ap;
	bool compat;
	/* section 3 only: the records after the handshake */
	const char *nst, *server_app, *client_app, *app_payload, *client_alert;
};

static const struct trace traces[] = {
	{
		.name = "s3 1-RTT",
		.client_priv = rfc8448_s3_client_priv,
		.ch1 = rfc8448_s3_ch_record,
		.server_priv = rfc8448_s3_server_priv, .server_group = TLS_GROUP_X25519,
		.sh = rfc8448_s3_sh_record, .server_flight = rfc8448_s3_server_flight_record,
		.ee = rfc8448_s3_ee, .server_cert = rfc8448_s3_server_cert,
		.server_cv = rfc8448_s3_server_cv, .server_finished = rfc8448_s3_server_finished,
		.client_finished = rfc8448_s3_client_finished,
		.client_flight = rfc8448_s3_client_flight_record,
		.c_hs = rfc8448_s3_c_hs_traffic, .s_hs = rfc8448_s3_s_hs_traffic,
		.c_ap = rfc8448_s3_c_ap_traffic, .s_ap = rfc8448_s3_s_ap_traffic,
		.nst = rfc8448_s3_nst_record, .server_app = rfc8448_s3_server_app_record,
		.client_app = rfc8448_s3_client_app_record,
		.app_payload = rfc8448_s3_client_app_payload,
		.client_alert = rfc8448_s3_client_alert_record,
	},
	{
		.name = "s5 HelloRetryRequest",
		.client_priv = rfc8448_s5_client_priv, .client_p256_priv = rfc8448_s5_client_p256_priv,
		.ch1 = rfc8448_s5_ch1_record, .hrr = rfc8448_s5_hrr_record,
		.ch2 = rfc8448_s5_ch2_record,
		.server_priv = rfc8448_s5_server_priv, .server_group = TLS_GROUP_SECP256R1,
		.sh = rfc8448_s5_sh_record, .server_flight = rfc8448_s5_server_flight_record,
		.ee = rfc8448_s5_ee, .server_cert = rfc8448_s5_server_cert,
		.server_cv = rfc8448_s5_server_cv, .server_finished = rfc8448_s5_server_finished,
		.client_finished = rfc8448_s5_client_finished,
		.client_flight = rfc8448_s5_client_flight_record,
		.c_hs = rfc8448_s5_c_hs_traffic, .s_hs = rfc8448_s5_s_hs_traffic,
		.c_ap = rfc8448_s5_c_ap_traffic, .s_ap = rfc8448_s5_s_ap_traffic,
	},
	{
		.name = "s6 client auth",
		.client_priv = rfc8448_s6_client_priv,
		.ch1 = rfc8448_s6_ch_record,
		.server_priv = rfc8448_s6_server_priv, .server_group = TLS_GROUP_X25519,
		.sh = rfc8448_s6_sh_record, .server_flight = rfc8448_s6_server_flight_record,
		.ee = rfc8448_s6_ee, .cr = rfc8448_s6_cr, .server_cert = rfc8448_s6_server_cert,
		.server_cv = rfc8448_s6_server_cv, .server_finished = rfc8448_s6_server_finished,
		.client_cert = rfc8448_s6_client_cert, .client_cv = rfc8448_s6_client_cv,
		.client_finished = rfc8448_s6_client_finished,
		.client_flight = rfc8448_s6_client_flight_record,
		.c_hs = rfc8448_s6_c_hs_traffic, .s_hs = rfc8448_s6_s_hs_traffic,
		.c_ap = rfc8448_s6_c_ap_traffic, .s_ap = rfc8448_s6_s_ap_traffic,
	},
	{
		.name = "s7 compatibility mode",
		.client_priv = rfc8448_s7_client_priv,
		.ch1 = rfc8448_s7_ch_record,
		.server_priv = rfc8448_s7_server_priv, .server_group = TLS_GROUP_X25519,
		.sh = rfc8448_s7_sh_record, .server_ccs = rfc8448_s7_server_ccs_record,
		.server_flight = rfc8448_s7_server_flight_record,
		.ee = rfc8448_s7_ee, .server_cert = rfc8448_s7_server_cert,
		.server_cv = rfc8448_s7_server_cv, .server_finished = rfc8448_s7_server_finished,
		.client_finished = rfc8448_s7_client_finished,
		.client_ccs = rfc8448_s7_client_ccs_record,
		.client_flight = rfc8448_s7_client_flight_record,
		.c_hs = rfc8448_s7_c_hs_traffic, .s_hs = rfc8448_s7_s_hs_traffic,
		.c_ap = rfc8448_s7_c_ap_traffic, .s_ap = rfc8448_s7_s_ap_traffic,
		.compat = true,
	},
};

/* ---- engine callbacks ---- */

struct secrets {
	bool got[2][4];
	uint8_t s[2][4][TLS_MAX_HASH];
	size_t len[2][4];
	const tls_cipher *cs;
	tls_session *session;      /* client: the first NewSessionTicket (section 3) */
	tls_buf early;             /* server: 0-RTT data delivered (section 4) */
	int early_calls;
};

static void on_secret(void *ctx, enum tls_dir dir, int epoch, const tls_cipher *cs,
		      const uint8_t *secret, size_t len)
{
	struct secrets *s = ctx;
	if (epoch < 0 || epoch > 3 || len > TLS_MAX_HASH)
		return;
	s->got[dir][epoch] = true;
	memcpy(s->s[dir][epoch], secret, len);
	s->len[dir][epoch] = len;
	s->cs = cs;
}

static void on_session(void *ctx, const uint8_t *blob, size_t len)
{
	struct secrets *x = ctx;
	if (!x->session)
		x->session = tls_session_decode(blob, len);
}

static void on_early_data(void *ctx, const uint8_t *data, size_t len)
{
	struct secrets *x = ctx;
	x->early_calls++;
	tls_write_bytes(&x->early, data, len);
}

/* Fixed clocks: section 3's ticket arrives at S3_CLIENT_NOW; section 4 runs
 * the ticket age later (times the RFC does not give; only the age shows). */
#define S3_CLIENT_NOW 1500000000000ull
static uint64_t fixed_clock(void *ctx)
{
	return *(const uint64_t *)ctx;
}

struct signer {
	EVP_PKEY *verify_key;   /* the certificate's public key */
	uint16_t scheme;
	struct blob sig;
	int calls;
	bool asked_right_scheme, verified;
};

static int rfc_signer(void *ctx, uint16_t scheme, const uint8_t *msg, size_t len, tls_buf *sig)
{
	struct signer *s = ctx;
	s->calls++;
	s->asked_right_scheme = scheme == s->scheme;
	s->verified = tls_sig_verify(s->verify_key, s->scheme, msg, len, s->sig.p, s->sig.n) == 0;
	tls_write_bytes(sig, s->sig.p, s->sig.n);
	return 0;
}

/* ---- comparisons ---- */

static bool same(const char *what, const uint8_t *got, size_t got_len, const struct blob *want)
{
	bool eq = got_len == want->n && memcmp(got, want->p, got_len) == 0;
	if (!eq) {
		size_t i = 0;
		while (i < got_len && i < want->n && got[i] == want->p[i])
			i++;
		test_diag("%s: %zu bytes, RFC %zu; first difference at offset %zu", what, got_len,
			  want->n, i);
		test_dump("ours", got, got_len);
		test_dump("RFC ", want->p, want->n);
	}
	return test_ok(eq, "%s", what);
}

static void same_secret(const char *trace, const char *what, const struct secrets *s,
			enum tls_dir dir, int epoch, const char *hex)
{
	struct blob want = unhex(hex);
	if (!s->got[dir][epoch])
		test_ok(false, "%s: %s (never reported by the secret callback)", trace, what);
	else {
		char name[160];
		snprintf(name, sizeof(name), "%s: %s", trace, what);
		same(name, s->s[dir][epoch], s->len[dir][epoch], &want);
	}
	free(want.p);
}

/* Decrypts the handshake records in `recs` with `secret` and lists which of
 * the RFC's messages differ from ours: says WHY a flight did not match. */
static void explain_flight(const char *who, const tls_cipher *cs, const uint8_t *secret,
			   const uint8_t *recs, size_t len, const struct blob *msgs, size_t n)
{
	tls_traffic_key k;
	if (!cs || tls_traffic_key_init(&k, cs, secret)) {
		test_diag("%s: cannot derive the handshake key to explain the difference", who);
		return;
	}
	tls_buf plain;
	tls_buf_init(&plain, 0);
	tls_reader r = tls_reader_init(recs, len);
	while (r.left >= TLS_RECORD_HEADER && !r.err) {
		tls_reader hdr = r;
		uint8_t ct = tls_read_u8(&hdr);
		tls_read_u16(&hdr);
		uint16_t n16 = tls_read_u16(&hdr);
		const uint8_t *rec = tls_read_bytes(&r, TLS_RECORD_HEADER + (size_t)n16);
		if (!rec)
			break;
		if (ct != 23) {
			test_diag("%s: record of type %u, %u bytes (not encrypted)", who, ct, n16);
			continue;
		}
		uint8_t *copy = malloc(TLS_RECORD_HEADER + (size_t)n16);
		if (!copy)
			abort();
		memcpy(copy, rec, TLS_RECORD_HEADER + (size_t)n16);
		uint8_t type, *data;
		size_t dlen;
		int rc = tls_record_open(&k, copy, TLS_RECORD_HEADER + (size_t)n16, &type, &data, &dlen);
		if (rc)
			test_diag("%s: our record does not decrypt with our own key (%d)", who, rc);
		else {
			test_diag("%s: record of %u bytes, inner type %u, %zu plaintext bytes", who,
				  n16, type, dlen);
			tls_write_bytes(&plain, data, dlen);
		}
		free(copy);
	}
	tls_reader m = tls_reader_init(plain.base, plain.len);
	for (size_t i = 0; i < n && m.left; i++) {
		tls_reader h = m;
		uint8_t type = tls_read_u8(&h);
		uint32_t mlen = tls_read_u24(&h);
		const uint8_t *msg = tls_read_bytes(&m, 4 + (size_t)mlen);
		if (!msg)
			break;
		bool eq = msgs[i].n == 4 + (size_t)mlen && memcmp(msg, msgs[i].p, msgs[i].n) == 0;
		test_diag("%s: message type %u (%u bytes) %s the RFC's", who, type, mlen,
			  eq ? "equals" : "DIFFERS FROM");
		if (!eq) {
			test_dump("ours", msg, 4 + (size_t)mlen);
			test_dump("RFC ", msgs[i].p, msgs[i].n);
		}
	}
	tls_buf_free(&plain);
	tls_traffic_key_clear(&k);
}

static const uint16_t client_groups[] = { TLS_GROUP_X25519, TLS_GROUP_SECP256R1,
					  TLS_GROUP_SECP384R1 };
static const uint16_t rfc_ciphers[] = { TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256,
					TLS_AES_256_GCM_SHA384 };

/* Feeds `in` and checks the return code and that everything was consumed. */
static int feed(tls_conn *c, tls_buf *out, const struct blob *in, int want_rc, const char *what)
{
	size_t n = in->n;
	int rc = tls_conn_handshake(c, out, in->p, &n);
	if (!test_ok(rc == want_rc && n == in->n, "%s: returns %d, consumed %zu of %zu", what, rc, n,
		     in->n))
		test_diag("%s: %s (expected %d)", what, tls_conn_error(c), want_rc);
	return rc;
}

/* ---- client role ---- */

static void run_client(const struct trace *t, tls_session **keep)
{
	char what[200];
	struct blob ch1 = unhex(t->ch1), ch2 = unhex(t->ch2), hrr = unhex(t->hrr);
	struct blob sh = unhex(t->sh), sccs = unhex(t->server_ccs), sfl = unhex(t->server_flight);
	struct blob cccs = unhex(t->client_ccs), cfl = unhex(t->client_flight);
	struct blob priv = unhex(t->client_priv), p256 = unhex(t->client_p256_priv);
	struct blob ccert = unhex(t->client_cert), ccv = unhex(t->client_cv);
	struct hello h1, h2;
	struct secrets sec;
	struct signer sg;
	memset(&sec, 0, sizeof(sec));
	memset(&sg, 0, sizeof(sg));

	tls_config *cfg = tls_config_new(TLS_CLIENT);
	tls_config_set_ciphers(cfg, rfc_ciphers, 3);
	tls_config_set_groups(cfg, client_groups, 3);
	tls_config_set_key_share_groups(cfg, client_groups, 1);
	/* The RFC's certificate has CN "rsa", no SAN and expired in 2026. */
	tls_config_set_verify_peer(cfg, false);
	tls_config_set_compat_mode(cfg, t->compat);
	uint64_t now = S3_CLIENT_NOW;
	if (keep)
		tls_config_set_clock(cfg, fixed_clock, &now);
	if (t->client_cert) {
		tls_chain *chain = message_chain(&ccert);
		struct blob sig;
		test_ok(chain && chain->n == 1 && message_cv(&ccv, &sg.scheme, &sig),
			"%s client: RFC client Certificate and CertificateVerify parse", t->name);
		if (!chain)
			goto out;
		sg.sig = sig;
		sg.verify_key = X509_get_pubkey(chain->certs[0]);
		EVP_PKEY_up_ref(sg.verify_key);
		/* The RFC does not give the client's private key: the signer
		 * returns the RFC's signature, so the public key stands in. */
		test_ok(tls_config_add_cert(cfg, chain, sg.verify_key) == 0,
			"%s client: add the RFC's client certificate", t->name);
		tls_chain_free(chain);
		free(chain);
		tls_config_set_signer(cfg, rfc_signer, &sg);
	}

	tls_conn *c = tls_conn_new(cfg);
	tls_callbacks cb = { .secret = on_secret, .session = keep ? on_session : NULL };
	tls_conn_set_callbacks(c, &cb, &sec);
	tls_conn_set_server_name(c, "server");
	bool ok = parse_hello(ch1.p + 5, ch1.n - 5, &h1) &&
		  (!t->ch2 || parse_hello(ch2.p + 5, ch2.n - 5, &h2));
	test_ok(ok, "%s client: RFC ClientHello parses", t->name);
	if (!ok)
		goto out_conn;
	ok = tls_conn_test_set_random(c, h1.random) == 0 &&
	     tls_conn_test_set_kex_private(c, TLS_GROUP_X25519, priv.p, priv.n) == 0 &&
	     (!p256.n || tls_conn_test_set_kex_private(c, TLS_GROUP_SECP256R1, p256.p, p256.n) == 0) &&
	     (!h1.sid_len || tls_conn_test_set_session_id(c, h1.sid, h1.sid_len) == 0) &&
	     tls_conn_test_set_extensions(c, HS_CLIENT_HELLO, h1.ext, h1.ext_len) == 0 &&
	     (!t->ch2 || tls_conn_test_set_extensions(c, HS_CLIENT_HELLO, h2.ext, h2.ext_len) == 0);
	test_ok(ok, "%s client: test hooks accept the RFC's random, keys and extensions", t->name);

	tls_buf out;
	tls_buf_init(&out, 0);
	size_t zero = 0;
	int rc = tls_conn_handshake(c, &out, NULL, &zero);
	test_ok(rc == TLS_WANT_INPUT, "%s client: first call wants input (%d)", t->name, rc);
	snprintf(what, sizeof(what), "%s client: ClientHello record", t->name);
	same(what, out.base, out.len, &ch1);
	tls_buf_reset(&out);

	if (t->hrr) {
		snprintf(what, sizeof(what), "%s client: HelloRetryRequest", t->name);
		feed(c, &out, &hrr, TLS_WANT_INPUT, what);
		snprintf(what, sizeof(what), "%s client: second ClientHello record", t->name);
		same(what, out.base, out.len, &ch2);
		tls_buf_reset(&out);
	}

	struct blob shccs = concat(sh, sccs);
	struct blob in = concat(shccs, sfl);
	free(shccs.p);
	snprintf(what, sizeof(what), "%s client: server flight", t->name);
	rc = feed(c, &out, &in, 0, what);
	struct blob want = concat(cccs, cfl);
	snprintf(what, sizeof(what), "%s client: %s record%s", t->name,
		 t->client_cert ? "Certificate+CertificateVerify+Finished" : "Finished",
		 t->client_ccs ? " (after CCS)" : "");
	if (!same(what, out.base, out.len, &want) && sec.got[TLS_DIR_TX][TLS_EPOCH_HANDSHAKE]) {
		struct blob m[3] = { unhex(t->client_cert), unhex(t->client_cv),
				     unhex(t->client_finished) };
		struct blob *list = t->client_cert ? m : m + 2;
		size_t skip = t->client_ccs ? cccs.n : 0;
		explain_flight("client flight", sec.cs, sec.s[TLS_DIR_TX][TLS_EPOCH_HANDSHAKE],
			       out.base + (out.len >= skip ? skip : 0), out.len >= skip ? out.len - skip : 0,
			       list, t->client_cert ? 3 : 1);
		for (int i = 0; i < 3; i++)
			free(m[i].p);
	}
	if (t->client_cert)
		test_ok(sg.calls == 1 && sg.asked_right_scheme && sg.verified,
			"%s client: CertificateVerify content is the RFC's (RFC signature verifies over "
			"it; %d call(s))", t->name, sg.calls);
	test_ok(rc == 0 && tls_conn_handshake_done(c), "%s client: handshake done", t->name);
	same_secret(t->name, "client c hs traffic", &sec, TLS_DIR_TX, TLS_EPOCH_HANDSHAKE, t->c_hs);
	same_secret(t->name, "client s hs traffic", &sec, TLS_DIR_RX, TLS_EPOCH_HANDSHAKE, t->s_hs);
	same_secret(t->name, "client c ap traffic", &sec, TLS_DIR_TX, TLS_EPOCH_APPLICATION, t->c_ap);
	same_secret(t->name, "client s ap traffic", &sec, TLS_DIR_RX, TLS_EPOCH_APPLICATION, t->s_ap);
	free(in.p);
	free(want.p);

	if (t->nst && rc == 0) {
		/* Application data and close_notify (section 3 only). */
		struct blob nst = unhex(t->nst), sapp = unhex(t->server_app);
		struct blob capp = unhex(t->client_app), payload = unhex(t->app_payload);
		struct blob alert = unhex(t->client_alert);
		struct blob rin = concat(nst, sapp);
		tls_buf plain;
		tls_buf_init(&plain, 0);
		tls_buf_reset(&out);
		size_t n = rin.n;
		rc = tls_conn_recv(c, &out, &plain, rin.p, &n);
		if (rc == 0 && n < rin.n) { /* one record per call is allowed */
			size_t m = rin.n - n;
			rc = tls_conn_recv(c, &out, &plain, rin.p + n, &m);
			n += m;
		}
		test_ok(rc == 0 && n == rin.n, "%s client: NewSessionTicket + application record "
			"accepted (%d, %zu of %zu bytes)", t->name, rc, n, rin.n);
		if (keep)
			test_ok(sec.session != NULL, "%s client: the NewSessionTicket became a session",
				t->name);
		same("s3 client: server application data decrypts to the RFC's payload", plain.base,
		     plain.len, &payload);
		tls_buf_reset(&out);
		rc = tls_conn_send(c, &out, payload.p, payload.n);
		test_ok(rc == 0, "s3 client: send 50 bytes (%d)", rc);
		same("s3 client: application data record", out.base, out.len, &capp);
		tls_buf_reset(&out);
		rc = tls_conn_close(c, &out);
		test_ok(rc == 0, "s3 client: close (%d)", rc);
		same("s3 client: close_notify record", out.base, out.len, &alert);
		tls_buf_free(&plain);
		free(nst.p), free(sapp.p), free(capp.p), free(payload.p), free(alert.p), free(rin.p);
	}
	tls_buf_free(&out);
out_conn:
	tls_conn_free(c);
out:
	if (keep)
		*keep = sec.session;
	else
		tls_session_free(sec.session);
	tls_config_free(cfg);
	EVP_PKEY_free(sg.verify_key);
	free(ch1.p), free(ch2.p), free(hrr.p), free(sh.p), free(sccs.p), free(sfl.p);
	free(cccs.p), free(cfl.p), free(priv.p), free(p256.p), free(ccert.p), free(ccv.p);
}

/* ---- server role ---- */

static void run_server(const struct trace *t, EVP_PKEY *rsa)
{
	char what[200];
	struct blob ch1 = unhex(t->ch1), ch2 = unhex(t->ch2), hrr = unhex(t->hrr);
	struct blob sh = unhex(t->sh), sccs = unhex(t->server_ccs), sfl = unhex(t->server_flight);
	struct blob cccs = unhex(t->client_ccs), cfl = unhex(t->client_flight);
	struct blob priv = unhex(t->server_priv), ee = unhex(t->ee), cr = unhex(t->cr);
	struct blob scert = unhex(t->server_cert), scv = unhex(t->server_cv);
	struct blob eeext, crext, sig;
	struct hello hh, hs;
	struct secrets sec;
	struct signer sg;
	memset(&sec, 0, sizeof(sec));
	memset(&sg, 0, sizeof(sg));
	tls_conn *c = NULL;

	tls_config *cfg = tls_config_new(TLS_SERVER);
	static const uint16_t server_ciphers[] = { TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
						   TLS_CHACHA20_POLY1305_SHA256 };
	tls_config_set_ciphers(cfg, server_ciphers, 3);
	/* Section 5's server prefers P-256 and so asks for a new share. */
	if (t->server_group == TLS_GROUP_SECP256R1)
		tls_config_set_groups(cfg, &t->server_group, 1);
	else
		tls_config_set_groups(cfg, client_groups, 3);
	tls_chain *chain = message_chain(&scert);
	bool ok = chain && message_cv(&scv, &sg.scheme, &sig) && message_ext(&ee, &eeext) &&
		  (!t->cr || message_ext(&cr, &crext)) && parse_hello(sh.p + 5, sh.n - 5, &hs) &&
		  (!t->hrr || parse_hello(hrr.p + 5, hrr.n - 5, &hh));
	test_ok(ok, "%s server: RFC server messages parse", t->name);
	if (!ok)
		goto out;
	sg.sig = sig;
	sg.verify_key = X509_get_pubkey(chain->certs[0]);
	EVP_PKEY *key;
	if (EVP_PKEY_get_base_id(sg.verify_key) == EVP_PKEY_RSA) {
		test_ok(EVP_PKEY_eq(sg.verify_key, rsa) == 1,
			"%s server: section 2's RSA key is the certificate's key", t->name);
		EVP_PKEY_up_ref(rsa);
		key = rsa;
	} else {
		/* Section 6's server key is ECDSA and not in the RFC. */
		EVP_PKEY_up_ref(sg.verify_key);
		key = sg.verify_key;
	}
	test_ok(tls_config_add_cert(cfg, chain, key) == 0, "%s server: add the RFC's certificate",
		t->name);
	tls_chain_free(chain);
	free(chain);
	chain = NULL;
	tls_config_set_signer(cfg, rfc_signer, &sg);
	if (t->client_cert) {
		tls_config_set_client_auth(cfg, TLS_CLIENT_AUTH_REQUIRE);
		/* The RFC's client certificate is self-signed and expired. */
		tls_config_set_verify_peer(cfg, false);
	}

	c = tls_conn_new(cfg);
	tls_callbacks cb = { .secret = on_secret };
	tls_conn_set_callbacks(c, &cb, &sec);
	size_t cookie_len = 0;
	const uint8_t *cookie = t->hrr ? find_ext(hh.ext, hh.ext_len, 0x002c, &cookie_len) : NULL;
	if (t->hrr)
		test_ok(cookie != NULL, "%s server: RFC HelloRetryRequest has a cookie", t->name);
	ok = tls_conn_test_set_random(c, hs.random) == 0 &&
	     tls_conn_test_set_kex_private(c, t->server_group, priv.p, priv.n) == 0 &&
	     (!t->hrr || (cookie && tls_conn_test_set_hrr_cookie(c, cookie + 2, cookie_len - 2) == 0 &&
			  tls_conn_test_set_extensions(c, HS_SERVER_HELLO, hh.ext, hh.ext_len) == 0)) &&
	     tls_conn_test_set_extensions(c, HS_SERVER_HELLO, hs.ext, hs.ext_len) == 0 &&
	     tls_conn_test_set_extensions(c, HS_ENCRYPTED_EXTENSIONS, eeext.p, eeext.n) == 0 &&
	     (!t->cr || tls_conn_test_set_extensions(c, HS_CERTIFICATE_REQUEST, crext.p, crext.n) == 0);
	test_ok(ok, "%s server: test hooks accept the RFC's random, key and extensions", t->name);

	tls_buf out;
	tls_buf_init(&out, 0);
	if (t->hrr) {
		snprintf(what, sizeof(what), "%s server: first ClientHello", t->name);
		feed(c, &out, &ch1, TLS_WANT_INPUT, what);
		snprintf(what, sizeof(what), "%s server: HelloRetryRequest record", t->name);
		same(what, out.base, out.len, &hrr);
		tls_buf_reset(&out);
	}
	snprintf(what, sizeof(what), "%s server: ClientHello", t->name);
	feed(c, &out, t->hrr ? &ch2 : &ch1, TLS_WANT_INPUT, what);
	struct blob first = concat(sh, sccs);
	snprintf(what, sizeof(what), "%s server: ServerHello record%s", t->name,
		 t->server_ccs ? " + CCS" : "");
	same(what, out.base, out.len < first.n ? out.len : first.n, &first);
	snprintf(what, sizeof(what), "%s server: encrypted flight (EE%s, Certificate, "
		 "CertificateVerify, Finished) record", t->name, t->cr ? ", CertificateRequest" : "");
	const uint8_t *fl = out.base + (out.len < first.n ? out.len : first.n);
	size_t fl_len = out.len < first.n ? 0 : out.len - first.n;
	if (!same(what, fl, fl_len, &sfl) && sec.got[TLS_DIR_TX][TLS_EPOCH_HANDSHAKE]) {
		struct blob m[5] = { unhex(t->ee), unhex(t->cr), unhex(t->server_cert),
				     unhex(t->server_cv), unhex(t->server_finished) };
		struct blob list[5];
		size_t n = 0;
		for (int i = 0; i < 5; i++)
			if (m[i].n)
				list[n++] = m[i];
		explain_flight("server flight", sec.cs, sec.s[TLS_DIR_TX][TLS_EPOCH_HANDSHAKE], fl,
			       fl_len, list, n);
		for (int i = 0; i < 5; i++)
			free(m[i].p);
	}
	test_ok(sg.calls == 1 && sg.asked_right_scheme && sg.verified,
		"%s server: CertificateVerify content is the RFC's (RFC signature verifies over it; "
		"%d call(s))", t->name, sg.calls);
	free(first.p);
	tls_buf_reset(&out);

	struct blob in = concat(cccs, cfl);
	snprintf(what, sizeof(what), "%s server: client %sFinished", t->name,
		 t->client_cert ? "Certificate+CertificateVerify+" : "");
	int rc = feed(c, &out, &in, 0, what);
	test_ok(rc == 0 && tls_conn_handshake_done(c), "%s server: handshake done", t->name);
	if (t->client_cert) {
		const tls_params *p = tls_conn_params(c);
		test_ok(p && p->peer_chain && p->peer_chain->n == 1,
			"%s server: the client's certificate is reported", t->name);
	}
	same_secret(t->name, "server s hs traffic", &sec, TLS_DIR_TX, TLS_EPOCH_HANDSHAKE, t->s_hs);
	same_secret(t->name, "server c hs traffic", &sec, TLS_DIR_RX, TLS_EPOCH_HANDSHAKE, t->c_hs);
	same_secret(t->name, "server s ap traffic", &sec, TLS_DIR_TX, TLS_EPOCH_APPLICATION, t->s_ap);
	same_secret(t->name, "server c ap traffic", &sec, TLS_DIR_RX, TLS_EPOCH_APPLICATION, t->c_ap);
	free(in.p);

	if (t->client_app && rc == 0) {
		struct blob capp = unhex(t->client_app), payload = unhex(t->app_payload);
		tls_buf plain;
		tls_buf_init(&plain, 0);
		tls_buf_reset(&out);
		size_t n = capp.n;
		rc = tls_conn_recv(c, &out, &plain, capp.p, &n);
		test_ok(rc == 0 && n == capp.n, "s3 server: client application record accepted (%d)",
			rc);
		same("s3 server: client application data decrypts to the RFC's payload", plain.base,
		     plain.len, &payload);
		tls_buf_free(&plain);
		free(capp.p), free(payload.p);
	}
	tls_buf_free(&out);
out:
	if (chain) {
		tls_chain_free(chain);
		free(chain);
	}
	tls_conn_free(c);
	tls_config_free(cfg);
	EVP_PKEY_free(sg.verify_key);
	free(ch1.p), free(ch2.p), free(hrr.p), free(sh.p), free(sccs.p), free(sfl.p);
	free(cccs.p), free(cfl.p), free(priv.p), free(ee.p), free(cr.p), free(scert.p), free(scv.p);
}

/* ---- section 4: resumed 0-RTT handshake ----
 *
 * The resumption: section 3's NewSessionTicket (ticket, age_add, lifetime,
 * max_early_data 1024, nonce 00 00) gives the PSK
 * HKDF-Expand-Label(section 3's resumption master secret, "resumption",
 * nonce). Client role: our section 3 client turned that NewSessionTicket
 * into a session blob; it is offered with the RFC's 0-RTT data at the
 * ticket age the RFC's obfuscated_ticket_age shows. The ClientHello's
 * extension block is the RFC's minus pre_shared_key, which the engine
 * appends with its own age and binder. Server role: the RFC's ticket is
 * another implementation's opaque bytes, so tls_conn_test_set_ticket makes
 * the server take it as a ticket holding the RFC's values; binder, SNI,
 * suite, expiry, age freshness and anti-replay are all checked as usual. */

struct nst {
	struct blob msg;
	uint32_t lifetime, age_add, max_early;
	const uint8_t *nonce, *ticket;
	size_t nonce_len, ticket_len;
};

static bool parse_nst(struct nst *n)
{
	memset(n, 0, sizeof(*n));
	n->msg = unhex(rfc8448_s3_nst);
	tls_reader r = tls_reader_init(n->msg.p, n->msg.n);
	uint8_t type = tls_read_u8(&r);
	tls_reader body = tls_read_vec24(&r, 0, 1 << 24);
	n->lifetime = tls_read_u32(&body);
	n->age_add = tls_read_u32(&body);
	tls_reader nonce = tls_read_vec8(&body, 0, 255);
	tls_reader ticket = tls_read_vec16(&body, 1, 65535);
	tls_reader ext = tls_read_vec16(&body, 0, 65535);
	n->nonce = nonce.p, n->nonce_len = nonce.left;
	n->ticket = ticket.p, n->ticket_len = ticket.left;
	size_t ed_len = 0;
	const uint8_t *ed = find_ext(ext.p, ext.left, 0x002a, &ed_len);
	if (ed && ed_len == 4) {
		tls_reader e = tls_reader_init(ed, ed_len);
		n->max_early = tls_read_u32(&e);
	}
	return type == HS_NEW_SESSION_TICKET && !r.err && tls_reader_done(&r) &&
	       tls_reader_done(&body) && ed_len == 4;
}

/* The RFC's section 4 ClientHello: its hello fields, the extension block
 * before pre_shared_key (which must come last) and the one identity. */
struct ch4 {
	struct hello h;
	size_t ext_before_psk;
	const uint8_t *identity;
	size_t identity_len;
	uint32_t obfuscated_age;
	struct blob rec;
};

static bool parse_ch4(struct ch4 *ch)
{
	memset(ch, 0, sizeof(*ch));
	ch->rec = unhex(rfc8448_s4_ch_record);
	if (!parse_hello(ch->rec.p + 5, ch->rec.n - 5, &ch->h))
		return false;
	size_t len = 0;
	const uint8_t *psk = find_ext(ch->h.ext, ch->h.ext_len, 0x0029, &len);
	if (!psk || psk + len != ch->h.ext + ch->h.ext_len)
		return false;
	ch->ext_before_psk = (size_t)(psk - 4 - ch->h.ext);
	tls_reader r = tls_reader_init(psk, len);
	tls_reader ids = tls_read_vec16(&r, 7, 65535);
	tls_reader id = tls_read_vec16(&ids, 1, 65535);
	ch->obfuscated_age = tls_read_u32(&ids);
	tls_read_vec16(&r, 33, 65535);
	ch->identity = id.p;
	ch->identity_len = id.left;
	return !r.err && tls_reader_done(&r) && tls_reader_done(&ids);
}

static void s4_client(const struct nst *nst, const tls_session *s3)
{
	struct blob psk4 = unhex(rfc8448_s4_psk), res3 = unhex(rfc8448_s3_res_master);
	struct blob priv = unhex(rfc8448_s4_client_priv), early = unhex(rfc8448_s4_early_payload);
	struct blob early_rec = unhex(rfc8448_s4_early_record), sh = unhex(rfc8448_s4_sh_record);
	struct blob sfl = unhex(rfc8448_s4_server_flight_record);
	struct blob eoed = unhex(rfc8448_s4_eoed_record);
	struct blob cfin = unhex(rfc8448_s4_client_finished_record);
	struct ch4 ch;
	struct secrets sec;
	memset(&sec, 0, sizeof(sec));
	tls_config *cfg = NULL;
	tls_conn *c = NULL;
	tls_buf sess, out;
	tls_buf_init(&sess, 0);
	tls_buf_init(&out, 0);

	/* the PSK from section 3's values alone (no engine state) */
	uint8_t psk[32];
	const tls_cipher *aes128 = tls_cipher_find(TLS_AES_128_GCM_SHA256);
	test_ok(aes128 && tls_ticket_psk(aes128, res3.p, nst->nonce, nst->nonce_len, psk) == 0 &&
		psk4.n == 32 && memcmp(psk, psk4.p, 32) == 0,
		"s4: PSK from section 3's resumption master secret and ticket nonce is the RFC's");
	if (!test_ok(parse_ch4(&ch), "s4 client: RFC ClientHello parses, pre_shared_key last"))
		goto out;
	if (!test_ok(s3 != NULL, "s4 client: section 3 left a session to resume"))
		goto out;
	test_ok(s3->cipher == TLS_AES_128_GCM_SHA256 && s3->psk_len == 32 &&
		memcmp(s3->psk, psk, 32) == 0, "s4 client: the session's PSK is the RFC's");
	test_ok(s3->ticket_len == nst->ticket_len &&
		memcmp(s3->ticket, nst->ticket, nst->ticket_len) == 0 &&
		ch.identity_len == nst->ticket_len &&
		memcmp(ch.identity, nst->ticket, nst->ticket_len) == 0,
		"s4 client: the session's ticket is the RFC's NewSessionTicket ticket and "
		"section 4's identity");
	test_ok(s3->age_add == nst->age_add && s3->lifetime_s == nst->lifetime &&
		s3->max_early_data == nst->max_early && nst->max_early == 1024 &&
		s3->created_ms == S3_CLIENT_NOW && strcmp(s3->server_name, "server") == 0,
		"s4 client: session lifetime %u s, age_add %08x, max_early_data %u", s3->lifetime_s,
		s3->age_add, s3->max_early_data);

	/* The engine reports an age 1 ms under the elapsed time (it rounds
	 * both ends down), so the clock runs that 1 ms further. */
	uint32_t age = ch.obfuscated_age - nst->age_add;
	test_diag("s4: the RFC's obfuscated_ticket_age %08x is a ticket age of %u ms",
		  ch.obfuscated_age, age);
	uint64_t now = S3_CLIENT_NOW + age + 1;
	cfg = tls_config_new(TLS_CLIENT);
	tls_config_set_ciphers(cfg, rfc_ciphers, 3);
	tls_config_set_groups(cfg, client_groups, 3);
	tls_config_set_key_share_groups(cfg, client_groups, 1);
	tls_config_set_verify_peer(cfg, false);
	tls_config_set_compat_mode(cfg, false);
	tls_config_set_clock(cfg, fixed_clock, &now);
	c = tls_conn_new(cfg);
	tls_callbacks cb = { .secret = on_secret };
	tls_conn_set_callbacks(c, &cb, &sec);
	tls_conn_set_server_name(c, "server");
	bool ok = tls_session_encode(s3, &sess) == 0 &&
		  tls_conn_set_session(c, sess.base, sess.len) == 0 &&
		  tls_conn_set_early_data(c, early.p, early.n) == 0;
	test_ok(ok, "s4 client: offer the session with %zu bytes of 0-RTT data", early.n);
	ok = tls_conn_test_set_random(c, ch.h.random) == 0 &&
	     tls_conn_test_set_kex_private(c, TLS_GROUP_X25519, priv.p, priv.n) == 0 &&
	     tls_conn_test_set_extensions(c, HS_CLIENT_HELLO, ch.h.ext, ch.ext_before_psk) == 0;
	test_ok(ok, "s4 client: test hooks accept the RFC's random, key and extensions "
		"(without pre_shared_key)");

	int rc = tls_conn_handshake(c, &out, NULL, &(size_t){ 0 });
	test_ok(rc == TLS_WANT_INPUT, "s4 client: first call wants input (%d: %s)", rc,
		tls_conn_error(c));
	size_t chn = out.len < ch.rec.n ? out.len : ch.rec.n;
	same("s4 client: ClientHello record (engine's pre_shared_key: age and binder)", out.base,
	     chn, &ch.rec);
	same("s4 client: 0-RTT application data record", out.base + chn, out.len - chn,
	     &early_rec);
	same_secret("s4", "client c e traffic", &sec, TLS_DIR_TX, TLS_EPOCH_EARLY,
		    rfc8448_s4_c_e_traffic);
	tls_buf_reset(&out);

	struct blob in = concat(sh, sfl), want = concat(eoed, cfin);
	rc = feed(c, &out, &in, 0, "s4 client: ServerHello + EncryptedExtensions/Finished");
	if (!same("s4 client: EndOfEarlyData record + Finished record", out.base, out.len, &want) &&
	    sec.got[TLS_DIR_TX][TLS_EPOCH_HANDSHAKE] && out.len > eoed.n) {
		struct blob m = unhex(rfc8448_s4_client_finished);
		explain_flight("s4 client Finished", sec.cs, sec.s[TLS_DIR_TX][TLS_EPOCH_HANDSHAKE],
			       out.base + eoed.n, out.len - eoed.n, &m, 1);
		free(m.p);
	}
	const tls_params *p = tls_conn_params(c);
	test_ok(rc == 0 && tls_conn_handshake_done(c) && p->resumed && !p->psk_external &&
		p->early_data == TLS_EARLY_ACCEPTED && p->group == TLS_GROUP_X25519,
		"s4 client: resumed with psk_dhe_ke, 0-RTT accepted");
	same_secret("s4", "client c hs traffic", &sec, TLS_DIR_TX, TLS_EPOCH_HANDSHAKE,
		    rfc8448_s4_c_hs_traffic);
	same_secret("s4", "client s hs traffic", &sec, TLS_DIR_RX, TLS_EPOCH_HANDSHAKE,
		    rfc8448_s4_s_hs_traffic);
	same_secret("s4", "client c ap traffic", &sec, TLS_DIR_TX, TLS_EPOCH_APPLICATION,
		    rfc8448_s4_c_ap_traffic);
	same_secret("s4", "client s ap traffic", &sec, TLS_DIR_RX, TLS_EPOCH_APPLICATION,
		    rfc8448_s4_s_ap_traffic);
	free(in.p);
	free(want.p);

	if (rc == 0) {
		struct blob payload = unhex(rfc8448_s4_client_app_payload);
		struct blob capp = unhex(rfc8448_s4_client_app_record);
		struct blob sapp = unhex(rfc8448_s4_server_app_record);
		struct blob spay = unhex(rfc8448_s4_server_app_payload);
		struct blob alert = unhex(rfc8448_s4_client_alert_record);
		tls_buf plain;
		tls_buf_init(&plain, 0);
		tls_buf_reset(&out);
		rc = tls_conn_send(c, &out, payload.p, payload.n);
		test_ok(rc == 0, "s4 client: send 50 bytes (%d)", rc);
		same("s4 client: application data record", out.base, out.len, &capp);
		tls_buf_reset(&out);
		size_t n = sapp.n;
		rc = tls_conn_recv(c, &out, &plain, sapp.p, &n);
		test_ok(rc == 0 && n == sapp.n, "s4 client: server application record accepted (%d)",
			rc);
		same("s4 client: server application data decrypts to the RFC's payload", plain.base,
		     plain.len, &spay);
		tls_buf_reset(&out);
		rc = tls_conn_close(c, &out);
		test_ok(rc == 0, "s4 client: close (%d)", rc);
		same("s4 client: close_notify record", out.base, out.len, &alert);
		tls_buf_free(&plain);
		free(payload.p), free(capp.p), free(sapp.p), free(spay.p), free(alert.p);
	}
out:
	OPENSSL_cleanse(psk, sizeof(psk));
	tls_buf_free(&sess);
	tls_conn_free(c);
	tls_config_free(cfg);
	tls_buf_free(&out);
	free(ch.rec.p);
	free(psk4.p), free(res3.p), free(priv.p), free(early.p), free(early_rec.p), free(sh.p);
	free(sfl.p), free(eoed.p), free(cfin.p);
}

/* bad_binder: the same ClientHello with one binder bit flipped must be
 * refused (decrypt_error): the hook does not bypass the binder check. */
static void s4_server(const struct nst *nst, bool bad_binder)
{
	struct blob psk4 = unhex(rfc8448_s4_psk), priv = unhex(rfc8448_s4_server_priv);
	struct blob early = unhex(rfc8448_s4_early_payload);
	struct blob early_rec = unhex(rfc8448_s4_early_record), sh = unhex(rfc8448_s4_sh_record);
	struct blob sfl = unhex(rfc8448_s4_server_flight_record), ee = unhex(rfc8448_s4_ee);
	struct blob eoed = unhex(rfc8448_s4_eoed_record);
	struct blob cfin = unhex(rfc8448_s4_client_finished_record);
	struct blob eeext;
	struct ch4 ch;
	struct hello hs;
	struct secrets sec;
	memset(&sec, 0, sizeof(sec));
	tls_buf_init(&sec.early, 0);
	tls_buf out;
	tls_buf_init(&out, 0);
	tls_config *cfg = NULL;
	tls_conn *c = NULL;
	bool ok = parse_ch4(&ch) && parse_hello(sh.p + 5, sh.n - 5, &hs) && message_ext(&ee, &eeext);
	if (!test_ok(ok, "s4 server%s: RFC messages parse", bad_binder ? " (bad binder)" : ""))
		goto out;

	/* the ticket as the RFC's server issued it in section 3 */
	const uint64_t created = 1600000000000ull;
	uint32_t age = ch.obfuscated_age - nst->age_add;
	uint64_t now = created + age;
	tls_ticket tk;
	memset(&tk, 0, sizeof(tk));
	tk.version = 0x0304;
	tk.cipher = TLS_AES_128_GCM_SHA256;
	memcpy(tk.psk, psk4.p, 32);
	tk.psk_len = 32;
	tk.created_ms = created;
	tk.lifetime_s = nst->lifetime;
	tk.age_add = nst->age_add;
	tk.max_early_data = nst->max_early;
	tk.ke_modes = TLS_TICKET_KE_BIT(TLS_PSK_DHE_KE);
	tls_ticket_set_sni(&tk, "server");

	cfg = tls_config_new(TLS_SERVER);
	static const uint16_t server_ciphers[] = { TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
						   TLS_CHACHA20_POLY1305_SHA256 };
	tls_config_set_ciphers(cfg, server_ciphers, 3);
	tls_config_set_groups(cfg, client_groups, 3);
	tls_config_set_clock(cfg, fixed_clock, &now);
	tls_config_set_tickets(cfg, 0, 7200); /* section 4's server sends none */
	test_ok(tls_config_set_early_data(cfg, nst->max_early) == 0,
		"s4 server: accept up to %u bytes of 0-RTT", nst->max_early);
	c = tls_conn_new(cfg);
	tls_callbacks cb = { .secret = on_secret, .early_data = on_early_data };
	tls_conn_set_callbacks(c, &cb, &sec);
	ok = tls_conn_test_set_ticket(c, nst->ticket, nst->ticket_len, &tk) == 0 &&
	     tls_conn_test_set_random(c, hs.random) == 0 &&
	     tls_conn_test_set_kex_private(c, TLS_GROUP_X25519, priv.p, priv.n) == 0 &&
	     tls_conn_test_set_extensions(c, HS_SERVER_HELLO, hs.ext, hs.ext_len) == 0 &&
	     tls_conn_test_set_extensions(c, HS_ENCRYPTED_EXTENSIONS, eeext.p, eeext.n) == 0;
	tls_ticket_clear(&tk);
	test_ok(ok, "s4 server%s: test hooks accept the RFC's ticket, random, key and extensions",
		bad_binder ? " (bad binder)" : "");

	if (bad_binder) {
		ch.rec.p[ch.rec.n - 1] ^= 1;
		size_t n = ch.rec.n;
		int rc = tls_conn_handshake(c, &out, ch.rec.p, &n);
		test_ok(rc == TLS_ERR_LOCAL(TLS_ALERT_DECRYPT_ERROR),
			"s4 server: a ClientHello with a bad binder is refused with decrypt_error "
			"(%d: %s)", rc, tls_conn_error(c));
		goto out;
	}

	feed(c, &out, &ch.rec, TLS_WANT_INPUT, "s4 server: ClientHello");
	size_t shn = out.len < sh.n ? out.len : sh.n;
	same("s4 server: ServerHello record", out.base, shn, &sh);
	if (!same("s4 server: encrypted flight (EE with early_data, Finished) record",
		  out.base + shn, out.len - shn, &sfl) && sec.got[TLS_DIR_TX][TLS_EPOCH_HANDSHAKE]) {
		struct blob m[2] = { ee, unhex(rfc8448_s4_server_finished) };
		explain_flight("s4 server flight", sec.cs, sec.s[TLS_DIR_TX][TLS_EPOCH_HANDSHAKE],
			       out.base + shn, out.len - shn, m, 2);
		free(m[1].p);
	}
	same_secret("s4", "server c e traffic", &sec, TLS_DIR_RX, TLS_EPOCH_EARLY,
		    rfc8448_s4_c_e_traffic);
	same_secret("s4", "server s hs traffic", &sec, TLS_DIR_TX, TLS_EPOCH_HANDSHAKE,
		    rfc8448_s4_s_hs_traffic);
	tls_buf_reset(&out);

	feed(c, &out, &early_rec, TLS_WANT_INPUT, "s4 server: 0-RTT application data record");
	test_ok(sec.early_calls == 1, "s4 server: early_data callback called once (%d)",
		sec.early_calls);
	same("s4 server: 0-RTT data delivered is the RFC's plaintext", sec.early.base,
	     sec.early.len, &early);
	test_ok(!tls_conn_handshake_done(c), "s4 server: 0-RTT data stays unconfirmed until the "
		"client's Finished");

	struct blob in = concat(eoed, cfin);
	int rc = feed(c, &out, &in, 0, "s4 server: EndOfEarlyData + client Finished");
	free(in.p);
	const tls_params *p = tls_conn_params(c);
	test_ok(rc == 0 && tls_conn_handshake_done(c) && p->resumed && !p->psk_external &&
		p->early_data == TLS_EARLY_ACCEPTED && p->group == TLS_GROUP_X25519,
		"s4 server: resumed with psk_dhe_ke, 0-RTT accepted and confirmed");
	test_ok(out.len == 0, "s4 server: nothing more to send (no tickets, as in the RFC; %zu "
		"bytes)", out.len);
	same_secret("s4", "server c hs traffic", &sec, TLS_DIR_RX, TLS_EPOCH_HANDSHAKE,
		    rfc8448_s4_c_hs_traffic);
	same_secret("s4", "server s ap traffic", &sec, TLS_DIR_TX, TLS_EPOCH_APPLICATION,
		    rfc8448_s4_s_ap_traffic);
	same_secret("s4", "server c ap traffic", &sec, TLS_DIR_RX, TLS_EPOCH_APPLICATION,
		    rfc8448_s4_c_ap_traffic);

	if (rc == 0) {
		struct blob capp = unhex(rfc8448_s4_client_app_record);
		struct blob cpay = unhex(rfc8448_s4_client_app_payload);
		struct blob sapp = unhex(rfc8448_s4_server_app_record);
		struct blob spay = unhex(rfc8448_s4_server_app_payload);
		struct blob alert = unhex(rfc8448_s4_server_alert_record);
		tls_buf plain;
		tls_buf_init(&plain, 0);
		tls_buf_reset(&out);
		size_t n = capp.n;
		rc = tls_conn_recv(c, &out, &plain, capp.p, &n);
		test_ok(rc == 0 && n == capp.n, "s4 server: client application record accepted (%d)",
			rc);
		same("s4 server: client application data decrypts to the RFC's payload", plain.base,
		     plain.len, &cpay);
		tls_buf_reset(&out);
		rc = tls_conn_send(c, &out, spay.p, spay.n);
		test_ok(rc == 0, "s4 server: send 50 bytes (%d)", rc);
		same("s4 server: application data record", out.base, out.len, &sapp);
		tls_buf_reset(&out);
		rc = tls_conn_close(c, &out);
		test_ok(rc == 0, "s4 server: close (%d)", rc);
		same("s4 server: close_notify record", out.base, out.len, &alert);
		tls_buf_free(&plain);
		free(capp.p), free(cpay.p), free(sapp.p), free(spay.p), free(alert.p);
	}
out:
	tls_conn_free(c);
	tls_config_free(cfg);
	tls_buf_free(&out);
	tls_buf_free(&sec.early);
	free(ch.rec.p);
	free(psk4.p), free(priv.p), free(early.p), free(early_rec.p), free(sh.p), free(sfl.p);
	free(ee.p), free(eoed.p), free(cfin.p);
}

/* The RFC's own CertificateVerify checks out under the RFC's public key,
 * over a transcript hash we compute from the RFC's messages (no engine). */
static void rfc_signature_self_check(EVP_PKEY *rsa)
{
	struct blob ch = unhex(rfc8448_s3_ch_record), sh = unhex(rfc8448_s3_sh_record);
	struct blob ee = unhex(rfc8448_s3_ee), cert = unhex(rfc8448_s3_server_cert);
	struct blob cv = unhex(rfc8448_s3_server_cv), sig;
	uint16_t scheme = 0;
	uint8_t hash[32], content[64 + 34 + 48];
	unsigned int hlen = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
		  EVP_DigestUpdate(md, ch.p + 5, ch.n - 5) && EVP_DigestUpdate(md, sh.p + 5, sh.n - 5) &&
		  EVP_DigestUpdate(md, ee.p, ee.n) && EVP_DigestUpdate(md, cert.p, cert.n) &&
		  EVP_DigestFinal_ex(md, hash, &hlen) && message_cv(&cv, &scheme, &sig);
	test_ok(ok && scheme == TLS_SIG_RSA_PSS_RSAE_SHA256, "s3: RFC CertificateVerify is "
		"rsa_pss_rsae_sha256");
	size_t n = tls_cv_content(true, hash, hlen, content);
	test_ok(ok && tls_sig_verify(rsa, scheme, content, n, sig.p, sig.n) == 0,
		"s3: RFC CertificateVerify signature verifies with section 2's key");
	content[n - 1] ^= 1;
	test_ok(ok && tls_sig_verify(rsa, scheme, content, n, sig.p, sig.n) != 0,
		"s3: and fails over a different transcript");
	EVP_MD_CTX_free(md);
	free(ch.p), free(sh.p), free(ee.p), free(cert.p), free(cv.p);
}

int main(void)
{
	EVP_PKEY *rsa = rfc_rsa_key();
	if (!test_ok(rsa != NULL, "section 2 RSA key builds from its numbers"))
		return test_done();
	rfc_signature_self_check(rsa);
	tls_session *s3_session = NULL;
	for (size_t i = 0; i < sizeof(traces) / sizeof(traces[0]); i++) {
		run_client(&traces[i], i == 0 ? &s3_session : NULL);
		run_server(&traces[i], rsa);
	}
	struct nst nst;
	if (test_ok(parse_nst(&nst), "s3: RFC NewSessionTicket parses")) {
		s4_client(&nst, s3_session);
		s4_server(&nst, false);
		s4_server(&nst, true);
		free(nst.msg.p);
	}
	tls_session_free(s3_session);
	EVP_PKEY_free(rsa);
	return test_done();
}
