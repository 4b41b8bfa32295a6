/* libFuzzer: a client that offered a PSK gets arbitrary bytes as the
 * server's answer: ServerHello selecting (or not) the PSK, EncryptedExtensions
 * accepting or ignoring early_data, Finished without Certificate, then
 * NewSessionTicket (the session callback runs) and other records.
 * Byte 0 & 4 picks the offer: clear, the fixed ticket (fuzz.h) with 0-RTT
 * data sent behind the ClientHello; set, the external PSK. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void got_session(void *ctx, const uint8_t *blob, size_t len)
{
	(void)ctx;
	tls_buf b;
	tls_buf_init(&b, 0);
	tls_session *d = tls_session_decode(blob, len);
	fuzz_check(d != NULL, "a received session decodes");
	fuzz_check(tls_session_encode(d, &b) == 0 && b.len == len && !memcmp(b.base, blob, len),
		   "a received session round-trips");
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
		if (fuzz_set_session(c, session) ||
		    tls_conn_set_early_data(c, fuzz_early_data, sizeof(fuzz_early_data) - 1))
			fuzz_die("offering the session");
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
