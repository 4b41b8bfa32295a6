/* Signature schemes (RFC 8446 §4.2.3) and the CertificateVerify content
 * (§4.4.3), on EVP_DigestSign/EVP_DigestVerify. */
#include "tls/crypto.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
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

static int ec_curve_nid(EVP_PKEY *key)
{
	char name[64];
	size_t len = 0;
	if (!EVP_PKEY_get_group_name(key, name, sizeof(name), &len))
		return NID_undef;
	int nid = OBJ_sn2nid(name);
	if (nid == NID_undef)
		nid = EC_curve_nist2nid(name);
	return nid;
}

bool tls_sig_scheme_fits_key(uint16_t scheme, EVP_PKEY *key)
{
	const struct scheme_info *s = scheme_find(scheme);
	if (!s || !key)
		return false;
	switch (s->kind) {
	case SIG_ECDSA:
		return EVP_PKEY_is_a(key, "EC") && ec_curve_nid(key) == s->curve_nid;
	case SIG_RSA_PSS_RSAE:
	case SIG_RSA_PKCS1:
	case SIG_RSA_PSS_PSS:
		if (!EVP_PKEY_is_a(key, s->kind == SIG_RSA_PSS_PSS ? "RSA-PSS" : "RSA"))
			return false;
		/* PSS needs emLen >= hLen + sLen + 2 with sLen = hLen. */
		return s->kind == SIG_RSA_PKCS1 ||
		       EVP_PKEY_get_size(key) >= 2 * EVP_MD_get_size(s->md()) + 2;
	case SIG_ED25519:
		return EVP_PKEY_is_a(key, "ED25519");
	}
	return false;
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

/* Sets up ctx for scheme s with key (sign or verify). */
static EVP_MD_CTX *sig_ctx(const struct scheme_info *s, EVP_PKEY *key, bool sign)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	const EVP_MD *md = s->md ? tls_md_fetched(s->md()) : NULL;
	if (!ctx)
		return NULL;
	int ok = sign ? EVP_DigestSignInit(ctx, &pctx, md, NULL, key)
		      : EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key);
	if (ok > 0 && (s->kind == SIG_RSA_PSS_RSAE || s->kind == SIG_RSA_PSS_PSS)) {
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) > 0;
	} else if (ok > 0 && s->kind == SIG_RSA_PKCS1) {
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
	}
	if (ok <= 0) {
		EVP_MD_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int tls_sig_sign(EVP_PKEY *key, uint16_t scheme, const uint8_t *msg, size_t len, tls_buf *sig)
{
	const struct scheme_info *s = scheme_find(scheme);
	if (!s || !tls_sig_scheme_fits_key(scheme, key))
		return -1;
	int max = EVP_PKEY_get_size(key);
	uint8_t *dst = max > 0 ? tls_buf_reserve(sig, (size_t)max) : NULL;
	EVP_MD_CTX *ctx = dst ? sig_ctx(s, key, true) : NULL;
	size_t n = (size_t)max;
	int rc = -1;
	if (ctx && EVP_DigestSign(ctx, dst, &n, msg, len) > 0 && n <= (size_t)max) {
		sig->len += n;
		rc = 0;
	}
	EVP_MD_CTX_free(ctx);
	return rc;
}

int tls_sig_verify(EVP_PKEY *key, uint16_t scheme, const uint8_t *msg, size_t len,
		   const uint8_t *sig, size_t sig_len)
{
	const struct scheme_info *s = scheme_find(scheme);
	if (!s || !tls_sig_scheme_fits_key(scheme, key))
		return -1;
	EVP_MD_CTX *ctx = sig_ctx(s, key, false);
	int ok = ctx && EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		ERR_clear_error(); /* a bad peer signature is not a library fault */
	return ok ? 0 : -1;
}
