/* libFuzzer: post-handshake records. Each input runs a real handshake
 * between a fixed client and server, then its bytes describe records the
 * server "sends": chunks of [type][len u16][payload] sealed with the
 * server's application key (type & 0x80: the raw bytes unsealed), fed to
 * the client's record layer (NewSessionTicket, KeyUpdate, alerts, data). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static tls_config *scfg, *ccfg;
	if (!scfg) {
		scfg = fuzz_server_config();
		ccfg = fuzz_client_config();
	}
	tls_conn *cl = tls_conn_new(ccfg), *sv = tls_conn_new(scfg);
	struct fuzz_secret keys = { .dir = TLS_DIR_TX, .epoch = TLS_EPOCH_APPLICATION };
	const tls_callbacks cb = { .secret = fuzz_on_secret };
	tls_conn_set_callbacks(sv, &cb, &keys);
	fuzz_fix_client(cl);
	fuzz_fix_server(sv);
	tls_buf a, b;
	tls_buf_init(&a, 0);
	tls_buf_init(&b, 0);
	size_t n = 0;
	int rc = tls_conn_handshake(cl, &a, (const uint8_t *)"", &n);
	n = a.len;
	rc = rc == TLS_WANT_INPUT ? tls_conn_handshake(sv, &b, a.base, &n) : rc;
	tls_buf_reset(&a);
	n = b.len;
	rc = rc == TLS_WANT_INPUT ? tls_conn_handshake(cl, &a, b.base, &n) : rc;
	tls_buf_reset(&b);
	n = a.len;
	rc = rc == 0 ? tls_conn_handshake(sv, &b, a.base, &n) : rc;
	fuzz_check(rc == 0 && keys.got, "fixed handshake did not complete");

	size_t cut[3], k;
	data = fuzz_splits(data, &size, cut, &k);
	/* The server's NewSessionTicket records come first, as on the wire. */
	tls_buf stream;
	tls_buf_init(&stream, 0);
	if (b.len)
		tls_write_bytes(&stream, b.base, b.len);
	tls_traffic_key key;
	size_t skip = 0;
	/* count the server's records under this key so far */
	tls_reader r = tls_reader_init(b.base, b.len);
	while (r.left >= TLS_RECORD_HEADER) {
		tls_reader h = r;
		tls_read_bytes(&h, 3);
		uint16_t len = tls_read_u16(&h);
		if (!tls_read_bytes(&r, TLS_RECORD_HEADER + (size_t)len))
			break;
		skip++;
	}
	if (tls_traffic_key_init(&key, keys.cs, keys.secret) == 0) {
		key.seq = skip;
		fuzz_chunks(&key, data, size, &stream);
		tls_traffic_key_clear(&key);
	}
	/* split points apply to the generated stream */
	fuzz_recut(cut, k, stream.len);
	fuzz_feed(cl, stream.base, stream.len, cut, k);
	tls_buf_free(&stream);
	tls_buf_free(&a);
	tls_buf_free(&b);
	tls_conn_free(cl);
	tls_conn_free(sv);
	return 0;
}
