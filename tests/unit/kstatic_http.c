/* kstatic's request parser: RFC 9112 syntax, framing, limits, keep-alive,
 * pipelining, incremental feeding, and the 0-RTT policy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "../../examples/kstatic/http_request.h"

static struct http_request req;

/* Parses s in one call with head cap max (0: default). */
static enum http_parse_result parse_cap(const char *s, size_t max)
{
	struct http_parser p;
	http_parser_init(&p, max);
	return http_parse(&p, (const uint8_t *)s, strlen(s), &req);
}

static enum http_parse_result parse(const char *s)
{
	return parse_cap(s, 0);
}

/* The status the parser answers s with: 0 when it parses. */
static int status(const char *s)
{
	enum http_parse_result rc = parse(s);
	if (rc == HTTP_PARSE_DONE)
		return 0;
	if (rc == HTTP_PARSE_MORE)
		return -1;
	return req.status;
}

static void basics(void)
{
	const char *s = "GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n";
	test_ok(parse(s) == HTTP_PARSE_DONE && req.method == HTTP_GET && req.minor == 1 &&
			strcmp(req.target, "/index.html") == 0 && req.target_len == 11 &&
			req.has_host && strcmp(req.host, "example.com") == 0 && req.keep_alive &&
			req.consumed == strlen(s) && !req.has_query,
		"a simple GET/1.1 parses, keep-alive by default, consumed all");
	test_ok(parse("HEAD /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_DONE &&
			req.method == HTTP_HEAD && req.has_query &&
			strcmp(req.target, "/a?x=1") == 0,
		"HEAD with a query string");
	test_ok(parse("GET / HTTP/1.1\r\nHost: h\r\n") == HTTP_PARSE_MORE,
		"a head without its empty line needs more");
	test_ok(parse("GET / HTTP/1.1\nHost: h\n\n") == HTTP_PARSE_DONE && req.consumed == 24,
		"lone LF line endings are accepted (RFC 9112 §2.2 MAY)");
	s = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
	test_ok(parse(s) == HTTP_PARSE_DONE && req.consumed == strlen(s),
		"empty lines before the request-line are skipped and consumed");
	test_ok(parse("GET / HTTP/1.1\r\nhOsT:   h  \r\n\r\n") == HTTP_PARSE_DONE &&
			strcmp(req.host, "h") == 0,
		"field names are case-insensitive, OWS around the value trimmed");
	test_ok(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n") == HTTP_PARSE_DONE && req.has_host &&
			req.host[0] == '\0',
		"an empty Host is valid (RFC 9112 §3.2)");
}

static void incremental_and_pipelining(void)
{
	const char *s = "GET /a HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\n\r\n";
	size_t len = strlen(s);
	struct http_parser p;
	http_parser_init(&p, 0);
	size_t more = 0;
	enum http_parse_result rc = HTTP_PARSE_MORE;
	for (size_t i = 1; i <= len; i++) {
		rc = http_parse(&p, (const uint8_t *)s, i, &req);
		if (rc != HTTP_PARSE_MORE)
			break;
		more++;
	}
	test_ok(rc == HTTP_PARSE_DONE && more == len - 1 && req.consumed == len &&
			req.has_range && strcmp(req.range, "bytes=0-1") == 0,
		"fed byte by byte: MORE %zu times, then the same request", more);
	test_ok(p.scanned == 0, "the parser resets itself after a request");

	const char *two = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: h\r\n"
			  "Connection: close\r\n\r\nGET /3";
	http_parser_init(&p, 0);
	size_t at = 0, n = strlen(two);
	bool ok = http_parse(&p, (const uint8_t *)two, n, &req) == HTTP_PARSE_DONE &&
		  strcmp(req.target, "/1") == 0 && req.keep_alive;
	at += req.consumed;
	ok = ok && http_parse(&p, (const uint8_t *)two + at, n - at, &req) == HTTP_PARSE_DONE &&
	     req.method == HTTP_HEAD && strcmp(req.target, "/2") == 0 && !req.keep_alive;
	at += req.consumed;
	ok = ok && http_parse(&p, (const uint8_t *)two + at, n - at, &req) == HTTP_PARSE_MORE;
	test_ok(ok, "pipelined requests parse one after another from consumed");
}

static void request_line(void)
{
	test_ok(status("POST / HTTP/1.1\r\nHost: h\r\n\r\n") == 405, "POST: 405");
	test_ok(status("DELETE / HTTP/1.1\r\nHost: h\r\n\r\n") == 405, "DELETE: 405");
	test_ok(status("get / HTTP/1.1\r\nHost: h\r\n\r\n") == 405,
		"methods are case-sensitive: get is 405");
	test_ok(status("G(T / HTTP/1.1\r\nHost: h\r\n\r\n") == 400, "a method that is not a token: 400");
	test_ok(status("GET / HTTP/2.0\r\nHost: h\r\n\r\n") == 505, "HTTP/2.0 on HTTP/1 framing: 505");
	test_ok(status("GET / HTTP/0.9\r\nHost: h\r\n\r\n") == 505, "HTTP/0.9: 505");
	test_ok(parse("GET / HTTP/1.2\r\nHost: h\r\n\r\n") == HTTP_PARSE_DONE && req.minor == 1,
		"HTTP/1.2 is served as 1.1");
	test_ok(status("GET / HTTP/1.10\r\nHost: h\r\n\r\n") == 400, "HTTP/1.10: 400");
	test_ok(status("GET / http/1.1\r\nHost: h\r\n\r\n") == 400, "lower-case HTTP-name: 400");
	test_ok(status("GET  / HTTP/1.1\r\nHost: h\r\n\r\n") == 400, "two spaces: 400");
	test_ok(status("GET / HTTP/1.1 \r\nHost: h\r\n\r\n") == 400, "trailing space: 400");
	test_ok(status("GET /\tx HTTP/1.1\r\nHost: h\r\n\r\n") == 400, "tab in the target: 400");
	test_ok(status("GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n") == 400, "fragment in the target: 400");
	test_ok(status("GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n") == 400, "DEL in the target: 400");
	test_ok(status("GET /\x80 HTTP/1.1\r\nHost: h\r\n\r\n") == 400, "non-ASCII in the target: 400");
	test_ok(status("GET * HTTP/1.1\r\nHost: h\r\n\r\n") == 400, "asterisk-form for GET: 400");
	test_ok(status("GET / HTTP/1.1\rX\r\nHost: h\r\n\r\n") == 400, "bare CR in the request-line: 400");

	test_ok(parse("GET /x HTTP/1.1\r\n") == HTTP_PARSE_MORE, "a good request-line alone: more");
	test_ok(parse("POST /x HTTP/1.1\r\n") == HTTP_PARSE_ERROR && req.status == 405,
		"a bad request-line is refused as soon as it ends");

	/* absolute-form: its authority replaces Host (RFC 9112 §3.2.3) */
	test_ok(parse("GET http://Example.com:8080/a/b?q HTTP/1.1\r\nHost: other\r\n\r\n") ==
				HTTP_PARSE_DONE &&
			strcmp(req.host, "Example.com:8080") == 0 &&
			strcmp(req.target, "/a/b?q") == 0 && req.has_query,
		"absolute-form: the authority wins over Host, the path is the target");
	test_ok(parse("GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_DONE &&
			strcmp(req.target, "/") == 0,
		"absolute-form without a path targets /");
	test_ok(parse("GET http://h?x HTTP/1.1\r\nHost: h\r\n\r\n") == HTTP_PARSE_DONE &&
			strcmp(req.target, "/?x") == 0,
		"absolute-form with only a query");
	test_ok(status("GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n") == 400,
		"userinfo in absolute-form: 400");
	test_ok(status("GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n") == 400, "other schemes: 400");

	/* 414 */
	char *big = malloc(HTTP_TARGET_MAX + 200);
	strcpy(big, "GET /");
	memset(big + 5, 'a', HTTP_TARGET_MAX);
	strcpy(big + 5 + HTTP_TARGET_MAX, " HTTP/1.1\r\nHost: h\r\n\r\n");
	test_ok(status(big) == 414, "a target over %d bytes: 414", HTTP_TARGET_MAX);
	memset(big + 5, 'a', HTTP_TARGET_MAX + 100);
	big[5 + HTTP_TARGET_MAX + 100] = '\0';
	test_ok(parse_cap(big, 64 * 1024) == HTTP_PARSE_ERROR && req.status == 414,
		"a long target is refused before its line ends");
	memset(big + 5, 'a', HTTP_TARGET_MAX);
	big[5 + HTTP_TARGET_MAX - 1] = '\0';
	strcat(big, " HTTP/1.1\r\nHost: h\r\n\r\n");
	test_ok(parse(big) == HTTP_PARSE_DONE && req.target_len == HTTP_TARGET_MAX,
		"a target of exactly %d bytes is fine", HTTP_TARGET_MAX);
	free(big);
}

static void fields(void)
{
	test_ok(status("GET / HTTP/1.1\r\n\r\n") == 400, "HTTP/1.1 without Host: 400");
	test_ok(status("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n") == 400, "two Hosts: 400");
	test_ok(status("GET / HTTP/1.1\r\nHost: a b\r\n\r\n") == 400, "Host with a space: 400");
	test_ok(status("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n") == 400, "Host with a slash: 400");
	test_ok(parse("GET / HTTP/1.0\r\n\r\n") == HTTP_PARSE_DONE && !req.has_host &&
			!req.keep_alive && req.minor == 0,
		"HTTP/1.0 without Host: fine, closes by default");
	test_ok(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") == HTTP_PARSE_DONE &&
			req.keep_alive,
		"HTTP/1.0 with keep-alive stays open");
	test_ok(parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n") ==
				HTTP_PARSE_DONE && !req.keep_alive,
		"close wins over keep-alive");
	test_ok(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo\r\nConnection: CLOSE\r\n\r\n") ==
				HTTP_PARSE_DONE && !req.keep_alive,
		"HTTP/1.1 with close on a second Connection line closes");

	test_ok(status("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n") == 400, "obs-fold: 400");
	test_ok(status("GET / HTTP/1.1\r\n Host: h\r\n\r\n") == 400,
		"whitespace before the first field: 400");
	test_ok(status("GET / HTTP/1.1\r\nHost : h\r\n\r\n") == 400,
		"space between field name and colon: 400 (RFC 9112 §5.1)");
	test_ok(status("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n") == 400, "tab before the colon: 400");
	test_ok(status("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n") == 400, "no colon: 400");
	test_ok(status("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n") == 400, "empty field name: 400");
	test_ok(status("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n") == 400,
		"bare CR in a value: 400");
	const char nul[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n";
	struct http_parser p;
	http_parser_init(&p, 0);
	test_ok(http_parse(&p, (const uint8_t *)nul, sizeof(nul) - 1, &req) == HTTP_PARSE_ERROR &&
			req.status == 400,
		"NUL in a value: 400");
	test_ok(status("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n") == 400, "CTL in a value: 400");
	test_ok(parse("GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n") == HTTP_PARSE_DONE,
		"obs-text in a value is fine");
}

static void framing(void)
{
	test_ok(status("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n") == 0,
		"Content-Length: 0 is accepted");
	test_ok(status("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello") == 413,
		"a body: 413");
	test_ok(status("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n") == 413,
		"an agreeing Content-Length list is the same body: 413");
	test_ok(status("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n") == 0,
		"agreeing duplicate Content-Length: 0 is accepted");
	test_ok(status("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 2\r\n\r\n") == 400,
		"a disagreeing Content-Length list: 400");
	test_ok(status("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n") ==
			400,
		"disagreeing Content-Length lines: 400");
	test_ok(status("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n") == 400,
		"a negative Content-Length: 400");
	test_ok(status("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n") ==
			400,
		"an overflowing Content-Length: 400");
	test_ok(status("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n") == 400,
		"an empty Content-Length: 400");
	test_ok(status("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n") == 413,
		"chunked body: 413");
	test_ok(status("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
		       "Content-Length: 0\r\n\r\n") == 400,
		"Content-Length with Transfer-Encoding (smuggling): 400");
	test_ok(status("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n") == 400,
		"Transfer-Encoding not ending in chunked: 400");
	test_ok(status("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") == 400,
		"Transfer-Encoding in HTTP/1.0: 400");
}

static void limits(void)
{
	char buf[16384];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: h\r\n");
	while (n < 600)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-Pad: 0123456789\r\n");
	snprintf(buf + n, sizeof(buf) - n, "\r\n");
	test_ok(parse_cap(buf, 512) == HTTP_PARSE_ERROR && req.status == 431,
		"a head over the cap (512): 431");
	test_ok(parse_cap(buf, 1024) == HTTP_PARSE_DONE, "the same head under a 1024 cap parses");
	const char *exact = "GET / HTTP/1.1\r\nHost: h\r\n\r\n"; /* 27 bytes */
	test_ok(parse_cap(exact, 27) == HTTP_PARSE_DONE, "a head of exactly the cap parses");
	test_ok(parse_cap(exact, 26) == HTTP_PARSE_ERROR && req.status == 431,
		"a head one byte over the cap: 431");
	buf[n] = '\0'; /* no end: the cap must still stop it */
	test_ok(parse_cap(buf, 512) == HTTP_PARSE_ERROR && req.status == 431,
		"an endless head is refused at the cap");

	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: h\r\n");
	for (int i = 0; i < HTTP_FIELDS_MAX; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X: %d\r\n", i);
	snprintf(buf + n, sizeof(buf) - n, "\r\n");
	test_ok(parse(buf) == HTTP_PARSE_ERROR && req.status == 431,
		"more than %d field lines: 431", HTTP_FIELDS_MAX);

	char *r = buf + snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=");
	memset(r, '1', HTTP_VALUE_MAX);
	strcpy(r + HTTP_VALUE_MAX, "\r\n\r\n");
	test_ok(parse(buf) == HTTP_PARSE_ERROR && req.status == 431, "a Range value over %d: 431",
		HTTP_VALUE_MAX);
	r = buf + snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: ");
	memset(r, 'h', HTTP_HOST_MAX + 1);
	strcpy(r + HTTP_HOST_MAX + 1, "\r\n\r\n");
	test_ok(status(buf) == 400, "a Host over %d bytes: 400", HTTP_HOST_MAX);
}

static void conditionals(void)
{
	test_ok(parse("GET / HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"a\"\r\n"
		      "If-None-Match: W/\"b\"\r\n\r\n") == HTTP_PARSE_DONE &&
			req.has_if_none_match &&
			strcmp(req.if_none_match, "\"a\", W/\"b\"") == 0,
		"If-None-Match lines are joined as one list");
	test_ok(parse("GET / HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
		      "\r\n") == HTTP_PARSE_DONE &&
			req.has_if_modified_since &&
			strcmp(req.if_modified_since, "Sun, 06 Nov 1994 08:49:37 GMT") == 0,
		"If-Modified-Since kept");
	test_ok(parse("GET / HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: a\r\nIf-Modified-Since: b\r\n"
		      "\r\n") == HTTP_PARSE_DONE && !req.has_if_modified_since,
		"two If-Modified-Since lines: ignored");
	test_ok(parse("GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\nRange: bytes=2-3\r\n\r\n") ==
				HTTP_PARSE_DONE && !req.has_range,
		"two Range lines: Range ignored");
	test_ok(parse("HEAD / HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\n\r\n") == HTTP_PARSE_DONE &&
			!req.has_range,
		"Range on HEAD is ignored (RFC 9110 §14.2: GET only)");
	test_ok(parse("GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\nIf-Range: \"x\"\r\n\r\n") ==
				HTTP_PARSE_DONE &&
			req.has_range && req.has_if_range && strcmp(req.if_range, "\"x\"") == 0,
		"Range with If-Range kept");
}

static void early_policy(void)
{
	parse("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
	test_ok(http_early_may_answer(&req, true), "early GET without a query: answered at once");
	parse("HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n");
	test_ok(http_early_may_answer(&req, true), "early HEAD without a query: answered at once");
	parse("GET /a?id=1 HTTP/1.1\r\nHost: h\r\n\r\n");
	test_ok(!http_early_may_answer(&req, true), "early GET with a query: waits");
	test_ok(http_early_may_answer(&req, false), "the same request not early: answered");
	parse("GET http://h/?x HTTP/1.1\r\nHost: h\r\n\r\n");
	test_ok(!http_early_may_answer(&req, true), "early absolute-form with a query: waits");
	parse("POST /a HTTP/1.1\r\nHost: h\r\n\r\n");
	test_ok(!http_early_may_answer(&req, true), "an early request that failed (405): waits");
	test_ok(http_early_may_answer(&req, false), "the same failure not early: answered");
}

int main(void)
{
	basics();
	incremental_and_pipelining();
	request_line();
	fields();
	framing();
	limits();
	conditionals();
	early_policy();
	return test_done();
}
