/* Kernel TLS: ULP attach, TLS 1.3 key install and re-key, control records,
 * feature probe, /proc/net/tls_stat. See lib/ktls.h and
 * shared/notes/kernel-ktls.md for the kernel behaviour relied on here. */
#include "ktls.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "tls/keyupdate.h"
#include "tls/wire.h"

const uint16_t ktls_probe_suites[KTLS_NCIPHERS] = {
	TLS_AES_128_GCM_SHA256,
	TLS_AES_256_GCM_SHA384,
	TLS_CHACHA20_POLY1305_SHA256,
	TLS_AES_128_CCM_SHA256,
};

static const char *const err_text[KTLS_E_COUNT_] = {
	[KTLS_OK] = "success",
	[KTLS_E_NO_ULP] = "kernel TLS module not loaded (modprobe tls)",
	[KTLS_E_NOT_CONNECTED] = "socket is not a connected TCP socket",
	[KTLS_E_OTHER_ULP] = "another ULP is already attached to the socket",
	[KTLS_E_CIPHER] = "cipher not supported by this kernel",
	[KTLS_E_REKEY_UNSUPPORTED] = "TLS 1.3 rekey needs Linux 6.14",
	[KTLS_E_REKEY_MISMATCH] = "key does not match the TLS version/cipher already installed",
	[KTLS_E_NOT_INSTALLED] = "no kernel TLS key installed for this direction",
	[KTLS_E_NO_PAD_UNSUPPORTED] = "TLS_RX_EXPECT_NO_PAD not supported (needs Linux 6.0 and TLS 1.3 RX)",
	[KTLS_E_DERIVE] = "traffic key derivation failed",
	[KTLS_E_INVALID] = "invalid argument",
	[KTLS_E_AGAIN] = "operation would block or timed out",
	[KTLS_E_REKEY_PENDING] = "peer KeyUpdate received: install the next RX key first",
	[KTLS_E_NEED_CMSG] = "control record read without a cmsg buffer (still queued)",
	[KTLS_E_DECRYPT] = "record failed to decrypt: connection aborted",
	[KTLS_E_CLOSED] = "peer closed the connection",
	[KTLS_E_NO_RECORD_TYPE] = "no record type from the kernel (TLS RX not installed?)",
	[KTLS_E_DIAG] = "sock_diag request failed",
	[KTLS_E_DIAG_NOT_FOUND] = "socket not found by sock_diag (or tcp_diag/inet_diag not loaded)",
	[KTLS_E_DIAG_NO_ULP] = "no ULP info in sock_diag (no ULP, or Linux < 6.15 without CAP_NET_ADMIN)",
	[KTLS_E_DIAG_MALFORMED] = "malformed sock_diag reply",
	[KTLS_E_STAT] = "counter not in /proc/net/tls_stat",
	[KTLS_E_SYS] = "system call failed",
	[KTLS_E_MAX_PAYLOAD_UNSUPPORTED] =
		"record_size_limit needs Linux 6.19 (no TLS_TX_MAX_PAYLOAD_LEN in this kernel)",
	[KTLS_E_TX_PENDING] = "TX data already queued: set the record size before sending",
	[KTLS_E_PARTIAL] = "record only partly sent: the connection is unusable",
};

const char *ktls_strerror(enum ktls_err e)
{
	if ((unsigned)e >= KTLS_E_COUNT_ || !err_text[e])
		return "unknown kernel TLS error";
	return err_text[e];
}

const char *ktls_error_text(enum ktls_err e, int errnum, char *buf, size_t len)
{
	if (!buf || !len)
		return "";
	if (errnum)
		snprintf(buf, len, "%s: %s", ktls_strerror(e), strerror(errnum));
	else
		snprintf(buf, len, "%s", ktls_strerror(e));
	return buf;
}

/* Returns e with errno set to err (callers read errno after a failure). */
static enum ktls_err fail(enum ktls_err e, int err)
{
	errno = err;
	return e;
}

/* ---- crypto_info for TLS 1.3 ---- */

union ktls_crypto_info {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
	struct tls12_crypto_info_aes_ccm_128 ccm128;
};

/* RFC 8446 §5.3 nonce = write_iv XOR seq; the kernel computes it as
 * (salt || iv) XOR (0^4 || rec_seq), so GCM and CCM split write_iv 4 + 8
 * and ChaCha20 takes all 12 bytes as iv. rec_seq is big-endian. */
static int crypto_info_fill(union ktls_crypto_info *ci, socklen_t *len, int cipher_type,
			    const uint8_t *key, const uint8_t iv[TLS_IV_LEN], uint64_t seq)
{
	memset(ci, 0, sizeof(*ci));
	ci->info.version = TLS_1_3_VERSION;
	ci->info.cipher_type = (uint16_t)cipher_type;
	switch (cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		memcpy(ci->gcm128.key, key, TLS_CIPHER_AES_GCM_128_KEY_SIZE);
		memcpy(ci->gcm128.salt, iv, TLS_CIPHER_AES_GCM_128_SALT_SIZE);
		memcpy(ci->gcm128.iv, iv + TLS_CIPHER_AES_GCM_128_SALT_SIZE,
		       TLS_CIPHER_AES_GCM_128_IV_SIZE);
		tls_store_u64(ci->gcm128.rec_seq, seq);
		*len = sizeof(ci->gcm128);
		return 0;
	case TLS_CIPHER_AES_GCM_256:
		memcpy(ci->gcm256.key, key, TLS_CIPHER_AES_GCM_256_KEY_SIZE);
		memcpy(ci->gcm256.salt, iv, TLS_CIPHER_AES_GCM_256_SALT_SIZE);
		memcpy(ci->gcm256.iv, iv + TLS_CIPHER_AES_GCM_256_SALT_SIZE,
		       TLS_CIPHER_AES_GCM_256_IV_SIZE);
		tls_store_u64(ci->gcm256.rec_seq, seq);
		*len = sizeof(ci->gcm256);
		return 0;
	case TLS_CIPHER_CHACHA20_POLY1305:
		memcpy(ci->chacha.key, key, TLS_CIPHER_CHACHA20_POLY1305_KEY_SIZE);
		memcpy(ci->chacha.iv, iv, TLS_CIPHER_CHACHA20_POLY1305_IV_SIZE);
		tls_store_u64(ci->chacha.rec_seq, seq);
		*len = sizeof(ci->chacha);
		return 0;
	case TLS_CIPHER_AES_CCM_128:
		memcpy(ci->ccm128.key, key, TLS_CIPHER_AES_CCM_128_KEY_SIZE);
		memcpy(ci->ccm128.salt, iv, TLS_CIPHER_AES_CCM_128_SALT_SIZE);
		memcpy(ci->ccm128.iv, iv + TLS_CIPHER_AES_CCM_128_SALT_SIZE,
		       TLS_CIPHER_AES_CCM_128_IV_SIZE);
		tls_store_u64(ci->ccm128.rec_seq, seq);
		*len = sizeof(ci->ccm128);
		return 0;
	}
	return -1;
}

static socklen_t crypto_info_size(int cipher_type)
{
	switch (cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		return sizeof(struct tls12_crypto_info_aes_gcm_128);
	case TLS_CIPHER_AES_GCM_256:
		return sizeof(struct tls12_crypto_info_aes_gcm_256);
	case TLS_CIPHER_CHACHA20_POLY1305:
		return sizeof(struct tls12_crypto_info_chacha20_poly1305);
	case TLS_CIPHER_AES_CCM_128:
		return sizeof(struct tls12_crypto_info_aes_ccm_128);
	}
	return 0;
}

static enum ktls_dir other_dir(enum ktls_dir dir)
{
	return dir == KTLS_DIR_TX ? KTLS_DIR_RX : KTLS_DIR_TX;
}

/* setsockopt(SOL_TLS, dir) and the errno -> code mapping of notes §2/§4.
 * `update`: dir already had a key; `paired`: the other direction has one. */
static enum ktls_err set_crypto(int fd, enum ktls_dir dir, int cipher_type, const uint8_t *key,
				const uint8_t iv[TLS_IV_LEN], uint64_t seq, bool update, bool paired)
{
	union ktls_crypto_info ci;
	socklen_t len;
	int rc, err;

	if (crypto_info_fill(&ci, &len, cipher_type, key, iv, seq) < 0)
		return fail(KTLS_E_CIPHER, EINVAL);
	rc = setsockopt(fd, SOL_TLS, (int)dir, &ci, len);
	err = errno;
	OPENSSL_cleanse(&ci, sizeof(ci));
	if (rc == 0)
		return fail(KTLS_OK, 0);
	switch (err) {
	case EBUSY:
		/* < 6.14: "we don't support set crypto info more than one time" */
		return fail(KTLS_E_REKEY_UNSUPPORTED, err);
	case EINVAL:
		return fail(update || paired ? KTLS_E_REKEY_MISMATCH : KTLS_E_CIPHER, err);
	case ENOENT:
	case ENOPROTOOPT:
		/* no such AEAD (crypto module missing) or no such option */
		return fail(KTLS_E_CIPHER, err);
	case ENOTCONN:
		return fail(KTLS_E_NOT_CONNECTED, err);
	case EBADMSG:
		return fail(KTLS_E_DECRYPT, err);
	}
	return fail(KTLS_E_SYS, err);
}

/* ---- ULP and key install ---- */

/* The code for setsockopt(TCP_ULP, "tls") failing with err; EEXIST is
 * fine when the ULP already there is tls. */
static enum ktls_err attach_failed(int fd, int err)
{
	char name[16];
	socklen_t len = sizeof(name);

	switch (err) {
	case EEXIST:
		memset(name, 0, sizeof(name));
		if (getsockopt(fd, SOL_TCP, TCP_ULP, name, &len) < 0)
			return fail(KTLS_E_SYS, errno);
		name[sizeof(name) - 1] = 0;
		if (strcmp(name, "tls") == 0)
			return fail(KTLS_OK, 0);
		return fail(KTLS_E_OTHER_ULP, err);
	case ENOENT:
		return fail(KTLS_E_NO_ULP, err);
	case ENOTCONN:
		return fail(KTLS_E_NOT_CONNECTED, err);
	}
	return fail(KTLS_E_SYS, err);
}

enum ktls_err ktls_attach(int fd)
{
	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) == 0)
		return fail(KTLS_OK, 0);
	return attach_failed(fd, errno);
}

bool ktls_is_installed(int fd, enum ktls_dir dir)
{
	struct tls_crypto_info info;
	socklen_t len = sizeof(info);
	int saved = errno;
	bool yes = getsockopt(fd, SOL_TLS, (int)dir, &info, &len) == 0;

	errno = saved;
	return yes;
}

static bool dir_ok(enum ktls_dir dir)
{
	return dir == KTLS_DIR_TX || dir == KTLS_DIR_RX;
}

enum ktls_err ktls_install(int fd, enum ktls_dir dir, const tls_cipher *cs,
			   const uint8_t *secret, uint64_t rec_seq)
{
	uint8_t key[TLS_MAX_KEY], iv[TLS_IV_LEN];
	enum ktls_err e;
	bool attached = false;
	int err;

	if (fd < 0 || !cs || !secret || !dir_ok(dir) || !crypto_info_size(cs->ktls_cipher))
		return fail(KTLS_E_INVALID, EINVAL);
	/* Two syscalls when all goes well (a handshake installs both
	 * directions); what only an error needs is asked after it. */
	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) != 0) {
		if (errno != EEXIST)
			return attach_failed(fd, errno);
		attached = true;
	}
	if (tls_traffic_key_derive(cs, secret, key, iv) != 0) {
		OPENSSL_cleanse(key, sizeof(key));
		OPENSSL_cleanse(iv, sizeof(iv));
		return fail(KTLS_E_DERIVE, 0);
	}
	e = set_crypto(fd, dir, cs->ktls_cipher, key, iv, rec_seq, false, false);
	err = errno;
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	if (e == KTLS_OK)
		return fail(KTLS_OK, 0);
	/* a failed setsockopt installed nothing: the state is as before it */
	if (e == KTLS_E_CIPHER && err == EINVAL &&
	    (ktls_is_installed(fd, dir) || ktls_is_installed(fd, other_dir(dir))))
		return fail(KTLS_E_REKEY_MISMATCH, err);
	if (attached) {
		enum ktls_err a = attach_failed(fd, EEXIST); /* another ULP? */
		if (a != KTLS_OK)
			return a;
	}
	return fail(e, err);
}

enum ktls_err ktls_rekey(int fd, enum ktls_dir dir, const tls_cipher *cs,
			 const uint8_t *next_secret)
{
	if (!dir_ok(dir))
		return fail(KTLS_E_INVALID, EINVAL);
	if (!ktls_is_installed(fd, dir))
		return fail(KTLS_E_NOT_INSTALLED, 0);
	return ktls_install(fd, dir, cs, next_secret, 0);
}

/* Kernel release "6.14.0-..." -> 6014; 0 if unparsable. */
static unsigned kernel_version_code(void)
{
	struct utsname u;
	unsigned major = 0, minor = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return 0;
	return major * 1000 + minor;
}

bool ktls_rekey_supported(void)
{
	uint64_t v;
	int saved = errno;
	enum ktls_err e = ktls_stat_get("TlsRxRekeyOk", &v);
	bool yes;

	/* The rekey series added the counters, so they are the feature test;
	 * without the file (tls.ko not loaded yet) fall back to the version. */
	if (e == KTLS_OK)
		yes = true;
	else if (access("/proc/net/tls_stat", R_OK) == 0)
		yes = false;
	else
		yes = kernel_version_code() >= 6014;
	errno = saved;
	return yes;
}

/* Finishes a record whose first part went out: waits for POLLOUT, at
 * most timeout_ms in all. */
static enum ktls_err send_rest(int fd, uint8_t type, const uint8_t *p, size_t len, size_t sent,
			       int timeout_ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (sent < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		size_t n = 0;
		enum ktls_err e;
		long left;
		int pr;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return fail(KTLS_E_PARTIAL, ETIMEDOUT);
		pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno != EINTR)
			return fail(KTLS_E_PARTIAL, errno);
		if (pr <= 0)
			continue;
		e = ktls_send_record(fd, type, p + sent, len - sent, &n);
		sent += n;
		if (e != KTLS_OK && e != KTLS_E_AGAIN)
			return fail(KTLS_E_PARTIAL, errno);
	}
	return fail(KTLS_OK, 0);
}

enum ktls_err ktls_key_update_tx(int fd, const tls_cipher *cs, const uint8_t *next_secret,
				 bool request_update)
{
	uint8_t msg[TLS_KEY_UPDATE_MSG_LEN];
	enum ktls_err e;
	size_t sent = 0;

	if (fd < 0 || !cs || !next_secret)
		return fail(KTLS_E_INVALID, EINVAL);
	if (!ktls_is_installed(fd, KTLS_DIR_TX))
		return fail(KTLS_E_NOT_INSTALLED, 0);
	/* Refuse before sending: a KeyUpdate we cannot follow with a new TX
	 * key would make the peer switch keys alone and kill the stream. */
	if (!ktls_rekey_supported())
		return fail(KTLS_E_REKEY_UNSUPPORTED, EOPNOTSUPP);
	tls_key_update_build(msg, request_update);
	/* The cmsg send pushes any open data record first and is encrypted
	 * under the old key; only then may the TX key change. */
	e = ktls_send_record(fd, KTLS_CT_HANDSHAKE, msg, sizeof(msg), &sent);
	if (e == KTLS_E_AGAIN && sent > 0)
		e = send_rest(fd, KTLS_CT_HANDSHAKE, msg, sizeof(msg), sent, KTLS_KEY_UPDATE_WAIT_MS);
	if (e)
		return e;
	return ktls_install(fd, KTLS_DIR_TX, cs, next_secret, 0);
}

uint16_t ktls_max_payload_for_limit(uint16_t record_size_limit)
{
	if (record_size_limit < 64)
		return 0;
	if (record_size_limit > TLS_MAX_PLAINTEXT)
		return TLS_MAX_PLAINTEXT;
	return (uint16_t)(record_size_limit - 1);
}

static enum ktls_err max_payload_errno(int err)
{
	switch (err) {
	case ENOPROTOOPT:
		/* unknown SOL_TLS option: the kernel predates 6.19 */
		return fail(KTLS_E_MAX_PAYLOAD_UNSUPPORTED, err);
	case EBUSY:
		return fail(KTLS_E_TX_PENDING, err);
	case EINVAL:
		return fail(KTLS_E_INVALID, err);
	case ENOTCONN:
		return fail(KTLS_E_NOT_CONNECTED, err);
	}
	return fail(KTLS_E_SYS, err);
}

enum ktls_err ktls_set_tx_max_payload(int fd, uint16_t bytes)
{
	if (fd < 0 || bytes < 63 || bytes > TLS_MAX_PLAINTEXT)
		return fail(KTLS_E_INVALID, EINVAL);
	/* the option is a u16: any other length is EINVAL */
	if (setsockopt(fd, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN, &bytes, sizeof(bytes)) == 0)
		return fail(KTLS_OK, 0);
	return max_payload_errno(errno);
}

enum ktls_err ktls_get_tx_max_payload(int fd, uint16_t *bytes)
{
	uint16_t v = 0;
	socklen_t len = sizeof(v);

	if (fd < 0 || !bytes)
		return fail(KTLS_E_INVALID, EINVAL);
	if (getsockopt(fd, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN, &v, &len) < 0)
		return max_payload_errno(errno);
	if (len != sizeof(v))
		return fail(KTLS_E_SYS, EPROTO);
	*bytes = v;
	return fail(KTLS_OK, 0);
}

enum ktls_err ktls_set_rx_no_pad(int fd, bool on)
{
	int val = on ? 1 : 0;

	if (setsockopt(fd, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &val, sizeof(val)) == 0)
		return fail(KTLS_OK, 0);
	if (errno == EINVAL || errno == ENOPROTOOPT)
		return fail(KTLS_E_NO_PAD_UNSUPPORTED, errno);
	return fail(KTLS_E_SYS, errno);
}

enum ktls_err ktls_get_state(int fd, enum ktls_dir dir, uint16_t *version,
			     uint16_t *cipher_type, uint64_t *rec_seq)
{
	union ktls_crypto_info ci;
	socklen_t len = sizeof(struct tls_crypto_info), full;
	const uint8_t *seq;
	tls_reader r;
	uint64_t v;

	if (!dir_ok(dir))
		return fail(KTLS_E_INVALID, EINVAL);
	memset(&ci, 0, sizeof(ci));
	if (getsockopt(fd, SOL_TLS, (int)dir, &ci, &len) < 0)
		return fail(errno == EBUSY ? KTLS_E_NOT_INSTALLED : KTLS_E_SYS, errno);
	full = crypto_info_size(ci.info.cipher_type);
	if (!full)
		return fail(KTLS_E_CIPHER, EINVAL);
	len = full;
	/* the full struct is the only way to the current rec_seq; it carries
	 * the key too, which is wiped below */
	if (getsockopt(fd, SOL_TLS, (int)dir, &ci, &len) < 0 || len != full) {
		int err = errno;
		OPENSSL_cleanse(&ci, sizeof(ci));
		return fail(KTLS_E_SYS, err);
	}
	switch (ci.info.cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		seq = ci.gcm128.rec_seq;
		break;
	case TLS_CIPHER_AES_GCM_256:
		seq = ci.gcm256.rec_seq;
		break;
	case TLS_CIPHER_AES_CCM_128:
		seq = ci.ccm128.rec_seq;
		break;
	default:
		seq = ci.chacha.rec_seq;
		break;
	}
	r = tls_reader_init(seq, TLS_CIPHER_AES_GCM_128_REC_SEQ_SIZE);
	v = tls_read_u64(&r);
	if (version)
		*version = ci.info.version;
	if (cipher_type)
		*cipher_type = ci.info.cipher_type;
	if (rec_seq)
		*rec_seq = v;
	OPENSSL_cleanse(&ci, sizeof(ci));
	return fail(KTLS_OK, 0);
}

/* ---- records ---- */

static enum ktls_err map_io_errno(int err)
{
	switch (err) {
	case EAGAIN:
#if EWOULDBLOCK != EAGAIN
	case EWOULDBLOCK:
#endif
		return fail(KTLS_E_AGAIN, err);
	case EKEYEXPIRED:
		return fail(KTLS_E_REKEY_PENDING, err);
	case EIO:
		return fail(KTLS_E_NEED_CMSG, err);
	case EBADMSG:
		return fail(KTLS_E_DECRYPT, err);
	case ENOTCONN:
		return fail(KTLS_E_NOT_CONNECTED, err);
	}
	return fail(KTLS_E_SYS, err);
}

enum ktls_err ktls_send_record(int fd, uint8_t type, const void *data, size_t len, size_t *sent)
{
	union {
		char buf[CMSG_SPACE(1)];
		struct cmsghdr align;
	} ctl;
	const uint8_t *p = data;
	size_t done = 0;
	enum ktls_err e = KTLS_OK;
	int err = 0;

	if (sent)
		*sent = 0;
	if (fd < 0 || !data || !len)
		return fail(KTLS_E_INVALID, EINVAL);
	/* No poll here: a blocking socket waits in sendmsg (bounded by
	 * SO_SNDTIMEO), a non-blocking one hands EAGAIN to the caller. */
	while (done < len) {
		struct iovec iov = { .iov_base = (void *)(p + done), .iov_len = len - done };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
		};
		struct cmsghdr *c;
		ssize_t n;

		memset(&ctl, 0, sizeof(ctl));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_TLS;
		c->cmsg_type = TLS_SET_RECORD_TYPE;
		c->cmsg_len = CMSG_LEN(1);
		*CMSG_DATA(c) = type;
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			e = map_io_errno(err);
			break;
		}
		if (n == 0) {          /* cannot happen for len > 0; never spin */
			err = EIO;
			e = KTLS_E_SYS;
			break;
		}
		done += (size_t)n;
	}
	if (sent)
		*sent = done;
	return fail(e, err);
}

enum ktls_err ktls_recv_record(int fd, void *buf, size_t cap, int flags, struct ktls_rec *rec)
{
	union {
		char buf[CMSG_SPACE(1)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr msg;
	struct cmsghdr *c;
	bool have_type = false;
	ssize_t n;

	if (fd < 0 || !buf || !cap || !rec)
		return fail(KTLS_E_INVALID, EINVAL);
	memset(rec, 0, sizeof(*rec));
	do {
		memset(&msg, 0, sizeof(msg));
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(fd, &msg, flags);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return map_io_errno(errno);
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_TLS && c->cmsg_type == TLS_GET_RECORD_TYPE &&
		    c->cmsg_len >= CMSG_LEN(1)) {
			rec->type = *CMSG_DATA(c);
			have_type = true;
		}
	}
	if (n == 0 && !have_type)
		return fail(KTLS_E_CLOSED, 0);
	if (!have_type)
		return fail(KTLS_E_NO_RECORD_TYPE, 0);
	rec->len = (size_t)n;
	rec->complete = (msg.msg_flags & MSG_EOR) != 0;
	return fail(KTLS_OK, 0);
}

/* ---- /proc/net/tls_stat ---- */

enum ktls_err ktls_stat_get(const char *name, uint64_t *value)
{
	char line[256], key[64];
	uint64_t v;
	FILE *f;

	if (!name || !value)
		return fail(KTLS_E_INVALID, EINVAL);
	f = fopen("/proc/net/tls_stat", "re");
	if (!f)
		return fail(KTLS_E_STAT, errno);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %" SCNu64, key, &v) == 2 && strcmp(key, name) == 0) {
			fclose(f);
			*value = v;
			return fail(KTLS_OK, 0);
		}
	}
	fclose(f);
	return fail(KTLS_E_STAT, ENOENT);
}

/* ---- probe ---- */

/* A connected loopback TCP pair (client, accepted server side). */
static int loopback_pair(int *cli, int *srv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int l, c = -1, s = -1, err;

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -1;
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) < 0)
		goto out;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto out;
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		goto out;
	close(l);
	*cli = c;
	*srv = s;
	return 0;
out:
	err = errno;
	if (c >= 0)
		close(c);
	close(l);
	errno = err;
	return -1;
}

/* Throwaway all-zero key material: only acceptance is being probed. */
static const uint8_t probe_key[TLS_MAX_KEY];
static const uint8_t probe_iv[TLS_IV_LEN];

static void probe_extras(struct ktls_probe *p, int fd, int cipher_type)
{
	/* second TLS_TX on the same socket: EBUSY before 6.14 */
	enum ktls_err e = set_crypto(fd, KTLS_DIR_TX, cipher_type, probe_key, probe_iv, 0,
				     true, false);

	p->rekey = e == KTLS_OK;
	p->rekey_errno = e == KTLS_OK ? 0 : errno;
	e = set_crypto(fd, KTLS_DIR_RX, cipher_type, probe_key, probe_iv, 0, false, true);
	if (e != KTLS_OK) {
		p->rx_no_pad_errno = errno;
		return;
	}
	e = ktls_set_rx_no_pad(fd, true);
	p->rx_no_pad = e == KTLS_OK;
	p->rx_no_pad_errno = e == KTLS_OK ? 0 : errno;
}

static void probe_max_payload(struct ktls_probe *p, int fd)
{
	/* TX installed and nothing queued: setting it must work from 6.19 */
	enum ktls_err e = ktls_set_tx_max_payload(fd, 1023);

	p->tx_max_payload = e == KTLS_OK;
	p->tx_max_payload_errno = e == KTLS_OK ? 0 : errno;
}

enum ktls_err ktls_probe_run(struct ktls_probe *p)
{
	struct utsname u;
	bool extras_done = false;
	uint64_t v;

	memset(p, 0, sizeof(*p));
	if (uname(&u) == 0)
		snprintf(p->kernel, sizeof(p->kernel), "%s", u.release);
	p->ulp_err = KTLS_E_NO_ULP;
	for (int i = 0; i < KTLS_NCIPHERS; i++) {
		const tls_cipher *cs = tls_cipher_find(ktls_probe_suites[i]);
		enum ktls_err e;
		int c, s;

		p->cipher_err[i] = KTLS_E_CIPHER;
		if (loopback_pair(&c, &s) < 0) {
			p->cipher_errno[i] = errno;
			p->cipher_err[i] = KTLS_E_SYS;
			if (!p->ulp) {
				p->ulp_err = KTLS_E_SYS;
				p->ulp_errno = errno;
			}
			continue;
		}
		e = ktls_attach(c);
		if (e) {
			p->ulp_err = e;
			p->ulp_errno = errno;
			close(c);
			close(s);
			if (e == KTLS_E_NO_ULP)
				break;
			continue;
		}
		p->ulp = true;
		p->ulp_err = KTLS_OK;
		if (!cs) {
			p->cipher_err[i] = KTLS_E_INVALID;
		} else {
			e = set_crypto(c, KTLS_DIR_TX, cs->ktls_cipher, probe_key, probe_iv, 0,
				       false, false);
			p->cipher[i] = e == KTLS_OK;
			p->cipher_err[i] = e;
			p->cipher_errno[i] = e == KTLS_OK ? 0 : errno;
			if (e == KTLS_OK && !extras_done) {
				probe_max_payload(p, c);
				probe_extras(p, c, cs->ktls_cipher);
				extras_done = true;
			}
		}
		close(c);
		close(s);
	}
	/* read after the attach: it may have autoloaded tls.ko */
	p->rekey_counters = ktls_stat_get("TlsRxRekeyOk", &v) == KTLS_OK;
	if (!p->ulp)
		return fail(p->ulp_err, p->ulp_errno);
	for (int i = 0; i < KTLS_NCIPHERS; i++)
		if (p->cipher[i])
			return fail(KTLS_OK, 0);
	return fail(KTLS_E_CIPHER, p->cipher_errno[0]);
}

/* snprintf into buf at *off, tracking the would-be length like snprintf. */
__attribute__((format(printf, 4, 5)))
static void append(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(*off < len ? buf + *off : NULL, *off < len ? len - *off : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n;
}

size_t ktls_probe_format(const struct ktls_probe *p, char *buf, size_t len)
{
	char why[160];
	size_t off = 0;

	if (!buf)
		len = 0;
	if (len)
		buf[0] = 0;
	append(buf, len, &off, "kernel TLS on Linux %s:\n", p->kernel[0] ? p->kernel : "?");
	if (!p->ulp) {
		append(buf, len, &off, "  ULP \"tls\": no (%s)\n",
		       ktls_error_text(p->ulp_err, p->ulp_errno, why, sizeof(why)));
		return off;
	}
	append(buf, len, &off, "  ULP \"tls\": yes\n");
	for (int i = 0; i < KTLS_NCIPHERS; i++) {
		const tls_cipher *cs = tls_cipher_find(ktls_probe_suites[i]);
		const char *name = cs ? cs->name : "?";

		if (p->cipher[i])
			append(buf, len, &off, "  %s: yes\n", name);
		else
			append(buf, len, &off, "  %s: no (%s)\n", name,
			       ktls_error_text(p->cipher_err[i], p->cipher_errno[i], why, sizeof(why)));
	}
	if (p->rekey)
		append(buf, len, &off, "  TLS 1.3 rekey (KeyUpdate): yes%s\n",
		       p->rekey_counters ? ", TlsRxRekeyOk counters present" : "");
	else
		append(buf, len, &off, "  TLS 1.3 rekey (KeyUpdate): no (%s)\n",
		       ktls_error_text(KTLS_E_REKEY_UNSUPPORTED, p->rekey_errno, why, sizeof(why)));
	if (p->rx_no_pad)
		append(buf, len, &off, "  TLS_RX_EXPECT_NO_PAD: yes\n");
	else
		append(buf, len, &off, "  TLS_RX_EXPECT_NO_PAD: no (%s)\n",
		       ktls_error_text(KTLS_E_NO_PAD_UNSUPPORTED, p->rx_no_pad_errno, why, sizeof(why)));
	if (p->tx_max_payload)
		append(buf, len, &off, "  TLS_TX_MAX_PAYLOAD_LEN (record_size_limit): yes\n");
	else
		append(buf, len, &off, "  TLS_TX_MAX_PAYLOAD_LEN (record_size_limit): no (%s)\n",
		       ktls_error_text(p->tx_max_payload_errno == ENOPROTOOPT
					       ? KTLS_E_MAX_PAYLOAD_UNSUPPORTED : KTLS_E_SYS,
				       p->tx_max_payload_errno, why, sizeof(why)));
	return off;
}
