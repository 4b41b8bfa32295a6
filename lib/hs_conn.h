/* libhandshake internals shared by lib/handshake.c (the daemon side) and
 * lib/hs_recv.c (the socket after the hand-back). */
#ifndef HS_CONN_H
#define HS_CONN_H

#include <stdarg.h>

#include "handshake.h"
#include "tls/tls.h"

#define HS_REC_CAP 16384           /* one TLS 1.3 record's plaintext */
#define HS_MAX_HS_MSG 65536        /* a post-handshake message we accept */

struct hs_conn {
	int fd;                    /* the TCP socket (the caller's) */
	int daemon;                /* handoff socket while a CONFIRMED is due, else -1 */
	uint32_t req_id;
	enum tls_role role;
	tls_post *post;            /* suite, traffic secrets: KeyUpdate, tickets */
	const tls_cipher *cs;
	struct hs_info info;
	struct hs_error err;
	char sni[256], alpn[256];
	/* client: where STORE_TICKET goes and the ticket cache key */
	char socket_path[108], offer_alpn[256];
	uint16_t port;
	int timeout_ms;
	uint8_t *early;            /* server: 0-RTT bytes not yet returned */
	size_t early_len, early_off;
	bool tx_done;              /* close_notify or a fatal alert went out */
	bool rx_done;              /* the stream ended (0 from now on) */
	bool failed;               /* a fatal error: -1 from now on */
	int failed_errno;
	tls_buf ctl;               /* the control record being read (MSG_EOR) */
	tls_buf hs;                /* handshake message bytes across records */
};

/* Sets c->err (and errno = e) and returns -1. */
int hs_fail(struct hs_error *err, enum hs_reason r, int e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Fatal for the connection: remembers it so later calls fail the same way. */
int hs_conn_fail(hs_conn *c, enum hs_reason r, int e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A fatal alert through kTLS (once), then hs_conn_fail(HS_R_ALERT_SENT). */
int hs_conn_alert(hs_conn *c, int alert, int e, const char *why);
/* Client: a session blob to the daemon's ticket cache (best effort). */
void hs_store_ticket(hs_conn *c, const uint8_t *blob, size_t len);

#endif
