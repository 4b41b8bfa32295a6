/* Heap accounting by replacing malloc and friends in the daemon binary
 * (glibc supports this: "Replacing malloc" in its manual). Each call goes
 * to glibc's own allocator (__libc_*) and adds or subtracts the block's
 * malloc_usable_size. CRYPTO_set_mem_functions alone would not do: the
 * engine (tls_conn, tls_buf) and the daemon (sessions, applications)
 * allocate with plain malloc/calloc/realloc.
 *
 * Cheap under --loops N: each thread adds to its own counter, on its own
 * cache line, with a plain load and store (only the owner writes it); a
 * reader sums them. A block freed on another thread than the one that
 * allocated it makes one counter go negative and another positive: the sum
 * stays right. Threads beyond HEAP_SLOTS share one atomic counter.
 *
 * Under ASan (make SAN=1) the sanitizer owns malloc: nothing is replaced
 * and the gauge is absent. */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#include "heap.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HEAP_COUNTED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || __has_feature(thread_sanitizer)
#define HEAP_COUNTED 0
#endif
#endif
#ifndef HEAP_COUNTED
#define HEAP_COUNTED 1
#endif

#if HEAP_COUNTED

#define HEAP_SLOTS 128             /* main + up to 64 loops, with room */
#define EXPORT __attribute__((visibility("default")))

/* glibc's allocator under its own names */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void *__libc_valloc(size_t n);
extern void *__libc_pvalloc(size_t n);
extern void __libc_free(void *p);

struct slot {
	_Alignas(64) int64_t bytes;
};

static struct slot slots[HEAP_SLOTS + 1]; /* the last one: shared, atomic */
static unsigned slots_taken;
/* initial-exec: no __tls_get_addr (which may itself allocate) */
static __thread struct slot *mine __attribute__((tls_model("initial-exec")));

static void account(int64_t delta)
{
	struct slot *s = mine;

	if (!s) {
		unsigned i = __atomic_fetch_add(&slots_taken, 1, __ATOMIC_RELAXED);
		s = mine = &slots[i < HEAP_SLOTS ? i : HEAP_SLOTS];
	}
	if (s == &slots[HEAP_SLOTS])
		__atomic_add_fetch(&s->bytes, delta, __ATOMIC_RELAXED);
	else  /* only this thread writes it: no locked instruction */
		__atomic_store_n(&s->bytes, __atomic_load_n(&s->bytes, __ATOMIC_RELAXED) + delta,
				 __ATOMIC_RELAXED);
}

static void *counted(void *p)
{
	if (p)
		account((int64_t)malloc_usable_size(p));
	return p;
}

EXPORT void *malloc(size_t n)
{
	return counted(__libc_malloc(n));
}

EXPORT void *calloc(size_t n, size_t size)
{
	return counted(__libc_calloc(n, size));
}

EXPORT void free(void *p)
{
	if (!p)
		return;
	account(-(int64_t)malloc_usable_size(p));
	__libc_free(p);
}

EXPORT void *realloc(void *p, size_t n)
{
	size_t before = p ? malloc_usable_size(p) : 0;
	void *q = __libc_realloc(p, n);

	if (q)
		account((int64_t)malloc_usable_size(q) - (int64_t)before);
	else if (p && n == 0)      /* realloc(p, 0) freed p */
		account(-(int64_t)before);
	return q;
}

/* glibc's reallocarray would reach __libc_realloc directly, uncounted */
EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, total);
}

EXPORT void *memalign(size_t align, size_t n)
{
	return counted(__libc_memalign(align, n));
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	return counted(__libc_memalign(align, n));
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	if (!(p = __libc_memalign(align, n)))
		return ENOMEM;
	*out = counted(p);
	return 0;
}

EXPORT void *valloc(size_t n)
{
	return counted(__libc_valloc(n));
}

EXPORT void *pvalloc(size_t n)
{
	return counted(__libc_pvalloc(n));
}

bool heap_counted(void)
{
	return true;
}

int64_t heap_live_bytes(void)
{
	int64_t sum = 0;

	for (unsigned i = 0; i <= HEAP_SLOTS; i++)
		sum += __atomic_load_n(&slots[i].bytes, __ATOMIC_RELAXED);
	return sum;
}

#else

bool heap_counted(void)
{
	return false;
}

int64_t heap_live_bytes(void)
{
	return -1;
}

#endif
