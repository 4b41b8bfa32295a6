/* Record protection with one traffic key (RFC 8446 §5.2, §5.3).
 *
 * The cipher context is keyed once when the key is set up (or, for a lazily
 * set key, on its first record); each record only sets its nonce, which is
 * much cheaper than a full re-init. A new epoch re-keys the same context. */
#include "tls/crypto.h"

#include <string.h>

#include <openssl/crypto.h>

#define CT_APPLICATION_DATA 23
#define LEGACY_RECORD_VERSION 0x0303
#define MAX_INNER (TLS_MAX_PLAINTEXT + 1) /* content + type + padding */

int tls_traffic_key_derive(const tls_cipher *cs, const uint8_t *secret,
			   uint8_t *key, uint8_t iv[TLS_IV_LEN])
{
	if (!cs)
		return -1;
	const EVP_MD *md = cs->md();
	if (tls_hkdf_expand_label(md, secret, cs->hash_len, "key", NULL, 0, key, cs->key_len) ||
	    tls_hkdf_expand_label(md, secret, cs->hash_len, "iv", NULL, 0, iv, TLS_IV_LEN))
		return -1;
	return 0;
}

/* AES-CCM wants its nonce and tag lengths before the key and the message
 * length before the additional data. */
static bool is_ccm(const tls_cipher *cs)
{
	return cs->id == TLS_AES_128_CCM_SHA256;
}

/* Keys k->ctx (made if missing) with k->key. An existing context already
 * set up for this AEAD is only re-keyed: no allocation, no cipher lookup
 * (CCM keeps its nonce and tag lengths). */
static int key_ctx(tls_traffic_key *k)
{
	const EVP_CIPHER *aead = tls_aead_fetched(k->cs);
	if (!aead)
		return -1;
	if (!k->ctx && !(k->ctx = EVP_CIPHER_CTX_new()))
		return -1;
	if (EVP_CIPHER_CTX_get0_cipher(k->ctx) == aead) {
		if (!EVP_CipherInit_ex(k->ctx, NULL, NULL, k->key, NULL, 1))
			return -1;
	} else if (is_ccm(k->cs)) {
		if (!EVP_CipherInit_ex(k->ctx, aead, NULL, NULL, NULL, 1) ||
		    EVP_CIPHER_CTX_ctrl(k->ctx, EVP_CTRL_AEAD_SET_IVLEN, TLS_IV_LEN, NULL) <= 0 ||
		    EVP_CIPHER_CTX_ctrl(k->ctx, EVP_CTRL_AEAD_SET_TAG, TLS_TAG_LEN, NULL) <= 0 ||
		    !EVP_CipherInit_ex(k->ctx, NULL, NULL, k->key, NULL, 1))
			return -1;
	} else if (!EVP_CipherInit_ex(k->ctx, aead, NULL, k->key, NULL, 1)) {
		return -1;
	}
	k->keyed = true;
	return 0;
}

int tls_traffic_key_init(tls_traffic_key *k, const tls_cipher *cs, const uint8_t *secret)
{
	memset(k, 0, sizeof(*k));
	if (!cs || tls_traffic_key_derive(cs, secret, k->key, k->iv))
		goto fail;
	k->cs = cs;
	if (key_ctx(k))
		goto fail;
	return 0;
fail:
	tls_traffic_key_clear(k);
	return -1;
}

int tls_traffic_key_set(tls_traffic_key *k, const tls_cipher *cs, const uint8_t *secret,
			bool lazy)
{
	/* Everything of the old epoch goes; only the context object stays. */
	EVP_CIPHER_CTX *ctx = k->ctx;
	OPENSSL_cleanse(k, sizeof(*k));
	k->ctx = ctx;
	if (!cs || tls_traffic_key_derive(cs, secret, k->key, k->iv))
		goto fail;
	k->cs = cs;
	/* Re-keying overwrites the old key schedule; a lazy key must not
	 * leave it lying around until its first record. */
	if (ctx && lazy)
		EVP_CIPHER_CTX_reset(ctx);
	if (!lazy && key_ctx(k))
		goto fail;
	return 0;
fail:
	tls_traffic_key_clear(k);
	return -1;
}

void tls_traffic_key_clear(tls_traffic_key *k)
{
	EVP_CIPHER_CTX_free(k->ctx);
	OPENSSL_cleanse(k, sizeof(*k));
	k->ctx = NULL;
	k->cs = NULL;
	k->keyed = false;
}

/* Sets the per-record nonce (iv XOR left-padded big-endian seq) and the
 * direction; for decryption the expected tag, and for CCM the length of
 * the `inner` bytes to come. */
static int set_nonce(tls_traffic_key *k, int enc, const uint8_t *tag, size_t inner)
{
	uint8_t nonce[TLS_IV_LEN];
	int outl = 0;
	memcpy(nonce, k->iv, TLS_IV_LEN);
	for (int i = 0; i < 8; i++)
		nonce[TLS_IV_LEN - 1 - i] ^= (uint8_t)(k->seq >> (8 * i));
	/* OpenSSL's AES-CCM picks its bulk routine for one direction when
	 * keyed: a key used the other way (an RX key's first record) is
	 * keyed again. A traffic key works one way, so this happens once. */
	const uint8_t *key =
		is_ccm(k->cs) && EVP_CIPHER_CTX_is_encrypting(k->ctx) != enc ? k->key : NULL;
	int ok = EVP_CipherInit_ex(k->ctx, NULL, NULL, key, nonce, enc) &&
		 (!tag || EVP_CIPHER_CTX_ctrl(k->ctx, EVP_CTRL_AEAD_SET_TAG, TLS_TAG_LEN,
					      (void *)tag) > 0) &&
		 (!is_ccm(k->cs) || EVP_CipherUpdate(k->ctx, NULL, &outl, NULL, (int)inner));
	OPENSSL_cleanse(nonce, sizeof(nonce));
	return ok ? 0 : -1;
}

static void record_header(uint8_t hdr[TLS_RECORD_HEADER], size_t len)
{
	hdr[0] = CT_APPLICATION_DATA;
	tls_store_u16(hdr + 1, LEGACY_RECORD_VERSION);
	tls_store_u16(hdr + 3, (uint16_t)len);
}

int tls_record_seal(tls_traffic_key *k, uint8_t type, const uint8_t *data, size_t len,
		    size_t pad, tls_buf *out)
{
	if (!k->cs || type == 0 || len > TLS_MAX_PLAINTEXT || pad > MAX_INNER - 1 - len ||
	    k->seq == UINT64_MAX || (!k->keyed && key_ctx(k)))
		return -1;
	size_t inner = len + 1 + pad;
	size_t clen = inner + TLS_TAG_LEN;
	uint8_t *rec = tls_buf_reserve(out, TLS_RECORD_HEADER + clen);
	if (!rec)
		return -1;
	record_header(rec, clen);
	uint8_t *body = rec + TLS_RECORD_HEADER;
	if (len)
		memmove(body, data, len);
	body[len] = type;
	memset(body + len + 1, 0, pad);

	int outl = 0, finl = 0;
	if (set_nonce(k, 1, NULL, inner) ||
	    !EVP_CipherUpdate(k->ctx, NULL, &outl, rec, TLS_RECORD_HEADER) ||
	    !EVP_CipherUpdate(k->ctx, body, &outl, body, (int)inner) ||
	    !EVP_CipherFinal_ex(k->ctx, body + outl, &finl) ||
	    (size_t)(outl + finl) != inner ||
	    !EVP_CIPHER_CTX_ctrl(k->ctx, EVP_CTRL_AEAD_GET_TAG, TLS_TAG_LEN, body + inner)) {
		OPENSSL_cleanse(rec, TLS_RECORD_HEADER + clen);
		return -1;
	}
	out->len += TLS_RECORD_HEADER + clen;
	k->seq++;
	return 0;
}

int tls_record_open(tls_traffic_key *k, uint8_t *rec, size_t rec_len,
		    uint8_t *type, uint8_t **data, size_t *data_len)
{
	if (!k->cs || rec_len < TLS_RECORD_HEADER || k->seq == UINT64_MAX ||
	    (!k->keyed && key_ctx(k)))
		return -1;
	tls_reader hdr = tls_reader_init(rec, TLS_RECORD_HEADER);
	uint8_t outer = tls_read_u8(&hdr);
	tls_read_u16(&hdr); /* legacy_record_version: ignored (§5.1), authenticated as AAD */
	size_t clen = tls_read_u16(&hdr);
	if (outer != CT_APPLICATION_DATA)
		return -2;
	if (clen != rec_len - TLS_RECORD_HEADER)
		return -1;
	if (clen > TLS_MAX_CIPHERTEXT)
		return -3;
	if (clen < TLS_TAG_LEN + 1)
		return -1; /* cannot hold a tag and a content type: cannot authenticate */

	uint8_t *body = rec + TLS_RECORD_HEADER;
	size_t inner = clen - TLS_TAG_LEN;
	int outl = 0, finl = 0;
	if (set_nonce(k, 0, body + inner, inner) ||
	    !EVP_CipherUpdate(k->ctx, NULL, &outl, rec, TLS_RECORD_HEADER) ||
	    !EVP_CipherUpdate(k->ctx, body, &outl, body, (int)inner) ||
	    EVP_CipherFinal_ex(k->ctx, body + outl, &finl) <= 0) {
		/* Never hand out unauthenticated plaintext. */
		OPENSSL_cleanse(body, inner);
		return -1;
	}
	/* Sequence advances only for authentic records, so a failed trial
	 * decryption (skipped 0-RTT) leaves the key untouched. */
	k->seq++;
	if (inner > MAX_INNER)
		return -3;
	size_t i = inner;
	while (i > 0 && body[i - 1] == 0)
		i--;
	if (i == 0)
		return -2;
	*type = body[i - 1];
	*data = body;
	*data_len = i - 1;
	return 0;
}
