/* libFuzzer: a server that asks for client certificates (required or
 * optional, verified against a CA or not) gets the engine's fixed
 * ClientHello, answers with CertificateRequest, then reads the input as the
 * plaintext of the client's next records, sealed for it with the client
 * handshake key (fuzz.h, "client authentication"): the client's
 * Certificate (chain decoding, extensions, verification), CertificateVerify
 * (scheme, key type, signature), Finished, then the record layer. With the
 * ticket bit the ClientHello also offers the fixed ticket, which holds no
 * client identity: refused when certificates are required, resumed (no
 * CertificateRequest) when they are optional. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t subject_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static tls_config *cfg[4]; /* by (hdr >> 2) & 3: OPTIONAL, NO_VERIFY */
	static tls_stek_ring *ring;
	static tls_buf ch[2];      /* without / with the ticket */
	if (!ring) {
		ring = fuzz_stek_ring();
		for (unsigned i = 0; i < 4; i++)
			cfg[i] = fuzz_mtls_server_config((uint8_t)(i << 2), ring);
		fuzz_mtls_hello(false, &ch[0]);
		fuzz_mtls_hello(true, &ch[1]);
	}
	uint8_t hdr = size ? data[0] : 0;
	size_t cut[3], k;
	data = fuzz_splits(data, &size, cut, &k);
	int rc;
	tls_conn *c = fuzz_mtls_run(cfg[hdr >> 2 & 3], &ch[!!(hdr & FUZZ_MTLS_TICKET)], data, size,
				    cut, k, &rc);
	if (tls_conn_handshake_done(c)) {
		const tls_params *p = tls_conn_params(c);
		fuzz_check(p->client_id || (hdr & FUZZ_MTLS_OPTIONAL),
			   "client certificate required, handshake done without a client identity");
		fuzz_check(!p->resumed || (hdr & FUZZ_MTLS_TICKET), "resumed without a ticket");
		fuzz_check(!p->client_id || p->resumed || (p->peer_chain && p->peer_chain->n),
			   "a client identity without a client certificate");
		/* read every byte: the sanitizers check the range handed out */
		uint8_t x = 0;
		for (size_t i = 0; p->client_id && i < p->client_subject_len; i++)
			x ^= p->client_subject[i];
		subject_sink = x;
	}
	tls_conn_free(c);
	return 0;
}
