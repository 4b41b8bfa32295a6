/* In-memory ClientHello recorder for 0-RTT anti-replay (RFC 8446 §8.2). */
#include "tls/antireplay.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tls/crypto.h"

struct entry {
	uint8_t fp[TLS_ANTIREPLAY_FP_LEN];
	uint64_t t;                /* arrival, ms */
};
_Static_assert(sizeof(struct entry) == TLS_ANTIREPLAY_ENTRY_BYTES, "entry size is documented");

struct tls_replay_cache {
	/* Every loop thread of a process checks one cache: a replay is
	 * accepted at most once per process, not once per thread. */
	pthread_mutex_t lock;
	struct entry *ring;        /* FIFO in arrival order */
	size_t cap, head, count;
	uint32_t *slots;           /* ring index + 1; 0 = empty */
	size_t mask;               /* slots - 1 */
	uint32_t window_ms;
	uint64_t last_ms;
	/* Keyed fingerprints: a peer cannot aim keys at one bucket. */
	uint8_t salt[16];
	EVP_MD_CTX *md;
	uint64_t replays, refused_full;
};

tls_replay_cache *tls_replay_cache_new(uint32_t window_ms, size_t max_entries)
{
	if (window_ms == 0 || max_entries == 0 || max_entries > TLS_ANTIREPLAY_MAX_ENTRIES)
		return NULL;
	tls_replay_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return NULL;
	}
	size_t nslots = 2;
	while (nslots < 2 * max_entries)
		nslots *= 2;
	c->cap = max_entries;
	c->mask = nslots - 1;
	c->window_ms = window_ms;
	c->ring = calloc(max_entries, sizeof(*c->ring));
	c->slots = calloc(nslots, sizeof(*c->slots));
	c->md = EVP_MD_CTX_new();
	if (!c->ring || !c->slots || !c->md || RAND_bytes(c->salt, sizeof(c->salt)) != 1) {
		tls_replay_cache_free(c);
		return NULL;
	}
	return c;
}

void tls_replay_cache_free(tls_replay_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	EVP_MD_CTX_free(c->md);
	free(c->ring);
	free(c->slots);
	OPENSSL_cleanse(c->salt, sizeof(c->salt));
	free(c);
}

static int fingerprint(tls_replay_cache *c, const uint8_t *key, size_t len,
		       uint8_t fp[TLS_ANTIREPLAY_FP_LEN])
{
	uint8_t h[32];
	unsigned int hl = 0;
	if (!EVP_DigestInit_ex(c->md, tls_md_fetched(EVP_sha256()), NULL) ||
	    !EVP_DigestUpdate(c->md, c->salt, sizeof(c->salt)) ||
	    !EVP_DigestUpdate(c->md, key, len) || !EVP_DigestFinal_ex(c->md, h, &hl))
		return -1;
	memcpy(fp, h, TLS_ANTIREPLAY_FP_LEN);
	return 0;
}

static size_t home(const tls_replay_cache *c, const uint8_t *fp)
{
	uint64_t v;
	memcpy(&v, fp, sizeof(v)); /* uniformly random bytes: any order will do */
	return (size_t)v & c->mask;
}

/* Slot holding fp, or SIZE_MAX. */
static size_t find_slot(const tls_replay_cache *c, const uint8_t *fp)
{
	for (size_t i = home(c, fp);; i = (i + 1) & c->mask) {
		uint32_t s = c->slots[i];
		if (s == 0)
			return SIZE_MAX;
		if (memcmp(c->ring[s - 1].fp, fp, TLS_ANTIREPLAY_FP_LEN) == 0)
			return i;
	}
}

/* Empties slot i and shifts later members of its probe run back so that
 * lookups never stop at a hole (linear-probing deletion without tombstones). */
static void delete_slot(tls_replay_cache *c, size_t i)
{
	size_t j = i;
	for (;;) {
		j = (j + 1) & c->mask;
		uint32_t s = c->slots[j];
		if (s == 0)
			break;
		size_t k = home(c, c->ring[s - 1].fp);
		/* The entry at j may move to i unless its home lies cyclically in (i, j]. */
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (!stays) {
			c->slots[i] = s;
			i = j;
		}
	}
	c->slots[i] = 0;
}

static void expire(tls_replay_cache *c, uint64_t now_ms)
{
	/* Kept while now - t <= window: two copies exactly a window apart
	 * still collide. */
	while (c->count && now_ms - c->ring[c->head].t > c->window_ms) {
		size_t i = find_slot(c, c->ring[c->head].fp);
		if (i != SIZE_MAX)
			delete_slot(c, i);
		c->head = (c->head + 1) % c->cap;
		c->count--;
	}
}

static enum tls_replay_result check_locked(tls_replay_cache *c, const uint8_t *key,
					   size_t key_len, uint64_t now_ms)
{
	/* A clock step backwards must not reorder the FIFO. */
	if (now_ms < c->last_ms)
		now_ms = c->last_ms;
	c->last_ms = now_ms;
	expire(c, now_ms);

	uint8_t fp[TLS_ANTIREPLAY_FP_LEN];
	if (fingerprint(c, key, key_len, fp) != 0)
		return TLS_REPLAY_ERROR;
	if (find_slot(c, fp) != SIZE_MAX) {
		c->replays++;
		return TLS_REPLAY_SEEN;
	}
	if (c->count == c->cap) {
		c->refused_full++;
		return TLS_REPLAY_FULL;
	}
	size_t idx = (c->head + c->count) % c->cap;
	memcpy(c->ring[idx].fp, fp, sizeof(fp));
	c->ring[idx].t = now_ms;
	size_t i = home(c, fp);
	while (c->slots[i])
		i = (i + 1) & c->mask;
	c->slots[i] = (uint32_t)(idx + 1);
	c->count++;
	return TLS_REPLAY_FRESH;
}

enum tls_replay_result tls_replay_cache_check(tls_replay_cache *c, const uint8_t *key,
					      size_t key_len, uint64_t now_ms)
{
	pthread_mutex_lock(&c->lock);
	enum tls_replay_result r = check_locked(c, key, key_len, now_ms);
	pthread_mutex_unlock(&c->lock);
	return r;
}

size_t tls_replay_cache_count(const tls_replay_cache *c)
{
	pthread_mutex_lock((pthread_mutex_t *)&c->lock);
	size_t n = c->count;
	pthread_mutex_unlock((pthread_mutex_t *)&c->lock);
	return n;
}

size_t tls_replay_cache_memory(const tls_replay_cache *c)
{
	return sizeof(*c) + c->cap * sizeof(*c->ring) + (c->mask + 1) * sizeof(*c->slots);
}

uint64_t tls_replay_cache_replays(const tls_replay_cache *c)
{
	pthread_mutex_lock((pthread_mutex_t *)&c->lock);
	uint64_t n = c->replays;
	pthread_mutex_unlock((pthread_mutex_t *)&c->lock);
	return n;
}

uint64_t tls_replay_cache_refused_full(const tls_replay_cache *c)
{
	pthread_mutex_lock((pthread_mutex_t *)&c->lock);
	uint64_t n = c->refused_full;
	pthread_mutex_unlock((pthread_mutex_t *)&c->lock);
	return n;
}

uint32_t tls_replay_cache_window(const tls_replay_cache *c)
{
	return c->window_ms;
}

static uint32_t cache_window(void *ctx)
{
	return tls_replay_cache_window(ctx);
}

static bool cache_check_and_record(void *ctx, const uint8_t *key, size_t key_len, uint64_t now_ms)
{
	return tls_replay_cache_check(ctx, key, key_len, now_ms) == TLS_REPLAY_FRESH;
}

static void cache_destroy(void *ctx)
{
	tls_replay_cache_free(ctx);
}

const struct tls_antireplay_ops tls_replay_cache_ops = {
	.check_and_record = cache_check_and_record,
	.destroy = cache_destroy,
	.window_ms = cache_window,
};
