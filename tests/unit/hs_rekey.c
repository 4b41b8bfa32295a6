/* libhandshake's TX re-key decision (lib/hs_rekey.c): the threshold per
 * suite (a third of RFC 8446 §5.5's limit, below the hard limit), lowered
 * by hs_set_rekey_records and capped at the suite's, the action for a
 * sequence on kernels with and without re-key; hs_rekey_auto's cost when
 * not due, and that a transient failure (no kTLS on this socket) leaves
 * hs_recv's error state alone. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hs_conn.h"
#include "test.h"
#include "tls/aead_limits.h"

static const struct {
	uint16_t id;
	const char *name;
	uint64_t at;
} suites[] = {
	{ TLS_AES_128_GCM_SHA256, "AES-128-GCM", UINT64_C(1) << 23 },
	{ TLS_AES_256_GCM_SHA384, "AES-256-GCM", UINT64_C(1) << 23 },
	{ TLS_AES_128_CCM_SHA256, "AES-128-CCM", UINT64_C(1) << 22 },
	{ TLS_CHACHA20_POLY1305_SHA256, "ChaCha20-Poly1305", UINT64_C(1) << 62 },
};

static void test_thresholds(void)
{
	size_t i;

	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		uint16_t cs = suites[i].id;
		uint64_t t = hs_rekey_threshold(cs, 0), lim = tls_aead_record_limit(cs);
		test_ok(t == suites[i].at && t < lim && t <= lim / 2, "%s: re-key at %llu records, limit %llu",
			suites[i].name, (unsigned long long)t, (unsigned long long)lim);
		test_ok(hs_rekey_threshold(cs, 100) == 100 && hs_rekey_threshold(cs, 1) == 1,
			"%s: lowered to 100 (and 1)", suites[i].name);
		test_ok(hs_rekey_threshold(cs, UINT64_MAX) == t && hs_rekey_threshold(cs, t + 1) == t,
			"%s: a value above the suite's is capped to it", suites[i].name);
		test_ok(hs_rekey_decide(cs, 0, t - 1, true) == HS_REKEY_NOT_DUE &&
				hs_rekey_decide(cs, 0, t, true) == HS_REKEY_DUE &&
				hs_rekey_decide(cs, 0, lim - 1, true) == HS_REKEY_DUE,
			"%s: not due at %llu, due from %llu on", suites[i].name, (unsigned long long)(t - 1),
			(unsigned long long)t);
		test_ok(hs_rekey_decide(cs, 64, 63, false) == HS_REKEY_NOT_DUE &&
				hs_rekey_decide(cs, 64, 64, false) == HS_REKEY_END &&
				hs_rekey_decide(cs, 64, 64, true) == HS_REKEY_DUE,
			"%s, threshold 64: at 64 a KeyUpdate, or the end without kernel re-key", suites[i].name);
	}
	test_ok(hs_rekey_threshold(0x1305, 0) == 0 && hs_rekey_decide(0x1305, 0, 0, true) == HS_REKEY_DUE &&
			hs_rekey_decide(0x1305, 100, 0, true) == HS_REKEY_DUE,
		"an unknown suite (CCM_8) has no safe count: due at once");
}

static hs_conn *fake_conn(int fd)
{
	hs_conn *c = calloc(1, sizeof(*c));
	c->fd = fd;
	c->daemon = -1;
	c->cs = tls_cipher_find(TLS_AES_128_GCM_SHA256);
	c->info.cipher = TLS_AES_128_GCM_SHA256;
	c->info.confirmed = true;
	return c;
}

static void test_api(void)
{
	int sv[2];
	hs_conn *c;
	struct timespec t0, t1;
	const int n = 2000000;
	double ns;
	int i, r = 0;

	errno = 0;
	test_ok(hs_rekey_if_needed(NULL) == -1 && errno == EINVAL, "hs_rekey_if_needed(NULL): EINVAL");
	test_ok(hs_info_refresh(NULL) == -1 && errno == EINVAL, "hs_info_refresh(NULL): EINVAL");
	hs_set_rekey_records(NULL, 5);  /* no crash */

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		test_ok(false, "socketpair: %s", strerror(errno));
		return;
	}
	c = fake_conn(sv[0]);
	hs_rekey_auto_start(c);
	clock_gettime(CLOCK_MONOTONIC_COARSE, &t0);
	int64_t away = c->rekey_check_ms - ((int64_t)t0.tv_sec * 1000 + t0.tv_nsec / 1000000);
	test_ok(away > HS_REKEY_CHECK_MS - 20 && away <= HS_REKEY_CHECK_MS,
		"a new connection's first sequence check is %lld ms away (%d): its first hs_recv makes "
		"no getsockopt", (long long)away, HS_REKEY_CHECK_MS);
	hs_set_rekey_records(c, 10);
	test_ok(c->rekey_records == 10 && c->rekey_check_ms == 0,
		"hs_set_rekey_records stores the threshold; the next hs_recv checks against it");

	/* not kTLS: the sequence cannot be read; non-fatal */
	test_ok(hs_rekey_if_needed(c) == -1 && c->err.reason == HS_R_SYSTEM && !c->failed,
		"no kTLS TX on the socket: -1, HS_R_SYSTEM (%s), the connection not failed", c->err.text);

	/* hs_recv's check: the failure is transient, hs_recv's state untouched */
	memset(&c->err, 0, sizeof(c->err));
	c->rekey_check_ms = 0;
	errno = 1234;
	test_ok(hs_rekey_auto(c) == 0 && errno == 1234 && c->err.reason == HS_R_OK && !c->failed &&
			c->rekey_check_ms > 0,
		"hs_rekey_auto: a transient failure is not hs_recv's (errno, last error kept; next check later)");

	/* cost when not due: a coarse clock read and a compare */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++)
		r |= hs_rekey_auto(c);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / n;
	test_ok(r == 0 && ns < 1000, "hs_rekey_auto when not due: %.1f ns per hs_recv (no system call)", ns);

	/* before hs_confirm and after close_notify nothing is due */
	c->info.confirmed = false;
	test_ok(hs_rekey_if_needed(c) == 0, "before hs_confirm: 0 (the session state is not here yet)");
	c->info.confirmed = true;
	c->tx_done = true;
	test_ok(hs_rekey_if_needed(c) == 0, "after close_notify: 0 (nothing goes out any more)");
	c->failed = true;
	c->failed_errno = EPROTO;
	test_ok(hs_rekey_if_needed(c) == -1 && errno == EPROTO, "on a failed connection: -1 with its errno");
	test_ok(hs_info_refresh(c) == -1 && hs_info(c)->offload_tx == HS_OFFLOAD_UNKNOWN &&
			hs_info(c)->offload_rx == HS_OFFLOAD_UNKNOWN,
		"hs_info_refresh on a Unix socket: -1, offload unknown (%s)", c->err.text);
	free(c);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	test_thresholds();
	test_api();
	return test_done();
}
