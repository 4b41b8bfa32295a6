/* The transcript hash (RFC 8446 §4.4.1). */
#include "tls/crypto.h"

#include <string.h>

#include <openssl/crypto.h>

#define TRANSCRIPT_PENDING_MAX (1u << 20) /* ClientHello(s) before the hash is known */
#define TLS_HS_MESSAGE_HASH 254

void tls_transcript_init(tls_transcript *t)
{
	memset(t, 0, sizeof(*t));
	tls_buf_init(&t->pending, TRANSCRIPT_PENDING_MAX);
}

int tls_transcript_set_hash(tls_transcript *t, const EVP_MD *md)
{
	if (t->md)
		return t->md == md || EVP_MD_get_type(t->md) == EVP_MD_get_type(md) ? 0 : -1;
	if (!md || t->pending.err)
		return -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new(), *snap = EVP_MD_CTX_new();
	if (!ctx || !snap || !EVP_DigestInit_ex2(ctx, tls_md_fetched(md), NULL) ||
	    (t->pending.len && !EVP_DigestUpdate(ctx, t->pending.base, t->pending.len))) {
		EVP_MD_CTX_free(ctx);
		EVP_MD_CTX_free(snap);
		return -1;
	}
	t->ctx = ctx;
	t->snap = snap;
	t->md = md;
	/* From here on messages are hashed as they come; the buffer is done. */
	tls_buf_free(&t->pending);
	return 0;
}

int tls_transcript_add(tls_transcript *t, const uint8_t *msg, size_t len)
{
	if (!t->md) {
		tls_write_bytes(&t->pending, msg, len);
		return t->pending.err ? -1 : 0;
	}
	return EVP_DigestUpdate(t->ctx, msg, len) ? 0 : -1;
}

int tls_transcript_hash(const tls_transcript *t, uint8_t *out)
{
	if (!t->md || !t->ctx || !t->snap)
		return -1;
	/* A snapshot: the running hash copied into the kept context and
	 * finished there (the transcript itself goes on); the reset gives the
	 * copy's provider state back, so an idle connection does not hold it. */
	unsigned int n = 0;
	int ok = EVP_MD_CTX_copy_ex(t->snap, t->ctx) && EVP_DigestFinal_ex(t->snap, out, &n);
	EVP_MD_CTX_reset(t->snap);
	return ok ? 0 : -1;
}

int tls_transcript_hash_extra(const tls_transcript *t, const EVP_MD *md, const uint8_t *extra,
			      size_t len, uint8_t *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok = ctx != NULL;
	if (ok && t->md)
		ok = EVP_MD_CTX_copy_ex(ctx, t->ctx);
	else if (ok)
		ok = md && !t->pending.err && EVP_DigestInit_ex2(ctx, tls_md_fetched(md), NULL) &&
		     (!t->pending.len || EVP_DigestUpdate(ctx, t->pending.base, t->pending.len));
	ok = ok && (!len || EVP_DigestUpdate(ctx, extra, len)) && EVP_DigestFinal_ex(ctx, out, &n);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

int tls_transcript_hrr_rewrite(tls_transcript *t)
{
	/* message_hash: handshake type 254, u24 length = Hash.length,
	 * Hash(ClientHello1). Called right after CH1 was added. */
	uint8_t msg[4 + EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (!t->md || !t->ctx || !EVP_DigestFinal_ex(t->ctx, msg + 4, &n))
		return -1;
	msg[0] = TLS_HS_MESSAGE_HASH;
	tls_store_u24(msg + 1, n);
	if (!EVP_DigestInit_ex2(t->ctx, tls_md_fetched(t->md), NULL) ||
	    !EVP_DigestUpdate(t->ctx, msg, 4 + (size_t)n))
		return -1;
	return 0;
}

void tls_transcript_free(tls_transcript *t)
{
	EVP_MD_CTX_free(t->ctx);
	EVP_MD_CTX_free(t->snap);
	tls_buf_free(&t->pending);
	memset(t, 0, sizeof(*t));
}
