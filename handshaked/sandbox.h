/* What confines the running daemon, beyond its user (privs.h): private
 * keys and ticket keys in libcrypto's secure heap (locked, left out of
 * core dumps), a seccomp allow-list of system calls, and io_uring rings
 * limited to the operations the loops use (a ring's operations do not
 * pass through seccomp). Daemon-internal. */
#ifndef HANDSHAKED_SANDBOX_H
#define HANDSHAKED_SANDBOX_H

#include <liburing.h>

/* First thing in main, before libcrypto allocates anything: its freed
 * blocks are wiped from then on, and it decodes private keys into its
 * secure heap (mlock'd, MADV_DONTDUMP). Failing to lock the heap is a
 * warning (the keys still stay out of core dumps); failing to make it is
 * fatal. */
int sandbox_secure_heap_init(void);
/* At exit, once every key is freed. */
void sandbox_secure_heap_done(void);

/* Installs the seccomp filter for the whole process (every thread, those
 * started later too). After the privileged start, before the loops run.
 * 0, or -1 logged. */
int sandbox_seccomp(void);

/* io_uring_queue_init for a loop, restricted to the loops' operations. */
int sandbox_ring_init(unsigned entries, struct io_uring *ring);

#endif
