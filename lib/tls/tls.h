/* The sans-I/O TLS 1.3 engine.
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
#ifndef TLS_TLS_H
#define TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tls/antireplay.h"
#include "tls/crypto.h"
#include "tls/stek.h"
#include "tls/wire.h"

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
const char *tls_alert_name(int alert);

/* ---- results ----
 * 0                    done (handshake complete for this side / call ok)
 * TLS_WANT_INPUT       needs more bytes from the peer
 * TLS_ERR_LOCAL(a)     we failed the connection; alert `a` is in `out`
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
 * Set up a config before making connections from it; after that the
 * tls_config_set_* calls must not run concurrently with handshakes.
 * A config is NOT read-only during handshakes: a server's handshake
 *   - rotates the config's own STEK ring when its period has passed
 *     (tls_stek_ring_maybe_rotate in tls_server_send_tickets) and counts
 *     seals per key (ticket.c);
 *   - records ClientHellos in the anti-replay recorder when 0-RTT is on.
 * A client's handshake only reads it (the system trust store is shared
 * process-wide and loaded once, thread-safely). So: a client config may
 * be shared by threads; a server config belongs to one thread, unless
 * tickets are off or use a borrowed ring the application rotates
 * (tls_config_set_ticket_keys) with its own locking of seals, and 0-RTT
 * is off or uses a thread-safe recorder (tls_config_set_antireplay). */
typedef struct tls_config tls_config;

/* A signer lets the key live elsewhere (and lets tests inject RFC 8448's
 * fixed signatures). Appends the signature over msg to sig; 0 on success. */
typedef int (*tls_sign_fn)(void *ctx, uint16_t scheme, const uint8_t *msg, size_t len,
			   tls_buf *sig);

tls_config *tls_config_new(enum tls_role role);
void tls_config_free(tls_config *cfg);
/* Adds a certificate chain + key (server: selected by SNI and the client's
 * signature_algorithms, first added is the default; client: sent when the
 * server asks). err gets a readable reason on failure. */
int tls_config_add_cert_files(tls_config *cfg, const char *chain_pem, const char *key_pem,
			      char *err, size_t errlen);
/* On success takes ownership of chain and key; on failure (-1) the caller
 * still owns both. */
int tls_config_add_cert(tls_config *cfg, tls_chain *chain, EVP_PKEY *key);
/* OCSP response and SignedCertificateTimestampList (DER) stapled to the
 * most recently added certificate. */
int tls_config_set_ocsp(tls_config *cfg, const uint8_t *der, size_t len);
int tls_config_set_sct(tls_config *cfg, const uint8_t *list, size_t len);
/* Replaces the signer of the most recently added certificate. */
void tls_config_set_signer(tls_config *cfg, tls_sign_fn fn, void *ctx);
/* CA store to verify the peer (client: the server; server: client certs). */
int tls_config_load_ca(tls_config *cfg, const char *path, char *err, size_t errlen);
/* Client: verify the server's chain and name. Default ON: against the CA
 * store loaded with tls_config_load_ca, or, when none was loaded, the
 * system trust store (OpenSSL's default paths, like curl). Turn it off
 * only for tests or pinned keys checked elsewhere.
 * Server: verify client certificates against the loaded CA store (on
 * unless turned off explicitly). */
void tls_config_set_verify_peer(tls_config *cfg, bool on);
/* Client: with verification on, the certificate must match the name set
 * with tls_conn_set_server_name (default on). A verifying client without
 * a server name then fails at its first tls_conn_handshake ("no server
 * name to verify the certificate against"). Off: the chain is checked
 * but any name is accepted (the application checks the identity itself). */
void tls_config_set_verify_name(tls_config *cfg, bool on);
void tls_config_set_client_auth(tls_config *cfg, enum tls_client_auth mode);
/* Preference lists, most preferred first; unknown ids are an error. */
int tls_config_set_ciphers(tls_config *cfg, const uint16_t *ids, size_t n);
int tls_config_set_groups(tls_config *cfg, const uint16_t *ids, size_t n);
int tls_config_set_sigalgs(tls_config *cfg, const uint16_t *ids, size_t n);
/* Client: groups to send key shares for (default: the first group). */
int tls_config_set_key_share_groups(tls_config *cfg, const uint16_t *ids, size_t n);
/* ALPN as a comma-separated list ("h2,http/1.1"): server preference order
 * or client offer. */
int tls_config_set_alpn(tls_config *cfg, const char *list);
/* Cap on one handshake message (default 65536). */
void tls_config_set_max_handshake(tls_config *cfg, size_t bytes);
/* RFC 8449 record_size_limit we advertise (default 16385 = none). */
void tls_config_set_record_size_limit(tls_config *cfg, uint16_t limit);
/* Middlebox compatibility mode (client: send a session id and CCS; default on). */
void tls_config_set_compat_mode(tls_config *cfg, bool on);
/* NSS key log lines (SSLKEYLOGFILE format) go here; NULL (default) is off. */
void tls_config_set_keylog(tls_config *cfg, FILE *f);

/* ---- resumption, external PSKs, 0-RTT (RFC 8446 §2.2, §2.3, §4.2.11, §8) ----
 *
 * Server: after the client's Finished verifies, the server appends
 * `count` NewSessionTicket messages to `out` (protected with the server
 * application key, so tls_conn_traffic(TX) counts them: send `out` before
 * handing the TX key to the kernel). Tickets are sealed with the STEK ring
 * (tls_stek_ring; by default the config owns an in-memory ring rotated
 * every 12 h, keeping 2 previous keys). A ticket that fails to open,
 * expired, has another hash or another SNI is ignored: full handshake. */

/* psk_key_exchange_modes (bits): client offer / server acceptance.
 * Default TLS_PSK_MODE_DHE_KE only; psk_ke gives no forward secrecy. */
#define TLS_PSK_MODE_KE 1u
#define TLS_PSK_MODE_DHE_KE 2u
void tls_config_set_psk_modes(tls_config *cfg, unsigned modes);
/* Server: uses `ring` (borrowed; must outlive the config; the caller
 * rotates it) instead of the config's own in-memory ring. NULL: back to
 * the own ring. */
void tls_config_set_ticket_keys(tls_config *cfg, tls_stek_ring *ring);
/* Server: tickets per full or resumed handshake (default 2, 0: none) and
 * their lifetime in seconds (default 7200, at most 604800). -1 if out of range. */
int tls_config_set_tickets(tls_config *cfg, unsigned count, uint32_t lifetime_s);
/* Server: accept 0-RTT up to max bytes per connection (0, the default,
 * disables it); tickets carry max, and a connection accepts at most the
 * smaller of its ticket's value and the current one. Enabling it without
 * tls_config_set_antireplay makes an in-memory recorder
 * (TLS_ANTIREPLAY_DEFAULT_MAX_ENTRIES entries, window 2 x the freshness
 * window, made again when tls_config_set_fresh_window changes it) owned by
 * the config. -1 on allocation failure. */
int tls_config_set_early_data(tls_config *cfg, uint32_t max);
/* Server: ClientHello recorder for 0-RTT (antireplay.h); the config calls
 * ops->destroy(ctx) when freed or replaced. 0-RTT is refused while
 * ops->window_ms(ctx) is below 2 x the freshness window (RFC 8446 §8.3),
 * and always when ops->window_ms is NULL. */
void tls_config_set_antireplay(tls_config *cfg, const struct tls_antireplay_ops *ops, void *ctx);
/* Server: §8.3 ticket age window for 0-RTT (default
 * TLS_TICKET_DEFAULT_FRESH_WINDOW_MS). */
void tls_config_set_fresh_window(tls_config *cfg, uint32_t window_ms);
/* Clock (unix milliseconds) for ticket creation, expiry, ages and the
 * anti-replay window; default CLOCK_REALTIME. Tests move time with it. */
typedef uint64_t (*tls_clock_fn)(void *ctx);
void tls_config_set_clock(tls_config *cfg, tls_clock_fn fn, void *ctx);

/* External PSKs (binder label "ext binder"). The hash is that of cipher
 * suite `cipher` (e.g. TLS_AES_128_GCM_SHA256 for SHA-256); the handshake
 * then uses a suite with this hash. Key 1..TLS_MAX_HASH*2 bytes.
 * Server: lookup by identity; return 0 and fill key/key_len (at most
 * *key_len on entry)/cipher when known, -1 otherwise (tried before the
 * tickets). Client: the one identity to offer (when no session is set). */
#define TLS_PSK_MAX_KEY 96
#define TLS_PSK_MAX_IDENTITY 1024
typedef int (*tls_psk_find_fn)(void *ctx, const uint8_t *identity, size_t identity_len,
			       uint8_t *key, size_t *key_len, uint16_t *cipher);
void tls_config_set_psk_find(tls_config *cfg, tls_psk_find_fn fn, void *ctx);
int tls_config_set_psk(tls_config *cfg, const uint8_t *identity, size_t identity_len,
		       const uint8_t *key, size_t key_len, uint16_t cipher);

/* A client's resumable session: one NewSessionTicket with what resuming
 * needs. Delivered by the `session` callback (valid during the call: copy
 * it with tls_session_dup or tls_session_encode). */
typedef struct tls_session {
	uint16_t cipher;           /* suite of the connection that got it */
	uint8_t psk[TLS_MAX_HASH]; /* resumption PSK */
	uint8_t psk_len;
	uint8_t *ticket;           /* opaque ticket (identity) */
	size_t ticket_len;
	uint32_t lifetime_s;
	uint32_t age_add;
	uint32_t max_early_data;   /* 0: no 0-RTT */
	uint64_t created_ms;       /* when received (client clock) */
	char server_name[256];     /* SNI sent, "" for none */
	char alpn[256];            /* negotiated ALPN, "" for none */
	bool used;                 /* offered once already: do not offer again */
} tls_session;
tls_session *tls_session_dup(const tls_session *s);
void tls_session_free(tls_session *s);
/* Serialised form (versioned, includes the PSK: keep it secret). encode:
 * 0 or -1; decode: a new session or NULL if malformed. */
int tls_session_encode(const tls_session *s, tls_buf *out);
tls_session *tls_session_decode(const uint8_t *p, size_t len);
/* True when the session's lifetime has passed at now_ms. */
bool tls_session_expired(const tls_session *s, uint64_t now_ms);

/* ---- one connection ---- */
typedef struct tls_conn tls_conn;

typedef struct tls_callbacks {
	/* A new traffic secret for one direction. For kTLS, install TX/RX at
	 * TLS_EPOCH_APPLICATION; seq is the record number the key starts at
	 * (0 for a fresh key). The secret is only valid during the call. */
	void (*secret)(void *ctx, enum tls_dir dir, int epoch, const tls_cipher *cs,
		       const uint8_t *secret, size_t len);
	/* Client: a NewSessionTicket arrived (in tls_conn_recv). */
	void (*session)(void *ctx, const tls_session *s);
	/* Server: 0-RTT application data, UNCONFIRMED (replayable) until the
	 * handshake completes (tls_conn_handshake returns 0: the client's
	 * Finished verified; params.early_data == TLS_EARLY_ACCEPTED). */
	void (*early_data)(void *ctx, const uint8_t *data, size_t len);
} tls_callbacks;

tls_conn *tls_conn_new(const tls_config *cfg);
void tls_conn_free(tls_conn *c);
void tls_conn_set_callbacks(tls_conn *c, const tls_callbacks *cb, void *ctx);
/* Client: SNI to send and name to verify. A literal IP address is verified
 * against IP SANs and not sent as SNI. */
int tls_conn_set_server_name(tls_conn *c, const char *name);
/* Client: per-connection ALPN offer overriding the config. */
int tls_conn_set_alpn(tls_conn *c, const char *list);
/* Client: offer this session (before the first tls_conn_handshake). It is
 * offered (with its 0-RTT) only if the connection's SNI is the session's
 * server_name (§4.6.1); otherwise a full handshake follows. The
 * conn copies it and marks *s used: a ticket is offered at most once (§C.4);
 * the caller must not offer it again (-1 if s->used, expired, or the
 * conn's config has none of its cipher's hash). The server may decline it
 * (full handshake, params.resumed false). */
int tls_conn_set_session(tls_conn *c, tls_session *s);
/* Client: 0-RTT data (copied) sent right after the ClientHello, when the
 * session allows (max_early_data >= len, its ALPN offered, its cipher
 * configured). After the handshake params.early_data tells whether the
 * server accepted it; if not (REJECTED or NONE), send it again. */
int tls_conn_set_early_data(tls_conn *c, const uint8_t *data, size_t len);

/* Drives the handshake. `in`/`*in_len`: bytes from the peer (may be NULL/0
 * for the client's first call); on return *in_len is the number consumed,
 * always a whole number of records. Output records are appended to out.
 * Returns 0 when this side's handshake is complete, TLS_WANT_INPUT, or an
 * error (see above; the alert record is already in out). */
int tls_conn_handshake(tls_conn *c, tls_buf *out, const uint8_t *in, size_t *in_len);
bool tls_conn_handshake_done(const tls_conn *c);

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
int tls_conn_send(tls_conn *c, tls_buf *out, const void *data, size_t len);
int tls_conn_recv(tls_conn *c, tls_buf *out, tls_buf *plain, const uint8_t *in, size_t *in_len);
int tls_conn_key_update(tls_conn *c, tls_buf *out, bool request_peer);
int tls_conn_close(tls_conn *c, tls_buf *out);
/* Client after a kTLS hand-off: the body (after the 4-byte header) of a
 * NewSessionTicket that the kernel decrypted. It reaches the session callback
 * as with tls_conn_recv. On failure the result carries the alert
 * (TLS_ERR_ALERT) for the caller to send through the kernel. */
int tls_conn_new_session_ticket(tls_conn *c, const uint8_t *body, size_t len);

/* Negotiated parameters, valid once the handshake is done. */
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
} tls_params;
const tls_params *tls_conn_params(const tls_conn *c);

/* Current application traffic secret and next sequence number of one
 * direction, for handing a socket to kTLS. */
int tls_conn_traffic(const tls_conn *c, enum tls_dir dir, uint8_t *secret, size_t *len,
		     uint64_t *seq);

/* RFC 8446 §7.5 exporter (after the handshake): out_len bytes. */
int tls_conn_export(const tls_conn *c, const char *label, const uint8_t *context,
		    size_t context_len, uint8_t *out, size_t out_len);

/* Readable reason for the last failure ("bad Finished", "no shared group"). */
const char *tls_conn_error(const tls_conn *c);

/* ---- test-only hooks (RFC 8448 traces) ----
 * Call after tls_conn_new and before the first tls_conn_handshake. Each one
 * only replaces a random or cosmetic choice; every check still runs. */
/* Fixed random (32 bytes): the client's ClientHello.random, or the server's
 * ServerHello.random (not an HRR, whose random is fixed by the RFC). */
int tls_conn_test_set_random(tls_conn *c, const uint8_t random[32]);
/* Ephemeral private key (raw X25519 scalar or EC private scalar) used
 * whenever this connection makes a share for `group`: the client's
 * ClientHello share(s) (also the HRR-requested one), the server's share.
 * One key per group is kept (up to 4 groups), so a client can have its
 * X25519 key for CH1 and its P-256 key for CH2 set up front. */
int tls_conn_test_set_kex_private(tls_conn *c, uint16_t group, const uint8_t *priv, size_t len);
/* Client: the legacy_session_id to send (0..32 bytes; 0 = none even in
 * compatibility mode). The compat CCS still follows tls_config_set_compat_mode. */
int tls_conn_test_set_session_id(tls_conn *c, const uint8_t *id, size_t len);
/* Server: the cookie to put in a HelloRetryRequest (default: 32 random
 * bytes). The second ClientHello must echo it byte for byte; the server
 * keeps the ClientHello1 state itself. RFC 8448 §5 uses a 114-byte one. */
int tls_conn_test_set_hrr_cookie(tls_conn *c, const uint8_t *cookie, size_t len);
/* Queues one override: the NEXT handshake message of type hs_type this conn
 * writes (1 ClientHello, 2 ServerHello and HelloRetryRequest, 8
 * EncryptedExtensions, 13 CertificateRequest) carries exactly `ext` as the
 * contents of its extensions vector (the engine writes the u16 length).
 * Calling it twice for one type queues two (CH1 then CH2; HRR then SH); up to
 * 6 overrides in all. Everything else (random, session id, cipher, state)
 * stays the engine's; the bytes go into the transcript like normal ones.
 * For a client, the extension types of an overridden ClientHello count as
 * offered for the checks on the server's answers. The key_share bytes must
 * match the private keys set with tls_conn_test_set_kex_private. The
 * engine's negotiation still comes from its config (configure the same
 * lists). Without overrides the engine writes:
 *   ServerHello: key_share, supported_versions
 *   HelloRetryRequest: key_share, cookie, supported_versions
 *   EncryptedExtensions: ALPN, record_size_limit (when the client sent one),
 *     server_name (empty, when the SNI matched a certificate)
 *   CertificateRequest: signature_algorithms (the configured list)
 * ClientHello with a PSK on offer (a session or an external PSK): the block
 * must not hold pre_shared_key; the engine appends it last with the real
 * identity, obfuscated age and binder (over the overridden bytes).
 */
int tls_conn_test_set_extensions(tls_conn *c, uint8_t hs_type, const uint8_t *ext, size_t len);
/* Server: PSK identity `id` stands for a ticket whose contents are *t
 * (copied; PSK, suite, created_ms/lifetime, age_add, max_early_data,
 * ke_modes, SNI, ALPN), as if the STEK ring had opened it: lets a trace
 * resume with a ticket another implementation issued (RFC 8448 §4). The
 * binder ("res binder"), SNI, modes, suite, expiry and the 0-RTT checks
 * (freshness of the obfuscated age, anti-replay) all still run. One per
 * connection; other identities still go to psk_find and the ring. */
struct tls_ticket;
int tls_conn_test_set_ticket(tls_conn *c, const uint8_t *id, size_t id_len,
			     const struct tls_ticket *t);
/* Sequence number of one direction's current key (KeyUpdate limit tests). */
int tls_conn_test_set_seq(tls_conn *c, enum tls_dir dir, uint64_t seq);

#endif
