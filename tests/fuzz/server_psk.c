/* libFuzzer: a server with resumption, external PSKs and 0-RTT on (fixed
 * STEK ring, fixed clock, anti-replay recorder, external PSK identity; see
 * fuzz.h) gets arbitrary client bytes: pre_shared_key offers (ticket
 * opening, identity lookup, binder verification), early data records
 * (decryption, the size cap, skipping rejected 0-RTT), EndOfEarlyData, the
 * client's Finished, then the record layer after tickets were sent.
 * Byte 0 & 4: the recorder has seen the ClientHello already (a replay). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t early_sink;

static void early_data(void *ctx, const uint8_t *p, size_t n)
{
	size_t *total = ctx;
	/* read every byte: the sanitizers check the range handed out */
	uint8_t x = 0;
	for (size_t i = 0; i < n; i++)
		x ^= p[i];
	early_sink = x;
	*total += n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static tls_config *cfg;
	static tls_stek_ring *ring;
	static struct fuzz_replay ar;
	if (!cfg) {
		ring = fuzz_stek_ring();
		cfg = fuzz_server_psk_config(ring, &ar);
	}
	fuzz_replay_reset(&ar, size && (data[0] & 4));
	size_t cut[3], k;
	data = fuzz_splits(data, &size, cut, &k);
	tls_conn *c = tls_conn_new(cfg);
	if (!c)
		return 0;
	fuzz_fix_server(c);
	size_t early = 0;
	const tls_callbacks cb = { .early_data = early_data };
	tls_conn_set_callbacks(c, &cb, &early);
	fuzz_feed(c, data, size, cut, k);
	fuzz_check(early <= FUZZ_EARLY_MAX, "more 0-RTT data delivered than max_early_data");
	if (tls_conn_handshake_done(c)) {
		const tls_params *p = tls_conn_params(c);
		fuzz_check(!early || p->early_data == TLS_EARLY_ACCEPTED,
			   "0-RTT data delivered but not accepted");
		fuzz_check(p->early_data != TLS_EARLY_ACCEPTED || p->resumed,
			   "0-RTT accepted without resumption");
	}
	tls_conn_free(c);
	return 0;
}
