/* Ephemeral (EC)DHE key exchange for the key_share extension (RFC 8446
 * §4.2.8): X25519 and X448 (raw keys, RFC 7748), secp256r1/secp384r1/
 * secp521r1 (uncompressed points, §4.2.8.2) and the RFC 7919 finite-field
 * groups ffdhe2048/3072/4096 (Y left-padded to the prime, §4.2.8.1).
 * The hybrid ML-KEM groups pass through to kex_hybrid.c. */
#include "tls/crypto.h"
#include "tls/mlkem.h"
#include "tls/test_hooks.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/dh.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rand.h>

enum kex_kind { KEX_XDH, KEX_EC, KEX_FFDHE };

struct group_info {
	uint16_t id;
	enum kex_kind kind;
	const char *name;          /* key type (XDH), curve or RFC 7919 group name */
	int nid;
	size_t len;                /* XDH: key and secret; EC: one coordinate and
				    * the secret; FFDHE: the prime, each share
				    * and the secret */
};

static const struct group_info groups[] = {
	{ TLS_GROUP_X25519, KEX_XDH, "X25519", NID_X25519, 32 },
	{ TLS_GROUP_SECP256R1, KEX_EC, "P-256", NID_X9_62_prime256v1, 32 },
	{ TLS_GROUP_SECP384R1, KEX_EC, "P-384", NID_secp384r1, 48 },
	{ TLS_GROUP_SECP521R1, KEX_EC, "P-521", NID_secp521r1, 66 },
	{ TLS_GROUP_X448, KEX_XDH, "X448", NID_X448, 56 },
	{ TLS_GROUP_FFDHE2048, KEX_FFDHE, "ffdhe2048", NID_ffdhe2048, 256 },
	{ TLS_GROUP_FFDHE3072, KEX_FFDHE, "ffdhe3072", NID_ffdhe3072, 384 },
	{ TLS_GROUP_FFDHE4096, KEX_FFDHE, "ffdhe4096", NID_ffdhe4096, 512 },
};
#define N_GROUPS (sizeof(groups) / sizeof(groups[0]))
#define MAX_XDH_LEN 56
#define MAX_EC_LEN 66

static const struct group_info *group_find(uint16_t id)
{
	for (size_t i = 0; i < N_GROUPS; i++)
		if (groups[i].id == id)
			return &groups[i];
	return NULL;
}

bool tls_group_supported(uint16_t group)
{
	return group_find(group) != NULL || tls_group_is_hybrid(group);
}

/* Bytes of one key_exchange: raw key, 0x04 || X || Y, or Y padded to p. */
static size_t share_len(const struct group_info *g)
{
	return g->kind == KEX_EC ? 1 + 2 * g->len : g->len;
}

/* ---- made once, shared read-only by all threads, never freed ---- */

/* Domain parameters (EC, FFDHE): keygen from a parameter template is much
 * cheaper than resolving the group by name every time. XDH import contexts:
 * EVP_PKEY_new_raw_*_key resolve the key manager by name on every call,
 * while EVP_PKEY_fromdata only reads its context. FFDHE primes as bytes, for
 * the §4.2.8.1 range check of peer shares. */
struct group_shared {
	EVP_PKEY *params;
	EVP_PKEY_CTX *import;
	uint8_t *prime;
};

static CRYPTO_ONCE shared_once = CRYPTO_ONCE_STATIC_INIT;
static struct group_shared shared[N_GROUPS];

static EVP_PKEY *make_params(const struct group_info *g)
{
	EVP_PKEY *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, g->kind == KEX_EC ? "EC" : "DH", NULL);
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)g->name, 0),
		OSSL_PARAM_construct_end(),
	};
	if (!ctx || EVP_PKEY_paramgen_init(ctx) <= 0 || EVP_PKEY_CTX_set_params(ctx, p) <= 0 ||
	    EVP_PKEY_paramgen(ctx, &params) <= 0)
		params = NULL;
	EVP_PKEY_CTX_free(ctx);
	return params;
}

static uint8_t *make_prime(EVP_PKEY *params, size_t len)
{
	BIGNUM *p = NULL;
	uint8_t *out = NULL;
	if (params && EVP_PKEY_get_bn_param(params, OSSL_PKEY_PARAM_FFC_P, &p) &&
	    (size_t)BN_num_bytes(p) == len && (out = OPENSSL_malloc(len)) != NULL &&
	    BN_bn2binpad(p, out, (int)len) != (int)len) {
		OPENSSL_free(out);
		out = NULL;
	}
	BN_free(p);
	return out;
}

static void make_shared(void)
{
	for (size_t i = 0; i < N_GROUPS; i++) {
		const struct group_info *g = &groups[i];
		if (g->kind != KEX_XDH) {
			shared[i].params = make_params(g);
			if (g->kind == KEX_FFDHE)
				shared[i].prime = make_prime(shared[i].params, g->len);
			continue;
		}
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, g->name, NULL);
		if (ctx && EVP_PKEY_fromdata_init(ctx) <= 0) {
			EVP_PKEY_CTX_free(ctx);
			ctx = NULL;
		}
		shared[i].import = ctx;
	}
}

static const struct group_shared *group_shared(const struct group_info *g)
{
	if (!CRYPTO_THREAD_run_once(&shared_once, make_shared))
		return NULL;
	return &shared[g - groups];
}

static EVP_PKEY *group_params(const struct group_info *g)
{
	const struct group_shared *s = group_shared(g);
	return s ? s->params : NULL;
}

/* ---- key generation ---- */

/* Keygen contexts per thread and group (EVP_PKEY_keygen changes its
 * context, so it cannot be shared): making one from the parameters costs a
 * key-manager lookup per handshake. Freed when the thread exits. */
struct keygen_ctxs {
	EVP_PKEY_CTX *ctx[N_GROUPS];
};

static CRYPTO_ONCE tl_once = CRYPTO_ONCE_STATIC_INIT;
static CRYPTO_THREAD_LOCAL tl_keygen;
static int tl_ok;

static void keygen_ctxs_free(void *p)
{
	struct keygen_ctxs *c = p;
	if (!c)
		return;
	for (size_t i = 0; i < N_GROUPS; i++)
		EVP_PKEY_CTX_free(c->ctx[i]);
	OPENSSL_free(c);
}

static void tl_init(void)
{
	tl_ok = CRYPTO_THREAD_init_local(&tl_keygen, keygen_ctxs_free);
}

static EVP_PKEY_CTX *new_keygen_ctx(const struct group_info *g)
{
	EVP_PKEY *params = group_params(g);
	EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL) : NULL;
	if (ctx && EVP_PKEY_keygen_init(ctx) <= 0) {
		EVP_PKEY_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* A fresh key pair in g's EC or FFDHE group. */
static EVP_PKEY *params_generate(const struct group_info *g)
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
	EVP_PKEY_CTX **slot = &c->ctx[g - groups];
	if (!*slot)
		*slot = new_keygen_ctx(g);
	if (*slot && EVP_PKEY_keygen(*slot, &key) <= 0)
		key = NULL;
	return key;
}

/* A raw X25519/X448 private (the public key is computed) or public key. */
static EVP_PKEY *xdh_key(const struct group_info *g, bool priv, const uint8_t *raw, size_t len)
{
	EVP_PKEY *pkey = NULL;
	const struct group_shared *s = group_shared(g);
	if (!s || !s->import)
		return priv ? EVP_PKEY_new_raw_private_key(g->nid, NULL, raw, len)
			    : EVP_PKEY_new_raw_public_key(g->nid, NULL, raw, len);
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_octet_string(priv ? OSSL_PKEY_PARAM_PRIV_KEY
						       : OSSL_PKEY_PARAM_PUB_KEY,
						  (void *)raw, len),
		OSSL_PARAM_construct_end(),
	};
	if (EVP_PKEY_fromdata(s->import, &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
			      p) <= 0)
		pkey = NULL;
	return pkey;
}

static int append_public(tls_kex *k, const struct group_info *g, tls_buf *pub)
{
	size_t len = share_len(g);
	uint8_t *dst = tls_buf_reserve(pub, len);
	size_t got = len;
	if (!dst)
		return -1;
	if (g->kind == KEX_XDH) {
		if (!EVP_PKEY_get_raw_public_key(k->key, dst, &got))
			return -1;
	} else if (!EVP_PKEY_get_octet_string_param(k->key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
						    dst, len, &got)) {
		/* FFDHE: libcrypto pads Y to the prime's length (§4.2.8.1) */
		return -1;
	}
	if (got != len || (g->kind == KEX_EC && dst[0] != POINT_CONVERSION_UNCOMPRESSED))
		return -1;
	pub->len += len;
	return 0;
}

int tls_kex_generate(tls_kex *k, uint16_t group, tls_buf *pub)
{
	if (tls_group_is_hybrid(group))
		return tls_hybrid_generate(k, group, pub);
	const struct group_info *g = group_find(group);
	memset(k, 0, sizeof(*k));
	if (!g)
		return -1;
	k->group = group;
	if (g->kind != KEX_XDH) {
		k->key = params_generate(g);
	} else {
		/* A random scalar imported directly skips the keygen-context
		 * machinery; X25519/X448 clamp it on use. */
		uint8_t priv[MAX_XDH_LEN];
		if (RAND_priv_bytes(priv, (int)g->len) == 1)
			k->key = xdh_key(g, true, priv, g->len);
		OPENSSL_cleanse(priv, sizeof(priv));
	}
	if (!k->key || append_public(k, g, pub)) {
		tls_kex_clear(k);
		return -1;
	}
	return 0;
}

#ifdef TLS_TEST_HOOKS
/* ---- fixed private keys: test builds only (RFC 8448 traces, fuzz seeds) ---- */

/* Builds a key pair of type `type` from group name, private and public. */
static EVP_PKEY *key_from_parts(const char *type, const struct group_info *g, const BIGNUM *d,
				const uint8_t *pubbuf, size_t publen, const BIGNUM *y)
{
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, g->name, 0) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
	    (y ? !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PUB_KEY, y)
	       : !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pubbuf, publen)))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) <= 0)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

/* EC private scalar -> key pair with its public point (priv * G). */
static EVP_PKEY *ec_from_private(const struct group_info *g, const uint8_t *priv, size_t len)
{
	EVP_PKEY *pkey = NULL;
	EC_GROUP *grp = EC_GROUP_new_by_curve_name(g->nid);
	EC_POINT *pt = grp ? EC_POINT_new(grp) : NULL;
	BIGNUM *d = BN_secure_new();
	uint8_t pubbuf[1 + 2 * MAX_EC_LEN];
	size_t publen = 0;

	if (!pt || !d || len != g->len || !BN_bin2bn(priv, (int)len, d) || BN_is_zero(d) ||
	    BN_cmp(d, EC_GROUP_get0_order(grp)) >= 0 ||
	    !EC_POINT_mul(grp, pt, d, NULL, NULL, NULL))
		goto out;
	publen = EC_POINT_point2oct(grp, pt, POINT_CONVERSION_UNCOMPRESSED, pubbuf,
				    sizeof(pubbuf), NULL);
	if (publen == share_len(g))
		pkey = key_from_parts("EC", g, d, pubbuf, publen, NULL);
out:
	BN_clear_free(d);
	EC_POINT_free(pt);
	EC_GROUP_free(grp);
	return pkey;
}

/* FFDHE private exponent x (1 < x < p - 1) -> key pair with Y = g^x mod p. */
static EVP_PKEY *dh_from_private(const struct group_info *g, const uint8_t *priv, size_t len)
{
	EVP_PKEY *pkey = NULL, *params = group_params(g);
	BIGNUM *p = NULL, *gen = NULL, *x = BN_secure_new(), *y = BN_new(), *pm1 = NULL;
	BN_CTX *bn = BN_CTX_secure_new();

	if (!params || !x || !y || !bn || len == 0 || len > g->len ||
	    !EVP_PKEY_get_bn_param(params, OSSL_PKEY_PARAM_FFC_P, &p) ||
	    !EVP_PKEY_get_bn_param(params, OSSL_PKEY_PARAM_FFC_G, &gen) ||
	    !(pm1 = BN_dup(p)) || !BN_sub_word(pm1, 1) || !BN_bin2bn(priv, (int)len, x) ||
	    BN_is_zero(x) || BN_is_one(x) || BN_cmp(x, pm1) >= 0)
		goto out;
	BN_set_flags(x, BN_FLG_CONSTTIME);
	if (BN_mod_exp(y, gen, x, p, bn))
		pkey = key_from_parts("DH", g, x, NULL, 0, y);
out:
	BN_CTX_free(bn);
	BN_free(pm1);
	BN_free(y);
	BN_clear_free(x);
	BN_free(gen);
	BN_free(p);
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
	if (g->kind == KEX_EC)
		k->key = ec_from_private(g, priv, len);
	else if (g->kind == KEX_FFDHE)
		k->key = dh_from_private(g, priv, len);
	else if (len == g->len)
		k->key = xdh_key(g, true, priv, len);
	if (!k->key || append_public(k, g, pub)) {
		tls_kex_clear(k);
		return -1;
	}
	return 0;
}
#endif

/* ---- the peer's share and the shared secret ---- */

/* RFC 8446 §4.2.8.1: 1 < Y < p - 1, with Y exactly as long as p (the
 * caller checked the length). p is odd, so p - 1 is p with its last byte
 * one less. Shares are public: no need for constant time. libcrypto's
 * import checks the same range; this keeps the rule visible here. */
static bool ffdhe_y_ok(const uint8_t *prime, size_t len, const uint8_t *peer)
{
	tls_reader y = tls_reader_init(peer, len);
	int cmp = 0;               /* Y against p - 1, from the top byte down */
	bool above_one = false;
	for (size_t i = 0; i < len; i++) {
		bool last = i + 1 == len;
		uint8_t b = tls_read_u8(&y);
		uint8_t m = last ? (uint8_t)(prime[i] - 1) : prime[i];
		if (cmp == 0 && b != m)
			cmp = b < m ? -1 : 1;
		if (b > (last ? 1 : 0))
			above_one = true;
	}
	return !y.err && cmp < 0 && above_one;
}

/* The peer's share as a public key of our key's group, or NULL when it is
 * malformed. For the NIST curves the import decodes the point, which fails
 * unless it lies on the curve; all three have cofactor 1, so that is the
 * whole validation (SP 800-56A partial public key validation). */
static EVP_PKEY *peer_key(const tls_kex *k, const struct group_info *g, const uint8_t *peer,
			  size_t peer_len)
{
	if (peer_len != share_len(g))
		return NULL;
	if (g->kind == KEX_XDH)
		return xdh_key(g, false, peer, peer_len);
	if (g->kind == KEX_EC) {
		tls_reader form = tls_reader_init(peer, peer_len);
		if (tls_read_u8(&form) != POINT_CONVERSION_UNCOMPRESSED)
			return NULL;
	} else {
		const struct group_shared *s = group_shared(g);
		if (!s || !s->prime || !ffdhe_y_ok(s->prime, g->len, peer))
			return NULL;
	}
	/* Copying our key's group is cheaper than importing the share with
	 * the group's name, which builds the group afresh. */
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
	if (tls_group_is_hybrid(k->group))
		return tls_hybrid_derive(k, peer, peer_len, out, out_len);
	const struct group_info *g = k->key ? group_find(k->group) : NULL;
	static const uint8_t zeros[MAX_XDH_LEN];
	int rc = -1;
	if (!g || !peer)
		return -1;
	EVP_PKEY *p = peer_key(k, g, peer, peer_len);
	EVP_PKEY_CTX *ctx = p ? EVP_PKEY_CTX_new_from_pkey(NULL, k->key, NULL) : NULL;
	size_t n = g->len;
	if (!ctx || EVP_PKEY_derive_init(ctx) <= 0 ||
	    /* §7.4.1: the FFDHE secret keeps its leading zeros (prime's length) */
	    (g->kind == KEX_FFDHE && EVP_PKEY_CTX_set_dh_pad(ctx, 1) <= 0) ||
	    EVP_PKEY_derive_set_peer_ex(ctx, p, 0) <= 0 ||
	    EVP_PKEY_derive(ctx, out, &n) <= 0 || n != g->len)
		goto out;
	/* RFC 7748 §6 / RFC 8446 §7.4.2: an all-zero X25519/X448 result means
	 * the peer sent a small-order point. */
	if (g->kind == KEX_XDH && CRYPTO_memcmp(out, zeros, n) == 0) {
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
	OPENSSL_clear_free(k->kem_dk, TLS_MLKEM768_DK_LEN);
	k->kem_dk = NULL;
	k->group = 0;
}

void tls_kex_cleanup(void)
{
	for (size_t i = 0; i < N_GROUPS; i++) {
		EVP_PKEY_free(shared[i].params);
		EVP_PKEY_CTX_free(shared[i].import);
		OPENSSL_free(shared[i].prime);
		memset(&shared[i], 0, sizeof(shared[i]));
	}
	if (tl_ok) {
		keygen_ctxs_free(CRYPTO_THREAD_get_local(&tl_keygen));
		CRYPTO_THREAD_set_local(&tl_keygen, NULL);
	}
}
