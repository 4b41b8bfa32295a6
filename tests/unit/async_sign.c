/* Asynchronous CertificateVerify signatures (TLS_SIGN_PENDING).
 *
 * A signer hands the signature to a thread and returns TLS_SIGN_PENDING;
 * the "loop" (this thread) gets TLS_WANT_SIGNATURE, keeps control while
 * the thread works, waits on a pipe like an event loop, then supplies the
 * result with tls_conn_sign_done and resumes the handshake. Both roles
 * (server flight, client certificate), against our own engine and against
 * OpenSSL libssl in memory; RSA-4096 with the default signer; signer
 * failure; input arriving while the signature is owed; free while pending.
 */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "test.h"
#include "testkeys.h"
#include "tls/tls.h"

/* ---- a signer that works in another thread ---- */

struct job {
	tls_sign_fn inner;         /* the real signer, run in the thread */
	void *inner_ctx;
	unsigned delay_ms;         /* the thread sleeps this long before signing */
	int go[2];                 /* loop -> thread: start (the loop checks things first) */
	int done[2];               /* thread -> loop: result ready */
	pthread_t th;
	bool running;
	int calls;                 /* signer invocations */
	uint16_t scheme;
	uint8_t msg[256];          /* copied: valid only during the signer call */
	size_t len;
	tls_buf sig;               /* written by the thread, read after join */
	int rc;
};

static void *job_thread(void *arg)
{
	struct job *j = arg;
	char x;
	if (read(j->go[0], &x, 1) != 1)
		x = 0;
	struct timespec ts = { 0, (long)j->delay_ms * 1000000L };
	nanosleep(&ts, NULL);
	j->rc = j->inner(j->inner_ctx, j->scheme, j->msg, j->len, &j->sig);
	if (write(j->done[1], "x", 1) != 1)
		abort();
	return NULL;
}

static int async_sign(void *ctx, uint16_t scheme, const uint8_t *msg, size_t len, tls_buf *sig)
{
	struct job *j = ctx;
	(void)sig; /* the signature comes through tls_conn_sign_done */
	j->calls++;
	if (j->running || len > sizeof(j->msg))
		return -1;
	j->scheme = scheme;
	memcpy(j->msg, msg, len);
	j->len = len;
	tls_buf_reset(&j->sig);
	if (pthread_create(&j->th, NULL, job_thread, j) != 0)
		return -1;
	j->running = true;
	return TLS_SIGN_PENDING;
}

static void job_init(struct job *j, tls_sign_fn inner, void *inner_ctx, unsigned delay_ms)
{
	memset(j, 0, sizeof(*j));
	j->inner = inner;
	j->inner_ctx = inner_ctx;
	j->delay_ms = delay_ms;
	if (pipe(j->go) != 0 || pipe(j->done) != 0)
		abort();
	tls_buf_init(&j->sig, 0);
}

/* True when the thread has finished (the done pipe is readable now). */
static bool job_ready(const struct job *j)
{
	struct pollfd p = { j->done[0], POLLIN, 0 };
	return poll(&p, 1, 0) == 1;
}

/* Lets the thread go and waits for it as a loop would: poll on the pipe. */
static bool job_wait(struct job *j)
{
	if (!j->running)
		return false;
	if (write(j->go[1], "g", 1) != 1)
		abort();
	struct pollfd p = { j->done[0], POLLIN, 0 };
	char x;
	if (poll(&p, 1, 30000) != 1 || read(j->done[0], &x, 1) != 1)
		return false;
	pthread_join(j->th, NULL);
	j->running = false;
	return true;
}

static void job_free(struct job *j)
{
	if (j->running)
		job_wait(j);
	close(j->go[0]);
	close(j->go[1]);
	close(j->done[0]);
	close(j->done[1]);
	tls_buf_free(&j->sig);
}

/* The loop's side: the job's result into the conn. fail: report failure. */
static int job_deliver(struct job *j, tls_conn *c, bool fail)
{
	if (!job_wait(j))
		return -2;
	bool ok = j->rc == 0 && !fail;
	return tls_conn_sign_done(c, ok ? j->sig.base : NULL, ok ? j->sig.len : 0);
}

/* ---- credentials ---- */

struct cred {
	struct test_pki pki;
	tls_sig_key *key;          /* for the default signer run in the thread */
};

static void cred_make(struct cred *cr, enum testkey_type t, const char *dns)
{
	test_pki_make(&cr->pki, t, dns, 0);
	cr->key = tls_sig_key_new(cr->pki.leaf_key);
	if (!cr->key)
		abort();
}

/* An RSA-4096 leaf under a P-256 CA. */
static void cred_make_rsa4096(struct cred *cr, const char *dns)
{
	test_pki_make(&cr->pki, TESTKEY_P256, dns, 0);
	EVP_PKEY *big = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
	if (!big)
		abort();
	X509_free(cr->pki.leaf);
	EVP_PKEY_free(cr->pki.leaf_key);
	cr->pki.leaf_key = big;
	cr->pki.leaf = testcert_new(big, dns, dns, cr->pki.ca, cr->pki.ca_key, -3600, 86400L * 30,
				    false);
	cr->key = tls_sig_key_new(big);
	if (!cr->key)
		abort();
}

static void cred_free(struct cred *cr)
{
	tls_sig_key_free(cr->key);
	test_pki_free(&cr->pki);
}

/* Adds cr's certificate; with job, its signer is the threaded one. */
static void add_cert(tls_config *cfg, struct cred *cr, struct job *j)
{
	tls_chain ch;
	test_pki_chain(&cr->pki, &ch);
	if (tls_config_add_cert(cfg, &ch, test_pki_leaf_key(&cr->pki)) != 0)
		abort();
	if (j)
		tls_config_set_signer(cfg, async_sign, j);
}

static tls_config *server_cfg(struct cred *cr, struct job *j, const struct cred *client_ca)
{
	tls_config *cfg = tls_config_new(TLS_SERVER);
	char err[256];
	add_cert(cfg, cr, j);
	if (client_ca) {
		tls_config_set_client_auth(cfg, TLS_CLIENT_AUTH_REQUIRE);
		if (tls_config_load_ca(cfg, client_ca->pki.ca_path, err, sizeof(err)) != 0)
			abort();
	}
	return cfg;
}

static tls_config *client_cfg(const struct cred *trust, struct cred *own, struct job *j)
{
	tls_config *cfg = tls_config_new(TLS_CLIENT);
	char err[256];
	if (tls_config_load_ca(cfg, trust->pki.ca_path, err, sizeof(err)) != 0)
		abort();
	if (own)
		add_cert(cfg, own, j);
	return cfg;
}

/* ---- our client against our server ---- */

struct side {
	tls_conn *c;
	struct job *job;           /* its threaded signer, or NULL */
	bool fail_signer;          /* deliver a failure instead of the signature */
	int rc;
	int waits;                 /* TLS_WANT_SIGNATURE results */
	bool checked;              /* the checks at the first wait ran */
	bool ok_while_pending;     /* they held */
};

struct pair {
	struct side cl, sv;
	tls_buf c2s, s2c;
};

static void pair_init(struct pair *p, const tls_config *ccfg, const tls_config *scfg,
		      struct job *cjob, struct job *sjob)
{
	memset(p, 0, sizeof(*p));
	p->cl.c = tls_conn_new(ccfg);
	p->sv.c = tls_conn_new(scfg);
	p->cl.job = cjob;
	p->sv.job = sjob;
	p->cl.rc = p->sv.rc = TLS_WANT_INPUT;
	tls_buf_init(&p->c2s, 0);
	tls_buf_init(&p->s2c, 0);
	if (!p->cl.c || !p->sv.c || tls_conn_set_server_name(p->cl.c, "server.test") != 0)
		abort();
}

static void pair_free(struct pair *p)
{
	tls_conn_free(p->cl.c);
	tls_conn_free(p->sv.c);
	tls_buf_free(&p->c2s);
	tls_buf_free(&p->s2c);
}

/* While a signature is owed: the job has not run yet (the loop has
 * control), another call consumes nothing and writes nothing, and
 * tls_conn_sign_done refuses nonsense. */
static bool pending_checks(struct side *s, const tls_buf *in)
{
	tls_buf out;
	tls_buf_init(&out, 0);
	size_t n = in->len;
	int rc = tls_conn_handshake(s->c, &out, in->len ? in->base : NULL, &n);
	bool ok = !job_ready(s->job) && s->job->running && rc == TLS_WANT_SIGNATURE && n == 0 &&
		  out.len == 0 && !tls_conn_handshake_done(s->c);
	if (!ok)
		test_diag("while pending: rc %d, consumed %zu, wrote %zu", rc, n, out.len);
	tls_buf_free(&out);
	return ok;
}

/* One call of one side; a side that owes a signature gets it first. */
static size_t step(struct side *s, tls_buf *in, tls_buf *out)
{
	if (s->rc == TLS_WANT_SIGNATURE) {
		if (!s->checked) {
			s->checked = true;
			s->ok_while_pending = pending_checks(s, in);
		}
		int d = job_deliver(s->job, s->c, s->fail_signer);
		if (d != 0)
			test_diag("tls_conn_sign_done: %d", d);
	}
	size_t n = in->len;
	s->rc = tls_conn_handshake(s->c, out, in->len ? in->base : NULL, &n);
	if (s->rc == TLS_WANT_SIGNATURE)
		s->waits++;
	tls_buf_consume(in, n);
	return n;
}

/* Runs both sides until done, failed, or stuck. */
static bool pair_run(struct pair *p)
{
	for (int i = 0; i < 100; i++) {
		size_t before = p->c2s.len + p->s2c.len;
		bool owed = p->cl.rc == TLS_WANT_SIGNATURE || p->sv.rc == TLS_WANT_SIGNATURE;
		if (p->cl.rc > 0)
			step(&p->cl, &p->s2c, &p->c2s);
		if (p->sv.rc > 0)
			step(&p->sv, &p->c2s, &p->s2c);
		if (p->cl.rc == 0 && p->sv.rc == 0)
			return true;
		if (p->cl.rc < 0 || p->sv.rc < 0)
			break;
		if (!owed && p->c2s.len + p->s2c.len == before && i > 0)
			break;
	}
	/* let the other side read an alert */
	if (p->sv.rc < 0 && p->cl.rc > 0)
		step(&p->cl, &p->s2c, &p->c2s);
	if (p->cl.rc < 0 && p->sv.rc > 0)
		step(&p->sv, &p->c2s, &p->s2c);
	return false;
}

/* Application data both ways: the keys after the resumed flight agree. */
static bool exchange(tls_conn *a, tls_conn *b)
{
	static const char msg[] = "after an asynchronous signature";
	bool ok = true;
	for (int dir = 0; dir < 2; dir++) {
		tls_conn *from = dir ? b : a, *to = dir ? a : b;
		tls_buf wire, back, plain;
		tls_buf_init(&wire, 0);
		tls_buf_init(&back, 0);
		tls_buf_init(&plain, 0);
		ok = ok && tls_conn_send(from, &wire, msg, sizeof(msg)) == 0;
		/* a client may first read the server's tickets: loop over records */
		size_t off = 0;
		while (ok && off < wire.len) {
			size_t n = wire.len - off;
			int rc = tls_conn_recv(to, &back, &plain, wire.base + off, &n);
			ok = rc == 0 && n > 0;
			off += n;
		}
		ok = ok && plain.len == sizeof(msg) && memcmp(plain.base, msg, sizeof(msg)) == 0;
		tls_buf_free(&wire);
		tls_buf_free(&back);
		tls_buf_free(&plain);
	}
	return ok;
}

/* Reads the server's NewSessionTickets (what is left in s2c). */
static bool drain_tickets(struct pair *p)
{
	tls_buf back, plain;
	tls_buf_init(&back, 0);
	tls_buf_init(&plain, 0);
	size_t n = p->s2c.len;
	bool ok = n == 0 || (tls_conn_recv(p->cl.c, &back, &plain, p->s2c.base, &n) == 0 &&
			     n == p->s2c.len && plain.len == 0);
	tls_buf_consume(&p->s2c, n);
	tls_buf_free(&back);
	tls_buf_free(&plain);
	return ok;
}

static void server_async(struct cred *srv, const char *what, uint16_t want_scheme,
			 size_t want_sig_len, bool hrr)
{
	struct job j;
	job_init(&j, tls_sig_key_sign, srv->key, 5);
	tls_config *scfg = server_cfg(srv, &j, NULL);
	tls_config *ccfg = client_cfg(srv, NULL, NULL);
	if (hrr) {
		static const uint16_t p256[] = { TLS_GROUP_SECP256R1 };
		tls_config_set_groups(scfg, p256, 1); /* the client's X25519 share: HRR */
	}
	struct pair p;
	pair_init(&p, ccfg, scfg, NULL, &j);
	bool ok = pair_run(&p);
	if (!ok)
		test_diag("client %d: %s / server %d: %s", p.cl.rc, tls_conn_error(p.cl.c), p.sv.rc,
			  tls_conn_error(p.sv.c));
	test_ok(ok && p.sv.waits == 1 && j.calls == 1,
		"%s: server waits for its signature once and completes", what);
	test_ok(p.sv.ok_while_pending,
		"%s: while pending the loop has control, no input is consumed, nothing written",
		what);
	const tls_params *cp = tls_conn_params(p.cl.c), *sp = tls_conn_params(p.sv.c);
	test_ok(ok && cp->sig_scheme == want_scheme && sp->sig_scheme == want_scheme &&
		j.scheme == want_scheme && (!want_sig_len || j.sig.len == want_sig_len) &&
		cp->hrr == hrr,
		"%s: the scheme asked for is the one sent (0x%04x, %zu-byte signature)", what,
		cp->sig_scheme, j.sig.len);
	test_ok(ok && drain_tickets(&p) && exchange(p.cl.c, p.sv.c),
		"%s: application data both ways", what);
	pair_free(&p);
	job_free(&j);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

static void client_async(struct cred *srv, struct cred *cli, bool both)
{
	struct job cj, sj;
	job_init(&cj, tls_sig_key_sign, cli->key, 5);
	job_init(&sj, tls_sig_key_sign, srv->key, 5);
	tls_config *scfg = server_cfg(srv, both ? &sj : NULL, cli);
	tls_config *ccfg = client_cfg(srv, cli, &cj);
	const char *what = both ? "mTLS, both signers asynchronous" : "mTLS, client signer asynchronous";
	struct pair p;
	pair_init(&p, ccfg, scfg, &cj, both ? &sj : NULL);
	bool ok = pair_run(&p);
	if (!ok)
		test_diag("client %d: %s / server %d: %s", p.cl.rc, tls_conn_error(p.cl.c), p.sv.rc,
			  tls_conn_error(p.sv.c));
	test_ok(ok && p.cl.waits == 1 && cj.calls == 1 && (!both || (p.sv.waits == 1 && sj.calls == 1)),
		"%s: completes", what);
	test_ok(p.cl.ok_while_pending && (!both || p.sv.ok_while_pending),
		"%s: while pending nothing is consumed or written", what);
	const tls_params *sp = tls_conn_params(p.sv.c);
	test_ok(ok && sp->peer_chain && sp->peer_chain->n == 2 && sp->client_id,
		"%s: the server verified the client's certificate", what);
	test_ok(ok && drain_tickets(&p) && exchange(p.cl.c, p.sv.c),
		"%s: application data both ways", what);
	pair_free(&p);
	job_free(&cj);
	job_free(&sj);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* sign_done(NULL): internal_error, and the alert reaches the peer. */
static void signer_fails(struct cred *srv, struct cred *cli, bool client_side)
{
	struct job j;
	job_init(&j, tls_sig_key_sign, client_side ? cli->key : srv->key, 1);
	tls_config *scfg = server_cfg(srv, client_side ? NULL : &j, client_side ? cli : NULL);
	tls_config *ccfg = client_cfg(srv, client_side ? cli : NULL, client_side ? &j : NULL);
	const char *who = client_side ? "client" : "server";
	struct pair p;
	pair_init(&p, ccfg, scfg, client_side ? &j : NULL, client_side ? NULL : &j);
	struct side *me = client_side ? &p.cl : &p.sv, *peer = client_side ? &p.sv : &p.cl;
	me->fail_signer = true;
	bool ok = pair_run(&p);
	test_ok(!ok && me->waits == 1 && me->rc == TLS_ERR_LOCAL(TLS_ALERT_INTERNAL_ERROR),
		"%s signer fails: the resumed handshake fails with internal_error (%d: %s)", who,
		me->rc, tls_conn_error(me->c));
	test_ok(peer->rc == TLS_ERR_PEER(TLS_ALERT_INTERNAL_ERROR),
		"%s signer fails: the peer reads the internal_error alert (%d)", who, peer->rc);
	tls_buf out;
	tls_buf_init(&out, 0);
	test_ok(tls_conn_sign_done(me->c, (const uint8_t *)"x", 1) == -1 &&
		tls_conn_handshake(me->c, &out, NULL, NULL) == me->rc && out.len == 0,
		"%s signer fails: the conn stays failed; sign_done refused", who);
	tls_buf_free(&out);
	pair_free(&p);
	job_free(&j);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* Misuse: no signature owed; a signature of an impossible length. */
static void bad_calls(struct cred *srv)
{
	struct job j;
	job_init(&j, tls_sig_key_sign, srv->key, 0);
	tls_config *scfg = server_cfg(srv, &j, NULL);
	tls_config *ccfg = client_cfg(srv, NULL, NULL);
	struct pair p;
	pair_init(&p, ccfg, scfg, NULL, &j);
	static const uint8_t sig[600];
	test_ok(tls_conn_sign_done(p.sv.c, sig, 64) == -1 && tls_conn_sign_done(p.cl.c, sig, 64) == -1,
		"sign_done before any signature is owed: refused");
	step(&p.cl, &p.s2c, &p.c2s);
	size_t n = p.c2s.len;
	p.sv.rc = tls_conn_handshake(p.sv.c, &p.s2c, p.c2s.base, &n);
	tls_buf_consume(&p.c2s, n);
	bool pending = p.sv.rc == TLS_WANT_SIGNATURE && p.c2s.len == 0 && p.s2c.len > 0;
	test_ok(pending, "the server owes a signature; the ClientHello was consumed");
	/* the flight so far: the client reads it all and waits for the rest */
	n = p.s2c.len;
	p.cl.rc = tls_conn_handshake(p.cl.c, &p.c2s, p.s2c.base, &n);
	test_ok(p.cl.rc == TLS_WANT_INPUT && n == p.s2c.len && p.c2s.len == 0,
		"the client takes the flight up to the Certificate and waits");
	tls_buf_consume(&p.s2c, n);
	job_wait(&j);
	test_ok(tls_conn_sign_done(p.sv.c, sig, 0) == -1, "an empty signature is refused");
	tls_buf out;
	tls_buf_init(&out, 0);
	n = 0;
	int rc = tls_conn_handshake(p.sv.c, &out, NULL, &n);
	test_ok(rc == TLS_ERR_LOCAL(TLS_ALERT_INTERNAL_ERROR) && out.len > 0,
		"... and the handshake then fails with internal_error (%s)", tls_conn_error(p.sv.c));
	tls_buf_free(&out);
	pair_free(&p);

	/* too long for a P-256 key */
	pair_init(&p, ccfg, scfg, NULL, &j);
	step(&p.cl, &p.s2c, &p.c2s);
	n = p.c2s.len;
	rc = tls_conn_handshake(p.sv.c, &p.s2c, p.c2s.base, &n);
	job_wait(&j);
	test_ok(rc == TLS_WANT_SIGNATURE && tls_conn_sign_done(p.sv.c, sig, sizeof(sig)) == -1 &&
		tls_conn_sign_done(p.sv.c, j.sig.base, j.sig.len) == -1,
		"a signature longer than the key's is refused, and so is a second try");
	tls_buf_init(&out, 0);
	rc = tls_conn_handshake(p.sv.c, &out, NULL, NULL);
	test_ok(rc == TLS_ERR_LOCAL(TLS_ALERT_INTERNAL_ERROR), "... the handshake fails");
	tls_buf_free(&out);
	pair_free(&p);
	job_free(&j);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* Input that arrives while pending stays with the caller, and the call
 * that resumes goes on to process it. */
static void input_while_pending(struct cred *srv)
{
	static const uint8_t ccs[6] = { 20, 3, 3, 0, 1, 1 };
	struct job j;
	job_init(&j, tls_sig_key_sign, srv->key, 1);
	tls_config *scfg = server_cfg(srv, &j, NULL);
	tls_config *ccfg = client_cfg(srv, NULL, NULL);
	tls_config_set_compat_mode(ccfg, false); /* the one CCS is ours */
	struct pair p;
	pair_init(&p, ccfg, scfg, NULL, &j);
	step(&p.cl, &p.s2c, &p.c2s);
	size_t n = p.c2s.len;
	int rc = tls_conn_handshake(p.sv.c, &p.s2c, p.c2s.base, &n);
	tls_buf_consume(&p.c2s, n);
	size_t flight1 = p.s2c.len;
	tls_buf out;
	tls_buf_init(&out, 0);
	n = sizeof(ccs);
	int rc2 = tls_conn_handshake(p.sv.c, &out, ccs, &n);
	test_ok(rc == TLS_WANT_SIGNATURE && rc2 == TLS_WANT_SIGNATURE && n == 0 && out.len == 0,
		"a CCS arriving while pending is not consumed");
	test_ok(job_deliver(&j, p.sv.c, false) == 0, "sign_done takes the signature");
	n = sizeof(ccs);
	rc = tls_conn_handshake(p.sv.c, &p.s2c, ccs, &n);
	test_ok(rc == TLS_WANT_INPUT && n == sizeof(ccs) && p.s2c.len > flight1,
		"the resuming call writes the rest of the flight and consumes the CCS");
	bool ok = pair_run(&p);
	test_ok(ok && p.sv.waits == 0 && drain_tickets(&p) && exchange(p.cl.c, p.sv.c),
		"... and the handshake completes");
	tls_buf_free(&out);
	pair_free(&p);
	job_free(&j);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* The conn goes away while the job runs: nothing leaks (ASan), and the
 * job's result is simply dropped by the loop. */
static void free_while_pending(struct cred *srv, struct cred *cli)
{
	struct job sj, cj;
	job_init(&sj, tls_sig_key_sign, srv->key, 20);
	job_init(&cj, tls_sig_key_sign, cli->key, 20);
	tls_config *scfg = server_cfg(srv, &sj, NULL);
	tls_config *ccfg = client_cfg(srv, NULL, NULL);
	struct pair p;
	pair_init(&p, ccfg, scfg, NULL, &sj);
	step(&p.cl, &p.s2c, &p.c2s);
	size_t n = p.c2s.len;
	int rc = tls_conn_handshake(p.sv.c, &p.s2c, p.c2s.base, &n);
	tls_conn_free(p.sv.c);
	p.sv.c = NULL;
	test_ok(rc == TLS_WANT_SIGNATURE && job_wait(&sj) && sj.rc == 0,
		"server freed while its signature is owed; the job finishes on its own");
	pair_free(&p);
	tls_config_free(scfg);
	tls_config_free(ccfg);

	/* a client freed after the signature came but before it was written */
	scfg = server_cfg(srv, NULL, cli);
	ccfg = client_cfg(srv, cli, &cj);
	pair_init(&p, ccfg, scfg, &cj, NULL);
	for (int i = 0; i < 10 && p.cl.rc != TLS_WANT_SIGNATURE && p.cl.rc > 0; i++) {
		step(&p.cl, &p.s2c, &p.c2s);
		if (p.sv.rc > 0 && p.cl.rc != TLS_WANT_SIGNATURE)
			step(&p.sv, &p.c2s, &p.s2c);
	}
	rc = p.cl.rc;
	int d = rc == TLS_WANT_SIGNATURE ? job_deliver(&cj, p.cl.c, false) : -3;
	tls_conn_free(p.cl.c);
	p.cl.c = NULL;
	test_ok(rc == TLS_WANT_SIGNATURE && d == 0,
		"client freed with a supplied signature not yet written");
	pair_free(&p);
	job_free(&sj);
	job_free(&cj);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* ---- against OpenSSL libssl, in memory ---- */

struct ossl {
	SSL *ssl;
	BIO *to_ssl, *from_ssl;
	tls_buf in;                /* its bytes our side has not consumed */
	int done;                  /* 0 running, 1 done, -1 failed */
};

static void ossl_init(struct ossl *o, SSL_CTX *ctx, bool client)
{
	memset(o, 0, sizeof(*o));
	o->ssl = SSL_new(ctx);
	o->to_ssl = BIO_new(BIO_s_mem());
	o->from_ssl = BIO_new(BIO_s_mem());
	if (!o->ssl || !o->to_ssl || !o->from_ssl)
		abort();
	tls_buf_init(&o->in, 0);
	SSL_set_bio(o->ssl, o->to_ssl, o->from_ssl);
	if (client) {
		SSL_set_connect_state(o->ssl);
		SSL_set_tlsext_host_name(o->ssl, "server.test");
		SSL_set1_host(o->ssl, "server.test");
	} else {
		SSL_set_accept_state(o->ssl);
	}
}

static void pull(struct ossl *o, tls_buf *in)
{
	int n;
	while ((n = (int)BIO_ctrl_pending(o->from_ssl)) > 0) {
		uint8_t *p = tls_buf_reserve(in, (size_t)n);
		if (!p || BIO_read(o->from_ssl, p, n) != n)
			abort();
		in->len += (size_t)n;
	}
}

static void push(struct ossl *o, tls_buf *out)
{
	if (out->len && BIO_write(o->to_ssl, out->base, (int)out->len) != (int)out->len)
		abort();
	tls_buf_consume(out, out->len);
}

static int diag_cb(const char *str, size_t len, void *u)
{
	(void)u;
	test_diag("openssl: %.*s", (int)len, str);
	return 1;
}

/* Runs our side s against o until both are done, one fails, or stuck. */
static bool ossl_run(struct side *s, struct ossl *o)
{
	tls_buf *in = &o->in, out;
	tls_buf_init(&out, 0);
	for (int i = 0; i < 100 && (s->rc != 0 || o->done == 0); i++) {
		bool moved = s->rc == TLS_WANT_SIGNATURE;
		if (o->done == 0) {
			int r = SSL_do_handshake(o->ssl);
			if (r == 1)
				o->done = 1;
			else if (SSL_get_error(o->ssl, r) != SSL_ERROR_WANT_READ)
				o->done = -1;
		}
		size_t had = in->len;
		pull(o, in);
		moved = moved || in->len != had;
		if (s->rc > 0) {
			size_t used = step(s, in, &out);
			moved = moved || used || out.len;
		}
		push(o, &out);
		if (s->rc < 0 || o->done < 0)
			break;
		if (!moved && i > 0 && o->done == 0)
			break;
	}
	if (o->done < 0)
		ERR_print_errors_cb(diag_cb, NULL);
	tls_buf_free(&out);
	return s->rc == 0 && o->done == 1;
}

/* Application data both ways with OpenSSL (a client reads tickets first). */
static bool ossl_exchange(tls_conn *c, struct ossl *o)
{
	static const char msg[] = "async interop";
	char got[64];
	tls_buf wire, back, plain;
	tls_buf_init(&wire, 0);
	tls_buf_init(&back, 0);
	tls_buf_init(&plain, 0);
	bool ok = tls_conn_send(c, &wire, msg, sizeof(msg)) == 0;
	push(o, &wire);
	ok = ok && SSL_read(o->ssl, got, sizeof(got)) == (int)sizeof(msg) &&
	     memcmp(got, msg, sizeof(msg)) == 0;
	ok = ok && SSL_write(o->ssl, msg, sizeof(msg)) == (int)sizeof(msg);
	pull(o, &o->in); /* after what it wrote before (tickets) */
	while (ok && o->in.len) {
		size_t n = o->in.len;
		ok = tls_conn_recv(c, &back, &plain, o->in.base, &n) == 0 && n > 0;
		tls_buf_consume(&o->in, n);
	}
	ok = ok && plain.len == sizeof(msg) && memcmp(plain.base, msg, sizeof(msg)) == 0;
	tls_buf_free(&wire);
	tls_buf_free(&back);
	tls_buf_free(&plain);
	return ok;
}

static SSL_CTX *ossl_ctx(bool client)
{
	SSL_CTX *ctx = SSL_CTX_new(client ? TLS_client_method() : TLS_server_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION))
		abort();
	return ctx;
}

static void ossl_trust(SSL_CTX *ctx, const struct cred *cr, int mode)
{
	if (!X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cr->pki.ca))
		abort();
	SSL_CTX_set_verify(ctx, mode, NULL);
}

/* Our server, OpenSSL's client. */
static void ossl_client_vs_async_server(struct cred *srv, const char *what, uint16_t want_scheme)
{
	struct job j;
	job_init(&j, tls_sig_key_sign, srv->key, 5);
	tls_config *scfg = server_cfg(srv, &j, NULL);
	SSL_CTX *ctx = ossl_ctx(true);
	ossl_trust(ctx, srv, SSL_VERIFY_PEER);
	struct ossl o;
	ossl_init(&o, ctx, true);
	struct side s = { .c = tls_conn_new(scfg), .job = &j, .rc = TLS_WANT_INPUT };
	bool ok = ossl_run(&s, &o);
	if (!ok)
		test_diag("ours %d: %s / openssl %d", s.rc, tls_conn_error(s.c), o.done);
	test_ok(ok && s.waits == 1 && j.calls == 1 && s.ok_while_pending,
		"OpenSSL client, %s: our server signs asynchronously, the handshake completes",
		what);
	test_ok(ok && tls_conn_params(s.c)->sig_scheme == want_scheme &&
		SSL_get_verify_result(o.ssl) == X509_V_OK && ossl_exchange(s.c, &o),
		"OpenSSL client, %s: verified, scheme 0x%04x, application data both ways", what,
		want_scheme);
	tls_conn_free(s.c);
	SSL_free(o.ssl);
	tls_buf_free(&o.in);
	SSL_CTX_free(ctx);
	job_free(&j);
	tls_config_free(scfg);
}

/* OpenSSL's server asks for a client certificate; ours signs asynchronously. */
static void ossl_server_vs_async_client(struct cred *srv, struct cred *cli, const char *what)
{
	struct job j;
	job_init(&j, tls_sig_key_sign, cli->key, 5);
	tls_config *ccfg = client_cfg(srv, cli, &j);
	SSL_CTX *ctx = ossl_ctx(false);
	if (SSL_CTX_use_certificate(ctx, srv->pki.leaf) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, srv->pki.leaf_key) != 1)
		abort();
	ossl_trust(ctx, cli, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
	struct ossl o;
	ossl_init(&o, ctx, false);
	struct side s = { .c = tls_conn_new(ccfg), .job = &j, .rc = TLS_WANT_INPUT };
	tls_conn_set_server_name(s.c, "server.test");
	bool ok = ossl_run(&s, &o);
	if (!ok)
		test_diag("ours %d: %s / openssl %d", s.rc, tls_conn_error(s.c), o.done);
	X509 *peer = ok ? SSL_get1_peer_certificate(o.ssl) : NULL;
	test_ok(ok && s.waits == 1 && j.calls == 1 && s.ok_while_pending,
		"OpenSSL server, %s: our client certificate signed asynchronously", what);
	test_ok(peer && X509_cmp(peer, cli->pki.leaf) == 0 &&
		SSL_get_verify_result(o.ssl) == X509_V_OK && ossl_exchange(s.c, &o),
		"OpenSSL server, %s: it verified our certificate; application data both ways",
		what);
	X509_free(peer);
	tls_conn_free(s.c);
	SSL_free(o.ssl);
	tls_buf_free(&o.in);
	SSL_CTX_free(ctx);
	job_free(&j);
	tls_config_free(ccfg);
}

int main(void)
{
	struct cred p256, cli, rsa;
	cred_make(&p256, TESTKEY_P256, "server.test");
	cred_make(&cli, TESTKEY_P256, "client.test");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cred_make_rsa4096(&rsa, "server.test");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	test_diag("RSA-4096 key generated in %.0f ms",
		  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);

	server_async(&p256, "P-256", TLS_SIG_ECDSA_SECP256R1_SHA256, 0, false);
	server_async(&p256, "P-256 after HelloRetryRequest", TLS_SIG_ECDSA_SECP256R1_SHA256, 0, true);
	server_async(&rsa, "RSA-4096, default signer in a thread", TLS_SIG_RSA_PSS_RSAE_SHA256, 512,
		     false);
	client_async(&p256, &cli, false);
	client_async(&p256, &cli, true);
	signer_fails(&p256, &cli, false);
	signer_fails(&p256, &cli, true);
	bad_calls(&p256);
	input_while_pending(&p256);
	free_while_pending(&p256, &cli);
	ossl_client_vs_async_server(&p256, "P-256", TLS_SIG_ECDSA_SECP256R1_SHA256);
	ossl_client_vs_async_server(&rsa, "RSA-4096", TLS_SIG_RSA_PSS_RSAE_SHA256);
	ossl_server_vs_async_client(&p256, &cli, "P-256 client certificate");

	cred_free(&p256);
	cred_free(&cli);
	cred_free(&rsa);
	return test_done();
}
