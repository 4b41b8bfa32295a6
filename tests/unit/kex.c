/* (EC)DHE: both sides agree for every group, RFC 8448 key shares reproduce
 * the RFC's shared secrets, and malformed peer shares are refused. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "../vectors/rfc8448_crypto.h"
#include "test.h"
#include "tls/crypto.h"
#include "tls/test_hooks.h"

enum kind { XDH, EC, FFDHE };

static const struct {
	uint16_t id;
	const char *name;
	enum kind kind;
	size_t pub_len, secret_len;
} groups[] = {
	{ TLS_GROUP_X25519, "x25519", XDH, 32, 32 },
	{ TLS_GROUP_SECP256R1, "secp256r1", EC, 65, 32 },
	{ TLS_GROUP_SECP384R1, "secp384r1", EC, 97, 48 },
	{ TLS_GROUP_SECP521R1, "secp521r1", EC, 133, 66 },
	{ TLS_GROUP_X448, "x448", XDH, 56, 56 },
	{ TLS_GROUP_FFDHE2048, "ffdhe2048", FFDHE, 256, 256 },
	{ TLS_GROUP_FFDHE3072, "ffdhe3072", FFDHE, 384, 384 },
	{ TLS_GROUP_FFDHE4096, "ffdhe4096", FFDHE, 512, 512 },
};
#define N_GROUPS (sizeof(groups) / sizeof(groups[0]))

/* The RFC 7919 prime of `name`, big-endian in len bytes, from libcrypto. */
static bool ffdhe_prime(const char *name, uint8_t *out, size_t len)
{
	EVP_PKEY *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
	BIGNUM *p = NULL;
	OSSL_PARAM prm[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)name, 0),
		OSSL_PARAM_construct_end(),
	};
	bool ok = ctx && EVP_PKEY_paramgen_init(ctx) > 0 && EVP_PKEY_CTX_set_params(ctx, prm) > 0 &&
		  EVP_PKEY_paramgen(ctx, &params) > 0 &&
		  EVP_PKEY_get_bn_param(params, OSSL_PKEY_PARAM_FFC_P, &p) &&
		  BN_bn2binpad(p, out, (int)len) == (int)len;
	BN_free(p);
	EVP_PKEY_free(params);
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

static void bad_ec(tls_kex *a, const char *name, uint8_t *bad, size_t n)
{
	uint8_t s[TLS_MAX_KEX_SECRET];
	size_t l = 0;
	bad[0] = 0x02;
	test_ok(tls_kex_derive(a, bad, n, s, &l) == -1, "%s: 0x02 prefix refused", name);
	bad[0] = 0x03;
	test_ok(tls_kex_derive(a, bad, (n + 1) / 2, s, &l) == -1, "%s: compressed point refused",
		name);
	bad[0] = 0x04;
	bad[n - 1] ^= 0x01;
	test_ok(tls_kex_derive(a, bad, n, s, &l) == -1, "%s: point off the curve refused", name);
	memset(bad + 1, 0, n - 1);
	test_ok(tls_kex_derive(a, bad, n, s, &l) == -1, "%s: (0,0) refused", name);
	memset(bad + 1, 0xff, n - 1);
	test_ok(tls_kex_derive(a, bad, n, s, &l) == -1, "%s: coordinates >= p refused", name);
	bad[0] = 0x00;
	test_ok(tls_kex_derive(a, bad, 1, s, &l) == -1, "%s: point at infinity refused", name);
}

static void bad_xdh(tls_kex *a, const char *name, size_t n)
{
	uint8_t bad[56] = { 0 }, s[TLS_MAX_KEX_SECRET];
	size_t l = 0;
	/* Small-order points give an all-zero secret (RFC 7748 §6). */
	test_ok(tls_kex_derive(a, bad, n, s, &l) == -1, "%s: all-zero point refused", name);
	bad[0] = 1;
	test_ok(tls_kex_derive(a, bad, n, s, &l) == -1, "%s: order-1 point (u=1) refused", name);
	if (n == 32) {
		uint8_t ord8[32];
		test_unhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
			   ord8, 32);
		test_ok(tls_kex_derive(a, ord8, 32, s, &l) == -1, "x25519: order-8 point refused");
	} else {
		/* u = p - 1 = 2^448 - 2^224 - 2, little-endian: order 2 */
		memset(bad, 0xff, 56);
		bad[0] = 0xfe;
		bad[28] = 0xfe;
		test_ok(tls_kex_derive(a, bad, 56, s, &l) == -1, "x448: point u=p-1 refused");
	}
}

/* RFC 8446 §4.2.8.1: Y must be exactly the prime's length and 1 < Y < p-1. */
static void bad_ffdhe(tls_kex *a, const char *name, size_t n)
{
	uint8_t p[512], y[513], s[TLS_MAX_KEX_SECRET];
	size_t l = 0;
	if (!test_ok(ffdhe_prime(name, p, n), "%s: prime from libcrypto", name))
		return;
	memset(y, 0, n);
	test_ok(tls_kex_derive(a, y, n, s, &l) == -1, "%s: Y = 0 refused", name);
	y[n - 1] = 1;
	test_ok(tls_kex_derive(a, y, n, s, &l) == -1, "%s: Y = 1 refused", name);
	y[n - 1] = 2;
	test_ok(tls_kex_derive(a, y, n, s, &l) == 0 && l == n, "%s: Y = 2, left-padded, accepted",
		name);
	test_ok(tls_kex_derive(a, y + n - 1, 1, s, &l) == -1, "%s: Y = 2 unpadded refused", name);
	memcpy(y, p, n);
	y[n - 1]--;
	test_ok(tls_kex_derive(a, y, n, s, &l) == -1, "%s: Y = p - 1 refused", name);
	y[n - 1]--;
	test_ok(tls_kex_derive(a, y, n, s, &l) == 0, "%s: Y = p - 2 accepted", name);
	memcpy(y, p, n);
	test_ok(tls_kex_derive(a, y, n, s, &l) == -1, "%s: Y = p refused", name);
	memset(y, 0xff, n);
	test_ok(tls_kex_derive(a, y, n, s, &l) == -1, "%s: Y > p refused", name);
	memset(y, 0, n + 1);
	y[n] = 2; /* a valid Y with one zero byte too many */
	test_ok(tls_kex_derive(a, y, n + 1, s, &l) == -1, "%s: Y = 2 in n + 1 bytes refused", name);
}

static void agree(void)
{
	for (size_t i = 0; i < N_GROUPS; i++) {
		const char *name = groups[i].name;
		tls_kex a, b;
		tls_buf pa, pb;
		uint8_t sa[TLS_MAX_KEX_SECRET], sb[TLS_MAX_KEX_SECRET];
		size_t la = 0, lb = 0;
		tls_buf_init(&pa, 0);
		tls_buf_init(&pb, 0);
		test_ok(tls_group_supported(groups[i].id), "%s supported", name);
		test_ok(tls_kex_generate(&a, groups[i].id, &pa) == 0 &&
			tls_kex_generate(&b, groups[i].id, &pb) == 0 &&
			pa.len == groups[i].pub_len && pb.len == groups[i].pub_len,
			"%s: key shares of %zu bytes", name, groups[i].pub_len);
		if (groups[i].kind == EC)
			test_ok(pa.base[0] == 4 && pb.base[0] == 4, "%s: uncompressed points", name);
		test_ok(memcmp(pa.base, pb.base, pa.len) != 0, "%s: fresh keys differ", name);
		test_ok(tls_kex_derive(&a, pb.base, pb.len, sa, &la) == 0 &&
			tls_kex_derive(&b, pa.base, pa.len, sb, &lb) == 0 &&
			la == groups[i].secret_len && lb == la && memcmp(sa, sb, la) == 0,
			"%s: both sides derive the same %zu-byte secret", name,
			groups[i].secret_len);

		/* Malformed peer shares. */
		uint8_t bad[TLS_MAX_KEX_SHARE + 1];
		size_t n = pb.len;
		memcpy(bad, pb.base, n);
		test_ok(tls_kex_derive(&a, bad, n - 1, sa, &la) == -1, "%s: short share refused",
			name);
		bad[n] = 0;
		test_ok(tls_kex_derive(&a, bad, n + 1, sa, &la) == -1, "%s: long share refused",
			name);
		test_ok(tls_kex_derive(&a, bad, 0, sa, &la) == -1, "%s: empty share refused", name);
		if (groups[i].kind == EC)
			bad_ec(&a, name, bad, n);
		else if (groups[i].kind == XDH)
			bad_xdh(&a, name, n);
		else
			bad_ffdhe(&a, name, n);
		tls_kex_clear(&a);
		tls_kex_clear(&b);
		test_ok(a.key == NULL && tls_kex_derive(&a, pb.base, pb.len, sa, &la) == -1,
			"%s: cleared key cannot derive", name);
		tls_buf_free(&pa);
		tls_buf_free(&pb);
	}
	tls_kex k;
	tls_buf p;
	tls_buf_init(&p, 0);
	test_ok(!tls_group_supported(0x0103) && !tls_group_supported(0x0016) &&
		!tls_group_supported(0x6399) && tls_kex_generate(&k, 0x0103, &p) == -1 && p.len == 0,
		"unsupported groups (ffdhe6144, secp256k1, X25519Kyber768Draft00) refused");
	tls_buf_free(&p);
}

/* §7.4.1: the FFDHE shared secret keeps its leading zero bytes. With
 * x = 8 and the peer's Y = 2 the secret is 2^8 = 0x0100, left-padded. */
static void ffdhe_padding(void)
{
	uint8_t x = 8, y[256] = { 0 }, s[TLS_MAX_KEX_SECRET], want[256] = { 0 };
	size_t l = 0;
	tls_kex k;
	tls_buf pub;
	tls_buf_init(&pub, 0);
	y[255] = 2;
	want[254] = 1;
	test_ok(tls_kex_set_private(&k, TLS_GROUP_FFDHE2048, &x, 1, &pub) == 0 && pub.len == 256 &&
		memcmp(pub.base, want, 256) == 0,
		"ffdhe2048: fixed x = 8 gives Y = 2^8, left-padded to 256 bytes");
	test_ok(tls_kex_derive(&k, y, 256, s, &l) == 0 && l == 256 && memcmp(s, want, 256) == 0,
		"ffdhe2048: secret 2^8 keeps its 254 leading zero bytes");
	tls_kex_clear(&k);
	tls_buf_free(&pub);
}

/* Import a fixed private key and reproduce the RFC's public keys and secret. */
static void rfc8448(const char *what, uint16_t group, const char *cpriv_hex, const char *cpub_hex,
		    const char *spriv_hex, const char *spub_hex, const char *dhe_hex)
{
	uint8_t cpriv[64], cpub[128], spriv[64], spub[128], dhe[64], s1[64], s2[64];
	size_t cl = test_unhex(cpriv_hex, cpriv, sizeof(cpriv));
	size_t cpl = test_unhex(cpub_hex, cpub, sizeof(cpub));
	size_t sl = test_unhex(spriv_hex, spriv, sizeof(spriv));
	size_t spl = test_unhex(spub_hex, spub, sizeof(spub));
	size_t dl = test_unhex(dhe_hex, dhe, sizeof(dhe));
	tls_kex c, s;
	tls_buf pc, ps;
	size_t l1 = 0, l2 = 0;
	tls_buf_init(&pc, 0);
	tls_buf_init(&ps, 0);
	test_ok(tls_kex_set_private(&c, group, cpriv, cl, &pc) == 0 && pc.len == cpl &&
		memcmp(pc.base, cpub, cpl) == 0, "%s: client public key from its private key", what);
	test_ok(tls_kex_set_private(&s, group, spriv, sl, &ps) == 0 && ps.len == spl &&
		memcmp(ps.base, spub, spl) == 0, "%s: server public key from its private key", what);
	test_ok(tls_kex_derive(&c, spub, spl, s1, &l1) == 0 && l1 == dl && memcmp(s1, dhe, dl) == 0,
		"%s: client derives the RFC's shared secret", what);
	test_ok(tls_kex_derive(&s, cpub, cpl, s2, &l2) == 0 && l2 == dl && memcmp(s2, dhe, dl) == 0,
		"%s: server derives the RFC's shared secret", what);
	tls_kex_clear(&c);
	tls_kex_clear(&s);
	tls_buf_free(&pc);
	tls_buf_free(&ps);
}

static void bad_private(void)
{
	tls_kex k;
	tls_buf p;
	uint8_t zero[48] = { 0 }, ff[48];
	memset(ff, 0xff, sizeof(ff));
	tls_buf_init(&p, 0);
	test_ok(tls_kex_set_private(&k, TLS_GROUP_SECP256R1, zero, 32, &p) == -1 && k.key == NULL,
		"secp256r1: zero private key refused");
	test_ok(tls_kex_set_private(&k, TLS_GROUP_SECP256R1, ff, 32, &p) == -1,
		"secp256r1: private key >= order refused");
	test_ok(tls_kex_set_private(&k, TLS_GROUP_SECP384R1, ff, 32, &p) == -1,
		"secp384r1: wrong private key length refused");
	test_ok(tls_kex_set_private(&k, TLS_GROUP_X25519, ff, 31, &p) == -1 && p.len == 0,
		"x25519: wrong private key length refused");
	test_ok(tls_kex_set_private(&k, TLS_GROUP_X448, ff, 48, &p) == -1 && p.len == 0,
		"x448: wrong private key length refused");
	test_ok(tls_kex_set_private(&k, TLS_GROUP_SECP521R1, ff, 48, &p) == -1 && p.len == 0,
		"secp521r1: wrong private key length refused");
	uint8_t one = 1, big[257];
	memset(big, 0x01, sizeof(big));
	test_ok(tls_kex_set_private(&k, TLS_GROUP_FFDHE2048, zero, 1, &p) == -1 &&
		tls_kex_set_private(&k, TLS_GROUP_FFDHE2048, &one, 1, &p) == -1 && p.len == 0,
		"ffdhe2048: private exponent 0 or 1 refused");
	test_ok(tls_kex_set_private(&k, TLS_GROUP_FFDHE2048, big, sizeof(big), &p) == -1 &&
		p.len == 0, "ffdhe2048: private exponent longer than the prime refused");
	uint8_t pm1[256];
	if (ffdhe_prime("ffdhe2048", pm1, sizeof(pm1))) {
		pm1[255]--;
		test_ok(tls_kex_set_private(&k, TLS_GROUP_FFDHE2048, pm1, sizeof(pm1), &p) == -1,
			"ffdhe2048: private exponent p - 1 refused");
	}
	tls_buf_free(&p);
}

int main(void)
{
	agree();
	rfc8448("RFC 8448 §3 x25519", TLS_GROUP_X25519, RFC8448_CLIENT_X25519_PRIV,
		RFC8448_CLIENT_X25519_PUB, RFC8448_SERVER_X25519_PRIV, RFC8448_SERVER_X25519_PUB,
		RFC8448_DHE);
	rfc8448("RFC 8448 §5 secp256r1", TLS_GROUP_SECP256R1, RFC8448_HRR_CLIENT_P256_PRIV,
		RFC8448_HRR_CLIENT_P256_PUB, RFC8448_HRR_SERVER_P256_PRIV,
		RFC8448_HRR_SERVER_P256_PUB, RFC8448_HRR_DHE);
	bad_private();
	ffdhe_padding();
	return test_done();
}
