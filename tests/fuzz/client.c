/* libFuzzer: a client connection that has sent its (fixed) ClientHello
 * gets arbitrary bytes as the server's answer (ServerHello/HRR, the
 * encrypted flight, then NewSessionTicket/KeyUpdate/data records). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static tls_config *cfg;
	if (!cfg)
		cfg = fuzz_client_config();
	size_t cut[3], k;
	data = fuzz_splits(data, &size, cut, &k);
	tls_conn *c = tls_conn_new(cfg);
	if (!c)
		return 0;
	fuzz_fix_client(c);
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
