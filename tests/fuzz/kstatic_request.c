/* libFuzzer: kstatic's request parser, and what the server then does with a
 * parsed request (path normalisation, the response plan and head, the log
 * line). Self-contained: only the kstatic core and the wire reader.
 *
 * Input: byte 0 picks the head cap (bits 0-1) and how many split points
 * follow (bits 2-3, each a big-endian u16); the rest is a connection's byte
 * stream. It is parsed twice: whole (pipelined requests one after another)
 * and delivered in pieces as a socket might; both must give the same
 * requests. Each request must satisfy the parser's promises. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../examples/kstatic/http_path.h"
#include "../../examples/kstatic/http_request.h"
#include "../../examples/kstatic/http_response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REQUESTS 64

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz invariant violated: %s\n", what);
		__builtin_trap();
	}
}

struct outcome {
	enum http_parse_result rc;
	int status;
	size_t consumed;
	enum http_method method;
	bool keep_alive;
	char target[HTTP_TARGET_MAX + 1];
};

/* What the server would do with req: every step must stay in bounds. */
static void serve(const struct http_request *req)
{
	char path[HTTP_PATH_MAX];
	const char *why;
	int rc = http_path_from_target(req->target, req->target_len, path, sizeof(path), &why);
	if (rc == 0) {
		check(path[0] != '/' && strlen(path) > 0, "a relative, non-empty path");
		/* no ".." segment survives normalisation */
		for (const char *s = path; *s;) {
			const char *e = strchrnul(s, '/');
			check(!(e - s == 2 && s[0] == '.' && s[1] == '.'), "no .. segment left");
			s = *e ? e + 1 : e;
		}
	} else {
		check((rc == 400 || rc == 414) && why, "path refusals are 400/414 with a reason");
	}
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_size = 1000;
	st.st_ino = 42;
	st.st_mtim.tv_sec = 784111777;
	struct http_file_meta m;
	http_file_meta_init(&m, &st, rc == 0 ? path : "x");
	struct http_plan plan;
	http_plan_response(req, &m, &plan);
	check(plan.offset + plan.length <= m.size, "the plan stays inside the file");
	check(plan.status == 200 || plan.status == 206 || plan.status == 304 || plan.status == 412 ||
		      plan.status == 416,
	      "plan status");
	check(!plan.send_body || req->method == HTTP_GET, "HEAD sends no body");
	uint8_t head[1024];
	size_t n = plan.status == 412 || plan.status == 416
			   ? http_format_error(head, sizeof(head), plan.status,
					       req->method == HTTP_HEAD, req->keep_alive, req->minor,
					       m.size, 0)
			   : http_format_file_head(head, sizeof(head), req, &m, &plan, 0);
	check(n >= 4, "the head fits 1 KiB");
	char line[HTTP_TARGET_MAX * 4 + 256];
	struct http_log_entry e = { "peer", 0, req, plan.status, plan.length, 1, false };
	size_t len = http_format_access_log(line, sizeof(line), &e);
	check(len > 0 && line[len - 1] == '\n' && memchr(line, '\n', len) == line + len - 1,
	      "one log line");
}

/* Parses the stream as delivered in pieces ending at cut[0..k) and size. */
static size_t run(const uint8_t *data, size_t size, size_t max_head, const size_t *cut, size_t k,
		  struct outcome *out, bool checks)
{
	static struct http_request req;
	struct http_parser p;
	http_parser_init(&p, max_head);
	size_t start = 0, count = 0, piece = 0;
	size_t avail = k ? cut[0] : size;
	while (count < MAX_REQUESTS) {
		enum http_parse_result rc = http_parse(&p, data + start, avail - start, &req);
		if (rc == HTTP_PARSE_MORE) {
			check(p.scanned <= avail - start, "scanned within the buffer");
			if (avail == size)
				break;
			piece++;
			avail = piece < k ? cut[piece] : size;
			continue;
		}
		struct outcome *o = &out[count++];
		o->rc = rc;
		o->status = req.status;
		o->consumed = req.consumed;
		o->method = req.method;
		o->keep_alive = req.keep_alive;
		memcpy(o->target, req.target, sizeof(o->target));
		if (rc == HTTP_PARSE_ERROR) {
			check(req.error && (req.status == 400 || req.status == 405 || req.status == 413 ||
					    req.status == 414 || req.status == 431 || req.status == 505),
			      "an error has a listed status and a reason");
			check(!http_early_may_answer(&req, true), "errors wait for confirmation");
			break; /* the connection closes */
		}
		check(req.consumed > 0 && req.consumed <= avail - start, "consumed within the input");
		check(req.consumed <= max_head, "a request within the cap");
		check(req.method == HTTP_GET || req.method == HTTP_HEAD, "GET or HEAD");
		check(req.minor == 0 || req.minor == 1, "HTTP/1.0 or 1.1");
		check(req.target_len > 0 && req.target_len <= HTTP_TARGET_MAX &&
			      strlen(req.target) == req.target_len && req.target[0] == '/',
		      "an origin-form target");
		check(req.has_query == (strchr(req.target, '?') != NULL), "has_query");
		check(req.minor == 0 || req.has_host, "HTTP/1.1 has a Host");
		check(!req.has_range || req.method == HTTP_GET, "Range only on GET");
		if (checks)
			serve(&req);
		start += req.consumed;
	}
	return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[4] = { 0, 64, 512, 4096 };
	static struct outcome whole[MAX_REQUESTS], pieces[MAX_REQUESTS];
	if (size < 1)
		return 0;
	size_t max_head = caps[data[0] & 3], want = (data[0] >> 2) & 3, k = 0;
	size_t cut[3];
	data++, size--;
	for (; k < want && size >= 2; k++) {
		cut[k] = (size_t)data[0] << 8 | data[1];
		data += 2, size -= 2;
	}
	for (size_t i = 0; i < k; i++) {
		cut[i] %= size + 1;
		for (size_t j = i; j > 0 && cut[j - 1] > cut[j]; j--) {
			size_t t = cut[j];
			cut[j] = cut[j - 1];
			cut[j - 1] = t;
		}
	}
	if (max_head == 0)
		max_head = HTTP_HEAD_DEFAULT_MAX;
	size_t a = run(data, size, max_head, NULL, 0, whole, true);
	size_t b = run(data, size, max_head, cut, k, pieces, false);
	check(a == b, "the same number of requests whole and in pieces");
	for (size_t i = 0; i < a; i++)
		check(whole[i].rc == pieces[i].rc && whole[i].status == pieces[i].status &&
			      whole[i].method == pieces[i].method &&
			      whole[i].keep_alive == pieces[i].keep_alive &&
			      strcmp(whole[i].target, pieces[i].target) == 0 &&
			      (whole[i].rc == HTTP_PARSE_ERROR || whole[i].consumed == pieces[i].consumed),
		      "the same requests whole and in pieces");
	return 0;
}
