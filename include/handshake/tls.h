/* handshaked's sans-I/O TLS 1.3 engine: its public API (libhandshake).
 *
 * The caller owns all I/O. It feeds bytes read from the peer to
 * tls_conn_handshake(), sends whatever the engine appended to `out`, and
 * learns about new traffic secrets through callbacks. The engine consumes
 * whole records only and stops at the end of the record that completes its
 * side of the handshake, so anything behind it (application data glued to the
 * client Finished) stays with the caller, e.g. in the socket for kTLS.
 *
 * After the handshake, tls_conn_send/recv protect application records in
 * userspace (tests and peers without kTLS); a daemon instead takes the
 * application secrets and hands the socket to the kernel.
 */
#ifndef HANDSHAKE_TLS_H
#define HANDSHAKE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What libhandshake.so exports: everything declared with TLS_API here;
 * all else in the library is hidden. */
#if defined(__GNUC__)
#define TLS_API __attribute__((visibility("default")))
#else
#define TLS_API
#endif

/* Cipher suites (RFC 8446 B.4) */
#define TLS_AES_128_GCM_SHA256 0x1301
#define TLS_AES_256_GCM_SHA384 0x1302
#define TLS_CHACHA20_POLY1305_SHA256 0x1303
#define TLS_AES_128_CCM_SHA256 0x1304
/* Never offered nor accepted: kTLS has no cipher for its 8-byte tag. */
#define TLS_AES_128_CCM_8_SHA256 0x1305

/* Named groups (§4.2.7; RFC 7919 for ffdhe*) */
#define TLS_GROUP_SECP256R1 0x0017
#define TLS_GROUP_SECP384R1 0x0018
#define TLS_GROUP_SECP521R1 0x0019
#define TLS_GROUP_X25519 0x001d
#define TLS_GROUP_X448 0x001e
#define TLS_GROUP_FFDHE2048 0x0100
#define TLS_GROUP_FFDHE3072 0x0101
#define TLS_GROUP_FFDHE4096 0x0102
/* Hybrid ML-KEM-768 groups (draft-ietf-tls-ecdhe-mlkem) */
#define TLS_GROUP_SECP256R1MLKEM768 0x11eb
#define TLS_GROUP_X25519MLKEM768 0x11ec
/* Largest key_exchange (SecP256r1MLKEM768's client share) and shared
 * secret (ffdhe4096) of any group. */
#define TLS_MAX_KEX_SHARE 1249
#define TLS_MAX_KEX_SECRET 512

/* Signature schemes (§4.2.3) */
#define TLS_SIG_RSA_PKCS1_SHA256 0x0401
#define TLS_SIG_RSA_PKCS1_SHA384 0x0501
#define TLS_SIG_RSA_PKCS1_SHA512 0x0601
#define TLS_SIG_ECDSA_SECP256R1_SHA256 0x0403
#define TLS_SIG_ECDSA_SECP384R1_SHA384 0x0503
#define TLS_SIG_ECDSA_SECP521R1_SHA512 0x0603
#define TLS_SIG_RSA_PSS_RSAE_SHA256 0x0804
#define TLS_SIG_RSA_PSS_RSAE_SHA384 0x0805
#define TLS_SIG_RSA_PSS_RSAE_SHA512 0x0806
#define TLS_SIG_ED25519 0x0807
#define TLS_SIG_RSA_PSS_PSS_SHA256 0x0809
#define TLS_SIG_RSA_PSS_PSS_SHA384 0x080a
#define TLS_SIG_RSA_PSS_PSS_SHA512 0x080b

#define TLS_MAX_SECRET 48          /* a traffic secret: SHA-384's length */
#define TLS_KEY_UPDATE_MSG_LEN 5   /* KeyUpdate: type, u24 length 1, request */
/* RFC 8446 §8.3 ticket age window for 0-RTT */
#define TLS_DEFAULT_FRESH_WINDOW_MS 10000u

/* ---- the output buffer ----
 * Every call that produces bytes for the peer appends them to a tls_buf: a
 * growable buffer with a sticky error flag (allocation failure or limit). */
#define TLS_BUF_MAX_NEST 8

typedef struct tls_buf {
	uint8_t *base;
	size_t len;          /* bytes written */
	size_t cap;          /* bytes allocated */
	size_t touched;      /* bytes ever handed out by tls_buf_reserve: what a wipe covers */
	size_t limit;        /* growth cap; 0 means SIZE_MAX */
	bool err;            /* allocation failure, limit hit, bad nesting; sticky */
	bool fixed;          /* base is caller storage: never realloc, never free */
	int depth;
	struct { size_t at; int width; } open[TLS_BUF_MAX_NEST];
} tls_buf;

/* Heap buffer that grows up to `limit` bytes (0: unbounded). */
TLS_API void tls_buf_init(tls_buf *b, size_t limit);
/* Buffer over caller storage; never grows. */
TLS_API void tls_buf_init_fixed(tls_buf *b, uint8_t *mem, size_t cap);
/* Wipes (OPENSSL_cleanse) every byte it ever handed out, also past len
 * (a rolled-back write), and frees heap storage. Caller storage of a fixed
 * buffer is wiped only where the buffer wrote. */
TLS_API void tls_buf_free(tls_buf *b);
/* Drops content, keeps storage (every byte ever handed out wiped). */
TLS_API void tls_buf_reset(tls_buf *b);
/* Ensures n more bytes fit; returns the write position or NULL (b->err). */
TLS_API uint8_t *tls_buf_reserve(tls_buf *b, size_t n);
/* Discards the first n bytes (consumed output), moving the rest down;
 * what lies past the new end is wiped. */
TLS_API void tls_buf_consume(tls_buf *b, size_t n);

/* ---- suites and certificate chains (opaque) ---- */
typedef struct tls_cipher tls_cipher;
typedef struct tls_chain tls_chain;
/* The suite with IANA id `id`, NULL when the engine does not take it. */
TLS_API const tls_cipher *tls_cipher_find(uint16_t id);
TLS_API uint16_t tls_cipher_id(const tls_cipher *cs);
/* IANA name, "TLS_AES_128_GCM_SHA256". */
TLS_API const char *tls_cipher_name(const tls_cipher *cs);
/* Why the engine does not take suite `id`, as a sentence for error
 * messages; NULL when tls_cipher_find knows it. */
TLS_API const char *tls_cipher_refusal(uint16_t id);
/* Certificates in a chain (end entity first), and the DER of one appended
 * to out (0, or -1 past the end or on failure). */
TLS_API size_t tls_chain_length(const tls_chain *c);
TLS_API int tls_chain_cert_der(const tls_chain *c, size_t i, tls_buf *out);

/* ---- process-wide state ----
 * Clients without their own CA store verify against the system's
 * (OpenSSL's default file and directory), loaded once per process on first
 * use. tls_trust_reload reads it again (after the distribution updated its
 * CA bundle, on a daemon's SIGHUP); handshakes under way finish with the
 * store they took. 0, or -1 with err set (the old store stays). */
TLS_API int tls_trust_reload(char *err, size_t errlen);
/* Frees the engine's process-wide caches (trust store, fetched
 * algorithms, key-exchange groups) and the calling thread's cached
 * contexts, so that leak checkers see a clean exit. Call it last, once,
 * after every connection and config is freed: the engine is not usable
 * afterwards. Other threads' cached contexts go when those threads exit. */
TLS_API void tls_engine_cleanup(void);

/* ---- session ticket encryption keys ----
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
 * Thread-safe: any number of threads seal and open tickets with one ring
 * (each takes a private copy of the key it needs under a shared lock) while
 * one of them rotates or reloads it (exclusive). The direct accessors
 * (tls_stek_ring_current, _key, _find) return pointers into the ring: only
 * for a ring no other thread uses (tools, tests). Keys are wiped with
 * OPENSSL_cleanse when dropped or freed.
 */
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

typedef struct tls_stek_ring tls_stek_ring;

/* An empty ring keeping up to `keep` previous keys (0..TLS_STEK_MAX_KEYS-1)
 * and rotating every period_s seconds (0: never on a timer). NULL on bad
 * arguments or allocation failure. */
TLS_API tls_stek_ring *tls_stek_ring_new(size_t keep, uint64_t period_s);
/* Wipes every key. NULL is fine. */
TLS_API void tls_stek_ring_free(tls_stek_ring *ring);

/* Makes a fresh random current key created at now_s; the old current key
 * becomes the newest previous one, keys beyond `keep` are wiped and
 * dropped. Works on file-backed rings too (handshakectl uses it before
 * saving). 0 on success, -1 if the random generator failed (ring unchanged). */
TLS_API int tls_stek_ring_rotate(tls_stek_ring *ring, uint64_t now_s);
/* Timer hook for in-memory rings: rotates when the ring is empty, when the
 * current key is at least period_s old, or when it sealed
 * TLS_STEK_ROTATE_SEALS tickets. Returns 1 if it rotated, 0 if not (always
 * 0 for a file-backed ring), -1 on random generator failure. */
TLS_API int tls_stek_ring_maybe_rotate(tls_stek_ring *ring, uint64_t now_s);

/* Number of keys (0 .. 1 + keep, or what the file holds). */
TLS_API size_t tls_stek_ring_count(const tls_stek_ring *ring);
/* True when the keys came from a file (no timer rotation). */
TLS_API bool tls_stek_ring_from_file(const tls_stek_ring *ring);

/* What became of the tickets offered to a ring: tls_ticket_open (ticket.h)
 * counts every call under its result, with relaxed atomic adds (so opening
 * needs no more locking than before: it only reads the keys). `decrypts`
 * counts the AES-256-GCM decryptions those calls cost: every opened,
 * expired and tampered ticket, and malformed ones that failed only after
 * decryption. For monitoring: `unknown_key` grows with tickets of keys rotated out
 * (a ticket lifetime longer than keep * period) or of another fleet;
 * `tampered` with forged or corrupted tickets, or machines that share key
 * ids but not keys. The counters survive rotations and reloads. */
typedef struct tls_stek_stats {
	uint64_t opened;
	uint64_t unknown_key;
	uint64_t tampered;
	uint64_t expired;
	uint64_t malformed;
	uint64_t decrypts;
} tls_stek_stats;
TLS_API void tls_stek_ring_stats(const tls_stek_ring *ring, tls_stek_stats *st);

/* Replaces the ring's keys by the file's (see format above). All or
 * nothing: on any failure the ring keeps its keys, -1 is returned and err
 * names the file, the line and the problem. */
TLS_API int tls_stek_ring_load(tls_stek_ring *ring, const char *path, char *err, size_t errlen);

/* Writes the ring's keys in the v1 format with mode 0600, atomically (a
 * temporary file in the same directory, fsync, then link or rename).
 * TLS_STEK_SAVE_EXCL fails if path exists; otherwise path is replaced.
 * 0 on success, -1 with err set. */
#define TLS_STEK_SAVE_EXCL 1
TLS_API int tls_stek_ring_save(const tls_stek_ring *ring, const char *path, int flags,
		       char *err, size_t errlen);

/* ---- 0-RTT anti-replay ----
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
 * Thread-safe (a mutex around each check): one cache serves every loop
 * thread of a process. */
#define TLS_ANTIREPLAY_DEFAULT_WINDOW_MS (2 * TLS_DEFAULT_FRESH_WINDOW_MS)
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
TLS_API tls_replay_cache *tls_replay_cache_new(uint32_t window_ms, size_t max_entries);
TLS_API void tls_replay_cache_free(tls_replay_cache *c);
TLS_API enum tls_replay_result tls_replay_cache_check(tls_replay_cache *c, const uint8_t *key,
					      size_t key_len, uint64_t now_ms);
/* Entries currently remembered (after forgetting those older than the
 * window at the last call). */
TLS_API size_t tls_replay_cache_count(const tls_replay_cache *c);
/* The window it was made with. */
TLS_API uint32_t tls_replay_cache_window(const tls_replay_cache *c);
/* Bytes allocated by this cache, header included (plus one libcrypto
 * digest context). */
TLS_API size_t tls_replay_cache_memory(const tls_replay_cache *c);
/* Counters since creation, for logs. */
TLS_API uint64_t tls_replay_cache_replays(const tls_replay_cache *c);
TLS_API uint64_t tls_replay_cache_refused_full(const tls_replay_cache *c);

/* ops over a tls_replay_cache (ctx); destroy frees it. */
TLS_API extern const struct tls_antireplay_ops tls_replay_cache_ops;

/* ---- alerts (RFC 8446 §6) ---- */
enum tls_alert {
	TLS_ALERT_CLOSE_NOTIFY = 0,
	TLS_ALERT_UNEXPECTED_MESSAGE = 10,
	TLS_ALERT_BAD_RECORD_MAC = 20,
	TLS_ALERT_RECORD_OVERFLOW = 22,
	TLS_ALERT_HANDSHAKE_FAILURE = 40,
	TLS_ALERT_BAD_CERTIFICATE = 42,
	TLS_ALERT_UNSUPPORTED_CERTIFICATE = 43,
	TLS_ALERT_CERTIFICATE_REVOKED = 44,
	TLS_ALERT_CERTIFICATE_EXPIRED = 45,
	TLS_ALERT_CERTIFICATE_UNKNOWN = 46,
	TLS_ALERT_ILLEGAL_PARAMETER = 47,
	TLS_ALERT_UNKNOWN_CA = 48,
	TLS_ALERT_ACCESS_DENIED = 49,
	TLS_ALERT_DECODE_ERROR = 50,
	TLS_ALERT_DECRYPT_ERROR = 51,
	TLS_ALERT_PROTOCOL_VERSION = 70,
	TLS_ALERT_INSUFFICIENT_SECURITY = 71,
	TLS_ALERT_INTERNAL_ERROR = 80,
	TLS_ALERT_INAPPROPRIATE_FALLBACK = 86,
	TLS_ALERT_USER_CANCELED = 90,
	TLS_ALERT_MISSING_EXTENSION = 109,
	TLS_ALERT_UNSUPPORTED_EXTENSION = 110,
	TLS_ALERT_UNRECOGNIZED_NAME = 112,
	TLS_ALERT_BAD_CERTIFICATE_STATUS_RESPONSE = 113,
	TLS_ALERT_UNKNOWN_PSK_IDENTITY = 115,
	TLS_ALERT_CERTIFICATE_REQUIRED = 116,
	TLS_ALERT_NO_APPLICATION_PROTOCOL = 120,
};
TLS_API const char *tls_alert_name(int alert);

/* ---- results ----
 * 0                    done (handshake complete for this side / call ok)
 * TLS_WANT_INPUT       needs more bytes from the peer
 * TLS_WANT_SIGNATURE   a signer owes its signature (see tls_sign_fn)
 * TLS_ERR_LOCAL(a)     we failed the connection; alert `a` is in `out`
 *                      (what the failing record had added before is taken
 *                      back first; the one exception: out itself failed,
 *                      out->err, and nothing could be written)
 * TLS_ERR_PEER(a)      the peer sent alert `a` (close_notify after the
 *                      handshake is reported by tls_conn_recv as TLS_CLOSED)
 */
#define TLS_WANT_INPUT 1
#define TLS_CLOSED 2
#define TLS_ERR_LOCAL(a) (-(0x100 + (a)))
#define TLS_ERR_PEER(a) (-(0x200 + (a)))
#define TLS_IS_LOCAL_ERR(r) ((r) <= -0x100 && (r) > -0x200)
#define TLS_IS_PEER_ERR(r) ((r) <= -0x200 && (r) > -0x300)
#define TLS_ERR_ALERT(r) ((int)((-(r)) & 0xff))

enum tls_role { TLS_CLIENT = 0, TLS_SERVER = 1 };
enum tls_dir { TLS_DIR_RX = 0, TLS_DIR_TX = 1 };
/* Key epochs as RFC 8446 §A.1 numbers them; application secrets after a
 * KeyUpdate have epoch 3 + N. */
enum tls_epoch { TLS_EPOCH_INITIAL = 0, TLS_EPOCH_EARLY = 1, TLS_EPOCH_HANDSHAKE = 2,
		 TLS_EPOCH_APPLICATION = 3 };
enum tls_client_auth { TLS_CLIENT_AUTH_NONE = 0, TLS_CLIENT_AUTH_OPTIONAL, TLS_CLIENT_AUTH_REQUIRE };

/* ---- configuration ----
 * A config is built, then used: handshakes only read it, so connections
 * in any number of threads share it without locks. Setters must not run
 * while other threads use it; tls_config_freeze makes that a checked rule
 * (every setter below then refuses with -1): a daemon freezes each config
 * it hands to its loops.
 * It is reference-counted: each connection holds a reference, so a caller
 * that reloads (SIGHUP) builds a new config, swaps its pointer and calls
 * tls_config_free on the old one; live connections finish on theirs.
 *
 * What changes while connections run lives outside it, owned by the
 * caller and thread-safe: the STEK ring (tls_config_set_ticket_keys, or
 * the one the config makes, tls_config_ticket_keys; rotated by the
 * caller's timer with tls_stek_ring_maybe_rotate, never inside a
 * handshake), the 0-RTT anti-replay recorder (tls_config_set_antireplay:
 * share one between configs and threads so a replay is accepted at most
 * once per process, across reloads), and the clock. Setters copy what they
 * are given unless they say "borrowed". */
typedef struct tls_config tls_config;

/* A signer lets the key live elsewhere (and lets tests inject RFC 8448's
 * fixed signatures). Appends the signature over msg to sig; 0 on success.
 *
 * Asynchronous signing (an RSA-4096 signature must not stall an event
 * loop): a signer may instead return TLS_SIGN_PENDING, after copying
 * scheme and msg (valid only during the call; sig must stay untouched),
 * and hand the work elsewhere, e.g. to a thread. It then owes a signature:
 *   - tls_conn_handshake returns TLS_WANT_SIGNATURE. Everything before the
 *     CertificateVerify is in `out` and may be sent. Until the signature
 *     is supplied, tls_conn_handshake consumes no input and returns
 *     TLS_WANT_SIGNATURE again.
 *   - The caller supplies the signature with tls_conn_sign_done, then
 *     calls tls_conn_handshake again (with no input, or whatever arrived
 *     meanwhile): it writes the CertificateVerify (the scheme the signer
 *     was asked for), Finished and the next secrets, and goes on with the
 *     input given.
 * The signer runs inside tls_conn_handshake on the caller's thread; it
 * learns which connection it works for from the caller (e.g. a "current
 * connection" the loop sets around the call). tls_conn_sign_done is for
 * the thread that drives the connection only: a job finishing in another
 * thread hands its result to that thread. tls_conn_free while a signature
 * is owed is fine (nothing leaks), but then the caller must cancel or
 * ignore the job: tls_conn_sign_done on a freed conn is a use after free.
 * Both roles: the server's flight, and the client's certificate. */
typedef int (*tls_sign_fn)(void *ctx, uint16_t scheme, const uint8_t *msg, size_t len,
			   tls_buf *sig);
#define TLS_SIGN_PENDING 1
/* tls_conn_handshake: a signer returned TLS_SIGN_PENDING and owes its
 * signature (see TLS_WANT_INPUT, TLS_CLOSED above). */
#define TLS_WANT_SIGNATURE 3
typedef struct tls_conn tls_conn;
/* Supplies the signature a signer owed (copied). sig NULL: the signer
 * failed; the next tls_conn_handshake then fails with internal_error (the
 * alert in out). 0 when taken; -1 when c owes no signature (nothing
 * changes) or len cannot be a signature of the key (empty or longer than
 * the key's largest): then, as for NULL, the handshake fails. */
TLS_API int tls_conn_sign_done(tls_conn *c, const uint8_t *sig, size_t len);

TLS_API tls_config *tls_config_new(enum tls_role role);
/* Another reference (the same pointer), for whoever keeps the config. */
TLS_API tls_config *tls_config_ref(const tls_config *cfg);
/* Drops a reference; the last one frees the config. NULL is fine. */
TLS_API void tls_config_free(tls_config *cfg);
/* Makes the config read-only for good (setters return -1). */
TLS_API void tls_config_freeze(const tls_config *cfg);
/* Adds a certificate chain + key (server: selected by SNI and the client's
 * signature_algorithms, first added is the default; client: sent when the
 * server asks). err gets a readable reason on failure. */
TLS_API int tls_config_add_cert_files(tls_config *cfg, const char *chain_pem, const char *key_pem,
			      char *err, size_t errlen);
/* The same from memory: one DER certificate (no chain) and its DER private
 * key (PKCS#8 or the key type's own form), as kernel keyrings hold them. */
TLS_API int tls_config_add_cert_der(tls_config *cfg, const uint8_t *cert, size_t cert_len,
				    const uint8_t *key, size_t key_len, char *err, size_t errlen);
/* OCSP response and SignedCertificateTimestampList (DER) stapled to the
 * most recently added certificate. */
TLS_API int tls_config_set_ocsp(tls_config *cfg, const uint8_t *der, size_t len);
TLS_API int tls_config_set_sct(tls_config *cfg, const uint8_t *list, size_t len);
/* Replaces the signer of the most recently added certificate. */
TLS_API int tls_config_set_signer(tls_config *cfg, tls_sign_fn fn, void *ctx);
/* CA store to verify the peer (client: the server; server: client certs). */
TLS_API int tls_config_load_ca(tls_config *cfg, const char *path, char *err, size_t errlen);
/* Client: verify the server's chain and name. Default ON: against the CA
 * store loaded with tls_config_load_ca, or, when none was loaded, the
 * system trust store (OpenSSL's default paths, like curl). Turn it off
 * only for tests or pinned keys checked elsewhere.
 * Server: verify client certificates against the loaded CA store (on
 * unless turned off explicitly). */
TLS_API int tls_config_set_verify_peer(tls_config *cfg, bool on);
/* Client: with verification on, the certificate must match the name set
 * with tls_conn_set_server_name (default on). A verifying client without
 * a server name then fails at its first tls_conn_handshake ("no server
 * name to verify the certificate against"). Off: the chain is checked
 * but any name is accepted (the application checks the identity itself). */
TLS_API int tls_config_set_verify_name(tls_config *cfg, bool on);
TLS_API int tls_config_set_client_auth(tls_config *cfg, enum tls_client_auth mode);
/* Preference lists, most preferred first; unknown ids are an error.
 * Ciphers: TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
 * TLS_CHACHA20_POLY1305_SHA256 (the default list, in that order) and
 * TLS_AES_128_CCM_SHA256 (only when listed: like OpenSSL, not on by
 * default; kTLS carries it as TLS_CIPHER_AES_CCM_128). A list holding
 * TLS_AES_128_CCM_8_SHA256 is refused (-1): kTLS has no cipher for its
 * 8-byte tag, so the engine never offers nor accepts it;
 * tls_cipher_refusal(id) gives the reason for any refused id. */
TLS_API int tls_config_set_ciphers(tls_config *cfg, const uint16_t *ids, size_t n);
/* Groups: X25519MLKEM768, X25519, secp256r1, secp384r1 (the default list,
 * in that order), and when listed SecP256r1MLKEM768, secp521r1, X448,
 * ffdhe2048, ffdhe3072, ffdhe4096. These are not in the default list
 * because they cost more per handshake (the ffdhe groups many times more,
 * and their shares are 256..512 bytes); a server lists them to serve
 * clients that offer nothing else. A server asks (HelloRetryRequest) for a
 * hybrid ML-KEM group it prefers to the shares the client sent, when the
 * client lists it without a share. */
TLS_API int tls_config_set_groups(tls_config *cfg, const uint16_t *ids, size_t n);
TLS_API int tls_config_set_sigalgs(tls_config *cfg, const uint16_t *ids, size_t n);
/* Client: groups to send key shares for (default: the first group, and
 * when that is a hybrid ML-KEM group also the first classical group, so
 * that servers without ML-KEM need no HelloRetryRequest). */
TLS_API int tls_config_set_key_share_groups(tls_config *cfg, const uint16_t *ids, size_t n);
/* ALPN as a comma-separated list ("h2,http/1.1"): server preference order
 * or client offer. */
TLS_API int tls_config_set_alpn(tls_config *cfg, const char *list);
/* Cap on one handshake message body. The default is the largest legal
 * ClientHello (its vectors at their maximum lengths: 131,396 bytes); over
 * the cap a message gets illegal_parameter. Clamped to [1024, 2^24-1]. */
#define TLS_DEFAULT_MAX_HANDSHAKE (2 + 32 + 1 + 32 + 2 + 65534 + 1 + 255 + 2 + 65535)
TLS_API int tls_config_set_max_handshake(tls_config *cfg, size_t bytes);
/* RFC 8449 record_size_limit we advertise (default 16385 = none). */
TLS_API int tls_config_set_record_size_limit(tls_config *cfg, uint16_t limit);
/* Middlebox compatibility mode (client: send a session id and CCS; default on). */
TLS_API int tls_config_set_compat_mode(tls_config *cfg, bool on);
/* Key logging for debugging with Wireshark: fn gets one NSS key log line
 * (SSLKEYLOGFILE format, no newline) per secret; the caller writes it.
 * NULL (the default) is off. The line holds secrets: wipe copies. */
typedef void (*tls_keylog_fn)(void *ctx, const char *line);
TLS_API int tls_config_set_keylog(tls_config *cfg, tls_keylog_fn fn, void *ctx);

/* ---- resumption, external PSKs, 0-RTT (RFC 8446 §2.2, §2.3, §4.2.11, §8) ----
 *
 * Server: after the client's Finished verifies, the server appends
 * `count` NewSessionTicket messages to `out` (protected with the server
 * application key, so tls_conn_traffic(TX) counts them: send `out` before
 * handing the TX key to the kernel), unless tls_conn_defer_tickets moved
 * them to tls_post_ticket_send (kTLS). Tickets are sealed with the STEK ring
 * (tls_stek_ring; by default the config makes an in-memory ring with one
 * key, keeping 2 previous ones, that the caller rotates: see
 * tls_config_ticket_keys). A ticket that fails to open,
 * expired, has another hash or another SNI is ignored: full handshake.
 * Of a ClientHello's PSK identities the server tries only the first
 * TLS_PSK_MAX_TRIED (each may cost a psk_find call and a ticket
 * decryption); later ones are ignored (§4.2.11 lets it pick any), though
 * they must still be well-formed and have their binders. */
#define TLS_PSK_MAX_TRIED 4

/* psk_key_exchange_modes (bits): client offer / server acceptance.
 * Default TLS_PSK_MODE_DHE_KE only; psk_ke gives no forward secrecy. */
#define TLS_PSK_MODE_KE 1u
#define TLS_PSK_MODE_DHE_KE 2u
TLS_API int tls_config_set_psk_modes(tls_config *cfg, unsigned modes);
/* Server: uses `ring` (borrowed; must outlive the config; the caller
 * rotates it) instead of the config's own in-memory ring. NULL: back to
 * the own ring. A daemon that reloads its config keeps one ring for all. */
TLS_API int tls_config_set_ticket_keys(tls_config *cfg, tls_stek_ring *ring);
/* The ring tickets are sealed with, for the caller's rotation timer
 * (tls_stek_ring_maybe_rotate) and its counters (tls_stek_ring_stats). */
TLS_API tls_stek_ring *tls_config_ticket_keys(const tls_config *cfg);
/* Server: tickets per full or resumed handshake (default 2, 0: none) and
 * their lifetime in seconds (default 7200, at most 604800). -1 if out of range. */
TLS_API int tls_config_set_tickets(tls_config *cfg, unsigned count, uint32_t lifetime_s);
/* Server: accept 0-RTT up to max bytes per connection (0, the default,
 * disables it); tickets carry max, and a connection accepts at most the
 * smaller of its ticket's value and the current one. Enabling it without
 * tls_config_set_antireplay makes an in-memory recorder
 * (TLS_ANTIREPLAY_DEFAULT_MAX_ENTRIES entries, window 2 x the freshness
 * window, made again when tls_config_set_fresh_window changes it) owned by
 * the config. -1 on allocation failure. */
TLS_API int tls_config_set_early_data(tls_config *cfg, uint32_t max);
/* Server: ClientHello recorder for 0-RTT (antireplay.h); the config calls
 * ops->destroy(ctx) when freed or replaced (a recorder shared by several
 * configs has ops->destroy NULL and is freed by its owner). 0-RTT is refused while
 * ops->window_ms(ctx) is below 2 x the freshness window (RFC 8446 §8.3),
 * and always when ops->window_ms is NULL. */
TLS_API int tls_config_set_antireplay(tls_config *cfg, const struct tls_antireplay_ops *ops, void *ctx);
/* Server: §8.3 ticket age window for 0-RTT (default
 * TLS_DEFAULT_FRESH_WINDOW_MS). */
TLS_API int tls_config_set_fresh_window(tls_config *cfg, uint32_t window_ms);
/* Clock (unix milliseconds) for ticket creation, expiry, ages and the
 * anti-replay window; default CLOCK_REALTIME. Tests move time with it. */
typedef uint64_t (*tls_clock_fn)(void *ctx);
TLS_API int tls_config_set_clock(tls_config *cfg, tls_clock_fn fn, void *ctx);

/* External PSKs (binder label "ext binder"). The hash is that of cipher
 * suite `cipher` (e.g. TLS_AES_128_GCM_SHA256 for SHA-256); the handshake
 * then uses a suite with this hash. Key 1..TLS_MAX_SECRET*2 bytes.
 * Server: lookup by identity; return 0 and fill key/key_len (at most
 * *key_len on entry)/cipher when known, -1 otherwise (tried before the
 * tickets). Client: the one identity to offer (when no session is set). */
#define TLS_PSK_MAX_KEY 96
#define TLS_PSK_MAX_IDENTITY 1024
typedef int (*tls_psk_find_fn)(void *ctx, const uint8_t *identity, size_t identity_len,
			       uint8_t *key, size_t *key_len, uint16_t *cipher);
TLS_API int tls_config_set_psk_find(tls_config *cfg, tls_psk_find_fn fn, void *ctx);
TLS_API int tls_config_set_psk(tls_config *cfg, const uint8_t *identity, size_t identity_len,
		       const uint8_t *key, size_t key_len, uint16_t cipher);

/* Client sessions are opaque blobs (versioned; they hold the resumption
 * PSK: keep them secret): one per NewSessionTicket, from the `session`
 * callback or tls_post_ticket_recv, offered with tls_conn_set_session.
 * A blob is offered once: drop it when it has been set on a connection,
 * whatever the outcome (RFC 8446 §C.4: a reused ticket links connections;
 * the server sends new ones). */

/* ---- one connection ---- */
typedef struct tls_conn tls_conn;

typedef struct tls_callbacks {
	/* A new traffic secret for one direction. For kTLS, install TX/RX at
	 * TLS_EPOCH_APPLICATION; seq is the record number the key starts at
	 * (0 for a fresh key). The secret is only valid during the call. */
	void (*secret)(void *ctx, enum tls_dir dir, int epoch, const tls_cipher *cs,
		       const uint8_t *secret, size_t len);
	/* Client: a NewSessionTicket arrived (in tls_conn_recv): the session
	 * blob, valid during the call (copy it to keep it). */
	void (*session)(void *ctx, const uint8_t *blob, size_t len);
	/* Server: 0-RTT application data, UNCONFIRMED (replayable) until the
	 * handshake completes (tls_conn_handshake returns 0: the client's
	 * Finished verified; params.early_data == TLS_EARLY_ACCEPTED). */
	void (*early_data)(void *ctx, const uint8_t *data, size_t len);
} tls_callbacks;

TLS_API tls_conn *tls_conn_new(const tls_config *cfg);
TLS_API void tls_conn_free(tls_conn *c);
TLS_API void tls_conn_set_callbacks(tls_conn *c, const tls_callbacks *cb, void *ctx);
/* Client: SNI to send and name to verify. A literal IP address is verified
 * against IP SANs and not sent as SNI. */
TLS_API int tls_conn_set_server_name(tls_conn *c, const char *name);
/* Client: per-connection ALPN offer overriding the config. */
TLS_API int tls_conn_set_alpn(tls_conn *c, const char *list);
/* Client: offer this session blob (before the first tls_conn_handshake;
 * copied). It is offered (with its 0-RTT) only if the connection's SNI is
 * the session's (§4.6.1); otherwise a full handshake follows. -1 if the
 * blob is malformed, expired, or the conn's config has none of its
 * cipher's hash. The caller drops the blob now: a ticket is offered at
 * most once (§C.4). The server may decline it (full handshake,
 * params.resumed false). */
TLS_API int tls_conn_set_session(tls_conn *c, const uint8_t *blob, size_t len);
/* Client: 0-RTT data (copied) sent right after the ClientHello, when the
 * session allows (max_early_data >= len, its ALPN offered, its cipher
 * configured). After the handshake params.early_data tells whether the
 * server accepted it; if not (REJECTED or NONE), send it again. */
TLS_API int tls_conn_set_early_data(tls_conn *c, const uint8_t *data, size_t len);

/* Drives the handshake. `in`/`*in_len`: bytes from the peer (may be NULL/0
 * for the client's first call); on return *in_len is the number consumed,
 * always a whole number of records. Output records are appended to out.
 * Returns 0 when this side's handshake is complete, TLS_WANT_INPUT,
 * TLS_WANT_SIGNATURE (see tls_sign_fn), or an error (see above; the alert
 * record is already in out). */
TLS_API int tls_conn_handshake(tls_conn *c, tls_buf *out, const uint8_t *in, size_t *in_len);
TLS_API bool tls_conn_handshake_done(const tls_conn *c);

/* Userspace record layer after the handshake. send splits data into
 * records of at most the negotiated limit. recv consumes whole records from
 * `in`, appends application data to `plain`, handles NewSessionTicket and
 * KeyUpdate, and returns 0, TLS_WANT_INPUT (no complete record), TLS_CLOSED
 * (close_notify), or an error. However many KeyUpdate(update_requested)
 * one recv call reads, it answers with one KeyUpdate appended to out at its
 * end (§4.6.3); send, key_update and close send any answer still owed
 * first. */
/* send also starts a KeyUpdate (no request) by itself before a record
 * when the TX key reached its aead_limits.h update threshold. */
TLS_API int tls_conn_send(tls_conn *c, tls_buf *out, const void *data, size_t len);
TLS_API int tls_conn_recv(tls_conn *c, tls_buf *out, tls_buf *plain, const uint8_t *in, size_t *in_len);
TLS_API int tls_conn_key_update(tls_conn *c, tls_buf *out, bool request_peer);
TLS_API int tls_conn_close(tls_conn *c, tls_buf *out);

/* ---- exact reads, key changes in the output, alerts ---- */

/* How many more bytes complete the record at the start of in[0..len): the
 * rest of the 5-byte header, then the rest of its body; 0 when a whole
 * record is there, or when the header is already invalid (feed it: the
 * engine answers with the alert). An event loop reads exactly this much
 * and so never takes a byte of what follows the handshake's last record
 * out of the socket (it stays there for kTLS). */
TLS_API size_t tls_record_need(const uint8_t *in, size_t len);

/* Where our TX key changed in what the last call (tls_conn_handshake,
 * _recv, _send, _key_update, _close, _send_alert) appended to out: from
 * marks[i].offset on (counted from where out ended when the call began)
 * records are protected under marks[i].epoch (TLS_EPOCH_HANDSHAKE,
 * TLS_EPOCH_APPLICATION, 3 + N after N KeyUpdates). Bytes before the first
 * mark keep the epoch they had. A kTLS hand-off sends everything before the
 * TLS_EPOCH_APPLICATION mark itself, and knows how many records the engine
 * already sealed after it. Returns how many marks there are (at most
 * TLS_MAX_OUT_EPOCHS, oldest first). */
#define TLS_MAX_OUT_EPOCHS 4
struct tls_out_epoch {
	int epoch;
	size_t offset;
};
TLS_API size_t tls_conn_out_epochs(const tls_conn *c, struct tls_out_epoch *marks, size_t max);

/* Ends the connection with `alert` (any time: during the handshake, or
 * after it in userspace): the alert record, under the key the peer expects
 * now, is appended to out; nothing more is sent or read. close_notify is
 * sent as a warning (tls_conn_close after the handshake does the same).
 * Returns TLS_ERR_LOCAL(alert), or the earlier result when the connection
 * had already ended (then nothing is written). */
TLS_API int tls_conn_send_alert(tls_conn *c, tls_buf *out, int alert);

/* Negotiated parameters, valid once the handshake is done. A server's
 * cipher, group, sig_scheme, server_name, alpn, resumed, hrr, early_data
 * and client_id are set from its Finished on (a 0-RTT hand-back before the
 * client's Finished reports them). */
typedef struct tls_params {
	uint16_t version;          /* 0x0304 */
	const tls_cipher *cipher;
	uint16_t group;            /* 0 for psk_ke */
	uint16_t sig_scheme;       /* client: the server's; server: ours (not the
				    * client certificate's), 0 when resumed */
	const char *server_name;   /* SNI, or NULL */
	const char *alpn;          /* or NULL */
	const tls_chain *peer_chain; /* NULL if the peer sent none */
	bool resumed;
	bool hrr;                  /* a HelloRetryRequest happened */
	uint16_t peer_record_limit; /* RFC 8449, 16385 when not sent */
	bool psk_external;         /* resumed with an external PSK (not a ticket) */
	enum tls_early_state { TLS_EARLY_NONE = 0, TLS_EARLY_ACCEPTED, TLS_EARLY_REJECTED }
		early_data;        /* server: 0-RTT delivered and now confirmed */
	/* Server: the client's certificate identity, from its Certificate or,
	 * when resumed, from the ticket (peer_chain is then NULL). */
	bool client_id;
	uint8_t client_cert_sha256[32];
	const uint8_t *client_subject; /* DER X509_NAME */
	size_t client_subject_len;
	/* Client: what the server stapled to its leaf certificate (asked for
	 * when verifying the server), NULL when nothing: the OCSPResponse DER
	 * and the SignedCertificateTimestampList (RFC 6962 §3.3). Not checked
	 * by the engine; valid as long as the conn. */
	const uint8_t *ocsp;
	size_t ocsp_len;
	const uint8_t *sct;
	size_t sct_len;
} tls_params;
TLS_API const tls_params *tls_conn_params(const tls_conn *c);

/* Current application traffic secret and next sequence number of one
 * direction, for handing a socket to kTLS. */
TLS_API int tls_conn_traffic(const tls_conn *c, enum tls_dir dir, uint8_t *secret, size_t *len,
		     uint64_t *seq);

/* RFC 8446 §7.5 exporter (after the handshake): out_len bytes. */
TLS_API int tls_conn_export(const tls_conn *c, const char *label, const uint8_t *context,
		    size_t context_len, uint8_t *out, size_t out_len);

/* Readable reason for the last failure ("bad Finished", "no shared group"). */
TLS_API const char *tls_conn_error(const tls_conn *c);

/* ---- after the handshake: the post-handshake object ----
 *
 * After a kTLS hand-off the kernel holds the record keys and the socket
 * goes back to the application; the tls_conn can go. What the socket still
 * needs is a tls_post: the suite, each direction's current application
 * traffic secret with its next record sequence number and epoch, the
 * exporter and (client) resumption master secrets, SNI, ALPN, the peer's
 * identity, and what a server needs to issue tickets. It serialises to
 * bytes (a daemon's reply to the application carries it) and offers
 * KeyUpdate, NewSessionTicket (server: build; client: parse into a session
 * blob) and the exporter without any live connection. It seals nothing
 * itself: the caller (the kernel) protects the messages it builds and
 * tells it the sequence numbers it learns (tls_post_set_seq). */
typedef struct tls_post tls_post;

/* Server, before the first tls_conn_handshake: the engine does not append
 * NewSessionTickets after the client's Finished. The caller installs TX
 * (seq 0) in the kernel and sends them with tls_post_ticket_send as
 * handshake records under the application key (kTLS: the record type
 * cmsg), tls_post_tickets_owed of them. -1 if not a server or too late. */
TLS_API int tls_conn_defer_tickets(tls_conn *c);

/* A copy of the connection's post-handshake state, after
 * tls_conn_handshake returned 0 (either role; take it before more
 * userspace records move the sequence numbers, or update them with
 * tls_post_set_seq). The conn stays usable. A server's resumption secret
 * is there only when its tickets were deferred, and only in memory. NULL
 * on failure. */
TLS_API tls_post *tls_conn_post(const tls_conn *c);
/* Wipes and frees (NULL is fine). */
TLS_API void tls_post_free(tls_post *p);
/* Serialised form: a magic and a version byte, then every field with
 * checked lengths. It holds traffic and exporter secrets (client: the
 * resumption secret too): keep it secret, wipe copies. A server's
 * resumption secret is never encoded: a decoded server tls_post sends no
 * tickets. encode: 0 or -1 (appended to out); decode: NULL if malformed,
 * of an unknown version, or with a bad length. */
TLS_API int tls_post_encode(const tls_post *p, tls_buf *out);
TLS_API tls_post *tls_post_decode(const uint8_t *p, size_t len);

TLS_API enum tls_role tls_post_role(const tls_post *p);
/* Cipher suite id (tls_cipher_find gives its parameters). */
TLS_API uint16_t tls_post_cipher(const tls_post *p);
/* Current application traffic secret of dir (*len: room on entry, the
 * suite's hash length on return) and its next record sequence number. */
TLS_API int tls_post_traffic(const tls_post *p, enum tls_dir dir, uint8_t *secret, size_t *len,
		     uint64_t *seq);
/* The next record sequence number of dir, as the caller learned it (from
 * the kernel: records sent or read since the hand-off). */
TLS_API void tls_post_set_seq(tls_post *p, enum tls_dir dir, uint64_t seq);
/* SNI (client: as sent; server: as received) and ALPN, or NULL. */
TLS_API const char *tls_post_server_name(const tls_post *p);
TLS_API const char *tls_post_alpn(const tls_post *p);
/* The peer's certificate identity, when it sent one or (server, resumed)
 * its ticket carried one: SHA-256 of the leaf (DER) and its subject (DER
 * X509_NAME, valid as long as p). False when none. */
TLS_API bool tls_post_peer_id(const tls_post *p, uint8_t sha256[32], const uint8_t **subject,
		      size_t *subject_len);
TLS_API bool tls_post_resumed(const tls_post *p);

/* KeyUpdate (RFC 8446 §4.6.3). send: builds our KeyUpdate (a plaintext
 * handshake message, header included) and moves TX on to the next secret
 * (seq 0, epoch + 1). The message goes out under the OLD key (kTLS: send it
 * as a handshake record, then install tls_post_traffic(TX)). 0 or -1.
 * recv: a KeyUpdate body (after the 4-byte header) read under the old RX
 * key; moves RX on (install tls_post_traffic(RX) for the next record) and
 * says whether the peer asked for ours. 0, or the alert to send. */
TLS_API int tls_post_key_update_send(tls_post *p, bool request_peer, uint8_t msg[TLS_KEY_UPDATE_MSG_LEN]);
TLS_API int tls_post_key_update_recv(tls_post *p, const uint8_t *body, size_t len, bool *request_peer);

/* Client: a NewSessionTicket body (after the 4-byte header) received at
 * now_ms (unix ms, the clock tickets are aged with) becomes a session blob
 * appended to session (for tls_conn_set_session); nothing is appended for
 * a ticket with lifetime 0. 0, or the alert to send. */
TLS_API int tls_post_ticket_recv(tls_post *p, const uint8_t *body, size_t len, uint64_t now_ms,
			 tls_buf *session);
/* Server: appends one NewSessionTicket (a plaintext handshake message,
 * header included) sealed with cfg's STEK ring at cfg's clock, with a fresh
 * nonce each call; the caller protects it (kTLS: a handshake record).
 * 0; 1 when no ticket is issued (tickets off in cfg, the client allows
 * none of cfg's PSK modes, no usable ring key: send none); -1 on failure
 * (also for a client tls_post, or one without the resumption secret). 0-RTT
 * in the ticket: the smaller of this connection's config and cfg. */
TLS_API int tls_post_ticket_send(tls_post *p, const tls_config *cfg, tls_buf *msg);
/* Server: tickets the handshake deferred (the config's count when the
 * client can use them), less those sent since with tls_post_ticket_send. */
TLS_API unsigned tls_post_tickets_owed(const tls_post *p);
/* RFC 8446 §7.5 exporter, the same bytes as tls_conn_export. */
TLS_API int tls_post_export(const tls_post *p, const char *label, const uint8_t *context,
		    size_t context_len, uint8_t *out, size_t out_len);


#endif
