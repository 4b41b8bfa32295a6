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
	struct hs_async *async;    /* or the context it comes through (hs_async.c) */
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
	bool owe_key_update;       /* the peer asked for our KeyUpdate; the socket had no room yet */
	bool rx_done;              /* the stream ended (0 from now on) */
	bool failed;               /* a fatal error: -1 from now on */
	int failed_errno;
	tls_buf ctl;               /* the control record being read (MSG_EOR) */
	tls_buf hs;                /* handshake message bytes across records */
	uint64_t rekey_records;    /* hs_set_rekey_records; 0: the suite's threshold */
	int64_t rekey_check_ms;    /* hs_recv's next TX sequence check (coarse clock) */
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

/* Shared by the blocking calls (handshake.c) and hs_async.c. */
struct handoff_msg;
const char *hs_socket_path(const struct hs_opts *o);
/* A SOCK_SEQPACKET connection to the daemon, or -1 with *err. */
int hs_daemon_connect(const char *path, struct hs_error *err);
int64_t hs_now_ms(void);           /* CLOCK_MONOTONIC */
/* The hs_conn for a request and the request (id) built into req, or NULL
 * with *err: nothing is sent. */
hs_conn *hs_accept_request(int fd, const struct hs_opts *opts, uint32_t id, tls_buf *req,
			   struct hs_error *err);
hs_conn *hs_connect_request(int fd, const char *server_name, const struct hs_opts *opts, uint32_t id,
			    tls_buf *req, struct hs_error *err);
/* The first reply (DONE fills c; FAILED, BUSY, ... -> *err): 0 or -1. */
int hs_conn_take_reply(hs_conn *c, const struct handoff_msg *m, struct hs_error *err);
/* The reply after an early DONE: 0, or -1 with c failed (c->err). */
int hs_conn_take_confirmed(hs_conn *c, const struct handoff_msg *m);
/* hs_async.c: hs_confirm (wait) and hs_recv (wait unless MSG_DONTWAIT)
 * on a connection whose CONFIRMED comes through a context. */
int hs_async_confirm(hs_conn *c, bool wait);
/* hs_free: the context forgets c (its CONFIRMED will be dropped). */
void hs_async_detach(hs_conn *c);

/* TX re-key (hs_rekey.c). What to do with a TX key that protected seq
 * records under threshold `records` (0: the suite's), pure for tests. */
enum hs_rekey_action {
	HS_REKEY_NOT_DUE = 0,
	HS_REKEY_DUE,              /* send a KeyUpdate */
	HS_REKEY_END,              /* due, and the kernel cannot re-key */
};
uint64_t hs_rekey_threshold(uint16_t cipher, uint64_t records);
enum hs_rekey_action hs_rekey_decide(uint16_t cipher, uint64_t records, uint64_t seq, bool kernel_rekeys);
/* hs_recv's check: hs_rekey_if_needed at most every HS_REKEY_CHECK_MS;
 * -1 only when it ended the connection. */
int hs_rekey_auto(hs_conn *c);
/* The first check of a new connection: HS_REKEY_CHECK_MS from now. */
void hs_rekey_auto_start(hs_conn *c);

#endif
