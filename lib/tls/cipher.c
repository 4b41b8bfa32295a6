/* The three TLS 1.3 cipher suites kTLS can take (RFC 8446 B.4), and a
 * process-wide cache of explicitly fetched digests and AEADs. */
#include "tls/crypto.h"

#include <stddef.h>

#include <openssl/crypto.h>
#include <openssl/obj_mac.h>

/* Values of TLS_CIPHER_* in <linux/tls.h>; spelled out so the engine does
 * not depend on kernel headers. */
#define KTLS_AES_GCM_128 51
#define KTLS_AES_GCM_256 52
#define KTLS_CHACHA20_POLY1305 54

static const tls_cipher suites[] = {
	{ TLS_AES_128_GCM_SHA256, "TLS_AES_128_GCM_SHA256", 16, 32, KTLS_AES_GCM_128,
	  EVP_sha256, EVP_aes_128_gcm },
	{ TLS_AES_256_GCM_SHA384, "TLS_AES_256_GCM_SHA384", 32, 48, KTLS_AES_GCM_256,
	  EVP_sha384, EVP_aes_256_gcm },
	{ TLS_CHACHA20_POLY1305_SHA256, "TLS_CHACHA20_POLY1305_SHA256", 32, 32,
	  KTLS_CHACHA20_POLY1305, EVP_sha256, EVP_chacha20_poly1305 },
};
#define N_SUITES (sizeof(suites) / sizeof(suites[0]))

const tls_cipher *tls_cipher_find(uint16_t id)
{
	for (size_t i = 0; i < N_SUITES; i++)
		if (suites[i].id == id)
			return &suites[i];
	return NULL;
}

/* Fetched once and kept for the life of the process (never freed: they are
 * shared by every thread and connection). */
static CRYPTO_ONCE fetch_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_MD *md_sha256, *md_sha384, *md_sha512;
static EVP_CIPHER *aeads[N_SUITES];

static void fetch_all(void)
{
	static const char *const aead_names[N_SUITES] = {
		"AES-128-GCM", "AES-256-GCM", "ChaCha20-Poly1305",
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
