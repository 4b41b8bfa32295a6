/* The handshake genetlink family through libmnl. Attribute numbers are
 * the kernel's (include/uapi/linux/handshake.h); unknown attributes in
 * ACCEPT are skipped (newer kernels add some), and DONE carries only what
 * every kernel since 6.5 accepts (its policy rejects unknown ones). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "log.h"
#include "upcall_nl.h"

#define FAMILY_NAME "handshake"
#define GROUP_NAME "tlshd"
#define FAMILY_VERSION 1

enum { CMD_READY = 1, CMD_ACCEPT = 2, CMD_DONE = 3 };
enum { HANDLER_CLASS_TLSHD = 1 };
enum {
	A_ACCEPT_SOCKFD = 1,
	A_ACCEPT_HANDLER_CLASS = 2,
	A_ACCEPT_MESSAGE_TYPE = 3,
	A_ACCEPT_TIMEOUT = 4,
	A_ACCEPT_AUTH_MODE = 5,
	A_ACCEPT_PEER_IDENTITY = 6,
	A_ACCEPT_CERTIFICATE = 7,
	A_ACCEPT_PEERNAME = 8,
	A_ACCEPT_KEYRING = 9,
};
enum { A_X509_CERT = 1, A_X509_PRIVKEY = 2 };
enum { A_DONE_STATUS = 1, A_DONE_SOCKFD = 2, A_DONE_REMOTE_AUTH = 3 };

/* ---- errors: errno and the kernel's extended ack text ---- */

struct nl_result {
	int err;                   /* positive errno from NLMSG_ERROR, 0: none */
	char msg[160];             /* NLMSGERR_ATTR_MSG, "" when none */
	void *data;                /* the caller's, for the data callback */
};

static int ext_ack_attr(const struct nlattr *a, void *data)
{
	struct nl_result *r = data;

	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		snprintf(r->msg, sizeof(r->msg), "%s", mnl_attr_get_str(a));
	return MNL_CB_OK;
}

int upcall_nl_parse_error(const struct nlmsghdr *nlh, int *err, char *msg, size_t len)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	size_t off = sizeof(*e), plen = mnl_nlmsg_get_payload_len(nlh);
	struct nl_result r = { 0 };

	*msg = '\0';
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		*err = EBADMSG;
		return -1;
	}
	*err = -e->error;
	if (!e->error)
		return 0;          /* the ACK */
	/* the TLVs follow the request (or only its header: NETLINK_CAP_ACK) */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (e->msg.nlmsg_len < sizeof(struct nlmsghdr) || e->msg.nlmsg_len - sizeof(struct nlmsghdr) > plen - off)
			return 0;  /* no room for TLVs after the echoed request */
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	}
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) && plen > off) {
		mnl_attr_parse_payload((const char *)e + off, plen - off, ext_ack_attr, &r);
		snprintf(msg, len, "%s", r.msg);
	}
	return 0;
}

static int on_error(const struct nlmsghdr *nlh, void *data)
{
	struct nl_result *r = data;

	if (upcall_nl_parse_error(nlh, &r->err, r->msg, sizeof(r->msg)) != 0)
		return MNL_CB_ERROR;
	return r->err ? MNL_CB_ERROR : MNL_CB_STOP;  /* an error, or the ACK */
}

static mnl_cb_t ctl_cbs[NLMSG_MIN_TYPE] = { [NLMSG_ERROR] = on_error };

static void describe(const struct nl_result *r, char *out, size_t len)
{
	snprintf(out, len, "%s%s%s", strerror(r->err), *r->msg ? ": " : "", r->msg);
}

static struct nlmsghdr *put_genl(uint8_t *buf, uint16_t type, uint16_t flags, unsigned seq, uint8_t cmd)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = FAMILY_VERSION;
	return nlh;
}

/* Sends nlh on s and runs cb over the answer until the ACK, an error or
 * (without an ACK asked for) the first answer. 0, or -1 with r->err. */
static int transact(struct mnl_socket *s, uint8_t *buf, struct nlmsghdr *nlh, mnl_cb_t cb, struct nl_result *r)
{
	unsigned seq = nlh->nlmsg_seq, portid = mnl_socket_get_portid(s);
	int ret;

	if (mnl_socket_sendto(s, nlh, nlh->nlmsg_len) < 0) {
		r->err = errno;
		return -1;
	}
	do {
		ssize_t n = mnl_socket_recvfrom(s, buf, MNL_SOCKET_BUFFER_SIZE);
		if (n < 0) {
			r->err = errno == EAGAIN ? ETIMEDOUT : errno;
			return -1;
		}
		ret = mnl_cb_run2(buf, (size_t)n, seq, portid, cb, r, ctl_cbs, NLMSG_MIN_TYPE);
		if (ret == MNL_CB_ERROR && !r->err)
			r->err = errno ? errno : EPROTO;
	} while (ret > MNL_CB_STOP);
	return r->err ? -1 : 0;
}

static struct mnl_socket *open_socket(char *err, size_t len)
{
	struct mnl_socket *s = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC);
	struct timeval tv = { .tv_sec = 2 };  /* the kernel answers at once; never hang a loop */
	int one = 1;

	if (!s) {
		snprintf(err, len, "netlink socket: %s", strerror(errno));
		return NULL;
	}
	if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, len, "netlink bind: %s", strerror(errno));
		mnl_socket_close(s);
		return NULL;
	}
	/* errors carry the kernel's text, and not our whole request back */
	mnl_socket_setsockopt(s, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(s, NETLINK_CAP_ACK, &one, sizeof(one));
	setsockopt(mnl_socket_get_fd(s), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return s;
}

/* ---- resolving the family ---- */

struct family {
	uint16_t id;
	uint32_t group;
	bool has_group;
};

static int group_attr(const struct nlattr *a, void *data)
{
	const char **name = ((const char **)data);
	uint32_t *id = (uint32_t *)(name + 1);

	if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_NAME && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		*name = mnl_attr_get_str(a);
	else if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_ID && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
		*id = mnl_attr_get_u32(a);
	return MNL_CB_OK;
}

static int family_attr(const struct nlattr *a, void *data)
{
	struct family *f = data;
	const struct nlattr *g;

	if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID && mnl_attr_validate(a, MNL_TYPE_U16) == 0)
		f->id = mnl_attr_get_u16(a);
	if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GROUPS && mnl_attr_validate(a, MNL_TYPE_NESTED) == 0) {
		mnl_attr_for_each_nested(g, a) {
			struct {
				const char *name;
				uint32_t id;
			} grp = { NULL, 0 };
			if (mnl_attr_parse_nested(g, group_attr, &grp) == MNL_CB_OK && grp.name &&
			    strcmp(grp.name, GROUP_NAME) == 0) {
				f->group = grp.id;
				f->has_group = true;
			}
		}
	}
	return MNL_CB_OK;
}

static int on_family(const struct nlmsghdr *nlh, void *data)
{
	struct nl_result *r = data;

	mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_attr, r->data);
	return MNL_CB_OK;
}

int upcall_nl_family(uint16_t *family, uint32_t *group, char *err, size_t len)
{
	uint8_t *buf = malloc(MNL_SOCKET_BUFFER_SIZE);
	struct family f = { 0 };
	struct nl_result r = { .data = &f };
	struct mnl_socket *s;
	struct nlmsghdr *nlh;
	char why[200];
	int rc = -1;

	if (!buf) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	if (!(s = open_socket(err, len))) {
		free(buf);
		return -1;
	}
	nlh = put_genl(buf, GENL_ID_CTRL, NLM_F_ACK, 1, CTRL_CMD_GETFAMILY);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, FAMILY_NAME);
	if (transact(s, buf, nlh, on_family, &r) != 0) {
		describe(&r, why, sizeof(why));
		if (r.err == ENOENT)
			snprintf(err, len, "this kernel has no handshake upcall (generic netlink family \"%s\" not found: "
				 "it needs Linux 6.5 or later built with NET_HANDSHAKE, which SUNRPC, NVME_TCP or "
				 "NVME_TARGET_TCP select)", FAMILY_NAME);
		else
			snprintf(err, len, "resolving the netlink family \"%s\": %s", FAMILY_NAME, why);
	} else if (!f.id || !f.has_group) {
		snprintf(err, len, "the netlink family \"%s\" has no multicast group \"%s\"", FAMILY_NAME, GROUP_NAME);
	} else {
		*family = f.id;
		*group = f.group;
		rc = 0;
	}
	mnl_socket_close(s);
	free(buf);
	return rc;
}

int upcall_nl_open(struct upcall_nl *n, uint16_t family, uint32_t group, char *err, size_t len)
{
	int g = (int)group;

	memset(n, 0, sizeof(*n));
	n->family = family;
	if (!(n->buf = malloc(MNL_SOCKET_BUFFER_SIZE))) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	if (!(n->mc = open_socket(err, len)) || !(n->req = open_socket(err, len)))
		goto fail;
	if (mnl_socket_setsockopt(n->mc, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)) < 0) {
		snprintf(err, len, "joining the handshake upcall's group \"%s\": %s", GROUP_NAME, strerror(errno));
		goto fail;
	}
	n->portid = mnl_socket_get_portid(n->req);
	return 0;
fail:
	upcall_nl_close(n);
	return -1;
}

void upcall_nl_close(struct upcall_nl *n)
{
	if (n->mc)
		mnl_socket_close(n->mc);
	if (n->req)
		mnl_socket_close(n->req);
	free(n->buf);
	memset(n, 0, sizeof(*n));
}

int upcall_nl_fd(const struct upcall_nl *n)
{
	return mnl_socket_get_fd(n->mc);
}

/* ---- READY ---- */

static int ready_attr(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == A_ACCEPT_HANDLER_CLASS && mnl_attr_validate(a, MNL_TYPE_U32) == 0 &&
	    mnl_attr_get_u32(a) == HANDLER_CLASS_TLSHD)
		*(bool *)data = true;
	return MNL_CB_OK;
}

int upcall_nl_ready(struct upcall_nl *n)
{
	int count = 0;

	for (;;) {
		ssize_t len = recv(mnl_socket_get_fd(n->mc), n->buf, MNL_SOCKET_BUFFER_SIZE, MSG_DONTWAIT);
		const struct nlmsghdr *nlh;

		if (len < 0 && errno == ENOBUFS)
			return -1;     /* notifications were dropped: look for every request */
		if (len <= 0)
			return count;  /* EAGAIN: all read */
		int rem = (int)len;
		for (nlh = (const struct nlmsghdr *)n->buf; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) {
			const struct genlmsghdr *g = mnl_nlmsg_get_payload(nlh);
			bool tlshd = false;

			if (nlh->nlmsg_type != n->family || mnl_nlmsg_get_payload_len(nlh) < sizeof(*g) ||
			    g->cmd != CMD_READY)
				continue;
			mnl_attr_parse(nlh, sizeof(*g), ready_attr, &tlshd);
			count += tlshd;
		}
	}
}

/* ---- ACCEPT ---- */

static int x509_attr(const struct nlattr *a, void *data)
{
	struct upcall_req *r = data;

	if (mnl_attr_validate(a, MNL_TYPE_U32) != 0)
		return MNL_CB_OK;
	if (mnl_attr_get_type(a) == A_X509_CERT)
		r->cert = (key_serial)mnl_attr_get_u32(a);
	else if (mnl_attr_get_type(a) == A_X509_PRIVKEY)
		r->privkey = (key_serial)mnl_attr_get_u32(a);
	return MNL_CB_OK;
}

static int accept_attr(const struct nlattr *a, void *data)
{
	struct upcall_req *r = data;
	uint16_t t = mnl_attr_get_type(a);

	if (t == A_ACCEPT_PEERNAME) {
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			snprintf(r->peername, sizeof(r->peername), "%s", mnl_attr_get_str(a));
		return MNL_CB_OK;
	}
	if (t == A_ACCEPT_CERTIFICATE) {
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
			mnl_attr_parse_nested(a, x509_attr, r);
		return MNL_CB_OK;
	}
	if (mnl_attr_validate(a, MNL_TYPE_U32) != 0)
		return MNL_CB_OK;      /* not ours, or a newer attribute */
	switch (t) {
	case A_ACCEPT_SOCKFD:
		r->fd = (int)mnl_attr_get_u32(a);
		break;
	case A_ACCEPT_MESSAGE_TYPE:
		r->msg_type = mnl_attr_get_u32(a);
		break;
	case A_ACCEPT_TIMEOUT:
		r->timeout_ms = mnl_attr_get_u32(a);
		break;
	case A_ACCEPT_AUTH_MODE:
		r->auth = mnl_attr_get_u32(a);
		break;
	case A_ACCEPT_PEER_IDENTITY:
		if (r->n_peerids < UPCALL_MAX_PEERIDS)
			r->peerids[r->n_peerids++] = (key_serial)mnl_attr_get_u32(a);
		break;
	case A_ACCEPT_KEYRING:
		r->keyring = (key_serial)mnl_attr_get_u32(a);
		break;
	}
	return MNL_CB_OK;
}

int upcall_nl_parse_accept(const struct nlmsghdr *nlh, struct upcall_req *r)
{
	const struct genlmsghdr *g = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*g)) || g->cmd != CMD_ACCEPT)
		return -1;
	/* a malformed attribute stops the walk; what came before it stays */
	mnl_attr_parse(nlh, sizeof(*g), accept_attr, r);
	return 0;
}

static int on_accept(const struct nlmsghdr *nlh, void *data)
{
	struct nl_result *res = data;

	return upcall_nl_parse_accept(nlh, res->data) == 0 ? MNL_CB_STOP : MNL_CB_OK;
}

int upcall_nl_accept(struct upcall_nl *n, struct upcall_req *r)
{
	struct nl_result res = { .data = r };
	struct nlmsghdr *nlh;
	char why[200];

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	nlh = put_genl(n->buf, n->family, 0, ++n->seq, CMD_ACCEPT);
	mnl_attr_put_u32(nlh, A_ACCEPT_HANDLER_CLASS, HANDLER_CLASS_TLSHD);
	if (transact(n->req, n->buf, nlh, on_accept, &res) != 0) {
		if (res.err == EAGAIN)
			return 0;      /* nothing pending: someone else took it */
		describe(&res, why, sizeof(why));
		log_ev(LOG_ERR, "upcall_failed", "command=accept error=%s%s", log_q(why),
		       res.err == EPERM ? " text=\"the upcall needs CAP_NET_ADMIN\"" : "");
		return -1;
	}
	if (r->fd < 0) {
		log_ev(LOG_ERR, "upcall_failed", "command=accept text=\"answered without a socket\"");
		return -1;
	}
	return 1;
}

/* ---- DONE ---- */

static int on_ack(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(void)data;
	return MNL_CB_OK;
}

int upcall_nl_done(struct upcall_nl *n, int fd, uint32_t status, uint32_t remote)
{
	struct nl_result res = { 0 };
	struct nlmsghdr *nlh;
	char why[200];

	nlh = put_genl(n->buf, n->family, NLM_F_ACK, ++n->seq, CMD_DONE);
	mnl_attr_put_u32(nlh, A_DONE_STATUS, status);
	mnl_attr_put_u32(nlh, A_DONE_SOCKFD, (uint32_t)fd);
	if (remote)
		mnl_attr_put_u32(nlh, A_DONE_REMOTE_AUTH, remote);
	if (transact(n->req, n->buf, nlh, on_ack, &res) != 0) {
		describe(&res, why, sizeof(why));
		log_ev(LOG_ERR, "upcall_failed", "command=done status=%u fd=%d error=%s", status, fd, log_q(why));
		return -1;
	}
	return 0;
}
