/* Per-socket kTLS state over sock_diag (NETLINK_SOCK_DIAG, libmnl).
 *
 * Kept apart from ktls.c so that only users of ktls_diag_get pull in
 * libmnl. The kernel adds INET_DIAG_ULP_INFO only when the INET_DIAG_INFO
 * extension is requested, and before Linux 6.15 only for CAP_NET_ADMIN. */
#include "ktls.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

struct diag_ctx {
	int family;
	uint16_t sport, dport;     /* network byte order */
	struct ktls_diag *out;
	bool found;
	bool ulp;
	bool malformed;
};

static int bad(struct diag_ctx *d)
{
	d->malformed = true;
	return MNL_CB_ERROR;
}

static int tls_info_cb(const struct nlattr *a, void *data)
{
	struct diag_ctx *d = data;
	struct ktls_diag *o = d->out;

	switch (mnl_attr_get_type(a)) {
	case TLS_INFO_VERSION:
	case TLS_INFO_CIPHER:
	case TLS_INFO_TXCONF:
	case TLS_INFO_RXCONF:
	case KTLS_INFO_TX_MAX_PAYLOAD_LEN:
		if (mnl_attr_validate(a, MNL_TYPE_U16) < 0)
			return bad(d);
		break;
	case TLS_INFO_ZC_RO_TX:
	case TLS_INFO_RX_NO_PAD:
		if (mnl_attr_validate(a, MNL_TYPE_FLAG) < 0)
			return bad(d);
		break;
	default:
		return MNL_CB_OK;  /* newer kernels may add fields */
	}
	switch (mnl_attr_get_type(a)) {
	case TLS_INFO_VERSION:
		o->version = mnl_attr_get_u16(a);
		break;
	case TLS_INFO_CIPHER:
		o->cipher = mnl_attr_get_u16(a);
		break;
	case TLS_INFO_TXCONF:
		o->txconf = mnl_attr_get_u16(a);
		break;
	case TLS_INFO_RXCONF:
		o->rxconf = mnl_attr_get_u16(a);
		break;
	case KTLS_INFO_TX_MAX_PAYLOAD_LEN:
		o->tx_max_payload = mnl_attr_get_u16(a);
		break;
	case TLS_INFO_ZC_RO_TX:
		o->zc_ro_tx = true;
		break;
	case TLS_INFO_RX_NO_PAD:
		o->rx_no_pad = true;
		break;
	}
	return MNL_CB_OK;
}

static int ulp_info_cb(const struct nlattr *a, void *data)
{
	struct diag_ctx *d = data;

	switch (mnl_attr_get_type(a)) {
	case INET_ULP_INFO_NAME:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
			return bad(d);
		snprintf(d->out->ulp, sizeof(d->out->ulp), "%s", mnl_attr_get_str(a));
		break;
	case INET_ULP_INFO_TLS:
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0 ||
		    mnl_attr_parse_nested(a, tls_info_cb, d) < 0)
			return bad(d);
		d->out->has_tls = true;
		break;
	}
	return MNL_CB_OK;
}

static int diag_attr_cb(const struct nlattr *a, void *data)
{
	struct diag_ctx *d = data;

	if (mnl_attr_get_type(a) != INET_DIAG_ULP_INFO)
		return MNL_CB_OK;
	if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0 ||
	    mnl_attr_parse_nested(a, ulp_info_cb, d) < 0)
		return bad(d);
	d->ulp = true;
	return MNL_CB_OK;
}

static int diag_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct diag_ctx *d = data;
	const struct inet_diag_msg *m;

	if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY)
		return MNL_CB_OK;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*m))
		return bad(d);
	m = mnl_nlmsg_get_payload(nlh);
	if (m->idiag_family != d->family || m->id.idiag_sport != d->sport ||
	    m->id.idiag_dport != d->dport)
		return MNL_CB_OK;
	d->found = true;
	if (mnl_attr_parse(nlh, sizeof(*m), diag_attr_cb, d) < 0)
		return bad(d);
	return MNL_CB_OK;
}

/* Fills the request's socket id from getsockname/getpeername. */
static int sock_id(int fd, struct inet_diag_sockid *id, int *family, unsigned *ifindex)
{
	struct sockaddr_storage l, r;
	socklen_t ll = sizeof(l), rl = sizeof(r);

	if (getsockname(fd, (struct sockaddr *)&l, &ll) < 0 ||
	    getpeername(fd, (struct sockaddr *)&r, &rl) < 0)
		return -1;
	if (l.ss_family != r.ss_family) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	memset(id, 0, sizeof(*id));
	id->idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	id->idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	*ifindex = 0;
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
		*ifindex = ls->sin6_scope_id;   /* link-local lookups need it */
	} else {
		errno = EAFNOSUPPORT;
		return -1;
	}
	*family = l.ss_family;
	return 0;
}

/* One SOCK_DIAG_BY_FAMILY get for the socket id, INET_DIAG_INFO requested. */
static struct nlmsghdr *build_request(char *buf, unsigned seq, int family,
				      const struct inet_diag_sockid *id)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct inet_diag_req_v2 *req;

	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = (uint8_t)family;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = ~0U;
	req->idiag_ext = 1U << (INET_DIAG_INFO - 1);  /* ULP info rides on it */
	req->id = *id;
	return nlh;
}

enum ktls_err ktls_diag_get(int fd, struct ktls_diag *out)
{
	char buf[16384];           /* a reply with tcp_info etc. fits easily */
	struct inet_diag_sockid id;
	struct diag_ctx d;
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	unsigned ifindex, seq, portid;
	enum ktls_err e = KTLS_OK;
	int family, err = 0;
	ssize_t n;

	if (fd < 0 || !out) {
		errno = EINVAL;
		return KTLS_E_INVALID;
	}
	memset(out, 0, sizeof(*out));
	memset(&d, 0, sizeof(d));
	d.out = out;
	if (sock_id(fd, &id, &family, &ifindex) < 0)
		return errno == ENOTCONN ? KTLS_E_NOT_CONNECTED : KTLS_E_SYS;
	d.family = family;
	d.sport = id.idiag_sport;
	d.dport = id.idiag_dport;
	id.idiag_if = ifindex;

	nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
	if (!nl)
		return KTLS_E_DIAG;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		e = KTLS_E_DIAG;
		err = errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	seq = (unsigned)time(NULL);
	nlh = build_request(buf, seq, family, &id);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		e = KTLS_E_DIAG;
		err = errno;
		goto out;
	}
	/* A get (not a dump) is answered by one message or one error. */
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0) {
		e = KTLS_E_DIAG;
		err = errno;
		goto out;
	}
	if (mnl_cb_run(buf, (size_t)n, seq, portid, diag_msg_cb, &d) < 0) {
		err = errno;
		if (d.malformed)
			e = KTLS_E_DIAG_MALFORMED;
		else if (err == ENOENT)
			e = KTLS_E_DIAG_NOT_FOUND;
		else
			e = KTLS_E_DIAG;
	} else if (!d.found) {
		e = KTLS_E_DIAG_NOT_FOUND;
		err = ENOENT;
	} else if (!d.ulp) {
		e = KTLS_E_DIAG_NO_ULP;
	}
out:
	mnl_socket_close(nl);
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
