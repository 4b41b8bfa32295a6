/* The daemon's live heap: the sum of malloc_usable_size() over every block
 * it holds now, whoever allocated it (the daemon, the TLS engine, libcrypto,
 * libc). Exposed as handshaked_heap_bytes so that memory per handshake can
 * be measured (bench/daemon.sh) and watched in production. */
#ifndef HANDSHAKED_HEAP_H
#define HANDSHAKED_HEAP_H

#include <stdbool.h>
#include <stdint.h>

/* false when allocations are not counted (a sanitizer owns malloc). */
bool heap_counted(void);
/* Live bytes now; a reader on another thread may see one thread's last
 * allocation a moment late, never a torn or lost one. */
int64_t heap_live_bytes(void);

#endif
