/* Kernel TLS through lib/ktls.c, for each TLS 1.3 cipher kTLS takes
 * (AES-128/256-GCM, ChaCha20-Poly1305, AES-128-CCM) on loopback TCP:
 * key install both ways, data, sendfile, records captured off the wire and
 * opened in userspace (and the reverse), control records via cmsg, sock_diag,
 * TLS_RX_EXPECT_NO_PAD, a tampered record, and KeyUpdate re-keying (or its
 * clean refusal on kernels < 6.14); the TX record cap TLS_TX_MAX_PAYLOAD_LEN
 * (records captured off the wire, or its clear refusal before 6.19); a
 * non-blocking send that must not hang. TAP; a host without kTLS gets one
 * SKIP.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ktls.h"
#include "test.h"
#include "tls/crypto.h"
#include "tls/wire.h"

#define SENDFILE_LEN (4u << 20)
#define IO_TIMEOUT_S 60
#define BIG_SEQ 0x0000000100000002ull   /* both halves non-zero: catches endianness */

static struct ktls_probe probe;
static uint8_t *file_data;
static int file_fd = -1;

struct pair {
	int c, s;                  /* client and accepted server socket */
};

struct secrets {
	uint8_t c2s[TLS_MAX_HASH]; /* client TX = server RX */
	uint8_t s2c[TLS_MAX_HASH]; /* server TX = client RX */
};

static const char *errtext(enum ktls_err e, int err)
{
	static char buf[256];
	return ktls_error_text(e, err, buf, sizeof(buf));
}

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Loopback pair over IPv6 (::1) or IPv4 (127.0.0.1). */
static int pair_open(struct pair *p, bool v6)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = v6 ? AF_INET6 : AF_INET, l, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	}
	p->c = p->s = -1;
	l = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -1;
	if (bind(l, (struct sockaddr *)&ss, len) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&ss, &len) < 0)
		goto fail;
	p->c = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->c < 0 || connect(p->c, (struct sockaddr *)&ss, len) < 0)
		goto fail;
	p->s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (p->s < 0)
		goto fail;
	close(l);
	set_timeouts(p->c);
	set_timeouts(p->s);
	/* small records must leave at once for the wire-capture reads */
	setsockopt(p->c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(p->s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
fail:
	if (p->c >= 0)
		close(p->c);
	close(l);
	p->c = -1;
	return -1;
}

static void pair_close(struct pair *p)
{
	if (p->c >= 0)
		close(p->c);
	if (p->s >= 0)
		close(p->s);
	p->c = p->s = -1;
}

static bool write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool read_exact(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads exactly len bytes of content type `type` through kTLS RX. */
static bool ktls_read_exact(int fd, uint8_t type, uint8_t *out, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct ktls_rec r;
		enum ktls_err e = ktls_recv_record(fd, out + got, len - got, 0, &r);

		if (e) {
			test_diag("kTLS read: %s", errtext(e, errno));
			return false;
		}
		if (r.type != type) {
			test_diag("kTLS read: record type %u, expected %u", r.type, type);
			return false;
		}
		got += r.len;
	}
	return true;
}

/* Sends msg as data on one side and checks it arrives intact on the other. */
static bool data_roundtrip(int from, int to, const char *msg)
{
	uint8_t buf[256];
	size_t len = strlen(msg);

	if (!write_all(from, msg, len) || !ktls_read_exact(to, KTLS_CT_DATA, buf, len))
		return false;
	return memcmp(buf, msg, len) == 0;
}

static uint64_t stat_or_zero(const char *name)
{
	uint64_t v = 0;

	if (ktls_stat_get(name, &v) != KTLS_OK)
		return 0;
	return v;
}

static unsigned kernel_code(void)
{
	struct utsname u;
	unsigned a = 0, b = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &a, &b) != 2)
		return 0;
	return a * 1000 + b;
}

/* ---- sendfile ---- */

struct sender {
	int sock;
	size_t len;
	bool ok;
	int err;
};

static void *sendfile_thread(void *arg)
{
	struct sender *s = arg;
	off_t off = 0;

	s->ok = true;
	while ((size_t)off < s->len) {
		ssize_t n = sendfile(s->sock, file_fd, &off, s->len - (size_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->ok = false;
			s->err = n < 0 ? errno : 0;
			break;
		}
	}
	return NULL;
}

static void test_sendfile(const struct pair *p, const tls_cipher *cs)
{
	struct sender snd = { .sock = p->c, .len = SENDFILE_LEN };
	uint8_t *got = malloc(SENDFILE_LEN);
	uint64_t seq0 = 0, seq1 = 0;
	pthread_t th;
	bool ok = got != NULL;

	ktls_get_state(p->c, KTLS_DIR_TX, NULL, NULL, &seq0);
	if (ok && pthread_create(&th, NULL, sendfile_thread, &snd) == 0) {
		ok = ktls_read_exact(p->s, KTLS_CT_DATA, got, SENDFILE_LEN);
		pthread_join(th, NULL);
		if (!snd.ok)
			test_diag("sendfile: %s", strerror(snd.err));
		ok = ok && snd.ok && memcmp(got, file_data, SENDFILE_LEN) == 0;
	} else {
		ok = false;
	}
	test_ok(ok, "sendfile() of a 4 MiB file through kTLS TX arrives byte-exact [%s]", cs->name);
	if (ktls_get_state(p->c, KTLS_DIR_TX, NULL, NULL, &seq1) == KTLS_OK)
		test_diag("sendfile used %llu records", (unsigned long long)(seq1 - seq0));
	free(got);
}

/* ---- kernel <-> kernel ---- */

static bool install_both(const struct pair *p, const tls_cipher *cs, const struct secrets *k)
{
	struct { int fd; enum ktls_dir dir; const uint8_t *sec; const char *what; } steps[] = {
		{ p->c, KTLS_DIR_TX, k->c2s, "client TX" },
		{ p->c, KTLS_DIR_RX, k->s2c, "client RX" },
		{ p->s, KTLS_DIR_TX, k->s2c, "server TX" },
		{ p->s, KTLS_DIR_RX, k->c2s, "server RX" },
	};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		enum ktls_err e = ktls_install(steps[i].fd, steps[i].dir, cs, steps[i].sec, 0);
		if (e) {
			test_diag("%s install: %s", steps[i].what, errtext(e, errno));
			return false;
		}
	}
	return true;
}

static void test_diag_info(int fd, const tls_cipher *cs, bool expect_no_pad)
{
	struct ktls_diag d;
	enum ktls_err e = ktls_diag_get(fd, &d);

	if (e == KTLS_E_DIAG_NO_ULP && geteuid() != 0 && kernel_code() < 6015) {
		test_skip("ULP diag needs CAP_NET_ADMIN before 6.15", "sock_diag ULP info [%s]", cs->name);
		return;
	}
	if (e)
		test_diag("sock_diag: %s", errtext(e, errno));
	else
		test_diag("sock_diag: ulp=%s version=0x%04x cipher=%u tx=%s rx=%s no_pad=%d max_payload=%u",
			  d.ulp, d.version, d.cipher, ktls_conf_name(d.txconf),
			  ktls_conf_name(d.rxconf), d.rx_no_pad, d.tx_max_payload);
	test_ok(e == KTLS_OK && strcmp(d.ulp, "tls") == 0 && d.has_tls &&
		d.version == TLS_1_3_VERSION && d.cipher == cs->ktls_cipher &&
		d.txconf == TLS_CONF_SW && d.rxconf == TLS_CONF_SW && d.rx_no_pad == expect_no_pad,
		"sock_diag ULP info: \"tls\", TLS 1.3, cipher %d, TX/RX sw%s [%s]",
		cs->ktls_cipher, expect_no_pad ? ", RX_NO_PAD" : "", cs->name);
}

static void test_control_records(const struct pair *p, const tls_cipher *cs)
{
	const uint8_t alert[2] = { 1, 90 };    /* warning, user_canceled */
	uint8_t hs[200], buf[16384], got[300];   /* got: room past hs to catch overlong reads */
	struct ktls_rec r1, r2, r3;
	enum ktls_err e;
	ssize_t n;
	int err;
	tls_buf b;

	/* alert: plain recv() must fail with EIO, the record must survive */
	e = ktls_send_record(p->c, KTLS_CT_ALERT, alert, sizeof(alert), NULL);
	test_ok(e == KTLS_OK, "send an alert record through cmsg TLS_SET_RECORD_TYPE [%s]", cs->name);
	n = recv(p->s, buf, sizeof(buf), 0);
	err = errno;
	test_ok(n == -1 && err == EIO, "recv() without a cmsg buffer on an alert fails with EIO [%s]",
		cs->name);
	e = ktls_recv_record(p->s, buf, sizeof(buf), 0, &r1);
	test_ok(e == KTLS_OK && r1.type == KTLS_CT_ALERT && r1.len == 2 && r1.complete &&
		memcmp(buf, alert, 2) == 0,
		"the alert is not lost: recvmsg+cmsg returns type 21 and its 2 bytes [%s]", cs->name);

	/* a NewSessionTicket-shaped handshake record, read in two parts */
	RAND_bytes(hs, sizeof(hs));
	tls_buf_init_fixed(&b, hs, sizeof(hs));
	tls_write_u8(&b, KTLS_HS_NEW_SESSION_TICKET);
	tls_write_u24(&b, sizeof(hs) - 4);
	e = ktls_send_record(p->s, KTLS_CT_HANDSHAKE, hs, sizeof(hs), NULL);
	if (e == KTLS_OK && !write_all(p->s, "after-hs", 8))
		e = KTLS_E_SYS;
	test_ok(e == KTLS_OK, "send a handshake record and then data [%s]", cs->name);
	e = ktls_recv_record(p->c, got, 64, 0, &r1);
	if (e == KTLS_OK)
		e = ktls_recv_record(p->c, got + 64, sizeof(got) - 64, 0, &r2);
	test_ok(e == KTLS_OK && r1.type == KTLS_CT_HANDSHAKE && r1.len == 64 && !r1.complete &&
		r2.type == KTLS_CT_HANDSHAKE && r2.len == sizeof(hs) - 64 && r2.complete &&
		memcmp(got, hs, sizeof(hs)) == 0,
		"handshake record read in 2 parts: type 22 each time, MSG_EOR only on the last [%s]",
		cs->name);
	e = ktls_recv_record(p->c, buf, sizeof(buf), 0, &r3);
	test_ok(e == KTLS_OK && r3.type == KTLS_CT_DATA && r3.len == 8 && memcmp(buf, "after-hs", 8) == 0,
		"data after a control record comes in its own read [%s]", cs->name);
}

/* Kernel >= 6.14: both sides re-key with KeyUpdate like real peers. */
static void test_rekey(const struct pair *p, const tls_cipher *cs, const struct secrets *k)
{
	uint8_t c2s1[TLS_MAX_HASH], s2c1[TLS_MAX_HASH], c2s2[TLS_MAX_HASH], buf[64];
	const uint8_t ku0[5] = { KTLS_HS_KEY_UPDATE, 0, 0, 1, 0 };
	const uint8_t ku1[5] = { KTLS_HS_KEY_UPDATE, 0, 0, 1, 1 };
	uint64_t tx0 = stat_or_zero("TlsTxRekeyOk"), rx0 = stat_or_zero("TlsRxRekeyOk");
	uint64_t recv0 = stat_or_zero("TlsRxRekeyReceived"), seq = 99;
	struct pollfd pfd = { .fd = p->s, .events = POLLIN };
	struct ktls_rec r;
	enum ktls_err e, e2;
	ssize_t n;
	int err, err2, pr;
	bool ok;

	tls_next_traffic_secret(cs, k->c2s, c2s1);
	tls_next_traffic_secret(cs, k->s2c, s2c1);
	tls_next_traffic_secret(cs, c2s1, c2s2);

	/* client: data, KeyUpdate (old key), new TX key, data */
	ok = write_all(p->c, "before-ku", 9);
	e = ktls_key_update_tx(p->c, cs, c2s1, false);
	test_ok(ok && e == KTLS_OK, "client sends KeyUpdate via cmsg and re-keys TX [%s]", cs->name);
	if (e)
		test_diag("client key update: %s", errtext(e, errno));
	ok = write_all(p->c, "after-ku-1", 10);

	test_ok(ktls_read_exact(p->s, KTLS_CT_DATA, buf, 9) && memcmp(buf, "before-ku", 9) == 0,
		"data sent before the KeyUpdate arrives under the old key [%s]", cs->name);
	n = recv(p->s, buf, sizeof(buf), 0);
	err = errno;
	test_ok(n == -1 && err == EIO, "the KeyUpdate record gives EIO to recv() without cmsg [%s]",
		cs->name);
	e = ktls_recv_record(p->s, buf, sizeof(buf), 0, &r);
	test_ok(e == KTLS_OK && r.type == KTLS_CT_HANDSHAKE && r.len == 5 && r.complete &&
		memcmp(buf, ku0, 5) == 0,
		"server reads KeyUpdate(update_not_requested) as a type 22 record [%s]", cs->name);
	e = ktls_recv_record(p->s, buf, sizeof(buf), 0, &r);
	err = errno;
	e2 = ktls_recv_record(p->s, buf, sizeof(buf), MSG_DONTWAIT, &r);
	err2 = errno;
	test_ok(e == KTLS_E_REKEY_PENDING && err == EKEYEXPIRED && e2 == KTLS_E_REKEY_PENDING &&
		err2 == EKEYEXPIRED,
		"RX refuses with EKEYEXPIRED (blocking and MSG_DONTWAIT) until the new key [%s]",
		cs->name);
	pr = poll(&pfd, 1, 0);
	test_ok(pr == 0, "poll() shows no POLLIN while the RX rekey is pending [%s]", cs->name);
	test_ok(stat_or_zero("TlsRxRekeyReceived") > recv0,
		"TlsRxRekeyReceived counts the KeyUpdate [%s]", cs->name);
	e = ktls_rekey(p->s, KTLS_DIR_RX, cs, c2s1);
	test_ok(e == KTLS_OK && ok && ktls_read_exact(p->s, KTLS_CT_DATA, buf, 10) &&
		memcmp(buf, "after-ku-1", 10) == 0,
		"server installs the next RX secret and reads data sent after the KeyUpdate [%s]",
		cs->name);

	/* server: KeyUpdate(update_requested); client answers with its own */
	e = ktls_key_update_tx(p->s, cs, s2c1, true);
	ok = e == KTLS_OK && write_all(p->s, "srv-after-ku", 12);
	e = ktls_recv_record(p->c, buf, sizeof(buf), 0, &r);
	ok = ok && e == KTLS_OK && r.type == KTLS_CT_HANDSHAKE && r.len == 5 &&
	     memcmp(buf, ku1, 5) == 0;
	ok = ok && ktls_rekey(p->c, KTLS_DIR_RX, cs, s2c1) == KTLS_OK;
	ok = ok && ktls_read_exact(p->c, KTLS_CT_DATA, buf, 12) && memcmp(buf, "srv-after-ku", 12) == 0;
	test_ok(ok, "server KeyUpdate(update_requested): client re-keys RX and reads on [%s]", cs->name);
	e = ktls_key_update_tx(p->c, cs, c2s2, false);
	ok = e == KTLS_OK && write_all(p->c, "second-rekey", 12);
	e = ktls_recv_record(p->s, buf, sizeof(buf), 0, &r);
	ok = ok && e == KTLS_OK && r.type == KTLS_CT_HANDSHAKE && memcmp(buf, ku0, 5) == 0 &&
	     ktls_rekey(p->s, KTLS_DIR_RX, cs, c2s2) == KTLS_OK &&
	     ktls_read_exact(p->s, KTLS_CT_DATA, buf, 12) && memcmp(buf, "second-rekey", 12) == 0;
	test_ok(ok, "client answers with its own KeyUpdate (secret N+2) and data flows [%s]", cs->name);
	test_ok(data_roundtrip(p->c, p->s, "c2s under generation 2") &&
		data_roundtrip(p->s, p->c, "s2c under generation 1"),
		"data both ways after the re-keys [%s]", cs->name);
	e = ktls_get_state(p->c, KTLS_DIR_TX, NULL, NULL, &seq);
	test_ok(e == KTLS_OK && seq == 2,
		"getsockopt TX rec_seq restarted at 0 with the new key (now %llu, want 2) [%s]",
		(unsigned long long)seq, cs->name);
	test_ok(stat_or_zero("TlsTxRekeyOk") >= tx0 + 3 && stat_or_zero("TlsRxRekeyOk") >= rx0 + 3,
		"TlsTxRekeyOk and TlsRxRekeyOk moved by at least 3 [%s]", cs->name);

	/* a cipher change is not a re-key */
	if (cs->ktls_cipher != TLS_CIPHER_AES_GCM_128) {
		const tls_cipher *other = tls_cipher_find(TLS_AES_128_GCM_SHA256);
		e = ktls_rekey(p->c, KTLS_DIR_TX, other, c2s2);
		err = errno;
		test_ok(e == KTLS_E_REKEY_MISMATCH && err == EINVAL &&
			data_roundtrip(p->c, p->s, "still on the old key"),
			"re-key to another cipher is refused (EINVAL), old key keeps working [%s]",
			cs->name);
	}
	OPENSSL_cleanse(c2s1, sizeof(c2s1));
	OPENSSL_cleanse(s2c1, sizeof(s2c1));
	OPENSSL_cleanse(c2s2, sizeof(c2s2));
}

/* Kernel < 6.14: the re-key is refused clearly and nothing breaks. */
static void test_no_rekey(const struct pair *p, const tls_cipher *cs, const struct secrets *k)
{
	uint8_t next[TLS_MAX_HASH];
	enum ktls_err e, e2;
	int err, err2;
	struct pollfd pfd = { .fd = p->s, .events = POLLIN };

	tls_next_traffic_secret(cs, k->c2s, next);
	e = ktls_key_update_tx(p->c, cs, next, false);
	test_ok(e == KTLS_E_REKEY_UNSUPPORTED && poll(&pfd, 1, 200) == 0,
		"KeyUpdate refused up front (\"%s\"), nothing sent [%s]", ktls_strerror(e), cs->name);
	e = ktls_rekey(p->c, KTLS_DIR_TX, cs, next);
	err = errno;
	e2 = ktls_rekey(p->s, KTLS_DIR_RX, cs, next);
	err2 = errno;
	test_ok(e == KTLS_E_REKEY_UNSUPPORTED && err == EBUSY && e2 == KTLS_E_REKEY_UNSUPPORTED &&
		err2 == EBUSY,
		"second TLS_TX / TLS_RX: EBUSY -> \"%s\" [%s]", ktls_strerror(e), cs->name);
	test_ok(data_roundtrip(p->c, p->s, "old key still works c2s") &&
		data_roundtrip(p->s, p->c, "old key still works s2c"),
		"after the refused re-key data still flows both ways on the old keys [%s]", cs->name);
	OPENSSL_cleanse(next, sizeof(next));
}

static void test_kernel_pair(const tls_cipher *cs, const struct secrets *k, bool v6)
{
	struct pair p;
	uint16_t ver = 0, ct = 0;
	uint64_t seq = 99;
	bool ok;

	if (pair_open(&p, v6) < 0) {
		test_ok(false, "loopback TCP pair (%s): %s [%s]", v6 ? "IPv6" : "IPv4",
			strerror(errno), cs->name);
		return;
	}
	ok = install_both(&p, cs, k);
	test_ok(ok, "install TLS 1.3 TX+RX keys on both ends (%s) [%s]", v6 ? "IPv6" : "IPv4",
		cs->name);
	if (!ok) {
		pair_close(&p);
		return;
	}
	test_ok(data_roundtrip(p.c, p.s, "hello from the client"),
		"data client -> server [%s]", cs->name);
	test_ok(data_roundtrip(p.s, p.c, "hello from the server, a bit longer"),
		"data server -> client [%s]", cs->name);
	test_ok(ktls_get_state(p.c, KTLS_DIR_TX, &ver, &ct, &seq) == KTLS_OK &&
		ver == TLS_1_3_VERSION && ct == cs->ktls_cipher && seq == 1,
		"getsockopt TLS_TX reads back TLS 1.3, cipher %d, rec_seq 1 [%s]", cs->ktls_cipher,
		cs->name);
	test_diag_info(p.c, cs, false);
	test_control_records(&p, cs);
	test_sendfile(&p, cs);
	if (probe.rekey)
		test_rekey(&p, cs, k);
	else
		test_no_rekey(&p, cs, k);
	pair_close(&p);
}

/* ---- kernel <-> userspace records (plain TCP peer) ---- */

/* Reads one raw record from a plain socket into rec (header included). */
static bool read_raw_record(int fd, uint8_t *rec, size_t cap, size_t *len, uint8_t *outer,
			    uint16_t *version)
{
	tls_reader r;
	uint16_t body;

	if (!read_exact(fd, rec, TLS_RECORD_HEADER))
		return false;
	r = tls_reader_init(rec, TLS_RECORD_HEADER);
	*outer = tls_read_u8(&r);
	*version = tls_read_u16(&r);
	body = tls_read_u16(&r);
	if (r.err || TLS_RECORD_HEADER + (size_t)body > cap)
		return false;
	if (!read_exact(fd, rec + TLS_RECORD_HEADER, body))
		return false;
	*len = TLS_RECORD_HEADER + body;
	return true;
}

/* Kernel TX -> captured on a plain socket -> opened with our key/iv. */
static void test_wire_tx(const struct pair *p, const tls_cipher *cs, const struct secrets *k)
{
	static const char *msgs[2] = { "record zero", "record one, with seq 1 in the nonce" };
	const uint8_t alert[2] = { 2, 40 };    /* fatal, handshake_failure */
	uint8_t rec[TLS_RECORD_HEADER + TLS_MAX_CIPHERTEXT], type, outer, *data;
	tls_traffic_key key;
	size_t len, dlen;
	uint16_t version;
	bool ok;

	memset(&key, 0, sizeof(key));
	ok = write_all(p->c, msgs[0], strlen(msgs[0])) &&
	     write_all(p->c, msgs[1], strlen(msgs[1])) &&
	     ktls_send_record(p->c, KTLS_CT_ALERT, alert, sizeof(alert), NULL) == KTLS_OK;
	if (!ok || tls_traffic_key_init(&key, cs, k->c2s) != 0) {
		test_ok(false, "kernel TX records written and userspace key derived [%s]", cs->name);
		tls_traffic_key_clear(&key);
		return;
	}
	for (int i = 0; i < 2; i++) {
		int rc = -9;

		ok = read_raw_record(p->s, rec, sizeof(rec), &len, &outer, &version);
		test_ok(ok && outer == KTLS_CT_DATA && version == 0x0303 &&
			len == TLS_RECORD_HEADER + strlen(msgs[i]) + 1 + TLS_TAG_LEN,
			"kernel record %d on the wire: outer type 23, version 0x0303, no padding [%s]",
			i, cs->name);
		if (ok)
			rc = tls_record_open(&key, rec, len, &type, &data, &dlen);
		test_ok(rc == 0 && type == KTLS_CT_DATA && dlen == strlen(msgs[i]) &&
			memcmp(data, msgs[i], dlen) == 0,
			"kernel record seq %d opens in userspace with our key/iv (RFC 8446 nonce) [%s]",
			i, cs->name);
	}
	ok = read_raw_record(p->s, rec, sizeof(rec), &len, &outer, &version) && outer == KTLS_CT_DATA &&
	     tls_record_open(&key, rec, len, &type, &data, &dlen) == 0;
	test_ok(ok && type == KTLS_CT_ALERT && dlen == 2 && memcmp(data, alert, 2) == 0,
		"cmsg alert on the wire: outer type 23, inner type 21, seq 2 [%s]", cs->name);
	tls_traffic_key_clear(&key);
}

/* Seals one record in userspace and writes it to the plain socket. */
static bool seal_send(int fd, tls_traffic_key *key, uint8_t type, const void *data, size_t len,
		      size_t pad, bool tamper)
{
	tls_buf b;
	bool ok;

	tls_buf_init(&b, 0);
	ok = tls_record_seal(key, type, data, len, pad, &b) == 0 && !b.err;
	if (ok && tamper)
		b.base[b.len - 1] ^= 0x01;   /* flip a tag bit */
	ok = ok && write_all(fd, b.base, b.len);
	tls_buf_free(&b);
	return ok;
}

/* Userspace-sealed records -> kernel RX, starting at a big rec_seq. */
static void test_wire_rx(const struct pair *p, const tls_cipher *cs, const struct secrets *k)
{
	uint8_t payload[3000], buf[4096], hs[5] = { KTLS_HS_NEW_SESSION_TICKET, 0, 0, 1, 0 };
	uint64_t viol0, viol1, decerr0, seq = 0;
	tls_traffic_key key;
	struct ktls_rec r;
	enum ktls_err e;
	bool ok;

	memset(&key, 0, sizeof(key));
	RAND_bytes(payload, sizeof(payload));
	if (tls_traffic_key_init(&key, cs, k->s2c) != 0) {
		test_ok(false, "userspace key derived [%s]", cs->name);
		return;
	}
	key.seq = BIG_SEQ;
	ok = seal_send(p->s, &key, KTLS_CT_DATA, payload, sizeof(payload), 0, false) &&
	     ktls_read_exact(p->c, KTLS_CT_DATA, buf, sizeof(payload)) &&
	     memcmp(buf, payload, sizeof(payload)) == 0;
	test_ok(ok, "kernel RX opens a userspace-sealed record at rec_seq 0x%llx (big-endian) [%s]",
		(unsigned long long)BIG_SEQ, cs->name);

	/* NewSessionTicket-typed: a KeyUpdate here would pause RX */
	ok = seal_send(p->s, &key, KTLS_CT_HANDSHAKE, hs, sizeof(hs), 0, false) &&
	     ktls_recv_record(p->c, buf, sizeof(buf), 0, &r) == KTLS_OK &&
	     r.type == KTLS_CT_HANDSHAKE && r.len == sizeof(hs) && memcmp(buf, hs, sizeof(hs)) == 0;
	test_ok(ok, "kernel RX returns a userspace-sealed handshake record as type 22 [%s]", cs->name);

	ok = seal_send(p->s, &key, KTLS_CT_DATA, payload, 100, 200, false) &&
	     ktls_read_exact(p->c, KTLS_CT_DATA, buf, 100) && memcmp(buf, payload, 100) == 0;
	test_ok(ok, "kernel RX strips 200 bytes of record padding [%s]", cs->name);

	e = ktls_set_rx_no_pad(p->c, true);
	test_ok(e == KTLS_OK, "TLS_RX_EXPECT_NO_PAD accepted on TLS 1.3 RX [%s]", cs->name);
	if (e == KTLS_OK) {
		/* zero-copy (and so the no-pad guess) is only tried when the
		 * whole record fits the read buffer: read with room to spare */
		viol0 = stat_or_zero("TlsRxNoPadViolation");
		ok = seal_send(p->s, &key, KTLS_CT_DATA, payload, 1000, 0, false) &&
		     ktls_recv_record(p->c, buf, sizeof(buf), 0, &r) == KTLS_OK &&
		     r.type == KTLS_CT_DATA && r.len == 1000 && memcmp(buf, payload, 1000) == 0;
		viol1 = stat_or_zero("TlsRxNoPadViolation");
		ok = ok && seal_send(p->s, &key, KTLS_CT_DATA, payload + 1000, 1000, 33, false) &&
		     ktls_recv_record(p->c, buf, sizeof(buf), 0, &r) == KTLS_OK &&
		     r.type == KTLS_CT_DATA && r.len == 1000 && memcmp(buf, payload + 1000, 1000) == 0;
		test_ok(ok && viol1 == viol0 && stat_or_zero("TlsRxNoPadViolation") > viol1,
			"with NO_PAD an unpadded record is no violation, a padded one decrypts and is counted [%s]",
			cs->name);
		test_diag_info(p->c, cs, true);
	}
	e = ktls_get_state(p->c, KTLS_DIR_RX, NULL, NULL, &seq);
	test_ok(e == KTLS_OK && seq == key.seq,
		"getsockopt RX rec_seq = 0x%llx, matching the userspace sender [%s]",
		(unsigned long long)seq, cs->name);

	/* a record with a flipped tag bit kills the connection with EBADMSG */
	decerr0 = stat_or_zero("TlsDecryptError");
	ok = seal_send(p->s, &key, KTLS_CT_DATA, payload, 50, 0, true);
	e = ktls_recv_record(p->c, buf, sizeof(buf), 0, &r);
	test_ok(ok && e == KTLS_E_DECRYPT && errno == EBADMSG &&
		stat_or_zero("TlsDecryptError") > decerr0,
		"a tampered record fails with EBADMSG and TlsDecryptError counts it [%s]", cs->name);
	e = ktls_send_record(p->c, KTLS_CT_DATA, "x", 1, NULL);
	test_ok(e != KTLS_OK, "after the decrypt error the socket refuses to send (%s) [%s]",
		errtext(e, errno), cs->name);
	tls_traffic_key_clear(&key);
}

static void test_wire_pair(const tls_cipher *cs, const struct secrets *k)
{
	struct pair p;
	enum ktls_err e;

	if (pair_open(&p, false) < 0) {
		test_ok(false, "loopback TCP pair: %s [%s]", strerror(errno), cs->name);
		return;
	}
	/* only the client is kTLS; the server is a plain TCP socket */
	e = ktls_install(p.c, KTLS_DIR_TX, cs, k->c2s, 0);
	if (e == KTLS_OK)
		e = ktls_install(p.c, KTLS_DIR_RX, cs, k->s2c, BIG_SEQ);
	test_ok(e == KTLS_OK, "client-only kTLS (RX at rec_seq 0x%llx), server plain TCP [%s]",
		(unsigned long long)BIG_SEQ, cs->name);
	if (e == KTLS_OK) {
		test_wire_tx(&p, cs, k);
		test_wire_rx(&p, cs, k);
	} else {
		test_diag("install: %s", errtext(e, errno));
	}
	pair_close(&p);
}

/* ---- record size cap: TLS_TX_MAX_PAYLOAD_LEN (>= 6.19) ---- */

#define CAP 1023                   /* record_size_limit 1024 in TLS 1.3 */
#define CAP_FILE_LEN (256u << 10)

/* Reads records off the plain socket until `want` bytes of plaintext came,
 * opening each; out gets the plaintext. Counts records and the largest
 * inner plaintext (content type byte included) and ciphertext body. */
static bool read_capped(int fd, tls_traffic_key *key, uint8_t *out, size_t want, size_t *nrec,
			size_t *max_inner)
{
	static uint8_t rec[TLS_RECORD_HEADER + TLS_MAX_CIPHERTEXT];
	size_t got = 0, len, dlen;
	uint8_t outer, type, *data;
	uint16_t version;

	*nrec = *max_inner = 0;
	while (got < want) {
		if (!read_raw_record(fd, rec, sizeof(rec), &len, &outer, &version) ||
		    outer != KTLS_CT_DATA || tls_record_open(key, rec, len, &type, &data, &dlen) != 0 ||
		    type != KTLS_CT_DATA || dlen > want - got)
			return false;
		memcpy(out + got, data, dlen);
		got += dlen;
		(*nrec)++;
		if (dlen + 1 > *max_inner)
			*max_inner = dlen + 1;
	}
	return true;
}

static void test_max_payload_on(const struct pair *p, const tls_cipher *cs, const struct secrets *k)
{
	struct sender snd = { .sock = p->c, .len = CAP_FILE_LEN };
	static uint8_t buf[CAP_FILE_LEN];
	uint8_t msg[5000];
	tls_traffic_key key;
	struct ktls_diag d;
	size_t nrec = 0, inner = 0;
	uint16_t v = 0;
	enum ktls_err e;
	pthread_t th;
	bool ok;

	memset(&key, 0, sizeof(key));
	RAND_bytes(msg, sizeof(msg));
	if (tls_traffic_key_init(&key, cs, k->c2s) != 0) {
		test_ok(false, "userspace key derived [%s]", cs->name);
		return;
	}
	e = ktls_get_tx_max_payload(p->c, &v);
	test_ok(e == KTLS_OK && v == TLS_MAX_PLAINTEXT,
		"getsockopt TLS_TX_MAX_PAYLOAD_LEN: default %u [%s]", v, cs->name);
	/* control: without the cap one write is one 5000-byte record */
	ok = write_all(p->c, msg, sizeof(msg)) && read_capped(p->s, &key, buf, sizeof(msg), &nrec, &inner);
	test_ok(ok && nrec == 1 && inner == sizeof(msg) + 1 && memcmp(buf, msg, sizeof(msg)) == 0,
		"control: 5000 bytes leave as %zu record of %zu inner bytes [%s]", nrec, inner, cs->name);

	e = ktls_set_tx_max_payload(p->c, CAP);
	test_ok(e == KTLS_OK, "TLS_TX_MAX_PAYLOAD_LEN %u set (%s) [%s]", CAP, errtext(e, errno), cs->name);
	e = ktls_get_tx_max_payload(p->c, &v);
	test_ok(e == KTLS_OK && v == CAP, "getsockopt reads back %u [%s]", v, cs->name);
	e = ktls_diag_get(p->c, &d);
	if (e == KTLS_E_DIAG_NO_ULP && kernel_code() < 6015)
		test_skip("ULP diag needs CAP_NET_ADMIN before 6.15", "sock_diag max payload [%s]", cs->name);
	else
		test_ok(e == KTLS_OK && d.tx_max_payload == CAP,
			"sock_diag TLS_INFO_TX_MAX_PAYLOAD_LEN = %u [%s]", d.tx_max_payload, cs->name);

	ok = write_all(p->c, msg, sizeof(msg)) && read_capped(p->s, &key, buf, sizeof(msg), &nrec, &inner);
	test_ok(ok && nrec == (sizeof(msg) + CAP - 1) / CAP && inner <= CAP + 1 &&
		memcmp(buf, msg, sizeof(msg)) == 0,
		"capped: 5000 bytes leave as %zu records, largest inner plaintext %zu <= %u, intact [%s]",
		nrec, inner, CAP + 1, cs->name);

	/* sendfile goes through the same cap */
	ok = pthread_create(&th, NULL, sendfile_thread, &snd) == 0;
	if (ok) {
		ok = read_capped(p->s, &key, buf, CAP_FILE_LEN, &nrec, &inner);
		pthread_join(th, NULL);
		ok = ok && snd.ok;
	}
	test_ok(ok && inner <= CAP + 1 && nrec >= CAP_FILE_LEN / CAP &&
		memcmp(buf, file_data, CAP_FILE_LEN) == 0,
		"capped sendfile of 256 KiB: %zu records, largest inner plaintext %zu <= %u [%s]", nrec,
		inner, CAP + 1, cs->name);

	/* an open MSG_MORE record blocks changes: the cap must come first */
	ok = send(p->c, msg, 10, MSG_MORE) == 10;
	e = ktls_set_tx_max_payload(p->c, 2000);
	test_ok(ok && e == KTLS_E_TX_PENDING && errno == EBUSY,
		"a change while a MSG_MORE record is open is refused: %s [%s]", errtext(e, errno),
		cs->name);
	ok = write_all(p->c, msg + 10, 10) && read_capped(p->s, &key, buf, 20, &nrec, &inner) &&
	     memcmp(buf, msg, 20) == 0;
	e = ktls_set_tx_max_payload(p->c, 63);
	test_ok(ok && e == KTLS_OK && ktls_get_tx_max_payload(p->c, &v) == KTLS_OK && v == 63,
		"the open record flushes intact; then 63 (record_size_limit 64, TLS 1.3) is accepted [%s]",
		cs->name);
	tls_traffic_key_clear(&key);
}

static void test_max_payload_off(const struct pair *p, const tls_cipher *cs)
{
	struct ktls_diag d;
	char text[160];
	uint16_t v = 0;
	enum ktls_err e = ktls_set_tx_max_payload(p->c, CAP);
	int err = errno;

	ktls_error_text(e, err, text, sizeof(text));
	test_ok(e == KTLS_E_MAX_PAYLOAD_UNSUPPORTED && err == ENOPROTOOPT &&
		strstr(text, "record_size_limit needs Linux 6.19"),
		"TLS_TX_MAX_PAYLOAD_LEN refused: '%s' [%s]", text, cs->name);
	e = ktls_get_tx_max_payload(p->c, &v);
	test_ok(e == KTLS_E_MAX_PAYLOAD_UNSUPPORTED, "getsockopt refused the same way [%s]", cs->name);
	e = ktls_diag_get(p->c, &d);
	if (e == KTLS_E_DIAG_NO_ULP && kernel_code() < 6015)
		test_skip("ULP diag needs CAP_NET_ADMIN before 6.15", "sock_diag max payload [%s]", cs->name);
	else
		test_ok(e == KTLS_OK && d.tx_max_payload == 0,
			"sock_diag has no TLS_INFO_TX_MAX_PAYLOAD_LEN [%s]", cs->name);
}

static void test_max_payload(const tls_cipher *cs, const struct secrets *k)
{
	struct pair p;
	enum ktls_err e;

	if (pair_open(&p, false) < 0) {
		test_ok(false, "loopback TCP pair: %s [%s]", strerror(errno), cs->name);
		return;
	}
	/* kTLS TX on the client, captured raw on the plain server */
	e = ktls_install(p.c, KTLS_DIR_TX, cs, k->c2s, 0);
	test_ok(e == KTLS_OK, "client kTLS TX for the record size tests [%s]", cs->name);
	if (e == KTLS_OK) {
		if (probe.tx_max_payload)
			test_max_payload_on(&p, cs, k);
		else
			test_max_payload_off(&p, cs);
	}
	pair_close(&p);
}

/* ---- non-blocking sends ---- */

struct drainer {
	int sock;
	uint8_t *buf;
	size_t len;
	bool ok;
};

static void *drain_thread(void *arg)
{
	struct drainer *d = arg;

	d->ok = ktls_read_exact(d->sock, KTLS_CT_DATA, d->buf, d->len);
	return NULL;
}

/* ktls_send_record on a non-blocking socket whose peer does not read:
 * returns KTLS_E_AGAIN with the partial count at once instead of waiting
 * (it used to poll forever); the caller finishes the rest after POLLOUT. */
static void test_nonblocking_send(const tls_cipher *cs, const struct secrets *k)
{
	struct drainer dr = { .len = SENDFILE_LEN };
	struct timespec t0, t1;
	struct pair p;
	size_t sent = 0, n;
	enum ktls_err e;
	pthread_t th;
	bool ok;
	long ms;

	if (pair_open(&p, false) < 0 || !install_both(&p, cs, k)) {
		test_ok(false, "kTLS pair for the non-blocking send test [%s]", cs->name);
		pair_close(&p);
		return;
	}
	fcntl(p.c, F_SETFL, fcntl(p.c, F_GETFL) | O_NONBLOCK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	e = ktls_send_record(p.c, KTLS_CT_DATA, file_data, SENDFILE_LEN, &sent);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	test_ok(e == KTLS_E_AGAIN && sent > 0 && sent < SENDFILE_LEN && ms < 5000,
		"non-blocking ktls_send_record of 4 MiB to a peer that does not read: %s after %zu bytes, %ld ms [%s]",
		errtext(e, errno), sent, ms, cs->name);
	dr.sock = p.s;
	dr.buf = malloc(SENDFILE_LEN);
	ok = dr.buf && e == KTLS_E_AGAIN && pthread_create(&th, NULL, drain_thread, &dr) == 0;
	if (ok) {
		while (ok && sent < SENDFILE_LEN) {
			struct pollfd pfd = { .fd = p.c, .events = POLLOUT };
			if (poll(&pfd, 1, IO_TIMEOUT_S * 1000) != 1)
				break;
			e = ktls_send_record(p.c, KTLS_CT_DATA, file_data + sent, SENDFILE_LEN - sent, &n);
			sent += n;
			ok = e == KTLS_OK || e == KTLS_E_AGAIN;
		}
		if (sent < SENDFILE_LEN)
			shutdown(p.s, SHUT_RDWR);   /* unblock the reader */
		pthread_join(th, NULL);
		ok = ok && dr.ok && sent == SENDFILE_LEN && memcmp(dr.buf, file_data, SENDFILE_LEN) == 0;
	}
	test_ok(ok, "the rest sent after POLLOUT: all 4 MiB arrive intact [%s]", cs->name);
	free(dr.buf);
	pair_close(&p);
}

/* ---- setup ---- */

static bool make_file(void)
{
	char path[] = "/tmp/ktls-sendfile-XXXXXX";

	file_data = malloc(SENDFILE_LEN);
	if (!file_data || RAND_bytes(file_data, SENDFILE_LEN) != 1)
		return false;
	file_fd = mkstemp(path);
	if (file_fd < 0)
		return false;
	unlink(path);
	for (size_t off = 0; off < SENDFILE_LEN;) {
		ssize_t n = write(file_fd, file_data + off, SENDFILE_LEN - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	return true;
}

int main(void)
{
	char text[2048], *line, *save = NULL;
	enum ktls_err e;
	unsigned kv = kernel_code();

	alarm(900);
	e = ktls_probe_run(&probe);
	ktls_probe_format(&probe, text, sizeof(text));
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		test_diag("%s", line);
	if (!probe.ulp) {
		test_skip("no kTLS", "kernel TLS available (%s)", errtext(e, probe.ulp_errno));
		return test_done();
	}
	test_ok(probe.rekey == (kv >= 6014),
		"probe: rekey %s, as expected for Linux %u.%u", probe.rekey ? "supported" : "refused",
		kv / 1000, kv % 1000);
	test_ok(probe.rekey == probe.rekey_counters && probe.rekey == ktls_rekey_supported(),
		"probe: second TLS_TX result agrees with the TlsRxRekeyOk counter");
	test_ok(probe.tx_max_payload == (kv >= 6019),
		"probe: TLS_TX_MAX_PAYLOAD_LEN %s, as expected for Linux %u.%u",
		probe.tx_max_payload ? "supported" : "refused", kv / 1000, kv % 1000);
	if (!make_file()) {
		test_ok(false, "4 MiB sendfile source in /tmp: %s", strerror(errno));
		return test_done();
	}
	for (int i = 0; i < KTLS_NCIPHERS; i++) {
		const tls_cipher *cs = tls_cipher_find(ktls_probe_suites[i]);
		struct secrets k;

		if (!test_ok(cs && probe.cipher[i], "kernel accepts %s for TLS 1.3",
			     cs ? cs->name : "?"))
			continue;
		RAND_bytes(k.c2s, sizeof(k.c2s));
		RAND_bytes(k.s2c, sizeof(k.s2c));
		/* the ChaCha20 run goes over IPv6 to cover that sock_diag path */
		test_kernel_pair(cs, &k, i == 2 && access("/proc/net/if_inet6", R_OK) == 0);
		test_wire_pair(cs, &k);
		if (i == 0) {
			test_max_payload(cs, &k);
			test_nonblocking_send(cs, &k);
		}
		OPENSSL_cleanse(&k, sizeof(k));
	}
	close(file_fd);
	free(file_data);
	return test_done();
}
