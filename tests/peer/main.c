/* peer — the engine over TCP with userspace records, for interop tests.
 *
 *   peer server --listen ADDR:PORT --cert F --key F [--cert F --key F ...]
 *               [--alpn LIST] [--client-ca F] [--client-auth none|optional|require]
 *               [--echo] [--ciphers LIST] [--groups LIST] [--keylog F]
 *               [--ktls] [--file F] [--tickets N] [--early-data BYTES]
 *               [--ticket-keys F] [--psk ID:HEXKEY] [--record-limit N]
 *               [--ocsp F]
 *   peer server --handoff PATH --listen ADDR:PORT [--echo] [--file F]
 *   peer client --handoff PATH HOST:PORT [--servername N] [--alpn L]
 *               [--early F] [--ca F]
 *   peer rekey-server --handoff PATH --listen ADDR:PORT --file F --records N
 *               [--chunk BYTES] [--auto] [--go FILE]   (rekey.c)
 *   peer client HOST:PORT [--servername N] [--ca F] [--alpn LIST]
 *               [--cert F --key F] [--ciphers LIST] [--groups LIST]
 *               [--keyupdate] [--keylog F] [--ktls] [--glue]
 *               [--sess-in F] [--sess-out F] [--early F] [--psk ID:HEXKEY]
 *               [--record-limit N]
 *
 * --ktls: after the handshake the records are the kernel's (ktls_io.c).
 * --handoff PATH: handshaked runs each handshake (libhandshake's
 * hs_server_accept on its socket PATH) and installs kTLS; certificates,
 * tickets and early data are the daemon's configuration (handoff_io.c).
 * A client asks with hs_client_connect: the daemon resumes from its
 * ticket cache and sends --early as 0-RTT when it can; --ca (any file)
 * turns verification on, against the daemon's [client] ca_file.
 * --file F: the HTTP body is F (sent with sendfile(2) under kTLS).
 * --glue: the client sends its first stdin chunk in the same write as its
 * Finished. --sess-out saves the server's tickets, --sess-in offers one,
 * --early sends a file as 0-RTT data with it. --psk: one external PSK
 * (SHA-256 suites) the server accepts / the client offers; a server with
 * --psk needs no certificate. --record-limit N: offer RFC 8449
 * record_size_limit N (64..16385); the server's records must then fit, which
 * the engine checks (record_overflow), and under --ktls the server's kernel
 * is told with TLS_TX_MAX_PAYLOAD_LEN (Linux >= 6.19). A server answers a
 * client's record_size_limit with N, so that client's records are small.
 * --ocsp F: a DER OCSP response the server staples to its last --cert when
 * the client asks (status_request); a client that verified the server (--ca)
 * asked, and prints what was stapled ("peer: OCSP response: N bytes ...").
 *
 * LISTs are comma-separated: ciphers by IANA name (TLS_AES_128_CCM_SHA256
 * only when listed; TLS_AES_128_CCM_8_SHA256 is refused with the reason),
 * groups as x25519, secp256r1 (P-256), secp384r1 (P-384), and when listed
 * secp521r1 (P-521), x448, ffdhe2048, ffdhe3072, ffdhe4096. See server.c
 * and client.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "peer.h"
#include "test.h"
#include "tls/names.h"

__attribute__((noreturn)) static void usage(void)
{
	fprintf(stderr,
		"usage: peer server --listen ADDR:PORT --cert F --key F [--cert F --key F ...]\n"
		"                   [--alpn LIST] [--client-ca F] [--client-auth none|optional|require]\n"
		"                   [--echo] [--ciphers LIST] [--groups LIST] [--keylog F]\n"
		"                   [--ktls] [--file F] [--tickets N] [--early-data BYTES] [--ticket-keys F]\n"
		"                   [--psk ID:HEXKEY] [--record-limit N] [--ocsp F]\n"
		"       peer server --handoff PATH --listen ADDR:PORT [--echo] [--file F]\n"
		"       peer client --handoff PATH HOST:PORT [--servername N] [--alpn L] [--early F] [--ca F]\n"
		"       peer rekey-server --handoff PATH --listen ADDR:PORT --file F --records N [--auto] ...\n"
		"       peer async-server --handoff PATH --listen ADDR:PORT --async N [--timeout-ms MS]\n"
		"       peer txpend-server --handoff PATH --listen ADDR:PORT --full F --pending F [--after N]\n"
		"       peer txpend-client HOST:PORT --full F --pending F\n"
		"       peer client HOST:PORT [--servername N] [--ca F] [--alpn LIST] [--cert F --key F]\n"
		"                   [--ciphers LIST] [--groups LIST] [--keyupdate] [--keylog F]\n"
		"                   [--ktls] [--glue] [--sess-in F] [--sess-out F] [--early F]\n"
		"                   [--psk ID:HEXKEY] [--record-limit N]\n");
	exit(1);
}

/* "a,b,c" -> ids (lib/tls/names.c, the daemon's parser too); exits with
 * the reason on an unknown, refused or repeated name. */
static size_t parse_list(const char *list, enum tls_name_kind kind, uint16_t *ids, size_t max,
			 const char *flag)
{
	char err[256];
	int n = tls_parse_name_list(kind, list, ids, max, err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "peer: %s: %s\n", flag, err);
		exit(1);
	}
	return (size_t)n;
}

static void check(int r, const char *what, const char *err)
{
	if (r != 0) {
		fprintf(stderr, "peer: %s: %s\n", what, err && *err ? err : "failed");
		exit(1);
	}
}

/* --ticket-keys: a file-backed STEK ring; must outlive the config. */
static tls_stek_ring *ticket_ring;

/* A decimal option value within [0, max]; exits otherwise. */
static unsigned long number(const char *v, unsigned long max, const char *what)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);
	if (!*v || *end || n > max) {
		fprintf(stderr, "peer: %s: '%s' is not a number in 0..%lu\n", what, v, max);
		exit(1);
	}
	return n;
}

/* --psk IDENTITY:HEXKEY: the one external PSK, for the server's lookup. */
static struct {
	uint8_t id[TLS_PSK_MAX_IDENTITY], key[TLS_PSK_MAX_KEY];
	size_t id_len, key_len;
} ext_psk;

/* IDENTITY is everything before the last ':', the key is hex after it. */
static void parse_psk(const char *v)
{
	const char *colon = strrchr(v, ':'), *hex;
	size_t n;

	if (!colon || colon == v || (size_t)(colon - v) > sizeof(ext_psk.id))
		goto bad;
	ext_psk.id_len = (size_t)(colon - v);
	memcpy(ext_psk.id, v, ext_psk.id_len);
	hex = colon + 1;
	n = strlen(hex);
	if (n == 0 || n % 2 || n / 2 > sizeof(ext_psk.key) || strspn(hex, "0123456789abcdefABCDEF") != n)
		goto bad;
	for (size_t i = 0; i < n / 2; i++) {
		char byte[3] = { hex[2 * i], hex[2 * i + 1], '\0' };
		ext_psk.key[i] = (uint8_t)strtoul(byte, NULL, 16);
	}
	ext_psk.key_len = n / 2;
	return;
bad:
	fprintf(stderr, "peer: --psk: want IDENTITY:HEXKEY (1..%d key bytes)\n", TLS_PSK_MAX_KEY);
	exit(1);
}

static int find_psk(void *ctx, const uint8_t *identity, size_t identity_len, uint8_t *key, size_t *key_len,
		    uint16_t *cipher)
{
	(void)ctx;
	if (identity_len != ext_psk.id_len || memcmp(identity, ext_psk.id, identity_len) != 0 ||
	    *key_len < ext_psk.key_len)
		return -1;
	memcpy(key, ext_psk.key, ext_psk.key_len);
	*key_len = ext_psk.key_len;
	*cipher = TLS_AES_128_GCM_SHA256;  /* SHA-256, as gnutls and openssl assume */
	return 0;
}

/* --ocsp FILE: the whole file is the DER OCSPResponse. */
static void set_ocsp(tls_config *cfg, const char *path)
{
	static uint8_t der[1 << 16];
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(der, 1, sizeof(der), f) : 0;
	bool whole = f && !ferror(f) && feof(f);
	if (f)
		fclose(f);
	if (!whole || n == 0) {
		fprintf(stderr, "peer: --ocsp %s: %s\n", path,
			!f ? strerror(errno) : n ? "larger than 64 KiB" : "empty or unreadable");
		exit(1);
	}
	check(tls_config_set_ocsp(cfg, der, n), "--ocsp", "no certificate to staple it to");
}

static tls_config *make_config(enum tls_role role, const struct peer_opts *o)
{
	tls_config *cfg = tls_config_new(role);
	char err[256] = "";
	uint16_t ids[16];

	if (!cfg)
		check(-1, "tls_config_new", NULL);
	if (o->n_cert != o->n_key)
		check(-1, "--cert and --key", "must come in pairs");
	for (size_t i = 0; i < o->n_cert; i++)
		check(tls_config_add_cert_files(cfg, o->cert[i], o->key[i], err, sizeof(err)),
		      o->cert[i], err);
	if (o->ca)
		check(tls_config_load_ca(cfg, o->ca, err, sizeof(err)), o->ca, err);
	else if (role == TLS_CLIENT)
		tls_config_set_verify_peer(cfg, false); /* no --ca: unverified, as before */
	if (o->alpn)
		check(tls_config_set_alpn(cfg, o->alpn), "--alpn", "bad list");
	if (o->ciphers)
		check(tls_config_set_ciphers(cfg, ids, parse_list(o->ciphers, TLS_NAMES_CIPHER, ids, 16, "--ciphers")),
		      "--ciphers", NULL);
	if (o->groups)
		check(tls_config_set_groups(cfg, ids, parse_list(o->groups, TLS_NAMES_GROUP, ids, 16, "--groups")),
		      "--groups", NULL);
	if (role == TLS_SERVER)
		tls_config_set_client_auth(cfg, o->client_auth);
	if (o->tickets >= 0)
		check(tls_config_set_tickets(cfg, (unsigned)o->tickets, 7200), "--tickets", NULL);
	if (o->early_data)
		check(tls_config_set_early_data(cfg, (uint32_t)o->early_data), "--early-data", NULL);
	if (o->ticket_keys) {
		if (!(ticket_ring = tls_stek_ring_new(TLS_STEK_DEFAULT_KEEP, 0)))
			check(-1, "--ticket-keys", "out of memory");
		check(tls_stek_ring_load(ticket_ring, o->ticket_keys, err, sizeof(err)), o->ticket_keys,
		      err);
		tls_config_set_ticket_keys(cfg, ticket_ring);
	}
	if (o->psk) {
		parse_psk(o->psk);
		if (role == TLS_SERVER)
			tls_config_set_psk_find(cfg, find_psk, NULL);
		else
			check(tls_config_set_psk(cfg, ext_psk.id, ext_psk.id_len, ext_psk.key, ext_psk.key_len,
						 TLS_AES_128_GCM_SHA256),
			      "--psk", NULL);
	}
	if (o->record_limit)
		tls_config_set_record_size_limit(cfg, (uint16_t)o->record_limit);
	if (o->ocsp)
		set_ocsp(cfg, o->ocsp);
	if (o->keylog) {
		FILE *f = fopen(o->keylog, "a");
		if (!f) {
			perror(o->keylog);
			exit(1);
		}
		setvbuf(f, NULL, _IOLBF, 0);
		tls_config_set_keylog(cfg, test_keylog_to_file, f); /* lives as long as the process */
	}
	return cfg;
}

/* If argv[*i] is `name`, returns its value and steps over it. */
static const char *opt(int argc, char **argv, int *i, const char *name)
{
	if (strcmp(argv[*i], name) != 0)
		return NULL;
	if (*i + 1 >= argc)
		usage();
	return argv[++*i];
}

int main(int argc, char **argv)
{
	struct peer_opts o = { .tickets = -1 };
	bool server;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "rekey-server") == 0)
		return peer_rekey_server(argc - 1, argv + 1);
	if (strcmp(argv[1], "async-server") == 0)
		return peer_async_server(argc - 1, argv + 1);
	if (strcmp(argv[1], "txpend-server") == 0)
		return peer_txpend_server(argc - 1, argv + 1);
	if (strcmp(argv[1], "txpend-client") == 0)
		return peer_txpend_client(argc - 1, argv + 1);
	server = strcmp(argv[1], "server") == 0;
	if (!server && strcmp(argv[1], "client") != 0)
		usage();
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v;
		if (!server && a[0] != '-' && !o.addr)
			o.addr = a;
		else if (server && (v = opt(argc, argv, &i, "--listen")))
			o.addr = v;
		else if ((v = opt(argc, argv, &i, "--cert")) && o.n_cert < PEER_MAX_CERTS)
			o.cert[o.n_cert++] = v;
		else if ((v = opt(argc, argv, &i, "--key")) && o.n_key < PEER_MAX_CERTS)
			o.key[o.n_key++] = v;
		else if ((v = opt(argc, argv, &i, "--alpn")))
			o.alpn = v;
		else if ((v = opt(argc, argv, &i, "--ciphers")))
			o.ciphers = v;
		else if ((v = opt(argc, argv, &i, "--groups")))
			o.groups = v;
		else if ((v = opt(argc, argv, &i, "--keylog")))
			o.keylog = v;
		else if ((v = opt(argc, argv, &i, server ? "--client-ca" : "--ca")))
			o.ca = v;
		else if (server && (v = opt(argc, argv, &i, "--client-auth")))
			o.client_auth = strcmp(v, "require") == 0    ? TLS_CLIENT_AUTH_REQUIRE
					: strcmp(v, "optional") == 0 ? TLS_CLIENT_AUTH_OPTIONAL
					: strcmp(v, "none") == 0     ? TLS_CLIENT_AUTH_NONE
								     : (usage(), 0);
		else if (server && strcmp(a, "--echo") == 0)
			o.echo = true;
		else if (!server && (v = opt(argc, argv, &i, "--servername")))
			o.servername = v;
		else if (!server && strcmp(a, "--keyupdate") == 0)
			o.keyupdate = true;
		else if (strcmp(a, "--ktls") == 0)
			o.ktls = true;
		else if (!server && strcmp(a, "--glue") == 0)
			o.glue = true;
		else if (server && (v = opt(argc, argv, &i, "--file")))
			o.file = v;
		else if (server && (v = opt(argc, argv, &i, "--tickets")))
			o.tickets = (int)number(v, 255, "--tickets");
		else if (server && (v = opt(argc, argv, &i, "--early-data")))
			o.early_data = number(v, UINT32_MAX, "--early-data");
		else if (server && (v = opt(argc, argv, &i, "--ticket-keys")))
			o.ticket_keys = v;
		else if (!server && (v = opt(argc, argv, &i, "--sess-in")))
			o.sess_in = v;
		else if (!server && (v = opt(argc, argv, &i, "--sess-out")))
			o.sess_out = v;
		else if (!server && (v = opt(argc, argv, &i, "--early")))
			o.early = v;
		else if ((v = opt(argc, argv, &i, "--psk")))
			o.psk = v;
		else if ((v = opt(argc, argv, &i, "--handoff")))
			o.handoff = v;
		else if (server && (v = opt(argc, argv, &i, "--ocsp")))
			o.ocsp = v;
		else if ((v = opt(argc, argv, &i, "--record-limit"))) {
			o.record_limit = number(v, 16385, "--record-limit");
			if (o.record_limit < 64) {
				fprintf(stderr, "peer: --record-limit: RFC 8449 wants 64..16385\n");
				exit(1);
			}
		}
		else
			usage();
	}
	if (!o.addr || (server && o.n_cert == 0 && !o.psk && !o.handoff))
		usage();
	/* A peer that vanishes must not kill us. */
	signal(SIGPIPE, SIG_IGN);

	tls_config *cfg = make_config(server ? TLS_SERVER : TLS_CLIENT, &o);
	int r = server ? peer_server(&o, cfg) : peer_client(&o, cfg);
	tls_config_free(cfg);
	tls_stek_ring_free(ticket_ring);
	OPENSSL_cleanse(&ext_psk, sizeof(ext_psk));
	return r;
}
