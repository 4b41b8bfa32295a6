/* Session ticket contents, sealing under a STEK ring, and ticket ages. */
#include "tls/ticket.h"

#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#define TLS13_VERSION 0x0304

int tls_ticket_psk(const tls_cipher *cs, const uint8_t *resumption_master_secret,
		   const uint8_t *nonce, size_t nonce_len, uint8_t *out)
{
	if (!cs)
		return -1;
	return tls_hkdf_expand_label(tls_md_fetched(cs->md()), resumption_master_secret,
				     cs->hash_len, "resumption", nonce, nonce_len, out,
				     cs->hash_len);
}

void tls_ticket_clear(tls_ticket *t)
{
	OPENSSL_cleanse(t, sizeof(*t));
}

int tls_ticket_init(tls_ticket *t, const tls_cipher *cs, const uint8_t *resumption_master_secret,
		    const uint8_t *nonce, size_t nonce_len, uint64_t now_ms, uint32_t lifetime_s)
{
	memset(t, 0, sizeof(*t));
	if (!cs || tls_ticket_psk(cs, resumption_master_secret, nonce, nonce_len, t->psk) != 0 ||
	    RAND_bytes((uint8_t *)&t->age_add, sizeof(t->age_add)) != 1) {
		tls_ticket_clear(t);
		return -1;
	}
	t->version = TLS13_VERSION;
	t->cipher = cs->id;
	t->psk_len = (uint8_t)cs->hash_len;
	t->created_ms = now_ms;
	t->lifetime_s = lifetime_s > TLS_TICKET_MAX_LIFETIME_S ? TLS_TICKET_MAX_LIFETIME_S
							       : lifetime_s;
	/* psk_ke resumption has no forward secrecy: off unless asked for. */
	t->ke_modes = TLS_TICKET_KE_BIT(TLS_PSK_DHE_KE);
	return 0;
}

int tls_ticket_set_sni(tls_ticket *t, const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n > TLS_TICKET_MAX_SNI)
		return -1;
	memcpy(t->sni, name ? name : "", n + 1);
	t->sni_len = (uint8_t)n;
	return 0;
}

int tls_ticket_set_alpn(tls_ticket *t, const uint8_t *proto, size_t len)
{
	if (len > TLS_TICKET_MAX_ALPN || (len && !proto))
		return -1;
	if (len)
		memcpy(t->alpn, proto, len);
	t->alpn_len = (uint8_t)len;
	return 0;
}

int tls_ticket_set_client_cert(tls_ticket *t, X509 *leaf)
{
	unsigned int hlen = 0;
	struct tm tm;
	const X509_NAME *subj = leaf ? X509_get_subject_name(leaf) : NULL;
	if (!subj)
		return -1;
	int dlen = i2d_X509_NAME(subj, NULL);
	if (dlen < 0 || dlen > TLS_TICKET_MAX_SUBJECT)
		return -1;
	if (!X509_digest(leaf, tls_md_fetched(EVP_sha256()), t->client_cert_sha256, &hlen) ||
	    hlen != sizeof(t->client_cert_sha256))
		return -1;
	memset(&tm, 0, sizeof(tm));
	if (!ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm))
		return -1;
	time_t na = timegm(&tm);
	if (na < 0)
		return -1;
	uint8_t *p = t->client_subject;
	if (i2d_X509_NAME(subj, &p) != dlen)
		return -1;
	t->client_not_after = (uint64_t)na;
	t->client_subject_len = (uint16_t)dlen;
	t->has_client = true;
	return 0;
}

/* Field checks shared by encode and decode. */
static bool ticket_valid(const tls_ticket *t)
{
	const tls_cipher *cs = tls_cipher_find(t->cipher);
	uint8_t all_modes = TLS_TICKET_KE_BIT(TLS_PSK_KE) | TLS_TICKET_KE_BIT(TLS_PSK_DHE_KE);
	return t->version == TLS13_VERSION && cs && t->psk_len == cs->hash_len &&
	       t->lifetime_s <= TLS_TICKET_MAX_LIFETIME_S && t->ke_modes != 0 &&
	       (t->ke_modes & ~all_modes) == 0 &&
	       memchr(t->sni, '\0', t->sni_len) == NULL && t->sni[t->sni_len] == '\0' &&
	       t->client_subject_len <= TLS_TICKET_MAX_SUBJECT;
}

int tls_ticket_encode(const tls_ticket *t, tls_buf *out)
{
	if (!ticket_valid(t))
		return -1;
	tls_write_u8(out, TLS_TICKET_FORMAT);
	tls_write_u16(out, t->version);
	tls_write_u16(out, t->cipher);
	tls_write_u8(out, t->psk_len);
	tls_write_bytes(out, t->psk, t->psk_len);
	tls_write_u64(out, t->created_ms);
	tls_write_u32(out, t->lifetime_s);
	tls_write_u32(out, t->age_add);
	tls_write_u32(out, t->max_early_data);
	tls_write_u8(out, t->ke_modes);
	tls_write_u8(out, t->sni_len);
	tls_write_bytes(out, t->sni, t->sni_len);
	tls_write_u8(out, t->alpn_len);
	tls_write_bytes(out, t->alpn, t->alpn_len);
	tls_write_u8(out, t->has_client ? 1 : 0);
	if (t->has_client) {
		tls_write_bytes(out, t->client_cert_sha256, sizeof(t->client_cert_sha256));
		tls_write_u64(out, t->client_not_after);
		tls_write_u16(out, t->client_subject_len);
		tls_write_bytes(out, t->client_subject, t->client_subject_len);
	}
	return out->err ? -1 : 0;
}

int tls_ticket_decode(tls_ticket *t, const uint8_t *p, size_t len)
{
	tls_reader r = tls_reader_init(p, len);
	memset(t, 0, sizeof(*t));
	if (tls_read_u8(&r) != TLS_TICKET_FORMAT)
		goto bad;
	t->version = tls_read_u16(&r);
	t->cipher = tls_read_u16(&r);
	tls_reader v = tls_read_vec8(&r, 32, TLS_MAX_HASH);
	t->psk_len = (uint8_t)v.left;
	tls_read_copy(&v, t->psk, t->psk_len);
	t->created_ms = tls_read_u64(&r);
	t->lifetime_s = tls_read_u32(&r);
	t->age_add = tls_read_u32(&r);
	t->max_early_data = tls_read_u32(&r);
	t->ke_modes = tls_read_u8(&r);
	v = tls_read_vec8(&r, 0, TLS_TICKET_MAX_SNI);
	t->sni_len = (uint8_t)v.left;
	tls_read_copy(&v, t->sni, t->sni_len);
	v = tls_read_vec8(&r, 0, TLS_TICKET_MAX_ALPN);
	t->alpn_len = (uint8_t)v.left;
	tls_read_copy(&v, t->alpn, t->alpn_len);
	uint8_t has_client = tls_read_u8(&r);
	if (has_client > 1)
		goto bad;
	t->has_client = has_client;
	if (has_client) {
		tls_read_copy(&r, t->client_cert_sha256, sizeof(t->client_cert_sha256));
		t->client_not_after = tls_read_u64(&r);
		v = tls_read_vec16(&r, 0, TLS_TICKET_MAX_SUBJECT);
		t->client_subject_len = (uint16_t)v.left;
		tls_read_copy(&v, t->client_subject, t->client_subject_len);
	}
	if (!tls_reader_done(&r) || !ticket_valid(t))
		goto bad;
	return 0;
bad:
	tls_ticket_clear(t);
	return -1;
}

static const EVP_CIPHER *stek_aead(void)
{
	/* STEKs are AES-256-GCM keys; reuse the cached fetch of that AEAD. */
	return tls_aead_fetched(tls_cipher_find(TLS_AES_256_GCM_SHA384));
}

int tls_ticket_seal(tls_stek_ring *ring, const tls_ticket *t, tls_buf *out)
{
	tls_stek k;
	if (tls_stek_ring_seal_key(ring, &k) != 0)
		return -1;
	const tls_stek *key = &k;

	uint8_t nonce[TLS_TICKET_NONCE_LEN], tag[TLS_TAG_LEN];
	tls_buf body;
	tls_buf_init(&body, TLS_TICKET_MAX_SEALED);
	EVP_CIPHER_CTX *ctx = NULL;
	int rc = -1, outl = 0, finl = 0;
	if (tls_ticket_encode(t, &body) != 0 || RAND_bytes(nonce, sizeof(nonce)) != 1)
		goto out;
	ctx = EVP_CIPHER_CTX_new();
	/* GCM may encrypt in place. */
	if (!ctx || !EVP_EncryptInit_ex(ctx, stek_aead(), NULL, key->key, nonce) ||
	    !EVP_EncryptUpdate(ctx, NULL, &outl, key->id, TLS_STEK_ID_LEN) ||
	    !EVP_EncryptUpdate(ctx, body.base, &outl, body.base, (int)body.len) ||
	    !EVP_EncryptFinal_ex(ctx, body.base + outl, &finl) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TLS_TAG_LEN, tag))
		goto out;
	tls_write_bytes(out, key->id, TLS_STEK_ID_LEN);
	tls_write_bytes(out, nonce, sizeof(nonce));
	tls_write_bytes(out, body.base, body.len);
	tls_write_bytes(out, tag, sizeof(tag));
	rc = out->err ? -1 : 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	tls_buf_free(&body); /* wipes the plaintext if encryption stopped half-way */
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

static bool ticket_expired(const tls_ticket *t, uint64_t now_ms)
{
	if (t->created_ms > now_ms)
		return t->created_ms - now_ms > TLS_TICKET_MAX_FUTURE_MS;
	if (now_ms - t->created_ms > (uint64_t)t->lifetime_s * 1000)
		return true;
	/* Resumption must not outlive the client's certificate. */
	return t->has_client && now_ms / 1000 >= t->client_not_after;
}

static enum tls_ticket_result ticket_open(const tls_stek_ring *ring, const uint8_t *ticket,
					  size_t len, uint64_t now_ms, tls_ticket *t,
					  bool *decrypted)
{
	uint8_t plain[TLS_TICKET_MAX_SEALED];
	size_t body_len = 0;
	enum tls_ticket_result res = TLS_TICKET_MALFORMED;
	EVP_CIPHER_CTX *ctx = NULL;

	memset(t, 0, sizeof(*t));
	if (len <= TLS_TICKET_OVERHEAD || len > TLS_TICKET_MAX_SEALED)
		return TLS_TICKET_MALFORMED;
	tls_reader r = tls_reader_init(ticket, len);
	const uint8_t *id = tls_read_bytes(&r, TLS_STEK_ID_LEN);
	const uint8_t *nonce = tls_read_bytes(&r, TLS_TICKET_NONCE_LEN);
	body_len = len - TLS_TICKET_OVERHEAD;
	const uint8_t *body = tls_read_bytes(&r, body_len);
	const uint8_t *tag = tls_read_bytes(&r, TLS_TAG_LEN);
	if (!tls_reader_done(&r))
		return TLS_TICKET_MALFORMED;

	tls_stek k;
	if (tls_stek_ring_lookup(ring, id, &k) != 0)
		return TLS_TICKET_UNKNOWN_KEY;
	const tls_stek *key = &k;

	int outl = 0, finl = 0;
	uint8_t tagbuf[TLS_TAG_LEN];
	*decrypted = true;
	memcpy(tagbuf, tag, sizeof(tagbuf)); /* SET_TAG takes a non-const pointer */
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx || !EVP_DecryptInit_ex(ctx, stek_aead(), NULL, key->key, nonce) ||
	    !EVP_DecryptUpdate(ctx, NULL, &outl, id, TLS_STEK_ID_LEN) ||
	    !EVP_DecryptUpdate(ctx, plain, &outl, body, (int)body_len) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TLS_TAG_LEN, tagbuf) ||
	    EVP_DecryptFinal_ex(ctx, plain + outl, &finl) <= 0) {
		/* The tag check inside libcrypto is constant-time. */
		res = TLS_TICKET_TAMPERED;
		goto out;
	}
	if (tls_ticket_decode(t, plain, body_len) != 0) {
		res = TLS_TICKET_MALFORMED;
		goto out;
	}
	if (ticket_expired(t, now_ms)) {
		tls_ticket_clear(t);
		res = TLS_TICKET_EXPIRED;
		goto out;
	}
	res = TLS_TICKET_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(plain, body_len);
	OPENSSL_cleanse(&k, sizeof(k));
	return res;
}

enum tls_ticket_result tls_ticket_open(tls_stek_ring *ring, const uint8_t *ticket, size_t len,
				       uint64_t now_ms, tls_ticket *t)
{
	bool decrypted = false;
	enum tls_ticket_result res = ticket_open(ring, ticket, len, now_ms, t, &decrypted);
	tls_stek_ring_count_open(ring, res, decrypted);
	return res;
}

uint32_t tls_ticket_obfuscate_age(uint64_t age_ms, uint32_t age_add)
{
	return (uint32_t)(age_ms + age_add); /* mod 2^32 */
}

uint32_t tls_ticket_client_age(uint32_t obfuscated_age, uint32_t age_add)
{
	return obfuscated_age - age_add; /* mod 2^32 */
}

bool tls_ticket_age_fresh(uint64_t created_ms, uint32_t client_age_ms, uint64_t now_ms,
			  uint32_t window_ms)
{
	/* The client counts from when it received the ticket, so on the
	 * server's clock the ClientHello arrives about one round trip after
	 * created + client_age; clock drift may put it slightly before. */
	uint64_t expected = created_ms + client_age_ms;
	uint64_t diff = now_ms >= expected ? now_ms - expected : expected - now_ms;
	return diff <= window_ms;
}

bool tls_ticket_fresh(const tls_ticket *t, uint32_t obfuscated_age, uint64_t now_ms,
		      uint32_t window_ms)
{
	return tls_ticket_age_fresh(t->created_ms, tls_ticket_client_age(obfuscated_age, t->age_add),
				    now_ms, window_ms);
}
