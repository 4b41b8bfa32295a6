/* sock_diag internals of lib/ktls_diag.c, apart from ktls.h so that the
 * reply parser can be tested with crafted messages. */
#ifndef KTLS_DIAG_H
#define KTLS_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/inet_diag.h>

#include "ktls.h"

/* The socket a reply must describe. */
struct ktls_diag_want {
	uint32_t seq;              /* our request's nlmsg_seq */
	uint8_t family;            /* AF_INET or AF_INET6 */
	struct inet_diag_sockid id; /* ports and addresses in network order */
	bool cookie;               /* id.idiag_cookie is SO_COOKIE: must match too */
};

/* Parses one NETLINK_SOCK_DIAG reply (len bytes, one or more netlink
 * messages) into *out. KTLS_OK: the socket's entry with ULP info;
 * KTLS_E_DIAG_NO_ULP: the entry without it; KTLS_E_DIAG_NOT_FOUND: no
 * entry for that socket (or the kernel's ENOENT/ESTALE); KTLS_E_DIAG: the
 * kernel's other error (errno); KTLS_E_DIAG_MALFORMED: a length or
 * attribute that does not add up. Never reads outside buf. */
enum ktls_err ktls_diag_parse(const uint8_t *buf, size_t len, const struct ktls_diag_want *w,
			      struct ktls_diag *out);

#endif
