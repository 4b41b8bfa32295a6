/* The handoff protocol (handoff.h): parsing and building messages, and
 * moving one message with at most one fd over a SOCK_SEQPACKET socket.
 * docs/handoff.md describes the same for people writing their own client. */
#include "handoff.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

_Static_assert(HANDOFF_A_MAX < 32, "struct handoff_msg.present is a 32-bit set");
_Static_assert(HANDOFF_MAX_STR == 255, "the error strings below say 255");

/* ---- attribute formats ---- */

enum fmt { F_UNKNOWN, F_BYTES, F_STR, F_U8, F_U16, F_U32, F_ID };

struct attr_info {
	enum fmt fmt;
	size_t len;                  /* fixed-size formats */
	const char *twice, *bad_len, *nul, *too_long;
};

/* Static strings naming the attribute, so *why is safe to keep and to
 * use from any thread. */
#define ATTR(a, f, n, size)                                                   \
	[HANDOFF_A_##a] = { f, n, #a " attribute appears twice",               \
			    #a " attribute is not " size " long",              \
			    #a " attribute contains a NUL byte",               \
			    #a " attribute is longer than 255 bytes" }

static const struct attr_info attrs[HANDOFF_A_MAX + 1] = {
	ATTR(SERVER_NAME, F_STR, 0, ""),
	ATTR(ALPN, F_STR, 0, ""),
	ATTR(EARLY_DATA, F_BYTES, 0, ""),
	ATTR(POST, F_BYTES, 0, ""),
	ATTR(RESUMED, F_U8, 1, "1 byte"),
	ATTR(EARLY_STATE, F_U8, 1, "1 byte"),
	ATTR(CIPHER, F_U16, 2, "2 bytes"),
	ATTR(GROUP, F_U16, 2, "2 bytes"),
	ATTR(SIG_SCHEME, F_U16, 2, "2 bytes"),
	ATTR(REASON, F_U32, 4, "4 bytes"),
	ATTR(ALERT, F_U8, 1, "1 byte"),
	ATTR(TEXT, F_STR, 0, ""),
	ATTR(VERIFY, F_U8, 1, "1 byte"),
	ATTR(TICKET, F_BYTES, 0, ""),
	ATTR(PEER_ID, F_ID, 32, "32 bytes"),
	ATTR(HRR, F_U8, 1, "1 byte"),
	ATTR(TIMEOUT_MS, F_U32, 4, "4 bytes"),
	ATTR(PORT, F_U16, 2, "2 bytes"),
	ATTR(NST, F_BYTES, 0, ""),
	ATTR(KTLS, F_U8, 1, "1 byte"),
};

static const struct attr_info *known(unsigned t)
{
	return t <= HANDOFF_A_MAX && attrs[t].fmt != F_UNKNOWN ? &attrs[t] : NULL;
}

/* What is wrong with value v of a known attribute, or NULL. */
static const char *value_problem(const struct attr_info *ai, tls_reader v)
{
	switch (ai->fmt) {
	case F_U8:
	case F_U16:
	case F_U32:
	case F_ID:
		return v.left == ai->len ? NULL : ai->bad_len;
	case F_STR: {
		if (v.left > HANDOFF_MAX_STR)
			return ai->too_long;
		size_t n = v.left;
		const uint8_t *s = tls_read_bytes(&v, n);
		return n && (!s || memchr(s, 0, n)) ? ai->nul : NULL;
	}
	case F_BYTES:
	case F_UNKNOWN:
		break;
	}
	return NULL;
}

/* ---- parsing ---- */

static int fail(struct handoff_msg *m, const char **why, const char *text)
{
	/* type and id stay (read from any 12-byte header): a daemon answers
	 * a malformed request with its id. */
	m->present = 0;
	memset(m->attr, 0, sizeof(m->attr));
	*why = text;
	return -1;
}

int handoff_parse(const uint8_t *p, size_t len, struct handoff_msg *m, const char **why)
{
	const char *ignored;
	if (!why)
		why = &ignored;
	memset(m, 0, sizeof(*m));
	if (!p || len < HANDOFF_HEADER_LEN)
		return fail(m, why, "message is shorter than the 12-byte header");
	tls_reader r = tls_reader_init(p, len);
	uint8_t m0 = tls_read_u8(&r), m1 = tls_read_u8(&r), version = tls_read_u8(&r);
	/* type and id first: every refusal below can still be answered */
	m->type = tls_read_u8(&r);
	m->id = tls_read_u32(&r);
	uint32_t body = tls_read_u32(&r);
	if (len > HANDOFF_MAX_MSG)
		return fail(m, why, "message is longer than 65536 bytes");
	if (m0 != HANDOFF_MAGIC0 || m1 != HANDOFF_MAGIC1)
		return fail(m, why, "bad magic: not a handoff message");
	if (version != HANDOFF_VERSION)
		return fail(m, why, "unsupported handoff protocol version (this side speaks 1)");
	if (r.err || body != r.left)
		return fail(m, why, "body length in the header does not match the datagram");
	while (r.left) {
		if (r.left < 4)
			return fail(m, why, "attribute header truncated at the end of the body");
		uint16_t t = tls_read_u16(&r);
		uint16_t n = tls_read_u16(&r);
		if (n > r.left)
			return fail(m, why, "attribute value runs past the end of the body");
		tls_reader v = tls_read_sub(&r, n);
		const struct attr_info *ai = known(t);
		if (!ai)
			continue; /* a newer peer's attribute */
		if (handoff_has(m, (enum handoff_attr)t))
			return fail(m, why, ai->twice);
		const char *bad = value_problem(ai, v);
		if (bad)
			return fail(m, why, bad);
		m->present |= 1u << t;
		m->attr[t] = v;
	}
	if (r.err)
		return fail(m, why, "attribute value runs past the end of the body");
	return 0;
}

/* ---- typed reads ---- */

static bool get(const struct handoff_msg *m, enum handoff_attr a, tls_reader *r)
{
	unsigned t = (unsigned)a;
	if (t == 0 || t > HANDOFF_A_MAX || !((m->present >> t) & 1))
		return false;
	*r = m->attr[t];
	return !r->err;
}

int handoff_get_u8(const struct handoff_msg *m, enum handoff_attr a, uint8_t *v)
{
	tls_reader r;
	if (!get(m, a, &r) || r.left != 1)
		return -1;
	*v = tls_read_u8(&r);
	return 0;
}

int handoff_get_u16(const struct handoff_msg *m, enum handoff_attr a, uint16_t *v)
{
	tls_reader r;
	if (!get(m, a, &r) || r.left != 2)
		return -1;
	*v = tls_read_u16(&r);
	return 0;
}

int handoff_get_u32(const struct handoff_msg *m, enum handoff_attr a, uint32_t *v)
{
	tls_reader r;
	if (!get(m, a, &r) || r.left != 4)
		return -1;
	*v = tls_read_u32(&r);
	return 0;
}

int handoff_get_str(const struct handoff_msg *m, enum handoff_attr a, char *buf, size_t buflen)
{
	tls_reader r;
	if (!buf || buflen == 0)
		return -1;
	buf[0] = '\0';
	/* the length and NUL checks again: a is not necessarily a string attribute */
	if (!get(m, a, &r) || r.left >= buflen)
		return -1;
	size_t n = r.left;
	const uint8_t *s = tls_read_bytes(&r, n);
	if (n && (!s || memchr(s, 0, n)))
		return -1;
	if (n)
		memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

const uint8_t *handoff_get_bytes(const struct handoff_msg *m, enum handoff_attr a, size_t *len)
{
	tls_reader r;
	size_t ignored;
	if (!len)
		len = &ignored;
	*len = 0;
	if (!get(m, a, &r))
		return NULL;
	*len = r.left;
	return tls_read_bytes(&r, r.left);
}

/* ---- building ---- */

void handoff_begin(tls_buf *b, enum handoff_type type, uint32_t id)
{
	/* one buffer is one message (handoff_send sends all of it) */
	tls_buf_reset(b);
	tls_write_u8(b, HANDOFF_MAGIC0);
	tls_write_u8(b, HANDOFF_MAGIC1);
	tls_write_u8(b, HANDOFF_VERSION);
	tls_write_u8(b, (uint8_t)type);
	tls_write_u32(b, id);
	tls_write_u32(b, 0); /* body length: handoff_end */
}

/* Appends one attribute; b->err for what the parser would refuse (a value
 * that does not fit its type, a message over HANDOFF_MAX_MSG). */
static void put(tls_buf *b, enum handoff_attr a, const uint8_t *p, size_t len)
{
	unsigned t = (unsigned)a;
	const struct attr_info *ai = known(t);
	if (b->err)
		return;
	if (b->len < HANDOFF_HEADER_LEN || t > UINT16_MAX || len > UINT16_MAX || (!p && len) ||
	    (ai && value_problem(ai, tls_reader_init(p, len))) ||
	    b->len + 4 + len > HANDOFF_MAX_MSG) {
		b->err = true;
		return;
	}
	tls_write_u16(b, (uint16_t)t);
	tls_write_u16(b, (uint16_t)len);
	tls_write_bytes(b, p, len);
}

static void put_int(tls_buf *b, enum handoff_attr a, uint32_t v, int width)
{
	uint8_t mem[4];
	tls_buf w;
	tls_buf_init_fixed(&w, mem, sizeof(mem));
	if (width == 1)
		tls_write_u8(&w, (uint8_t)v);
	else if (width == 2)
		tls_write_u16(&w, (uint16_t)v);
	else
		tls_write_u32(&w, v);
	put(b, a, mem, w.len);
}

void handoff_put_u8(tls_buf *b, enum handoff_attr a, uint8_t v) { put_int(b, a, v, 1); }
void handoff_put_u16(tls_buf *b, enum handoff_attr a, uint16_t v) { put_int(b, a, v, 2); }
void handoff_put_u32(tls_buf *b, enum handoff_attr a, uint32_t v) { put_int(b, a, v, 4); }

void handoff_put_str(tls_buf *b, enum handoff_attr a, const char *s)
{
	if (!s) {
		b->err = true;
		return;
	}
	size_t n = strnlen(s, HANDOFF_MAX_STR + 1);
	if (n > HANDOFF_MAX_STR) {
		b->err = true;
		return;
	}
	put(b, a, (const uint8_t *)s, n);
}

void handoff_put_bytes(tls_buf *b, enum handoff_attr a, const uint8_t *p, size_t len)
{
	put(b, a, p, len);
}

int handoff_end(tls_buf *b)
{
	if (!b->err && (b->len < HANDOFF_HEADER_LEN || b->len > HANDOFF_MAX_MSG))
		b->err = true;
	if (b->err)
		return -1;
	/* the header again, now with the body length */
	tls_reader r = tls_reader_init(b->base, HANDOFF_HEADER_LEN);
	tls_read_u16(&r);
	tls_read_u8(&r);
	uint8_t type = tls_read_u8(&r);
	uint32_t id = tls_read_u32(&r);
	tls_buf h;
	tls_buf_init_fixed(&h, b->base, HANDOFF_HEADER_LEN);
	tls_write_u8(&h, HANDOFF_MAGIC0);
	tls_write_u8(&h, HANDOFF_MAGIC1);
	tls_write_u8(&h, HANDOFF_VERSION);
	tls_write_u8(&h, type);
	tls_write_u32(&h, id);
	tls_write_u32(&h, (uint32_t)(b->len - HANDOFF_HEADER_LEN));
	return 0;
}

/* ---- names ---- */

const char *handoff_reason_name(enum handoff_reason r)
{
	switch (r) {
	case HANDOFF_R_OK: return "ok";
	case HANDOFF_R_MALFORMED: return "malformed";
	case HANDOFF_R_BAD_SOCKET: return "bad_socket";
	case HANDOFF_R_DENIED: return "denied";
	case HANDOFF_R_TLS: return "tls";
	case HANDOFF_R_PEER_CLOSED: return "peer_closed";
	case HANDOFF_R_TIMEOUT: return "timeout";
	case HANDOFF_R_KTLS: return "ktls";
	case HANDOFF_R_INTERNAL: return "internal";
	case HANDOFF_R_SHUTDOWN: return "shutdown";
	}
	return "unknown";
}

/* ---- one message over SOCK_SEQPACKET ---- */

int handoff_send(int sock, const tls_buf *msg, int fd)
{
	if (!msg || msg->err || msg->len == 0 || msg->len > HANDOFF_MAX_MSG) {
		errno = EINVAL;
		return -1;
	}
	struct iovec iov = { .iov_base = msg->base, .iov_len = msg->len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL); /* a gone peer is EPIPE, not SIGPIPE */
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n != msg->len) { /* not on SOCK_SEQPACKET; a stream socket */
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

/* Room for a few fds: a sender of more gets them all closed either way
 * (what did not fit is dropped by the kernel, MSG_CTRUNC), and for
 * credentials in case the socket has SO_PASSCRED. */
#define RECV_FDS 4

ssize_t handoff_recv(int sock, uint8_t *buf, size_t cap, int *fd)
{
	if (fd)
		*fd = -1;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * RECV_FDS) + CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct msghdr mh;
	ssize_t n;
	do {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;

	int got = -1, count = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const unsigned char *data = CMSG_DATA(c);
		for (size_t i = 0; i < k; i++) {
			int f;
			memcpy(&f, data + i * sizeof(int), sizeof(int));
			if (count++ == 0)
				got = f;
			else
				close(f);
		}
	}
	int err = 0;
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		err = EMSGSIZE; /* a message or fds did not fit: refuse it whole */
	else if (count > 1)
		err = EBADMSG;  /* exactly one fd per request */
	if (err || n == 0 || !fd) {
		if (got >= 0)
			close(got);
		got = -1;
	}
	if (err) {
		errno = err;
		return -1;
	}
	if (fd)
		*fd = got;
	return n;
}
