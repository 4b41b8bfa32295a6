/* Hybrid ML-KEM groups (draft-ietf-tls-ecdhe-mlkem): share sizes and the
 * draft's concatenation order checked against an independent composition
 * of ML-KEM-768 and the classical group, malformed shares refused in both
 * roles (illegal_parameter through the engine), the server's preference
 * and HelloRetryRequest for a hybrid group listed without a share, and the
 * client's default shares. */
#include <string.h>

#include "pair.h"
#include "test.h"
#include "testkeys.h"
#include "tls/crypto.h"
#include "tls/mlkem.h"
#include "tls/names.h"

#define EXT_KEY_SHARE 51

static struct test_pki pki;

struct hybrid {
	uint16_t id, ec_group;
	const char *name;
	size_t ec_len;
	bool kem_first;
};

static const struct hybrid hybrids[] = {
	{ TLS_GROUP_X25519MLKEM768, TLS_GROUP_X25519, "X25519MLKEM768", 32, true },
	{ TLS_GROUP_SECP256R1MLKEM768, TLS_GROUP_SECP256R1, "SecP256r1MLKEM768", 65, false },
};

/* ---- the kex API against a composition by hand ---- */

/* Plays the server by hand on the client's share: encapsulates to the ek
 * and runs the classical exchange at the offsets the draft gives, builds
 * the server share in the draft's order and the expected secret. */
static bool server_by_hand(const struct hybrid *h, const uint8_t *cshare, tls_buf *sshare,
			   uint8_t expect[64])
{
	const uint8_t *ek = h->kem_first ? cshare : cshare + h->ec_len;
	const uint8_t *cec = h->kem_first ? cshare + TLS_MLKEM768_EK_LEN : cshare;
	uint8_t ct[TLS_MLKEM768_CT_LEN], ss_kem[32], ss_ec[TLS_MAX_KEX_SECRET];
	size_t n = 0;
	tls_kex e;
	tls_buf epub;
	tls_buf_init(&epub, 0);
	bool ok = tls_mlkem768_encaps(ct, ss_kem, ek, TLS_MLKEM768_EK_LEN) == 0 &&
		  tls_kex_generate(&e, h->ec_group, &epub) == 0 && epub.len == h->ec_len &&
		  tls_kex_derive(&e, cec, h->ec_len, ss_ec, &n) == 0 && n == 32;
	if (ok) {
		if (h->kem_first) {
			tls_write_bytes(sshare, ct, sizeof(ct));
			tls_write_bytes(sshare, epub.base, epub.len);
			memcpy(expect, ss_kem, 32);
			memcpy(expect + 32, ss_ec, 32);
		} else {
			tls_write_bytes(sshare, epub.base, epub.len);
			tls_write_bytes(sshare, ct, sizeof(ct));
			memcpy(expect, ss_ec, 32);
			memcpy(expect + 32, ss_kem, 32);
		}
	}
	tls_kex_clear(&e);
	tls_buf_free(&epub);
	return ok && !sshare->err;
}

/* The client's share as the server sees it, by hand, from the other side. */
static bool client_by_hand(const struct hybrid *h, tls_kex *ec, uint8_t dk[TLS_MLKEM768_DK_LEN],
			   tls_buf *cshare)
{
	uint8_t ek[TLS_MLKEM768_EK_LEN];
	tls_buf epub;
	tls_buf_init(&epub, 0);
	bool ok = tls_mlkem768_keygen(ek, dk) == 0 && tls_kex_generate(ec, h->ec_group, &epub) == 0 &&
		  epub.len == h->ec_len;
	if (ok) {
		tls_write_bytes(cshare, h->kem_first ? ek : epub.base,
				h->kem_first ? sizeof(ek) : epub.len);
		tls_write_bytes(cshare, h->kem_first ? epub.base : ek,
				h->kem_first ? epub.len : sizeof(ek));
	}
	tls_buf_free(&epub);
	return ok && !cshare->err;
}

static void api_tests(const struct hybrid *h)
{
	size_t clen = TLS_MLKEM768_EK_LEN + h->ec_len, slen = TLS_MLKEM768_CT_LEN + h->ec_len;
	uint8_t s1[TLS_MAX_KEX_SECRET], s2[TLS_MAX_KEX_SECRET], expect[64];
	size_t l1 = 0, l2 = 0;
	tls_kex k, ec;
	tls_buf cpub, spub, bad;
	tls_buf_init(&cpub, 0);
	tls_buf_init(&spub, 0);
	tls_buf_init(&bad, 0);

	test_ok(tls_group_supported(h->id) && tls_group_is_hybrid(h->id), "%s supported", h->name);
	/* client role: our share, the hand-made server's answer */
	bool ok = tls_kex_generate(&k, h->id, &cpub) == 0;
	test_ok(ok && cpub.len == clen, "%s: client share of %zu bytes (%zu)", h->name, clen, cpub.len);
	ok = ok && cpub.len == clen && server_by_hand(h, cpub.base, &spub, expect);
	test_ok(ok && spub.len == slen, "%s: server share by hand, %zu bytes", h->name, slen);
	test_ok(ok && tls_kex_derive(&k, spub.base, spub.len, s1, &l1) == 0 && l1 == 64 &&
			memcmp(s1, expect, 64) == 0,
		"%s: client secret = %s", h->name,
		h->kem_first ? "ss_mlkem || ss_x25519" : "ss_ecdh || ss_mlkem");
	/* the client refuses a malformed server share */
	test_ok(tls_kex_derive(&k, spub.base, slen - 1, s2, &l2) == -1, "%s: short server share refused",
		h->name);
	tls_write_bytes(&bad, spub.base, spub.len);
	tls_write_u8(&bad, 0);
	test_ok(tls_kex_derive(&k, bad.base, bad.len, s2, &l2) == -1, "%s: long server share refused",
		h->name);
	uint8_t *sec = h->kem_first ? bad.base + TLS_MLKEM768_CT_LEN : bad.base;
	memset(sec, 0, h->ec_len); /* X25519 u = 0 (small order), P-256: bad prefix */
	test_ok(tls_kex_derive(&k, bad.base, slen, s2, &l2) == -1, "%s: classical part zeroed refused",
		h->name);
	if (h->ec_len == 65) {
		memset(sec, 0x11, 65);
		sec[0] = 4;
		test_ok(tls_kex_derive(&k, bad.base, slen, s2, &l2) == -1,
			"%s: server point off the curve refused", h->name);
	}
	tls_kex_clear(&k);
	test_ok(!k.key && !k.kem_dk && k.group == 0, "%s: clear frees both parts", h->name);

	/* server role: the hand-made client's share, tls_kex_encaps answers */
	uint8_t dk[TLS_MLKEM768_DK_LEN];
	tls_buf_reset(&cpub);
	tls_buf_reset(&spub);
	ok = client_by_hand(h, &ec, dk, &cpub) && cpub.len == clen &&
	     tls_kex_encaps(h->id, cpub.base, cpub.len, &spub, s1, &l1) == 0;
	test_ok(ok && spub.len == slen && l1 == 64, "%s: server share of %zu bytes (%zu)", h->name,
		slen, spub.len);
	if (ok && spub.len == slen) {
		const uint8_t *ct = h->kem_first ? spub.base : spub.base + h->ec_len;
		const uint8_t *sec_pub = h->kem_first ? spub.base + TLS_MLKEM768_CT_LEN : spub.base;
		size_t n = 0;
		uint8_t *kem_at = h->kem_first ? s2 : s2 + 32, *ec_at = h->kem_first ? s2 + 32 : s2;
		test_ok(tls_mlkem768_decaps(kem_at, ct, TLS_MLKEM768_CT_LEN, dk, sizeof(dk)) == 0 &&
				tls_kex_derive(&ec, sec_pub, h->ec_len, ec_at, &n) == 0 && n == 32 &&
				memcmp(s1, s2, 64) == 0,
			"%s: server secret matches the client's by hand", h->name);
	}
	tls_kex_clear(&ec);
	OPENSSL_cleanse(dk, sizeof(dk));

	/* the server refuses a malformed client share */
	tls_buf_reset(&spub);
	test_ok(tls_kex_encaps(h->id, cpub.base, clen - 1, &spub, s2, &l2) == -1 && spub.len == 0,
		"%s: short client share refused", h->name);
	tls_buf_reset(&bad);
	tls_write_bytes(&bad, cpub.base, cpub.len);
	tls_write_u8(&bad, 0);
	test_ok(tls_kex_encaps(h->id, bad.base, bad.len, &spub, s2, &l2) == -1,
		"%s: long client share refused", h->name);
	test_ok(tls_kex_encaps(h->id, NULL, 0, &spub, s2, &l2) == -1, "%s: empty client share refused",
		h->name);
	/* FIPS 203 §7.2: the first 12-bit coefficient of ek set to 4095 >= q */
	bad.len = clen;
	uint8_t *ek = h->kem_first ? bad.base : bad.base + h->ec_len;
	ek[0] = 0xff;
	ek[1] |= 0x0f;
	test_ok(tls_kex_encaps(h->id, bad.base, clen, &spub, s2, &l2) == -1,
		"%s: ek coefficient >= q refused", h->name);
	memcpy(bad.base, cpub.base, clen);
	sec = h->kem_first ? bad.base + TLS_MLKEM768_EK_LEN : bad.base;
	memset(sec, 0, h->ec_len);
	test_ok(tls_kex_encaps(h->id, bad.base, clen, &spub, s2, &l2) == -1 && spub.len == 0,
		"%s: classical part zeroed refused", h->name);
	test_ok(tls_kex_encaps(h->ec_group, cpub.base, clen, &spub, s2, &l2) == -2,
		"%s: tls_kex_encaps refuses a classical group", h->name);
	tls_buf_free(&cpub);
	tls_buf_free(&spub);
	tls_buf_free(&bad);
}

/* ---- through the engine ---- */

/* Copies a hello flight (ClientHello or ServerHello record first, any
 * records after it unchanged) into res, with the key_exchange of `group`
 * replaced by repl (when not NULL); *found gets the original share. */
static bool hello_share(const tls_buf *in, bool client, uint16_t group, const uint8_t *repl,
			size_t repl_len, tls_buf *res, tls_reader *found)
{
	tls_reader r = tls_reader_init(in->base, in->len);
	const uint8_t *hdr = tls_read_bytes(&r, 3);
	tls_reader body = tls_read_sub(&r, tls_read_u16(&r));
	uint8_t type = tls_read_u8(&body);
	tls_read_u24(&body);
	const uint8_t *head = body.p;
	tls_read_bytes(&body, 2 + 32);
	tls_read_vec8(&body, 0, 32);
	if (client) {
		tls_read_vec16(&body, 2, 0xfffe);
		tls_read_vec8(&body, 1, 255);
	} else {
		tls_read_u16(&body);
		tls_read_u8(&body);
	}
	size_t head_len = (size_t)(body.p - head);
	tls_reader exts = tls_read_vec16(&body, 0, 0xffff);
	if (r.err || body.err || !hdr)
		return false;
	bool have = false;
	tls_buf_init(res, 0);
	tls_write_bytes(res, hdr, 3);
	tls_write_open(res, 2);
	tls_write_u8(res, type);
	tls_write_open(res, 3);
	tls_write_bytes(res, head, head_len);
	tls_write_open(res, 2);
	while (exts.left) {
		uint16_t et = tls_read_u16(&exts);
		tls_reader e = tls_read_vec16(&exts, 0, 0xffff);
		tls_write_u16(res, et);
		tls_write_open(res, 2);
		if (et != EXT_KEY_SHARE) {
			tls_write_bytes(res, e.p, e.left);
			tls_write_close(res);
			continue;
		}
		tls_reader list = client ? tls_read_vec16(&e, 0, 0xffff) : e;
		if (client)
			tls_write_open(res, 2);
		while (list.left && !list.err) {
			uint16_t g = tls_read_u16(&list);
			tls_reader k = tls_read_vec16(&list, 1, 0xffff);
			tls_write_u16(res, g);
			tls_write_open(res, 2);
			if (g == group) {
				have = true;
				*found = k;
			}
			if (g == group && repl)
				tls_write_bytes(res, repl, repl_len);
			else
				tls_write_bytes(res, k.p, k.left);
			tls_write_close(res);
		}
		if (client)
			tls_write_close(res);
		tls_write_close(res);
	}
	tls_write_close(res);
	tls_write_close(res);
	tls_write_close(res);
	tls_write_bytes(res, r.p, r.left);
	return have && !exts.err && !res->err;
}

static tls_config *server(const uint16_t *groups, size_t n)
{
	tls_config *cfg = test_server_config(&pki);
	if (n)
		tls_config_set_groups(cfg, groups, n);
	return cfg;
}

static tls_config *client(const uint16_t *groups, size_t n, const uint16_t *shares, size_t ns)
{
	tls_config *cfg = test_client_config(&pki);
	if (n)
		tls_config_set_groups(cfg, groups, n);
	if (ns)
		tls_config_set_key_share_groups(cfg, shares, ns);
	return cfg;
}

/* A full handshake; true when it negotiated `group` with hrr as given. */
static bool negotiates(tls_config *ccfg, tls_config *scfg, uint16_t group, bool hrr)
{
	struct test_pair p;
	test_pair_init(&p, ccfg, scfg, "server.test");
	bool ok = test_pair_go(&p);
	const tls_params *cp = tls_conn_params(p.cl.c), *sp = tls_conn_params(p.sv.c);
	ok = ok && cp->group == group && sp->group == group && cp->hrr == hrr && sp->hrr == hrr &&
	     test_transfer(p.cl.c, p.sv.c, "pq", 2) && test_transfer(p.sv.c, p.cl.c, "ok", 2);
	if (!ok)
		test_diag("group 0x%04x/0x%04x hrr %d/%d", cp->group, sp->group, cp->hrr, sp->hrr);
	test_pair_free(&p);
	tls_config_free(ccfg);
	tls_config_free(scfg);
	return ok;
}

static void negotiation_tests(void)
{
	static const uint16_t classical[] = { TLS_GROUP_X25519, TLS_GROUP_SECP256R1 };
	static const uint16_t x25519_first[] = { TLS_GROUP_X25519, TLS_GROUP_X25519MLKEM768 };
	static const uint16_t x = TLS_GROUP_X25519, hy = TLS_GROUP_X25519MLKEM768;
	static const uint16_t p256h[] = { TLS_GROUP_SECP256R1MLKEM768, TLS_GROUP_SECP256R1 };
	static const uint16_t x_then_p256h[] = { TLS_GROUP_X25519, TLS_GROUP_SECP256R1MLKEM768 };
	static const uint16_t p256h_then_x[] = { TLS_GROUP_SECP256R1MLKEM768, TLS_GROUP_X25519 };

	/* the default ClientHello: X25519MLKEM768 and X25519 shares */
	tls_config *ccfg = client(NULL, 0, NULL, 0), *scfg = server(NULL, 0);
	struct test_pair p;
	test_pair_init(&p, ccfg, scfg, "server.test");
	tls_buf copy;
	tls_reader hs = { 0 }, xs = { 0 };
	bool ok = test_pair_flights(&p, 1) == TLS_WANT_INPUT &&
		  hello_share(&p.ch, true, hy, NULL, 0, &copy, &hs);
	tls_buf_free(&copy);
	ok = ok && hello_share(&p.ch, true, x, NULL, 0, &copy, &xs);
	tls_buf_free(&copy);
	test_ok(ok && hs.left == 1216 && xs.left == 32,
		"default ClientHello: X25519MLKEM768 share (%zu bytes) and X25519 share (%zu)", hs.left,
		xs.left);
	test_pair_free(&p);
	tls_config_free(ccfg);
	tls_config_free(scfg);

	test_ok(negotiates(client(NULL, 0, NULL, 0), server(NULL, 0), hy, false),
		"defaults: X25519MLKEM768, no HRR");
	test_ok(negotiates(client(NULL, 0, NULL, 0), server(classical, 2), x, false),
		"server without ML-KEM: the client's X25519 share, no HRR");
	test_ok(negotiates(client(NULL, 0, &x, 1), server(NULL, 0), hy, true),
		"client lists X25519MLKEM768 but shares X25519 only: HRR for the hybrid group");
	test_ok(negotiates(client(NULL, 0, &x, 1), server(x25519_first, 2), x, false),
		"server preferring X25519: the X25519 share, no HRR");
	test_ok(negotiates(client(NULL, 0, NULL, 0), server(x25519_first, 2), x, false),
		"server preferring X25519 over the client's hybrid share: X25519");
	test_ok(negotiates(client(classical, 2, NULL, 0), server(NULL, 0), x, false),
		"client without ML-KEM against the default server: X25519, no HRR");
	test_ok(negotiates(client(&hy, 1, NULL, 0), server(NULL, 0), hy, false),
		"client with X25519MLKEM768 alone");

	/* SecP256r1MLKEM768 (only when configured) */
	ccfg = client(p256h, 2, NULL, 0);
	scfg = server(p256h, 1);
	test_pair_init(&p, ccfg, scfg, "server.test");
	ok = test_pair_flights(&p, 1) == TLS_WANT_INPUT &&
	     hello_share(&p.ch, true, TLS_GROUP_SECP256R1MLKEM768, NULL, 0, &copy, &hs);
	tls_buf_free(&copy);
	ok = ok && hello_share(&p.ch, true, TLS_GROUP_SECP256R1, NULL, 0, &copy, &xs);
	tls_buf_free(&copy);
	test_ok(ok && hs.left == 1249 && xs.left == 65,
		"SecP256r1MLKEM768 first: its share (%zu bytes) and a P-256 share (%zu)", hs.left,
		xs.left);
	test_pair_free(&p);
	test_ok(negotiates(ccfg, scfg, TLS_GROUP_SECP256R1MLKEM768, false),
		"SecP256r1MLKEM768 both ends, no HRR");
	test_ok(negotiates(client(x_then_p256h, 2, NULL, 0), server(p256h_then_x, 2),
			   TLS_GROUP_SECP256R1MLKEM768, true),
		"SecP256r1MLKEM768 listed without a share: HRR for it");
	test_ok(negotiates(client(p256h, 2, NULL, 0), server(NULL, 0), TLS_GROUP_SECP256R1, false),
		"default server: the client's P-256 share");
}

/* The server gets a ClientHello whose hybrid share is `share`. */
static void bad_client_share(const char *name, uint16_t group, const uint8_t *share, size_t len)
{
	tls_config *ccfg = client(&group, 1, NULL, 0), *scfg = server(&group, 1);
	struct test_pair p;
	tls_buf edited;
	tls_reader orig;
	test_pair_init(&p, ccfg, scfg, "server.test");
	bool ok = test_pair_flights(&p, 1) == TLS_WANT_INPUT &&
		  hello_share(&p.ch, true, group, share, len, &edited, &orig);
	if (test_ok(ok, "%s: ClientHello edited", name)) {
		int rc = test_side_hs(&p.sv, edited.base, edited.len, NULL);
		bool enc = false;
		test_ok(rc == TLS_ERR_LOCAL(TLS_ALERT_ILLEGAL_PARAMETER) &&
				test_side_alert(&p.sv, &enc) == TLS_ALERT_ILLEGAL_PARAMETER,
			"%s: server sends illegal_parameter (%d: %s)", name, rc,
			tls_conn_error(p.sv.c));
	}
	tls_buf_free(&edited);
	test_pair_free(&p);
	tls_config_free(ccfg);
	tls_config_free(scfg);
}

/* The client gets a ServerHello whose hybrid share is `share`. */
static void bad_server_share(const char *name, uint16_t group, const uint8_t *share, size_t len)
{
	tls_config *ccfg = client(&group, 1, NULL, 0), *scfg = server(&group, 1);
	struct test_pair p;
	tls_buf edited;
	tls_reader orig;
	test_pair_init(&p, ccfg, scfg, "server.test");
	bool ok = test_pair_flights(&p, 2) == TLS_WANT_INPUT &&
		  hello_share(&p.sflight, false, group, share, len, &edited, &orig);
	if (test_ok(ok, "%s: ServerHello edited", name)) {
		int rc = test_side_hs(&p.cl, edited.base, edited.len, NULL);
		test_ok(rc == TLS_ERR_LOCAL(TLS_ALERT_ILLEGAL_PARAMETER),
			"%s: client sends illegal_parameter (%d: %s)", name, rc,
			tls_conn_error(p.cl.c));
	}
	tls_buf_free(&edited);
	test_pair_free(&p);
	tls_config_free(ccfg);
	tls_config_free(scfg);
}

static void malformed_tests(const struct hybrid *h)
{
	size_t clen = TLS_MLKEM768_EK_LEN + h->ec_len, slen = TLS_MLKEM768_CT_LEN + h->ec_len;
	uint8_t share[TLS_MAX_KEX_SHARE + 1];
	char name[96];
	tls_kex k;
	tls_buf pub;
	tls_buf_init(&pub, 0);
	if (!test_ok(tls_kex_generate(&k, h->id, &pub) == 0 && pub.len == clen, "%s: a share",
		     h->name))
		return;
	memcpy(share, pub.base, clen);
	tls_kex_clear(&k);
	tls_buf_free(&pub);

	snprintf(name, sizeof(name), "%s client share one byte short", h->name);
	bad_client_share(name, h->id, share, clen - 1);
	share[clen] = 0;
	snprintf(name, sizeof(name), "%s client share one byte long", h->name);
	bad_client_share(name, h->id, share, clen + 1);
	uint8_t *ek = h->kem_first ? share : share + h->ec_len;
	uint8_t save[2] = { ek[0], ek[1] };
	ek[0] = 0xff;
	ek[1] |= 0x0f;
	snprintf(name, sizeof(name), "%s ek coefficient >= q (FIPS 203 7.2)", h->name);
	bad_client_share(name, h->id, share, clen);
	ek[0] = save[0];
	ek[1] = save[1];
	uint8_t *ec = h->kem_first ? share + TLS_MLKEM768_EK_LEN : share;
	memset(ec, h->ec_len == 65 ? 0x11 : 0, h->ec_len);
	ec[0] = h->ec_len == 65 ? 4 : 0;
	snprintf(name, sizeof(name), "%s client %s", h->name,
		 h->ec_len == 65 ? "point off the curve" : "X25519 u = 0 (all-zero secret)");
	bad_client_share(name, h->id, share, clen);

	/* the server's share: a real one's size with bad content, or cut */
	memset(share, 0, sizeof(share));
	snprintf(name, sizeof(name), "%s server share one byte short", h->name);
	bad_server_share(name, h->id, share, slen - 1);
	snprintf(name, sizeof(name), "%s server share of the client's size", h->name);
	bad_server_share(name, h->id, share, clen);
	ec = h->kem_first ? share + TLS_MLKEM768_CT_LEN : share;
	memset(ec, h->ec_len == 65 ? 0x11 : 0, h->ec_len);
	ec[0] = h->ec_len == 65 ? 4 : 0;
	snprintf(name, sizeof(name), "%s server %s", h->name,
		 h->ec_len == 65 ? "point off the curve" : "X25519 u = 0 (all-zero secret)");
	bad_server_share(name, h->id, share, slen);
}

static void names_tests(void)
{
	uint16_t id = 0;
	test_ok(tls_group_by_name("X25519MLKEM768", 14, &id) == 0 && id == 0x11ec &&
			!strcmp(tls_group_name(0x11ec), "X25519MLKEM768"),
		"name X25519MLKEM768 <-> 0x11ec");
	test_ok(tls_group_by_name("SecP256r1MLKEM768", 17, &id) == 0 && id == 0x11eb &&
			!strcmp(tls_group_name(0x11eb), "SecP256r1MLKEM768"),
		"name SecP256r1MLKEM768 <-> 0x11eb");
}

int main(void)
{
	test_pki_make(&pki, TESTKEY_P256, "server.test", 0);
	for (size_t i = 0; i < sizeof(hybrids) / sizeof(hybrids[0]); i++) {
		api_tests(&hybrids[i]);
		malformed_tests(&hybrids[i]);
	}
	negotiation_tests();
	names_tests();
	test_pki_free(&pki);
	return test_done();
}
