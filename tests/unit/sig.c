/* Signature schemes: round trips with fresh keys, scheme/key binding,
 * tampering, the CertificateVerify content, and RFC 8448's RSA-PSS
 * CertificateVerify verified with the certificate's public key. */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "../vectors/rfc8448_crypto.h"
#include "test.h"
#include "tls/crypto.h"

static EVP_PKEY *p256, *p384, *rsa, *rsapss, *ed;

static void keys(void)
{
	p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
	if (ctx && EVP_PKEY_keygen_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) > 0)
		EVP_PKEY_keygen(ctx, &rsapss);
	EVP_PKEY_CTX_free(ctx);
	ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	test_ok(p256 && p384 && rsa && rsapss && ed, "test keys generated");
}

static void round_trips(void)
{
	static const struct { uint16_t id; const char *name; EVP_PKEY **key; } cases[] = {
		{ TLS_SIG_ECDSA_SECP256R1_SHA256, "ecdsa_secp256r1_sha256", &p256 },
		{ TLS_SIG_ECDSA_SECP384R1_SHA384, "ecdsa_secp384r1_sha384", &p384 },
		{ TLS_SIG_RSA_PSS_RSAE_SHA256, "rsa_pss_rsae_sha256", &rsa },
		{ TLS_SIG_RSA_PSS_RSAE_SHA384, "rsa_pss_rsae_sha384", &rsa },
		{ TLS_SIG_RSA_PSS_RSAE_SHA512, "rsa_pss_rsae_sha512", &rsa },
		{ TLS_SIG_RSA_PSS_PSS_SHA256, "rsa_pss_pss_sha256", &rsapss },
		{ TLS_SIG_RSA_PSS_PSS_SHA384, "rsa_pss_pss_sha384", &rsapss },
		{ TLS_SIG_RSA_PSS_PSS_SHA512, "rsa_pss_pss_sha512", &rsapss },
		{ TLS_SIG_ED25519, "ed25519", &ed },
		{ TLS_SIG_RSA_PKCS1_SHA256, "rsa_pkcs1_sha256", &rsa },
	};
	uint8_t hash[32], content[200];
	memset(hash, 0xab, sizeof(hash));
	size_t clen = tls_cv_content(true, hash, sizeof(hash), content);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EVP_PKEY *k = *cases[i].key;
		tls_buf sig;
		tls_buf_init(&sig, 0);
		test_ok(tls_sig_scheme_fits_key(cases[i].id, k), "%s fits its key", cases[i].name);
		test_ok(tls_sig_sign(k, cases[i].id, content, clen, &sig) == 0 && sig.len > 0,
			"%s: sign", cases[i].name);
		test_ok(tls_sig_verify(k, cases[i].id, content, clen, sig.base, sig.len) == 0,
			"%s: verify", cases[i].name);
		sig.base[sig.len / 2] ^= 0x10;
		test_ok(tls_sig_verify(k, cases[i].id, content, clen, sig.base, sig.len) == -1,
			"%s: tampered signature fails", cases[i].name);
		sig.base[sig.len / 2] ^= 0x10;
		content[70] ^= 1;
		test_ok(tls_sig_verify(k, cases[i].id, content, clen, sig.base, sig.len) == -1,
			"%s: tampered message fails", cases[i].name);
		content[70] ^= 1;
		test_ok(tls_sig_verify(k, cases[i].id, content, clen, sig.base, sig.len - 1) == -1,
			"%s: truncated signature fails", cases[i].name);
		tls_buf_free(&sig);
	}
}

static void binding(void)
{
	static const struct { uint16_t id; EVP_PKEY **key; const char *what; } bad[] = {
		{ TLS_SIG_ECDSA_SECP256R1_SHA256, &p384, "P-384 key with ecdsa_secp256r1_sha256" },
		{ TLS_SIG_ECDSA_SECP384R1_SHA384, &p256, "P-256 key with ecdsa_secp384r1_sha384" },
		{ TLS_SIG_RSA_PSS_PSS_SHA256, &rsa, "rsaEncryption key with rsa_pss_pss_sha256" },
		{ TLS_SIG_RSA_PSS_RSAE_SHA256, &rsapss, "RSASSA-PSS key with rsa_pss_rsae_sha256" },
		{ TLS_SIG_RSA_PKCS1_SHA256, &rsapss, "RSASSA-PSS key with rsa_pkcs1_sha256" },
		{ TLS_SIG_ED25519, &p256, "EC key with ed25519" },
		{ TLS_SIG_ECDSA_SECP256R1_SHA256, &ed, "Ed25519 key with ecdsa" },
		{ TLS_SIG_RSA_PSS_RSAE_SHA256, &p256, "EC key with rsa_pss_rsae" },
		{ 0x0201, &rsa, "rsa_pkcs1_sha1 (unsupported)" },
		{ 0x0203, &p256, "ecdsa_sha1 (unsupported)" },
	};
	uint8_t msg[10] = { 0 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tls_buf sig;
		tls_buf_init(&sig, 0);
		test_ok(!tls_sig_scheme_fits_key(bad[i].id, *bad[i].key) &&
			tls_sig_sign(*bad[i].key, bad[i].id, msg, sizeof(msg), &sig) == -1 &&
			sig.len == 0, "%s refused", bad[i].what);
		tls_buf_free(&sig);
	}
	/* A P-256 signature does not verify under the P-384 scheme even with the right key. */
	tls_buf sig;
	tls_buf_init(&sig, 0);
	tls_sig_sign(p256, TLS_SIG_ECDSA_SECP256R1_SHA256, msg, sizeof(msg), &sig);
	test_ok(tls_sig_verify(p256, TLS_SIG_ECDSA_SECP384R1_SHA384, msg, sizeof(msg), sig.base,
			       sig.len) == TLS_SIG_KEY_MISMATCH,
		"verify with a scheme of another curve fails: the key does not fit");
	/* PSS signature with the wrong hash. */
	tls_buf_reset(&sig);
	tls_sig_sign(rsa, TLS_SIG_RSA_PSS_RSAE_SHA256, msg, sizeof(msg), &sig);
	test_ok(tls_sig_verify(rsa, TLS_SIG_RSA_PSS_RSAE_SHA384, msg, sizeof(msg), sig.base,
			       sig.len) == -1, "rsa_pss_rsae_sha256 signature fails as sha384");
	test_ok(tls_sig_verify(rsa, TLS_SIG_RSA_PKCS1_SHA256, msg, sizeof(msg), sig.base,
			       sig.len) == -1, "PSS signature fails as PKCS#1 v1.5");
	tls_buf_free(&sig);

	test_ok(tls_sig_scheme_ok_for_cv(TLS_SIG_ECDSA_SECP256R1_SHA256) &&
		tls_sig_scheme_ok_for_cv(TLS_SIG_RSA_PSS_RSAE_SHA256) &&
		tls_sig_scheme_ok_for_cv(TLS_SIG_RSA_PSS_PSS_SHA512) &&
		tls_sig_scheme_ok_for_cv(TLS_SIG_ED25519), "PSS, ECDSA, Ed25519 allowed in CertificateVerify");
	test_ok(!tls_sig_scheme_ok_for_cv(TLS_SIG_RSA_PKCS1_SHA256) &&
		!tls_sig_scheme_ok_for_cv(TLS_SIG_RSA_PKCS1_SHA384) &&
		!tls_sig_scheme_ok_for_cv(0x0201) && !tls_sig_scheme_ok_for_cv(0x0203) &&
		!tls_sig_scheme_ok_for_cv(0x0808), "rsa_pkcs1, SHA-1 and unknown schemes not allowed");
}

static void cv_content(void)
{
	uint8_t hash[48], out[200];
	for (size_t i = 0; i < 48; i++)
		hash[i] = (uint8_t)i;
	size_t n = tls_cv_content(true, hash, 48, out);
	bool spaces = true;
	for (int i = 0; i < 64; i++)
		spaces = spaces && out[i] == 0x20;
	test_ok(n == 64 + 33 + 1 + 48 && spaces &&
		memcmp(out + 64, "TLS 1.3, server CertificateVerify", 33) == 0 && out[97] == 0 &&
		memcmp(out + 98, hash, 48) == 0, "server CertificateVerify content");
	n = tls_cv_content(false, hash, 32, out);
	test_ok(n == 64 + 33 + 1 + 32 &&
		memcmp(out + 64, "TLS 1.3, client CertificateVerify", 33) == 0 && out[97] == 0 &&
		memcmp(out + 98, hash, 32) == 0, "client CertificateVerify content");
}

/* RFC 8448 §3: the server's rsa_pss_rsae_sha256 signature over
 * CH..Certificate verifies with the key in its certificate. */
static void rfc8448_cv(void)
{
	uint8_t msg[1024], h[32], content[200];
	tls_transcript t;
	tls_transcript_init(&t);
	tls_transcript_set_hash(&t, EVP_sha256());
	static const char *const msgs[] = { RFC8448_CLIENT_HELLO, RFC8448_SERVER_HELLO,
					    RFC8448_ENCRYPTED_EXTENSIONS, RFC8448_CERTIFICATE };
	size_t n = 0;
	for (size_t i = 0; i < 4; i++) {
		n = test_unhex(msgs[i], msg, sizeof(msg));
		tls_transcript_add(&t, msg, n);
	}
	tls_transcript_hash(&t, h);
	tls_transcript_free(&t);
	/* Certificate: type(1) len(3) ctx_len(1)=0 list_len(3) cert_len(3) cert... */
	const uint8_t *p = msg + 11;
	size_t cert_len = (size_t)msg[8] << 16 | (size_t)msg[9] << 8 | msg[10];
	X509 *x = d2i_X509(NULL, &p, (long)cert_len);
	EVP_PKEY *pub = x ? X509_get0_pubkey(x) : NULL;
	test_ok(pub && EVP_PKEY_is_a(pub, "RSA"), "RFC 8448 server certificate parsed");

	uint8_t cv[200];
	size_t cvn = test_unhex(RFC8448_CERTIFICATE_VERIFY, cv, sizeof(cv));
	size_t clen = tls_cv_content(true, h, 32, content);
	uint16_t scheme = (uint16_t)(cv[4] << 8 | cv[5]);
	size_t slen = (size_t)cv[6] << 8 | cv[7];
	test_ok(scheme == TLS_SIG_RSA_PSS_RSAE_SHA256 && slen == cvn - 8, "CertificateVerify layout");
	test_ok(tls_sig_verify(pub, scheme, content, clen, cv + 8, slen) == 0,
		"RFC 8448 server CertificateVerify signature verifies");
	clen = tls_cv_content(false, h, 32, content);
	test_ok(tls_sig_verify(pub, scheme, content, clen, cv + 8, slen) == -1,
		"...but not as a client CertificateVerify");
	X509_free(x);
}

/* The prepared key (set up once per certificate) answers exactly like the
 * per-call functions and its signatures verify. */
static void prepared_keys(void)
{
	static const uint16_t schemes[] = {
		TLS_SIG_ECDSA_SECP256R1_SHA256, TLS_SIG_ECDSA_SECP384R1_SHA384,
		TLS_SIG_RSA_PSS_RSAE_SHA256, TLS_SIG_RSA_PSS_RSAE_SHA384, TLS_SIG_RSA_PSS_RSAE_SHA512,
		TLS_SIG_RSA_PSS_PSS_SHA256, TLS_SIG_ED25519, TLS_SIG_RSA_PKCS1_SHA256,
	};
	EVP_PKEY *all[] = { p256, p384, rsa, rsapss, ed };
	const char *names[] = { "P-256", "P-384", "RSA", "RSA-PSS", "Ed25519" };
	uint8_t hash[48], content[200];
	memset(hash, 0x5c, sizeof(hash));
	size_t clen = tls_cv_content(false, hash, sizeof(hash), content);
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
		tls_sig_key *prep = tls_sig_key_new(all[k]);
		bool same = prep != NULL, signs = prep != NULL;
		for (size_t i = 0; prep && i < sizeof(schemes) / sizeof(schemes[0]); i++) {
			bool fits = tls_sig_scheme_fits_key(schemes[i], all[k]);
			same &= tls_sig_key_fits(prep, schemes[i]) == fits;
			tls_buf sig;
			tls_buf_init(&sig, 0);
			int rc = tls_sig_key_sign(prep, schemes[i], content, clen, &sig);
			if (fits)
				signs &= rc == 0 && tls_sig_verify(all[k], schemes[i], content, clen,
								   sig.base, sig.len) == 0;
			else
				signs &= rc != 0;
			tls_buf_free(&sig);
		}
		test_ok(same, "prepared %s key: fits exactly the schemes the key fits", names[k]);
		test_ok(signs, "prepared %s key: signatures verify, unfit schemes refused", names[k]);
		tls_sig_key_free(prep);
	}
}

int main(void)
{
	keys();
	round_trips();
	binding();
	cv_content();
	rfc8448_cv();
	prepared_keys();
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsapss);
	EVP_PKEY_free(ed);
	return test_done();
}
