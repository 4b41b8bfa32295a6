/* The engine's surface for an event loop: exact reads (tls_record_need),
 * where key changes fall in the output (tls_conn_out_epochs), alerts sent
 * by the application (tls_conn_send_alert) and a failing record's output
 * taken back before its alert (the TLS_ERR_LOCAL contract).
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "testkeys.h"
#include "tls/engine.h"

static struct test_pki pki;

static tls_conn *client_conn(tls_config *cfg)
{
	tls_conn *c = tls_conn_new(cfg);
	tls_conn_set_server_name(c, "server.test");
	return c;
}

/* ---- a byte stream standing in for a socket ---- */

struct stream {
	tls_buf data;
	size_t pos;
	size_t reads;
};

/* "recv" of at most n bytes into b */
static size_t stream_read(struct stream *s, tls_buf *b, size_t n)
{
	size_t left = s->data.len - s->pos;
	if (n > left)
		n = left;
	tls_write_bytes(b, s->data.base + s->pos, n);
	s->pos += n;
	s->reads++;
	return n;
}

/* The loop a daemon runs: read exactly what tls_record_need asks for,
 * feed whole records, stop when the handshake is done. */
static int exact_drive(tls_conn *c, struct stream *in, tls_buf *out)
{
	tls_buf pending;
	tls_buf_init(&pending, 0);
	int rc = TLS_WANT_INPUT;
	for (int guard = 0; guard < 1000 && rc == TLS_WANT_INPUT; guard++) {
		size_t need = tls_record_need(pending.base, pending.len);
		if (need) {
			if (stream_read(in, &pending, need) == 0)
				break; /* the peer has said all it will for now */
			continue;
		}
		size_t n = pending.len;
		rc = tls_conn_handshake(c, out, pending.base, &n);
		tls_buf_consume(&pending, n);
	}
	if (pending.len)
		rc = -1000; /* bytes read but not consumed: a loop must not have any */
	tls_buf_free(&pending);
	return rc;
}

static void exact_reads(void)
{
	/* tls_record_need on its own */
	static const uint8_t hdr[] = { 22, 3, 3, 0x01, 0x00 };
	test_ok(tls_record_need(NULL, 0) == 5 && tls_record_need(hdr, 3) == 2 &&
			tls_record_need(hdr, 5) == 256,
		"record_need: the header first, then the whole body");
	uint8_t rec[5 + 256] = { 22, 3, 3, 0x01, 0x00 };
	test_ok(tls_record_need(rec, 100) == 161 && tls_record_need(rec, sizeof(rec)) == 0 &&
			tls_record_need(rec, sizeof(rec) + 3) == 0,
		"record_need: the rest of the body, then nothing");
	static const uint8_t huge[] = { 23, 3, 3, 0xff, 0xff };
	test_ok(tls_record_need(huge, 5) == 0,
		"record_need: an impossible length asks for nothing (the engine answers it)");

	/* Server: the client's second flight arrives with its first request
	 * glued behind it in one segment; exact reads leave the request. */
	tls_config *scfg = test_server_config(&pki), *ccfg = test_client_config(&pki);
	tls_conn *sv = tls_conn_new(scfg), *cl = client_conn(ccfg);
	tls_buf cout, sout;
	tls_buf_init(&cout, 0);
	tls_buf_init(&sout, 0);
	struct stream to_sv = { .pos = 0 }, to_cl = { .pos = 0 };
	tls_buf_init(&to_sv.data, 0);
	tls_buf_init(&to_cl.data, 0);

	int crc = tls_conn_handshake(cl, &cout, NULL, NULL);
	tls_write_bytes(&to_sv.data, cout.base, cout.len);
	tls_buf_reset(&cout);
	int src = exact_drive(sv, &to_sv, &sout);
	tls_write_bytes(&to_cl.data, sout.base, sout.len);
	tls_buf_reset(&sout);
	crc = exact_drive(cl, &to_cl, &cout);
	size_t fin_end = cout.len;
	tls_write_bytes(&to_sv.data, cout.base, cout.len);
	tls_conn_send(cl, &cout, "GET / HTTP/1.1\r\n\r\n", 18);
	tls_write_bytes(&to_sv.data, cout.base + fin_end, cout.len - fin_end);
	size_t glued_at = to_sv.data.len - (cout.len - fin_end);
	src = exact_drive(sv, &to_sv, &sout);
	test_ok(crc == 0 && src == 0 && to_sv.pos == glued_at,
		"server: exact reads stop at the client Finished; the glued request stays "
		"unread (%d/%d, read %zu of %zu, request at %zu)", crc, src, to_sv.pos,
		to_sv.data.len, glued_at);
	/* what stays unread is exactly one record the kernel would decrypt */
	tls_buf plain;
	tls_buf_init(&plain, 0);
	size_t n = to_sv.data.len - to_sv.pos;
	int rrc = tls_conn_recv(sv, &sout, &plain, to_sv.data.base + to_sv.pos, &n);
	test_ok(rrc == 0 && plain.len == 18 && !memcmp(plain.base, "GET /", 5),
		"the unread bytes are the client's request record (%d)", rrc);
	test_ok(to_sv.reads <= 2 * 4 + 2,
		"two reads per record, one more for the end (%zu reads)", to_sv.reads);
	tls_buf_free(&plain);
	tls_conn_free(sv);
	tls_conn_free(cl);
	tls_buf_free(&cout);
	tls_buf_free(&sout);
	tls_buf_free(&to_sv.data);
	tls_buf_free(&to_cl.data);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* ---- where key changes fall in the output ---- */

/* Checks that every record before `off` is a plaintext type (handshake or
 * CCS) and every one from `off` on is protected (outer type 23). */
static bool split_at(const tls_buf *b, size_t off)
{
	tls_reader r = tls_reader_init(b->base, b->len);
	while (r.left) {
		size_t at = b->len - r.left;
		uint8_t type = tls_read_u8(&r);
		tls_read_u16(&r);
		tls_reader body = tls_read_vec16(&r, 0, 0xffff);
		(void)body;
		if (r.err)
			return false;
		if ((at < off) != (type != 23))
			return false;
	}
	return true;
}

static void out_epochs(void)
{
	tls_config *scfg = test_server_config(&pki), *ccfg = test_client_config(&pki);
	tls_config_set_tickets(scfg, 2, 3600);
	tls_conn *sv = tls_conn_new(scfg), *cl = client_conn(ccfg);
	tls_buf cout, sout;
	tls_buf_init(&cout, 0);
	tls_buf_init(&sout, 0);
	struct tls_out_epoch m[TLS_MAX_OUT_EPOCHS];

	tls_conn_handshake(cl, &cout, NULL, NULL);
	size_t nm = tls_conn_out_epochs(cl, m, TLS_MAX_OUT_EPOCHS);
	test_ok(nm == 0, "ClientHello: no key change (%zu marks)", nm);

	tls_write_bytes(&sout, "junk", 4); /* marks count from where out ended */
	size_t n = cout.len;
	int rc = tls_conn_handshake(sv, &sout, cout.base, &n);
	tls_buf_consume(&sout, 4);
	nm = tls_conn_out_epochs(sv, m, TLS_MAX_OUT_EPOCHS);
	test_ok(rc == TLS_WANT_INPUT && nm == 2 && m[0].epoch == TLS_EPOCH_HANDSHAKE &&
			m[1].epoch == TLS_EPOCH_APPLICATION && m[1].offset == sout.len &&
			split_at(&sout, m[0].offset),
		"server flight: handshake key after ServerHello (at %zu), application key at its "
		"end (%zu of %zu)", nm ? m[0].offset : 0, nm > 1 ? m[1].offset : 0, sout.len);

	tls_buf_reset(&cout);
	n = sout.len;
	rc = tls_conn_handshake(cl, &cout, sout.base, &n);
	nm = tls_conn_out_epochs(cl, m, TLS_MAX_OUT_EPOCHS);
	test_ok(rc == 0 && nm == 2 && m[0].epoch == TLS_EPOCH_HANDSHAKE && m[0].offset == 0 &&
			m[1].epoch == TLS_EPOCH_APPLICATION && m[1].offset == cout.len,
		"client flight: handshake key from its start (compat CCS aside), application "
		"key at its end (%zu marks)", nm);

	tls_buf_reset(&sout);
	n = cout.len;
	rc = tls_conn_handshake(sv, &sout, cout.base, &n);
	nm = tls_conn_out_epochs(sv, m, TLS_MAX_OUT_EPOCHS);
	test_ok(rc == 0 && nm == 0 && sout.len > 0,
		"server's tickets: no key change, all under the application key (%zu bytes)",
		sout.len);

	tls_buf_reset(&sout);
	tls_conn_key_update(sv, &sout, false);
	nm = tls_conn_out_epochs(sv, m, TLS_MAX_OUT_EPOCHS);
	test_ok(nm == 1 && m[0].epoch == TLS_EPOCH_APPLICATION + 1 && m[0].offset == sout.len,
		"KeyUpdate: the next key starts after the KeyUpdate record");
	tls_conn_free(sv);
	tls_conn_free(cl);
	tls_buf_free(&cout);
	tls_buf_free(&sout);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* ---- alerts: sent by the application, and after a failing record ---- */

static int failing_signer(void *ctx, uint16_t scheme, const uint8_t *msg, size_t len,
			  tls_buf *sig)
{
	return -1;
}

static bool is_plain_alert(const tls_buf *b, int alert)
{
	static const uint8_t head[] = { 21, 3, 3, 0, 2, 2 };
	return b->len == 7 && !memcmp(b->base, head, sizeof(head)) && b->base[6] == alert;
}

static void alerts(void)
{
	/* the server's signature fails: its ServerHello goes back, the alert
	 * is all the client gets, in the clear */
	tls_config *scfg = test_server_config(&pki), *ccfg = test_client_config(&pki);
	tls_config_set_signer(scfg, failing_signer, NULL);
	tls_conn *sv = tls_conn_new(scfg), *cl = client_conn(ccfg);
	tls_buf cout, sout;
	tls_buf_init(&cout, 0);
	tls_buf_init(&sout, 0);
	tls_conn_handshake(cl, &cout, NULL, NULL);
	size_t n = cout.len;
	int rc = tls_conn_handshake(sv, &sout, cout.base, &n);
	test_ok(rc == TLS_ERR_LOCAL(TLS_ALERT_INTERNAL_ERROR) &&
			is_plain_alert(&sout, TLS_ALERT_INTERNAL_ERROR),
		"signing fails: the flight is taken back, a plaintext internal_error alone "
		"(%d, %zu bytes)", rc, sout.len);
	n = sout.len;
	tls_buf_reset(&cout);
	rc = tls_conn_handshake(cl, &cout, sout.base, &n);
	test_ok(rc == TLS_ERR_PEER(TLS_ALERT_INTERNAL_ERROR),
		"the client reads that alert (%d: %s)", rc, tls_conn_error(cl));
	tls_conn_free(sv);
	tls_conn_free(cl);
	tls_config_free(scfg);

	/* tls_conn_send_alert before any key, under handshake keys, after */
	scfg = test_server_config(&pki);
	sv = tls_conn_new(scfg);
	cl = client_conn(ccfg);
	tls_buf_reset(&cout);
	tls_buf_reset(&sout);
	rc = tls_conn_send_alert(cl, &cout, TLS_ALERT_USER_CANCELED);
	test_ok(rc == TLS_ERR_LOCAL(TLS_ALERT_USER_CANCELED) &&
			is_plain_alert(&cout, TLS_ALERT_USER_CANCELED),
		"send_alert before the first flight: a plaintext alert");
	tls_buf_reset(&cout);
	rc = tls_conn_handshake(cl, &cout, NULL, NULL);
	test_ok(rc == TLS_ERR_LOCAL(TLS_ALERT_USER_CANCELED) && cout.len == 0,
		"and the connection is over (%d)", rc);
	tls_conn_free(cl);

	cl = client_conn(ccfg);
	tls_buf_reset(&cout);
	tls_conn_handshake(cl, &cout, NULL, NULL);
	n = cout.len;
	tls_conn_handshake(sv, &sout, cout.base, &n);
	size_t flight = sout.len;
	rc = tls_conn_send_alert(sv, &sout, TLS_ALERT_ACCESS_DENIED);
	n = sout.len;
	tls_buf_reset(&cout);
	/* the flight completes the client's handshake; the alert follows it */
	int crc = tls_conn_handshake(cl, &cout, sout.base, &n);
	tls_buf plain;
	tls_buf_init(&plain, 0);
	size_t rest = sout.len - n;
	int rrc = tls_conn_recv(cl, &cout, &plain, sout.base + n, &rest);
	test_ok(rc == TLS_ERR_LOCAL(TLS_ALERT_ACCESS_DENIED) && sout.len > flight &&
			sout.base[flight] == 23 && crc == 0 &&
			rrc == TLS_ERR_PEER(TLS_ALERT_ACCESS_DENIED),
		"send_alert after the server flight: under its application key (0.5-RTT), the "
		"client reads it (%d/%d: %s)", crc, rrc, tls_conn_error(cl));
	tls_conn_free(sv);
	tls_conn_free(cl);

	sv = tls_conn_new(scfg);
	cl = client_conn(ccfg);
	tls_buf_reset(&cout);
	tls_buf_reset(&sout);
	tls_conn_handshake(cl, &cout, NULL, NULL);
	n = cout.len;
	tls_conn_handshake(sv, &sout, cout.base, &n);
	n = sout.len;
	tls_buf_reset(&cout);
	tls_conn_handshake(cl, &cout, sout.base, &n);
	n = cout.len;
	tls_buf_reset(&sout);
	rc = tls_conn_handshake(sv, &sout, cout.base, &n); /* its tickets stay in sout */
	int arc = tls_conn_send_alert(sv, &sout, TLS_ALERT_INTERNAL_ERROR);
	tls_buf_reset(&plain);
	n = sout.len;
	tls_buf_reset(&cout);
	crc = tls_conn_recv(cl, &cout, &plain, sout.base, &n);
	test_ok(rc == 0 && arc == TLS_ERR_LOCAL(TLS_ALERT_INTERNAL_ERROR) &&
			crc == TLS_ERR_PEER(TLS_ALERT_INTERNAL_ERROR),
		"send_alert after the handshake: under the application key (%d: %s)", crc,
		tls_conn_error(cl));
	n = sout.len;
	tls_buf_reset(&sout);
	test_ok(tls_conn_send(sv, &sout, "x", 1) < 0 && sout.len == 0,
		"nothing is sent after it");
	tls_buf_free(&plain);
	tls_conn_free(sv);
	tls_conn_free(cl);
	tls_buf_free(&cout);
	tls_buf_free(&sout);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

int main(void)
{
	test_pki_make(&pki, TESTKEY_P256, "server.test", 0);
	exact_reads();
	out_epochs();
	alerts();
	test_pki_free(&pki);
	return test_done();
}
