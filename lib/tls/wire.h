/* The one bounds-checked reader and writer for wire bytes.
 *
 * Every parse in the project goes through tls_reader: reads past the end do
 * not happen, they set a sticky error flag and return zeros, so a parser can
 * read a whole structure and check `r->err` once at the end. Nothing else
 * does pointer arithmetic on bytes that came from the network.
 *
 * tls_buf is a growable output buffer with the same sticky-error rule
 * (allocation failure or a configured cap), plus length-prefixed blocks
 * whose length is patched in when the block closes.
 */
#ifndef TLS_WIRE_H
#define TLS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <handshake/tls.h> /* tls_buf */

typedef struct tls_reader {
	const uint8_t *p;   /* next unread byte */
	size_t left;        /* bytes still readable */
	bool err;           /* set on any short read or failed check; sticky */
} tls_reader;

static inline tls_reader tls_reader_init(const uint8_t *p, size_t n)
{
	tls_reader r = { p, n, false };
	return r;
}

/* Fixed-width big-endian integers; 0 and r->err on underrun. */
uint8_t tls_read_u8(tls_reader *r);
uint16_t tls_read_u16(tls_reader *r);
uint32_t tls_read_u24(tls_reader *r);
uint32_t tls_read_u32(tls_reader *r);
uint64_t tls_read_u64(tls_reader *r);

/* Returns a pointer to the next n bytes and skips them; NULL (and r->err) if
 * fewer remain. The pointer stays valid as long as the input does. */
const uint8_t *tls_read_bytes(tls_reader *r, size_t n);
/* Copies n bytes out. */
void tls_read_copy(tls_reader *r, void *dst, size_t n);

/* Splits off a sub-reader over a vector with a 1/2/3-byte length prefix
 * (RFC 8446 §3.4 `<floor..ceiling>`). The prefix length must lie in
 * [min, max]; otherwise r->err. The parent skips the whole vector. */
tls_reader tls_read_vec8(tls_reader *r, size_t min, size_t max);
tls_reader tls_read_vec16(tls_reader *r, size_t min, size_t max);
tls_reader tls_read_vec24(tls_reader *r, size_t min, size_t max);
/* Sub-reader over exactly the next n bytes. */
tls_reader tls_read_sub(tls_reader *r, size_t n);

/* True when the reader is exhausted without error. Use after parsing a
 * structure that must fill its container exactly. */
static inline bool tls_reader_done(const tls_reader *r)
{
	return !r->err && r->left == 0;
}

/* Marks the reader failed (a semantic check did not hold). */
static inline void tls_reader_fail(tls_reader *r)
{
	r->err = true;
}

void tls_write_u8(tls_buf *b, uint8_t v);
void tls_write_u16(tls_buf *b, uint16_t v);
void tls_write_u24(tls_buf *b, uint32_t v);
void tls_write_u32(tls_buf *b, uint32_t v);
void tls_write_u64(tls_buf *b, uint64_t v);
void tls_write_bytes(tls_buf *b, const void *p, size_t n);
void tls_write_zeros(tls_buf *b, size_t n);

/* Length-prefixed blocks: open writes a placeholder of `width` (1, 2 or 3)
 * bytes, close patches it with the block length; err if it overflows. */
void tls_write_open(tls_buf *b, int width);
void tls_write_close(tls_buf *b);

/* Big-endian store helpers for fixed headers built outside a tls_buf. */
void tls_store_u16(uint8_t out[2], uint16_t v);
void tls_store_u24(uint8_t out[3], uint32_t v);
void tls_store_u64(uint8_t out[8], uint64_t v);

#endif
