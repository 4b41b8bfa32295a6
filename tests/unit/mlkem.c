/* ML-KEM-768 (lib/tls/mlkem.c): known answers from @noble/post-quantum
 * (tests/vectors/mlkem/mlkem768.txt, or the file named by MLKEM_VECTORS),
 * random round trips, implicit rejection against J(z || c) computed here,
 * and the input checks of FIPS 203 §7.2 and §7.3. Run from the top of the
 * tree (as tests/run-all does). */
#include "test.h"
#include "tls/mlkem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#define EK_LEN TLS_MLKEM768_EK_LEN
#define DK_LEN TLS_MLKEM768_DK_LEN
#define CT_LEN TLS_MLKEM768_CT_LEN
#define SS_LEN TLS_MLKEM768_SS_LEN
#define Q 3329
#define DK_Z_OFF (DK_LEN - 32)
#define DK_H_OFF (DK_LEN - 64)
#define DK_EK_OFF (DK_LEN - 64 - EK_LEN)

/* J(z || c) = SHAKE256(z || c, 32), independently of mlkem.c. */
static void implicit_key(const uint8_t *dk, const uint8_t *ct, uint8_t out[SS_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_shake256(), NULL) ||
	    !EVP_DigestUpdate(ctx, dk + DK_Z_OFF, 32) || !EVP_DigestUpdate(ctx, ct, CT_LEN) ||
	    !EVP_DigestFinalXOF(ctx, out, SS_LEN)) {
		fprintf(stderr, "SHAKE256 unavailable\n");
		abort();
	}
	EVP_MD_CTX_free(ctx);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* ---- known answers ---- */

struct kat {
	int count;
	uint8_t d[32], z[32], m[32], ek[EK_LEN], dk[DK_LEN], ct[CT_LEN], ss[SS_LEN];
	uint8_t ct_bad[CT_LEN], ss_bad[SS_LEN];
	unsigned have;                 /* bit per field read */
};

struct field {
	const char *name;
	size_t off, len;
};

static const struct field fields[] = {
	{ "d", offsetof(struct kat, d), 32 },
	{ "z", offsetof(struct kat, z), 32 },
	{ "m", offsetof(struct kat, m), 32 },
	{ "ek", offsetof(struct kat, ek), EK_LEN },
	{ "dk", offsetof(struct kat, dk), DK_LEN },
	{ "ct", offsetof(struct kat, ct), CT_LEN },
	{ "ss", offsetof(struct kat, ss), SS_LEN },
	{ "ct_bad", offsetof(struct kat, ct_bad), CT_LEN },
	{ "ss_bad", offsetof(struct kat, ss_bad), SS_LEN },
};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))
#define ALL_FIELDS ((1u << N_FIELDS) - 1)

static void check_kat(const struct kat *v)
{
	static uint8_t ek[EK_LEN], dk[DK_LEN], ct[CT_LEN];
	uint8_t ss[SS_LEN], ss2[SS_LEN], ss_bad[SS_LEN], j[SS_LEN];
	int n = v->count;

	test_ok(v->have == ALL_FIELDS, "kat %d: record complete", n);
	test_ok(tls_mlkem768_keygen_internal(ek, dk, v->d, v->z) == 0 &&
		memcmp(ek, v->ek, EK_LEN) == 0 && memcmp(dk, v->dk, DK_LEN) == 0,
		"kat %d: KeyGen_internal(d, z) gives noble's ek and dk", n);
	test_ok(tls_mlkem768_encaps_internal(ct, ss, v->ek, EK_LEN, v->m) == 0 &&
		memcmp(ct, v->ct, CT_LEN) == 0 && memcmp(ss, v->ss, SS_LEN) == 0,
		"kat %d: Encaps_internal(ek, m) gives noble's ct and ss", n);
	test_ok(tls_mlkem768_decaps(ss2, v->ct, CT_LEN, v->dk, DK_LEN) == 0 &&
		memcmp(ss2, v->ss, SS_LEN) == 0, "kat %d: Decaps(dk, ct) gives ss", n);
	implicit_key(v->dk, v->ct_bad, j);
	test_ok(tls_mlkem768_decaps(ss_bad, v->ct_bad, CT_LEN, v->dk, DK_LEN) == 0 &&
		memcmp(ss_bad, v->ss_bad, SS_LEN) == 0 && memcmp(ss_bad, j, SS_LEN) == 0,
		"kat %d: tampered ct gives noble's rejection key, = J(z || c)", n);
}

/* Reads "name = hex" records separated by "count = N" lines. */
static int run_kats(const char *path)
{
	FILE *f = fopen(path, "r");
	static char line[8192];
	static struct kat v;
	int done = 0, open_rec = 0;

	if (!test_ok(f != NULL, "open vectors %s", path))
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *eq = strstr(line, " = ");
		if (line[0] == '#' || !eq)
			continue;
		*eq = 0;
		const char *val = eq + 3;
		if (strcmp(line, "count") == 0) {
			if (open_rec) {
				check_kat(&v);
				done++;
			}
			memset(&v, 0, sizeof(v));
			v.count = atoi(val);
			open_rec = 1;
			continue;
		}
		for (size_t i = 0; i < N_FIELDS; i++)
			if (strcmp(line, fields[i].name) == 0) {
				size_t got = test_unhex(val, (uint8_t *)&v + fields[i].off, fields[i].len);
				if (got == fields[i].len)
					v.have |= 1u << i;
			}
	}
	if (open_rec) {
		check_kat(&v);
		done++;
	}
	fclose(f);
	return done;
}

/* ---- properties ---- */

static void round_trips(int n)
{
	static uint8_t ek[EK_LEN], dk[DK_LEN], ct[CT_LEN], ek0[EK_LEN];
	uint8_t ss_e[SS_LEN], ss_d[SS_LEN], j[SS_LEN];
	int ok = 0, rejected = 0, fresh = 0;

	for (int i = 0; i < n; i++) {
		if (tls_mlkem768_keygen(ek, dk) < 0 || tls_mlkem768_encaps(ct, ss_e, ek, EK_LEN) < 0 ||
		    tls_mlkem768_decaps(ss_d, ct, CT_LEN, dk, DK_LEN) < 0)
			break;
		if (memcmp(ss_e, ss_d, SS_LEN) == 0)
			ok++;
		if (i > 0 && memcmp(ek, ek0, EK_LEN) != 0)
			fresh++;
		memcpy(ek0, ek, EK_LEN);
		/* One flipped bit anywhere: the ciphertext no longer
		 * re-encrypts, so the key is J(z || c'), not the real one. */
		uint32_t bit;
		RAND_bytes((uint8_t *)&bit, sizeof(bit));
		bit %= CT_LEN * 8;
		ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		implicit_key(dk, ct, j);
		if (tls_mlkem768_decaps(ss_d, ct, CT_LEN, dk, DK_LEN) == 0 &&
		    memcmp(ss_d, j, SS_LEN) == 0 && memcmp(ss_d, ss_e, SS_LEN) != 0)
			rejected++;
	}
	test_ok(ok == n, "random round trips: %d/%d shared secrets agree", ok, n);
	test_ok(rejected == n, "random tampered ciphertexts: %d/%d give J(z || c)", rejected, n);
	test_ok(fresh == n - 1, "randomized keygen: %d/%d keys differ from the previous", fresh, n - 1);
}

/* Sets 12-bit coefficient i of the encoded t-hat in ek to val. */
static void set_coeff(uint8_t *ek, int i, unsigned val)
{
	uint8_t *p = ek + 3 * (i / 2);
	if (i % 2 == 0) {
		p[0] = (uint8_t)val;
		p[1] = (uint8_t)((p[1] & 0xF0) | (val >> 8));
	} else {
		p[1] = (uint8_t)((p[1] & 0x0F) | ((val & 0xF) << 4));
		p[2] = (uint8_t)(val >> 4);
	}
}

static void ek_checks(void)
{
	static uint8_t ek[EK_LEN], dk[DK_LEN], bad[EK_LEN], ct[CT_LEN];
	uint8_t ss[SS_LEN];
	const int where[] = { 0, 1, 255, 256, 511, 767 };
	const unsigned vals[] = { Q, Q + 1, 4095 };
	int refused = 0, tries = 0, zeroed = 0, edge_ok = 0;

	if (!test_ok(tls_mlkem768_keygen(ek, dk) == 0, "keygen for the ek checks"))
		return;
	test_ok(tls_mlkem768_check_ek(ek, EK_LEN) == 0, "a generated ek passes the §7.2 check");
	for (size_t w = 0; w < sizeof(where) / sizeof(where[0]); w++) {
		for (size_t v = 0; v < sizeof(vals) / sizeof(vals[0]); v++) {
			memcpy(bad, ek, EK_LEN);
			set_coeff(bad, where[w], vals[v]);
			memset(ct, 0xAA, CT_LEN);
			memset(ss, 0xAA, SS_LEN);
			tries++;
			if (tls_mlkem768_check_ek(bad, EK_LEN) < 0 &&
			    tls_mlkem768_encaps(ct, ss, bad, EK_LEN) < 0)
				refused++;
			if (all_zero(ct, CT_LEN) && all_zero(ss, SS_LEN))
				zeroed++;
		}
		/* q - 1 is the largest coefficient allowed. */
		memcpy(bad, ek, EK_LEN);
		set_coeff(bad, where[w], Q - 1);
		if (tls_mlkem768_encaps(ct, ss, bad, EK_LEN) == 0)
			edge_ok++;
	}
	test_ok(refused == tries, "ek with a coefficient >= q refused: %d/%d", refused, tries);
	test_ok(zeroed == tries, "refused encaps leaves ct and ss zeroed: %d/%d", zeroed, tries);
	test_ok(edge_ok == 6, "ek with a coefficient q - 1 accepted: %d/6", edge_ok);
	/* rho (the last 32 bytes) is not checked: any value is valid. */
	memcpy(bad, ek, EK_LEN);
	memset(bad + EK_LEN - 32, 0xFF, 32);
	test_ok(tls_mlkem768_encaps(ct, ss, bad, EK_LEN) == 0, "any rho accepted");

	test_ok(tls_mlkem768_encaps(ct, ss, ek, EK_LEN - 1) < 0, "ek of 1183 bytes refused");
	test_ok(tls_mlkem768_encaps(ct, ss, ek, EK_LEN + 1) < 0, "ek of 1185 bytes refused");
	test_ok(tls_mlkem768_encaps(ct, ss, ek, 0) < 0, "empty ek refused");
	test_ok(tls_mlkem768_encaps(ct, ss, NULL, EK_LEN) < 0, "NULL ek refused");
}

static void dk_checks(void)
{
	static uint8_t ek[EK_LEN], dk[DK_LEN], bad[DK_LEN], ct[CT_LEN];
	uint8_t ss[SS_LEN], ss2[SS_LEN];

	if (!test_ok(tls_mlkem768_keygen(ek, dk) == 0 && tls_mlkem768_encaps(ct, ss, ek, EK_LEN) == 0,
		     "keygen and encaps for the dk checks"))
		return;
	test_ok(memcmp(dk + DK_EK_OFF, ek, EK_LEN) == 0, "dk carries ek");
	test_ok(tls_mlkem768_decaps(ss2, ct, CT_LEN - 1, dk, DK_LEN) < 0, "ct of 1087 bytes refused");
	test_ok(tls_mlkem768_decaps(ss2, ct, CT_LEN + 1, dk, DK_LEN) < 0, "ct of 1089 bytes refused");
	test_ok(tls_mlkem768_decaps(ss2, ct, CT_LEN, dk, DK_LEN - 1) < 0, "dk of 2399 bytes refused");
	test_ok(tls_mlkem768_decaps(ss2, ct, CT_LEN, dk, DK_LEN + 1) < 0, "dk of 2401 bytes refused");
	test_ok(tls_mlkem768_decaps(ss2, NULL, CT_LEN, dk, DK_LEN) < 0, "NULL ct refused");

	memcpy(bad, dk, DK_LEN);
	bad[DK_H_OFF + 5] ^= 0x01;
	memset(ss2, 0xAA, SS_LEN);
	test_ok(tls_mlkem768_decaps(ss2, ct, CT_LEN, bad, DK_LEN) < 0 && all_zero(ss2, SS_LEN),
		"dk with a wrong H(ek) refused (§7.3 hash check), ss zeroed");
	memcpy(bad, dk, DK_LEN);
	bad[DK_EK_OFF + 100] ^= 0x10;
	test_ok(tls_mlkem768_decaps(ss2, ct, CT_LEN, bad, DK_LEN) < 0,
		"dk whose ek does not match its H(ek) refused");
	/* A different z changes only the rejection key, never a valid one. */
	memcpy(bad, dk, DK_LEN);
	bad[DK_Z_OFF] ^= 0x01;
	test_ok(tls_mlkem768_decaps(ss2, ct, CT_LEN, bad, DK_LEN) == 0 && memcmp(ss2, ss, SS_LEN) == 0,
		"z does not affect the key of a valid ciphertext");
	/* Every tampered ciphertext byte position class: first, middle of the
	 * u part, the v part, the last byte. */
	const size_t pos[] = { 0, 480, 959, 960, CT_LEN - 1 };
	int ok = 0;
	for (size_t i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
		uint8_t j[SS_LEN];
		memcpy(bad, ct, CT_LEN);
		bad[pos[i]] ^= 0x80;
		implicit_key(dk, bad, j);
		if (tls_mlkem768_decaps(ss2, bad, CT_LEN, dk, DK_LEN) == 0 && memcmp(ss2, j, SS_LEN) == 0)
			ok++;
	}
	test_ok(ok == 5, "ct tampered in u and in v: %d/5 give J(z || c)", ok);
}

int main(void)
{
	const char *path = getenv("MLKEM_VECTORS");
	if (!path || !*path)
		path = "tests/vectors/mlkem/mlkem768.txt";

	tls_mlkem_test_xof_retries = 0;
	int n = run_kats(path);
	test_ok(n >= 1, "%d known-answer records read", n);
	test_diag("SampleNTT re-derived a longer SHAKE128 stream %lu times in the KATs",
		  tls_mlkem_test_xof_retries);
	if (!getenv("MLKEM_VECTORS"))
		test_ok(tls_mlkem_test_xof_retries > 0,
			"the KATs cover SampleNTT's longer-stream fallback");
	round_trips(200);
	ek_checks();
	dk_checks();
	return test_done();
}
