/* One configuration for many loops and reloads: a tls_config is shared by
 * threads without locks and outlives the caller's reference while
 * connections use it; what changes while they run (the STEK ring, the
 * anti-replay recorder) is owned by the caller and thread-safe.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pair.h"
#include "test.h"
#include "testkeys.h"
#include "tls/engine.h"

#define THREADS 4
#define HANDSHAKES 40

static struct test_pki pki;

/* A whole handshake in memory; 0 when both sides finished and the client
 * read the server's tickets. Counts the tickets (session blobs). */
static int handshake(const tls_config *scfg, const tls_config *ccfg, size_t *tickets)
{
	struct test_pair p;
	test_pair_init(&p, ccfg, scfg, "server.test");
	bool ok = test_pair_go(&p);
	if (tickets)
		*tickets += p.cl.n_sess;
	test_pair_free(&p);
	return ok ? 0 : -1;
}

/* ---- references and freezing ---- */

static void references(void)
{
	tls_config *scfg = test_server_config(&pki), *ccfg = test_client_config(&pki);
	tls_conn *sv = tls_conn_new(scfg), *cl = tls_conn_new(ccfg);
	tls_conn_set_server_name(cl, "server.test");
	tls_buf a, b;
	tls_buf_init(&a, 0);
	tls_buf_init(&b, 0);
	tls_conn_handshake(cl, &a, NULL, NULL);
	size_t n = a.len;
	tls_conn_handshake(sv, &b, a.base, &n);
	/* a reload: the caller drops its configs mid-handshake */
	tls_config_free(scfg);
	tls_config_free(ccfg);
	tls_buf_reset(&a);
	n = b.len;
	int crc = tls_conn_handshake(cl, &a, b.base, &n);
	tls_buf_reset(&b);
	n = a.len;
	int src = tls_conn_handshake(sv, &b, a.base, &n);
	test_ok(crc == 0 && src == 0,
		"the caller frees both configs mid-handshake: the connections finish on them "
		"(%d/%d)", crc, src);
	tls_conn_free(sv);
	tls_conn_free(cl);
	tls_buf_free(&a);
	tls_buf_free(&b);

	scfg = test_server_config(&pki);
	tls_config *again = tls_config_ref(scfg);
	tls_config_freeze(scfg);
	static const uint16_t one[] = { TLS_AES_128_GCM_SHA256 };
	test_ok(again == scfg && tls_config_set_ciphers(scfg, one, 1) == -1 &&
			tls_config_set_alpn(scfg, "h2") == -1 &&
			tls_config_set_tickets(scfg, 1, 60) == -1 &&
			tls_config_set_client_auth(scfg, TLS_CLIENT_AUTH_REQUIRE) == -1 &&
			tls_config_set_max_handshake(scfg, 4096) == -1,
		"a frozen config refuses every setter");
	tls_config_free(scfg);
	ccfg = test_client_config(&pki);
	test_ok(handshake(again, ccfg, NULL) == 0,
		"and still serves after one of its two references is dropped");
	tls_config_free(again);
	tls_config_free(ccfg);
}

/* ---- many threads, one config, a ring rotating under them ---- */

struct shared {
	const tls_config *scfg, *ccfg;
	volatile bool stop;
	int failures;
	size_t tickets;
	pthread_mutex_t lock;
};

static void *loop_thread(void *arg)
{
	struct shared *sh = arg;
	int fails = 0;
	size_t tb = 0;
	for (int i = 0; i < HANDSHAKES; i++)
		fails += handshake(sh->scfg, sh->ccfg, &tb) != 0;
	pthread_mutex_lock(&sh->lock);
	sh->failures += fails;
	sh->tickets += tb;
	pthread_mutex_unlock(&sh->lock);
	return NULL;
}

static void *rotate_thread(void *arg)
{
	struct shared *sh = arg;
	tls_stek_ring *ring = tls_config_ticket_keys(sh->scfg);
	uint64_t now = 1000000;
	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED))
		tls_stek_ring_rotate(ring, now++);
	return NULL;
}

static void threads(void)
{
	tls_config *scfg = test_server_config(&pki), *ccfg = test_client_config(&pki);
	tls_config_set_tickets(scfg, 2, 3600);
	tls_config_freeze(scfg);
	tls_config_freeze(ccfg);
	struct shared sh = { .scfg = scfg, .ccfg = ccfg };
	pthread_mutex_init(&sh.lock, NULL);
	tls_stek_stats before, after;
	tls_stek_ring_stats(tls_config_ticket_keys(scfg), &before);
	pthread_t t[THREADS], rot;
	pthread_create(&rot, NULL, rotate_thread, &sh);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, loop_thread, &sh);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	__atomic_store_n(&sh.stop, true, __ATOMIC_RELAXED);
	pthread_join(rot, NULL);
	tls_stek_ring_stats(tls_config_ticket_keys(scfg), &after);
	test_ok(sh.failures == 0 && sh.tickets == 2 * THREADS * HANDSHAKES,
		"%d threads x %d handshakes on one frozen config while another thread rotates its "
		"ticket keys: all complete, 2 tickets each (%d failed, %zu tickets)",
		THREADS, HANDSHAKES, sh.failures, sh.tickets);
	test_ok(tls_stek_ring_count(tls_config_ticket_keys(scfg)) == 1 + TLS_STEK_DEFAULT_KEEP,
		"the ring keeps 1 + %d keys through the rotations", TLS_STEK_DEFAULT_KEEP);
	pthread_mutex_destroy(&sh.lock);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* ---- one anti-replay recorder for every thread ---- */

#define KEYS 2000

struct replay_run {
	tls_replay_cache *cache;
	int fresh[KEYS];
	pthread_mutex_t lock;
};

static void *replay_thread(void *arg)
{
	struct replay_run *r = arg;
	for (int i = 0; i < KEYS; i++) {
		uint8_t key[32];
		memset(key, 0, sizeof(key));
		memcpy(key, &i, sizeof(i));
		if (tls_replay_cache_check(r->cache, key, sizeof(key), 1000) == TLS_REPLAY_FRESH) {
			pthread_mutex_lock(&r->lock);
			r->fresh[i]++;
			pthread_mutex_unlock(&r->lock);
		}
	}
	return NULL;
}

static void shared_replay_cache(void)
{
	struct replay_run *r = calloc(1, sizeof(*r));
	r->cache = tls_replay_cache_new(20000, KEYS);
	pthread_mutex_init(&r->lock, NULL);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, replay_thread, r);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	int once = 0;
	for (int i = 0; i < KEYS; i++)
		once += r->fresh[i] == 1;
	test_ok(once == KEYS && tls_replay_cache_count(r->cache) == KEYS &&
			tls_replay_cache_replays(r->cache) == (uint64_t)(THREADS - 1) * KEYS,
		"%d threads offer the same %d ClientHellos to one recorder: each is fresh exactly "
		"once (%d of %d), the rest are replays (%llu)", THREADS, KEYS, once, KEYS,
		(unsigned long long)tls_replay_cache_replays(r->cache));
	tls_replay_cache_free(r->cache);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* ---- the system trust store, reloaded ---- */

/* A client with no CA of its own verifies against the system store, which
 * OpenSSL takes from SSL_CERT_FILE/SSL_CERT_DIR when they are set. */
static bool system_verifies(const tls_config *scfg)
{
	tls_config *ccfg = tls_config_new(TLS_CLIENT);
	struct test_pair p;
	test_pair_init(&p, ccfg, scfg, "server.test");
	bool ok = test_pair_run(&p);
	test_pair_free(&p);
	tls_config_free(ccfg);
	return ok;
}

static void trust_reload(void)
{
	struct test_pki other;
	test_pki_make(&other, TESTKEY_P256, "server.test", 0);
	tls_config *a = test_server_config(&pki);
	tls_config *b = tls_config_new(TLS_SERVER);
	tls_chain chain;
	test_pki_chain(&other, &chain);
	tls_config_add_cert(b, &chain, test_pki_leaf_key(&other));
	char dir[] = "/tmp/trust-XXXXXX";
	bool have_dir = mkdtemp(dir) != NULL;
	setenv("SSL_CERT_DIR", dir, 1);
	setenv("SSL_CERT_FILE", pki.ca_path, 1);
	char err[200] = "";
	int r1 = tls_trust_reload(err, sizeof(err));
	bool a1 = system_verifies(a), b1 = system_verifies(b);
	setenv("SSL_CERT_FILE", other.ca_path, 1);
	bool a2 = system_verifies(a); /* not reloaded yet: still the first CA */
	int r2 = tls_trust_reload(err, sizeof(err));
	bool a3 = system_verifies(a), b3 = system_verifies(b);
	test_ok(have_dir && r1 == 0 && a1 && !b1 && a2 && r2 == 0 && !a3 && b3,
		"the system trust store is read once, and again on tls_trust_reload "
		"(%d %d%d %d %d %d%d: %s)", r1, a1, b1, a2, r2, a3, b3, err);
	unsetenv("SSL_CERT_FILE");
	unsetenv("SSL_CERT_DIR");
	if (have_dir)
		rmdir(dir);
	tls_config_free(a);
	tls_config_free(b);
	test_pki_free(&other);
}

int main(void)
{
	test_pki_make(&pki, TESTKEY_P256, "server.test", 0);
	references();
	threads();
	shared_replay_cache();
	trust_reload();
	test_pki_free(&pki);
	/* last: the process-wide caches go (a sanitizer build checks) */
	tls_engine_cleanup();
	test_ok(true, "tls_engine_cleanup at exit");
	return test_done();
}
