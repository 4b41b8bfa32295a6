/* libFuzzer: handoff_parse and the getters, the parser both the daemon
 * (requests) and libhandshake (replies) run on what the other side sends.
 * The input is one datagram (no header byte). What parses must answer
 * every getter consistently with its attribute's bytes, and rebuild with
 * the builder into a message that parses to the same attributes (unknown
 * attributes dropped). */
#include "fuzz.h"
#include "handoff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every getter on attribute a of m agrees with its raw bytes; returns
 * them for the rebuild. */
static const uint8_t *check_attr(const struct handoff_msg *m, enum handoff_attr a, size_t *len)
{
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	char s[HANDOFF_MAX_STR + 1];
	const uint8_t *p = handoff_get_bytes(m, a, len);
	bool has = handoff_has(m, a);
	fuzz_check(has == (p != NULL), "get_bytes is NULL exactly when absent");
	fuzz_check((handoff_get_u8(m, a, &u8) == 0) == (has && *len == 1), "get_u8 width");
	fuzz_check((handoff_get_u16(m, a, &u16) == 0) == (has && *len == 2), "get_u16 width");
	fuzz_check((handoff_get_u32(m, a, &u32) == 0) == (has && *len == 4), "get_u32 width");
	if (has && *len == 1)
		fuzz_check(u8 == p[0], "get_u8 value");
	if (has && *len == 2)
		fuzz_check(u16 == (uint16_t)(p[0] << 8 | p[1]), "get_u16 value");
	if (has && *len == 4)
		fuzz_check(u32 == ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]),
			   "get_u32 value");
	int rc = handoff_get_str(m, a, s, sizeof(s));
	bool str_ok = has && *len <= HANDOFF_MAX_STR && (*len == 0 || !memchr(p, 0, *len));
	fuzz_check((rc == 0) == str_ok, "get_str accepts exactly NUL-free values up to 255 bytes");
	if (rc == 0)
		fuzz_check(strlen(s) == *len && !memcmp(s, p, *len), "get_str copies the value");
	else
		fuzz_check(s[0] == '\0', "a failed get_str leaves an empty string");
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct handoff_msg m, again;
	const char *why = NULL;
	if (handoff_parse(data, size, &m, &why) != 0) {
		fuzz_check(why && *why && m.present == 0, "a refusal has a reason and no attributes");
		return 0;
	}
	fuzz_check(size >= HANDOFF_HEADER_LEN && size <= HANDOFF_MAX_MSG, "accepted size");

	tls_buf b;
	tls_buf_init(&b, 0);
	handoff_begin(&b, (enum handoff_type)m.type, m.id);
	for (int a = 0; a <= HANDOFF_A_MAX + 1; a++) {
		size_t len = 0;
		const uint8_t *p = check_attr(&m, (enum handoff_attr)a, &len);
		if (p)
			handoff_put_bytes(&b, (enum handoff_attr)a, p, len);
	}
	fuzz_check(handoff_end(&b) == 0 && b.len <= size, "what parsed rebuilds, no larger");
	fuzz_check(handoff_parse(b.base, b.len, &again, &why) == 0 && again.type == m.type &&
		   again.id == m.id && again.present == m.present, "the rebuilt message parses");
	for (int a = 1; a <= HANDOFF_A_MAX; a++) {
		size_t n1 = 0, n2 = 0;
		const uint8_t *p1 = handoff_get_bytes(&m, (enum handoff_attr)a, &n1);
		const uint8_t *p2 = handoff_get_bytes(&again, (enum handoff_attr)a, &n2);
		fuzz_check(n1 == n2 && (!n1 || !memcmp(p1, p2, n1)), "the same attribute values");
	}
	tls_buf_free(&b);
	return 0;
}
