/* Test hooks: deterministic randoms, keys, session ids, cookies and
 * hand-made extension blocks for the RFC 8448 traces, fuzzing seeds and
 * negative tests. Compiled only into the test build of the engine
 * (libhandshake-test.a, -DTLS_TEST_HOOKS): the shipped library cannot set
 * c->t, so its code paths that look at it are dead there. */
#include "tls/test_hooks.h"
#include "tls/engine.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#ifndef TLS_TEST_HOOKS
#error "test_hooks.c belongs to the test build (-DTLS_TEST_HOOKS)"
#endif

static struct tls_test_hooks *hooks(tls_conn *c)
{
	if (!c->t)
		c->t = calloc(1, sizeof(*c->t));
	return c->t;
}

void tls_test_hooks_free(tls_conn *c)
{
	struct tls_test_hooks *t = c->t;
	if (!t)
		return;
	for (size_t i = 0; i < TLS_MAX_SHARES; i++) {
		if (t->kex[i].priv)
			OPENSSL_cleanse(t->kex[i].priv, t->kex[i].len);
		free(t->kex[i].priv);
	}
	free(t->cookie);
	for (size_t i = 0; i < TLS_MAX_EXT_OVERRIDES; i++)
		free(t->ext[i].ext);
	if (t->ticket)
		tls_ticket_clear(t->ticket);
	free(t->ticket);
	free(t->ticket_id);
	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
	c->t = NULL;
}

void tls_stek_ring_test_set_seals(tls_stek_ring *ring, uint64_t n)
{
	tls_stek *k = tls_stek_ring_current(ring);
	if (k)
		__atomic_store_n(&k->seals, n, __ATOMIC_RELAXED);
}

int tls_conn_test_set_random(tls_conn *c, const uint8_t random[32])
{
	struct tls_test_hooks *t = hooks(c);
	if (!t)
		return -1;
	memcpy(t->random, random, 32);
	t->random_set = true;
	return 0;
}

int tls_conn_test_set_kex_private(tls_conn *c, uint16_t group, const uint8_t *priv, size_t len)
{
	struct tls_test_hooks *t = hooks(c);
	if (!t || !tls_group_supported(group) || len == 0)
		return -1;
	size_t slot = TLS_MAX_SHARES;
	for (size_t i = 0; i < TLS_MAX_SHARES; i++) {
		if (t->kex[i].priv && t->kex[i].group == group) {
			slot = i;
			break;
		}
		if (!t->kex[i].priv && slot == TLS_MAX_SHARES)
			slot = i;
	}
	if (slot == TLS_MAX_SHARES)
		return -1;
	t->kex[slot].group = group;
	return tls_dup_bytes(&t->kex[slot].priv, &t->kex[slot].len, priv, len);
}

int tls_conn_test_set_seq(tls_conn *c, enum tls_dir dir, uint64_t seq)
{
	tls_traffic_key *k = dir == TLS_DIR_RX ? &c->rx : &c->tx;
	if (c->state != TLS_ST_DONE || !k->cs)
		return -1;
	k->seq = seq;
	return 0;
}

int tls_conn_test_set_session_id(tls_conn *c, const uint8_t *id, size_t len)
{
	struct tls_test_hooks *t = hooks(c);
	if (!t || len > 32)
		return -1;
	memcpy(c->sid, id, len);
	c->sid_len = len;
	t->sid_set = true;
	return 0;
}

int tls_conn_test_set_hrr_cookie(tls_conn *c, const uint8_t *cookie, size_t len)
{
	struct tls_test_hooks *t = hooks(c);
	if (!t || c->role != TLS_SERVER || len == 0 || len > 0xfffd)
		return -1;
	return tls_dup_bytes(&t->cookie, &t->cookie_len, cookie, len);
}

int tls_conn_test_set_extensions(tls_conn *c, uint8_t hs_type, const uint8_t *ext, size_t len)
{
	struct tls_test_hooks *t = hooks(c);
	if (!t || len > 0xffff)
		return -1;
	for (size_t i = 0; i < TLS_MAX_EXT_OVERRIDES; i++) {
		if (!t->ext[i].ext) {
			t->ext[i].type = hs_type;
			return tls_dup_bytes(&t->ext[i].ext, &t->ext[i].len, ext, len);
		}
	}
	return -1;
}

int tls_conn_test_set_ticket(tls_conn *c, const uint8_t *id, size_t id_len,
			     const struct tls_ticket *tk)
{
	const tls_cipher *cs = tk ? tls_cipher_find(tk->cipher) : NULL;
	struct tls_test_hooks *t = hooks(c);
	if (!t || c->role != TLS_SERVER || c->state != TLS_ST_SRV_WAIT_CH || !id || !id_len ||
	    id_len > 0xffff || !cs || tk->psk_len != cs->hash_len || t->ticket)
		return -1;
	t->ticket = malloc(sizeof(*t->ticket));
	if (!t->ticket)
		return -1;
	*t->ticket = *tk;
	if (tls_dup_bytes(&t->ticket_id, &t->ticket_id_len, id, id_len)) {
		tls_ticket_clear(t->ticket);
		free(t->ticket);
		t->ticket = NULL;
		return -1;
	}
	return 0;
}
