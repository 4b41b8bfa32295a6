/* Ephemeral (EC)DHE key exchange for the key_share extension (RFC 8446
 * §4.2.8): X25519 (raw 32-byte keys) and secp256r1/secp384r1 (uncompressed
 * points, §4.2.8.2). */
#include "tls/crypto.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define X25519_LEN 32

struct group_info {
	uint16_t id;
	const char *curve;         /* NULL for X25519 */
	int nid;
	size_t field_len;          /* bytes of one coordinate / the shared secret */
};

static const struct group_info groups[] = {
	{ TLS_GROUP_X25519, NULL, NID_X25519, X25519_LEN },
	{ TLS_GROUP_SECP256R1, "P-256", NID_X9_62_prime256v1, 32 },
	{ TLS_GROUP_SECP384R1, "P-384", NID_secp384r1, 48 },
};

static const struct group_info *group_find(uint16_t id)
{
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (groups[i].id == id)
			return &groups[i];
	return NULL;
}

bool tls_group_supported(uint16_t group)
{
	return group_find(group) != NULL;
}

/* Uncompressed point length: 0x04 || X || Y. */
static size_t point_len(const struct group_info *g)
{
	return 1 + 2 * g->field_len;
}

static int append_public(tls_kex *k, const struct group_info *g, tls_buf *pub)
{
	size_t len = g->curve ? point_len(g) : X25519_LEN;
	uint8_t *dst = tls_buf_reserve(pub, len);
	size_t got = len;
	if (!dst)
		return -1;
	if (g->curve) {
		if (!EVP_PKEY_get_octet_string_param(k->key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, dst,
						     len, &got))
			return -1;
	} else if (!EVP_PKEY_get_raw_public_key(k->key, dst, &got)) {
		return -1;
	}
	if (got != len || (g->curve && dst[0] != POINT_CONVERSION_UNCOMPRESSED))
		return -1;
	pub->len += len;
	return 0;
}

/* Domain parameters of each curve, made once: keygen from a parameter
 * template is much cheaper than resolving the curve by name every time.
 * Shared read-only by all threads; never freed. */
static CRYPTO_ONCE params_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_PKEY *params_p256, *params_p384;

static EVP_PKEY *make_params(const char *curve)
{
	EVP_PKEY *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)curve, 0),
		OSSL_PARAM_construct_end(),
	};
	if (!ctx || EVP_PKEY_paramgen_init(ctx) <= 0 || EVP_PKEY_CTX_set_params(ctx, p) <= 0 ||
	    EVP_PKEY_paramgen(ctx, &params) <= 0)
		params = NULL;
	EVP_PKEY_CTX_free(ctx);
	return params;
}

static void make_all_params(void)
{
	params_p256 = make_params("P-256");
	params_p384 = make_params("P-384");
}

static EVP_PKEY *curve_params(const struct group_info *g)
{
	if (!CRYPTO_THREAD_run_once(&params_once, make_all_params))
		return NULL;
	return g->id == TLS_GROUP_SECP256R1 ? params_p256 : params_p384;
}

/* Keygen contexts per thread (EVP_PKEY_keygen changes its context, so it
 * cannot be shared): making one from the parameters costs a key-manager
 * lookup per handshake. Freed when the thread exits. */
struct keygen_ctxs {
	EVP_PKEY_CTX *p256, *p384;
};

static CRYPTO_ONCE tl_once = CRYPTO_ONCE_STATIC_INIT;
static CRYPTO_THREAD_LOCAL tl_keygen;
static int tl_ok;

static void keygen_ctxs_free(void *p)
{
	struct keygen_ctxs *c = p;
	if (!c)
		return;
	EVP_PKEY_CTX_free(c->p256);
	EVP_PKEY_CTX_free(c->p384);
	OPENSSL_free(c);
}

static void tl_init(void)
{
	tl_ok = CRYPTO_THREAD_init_local(&tl_keygen, keygen_ctxs_free);
}

static EVP_PKEY_CTX *new_keygen_ctx(const struct group_info *g)
{
	EVP_PKEY *params = curve_params(g);
	EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL) : NULL;
	if (ctx && EVP_PKEY_keygen_init(ctx) <= 0) {
		EVP_PKEY_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* A fresh EC key pair on g's curve. */
static EVP_PKEY *ec_generate(const struct group_info *g)
{
	EVP_PKEY *key = NULL;
	struct keygen_ctxs *c = NULL;
	if (CRYPTO_THREAD_run_once(&tl_once, tl_init) && tl_ok) {
		c = CRYPTO_THREAD_get_local(&tl_keygen);
		if (!c && (c = OPENSSL_zalloc(sizeof(*c))) != NULL &&
		    !CRYPTO_THREAD_set_local(&tl_keygen, c)) {
			OPENSSL_free(c);
			c = NULL;
		}
	}
	if (!c) {
		/* No thread-local storage: a context for this key only. */
		EVP_PKEY_CTX *ctx = new_keygen_ctx(g);
		if (ctx && EVP_PKEY_keygen(ctx, &key) <= 0)
			key = NULL;
		EVP_PKEY_CTX_free(ctx);
		return key;
	}
	EVP_PKEY_CTX **slot = g->id == TLS_GROUP_SECP256R1 ? &c->p256 : &c->p384;
	if (!*slot)
		*slot = new_keygen_ctx(g);
	if (*slot && EVP_PKEY_keygen(*slot, &key) <= 0)
		key = NULL;
	return key;
}

/* The X25519 import context, made once: EVP_PKEY_new_raw_*_key resolve the
 * key manager by name on every call. EVP_PKEY_fromdata only reads its
 * context, so all threads share it; never freed. */
static CRYPTO_ONCE import_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_PKEY_CTX *x25519_import;

static void make_import(void)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
	if (ctx && EVP_PKEY_fromdata_init(ctx) <= 0) {
		EVP_PKEY_CTX_free(ctx);
		ctx = NULL;
	}
	x25519_import = ctx;
}

/* A raw X25519 private (the public key is computed) or public key. */
static EVP_PKEY *x25519_key(bool priv, const uint8_t *raw, size_t len)
{
	EVP_PKEY *pkey = NULL;
	if (!CRYPTO_THREAD_run_once(&import_once, make_import) || !x25519_import)
		return priv ? EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, raw, len)
			    : EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, raw, len);
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_octet_string(priv ? OSSL_PKEY_PARAM_PRIV_KEY
						       : OSSL_PKEY_PARAM_PUB_KEY,
						  (void *)raw, len),
		OSSL_PARAM_construct_end(),
	};
	if (EVP_PKEY_fromdata(x25519_import, &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
			      p) <= 0)
		pkey = NULL;
	return pkey;
}

int tls_kex_generate(tls_kex *k, uint16_t group, tls_buf *pub)
{
	const struct group_info *g = group_find(group);
	memset(k, 0, sizeof(*k));
	if (!g)
		return -1;
	k->group = group;
	if (g->curve) {
		k->key = ec_generate(g);
	} else {
		/* A random scalar imported directly skips the keygen-context
		 * machinery; X25519 clamps it on use. */
		uint8_t priv[X25519_LEN];
		if (RAND_priv_bytes(priv, sizeof(priv)) == 1)
			k->key = x25519_key(true, priv, sizeof(priv));
		OPENSSL_cleanse(priv, sizeof(priv));
	}
	if (!k->key || append_public(k, g, pub)) {
		tls_kex_clear(k);
		return -1;
	}
	return 0;
}

/* EC private scalar -> key pair with its public point (priv * G). */
static EVP_PKEY *ec_from_private(const struct group_info *g, const uint8_t *priv, size_t len)
{
	EVP_PKEY *pkey = NULL;
	EC_GROUP *grp = EC_GROUP_new_by_curve_name(g->nid);
	EC_POINT *pt = grp ? EC_POINT_new(grp) : NULL;
	BIGNUM *d = BN_secure_new();
	uint8_t pubbuf[1 + 2 * 66];
	size_t publen = 0;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;

	if (!pt || !d || len != g->field_len || !BN_bin2bn(priv, (int)len, d) || BN_is_zero(d) ||
	    BN_cmp(d, EC_GROUP_get0_order(grp)) >= 0 ||
	    !EC_POINT_mul(grp, pt, d, NULL, NULL, NULL))
		goto out;
	publen = EC_POINT_point2oct(grp, pt, POINT_CONVERSION_UNCOMPRESSED, pubbuf,
				    sizeof(pubbuf), NULL);
	if (publen != point_len(g))
		goto out;
	bld = OSSL_PARAM_BLD_new();
	if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, g->curve, 0) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pubbuf, publen))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) <= 0)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(d);
	EC_POINT_free(pt);
	EC_GROUP_free(grp);
	return pkey;
}

int tls_kex_set_private(tls_kex *k, uint16_t group, const uint8_t *priv, size_t len,
			tls_buf *pub)
{
	const struct group_info *g = group_find(group);
	memset(k, 0, sizeof(*k));
	if (!g || !priv)
		return -1;
	k->group = group;
	if (g->curve)
		k->key = ec_from_private(g, priv, len);
	else if (len == X25519_LEN)
		k->key = x25519_key(true, priv, len);
	if (!k->key || append_public(k, g, pub)) {
		tls_kex_clear(k);
		return -1;
	}
	return 0;
}

/* The peer's share as a public key of our key's group, or NULL when it is
 * malformed. For the NIST curves the import decodes the point, which fails
 * unless it lies on the curve; both curves have cofactor 1, so that is the
 * whole validation (SP 800-56A partial public key validation). */
static EVP_PKEY *peer_key(const tls_kex *k, const struct group_info *g, const uint8_t *peer,
			  size_t peer_len)
{
	if (!g->curve) {
		if (peer_len != X25519_LEN)
			return NULL;
		return x25519_key(false, peer, peer_len);
	}
	tls_reader form = tls_reader_init(peer, peer_len);
	if (peer_len != point_len(g) || tls_read_u8(&form) != POINT_CONVERSION_UNCOMPRESSED)
		return NULL;
	/* Copying our key's group is cheaper than importing the point with the
	 * curve's name, which builds the group afresh. */
	EVP_PKEY *p = EVP_PKEY_new();
	if (!p || EVP_PKEY_copy_parameters(p, k->key) <= 0 ||
	    EVP_PKEY_set1_encoded_public_key(p, peer, peer_len) <= 0) {
		EVP_PKEY_free(p);
		return NULL;
	}
	return p;
}

int tls_kex_derive(tls_kex *k, const uint8_t *peer, size_t peer_len,
		   uint8_t *out, size_t *out_len)
{
	const struct group_info *g = k->key ? group_find(k->group) : NULL;
	static const uint8_t zeros[X25519_LEN];
	int rc = -1;
	if (!g || !peer)
		return -1;
	EVP_PKEY *p = peer_key(k, g, peer, peer_len);
	EVP_PKEY_CTX *ctx = p ? EVP_PKEY_CTX_new_from_pkey(NULL, k->key, NULL) : NULL;
	size_t n = g->field_len;
	if (!ctx || EVP_PKEY_derive_init(ctx) <= 0 ||
	    EVP_PKEY_derive_set_peer_ex(ctx, p, 0) <= 0 ||
	    EVP_PKEY_derive(ctx, out, &n) <= 0 || n != g->field_len)
		goto out;
	/* RFC 7748 §6.1 / RFC 8446 §7.4.2: an all-zero X25519 result means the
	 * peer sent a small-order point. */
	if (!g->curve && CRYPTO_memcmp(out, zeros, X25519_LEN) == 0) {
		OPENSSL_cleanse(out, n);
		goto out;
	}
	*out_len = n;
	rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(p);
	if (rc)
		ERR_clear_error(); /* a bad peer share is not a library fault */
	return rc;
}

void tls_kex_clear(tls_kex *k)
{
	EVP_PKEY_free(k->key);
	k->key = NULL;
	k->group = 0;
}
