/* The kernel's "handshake" generic-netlink family (Linux >= 6.5; facts in
 * ../shared/notes/kernel-handshake-netlink.md): resolving it, the READY
 * notifications, ACCEPT (a pending request: the socket arrives as a new
 * fd in this process) and DONE. Messages only; upcall.c drives them.
 * Daemon-internal. */
#ifndef HANDSHAKED_UPCALL_NL_H
#define HANDSHAKED_UPCALL_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyring.h"

/* include/uapi/linux/handshake.h (not in bookworm's headers) */
enum {
	UPCALL_MSG_CLIENTHELLO = 1,  /* we are the TLS client */
	UPCALL_MSG_SERVERHELLO = 2,  /* we are the TLS server */
};
enum {
	UPCALL_AUTH_UNAUTH = 1,      /* client: no certificate of ours, the server's verified */
	UPCALL_AUTH_PSK = 2,
	UPCALL_AUTH_X509 = 3,
};
#define UPCALL_MAX_PEERIDS 5

/* Per loop: a socket joined to the "tlshd" group for READY, and one for
 * ACCEPT and DONE (synchronous: the kernel answers inside sendmsg), so
 * notifications never sit between a request and its answer. */
struct upcall_nl {
	struct mnl_socket *mc, *req;
	unsigned portid, seq;
	uint16_t family;
	uint8_t *buf;              /* MNL_SOCKET_BUFFER_SIZE */
};

/* What ACCEPT says about one request. */
struct upcall_req {
	int fd;                    /* the socket, now ours too (close after DONE) */
	uint32_t msg_type, auth, timeout_ms; /* timeout 0: not given */
	key_serial peerids[UPCALL_MAX_PEERIDS]; /* PSK: the key serials to offer */
	unsigned n_peerids;
	key_serial cert, privkey;  /* x509 from the keyring, 0: not given */
	key_serial keyring;        /* 0: not given (kernels before 6.17) */
	char peername[256];        /* "" when not given */
};

/* The family's id and its "tlshd" group: 0, or -1 with err saying why
 * (no such family: the kernel is older than 6.5 or lacks NET_HANDSHAKE). */
int upcall_nl_family(uint16_t *family, uint32_t *group, char *err, size_t len);
/* Opens n's sockets, mc joined to group (non-blocking). 0, or -1 with err. */
int upcall_nl_open(struct upcall_nl *n, uint16_t family, uint32_t group, char *err, size_t len);
void upcall_nl_close(struct upcall_nl *n);
/* The fd to poll for READY. */
int upcall_nl_fd(const struct upcall_nl *n);
/* Reads the notifications that arrived: how many READY (for handler
 * class tlshd) there were; -1 when some were lost (the socket overran:
 * ACCEPT until none is left). */
int upcall_nl_ready(struct upcall_nl *n);
/* 1: a request (r filled: r->fd is ours), 0: none pending (another
 * daemon or loop took it), -1: failure (logged). */
int upcall_nl_accept(struct upcall_nl *n, struct upcall_req *r);
/* ACCEPT's answer into r (zeroed by the caller, fd -1): 0, or -1 when it
 * is not one. Unknown and malformed attributes are skipped. */
struct nlmsghdr;
int upcall_nl_parse_accept(const struct nlmsghdr *nlh, struct upcall_req *r);
/* NLMSG_ERROR into *err (positive errno; 0 for an ACK) and msg (the
 * kernel's extended ack text, "" when none): 0, or -1 when malformed. */
int upcall_nl_parse_error(const struct nlmsghdr *nlh, int *err, char *msg, size_t len);
/* DONE for fd: status 0 or a positive errno; remote: the peer's identity
 * (a key serial or tlshd's "verified" marker), 0: none. 0, or -1 (logged). */
int upcall_nl_done(struct upcall_nl *n, int fd, uint32_t status, uint32_t remote);

#endif
