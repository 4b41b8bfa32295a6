/* Test hooks of the engine: only in its test build (libhandshake-test.a,
 * compiled with -DTLS_TEST_HOOKS, which the tests, tests/peer, the fuzz
 * targets and the seed generator link). The shipped libhandshake has none
 * of these symbols. */
#ifndef TLS_TEST_HOOKS_H
#define TLS_TEST_HOOKS_H

#include "tls/crypto.h"
#include "tls/stek.h"
#include "tls/tls.h"

/* ---- connections (RFC 8448 traces, hand-made messages) ----
 * Call after tls_conn_new and before the first tls_conn_handshake. Each one
 * only replaces a random or cosmetic choice; every check still runs. */
/* Fixed random (32 bytes): the client's ClientHello.random, or the server's
 * ServerHello.random (not an HRR, whose random is fixed by the RFC). */
int tls_conn_test_set_random(tls_conn *c, const uint8_t random[32]);
/* Ephemeral private key (raw X25519/X448 scalar, EC private scalar or
 * FFDHE exponent) used whenever this connection makes a share for
 * `group`: the client's ClientHello share(s) (also the HRR-requested one),
 * the server's share. One key per group is kept (up to 4 groups), so a
 * client can have its X25519 key for CH1 and its P-256 key for CH2 set up
 * front. */
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

/* ---- key exchange ----
 * Uses this private key (raw X25519/X448 scalar, EC private scalar, or
 * FFDHE exponent 1 < x < p - 1 of at most the prime's length). */
int tls_kex_set_private(tls_kex *k, uint16_t group, const uint8_t *priv, size_t len,
			tls_buf *pub);

/* Pretend the ring's current key has sealed n tickets (seal limits). */
void tls_stek_ring_test_set_seals(tls_stek_ring *ring, uint64_t n);

#endif
