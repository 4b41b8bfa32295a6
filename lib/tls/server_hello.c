/* The server's reading of a ClientHello (RFC 8446 §4.1.2, §4.2): the
 * message and its extensions, key shares, SNI, ALPN, certificate choice,
 * and the §4.1.4 checks on the second ClientHello after an HRR. */
#include "tls/server.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* Digest of everything §4.1.2 forbids the second ClientHello to change. */
int tls_ch_digest(const struct ch_info *ch, uint8_t out[32])
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

int tls_ch_parse(tls_conn *c, tls_buf *out, tls_reader *r, struct ch_info *ch)
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
	/* Appendix D.5: SSL 3.0 or older aborts with protocol_version, even
	 * with TLS 1.3 in supported_versions; anything newer is ignored (§4.2.1) */
	if (ch->legacy_version <= 0x0300)
		return tls_fail(c, out, TLS_ALERT_PROTOCOL_VERSION, "client legacy_version 0x%04x",
				ch->legacy_version);
	if (!tls_exts_has(&ch->ext, TLS_XI_SUPPORTED_VERSIONS))
		return tls_fail(c, out, TLS_ALERT_PROTOCOL_VERSION, "client offered no TLS 1.3");
	tls_reader sv = ch->ext.body[TLS_XI_SUPPORTED_VERSIONS];
	tls_reader vers = tls_read_vec8(&sv, 2, 254);
	if (!tls_reader_done(&sv) || vers.left % 2)
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed supported_versions");
	if (!tls_u16_reader_has(vers, 0x0304))
		return tls_fail(c, out, TLS_ALERT_PROTOCOL_VERSION, "client offered no TLS 1.3");
	tls_reader comp = ch->comp;
	if (comp.left != 1 || tls_read_u8(&comp) != 0)
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
				"ClientHello compression methods must be exactly [null]");
	return 0;
}

/* key_share + supported_groups (§4.2.7, §4.2.8, §9.2). The client may list
 * and share any number of groups we do not know: every entry is checked
 * (no duplicate group, none absent from supported_groups) in linear time,
 * and only the shares for our groups are kept. */
int tls_ch_parse_shares(tls_conn *c, tls_buf *out, const struct ch_info *ch, tls_reader *groups,
			struct client_share *shares, size_t *n_shares, size_t *n_total)
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
	tls_u16_set listed, shared;
	tls_u16_set_clear(&listed);
	tls_u16_set_clear(&shared);
	for (tls_reader g = *groups; g.left;)
		tls_u16_set_add(&listed, tls_read_u16(&g));
	*n_shares = *n_total = 0;
	while (list.left) {
		uint16_t g = tls_read_u16(&list);
		tls_reader key = tls_read_vec16(&list, 1, 0xffff);
		if (list.err)
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed key_share");
		if (!tls_u16_set_add(&shared, g))
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"two key shares for group 0x%04x", g);
		if (!tls_u16_set_has(&listed, g))
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"key share for group 0x%04x not in supported_groups", g);
		(*n_total)++;
		/* one share per group, so at most TLS_MAX_PREFS are ours */
		if (!tls_list_has(c->cfg->groups, c->cfg->n_groups, g))
			continue;
		shares[*n_shares].group = g;
		shares[*n_shares].len = key.left;
		shares[*n_shares].key = tls_read_bytes(&key, key.left);
		(*n_shares)++;
	}
	return 0;
}

int tls_ch_parse_sni(tls_conn *c, tls_buf *out, tls_reader body)
{
	tls_reader list = tls_read_vec16(&body, 1, 0xffff);
	if (!tls_reader_done(&body))
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed server_name");
	while (list.left) {
		uint8_t type = tls_read_u8(&list);
		tls_reader name = tls_read_vec16(&list, 1, 0xffff);
		if (list.err)
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed server_name");
		if (type != 0)
			continue; /* other name types are unknown */
		/* RFC 6066 §3: at most one host_name, and never an IP literal */
		if (c->server_name)
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"more than one host_name in server_name");
		if (name.left > 253 || memchr(name.p, 0, name.left))
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "bad server_name");
		c->server_name = strndup((const char *)name.p, name.left);
		if (!c->server_name)
			return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "out of memory");
		if (tls_is_ip_literal(c->server_name))
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"IP address in server_name");
	}
	return 0;
}

int tls_ch_choose_alpn(tls_conn *c, tls_buf *out, tls_reader body)
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
	/* our preference order wins */
	tls_reader ours = tls_reader_init(c->cfg->alpn, c->cfg->alpn_len);
	while (ours.left) {
		tls_reader mine = tls_read_vec8(&ours, 1, 255);
		if (tls_alpn_list_has(list.p, list.left, mine.p, mine.left)) {
			c->alpn = strndup((const char *)mine.p, mine.left);
			return c->alpn ? 0 : tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR,
						      "out of memory");
		}
	}
	return tls_fail(c, out, TLS_ALERT_NO_APPLICATION_PROTOCOL,
			"no application protocol in common");
}

/* Certificate by SNI first (exact or wildcard), then by what the client can
 * verify; the first configured certificate is the default. */
int tls_ch_choose_cert(tls_conn *c, tls_buf *out, uint32_t sigalgs)
{
	const tls_config *cfg = c->cfg;
	if (!cfg->n_certs)
		/* A PSK-only server that found no usable PSK (RFC 8446 §4.1.1). */
		return tls_fail(c, out, TLS_ALERT_HANDSHAKE_FAILURE,
				"no usable PSK and no server certificate configured");
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < cfg->n_certs; i++) {
			const struct tls_cert *cert = &cfg->certs[i];
			if (pass == 0 && (!c->server_name ||
					  !tls_cert_matches_name(cert, c->server_name)))
				continue;
			uint16_t s = tls_pick_scheme(cfg, cert, sigalgs);
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

int tls_ch_parse_exts(tls_conn *c, tls_buf *out, struct ch_info *ch, bool second)
{
	const tls_exts *e = &ch->ext;
	if (tls_exts_has(e, TLS_XI_RECORD_SIZE_LIMIT)) {
		const char *why = "";
		int alert = tls_ext_record_size_limit(e->body[TLS_XI_RECORD_SIZE_LIMIT],
						      &c->params.peer_record_limit, &c->peer_limit,
						      &why);
		if (alert)
			return tls_fail(c, out, alert, "%s", why);
		c->client_rsl = true;
	}
	if (tls_exts_has(e, TLS_XI_STATUS_REQUEST)) {
		/* RFC 6066 §8: status_type, then for ocsp(1) responder_id_list
		 * and request_extensions; other types are ignored */
		tls_reader r = e->body[TLS_XI_STATUS_REQUEST];
		uint8_t type = tls_read_u8(&r);
		if (r.err)
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed status_request");
		if (type == 1) {
			tls_read_vec16(&r, 0, 0xffff);
			tls_read_vec16(&r, 0, 0xffff);
			if (!tls_reader_done(&r))
				return tls_fail(c, out, TLS_ALERT_DECODE_ERROR,
						"malformed status_request");
			c->want_ocsp = true;
		}
	}
	if (tls_exts_has(e, TLS_XI_SCT)) {
		if (e->body[TLS_XI_SCT].left)
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed signed_certificate_timestamp");
		c->want_sct = true;
	}
	bool has_psk = tls_exts_has(e, TLS_XI_PRE_SHARED_KEY);
	c->psk_peer_modes = 0;
	if (tls_exts_has(e, TLS_XI_PSK_KEY_EXCHANGE_MODES)) {
		tls_reader r = e->body[TLS_XI_PSK_KEY_EXCHANGE_MODES];
		tls_reader modes = tls_read_vec8(&r, 1, 255);
		if (!tls_reader_done(&r))
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed psk_key_exchange_modes");
		while (modes.left) {
			uint8_t m = tls_read_u8(&modes);
			if (m == TLS_PSK_KE)
				c->psk_peer_modes |= TLS_PSK_MODE_KE;
			else if (m == TLS_PSK_DHE_KE)
				c->psk_peer_modes |= TLS_PSK_MODE_DHE_KE;
		}
	} else if (has_psk) {
		return tls_fail(c, out, TLS_ALERT_MISSING_EXTENSION,
				"pre_shared_key without psk_key_exchange_modes");
	}
	if (has_psk) {
		tls_reader r = e->body[TLS_XI_PRE_SHARED_KEY];
		tls_reader ids = tls_read_vec16(&r, 7, 0xffff);
		size_t blen = r.left;
		tls_reader binders = tls_read_vec16(&r, 33, 0xffff);
		ch->psk_ids = ids;
		ch->psk_binders = binders;
		ch->binders_len = blen;
		size_t n_ids = 0, n_binders = 0;
		while (!ids.err && ids.left) {
			tls_read_vec16(&ids, 1, 0xffff);
			tls_read_u32(&ids);
			n_ids++;
		}
		while (!binders.err && binders.left) {
			tls_read_vec8(&binders, 32, 255);
			n_binders++;
		}
		if (!tls_reader_done(&r) || ids.err || binders.err)
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed pre_shared_key");
		if (n_ids != n_binders)
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"%zu PSK identities but %zu binders", n_ids, n_binders);
	}
	if (tls_exts_has(e, TLS_XI_EARLY_DATA)) {
		if (e->body[TLS_XI_EARLY_DATA].left)
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed early_data");
		if (second)
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"early_data in the second ClientHello");
		ch->early = has_psk;
	}
	return 0;
}

int tls_ch_check_second(tls_conn *c, tls_buf *out, const struct ch_info *ch)
{
	uint8_t d[32];
	if (tls_ch_digest(ch, d) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "digest failed");
	if (!tls_ct_equal(d, c->ch1_digest, 32))
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
				"second ClientHello changed more than allowed");
	const struct tls_test_hooks *t = c->t;
	const uint8_t *cookie = t && t->cookie ? t->cookie : c->cookie;
	size_t cookie_len = t && t->cookie ? t->cookie_len : sizeof(c->cookie);
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
