/* kstatic: response decisions and heads (see http_response.h). Values kept
 * from the request are read through tls_reader like the wire bytes they
 * were; heads are written through a fixed tls_buf, which refuses to
 * overflow the caller's buffer. */
#include "http_response.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tls/wire.h"

/* ---- content types ---- */

static const struct {
	const char *ext, *type;
} content_types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "htm", "text/html; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "json", "application/json" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "md", "text/markdown; charset=utf-8" },
	{ "csv", "text/csv; charset=utf-8" },
	{ "xml", "application/xml" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "webp", "image/webp" },
	{ "avif", "image/avif" },
	{ "ico", "image/vnd.microsoft.icon" },
	{ "wasm", "application/wasm" },
	{ "pdf", "application/pdf" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "mp4", "video/mp4" },
	{ "webm", "video/webm" },
	{ "mp3", "audio/mpeg" },
	{ "ogg", "audio/ogg" },
	{ "zip", "application/zip" },
	{ "gz", "application/gzip" },
	{ "tar", "application/x-tar" },
};

const char *http_content_type(const char *name)
{
	const char *slash = strrchr(name, '/');
	const char *base = slash ? slash + 1 : name;
	const char *dot = strrchr(base, '.');
	if (dot && dot != base)
		for (size_t i = 0; i < sizeof(content_types) / sizeof(content_types[0]); i++)
			if (strcasecmp(dot + 1, content_types[i].ext) == 0)
				return content_types[i].type;
	return "application/octet-stream";
}

void http_file_meta_init(struct http_file_meta *m, const struct stat *st, const char *name)
{
	memset(m, 0, sizeof(*m));
	m->size = (uint64_t)st->st_size;
	m->mtime = (int64_t)st->st_mtim.tv_sec;
	m->content_type = http_content_type(name);
	snprintf(m->etag, sizeof(m->etag), "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 ".%lx\"",
		 (uint64_t)st->st_ino, (uint64_t)st->st_size, (uint64_t)st->st_mtim.tv_sec,
		 (unsigned long)st->st_mtim.tv_nsec);
}

/* ---- dates ---- */

static const char wkday[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char month_name[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

void http_date_format(int64_t t, char out[HTTP_DATE_LEN + 1])
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
		tt = 0;
		gmtime_r(&tt, &tm);
	}
	char tmp[64]; /* the compiler cannot see the fields' ranges */
	snprintf(tmp, sizeof(tmp), "%s, %02d %s %04d %02d:%02d:%02d GMT", wkday[tm.tm_wday],
		 tm.tm_mday, month_name[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
	memcpy(out, tmp, HTTP_DATE_LEN);
	out[HTTP_DATE_LEN] = '\0';
}

static int peek_u8(const tls_reader *r)
{
	tls_reader t = *r;
	uint8_t c = tls_read_u8(&t);
	return t.err ? -1 : c;
}

static bool lit(tls_reader *r, char c)
{
	if (peek_u8(r) != (uint8_t)c)
		return false;
	tls_read_u8(r);
	return true;
}

/* Exactly n digits; -1 otherwise. */
static int digits(tls_reader *r, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		int c = peek_u8(r);
		if (c < '0' || c > '9')
			return -1;
		tls_read_u8(r);
		v = v * 10 + (c - '0');
	}
	return v;
}

static int month(tls_reader *r)
{
	char m[3];
	if (r->left < 3)
		return -1;
	tls_read_copy(r, m, 3);
	for (int i = 0; i < 12; i++)
		if (memcmp(m, month_name[i], 3) == 0)
			return i;
	return -1;
}

/* hh:mm:ss */
static bool time_of_day(tls_reader *r, struct tm *tm)
{
	tm->tm_hour = digits(r, 2);
	if (!lit(r, ':'))
		return false;
	tm->tm_min = digits(r, 2);
	if (!lit(r, ':'))
		return false;
	tm->tm_sec = digits(r, 2);
	return tm->tm_hour >= 0 && tm->tm_hour < 24 && tm->tm_min >= 0 && tm->tm_min < 60 &&
	       tm->tm_sec >= 0 && tm->tm_sec <= 60;
}

static bool gmt(tls_reader *r)
{
	return lit(r, ' ') && lit(r, 'G') && lit(r, 'M') && lit(r, 'T');
}

int http_date_parse(const char *s, int64_t *t)
{
	tls_reader r = tls_reader_init((const uint8_t *)s, strlen(s));
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	size_t name = 0;
	for (int c = peek_u8(&r); (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); c = peek_u8(&r))
		tls_read_u8(&r), name++;
	if (name < 3)
		return -1;
	bool ok;
	if (name == 3 && lit(&r, ',')) { /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
		ok = lit(&r, ' ') && (tm.tm_mday = digits(&r, 2)) >= 0 && lit(&r, ' ') &&
		     (tm.tm_mon = month(&r)) >= 0 && lit(&r, ' ') &&
		     (tm.tm_year = digits(&r, 4)) >= 0 && lit(&r, ' ') && time_of_day(&r, &tm) &&
		     gmt(&r);
		tm.tm_year -= 1900;
	} else if (name > 3 && lit(&r, ',')) { /* rfc850: Sunday, 06-Nov-94 08:49:37 GMT */
		ok = lit(&r, ' ') && (tm.tm_mday = digits(&r, 2)) >= 0 && lit(&r, '-') &&
		     (tm.tm_mon = month(&r)) >= 0 && lit(&r, '-') &&
		     (tm.tm_year = digits(&r, 2)) >= 0 && lit(&r, ' ') && time_of_day(&r, &tm) &&
		     gmt(&r);
		/* two-digit years: 70-99 are 19xx, the rest 20xx (RFC 9110 §5.6.7's
		 * 50-year rule, fixed at a point that needs no clock) */
		if (tm.tm_year < 70)
			tm.tm_year += 100;
	} else if (name == 3 && lit(&r, ' ')) { /* asctime: Sun Nov  6 08:49:37 1994 */
		ok = (tm.tm_mon = month(&r)) >= 0 && lit(&r, ' ');
		if (ok && lit(&r, ' '))
			tm.tm_mday = digits(&r, 1);
		else if (ok)
			tm.tm_mday = digits(&r, 2);
		ok = ok && tm.tm_mday >= 0 && lit(&r, ' ') && time_of_day(&r, &tm) &&
		     lit(&r, ' ') && (tm.tm_year = digits(&r, 4)) >= 0;
		tm.tm_year -= 1900;
	} else {
		return -1;
	}
	if (!ok || r.left != 0 || tm.tm_mday < 1 || tm.tm_mday > 31)
		return -1;
	int mday = tm.tm_mday, mon = tm.tm_mon;
	time_t v = timegm(&tm);
	if (tm.tm_mday != mday || tm.tm_mon != mon) /* 31 Feb: normalised away */
		return -1;
	*t = (int64_t)v;
	return 0;
}

/* ---- entity tags ---- */

static void skip_ows_commas(tls_reader *r)
{
	for (int c = peek_u8(r); c == ' ' || c == '\t' || c == ','; c = peek_u8(r))
		tls_read_u8(r);
}

/* Does the entity-tag list (or "*") contain tag? Weak comparison ignores
 * W/ on both sides; strong needs both strong. A malformed list matches
 * nothing. tag is ours: always strong. */
static bool etag_list_match(const char *list, const char *tag, bool weak)
{
	tls_reader r = tls_reader_init((const uint8_t *)list, strlen(list));
	skip_ows_commas(&r);
	if (lit(&r, '*')) {
		skip_ows_commas(&r);
		return r.left == 0;
	}
	bool found = false;
	size_t taglen = strlen(tag);
	while (r.left) {
		bool is_weak = false;
		if (lit(&r, 'W')) {
			if (!lit(&r, '/'))
				return false;
			is_weak = true;
		}
		tls_reader start = r;
		if (!lit(&r, '"'))
			return false;
		size_t n = 1;
		for (;;) {
			int c = peek_u8(&r);
			if (c < 0 || (c != '"' && (c < 0x21 || c == 0x7f)))
				return false; /* unterminated, or not etagc */
			tls_read_u8(&r);
			n++;
			if (c == '"')
				break;
		}
		tls_reader opaque = tls_read_sub(&start, n);
		if (n == taglen && (weak || !is_weak) &&
		    memcmp(tls_read_bytes(&opaque, n), tag, n) == 0)
			found = true;
		int c = peek_u8(&r);
		if (c >= 0 && c != ' ' && c != '\t' && c != ',')
			return false;
		skip_ows_commas(&r);
	}
	return found;
}

/* If-Range: an entity-tag (strong match) or a date (exactly Last-Modified). */
static bool if_range_holds(const char *v, const struct http_file_meta *m)
{
	if (v[0] == '"' || v[0] == 'W')
		return v[0] == '"' && strcmp(v, m->etag) == 0;
	int64_t t;
	return http_date_parse(v, &t) == 0 && t == m->mtime;
}

/* ---- ranges ---- */

/* 1*DIGIT, saturating at UINT64_MAX; false without a digit. */
static bool number(tls_reader *r, uint64_t *v)
{
	int c = peek_u8(r);
	if (c < '0' || c > '9')
		return false;
	*v = 0;
	for (; c >= '0' && c <= '9'; c = peek_u8(r)) {
		tls_read_u8(r);
		uint64_t d = (uint64_t)(c - '0');
		*v = *v > (UINT64_MAX - d) / 10 ? UINT64_MAX : *v * 10 + d;
	}
	return true;
}

#define HTTP_RANGES_MAX 64 /* more range-specs than this: ignored */

enum http_range_result http_range_eval(const char *value, uint64_t size, uint64_t *first,
				       uint64_t *last)
{
	tls_reader r = tls_reader_init((const uint8_t *)value, strlen(value));
	static const char unit[] = "bytes=";
	for (size_t i = 0; i < sizeof(unit) - 1; i++) {
		int c = peek_u8(&r);
		if (c < 0 || (c | 0x20) != unit[i])
			return HTTP_RANGE_IGNORE;
		tls_read_u8(&r);
	}
	size_t specs = 0, satisfiable = 0;
	bool suffix_on_empty = false;
	for (skip_ows_commas(&r); r.left; skip_ows_commas(&r)) {
		uint64_t a = 0, b = UINT64_MAX;
		bool suffix = lit(&r, '-');
		if (suffix) {
			if (!number(&r, &b))
				return HTTP_RANGE_IGNORE;
		} else {
			if (!number(&r, &a) || !lit(&r, '-'))
				return HTTP_RANGE_IGNORE;
			number(&r, &b); /* a- : to the end */
			if (b < a)
				return HTTP_RANGE_IGNORE; /* invalid range-spec: whole field */
		}
		int c = peek_u8(&r);
		if ((c >= 0 && c != ' ' && c != '\t' && c != ',') || ++specs > HTTP_RANGES_MAX)
			return HTTP_RANGE_IGNORE;
		if (suffix && b > 0 && size == 0)
			suffix_on_empty = true;
		bool ok = suffix ? b > 0 && size > 0 : a < size;
		if (ok && satisfiable++ == 0) {
			*first = suffix ? (b >= size ? 0 : size - b) : a;
			*last = suffix || b >= size ? size - 1 : b;
		}
	}
	if (specs == 0 || suffix_on_empty)
		return HTTP_RANGE_IGNORE; /* an empty file has no bytes to range over */
	if (satisfiable == 0)
		return HTTP_RANGE_UNSATISFIABLE;
	return specs == 1 ? HTTP_RANGE_PARTIAL : HTTP_RANGE_IGNORE;
}

/* ---- the decision ---- */

void http_plan_response(const struct http_request *req, const struct http_file_meta *m,
			struct http_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	plan->status = 200;
	plan->length = m->size;
	int64_t t;
	/* RFC 9110 §13.2.2, steps 1-5 */
	if (req->has_if_match) {
		if (!etag_list_match(req->if_match, m->etag, false))
			plan->status = 412;
	} else if (req->has_if_unmodified_since && http_date_parse(req->if_unmodified_since, &t) == 0) {
		if (m->mtime > t)
			plan->status = 412;
	}
	if (plan->status == 200) {
		if (req->has_if_none_match) {
			if (etag_list_match(req->if_none_match, m->etag, true))
				plan->status = 304;
		} else if (req->has_if_modified_since &&
			   http_date_parse(req->if_modified_since, &t) == 0) {
			if (m->mtime <= t)
				plan->status = 304;
		}
	}
	if (plan->status == 200 && req->has_range &&
	    (!req->has_if_range || if_range_holds(req->if_range, m))) {
		uint64_t a, b;
		switch (http_range_eval(req->range, m->size, &a, &b)) {
		case HTTP_RANGE_PARTIAL:
			plan->status = 206;
			plan->offset = a;
			plan->length = b - a + 1;
			break;
		case HTTP_RANGE_UNSATISFIABLE:
			plan->status = 416;
			break;
		case HTTP_RANGE_IGNORE:
			break;
		}
	}
	if (plan->status != 200 && plan->status != 206)
		plan->length = 0;
	plan->send_body = req->method == HTTP_GET && plan->length > 0;
}

/* ---- heads ---- */

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

__attribute__((format(printf, 2, 3))) static void put(tls_buf *b, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		b->err = true;
	else
		tls_write_bytes(b, line, (size_t)n);
}

/* Status line, Date, Server, Connection. HTTP/1.1 always: a server sends its
 * own version (RFC 9110 §2.5). */
static void head_start(tls_buf *b, int status, bool keep_alive, int minor, int64_t now)
{
	char date[HTTP_DATE_LEN + 1];
	http_date_format(now, date);
	put(b, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: " HTTP_SERVER_NAME "\r\n", status,
	    http_reason(status), date);
	if (!keep_alive)
		put(b, "Connection: close\r\n");
	else if (minor == 0)
		put(b, "Connection: keep-alive\r\n");
}

static size_t head_end(tls_buf *b)
{
	tls_write_bytes(b, "\r\n", 2);
	return b->err ? 0 : b->len;
}

size_t http_format_file_head(uint8_t *buf, size_t cap, const struct http_request *req,
			     const struct http_file_meta *m, const struct http_plan *plan,
			     int64_t now)
{
	tls_buf b;
	char lm[HTTP_DATE_LEN + 1];
	tls_buf_init_fixed(&b, buf, cap);
	http_date_format(m->mtime, lm);
	head_start(&b, plan->status, req->keep_alive, req->minor, now);
	if (plan->status != 304) {
		put(&b, "Content-Type: %s\r\nContent-Length: %" PRIu64 "\r\nAccept-Ranges: bytes\r\n",
		    m->content_type, plan->length);
		if (plan->status == 206)
			put(&b, "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n",
			    plan->offset, plan->offset + plan->length - 1, m->size);
	}
	put(&b, "Last-Modified: %s\r\nETag: %s\r\n", lm, m->etag);
	return head_end(&b);
}

size_t http_format_error(uint8_t *buf, size_t cap, int status, bool head, bool keep_alive,
			 int minor, uint64_t size, int64_t now)
{
	tls_buf b;
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, http_reason(status));
	tls_buf_init_fixed(&b, buf, cap);
	head_start(&b, status, keep_alive, minor, now);
	put(&b, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n", n);
	if (status == 405)
		put(&b, "Allow: GET, HEAD\r\n");
	if (status == 416)
		put(&b, "Content-Range: bytes */%" PRIu64 "\r\n", size);
	size_t len = head_end(&b);
	if (len && !head) {
		tls_write_bytes(&b, body, (size_t)n);
		len = b.err ? 0 : b.len;
	}
	return len;
}

/* ---- the access log ---- */

size_t http_format_access_log(char *out, size_t cap, const struct http_log_entry *e)
{
	if (cap == 0)
		return 0;
	char target[HTTP_TARGET_MAX * 4 + 1] = "-";
	const struct http_request *req = e->req;
	if (req && req->method != HTTP_METHOD_NONE) {
		tls_reader r = tls_reader_init((const uint8_t *)req->target, req->target_len);
		size_t n = 0;
		while (r.left) {
			uint8_t c = tls_read_u8(&r);
			if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
				n += (size_t)snprintf(target + n, sizeof(target) - n, "\\x%02x", c);
			else
				target[n++] = (char)c;
		}
		target[n] = '\0';
	}
	struct tm tm;
	time_t t = (time_t)e->when;
	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	bool parsed = req && req->method != HTTP_METHOD_NONE;
	int n = snprintf(out, cap,
			 "%s - - [%02d/%s/%04d:%02d:%02d:%02d +0000] \"%s %s HTTP/1.%d\" %d %" PRIu64
			 " %" PRIu64 "us%s\n",
			 e->peer && *e->peer ? e->peer : "-", tm.tm_mday, month_name[tm.tm_mon % 12],
			 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 parsed ? http_method_name(req->method) : "-", target,
			 parsed ? req->minor : 1, e->status, e->bytes, e->usec,
			 e->early ? " 0rtt" : "");
	if (n < 0) {
		out[0] = '\0';
		return 0;
	}
	if ((size_t)n >= cap) { /* truncated: keep the line a line */
		n = (int)cap - 1;
		if (n > 0)
			out[n - 1] = '\n';
	}
	return (size_t)n;
}
