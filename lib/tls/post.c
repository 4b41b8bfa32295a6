/* After the handshake: application data in userspace records, KeyUpdate
 * (§4.6.3, also when a key nears its §5.5 limit), NewSessionTicket
 * (§4.6.1, psk.c), close_notify. */
#include "tls/aead_limits.h"
#include "tls/engine.h"
#include "tls/keyupdate.h"

#include <string.h>

#include <openssl/crypto.h>


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
	uint8_t msg[TLS_KEY_UPDATE_MSG_LEN];
	tls_key_update_build(msg, request);
	if (tls_rl_write_sealed(c, out, TLS_CT_HANDSHAKE, msg, sizeof(msg)) != 0 ||
	    next_secret(c, TLS_DIR_TX) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "KeyUpdate failed");
	return 0;
}

/* The one answer owed to the peer's update_requested, sent before our next
 * record or at the end of the tls_conn_recv call that read the request. */
static int answer_key_update(tls_conn *c, tls_buf *out)
{
	if (!c->ku_pending)
		return 0;
	c->ku_pending = false;
	return send_key_update(c, out, false);
}

int tls_post_handshake_handle(tls_conn *c, tls_buf *out, uint8_t type, tls_reader *body)
{
	if (type == TLS_HS_KEY_UPDATE) {
		bool req = false;
		int alert = tls_key_update_parse_body(body->p, body->left, &req);
		if (alert)
			return tls_fail(c, out, alert, "malformed KeyUpdate");
		if (next_secret(c, TLS_DIR_RX) != 0)
			return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "KeyUpdate failed");
		c->key_change = true;
		/* §4.6.3: however many requests arrive while we are silent, we
		 * answer once (answer_key_update), not once each */
		if (req)
			c->ku_pending = true;
		return 0;
	}
	if (type == TLS_HS_NEW_SESSION_TICKET && c->role == TLS_CLIENT)
		return tls_client_ticket(c, out, body);
	return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE,
			"unexpected post-handshake message %u", type);
}

int tls_conn_send(tls_conn *c, tls_buf *out, const void *data, size_t len)
{
	tls_out_begin(c, out);
	int rc = not_ready(c, false);
	if (rc)
		return rc;
	if ((rc = answer_key_update(c, out)))
		return rc;
	const uint8_t *p = data;
	size_t max = c->peer_limit ? c->peer_limit : TLS_MAX_PLAINTEXT;
	while (len) {
		size_t n = len > max ? max : len;
		/* §5.5: move to a fresh key well before this one's limit */
		if (tls_key_needs_update(c->cs->id, c->tx.seq) && (rc = send_key_update(c, out, false)))
			return rc;
		if (tls_rl_write_sealed(c, out, TLS_CT_APPDATA, p, n) != 0)
			return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "sealing a record failed");
		p += n;
		len -= n;
	}
	return 0;
}

int tls_conn_recv(tls_conn *c, tls_buf *out, tls_buf *plain, const uint8_t *in, size_t *in_len)
{
	size_t avail = *in_len, used = 0;
	*in_len = 0;
	tls_out_begin(c, out);
	int rc = not_ready(c, true);
	if (rc)
		return rc;
	bool any = false;
	for (;;) {
		size_t rec_len = 0;
		tls_out_record(c);
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
	if (c->state == TLS_ST_DONE) {
		int arc = answer_key_update(c, out);
		if (arc)
			return arc;
	}
	if (rc == TLS_WANT_INPUT)
		return any ? 0 : TLS_WANT_INPUT;
	return rc;
}

int tls_conn_key_update(tls_conn *c, tls_buf *out, bool request_peer)
{
	tls_out_begin(c, out);
	int rc = not_ready(c, false);
	if (rc)
		return rc;
	c->ku_pending = false; /* this update answers a pending request too */
	return send_key_update(c, out, request_peer);
}

int tls_conn_close(tls_conn *c, tls_buf *out)
{
	tls_out_begin(c, out);
	if (c->state != TLS_ST_DONE)
		return c->state == TLS_ST_FAILED ? c->result : TLS_ERR_LOCAL(TLS_ALERT_INTERNAL_ERROR);
	static const uint8_t alert[2] = { 1, TLS_ALERT_CLOSE_NOTIFY };
	int rc = answer_key_update(c, out);
	if (rc)
		return rc;
	if (tls_rl_write_sealed(c, out, TLS_CT_ALERT, alert, 2) != 0)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "sealing a record failed");
	return 0;
}
