/* Time per full TLS 1.3 handshake, ours vs OpenSSL libssl vs the libcrypto
 * floor, in one process with the same certificate and key; and the engine's
 * memory per in-flight server handshake. Method: bench/README.md.
 *
 * One configuration throughout: X25519, ecdsa_secp256r1_sha256,
 * TLS_AES_128_GCM_SHA256, no tickets, no chain verification. The role being
 * measured is timed with CLOCK_MONOTONIC around each of its own calls only;
 * the peer that drives it (OpenSSL for both stacks) is not counted.
 * Two more rows price the hybrid group: our server (X25519MLKEM768 first,
 * then X25519) driven by our client offering X25519MLKEM768, against the same
 * server driven by our client offering X25519 (OpenSSL 3.0 has no ML-KEM).
 */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls/crypto.h"
#include "tls/tls.h"
#include "tls/wire.h"

#define SERVER_NAME "bench.test"
#define PIPE_CAP 65536
#define MAX_BATCHES 101

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "handshake: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* ---- time ---- */

/* Sections are timed with CLOCK_MONOTONIC, a vDSO read (about 25 ns, no
 * kernel entry). CLOCK_THREAD_CPUTIME_ID is a system call (1.3 us on a VM
 * with page-table isolation) whose kernel entry flushes the TLB and evicts
 * cache lines, so a row was charged for every section boundary beyond what
 * the clock calibration subtracts: two more boundaries in the floor cost it
 * 1-3% (bench/README.md). A section is one call of at most a few hundred us
 * on one thread that does not block, so wall time is its CPU time unless the
 * thread is preempted, which the median batch absorbs. --cpu-clock: the old
 * clock. */
static clockid_t section_clock = CLOCK_MONOTONIC;

static uint64_t clock_ns(void)
{
	struct timespec ts;
	clock_gettime(section_clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A timed section costs about one clock read on top of its content; that
 * is subtracted per section so rows with more calls are not penalised. */
static double clock_overhead_ns;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void calibrate_clock(void)
{
	double v[2001];
	for (size_t i = 0; i < 2001; i++) {
		uint64_t t0 = clock_ns();
		uint64_t t1 = clock_ns();
		v[i] = (double)(t1 - t0);
	}
	clock_overhead_ns = median(v, 2001);
}

/* Accumulates the CPU time of the measured side. */
struct meter {
	uint64_t ns;
	unsigned long sections;
};

static double meter_net_ns(const struct meter *m)
{
	double ns = (double)m->ns - clock_overhead_ns * (double)m->sections;
	return ns > 0 ? ns : 0;
}

/* Under callgrind with --collect-atstart=no (bench/instructions), exactly
 * the timed sections are counted; natively the toggle is a few no-ops. */
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define COUNT_TOGGLE() CALLGRIND_TOGGLE_COLLECT
#else
#define COUNT_TOGGLE() ((void)0)
#endif

#define TIMED(m, ...)                                               \
	do {                                                        \
		if (m) {                                            \
			uint64_t t0_ = clock_ns();                  \
			COUNT_TOGGLE();                             \
			__VA_ARGS__;                                \
			COUNT_TOGGLE();                             \
			(m)->ns += clock_ns() - t0_;                \
			(m)->sections++;                            \
		} else {                                            \
			__VA_ARGS__;                                \
		}                                                   \
	} while (0)

/* ---- the certificate and key both stacks use ---- */

static EVP_PKEY *g_key;
static X509 *g_cert;
static uint8_t *g_cert_der;
static size_t g_cert_der_len;

static void make_identity(void)
{
	g_key = EVP_EC_gen("P-256");
	g_cert = X509_new();
	if (!g_key || !g_cert)
		die("cannot generate the P-256 key");
	X509_set_version(g_cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(g_cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(g_cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(g_cert), 30L * 86400);
	X509_set_pubkey(g_cert, g_key);
	X509_NAME *name = X509_get_subject_name(g_cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)SERVER_NAME,
				   -1, -1, 0);
	X509_set_issuer_name(g_cert, name);
	X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
						  "DNS:" SERVER_NAME);
	if (!san || !X509_add_ext(g_cert, san, -1))
		die("cannot add the subjectAltName");
	X509_EXTENSION_free(san);
	if (!X509_sign(g_cert, g_key, EVP_sha256()))
		die("cannot sign the certificate");
	int n = i2d_X509(g_cert, &g_cert_der);
	if (n <= 0)
		die("cannot encode the certificate");
	g_cert_der_len = (size_t)n;
}

/* ---- byte pipes between the two sides ---- */

struct pipe {
	uint8_t *buf;
	size_t len, cap;
};

static void pipe_init(struct pipe *p, size_t cap)
{
	p->buf = malloc(cap);
	p->len = 0;
	p->cap = cap;
	if (!p->buf)
		die("out of memory");
}

static void pipe_consume(struct pipe *p, size_t n)
{
	memmove(p->buf, p->buf + n, p->len - n);
	p->len -= n;
}

/* ---- one side of a handshake: OpenSSL or ours ---- */

enum stack { STACK_OPENSSL, STACK_OURS };
enum { EP_WANT = 1, EP_DONE = 0, EP_ERR = -1 };

static SSL_CTX *ossl_server_ctx, *ossl_client_ctx;

/* Our engine's configurations for one pairing, and the group both sides
 * must have agreed on. */
struct ours_pair {
	tls_config *server, *client;
	uint16_t group;
};
/* x25519: the main rows; pq_x25519 / pq: the hybrid-capable server with a
 * client offering X25519 / X25519MLKEM768 (the ratio rows). */
static struct ours_pair ours_x25519, ours_pq_x25519, ours_pq;

/* Memory BIOs outlive the SSL objects (one reference is ours): a real
 * server reads a socket, so growing I/O buffers is no part of its cost. */
struct bio_pair {
	BIO *rbio, *wbio;
};

struct ep {
	enum stack stack;
	bool server, done;
	SSL *ssl;
	struct bio_pair *bios;
	tls_conn *conn;
	uint16_t group;           /* expected (ours only) */
	int err;
};

static void bio_pair_init(struct bio_pair *b)
{
	b->rbio = BIO_new(BIO_s_mem());
	b->wbio = BIO_new(BIO_s_mem());
	if (!b->rbio || !b->wbio)
		die("out of memory");
	/* Pre-grow both so that no handshake pays for their buffers. */
	static uint8_t junk[PIPE_CAP];
	BIO_write(b->rbio, junk, sizeof(junk));
	BIO_write(b->wbio, junk, sizeof(junk));
	while (BIO_read(b->rbio, junk, sizeof(junk)) > 0)
		;
	while (BIO_read(b->wbio, junk, sizeof(junk)) > 0)
		;
}

static void bio_pair_free(struct bio_pair *b)
{
	BIO_free(b->rbio);
	BIO_free(b->wbio);
}

static uint8_t secret_sink[TLS_MAX_HASH];

/* A daemon copies the secrets it installs into kTLS; so do we. */
static void on_secret(void *ctx, enum tls_dir dir, int epoch, const tls_cipher *cs,
		      const uint8_t *secret, size_t len)
{
	if (len <= sizeof(secret_sink))
		memcpy(secret_sink, secret, len);
}

static const tls_callbacks ours_callbacks = { .secret = on_secret };

static void ep_create(struct ep *e, enum stack stack, bool server, const struct ours_pair *op,
		      struct bio_pair *bios, struct meter *m)
{
	memset(e, 0, sizeof(*e));
	e->stack = stack;
	e->server = server;
	e->bios = bios;
	e->group = op->group;
	if (stack == STACK_OPENSSL) {
		TIMED(m, {
			e->ssl = SSL_new(server ? ossl_server_ctx : ossl_client_ctx);
			if (e->ssl) {
				BIO_up_ref(bios->rbio);
				BIO_up_ref(bios->wbio);
				SSL_set_bio(e->ssl, bios->rbio, bios->wbio);
				if (server) {
					SSL_set_accept_state(e->ssl);
				} else {
					SSL_set_connect_state(e->ssl);
					SSL_set_tlsext_host_name(e->ssl, SERVER_NAME);
				}
			}
		});
		if (!e->ssl)
			die("SSL_new failed");
	} else {
		TIMED(m, {
			e->conn = tls_conn_new(server ? op->server : op->client);
			if (e->conn) {
				tls_conn_set_callbacks(e->conn, &ours_callbacks, NULL);
				if (!server)
					e->err = tls_conn_set_server_name(e->conn, SERVER_NAME);
			}
		});
		if (!e->conn || e->err)
			die("tls_conn_new / tls_conn_set_server_name failed");
	}
}

static void ep_free(struct ep *e, struct meter *m)
{
	if (e->stack == STACK_OPENSSL) {
		TIMED(m, SSL_free(e->ssl));
		/* Leave the shared BIOs empty for the next handshake. */
		if (BIO_ctrl_pending(e->bios->rbio))
			BIO_reset(e->bios->rbio);
		if (BIO_ctrl_pending(e->bios->wbio))
			BIO_reset(e->bios->wbio);
	} else {
		TIMED(m, tls_conn_free(e->conn));
	}
	e->ssl = NULL;
	e->conn = NULL;
}

static const char *ep_name(const struct ep *e)
{
	if (e->stack == STACK_OPENSSL)
		return e->server ? "OpenSSL server" : "OpenSSL client";
	return e->server ? "our server" : "our client";
}

/* Feeds what is in `in` to e, appends what it sends to `out`. Only the
 * stack's own handshake call is timed: moving bytes is the caller's I/O. */
static int ep_step(struct ep *e, struct pipe *in, struct pipe *out, struct meter *m)
{
	int r;

	if (e->stack == STACK_OPENSSL) {
		if (in->len && BIO_write(e->bios->rbio, in->buf, (int)in->len) != (int)in->len)
			die("BIO_write failed");
		in->len = 0;
		TIMED(m, {
			r = SSL_do_handshake(e->ssl);
			r = r == 1 ? EP_DONE
			    : SSL_get_error(e->ssl, r) == SSL_ERROR_WANT_READ ? EP_WANT
									      : EP_ERR;
		});
		for (;;) {
			int n = BIO_read(e->bios->wbio, out->buf + out->len,
					 (int)(out->cap - out->len));
			if (n <= 0)
				break;
			out->len += (size_t)n;
		}
		if (BIO_ctrl_pending(e->bios->wbio))
			die("pipe overflow");
	} else {
		tls_buf ob;
		size_t n = in->len;
		tls_buf_init_fixed(&ob, out->buf + out->len, out->cap - out->len);
		TIMED(m, r = tls_conn_handshake(e->conn, &ob, in->len ? in->buf : NULL, &n));
		if (ob.err)
			die("pipe overflow");
		out->len += ob.len;
		pipe_consume(in, n);
		e->err = r;
		r = r == 0 ? EP_DONE : r == TLS_WANT_INPUT ? EP_WANT : EP_ERR;
	}
	if (r == EP_DONE)
		e->done = true;
	if (r == EP_ERR) {
		if (e->stack == STACK_OURS)
			die("%s failed: %d (alert %s): %s", ep_name(e), e->err,
			    tls_alert_name(TLS_ERR_ALERT(e->err)), tls_conn_error(e->conn));
		die("%s failed", ep_name(e));
	}
	return r;
}

/* Checks that the handshake negotiated what this benchmark claims. */
static void ep_check_params(const struct ep *e)
{
	bool ok;
	if (e->stack == STACK_OPENSSL) {
		const SSL_CIPHER *c = SSL_get_current_cipher(e->ssl);
		ok = SSL_version(e->ssl) == TLS1_3_VERSION && c &&
		     (SSL_CIPHER_get_id(c) & 0xffff) == TLS_AES_128_GCM_SHA256 &&
		     SSL_get_negotiated_group(e->ssl) == NID_X25519 && !SSL_session_reused(e->ssl);
	} else {
		const tls_params *p = tls_conn_params(e->conn);
		ok = p && p->version == 0x0304 && p->cipher &&
		     p->cipher->id == TLS_AES_128_GCM_SHA256 && p->group == e->group &&
		     p->sig_scheme == TLS_SIG_ECDSA_SECP256R1_SHA256 && !p->resumed && !p->hrr;
	}
	if (!ok)
		die("%s negotiated something other than TLS 1.3 %s ECDSA-P256 AES-128-GCM",
		    ep_name(e), e->group == TLS_GROUP_X25519 ? "X25519" : "X25519MLKEM768");
}

/* Sends one application record from `from` to `to`: proves both derived the
 * same traffic keys. */
static void ep_check_data(struct ep *from, struct ep *to)
{
	static const char msg[] = "bench ping";
	static struct pipe p;
	char got[64];
	size_t got_len = 0;

	if (!p.buf)
		pipe_init(&p, PIPE_CAP);
	p.len = 0;
	if (from->stack == STACK_OPENSSL) {
		if (SSL_write(from->ssl, msg, sizeof(msg)) != sizeof(msg))
			die("SSL_write failed");
		int n = BIO_read(from->bios->wbio, p.buf, (int)p.cap);
		if (n <= 0)
			die("no record from %s", ep_name(from));
		p.len = (size_t)n;
	} else {
		tls_buf ob;
		tls_buf_init_fixed(&ob, p.buf, p.cap);
		if (tls_conn_send(from->conn, &ob, msg, sizeof(msg)) || ob.err)
			die("tls_conn_send failed: %s", tls_conn_error(from->conn));
		p.len = ob.len;
	}
	if (to->stack == STACK_OPENSSL) {
		BIO_write(to->bios->rbio, p.buf, (int)p.len);
		int n = SSL_read(to->ssl, got, sizeof(got));
		if (n > 0)
			got_len = (size_t)n;
	} else {
		tls_buf ob, plain;
		uint8_t pb[64];
		size_t n = p.len;
		tls_buf_init_fixed(&ob, p.buf + p.len, p.cap - p.len);
		tls_buf_init_fixed(&plain, pb, sizeof(pb));
		int r = tls_conn_recv(to->conn, &ob, &plain, p.buf, &n);
		if (r == 0 && !plain.err && plain.len <= sizeof(got)) {
			memcpy(got, pb, plain.len);
			got_len = plain.len;
		}
	}
	if (got_len != sizeof(msg) || memcmp(got, msg, sizeof(msg)))
		die("application data from %s did not reach %s intact", ep_name(from), ep_name(to));
}

static struct bio_pair server_bios, client_bios;
static struct pipe c2s, s2c;

/* One complete handshake; the measured role's CPU time goes into m. op: our
 * engine's configurations (and the group) when a side is ours. */
static void one_handshake(enum stack server, enum stack client, const struct ours_pair *op,
			  bool measure_server, struct meter *m, bool check)
{
	struct ep srv, cli;
	struct meter *ms = measure_server ? m : NULL, *mc = measure_server ? NULL : m;

	c2s.len = s2c.len = 0;
	ep_create(&cli, client, false, op, &client_bios, mc);
	ep_create(&srv, server, true, op, &server_bios, ms);
	for (int round = 0; round < 8 && !(srv.done && cli.done); round++) {
		if (!cli.done)
			ep_step(&cli, &s2c, &c2s, mc);
		if (!srv.done && c2s.len)
			ep_step(&srv, &c2s, &s2c, ms);
	}
	if (!srv.done || !cli.done)
		die("handshake %s <-> %s did not complete", ep_name(&srv), ep_name(&cli));
	if (c2s.len || s2c.len)
		die("bytes left over after the handshake %s <-> %s", ep_name(&srv), ep_name(&cli));
	if (check) {
		ep_check_params(&srv);
		ep_check_params(&cli);
		ep_check_data(&cli, &srv);
		ep_check_data(&srv, &cli);
	}
	ep_free(&cli, mc);
	ep_free(&srv, ms);
}

/* ---- configurations ---- */

static SSL_CTX *ossl_ctx(bool server)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256") ||
	    !SSL_CTX_set1_groups_list(ctx, "X25519") ||
	    !SSL_CTX_set1_sigalgs_list(ctx, "ECDSA+SHA256"))
		die("cannot configure the OpenSSL context");
	if (server) {
		if (!SSL_CTX_use_certificate(ctx, g_cert) || !SSL_CTX_use_PrivateKey(ctx, g_key) ||
		    !SSL_CTX_check_private_key(ctx))
			die("cannot load the certificate into OpenSSL");
		/* No tickets and no session cache: the same work as our engine. */
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	return ctx;
}

/* groups: the preference list; a client shares the first one only. */
static tls_config *ours_config(bool server, const uint16_t *groups, size_t n_groups)
{
	const uint16_t cs = TLS_AES_128_GCM_SHA256, sig = TLS_SIG_ECDSA_SECP256R1_SHA256;
	tls_config *cfg = tls_config_new(server ? TLS_SERVER : TLS_CLIENT);
	if (!cfg || tls_config_set_ciphers(cfg, &cs, 1) ||
	    tls_config_set_groups(cfg, groups, n_groups) ||
	    tls_config_set_sigalgs(cfg, &sig, 1))
		die("cannot configure our engine");
	if (server) {
		/* The config takes the certificate array and the references. */
		tls_chain chain = { calloc(1, sizeof(X509 *)), 1 };
		if (!chain.certs)
			die("out of memory");
		X509_up_ref(g_cert);
		EVP_PKEY_up_ref(g_key);
		chain.certs[0] = g_cert;
		if (tls_config_add_cert(cfg, &chain, g_key))
			die("tls_config_add_cert failed");
		/* Same work as the OpenSSL server (SSL_CTX_set_num_tickets 0). */
		if (tls_config_set_tickets(cfg, 0, 0))
			die("cannot turn our tickets off");
	} else {
		tls_config_set_verify_peer(cfg, false);
		if (tls_config_set_key_share_groups(cfg, groups, 1))
			die("cannot configure our client's key share");
	}
	return cfg;
}

/* ---- the floor: the libcrypto calls one handshake cannot avoid ---- */

/* Handshake messages (4-byte header included) of a reference OpenSSL
 * handshake, so the floor hashes and encrypts real sizes. */
enum { M_CH, M_SH, M_EE, M_CERT, M_CV, M_SFIN, M_CFIN, M_COUNT };
static struct {
	uint8_t *p;
	size_t n;
} ref_msg[M_COUNT];

static void capture_msg(int write_p, int version, int content_type, const void *buf, size_t len,
			SSL *ssl, void *arg)
{
	const uint8_t *b = buf;
	int slot = -1;
	if (content_type != SSL3_RT_HANDSHAKE || len < 4)
		return;
	switch (b[0]) {
	case 1: slot = M_CH; break;
	case 2: slot = M_SH; break;
	case 8: slot = M_EE; break;
	case 11: slot = M_CERT; break;
	case 15: slot = M_CV; break;
	case 20: slot = write_p ? M_SFIN : M_CFIN; break; /* seen from the server */
	}
	if (slot < 0 || ref_msg[slot].p)
		return;
	ref_msg[slot].p = malloc(len);
	if (!ref_msg[slot].p)
		die("out of memory");
	memcpy(ref_msg[slot].p, buf, len);
	ref_msg[slot].n = len;
}

static void capture_reference(void)
{
	SSL_CTX_set_msg_callback(ossl_server_ctx, capture_msg);
	one_handshake(STACK_OPENSSL, STACK_OPENSSL, &ours_x25519, true, NULL, true);
	SSL_CTX_set_msg_callback(ossl_server_ctx, NULL);
	for (int i = 0; i < M_COUNT; i++)
		if (!ref_msg[i].p)
			die("reference handshake: message %d not seen", i);
}

/* The fastest libcrypto paths measured on OpenSSL 3.0 (README): explicitly
 * fetched algorithms, reused contexts, HMAC through one reused EVP_MAC_CTX,
 * ECDSA signing through a per-key EVP_PKEY_CTX set up once. */
static struct {
	EVP_MD *sha256;
	EVP_MAC_CTX *hmac;
	EVP_CIPHER *gcm;
	EVP_CIPHER_CTX *aead;
	EVP_MD_CTX *th, *th_copy, *mdv;
	EVP_PKEY_CTX *x25519_gen, *ecdsa_sign;
	EVP_PKEY *client_eph, *server_eph; /* the peer's fixed share */
	uint8_t client_pub[32], server_pub[32];
	uint8_t derived0[32]; /* Derive-Secret(Extract(0, 0), "derived", ""): a constant */
	uint8_t empty_hash[32];
} fl;

static void fl_hmac(const uint8_t *key, size_t klen, const uint8_t *a, size_t alen,
		    const uint8_t *b, size_t blen, uint8_t out[32])
{
	size_t olen = 0;
	if (!EVP_MAC_init(fl.hmac, key, klen, NULL) || !EVP_MAC_update(fl.hmac, a, alen) ||
	    (blen && !EVP_MAC_update(fl.hmac, b, blen)) || !EVP_MAC_final(fl.hmac, out, &olen, 32))
		die("floor: HMAC failed");
}

/* HKDF-Expand-Label for <= 32 bytes: one HMAC over HkdfLabel || 0x01. */
static void fl_expand_label(const uint8_t secret[32], const char *label, const uint8_t *ctx,
			    size_t ctx_len, uint8_t *out, size_t out_len)
{
	uint8_t info[2 + 1 + 6 + 32 + 1 + 32 + 1], t[32];
	size_t ll = strlen(label), n = 0;
	info[n++] = 0;
	info[n++] = (uint8_t)out_len;
	info[n++] = (uint8_t)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	memcpy(info + n + 6, label, ll);
	n += 6 + ll;
	info[n++] = (uint8_t)ctx_len;
	if (ctx_len)
		memcpy(info + n, ctx, ctx_len);
	n += ctx_len;
	info[n++] = 1;
	fl_hmac(secret, 32, info, n, NULL, 0, t);
	memcpy(out, t, out_len);
}

static void fl_snapshot(uint8_t out[32])
{
	unsigned int n;
	if (!EVP_MD_CTX_copy_ex(fl.th_copy, fl.th) || !EVP_DigestFinal_ex(fl.th_copy, out, &n))
		die("floor: transcript hash failed");
}

static void fl_hash_add(const uint8_t *p, size_t n)
{
	if (!EVP_DigestUpdate(fl.th, p, n))
		die("floor: transcript update failed");
}

static EVP_PKEY *fl_x25519_keygen(uint8_t pub[32])
{
	EVP_PKEY *k = NULL;
	size_t n = 32;
	if (EVP_PKEY_keygen(fl.x25519_gen, &k) <= 0 || !EVP_PKEY_get_raw_public_key(k, pub, &n))
		die("floor: X25519 keygen failed");
	return k;
}

static void fl_x25519_derive(EVP_PKEY *ours, const uint8_t peer_pub[32], uint8_t ss[32])
{
	size_t n = 32;
	EVP_PKEY *peer = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, peer_pub, 32);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, ours, NULL);
	/* No key validation: X25519 rejects the all-zero result by itself. */
	if (!peer || !c || EVP_PKEY_derive_init(c) <= 0 ||
	    EVP_PKEY_derive_set_peer_ex(c, peer, 0) <= 0 || EVP_PKEY_derive(c, ss, &n) <= 0)
		die("floor: X25519 derive failed");
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(peer);
}

/* One TLSInnerPlaintext record under (key, iv) with sequence number 0. */
static size_t fl_seal(const uint8_t key[16], const uint8_t iv[12], const uint8_t *pt, size_t n,
		      uint8_t *rec)
{
	int l1 = 0, l2 = 0;
	size_t ct_len = n + 1 + TLS_TAG_LEN;
	rec[0] = 23;
	rec[1] = 3;
	rec[2] = 3;
	rec[3] = (uint8_t)(ct_len >> 8);
	rec[4] = (uint8_t)ct_len;
	memcpy(rec + 5, pt, n);
	rec[5 + n] = 22; /* inner content type: handshake */
	if (!EVP_EncryptInit_ex2(fl.aead, NULL, key, iv, NULL) ||
	    !EVP_EncryptUpdate(fl.aead, NULL, &l1, rec, 5) ||
	    !EVP_EncryptUpdate(fl.aead, rec + 5, &l1, rec + 5, (int)n + 1) ||
	    !EVP_EncryptFinal_ex(fl.aead, rec + 5 + l1, &l2) ||
	    !EVP_CIPHER_CTX_ctrl(fl.aead, EVP_CTRL_AEAD_GET_TAG, 16, rec + 5 + n + 1))
		die("floor: seal failed");
	return 5 + ct_len;
}

/* Opens record number seq in place; returns the plaintext length (inner
 * type byte included). */
static size_t fl_open(const uint8_t key[16], const uint8_t iv[12], uint64_t seq, uint8_t *rec,
		      size_t len)
{
	int l1 = 0, l2 = 0;
	size_t n = len - 5 - TLS_TAG_LEN;
	uint8_t nonce[12];
	memcpy(nonce, iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(seq >> (8 * i));
	if (!EVP_DecryptInit_ex2(fl.aead, NULL, key, nonce, NULL) ||
	    !EVP_DecryptUpdate(fl.aead, NULL, &l1, rec, 5) ||
	    !EVP_DecryptUpdate(fl.aead, rec + 5, &l1, rec + 5, (int)n) ||
	    !EVP_CIPHER_CTX_ctrl(fl.aead, EVP_CTRL_AEAD_SET_TAG, 16, rec + 5 + n) ||
	    EVP_DecryptFinal_ex(fl.aead, rec + 5 + l1, &l2) <= 0)
		die("floor: open failed (bad tag)");
	return n;
}

static void floor_init(void)
{
	static const uint8_t zeros[32];
	uint8_t early[32];
	unsigned int n;
	OSSL_PARAM p[2] = { OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
			    OSSL_PARAM_construct_end() };
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);

	fl.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	fl.gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	fl.hmac = mac ? EVP_MAC_CTX_new(mac) : NULL;
	EVP_MAC_free(mac);
	fl.aead = EVP_CIPHER_CTX_new();
	fl.th = EVP_MD_CTX_new();
	fl.th_copy = EVP_MD_CTX_new();
	fl.mdv = EVP_MD_CTX_new();
	fl.x25519_gen = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
	fl.ecdsa_sign = EVP_PKEY_CTX_new_from_pkey(NULL, g_key, NULL);
	if (!fl.sha256 || !fl.gcm || !fl.hmac || !fl.aead || !fl.th || !fl.th_copy || !fl.mdv ||
	    !fl.x25519_gen || !fl.ecdsa_sign || !EVP_MAC_CTX_set_params(fl.hmac, p) ||
	    EVP_PKEY_keygen_init(fl.x25519_gen) <= 0 ||
	    EVP_PKEY_sign_init(fl.ecdsa_sign) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(fl.ecdsa_sign, fl.sha256) <= 0 ||
	    !EVP_EncryptInit_ex2(fl.aead, fl.gcm, NULL, NULL, NULL))
		die("floor: cannot set up libcrypto");
	fl.client_eph = fl_x25519_keygen(fl.client_pub);
	fl.server_eph = fl_x25519_keygen(fl.server_pub);
	if (!EVP_Digest("", 0, fl.empty_hash, &n, fl.sha256, NULL))
		die("floor: SHA-256 failed");
	fl_hmac(zeros, 32, zeros, 32, NULL, 0, early);
	fl_expand_label(early, "derived", fl.empty_hash, 32, fl.derived0, 32);

	/* The floor's HKDF must agree with the engine's (RFC 8446 §7.1). */
	uint8_t a[32], b[32];
	if (tls_hkdf_extract(EVP_sha256(), NULL, 0, NULL, 0, a) || memcmp(a, early, 32))
		die("floor: HKDF-Extract disagrees with lib/tls");
	fl_expand_label(early, "c hs traffic", fl.empty_hash, 32, a, 32);
	if (tls_hkdf_expand_label(EVP_sha256(), early, 32, "c hs traffic", fl.empty_hash, 32, b,
				  32) ||
	    memcmp(a, b, 32))
		die("floor: HKDF-Expand-Label disagrees with lib/tls");
}

/* Key schedule state both floor roles derive. */
struct fl_keys {
	uint8_t hs[32], c_hs[32], s_hs[32], ms[32], c_ap[32], s_ap[32];
	uint8_t c_key[16], c_iv[12], s_key[16], s_iv[12];
	uint8_t c_ap_key[16], c_ap_iv[12], s_ap_key[16], s_ap_iv[12];
	uint8_t s_fin[32], c_fin[32];
};

static void fl_handshake_secrets(struct fl_keys *k, const uint8_t ss[32], const uint8_t h1[32])
{
	static const uint8_t zeros[32];
	uint8_t derived[32];
	fl_hmac(fl.derived0, 32, ss, 32, NULL, 0, k->hs);
	fl_expand_label(k->hs, "c hs traffic", h1, 32, k->c_hs, 32);
	fl_expand_label(k->hs, "s hs traffic", h1, 32, k->s_hs, 32);
	fl_expand_label(k->s_hs, "key", NULL, 0, k->s_key, 16);
	fl_expand_label(k->s_hs, "iv", NULL, 0, k->s_iv, 12);
	fl_expand_label(k->c_hs, "key", NULL, 0, k->c_key, 16);
	fl_expand_label(k->c_hs, "iv", NULL, 0, k->c_iv, 12);
	fl_expand_label(k->hs, "derived", fl.empty_hash, 32, derived, 32);
	fl_hmac(derived, 32, zeros, 32, NULL, 0, k->ms);
}

static void fl_finished(const uint8_t base[32], const uint8_t h[32], uint8_t out[32])
{
	uint8_t fk[32];
	fl_expand_label(base, "finished", NULL, 0, fk, 32);
	fl_hmac(fk, 32, h, 32, NULL, 0, out);
}

static void fl_app_secrets(struct fl_keys *k, const uint8_t h4[32])
{
	fl_expand_label(k->ms, "c ap traffic", h4, 32, k->c_ap, 32);
	fl_expand_label(k->ms, "s ap traffic", h4, 32, k->s_ap, 32);
	fl_expand_label(k->c_ap, "key", NULL, 0, k->c_ap_key, 16);
	fl_expand_label(k->c_ap, "iv", NULL, 0, k->c_ap_iv, 12);
	fl_expand_label(k->s_ap, "key", NULL, 0, k->s_ap_key, 16);
	fl_expand_label(k->s_ap, "iv", NULL, 0, k->s_ap_iv, 12);
}

static size_t fl_cv_content(bool server, const uint8_t h[32], uint8_t *out)
{
	static const char sctx[] = "TLS 1.3, server CertificateVerify";
	static const char cctx[] = "TLS 1.3, client CertificateVerify";
	memset(out, 0x20, 64);
	memcpy(out + 64, server ? sctx : cctx, sizeof(sctx)); /* with the 0 byte */
	memcpy(out + 64 + sizeof(sctx), h, 32);
	return 64 + sizeof(sctx) + 32;
}

/* A CertificateVerify message (ecdsa_secp256r1_sha256) around sig. */
static size_t fl_build_cv(const uint8_t *sig, size_t sig_len, uint8_t *out)
{
	size_t body = 4 + sig_len;
	out[0] = 15;
	out[1] = 0;
	out[2] = (uint8_t)(body >> 8);
	out[3] = (uint8_t)body;
	out[4] = 0x04;
	out[5] = 0x03;
	out[6] = (uint8_t)(sig_len >> 8);
	out[7] = (uint8_t)sig_len;
	memcpy(out + 8, sig, sig_len);
	return 8 + sig_len;
}

static uint8_t fl_flight[8192], fl_rec[8192 + 64], fl_cfin_rec[128], fl_sh[256];
/* Where the reference ServerHello carries its X25519 share. */
static size_t fl_sh_pub_off;

/* The X25519 key_share extension of a ClientHello / ServerHello offering
 * or choosing X25519 alone: type, lengths, group, key length. */
static const uint8_t ch_share_hdr[] = { 0, 0x33, 0, 0x26, 0, 0x24, 0, 0x1d, 0, 0x20 };
static const uint8_t sh_share_hdr[] = { 0, 0x33, 0, 0x24, 0, 0x1d, 0, 0x20 };

/* Offset of the 32 bytes after hdr in p, or 0 when absent. Benchmark
 * plumbing on known messages, not a parser. */
static size_t find_after(const uint8_t *p, size_t n, const uint8_t *hdr, size_t hdr_len)
{
	for (size_t i = 0; i + hdr_len + 32 <= n; i++)
		if (!memcmp(p + i, hdr, hdr_len))
			return i + hdr_len;
	return 0;
}

/* The server side of one floor handshake for the ClientHello ch (its
 * X25519 share client_pub, its legacy_session_id sid): ServerHello in fl_sh
 * (the reference one with random, session id and share filled in), the
 * encrypted flight (EE, Certificate, CertificateVerify, Finished in one
 * record: the fewest AEAD calls) in fl_rec, and in k the client Finished to
 * expect. Returns the flight record's length. */
static size_t floor_server_flight(struct meter *m, const uint8_t *ch, size_t ch_len,
				  const uint8_t client_pub[32], const uint8_t sid[32],
				  struct fl_keys *k)
{
	uint8_t ss[32], h[32], cv[160], sig[80], fin[4 + 32];
	size_t sig_len = sizeof(sig), flight = 0, rec_len = 0;

	TIMED(m, {
		if (RAND_bytes(fl_sh + 6, 32) != 1)
			die("floor: RAND_bytes failed");
		memcpy(fl_sh + 39, sid, 32);
		EVP_PKEY *eph = fl_x25519_keygen(fl_sh + fl_sh_pub_off);
		fl_x25519_derive(eph, client_pub, ss);
		EVP_PKEY_free(eph);

		if (!EVP_DigestInit_ex2(fl.th, fl.sha256, NULL))
			die("floor: digest init failed");
		fl_hash_add(ch, ch_len);
		fl_hash_add(fl_sh, ref_msg[M_SH].n);
		fl_snapshot(h);
		fl_handshake_secrets(k, ss, h);

		memcpy(fl_flight, ref_msg[M_EE].p, ref_msg[M_EE].n);
		flight = ref_msg[M_EE].n;
		memcpy(fl_flight + flight, ref_msg[M_CERT].p, ref_msg[M_CERT].n);
		flight += ref_msg[M_CERT].n;
		fl_hash_add(fl_flight, flight);
		fl_snapshot(h);
		size_t cl = fl_cv_content(true, h, cv);
		unsigned int hl;
		if (!EVP_Digest(cv, cl, h, &hl, fl.sha256, NULL) ||
		    EVP_PKEY_sign(fl.ecdsa_sign, sig, &sig_len, h, 32) <= 0)
			die("floor: ECDSA sign failed");
		size_t cvl = fl_build_cv(sig, sig_len, fl_flight + flight);
		fl_hash_add(fl_flight + flight, cvl);
		flight += cvl;
		fl_snapshot(h);
		fl_finished(k->s_hs, h, k->s_fin);
		fin[0] = 20;
		fin[1] = fin[2] = 0;
		fin[3] = 32;
		memcpy(fin + 4, k->s_fin, 32);
		fl_hash_add(fin, sizeof(fin));
		memcpy(fl_flight + flight, fin, sizeof(fin));
		flight += sizeof(fin);
		fl_snapshot(h);
		fl_app_secrets(k, h);
		fl_finished(k->c_hs, h, k->c_fin); /* the client's Finished we expect */
		rec_len = fl_seal(k->s_key, k->s_iv, fl_flight, flight, fl_rec);
	});
	if (rec_len > sizeof(fl_rec))
		die("floor: flight too large");
	OPENSSL_cleanse(ss, sizeof(ss));
	return rec_len;
}

/* Checks the client Finished record in fl_cfin_rec (len bytes). */
static void floor_server_finish(struct meter *m, struct fl_keys *k, size_t len)
{
	TIMED(m, {
		size_t n = fl_open(k->c_key, k->c_iv, 0, fl_cfin_rec, len);
		if (n != 4 + 32 + 1 || !tls_ct_equal(fl_cfin_rec + 5 + 4, k->c_fin, 32))
			die("floor: client Finished mismatch");
	});
	OPENSSL_cleanse(k, sizeof(*k));
}

static uint8_t fl_ch[1024];
/* Where the reference ClientHello carries its X25519 share. */
static size_t fl_ch_pub_off;

/* The ServerHello and ClientHello templates: the reference ones, with the
 * offsets of their shares. */
static void floor_templates_init(void)
{
	const uint8_t *sh = ref_msg[M_SH].p, *ch = ref_msg[M_CH].p;
	if (ref_msg[M_SH].n > sizeof(fl_sh) || ref_msg[M_SH].n < 39 + 32 ||
	    ref_msg[M_CH].n > sizeof(fl_ch) || ref_msg[M_CH].n < 39 + 32 || sh[38] != 32 ||
	    ch[38] != 32 ||
	    !(fl_sh_pub_off = find_after(sh, ref_msg[M_SH].n, sh_share_hdr, sizeof(sh_share_hdr))) ||
	    !(fl_ch_pub_off = find_after(ch, ref_msg[M_CH].n, ch_share_hdr, sizeof(ch_share_hdr))))
		die("floor: unexpected reference ServerHello or ClientHello");
	memcpy(fl_sh, sh, ref_msg[M_SH].n);
	memcpy(fl_ch, ch, ref_msg[M_CH].n);
}

/* One server handshake's worth of libcrypto work, alone: the reference
 * ClientHello, and the client's Finished made here (untimed). */
static void floor_server_once(struct meter *m)
{
	struct fl_keys k;
	uint8_t fin[4 + 32] = { 20, 0, 0, 32 };

	floor_server_flight(m, ref_msg[M_CH].p, ref_msg[M_CH].n, fl.client_pub,
			    ref_msg[M_CH].p + 39, &k);
	memcpy(fin + 4, k.c_fin, 32);
	size_t cfin_len = fl_seal(k.c_key, k.c_iv, fin, sizeof(fin), fl_cfin_rec);
	floor_server_finish(m, &k, cfin_len);
}

static void pipe_put_record(struct pipe *p, uint8_t type, const uint8_t *body, size_t n)
{
	if (p->len + 5 + n > p->cap)
		die("pipe overflow");
	uint8_t *r = p->buf + p->len;
	r[0] = type;
	r[1] = 3;
	r[2] = 3;
	r[3] = (uint8_t)(n >> 8);
	r[4] = (uint8_t)n;
	memcpy(r + 5, body, n);
	p->len += 5 + n;
}

/* The same libcrypto work driven by the peer the engine rows have: a real
 * OpenSSL client's ClientHello, and that client checks the floor's flight
 * (signature, Finished) and sends the Finished the floor checks. The floor
 * then runs between the same peer's calls as ours-server does, with the
 * same caches left behind by it. */
static void floor_server_peer_once(struct meter *m)
{
	static const uint8_t ccs = 1;
	struct ep cli;
	struct fl_keys k;

	c2s.len = s2c.len = 0;
	ep_create(&cli, STACK_OPENSSL, false, &ours_x25519, &client_bios, NULL);
	if (ep_step(&cli, &s2c, &c2s, NULL) != EP_WANT)
		die("floor: the OpenSSL client sent no ClientHello");
	const uint8_t *ch = c2s.buf + 5;
	size_t ch_len = c2s.len - 5, share;
	if (c2s.len < 5 + 39 + 32 || c2s.buf[0] != 22 || ch[0] != 1 || ch[38] != 32 ||
	    ((size_t)c2s.buf[3] << 8 | c2s.buf[4]) != ch_len ||
	    !(share = find_after(ch, ch_len, ch_share_hdr, sizeof(ch_share_hdr))))
		die("floor: unexpected ClientHello from the OpenSSL client");
	size_t rec_len = floor_server_flight(m, ch, ch_len, ch + share, ch + 39, &k);

	c2s.len = 0;
	pipe_put_record(&s2c, 22, fl_sh, ref_msg[M_SH].n);
	pipe_put_record(&s2c, 20, &ccs, 1);
	memcpy(s2c.buf + s2c.len, fl_rec, rec_len);
	s2c.len += rec_len;
	if (ep_step(&cli, &s2c, &c2s, NULL) != EP_DONE)
		die("floor: the OpenSSL client did not accept the floor's flight");
	/* The client's change_cipher_spec, then its Finished. */
	if (c2s.len != 6 + 5 + 4 + 32 + 1 + TLS_TAG_LEN || c2s.buf[0] != 20)
		die("floor: unexpected Finished flight from the OpenSSL client");
	memcpy(fl_cfin_rec, c2s.buf + 6, c2s.len - 6);
	floor_server_finish(m, &k, c2s.len - 6);
	c2s.len = 0;
	ep_free(&cli, NULL);
}

/* The client's work on the server's decrypted flight p (EE, Certificate,
 * CertificateVerify, Finished; n bytes) after the ServerHello: the
 * leaf's key, the signature, the Finished, the application secrets and the
 * client Finished record, sealed into fl_cfin_rec. Returns its length. */
static size_t floor_client_flight(struct fl_keys *k, const uint8_t *p, size_t n)
{
	uint8_t h[32], cv[160], fin[4 + 32];
	size_t ee = ref_msg[M_EE].n, cert = ref_msg[M_CERT].n;
	if (n < ee + cert + 8 || p[ee] != 11)
		die("floor: unexpected server flight");
	/* Certificate: parse the leaf and take its public key. */
	const uint8_t *der = p + ee + 4 + 1 + 3 + 3; /* context, list, entry length */
	X509 *x = d2i_X509(NULL, &der, (long)g_cert_der_len);
	EVP_PKEY *pk = x ? X509_get0_pubkey(x) : NULL;
	if (!pk || !EVP_PKEY_is_a(pk, "EC"))
		die("floor: cannot parse the server certificate");
	fl_hash_add(p, ee + cert);
	fl_snapshot(h);
	size_t cl = fl_cv_content(true, h, cv);
	const uint8_t *cvm = p + ee + cert;
	size_t sl = ((size_t)cvm[6] << 8) | cvm[7];
	if (cvm[0] != 15 || ee + cert + 8 + sl + 36 != n)
		die("floor: unexpected server flight");
	EVP_MD_CTX_reset(fl.mdv);
	if (!EVP_DigestVerifyInit_ex(fl.mdv, NULL, "SHA256", NULL, NULL, pk, NULL) ||
	    EVP_DigestVerify(fl.mdv, cvm + 8, sl, cv, cl) != 1)
		die("floor: CertificateVerify does not verify");
	X509_free(x);
	fl_hash_add(cvm, 8 + sl);
	fl_snapshot(h);
	fl_finished(k->s_hs, h, k->s_fin);
	if (!tls_ct_equal(cvm + 8 + sl + 4, k->s_fin, 32))
		die("floor: server Finished mismatch");
	fl_hash_add(cvm + 8 + sl, 36);
	fl_snapshot(h);
	fl_app_secrets(k, h);
	fl_finished(k->c_hs, h, k->c_fin);
	fin[0] = 20;
	fin[1] = fin[2] = 0;
	fin[3] = 32;
	memcpy(fin + 4, k->c_fin, 32);
	return fl_seal(k->c_key, k->c_iv, fin, sizeof(fin), fl_cfin_rec);
}

/* One client handshake's worth of libcrypto work. */
static void floor_client_once(struct meter *m)
{
	struct fl_keys k;
	uint8_t rnd[64], pub[32], ss[32], h[32], cv[160], sig[80];
	size_t sig_len = sizeof(sig), flight = 0, rec_len, cfin_len = 0;
	EVP_PKEY *eph = NULL;

	/* ClientHello: random, legacy_session_id (compatibility mode), share. */
	TIMED(m, {
		if (RAND_bytes(rnd, 64) != 1)
			die("floor: RAND_bytes failed");
		eph = fl_x25519_keygen(pub);
	});
	TIMED(m, {
		fl_x25519_derive(eph, fl.server_pub, ss);
		EVP_PKEY_free(eph);
		if (!EVP_DigestInit_ex2(fl.th, fl.sha256, NULL))
			die("floor: digest init failed");
		fl_hash_add(ref_msg[M_CH].p, ref_msg[M_CH].n);
		fl_hash_add(ref_msg[M_SH].p, ref_msg[M_SH].n);
		fl_snapshot(h);
		fl_handshake_secrets(&k, ss, h);
	});

	/* The server's flight (the peer's work: not timed), with a signature
	 * and Finished that verify against this transcript. */
	{
		uint8_t sfin[32];
		unsigned int hl;
		EVP_MD_CTX *save = EVP_MD_CTX_new();
		if (!save || !EVP_MD_CTX_copy_ex(save, fl.th))
			die("floor: digest copy failed");
		memcpy(fl_flight, ref_msg[M_EE].p, ref_msg[M_EE].n);
		flight = ref_msg[M_EE].n;
		memcpy(fl_flight + flight, ref_msg[M_CERT].p, ref_msg[M_CERT].n);
		flight += ref_msg[M_CERT].n;
		fl_hash_add(fl_flight, flight);
		fl_snapshot(h);
		size_t cl = fl_cv_content(true, h, cv);
		if (!EVP_Digest(cv, cl, h, &hl, fl.sha256, NULL) ||
		    EVP_PKEY_sign(fl.ecdsa_sign, sig, &sig_len, h, 32) <= 0)
			die("floor: ECDSA sign failed");
		size_t cvl = fl_build_cv(sig, sig_len, fl_flight + flight);
		fl_hash_add(fl_flight + flight, cvl);
		flight += cvl;
		fl_snapshot(h);
		fl_finished(k.s_hs, h, sfin);
		fl_flight[flight] = 20;
		fl_flight[flight + 1] = fl_flight[flight + 2] = 0;
		fl_flight[flight + 3] = 32;
		memcpy(fl_flight + flight + 4, sfin, 32);
		flight += 36;
		rec_len = fl_seal(k.s_key, k.s_iv, fl_flight, flight, fl_rec);
		if (!EVP_MD_CTX_copy_ex(fl.th, save))
			die("floor: digest copy failed");
		EVP_MD_CTX_free(save);
	}

	TIMED(m, {
		size_t n = fl_open(k.s_key, k.s_iv, 0, fl_rec, rec_len);
		if (n != flight + 1)
			die("floor: bad server flight");
		cfin_len = floor_client_flight(&k, fl_rec + 5, flight);
	});
	if (!cfin_len)
		die("floor: no client Finished");
	OPENSSL_cleanse(&k, sizeof(k));
	OPENSSL_cleanse(ss, sizeof(ss));
}

/* The floor client's ClientHello: the reference one with random, session
 * id and a fresh X25519 share filled in (fl_ch). Returns the share's key. */
static EVP_PKEY *floor_client_hello(void)
{
	if (RAND_bytes(fl_ch + 6, 32) != 1 || RAND_bytes(fl_ch + 39, 32) != 1)
		die("floor: RAND_bytes failed");
	return fl_x25519_keygen(fl_ch + fl_ch_pub_off);
}

/* The floor client's work on a real server's answer in s2c (ServerHello,
 * change_cipher_spec, then the encrypted flight, a record per message):
 * key exchange, key schedule, an AEAD open per record, the flight checked,
 * the client Finished sealed into fl_cfin_rec. Returns its length. */
static size_t floor_client_answer(EVP_PKEY *eph, struct fl_keys *k)
{
	uint8_t ss[32], h[32];
	const uint8_t *r = s2c.buf, *end = s2c.buf + s2c.len;
	size_t sh_len = s2c.len < 5 ? 0 : (size_t)(r[3] << 8 | r[4]), share, flight = 0;

	if (!sh_len || r[0] != 22 || r[5] != 2 || 5 + sh_len > s2c.len ||
	    !(share = find_after(r + 5, sh_len, sh_share_hdr, sizeof(sh_share_hdr))))
		die("floor: unexpected ServerHello from the OpenSSL server");
	fl_x25519_derive(eph, r + 5 + share, ss);
	EVP_PKEY_free(eph);
	if (!EVP_DigestInit_ex2(fl.th, fl.sha256, NULL))
		die("floor: digest init failed");
	fl_hash_add(fl_ch, ref_msg[M_CH].n);
	fl_hash_add(r + 5, sh_len);
	fl_snapshot(h);
	fl_handshake_secrets(k, ss, h);
	OPENSSL_cleanse(ss, sizeof(ss));
	r += 5 + sh_len;
	for (uint64_t seq = 0; r + 5 <= end;) {
		size_t len = 5 + (size_t)(r[3] << 8 | r[4]);
		if (r + len > end)
			die("floor: truncated record from the OpenSSL server");
		if (r[0] == 23) {
			uint8_t *rec = s2c.buf + (r - s2c.buf);
			size_t n = len < 5 + 1 + TLS_TAG_LEN ? 0
							     : fl_open(k->s_key, k->s_iv, seq++, rec, len);
			if (!n || rec[5 + n - 1] != 22 || flight + n - 1 > sizeof(fl_flight))
				die("floor: unexpected record from the OpenSSL server");
			memcpy(fl_flight + flight, rec + 5, n - 1);
			flight += n - 1;
		} else if (r[0] != 20) {
			die("floor: unexpected record from the OpenSSL server");
		}
		r += len;
	}
	return floor_client_flight(k, fl_flight, flight);
}

/* The same client work driven by the peer ours-client has: a real OpenSSL
 * server answers the floor's ClientHello with its own records (one AEAD
 * open per message, as our engine must do) and checks the floor's
 * Finished. Between the timed calls run the same peer's calls as between
 * ours-client's, with the same caches left behind. */
static void floor_client_peer_once(struct meter *m)
{
	struct ep srv;
	struct fl_keys k;
	size_t cfin_len = 0;
	EVP_PKEY *eph = NULL;

	c2s.len = s2c.len = 0;
	TIMED(m, eph = floor_client_hello());
	pipe_put_record(&c2s, 22, fl_ch, ref_msg[M_CH].n);
	ep_create(&srv, STACK_OPENSSL, true, &ours_x25519, &server_bios, NULL);
	if (ep_step(&srv, &c2s, &s2c, NULL) != EP_WANT)
		die("floor: the OpenSSL server did not answer the ClientHello");
	TIMED(m, cfin_len = floor_client_answer(eph, &k));
	s2c.len = 0;
	pipe_put_record(&c2s, 23, fl_cfin_rec + 5, cfin_len - 5);
	if (ep_step(&srv, &c2s, &s2c, NULL) != EP_DONE || s2c.len)
		die("floor: the OpenSSL server did not accept the floor's Finished");
	ep_free(&srv, NULL);
	OPENSSL_cleanse(&k, sizeof(k));
}

/* ---- rows ---- */

enum row_id {
	ROW_OSSL_SERVER, ROW_OURS_SERVER, ROW_FLOOR_SERVER, ROW_FLOOR_SERVER_PEER,
	ROW_OSSL_CLIENT, ROW_OURS_CLIENT, ROW_FLOOR_CLIENT, ROW_FLOOR_CLIENT_PEER,
	ROW_OURS_SERVER_X25519, ROW_OURS_SERVER_HYBRID, ROW_COUNT
};

static const struct row {
	const char *name, *role, *stack;
} rows[ROW_COUNT] = {
	[ROW_OSSL_SERVER] = { "openssl-server", "server", "OpenSSL libssl" },
	[ROW_OURS_SERVER] = { "ours-server", "server", "ours (lib/tls)" },
	[ROW_FLOOR_SERVER] = { "floor-server", "server", "floor, alone" },
	[ROW_FLOOR_SERVER_PEER] = { "floor-server-peer", "server", "floor, OpenSSL peer" },
	[ROW_OSSL_CLIENT] = { "openssl-client", "client", "OpenSSL libssl" },
	[ROW_OURS_CLIENT] = { "ours-client", "client", "ours (lib/tls)" },
	[ROW_FLOOR_CLIENT] = { "floor-client", "client", "floor, alone" },
	[ROW_FLOOR_CLIENT_PEER] = { "floor-client-peer", "client", "floor, OpenSSL peer" },
	[ROW_OURS_SERVER_X25519] = { "ours-server-x25519", "server", "ours, X25519" },
	[ROW_OURS_SERVER_HYBRID] = { "ours-server-hybrid", "server", "ours, X25519MLKEM768" },
};

/* A fresh order of the rows for each round (Fisher-Yates, xorshift64*):
 * in a fixed order each row always ran right after the same one, and the
 * row after ours found the libcrypto code ours had just run warm in the
 * caches (the floor rows followed ours) while ours followed OpenSSL's. */
static void shuffle_rows(enum row_id *order, int n, uint64_t *rng)
{
	for (int i = n - 1; i > 0; i--) {
		*rng ^= *rng >> 12;
		*rng ^= *rng << 25;
		*rng ^= *rng >> 27;
		int j = (int)((*rng * 0x2545f4914f6cdd1du) >> 33) % (i + 1);
		enum row_id t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
}

/* One handshake (or floor iteration) of one row, timed into m. */
static void run_row_once(enum row_id r, struct meter *m)
{
	switch (r) {
	case ROW_OSSL_SERVER:
		one_handshake(STACK_OPENSSL, STACK_OPENSSL, &ours_x25519, true, m, false);
		break;
	case ROW_OURS_SERVER:
		one_handshake(STACK_OURS, STACK_OPENSSL, &ours_x25519, true, m, false);
		break;
	case ROW_OSSL_CLIENT:
		one_handshake(STACK_OPENSSL, STACK_OPENSSL, &ours_x25519, false, m, false);
		break;
	case ROW_OURS_CLIENT:
		one_handshake(STACK_OPENSSL, STACK_OURS, &ours_x25519, false, m, false);
		break;
	case ROW_OURS_SERVER_X25519:
		one_handshake(STACK_OURS, STACK_OURS, &ours_pq_x25519, true, m, false);
		break;
	case ROW_OURS_SERVER_HYBRID:
		one_handshake(STACK_OURS, STACK_OURS, &ours_pq, true, m, false);
		break;
	case ROW_FLOOR_SERVER:
		floor_server_once(m);
		break;
	case ROW_FLOOR_SERVER_PEER:
		floor_server_peer_once(m);
		break;
	case ROW_FLOOR_CLIENT:
		floor_client_once(m);
		break;
	case ROW_FLOOR_CLIENT_PEER:
		floor_client_peer_once(m);
		break;
	case ROW_COUNT:
		break;
	}
}

/* ---- memory per in-flight handshake ---- */

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* Drives n servers of one stack to the point where each waits for the
 * client's Finished and returns the heap growth per server. The OpenSSL
 * clients, every pipe and (for OpenSSL) the pre-grown memory BIOs exist
 * before the baseline; afterwards every handshake is completed and checked. */
static double mem_per_handshake(enum stack stack, int n, bool release_buffers)
{
	struct ep *cli = calloc((size_t)n, sizeof(*cli)), *srv = calloc((size_t)n, sizeof(*srv));
	struct bio_pair *cb = calloc((size_t)n, sizeof(*cb)), *sb = calloc((size_t)n, sizeof(*sb));
	struct pipe *up = calloc((size_t)n, sizeof(*up)), *down = calloc((size_t)n, sizeof(*down));
	if (!cli || !srv || !cb || !sb || !up || !down)
		die("out of memory");

	for (int i = 0; i < n; i++) {
		bio_pair_init(&cb[i]);
		if (stack == STACK_OPENSSL)
			bio_pair_init(&sb[i]);
		pipe_init(&up[i], 4096);
		pipe_init(&down[i], 8192);
		ep_create(&cli[i], STACK_OPENSSL, false, &ours_x25519, &cb[i], NULL);
		if (ep_step(&cli[i], &down[i], &up[i], NULL) != EP_WANT || !up[i].len)
			die("client %d produced no ClientHello", i);
	}
	if (release_buffers)
		SSL_CTX_set_mode(ossl_server_ctx, SSL_MODE_RELEASE_BUFFERS);

	size_t before = heap_in_use();
	for (int i = 0; i < n; i++) {
		ep_create(&srv[i], stack, true, &ours_x25519, &sb[i], NULL);
		if (ep_step(&srv[i], &up[i], &down[i], NULL) != EP_WANT || !down[i].len)
			die("%s %d did not send its flight", ep_name(&srv[i]), i);
	}
	size_t after = heap_in_use();

	for (int i = 0; i < n; i++) {
		if (ep_step(&cli[i], &down[i], &up[i], NULL) != EP_DONE ||
		    ep_step(&srv[i], &up[i], &down[i], NULL) != EP_DONE)
			die("in-flight handshake %d did not complete", i);
		SSL_free(cli[i].ssl);
		bio_pair_free(&cb[i]);
		if (stack == STACK_OPENSSL) {
			SSL_free(srv[i].ssl);
			bio_pair_free(&sb[i]);
		} else {
			tls_conn_free(srv[i].conn);
		}
		free(up[i].buf);
		free(down[i].buf);
	}
	if (release_buffers)
		SSL_CTX_clear_mode(ossl_server_ctx, SSL_MODE_RELEASE_BUFFERS);
	free(cli);
	free(srv);
	free(cb);
	free(sb);
	free(up);
	free(down);
	return after > before ? (double)(after - before) / n : 0;
}

/* ---- main ---- */

static void cleanup(void)
{
	tls_config_free(ours_x25519.server);
	tls_config_free(ours_x25519.client);
	tls_config_free(ours_pq.server); /* shared with ours_pq_x25519 */
	tls_config_free(ours_pq.client);
	tls_config_free(ours_pq_x25519.client);
	SSL_CTX_free(ossl_server_ctx);
	SSL_CTX_free(ossl_client_ctx);
	bio_pair_free(&server_bios);
	bio_pair_free(&client_bios);
	free(c2s.buf);
	free(s2c.buf);
	for (int i = 0; i < M_COUNT; i++)
		free(ref_msg[i].p);
	EVP_MD_free(fl.sha256);
	EVP_MAC_CTX_free(fl.hmac);
	EVP_CIPHER_free(fl.gcm);
	EVP_CIPHER_CTX_free(fl.aead);
	EVP_MD_CTX_free(fl.th);
	EVP_MD_CTX_free(fl.th_copy);
	EVP_MD_CTX_free(fl.mdv);
	EVP_PKEY_CTX_free(fl.x25519_gen);
	EVP_PKEY_CTX_free(fl.ecdsa_sign);
	EVP_PKEY_free(fl.client_eph);
	EVP_PKEY_free(fl.server_eph);
	OPENSSL_free(g_cert_der);
	X509_free(g_cert);
	EVP_PKEY_free(g_key);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: handshake [--batches B] [--iterations N] [--seconds S] [--mem-n N]\n"
		"                 [--only ROW[,ROW...]] [--cpu-clock]\n"
		"  rows: openssl-server ours-server floor-server floor-server-peer openssl-client\n"
		"        ours-client floor-client floor-client-peer ours-server-x25519\n"
		"        ours-server-hybrid memory\n"
		"  --iterations N  handshakes per row per batch (default: S seconds of rounds)\n"
		"  --only          run just these rows (for perf/callgrind); no summary line\n"
		"  --cpu-clock     time sections with CLOCK_THREAD_CPUTIME_ID (a system call)\n"
		"                  instead of CLOCK_MONOTONIC\n");
	exit(2);
}

static long parse_long(const char *s, long min)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < min)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	int batches = 11, mem_n = 1000;
	long iterations = 0;
	double seconds = 1.0;
	bool want[ROW_COUNT + 1], only = false;

	for (int i = 0; i <= ROW_COUNT; i++)
		want[i] = true;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--cpu-clock")) {
			section_clock = CLOCK_THREAD_CPUTIME_ID;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--batches")) {
			batches = (int)parse_long(v, 1);
			if (batches > MAX_BATCHES)
				usage();
		} else if (!strcmp(a, "--iterations")) {
			iterations = parse_long(v, 1);
		} else if (!strcmp(a, "--seconds")) {
			seconds = atof(v);
			if (!(seconds > 0))
				usage();
		} else if (!strcmp(a, "--mem-n")) {
			mem_n = (int)parse_long(v, 1);
		} else if (!strcmp(a, "--only")) {
			only = true;
			for (int r = 0; r <= ROW_COUNT; r++)
				want[r] = false;
			char *list = strdup(v), *save = NULL;
			for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				int r;
				for (r = 0; r < ROW_COUNT && strcmp(t, rows[r].name); r++)
					;
				if (r == ROW_COUNT && strcmp(t, "memory"))
					usage();
				want[r] = true;
			}
			free(list);
		} else {
			usage();
		}
	}

	/* Our engine is set up (and checked) unless --only leaves it out. */
	bool ours = want[ROW_OURS_SERVER] || want[ROW_OURS_CLIENT] || want[ROW_COUNT];
	bool pq = want[ROW_OURS_SERVER_X25519] || want[ROW_OURS_SERVER_HYBRID];
	make_identity();
	ossl_server_ctx = ossl_ctx(true);
	ossl_client_ctx = ossl_ctx(false);
	if (ours) {
		const uint16_t x = TLS_GROUP_X25519;
		ours_x25519 = (struct ours_pair){ ours_config(true, &x, 1), ours_config(false, &x, 1), x };
	}
	if (pq) {
		/* One server for both ratio rows: the client decides the group. */
		const uint16_t both[] = { TLS_GROUP_X25519MLKEM768, TLS_GROUP_X25519 };
		ours_pq = (struct ours_pair){ ours_config(true, both, 2), ours_config(false, both, 1),
					      TLS_GROUP_X25519MLKEM768 };
		ours_pq_x25519 = (struct ours_pair){ ours_pq.server, ours_config(false, both + 1, 1),
						     TLS_GROUP_X25519 };
	}
	bio_pair_init(&server_bios);
	bio_pair_init(&client_bios);
	pipe_init(&c2s, PIPE_CAP);
	pipe_init(&s2c, PIPE_CAP);
	calibrate_clock();

	/* Every pairing once, checked: parameters and application data both ways. */
	capture_reference();
	if (ours) {
		one_handshake(STACK_OURS, STACK_OPENSSL, &ours_x25519, true, NULL, true);
		one_handshake(STACK_OPENSSL, STACK_OURS, &ours_x25519, true, NULL, true);
	}
	if (pq) {
		one_handshake(STACK_OURS, STACK_OURS, &ours_pq_x25519, true, NULL, true);
		one_handshake(STACK_OURS, STACK_OURS, &ours_pq, true, NULL, true);
	}
	floor_init();
	floor_templates_init();
	floor_server_once(NULL);
	floor_server_peer_once(NULL);
	floor_client_once(NULL);
	floor_client_peer_once(NULL);

	printf("TLS 1.3 full handshake, X25519 + ecdsa_secp256r1_sha256 + TLS_AES_128_GCM_SHA256,\n"
	       "no tickets, no chain verification; %s; one thread, in memory.\n",
	       OpenSSL_version(OPENSSL_VERSION));
	printf("Time = %s inside the measured side's calls only (peer: OpenSSL),\n"
	       "clock overhead %.0f ns per timed call subtracted. Reference messages: CH %zu, SH %zu,\n"
	       "EE %zu, Certificate %zu, CV %zu, Finished %zu bytes.\n",
	       section_clock == CLOCK_MONOTONIC ? "CLOCK_MONOTONIC" : "CLOCK_THREAD_CPUTIME_ID",
	       clock_overhead_ns, ref_msg[M_CH].n, ref_msg[M_SH].n, ref_msg[M_EE].n,
	       ref_msg[M_CERT].n, ref_msg[M_CV].n, ref_msg[M_SFIN].n);
	fflush(stdout);

	/* Rows are interleaved handshake by handshake (one of each row per
	 * round), so that drift and other load on the machine hit all rows
	 * alike; a batch is `rounds` rounds; medians over batches are reported,
	 * and each ratio is the median of the per-batch ratios. */
	bool timed = false;
	for (int r = 0; r < ROW_COUNT; r++)
		timed = timed || want[r];
	long rounds = iterations;
	if (!timed) {
		batches = 0;
	} else if (!rounds) {
		struct meter cal = { 0, 0 };
		uint64_t t0 = clock_ns();
		for (int k = 0; k < 10; k++)
			for (int r = 0; r < ROW_COUNT; r++)
				if (want[r])
					run_row_once((enum row_id)r, &cal);
		double round_ns = (double)(clock_ns() - t0) / 10;
		rounds = (long)(seconds * 1e9 / (round_ns > 1 ? round_ns : 1));
		if (rounds < 10)
			rounds = 10;
	}
	static double per[ROW_COUNT][MAX_BATCHES], ratio[7][MAX_BATCHES];
	enum row_id order[ROW_COUNT];
	int n_order = 0;
	for (int r = 0; r < ROW_COUNT; r++)
		if (want[r])
			order[n_order++] = (enum row_id)r;
	uint64_t rng = 0x9e3779b97f4a7c15u; /* fixed: every run shuffles alike */
	for (int b = 0; b < batches; b++) {
		struct meter m[ROW_COUNT];
		memset(m, 0, sizeof(m));
		for (long k = 0; k < rounds; k++) {
			shuffle_rows(order, n_order, &rng);
			for (int i = 0; i < n_order; i++)
				run_row_once(order[i], &m[order[i]]);
		}
		for (int r = 0; r < ROW_COUNT; r++)
			per[r][b] = meter_net_ns(&m[r]) / (double)rounds / 1000;
		ratio[0][b] = per[ROW_OURS_SERVER][b] / per[ROW_OSSL_SERVER][b];
		ratio[1][b] = per[ROW_OURS_CLIENT][b] / per[ROW_OSSL_CLIENT][b];
		ratio[2][b] = per[ROW_OURS_SERVER][b] / per[ROW_FLOOR_SERVER][b];
		ratio[5][b] = per[ROW_OURS_SERVER][b] / per[ROW_FLOOR_SERVER_PEER][b];
		ratio[3][b] = per[ROW_OURS_CLIENT][b] / per[ROW_FLOOR_CLIENT][b];
		ratio[6][b] = per[ROW_OURS_CLIENT][b] / per[ROW_FLOOR_CLIENT_PEER][b];
		ratio[4][b] = per[ROW_OURS_SERVER_HYBRID][b] / per[ROW_OURS_SERVER_X25519][b];
	}

	double med[ROW_COUNT] = { 0 }, lo[ROW_COUNT] = { 0 }, hi[ROW_COUNT] = { 0 };
	if (timed) {
		printf("\n%d batches x %ld handshakes per row, interleaved; median batch (min, max)\n",
		       batches, rounds);
		printf("%-7s %-22s %10s %9s %9s %11s %9s\n", "role", "stack", "us/hs", "min",
		       "max", "vs OpenSSL", "vs floor");
	}
	for (int r = 0; r < ROW_COUNT; r++) {
		if (!want[r])
			continue;
		med[r] = median(per[r], (size_t)batches);
		lo[r] = per[r][0];
		hi[r] = per[r][batches - 1];
	}
	/* Ratios of the medians here; the summary line uses per-batch ratios. */
	for (int r = 0; r < ROW_COUNT; r++) {
		if (!want[r])
			continue;
		bool srv = r < ROW_OSSL_CLIENT || r >= ROW_OURS_SERVER_X25519;
		int ossl = srv ? ROW_OSSL_SERVER : ROW_OSSL_CLIENT;
		int flr = srv ? ROW_FLOOR_SERVER : ROW_FLOOR_CLIENT;
		char vo[16] = "-", vf[16] = "-";
		if (want[ossl] && med[ossl] > 0)
			snprintf(vo, sizeof(vo), "%.2fx", med[r] / med[ossl]);
		/* the floor is X25519's: no ratio for the hybrid row */
		if (want[flr] && med[flr] > 0 && r != ROW_OURS_SERVER_HYBRID && r != flr)
			snprintf(vf, sizeof(vf), "%.2fx", med[r] / med[flr]);
		printf("%-7s %-22s %10.1f %9.1f %9.1f %11s %9s\n", rows[r].role, rows[r].stack,
		       med[r], lo[r], hi[r], vo, vf);
	}
	if (want[ROW_OURS_SERVER_X25519] && want[ROW_OURS_SERVER_HYBRID])
		printf("the last two rows: one server (groups X25519MLKEM768,X25519) driven by our client\n"
		       "offering X25519 / X25519MLKEM768; hybrid / X25519 %.2fx (median of per-batch ratios)\n",
		       median(ratio[4], (size_t)batches));

	double ours_mem = 0;
	if (want[ROW_COUNT]) {
		ours_mem = mem_per_handshake(STACK_OURS, mem_n, false);
		double ossl_mem = mem_per_handshake(STACK_OPENSSL, mem_n, false);
		double ossl_rel = mem_per_handshake(STACK_OPENSSL, mem_n, true);
		/* An SSL object certainly allocates: no growth means mallinfo2
		 * does not see this heap (e.g. an ASan build). */
		if (ossl_mem <= 0 || ossl_rel <= 0)
			die("mallinfo2 saw no heap growth for OpenSSL: memory cannot be measured "
			    "in this build (sanitizer?); use --only without memory");
		printf("\nheap per in-flight server handshake (%d at once, each waiting for the client's\n"
		       "Finished; mallinfo2 growth / N, libcrypto allocations included):\n",
		       mem_n);
		printf("  ours (lib/tls)                       %8.0f bytes\n", ours_mem);
		printf("  OpenSSL libssl                       %8.0f bytes\n", ossl_mem);
		printf("  OpenSSL libssl, SSL_MODE_RELEASE_BUFFERS %4.0f bytes\n", ossl_rel);
	}

	if (only) {
		printf("\n(partial run: no summary line)\n");
		cleanup();
		return 0;
	}
	double sv = median(ratio[0], (size_t)batches);
	double cv = median(ratio[1], (size_t)batches);
	double sf = median(ratio[2], (size_t)batches);
	double cf = median(ratio[3], (size_t)batches);
	double hx = median(ratio[4], (size_t)batches);
	double sfp = median(ratio[5], (size_t)batches);
	double cfp = median(ratio[6], (size_t)batches);
	/* The floor (the libcrypto calls a handshake must make, alone) is
	 * itself about 0.6x of OpenSSL's server cost: the engine is judged on
	 * what it adds above it, and the server against OpenSSL as a whole. */
	printf("\ntargets: server <= 1.05x floor: %s (%.2fx); client <= 1.05x floor: %s (%.2fx);\n"
	       "         server <= 0.70x OpenSSL: %s (%.2fx); memory <= 16384 bytes: %s (%.0f);\n"
	       "         hybrid server <= 1.30x X25519: %s (%.2fx)\n",
	       sf <= 1.05 ? "met" : "MISSED", sf, cf <= 1.05 ? "met" : "MISSED", cf,
	       sv <= 0.70 ? "met" : "MISSED", sv, ours_mem <= 16384 ? "met" : "MISSED", ours_mem,
	       hx <= 1.30 ? "met" : "MISSED", hx);
	/* The floor driven by the OpenSSL client, as ours-server is: the same
	 * peer's work between the timed calls. */
	printf("(against the floor driven by the same OpenSSL peer: server %.2fx, client %.2fx)\n",
	       sfp, cfp);
	printf("handshake server_vs_openssl=%.3f client_vs_openssl=%.3f server_vs_floor=%.3f "
	       "client_vs_floor=%.3f bytes_per_handshake=%.0f hybrid_vs_x25519=%.3f "
	       "server_vs_floor_same_peer=%.3f client_vs_floor_same_peer=%.3f\n",
	       sv, cv, sf, cf, ours_mem, hx, sfp, cfp);
	cleanup();
	return 0;
}
