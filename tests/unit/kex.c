/* (EC)DHE: both sides agree for every group, RFC 8448 key shares reproduce
 * the RFC's shared secrets, and malformed peer shares are refused. */
#include <string.h>

#include "../vectors/rfc8448_crypto.h"
#include "test.h"
#include "tls/crypto.h"

static const struct { uint16_t id; const char *name; size_t pub_len, secret_len; } groups[] = {
	{ TLS_GROUP_X25519, "x25519", 32, 32 },
	{ TLS_GROUP_SECP256R1, "secp256r1", 65, 32 },
	{ TLS_GROUP_SECP384R1, "secp384r1", 97, 48 },
};

static void agree(void)
{
	for (size_t i = 0; i < 3; i++) {
		tls_kex a, b;
		tls_buf pa, pb;
		uint8_t sa[64], sb[64];
		size_t la = 0, lb = 0;
		tls_buf_init(&pa, 0);
		tls_buf_init(&pb, 0);
		test_ok(tls_group_supported(groups[i].id), "%s supported", groups[i].name);
		test_ok(tls_kex_generate(&a, groups[i].id, &pa) == 0 &&
			tls_kex_generate(&b, groups[i].id, &pb) == 0 &&
			pa.len == groups[i].pub_len && pb.len == groups[i].pub_len,
			"%s: key shares of %zu bytes", groups[i].name, groups[i].pub_len);
		if (groups[i].pub_len != 32)
			test_ok(pa.base[0] == 4 && pb.base[0] == 4, "%s: uncompressed points",
				groups[i].name);
		test_ok(memcmp(pa.base, pb.base, pa.len) != 0, "%s: fresh keys differ", groups[i].name);
		test_ok(tls_kex_derive(&a, pb.base, pb.len, sa, &la) == 0 &&
			tls_kex_derive(&b, pa.base, pa.len, sb, &lb) == 0 &&
			la == groups[i].secret_len && lb == la && memcmp(sa, sb, la) == 0,
			"%s: both sides derive the same %zu-byte secret", groups[i].name,
			groups[i].secret_len);

		/* Malformed peer shares. */
		uint8_t bad[128];
		size_t n = pb.len;
		memcpy(bad, pb.base, n);
		test_ok(tls_kex_derive(&a, bad, n - 1, sa, &la) == -1, "%s: short share refused",
			groups[i].name);
		bad[n] = 0;
		test_ok(tls_kex_derive(&a, bad, n + 1, sa, &la) == -1, "%s: long share refused",
			groups[i].name);
		test_ok(tls_kex_derive(&a, bad, 0, sa, &la) == -1, "%s: empty share refused",
			groups[i].name);
		if (groups[i].id != TLS_GROUP_X25519) {
			bad[0] = 0x02;
			test_ok(tls_kex_derive(&a, bad, n, sa, &la) == -1,
				"%s: 0x02 prefix refused", groups[i].name);
			bad[0] = 0x03;
			test_ok(tls_kex_derive(&a, bad, (n + 1) / 2, sa, &la) == -1,
				"%s: compressed point refused", groups[i].name);
			bad[0] = 0x04;
			bad[n - 1] ^= 0x01;
			test_ok(tls_kex_derive(&a, bad, n, sa, &la) == -1,
				"%s: point off the curve refused", groups[i].name);
			memset(bad + 1, 0, n - 1);
			test_ok(tls_kex_derive(&a, bad, n, sa, &la) == -1,
				"%s: (0,0) refused", groups[i].name);
			memset(bad + 1, 0xff, n - 1);
			test_ok(tls_kex_derive(&a, bad, n, sa, &la) == -1,
				"%s: coordinates >= p refused", groups[i].name);
			bad[0] = 0x00;
			test_ok(tls_kex_derive(&a, bad, 1, sa, &la) == -1,
				"%s: point at infinity refused", groups[i].name);
		} else {
			/* Small-order points give an all-zero secret (RFC 7748 §6.1). */
			memset(bad, 0, 32);
			test_ok(tls_kex_derive(&a, bad, 32, sa, &la) == -1,
				"x25519: all-zero point refused");
			bad[0] = 1;
			test_ok(tls_kex_derive(&a, bad, 32, sa, &la) == -1,
				"x25519: order-1 point (u=1) refused");
			uint8_t ord8[32];
			test_unhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
				   ord8, 32);
			test_ok(tls_kex_derive(&a, ord8, 32, sa, &la) == -1,
				"x25519: order-8 point refused");
		}
		tls_kex_clear(&a);
		tls_kex_clear(&b);
		test_ok(a.key == NULL && tls_kex_derive(&a, pb.base, pb.len, sa, &la) == -1,
			"%s: cleared key cannot derive", groups[i].name);
		tls_buf_free(&pa);
		tls_buf_free(&pb);
	}
	tls_kex k;
	tls_buf p;
	tls_buf_init(&p, 0);
	test_ok(!tls_group_supported(0x0019) && !tls_group_supported(0x0100) &&
		tls_kex_generate(&k, 0x0019, &p) == -1 && p.len == 0,
		"unsupported groups (secp521r1, ffdhe2048) refused");
	tls_buf_free(&p);
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
	return test_done();
}
