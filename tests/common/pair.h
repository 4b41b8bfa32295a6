/* Our client and our server in memory: one handshake driver for the unit
 * tests.
 *
 *   struct test_pair p;
 *   test_pair_init(&p, ccfg, scfg, "server.test");
 *   bool ok = test_pair_go(&p);          both sides done, tickets read
 *   ... tls_conn_params(p.cl.c), p.cl.sess[0], p.sv.early ...
 *   test_pair_free(&p);
 *
 * or one flight at a time, each kept for tampering:
 *
 *   int rc = test_pair_flights(&p, 2);   ClientHello, server flight
 *   test_side_open(&p.sv, TLS_EPOCH_HANDSHAKE, &p.sflight, &clear, &msgs);
 *   ... edit msgs, test_side_seal(...), test_side_hs(&p.cl, ...) ...
 *
 * Each side records what its callbacks reported: secrets (epochs below
 * TEST_EPOCHS kept), sessions (client), 0-RTT data (server).
 */
#ifndef TEST_PAIR_H
#define TEST_PAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls/tls.h"

#define TEST_EPOCHS 8
#define TEST_MAX_SESS 8

struct test_side {
	tls_conn *c;
	int rc;                    /* last tls_conn_handshake result */
	tls_buf out;               /* test_side_hs: what the last call wrote */
	/* secret callbacks */
	int n_secrets;             /* with a suite and a secret of its hash length */
	int max_epoch[2];          /* highest epoch per direction */
	int early_secrets;         /* TLS_EPOCH_EARLY, either direction */
	bool got[2][TEST_EPOCHS];
	const tls_cipher *cs[2][TEST_EPOCHS];
	uint8_t secret[2][TEST_EPOCHS][TLS_MAX_HASH];
	/* client: session blobs from NewSessionTickets (the first few) */
	tls_buf sess[TEST_MAX_SESS];
	size_t n_sess;
	/* server: 0-RTT data delivered, and whether some came before the
	 * handshake was done */
	tls_buf early;
	bool early_before_done;
};

struct test_pair {
	struct test_side cl, sv;
	tls_buf c2s, s2c;          /* sent, not yet consumed by the other side */
	bool bytewise;             /* test_pair_run offers one more byte per call */
	size_t c2s_window, s2c_window;
	tls_buf ch, sflight, cflight; /* test_pair_flights */
};

/* A conn from cfg (the conn takes its own reference) with the recording
 * callbacks; rc starts at TLS_WANT_INPUT. Aborts when out of memory. */
void test_side_init(struct test_side *s, const tls_config *cfg);
void test_side_free(struct test_side *s);
/* One tls_conn_handshake call on len bytes of in (in may be NULL); s->out
 * then holds only what this call wrote. Returns (and keeps in s->rc) the
 * result; *consumed (may be NULL) gets the bytes used. */
int test_side_hs(struct test_side *s, const uint8_t *in, size_t len, size_t *consumed);

/* One tls_conn_handshake call on all of `in`, output appended to `out`,
 * what was consumed removed from `in`. Returns (and keeps in s->rc) the
 * result. */
int test_side_feed(struct test_side *s, tls_buf *in, tls_buf *out);

/* Both sides; sni (may be NULL) is the client's server name. */
void test_pair_init(struct test_pair *p, const tls_config *ccfg, const tls_config *scfg,
		    const char *sni);
void test_pair_free(struct test_pair *p);

/* Runs the handshake through c2s/s2c until both sides are done, one fails
 * or nothing moves; the side that did not fail then reads the alert. Bytes
 * after a side's handshake (the server's tickets) stay in its pipe. True
 * when both are done. */
bool test_pair_run(struct test_pair *p);
/* test_pair_run, a diagnostic when it fails, then the client reads what
 * the server sent after its handshake (NewSessionTickets): true when both
 * are done and that left no data and no error. */
bool test_pair_go(struct test_pair *p);

/* Steps through the handshake flight by flight, up to (and including)
 * `upto`: 1 ClientHello (p->ch), 2 the server's flight (p->sflight), 3 the
 * client's flight (p->cflight), 4 the server reads it. Stops early when a
 * side does not answer as a plain full handshake would. Returns the last
 * result. */
int test_pair_flights(struct test_pair *p, int upto);

/* Sends len bytes from a to b with tls_conn_send/recv; true when they
 * arrive intact and whole records were consumed. */
bool test_transfer(tls_conn *a, tls_conn *b, const void *data, size_t len);

/* Records of one flight sent by s: plaintext records (ServerHello, CCS)
 * are copied to clear, protected ones opened with s's TX secret of epoch
 * (sequence numbers from 0) and their contents, which must be handshake
 * messages, appended to msgs. True on success. */
bool test_side_open(const struct test_side *s, int epoch, const tls_buf *recs, tls_buf *clear,
		    tls_buf *msgs);
/* Seals handshake messages as s would under its TX secret of epoch
 * (sequence numbers from 0), appended to out. True on success. */
bool test_side_seal(const struct test_side *s, int epoch, const uint8_t *msgs, size_t len,
		    tls_buf *out);
/* The alert in the last record of s->out, or -1; protected records are
 * opened with every TX secret s reported (*encrypted then true). */
int test_side_alert(const struct test_side *s, bool *encrypted);

#endif
