/* Cryptographic building blocks of the engine, all on libcrypto.
 *
 * cipher suites, HKDF and the RFC 8446 §7.1 key schedule, the transcript
 * hash, record protection for one traffic key (§5.2), (EC)DHE key exchange,
 * signature schemes, and certificate loading/verification. No state machine
 * logic lives here; every function is usable on its own (the client library
 * re-keys a kTLS socket with tls_next_traffic_secret + tls_traffic_key_derive).
 */
#ifndef TLS_CRYPTO_H
#define TLS_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "tls/wire.h"

#define TLS_MAX_HASH 48     /* SHA-384 */
#define TLS_MAX_KEY 32
#define TLS_IV_LEN 12
#define TLS_TAG_LEN 16
#define TLS_MAX_PLAINTEXT 16384
#define TLS_MAX_CIPHERTEXT (16384 + 256)
#define TLS_RECORD_HEADER 5

/* ---- cipher suites ---- */

typedef struct tls_cipher {
	uint16_t id;
	const char *name;          /* IANA name, e.g. "TLS_AES_128_GCM_SHA256" */
	size_t key_len;            /* 16 or 32 */
	size_t hash_len;           /* 32 or 48 */
	int ktls_cipher;           /* TLS_CIPHER_AES_GCM_128 (51) etc. */
	const EVP_MD *(*md)(void);
	const EVP_CIPHER *(*aead)(void);
} tls_cipher;

/* NULL for anything but the four suites above that kTLS can carry. */
const tls_cipher *tls_cipher_find(uint16_t id);
/* Why the engine does not take suite `id`, as a sentence for error
 * messages; NULL when tls_cipher_find knows it. */
const char *tls_cipher_refusal(uint16_t id);

/* Explicitly fetched (cached, process-wide) equivalents of md / the suite's
 * AEAD: OpenSSL 3 re-fetches implicit EVP_sha256() & co. on every init,
 * which costs more than hashing a handshake message. Never freed by callers. */
const EVP_MD *tls_md_fetched(const EVP_MD *md);
const EVP_CIPHER *tls_aead_fetched(const tls_cipher *cs);

/* ---- HKDF and the key schedule (RFC 8446 §7.1) ---- */

/* HKDF-Extract(salt, ikm) -> out[hash_len]. A NULL salt or ikm means a
 * string of hash_len zeros, as the key schedule uses them. 0 on success. */
int tls_hkdf_extract(const EVP_MD *md, const uint8_t *salt, size_t salt_len,
		     const uint8_t *ikm, size_t ikm_len, uint8_t *out);
/* HKDF-Expand-Label(secret, "tls13 " + label, context, out_len). */
int tls_hkdf_expand_label(const EVP_MD *md, const uint8_t *secret, size_t secret_len,
			  const char *label, const uint8_t *context, size_t context_len,
			  uint8_t *out, size_t out_len);
/* HMAC(key, data) -> out[EVP_MD_get_size(md)]. 0 on success. */
int tls_hmac(const EVP_MD *md, const uint8_t *key, size_t key_len,
	     const uint8_t *data, size_t len, uint8_t *out);
/* Hash(data) -> out, *out_len = Hash.length; a pre-fetched digest and a
 * reused context (nothing allocated per call). 0 on success. */
int tls_digest(const EVP_MD *md, const void *data, size_t len, uint8_t *out, size_t *out_len);
/* Derive-Secret(secret, label, transcript_hash) with a finished hash. */
int tls_derive_secret(const EVP_MD *md, const uint8_t *secret, const char *label,
		      const uint8_t *transcript_hash, uint8_t *out);

/* The running key schedule: early -> handshake -> master secret. Each
 * advance mixes in the derived "derived" secret and new input keying
 * material (PSK, then (EC)DHE, then zeros). Wiped by tls_keysched_clear. */
typedef struct tls_keysched {
	const EVP_MD *md;
	const struct ks_consts *consts; /* md's no-PSK constants, if known */
	size_t hash_len;
	uint8_t secret[TLS_MAX_HASH];
	int stage;                 /* 0 none, 1 early, 2 handshake, 3 master */
} tls_keysched;

int tls_keysched_init(tls_keysched *ks, const EVP_MD *md, const uint8_t *psk, size_t psk_len);
/* Stage 1 -> 2 with the (EC)DHE shared secret (NULL for psk_ke). */
int tls_keysched_handshake(tls_keysched *ks, const uint8_t *dhe, size_t dhe_len);
/* Stage 2 -> 3. */
int tls_keysched_master(tls_keysched *ks);
/* Derive-Secret from the current stage secret. */
int tls_keysched_derive(const tls_keysched *ks, const char *label,
			const uint8_t *transcript_hash, uint8_t *out);
void tls_keysched_clear(tls_keysched *ks);

/* finished_key = HKDF-Expand-Label(base, "finished", "", Hash.length);
 * verify_data = HMAC(finished_key, transcript_hash). */
int tls_finished_mac(const EVP_MD *md, const uint8_t *base_secret,
		     const uint8_t *transcript_hash, uint8_t *out);
/* application_traffic_secret_N+1 (§7.2, label "traffic upd"). */
int tls_next_traffic_secret(const tls_cipher *cs, const uint8_t *secret, uint8_t *out);
/* Constant-time comparison; true when equal. */
bool tls_ct_equal(const void *a, const void *b, size_t n);

/* ---- transcript hash (§4.4.1) ---- */

/* Buffers messages until the hash is known (a client learns it from the
 * ServerHello), then hashes incrementally. Handles the HRR rewrite of
 * ClientHello1 into message_hash. */
typedef struct tls_transcript {
	const EVP_MD *md;          /* NULL until chosen */
	EVP_MD_CTX *ctx;
	EVP_MD_CTX *snap;          /* reused by tls_transcript_hash */
	tls_buf pending;           /* messages seen before md was set */
} tls_transcript;

void tls_transcript_init(tls_transcript *t);
int tls_transcript_set_hash(tls_transcript *t, const EVP_MD *md);
/* Appends one whole handshake message (4-byte header included). */
int tls_transcript_add(tls_transcript *t, const uint8_t *msg, size_t len);
/* Hash of everything so far (does not finalise). out[hash_len]. */
int tls_transcript_hash(const tls_transcript *t, uint8_t *out);
/* Hash of everything so far followed by `extra` (not added): the PSK
 * binder hash over a truncated ClientHello. When the hash is not chosen
 * yet, md hashes the buffered messages and extra. out[hash_len]. */
int tls_transcript_hash_extra(const tls_transcript *t, const EVP_MD *md, const uint8_t *extra,
			      size_t len, uint8_t *out);
/* Replaces the transcript so far by message_hash(Hash(CH1)) (§4.4.1). */
int tls_transcript_hrr_rewrite(tls_transcript *t);
void tls_transcript_free(tls_transcript *t);

/* ---- record protection with one traffic key (§5.2, §5.3) ---- */

typedef struct tls_traffic_key {
	const tls_cipher *cs;
	uint8_t key[TLS_MAX_KEY];
	uint8_t iv[TLS_IV_LEN];
	uint64_t seq;              /* next record's sequence number */
	EVP_CIPHER_CTX *ctx;
	bool keyed;                /* ctx holds this key (false: set up on first use) */
} tls_traffic_key;

/* key = HKDF-Expand-Label(secret, "key", "", key_len), iv likewise ("iv"). */
int tls_traffic_key_derive(const tls_cipher *cs, const uint8_t *secret,
			   uint8_t *key, uint8_t iv[TLS_IV_LEN]);
/* Derives key and iv from the traffic secret, seq = 0. */
int tls_traffic_key_init(tls_traffic_key *k, const tls_cipher *cs, const uint8_t *secret);
/* For a new epoch of an existing (or zeroed) key: same result as
 * tls_traffic_key_clear + tls_traffic_key_init, but k's cipher context is
 * kept and re-keyed instead of freed and made again. With lazy, the
 * context is keyed on the first seal/open only, so keys that are merely
 * exported (to kTLS) never build a userspace key schedule. On failure k is
 * cleared. */
int tls_traffic_key_set(tls_traffic_key *k, const tls_cipher *cs, const uint8_t *secret,
			bool lazy);
void tls_traffic_key_clear(tls_traffic_key *k);
/* Appends one TLSCiphertext record (header, encrypted inner plaintext with
 * `type` and `pad` zero bytes, tag) to out. len <= TLS_MAX_PLAINTEXT. */
int tls_record_seal(tls_traffic_key *k, uint8_t type, const uint8_t *data, size_t len,
		    size_t pad, tls_buf *out);
/* Decrypts one whole record (header included) in place. On success sets the
 * inner content type and the plaintext span (inside rec) with padding
 * removed. Returns 0, or -1 for bad_record_mac, -2 for a record with no
 * non-zero content type or an outer type other than application_data
 * (unexpected_message), -3 for overflow (record_overflow).
 * seq advances only when the record authenticates (a failed trial
 * decryption of rejected 0-RTT data leaves the key as it was). Both seal
 * and open refuse to run at seq 2^64-1 rather than wrap. */
int tls_record_open(tls_traffic_key *k, uint8_t *rec, size_t rec_len,
		    uint8_t *type, uint8_t **data, size_t *data_len);

/* ---- key exchange (§4.2.8) ---- */

typedef struct tls_kex {
	uint16_t group;
	EVP_PKEY *key;             /* our ephemeral private key (hybrid: the
				    * classical part's) */
	uint8_t *kem_dk;           /* hybrid client: ML-KEM decapsulation key */
} tls_kex;

bool tls_group_supported(uint16_t group);
/* Generates an ephemeral key and appends its key_exchange bytes to pub. */
int tls_kex_generate(tls_kex *k, uint16_t group, tls_buf *pub);
/* Validates the peer's key_exchange bytes (exact length; point on the
 * curve; FFDHE 1 < Y < p - 1) and computes the shared secret into out
 * (room for TLS_MAX_KEX_SECRET bytes; *out_len set; FFDHE secrets keep
 * their leading zeros, §7.4.1). -1 on invalid peer share
 * (illegal_parameter). */
int tls_kex_derive(tls_kex *k, const uint8_t *peer, size_t peer_len,
		   uint8_t *out, size_t *out_len);
void tls_kex_clear(tls_kex *k);

/* Hybrid ML-KEM groups (kex_hybrid.c). tls_kex_generate and tls_kex_derive
 * take them too (the client's role: encapsulation key out, ciphertext in);
 * the server answers a client's share with tls_kex_encaps instead. */
bool tls_group_is_hybrid(uint16_t group);
int tls_hybrid_generate(tls_kex *k, uint16_t group, tls_buf *pub);
int tls_hybrid_derive(tls_kex *k, const uint8_t *peer, size_t peer_len,
		      uint8_t *out, size_t *out_len);
/* Server: checks the client's hybrid share, appends ours to pub and the
 * combined secret to out (TLS_MAX_KEX_SECRET). -1 on a malformed client
 * share (illegal_parameter), -2 on a local failure (internal_error). */
int tls_kex_encaps(uint16_t group, const uint8_t *peer, size_t peer_len, tls_buf *pub,
		   uint8_t *out, size_t *out_len);

/* ---- signatures (§4.2.3, §4.4.3) ---- */

/* True when scheme can be made with (or verified by) this key. */
bool tls_sig_scheme_fits_key(uint16_t scheme, EVP_PKEY *key);
/* True for schemes allowed in CertificateVerify (not rsa_pkcs1, not sha1). */
bool tls_sig_scheme_ok_for_cv(uint16_t scheme);
/* The signed content: 64 spaces, context string, 0, transcript hash. */
size_t tls_cv_content(bool server, const uint8_t *hash, size_t hash_len, uint8_t *out /* >= 64+34+48 */);
int tls_sig_sign(EVP_PKEY *key, uint16_t scheme, const uint8_t *msg, size_t len, tls_buf *sig);
/* 0 if valid, -1 if not, TLS_SIG_KEY_MISMATCH if the scheme is unknown or
 * cannot be verified with this key (type, curve, size). */
#define TLS_SIG_KEY_MISMATCH (-2)
int tls_sig_verify(EVP_PKEY *key, uint16_t scheme, const uint8_t *msg, size_t len,
		   const uint8_t *sig, size_t sig_len);

/* A private key prepared for signing once, when a certificate is
 * configured: the schemes it fits are worked out up front (integer checks
 * per handshake) and each fitting ECDSA/RSA scheme gets a signing context
 * set up once. Read-only after tls_sig_key_new, so one object may be used
 * by any number of threads at once. Holds its own reference to the key. */
typedef struct tls_sig_key tls_sig_key;

tls_sig_key *tls_sig_key_new(EVP_PKEY *key);
void tls_sig_key_free(tls_sig_key *k);
EVP_PKEY *tls_sig_key_pkey(const tls_sig_key *k);
/* Same answer as tls_sig_scheme_fits_key(scheme, key). */
bool tls_sig_key_fits(const tls_sig_key *k, uint16_t scheme);
/* tls_sign_fn-compatible (ctx is a tls_sig_key *): same signatures as
 * tls_sig_sign(key, ...). */
int tls_sig_key_sign(void *ctx, uint16_t scheme, const uint8_t *msg, size_t len, tls_buf *sig);

/* ---- certificates ---- */

typedef struct tls_chain {
	X509 **certs;              /* end entity first */
	size_t n;
} tls_chain;

/* Loads a PEM chain (leaf first) and a PEM private key. 0 on success;
 * on failure err gets a message naming the file and the problem. */
int tls_chain_load_pem(tls_chain *c, const char *path, char *err, size_t errlen);
EVP_PKEY *tls_key_load_pem(const char *path, char *err, size_t errlen);
/* 0 when key is the private key of the chain's leaf certificate; otherwise
 * -1 and a message in err. */
int tls_chain_check_key(const tls_chain *c, EVP_PKEY *key, char *err, size_t errlen);
/* Parses DER certificates into a chain (takes no ownership of ders). */
int tls_chain_from_der(tls_chain *c, const uint8_t *const *der, const size_t *len, size_t n);
void tls_chain_free(tls_chain *c);
/* True for a literal IPv4 or IPv6 address (never a DNS name). */
bool tls_is_ip_literal(const char *host);
/* The system's default trust store (OpenSSL's default file and
 * directory), loaded on first use and shared by the process: a new
 * reference (X509_STORE_free it), or NULL if it cannot be made.
 * tls_trust_reload (public) replaces it. */
X509_STORE *tls_store_system(void);

/* Each file's share of tls_engine_cleanup: its process-wide caches and the
 * calling thread's cached contexts. */
void tls_store_cleanup(void);
void tls_cipher_cleanup(void);
void tls_kex_cleanup(void);
void tls_keysched_cleanup(void);
/* True when the leaf covers host (DNS SAN with wildcard rules, or IP SAN). */
bool tls_chain_matches_name(const tls_chain *c, const char *host);
/* Verifies the chain against store at the current time for the given
 * purpose (server or client auth) and, if host is set, the name. Returns
 * 0 or the TLS alert to send (bad_certificate, certificate_expired,
 * unknown_ca, certificate_unknown...). err gets libcrypto's reason. */
int tls_chain_verify(const tls_chain *c, X509_STORE *store, bool server_cert,
		     const char *host, char *err, size_t errlen);
/* Formats a readable failure reason into err (NULL or 0 length: ignored);
 * every loader that takes `char *err, size_t errlen` reports through it. */
__attribute__((format(printf, 3, 4)))
void tls_set_err(char *err, size_t errlen, const char *fmt, ...);

/* Builds a trust store from a PEM file (or directory). */
X509_STORE *tls_store_load(const char *path, char *err, size_t errlen);

#endif
