/* The client state machine (RFC 8446 §2, §4): ClientHello, HelloRetryRequest,
 * ServerHello checks, the server's protected flight, and our Finished. */
#include "tls/engine.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

static bool is_ip_literal(const char *name)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

static const uint8_t *alpn_offer(const tls_conn *c, size_t *len)
{
	if (c->alpn_offer) {
		*len = c->alpn_offer_len;
		return c->alpn_offer;
	}
	*len = c->cfg->alpn_len;
	return c->cfg->alpn;
}

static bool alpn_offered(const tls_conn *c, const uint8_t *p, size_t n);

static void ext_begin(tls_conn *c, tls_buf *b, uint16_t type, enum tls_xi xi)
{
	tls_write_u16(b, type);
	tls_write_open(b, 2);
	c->ch_offered |= TLS_XBIT(xi);
}

/* pre_shared_key last (§4.2.11), then the message is closed and the
 * binder, which signs everything before the binders, filled in. */
static int finish_client_hello(tls_conn *c, tls_buf *m)
{
	size_t hl = 0;
	if (c->psk_on) {
		hl = c->psk_cs->hash_len;
		ext_begin(c, m, TLS_EXT_PRE_SHARED_KEY, TLS_XI_PRE_SHARED_KEY);
		tls_write_open(m, 2);
		tls_write_u16(m, (uint16_t)c->psk_identity_len);
		tls_write_bytes(m, c->psk_identity, c->psk_identity_len);
		tls_write_u32(m, c->psk_age);
		tls_write_close(m);
		tls_write_u16(m, (uint16_t)(1 + hl));
		tls_write_u8(m, (uint8_t)hl);
		tls_write_zeros(m, hl);
		tls_write_close(m);
	}
	tls_write_close(m);
	tls_msg_end(m);
	if (m->err)
		return -1;
	if (c->psk_on && tls_psk_binder(c->psk_cs, c->psk, c->psk_len, c->psk_ext, &c->tr, m->base,
					m->len - (3 + hl), m->base + m->len - hl))
		return -1;
	return 0;
}

/* Builds a ClientHello into m; shares are generated here (or reused). */
static int build_client_hello(tls_conn *c, tls_buf *m, bool second)
{
	const tls_config *cfg = c->cfg;
	tls_msg_begin(m, TLS_HS_CLIENT_HELLO);
	tls_write_u16(m, 0x0303);
	tls_write_bytes(m, c->client_random, 32);
	tls_write_u8(m, (uint8_t)c->sid_len);
	tls_write_bytes(m, c->sid, c->sid_len);
	tls_write_open(m, 2);
	for (size_t i = 0; i < cfg->n_ciphers; i++)
		tls_write_u16(m, cfg->ciphers[i]);
	tls_write_close(m);
	tls_write_u8(m, 1);
	tls_write_u8(m, 0);
	tls_write_open(m, 2);
	uint8_t *ov;
	size_t ov_len;
	if (tls_take_ext_override(c, TLS_HS_CLIENT_HELLO, &ov, &ov_len)) {
		/* test hook: the caller supplies the whole block */
		tls_write_bytes(m, ov, ov_len);
		tls_reader r = tls_reader_init(ov, ov_len);
		tls_exts e;
		const char *why;
		int bad = tls_exts_parse(&r, TLS_CTX_CH, 0, &e, &why);
		free(ov);
		if (bad)
			return -1;
		/* With a PSK on offer the engine appends pre_shared_key itself
		 * (real identity, age and binder), so the block must not hold one. */
		if (c->psk_on && tls_exts_has(&e, TLS_XI_PRE_SHARED_KEY))
			return -1;
		c->ch_offered = e.present;
		for (size_t i = 0; i < c->n_kex; i++) {
			if (c->kex[i].key)
				continue; /* HRR without a new group keeps the share */
			uint8_t pubmem[160];
			tls_buf pub;
			tls_buf_init_fixed(&pub, pubmem, sizeof(pubmem));
			if (tls_make_share(c, &c->kex[i], c->kex[i].group, &pub) != 0)
				return -1;
		}
		return finish_client_hello(c, m);
	}
	c->ch_offered = 0;
	if (c->server_name && !is_ip_literal(c->server_name)) {
		ext_begin(c, m, TLS_EXT_SERVER_NAME, TLS_XI_SERVER_NAME);
		tls_write_open(m, 2);
		tls_write_u8(m, 0);
		tls_write_open(m, 2);
		tls_write_bytes(m, c->server_name, strlen(c->server_name));
		tls_write_close(m);
		tls_write_close(m);
		tls_write_close(m);
	}
	ext_begin(c, m, TLS_EXT_SUPPORTED_GROUPS, TLS_XI_SUPPORTED_GROUPS);
	tls_write_open(m, 2);
	for (size_t i = 0; i < cfg->n_groups; i++)
		tls_write_u16(m, cfg->groups[i]);
	tls_write_close(m);
	tls_write_close(m);

	ext_begin(c, m, TLS_EXT_KEY_SHARE, TLS_XI_KEY_SHARE);
	if (c->ch_shares) {
		/* HRR without a new group: the same shares again (§4.1.2) */
		tls_write_bytes(m, c->ch_shares, c->ch_shares_len);
	} else {
		size_t at = m->len;
		tls_write_open(m, 2);
		for (size_t i = 0; i < c->n_kex; i++) {
			uint8_t pubmem[160];
			tls_buf pub;
			tls_buf_init_fixed(&pub, pubmem, sizeof(pubmem));
			if (tls_make_share(c, &c->kex[i], c->kex[i].group, &pub) != 0)
				return -1;
			tls_write_u16(m, c->kex[i].group);
			tls_write_open(m, 2);
			tls_write_bytes(m, pub.base, pub.len);
			tls_write_close(m);
		}
		tls_write_close(m);
		if (!second && !m->err) {
			c->ch_shares = malloc(m->len - at);
			if (!c->ch_shares)
				return -1;
			c->ch_shares_len = m->len - at;
			memcpy(c->ch_shares, m->base + at, c->ch_shares_len);
		}
	}
	tls_write_close(m);

	ext_begin(c, m, TLS_EXT_SUPPORTED_VERSIONS, TLS_XI_SUPPORTED_VERSIONS);
	tls_write_u8(m, 2);
	tls_write_u16(m, 0x0304);
	tls_write_close(m);

	ext_begin(c, m, TLS_EXT_SIGNATURE_ALGORITHMS, TLS_XI_SIGNATURE_ALGORITHMS);
	tls_write_open(m, 2);
	for (size_t i = 0; i < cfg->n_sigalgs; i++)
		tls_write_u16(m, cfg->sigalgs[i]);
	tls_write_close(m);
	tls_write_close(m);

	size_t alen;
	const uint8_t *alpn = alpn_offer(c, &alen);
	if (alen) {
		ext_begin(c, m, TLS_EXT_ALPN, TLS_XI_ALPN);
		tls_write_open(m, 2);
		tls_write_bytes(m, alpn, alen);
		tls_write_close(m);
		tls_write_close(m);
	}

	ext_begin(c, m, TLS_EXT_RECORD_SIZE_LIMIT, TLS_XI_RECORD_SIZE_LIMIT);
	tls_write_u16(m, cfg->record_size_limit);
	tls_write_close(m);

	if (cfg->verify_peer) {
		ext_begin(c, m, TLS_EXT_STATUS_REQUEST, TLS_XI_STATUS_REQUEST);
		tls_write_u8(m, 1);   /* ocsp */
		tls_write_u16(m, 0);  /* responder_id_list */
		tls_write_u16(m, 0);  /* request_extensions */
		tls_write_close(m);
	}
	if (second && c->hrr_cookie) {
		ext_begin(c, m, TLS_EXT_COOKIE, TLS_XI_COOKIE);
		tls_write_open(m, 2);
		tls_write_bytes(m, c->hrr_cookie, c->hrr_cookie_len);
		tls_write_close(m);
		tls_write_close(m);
	}
	if (cfg->psk_modes) {
		/* always: a server only issues tickets for modes we list (§4.2.9) */
		ext_begin(c, m, TLS_EXT_PSK_KEY_EXCHANGE_MODES, TLS_XI_PSK_KEY_EXCHANGE_MODES);
		tls_write_open(m, 1);
		if (cfg->psk_modes & TLS_PSK_MODE_DHE_KE)
			tls_write_u8(m, TLS_PSK_DHE_KE);
		if (cfg->psk_modes & TLS_PSK_MODE_KE)
			tls_write_u8(m, TLS_PSK_KE);
		tls_write_close(m);
		tls_write_close(m);
	}
	if (c->early_on && !second) {
		ext_begin(c, m, TLS_EXT_EARLY_DATA, TLS_XI_EARLY_DATA);
		tls_write_close(m);
	}
	return finish_client_hello(c, m);
}

/* 0-RTT right behind ClientHello1 (and the compat CCS, §D.4). */
static int send_early_data(tls_conn *c, tls_buf *out)
{
	uint8_t hash[TLS_MAX_HASH];
	c->cs = c->psk_cs; /* the session's suite protects 0-RTT */
	if (tls_transcript_hash_extra(&c->tr, c->psk_cs->md(), NULL, 0, hash) ||
	    tls_psk_early_secret(c, hash))
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "early secret failed");
	if (c->cfg->compat)
		tls_rl_send_ccs(c, out);
	if (tls_set_secret(c, TLS_DIR_TX, TLS_EPOCH_EARLY, c->c_early) ||
	    tls_rl_write_sealed(c, out, TLS_CT_APPDATA, c->early, c->early_len))
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "sending early data failed");
	return 0;
}

/* What to offer: the session (a ticket) or the configured external PSK,
 * and whether 0-RTT may go with it. */
static int setup_psk(tls_conn *c)
{
	const tls_config *cfg = c->cfg;
	const uint8_t *id = NULL, *key = NULL;
	size_t id_len = 0, key_len = 0;
	if (!cfg->psk_modes)
		return 0;
	if (c->sess) {
		c->psk_cs = tls_cipher_find(c->sess->cipher);
		id = c->sess->ticket;
		id_len = c->sess->ticket_len;
		key = c->sess->psk;
		key_len = c->sess->psk_len;
		/* Both times are rounded down to the millisecond, so the age may
		 * read 1 ms more than really passed; servers that reject an age
		 * above their own view (GnuTLS) would then refuse 0-RTT. */
		uint64_t now = tls_config_now_ms(cfg);
		uint64_t age = now > c->sess->created_ms ? now - c->sess->created_ms - 1 : 0;
		c->psk_age = tls_ticket_obfuscate_age(age, c->sess->age_add);
		c->psk_ext = false;
	} else if (cfg->psk_id) {
		c->psk_cs = tls_cipher_find(cfg->psk_cipher);
		id = cfg->psk_id;
		id_len = cfg->psk_id_len;
		key = cfg->psk_key;
		key_len = cfg->psk_key_len;
		c->psk_age = 0; /* §4.2.11: external identities */
		c->psk_ext = true;
	}
	if (!id || !c->psk_cs || id_len > 0xffff - 16 || key_len > sizeof(c->psk))
		return 0;
	c->psk_identity = malloc(id_len);
	if (!c->psk_identity)
		return -1;
	memcpy(c->psk_identity, id, id_len);
	c->psk_identity_len = id_len;
	memcpy(c->psk, key, key_len);
	c->psk_len = key_len;
	c->psk_on = true;
	/* 0-RTT: the ticket allows this much, and the session's suite and
	 * ALPN are on offer (§4.2.10) */
	const tls_session *s = c->sess;
	size_t alen = s ? strlen(s->alpn) : 0;
	if (c->early && s && s->max_early_data >= c->early_len &&
	    tls_list_has(cfg->ciphers, cfg->n_ciphers, s->cipher) &&
	    (!alen || alpn_offered(c, (const uint8_t *)s->alpn, alen)))
		c->early_on = true;
	return 0;
}

static int send_client_hello(tls_conn *c, tls_buf *out, bool second)
{
	tls_buf m;
	tls_buf_init(&m, 0);
	tls_buf_reserve(&m, 512);
	int rc = build_client_hello(c, &m, second) || tls_msg_transcript(c, m.base, m.len);
	if (!rc) {
		if (second && c->cfg->compat)
			tls_rl_send_ccs(c, out);
		/* 0x0301 on the first record for old middleboxes (§5.1) */
		tls_rl_write_plain(out, TLS_CT_HANDSHAKE, second ? 0x0303 : 0x0301, m.base, m.len);
	}
	tls_buf_free(&m);
	if (rc)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "building ClientHello failed");
	if (!second && c->early_on)
		return send_early_data(c, out);
	return 0;
}

int tls_client_start(tls_conn *c, tls_buf *out)
{
	const tls_config *cfg = c->cfg;
	if (cfg->verify_peer && !cfg->ca)
		return tls_fail(c, NULL, TLS_ALERT_INTERNAL_ERROR, "peer verification without a CA store");
	if (tls_make_random(c, c->client_random) != 0)
		return tls_fail(c, NULL, TLS_ALERT_INTERNAL_ERROR, "no randomness");
	if (!c->t_sid_set) {
		c->sid_len = cfg->compat ? 32 : 0;
		if (c->sid_len && RAND_bytes(c->sid, 32) != 1)
			return tls_fail(c, NULL, TLS_ALERT_INTERNAL_ERROR, "no randomness");
	}
	if (cfg->n_share_groups) {
		for (size_t i = 0; i < cfg->n_share_groups; i++)
			c->kex[i].group = cfg->share_groups[i];
		c->n_kex = cfg->n_share_groups;
	} else {
		c->kex[0].group = cfg->groups[0];
		c->n_kex = 1;
	}
	if (setup_psk(c))
		return tls_fail(c, NULL, TLS_ALERT_INTERNAL_ERROR, "out of memory");
	c->state = TLS_ST_CLI_WAIT_SH;
	return send_client_hello(c, out, false);
}

static bool have_share(const tls_conn *c, uint16_t group, size_t *idx)
{
	for (size_t i = 0; i < c->n_kex; i++) {
		if (c->kex[i].group == group) {
			if (idx)
				*idx = i;
			return true;
		}
	}
	return false;
}

static int handle_hrr(tls_conn *c, tls_buf *out, const tls_exts *e, uint16_t cipher,
		      const uint8_t *msg, size_t len)
{
	if (c->hrr)
		return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE, "second HelloRetryRequest");
	c->hrr = true;
	uint16_t group = 0;
	if (tls_exts_has(e, TLS_XI_KEY_SHARE)) {
		tls_reader r = e->body[TLS_XI_KEY_SHARE];
		group = tls_read_u16(&r);
		if (!tls_reader_done(&r))
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed HRR key_share");
		if (!tls_list_has(c->cfg->groups, c->cfg->n_groups, group) ||
		    have_share(c, group, NULL))
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"HelloRetryRequest asks for group 0x%04x", group);
	}
	if (tls_exts_has(e, TLS_XI_COOKIE)) {
		tls_reader r = e->body[TLS_XI_COOKIE];
		tls_reader ck = tls_read_vec16(&r, 1, 0xffff);
		if (!tls_reader_done(&r))
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed cookie");
		c->hrr_cookie = malloc(ck.left);
		if (!c->hrr_cookie)
			return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "out of memory");
		c->hrr_cookie_len = ck.left;
		tls_read_copy(&ck, c->hrr_cookie, c->hrr_cookie_len);
	}
	if (!group && !c->hrr_cookie)
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
				"HelloRetryRequest would not change the ClientHello");
	c->cs = tls_cipher_find(cipher);
	c->hrr_cipher = cipher;
	if (c->early_on) {
		/* §4.1.4: the HRR rejected our 0-RTT; nothing more under that key */
		c->early_on = false;
		c->params.early_data = TLS_EARLY_REJECTED;
		tls_traffic_key_clear(&c->tx);
		c->tx_on = false;
		OPENSSL_cleanse(c->c_early, sizeof(c->c_early));
	}
	/* the PSK stays on offer only if its hash fits the suite (§4.1.4) */
	if (c->psk_on && c->psk_cs->hash_len != c->cs->hash_len)
		c->psk_on = false;
	if (tls_transcript_set_hash(&c->tr, c->cs->md()) || tls_transcript_hrr_rewrite(&c->tr) ||
	    tls_msg_transcript(c, msg, len))
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "transcript failed");
	if (group) {
		free(c->ch_shares);
		c->ch_shares = NULL;
		for (size_t i = 0; i < c->n_kex; i++)
			tls_kex_clear(&c->kex[i]);
		c->kex[0].group = group;
		c->n_kex = 1;
	}
	c->ccs_ok = true;
	return send_client_hello(c, out, true);
}

static int handle_server_hello(tls_conn *c, tls_buf *out, tls_reader *r, const uint8_t *msg,
			       size_t len)
{
	static const uint8_t downgrade[7] = { 'D', 'O', 'W', 'N', 'G', 'R', 'D' };
	const char *why = "";
	uint16_t legacy = tls_read_u16(r);
	const uint8_t *random = tls_read_bytes(r, 32);
	tls_reader sid = tls_read_vec8(r, 0, 32);
	uint16_t cipher = tls_read_u16(r);
	uint8_t comp = tls_read_u8(r);
	tls_reader block = tls_read_vec16(r, 0, 0xffff);
	if (!tls_reader_done(r))
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed ServerHello");
	bool hrr = memcmp(random, tls_hrr_random, 32) == 0;
	tls_exts e;
	int alert = tls_exts_parse(&block, hrr ? TLS_CTX_HRR : TLS_CTX_SH, c->ch_offered, &e, &why);
	if (alert)
		return tls_fail(c, out, alert, "%s: %s", hrr ? "HelloRetryRequest" : "ServerHello", why);
	if (!tls_exts_has(&e, TLS_XI_SUPPORTED_VERSIONS))
		return tls_fail(c, out, TLS_ALERT_PROTOCOL_VERSION, "server did not choose TLS 1.3");
	tls_reader sv = e.body[TLS_XI_SUPPORTED_VERSIONS];
	uint16_t version = tls_read_u16(&sv);
	if (!tls_reader_done(&sv))
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed supported_versions");
	if (version != 0x0304 || legacy != 0x0303)
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
				"server chose version 0x%04x/0x%04x", version, legacy);
	if (memcmp(random + 24, downgrade, 7) == 0 && (random[31] == 0 || random[31] == 1))
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER, "downgrade sentinel in ServerHello");
	if (sid.left != c->sid_len || memcmp(sid.p, c->sid, c->sid_len) != 0)
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER, "session id not echoed");
	if (!tls_list_has(c->cfg->ciphers, c->cfg->n_ciphers, cipher) || !tls_cipher_find(cipher))
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
				"server chose cipher 0x%04x we did not offer", cipher);
	if (comp != 0)
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER, "server chose compression");
	if (hrr)
		return handle_hrr(c, out, &e, cipher, msg, len);

	if (c->hrr && cipher != c->hrr_cipher)
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER, "cipher changed after HRR");
	c->cs = tls_cipher_find(cipher);
	if (tls_exts_has(&e, TLS_XI_PRE_SHARED_KEY)) {
		tls_reader pr = e.body[TLS_XI_PRE_SHARED_KEY];
		uint16_t sel = tls_read_u16(&pr);
		if (!tls_reader_done(&pr))
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed pre_shared_key");
		/* one identity offered; its hash must be the suite's (§4.2.11) */
		if (!c->psk_on || sel != 0)
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"server chose PSK identity %u we did not offer", sel);
		if (c->psk_cs->hash_len != c->cs->hash_len)
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"server chose a suite with another hash than the PSK's");
		c->psk_chosen = true;
	}
	uint8_t shared[TLS_MAX_HASH + 80], hash[TLS_MAX_HASH];
	size_t shared_len = 0;
	uint16_t group = 0;
	if (tls_exts_has(&e, TLS_XI_KEY_SHARE)) {
		tls_reader ks = e.body[TLS_XI_KEY_SHARE];
		group = tls_read_u16(&ks);
		tls_reader key = tls_read_vec16(&ks, 1, 0xffff);
		if (!tls_reader_done(&ks))
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed key_share");
		size_t idx;
		if (!have_share(c, group, &idx))
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"server share for group 0x%04x we did not send", group);
		if (c->psk_chosen && !(c->cfg->psk_modes & TLS_PSK_MODE_DHE_KE))
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"server chose psk_dhe_ke, which we did not offer");
		shared_len = sizeof(shared);
		if (tls_kex_derive(&c->kex[idx], key.p, key.left, shared, &shared_len) != 0)
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"invalid key share from server");
	} else if (!c->psk_chosen) {
		return tls_fail(c, out, TLS_ALERT_MISSING_EXTENSION, "ServerHello without key_share");
	} else if (!(c->cfg->psk_modes & TLS_PSK_MODE_KE)) {
		return tls_fail(c, out, TLS_ALERT_MISSING_EXTENSION,
				"server chose psk_ke, which we did not offer");
	}
	for (size_t i = 0; i < c->n_kex; i++)
		tls_kex_clear(&c->kex[i]);
	c->n_kex = 0;
	free(c->ch_shares);
	c->ch_shares = NULL;
	if (c->early_on && !c->psk_chosen) {
		/* PSK declined: so is our 0-RTT */
		c->early_on = false;
		c->params.early_data = TLS_EARLY_REJECTED;
	}
	int rc = tls_transcript_set_hash(&c->tr, c->cs->md()) || tls_msg_transcript(c, msg, len) ||
		 tls_keysched_init(&c->ks, c->cs->md(), c->psk_chosen ? c->psk : NULL,
				   c->psk_chosen ? c->psk_len : 0) ||
		 tls_keysched_handshake(&c->ks, shared_len ? shared : NULL, shared_len) ||
		 tls_transcript_hash(&c->tr, hash) ||
		 tls_keysched_derive(&c->ks, "c hs traffic", hash, c->c_hs) ||
		 tls_keysched_derive(&c->ks, "s hs traffic", hash, c->s_hs) ||
		 tls_set_secret(c, TLS_DIR_RX, TLS_EPOCH_HANDSHAKE, c->s_hs);
	/* with 0-RTT on offer our TX key stays the early one until EE says */
	rc = rc || (!c->early_on && tls_set_secret(c, TLS_DIR_TX, TLS_EPOCH_HANDSHAKE, c->c_hs));
	OPENSSL_cleanse(shared, sizeof(shared));
	if (rc)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "handshake key schedule failed");
	c->params.group = group;
	c->key_change = true;
	c->ccs_ok = true;
	c->state = TLS_ST_CLI_WAIT_EE;
	return 0;
}

static bool alpn_offered(const tls_conn *c, const uint8_t *p, size_t n)
{
	size_t len;
	const uint8_t *w = alpn_offer(c, &len);
	tls_reader r = tls_reader_init(w, len);
	while (r.left) {
		tls_reader one = tls_read_vec8(&r, 1, 255);
		if (r.err)
			return false;
		if (one.left == n && memcmp(one.p, p, n) == 0)
			return true;
	}
	return false;
}

static int handle_ee(tls_conn *c, tls_buf *out, tls_reader *r, const uint8_t *msg, size_t len)
{
	const char *why = "";
	tls_reader block = tls_read_vec16(r, 0, 0xffff);
	if (!tls_reader_done(r))
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed EncryptedExtensions");
	tls_exts e;
	int alert = tls_exts_parse(&block, TLS_CTX_EE, c->ch_offered, &e, &why);
	if (alert)
		return tls_fail(c, out, alert, "EncryptedExtensions: %s", why);
	if (tls_exts_has(&e, TLS_XI_ALPN)) {
		tls_reader a = e.body[TLS_XI_ALPN];
		tls_reader list = tls_read_vec16(&a, 2, 0xffff);
		tls_reader proto = tls_read_vec8(&list, 1, 255);
		if (!tls_reader_done(&a) || !tls_reader_done(&list))
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed ALPN");
		if (!alpn_offered(c, proto.p, proto.left))
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"server chose an application protocol we did not offer");
		c->alpn = strndup((const char *)proto.p, proto.left);
		if (!c->alpn)
			return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "out of memory");
	}
	if (tls_exts_has(&e, TLS_XI_SERVER_NAME) && e.body[TLS_XI_SERVER_NAME].left)
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "non-empty server_name in EE");
	if (tls_exts_has(&e, TLS_XI_EARLY_DATA)) {
		if (e.body[TLS_XI_EARLY_DATA].left)
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed early_data");
		/* §4.2.10: accepted 0-RTT means the session's suite and ALPN */
		size_t alen = strlen(c->sess->alpn);
		if (!c->early_on || c->cs->id != c->sess->cipher ||
		    (c->alpn ? strlen(c->alpn) != alen || memcmp(c->alpn, c->sess->alpn, alen)
			     : alen != 0))
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"server accepted 0-RTT with other parameters");
		c->params.early_data = TLS_EARLY_ACCEPTED;
	} else if (c->early_on) {
		c->early_on = false;
		c->params.early_data = TLS_EARLY_REJECTED;
		if (tls_set_secret(c, TLS_DIR_TX, TLS_EPOCH_HANDSHAKE, c->c_hs))
			return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "key schedule failed");
	}
	if (tls_exts_has(&e, TLS_XI_RECORD_SIZE_LIMIT)) {
		tls_reader l = e.body[TLS_XI_RECORD_SIZE_LIMIT];
		uint16_t v = tls_read_u16(&l);
		if (!tls_reader_done(&l))
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed record_size_limit");
		if (v < 64)
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER, "record_size_limit %u < 64", v);
		c->params.peer_record_limit = v;
		c->peer_limit = v - 1 < TLS_MAX_PLAINTEXT ? (uint16_t)(v - 1) : TLS_MAX_PLAINTEXT;
		c->rx_limit = c->cfg->record_size_limit;
	}
	if (tls_exts_has(&e, TLS_XI_SUPPORTED_GROUPS)) {
		/* the server's preference, for next time: checked for form only */
		tls_reader g = e.body[TLS_XI_SUPPORTED_GROUPS];
		tls_reader l = tls_read_vec16(&g, 2, 0xfffe);
		if (!tls_reader_done(&g) || l.left % 2)
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed supported_groups");
	}
	if (tls_msg_transcript(c, msg, len) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "transcript failed");
	/* with a PSK the server sends no Certificate/CertificateVerify */
	c->state = c->psk_chosen ? TLS_ST_CLI_WAIT_FIN : TLS_ST_CLI_WAIT_CERT_CR;
	return 0;
}

static int handle_cr(tls_conn *c, tls_buf *out, tls_reader *r, const uint8_t *msg, size_t len)
{
	const char *why = "";
	tls_reader ctx = tls_read_vec8(r, 0, 255);
	tls_reader block = tls_read_vec16(r, 2, 0xffff);
	if (!tls_reader_done(r))
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed CertificateRequest");
	if (ctx.left)
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
				"CertificateRequest context must be empty in the handshake");
	tls_exts e;
	int alert = tls_exts_parse(&block, TLS_CTX_CR, 0, &e, &why);
	if (alert)
		return tls_fail(c, out, alert, "CertificateRequest: %s", why);
	if (!tls_exts_has(&e, TLS_XI_SIGNATURE_ALGORITHMS))
		return tls_fail(c, out, TLS_ALERT_MISSING_EXTENSION,
				"CertificateRequest without signature_algorithms");
	tls_reader sa = e.body[TLS_XI_SIGNATURE_ALGORITHMS];
	int n = tls_read_u16_list(&sa, c->cr_sigalgs, sizeof(c->cr_sigalgs) / sizeof(c->cr_sigalgs[0]),
				  NULL);
	if (n < 0 || !tls_reader_done(&sa))
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed signature_algorithms");
	c->n_cr_sigalgs = (size_t)n;
	c->cr_ocsp = tls_exts_has(&e, TLS_XI_STATUS_REQUEST);
	c->cr_sct = tls_exts_has(&e, TLS_XI_SCT);
	if (tls_msg_transcript(c, msg, len) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "transcript failed");
	c->cr_received = true;
	c->state = TLS_ST_CLI_WAIT_CERT;
	return 0;
}

static int handle_certificate(tls_conn *c, tls_buf *out, tls_reader *r, const uint8_t *msg,
			      size_t len)
{
	const char *why = "";
	size_t ctx_len = 0;
	uint32_t offered = c->ch_offered & (TLS_XBIT(TLS_XI_STATUS_REQUEST) | TLS_XBIT(TLS_XI_SCT));
	int alert = tls_msg_read_certificate(r, true, offered, &c->peer_chain, &ctx_len, &why);
	if (alert)
		return tls_fail(c, out, alert, "server Certificate: %s", why);
	if (ctx_len)
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
				"server Certificate with a request context");
	if (c->peer_chain.n == 0)
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "server sent no certificate");
	if (c->cfg->verify_peer) {
		char err[96] = "";
		alert = tls_chain_verify(&c->peer_chain, c->cfg->ca, true, c->server_name, err,
					 sizeof(err));
		if (alert)
			return tls_fail(c, out, alert, "server certificate: %s", err);
	}
	if (tls_msg_transcript(c, msg, len) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "transcript failed");
	c->state = TLS_ST_CLI_WAIT_CV;
	return 0;
}

/* Our second flight: [Certificate, CertificateVerify], Finished. */
static int send_client_flight(tls_conn *c, tls_buf *out)
{
	tls_buf m;
	tls_buf_init(&m, 0);
	int rc = 0;
	if (c->cr_received) {
		const struct tls_cert *cert = NULL;
		uint16_t scheme = 0;
		for (size_t i = 0; i < c->cfg->n_certs && !cert; i++) {
			scheme = tls_pick_scheme(c->cfg, &c->cfg->certs[i], c->cr_sigalgs,
						 c->n_cr_sigalgs);
			if (scheme)
				cert = &c->cfg->certs[i];
		}
		size_t at = m.len;
		tls_msg_write_certificate(&m, NULL, 0, cert, c->cr_ocsp, c->cr_sct);
		rc = m.err || tls_msg_transcript(c, m.base + at, m.len - at);
		if (cert) {
			at = m.len;
			rc = rc || tls_msg_write_cv(c, &m, cert, scheme, false) ||
			     tls_msg_transcript(c, m.base + at, m.len - at);
		}
	}
	size_t at = m.len;
	rc = rc || tls_msg_write_finished(c, &m, c->c_hs) ||
	     tls_msg_transcript(c, m.base + at, m.len - at);
	if (!rc && c->cfg->compat)
		tls_rl_send_ccs(c, out);
	rc = rc || tls_rl_write_sealed(c, out, TLS_CT_HANDSHAKE, m.base, m.len);
	tls_buf_free(&m);
	return rc ? -1 : 0;
}

static int handle_finished(tls_conn *c, tls_buf *out, tls_reader *r, const uint8_t *msg,
			   size_t len)
{
	uint8_t hash[TLS_MAX_HASH];
	if (tls_transcript_hash(&c->tr, hash) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "transcript failed");
	int alert = tls_msg_check_finished(c, r, c->s_hs, hash);
	if (alert)
		return tls_fail(c, out, alert, alert == TLS_ALERT_DECRYPT_ERROR ? "bad Finished"
										 : "malformed Finished");
	uint8_t c_ap[TLS_MAX_HASH], s_ap[TLS_MAX_HASH];
	int rc = tls_msg_transcript(c, msg, len) || tls_transcript_hash(&c->tr, c->fin_hash) ||
		 tls_keysched_master(&c->ks) ||
		 tls_keysched_derive(&c->ks, "c ap traffic", c->fin_hash, c_ap) ||
		 tls_keysched_derive(&c->ks, "s ap traffic", c->fin_hash, s_ap);
	if (!rc && c->early_on) {
		/* §4.5: EndOfEarlyData under the early key, then handshake keys */
		static const uint8_t eoed[4] = { TLS_HS_END_OF_EARLY_DATA, 0, 0, 0 };
		rc = tls_msg_transcript(c, eoed, sizeof(eoed)) ||
		     tls_rl_write_sealed(c, out, TLS_CT_HANDSHAKE, eoed, sizeof(eoed)) ||
		     tls_set_secret(c, TLS_DIR_TX, TLS_EPOCH_HANDSHAKE, c->c_hs);
	}
	rc = rc || send_client_flight(c, out) || tls_transcript_hash(&c->tr, hash) ||
	     tls_derive_masters(c, hash) ||
	     tls_set_secret(c, TLS_DIR_TX, TLS_EPOCH_APPLICATION, c_ap) ||
	     tls_set_secret(c, TLS_DIR_RX, TLS_EPOCH_APPLICATION, s_ap);
	c->params.resumed = c->psk_chosen;
	c->params.psk_external = c->psk_chosen && c->psk_ext;
	OPENSSL_cleanse(c_ap, sizeof(c_ap));
	OPENSSL_cleanse(s_ap, sizeof(s_ap));
	if (rc)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "client flight failed");
	c->key_change = true;
	c->ccs_ok = false;
	tls_handshake_complete(c);
	if (!(c->ch_offered & TLS_XBIT(TLS_XI_SERVER_NAME)))
		c->params.server_name = NULL; /* an IP literal is not sent as SNI */
	return 0;
}

int tls_client_handle(tls_conn *c, tls_buf *out, uint8_t type, tls_reader *body,
		      const uint8_t *msg, size_t len)
{
	switch (c->state) {
	case TLS_ST_CLI_WAIT_SH:
		if (type == TLS_HS_SERVER_HELLO)
			return handle_server_hello(c, out, body, msg, len);
		break;
	case TLS_ST_CLI_WAIT_EE:
		if (type == TLS_HS_ENCRYPTED_EXTENSIONS)
			return handle_ee(c, out, body, msg, len);
		break;
	case TLS_ST_CLI_WAIT_CERT_CR:
		if (type == TLS_HS_CERTIFICATE_REQUEST)
			return handle_cr(c, out, body, msg, len);
		if (type == TLS_HS_CERTIFICATE)
			return handle_certificate(c, out, body, msg, len);
		break;
	case TLS_ST_CLI_WAIT_CERT:
		if (type == TLS_HS_CERTIFICATE)
			return handle_certificate(c, out, body, msg, len);
		break;
	case TLS_ST_CLI_WAIT_CV:
		if (type == TLS_HS_CERTIFICATE_VERIFY) {
			const char *why = "";
			int alert = tls_msg_check_cv(c, body, c->cfg->sigalgs, c->cfg->n_sigalgs, true,
						     &c->params.sig_scheme, &why);
			if (alert)
				return tls_fail(c, out, alert, "server %s", why);
			if (tls_msg_transcript(c, msg, len) != 0)
				return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "transcript failed");
			c->state = TLS_ST_CLI_WAIT_FIN;
			return 0;
		}
		break;
	case TLS_ST_CLI_WAIT_FIN:
		if (type == TLS_HS_FINISHED)
			return handle_finished(c, out, body, msg, len);
		break;
	default:
		break;
	}
	return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE, "unexpected handshake message %u",
			type);
}
