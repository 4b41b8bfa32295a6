/* Signature schemes (RFC 8446 §4.2.3) and the CertificateVerify content
 * (§4.4.3). ECDSA and RSA hash first (with a pre-fetched digest) and then
 * sign the hash with EVP_PKEY_sign/verify; Ed25519 signs the message itself
 * through EVP_DigestSign. Setting up a signature context resolves the key
 * manager, the signature method and the digest by name (~24k instructions,
 * a tenth of an ECDSA signature), so a tls_sig_key does it once per
 * configured key and scheme and only duplicates the context per signature. */
#include "tls/crypto.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>

enum sig_kind { SIG_ECDSA, SIG_RSA_PSS_RSAE, SIG_RSA_PSS_PSS, SIG_RSA_PKCS1, SIG_ED25519 };

struct scheme_info {
	uint16_t id;
	enum sig_kind kind;
	const EVP_MD *(*md)(void); /* NULL: Ed25519 signs the message itself */
	int curve_nid;             /* ECDSA: the curve the scheme is bound to */
};

static const struct scheme_info schemes[] = {
	{ TLS_SIG_ECDSA_SECP256R1_SHA256, SIG_ECDSA, EVP_sha256, NID_X9_62_prime256v1 },
	{ TLS_SIG_ECDSA_SECP384R1_SHA384, SIG_ECDSA, EVP_sha384, NID_secp384r1 },
	{ TLS_SIG_ECDSA_SECP521R1_SHA512, SIG_ECDSA, EVP_sha512, NID_secp521r1 },
	{ TLS_SIG_RSA_PSS_RSAE_SHA256, SIG_RSA_PSS_RSAE, EVP_sha256, 0 },
	{ TLS_SIG_RSA_PSS_RSAE_SHA384, SIG_RSA_PSS_RSAE, EVP_sha384, 0 },
	{ TLS_SIG_RSA_PSS_RSAE_SHA512, SIG_RSA_PSS_RSAE, EVP_sha512, 0 },
	{ TLS_SIG_RSA_PSS_PSS_SHA256, SIG_RSA_PSS_PSS, EVP_sha256, 0 },
	{ TLS_SIG_RSA_PSS_PSS_SHA384, SIG_RSA_PSS_PSS, EVP_sha384, 0 },
	{ TLS_SIG_RSA_PSS_PSS_SHA512, SIG_RSA_PSS_PSS, EVP_sha512, 0 },
	{ TLS_SIG_RSA_PKCS1_SHA256, SIG_RSA_PKCS1, EVP_sha256, 0 },
	{ TLS_SIG_RSA_PKCS1_SHA384, SIG_RSA_PKCS1, EVP_sha384, 0 },
	{ TLS_SIG_RSA_PKCS1_SHA512, SIG_RSA_PKCS1, EVP_sha512, 0 },
	{ TLS_SIG_ED25519, SIG_ED25519, NULL, 0 },
};

static const struct scheme_info *scheme_find(uint16_t id)
{
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (schemes[i].id == id)
			return &schemes[i];
	return NULL;
}

/* The key's kind as far as signature schemes care, from integer ids: no
 * name lookups. For EC keys, the curve's NID. */
struct key_info {
	int base_id;               /* EVP_PKEY_EC, EVP_PKEY_RSA, ... */
	int curve_nid;             /* EC only */
	int size;                  /* EVP_PKEY_get_size: max signature bytes */
};

static int ec_curve_nid(EVP_PKEY *key)
{
	static const struct {
		const char *name;
		int nid;
	} curves[] = {
		{ "prime256v1", NID_X9_62_prime256v1 }, { "P-256", NID_X9_62_prime256v1 },
		{ "secp384r1", NID_secp384r1 },          { "P-384", NID_secp384r1 },
		{ "secp521r1", NID_secp521r1 },          { "P-521", NID_secp521r1 },
	};
	char name[64];
	size_t len = 0;
	if (!EVP_PKEY_get_group_name(key, name, sizeof(name), &len))
		return NID_undef;
	/* The three curves of the ECDSA schemes by the names providers use;
	 * anything else cannot fit a scheme, whatever its NID. */
	for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (strcmp(name, curves[i].name) == 0)
			return curves[i].nid;
	return NID_undef;
}

static void key_info_get(EVP_PKEY *key, struct key_info *ki)
{
	ki->base_id = EVP_PKEY_get_base_id(key);
	ki->curve_nid = ki->base_id == EVP_PKEY_EC ? ec_curve_nid(key) : NID_undef;
	ki->size = EVP_PKEY_get_size(key);
}

static bool scheme_fits(const struct scheme_info *s, const struct key_info *ki)
{
	switch (s->kind) {
	case SIG_ECDSA:
		return ki->base_id == EVP_PKEY_EC && ki->curve_nid == s->curve_nid;
	case SIG_RSA_PSS_RSAE:
	case SIG_RSA_PKCS1:
	case SIG_RSA_PSS_PSS:
		if (ki->base_id != (s->kind == SIG_RSA_PSS_PSS ? EVP_PKEY_RSA_PSS : EVP_PKEY_RSA))
			return false;
		/* PSS needs emLen >= hLen + sLen + 2 with sLen = hLen. */
		return s->kind == SIG_RSA_PKCS1 || ki->size >= 2 * EVP_MD_get_size(s->md()) + 2;
	case SIG_ED25519:
		return ki->base_id == EVP_PKEY_ED25519;
	}
	return false;
}

bool tls_sig_scheme_fits_key(uint16_t scheme, EVP_PKEY *key)
{
	const struct scheme_info *s = scheme_find(scheme);
	struct key_info ki;
	if (!s || !key)
		return false;
	key_info_get(key, &ki);
	return scheme_fits(s, &ki);
}

bool tls_sig_scheme_ok_for_cv(uint16_t scheme)
{
	const struct scheme_info *s = scheme_find(scheme);
	return s && s->kind != SIG_RSA_PKCS1;
}

size_t tls_cv_content(bool server, const uint8_t *hash, size_t hash_len, uint8_t *out)
{
	static const char srv[] = "TLS 1.3, server CertificateVerify";
	static const char cli[] = "TLS 1.3, client CertificateVerify";
	const char *ctx = server ? srv : cli;
	size_t n = 0, cl = sizeof(srv) - 1;
	if (hash_len > TLS_MAX_HASH)
		return 0;
	memset(out, 0x20, 64);
	n += 64;
	memcpy(out + n, ctx, cl);
	n += cl;
	out[n++] = 0;
	memcpy(out + n, hash, hash_len);
	return n + hash_len;
}

/* Ed25519: a digest-sign context (no separate hash). */
static EVP_MD_CTX *ed_ctx(EVP_PKEY *key, bool sign)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx && (sign ? EVP_DigestSignInit(ctx, NULL, NULL, NULL, key)
			 : EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key)) <= 0) {
		EVP_MD_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* A sign or verify context for a hash-then-sign scheme: the digest and,
 * for RSA, the padding are set once here. */
static EVP_PKEY_CTX *hash_sig_ctx(const struct scheme_info *s, EVP_PKEY *key, bool sign)
{
	const EVP_MD *md = tls_md_fetched(s->md());
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	int ok = pctx && (sign ? EVP_PKEY_sign_init(pctx) : EVP_PKEY_verify_init(pctx)) > 0 &&
		 EVP_PKEY_CTX_set_signature_md(pctx, md) > 0;
	if (ok && (s->kind == SIG_RSA_PSS_RSAE || s->kind == SIG_RSA_PSS_PSS)) {
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) > 0;
	} else if (ok && s->kind == SIG_RSA_PKCS1) {
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
	}
	if (!ok) {
		EVP_PKEY_CTX_free(pctx);
		return NULL;
	}
	return pctx;
}

/* Hashes msg with the scheme's digest and signs the hash with pctx. */
static int hash_sign(EVP_PKEY_CTX *pctx, const struct scheme_info *s, int max,
		     const uint8_t *msg, size_t len, tls_buf *sig)
{
	uint8_t h[EVP_MAX_MD_SIZE];
	size_t hlen = 0;
	uint8_t *dst = max > 0 ? tls_buf_reserve(sig, (size_t)max) : NULL;
	size_t n = (size_t)max;
	if (!dst || tls_digest(s->md(), msg, len, h, &hlen) ||
	    EVP_PKEY_sign(pctx, dst, &n, h, hlen) <= 0 || n > (size_t)max)
		return -1;
	sig->len += n;
	return 0;
}

static int ed_sign(EVP_PKEY *key, int max, const uint8_t *msg, size_t len, tls_buf *sig)
{
	uint8_t *dst = max > 0 ? tls_buf_reserve(sig, (size_t)max) : NULL;
	EVP_MD_CTX *ctx = dst ? ed_ctx(key, true) : NULL;
	size_t n = (size_t)max;
	int rc = -1;
	if (ctx && EVP_DigestSign(ctx, dst, &n, msg, len) > 0 && n <= (size_t)max) {
		sig->len += n;
		rc = 0;
	}
	EVP_MD_CTX_free(ctx);
	return rc;
}

int tls_sig_sign(EVP_PKEY *key, uint16_t scheme, const uint8_t *msg, size_t len, tls_buf *sig)
{
	const struct scheme_info *s = scheme_find(scheme);
	struct key_info ki;
	if (!s || !key)
		return -1;
	key_info_get(key, &ki);
	if (!scheme_fits(s, &ki))
		return -1;
	if (!s->md)
		return ed_sign(key, ki.size, msg, len, sig);
	EVP_PKEY_CTX *pctx = hash_sig_ctx(s, key, true);
	int rc = pctx ? hash_sign(pctx, s, ki.size, msg, len, sig) : -1;
	EVP_PKEY_CTX_free(pctx);
	return rc;
}

int tls_sig_verify(EVP_PKEY *key, uint16_t scheme, const uint8_t *msg, size_t len,
		   const uint8_t *sig, size_t sig_len)
{
	const struct scheme_info *s = scheme_find(scheme);
	int ok = 0;
	if (!s || !tls_sig_scheme_fits_key(scheme, key))
		return TLS_SIG_KEY_MISMATCH;
	if (!s->md) {
		EVP_MD_CTX *ctx = ed_ctx(key, false);
		ok = ctx && EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1;
		EVP_MD_CTX_free(ctx);
	} else {
		uint8_t h[EVP_MAX_MD_SIZE];
		size_t hlen = 0;
		EVP_PKEY_CTX *pctx = hash_sig_ctx(s, key, false);
		ok = pctx && !tls_digest(s->md(), msg, len, h, &hlen) &&
		     EVP_PKEY_verify(pctx, sig, sig_len, h, hlen) == 1;
		EVP_PKEY_CTX_free(pctx);
	}
	if (!ok)
		ERR_clear_error(); /* a bad peer signature is not a library fault */
	return ok ? 0 : -1;
}

/* ---- prepared signing keys ---- */

#define N_SCHEMES (sizeof(schemes) / sizeof(schemes[0]))

struct tls_sig_key {
	EVP_PKEY *key;
	struct key_info ki;
	bool fits[N_SCHEMES];
	/* Set up once per fitting hash-then-sign scheme, then only read (and
	 * duplicated per signature), so one tls_sig_key serves all threads. */
	EVP_PKEY_CTX *tmpl[N_SCHEMES];
};

tls_sig_key *tls_sig_key_new(EVP_PKEY *key)
{
	if (!key)
		return NULL;
	tls_sig_key *k = calloc(1, sizeof(*k));
	if (!k || !EVP_PKEY_up_ref(key)) {
		free(k);
		return NULL;
	}
	k->key = key;
	key_info_get(key, &k->ki);
	for (size_t i = 0; i < N_SCHEMES; i++) {
		k->fits[i] = scheme_fits(&schemes[i], &k->ki);
		/* A scheme whose context cannot be made (e.g. a digest the
		 * RSA-PSS key's parameters forbid) still signs through the
		 * generic path, which then fails as it always would. */
		if (k->fits[i] && schemes[i].md)
			k->tmpl[i] = hash_sig_ctx(&schemes[i], key, true);
	}
	ERR_clear_error();
	return k;
}

void tls_sig_key_free(tls_sig_key *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < N_SCHEMES; i++)
		EVP_PKEY_CTX_free(k->tmpl[i]);
	EVP_PKEY_free(k->key);
	free(k);
}

EVP_PKEY *tls_sig_key_pkey(const tls_sig_key *k)
{
	return k ? k->key : NULL;
}

bool tls_sig_key_fits(const tls_sig_key *k, uint16_t scheme)
{
	const struct scheme_info *s = scheme_find(scheme);
	return k && s && k->fits[s - schemes];
}

int tls_sig_key_sign(void *ctx, uint16_t scheme, const uint8_t *msg, size_t len, tls_buf *sig)
{
	const tls_sig_key *k = ctx;
	const struct scheme_info *s = scheme_find(scheme);
	if (!k || !s || !k->fits[s - schemes])
		return -1;
	EVP_PKEY_CTX *tmpl = k->tmpl[s - schemes];
	/* Some provider keys (e.g. hardware tokens) cannot duplicate a
	 * context: they take the per-call path. */
	EVP_PKEY_CTX *pctx = tmpl ? EVP_PKEY_CTX_dup(tmpl) : NULL;
	if (!pctx) {
		ERR_clear_error();
		return tls_sig_sign(k->key, scheme, msg, len, sig);
	}
	int rc = hash_sign(pctx, s, k->ki.size, msg, len, sig);
	EVP_PKEY_CTX_free(pctx);
	return rc;
}
