/* kstatic: what to answer a parsed request for an open file, and the bytes of
 * the answer's head (RFC 9110).
 *
 * ETag: strong, "<inode>-<size>-<mtime sec>.<mtime nsec>" in hex. Strong,
 * because the body is the file's exact bytes (sendfile, no transformation),
 * and only a strong validator lets If-Range and ranges of two responses be
 * combined (RFC 9110 §8.8.1, §13.1.5). Its weak spot: a file rewritten in
 * place with the same size within one timestamp tick of its filesystem keeps
 * its tag; with nanosecond mtimes (ext4, xfs, btrfs, tmpfs) that needs two
 * writes within the same jiffy, which a static site's deploys do not do.
 *
 * Conditional requests follow RFC 9110 §13.2.2: If-Match, else
 * If-Unmodified-Since (412); If-None-Match (weak comparison), else
 * If-Modified-Since (304); then Range, guarded by If-Range (strong). Range is
 * GET only; one byte range gives 206, several are answered 200 with the whole
 * file (allowed: a server MAY ignore Range) unless none is satisfiable (416).
 */
#ifndef KSTATIC_HTTP_RESPONSE_H
#define KSTATIC_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "http_request.h"

#define HTTP_ETAG_MAX 64     /* "..." with quotes, NUL included */
#define HTTP_DATE_LEN 29     /* IMF-fixdate, without NUL */
#define HTTP_SERVER_NAME "kstatic"

/* What the response needs of a file. */
struct http_file_meta {
	uint64_t size;
	int64_t mtime;              /* seconds (Last-Modified) */
	const char *content_type;   /* from http_content_type */
	char etag[HTTP_ETAG_MAX];
};

/* Content-Type by the name's extension (case-insensitive);
 * "application/octet-stream" when unknown. */
const char *http_content_type(const char *name);

/* Fills m from a file's stat and name (for the Content-Type). */
void http_file_meta_init(struct http_file_meta *m, const struct stat *st, const char *name);

/* IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into out[HTTP_DATE_LEN + 1]. */
void http_date_format(int64_t t, char out[HTTP_DATE_LEN + 1]);
/* Any of the three HTTP-date forms (RFC 9110 §5.6.7 MUST); 0 or -1. */
int http_date_parse(const char *s, int64_t *t);

enum http_range_result {
	HTTP_RANGE_IGNORE,        /* no usable Range: send the whole file (200) */
	HTTP_RANGE_PARTIAL,       /* one satisfiable range: 206 */
	HTTP_RANGE_UNSATISFIABLE, /* 416 */
};
/* A Range value against a file of size bytes; on PARTIAL *first..*last
 * (inclusive). Syntax errors and other units are ignored (200). */
enum http_range_result http_range_eval(const char *value, uint64_t size, uint64_t *first,
				       uint64_t *last);

/* The answer to a request for an existing file. */
struct http_plan {
	int status;      /* 200, 206, 304, 412 or 416 */
	uint64_t offset; /* the body: length bytes of the file from offset */
	uint64_t length;
	bool send_body;  /* false for HEAD and bodiless statuses */
};
void http_plan_response(const struct http_request *req, const struct http_file_meta *m,
			struct http_plan *plan);

/* The head of a file response (200, 206, 304) into buf: the status line,
 * Date, Server, Connection, Content-Type, Content-Length, Last-Modified,
 * ETag, Accept-Ranges, Content-Range. Returns its length, 0 if cap is too
 * small. The caller sends plan->length bytes of the file after it when
 * plan->send_body. 412 and 416 go through http_format_error. */
size_t http_format_file_head(uint8_t *buf, size_t cap, const struct http_request *req,
			     const struct http_file_meta *m, const struct http_plan *plan,
			     int64_t now);

/* A complete error response (head and a one-line text body; no body for
 * HEAD): any status, with Allow for 405 and Content-Range for 416 (of
 * size bytes). keep_alive false adds Connection: close. Returns its length,
 * 0 if cap is too small. */
size_t http_format_error(uint8_t *buf, size_t cap, int status, bool head, bool keep_alive,
			 int minor, uint64_t size, int64_t now);

/* "Not Found" etc.; "Unknown" for statuses kstatic never sends. */
const char *http_reason(int status);

/* One access-log line. req may be NULL (nothing parsed); the target is
 * escaped (\xNN) so a log line cannot be forged. */
struct http_log_entry {
	const char *peer;                 /* "192.0.2.1:443" */
	int64_t when;                     /* seconds */
	const struct http_request *req;
	int status;
	uint64_t bytes;                   /* body bytes sent */
	uint64_t usec;                    /* request to last byte */
	bool early;                       /* answered from 0-RTT data */
};
/* peer - - [06/Nov/1994:08:49:37 +0000] "GET /x HTTP/1.1" 200 1234 57us 0rtt\n
 * Returns the length (truncated to fit cap, always NUL-terminated and
 * ending with a newline when cap > 1). */
size_t http_format_access_log(char *out, size_t cap, const struct http_log_entry *e);

#endif
