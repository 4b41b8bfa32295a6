#include "test.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int n_run, n_failed;

__attribute__((format(printf, 3, 0))) static void vline(const char *prefix, const char *suffix, const char *fmt, va_list ap)
{
	printf("%s %d - ", prefix, ++n_run);
	vprintf(fmt, ap);
	printf("%s\n", suffix);
	fflush(stdout);
}

bool test_ok(bool cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vline(cond ? "ok" : "not ok", "", fmt, ap);
	va_end(ap);
	if (!cond)
		n_failed++;
	return cond;
}

void test_skip(const char *why, const char *fmt, ...)
{
	char suffix[256];
	va_list ap;
	snprintf(suffix, sizeof(suffix), " # SKIP %s", why);
	va_start(ap, fmt);
	vline("ok", suffix, fmt, ap);
	va_end(ap);
}

void test_diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

int test_done(void)
{
	printf("1..%d\n", n_run);
	fflush(stdout);
	return n_failed ? 1 : 0;
}

size_t test_unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;
	for (const char *p = hex; *p; p++) {
		if (isspace((unsigned char)*p))
			continue;
		int v = isdigit((unsigned char)*p) ? *p - '0'
			: (tolower((unsigned char)*p) >= 'a' && tolower((unsigned char)*p) <= 'f')
				  ? tolower((unsigned char)*p) - 'a' + 10 : -1;
		if (v < 0) {
			fprintf(stderr, "test_unhex: bad character '%c'\n", *p);
			abort();
		}
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n >= cap) {
			fprintf(stderr, "test_unhex: vector longer than %zu bytes\n", cap);
			abort();
		}
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0) {
		fprintf(stderr, "test_unhex: odd number of hex digits\n");
		abort();
	}
	return n;
}

void test_dump(const char *label, const uint8_t *p, size_t n)
{
	printf("# %s:", label);
	for (size_t i = 0; i < n; i++)
		printf("%s%02x", i % 32 == 0 ? "\n#   " : "", p[i]);
	printf("\n");
}

void test_keylog_to_file(void *file, const char *line)
{
	fprintf(file, "%s\n", line);
	fflush(file);
}
