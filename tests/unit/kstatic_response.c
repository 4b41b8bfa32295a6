/* kstatic's responses: content types, dates, ETags, conditional requests,
 * ranges, heads, error bodies and the access log line. */
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "../../examples/kstatic/http_response.h"

#define T0 784111777 /* Sun, 06 Nov 1994 08:49:37 GMT */

static struct http_request req;
static struct http_file_meta meta;

static void request(const char *fields, const char *method)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s /f.txt HTTP/1.1\r\nHost: h\r\n%s\r\n", method, fields);
	struct http_parser p;
	http_parser_init(&p, 0);
	if (http_parse(&p, (const uint8_t *)buf, strlen(buf), &req) != HTTP_PARSE_DONE)
		test_diag("request did not parse: %s", buf);
}

static int plan_status(const char *fields, struct http_plan *plan)
{
	request(fields, "GET");
	http_plan_response(&req, &meta, plan);
	return plan->status;
}

static void types_and_dates(void)
{
	test_ok(strcmp(http_content_type("a/INDEX.HTML"), "text/html; charset=utf-8") == 0,
		"Content-Type by extension, case-insensitive");
	test_ok(strcmp(http_content_type("x.tar.gz"), "application/gzip") == 0, "the last extension");
	test_ok(strcmp(http_content_type("README"), "application/octet-stream") == 0 &&
			strcmp(http_content_type(".css"), "application/octet-stream") == 0 &&
			strcmp(http_content_type("d.css/file"), "application/octet-stream") == 0,
		"no extension (or a dotfile, or a dot in a directory): octet-stream");

	char d[HTTP_DATE_LEN + 1];
	http_date_format(T0, d);
	test_ok(strcmp(d, "Sun, 06 Nov 1994 08:49:37 GMT") == 0, "IMF-fixdate: %s", d);
	int64_t t = 0;
	test_ok(http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t) == 0 && t == T0,
		"IMF-fixdate parses");
	test_ok(http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t) == 0 && t == T0,
		"rfc850 date parses");
	test_ok(http_date_parse("Sun Nov  6 08:49:37 1994", &t) == 0 && t == T0,
		"asctime date parses");
	test_ok(http_date_parse("Tue, 15 Nov 1994 12:45:26 GMT", &t) == 0 && t == 784903526,
		"another IMF-fixdate");
	static const char *bad[] = { "", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 31 Feb 1994 08:49:37 GMT",
				     "Sun, 06 Nov 1994 08:49:37 GMT x", "Sun, 6 Nov 1994 08:49:37 GMT",
				     "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
				     "1994-11-06T08:49:37Z", "Sun Nov 6 08:49:37 1994" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		test_ok(http_date_parse(bad[i], &t) == -1, "not an HTTP-date: \"%s\"", bad[i]);

	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_ino = 0x1234;
	st.st_size = 100;
	st.st_mtim.tv_sec = T0;
	st.st_mtim.tv_nsec = 5;
	http_file_meta_init(&meta, &st, "f.txt");
	test_ok(strcmp(meta.etag, "\"1234-64-2ebc98a1.5\"") == 0 && meta.size == 100 &&
			meta.mtime == T0,
		"strong ETag from inode, size and mtime: %s", meta.etag);
	struct http_file_meta other;
	st.st_mtim.tv_nsec = 6;
	http_file_meta_init(&other, &st, "f.txt");
	test_ok(strcmp(other.etag, meta.etag) != 0, "a nanosecond of mtime changes the ETag");
}

static void ranges(void)
{
	uint64_t a = 0, b = 0;
	struct {
		const char *v;
		uint64_t size;
		enum http_range_result want;
		uint64_t a, b;
	} cases[] = {
		{ "bytes=0-9", 100, HTTP_RANGE_PARTIAL, 0, 9 },
		{ "bytes=90-", 100, HTTP_RANGE_PARTIAL, 90, 99 },
		{ "bytes=-10", 100, HTTP_RANGE_PARTIAL, 90, 99 },
		{ "bytes=-200", 100, HTTP_RANGE_PARTIAL, 0, 99 },
		{ "bytes=50-1000", 100, HTTP_RANGE_PARTIAL, 50, 99 },
		{ "bytes=99-99", 100, HTTP_RANGE_PARTIAL, 99, 99 },
		{ "BYTES=0-0", 100, HTTP_RANGE_PARTIAL, 0, 0 },
		{ "bytes=0-99999999999999999999999", 100, HTTP_RANGE_PARTIAL, 0, 99 },
		{ "bytes=100-", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=99999999999999999999-", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=-0", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=100-,200-300", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=0-1,5-6", 100, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=0-1, 500-", 100, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=5-1", 100, HTTP_RANGE_IGNORE, 0, 0 },
		{ "items=0-1", 100, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=abc", 100, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=", 100, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=1-2x", 100, HTTP_RANGE_IGNORE, 0, 0 },
		{ "bytes=0-", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=-5", 0, HTTP_RANGE_IGNORE, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum http_range_result r = http_range_eval(cases[i].v, cases[i].size, &a, &b);
		test_ok(r == cases[i].want &&
				(r != HTTP_RANGE_PARTIAL || (a == cases[i].a && b == cases[i].b)),
			"Range \"%s\" of %llu bytes: %d (got %d, %llu-%llu)", cases[i].v,
			(unsigned long long)cases[i].size, cases[i].want, r, (unsigned long long)a,
			(unsigned long long)b);
	}
}

static void conditionals(void)
{
	struct http_plan plan;
	char f[512];
	test_ok(plan_status("", &plan) == 200 && plan.offset == 0 && plan.length == 100 &&
			plan.send_body,
		"no conditions: 200, the whole file");
	snprintf(f, sizeof(f), "If-None-Match: %s\r\n", meta.etag);
	test_ok(plan_status(f, &plan) == 304 && !plan.send_body, "If-None-Match with our tag: 304");
	snprintf(f, sizeof(f), "If-None-Match: \"x\", W/%s\r\n", meta.etag);
	test_ok(plan_status(f, &plan) == 304, "If-None-Match compares weakly (W/ of our tag): 304");
	test_ok(plan_status("If-None-Match: *\r\n", &plan) == 304, "If-None-Match: * on a file: 304");
	test_ok(plan_status("If-None-Match: \"other\"\r\n", &plan) == 200, "another tag: 200");
	test_ok(plan_status("If-None-Match: garbage\r\n", &plan) == 200, "a malformed list: 200");
	test_ok(plan_status("If-None-Match: \"other\"\r\n"
			    "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n", &plan) == 200,
		"If-None-Match wins over If-Modified-Since");
	test_ok(plan_status("If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n", &plan) == 304,
		"If-Modified-Since equal to Last-Modified: 304");
	test_ok(plan_status("If-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\n", &plan) == 200,
		"If-Modified-Since a second before: 200");
	test_ok(plan_status("If-Modified-Since: yesterday\r\n", &plan) == 200,
		"an invalid If-Modified-Since is ignored");
	test_ok(plan_status("If-Match: \"other\"\r\n", &plan) == 412 && !plan.send_body,
		"If-Match with another tag: 412");
	snprintf(f, sizeof(f), "If-Match: W/%s\r\n", meta.etag);
	test_ok(plan_status(f, &plan) == 412, "If-Match compares strongly (W/ never matches): 412");
	snprintf(f, sizeof(f), "If-Match: \"a\", %s\r\n", meta.etag);
	test_ok(plan_status(f, &plan) == 200, "If-Match with our tag in the list: 200");
	test_ok(plan_status("If-Unmodified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\n", &plan) == 412,
		"modified after If-Unmodified-Since: 412");
	test_ok(plan_status("If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n", &plan) == 200,
		"not modified since If-Unmodified-Since: 200");

	test_ok(plan_status("Range: bytes=10-19\r\n", &plan) == 206 && plan.offset == 10 &&
			plan.length == 10 && plan.send_body,
		"Range: 206 with offset and length");
	test_ok(plan_status("Range: bytes=200-\r\n", &plan) == 416 && !plan.send_body,
		"unsatisfiable Range: 416");
	test_ok(plan_status("Range: bytes=0-1,3-4\r\n", &plan) == 200 && plan.length == 100,
		"several ranges: the whole file");
	snprintf(f, sizeof(f), "If-None-Match: %s\r\nRange: bytes=0-1\r\n", meta.etag);
	test_ok(plan_status(f, &plan) == 304, "304 before Range");
	snprintf(f, sizeof(f), "Range: bytes=0-1\r\nIf-Range: %s\r\n", meta.etag);
	test_ok(plan_status(f, &plan) == 206, "If-Range with our tag: 206");
	test_ok(plan_status("Range: bytes=0-1\r\nIf-Range: \"old\"\r\n", &plan) == 200 &&
			plan.length == 100,
		"If-Range with another tag: the whole file");
	snprintf(f, sizeof(f), "Range: bytes=0-1\r\nIf-Range: W/%s\r\n", meta.etag);
	test_ok(plan_status(f, &plan) == 200, "If-Range with a weak tag: the whole file");
	test_ok(plan_status("Range: bytes=0-1\r\nIf-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
			    &plan) == 206,
		"If-Range with Last-Modified: 206");
	test_ok(plan_status("Range: bytes=0-1\r\nIf-Range: Sun, 06 Nov 1994 08:49:38 GMT\r\n",
			    &plan) == 200,
		"If-Range with another date: the whole file");

	request("Range: bytes=0-1\r\n", "HEAD");
	http_plan_response(&req, &meta, &plan);
	test_ok(plan.status == 200 && plan.length == 100 && !plan.send_body,
		"HEAD: 200 without a body, Range ignored");
}

static bool has(const uint8_t *buf, size_t n, const char *s)
{
	return n && memmem(buf, n, s, strlen(s)) != NULL;
}

static void heads(void)
{
	uint8_t buf[1024];
	struct http_plan plan;
	plan_status("Range: bytes=10-19\r\n", &plan);
	size_t n = http_format_file_head(buf, sizeof(buf), &req, &meta, &plan, T0 + 60);
	test_ok(n > 0 && memcmp(buf, "HTTP/1.1 206 Partial Content\r\n", 30) == 0 &&
			has(buf, n, "\r\nDate: Sun, 06 Nov 1994 08:50:37 GMT\r\n") &&
			has(buf, n, "\r\nServer: kstatic\r\n") &&
			has(buf, n, "\r\nContent-Type: text/plain; charset=utf-8\r\n") &&
			has(buf, n, "\r\nContent-Length: 10\r\n") &&
			has(buf, n, "\r\nContent-Range: bytes 10-19/100\r\n") &&
			has(buf, n, "\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n") &&
			has(buf, n, "\r\nAccept-Ranges: bytes\r\n") && has(buf, n, meta.etag) &&
			!has(buf, n, "Connection") && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0,
		"206 head: every header, ends with an empty line");
	test_ok(http_format_file_head(buf, n - 1, &req, &meta, &plan, T0) == 0,
		"a buffer one byte short: 0, nothing overflows");

	char f[256];
	snprintf(f, sizeof(f), "If-None-Match: %s\r\nConnection: close\r\n", meta.etag);
	plan_status(f, &plan);
	n = http_format_file_head(buf, sizeof(buf), &req, &meta, &plan, T0);
	test_ok(n > 0 && memcmp(buf, "HTTP/1.1 304 Not Modified\r\n", 27) == 0 &&
			!has(buf, n, "Content-Length") && has(buf, n, "\r\nETag: ") &&
			has(buf, n, "\r\nConnection: close\r\n"),
		"304 head: ETag, no Content-Length, Connection: close");

	struct http_parser p;
	const char *r10 = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
	http_parser_init(&p, 0);
	http_parse(&p, (const uint8_t *)r10, strlen(r10), &req);
	http_plan_response(&req, &meta, &plan);
	n = http_format_file_head(buf, sizeof(buf), &req, &meta, &plan, T0);
	test_ok(n > 0 && has(buf, n, "\r\nConnection: keep-alive\r\n") &&
			has(buf, n, "\r\nContent-Length: 100\r\n"),
		"HTTP/1.0 keep-alive is confirmed in the head");

	n = http_format_error(buf, sizeof(buf), 405, false, false, 1, 0, T0);
	test_ok(n > 0 && memcmp(buf, "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0 &&
			has(buf, n, "\r\nAllow: GET, HEAD\r\n") &&
			has(buf, n, "\r\nConnection: close\r\n") &&
			has(buf, n, "\r\nContent-Length: 23\r\n") &&
			memcmp(buf + n - 23, "405 Method Not Allowed\n", 23) == 0,
		"405: Allow, close, a one-line body of its Content-Length");
	n = http_format_error(buf, sizeof(buf), 416, true, true, 1, 100, T0);
	test_ok(n > 0 && has(buf, n, "\r\nContent-Range: bytes */100\r\n") &&
			memcmp(buf + n - 4, "\r\n\r\n", 4) == 0 &&
			has(buf, n, "\r\nContent-Length: 26\r\n") && !has(buf, n, "Connection"),
		"416 for HEAD: Content-Range */size, no body, keep-alive");
	static const int statuses[] = { 400, 404, 413, 414, 431, 505 };
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		char line[64];
		n = http_format_error(buf, sizeof(buf), statuses[i], false, false, 1, 0, T0);
		snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", statuses[i], http_reason(statuses[i]));
		test_ok(n > 0 && memcmp(buf, line, strlen(line)) == 0 &&
				strcmp(http_reason(statuses[i]), "Unknown") != 0,
			"error %d: %s", statuses[i], http_reason(statuses[i]));
	}
	test_ok(http_format_error(buf, 40, 404, false, true, 1, 0, T0) == 0, "no room: 0");
}

static void access_log(void)
{
	char line[512];
	const char *s = "GET /a\"b\\c HTTP/1.1\r\nHost: h\r\n\r\n";
	struct http_parser p;
	http_parser_init(&p, 0);
	http_parse(&p, (const uint8_t *)s, strlen(s), &req);
	struct http_log_entry e = { "192.0.2.1:50000", T0, &req, 200, 1234, 57, true };
	size_t n = http_format_access_log(line, sizeof(line), &e);
	test_ok(n == strlen(line) &&
			strcmp(line, "192.0.2.1:50000 - - [06/Nov/1994:08:49:37 +0000] "
				     "\"GET /a\\x22b\\x5cc HTTP/1.1\" 200 1234 57us 0rtt\n") == 0,
		"access log line, quote and backslash escaped: %.*s", (int)n - 1, line);
	e.req = NULL;
	e.status = 400;
	e.early = false;
	e.peer = NULL;
	n = http_format_access_log(line, sizeof(line), &e);
	test_ok(strcmp(line, "- - - [06/Nov/1994:08:49:37 +0000] \"- - HTTP/1.1\" 400 1234 57us\n") == 0,
		"no request: dashes: %.*s", (int)n - 1, line);
	n = http_format_access_log(line, 20, &e);
	test_ok(n == 19 && line[18] == '\n' && line[19] == '\0', "truncated, still one line");
}

int main(void)
{
	types_and_dates();
	ranges();
	conditionals();
	heads();
	access_log();
	return test_done();
}
