/* The handoff protocol between applications (libhandshake) and handshaked.
 *
 * A Unix SOCK_SEQPACKET socket: one datagram is one message. A message is
 * a 12-byte header and a body of attributes (type-length-value):
 *
 *   header   magic "HO" (2) | version 1 (1) | type (1) | request id (u32)
 *            | body length (u32)                      all big-endian
 *   body     attribute*:  type (u16) | length (u16) | value
 *
 * The TCP socket of an ACCEPT or CONNECT request travels with the request
 * as SCM_RIGHTS (exactly one fd). Replies carry the request id they
 * answer. Unknown attribute types are ignored (a newer peer may send
 * more); a known attribute twice, a length that does not fit its type, a
 * string with a NUL byte or a body that does not end on an attribute
 * boundary make the message malformed. Every parse goes through
 * tls_reader (lib/tls/wire.h).
 *
 * Requests (application -> daemon):
 *   ACCEPT        server role on the attached socket. Optional: ALPN (the
 *                 application's own protocols, to narrow the daemon's),
 *                 TIMEOUT_MS.
 *   CONNECT       client role on the attached socket: SERVER_NAME
 *                 (required unless VERIFY says no name check), ALPN, PORT
 *                 (for the ticket cache key), VERIFY, EARLY_DATA (to send as
 *                 0-RTT when a cached ticket allows), TIMEOUT_MS.
 *   STORE_TICKET  client role: a NewSessionTicket that arrived after the
 *                 hand-back (TICKET: the tls_post_ticket_recv session blob),
 *                 SERVER_NAME, PORT, ALPN: into the daemon's ticket cache.
 *
 * Replies (daemon -> application):
 *   DONE          the socket has kTLS installed (TX always; RX unless
 *                 KTLS says otherwise: the 0-RTT early hand-back, sent
 *                 before the client's Finished with TX only and no POST,
 *                 RX follows with CONFIRMED):
 *                 POST (the tls_post blob: suite, traffic secrets and
 *                 sequence numbers, for KeyUpdate), CIPHER, GROUP,
 *                 SIG_SCHEME, SERVER_NAME, ALPN, RESUMED, HRR, EARLY_STATE,
 *                 EARLY_DATA (server: the client's 0-RTT bytes, unconfirmed
 *                 while EARLY_STATE is ACCEPTED), PEER_ID, KTLS.
 *   CONFIRMED     0-RTT only: the client's Finished verified, RX installed;
 *                 POST again (RX secrets; its TX sequence counts only the
 *                 daemon's records), KTLS, NST (NewSessionTicket messages
 *                 the library sends through kTLS: the daemon no longer
 *                 writes to the socket once the application holds it),
 *                 EARLY_DATA (0-RTT bytes read after the early DONE). A
 *                 failure after the early DONE is FAILED with ALERT 0: no
 *                 alert goes to the peer, the application closes.
 *   FAILED        REASON, ALERT (the alert sent to the peer, or 0), TEXT.
 *   BUSY          over the daemon's in-flight limit; nothing was done.
 */
#ifndef HANDOFF_H
#define HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tls/wire.h"

#define HANDOFF_MAGIC0 'H'
#define HANDOFF_MAGIC1 'O'
#define HANDOFF_VERSION 1
#define HANDOFF_HEADER_LEN 12
/* One datagram: room for 16 KiB of early data and a post blob. */
#define HANDOFF_MAX_MSG 65536
#define HANDOFF_MAX_STR 255

enum handoff_type {
	HANDOFF_ACCEPT = 1,
	HANDOFF_CONNECT = 2,
	HANDOFF_STORE_TICKET = 3,
	HANDOFF_DONE = 0x81,
	HANDOFF_CONFIRMED = 0x82,
	HANDOFF_FAILED = 0x83,
	HANDOFF_BUSY = 0x84,
};

enum handoff_attr {
	HANDOFF_A_SERVER_NAME = 1,  /* string */
	HANDOFF_A_ALPN = 2,         /* string: offer "h2,http/1.1" or the one chosen */
	HANDOFF_A_EARLY_DATA = 3,   /* bytes */
	HANDOFF_A_POST = 4,         /* bytes: tls_post_encode */
	HANDOFF_A_RESUMED = 5,      /* u8 0/1 */
	HANDOFF_A_EARLY_STATE = 6,  /* u8 enum handoff_early */
	HANDOFF_A_CIPHER = 7,       /* u16 */
	HANDOFF_A_GROUP = 8,        /* u16 */
	HANDOFF_A_SIG_SCHEME = 9,   /* u16 */
	HANDOFF_A_REASON = 10,      /* u32 enum handoff_reason */
	HANDOFF_A_ALERT = 11,       /* u8 */
	HANDOFF_A_TEXT = 12,        /* string */
	HANDOFF_A_VERIFY = 13,      /* u8 HANDOFF_VERIFY_* bits */
	HANDOFF_A_TICKET = 14,      /* bytes: a session blob */
	HANDOFF_A_PEER_ID = 15,     /* 32 bytes: SHA-256 of the peer's certificate */
	HANDOFF_A_HRR = 16,         /* u8 0/1 */
	HANDOFF_A_TIMEOUT_MS = 17,  /* u32 */
	HANDOFF_A_PORT = 18,        /* u16 */
	HANDOFF_A_NST = 19,         /* bytes: NewSessionTicket messages */
	HANDOFF_A_KTLS = 20,        /* u8 HANDOFF_KTLS_* bits */
	HANDOFF_A_MAX = 20,
};

enum handoff_early { HANDOFF_EARLY_NONE = 0, HANDOFF_EARLY_ACCEPTED = 1, HANDOFF_EARLY_REJECTED = 2 };

#define HANDOFF_VERIFY_PEER 1u      /* client: verify the server's chain */
#define HANDOFF_VERIFY_NAME 2u      /* client: and its name */
#define HANDOFF_KTLS_TX 1u
#define HANDOFF_KTLS_RX 2u

/* Why a request failed (REASON); the TEXT says more. */
enum handoff_reason {
	HANDOFF_R_OK = 0,
	HANDOFF_R_MALFORMED = 1,    /* the request itself */
	HANDOFF_R_BAD_SOCKET = 2,   /* not a connected TCP socket, or it has a ULP */
	HANDOFF_R_DENIED = 3,       /* peer credentials not allowed */
	HANDOFF_R_TLS = 4,          /* the handshake failed: ALERT says how */
	HANDOFF_R_PEER_CLOSED = 5,  /* the peer closed or reset the connection */
	HANDOFF_R_TIMEOUT = 6,      /* the handshake deadline passed */
	HANDOFF_R_KTLS = 7,         /* the kernel refused the keys */
	HANDOFF_R_INTERNAL = 8,
	HANDOFF_R_SHUTDOWN = 9,     /* the daemon is stopping */
};
const char *handoff_reason_name(enum handoff_reason r);

/* A parsed message: attribute values point into the datagram. */
struct handoff_msg {
	uint8_t type;
	uint32_t id;
	uint32_t present;           /* bit (1 << attr) for each attribute seen */
	tls_reader attr[HANDOFF_A_MAX + 1];
};

/* Splits a datagram into *m. 0, or -1 with *why naming the problem. Does
 * not check which attributes a type requires: see handoff_get_*. */
int handoff_parse(const uint8_t *p, size_t len, struct handoff_msg *m, const char **why);

static inline bool handoff_has(const struct handoff_msg *m, enum handoff_attr a)
{
	return (m->present >> a) & 1;
}
/* Typed reads of one attribute: 0, or -1 when absent or of the wrong
 * length. Strings are copied NUL-terminated into buf (at most
 * HANDOFF_MAX_STR + 1 bytes). */
int handoff_get_u8(const struct handoff_msg *m, enum handoff_attr a, uint8_t *v);
int handoff_get_u16(const struct handoff_msg *m, enum handoff_attr a, uint16_t *v);
int handoff_get_u32(const struct handoff_msg *m, enum handoff_attr a, uint32_t *v);
int handoff_get_str(const struct handoff_msg *m, enum handoff_attr a, char *buf, size_t buflen);
/* The bytes of attribute a (NULL and 0 when absent). */
const uint8_t *handoff_get_bytes(const struct handoff_msg *m, enum handoff_attr a, size_t *len);

/* Building: begin writes the header, the put calls append attributes, end
 * patches the body length. b->err on any failure (a value too long, the
 * message over HANDOFF_MAX_MSG). */
void handoff_begin(tls_buf *b, enum handoff_type type, uint32_t id);
void handoff_put_u8(tls_buf *b, enum handoff_attr a, uint8_t v);
void handoff_put_u16(tls_buf *b, enum handoff_attr a, uint16_t v);
void handoff_put_u32(tls_buf *b, enum handoff_attr a, uint32_t v);
void handoff_put_str(tls_buf *b, enum handoff_attr a, const char *s);
void handoff_put_bytes(tls_buf *b, enum handoff_attr a, const uint8_t *p, size_t len);
int handoff_end(tls_buf *b);

/* Sends one message with an optional fd (SCM_RIGHTS; -1 for none) on a
 * SOCK_SEQPACKET socket; 0 or -1 with errno. */
int handoff_send(int sock, const tls_buf *msg, int fd);
/* Receives one message into buf (HANDOFF_MAX_MSG bytes) and at most one
 * fd (*fd = -1 when none; extra fds are closed, a truncated message is
 * an error). Returns the length, 0 at end of stream, -1 with errno. */
ssize_t handoff_recv(int sock, uint8_t *buf, size_t cap, int *fd);

#endif
