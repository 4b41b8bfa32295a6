/* Per-socket kTLS state over sock_diag: one NETLINK_SOCK_DIAG get for one
 * TCP socket, and the reply parsed with the bounds-checked reader.
 *
 * Raw netlink in plain C (no libmnl): libhandshake uses it for
 * hs_info_refresh() and applications never link libmnl. The kernel adds
 * INET_DIAG_ULP_INFO only when the INET_DIAG_INFO extension is requested,
 * and before Linux 6.15 only for CAP_NET_ADMIN. Netlink is host byte
 * order, so fields are copied out of the reader rather than read as
 * big-endian integers. */
#include "ktls_diag.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "tls/wire.h"

#define NLHDR_LEN ((size_t)sizeof(struct nlmsghdr))  /* 16 */
#define NLA_HDR ((size_t)sizeof(struct nlattr))      /* 4 */

static uint16_t rd_u16(tls_reader *r)
{
	uint16_t v;
	tls_read_copy(r, &v, sizeof(v));
	return v;
}

static uint32_t rd_u32(tls_reader *r)
{
	uint32_t v;
	tls_read_copy(r, &v, sizeof(v));
	return v;
}

/* Skips the padding to the next 4-byte boundary; the last item of a
 * stream may come without it. */
static void skip_pad(tls_reader *r, size_t len)
{
	size_t pad = NLMSG_ALIGN(len) - len;
	tls_read_bytes(r, pad < r->left ? pad : r->left);
}

/* The next attribute of a stream: its type (flag bits masked) and a
 * reader over its payload. false at the end, or with r->err set when the
 * length is below the header or beyond the stream. */
static bool next_attr(tls_reader *r, uint16_t *type, tls_reader *payload)
{
	uint16_t len, t;

	if (r->err || r->left == 0)
		return false;
	len = rd_u16(r);
	t = rd_u16(r);
	if (r->err || len < NLA_HDR) {
		tls_reader_fail(r);
		return false;
	}
	*payload = tls_read_sub(r, len - NLA_HDR);
	if (r->err)
		return false;
	skip_pad(r, len);
	*type = t & NLA_TYPE_MASK;
	return true;
}

/* A u16 attribute's payload must be exactly 2 bytes. */
static uint16_t attr_u16(tls_reader *p, tls_reader *parent)
{
	uint16_t v = rd_u16(p);
	if (p->err || p->left)
		tls_reader_fail(parent);
	return v;
}

static void parse_tls(tls_reader *r, struct ktls_diag *o)
{
	tls_reader p;
	uint16_t type;

	while (next_attr(r, &type, &p)) {
		switch (type) {
		case TLS_INFO_VERSION:
			o->version = attr_u16(&p, r);
			break;
		case TLS_INFO_CIPHER:
			o->cipher = attr_u16(&p, r);
			break;
		case TLS_INFO_TXCONF:
			o->txconf = attr_u16(&p, r);
			break;
		case TLS_INFO_RXCONF:
			o->rxconf = attr_u16(&p, r);
			break;
		case KTLS_INFO_TX_MAX_PAYLOAD_LEN:
			o->tx_max_payload = attr_u16(&p, r);
			break;
		case TLS_INFO_ZC_RO_TX:
		case TLS_INFO_RX_NO_PAD:
			if (p.left)    /* a flag has no payload */
				tls_reader_fail(r);
			else if (type == TLS_INFO_ZC_RO_TX)
				o->zc_ro_tx = true;
			else
				o->rx_no_pad = true;
			break;
		default:
			break;         /* newer kernels may add fields */
		}
	}
}

static void parse_ulp(tls_reader *r, struct ktls_diag *o)
{
	tls_reader p;
	uint16_t type;

	while (next_attr(r, &type, &p)) {
		if (type == INET_ULP_INFO_NAME) {
			/* a NUL-terminated string */
			size_t n = p.left;
			const uint8_t *s = tls_read_bytes(&p, n);
			if (!s || n == 0 || s[n - 1] != 0) {
				tls_reader_fail(r);
				return;
			}
			snprintf(o->ulp, sizeof(o->ulp), "%s", (const char *)s);
		} else if (type == INET_ULP_INFO_TLS) {
			parse_tls(&p, o);
			if (p.err)
				tls_reader_fail(r);
			o->has_tls = true;
		}
	}
}

static bool same_socket(const struct inet_diag_msg *m, const struct ktls_diag_want *w)
{
	size_t alen = w->family == AF_INET ? 4 : 16;

	return m->idiag_family == w->family && m->id.idiag_sport == w->id.idiag_sport &&
	       m->id.idiag_dport == w->id.idiag_dport &&
	       memcmp(m->id.idiag_src, w->id.idiag_src, alen) == 0 &&
	       memcmp(m->id.idiag_dst, w->id.idiag_dst, alen) == 0 &&
	       (!w->cookie || memcmp(m->id.idiag_cookie, w->id.idiag_cookie, sizeof(m->id.idiag_cookie)) == 0);
}

/* One SOCK_DIAG_BY_FAMILY message: 1 ours with ULP info, 0 ours without,
 * -1 not ours, -2 malformed. */
static int parse_entry(tls_reader *body, const struct ktls_diag_want *w, struct ktls_diag *out)
{
	struct inet_diag_msg m;
	tls_reader p;
	uint16_t type;
	bool ulp = false;

	tls_read_copy(body, &m, sizeof(m));
	if (body->err)
		return -2;
	if (!same_socket(&m, w))
		return -1;
	skip_pad(body, sizeof(m));
	while (next_attr(body, &type, &p)) {
		if (type != INET_DIAG_ULP_INFO)
			continue;
		parse_ulp(&p, out);
		if (p.err)
			return -2;
		ulp = true;
	}
	return body->err ? -2 : ulp;
}

enum ktls_err ktls_diag_parse(const uint8_t *buf, size_t len, const struct ktls_diag_want *w,
			      struct ktls_diag *out)
{
	tls_reader r = tls_reader_init(buf, len);

	memset(out, 0, sizeof(*out));
	while (r.left) {
		uint32_t mlen = rd_u32(&r), seq;
		uint16_t type;
		tls_reader body;
		int e;

		type = rd_u16(&r);
		rd_u16(&r);        /* flags */
		seq = rd_u32(&r);
		rd_u32(&r);        /* port id */
		if (r.err || mlen < NLHDR_LEN)
			goto malformed;
		body = tls_read_sub(&r, mlen - NLHDR_LEN);
		if (r.err)
			goto malformed;
		skip_pad(&r, mlen);
		if (seq != w->seq)
			continue;  /* not an answer to this request */
		switch (type) {
		case NLMSG_ERROR:
			e = (int)rd_u32(&body);
			if (body.err)
				goto malformed;
			if (e == 0)
				continue;  /* an ack */
			errno = -e;
			return e == -ENOENT || e == -ESTALE ? KTLS_E_DIAG_NOT_FOUND : KTLS_E_DIAG;
		case NLMSG_DONE:
			r.left = 0;
			break;
		case SOCK_DIAG_BY_FAMILY:
			e = parse_entry(&body, w, out);
			if (e == -2) {
				memset(out, 0, sizeof(*out));
				goto malformed;
			}
			if (e >= 0) {
				errno = 0;
				return e ? KTLS_OK : KTLS_E_DIAG_NO_ULP;
			}
			break;
		default:
			break;
		}
	}
	errno = ENOENT;
	return KTLS_E_DIAG_NOT_FOUND;
malformed:
	errno = EBADMSG;
	return KTLS_E_DIAG_MALFORMED;
}

/* The request's socket id from getsockname/getpeername and SO_COOKIE. */
static int sock_id(int fd, struct ktls_diag_want *w)
{
	struct sockaddr_storage l, r;
	socklen_t ll = sizeof(l), rl = sizeof(r), cl;
	uint64_t cookie;
	struct inet_diag_sockid *id = &w->id;

	if (getsockname(fd, (struct sockaddr *)&l, &ll) < 0 ||
	    getpeername(fd, (struct sockaddr *)&r, &rl) < 0)
		return -1;
	if (l.ss_family != r.ss_family) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	memset(id, 0, sizeof(*id));
	if (l.ss_family == AF_INET) {
		const struct sockaddr_in *ls = (const struct sockaddr_in *)&l;
		const struct sockaddr_in *rs = (const struct sockaddr_in *)&r;

		id->idiag_sport = ls->sin_port;
		id->idiag_dport = rs->sin_port;
		memcpy(id->idiag_src, &ls->sin_addr, sizeof(ls->sin_addr));
		memcpy(id->idiag_dst, &rs->sin_addr, sizeof(rs->sin_addr));
	} else if (l.ss_family == AF_INET6) {
		const struct sockaddr_in6 *ls = (const struct sockaddr_in6 *)&l;
		const struct sockaddr_in6 *rs = (const struct sockaddr_in6 *)&r;

		id->idiag_sport = ls->sin6_port;
		id->idiag_dport = rs->sin6_port;
		memcpy(id->idiag_src, &ls->sin6_addr, sizeof(ls->sin6_addr));
		memcpy(id->idiag_dst, &rs->sin6_addr, sizeof(rs->sin6_addr));
		id->idiag_if = ls->sin6_scope_id;   /* link-local lookups need it */
	} else {
		errno = EAFNOSUPPORT;
		return -1;
	}
	w->family = (uint8_t)l.ss_family;
	/* the cookie makes the kernel's lookup exact (a reused 4-tuple is
	 * another socket); without it the 4-tuple alone */
	cl = sizeof(cookie);
	w->cookie = getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &cl) == 0 && cl == sizeof(cookie);
	if (w->cookie) {
		id->idiag_cookie[0] = (uint32_t)cookie;
		id->idiag_cookie[1] = (uint32_t)(cookie >> 32);
	} else {
		id->idiag_cookie[0] = INET_DIAG_NOCOOKIE;
		id->idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	}
	return 0;
}

enum ktls_err ktls_diag_get(int fd, struct ktls_diag *out)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} q;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK }, from;
	struct timeval tv = { .tv_sec = 2 };   /* the kernel answers at once */
	uint8_t buf[16384];        /* a reply with tcp_info etc. fits easily */
	struct ktls_diag_want w;
	socklen_t fl = sizeof(from);
	struct timespec ts;
	enum ktls_err e;
	ssize_t n;
	int nl, err;

	if (fd < 0 || !out) {
		errno = EINVAL;
		return KTLS_E_INVALID;
	}
	memset(out, 0, sizeof(*out));
	memset(&w, 0, sizeof(w));
	if (sock_id(fd, &w) < 0)
		return errno == ENOTCONN ? KTLS_E_NOT_CONNECTED : KTLS_E_SYS;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	w.seq = (uint32_t)ts.tv_nsec ^ (uint32_t)getpid();

	memset(&q, 0, sizeof(q));
	q.nlh.nlmsg_len = sizeof(q);
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST;
	q.nlh.nlmsg_seq = w.seq;
	q.req.sdiag_family = w.family;
	q.req.sdiag_protocol = IPPROTO_TCP;
	q.req.idiag_states = ~0U;
	q.req.idiag_ext = 1U << (INET_DIAG_INFO - 1);  /* ULP info rides on it */
	q.req.id = w.id;

	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return KTLS_E_DIAG;
	setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(nl, &q, sizeof(q), 0, (struct sockaddr *)&kernel, sizeof(kernel)) != (ssize_t)sizeof(q)) {
		err = errno;
		e = KTLS_E_DIAG;
		goto out;
	}
	/* A get (not a dump) is answered by one message or one error; only
	 * the kernel's (nl_pid 0) counts. MSG_TRUNC: the true length. */
	do
		n = recvfrom(nl, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&from, &fl);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		err = errno;
		e = KTLS_E_DIAG;
		goto out;
	}
	if ((size_t)n > sizeof(buf) || fl != sizeof(from) || from.nl_pid != 0) {
		err = EBADMSG;
		e = KTLS_E_DIAG_MALFORMED;
		goto out;
	}
	e = ktls_diag_parse(buf, (size_t)n, &w, out);
	err = errno;
out:
	close(nl);
	errno = err;
	return e;
}

const char *ktls_conf_name(uint16_t conf)
{
	switch (conf) {
	case TLS_CONF_BASE:
		return "base";
	case TLS_CONF_SW:
		return "sw";
	case TLS_CONF_HW:
		return "hw";
	case TLS_CONF_HW_RECORD:
		return "hw-record";
	}
	return "?";
}
