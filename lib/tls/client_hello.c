/* The client's first flight (RFC 8446 §4.1.2): the ClientHello and its
 * extensions, the PSK offer with its binder (§4.2.11), and 0-RTT behind it
 * (§4.2.10); tls_client_start begins the handshake. */
#include "tls/client.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

static const uint8_t *alpn_offer(const tls_conn *c, size_t *len)
{
	if (c->alpn_offer) {
		*len = c->alpn_offer_len;
		return c->alpn_offer;
	}
	*len = c->cfg->alpn_len;
	return c->cfg->alpn;
}

bool tls_cli_alpn_offered(const tls_conn *c, const uint8_t *p, size_t n)
{
	size_t len;
	const uint8_t *w = alpn_offer(c, &len);
	return tls_alpn_list_has(w, len, p, n);
}

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
			uint8_t pubmem[TLS_MAX_KEX_SHARE];
			tls_buf pub;
			tls_buf_init_fixed(&pub, pubmem, sizeof(pubmem));
			if (tls_make_share(c, &c->kex[i], c->kex[i].group, &pub) != 0)
				return -1;
		}
		return finish_client_hello(c, m);
	}
	c->ch_offered = 0;
	if (c->server_name && !tls_is_ip_literal(c->server_name)) {
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
			uint8_t pubmem[TLS_MAX_KEX_SHARE];
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
		ext_begin(c, m, TLS_EXT_SCT, TLS_XI_SCT); /* empty: RFC 6962 §3.3.1 */
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
	/* §4.6.1: resume only under the SNI the session was made with */
	const char *sni = c->server_name && !tls_is_ip_literal(c->server_name) ? c->server_name : "";
	if (c->sess && strcasecmp(c->sess->server_name, sni) != 0) {
		tls_session_free(c->sess);
		c->sess = NULL;
	}
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
	    (!alen || tls_cli_alpn_offered(c, (const uint8_t *)s->alpn, alen)))
		c->early_on = true;
	return 0;
}

int tls_cli_send_client_hello(tls_conn *c, tls_buf *out, bool second)
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
	/* Chain verification alone accepts any name the CA ever signed for. */
	if (cfg->verify_peer && cfg->verify_name && (!c->server_name || !*c->server_name))
		return tls_fail(c, NULL, TLS_ALERT_INTERNAL_ERROR,
				"no server name to verify the certificate against "
				"(tls_conn_set_server_name, or tls_config_set_verify_name(cfg, false))");
	/* random and legacy_session_id from one call (tls_make_random) */
	uint8_t rnd[64];
	if (tls_make_random(c, rnd, sizeof(rnd)) != 0)
		return tls_fail(c, NULL, TLS_ALERT_INTERNAL_ERROR, "no randomness");
	memcpy(c->client_random, rnd, 32);
	if (!(c->t && c->t->sid_set)) {
		c->sid_len = cfg->compat ? 32 : 0;
		memcpy(c->sid, rnd + 32, c->sid_len);
	}
	if (cfg->n_share_groups) {
		for (size_t i = 0; i < cfg->n_share_groups; i++)
			c->kex[i].group = cfg->share_groups[i];
		c->n_kex = cfg->n_share_groups;
	} else {
		c->kex[0].group = cfg->groups[0];
		c->n_kex = 1;
		/* a hybrid first group: also a classical share, so that a server
		 * without ML-KEM needs no HelloRetryRequest */
		for (size_t i = 1; tls_group_is_hybrid(cfg->groups[0]) && i < cfg->n_groups; i++)
			if (!tls_group_is_hybrid(cfg->groups[i])) {
				c->kex[c->n_kex++].group = cfg->groups[i];
				break;
			}
	}
	if (setup_psk(c))
		return tls_fail(c, NULL, TLS_ALERT_INTERNAL_ERROR, "out of memory");
	c->state = TLS_ST_CLI_WAIT_SH;
	return tls_cli_send_client_hello(c, out, false);
}
