/* Session tickets: STEK ring and rotation, key files, the contents codec,
 * sealing and opening (every failure a full handshake), ticket ages and
 * freshness (RFC 8446 §4.6.1, §4.2.11, §8.3), AEAD record limits (§5.5),
 * and handshakectl ticket-keys when it was built. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "test.h"
#include "testkeys.h"
#include "tls/aead_limits.h"
#include "tls/stek.h"
#include "tls/ticket.h"
#include "tls/test_hooks.h"

#define NOW_S UINT64_C(1700000000)
#define NOW_MS (NOW_S * 1000)

static char tmpdir[PATH_MAX];

static void tmp_path(char *out, size_t n, const char *name)
{
	if ((size_t)snprintf(out, n, "%s/%s", tmpdir, name) >= n)
		abort(); /* TMPDIR too long for this test */
}

/* Copies tmpl into out with every "ID" and "KEY" replaced. */
static void expand(char *out, size_t n, const char *tmpl, const char *id, const char *key)
{
	size_t o = 0;
	while (*tmpl && o + 1 < n) {
		const char *rep = NULL;
		if (strncmp(tmpl, "ID", 2) == 0)
			rep = id, tmpl += 2;
		else if (strncmp(tmpl, "KEY", 3) == 0)
			rep = key, tmpl += 3;
		if (rep) {
			size_t l = strlen(rep);
			if (o + l >= n)
				abort();
			memcpy(out + o, rep, l);
			o += l;
		} else {
			out[o++] = *tmpl++;
		}
	}
	out[o] = '\0';
}

static bool dir_has_tmp_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;
	while (d && (e = readdir(d)))
		found |= strstr(e->d_name, ".tmp.") != NULL;
	if (d)
		closedir(d);
	return found;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror(path);
		abort();
	}
	fchmod(fd, mode);
	close(fd);
}

/* A ticket as a server would make it after a full handshake. */
static void sample_ticket(tls_ticket *t, uint16_t suite)
{
	const tls_cipher *cs = tls_cipher_find(suite);
	uint8_t rms[TLS_MAX_HASH], nonce[8] = { 0, 0, 0, 0, 0, 0, 0, 3 };
	memset(rms, 0x42, sizeof(rms));
	if (tls_ticket_init(t, cs, rms, nonce, sizeof(nonce), NOW_MS, 86400) != 0)
		abort();
	tls_ticket_set_sni(t, "example.test");
	tls_ticket_set_alpn(t, (const uint8_t *)"h2", 2);
	t->max_early_data = 16384;
}

static bool ticket_equal(const tls_ticket *a, const tls_ticket *b)
{
	return a->version == b->version && a->cipher == b->cipher && a->psk_len == b->psk_len &&
	       memcmp(a->psk, b->psk, a->psk_len) == 0 && a->created_ms == b->created_ms &&
	       a->lifetime_s == b->lifetime_s && a->age_add == b->age_add &&
	       a->max_early_data == b->max_early_data && a->ke_modes == b->ke_modes &&
	       a->sni_len == b->sni_len && strcmp(a->sni, b->sni) == 0 &&
	       a->alpn_len == b->alpn_len && memcmp(a->alpn, b->alpn, a->alpn_len) == 0 &&
	       a->has_client == b->has_client &&
	       memcmp(a->client_cert_sha256, b->client_cert_sha256, 32) == 0 &&
	       a->client_not_after == b->client_not_after &&
	       a->client_subject_len == b->client_subject_len &&
	       memcmp(a->client_subject, b->client_subject, a->client_subject_len) == 0;
}

/* ---- RFC 8448 §3: resumption PSK from the resumption master secret ---- */
static void psk_tests(void)
{
	uint8_t rms[32], want[32], got[32], nonce[2] = { 0, 0 };
	test_unhex("7d f2 35 f2 03 1d 2a 05 12 87 d0 2b 02 41 b0 bf"
		   "da f8 6c c8 56 23 1f 2d 5a ba 46 c4 34 ec 19 6c", rms, sizeof(rms));
	test_unhex("4e cd 0e b6 ec 3b 4d 87 f5 d6 02 8f 92 2c a4 c5"
		   "85 1a 27 7f d4 13 11 c9 e6 2d 2c 94 92 e1 c4 f3", want, sizeof(want));
	const tls_cipher *cs = tls_cipher_find(TLS_AES_128_GCM_SHA256);
	test_ok(tls_ticket_psk(cs, rms, nonce, 2, got) == 0 && memcmp(got, want, 32) == 0,
		"resumption PSK matches RFC 8448 (ticket_nonce 0000)");
	tls_ticket t;
	test_ok(tls_ticket_init(&t, cs, rms, nonce, 2, NOW_MS, 30) == 0 &&
		memcmp(t.psk, want, 32) == 0 && t.psk_len == 32 && t.cipher == cs->id &&
		t.version == 0x0304 && t.created_ms == NOW_MS && t.lifetime_s == 30 &&
		t.ke_modes == TLS_TICKET_KE_BIT(TLS_PSK_DHE_KE) && t.sni_len == 0 &&
		!t.has_client, "tls_ticket_init fills the ticket, psk_dhe_ke only");
	test_ok(tls_ticket_init(&t, cs, rms, nonce, 2, NOW_MS, 10 * 86400) == 0 &&
		t.lifetime_s == TLS_TICKET_MAX_LIFETIME_S, "lifetime is clamped to 7 days");
	tls_ticket_clear(&t);
	test_ok(tls_ticket_psk(NULL, rms, nonce, 2, got) != 0, "no PSK without a suite");
}

/* ---- contents codec ---- */
static void codec_tests(void)
{
	tls_ticket t, u;
	tls_buf b;
	sample_ticket(&t, TLS_AES_256_GCM_SHA384);
	t.ke_modes |= TLS_TICKET_KE_BIT(TLS_PSK_KE);

	EVP_PKEY *key = testkey_new(TESTKEY_P256);
	X509 *cert = testcert_new(key, "client one", NULL, NULL, NULL, -60, 3600, false);
	test_ok(tls_ticket_set_client_cert(&t, cert) == 0 && t.has_client &&
		t.client_subject_len > 0 && t.client_not_after > (uint64_t)time(NULL) + 3500 &&
		t.client_not_after <= (uint64_t)time(NULL) + 3600,
		"client certificate recorded (hash, subject, notAfter)");
	uint8_t h[32];
	unsigned int hl = 0;
	X509_digest(cert, EVP_sha256(), h, &hl);
	test_ok(hl == 32 && tls_ct_equal(h, t.client_cert_sha256, 32), "hash is SHA-256 of the DER");
	X509_free(cert);
	EVP_PKEY_free(key);

	tls_buf_init(&b, 0);
	int rc = tls_ticket_encode(&t, &b);
	test_ok(rc == 0 && b.len > 100, "encode (%zu bytes)", b.len);
	test_ok(tls_ticket_decode(&u, b.base, b.len) == 0 && ticket_equal(&t, &u),
		"decode gives back every field");

	/* Strict decoding: every truncation and an extra byte fail. */
	size_t bad = 0;
	for (size_t n = 0; n < b.len; n++)
		bad += tls_ticket_decode(&u, b.base, n) != 0;
	test_ok(bad == b.len, "every truncation is malformed (%zu of %zu)", bad, b.len);
	tls_write_u8(&b, 0);
	test_ok(tls_ticket_decode(&u, b.base, b.len) != 0, "a trailing byte is malformed");
	b.len--;

	/* Field mutations; offsets follow the layout in ticket.h. */
	struct { size_t off; uint8_t val; const char *what; } muts[] = {
		{ 0, 2, "unknown format version" },
		{ 2, 0x03, "TLS version 0x0303" },
		{ 4, 0x04, "unknown cipher suite" },
		{ 5, 32, "PSK length not the suite's hash length" },
		{ 6 + 48 + 8, 0xff, "lifetime over 7 days" },
		{ 6 + 48 + 8 + 12, 0, "no key exchange mode" },
		{ 6 + 48 + 8 + 12, 4, "unknown key exchange mode" },
		{ 6 + 48 + 8 + 12 + 1, 200, "SNI length beyond the data" },
		{ 6 + 48 + 8 + 12 + 2 + 3, 0, "NUL inside the SNI" },
	};
	for (size_t i = 0; i < sizeof(muts) / sizeof(muts[0]); i++) {
		uint8_t save = b.base[muts[i].off];
		b.base[muts[i].off] = muts[i].val;
		test_ok(tls_ticket_decode(&u, b.base, b.len) != 0, "malformed: %s", muts[i].what);
		b.base[muts[i].off] = save;
	}
	test_ok(tls_ticket_decode(&u, b.base, b.len) == 0, "restored encoding decodes again");
	tls_buf_free(&b);

	/* has_client = 2 */
	tls_ticket v;
	sample_ticket(&v, TLS_AES_128_GCM_SHA256);
	tls_buf_init(&b, 0);
	tls_ticket_encode(&v, &b);
	b.base[b.len - 1] = 2;
	test_ok(tls_ticket_decode(&u, b.base, b.len) != 0, "malformed: has_client 2");
	tls_buf_free(&b);

	/* Encoding refuses what decoding would refuse. */
	tls_buf_init(&b, 0);
	v.psk_len = 48;
	test_ok(tls_ticket_encode(&v, &b) != 0, "encode refuses a PSK of the wrong length");
	v.psk_len = 32;
	v.lifetime_s = TLS_TICKET_MAX_LIFETIME_S + 1;
	test_ok(tls_ticket_encode(&v, &b) != 0, "encode refuses a lifetime over 7 days");
	tls_buf_free(&b);

	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	test_ok(tls_ticket_set_sni(&v, longname) != 0, "SNI over 255 bytes refused");
	test_ok(tls_ticket_set_alpn(&v, (const uint8_t *)longname, 256) != 0,
		"ALPN over 255 bytes refused");
	tls_ticket_clear(&t);
	tls_ticket_clear(&u);
	tls_ticket_clear(&v);
}

/* Seals arbitrary bytes under key k the way tls_ticket_seal does, for
 * tickets whose contents do not decode. */
static void seal_raw(const tls_stek *k, const uint8_t *plain, size_t n, tls_buf *out)
{
	uint8_t nonce[12], tag[16], ct[2048];
	int l = 0;
	RAND_bytes(nonce, sizeof(nonce));
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (!ctx || !EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, nonce) ||
	    !EVP_EncryptUpdate(ctx, NULL, &l, k->id, 16) ||
	    !EVP_EncryptUpdate(ctx, ct, &l, plain, (int)n) ||
	    !EVP_EncryptFinal_ex(ctx, ct + l, &l) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag))
		abort();
	EVP_CIPHER_CTX_free(ctx);
	tls_write_bytes(out, k->id, 16);
	tls_write_bytes(out, nonce, 12);
	tls_write_bytes(out, ct, n);
	tls_write_bytes(out, tag, 16);
}

static enum tls_ticket_result open_at(tls_stek_ring *ring, const tls_buf *b, uint64_t now_ms)
{
	tls_ticket t;
	enum tls_ticket_result r = tls_ticket_open(ring, b->base, b->len, now_ms, &t);
	tls_ticket_clear(&t);
	return r;
}

/* ---- seal / open ---- */
static void seal_tests(void)
{
	tls_stek_ring *ring = tls_stek_ring_new(2, 3600);
	tls_ticket t, u;
	tls_buf b;
	tls_buf_init(&b, 0);
	sample_ticket(&t, TLS_AES_128_GCM_SHA256);
	test_ok(tls_ticket_seal(ring, &t, &b) != 0 && b.len == 0, "an empty ring cannot seal");
	test_ok(tls_stek_ring_maybe_rotate(ring, NOW_S) == 1 && tls_stek_ring_count(ring) == 1,
		"first timer tick makes a key");
	int rc = tls_ticket_seal(ring, &t, &b);
	test_ok(rc == 0 && b.len > TLS_TICKET_OVERHEAD, "seal (%zu bytes)", b.len);
	test_ok(memcmp(b.base, tls_stek_ring_current(ring)->id, TLS_STEK_ID_LEN) == 0,
		"ticket starts with the current key id");
	test_ok(tls_ticket_open(ring, b.base, b.len, NOW_MS + 1000, &u) == TLS_TICKET_OK &&
		ticket_equal(&t, &u), "open gives back the contents");
	tls_buf b2;
	tls_buf_init(&b2, 0);
	tls_ticket_seal(ring, &t, &b2);
	test_ok(b2.len == b.len && memcmp(b.base + 16, b2.base + 16, b.len - 16) != 0,
		"two seals of the same contents differ (random nonce)");
	tls_buf_free(&b2);

	/* Tamper with every byte: the key id turns it into an unknown key,
	 * anything else fails authentication. */
	size_t unknown = 0, tampered = 0;
	for (size_t i = 0; i < b.len; i++) {
		b.base[i] ^= 0x01;
		enum tls_ticket_result r = open_at(ring, &b, NOW_MS);
		b.base[i] ^= 0x01;
		if (i < TLS_STEK_ID_LEN)
			unknown += r == TLS_TICKET_UNKNOWN_KEY;
		else
			tampered += r == TLS_TICKET_TAMPERED;
	}
	test_ok(unknown == TLS_STEK_ID_LEN, "a changed key id is an unknown key (%zu)", unknown);
	test_ok(tampered == b.len - TLS_STEK_ID_LEN,
		"a changed nonce, ciphertext or tag byte is tampered (%zu of %zu)", tampered,
		b.len - TLS_STEK_ID_LEN);
	test_ok(open_at(ring, &b, NOW_MS) == TLS_TICKET_OK, "the original still opens");
	b.len--;
	test_ok(open_at(ring, &b, NOW_MS) == TLS_TICKET_TAMPERED, "a truncated ticket is tampered");
	b.len++;
	tls_write_u8(&b, 0);
	test_ok(open_at(ring, &b, NOW_MS) == TLS_TICKET_TAMPERED, "an extended ticket is tampered");
	b.len--;
	{
		tls_buf s;
		tls_buf_init(&s, 0);
		tls_write_bytes(&s, b.base, TLS_TICKET_OVERHEAD);
		test_ok(open_at(ring, &s, NOW_MS) == TLS_TICKET_MALFORMED,
			"a ticket without contents is malformed");
		tls_write_zeros(&s, TLS_TICKET_MAX_SEALED);
		test_ok(open_at(ring, &s, NOW_MS) == TLS_TICKET_MALFORMED,
			"an oversized ticket is malformed");
		tls_buf_free(&s);
	}

	/* Another server's keys. */
	tls_stek_ring *other = tls_stek_ring_new(2, 3600);
	tls_stek_ring_rotate(other, NOW_S);
	test_ok(open_at(other, &b, NOW_MS) == TLS_TICKET_UNKNOWN_KEY, "a foreign key is unknown");

	/* Expiry: lifetime 86400 s. */
	test_ok(open_at(ring, &b, NOW_MS + 86400 * 1000ull) == TLS_TICKET_OK,
		"open exactly at the end of the lifetime");
	test_ok(open_at(ring, &b, NOW_MS + 86400 * 1000ull + 1) == TLS_TICKET_EXPIRED,
		"expired 1 ms after the lifetime");
	test_ok(open_at(ring, &b, NOW_MS - TLS_TICKET_MAX_FUTURE_MS) == TLS_TICKET_OK,
		"created slightly in the future (clock skew) is accepted");
	test_ok(open_at(ring, &b, NOW_MS - TLS_TICKET_MAX_FUTURE_MS - 1) == TLS_TICKET_EXPIRED,
		"created far in the future is refused");
	test_ok(tls_ticket_open(ring, b.base, b.len, NOW_MS + 86400 * 1000ull + 1, &u) ==
		TLS_TICKET_EXPIRED && u.psk_len == 0 && u.psk[0] == 0,
		"a refused ticket's contents are wiped");

	/* Client certificate expiry ends the ticket. */
	{
		EVP_PKEY *key = testkey_new(TESTKEY_ED25519);
		X509 *cert = testcert_new(key, "short-lived", NULL, NULL, NULL, -60, 120, false);
		uint64_t now = (uint64_t)time(NULL) * 1000;
		tls_ticket c;
		sample_ticket(&c, TLS_CHACHA20_POLY1305_SHA256);
		c.created_ms = now;
		tls_ticket_set_client_cert(&c, cert);
		tls_buf cb;
		tls_buf_init(&cb, 0);
		tls_ticket_seal(ring, &c, &cb);
		test_ok(open_at(ring, &cb, now + 1000) == TLS_TICKET_OK,
			"ticket with a client cert opens while the cert is valid");
		test_ok(open_at(ring, &cb, now + 200 * 1000) == TLS_TICKET_EXPIRED,
			"and expires with the certificate");
		tls_buf_free(&cb);
		tls_ticket_clear(&c);
		X509_free(cert);
		EVP_PKEY_free(key);
	}

	/* Authentic but undecodable contents. */
	{
		tls_buf raw, enc;
		tls_buf_init(&raw, 0);
		tls_buf_init(&enc, 0);
		tls_ticket_encode(&t, &enc);
		enc.base[0] = 9; /* format version */
		seal_raw(tls_stek_ring_current(ring), enc.base, enc.len, &raw);
		test_ok(open_at(ring, &raw, NOW_MS) == TLS_TICKET_MALFORMED,
			"authentic ticket with an unknown format is malformed");
		tls_buf_reset(&raw);
		enc.base[0] = TLS_TICKET_FORMAT;
		seal_raw(tls_stek_ring_current(ring), enc.base, enc.len, &raw);
		test_ok(open_at(ring, &raw, NOW_MS) == TLS_TICKET_OK,
			"the same contents with the right format open (the helper is sound)");
		tls_buf_reset(&raw);
		tls_write_u8(&enc, 0);
		seal_raw(tls_stek_ring_current(ring), enc.base, enc.len, &raw);
		test_ok(open_at(ring, &raw, NOW_MS) == TLS_TICKET_MALFORMED,
			"authentic ticket with trailing bytes is malformed");
		tls_buf_free(&raw);
		tls_buf_free(&enc);
	}

	/* The AAD binds the key id: a ticket sealed under the previous key
	 * relabelled with the current key id fails. */
	tls_stek_ring_rotate(ring, NOW_S + 10);
	/* b is sealed under what is now the previous key */
	memcpy(b.base, tls_stek_ring_current(ring)->id, TLS_STEK_ID_LEN);
	test_ok(open_at(ring, &b, NOW_MS) == TLS_TICKET_TAMPERED,
		"a ticket moved to another key id is tampered");
	memcpy(b.base, tls_stek_ring_key(ring, 1)->id, TLS_STEK_ID_LEN);
	test_ok(open_at(ring, &b, NOW_MS) == TLS_TICKET_OK, "and opens under its own id");

	/* Seal count limits. */
	tls_stek_ring_test_set_seals(ring, TLS_STEK_MAX_SEALS);
	tls_buf_reset(&b);
	test_ok(tls_ticket_seal(ring, &t, &b) != 0, "a key that sealed 2^32 tickets seals no more");
	tls_stek_ring_test_set_seals(ring, TLS_STEK_ROTATE_SEALS);
	test_ok(tls_stek_ring_maybe_rotate(ring, NOW_S + 11) == 1 &&
		tls_ticket_seal(ring, &t, &b) == 0, "2^31 seals trigger an early rotation");
	test_ok(tls_stek_ring_current(ring)->seals == 1, "seals are counted per key");

	tls_buf_free(&b);
	tls_ticket_clear(&t);
	tls_ticket_clear(&u);
	tls_stek_ring_free(other);
	tls_stek_ring_free(ring);
}

/* ---- rotation ---- */
/* Every open lands in one counter; decrypts count the AES-GCM work. */
static void stats_tests(void)
{
	tls_stek_ring *ring = tls_stek_ring_new(0, 0), *other = tls_stek_ring_new(0, 0);
	tls_stek_ring_rotate(ring, NOW_S);
	tls_stek_ring_rotate(other, NOW_S);
	tls_ticket t;
	sample_ticket(&t, TLS_AES_128_GCM_SHA256);
	tls_buf b, foreign, shorter;
	tls_buf_init(&b, 0);
	tls_buf_init(&foreign, 0);
	tls_buf_init(&shorter, 0);
	tls_ticket_seal(ring, &t, &b);
	tls_ticket_seal(other, &t, &foreign);
	tls_write_bytes(&shorter, b.base, TLS_TICKET_OVERHEAD);
	tls_stek_stats st;
	tls_stek_ring_stats(ring, &st);
	test_ok(!st.opened && !st.unknown_key && !st.tampered && !st.expired && !st.malformed &&
		!st.decrypts, "a new ring has zero stats");
	open_at(ring, &b, NOW_MS);
	open_at(ring, &b, NOW_MS);
	open_at(ring, &b, NOW_MS + 86400 * 1000ull + 1);
	open_at(ring, &foreign, NOW_MS);
	open_at(ring, &shorter, NOW_MS);
	b.base[b.len - 1] ^= 1;
	open_at(ring, &b, NOW_MS);
	tls_stek_ring_rotate(ring, NOW_S + 1);
	tls_stek_ring_stats(ring, &st);
	test_ok(st.opened == 2 && st.expired == 1 && st.unknown_key == 1 && st.malformed == 1 &&
		st.tampered == 1 && st.decrypts == 4,
		"stats: 2 opened, 1 expired, 1 unknown key, 1 malformed, 1 tampered, 4 decryptions; "
		"kept across a rotation");
	tls_buf_free(&b);
	tls_buf_free(&foreign);
	tls_buf_free(&shorter);
	tls_ticket_clear(&t);
	tls_stek_ring_free(ring);
	tls_stek_ring_free(other);
}

static void rotation_tests(void)
{
	tls_stek_ring *ring = tls_stek_ring_new(2, 3600);
	tls_ticket t;
	tls_buf b;
	tls_buf_init(&b, 0);
	sample_ticket(&t, TLS_AES_128_GCM_SHA256);
	tls_stek_ring_maybe_rotate(ring, NOW_S);
	tls_ticket_seal(ring, &t, &b);
	uint8_t first_id[TLS_STEK_ID_LEN];
	memcpy(first_id, tls_stek_ring_current(ring)->id, sizeof(first_id));

	test_ok(tls_stek_ring_maybe_rotate(ring, NOW_S + 3599) == 0, "no rotation before the period");
	test_ok(tls_stek_ring_maybe_rotate(ring, NOW_S - 100) == 0,
		"a clock that went backwards does not rotate");
	test_ok(tls_stek_ring_maybe_rotate(ring, NOW_S + 3600) == 1 &&
		tls_stek_ring_count(ring) == 2 &&
		memcmp(tls_stek_ring_key(ring, 1)->id, first_id, TLS_STEK_ID_LEN) == 0 &&
		tls_stek_ring_current(ring)->created == NOW_S + 3600,
		"rotation after the period: old key becomes previous");
	test_ok(open_at(ring, &b, NOW_MS) == TLS_TICKET_OK, "previous key still opens");
	tls_stek_ring_maybe_rotate(ring, NOW_S + 7200);
	test_ok(tls_stek_ring_count(ring) == 3 && open_at(ring, &b, NOW_MS) == TLS_TICKET_OK,
		"second previous key still opens (keep = 2)");
	tls_stek_ring_maybe_rotate(ring, NOW_S + 10800);
	test_ok(tls_stek_ring_count(ring) == 3 && tls_stek_ring_find(ring, first_id) == NULL,
		"third rotation drops the oldest key");
	test_ok(open_at(ring, &b, NOW_MS) == TLS_TICKET_UNKNOWN_KEY,
		"a key beyond the kept count no longer opens");
	bool distinct = true;
	for (size_t i = 0; i < 3; i++)
		for (size_t j = i + 1; j < 3; j++)
			distinct &= memcmp(tls_stek_ring_key(ring, i)->key,
					   tls_stek_ring_key(ring, j)->key, TLS_STEK_KEY_LEN) != 0 &&
				    memcmp(tls_stek_ring_key(ring, i)->id,
					   tls_stek_ring_key(ring, j)->id, TLS_STEK_ID_LEN) != 0;
	test_ok(distinct, "every rotation makes a new random key and id");
	tls_stek_ring_free(ring);

	ring = tls_stek_ring_new(0, 0);
	tls_stek_ring_maybe_rotate(ring, NOW_S);
	test_ok(tls_stek_ring_maybe_rotate(ring, NOW_S + 1000000) == 0,
		"period 0: no timer rotation");
	tls_stek_ring_rotate(ring, NOW_S + 1);
	test_ok(tls_stek_ring_count(ring) == 1, "keep 0: only the current key");
	tls_stek_ring_free(ring);
	test_ok(tls_stek_ring_new(TLS_STEK_MAX_KEYS, 1) == NULL, "keep beyond the maximum refused");

	tls_buf_free(&b);
	tls_ticket_clear(&t);
}

/* ---- key files ---- */
static void file_tests(void)
{
	char path[PATH_MAX + 32], path2[PATH_MAX + 32], err[512];
	struct stat st;
	tmp_path(path, sizeof(path), "keys");
	tmp_path(path2, sizeof(path2), "keys2");

	tls_stek_ring *a = tls_stek_ring_new(2, 3600);
	tls_stek_ring_rotate(a, NOW_S);
	tls_stek_ring_rotate(a, NOW_S + 60);
	tls_stek_ring_rotate(a, NOW_S + 120);
	test_ok(tls_stek_ring_save(a, path, TLS_STEK_SAVE_EXCL, err, sizeof(err)) == 0,
		"save a ring of 3 keys");
	memset(&st, 0, sizeof(st));
	int rc = stat(path, &st);
	test_ok(rc == 0 && (st.st_mode & 0777) == 0600, "key file has mode 0600 (%o)",
		(unsigned)(st.st_mode & 0777));
	err[0] = '\0';
	test_ok(tls_stek_ring_save(a, path, TLS_STEK_SAVE_EXCL, err, sizeof(err)) != 0 &&
		strstr(err, "already exists"), "exclusive save refuses an existing file: %s", err);
	test_ok(tls_stek_ring_save(a, path, 0, err, sizeof(err)) == 0, "replacing save works");

	tls_stek_ring *b = tls_stek_ring_new(2, 3600);
	test_ok(tls_stek_ring_load(b, path, err, sizeof(err)) == 0 && tls_stek_ring_count(b) == 3,
		"load it into another ring");
	bool same = true;
	for (size_t i = 0; i < 3; i++) {
		const tls_stek *x = tls_stek_ring_key(a, i), *y = tls_stek_ring_key(b, i);
		same &= memcmp(x->id, y->id, 16) == 0 && memcmp(x->key, y->key, 32) == 0 &&
			x->created == y->created;
	}
	test_ok(same, "keys, ids, order and creation times survive the round trip");
	test_ok(tls_stek_ring_from_file(b) && tls_stek_ring_maybe_rotate(b, NOW_S + 1000000) == 0,
		"a file-backed ring does not rotate on the timer");

	/* Another machine opens what this one sealed. */
	tls_ticket t;
	tls_buf tk;
	tls_buf_init(&tk, 0);
	sample_ticket(&t, TLS_AES_256_GCM_SHA384);
	tls_ticket_seal(a, &t, &tk);
	test_ok(open_at(b, &tk, NOW_MS) == TLS_TICKET_OK, "a ticket from one ring opens in the other");

	/* No temporary files left behind. */
	test_ok(!dir_has_tmp_files(tmpdir), "no temporary files left in the directory");

	/* World- or group-readable files are refused. */
	chmod(path, 0644);
	err[0] = '\0';
	tls_stek_ring *c = tls_stek_ring_new(2, 3600);
	tls_stek_ring_rotate(c, NOW_S);
	uint8_t cid[16];
	memcpy(cid, tls_stek_ring_current(c)->id, 16);
	test_ok(tls_stek_ring_load(c, path, err, sizeof(err)) != 0 && strstr(err, "0644") &&
		strstr(err, "chmod 600"), "mode 0644 refused: %s", err);
	chmod(path, 0640);
	test_ok(tls_stek_ring_load(c, path, err, sizeof(err)) != 0, "mode 0640 refused too");
	test_ok(tls_stek_ring_count(c) == 1 && memcmp(tls_stek_ring_current(c)->id, cid, 16) == 0 &&
		!tls_stek_ring_from_file(c), "the ring kept its keys");
	chmod(path, 0600);

	/* Broken files keep the old ring. */
	const char *id = "00112233445566778899aabbccddeeff";
	const char *key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
	char good[256], line[512];
	expand(good, sizeof(good), "v1 ID KEY 1700000000\n", id, key);
	struct { const char *text; const char *why; } broken[] = {
		{ "", "no keys" },
		{ "# only a comment\n\n", "no keys" },
		{ "v2 ID KEY 1\n", "unsupported key file version" },
		{ "x1 ID KEY 1\n", "not a key line" },
		{ "v1  ID KEY 1\n", "key id must be" },
		{ "v1 ID KEY\n", "expected a space after the key" },
		{ "v1 ID KEY 1 \n", "creation time" },
		{ "v1 ID KEY -1\n", "creation time" },
		{ "v1 ID KEY 99999999999999999999\n", "creation time" },
		{ "v1 ID KEY 1\r\n", "creation time" },
		{ "v1 ID KEY\t1\n", "expected a space after the key" },
		{ "v1 ID 0001 1\n", "key must be 64 hex digits" },
		{ "v1 00112233445566778899aabbccddeezz KEY 1\n", "key id must be" },
		{ "v1 ID KEY 1\nv1 ID KEY 2\n", "duplicate key id" },
		{ "v1 ID KEY 1\ngarbage\n", ":2: not a key line" },
	};
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		expand(line, sizeof(line), broken[i].text, id, key);
		write_file(path2, line, 0600);
		err[0] = '\0';
		int lrc = tls_stek_ring_load(c, path2, err, sizeof(err));
		test_ok(lrc != 0 && strstr(err, broken[i].why) && strstr(err, path2) &&
			tls_stek_ring_count(c) == 1 &&
			memcmp(tls_stek_ring_current(c)->id, cid, 16) == 0,
			"broken file %zu refused, ring kept: %s", i, err);
	}
	snprintf(line, sizeof(line), "v1 %s %064d 1\n", id, 0);
	write_file(path2, line, 0600);
	test_ok(tls_stek_ring_load(c, path2, err, sizeof(err)) != 0 && strstr(err, "all zeros"),
		"all-zero key refused: %s", err);
	{
		char many[8192] = "";
		for (int i = 0; i <= TLS_STEK_MAX_KEYS; i++) {
			char l[160];
			snprintf(l, sizeof(l), "v1 %030x%02x %s %d\n", 0, i, key, i);
			strcat(many, l);
		}
		write_file(path2, many, 0600);
		test_ok(tls_stek_ring_load(c, path2, err, sizeof(err)) != 0 &&
			strstr(err, "more than"), "too many keys refused: %s", err);
		memset(many, 'x', 300);
		many[0] = '#';
		many[300] = '\n';
		many[301] = '\0';
		write_file(path2, many, 0600);
		test_ok(tls_stek_ring_load(c, path2, err, sizeof(err)) != 0 &&
			strstr(err, ":1: line longer"), "overlong line refused: %s", err);
	}
	test_ok(tls_stek_ring_load(c, tmpdir, err, sizeof(err)) != 0 &&
		strstr(err, "not a regular file"), "a directory refused: %s", err);
	tmp_path(line, sizeof(line), "missing");
	test_ok(tls_stek_ring_load(c, line, err, sizeof(err)) != 0 &&
		strstr(err, "No such file"), "a missing file: %s", err);
	test_ok(tls_stek_ring_count(c) == 1 && memcmp(tls_stek_ring_current(c)->id, cid, 16) == 0,
		"after all that the ring still has its key");

	/* A valid hand-written file: comments, blank lines, no final newline. */
	snprintf(line, sizeof(line), "# fleet keys\n\n%sv1 ffeeddccbbaa99887766554433221100 %s 1700000001",
		 good, key);
	write_file(path2, line, 0600);
	test_ok(tls_stek_ring_load(c, path2, err, sizeof(err)) == 0 && tls_stek_ring_count(c) == 2 &&
		tls_stek_ring_current(c)->created == 1700000000 &&
		tls_stek_ring_key(c, 0)->id[0] == 0x00 && tls_stek_ring_key(c, 1)->id[0] == 0xff &&
		tls_stek_ring_key(c, 0)->key[31] == 0x1f,
		"hand-written file with comments loads, first key line is current");
	/* Rotating a loaded ring (what handshakectl does) keeps 1 + keep. */
	tls_stek_ring *d = tls_stek_ring_new(1, 0);
	tls_stek_ring_load(d, path, err, sizeof(err));
	tls_stek_ring_rotate(d, NOW_S + 500);
	test_ok(tls_stek_ring_count(d) == 2 &&
		memcmp(tls_stek_ring_key(d, 1)->id, tls_stek_ring_key(a, 0)->id, 16) == 0,
		"rotating a 3-key file ring with keep 1 leaves 2 keys, old current second");

	tls_buf_free(&tk);
	tls_ticket_clear(&t);
	tls_stek_ring_free(a);
	tls_stek_ring_free(b);
	tls_stek_ring_free(c);
	tls_stek_ring_free(d);
	unlink(path);
	unlink(path2);
}

/* ---- ticket age and freshness ---- */
static void age_tests(void)
{
	test_ok(tls_ticket_obfuscate_age(1000, 0x10) == 1000 + 0x10, "obfuscated age, no wrap");
	test_ok(tls_ticket_obfuscate_age(0x200, 0xffffff00) == 0x100, "obfuscated age wraps mod 2^32");
	test_ok(tls_ticket_client_age(0x100, 0xffffff00) == 0x200, "server undoes the wrap");
	test_ok(tls_ticket_obfuscate_age(UINT64_C(0x100000005), 1) == 6,
		"ages beyond 32 bits are taken mod 2^32");
	/* RFC 8448 §4: age_add fad6aac5 from the NewSessionTicket. */
	uint32_t add = 0xfad6aac5;
	test_ok(tls_ticket_client_age(tls_ticket_obfuscate_age(4000, add), add) == 4000,
		"round trip with RFC 8448's age_add");
	bool all = true;
	for (int i = 0; i < 1000; i++) {
		uint32_t a, age;
		RAND_bytes((uint8_t *)&a, sizeof(a));
		RAND_bytes((uint8_t *)&age, sizeof(age));
		all &= tls_ticket_client_age(tls_ticket_obfuscate_age(age, a), a) == age;
	}
	test_ok(all, "1000 random ages survive obfuscation");

	uint64_t created = NOW_MS;
	uint32_t w = TLS_TICKET_DEFAULT_FRESH_WINDOW_MS;
	test_ok(w == 10000, "default freshness window is 10 s");
	test_ok(tls_ticket_age_fresh(created, 5000, created + 5000 + 80, w),
		"arrival one round trip after the expected time is fresh");
	test_ok(tls_ticket_age_fresh(created, 5000, created + 5000 + w, w),
		"arrival at the end of the window is fresh");
	test_ok(!tls_ticket_age_fresh(created, 5000, created + 5000 + w + 1, w),
		"arrival after the window is not (a delayed replay)");
	test_ok(tls_ticket_age_fresh(created, 5000, created + 5000 - w, w),
		"arrival a window early is fresh (clock drift)");
	test_ok(!tls_ticket_age_fresh(created, 5000, created + 5000 - w - 1, w),
		"earlier than that is not");
	test_ok(!tls_ticket_age_fresh(created, 0xffffffffu, created + 5000, w),
		"a client age far ahead of the server's is not fresh");

	tls_ticket t;
	sample_ticket(&t, TLS_AES_128_GCM_SHA256);
	t.age_add = 0xfffff000; /* forces the wrap */
	uint32_t obf = tls_ticket_obfuscate_age(30000, t.age_add);
	test_ok(obf < t.age_add && tls_ticket_fresh(&t, obf, NOW_MS + 30000 + 150, w),
		"fresh through the obfuscated age, wrapped");
	test_ok(!tls_ticket_fresh(&t, obf, NOW_MS + 30000 + 150 + w, w),
		"and stale when it arrives a window late");
	tls_ticket_clear(&t);
}

/* ---- AEAD record limits (§5.5) ---- */
static void limit_tests(void)
{
	const uint16_t gcm[] = { TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 };
	for (size_t i = 0; i < 2; i++) {
		uint16_t c = gcm[i];
		test_ok(tls_aead_record_limit(c) == 23726566 && tls_aead_update_threshold(c) == 8388608,
			"%04x: limit floor(2^24.5), update at 2^23", c);
		test_ok(!tls_key_needs_update(c, 8388607) && tls_key_needs_update(c, 8388608) &&
			tls_key_state(c, 8388608) == TLS_KEY_UPDATE_DUE &&
			tls_key_state(c, 23726565) == TLS_KEY_UPDATE_DUE &&
			tls_key_state(c, 23726566) == TLS_KEY_EXHAUSTED,
			"%04x: ok, update due, exhausted at the boundaries", c);
	}
	uint16_t cc = TLS_CHACHA20_POLY1305_SHA256;
	test_ok(tls_key_state(cc, 23726566) == TLS_KEY_OK &&
		tls_key_state(cc, (UINT64_C(1) << 62) - 1) == TLS_KEY_OK &&
		tls_key_state(cc, UINT64_C(1) << 62) == TLS_KEY_UPDATE_DUE &&
		tls_key_state(cc, UINT64_MAX) == TLS_KEY_EXHAUSTED,
		"ChaCha20-Poly1305: update at 2^62, exhausted before the sequence number wraps");
	uint16_t ccm = TLS_AES_128_CCM_SHA256;
	test_ok(tls_aead_record_limit(ccm) == 11863283 && tls_aead_update_threshold(ccm) == 4194304 &&
		tls_key_state(ccm, 4194303) == TLS_KEY_OK &&
		tls_key_state(ccm, 4194304) == TLS_KEY_UPDATE_DUE &&
		tls_key_state(ccm, 11863283) == TLS_KEY_EXHAUSTED,
		"AES-128-CCM: limit floor(2^23.5), update at 2^22");
	test_ok(tls_key_state(0x1305, 0) == TLS_KEY_EXHAUSTED && tls_key_needs_update(0x1305, 0) &&
		tls_aead_record_limit(0x1305) == 0, "an unknown suite (CCM_8) fails closed");

	tls_key_usage u;
	tls_key_usage_init(&u, TLS_AES_128_GCM_SHA256);
	enum tls_key_state s = TLS_KEY_OK;
	uint64_t sends = 0;
	while (s == TLS_KEY_OK) {
		s = tls_key_usage_add(&u, tls_records_for_send(1 << 20)); /* 1 MiB sends */
		sends++;
	}
	test_ok(s == TLS_KEY_UPDATE_DUE && u.records == 8388608 && sends == 131072,
		"1 MiB sends reach the AES-GCM update after 128 GiB (%llu sends)",
		(unsigned long long)sends);
	test_ok(tls_key_usage_add(&u, UINT64_MAX) == TLS_KEY_EXHAUSTED && u.records == UINT64_MAX,
		"the counter saturates");
	test_ok(tls_records_for_send(0) == 0 && tls_records_for_send(1) == 1 &&
		tls_records_for_send(16384) == 1 && tls_records_for_send(16385) == 2,
		"records per send round up at 16384 bytes");
}

/* ---- handshakectl, if the build made it (BUILD/handshakectl) ---- */
static int run_ctl(const char *ctl, char *out, size_t outlen, const char *const argv[])
{
	int pfd[2];
	if (pipe(pfd) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		execv(ctl, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t got = 0;
	ssize_t r;
	while ((r = read(pfd[0], out + got, outlen - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(pfd[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void ctl_tests(void)
{
	char exe[PATH_MAX], ctl[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		test_skip("no /proc/self/exe", "handshakectl");
		return;
	}
	exe[n] = '\0';
	/* BUILD/tests/unit/tickets -> BUILD/handshakectl */
	for (int i = 0; i < 3; i++) {
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
	}
	snprintf(ctl, sizeof(ctl), "%s/handshakectl", exe);
	if (access(ctl, X_OK) != 0) {
		test_skip("handshakectl not built", "handshakectl ticket-keys");
		return;
	}
	char path[PATH_MAX + 32], out[8192], err[512] = "";
	tmp_path(path, sizeof(path), "ctl-keys");
	unlink(path);

	const char *const new3[] = { ctl, "ticket-keys", "new", path, "--count", "3", NULL };
	test_ok(run_ctl(ctl, out, sizeof(out), new3) == 0, "handshakectl ticket-keys new --count 3");
	tls_stek_ring *r = tls_stek_ring_new(TLS_STEK_MAX_KEYS - 1, 0);
	test_ok(tls_stek_ring_load(r, path, err, sizeof(err)) == 0 && tls_stek_ring_count(r) == 3,
		"the library loads what it wrote (%s)", err);
	struct stat st;
	test_ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "written with mode 0600");
	test_ok(run_ctl(ctl, out, sizeof(out), new3) != 0 && strstr(out, "exists"),
		"new refuses to overwrite without --force");

	const char *const show[] = { ctl, "ticket-keys", "show", path, NULL };
	char idhex[33];
	for (int i = 0; i < 16; i++)
		snprintf(idhex + 2 * i, 3, "%02x", tls_stek_ring_current(r)->id[i]);
	char keyhex[65];
	for (int i = 0; i < 32; i++)
		snprintf(keyhex + 2 * i, 3, "%02x", tls_stek_ring_current(r)->key[i]);
	test_ok(run_ctl(ctl, out, sizeof(out), show) == 0 && strstr(out, idhex) &&
		strstr(out, "current") && !strstr(out, keyhex), "show prints ids, never keys");

	const char *const rot[] = { ctl, "ticket-keys", "rotate", path, "--keep", "1", NULL };
	test_ok(run_ctl(ctl, out, sizeof(out), rot) == 0, "rotate --keep 1");
	tls_stek_ring *r2 = tls_stek_ring_new(TLS_STEK_MAX_KEYS - 1, 0);
	test_ok(tls_stek_ring_load(r2, path, err, sizeof(err)) == 0 && tls_stek_ring_count(r2) == 2 &&
		memcmp(tls_stek_ring_key(r2, 1)->id, tls_stek_ring_current(r)->id, 16) == 0,
		"new current key first, old current second, the rest dropped");

	chmod(path, 0644);
	test_ok(run_ctl(ctl, out, sizeof(out), show) != 0 && strstr(out, "chmod 600"),
		"show refuses a readable key file");
	const char *const bad[] = { ctl, "ticket-keys", "frobnicate", path, NULL };
	test_ok(run_ctl(ctl, out, sizeof(out), bad) == 2 && strstr(out, "usage"),
		"unknown command: usage and exit 2");
	tls_stek_ring_free(r);
	tls_stek_ring_free(r2);
	unlink(path);
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/tickets-test-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	psk_tests();
	codec_tests();
	seal_tests();
	stats_tests();
	rotation_tests();
	file_tests();
	age_tests();
	limit_tests();
	ctl_tests();
	rmdir(tmpdir);
	return test_done();
}
