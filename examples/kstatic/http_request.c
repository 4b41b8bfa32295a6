/* kstatic: the HTTP/1.1 request parser. Every byte is read through the
 * bounds-checked tls_reader (lib/tls/wire.h); see http_request.h for the
 * rules and why. */
#include "http_request.h"

#include <string.h>

#include "tls/wire.h"

/* ---- small helpers over tls_reader ---- */

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* RFC 9110 §5.6.2 tchar. */
static bool is_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field-value octets (RFC 9110 §5.5): VCHAR, obs-text, SP, HTAB. */
static bool is_value_octet(uint8_t c)
{
	return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

/* Splits off the bytes before the first delim and skips the delim; false
 * (r untouched) when there is none. */
static bool take_until(tls_reader *r, uint8_t delim, tls_reader *tok)
{
	tls_reader probe = *r;
	size_t n = 0;
	for (;;) {
		uint8_t c = tls_read_u8(&probe);
		if (probe.err)
			return false;
		if (c == delim)
			break;
		n++;
	}
	*tok = tls_read_sub(r, n);
	tls_read_u8(r);
	return true;
}

/* The last byte of s, -1 when empty. */
static int last_byte(tls_reader s)
{
	if (s.left == 0)
		return -1;
	tls_read_bytes(&s, s.left - 1);
	return tls_read_u8(&s);
}

/* s without its last n bytes. */
static tls_reader drop_tail(tls_reader s, size_t n)
{
	return tls_read_sub(&s, s.left >= n ? s.left - n : 0);
}

/* s without leading and trailing SP/HTAB. */
static tls_reader trim_ows(tls_reader s)
{
	tls_reader probe = s;
	while (probe.left) {
		tls_reader t = probe;
		uint8_t c = tls_read_u8(&t);
		if (c != ' ' && c != '\t')
			break;
		probe = t;
	}
	for (int c = last_byte(probe); c == ' ' || c == '\t'; c = last_byte(probe))
		probe = drop_tail(probe, 1);
	return probe;
}

/* The first byte of s, -1 when empty. */
static int first_byte(tls_reader s)
{
	return s.left ? tls_read_u8(&s) : -1;
}

/* s holds exactly lit (ASCII case-insensitive when icase). */
static bool span_eq(tls_reader s, const char *lit, bool icase)
{
	size_t n = strlen(lit);
	if (s.left != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int c = tls_read_u8(&s), l = (uint8_t)lit[i];
		if (icase ? lower(c) != lower(l) : c != l)
			return false;
	}
	return true;
}

/* Case-insensitive: s holds exactly lit (field names, tokens). */
static bool span_is(tls_reader s, const char *lit)
{
	return span_eq(s, lit, true);
}

/* Case-insensitive: s starts with lit; then skips it. */
static bool skip_prefix(tls_reader *s, const char *lit)
{
	size_t n = strlen(lit);
	if (s->left < n)
		return false;
	tls_reader t = *s;
	if (!span_is(tls_read_sub(&t, n), lit))
		return false;
	*s = t;
	return true;
}

/* Copies s into dst as a C string; false if it does not fit in cap - 1. */
static bool copy_str(tls_reader s, char *dst, size_t cap)
{
	if (s.left >= cap)
		return false;
	size_t n = s.left;
	tls_read_copy(&s, dst, n);
	dst[n] = '\0';
	return !s.err;
}

/* Appends s to a list value (", " between members); false on overflow. */
static bool append_list(char *dst, size_t cap, tls_reader s)
{
	size_t have = strlen(dst), sep = have ? 2 : 0;
	if (have + sep + s.left >= cap)
		return false;
	if (sep)
		memcpy(dst + have, ", ", 2);
	return copy_str(s, dst + have + sep, cap - have - sep);
}

/* ---- the request-line ---- */

static enum http_parse_result fail(struct http_request *req, int status, const char *why)
{
	req->status = status;
	req->error = why;
	req->method = HTTP_METHOD_NONE;
	return HTTP_PARSE_ERROR;
}

/* absolute-form (RFC 9112 §3.2.2): the authority replaces Host, the path
 * (or "/") becomes the target. */
static enum http_parse_result absolute_form(tls_reader t, struct http_request *req)
{
	if (!skip_prefix(&t, "http://") && !skip_prefix(&t, "https://"))
		return fail(req, 400, "request-target is not origin-form or absolute-form");
	tls_reader authority = t, probe = t;
	size_t n = 0;
	while (probe.left) {
		uint8_t c = tls_read_u8(&probe);
		if (c == '/' || c == '?')
			break;
		if (c == '@')
			return fail(req, 400, "userinfo in the request-target");
		n++;
	}
	authority = tls_read_sub(&t, n);
	if (n == 0 || !copy_str(authority, req->host, sizeof(req->host)))
		return fail(req, 400, "bad authority in the request-target");
	size_t at = 0;
	if (first_byte(t) != '/')
		req->target[at++] = '/'; /* empty path, or only a query */
	if (at + t.left > HTTP_TARGET_MAX)
		return fail(req, 414, "request-target too long");
	size_t rest = t.left;
	tls_read_copy(&t, req->target + at, rest);
	req->target_len = at + rest;
	req->target[req->target_len] = '\0';
	return HTTP_PARSE_DONE;
}

/* METHOD SP request-target SP HTTP/x.y, exactly (no whitespace tolerance). */
static enum http_parse_result request_line(tls_reader line, struct http_request *req,
					   bool *absolute)
{
	tls_reader method, target;
	if (!take_until(&line, ' ', &method) || method.left == 0)
		return fail(req, 400, "malformed request-line");
	for (tls_reader m = method; m.left;)
		if (!is_tchar(tls_read_u8(&m)))
			return fail(req, 400, "bad method token");
	if (!take_until(&line, ' ', &target) || target.left == 0)
		return fail(req, 400, "malformed request-line");
	if (target.left > HTTP_TARGET_MAX)
		return fail(req, 414, "request-target too long");
	bool query = false;
	for (tls_reader t = target; t.left;) {
		uint8_t c = tls_read_u8(&t);
		if (c <= 0x20 || c >= 0x7f || c == '#')
			return fail(req, 400, "bad octet in the request-target");
		query |= c == '?';
	}
	/* HTTP-version is case-sensitive: "HTTP/" DIGIT "." DIGIT */
	uint8_t v[8];
	if (line.left != sizeof(v))
		return fail(req, 400, "malformed HTTP-version");
	tls_read_copy(&line, v, sizeof(v));
	if (memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' || v[7] < '0' ||
	    v[7] > '9')
		return fail(req, 400, "malformed HTTP-version");
	if (v[5] != '1')
		return fail(req, 505, "HTTP major version not supported");
	req->minor = v[7] == '0' ? 0 : 1;
	/* methods are case-sensitive (RFC 9110 §9.1) */
	if (span_eq(method, "GET", false))
		req->method = HTTP_GET;
	else if (span_eq(method, "HEAD", false))
		req->method = HTTP_HEAD;
	else
		return fail(req, 405, "method not allowed");
	req->has_query = query;
	*absolute = false;
	if (first_byte(target) == '/') {
		req->target_len = target.left;
		copy_str(target, req->target, sizeof(req->target));
		return HTTP_PARSE_DONE;
	}
	*absolute = true;
	return absolute_form(target, req);
}

/* ---- field lines ---- */

struct fields {
	int hosts;
	bool conn_close, conn_keep;
	bool has_cl, has_te, te_chunked_last;
	uint64_t content_length;
	int ranges, if_ranges, ims, ius;
};

/* Content-Length: 1#DIGIT, all members equal (RFC 9112 §6.3 item 5). */
static bool content_length(tls_reader v, struct fields *f)
{
	for (;;) {
		tls_reader member;
		bool more = take_until(&v, ',', &member);
		if (!more)
			member = v;
		member = trim_ows(member);
		if (member.left == 0 || member.left > 19)
			return false;
		uint64_t n = 0;
		while (member.left) {
			uint8_t c = tls_read_u8(&member);
			if (c < '0' || c > '9')
				return false;
			n = n * 10 + (uint64_t)(c - '0');
		}
		if (f->has_cl && n != f->content_length)
			return false;
		f->has_cl = true;
		f->content_length = n;
		if (!more)
			return true;
	}
}

/* A comma-separated token list: Connection options, transfer codings. */
static void token_list(tls_reader v, struct fields *f, bool connection)
{
	for (;;) {
		tls_reader member;
		bool more = take_until(&v, ',', &member);
		if (!more)
			member = v;
		member = trim_ows(member);
		if (connection) {
			if (span_is(member, "close"))
				f->conn_close = true;
			else if (span_is(member, "keep-alive"))
				f->conn_keep = true;
		} else if (member.left) {
			/* transfer-coding may carry parameters: "chunked" must be bare */
			f->te_chunked_last = span_is(member, "chunked");
		}
		if (!more)
			return;
	}
}

static bool host_valid(tls_reader v)
{
	while (v.left) {
		uint8_t c = tls_read_u8(&v);
		if (!is_tchar(c) && (c == 0 || !strchr(":[]!$&'()*+,;=%", c)))
			return false;
	}
	return true;
}

static enum http_parse_result field_line(tls_reader line, struct http_request *req,
					 struct fields *f)
{
	int first = first_byte(line);
	if (first == ' ' || first == '\t')
		return fail(req, 400, "obs-fold (line folding) in the header");
	tls_reader name, value;
	if (!take_until(&line, ':', &name) || name.left == 0)
		return fail(req, 400, "field line without a name and colon");
	for (tls_reader n = name; n.left;) {
		uint8_t c = tls_read_u8(&n);
		if (c == ' ' || c == '\t')
			return fail(req, 400, "whitespace between field name and colon");
		if (!is_tchar(c))
			return fail(req, 400, "bad octet in a field name");
	}
	for (tls_reader v = line; v.left;)
		if (!is_value_octet(tls_read_u8(&v)))
			return fail(req, 400, "control character in a field value");
	value = trim_ows(line);

	if (span_is(name, "host")) {
		if (++f->hosts > 1)
			return fail(req, 400, "more than one Host");
		if (!host_valid(value) || value.left > HTTP_HOST_MAX)
			return fail(req, 400, "invalid Host");
		if (!req->has_host) /* absolute-form already set it */
			copy_str(value, req->host, sizeof(req->host));
	} else if (span_is(name, "connection")) {
		token_list(value, f, true);
	} else if (span_is(name, "content-length")) {
		if (!content_length(value, f))
			return fail(req, 400, "invalid or disagreeing Content-Length");
	} else if (span_is(name, "transfer-encoding")) {
		f->has_te = true;
		token_list(value, f, false);
	} else if (span_is(name, "range")) {
		f->ranges++;
		if (!copy_str(value, req->range, sizeof(req->range)))
			return fail(req, 431, "Range field too large");
	} else if (span_is(name, "if-range")) {
		f->if_ranges++;
		if (!copy_str(value, req->if_range, sizeof(req->if_range)))
			return fail(req, 431, "If-Range field too large");
	} else if (span_is(name, "if-none-match")) {
		req->has_if_none_match = true;
		if (!append_list(req->if_none_match, sizeof(req->if_none_match), value))
			return fail(req, 431, "If-None-Match field too large");
	} else if (span_is(name, "if-match")) {
		req->has_if_match = true;
		if (!append_list(req->if_match, sizeof(req->if_match), value))
			return fail(req, 431, "If-Match field too large");
	} else if (span_is(name, "if-modified-since")) {
		/* not a date we can keep: ignored (RFC 9110 §13.1.3) */
		if (++f->ims == 1 && !copy_str(value, req->if_modified_since,
					       sizeof(req->if_modified_since)))
			f->ims++;
	} else if (span_is(name, "if-unmodified-since")) {
		if (++f->ius == 1 && !copy_str(value, req->if_unmodified_since,
					       sizeof(req->if_unmodified_since)))
			f->ius++;
	}
	return HTTP_PARSE_DONE;
}

/* The whole head: request-line, field lines, framing and connection rules. */
static enum http_parse_result parse_head(tls_reader head, struct http_request *req)
{
	struct fields f;
	memset(&f, 0, sizeof(f));
	tls_reader line;
	bool absolute = false;
	take_until(&head, '\n', &line);
	if (last_byte(line) == '\r')
		line = drop_tail(line, 1);
	enum http_parse_result rc = request_line(line, req, &absolute);
	if (rc != HTTP_PARSE_DONE)
		return rc;
	req->has_host = absolute;
	while (take_until(&head, '\n', &line)) {
		if (last_byte(line) == '\r')
			line = drop_tail(line, 1);
		if (line.left == 0)
			break; /* the empty line ending the head */
		for (tls_reader t = line; t.left;)
			if (tls_read_u8(&t) == '\r')
				return fail(req, 400, "bare CR in the header");
		rc = field_line(line, req, &f);
		if (rc != HTTP_PARSE_DONE)
			return rc;
	}
	if (f.hosts)
		req->has_host = true;
	if (req->minor >= 1 && f.hosts == 0)
		return fail(req, 400, "HTTP/1.1 request without Host");
	if (f.has_te && f.has_cl)
		return fail(req, 400, "both Content-Length and Transfer-Encoding");
	if (f.has_te && req->minor == 0)
		return fail(req, 400, "Transfer-Encoding in an HTTP/1.0 request");
	if (f.has_te && !f.te_chunked_last)
		return fail(req, 400, "Transfer-Encoding does not end in chunked");
	if (f.has_te || (f.has_cl && f.content_length > 0))
		return fail(req, 413, "request with a body");
	/* one Range / If-Range only; anything else is ignored (RFC 9110 §14.2 MAY) */
	req->has_range = f.ranges == 1 && f.if_ranges <= 1 && req->method == HTTP_GET;
	req->has_if_range = req->has_range && f.if_ranges == 1;
	req->has_if_modified_since = f.ims == 1;
	req->has_if_unmodified_since = f.ius == 1;
	req->keep_alive = req->minor >= 1 ? !f.conn_close : f.conn_keep && !f.conn_close;
	return HTTP_PARSE_DONE;
}

/* ---- the incremental scan ---- */

void http_parser_init(struct http_parser *p, size_t max_head)
{
	memset(p, 0, sizeof(*p));
	p->max_head = max_head ? max_head : HTTP_HEAD_DEFAULT_MAX;
}

static void parser_reset(struct http_parser *p)
{
	http_parser_init(p, p->max_head);
}

/* A request-line still without its end: the status it already deserves
 * (0: none yet), checked in the order request_line() checks a whole line.
 * Only looks at the first 32 bytes for the method's SP. */
static int partial_request_line(tls_reader line)
{
	size_t method = 0;
	while (line.left && method < 32) {
		uint8_t c = tls_read_u8(&line);
		if (c == ' ' && method > 0) {
			size_t target = 0;
			while (line.left && tls_read_u8(&line) != ' ')
				target++;
			return target > HTTP_TARGET_MAX ? 414 : 0;
		}
		if (!is_tchar(c))
			return 400;
		method++;
	}
	return 0;
}

enum http_parse_result http_parse(struct http_parser *p, const uint8_t *buf, size_t len,
				  struct http_request *req)
{
	memset(req, 0, sizeof(*req));
	if (p->scanned > len) /* the caller dropped bytes: start over */
		parser_reset(p);
	tls_reader all = tls_reader_init(buf, len);
	tls_reader r = all;
	tls_read_bytes(&r, p->scanned);
	while (r.left && p->scanned < p->max_head) {
		uint8_t c = tls_read_u8(&r);
		size_t pos = p->scanned++;
		if (c == '\n') {
			tls_reader at = all;
			tls_read_bytes(&at, p->line_start);
			tls_reader line = tls_read_sub(&at, pos - p->line_start);
			if (last_byte(line) == '\r')
				line = drop_tail(line, 1);
			if (line.left == 0 && p->lines == 0) {
				p->line_start = p->head_start = pos + 1; /* empty line before the request */
			} else if (line.left == 0) {
				tls_reader head = all;
				tls_read_bytes(&head, p->head_start);
				head = tls_read_sub(&head, pos + 1 - p->head_start);
				enum http_parse_result rc = parse_head(head, req);
				req->consumed = pos + 1;
				parser_reset(p);
				return rc;
			} else {
				if (++p->lines == 1 && !p->line_checked) {
					/* refuse a bad request-line at once */
					bool absolute;
					struct http_request tmp;
					memset(&tmp, 0, sizeof(tmp));
					p->line_checked = true;
					for (tls_reader t = line; t.left;)
						if (tls_read_u8(&t) == '\r')
							return parser_reset(p),
							       fail(req, 400, "bare CR in the request-line");
					if (request_line(line, &tmp, &absolute) != HTTP_PARSE_DONE) {
						parser_reset(p);
						return fail(req, tmp.status, tmp.error);
					}
				}
				if (p->lines > HTTP_FIELDS_MAX + 1) {
					parser_reset(p);
					return fail(req, 431, "too many header fields");
				}
				p->line_start = pos + 1;
			}
		}
	}
	/* once, when the line is long enough that a target within the limit
	 * must have ended (methods over 32 bytes are left to the head cap) */
	if (p->lines == 0 && !p->target_checked &&
	    p->scanned - p->line_start > HTTP_TARGET_MAX + 34) {
		p->target_checked = true;
		tls_reader line = all;
		tls_read_bytes(&line, p->line_start);
		line = tls_read_sub(&line, p->scanned - p->line_start);
		int status = partial_request_line(line);
		if (status) {
			parser_reset(p);
			return fail(req, status, status == 414 ? "request-target too long"
							       : "malformed request-line");
		}
	}
	if (r.left) { /* stopped at the cap with bytes left */
		parser_reset(p);
		return fail(req, 431, "request head larger than the cap");
	}
	return HTTP_PARSE_MORE;
}

const char *http_method_name(enum http_method m)
{
	switch (m) {
	case HTTP_GET:
		return "GET";
	case HTTP_HEAD:
		return "HEAD";
	default:
		return "-";
	}
}

bool http_early_may_answer(const struct http_request *req, bool arrived_early)
{
	if (!arrived_early)
		return true;
	return (req->method == HTTP_GET || req->method == HTTP_HEAD) && !req->has_query &&
	       req->status == 0;
}
