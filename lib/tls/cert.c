/* Certificate chains: PEM loading with readable errors, DER parsing, name
 * matching and path validation against a trust store, with X.509 failures
 * mapped to TLS alerts (RFC 8446 §6.2). */
#include "tls/crypto.h"
#include "tls/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

void tls_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* libcrypto's innermost reason, for messages; clears the queue. */
static const char *crypto_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	ERR_clear_error();
	return r ? r : "unknown error";
}

static BIO *open_file(const char *path, const char *what, char *err, size_t errlen)
{
	struct stat st;
	if (!path || !*path) {
		tls_set_err(err, errlen, "no %s file given", what);
		return NULL;
	}
	if (stat(path, &st) != 0) {
		tls_set_err(err, errlen, "%s: cannot open %s file: %s", path, what, strerror(errno));
		return NULL;
	}
	if (S_ISDIR(st.st_mode)) {
		tls_set_err(err, errlen, "%s: is a directory, expected a PEM %s file", path, what);
		return NULL;
	}
	BIO *b = BIO_new_file(path, "r");
	if (!b)
		tls_set_err(err, errlen, "%s: cannot open %s file: %s", path, what, strerror(errno));
	ERR_clear_error();
	return b;
}

static bool chain_push(tls_chain *c, X509 *x)
{
	X509 **n = realloc(c->certs, (c->n + 1) * sizeof(*n));
	if (!n)
		return false;
	c->certs = n;
	c->certs[c->n++] = x;
	return true;
}

int tls_chain_load_pem(tls_chain *c, const char *path, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	BIO *b = open_file(path, "certificate", err, errlen);
	if (!b)
		return -1;
	X509 *x;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (!chain_push(c, x)) {
			X509_free(x);
			tls_set_err(err, errlen, "%s: out of memory", path);
			goto fail;
		}
	}
	/* Reading stops with "no start line" at the end of the file; anything
	 * else is a broken PEM block. */
	unsigned long e = ERR_peek_last_error();
	if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
		tls_set_err(err, errlen, "%s: malformed certificate #%zu: %s", path, c->n + 1,
			crypto_reason());
		goto fail;
	}
	ERR_clear_error();
	if (c->n == 0) {
		tls_set_err(err, errlen, "%s: no PEM certificate (\"-----BEGIN CERTIFICATE-----\") found",
			path);
		goto fail;
	}
	BIO_free(b);
	return 0;
fail:
	BIO_free(b);
	tls_chain_free(c);
	return -1;
}

/* Never prompt for a passphrase: an encrypted key is a configuration error. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(int *)u = 1;
	return -1;
}

/* Whether the text has a PEM private key block at all: libcrypto's decoder
 * reports "unsupported" both for that and for a broken key. */
static bool has_key_marker(const char *text, size_t len)
{
	for (const char *p = text; (p = memmem(p, len - (size_t)(p - text), "-----BEGIN ", 11)); p += 11) {
		const char *eol = memchr(p, '\n', len - (size_t)(p - text));
		size_t n = eol ? (size_t)(eol - p) : len - (size_t)(p - text);
		if ((p == text || p[-1] == '\n') && memmem(p, n, "PRIVATE KEY-----", 16))
			return true;
	}
	return false;
}

#define KEY_FILE_MAX 65536

/* A key file's text: read with read(2), not stdio (whose buffer would keep
 * a copy after fclose), into libcrypto's secure heap when the program made
 * one (handshaked: locked, left out of core dumps). Freed with
 * OPENSSL_secure_clear_free(text, *cap). NULL with err set. */
static char *read_key_file(const char *path, size_t *len, size_t *cap, char *err, size_t errlen)
{
	struct stat st;
	char *text = NULL;
	int fd = path && *path ? open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK) : -1;

	if (!path || !*path) {
		tls_set_err(err, errlen, "no private key file given");
		return NULL;
	}
	if (fd < 0 || fstat(fd, &st) != 0) {
		tls_set_err(err, errlen, "%s: cannot open private key file: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > KEY_FILE_MAX) {
		tls_set_err(err, errlen, S_ISDIR(st.st_mode) ? "%s: is a directory, expected a PEM private key file"
			    : S_ISREG(st.st_mode) ? "%s: larger than 64 KiB, not a private key file"
						  : "%s: not a regular file", path);
		goto out;
	}
	*cap = (size_t)st.st_size + 1;  /* one more: a file that grew is seen */
	if (!(text = OPENSSL_secure_malloc(*cap))) {
		tls_set_err(err, errlen, "%s: out of memory", path);
		goto out;
	}
	*len = 0;
	while (*len < *cap) {
		ssize_t r = read(fd, text + *len, *cap - *len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				break;
			tls_set_err(err, errlen, "%s: cannot read private key file: %s", path, strerror(errno));
			OPENSSL_secure_clear_free(text, *cap);
			text = NULL;
			goto out;
		}
		*len += (size_t)r;
	}
	if (*len == *cap) {
		tls_set_err(err, errlen, "%s: changed while being read", path);
		OPENSSL_secure_clear_free(text, *cap);
		text = NULL;
	}
out:
	if (fd >= 0)
		close(fd);
	ERR_clear_error();
	return text;
}

EVP_PKEY *tls_key_load_pem(const char *path, char *err, size_t errlen)
{
	size_t len = 0, cap = 0;
	char *text = read_key_file(path, &len, &cap, err, errlen);
	if (!text)
		return NULL;
	BIO *b = BIO_new_mem_buf(text, (int)len);  /* reads text in place */
	int asked = 0;
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, no_password, &asked) : NULL;
	bool marker = has_key_marker(text, len);
	BIO_free(b);
	OPENSSL_secure_clear_free(text, cap);
	if (k) {
		ERR_clear_error();
		return k;
	}
	if (!b)
		tls_set_err(err, errlen, "%s: out of memory", path);
	else if (asked)
		tls_set_err(err, errlen, "%s: private key is encrypted; a passphrase-less key is needed",
			path);
	else if (!marker)
		tls_set_err(err, errlen, "%s: no PEM private key (\"-----BEGIN ... PRIVATE KEY-----\") found",
			path);
	else
		tls_set_err(err, errlen, "%s: cannot read private key: %s", path, crypto_reason());
	ERR_clear_error();
	return NULL;
}

int tls_chain_check_key(const tls_chain *c, EVP_PKEY *key, char *err, size_t errlen)
{
	if (!c || c->n == 0 || !key) {
		tls_set_err(err, errlen, "no certificate or no key");
		return -1;
	}
	EVP_PKEY *pub = X509_get0_pubkey(c->certs[0]);
	if (!pub || EVP_PKEY_eq(pub, key) != 1) {
		ERR_clear_error();
		tls_set_err(err, errlen, "private key does not match the certificate's public key");
		return -1;
	}
	return 0;
}

int tls_chain_from_der(tls_chain *c, const uint8_t *const *der, const size_t *len, size_t n)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		const unsigned char *p = der[i];
		if (len[i] == 0 || len[i] > (size_t)0x7fffffff)
			goto fail;
		X509 *x = d2i_X509(NULL, &p, (long)len[i]);
		/* The certificate must fill its cert_data exactly. */
		if (!x || p != der[i] + len[i]) {
			X509_free(x);
			goto fail;
		}
		if (!chain_push(c, x)) {
			X509_free(x);
			goto fail;
		}
	}
	return 0;
fail:
	ERR_clear_error();
	tls_chain_free(c);
	return -1;
}

void tls_chain_free(tls_chain *c)
{
	for (size_t i = 0; i < c->n; i++)
		X509_free(c->certs[i]);
	free(c->certs);
	c->certs = NULL;
	c->n = 0;
}

bool tls_is_ip_literal(const char *host)
{
	uint8_t buf[16];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

bool tls_chain_matches_name(const tls_chain *c, const char *host)
{
	if (!c || c->n == 0 || !host || !*host)
		return false;
	int r;
	if (tls_is_ip_literal(host))
		r = X509_check_ip_asc(c->certs[0], host, 0);
	else
		r = X509_check_host(c->certs[0], host, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL);
	ERR_clear_error();
	return r == 1;
}

static int verify_alert(int e)
{
	switch (e) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return TLS_ALERT_CERTIFICATE_EXPIRED;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
		return TLS_ALERT_UNKNOWN_CA;
	case X509_V_ERR_CERT_REVOKED:
		return TLS_ALERT_CERTIFICATE_REVOKED;
	case X509_V_ERR_INVALID_PURPOSE:
	case X509_V_ERR_CERT_REJECTED:
		return TLS_ALERT_UNSUPPORTED_CERTIFICATE;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
	case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
	case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
	case X509_V_ERR_INVALID_CA:
	case X509_V_ERR_INVALID_EXTENSION:
		return TLS_ALERT_BAD_CERTIFICATE;
	default:
		return TLS_ALERT_CERTIFICATE_UNKNOWN;
	}
}

int tls_chain_verify(const tls_chain *c, X509_STORE *store, bool server_cert,
		     const char *host, char *err, size_t errlen)
{
	if (!c || c->n == 0) {
		tls_set_err(err, errlen, "no certificate");
		return TLS_ALERT_BAD_CERTIFICATE;
	}
	if (!store) {
		tls_set_err(err, errlen, "no trust store to verify against");
		return TLS_ALERT_UNKNOWN_CA;
	}
	int alert = TLS_ALERT_INTERNAL_ERROR;
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	if (!untrusted || !ctx)
		goto out;
	for (size_t i = 1; i < c->n; i++)
		if (!sk_X509_push(untrusted, c->certs[i]))
			goto out;
	if (!X509_STORE_CTX_init(ctx, store, c->certs[0], untrusted) ||
	    !X509_STORE_CTX_set_purpose(ctx, server_cert ? X509_PURPOSE_SSL_SERVER
							 : X509_PURPOSE_SSL_CLIENT))
		goto out;
	if (host && *host) {
		X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
		X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		int ok = tls_is_ip_literal(host) ? X509_VERIFY_PARAM_set1_ip_asc(vp, host)
					     : X509_VERIFY_PARAM_set1_host(vp, host, 0);
		if (!ok) {
			tls_set_err(err, errlen, "cannot check against name \"%s\"", host);
			alert = TLS_ALERT_BAD_CERTIFICATE;
			goto out;
		}
	}
	if (X509_verify_cert(ctx) == 1) {
		alert = 0;
		goto out;
	}
	int e = X509_STORE_CTX_get_error(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);
	if (e == X509_V_ERR_HOSTNAME_MISMATCH || e == X509_V_ERR_IP_ADDRESS_MISMATCH)
		tls_set_err(err, errlen, "certificate verify failed: %s (\"%s\")",
			X509_verify_cert_error_string(e), host ? host : "");
	else
		tls_set_err(err, errlen, "certificate verify failed at depth %d: %s", depth,
			X509_verify_cert_error_string(e));
	alert = verify_alert(e);
out:
	if (alert == TLS_ALERT_INTERNAL_ERROR)
		tls_set_err(err, errlen, "certificate verification could not run: %s", crypto_reason());
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	return alert;
}

X509_STORE *tls_store_load(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (!path || !*path) {
		tls_set_err(err, errlen, "no CA file or directory given");
		return NULL;
	}
	if (stat(path, &st) != 0) {
		tls_set_err(err, errlen, "%s: cannot open CA file: %s", path, strerror(errno));
		return NULL;
	}
	X509_STORE *s = X509_STORE_new();
	if (!s) {
		tls_set_err(err, errlen, "out of memory");
		return NULL;
	}
	int ok = S_ISDIR(st.st_mode) ? X509_STORE_load_path(s, path) : X509_STORE_load_file(s, path);
	if (!ok) {
		tls_set_err(err, errlen, "%s: no usable CA certificates: %s", path, crypto_reason());
		X509_STORE_free(s);
		return NULL;
	}
	ERR_clear_error();
	return s;
}

/* Loaded on first use: reading the bundle costs milliseconds, and a shared
 * X509_STORE is safe to verify against from several threads. A reload
 * swaps it; verifications under way keep the reference they took. */
static pthread_mutex_t system_lock = PTHREAD_MUTEX_INITIALIZER;
static X509_STORE *system_store;
static bool system_loaded;

static X509_STORE *system_store_load(char *err, size_t errlen)
{
	X509_STORE *s = X509_STORE_new();
	if (s && X509_STORE_set_default_paths(s) != 1) {
		tls_set_err(err, errlen, "system trust store: %s", crypto_reason());
		X509_STORE_free(s);
		s = NULL;
	} else if (!s) {
		tls_set_err(err, errlen, "system trust store: out of memory");
	}
	ERR_clear_error();
	return s;
}

X509_STORE *tls_store_system(void)
{
	pthread_mutex_lock(&system_lock);
	if (!system_loaded) {
		system_store = system_store_load(NULL, 0);
		system_loaded = true;
	}
	X509_STORE *s = system_store;
	if (s && X509_STORE_up_ref(s) != 1)
		s = NULL;
	pthread_mutex_unlock(&system_lock);
	return s;
}

int tls_trust_reload(char *err, size_t errlen)
{
	X509_STORE *fresh = system_store_load(err, errlen);
	if (!fresh)
		return -1;
	pthread_mutex_lock(&system_lock);
	X509_STORE *old = system_store;
	system_store = fresh;
	system_loaded = true;
	pthread_mutex_unlock(&system_lock);
	X509_STORE_free(old);
	return 0;
}

void tls_store_cleanup(void)
{
	pthread_mutex_lock(&system_lock);
	X509_STORE_free(system_store);
	system_store = NULL;
	system_loaded = false;
	pthread_mutex_unlock(&system_lock);
}

size_t tls_chain_length(const tls_chain *c)
{
	return c ? c->n : 0;
}

int tls_chain_cert_der(const tls_chain *c, size_t i, tls_buf *out)
{
	if (!c || i >= c->n)
		return -1;
	int n = i2d_X509(c->certs[i], NULL);
	uint8_t *p = n > 0 ? tls_buf_reserve(out, (size_t)n) : NULL;
	if (!p || i2d_X509(c->certs[i], &p) != n)
		return -1;
	out->len += (size_t)n;
	return 0;
}
