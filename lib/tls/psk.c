/* Pre-shared keys in the handshake (RFC 8446 §4.2.11, §4.6.1, §7.1):
 * binders, the early traffic secret, the resumption and exporter master
 * secrets, NewSessionTicket in both roles, the client's tls_session and
 * its serialised form, and the exporter. */
#include "tls/engine.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* "HSS2": HSS1 had a trailing "used" byte; a blob is now simply dropped
 * after its one use (RFC 8446 §C.4). */
#define SESSION_MAGIC 0x48535332u

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
	if ((res_hash && tls_keysched_derive(&c->ks, "res master", res_hash, c->res_master)) ||
	    tls_keysched_derive(&c->ks, "exp master", c->fin_hash, c->exp_master))
		return -1;
	c->masters = true;
	c->res_ready = res_hash != NULL;
	return 0;
}

int tls_export_secret(const tls_cipher *cs, const uint8_t *exp_master, const char *label,
		      const uint8_t *context, size_t context_len, uint8_t *out, size_t out_len)
{
	if (!cs || !label || out_len > 255 * cs->hash_len)
		return -1;
	const EVP_MD *md = cs->md();
	uint8_t eh[TLS_MAX_HASH], ch[TLS_MAX_HASH], sec[TLS_MAX_HASH];
	unsigned int n = 0;
	int rc = empty_hash(md, eh) || tls_derive_secret(md, exp_master, label, eh, sec) ||
		 !EVP_Digest(context ? (const void *)context : "", context ? context_len : 0, ch, &n,
			     tls_md_fetched(md), NULL) ||
		 tls_hkdf_expand_label(md, sec, cs->hash_len, "exporter", ch, n, out, out_len);
	OPENSSL_cleanse(sec, sizeof(sec));
	return rc ? -1 : 0;
}

int tls_conn_export(const tls_conn *c, const char *label, const uint8_t *context,
		    size_t context_len, uint8_t *out, size_t out_len)
{
	if (c->state != TLS_ST_DONE || !c->masters)
		return -1;
	return tls_export_secret(c->cs, c->exp_master, label, context, context_len, out, out_len);
}

/* ---- server: NewSessionTicket ---- */

static int fill_ticket(const struct tls_nst_src *src, tls_ticket *t)
{
	if (src->server_name && tls_ticket_set_sni(t, src->server_name))
		return -1;
	if (src->alpn && tls_ticket_set_alpn(t, (const uint8_t *)src->alpn, strlen(src->alpn)))
		return -1;
	if (src->has_client) {
		/* no ticket rather than one that forgets who authenticated */
		if (src->client_subject_len > sizeof(t->client_subject))
			return -1;
		t->has_client = true;
		memcpy(t->client_cert_sha256, src->client_sha256, 32);
		t->client_not_after = src->client_not_after;
		t->client_subject_len = (uint16_t)src->client_subject_len;
		memcpy(t->client_subject, src->client_subject, src->client_subject_len);
	}
	t->max_early_data = src->max_early_data;
	t->ke_modes = 0;
	if (src->modes & TLS_PSK_MODE_KE)
		t->ke_modes |= TLS_TICKET_KE_BIT(TLS_PSK_KE);
	if (src->modes & TLS_PSK_MODE_DHE_KE)
		t->ke_modes |= TLS_TICKET_KE_BIT(TLS_PSK_DHE_KE);
	return 0;
}

int tls_nst_build(const tls_config *cfg, const struct tls_nst_src *src, const uint8_t *nonce,
		  size_t nonce_len, uint64_t now_ms, tls_buf *out)
{
	tls_ticket t;
	tls_buf sealed;
	if (!cfg->ring || !src->modes || nonce_len > 255 ||
	    tls_ticket_init(&t, src->cs, src->res_master, nonce, nonce_len, now_ms,
			    cfg->ticket_lifetime))
		return 1;
	tls_buf_init(&sealed, 0);
	int rc = 1; /* no ticket is not an error */
	if (fill_ticket(src, &t) == 0 &&
	    tls_ticket_seal(cfg->ring, &t, &sealed) == 0 && !sealed.err) {
		tls_msg_begin(out, TLS_HS_NEW_SESSION_TICKET);
		tls_write_u32(out, t.lifetime_s);
		tls_write_u32(out, t.age_add);
		tls_write_u8(out, (uint8_t)nonce_len);
		tls_write_bytes(out, nonce, nonce_len);
		tls_write_u16(out, (uint16_t)sealed.len);
		tls_write_bytes(out, sealed.base, sealed.len);
		tls_write_open(out, 2);
		if (t.max_early_data) {
			tls_write_u16(out, TLS_EXT_EARLY_DATA);
			tls_write_u16(out, 4);
			tls_write_u32(out, t.max_early_data);
		}
		tls_write_close(out);
		tls_msg_end(out);
		rc = out->err ? -1 : 0;
	}
	tls_ticket_clear(&t);
	tls_buf_free(&sealed);
	return rc;
}

/* The conn's facts for its tickets; false when it issues none. */
static bool conn_nst_src(const tls_conn *c, struct tls_nst_src *src)
{
	const tls_config *cfg = c->cfg;
	memset(src, 0, sizeof(*src));
	/* §4.2.9: only tickets the client said it can use */
	src->modes = c->psk_peer_modes & cfg->psk_modes;
	/* a client certificate whose identity could not be recorded */
	if (!c->res_ready || !src->modes || (c->peer_chain.n && !c->params.client_id))
		return false;
	src->cs = c->cs;
	src->res_master = c->res_master;
	src->server_name = c->server_name;
	src->alpn = c->alpn;
	src->max_early_data = cfg->max_early_data;
	if (c->params.client_id) {
		/* from the Certificate, or resumed: the ticket's, carried on */
		src->has_client = true;
		src->client_sha256 = c->params.client_cert_sha256;
		src->client_not_after = c->client_not_after;
		src->client_subject = c->client_subject;
		src->client_subject_len = c->params.client_subject_len;
	}
	return true;
}

int tls_conn_defer_tickets(tls_conn *c)
{
	if (!c || c->role != TLS_SERVER || c->state != TLS_ST_SRV_WAIT_CH)
		return -1;
	c->defer_tickets = true;
	return 0;
}

int tls_server_send_tickets(tls_conn *c, tls_buf *out)
{
	const tls_config *cfg = c->cfg;
	struct tls_nst_src src;
	int rc = 0;
	/* deferred: tls_conn_post takes res_master to tls_post_ticket_send */
	if (c->defer_tickets)
		return 0;
	if (cfg->n_tickets && conn_nst_src(c, &src)) {
		uint64_t now = tls_config_now_ms(cfg);
		tls_buf m;
		tls_buf_init(&m, 0);
		for (unsigned i = 0; i < cfg->n_tickets && rc == 0; i++) {
			uint8_t nonce = c->ticket_nonce++; /* distinct per ticket of this connection */
			rc = tls_nst_build(cfg, &src, &nonce, 1, now, &m);
		}
		if (rc >= 0 && m.len)
			rc = tls_rl_write_sealed(c, out, TLS_CT_HANDSHAKE, m.base, m.len);
		tls_buf_free(&m);
	}
	/* a server issues tickets only here: it never needs res_master again */
	OPENSSL_cleanse(c->res_master, sizeof(c->res_master));
	return rc < 0 ? -1 : 0;
}

/* ---- client: NewSessionTicket -> tls_session ---- */

int tls_nst_parse(const tls_cipher *cs, const uint8_t *res_master, tls_reader *r,
		  uint64_t now_ms, const char *sni, const char *alpn, tls_session *s,
		  const char **why)
{
	memset(s, 0, sizeof(*s));
	uint32_t lifetime = tls_read_u32(r);
	uint32_t age_add = tls_read_u32(r);
	tls_reader nonce = tls_read_vec8(r, 0, 255);
	tls_reader ticket = tls_read_vec16(r, 1, 0xffff);
	tls_reader block = tls_read_vec16(r, 0, 0xfffe);
	*why = "malformed NewSessionTicket";
	if (!tls_reader_done(r))
		return TLS_ALERT_DECODE_ERROR;
	*why = "ticket lifetime over 7 days";
	if (lifetime > TLS_TICKET_MAX_LIFETIME_S)
		return TLS_ALERT_ILLEGAL_PARAMETER;
	tls_exts e;
	int alert = tls_exts_parse(&block, TLS_CTX_NST, 0, &e, why);
	if (alert)
		return alert;
	uint32_t max_early = 0;
	if (tls_exts_has(&e, TLS_XI_EARLY_DATA)) {
		tls_reader ed = e.body[TLS_XI_EARLY_DATA];
		max_early = tls_read_u32(&ed);
		*why = "malformed early_data";
		if (!tls_reader_done(&ed))
			return TLS_ALERT_DECODE_ERROR;
	}
	/* lifetime 0: discard at once; no secret: only checked */
	if (!lifetime || !res_master)
		return 0;
	*why = "ticket PSK derivation failed";
	s->cipher = cs->id;
	s->psk_len = (uint8_t)cs->hash_len;
	if (tls_ticket_psk(cs, res_master, nonce.p, nonce.left, s->psk))
		return TLS_ALERT_INTERNAL_ERROR;
	*why = "out of memory";
	if (!(s->ticket = malloc(ticket.left))) {
		OPENSSL_cleanse(s->psk, sizeof(s->psk));
		return TLS_ALERT_INTERNAL_ERROR;
	}
	memcpy(s->ticket, ticket.p, ticket.left);
	s->ticket_len = ticket.left;
	s->lifetime_s = lifetime;
	s->age_add = age_add;
	s->max_early_data = max_early;
	s->created_ms = now_ms;
	if (sni)
		snprintf(s->server_name, sizeof(s->server_name), "%s", sni);
	if (alpn)
		snprintf(s->alpn, sizeof(s->alpn), "%s", alpn);
	return 0;
}

int tls_client_ticket(tls_conn *c, tls_buf *out, tls_reader *r)
{
	const char *why = "";
	tls_session s;
	/* the SNI we sent: resumption is offered under it only (§4.6.1) */
	const char *sni = c->server_name && (c->ch_offered & TLS_XBIT(TLS_XI_SERVER_NAME))
		? c->server_name : NULL;
	/* nobody listening: the ticket is only checked */
	bool keep = c->cb.session && c->res_ready;
	int alert = tls_nst_parse(c->cs, keep ? c->res_master : NULL, r, tls_config_now_ms(c->cfg),
				  sni, c->alpn, &s, &why);
	if (alert)
		return tls_fail(c, out, alert, "NewSessionTicket: %s", why);
	if (s.ticket) {
		tls_buf b;
		tls_buf_init(&b, 0);
		if (tls_session_encode(&s, &b) == 0)
			c->cb.session(c->cb_ctx, b.base, b.len);
		else
			alert = TLS_ALERT_INTERNAL_ERROR;
		tls_buf_free(&b);
	}
	OPENSSL_cleanse(s.psk, sizeof(s.psk));
	free(s.ticket);
	if (alert)
		return tls_fail(c, out, alert, "NewSessionTicket: encoding the session failed");
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
	const tls_cipher *cs = tls_cipher_find(s.cipher);
	if (!tls_reader_done(&r) || magic != SESSION_MAGIC || !cs || psk.left != cs->hash_len ||
	    s.lifetime_s > TLS_TICKET_MAX_LIFETIME_S ||
	    (sni.left && memchr(sni.p, 0, sni.left)) ||
	    (alpn.left && memchr(alpn.p, 0, alpn.left)))
		return NULL;
	s.psk_len = (uint8_t)psk.left;
	memcpy(s.psk, psk.p, psk.left);
	memcpy(s.server_name, sni.p, sni.left);
	memcpy(s.alpn, alpn.p, alpn.left);
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
