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
	tls_reader psk_ids;        /* pre_shared_key, when present */
	tls_reader psk_binders;
	size_t binders_len;        /* the binders vector with its length */
	bool early;                /* early_data offered */
};

/* The PSK the server chose among the client's identities. */
struct psk_pick {
	size_t index;
	uint32_t obfuscated_age;
	bool ticket;               /* from a ticket (tk valid) */
	tls_ticket tk;
	uint8_t binder[TLS_MAX_HASH];
	size_t binder_len;
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
		/* A PSK-only server that found no usable PSK (RFC 8446 §4.1.1). */
		return tls_fail(c, out, TLS_ALERT_HANDSHAKE_FAILURE,
				"no usable PSK and no server certificate configured");
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

static int parse_other_exts(tls_conn *c, tls_buf *out, struct ch_info *ch, bool second)
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

/* A suite for a PSK with cs's hash: the PSK's own suite when we both have
 * it, else our first with the same hash the client offered. */
static const tls_cipher *psk_suite(const tls_conn *c, const struct ch_info *ch,
				   const tls_cipher *want)
{
	if (tls_list_has(c->cfg->ciphers, c->cfg->n_ciphers, want->id) &&
	    u16_reader_has(ch->ciphers, want->id))
		return want;
	for (size_t i = 0; i < c->cfg->n_ciphers; i++) {
		const tls_cipher *cs = tls_cipher_find(c->cfg->ciphers[i]);
		if (cs && cs->hash_len == want->hash_len && u16_reader_has(ch->ciphers, cs->id))
			return cs;
	}
	return NULL;
}

/* Test hook (tls_conn_test_set_ticket): this identity stands for a ticket
 * another implementation issued, as if the ring had opened it. Expiry is
 * checked like tls_ticket_open does; every later check is the normal one. */
static bool test_ticket(const tls_conn *c, tls_reader id, tls_ticket *out)
{
	const tls_ticket *t = c->t_ticket;
	if (!t || id.left != c->t_ticket_id_len || memcmp(id.p, c->t_ticket_id, id.left) != 0)
		return false;
	uint64_t now = tls_config_now_ms(c->cfg);
	if (now < t->created_ms || now - t->created_ms >= (uint64_t)t->lifetime_s * 1000)
		return false;
	*out = *t;
	return true;
}

/* One identity: an external PSK by lookup, else a ticket. False: ignore it. */
static bool psk_candidate(tls_conn *c, tls_reader id, struct psk_pick *pk, const tls_cipher **pcs)
{
	const tls_config *cfg = c->cfg;
	if (cfg->psk_find) {
		size_t klen = sizeof(c->psk);
		uint16_t cipher = 0;
		if (cfg->psk_find(cfg->psk_find_ctx, id.p, id.left, c->psk, &klen, &cipher) == 0 &&
		    klen > 0 && klen <= sizeof(c->psk) && (*pcs = tls_cipher_find(cipher))) {
			c->psk_len = klen;
			c->psk_ext = true;
			pk->ticket = false;
			return true;
		}
		OPENSSL_cleanse(c->psk, sizeof(c->psk));
	}
	if (!test_ticket(c, id, &pk->tk) &&
	    (!cfg->ring ||
	     tls_ticket_open(cfg->ring, id.p, id.left, tls_config_now_ms(cfg), &pk->tk) != TLS_TICKET_OK))
		return false;
	const tls_ticket *t = &pk->tk;
	const char *sni = c->server_name ? c->server_name : "";
	unsigned bit = TLS_TICKET_KE_BIT(c->psk_dhe ? TLS_PSK_DHE_KE : TLS_PSK_KE);
	*pcs = tls_cipher_find(t->cipher);
	/* §4.6.1: the SNI must be the one the ticket was issued for */
	/* and a server that requires client certificates only resumes
	 * sessions in which the client presented one */
	bool need_client = cfg->client_auth == TLS_CLIENT_AUTH_REQUIRE && !t->has_client;
	if (!*pcs || t->psk_len != (*pcs)->hash_len || strcmp(t->sni, sni) != 0 ||
	    !(t->ke_modes & bit) || need_client) {
		tls_ticket_clear(&pk->tk);
		return false;
	}
	memcpy(c->psk, t->psk, t->psk_len);
	c->psk_len = t->psk_len;
	c->psk_ext = false;
	pk->ticket = true;
	return true;
}

/* §4.2.11: the first identity we can use wins; its binder must verify. */
static int choose_psk(tls_conn *c, tls_buf *out, const struct ch_info *ch, const uint8_t *msg,
		      size_t len, bool second, const tls_cipher **cs_io, struct psk_pick *pk)
{
	unsigned can = c->psk_peer_modes & c->cfg->psk_modes;
	c->psk_on = false;
	if (!tls_exts_has(&ch->ext, TLS_XI_PRE_SHARED_KEY) || !can || len < ch->binders_len)
		return 0;
	c->psk_dhe = (can & TLS_PSK_MODE_DHE_KE) != 0;
	tls_reader ids = ch->psk_ids, binders = ch->psk_binders;
	for (size_t idx = 0; ids.left; idx++) {
		tls_reader id = tls_read_vec16(&ids, 1, 0xffff);
		uint32_t age = tls_read_u32(&ids);
		tls_reader b = tls_read_vec8(&binders, 32, 255);
		const tls_cipher *pcs = NULL, *cs;
		if (!psk_candidate(c, id, pk, &pcs))
			continue;
		if (second)
			cs = c->cs->hash_len == pcs->hash_len ? c->cs : NULL;
		else
			cs = psk_suite(c, ch, pcs);
		if (!cs) {
			tls_ticket_clear(&pk->tk);
			OPENSSL_cleanse(c->psk, sizeof(c->psk));
			continue;
		}
		uint8_t want[TLS_MAX_HASH];
		if (tls_psk_binder(cs, c->psk, c->psk_len, c->psk_ext, &c->tr, msg,
				   len - ch->binders_len, want)) {
			tls_ticket_clear(&pk->tk);
			return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "binder computation failed");
		}
		bool ok = b.left == cs->hash_len && tls_ct_equal(want, b.p, cs->hash_len);
		OPENSSL_cleanse(want, sizeof(want));
		if (!ok) {
			tls_ticket_clear(&pk->tk);
			return tls_fail(c, out, TLS_ALERT_DECRYPT_ERROR, "bad PSK binder");
		}
		memcpy(pk->binder, b.p, b.left);
		pk->binder_len = b.left;
		pk->index = idx;
		pk->obfuscated_age = age;
		c->psk_on = true;
		c->psk_cs = cs;
		*cs_io = cs;
		return 0;
	}
	return 0;
}

/* §8: 0-RTT only for the first identity, a ticket allowing it, the same
 * suite and ALPN, a fresh age and a ClientHello never seen before. */
static bool accept_early(tls_conn *c, const struct ch_info *ch, const struct psk_pick *pk)
{
	const tls_config *cfg = c->cfg;
	if (!ch->early || !c->psk_on || !pk->ticket || pk->index != 0 || !cfg->max_early_data ||
	    !pk->tk.max_early_data || pk->tk.cipher != c->cs->id || !cfg->ar_ops)
		return false;
	size_t alen = c->alpn ? strlen(c->alpn) : 0;
	if (alen != pk->tk.alpn_len || (alen && memcmp(c->alpn, pk->tk.alpn, alen) != 0))
		return false;
	uint64_t now = tls_config_now_ms(cfg);
	if (!tls_ticket_fresh(&pk->tk, pk->obfuscated_age, now, cfg->fresh_window))
		return false;
	return cfg->ar_ops->check_and_record(cfg->ar_ctx, pk->binder, pk->binder_len, now);
}

/* The resumed connection reports who authenticated originally. */
static void ticket_identity(tls_conn *c, const tls_ticket *t)
{
	if (!t->has_client)
		return;
	c->params.client_id = true;
	memcpy(c->params.client_cert_sha256, t->client_cert_sha256, 32);
	memcpy(c->client_subject, t->client_subject, t->client_subject_len);
	c->params.client_subject = c->client_subject;
	c->params.client_subject_len = t->client_subject_len;
	c->client_not_after = t->client_not_after;
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
static int send_server_flight(tls_conn *c, tls_buf *out, const struct client_share *share,
			      uint16_t psk_index)
{
	uint8_t pubmem[160], shared[TLS_MAX_HASH + 80], hash[TLS_MAX_HASH];
	size_t shared_len = 0;
	tls_buf pub;
	tls_buf_init_fixed(&pub, pubmem, sizeof(pubmem));
	if (share) {
		shared_len = sizeof(shared);
		c->n_kex = 1;
		if (tls_make_share(c, &c->kex[0], c->group, &pub) != 0)
			return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "key generation failed");
		if (tls_kex_derive(&c->kex[0], share->key, share->len, shared, &shared_len) != 0)
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"invalid key share from client");
		tls_kex_clear(&c->kex[0]);
		c->n_kex = 0;
	}

	uint8_t random[32];
	tls_buf m;
	tls_buf_init(&m, 0);
	size_t est = 1024;
	for (size_t i = 0; c->cert && i < c->cert->chain.n; i++)
		est += c->cert->der_len[i] + 8;
	if (c->cert && c->cert->ocsp)
		est += c->cert->ocsp_len + 8;
	if (c->cert && c->cert->sct)
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
		if (share) {
			tls_write_u16(&m, TLS_EXT_KEY_SHARE);
			tls_write_open(&m, 2);
			tls_write_u16(&m, c->group);
			tls_write_open(&m, 2);
			tls_write_bytes(&m, pub.base, pub.len);
			tls_write_close(&m);
			tls_write_close(&m);
		}
		if (c->psk_on) {
			tls_write_u16(&m, TLS_EXT_PRE_SHARED_KEY);
			tls_write_u16(&m, 2);
			tls_write_u16(&m, psk_index);
		}
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
	rc = rc || tls_keysched_init(&c->ks, c->cs->md(), c->psk_on ? c->psk : NULL,
				     c->psk_on ? c->psk_len : 0) ||
	     tls_keysched_handshake(&c->ks, share ? shared : NULL, shared_len) ||
	     tls_transcript_hash(&c->tr, hash) ||
	     tls_keysched_derive(&c->ks, "c hs traffic", hash, c->c_hs) ||
	     tls_keysched_derive(&c->ks, "s hs traffic", hash, c->s_hs) ||
	     tls_set_secret(c, TLS_DIR_TX, TLS_EPOCH_HANDSHAKE, c->s_hs) ||
	     (c->early_on ? tls_set_secret(c, TLS_DIR_RX, TLS_EPOCH_EARLY, c->c_early)
			  : tls_set_secret(c, TLS_DIR_RX, TLS_EPOCH_HANDSHAKE, c->c_hs));
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
	if (c->early_on && !ee_override) {
		tls_write_u16(&m, TLS_EXT_EARLY_DATA);
		tls_write_u16(&m, 0);
	}
	tls_write_close(&m);
	tls_msg_end(&m);
	rc = m.err || tls_msg_transcript(c, m.base + at, m.len - at);

	/* CertificateRequest: never with a PSK (§4.3.2) */
	if (!rc && c->cfg->client_auth != TLS_CLIENT_AUTH_NONE && !c->psk_on) {
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

	/* Certificate, CertificateVerify (not when the PSK authenticates), Finished */
	if (!c->psk_on) {
		at = m.len;
		tls_msg_write_certificate(&m, NULL, 0, c->cert, c->want_ocsp, c->want_sct);
		rc = rc || m.err || tls_msg_transcript(c, m.base + at, m.len - at);
		at = m.len;
		rc = rc || tls_msg_write_cv(c, &m, c->cert, c->sig_scheme, true) ||
		     tls_msg_transcript(c, m.base + at, m.len - at);
	}
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
	c->params.sig_scheme = c->psk_on ? 0 : c->sig_scheme;
	c->params.group = share ? c->group : 0;
	c->params.resumed = c->psk_on;
	c->params.psk_external = c->psk_on && c->psk_ext;
	if (c->early_on)
		c->state = TLS_ST_SRV_WAIT_EOED;
	else
		c->state = c->cr_sent ? TLS_ST_SRV_WAIT_CERT : TLS_ST_SRV_WAIT_FIN;
	return 0;
}

static size_t early_skip_limit(const tls_conn *c)
{
	/* ciphertext: the plaintext limit plus generous record overhead */
	size_t lim = (size_t)c->cfg->max_early_data + c->cfg->max_early_data / 64 + 4096;
	return lim > EARLY_DATA_SKIP_MAX ? lim : EARLY_DATA_SKIP_MAX;
}

/* Accepts 0-RTT (keys for it) or arranges to skip it. */
static int early_decision(tls_conn *c, tls_buf *out, const struct ch_info *ch, bool second,
			  const struct psk_pick *pk)
{
	c->early_on = false;
	if (!ch->early || second)
		return 0;
	if (!accept_early(c, ch, pk)) {
		c->skip_early = early_skip_limit(c);
		c->params.early_data = TLS_EARLY_REJECTED;
		return 0;
	}
	uint8_t hash[TLS_MAX_HASH];
	if (tls_transcript_hash(&c->tr, hash) || tls_psk_early_secret(c, hash))
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "early secret failed");
	c->early_on = true;
	c->early_got = 0;
	c->params.early_data = TLS_EARLY_ACCEPTED;
	return 0;
}

static int handshake_with(tls_conn *c, tls_buf *out, const struct ch_info *chp, bool second,
			  const tls_cipher *cs, struct client_share *shares, tls_reader *groups,
			  const struct psk_pick *pk, const uint8_t *msg, size_t len);

static int handle_client_hello(tls_conn *c, tls_buf *out, tls_reader *r, const uint8_t *msg,
			       size_t len)
{
	struct ch_info ch;
	memset(&ch, 0, sizeof(ch));
	bool second = c->state == TLS_ST_SRV_WAIT_CH2;
	int rc = parse_ch(c, out, r, &ch);
	if (rc)
		return rc;
	if (second && (rc = check_ch2(c, out, &ch)))
		return rc;
	if (second)
		c->skip_early = 0; /* 0-RTT ends with the second ClientHello */
	if (!second && tls_exts_has(&ch.ext, TLS_XI_COOKIE))
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER, "cookie we never sent");

	/* cipher suite: ours first */
	const tls_cipher *cs = NULL;
	for (size_t i = 0; i < c->cfg->n_ciphers && !cs; i++)
		if (u16_reader_has(ch.ciphers, c->cfg->ciphers[i]))
			cs = tls_cipher_find(c->cfg->ciphers[i]);
	if (!cs)
		return tls_fail(c, out, TLS_ALERT_HANDSHAKE_FAILURE, "no shared cipher suite");
	if (second) {
		if (!u16_reader_has(ch.ciphers, c->cs->id))
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"cipher changed after HRR");
		cs = c->cs;
	}

	struct client_share shares[MAX_SHARES];
	tls_reader groups;
	uint16_t sigalgs[MAX_PEER_SIGALGS];
	int n_sig = 0;
	if (tls_exts_has(&ch.ext, TLS_XI_SIGNATURE_ALGORITHMS)) {
		tls_reader sa = ch.ext.body[TLS_XI_SIGNATURE_ALGORITHMS];
		n_sig = tls_read_u16_list(&sa, sigalgs, MAX_PEER_SIGALGS, NULL);
		if (n_sig < 0 || !tls_reader_done(&sa))
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR,
					"malformed signature_algorithms");
	}

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
	struct psk_pick pk;
	memset(&pk, 0, sizeof(pk));
	if ((rc = choose_psk(c, out, &ch, msg, len, second, &cs, &pk)))
		return rc;
	/* a PSK authenticates the server; otherwise a certificate does */
	if (!c->psk_on && !tls_exts_has(&ch.ext, TLS_XI_SIGNATURE_ALGORITHMS)) {
		tls_ticket_clear(&pk.tk);
		return tls_fail(c, out, TLS_ALERT_MISSING_EXTENSION,
				"client sent no signature_algorithms");
	}
	if (!c->psk_on && (rc = choose_cert(c, out, sigalgs, (size_t)n_sig)))
		return rc;
	rc = handshake_with(c, out, &ch, second, cs, shares, &groups, &pk, msg, len);
	tls_ticket_clear(&pk.tk);
	OPENSSL_cleanse(&pk, sizeof(pk));
	return rc;
}

/* The rest of the ClientHello: transcript, group (or HRR), 0-RTT, flight. */
static int handshake_with(tls_conn *c, tls_buf *out, const struct ch_info *chp, bool second,
			  const tls_cipher *cs, struct client_share *shares, tls_reader *groups,
			  const struct psk_pick *pk, const uint8_t *msg, size_t len)
{
	const struct ch_info ch = *chp;
	size_t n_shares = 0;
	int rc;

	if (!second) {
		c->cs = cs;
		memcpy(c->client_random, ch.random, 32);
		c->sid_len = ch.sid.left;
		memcpy(c->sid, ch.sid.p, ch.sid.left);
		if (tls_transcript_set_hash(&c->tr, cs->md()) != 0)
			return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "hash setup failed");
	}
	if (c->psk_on && pk->ticket)
		ticket_identity(c, &pk->tk);
	if (c->psk_on && !c->psk_dhe) {
		/* psk_ke: no (EC)DHE at all */
		c->ccs_ok = true;
		if (tls_msg_transcript(c, msg, len) != 0)
			return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "transcript failed");
		if ((rc = early_decision(c, out, &ch, second, pk)))
			return rc;
		return send_server_flight(c, out, NULL, (uint16_t)pk->index);
	}
	if ((rc = parse_shares(c, out, &ch, groups, shares, &n_shares)))
		return rc;
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
			if (u16_reader_has(*groups, c->cfg->groups[i]))
				c->group = c->cfg->groups[i];
		if (!c->group)
			return tls_fail(c, out, TLS_ALERT_HANDSHAKE_FAILURE, "no shared group");
		c->ccs_ok = true;
		/* §4.1.4: an HRR rejects 0-RTT; skip what the client sends */
		if (ch.early) {
			c->skip_early = early_skip_limit(c);
			c->params.early_data = TLS_EARLY_REJECTED;
		}
		c->psk_on = false;
		c->params.client_id = false;
		return send_hrr(c, out, &ch, msg, len);
	}
	c->group = share->group;
	c->ccs_ok = true;
	if (tls_msg_transcript(c, msg, len) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "transcript failed");
	if ((rc = early_decision(c, out, &ch, second, pk)))
		return rc;
	return send_server_flight(c, out, share, (uint16_t)pk->index);
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
	if (tls_msg_transcript(c, msg, len) != 0 || tls_transcript_hash(&c->tr, hash) != 0 ||
	    tls_derive_masters(c, hash) != 0 ||
	    tls_set_secret(c, TLS_DIR_RX, TLS_EPOCH_APPLICATION, c->pending_rx) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "key schedule failed");
	OPENSSL_cleanse(c->pending_rx, sizeof(c->pending_rx));
	if (c->peer_chain.n) {
		tls_ticket t;
		memset(&t, 0, sizeof(t));
		if (tls_ticket_set_client_cert(&t, c->peer_chain.certs[0]) == 0)
			ticket_identity(c, &t);
	}
	/* tickets go out under the application key, before kTLS takes over */
	if (tls_server_send_tickets(c, out) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "NewSessionTicket failed");
	c->key_change = true;
	c->ccs_ok = false;
	tls_handshake_complete(c);
	return 0;
}

/* §4.5: the end of 0-RTT; from here the client uses its handshake key. */
static int handle_eoed(tls_conn *c, tls_buf *out, tls_reader *r, const uint8_t *msg, size_t len)
{
	if (r->left)
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed EndOfEarlyData");
	if (tls_msg_transcript(c, msg, len) != 0 ||
	    tls_set_secret(c, TLS_DIR_RX, TLS_EPOCH_HANDSHAKE, c->c_hs) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "key schedule failed");
	OPENSSL_cleanse(c->c_early, sizeof(c->c_early));
	c->key_change = true;
	c->state = TLS_ST_SRV_WAIT_FIN;
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
	case TLS_ST_SRV_WAIT_EOED:
		if (type == TLS_HS_END_OF_EARLY_DATA)
			return handle_eoed(c, out, body, msg, len);
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
