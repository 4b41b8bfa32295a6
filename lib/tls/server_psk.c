/* The server's PSK side (RFC 8446 §4.2.11, §4.2.10, §8): choosing an
 * identity (external PSK or ticket) and checking its binder, and deciding
 * whether 0-RTT is accepted or skipped. */
#include "tls/server.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* A suite for a PSK with cs's hash: the PSK's own suite when we both have
 * it, else our first with the same hash the client offered. */
static const tls_cipher *psk_suite(const tls_conn *c, const struct ch_info *ch,
				   const tls_cipher *want)
{
	if (tls_list_has(c->cfg->ciphers, c->cfg->n_ciphers, want->id) &&
	    tls_u16_reader_has(ch->ciphers, want->id))
		return want;
	for (size_t i = 0; i < c->cfg->n_ciphers; i++) {
		const tls_cipher *cs = tls_cipher_find(c->cfg->ciphers[i]);
		if (cs && cs->hash_len == want->hash_len && tls_u16_reader_has(ch->ciphers, cs->id))
			return cs;
	}
	return NULL;
}

/* Test hook (tls_conn_test_set_ticket): this identity stands for a ticket
 * another implementation issued, as if the ring had opened it. Expiry is
 * checked like tls_ticket_open does; every later check is the normal one. */
static bool test_ticket(const tls_conn *c, tls_reader id, tls_ticket *out)
{
	const tls_ticket *t = c->t ? c->t->ticket : NULL;
	if (!t || id.left != c->t->ticket_id_len || memcmp(id.p, c->t->ticket_id, id.left) != 0)
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
	pk->tk_written = true;
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

/* §4.2.11: the first identity we can use wins; its binder must verify.
 * Only the first TLS_PSK_MAX_TRIED are tried: each may cost a psk_find
 * call and a ticket decryption, and a ClientHello can carry hundreds.
 * tls_ch_parse_exts has checked the whole list's shape and binder count. */
int tls_srv_choose_psk(tls_conn *c, tls_buf *out, const struct ch_info *ch, const uint8_t *msg,
		       size_t len, bool second, const tls_cipher **cs_io, struct psk_pick *pk)
{
	unsigned can = c->psk_peer_modes & c->cfg->psk_modes;
	c->psk_on = false;
	if (!tls_exts_has(&ch->ext, TLS_XI_PRE_SHARED_KEY) || !can || len < ch->binders_len)
		return 0;
	c->psk_dhe = (can & TLS_PSK_MODE_DHE_KE) != 0;
	tls_reader ids = ch->psk_ids, binders = ch->psk_binders;
	for (size_t idx = 0; ids.left && idx < TLS_PSK_MAX_TRIED; idx++) {
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
	if (!tls_alpn_same(c->alpn, pk->tk.alpn, pk->tk.alpn_len))
		return false;
	/* §8.3: recording is only enough when it covers every age the
	 * freshness check lets through (antireplay.h). */
	uint32_t recorded = cfg->ar_ops->window_ms ? cfg->ar_ops->window_ms(cfg->ar_ctx) : 0;
	if (recorded < 2 * (uint64_t)cfg->fresh_window)
		return false;
	uint64_t now = tls_config_now_ms(cfg);
	if (!tls_ticket_fresh(&pk->tk, pk->obfuscated_age, now, cfg->fresh_window))
		return false;
	if (!cfg->ar_ops->check_and_record(cfg->ar_ctx, pk->binder, pk->binder_len, now))
		return false;
	/* §4.2.10: the client was promised the ticket's limit, not today's */
	c->early_max = pk->tk.max_early_data < cfg->max_early_data ? pk->tk.max_early_data
								   : cfg->max_early_data;
	return true;
}

/* The resumed connection reports who authenticated originally. */
void tls_srv_ticket_identity(tls_conn *c, const tls_ticket *t)
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

size_t tls_srv_early_skip_limit(const tls_conn *c)
{
	/* ciphertext: the plaintext limit plus generous record overhead */
	size_t lim = (size_t)c->cfg->max_early_data + c->cfg->max_early_data / 64 + 4096;
	return lim > EARLY_DATA_SKIP_MAX ? lim : EARLY_DATA_SKIP_MAX;
}

/* Accepts 0-RTT (keys for it) or arranges to skip it. */
int tls_srv_early_decision(tls_conn *c, tls_buf *out, const struct ch_info *ch, bool second,
			   const struct psk_pick *pk)
{
	c->early_on = false;
	if (!ch->early || second)
		return 0;
	if (!accept_early(c, ch, pk)) {
		c->skip_early = tls_srv_early_skip_limit(c);
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
