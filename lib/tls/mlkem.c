/* ML-KEM-768 (FIPS 203): K-PKE and the Fujisaki-Okamoto transform with
 * implicit rejection, on libcrypto's SHA3 and SHAKE.
 *
 * Arithmetic follows the shape of the CRYSTALS-Kyber reference code:
 * coefficients are int16_t, products are reduced with Montgomery reduction
 * (R = 2^16) and sums with Barrett reduction, both branch-free. The NTT works
 * on the bit-reversed order of FIPS 203 Algorithms 9-12; base
 * multiplication leaves a factor R^-1 that poly_tomont or the final scaling
 * of the inverse NTT removes. Compression divides by q with a multiply and a
 * shift, never with a division (whose timing can depend on the operand).
 * The hot loops are shaped for compilers to vectorize at -O2 (16-bit high
 * and low multiplies, NTT layers of constant length, flat base
 * multiplication): half the time of the scalar code; SHA3/SHAKE (libcrypto)
 * is then about half of each operation.
 *
 * Public data may steer branches: the matrix A (from rho), the encapsulation
 * key checks, lengths. Secret data (d, z, sigma, s, e, m, r, y, the
 * decrypted message and the re-encryption comparison) never does.
 */
#include "tls/mlkem.h"

#include <stddef.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* The test build can tell valgrind that a value derived from a secret is
 * public by design (rho, the matrix seed), so that the constant-time check
 * (secrets marked undefined) reports only real secret-dependent branches. */
#if defined(TLS_TEST_HOOKS) && defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define DECLASSIFY(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#endif
#endif
#ifndef DECLASSIFY
#define DECLASSIFY(p, n) ((void)(p), (void)(n))
#endif

#define N 256
#define Q 3329
#define K 3                          /* ML-KEM-768 */
#define ETA 2                        /* eta1 = eta2 = 2 for ML-KEM-768 */
#define DU 10
#define DV 4
#define POLY_BYTES 384               /* ByteEncode12 of one polynomial */
#define PKE_SK_BYTES (K * POLY_BYTES)                 /* 1152 */
#define CT_U_BYTES (K * 32 * DU)                      /* 960 */
#define CT_V_BYTES (32 * DV)                          /* 128 */
#define SYM 32                       /* seeds, hashes, keys */
#define XOF_BLOCK 168                /* SHAKE128 rate */
/* SampleNTT needs 256 of the 12-bit candidates below q (13/16 accepted):
 * 3 blocks give 336 candidates, enough almost always; if not, the whole
 * stream is re-derived longer (SHAKE output is a prefix-stable stream) up to
 * a bound that is never reached in practice (< 2^-600 chance). */
#define XOF_FIRST (3 * XOF_BLOCK)
#define XOF_MAX (32 * XOF_BLOCK)
#define QINV (-3327)                 /* q^-1 mod 2^16 */
/* Compress_d(x) = round(2^d x / q) as ((2^d x + ROUND_Q) * round(2^s / q)) >> s:
 * 1665 rather than q/2 makes up for the multiplier being a little below
 * 2^s / q; exact for every x in [0, q) (checked exhaustively for d = 1, 4, 10). */
#define ROUND_Q 1665

_Static_assert(TLS_MLKEM768_EK_LEN == K * POLY_BYTES + SYM, "ek length");
_Static_assert(TLS_MLKEM768_DK_LEN == 2 * K * POLY_BYTES + 3 * SYM, "dk length");
_Static_assert(TLS_MLKEM768_CT_LEN == CT_U_BYTES + CT_V_BYTES, "ct length");

#ifdef TLS_TEST_HOOKS
unsigned long tls_mlkem_test_xof_retries;
#define COUNT_XOF_RETRY() (tls_mlkem_test_xof_retries++)
#else
#define COUNT_XOF_RETRY() ((void)0)
#endif

typedef struct {
	int16_t c[N];
} poly;

typedef struct {
	poly v[K];
} polyvec;

/* zeta^BitRev7(i) * 2^16 mod q for zeta = 17, centred around 0 (FIPS 203
 * §4.3 with the Montgomery factor); the known-answer tests cover it. */
static const int16_t zetas[128] = {
	-1044, -758, -359, -1517, 1493, 1422, 287, 202, -171, 622, 1577, 182, 962,
	-1202, -1474, 1468, 573, -1325, 264, 383, -829, 1458, -1602, -130, -681,
	1017, 732, 608, -1542, 411, -205, -1571, 1223, 652, -552, 1015, -1293, 1491,
	-282, -1544, 516, -8, -320, -666, -1618, -1162, 126, 1469, -853, -90, -271,
	830, 107, -1421, -247, -951, -398, 961, -1508, -725, 448, -1065, 677, -1275,
	-1103, 430, 555, 843, -1251, 871, 1550, 105, 422, 587, 177, -235, -291, -460,
	1574, 1653, -246, 778, 1159, -147, -777, 1483, -602, 1119, -1590, 644, -872,
	349, 418, 329, -156, -75, 817, 1097, 603, 610, 1322, -1285, -1465, 384,
	-1215, -136, 1218, -1335, -874, 220, -1187, -1659, -1185, -1530, -1278, 794,
	-1510, -854, -870, 478, -108, -308, 996, 991, 958, -1460, 1522, 1628,
};

/* ---- hash functions (FIPS 203 §4.1), fetched once, never freed ---- */

static CRYPTO_ONCE fetch_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_MD *md_sha3_256, *md_sha3_512, *md_shake128, *md_shake256;

static void fetch_all(void)
{
	md_sha3_256 = EVP_MD_fetch(NULL, "SHA3-256", NULL);
	md_sha3_512 = EVP_MD_fetch(NULL, "SHA3-512", NULL);
	md_shake128 = EVP_MD_fetch(NULL, "SHAKE128", NULL);
	md_shake256 = EVP_MD_fetch(NULL, "SHAKE256", NULL);
}

/* A hash context for one operation; NULL when libcrypto lacks SHA3. */
static EVP_MD_CTX *hash_ctx_new(void)
{
	if (!CRYPTO_THREAD_run_once(&fetch_once, fetch_all) || !md_sha3_256 || !md_sha3_512 ||
	    !md_shake128 || !md_shake256)
		return NULL;
	return EVP_MD_CTX_new();
}

/* md(a || b) -> out[out_len]; out_len is the XOF length for SHAKE. */
static int hash2(EVP_MD_CTX *ctx, const EVP_MD *md, const uint8_t *a, size_t a_len,
		 const uint8_t *b, size_t b_len, uint8_t *out, size_t out_len)
{
	if (!EVP_DigestInit_ex(ctx, md, NULL) || !EVP_DigestUpdate(ctx, a, a_len) ||
	    (b_len && !EVP_DigestUpdate(ctx, b, b_len)))
		return -1;
	if (md == md_shake128 || md == md_shake256)
		return EVP_DigestFinalXOF(ctx, out, out_len) ? 0 : -1;
	return EVP_DigestFinal_ex(ctx, out, NULL) ? 0 : -1;
}

/* ---- modular arithmetic, constant time ---- */

/* The high and low halves of a 16x16-bit product: written this way,
 * compilers turn whole loops of them into 16-bit vector multiplies
 * (pmulhw/pmullw), eight or sixteen coefficients at once. */
static inline int16_t mulhi(int16_t a, int16_t b)
{
	return (int16_t)(((int32_t)a * b) >> 16);
}

static inline int16_t mullo(int16_t a, int16_t b)
{
	return (int16_t)((int32_t)a * b);
}

/* a * b * 2^-16 mod q (Montgomery) for |a * b| < q * 2^15, result in
 * (-q, q). Equal to (ab - t q) >> 16 with t = ab q^-1 mod 2^16: the low
 * halves of ab and t q are the same, so the high halves can be subtracted. */
static int16_t fqmul(int16_t a, int16_t b)
{
	int16_t t = mullo(mullo(a, b), QINV);
	return (int16_t)(mulhi(a, b) - mulhi(t, Q));
}

/* a mod q, centred: result in [-(q-1)/2, (q-1)/2]. The quotient
 * (v a + 2^25) >> 26 with v = round(2^26 / q), as ((v a) >> 16 + 2^9) >> 10
 * (the same value: flooring twice is flooring once). */
static int16_t barrett_reduce(int16_t a)
{
	const int16_t v = ((1 << 26) + Q / 2) / Q;
	int16_t t = (int16_t)((mulhi(v, a) + (1 << 9)) >> 10);
	return (int16_t)(a - t * Q);
}

/* Maps a value in (-q, q) to [0, q) without a branch. */
static uint16_t to_unsigned(int16_t a)
{
	return (uint16_t)(a + ((a >> 15) & Q));
}

/* ---- polynomials ---- */

static void poly_reduce(poly *p)
{
	for (int i = 0; i < N; i++)
		p->c[i] = barrett_reduce(p->c[i]);
}

static void poly_add(poly *r, const poly *a)
{
	for (int i = 0; i < N; i++)
		r->c[i] = (int16_t)(r->c[i] + a->c[i]);
}

/* Multiplies by 2^16 (into the Montgomery domain). */
static void poly_tomont(poly *p)
{
	const int16_t f = (int16_t)((1ULL << 32) % Q);
	for (int i = 0; i < N; i++)
		p->c[i] = fqmul(p->c[i], f);
}

/* The layers of the NTT and its inverse are inlined with a constant len:
 * inner loops of a known length that compilers vectorize at -O2 (gcc's
 * cheap cost model wants exact trip counts), about 2x faster than one
 * loop over every len. */
#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE void ntt_layer(poly *p, unsigned len, unsigned *k)
{
	for (unsigned start = 0; start < N; start += 2 * len) {
		int16_t zeta = zetas[(*k)++];
		int16_t *a = &p->c[start], *b = &p->c[start + len];
		for (unsigned j = 0; j < len; j++) {
			int16_t t = fqmul(zeta, b[j]);
			b[j] = (int16_t)(a[j] - t);
			a[j] = (int16_t)(a[j] + t);
		}
	}
}

static ALWAYS_INLINE void invntt_layer(poly *p, unsigned len, unsigned *k)
{
	for (unsigned start = 0; start < N; start += 2 * len) {
		int16_t zeta = zetas[(*k)--];
		int16_t *a = &p->c[start], *b = &p->c[start + len];
		for (unsigned j = 0; j < len; j++) {
			int16_t t = a[j];
			a[j] = barrett_reduce((int16_t)(t + b[j]));
			b[j] = fqmul(zeta, (int16_t)(b[j] - t));
		}
	}
}

/* NTT (Algorithm 9), input |c| < q, output reduced. */
static void poly_ntt(poly *p)
{
	unsigned k = 1;
	ntt_layer(p, 128, &k);
	ntt_layer(p, 64, &k);
	ntt_layer(p, 32, &k);
	ntt_layer(p, 16, &k);
	ntt_layer(p, 8, &k);
	ntt_layer(p, 4, &k);
	ntt_layer(p, 2, &k);
	poly_reduce(p);
}

/* Inverse NTT (Algorithm 10), also multiplying by 2^16 to cancel the
 * factor base multiplication leaves: 1441 = 2^32 / 128 mod q. */
static void poly_invntt_tomont(poly *p)
{
	const int16_t f = 1441;
	unsigned k = 127;
	invntt_layer(p, 2, &k);
	invntt_layer(p, 4, &k);
	invntt_layer(p, 8, &k);
	invntt_layer(p, 16, &k);
	invntt_layer(p, 32, &k);
	invntt_layer(p, 64, &k);
	invntt_layer(p, 128, &k);
	for (int j = 0; j < N; j++)
		p->c[j] = fqmul(p->c[j], f);
}

/* The moduli X^2 - gamma of base multiplication, in pair order:
 * gammas[2i] = zetas[64 + i], gammas[2i + 1] = -zetas[64 + i]. */
static const int16_t gammas[N / 2] = {
	-1103, 1103, 430, -430, 555, -555, 843, -843, -1251, 1251, 871, -871,
	1550, -1550, 105, -105, 422, -422, 587, -587, 177, -177, -235, 235,
	-291, 291, -460, 460, 1574, -1574, 1653, -1653, -246, 246, 778, -778,
	1159, -1159, -147, 147, -777, 777, 1483, -1483, -602, 602, 1119, -1119,
	-1590, 1590, 644, -644, -872, 872, 349, -349, 418, -418, 329, -329,
	-156, 156, -75, 75, 817, -817, 1097, -1097, 603, -603, 610, -610, 1322,
	-1322, -1285, 1285, -1465, 1465, 384, -384, -1215, 1215, -136, 136,
	1218, -1218, -1335, 1335, -874, 874, 220, -220, -1187, 1187, -1659,
	1659, -1185, 1185, -1530, 1530, -1278, 1278, 794, -794, -1510, 1510,
	-854, 854, -870, 870, 478, -478, -108, 108, -308, 308, 996, -996, 991,
	-991, 958, -958, -1460, 1460, 1522, -1522, 1628, -1628,
};

/* r += a o b in the NTT domain (Algorithms 11, 12), times 2^-16: products
 * in Z_q[X]/(X^2 - gamma). One flat loop over the pairs, which compilers
 * vectorize. */
static void poly_basemul_acc(poly *restrict r, const poly *restrict a, const poly *restrict b)
{
	for (int i = 0; i < N / 2; i++) {
		int16_t a0 = a->c[2 * i], a1 = a->c[2 * i + 1];
		int16_t b0 = b->c[2 * i], b1 = b->c[2 * i + 1];
		int16_t r0 = (int16_t)(fqmul(fqmul(a1, b1), gammas[i]) + fqmul(a0, b0));
		int16_t r1 = (int16_t)(fqmul(a0, b1) + fqmul(a1, b0));
		r->c[2 * i] = (int16_t)(r->c[2 * i] + r0);
		r->c[2 * i + 1] = (int16_t)(r->c[2 * i + 1] + r1);
	}
}

/* r = sum_i a[i] o b[i], reduced. K products of < q/2 * 2^15 each fit. */
static void polyvec_dot(poly *r, const polyvec *a, const polyvec *b)
{
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < K; i++) {
		poly_basemul_acc(r, &a->v[i], &b->v[i]);
		poly_reduce(r);
	}
}

/* ---- encodings (Algorithms 5, 6 and §4.2.1) ---- */

/* ByteEncode12 of a reduced polynomial (coefficients in (-q, q)). */
static void poly_tobytes(uint8_t r[POLY_BYTES], const poly *p)
{
	for (int i = 0; i < N / 2; i++) {
		uint16_t t0 = to_unsigned(p->c[2 * i]), t1 = to_unsigned(p->c[2 * i + 1]);
		r[3 * i] = (uint8_t)t0;
		r[3 * i + 1] = (uint8_t)((t0 >> 8) | (t1 << 4));
		r[3 * i + 2] = (uint8_t)(t1 >> 4);
	}
}

/* ByteDecode12, reduced mod q in constant time (a secret key may hold any
 * 12-bit value; an encapsulation key was checked before). */
static void poly_frombytes(poly *p, const uint8_t a[POLY_BYTES])
{
	for (int i = 0; i < N / 2; i++) {
		int16_t t0 = (int16_t)((a[3 * i] | ((uint16_t)a[3 * i + 1] << 8)) & 0xFFF);
		int16_t t1 = (int16_t)(((a[3 * i + 1] >> 4) | ((uint16_t)a[3 * i + 2] << 4)) & 0xFFF);
		t0 = (int16_t)(t0 - Q);
		t1 = (int16_t)(t1 - Q);
		p->c[2 * i] = (int16_t)(t0 + ((t0 >> 15) & Q));
		p->c[2 * i + 1] = (int16_t)(t1 + ((t1 >> 15) & Q));
	}
}

/* Decompress_1(ByteDecode_1(m)): bit b becomes b * (q+1)/2, via a mask. */
static void poly_frommsg(poly *p, const uint8_t m[SYM])
{
	for (int i = 0; i < N / 8; i++)
		for (int j = 0; j < 8; j++) {
			int16_t mask = (int16_t)-(int16_t)((m[i] >> j) & 1);
			p->c[8 * i + j] = (int16_t)(mask & ((Q + 1) / 2));
		}
}

/* ByteEncode_1(Compress_1(p)): round(2x/q) mod 2 as multiply-shift,
 * 80635 = round(2^28 / q). */
static void poly_tomsg(uint8_t m[SYM], const poly *p)
{
	for (int i = 0; i < N / 8; i++) {
		m[i] = 0;
		for (int j = 0; j < 8; j++) {
			uint32_t t = to_unsigned(p->c[8 * i + j]);
			t = (((t << 1) + ROUND_Q) * 80635) >> 28;
			m[i] = (uint8_t)(m[i] | ((t & 1) << j));
		}
	}
}

/* ByteEncode_10(Compress_10(u)) for each of the K polynomials;
 * 1290167 = round(2^32 / q). */
static void polyvec_compress(uint8_t r[CT_U_BYTES], const polyvec *u)
{
	for (int i = 0; i < K; i++)
		for (int j = 0; j < N / 4; j++) {
			uint16_t t[4];
			for (int k = 0; k < 4; k++) {
				uint64_t d = to_unsigned(u->v[i].c[4 * j + k]);
				d = (((d << 10) + ROUND_Q) * 1290167) >> 32;
				t[k] = (uint16_t)(d & 0x3FF);
			}
			r[0] = (uint8_t)t[0];
			r[1] = (uint8_t)((t[0] >> 8) | (t[1] << 2));
			r[2] = (uint8_t)((t[1] >> 6) | (t[2] << 4));
			r[3] = (uint8_t)((t[2] >> 4) | (t[3] << 6));
			r[4] = (uint8_t)(t[3] >> 2);
			r += 5;
		}
}

static void polyvec_decompress(polyvec *u, const uint8_t a[CT_U_BYTES])
{
	for (int i = 0; i < K; i++)
		for (int j = 0; j < N / 4; j++) {
			uint16_t t[4] = {
				(uint16_t)(a[0] | ((uint16_t)a[1] << 8)),
				(uint16_t)((a[1] >> 2) | ((uint16_t)a[2] << 6)),
				(uint16_t)((a[2] >> 4) | ((uint16_t)a[3] << 4)),
				(uint16_t)((a[3] >> 6) | ((uint16_t)a[4] << 2)),
			};
			for (int k = 0; k < 4; k++)
				u->v[i].c[4 * j + k] = (int16_t)(((uint32_t)(t[k] & 0x3FF) * Q + 512) >> 10);
			a += 5;
		}
}

/* ByteEncode_4(Compress_4(v)); 80635 = round(2^28 / q). */
static void poly_compress_v(uint8_t r[CT_V_BYTES], const poly *v)
{
	for (int i = 0; i < N / 8; i++) {
		uint8_t t[8];
		for (int j = 0; j < 8; j++) {
			uint64_t d = to_unsigned(v->c[8 * i + j]);
			d = (((d << 4) + ROUND_Q) * 80635) >> 28;
			t[j] = (uint8_t)(d & 0xF);
		}
		for (int j = 0; j < 4; j++)
			r[4 * i + j] = (uint8_t)(t[2 * j] | (t[2 * j + 1] << 4));
	}
}

static void poly_decompress_v(poly *v, const uint8_t a[CT_V_BYTES])
{
	for (int i = 0; i < N / 2; i++) {
		v->c[2 * i] = (int16_t)(((uint32_t)(a[i] & 0xF) * Q + 8) >> 4);
		v->c[2 * i + 1] = (int16_t)(((uint32_t)(a[i] >> 4) * Q + 8) >> 4);
	}
}

/* ---- sampling (Algorithms 7, 8) ---- */

/* SampleNTT(rho || x || y): rejection sampling of SHAKE128 output. The
 * branches depend on the public seed rho only. */
static int sample_ntt(EVP_MD_CTX *ctx, poly *p, const uint8_t rho[SYM], uint8_t x, uint8_t y)
{
	uint8_t buf[XOF_MAX];
	const uint8_t idx[2] = { x, y };
	size_t len = XOF_FIRST, pos = 0;
	unsigned n = 0;

	if (hash2(ctx, md_shake128, rho, SYM, idx, 2, buf, len) < 0)
		return -1;
	for (;;) {
		/* Every candidate is stored, and kept by counting it: no
		 * branch to mispredict on the one in five that is rejected. */
		while (n + 2 <= N && pos + 3 <= len) {
			uint16_t d1 = (uint16_t)((buf[pos] | ((uint16_t)buf[pos + 1] << 8)) & 0xFFF);
			uint16_t d2 = (uint16_t)((buf[pos + 1] >> 4) | ((uint16_t)buf[pos + 2] << 4));
			pos += 3;
			p->c[n] = (int16_t)d1;
			n += d1 < Q;
			p->c[n] = (int16_t)d2;
			n += d2 < Q;
		}
		while (n < N && pos + 3 <= len) {
			uint16_t d1 = (uint16_t)((buf[pos] | ((uint16_t)buf[pos + 1] << 8)) & 0xFFF);
			uint16_t d2 = (uint16_t)((buf[pos + 1] >> 4) | ((uint16_t)buf[pos + 2] << 4));
			pos += 3;
			if (d1 < Q)
				p->c[n++] = (int16_t)d1;
			if (d2 < Q && n < N)
				p->c[n++] = (int16_t)d2;
		}
		if (n == N)
			return 0;
		/* No squeeze-more in OpenSSL 3.0: the same stream, longer. */
		if (len + 2 * XOF_BLOCK > XOF_MAX)
			return -1;
		len += 2 * XOF_BLOCK;
		COUNT_XOF_RETRY();
		if (hash2(ctx, md_shake128, rho, SYM, idx, 2, buf, len) < 0)
			return -1;
	}
}

/* Â (transposed: Â^T) in the NTT domain: Â[i][j] = SampleNTT(rho || j || i). */
static int gen_matrix(EVP_MD_CTX *ctx, polyvec a[K], const uint8_t rho[SYM], int transposed)
{
	for (int i = 0; i < K; i++)
		for (int j = 0; j < K; j++) {
			uint8_t x = (uint8_t)(transposed ? i : j), y = (uint8_t)(transposed ? j : i);
			if (sample_ntt(ctx, &a[i].v[j], rho, x, y) < 0)
				return -1;
		}
	return 0;
}

/* SamplePolyCBD_2(PRF_2(sigma, nonce)): each coefficient is the difference
 * of two 2-bit popcounts, computed with masks. */
static int sample_cbd(EVP_MD_CTX *ctx, poly *p, const uint8_t sigma[SYM], uint8_t nonce)
{
	uint8_t buf[64 * ETA];
	if (hash2(ctx, md_shake256, sigma, SYM, &nonce, 1, buf, sizeof(buf)) < 0) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	/* byte i holds coefficients 2i (low nibble) and 2i + 1 (high) */
	for (int i = 0; i < N / 2; i++) {
		unsigned d = (buf[i] & 0x55u) + ((buf[i] >> 1) & 0x55u);
		p->c[2 * i] = (int16_t)((int16_t)(d & 3) - (int16_t)((d >> 2) & 3));
		p->c[2 * i + 1] = (int16_t)((int16_t)((d >> 4) & 3) - (int16_t)((d >> 6) & 3));
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

/* ---- K-PKE (Algorithms 13-15) ---- */

/* Key generation's work space: the matrix and t are public (ek carries
 * rho and t); everything from seed on is secret and wiped. */
struct kpke_keygen_tmp {
	polyvec a[K], t;
	uint8_t seed[SYM + 1];         /* d || k */
	uint8_t rho_sigma[2 * SYM];
	polyvec s, e;
};

/* Wipes the secret tail of a work space, from its first secret member:
 * the public matrix is most of its size. */
#define FREE_TMP(w, first_secret)                                                        \
	do {                                                                             \
		OPENSSL_cleanse(&(w)->first_secret,                                      \
				sizeof(*(w)) - offsetof(__typeof__(*(w)), first_secret)); \
		OPENSSL_free(w);                                                         \
	} while (0)

static int kpke_keygen(EVP_MD_CTX *ctx, uint8_t ek[TLS_MLKEM768_EK_LEN],
		       uint8_t dk_pke[PKE_SK_BYTES], const uint8_t d[SYM])
{
	struct kpke_keygen_tmp *w = OPENSSL_malloc(sizeof(*w));
	const uint8_t *rho, *sigma;
	uint8_t nonce = 0;
	int rc = -1;

	if (!w)
		return -1;
	memcpy(w->seed, d, SYM);
	w->seed[SYM] = K;
	if (hash2(ctx, md_sha3_512, w->seed, sizeof(w->seed), NULL, 0, w->rho_sigma, 2 * SYM) < 0)
		goto out;
	rho = w->rho_sigma;
	sigma = w->rho_sigma + SYM;
	DECLASSIFY(rho, SYM);          /* rho is published in ek */
	if (gen_matrix(ctx, w->a, rho, 0) < 0)
		goto out;
	for (int i = 0; i < K; i++)
		if (sample_cbd(ctx, &w->s.v[i], sigma, nonce++) < 0)
			goto out;
	for (int i = 0; i < K; i++)
		if (sample_cbd(ctx, &w->e.v[i], sigma, nonce++) < 0)
			goto out;
	for (int i = 0; i < K; i++) {
		poly_ntt(&w->s.v[i]);
		poly_ntt(&w->e.v[i]);
	}
	for (int i = 0; i < K; i++) {
		polyvec_dot(&w->t.v[i], &w->a[i], &w->s);
		poly_tomont(&w->t.v[i]);
		poly_add(&w->t.v[i], &w->e.v[i]);
		poly_reduce(&w->t.v[i]);
	}
	for (int i = 0; i < K; i++) {
		poly_tobytes(ek + i * POLY_BYTES, &w->t.v[i]);
		poly_tobytes(dk_pke + i * POLY_BYTES, &w->s.v[i]);
	}
	memcpy(ek + K * POLY_BYTES, rho, SYM);
	rc = 0;
out:
	FREE_TMP(w, seed);
	return rc;
}

/* Encryption's work space: at and t come from ek (public); y and what
 * follows depend on r and m and are wiped. */
struct kpke_encrypt_tmp {
	polyvec at[K], t;
	polyvec y, u;
	poly e2, v, mu, e1[K];
};

/* c = K-PKE.Encrypt(ek, m, r); ek passed the §7.2 check. */
static int kpke_encrypt(EVP_MD_CTX *ctx, uint8_t ct[TLS_MLKEM768_CT_LEN],
			const uint8_t ek[TLS_MLKEM768_EK_LEN], const uint8_t m[SYM],
			const uint8_t r[SYM])
{
	struct kpke_encrypt_tmp *w = OPENSSL_malloc(sizeof(*w));
	const uint8_t *rho = ek + K * POLY_BYTES;
	uint8_t nonce = 0;
	int rc = -1;

	if (!w)
		return -1;
	for (int i = 0; i < K; i++)
		poly_frombytes(&w->t.v[i], ek + i * POLY_BYTES);
	if (gen_matrix(ctx, w->at, rho, 1) < 0)
		goto out;
	for (int i = 0; i < K; i++)
		if (sample_cbd(ctx, &w->y.v[i], r, nonce++) < 0)
			goto out;
	for (int i = 0; i < K; i++)
		if (sample_cbd(ctx, &w->e1[i], r, nonce++) < 0)
			goto out;
	if (sample_cbd(ctx, &w->e2, r, nonce++) < 0)
		goto out;
	for (int i = 0; i < K; i++)
		poly_ntt(&w->y.v[i]);
	for (int i = 0; i < K; i++) {
		polyvec_dot(&w->u.v[i], &w->at[i], &w->y);
		poly_invntt_tomont(&w->u.v[i]);
		poly_add(&w->u.v[i], &w->e1[i]);
		poly_reduce(&w->u.v[i]);
	}
	polyvec_dot(&w->v, &w->t, &w->y);
	poly_invntt_tomont(&w->v);
	poly_frommsg(&w->mu, m);
	poly_add(&w->v, &w->e2);
	poly_add(&w->v, &w->mu);
	poly_reduce(&w->v);
	polyvec_compress(ct, &w->u);
	poly_compress_v(ct + CT_U_BYTES, &w->v);
	rc = 0;
out:
	FREE_TMP(w, y);
	return rc;
}

struct kpke_decrypt_tmp {
	polyvec s, u;
	poly v, w;
};

/* m = K-PKE.Decrypt(dk_pke, c). */
static int kpke_decrypt(uint8_t m[SYM], const uint8_t dk_pke[PKE_SK_BYTES],
			const uint8_t ct[TLS_MLKEM768_CT_LEN])
{
	struct kpke_decrypt_tmp *w = OPENSSL_malloc(sizeof(*w));
	if (!w)
		return -1;
	polyvec_decompress(&w->u, ct);
	poly_decompress_v(&w->v, ct + CT_U_BYTES);
	for (int i = 0; i < K; i++) {
		poly_frombytes(&w->s.v[i], dk_pke + i * POLY_BYTES);
		poly_ntt(&w->u.v[i]);
	}
	polyvec_dot(&w->w, &w->s, &w->u);
	poly_invntt_tomont(&w->w);
	for (int i = 0; i < N; i++)
		w->w.c[i] = (int16_t)(w->v.c[i] - w->w.c[i]);
	poly_reduce(&w->w);
	poly_tomsg(m, &w->w);
	OPENSSL_clear_free(w, sizeof(*w));
	return 0;
}

/* ---- ML-KEM (Algorithms 16-21) ---- */

int tls_mlkem768_check_ek(const uint8_t *ek, size_t ek_len)
{
	if (!ek || ek_len != TLS_MLKEM768_EK_LEN)
		return -1;
	/* ByteEncode12(ByteDecode12(ek)) == ek exactly when every 12-bit
	 * value is below q (decoding reduces mod q). ek is public. */
	for (size_t i = 0; i < K * POLY_BYTES; i += 3) {
		uint16_t t0 = (uint16_t)((ek[i] | ((uint16_t)ek[i + 1] << 8)) & 0xFFF);
		uint16_t t1 = (uint16_t)((ek[i + 1] >> 4) | ((uint16_t)ek[i + 2] << 4));
		if (t0 >= Q || t1 >= Q)
			return -1;
	}
	return 0;
}

int tls_mlkem768_keygen_internal(uint8_t ek[TLS_MLKEM768_EK_LEN], uint8_t dk[TLS_MLKEM768_DK_LEN],
				 const uint8_t d[TLS_MLKEM768_SEED_LEN],
				 const uint8_t z[TLS_MLKEM768_SEED_LEN])
{
	EVP_MD_CTX *ctx = hash_ctx_new();
	uint8_t *p = dk + PKE_SK_BYTES;
	int rc = -1;

	if (!ctx || kpke_keygen(ctx, ek, dk, d) < 0)
		goto out;
	/* dk = dk_pke || ek || H(ek) || z */
	memcpy(p, ek, TLS_MLKEM768_EK_LEN);
	p += TLS_MLKEM768_EK_LEN;
	if (hash2(ctx, md_sha3_256, ek, TLS_MLKEM768_EK_LEN, NULL, 0, p, SYM) < 0)
		goto out;
	memcpy(p + SYM, z, SYM);
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	if (rc < 0) {
		OPENSSL_cleanse(dk, TLS_MLKEM768_DK_LEN);
		memset(ek, 0, TLS_MLKEM768_EK_LEN);
	}
	return rc;
}

int tls_mlkem768_keygen(uint8_t ek[TLS_MLKEM768_EK_LEN], uint8_t dk[TLS_MLKEM768_DK_LEN])
{
	uint8_t dz[2 * SYM];
	int rc = -1;
	if (RAND_priv_bytes(dz, sizeof(dz)) == 1)
		rc = tls_mlkem768_keygen_internal(ek, dk, dz, dz + SYM);
	else {
		OPENSSL_cleanse(dk, TLS_MLKEM768_DK_LEN);
		memset(ek, 0, TLS_MLKEM768_EK_LEN);
	}
	OPENSSL_cleanse(dz, sizeof(dz));
	return rc;
}

int tls_mlkem768_encaps_internal(uint8_t ct[TLS_MLKEM768_CT_LEN], uint8_t ss[TLS_MLKEM768_SS_LEN],
				 const uint8_t *ek, size_t ek_len,
				 const uint8_t m[TLS_MLKEM768_SEED_LEN])
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t h[SYM], kr[2 * SYM];   /* kr = K || r */
	int rc = -1;

	if (tls_mlkem768_check_ek(ek, ek_len) < 0 || !(ctx = hash_ctx_new()))
		goto out;
	if (hash2(ctx, md_sha3_256, ek, ek_len, NULL, 0, h, SYM) < 0 ||
	    hash2(ctx, md_sha3_512, m, SYM, h, SYM, kr, sizeof(kr)) < 0 ||
	    kpke_encrypt(ctx, ct, ek, m, kr + SYM) < 0)
		goto out;
	memcpy(ss, kr, SYM);
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(kr, sizeof(kr));
	if (rc < 0) {
		OPENSSL_cleanse(ss, TLS_MLKEM768_SS_LEN);
		memset(ct, 0, TLS_MLKEM768_CT_LEN);
	}
	return rc;
}

int tls_mlkem768_encaps(uint8_t ct[TLS_MLKEM768_CT_LEN], uint8_t ss[TLS_MLKEM768_SS_LEN],
			const uint8_t *ek, size_t ek_len)
{
	uint8_t m[SYM];
	int rc = -1;
	if (RAND_priv_bytes(m, sizeof(m)) == 1)
		rc = tls_mlkem768_encaps_internal(ct, ss, ek, ek_len, m);
	else {
		OPENSSL_cleanse(ss, TLS_MLKEM768_SS_LEN);
		memset(ct, 0, TLS_MLKEM768_CT_LEN);
	}
	OPENSSL_cleanse(m, sizeof(m));
	return rc;
}

/* Decaps_internal (Algorithm 18) after the §7.3 checks. */
struct decaps_tmp {
	uint8_t m[SYM];
	uint8_t kr[2 * SYM];           /* K' || r' */
	uint8_t kbar[SYM];
	uint8_t ct2[TLS_MLKEM768_CT_LEN];
};

int tls_mlkem768_decaps(uint8_t ss[TLS_MLKEM768_SS_LEN], const uint8_t *ct, size_t ct_len,
			const uint8_t *dk, size_t dk_len)
{
	const uint8_t *ek = dk + PKE_SK_BYTES;
	const uint8_t *h = ek + TLS_MLKEM768_EK_LEN, *z = h + SYM;
	EVP_MD_CTX *ctx = NULL;
	struct decaps_tmp *w = NULL;
	uint8_t hek[SYM];
	int rc = -1;

	if (!ct || !dk || ct_len != TLS_MLKEM768_CT_LEN || dk_len != TLS_MLKEM768_DK_LEN ||
	    !(ctx = hash_ctx_new()) || !(w = OPENSSL_malloc(sizeof(*w))))
		goto out;
	/* Hash check (§7.3): the ek and H(ek) inside dk are public. */
	if (hash2(ctx, md_sha3_256, ek, TLS_MLKEM768_EK_LEN, NULL, 0, hek, SYM) < 0 ||
	    CRYPTO_memcmp(hek, h, SYM) != 0)
		goto out;
	if (kpke_decrypt(w->m, dk, ct) < 0 ||
	    hash2(ctx, md_sha3_512, w->m, SYM, h, SYM, w->kr, sizeof(w->kr)) < 0 ||
	    hash2(ctx, md_shake256, z, SYM, ct, ct_len, w->kbar, SYM) < 0 ||
	    kpke_encrypt(ctx, w->ct2, ek, w->m, w->kr + SYM) < 0)
		goto out;
	/* Implicit rejection: K' when c' == c, else K-bar, chosen with a
	 * mask built without a branch; the barrier keeps the compiler from
	 * turning the select back into one. */
	uint32_t diff = 0;
	for (size_t i = 0; i < TLS_MLKEM768_CT_LEN; i++)
		diff |= (uint32_t)(ct[i] ^ w->ct2[i]);
	uint8_t keep = (uint8_t)((diff - 1) >> 8);   /* 0xFF iff diff == 0 */
	__asm__("" : "+r"(keep));
	for (int i = 0; i < SYM; i++)
		ss[i] = (uint8_t)((w->kr[i] & keep) | (w->kbar[i] & (uint8_t)~keep));
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	if (w)
		OPENSSL_clear_free(w, sizeof(*w));
	if (rc < 0)
		OPENSSL_cleanse(ss, TLS_MLKEM768_SS_LEN);
	return rc;
}
