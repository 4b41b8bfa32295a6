/* Stateless session tickets (RFC 8446 §4.6.1, §4.2.11, §8.3).
 *
 * A server puts everything resumption must check into a tls_ticket, seals
 * it under the current STEK of a ring and sends the result as the opaque
 * `ticket` of a NewSessionTicket. When a client offers it back as a PSK
 * identity, tls_ticket_open() finds the key by id, authenticates, decrypts,
 * decodes and checks expiry. Every failure is a reason to fall back to a
 * full handshake (RFC 8446 §4.2.11: ignore the identity), never an alert.
 *
 * Sealed ticket, 44 bytes + contents:
 *   key_id (16) || nonce (12, random) || AES-256-GCM(contents) || tag (16)
 * with AAD = key_id, so a ticket cannot move to another key id.
 *
 * Contents (tls_ticket_encode; strict decode: every length checked, no
 * trailing bytes; "u8 x<a..b>" = vector with 1-byte length):
 *   u8   format                 TLS_TICKET_FORMAT (1)
 *   u16  version                0x0304
 *   u16  cipher_suite           one of the suites tls_cipher_find knows
 *   u8   psk<32|48>             exactly the suite's hash length
 *   u64  created_ms             unix ms when the ticket was issued
 *   u32  lifetime_s             <= 604800 (7 days, §4.6.1)
 *   u32  age_add
 *   u32  max_early_data         0: no 0-RTT with this ticket
 *   u8   ke_modes               bit (1 << mode): 1 psk_ke, 2 psk_dhe_ke
 *   u8   sni<0..255>            host name from the original handshake
 *   u8   alpn<0..255>           negotiated protocol
 *   u8   has_client             0 or 1; if 1:
 *     opaque cert_sha256[32]    SHA-256 of the client's leaf cert (DER)
 *     u64  cert_not_after       unix seconds, the leaf's notAfter
 *     u16  subject<0..1024>     DER X509_NAME of the leaf's subject
 *
 * Client identity: a resumed handshake carries no certificate, so the
 * ticket remembers who authenticated: the leaf's SHA-256 identifies the
 * exact certificate (compare with tls_ct_equal / pin it, look it up in a
 * revocation list), the subject is what an application reports as the
 * peer, and notAfter makes a ticket expire with the certificate. The
 * certificate itself is not carried (tickets travel in every ClientHello).
 */
#ifndef TLS_TICKET_H
#define TLS_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls/crypto.h"
#include "tls/stek.h"
#include "tls/wire.h"

#define TLS_TICKET_FORMAT 1
#define TLS_TICKET_NONCE_LEN 12
#define TLS_TICKET_OVERHEAD (TLS_STEK_ID_LEN + TLS_TICKET_NONCE_LEN + TLS_TAG_LEN)
#define TLS_TICKET_MAX_LIFETIME_S 604800u /* RFC 8446 §4.6.1: 7 days */
#define TLS_TICKET_MAX_SNI 255
#define TLS_TICKET_MAX_ALPN 255
#define TLS_TICKET_MAX_SUBJECT 1024
/* Largest sealed ticket this code makes or accepts. */
#define TLS_TICKET_MAX_SEALED (TLS_TICKET_OVERHEAD + 1 + 2 + 2 + 1 + TLS_MAX_HASH + 8 + 4 + \
			       4 + 4 + 1 + 1 + TLS_TICKET_MAX_SNI + 1 + TLS_TICKET_MAX_ALPN + \
			       1 + 32 + 8 + 2 + TLS_TICKET_MAX_SUBJECT)
/* A ticket created later than now by more than this (clock skew between
 * machines sharing a STEK) is treated as expired. */
#define TLS_TICKET_MAX_FUTURE_MS 60000u
/* §8.3 freshness: accepted difference between the server's and the
 * client's view of the ticket age. */
#define TLS_TICKET_DEFAULT_FRESH_WINDOW_MS TLS_DEFAULT_FRESH_WINDOW_MS

/* psk_key_exchange_modes values (§4.2.9) as bits of tls_ticket.ke_modes. */
#define TLS_PSK_KE 0
#define TLS_PSK_DHE_KE 1
#define TLS_TICKET_KE_BIT(mode) (1u << (mode))

typedef struct tls_ticket {
	uint16_t version;          /* 0x0304 */
	uint16_t cipher;           /* cipher suite id */
	uint8_t psk[TLS_MAX_HASH]; /* resumption PSK (tls_ticket_psk) */
	uint8_t psk_len;           /* the suite's hash length */
	uint64_t created_ms;       /* unix ms */
	uint32_t lifetime_s;       /* <= TLS_TICKET_MAX_LIFETIME_S */
	uint32_t age_add;          /* random per ticket */
	uint32_t max_early_data;   /* 0: no early data */
	uint8_t ke_modes;          /* TLS_TICKET_KE_BIT(...) set */
	uint8_t sni_len;
	char sni[TLS_TICKET_MAX_SNI + 1];  /* NUL-terminated, "" for none */
	uint8_t alpn_len;
	uint8_t alpn[TLS_TICKET_MAX_ALPN]; /* alpn_len 0: none */
	bool has_client;           /* the client authenticated with a certificate */
	uint8_t client_cert_sha256[32];
	uint64_t client_not_after; /* unix seconds */
	uint16_t client_subject_len;
	uint8_t client_subject[TLS_TICKET_MAX_SUBJECT]; /* DER X509_NAME */
} tls_ticket;

/* PSK = HKDF-Expand-Label(resumption_master_secret, "resumption",
 * ticket_nonce, Hash.length) (§4.6.1). out[cs->hash_len]. 0 on success. */
int tls_ticket_psk(const tls_cipher *cs, const uint8_t *resumption_master_secret,
		   const uint8_t *nonce, size_t nonce_len, uint8_t *out);

/* Starts a ticket for a connection that negotiated cs: derives the PSK
 * from the resumption master secret and nonce, draws a random age_add,
 * sets created_ms = now_ms, lifetime (clamped to 7 days) and psk_dhe_ke
 * only. SNI, ALPN, early data and the client identity are left empty for
 * the caller. 0 on success, -1 (t wiped) on failure. */
int tls_ticket_init(tls_ticket *t, const tls_cipher *cs, const uint8_t *resumption_master_secret,
		    const uint8_t *nonce, size_t nonce_len, uint64_t now_ms, uint32_t lifetime_s);
/* Setters with length checks; -1 if too long (or, for SNI, contains NUL). */
int tls_ticket_set_sni(tls_ticket *t, const char *name);
int tls_ticket_set_alpn(tls_ticket *t, const uint8_t *proto, size_t len);
/* Records the client's leaf certificate (hash, notAfter, subject). */
int tls_ticket_set_client_cert(tls_ticket *t, X509 *leaf);
/* Wipes the ticket (the PSK is a secret). */
void tls_ticket_clear(tls_ticket *t);

/* Contents codec. encode: 0 or -1 (invalid field values or b->err).
 * decode: 0, or -1 for anything malformed (t wiped). */
int tls_ticket_encode(const tls_ticket *t, tls_buf *out);
int tls_ticket_decode(tls_ticket *t, const uint8_t *p, size_t len);

/* Seals t under the ring's current key and appends the ticket to out.
 * Counts the seal on the key; -1 if the ring is empty, the key reached
 * TLS_STEK_MAX_SEALS, t does not encode, or libcrypto failed: then simply
 * send no ticket. */
int tls_ticket_seal(tls_stek_ring *ring, const tls_ticket *t, tls_buf *out);

enum tls_ticket_result {
	TLS_TICKET_OK = 0,
	TLS_TICKET_UNKNOWN_KEY,    /* key id not in the ring (rotated out, other fleet) */
	TLS_TICKET_TAMPERED,       /* authentication failed */
	TLS_TICKET_EXPIRED,        /* older than its lifetime, created in the future,
				      or the client certificate expired */
	TLS_TICKET_MALFORMED,      /* too short/long, or contents that do not decode */
};

/* Opens a ticket received as a PSK identity at now_ms (unix ms). On
 * TLS_TICKET_OK, *t holds the contents (wipe it with tls_ticket_clear);
 * on any other result *t is wiped. The result is counted in the ring's
 * stats (tls_stek_ring_stats). */
enum tls_ticket_result tls_ticket_open(tls_stek_ring *ring, const uint8_t *ticket, size_t len,
				       uint64_t now_ms, tls_ticket *t);

/* ---- ticket age (§4.2.11.1, §8.3) ---- */

/* Client: obfuscated_ticket_age = (age_ms + age_add) mod 2^32. */
uint32_t tls_ticket_obfuscate_age(uint64_t age_ms, uint32_t age_add);
/* Server: the client's view of the age, (obfuscated - age_add) mod 2^32. */
uint32_t tls_ticket_client_age(uint32_t obfuscated_age, uint32_t age_add);
/* §8.3: the ClientHello should arrive at created + client_age (the
 * server's clock); it is fresh when now_ms lies within window_ms of that,
 * either side. A replay cache must then remember a ClientHello for
 * 2 * window_ms (see antireplay.h). */
bool tls_ticket_age_fresh(uint64_t created_ms, uint32_t client_age_ms, uint64_t now_ms,
			  uint32_t window_ms);
/* The same for an opened ticket and the obfuscated age from the PSK
 * identity. */
bool tls_ticket_fresh(const tls_ticket *t, uint32_t obfuscated_age, uint64_t now_ms,
		      uint32_t window_ms);

#endif
