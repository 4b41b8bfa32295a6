/* libFuzzer: a client that offered a PSK gets arbitrary bytes as the
 * server's answer: ServerHello selecting (or not) the PSK, EncryptedExtensions
 * accepting or ignoring early_data, Finished without Certificate, then
 * NewSessionTicket (the session callback runs) and other records.
 * Byte 0 & 4 picks the offer: clear, the fixed ticket (fuzz.h) with 0-RTT
 * data sent behind the ClientHello; set, the external PSK. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void got_session(void *ctx, const tls_session *s)
{
	(void)ctx;
	tls_buf b;
	tls_buf_init(&b, 0);
	fuzz_check(tls_session_encode(s, &b) == 0, "a received session encodes");
	tls_session *d = tls_session_decode(b.base, b.len);
	fuzz_check(d && d->ticket_len == s->ticket_len &&
		   memcmp(d->ticket, s->ticket, s->ticket_len) == 0 &&
		   d->max_early_data == s->max_early_data, "a received session round-trips");
	tls_session_free(d);
	tls_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static tls_config *ticket_cfg, *ext_cfg;
	static tls_session *session;
	if (!ticket_cfg) {
		ticket_cfg = fuzz_client_config();
		tls_config_set_clock(ticket_cfg, fuzz_clock, NULL);
		tls_config_set_psk_modes(ticket_cfg, TLS_PSK_MODE_KE | TLS_PSK_MODE_DHE_KE);
		ext_cfg = fuzz_client_extpsk_config();
		session = fuzz_session();
	}
	bool ext = size && (data[0] & 4);
	size_t cut[3], k;
	data = fuzz_splits(data, &size, cut, &k);
	tls_conn *c = tls_conn_new(ext ? ext_cfg : ticket_cfg);
	if (!c)
		return 0;
	fuzz_fix_client(c);
	const tls_callbacks cb = { .session = got_session };
	tls_conn_set_callbacks(c, &cb, NULL);
	if (!ext) {
		tls_session *s = tls_session_dup(session); /* set_session marks it used */
		if (!s || tls_conn_set_session(c, s) ||
		    tls_conn_set_early_data(c, fuzz_early_data, sizeof(fuzz_early_data) - 1))
			fuzz_die("offering the session");
		tls_session_free(s);
	}
	tls_buf out;
	tls_buf_init(&out, 0);
	size_t zero = 0;
	int rc = tls_conn_handshake(c, &out, (const uint8_t *)"", &zero);
	fuzz_check(rc == TLS_WANT_INPUT && out.len > 0, "client did not send its ClientHello");
	tls_buf_free(&out);
	fuzz_feed(c, data, size, cut, k);
	tls_conn_free(c);
	return 0;
}
