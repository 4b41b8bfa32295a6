#include "testkeys.h"
#include "tls/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

static void die(const char *what)
{
	fprintf(stderr, "testkeys: %s failed\n", what);
	abort();
}

EVP_PKEY *testkey_new(enum testkey_type type)
{
	EVP_PKEY *k = NULL;
	switch (type) {
	case TESTKEY_P256:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case TESTKEY_P384:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case TESTKEY_RSA2048:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case TESTKEY_ED25519:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	}
	if (!k)
		die("key generation");
	return k;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!e || !X509_add_ext(x, e, -1))
		die("certificate extension");
	X509_EXTENSION_free(e);
}

X509 *testcert_new(EVP_PKEY *key, const char *cn, const char *dns, X509 *issuer,
		   EVP_PKEY *issuer_key, long not_before, long not_after, bool ca)
{
	X509 *x = X509_new();
	unsigned char serial[8];
	if (!x || RAND_bytes(serial, sizeof(serial)) != 1)
		die("X509_new");
	serial[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	X509_NAME *name = X509_NAME_new();
	if (!bn || !name || !X509_set_version(x, 2) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), not_before) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), not_after) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) ||
	    !X509_set_pubkey(x, key))
		die("certificate fields");
	BN_free(bn);
	X509_NAME_free(name);
	X509 *iss = issuer ? issuer : x;
	add_ext(x, iss, NID_subject_key_identifier, "hash");
	if (issuer)
		add_ext(x, iss, NID_authority_key_identifier, "keyid:always");
	if (ca) {
		add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, iss, NID_key_usage, "critical,digitalSignature");
		add_ext(x, iss, NID_ext_key_usage, "serverAuth,clientAuth");
	}
	if (dns) {
		char san[300];
		snprintf(san, sizeof(san), "DNS:%s", dns);
		add_ext(x, iss, NID_subject_alt_name, san);
	}
	EVP_PKEY *signer = issuer_key ? issuer_key : key;
	const EVP_MD *md = EVP_PKEY_get_id(signer) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
	if (!X509_sign(x, signer, md))
		die("X509_sign");
	return x;
}

int testcert_write_tmp(X509 *cert, char *path, size_t pathlen)
{
	const char *dir = getenv("TMPDIR");
	snprintf(path, pathlen, "%s/testkeys-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(path);
		return -1;
	}
	int ok = PEM_write_X509(f, cert);
	if (fclose(f) != 0 || !ok) {
		unlink(path);
		return -1;
	}
	return 0;
}

void test_pki_make(struct test_pki *p, enum testkey_type leaf_type, const char *dns, int flags)
{
	memset(p, 0, sizeof(*p));
	p->ca_key = testkey_new(TESTKEY_P256);
	p->ca = testcert_new(p->ca_key, "handshaked test CA", NULL, NULL, NULL, -3600, 86400L * 30, true);
	p->leaf_key = testkey_new(leaf_type);
	long nb = -3600, na = 86400L * 30;
	if (flags & TEST_PKI_EXPIRED) {
		nb = -86400L * 30;
		na = -86400L;
	}
	if (flags & TEST_PKI_SELF_SIGNED)
		p->leaf = testcert_new(p->leaf_key, dns ? dns : "leaf", dns, NULL, NULL, nb, na, false);
	else
		p->leaf = testcert_new(p->leaf_key, dns ? dns : "leaf", dns, p->ca, p->ca_key, nb, na, false);
	if (testcert_write_tmp(p->ca, p->ca_path, sizeof(p->ca_path)))
		die("writing the CA file");
}

void test_pki_chain(const struct test_pki *p, tls_chain *c)
{
	c->certs = calloc(2, sizeof(*c->certs));
	if (!c->certs)
		die("calloc");
	c->certs[0] = p->leaf;
	c->certs[1] = p->ca;
	X509_up_ref(p->leaf);
	X509_up_ref(p->ca);
	c->n = 2;
}

EVP_PKEY *test_pki_leaf_key(const struct test_pki *p)
{
	EVP_PKEY_up_ref(p->leaf_key);
	return p->leaf_key;
}

void test_pki_free(struct test_pki *p)
{
	if (p->ca_path[0])
		unlink(p->ca_path);
	X509_free(p->leaf);
	X509_free(p->ca);
	EVP_PKEY_free(p->leaf_key);
	EVP_PKEY_free(p->ca_key);
	memset(p, 0, sizeof(*p));
}

tls_config *test_server_config(const struct test_pki *p)
{
	tls_config *cfg = tls_config_new(TLS_SERVER);
	tls_chain chain;
	test_pki_chain(p, &chain);
	if (!cfg || tls_config_add_cert(cfg, &chain, test_pki_leaf_key(p)) != 0) {
		fprintf(stderr, "test: cannot add the test certificate\n");
		abort();
	}
	return cfg;
}

tls_config *test_client_config(const struct test_pki *trust)
{
	tls_config *cfg = tls_config_new(TLS_CLIENT);
	char err[256];
	if (!cfg || tls_config_load_ca(cfg, trust->ca_path, err, sizeof(err)) != 0) {
		fprintf(stderr, "test: load CA: %s\n", err);
		abort();
	}
	return cfg;
}
