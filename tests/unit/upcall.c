/* The handshake upcall's pieces that need no kernel consumer: ACCEPT's
 * attributes as the kernel sends them (and malformed or unknown ones),
 * the keyring calls on a keyring of our own, and the PSK identity's hash. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/keyctl.h>
#include <linux/netlink.h>

#include <handshake/tls.h>

#include "../../handshaked/keyring.h"
#include "../../handshaked/upcall_nl.h"
#include "test.h"

static struct nlmsghdr *begin(uint8_t *buf, uint8_t cmd)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));

	nlh->nlmsg_type = 0x20;
	g->cmd = cmd;
	g->version = 1;
	return nlh;
}

static void parse_whole(void)
{
	uint8_t buf[4096];
	struct nlmsghdr *nlh = begin(buf, 2);
	struct upcall_req r = { .fd = -1 };
	struct nlattr *nest;

	mnl_attr_put_u32(nlh, 1, 7);                 /* SOCKFD */
	mnl_attr_put_u32(nlh, 3, UPCALL_MSG_SERVERHELLO);
	mnl_attr_put_u32(nlh, 4, 10000);             /* TIMEOUT */
	mnl_attr_put_u32(nlh, 5, UPCALL_AUTH_X509);
	for (uint32_t i = 0; i < 6; i++)
		mnl_attr_put_u32(nlh, 6, 100 + i);   /* PEER_IDENTITY: the kernel sends at most 5 */
	nest = mnl_attr_nest_start(nlh, 7);          /* CERTIFICATE */
	mnl_attr_put_u32(nlh, 1, 11);
	mnl_attr_put_u32(nlh, 2, 12);
	mnl_attr_nest_end(nlh, nest);
	mnl_attr_put_strz(nlh, 8, "nfs.example");    /* PEERNAME */
	mnl_attr_put_u32(nlh, 9, 99);                /* KEYRING (6.17) */
	mnl_attr_put_u32(nlh, 10, 3);                /* a future attribute */
	mnl_attr_put_strz(nlh, 11, "future");
	test_ok(upcall_nl_parse_accept(nlh, &r) == 0, "ACCEPT parsed");
	test_ok(r.fd == 7 && r.msg_type == UPCALL_MSG_SERVERHELLO && r.timeout_ms == 10000 &&
			r.auth == UPCALL_AUTH_X509, "socket, role, timeout and auth mode");
	test_ok(r.n_peerids == UPCALL_MAX_PEERIDS && r.peerids[0] == 100 && r.peerids[4] == 104,
		"peer identities: the first %d kept", UPCALL_MAX_PEERIDS);
	test_ok(r.cert == 11 && r.privkey == 12, "certificate and key serials from the nest");
	test_ok(strcmp(r.peername, "nfs.example") == 0 && r.keyring == 99, "peer name and keyring");
}

static void parse_bad(void)
{
	uint8_t buf[4096];
	struct nlmsghdr *nlh = begin(buf, 2);
	struct upcall_req r = { .fd = -1 };

	mnl_attr_put_u16(nlh, 1, 7);                 /* SOCKFD of the wrong size */
	mnl_attr_put(nlh, 8, 4, "abcd");             /* PEERNAME without its NUL */
	mnl_attr_put_u32(nlh, 7, 5);                 /* CERTIFICATE that is no nest */
	mnl_attr_put_u32(nlh, 3, UPCALL_MSG_CLIENTHELLO);
	test_ok(upcall_nl_parse_accept(nlh, &r) == 0 && r.fd == -1 && !*r.peername && !r.cert &&
			r.msg_type == UPCALL_MSG_CLIENTHELLO,
		"malformed attributes are skipped, the rest is read");

	nlh = begin(buf, 1);                         /* READY, not ACCEPT */
	mnl_attr_put_u32(nlh, 2, 1);
	memset(&r, 0, sizeof(r));
	test_ok(upcall_nl_parse_accept(nlh, &r) == -1, "a message that is not ACCEPT is refused");

	nlh = mnl_nlmsg_put_header(buf);             /* no genetlink header */
	nlh->nlmsg_type = 0x20;
	test_ok(upcall_nl_parse_accept(nlh, &r) == -1, "a message too short for its header is refused");

	nlh = begin(buf, 2);                         /* an attribute running past the message */
	mnl_attr_put_u32(nlh, 3, UPCALL_MSG_SERVERHELLO);
	mnl_attr_put_u32(nlh, 1, 9);
	((struct nlattr *)((uint8_t *)nlh + nlh->nlmsg_len - 8))->nla_len = 200;
	memset(&r, 0, sizeof(r));
	r.fd = -1;
	test_ok(upcall_nl_parse_accept(nlh, &r) == 0 && r.fd == -1 && r.msg_type == UPCALL_MSG_SERVERHELLO,
		"an attribute longer than the message ends the walk");
}

/* NLMSG_ERROR as the kernel sends it with NETLINK_EXT_ACK: the errno and
 * the text, with the request echoed or capped. */
static void errors(void)
{
	uint8_t buf[1024];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlmsgerr *e;
	char msg[64];
	int err = 0;

	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_flags = NLM_F_CAPPED | NLM_F_ACK_TLVS;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	e->error = -EINVAL;
	e->msg.nlmsg_len = 64;     /* the request's length: only its header is here */
	mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, "attribute type 4 has an invalid length");
	test_ok(upcall_nl_parse_error(nlh, &err, msg, sizeof(msg)) == 0 && err == EINVAL &&
			strcmp(msg, "attribute type 4 has an invalid length") == 0,
		"an error with the extended ack text (capped request)");

	nlh = mnl_nlmsg_put_header(buf);            /* the request echoed whole, then the TLVs */
	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_flags = NLM_F_ACK_TLVS;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e) + 8);
	e->error = -EPERM;
	e->msg.nlmsg_len = sizeof(struct nlmsghdr) + 8;
	mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, "no");
	test_ok(upcall_nl_parse_error(nlh, &err, msg, sizeof(msg)) == 0 && err == EPERM && strcmp(msg, "no") == 0,
		"an error after the echoed request");

	e->msg.nlmsg_len = 4000;                     /* an echo longer than the message */
	test_ok(upcall_nl_parse_error(nlh, &err, msg, sizeof(msg)) == 0 && err == EPERM && !*msg,
		"an echoed request longer than the message: the errno, no text");

	e->error = 0;
	test_ok(upcall_nl_parse_error(nlh, &err, msg, sizeof(msg)) == 0 && err == 0, "an ACK");

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = NLMSG_ERROR;
	test_ok(upcall_nl_parse_error(nlh, &err, msg, sizeof(msg)) == -1 && err == EBADMSG,
		"an error message too short for its header");
}

static void psk_cipher(void)
{
	test_ok(keyring_psk_cipher("NVMe0R01 nqn.h nqn.s", 32) == TLS_AES_128_GCM_SHA256, "NVMe0R01: SHA-256");
	test_ok(keyring_psk_cipher("NVMe1R02 nqn.h nqn.s digest", 48) == TLS_AES_256_GCM_SHA384, "NVMe1R02: SHA-384");
	test_ok(keyring_psk_cipher("NVMe1G02 nqn.h nqn.s", 48) == TLS_AES_256_GCM_SHA384, "NVMe1G02: SHA-384");
	test_ok(keyring_psk_cipher("NVMe0R03 h s", 32) == TLS_AES_128_GCM_SHA256, "unknown hmac: by key length");
	test_ok(keyring_psk_cipher("client1", 48) == TLS_AES_256_GCM_SHA384, "other identity, 48 bytes: SHA-384");
	test_ok(keyring_psk_cipher("client1", 20) == 0, "other identity, 20 bytes: none");
}

static long add_key(const char *type, const char *desc, const void *p, size_t len, key_serial ring)
{
	return syscall(SYS_add_key, type, desc, p, len, ring);
}

static void keyrings(void)
{
	char name[64], type[32], desc[128];
	uint8_t psk[32], got[64];
	key_serial ring, key, nested, inner;
	ssize_t n;

	snprintf(name, sizeof(name), "handshaked-test-%d", (int)getpid());
	ring = (key_serial)add_key("keyring", name, NULL, 0, KEY_SPEC_PROCESS_KEYRING);
	if (ring < 0) {
		test_ok(0, "a keyring of our own (add_key: %s)", strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof(psk); i++)
		psk[i] = (uint8_t)(i * 7 + 1);
	key = (key_serial)add_key("user", "NVMe0R01 nqn.h nqn.s", psk, sizeof(psk), ring);
	test_ok(key > 0, "a user key in it");
	test_ok(keyring_by_name(name) == ring, "keyring_by_name finds it in /proc/keys");
	test_ok(keyring_by_name("handshaked-no-such-keyring") == 0, "an unknown keyring name: 0");
	test_ok(keyring_describe(key, type, sizeof(type), desc, sizeof(desc)) == 0 && strcmp(type, "user") == 0 &&
			strcmp(desc, "NVMe0R01 nqn.h nqn.s") == 0,
		"describe: type and description (spaces kept)");
	test_ok(keyring_describe(key, type, 3, desc, sizeof(desc)) == -1 && errno == EMSGSIZE,
		"describe into a short buffer: EMSGSIZE");
	n = keyring_read(key, got, sizeof(got));
	test_ok(n == (ssize_t)sizeof(psk) && memcmp(got, psk, sizeof(psk)) == 0, "read: the payload");
	memset(got, 0xaa, sizeof(got));
	n = keyring_read(key, got, 8);
	test_ok(n == -1 && errno == EMSGSIZE && got[0] == 0 && got[7] == 0, "read into a short buffer: EMSGSIZE, wiped");
	test_ok(keyring_search(ring, "user", "NVMe0R01 nqn.h nqn.s") == key, "search by type and description");
	test_ok(keyring_search(ring, "user", "NVMe0R01 nqn.h other") == 0, "search for an unknown description: 0");
	test_ok(keyring_search(ring, "psk", "NVMe0R01 nqn.h nqn.s") <= 0, "search is by type too");
	nested = (key_serial)add_key("keyring", "nested", NULL, 0, ring);
	inner = (key_serial)add_key("user", "inner", "x", 1, nested);
	test_ok(nested > 0 && inner > 0 && keyring_search(ring, "user", "inner") == inner,
		"search goes into linked keyrings");
	syscall(SYS_keyctl, KEYCTL_REVOKE, key);
	test_ok(keyring_search(ring, "user", "NVMe0R01 nqn.h nqn.s") == 0, "a revoked key is not found");
	syscall(SYS_keyctl, KEYCTL_UNLINK, ring, KEY_SPEC_PROCESS_KEYRING);
}

int main(void)
{
	parse_whole();
	parse_bad();
	errors();
	psk_cipher();
	keyrings();
	return test_done();
}
