/* handshaked's log lines (handshaked/log.c), linked alone into this test:
 * "<N>handshaked: event=NAME key=value ..." in logfmt, values quoted and
 * escaped by log_q so that a peer's bytes (an SNI, a PSK identity) can
 * neither break a line nor forge a key. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../handshaked/log.h"
#include "test.h"

static char path[64];
static int saved = -1;

/* stderr into a temporary file until captured() returns what came. */
static void capture(void)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/daemon_log.XXXXXX");
	fflush(stderr);
	saved = dup(2);
	if (saved < 0 || (fd = mkstemp(path)) < 0 || dup2(fd, 2) < 0)
		abort();
	close(fd);
}

static const char *captured(void)
{
	static char out[8192];
	FILE *f;
	size_t n;

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	if (!(f = fopen(path, "r")))
		abort();
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	unlink(path);
	return out;
}

/* out is exactly want; else the line goes to the diagnostics */
__attribute__((format(printf, 3, 4))) static void same(const char *out, const char *want, const char *fmt, ...)
{
	char name[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	if (!test_ok(strcmp(out, want) == 0, "%s", name))
		test_diag("got: %s", out);
}

static void q_is(const char *in, const char *want, const char *what)
{
	const char *got = log_q(in);
	test_ok(strcmp(got, want) == 0, "log_q %s: %s", what, got);
}

int main(void)
{
	const char *out;
	char big[3000];

	q_is("localhost", "localhost", "a plain value as is");
	q_is("127.0.0.1:443", "127.0.0.1:443", "an address as is");
	q_is("[::1]:443", "[::1]:443", "an IPv6 address as is");
	q_is(NULL, "-", "NULL is -");
	q_is("", "\"\"", "empty is \"\"");
	q_is("a b", "\"a b\"", "a blank: quoted");
	q_is("k=v", "\"k=v\"", "an = sign: quoted (no forged keys)");
	q_is("say \"hi\"", "\"say \\\"hi\\\"\"", "quotes escaped");
	q_is("a\\b", "\"a\\\\b\"", "a backslash escaped");
	q_is("x\ny", "\"x\\ny\"", "a newline escaped: one event, one line");
	q_is("x\ty\r\x01", "\"x\\ty\\x0d\\x01\"", "tab and control bytes escaped");
	q_is("caf\xc3\xa9", "\"caf\\xc3\\xa9\"", "bytes above ASCII escaped");

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	out = log_q(big);
	test_ok(strlen(out) <= 1024 && out[0] == '"' && strcmp(out + strlen(out) - 4, "...\"") == 0,
		"a long value is cut, quoted, ending in ... (%zu bytes)", strlen(out));
	memset(big, '"', 2000);
	big[2000] = '\0';
	out = log_q(big);
	test_ok(strlen(out) <= 1024 && strcmp(out + strlen(out) - 4, "...\"") == 0 && strstr(out, "\\\"...\"") != NULL,
		"cut between escapes, never inside one (%zu bytes)", strlen(out));

	/* LOG_Q_SLOTS results in one call are all intact */
	capture();
	log_ev(LOG_INFO, "eight", "a=%s b=%s c=%s d=%s e=%s f=%s g=%s h=%s", log_q("1 1"), log_q("2 2"), log_q("3 3"),
	       log_q("4 4"), log_q("5 5"), log_q("6 6"), log_q("7 7"), log_q("8 8"));
	out = captured();
	same(out, "<6>handshaked: event=eight a=\"1 1\" b=\"2 2\" c=\"3 3\" d=\"4 4\" e=\"5 5\" f=\"6 6\" "
		  "g=\"7 7\" h=\"8 8\"\n",
	     "%d quoted values in one line", LOG_Q_SLOTS);

	/* the line: priority prefix, event first, one line per call */
	capture();
	log_ev(LOG_WARN, "handshake_failed", "role=server peer=%s reason=tls text=%s", log_q("1.2.3.4:5"),
	       log_q("alert \"x\"\nsent"));
	log_ev(LOG_ERR, "reload_failed", "error=%s", log_q("no such file"));
	log_ev(LOG_DEBUG, "hidden", "x=%d", 1);
	out = captured();
	same(out, "<4>handshaked: event=handshake_failed role=server peer=1.2.3.4:5 reason=tls "
		  "text=\"alert \\\"x\\\"\\nsent\"\n<3>handshaked: event=reload_failed error=\"no such file\"\n",
	     "warn and error lines; debug dropped at the default level");

	capture();
	log_set_level(LOG_DEBUG);
	log_ev(LOG_DEBUG, "shown", "x=%d", 1);
	log_set_level(LOG_ERR);
	log_ev(LOG_WARN, "dropped", "x=%d", 2);
	log_set_level(LOG_INFO);
	out = captured();
	same(out, "<7>handshaked: event=shown x=1\n", "log_set_level");

	/* free text from code not converted yet still makes a logfmt line */
	capture();
	log_msg(LOG_INFO, "hello %s", "world");
	out = captured();
	same(out, "<6>handshaked: event=message text=\"hello world\"\n",
	     "log_msg: event=message text=\"...\"");

	test_ok(log_level_parse("warn") == LOG_WARN && log_level_parse("loud") == -1, "log_level_parse");
	return test_done();
}
