/* 0-RTT anti-replay by ClientHello recording (RFC 8446 §8.2).
 *
 * Before accepting early data the server asks whether it saw this
 * ClientHello before. The unique value per ClientHello is the PSK binder
 * (an HMAC over the ClientHello keyed by the PSK: a replay repeats it, a
 * new ClientHello cannot, and nobody without the PSK can make one). The
 * engine passes the binder of the selected identity as `key`.
 *
 * Windows. The §8.3 freshness check accepts a ClientHello only within
 * ±W of the arrival time its ticket age predicts; a replay carries the same
 * age, so every accepted copy arrives within 2W of every other. Recording
 * each ClientHello for 2W (TLS_ANTIREPLAY_DEFAULT_WINDOW_MS = 2 *
 * TLS_TICKET_DEFAULT_FRESH_WINDOW_MS = 20 s) is therefore enough, and a
 * ClientHello outside that window is refused by freshness, not by the
 * cache. Never run 0-RTT with the cache and no freshness check.
 *
 * The interface is pluggable so a fleet can share one recorder (several
 * machines sharing a STEK each accept a replay once with a per-process
 * cache: either share recording through this interface, pin clients to a
 * machine, or do not offer 0-RTT).
 */
#ifndef TLS_ANTIREPLAY_H
#define TLS_ANTIREPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls/ticket.h"

struct tls_antireplay_ops {
	/* True when key was not seen within the window: it is now recorded
	 * and early data may be accepted. False when it was seen (a replay)
	 * or cannot be recorded (fail closed): reject early data and finish
	 * the handshake in 1-RTT. now_ms: the same clock as the freshness
	 * check, non-decreasing. */
	bool (*check_and_record)(void *ctx, const uint8_t *key, size_t key_len, uint64_t now_ms);
	/* Releases ctx (may be NULL when the recorder is owned elsewhere). */
	void (*destroy)(void *ctx);
	/* How long (ms) a recorded key is remembered. The server accepts 0-RTT
	 * only while this is at least 2 x its freshness window
	 * (tls_config_set_fresh_window), see above; NULL counts as 0, so a
	 * recorder that does not say refuses all 0-RTT (fail closed). */
	uint32_t (*window_ms)(void *ctx);
};

/* ---- the in-memory recorder ----
 *
 * Remembers a 16-byte fingerprint (SHA-256 under a random per-cache salt,
 * truncated) of each key with its arrival time in a FIFO ring, and finds
 * fingerprints through an open-addressing hash table of ring indices
 * (linear probing, load <= 1/2): O(1) expected per call. Entries older than
 * the window are forgotten as time passes.
 *
 * Memory is fixed when the cache is made and never grows:
 *   24 bytes per entry (ring) + 4 bytes per table slot, slots = the power
 *   of two >= 2 * max_entries, so at most 40 bytes per entry (default
 *   65536 entries: 1.5 MiB + 512 KiB = 2 MiB), plus a small header.
 *
 * When max_entries ClientHellos fall inside one window the cache is full:
 * it then refuses 0-RTT (fail closed, TLS_REPLAY_FULL) rather than forget a
 * live entry, because forgetting early would let a replay through. Size it
 * for the peak 0-RTT rate times the window.
 *
 * Not thread-safe (one loop thread). */
#define TLS_ANTIREPLAY_DEFAULT_WINDOW_MS (2 * TLS_TICKET_DEFAULT_FRESH_WINDOW_MS)
#define TLS_ANTIREPLAY_DEFAULT_MAX_ENTRIES 65536
#define TLS_ANTIREPLAY_MAX_ENTRIES (1u << 30)
#define TLS_ANTIREPLAY_ENTRY_BYTES 24
#define TLS_ANTIREPLAY_FP_LEN 16

typedef struct tls_replay_cache tls_replay_cache;

enum tls_replay_result {
	TLS_REPLAY_FRESH = 0,      /* first sighting, recorded */
	TLS_REPLAY_SEEN,           /* seen within the window: a replay */
	TLS_REPLAY_FULL,           /* no room: refuse 0-RTT */
	TLS_REPLAY_ERROR,          /* hashing failed: refuse 0-RTT */
};

/* window_ms > 0, 1 <= max_entries <= TLS_ANTIREPLAY_MAX_ENTRIES; NULL on
 * bad arguments or allocation failure. */
tls_replay_cache *tls_replay_cache_new(uint32_t window_ms, size_t max_entries);
void tls_replay_cache_free(tls_replay_cache *c);
enum tls_replay_result tls_replay_cache_check(tls_replay_cache *c, const uint8_t *key,
					      size_t key_len, uint64_t now_ms);
/* Entries currently remembered (after forgetting those older than the
 * window at the last call). */
size_t tls_replay_cache_count(const tls_replay_cache *c);
/* The window it was made with. */
uint32_t tls_replay_cache_window(const tls_replay_cache *c);
/* Bytes allocated by this cache, header included (plus one libcrypto
 * digest context). */
size_t tls_replay_cache_memory(const tls_replay_cache *c);
/* Counters since creation, for logs. */
uint64_t tls_replay_cache_replays(const tls_replay_cache *c);
uint64_t tls_replay_cache_refused_full(const tls_replay_cache *c);

/* ops over a tls_replay_cache (ctx); destroy frees it. */
extern const struct tls_antireplay_ops tls_replay_cache_ops;

#endif
