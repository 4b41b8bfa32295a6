/* libhandshake after the hand-back: the kernel holds the record keys, we
 * read with a control-message buffer (ktls_recv_record) so alerts and
 * post-handshake messages come to us, and follow KeyUpdates with re-keys
 * (Linux >= 6.14). On older kernels a peer's KeyUpdate cannot be followed:
 * we say so and close with an alert rather than let the next record fail
 * to decrypt. The same logic as tests/peer/ktls_io.c, on a tls_post. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>

#include <openssl/crypto.h>

#include "hs_conn.h"
#include "ktls.h"

/* How long a fatal alert may wait for room on a full non-blocking socket. */
#define ALERT_WAIT_MS 200

/* A fatal alert (or close_notify) through the kernel, at most once. The
 * connection ends with it, so a full non-blocking socket gets a short
 * wait for room rather than the alert silently dropped. */
static void send_alert(hs_conn *c, uint8_t level, uint8_t desc)
{
	uint8_t a[2] = { level, desc };
	struct pollfd p = { .fd = c->fd, .events = POLLOUT };
	size_t sent = 0;

	if (c->tx_done)
		return;
	c->tx_done = true;
	if (ktls_send_record(c->fd, KTLS_CT_ALERT, a, sizeof(a), &sent) == KTLS_E_AGAIN && sent == 0 &&
	    poll(&p, 1, ALERT_WAIT_MS) == 1)
		ktls_send_record(c->fd, KTLS_CT_ALERT, a, sizeof(a), NULL);
}

int hs_conn_alert(hs_conn *c, int alert, int e, const char *why)
{
	send_alert(c, 2, (uint8_t)alert);
	hs_conn_fail(c, HS_R_ALERT_SENT, e, "alert %s sent: %s", tls_alert_name(alert), why);
	c->err.alert = alert;
	return -1;
}

static int ktls_failed(hs_conn *c, enum ktls_err e, const char *what)
{
	char t[160];
	int err = errno ? errno : EIO;
	return hs_conn_fail(c, HS_R_SYSTEM, err, "%s: %s", what, ktls_error_text(e, errno, t, sizeof(t)));
}

static int rekey_refused(hs_conn *c)
{
	struct utsname u;

	uname(&u);
	send_alert(c, 2, TLS_ALERT_INTERNAL_ERROR);
	hs_conn_fail(c, HS_R_REKEY_UNSUPPORTED, EOPNOTSUPP,
		     "peer KeyUpdate refused: TLS 1.3 rekey needs Linux 6.14 (running %s)", u.release);
	c->err.alert = TLS_ALERT_INTERNAL_ERROR;
	return -1;
}

/* Our KeyUpdate through the kernel, then TX on the next secret. On a
 * refusal with nothing sent the tls_post is put back as it was. */
static int tx_key_update(hs_conn *c, bool request_peer)
{
	uint8_t msg[TLS_KEY_UPDATE_MSG_LEN], next[TLS_MAX_SECRET];
	size_t len = sizeof(next);
	tls_buf snap;
	enum ktls_err e;
	int r = -1;

	if (!ktls_rekey_supported()) {
		struct utsname u;
		uname(&u);
		return hs_fail(&c->err, HS_R_REKEY_UNSUPPORTED, EOPNOTSUPP,
			       "KeyUpdate refused: TLS 1.3 rekey needs Linux 6.14 (running %s)", u.release);
	}
	tls_buf_init(&snap, 0);
	if (tls_post_encode(c->post, &snap) != 0 || snap.err ||
	    tls_post_key_update_send(c->post, request_peer, msg) != 0 ||
	    tls_post_traffic(c->post, TLS_DIR_TX, next, &len, NULL) != 0) {
		tls_buf_free(&snap);
		return hs_conn_alert(c, TLS_ALERT_INTERNAL_ERROR, EIO, "KeyUpdate: secret derivation failed");
	}
	e = ktls_key_update_tx(c->fd, c->cs, next, request_peer);
	OPENSSL_cleanse(next, sizeof(next));
	if (e == KTLS_OK) {
		c->info.key_updates_tx++;
		r = 0;
	} else if (e == KTLS_E_REKEY_UNSUPPORTED || e == KTLS_E_AGAIN) {
		/* nothing went out: the connection goes on under the old key */
		tls_post *old = tls_post_decode(snap.base, snap.len);
		int err = e == KTLS_E_AGAIN ? EAGAIN : EOPNOTSUPP;
		if (!old) {
			hs_conn_alert(c, TLS_ALERT_INTERNAL_ERROR, EIO, "KeyUpdate: state lost");
		} else {
			tls_post_free(c->post);
			c->post = old;
			hs_fail(&c->err, e == KTLS_E_AGAIN ? HS_R_SYSTEM : HS_R_REKEY_UNSUPPORTED, err,
				"KeyUpdate: %s", e == KTLS_E_AGAIN ? "socket buffer full, try again"
								   : "TLS 1.3 rekey needs Linux 6.14");
		}
	} else {
		ktls_failed(c, e, "KeyUpdate: TX re-key");
	}
	tls_buf_free(&snap);  /* wipes */
	return r;
}

/* The peer's KeyUpdate (§4.6.3): the next RX secret into the kernel, and
 * ours when it asks. */
/* The KeyUpdate the peer asked for (RFC 8446 §4.6.3: before our next
 * data record). A full socket buffer leaves it owed (hs_tx_pending):
 * -1 with EAGAIN, and the next hs_recv, hs_key_update or
 * hs_rekey_if_needed sends it first. Any other failure is fatal: the
 * peer waits for our answer. */
static int pay_key_update(hs_conn *c)
{
	if (!c->owe_key_update)
		return 0;
	if (tx_key_update(c, false) == 0) {
		c->owe_key_update = false;
		return 0;
	}
	if (errno == EAGAIN && !c->failed)
		return -1;
	c->owe_key_update = false;
	c->failed = true;
	c->failed_errno = errno;
	return -1;
}

bool hs_tx_pending(const hs_conn *c)
{
	return c && c->owe_key_update && !c->failed;
}

static int on_key_update(hs_conn *c, const uint8_t *body, size_t len)
{
	uint8_t next[TLS_MAX_SECRET];
	size_t slen = sizeof(next);
	bool request = false;
	enum ktls_err e;
	int a;

	if ((a = tls_post_key_update_recv(c->post, body, len, &request)) != 0)
		return hs_conn_alert(c, a, EPROTO, "bad KeyUpdate");
	if (!ktls_rekey_supported())
		return rekey_refused(c);
	if (tls_post_traffic(c->post, TLS_DIR_RX, next, &slen, NULL) != 0)
		return hs_conn_alert(c, TLS_ALERT_INTERNAL_ERROR, EIO, "KeyUpdate: no RX secret");
	e = ktls_rekey(c->fd, KTLS_DIR_RX, c->cs, next);
	OPENSSL_cleanse(next, sizeof(next));
	if (e == KTLS_E_REKEY_UNSUPPORTED)
		return rekey_refused(c);
	if (e != KTLS_OK) {
		ktls_failed(c, e, "KeyUpdate: RX re-key");
		send_alert(c, 2, TLS_ALERT_INTERNAL_ERROR);
		return -1;
	}
	c->info.key_updates_rx++;
	/* after our close_notify we send nothing, not even the answer */
	if (request && !c->tx_done) {
		c->owe_key_update = true;
		return pay_key_update(c);
	}
	return 0;
}

/* Client: a NewSessionTicket becomes a session for the daemon's cache. */
static int on_ticket(hs_conn *c, const uint8_t *body, size_t len)
{
	struct timespec now;
	tls_buf blob;
	int a;

	clock_gettime(CLOCK_REALTIME, &now);  /* the engine's ticket clock */
	tls_buf_init(&blob, 0);
	a = tls_post_ticket_recv(c->post, body, len,
				 (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000, &blob);
	if (a == 0 && blob.len && !blob.err)
		hs_store_ticket(c, blob.base, blob.len);
	tls_buf_free(&blob);
	return a ? hs_conn_alert(c, a, EPROTO, "bad NewSessionTicket") : 0;
}

/* Complete handshake messages in c->hs; the record they came in ended
 * (a KeyUpdate must end its record, §5.1). */
static int on_handshake(hs_conn *c)
{
	tls_reader rd = tls_reader_init(c->hs.base, c->hs.len);
	int r = 0;

	while (r == 0 && rd.left >= 4) {
		tls_reader save = rd;
		uint8_t type = tls_read_u8(&rd);
		uint32_t len = tls_read_u24(&rd);
		if (len > rd.left) {
			if (len > HS_MAX_HS_MSG)
				return hs_conn_alert(c, TLS_ALERT_UNEXPECTED_MESSAGE, EPROTO,
						     "post-handshake message too large");
			rd = save;
			break;
		}
		tls_reader body = tls_read_sub(&rd, len);
		switch (type) {
		case KTLS_HS_KEY_UPDATE:
			if (rd.left)
				return hs_conn_alert(c, TLS_ALERT_UNEXPECTED_MESSAGE, EPROTO,
						     "KeyUpdate not at the end of its record");
			r = on_key_update(c, body.p, body.left);
			break;
		case KTLS_HS_NEW_SESSION_TICKET:
			if (c->role != TLS_CLIENT)
				return hs_conn_alert(c, TLS_ALERT_UNEXPECTED_MESSAGE, EPROTO,
						     "NewSessionTicket sent to a server");
			r = on_ticket(c, body.p, body.left);
			break;
		default: {
			char why[64];
			snprintf(why, sizeof(why), "unexpected post-handshake message %u", type);
			return hs_conn_alert(c, TLS_ALERT_UNEXPECTED_MESSAGE, EPROTO, why);
		}
		}
	}
	tls_buf_consume(&c->hs, c->hs.len - rd.left);
	return r;
}

/* A whole alert record: 1 for close_notify, 0 to read on, -1 fatal. */
static int on_alert(hs_conn *c)
{
	uint8_t desc;

	if (c->ctl.len != 2)
		return hs_conn_alert(c, TLS_ALERT_DECODE_ERROR, EPROTO, "malformed alert");
	desc = c->ctl.base[1];  /* TLS 1.3 goes by the description, not the level */
	if (desc == TLS_ALERT_CLOSE_NOTIFY) {
		c->info.close_notify = true;
		c->rx_done = true;
		memset(&c->err, 0, sizeof(c->err));
		snprintf(c->err.text, sizeof(c->err.text), "close_notify received");
		return 1;
	}
	if (desc == TLS_ALERT_USER_CANCELED)
		return 0;  /* a close_notify follows (§6.1) */
	c->tx_done = true;  /* a fatal alert ends both directions */
	hs_conn_fail(c, HS_R_ALERT_RECEIVED, EPROTO, "alert %s received", tls_alert_name(desc));
	c->err.alert = desc;
	return -1;
}

/* A whole control record in c->ctl. */
static int on_control(hs_conn *c, uint8_t type)
{
	int r;

	if (type == KTLS_CT_ALERT) {
		if (c->hs.len)
			return hs_conn_alert(c, TLS_ALERT_UNEXPECTED_MESSAGE, EPROTO,
					     "handshake message interrupted by an alert");
		return on_alert(c);
	}
	tls_write_bytes(&c->hs, c->ctl.base, c->ctl.len);
	if (c->hs.err)
		return hs_conn_alert(c, TLS_ALERT_UNEXPECTED_MESSAGE, EPROTO, "post-handshake message too large");
	r = on_handshake(c);
	return r < 0 ? -1 : 0;
}

/* 0-RTT on the server: the socket is the daemon's to read until it
 * confirms. */
static int wait_confirmed(hs_conn *c, int flags)
{
	if (c->async && !c->failed)
		return hs_async_confirm(c, !(flags & MSG_DONTWAIT));
	if (flags & MSG_DONTWAIT) {
		struct pollfd p = { .fd = c->daemon, .events = POLLIN };
		if (c->daemon >= 0 && poll(&p, 1, 0) == 0) {
			errno = EAGAIN;
			return -1;
		}
	}
	return hs_confirm(c);
}

ssize_t hs_recv(hs_conn *c, void *buf, size_t len, int flags)
{
	if (!c || !buf || !len || (flags & ~(MSG_DONTWAIT | MSG_WAITALL))) {
		errno = EINVAL;
		return -1;
	}
	if (c->early_off < c->early_len) {
		size_t n = c->early_len - c->early_off < len ? c->early_len - c->early_off : len;
		memcpy(buf, c->early + c->early_off, n);
		c->early_off += n;
		return (ssize_t)n;
	}
	if (c->failed) {
		errno = c->failed_errno;
		return -1;
	}
	if (c->rx_done)
		return 0;
	if (!c->info.confirmed && wait_confirmed(c, flags) != 0)
		return -1;
	/* an owed KeyUpdate goes out before anything else happens */
	if (pay_key_update(c) != 0)
		return -1;
	/* TX re-key before the AEAD limit (hs_rekey.c): cheap unless due */
	if (hs_rekey_auto(c) != 0)
		return -1;
	for (;;) {
		struct ktls_rec rec;
		enum ktls_err e = ktls_recv_record(c->fd, buf, len, flags, &rec);
		int r;

		if (e == KTLS_E_AGAIN) {
			errno = EAGAIN;
			return -1;
		}
		if (e == KTLS_E_CLOSED) {
			c->rx_done = true;
			hs_fail(&c->err, HS_R_PEER_CLOSED, 0, "connection closed without close_notify");
			errno = 0;
			return 0;
		}
		if (e == KTLS_E_SYS && errno == EINTR)
			return -1;
		if (e == KTLS_E_DECRYPT)
			return ktls_failed(c, e, "kTLS RX (the connection is dead)");
		if (e != KTLS_OK)  /* EKEYEXPIRED would mean a KeyUpdate was missed */
			return ktls_failed(c, e, "kTLS recv");
		if (rec.type == KTLS_CT_DATA) {
			if (c->ctl.len || c->hs.len)
				return hs_conn_alert(c, TLS_ALERT_UNEXPECTED_MESSAGE, EPROTO,
						     "handshake message interrupted by data");
			return (ssize_t)rec.len;
		}
		if (rec.type != KTLS_CT_ALERT && rec.type != KTLS_CT_HANDSHAKE) {
			char why[64];
			snprintf(why, sizeof(why), "unexpected record type %u after the handshake", rec.type);
			return hs_conn_alert(c, TLS_ALERT_UNEXPECTED_MESSAGE, EPROTO, why);
		}
		/* a control record may come in pieces when buf is small */
		tls_write_bytes(&c->ctl, buf, rec.len);
		if (c->ctl.err)
			return hs_conn_alert(c, TLS_ALERT_RECORD_OVERFLOW, EPROTO, "control record too large");
		if (!rec.complete)
			continue;
		r = on_control(c, rec.type);
		tls_buf_reset(&c->ctl);
		if (r < 0)
			return -1;
		if (r > 0)
			return 0;
		/* After a control record read on: the kernel does not signal
		 * POLLIN for records queued behind a KeyUpdate. */
	}
}

int hs_key_update(hs_conn *c, bool request_peer)
{
	if (!c)
		return hs_fail(NULL, HS_R_INVALID, EINVAL, "NULL");
	if (c->failed) {
		errno = c->failed_errno;
		return -1;
	}
	if (c->tx_done)
		return hs_fail(&c->err, HS_R_INVALID, EPIPE, "KeyUpdate after close_notify");
	if (!c->info.confirmed)
		return hs_fail(&c->err, HS_R_INVALID, EAGAIN, "KeyUpdate before hs_confirm");
	if (c->owe_key_update) {   /* the owed one answers the peer; ours may ask again */
		if (pay_key_update(c) != 0)
			return -1;
		if (!request_peer)
			return 0;
	}
	return tx_key_update(c, request_peer);
}

int hs_shutdown(hs_conn *c)
{
	uint8_t a[2] = { 1, TLS_ALERT_CLOSE_NOTIFY };
	enum ktls_err e;

	if (!c)
		return hs_fail(NULL, HS_R_INVALID, EINVAL, "NULL");
	if (c->tx_done)
		return 0;
	c->tx_done = true;
	e = ktls_send_record(c->fd, KTLS_CT_ALERT, a, sizeof(a), NULL);
	if (e != KTLS_OK) {
		char t[160];
		return hs_fail(&c->err, HS_R_SYSTEM, errno, "close_notify: %s",
			       ktls_error_text(e, errno, t, sizeof(t)));
	}
	return 0;
}
