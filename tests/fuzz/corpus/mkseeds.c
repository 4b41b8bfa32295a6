/* Writes the seed corpus of the fuzz targets from real in-memory handshakes
 * (fixed keys and randoms from ../fuzz.h, so the seeds replay exactly).
 * Run by hand from the repository root when the engine's output changes:
 *
 *   cc -std=gnu11 -D_GNU_SOURCE -Iinclude -Ilib -Itests/common \
 *      tests/fuzz/corpus/mkseeds.c tests/common/test.c lib/tls/[a-z]*.c -lcrypto \
 *      -o /tmp/mkseeds &&
 *   /tmp/mkseeds tests/fuzz/corpus
 *
 * The RFC 8448 ClientHellos are added as server seeds as well.
 */
#include <stdio.h>

#include "../fuzz.h"
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
	return 0;
}
