/* Serving the kernel's handshake upcall (NFS, NVMe/TCP and other kernel
 * TLS consumers) in the daemon's loops: upcall.c. Daemon-internal. */
#ifndef HANDSHAKED_UPCALL_H
#define HANDSHAKED_UPCALL_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct daemon;
struct loop;

/* Checks the kernel and our privileges and resolves the netlink family
 * (at start), builds the TLS configurations and resolves the keyrings
 * (start and reload; under d->lock when reload). 0, or -1 with err. */
int upcall_setup(struct daemon *d, const struct dconfig *c, bool reload, char *err, size_t len);
void upcall_teardown(struct daemon *d);

/* Per loop: joins the notifications and polls them in the ring. */
int upcall_loop_init(struct loop *l);
/* The READY notifications are readable (OP_UPCALL). */
void upcall_on_ready(struct loop *l, int res);
/* SIGTERM: no new requests (those in flight finish). */
void upcall_loop_stop(struct loop *l);
void upcall_loop_free(struct loop *l);

#endif
