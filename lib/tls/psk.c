/* Pre-shared keys in the handshake (RFC 8446 §4.2.11, §4.6.1, §7.1):
 * binders, the early traffic secret, the resumption and exporter master
 * secrets, NewSessionTicket in both roles, the client's tls_session and
 * its serialised form, and the exporter. */
#include "tls/engine.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define SESSION_MAGIC 0x48535331u /* "HSS1" */

static int empty_hash(const EVP_MD *md, uint8_t *out)
{
	unsigned int n = 0;
	return EVP_Digest("", 0, out, &n, tls_md_fetched(md), NULL) ? 0 : -1;
}

int tls_psk_binder(const tls_cipher *cs, const uint8_t *psk, size_t psk_len, bool external,
		   const tls_transcript *tr, const uint8_t *trunc, size_t trunc_len,
		   uint8_t *out)
{
	const EVP_MD *md = cs->md();
	tls_keysched ks;
	uint8_t eh[TLS_MAX_HASH], key[TLS_MAX_HASH], hash[TLS_MAX_HASH];
	memset(&ks, 0, sizeof(ks));
	int rc = empty_hash(md, eh) || tls_keysched_init(&ks, md, psk, psk_len) ||
		 tls_keysched_derive(&ks, external ? "ext binder" : "res binder", eh, key) ||
		 tls_transcript_hash_extra(tr, md, trunc, trunc_len, hash) ||
		 tls_finished_mac(md, key, hash, out);
	tls_keysched_clear(&ks);
	OPENSSL_cleanse(key, sizeof(key));
	return rc ? -1 : 0;
}

int tls_psk_early_secret(tls_conn *c, const uint8_t *ch_hash)
{
	tls_keysched ks;
	memset(&ks, 0, sizeof(ks));
	int rc = tls_keysched_init(&ks, c->psk_cs->md(), c->psk, c->psk_len) ||
		 tls_keysched_derive(&ks, "c e traffic", ch_hash, c->c_early);
	tls_keysched_clear(&ks);
	return rc ? -1 : 0;
}

int tls_derive_masters(tls_conn *c, const uint8_t *res_hash)
{
	if (tls_keysched_derive(&c->ks, "res master", res_hash, c->res_master) ||
	    tls_keysched_derive(&c->ks, "exp master", c->fin_hash, c->exp_master))
		return -1;
	c->masters = true;
	return 0;
}

int tls_conn_export(const tls_conn *c, const char *label, const uint8_t *context,
		    size_t context_len, uint8_t *out, size_t out_len)
{
	if (c->state != TLS_ST_DONE || !c->masters || !label || out_len > 255 * c->cs->hash_len)
		return -1;
	const EVP_MD *md = c->cs->md();
	uint8_t eh[TLS_MAX_HASH], ch[TLS_MAX_HASH], sec[TLS_MAX_HASH];
	unsigned int n = 0;
	int rc = empty_hash(md, eh) || tls_derive_secret(md, c->exp_master, label, eh, sec) ||
		 !EVP_Digest(context ? (const void *)context : "", context ? context_len : 0, ch, &n,
			     tls_md_fetched(md), NULL) ||
		 tls_hkdf_expand_label(md, sec, c->cs->hash_len, "exporter", ch, n, out, out_len);
	OPENSSL_cleanse(sec, sizeof(sec));
	return rc ? -1 : 0;
}

/* ---- server: NewSessionTicket ---- */

static int fill_ticket(tls_conn *c, tls_ticket *t, unsigned modes)
{
	if (c->server_name && tls_ticket_set_sni(t, c->server_name))
		return -1;
	if (c->alpn && tls_ticket_set_alpn(t, (const uint8_t *)c->alpn, strlen(c->alpn)))
		return -1;
	if (c->peer_chain.n) {
		if (tls_ticket_set_client_cert(t, c->peer_chain.certs[0]))
			return -1;
	} else if (c->params.client_id) {
		/* resumed: the identity travels on to the next ticket */
		t->has_client = true;
		memcpy(t->client_cert_sha256, c->params.client_cert_sha256, 32);
		t->client_not_after = c->client_not_after;
		t->client_subject_len = (uint16_t)c->params.client_subject_len;
		memcpy(t->client_subject, c->client_subject, c->params.client_subject_len);
	}
	t->max_early_data = c->cfg->max_early_data;
	t->ke_modes = 0;
	if (modes & TLS_PSK_MODE_KE)
		t->ke_modes |= TLS_TICKET_KE_BIT(TLS_PSK_KE);
	if (modes & TLS_PSK_MODE_DHE_KE)
		t->ke_modes |= TLS_TICKET_KE_BIT(TLS_PSK_DHE_KE);
	return 0;
}

int tls_server_send_tickets(tls_conn *c, tls_buf *out)
{
	const tls_config *cfg = c->cfg;
	/* §4.2.9: only tickets the client said it can use */
	unsigned modes = c->psk_peer_modes & cfg->psk_modes;
	if (!cfg->n_tickets || !cfg->ring || !c->masters || !modes)
		return 0;
	uint64_t now = tls_config_now_ms(cfg);
	if (cfg->ring == cfg->own_ring)
		tls_stek_ring_maybe_rotate(cfg->own_ring, now / 1000);
	tls_buf m, sealed;
	tls_buf_init(&m, 0);
	tls_buf_init(&sealed, 0);
	int rc = 0;
	for (unsigned i = 0; i < cfg->n_tickets && rc == 0; i++) {
		uint8_t nonce = c->ticket_nonce++; /* distinct per ticket of this connection */
		tls_ticket t;
		if (tls_ticket_init(&t, c->cs, c->res_master, &nonce, 1, now, cfg->ticket_lifetime))
			break;
		tls_buf_reset(&sealed);
		if (fill_ticket(c, &t, modes) || tls_ticket_seal(cfg->ring, &t, &sealed)) {
			tls_ticket_clear(&t);
			break; /* no ticket is not an error */
		}
		tls_msg_begin(&m, TLS_HS_NEW_SESSION_TICKET);
		tls_write_u32(&m, t.lifetime_s);
		tls_write_u32(&m, t.age_add);
		tls_write_u8(&m, 1);
		tls_write_u8(&m, nonce);
		tls_write_u16(&m, (uint16_t)sealed.len);
		tls_write_bytes(&m, sealed.base, sealed.len);
		tls_write_open(&m, 2);
		if (t.max_early_data) {
			tls_write_u16(&m, TLS_EXT_EARLY_DATA);
			tls_write_u16(&m, 4);
			tls_write_u32(&m, t.max_early_data);
		}
		tls_write_close(&m);
		tls_msg_end(&m);
		tls_ticket_clear(&t);
		rc = m.err || sealed.err ? -1 : 0;
	}
	if (rc == 0 && m.len)
		rc = tls_rl_write_sealed(c, out, TLS_CT_HANDSHAKE, m.base, m.len);
	tls_buf_free(&m);
	tls_buf_free(&sealed);
	return rc;
}

/* ---- client: NewSessionTicket -> tls_session ---- */

int tls_client_ticket(tls_conn *c, tls_buf *out, tls_reader *r)
{
	const char *why = "";
	uint32_t lifetime = tls_read_u32(r);
	uint32_t age_add = tls_read_u32(r);
	tls_reader nonce = tls_read_vec8(r, 0, 255);
	tls_reader ticket = tls_read_vec16(r, 1, 0xffff);
	tls_reader block = tls_read_vec16(r, 0, 0xfffe);
	if (!tls_reader_done(r))
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed NewSessionTicket");
	if (lifetime > TLS_TICKET_MAX_LIFETIME_S)
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER, "ticket lifetime over 7 days");
	tls_exts e;
	int alert = tls_exts_parse(&block, TLS_CTX_NST, 0, &e, &why);
	if (alert)
		return tls_fail(c, out, alert, "NewSessionTicket: %s", why);
	uint32_t max_early = 0;
	if (tls_exts_has(&e, TLS_XI_EARLY_DATA)) {
		tls_reader ed = e.body[TLS_XI_EARLY_DATA];
		max_early = tls_read_u32(&ed);
		if (!tls_reader_done(&ed))
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed early_data");
	}
	/* lifetime 0: discard at once; nobody listening: nothing to keep */
	if (!lifetime || !c->cb.session || !c->masters)
		return 0;
	tls_session s;
	memset(&s, 0, sizeof(s));
	s.cipher = c->cs->id;
	s.psk_len = (uint8_t)c->cs->hash_len;
	if (tls_ticket_psk(c->cs, c->res_master, nonce.p, nonce.left, s.psk))
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "ticket PSK derivation failed");
	s.ticket = malloc(ticket.left);
	if (!s.ticket) {
		OPENSSL_cleanse(s.psk, sizeof(s.psk));
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "out of memory");
	}
	memcpy(s.ticket, ticket.p, ticket.left);
	s.ticket_len = ticket.left;
	s.lifetime_s = lifetime;
	s.age_add = age_add;
	s.max_early_data = max_early;
	s.created_ms = tls_config_now_ms(c->cfg);
	if (c->server_name && (c->ch_offered & TLS_XBIT(TLS_XI_SERVER_NAME)))
		snprintf(s.server_name, sizeof(s.server_name), "%s", c->server_name);
	if (c->alpn)
		snprintf(s.alpn, sizeof(s.alpn), "%s", c->alpn);
	c->cb.session(c->cb_ctx, &s);
	OPENSSL_cleanse(s.psk, sizeof(s.psk));
	free(s.ticket);
	return 0;
}

/* ---- tls_session ---- */

void tls_session_free(tls_session *s)
{
	if (!s)
		return;
	free(s->ticket);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

tls_session *tls_session_dup(const tls_session *s)
{
	tls_session *d = malloc(sizeof(*d));
	if (!d)
		return NULL;
	*d = *s;
	d->ticket = malloc(s->ticket_len ? s->ticket_len : 1);
	if (!d->ticket) {
		OPENSSL_cleanse(d, sizeof(*d));
		free(d);
		return NULL;
	}
	memcpy(d->ticket, s->ticket, s->ticket_len);
	return d;
}

int tls_session_encode(const tls_session *s, tls_buf *out)
{
	size_t sn = strnlen(s->server_name, sizeof(s->server_name));
	size_t an = strnlen(s->alpn, sizeof(s->alpn));
	const tls_cipher *cs = tls_cipher_find(s->cipher);
	if (!cs || s->psk_len != cs->hash_len || !s->ticket_len || s->ticket_len > 0xffff ||
	    sn > 255 || an > 255)
		return -1;
	tls_write_u32(out, SESSION_MAGIC);
	tls_write_u16(out, s->cipher);
	tls_write_u8(out, s->psk_len);
	tls_write_bytes(out, s->psk, s->psk_len);
	tls_write_u16(out, (uint16_t)s->ticket_len);
	tls_write_bytes(out, s->ticket, s->ticket_len);
	tls_write_u32(out, s->lifetime_s);
	tls_write_u32(out, s->age_add);
	tls_write_u32(out, s->max_early_data);
	tls_write_u64(out, s->created_ms);
	tls_write_u8(out, (uint8_t)sn);
	tls_write_bytes(out, s->server_name, sn);
	tls_write_u8(out, (uint8_t)an);
	tls_write_bytes(out, s->alpn, an);
	tls_write_u8(out, s->used ? 1 : 0);
	return out->err ? -1 : 0;
}

tls_session *tls_session_decode(const uint8_t *p, size_t len)
{
	tls_reader r = tls_reader_init(p, len);
	tls_session s;
	memset(&s, 0, sizeof(s));
	uint32_t magic = tls_read_u32(&r);
	s.cipher = tls_read_u16(&r);
	tls_reader psk = tls_read_vec8(&r, 32, TLS_MAX_HASH);
	tls_reader ticket = tls_read_vec16(&r, 1, 0xffff);
	s.lifetime_s = tls_read_u32(&r);
	s.age_add = tls_read_u32(&r);
	s.max_early_data = tls_read_u32(&r);
	s.created_ms = tls_read_u64(&r);
	tls_reader sni = tls_read_vec8(&r, 0, 255);
	tls_reader alpn = tls_read_vec8(&r, 0, 255);
	uint8_t used = tls_read_u8(&r);
	const tls_cipher *cs = tls_cipher_find(s.cipher);
	if (!tls_reader_done(&r) || magic != SESSION_MAGIC || !cs || psk.left != cs->hash_len ||
	    used > 1 || s.lifetime_s > TLS_TICKET_MAX_LIFETIME_S ||
	    (sni.left && memchr(sni.p, 0, sni.left)) ||
	    (alpn.left && memchr(alpn.p, 0, alpn.left)))
		return NULL;
	s.psk_len = (uint8_t)psk.left;
	memcpy(s.psk, psk.p, psk.left);
	memcpy(s.server_name, sni.p, sni.left);
	memcpy(s.alpn, alpn.p, alpn.left);
	s.used = used;
	s.ticket = (uint8_t *)ticket.p;
	s.ticket_len = ticket.left;
	tls_session *d = tls_session_dup(&s);
	OPENSSL_cleanse(s.psk, sizeof(s.psk));
	return d;
}

bool tls_session_expired(const tls_session *s, uint64_t now_ms)
{
	return now_ms < s->created_ms || now_ms - s->created_ms >= (uint64_t)s->lifetime_s * 1000;
}
