/* The client role's ticket cache (tickets.h): a hash table for lookups
 * by key and one list in storing order for eviction. Chains are pushed
 * at the head, so the first live match of a key is its newest ticket. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tickets.h"
#include "tls/engine.h"

struct tentry {
	struct tentry *hnext;              /* bucket chain */
	struct tentry *newer, *older;      /* storing order */
	uint64_t expires_ms;
	uint32_t hash;
	uid_t uid;                         /* whose: another user never gets it */
	uint16_t port;
	char *name, *alpn;                 /* in the same allocation */
	uint8_t *blob;
	size_t len;
};

struct tcache {
	pthread_mutex_t mu;
	struct tentry **buckets;
	size_t nbuckets;                   /* a power of two */
	struct tentry *newest, *oldest;
	size_t count, max;
};

static uint32_t key_hash(uid_t uid, const char *name, uint16_t port, const char *alpn)
{
	uint32_t h = 2166136261u;          /* FNV-1a */
	for (unsigned i = 0; i < sizeof(uid); i++)
		h = (h ^ (uint8_t)((uint64_t)uid >> (8 * i))) * 16777619u;
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ 0xff) * 16777619u;        /* separator: ("ab","c") != ("a","bc") */
	h = (h ^ (port >> 8)) * 16777619u;
	h = (h ^ (port & 0xff)) * 16777619u;
	for (const char *p = alpn; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

struct tcache *tcache_new(size_t max_entries)
{
	struct tcache *t = calloc(1, sizeof(*t));

	if (!t || !max_entries)
		goto fail;
	t->max = max_entries;
	t->nbuckets = 16;
	while (t->nbuckets < max_entries && t->nbuckets < ((size_t)1 << 20))
		t->nbuckets <<= 1;
	if (!(t->buckets = calloc(t->nbuckets, sizeof(*t->buckets))))
		goto fail;
	if (pthread_mutex_init(&t->mu, NULL) != 0) {
		free(t->buckets);
		goto fail;
	}
	return t;
fail:
	free(t);
	return NULL;
}

static void entry_free(struct tentry *e)
{
	OPENSSL_cleanse(e->blob, e->len);
	free(e);
}

/* Out of both structures (the caller frees it). */
static void unlink_entry(struct tcache *t, struct tentry *e)
{
	struct tentry **pp = &t->buckets[e->hash & (t->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->newer)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	t->count--;
}

static void drop(struct tcache *t, struct tentry *e)
{
	unlink_entry(t, e);
	entry_free(e);
}

void tcache_free(struct tcache *t)
{
	if (!t)
		return;
	while (t->oldest)
		drop(t, t->oldest);
	pthread_mutex_destroy(&t->mu);
	free(t->buckets);
	free(t);
}

/* Drops the expired entries (under the lock). */
static size_t sweep(struct tcache *t, uint64_t now_ms)
{
	struct tentry *e, *newer;
	size_t n = 0;

	for (e = t->oldest; e; e = newer) {
		newer = e->newer;
		if (e->expires_ms <= now_ms) {
			drop(t, e);
			n++;
		}
	}
	return n;
}

/* When the blob's ticket expires (0: unusable). */
static uint64_t blob_expiry(const uint8_t *blob, size_t len)
{
	tls_session *s = tls_session_decode(blob, len);
	uint64_t exp;

	if (!s)
		return 0;
	exp = s->created_ms + (uint64_t)s->lifetime_s * 1000;
	tls_session_free(s);               /* wipes the PSK */
	return exp;
}

int tcache_put(struct tcache *t, uid_t uid, const char *name, uint16_t port, const char *alpn,
	       const uint8_t *blob, size_t len, uint64_t now_ms)
{
	size_t nl, al;
	uint64_t exp;
	struct tentry *e, **b;

	name = name ? name : "";
	alpn = alpn ? alpn : "";
	if (!blob || !len || (exp = blob_expiry(blob, len)) <= now_ms)
		return -1;
	nl = strlen(name) + 1;
	al = strlen(alpn) + 1;
	if (!(e = calloc(1, sizeof(*e) + nl + al + len)))
		return -1;
	e->name = (char *)(e + 1);
	e->alpn = e->name + nl;
	e->blob = (uint8_t *)e->alpn + al;
	memcpy(e->name, name, nl);
	memcpy(e->alpn, alpn, al);
	memcpy(e->blob, blob, len);
	e->len = len;
	e->uid = uid;
	e->port = port;
	e->expires_ms = exp;
	e->hash = key_hash(uid, name, port, alpn);
	pthread_mutex_lock(&t->mu);
	/* full: the expired go first, then the one stored longest ago (the
	 * sweep is O(max), only when full) */
	if (t->count == t->max)
		sweep(t, now_ms);
	if (t->count == t->max)
		drop(t, t->oldest);
	b = &t->buckets[e->hash & (t->nbuckets - 1)];
	e->hnext = *b;
	*b = e;
	e->older = t->newest;
	if (t->newest)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
	t->count++;
	pthread_mutex_unlock(&t->mu);
	return 0;
}

static bool same_key(const struct tentry *e, uint32_t h, uid_t uid, const char *name, uint16_t port,
		     const char *alpn)
{
	return e->hash == h && e->uid == uid && e->port == port && strcmp(e->name, name) == 0 &&
	       strcmp(e->alpn, alpn) == 0;
}

int tcache_take(struct tcache *t, uid_t uid, const char *name, uint16_t port, const char *alpn,
		uint64_t now_ms, uint8_t **blob, size_t *len)
{
	struct tentry *e, *next, *found = NULL;
	uint32_t h;

	name = name ? name : "";
	alpn = alpn ? alpn : "";
	h = key_hash(uid, name, port, alpn);
	pthread_mutex_lock(&t->mu);
	for (e = t->buckets[h & (t->nbuckets - 1)]; e && !found; e = next) {
		next = e->hnext;
		if (!same_key(e, h, uid, name, port, alpn))
			continue;
		if (e->expires_ms <= now_ms)
			drop(t, e);
		else
			found = e;
	}
	if (found)
		unlink_entry(t, found);    /* used once */
	pthread_mutex_unlock(&t->mu);
	if (!found)
		return 0;
	/* a copy outside the lock's entry, which is wiped now */
	if (!(*blob = malloc(found->len))) {
		entry_free(found);
		return 0;
	}
	memcpy(*blob, found->blob, found->len);
	*len = found->len;
	entry_free(found);
	return 1;
}

size_t tcache_expire(struct tcache *t, uint64_t now_ms)
{
	size_t n;

	pthread_mutex_lock(&t->mu);
	n = sweep(t, now_ms);
	pthread_mutex_unlock(&t->mu);
	return n;
}

size_t tcache_count(struct tcache *t)
{
	size_t n;

	pthread_mutex_lock(&t->mu);
	n = t->count;
	pthread_mutex_unlock(&t->mu);
	return n;
}

void tcache_blob_free(uint8_t *blob, size_t len)
{
	if (!blob)
		return;
	OPENSSL_cleanse(blob, len);
	free(blob);
}
