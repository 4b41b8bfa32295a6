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

#include "tls/crypto.h"
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

/* ---- configuration: shared, read-only once connections use it ---- */
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
/* Takes ownership of chain and key. */
int tls_config_add_cert(tls_config *cfg, tls_chain *chain, EVP_PKEY *key);
/* OCSP response and SignedCertificateTimestampList (DER) stapled to the
 * most recently added certificate. */
int tls_config_set_ocsp(tls_config *cfg, const uint8_t *der, size_t len);
int tls_config_set_sct(tls_config *cfg, const uint8_t *list, size_t len);
/* Replaces the signer of the most recently added certificate. */
void tls_config_set_signer(tls_config *cfg, tls_sign_fn fn, void *ctx);
/* CA store to verify the peer (client: the server; server: client certs). */
int tls_config_load_ca(tls_config *cfg, const char *path, char *err, size_t errlen);
/* Client: verify the server's chain and name (default true once a CA is set). */
void tls_config_set_verify_peer(tls_config *cfg, bool on);
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

/* ---- one connection ---- */
typedef struct tls_conn tls_conn;

typedef struct tls_callbacks {
	/* A new traffic secret for one direction. For kTLS, install TX/RX at
	 * TLS_EPOCH_APPLICATION; seq is the record number the key starts at
	 * (0 for a fresh key). The secret is only valid during the call. */
	void (*secret)(void *ctx, enum tls_dir dir, int epoch, const tls_cipher *cs,
		       const uint8_t *secret, size_t len);
} tls_callbacks;

tls_conn *tls_conn_new(const tls_config *cfg);
void tls_conn_free(tls_conn *c);
void tls_conn_set_callbacks(tls_conn *c, const tls_callbacks *cb, void *ctx);
/* Client: SNI to send and name to verify. A literal IP address is verified
 * against IP SANs and not sent as SNI. */
int tls_conn_set_server_name(tls_conn *c, const char *name);
/* Client: per-connection ALPN offer overriding the config. */
int tls_conn_set_alpn(tls_conn *c, const char *list);

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
 * KeyUpdate (answers go to out), and returns 0, TLS_WANT_INPUT (no complete
 * record), TLS_CLOSED (close_notify), or an error. */
int tls_conn_send(tls_conn *c, tls_buf *out, const void *data, size_t len);
int tls_conn_recv(tls_conn *c, tls_buf *out, tls_buf *plain, const uint8_t *in, size_t *in_len);
int tls_conn_key_update(tls_conn *c, tls_buf *out, bool request_peer);
int tls_conn_close(tls_conn *c, tls_buf *out);

/* Negotiated parameters, valid once the handshake is done. */
typedef struct tls_params {
	uint16_t version;          /* 0x0304 */
	const tls_cipher *cipher;
	uint16_t group;            /* 0 for psk_ke */
	uint16_t sig_scheme;       /* peer's (client) or ours (server) */
	const char *server_name;   /* SNI, or NULL */
	const char *alpn;          /* or NULL */
	const tls_chain *peer_chain; /* NULL if the peer sent none */
	bool resumed;
	bool hrr;                  /* a HelloRetryRequest happened */
	uint16_t peer_record_limit; /* RFC 8449, 16385 when not sent */
} tls_params;
const tls_params *tls_conn_params(const tls_conn *c);

/* Current application traffic secret and next sequence number of one
 * direction, for handing a socket to kTLS. */
int tls_conn_traffic(const tls_conn *c, enum tls_dir dir, uint8_t *secret, size_t *len,
		     uint64_t *seq);

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
 *   CertificateRequest: signature_algorithms (the configured list) */
int tls_conn_test_set_extensions(tls_conn *c, uint8_t hs_type, const uint8_t *ext, size_t len);

#endif
