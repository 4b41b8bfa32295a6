/* Keys and certificates made in memory with libcrypto, for tests that need
 * a PKI without files (negative tests, fuzz targets). File-based sets made by
 * the openssl CLI live in certs.h.
 *
 *   struct test_pki p;
 *   test_pki_make(&p, TESTKEY_P256, "server.test", 0);
 *   tls_chain ch;
 *   test_pki_chain(&p, &ch);
 *   tls_config_add_cert(cfg, &ch, test_pki_leaf_key(&p));
 *   tls_config_load_ca(client_cfg, p.ca_path, ...);
 *   test_pki_free(&p);
 */
#ifndef TEST_TESTKEYS_H
#define TEST_TESTKEYS_H

#include <stdbool.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tls/crypto.h"

enum testkey_type { TESTKEY_P256, TESTKEY_P384, TESTKEY_RSA2048, TESTKEY_ED25519 };

/* A fresh key; aborts on failure (a test cannot go on without it). */
EVP_PKEY *testkey_new(enum testkey_type type);

/* A certificate for key, signed by issuer_key (self-signed when issuer is
 * NULL). Valid from now+not_before to now+not_after seconds. dns (may be NULL)
 * becomes the only subjectAltName; ca marks a CA (keyCertSign). Aborts on
 * failure. */
X509 *testcert_new(EVP_PKEY *key, const char *cn, const char *dns, X509 *issuer,
		   EVP_PKEY *issuer_key, long not_before, long not_after, bool ca);

/* Writes cert as PEM into a fresh file under $TMPDIR (or /tmp); path gets
 * the name (caller unlinks). 0 on success. */
int testcert_write_tmp(X509 *cert, char *path, size_t pathlen);

/* A CA and a leaf it signed. */
struct test_pki {
	EVP_PKEY *ca_key;
	X509 *ca;
	EVP_PKEY *leaf_key;
	X509 *leaf;
	char ca_path[256];   /* the CA as a PEM file, for tls_config_load_ca */
};

/* flags for test_pki_make */
#define TEST_PKI_EXPIRED 1     /* leaf validity ended yesterday */
#define TEST_PKI_SELF_SIGNED 2 /* leaf is self-signed (not by the CA) */

void test_pki_make(struct test_pki *p, enum testkey_type leaf_type, const char *dns, int flags);
/* Fills *out with a new chain (leaf, CA) and returns a new reference to the
 * leaf key: both for tls_config_add_cert to take (it empties *out). */
void test_pki_chain(const struct test_pki *p, tls_chain *out);
EVP_PKEY *test_pki_leaf_key(const struct test_pki *p);
void test_pki_free(struct test_pki *p);

/* A server config with p's leaf certificate, a client config trusting p's
 * CA; both abort on failure (a broken test PKI is a bug). */
tls_config *test_server_config(const struct test_pki *p);
tls_config *test_client_config(const struct test_pki *trust);

#endif
