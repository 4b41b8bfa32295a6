/* Minimal TAP producer shared by every test program (host and kselftest).
 *
 *   test_ok(cond, "name %d", i)   one TAP line, "ok N - name" or "not ok N - name"
 *   test_skip("why", "name")      "ok N - name # SKIP why"
 *   test_diag("fmt", ...)         "# ..." comment line
 *   return test_done();           prints the plan, exit status 0 iff nothing failed
 */
#ifndef TEST_TEST_H
#define TEST_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

__attribute__((format(printf, 2, 3))) bool test_ok(bool cond, const char *fmt, ...);
__attribute__((format(printf, 2, 3))) void test_skip(const char *why, const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void test_diag(const char *fmt, ...);
int test_done(void);
/* A tls_keylog_fn writing each key log line to the FILE * ctx. */
void test_keylog_to_file(void *file, const char *line);

/* Hex helpers for vectors: decodes whitespace-separated hex into out
 * (returns length, or aborts on malformed input: a broken vector is a bug). */
size_t test_unhex(const char *hex, uint8_t *out, size_t cap);
/* Prints a "# label: hex" diagnostic. */
void test_dump(const char *label, const uint8_t *p, size_t n);

#endif
