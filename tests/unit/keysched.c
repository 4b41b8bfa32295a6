/* Key schedule, HKDF and transcript hash against RFC 8448 byte for byte,
 * plus cross-checks of HKDF/HMAC against libcrypto's own implementations. */
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "../vectors/rfc8448_crypto.h"
#include "test.h"
#include "tls/crypto.h"

#define V(name, hex) uint8_t name[1024]; size_t name##_len = test_unhex(hex, name, sizeof(name)); (void)name##_len

static bool eq(const uint8_t *a, const uint8_t *b, size_t n, const char *what)
{
	if (memcmp(a, b, n) == 0)
		return true;
	test_dump(what, a, n);
	test_dump("expected", b, n);
	return false;
}

static void add_hex(tls_transcript *t, const char *hex)
{
	uint8_t msg[1024];
	size_t n = test_unhex(hex, msg, sizeof(msg));
	if (tls_transcript_add(t, msg, n))
		test_diag("tls_transcript_add failed");
}

static void rfc8448_simple(void)
{
	const EVP_MD *md = EVP_sha256();
	uint8_t s[64], h[64], key[32], iv[12];
	tls_keysched ks;
	tls_transcript t;

	test_ok(tls_keysched_init(&ks, md, NULL, 0) == 0 && ks.stage == 1, "keysched init (no PSK)");
	V(early, RFC8448_EARLY_SECRET);
	test_ok(eq(ks.secret, early, early_len, "early"), "early secret");

	V(empty_hash, RFC8448_EMPTY_HASH);
	V(derived_hs, RFC8448_DERIVED_HS);
	test_ok(tls_derive_secret(md, ks.secret, "derived", empty_hash, s) == 0 &&
		eq(s, derived_hs, 32, "derived"), "Derive-Secret(early, \"derived\", \"\")");

	/* The client does not know the hash when it sends ClientHello: buffered. */
	tls_transcript_init(&t);
	add_hex(&t, RFC8448_CLIENT_HELLO);
	test_ok(tls_transcript_hash(&t, h) != 0, "no transcript hash before the hash is chosen");
	test_ok(tls_transcript_set_hash(&t, md) == 0, "transcript hash set after ClientHello");
	add_hex(&t, RFC8448_SERVER_HELLO);
	V(hs_hash, RFC8448_HS_HASH);
	test_ok(tls_transcript_hash(&t, h) == 0 && eq(h, hs_hash, 32, "CH..SH"),
		"transcript hash ClientHello..ServerHello");
	test_ok(tls_transcript_hash(&t, h) == 0 && eq(h, hs_hash, 32, "CH..SH"),
		"transcript hash is not finalised by reading it");

	V(dhe, RFC8448_DHE);
	V(hs_secret, RFC8448_HS_SECRET);
	test_ok(tls_keysched_handshake(&ks, dhe, dhe_len) == 0 && ks.stage == 2 &&
		eq(ks.secret, hs_secret, 32, "hs"), "handshake secret");
	uint8_t c_hs[32], s_hs[32];
	V(c_hs_want, RFC8448_C_HS_TRAFFIC);
	V(s_hs_want, RFC8448_S_HS_TRAFFIC);
	test_ok(tls_keysched_derive(&ks, "c hs traffic", h, c_hs) == 0 &&
		eq(c_hs, c_hs_want, 32, "c hs"), "client_handshake_traffic_secret");
	test_ok(tls_keysched_derive(&ks, "s hs traffic", h, s_hs) == 0 &&
		eq(s_hs, s_hs_want, 32, "s hs"), "server_handshake_traffic_secret");

	const tls_cipher *cs = tls_cipher_find(TLS_AES_128_GCM_SHA256);
	V(s_hs_key, RFC8448_S_HS_KEY);
	V(s_hs_iv, RFC8448_S_HS_IV);
	V(c_hs_key, RFC8448_C_HS_KEY);
	V(c_hs_iv, RFC8448_C_HS_IV);
	test_ok(tls_traffic_key_derive(cs, s_hs, key, iv) == 0 && eq(key, s_hs_key, 16, "key") &&
		eq(iv, s_hs_iv, 12, "iv"), "server handshake write key and iv");
	test_ok(tls_traffic_key_derive(cs, c_hs, key, iv) == 0 && eq(key, c_hs_key, 16, "key") &&
		eq(iv, c_hs_iv, 12, "iv"), "client handshake write key and iv");

	/* Server Finished over CH..CertificateVerify. */
	add_hex(&t, RFC8448_ENCRYPTED_EXTENSIONS);
	add_hex(&t, RFC8448_CERTIFICATE);
	add_hex(&t, RFC8448_CERTIFICATE_VERIFY);
	V(sfk, RFC8448_S_FINISHED_KEY);
	test_ok(tls_hkdf_expand_label(md, s_hs, 32, "finished", NULL, 0, s, 32) == 0 &&
		eq(s, sfk, 32, "finished key"), "server finished_key");
	V(sfin, RFC8448_S_FINISHED);
	test_ok(tls_transcript_hash(&t, h) == 0 && tls_finished_mac(md, s_hs, h, s) == 0 &&
		eq(s, sfin, 32, "verify_data"), "server Finished verify_data");

	add_hex(&t, RFC8448_S_FINISHED_MSG);
	V(ap_hash, RFC8448_AP_HASH);
	test_ok(tls_transcript_hash(&t, h) == 0 && eq(h, ap_hash, 32, "CH..SF"),
		"transcript hash ClientHello..server Finished");

	V(derived_m, RFC8448_DERIVED_MASTER);
	test_ok(tls_derive_secret(md, ks.secret, "derived", empty_hash, s) == 0 &&
		eq(s, derived_m, 32, "derived"), "Derive-Secret(handshake, \"derived\", \"\")");
	V(master, RFC8448_MASTER_SECRET);
	test_ok(tls_keysched_master(&ks) == 0 && ks.stage == 3 && eq(ks.secret, master, 32, "ms"),
		"master secret");
	uint8_t c_ap[32], s_ap[32];
	V(c_ap_want, RFC8448_C_AP_TRAFFIC);
	V(s_ap_want, RFC8448_S_AP_TRAFFIC);
	V(exp_want, RFC8448_EXP_MASTER);
	test_ok(tls_keysched_derive(&ks, "c ap traffic", h, c_ap) == 0 &&
		eq(c_ap, c_ap_want, 32, "c ap"), "client_application_traffic_secret_0");
	test_ok(tls_keysched_derive(&ks, "s ap traffic", h, s_ap) == 0 &&
		eq(s_ap, s_ap_want, 32, "s ap"), "server_application_traffic_secret_0");
	test_ok(tls_keysched_derive(&ks, "exp master", h, s) == 0 && eq(s, exp_want, 32, "exp"),
		"exporter_master_secret");

	V(s_ap_key, RFC8448_S_AP_KEY);
	V(s_ap_iv, RFC8448_S_AP_IV);
	V(c_ap_key, RFC8448_C_AP_KEY);
	V(c_ap_iv, RFC8448_C_AP_IV);
	test_ok(tls_traffic_key_derive(cs, s_ap, key, iv) == 0 && eq(key, s_ap_key, 16, "key") &&
		eq(iv, s_ap_iv, 12, "iv"), "server application write key and iv");
	test_ok(tls_traffic_key_derive(cs, c_ap, key, iv) == 0 && eq(key, c_ap_key, 16, "key") &&
		eq(iv, c_ap_iv, 12, "iv"), "client application write key and iv");

	/* Client Finished over CH..server Finished. */
	V(cfk, RFC8448_C_FINISHED_KEY);
	V(cfin, RFC8448_C_FINISHED);
	test_ok(tls_hkdf_expand_label(md, c_hs, 32, "finished", NULL, 0, s, 32) == 0 &&
		eq(s, cfk, 32, "finished key"), "client finished_key");
	test_ok(tls_finished_mac(md, c_hs, h, s) == 0 && eq(s, cfin, 32, "verify_data"),
		"client Finished verify_data");
	test_ok(tls_ct_equal(s, cfin, 32), "ct_equal on equal MACs");
	s[31] ^= 1;
	test_ok(!tls_ct_equal(s, cfin, 32), "ct_equal sees a last-byte difference");
	s[31] ^= 1;
	s[0] ^= 0x80;
	test_ok(!tls_ct_equal(s, cfin, 32), "ct_equal sees a first-byte difference");
	test_ok(tls_ct_equal(s, cfin, 0), "ct_equal of nothing is equal");

	add_hex(&t, RFC8448_C_FINISHED_MSG);
	V(res_hash, RFC8448_RES_HASH);
	V(res_master, RFC8448_RES_MASTER);
	V(resumption, RFC8448_RESUMPTION);
	test_ok(tls_transcript_hash(&t, h) == 0 && eq(h, res_hash, 32, "CH..CF"),
		"transcript hash ClientHello..client Finished");
	test_ok(tls_keysched_derive(&ks, "res master", h, s) == 0 &&
		eq(s, res_master, 32, "res master"), "resumption_master_secret");
	const uint8_t nonce[2] = { 0, 0 };
	uint8_t psk[32];
	test_ok(tls_hkdf_expand_label(md, s, 32, "resumption", nonce, 2, psk, 32) == 0 &&
		eq(psk, resumption, 32, "psk"), "ticket PSK (\"resumption\", nonce 00 00)");

	test_ok(tls_keysched_master(&ks) != 0, "master stage cannot be entered twice");
	tls_keysched_clear(&ks);
	test_ok(ks.stage == 0 && ks.secret[0] == 0 && tls_keysched_derive(&ks, "x", h, s) != 0,
		"cleared key schedule is wiped and unusable");
	tls_keysched ks2;
	test_ok(tls_keysched_init(&ks2, md, NULL, 0) == 0 && tls_keysched_master(&ks2) != 0,
		"master before handshake is refused");
	tls_keysched_clear(&ks2);
	tls_transcript_free(&t);
}

/* RFC 8448 §5: ClientHello1 is replaced by message_hash after the HRR. */
static void rfc8448_hrr(void)
{
	tls_transcript t;
	uint8_t h[64];
	V(want, RFC8448_HRR_HS_HASH);

	/* Client view: CH1 buffered, hash learned from the HRR. */
	tls_transcript_init(&t);
	add_hex(&t, RFC8448_HRR_CH1);
	test_ok(tls_transcript_hrr_rewrite(&t) != 0, "HRR rewrite needs the hash");
	test_ok(tls_transcript_set_hash(&t, EVP_sha256()) == 0 && tls_transcript_hrr_rewrite(&t) == 0,
		"HRR rewrite of buffered ClientHello1");
	add_hex(&t, RFC8448_HRR_HRR);
	add_hex(&t, RFC8448_HRR_CH2);
	add_hex(&t, RFC8448_HRR_SH);
	test_ok(tls_transcript_hash(&t, h) == 0 && eq(h, want, 32, "hrr hash"),
		"HRR transcript CH1->message_hash, HRR, CH2, SH matches RFC 8448 §5");
	test_ok(tls_transcript_set_hash(&t, EVP_sha384()) != 0, "hash cannot change once set");
	test_ok(tls_transcript_set_hash(&t, EVP_sha256()) == 0, "setting the same hash again is fine");
	tls_transcript_free(&t);

	/* Server view: hash known before CH1. */
	tls_transcript_init(&t);
	tls_transcript_set_hash(&t, EVP_sha256());
	add_hex(&t, RFC8448_HRR_CH1);
	tls_transcript_hrr_rewrite(&t);
	add_hex(&t, RFC8448_HRR_HRR);
	add_hex(&t, RFC8448_HRR_CH2);
	add_hex(&t, RFC8448_HRR_SH);
	test_ok(tls_transcript_hash(&t, h) == 0 && eq(h, want, 32, "hrr hash"),
		"HRR transcript, hash set before ClientHello1");
	tls_transcript_free(&t);

	/* Without the rewrite the hash differs (the test can fail). */
	tls_transcript_init(&t);
	tls_transcript_set_hash(&t, EVP_sha256());
	add_hex(&t, RFC8448_HRR_CH1);
	add_hex(&t, RFC8448_HRR_HRR);
	add_hex(&t, RFC8448_HRR_CH2);
	add_hex(&t, RFC8448_HRR_SH);
	test_ok(tls_transcript_hash(&t, h) == 0 && memcmp(h, want, 32) != 0,
		"without the rewrite the transcript differs");
	tls_transcript_free(&t);
}

/* libcrypto's HKDF in EXPAND_ONLY mode with a hand-built HkdfLabel. */
static int ref_expand_label(const char *mdname, const uint8_t *secret, size_t slen,
			    const char *label, const uint8_t *ctx, size_t ctx_len,
			    uint8_t *out, size_t out_len)
{
	uint8_t info[600];
	size_t n = 0, ll = strlen(label);
	info[n++] = (uint8_t)(out_len >> 8);
	info[n++] = (uint8_t)out_len;
	info[n++] = (uint8_t)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, ll);
	n += ll;
	info[n++] = (uint8_t)ctx_len;
	if (ctx_len)
		memcpy(info + n, ctx, ctx_len);
	n += ctx_len;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)mdname, 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, slen),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n),
		OSSL_PARAM_construct_end(),
	};
	int ok = kc && EVP_KDF_derive(kc, out, out_len, p) > 0;
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
	return ok ? 0 : -1;
}

static int ref_extract(const char *mdname, const uint8_t *salt, size_t salt_len,
		       const uint8_t *ikm, size_t ikm_len, uint8_t *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
	int mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY;
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)mdname, 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len),
		OSSL_PARAM_construct_end(),
	};
	int ok = kc && EVP_KDF_derive(kc, out, out_len, p) > 0;
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
	return ok ? 0 : -1;
}

static void cross_checks(void)
{
	static const struct { uint16_t id; const char *md; } suites[] = {
		{ TLS_AES_128_GCM_SHA256, "SHA256" },
		{ TLS_AES_256_GCM_SHA384, "SHA384" },
		{ TLS_CHACHA20_POLY1305_SHA256, "SHA256" },
		{ TLS_AES_128_CCM_SHA256, "SHA256" },
	};
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		const tls_cipher *cs = tls_cipher_find(suites[i].id);
		uint8_t secret[48], a[48], b[48], k1[32], iv1[12], k2[32], iv2[12];
		RAND_bytes(secret, sizeof(secret));
		test_ok(cs && tls_next_traffic_secret(cs, secret, a) == 0 &&
			ref_expand_label(suites[i].md, secret, cs->hash_len, "traffic upd", NULL, 0, b,
					 cs->hash_len) == 0 &&
			memcmp(a, b, cs->hash_len) == 0, "%s: next traffic secret = libcrypto HKDF",
			cs ? cs->name : "?");
		test_ok(tls_traffic_key_derive(cs, secret, k1, iv1) == 0 &&
			ref_expand_label(suites[i].md, secret, cs->hash_len, "key", NULL, 0, k2,
					 cs->key_len) == 0 &&
			ref_expand_label(suites[i].md, secret, cs->hash_len, "iv", NULL, 0, iv2, 12) == 0 &&
			memcmp(k1, k2, cs->key_len) == 0 && memcmp(iv1, iv2, 12) == 0,
			"%s: traffic key/iv = libcrypto HKDF", cs->name);
	}

	/* Longer outputs (several HMAC blocks) and a non-empty context. */
	uint8_t sec[48], ctx[40], a[200], b[200];
	RAND_bytes(sec, sizeof(sec));
	RAND_bytes(ctx, sizeof(ctx));
	test_ok(tls_hkdf_expand_label(EVP_sha384(), sec, 48, "exporter", ctx, 40, a, 200) == 0 &&
		ref_expand_label("SHA384", sec, 48, "exporter", ctx, 40, b, 200) == 0 &&
		memcmp(a, b, 200) == 0, "multi-block HKDF-Expand-Label (SHA-384, 200 bytes)");
	test_ok(tls_hkdf_expand_label(EVP_sha256(), sec, 32, "x", ctx, 40, a, 100) == 0 &&
		ref_expand_label("SHA256", sec, 32, "x", ctx, 40, b, 100) == 0 &&
		memcmp(a, b, 100) == 0, "multi-block HKDF-Expand-Label (SHA-256, 100 bytes)");

	uint8_t salt[48], ikm[200];
	RAND_bytes(salt, sizeof(salt));
	RAND_bytes(ikm, sizeof(ikm));
	test_ok(tls_hkdf_extract(EVP_sha384(), salt, 48, ikm, 97, a) == 0 &&
		ref_extract("SHA384", salt, 48, ikm, 97, b, 48) == 0 && memcmp(a, b, 48) == 0,
		"HKDF-Extract (SHA-384) = libcrypto");
	uint8_t zeros[48] = { 0 };
	test_ok(tls_hkdf_extract(EVP_sha256(), NULL, 0, NULL, 0, a) == 0 &&
		ref_extract("SHA256", zeros, 32, zeros, 32, b, 32) == 0 && memcmp(a, b, 32) == 0,
		"HKDF-Extract with NULL salt/ikm = Hash.length zeros");

	/* HMAC with a key longer than the block size is hashed first. */
	unsigned int blen = 0;
	test_ok(tls_hmac(EVP_sha256(), ikm, 150, salt, 33, a) == 0 &&
		HMAC(EVP_sha256(), ikm, 150, salt, 33, b, &blen) && blen == 32 &&
		memcmp(a, b, 32) == 0, "HMAC with a long key = libcrypto HMAC");
	test_ok(tls_hmac(EVP_sha384(), ikm, 48, salt, 0, a) == 0 &&
		HMAC(EVP_sha384(), ikm, 48, salt, 0, b, &blen) && blen == 48 &&
		memcmp(a, b, 48) == 0, "HMAC-SHA384 of empty data = libcrypto HMAC");

	/* The thread's hash context skips an init when the last HMAC's wipe
	 * left it ready for the same digest: any order of HMACs and digests of
	 * either hash (long keys hashed first) gives libcrypto's answers. */
	static const struct {
		bool hmac;
		int bits;
		size_t key_len;
	} seq[] = { { true, 256, 32 }, { false, 256, 0 },  { true, 256, 150 }, { true, 384, 48 },
		    { true, 256, 32 }, { false, 384, 0 },  { true, 384, 200 }, { false, 256, 0 },
		    { true, 384, 48 }, { true, 256, 150 }, { true, 256, 32 } };
	bool seq_ok = true;
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		const EVP_MD *md = seq[i].bits == 256 ? EVP_sha256() : EVP_sha384();
		size_t hl = (size_t)EVP_MD_get_size(md), dl = 0;
		unsigned int rl = 0;
		salt[0] = (uint8_t)i; /* a different message each time */
		if (seq[i].hmac)
			seq_ok &= tls_hmac(md, ikm, seq[i].key_len, salt, 33, a) == 0 &&
				  HMAC(md, ikm, (int)seq[i].key_len, salt, 33, b, &rl) && rl == hl;
		else
			seq_ok &= tls_digest(md, salt, 33, a, &dl) == 0 && dl == hl &&
				  EVP_Digest(salt, 33, b, &rl, md, NULL) && rl == hl;
		seq_ok &= memcmp(a, b, hl) == 0;
	}
	test_ok(seq_ok, "HMACs and digests of SHA-256 and SHA-384 in turn = libcrypto");

	char longlabel[300];
	memset(longlabel, 'a', sizeof(longlabel) - 1);
	longlabel[250] = 0;
	test_ok(tls_hkdf_expand_label(EVP_sha256(), sec, 32, longlabel, NULL, 0, a, 32) != 0,
		"label longer than 249 bytes refused");
	test_ok(tls_hkdf_expand_label(EVP_sha256(), sec, 32, "x", NULL, 0, a, 255 * 32 + 1) != 0,
		"output longer than 255 blocks refused");
	uint8_t bigctx[256] = { 0 };
	test_ok(tls_hkdf_expand_label(EVP_sha256(), sec, 32, "x", bigctx, 256, a, 32) != 0,
		"context longer than 255 bytes refused");

	test_ok(tls_cipher_find(TLS_AES_128_CCM_8_SHA256) == NULL && tls_cipher_find(0) == NULL,
		"unknown cipher suites (CCM_8 included) not found");
	const tls_cipher *c3 = tls_cipher_find(TLS_CHACHA20_POLY1305_SHA256);
	test_ok(c3 && c3->ktls_cipher == 54 && c3->key_len == 32 && c3->hash_len == 32 &&
		EVP_MD_get_type(c3->md()) == EVP_MD_get_type(EVP_sha256()),
		"ChaCha20-Poly1305 suite parameters");
	const tls_cipher *c2 = tls_cipher_find(TLS_AES_256_GCM_SHA384);
	test_ok(c2 && c2->ktls_cipher == 52 && c2->key_len == 32 && c2->hash_len == 48,
		"AES-256-GCM suite parameters");
	const tls_cipher *c1 = tls_cipher_find(TLS_AES_128_GCM_SHA256);
	test_ok(c1 && c1->ktls_cipher == 51 && c1->key_len == 16 && c1->hash_len == 32 &&
		strcmp(c1->name, "TLS_AES_128_GCM_SHA256") == 0, "AES-128-GCM suite parameters");

	/* PSK key schedule (SHA-384) against libcrypto: early = Extract(0, psk). */
	tls_keysched ks;
	test_ok(tls_keysched_init(&ks, EVP_sha384(), ikm, 48) == 0 &&
		ref_extract("SHA384", zeros, 48, ikm, 48, b, 48) == 0 &&
		memcmp(ks.secret, b, 48) == 0, "early secret with a PSK (SHA-384)");
	tls_keysched_clear(&ks);
}

/* HMACs of both hashes in turn on one thread, each against libcrypto. */
static void *hmac_mix(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	uint8_t key[200], msg[64], a[48], b[48];
	bool ok = true;
	RAND_bytes(key, sizeof(key));
	RAND_bytes(msg, sizeof(msg));
	for (int i = 0; i < 200 && ok; i++) {
		seed = seed * 1103515245u + 12345u;
		const EVP_MD *md = (seed >> 16) & 1 ? EVP_sha384() : EVP_sha256();
		size_t key_len = (seed >> 8) % sizeof(key), hl = (size_t)EVP_MD_get_size(md);
		unsigned int rl = 0;
		msg[0] = (uint8_t)i;
		ok = tls_hmac(md, key, key_len, msg, sizeof(msg), a) == 0 &&
		     HMAC(md, key, (int)key_len, msg, sizeof(msg), b, &rl) && rl == hl &&
		     memcmp(a, b, hl) == 0;
	}
	return ok ? arg : NULL;
}

/* Each thread finds its own hash context (after its first HMAC without a
 * library call); the context goes when the thread exits or the engine's
 * cleanup frees it, and the next HMAC on that thread makes a new one. */
static void thread_contexts(void)
{
	pthread_t t[4];
	bool ok = hmac_mix((void *)1) != NULL;
	for (uintptr_t i = 0; i < 4; i++)
		ok &= pthread_create(&t[i], NULL, hmac_mix, (void *)(i + 2)) == 0;
	for (uintptr_t i = 0; i < 4; i++) {
		void *r = NULL;
		ok &= pthread_join(t[i], &r) == 0 && r == (void *)(i + 2);
	}
	test_ok(ok, "HMACs on five threads at once = libcrypto");
	tls_keysched_cleanup();
	test_ok(hmac_mix((void *)7) != NULL,
		"after the thread's hash context is freed, HMACs make a new one = libcrypto");
}

int main(void)
{
	rfc8448_simple();
	rfc8448_hrr();
	cross_checks();
	thread_contexts();
	return test_done();
}
