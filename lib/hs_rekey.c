/* libhandshake's TX re-key before the AEAD limit (RFC 8446 §5.5).
 *
 * The application sends on the kTLS socket itself (send, sendfile,
 * splice), so the library cannot count records; the kernel can: the TX
 * crypto_info read back with getsockopt(SOL_TLS, TLS_TX) carries the next
 * record sequence number, which restarts at 0 with every key. When it
 * passes the suite's update threshold (lib/tls/aead_limits.h: a third of
 * the limit, so a late check still lands well before it) we send a
 * KeyUpdate through hs_key_update. A kernel that cannot re-key (< 6.14)
 * ends the connection there instead of letting the key run on. */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>

#include "hs_conn.h"
#include "ktls.h"
#include "tls/aead_limits.h"

uint64_t hs_rekey_threshold(uint16_t cipher, uint64_t records)
{
	uint64_t suite = tls_aead_update_threshold(cipher);

	/* an unknown suite has no safe count: 0, due at once (fail closed) */
	if (suite == 0)
		return 0;
	return records && records < suite ? records : suite;
}

enum hs_rekey_action hs_rekey_decide(uint16_t cipher, uint64_t records, uint64_t seq, bool kernel_rekeys)
{
	uint64_t t = hs_rekey_threshold(cipher, records);

	if (t && seq < t)
		return HS_REKEY_NOT_DUE;
	return kernel_rekeys ? HS_REKEY_DUE : HS_REKEY_END;
}

/* Due on a kernel that cannot re-key: the peer gets an alert and our FIN,
 * so neither a later send() of the application nor the peer goes on with
 * a key past its threshold. */
static int end_connection(hs_conn *c, uint64_t seq, uint64_t threshold)
{
	uint8_t a[2] = { 2, TLS_ALERT_INTERNAL_ERROR };
	struct utsname u;

	uname(&u);
	if (!c->tx_done) {
		c->tx_done = true;
		ktls_send_record(c->fd, KTLS_CT_ALERT, a, sizeof(a), NULL);
	}
	shutdown(c->fd, SHUT_WR);
	hs_conn_fail(c, HS_R_REKEY_UNSUPPORTED, EOPNOTSUPP,
		     "TX key used for %llu records (re-key due at %llu): TLS 1.3 rekey needs Linux 6.14 "
		     "(running %s); connection ended with internal_error",
		     (unsigned long long)seq, (unsigned long long)threshold, u.release);
	c->err.alert = TLS_ALERT_INTERNAL_ERROR;
	return -1;
}

int hs_rekey_if_needed(hs_conn *c)
{
	uint64_t seq;
	enum ktls_err e;
	char t[160];

	if (!c)
		return hs_fail(NULL, HS_R_INVALID, EINVAL, "NULL");
	if (c->failed) {
		errno = c->failed_errno;
		return -1;
	}
	/* nothing more goes out, or the session state is not here yet */
	if (c->tx_done || !c->info.confirmed || !c->cs)
		return 0;
	if (c->owe_key_update)     /* the peer's asked-for KeyUpdate first: it is a re-key too */
		return hs_key_update(c, false) == 0 ? 1 : -1;
	e = ktls_get_state(c->fd, KTLS_DIR_TX, NULL, NULL, &seq);
	if (e != KTLS_OK) {
		int err = errno ? errno : EIO;
		return hs_fail(&c->err, HS_R_SYSTEM, err, "TX record sequence: %s",
			       ktls_error_text(e, err, t, sizeof(t)));
	}
	/* the feature test reads /proc: only once due */
	if (hs_rekey_decide(c->info.cipher, c->rekey_records, seq, true) == HS_REKEY_NOT_DUE)
		return 0;
	if (!ktls_rekey_supported())
		return end_connection(c, seq, hs_rekey_threshold(c->info.cipher, c->rekey_records));
	return hs_key_update(c, false) == 0 ? 1 : -1;
}

static int64_t coarse_ms(void)
{
	struct timespec ts;

	/* a vDSO read, no system call; a few ms of resolution is plenty */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hs_set_rekey_records(hs_conn *c, uint64_t n)
{
	if (!c)
		return;
	c->rekey_records = n;
	c->rekey_check_ms = 0; /* the next hs_recv checks against it */
}

/* A new connection's TX key is at sequence 0: nothing can be due before
 * the first regular check, so its first hs_recv makes no getsockopt. */
void hs_rekey_auto_start(hs_conn *c)
{
	c->rekey_check_ms = coarse_ms() + HS_REKEY_CHECK_MS;
}

/* At the default thresholds the margin to the limit is millions of
 * records (AES-GCM: 2^24.5 - 2^23 = 15.3 million), far more than any
 * socket sends in HS_REKEY_CHECK_MS. */
int hs_rekey_auto(hs_conn *c)
{
	int64_t now = coarse_ms();
	struct hs_error keep;
	int saved = errno, r;

	if (now < c->rekey_check_ms)
		return 0;
	c->rekey_check_ms = now + HS_REKEY_CHECK_MS;
	keep = c->err;
	r = hs_rekey_if_needed(c);
	if (r < 0 && c->failed)
		return -1;
	/* re-keyed, not due, or transient (a full socket): hs_recv goes on
	 * and tries again at the next check */
	if (r < 0)
		c->err = keep;
	errno = saved;
	return 0;
}
