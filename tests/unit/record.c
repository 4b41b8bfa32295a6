/* Record protection: RFC 8448 §3 records byte for byte, negatives, and
 * round trips for every suite. */
#include <string.h>

#include <openssl/rand.h>

#include "../vectors/rfc8448_crypto.h"
#include "test.h"
#include "tls/crypto.h"

#define CT_ALERT 21
#define CT_HANDSHAKE 22
#define CT_APPDATA 23

static uint8_t s_hs[32], c_hs[32], s_ap[32], c_ap[32];

/* RFC 8448 §3 traffic secrets, re-derived through the key schedule so this
 * test stands on its own. */
static void secrets(void)
{
	uint8_t dhe[32], h[32];
	test_unhex(RFC8448_DHE, dhe, sizeof(dhe));
	tls_keysched ks;
	tls_keysched_init(&ks, EVP_sha256(), NULL, 0);
	tls_keysched_handshake(&ks, dhe, 32);
	test_unhex(RFC8448_HS_HASH, h, sizeof(h));
	tls_keysched_derive(&ks, "s hs traffic", h, s_hs);
	tls_keysched_derive(&ks, "c hs traffic", h, c_hs);
	tls_keysched_master(&ks);
	test_unhex(RFC8448_AP_HASH, h, sizeof(h));
	tls_keysched_derive(&ks, "s ap traffic", h, s_ap);
	tls_keysched_derive(&ks, "c ap traffic", h, c_ap);
	tls_keysched_clear(&ks);
}

static bool seal_matches(tls_traffic_key *k, uint8_t type, const char *payload_hex,
			 const char *record_hex)
{
	static uint8_t payload[2048], want[2048];
	size_t plen = test_unhex(payload_hex, payload, sizeof(payload));
	size_t wlen = test_unhex(record_hex, want, sizeof(want));
	tls_buf out;
	tls_buf_init(&out, 0);
	bool ok = tls_record_seal(k, type, payload, plen, 0, &out) == 0 && !out.err &&
		  out.len == wlen && memcmp(out.base, want, wlen) == 0;
	if (!ok && out.len)
		test_dump("sealed", out.base, out.len);
	tls_buf_free(&out);
	return ok;
}

static bool open_matches(tls_traffic_key *k, uint8_t type, const char *payload_hex,
			 const char *record_hex)
{
	static uint8_t payload[2048], rec[2048];
	size_t plen = test_unhex(payload_hex, payload, sizeof(payload));
	size_t rlen = test_unhex(record_hex, rec, sizeof(rec));
	uint8_t got_type = 0, *data = NULL;
	size_t dlen = 0;
	int rc = tls_record_open(k, rec, rlen, &got_type, &data, &dlen);
	return rc == 0 && got_type == type && dlen == plen && data == rec + 5 &&
	       memcmp(data, payload, plen) == 0;
}

static void rfc8448_records(void)
{
	const tls_cipher *cs = tls_cipher_find(TLS_AES_128_GCM_SHA256);
	tls_traffic_key tx, rx;

	test_ok(tls_traffic_key_init(&tx, cs, s_hs) == 0 && tx.seq == 0 && tx.ctx,
		"server handshake key set up");
	test_ok(seal_matches(&tx, CT_HANDSHAKE, RFC8448_S_HS_PAYLOAD, RFC8448_S_HS_RECORD),
		"server EncryptedExtensions..Finished record sealed byte for byte");
	test_ok(tx.seq == 1, "sequence number advanced");
	tls_traffic_key_clear(&tx);
	test_ok(tx.ctx == NULL && tx.cs == NULL && tx.key[0] == 0, "cleared key wiped");

	test_ok(tls_traffic_key_init(&rx, cs, s_hs) == 0 &&
		open_matches(&rx, CT_HANDSHAKE, RFC8448_S_HS_PAYLOAD, RFC8448_S_HS_RECORD),
		"client opens the server's handshake record");
	tls_traffic_key_clear(&rx);

	tls_traffic_key_init(&rx, cs, c_hs);
	test_ok(open_matches(&rx, CT_HANDSHAKE, RFC8448_C_FINISHED_MSG, RFC8448_C_HS_RECORD),
		"server opens the client's Finished record");
	tls_traffic_key_clear(&rx);
	tls_traffic_key_init(&tx, cs, c_hs);
	test_ok(seal_matches(&tx, CT_HANDSHAKE, RFC8448_C_FINISHED_MSG, RFC8448_C_HS_RECORD),
		"client Finished record sealed byte for byte");
	tls_traffic_key_clear(&tx);

	/* Server application key: NewSessionTicket (seq 0), data (1), alert (2). */
	tls_traffic_key_init(&tx, cs, s_ap);
	tls_traffic_key_init(&rx, cs, s_ap);
	test_ok(seal_matches(&tx, CT_HANDSHAKE, "04 00 00 c9 00 00 00 1e fa d6 aa c5 02 00 00 00 b2 2c 03 5d 82 93 59 ee 5f f7 af 4e c9 00 00 00 00 26 2a 64 94 dc 48 6d 2c 8a 34 cb 33 fa 90 bf 1b 00 70 ad 3c 49 88 83 c9 36 7c 09 a2 be 78 5a bc 55 cd 22 60 97 a3 a9 82 11 72 83 f8 2a 03 a1 43 ef d3 ff 5d d3 6d 64 e8 61 be 7f d6 1d 28 27 db 27 9c ce 14 50 77 d4 54 a3 66 4d 4e 6d a4 d2 9e e0 37 25 a6 a4 da fc d0 fc 67 d2 ae a7 05 29 51 3e 3d a2 67 7f a5 90 6c 5b 3f 7d 8f 92 f2 28 bd a4 0d da 72 14 70 f9 fb f2 97 b5 ae a6 17 64 6f ac 5c 03 27 2e 97 07 27 c6 21 a7 91 41 ef 5f 7d e6 50 5e 5b fb c3 88 e9 33 43 69 40 93 93 4a e4 d3 57 00 08 00 2a 00 04 00 00 04 00", RFC8448_NST_RECORD),
		"NewSessionTicket record (server app key, seq 0)");
	test_ok(seal_matches(&tx, CT_APPDATA, RFC8448_APP_PAYLOAD, RFC8448_S_APP_RECORD),
		"server application data record (seq 1)");
	test_ok(seal_matches(&tx, CT_ALERT, "01 00", RFC8448_S_ALERT_RECORD),
		"server close_notify record (seq 2)");
	uint8_t skip[512];
	size_t n = test_unhex(RFC8448_NST_RECORD, skip, sizeof(skip));
	uint8_t t;
	uint8_t *d;
	size_t dl;
	test_ok(tls_record_open(&rx, skip, n, &t, &d, &dl) == 0 && t == CT_HANDSHAKE && dl == 205,
		"client opens NewSessionTicket");
	test_ok(open_matches(&rx, CT_APPDATA, RFC8448_APP_PAYLOAD, RFC8448_S_APP_RECORD),
		"client opens server application data");
	test_ok(open_matches(&rx, CT_ALERT, "01 00", RFC8448_S_ALERT_RECORD),
		"client opens server close_notify");
	tls_traffic_key_clear(&tx);
	tls_traffic_key_clear(&rx);

	tls_traffic_key_init(&tx, cs, c_ap);
	tls_traffic_key_init(&rx, cs, c_ap);
	test_ok(seal_matches(&tx, CT_APPDATA, RFC8448_APP_PAYLOAD, RFC8448_C_APP_RECORD) &&
		seal_matches(&tx, CT_ALERT, "01 00", RFC8448_C_ALERT_RECORD),
		"client application data and close_notify records");
	test_ok(open_matches(&rx, CT_APPDATA, RFC8448_APP_PAYLOAD, RFC8448_C_APP_RECORD) &&
		open_matches(&rx, CT_ALERT, "01 00", RFC8448_C_ALERT_RECORD),
		"server opens the client's application data and close_notify");
	tls_traffic_key_clear(&tx);
	tls_traffic_key_clear(&rx);
}

static void negatives(void)
{
	const tls_cipher *cs = tls_cipher_find(TLS_AES_128_GCM_SHA256);
	tls_traffic_key rx;
	uint8_t rec[512], t, *d;
	size_t n, dl;

	/* A flipped bit anywhere (header, body, tag) fails authentication. */
	static const size_t pos[] = { 1, 2, 10, 40, 57 };
	for (size_t i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
		tls_traffic_key_init(&rx, cs, c_hs);
		n = test_unhex(RFC8448_C_HS_RECORD, rec, sizeof(rec));
		rec[pos[i]] ^= 0x04;
		test_ok(tls_record_open(&rx, rec, n, &t, &d, &dl) == -1 && rx.seq == 0,
			"flipped bit at byte %zu -> bad_record_mac, seq unchanged", pos[i]);
		tls_traffic_key_clear(&rx);
	}
	/* Wrong sequence number (the record was sealed at seq 0). */
	tls_traffic_key_init(&rx, cs, c_hs);
	rx.seq = 1;
	n = test_unhex(RFC8448_C_HS_RECORD, rec, sizeof(rec));
	test_ok(tls_record_open(&rx, rec, n, &t, &d, &dl) == -1, "wrong sequence number -> -1");
	tls_traffic_key_clear(&rx);
	/* Wrong key. */
	tls_traffic_key_init(&rx, cs, s_hs);
	n = test_unhex(RFC8448_C_HS_RECORD, rec, sizeof(rec));
	test_ok(tls_record_open(&rx, rec, n, &t, &d, &dl) == -1, "wrong key -> -1");
	/* Header length disagreeing with the record length. */
	n = test_unhex(RFC8448_C_HS_RECORD, rec, sizeof(rec));
	test_ok(tls_record_open(&rx, rec, n - 1, &t, &d, &dl) == -1, "truncated record -> -1");
	test_ok(tls_record_open(&rx, rec, 4, &t, &d, &dl) == -1, "short header -> -1");
	rec[0] = CT_HANDSHAKE;
	test_ok(tls_record_open(&rx, rec, n, &t, &d, &dl) == -2,
		"outer type not application_data -> unexpected_message");
	uint8_t tiny[5 + 16] = { 23, 3, 3, 0, 16 };
	test_ok(tls_record_open(&rx, tiny, sizeof(tiny), &t, &d, &dl) == -1,
		"record too short for a content type -> -1");
	tls_traffic_key_clear(&rx);

	/* Inner plaintext of only zeros; padding removal. */
	tls_traffic_key tx;
	uint8_t key[16], iv[12];
	RAND_bytes(key, sizeof(key));
	tls_traffic_key_init(&tx, cs, s_ap);
	tls_traffic_key_init(&rx, cs, s_ap);
	tls_buf out;
	tls_buf_init(&out, 0);
	test_ok(tls_record_seal(&tx, 0, (const uint8_t *)"x", 1, 0, &out) != 0,
		"sealing content type 0 refused");
	/* The API cannot seal an all-zero inner plaintext, so build one with the
	 * raw AEAD under the same key and nonce (seq 0). */
	uint8_t zeros[20] = { 0 };
	uint8_t nonce[12];
	memcpy(key, tx.key, 16);
	memcpy(iv, tx.iv, 12);
	memcpy(nonce, iv, 12); /* seq 0 */
	uint8_t zrec[5 + 20 + 16] = { 23, 3, 3, 0, 36 };
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l = 0;
	EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, key, nonce);
	EVP_EncryptUpdate(c, NULL, &l, zrec, 5);
	EVP_EncryptUpdate(c, zrec + 5, &l, zeros, 20);
	EVP_EncryptFinal_ex(c, zrec + 25, &l);
	EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, zrec + 25);
	EVP_CIPHER_CTX_free(c);
	test_ok(tls_record_open(&rx, zrec, sizeof(zrec), &t, &d, &dl) == -2,
		"inner plaintext of only zeros -> unexpected_message");

	tls_traffic_key_clear(&rx);
	tls_traffic_key_init(&rx, cs, s_ap);
	tls_buf_reset(&out);
	test_ok(tls_record_seal(&tx, CT_APPDATA, (const uint8_t *)"hello", 5, 100, &out) == 0 &&
		out.len == 5 + 5 + 1 + 100 + 16, "sealing with 100 bytes of padding");
	test_ok(tls_record_open(&rx, out.base, out.len, &t, &d, &dl) == 0 && t == CT_APPDATA &&
		dl == 5 && memcmp(d, "hello", 5) == 0, "padding stripped on open");
	tls_buf_reset(&out);
	test_ok(tls_record_seal(&tx, CT_ALERT, NULL, 0, 7, &out) == 0 &&
		tls_record_open(&rx, out.base, out.len, &t, &d, &dl) == 0 && t == CT_ALERT && dl == 0,
		"empty content with padding keeps its type");

	/* Size limits. */
	static uint8_t big[TLS_MAX_PLAINTEXT + 300];
	tls_buf_reset(&out);
	test_ok(tls_record_seal(&tx, CT_APPDATA, big, TLS_MAX_PLAINTEXT + 1, 0, &out) != 0 &&
		out.len == 0, "sealing 2^14+1 bytes refused");
	test_ok(tls_record_seal(&tx, CT_APPDATA, big, TLS_MAX_PLAINTEXT, 1, &out) != 0,
		"sealing 2^14 bytes plus padding refused (inner > 2^14+1)");
	test_ok(tls_record_seal(&tx, CT_APPDATA, big, TLS_MAX_PLAINTEXT, 0, &out) == 0 &&
		out.len == 5 + TLS_MAX_PLAINTEXT + 1 + 16, "sealing exactly 2^14 bytes");
	test_ok(tls_record_open(&rx, out.base, out.len, &t, &d, &dl) == 0 &&
		dl == TLS_MAX_PLAINTEXT, "opening a full-size record");

	/* Inner plaintext 2^14+2 (authentic, but too long) -> record_overflow. */
	uint64_t seq = rx.seq;
	uint8_t *orec = big;
	size_t inner = TLS_MAX_PLAINTEXT + 2;
	orec[0] = 23; orec[1] = 3; orec[2] = 3;
	orec[3] = (uint8_t)((inner + 16) >> 8); orec[4] = (uint8_t)(inner + 16);
	memset(orec + 5, 0, inner);
	orec[5 + inner - 1] = CT_APPDATA;
	for (int i = 0; i < 8; i++)
		nonce[11 - i] = (uint8_t)(iv[11 - i] ^ (uint8_t)(seq >> (8 * i)));
	memcpy(nonce, iv, 4);
	c = EVP_CIPHER_CTX_new();
	EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, key, nonce);
	EVP_EncryptUpdate(c, NULL, &l, orec, 5);
	EVP_EncryptUpdate(c, orec + 5, &l, orec + 5, (int)inner);
	EVP_EncryptFinal_ex(c, orec + 5 + inner, &l);
	EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, orec + 5 + inner);
	EVP_CIPHER_CTX_free(c);
	test_ok(tls_record_open(&rx, orec, 5 + inner + 16, &t, &d, &dl) == -3,
		"inner plaintext of 2^14+2 bytes -> record_overflow");
	/* Ciphertext longer than 2^14+256 -> record_overflow before decrypting. */
	size_t clen = TLS_MAX_CIPHERTEXT + 1;
	orec[3] = (uint8_t)(clen >> 8);
	orec[4] = (uint8_t)clen;
	test_ok(tls_record_open(&rx, orec, 5 + clen, &t, &d, &dl) == -3,
		"ciphertext of 2^14+257 bytes -> record_overflow");

	tls_buf_free(&out);
	tls_traffic_key_clear(&tx);
	tls_traffic_key_clear(&rx);
}

static void round_trips(void)
{
	static const uint16_t ids[] = { TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
					TLS_CHACHA20_POLY1305_SHA256, TLS_AES_128_CCM_SHA256 };
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		const tls_cipher *cs = tls_cipher_find(ids[i]);
		uint8_t secret[48], msg[3000], t, *d;
		size_t dl;
		RAND_bytes(secret, sizeof(secret));
		RAND_bytes(msg, sizeof(msg));
		tls_traffic_key tx, rx;
		tls_traffic_key_init(&tx, cs, secret);
		tls_traffic_key_init(&rx, cs, secret);
		tls_buf out;
		tls_buf_init(&out, 0);
		bool ok = true;
		for (size_t r = 0; r < 5 && ok; r++) {
			size_t start = out.len;
			ok = tls_record_seal(&tx, CT_APPDATA, msg, 100 * r + 1, r, &out) == 0 &&
			     tx.seq == r + 1;
			ok = ok && tls_record_open(&rx, out.base + start, out.len - start, &t, &d, &dl) == 0 &&
			     rx.seq == r + 1 && dl == 100 * r + 1 && memcmp(d, msg, dl) == 0;
		}
		test_ok(ok, "%s: 5 records round-trip, seq increments", cs->name);
		/* Replay of an old record fails (seq moved on). */
		tls_buf_reset(&out);
		tls_record_seal(&tx, CT_APPDATA, msg, 10, 0, &out);
		uint8_t copy[64];
		memcpy(copy, out.base, out.len);
		size_t clen = out.len;
		test_ok(tls_record_open(&rx, out.base, out.len, &t, &d, &dl) == 0 &&
			tls_record_open(&rx, copy, clen, &t, &d, &dl) == -1,
			"%s: replayed record rejected", cs->name);

		/* Sequence number never wraps. */
		tx.seq = UINT64_MAX - 1;
		rx.seq = UINT64_MAX - 1;
		tls_buf_reset(&out);
		test_ok(tls_record_seal(&tx, CT_APPDATA, msg, 10, 0, &out) == 0 &&
			tls_record_open(&rx, out.base, out.len, &t, &d, &dl) == 0 &&
			tx.seq == UINT64_MAX && rx.seq == UINT64_MAX, "%s: seq 2^64-2 usable", cs->name);
		tls_buf_reset(&out);
		test_ok(tls_record_seal(&tx, CT_APPDATA, msg, 10, 0, &out) != 0 && out.len == 0 &&
			tx.seq == UINT64_MAX, "%s: sealing refused instead of wrapping seq", cs->name);
		test_ok(tls_record_open(&rx, copy, clen, &t, &d, &dl) != 0 && rx.seq == UINT64_MAX,
			"%s: opening refused instead of wrapping seq", cs->name);
		tls_buf_free(&out);
		tls_traffic_key_clear(&tx);
		tls_traffic_key_clear(&rx);
	}
	tls_traffic_key k;
	uint8_t secret[32] = { 0 };
	test_ok(tls_traffic_key_init(&k, NULL, secret) != 0 && k.ctx == NULL,
		"traffic key without a cipher refused");
}

/* One record sealed with a fresh AES-128-CCM context the textbook way
 * (nonce and tag lengths, key, nonce, total length, header, body, tag). */
static bool ccm_reference(const uint8_t *secret, uint64_t seq, const uint8_t *inner, size_t len,
			  uint8_t *rec)
{
	const tls_cipher *cs = tls_cipher_find(TLS_AES_128_CCM_SHA256);
	uint8_t key[16], iv[TLS_IV_LEN];
	int outl = 0;
	if (tls_traffic_key_derive(cs, secret, key, iv))
		return false;
	for (int i = 0; i < 8; i++)
		iv[TLS_IV_LEN - 1 - i] ^= (uint8_t)(seq >> (8 * i));
	rec[0] = CT_APPDATA, rec[1] = 3, rec[2] = 3;
	rec[3] = (uint8_t)((len + 16) >> 8), rec[4] = (uint8_t)(len + 16);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	bool ok = c && EVP_EncryptInit_ex(c, EVP_aes_128_ccm(), NULL, NULL, NULL) &&
		  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, TLS_IV_LEN, NULL) > 0 &&
		  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, NULL) > 0 &&
		  EVP_EncryptInit_ex(c, NULL, NULL, key, iv) &&
		  EVP_EncryptUpdate(c, NULL, &outl, NULL, (int)len) &&
		  EVP_EncryptUpdate(c, NULL, &outl, rec, 5) &&
		  EVP_EncryptUpdate(c, rec + 5, &outl, inner, (int)len) &&
		  EVP_EncryptFinal_ex(c, rec + 5 + outl, &outl) &&
		  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, rec + 5 + len) > 0;
	EVP_CIPHER_CTX_free(c);
	return ok;
}

/* AES-128-CCM through every way a key reaches its context: fresh, lazy,
 * re-keyed in place (the context keeps the nonce and tag lengths), after
 * another AEAD; and a record that fails to authenticate does not upset the
 * next one (0-RTT trial decryption). */
static void ccm_paths(void)
{
	const tls_cipher *ccm = tls_cipher_find(TLS_AES_128_CCM_SHA256);
	const tls_cipher *gcm = tls_cipher_find(TLS_AES_128_GCM_SHA256);
	uint8_t s1[32], s2[32], msg[300], inner[301], want[5 + 301 + 16], t, *d;
	size_t dl;
	tls_buf out;
	tls_traffic_key tx, rx;
	RAND_bytes(s1, sizeof(s1));
	RAND_bytes(s2, sizeof(s2));
	RAND_bytes(msg, sizeof(msg));
	memcpy(inner, msg, sizeof(msg));
	inner[300] = CT_APPDATA;
	tls_buf_init(&out, 0);

	test_ok(ccm && ccm->key_len == 16 && ccm->hash_len == 32 && ccm->ktls_cipher == 53 &&
		strcmp(ccm->name, "TLS_AES_128_CCM_SHA256") == 0,
		"TLS_AES_128_CCM_SHA256: AES-128, SHA-256, kTLS cipher 53");
	test_ok(!tls_cipher_find(TLS_AES_128_CCM_8_SHA256) &&
		tls_cipher_refusal(TLS_AES_128_CCM_8_SHA256) &&
		strstr(tls_cipher_refusal(TLS_AES_128_CCM_8_SHA256), "8-byte tag") &&
		!tls_cipher_refusal(TLS_AES_128_CCM_SHA256) && tls_cipher_refusal(0x00ff),
		"TLS_AES_128_CCM_8_SHA256 unknown, with a reason");

	tls_traffic_key_init(&tx, ccm, s1);
	bool ok = tls_record_seal(&tx, CT_APPDATA, msg, sizeof(msg), 0, &out) == 0 &&
		  tls_record_seal(&tx, CT_APPDATA, msg, sizeof(msg), 0, &out) == 0 &&
		  ccm_reference(s1, 1, inner, sizeof(inner), want) &&
		  out.len == 2 * sizeof(want) && memcmp(out.base + sizeof(want), want, sizeof(want)) == 0;
	test_ok(ok, "AES-128-CCM record (seq 1) equals a reference CCM computation");

	/* re-key in place (not lazy): same context, new key */
	tls_buf_reset(&out);
	ok = tls_traffic_key_set(&tx, ccm, s2, false) == 0 &&
	     tls_record_seal(&tx, CT_APPDATA, msg, sizeof(msg), 0, &out) == 0 &&
	     ccm_reference(s2, 0, inner, sizeof(inner), want) && out.len == sizeof(want) &&
	     memcmp(out.base, want, sizeof(want)) == 0;
	test_ok(ok, "AES-128-CCM re-keyed in place seals with the new key");

	/* lazy key, and a context that held GCM before */
	memset(&rx, 0, sizeof(rx));
	ok = tls_traffic_key_set(&rx, gcm, s1, false) == 0 && tls_traffic_key_set(&rx, ccm, s2, true) == 0 &&
	     !rx.keyed && tls_record_open(&rx, out.base, out.len, &t, &d, &dl) == 0 && rx.keyed &&
	     t == CT_APPDATA && dl == sizeof(msg) && memcmp(d, msg, dl) == 0;
	test_ok(ok, "AES-128-CCM lazy key on a context that held AES-GCM opens the record");

	/* a forged record, then the genuine one */
	tls_buf_reset(&out);
	tls_record_seal(&tx, CT_APPDATA, msg, 100, 0, &out);
	memcpy(want, out.base, out.len);
	want[10] ^= 1;
	ok = tls_record_open(&rx, want, out.len, &t, &d, &dl) == -1 && rx.seq == 1;
	memcpy(want, out.base, out.len);
	want[out.len - 1] ^= 1;
	ok = ok && tls_record_open(&rx, want, out.len, &t, &d, &dl) == -1 && rx.seq == 1 &&
	     tls_record_open(&rx, out.base, out.len, &t, &d, &dl) == 0 && rx.seq == 2 && dl == 100 &&
	     memcmp(d, msg, 100) == 0;
	test_ok(ok, "AES-128-CCM: tampered body and tag refused, then the genuine record opens");
	tls_buf_free(&out);
	tls_traffic_key_clear(&tx);
	tls_traffic_key_clear(&rx);
}

int main(void)
{
	secrets();
	rfc8448_records();
	negatives();
	round_trips();
	ccm_paths();
	return test_done();
}
