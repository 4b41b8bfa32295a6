/* The metrics listener ([metrics] listen): GET /metrics over HTTP/1.0 or
 * 1.1 on a loopback TCP port or a unix socket, answering the same text as
 * `handshakectl stats --prometheus`. Served by the supervisor thread from
 * its poll loop: non-blocking sockets, a few connections at a time, one
 * request each, a deadline per connection, a bounded request head; the
 * loops never see it. Daemon-internal. */
#ifndef HANDSHAKED_METRICS_H
#define HANDSHAKED_METRICS_H

#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

#define METRICS_CONNS 8            /* served at once; more wait in the backlog */
#define METRICS_POLLFDS (METRICS_CONNS + 1)
#define METRICS_REQ_MAX 4096       /* request line and headers */
#define METRICS_TIMEOUT_MS 2000    /* from accept to the last byte of the answer */

struct daemon;

/* "HOST:PORT" with a numeric IPv4 address, "[IPv6]:PORT", or "unix:PATH".
 * 0, or -1 with err saying why (metrics_addr.c: no daemon state, for the
 * config parser). */
int metrics_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err, size_t errlen);

/* Opens d->cfg.metrics_listen, if set (main thread, before privileges
 * are dropped). 0, or -1 logged. */
int metrics_listen(struct daemon *d);
void metrics_close(struct daemon *d);
/* The supervisor's poll: fills at most METRICS_POLLFDS entries of p and
 * lowers *timeout_ms to the next deadline; returns how many. */
int metrics_pollfds(struct daemon *d, struct pollfd *p, int *timeout_ms);
/* After poll: serves what is ready in p[0..n), closes what timed out. */
void metrics_serve(struct daemon *d, const struct pollfd *p, int n);

/* The Prometheus text: the counters, the upcall's, the certificates. */
void metrics_print(struct daemon *d, FILE *f);

#endif
