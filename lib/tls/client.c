/* The client state machine (RFC 8446 §2, §4): HelloRetryRequest,
 * ServerHello checks, the server's protected flight, and our Finished (the
 * ClientHello is built in client_hello.c). */
#include "tls/client.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

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
	return tls_cli_send_client_hello(c, out, true);
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
	/* Appendix D.5: SSL 3.0 or older in a hello aborts with protocol_version */
	if (legacy <= 0x0300)
		return tls_fail(c, out, TLS_ALERT_PROTOCOL_VERSION, "server legacy_version 0x%04x",
				legacy);
	if (!tls_exts_has(&e, TLS_XI_SUPPORTED_VERSIONS))
		return tls_fail(c, out, TLS_ALERT_PROTOCOL_VERSION, "server did not choose TLS 1.3");
	tls_reader sv = e.body[TLS_XI_SUPPORTED_VERSIONS];
	uint16_t version = tls_read_u16(&sv);
	if (!tls_reader_done(&sv))
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed supported_versions");
	if (version != 0x0304 || legacy != 0x0303)
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
				"server chose version 0x%04x/0x%04x", version, legacy);
	/* §4.1.3: the last 8 bytes of the random are DOWNGRD then 0 or 1 */
	tls_reader tail = tls_reader_init(random, 32);
	tls_read_bytes(&tail, 24);
	const uint8_t *sentinel = tls_read_bytes(&tail, 7);
	uint8_t below = tls_read_u8(&tail);
	if (memcmp(sentinel, downgrade, 7) == 0 && below <= 1)
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
	uint8_t shared[TLS_MAX_KEX_SECRET], hash[TLS_MAX_HASH];
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
		if (!tls_cli_alpn_offered(c, proto.p, proto.left))
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
		if (!c->early_on || !c->sess)
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"server accepted 0-RTT we did not send");
		if (c->cs->id != c->sess->cipher ||
		    !tls_alpn_same(c->alpn, (const uint8_t *)c->sess->alpn, strlen(c->sess->alpn)))
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
		alert = tls_ext_record_size_limit(e.body[TLS_XI_RECORD_SIZE_LIMIT],
						  &c->params.peer_record_limit, &c->peer_limit, &why);
		if (alert)
			return tls_fail(c, out, alert, "%s", why);
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
	if (tls_read_sigalgs(&sa, c->cfg, &c->cr_sigalgs) != 0 || !tls_reader_done(&sa))
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed signature_algorithms");
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
	tls_staples st;
	int alert = tls_msg_read_certificate(r, offered, &c->peer_chain, &ctx_len, &st, &why);
	if (alert)
		return tls_fail(c, out, alert, "server Certificate: %s", why);
	/* copied: params outlive the message (the caller checks them) */
	if ((st.ocsp && tls_dup_bytes(&c->peer_ocsp, &c->peer_ocsp_len, st.ocsp, st.ocsp_len)) ||
	    (st.sct && tls_dup_bytes(&c->peer_sct, &c->peer_sct_len, st.sct, st.sct_len)))
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "out of memory");
	c->params.ocsp = c->peer_ocsp;
	c->params.ocsp_len = c->peer_ocsp_len;
	c->params.sct = c->peer_sct;
	c->params.sct_len = c->peer_sct_len;
	if (ctx_len)
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
				"server Certificate with a request context");
	if (c->peer_chain.n == 0)
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "server sent no certificate");
	if (c->cfg->verify_peer) {
		char err[96] = "";
		X509_STORE *sys = c->cfg->ca ? NULL : tls_store_system();
		alert = tls_chain_verify(&c->peer_chain, c->cfg->ca ? c->cfg->ca : sys, true,
					 c->cfg->verify_name ? c->server_name : NULL, err, sizeof(err));
		X509_STORE_free(sys);
		if (alert)
			return tls_fail(c, out, alert, "server certificate: %s", err);
	}
	if (tls_msg_transcript(c, msg, len) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "transcript failed");
	c->state = TLS_ST_CLI_WAIT_CV;
	return 0;
}

/* Seals part of our second flight, after the compat CCS. 0 or -1. */
static int send_sealed(tls_conn *c, tls_buf *out, const tls_buf *m)
{
	if (c->cfg->compat)
		tls_rl_send_ccs(c, out);
	return tls_rl_write_sealed(c, out, TLS_CT_HANDSHAKE, m->base, m->len);
}

/* Our second flight: [Certificate, CertificateVerify], Finished. When the
 * signer answers later, the Certificate goes out now and the rest in
 * tls_client_finish_flight once the signature came (signing.c). */
static int send_client_flight(tls_conn *c, tls_buf *out)
{
	tls_buf m;
	tls_buf_init(&m, 0);
	int rc = 0;
	if (c->cr_received) {
		const struct tls_cert *cert = NULL;
		uint16_t scheme = 0;
		for (size_t i = 0; i < c->cfg->n_certs && !cert; i++) {
			scheme = tls_pick_scheme(c->cfg, &c->cfg->certs[i], c->cr_sigalgs);
			if (scheme)
				cert = &c->cfg->certs[i];
		}
		size_t at = m.len;
		tls_msg_write_certificate(&m, NULL, 0, cert, c->cr_ocsp, c->cr_sct);
		rc = m.err || tls_msg_transcript(c, m.base + at, m.len - at);
		if (cert && !rc) {
			at = m.len;
			rc = tls_msg_write_cv(c, &m, cert, scheme, false);
			if (rc == TLS_SIGN_PENDING) {
				rc = send_sealed(c, out, &m);
				tls_buf_free(&m);
				if (rc)
					return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR,
							"client flight failed");
				c->state = TLS_ST_CLI_SIGNING;
				return 0;
			}
			rc = rc || tls_msg_transcript(c, m.base + at, m.len - at);
		}
	}
	if (rc) {
		tls_buf_free(&m);
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "client flight failed");
	}
	return tls_client_finish_flight(c, out, &m);
}

int tls_client_finish_flight(tls_conn *c, tls_buf *out, tls_buf *m)
{
	uint8_t hash[TLS_MAX_HASH], c_ap[TLS_MAX_HASH], s_ap[TLS_MAX_HASH];
	size_t at = m->len;
	int rc = tls_msg_write_finished(c, m, c->c_hs) ||
		 tls_msg_transcript(c, m->base + at, m->len - at) || send_sealed(c, out, m);
	tls_buf_free(m);
	rc = rc || tls_keysched_derive(&c->ks, "c ap traffic", c->fin_hash, c_ap) ||
	     tls_keysched_derive(&c->ks, "s ap traffic", c->fin_hash, s_ap) ||
	     tls_transcript_hash(&c->tr, hash) || tls_derive_masters(c, hash) ||
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
	/* the application secrets come from fin_hash after our flight */
	int rc = tls_msg_transcript(c, msg, len) || tls_transcript_hash(&c->tr, c->fin_hash) ||
		 tls_keysched_master(&c->ks);
	if (!rc && c->early_on) {
		/* §4.5: EndOfEarlyData under the early key, then handshake keys */
		static const uint8_t eoed[4] = { TLS_HS_END_OF_EARLY_DATA, 0, 0, 0 };
		rc = tls_msg_transcript(c, eoed, sizeof(eoed)) ||
		     tls_rl_write_sealed(c, out, TLS_CT_HANDSHAKE, eoed, sizeof(eoed)) ||
		     tls_set_secret(c, TLS_DIR_TX, TLS_EPOCH_HANDSHAKE, c->c_hs);
	}
	if (rc)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "client flight failed");
	c->key_change = true; /* RX moves on after this message, now or after the signature */
	return send_client_flight(c, out);
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
