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

#ifdef __cplusplus
}
#endif

#endif
