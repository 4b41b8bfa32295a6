/* The post-handshake object (tls.h, "after the handshake"): what a kTLS
 * socket still needs once the tls_conn is gone, its serialised form, and
 * KeyUpdate, NewSessionTicket and the exporter on top of it.
 *
 * Encoding (tls_post_encode; strict decode, every length checked, no
 * trailing bytes):
 *   u32  magic                  "HSPT"
 *   u8   version                TLS_POST_VERSION (1)
 *   u8   role                   0 client, 1 server
 *   u16  cipher_suite
 *   twice, RX then TX:
 *     u8   secret<hash_len>     current application traffic secret
 *     u64  seq                  next record sequence number
 *     u64  epoch                3 + KeyUpdates so far
 *   u8   exporter_master<hash_len>
 *   u8   resumption_master<0|hash_len>  client: hash_len; server: 0, always
 *   u8   sni<0..255>            no NUL
 *   u8   alpn<0..255>           no NUL
 *   u8   flags                  1 resumed, 2 peer identity
 *   if peer identity:
 *     opaque sha256[32], u64 not_after (unix s), u16 subject<1..2^16-1>
 *   u64  ticket_nonce           server: next nonce counter; client: 0
 *   u8   psk_modes              server: the client's TLS_PSK_MODE_* bits; client: 0
 *   u32  max_early_data         server: this connection's config; client: 0
 */
#include "tls/engine.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#define TLS_POST_MAGIC 0x48535054u /* "HSPT" */
#define TLS_POST_VERSION 1
#define POST_RESUMED 1u
#define POST_PEER_ID 2u

struct tls_post_dir {
	uint8_t secret[TLS_MAX_HASH];
	uint64_t seq;
	uint64_t epoch;
};

struct tls_post {
	enum tls_role role;
	const tls_cipher *cs;
	struct tls_post_dir dir[2];    /* by enum tls_dir */
	uint8_t exp_master[TLS_MAX_HASH];
	uint8_t res_master[TLS_MAX_HASH];
	bool has_res;
	char sni[256];                 /* "" for none */
	char alpn[256];
	bool resumed;
	bool has_peer;
	uint8_t peer_sha256[32];
	uint64_t peer_not_after;
	uint8_t *peer_subject;
	size_t peer_subject_len;
	/* server: tickets */
	uint64_t ticket_nonce;
	unsigned peer_modes;
	uint32_t max_early_data;
	unsigned tickets_owed;
};

void tls_post_free(tls_post *p)
{
	if (!p)
		return;
	free(p->peer_subject);
	OPENSSL_cleanse(p, sizeof(*p));
	free(p);
}

static int set_subject(tls_post *p, const uint8_t *der, size_t len)
{
	if (!len || len > 0xffff || !(p->peer_subject = malloc(len)))
		return -1;
	memcpy(p->peer_subject, der, len);
	p->peer_subject_len = len;
	return 0;
}

/* The peer's leaf: SHA-256 of its DER, notAfter, subject. */
static int leaf_identity(tls_post *p, X509 *leaf)
{
	unsigned int hlen = 0;
	struct tm tm;
	const X509_NAME *subj = X509_get_subject_name(leaf);
	const uint8_t *der = NULL;
	size_t dlen = 0;
	if (!subj || !X509_NAME_get0_der((X509_NAME *)subj, &der, &dlen) ||
	    !X509_digest(leaf, tls_md_fetched(EVP_sha256()), p->peer_sha256, &hlen) ||
	    hlen != sizeof(p->peer_sha256))
		return -1;
	memset(&tm, 0, sizeof(tm));
	if (!ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm))
		return -1;
	time_t na = timegm(&tm);
	p->peer_not_after = na < 0 ? 0 : (uint64_t)na;
	p->has_peer = true;
	return set_subject(p, der, dlen);
}

/* "" or a copy of name; -1 if it does not fit. */
static int set_name(char dst[256], const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n > 255)
		return -1;
	memcpy(dst, name ? name : "", n + 1);
	return 0;
}

tls_post *tls_conn_post(const tls_conn *c)
{
	if (!c || c->state != TLS_ST_DONE || !c->cs || !c->masters)
		return NULL;
	tls_post *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	size_t hl = c->cs->hash_len;
	p->role = c->role;
	p->cs = c->cs;
	memcpy(p->dir[TLS_DIR_RX].secret, c->rx_secret, hl);
	p->dir[TLS_DIR_RX].seq = c->rx.seq;
	p->dir[TLS_DIR_RX].epoch = (uint64_t)c->rx_epoch;
	memcpy(p->dir[TLS_DIR_TX].secret, c->tx_secret, hl);
	p->dir[TLS_DIR_TX].seq = c->tx.seq;
	p->dir[TLS_DIR_TX].epoch = (uint64_t)c->tx_epoch;
	memcpy(p->exp_master, c->exp_master, hl);
	/* a server wipes it after inline tickets (tls_server_send_tickets) */
	p->has_res = c->res_ready && (c->role == TLS_CLIENT || c->defer_tickets);
	if (p->has_res)
		memcpy(p->res_master, c->res_master, hl);
	/* client: the SNI as sent (none for an IP literal), which its
	 * sessions are offered under */
	bool sni_sent = c->role == TLS_SERVER || (c->ch_offered & TLS_XBIT(TLS_XI_SERVER_NAME));
	int rc = set_name(p->sni, sni_sent ? c->server_name : NULL) || set_name(p->alpn, c->alpn);
	p->resumed = c->params.resumed;
	if (!rc && c->peer_chain.n) {
		rc = leaf_identity(p, c->peer_chain.certs[0]);
	} else if (!rc && c->role == TLS_SERVER && c->params.client_id) {
		/* resumed: who authenticated originally, from the ticket */
		p->has_peer = true;
		memcpy(p->peer_sha256, c->params.client_cert_sha256, 32);
		p->peer_not_after = c->client_not_after;
		rc = set_subject(p, c->client_subject, c->params.client_subject_len);
	}
	if (c->role == TLS_SERVER) {
		const tls_config *cfg = c->cfg;
		p->ticket_nonce = c->ticket_nonce;
		p->peer_modes = c->psk_peer_modes;
		p->max_early_data = cfg->max_early_data;
		if (c->defer_tickets && (c->psk_peer_modes & cfg->psk_modes) && cfg->ring)
			p->tickets_owed = cfg->n_tickets;
	}
	if (rc) {
		tls_post_free(p);
		return NULL;
	}
	return p;
}

int tls_post_encode(const tls_post *p, tls_buf *out)
{
	if (!p || !out)
		return -1;
	size_t hl = p->cs->hash_len;
	bool client = p->role == TLS_CLIENT;
	tls_write_u32(out, TLS_POST_MAGIC);
	tls_write_u8(out, TLS_POST_VERSION);
	tls_write_u8(out, (uint8_t)p->role);
	tls_write_u16(out, p->cs->id);
	for (int d = TLS_DIR_RX; d <= TLS_DIR_TX; d++) {
		tls_write_u8(out, (uint8_t)hl);
		tls_write_bytes(out, p->dir[d].secret, hl);
		tls_write_u64(out, p->dir[d].seq);
		tls_write_u64(out, p->dir[d].epoch);
	}
	tls_write_u8(out, (uint8_t)hl);
	tls_write_bytes(out, p->exp_master, hl);
	/* a server's resumption secret stays where its ticket keys are */
	tls_write_u8(out, client ? (uint8_t)hl : 0);
	if (client)
		tls_write_bytes(out, p->res_master, hl);
	size_t sn = strlen(p->sni), an = strlen(p->alpn);
	tls_write_u8(out, (uint8_t)sn);
	tls_write_bytes(out, p->sni, sn);
	tls_write_u8(out, (uint8_t)an);
	tls_write_bytes(out, p->alpn, an);
	tls_write_u8(out, (uint8_t)((p->resumed ? POST_RESUMED : 0) | (p->has_peer ? POST_PEER_ID : 0)));
	if (p->has_peer) {
		tls_write_bytes(out, p->peer_sha256, 32);
		tls_write_u64(out, p->peer_not_after);
		tls_write_u16(out, (uint16_t)p->peer_subject_len);
		tls_write_bytes(out, p->peer_subject, p->peer_subject_len);
	}
	tls_write_u64(out, client ? 0 : p->ticket_nonce);
	tls_write_u8(out, client ? 0 : (uint8_t)p->peer_modes);
	tls_write_u32(out, client ? 0 : p->max_early_data);
	return out->err ? -1 : 0;
}

/* A vector of exactly want bytes (want 0: an empty one), copied to dst. */
static void read_exact(tls_reader *r, size_t want, uint8_t *dst)
{
	tls_reader v = tls_read_vec8(r, want, want);
	tls_read_copy(&v, dst, want);
	if (r->err || v.err)
		tls_reader_fail(r);
}

/* A name without NULs into dst[256]. */
static void read_name(tls_reader *r, char *dst)
{
	tls_reader v = tls_read_vec8(r, 0, 255);
	size_t n = v.left;
	tls_read_copy(&v, dst, n);
	dst[n] = '\0';
	if (memchr(dst, '\0', n))
		tls_reader_fail(r);
}

tls_post *tls_post_decode(const uint8_t *in, size_t len)
{
	if (!in)
		return NULL;
	tls_reader r = tls_reader_init(in, len);
	tls_post *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	uint32_t magic = tls_read_u32(&r);
	uint8_t version = tls_read_u8(&r);
	uint8_t role = tls_read_u8(&r);
	p->cs = tls_cipher_find(tls_read_u16(&r));
	if (r.err || magic != TLS_POST_MAGIC || version != TLS_POST_VERSION || role > TLS_SERVER ||
	    !p->cs) {
		tls_post_free(p);
		return NULL;
	}
	size_t hl = p->cs->hash_len;
	p->role = (enum tls_role)role;
	bool client = p->role == TLS_CLIENT;
	for (int d = TLS_DIR_RX; d <= TLS_DIR_TX; d++) {
		read_exact(&r, hl, p->dir[d].secret);
		p->dir[d].seq = tls_read_u64(&r);
		p->dir[d].epoch = tls_read_u64(&r);
		if (p->dir[d].epoch < TLS_EPOCH_APPLICATION)
			tls_reader_fail(&r);
	}
	read_exact(&r, hl, p->exp_master);
	read_exact(&r, client ? hl : 0, p->res_master);
	p->has_res = client;
	read_name(&r, p->sni);
	read_name(&r, p->alpn);
	uint8_t flags = tls_read_u8(&r);
	p->resumed = flags & POST_RESUMED;
	if (flags & ~(POST_RESUMED | POST_PEER_ID))
		tls_reader_fail(&r);
	if (!r.err && (flags & POST_PEER_ID)) {
		p->has_peer = true;
		tls_read_copy(&r, p->peer_sha256, 32);
		p->peer_not_after = tls_read_u64(&r);
		tls_reader subj = tls_read_vec16(&r, 1, 0xffff);
		if (!r.err && set_subject(p, subj.p, subj.left))
			tls_reader_fail(&r);
	}
	p->ticket_nonce = tls_read_u64(&r);
	p->peer_modes = tls_read_u8(&r);
	p->max_early_data = tls_read_u32(&r);
	/* the server-only fields are zero for a client, as encoded */
	if (p->peer_modes & ~(TLS_PSK_MODE_KE | TLS_PSK_MODE_DHE_KE) ||
	    (client && (p->ticket_nonce || p->peer_modes || p->max_early_data)))
		tls_reader_fail(&r);
	if (!tls_reader_done(&r)) {
		tls_post_free(p);
		return NULL;
	}
	return p;
}

enum tls_role tls_post_role(const tls_post *p)
{
	return p->role;
}

uint16_t tls_post_cipher(const tls_post *p)
{
	return p->cs->id;
}

int tls_post_traffic(const tls_post *p, enum tls_dir dir, uint8_t *secret, size_t *len,
		     uint64_t *seq)
{
	if (!p || (dir != TLS_DIR_RX && dir != TLS_DIR_TX) || !len || *len < p->cs->hash_len)
		return -1;
	memcpy(secret, p->dir[dir].secret, p->cs->hash_len);
	*len = p->cs->hash_len;
	if (seq)
		*seq = p->dir[dir].seq;
	return 0;
}

void tls_post_set_seq(tls_post *p, enum tls_dir dir, uint64_t seq)
{
	if (p && (dir == TLS_DIR_RX || dir == TLS_DIR_TX))
		p->dir[dir].seq = seq;
}

const char *tls_post_server_name(const tls_post *p)
{
	return p->sni[0] ? p->sni : NULL;
}

const char *tls_post_alpn(const tls_post *p)
{
	return p->alpn[0] ? p->alpn : NULL;
}

bool tls_post_peer_id(const tls_post *p, uint8_t sha256[32], const uint8_t **subject,
		      size_t *subject_len)
{
	if (!p->has_peer)
		return false;
	if (sha256)
		memcpy(sha256, p->peer_sha256, 32);
	if (subject)
		*subject = p->peer_subject;
	if (subject_len)
		*subject_len = p->peer_subject_len;
	return true;
}

bool tls_post_resumed(const tls_post *p)
{
	return p->resumed;
}

/* ---- KeyUpdate ---- */

/* application_traffic_secret_N+1 (§7.2) for one direction. */
static int next_secret(tls_post *p, enum tls_dir dir)
{
	struct tls_post_dir *d = &p->dir[dir];
	uint8_t next[TLS_MAX_HASH];
	if (d->epoch == UINT64_MAX || tls_next_traffic_secret(p->cs, d->secret, next))
		return -1;
	memcpy(d->secret, next, p->cs->hash_len);
	OPENSSL_cleanse(next, sizeof(next));
	d->seq = 0;
	d->epoch++;
	return 0;
}

int tls_post_key_update_send(tls_post *p, bool request_peer, uint8_t msg[TLS_KEY_UPDATE_MSG_LEN])
{
	if (!p || !msg || next_secret(p, TLS_DIR_TX))
		return -1;
	tls_key_update_build(msg, request_peer);
	return 0;
}

int tls_post_key_update_recv(tls_post *p, const uint8_t *body, size_t len, bool *request_peer)
{
	bool req = false;
	if (!p)
		return TLS_ALERT_INTERNAL_ERROR;
	int alert = tls_key_update_parse_body(body, len, &req);
	if (alert)
		return alert;
	if (next_secret(p, TLS_DIR_RX))
		return TLS_ALERT_INTERNAL_ERROR;
	if (request_peer)
		*request_peer = req;
	return 0;
}

/* ---- NewSessionTicket ---- */

int tls_post_ticket_recv(tls_post *p, const uint8_t *body, size_t len, uint64_t now_ms,
			 tls_buf *session)
{
	if (!p || !session)
		return TLS_ALERT_INTERNAL_ERROR;
	if (p->role != TLS_CLIENT)
		return TLS_ALERT_UNEXPECTED_MESSAGE;
	tls_reader r = tls_reader_init(body, len);
	tls_session s;
	const char *why;
	int alert = tls_nst_parse(p->cs, p->res_master, &r, now_ms, tls_post_server_name(p),
				  tls_post_alpn(p), &s, &why);
	if (!alert && s.ticket && tls_session_encode(&s, session))
		alert = TLS_ALERT_INTERNAL_ERROR;
	OPENSSL_cleanse(s.psk, sizeof(s.psk));
	free(s.ticket);
	return alert;
}

int tls_post_ticket_send(tls_post *p, const tls_config *cfg, tls_buf *msg)
{
	if (!p || !cfg || !msg || p->role != TLS_SERVER || cfg->role != TLS_SERVER || !p->has_res)
		return -1;
	struct tls_nst_src src = {
		.cs = p->cs,
		.res_master = p->res_master,
		.server_name = tls_post_server_name(p),
		.alpn = tls_post_alpn(p),
		/* §4.2.9: only tickets the client said it can use */
		.modes = p->peer_modes & cfg->psk_modes,
		.max_early_data = p->max_early_data < cfg->max_early_data ? p->max_early_data
									   : cfg->max_early_data,
		.has_client = p->has_peer,
		.client_sha256 = p->peer_sha256,
		.client_not_after = p->peer_not_after,
		.client_subject = p->peer_subject,
		.client_subject_len = p->peer_subject_len,
	};
	if (!cfg->n_tickets || !src.modes)
		return 1;
	/* The nonce only has to differ between this connection's tickets:
	 * one byte like the engine's inline ones, then eight. */
	uint8_t nonce[8];
	size_t nlen = p->ticket_nonce < 256 ? 1 : 8;
	if (nlen == 1)
		nonce[0] = (uint8_t)p->ticket_nonce;
	else
		tls_store_u64(nonce, p->ticket_nonce);
	int rc = tls_nst_build(cfg, &src, nonce, nlen, tls_config_now_ms(cfg), msg);
	if (rc == 0) {
		p->ticket_nonce++;
		if (p->tickets_owed)
			p->tickets_owed--;
	}
	return rc;
}

unsigned tls_post_tickets_owed(const tls_post *p)
{
	return p && p->role == TLS_SERVER && p->has_res ? p->tickets_owed : 0;
}

/* ---- exporter ---- */

int tls_post_export(const tls_post *p, const char *label, const uint8_t *context,
		    size_t context_len, uint8_t *out, size_t out_len)
{
	if (!p)
		return -1;
	return tls_export_secret(p->cs, p->exp_master, label, context, context_len, out, out_len);
}
