/* The bounds-checked reader/writer: every short read fails, nothing reads past the end. */
#include <string.h>

#include "test.h"
#include "tls/wire.h"

static void reader_tests(void)
{
	const uint8_t in[] = { 0x01, 0x02, 0x03, 0x00, 0x02, 0xaa, 0xbb, 0x05 };
	tls_reader r = tls_reader_init(in, sizeof(in));
	test_ok(tls_read_u8(&r) == 1 && tls_read_u16(&r) == 0x0203 && !r.err, "fixed-width reads");
	tls_reader v = tls_read_vec16(&r, 1, 10);
	test_ok(!v.err && v.left == 2 && tls_read_u16(&v) == 0xaabb && tls_reader_done(&v),
		"vec16 sub-reader covers exactly its bytes");
	test_ok(tls_read_u8(&r) == 5 && tls_reader_done(&r), "parent skipped the vector");
	test_ok(tls_read_u8(&r) == 0 && r.err, "read past the end sets err");
	test_ok(tls_read_u32(&r) == 0 && r.err, "err is sticky");

	const uint8_t shortvec[] = { 0x00, 0x05, 0x01 };
	r = tls_reader_init(shortvec, sizeof(shortvec));
	v = tls_read_vec16(&r, 0, 100);
	test_ok(v.err && r.err, "vector longer than its container fails");

	const uint8_t small[] = { 0x01, 0xff };
	r = tls_reader_init(small, sizeof(small));
	v = tls_read_vec8(&r, 2, 10);
	test_ok(v.err && r.err, "vector below its floor fails");
	r = tls_reader_init(small, sizeof(small));
	test_ok(tls_read_bytes(&r, 3) == NULL && r.err, "read_bytes beyond input is NULL");
	r = tls_reader_init(in, 3);
	test_ok(tls_read_u24(&r) == 0x010203 && tls_reader_done(&r), "u24");
}

static void writer_tests(void)
{
	tls_buf b;
	tls_buf_init(&b, 0);
	tls_write_u8(&b, 0x16);
	tls_write_open(&b, 2);
	tls_write_open(&b, 3);
	tls_write_bytes(&b, "abc", 3);
	tls_write_close(&b);
	tls_write_close(&b);
	const uint8_t want[] = { 0x16, 0x00, 0x06, 0x00, 0x00, 0x03, 'a', 'b', 'c' };
	test_ok(!b.err && b.len == sizeof(want) && memcmp(b.base, want, b.len) == 0,
		"nested length prefixes are patched");
	tls_buf_consume(&b, 3);
	test_ok(b.len == 6 && b.base[2] == 0x03, "consume shifts the rest down");
	tls_buf_free(&b);

	tls_buf_init(&b, 0);
	tls_write_open(&b, 1);
	tls_write_zeros(&b, 256);
	tls_write_close(&b);
	test_ok(b.err, "a block too long for its prefix fails");
	tls_buf_free(&b);

	uint8_t mem[4];
	tls_buf_init_fixed(&b, mem, sizeof(mem));
	tls_write_u32(&b, 0x01020304);
	test_ok(!b.err && b.len == 4, "fixed buffer fills");
	tls_write_u8(&b, 5);
	test_ok(b.err && b.len == 4, "fixed buffer never grows");

	tls_buf_init(&b, 10);
	tls_write_zeros(&b, 10);
	test_ok(!b.err, "limit reached exactly");
	tls_write_u8(&b, 0);
	test_ok(b.err, "limit exceeded fails");
	tls_buf_free(&b);

	tls_buf_init(&b, 0);
	tls_write_close(&b);
	test_ok(b.err, "close without open fails");
	tls_buf_free(&b);
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* Every byte a buffer handed out is wiped, also past len after a write was
 * rolled back (records decrypted in place, a flight undone); caller storage
 * it never wrote is left alone. Fixed buffers let the test look after the
 * wipe. */
static void wipe_tests(void)
{
	uint8_t mem[64];
	tls_buf b;

	memset(mem, 0x55, sizeof(mem));
	tls_buf_init_fixed(&b, mem, sizeof(mem));
	memset(tls_buf_reserve(&b, 32), 0xaa, 32);
	b.len = 8; /* rolled back: bytes 8..31 hold data past len */
	tls_buf_reset(&b);
	test_ok(all_bytes(mem, 32, 0) && all_bytes(mem + 32, 32, 0x55),
		"reset wipes every byte handed out, also past len, and nothing else");

	memset(mem, 0x55, sizeof(mem));
	tls_buf_init_fixed(&b, mem, sizeof(mem));
	memset(tls_buf_reserve(&b, 24), 0xaa, 24);
	b.len = 16; /* 16..23 hold data past len */
	tls_buf_consume(&b, 4);
	test_ok(b.len == 12 && all_bytes(mem, 12, 0xaa) && all_bytes(mem + 12, 12, 0) &&
			all_bytes(mem + 24, 40, 0x55),
		"consume wipes everything past the new end that was handed out");

	memset(mem, 0x55, sizeof(mem));
	tls_buf_init_fixed(&b, mem, sizeof(mem));
	tls_write_zeros(&b, 4);
	memset(tls_buf_reserve(&b, 6), 0xaa, 6); /* reserved, never committed */
	tls_buf_free(&b);
	test_ok(all_bytes(mem, 10, 0) && all_bytes(mem + 10, 54, 0x55) && !b.base && !b.touched,
		"free wipes what was reserved, not the caller's untouched storage");

	/* a heap buffer that grows keeps counting from the copy */
	tls_buf_init(&b, 0);
	tls_write_zeros(&b, 200);
	tls_buf_reserve(&b, 300);
	test_ok(!b.err && b.cap >= 500 && b.touched == 500 && b.len == 200,
		"after growing, touched covers the copied bytes and the new reservation");
	tls_buf_free(&b);
}

int main(void)
{
	reader_tests();
	writer_tests();
	wipe_tests();
	return test_done();
}
