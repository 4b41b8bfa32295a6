/* Valid ClientHellos at the limits RFC 8446 allows: the server must complete
 * the handshake (RFC 8446 §4.1.2, §4.2, §9.3: unknown values are ignored, and
 * only the vectors' lengths bound a hello).
 *
 * Each case is a real handshake between our client and our server in
 * memory; the client's ClientHello extension block is replaced with a
 * hand-made one (tls_conn_test_set_extensions) holding thousands of unknown
 * extensions, key shares or signature schemes next to the ones that matter.
 * The client still checks everything the server sends, so "completes" means
 * both sides finished and agree. Negative controls show that the same
 * checks still catch real violations at that size.
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

#define EXT_SERVER_NAME 0x0000
#define EXT_SUPPORTED_GROUPS 0x000a
#define EXT_SIGNATURE_ALGORITHMS 0x000d
#define EXT_PADDING 0x0015
#define EXT_SUPPORTED_VERSIONS 0x002b
#define EXT_KEY_SHARE 0x0033

static struct test_pki ec_pki, rsa_pki;
static char both_cas[64]; /* a CA file holding both test CAs */
static uint8_t x25519_priv[32], x25519_pub[32];

/* ---- hand-made extension blocks ---- */

static void ext_begin(tls_buf *b, uint16_t type)
{
	tls_write_u16(b, type);
	tls_write_open(b, 2);
}

static void ext_versions(tls_buf *b)
{
	ext_begin(b, EXT_SUPPORTED_VERSIONS);
	tls_write_open(b, 1);
	tls_write_u16(b, 0x0304);
	tls_write_close(b);
	tls_write_close(b);
}

static void ext_u16_list(tls_buf *b, uint16_t type, const uint16_t *v, size_t n)
{
	ext_begin(b, type);
	tls_write_open(b, 2);
	for (size_t i = 0; i < n; i++)
		tls_write_u16(b, v[i]);
	tls_write_close(b);
	tls_write_close(b);
}

/* The extensions every hello here carries, with a fixed key_share block. */
static void ext_common(tls_buf *b, const uint16_t *groups, size_t n_groups)
{
	static const uint16_t sigalgs[] = { TLS_SIG_ECDSA_SECP256R1_SHA256,
					    TLS_SIG_RSA_PSS_RSAE_SHA256 };
	ext_versions(b);
	ext_u16_list(b, EXT_SUPPORTED_GROUPS, groups, n_groups);
	ext_u16_list(b, EXT_SIGNATURE_ALGORITHMS, sigalgs, 2);
}

static void ext_x25519_share(tls_buf *b)
{
	ext_begin(b, EXT_KEY_SHARE);
	tls_write_open(b, 2);
	tls_write_u16(b, TLS_GROUP_X25519);
	tls_write_open(b, 2);
	tls_write_bytes(b, x25519_pub, 32);
	tls_write_close(b);
	tls_write_close(b);
	tls_write_close(b);
}

/* `n` empty extensions of types from `first` on (0x7000.. holds no
 * assigned extension). */
static void ext_unknown(tls_buf *b, size_t n, uint16_t first)
{
	for (size_t i = 0; i < n; i++) {
		tls_write_u16(b, (uint16_t)(first + i));
		tls_write_u16(b, 0);
	}
}

/* ---- one in-memory handshake ---- */

struct result {
	int crc, src;          /* last results of client and server */
	uint16_t sig_scheme;   /* the server's choice */
	bool hrr;
	const char *serr;
};

static tls_config *server_config(bool with_rsa)
{
	tls_config *cfg = tls_config_new(TLS_SERVER);
	tls_chain chain;
	test_pki_chain(&ec_pki, &chain);
	if (tls_config_add_cert(cfg, &chain, test_pki_leaf_key(&ec_pki)) != 0)
		abort();
	if (with_rsa) {
		test_pki_chain(&rsa_pki, &chain);
		if (tls_config_add_cert(cfg, &chain, test_pki_leaf_key(&rsa_pki)) != 0)
			abort();
	}
	return cfg;
}

static tls_config *client_config(void)
{
	tls_config *cfg = tls_config_new(TLS_CLIENT);
	char err[256];
	if (tls_config_load_ca(cfg, both_cas, err, sizeof(err)) != 0) {
		fprintf(stderr, "clienthello: load CA: %s\n", err);
		abort();
	}
	return cfg;
}

/* The cookie the server puts in its HelloRetryRequest here, so that a
 * hand-made second ClientHello can echo it. */
static const uint8_t hrr_cookie[] = "a fixed HelloRetryRequest cookie";

static void ext_cookie(tls_buf *b)
{
	ext_begin(b, 0x002c);
	tls_write_open(b, 2);
	tls_write_bytes(b, hrr_cookie, sizeof(hrr_cookie) - 1);
	tls_write_close(b);
	tls_write_close(b);
}

/* Runs a handshake whose ClientHello extensions are ch1 (and ch2 after an
 * HRR, when given). The server's config may be NULL for the default. */
static struct result run(const tls_buf *ch1, const tls_buf *ch2, tls_config *scfg)
{
	struct result res = { 0 };
	tls_config *ccfg = client_config();
	if (ch2) {
		/* the client believes it shared P-256 only, so an HRR for X25519
		 * is one it accepts; the hand-made hellos decide what is sent */
		static const uint16_t groups[] = { TLS_GROUP_X25519, TLS_GROUP_SECP256R1 };
		tls_config_set_groups(ccfg, groups, 2);
		tls_config_set_key_share_groups(ccfg, groups + 1, 1);
	}
	tls_config *own = scfg ? NULL : server_config(false);
	struct test_pair p;
	test_pair_init(&p, ccfg, scfg ? scfg : own, "server.test");
	tls_conn_test_set_kex_private(p.cl.c, TLS_GROUP_X25519, x25519_priv, 32);
	tls_conn_test_set_extensions(p.cl.c, 1, ch1->base, ch1->len);
	if (ch2) {
		tls_conn_test_set_extensions(p.cl.c, 1, ch2->base, ch2->len);
		tls_conn_test_set_hrr_cookie(p.sv.c, hrr_cookie, sizeof(hrr_cookie) - 1);
	}
	test_pair_run(&p);
	res.crc = p.cl.rc;
	res.src = p.sv.rc;
	if (res.src == 0)
		res.sig_scheme = tls_conn_params(p.sv.c)->sig_scheme;
	if (res.src == 0)
		res.hrr = tls_conn_params(p.sv.c)->hrr;
	static char serr[200];
	snprintf(serr, sizeof(serr), "%s", tls_conn_error(p.sv.c));
	res.serr = serr;
	test_pair_free(&p);
	tls_config_free(ccfg);
	tls_config_free(own);
	return res;
}

/* A ClientHello with extension block `ext`, made by hand (our client
 * refuses to send a malformed one), fed to a fresh default server: the
 * server's result, its reason in *why. */
static int raw_hello(const tls_buf *ext, const char **why)
{
	tls_buf m, rec, out;
	tls_buf_init(&m, 0);
	tls_buf_init(&rec, 0);
	tls_buf_init(&out, 0);
	tls_write_u8(&m, 1);
	tls_write_open(&m, 3);
	tls_write_u16(&m, 0x0303);
	tls_write_zeros(&m, 32);
	tls_write_u8(&m, 0);
	tls_write_u16(&m, 2);
	tls_write_u16(&m, TLS_AES_128_GCM_SHA256);
	tls_write_u8(&m, 1);
	tls_write_u8(&m, 0);
	tls_write_open(&m, 2);
	tls_write_bytes(&m, ext->base, ext->len);
	tls_write_close(&m);
	tls_write_close(&m);
	for (size_t off = 0; off < m.len; off += TLS_MAX_PLAINTEXT) {
		size_t n = m.len - off > TLS_MAX_PLAINTEXT ? TLS_MAX_PLAINTEXT : m.len - off;
		tls_rl_write_plain(&rec, 22, 0x0301, m.base + off, n);
	}
	tls_config *scfg = server_config(false);
	tls_conn *sv = tls_conn_new(scfg);
	size_t n = rec.len;
	int rc = tls_conn_handshake(sv, &out, rec.base, &n);
	static char err[200];
	snprintf(err, sizeof(err), "%s", tls_conn_error(sv));
	*why = err;
	tls_conn_free(sv);
	tls_config_free(scfg);
	tls_buf_free(&m);
	tls_buf_free(&rec);
	tls_buf_free(&out);
	return rc;
}

static bool is_alert(int rc, int alert)
{
	return TLS_IS_LOCAL_ERR(rc) && TLS_ERR_ALERT(rc) == alert;
}

static bool completed(const struct result *r)
{
	return r->crc == 0 && r->src == 0;
}

static bool refused(const struct result *r, int alert)
{
	return TLS_IS_LOCAL_ERR(r->src) && TLS_ERR_ALERT(r->src) == alert;
}

/* ---- §4.1.2, §4.2: any number of extensions ---- */

static void many_extensions(void)
{
	static const uint16_t groups[] = { TLS_GROUP_X25519 };
	static const size_t counts[] = { 129, 1024, 4096, 16000 };
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		tls_buf b;
		tls_buf_init(&b, 0);
		ext_unknown(&b, counts[i] / 2, 0x7000);
		ext_common(&b, groups, 1);
		ext_unknown(&b, counts[i] - counts[i] / 2, (uint16_t)(0x7000 + counts[i] / 2));
		ext_x25519_share(&b);
		struct result r = run(&b, NULL, NULL);
		test_ok(completed(&r), "%zu unknown extensions (block of %zu bytes): completes (%d/%d: %s)",
			counts[i], b.len, r.crc, r.src, r.serr);
		tls_buf_free(&b);
	}

	/* the same size with one unknown type twice is still a duplicate */
	const char *why;
	tls_buf b;
	tls_buf_init(&b, 0);
	ext_unknown(&b, 4000, 0x7000);
	ext_common(&b, groups, 1);
	ext_unknown(&b, 1, 0x7000 + 3999);
	ext_x25519_share(&b);
	int rc = raw_hello(&b, &why);
	test_ok(is_alert(rc, TLS_ALERT_ILLEGAL_PARAMETER) && strstr(why, "duplicate"),
		"4,001 extensions, the last unknown one a duplicate: illegal_parameter (%s)", why);
	tls_buf_free(&b);

	/* a known one twice among thousands */
	tls_buf_init(&b, 0);
	ext_common(&b, groups, 1);
	ext_unknown(&b, 3000, 0x7000);
	ext_versions(&b);
	ext_x25519_share(&b);
	rc = raw_hello(&b, &why);
	test_ok(is_alert(rc, TLS_ALERT_ILLEGAL_PARAMETER) && strstr(why, "duplicate"),
		"3,000 unknown extensions and supported_versions twice: illegal_parameter (%s)", why);
	tls_buf_free(&b);
}

/* §4.1.2: after an HRR the second ClientHello keeps the first's extensions,
 * in the same order; with 1,024 unknown ones a reordering is still seen. */
static void hrr_with_many_extensions(void)
{
	static const uint16_t groups[] = { TLS_GROUP_X25519 };
	for (int reorder = 0; reorder < 2; reorder++) {
		tls_buf ch1, ch2;
		tls_buf_init(&ch1, 0);
		tls_buf_init(&ch2, 0);
		/* CH1: X25519 listed, no share: the server asks for one */
		ext_unknown(&ch1, 512, 0x7000);
		ext_common(&ch1, groups, 1);
		ext_unknown(&ch1, 512, 0x7000 + 512);
		ext_begin(&ch1, EXT_KEY_SHARE);
		tls_write_open(&ch1, 2);
		tls_write_close(&ch1);
		tls_write_close(&ch1);
		/* CH2: the same, with the share and the cookie; or the two runs
		 * of unknown extensions swapped */
		ext_unknown(&ch2, 512, reorder ? 0x7000 + 512 : 0x7000);
		ext_common(&ch2, groups, 1);
		ext_unknown(&ch2, 512, reorder ? 0x7000 : 0x7000 + 512);
		ext_x25519_share(&ch2);
		ext_cookie(&ch2);
		struct result r = run(&ch1, &ch2, NULL);
		if (!reorder)
			test_ok(completed(&r) && r.hrr,
				"HRR with 1,024 unknown extensions, CH2 in the same order: "
				"completes (%d/%d: %s)", r.crc, r.src, r.serr);
		else
			test_ok(refused(&r, TLS_ALERT_ILLEGAL_PARAMETER) &&
					strstr(r.serr, "changed"),
				"HRR with 1,024 unknown extensions, CH2 reorders them: "
				"illegal_parameter (%s)", r.serr);
		tls_buf_free(&ch1);
		tls_buf_free(&ch2);
	}
}

/* ---- §4.2.8: key shares for groups we do not know ---- */

static void share_entries(tls_buf *b, size_t n_unknown, bool known, uint16_t dup)
{
	ext_begin(b, EXT_KEY_SHARE);
	tls_write_open(b, 2);
	for (size_t i = 0; i < n_unknown; i++) {
		tls_write_u16(b, (uint16_t)(0x6000 + i));
		tls_write_open(b, 2);
		tls_write_zeros(b, 32);
		tls_write_close(b);
	}
	if (dup) {
		tls_write_u16(b, dup);
		tls_write_open(b, 2);
		tls_write_zeros(b, 32);
		tls_write_close(b);
	}
	if (known) {
		tls_write_u16(b, TLS_GROUP_X25519);
		tls_write_open(b, 2);
		tls_write_bytes(b, x25519_pub, 32);
		tls_write_close(b);
	}
	tls_write_close(b);
	tls_write_close(b);
}

static void many_shares(void)
{
	/* supported_groups: 1,000 groups we do not know, then X25519 */
	uint16_t groups[1001];
	for (size_t i = 0; i < 1000; i++)
		groups[i] = (uint16_t)(0x6000 + i);
	groups[1000] = TLS_GROUP_X25519;

	tls_buf b;
	tls_buf_init(&b, 0);
	ext_common(&b, groups, 1001);
	share_entries(&b, 250, true, 0);
	struct result r = run(&b, NULL, NULL);
	test_ok(completed(&r) && !r.hrr,
		"250 shares for unknown groups, then X25519: completes without HRR (%d/%d: %s)",
		r.crc, r.src, r.serr);
	tls_buf_free(&b);

	/* 1,000 unknown shares, X25519 listed without one: HRR, then done */
	tls_buf ch2;
	tls_buf_init(&b, 0);
	tls_buf_init(&ch2, 0);
	ext_common(&b, groups, 1001);
	share_entries(&b, 1000, false, 0);
	ext_common(&ch2, groups, 1001);
	ext_x25519_share(&ch2);
	ext_cookie(&ch2);
	r = run(&b, &ch2, NULL);
	test_ok(completed(&r) && r.hrr,
		"1,000 shares for unknown groups, X25519 listed without one: HRR, then completes "
		"(%d/%d: %s)", r.crc, r.src, r.serr);
	tls_buf_free(&b);
	tls_buf_free(&ch2);

	/* the checks that remain: a duplicate group among hundreds, and a
	 * share for a group that supported_groups does not list */
	tls_buf_init(&b, 0);
	ext_common(&b, groups, 1001);
	share_entries(&b, 300, true, 0x6000 + 7);
	r = run(&b, NULL, NULL);
	test_ok(refused(&r, TLS_ALERT_ILLEGAL_PARAMETER) && strstr(r.serr, "two key shares"),
		"300 unknown shares, one group twice: illegal_parameter (%s)", r.serr);
	tls_buf_free(&b);

	tls_buf_init(&b, 0);
	ext_common(&b, groups + 1, 1000); /* 0x6000 is not listed */
	share_entries(&b, 300, true, 0);
	r = run(&b, NULL, NULL);
	test_ok(refused(&r, TLS_ALERT_ILLEGAL_PARAMETER) && strstr(r.serr, "not in supported_groups"),
		"a share for a group supported_groups does not list: illegal_parameter (%s)",
		r.serr);
	tls_buf_free(&b);
}

/* ---- §4.2.3: a long signature_algorithms list is read whole ---- */

static void long_sigalgs(void)
{
	tls_config *scfg = server_config(true);
	static const uint16_t groups[] = { TLS_GROUP_X25519 };
	uint16_t *schemes = malloc(23751 * sizeof(*schemes));
	if (!schemes)
		abort();
	for (size_t i = 0; i < 23750; i++)
		schemes[i] = (uint16_t)(0x0a00 + i); /* no assigned scheme lives there */
	schemes[23750] = TLS_SIG_RSA_PSS_RSAE_SHA256;
	tls_buf b;
	tls_buf_init(&b, 0);
	ext_versions(&b);
	ext_u16_list(&b, EXT_SUPPORTED_GROUPS, groups, 1);
	ext_u16_list(&b, EXT_SIGNATURE_ALGORITHMS, schemes, 23751);
	ext_x25519_share(&b);
	struct result r = run(&b, NULL, scfg);
	test_ok(completed(&r) && r.sig_scheme == TLS_SIG_RSA_PSS_RSAE_SHA256,
		"23,750 unknown signature schemes, rsa_pss_rsae_sha256 last: the RSA certificate "
		"signs (%d/%d, scheme 0x%04x: %s)", r.crc, r.src, r.sig_scheme, r.serr);
	tls_buf_free(&b);

	/* the same list without the RSA scheme: no certificate fits */
	tls_buf_init(&b, 0);
	ext_versions(&b);
	ext_u16_list(&b, EXT_SUPPORTED_GROUPS, groups, 1);
	ext_u16_list(&b, EXT_SIGNATURE_ALGORITHMS, schemes, 23750);
	ext_x25519_share(&b);
	r = run(&b, NULL, scfg);
	test_ok(refused(&r, TLS_ALERT_HANDSHAKE_FAILURE),
		"23,750 unknown signature schemes only: handshake_failure (%s)", r.serr);
	tls_buf_free(&b);
	free(schemes);
	tls_config_free(scfg);
}

/* ---- the size of a ClientHello ---- */

/* A ClientHello whose extension block is full (65,535 bytes) is over 64 KiB
 * and legal; padding makes up the rest. */
static void big_hello(void)
{
	static const uint16_t groups[] = { TLS_GROUP_X25519 };
	tls_buf b;
	tls_buf_init(&b, 0);
	ext_common(&b, groups, 1);
	ext_x25519_share(&b);
	size_t pad = 0xffff - b.len - 4;
	ext_begin(&b, EXT_PADDING);
	tls_write_zeros(&b, pad);
	tls_write_close(&b);
	struct result r = run(&b, NULL, NULL);
	test_ok(completed(&r) && b.len == 0xffff,
		"ClientHello with a full 65,535-byte extension block (over 64 KiB): completes "
		"(%d/%d: %s)", r.crc, r.src, r.serr);

	/* the cap stays configurable */
	tls_config *scfg = server_config(false);
	tls_config_set_max_handshake(scfg, 65536);
	r = run(&b, NULL, scfg);
	test_ok(refused(&r, TLS_ALERT_ILLEGAL_PARAMETER),
		"the same with max_handshake 65536: illegal_parameter (%s)", r.serr);
	tls_config_free(scfg);
	tls_buf_free(&b);
}

/* The largest ClientHello there can be, made by hand: 32,767 cipher suites,
 * a full extension block: the server answers it. One byte more in the
 * length field is refused before the body arrives. */
static void largest_hello(void)
{
	tls_buf m;
	tls_buf_init(&m, 0);
	tls_write_u8(&m, 1);
	tls_write_open(&m, 3);
	tls_write_u16(&m, 0x0303);
	tls_write_zeros(&m, 32);
	tls_write_u8(&m, 32);
	tls_write_zeros(&m, 32);
	tls_write_open(&m, 2);
	for (size_t i = 0; i < 32766; i++)
		tls_write_u16(&m, (uint16_t)(0xd000 + i)); /* unassigned suites */
	tls_write_u16(&m, TLS_AES_128_GCM_SHA256);
	tls_write_close(&m);
	tls_write_u8(&m, 1);
	tls_write_u8(&m, 0); /* compression: null only (§4.1.2) */
	tls_write_open(&m, 2);
	static const uint16_t groups[] = { TLS_GROUP_X25519 };
	ext_common(&m, groups, 1);
	ext_x25519_share(&m);
	size_t block_start = 4 + 2 + 32 + 33 + 2 + 65534 + 2 + 2;
	size_t pad = 0xffff - (m.len - block_start) - 4;
	ext_begin(&m, EXT_PADDING);
	tls_write_zeros(&m, pad);
	tls_write_close(&m);
	tls_write_close(&m);
	tls_write_close(&m);
	size_t body = m.len - 4;

	tls_buf rec;
	tls_buf_init(&rec, 0);
	for (size_t off = 0; off < m.len; off += TLS_MAX_PLAINTEXT) {
		size_t n = m.len - off > TLS_MAX_PLAINTEXT ? TLS_MAX_PLAINTEXT : m.len - off;
		tls_rl_write_plain(&rec, 22, 0x0301, m.base + off, n);
	}
	tls_config *scfg = server_config(false);
	tls_conn *sv = tls_conn_new(scfg);
	tls_buf out;
	tls_buf_init(&out, 0);
	size_t n = rec.len;
	int rc = tls_conn_handshake(sv, &out, rec.base, &n);
	test_ok(!m.err && rc == TLS_WANT_INPUT && n == rec.len && out.len > 5 &&
			out.base[0] == 22 && out.base[5] == 2,
		"a %zu-byte ClientHello (32,767 suites, full extension block): ServerHello (%d: %s)",
		body, rc, tls_conn_error(sv));
	tls_conn_free(sv);

	/* a header that claims one byte more than the default cap */
	static const uint8_t over[] = { 22, 3, 1, 0, 4, 1, (TLS_DEFAULT_MAX_HANDSHAKE + 1) >> 16,
					((TLS_DEFAULT_MAX_HANDSHAKE + 1) >> 8) & 0xff,
					(TLS_DEFAULT_MAX_HANDSHAKE + 1) & 0xff };
	sv = tls_conn_new(scfg);
	tls_buf_reset(&out);
	n = sizeof(over);
	rc = tls_conn_handshake(sv, &out, over, &n);
	test_ok(TLS_IS_LOCAL_ERR(rc) && TLS_ERR_ALERT(rc) == TLS_ALERT_ILLEGAL_PARAMETER,
		"a ClientHello header claiming %d bytes: illegal_parameter (%d: %s)",
		TLS_DEFAULT_MAX_HANDSHAKE + 1, rc, tls_conn_error(sv));
	tls_conn_free(sv);
	tls_config_free(scfg);
	tls_buf_free(&out);
	tls_buf_free(&rec);
	tls_buf_free(&m);
}

int main(void)
{
	test_pki_make(&ec_pki, TESTKEY_P256, "server.test", 0);
	test_pki_make(&rsa_pki, TESTKEY_RSA2048, "server.test", 0);
	/* one CA file with both CAs, so the client verifies either chain */
	snprintf(both_cas, sizeof(both_cas), "/tmp/clienthello-cas-XXXXXX");
	int fd = mkstemp(both_cas);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	const char *paths[] = { ec_pki.ca_path, rsa_pki.ca_path };
	for (size_t i = 0; f && i < 2; i++) {
		FILE *in = fopen(paths[i], "r");
		char line[256];
		while (in && fgets(line, sizeof(line), in))
			fputs(line, f);
		if (in)
			fclose(in);
	}
	if (!f || fclose(f) != 0) {
		fprintf(stderr, "clienthello: cannot write the CA file\n");
		return 1;
	}
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	size_t l1 = 32, l2 = 32;
	if (!k || !EVP_PKEY_get_raw_private_key(k, x25519_priv, &l1) ||
	    !EVP_PKEY_get_raw_public_key(k, x25519_pub, &l2)) {
		fprintf(stderr, "clienthello: no X25519\n");
		return 1;
	}
	EVP_PKEY_free(k);

	many_extensions();
	hrr_with_many_extensions();
	many_shares();
	long_sigalgs();
	big_hello();
	largest_hello();

	unlink(both_cas);
	test_pki_free(&ec_pki);
	test_pki_free(&rsa_pki);
	return test_done();
}
