/* peer: the TLS 1.3 engine over a real TCP socket, with application records
 * protected in userspace (tls_conn_send/recv), so the engine can be tested
 * against openssl s_client/s_server, gnutls-cli/serv and others on any host,
 * kTLS or not. See main.c for the command line.
 */
#ifndef PEER_PEER_H
#define PEER_PEER_H

#include <stdbool.h>
#include <stddef.h>

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
};

int peer_server(const struct peer_opts *o, const tls_config *cfg);
int peer_client(const struct peer_opts *o, const tls_config *cfg);

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
};

void io_init(struct peer_io *io, int fd, tls_conn *c);
void io_free(struct peer_io *io);
/* Runs the handshake to completion: 0 or an error. */
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
/* KeyUpdates so far in each direction. */
int io_updates(const struct peer_io *io, enum tls_dir dir);
/* Readable description of a result ("alert unknown_ca received"). */
const char *io_strerror(const struct peer_io *io, int r, char *buf, size_t len);
/* "TLS_AES_128_GCM_SHA256 x25519 sig=... alpn=h2 sni=localhost ..." */
const char *io_describe(const struct peer_io *io, char *buf, size_t len);
/* Short names: "x25519", "ecdsa_secp256r1_sha256"; "none" for 0. */
const char *peer_group_name(unsigned id);
const char *peer_sig_name(unsigned id);

#endif
