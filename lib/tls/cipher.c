/* The four TLS 1.3 cipher suites kTLS can take (RFC 8446 B.4), and a
 * process-wide cache of explicitly fetched digests and AEADs. */
#include "tls/crypto.h"

#include <stddef.h>

#include <openssl/crypto.h>
#include <openssl/obj_mac.h>

/* Values of TLS_CIPHER_* in <linux/tls.h>; spelled out so the engine does
 * not depend on kernel headers. */
#define KTLS_AES_GCM_128 51
#define KTLS_AES_GCM_256 52
#define KTLS_AES_CCM_128 53
#define KTLS_CHACHA20_POLY1305 54

static const tls_cipher suites[] = {
	{ TLS_AES_128_GCM_SHA256, "TLS_AES_128_GCM_SHA256", 16, 32, KTLS_AES_GCM_128,
	  EVP_sha256, EVP_aes_128_gcm },
	{ TLS_AES_256_GCM_SHA384, "TLS_AES_256_GCM_SHA384", 32, 48, KTLS_AES_GCM_256,
	  EVP_sha384, EVP_aes_256_gcm },
	{ TLS_CHACHA20_POLY1305_SHA256, "TLS_CHACHA20_POLY1305_SHA256", 32, 32,
	  KTLS_CHACHA20_POLY1305, EVP_sha256, EVP_chacha20_poly1305 },
	{ TLS_AES_128_CCM_SHA256, "TLS_AES_128_CCM_SHA256", 16, 32, KTLS_AES_CCM_128,
	  EVP_sha256, EVP_aes_128_ccm },
};
#define N_SUITES (sizeof(suites) / sizeof(suites[0]))

const tls_cipher *tls_cipher_find(uint16_t id)
{
	for (size_t i = 0; i < N_SUITES; i++)
		if (suites[i].id == id)
			return &suites[i];
	return NULL;
}

const char *tls_cipher_refusal(uint16_t id)
{
	if (tls_cipher_find(id))
		return NULL;
	if (id == TLS_AES_128_CCM_8_SHA256)
		return "TLS_AES_128_CCM_8_SHA256 is not supported: Linux kernel TLS has no cipher "
		       "for its 8-byte tag";
	return "not a TLS 1.3 cipher suite this engine supports (TLS_AES_128_GCM_SHA256, "
	       "TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256, TLS_AES_128_CCM_SHA256)";
}

/* Fetched once and kept for the life of the process, shared by every
 * thread and connection (tls_engine_cleanup frees them at exit). */
static CRYPTO_ONCE fetch_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_MD *md_sha256, *md_sha384, *md_sha512;
static EVP_CIPHER *aeads[N_SUITES];

static void fetch_all(void)
{
	static const char *const aead_names[N_SUITES] = {
		"AES-128-GCM", "AES-256-GCM", "ChaCha20-Poly1305", "AES-128-CCM",
	};
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	md_sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
	md_sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
	for (size_t i = 0; i < N_SUITES; i++)
		aeads[i] = EVP_CIPHER_fetch(NULL, aead_names[i], NULL);
}

const EVP_MD *tls_md_fetched(const EVP_MD *md)
{
	const EVP_MD *f = NULL;
	if (!md || !CRYPTO_THREAD_run_once(&fetch_once, fetch_all))
		return md;
	switch (EVP_MD_get_type(md)) {
	case NID_sha256: f = md_sha256; break;
	case NID_sha384: f = md_sha384; break;
	case NID_sha512: f = md_sha512; break;
	}
	/* Without a provider for it, the implicit fetch still works (slower). */
	return f ? f : md;
}

const EVP_CIPHER *tls_aead_fetched(const tls_cipher *cs)
{
	if (!cs)
		return NULL;
	if (CRYPTO_THREAD_run_once(&fetch_once, fetch_all)) {
		for (size_t i = 0; i < N_SUITES; i++)
			if (&suites[i] == cs && aeads[i])
				return aeads[i];
	}
	return cs->aead();
}

uint16_t tls_cipher_id(const tls_cipher *cs)
{
	return cs->id;
}

const char *tls_cipher_name(const tls_cipher *cs)
{
	return cs->name;
}

void tls_cipher_cleanup(void)
{
	EVP_MD_free(md_sha256);
	EVP_MD_free(md_sha384);
	EVP_MD_free(md_sha512);
	md_sha256 = md_sha384 = md_sha512 = NULL;
	for (size_t i = 0; i < N_SUITES; i++) {
		EVP_CIPHER_free(aeads[i]);
		aeads[i] = NULL;
	}
}
