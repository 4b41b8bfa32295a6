/* Shared setup of the libFuzzer targets. Header-only on purpose: the
 * Makefile builds each tests/fuzz/NAME.c as one program with the engine
 * compiled in, so this is included once per target.
 *
 * Everything is deterministic: fixed randoms, fixed ephemeral keys and an
 * Ed25519 certificate (deterministic signatures), so a seed captured from a
 * real handshake (tests/fuzz/corpus/mkseeds.c) replays exactly and the
 * fuzzer starts from deep inside the handshake, not at the first MAC check.
 *
 * Input format of every target: byte 0 & 3 = k split points, then k u16
 * (big endian) offsets; the rest is the byte stream, fed in k+1 pieces the
 * way a socket might deliver it (unconsumed bytes are fed again with the
 * next piece, as the daemon does).
 */
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "tls/engine.h" /* the fixed session is built field by field */
#include "tls/ticket.h"
#include "tls/tls.h"
#include "tls/test_hooks.h"

/* Test-only Ed25519 key and certificate (CN/SAN fuzz.test, 100 years). */
static const char fuzz_key_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VwBCIEIDDlIaWKx4HW+a85/sggFr45gBRyo5DdMrXCt4pOJBpn\n"
	"-----END PRIVATE KEY-----\n"
;
static const char fuzz_cert_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBQTCB9KADAgECAgEBMAUGAytlcDAUMRIwEAYDVQQDDAlmdXp6LnRlc3QwIBcN\n"
	"MjYxMjAxMDQyNDU5WhgPMjEyNjExMDcwNDI0NTlaMBQxEjAQBgNVBAMMCWZ1enou\n"
	"dGVzdDAqMAUGAytlcAMhAEXIc1ExWYwmZJfh0ouRMkJa1EgOQtmRPBkqE/wD15v9\n"
	"o2kwZzAdBgNVHQ4EFgQUCtS56BYGJ+3yT+8kmU6pGzqWT2gwHwYDVR0jBBgwFoAU\n"
	"CtS56BYGJ+3yT+8kmU6pGzqWT2gwDwYDVR0TAQH/BAUwAwEB/zAUBgNVHREEDTAL\n"
	"gglmdXp6LnRlc3QwBQYDK2VwA0EALsbyRPWctEX1EjNDRUdUsy0c37GXT7CFMBWl\n"
	"NYsFhzdaiy+jnvtJ8n0PhDFlM0Q0E/t5gF8C5Me+UrhPOaF9BA==\n"
	"-----END CERTIFICATE-----\n"
;

/* Test-only Ed25519 client key and certificate (CN "fuzz client", EKU
 * clientAuth, issued by the fuzz.test certificate above, 100 years). */
static const char fuzz_client_key_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VwBCIEIAz2YWWSMWyL2iWYiD6WBZPKxPo/lN19MDpnSmBQw/es\n"
	"-----END PRIVATE KEY-----\n"
;
static const char fuzz_client_cert_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBUDCCAQKgAwIBAgIBAjAFBgMrZXAwFDESMBAGA1UEAwwJZnV6ei50ZXN0MCAX\n"
	"DTI2MTIwNjIxMjY1NloYDzIxMjYxMTEyMjEyNjU2WjAWMRQwEgYDVQQDDAtmdXp6\n"
	"IGNsaWVudDAqMAUGAytlcAMhAJP144t0QENoKEi8o/qNMJbOpSSKob01SE0RTn+E\n"
	"LSMoo3UwczAMBgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQEAwIHgDATBgNVHSUEDDAK\n"
	"BggrBgEFBQcDAjAdBgNVHQ4EFgQUI9NHFMj2589vtQPS8/UVjKevZ0cwHwYDVR0j\n"
	"BBgwFoAUCtS56BYGJ+3yT+8kmU6pGzqWT2gwBQYDK2VwA0EAa5HRkrvn70ZeCOXw\n"
	"Zabnr8S9yxMHDuxo3flXUxceeclYV+7R2w0epBWDu5neU1fIQAssLl3wD/dynOVN\n"
	"QRwfBA==\n"
	"-----END CERTIFICATE-----\n"
;

/* RFC 8448's X25519 (section 3) and P-256 (section 5) private keys. */
static const uint8_t fuzz_client_x25519[32] = {
	0x49, 0xaf, 0x42, 0xba, 0x7f, 0x79, 0x94, 0x85, 0x2d, 0x71, 0x3e, 0xf2, 0x78, 0x4b, 0xcb, 0xca,
	0xa7, 0x91, 0x1d, 0xe2, 0x6a, 0xdc, 0x56, 0x42, 0xcb, 0x63, 0x45, 0x40, 0xe7, 0xea, 0x50, 0x05,
};
static const uint8_t fuzz_server_x25519[32] = {
	0xb1, 0x58, 0x0e, 0xea, 0xdf, 0x6d, 0xd5, 0x89, 0xb8, 0xef, 0x4f, 0x2d, 0x56, 0x52, 0x57, 0x8c,
	0xc8, 0x10, 0xe9, 0x98, 0x01, 0x91, 0xec, 0x8d, 0x05, 0x83, 0x08, 0xce, 0xa2, 0x16, 0xa2, 0x1e,
};
static const uint8_t fuzz_client_p256[32] = {
	0xab, 0x54, 0x73, 0x46, 0x7e, 0x19, 0x34, 0x6c, 0xeb, 0x0a, 0x04, 0x14, 0xe4, 0x1d, 0xa2, 0x1d,
	0x4d, 0x24, 0x45, 0xbc, 0x30, 0x25, 0xaf, 0xe9, 0x7c, 0x4e, 0x8d, 0xc8, 0xd5, 0x13, 0xda, 0x39,
};
static const uint8_t fuzz_server_p256[32] = {
	0x8c, 0x51, 0x06, 0x01, 0xf9, 0x76, 0x5b, 0xfb, 0x8e, 0xd6, 0x93, 0x44, 0x9a, 0x48, 0x98, 0x98,
	0x59, 0xb5, 0xcf, 0xa8, 0x79, 0xcb, 0x9f, 0x54, 0x43, 0xc4, 0x1c, 0x5f, 0xf1, 0x06, 0x34, 0xed,
};

static inline void fuzz_die(const char *why)
{
	fprintf(stderr, "fuzz setup: %s\n", why);
	abort();
}

/* A broken engine invariant is a finding: crash so libFuzzer keeps it. */
static inline void fuzz_check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz invariant violated: %s\n", what);
		__builtin_trap();
	}
}

static inline void fuzz_add_cert(tls_config *cfg, const char *key_pem, const char *cert_pem)
{
	BIO *kb = BIO_new_mem_buf(key_pem, -1), *cb = BIO_new_mem_buf(cert_pem, -1);
	EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	BIO_free(kb);
	BIO_free(cb);
	tls_chain chain = { calloc(1, sizeof(X509 *)), 1 };
	if (!cfg || !key || !cert || !chain.certs)
		fuzz_die("key/certificate");
	chain.certs[0] = cert;
	if (tls_config_add_cert(cfg, &chain, key) != 0)
		fuzz_die("tls_config_add_cert");
}

/* The hybrid groups draw ML-KEM randomness that the test hooks do not
 * fix: the seeds use classical groups (X25519 first, so the client
 * shares only it), and the server still accepts the hybrid ones, so
 * mutated ClientHellos reach their share parsing and encapsulation. */
static const uint16_t fuzz_server_groups[] = { TLS_GROUP_X25519, TLS_GROUP_SECP256R1, TLS_GROUP_SECP384R1,
					       TLS_GROUP_X25519MLKEM768, TLS_GROUP_SECP256R1MLKEM768 };
static const uint16_t fuzz_client_groups[] = { TLS_GROUP_X25519, TLS_GROUP_SECP256R1, TLS_GROUP_SECP384R1 };

static inline tls_config *fuzz_server_config(void)
{
	tls_config *cfg = tls_config_new(TLS_SERVER);
	fuzz_add_cert(cfg, fuzz_key_pem, fuzz_cert_pem);
	tls_config_set_alpn(cfg, "h2,http/1.1");
	if (tls_config_set_groups(cfg, fuzz_server_groups, sizeof(fuzz_server_groups) / sizeof(fuzz_server_groups[0])))
		fuzz_die("server groups");
	return cfg;
}

static inline tls_config *fuzz_client_config(void)
{
	tls_config *cfg = tls_config_new(TLS_CLIENT);
	if (!cfg)
		fuzz_die("tls_config_new");
	tls_config_set_verify_peer(cfg, false);
	tls_config_set_alpn(cfg, "h2,http/1.1");
	if (tls_config_set_groups(cfg, fuzz_client_groups, sizeof(fuzz_client_groups) / sizeof(fuzz_client_groups[0])))
		fuzz_die("client groups");
	return cfg;
}

static inline void fuzz_fix_client(tls_conn *c)
{
	uint8_t random[32], sid[32];
	memset(random, 0x11, sizeof(random));
	memset(sid, 0x22, sizeof(sid));
	if (tls_conn_test_set_random(c, random) ||
	    tls_conn_test_set_kex_private(c, TLS_GROUP_X25519, fuzz_client_x25519, 32) ||
	    tls_conn_test_set_kex_private(c, TLS_GROUP_SECP256R1, fuzz_client_p256, 32) ||
	    tls_conn_test_set_session_id(c, sid, sizeof(sid)) ||
	    tls_conn_set_server_name(c, "fuzz.test"))
		fuzz_die("client test hooks");
}

static inline void fuzz_fix_server(tls_conn *c)
{
	uint8_t random[32];
	memset(random, 0x33, sizeof(random));
	if (tls_conn_test_set_random(c, random) ||
	    tls_conn_test_set_kex_private(c, TLS_GROUP_X25519, fuzz_server_x25519, 32) ||
	    tls_conn_test_set_kex_private(c, TLS_GROUP_SECP256R1, fuzz_server_p256, 32))
		fuzz_die("server test hooks");
}

/* Splits the input header off: *k split points (sorted, within the rest). */
static inline const uint8_t *fuzz_splits(const uint8_t *data, size_t *size, size_t cut[3],
					 size_t *k)
{
	*k = 0;
	if (*size == 0)
		return data;
	size_t want = data[0] & 3;
	data++, (*size)--;
	for (size_t i = 0; i < want && *size >= 2; i++) {
		cut[(*k)++] = (size_t)data[0] << 8 | data[1];
		data += 2, *size -= 2;
	}
	for (size_t i = 0; i < *k; i++) {
		cut[i] = *size ? cut[i] % (*size + 1) : 0;
		for (size_t j = i; j > 0 && cut[j - 1] > cut[j]; j--) {
			size_t t = cut[j];
			cut[j] = cut[j - 1];
			cut[j - 1] = t;
		}
	}
	return data;
}

/* The last record in out is an alert (plaintext or protected). */
static inline bool fuzz_ends_with_alert(const tls_buf *out)
{
	tls_reader r = tls_reader_init(out->base, out->len);
	uint8_t last = 0;
	while (r.left >= TLS_RECORD_HEADER && !r.err) {
		tls_reader h = r;
		uint8_t type = tls_read_u8(&h);
		tls_read_u16(&h);
		uint16_t n = tls_read_u16(&h);
		if (!tls_read_bytes(&r, TLS_RECORD_HEADER + (size_t)n))
			return false;
		last = type;
	}
	return r.left == 0 && (last == 21 || last == 23);
}

/* Feeds `pending` to the connection (handshake, then the record layer)
 * until it wants more input or fails. Returns the last result. */
static inline int fuzz_step(tls_conn *c, tls_buf *pending, tls_buf *out, tls_buf *plain)
{
	for (;;) {
		size_t n = pending->len;
		int rc;
		/* never NULL: the engine's NULL handling is the unit tests' job */
		const uint8_t *in = n ? pending->base : (const uint8_t *)"";
		if (!tls_conn_handshake_done(c))
			rc = tls_conn_handshake(c, out, in, &n);
		else
			rc = tls_conn_recv(c, out, plain, in, &n);
		fuzz_check(n <= pending->len, "consumed more than it was given");
		tls_buf_consume(pending, n);
		if (TLS_IS_LOCAL_ERR(rc))
			fuzz_check(fuzz_ends_with_alert(out), "local error without an alert record");
		if (rc != 0 || pending->len == 0 || (n == 0 && tls_conn_handshake_done(c)))
			return rc;
	}
}

/* Feeds the stream in k+1 pieces; after a failure, checks the connection
 * stays dead (fails again and writes nothing). Returns the last result. */
static inline int fuzz_feed(tls_conn *c, const uint8_t *data, size_t size, const size_t *cut,
			    size_t k)
{
	int rc = TLS_WANT_INPUT;
	tls_buf pending, out, plain;
	tls_buf_init(&pending, 0);
	tls_buf_init(&out, 0);
	tls_buf_init(&plain, 0);
	size_t prev = 0;
	for (size_t i = 0; i <= k; i++) {
		size_t end = i < k ? cut[i] : size;
		if (end > prev) /* (tls_buf_reserve(b, 0) on an empty buffer is NULL + 0) */
			tls_write_bytes(&pending, data + prev, end - prev);
		prev = end;
		tls_buf_reset(&out);
		tls_buf_reset(&plain);
		rc = fuzz_step(c, &pending, &out, &plain);
		if (rc < 0) {
			size_t before = out.len, n = pending.len;
			const uint8_t *in = n ? pending.base : (const uint8_t *)"";
			int rc2 = tls_conn_handshake_done(c) ? tls_conn_recv(c, &out, &plain, in, &n)
							     : tls_conn_handshake(c, &out, in, &n);
			fuzz_check(rc2 < 0 && out.len == before, "connection alive after a fatal error");
			break;
		}
		if (rc == TLS_CLOSED)
			break;
	}
	tls_buf_free(&pending);
	tls_buf_free(&out);
	tls_buf_free(&plain);
	return rc;
}

/* Records from chunks [type][len u16][payload] (len mod 2^14+2, cut to
 * what is left), sealed under key with content type type & 0x1f and
 * (type >> 5 & 3) bytes of padding; type & 0x80: the payload as raw bytes. */
static inline void fuzz_chunks(tls_traffic_key *key, const uint8_t *data, size_t size,
			       tls_buf *stream)
{
	tls_reader in = tls_reader_init(data, size);
	while (in.left >= 3) {
		uint8_t type = tls_read_u8(&in);
		size_t len = tls_read_u16(&in) % (TLS_MAX_PLAINTEXT + 2);
		if (len > in.left)
			len = in.left;
		const uint8_t *p = tls_read_bytes(&in, len);
		if ((type & 0x80) && len)
			tls_write_bytes(stream, p, len);
		else if (len <= TLS_MAX_PLAINTEXT)
			tls_record_seal(key, type & 0x1f, p, len, type >> 5 & 3, stream);
	}
}

/* Split points (from fuzz_splits) moved into a generated stream of len bytes. */
static inline void fuzz_recut(size_t *cut, size_t k, size_t len)
{
	for (size_t i = 0; i < k; i++)
		cut[i] = len ? cut[i] % (len + 1) : 0;
	for (size_t i = 1; i < k; i++)
		for (size_t j = i; j > 0 && cut[j - 1] > cut[j]; j--) {
			size_t t = cut[j];
			cut[j] = cut[j - 1];
			cut[j - 1] = t;
		}
}

/* One traffic secret a connection announces (callbacks.secret). */
struct fuzz_secret {
	enum tls_dir dir;
	int epoch;
	bool got;
	const tls_cipher *cs;
	uint8_t secret[TLS_MAX_HASH];
};

static inline void fuzz_on_secret(void *ctx, enum tls_dir dir, int epoch, const tls_cipher *cs,
				  const uint8_t *secret, size_t len)
{
	struct fuzz_secret *k = ctx;
	if (dir == k->dir && epoch == k->epoch && len <= TLS_MAX_HASH) {
		k->got = true;
		k->cs = cs;
		memcpy(k->secret, secret, len);
	}
}

/* ---- resumption, external PSKs and 0-RTT (server_psk, client_psk) ----
 *
 * Everything a resumed handshake depends on is fixed as well: the clock,
 * the STEK ring (loaded from a key file of constant bytes), the ticket the
 * client offers (sealed under that ring with a fixed nonce and age_add) and
 * its PSK, and the external PSK. So a seed made by corpus/mkseeds.c with
 * these opens, passes its binder and decrypts its 0-RTT data in the targets.
 */
#define FUZZ_NOW_MS 1764561600000ull /* 2025-12-01 04:00 UTC */
#define FUZZ_EARLY_MAX 16384u
#define FUZZ_PSK_CIPHER TLS_AES_128_GCM_SHA256
static const uint8_t fuzz_psk_identity[] = "fuzz external psk";
static const char fuzz_ticket_alpn[] = "h2";

static inline uint64_t fuzz_clock(void *ctx)
{
	(void)ctx;
	return FUZZ_NOW_MS;
}

/* Constant key material: byte i of a key is seed + i. */
static inline void fuzz_fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i);
}

static inline int fuzz_psk_find(void *ctx, const uint8_t *identity, size_t identity_len,
				uint8_t *key, size_t *key_len, uint16_t *cipher)
{
	(void)ctx;
	if (identity_len != sizeof(fuzz_psk_identity) - 1 ||
	    memcmp(identity, fuzz_psk_identity, identity_len) != 0 || *key_len < 32)
		return -1;
	fuzz_fill(key, 32, 0xa0);
	*key_len = 32;
	*cipher = FUZZ_PSK_CIPHER;
	return 0;
}

/* Writes text to a fresh 0600 file under $TMPDIR; its name into path. */
static inline void fuzz_tmpfile(char *path, size_t size, const char *text)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(path, size, "%s/fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0)
		fuzz_die("mkstemp");
	bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	if (!ok)
		fuzz_die("writing a temporary file");
}

/* A ring holding one fixed key (id 0x10.., key 0x40..). The only way in
 * with fixed bytes is a key file: written 0600 under $TMPDIR, loaded, removed. */
static inline tls_stek_ring *fuzz_stek_ring(void)
{
	uint8_t id[TLS_STEK_ID_LEN], key[TLS_STEK_KEY_LEN];
	fuzz_fill(id, sizeof(id), 0x10);
	fuzz_fill(key, sizeof(key), 0x40);
	char line[160], *w = line, path[256], err[256];
	w += sprintf(w, "v1 ");
	for (size_t i = 0; i < sizeof(id); i++)
		w += sprintf(w, "%02x", id[i]);
	*w++ = ' ';
	for (size_t i = 0; i < sizeof(key); i++)
		w += sprintf(w, "%02x", key[i]);
	sprintf(w, " %llu\n", (unsigned long long)(FUZZ_NOW_MS / 1000 - 3600));
	fuzz_tmpfile(path, sizeof(path), line);
	tls_stek_ring *ring = tls_stek_ring_new(0, 0);
	bool ok = ring && tls_stek_ring_load(ring, path, err, sizeof(err)) == 0;
	unlink(path);
	if (!ok) {
		fprintf(stderr, "fuzz setup: STEK ring: %s\n", ring ? err : "alloc");
		abort();
	}
	return ring;
}

/* The ticket a client resumes with: cipher FUZZ_PSK_CIPHER, PSK 0x70..,
 * created now, 0-RTT allowed, SNI fuzz.test, ALPN h2, sealed under the
 * fixed ring with nonce 0x60.. (tls_ticket_seal draws a random one). */
static inline tls_session *fuzz_session(void)
{
	const tls_cipher *cs = tls_cipher_find(FUZZ_PSK_CIPHER);
	tls_stek_ring *ring = fuzz_stek_ring();
	const tls_stek *k = tls_stek_ring_current(ring);
	tls_ticket t;
	uint8_t rms[TLS_MAX_HASH], nonce[TLS_TICKET_NONCE_LEN], tag[TLS_TAG_LEN];
	fuzz_fill(rms, sizeof(rms), 0x70);
	fuzz_fill(nonce, sizeof(nonce), 0x60);
	tls_buf body, sealed;
	tls_buf_init(&body, 0);
	tls_buf_init(&sealed, 0);
	if (!cs || !k || tls_ticket_init(&t, cs, rms, (const uint8_t *)"\0", 1, FUZZ_NOW_MS, 7200))
		fuzz_die("ticket");
	t.age_add = 0x01020304;
	t.max_early_data = FUZZ_EARLY_MAX;
	if (tls_ticket_set_sni(&t, "fuzz.test") ||
	    tls_ticket_set_alpn(&t, (const uint8_t *)fuzz_ticket_alpn, strlen(fuzz_ticket_alpn)) ||
	    tls_ticket_encode(&t, &body))
		fuzz_die("ticket contents");
	/* the sealed form of ticket.c: id | nonce | AES-256-GCM(contents, aad id) | tag */
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl = 0, finl = 0;
	if (!ctx || !EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, nonce) ||
	    !EVP_EncryptUpdate(ctx, NULL, &outl, k->id, TLS_STEK_ID_LEN) ||
	    !EVP_EncryptUpdate(ctx, body.base, &outl, body.base, (int)body.len) ||
	    !EVP_EncryptFinal_ex(ctx, body.base + outl, &finl) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TLS_TAG_LEN, tag))
		fuzz_die("sealing the ticket");
	EVP_CIPHER_CTX_free(ctx);
	tls_write_bytes(&sealed, k->id, TLS_STEK_ID_LEN);
	tls_write_bytes(&sealed, nonce, sizeof(nonce));
	tls_write_bytes(&sealed, body.base, body.len);
	tls_write_bytes(&sealed, tag, sizeof(tag));
	/* it must open under the ring, or the seeds test nothing */
	tls_ticket chk;
	if (sealed.err || tls_ticket_open(ring, sealed.base, sealed.len, FUZZ_NOW_MS, &chk))
		fuzz_die("the fixed ticket does not open");
	tls_ticket_clear(&chk);

	tls_session s;
	memset(&s, 0, sizeof(s));
	s.cipher = FUZZ_PSK_CIPHER;
	memcpy(s.psk, t.psk, t.psk_len);
	s.psk_len = t.psk_len;
	s.ticket = sealed.base;
	s.ticket_len = sealed.len;
	s.lifetime_s = t.lifetime_s;
	s.age_add = t.age_add;
	s.max_early_data = t.max_early_data;
	s.created_ms = FUZZ_NOW_MS;
	snprintf(s.server_name, sizeof(s.server_name), "fuzz.test");
	snprintf(s.alpn, sizeof(s.alpn), "%s", fuzz_ticket_alpn);
	tls_session *d = tls_session_dup(&s);
	if (!d)
		fuzz_die("tls_session_dup");
	OPENSSL_cleanse(&s, sizeof(s));
	tls_ticket_clear(&t);
	tls_buf_free(&body);
	tls_buf_free(&sealed);
	tls_stek_ring_free(ring);
	return d;
}

/* Offers session as an application does: its blob. 0 or -1. */
static inline int fuzz_set_session(tls_conn *c, const tls_session *session)
{
	tls_buf b;
	tls_buf_init(&b, 0);
	int rc = tls_session_encode(session, &b) ? -1 : tls_conn_set_session(c, b.base, b.len);
	tls_buf_free(&b);
	return rc;
}

/* The real in-memory recorder, made afresh for every input so a seed's
 * 0-RTT is accepted on every run; `replay` pre-records the key so the
 * replay refusal (1-RTT fallback) is reachable too. */
struct fuzz_replay {
	tls_replay_cache *cache;
	bool replay;
};

static inline bool fuzz_replay_check(void *ctx, const uint8_t *key, size_t key_len,
				     uint64_t now_ms)
{
	struct fuzz_replay *r = ctx;
	if (r->replay)
		tls_replay_cache_check(r->cache, key, key_len, now_ms);
	return tls_replay_cache_check(r->cache, key, key_len, now_ms) == TLS_REPLAY_FRESH;
}

static inline void fuzz_replay_destroy(void *ctx)
{
	(void)ctx; /* the target owns it */
}

static inline uint32_t fuzz_replay_window(void *ctx)
{
	struct fuzz_replay *r = ctx;
	return tls_replay_cache_window(r->cache);
}

static const struct tls_antireplay_ops fuzz_replay_ops = {
	.check_and_record = fuzz_replay_check,
	.destroy = fuzz_replay_destroy,
	.window_ms = fuzz_replay_window,
};

static inline void fuzz_replay_reset(struct fuzz_replay *r, bool replay)
{
	tls_replay_cache_free(r->cache);
	r->cache = tls_replay_cache_new(TLS_ANTIREPLAY_DEFAULT_WINDOW_MS, 16);
	if (!r->cache)
		fuzz_die("tls_replay_cache_new");
	r->replay = replay;
}

/* Server with the fixed ring, tickets, 0-RTT, the recorder `ar`, the
 * external PSK and the fixed clock. The ring must outlive the config. */
static inline tls_config *fuzz_server_psk_config(tls_stek_ring *ring, struct fuzz_replay *ar)
{
	tls_config *cfg = fuzz_server_config();
	tls_config_set_clock(cfg, fuzz_clock, NULL);
	tls_config_set_ticket_keys(cfg, ring);
	if (tls_config_set_tickets(cfg, 2, 7200) || tls_config_set_early_data(cfg, FUZZ_EARLY_MAX))
		fuzz_die("tickets/early data");
	fuzz_replay_reset(ar, false);
	tls_config_set_antireplay(cfg, &fuzz_replay_ops, ar);
	tls_config_set_psk_find(cfg, fuzz_psk_find, NULL);
	tls_config_set_psk_modes(cfg, TLS_PSK_MODE_KE | TLS_PSK_MODE_DHE_KE);
	return cfg;
}

/* Client offering the external PSK (no session set on the conn). */
static inline tls_config *fuzz_client_extpsk_config(void)
{
	tls_config *cfg = fuzz_client_config();
	uint8_t key[32];
	size_t klen = sizeof(key);
	uint16_t cipher;
	tls_config_set_clock(cfg, fuzz_clock, NULL);
	if (fuzz_psk_find(NULL, fuzz_psk_identity, sizeof(fuzz_psk_identity) - 1, key, &klen,
			  &cipher) ||
	    tls_config_set_psk(cfg, fuzz_psk_identity, sizeof(fuzz_psk_identity) - 1, key, klen,
			       cipher))
		fuzz_die("tls_config_set_psk");
	tls_config_set_psk_modes(cfg, TLS_PSK_MODE_KE | TLS_PSK_MODE_DHE_KE);
	return cfg;
}

static const uint8_t fuzz_early_data[] = "GET / HTTP/1.1\r\nHost: fuzz.test\r\n\r\n";

/* ---- client authentication (server_mtls) ----
 *
 * The client's second flight is encrypted under keys that depend on the
 * whole handshake, so mutated bytes never get past the record layer to
 * the server's Certificate / CertificateVerify / Finished code. The
 * server_mtls target therefore replays a fixed ClientHello (made by the
 * engine's client: deterministic like everything here) and takes its input
 * as the plaintext of the client's next records (fuzz_chunks under the
 * client handshake key). Bits of its header byte, besides the splits: */
#define FUZZ_MTLS_OPTIONAL 4   /* client certificates optional (else required) */
#define FUZZ_MTLS_NO_VERIFY 8  /* verify_peer off: any certificate, CV still checked */
#define FUZZ_MTLS_TICKET 16    /* the ClientHello offers the fixed ticket (fuzz_session),
				* which holds no client identity */

/* The server for header byte hdr: client auth, the fuzz.test CA (unless
 * NO_VERIFY), the fixed ring (which opens the fixed ticket) and clock. */
static inline tls_config *fuzz_mtls_server_config(uint8_t hdr, tls_stek_ring *ring)
{
	tls_config *cfg = fuzz_server_config();
	tls_config_set_client_auth(cfg, hdr & FUZZ_MTLS_OPTIONAL ? TLS_CLIENT_AUTH_OPTIONAL
								  : TLS_CLIENT_AUTH_REQUIRE);
	if (hdr & FUZZ_MTLS_NO_VERIFY) {
		tls_config_set_verify_peer(cfg, false);
	} else {
		char path[256], err[256];
		fuzz_tmpfile(path, sizeof(path), fuzz_cert_pem);
		int rc = tls_config_load_ca(cfg, path, err, sizeof(err));
		unlink(path);
		if (rc) {
			fprintf(stderr, "fuzz setup: CA: %s\n", err);
			abort();
		}
	}
	tls_config_set_clock(cfg, fuzz_clock, NULL);
	tls_config_set_ticket_keys(cfg, ring);
	tls_config_set_psk_modes(cfg, TLS_PSK_MODE_KE | TLS_PSK_MODE_DHE_KE);
	return cfg;
}

/* The engine's client as server_mtls plays it: fixed, with the client
 * certificate when `cert`, offering `session` when not NULL. */
static inline tls_conn *fuzz_mtls_client(tls_config **cfg, bool cert, const tls_session *session)
{
	*cfg = fuzz_client_config();
	tls_config_set_clock(*cfg, fuzz_clock, NULL);
	if (cert)
		fuzz_add_cert(*cfg, fuzz_client_key_pem, fuzz_client_cert_pem);
	tls_conn *c = tls_conn_new(*cfg);
	if (!c)
		fuzz_die("tls_conn_new");
	fuzz_fix_client(c);
	if (session) {
		if (fuzz_set_session(c, session))
			fuzz_die("offering the session");
	}
	return c;
}

/* The ClientHello server_mtls replays (a client certificate changes nothing
 * in it). */
static inline void fuzz_mtls_hello(bool ticket, tls_buf *ch)
{
	tls_session *session = ticket ? fuzz_session() : NULL;
	tls_config *cfg;
	tls_conn *c = fuzz_mtls_client(&cfg, false, session);
	tls_buf_init(ch, 0);
	size_t n = 0;
	if (tls_conn_handshake(c, ch, (const uint8_t *)"", &n) != TLS_WANT_INPUT || ch->err)
		fuzz_die("ClientHello");
	tls_conn_free(c);
	tls_config_free(cfg);
	tls_session_free(session);
}

/* One server_mtls input: a fixed server reads ch, then the records made
 * from data (fuzz_chunks with the client handshake key), fed in k+1
 * pieces. Returns the connection for checks (the caller frees it) and the
 * last result in *rc. */
static inline tls_conn *fuzz_mtls_run(const tls_config *cfg, const tls_buf *ch,
				      const uint8_t *data, size_t size, size_t *cut, size_t k,
				      int *rc)
{
	tls_conn *c = tls_conn_new(cfg);
	if (!c)
		fuzz_die("tls_conn_new");
	fuzz_fix_server(c);
	struct fuzz_secret key = { .dir = TLS_DIR_RX, .epoch = TLS_EPOCH_HANDSHAKE };
	const tls_callbacks cb = { .secret = fuzz_on_secret };
	tls_conn_set_callbacks(c, &cb, &key);
	tls_buf out, stream;
	tls_buf_init(&out, 0);
	tls_buf_init(&stream, 0);
	size_t n = ch->len;
	*rc = tls_conn_handshake(c, &out, ch->base, &n);
	tls_conn_set_callbacks(c, NULL, NULL);
	fuzz_check(*rc == TLS_WANT_INPUT && n == ch->len && key.got,
		   "the fixed ClientHello was not answered");
	tls_traffic_key tk;
	if (tls_traffic_key_init(&tk, key.cs, key.secret) == 0) {
		fuzz_chunks(&tk, data, size, &stream);
		tls_traffic_key_clear(&tk);
	}
	OPENSSL_cleanse(key.secret, sizeof(key.secret));
	fuzz_recut(cut, k, stream.len);
	*rc = fuzz_feed(c, stream.base, stream.len, cut, k);
	tls_buf_free(&out);
	tls_buf_free(&stream);
	return c;
}

#endif
