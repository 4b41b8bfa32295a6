/* libFuzzer: arbitrary bytes from a "client" into a server connection
 * (ClientHello parsing, HRR, the client's flight, then the record layer). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static tls_config *cfg;
	if (!cfg)
		cfg = fuzz_server_config();
	size_t cut[3], k;
	data = fuzz_splits(data, &size, cut, &k);
	tls_conn *c = tls_conn_new(cfg);
	if (!c)
		return 0;
	fuzz_fix_server(c);
	fuzz_feed(c, data, size, cut, k);
	tls_conn_free(c);
	return 0;
}
