/* OCSP and SCT stapling (RFC 8446 §4.4.2.1, RFC 6066 §8, RFC 6962 §3.3)
 * between our client and our server in memory: the server staples what the
 * client asked for, the client exposes it in tls_params; staples that are
 * malformed get decode_error, staples nobody asked for
 * unsupported_extension. The negative cases rewrite the server's
 * Certificate under the handshake key it reported. Against OpenSSL:
 * interop_openssl.c; over TCP: tests/tcp/ocsp_openssl.sh. */
#include <stdlib.h>
#include <string.h>

#include "pair.h"
#include "test.h"
#include "testkeys.h"
#include "tls/engine.h"

static struct test_pki pki;

/* An OCSPResponse is opaque to the engine: any non-empty bytes do. A big
 * one makes the Certificate message span several records. */
static uint8_t big_ocsp[40000];
static const uint8_t ocsp_der[] = { 0x30, 0x03, 0x0a, 0x01, 0x06 }; /* unauthorized(6) */
/* SignedCertificateTimestampList: two opaque SCTs of 3 and 1 bytes. */
static const uint8_t sct_list[] = { 0x00, 0x08, 0x00, 0x03, 'a', 'b', 'c', 0x00, 0x01, 'd' };

static tls_config *server_cfg(const uint8_t *ocsp, size_t ocsp_len, const uint8_t *sct,
			      size_t sct_len)
{
	tls_config *cfg = tls_config_new(TLS_SERVER);
	tls_chain chain;
	test_pki_chain(&pki, &chain);
	if (!cfg || tls_config_add_cert(cfg, &chain, test_pki_leaf_key(&pki)) != 0 ||
	    (ocsp && tls_config_set_ocsp(cfg, ocsp, ocsp_len) != 0) ||
	    (sct && tls_config_set_sct(cfg, sct, sct_len) != 0))
		abort();
	return cfg;
}

/* verify: a client that verifies the server asks for both staples. */
static tls_config *client_cfg(bool verify)
{
	tls_config *cfg = tls_config_new(TLS_CLIENT);
	char err[256];
	if (!cfg)
		abort();
	if (!verify)
		tls_config_set_verify_peer(cfg, false);
	else if (tls_config_load_ca(cfg, pki.ca_path, err, sizeof(err)) != 0)
		abort();
	return cfg;
}

static bool same(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len)
{
	if (!want)
		return !got && got_len == 0;
	return got && got_len == want_len && memcmp(got, want, want_len) == 0;
}

/* A whole handshake; the client's params must show exactly these staples. */
static void staple_case(const char *name, tls_config *scfg, bool verify, const uint8_t *ocsp,
			size_t ocsp_len, const uint8_t *sct, size_t sct_len)
{
	tls_config *ccfg = client_cfg(verify);
	struct test_pair p;
	test_pair_init(&p, ccfg, scfg, "server.test");
	bool ok = test_pair_go(&p);
	const tls_params *cp = tls_conn_params(p.cl.c);
	test_ok(ok && same(cp->ocsp, cp->ocsp_len, ocsp, ocsp_len) &&
		same(cp->sct, cp->sct_len, sct, sct_len) &&
		test_transfer(p.cl.c, p.sv.c, "x", 1),
		"%s (OCSP %zu bytes, SCT %zu bytes)", name, ok ? cp->ocsp_len : 0,
		ok ? cp->sct_len : 0);
	if (ok) {
		/* the staples stay as long as the conn, after the tickets too */
		const uint8_t *o = cp->ocsp;
		test_ok(test_transfer(p.sv.c, p.cl.c, "y", 1) && tls_conn_params(p.cl.c)->ocsp == o &&
			same(tls_conn_params(p.cl.c)->ocsp, tls_conn_params(p.cl.c)->ocsp_len, ocsp,
			     ocsp_len),
			"%s: still there after application data", name);
	}
	test_pair_free(&p);
	tls_config_free(ccfg);
}

static void positive(void)
{
	tls_config *both = server_cfg(ocsp_der, sizeof(ocsp_der), sct_list, sizeof(sct_list));
	staple_case("OCSP and SCT stapled", both, true, ocsp_der, sizeof(ocsp_der), sct_list,
		    sizeof(sct_list));
	/* a client that does not verify does not ask, so gets nothing */
	staple_case("client not verifying: nothing asked, nothing stapled", both, false, NULL, 0,
		    NULL, 0);
	tls_config_free(both);
	/* after a HelloRetryRequest the second ClientHello asks again */
	tls_config *hrr_server = server_cfg(ocsp_der, sizeof(ocsp_der), sct_list, sizeof(sct_list));
	uint16_t x25519 = TLS_GROUP_X25519;
	tls_config_set_groups(hrr_server, &x25519, 1);
	tls_config *hrr_client = client_cfg(true);
	uint16_t p256 = TLS_GROUP_SECP256R1;
	static const uint16_t groups[] = { TLS_GROUP_SECP256R1, TLS_GROUP_X25519 };
	tls_config_set_groups(hrr_client, groups, 2);
	tls_config_set_key_share_groups(hrr_client, &p256, 1);
	struct test_pair p;
	test_pair_init(&p, hrr_client, hrr_server, "server.test");
	bool ok = test_pair_go(&p);
	const tls_params *cp = tls_conn_params(p.cl.c);
	test_ok(ok && cp->hrr && same(cp->ocsp, cp->ocsp_len, ocsp_der, sizeof(ocsp_der)) &&
		same(cp->sct, cp->sct_len, sct_list, sizeof(sct_list)),
		"after a HelloRetryRequest: OCSP and SCT stapled");
	test_pair_free(&p);
	tls_config_free(hrr_client);
	tls_config_free(hrr_server);

	tls_config *ocsp_only = server_cfg(ocsp_der, sizeof(ocsp_der), NULL, 0);
	staple_case("OCSP only", ocsp_only, true, ocsp_der, sizeof(ocsp_der), NULL, 0);
	tls_config_free(ocsp_only);
	tls_config *sct_only = server_cfg(NULL, 0, sct_list, sizeof(sct_list));
	staple_case("SCT only", sct_only, true, NULL, 0, sct_list, sizeof(sct_list));
	tls_config_free(sct_only);
	tls_config *none = server_cfg(NULL, 0, NULL, 0);
	staple_case("server with nothing to staple", none, true, NULL, 0, NULL, 0);
	tls_config_free(none);
	for (size_t i = 0; i < sizeof(big_ocsp); i++)
		big_ocsp[i] = (uint8_t)(i * 31 + 7);
	tls_config *big = server_cfg(big_ocsp, sizeof(big_ocsp), NULL, 0);
	staple_case("40000-byte OCSP response (Certificate over three records)", big, true,
		    big_ocsp, sizeof(big_ocsp), NULL, 0);
	tls_config_free(big);

	/* what the config takes */
	tls_config *cfg = tls_config_new(TLS_SERVER);
	test_ok(tls_config_set_ocsp(cfg, ocsp_der, sizeof(ocsp_der)) == -1 &&
		tls_config_set_sct(cfg, sct_list, sizeof(sct_list)) == -1,
		"config: no certificate yet, nothing to staple to");
	tls_config_free(cfg);
	cfg = server_cfg(NULL, 0, NULL, 0);
	test_ok(tls_config_set_ocsp(cfg, ocsp_der, 0) == -1 &&
		tls_config_set_sct(cfg, sct_list, 0) == -1,
		"config: empty OCSP response or SCT list refused");
	tls_config_free(cfg);
}

/* ---- the server's Certificate rewritten ---- */

/* Rebuilds a Certificate message with the extensions of entry `idx`
 * replaced by ext (the bytes inside the u16 length). */
static bool set_entry_exts(const uint8_t *msg, size_t len, size_t idx, const uint8_t *ext,
			   size_t ext_len, tls_buf *out)
{
	tls_reader r = tls_reader_init(msg + 4, len - 4);
	tls_reader ctx = tls_read_vec8(&r, 0, 255);
	tls_reader list = tls_read_vec24(&r, 0, 0xffffff);
	tls_write_u8(out, msg[0]);
	tls_write_open(out, 3);
	tls_write_open(out, 1);
	tls_write_bytes(out, ctx.p, ctx.left);
	tls_write_close(out);
	tls_write_open(out, 3);
	bool found = false;
	for (size_t i = 0; list.left && !list.err; i++) {
		tls_reader cert = tls_read_vec24(&list, 1, 0xffffff);
		tls_reader exts = tls_read_vec16(&list, 0, 0xffff);
		tls_write_open(out, 3);
		tls_write_bytes(out, cert.p, cert.left);
		tls_write_close(out);
		tls_write_open(out, 2);
		if (i == idx) {
			tls_write_bytes(out, ext, ext_len);
			found = true;
		} else {
			tls_write_bytes(out, exts.p, exts.left);
		}
		tls_write_close(out);
	}
	tls_write_close(out);
	tls_write_close(out);
	return found && !list.err && !r.err && !out->err;
}

/* The server's flight with entry idx's extensions replaced, fed to a
 * client (verify: one that asked for staples): expects alert at the
 * Certificate, or when alert is 0 a Certificate accepted with the leaf's
 * OCSP response `want` (the CertificateVerify after it, signed over the
 * original transcript, then fails with decrypt_error). */
static void entry_case(const char *name, bool verify, size_t idx, const uint8_t *ext,
		       size_t ext_len, int alert, const uint8_t *want, size_t want_len)
{
	tls_config *ccfg = client_cfg(verify), *scfg = server_cfg(NULL, 0, NULL, 0);
	struct test_pair p;
	test_pair_init(&p, ccfg, scfg, "server.test");
	tls_config_free(ccfg);
	tls_config_free(scfg);
	tls_buf clear, msgs, edited;
	tls_buf_init(&clear, 0);
	tls_buf_init(&msgs, 0);
	tls_buf_init(&edited, 0);
	int rc = test_pair_flights(&p, 2);
	bool ok = rc == TLS_WANT_INPUT && test_side_open(&p.sv, TLS_EPOCH_HANDSHAKE, &p.sflight,
							   &clear, &msgs);
	bool done = false;
	tls_reader m = tls_reader_init(msgs.base, msgs.len);
	while (ok && m.left) {
		tls_reader h = m;
		uint8_t type = tls_read_u8(&h);
		size_t mlen = 4 + (size_t)tls_read_u24(&h);
		const uint8_t *msg = tls_read_bytes(&m, mlen);
		ok = msg != NULL;
		if (ok && type == TLS_HS_CERTIFICATE && !done)
			ok = done = set_entry_exts(msg, mlen, idx, ext, ext_len, &edited);
		else if (ok)
			tls_write_bytes(&edited, msg, mlen);
	}
	ok = ok && done &&
	     test_side_seal(&p.sv, TLS_EPOCH_HANDSHAKE, edited.base, edited.len, &clear);
	if (test_ok(ok, "%s: setup (server flight opened, edited, sealed: %d)", name, rc)) {
		rc = test_side_hs(&p.cl, clear.base, clear.len, NULL);
		if (alert) {
			bool enc;
			int got = test_side_alert(&p.cl, &enc);
			test_ok(rc == TLS_ERR_LOCAL(alert) && got == alert && enc, "%s -> %s", name,
				tls_alert_name(alert));
			if (got != alert)
				test_diag("%s: %d, alert %d: %s", name, rc, got, tls_conn_error(p.cl.c));
		} else {
			test_ok(rc == TLS_ERR_LOCAL(TLS_ALERT_DECRYPT_ERROR) &&
				strstr(tls_conn_error(p.cl.c), "CertificateVerify") &&
				same(p.cl.c->peer_ocsp, p.cl.c->peer_ocsp_len, want, want_len),
				"%s (%d: %s)", name, rc, tls_conn_error(p.cl.c));
		}
	}
	tls_buf_free(&clear);
	tls_buf_free(&msgs);
	tls_buf_free(&edited);
	test_pair_free(&p);
}

static void negative(void)
{
	static const uint8_t good_ocsp[] = { 0, 5, 0, 5, 1, 0, 0, 1, 0x42 };
	static const uint8_t good_sct[] = { 0, 18, 0, 4, 0, 2, 0, 1, 0x42 };
	entry_case("control: a rewritten staple passes the Certificate", true, 0, good_ocsp,
		   sizeof(good_ocsp), 0, good_ocsp + 8, 1);
	entry_case("OCSP staple the client did not ask for", false, 0, good_ocsp, sizeof(good_ocsp),
		   TLS_ALERT_UNSUPPORTED_EXTENSION, NULL, 0);
	entry_case("SCT list the client did not ask for", false, 0, good_sct, sizeof(good_sct),
		   TLS_ALERT_UNSUPPORTED_EXTENSION, NULL, 0);

	static const struct {
		const char *name;
		uint8_t ext[16];
		size_t len;
	} bad[] = {
		{ "CertificateStatus of status_type ocsp_multi(2)", { 0, 5, 0, 5, 2, 0, 0, 1, 0x42 }, 9 },
		{ "CertificateStatus with an empty OCSPResponse", { 0, 5, 0, 4, 1, 0, 0, 0 }, 8 },
		{ "CertificateStatus with a byte behind the response",
		  { 0, 5, 0, 6, 1, 0, 0, 1, 0x42, 0 }, 10 },
		{ "CertificateStatus cut inside the response length", { 0, 5, 0, 3, 1, 0, 0 }, 7 },
		{ "CertificateStatus longer than its extension", { 0, 5, 0, 5, 1, 0, 0, 2, 0x42 }, 9 },
		{ "empty status_request extension", { 0, 5, 0, 0 }, 4 },
		{ "empty SCT extension", { 0, 18, 0, 0 }, 4 },
		{ "empty SignedCertificateTimestampList", { 0, 18, 0, 2, 0, 0 }, 6 },
		{ "SCT list holding an empty SCT", { 0, 18, 0, 4, 0, 2, 0, 0 }, 8 },
		{ "SCT list shorter than its length", { 0, 18, 0, 5, 0, 4, 0, 1, 0x42 }, 9 },
		{ "SCT cut short inside the list", { 0, 18, 0, 5, 0, 3, 0, 2, 0x42 }, 9 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		entry_case(bad[i].name, true, 0, bad[i].ext, bad[i].len, TLS_ALERT_DECODE_ERROR, NULL,
			   0);
	/* §4.4.2: any entry may carry its own staples; only the leaf's are
	 * exposed, every entry's must be well formed */
	entry_case("OCSP staple on the CA's entry: accepted, not the leaf's", true, 1, good_ocsp,
		   sizeof(good_ocsp), 0, NULL, 0);
	entry_case("malformed staple on the CA's entry", true, 1, bad[0].ext, bad[0].len,
		   TLS_ALERT_DECODE_ERROR, NULL, 0);
	static const uint8_t twice[] = { 0, 5, 0, 5, 1, 0, 0, 1, 0x42, 0, 5, 0, 5, 1, 0, 0, 1, 0x43 };
	entry_case("status_request twice in one entry", true, 0, twice, sizeof(twice),
		   TLS_ALERT_ILLEGAL_PARAMETER, NULL, 0);
}

int main(void)
{
	test_pki_make(&pki, TESTKEY_P256, "server.test", 0);
	positive();
	negative();
	test_pki_free(&pki);
	return test_done();
}
