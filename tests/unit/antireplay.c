/* 0-RTT ClientHello recording (RFC 8446 §8.2): replays inside the window are
 * caught, the window forgets, a full cache fails closed, memory is fixed. */
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "tls/antireplay.h"

static void make_key(uint8_t key[32], uint32_t n)
{
	memset(key, 0x5a, 32);
	key[0] = (uint8_t)n;
	key[1] = (uint8_t)(n >> 8);
	key[2] = (uint8_t)(n >> 16);
	key[31] = (uint8_t)(n >> 24);
}

static void window_tests(void)
{
	tls_replay_cache *c = tls_replay_cache_new(20000, 16);
	uint8_t a[32], b[32];
	make_key(a, 1);
	make_key(b, 2);
	uint64_t t0 = 1700000000000ull;
	test_ok(tls_replay_cache_check(c, a, 32, t0) == TLS_REPLAY_FRESH, "first ClientHello is fresh");
	test_ok(tls_replay_cache_check(c, a, 32, t0 + 1) == TLS_REPLAY_SEEN, "replay 1 ms later is caught");
	test_ok(tls_replay_cache_check(c, b, 32, t0 + 2) == TLS_REPLAY_FRESH, "a different binder is fresh");
	test_ok(tls_replay_cache_check(c, a, 31, t0 + 3) == TLS_REPLAY_FRESH,
		"a prefix of a recorded binder is a different key");
	test_ok(tls_replay_cache_check(c, a, 32, t0 + 20000) == TLS_REPLAY_SEEN,
		"replay exactly one window later is still caught");
	test_ok(tls_replay_cache_check(c, a, 32, t0 + 5) == TLS_REPLAY_SEEN,
		"a clock step backwards does not let a replay through");
	test_ok(tls_replay_cache_count(c) == 3, "three entries remembered (%zu)", tls_replay_cache_count(c));
	test_ok(tls_replay_cache_check(c, a, 32, t0 + 20001) == TLS_REPLAY_FRESH,
		"after the window the entry is forgotten (freshness guards from here on)");
	test_ok(tls_replay_cache_count(c) == 3, "the old entry was dropped, the new one recorded");
	test_ok(tls_replay_cache_check(c, b, 32, t0 + 20001) == TLS_REPLAY_SEEN,
		"the second key is still inside its window");
	test_ok(tls_replay_cache_check(c, b, 32, t0 + 40002) == TLS_REPLAY_FRESH &&
		tls_replay_cache_count(c) == 1, "everything but the newest expired");
	test_ok(tls_replay_cache_replays(c) == 4, "replay counter (%llu)",
		(unsigned long long)tls_replay_cache_replays(c));
	tls_replay_cache_free(c);
}

static void full_tests(void)
{
	tls_replay_cache *c = tls_replay_cache_new(1000, 4);
	uint8_t k[32];
	uint64_t t = 5000;
	bool ok = true;
	for (uint32_t i = 0; i < 4; i++) {
		make_key(k, 100 + i);
		ok &= tls_replay_cache_check(c, k, 32, t + i) == TLS_REPLAY_FRESH;
	}
	test_ok(ok && tls_replay_cache_count(c) == 4, "four entries fill a cache of four");
	make_key(k, 200);
	test_ok(tls_replay_cache_check(c, k, 32, t + 10) == TLS_REPLAY_FULL,
		"a new ClientHello when full is refused (fail closed)");
	test_ok(tls_replay_cache_check(c, k, 32, t + 11) == TLS_REPLAY_FULL,
		"and is not recorded by the refusal");
	make_key(k, 101);
	test_ok(tls_replay_cache_check(c, k, 32, t + 12) == TLS_REPLAY_SEEN,
		"a replay is still recognised while full");
	test_ok(tls_replay_cache_refused_full(c) == 2, "refusal counter");
	/* t+1000 keeps everything (<= window); t+1001 frees only the first. */
	make_key(k, 200);
	test_ok(tls_replay_cache_check(c, k, 32, t + 1000) == TLS_REPLAY_FULL,
		"entries exactly one window old still occupy the cache");
	test_ok(tls_replay_cache_check(c, k, 32, t + 1001) == TLS_REPLAY_FRESH,
		"expiry of the oldest entry frees space");
	make_key(k, 201);
	test_ok(tls_replay_cache_check(c, k, 32, t + 1001) == TLS_REPLAY_FULL,
		"only one slot was freed");
	make_key(k, 101);
	test_ok(tls_replay_cache_check(c, k, 32, t + 1001) == TLS_REPLAY_SEEN,
		"the younger entries survive expiry of the oldest");
	tls_replay_cache_free(c);

	test_ok(tls_replay_cache_new(0, 4) == NULL, "zero window refused");
	test_ok(tls_replay_cache_new(1000, 0) == NULL, "zero entries refused");
	test_ok(tls_replay_cache_new(1000, (size_t)TLS_ANTIREPLAY_MAX_ENTRIES + 1) == NULL,
		"too many entries refused");
}

static void memory_tests(void)
{
	static const size_t sizes[] = { 1, 3, 1000, 65536, 100000 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		tls_replay_cache *c = tls_replay_cache_new(10000, sizes[i]);
		size_t before = tls_replay_cache_memory(c);
		size_t bound = 40 * sizes[i] + 256;
		uint8_t k[32];
		/* Fill it twice over, with time moving so half of them expire. */
		for (uint32_t j = 0; j < 2 * sizes[i] && j < 200000; j++) {
			make_key(k, j);
			tls_replay_cache_check(c, k, 32, (uint64_t)j * 20000 / sizes[i]);
		}
		test_ok(before <= bound && tls_replay_cache_memory(c) == before &&
			tls_replay_cache_count(c) <= sizes[i],
			"%zu entries: %zu bytes <= 40 per entry + 256, unchanged after use, count %zu",
			sizes[i], before, tls_replay_cache_count(c));
		tls_replay_cache_free(c);
	}
	tls_replay_cache *c = tls_replay_cache_new(10000, TLS_ANTIREPLAY_DEFAULT_MAX_ENTRIES);
	test_diag("default cache (%d entries): %zu bytes", TLS_ANTIREPLAY_DEFAULT_MAX_ENTRIES,
		  tls_replay_cache_memory(c));
	tls_replay_cache_free(c);
}

/* Random churn against a naive model: exercises probing and deletion with
 * backward shifts across wrapped runs. */
#define MODEL_CAP 64
struct model_entry {
	uint32_t key;
	uint64_t t;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

static void model_tests(void)
{
	const uint32_t window = 500;
	tls_replay_cache *c = tls_replay_cache_new(window, MODEL_CAP);
	struct model_entry m[MODEL_CAP];
	size_t mn = 0, mismatches = 0, seen = 0, full = 0, fresh = 0;
	uint64_t now = 1;
	for (int op = 0; op < 200000; op++) {
		now += rng() % 10;
		uint32_t key = rng() % 300;
		/* model: forget entries older than the window */
		size_t w = 0;
		for (size_t i = 0; i < mn; i++)
			if (now - m[i].t <= window)
				m[w++] = m[i];
		mn = w;
		enum tls_replay_result want = TLS_REPLAY_FRESH;
		for (size_t i = 0; i < mn; i++)
			if (m[i].key == key)
				want = TLS_REPLAY_SEEN;
		if (want == TLS_REPLAY_FRESH && mn == MODEL_CAP)
			want = TLS_REPLAY_FULL;
		if (want == TLS_REPLAY_FRESH)
			m[mn++] = (struct model_entry){ key, now };
		uint8_t k[32];
		make_key(k, key);
		enum tls_replay_result got = tls_replay_cache_check(c, k, 32, now);
		mismatches += got != want;
		seen += want == TLS_REPLAY_SEEN;
		full += want == TLS_REPLAY_FULL;
		fresh += want == TLS_REPLAY_FRESH;
		if (tls_replay_cache_count(c) != mn)
			mismatches++;
	}
	test_ok(mismatches == 0 && seen > 1000 && full > 1000 && fresh > 1000,
		"200000 random operations agree with a naive model (%zu mismatches; "
		"fresh %zu, seen %zu, full %zu)", mismatches, fresh, seen, full);
	tls_replay_cache_free(c);
}

static void ops_tests(void)
{
	void *ctx = tls_replay_cache_new(TLS_ANTIREPLAY_DEFAULT_WINDOW_MS,
					 TLS_ANTIREPLAY_DEFAULT_MAX_ENTRIES);
	const struct tls_antireplay_ops *ops = &tls_replay_cache_ops;
	uint8_t binder[48];
	memset(binder, 7, sizeof(binder));
	test_ok(TLS_ANTIREPLAY_DEFAULT_WINDOW_MS == 20000, "default window is twice the freshness window");
	test_ok(ops->check_and_record(ctx, binder, sizeof(binder), 1000),
		"ops: first ClientHello may send early data");
	test_ok(!ops->check_and_record(ctx, binder, sizeof(binder), 1000 + 19999),
		"ops: its replay may not");
	test_ok(ops->check_and_record(ctx, binder, sizeof(binder), 1000 + 20001),
		"ops: after the window it is recorded afresh");
	ops->destroy(ctx);
}

int main(void)
{
	window_tests();
	full_tests();
	memory_tests();
	model_tests();
	ops_tests();
	return test_done();
}
