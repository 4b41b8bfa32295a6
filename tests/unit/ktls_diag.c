/* The sock_diag reply parser (lib/ktls_diag.c) on crafted netlink
 * messages: a good reply with every TLS_INFO field, the socket matched by
 * family, 4-tuple and cookie, the kernel's errors, and every truncation
 * and wrong length refused as malformed, never read past. Then one real
 * request on the host: a plain TCP pair is found (no ULP). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "ktls_diag.h"
#include "test.h"

/* A host-order netlink builder with nests patched on close. */
struct nb {
	uint8_t b[4096];
	size_t n;
	size_t open[8];
	int depth;
};

static void put(struct nb *m, const void *p, size_t n)
{
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void pad(struct nb *m)
{
	while (m->n % 4)
		m->b[m->n++] = 0;
}

static void attr(struct nb *m, uint16_t type, const void *p, uint16_t len)
{
	uint16_t h[2] = { (uint16_t)(4 + len), type };
	put(m, h, sizeof(h));
	if (len)
		put(m, p, len);
	pad(m);
}

static void attr_u16(struct nb *m, uint16_t type, uint16_t v)
{
	attr(m, type, &v, 2);
}

static void nest(struct nb *m, uint16_t type)
{
	uint16_t h[2] = { 0, (uint16_t)(type | NLA_F_NESTED) };
	m->open[m->depth++] = m->n;
	put(m, h, sizeof(h));
}

static void nest_end(struct nb *m)
{
	size_t at = m->open[--m->depth];
	uint16_t len = (uint16_t)(m->n - at);
	memcpy(m->b + at, &len, 2);
}

/* nlmsghdr with its length patched by msg_end */
static void msg(struct nb *m, uint16_t type, uint32_t seq)
{
	struct nlmsghdr h = { .nlmsg_type = type, .nlmsg_seq = seq };
	m->open[m->depth++] = m->n;
	put(m, &h, sizeof(h));
}

static void msg_end(struct nb *m)
{
	size_t at = m->open[--m->depth];
	uint32_t len = (uint32_t)(m->n - at);
	memcpy(m->b + at, &len, 4);
}

static struct ktls_diag_want want4(void)
{
	struct ktls_diag_want w;
	memset(&w, 0, sizeof(w));
	w.seq = 77;
	w.family = AF_INET;
	w.id.idiag_sport = htons(4433);
	w.id.idiag_dport = htons(51000);
	w.id.idiag_src[0] = htonl(0x7f000001);
	w.id.idiag_dst[0] = htonl(0x7f000002);
	w.id.idiag_cookie[0] = 0x1234;
	w.id.idiag_cookie[1] = 0x5678;
	w.cookie = true;
	return w;
}

static void entry_head(struct nb *m, const struct ktls_diag_want *w, uint32_t seq)
{
	struct inet_diag_msg d;
	memset(&d, 0, sizeof(d));
	d.idiag_family = w->family;
	d.id = w->id;
	msg(m, SOCK_DIAG_BY_FAMILY, seq);
	put(m, &d, sizeof(d));
}

/* INET_DIAG_ULP_INFO { NAME "tls", TLS { ... } } */
static void ulp_tls(struct nb *m, uint16_t tx, uint16_t rx)
{
	uint8_t junk[6] = { 1, 2, 3, 4, 5, 6 };
	nest(m, INET_DIAG_ULP_INFO);
	attr(m, INET_ULP_INFO_NAME, "tls", 4);
	nest(m, INET_ULP_INFO_TLS);
	attr_u16(m, TLS_INFO_VERSION, 0x0304);
	attr_u16(m, TLS_INFO_CIPHER, 51);
	attr_u16(m, TLS_INFO_TXCONF, tx);
	attr_u16(m, TLS_INFO_RXCONF, rx);
	attr(m, TLS_INFO_RX_NO_PAD, NULL, 0);
	attr_u16(m, KTLS_INFO_TX_MAX_PAYLOAD_LEN, 4096);
	attr(m, 99, junk, sizeof(junk));  /* a future field: skipped */
	nest_end(m);
	nest_end(m);
}

static void good(struct nb *m, const struct ktls_diag_want *w)
{
	uint8_t info[104] = { 0 };
	memset(m, 0, sizeof(*m));
	entry_head(m, w, w->seq);
	attr(m, INET_DIAG_INFO, info, sizeof(info));  /* tcp_info: skipped */
	ulp_tls(m, TLS_CONF_SW, TLS_CONF_HW);
	msg_end(m);
}

/* Parses an exact-size heap copy, so a read past the end is a real one. */
static enum ktls_err parse(const uint8_t *p, size_t n, const struct ktls_diag_want *w, struct ktls_diag *d)
{
	uint8_t *copy = malloc(n ? n : 1);
	enum ktls_err e;
	memcpy(copy, p, n);
	e = ktls_diag_parse(copy, n, w, d);
	free(copy);
	return e;
}

static void test_good(void)
{
	struct ktls_diag_want w = want4(), w6 = want4();
	struct ktls_diag d;
	struct nb m;
	enum ktls_err e;

	good(&m, &w);
	e = parse(m.b, m.n, &w, &d);
	test_ok(e == KTLS_OK && !strcmp(d.ulp, "tls") && d.has_tls && d.version == 0x0304 && d.cipher == 51 &&
			d.txconf == TLS_CONF_SW && d.rxconf == TLS_CONF_HW && d.rx_no_pad && !d.zc_ro_tx &&
			d.tx_max_payload == 4096,
		"good reply: ulp tls, 1.3, cipher 51, tx sw, rx hw, no_pad, max payload 4096 (%s)",
		ktls_strerror(e));

	/* IPv6: all 16 address bytes count */
	w6.family = AF_INET6;
	memset(w6.id.idiag_src, 0, 16);
	memset(w6.id.idiag_dst, 0, 16);
	w6.id.idiag_src[3] = htonl(1);
	w6.id.idiag_dst[3] = htonl(1);
	w6.id.idiag_dst[0] = htonl(0xfe800000);
	good(&m, &w6);
	test_ok(parse(m.b, m.n, &w6, &d) == KTLS_OK, "IPv6 entry matched on all 16 address bytes");
	w6.id.idiag_dst[2] = 7;
	test_ok(parse(m.b, m.n, &w6, &d) == KTLS_E_DIAG_NOT_FOUND, "IPv6: another destination is not ours");

	/* without ULP info */
	memset(&m, 0, sizeof(m));
	entry_head(&m, &w, w.seq);
	msg_end(&m);
	test_ok(parse(m.b, m.n, &w, &d) == KTLS_E_DIAG_NO_ULP && !d.has_tls, "entry without ULP info: NO_ULP");

	/* an ack, another socket's entry, then ours */
	{
		struct ktls_diag_want other = w;
		struct nb g;
		int32_t zero[5] = { 0 };
		other.id.idiag_dport = htons(1);
		memset(&m, 0, sizeof(m));
		msg(&m, NLMSG_ERROR, w.seq);
		put(&m, zero, sizeof(zero));
		msg_end(&m);
		entry_head(&m, &other, w.seq);
		ulp_tls(&m, TLS_CONF_HW, TLS_CONF_HW);
		msg_end(&m);
		good(&g, &w);
		put(&m, g.b, g.n);
		e = parse(m.b, m.n, &w, &d);
		test_ok(e == KTLS_OK && d.txconf == TLS_CONF_SW, "ack, another socket, then ours: ours is taken");
	}
}

static void test_not_ours(void)
{
	struct ktls_diag_want w = want4(), v;
	struct ktls_diag d;
	struct nb m;
	int32_t err[5] = { -ENOENT };

	good(&m, &w);
	v = w;
	v.seq = 78;
	test_ok(parse(m.b, m.n, &v, &d) == KTLS_E_DIAG_NOT_FOUND, "another request's answer (seq): not found");
	v = w;
	v.id.idiag_sport = htons(1);
	test_ok(parse(m.b, m.n, &v, &d) == KTLS_E_DIAG_NOT_FOUND, "another source port: not found");
	v = w;
	v.id.idiag_src[0] = htonl(0x7f000009);
	test_ok(parse(m.b, m.n, &v, &d) == KTLS_E_DIAG_NOT_FOUND, "another source address: not found");
	v = w;
	v.family = AF_INET6;
	test_ok(parse(m.b, m.n, &v, &d) == KTLS_E_DIAG_NOT_FOUND, "another family: not found");
	v = w;
	v.id.idiag_cookie[1] = 1;
	test_ok(parse(m.b, m.n, &v, &d) == KTLS_E_DIAG_NOT_FOUND, "another cookie (a reused 4-tuple): not found");
	v.cookie = false;
	test_ok(parse(m.b, m.n, &v, &d) == KTLS_OK, "no cookie known: the 4-tuple alone matches");

	memset(&m, 0, sizeof(m));
	msg(&m, NLMSG_ERROR, w.seq);
	put(&m, err, sizeof(err));
	msg_end(&m);
	test_ok(parse(m.b, m.n, &w, &d) == KTLS_E_DIAG_NOT_FOUND && errno == ENOENT,
		"the kernel's ENOENT: not found");
	err[0] = -EPERM;
	memset(&m, 0, sizeof(m));
	msg(&m, NLMSG_ERROR, w.seq);
	put(&m, err, sizeof(err));
	msg_end(&m);
	test_ok(parse(m.b, m.n, &w, &d) == KTLS_E_DIAG && errno == EPERM, "the kernel's EPERM: KTLS_E_DIAG, errno EPERM");

	memset(&m, 0, sizeof(m));
	msg(&m, NLMSG_DONE, w.seq);
	put(&m, err, 4);
	msg_end(&m);
	{
		struct nb g;
		good(&g, &w);
		put(&m, g.b, g.n);
	}
	test_ok(parse(m.b, m.n, &w, &d) == KTLS_E_DIAG_NOT_FOUND, "NLMSG_DONE ends the reply");
	test_ok(parse(m.b, 0, &w, &d) == KTLS_E_DIAG_NOT_FOUND, "an empty reply: not found");
}

static void test_truncated(void)
{
	struct ktls_diag_want w = want4();
	struct ktls_diag d;
	struct nb m;
	size_t cut, bad = 0;

	good(&m, &w);
	for (cut = 1; cut < m.n; cut++) {
		enum ktls_err e = parse(m.b, cut, &w, &d);
		if (e != KTLS_E_DIAG_MALFORMED || d.has_tls) {
			if (!bad)
				test_diag("cut at %zu: %s", cut, ktls_strerror(e));
			bad++;
		}
	}
	test_ok(bad == 0, "every truncation of a %zu-byte reply is malformed (%zu were not)", m.n, bad);
}

/* good() with one byte range overwritten */
static enum ktls_err patched(size_t off, const void *p, size_t n, struct ktls_diag *d)
{
	struct ktls_diag_want w = want4();
	struct nb m;
	good(&m, &w);
	memcpy(m.b + off, p, n);
	return parse(m.b, m.n, &w, d);
}

/* Offset in good() of the attribute reached by walking `path` (types,
 * each one nested in the one before), 0 if absent. */
static size_t find_attr(const uint16_t *path, int depth)
{
	struct ktls_diag_want w = want4();
	struct nb m;
	size_t at = sizeof(struct nlmsghdr) + sizeof(struct inet_diag_msg), end;
	int level = 0;

	good(&m, &w);
	end = m.n;
	while (at + 4 <= end) {
		uint16_t len, type;
		memcpy(&len, m.b + at, 2);
		memcpy(&type, m.b + at + 2, 2);
		if ((type & NLA_TYPE_MASK) == path[level]) {
			if (++level == depth)
				return at;
			end = at + len;
			at += 4;  /* into the nest */
			continue;
		}
		at += NLA_ALIGN(len);
	}
	return 0;
}

static void test_wrong_lengths(void)
{
	const size_t attrs = sizeof(struct nlmsghdr) + sizeof(struct inet_diag_msg);
	struct ktls_diag d;
	uint32_t u32;
	uint16_t u16;
	size_t at;

	u32 = 8;
	test_ok(patched(0, &u32, 4, &d) == KTLS_E_DIAG_MALFORMED, "nlmsg_len below the header: malformed");
	u32 = 100000;
	test_ok(patched(0, &u32, 4, &d) == KTLS_E_DIAG_MALFORMED, "nlmsg_len beyond the buffer: malformed");
	u32 = 16 + 40;
	test_ok(patched(0, &u32, 4, &d) == KTLS_E_DIAG_MALFORMED, "inet_diag_msg cut short: malformed");
	u16 = 2;
	test_ok(patched(attrs, &u16, 2, &d) == KTLS_E_DIAG_MALFORMED, "attribute length 2 (< header): malformed");
	u16 = 60000;
	test_ok(patched(attrs, &u16, 2, &d) == KTLS_E_DIAG_MALFORMED, "attribute longer than the message: malformed");

	const uint16_t tls[] = { INET_DIAG_ULP_INFO, INET_ULP_INFO_TLS };
	const uint16_t txconf[] = { INET_DIAG_ULP_INFO, INET_ULP_INFO_TLS, TLS_INFO_TXCONF };
	const uint16_t nopad[] = { INET_DIAG_ULP_INFO, INET_ULP_INFO_TLS, TLS_INFO_RX_NO_PAD };
	const uint16_t name[] = { INET_DIAG_ULP_INFO, INET_ULP_INFO_NAME };

	at = find_attr(tls, 2);
	u16 = 200;
	test_ok(at && patched(at, &u16, 2, &d) == KTLS_E_DIAG_MALFORMED,
		"TLS nest longer than the ULP nest around it: malformed");
	at = find_attr(txconf, 3);
	u16 = 5;  /* a u16 attribute with 1 byte of payload */
	test_ok(at && patched(at, &u16, 2, &d) == KTLS_E_DIAG_MALFORMED, "TXCONF with 1 byte of payload: malformed");
	u16 = 8;  /* 4 bytes of payload: the next attribute's header read as TXCONF */
	test_ok(at && patched(at, &u16, 2, &d) == KTLS_E_DIAG_MALFORMED, "TXCONF with 4 bytes of payload: malformed");
	at = find_attr(nopad, 3);
	u16 = 8;
	test_ok(at && patched(at, &u16, 2, &d) == KTLS_E_DIAG_MALFORMED, "a flag with a payload: malformed");
	at = find_attr(name, 2);
	test_ok(at && patched(at + 7, "s", 1, &d) == KTLS_E_DIAG_MALFORMED, "ULP name without its NUL: malformed");
	u16 = 4;
	test_ok(at && patched(at, &u16, 2, &d) == KTLS_E_DIAG_MALFORMED, "empty ULP name: malformed");
	{
		/* an NLMSG_ERROR too short for its error code */
		struct ktls_diag_want w = want4();
		struct nb m;
		memset(&m, 0, sizeof(m));
		msg(&m, NLMSG_ERROR, w.seq);
		put(&m, "\xfe\xff", 2);
		msg_end(&m);
		test_ok(parse(m.b, m.n, &w, &d) == KTLS_E_DIAG_MALFORMED, "NLMSG_ERROR without its code: malformed");
	}
}

/* One real request on the host: a TCP pair without a ULP is found by
 * cookie and 4-tuple and has no ULP info. */
static void test_host(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	struct ktls_diag d;
	enum ktls_err e;
	int l, c, s;

	l = socket(AF_INET, SOCK_STREAM, 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	test_ok(ktls_diag_get(c, &d) == KTLS_E_NOT_CONNECTED, "ktls_diag_get on an unconnected socket: not connected");
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &al) ||
	    connect(c, (struct sockaddr *)&a, sizeof(a)) || (s = accept(l, NULL, NULL)) < 0) {
		test_ok(false, "loopback TCP pair: %s", strerror(errno));
		return;
	}
	e = ktls_diag_get(s, &d);
	if (e == KTLS_E_DIAG_NOT_FOUND && errno == ENOENT)
		test_skip("tcp_diag not available on this host", "sock_diag finds a plain TCP socket");
	else
		test_ok(e == KTLS_E_DIAG_NO_ULP, "sock_diag finds a plain TCP socket by cookie and 4-tuple: no ULP (%s)",
			ktls_strerror(e));
	test_ok(ktls_diag_get(-1, &d) == KTLS_E_INVALID, "ktls_diag_get(-1): invalid");
	close(s);
	close(c);
	close(l);
}

int main(void)
{
	test_good();
	test_not_ours();
	test_truncated();
	test_wrong_lengths();
	test_host();
	return test_done();
}
