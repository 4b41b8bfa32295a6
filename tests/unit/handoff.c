/* The handoff protocol (lib/handoff.h): every message type round-trips
 * with every attribute; each malformation is refused with a reason;
 * unknown attributes are skipped; the builder refuses what the parser
 * would; one message and its fd cross a SOCK_SEQPACKET socketpair, and
 * extra or truncated fds are closed, not leaked. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handoff.h"
#include "test.h"

static const uint8_t types[] = {
	HANDOFF_ACCEPT, HANDOFF_CONNECT, HANDOFF_STORE_TICKET, HANDOFF_DONE,
	HANDOFF_CONFIRMED, HANDOFF_FAILED, HANDOFF_BUSY,
};

static uint8_t blob[3000], peer_id[32];

/* Every attribute with a value derived from the message type. */
static void put_all(tls_buf *b, uint8_t type)
{
	char name[64];
	snprintf(name, sizeof(name), "host-%u.example", type);
	handoff_put_str(b, HANDOFF_A_SERVER_NAME, name);
	handoff_put_str(b, HANDOFF_A_ALPN, "h2,http/1.1");
	handoff_put_bytes(b, HANDOFF_A_EARLY_DATA, blob, 1000);
	handoff_put_bytes(b, HANDOFF_A_POST, blob + 1, 300);
	handoff_put_u8(b, HANDOFF_A_RESUMED, 1);
	handoff_put_u8(b, HANDOFF_A_EARLY_STATE, HANDOFF_EARLY_ACCEPTED);
	handoff_put_u16(b, HANDOFF_A_CIPHER, 0x1301);
	handoff_put_u16(b, HANDOFF_A_GROUP, 0x001d);
	handoff_put_u16(b, HANDOFF_A_SIG_SCHEME, 0x0403);
	handoff_put_u32(b, HANDOFF_A_REASON, (uint32_t)HANDOFF_R_TIMEOUT + type);
	handoff_put_u8(b, HANDOFF_A_ALERT, 40);
	handoff_put_str(b, HANDOFF_A_TEXT, "handshake failure: no shared group");
	handoff_put_u8(b, HANDOFF_A_VERIFY, HANDOFF_VERIFY_PEER | HANDOFF_VERIFY_NAME);
	handoff_put_bytes(b, HANDOFF_A_TICKET, blob + 2, 200);
	handoff_put_bytes(b, HANDOFF_A_PEER_ID, peer_id, sizeof(peer_id));
	handoff_put_u8(b, HANDOFF_A_HRR, 0);
	handoff_put_u32(b, HANDOFF_A_TIMEOUT_MS, 0xfedcba98);
	handoff_put_u16(b, HANDOFF_A_PORT, 443);
	handoff_put_bytes(b, HANDOFF_A_NST, blob + 3, 0);
	handoff_put_u8(b, HANDOFF_A_KTLS, HANDOFF_KTLS_TX | HANDOFF_KTLS_RX);
}

static bool bytes_are(const struct handoff_msg *m, enum handoff_attr a, const uint8_t *want,
		      size_t n)
{
	size_t len = 99;
	const uint8_t *p = handoff_get_bytes(m, a, &len);
	return p && len == n && (n == 0 || memcmp(p, want, n) == 0);
}

static bool check_all(const struct handoff_msg *m, uint8_t type)
{
	char s[HANDOFF_MAX_STR + 1], name[64];
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	bool ok = true;
	snprintf(name, sizeof(name), "host-%u.example", type);
	ok &= m->present == ((1u << (HANDOFF_A_MAX + 1)) - 2);
	ok &= handoff_get_str(m, HANDOFF_A_SERVER_NAME, s, sizeof(s)) == 0 && !strcmp(s, name);
	ok &= handoff_get_str(m, HANDOFF_A_ALPN, s, sizeof(s)) == 0 && !strcmp(s, "h2,http/1.1");
	ok &= bytes_are(m, HANDOFF_A_EARLY_DATA, blob, 1000);
	ok &= bytes_are(m, HANDOFF_A_POST, blob + 1, 300);
	ok &= handoff_get_u8(m, HANDOFF_A_RESUMED, &u8) == 0 && u8 == 1;
	ok &= handoff_get_u8(m, HANDOFF_A_EARLY_STATE, &u8) == 0 && u8 == HANDOFF_EARLY_ACCEPTED;
	ok &= handoff_get_u16(m, HANDOFF_A_CIPHER, &u16) == 0 && u16 == 0x1301;
	ok &= handoff_get_u16(m, HANDOFF_A_GROUP, &u16) == 0 && u16 == 0x001d;
	ok &= handoff_get_u16(m, HANDOFF_A_SIG_SCHEME, &u16) == 0 && u16 == 0x0403;
	ok &= handoff_get_u32(m, HANDOFF_A_REASON, &u32) == 0 && u32 == (uint32_t)HANDOFF_R_TIMEOUT + type;
	ok &= handoff_get_u8(m, HANDOFF_A_ALERT, &u8) == 0 && u8 == 40;
	ok &= handoff_get_str(m, HANDOFF_A_TEXT, s, sizeof(s)) == 0 &&
	      !strcmp(s, "handshake failure: no shared group");
	ok &= handoff_get_u8(m, HANDOFF_A_VERIFY, &u8) == 0 && u8 == 3;
	ok &= bytes_are(m, HANDOFF_A_TICKET, blob + 2, 200);
	ok &= bytes_are(m, HANDOFF_A_PEER_ID, peer_id, sizeof(peer_id));
	ok &= handoff_get_u8(m, HANDOFF_A_HRR, &u8) == 0 && u8 == 0;
	ok &= handoff_get_u32(m, HANDOFF_A_TIMEOUT_MS, &u32) == 0 && u32 == 0xfedcba98;
	ok &= handoff_get_u16(m, HANDOFF_A_PORT, &u16) == 0 && u16 == 443;
	ok &= bytes_are(m, HANDOFF_A_NST, NULL, 0);
	ok &= handoff_get_u8(m, HANDOFF_A_KTLS, &u8) == 0 && u8 == 3;
	return ok;
}

static void roundtrip_tests(void)
{
	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(peer_id); i++)
		peer_id[i] = (uint8_t)(0xa0 + i);
	for (size_t i = 0; i < sizeof(types); i++) {
		tls_buf b;
		tls_buf_init(&b, 0);
		handoff_begin(&b, types[i], 0x01020304u * (uint32_t)(i + 1));
		put_all(&b, types[i]);
		int rc = handoff_end(&b);
		struct handoff_msg m;
		const char *why = NULL;
		bool ok = rc == 0 && !b.err &&
			  handoff_parse(b.base, b.len, &m, &why) == 0 && m.type == types[i] &&
			  m.id == 0x01020304u * (uint32_t)(i + 1) && check_all(&m, types[i]);
		test_ok(ok, "type 0x%02x: all %d attributes round-trip (%zu bytes)%s%s", types[i],
			HANDOFF_A_MAX, b.len, why ? ": " : "", why ? why : "");
		tls_buf_free(&b);
	}

	/* a message with no attributes, and the header bytes themselves */
	tls_buf b;
	tls_buf_init(&b, 0);
	handoff_begin(&b, HANDOFF_BUSY, 0xdeadbeef);
	struct handoff_msg m;
	const char *why = NULL;
	static const uint8_t busy[] = { 'H', 'O', 1, 0x84, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0 };
	test_ok(handoff_end(&b) == 0 && b.len == sizeof(busy) && !memcmp(b.base, busy, b.len) &&
		handoff_parse(b.base, b.len, &m, &why) == 0 && m.present == 0 &&
		m.type == HANDOFF_BUSY && m.id == 0xdeadbeef, "BUSY without attributes: exact bytes");

	/* the body length is patched, attributes are TLV big-endian */
	handoff_begin(&b, HANDOFF_FAILED, 7);
	handoff_put_u32(&b, HANDOFF_A_REASON, HANDOFF_R_DENIED);
	handoff_put_str(&b, HANDOFF_A_TEXT, "no");
	static const uint8_t failed[] = { 'H', 'O', 1, 0x83, 0, 0, 0, 7, 0, 0, 0, 14,
					  0, 10, 0, 4, 0, 0, 0, 3, 0, 12, 0, 2, 'n', 'o' };
	test_ok(handoff_end(&b) == 0 && b.len == sizeof(failed) && !memcmp(b.base, failed, b.len),
		"FAILED: exact bytes, body length patched");
	handoff_begin(&b, HANDOFF_ACCEPT, 8);
	test_ok(!b.err && b.len == HANDOFF_HEADER_LEN, "begin starts the buffer over");

	/* empty strings and bytes are values like any other */
	handoff_put_str(&b, HANDOFF_A_ALPN, "");
	handoff_put_bytes(&b, HANDOFF_A_EARLY_DATA, NULL, 0);
	char s[8] = "x";
	size_t len = 99;
	test_ok(handoff_end(&b) == 0 && handoff_parse(b.base, b.len, &m, &why) == 0 &&
		handoff_get_str(&m, HANDOFF_A_ALPN, s, sizeof(s)) == 0 && s[0] == '\0' &&
		handoff_get_bytes(&m, HANDOFF_A_EARLY_DATA, &len) != NULL && len == 0,
		"empty string and empty bytes are present, not absent");
	tls_buf_free(&b);
}

/* A raw message: header with the given fields, then body bytes. */
static void raw(tls_buf *b, const char *magic, uint8_t version, uint32_t body_len,
		const uint8_t *body, size_t n)
{
	tls_buf_reset(b);
	tls_write_bytes(b, magic, 2);
	tls_write_u8(b, version);
	tls_write_u8(b, HANDOFF_DONE);
	tls_write_u32(b, 42);
	tls_write_u32(b, body_len);
	tls_write_bytes(b, body, n);
}

static void expect_bad(const tls_buf *b, const char *want, const char *name)
{
	struct handoff_msg m;
	const char *why = NULL;
	int rc = handoff_parse(b->base, b->len, &m, &why);
	bool ok = rc == -1 && why && strstr(why, want) && m.present == 0;
	test_ok(ok, "%s refused: %s", name, why ? why : "(no reason)");
}

static void parse_negative_tests(void)
{
	tls_buf b;
	tls_buf_init(&b, 0);
	static const uint8_t cipher[] = { 0, 7, 0, 2, 0x13, 0x01 };

	raw(&b, "HO", 1, sizeof(cipher), cipher, sizeof(cipher));
	struct handoff_msg m;
	const char *why = NULL;
	test_ok(handoff_parse(b.base, b.len, &m, &why) == 0, "the raw builder's message parses");

	raw(&b, "HX", 1, sizeof(cipher), cipher, sizeof(cipher));
	expect_bad(&b, "magic", "bad magic");
	raw(&b, "HO", 2, sizeof(cipher), cipher, sizeof(cipher));
	expect_bad(&b, "version", "version 2");
	raw(&b, "HO", 1, sizeof(cipher) + 1, cipher, sizeof(cipher));
	expect_bad(&b, "body length", "body length one more than the datagram");
	raw(&b, "HO", 1, sizeof(cipher) - 1, cipher, sizeof(cipher));
	expect_bad(&b, "body length", "body length one less than the datagram");
	raw(&b, "HO", 1, 0, NULL, 0);
	test_ok(handoff_parse(b.base, b.len, &m, &why) == 0, "a bare 12-byte header parses");
	b.len = HANDOFF_HEADER_LEN - 1;
	expect_bad(&b, "12-byte header", "an 11-byte datagram");
	b.len = 0;
	expect_bad(&b, "12-byte header", "an empty datagram");

	static const uint8_t trunc_hdr[] = { 0, 7, 0, 2, 0x13, 0x01, 0, 8, 0 };
	raw(&b, "HO", 1, sizeof(trunc_hdr), trunc_hdr, sizeof(trunc_hdr));
	expect_bad(&b, "attribute header truncated", "a truncated attribute header");
	static const uint8_t trunc_val[] = { 0, 7, 0, 2, 0x13, 0x01, 0, 1, 0, 5, 'a', 'b' };
	raw(&b, "HO", 1, sizeof(trunc_val), trunc_val, sizeof(trunc_val));
	expect_bad(&b, "runs past the end", "a truncated attribute value");
	static const uint8_t trunc_unknown[] = { 0x7f, 0x00, 0, 5, 'a' };
	raw(&b, "HO", 1, sizeof(trunc_unknown), trunc_unknown, sizeof(trunc_unknown));
	expect_bad(&b, "runs past the end", "a truncated unknown attribute");

	static const uint8_t dup[] = { 0, 7, 0, 2, 0x13, 0x01, 0, 7, 0, 2, 0x13, 0x02 };
	raw(&b, "HO", 1, sizeof(dup), dup, sizeof(dup));
	expect_bad(&b, "CIPHER attribute appears twice", "a known attribute twice");

	/* each fixed-size format, one byte short and one byte long */
	static const struct {
		uint16_t type;
		uint16_t len;
		const char *want;
	} fixed[] = {
		{ HANDOFF_A_RESUMED, 0, "RESUMED attribute is not 1 byte" },
		{ HANDOFF_A_ALERT, 2, "ALERT attribute is not 1 byte" },
		{ HANDOFF_A_KTLS, 2, "KTLS attribute is not 1 byte" },
		{ HANDOFF_A_CIPHER, 1, "CIPHER attribute is not 2 bytes" },
		{ HANDOFF_A_PORT, 3, "PORT attribute is not 2 bytes" },
		{ HANDOFF_A_REASON, 3, "REASON attribute is not 4 bytes" },
		{ HANDOFF_A_TIMEOUT_MS, 5, "TIMEOUT_MS attribute is not 4 bytes" },
		{ HANDOFF_A_PEER_ID, 31, "PEER_ID attribute is not 32 bytes" },
		{ HANDOFF_A_PEER_ID, 33, "PEER_ID attribute is not 32 bytes" },
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		tls_buf body;
		tls_buf_init(&body, 0);
		tls_write_u16(&body, fixed[i].type);
		tls_write_u16(&body, fixed[i].len);
		tls_write_zeros(&body, fixed[i].len);
		raw(&b, "HO", 1, (uint32_t)body.len, body.base, body.len);
		char name[64];
		snprintf(name, sizeof(name), "attribute %u of %u bytes", fixed[i].type, fixed[i].len);
		expect_bad(&b, fixed[i].want, name);
		tls_buf_free(&body);
	}

	static const uint8_t nul[] = { 0, 1, 0, 5, 'a', 'b', 0, 'c', 'd' };
	raw(&b, "HO", 1, sizeof(nul), nul, sizeof(nul));
	expect_bad(&b, "SERVER_NAME attribute contains a NUL", "a string with a NUL byte");
	static const uint8_t nul_end[] = { 0, 12, 0, 1, 0 };
	raw(&b, "HO", 1, sizeof(nul_end), nul_end, sizeof(nul_end));
	expect_bad(&b, "TEXT attribute contains a NUL", "a string that is one NUL byte");

	tls_buf body;
	tls_buf_init(&body, 0);
	tls_write_u16(&body, HANDOFF_A_ALPN);
	tls_write_u16(&body, HANDOFF_MAX_STR + 1);
	for (int i = 0; i <= HANDOFF_MAX_STR; i++)
		tls_write_u8(&body, 'a');
	raw(&b, "HO", 1, (uint32_t)body.len, body.base, body.len);
	expect_bad(&b, "ALPN attribute is longer than 255", "a 256-byte string");
	tls_buf tmp;
	tls_buf_init(&tmp, 0);
	tls_write_u16(&tmp, HANDOFF_A_ALPN);
	tls_write_u16(&tmp, HANDOFF_MAX_STR);
	tls_write_bytes(&tmp, body.base + 4, HANDOFF_MAX_STR);
	raw(&b, "HO", 1, (uint32_t)tmp.len, tmp.base, tmp.len);
	char s[HANDOFF_MAX_STR + 1];
	test_ok(handoff_parse(b.base, b.len, &m, &why) == 0 &&
		handoff_get_str(&m, HANDOFF_A_ALPN, s, sizeof(s)) == 0 && strlen(s) == 255 &&
		handoff_get_str(&m, HANDOFF_A_ALPN, s, 255) == -1 && s[0] == '\0',
		"a 255-byte string parses; a 255-byte buffer is too small for it");
	tls_buf_free(&tmp);

	/* over-size: 65537 bytes with a consistent header */
	tls_buf_reset(&body);
	for (int i = 0; i < 5; i++) {
		tls_write_u16(&body, 0x100 + i); /* unknown: only the size is wrong */
		tls_write_u16(&body, 0xffff);
		tls_write_zeros(&body, 0xffff);
	}
	body.len = HANDOFF_MAX_MSG + 1 - HANDOFF_HEADER_LEN;
	raw(&b, "HO", 1, (uint32_t)body.len, body.base, body.len);
	expect_bad(&b, "longer than 65536", "a 65537-byte message");
	tls_buf_free(&body);

	/* type and id survive a bad body: the daemon answers the id */
	raw(&b, "HO", 1, sizeof(dup), dup, sizeof(dup));
	test_ok(handoff_parse(b.base, b.len, &m, &why) == -1 && m.id == 42 &&
		m.type == HANDOFF_DONE && m.present == 0,
		"after a body error the header's type and id are kept");
	raw(&b, "XY", 9, 0, NULL, 0);
	test_ok(handoff_parse(b.base, b.len, &m, &why) == -1 && m.id == 42 &&
		m.type == HANDOFF_DONE, "after a bad magic or version too");
	test_ok(handoff_parse(b.base, b.len, &m, NULL) == -1, "why may be NULL");
	tls_buf_free(&b);
}

static void unknown_and_getter_tests(void)
{
	tls_buf b;
	tls_buf_init(&b, 0);
	handoff_begin(&b, HANDOFF_CONNECT, 5);
	handoff_put_bytes(&b, (enum handoff_attr)0, (const uint8_t *)"zero", 4);
	handoff_put_str(&b, HANDOFF_A_SERVER_NAME, "example.com");
	handoff_put_bytes(&b, (enum handoff_attr)(HANDOFF_A_MAX + 1), (const uint8_t *)"a\0b", 3);
	handoff_put_u8(&b, (enum handoff_attr)0xffff, 1);
	handoff_put_u16(&b, HANDOFF_A_PORT, 8443);
	handoff_put_bytes(&b, (enum handoff_attr)(HANDOFF_A_MAX + 1), NULL, 0); /* twice */
	struct handoff_msg m;
	const char *why = NULL;
	char s[64];
	uint16_t port = 0;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	size_t len = 99;
	test_ok(handoff_end(&b) == 0 && handoff_parse(b.base, b.len, &m, &why) == 0 &&
		m.present == ((1u << HANDOFF_A_SERVER_NAME) | (1u << HANDOFF_A_PORT)) &&
		handoff_get_str(&m, HANDOFF_A_SERVER_NAME, s, sizeof(s)) == 0 &&
		!strcmp(s, "example.com") && handoff_get_u16(&m, HANDOFF_A_PORT, &port) == 0 &&
		port == 8443, "unknown attributes (0, MAX+1 twice and with a NUL, 0xffff) are skipped");

	test_ok(handoff_get_u8(&m, HANDOFF_A_ALERT, &u8) == -1 &&
		handoff_get_u16(&m, HANDOFF_A_CIPHER, &u16) == -1 &&
		handoff_get_u32(&m, HANDOFF_A_REASON, &u32) == -1 &&
		handoff_get_str(&m, HANDOFF_A_TEXT, s, sizeof(s)) == -1 &&
		handoff_get_bytes(&m, HANDOFF_A_POST, &len) == NULL && len == 0,
		"absent attributes: every getter fails, bytes are NULL and 0");
	test_ok(handoff_get_u8(&m, HANDOFF_A_PORT, &u8) == -1 &&
		handoff_get_u32(&m, HANDOFF_A_PORT, &u32) == -1 &&
		handoff_get_u16(&m, HANDOFF_A_SERVER_NAME, &u16) == -1,
		"a getter of the wrong width fails");
	test_ok(handoff_get_str(&m, HANDOFF_A_SERVER_NAME, s, 11) == -1 && s[0] == '\0' &&
		handoff_get_str(&m, HANDOFF_A_SERVER_NAME, s, 12) == 0 &&
		handoff_get_str(&m, HANDOFF_A_SERVER_NAME, NULL, 0) == -1,
		"get_str needs room for the NUL");
	test_ok(handoff_get_u8(&m, (enum handoff_attr)0, &u8) == -1 &&
		handoff_get_bytes(&m, (enum handoff_attr)(HANDOFF_A_MAX + 1), &len) == NULL &&
		handoff_get_bytes(&m, (enum handoff_attr)40, NULL) == NULL,
		"getters of attribute numbers out of range fail");

	/* get_str on a bytes attribute holding a NUL */
	handoff_begin(&b, HANDOFF_DONE, 1);
	handoff_put_bytes(&b, HANDOFF_A_POST, (const uint8_t *)"ab\0", 3);
	test_ok(handoff_end(&b) == 0 && handoff_parse(b.base, b.len, &m, &why) == 0 &&
		handoff_get_str(&m, HANDOFF_A_POST, s, sizeof(s)) == -1,
		"get_str refuses bytes with a NUL");
	tls_buf_free(&b);

	test_ok(!strcmp(handoff_reason_name(HANDOFF_R_OK), "ok") &&
		!strcmp(handoff_reason_name(HANDOFF_R_BAD_SOCKET), "bad_socket") &&
		!strcmp(handoff_reason_name(HANDOFF_R_SHUTDOWN), "shutdown") &&
		!strcmp(handoff_reason_name((enum handoff_reason)77), "unknown"),
		"reason names");
	bool all = true;
	for (int r = HANDOFF_R_OK; r <= HANDOFF_R_SHUTDOWN; r++)
		all &= strcmp(handoff_reason_name((enum handoff_reason)r), "unknown") != 0;
	test_ok(all, "every reason has a name");
}

static void builder_error_tests(void)
{
	tls_buf b;
	tls_buf_init(&b, 0);
	char big[HANDOFF_MAX_STR + 2];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';

	handoff_begin(&b, HANDOFF_CONNECT, 1);
	handoff_put_str(&b, HANDOFF_A_SERVER_NAME, big);
	test_ok(b.err && handoff_end(&b) == -1, "a 256-byte string sets err");
	handoff_begin(&b, HANDOFF_CONNECT, 1);
	big[HANDOFF_MAX_STR] = '\0';
	handoff_put_str(&b, HANDOFF_A_SERVER_NAME, big);
	test_ok(!b.err && handoff_end(&b) == 0, "a 255-byte string fits");

	handoff_begin(&b, HANDOFF_CONNECT, 1);
	handoff_put_u8(&b, HANDOFF_A_PORT, 1);
	test_ok(b.err, "a u8 into the u16 PORT sets err");
	handoff_begin(&b, HANDOFF_DONE, 1);
	handoff_put_u16(&b, HANDOFF_A_PEER_ID, 1);
	test_ok(b.err, "a u16 into the 32-byte PEER_ID sets err");
	handoff_begin(&b, HANDOFF_DONE, 1);
	handoff_put_bytes(&b, HANDOFF_A_ALPN, (const uint8_t *)"h2\0", 3);
	test_ok(b.err, "bytes with a NUL into a string attribute set err");
	handoff_begin(&b, HANDOFF_DONE, 1);
	handoff_put_str(&b, HANDOFF_A_TEXT, NULL);
	test_ok(b.err, "a NULL string sets err");
	handoff_begin(&b, HANDOFF_DONE, 1);
	test_ok(!b.err, "begin clears err");

	static uint8_t huge[70000];
	handoff_put_bytes(&b, HANDOFF_A_EARLY_DATA, huge, 65536);
	test_ok(b.err, "a value over 65535 bytes sets err");
	handoff_begin(&b, HANDOFF_DONE, 1);
	handoff_put_bytes(&b, HANDOFF_A_EARLY_DATA, huge, 65535);
	test_ok(b.err, "a message over 65536 bytes sets err");
	handoff_begin(&b, HANDOFF_DONE, 1);
	handoff_put_bytes(&b, HANDOFF_A_EARLY_DATA, huge, HANDOFF_MAX_MSG - HANDOFF_HEADER_LEN - 4);
	struct handoff_msg m;
	const char *why = NULL;
	test_ok(!b.err && handoff_end(&b) == 0 && b.len == HANDOFF_MAX_MSG &&
		handoff_parse(b.base, b.len, &m, &why) == 0, "a message of exactly 65536 bytes");

	tls_buf_reset(&b);
	handoff_put_u8(&b, HANDOFF_A_ALERT, 1);
	test_ok(b.err && handoff_end(&b) == -1, "a put without begin sets err");
	tls_buf_free(&b);
}

/* ---- over a socketpair ---- */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Sends bytes with nfds fds by hand (what handoff_send refuses to do). */
static int raw_send(int sock, const void *p, size_t len, const int *fds, int nfds)
{
	struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 32)];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(sock, &mh, 0) == (ssize_t)len ? 0 : -1;
}

static void socket_tests(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		test_skip("socketpair failed", "SOCK_SEQPACKET tests");
		return;
	}
	static uint8_t buf[HANDOFF_MAX_MSG];
	tls_buf b;
	tls_buf_init(&b, 0);
	int before = count_fds();

	/* a request with a pipe's write end: usable on the other side */
	int p[2];
	if (pipe(p) != 0)
		p[0] = p[1] = -1;
	handoff_begin(&b, HANDOFF_ACCEPT, 99);
	handoff_put_str(&b, HANDOFF_A_ALPN, "h2");
	handoff_end(&b);
	int fd = -2;
	ssize_t n = -1;
	bool sent = handoff_send(sv[0], &b, p[1]) == 0;
	close(p[1]);
	if (sent)
		n = handoff_recv(sv[1], buf, sizeof(buf), &fd);
	struct handoff_msg m;
	const char *why = NULL;
	char c = 0;
	bool ok = n == (ssize_t)b.len && fd >= 0 && handoff_parse(buf, (size_t)n, &m, &why) == 0 &&
		  m.type == HANDOFF_ACCEPT && m.id == 99 && write(fd, "z", 1) == 1 &&
		  read(p[0], &c, 1) == 1 && c == 'z';
	test_ok(ok, "a message and a pipe cross the socket; the pipe works");
	int flags = fd >= 0 ? fcntl(fd, F_GETFD) : -1;
	test_ok(flags >= 0 && (flags & FD_CLOEXEC), "the received fd is close-on-exec");
	if (fd >= 0)
		close(fd);
	close(p[0]);

	/* a reply without fd */
	handoff_begin(&b, HANDOFF_BUSY, 100);
	handoff_end(&b);
	fd = -2;
	n = handoff_send(sv[1], &b, -1) == 0 ? handoff_recv(sv[0], buf, sizeof(buf), &fd) : -1;
	test_ok(n == HANDOFF_HEADER_LEN && fd == -1 && handoff_parse(buf, (size_t)n, &m, &why) == 0 &&
		m.type == HANDOFF_BUSY, "a message without fd: *fd is -1");

	/* an fd nobody asked for (fd NULL) is closed */
	int q[2];
	if (pipe(q) != 0)
		q[0] = q[1] = -1;
	n = handoff_send(sv[0], &b, q[0]) == 0 ? handoff_recv(sv[1], buf, sizeof(buf), NULL) : -1;
	close(q[0]);
	close(q[1]);
	test_ok(n == HANDOFF_HEADER_LEN && count_fds() == before,
		"with fd NULL a received fd is closed");

	/* two fds: refused, both closed */
	if (pipe(q) != 0)
		q[0] = q[1] = -1;
	fd = -2;
	errno = 0;
	n = raw_send(sv[0], b.base, b.len, q, 2) == 0 ? handoff_recv(sv[1], buf, sizeof(buf), &fd)
						      : 0;
	int e = errno;
	close(q[0]);
	close(q[1]);
	test_ok(n == -1 && e == EBADMSG && fd == -1 && count_fds() == before,
		"two fds: EBADMSG, nothing leaked (%d -> %d fds)", before, count_fds());

	/* more fds than the control buffer holds (MSG_CTRUNC) */
	int many[16];
	for (int i = 0; i < 16; i++)
		many[i] = q[0] >= 0 ? dup(1) : -1;
	fd = -2;
	errno = 0;
	n = raw_send(sv[0], b.base, b.len, many, 16) == 0 ? handoff_recv(sv[1], buf, sizeof(buf), &fd)
							  : 0;
	e = errno;
	for (int i = 0; i < 16; i++)
		close(many[i]);
	test_ok(n == -1 && e == EMSGSIZE && fd == -1 && count_fds() == before,
		"16 fds: EMSGSIZE (control data truncated), nothing leaked");

	/* a datagram larger than the buffer, with an fd */
	if (pipe(q) != 0)
		q[0] = q[1] = -1;
	handoff_begin(&b, HANDOFF_DONE, 5);
	handoff_put_bytes(&b, HANDOFF_A_EARLY_DATA, blob, 100);
	handoff_end(&b);
	fd = -2;
	errno = 0;
	n = handoff_send(sv[0], &b, q[0]) == 0 ? handoff_recv(sv[1], buf, 50, &fd) : 0;
	e = errno;
	close(q[0]);
	close(q[1]);
	test_ok(n == -1 && e == EMSGSIZE && fd == -1 && count_fds() == before,
		"a truncated datagram: EMSGSIZE, its fd closed");
	fd = -2;
	n = handoff_send(sv[1], &b, -1) == 0 ? handoff_recv(sv[0], buf, sizeof(buf), &fd) : -1;
	test_ok(n == (ssize_t)b.len, "the socket works after the truncated one");

	/* send refuses a failed or empty buffer */
	b.err = true;
	errno = 0;
	test_ok(handoff_send(sv[0], &b, -1) == -1 && errno == EINVAL, "send refuses a buffer with err");
	tls_buf_reset(&b);
	errno = 0;
	test_ok(handoff_send(sv[0], &b, -1) == -1 && errno == EINVAL, "send refuses an empty buffer");

	/* end of stream */
	close(sv[1]);
	fd = -2;
	test_ok(handoff_recv(sv[0], buf, sizeof(buf), &fd) == 0 && fd == -1,
		"the peer gone: 0 (end of stream)");
	handoff_begin(&b, HANDOFF_BUSY, 1);
	handoff_end(&b);
	errno = 0;
	test_ok(handoff_send(sv[0], &b, -1) == -1 && errno == EPIPE,
		"send to a closed peer: EPIPE, no SIGPIPE");
	close(sv[0]);
	tls_buf_free(&b);
	test_ok(count_fds() == before - 2, "no fd leaked by the socket tests");
}

int main(void)
{
	roundtrip_tests();
	parse_negative_tests();
	unknown_and_getter_tests();
	builder_error_tests();
	socket_tests();
	return test_done();
}
