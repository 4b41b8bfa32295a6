/* The in-memory handshake driver of the unit tests (pair.h). */
#include "pair.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* ---- recording callbacks ---- */

static void on_secret(void *ctx, enum tls_dir dir, int epoch, const tls_cipher *cs,
		      const uint8_t *secret, size_t len)
{
	struct test_side *s = ctx;
	if (cs && len == cs->hash_len)
		s->n_secrets++;
	if (epoch > s->max_epoch[dir])
		s->max_epoch[dir] = epoch;
	if (epoch == TLS_EPOCH_EARLY)
		s->early_secrets++;
	if (epoch < 0 || epoch >= TEST_EPOCHS || len > TLS_MAX_HASH)
		return;
	s->got[dir][epoch] = true;
	s->cs[dir][epoch] = cs;
	memcpy(s->secret[dir][epoch], secret, len);
}

static void on_session(void *ctx, const uint8_t *blob, size_t len)
{
	struct test_side *s = ctx;
	if (s->n_sess < TEST_MAX_SESS) {
		tls_buf *b = &s->sess[s->n_sess++];
		tls_buf_init(b, 0);
		tls_write_bytes(b, blob, len);
	}
}

static void on_early(void *ctx, const uint8_t *data, size_t len)
{
	struct test_side *s = ctx;
	tls_write_bytes(&s->early, data, len);
	if (!tls_conn_handshake_done(s->c))
		s->early_before_done = true;
}

static const tls_callbacks recording = {
	.secret = on_secret, .session = on_session, .early_data = on_early,
};

/* ---- one side ---- */

void test_side_init(struct test_side *s, const tls_config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->c = tls_conn_new(cfg);
	if (!s->c) {
		fprintf(stderr, "pair: tls_conn_new failed\n");
		abort();
	}
	s->rc = TLS_WANT_INPUT;
	tls_buf_init(&s->out, 0);
	tls_buf_init(&s->early, 0);
	tls_conn_set_callbacks(s->c, &recording, s);
}

void test_side_free(struct test_side *s)
{
	tls_conn_free(s->c);
	tls_buf_free(&s->out);
	tls_buf_free(&s->early);
	for (size_t i = 0; i < s->n_sess; i++)
		tls_buf_free(&s->sess[i]);
	memset(s, 0, sizeof(*s));
}

int test_side_hs(struct test_side *s, const uint8_t *in, size_t len, size_t *consumed)
{
	size_t n = len;
	tls_buf_reset(&s->out);
	s->rc = tls_conn_handshake(s->c, &s->out, in, &n);
	if (consumed)
		*consumed = n;
	return s->rc;
}

int test_side_feed(struct test_side *s, tls_buf *in, tls_buf *out)
{
	size_t n = in->len;
	s->rc = tls_conn_handshake(s->c, out, in->base, &n);
	tls_buf_consume(in, n);
	return s->rc;
}

/* ---- both sides ---- */

void test_pair_init(struct test_pair *p, const tls_config *ccfg, const tls_config *scfg,
		    const char *sni)
{
	memset(p, 0, sizeof(*p));
	test_side_init(&p->cl, ccfg);
	test_side_init(&p->sv, scfg);
	if (sni && tls_conn_set_server_name(p->cl.c, sni) != 0) {
		fprintf(stderr, "pair: cannot set the server name %s\n", sni);
		abort();
	}
	tls_buf_init(&p->c2s, 0);
	tls_buf_init(&p->s2c, 0);
	tls_buf_init(&p->ch, 0);
	tls_buf_init(&p->sflight, 0);
	tls_buf_init(&p->cflight, 0);
}

void test_pair_free(struct test_pair *p)
{
	test_side_free(&p->cl);
	test_side_free(&p->sv);
	tls_buf_free(&p->c2s);
	tls_buf_free(&p->s2c);
	tls_buf_free(&p->ch);
	tls_buf_free(&p->sflight);
	tls_buf_free(&p->cflight);
}

/* One call of one side on what is in `in` (all of it, or bytewise one
 * more byte than last time); the output goes to `out`, what was used
 * leaves `in`. True when something moved (bytes used or written, or the
 * window grew). */
static bool step(struct test_pair *p, struct test_side *s, tls_buf *in, size_t *window,
		 tls_buf *out)
{
	size_t n = in->len, before = out->len;
	bool grew = false;
	if (p->bytewise) {
		grew = *window < n;
		if (grew)
			(*window)++;
		n = *window;
	}
	s->rc = tls_conn_handshake(s->c, out, in->base, &n);
	tls_buf_consume(in, n);
	if (p->bytewise)
		*window -= n;
	return grew || n || out->len != before;
}

bool test_pair_run(struct test_pair *p)
{
	struct test_side *cl = &p->cl, *sv = &p->sv;
	/* bounded all the same: an engine bug must not hang the test */
	for (int i = 0; i < 1000000; i++) {
		bool moved = false;
		if (cl->rc == TLS_WANT_INPUT)
			moved = step(p, cl, &p->s2c, &p->s2c_window, &p->c2s);
		if (cl->rc < 0)
			break;
		if (sv->rc == TLS_WANT_INPUT)
			moved = step(p, sv, &p->c2s, &p->c2s_window, &p->s2c) || moved;
		if (sv->rc < 0)
			break;
		if (cl->rc == 0 && sv->rc == 0)
			return true;
		if (!moved)
			break; /* both wait for bytes nobody sends */
	}
	/* the side that did not fail reads the alert */
	if (sv->rc < 0 && cl->rc == TLS_WANT_INPUT)
		step(p, cl, &p->s2c, &p->s2c_window, &p->c2s);
	if (cl->rc < 0 && sv->rc == TLS_WANT_INPUT)
		step(p, sv, &p->c2s, &p->c2s_window, &p->s2c);
	return false;
}

bool test_pair_go(struct test_pair *p)
{
	if (!test_pair_run(p)) {
		test_diag("client: %s (%d) / server: %s (%d)", tls_conn_error(p->cl.c), p->cl.rc,
			  tls_conn_error(p->sv.c), p->sv.rc);
		return false;
	}
	if (!p->s2c.len)
		return true;
	tls_buf back, plain;
	tls_buf_init(&back, 0);
	tls_buf_init(&plain, 0);
	size_t n = p->s2c.len;
	int rc = tls_conn_recv(p->cl.c, &back, &plain, p->s2c.base, &n);
	bool ok = rc == 0 && n == p->s2c.len && plain.len == 0 && back.len == 0;
	if (!ok)
		test_diag("reading the server's tickets: %d: %s", rc, tls_conn_error(p->cl.c));
	tls_buf_consume(&p->s2c, n);
	tls_buf_free(&back);
	tls_buf_free(&plain);
	return ok;
}

int test_pair_flights(struct test_pair *p, int upto)
{
	tls_buf_reset(&p->ch);
	tls_buf_reset(&p->sflight);
	tls_buf_reset(&p->cflight);
	int rc = test_side_hs(&p->cl, NULL, 0, NULL);
	tls_write_bytes(&p->ch, p->cl.out.base, p->cl.out.len);
	if (upto < 2 || rc != TLS_WANT_INPUT)
		return rc;
	rc = test_side_hs(&p->sv, p->ch.base, p->ch.len, NULL);
	tls_write_bytes(&p->sflight, p->sv.out.base, p->sv.out.len);
	if (upto < 3 || rc != TLS_WANT_INPUT)
		return rc;
	rc = test_side_hs(&p->cl, p->sflight.base, p->sflight.len, NULL);
	tls_write_bytes(&p->cflight, p->cl.out.base, p->cl.out.len);
	if (upto < 4 || rc != 0)
		return rc;
	return test_side_hs(&p->sv, p->cflight.base, p->cflight.len, NULL);
}

bool test_transfer(tls_conn *a, tls_conn *b, const void *data, size_t len)
{
	tls_buf wire, back, plain;
	tls_buf_init(&wire, 0);
	tls_buf_init(&back, 0);
	tls_buf_init(&plain, 0);
	bool ok = tls_conn_send(a, &wire, data, len) == 0;
	size_t n = wire.len;
	int rc = tls_conn_recv(b, &back, &plain, wire.base, &n);
	ok = ok && rc == 0 && n == wire.len && plain.len == len &&
	     (len == 0 || memcmp(plain.base, data, len) == 0);
	if (!ok)
		test_diag("transfer: rc %d, consumed %zu of %zu, got %zu of %zu: %s", rc, n,
			  wire.len, plain.len, len, tls_conn_error(b));
	tls_buf_free(&wire);
	tls_buf_free(&back);
	tls_buf_free(&plain);
	return ok;
}

/* ---- records under reported secrets ---- */

static bool side_key(const struct test_side *s, int epoch, tls_traffic_key *k)
{
	return epoch >= 0 && epoch < TEST_EPOCHS && s->got[TLS_DIR_TX][epoch] &&
	       tls_traffic_key_init(k, s->cs[TLS_DIR_TX][epoch], s->secret[TLS_DIR_TX][epoch]) == 0;
}

bool test_side_open(const struct test_side *s, int epoch, const tls_buf *recs, tls_buf *clear,
		    tls_buf *msgs)
{
	tls_traffic_key k;
	if (!side_key(s, epoch, &k))
		return false;
	bool ok = true;
	tls_reader r = tls_reader_init(recs->base, recs->len);
	while (r.left && !r.err && ok) {
		tls_reader h = r;
		tls_read_bytes(&h, 3);
		size_t n = TLS_RECORD_HEADER + (size_t)tls_read_u16(&h);
		const uint8_t *rec = tls_read_bytes(&r, n);
		if (!rec || n > TLS_RECORD_HEADER + TLS_MAX_CIPHERTEXT) {
			ok = false;
			break;
		}
		if (rec[0] != 23) {
			tls_write_bytes(clear, rec, n);
			continue;
		}
		uint8_t copy[TLS_RECORD_HEADER + TLS_MAX_CIPHERTEXT], type, *data;
		size_t dlen;
		memcpy(copy, rec, n);
		ok = tls_record_open(&k, copy, n, &type, &data, &dlen) == 0 && type == 22;
		if (ok)
			tls_write_bytes(msgs, data, dlen);
	}
	tls_traffic_key_clear(&k);
	return ok && !r.err && !clear->err && !msgs->err;
}

bool test_side_seal(const struct test_side *s, int epoch, const uint8_t *msgs, size_t len,
		    tls_buf *out)
{
	tls_traffic_key k;
	if (!side_key(s, epoch, &k))
		return false;
	bool ok = true;
	for (size_t off = 0; off < len && ok; off += TLS_MAX_PLAINTEXT) {
		size_t n = len - off > TLS_MAX_PLAINTEXT ? TLS_MAX_PLAINTEXT : len - off;
		ok = tls_record_seal(&k, 22, msgs + off, n, 0, out) == 0;
	}
	tls_traffic_key_clear(&k);
	return ok && !out->err;
}

int test_side_alert(const struct test_side *s, bool *encrypted)
{
	tls_reader r = tls_reader_init(s->out.base, s->out.len);
	const uint8_t *last = NULL;
	size_t last_len = 0;
	while (r.left && !r.err) {
		tls_reader h = r;
		tls_read_bytes(&h, 3);
		uint16_t n = tls_read_u16(&h);
		const uint8_t *rec = tls_read_bytes(&r, TLS_RECORD_HEADER + (size_t)n);
		if (rec) {
			last = rec;
			last_len = TLS_RECORD_HEADER + (size_t)n;
		}
	}
	*encrypted = false;
	if (!last)
		return -1;
	if (last[0] == 21)
		return last_len == 7 && last[5] == 2 ? last[6] : -1;
	if (last[0] != 23)
		return -1;
	*encrypted = true;
	uint8_t copy[64];
	if (last_len > sizeof(copy))
		return -1;
	for (int epoch = 0; epoch < TEST_EPOCHS; epoch++) {
		tls_traffic_key k;
		if (!side_key(s, epoch, &k))
			continue;
		for (uint64_t seq = 0; seq < 16; seq++) {
			uint8_t type, *data;
			size_t dlen;
			memcpy(copy, last, last_len);
			k.seq = seq;
			if (tls_record_open(&k, copy, last_len, &type, &data, &dlen) == 0) {
				tls_traffic_key_clear(&k);
				return type == 21 && dlen == 2 && data[0] == 2 ? data[1] : -1;
			}
		}
		tls_traffic_key_clear(&k);
	}
	return -1;
}
