/* How many records one traffic key may protect (RFC 8446 §5.5).
 *
 *   AES-128-GCM, AES-256-GCM  2^24.5 full-size records (~23.7 million) keep
 *       the confidentiality advantage near 2^-57 (§5.5). We ask for a
 *       KeyUpdate at 2^23 (~8.4 million, a third of the limit), so the
 *       update has ample time to land; a key that reaches the hard limit
 *       must not protect another record.
 *   AES-128-CCM  runs AES twice per block (CTR and CBC-MAC), so the same
 *       bound allows half as many records: 2^23.5 (draft-irtf-cfrg-aead-
 *       limits); update at 2^22, the same third.
 *   ChaCha20-Poly1305  the confidentiality bound lies beyond any reachable
 *       count (draft-irtf-cfrg-aead-limits; RFC 9001 §6.6 disregards it
 *       below 2^62). We update at 2^62; the hard limit is the 64-bit
 *       sequence number, which must never wrap (§5.3).
 *
 * Integrity limits (forgery attempts) do not apply: in TLS over TCP one
 * failed decryption ends the connection.
 *
 * The counts assume full-size records, so counting every record as full
 * is conservative. Usable without a live connection: the client library
 * counts what it sends on a kTLS socket (records <= send calls +
 * bytes / 16384 rounded up) and re-keys from the saved secret.
 */
#ifndef TLS_AEAD_LIMITS_H
#define TLS_AEAD_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#define TLS_AES_GCM_RECORD_LIMIT UINT64_C(23726566)      /* floor(2^24.5) */
#define TLS_AES_GCM_UPDATE_AT (UINT64_C(1) << 23)
#define TLS_AES_CCM_RECORD_LIMIT UINT64_C(11863283)      /* floor(2^23.5) */
#define TLS_AES_CCM_UPDATE_AT (UINT64_C(1) << 22)
#define TLS_CHACHA20_RECORD_LIMIT UINT64_MAX              /* seq must not wrap */
#define TLS_CHACHA20_UPDATE_AT (UINT64_C(1) << 62)

enum tls_key_state {
	TLS_KEY_OK = 0,
	TLS_KEY_UPDATE_DUE,        /* send a KeyUpdate now */
	TLS_KEY_EXHAUSTED,         /* must not protect another record */
};

/* Records after which to send a KeyUpdate, and after which the key must
 * not be used at all; 0 for an unknown cipher suite. */
uint64_t tls_aead_update_threshold(uint16_t cipher);
uint64_t tls_aead_record_limit(uint16_t cipher);
/* State of a key that has protected `records` records. An unknown suite
 * is TLS_KEY_EXHAUSTED (fail closed). */
enum tls_key_state tls_key_state(uint16_t cipher, uint64_t records);
/* True from the update threshold on (exhausted keys included). */
bool tls_key_needs_update(uint16_t cipher, uint64_t records);

/* A per-key counter for code that protects records outside the engine. */
typedef struct tls_key_usage {
	uint16_t cipher;
	uint64_t records;          /* saturates at UINT64_MAX */
} tls_key_usage;

void tls_key_usage_init(tls_key_usage *u, uint16_t cipher);
/* Counts n more records; returns the key's state afterwards. */
enum tls_key_state tls_key_usage_add(tls_key_usage *u, uint64_t n);
/* Upper bound on the records a kTLS socket made from one send of `bytes`
 * bytes: the kernel cuts records at 16384 bytes and ends one per send
 * (without MSG_MORE). 0 bytes -> 0 records. */
uint64_t tls_records_for_send(uint64_t bytes);

#endif
