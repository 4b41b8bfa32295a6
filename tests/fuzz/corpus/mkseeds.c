/* Writes the seed corpus of the fuzz targets from real in-memory handshakes
 * (fixed keys and randoms from ../fuzz.h, so the seeds replay exactly).
 * Run by hand from the repository root when the engine's output changes:
 *
 *   cc -std=gnu11 -D_GNU_SOURCE -Iinclude -Ilib -Itests/common \
 *      tests/fuzz/corpus/mkseeds.c tests/common/test.c lib/tls/[a-z]*.c lib/handoff.c -lcrypto \
 *      -o /tmp/mkseeds &&
 *   /tmp/mkseeds tests/fuzz/corpus
 *
 * The RFC 8448 ClientHellos are added as server seeds as well. The
 * server_psk and client_psk seeds are resumed handshakes against the fixed
 * STEK ring, ticket, external PSK and clock of fuzz.h (with 0-RTT, a bad
 * binder, a replayed ClientHello). The server_mtls seeds are the client's
 * flight with (and without) a client certificate, decrypted, whole and
 * with a broken CertificateVerify, Finished or certificate signature.
 * The post_decode seeds are both sides' tls_post of a handshake (the
 * client's with the server's identity, the server's with deferred tickets).
 * The handoff seeds are one message of each type with the attributes the
 * protocol gives it (lib/handoff.h), the DONE one with a real tls_post.
 */
#include <stdio.h>

#include "../fuzz.h"
#include "tls/engine.h"
#include "handoff.h"
#include "../../vectors/rfc8448_s3.h"
#include "../../vectors/rfc8448_s5.h"
#include "../../vectors/rfc8448_s7.h"
#include "test.h"

static const char *dir;

static void put(const char *sub, const char *name, const uint8_t *hdr, size_t hlen,
		const uint8_t *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(hdr, 1, hlen, f) != hlen || (n && fwrite(p, 1, n, f) != n) || fclose(f)) {
		perror(path);
		exit(1);
	}
	printf("%s: %zu bytes\n", path, hlen + n);
}

static const uint8_t k0[] = { 0 };

/* One handshake: client config tweak by `alpn`, returns the streams. */
static void handshake(const char *alpn, tls_buf *ch, tls_buf *cfl, tls_buf *sfl, tls_buf *spost)
{
	tls_config *ccfg = fuzz_client_config(), *scfg = fuzz_server_config();
	if (alpn)
		tls_config_set_alpn(ccfg, alpn);
	tls_conn *cl = tls_conn_new(ccfg), *sv = tls_conn_new(scfg);
	fuzz_fix_client(cl);
	fuzz_fix_server(sv);
	tls_buf_init(ch, 0);
	tls_buf_init(cfl, 0);
	tls_buf_init(sfl, 0);
	tls_buf_init(spost, 0);
	size_t n = 0;
	int rc = tls_conn_handshake(cl, ch, (const uint8_t *)"", &n);
	n = ch->len;
	rc = rc == TLS_WANT_INPUT ? tls_conn_handshake(sv, sfl, ch->base, &n) : rc;
	n = sfl->len;
	rc = rc == TLS_WANT_INPUT ? tls_conn_handshake(cl, cfl, sfl->base, &n) : rc;
	n = cfl->len;
	rc = rc == 0 ? tls_conn_handshake(sv, spost, cfl->base, &n) : rc;
	if (rc != 0) {
		fprintf(stderr, "handshake failed: %s / %s\n", tls_conn_error(cl), tls_conn_error(sv));
		exit(1);
	}
	tls_conn_free(cl);
	tls_conn_free(sv);
	tls_config_free(ccfg);
	tls_config_free(scfg);
}

/* The seed replays: a fresh fixed server/client reaches the end. */
static void check_replay(bool server, const tls_buf *stream)
{
	tls_config *cfg = server ? fuzz_server_config() : fuzz_client_config();
	tls_conn *c = tls_conn_new(cfg);
	tls_buf out;
	tls_buf_init(&out, 0);
	size_t n = 0;
	if (server) {
		fuzz_fix_server(c);
	} else {
		fuzz_fix_client(c);
		tls_conn_handshake(c, &out, (const uint8_t *)"", &n);
	}
	n = stream->len;
	int rc = tls_conn_handshake(c, &out, stream->base, &n);
	if (rc != 0) {
		fprintf(stderr, "%s seed does not replay: %d %s\n", server ? "server" : "client", rc,
			tls_conn_error(c));
		exit(1);
	}
	tls_buf_free(&out);
	tls_conn_free(c);
	tls_config_free(cfg);
}

static void rfc_seed(const char *name, const char *hex)
{
	uint8_t buf[1024];
	size_t n = test_unhex(hex, buf, sizeof(buf));
	put("server", name, k0, 1, buf, n);
}

/* ---- server_psk / client_psk ---- */

/* A client set up exactly as client_psk sets it up for header byte `hdr`. */
static tls_conn *psk_client(tls_config **cfg, const tls_session *session, uint8_t hdr)
{
	if (hdr & 4) {
		*cfg = fuzz_client_extpsk_config();
	} else {
		*cfg = fuzz_client_config();
		tls_config_set_clock(*cfg, fuzz_clock, NULL);
		tls_config_set_psk_modes(*cfg, TLS_PSK_MODE_KE | TLS_PSK_MODE_DHE_KE);
	}
	tls_conn *c = tls_conn_new(*cfg);
	fuzz_fix_client(c);
	if (!(hdr & 4)) {
		if (fuzz_set_session(c, session) ||
		    tls_conn_set_early_data(c, fuzz_early_data, sizeof(fuzz_early_data) - 1)) {
			fprintf(stderr, "offering the session failed\n");
			exit(1);
		}
	}
	return c;
}

static void got_session(void *ctx, const uint8_t *blob, size_t len)
{
	(void)blob, (void)len;
	(*(int *)ctx)++;
}

static void got_early(void *ctx, const uint8_t *p, size_t n)
{
	(void)p;
	*(size_t *)ctx += n;
}

/* One resumed handshake: CH (+0-RTT), server flight, client flight + "ping",
 * server tickets + "pong". The client must get the tickets. */
static void psk_handshake(const tls_session *session, uint8_t hdr, tls_buf *ch, tls_buf *sfl,
			  tls_buf *cfl, tls_buf *spost)
{
	tls_stek_ring *ring = fuzz_stek_ring();
	struct fuzz_replay ar = { 0 };
	tls_config *ccfg, *scfg = fuzz_server_psk_config(ring, &ar);
	tls_conn *cl = psk_client(&ccfg, session, hdr), *sv = tls_conn_new(scfg);
	fuzz_fix_server(sv);
	int sessions = 0;
	const tls_callbacks ccb = { .session = got_session };
	tls_conn_set_callbacks(cl, &ccb, &sessions);
	tls_buf_init(ch, 0);
	tls_buf_init(sfl, 0);
	tls_buf_init(cfl, 0);
	tls_buf_init(spost, 0);
	tls_buf plain;
	tls_buf_init(&plain, 0);
	size_t n = 0;
	int rc = tls_conn_handshake(cl, ch, (const uint8_t *)"", &n);
	n = ch->len;
	rc = rc == TLS_WANT_INPUT ? tls_conn_handshake(sv, sfl, ch->base, &n) : rc;
	n = sfl->len;
	rc = rc == TLS_WANT_INPUT ? tls_conn_handshake(cl, cfl, sfl->base, &n) : rc;
	rc = rc == 0 ? tls_conn_send(cl, cfl, "ping", 4) : rc;
	n = cfl->len;
	rc = rc == 0 ? tls_conn_handshake(sv, spost, cfl->base, &n) : rc;
	size_t used = n;
	rc = rc == 0 ? tls_conn_send(sv, spost, "pong", 4) : rc;
	n = cfl->len - used;
	rc = rc == 0 ? tls_conn_recv(sv, spost, &plain, cfl->base + used, &n) : rc;
	n = spost->len;
	rc = rc == 0 ? tls_conn_recv(cl, cfl, &plain, spost->base, &n) : rc;
	const tls_params *sp = tls_conn_params(sv), *cp = tls_conn_params(cl);
	bool want_early = !(hdr & 4);
	if (rc != 0 || !sp->resumed || !cp->resumed || sp->psk_external != !want_early ||
	    (sp->early_data == TLS_EARLY_ACCEPTED) != want_early || sessions < 1 ||
	    plain.len != 8) {
		fprintf(stderr, "PSK handshake %u: rc %d resumed %d/%d early %d sessions %d: %s / %s\n",
			hdr, rc, sp->resumed, cp->resumed, sp->early_data, sessions,
			tls_conn_error(cl), tls_conn_error(sv));
		exit(1);
	}
	tls_buf_free(&plain);
	tls_conn_free(cl);
	tls_conn_free(sv);
	tls_config_free(ccfg);
	tls_config_free(scfg);
	tls_replay_cache_free(ar.cache);
	tls_stek_ring_free(ring);
}

/* The server_psk target on this input: handshake result and 0-RTT bytes. */
static int server_psk_replay(uint8_t hdr, const tls_buf *s, size_t *early, bool *resumed)
{
	tls_stek_ring *ring = fuzz_stek_ring();
	struct fuzz_replay ar = { 0 };
	tls_config *cfg = fuzz_server_psk_config(ring, &ar);
	fuzz_replay_reset(&ar, hdr & 4);
	tls_conn *c = tls_conn_new(cfg);
	fuzz_fix_server(c);
	*early = 0;
	const tls_callbacks cb = { .early_data = got_early };
	tls_conn_set_callbacks(c, &cb, early);
	tls_buf out;
	tls_buf_init(&out, 0);
	size_t n = s->len;
	int rc = tls_conn_handshake(c, &out, s->base, &n);
	*resumed = tls_conn_params(c)->resumed;
	tls_buf_free(&out);
	tls_conn_free(c);
	tls_config_free(cfg);
	tls_replay_cache_free(ar.cache);
	tls_stek_ring_free(ring);
	return rc;
}

static void psk_put_server(const char *name, uint8_t hdr, const tls_buf *s, int want_rc,
			   size_t want_early)
{
	size_t early;
	bool resumed;
	int rc = server_psk_replay(hdr, s, &early, &resumed);
	if (rc != want_rc || early != want_early || (rc == 0 && !resumed)) {
		fprintf(stderr, "server_psk seed %s: rc %d (want %d), early %zu (want %zu)\n", name,
			rc, want_rc, early, want_early);
		exit(1);
	}
	put("server_psk", name, &hdr, 1, s->base, s->len);
}

/* The client_psk target on this input reaches the end of its handshake. */
static void psk_put_client(const char *name, uint8_t hdr, const tls_session *session,
			   const tls_buf *s)
{
	tls_config *cfg;
	tls_conn *c = psk_client(&cfg, session, hdr);
	tls_buf out;
	tls_buf_init(&out, 0);
	size_t n = 0;
	tls_conn_handshake(c, &out, (const uint8_t *)"", &n);
	n = s->len;
	int rc = tls_conn_handshake(c, &out, s->base, &n);
	if (rc != 0 || !tls_conn_params(c)->resumed) {
		fprintf(stderr, "client_psk seed %s does not replay: %d %s\n", name, rc,
			tls_conn_error(c));
		exit(1);
	}
	tls_buf_free(&out);
	tls_conn_free(c);
	tls_config_free(cfg);
	put("client_psk", name, &hdr, 1, s->base, s->len);
}

/* Flips the last byte of the first record: the binder ends the ClientHello. */
static void break_binder(tls_buf *b)
{
	size_t len = (size_t)b->base[3] << 8 | b->base[4];
	b->base[TLS_RECORD_HEADER + len - 1] ^= 0x5a;
}

static void psk_seeds(void)
{
	tls_session *session = fuzz_session();
	tls_buf ch, sfl, cfl, spost, s;
	const size_t early = sizeof(fuzz_early_data) - 1;

	/* ticket + 0-RTT */
	psk_handshake(session, 0, &ch, &sfl, &cfl, &spost);
	psk_put_server("resume-0rtt-clienthello", 0, &ch, TLS_WANT_INPUT, early);
	tls_buf_init(&s, 0);
	tls_write_bytes(&s, ch.base, ch.len);
	tls_write_bytes(&s, cfl.base, cfl.len);
	psk_put_server("resume-0rtt-full", 0, &s, 0, early);
	/* the recorder saw it: 0-RTT refused and skipped, the client's
	 * transcript has EndOfEarlyData, so its Finished fails */
	psk_put_server("resume-0rtt-replayed", 4, &s, TLS_ERR_LOCAL(TLS_ALERT_DECRYPT_ERROR), 0);
	break_binder(&s);
	psk_put_server("resume-bad-binder", 0, &s,
		       TLS_ERR_LOCAL(TLS_ALERT_DECRYPT_ERROR), 0);
	tls_buf_free(&s);
	tls_buf_init(&s, 0);
	tls_write_bytes(&s, sfl.base, sfl.len);
	tls_write_bytes(&s, spost.base, spost.len);
	psk_put_client("resume-0rtt", 0, session, &s);
	tls_buf_free(&s);
	tls_buf_free(&ch), tls_buf_free(&sfl), tls_buf_free(&cfl), tls_buf_free(&spost);

	/* external PSK */
	psk_handshake(session, 4, &ch, &sfl, &cfl, &spost);
	tls_buf_init(&s, 0);
	tls_write_bytes(&s, ch.base, ch.len);
	tls_write_bytes(&s, cfl.base, cfl.len);
	psk_put_server("external-full", 0, &s, 0, 0);
	break_binder(&s);
	psk_put_server("external-bad-binder", 0, &s, TLS_ERR_LOCAL(TLS_ALERT_DECRYPT_ERROR), 0);
	tls_buf_free(&s);
	tls_buf_init(&s, 0);
	tls_write_bytes(&s, sfl.base, sfl.len);
	tls_write_bytes(&s, spost.base, spost.len);
	psk_put_client("external", 4, session, &s);
	tls_buf_free(&s);
	tls_buf_free(&ch), tls_buf_free(&sfl), tls_buf_free(&cfl), tls_buf_free(&spost);

	/* ticket target: the fixed ticket's contents (selectors 0 and 1) and
	 * the client's saved session (selector 2) */
	tls_stek_ring *ring = fuzz_stek_ring();
	tls_ticket t;
	if (tls_ticket_open(ring, session->ticket, session->ticket_len, FUZZ_NOW_MS, &t)) {
		fprintf(stderr, "the fixed ticket does not open\n");
		exit(1);
	}
	tls_buf_init(&s, 0);
	tls_ticket_encode(&t, &s);
	static const uint8_t sel[] = { 0, 1, 2 };
	put("ticket", "contents-roundtrip", &sel[0], 1, s.base, s.len);
	put("ticket", "contents-seal-open", &sel[1], 1, s.base, s.len);
	tls_buf_reset(&s);
	tls_session_encode(session, &s);
	put("ticket", "session", &sel[2], 1, s.base, s.len);
	tls_buf_free(&s);
	tls_ticket_clear(&t);
	tls_stek_ring_free(ring);
	tls_session_free(session);
}

/* ---- server_mtls ---- */

static void chunk(tls_buf *b, uint8_t type, const uint8_t *p, size_t n)
{
	tls_write_u8(b, type);
	tls_write_u16(b, (uint16_t)n);
	tls_write_bytes(b, p, n);
}

/* The engine's client (with the client certificate when `cert`) against
 * the server_mtls server for hdr: the client's flight after the server's,
 * decrypted, as server_mtls input (one chunk per handshake message; a CCS
 * record raw). */
static void mtls_flight(uint8_t hdr, bool cert, tls_buf *chunks)
{
	tls_stek_ring *ring = fuzz_stek_ring();
	tls_session *session = hdr & FUZZ_MTLS_TICKET ? fuzz_session() : NULL;
	tls_config *ccfg, *scfg = fuzz_mtls_server_config(hdr, ring);
	tls_conn *cl = fuzz_mtls_client(&ccfg, cert, session), *sv = tls_conn_new(scfg);
	fuzz_fix_server(sv);
	struct fuzz_secret key = { .dir = TLS_DIR_TX, .epoch = TLS_EPOCH_HANDSHAKE };
	const tls_callbacks cb = { .secret = fuzz_on_secret };
	tls_conn_set_callbacks(cl, &cb, &key);
	tls_buf ch, sfl, cfl, want, hs;
	tls_buf_init(&ch, 0);
	tls_buf_init(&sfl, 0);
	tls_buf_init(&cfl, 0);
	tls_buf_init(&hs, 0);
	size_t n = 0;
	int rc = tls_conn_handshake(cl, &ch, (const uint8_t *)"", &n);
	n = ch.len;
	rc = rc == TLS_WANT_INPUT ? tls_conn_handshake(sv, &sfl, ch.base, &n) : rc;
	n = sfl.len;
	rc = rc == TLS_WANT_INPUT ? tls_conn_handshake(cl, &cfl, sfl.base, &n) : rc;
	/* the target replays its own ClientHello: it must be this one */
	fuzz_mtls_hello(hdr & FUZZ_MTLS_TICKET, &want);
	if (rc != 0 || !key.got || want.len != ch.len || memcmp(want.base, ch.base, ch.len)) {
		fprintf(stderr, "mTLS handshake %u: rc %d, ClientHello %s: %s / %s\n", hdr, rc,
			want.len == ch.len ? "same" : "differs", tls_conn_error(cl),
			tls_conn_error(sv));
		exit(1);
	}
	tls_traffic_key tk;
	if (tls_traffic_key_init(&tk, key.cs, key.secret))
		exit(1);
	tls_buf_init(chunks, 0);
	tls_reader r = tls_reader_init(cfl.base, cfl.len);
	while (r.left) {
		tls_reader h = r;
		uint8_t type = tls_read_u8(&h);
		tls_read_u16(&h);
		size_t len = TLS_RECORD_HEADER + (size_t)tls_read_u16(&h);
		const uint8_t *rec = tls_read_bytes(&r, len);
		uint8_t buf[TLS_RECORD_HEADER + TLS_MAX_PLAINTEXT + 256], itype = 0, *p;
		size_t plen = 0;
		if (!rec || len > sizeof(buf))
			exit(1);
		if (type == TLS_CT_CCS) {
			chunk(chunks, 0x80, rec, len);
			continue;
		}
		memcpy(buf, rec, len);
		if (tls_record_open(&tk, buf, len, &itype, &p, &plen) || itype != TLS_CT_HANDSHAKE) {
			fprintf(stderr, "mTLS handshake %u: client record does not open\n", hdr);
			exit(1);
		}
		tls_write_bytes(&hs, p, plen);
	}
	for (tls_reader m = tls_reader_init(hs.base, hs.len); m.left;) {
		tls_reader h = m;
		tls_read_u8(&h);
		size_t len = 4 + (size_t)tls_read_u24(&h);
		const uint8_t *msg = tls_read_bytes(&m, len);
		if (!msg || len > TLS_MAX_PLAINTEXT)
			exit(1);
		chunk(chunks, TLS_CT_HANDSHAKE, msg, len);
	}
	tls_traffic_key_clear(&tk);
	tls_buf_free(&ch), tls_buf_free(&sfl), tls_buf_free(&cfl), tls_buf_free(&want);
	tls_buf_free(&hs);
	tls_conn_free(cl);
	tls_conn_free(sv);
	tls_config_free(ccfg);
	tls_config_free(scfg);
	tls_session_free(session);
	tls_stek_ring_free(ring);
}

/* Flips byte len - back of the payload of the chunk holding handshake
 * message hs_type. */
static void mtls_flip(tls_buf *chunks, uint8_t hs_type, size_t back)
{
	tls_reader r = tls_reader_init(chunks->base, chunks->len);
	while (r.left) {
		uint8_t type = tls_read_u8(&r);
		size_t len = tls_read_u16(&r);
		const uint8_t *p = tls_read_bytes(&r, len);
		if (p && type == TLS_CT_HANDSHAKE && len >= back && p[0] == hs_type) {
			chunks->base[p - chunks->base + len - back] ^= 0x01;
			return;
		}
	}
	fprintf(stderr, "no handshake message %u in the mTLS flight\n", hs_type);
	exit(1);
}

/* What the server_mtls target makes of header + chunks: the result
 * (want_rc) and, when that is 0, the client identity and resumption. */
static void mtls_put(const char *name, const uint8_t *hdr, size_t hlen, const tls_buf *chunks,
		     int want_rc, bool want_id, bool want_resumed)
{
	tls_buf in, ch;
	tls_buf_init(&in, 0);
	tls_write_bytes(&in, hdr, hlen);
	tls_write_bytes(&in, chunks->base, chunks->len);
	tls_stek_ring *ring = fuzz_stek_ring();
	tls_config *cfg = fuzz_mtls_server_config(hdr[0], ring);
	fuzz_mtls_hello(hdr[0] & FUZZ_MTLS_TICKET, &ch);
	size_t cut[3], k, size = in.len;
	const uint8_t *data = fuzz_splits(in.base, &size, cut, &k);
	int rc;
	tls_conn *c = fuzz_mtls_run(cfg, &ch, data, size, cut, k, &rc);
	const tls_params *p = tls_conn_params(c);
	if (rc != want_rc || (rc == 0 && (!tls_conn_handshake_done(c) || p->client_id != want_id ||
					  p->resumed != want_resumed))) {
		fprintf(stderr, "server_mtls seed %s: rc %d (want %d), client_id %d, resumed %d: %s\n",
			name, rc, want_rc, p->client_id, p->resumed, tls_conn_error(c));
		exit(1);
	}
	put("server_mtls", name, hdr, hlen, chunks->base, chunks->len);
	tls_conn_free(c);
	tls_config_free(cfg);
	tls_stek_ring_free(ring);
	tls_buf_free(&ch);
	tls_buf_free(&in);
}

static void mtls_seeds(void)
{
	static const uint8_t req[] = { 0 }, opt[] = { FUZZ_MTLS_OPTIONAL },
		any[] = { FUZZ_MTLS_NO_VERIFY }, treq[] = { FUZZ_MTLS_TICKET },
		topt[] = { FUZZ_MTLS_TICKET | FUZZ_MTLS_OPTIONAL };
	const int decrypt_error = TLS_ERR_LOCAL(TLS_ALERT_DECRYPT_ERROR);
	tls_buf f;

	/* a certificate, a CertificateVerify, a Finished; whole, then split */
	mtls_flight(0, true, &f);
	mtls_put("cert-required", req, 1, &f, 0, true, false);
	mtls_put("cert-optional", opt, 1, &f, 0, true, false);
	mtls_put("cert-noverify", any, 1, &f, 0, true, false);
	uint8_t split[] = { 2, 0, 9, (uint8_t)(f.len / 2 >> 8), (uint8_t)(f.len / 2) };
	mtls_put("cert-required-split", split, sizeof(split), &f, 0, true, false);
	mtls_flip(&f, TLS_HS_CERTIFICATE_VERIFY, 1);
	mtls_put("bad-cv", req, 1, &f, decrypt_error, false, false);
	mtls_flip(&f, TLS_HS_CERTIFICATE_VERIFY, 1);
	mtls_flip(&f, TLS_HS_FINISHED, 1);
	mtls_put("bad-finished", req, 1, &f, decrypt_error, false, false);
	mtls_flip(&f, TLS_HS_FINISHED, 1);
	/* the last byte of the certificate's signature (before the u16
	 * extensions of its entry): refused when verified; else accepted, and
	 * the CertificateVerify (over the original) fails */
	mtls_flip(&f, TLS_HS_CERTIFICATE, 3);
	mtls_put("bad-cert-signature", req, 1, &f, TLS_ERR_LOCAL(TLS_ALERT_BAD_CERTIFICATE),
		 false, false);
	mtls_put("bad-cert-signature-noverify", any, 1, &f, decrypt_error, false, false);
	tls_buf_free(&f);

	/* an empty Certificate */
	mtls_flight(FUZZ_MTLS_OPTIONAL, false, &f);
	mtls_put("nocert-required", req, 1, &f, TLS_ERR_LOCAL(TLS_ALERT_CERTIFICATE_REQUIRED),
		 false, false);
	mtls_put("nocert-optional", opt, 1, &f, 0, false, false);
	tls_buf_free(&f);

	/* the ticket without a client identity: a full handshake when
	 * certificates are required, resumption (Finished only) when optional */
	mtls_flight(FUZZ_MTLS_TICKET, true, &f);
	mtls_put("ticket-required", treq, 1, &f, 0, true, false);
	tls_buf_free(&f);
	mtls_flight(FUZZ_MTLS_TICKET | FUZZ_MTLS_OPTIONAL, true, &f);
	mtls_put("ticket-optional", topt, 1, &f, 0, false, true);
	tls_buf_free(&f);
}

/* ---- post_decode ---- */

/* A post_decode seed: the encoding of p, which must decode and re-encode
 * to the same bytes (the target's main path). */
static void post_put(const char *name, const tls_post *p, enum tls_role role, bool peer_id)
{
	tls_buf b, again;
	tls_buf_init(&b, 0);
	tls_buf_init(&again, 0);
	tls_post *d = p && tls_post_encode(p, &b) == 0 ? tls_post_decode(b.base, b.len) : NULL;
	if (!d || tls_post_encode(d, &again) || again.len != b.len ||
	    memcmp(again.base, b.base, b.len) || tls_post_role(d) != role ||
	    tls_post_peer_id(d, NULL, NULL, NULL) != peer_id) {
		fprintf(stderr, "post_decode seed %s does not round-trip\n", name);
		exit(1);
	}
	put("post_decode", name, k0, 0, b.base, b.len);
	tls_post_free(d);
	tls_buf_free(&b);
	tls_buf_free(&again);
}

static void post_seeds(void)
{
	tls_config *ccfg = fuzz_client_config(), *scfg = fuzz_server_config();
	tls_config_set_alpn(ccfg, "h2");
	tls_config_set_alpn(scfg, "h2");
	tls_conn *cl = tls_conn_new(ccfg), *sv = tls_conn_new(scfg);
	fuzz_fix_client(cl);
	fuzz_fix_server(sv);
	tls_conn_defer_tickets(sv);
	tls_buf ch, sfl, cfl, spost;
	tls_buf_init(&ch, 0);
	tls_buf_init(&sfl, 0);
	tls_buf_init(&cfl, 0);
	tls_buf_init(&spost, 0);
	size_t n = 0;
	int rc = tls_conn_handshake(cl, &ch, (const uint8_t *)"", &n);
	n = ch.len;
	rc = rc == TLS_WANT_INPUT ? tls_conn_handshake(sv, &sfl, ch.base, &n) : rc;
	n = sfl.len;
	rc = rc == TLS_WANT_INPUT ? tls_conn_handshake(cl, &cfl, sfl.base, &n) : rc;
	n = cfl.len;
	rc = rc == 0 ? tls_conn_handshake(sv, &spost, cfl.base, &n) : rc;
	if (rc != 0 || spost.len) {
		fprintf(stderr, "post handshake: rc %d, %zu bytes after the server's end\n", rc,
			spost.len);
		exit(1);
	}
	tls_post *cp = tls_conn_post(cl), *sp = tls_conn_post(sv);
	post_put("client", cp, TLS_CLIENT, true);
	post_put("server", sp, TLS_SERVER, false);
	tls_post_free(cp);
	tls_post_free(sp);
	tls_buf_free(&ch), tls_buf_free(&sfl), tls_buf_free(&cfl), tls_buf_free(&spost);
	tls_conn_free(cl);
	tls_conn_free(sv);
	tls_config_free(ccfg);
	tls_config_free(scfg);
}

/* ---- handoff ---- */

/* A handoff seed: the message must parse with exactly the attributes put. */
static void handoff_put(const char *name, tls_buf *b, uint32_t want_present)
{
	struct handoff_msg m;
	const char *why = "";
	if (handoff_end(b) || handoff_parse(b->base, b->len, &m, &why) ||
	    m.present != want_present) {
		fprintf(stderr, "handoff seed %s does not parse as built: %s\n", name, why);
		exit(1);
	}
	put("handoff", name, k0, 0, b->base, b->len);
}

#define BIT(a) (1u << HANDOFF_A_##a)

static void handoff_seeds(void)
{
	/* a real tls_post for DONE and CONFIRMED */
	tls_buf post;
	tls_buf_init(&post, 0);
	{
		tls_config *ccfg = fuzz_client_config(), *scfg = fuzz_server_config();
		tls_conn *cl = tls_conn_new(ccfg), *sv = tls_conn_new(scfg);
		fuzz_fix_client(cl);
		fuzz_fix_server(sv);
		tls_buf a, b2, c;
		tls_buf_init(&a, 0), tls_buf_init(&b2, 0), tls_buf_init(&c, 0);
		size_t n = 0;
		int rc = tls_conn_handshake(cl, &a, (const uint8_t *)"", &n);
		n = a.len;
		rc = rc == TLS_WANT_INPUT ? tls_conn_handshake(sv, &b2, a.base, &n) : rc;
		n = b2.len;
		rc = rc == TLS_WANT_INPUT ? tls_conn_handshake(cl, &c, b2.base, &n) : rc;
		tls_post *p = rc == 0 ? tls_conn_post(cl) : NULL;
		if (!p || tls_post_encode(p, &post)) {
			fprintf(stderr, "handoff seeds: no tls_post\n");
			exit(1);
		}
		tls_post_free(p);
		tls_buf_free(&a), tls_buf_free(&b2), tls_buf_free(&c);
		tls_conn_free(cl);
		tls_conn_free(sv);
		tls_config_free(ccfg);
		tls_config_free(scfg);
	}
	uint8_t id[32], ticket[64], nst[40];
	fuzz_fill(id, sizeof(id), 0xc0);
	fuzz_fill(ticket, sizeof(ticket), 0x30);
	fuzz_fill(nst, sizeof(nst), 0x04);
	static const uint8_t early[] = "GET / HTTP/1.1\r\nHost: fuzz.test\r\n\r\n";
	tls_buf b;
	tls_buf_init(&b, 0);

	handoff_begin(&b, HANDOFF_ACCEPT, 1);
	handoff_put_str(&b, HANDOFF_A_ALPN, "h2,http/1.1");
	handoff_put_u32(&b, HANDOFF_A_TIMEOUT_MS, 10000);
	handoff_put("accept", &b, BIT(ALPN) | BIT(TIMEOUT_MS));

	handoff_begin(&b, HANDOFF_CONNECT, 2);
	handoff_put_str(&b, HANDOFF_A_SERVER_NAME, "fuzz.test");
	handoff_put_str(&b, HANDOFF_A_ALPN, "h2");
	handoff_put_u16(&b, HANDOFF_A_PORT, 443);
	handoff_put_u8(&b, HANDOFF_A_VERIFY, HANDOFF_VERIFY_PEER | HANDOFF_VERIFY_NAME);
	handoff_put_bytes(&b, HANDOFF_A_EARLY_DATA, early, sizeof(early) - 1);
	handoff_put_u32(&b, HANDOFF_A_TIMEOUT_MS, 5000);
	handoff_put("connect", &b, BIT(SERVER_NAME) | BIT(ALPN) | BIT(PORT) | BIT(VERIFY) |
				   BIT(EARLY_DATA) | BIT(TIMEOUT_MS));

	handoff_begin(&b, HANDOFF_STORE_TICKET, 3);
	handoff_put_bytes(&b, HANDOFF_A_TICKET, ticket, sizeof(ticket));
	handoff_put_str(&b, HANDOFF_A_SERVER_NAME, "fuzz.test");
	handoff_put_u16(&b, HANDOFF_A_PORT, 443);
	handoff_put_str(&b, HANDOFF_A_ALPN, "h2");
	handoff_put("store-ticket", &b, BIT(TICKET) | BIT(SERVER_NAME) | BIT(PORT) | BIT(ALPN));

	handoff_begin(&b, HANDOFF_DONE, 1);
	handoff_put_bytes(&b, HANDOFF_A_POST, post.base, post.len);
	handoff_put_u16(&b, HANDOFF_A_CIPHER, TLS_AES_128_GCM_SHA256);
	handoff_put_u16(&b, HANDOFF_A_GROUP, 0x001d);
	handoff_put_u16(&b, HANDOFF_A_SIG_SCHEME, 0x0807);
	handoff_put_str(&b, HANDOFF_A_SERVER_NAME, "fuzz.test");
	handoff_put_str(&b, HANDOFF_A_ALPN, "h2");
	handoff_put_u8(&b, HANDOFF_A_RESUMED, 1);
	handoff_put_u8(&b, HANDOFF_A_HRR, 0);
	handoff_put_u8(&b, HANDOFF_A_EARLY_STATE, HANDOFF_EARLY_ACCEPTED);
	handoff_put_bytes(&b, HANDOFF_A_EARLY_DATA, early, sizeof(early) - 1);
	handoff_put_bytes(&b, HANDOFF_A_PEER_ID, id, sizeof(id));
	handoff_put_u8(&b, HANDOFF_A_KTLS, HANDOFF_KTLS_TX);
	handoff_put("done", &b, BIT(POST) | BIT(CIPHER) | BIT(GROUP) | BIT(SIG_SCHEME) |
				BIT(SERVER_NAME) | BIT(ALPN) | BIT(RESUMED) | BIT(HRR) |
				BIT(EARLY_STATE) | BIT(EARLY_DATA) | BIT(PEER_ID) | BIT(KTLS));

	handoff_begin(&b, HANDOFF_CONFIRMED, 1);
	handoff_put_bytes(&b, HANDOFF_A_POST, post.base, post.len);
	handoff_put_bytes(&b, HANDOFF_A_NST, nst, sizeof(nst));
	handoff_put("confirmed", &b, BIT(POST) | BIT(NST));

	handoff_begin(&b, HANDOFF_FAILED, 2);
	handoff_put_u32(&b, HANDOFF_A_REASON, HANDOFF_R_TLS);
	handoff_put_u8(&b, HANDOFF_A_ALERT, 40);
	handoff_put_str(&b, HANDOFF_A_TEXT, "no shared key exchange group");
	handoff_put("failed", &b, BIT(REASON) | BIT(ALERT) | BIT(TEXT));

	handoff_begin(&b, HANDOFF_BUSY, 3);
	handoff_put("busy", &b, 0);
	tls_buf_free(&b);
	tls_buf_free(&post);
}

int main(int argc, char **argv)
{
	dir = argc > 1 ? argv[1] : "tests/fuzz/corpus";
	tls_buf ch, cfl, sfl, spost, s;
	handshake(NULL, &ch, &cfl, &sfl, &spost);

	/* server: ClientHello alone, and the whole client side of a handshake */
	put("server", "clienthello", k0, 1, ch.base, ch.len);
	tls_buf_init(&s, 0);
	tls_write_bytes(&s, ch.base, ch.len);
	tls_write_bytes(&s, cfl.base, cfl.len);
	check_replay(true, &s);
	put("server", "client-full", k0, 1, s.base, s.len);
	/* the same, delivered in three pieces: split inside the CH and at the flight */
	uint8_t split[] = { 2, 0, 7, (uint8_t)(ch.len >> 8), (uint8_t)ch.len };
	put("server", "client-full-split", split, sizeof(split), s.base, s.len);
	tls_buf_free(&s);
	rfc_seed("rfc8448-s3-clienthello", rfc8448_s3_ch_record);
	rfc_seed("rfc8448-s5-clienthello1", rfc8448_s5_ch1_record);
	rfc_seed("rfc8448-s7-clienthello", rfc8448_s7_ch_record);

	/* client: the server flight, then its tickets */
	tls_buf_init(&s, 0);
	tls_write_bytes(&s, sfl.base, sfl.len);
	check_replay(false, &s);
	if (spost.len)
		tls_write_bytes(&s, spost.base, spost.len);
	put("client", "server-full", k0, 1, s.base, s.len);
	uint8_t split2[] = { 1, (uint8_t)(sfl.len >> 8), (uint8_t)sfl.len };
	put("client", "server-full-split", split2, sizeof(split2), s.base, s.len);
	tls_buf_free(&s);
	tls_buf_free(&ch), tls_buf_free(&cfl), tls_buf_free(&sfl), tls_buf_free(&spost);

	handshake("h2", &ch, &cfl, &sfl, &spost);
	put("server", "clienthello-alpn", k0, 1, ch.base, ch.len);
	put("client", "server-flight-alpn", k0, 1, sfl.base, sfl.len);
	tls_buf_free(&ch), tls_buf_free(&cfl), tls_buf_free(&sfl), tls_buf_free(&spost);

	/* records: chunks [type][len][payload] sealed by the server */
	static const uint8_t recs[] = {
		0,                                       /* no splits */
		22, 0, 5, 24, 0, 0, 1, 1,                /* KeyUpdate, update_requested */
		23, 0, 4, 'p', 'i', 'n', 'g',            /* application data */
		22, 0, 5, 24, 0, 0, 1, 0,                /* KeyUpdate */
		21, 0, 2, 1, 0,                          /* close_notify */
	};
	put("records", "keyupdate-data-close", recs, sizeof(recs), NULL, 0);

	psk_seeds();
	mtls_seeds();
	post_seeds();
	handoff_seeds();
	return 0;
}
