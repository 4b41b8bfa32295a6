/* libhandshake: TLS 1.3 on kernel TLS, with the handshake done by handshaked.
 *
 * An application accepts (or connects) a TCP socket as usual and hands it
 * to the daemon with hs_server_accept() (or hs_client_connect()). The
 * daemon runs the handshake, installs the traffic keys in the kernel
 * (kTLS) and gives the socket back: from then on send(), sendfile() and
 * splice() on the same fd are encrypted by the kernel. Reading goes
 * through hs_recv(), which also handles what is not application data:
 * KeyUpdate (the kernel's RX key is re-keyed, and ours too when asked),
 * NewSessionTicket (client) and alerts.
 *
 * The daemon's private keys and session ticket keys never reach the
 * application; an hs_conn holds only the current application traffic
 * secrets (what a KeyUpdate needs), wiped by hs_free().
 *
 * Every call is blocking unless said otherwise. There is no global state:
 * separate hs_conn may be used from separate threads; one hs_conn is used
 * by one thread at a time. The library does not install signal handlers;
 * it sends with MSG_NOSIGNAL.
 *
 * Errors: calls return -1 (or NULL) with errno set; struct hs_error (from
 * the call or hs_last_error) says why in more detail.
 */
#ifndef HANDSHAKE_H
#define HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What libhandshake.so exports besides <handshake/tls.h>'s TLS_API. */
#if defined(__GNUC__)
#define HS_API __attribute__((visibility("default")))
#else
#define HS_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Where the daemon listens unless opts or HANDSHAKED_SOCKET say else. */
#define HS_DEFAULT_SOCKET "/run/handshaked/handoff.sock"
/* How long a blocking call waits for the daemon when opts give no timeout
 * (the daemon's own handshake deadline is 10 s by default). */
#define HS_DEFAULT_TIMEOUT_MS 15000

typedef struct hs_conn hs_conn;

/* Options of hs_server_accept / hs_client_connect; all may be 0/NULL, and
 * a NULL opts means all defaults. */
struct hs_opts {
	const char *socket_path;   /* the daemon's handoff socket; NULL: env
				    * HANDSHAKED_SOCKET, else HS_DEFAULT_SOCKET */
	int timeout_ms;            /* how long to wait for the handshake; <= 0:
				    * HS_DEFAULT_TIMEOUT_MS. Also sent to the
				    * daemon as the handshake's deadline. */
	const char *alpn;          /* "h2,http/1.1": server: narrows the daemon's
				    * list; client: what to offer */
	/* client only */
	uint16_t port;             /* for the daemon's ticket cache key; 0: the
				    * socket's peer port */
	bool no_verify;            /* do not verify the server's certificate */
	bool no_verify_name;       /* verify the chain but not the name */
	const void *early_data;    /* sent as 0-RTT when a cached ticket allows */
	size_t early_len;
};

/* Why something failed. The values below 100 are the daemon's (the
 * handoff protocol's reason codes); the others are the library's. */
enum hs_reason {
	HS_R_OK = 0,
	HS_R_MALFORMED = 1,        /* the daemon found our request malformed */
	HS_R_BAD_SOCKET = 2,       /* not a connected TCP socket, or it has a ULP */
	HS_R_DENIED = 3,           /* our uid/gid may not use the daemon */
	HS_R_TLS = 4,              /* the handshake failed: alert says how */
	HS_R_PEER_CLOSED = 5,      /* the peer closed or reset the connection */
	HS_R_TIMEOUT = 6,          /* the handshake deadline passed */
	HS_R_KTLS = 7,             /* the kernel refused the keys */
	HS_R_INTERNAL = 8,         /* the daemon's own failure */
	HS_R_SHUTDOWN = 9,         /* the daemon is stopping */
	HS_R_UNREACHABLE = 100,    /* cannot connect to the daemon's socket */
	HS_R_DAEMON_GONE = 101,    /* the daemon closed or died before replying */
	HS_R_BUSY = 102,           /* the daemon is over its in-flight limit: retry later */
	HS_R_PROTOCOL = 103,       /* the daemon's reply makes no sense */
	HS_R_REKEY_UNSUPPORTED = 104, /* a KeyUpdate needs Linux >= 6.14 */
	HS_R_ALERT_RECEIVED = 105, /* the peer sent a fatal alert (alert) */
	HS_R_ALERT_SENT = 106,     /* we ended the connection with alert */
	HS_R_SYSTEM = 107,         /* a system call failed (sys_errno) */
	HS_R_INVALID = 108,        /* bad argument */
};

struct hs_error {
	enum hs_reason reason;
	int alert;                 /* TLS alert sent or received, 0 if none */
	int sys_errno;             /* the errno behind it, 0 if none */
	char text[256];            /* one line for a log */
};

enum hs_early {
	HS_EARLY_NONE = 0,         /* no 0-RTT offered (or client: none sent) */
	HS_EARLY_ACCEPTED = 1,     /* 0-RTT accepted; until hs_confirm() returns,
				    * the early bytes are replayable */
	HS_EARLY_REJECTED = 2,     /* offered and refused (client: resend it) */
};

/* Who encrypts a direction's records, from the kernel's sock_diag
 * (TLS_INFO_TXCONF / TLS_INFO_RXCONF). */
enum hs_offload {
	HS_OFFLOAD_UNKNOWN = 0,    /* not asked yet (hs_info_refresh), or the
				    * kernel would not say (< 6.15 without
				    * CAP_NET_ADMIN) */
	HS_OFFLOAD_NONE = 1,       /* no key installed: plaintext */
	HS_OFFLOAD_SOFTWARE = 2,   /* the kernel's crypto (kTLS sw) */
	HS_OFFLOAD_HARDWARE = 3,   /* the NIC encrypts/decrypts (tls_device) */
	HS_OFFLOAD_HARDWARE_RECORD = 4, /* the NIC handles whole records */
};

/* What was negotiated. Strings are "" when absent; valid as long as the
 * hs_conn. */
struct hs_info {
	uint16_t cipher;           /* TLS_AES_128_GCM_SHA256 = 0x1301, ... */
	const char *cipher_name;   /* "TLS_AES_128_GCM_SHA256" */
	uint16_t group;            /* 0x001d x25519, ...; 0 for psk_ke */
	uint16_t sig_scheme;       /* the server's CertificateVerify scheme, 0 when resumed */
	const char *server_name;   /* SNI */
	const char *alpn;          /* the protocol chosen */
	bool resumed;
	bool hrr;                  /* a HelloRetryRequest happened */
	enum hs_early early;
	bool confirmed;            /* the handshake is complete (see hs_confirm) */
	bool peer_id;              /* the peer presented a certificate: */
	uint8_t peer_sha256[32];   /* SHA-256 of its leaf (DER) */
	bool ktls_tx, ktls_rx;     /* installed in the kernel (rx: once confirmed) */
	unsigned key_updates_tx;   /* KeyUpdates so far, each direction */
	unsigned key_updates_rx;
	bool close_notify;         /* the peer sent close_notify */
	/* per direction, as of the last hs_info_refresh() (hs_info() itself
	 * makes no system call) */
	enum hs_offload offload_tx, offload_rx;
};

/* Server role: hands the connected TCP socket fd to the daemon, which runs
 * the server handshake with its certificates and installs kTLS on it. On
 * success *out is the connection (fd is still the caller's: same fd, now
 * with kTLS) and 0 is returned. On failure -1, errno set and *err (may be
 * NULL) filled; the daemon has already sent the peer its alert, and the
 * caller closes fd. The call waits at most opts->timeout_ms; if the daemon
 * dies meanwhile it returns at once (HS_R_DAEMON_GONE). BUSY from the
 * daemon is HS_R_BUSY (errno EAGAIN): nothing was done to fd.
 *
 * With 0-RTT accepted the call returns before the client's Finished, as
 * soon as the daemon sent its flight and read the early data
 * (info.early == HS_EARLY_ACCEPTED, info.confirmed false, kTLS TX only):
 * hs_recv() returns those bytes first; they are replayable until
 * hs_confirm() succeeds. TX is ready at once (0.5-RTT answers may go out;
 * from here on only the application writes to fd). RX, the session state
 * for hs_key_update and the NewSessionTickets come with hs_confirm(). */
HS_API int hs_server_accept(int fd, const struct hs_opts *opts, hs_conn **out, struct hs_error *err);

/* Client role: the daemon runs the client handshake on the connected TCP
 * socket fd for server_name (SNI and, unless opts->no_verify or
 * no_verify_name, the name checked against the certificate, with the
 * daemon's [client] ca_file or the system store), resuming from its
 * ticket cache when it can (then opts->early_data may go as 0-RTT). When
 * hs_info()->early is not HS_EARLY_ACCEPTED (rejected, or none: no ticket
 * allowed it) the early data was NOT delivered: send it again with
 * send(2). TX and RX are installed on return. The server's later tickets
 * go back to the daemon's cache from hs_recv(). Otherwise as
 * hs_server_accept. */
HS_API int hs_client_connect(int fd, const char *server_name, const struct hs_opts *opts, hs_conn **out,
			     struct hs_error *err);

/* Reads application data, like recv(2) on the socket: returns the number of
 * bytes placed in buf (len > 0), 0 at the end of the stream, -1 with errno.
 * Records that are not application data are handled on the way:
 *  - KeyUpdate: the next RX key is installed in the kernel; if the peer
 *    asked, our KeyUpdate goes out and the TX key moves on too. On a kernel
 *    without TLS 1.3 re-key (< 6.14) the connection ends with an
 *    internal_error alert: -1, errno EOPNOTSUPP, HS_R_REKEY_UNSUPPORTED.
 *  - NewSessionTicket (client): becomes a session for the daemon's ticket
 *    cache (best effort: a failure to reach the daemon loses the ticket).
 *  - our TX key at its re-key threshold (checked at most every
 *    HS_REKEY_CHECK_MS): hs_rekey_if_needed's KeyUpdate, or its end.
 *  - close_notify: 0 (hs_info()->close_notify set). A TCP end without it
 *    is also 0, with hs_last_error() HS_R_PEER_CLOSED (truncation).
 *  - other alerts: -1, errno EPROTO, hs_last_error()->alert names it.
 *  - a malformed message: we send the alert, -1 with errno EPROTO.
 * flags: MSG_DONTWAIT and MSG_WAITALL (others: EINVAL). A non-blocking
 * read returns -1/EAGAIN only when no record at all is waiting: a control
 * record is always followed by a read of what is behind it, because the
 * kernel does not signal POLLIN for records queued behind a KeyUpdate.
 * Server with 0-RTT accepted: the early bytes come first; then, since RX
 * has no key before the client's Finished, the call confirms implicitly
 * (hs_confirm: waits for the daemon, MSG_DONTWAIT: EAGAIN meanwhile)
 * before it reads the socket; a failed confirmation fails the call (the
 * early bytes must be thrown away, the connection closed). */
HS_API ssize_t hs_recv(hs_conn *c, void *buf, size_t len, int flags);

/* Sends our KeyUpdate (update_requested when request_peer) through the
 * kernel and installs our next TX key. 0, or -1: on a kernel without TLS
 * 1.3 re-key nothing is sent (errno EOPNOTSUPP, HS_R_REKEY_UNSUPPORTED)
 * and the connection stays usable; other failures leave it unusable. Data
 * queued with MSG_MORE (or an unfinished sendfile) is pushed first. */
HS_API int hs_key_update(hs_conn *c, bool request_peer);

/* True when the peer asked for our KeyUpdate (update_requested) while the
 * socket's send buffer was full (a non-blocking socket): the answer is
 * owed, and RFC 8446 §4.6.3 puts it before our next data record. hs_recv()
 * then returns -1 with EAGAIN until it goes out; while this is true, do
 * not send(): wait until the socket is writable and call hs_recv() (or
 * hs_key_update(c, false), or hs_rekey_if_needed()), which send it first. */
HS_API bool hs_tx_pending(const hs_conn *c);

/* TX re-key before the AEAD limit (RFC 8446 §5.5). The application writes
 * on the socket itself, so the library reads the kernel's TX record
 * sequence (getsockopt(SOL_TLS, TLS_TX)) and sends hs_key_update(c, false)
 * once the current key has protected the threshold's number of records:
 * AES-GCM 2^23 (limit 2^24.5), AES-CCM 2^22 (limit 2^23.5), ChaCha20-
 * Poly1305 2^62 (no practical limit; the sequence must never wrap).
 * Call it periodically or after large writes (one getsockopt when not
 * due). hs_recv() calls it too, at most every HS_REKEY_CHECK_MS (a vDSO
 * clock read otherwise), the first time that long after the connection
 * was made or its threshold set. Returns 1 if it re-keyed, 0 if not due (or
 * nothing is sent any more: after close_notify, or before hs_confirm),
 * -1 on failure: EAGAIN (non-blocking socket full: nothing changed, call
 * again) or the failures of hs_key_update. On a kernel without TLS 1.3
 * re-key (< 6.14) reaching the threshold ends the connection: an
 * internal_error alert, then shutdown(SHUT_WR), so that nothing the
 * application still sends reaches the peer under the worn key (kTLS may
 * report such a send() as done: TCP drops it after the FIN), -1 errno
 * EOPNOTSUPP, HS_R_REKEY_UNSUPPORTED; close the connection. */
#define HS_REKEY_CHECK_MS 50
HS_API int hs_rekey_if_needed(hs_conn *c);
/* Lowers the threshold to n records (tests, or a stricter policy); 0
 * restores the suite's. A value above the suite's is capped to it. The
 * next hs_recv() checks against it. */
HS_API void hs_set_rekey_records(hs_conn *c, uint64_t n);
/* Reads the offload state of both directions from the kernel over
 * sock_diag (NETLINK_SOCK_DIAG, this socket by SO_COOKIE and 4-tuple)
 * into hs_info()->offload_tx/rx. 0, or -1 (both HS_OFFLOAD_UNKNOWN,
 * hs_last_error says why; the connection is not affected). */
HS_API int hs_info_refresh(hs_conn *c);

/* 0-RTT: waits until the daemon reports the handshake complete (the
 * client's Finished verified, RX installed), sends the NewSessionTickets
 * it passed along through kTLS (the daemon no longer writes to the socket),
 * and returns 0: the early data is no longer replayable (0-RTT bytes that
 * came after the hand-back are then returned by hs_recv, confirmed).
 * 0 at once when nothing was early. -1 on failure (the handshake did not
 * complete: the early data must be thrown away, the connection closed). */
HS_API int hs_confirm(hs_conn *c);

/* Sends close_notify (once); nothing may be sent afterwards. 0 or -1. */
HS_API int hs_shutdown(hs_conn *c);

/* The negotiated parameters (never NULL for a valid c). */
HS_API const struct hs_info *hs_info(const hs_conn *c);
/* Why the last call on c failed, or how the stream ended. */
HS_API const struct hs_error *hs_last_error(const hs_conn *c);
/* The TCP socket (the one passed in). */
HS_API int hs_fd(const hs_conn *c);
/* Short static name of a reason ("daemon gone"). */
HS_API const char *hs_reason_name(enum hs_reason r);
/* Wipes the secrets and frees c. Does not close the socket. NULL is fine. */
HS_API void hs_free(hs_conn *c);

/* ---- Async: many handshakes from one event loop ----
 *
 * A context is one connection to the daemon carrying any number of
 * requests; each result comes back as an event with the cookie given at
 * submission (cookies are the caller's: an index, a pointer; the library
 * does not look at them). Nothing blocks except hs_confirm and a blocking
 * hs_recv on a connection still waiting for its confirmation. With epoll:
 *
 *   hs_async *a = hs_async_new(&opts, &err);
 *   add hs_async_fd(a) for EPOLLIN (level-triggered)
 *   on accept(2):        hs_async_accept(a, fd, NULL, cookie, &err);
 *   on hs_async_fd(a):   while (hs_async_next(a, &ev) == 0) handle ev;
 *
 * Events, by ev.kind:
 *   HS_ASYNC_DONE       the handshake is done; ev.conn is the connection,
 *                       from now on the caller's (hs_free). Server with
 *                       0-RTT accepted: hs_info(ev.conn)->confirmed is
 *                       false, TX is installed and the early bytes wait in
 *                       hs_recv (replayable: see hs_server_accept); a
 *                       CONFIRMED or FAILED event with the same cookie and
 *                       conn follows.
 *   HS_ASYNC_CONFIRMED  0-RTT: the client's Finished was verified; the
 *                       library has done what hs_confirm does (RX in the
 *                       kernel, the daemon's NewSessionTickets sent).
 *                       Also delivered when hs_confirm/hs_recv saw it first.
 *   HS_ASYNC_FAILED     ev.err says why. Before DONE ev.conn is NULL and
 *                       fd is the caller's to close (HS_R_BUSY: nothing was
 *                       done to it, it may be submitted again later). After
 *                       an early DONE ev.conn is that connection, now failed:
 *                       throw its early bytes away, hs_free it, close fd.
 * A submission that returned 0 gets exactly one DONE or FAILED, and an
 * unconfirmed DONE exactly one CONFIRMED or FAILED, unless the caller frees
 * the conn or the context first. Events come in the order the replies do.
 *
 * Deadlines: each request has opts->timeout_ms (HS_DEFAULT_TIMEOUT_MS)
 * from its submission, and a CONFIRMED as long again from its DONE; past
 * it the event is FAILED with HS_R_TIMEOUT and a late reply is dropped.
 * hs_async_fd becomes readable for expiries by itself (an internal
 * timer), so hs_async_timeout_ms is only for callers that prefer their
 * own timeout.
 *
 * The daemon dying or closing: the fd becomes readable and hs_async_next
 * returns FAILED with HS_R_DAEMON_GONE for every request at once (those
 * waiting for CONFIRMED too). The next submission connects again.
 *
 * Limits: the daemon's per-application cap (max_per_app, 256 by default)
 * counts the requests of one context (one handoff connection), 0-RTT ones
 * until their CONFIRMED; over it, or over the daemon's total, a request
 * fails with HS_R_BUSY. The daemon never blocks on a slow application:
 * a reply that finds the socket full is lost (and its request ends with
 * HS_R_TIMEOUT), so call hs_async_next until EAGAIN whenever the fd is
 * readable: each call reads everything waiting. When the daemon's socket
 * is full, requests wait in the library (in order; the fd wakes the caller
 * every few ms to send them); their fd must stay open until their event.
 *
 * 0-RTT and the TCP socket: until CONFIRMED the daemon still reads fd, so
 * do not wait for fd to be readable: hs_recv(MSG_DONTWAIT) returns the
 * early bytes, then -1/EAGAIN until the CONFIRMED event; a blocking hs_recv
 * or hs_confirm waits for it (other requests' events stay queued for
 * hs_async_next). hs_free before CONFIRMED: the context forgets the conn
 * (no later event names it; its CONFIRMED is dropped, the tickets it
 * carries are not sent); the daemon goes on with the handshake until the
 * client's Finished or its deadline and counts it against the cap.
 *
 * Threads: a context and the connections it delivered (until their last
 * event) are used by one thread at a time. */
typedef struct hs_async hs_async;

enum hs_async_kind {
	HS_ASYNC_DONE = 1,
	HS_ASYNC_CONFIRMED = 2,
	HS_ASYNC_FAILED = 3,
};

struct hs_async_event {
	uint64_t cookie;           /* as given to hs_async_accept/connect */
	enum hs_async_kind kind;
	hs_conn *conn;             /* DONE, CONFIRMED, FAILED after DONE; else NULL */
	struct hs_error err;       /* FAILED: why (zero otherwise) */
};

/* A context connected to the daemon (opts: socket_path only; NULL for the
 * default). NULL with errno and *err (HS_R_UNREACHABLE, ...) on failure. */
HS_API hs_async *hs_async_new(const struct hs_opts *opts, struct hs_error *err);
/* Poll it for reading (POLLIN/EPOLLIN): hs_async_next has work. The fd
 * stays the same for the context's life, also across reconnections. */
HS_API int hs_async_fd(const hs_async *a);
/* Submits the server role (as hs_server_accept; opts->socket_path is the
 * context's) and returns 0 at once; the outcome is an event with cookie.
 * -1 with errno and *err when nothing was submitted (bad argument, the
 * daemon unreachable on reconnection): no event follows. */
HS_API int hs_async_accept(hs_async *a, int fd, const struct hs_opts *opts, uint64_t cookie,
			   struct hs_error *err);
/* The client role (as hs_client_connect), otherwise as hs_async_accept. */
HS_API int hs_async_connect(hs_async *a, int fd, const char *server_name, const struct hs_opts *opts,
			    uint64_t cookie, struct hs_error *err);
/* Never blocks: 0 with the next event in *ev, or -1 with errno EAGAIN when
 * there is none yet (EINVAL for bad arguments). */
HS_API int hs_async_next(hs_async *a, struct hs_async_event *ev);
/* Milliseconds until hs_async_next has work without a reply (a deadline,
 * a queued event or request): 0 now, -1 never (nothing outstanding).
 * For epoll_wait's timeout. */
HS_API int hs_async_timeout_ms(const hs_async *a);
/* Requests still waiting for the daemon: submitted and not yet answered,
 * or DONE and not yet confirmed. */
HS_API size_t hs_async_pending(const hs_async *a);
/* Closes the connection: the daemon aborts the handshakes in flight (their
 * fds stay the caller's, to close); connections in undelivered events are
 * freed; delivered ones still waiting for CONFIRMED fail (ECANCELED) and
 * stay the caller's to hs_free. NULL is fine. */
HS_API void hs_async_free(hs_async *a);

#ifdef __cplusplus
}
#endif

#endif
