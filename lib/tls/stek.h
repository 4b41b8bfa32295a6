/* Session ticket encryption keys: the ring's internals (the key material
 * itself) for the engine, the key file tool and tests. The ring's API is
 * public (<handshake/tls.h>, "session ticket encryption keys"). */
#ifndef TLS_STEK_H
#define TLS_STEK_H

#include <handshake/tls.h>

typedef struct tls_stek {
	uint8_t id[TLS_STEK_ID_LEN];
	uint8_t key[TLS_STEK_KEY_LEN];
	uint64_t created;          /* unix seconds */
	uint64_t seals;            /* tickets sealed with it by this process (atomic) */
} tls_stek;

/* Key i: 0 is the current key, then previous keys newest first. NULL past
 * the end. */
const tls_stek *tls_stek_ring_key(const tls_stek_ring *ring, size_t i);

/* The current key (NULL for an empty ring). */
tls_stek *tls_stek_ring_current(tls_stek_ring *ring);

/* Thread-safe: copies the current key into *out and counts one seal
 * against it. -1 when the ring is empty or the key reached
 * TLS_STEK_MAX_SEALS (no ticket is issued). Wipe *out after use. */
int tls_stek_ring_seal_key(tls_stek_ring *ring, tls_stek *out);

/* Thread-safe: copies the key with this id into *out; -1 if none. */
int tls_stek_ring_lookup(const tls_stek_ring *ring, const uint8_t id[TLS_STEK_ID_LEN],
			 tls_stek *out);

/* The key with this id, current or previous; NULL if none. */
const tls_stek *tls_stek_ring_find(const tls_stek_ring *ring, const uint8_t id[TLS_STEK_ID_LEN]);

/* Used by tls_ticket_open: counts one result (enum tls_ticket_result). */
void tls_stek_ring_count_open(tls_stek_ring *ring, int result, bool decrypted);

#endif
