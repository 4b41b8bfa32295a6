/* The server state machine (RFC 8446 §2, §4): the ClientHello decisions
 * (parsing in server_hello.c, PSK and 0-RTT in server_psk.c),
 * HelloRetryRequest with a cookie, the server flight in one protected record
 * when it fits, optional client authentication, and the client Finished. */
#include "tls/server.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

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

/* ServerHello and HelloRetryRequest share everything up to the extensions
 * (§4.1.3); an HRR is a ServerHello with the special random. */
static void server_hello_head(const tls_conn *c, tls_buf *m, const uint8_t random[32])
{
	tls_msg_begin(m, TLS_HS_SERVER_HELLO);
	tls_write_u16(m, 0x0303);              /* legacy_version */
	tls_write_bytes(m, random, 32);
	tls_write_u8(m, (uint8_t)c->sid_len);  /* legacy_session_id_echo */
	tls_write_bytes(m, c->sid, c->sid_len);
	tls_write_u16(m, c->cs->id);
	tls_write_u8(m, 0);                    /* legacy_compression_method */
}

static int send_hrr(tls_conn *c, tls_buf *out, const struct ch_info *ch, const uint8_t *msg,
		    size_t len)
{
	if (tls_ch_digest(ch, c->ch1_digest) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "digest failed");
	const struct tls_test_hooks *t = c->t;
	if (!(t && t->cookie) && RAND_bytes(c->cookie, sizeof(c->cookie)) != 1)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "no randomness");
	const uint8_t *cookie = t && t->cookie ? t->cookie : c->cookie;
	size_t cookie_len = t && t->cookie ? t->cookie_len : sizeof(c->cookie);
	if (tls_msg_transcript(c, msg, len) || tls_transcript_hrr_rewrite(&c->tr))
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "transcript failed");

	tls_buf m;
	tls_buf_init(&m, 0);
	server_hello_head(c, &m, tls_hrr_random);
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

/* ServerHello, then EE, CR, Certificate, CertificateVerify, Finished; when
 * the signer answers later, the flight up to the Certificate now and the
 * rest in tls_server_finish_flight once the signature came. */
static int send_server_flight(tls_conn *c, tls_buf *out, const struct client_share *share,
			      uint16_t psk_index)
{
	uint8_t pubmem[TLS_MAX_KEX_SHARE], shared[TLS_MAX_KEX_SECRET], hash[TLS_MAX_HASH];
	size_t shared_len = 0;
	tls_buf pub;
	tls_buf_init_fixed(&pub, pubmem, sizeof(pubmem));
	if (share && tls_group_is_hybrid(c->group)) {
		/* KEM: the server's share depends on the client's */
		int bad = tls_kex_encaps(c->group, share->key, share->len, &pub, shared, &shared_len);
		if (bad)
			return tls_fail(c, out,
					bad == -1 ? TLS_ALERT_ILLEGAL_PARAMETER : TLS_ALERT_INTERNAL_ERROR,
					bad == -1 ? "invalid key share from client"
						  : "key encapsulation failed");
	} else if (share) {
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
	int rc = tls_make_random(c, random, sizeof(random));

	/* ServerHello */
	server_hello_head(c, &m, random);
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
	c->params.group = share ? c->group : 0;
	if (!c->psk_on) {
		at = m.len;
		tls_msg_write_certificate(&m, NULL, 0, c->cert, c->want_ocsp, c->want_sct);
		rc = rc || m.err || tls_msg_transcript(c, m.base + at, m.len - at);
		at = m.len;
		int sig = rc ? -1 : tls_msg_write_cv(c, &m, c->cert, c->sig_scheme, true);
		if (sig == TLS_SIGN_PENDING) {
			/* the signer answers later: send what we have (signing.c) */
			rc = tls_rl_write_sealed(c, out, TLS_CT_HANDSHAKE, m.base, m.len);
			tls_buf_free(&m);
			if (rc)
				return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "server flight failed");
			c->state = TLS_ST_SRV_SIGNING;
			return 0;
		}
		rc = rc || sig || tls_msg_transcript(c, m.base + at, m.len - at);
	}
	if (rc) {
		tls_buf_free(&m);
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "signing failed");
	}
	return tls_server_finish_flight(c, out, &m);
}

int tls_server_finish_flight(tls_conn *c, tls_buf *out, tls_buf *m)
{
	size_t at = m->len;
	int rc = tls_msg_write_finished(c, m, c->s_hs) ||
		 tls_msg_transcript(c, m->base + at, m->len - at) ||
		 tls_rl_write_sealed(c, out, TLS_CT_HANDSHAKE, m->base, m->len);
	tls_buf_free(m);

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
	/* what a 0-RTT early hand-back reports before the client's Finished */
	c->params.cipher = c->cs;
	c->params.server_name = c->server_name;
	c->params.alpn = c->alpn;
	c->params.hrr = c->hrr;
	c->params.resumed = c->psk_on;
	c->params.psk_external = c->psk_on && c->psk_ext;
	if (c->early_on)
		c->state = TLS_ST_SRV_WAIT_EOED;
	else
		c->state = c->cr_sent ? TLS_ST_SRV_WAIT_CERT : TLS_ST_SRV_WAIT_FIN;
	return 0;
}

/* The rest of the ClientHello: transcript, group (or HRR), 0-RTT, flight. */
static int handshake_with(tls_conn *c, tls_buf *out, const struct ch_info *ch, bool second,
			  const tls_cipher *cs, const struct psk_pick *pk, const uint8_t *msg,
			  size_t len)
{
	struct client_share shares[TLS_MAX_PREFS];
	tls_reader groups;
	size_t n_shares = 0, n_total = 0;
	int rc;

	if (!second) {
		c->cs = cs;
		memcpy(c->client_random, ch->random, 32);
		c->sid_len = ch->sid.left;
		memcpy(c->sid, ch->sid.p, ch->sid.left);
		if (tls_transcript_set_hash(&c->tr, cs->md()) != 0)
			return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "hash setup failed");
	}
	if (c->psk_on && pk->ticket)
		tls_srv_ticket_identity(c, &pk->tk);
	/* the (EC)DHE share; none with psk_ke */
	const struct client_share *share = NULL;
	if (!c->psk_on || c->psk_dhe) {
		if ((rc = tls_ch_parse_shares(c, out, ch, &groups, shares, &n_shares, &n_total)))
			return rc;
		/* a share the client already sent, in our order; else HRR */
		for (size_t i = 0; i < c->cfg->n_groups && !share; i++)
			for (size_t j = 0; j < n_shares; j++)
				if (shares[j].group == c->cfg->groups[i])
					share = &shares[j];
		/* ... but a hybrid group we prefer, listed by the client without
		 * a share, is worth the round trip: ask for it */
		for (size_t i = 0; !second && share && c->cfg->groups[i] != share->group; i++)
			if (tls_group_is_hybrid(c->cfg->groups[i]) &&
			    tls_u16_reader_has(groups, c->cfg->groups[i]))
				share = NULL;
		if (second) {
			if (n_total != 1 || !share || share->group != c->group)
				return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
						"second ClientHello lacks a share for the requested group");
		} else if (!share) {
			c->group = 0;
			for (size_t i = 0; i < c->cfg->n_groups && !c->group; i++)
				if (tls_u16_reader_has(groups, c->cfg->groups[i]))
					c->group = c->cfg->groups[i];
			if (!c->group)
				return tls_fail(c, out, TLS_ALERT_HANDSHAKE_FAILURE, "no shared group");
			c->ccs_ok = true;
			/* §4.1.4: an HRR rejects 0-RTT; skip what the client sends */
			if (ch->early) {
				c->skip_early = tls_srv_early_skip_limit(c);
				c->params.early_data = TLS_EARLY_REJECTED;
			}
			c->psk_on = false;
			c->params.client_id = false;
			return send_hrr(c, out, ch, msg, len);
		}
		c->group = share->group;
	}
	c->ccs_ok = true;
	if (tls_msg_transcript(c, msg, len) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "transcript failed");
	if ((rc = tls_srv_early_decision(c, out, ch, second, pk)))
		return rc;
	return send_server_flight(c, out, share, (uint16_t)pk->index);
}

static int handle_client_hello(tls_conn *c, tls_buf *out, tls_reader *r, const uint8_t *msg,
			       size_t len)
{
	struct ch_info ch;
	memset(&ch, 0, sizeof(ch));
	bool second = c->state == TLS_ST_SRV_WAIT_CH2;
	int rc = tls_ch_parse(c, out, r, &ch);
	if (rc)
		return rc;
	if (second && (rc = tls_ch_check_second(c, out, &ch)))
		return rc;
	if (second)
		c->skip_early = 0; /* 0-RTT ends with the second ClientHello */
	if (!second && tls_exts_has(&ch.ext, TLS_XI_COOKIE))
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER, "cookie we never sent");

	/* cipher suite: ours first */
	const tls_cipher *cs = NULL;
	for (size_t i = 0; i < c->cfg->n_ciphers && !cs; i++)
		if (tls_u16_reader_has(ch.ciphers, c->cfg->ciphers[i]))
			cs = tls_cipher_find(c->cfg->ciphers[i]);
	if (!cs)
		return tls_fail(c, out, TLS_ALERT_HANDSHAKE_FAILURE, "no shared cipher suite");
	if (second) {
		if (!tls_u16_reader_has(ch.ciphers, c->cs->id))
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
					"cipher changed after HRR");
		cs = c->cs;
	}

	uint32_t sigalgs = 0;
	if (tls_exts_has(&ch.ext, TLS_XI_SIGNATURE_ALGORITHMS)) {
		tls_reader sa = ch.ext.body[TLS_XI_SIGNATURE_ALGORITHMS];
		if (tls_read_sigalgs(&sa, c->cfg, &sigalgs) != 0 || !tls_reader_done(&sa))
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR,
					"malformed signature_algorithms");
	}

	if (!second && tls_exts_has(&ch.ext, TLS_XI_SERVER_NAME) &&
	    (rc = tls_ch_parse_sni(c, out, ch.ext.body[TLS_XI_SERVER_NAME])))
		return rc;
	if (!second) {
		free(c->alpn);
		c->alpn = NULL;
		if (tls_exts_has(&ch.ext, TLS_XI_ALPN) &&
		    (rc = tls_ch_choose_alpn(c, out, ch.ext.body[TLS_XI_ALPN])))
			return rc;
	}
	if ((rc = tls_ch_parse_exts(c, out, &ch, second)))
		return rc;
	struct psk_pick pk;
	tls_psk_pick_init(&pk);
	if ((rc = tls_srv_choose_psk(c, out, &ch, msg, len, second, &cs, &pk)))
		goto out;
	/* a PSK authenticates the server; otherwise a certificate does */
	if (!c->psk_on && !tls_exts_has(&ch.ext, TLS_XI_SIGNATURE_ALGORITHMS)) {
		rc = tls_fail(c, out, TLS_ALERT_MISSING_EXTENSION,
			      "client sent no signature_algorithms");
		goto out;
	}
	if (!c->psk_on && (rc = tls_ch_choose_cert(c, out, sigalgs)))
		goto out;
	rc = handshake_with(c, out, &ch, second, cs, &pk, msg, len);
out:
	tls_psk_pick_wipe(&pk);
	return rc;
}

static int handle_client_certificate(tls_conn *c, tls_buf *out, tls_reader *r, const uint8_t *msg,
				     size_t len)
{
	const char *why = "";
	size_t ctx_len = 0;
	int alert = tls_msg_read_certificate(r, 0, &c->peer_chain, &ctx_len, NULL, &why);
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
	/* The resumption secret (over the transcript with the client Finished)
	 * only matters to a server that may issue tickets (§4.6.1). */
	bool tickets = c->cfg->n_tickets && c->cfg->ring && (c->psk_peer_modes & c->cfg->psk_modes);
	if ((tickets && (tls_msg_transcript(c, msg, len) != 0 ||
			 tls_transcript_hash(&c->tr, hash) != 0)) ||
	    tls_derive_masters(c, tickets ? hash : NULL) != 0 ||
	    tls_set_secret(c, TLS_DIR_RX, TLS_EPOCH_APPLICATION, c->pending_rx) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "key schedule failed");
	OPENSSL_cleanse(c->pending_rx, sizeof(c->pending_rx));
	if (c->peer_chain.n) {
		tls_ticket t;
		memset(&t, 0, sizeof(t));
		if (tls_ticket_set_client_cert(&t, c->peer_chain.certs[0]) == 0)
			tls_srv_ticket_identity(c, &t);
	}
	/* tickets go out under the application key, before kTLS takes over
	 * (unless deferred to tls_post_ticket_send); res_master is wiped there */
	int trc = tls_server_send_tickets(c, out);
	if (trc != 0)
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
			uint16_t client_scheme = 0; /* params.sig_scheme stays ours (tls.h) */
			int alert = tls_msg_check_cv(c, body, c->cfg->sigalgs, c->cfg->n_sigalgs,
						     false, &client_scheme, &why);
			if (alert)
				return tls_fail(c, out, alert, "client %s", why);
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
