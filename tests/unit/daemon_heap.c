/* handshaked's heap gauge (handshaked/heap.c), linked alone into this test:
 * it replaces malloc here as in the daemon. Every way to allocate is
 * counted by its usable size and returns to the baseline when freed, also
 * when blocks move between threads (--loops N: a session may be freed by
 * another thread than the one that made it). */
#include <pthread.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "../../handshaked/heap.h"
#include "test.h"

#define THREADS 4
#define PER_THREAD 2000

/* The compiler must not elide a malloc/free pair we measure. */
static void *volatile sink;
/* not a constant: the compiler would refuse the overflowing call */
static volatile size_t huge = SIZE_MAX / 2;

static void *made[THREADS][PER_THREAD];

static void *alloc_many(void *arg)
{
	void **out = arg;
	for (size_t i = 0; i < PER_THREAD; i++)
		out[i] = malloc(16 + i % 512);
	return NULL;
}

static void *churn(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < 20000; i++) {
		void *p = malloc(1 + i % 4000);
		p = realloc(p, 1 + (i * 7) % 9000);
		sink = p;
		free(p);
	}
	return NULL;
}

int main(void)
{
	int64_t base, d;
	void *p, *q;
	char *s;

	if (!heap_counted()) {
		test_skip("a sanitizer owns malloc in this build", "heap gauge");
		return test_done();
	}
	/* what stays allocated once made: stdout's buffer, OpenSSL's set-up */
	test_diag("heap at start: %lld bytes", (long long)heap_live_bytes());
	EVP_MD_CTX_free(EVP_MD_CTX_new());
	base = heap_live_bytes();
	test_ok(base > 0, "stdout's buffer and OpenSSL's set-up counted (%lld bytes)", (long long)base);

	p = malloc(100);
	sink = p;
	d = heap_live_bytes() - base;
	test_ok(p && d == (int64_t)malloc_usable_size(p), "malloc(100): +%lld = usable size", (long long)d);
	q = realloc(p, 5000);
	d = heap_live_bytes() - base;
	test_ok(q && d == (int64_t)malloc_usable_size(q), "realloc to 5000: +%lld = new usable size", (long long)d);
	free(q);
	test_ok(heap_live_bytes() == base, "free: back to the baseline");

	p = calloc(10, 33);
	test_ok(p && heap_live_bytes() - base == (int64_t)malloc_usable_size(p), "calloc counted");
	p = realloc(p, 0);         /* frees in glibc, NULL back */
	free(p);
	test_ok(heap_live_bytes() == base, "realloc(p, 0) uncounts p");

	p = NULL;
	test_ok(posix_memalign(&p, 64, 300) == 0 && ((uintptr_t)p & 63) == 0 &&
			heap_live_bytes() - base == (int64_t)malloc_usable_size(p),
		"posix_memalign counted, aligned");
	free(p);
	q = aligned_alloc(128, 256);
	test_ok(q && ((uintptr_t)q & 127) == 0 && heap_live_bytes() - base == (int64_t)malloc_usable_size(q),
		"aligned_alloc counted, aligned");
	free(q);
	p = reallocarray(NULL, 40, 25);
	test_ok(p && heap_live_bytes() - base == (int64_t)malloc_usable_size(p), "reallocarray counted");
	free(p);
	test_ok(reallocarray(NULL, huge, 3) == NULL && heap_live_bytes() == base,
		"reallocarray overflow: NULL, nothing counted");
	test_ok(posix_memalign(&p, 3, 10) != 0 && heap_live_bytes() == base,
		"posix_memalign with a bad alignment: refused, nothing counted");
	test_ok(heap_live_bytes() == base, "all of them freed: baseline");

	/* libc's own allocations and libcrypto's go through the same functions */
	s = strdup("a string libc copies with malloc");
	test_ok(s && heap_live_bytes() - base == (int64_t)malloc_usable_size(s), "strdup counted");
	free(s);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	test_ok(md && heap_live_bytes() > base, "OpenSSL's allocations counted (%lld bytes)",
		(long long)(heap_live_bytes() - base));
	EVP_MD_CTX_free(md);
	test_ok(heap_live_bytes() == base, "and uncounted when OpenSSL frees");

	/* blocks made on THREADS threads, freed here */
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, alloc_many, made[i]);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	int64_t expect = 0;
	for (int i = 0; i < THREADS; i++)
		for (size_t j = 0; j < PER_THREAD; j++)
			expect += made[i][j] ? (int64_t)malloc_usable_size(made[i][j]) : 0;
	/* glibc keeps a little per thread (its TLS vector, with the cached stack) */
	int64_t threads_heap = heap_live_bytes() - base - expect;
	test_ok(threads_heap >= 0 && threads_heap < 2048 * THREADS, "%d threads' blocks counted (+%lld beyond them)",
		THREADS, (long long)threads_heap);
	for (int i = 0; i < THREADS; i++)
		for (size_t j = 0; j < PER_THREAD; j++)
			free(made[i][j]);
	test_ok(heap_live_bytes() - base == threads_heap, "freed by another thread: back to the baseline");

	/* concurrent churn: nothing lost or torn */
	int64_t before = heap_live_bytes();
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, churn, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	test_ok(heap_live_bytes() == before, "%d threads of malloc/realloc/free churn: net zero", THREADS);
	return test_done();
}
