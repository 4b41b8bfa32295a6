/* HKDF (RFC 5869) and the TLS 1.3 key schedule (RFC 8446 §7.1).
 *
 * HMAC is built directly on EVP_MD_CTX with a pre-fetched digest: the
 * EVP_MAC/EVP_KDF paths re-resolve the digest by name on every call, which
 * dominates the cost of the tiny inputs a key schedule hashes. The digest
 * context is per thread and reused, so an HMAC allocates nothing, and it
 * is found, with its digest's sizes, without a call into libcrypto: on a
 * server handshake's twenty HMACs, the small calls that looked those up
 * (thread-local lookup, once-guards, digest sizes) cost about 2% of the
 * handshake, far more than their instructions (bench/README.md). */
#include "tls/crypto.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/obj_mac.h>

#define MAX_BLOCK 128 /* SHA-384/512 block size */
#define LABEL_PREFIX "tls13 "
#define LABEL_PREFIX_LEN 6

struct part {
	const uint8_t *p;
	size_t n;
};

/* One reusable digest context per thread: re-initialising a context with
 * the same digest keeps its provider state, whereas a fresh one costs an
 * allocation pair per HMAC. `ready` says the context was just initialised
 * for that digest (the wipe at the end of an HMAC leaves it so), so the
 * next hash on the thread starts without another EVP_DigestInit_ex2: one
 * of an HMAC's four. Freed when the thread exits. */
struct hash_ctx {
	EVP_MD_CTX *ctx;
	const EVP_MD *ready;
	bool owned;                /* not the thread's: freed by hash_ctx_put */
	/* The digest last asked for and what it resolves to (the fetched
	 * implementation, its block and output sizes): a key schedule asks
	 * for the same one every time. */
	const EVP_MD *asked, *md;
	int bs, hs;
};

static CRYPTO_ONCE tl_once = CRYPTO_ONCE_STATIC_INIT;
static CRYPTO_THREAD_LOCAL tl_hash;
static int tl_ok;
/* The same pointer as tl_hash's, read without a library call; tl_hash
 * stays the owner, so the context is still freed when the thread exits. */
static __thread struct hash_ctx *tl_hash_fast;

static void tl_free(void *p)
{
	struct hash_ctx *h = p;
	if (h == tl_hash_fast)
		tl_hash_fast = NULL;
	if (h)
		EVP_MD_CTX_free(h->ctx);
	free(h);
}

static void tl_init(void)
{
	tl_ok = CRYPTO_THREAD_init_local(&tl_hash, tl_free);
}

/* The calling thread's context, or *spare filled with a fresh one if
 * thread-local storage is unavailable. NULL when out of memory. */
static struct hash_ctx *hash_ctx_get(struct hash_ctx *spare)
{
	if (tl_hash_fast)
		return tl_hash_fast;
	if (CRYPTO_THREAD_run_once(&tl_once, tl_init) && tl_ok) {
		struct hash_ctx *h = CRYPTO_THREAD_get_local(&tl_hash);
		if (!h) {
			h = calloc(1, sizeof(*h));
			if (!h || !(h->ctx = EVP_MD_CTX_new()) ||
			    !CRYPTO_THREAD_set_local(&tl_hash, h)) {
				tl_free(h);
				h = NULL;
			}
		}
		if (h)
			return tl_hash_fast = h;
	}
	*spare = (struct hash_ctx){ .ctx = EVP_MD_CTX_new(), .owned = true };
	return spare->ctx ? spare : NULL;
}

/* md's fetched implementation with h->bs and h->hs set, NULL if it has
 * none usable for an HMAC here. The memo compares pointers: the engine
 * passes only libcrypto's static digests and its own fetched ones, which
 * live as long as the process (until tls_engine_cleanup). */
static const EVP_MD *hash_resolve(struct hash_ctx *h, const EVP_MD *md)
{
	if (md && md == h->asked)
		return h->md;
	const EVP_MD *f = tls_md_fetched(md);
	int bs = f ? EVP_MD_get_block_size(f) : 0, hs = f ? EVP_MD_get_size(f) : 0;
	if (bs <= 0 || bs > MAX_BLOCK || bs % 8 || hs <= 0 || hs > bs || hs > EVP_MAX_MD_SIZE)
		return NULL;
	h->asked = md;
	h->md = f;
	h->bs = bs;
	h->hs = hs;
	return f;
}

static void hash_ctx_put(struct hash_ctx *h)
{
	if (h->owned)
		EVP_MD_CTX_free(h->ctx);
}

/* Starts a digest of md on h (a no-op if h is freshly set up for md). */
static int hash_begin(struct hash_ctx *h, const EVP_MD *md)
{
	bool ready = h->ready == md;
	h->ready = NULL;
	return ready || EVP_DigestInit_ex2(h->ctx, md, NULL);
}

/* Resets h to md's initial state, which also wipes what the last digest
 * left in it (an HMAC output, key material) without giving up the provider
 * context. */
static void hash_wipe(struct hash_ctx *h, const EVP_MD *md)
{
	if (EVP_DigestInit_ex2(h->ctx, md, NULL)) {
		h->ready = md;
	} else {
		h->ready = NULL;
		EVP_MD_CTX_reset(h->ctx);
	}
}

/* Room for a pad block followed by a whole HKDF-Expand-Label input
 * (T(i-1), the HkdfLabel, the counter), so each HMAC half is one digest
 * update: per-call overhead, not hashing, is what a key schedule pays. */
#define HMAC_BUF (MAX_BLOCK + TLS_MAX_HASH + 2 + 1 + 255 + 1 + 255 + 1)

/* dst = k XOR a repeated pad byte, 8 bytes at a time (bs is 64 or 128):
 * byte by byte this was most of the HMAC's own instructions. */
static void xor_pad(uint8_t *dst, const uint8_t *k, size_t bs, uint8_t pad)
{
	const uint64_t p = 0x0101010101010101u * pad;
	for (size_t i = 0; i < bs; i += 8) {
		uint64_t w;
		memcpy(&w, k + i, 8);
		w ^= p;
		memcpy(dst + i, &w, 8);
	}
}

/* The calling thread's context (or *spare's) resolved for md, NULL if
 * none could be made or md cannot drive an HMAC here. Give it back with
 * hash_ctx_put. */
static struct hash_ctx *hash_for(const EVP_MD *md, struct hash_ctx *spare)
{
	struct hash_ctx *h = hash_ctx_get(spare);
	if (h && !hash_resolve(h, md)) {
		hash_ctx_put(h);
		h = NULL;
	}
	return h;
}

/* HMAC with h's digest over the concatenation of parts (RFC 2104). */
static int hmac_run(struct hash_ctx *h, const uint8_t *key, size_t key_len,
		    const struct part *parts, size_t n_parts, uint8_t *out)
{
	/* The padded key and the work buffer side by side: one wipe for both. */
	uint8_t mem[MAX_BLOCK + HMAC_BUF];
	uint8_t *k = mem, *buf = mem + MAX_BLOCK;
	unsigned int ilen = 0, olen = 0;
	size_t total = 0, used = 0;
	const EVP_MD *md = h->md;
	EVP_MD_CTX *ctx = h->ctx;
	size_t bs = (size_t)h->bs;
	int ok = 0;

	memset(k, 0, bs);
	if (key_len > bs) {
		unsigned int kl = 0;
		if (!hash_begin(h, md) || !EVP_DigestUpdate(ctx, key, key_len) ||
		    !EVP_DigestFinal_ex(ctx, k, &kl))
			goto out;
	} else if (key_len) {
		memcpy(k, key, key_len);
	}
	xor_pad(buf, k, bs, 0x36);
	used = bs + EVP_MAX_MD_SIZE; /* pad block + inner hash */
	for (size_t i = 0; i < n_parts; i++)
		total += parts[i].n;
	if (!hash_begin(h, md))
		goto out;
	if (total <= HMAC_BUF - bs) {
		size_t n = bs;
		for (size_t i = 0; i < n_parts; i++) {
			if (parts[i].n)
				memcpy(buf + n, parts[i].p, parts[i].n);
			n += parts[i].n;
		}
		if (n > used)
			used = n;
		if (!EVP_DigestUpdate(ctx, buf, n))
			goto out;
	} else {
		if (!EVP_DigestUpdate(ctx, buf, bs))
			goto out;
		for (size_t i = 0; i < n_parts; i++)
			if (parts[i].n && !EVP_DigestUpdate(ctx, parts[i].p, parts[i].n))
				goto out;
	}
	if (!EVP_DigestFinal_ex(ctx, buf + bs, &ilen) || ilen > (unsigned int)h->hs)
		goto out;
	xor_pad(buf, k, bs, 0x5c);
	if (!hash_begin(h, md) || !EVP_DigestUpdate(ctx, buf, bs + ilen) ||
	    !EVP_DigestFinal_ex(ctx, out, &olen))
		goto out;
	ok = 1;
out:
	OPENSSL_cleanse(mem, MAX_BLOCK + used);
	if (!h->owned)
		hash_wipe(h, md);
	return ok ? 0 : -1;
}

static int hmac_parts(const EVP_MD *md, const uint8_t *key, size_t key_len,
		      const struct part *parts, size_t n_parts, uint8_t *out)
{
	struct hash_ctx spare;
	struct hash_ctx *h = hash_for(md, &spare);
	if (!h)
		return -1;
	int rc = hmac_run(h, key, key_len, parts, n_parts, out);
	hash_ctx_put(h);
	return rc;
}

int tls_digest(const EVP_MD *md, const void *data, size_t len, uint8_t *out, size_t *out_len)
{
	unsigned int n = 0;
	struct hash_ctx spare;
	struct hash_ctx *h = hash_for(md, &spare);
	if (!h)
		return -1;
	int ok = hash_begin(h, h->md) && EVP_DigestUpdate(h->ctx, data, len) &&
		 EVP_DigestFinal_ex(h->ctx, out, &n);
	if (!ok && !h->owned)
		EVP_MD_CTX_reset(h->ctx);
	hash_ctx_put(h);
	if (!ok)
		return -1;
	*out_len = n;
	return 0;
}

int tls_hmac(const EVP_MD *md, const uint8_t *key, size_t key_len,
	     const uint8_t *data, size_t len, uint8_t *out)
{
	struct part p = { data, len };
	return hmac_parts(md, key, key_len, &p, 1, out);
}

int tls_hkdf_extract(const EVP_MD *md, const uint8_t *salt, size_t salt_len,
		     const uint8_t *ikm, size_t ikm_len, uint8_t *out)
{
	static const uint8_t zeros[TLS_MAX_HASH * 2];
	int hs = EVP_MD_get_size(md);
	if (hs <= 0 || (size_t)hs > sizeof(zeros))
		return -1;
	if (!salt) {
		salt = zeros;
		salt_len = (size_t)hs;
	}
	if (!ikm) {
		ikm = zeros;
		ikm_len = (size_t)hs;
	}
	struct part p = { ikm, ikm_len };
	return hmac_parts(md, salt, salt_len, &p, 1, out);
}

int tls_hkdf_expand_label(const EVP_MD *md, const uint8_t *secret, size_t secret_len,
			  const char *label, const uint8_t *context, size_t context_len,
			  uint8_t *out, size_t out_len)
{
	/* struct { uint16 length; opaque label<7..255>; opaque context<0..255>; } */
	uint8_t info[2 + 1 + 255 + 1 + 255];
	uint8_t t[EVP_MAX_MD_SIZE];
	size_t label_len = strlen(label);
	struct hash_ctx spare;

	if (label_len > 255 - LABEL_PREFIX_LEN || context_len > 255 || out_len > 0xffff ||
	    (context_len && !context))
		return -1;
	struct hash_ctx *h = hash_for(md, &spare);
	if (!h)
		return -1;
	size_t hs = (size_t)h->hs;
	if (out_len > 255 * hs) {
		hash_ctx_put(h);
		return -1;
	}
	size_t n = 0;
	tls_store_u16(info, (uint16_t)out_len);
	n += 2;
	info[n++] = (uint8_t)(LABEL_PREFIX_LEN + label_len);
	memcpy(info + n, LABEL_PREFIX, LABEL_PREFIX_LEN);
	n += LABEL_PREFIX_LEN;
	memcpy(info + n, label, label_len);
	n += label_len;
	info[n++] = (uint8_t)context_len;
	if (context_len)
		memcpy(info + n, context, context_len);
	n += context_len;

	/* HKDF-Expand: T(i) = HMAC(PRK, T(i-1) | info | i) */
	size_t done = 0, tlen = 0;
	uint8_t ctr = 1;
	int rc = 0;
	while (done < out_len) {
		struct part parts[3] = { { t, tlen }, { info, n }, { &ctr, 1 } };
		if (hmac_run(h, secret, secret_len, parts, 3, t)) {
			rc = -1;
			break;
		}
		tlen = hs;
		size_t take = out_len - done < tlen ? out_len - done : tlen;
		memcpy(out + done, t, take);
		done += take;
		ctr++;
	}
	hash_ctx_put(h);
	OPENSSL_cleanse(t, sizeof(t));
	return rc;
}

int tls_derive_secret(const EVP_MD *md, const uint8_t *secret, const char *label,
		      const uint8_t *transcript_hash, uint8_t *out)
{
	int hs = EVP_MD_get_size(md);
	if (hs <= 0)
		return -1;
	return tls_hkdf_expand_label(md, secret, (size_t)hs, label, transcript_hash, (size_t)hs,
				     out, (size_t)hs);
}

/* Without a PSK the early secret, Hash("") and the salt derived from the
 * early secret are constants of the hash; they are computed once per
 * process and then only read. */
struct ks_consts {
	int nid;
	bool ok;
	uint8_t empty_hash[TLS_MAX_HASH];
	uint8_t early[TLS_MAX_HASH];   /* HKDF-Extract(0, 0) */
	uint8_t derived[TLS_MAX_HASH]; /* Derive-Secret(early, "derived", "") */
};

static CRYPTO_ONCE consts_once = CRYPTO_ONCE_STATIC_INIT;
static struct ks_consts consts[] = { { NID_sha256, false, { 0 }, { 0 }, { 0 } },
				     { NID_sha384, false, { 0 }, { 0 }, { 0 } } };

static void consts_compute(struct ks_consts *c)
{
	const EVP_MD *md = tls_md_fetched(c->nid == NID_sha256 ? EVP_sha256() : EVP_sha384());
	unsigned int n = 0;
	int hs = EVP_MD_get_size(md);
	c->ok = hs > 0 && hs <= TLS_MAX_HASH && EVP_Digest("", 0, c->empty_hash, &n, md, NULL) &&
		n == (unsigned int)hs && !tls_hkdf_extract(md, NULL, 0, NULL, 0, c->early) &&
		!tls_derive_secret(md, c->early, "derived", c->empty_hash, c->derived);
}

static void consts_init(void)
{
	for (size_t i = 0; i < sizeof(consts) / sizeof(consts[0]); i++)
		consts_compute(&consts[i]);
}

static const struct ks_consts *consts_for(const EVP_MD *md)
{
	if (!CRYPTO_THREAD_run_once(&consts_once, consts_init))
		return NULL;
	int nid = EVP_MD_get_type(md);
	for (size_t i = 0; i < sizeof(consts) / sizeof(consts[0]); i++)
		if (consts[i].nid == nid)
			return consts[i].ok ? &consts[i] : NULL;
	return NULL;
}

/* Derive-Secret(ks's secret, label, hash): the schedule knows its length. */
static int ks_derive(const tls_keysched *ks, const char *label, const uint8_t *hash,
		     uint8_t *out)
{
	return tls_hkdf_expand_label(ks->md, ks->secret, ks->hash_len, label, hash, ks->hash_len,
				     out, ks->hash_len);
}

/* Derive-Secret(secret, "derived", Hash("")), the salt of the next stage. */
static int derived_salt(const tls_keysched *ks, uint8_t *out)
{
	const struct ks_consts *c = ks->consts;
	if (c) {
		/* The no-PSK early secret always gives the same salt. */
		if (ks->stage == 1 && CRYPTO_memcmp(ks->secret, c->early, ks->hash_len) == 0) {
			memcpy(out, c->derived, ks->hash_len);
			return 0;
		}
		return ks_derive(ks, "derived", c->empty_hash, out);
	}
	uint8_t empty[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (!EVP_Digest("", 0, empty, &n, tls_md_fetched(ks->md), NULL) || n != ks->hash_len)
		return -1;
	return ks_derive(ks, "derived", empty, out);
}

int tls_keysched_init(tls_keysched *ks, const EVP_MD *md, const uint8_t *psk, size_t psk_len)
{
	memset(ks, 0, sizeof(*ks));
	int hs = md ? EVP_MD_get_size(md) : 0;
	if (hs <= 0 || hs > TLS_MAX_HASH)
		return -1;
	ks->md = md;
	ks->hash_len = (size_t)hs;
	ks->consts = consts_for(md);
	const struct ks_consts *c = psk_len ? NULL : ks->consts;
	if (c) {
		memcpy(ks->secret, c->early, ks->hash_len);
	} else if (tls_hkdf_extract(md, NULL, 0, psk_len ? psk : NULL, psk_len, ks->secret)) {
		/* No PSK: the IKM is a string of Hash.length zeros. */
		return -1;
	}
	ks->stage = 1;
	return 0;
}

int tls_keysched_handshake(tls_keysched *ks, const uint8_t *dhe, size_t dhe_len)
{
	uint8_t salt[TLS_MAX_HASH];
	if (ks->stage != 1 || derived_salt(ks, salt))
		return -1;
	int rc = tls_hkdf_extract(ks->md, salt, ks->hash_len, dhe_len ? dhe : NULL, dhe_len,
				  ks->secret);
	OPENSSL_cleanse(salt, sizeof(salt));
	if (rc)
		return -1;
	ks->stage = 2;
	return 0;
}

int tls_keysched_master(tls_keysched *ks)
{
	uint8_t salt[TLS_MAX_HASH];
	if (ks->stage != 2 || derived_salt(ks, salt))
		return -1;
	int rc = tls_hkdf_extract(ks->md, salt, ks->hash_len, NULL, 0, ks->secret);
	OPENSSL_cleanse(salt, sizeof(salt));
	if (rc)
		return -1;
	ks->stage = 3;
	return 0;
}

int tls_keysched_derive(const tls_keysched *ks, const char *label,
			const uint8_t *transcript_hash, uint8_t *out)
{
	if (ks->stage < 1 || ks->stage > 3)
		return -1;
	return ks_derive(ks, label, transcript_hash, out);
}

void tls_keysched_clear(tls_keysched *ks)
{
	OPENSSL_cleanse(ks, sizeof(*ks));
}

int tls_finished_mac(const EVP_MD *md, const uint8_t *base_secret,
		     const uint8_t *transcript_hash, uint8_t *out)
{
	uint8_t fkey[TLS_MAX_HASH];
	int hs = EVP_MD_get_size(md);
	if (hs <= 0 || hs > TLS_MAX_HASH)
		return -1;
	int rc = tls_hkdf_expand_label(md, base_secret, (size_t)hs, "finished", NULL, 0, fkey,
				       (size_t)hs);
	if (!rc)
		rc = tls_hmac(md, fkey, (size_t)hs, transcript_hash, (size_t)hs, out);
	OPENSSL_cleanse(fkey, sizeof(fkey));
	return rc;
}

int tls_next_traffic_secret(const tls_cipher *cs, const uint8_t *secret, uint8_t *out)
{
	if (!cs)
		return -1;
	return tls_hkdf_expand_label(cs->md(), secret, cs->hash_len, "traffic upd", NULL, 0, out,
				     cs->hash_len);
}

bool tls_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

void tls_keysched_cleanup(void)
{
	if (!tl_ok)
		return;
	tl_free(CRYPTO_THREAD_get_local(&tl_hash));
	CRYPTO_THREAD_set_local(&tl_hash, NULL);
}
