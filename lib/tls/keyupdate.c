/* KeyUpdate message codec and next-key derivation, shared by the engine
 * (post.c) and the client library that re-keys kTLS sockets. */
#include "tls/keyupdate.h"

#include "tls/engine.h"

void tls_key_update_build(uint8_t out[TLS_KEY_UPDATE_MSG_LEN], bool request_peer)
{
	out[0] = TLS_HS_KEY_UPDATE;
	tls_store_u24(out + 1, 1);
	out[4] = request_peer ? 1 : 0;
}

int tls_key_update_parse_body(const uint8_t *body, size_t len, bool *request_peer)
{
	tls_reader r = tls_reader_init(body, len);
	uint8_t req = tls_read_u8(&r);
	if (!tls_reader_done(&r))
		return TLS_ALERT_DECODE_ERROR;
	if (req > 1)
		return TLS_ALERT_ILLEGAL_PARAMETER;
	*request_peer = req == 1;
	return 0;
}

int tls_key_update_parse(const uint8_t *msg, size_t len, bool *request_peer)
{
	tls_reader r = tls_reader_init(msg, len);
	uint8_t type = tls_read_u8(&r);
	tls_reader body = tls_read_vec24(&r, 0, 0xffffff);
	if (r.err || !tls_reader_done(&r))
		return TLS_ALERT_DECODE_ERROR;
	if (type != TLS_HS_KEY_UPDATE)
		return TLS_ALERT_UNEXPECTED_MESSAGE;
	return tls_key_update_parse_body(body.p, body.left, request_peer);
}
