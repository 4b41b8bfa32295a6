/* The per-handshake crypto floor: microseconds for each primitive the engine
 * uses, measured in a loop. Run: $BUILD/bench/crypto_floor [iterations] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "tls/crypto.h"
#include "tls/mlkem.h"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

#define BENCH(name, n, body)                                                        \
	do {                                                                        \
		double t0 = now_us();                                               \
		for (int i_ = 0; i_ < (n); i_++) {                                  \
			body;                                                       \
		}                                                                   \
		printf("%-44s %9.2f us\n", name, (now_us() - t0) / (n));            \
	} while (0)

/* libcrypto's own HKDF-Expand, fetched per call as libssl 3.0 does. */
static void ref_expand(const uint8_t *secret, uint8_t *out)
{
	static const uint8_t info[] = { 0, 32, 9, 't', 'l', 's', '1', '3', ' ', 'k', 'e', 'y', 0 };
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, 32),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, sizeof(info)),
		OSSL_PARAM_construct_end(),
	};
	EVP_KDF_derive(kc, out, 32, p);
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	uint8_t secret[48] = { 1 }, out[64], hash[48] = { 2 }, ss[64];
	size_t sl;
	const tls_cipher *cs = tls_cipher_find(TLS_AES_128_GCM_SHA256);

	/* warm up the fetch caches */
	tls_hkdf_expand_label(EVP_sha256(), secret, 32, "key", NULL, 0, out, 16);

	BENCH("HKDF-Expand-Label (SHA-256, 32 B)", n * 10,
	      tls_hkdf_expand_label(EVP_sha256(), secret, 32, "c hs traffic", hash, 32, out, 32));
	BENCH("libcrypto EVP_KDF HKDF expand (fetch/call)", n * 10, ref_expand(secret, out));
	BENCH("HKDF-Extract (SHA-256)", n * 10,
	      tls_hkdf_extract(EVP_sha256(), secret, 32, hash, 32, out));
	BENCH("Finished MAC (SHA-256)", n * 10, tls_finished_mac(EVP_sha256(), secret, hash, out));

	tls_keysched ks;
	BENCH("full key schedule (no PSK, 11 derivations)", n, {
		tls_keysched_init(&ks, EVP_sha256(), NULL, 0);
		tls_keysched_handshake(&ks, secret, 32);
		tls_keysched_derive(&ks, "c hs traffic", hash, out);
		tls_keysched_derive(&ks, "s hs traffic", hash, out);
		tls_keysched_master(&ks);
		tls_keysched_derive(&ks, "c ap traffic", hash, out);
		tls_keysched_derive(&ks, "s ap traffic", hash, out);
		tls_keysched_derive(&ks, "exp master", hash, out);
		tls_keysched_derive(&ks, "res master", hash, out);
	});

	tls_traffic_key k;
	BENCH("traffic key init + clear (AES-128-GCM)", n, {
		tls_traffic_key_init(&k, cs, secret);
		tls_traffic_key_clear(&k);
	});
	tls_traffic_key_init(&k, cs, secret);
	uint8_t msg[1024] = { 0 };
	tls_buf b;
	tls_buf_init(&b, 0);
	BENCH("record seal 1 KiB (AES-128-GCM)", n * 10, {
		tls_buf_reset(&b);
		tls_record_seal(&k, 22, msg, sizeof(msg), 0, &b);
	});
	tls_traffic_key_clear(&k);

	tls_transcript t;
	BENCH("transcript: 6 messages + 4 hashes", n, {
		tls_transcript_init(&t);
		tls_transcript_set_hash(&t, EVP_sha256());
		for (int j = 0; j < 6; j++) {
			tls_transcript_add(&t, msg, 300);
			if (j > 1)
				tls_transcript_hash(&t, out);
		}
		tls_transcript_free(&t);
	});

	static const struct { uint16_t id; const char *name; } groups[] = {
		{ TLS_GROUP_X25519, "X25519 keygen + derive" },
		{ TLS_GROUP_SECP256R1, "P-256 keygen + derive" },
		{ TLS_GROUP_SECP384R1, "P-384 keygen + derive" },
	};
	for (int g = 0; g < 3; g++) {
		tls_kex a, p;
		tls_buf pa, pp;
		tls_buf_init(&pa, 0);
		tls_buf_init(&pp, 0);
		tls_kex_generate(&p, groups[g].id, &pp);
		int m = g == 2 ? n / 4 : n;
		BENCH(groups[g].name, m, {
			tls_buf_reset(&pa);
			tls_kex_generate(&a, groups[g].id, &pa);
			tls_kex_derive(&a, pp.base, pp.len, ss, &sl);
			tls_kex_clear(&a);
		});
		tls_kex_clear(&p);
		tls_buf_free(&pa);
		tls_buf_free(&pp);
	}

	/* ML-KEM-768 (lib/tls/mlkem.c), next to the (EC)DHE rows above. */
	static uint8_t mk_ek[TLS_MLKEM768_EK_LEN], mk_dk[TLS_MLKEM768_DK_LEN], mk_ct[TLS_MLKEM768_CT_LEN];
	BENCH("ML-KEM-768 keygen", n, tls_mlkem768_keygen(mk_ek, mk_dk));
	BENCH("ML-KEM-768 encaps", n, tls_mlkem768_encaps(mk_ct, ss, mk_ek, sizeof(mk_ek)));
	BENCH("ML-KEM-768 decaps", n, tls_mlkem768_decaps(ss, mk_ct, sizeof(mk_ct), mk_dk, sizeof(mk_dk)));

	uint8_t content[200];
	size_t cl = tls_cv_content(true, hash, 32, content);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	tls_buf sig;
	tls_buf_init(&sig, 0);
	BENCH("ECDSA P-256 sign", n, {
		tls_buf_reset(&sig);
		tls_sig_sign(ec, TLS_SIG_ECDSA_SECP256R1_SHA256, content, cl, &sig);
	});
	BENCH("ECDSA P-256 verify", n,
	      tls_sig_verify(ec, TLS_SIG_ECDSA_SECP256R1_SHA256, content, cl, sig.base, sig.len));
	BENCH("Ed25519 sign", n, {
		tls_buf_reset(&sig);
		tls_sig_sign(ed, TLS_SIG_ED25519, content, cl, &sig);
	});
	BENCH("RSA-2048 PSS sign", n / 10, {
		tls_buf_reset(&sig);
		tls_sig_sign(rsa, TLS_SIG_RSA_PSS_RSAE_SHA256, content, cl, &sig);
	});
	BENCH("RSA-2048 PSS verify", n,
	      tls_sig_verify(rsa, TLS_SIG_RSA_PSS_RSAE_SHA256, content, cl, sig.base, sig.len));
	tls_buf_free(&sig);
	tls_buf_free(&b);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ed);
	return 0;
}
