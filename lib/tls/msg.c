/* Handshake message codecs both roles use: message framing, Certificate,
 * CertificateVerify, Finished, and small list helpers. */
#include "tls/engine.h"

#include <string.h>

#include <openssl/crypto.h>

#define MAX_CHAIN 16

void tls_msg_begin(tls_buf *b, uint8_t type)
{
	tls_write_u8(b, type);
	tls_write_open(b, 3);
}

void tls_msg_end(tls_buf *b)
{
	tls_write_close(b);
}

int tls_msg_transcript(tls_conn *c, const uint8_t *msg, size_t len)
{
	return tls_transcript_add(&c->tr, msg, len);
}

int tls_read_sigalgs(tls_reader *r, const tls_config *cfg, uint32_t *mask)
{
	tls_reader l = tls_read_vec16(r, 2, 0xfffe);
	if (l.left % 2)
		tls_reader_fail(r);
	*mask = 0;
	while (l.left >= 2 && !r->err) {
		uint16_t v = tls_read_u16(&l);
		for (size_t i = 0; i < cfg->n_sigalgs; i++)
			if (cfg->sigalgs[i] == v)
				*mask |= 1u << i;
	}
	return r->err || l.err ? -1 : 0;
}

uint16_t tls_pick_scheme(const tls_config *cfg, const struct tls_cert *cert, uint32_t peer_mask)
{
	for (size_t i = 0; i < cfg->n_sigalgs; i++) {
		uint16_t s = cfg->sigalgs[i];
		if ((peer_mask & (1u << i)) && tls_sig_key_fits(cert->prep, s))
			return s;
	}
	return 0;
}

void tls_msg_write_certificate(tls_buf *b, const uint8_t *ctx, size_t ctx_len,
			       const struct tls_cert *cert, bool ocsp, bool sct)
{
	tls_msg_begin(b, TLS_HS_CERTIFICATE);
	tls_write_open(b, 1);
	tls_write_bytes(b, ctx, ctx_len);
	tls_write_close(b);
	tls_write_open(b, 3);
	for (size_t i = 0; cert && i < cert->chain.n; i++) {
		tls_write_open(b, 3);
		tls_write_bytes(b, cert->der[i], cert->der_len[i]);
		tls_write_close(b);
		tls_write_open(b, 2);
		if (i == 0 && ocsp && cert->ocsp) {
			tls_write_u16(b, TLS_EXT_STATUS_REQUEST);
			tls_write_open(b, 2);
			tls_write_u8(b, 1); /* status_type ocsp */
			tls_write_open(b, 3);
			tls_write_bytes(b, cert->ocsp, cert->ocsp_len);
			tls_write_close(b);
			tls_write_close(b);
		}
		if (i == 0 && sct && cert->sct) {
			tls_write_u16(b, TLS_EXT_SCT);
			tls_write_open(b, 2);
			tls_write_bytes(b, cert->sct, cert->sct_len);
			tls_write_close(b);
		}
		tls_write_close(b);
	}
	tls_write_close(b);
	tls_msg_end(b);
}

/* The staples of one CertificateEntry; only what was offered got past
 * tls_exts_parse. CertificateStatus (RFC 6066 §8) must be ocsp(1) with a
 * non-empty OCSPResponse; the SCT list (RFC 6962 §3.3) holds non-empty
 * SCTs. */
static int read_staples(const tls_exts *e, tls_staples *st, const char **why)
{
	memset(st, 0, sizeof(*st));
	if (tls_exts_has(e, TLS_XI_STATUS_REQUEST)) {
		tls_reader b = e->body[TLS_XI_STATUS_REQUEST];
		uint8_t type = tls_read_u8(&b);
		tls_reader der = tls_read_vec24(&b, 1, 0xffffff);
		if (!tls_reader_done(&b) || type != 1) {
			*why = "malformed CertificateStatus";
			return TLS_ALERT_DECODE_ERROR;
		}
		st->ocsp_len = der.left;
		st->ocsp = tls_read_bytes(&der, der.left);
	}
	if (tls_exts_has(e, TLS_XI_SCT)) {
		tls_reader b = e->body[TLS_XI_SCT];
		st->sct = b.p;
		st->sct_len = b.left;
		tls_reader list = tls_read_vec16(&b, 1, 0xffff);
		while (list.left && !list.err)
			tls_read_vec16(&list, 1, 0xffff);
		if (!tls_reader_done(&b) || list.err) {
			*why = "malformed SignedCertificateTimestampList";
			return TLS_ALERT_DECODE_ERROR;
		}
	}
	return 0;
}

int tls_msg_read_certificate(tls_reader *r, uint32_t offered, tls_chain *chain, size_t *ctx_len,
			     tls_staples *leaf, const char **why)
{
	const uint8_t *der[MAX_CHAIN];
	size_t len[MAX_CHAIN];
	size_t n = 0;
	if (leaf)
		memset(leaf, 0, sizeof(*leaf));
	tls_reader ctx = tls_read_vec8(r, 0, 255);
	tls_reader list = tls_read_vec24(r, 0, 0xffffff);
	if (r->err || r->left) {
		*why = "malformed Certificate";
		return TLS_ALERT_DECODE_ERROR;
	}
	*ctx_len = ctx.left;
	while (list.left && !list.err) {
		tls_reader cert = tls_read_vec24(&list, 1, 0xffffff);
		tls_reader exts = tls_read_vec16(&list, 0, 0xffff);
		if (list.err)
			break;
		tls_exts e;
		tls_staples st;
		int alert = tls_exts_parse(&exts, TLS_CTX_CT, offered, &e, why);
		if (!alert)
			alert = read_staples(&e, &st, why);
		if (alert)
			return alert;
		if (n == 0 && leaf)
			*leaf = st;
		if (n == MAX_CHAIN) {
			*why = "certificate chain too long";
			return TLS_ALERT_BAD_CERTIFICATE;
		}
		len[n] = cert.left;
		der[n++] = tls_read_bytes(&cert, cert.left);
	}
	if (list.err) {
		*why = "malformed Certificate";
		return TLS_ALERT_DECODE_ERROR;
	}
	if (n == 0)
		return 0;
	if (tls_chain_from_der(chain, der, len, n) != 0) {
		*why = "unparsable certificate";
		return TLS_ALERT_BAD_CERTIFICATE;
	}
	return 0;
}

int tls_msg_write_cv(tls_conn *c, tls_buf *b, const struct tls_cert *cert, uint16_t scheme,
		     bool server)
{
	uint8_t hash[TLS_MAX_HASH];
	uint8_t content[64 + 34 + TLS_MAX_HASH];
	if (tls_transcript_hash(&c->tr, hash) != 0)
		return -1;
	size_t n = tls_cv_content(server, hash, c->cs->hash_len, content);
	size_t at = b->len;
	tls_msg_begin(b, TLS_HS_CERTIFICATE_VERIFY);
	tls_write_u16(b, scheme);
	tls_write_open(b, 2);
	size_t sig_at = b->len;
	int rc = b->err ? -1 : cert->sign(cert->sign_ctx, scheme, content, n, b);
	size_t sig_len = b->len - sig_at;
	tls_write_close(b);
	tls_msg_end(b);
	if (rc == TLS_SIGN_PENDING && !b->err) {
		/* written once tls_conn_sign_done brings the signature (signing.c) */
		b->len = at;
		c->sign_cert = cert;
		c->sign_scheme = scheme;
		return TLS_SIGN_PENDING;
	}
	return rc || b->err || !tls_sig_len_ok(cert, sig_len) ? -1 : 0;
}

int tls_msg_check_cv(tls_conn *c, tls_reader *r, const uint16_t *offered, size_t n_offered,
		     bool server_signed, uint16_t *scheme, const char **why)
{
	uint16_t s = tls_read_u16(r);
	tls_reader sig = tls_read_vec16(r, 1, 0xffff);
	if (!tls_reader_done(r)) {
		*why = "malformed CertificateVerify";
		return TLS_ALERT_DECODE_ERROR;
	}
	EVP_PKEY *key = c->peer_chain.n ? X509_get0_pubkey(c->peer_chain.certs[0]) : NULL;
	if (!tls_list_has(offered, n_offered, s) || !tls_sig_scheme_ok_for_cv(s)) {
		*why = "CertificateVerify uses a signature scheme that was not offered";
		return TLS_ALERT_ILLEGAL_PARAMETER;
	}
	if (!key) {
		*why = "CertificateVerify without a certificate key";
		return TLS_ALERT_ILLEGAL_PARAMETER;
	}
	uint8_t hash[TLS_MAX_HASH];
	uint8_t content[64 + 34 + TLS_MAX_HASH];
	if (tls_transcript_hash(&c->tr, hash) != 0) {
		*why = "transcript hash failed";
		return TLS_ALERT_INTERNAL_ERROR;
	}
	size_t n = tls_cv_content(server_signed, hash, c->cs->hash_len, content);
	size_t sig_len = sig.left;
	const uint8_t *sig_bytes = tls_read_bytes(&sig, sig_len);
	/* tls_sig_verify checks that the scheme fits the key first */
	int v = tls_sig_verify(key, s, content, n, sig_bytes, sig_len);
	if (v == TLS_SIG_KEY_MISMATCH) {
		*why = "CertificateVerify scheme does not fit the certificate key";
		return TLS_ALERT_ILLEGAL_PARAMETER;
	}
	if (v != 0) {
		*why = "bad CertificateVerify signature";
		return TLS_ALERT_DECRYPT_ERROR;
	}
	*scheme = s;
	return 0;
}

int tls_msg_write_finished(tls_conn *c, tls_buf *b, const uint8_t *base_secret)
{
	uint8_t hash[TLS_MAX_HASH], mac[TLS_MAX_HASH];
	const EVP_MD *md = c->cs->md();
	if (tls_transcript_hash(&c->tr, hash) != 0 || tls_finished_mac(md, base_secret, hash, mac))
		return -1;
	tls_msg_begin(b, TLS_HS_FINISHED);
	tls_write_bytes(b, mac, c->cs->hash_len);
	tls_msg_end(b);
	OPENSSL_cleanse(mac, sizeof(mac));
	return b->err ? -1 : 0;
}

int tls_msg_check_finished(tls_conn *c, tls_reader *r, const uint8_t *base_secret,
			   const uint8_t *hash)
{
	uint8_t mac[TLS_MAX_HASH];
	size_t hl = c->cs->hash_len;
	if (r->left != hl)
		return TLS_ALERT_DECODE_ERROR;
	const uint8_t *got = tls_read_bytes(r, hl);
	if (tls_finished_mac(c->cs->md(), base_secret, hash, mac) != 0)
		return TLS_ALERT_INTERNAL_ERROR;
	bool ok = tls_ct_equal(mac, got, hl);
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok ? 0 : TLS_ALERT_DECRYPT_ERROR;
}
