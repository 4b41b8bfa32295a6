/* The daemon as the peer's third back end (--handoff PATH): the handshake
 * runs in handshaked (hs_server_accept), the socket comes back with kTLS
 * and is read through hs_recv, so KeyUpdates, tickets and alerts are
 * libhandshake's to handle. Sending stays plain send/sendfile on the fd
 * (ktls_io.c's kio_send, kio_send_file). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "peer.h"

int hio_accept(const struct peer_opts *o, int fd, const char *who, hs_conn **out)
{
	struct hs_opts ho = { .socket_path = o->handoff, .alpn = o->alpn };
	struct hs_error err;
	const struct hs_info *i;

	fprintf(stderr, "peer: %s handoff: asking handshaked at %s\n", who, o->handoff);
	if (hs_server_accept(fd, &ho, out, &err) != 0) {
		struct timespec now;
		/* when, for a test timing the failure from outside */
		clock_gettime(CLOCK_REALTIME, &now);
		fprintf(stderr, "peer: %s handoff failed at unix_ms=%lld\n", who,
			(long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
		fprintf(stderr, "peer: %s failed: handoff: %s (%s, errno %s)\n", who, err.text,
			hs_reason_name(err.reason), strerror(err.sys_errno));
		return -1;
	}
	i = hs_info(*out);
	fprintf(stderr, "peer: %s handoff done: ktls tx=%s rx=%s %s\n", who, i->ktls_tx ? "yes" : "no",
		i->ktls_rx ? "yes" : "no(unconfirmed)", i->cipher_name);
	fprintf(stderr, "peer: %s resumed=%s early_data=%s\n", who, i->resumed ? "yes" : "no",
		i->early == HS_EARLY_ACCEPTED   ? "accepted"
		: i->early == HS_EARLY_REJECTED ? "rejected"
						: "none");
	return 0;
}

int hio_connect(const struct peer_opts *o, int fd, const char *name, const void *early, size_t early_len,
		hs_conn **out)
{
	/* no --ca: unverified, as the in-process client; with it the daemon
	 * verifies against its own store ([client] ca_file) */
	struct hs_opts ho = { .socket_path = o->handoff, .alpn = o->alpn, .no_verify = !o->ca,
			      .early_data = early, .early_len = early_len };
	struct hs_error err;
	const struct hs_info *i;

	fprintf(stderr, "peer: client handoff: asking handshaked at %s\n", o->handoff);
	if (hs_client_connect(fd, name, &ho, out, &err) != 0) {
		fprintf(stderr, "peer: client failed: handoff: %s (%s, alert %d, errno %s)\n", err.text,
			hs_reason_name(err.reason), err.alert, strerror(err.sys_errno));
		return -1;
	}
	i = hs_info(*out);
	fprintf(stderr, "peer: client handoff done: ktls tx=%s rx=%s %s\n", i->ktls_tx ? "yes" : "no",
		i->ktls_rx ? "yes" : "no", i->cipher_name);
	fprintf(stderr, "peer: client resumed=%s early_data=%s\n", i->resumed ? "yes" : "no",
		i->early == HS_EARLY_ACCEPTED   ? "accepted"
		: i->early == HS_EARLY_REJECTED ? "rejected"
						: "none");
	return 0;
}

const char *hio_describe(const hs_conn *h, char *buf, size_t len)
{
	const struct hs_info *i = hs_info(h);
	char id[24] = "none";

	if (i->peer_id)
		snprintf(id, sizeof(id), "sha256:%02x%02x%02x%02x", i->peer_sha256[0], i->peer_sha256[1],
			 i->peer_sha256[2], i->peer_sha256[3]);
	snprintf(buf, len, "%s %s sig=%s alpn=%s sni=%s hrr=%d peer_cert=%s", i->cipher_name,
		 peer_group_name(i->group), peer_sig_name(i->sig_scheme), *i->alpn ? i->alpn : "none",
		 *i->server_name ? i->server_name : "none", i->hrr, id);
	return buf;
}

int hio_recv(hs_conn *h, tls_buf *plain, bool wait)
{
	uint8_t buf[16384];

	for (;;) {
		ssize_t n = hs_recv(h, buf, sizeof(buf), wait ? 0 : MSG_DONTWAIT);
		if (n > 0) {
			tls_write_bytes(plain, buf, (size_t)n);
			return plain->err ? PEER_HS_ERR : 0;
		}
		if (n == 0)
			return hs_info(h)->close_notify ? TLS_CLOSED : PEER_EOF;
		if (errno == EAGAIN && !wait)
			return 0;
		if (errno == EINTR)
			continue;
		return PEER_HS_ERR;
	}
}

const char *hio_strerror(const hs_conn *h, int r, char *buf, size_t len)
{
	if (r == 0)
		snprintf(buf, len, "ok");
	else if (r == TLS_CLOSED)
		snprintf(buf, len, "close_notify received");
	else if (r == PEER_EOF)
		snprintf(buf, len, "connection closed by the peer");
	else
		snprintf(buf, len, "%s", hs_last_error(h)->text);
	return buf;
}
