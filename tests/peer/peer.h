/* peer: the TLS 1.3 engine over a real TCP socket, with application records
 * protected in userspace (tls_conn_send/recv), so the engine can be tested
 * against openssl s_client/s_server, gnutls-cli/serv and others on any host,
 * kTLS or not; with --ktls the connection moves to kernel TLS after the
 * handshake (ktls_io.c). See main.c for the command line.
 */
#ifndef PEER_PEER_H
#define PEER_PEER_H

#include <stdbool.h>
#include <stddef.h>

#include "handshake.h"
#include "tls/tls.h"

#define PEER_MAX_CERTS 8

struct peer_opts {
	const char *addr;          /* listen (server) or connect (client): HOST:PORT */
	const char *cert[PEER_MAX_CERTS], *key[PEER_MAX_CERTS];
	size_t n_cert, n_key;
	const char *alpn, *ca, *servername, *ciphers, *groups, *keylog;
	enum tls_client_auth client_auth;
	bool echo;                 /* server: echo instead of HTTP */
	bool keyupdate;            /* client: KeyUpdate(update_requested) after the handshake */
	bool ktls;                 /* continue on kernel TLS after the handshake */
	bool glue;                 /* client: first stdin chunk in the Finished's write */
	const char *file;          /* server: HTTP body from this file */
	int tickets;               /* server: tickets per handshake, -1: default */
	unsigned long early_data;  /* server: max 0-RTT bytes (0: off) */
	const char *ticket_keys;   /* server: STEK file */
	const char *sess_in, *sess_out, *early; /* client: resumption files */
	const char *psk;           /* IDENTITY:HEXKEY, an external PSK (both roles) */
	unsigned long record_limit; /* RFC 8449 record_size_limit to offer (0: none) */
	const char *ocsp;          /* server: DER OCSP response stapled to the last --cert */
	const char *handoff;       /* handshakes by handshaked on this socket */
};

int peer_server(const struct peer_opts *o, const tls_config *cfg);
int peer_client(const struct peer_opts *o, const tls_config *cfg);
/* peer rekey-server ... (rekey.c): libhandshake's TX re-key and hs_info_refresh. */
int peer_rekey_server(int argc, char **argv);
/* peer async-server ... (async.c): N connections through one hs_async context. */
int peer_async_server(int argc, char **argv);
/* peer txpend-server / txpend-client (txpend.c): the owed KeyUpdate, hs_tx_pending. */
int peer_txpend_server(int argc, char **argv);
int peer_txpend_client(int argc, char **argv);

/* ---- io.c: blocking records over one socket ---- */

struct addrinfo;
/* "HOST:PORT" or "[V6]:PORT" -> getaddrinfo list (free with freeaddrinfo);
 * 0 or -1 with a message on stderr. */
int peer_resolve(const char *addr, bool passive, struct addrinfo **res);

/* Results besides the engine's (0, TLS_CLOSED, TLS_ERR_*): */
#define PEER_EOF 3                 /* TCP EOF without close_notify */
#define PEER_IO_ERR (-1)           /* read/write failed, errno says why */

struct peer_io {
	int fd;
	tls_conn *c;
	tls_buf in;                /* bytes read from fd, not yet consumed */
	tls_buf out;               /* records to write */
	int epoch[2];              /* current epoch per tls_dir */
	int deferred;              /* end seen behind data not yet returned */
	int io_errno;
	tls_buf *early;            /* server: 0-RTT data is appended here */
	const char *sess_out;      /* client: save each session here */
	const void *glue;          /* application data to append to the last */
	size_t glue_len;           /* handshake flight, in the same write */
	unsigned long records_in;  /* records read after the handshake */
};

void io_init(struct peer_io *io, int fd, tls_conn *c);
void io_free(struct peer_io *io);
/* Runs the handshake to completion: 0 or an error. Reads whole records
 * only (header, then exactly the body), so nothing behind the record that
 * completes the handshake leaves the socket. */
int io_handshake(struct peer_io *io);
/* Appends at least one byte of application data to plain (0), or returns
 * TLS_CLOSED, PEER_EOF or an error. */
int io_recv(struct peer_io *io, tls_buf *plain);
/* Non-blocking variant for a poll loop: handles buffered records and, if
 * they held no application data and may_read, one read(2). 0 even when
 * nothing was appended. */
int io_recv_some(struct peer_io *io, tls_buf *plain, bool may_read);
int io_send(struct peer_io *io, const void *data, size_t len);
int io_key_update(struct peer_io *io, bool request_peer);
int io_close(struct peer_io *io);
/* After we sent a fatal alert: stop writing, then read and drop what the
 * peer still sends (up to 1 s or 16 MiB, or its EOF) so that closing does
 * not reset the connection under the alert. ktls_rx: fd reads through
 * kernel TLS. */
void io_drain_after_alert(int fd, bool ktls_rx, const char *who);
/* Client: writes a session blob to path (mode 0600; NULL: nothing). */
void io_save_session(const char *path, const uint8_t *blob, size_t len);
/* "peer: WHO resumed=yes|no early_data=accepted|rejected|none[ psk=external]"
 * on stderr. */
void io_log_resumption(const struct peer_io *io, const char *who);
/* KeyUpdates so far in each direction. */
int io_updates(const struct peer_io *io, enum tls_dir dir);
/* Readable description of a result ("alert unknown_ca received"). */
const char *io_strerror(const struct peer_io *io, int r, char *buf, size_t len);
/* "TLS_AES_128_GCM_SHA256 x25519 sig=... alpn=h2 sni=localhost ..." */
const char *io_describe(const struct peer_io *io, char *buf, size_t len);
/* Short names: "x25519", "ecdsa_secp256r1_sha256"; "none" for 0. */
const char *peer_group_name(unsigned id);
const char *peer_sig_name(unsigned id);

/* ---- ktls_io.c: the connection after the handshake on kernel TLS ---- */

#define PEER_KTLS_ERR (-2)         /* a kTLS call failed, kio->why says which */

struct peer_kio {
	int fd;
	tls_conn *conn;            /* the engine (for its error text) */
	tls_post *post;            /* what the socket keeps: tickets after the hand-off */
	const char *sess_out;      /* client: sessions from tickets go here */
	const char *who;           /* log prefix: peer address or "client" */
	enum tls_role role;
	const tls_cipher *cs;
	uint8_t tx_secret[TLS_MAX_HASH], rx_secret[TLS_MAX_HASH]; /* current */
	int ku_tx, ku_rx;          /* KeyUpdates installed per direction */
	bool tx_done;              /* close_notify or a fatal alert was sent */
	uint8_t alert_sent;        /* the fatal alert we sent, if any */
	int io_errno;
	char why[200];             /* reason behind PEER_KTLS_ERR / a local alert */
	uint8_t *rec;              /* one record (16 KiB) */
	tls_buf hs;                /* handshake message bytes across records */
};

/* Installs the engine's current application secrets with their sequence
 * numbers for TX and RX on io->fd (everything the engine wrote must already
 * be sent; a server defers its NewSessionTickets, tls_conn_defer_tickets,
 * and sends them after with kio_send_tickets). Logs what was installed and the
 * sock_diag view. When the peer sent an RFC 8449 record_size_limit, the
 * kernel's TX records are capped to it (TLS_TX_MAX_PAYLOAD_LEN); on kernels
 * without that (< 6.19) the hand-off is refused before any key is installed
 * and an internal_error alert is sealed in userspace (k->tx_done is set).
 * 0, or PEER_KTLS_ERR with nothing installed for TX (the caller can still
 * close in userspace unless k->tx_done); if anything fails after TX, an
 * alert has already gone out through the kernel. */
int kio_install(struct peer_kio *k, const struct peer_io *io, enum tls_role role,
		const char *who);
void kio_free(struct peer_kio *k);
/* Server: the tickets the handshake deferred (tls_post_ticket_send), as one
 * handshake record through the kernel under the application key. 0 or
 * PEER_KTLS_ERR. */
int kio_send_tickets(struct peer_kio *k, const tls_config *cfg);
/* Appends application data to plain (0), or returns TLS_CLOSED, PEER_EOF,
 * PEER_IO_ERR, PEER_KTLS_ERR or TLS_ERR_*. Handles KeyUpdate (re-keying RX,
 * and TX if asked), NewSessionTicket (client: a session blob saved to
 * sess_out, tls_post_ticket_recv) and alerts on the
 * way. wait = false: returns 0 with nothing appended when no record is
 * ready (for a poll loop). */
int kio_recv(struct peer_kio *k, tls_buf *plain, bool wait);
int kio_send(struct peer_kio *k, const void *data, size_t len);
/* Sends head, then len bytes of file fd from offset 0 with sendfile(2),
 * the head in the same record as the file's first bytes. */
int kio_send_file(struct peer_kio *k, const void *head, size_t head_len, int fd, size_t len);
/* KeyUpdate through the kernel, then the TX re-key. Refused (nothing
 * sent) with PEER_KTLS_ERR on kernels without TLS 1.3 re-key. */
int kio_key_update(struct peer_kio *k, bool request_peer);
int kio_close(struct peer_kio *k);
const char *kio_strerror(const struct peer_kio *k, int r, char *buf, size_t len);

/* ---- handoff_io.c: the daemon as back end (libhandshake) ---- */

#define PEER_HS_ERR (-3)           /* an hs_* call failed, hs_last_error says why */

/* hs_server_accept through o->handoff; logs "handoff done" and the
 * resumption line, or "WHO failed: handoff: ...". 0 or -1. */
int hio_accept(const struct peer_opts *o, int fd, const char *who, hs_conn **out);
/* hs_client_connect for name through o->handoff (o->ca: verify, in the
 * daemon's store), early as 0-RTT if a cached ticket allows; logs as
 * hio_accept. 0 or -1. */
int hio_connect(const struct peer_opts *o, int fd, const char *name, const void *early, size_t early_len,
		hs_conn **out);
/* As io_describe, from hs_info. */
const char *hio_describe(const hs_conn *h, char *buf, size_t len);
/* As kio_recv, through hs_recv: 0 (data appended, or none when !wait),
 * TLS_CLOSED, PEER_EOF or PEER_HS_ERR. */
int hio_recv(hs_conn *h, tls_buf *plain, bool wait);
const char *hio_strerror(const hs_conn *h, int r, char *buf, size_t len);

#endif
