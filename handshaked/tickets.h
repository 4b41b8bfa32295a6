/* The client role's ticket cache: session blobs (lib/tls sessions, one
 * per NewSessionTicket) kept per user (the requesting application's uid),
 * server name, port and ALPN offer, so that the user's next CONNECT to
 * the same server resumes and may send 0-RTT. A user never gets another
 * user's ticket: that would resume (and replay 0-RTT as) their session.
 * Bounded (least recently stored out first), each entry gone when its
 * ticket's lifetime ends, and a ticket is handed out once (RFC 8446
 * §C.4: a reused ticket links connections). Thread-safe: every loop
 * shares one. Kept free of the loop so its unit test links it alone. */
#ifndef HANDSHAKED_TICKETS_H
#define HANDSHAKED_TICKETS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TCACHE_DEFAULT_ENTRIES 1024

struct tcache;

/* NULL when out of memory; max_entries >= 1. */
struct tcache *tcache_new(size_t max_entries);
/* Wipes every blob (they hold resumption secrets). NULL is fine. */
void tcache_free(struct tcache *t);
/* Stores a copy of blob for (uid, name, port, alpn); name and alpn may be NULL
 * (same as ""). Its expiry comes from the blob. When full, the entry
 * stored longest ago goes. 0, or -1: malformed or already expired at
 * now_ms (unix ms, the engine's ticket clock), or out of memory. */
int tcache_put(struct tcache *t, uid_t uid, const char *name, uint16_t port, const char *alpn,
	       const uint8_t *blob, size_t len, uint64_t now_ms);
/* Takes out the newest live ticket for the key: 1 with *blob (malloc'd:
 * release with tcache_blob_free) and *len set, 0 when there is none.
 * Expired entries met on the way are dropped. */
int tcache_take(struct tcache *t, uid_t uid, const char *name, uint16_t port, const char *alpn,
		uint64_t now_ms, uint8_t **blob, size_t *len);
/* Drops every expired entry; returns how many went. */
size_t tcache_expire(struct tcache *t, uint64_t now_ms);
size_t tcache_count(struct tcache *t);
/* Wipes and frees a blob from tcache_take. */
void tcache_blob_free(uint8_t *blob, size_t len);

#endif
