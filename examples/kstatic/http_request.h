/* kstatic: the HTTP/1.1 request parser (RFC 9110 semantics, RFC 9112 syntax).
 *
 * The event loop keeps the bytes a connection has sent in one buffer and calls
 * http_parse() after each read with everything not yet consumed. The parser
 * remembers how far it has scanned, so a request trickling in byte by byte
 * costs linear time. When a request's head is complete it is copied into a
 * struct http_request (nothing points into the caller's buffer) and
 * req->consumed says where the next, pipelined request starts.
 *
 * Decisions (RFC 9112 where it says MUST, tolerant where it says MAY):
 *  - A request-line is exactly METHOD SP target SP HTTP/x.y; whitespace
 *    tolerance there is a known desynchronisation source, so none.
 *  - Lines may end in CRLF or a lone LF (§2.2 MAY); a bare CR anywhere is 400.
 *    Empty lines before the request-line are skipped (§2.2 SHOULD).
 *  - GET and HEAD are served; any other valid method is 405 (RFC 9110 §9.1).
 *  - Request bodies: a static server never needs one. Content-Length: 0 is
 *    accepted; any other body (Content-Length > 0, Transfer-Encoding) is 413
 *    and the connection closes: reading and discarding would let a client
 *    make us download arbitrary amounts. Framing that is itself broken
 *    (CL and TE together, disagreeing or invalid Content-Length, TE in
 *    HTTP/1.0, TE not ending in chunked) is 400 (§6.1, §6.3).
 *  - obs-fold, whitespace between a field name and its colon, and CTLs in
 *    field values are 400 (§5.1, §5.2; RFC 9110 §5.5).
 *  - HTTP/1.1 needs exactly one valid Host (§3.2); a major version other than
 *    1 is 505; HTTP/1.x with x > 1 is served as 1.1.
 *  - Every parse error ends the connection after its response: after a broken
 *    head we cannot know where the next request would start.
 */
#ifndef KSTATIC_HTTP_REQUEST_H
#define KSTATIC_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_TARGET_MAX 2048        /* longer request-targets: 414 */
#define HTTP_HEAD_DEFAULT_MAX 8192  /* request-line + fields; more: 431 */
#define HTTP_FIELDS_MAX 100         /* field lines per request; more: 431 */
#define HTTP_HOST_MAX 255
#define HTTP_VALUE_MAX 1024         /* Range, If-* values kept; longer: see .c */

enum http_method {
	HTTP_METHOD_NONE = 0, /* no request (a parse error) */
	HTTP_GET,
	HTTP_HEAD,
};

enum http_parse_result {
	HTTP_PARSE_ERROR = -1, /* req->status and req->error say why; close after */
	HTTP_PARSE_MORE = 0,   /* the head is not complete: read more, call again */
	HTTP_PARSE_DONE = 1,   /* req is complete; req->consumed bytes belong to it */
};

/* One request head, copied out of the connection's buffer. */
struct http_request {
	enum http_method method;
	int minor;              /* HTTP/1.<minor>: 0 or 1 */
	bool keep_alive;        /* the connection may carry another request */
	char target[HTTP_TARGET_MAX + 1]; /* origin-form (absolute-form: its path) */
	size_t target_len;
	bool has_query;         /* target has a '?' */
	bool has_host;
	char host[HTTP_HOST_MAX + 1];
	/* conditional and range fields, raw values (list fields joined by ", ") */
	bool has_range, has_if_range, has_if_none_match, has_if_modified_since;
	bool has_if_match, has_if_unmodified_since;
	char range[HTTP_VALUE_MAX + 1];
	char if_range[HTTP_VALUE_MAX + 1];
	char if_none_match[HTTP_VALUE_MAX + 1];
	char if_match[HTTP_VALUE_MAX + 1];
	char if_modified_since[64];
	char if_unmodified_since[64];
	size_t consumed;        /* bytes of this request, leading empty lines included */
	int status;             /* on HTTP_PARSE_ERROR: 400, 405, 413, 414, 431, 505 */
	const char *error;      /* on HTTP_PARSE_ERROR: why, for the log */
};

/* Per-connection parser state: how far the current head was scanned. */
struct http_parser {
	size_t max_head;    /* cap on the head, leading empty lines included */
	size_t head_start;  /* where the request-line starts (after empty lines) */
	size_t scanned;     /* bytes of the buffer already searched */
	size_t line_start;  /* where the line being scanned starts */
	size_t lines;       /* complete lines so far */
	bool line_checked;  /* the request-line was checked already */
	bool target_checked; /* an unfinished request-line's target was measured */
};

/* max_head 0 means HTTP_HEAD_DEFAULT_MAX. */
void http_parser_init(struct http_parser *p, size_t max_head);

/* Parses the head at the start of buf[0..len). buf must hold the same bytes
 * (possibly more of them) on every call until DONE or ERROR; after either,
 * the parser is ready for the next request, which starts at buf +
 * req->consumed (the caller drops those bytes). An ERROR may come before the
 * head is complete (a bad request-line is refused as soon as it ends). */
enum http_parse_result http_parse(struct http_parser *p, const uint8_t *buf, size_t len,
				  struct http_request *req);

/* "GET", "HEAD" or "-". */
const char *http_method_name(enum http_method m);

/* The 0-RTT policy: may this request be answered before the handshake is
 * confirmed (0.5-RTT)? A request whose bytes arrived (even partly) as early
 * data may be replayed by an attacker, so only safe, idempotent requests
 * without a query string (which might reach something non-static) are
 * answered at once; everything else, parse errors included, waits for the
 * confirmation. Requests that were not early are always answered. */
bool http_early_may_answer(const struct http_request *req, bool arrived_early);

#endif
