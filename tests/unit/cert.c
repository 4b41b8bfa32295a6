/* Certificates: chain verification with alert mapping, name matching (DNS
 * wildcards, IP SANs), DER parsing, and PEM loading errors. Certificates are
 * made in memory with libcrypto so each case (expired, wrong CA...) is exact. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "test.h"
#include "tls/crypto.h"
#include "tls/tls.h"

#define DAY (24 * 3600L)

static EVP_PKEY *newkey(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!e || !X509_add_ext(x, e, -1)) {
		fprintf(stderr, "bad extension %s\n", value);
		abort();
	}
	X509_EXTENSION_free(e);
}

/* A certificate for key, signed by issuer (self-signed when NULL). */
static X509 *mkcert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, bool ca,
		    const char *san, const char *eku, long from, long to)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_set_pubkey(x, key);
	add_ext(x, issuer, NID_subject_key_identifier, "hash");
	if (issuer)
		add_ext(x, issuer, NID_authority_key_identifier, "keyid");
	if (ca) {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
	}
	if (san)
		add_ext(x, issuer, NID_subject_alt_name, san);
	if (eku)
		add_ext(x, issuer, NID_ext_key_usage, eku);
	X509_sign(x, issuer ? ikey : key, EVP_sha256());
	return x;
}

static EVP_PKEY *root_key, *inter_key, *leaf_key, *other_key;
static X509 *root, *inter, *other_root;
static X509_STORE *store;

static tls_chain chain2(X509 *leaf, X509 *mid)
{
	tls_chain c = { NULL, 0 };
	c.n = mid ? 2 : 1;
	c.certs = calloc(c.n, sizeof(X509 *));
	X509_up_ref(leaf);
	c.certs[0] = leaf;
	if (mid) {
		X509_up_ref(mid);
		c.certs[1] = mid;
	}
	return c;
}

static int verify(X509 *leaf, X509 *mid, X509_STORE *s, bool server, const char *host, char *err)
{
	tls_chain c = chain2(leaf, mid);
	int r = tls_chain_verify(&c, s, server, host, err, 256);
	tls_chain_free(&c);
	return r;
}

static void setup(void)
{
	root_key = newkey();
	inter_key = newkey();
	leaf_key = newkey();
	other_key = newkey();
	root = mkcert("Test Root", root_key, NULL, NULL, true, NULL, NULL, -DAY, 3650 * DAY);
	inter = mkcert("Test Intermediate", inter_key, root, root_key, true, NULL, NULL, -DAY,
		       3650 * DAY);
	other_root = mkcert("Other Root", other_key, NULL, NULL, true, NULL, NULL, -DAY, 3650 * DAY);
	store = X509_STORE_new();
	X509_STORE_add_cert(store, root);
}

static void verification(void)
{
	char err[256];
	X509 *leaf = mkcert("www.example.com", leaf_key, inter, inter_key, false,
			    "DNS:www.example.com,DNS:*.example.org,IP:192.0.2.1,IP:2001:db8::1",
			    "serverAuth", -DAY, 90 * DAY);
	test_ok(verify(leaf, inter, store, true, "www.example.com", err) == 0,
		"leaf + intermediate verify against the root with the right host");
	test_ok(verify(leaf, inter, store, true, NULL, err) == 0, "verify without a host");
	err[0] = 0;
	test_ok(verify(leaf, inter, store, true, "mail.example.com", err) == TLS_ALERT_BAD_CERTIFICATE,
		"wrong host -> bad_certificate");
	test_ok(strstr(err, "mail.example.com") != NULL, "message names the host: %s", err);
	test_ok(verify(leaf, inter, store, true, "a.example.org", err) == 0,
		"wildcard SAN covers one label");
	test_ok(verify(leaf, inter, store, true, "a.b.example.org", err) == TLS_ALERT_BAD_CERTIFICATE,
		"wildcard SAN does not cover two labels");
	test_ok(verify(leaf, inter, store, true, "192.0.2.1", err) == 0, "IPv4 SAN verified");
	test_ok(verify(leaf, inter, store, true, "2001:db8::1", err) == 0, "IPv6 SAN verified");
	test_ok(verify(leaf, inter, store, true, "192.0.2.2", err) == TLS_ALERT_BAD_CERTIFICATE,
		"other IP -> bad_certificate");
	test_ok(verify(leaf, NULL, store, true, "www.example.com", err) == TLS_ALERT_UNKNOWN_CA,
		"missing intermediate -> unknown_ca");
	test_ok(verify(leaf, inter, store, false, NULL, err) == TLS_ALERT_UNSUPPORTED_CERTIFICATE,
		"serverAuth-only certificate as a client certificate -> unsupported_certificate");
	X509_STORE *other = X509_STORE_new();
	X509_STORE_add_cert(other, other_root);
	err[0] = 0;
	test_ok(verify(leaf, inter, other, true, "www.example.com", err) == TLS_ALERT_UNKNOWN_CA,
		"chain to an unknown root -> unknown_ca");
	test_ok(strstr(err, "issuer") != NULL, "message says why: %s", err);
	X509_STORE_free(other);
	test_ok(verify(leaf, inter, NULL, true, NULL, err) == TLS_ALERT_UNKNOWN_CA,
		"no store -> unknown_ca");
	tls_chain empty = { NULL, 0 };
	test_ok(tls_chain_verify(&empty, store, true, NULL, err, sizeof(err)) ==
		TLS_ALERT_BAD_CERTIFICATE, "empty chain -> bad_certificate");
	X509_free(leaf);

	leaf = mkcert("old", leaf_key, inter, inter_key, false, "DNS:old.example.com", NULL,
		      -100 * DAY, -DAY);
	err[0] = 0;
	test_ok(verify(leaf, inter, store, true, "old.example.com", err) ==
		TLS_ALERT_CERTIFICATE_EXPIRED, "expired leaf -> certificate_expired");
	test_ok(strstr(err, "expired") != NULL, "message says expired: %s", err);
	X509_free(leaf);
	leaf = mkcert("new", leaf_key, inter, inter_key, false, "DNS:new.example.com", NULL,
		      10 * DAY, 100 * DAY);
	test_ok(verify(leaf, inter, store, true, "new.example.com", err) ==
		TLS_ALERT_CERTIFICATE_EXPIRED, "not yet valid leaf -> certificate_expired");
	X509_free(leaf);

	leaf = mkcert("self", leaf_key, NULL, NULL, false, "DNS:self.example.com", NULL, -DAY, DAY);
	test_ok(verify(leaf, NULL, store, true, "self.example.com", err) == TLS_ALERT_UNKNOWN_CA,
		"untrusted self-signed leaf -> unknown_ca");
	X509_free(leaf);

	leaf = mkcert("client", leaf_key, inter, inter_key, false, NULL, "clientAuth", -DAY, DAY);
	test_ok(verify(leaf, inter, store, false, NULL, err) == 0,
		"clientAuth certificate verifies as a client certificate");
	test_ok(verify(leaf, inter, store, true, NULL, err) == TLS_ALERT_UNSUPPORTED_CERTIFICATE,
		"clientAuth-only certificate as a server certificate -> unsupported_certificate");
	X509_free(leaf);

	/* Signed by a key that is not the intermediate's. */
	leaf = mkcert("forged", leaf_key, inter, other_key, false, "DNS:forged.example.com", NULL,
		      -DAY, DAY);
	test_ok(verify(leaf, inter, store, true, "forged.example.com", err) ==
		TLS_ALERT_BAD_CERTIFICATE, "bad signature -> bad_certificate");
	X509_free(leaf);
}

static void names(void)
{
	X509 *leaf = mkcert("cn.example.com", leaf_key, inter, inter_key, false,
			    "DNS:*.example.org,DNS:f*.example.net,DNS:exact.example.com,IP:10.1.2.3",
			    NULL, -DAY, DAY);
	tls_chain c = chain2(leaf, NULL);
	test_ok(tls_chain_matches_name(&c, "exact.example.com"), "exact DNS SAN matches");
	test_ok(tls_chain_matches_name(&c, "EXACT.Example.COM"), "DNS match is case-insensitive");
	test_ok(tls_chain_matches_name(&c, "x.example.org"), "wildcard matches one label");
	test_ok(!tls_chain_matches_name(&c, "example.org"), "wildcard does not match the bare domain");
	test_ok(!tls_chain_matches_name(&c, "a.b.example.org"), "wildcard does not match two labels");
	test_ok(!tls_chain_matches_name(&c, "foo.example.net"), "partial wildcard f* not honoured");
	test_ok(!tls_chain_matches_name(&c, "cn.example.com"), "subject CN ignored when SANs exist");
	test_ok(tls_chain_matches_name(&c, "10.1.2.3"), "IP SAN matches an IP literal");
	test_ok(!tls_chain_matches_name(&c, "10.1.2.4"), "other IP does not match");
	test_ok(!tls_chain_matches_name(&c, "") && !tls_chain_matches_name(&c, NULL),
		"empty name never matches");
	tls_chain_free(&c);
	X509_free(leaf);
}

static void der(void)
{
	uint8_t *d1 = NULL, *d2 = NULL;
	int l1 = i2d_X509(inter, &d1), l2 = i2d_X509(root, &d2);
	const uint8_t *ders[2] = { d1, d2 };
	size_t lens[2] = { (size_t)l1, (size_t)l2 };
	tls_chain c;
	test_ok(tls_chain_from_der(&c, ders, lens, 2) == 0 && c.n == 2 &&
		X509_cmp(c.certs[0], inter) == 0 && X509_cmp(c.certs[1], root) == 0,
		"DER chain parsed in order");
	tls_chain_free(&c);
	test_ok(c.n == 0 && c.certs == NULL, "chain freed");
	uint8_t *longer = malloc((size_t)l1 + 1);
	memcpy(longer, d1, (size_t)l1);
	longer[l1] = 0;
	ders[0] = longer;
	lens[0] = (size_t)l1 + 1;
	test_ok(tls_chain_from_der(&c, ders, lens, 2) == -1 && c.n == 0,
		"certificate with a trailing byte refused");
	lens[0] = (size_t)l1 - 1;
	test_ok(tls_chain_from_der(&c, ders, lens, 1) == -1, "truncated certificate refused");
	lens[0] = 0;
	test_ok(tls_chain_from_der(&c, ders, lens, 1) == -1, "empty cert_data refused");
	const uint8_t junk[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	ders[0] = junk;
	lens[0] = sizeof(junk);
	test_ok(tls_chain_from_der(&c, ders, lens, 1) == -1, "non-certificate DER refused");
	free(longer);
	OPENSSL_free(d1);
	OPENSSL_free(d2);
}

static void write_pem(const char *path, X509 *a, X509 *b, EVP_PKEY *key, const char *pass)
{
	FILE *f = fopen(path, "w");
	if (a)
		PEM_write_X509(f, a);
	if (b)
		PEM_write_X509(f, b);
	if (key)
		PEM_write_PrivateKey(f, key, pass ? EVP_aes_128_cbc() : NULL,
				     (const unsigned char *)pass, pass ? (int)strlen(pass) : 0, NULL,
				     NULL);
	fclose(f);
}

static void pem(void)
{
	char dir[] = "/tmp/tls-cert-test.XXXXXX";
	char p[512], err[512];
	if (!mkdtemp(dir)) {
		test_ok(false, "mkdtemp");
		return;
	}
	X509 *leaf = mkcert("pem.example.com", leaf_key, inter, inter_key, false,
			    "DNS:pem.example.com", NULL, -DAY, DAY);
	tls_chain c;

	snprintf(p, sizeof(p), "%s/chain.pem", dir);
	write_pem(p, leaf, inter, NULL, NULL);
	test_ok(tls_chain_load_pem(&c, p, err, sizeof(err)) == 0 && c.n == 2 &&
		X509_cmp(c.certs[0], leaf) == 0, "PEM chain of two loaded, leaf first");
	snprintf(p, sizeof(p), "%s/key.pem", dir);
	write_pem(p, NULL, NULL, leaf_key, NULL);
	EVP_PKEY *k = tls_key_load_pem(p, err, sizeof(err));
	test_ok(k != NULL, "PEM key loaded");
	test_ok(tls_chain_check_key(&c, k, err, sizeof(err)) == 0, "key matches the leaf");
	err[0] = 0;
	test_ok(tls_chain_check_key(&c, other_key, err, sizeof(err)) == -1 &&
		strstr(err, "does not match"), "other key: %s", err);
	EVP_PKEY_free(k);
	tls_chain_free(&c);

	snprintf(p, sizeof(p), "%s/missing.pem", dir);
	err[0] = 0;
	test_ok(tls_chain_load_pem(&c, p, err, sizeof(err)) == -1 && strstr(err, "missing.pem") &&
		strstr(err, "No such file"), "missing chain file: %s", err);
	err[0] = 0;
	test_ok(tls_key_load_pem(p, err, sizeof(err)) == NULL && strstr(err, "No such file"),
		"missing key file: %s", err);
	test_ok(tls_chain_load_pem(&c, dir, err, sizeof(err)) == -1 && strstr(err, "directory"),
		"directory as chain file: %s", err);

	snprintf(p, sizeof(p), "%s/text.pem", dir);
	FILE *f = fopen(p, "w");
	fputs("this is not PEM\n", f);
	fclose(f);
	err[0] = 0;
	test_ok(tls_chain_load_pem(&c, p, err, sizeof(err)) == -1 && strstr(err, "no PEM certificate"),
		"non-PEM chain file: %s", err);
	err[0] = 0;
	test_ok(tls_key_load_pem(p, err, sizeof(err)) == NULL && strstr(err, "no PEM private key"),
		"non-PEM key file: %s", err);

	snprintf(p, sizeof(p), "%s/chain.pem", dir);
	err[0] = 0;
	test_ok(tls_key_load_pem(p, err, sizeof(err)) == NULL && strstr(err, "private key"),
		"certificate file given as key: %s", err);

	snprintf(p, sizeof(p), "%s/enc.pem", dir);
	write_pem(p, NULL, NULL, leaf_key, "secret");
	err[0] = 0;
	test_ok(tls_key_load_pem(p, err, sizeof(err)) == NULL && strstr(err, "encrypted"),
		"encrypted key: %s", err);

	snprintf(p, sizeof(p), "%s/broken.pem", dir);
	f = fopen(p, "w");
	fputs("-----BEGIN CERTIFICATE-----\nAAAA!!!!\n-----END CERTIFICATE-----\n", f);
	fclose(f);
	err[0] = 0;
	test_ok(tls_chain_load_pem(&c, p, err, sizeof(err)) == -1 && strstr(err, "malformed"),
		"corrupt PEM certificate: %s", err);

	/* Trust stores from a file and from a hashed directory. */
	snprintf(p, sizeof(p), "%s/ca.pem", dir);
	write_pem(p, root, NULL, NULL, NULL);
	X509_STORE *s = tls_store_load(p, err, sizeof(err));
	test_ok(s && verify(leaf, inter, s, true, "pem.example.com", err) == 0,
		"store from a PEM file verifies the chain");
	X509_STORE_free(s);
	char cadir[128];
	snprintf(cadir, sizeof(cadir), "%.64s/cadir", dir);
	mkdir(cadir, 0700);
	snprintf(p, sizeof(p), "%s/%08lx.0", cadir, X509_subject_name_hash(root));
	write_pem(p, root, NULL, NULL, NULL);
	s = tls_store_load(cadir, err, sizeof(err));
	test_ok(s && verify(leaf, inter, s, true, "pem.example.com", err) == 0,
		"store from a hashed directory verifies the chain");
	X509_STORE_free(s);
	snprintf(p, sizeof(p), "%s/text.pem", dir);
	err[0] = 0;
	test_ok(tls_store_load(p, err, sizeof(err)) == NULL && strstr(err, "no usable CA"),
		"non-PEM CA file: %s", err);
	snprintf(p, sizeof(p), "%s/nope", dir);
	err[0] = 0;
	test_ok(tls_store_load(p, err, sizeof(err)) == NULL && strstr(err, "No such file"),
		"missing CA file: %s", err);

	X509_free(leaf);
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		test_diag("could not remove %s", dir);
}

/* tls_config_add_cert_der: a certificate and key as kernel keyrings hold
 * them (the handshake upcall's x509 mode with key serials). */
static void config_der(void)
{
	X509 *leaf = mkcert("der.example.com", leaf_key, inter, inter_key, false, "DNS:der.example.com", NULL,
			    -DAY, DAY);
	unsigned char *cd = NULL, *kd = NULL, *k2 = NULL;
	int cl = i2d_X509(leaf, &cd), kl = i2d_PrivateKey(leaf_key, &kd), k2l = i2d_PrivateKey(other_key, &k2);
	char err[256];
	tls_config *cfg = tls_config_new(TLS_SERVER);

	test_ok(cfg && cl > 0 && kl > 0 && k2l > 0, "DER of a certificate and two keys");
	test_ok(tls_config_add_cert_der(cfg, cd, (size_t)cl, kd, (size_t)kl, err, sizeof(err)) == 0,
		"a DER certificate and its DER key are taken");
	test_ok(tls_config_add_cert_der(cfg, cd, (size_t)cl, k2, (size_t)k2l, err, sizeof(err)) == -1 && *err,
		"another key is refused: %s", err);
	test_ok(tls_config_add_cert_der(cfg, cd, (size_t)cl - 1, kd, (size_t)kl, err, sizeof(err)) == -1,
		"a truncated certificate is refused: %s", err);
	test_ok(tls_config_add_cert_der(cfg, cd, (size_t)cl, kd, (size_t)kl - 1, err, sizeof(err)) == -1,
		"a truncated key is refused: %s", err);
	test_ok(tls_config_add_cert_der(cfg, cd, 0, kd, (size_t)kl, err, sizeof(err)) == -1,
		"an empty certificate is refused");
	tls_config_freeze(cfg);
	test_ok(tls_config_add_cert_der(cfg, cd, (size_t)cl, kd, (size_t)kl, err, sizeof(err)) == -1,
		"a frozen config takes none");
	tls_config_free(cfg);
	OPENSSL_free(cd);
	OPENSSL_clear_free(kd, (size_t)kl);
	OPENSSL_clear_free(k2, (size_t)k2l);
	X509_free(leaf);
}

int main(void)
{
	setup();
	verification();
	names();
	der();
	pem();
	config_der();
	X509_STORE_free(store);
	X509_free(root);
	X509_free(inter);
	X509_free(other_root);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(inter_key);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(other_key);
	return test_done();
}
