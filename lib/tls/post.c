/* After the handshake: application data in userspace records, KeyUpdate
 * (§4.6.3), NewSessionTicket (§4.6.1, validated then dropped until
 * resumption exists), close_notify. */
#include "tls/engine.h"

#include <string.h>

#include <openssl/crypto.h>

#define MAX_TICKET_LIFETIME 604800u /* seven days (§4.6.1) */

/* After the peer's close_notify we may still send (half-close, §6.1). */
static int not_ready(tls_conn *c, bool receiving)
{
	if (c->state == TLS_ST_FAILED)
		return c->result;
	if (receiving && c->result == TLS_CLOSED)
		return TLS_CLOSED;
	if (c->state != TLS_ST_DONE)
		return TLS_ERR_LOCAL(TLS_ALERT_INTERNAL_ERROR);
	return 0;
}

static int next_secret(tls_conn *c, enum tls_dir dir)
{
	uint8_t next[TLS_MAX_HASH];
	uint8_t *cur = dir == TLS_DIR_RX ? c->rx_secret : c->tx_secret;
	int epoch = (dir == TLS_DIR_RX ? c->rx_epoch : c->tx_epoch) + 1;
	int rc = tls_next_traffic_secret(c->cs, cur, next) || tls_set_secret(c, dir, epoch, next);
	OPENSSL_cleanse(next, sizeof(next));
	return rc ? -1 : 0;
}

static int send_key_update(tls_conn *c, tls_buf *out, bool request)
{
	const uint8_t msg[5] = { TLS_HS_KEY_UPDATE, 0, 0, 1, request ? 1 : 0 };
	if (tls_rl_write_sealed(c, out, TLS_CT_HANDSHAKE, msg, sizeof(msg)) != 0 ||
	    next_secret(c, TLS_DIR_TX) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "KeyUpdate failed");
	return 0;
}

static int handle_ticket(tls_conn *c, tls_buf *out, tls_reader *r)
{
	const char *why = "";
	uint32_t lifetime = tls_read_u32(r);
	tls_read_u32(r); /* ticket_age_add */
	tls_read_vec8(r, 0, 255);
	tls_read_vec16(r, 1, 0xffff);
	tls_reader block = tls_read_vec16(r, 0, 0xfffe);
	if (!tls_reader_done(r))
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed NewSessionTicket");
	if (lifetime > MAX_TICKET_LIFETIME)
		return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER, "ticket lifetime over 7 days");
	tls_exts e;
	int alert = tls_exts_parse(&block, TLS_CTX_NST, 0, &e, &why);
	if (alert)
		return tls_fail(c, out, alert, "NewSessionTicket: %s", why);
	if (tls_exts_has(&e, TLS_XI_EARLY_DATA) && e.body[TLS_XI_EARLY_DATA].left != 4)
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed early_data");
	return 0; /* resumption is not implemented yet: the ticket is dropped */
}

int tls_post_handshake_handle(tls_conn *c, tls_buf *out, uint8_t type, tls_reader *body)
{
	if (type == TLS_HS_KEY_UPDATE) {
		uint8_t req = tls_read_u8(body);
		if (!tls_reader_done(body))
			return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed KeyUpdate");
		if (req > 1)
			return tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER, "bad KeyUpdate request %u", req);
		if (next_secret(c, TLS_DIR_RX) != 0)
			return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "KeyUpdate failed");
		c->key_change = true;
		return req ? send_key_update(c, out, false) : 0;
	}
	if (type == TLS_HS_NEW_SESSION_TICKET && c->role == TLS_CLIENT)
		return handle_ticket(c, out, body);
	return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE,
			"unexpected post-handshake message %u", type);
}

int tls_conn_send(tls_conn *c, tls_buf *out, const void *data, size_t len)
{
	int rc = not_ready(c, false);
	if (rc)
		return rc;
	if (len == 0)
		return 0;
	if (tls_rl_write_sealed(c, out, TLS_CT_APPDATA, data, len) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "sealing a record failed");
	return 0;
}

int tls_conn_recv(tls_conn *c, tls_buf *out, tls_buf *plain, const uint8_t *in, size_t *in_len)
{
	size_t avail = *in_len, used = 0;
	*in_len = 0;
	int rc = not_ready(c, true);
	if (rc)
		return rc;
	bool any = false;
	for (;;) {
		size_t rec_len = 0;
		rc = tls_rl_frame(c, out, in + used, avail - used, &rec_len);
		if (rc)
			break;
		rc = tls_rl_app_record(c, out, plain, in + used, rec_len);
		used += rec_len;
		any = true;
		if (rc)
			break;
	}
	*in_len = used;
	if (rc == TLS_WANT_INPUT)
		return any ? 0 : TLS_WANT_INPUT;
	return rc;
}

int tls_conn_key_update(tls_conn *c, tls_buf *out, bool request_peer)
{
	int rc = not_ready(c, false);
	if (rc)
		return rc;
	return send_key_update(c, out, request_peer);
}

int tls_conn_close(tls_conn *c, tls_buf *out)
{
	if (c->state != TLS_ST_DONE)
		return c->state == TLS_ST_FAILED ? c->result : TLS_ERR_LOCAL(TLS_ALERT_INTERNAL_ERROR);
	static const uint8_t alert[2] = { 1, TLS_ALERT_CLOSE_NOTIFY };
	if (tls_rl_write_sealed(c, out, TLS_CT_ALERT, alert, 2) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "sealing a record failed");
	return 0;
}
