/* The record layer of the engine: framing of received records (whole
 * records only), decryption in place, the middlebox-compatibility CCS,
 * alerts, handshake message reassembly across records, and writing records
 * (plaintext before keys, protected after, split at the peer's limit). */
#include "tls/engine.h"

#include <string.h>

#include <openssl/crypto.h>

#define ALERT_LEVEL_FATAL 2

void tls_rl_write_plain(tls_buf *out, uint8_t type, uint16_t version, const uint8_t *data,
			size_t len)
{
	do {
		size_t n = len > TLS_MAX_PLAINTEXT ? TLS_MAX_PLAINTEXT : len;
		tls_write_u8(out, type);
		tls_write_u16(out, version);
		tls_write_u16(out, (uint16_t)n);
		tls_write_bytes(out, data, n);
		data += n;
		len -= n;
	} while (len);
}

int tls_rl_write_sealed(tls_conn *c, tls_buf *out, uint8_t type, const uint8_t *data, size_t len)
{
	size_t max = c->peer_limit ? c->peer_limit : TLS_MAX_PLAINTEXT;
	do {
		size_t n = len > max ? max : len;
		if (tls_record_seal(&c->tx, type, data, n, 0, out) != 0)
			return -1;
		data += n;
		len -= n;
	} while (len);
	return 0;
}

int tls_rl_write(tls_conn *c, tls_buf *out, uint8_t type, const uint8_t *data, size_t len)
{
	if (c->tx_on)
		return tls_rl_write_sealed(c, out, type, data, len);
	tls_rl_write_plain(out, type, 0x0303, data, len);
	return out->err ? -1 : 0;
}

/* RFC 8446 §D.4: at most one, right after our first hello flight. */
void tls_rl_send_ccs(tls_conn *c, tls_buf *out)
{
	static const uint8_t one = 1;
	if (c->ccs_sent)
		return;
	c->ccs_sent = true;
	tls_rl_write_plain(out, TLS_CT_CCS, 0x0303, &one, 1);
}

int tls_rl_frame(tls_conn *c, tls_buf *out, const uint8_t *in, size_t len, size_t *rec_len)
{
	if (len < TLS_RECORD_HEADER)
		return TLS_WANT_INPUT;
	tls_reader r = tls_reader_init(in, len);
	uint8_t type = tls_read_u8(&r);
	tls_read_u16(&r); /* legacy_record_version: MUST be ignored (§5.1) */
	uint16_t n = tls_read_u16(&r);
	if (type < TLS_CT_CCS || type > TLS_CT_APPDATA)
		return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE, "unknown record type %u", type);
	if (type == TLS_CT_APPDATA ? n > TLS_MAX_CIPHERTEXT : n > TLS_MAX_PLAINTEXT)
		return tls_fail(c, out, TLS_ALERT_RECORD_OVERFLOW, "record too long (%u bytes)", n);
	/* RFC 8449: the inner plaintext (content + type + padding) of a
	 * protected record stays within the limit we announced. Not for 0-RTT
	 * (§4): the client sent it before it could see our limit. */
	if (type == TLS_CT_APPDATA && c->rx_on && c->rx_limit && c->rx_epoch != TLS_EPOCH_EARLY &&
	    n > c->rx_limit + TLS_TAG_LEN)
		return tls_fail(c, out, TLS_ALERT_RECORD_OVERFLOW,
				"record over our record_size_limit (%u bytes)", n);
	if (len - TLS_RECORD_HEADER < n)
		return TLS_WANT_INPUT;
	*rec_len = TLS_RECORD_HEADER + (size_t)n;
	return 0;
}

static int peer_alert(tls_conn *c, tls_buf *out, tls_reader body)
{
	uint8_t level = tls_read_u8(&body);
	uint8_t desc = tls_read_u8(&body);
	if (!tls_reader_done(&body))
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed alert");
	/* user_canceled is followed by close_notify; nothing else is a warning
	 * in TLS 1.3 (§6). */
	if (desc == TLS_ALERT_USER_CANCELED && level != ALERT_LEVEL_FATAL)
		return 0;
	return tls_fail_peer(c, desc);
}

/* An alert record's plaintext (at most its first 2 bytes in a): exactly
 * one alert, the same answer under any key. */
static int protected_alert(tls_conn *c, tls_buf *out, const uint8_t a[2], size_t plen)
{
	if (plen == 0)
		return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE, "empty alert record");
	if (plen != 2)
		return tls_fail(c, out, TLS_ALERT_DECODE_ERROR, "malformed alert");
	return peer_alert(c, out, tls_reader_init(a, 2));
}

/* Hands every complete handshake message in the reassembly buffer to the
 * state machine. A message after one that changed keys (or finished our
 * handshake) in the same record was protected under the wrong key. */
static int process_messages(tls_conn *c, tls_buf *out)
{
	size_t off = 0;
	int rc = 0;
	while (c->hs.len - off >= 4) {
		tls_reader r = tls_reader_init(c->hs.base + off, c->hs.len - off);
		uint8_t type = tls_read_u8(&r);
		uint32_t mlen = tls_read_u24(&r);
		if (mlen > c->cfg->max_handshake) {
			rc = tls_fail(c, out, TLS_ALERT_ILLEGAL_PARAMETER,
				      "handshake message too large (%u bytes)", mlen);
			break;
		}
		if (r.left < mlen)
			break;
		tls_reader body = tls_read_sub(&r, mlen);
		const uint8_t *msg = c->hs.base + off;
		bool was_done = c->state == TLS_ST_DONE;
		off += 4 + (size_t)mlen;
		c->key_change = false;
		if (was_done)
			rc = tls_post_handshake_handle(c, out, type, &body);
		else if (c->role == TLS_SERVER)
			rc = tls_server_handle(c, out, type, &body, msg, 4 + (size_t)mlen);
		else
			rc = tls_client_handle(c, out, type, &body, msg, 4 + (size_t)mlen);
		if (rc)
			break;
		if ((c->key_change || (!was_done && c->state == TLS_ST_DONE)) && off != c->hs.len) {
			rc = tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE,
				      "handshake message spans a key change");
			break;
		}
	}
	if (rc) {
		tls_buf_free(&c->hs);
		return rc;
	}
	tls_buf_consume(&c->hs, off);
	if (c->hs.len == 0)
		tls_buf_free(&c->hs); /* most of the time nothing is pending: give it back */
	return 0;
}

/* Decrypts the record at the end of dst (copied there) in place; leaves the
 * plaintext at `start`. Returns 0 with *type, or an error. */
static int open_into(tls_conn *c, tls_buf *out, tls_buf *dst, const uint8_t *rec, size_t len,
		     uint8_t *type, size_t *plen, bool *skipped)
{
	size_t start = dst->len;
	uint8_t *p = tls_buf_reserve(dst, len);
	if (!p)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "out of memory");
	memcpy(p, rec, len);
	uint8_t *data;
	size_t dlen;
	int rc = tls_record_open(&c->rx, p, len, type, &data, &dlen);
	if (rc == -1 && skipped && c->skip_early >= len) {
		/* Rejected 0-RTT: skip by trial decryption (§4.2.10). */
		c->skip_early -= len;
		*skipped = true;
		return 0;
	}
	if (rc == -1)
		return tls_fail(c, out, TLS_ALERT_BAD_RECORD_MAC, "record failed to decrypt");
	if (rc == -2)
		return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE, "record without content type");
	if (rc)
		return tls_fail(c, out, TLS_ALERT_RECORD_OVERFLOW, "record plaintext too long");
	memmove(dst->base + start, data, dlen);
	dst->len = start + dlen;
	*plen = dlen;
	return 0;
}

/* Accepted 0-RTT: handed over unconfirmed, within max_early_data (§4.2.10). */
static int early_record(tls_conn *c, tls_buf *out, uint8_t *data, size_t len, size_t start)
{
	int rc = 0;
	if (len > c->early_max - c->early_got)
		rc = tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE,
			      "early data over max_early_data (%u)", c->early_max);
	if (rc == 0 && len) {
		c->early_got += (uint32_t)len;
		if (c->cb.early_data)
			c->cb.early_data(c->cb_ctx, data, len);
	}
	OPENSSL_cleanse(data, len);
	c->hs.len = start;
	return rc;
}

int tls_rl_handshake_record(tls_conn *c, tls_buf *out, const uint8_t *rec, size_t len)
{
	tls_reader r = tls_reader_init(rec, len);
	uint8_t type = tls_read_u8(&r);
	tls_read_bytes(&r, TLS_RECORD_HEADER - 1);
	tls_reader body = r; /* tls_rl_frame checked the length */
	size_t blen = body.left;

	/* §5.1: nothing may come between the fragments of one message (a
	 * protected record's real type is checked once it is open) */
	if (c->hs.len && type != TLS_CT_HANDSHAKE && !(type == TLS_CT_APPDATA && c->rx_on))
		return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE,
				"record type %u inside a fragmented handshake message", type);
	switch (type) {
	case TLS_CT_CCS:
		if (!c->ccs_ok || c->ccs_seen || blen != 1 || tls_read_u8(&body) != 1)
			return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE,
					"unexpected change_cipher_spec");
		c->ccs_seen = true;
		return 0;
	case TLS_CT_ALERT:
		/* A peer that cannot read our protected flight may still tell us
		 * why in the clear; the connection is over either way. */
		if (blen == 0)
			return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE, "empty alert record");
		return peer_alert(c, out, body);
	case TLS_CT_HANDSHAKE:
		if (c->rx_on)
			return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE,
					"plaintext handshake record after keys were set");
		if (blen == 0)
			return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE,
					"empty handshake record");
		tls_write_bytes(&c->hs, body.p, blen);
		if (c->hs.err)
			return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "out of memory");
		return process_messages(c, out);
	default:
		break;
	}
	if (!c->rx_on && type == TLS_CT_APPDATA && c->skip_early) {
		/* 0-RTT after a HelloRetryRequest: skipped unread (§4.2.10) */
		if (len > c->skip_early)
			return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE,
					"too much rejected early data");
		c->skip_early -= len;
		return 0;
	}
	if (!c->rx_on)
		return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE,
				"protected record before keys were set");
	uint8_t inner;
	size_t plen = 0;
	bool skipped = false;
	size_t start = c->hs.len;
	int rc = open_into(c, out, &c->hs, rec, len, &inner, &plen, &skipped);
	if (rc)
		return rc;
	if ((skipped || inner != TLS_CT_HANDSHAKE) && start != 0) {
		c->hs.len = start;
		return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE,
				"record type %u inside a fragmented handshake message",
				skipped ? TLS_CT_APPDATA : inner);
	}
	if (skipped) {
		c->hs.len = start;
		return 0;
	}
	c->skip_early = 0; /* the first authentic record ends the 0-RTT window */
	if (inner == TLS_CT_APPDATA && c->role == TLS_SERVER && c->state == TLS_ST_SRV_WAIT_EOED)
		return early_record(c, out, c->hs.base + start, plen, start);
	switch (inner) {
	case TLS_CT_HANDSHAKE:
		if (plen == 0)
			return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE, "empty handshake record");
		return process_messages(c, out);
	case TLS_CT_ALERT: {
		uint8_t a[2] = { 0, 0 };
		if (plen == 2)
			memcpy(a, c->hs.base + start, 2);
		c->hs.len = start;
		return protected_alert(c, out, a, plen);
	}
	default:
		c->hs.len = start;
		return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE,
				"record type %u during the handshake", inner);
	}
}

int tls_rl_app_record(tls_conn *c, tls_buf *out, tls_buf *plain, const uint8_t *rec, size_t len)
{
	tls_reader hdr = tls_reader_init(rec, len);
	uint8_t outer = tls_read_u8(&hdr);
	if (outer != TLS_CT_APPDATA)
		return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE,
				"unprotected record type %u after the handshake", outer);
	size_t start = plain->len;
	uint8_t inner;
	size_t plen = 0;
	int rc = open_into(c, out, plain, rec, len, &inner, &plen, NULL);
	if (rc)
		return rc;
	if (inner != TLS_CT_HANDSHAKE && c->hs.len) {
		plain->len = start;
		return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE,
				"record type %u inside a fragmented handshake message", inner);
	}
	if (inner == TLS_CT_APPDATA)
		return 0;
	uint8_t a[2] = { 0, 0 };
	switch (inner) {
	case TLS_CT_HANDSHAKE:
		if (plen == 0) {
			plain->len = start;
			return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE, "empty handshake record");
		}
		tls_write_bytes(&c->hs, plain->base + start, plen);
		OPENSSL_cleanse(plain->base + start, plen);
		plain->len = start;
		if (c->hs.err)
			return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "out of memory");
		return process_messages(c, out);
	case TLS_CT_ALERT:
		if (plen == 2)
			memcpy(a, plain->base + start, 2);
		plain->len = start;
		if (plen == 2 && a[1] == TLS_ALERT_CLOSE_NOTIFY) {
			c->result = TLS_CLOSED;
			snprintf(c->err, sizeof(c->err), "peer closed the connection");
			return TLS_CLOSED;
		}
		return protected_alert(c, out, a, plen);
	default:
		plain->len = start;
		return tls_fail(c, out, TLS_ALERT_UNEXPECTED_MESSAGE,
				"record type %u after the handshake", inner);
	}
}
