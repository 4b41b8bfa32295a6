/* The server state machine (RFC 8446 §2, §4): ClientHello checks and
 * negotiation, HelloRetryRequest with a cookie, the server flight in one
 * protected record when it fits, optional client authentication, and the
 * client Finished. */
#include "tls/engine.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define MAX_SHARES 32
#define MAX_PEER_SIGALGS 64
#define EARLY_DATA_SKIP_MAX (64 * 1024)

struct client_share {
	uint16_t group;
	const uint8_t *key;
	size_t len;
};

/* What a ClientHello says, as read by parse_ch. */
struct ch_info {
	uint16_t legacy_version;
	const uint8_t *random;
	tls_reader sid;
	tls_reader ciphers;
	tls_reader comp;
	tls_reader ext_block;      /* raw, for the CH1/CH2 comparison */
	tls_exts ext;
};

static bool u16_reader_has(tls_reader list, uint16_t v)
{
	while (list.left >= 2)
		if (tls_read_u16(&list) == v)
			return true;
	return false;
}

/* Digest of everything §4.1.2 forbids the second ClientHello to change. */
static int ch_digest(const struct ch_info *ch, uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t v[4];
	int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	tls_store_u16(v, ch->legacy_version);
	ok = ok && EVP_DigestUpdate(md, v, 2) && EVP_DigestUpdate(md, ch->random, 32);
	const tls_reader *parts[] = { &ch->sid, &ch->ciphers, &ch->comp };
	for (size_t i = 0; i < 3 && ok; i++) {
		tls_store_u16(v, (uint16_t)parts[i]->left);
		ok = EVP_DigestUpdate(md, v, 2) && EVP_DigestUpdate(md, parts[i]->p, parts[i]->left);
	}
	tls_reader r = ch->ext_block;
	while (ok && r.left) {
		uint16_t type = tls_read_u16(&r);
		tls_reader body = tls_read_vec16(&r, 0, 0xffff);
		if (r.err)
			break;
		if (type == TLS_EXT_KEY_SHARE || type == TLS_EXT_EARLY_DATA ||
		    type == TLS_EXT_COOKIE || type == TLS_EXT_PRE_SHARED_KEY ||
		    type == TLS_EXT_PADDING)
			continue;
		tls_store_u16(v, type);
		tls_store_u16(v + 2, (uint16_t)body.left);
		ok = EVP_DigestUpdate(md, v, 4) && EVP_DigestUpdate(md, body.p, body.left);
	}
	ok = ok && EVP_DigestFinal_ex(md, out, NULL);
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

static int parse_ch(tls_conn *c, tls_buf *out, tls_reader *r, struct ch_info *ch)
{
	const char *why = NULL;
	ch->legacy_version = tls_read_u16(r);
	ch->random = tls_read_bytes(r, 32);
	ch->sid = tls_read_vec8(r, 0, 32);
	ch->ciphers = tls_read_vec16(r, 2, 0xfffe);
	ch->comp = tls_read_vec8(r, 1, 255);
	if (r->err || ch->ciphers.left % 2)
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed ClientHello");
	if (r->left == 0)
		return tls_fail(c, out, TLS_ALERT_PROTOCOL_VERSION, "client offered no TLS 1.3");
	ch->ext_block = tls_read_vec16(r, 0, 0xffff);
	if (!tls_reader_done(r))
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed ClientHello");
	tls_reader block = ch->ext_block;
	int alert = tls_exts_parse(&block, TLS_CTX_CH, 0, &ch->ext, &why);
	if (alert)
		return tls_fail(c, out, alert, "ClientHello: %s", why);
	if ((ch->legacy_version >> 8) != 3)
		return tls_fail(c, out, TLS_ALERT_PROTOCOL_VERSION, "client legacy_version 0x%04x",
				ch->legacy_version);
	if (!tls_exts_has(&ch->ext, TLS_XI_SUPPORTED_VERSIONS))
		return tls_fail(c, out, TLS_ALERT_PROTOCOL_VERSION, "client offered no TLS 1.3");
	tls_reader sv = ch->ext.body[TLS_XI_SUPPORTED_VERSIONS];
	tls_reader vers = tls_read_vec8(&sv, 2, 254);
	if (!tls_reader_done(&sv) || vers.left % 2)
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed supported_versions");
	if (!u16_reader_has(vers, 0x0304))
		return tls_fail(c, out, TLS_ALERT_PROTOCOL_VERSION, "client offered no TLS 1.3");
	if (ch->comp.left != 1 || ch->comp.p[0] != 0)
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
				"ClientHello compression methods must be exactly [null]");
	return 0;
}

/* key_share + supported_groups (§4.2.7, §4.2.8, §9.2). */
static int parse_shares(tls_conn *c, tls_buf *out, const struct ch_info *ch, tls_reader *groups,
			struct client_share *shares, size_t *n_shares)
{
	bool has_sg = tls_exts_has(&ch->ext, TLS_XI_SUPPORTED_GROUPS);
	bool has_ks = tls_exts_has(&ch->ext, TLS_XI_KEY_SHARE);
	if (!has_sg || !has_ks)
		return tls_fail(c, out, TLS_ALERT_MISSING_EXTENSION,
				"ClientHello lacks %s", has_sg ? "key_share" : "supported_groups");
	tls_reader sg = ch->ext.body[TLS_XI_SUPPORTED_GROUPS];
	*groups = tls_read_vec16(&sg, 2, 0xfffe);
	if (!tls_reader_done(&sg) || groups->left % 2)
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed supported_groups");
	tls_reader ks = ch->ext.body[TLS_XI_KEY_SHARE];
	tls_reader list = tls_read_vec16(&ks, 0, 0xffff);
	if (!tls_reader_done(&ks))
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed key_share");
	*n_shares = 0;
	while (list.left) {
		uint16_t g = tls_read_u16(&list);
		tls_reader key = tls_read_vec16(&list, 1, 0xffff);
		if (list.err)
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed key_share");
		if (*n_shares == MAX_SHARES)
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER, "too many key shares");
		for (size_t i = 0; i < *n_shares; i++)
			if (shares[i].group == g)
				return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
						"two key shares for group 0x%04x", g);
		if (!u16_reader_has(*groups, g))
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"key share for group 0x%04x not in supported_groups", g);
		shares[*n_shares].group = g;
		shares[*n_shares].len = key.left;
		shares[*n_shares].key = tls_read_bytes(&key, key.left);
		(*n_shares)++;
	}
	return 0;
}

static int parse_sni(tls_conn *c, tls_buf *out, tls_reader body)
{
	tls_reader list = tls_read_vec16(&body, 1, 0xffff);
	if (!tls_reader_done(&body))
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed server_name");
	while (list.left) {
		uint8_t type = tls_read_u8(&list);
		tls_reader name = tls_read_vec16(&list, 1, 0xffff);
		if (list.err)
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed server_name");
		if (type != 0 || c->server_name)
			continue; /* RFC 6066: one host_name; other types are unknown */
		if (name.left > 253 || memchr(name.p, 0, name.left))
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "bad server_name");
		c->server_name = strndup((const char *)name.p, name.left);
		if (!c->server_name)
			return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "out of memory");
	}
	return 0;
}

static int choose_alpn(tls_conn *c, tls_buf *out, tls_reader body)
{
	tls_reader list = tls_read_vec16(&body, 2, 0xffff);
	if (!tls_reader_done(&body))
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed ALPN");
	/* validate the whole list first */
	tls_reader l = list;
	while (l.left) {
		tls_read_vec8(&l, 1, 255);
		if (l.err)
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed ALPN");
	}
	if (!c->cfg->alpn_len)
		return 0;
	tls_reader ours = tls_reader_init(c->cfg->alpn, c->cfg->alpn_len);
	while (ours.left) {
		tls_reader mine = tls_read_vec8(&ours, 1, 255);
		l = list;
		while (l.left) {
			tls_reader theirs = tls_read_vec8(&l, 1, 255);
			if (theirs.left == mine.left && memcmp(theirs.p, mine.p, mine.left) == 0) {
				c->alpn = strndup((const char *)mine.p, mine.left);
				return c->alpn ? 0 : tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR,
							      "out of memory");
			}
		}
	}
	return tls_fail(c, out, TLS_ALERT_NO_APPLICATION_PROTOCOL,
			"no application protocol in common");
}

/* Certificate by SNI first (exact or wildcard), then by what the client can
 * verify; the first configured certificate is the default. */
static int choose_cert(tls_conn *c, tls_buf *out, const uint16_t *sigalgs, size_t n)
{
	const tls_config *cfg = c->cfg;
	if (!cfg->n_certs)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "no server certificate configured");
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < cfg->n_certs; i++) {
			const struct tls_cert *cert = &cfg->certs[i];
			if (pass == 0 && (!c->server_name ||
					  !tls_cert_matches_name(cert, c->server_name)))
				continue;
			uint16_t s = tls_pick_scheme(cfg, cert, sigalgs, n);
			if (s) {
				c->cert = cert;
				c->sig_scheme = s;
				c->sni_ack = pass == 0;
				return 0;
			}
		}
	}
	return tls_fail(c, out, TLS_ALERT_HANDSHAKE_FAILURE,
			"no certificate fits the client's signature_algorithms");
}

static int parse_other_exts(tls_conn *c, tls_buf *out, const struct ch_info *ch, bool second)
{
	const tls_exts *e = &ch->ext;
	if (tls_exts_has(e, TLS_XI_RECORD_SIZE_LIMIT)) {
		tls_reader r = e->body[TLS_XI_RECORD_SIZE_LIMIT];
		uint16_t v = tls_read_u16(&r);
		if (!tls_reader_done(&r))
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed record_size_limit");
		if (v < 64)
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER, "record_size_limit %u < 64", v);
		c->client_rsl = true;
		c->params.peer_record_limit = v;
		c->peer_limit = v - 1 < TLS_MAX_PLAINTEXT ? (uint16_t)(v - 1) : TLS_MAX_PLAINTEXT;
	}
	if (tls_exts_has(e, TLS_XI_STATUS_REQUEST)) {
		tls_reader r = e->body[TLS_XI_STATUS_REQUEST];
		c->want_ocsp = r.left >= 1 && r.p[0] == 1; /* status_type ocsp */
	}
	if (tls_exts_has(e, TLS_XI_SCT)) {
		if (e->body[TLS_XI_SCT].left)
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed signed_certificate_timestamp");
		c->want_sct = true;
	}
	bool has_psk = tls_exts_has(e, TLS_XI_PRE_SHARED_KEY);
	if (tls_exts_has(e, TLS_XI_PSK_KEY_EXCHANGE_MODES)) {
		tls_reader r = e->body[TLS_XI_PSK_KEY_EXCHANGE_MODES];
		tls_read_vec8(&r, 1, 255);
		if (!tls_reader_done(&r))
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed psk_key_exchange_modes");
	} else if (has_psk) {
		return tls_fail(c, out, TLS_ALERT_MISSING_EXTENSION,
				"pre_shared_key without psk_key_exchange_modes");
	}
	if (has_psk) {
		/* Parsed for structure; resumption is not offered yet, so the
		 * handshake goes on as a full one (§4.2.11). */
		tls_reader r = e->body[TLS_XI_PRE_SHARED_KEY];
		tls_reader ids = tls_read_vec16(&r, 7, 0xffff);
		tls_reader binders = tls_read_vec16(&r, 33, 0xffff);
		while (!ids.err && ids.left) {
			tls_read_vec16(&ids, 1, 0xffff);
			tls_read_u32(&ids);
		}
		while (!binders.err && binders.left)
			tls_read_vec8(&binders, 32, 255);
		if (!tls_reader_done(&r) || ids.err || binders.err)
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed pre_shared_key");
	}
	if (tls_exts_has(e, TLS_XI_EARLY_DATA)) {
		if (e->body[TLS_XI_EARLY_DATA].left)
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed early_data");
		if (second)
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"early_data in the second ClientHello");
		/* We never accept 0-RTT yet: skip what the client sends. */
		if (has_psk)
			c->skip_early = EARLY_DATA_SKIP_MAX;
	}
	return 0;
}

/* Test hook: a queued extension block replaces ours. */
static bool write_override(tls_conn *c, tls_buf *b, uint8_t type)
{
	uint8_t *ext;
	size_t len;
	if (!tls_take_ext_override(c, type, &ext, &len))
		return false;
	tls_write_bytes(b, ext, len);
	free(ext);
	return true;
}

static void write_hello_ext_versions(tls_buf *b)
{
	tls_write_u16(b, TLS_EXT_SUPPORTED_VERSIONS);
	tls_write_u16(b, 2);
	tls_write_u16(b, 0x0304);
}

static int send_hrr(tls_conn *c, tls_buf *out, const struct ch_info *ch, const uint8_t *msg,
		    size_t len)
{
	if (ch_digest(ch, c->ch1_digest) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "digest failed");
	if (!c->t_cookie && RAND_bytes(c->cookie, sizeof(c->cookie)) != 1)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "no randomness");
	const uint8_t *cookie = c->t_cookie ? c->t_cookie : c->cookie;
	size_t cookie_len = c->t_cookie ? c->t_cookie_len : sizeof(c->cookie);
	if (tls_msg_transcript(c, msg, len) || tls_transcript_hrr_rewrite(&c->tr))
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "transcript failed");

	tls_buf m;
	tls_buf_init(&m, 0);
	tls_msg_begin(&m, TLS_HS_SERVER_HELLO);
	tls_write_u16(&m, 0x0303);
	tls_write_bytes(&m, tls_hrr_random, 32);
	tls_write_u8(&m, (uint8_t)c->sid_len);
	tls_write_bytes(&m, c->sid, c->sid_len);
	tls_write_u16(&m, c->cs->id);
	tls_write_u8(&m, 0);
	tls_write_open(&m, 2);
	if (!write_override(c, &m, TLS_HS_SERVER_HELLO)) {
		tls_write_u16(&m, TLS_EXT_KEY_SHARE);
		tls_write_u16(&m, 2);
		tls_write_u16(&m, c->group);
		tls_write_u16(&m, TLS_EXT_COOKIE);
		tls_write_open(&m, 2);
		tls_write_open(&m, 2);
		tls_write_bytes(&m, cookie, cookie_len);
		tls_write_close(&m);
		tls_write_close(&m);
		write_hello_ext_versions(&m);
	}
	tls_write_close(&m);
	tls_msg_end(&m);
	int rc = m.err || tls_msg_transcript(c, m.base, m.len) ? -1 : 0;
	if (rc == 0) {
		tls_rl_write_plain(out, TLS_CT_HANDSHAKE, 0x0303, m.base, m.len);
		if (c->sid_len && c->cfg->compat)
			tls_rl_send_ccs(c, out);
	}
	tls_buf_free(&m);
	if (rc)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "building HelloRetryRequest failed");
	c->hrr = true;
	c->state = TLS_ST_SRV_WAIT_CH2;
	return 0;
}

static int check_ch2(tls_conn *c, tls_buf *out, const struct ch_info *ch)
{
	uint8_t d[32];
	if (ch_digest(ch, d) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "digest failed");
	if (!tls_ct_equal(d, c->ch1_digest, 32))
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
				"second ClientHello changed more than allowed");
	const uint8_t *cookie = c->t_cookie ? c->t_cookie : c->cookie;
	size_t cookie_len = c->t_cookie ? c->t_cookie_len : sizeof(c->cookie);
	if (!tls_exts_has(&ch->ext, TLS_XI_COOKIE))
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
				"second ClientHello lacks the cookie");
	tls_reader r = ch->ext.body[TLS_XI_COOKIE];
	tls_reader got = tls_read_vec16(&r, 1, 0xffff);
	if (!tls_reader_done(&r) || got.left != cookie_len ||
	    !tls_ct_equal(got.p, cookie, cookie_len))
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER, "bad cookie");
	return 0;
}

/* ServerHello, then EE, CR, Certificate, CertificateVerify, Finished. */
static int send_server_flight(tls_conn *c, tls_buf *out, const struct client_share *share)
{
	uint8_t pubmem[160], shared[TLS_MAX_HASH + 80], hash[TLS_MAX_HASH];
	size_t shared_len = sizeof(shared);
	tls_buf pub;
	tls_buf_init_fixed(&pub, pubmem, sizeof(pubmem));
	c->n_kex = 1;
	if (tls_make_share(c, &c->kex[0], c->group, &pub) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "key generation failed");
	if (tls_kex_derive(&c->kex[0], share->key, share->len, shared, &shared_len) != 0)
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER, "invalid key share from client");
	tls_kex_clear(&c->kex[0]);
	c->n_kex = 0;

	uint8_t random[32];
	tls_buf m;
	tls_buf_init(&m, 0);
	size_t est = 1024;
	for (size_t i = 0; i < c->cert->chain.n; i++)
		est += c->cert->der_len[i] + 8;
	if (c->cert->ocsp)
		est += c->cert->ocsp_len + 8;
	if (c->cert->sct)
		est += c->cert->sct_len + 4;
	tls_buf_reserve(&m, est);
	int rc = tls_make_random(c, random);

	/* ServerHello */
	tls_msg_begin(&m, TLS_HS_SERVER_HELLO);
	tls_write_u16(&m, 0x0303);
	tls_write_bytes(&m, random, 32);
	tls_write_u8(&m, (uint8_t)c->sid_len);
	tls_write_bytes(&m, c->sid, c->sid_len);
	tls_write_u16(&m, c->cs->id);
	tls_write_u8(&m, 0);
	tls_write_open(&m, 2);
	if (!write_override(c, &m, TLS_HS_SERVER_HELLO)) {
		tls_write_u16(&m, TLS_EXT_KEY_SHARE);
		tls_write_open(&m, 2);
		tls_write_u16(&m, c->group);
		tls_write_open(&m, 2);
		tls_write_bytes(&m, pub.base, pub.len);
		tls_write_close(&m);
		tls_write_close(&m);
		write_hello_ext_versions(&m);
	}
	tls_write_close(&m);
	tls_msg_end(&m);
	rc = rc || m.err || pub.err || tls_msg_transcript(c, m.base, m.len);
	if (!rc) {
		tls_rl_write_plain(out, TLS_CT_HANDSHAKE, 0x0303, m.base, m.len);
		if (c->sid_len && c->cfg->compat)
			tls_rl_send_ccs(c, out);
	}
	tls_buf_reset(&m);

	/* handshake secrets */
	rc = rc || tls_keysched_init(&c->ks, c->cs->md(), NULL, 0) ||
	     tls_keysched_handshake(&c->ks, shared, shared_len) ||
	     tls_transcript_hash(&c->tr, hash) ||
	     tls_keysched_derive(&c->ks, "c hs traffic", hash, c->c_hs) ||
	     tls_keysched_derive(&c->ks, "s hs traffic", hash, c->s_hs) ||
	     tls_set_secret(c, TLS_DIR_TX, TLS_EPOCH_HANDSHAKE, c->s_hs) ||
	     tls_set_secret(c, TLS_DIR_RX, TLS_EPOCH_HANDSHAKE, c->c_hs);
	OPENSSL_cleanse(shared, sizeof(shared));
	if (rc) {
		tls_buf_free(&m);
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "handshake key schedule failed");
	}
	c->key_change = true;

	/* EncryptedExtensions */
	size_t at = m.len;
	tls_msg_begin(&m, TLS_HS_ENCRYPTED_EXTENSIONS);
	tls_write_open(&m, 2);
	bool ee_override = write_override(c, &m, TLS_HS_ENCRYPTED_EXTENSIONS);
	if (c->alpn && !ee_override) {
		size_t l = strlen(c->alpn);
		tls_write_u16(&m, TLS_EXT_ALPN);
		tls_write_u16(&m, (uint16_t)(l + 3));
		tls_write_u16(&m, (uint16_t)(l + 1));
		tls_write_u8(&m, (uint8_t)l);
		tls_write_bytes(&m, c->alpn, l);
	}
	if (c->client_rsl && !ee_override) {
		tls_write_u16(&m, TLS_EXT_RECORD_SIZE_LIMIT);
		tls_write_u16(&m, 2);
		tls_write_u16(&m, c->cfg->record_size_limit);
		c->rx_limit = c->cfg->record_size_limit;
	}
	if (c->sni_ack && !ee_override) {
		tls_write_u16(&m, TLS_EXT_SERVER_NAME);
		tls_write_u16(&m, 0);
	}
	tls_write_close(&m);
	tls_msg_end(&m);
	rc = m.err || tls_msg_transcript(c, m.base + at, m.len - at);

	/* CertificateRequest */
	if (!rc && c->cfg->client_auth != TLS_CLIENT_AUTH_NONE) {
		at = m.len;
		tls_msg_begin(&m, TLS_HS_CERTIFICATE_REQUEST);
		tls_write_u8(&m, 0);
		tls_write_open(&m, 2);
		if (!write_override(c, &m, TLS_HS_CERTIFICATE_REQUEST)) {
			tls_write_u16(&m, TLS_EXT_SIGNATURE_ALGORITHMS);
			tls_write_open(&m, 2);
			tls_write_open(&m, 2);
			for (size_t i = 0; i < c->cfg->n_sigalgs; i++)
				tls_write_u16(&m, c->cfg->sigalgs[i]);
			tls_write_close(&m);
			tls_write_close(&m);
		}
		tls_write_close(&m);
		tls_msg_end(&m);
		rc = m.err || tls_msg_transcript(c, m.base + at, m.len - at);
		c->cr_sent = true;
	}

	/* Certificate, CertificateVerify, Finished */
	at = m.len;
	tls_msg_write_certificate(&m, NULL, 0, c->cert, c->want_ocsp, c->want_sct);
	rc = rc || m.err || tls_msg_transcript(c, m.base + at, m.len - at);
	at = m.len;
	rc = rc || tls_msg_write_cv(c, &m, c->cert, c->sig_scheme, true) ||
	     tls_msg_transcript(c, m.base + at, m.len - at);
	if (rc) {
		tls_buf_free(&m);
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "signing failed");
	}
	at = m.len;
	rc = tls_msg_write_finished(c, &m, c->s_hs) ||
	     tls_msg_transcript(c, m.base + at, m.len - at) ||
	     tls_rl_write_sealed(c, out, TLS_CT_HANDSHAKE, m.base, m.len);
	tls_buf_free(&m);

	/* application secrets: ours now (0.5-RTT), the client's after its Finished */
	uint8_t s_ap[TLS_MAX_HASH];
	rc = rc || tls_transcript_hash(&c->tr, c->fin_hash) || tls_keysched_master(&c->ks) ||
	     tls_keysched_derive(&c->ks, "c ap traffic", c->fin_hash, c->pending_rx) ||
	     tls_keysched_derive(&c->ks, "s ap traffic", c->fin_hash, s_ap) ||
	     tls_set_secret(c, TLS_DIR_TX, TLS_EPOCH_APPLICATION, s_ap);
	OPENSSL_cleanse(s_ap, sizeof(s_ap));
	OPENSSL_cleanse(c->s_hs, sizeof(c->s_hs));
	if (rc)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "server flight failed");
	c->params.sig_scheme = c->sig_scheme;
	c->params.group = c->group;
	c->state = c->cr_sent ? TLS_ST_SRV_WAIT_CERT : TLS_ST_SRV_WAIT_FIN;
	return 0;
}

static int handle_client_hello(tls_conn *c, tls_buf *out, tls_reader *r, const uint8_t *msg,
			       size_t len)
{
	struct ch_info ch;
	bool second = c->state == TLS_ST_SRV_WAIT_CH2;
	int rc = parse_ch(c, out, r, &ch);
	if (rc)
		return rc;
	if (second && (rc = check_ch2(c, out, &ch)))
		return rc;
	if (!second && tls_exts_has(&ch.ext, TLS_XI_COOKIE))
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER, "cookie we never sent");

	/* cipher suite: ours first */
	const tls_cipher *cs = NULL;
	for (size_t i = 0; i < c->cfg->n_ciphers && !cs; i++)
		if (u16_reader_has(ch.ciphers, c->cfg->ciphers[i]))
			cs = tls_cipher_find(c->cfg->ciphers[i]);
	if (!cs)
		return tls_fail(c, out, TLS_ALERT_HANDSHAKE_FAILURE, "no shared cipher suite");
	if (second && cs != c->cs)
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER, "cipher changed after HRR");

	struct client_share shares[MAX_SHARES];
	size_t n_shares = 0;
	tls_reader groups;
	if ((rc = parse_shares(c, out, &ch, &groups, shares, &n_shares)))
		return rc;

	if (!tls_exts_has(&ch.ext, TLS_XI_SIGNATURE_ALGORITHMS))
		return tls_fail(c, out, TLS_ALERT_MISSING_EXTENSION,
				"client sent no signature_algorithms");
	uint16_t sigalgs[MAX_PEER_SIGALGS];
	tls_reader sa = ch.ext.body[TLS_XI_SIGNATURE_ALGORITHMS];
	int n_sig = tls_read_u16_list(&sa, sigalgs, MAX_PEER_SIGALGS, NULL);
	if (n_sig < 0 || !tls_reader_done(&sa))
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed signature_algorithms");

	if (!second && tls_exts_has(&ch.ext, TLS_XI_SERVER_NAME) &&
	    (rc = parse_sni(c, out, ch.ext.body[TLS_XI_SERVER_NAME])))
		return rc;
	if (!second) {
		free(c->alpn);
		c->alpn = NULL;
		if (tls_exts_has(&ch.ext, TLS_XI_ALPN) &&
		    (rc = choose_alpn(c, out, ch.ext.body[TLS_XI_ALPN])))
			return rc;
	}
	if ((rc = parse_other_exts(c, out, &ch, second)))
		return rc;
	if ((rc = choose_cert(c, out, sigalgs, (size_t)n_sig)))
		return rc;

	if (!second) {
		c->cs = cs;
		memcpy(c->client_random, ch.random, 32);
		c->sid_len = ch.sid.left;
		memcpy(c->sid, ch.sid.p, ch.sid.left);
		if (tls_transcript_set_hash(&c->tr, cs->md()) != 0)
			return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "hash setup failed");
	}
	/* group: a share the client already sent, in our order; else HRR */
	const struct client_share *share = NULL;
	for (size_t i = 0; i < c->cfg->n_groups && !share; i++)
		for (size_t j = 0; j < n_shares; j++)
			if (shares[j].group == c->cfg->groups[i])
				share = &shares[j];
	if (second) {
		if (n_shares != 1 || !share || share->group != c->group)
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"second ClientHello lacks a share for the requested group");
	} else if (!share) {
		c->group = 0;
		for (size_t i = 0; i < c->cfg->n_groups && !c->group; i++)
			if (u16_reader_has(groups, c->cfg->groups[i]))
				c->group = c->cfg->groups[i];
		if (!c->group)
			return tls_fail(c, out, TLS_ALERT_HANDSHAKE_FAILURE, "no shared group");
		c->ccs_ok = true;
		return send_hrr(c, out, &ch, msg, len);
	}
	c->group = share->group;
	c->ccs_ok = true;
	if (tls_msg_transcript(c, msg, len) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "transcript failed");
	return send_server_flight(c, out, share);
}

static int handle_client_certificate(tls_conn *c, tls_buf *out, tls_reader *r, const uint8_t *msg,
				     size_t len)
{
	const char *why = "";
	size_t ctx_len = 0;
	int alert = tls_msg_read_certificate(r, false, 0, &c->peer_chain, &ctx_len, &why);
	if (alert)
		return tls_fail(c, out, alert, "client Certificate: %s", why);
	if (ctx_len)
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
				"client Certificate with a request context");
	if (tls_msg_transcript(c, msg, len) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "transcript failed");
	if (c->peer_chain.n == 0) {
		if (c->cfg->client_auth == TLS_CLIENT_AUTH_REQUIRE)
			return tls_fail(c, out, TLS_ALERT_CERTIFICATE_REQUIRED,
					"client sent no certificate");
		c->state = TLS_ST_SRV_WAIT_FIN;
		return 0;
	}
	/* verify_peer explicitly off: accept any certificate (its
	 * CertificateVerify is still checked). */
	bool verify = !(c->cfg->verify_set && !c->cfg->verify_peer);
	if (verify && !c->cfg->ca)
		return tls_fail(c, out, TLS_ALERT_UNKNOWN_CA,
				"no CA store to verify client certificates");
	char err[96] = "";
	alert = verify ? tls_chain_verify(&c->peer_chain, c->cfg->ca, false, NULL, err, sizeof(err))
		       : 0;
	if (alert)
		return tls_fail(c, out, alert, "client certificate: %s", err);
	c->state = TLS_ST_SRV_WAIT_CV;
	return 0;
}

static int handle_client_finished(tls_conn *c, tls_buf *out, tls_reader *r, const uint8_t *msg,
				  size_t len)
{
	uint8_t hash[TLS_MAX_HASH];
	if (tls_transcript_hash(&c->tr, hash) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "transcript failed");
	int alert = tls_msg_check_finished(c, r, c->c_hs, hash);
	if (alert)
		return tls_fail(c, out, alert, alert == TLS_ALERT_DECRYPT_ERROR ? "bad Finished"
										 : "malformed Finished");
	if (tls_msg_transcript(c, msg, len) != 0 ||
	    tls_set_secret(c, TLS_DIR_RX, TLS_EPOCH_APPLICATION, c->pending_rx) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "key schedule failed");
	OPENSSL_cleanse(c->pending_rx, sizeof(c->pending_rx));
	c->key_change = true;
	c->ccs_ok = false;
	tls_handshake_complete(c);
	return 0;
}

int tls_server_handle(tls_conn *c, tls_buf *out, uint8_t type, tls_reader *body,
		      const uint8_t *msg, size_t len)
{
	switch (c->state) {
	case TLS_ST_SRV_WAIT_CH:
	case TLS_ST_SRV_WAIT_CH2:
		if (type == TLS_HS_CLIENT_HELLO)
			return handle_client_hello(c, out, body, msg, len);
		break;
	case TLS_ST_SRV_WAIT_CERT:
		if (type == TLS_HS_CERTIFICATE)
			return handle_client_certificate(c, out, body, msg, len);
		break;
	case TLS_ST_SRV_WAIT_CV:
		if (type == TLS_HS_CERTIFICATE_VERIFY) {
			const char *why = "";
			int alert = tls_msg_check_cv(c, body, c->cfg->sigalgs, c->cfg->n_sigalgs,
						     false, &c->params.sig_scheme, &why);
			if (alert)
				return tls_fail(c, out, alert, "client %s", why);
			c->params.sig_scheme = c->sig_scheme; /* ours, as documented */
			if (tls_msg_transcript(c, msg, len) != 0)
				return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "transcript failed");
			c->state = TLS_ST_SRV_WAIT_FIN;
			return 0;
		}
		break;
	case TLS_ST_SRV_WAIT_FIN:
		if (type == TLS_HS_FINISHED)
			return handle_client_finished(c, out, body, msg, len);
		break;
	default:
		break;
	}
	return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE, "unexpected handshake message %u",
			type);
}
