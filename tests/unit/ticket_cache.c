/* handshaked's client ticket cache (handshaked/tickets.c): bounded by
 * storing order, entries gone with their ticket's lifetime, each ticket
 * handed out once, and keys (user, server name, port, ALPN) kept apart:
 * one user's tickets are never handed to another. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../handshaked/tickets.h"
#include "test.h"
#include "tls/engine.h"

#define T0 1700000000000ull        /* unix ms */
#define UA 1000                    /* two users of the daemon */
#define UB 1001

/* A session blob whose ticket is "tag" (to tell them apart), created at
 * T0 with lifetime_s. */
static size_t make_blob(uint8_t *out, size_t cap, const char *tag, uint32_t lifetime_s)
{
	tls_session s;
	tls_buf b;
	size_t n;

	memset(&s, 0, sizeof(s));
	s.cipher = TLS_AES_128_GCM_SHA256;
	s.psk_len = 32;
	memset(s.psk, 0x42, 32);
	s.ticket = (uint8_t *)tag;
	s.ticket_len = strlen(tag);
	s.lifetime_s = lifetime_s;
	s.created_ms = T0;
	strcpy(s.server_name, "example.com");
	tls_buf_init(&b, 0);
	if (tls_session_encode(&s, &b) != 0 || b.err || b.len > cap)
		abort();
	memcpy(out, b.base, b.len);
	n = b.len;
	tls_buf_free(&b);
	return n;
}

/* The ticket (tag) of the blob taken for uid's key, or "" for none. */
static const char *take_tag_as(struct tcache *t, uid_t uid, const char *name, uint16_t port, const char *alpn,
			       uint64_t now)
{
	static char tag[64];
	uint8_t *blob;
	size_t len;
	tls_session *s;

	tag[0] = 0;
	if (tcache_take(t, uid, name, port, alpn, now, &blob, &len) != 1)
		return tag;
	if ((s = tls_session_decode(blob, len))) {
		snprintf(tag, sizeof(tag), "%.*s", (int)s->ticket_len, (const char *)s->ticket);
		tls_session_free(s);
	} else {
		strcpy(tag, "?");
	}
	tcache_blob_free(blob, len);
	return tag;
}

static const char *take_tag(struct tcache *t, const char *name, uint16_t port, const char *alpn, uint64_t now)
{
	return take_tag_as(t, UA, name, port, alpn, now);
}

static int put_as(struct tcache *t, uid_t uid, const char *name, uint16_t port, const char *alpn, const char *tag,
		  uint32_t lifetime, uint64_t now)
{
	uint8_t blob[1024];
	size_t n = make_blob(blob, sizeof(blob), tag, lifetime);
	return tcache_put(t, uid, name, port, alpn, blob, n, now);
}

static int put(struct tcache *t, const char *name, uint16_t port, const char *alpn, const char *tag,
	       uint32_t lifetime, uint64_t now)
{
	return put_as(t, UA, name, port, alpn, tag, lifetime, now);
}

int main(void)
{
	struct tcache *t = tcache_new(3);
	uint8_t junk[8] = { 1, 2, 3 };

	test_ok(t != NULL, "a cache of 3");
	test_ok(tcache_new(0) == NULL, "size 0 is refused");

	/* use once, newest first */
	test_ok(put(t, "a", 443, "", "a1", 60, T0) == 0 && put(t, "a", 443, "", "a2", 60, T0) == 0,
		"two tickets for one key");
	test_ok(strcmp(take_tag(t, "a", 443, "", T0), "a2") == 0, "the newest comes first");
	test_ok(strcmp(take_tag(t, "a", 443, "", T0), "a1") == 0, "then the older one");
	test_ok(*take_tag(t, "a", 443, "", T0) == 0 && tcache_count(t) == 0, "each ticket only once");

	/* key separation: name, port and ALPN each count */
	put(t, "a", 443, "h2", "a-h2", 60, T0);
	put(t, "a", 8443, "h2", "a-8443", 60, T0);
	put(t, "b", 443, "h2", "b-h2", 60, T0);
	test_ok(*take_tag(t, "a", 443, "", T0) == 0, "another ALPN offer does not match");
	test_ok(*take_tag(t, "a", 444, "h2", T0) == 0, "another port does not match");
	test_ok(*take_tag(t, "c", 443, "h2", T0) == 0, "another name does not match");
	test_ok(strcmp(take_tag(t, "a", 8443, "h2", T0), "a-8443") == 0, "port 8443's own ticket");
	test_ok(strcmp(take_tag(t, "b", 443, "h2", T0), "b-h2") == 0, "name b's own ticket");
	test_ok(strcmp(take_tag(t, "a", 443, "h2", T0), "a-h2") == 0, "ALPN h2's own ticket");
	test_ok(put(t, "ab", 443, "c", "x", 60, T0) == 0 && *take_tag(t, "a", 443, "bc", T0) == 0 &&
			strcmp(take_tag(t, "ab", 443, "c", T0), "x") == 0,
		"name and ALPN do not run together");
	test_ok(put(t, NULL, 443, NULL, "anon", 60, T0) == 0 && strcmp(take_tag(t, "", 443, "", T0), "anon") == 0,
		"NULL name and ALPN are \"\"");

	/* LRU: the fourth ticket pushes out the one stored first */
	put(t, "k1", 1, "", "k1", 60, T0);
	put(t, "k2", 1, "", "k2", 60, T0);
	put(t, "k3", 1, "", "k3", 60, T0);
	put(t, "k4", 1, "", "k4", 60, T0);
	test_ok(tcache_count(t) == 3, "bounded at 3 entries");
	test_ok(*take_tag(t, "k1", 1, "", T0) == 0, "the one stored longest ago was evicted");
	test_ok(strcmp(take_tag(t, "k2", 1, "", T0), "k2") == 0 &&
			strcmp(take_tag(t, "k4", 1, "", T0), "k4") == 0 &&
			strcmp(take_tag(t, "k3", 1, "", T0), "k3") == 0,
		"the others stay");

	/* expiry with the ticket's lifetime */
	test_ok(put(t, "e", 1, "", "short", 10, T0) == 0 && put(t, "e", 1, "", "long", 100, T0) == 0,
		"tickets of 10 s and 100 s");
	test_ok(strcmp(take_tag(t, "e", 1, "", T0 + 50000), "long") == 0, "at 50 s the long one");
	test_ok(*take_tag(t, "e", 1, "", T0 + 50000) == 0 && tcache_count(t) == 0,
		"the short one expired (and is gone)");
	test_ok(put(t, "e", 1, "", "old", 10, T0 + 10000) == -1, "an expired ticket is not stored");
	put(t, "e", 1, "", "a", 10, T0);
	put(t, "f", 1, "", "b", 100, T0);
	test_ok(tcache_expire(t, T0 + 20000) == 1 && tcache_count(t) == 1, "tcache_expire drops only the dead");
	put(t, "g", 1, "", "c", 100, T0 + 30000);
	put(t, "h", 1, "", "d", 5, T0);
	test_ok(put(t, "i", 1, "", "e", 100, T0 + 6000) == 0 && tcache_count(t) == 3 &&
			strcmp(take_tag(t, "f", 1, "", T0 + 6000), "b") == 0,
		"a full cache drops the expired before the live");
	test_ok(tcache_put(t, UA, "j", 1, "", junk, sizeof(junk), T0) == -1, "a malformed blob is refused");
	tcache_free(t);

	/* users kept apart: user B never gets user A's ticket, nor the
	 * reverse, for the very same server, port and ALPN */
	t = tcache_new(3);
	test_ok(put_as(t, UA, "s", 443, "h2", "A1", 60, T0) == 0, "user A stores a ticket for s:443");
	test_ok(*take_tag_as(t, UB, "s", 443, "h2", T0) == 0, "user B does not get user A's ticket");
	test_ok(tcache_count(t) == 1, "B's miss leaves A's ticket in the cache");
	test_ok(put_as(t, UB, "s", 443, "h2", "B1", 60, T0) == 0 &&
			strcmp(take_tag_as(t, UA, "s", 443, "h2", T0), "A1") == 0,
		"user A gets its own ticket, not user B's newer one");
	test_ok(*take_tag_as(t, UA, "s", 443, "h2", T0) == 0, "and not B's after its own is used");
	test_ok(strcmp(take_tag_as(t, UB, "s", 443, "h2", T0), "B1") == 0, "user B gets its own");
	test_ok(put_as(t, 0, "s", 443, "h2", "root", 60, T0) == 0 && *take_tag_as(t, UA, "s", 443, "h2", T0) == 0 &&
			strcmp(take_tag_as(t, 0, "s", 443, "h2", T0), "root") == 0,
		"uid 0 is a user like any other");

	/* the bound holds across users: one LRU list for all of them */
	put_as(t, UA, "s", 443, "", "A-old", 60, T0);
	put_as(t, UB, "s", 443, "", "B-1", 60, T0);
	put_as(t, UB, "s", 443, "", "B-2", 60, T0);
	put_as(t, UB, "s", 443, "", "B-3", 60, T0);
	test_ok(tcache_count(t) == 3, "bounded at 3 entries across users");
	test_ok(*take_tag_as(t, UA, "s", 443, "", T0) == 0, "user B's tickets pushed out user A's older one");
	test_ok(strcmp(take_tag_as(t, UB, "s", 443, "", T0), "B-3") == 0 &&
			strcmp(take_tag_as(t, UB, "s", 443, "", T0), "B-2") == 0 &&
			strcmp(take_tag_as(t, UB, "s", 443, "", T0), "B-1") == 0 && tcache_count(t) == 0,
		"user B's three stay, newest first");
	for (int i = 0; i < 10; i++) {
		char tag[16];
		snprintf(tag, sizeof(tag), "u%d", i);
		put_as(t, (uid_t)(2000 + i), "s", 443, "", tag, 60, T0);
	}
	test_ok(tcache_count(t) == 3 && *take_tag_as(t, 2006, "s", 443, "", T0) == 0 &&
			strcmp(take_tag_as(t, 2009, "s", 443, "", T0), "u9") == 0 &&
			strcmp(take_tag_as(t, 2007, "s", 443, "", T0), "u7") == 0,
		"ten users: only the last 3 stored stay, each under its own uid");

	tcache_free(t);
	tcache_free(NULL);
	return test_done();
}
