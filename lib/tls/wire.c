#include "tls/wire.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static const uint8_t *take(tls_reader *r, size_t n)
{
	if (r->err || r->left < n) {
		r->err = true;
		r->left = 0;
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

static uint64_t read_be(tls_reader *r, size_t n)
{
	const uint8_t *p = take(r, n);
	uint64_t v = 0;
	if (!p)
		return 0;
	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

uint8_t tls_read_u8(tls_reader *r) { return (uint8_t)read_be(r, 1); }
uint16_t tls_read_u16(tls_reader *r) { return (uint16_t)read_be(r, 2); }
uint32_t tls_read_u24(tls_reader *r) { return (uint32_t)read_be(r, 3); }
uint32_t tls_read_u32(tls_reader *r) { return (uint32_t)read_be(r, 4); }
uint64_t tls_read_u64(tls_reader *r) { return read_be(r, 8); }

const uint8_t *tls_read_bytes(tls_reader *r, size_t n)
{
	return take(r, n);
}

void tls_read_copy(tls_reader *r, void *dst, size_t n)
{
	const uint8_t *p = take(r, n);
	if (p)
		memcpy(dst, p, n);
	else
		memset(dst, 0, n);
}

tls_reader tls_read_sub(tls_reader *r, size_t n)
{
	tls_reader sub = { NULL, 0, true };
	const uint8_t *p = take(r, n);
	if (p) {
		sub.p = p;
		sub.left = n;
		sub.err = false;
	}
	return sub;
}

static tls_reader read_vec(tls_reader *r, size_t width, size_t min, size_t max)
{
	size_t n = (size_t)read_be(r, width);
	if (!r->err && (n < min || n > max))
		r->err = true;
	if (r->err) {
		tls_reader bad = { NULL, 0, true };
		return bad;
	}
	return tls_read_sub(r, n);
}

tls_reader tls_read_vec8(tls_reader *r, size_t min, size_t max) { return read_vec(r, 1, min, max); }
tls_reader tls_read_vec16(tls_reader *r, size_t min, size_t max) { return read_vec(r, 2, min, max); }
tls_reader tls_read_vec24(tls_reader *r, size_t min, size_t max) { return read_vec(r, 3, min, max); }

void tls_buf_init(tls_buf *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit ? limit : SIZE_MAX;
}

void tls_buf_init_fixed(tls_buf *b, uint8_t *mem, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->base = mem;
	b->cap = cap;
	b->limit = cap;
	b->fixed = true;
}

/* Only bytes handed out by tls_buf_reserve were ever written: wiping
 * those, not the whole capacity, spares cold memory on every free. */
void tls_buf_free(tls_buf *b)
{
	if (b->base && b->touched)
		OPENSSL_cleanse(b->base, b->touched);
	if (!b->fixed)
		free(b->base);
	b->base = NULL;
	b->len = b->cap = b->touched = 0;
	b->depth = 0;
}

void tls_buf_reset(tls_buf *b)
{
	if (b->base && b->touched)
		OPENSSL_cleanse(b->base, b->touched);
	b->len = b->touched = 0;
	b->depth = 0;
	b->err = false;
}

uint8_t *tls_buf_reserve(tls_buf *b, size_t n)
{
	if (b->err)
		return NULL;
	if (n > b->limit || b->len > b->limit - n) {
		b->err = true;
		return NULL;
	}
	/* A never-allocated buffer allocates even for n == 0, so the returned
	 * pointer is never NULL + 0. */
	if (b->len + n > b->cap || !b->base) {
		if (b->fixed) {
			b->err = true;
			return NULL;
		}
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
		if (cap > b->limit)
			cap = b->limit;
		/* Fresh allocation rather than realloc so old copies can be wiped. */
		uint8_t *nb = malloc(cap);
		if (!nb) {
			b->err = true;
			return NULL;
		}
		if (b->base) {
			memcpy(nb, b->base, b->len);
			OPENSSL_cleanse(b->base, b->touched);
			free(b->base);
		}
		b->base = nb;
		b->cap = cap;
		b->touched = b->len;
	}
	if (b->touched < b->len + n)
		b->touched = b->len + n;
	return b->base + b->len;
}

void tls_buf_consume(tls_buf *b, size_t n)
{
	if (n >= b->len) {
		tls_buf_reset(b);
		return;
	}
	memmove(b->base, b->base + n, b->len - n);
	b->len -= n;
	if (b->touched > b->len)
		OPENSSL_cleanse(b->base + b->len, b->touched - b->len);
	b->touched = b->len;
}

void tls_write_bytes(tls_buf *b, const void *p, size_t n)
{
	uint8_t *dst = tls_buf_reserve(b, n);
	if (!dst)
		return;
	if (n)
		memcpy(dst, p, n);
	b->len += n;
}

void tls_write_zeros(tls_buf *b, size_t n)
{
	uint8_t *dst = tls_buf_reserve(b, n);
	if (!dst)
		return;
	memset(dst, 0, n);
	b->len += n;
}

static void write_be(tls_buf *b, uint64_t v, size_t n)
{
	uint8_t tmp[8];
	for (size_t i = 0; i < n; i++)
		tmp[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	tls_write_bytes(b, tmp, n);
}

void tls_write_u8(tls_buf *b, uint8_t v) { write_be(b, v, 1); }
void tls_write_u16(tls_buf *b, uint16_t v) { write_be(b, v, 2); }
void tls_write_u24(tls_buf *b, uint32_t v) { write_be(b, v, 3); }
void tls_write_u32(tls_buf *b, uint32_t v) { write_be(b, v, 4); }
void tls_write_u64(tls_buf *b, uint64_t v) { write_be(b, v, 8); }

void tls_write_open(tls_buf *b, int width)
{
	if (b->err)
		return;
	if (b->depth >= TLS_BUF_MAX_NEST || width < 1 || width > 3) {
		b->err = true;
		return;
	}
	b->open[b->depth].at = b->len;
	b->open[b->depth].width = width;
	b->depth++;
	tls_write_zeros(b, (size_t)width);
}

void tls_write_close(tls_buf *b)
{
	if (b->err)
		return;
	if (b->depth == 0) {
		b->err = true;
		return;
	}
	b->depth--;
	size_t at = b->open[b->depth].at;
	int width = b->open[b->depth].width;
	size_t n = b->len - at - (size_t)width;
	if (n >> (8 * width)) {
		b->err = true;
		return;
	}
	for (int i = 0; i < width; i++)
		b->base[at + (size_t)i] = (uint8_t)(n >> (8 * (width - 1 - i)));
}

void tls_store_u16(uint8_t out[2], uint16_t v)
{
	out[0] = (uint8_t)(v >> 8);
	out[1] = (uint8_t)v;
}

void tls_store_u24(uint8_t out[3], uint32_t v)
{
	out[0] = (uint8_t)(v >> 16);
	out[1] = (uint8_t)(v >> 8);
	out[2] = (uint8_t)v;
}

void tls_store_u64(uint8_t out[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (56 - 8 * i));
}
