/* libFuzzer: tls_post_decode, the post-handshake object a daemon hands to
 * an application (the input is the encoding, no header byte). What decodes
 * must re-encode to exactly the input (one encoding per object), answer
 * its accessors, and survive what an application does with it: the
 * exporter, KeyUpdate both ways (then encode/decode again), a ticket body
 * for a client, a refused ticket build for a server (a decoded server has
 * no resumption secret). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static tls_config *scfg;
	if (!scfg)
		scfg = fuzz_server_config();
	tls_post *p = tls_post_decode(data, size);
	if (!p)
		return 0;
	tls_buf b;
	tls_buf_init(&b, 0);
	fuzz_check(tls_post_encode(p, &b) == 0 && b.len == size && !memcmp(b.base, data, size),
		   "a decoded tls_post re-encodes to its input");

	uint8_t secret[TLS_MAX_HASH], out[64], msg[TLS_KEY_UPDATE_MSG_LEN];
	size_t len = sizeof(secret);
	uint64_t seq = 0;
	const tls_cipher *cs = tls_cipher_find(tls_post_cipher(p));
	fuzz_check(cs && tls_post_traffic(p, TLS_DIR_RX, secret, &len, &seq) == 0 &&
		   len == cs->hash_len, "traffic secret of a decoded tls_post");
	fuzz_check(tls_post_export(p, "EXPORTER-fuzz", data, size > 16 ? 16 : size, out,
				   sizeof(out)) == 0, "exporter of a decoded tls_post");
	const uint8_t *subj = NULL;
	size_t subj_len = 0;
	if (tls_post_peer_id(p, NULL, &subj, &subj_len))
		fuzz_check(subj && subj_len > 0, "peer identity with a subject");
	(void)tls_post_server_name(p), (void)tls_post_alpn(p), (void)tls_post_resumed(p);

	/* KeyUpdate both ways (refused only at the last epoch, changing
	 * nothing), then the object still round-trips */
	bool req = false, moved = tls_post_key_update_send(p, true, msg) == 0;
	if (moved) {
		tls_reader r = tls_reader_init(msg, sizeof(msg));
		tls_read_u8(&r);
		tls_reader body = tls_read_vec24(&r, 1, 1);
		int a = tls_post_key_update_recv(p, body.p, body.left, &req);
		fuzz_check(tls_reader_done(&r) && ((a == 0 && req) || a == TLS_ALERT_INTERNAL_ERROR),
			   "KeyUpdate read");
	} else {
		tls_buf_reset(&b);
		fuzz_check(tls_post_encode(p, &b) == 0 && b.len == size && !memcmp(b.base, data, size),
			   "a refused KeyUpdate changes nothing");
	}
	tls_buf_reset(&b);
	fuzz_check(tls_post_encode(p, &b) == 0, "encode after KeyUpdate");
	tls_post *q = tls_post_decode(b.base, b.len);
	fuzz_check(q && tls_post_traffic(q, TLS_DIR_TX, secret, &len, &seq) == 0 &&
		   (seq == 0 || !moved), "decode after KeyUpdate");
	tls_post_free(q);

	/* the tail of the input as a NewSessionTicket body */
	tls_buf sess;
	tls_buf_init(&sess, 0);
	tls_reader tail = tls_reader_init(data, size);
	tls_read_bytes(&tail, size / 2);
	int a = tls_post_ticket_recv(p, tail.p, tail.left, FUZZ_NOW_MS, &sess);
	fuzz_check(tls_post_role(p) == TLS_CLIENT || a == TLS_ALERT_UNEXPECTED_MESSAGE,
		   "a server refuses NewSessionTicket");
	if (a == 0 && sess.len) {
		tls_session *s = tls_session_decode(sess.base, sess.len);
		fuzz_check(s != NULL, "a ticket becomes a session that decodes");
		tls_session_free(s);
	}
	tls_buf_reset(&sess);
	fuzz_check(tls_post_ticket_send(p, scfg, &sess) == -1 && sess.len == 0,
		   "no ticket from a decoded tls_post");
	tls_buf_free(&sess);
	tls_buf_free(&b);
	tls_post_free(p);
	return 0;
}
