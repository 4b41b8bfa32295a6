/* libFuzzer: the decoders of resumption state. Byte 0 picks the target:
 *   0  tls_ticket_decode (ticket contents), then encode/decode round trip
 *   1  tls_ticket_open against a fixed ring (key id of the ring's current
 *      key is patched in, so the fuzzer reaches the AEAD and the decoder
 *      behind it via tickets sealed from decodable contents)
 *   2  tls_session_decode (the client's saved session), round trip
 * A decoded object that re-encodes to different bytes is a bug (abort). */
#include "fuzz.h"

#include "tls/ticket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ticket_roundtrip(const uint8_t *p, size_t n)
{
	tls_ticket t, u;
	if (tls_ticket_decode(&t, p, n) != 0)
		return;
	tls_buf a, b;
	tls_buf_init(&a, 0);
	tls_buf_init(&b, 0);
	fuzz_check(tls_ticket_encode(&t, &a) == 0, "re-encode a decoded ticket");
	fuzz_check(tls_ticket_decode(&u, a.base, a.len) == 0 && tls_ticket_encode(&u, &b) == 0 &&
		   a.len == b.len && memcmp(a.base, b.base, a.len) == 0, "ticket round trip");
	tls_ticket_clear(&t);
	tls_ticket_clear(&u);
	tls_buf_free(&a);
	tls_buf_free(&b);
}

static void ticket_open(const uint8_t *p, size_t n)
{
	static tls_stek_ring *ring;
	if (!ring) {
		ring = tls_stek_ring_new(1, 0);
		fuzz_check(ring && tls_stek_ring_rotate(ring, 1700000000) == 0, "ring");
	}
	const uint64_t now = 1700000000000ull;
	tls_ticket t;
	/* as is: unknown ids, short input, tag failures */
	enum tls_ticket_result r = tls_ticket_open(ring, p, n, now, &t);
	if (r == TLS_TICKET_OK)
		tls_ticket_clear(&t);
	/* the input as contents, sealed by the ring, must open to the same */
	if (tls_ticket_decode(&t, p, n) != 0)
		return;
	tls_buf sealed;
	tls_buf_init(&sealed, 0);
	tls_ticket u;
	if (tls_ticket_seal(ring, &t, &sealed) == 0) {
		r = tls_ticket_open(ring, sealed.base, sealed.len, t.created_ms, &u);
		fuzz_check(r == TLS_TICKET_OK || r == TLS_TICKET_EXPIRED, "open what we sealed");
		if (r == TLS_TICKET_OK) {
			fuzz_check(u.cipher == t.cipher && u.psk_len == t.psk_len &&
				   memcmp(u.psk, t.psk, t.psk_len) == 0, "sealed contents survive");
			tls_ticket_clear(&u);
		}
		/* one flipped bit anywhere must not open */
		sealed.base[sealed.len / 2] ^= 1;
		r = tls_ticket_open(ring, sealed.base, sealed.len, t.created_ms, &u);
		fuzz_check(r != TLS_TICKET_OK, "tampered ticket refused");
	}
	tls_ticket_clear(&t);
	tls_buf_free(&sealed);
}

static void session_roundtrip(const uint8_t *p, size_t n)
{
	tls_session *s = tls_session_decode(p, n);
	if (!s)
		return;
	tls_buf a;
	tls_buf_init(&a, 0);
	fuzz_check(tls_session_encode(s, &a) == 0 && a.len == n && memcmp(a.base, p, n) == 0,
		   "session round trip");
	tls_buf_free(&a);
	tls_session_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		ticket_roundtrip(data + 1, size - 1);
		break;
	case 1:
		ticket_open(data + 1, size - 1);
		break;
	default:
		session_roundtrip(data + 1, size - 1);
		break;
	}
	return 0;
}
