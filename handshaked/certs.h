/* What the daemon says about its certificates: names and expiry, read
 * from the files at start and at each reload, for `handshakectl status`,
 * the logs (a warning under CERTS_WARN_DAYS) and the metrics. The list
 * belongs to the supervisor thread (reloads, the control socket and the
 * metrics listener all run there). Daemon-internal. */
#ifndef HANDSHAKED_CERTS_H
#define HANDSHAKED_CERTS_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"

#define CERTS_WARN_DAYS 14

struct cert_info {
	const char *role;          /* "server" ([server] cert), "upcall" ([upcall] cert) */
	char *path;
	char *subject;             /* RFC 2253, NULL when unreadable */
	char *names;               /* subjectAltName DNS names and IPs, comma-separated ("" none) */
	int64_t not_after;         /* seconds since the epoch */
	const char *error;         /* why the file could not be read, or NULL */
};

struct cert_list {
	struct cert_info *v;
	size_t n;
};

/* The certificates c names, each read from its file (the leaf: the
 * first in the file). Never fails: an unreadable one carries error. */
void certs_inspect(const struct dconfig *c, struct cert_list *out);
void certs_free(struct cert_list *l);

/* event=certificate per certificate, then event=cert_expiring (warn) or
 * event=cert_expired (error) for those under CERTS_WARN_DAYS. */
void certs_log(const struct cert_list *l, int64_t now);
/* `handshakectl status`: "certificate ROLE PATH key=value..." per
 * certificate, each followed by a "WARNING: ..." line when it expires
 * within CERTS_WARN_DAYS or has expired. */
void certs_print_status(const struct cert_list *l, int64_t now, FILE *f);
/* handshaked_certificate_expiry_timestamp_seconds{role,cert,names}. */
void certs_print_prometheus(const struct cert_list *l, FILE *f);

#endif
