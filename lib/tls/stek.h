/* Session ticket encryption keys (STEKs) and the ring that holds them.
 *
 * A key is a random 16-byte key id, a 32-byte AES-256-GCM key and its
 * creation time (unix seconds). The ring holds the current key, which seals
 * new tickets, and up to `keep` previous keys, which still open tickets
 * sealed before a rotation. A ticket sealed just before a rotation therefore
 * stays openable for at least keep * period: choose the ticket lifetime no
 * longer than that (defaults: 2 * 12 h = 24 h).
 *
 * Two ways to run a ring:
 *  - in memory: tls_stek_ring_maybe_rotate(ring, now) from a timer makes a
 *    fresh current key with RAND_bytes once the current one is older than
 *    the period (or has sealed TLS_STEK_ROTATE_SEALS tickets), dropping the
 *    oldest beyond `keep`. Keys die with the process.
 *  - from a file (tls_stek_ring_load), so that several machines share keys:
 *    the file is the source of truth, the ring holds exactly the keys in it
 *    and never rotates by itself (maybe_rotate does nothing); the operator
 *    rotates the file (`handshakectl ticket-keys rotate FILE`) and the
 *    daemon reloads it. A reload that fails (unreadable, bad permissions,
 *    malformed) leaves the ring as it was and says why.
 *
 * Key file format, version 1 (text, docs/ticket-keys.md):
 *
 *   # comment lines and empty lines are ignored
 *   v1 <key id: 32 hex digits> <key: 64 hex digits> <created: unix seconds>
 *   v1 ...
 *
 * One key per line, exactly four fields separated by single spaces, the
 * first key line is the current key, then previous keys newest first. 1 to
 * TLS_STEK_MAX_KEYS keys, distinct ids, no all-zero key, lines at most 255
 * bytes, file at most 64 KiB. The file must be a regular file that is not
 * accessible by group or others (mode & 077 == 0): loading refuses it
 * otherwise, because the keys decrypt every resumption secret.
 *
 * Security note: whoever holds a STEK can open the tickets sealed with it
 * and learn their resumption PSKs (so can decrypt 0-RTT data and psk_ke
 * sessions resumed from them; psk_dhe_ke sessions keep forward secrecy).
 * Rotate, keep few previous keys, and keep the file private.
 *
 * Not thread-safe: one ring belongs to one event-loop thread (the daemon
 * has one). Keys are wiped with OPENSSL_cleanse when dropped or freed.
 */
#ifndef TLS_STEK_H
#define TLS_STEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_STEK_ID_LEN 16
#define TLS_STEK_KEY_LEN 32
/* Current key plus at most 15 previous keys, in memory and in a file. */
#define TLS_STEK_MAX_KEYS 16
#define TLS_STEK_DEFAULT_KEEP 2
#define TLS_STEK_DEFAULT_PERIOD_S (12 * 3600)
/* Tickets use random 96-bit GCM nonces: NIST SP 800-38D caps one key at
 * 2^32 encryptions. An in-memory ring rotates early at 2^31 seals; sealing
 * refuses (no ticket is issued) at 2^32 for a ring that cannot rotate. */
#define TLS_STEK_ROTATE_SEALS (UINT64_C(1) << 31)
#define TLS_STEK_MAX_SEALS (UINT64_C(1) << 32)
#define TLS_STEK_FILE_MAX 65536

typedef struct tls_stek {
	uint8_t id[TLS_STEK_ID_LEN];
	uint8_t key[TLS_STEK_KEY_LEN];
	uint64_t created;          /* unix seconds */
	uint64_t seals;            /* tickets sealed with it by this process */
} tls_stek;

typedef struct tls_stek_ring tls_stek_ring;

/* An empty ring keeping up to `keep` previous keys (0..TLS_STEK_MAX_KEYS-1)
 * and rotating every period_s seconds (0: never on a timer). NULL on bad
 * arguments or allocation failure. */
tls_stek_ring *tls_stek_ring_new(size_t keep, uint64_t period_s);
/* Wipes every key. NULL is fine. */
void tls_stek_ring_free(tls_stek_ring *ring);

/* Makes a fresh random current key created at now_s; the old current key
 * becomes the newest previous one, keys beyond `keep` are wiped and
 * dropped. Works on file-backed rings too (handshakectl uses it before
 * saving). 0 on success, -1 if the random generator failed (ring unchanged). */
int tls_stek_ring_rotate(tls_stek_ring *ring, uint64_t now_s);
/* Timer hook for in-memory rings: rotates when the ring is empty, when the
 * current key is at least period_s old, or when it sealed
 * TLS_STEK_ROTATE_SEALS tickets. Returns 1 if it rotated, 0 if not (always
 * 0 for a file-backed ring), -1 on random generator failure. */
int tls_stek_ring_maybe_rotate(tls_stek_ring *ring, uint64_t now_s);

/* Number of keys (0 .. 1 + keep, or what the file holds). */
size_t tls_stek_ring_count(const tls_stek_ring *ring);
/* Key i: 0 is the current key, then previous keys newest first. NULL past
 * the end. */
const tls_stek *tls_stek_ring_key(const tls_stek_ring *ring, size_t i);
/* The key to seal with (NULL for an empty ring). Mutable: sealing counts. */
tls_stek *tls_stek_ring_current(tls_stek_ring *ring);
/* The key with this id, current or previous; NULL if none. */
const tls_stek *tls_stek_ring_find(const tls_stek_ring *ring, const uint8_t id[TLS_STEK_ID_LEN]);
/* True when the keys came from a file (no timer rotation). */
bool tls_stek_ring_from_file(const tls_stek_ring *ring);

/* Replaces the ring's keys by the file's (see format above). All or
 * nothing: on any failure the ring keeps its keys, -1 is returned and err
 * names the file, the line and the problem. */
int tls_stek_ring_load(tls_stek_ring *ring, const char *path, char *err, size_t errlen);

/* Writes the ring's keys in the v1 format with mode 0600, atomically (a
 * temporary file in the same directory, fsync, then link or rename).
 * TLS_STEK_SAVE_EXCL fails if path exists; otherwise path is replaced.
 * 0 on success, -1 with err set. */
#define TLS_STEK_SAVE_EXCL 1
int tls_stek_ring_save(const tls_stek_ring *ring, const char *path, int flags,
		       char *err, size_t errlen);

/* Test hook: pretend the current key has sealed n tickets. */
void tls_stek_ring_test_set_seals(tls_stek_ring *ring, uint64_t n);

#endif
